//! A forecast of a product's daily attention for the next 14 days, with an
//! 80% interval that is calibrated on real series: the actual value falls
//! inside it about 8 times in 10 (measured in `docs/SCORING.md`, "Forecast").
//!
//! The method, in words a seller can check:
//! - **Point**: the mean of the last 7 days, times the weekday's usual share of
//!   its week (over the last 8 weeks). Attention series wander: a damped trend
//!   of the weekly level made the forecasts worse on real series, so there is none.
//! - **Interval**: the series' own forecasting record. For each horizon h, the
//!   same method is replayed at each of the last 120 days, and its log errors at
//!   h days ahead are collected; the interval spans their 9th to 91st percentiles
//!   (split-conformal style). A noisy series gets wide intervals, a steady one
//!   narrow ones, without a constant per series. The 9/91 levels (not 10/90)
//!   correct for the errors drifting over time, measured on half of the real
//!   series and confirmed on the other half. With little history, the quantiles
//!   are shrunk toward ones pooled over all series.
//! - **Scale**: everything is computed on log(value + c) with c a tenth of the
//!   last 28 days' mean, so 3 and 3,000,000 mentions are handled the same way,
//!   and zeros are no problem.

use serde::Serialize;

/// Days ahead that are forecast.
pub const HORIZON: usize = 14;
/// Fewer days of history than this give no forecast.
pub const MIN_HISTORY: usize = 28;

/// Days in the level (a full week, so weekdays weigh equally).
const LEVEL_DAYS: usize = 7;
/// Weeks over which each weekday's share of its week is averaged.
const SEASON_WEEKS: usize = 8;
/// Past forecast origins whose errors give a horizon's interval.
const RECORD: usize = 120;
/// The earliest past origin that is replayed (it needs a full level week).
const FIRST_ORIGIN: usize = 14;
/// Pseudo-count, as a share of the last 28 days' mean.
const PSEUDO: f64 = 0.10;
/// Error quantiles that bound the interval (see the module comment for why not 10/90).
const LOWER_Q: f64 = 0.09;
const UPPER_Q: f64 = 0.91;
/// Weight, in past origins, of the pooled quantiles when the record is short.
const POOLED_WEIGHT: f64 = 4.0;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastPoint {
    pub days_ahead: u32,
    pub value: f64,
    /// 10th percentile of the forecast distribution.
    pub lower: f64,
    /// 90th percentile.
    pub upper: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub points: Vec<ForecastPoint>,
    /// The next 7 days' forecast total against the last 7 days' total, in percent.
    pub growth_7d_pct: f64,
    /// The next 14 days' forecast total against the last 14 days' total, in
    /// percent. Both compare whole weeks, so the weekly rhythm cancels out:
    /// a single forecast day against a week's mean would swing with the
    /// weekday it falls on. The forecast carries the last week's level on,
    /// so this one says how much busier than the last two weeks the next two
    /// should be if that level holds.
    pub growth_14d_pct: f64,
}

/// Pooled log-error quantiles at `h` days ahead: the 9th and 91st percentiles of
/// the level's errors over half of the real series (they widen slowly with h).
fn pooled_quantiles(h: usize) -> (f64, f64) {
    let h = h as f64;
    (-(0.50 + 0.01 * h), 0.40 + 0.01 * h)
}

/// Forecast of the next 14 days from `history` (daily non-negative values, the
/// last one is today). `None` with fewer than 28 days.
pub fn forecast(history: &[f64]) -> Option<Forecast> {
    let n = history.len();
    if n < MIN_HISTORY {
        return None;
    }
    let today = n - 1;
    let Some(c) = pseudo_count(history) else {
        return Some(flat_zero());
    };
    // Only the days that the replayed origins need are read.
    let first_origin = FIRST_ORIGIN.max(today.saturating_sub(RECORD + HORIZON - 1));
    let base = first_origin.saturating_sub(7 * SEASON_WEEKS + LEVEL_DAYS + 3);
    let model = Model::new(&history[base..], c);
    let origin = today - base;
    let first = first_origin - base;

    let mut errors = Vec::with_capacity(RECORD);
    let mut points = Vec::with_capacity(HORIZON);
    for h in 1..=HORIZON {
        errors.clear();
        let oldest = first.max((origin + 1).saturating_sub(h + RECORD));
        for s in oldest..=origin.saturating_sub(h) {
            if s + h <= origin {
                errors.push(order_key(model.log_value(s + h) - model.log_forecast(s, h)));
            }
        }
        let (low, high) = error_band(&mut errors, h);
        let log_point = model.log_forecast(origin, h);
        let value = (log_point.exp() - c).max(0.0);
        let lower = ((log_point + low).exp() - c).clamp(0.0, value);
        let upper = ((log_point + high).exp() - c).max(value);
        points.push(ForecastPoint {
            days_ahead: h as u32,
            value,
            lower,
            upper,
        });
    }
    let ahead = |days: usize| points[..days].iter().map(|p| p.value).sum::<f64>();
    let past = |days: usize| history[n - days..].iter().sum::<f64>();
    Some(Forecast {
        growth_7d_pct: growth_pct(ahead(7), past(7)),
        growth_14d_pct: growth_pct(ahead(14), past(14)),
        points,
    })
}

/// A tenth of the recent mean (of the whole history when the last 28 days are
/// all zero); `None` when the history holds nothing but zeros.
fn pseudo_count(history: &[f64]) -> Option<f64> {
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    let recent = PSEUDO * mean(&history[history.len() - 28..]);
    let c = if recent > 0.0 {
        recent
    } else {
        PSEUDO * mean(history)
    };
    (c > 0.0 && c.is_finite()).then_some(c)
}

/// Nothing was ever seen: nothing is expected, with certainty.
fn flat_zero() -> Forecast {
    Forecast {
        points: (1..=HORIZON as u32)
            .map(|days_ahead| ForecastPoint {
                days_ahead,
                value: 0.0,
                lower: 0.0,
                upper: 0.0,
            })
            .collect(),
        growth_7d_pct: 0.0,
        growth_14d_pct: 0.0,
    }
}

fn growth_pct(ahead: f64, past: f64) -> f64 {
    if past > 0.0 {
        100.0 * (ahead / past - 1.0)
    } else {
        0.0
    }
}

/// The interval's log bounds at `h` days ahead: the quantiles of the series'
/// own past errors (as [`order_key`]s), shrunk toward the pooled ones when there are few.
fn error_band(errors: &mut [i64], h: usize) -> (f64, f64) {
    let (pooled_low, pooled_high) = pooled_quantiles(h);
    if errors.len() < 2 {
        return (pooled_low, pooled_high);
    }
    let (own_low, own_high) = quantile_pair_of_keys(errors, LOWER_Q, UPPER_Q);
    let w = errors.len() as f64 / (errors.len() as f64 + POOLED_WEIGHT);
    (
        w * own_low + (1.0 - w) * pooled_low,
        w * own_high + (1.0 - w) * pooled_high,
    )
}

/// Two linear-interpolation quantiles (the usual "type 7"), `low_q < high_q`,
/// by partial selection rather than a sort (quantiles are most of a forecast's
/// cost).
#[cfg(test)]
fn quantile_pair(values: &mut [f64], low_q: f64, high_q: f64) -> (f64, f64) {
    let mut keys: Vec<i64> = values.iter().map(|v| order_key(*v)).collect();
    quantile_pair_of_keys(&mut keys, low_q, high_q)
}

/// An integer that orders as `f64::total_cmp` orders the float (the same
/// transformation `total_cmp` applies on every comparison, applied once), and
/// turns back into it with [`from_order_key`].
fn order_key(v: f64) -> i64 {
    let bits = v.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

fn from_order_key(key: i64) -> f64 {
    f64::from_bits((key ^ ((((key >> 63) as u64) >> 1) as i64)) as u64)
}

/// [`quantile_pair`] over [`order_key`]s: selecting integers is cheaper than
/// selecting floats by `total_cmp`, with the same order.
fn quantile_pair_of_keys(keys: &mut [i64], low_q: f64, high_q: f64) -> (f64, f64) {
    let last = (keys.len() - 1) as f64;
    let (low_pos, high_pos) = (last * low_q, last * high_q);
    let low_at = low_pos.floor() as usize;
    let (_, &mut at, above) = keys.select_nth_unstable(low_at);
    let low = interpolate(from_order_key(at), above, low_pos - low_at as f64);
    // The high quantile lies in `above` (the positions after low_at).
    let high_at = high_pos.floor() as usize;
    let high = if high_at == low_at {
        interpolate(from_order_key(at), above, high_pos - high_at as f64)
    } else {
        let (_, &mut at, rest) = above.select_nth_unstable(high_at - low_at - 1);
        interpolate(from_order_key(at), rest, high_pos - high_at as f64)
    };
    (low, high)
}

/// `at` plus `fraction` of the way to the next value (the least of `above`).
fn interpolate(at: f64, above: &[i64], fraction: f64) -> f64 {
    match above.iter().copied().min() {
        Some(next) if fraction > 0.0 => at + (from_order_key(next) - at) * fraction,
        _ => at,
    }
}

/// The point-forecast method, replayable at any past origin of a window.
struct Model {
    /// log(x + c) per day.
    log_x: Vec<f64>,
    /// log(mean of the 7 days ending on the day + c); 0 before a full week.
    log_level: Vec<f64>,
    /// Mean over the last 8 weeks of a weekday's log share of its centred week,
    /// indexed by the last day it uses.
    season: Vec<f64>,
}

impl Model {
    fn new(x: &[f64], c: f64) -> Model {
        let n = x.len();
        let mut prefix = Vec::with_capacity(n + 1);
        prefix.push(0.0);
        for v in x {
            prefix.push(prefix[prefix.len() - 1] + v);
        }
        let window_mean = |from: usize, to: usize| (prefix[to + 1] - prefix[from]) / 7.0;
        let log_x: Vec<f64> = x.iter().map(|v| (v + c).ln()).collect();
        let log_level: Vec<f64> = (0..n)
            .map(|t| {
                if t + 1 >= LEVEL_DAYS {
                    (window_mean(t + 1 - LEVEL_DAYS, t) + c).ln()
                } else {
                    0.0
                }
            })
            .collect();
        // A day's log share of the week centred on it (known 3 days later): the
        // centred week of day j is the trailing week of day j + 3.
        let share = |j: usize| log_x[j] - log_level[j + 3];
        let first_share = LEVEL_DAYS - 1 - 3;
        let mut season = vec![0.0; n];
        // Running sum over the last SEASON_WEEKS same weekdays with a known share.
        let mut sum = [0.0f64; 7];
        let mut count = [0usize; 7];
        let known = n.saturating_sub(3);
        for (j, slot) in season.iter_mut().enumerate().take(known).skip(first_share) {
            let weekday = j % 7;
            sum[weekday] += share(j);
            count[weekday] += 1;
            if count[weekday] > SEASON_WEEKS {
                sum[weekday] -= share(j - 7 * SEASON_WEEKS);
                count[weekday] -= 1;
            }
            *slot = sum[weekday] / count[weekday] as f64;
        }
        Model {
            log_x,
            log_level,
            season,
        }
    }

    fn log_value(&self, t: usize) -> f64 {
        self.log_x[t]
    }

    /// Forecast made on day `s` for day `s + h`: the weekly level times the
    /// target weekday's share, taken from the latest same weekday whose
    /// centred week was complete on day `s`.
    fn log_forecast(&self, s: usize, h: usize) -> f64 {
        let weeks_back = (h + 3).div_ceil(7);
        let season = (s + h)
            .checked_sub(7 * weeks_back)
            .map_or(0.0, |j| self.season[j]);
        self.log_level[s] + season
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A level with a weekly cycle and deterministic pseudo-noise of `noise` (relative).
    fn noisy(level: f64, noise: f64, len: usize) -> Vec<f64> {
        let mut state = 12345u64;
        (0..len)
            .map(|t| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                let weekday = if t % 7 >= 5 { 0.7 } else { 1.1 };
                level * weekday * (1.0 + 2.0 * noise * u)
            })
            .collect()
    }

    #[test]
    fn quantiles_interpolate_as_the_usual_definition() {
        let mut v: Vec<f64> = (0..=100).rev().map(f64::from).collect();
        assert_eq!(quantile_pair(&mut v, 0.09, 0.91), (9.0, 91.0));
        let (low, high) = quantile_pair(&mut [4.0, 1.0, 3.0, 2.0], 0.1, 0.9);
        assert!((low - 1.3).abs() < 1e-12 && (high - 3.7).abs() < 1e-12);
        assert_eq!(quantile_pair(&mut [5.0, 5.0], 0.09, 0.91), (5.0, 5.0));
        assert_eq!(
            quantile_pair(&mut [2.0, 7.0, 7.0, 1.0, 9.0], 0.0, 1.0),
            (1.0, 9.0)
        );
    }

    proptest::proptest! {
        /// The quantiles found by partial selection equal the textbook ones
        /// over a full sort, ties and tiny samples included.
        #[test]
        fn quantiles_equal_those_of_a_full_sort(
            values in proptest::collection::vec(-20i32..20, 1..200),
            low_q in 0.0f64..0.5,
            high_q in 0.5f64..=1.0,
        ) {
            let mut values: Vec<f64> = values.into_iter().map(|v| f64::from(v) / 4.0).collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let textbook = |q: f64| {
                let pos = (sorted.len() - 1) as f64 * q;
                let r = pos.floor() as usize;
                let next = sorted.get(r + 1).copied().unwrap_or(sorted[r]);
                sorted[r] + (next - sorted[r]) * (pos - r as f64)
            };
            let (low, high) = quantile_pair(&mut values, low_q, high_q);
            proptest::prop_assert_eq!(low, textbook(low_q));
            proptest::prop_assert_eq!(high, textbook(high_q));
        }

        /// Order keys sort as `total_cmp` sorts, and turn back into the same float.
        #[test]
        fn order_keys_keep_the_total_order(a in proptest::num::f64::ANY, b in proptest::num::f64::ANY) {
            proptest::prop_assert_eq!(order_key(a).cmp(&order_key(b)), a.total_cmp(&b));
            proptest::prop_assert_eq!(from_order_key(order_key(a)).to_bits(), a.to_bits());
        }
    }

    #[test]
    fn fewer_than_28_days_give_no_forecast() {
        assert_eq!(forecast(&[5.0; 27]), None);
        assert!(forecast(&[5.0; 28]).is_some());
    }

    #[test]
    fn fourteen_days_are_forecast_with_the_value_inside_its_interval() {
        for x in [noisy(50.0, 0.4, 365), noisy(50.0, 0.4, 30), vec![0.0; 40]] {
            let f = forecast(&x).unwrap();
            assert_eq!(f.points.len(), 14);
            for (i, p) in f.points.iter().enumerate() {
                assert_eq!(p.days_ahead as usize, i + 1);
                assert!(p.lower.is_finite() && p.value.is_finite() && p.upper.is_finite());
                assert!(
                    0.0 <= p.lower && p.lower <= p.value && p.value <= p.upper,
                    "{p:?}"
                );
            }
            assert!(f.growth_7d_pct.is_finite() && f.growth_14d_pct.is_finite());
        }
    }

    #[test]
    fn nothing_ever_seen_forecasts_zero_with_certainty() {
        let f = forecast(&[0.0; 100]).unwrap();
        assert!(f.points.iter().all(|p| p.lower == 0.0 && p.upper == 0.0));
        assert_eq!(f.growth_7d_pct, 0.0);
    }

    #[test]
    fn a_series_a_thousand_times_larger_gets_a_forecast_a_thousand_times_larger() {
        let x = noisy(7.0, 0.5, 365);
        let big: Vec<f64> = x.iter().map(|v| v * 1000.0).collect();
        let (a, b) = (forecast(&x).unwrap(), forecast(&big).unwrap());
        for (p, q) in a.points.iter().zip(&b.points) {
            for (u, v) in [(p.value, q.value), (p.lower, q.lower), (p.upper, q.upper)] {
                assert!(
                    (v - 1000.0 * u).abs() <= 1e-9 * v.abs().max(1.0),
                    "{p:?} {q:?}"
                );
            }
        }
        assert!((a.growth_7d_pct - b.growth_7d_pct).abs() < 1e-9);
    }

    #[test]
    fn intervals_widen_with_the_horizon_on_a_wandering_series() {
        // A random walk in log space: the further ahead, the less is known.
        let mut state = 99u64;
        let mut log = 4.0f64;
        let x: Vec<f64> = (0..365)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                log += ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.3;
                log.exp()
            })
            .collect();
        let f = forecast(&x).unwrap();
        let width = |p: &ForecastPoint| (p.upper / p.lower.max(1e-9)).ln();
        assert!(width(&f.points[13]) > width(&f.points[6]));
        assert!(width(&f.points[6]) > width(&f.points[0]));
    }

    #[test]
    fn a_steady_series_gets_a_narrower_interval_than_a_noisy_one() {
        let steady = forecast(&noisy(100.0, 0.05, 200)).unwrap();
        let noisy = forecast(&noisy(100.0, 0.8, 200)).unwrap();
        let width = |f: &Forecast| f.points[6].upper - f.points[6].lower;
        assert!(width(&steady) < width(&noisy) / 3.0);
    }

    #[test]
    fn the_weekly_cycle_is_forecast() {
        let x = noisy(100.0, 0.02, 200);
        let f = forecast(&x).unwrap();
        // Day 200 is a weekday (200 % 7 = 4), days 201 and 202 are the weekend.
        assert!(
            f.points[0].value > 100.0 && f.points[1].value < 80.0,
            "{f:?}"
        );
    }

    #[test]
    fn growth_compares_whole_weeks_so_the_weekday_does_not_move_it() {
        // A steady weekly cycle (weekdays 1.1, weekends 0.7): whatever day the
        // history ends on, nothing is growing.
        let x = noisy(100.0, 0.0, 200);
        for end in 190..=196 {
            let f = forecast(&x[..end]).unwrap();
            assert!(f.growth_7d_pct.abs() < 3.0, "ending on day {end}: {f:?}");
            assert!(f.growth_14d_pct.abs() < 3.0, "ending on day {end}: {f:?}");
        }
    }

    #[test]
    fn a_week_at_twice_the_one_before_is_carried_on() {
        let mut x = noisy(100.0, 0.0, 200);
        for v in &mut x[193..] {
            *v *= 2.0;
        }
        let f = forecast(&x).unwrap();
        // The forecast holds the last week's level: the next week matches it,
        // and the next two weeks run a third above the last two (2 / 1.5).
        assert!(f.growth_7d_pct.abs() < 3.0, "{f:?}");
        assert!((f.growth_14d_pct - 33.3).abs() < 3.0, "{f:?}");
    }

    #[test]
    fn the_same_history_gives_the_same_forecast() {
        let x = noisy(30.0, 0.6, 400);
        assert_eq!(forecast(&x), forecast(&x));
    }

    #[test]
    fn only_the_past_is_used() {
        let x = noisy(30.0, 0.6, 300);
        let mut changed = x.clone();
        changed[299] *= 5.0;
        assert_eq!(forecast(&x[..299]), forecast(&changed[..299]));
    }
}
