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

use std::collections::{BTreeMap, HashMap};

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
    let mut daily = Daily::new(out.len());
    daily.add(start, snapshots);
    out.iter_mut().zip(&daily.units).for_each(|(o, u)| *o += u);
}

/// Day-by-day growth of one or more contents.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Daily {
    /// Engagement units gained (the attention series).
    pub units: Vec<f64>,
    /// Likes, comments and shares gained on content that reports views...
    pub interactions: Vec<f64>,
    /// ...and the views it gained: their ratio is the engagement rate.
    pub views: Vec<f64>,
}

impl Daily {
    pub fn new(days: usize) -> Self {
        Self {
            units: vec![0.0; days],
            interactions: vec![0.0; days],
            views: vec![0.0; days],
        }
    }

    /// Zeroes the days in `span` (the only ones [`Daily::add_span`] wrote).
    fn clear(&mut self, span: (usize, usize)) {
        let (from, to) = span;
        for v in [&mut self.units, &mut self.interactions, &mut self.views] {
            v[from..=to].iter_mut().for_each(|x| *x = 0.0);
        }
    }

    /// Adds `other`'s days in `span`, where all of its non-zero days lie.
    fn add_from(&mut self, other: &Daily, span: (usize, usize)) {
        let (from, to) = span;
        let pairs = [
            (&mut self.units, &other.units),
            (&mut self.interactions, &other.interactions),
            (&mut self.views, &other.views),
        ];
        for (into, from_days) in pairs {
            into[from..=to]
                .iter_mut()
                .zip(&from_days[from..=to])
                .for_each(|(a, b)| *a += b);
        }
    }

    /// Adds one content's growth, its first sighting counting in full plus a mention.
    pub fn add(&mut self, start: i64, snapshots: &[Snapshot]) {
        self.add_span(start, snapshots);
    }

    /// [`Daily::add`], answering which days it wrote (first and last), if any:
    /// a content is sighted over a few weeks at most, so a product's sums only
    /// need those days rather than the whole window.
    fn add_span(&mut self, start: i64, snapshots: &[Snapshot]) -> Option<(usize, usize)> {
        let len = self.units.len() as i64;
        let mut span: Option<(usize, usize)> = None;
        let mut previous: Option<(f64, f64, f64)> = None;
        for s in snapshots {
            let units = s.metrics.units();
            let (interactions, views) = match s.metrics.engagement_rate() {
                Some(rate) => {
                    let views = s.metrics.views.unwrap_or(0) as f64;
                    (rate * views, views)
                }
                None => (0.0, 0.0),
            };
            let (gain, gained_interactions, gained_views, high) = match previous {
                None => (
                    MENTION + units,
                    interactions,
                    views,
                    (units, interactions, views),
                ),
                Some((u, i, v)) => (
                    (units - u).max(0.0),
                    (interactions - i).max(0.0),
                    (views - v).max(0.0),
                    (u.max(units), i.max(interactions), v.max(views)),
                ),
            };
            previous = Some(high);
            let i = day_of(s.at_ms) - start;
            if (0..len).contains(&i) {
                let i = i as usize;
                self.units[i] += gain;
                self.interactions[i] += gained_interactions;
                self.views[i] += gained_views;
                span = Some(span.map_or((i, i), |(a, b)| (a.min(i), b.max(i))));
            }
        }
        span
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
/// country, with what the score needs to judge its breadth.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductDays {
    /// Day number of the first element of every series.
    pub start: i64,
    pub total: Daily,
    pub by_platform: BTreeMap<String, Daily>,
    pub by_country: BTreeMap<String, Vec<f64>>,
    /// New contents per day (mentions).
    pub mentions: Vec<f64>,
    /// Distinct authors of the contents first seen each day, as small
    /// integers (the same author is the same number throughout a product).
    pub authors: Vec<Vec<u32>>,
    /// Advertisers whose first ad was seen each day.
    pub new_advertisers: Vec<f64>,
    /// New contents per day by region of their country, in
    /// [`geo::REGIONS`](crate::engine::geo::REGIONS) order (contents without
    /// a known country count in none): how far the talk about it has spread.
    pub mentions_by_region: Vec<[f64; REGION_COUNT]>,
}

/// Regions [`ProductDays::mentions_by_region`] counts in.
pub const REGION_COUNT: usize = crate::engine::geo::REGIONS.len();

/// The index of a country's region in [`geo::REGIONS`](crate::engine::geo::REGIONS).
fn region_index(country: &str) -> Option<usize> {
    let region = crate::engine::geo::region_of(country)?;
    crate::engine::geo::REGIONS
        .iter()
        .position(|r| *r == region)
}

impl ProductDays {
    pub fn days(&self) -> usize {
        self.total.units.len()
    }
}

/// Sums the attention of a product's contents over `days` days ending with day
/// `last_day` (inclusive). Nothing seen after `last_day` is used.
pub fn product_days(contents: &[ContentHistory<'_>], last_day: i64, days: usize) -> ProductDays {
    let start = last_day - days as i64 + 1;
    let mut out = ProductDays {
        start,
        total: Daily::new(days),
        mentions: vec![0.0; days],
        authors: vec![Vec::new(); days],
        new_advertisers: vec![0.0; days],
        mentions_by_region: vec![[0.0; REGION_COUNT]; days],
        ..ProductDays::default()
    };
    let mut advertisers: BTreeMap<&str, i64> = BTreeMap::new();
    let mut author_ids: HashMap<&str, u32> = HashMap::new();
    let mut one = Daily::new(days);
    let end_ms = (last_day + 1) * DAY_MS;
    for c in contents {
        let cut = c.snapshots.partition_point(|s| s.at_ms < end_ms);
        let snaps = &c.snapshots[..cut];
        let Some(first) = snaps.first() else {
            continue;
        };
        let span = one.add_span(start, snaps);
        let born = day_of(first.at_ms);
        if (start..=last_day).contains(&born) {
            let i = (born - start) as usize;
            out.mentions[i] += 1.0;
            if let Some(r) = c.country.and_then(region_index) {
                out.mentions_by_region[i][r] += 1.0;
            }
            if let Some(a) = c.author {
                let next = author_ids.len() as u32;
                out.authors[i].push(*author_ids.entry(a).or_insert(next));
            }
        }
        if c.kind == "ad"
            && let Some(a) = c.author
        {
            let first_day = advertisers.entry(a).or_insert(born);
            *first_day = (*first_day).min(born);
        }
        // Platforms and countries get their series even when this content
        // adds nothing to the window, as they always have.
        if !out.by_platform.contains_key(c.platform) {
            out.by_platform
                .insert(c.platform.to_owned(), Daily::new(days));
        }
        if let Some(country) = c.country
            && !out.by_country.contains_key(country)
        {
            out.by_country.insert(country.to_owned(), vec![0.0; days]);
        }
        let Some(span) = span else {
            continue;
        };
        out.total.add_from(&one, span);
        if let Some(p) = out.by_platform.get_mut(c.platform) {
            p.add_from(&one, span);
        }
        if let Some(into) = c
            .country
            .and_then(|country| out.by_country.get_mut(country))
        {
            let (from, to) = span;
            into[from..=to]
                .iter_mut()
                .zip(&one.units[from..=to])
                .for_each(|(a, b)| *a += b);
        }
        one.clear(span);
    }
    for a in &mut out.authors {
        a.sort_unstable();
        a.dedup();
    }
    for day in advertisers.into_values() {
        if (start..=last_day).contains(&day) {
            out.new_advertisers[(day - start) as usize] += 1.0;
        } else if day < start && days > 0 {
            // Advertisers from before the window still saturate the market.
            out.new_advertisers[0] += 1.0;
        }
    }
    out
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
        assert_eq!(early.total.units, vec![0.0, 0.0, 0.0, 11.0, 0.0]);
        let later = product_days(&[c], 12, 6);
        assert_eq!(&later.total.units[..5], &early.total.units[..]);
        assert_eq!(later.total.units[5], 990.0);
        assert_eq!(later.by_country["US"], later.total.units);
        assert_eq!(later.by_platform["tiktok"], later.total);
        assert_eq!(later.authors[3], vec![0], "one author, numbered 0");
    }
}
