//! Watchlist alerts: what changed on a watched product since its owner last
//! looked, in the words of the original API.

use super::engagement::VIRAL_THRESHOLD;

/// The change on one watched product since the last check.
#[derive(Debug, Clone)]
pub struct WatchChange<'a> {
    pub product_name: &'a str,
    pub seen_score: Option<f64>,
    pub latest_score: Option<f64>,
    /// (platform, engagement score) of ads added since, oldest first.
    pub new_ads: &'a [(String, i64)],
}

/// Score moves smaller than this are noise, not news.
const MIN_SCORE_MOVE: f64 = 0.1;

pub fn alerts_for(change: &WatchChange<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let name = change.product_name;
    match (change.seen_score, change.latest_score) {
        (Some(before), Some(after)) if after - before >= MIN_SCORE_MOVE => {
            out.push(format!(
                "🚀 {name} trend score increased by {:.1} points!",
                after - before
            ));
        }
        (Some(before), Some(after)) if before - after >= MIN_SCORE_MOVE => {
            out.push(format!(
                "📉 {name} trend score decreased by {:.1} points",
                before - after
            ));
        }
        (None, Some(after)) => {
            out.push(format!("📊 {name} has its first trend score: {after:.1}"));
        }
        _ => {}
    }
    let mut platforms_seen: Vec<&str> = Vec::new();
    for (platform, engagement) in change.new_ads {
        if *engagement >= VIRAL_THRESHOLD && !platforms_seen.contains(&platform.as_str()) {
            platforms_seen.push(platform);
            out.push(format!(
                "🔥 New viral ad detected for {name} on {platform}!"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change<'a>(
        seen: Option<f64>,
        latest: Option<f64>,
        ads: &'a [(String, i64)],
    ) -> WatchChange<'a> {
        WatchChange {
            product_name: "Lamp",
            seen_score: seen,
            latest_score: latest,
            new_ads: ads,
        }
    }

    #[test]
    fn score_rises_and_falls_are_reported_with_their_size() {
        assert_eq!(
            alerts_for(&change(Some(50.0), Some(65.2), &[])),
            ["🚀 Lamp trend score increased by 15.2 points!"]
        );
        assert_eq!(
            alerts_for(&change(Some(50.0), Some(40.0), &[])),
            ["📉 Lamp trend score decreased by 10.0 points"]
        );
        assert!(alerts_for(&change(Some(50.0), Some(50.05), &[])).is_empty());
        assert!(alerts_for(&change(Some(50.0), None, &[])).is_empty());
    }

    #[test]
    fn one_viral_ad_alert_per_platform() {
        let ads = vec![
            ("TikTok".to_owned(), 90),
            ("TikTok".to_owned(), 95),
            ("YouTube".to_owned(), 50),
            ("YouTube".to_owned(), 71),
        ];
        assert_eq!(
            alerts_for(&change(None, None, &ads)),
            [
                "🔥 New viral ad detected for Lamp on TikTok!",
                "🔥 New viral ad detected for Lamp on YouTube!"
            ]
        );
    }
}
