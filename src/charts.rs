//! Charts as SVG, drawn on the server: pure functions from numbers to markup,
//! so the dashboard needs no chart library and no JavaScript to show them.
//!
//! Every chart has a `<title>` and a `<desc>` for screen readers (the pages
//! also print the data as a table), draws with presentation attributes and
//! CSS classes only (the pages' Content-Security-Policy forbids inline
//! styles), and gives each point a `<title>` so hovering it shows its value.
//! Text that comes from data is escaped here: the templates insert these
//! strings unescaped.

use std::fmt::Write;

/// Escapes text for SVG and HTML.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as a reader wants it: 1234567 → "1.2M", 0.5 → "0.5".
pub fn compact(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        "–".into()
    } else if a >= 1e9 {
        format!("{:.1}B", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}K", x / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}K", x / 1e3)
    } else if a >= 10.0 || a == 0.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// Coordinates with one decimal: enough for a screen, short in the markup.
fn c(x: f64) -> String {
    let r = (x * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// A small trend line of `values` (oldest first), 100 x 24, for tables.
pub fn sparkline(label: &str, values: &[f64]) -> String {
    let (w, h) = (100.0, 24.0);
    let mut svg = format!(
        r#"<svg class="spark" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}">"#,
        esc(label)
    );
    let finite: Vec<f64> = values.iter().map(|v| v.max(0.0)).collect();
    if finite.len() >= 2 {
        let max = finite.iter().copied().fold(0.0, f64::max).max(1e-9);
        let step = w / (finite.len() - 1) as f64;
        let points: Vec<String> = finite
            .iter()
            .enumerate()
            .map(|(i, v)| {
                format!(
                    "{},{}",
                    c(i as f64 * step),
                    c(h - 2.0 - v / max * (h - 4.0))
                )
            })
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="spark-line" fill="none" points="{}"/>"#,
            points.join(" ")
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A series of daily values with an optional forecast and its interval.
pub struct Series<'a> {
    pub dates: &'a [String],
    pub values: &'a [f64],
}

pub struct Band<'a> {
    pub dates: &'a [String],
    pub value: &'a [f64],
    pub lower: &'a [f64],
    pub upper: &'a [f64],
}

/// History as a line, then the forecast as a dashed line inside its shaded
/// 80% band, on one time axis. 640 x 240, scaled by the page.
pub fn history_with_forecast(
    title: &str,
    history: &Series<'_>,
    forecast: Option<&Band<'_>>,
) -> String {
    let (w, h) = (640.0, 240.0);
    let (left, right, top, bottom) = (48.0, 12.0, 12.0, 28.0);
    let n_hist = history.values.len();
    let n_fc = forecast.map_or(0, |f| f.value.len());
    let n = (n_hist + n_fc).max(2);
    // The scale follows the history and the forecast itself: a wide upper
    // bound would otherwise flatten the history into the axis (the band is
    // clipped at the top instead; its values are in each point's title).
    let max = history
        .values
        .iter()
        .chain(forecast.map(|f| f.value).unwrap_or_default())
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.15;
    let x = |i: usize| left + (w - left - right) * i as f64 / (n - 1) as f64;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v.clamp(0.0, max) / max);
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="chart-title chart-desc"><title id="chart-title">{}</title><desc id="chart-desc">{}</desc>"#,
        esc(title),
        esc(&describe(history, forecast)),
    );
    // Grid: zero, half and the top, labelled.
    for frac in [0.0, 0.5, 1.0] {
        let v = max * frac;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/><text class="axis" x="{}" y="{}" text-anchor="end">{}</text>"#,
            c(left),
            c(w - right),
            c(y(v)),
            c(y(v)),
            c(left - 6.0),
            c(y(v) + 4.0),
            compact(v)
        );
    }
    if let Some(f) = forecast.filter(|f| !f.value.is_empty()) {
        let mut band = Vec::new();
        for (i, u) in f.upper.iter().enumerate() {
            band.push(format!("{},{}", c(x(n_hist + i)), c(y(*u))));
        }
        for (i, l) in f.lower.iter().enumerate().rev() {
            band.push(format!("{},{}", c(x(n_hist + i)), c(y(*l))));
        }
        let _ = write!(
            svg,
            r#"<polygon class="band" points="{}"/>"#,
            band.join(" ")
        );
        let mut line: Vec<String> = Vec::new();
        if let Some(last) = history.values.last() {
            line.push(format!("{},{}", c(x(n_hist - 1)), c(y(*last))));
        }
        for (i, v) in f.value.iter().enumerate() {
            line.push(format!("{},{}", c(x(n_hist + i)), c(y(*v))));
        }
        let _ = write!(
            svg,
            r#"<polyline class="forecast" fill="none" points="{}"/>"#,
            line.join(" ")
        );
        for (i, v) in f.value.iter().enumerate() {
            let date = f.dates.get(i).map_or("", String::as_str);
            let _ = write!(
                svg,
                r#"<circle class="dot forecast-dot" cx="{}" cy="{}" r="3"><title>{}: forecast {} (80% between {} and {})</title></circle>"#,
                c(x(n_hist + i)),
                c(y(*v)),
                esc(date),
                compact(*v),
                compact(f.lower.get(i).copied().unwrap_or(0.0)),
                compact(f.upper.get(i).copied().unwrap_or(0.0)),
            );
        }
    }
    if n_hist > 0 {
        let points: Vec<String> = history
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{},{}", c(x(i)), c(y(*v))))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="line" fill="none" points="{}"/>"#,
            points.join(" ")
        );
        for (i, v) in history.values.iter().enumerate() {
            let date = history.dates.get(i).map_or("", String::as_str);
            let _ = write!(
                svg,
                r#"<circle class="dot" cx="{}" cy="{}" r="3"><title>{}: {}</title></circle>"#,
                c(x(i)),
                c(y(*v)),
                esc(date),
                compact(*v)
            );
        }
        let first = history.dates.first().map_or("", String::as_str);
        let last = forecast
            .and_then(|f| f.dates.last())
            .or(history.dates.last())
            .map_or("", String::as_str);
        let _ = write!(
            svg,
            r#"<text class="axis" x="{}" y="{}">{}</text><text class="axis" x="{}" y="{}" text-anchor="end">{}</text>"#,
            c(left),
            c(h - 8.0),
            esc(first),
            c(w - right),
            c(h - 8.0),
            esc(last)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn describe(history: &Series<'_>, forecast: Option<&Band<'_>>) -> String {
    let mut text = match (history.dates.first(), history.dates.last()) {
        (Some(a), Some(b)) => format!(
            "Daily attention from {a} to {b}; the last day {}.",
            compact(history.values.last().copied().unwrap_or(0.0))
        ),
        _ => "No history yet.".to_owned(),
    };
    if let Some(f) = forecast.filter(|f| !f.value.is_empty()) {
        let i = f.value.len() - 1;
        let _ = write!(
            text,
            " Forecast for {}: {} (80% interval {} to {}).",
            f.dates.get(i).map_or("", String::as_str),
            compact(f.value[i]),
            compact(f.lower.get(i).copied().unwrap_or(0.0)),
            compact(f.upper.get(i).copied().unwrap_or(0.0)),
        );
    }
    text
}

/// One bar of [`bars`]: its label, value, and the most it can be.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub max: f64,
    /// What the value stands for, shown on hover.
    pub detail: String,
}

/// Horizontal bars, each against its own maximum (score components have
/// different ranges), with the value written at the bar's end. Negative
/// values (saturation) are drawn leftwards from the axis in another class.
pub fn bars(title: &str, items: &[Bar]) -> String {
    let row = 28.0;
    let (w, label_w) = (640.0, 150.0);
    let h = (items.len() as f64 * row).max(row) + 8.0;
    let bar_w = w - label_w - 70.0;
    let mut svg = format!(
        r#"<svg class="chart bars" viewBox="0 0 {w} {}" role="img" aria-label="{}"><title>{}</title>"#,
        c(h),
        esc(title),
        esc(title)
    );
    for (i, b) in items.iter().enumerate() {
        let top = 4.0 + i as f64 * row;
        let scale = b.max.abs().max(1e-9);
        let len = (b.value.abs() / scale).min(1.0) * bar_w;
        let class = if b.value < 0.0 { "bar negative" } else { "bar" };
        let _ = write!(
            svg,
            r#"<g><title>{}: {} of {}. {}</title><text class="label" x="{}" y="{}" text-anchor="end">{}</text><rect class="track" x="{}" y="{}" width="{}" height="16" rx="3"/><rect class="{class}" x="{}" y="{}" width="{}" height="16" rx="3"/><text class="value" x="{}" y="{}">{}</text></g>"#,
            esc(&b.label),
            compact(b.value),
            compact(b.max),
            esc(&b.detail),
            c(label_w - 8.0),
            c(top + 13.0),
            esc(&b.label),
            c(label_w),
            c(top),
            c(bar_w),
            c(label_w),
            c(top),
            c(len),
            c(label_w + bar_w + 8.0),
            c(top + 13.0),
            compact(b.value),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Country outlines (Natural Earth via world-atlas, projected with Equal
/// Earth; `assets/world/README.md` says how the file was made).
const WORLD: &str = include_str!("../assets/world/countries.tsv");

/// The map's countries: code, name, SVG path, read once from [`WORLD`].
fn countries() -> &'static [(&'static str, &'static str, &'static str)] {
    static PARSED: std::sync::LazyLock<Vec<(&'static str, &'static str, &'static str)>> =
        std::sync::LazyLock::new(|| {
            WORLD
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let mut f = l.splitn(3, '\t');
                    Some((f.next()?, f.next()?, f.next()?))
                })
                .collect()
        });
    &PARSED
}

/// The map's viewBox, without the empty ocean below the southernmost land.
const WORLD_VIEW_BOX: &str = "0 0 1000 440";

/// The colour class of an interest of 0-100: five steps, so a reader can
/// match a country to the legend (CSS gives them a sequential palette that
/// stays ordered for colour-blind readers and in grey).
pub fn heat_class(interest: i64) -> &'static str {
    match interest {
        i if i <= 0 => "heat-0",
        1..=20 => "heat-1",
        21..=40 => "heat-2",
        41..=60 => "heat-3",
        61..=80 => "heat-4",
        _ => "heat-5",
    }
}

/// A world choropleth of interest (0-100) by country code. Countries without
/// a value are drawn as "no data", never as zero; hovering a country names it
/// with its value. Countries too small for the map at this scale are still in
/// the page's table.
pub fn world_map(title: &str, interest: &std::collections::HashMap<String, i64>) -> String {
    let mut svg = format!(
        r#"<svg class="chart world" viewBox="{WORLD_VIEW_BOX}" role="img" aria-label="{}"><title>{}</title>"#,
        esc(title),
        esc(title)
    );
    for (code, name, path) in countries() {
        let (class, label) = match interest.get(*code) {
            Some(v) => (heat_class(*v), format!("{name}: interest {v}")),
            None => ("heat-none", format!("{name}: no data")),
        };
        let _ = write!(
            svg,
            r#"<path class="country {class}" d="{path}"><title>{}</title></path>"#,
            esc(&label)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_data_cannot_break_out_of_the_markup() {
        let svg = sparkline("<script>alert(1)</script>", &[1.0, 2.0]);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        let svg = bars(
            "t",
            &[Bar {
                label: "\"><img src=x>".into(),
                value: 1.0,
                max: 2.0,
                detail: String::new(),
            }],
        );
        assert!(!svg.contains("<img"));
    }

    #[test]
    fn every_point_says_its_value_on_hover_and_the_chart_describes_itself() {
        let dates: Vec<String> = (1..=3).map(|d| format!("2025-01-0{d}")).collect();
        let fdates = vec!["2025-01-04".to_owned()];
        let svg = history_with_forecast(
            "Attention",
            &Series {
                dates: &dates,
                values: &[10.0, 20.0, 1500.0],
            },
            Some(&Band {
                dates: &fdates,
                value: &[1800.0],
                lower: &[900.0],
                upper: &[2600.0],
            }),
        );
        assert!(svg.contains("<title>2025-01-03: 1.5K</title>"));
        assert!(svg.contains("2025-01-04: forecast 1.8K (80% between 900 and 2.6K)"));
        assert!(
            svg.contains("<desc id=\"chart-desc\">Daily attention from 2025-01-01 to 2025-01-03")
        );
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains("class=\"band\""));
    }

    #[test]
    fn empty_and_flat_series_draw_without_dividing_by_zero() {
        assert!(!sparkline("x", &[]).contains("NaN"));
        assert!(!sparkline("x", &[0.0, 0.0, 0.0]).contains("NaN"));
        let svg = history_with_forecast(
            "x",
            &Series {
                dates: &[],
                values: &[],
            },
            None,
        );
        assert!(!svg.contains("NaN") && svg.contains("No history yet."));
        assert!(!bars("x", &[]).contains("NaN"));
    }

    #[test]
    fn numbers_are_written_as_people_read_them() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(0.5), "0.5");
        assert_eq!(compact(42.0), "42");
        assert_eq!(compact(1_250.0), "1.2K");
        assert_eq!(compact(45_000.0), "45K");
        assert_eq!(compact(3_400_000.0), "3.4M");
        assert_eq!(compact(-12.0), "-12");
    }

    #[test]
    fn the_world_map_colours_each_country_by_its_step_and_says_no_data_otherwise() {
        let mut interest = std::collections::HashMap::new();
        interest.insert("US".to_owned(), 100);
        interest.insert("FR".to_owned(), 35);
        interest.insert("BR".to_owned(), 0);
        let svg = world_map("Interest", &interest);
        assert!(countries().len() > 170);
        assert!(svg.contains(r#"<path class="country heat-5""#));
        assert!(svg.contains("<title>United States of America: interest 100</title>"));
        assert!(svg.contains("<title>France: interest 35</title>"));
        assert!(svg.contains("<title>Brazil: interest 0</title>"));
        assert!(svg.contains("<title>Germany: no data</title>"));
        assert_eq!(svg.matches("<path").count(), countries().len());
        assert_eq!(
            [0, 1, 20, 21, 60, 61, 100].map(heat_class),
            [
                "heat-0", "heat-1", "heat-1", "heat-2", "heat-3", "heat-4", "heat-5"
            ]
        );
    }
}
