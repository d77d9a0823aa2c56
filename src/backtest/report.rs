//! The text of `marketscout backtest --report`: how early and how often wrong
//! the engine's flags are next to the yardstick's three baselines, and how
//! honest the forecast's 80% interval is.

use std::fmt::Write;

use super::Series;
use super::coverage::{HORIZONS, ORIGIN_STEP, coverage_by_part};
use super::truth::{TruthQuality, TruthTable, evaluate_truth};
use super::yardstick::{
    Baseline, Event, Quality, baseline_at_fa_line, best_at_false_alarm_rate, evaluate, find_events,
    flags_at, fmt, summary_line,
};
use crate::engine::detect::detect;

/// A table row's label, how to read its figure, and its decimals.
type Figure<Q> = (&'static str, fn(&Q) -> f64, usize);

/// One column of the comparison: the engine, or a baseline at its default threshold.
struct Contender {
    label: String,
    flags: Vec<Vec<bool>>,
}

/// The engine's flags: a day is flagged when its stage is an alert.
pub fn engine_flags(series: &[Series]) -> Vec<Vec<bool>> {
    series
        .iter()
        .map(|s| {
            detect(&s.values)
                .iter()
                .map(|d| d.stage.is_flag())
                .collect()
        })
        .collect()
}

/// The whole report. With a truth table, explosions come from it instead of
/// being derived by the yardstick's rule.
pub fn report(series: &[Series], truth: Option<&TruthTable>) -> String {
    let statistics: Vec<(Baseline, Vec<Vec<f64>>)> = Baseline::ALL
        .iter()
        .map(|&b| (b, series.iter().map(|s| b.statistic(s)).collect()))
        .collect();
    let mut contenders = vec![Contender {
        label: "engine".to_owned(),
        flags: engine_flags(series),
    }];
    for (b, st) in &statistics {
        contenders.push(Contender {
            label: format!("{} ({})", b.name(), b.default_threshold()),
            flags: flags_at(st, b.default_threshold()),
        });
    }
    let mut out = String::new();
    match truth {
        Some(truth) => truth_section(&mut out, series, &contenders, truth),
        None => rule_section(&mut out, series, &contenders, &statistics),
    }
    forecast_section(&mut out, series);
    out
}

/// A table row: a label, then one right-aligned cell per contender.
fn row(out: &mut String, label: &str, cells: impl IntoIterator<Item = String>) {
    let _ = write!(out, "{label:<44}");
    for cell in cells {
        let _ = write!(out, "{cell:>18}");
    }
    out.push('\n');
}

fn rule_section(
    out: &mut String,
    series: &[Series],
    contenders: &[Contender],
    statistics: &[(Baseline, Vec<Vec<f64>>)],
) {
    let events: Vec<Vec<Event>> = series
        .iter()
        .map(|s| find_events(&s.name, &s.values))
        .collect();
    let scores: Vec<Quality> = contenders
        .iter()
        .map(|c| evaluate(&events, &c.flags))
        .collect();
    let engine = &scores[0];
    let _ = writeln!(
        out,
        "== Early detection (explosions found by the yardstick's rule)\n\
         ramping events: {}   shock events (not scored): {}   control series: {}\n",
        engine.events, engine.shocks, engine.controls
    );
    row(out, "", contenders.iter().map(|c| c.label.clone()));
    let figures: [Figure<Quality>; 6] = [
        (
            "recall before half-peak [h-30, h)",
            |q| q.recall_before_half_peak,
            3,
        ),
        ("recall before peak [p-30, p)", |q| q.recall_before_peak, 3),
        (
            "median lead days (p - first flag)",
            |q| q.median_lead_days,
            1,
        ),
        ("p25 lead days", |q| q.p25_lead_days, 1),
        (
            "false alarms per 1000 series-days",
            |q| q.false_alarms_per_1000_days,
            2,
        ),
        ("control series ever flagged", |q| q.false_alarm_series, 3),
    ];
    for (label, figure, digits) in figures {
        row(out, label, scores.iter().map(|q| fmt(figure(q), digits)));
    }

    let rate = engine.false_alarms_per_1000_days;
    let _ = writeln!(
        out,
        "\nEach baseline's best recall before half-peak over its threshold grid, \
         at no more false alarms than the engine ({} per 1000 series-days):",
        fmt(rate, 2)
    );
    let mut lines = vec![summary_line(engine)];
    for (b, st) in statistics {
        let best = best_at_false_alarm_rate(&events, st, *b, rate);
        match &best {
            Some((k, q)) => {
                let _ = writeln!(
                    out,
                    "  {:<14} threshold {k:<5} recall {}   false alarms {}",
                    b.name(),
                    fmt(q.recall_before_half_peak, 3),
                    fmt(q.false_alarms_per_1000_days, 2)
                );
            }
            None => {
                let _ = writeln!(out, "  {:<14} no threshold is that quiet", b.name());
            }
        }
        lines.push(baseline_at_fa_line(*b, best.as_ref()));
    }
    let _ = writeln!(
        out,
        "\nThe same, as the yardstick's scorer prints it (--best-baseline-at-fa):"
    );
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
}

fn truth_section(
    out: &mut String,
    series: &[Series],
    contenders: &[Contender],
    truth: &TruthTable,
) {
    let scores: Vec<TruthQuality> = contenders
        .iter()
        .map(|c| evaluate_truth(series, &c.flags, truth))
        .collect();
    let q = &scores[0];
    let unscored = series.len() - q.viral - q.not_viral;
    let _ = writeln!(
        out,
        "== Early detection (explosions from the truth file)\n\
         viral series: {}   non-viral series: {}   input series not in the truth file: {unscored}\n\
         The engine here is the rule for daily series, as measured on real data. For simulated\n\
         products, `marketscout simulate` prints the product engine, which also weighs where\n\
         the posts come from: a series file does not carry that, so its figures differ.\n",
        q.viral, q.not_viral
    );
    row(out, "", contenders.iter().map(|c| c.label.clone()));
    let figures: [Figure<TruthQuality>; 3] = [
        (
            "viral flagged before half-peak [h-30, h)",
            |q| q.flagged_before_half_peak,
            3,
        ),
        ("median lead before peak, days", |q| q.median_lead_days, 1),
        ("non-viral series ever flagged", |q| q.not_viral_flagged, 3),
    ];
    for (label, figure, digits) in figures {
        row(out, label, scores.iter().map(|q| fmt(figure(q), digits)));
    }
    out.push('\n');
}

fn forecast_section(out: &mut String, series: &[Series]) {
    let parts = coverage_by_part(series);
    let _ = writeln!(
        out,
        "== Forecast: share of actual values inside the 80% interval (target 0.80)\n\
         origins every {ORIGIN_STEP}th day from day 60 of each series; error = median \
         symmetric absolute percentage error of the point forecast\n"
    );
    let _ = writeln!(
        out,
        "{:<16}{:>10}{:>16}{:>16}{:>12}{:>12}",
        "part", "origins", "coverage t+7", "coverage t+14", "error t+7", "error t+14"
    );
    // "all" first, then each source.
    let order =
        std::iter::once("all").chain(parts.keys().map(String::as_str).filter(|k| *k != "all"));
    for name in order {
        let c = &parts[name];
        let _ = writeln!(
            out,
            "{name:<16}{:>10}{:>16}{:>16}{:>11}%{:>11}%",
            c.origins,
            fmt(c.share(0), 3),
            fmt(c.share(1), 3),
            fmt(c.median_error_pct(0), 1),
            fmt(c.median_error_pct(1), 1)
        );
    }
    for name in
        std::iter::once("all").chain(parts.keys().map(String::as_str).filter(|k| *k != "all"))
    {
        let c = &parts[name];
        let cells: Vec<String> = HORIZONS
            .iter()
            .enumerate()
            .map(|(k, h)| format!("coverage_{h}d={}", fmt(c.share(k), 3)))
            .collect();
        let _ = writeln!(
            out,
            "forecast part={name} origins={} {}",
            c.origins,
            cells.join(" ")
        );
    }
}
