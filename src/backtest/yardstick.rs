//! The early-detection yardstick of the shared attention data set, in Rust:
//! the same event rule, metrics and baselines as its published scorer
//! (`score_detection.py`), so `marketscout backtest --report` prints the very
//! figures the scorer would. Every constant and every comparison below mirrors
//! the scorer; when they differ, the scorer is right and this file is wrong.

use super::Series;

/// Half-width of the window in which an event's peak is the maximum.
const PEAK_HALF_WIDTH: usize = 60;
/// Baseline = median of days p-90 ..= p-31.
const BASE_FROM: usize = 90;
const BASE_TO: usize = 31;
const RATIO: f64 = 10.0;
/// Of the 5 days p-2 ..= p+2, how many must be at or above the half level.
const SUSTAIN_NEED: usize = 3;
const HALF_LOOKBACK: usize = 60;
/// An event counts for recall when p - h >= 3 (it ramps).
const MIN_RAMP: usize = 3;
const PRE_HALF: usize = 30;
const PRE_PEAK: usize = 30;
const POST_PEAK: usize = 30;
/// Baselines use this share of the source floor as their minimum level.
const BASELINE_FLOOR_SHARE: f64 = 0.25;

/// The absolute floor (peak minus baseline) of an event, by series-name prefix.
pub fn floor_for(name: &str) -> f64 {
    match name.split_once(':').map(|(prefix, _)| prefix) {
        Some("gtrends") => 20.0,
        Some("nabtw") => 200.0,
        Some("wiki") => 1000.0,
        Some("stkvol") => 300000.0,
        _ => 20.0,
    }
}

/// An explosion found by the rule: day indices of its peak and half-peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub peak: usize,
    pub half: usize,
    pub peak_value: f64,
    pub baseline: f64,
}

impl Event {
    pub fn ramps(&self) -> bool {
        self.peak - self.half >= MIN_RAMP
    }
}

/// Median as Python's `statistics.median`: the mean of the two middle values
/// of an even count.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Linear-interpolation percentile, as the scorer's `percentile`.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = (v.len() - 1) as f64 * q;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Every event of a series under the labelling rule (it reads the whole series,
/// future included: it is the answer key, not a detector).
pub fn find_events(name: &str, x: &[f64]) -> Vec<Event> {
    let n = x.len();
    let floor = floor_for(name);
    let mut events = Vec::new();
    for p in BASE_FROM..n.saturating_sub(2) {
        let v = x[p];
        if v <= 0.0 || !is_window_peak(x, p) {
            continue;
        }
        let b = median(&x[p - BASE_FROM..=p - BASE_TO]);
        if v < RATIO * b || v - b < floor {
            continue;
        }
        let half = b + (v - b) / 2.0;
        if (p - 2..=p + 2).filter(|&j| x[j] >= half).count() < SUSTAIN_NEED {
            continue;
        }
        let h = (p.saturating_sub(HALF_LOOKBACK)..=p)
            .find(|&j| x[j] >= half)
            .unwrap_or(p);
        events.push(Event {
            peak: p,
            half: h,
            peak_value: v,
            baseline: b,
        });
    }
    events
}

/// Whether day `p` is the maximum of p-60 ..= p+60, the first such day on a tie.
fn is_window_peak(x: &[f64], p: usize) -> bool {
    let lo = p.saturating_sub(PEAK_HALF_WIDTH);
    let hi = (p + PEAK_HALF_WIDTH + 1).min(x.len());
    let v = x[p];
    x[lo..p].iter().all(|&w| w < v) && x[p..hi].iter().all(|&w| w <= v)
}

/// The scorer's figures for one set of flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Quality {
    /// Ramping events (the ones recall is measured on).
    pub events: usize,
    /// Events that jump to half their height in under 3 days (not scored).
    pub shocks: usize,
    /// Series without any event.
    pub controls: usize,
    pub recall_before_half_peak: f64,
    pub recall_before_peak: f64,
    pub median_lead_days: f64,
    pub p25_lead_days: f64,
    pub false_alarm_series: f64,
    pub false_alarms_per_1000_days: f64,
}

fn share(count: usize, of: usize) -> f64 {
    if of == 0 {
        f64::NAN
    } else {
        count as f64 / of as f64
    }
}

/// Scores `flags` (one bool per series and day) against the events.
pub fn evaluate(events: &[Vec<Event>], flags: &[Vec<bool>]) -> Quality {
    let (mut scored, mut shocks, mut hit_half, mut hit_peak) = (0, 0, 0, 0);
    let mut leads = Vec::new();
    let (mut controls, mut flagged_controls) = (0, 0);
    let (mut outside_days, mut outside_onsets) = (0usize, 0usize);
    for (evs, fl) in events.iter().zip(flags) {
        let n = fl.len();
        let mut inside = vec![false; n];
        for e in evs {
            let window_start = e.half.saturating_sub(PRE_HALF);
            for slot in &mut inside[window_start..(e.peak + POST_PEAK + 1).min(n)] {
                *slot = true;
            }
            if !e.ramps() {
                shocks += 1;
                continue;
            }
            scored += 1;
            hit_half += usize::from(fl[window_start..e.half].iter().any(|&f| f));
            hit_peak += usize::from(
                fl[e.peak.saturating_sub(PRE_PEAK)..e.peak]
                    .iter()
                    .any(|&f| f),
            );
            if let Some(first) = (window_start..e.peak).find(|&j| fl[j]) {
                leads.push((e.peak - first) as f64);
            }
        }
        if evs.is_empty() {
            controls += 1;
            flagged_controls += usize::from(fl.iter().any(|&f| f));
        }
        let mut previous = false;
        for j in 0..n {
            if !inside[j] {
                outside_days += 1;
                if fl[j] && !previous {
                    outside_onsets += 1;
                }
            }
            previous = fl[j];
        }
    }
    Quality {
        events: scored,
        shocks,
        controls,
        recall_before_half_peak: share(hit_half, scored),
        recall_before_peak: share(hit_peak, scored),
        median_lead_days: median(&leads),
        p25_lead_days: percentile(&leads, 0.25),
        false_alarm_series: share(flagged_controls, controls),
        false_alarms_per_1000_days: if outside_days == 0 {
            f64::NAN
        } else {
            1000.0 * outside_onsets as f64 / outside_days as f64
        },
    }
}

/// The scorer's three causal baselines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    Growth7,
    RatioMedian,
    Zscore28,
}

impl Baseline {
    /// In the scorer's (alphabetical) order.
    pub const ALL: [Baseline; 3] = [Baseline::Growth7, Baseline::RatioMedian, Baseline::Zscore28];

    pub fn name(self) -> &'static str {
        match self {
            Baseline::Growth7 => "growth7",
            Baseline::RatioMedian => "ratio_median",
            Baseline::Zscore28 => "zscore28",
        }
    }

    pub fn default_threshold(self) -> f64 {
        match self {
            Baseline::Growth7 => 3.0,
            Baseline::RatioMedian => 5.0,
            Baseline::Zscore28 => 6.0,
        }
    }

    /// The thresholds tried by `--best-baseline-at-fa`.
    pub fn grid(self) -> &'static [f64] {
        match self {
            Baseline::Growth7 => &[
                2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0,
            ],
            Baseline::RatioMedian => &[3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0],
            Baseline::Zscore28 => &[4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0, 200.0],
        }
    }

    /// The per-day statistic; a day is flagged when it is >= the threshold
    /// (-inf: never, +inf: always).
    pub fn statistic(self, s: &Series) -> Vec<f64> {
        let x = &s.values;
        let floor = floor_for(&s.name) * BASELINE_FLOOR_SHARE;
        match self {
            Baseline::Growth7 => growth7(x, floor),
            Baseline::RatioMedian => ratio_median(x),
            Baseline::Zscore28 => zscore28(x, floor),
        }
    }
}

/// 7-day mean over the mean of the 28 days before it, once the 7-day mean reaches the floor.
fn growth7(x: &[f64], floor: f64) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![f64::NEG_INFINITY; n];
    // Running sums in the scorer's order, so the ratios match to the last bit.
    let mut pre = Vec::with_capacity(n + 1);
    pre.push(0.0);
    for &v in x {
        pre.push(pre[pre.len() - 1] + v);
    }
    for t in 34..n {
        let m7 = (pre[t + 1] - pre[t - 6]) / 7.0;
        let m28 = (pre[t - 6] - pre[t - 34]) / 28.0;
        if m7 < floor {
            continue;
        }
        out[t] = if m28 <= 0.0 { f64::INFINITY } else { m7 / m28 };
    }
    out
}

/// Distance above the median of the previous 28 days, in MADs, above the floor.
fn zscore28(x: &[f64], floor: f64) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![f64::NEG_INFINITY; n];
    for t in 28..n {
        let v = x[t];
        if v <= floor {
            continue;
        }
        let window = &x[t - 28..t];
        let med = median(window);
        if v <= med {
            continue;
        }
        let deviations: Vec<f64> = window.iter().map(|w| (w - med).abs()).collect();
        let mad = median(&deviations);
        out[t] = if mad == 0.0 {
            f64::INFINITY
        } else {
            (v - med) / mad
        };
    }
    out
}

/// The value over the median of the previous 30 days.
fn ratio_median(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![f64::NEG_INFINITY; n];
    for t in 30..n {
        let v = x[t];
        if v <= 0.0 {
            continue;
        }
        let med = median(&x[t - 30..t]);
        out[t] = if med == 0.0 { f64::INFINITY } else { v / med };
    }
    out
}

/// Flags of every series at threshold `k`.
pub fn flags_at(statistics: &[Vec<f64>], k: f64) -> Vec<Vec<bool>> {
    statistics
        .iter()
        .map(|st| st.iter().map(|&v| v >= k).collect())
        .collect()
}

/// A baseline's best recall before half-peak over its threshold grid, among
/// thresholds whose false-alarm rate is at most `rate` (`None`: none is).
pub fn best_at_false_alarm_rate(
    events: &[Vec<Event>],
    statistics: &[Vec<f64>],
    baseline: Baseline,
    rate: f64,
) -> Option<(f64, Quality)> {
    let mut best: Option<(f64, Quality)> = None;
    for &k in baseline.grid() {
        let q = evaluate(events, &flags_at(statistics, k));
        let allowed = q.false_alarms_per_1000_days <= rate + 1e-12;
        let better = best
            .as_ref()
            .is_none_or(|(_, b)| q.recall_before_half_peak > b.recall_before_half_peak);
        if allowed && better {
            best = Some((k, q));
        }
    }
    best
}

/// A figure as the scorer prints it (`nan` when undefined).
pub fn fmt(v: f64, digits: usize) -> String {
    if v.is_nan() {
        "nan".to_owned()
    } else {
        format!("{v:.digits$}")
    }
}

/// The scorer's last line, character for character.
pub fn summary_line(q: &Quality) -> String {
    format!(
        "recall_before_half_peak={} false_alarms_per_1000_days={} false_alarm_series={} median_lead_days={}",
        fmt(q.recall_before_half_peak, 3),
        fmt(q.false_alarms_per_1000_days, 2),
        fmt(q.false_alarm_series, 3),
        fmt(q.median_lead_days, 1)
    )
}

/// The scorer's `baseline_at_fa` line, character for character.
pub fn baseline_at_fa_line(baseline: Baseline, best: Option<&(f64, Quality)>) -> String {
    match best {
        None => format!(
            "baseline_at_fa name={} threshold=none recall_before_half_peak=0.000 false_alarms_per_1000_days=nan",
            baseline.name()
        ),
        Some((k, q)) => format!(
            "baseline_at_fa name={} threshold={k} recall_before_half_peak={} false_alarms_per_1000_days={}",
            baseline.name(),
            fmt(q.recall_before_half_peak, 3),
            fmt(q.false_alarms_per_1000_days, 2)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, values: Vec<f64>) -> Series {
        Series {
            name: name.to_owned(),
            start: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            values,
        }
    }

    /// 150 quiet days at 10, a ramp from day 150 to a peak of 200 at day 160,
    /// 5 days at the peak level, then quiet again up to 260 days.
    fn ramping() -> Vec<f64> {
        (0..260)
            .map(|t| match t {
                150..=159 => 10.0 + 19.0 * (t - 149) as f64,
                160 => 210.0,
                161..=162 => 180.0,
                _ => 10.0,
            })
            .collect()
    }

    #[test]
    fn a_ramping_explosion_is_an_event_with_its_half_peak_day() {
        let events = find_events("gtrends:x", &ramping());
        assert_eq!(events.len(), 1, "{events:?}");
        let e = events[0];
        assert_eq!((e.peak, e.baseline), (160, 10.0));
        // Half level 110: day 155 is 124, day 154 is 105.
        assert_eq!(e.half, 155);
        assert!(e.ramps());
    }

    #[test]
    fn the_floor_depends_on_the_source() {
        // The same shape is far too small to count as a stock-volume explosion.
        assert!(find_events("stkvol:X@2000-2001", &ramping()).is_empty());
        assert_eq!(floor_for("wiki:Foo"), 1000.0);
        assert_eq!(floor_for("plain name"), 20.0);
    }

    #[test]
    fn a_one_day_spike_is_not_an_event() {
        let mut x = vec![10.0; 200];
        x[150] = 500.0;
        assert!(find_events("gtrends:x", &x).is_empty());
    }

    #[test]
    fn recall_lead_and_false_alarms_follow_the_scorer() {
        let events = vec![find_events("gtrends:x", &ramping()), Vec::new()];
        // Flags on days 140-142 (before half-peak, lead 20 days) in the event
        // series, and two separate onsets in the control series.
        let mut hit = vec![false; 260];
        for d in [140, 141, 142] {
            hit[d] = true;
        }
        let mut control = vec![false; 100];
        control[10] = true;
        control[11] = true;
        control[50] = true;
        let q = evaluate(&events, &[hit, control]);
        assert_eq!((q.events, q.shocks, q.controls), (1, 0, 1));
        assert_eq!(q.recall_before_half_peak, 1.0);
        assert_eq!(q.recall_before_peak, 1.0);
        assert_eq!(q.median_lead_days, 20.0);
        assert_eq!(q.false_alarm_series, 1.0);
        // Outside the event window [125, 190]: 260 - 66 + 100 days, 2 onsets.
        assert_eq!(q.false_alarms_per_1000_days, 1000.0 * 2.0 / 294.0);
        assert_eq!(
            summary_line(&q),
            "recall_before_half_peak=1.000 false_alarms_per_1000_days=6.80 \
             false_alarm_series=1.000 median_lead_days=20.0"
        );
    }

    #[test]
    fn undefined_figures_print_as_nan() {
        let q = evaluate(&[Vec::new()], &[vec![false; 10]]);
        assert!(q.recall_before_half_peak.is_nan());
        assert!(summary_line(&q).contains("recall_before_half_peak=nan"));
    }

    #[test]
    fn medians_and_percentiles_match_python() {
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.25), 2.0);
        assert_eq!(percentile(&[1.0, 2.0], 0.25), 1.25);
        assert_eq!(fmt(8.25, 1), "8.2", "ties round to even, as Python does");
    }

    #[test]
    fn baselines_fire_on_the_ramp_and_not_on_a_flat_series() {
        let s = series("gtrends:x", ramping());
        for b in Baseline::ALL {
            let st = b.statistic(&s);
            let fired: Vec<usize> = (0..st.len())
                .filter(|&t| st[t] >= b.default_threshold())
                .collect();
            assert!(
                fired.iter().any(|t| (150..=160).contains(t)),
                "{}",
                b.name()
            );
            let flat = b.statistic(&series("gtrends:x", vec![30.0; 200]));
            // A flat series has zero MAD: zscore28 needs a value above its median.
            assert!(
                flat.iter().all(|&v| v < b.default_threshold()),
                "{}",
                b.name()
            );
        }
    }

    #[test]
    fn the_best_baseline_respects_the_false_alarm_budget() {
        let s = series("gtrends:x", ramping());
        let events = vec![find_events(&s.name, &s.values)];
        let st = vec![Baseline::RatioMedian.statistic(&s)];
        let (k, q) = best_at_false_alarm_rate(&events, &st, Baseline::RatioMedian, 0.0).unwrap();
        assert_eq!(q.false_alarms_per_1000_days, 0.0);
        assert_eq!(k, 3.0, "the first threshold with the best recall wins");
        assert_eq!(
            baseline_at_fa_line(Baseline::RatioMedian, Some(&(k, q))),
            "baseline_at_fa name=ratio_median threshold=3 recall_before_half_peak=1.000 \
             false_alarms_per_1000_days=0.00"
        );
    }
}
