//! From metric snapshots to daily attention: how much engagement a piece of
//! content gained on each day, and the sum of that over a product's content.
//!
//! Platforms report cumulative totals (views so far, likes so far...). What
//! says a product is taking off is the growth between two sightings, so each
//! content contributes the increase of its weighted engagement between
//! consecutive snapshots, counted on the day of the later sighting. The first
//! sighting counts its whole total on its own day. Every new content also
//! counts one unit then, so a post whose platform hides its metrics still
//! registers as a mention.
//!
//! Counting growth on the day it was seen, never spreading it back over the
//! days before, keeps the series causal: a sighting on day t changes day t and
//! nothing earlier, so what the engine said about a past day stays true when
//! later data arrives. Scanners sight content daily, so little is lost.

use std::collections::BTreeMap;

pub const DAY_MS: i64 = 86_400_000;

/// Weights of each metric in "engagement units". A share spreads content
/// further than a comment, which costs more than a like; views and
/// impressions are cheap and plentiful, so they count for 1 per 100.
const LIKE: f64 = 1.0;
const COMMENT: f64 = 2.0;
const SHARE: f64 = 3.0;
const VIEW: f64 = 0.01;
/// What the mere appearance of a new content is worth.
pub const MENTION: f64 = 1.0;

/// One sighting's cumulative metrics. Hidden or unreported metrics are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    pub views: Option<i64>,
    /// The midpoint of the impression range, for ads (libraries give ranges).
    pub impressions: Option<f64>,
    pub likes: Option<i64>,
    pub comments: Option<i64>,
    pub shares: Option<i64>,
}

impl Metrics {
    /// Weighted engagement units. Views and impressions measure the same
    /// thing, so the larger of the two counts, not both.
    pub fn units(&self) -> f64 {
        let seen = self
            .views
            .map(|v| v as f64)
            .unwrap_or(0.0)
            .max(self.impressions.unwrap_or(0.0));
        let n = |x: Option<i64>| x.unwrap_or(0).max(0) as f64;
        LIKE * n(self.likes) + COMMENT * n(self.comments) + SHARE * n(self.shares) + VIEW * seen
    }

    /// Interactions (likes, comments, shares) per view, when views are known.
    pub fn engagement_rate(&self) -> Option<f64> {
        let views = self.views.filter(|v| *v > 0)? as f64;
        let n = |x: Option<i64>| x.unwrap_or(0).max(0) as f64;
        Some((n(self.likes) + n(self.comments) + n(self.shares)) / views)
    }
}

/// A snapshot: when it was taken, and what it showed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub at_ms: i64,
    pub metrics: Metrics,
}

/// The day number (days since 1970-01-01, UTC) of a time.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// Adds one content's daily attention into `out` (day `start` first; days
/// outside `out` are dropped).
///
/// `snapshots` must be sorted by time. A metric that goes down between two
/// sightings (a platform rounding "1.2M", a deleted comment) adds nothing
/// rather than subtracting: attention already seen does not un-happen.
pub fn add_content(out: &mut [f64], start: i64, snapshots: &[Snapshot]) {
    let mut add = |at_ms: i64, amount: f64| {
        let i = day_of(at_ms) - start;
        if amount > 0.0 && (0..out.len() as i64).contains(&i) {
            out[i as usize] += amount;
        }
    };
    let Some(first) = snapshots.first() else {
        return;
    };
    let mut high = first.metrics.units();
    add(first.at_ms, MENTION + high);
    for s in &snapshots[1..] {
        let units = s.metrics.units();
        if units > high {
            add(s.at_ms, units - high);
            high = units;
        }
    }
}

/// A content as the product aggregation sees it.
#[derive(Debug, Clone)]
pub struct ContentHistory<'a> {
    pub platform: &'a str,
    pub kind: &'a str,
    pub author: Option<&'a str>,
    pub country: Option<&'a str>,
    pub published_at_ms: Option<i64>,
    pub snapshots: Vec<Snapshot>,
}

/// A product's attention, day by day, in total and split by platform and by
/// country, plus the distinct authors seen each day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductDays {
    /// Day number of `total[0]`.
    pub start: i64,
    pub total: Vec<f64>,
    pub by_platform: BTreeMap<String, Vec<f64>>,
    pub by_country: BTreeMap<String, Vec<f64>>,
    /// New content per day (mentions).
    pub mentions: Vec<f64>,
    /// Distinct authors with a new content per day, in total over `days`.
    pub authors: Vec<Vec<String>>,
    pub ad_advertisers: Vec<String>,
    /// Interactions per view over all content with views, when any.
    pub engagement_rate: Option<f64>,
}

/// Sums the attention of a product's contents over `days` days ending with day
/// `last_day` (inclusive). Nothing after `last_day` is used.
pub fn product_days(contents: &[ContentHistory<'_>], last_day: i64, days: usize) -> ProductDays {
    let start = last_day - days as i64 + 1;
    let mut total = vec![0.0; days];
    let mut mentions = vec![0.0; days];
    let mut authors: Vec<Vec<String>> = vec![Vec::new(); days];
    let mut by_platform: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut by_country: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut advertisers: Vec<String> = Vec::new();
    let (mut interactions, mut views) = (0.0, 0.0);
    let mut one = vec![0.0; days];
    let end_ms = (last_day + 1) * DAY_MS;
    for c in contents {
        let cut = c.snapshots.partition_point(|s| s.at_ms < end_ms);
        let snaps = &c.snapshots[..cut];
        let Some(first) = snaps.first() else {
            continue;
        };
        one.iter_mut().for_each(|v| *v = 0.0);
        add_content(&mut one, start, snaps);
        let born = day_of(first.at_ms);
        if (start..=last_day).contains(&born) {
            let i = (born - start) as usize;
            mentions[i] += 1.0;
            if let Some(a) = c.author {
                authors[i].push(a.to_owned());
            }
        }
        if c.kind == "ad"
            && let Some(a) = c.author
        {
            advertisers.push(a.to_owned());
        }
        let last = snaps[snaps.len() - 1].metrics;
        if let Some(rate) = last.engagement_rate() {
            views += last.views.unwrap_or(0) as f64;
            interactions += rate * last.views.unwrap_or(0) as f64;
        }
        let add = |into: &mut Vec<f64>| {
            into.iter_mut().zip(&one).for_each(|(a, b)| *a += b);
        };
        add(&mut total);
        add(by_platform
            .entry(c.platform.to_owned())
            .or_insert_with(|| vec![0.0; days]));
        if let Some(country) = c.country {
            add(by_country
                .entry(country.to_owned())
                .or_insert_with(|| vec![0.0; days]));
        }
    }
    for a in &mut authors {
        a.sort_unstable();
        a.dedup();
    }
    advertisers.sort_unstable();
    advertisers.dedup();
    ProductDays {
        start,
        total,
        by_platform,
        by_country,
        mentions,
        authors,
        ad_advertisers: advertisers,
        engagement_rate: (views > 0.0).then(|| interactions / views),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(day: i64, likes: i64) -> Snapshot {
        Snapshot {
            at_ms: day * DAY_MS + 3_600_000,
            metrics: Metrics {
                likes: Some(likes),
                ..Metrics::default()
            },
        }
    }

    #[test]
    fn growth_between_sightings_counts_on_the_day_it_was_seen() {
        let mut out = vec![0.0; 10];
        add_content(&mut out, 100, &[snap(101, 10), snap(105, 50)]);
        // The mention and the first 10 likes on day 101, then 40 more on day 105.
        assert_eq!(&out[..6], &[0.0, 11.0, 0.0, 0.0, 0.0, 40.0]);
        assert!(out[6..].iter().all(|v| *v == 0.0));
    }

    #[test]
    fn a_metric_going_down_adds_nothing_and_does_not_reset_the_high_mark() {
        let mut out = vec![0.0; 5];
        add_content(
            &mut out,
            0,
            &[snap(0, 100), snap(1, 90), snap(2, 100), snap(3, 110)],
        );
        assert_eq!(out, vec![101.0, 0.0, 0.0, 10.0, 0.0]);
    }

    #[test]
    fn views_and_impressions_count_once_at_a_hundredth() {
        let m = Metrics {
            views: Some(10_000),
            impressions: Some(20_000.0),
            likes: Some(5),
            comments: Some(2),
            shares: Some(1),
        };
        assert_eq!(m.units(), 5.0 + 4.0 + 3.0 + 200.0);
        assert_eq!(m.engagement_rate(), Some(8.0 / 10_000.0));
    }

    #[test]
    fn product_days_never_use_sightings_after_the_last_day() {
        let c = ContentHistory {
            platform: "tiktok",
            kind: "video",
            author: Some("a"),
            country: Some("US"),
            published_at_ms: None,
            snapshots: vec![snap(10, 10), snap(12, 1000)],
        };
        let early = product_days(std::slice::from_ref(&c), 11, 5);
        assert_eq!(early.total, vec![0.0, 0.0, 0.0, 11.0, 0.0]);
        let later = product_days(&[c], 12, 6);
        assert_eq!(&later.total[..5], &early.total[..]);
        assert_eq!(later.total[5], 990.0);
        assert_eq!(later.by_country["US"], later.total);
        assert_eq!(later.authors[3], vec!["a".to_owned()]);
    }
}
