//! The viral score of an ad (0-100): how fast its engagement grows compared
//! with other ads on the same platform over the same days, and how long it has
//! been running. The ad-spy rule of thumb is that an ad still gaining after
//! weeks is one its advertiser keeps paying for because it sells.

/// Engagement units a day of pseudo-count, so an ad going from 1 to 3 likes is
/// not ten times better than its peers.
const PRIOR: f64 = 5.0;
/// Days of running that earn the full longevity points.
const LONG_RUN_DAYS: f64 = 30.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViralInput {
    /// Engagement units the ad gained per day over the last 7 days.
    pub growth_per_day: f64,
    /// The median of the same figure over the platform's ads.
    pub platform_median: f64,
    pub days_running: f64,
}

/// 0-100: up to 70 points for growth against the platform's ads (35 for a
/// typical ad, 70 for ten times the typical growth), up to 30 for running
/// long, of which an ad that stopped gaining keeps only a third.
pub fn viral_score(v: ViralInput) -> i64 {
    let relative = (v.growth_per_day.max(0.0) + PRIOR) / (v.platform_median.max(0.0) + PRIOR);
    let growth = 70.0 * (0.5 + relative.log10() / 2.0).clamp(0.0, 1.0);
    let gaining = if v.growth_per_day > 0.0 {
        1.0
    } else {
        1.0 / 3.0
    };
    let longevity = 30.0 * (v.days_running.max(0.0) / LONG_RUN_DAYS).min(1.0) * gaining;
    (growth + longevity).round().clamp(0.0, 100.0) as i64
}

/// The median of non-negative values, 0 for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(growth: f64, median: f64, days: f64) -> i64 {
        viral_score(ViralInput {
            growth_per_day: growth,
            platform_median: median,
            days_running: days,
        })
    }

    #[test]
    fn a_typical_new_ad_is_middling_and_a_fast_grower_is_viral() {
        assert_eq!(score(100.0, 100.0, 0.0), 35);
        assert!(score(1_000.0, 100.0, 3.0) >= 70);
    }

    #[test]
    fn running_long_and_still_gaining_beats_running_long_and_stalled() {
        assert!(score(100.0, 100.0, 45.0) > score(0.0, 100.0, 45.0) + 20);
        assert_eq!(score(100.0, 100.0, 45.0), 65);
    }

    #[test]
    fn small_numbers_do_not_make_huge_ratios() {
        assert!(score(3.0, 0.3, 0.0) < 50, "{}", score(3.0, 0.3, 0.0));
    }

    #[test]
    fn scores_stay_within_0_and_100() {
        for (g, m, d) in [(1e12, 0.0, 1e6), (0.0, 1e12, -5.0), (-3.0, -3.0, 0.0)] {
            assert!((0..=100).contains(&score(g, m, d)));
        }
    }
}
