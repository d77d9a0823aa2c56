//! Early detection over a daily attention series: for every day, a 0-100 score
//! and a lifecycle stage, using only that day and the days before it.
//!
//! The rule, in words a seller can check: a product is flagged when its last
//! 3 days average at least 3.5 times its usual level (the median of days
//! t-67..t-8, which a short spike cannot move) and each of its last 5 days was
//! already at least 1.5 times that level (a sustained rise, not one lucky day).
//! A flag lasts at least 20 days, then ends when the level falls back under 2
//! times the usual one: one episode is one alert. Small counts are shrunk
//! toward the usual level by a pseudo-count of a tenth of the series' own mean,
//! so going from 1 to 3 mentions is not an explosion, whatever the scale of the
//! series. There is no constant tied to a platform or a series.
//!
//! Measured on real series in `docs/SCORING.md` ("How early, how often wrong").

use serde::Serialize;

/// Days between the end of the usual-level window and today.
pub const LAG: usize = 8;
/// Length of the usual-level window.
pub const WIDTH: usize = 60;
/// Pseudo-count, as a share of the window's mean.
const PSEUDO: f64 = 0.10;
/// Days in the short mean.
const SHORT: usize = 3;
/// Short-mean ratio that starts a flag...
const ENTER: f64 = 3.5;
/// ...if each of the last `SUSTAIN_DAYS` days was at least this ratio.
const SUSTAIN: f64 = 1.5;
const SUSTAIN_DAYS: usize = 5;
/// A flag ends under this ratio, once it has lasted `HOLD_DAYS`.
const EXIT: f64 = 2.0;
const HOLD_DAYS: usize = 20;

/// The first day with a full usual-level window.
pub const WARM_UP_DAYS: usize = LAG + WIDTH - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Emerging,
    Rising,
    Exploding,
    Peaking,
    Saturated,
    Declining,
    Dormant,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Emerging,
        Stage::Rising,
        Stage::Exploding,
        Stage::Peaking,
        Stage::Saturated,
        Stage::Declining,
        Stage::Dormant,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Emerging => "emerging",
            Stage::Rising => "rising",
            Stage::Exploding => "exploding",
            Stage::Peaking => "peaking",
            Stage::Saturated => "saturated",
            Stage::Declining => "declining",
            Stage::Dormant => "dormant",
        }
    }

    /// Whether this stage is an alert ("about to go viral").
    pub fn is_flag(self) -> bool {
        matches!(self, Stage::Emerging | Stage::Exploding)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Day {
    /// 0-100: 100 x log10 of the short-mean ratio (10 times the usual level scores 100).
    pub score: f64,
    pub stage: Stage,
    /// The last 3 days' mean over the usual level (both shrunk by the pseudo-count).
    pub ratio: f64,
    /// The last 7 days' mean over the usual level.
    pub week_ratio: f64,
    /// The last 7 days' mean over the 7 days before (both shrunk by the pseudo-count).
    pub growth: f64,
    /// Flagged, and the flag was started by a second, confirming lane (see
    /// [`detect_with_lane`]) rather than by the rise of the series alone.
    pub by_lane: bool,
}

/// `a / d`, with an all-zero history making any positive value infinitely above it.
fn ratio(a: f64, d: f64) -> f64 {
    if d > 0.0 {
        a / d
    } else if a > 0.0 {
        f64::INFINITY
    } else {
        1.0
    }
}

fn trailing_mean(x: &[f64], t: usize, k: usize) -> Option<f64> {
    (t + 1 >= k).then(|| x[t + 1 - k..=t].iter().sum::<f64>() / k as f64)
}

/// The median of a window kept sorted (by `f64::total_cmp`): the middle value,
/// or the mean of the two middle ones.
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    let mid = n / 2;
    if n % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Moves the usual-level window one day on, keeping it sorted: `old` leaves it,
/// `new` enters it. Only the values between the two positions move, by one.
fn slide(sorted: &mut [f64], old: f64, new: f64) {
    let Ok(i) = sorted.binary_search_by(|v| v.total_cmp(&old)) else {
        unreachable!("the value leaving the window is in it");
    };
    let j = sorted.partition_point(|v| v.total_cmp(&new).is_lt());
    if j > i {
        sorted.copy_within(i + 1..j, i);
        sorted[j - 1] = new;
    } else {
        sorted.copy_within(j..i, j + 1);
        sorted[j] = new;
    }
}

/// The sums of `x` over the `k` days ending on each day (fewer at the start),
/// as a running sum: one addition and one subtraction a day instead of `k`.
/// The sum is exactly zero whenever the window holds nothing, so "no
/// attention" never turns into a rounding residue, and never negative.
pub fn window_sums(x: &[f64], k: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    let mut sum = 0.0;
    // Days since the last positive value; `k` or more: the window is empty.
    let mut quiet = k;
    for (t, (v, o)) in x.iter().zip(out.iter_mut()).enumerate() {
        sum += v;
        if t >= k {
            sum -= x[t - k];
        }
        quiet = if *v > 0.0 { 0 } else { quiet.saturating_add(1) };
        if quiet >= k {
            sum = 0.0;
        }
        *o = sum.max(0.0);
    }
    out
}

/// Scores and stages of every day of a series of daily non-negative values.
pub fn detect(x: &[f64]) -> Vec<Day> {
    detect_with_floor(x, 0.0)
}

/// [`detect`] with a pseudo-count of at least `floor`. The backtest's series
/// come in unknown units, so its pseudo-count is relative only; a product's
/// attention is counted in engagement units, where a floor says in absolute
/// terms how much activity is too little to call a trend (a product that goes
/// from nothing to three mentions is not exploding).
pub fn detect_with_floor(x: &[f64], floor: f64) -> Vec<Day> {
    detect_with(
        x,
        &Rule {
            floor,
            ..Rule::PUBLISHED
        },
    )
}

/// How the usual level is taken from days t-67..t-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usual {
    /// The median: no spike can move it, the right choice for series in
    /// unknown units with heavy tails.
    Median,
    /// The mean: for small counts (a product's mentions, 0 to 3 a day) the
    /// median jumps between whole numbers (0.6 mentions a day has a median of
    /// 0, 0.8 a median of 1), so a quiet product's usual level is off by half
    /// and its ratios with it; the mean follows the rate itself.
    Mean,
}

/// The thresholds of the rule, for series whose noise is known to differ from
/// the real series the published rule was chosen on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Least pseudo-count, in the series' own units.
    pub floor: f64,
    pub usual: Usual,
    /// Days averaged for the ratio that starts a flag (the score, the stages
    /// and the end of a flag always use the last 3 days)...
    pub entry_days: usize,
    /// ...ratio that starts a flag...
    pub enter: f64,
    /// ...if each of the last `sustain_days` days was at least this ratio.
    pub sustain: f64,
    pub sustain_days: usize,
    /// Unflagged, the week's ratio under which the stage is dormant.
    pub quiet: f64,
}

impl Rule {
    /// The rule measured on real series (`docs/SCORING.md`).
    pub const PUBLISHED: Rule = Rule {
        floor: 0.0,
        usual: Usual::Median,
        entry_days: SHORT,
        enter: ENTER,
        sustain: SUSTAIN,
        sustain_days: SUSTAIN_DAYS,
        quiet: SUSTAIN,
    };

    /// The first day a flag can start: the usual level needs its full window,
    /// and the rise must have held on `sustain_days` days judged against it.
    pub fn first_flag_day(&self) -> usize {
        WARM_UP_DAYS + self.sustain_days - 1
    }
}

/// [`detect`] under another [`Rule`].
pub fn detect_with(x: &[f64], rule: &Rule) -> Vec<Day> {
    detect_with_lane(x, rule, &[])
}

/// [`detect_with`], where a flag can also start on a day `t` with `lane[t]`
/// true (days past the end of `lane` are false): a second route into a flag,
/// judged on other evidence than the series' own rise. It is only consulted
/// once the usual level has its full window, and a flag it starts lasts and
/// ends as any other. For the output to stay causal, `lane[t]` must depend
/// on nothing after day `t`.
pub fn detect_with_lane(x: &[f64], rule: &Rule, lane: &[bool]) -> Vec<Day> {
    let Rule {
        floor,
        usual,
        entry_days,
        enter,
        sustain,
        sustain_days,
        quiet,
    } = *rule;
    let n = x.len();
    let mut out = Vec::with_capacity(n);
    // Filled on the first judged day, and only for a median.
    let mut window = Vec::new();
    let mut day_ratio = vec![0.0; n];
    let mut m7 = vec![0.0; n];
    // The usual level's window of days t-67..=t-8 is the 60-day window ending on t-8.
    let sums = window_sums(x, WIDTH);
    let mut flagged = false;
    let mut by_lane = false;
    let mut since = 0usize;
    for t in 0..n {
        m7[t] = trailing_mean(x, t, 7).unwrap_or(0.0);
        if t < WARM_UP_DAYS {
            out.push(Day {
                score: 0.0,
                stage: Stage::Dormant,
                ratio: 1.0,
                week_ratio: 1.0,
                growth: 1.0,
                by_lane: false,
            });
            continue;
        }
        let mean = sums[t - LAG] / WIDTH as f64;
        let level = match usual {
            Usual::Median => {
                // The window, kept sorted from one day to the next rather than sorted anew.
                if window.is_empty() {
                    window.extend_from_slice(&x[t - WARM_UP_DAYS..=t - LAG]);
                    window.sort_unstable_by(f64::total_cmp);
                } else {
                    slide(&mut window, x[t - 1 - WARM_UP_DAYS], x[t - LAG]);
                }
                median(&window)
            }
            Usual::Mean => mean,
        };
        let c = (PSEUDO * mean).max(floor);
        let d = level + c;
        day_ratio[t] = ratio(x[t] + c, d);
        let short = ratio(trailing_mean(x, t, SHORT).unwrap_or(0.0) + c, d);
        let entry = if entry_days == SHORT {
            short
        } else {
            ratio(trailing_mean(x, t, entry_days).unwrap_or(0.0) + c, d)
        };
        let sustained = (t + 1 - sustain_days..=t).all(|j| day_ratio[j] >= sustain);

        if flagged {
            since += 1;
            if short < EXIT && since >= HOLD_DAYS {
                flagged = false;
            }
        } else if entry >= enter && sustained {
            flagged = true;
            by_lane = false;
            since = 0;
        } else if lane.get(t).copied().unwrap_or(false) {
            flagged = true;
            by_lane = true;
            since = 0;
        }

        let week = ratio(m7[t] + c, d);
        // Shrunk like every other ratio: 0 -> 1 post a day is not a doubling.
        let growth = if t >= 7 {
            ratio(m7[t] + c, m7[t - 7] + c)
        } else {
            1.0
        };
        let recent_high = m7[t.saturating_sub(29)..=t]
            .iter()
            .copied()
            .fold(0.0, f64::max);
        let stage = if flagged {
            if short >= 2.0 * enter || growth >= 2.0 {
                Stage::Exploding
            } else {
                Stage::Emerging
            }
        } else if week < quiet {
            Stage::Dormant
        } else if growth < 0.8 || m7[t] < 0.7 * recent_high {
            Stage::Declining
        } else if growth >= 1.2 {
            Stage::Rising
        } else if m7[t] >= 0.9 * recent_high && week >= EXIT {
            Stage::Peaking
        } else {
            Stage::Saturated
        };
        // At or under its usual level a series scores 0, without a logarithm.
        let score = if short.is_infinite() {
            100.0
        } else if short <= 1.0 {
            0.0
        } else {
            (100.0 * short.max(1e-12).log10()).clamp(0.0, 100.0)
        };
        out.push(Day {
            score,
            stage,
            ratio: short,
            week_ratio: week,
            growth,
            by_lane: flagged && by_lane,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(days: &[Day]) -> Vec<usize> {
        days.iter()
            .enumerate()
            .filter(|(_, d)| d.stage.is_flag())
            .map(|(t, _)| t)
            .collect()
    }

    /// A base level with weekly noise, then a rise over `ramp` days to `peak` times it.
    fn viral(base: f64, start: usize, ramp: usize, peak: f64, len: usize) -> Vec<f64> {
        (0..len)
            .map(|t| {
                let noise = 1.0 + 0.2 * ((t * 7 % 5) as f64 / 5.0 - 0.4);
                let boost = if t < start {
                    1.0
                } else {
                    1.0 + (peak - 1.0) * ((t - start) as f64 / ramp as f64).min(1.0)
                };
                base * noise * boost
            })
            .collect()
    }

    #[test]
    fn a_ramping_explosion_is_flagged_before_its_half_peak() {
        for base in [3.0, 200.0, 2_000_000.0] {
            let x = viral(base, 150, 20, 12.0, 220);
            let f = flags(&detect(&x));
            assert!(!f.is_empty(), "base {base}");
            assert!(f[0] < 150 + 10, "flagged at day {} for base {base}", f[0]);
        }
    }

    #[test]
    fn flat_or_slowly_declining_series_are_never_flagged() {
        let flat: Vec<f64> = (0..400).map(|t| 50.0 + (t % 7) as f64).collect();
        assert!(flags(&detect(&flat)).is_empty());
        let declining: Vec<f64> = (0..400).map(|t| 1000.0 * 0.995f64.powi(t)).collect();
        assert!(flags(&detect(&declining)).is_empty());
        let zeros = vec![0.0; 300];
        assert!(flags(&detect(&zeros)).is_empty());
    }

    #[test]
    fn appending_future_days_never_changes_the_past() {
        let x = viral(40.0, 120, 15, 9.0, 300);
        let full = detect(&x);
        for cut in [70, 121, 140, 200, 299] {
            assert_eq!(detect(&x[..cut]), full[..cut], "cut at {cut}");
        }
    }

    #[test]
    fn shifting_a_series_in_time_shifts_its_flags() {
        let x = viral(40.0, 120, 15, 9.0, 260);
        let mut shifted = x[..1].repeat(30);
        shifted.extend_from_slice(&x);
        let a = flags(&detect(&x));
        let b: Vec<usize> = flags(&detect(&shifted)).iter().map(|t| t - 30).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn scores_stay_between_0_and_100() {
        let mut x = viral(1.0, 100, 3, 1e6, 200);
        x[150] = 0.0;
        for d in detect(&x) {
            assert!((0.0..=100.0).contains(&d.score), "{d:?}");
        }
    }

    #[test]
    fn a_floor_keeps_a_few_mentions_from_looking_like_an_explosion() {
        let mut x = vec![0.0; 120];
        x[100..].iter_mut().for_each(|v| *v = 3.0);
        assert!(
            !flags(&detect(&x)).is_empty(),
            "scale-free: 0 to 3 is infinite growth"
        );
        assert!(flags(&detect_with_floor(&x, 20.0)).is_empty());
        x[100..].iter_mut().for_each(|v| *v = 300.0);
        assert!(!flags(&detect_with_floor(&x, 20.0)).is_empty());
    }

    #[test]
    fn a_burst_of_posts_on_a_quiet_product_is_not_a_trend_but_a_rise_that_holds_is() {
        let product = |x: &[f64]| flags(&detect_with(x, &crate::engine::trend::PRODUCT_RULE));
        // 0.6 mentions a day.
        let quiet: Vec<f64> = (0..130)
            .map(|t| [1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0][t % 10])
            .collect();
        assert!(product(&quiet).is_empty());
        let mut burst = quiet.clone();
        burst[100..103].copy_from_slice(&[2.0, 2.0, 4.0]);
        assert!(product(&burst).is_empty(), "{:?}", product(&burst));
        let mut rise = quiet;
        for (t, v) in rise[100..].iter_mut().enumerate() {
            *v = 2.0 + t as f64;
        }
        let f = product(&rise);
        assert_eq!(f.first(), Some(&103), "on its 4th day above the usual rate");
    }

    #[test]
    fn one_explosion_is_one_alert() {
        let x = viral(100.0, 100, 10, 20.0, 200);
        let days = detect(&x);
        let onsets = (1..days.len())
            .filter(|&t| days[t].stage.is_flag() && !days[t - 1].stage.is_flag())
            .count();
        assert_eq!(onsets, 1);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Daily series from quiet to explosive, with zeros, at any scale.
    fn series() -> impl Strategy<Value = Vec<f64>> {
        (
            prop::collection::vec(0.0f64..1.0, 80..200),
            prop::sample::select(vec![1.0, 30.0, 1e6]),
            0usize..200,
            1.0f64..40.0,
        )
            .prop_map(|(noise, scale, start, peak)| {
                noise
                    .iter()
                    .enumerate()
                    .map(|(t, n)| {
                        let boost = if t >= start {
                            1.0 + (peak - 1.0) * ((t - start) as f64 / 10.0).min(1.0)
                        } else {
                            1.0
                        };
                        (scale * n * boost).floor()
                    })
                    .collect()
            })
    }

    /// Daily mentions of a product: whole counts, from a few a week to dozens a
    /// day, with or without a rise of any size.
    fn counts() -> impl Strategy<Value = Vec<f64>> {
        (
            prop::collection::vec(0.0f64..1.0, 80..200),
            prop::sample::select(vec![0.3, 1.5, 8.0, 40.0]),
            0usize..200,
            1.0f64..40.0,
        )
            .prop_map(|(noise, rate, start, peak)| {
                noise
                    .iter()
                    .enumerate()
                    .map(|(t, n)| {
                        let boost = if t >= start {
                            1.0 + (peak - 1.0) * ((t - start) as f64 / 10.0).min(1.0)
                        } else {
                            1.0
                        };
                        (2.0 * rate * n * boost).floor()
                    })
                    .collect()
            })
    }

    /// Two runs' flags from the first day, `from` or later, on which neither
    /// is flagged: from there on they are in the same state (empty when no
    /// such day comes).
    fn flags_once_both_settle(a: &[Day], b: &[Day], from: usize) -> (Vec<bool>, Vec<bool>) {
        let flags =
            |days: &[Day]| -> Vec<bool> { days.iter().map(|d| d.stage.is_flag()).collect() };
        let (a, b) = (flags(a), flags(b));
        match (from..a.len()).find(|&t| !a[t] && !b[t]) {
            Some(t) => (a[t..].to_vec(), b[t..].to_vec()),
            None => (Vec::new(), Vec::new()),
        }
    }

    fn product(x: &[f64]) -> Vec<Day> {
        detect_with(x, &crate::engine::trend::PRODUCT_RULE)
    }

    proptest! {
        #[test]
        fn appending_days_never_changes_what_was_said(x in series(), cut in 1usize..80) {
            let cut = cut.min(x.len());
            prop_assert_eq!(detect(&x[..cut]), detect(&x)[..cut].to_vec());
        }

        #[test]
        fn scores_stay_within_0_and_100_and_are_deterministic(x in series()) {
            let a = detect(&x);
            prop_assert_eq!(&a, &detect(&x));
            for d in &a {
                prop_assert!((0.0..=100.0).contains(&d.score));
            }
        }

        #[test]
        fn a_series_shifted_in_time_gets_the_same_flags_shifted(x in series(), pad in 1usize..40) {
            let mut shifted = vec![x[0]; pad];
            shifted.extend_from_slice(&x);
            // Once both have a full usual-level window (and the days a flag
            // must be sustained over) and are unflagged, they are in the same
            // state and must agree from there on.
            let (a, b) = flags_once_both_settle(&detect(&x), &detect(&shifted)[pad..], WARM_UP_DAYS + SUSTAIN_DAYS);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn the_product_rule_never_uses_a_later_day(x in counts(), cut in 1usize..120) {
            let cut = cut.min(x.len());
            prop_assert_eq!(product(&x[..cut]), product(&x)[..cut].to_vec());
        }

        #[test]
        fn the_product_rule_is_deterministic_with_scores_within_0_and_100(x in counts()) {
            let a = product(&x);
            prop_assert_eq!(&a, &product(&x));
            for d in &a {
                prop_assert!((0.0..=100.0).contains(&d.score));
            }
        }

        #[test]
        fn the_product_rule_shifts_its_flags_with_the_series(x in counts(), pad in 1usize..40) {
            let mut shifted = vec![x[0]; pad];
            shifted.extend_from_slice(&x);
            let rule = crate::engine::trend::PRODUCT_RULE;
            let (a, b) = flags_once_both_settle(&product(&x), &product(&shifted)[pad..], rule.first_flag_day() + 1);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn the_product_rule_never_flags_a_steady_or_slowly_fading_product(
            rate in 0.0f64..40.0,
            weekly in 0.0f64..0.3,
            fade in 0.99f64..=1.0,
            len in 70usize..300,
        ) {
            // Whole mentions a day around a rate, with a weekly rhythm, fading slowly.
            let x: Vec<f64> = (0..len)
                .map(|t| (rate * (1.0 + weekly * ((t % 7) as f64 / 3.0 - 1.0)) * fade.powi(t as i32)).round())
                .collect();
            prop_assert!(product(&x).iter().all(|d| !d.stage.is_flag()), "{:?}", x);
        }

        #[test]
        fn a_flat_series_is_never_flagged(level in 0.0f64..1e6, len in 70usize..300) {
            let x = vec![level.floor(); len];
            prop_assert!(detect(&x).iter().all(|d| !d.stage.is_flag()));
            prop_assert!(detect_with(&x, &crate::engine::trend::PRODUCT_RULE).iter().all(|d| !d.stage.is_flag()));
        }
    }
}
