//! The trend score (0-100) of a product from its stored ads, at a given time.
//! Explainable by construction: the score is the sum of the components below,
//! each of which is returned.

use serde::Serialize;

/// One ad as the score sees it.
#[derive(Debug, Clone)]
pub struct AdSignal<'a> {
    pub platform: &'a str,
    pub engagement: i64,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScoreBreakdown {
    /// 12 x log2(1 + ads), at most 40: volume with diminishing returns, so a
    /// handful of ads cannot look like a wave.
    pub volume: f64,
    /// 0.3 x mean engagement score of the ads (at most 30).
    pub engagement: f64,
    /// 5 per distinct platform, at most 20: reach across audiences.
    pub breadth: f64,
    /// Up to 10, for the share of ads from the last 7 days, shrunk toward zero
    /// when there are few of them (a share of 1 out of 1 is not momentum).
    pub momentum: f64,
    pub total: f64,
}

const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;
/// Pseudo-count for the momentum share: with k recent ads out of n, the share
/// is k / (n + PRIOR), so it approaches k / n only once there are many ads.
const MOMENTUM_PRIOR: f64 = 5.0;

pub fn trend_score(ads: &[AdSignal<'_>], now_ms: i64) -> ScoreBreakdown {
    let n = ads.len() as f64;
    let volume = (12.0 * (1.0 + n).log2()).min(40.0);
    let engagement = if ads.is_empty() {
        0.0
    } else {
        0.3 * ads.iter().map(|a| a.engagement as f64).sum::<f64>() / n
    };
    let mut platforms: Vec<&str> = ads.iter().map(|a| a.platform).collect();
    platforms.sort_unstable();
    platforms.dedup();
    let breadth = (5.0 * platforms.len() as f64).min(20.0);
    let recent = ads
        .iter()
        .filter(|a| a.created_at_ms > now_ms - WEEK_MS && a.created_at_ms <= now_ms)
        .count() as f64;
    let momentum = 10.0 * recent / (n + MOMENTUM_PRIOR);
    let round1 = |x: f64| (x * 10.0).round() / 10.0;
    let total = round1((volume + engagement + breadth + momentum).clamp(0.0, 100.0));
    ScoreBreakdown {
        volume: round1(volume),
        engagement: round1(engagement),
        breadth: round1(breadth),
        momentum: round1(momentum),
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600 * 1000;

    fn ad(platform: &str, engagement: i64, at: i64) -> AdSignal<'_> {
        AdSignal {
            platform,
            engagement,
            created_at_ms: at,
        }
    }

    #[test]
    fn no_ads_score_zero() {
        assert_eq!(trend_score(&[], 0).total, 0.0);
    }

    #[test]
    fn one_ad_is_not_a_trend() {
        let s = trend_score(&[ad("TikTok", 90, 100 * DAY)], 100 * DAY);
        assert!(s.total < 50.0, "{s:?}");
        assert!(
            s.momentum < 2.0,
            "shrinkage keeps 1-of-1 from looking like momentum: {s:?}"
        );
    }

    #[test]
    fn more_recent_ads_on_more_platforms_score_higher() {
        let now = 100 * DAY;
        let old: Vec<_> = (0..10).map(|_| ad("TikTok", 60, now - 30 * DAY)).collect();
        let fresh: Vec<_> = ["TikTok", "Instagram", "YouTube", "Facebook", "Twitter"]
            .iter()
            .cycle()
            .take(10)
            .map(|p| ad(p, 60, now - DAY))
            .collect();
        let (a, b) = (trend_score(&old, now), trend_score(&fresh, now));
        assert!(b.total > a.total, "{a:?} vs {b:?}");
        assert_eq!(b.breadth, 20.0);
    }

    #[test]
    fn the_total_is_the_sum_of_its_components_and_bounded() {
        let now = 100 * DAY;
        let many: Vec<_> = (0..10_000)
            .map(|i| ad(["A", "B", "C", "D", "E"][i % 5], 100, now))
            .collect();
        let s = trend_score(&many, now);
        assert!(s.total <= 100.0);
        assert!((s.volume + s.engagement + s.breadth + s.momentum - s.total).abs() < 0.5);
    }

    #[test]
    fn ads_from_the_future_do_not_count_as_recent() {
        let s = trend_score(&[ad("A", 50, 10 * DAY)], DAY);
        assert_eq!(s.momentum, 0.0);
    }
}
