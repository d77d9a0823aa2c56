//! A product's trend report for one day: the 0-100 score with each of its
//! components explained, the lifecycle stage with the rule that put it there,
//! and where (platforms, countries, regions) its attention comes from.
//!
//! Everything is computed from [`ProductDays`] up to and including the day
//! asked about, so the report for a past day never changes when later data
//! arrives. `docs/SCORING.md` documents each formula and why it is there.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::attention::{ProductDays, REGION_COUNT};
use super::detect::{
    Day, LAG, Rule, Stage, Usual, WARM_UP_DAYS, WIDTH, detect_with_lane, window_sums,
};
use super::forecast::{Forecast, forecast};
use super::geo::region_of;

/// Engagement units a day below which activity is too little to call a trend
/// (about 20 likes, or 2,000 views): the pseudo-count added to every level
/// before two levels are compared, so going from 1 to 3 mentions is not a 3x.
pub const FLOOR: f64 = 20.0;
/// The stage of a product follows its mentions (new posts, videos and ads a
/// day), not its engagement: one big creator's post, whose views keep growing
/// for days, is a spike of engagement but a single mention, and on simulated
/// social data the engagement series flagged 43% of products that never went
/// viral where mentions flag 3-5% (`docs/SCORING.md`, "Simulated data").
/// Mentions are small counts, so the usual level is their mean (a median of
/// whole numbers is off by half for a quiet product), with one mention a day
/// of pseudo-count so going from 0 to 3 posts is not a trend. A flag starts
/// when the last 4 days average 2.25x the usual level and each of the last 2
/// was above it: averaging 4 days rather than 3 evens out the Poisson noise of
/// a few posts a day, which is what let a 3-day burst on a quiet product pass
/// for a trend; chosen on simulated seeds 7, 11, 13 and 21 and confirmed on
/// others (`docs/SCORING.md`). Unflagged, a week under 1.3x is dormant.
///
/// A flag can also start through a second route, [`SPREAD`]: a product that
/// goes viral spreads beyond its home region, so a smaller rise of the week's
/// posts confirmed by posts from other regions is a trend too (see
/// [`spread_lane`]).
pub const PRODUCT_RULE: Rule = Rule {
    floor: 1.0,
    usual: Usual::Mean,
    entry_days: 4,
    enter: 2.25,
    sustain: 1.0,
    sustain_days: 2,
    quiet: 1.3,
};
/// The second route into a flag: talk spreading to new places.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Days of the recent window (a week).
    pub days: usize,
    /// The week's new posts must run at least this many times their usual
    /// rate (with [`PRODUCT_RULE`]'s pseudo-count)...
    pub mentions: f64,
    /// ...and the week's new posts from outside the product's home region
    /// (the region most of its posts came from over days t-67..t-8) at least
    /// this many times their own usual rate...
    pub elsewhere: f64,
    /// ...with a pseudo-count of this many posts a day, or a tenth of their
    /// usual rate when larger.
    pub floor: f64,
}

/// A week at 1.5x the usual posts, with posts from outside the home region
/// at 2.5x theirs. Viral products in the simulated world spread to other
/// regions as they rise; a busy week at home (a sale, a season) or a burst
/// of posts on a quiet product does not. Chosen on simulated seeds 7, 11, 13
/// and 21 and confirmed on others (`docs/SCORING.md`, "Simulated data").
pub const SPREAD: Spread = Spread {
    days: 7,
    mentions: 1.5,
    elsewhere: 2.5,
    floor: 0.4,
};

/// For each day, whether the [`SPREAD`] route holds on it, from that day and
/// the days before only. The week's and the usual window's posts are running
/// sums of whole counts (exact); the regions are only counted on the few days
/// whose week passes the first test, so a quiet day costs two additions.
pub fn spread_lane(d: &ProductDays) -> Vec<bool> {
    let x = &d.mentions;
    let n = x.len();
    let mut lane = vec![false; n];
    // Posts by region over days `from..=to`, and their total.
    let regions = |from: usize, to: usize| {
        let mut sums = [0.0; REGION_COUNT];
        for row in d.mentions_by_region.get(from..=to).unwrap_or_default() {
            sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
        }
        sums
    };
    // Days t-6..=t, and the usual-level window t-67..=t-8.
    let (mut recent, mut usual) = (0.0, 0.0);
    for t in 0..n {
        recent += x[t];
        if t >= SPREAD.days {
            recent -= x[t - SPREAD.days];
        }
        if t >= LAG {
            usual += x[t - LAG];
        }
        if t >= LAG + WIDTH {
            usual -= x[t - LAG - WIDTH];
        }
        if t < WARM_UP_DAYS {
            continue;
        }
        let mean = usual / WIDTH as f64;
        let c = (0.1 * mean).max(PRODUCT_RULE.floor);
        if (recent / SPREAD.days as f64 + c) / (mean + c) < SPREAD.mentions {
            continue;
        }
        let before = regions(t - WARM_UP_DAYS, t - LAG);
        let now = regions(t + 1 - SPREAD.days, t);
        // The home region: the most posts, the first of equals.
        let mut home = 0;
        for r in 1..REGION_COUNT {
            if before[r] > before[home] {
                home = r;
            }
        }
        let elsewhere_usual = (before.iter().sum::<f64>() - before[home]) / WIDTH as f64;
        let elsewhere_now = (now.iter().sum::<f64>() - now[home]) / SPREAD.days as f64;
        let ce = (0.1 * elsewhere_usual).max(SPREAD.floor);
        lane[t] = (elsewhere_now + ce) / (elsewhere_usual + ce) >= SPREAD.elsewhere;
    }
    lane
}

/// Days of attention a report is computed from: the detector's usual-level
/// window needs 67 days before the first day it can judge.
pub const WINDOW_DAYS: usize = 150;
/// Days of history a report carries.
pub const HISTORY_DAYS: usize = 90;
/// Countries and regions are ranked on this many recent days.
const PLACE_DAYS: usize = 28;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    pub name: &'static str,
    /// Points this component adds (negative for saturation).
    pub points: f64,
    /// The most (or, for saturation, the least) it can add.
    pub max: f64,
    /// What it measured, in words.
    pub detail: String,
}

/// One day of a product's trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendDay {
    /// Day number (days since 1970-01-01, UTC).
    pub day: i64,
    pub attention: f64,
    pub score: f64,
    pub stage: Stage,
    /// Each component's points, in [`COMPONENTS`] order (their words are
    /// only kept for today, in [`TrendReport::components`]).
    pub points: [f64; 7],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformShare {
    pub platform: String,
    /// Engagement units over the last 7 days.
    pub attention_7d: f64,
    /// Share of the product's attention over the last 7 days, 0-100.
    pub share: f64,
    /// Change against the 7 days before, in percent (`None` when both are zero).
    pub change_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaceInterest {
    /// A country code or a region name.
    pub place: String,
    /// Engagement units over the last 28 days.
    pub attention: f64,
    /// 0-100, relative to the product's hottest place at the same level.
    pub interest: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendReport {
    pub day: i64,
    pub score: f64,
    pub components: Vec<Component>,
    pub stage: Stage,
    /// Why the product is at this stage, in words a seller can check.
    pub reason: String,
    /// Change of the last 7 days' attention against the 7 days before, in percent.
    pub change_7d_pct: Option<f64>,
    pub attention_7d: f64,
    /// The last [`HISTORY_DAYS`] days, oldest first.
    pub history: Vec<TrendDay>,
    pub platforms: Vec<PlatformShare>,
    pub countries: Vec<PlaceInterest>,
    pub regions: Vec<PlaceInterest>,
    /// Attention over the next 14 days with its 80% interval (`None` with
    /// too little history).
    pub forecast: Option<Forecast>,
}

/// Interactions per view that count as normal on each platform, learned from
/// stored data (see `engagement_norms`), with a fallback for platforms with
/// too few views to learn from.
#[derive(Debug, Clone, Default)]
pub struct Norms {
    pub by_platform: HashMap<String, f64>,
}

/// Used where a platform's own norm is unknown: a typical interactions-per-view
/// rate of short video, in the middle of what public benchmarks report.
pub const DEFAULT_NORM: f64 = 0.04;
/// Views a platform needs before its own rate is trusted as its norm.
const NORM_MIN_VIEWS: f64 = 100_000.0;
/// Views of pseudo-count pulling a product's engagement rate toward the norm.
const RATE_PRIOR_VIEWS: f64 = 20_000.0;

impl Norms {
    pub fn rate(&self, platform: &str) -> f64 {
        self.by_platform
            .get(platform)
            .copied()
            .unwrap_or(DEFAULT_NORM)
    }
}

/// Learns each platform's norm from (platform, interactions, views) totals.
pub fn engagement_norms<'a>(totals: impl IntoIterator<Item = (&'a str, f64, f64)>) -> Norms {
    let mut sums: HashMap<&str, (f64, f64)> = HashMap::new();
    for (platform, interactions, views) in totals {
        let s = sums.entry(platform).or_default();
        s.0 += interactions;
        s.1 += views;
    }
    Norms {
        by_platform: sums
            .into_iter()
            .filter(|(_, (i, v))| *v >= NORM_MIN_VIEWS && *i > 0.0)
            .map(|(p, (i, v))| (p.to_owned(), i / v))
            .collect(),
    }
}

fn sum(x: &[f64], from: usize, to: usize) -> f64 {
    x[from..=to].iter().sum()
}

/// Sum of `x` over the `k` days ending at `t` (fewer at the start).
fn trailing(x: &[f64], t: usize, k: usize) -> f64 {
    sum(x, (t + 1).saturating_sub(k), t)
}

fn pct_change(now: f64, before: f64) -> Option<f64> {
    if before > 0.0 {
        Some(round1(100.0 * (now / before - 1.0)))
    } else if now > 0.0 {
        None
    } else {
        Some(0.0)
    }
}

fn round1(x: f64) -> f64 {
    round(x * 10.0) / 10.0
}

/// `f64::round` (half away from zero) without its library call: baseline
/// x86-64 has no rounding instruction, and a report rounds a thousand values.
/// Truncating through an integer is exact below 2^52, and so is `a - t`.
fn round(y: f64) -> f64 {
    let a = y.abs();
    if a < 4_503_599_627_370_496.0 {
        let t = a as i64 as f64;
        let r = if a - t >= 0.5 { t + 1.0 } else { t };
        r.copysign(y)
    } else {
        y.round()
    }
}

/// `1 day`, `3 days`: a count with its noun, as reasons, emails and the
/// command line say it.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The score's components, in the order they are shown and stored.
pub const COMPONENTS: [&str; 7] = [
    "momentum",
    "acceleration",
    "volume",
    "breadth",
    "novelty",
    "engagement",
    "saturation",
];
/// The most each component can add (for saturation, the most it can take away).
const MAX_POINTS: [f64; 7] = [35.0, 15.0, 10.0, 20.0, 10.0, 10.0, -15.0];

/// What the components of every day share, computed once per report in one
/// pass over the window rather than again for each day of the history.
struct Days {
    /// Distinct authors over the 7 days ending on each day.
    authors_7d: Vec<usize>,
    /// Platforms with attention in the 7 days ending on each day.
    platforms_7d: Vec<usize>,
    /// Countries with attention in the 7 days ending on each day.
    countries_7d: Vec<usize>,
    /// The first day with attention.
    first: Option<usize>,
    /// Advertisers first seen up to each day (summed in day order).
    advertisers: Vec<f64>,
    /// Sums over the 7 or 14 days ending on each day: engagement units,
    /// mentions, and (14 days) interactions and views of content reporting
    /// views, with the interactions the platforms' norms would expect of them.
    units_7: Vec<f64>,
    units_14: Vec<f64>,
    mentions_7: Vec<f64>,
    mentions_14: Vec<f64>,
    interactions_14: Vec<f64>,
    views_14: Vec<f64>,
    expected_14: Vec<f64>,
}

/// Adds 1 to `counts[t]` for each day `t` on which `x` was positive at least
/// once in the 7 days ending on `t`. Attention is never negative, so this is
/// "the 7-day sum is positive" without summing.
fn count_active_weeks(x: &[f64], counts: &mut [usize]) {
    let mut last_positive = None;
    for (t, (v, count)) in x.iter().zip(counts.iter_mut()).enumerate() {
        if *v > 0.0 {
            last_positive = Some(t);
        }
        if last_positive.is_some_and(|p| p + 7 > t) {
            *count += 1;
        }
    }
}

impl Days {
    fn new(d: &ProductDays, norms: &Norms) -> Self {
        let n = d.days();
        // Authors are small integers, counted over a sliding week.
        let ids = d
            .authors
            .iter()
            .flatten()
            .max()
            .map_or(0, |m| *m as usize + 1);
        let mut seen = vec![0u32; ids];
        let mut distinct = 0;
        let mut authors_7d = Vec::with_capacity(n);
        for t in 0..n {
            for &a in &d.authors[t] {
                distinct += usize::from(seen[a as usize] == 0);
                seen[a as usize] += 1;
            }
            if t >= 7 {
                for &a in &d.authors[t - 7] {
                    seen[a as usize] -= 1;
                    distinct -= usize::from(seen[a as usize] == 0);
                }
            }
            authors_7d.push(distinct);
        }
        let mut platforms_7d = vec![0; n];
        for p in d.by_platform.values() {
            count_active_weeks(&p.units, &mut platforms_7d);
        }
        let mut countries_7d = vec![0; n];
        for c in d.by_country.values() {
            count_active_weeks(c, &mut countries_7d);
        }
        let mut advertisers = Vec::with_capacity(n);
        let mut sum = 0.0;
        for v in &d.new_advertisers[..n] {
            sum += v;
            advertisers.push(sum);
        }
        let mut expected = vec![0.0; n];
        for (platform, p) in &d.by_platform {
            let rate = norms.rate(platform);
            for (e, v) in expected.iter_mut().zip(&p.views) {
                *e += v * rate;
            }
        }
        Days {
            authors_7d,
            platforms_7d,
            countries_7d,
            first: d.total.units.iter().position(|v| *v > 0.0),
            advertisers,
            units_7: window_sums(&d.total.units, 7),
            units_14: window_sums(&d.total.units, 14),
            mentions_7: window_sums(&d.mentions, 7),
            mentions_14: window_sums(&d.mentions, 14),
            interactions_14: window_sums(&d.total.interactions, 14),
            views_14: window_sums(&d.total.views, 14),
            expected_14: window_sums(&expected, 14),
        }
    }
}

/// What the components measured on one day, before it is turned into points
/// (every day of the history) or into words (today only).
struct Measures {
    ratio: f64,
    growth: f64,
    week: f64,
    authors: usize,
    platforms: usize,
    countries: usize,
    /// Days since the first attention, if any was seen by then.
    age: Option<usize>,
    /// Interactions and views over 14 days, the platforms' norm, and whether
    /// there was any attention at all in those 14 days.
    interactions: f64,
    views: f64,
    norm: f64,
    active: bool,
    advertisers: f64,
}

/// Remembers the last input and output of a costly function of a slowly
/// changing value (counts that stay the same for days), so each day of the
/// history does not pay for the same `exp` again.
struct Memo(f64, f64);

impl Memo {
    fn new() -> Self {
        Memo(f64::NAN, f64::NAN)
    }

    fn get(&mut self, x: f64, f: impl Fn(f64) -> f64) -> f64 {
        if x.to_bits() != self.0.to_bits() {
            *self = Memo(x, f(x));
        }
        self.1
    }
}

/// The memos of [`components`], kept from one day to the next.
struct Memos {
    authors: Memo,
    countries: Memo,
    evidence: Memo,
    saturation: Memo,
}

impl Memos {
    fn new() -> Self {
        Memos {
            authors: Memo::new(),
            countries: Memo::new(),
            evidence: Memo::new(),
            saturation: Memo::new(),
        }
    }
}

/// The points of each component of the score at day `t` (in [`COMPONENTS`]
/// order), with what they measured.
fn components(shared: &Days, det: &Day, t: usize, memos: &mut Memos) -> ([f64; 7], Measures) {
    let week = shared.units_7[t] / 7.0;

    // Momentum and acceleration follow mentions, like the stage: one big
    // creator's post is a spike of engagement, not a crowd picking a product up.
    let momentum = 0.35 * det.score;
    let m_week = shared.mentions_7[t] / 7.0;
    let m_before = if t >= 7 {
        shared.mentions_7[t - 7] / 7.0
    } else {
        0.0
    };
    let growth = (m_week + PRODUCT_RULE.floor) / (m_before + PRODUCT_RULE.floor);
    // No growth is no acceleration, without a logarithm (most days).
    let acceleration = if growth <= 1.0 {
        0.0
    } else {
        15.0 * (growth.log2() / 2.0).clamp(0.0, 1.0)
    };
    let volume = 10.0 * ((1.0 + week / FLOOR).log10() / 3.0).clamp(0.0, 1.0);

    let authors = shared.authors_7d[t];
    let platforms = shared.platforms_7d[t];
    let countries = shared.countries_7d[t];
    let breadth = 10.0
        * memos
            .authors
            .get(authors as f64, |a| 1.0 - (-a / 8.0).exp())
        + 5.0 * (platforms.saturating_sub(1) as f64 / 3.0).min(1.0)
        + 5.0
            * memos
                .countries
                .get(countries as f64, |c| 1.0 - (-c / 4.0).exp());

    // Novelty and engagement rate say something only with enough posts
    // behind them: both are scaled by how much was seen in 14 days.
    let evidence = memos
        .evidence
        .get(shared.mentions_14[t], |m| 1.0 - (-m / 10.0).exp());
    let age = shared.first.filter(|f| *f <= t).map(|f| t - f);
    let novelty = age.map_or(0.0, |age| {
        10.0 * (1.0 - (age as f64 - 14.0).max(0.0) / 46.0).clamp(0.0, 1.0)
    });

    let (interactions, views) = (shared.interactions_14[t], shared.views_14[t]);
    let norm = if views > 0.0 {
        shared.expected_14[t] / views
    } else {
        DEFAULT_NORM
    };
    let shrunk = (interactions + norm * RATE_PRIOR_VIEWS) / (norm * (views + RATE_PRIOR_VIEWS));
    let active = shared.units_14[t] > 0.0;
    let engagement = if active {
        10.0 * evidence * ((shrunk.log2() + 1.0) / 2.0).clamp(0.0, 1.0)
    } else {
        0.0
    };

    let advertisers = shared.advertisers[t];
    let saturation = -15.0
        * memos
            .saturation
            .get(advertisers, |a| 1.0 - (-a / 15.0).exp());

    let points = [
        momentum,
        acceleration,
        volume,
        breadth,
        evidence * novelty,
        engagement,
        saturation,
    ]
    .map(round1);
    let measures = Measures {
        ratio: det.ratio,
        growth,
        week,
        authors,
        platforms,
        countries,
        age,
        interactions,
        views,
        norm,
        active,
        advertisers,
    };
    (points, measures)
}

/// Today's components in full: points with what each measured, in words.
fn explain(points: &[f64; 7], m: &Measures, t: usize, first: Option<usize>) -> Vec<Component> {
    let ratio = if m.ratio.is_finite() { m.ratio } else { 0.0 };
    let novelty = match (m.age, first) {
        (Some(_), Some(0)) => format!("seen for more than {t} days"),
        (Some(age), _) => format!("first seen {}", plural(age, "day ago", "days ago")),
        (None, _) => "not seen yet".to_owned(),
    };
    let engagement = if !m.active {
        "no activity in the last 14 days".to_owned()
    } else if m.views > 0.0 {
        format!(
            "{:.2}% of views interact over 14 days, {:.1}x the platforms' norm of {:.2}%",
            100.0 * m.interactions / m.views,
            m.interactions / m.views / m.norm,
            100.0 * m.norm
        )
    } else {
        "no view counts reported: taken as the norm".to_owned()
    };
    let details = [
        format!("new posts over the last 3 days at {ratio:.1}x their usual rate"),
        format!("new posts this week at {:.1}x the week before", m.growth),
        format!("{:.0} engagement units a day this week", m.week),
        format!(
            "{}, {} and {} this week",
            plural(m.authors, "creator", "creators"),
            plural(m.platforms, "platform", "platforms"),
            plural(m.countries, "country", "countries")
        ),
        novelty,
        engagement,
        format!(
            "{} advertising it",
            plural(m.advertisers as usize, "advertiser", "advertisers")
        ),
    ];
    COMPONENTS
        .iter()
        .zip(MAX_POINTS)
        .zip(points)
        .zip(details)
        .map(|(((name, max), points), detail)| Component {
            name,
            points: *points,
            max,
            detail,
        })
        .collect()
}

/// The score: the sum of the components' points, within 0 and 100.
fn total(points: &[f64; 7]) -> f64 {
    round1(points.iter().sum::<f64>().clamp(0.0, 100.0))
}
/// Why a product is at its stage, in words a seller understands.
/// Why a day has its stage, in words, quoting the figures the stage was
/// decided on: new posts (mentions), as [`detect_with_lane`] judges them.
/// `drop_from_high_pct` is the week's new posts under their 30-day high.
pub fn reason(det: &Day, drop_from_high_pct: f64, quiet_days: usize) -> String {
    let times = |x: f64| {
        if x.is_finite() {
            format!("{x:.1}x")
        } else {
            "far above".to_owned()
        }
    };
    let r = times(det.ratio);
    let growth = if det.growth.is_finite() {
        format!("{:.1}x the week before", det.growth)
    } else {
        "up from none the week before".to_owned()
    };
    let rule = PRODUCT_RULE;
    match det.stage {
        Stage::Emerging if det.by_lane => format!(
            "Flagged early: new posts about it run at {r} their usual rate over the last 3 days. \
             It was flagged when a week's new posts reached at least {}x their usual rate while \
             posts from outside its home region reached {}x theirs: talk spreading to new \
             places, as it does for products that go viral, rather than one busy week at home.",
            SPREAD.mentions, SPREAD.elsewhere
        ),
        Stage::Emerging => format!(
            "Flagged early: new posts about it run at {r} their usual rate over the last 3 days. \
             It was flagged when {} days in a row averaged at least {}x the usual rate, the last {} \
             each at or above it: a sustained rise rather than one lucky day.",
            rule.entry_days, rule.enter, rule.sustain_days
        ),
        Stage::Exploding if det.by_lane => format!(
            "Flagged and accelerating: new posts about it run at {r} their usual rate, and this \
             week's are {growth}. It was flagged as its posts spread beyond its home region."
        ),
        Stage::Exploding => format!(
            "Flagged and accelerating: new posts about it run at {r} their usual rate, and this \
             week's are {growth}."
        ),
        Stage::Rising => format!(
            "Growing: new posts about it this week are {growth}, but not yet far enough above \
             their usual rate for a flag."
        ),
        Stage::Peaking => format!(
            "At its high: new posts run at {:.1}x their usual rate and have stopped growing.",
            det.week_ratio
        ),
        Stage::Saturated => format!(
            "Plateau: new posts hold at {:.1}x their usual rate without growing; late entrants \
             compete with everyone already selling it.",
            det.week_ratio
        ),
        Stage::Declining => format!(
            "Cooling: new posts about it this week are {drop_from_high_pct:.0}% below their high \
             of the last 30 days."
        ),
        Stage::Dormant if quiet_days >= 7 => format!(
            "Quiet: no attention seen in the last {}.",
            plural(quiet_days, "day", "days")
        ),
        Stage::Dormant => "Quiet: new posts about it are near their usual rate.".to_owned(),
    }
}

fn places(mut by: BTreeMap<String, f64>) -> Vec<PlaceInterest> {
    by.retain(|_, a| *a > 0.0);
    let top = by.values().copied().fold(0.0, f64::max);
    let mut out: Vec<PlaceInterest> = by
        .into_iter()
        .map(|(place, attention)| PlaceInterest {
            place,
            attention: round1(attention),
            interest: (100.0 * attention / top).round() as i64,
        })
        .collect();
    out.sort_by(|a, b| {
        b.attention
            .total_cmp(&a.attention)
            .then(a.place.cmp(&b.place))
    });
    out
}

/// Each day's detection for a product: what its stage and flags follow.
pub fn product_detection(d: &ProductDays) -> Vec<Day> {
    detect_with_lane(&d.mentions, &PRODUCT_RULE, &spread_lane(d))
}

/// The report for the last day of `d`.
pub fn evaluate(d: &ProductDays, norms: &Norms) -> TrendReport {
    let n = d.days();
    assert!(n > 0, "a report needs at least one day");
    let x = &d.total.units;
    let detected = product_detection(d);
    let t = n - 1;
    let history_from = n.saturating_sub(HISTORY_DAYS);
    let shared = Days::new(d, norms);
    let mut memos = Memos::new();
    let mut history: Vec<TrendDay> = Vec::with_capacity(n - history_from);
    let mut measures = None;
    for (i, det) in detected.iter().enumerate().skip(history_from) {
        let (points, m) = components(&shared, det, i, &mut memos);
        history.push(TrendDay {
            day: d.start + i as i64,
            attention: round1(x[i]),
            score: total(&points),
            stage: det.stage,
            points,
        });
        measures = Some(m);
    }
    let today = history.last().expect("at least one day");

    let week = trailing(x, t, 7);
    let before = if t >= 7 { trailing(x, t - 7, 7) } else { 0.0 };
    // The stage follows new posts, so its reason quotes them.
    let posts_week = |i: usize| trailing(&d.mentions, i, 7);
    let high = (t.saturating_sub(29)..=t)
        .map(posts_week)
        .fold(0.0, f64::max);
    let drop = if high > 0.0 {
        100.0 * (1.0 - posts_week(t) / high)
    } else {
        0.0
    };
    let quiet = x.iter().rev().take_while(|v| **v == 0.0).count();

    let platforms = {
        let mut out: Vec<PlatformShare> = d
            .by_platform
            .iter()
            .map(|(platform, p)| {
                let now = trailing(&p.units, t, 7);
                let prev = if t >= 7 {
                    trailing(&p.units, t - 7, 7)
                } else {
                    0.0
                };
                PlatformShare {
                    platform: platform.clone(),
                    attention_7d: round1(now),
                    share: if week > 0.0 {
                        round1(100.0 * now / week)
                    } else {
                        0.0
                    },
                    change_pct: pct_change(now, prev),
                }
            })
            .filter(|p| p.attention_7d > 0.0 || p.change_pct != Some(0.0))
            .collect();
        out.sort_by(|a, b| {
            b.attention_7d
                .total_cmp(&a.attention_7d)
                .then(a.platform.cmp(&b.platform))
        });
        out
    };

    let mut by_country = BTreeMap::new();
    let mut by_region: BTreeMap<String, f64> = BTreeMap::new();
    for (country, v) in &d.by_country {
        let a = trailing(v, t, PLACE_DAYS);
        by_country.insert(country.clone(), a);
        if let Some(region) = region_of(country) {
            *by_region.entry(region.to_owned()).or_default() += a;
        }
    }

    TrendReport {
        day: d.start + t as i64,
        score: today.score,
        components: explain(
            &today.points,
            &measures.expect("today was measured"),
            t,
            shared.first,
        ),
        stage: detected[t].stage,
        reason: reason(&detected[t], drop, quiet),
        change_7d_pct: pct_change(week, before),
        attention_7d: round1(week),
        history,
        platforms,
        countries: places(by_country),
        regions: places(by_region),
        // From the product's first activity on: the zeros before it was seen
        // say nothing about how its attention varies.
        forecast: x
            .iter()
            .position(|v| *v > 0.0)
            .and_then(|first| forecast(&x[first..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::attention::{ContentHistory, DAY_MS, Metrics, Snapshot, product_days};

    const LAST: i64 = 20_000;

    /// `per_day(d)` posts by distinct authors on each day `d` (0 = first of the window),
    /// each with `likes` likes, on the given platforms and countries in turn.
    fn posts(
        per_day: impl Fn(usize) -> usize,
        likes: i64,
        platforms: &'static [&'static str],
        countries: &'static [&'static str],
    ) -> Vec<ContentHistory<'static>> {
        let start = LAST - WINDOW_DAYS as i64 + 1;
        let mut out = Vec::new();
        for d in 0..WINDOW_DAYS {
            for k in 0..per_day(d) {
                let n = out.len();
                out.push(ContentHistory {
                    platform: platforms[n % platforms.len()],
                    kind: "video",
                    author: Some(Box::leak(format!("author{}", n % 50).into_boxed_str())),
                    country: Some(countries[n % countries.len()]),
                    published_at_ms: None,
                    snapshots: vec![Snapshot {
                        at_ms: (start + d as i64) * DAY_MS + k as i64,
                        metrics: Metrics {
                            likes: Some(likes),
                            ..Metrics::default()
                        },
                    }],
                });
            }
        }
        out
    }

    fn report(contents: &[ContentHistory<'_>]) -> TrendReport {
        evaluate(
            &product_days(contents, LAST, WINDOW_DAYS),
            &Norms::default(),
        )
    }

    #[test]
    fn a_product_taking_off_scores_high_and_is_flagged_with_its_reason() {
        let c = posts(
            |d| if d < 135 { 2 } else { 2 + 3 * (d - 134) },
            30,
            &["tiktok", "instagram", "youtube"],
            &["US", "GB", "DE", "BR"],
        );
        let r = report(&c);
        assert!(r.stage.is_flag(), "{:?}: {}", r.stage, r.reason);
        assert!(r.score >= 60.0, "{r:#?}");
        assert!(r.reason.contains("usual rate"), "{}", r.reason);
        let names: Vec<_> = r.components.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "momentum",
                "acceleration",
                "volume",
                "breadth",
                "novelty",
                "engagement",
                "saturation"
            ]
        );
    }

    #[test]
    fn the_reason_quotes_the_new_posts_the_stage_was_decided_on() {
        // Posts up 40% this week while each gets a third of the likes: the
        // stage follows the posts, and so must the figure its reason gives.
        let mut c = posts(|d| if d < 143 { 10 } else { 0 }, 90, &["tiktok"], &["US"]);
        c.extend(posts(
            |d| if d >= 143 { 14 } else { 0 },
            30,
            &["tiktok"],
            &["US"],
        ));
        let r = report(&c);
        assert_eq!(r.stage, Stage::Rising, "{}", r.reason);
        assert!(r.change_7d_pct.unwrap() < -50.0, "{r:#?}");
        assert!(
            r.reason
                .contains("new posts about it this week are 1.4x the week before"),
            "{}",
            r.reason
        );
        assert!(!r.reason.contains("engagement"), "{}", r.reason);
    }

    #[test]
    fn a_handful_of_posts_on_a_silent_product_is_not_exploding() {
        // Nothing the week before is no ground for "doubled in a week".
        let r = report(&posts(
            |d| if d == 149 { 6 } else { 0 },
            30,
            &["tiktok"],
            &["US"],
        ));
        assert_ne!(r.stage, Stage::Exploding, "{}", r.reason);
    }

    #[test]
    fn a_few_mentions_after_silence_are_not_a_trend() {
        let c = posts(|d| usize::from(d >= 145), 0, &["tiktok"], &["US"]);
        let r = report(&c);
        assert!(!r.stage.is_flag(), "{:?}: {}", r.stage, r.reason);
        assert!(r.score < 30.0, "{r:#?}");
    }

    #[test]
    fn a_steady_product_is_not_flagged_and_scores_below_a_rising_one() {
        let steady = report(&posts(|_| 10, 30, &["tiktok"], &["US"]));
        let rising = report(&posts(
            |d| if d < 130 { 10 } else { 10 + 2 * (d - 129) },
            30,
            &["tiktok"],
            &["US"],
        ));
        assert!(!steady.stage.is_flag());
        assert!(
            rising.score > steady.score + 20.0,
            "{} vs {}",
            rising.score,
            steady.score
        );
    }

    #[test]
    fn the_score_is_the_sum_of_its_components_within_0_and_100() {
        for per_day in [0usize, 1, 50, 5_000] {
            let r = report(&posts(
                |d| per_day * d / 100,
                1_000,
                &["x", "reddit"],
                &["FR"],
            ));
            let sum: f64 = r.components.iter().map(|c| c.points).sum();
            assert!((0.0..=100.0).contains(&r.score), "{r:#?}");
            assert!((sum.clamp(0.0, 100.0) - r.score).abs() < 0.5, "{r:#?}");
            assert_eq!(r.history.len(), HISTORY_DAYS);
            for day in &r.history {
                assert!((0.0..=100.0).contains(&day.score));
            }
        }
    }

    #[test]
    fn interest_is_relative_to_the_hottest_place() {
        let r = report(&posts(|_| 4, 10, &["tiktok"], &["US", "US", "US", "FR"]));
        assert_eq!(r.countries[0].place, "US");
        assert_eq!(r.countries[0].interest, 100);
        assert_eq!(r.countries[1].interest, 33);
        assert_eq!(r.regions[0].place, "North America");
        assert_eq!(r.regions[1].place, "Europe");
    }

    proptest::proptest! {
        #[test]
        fn rounding_is_the_standard_library_s(y in proptest::num::f64::ANY) {
            proptest::prop_assert_eq!(round(y).to_bits(), y.round().to_bits());
        }

        #[test]
        fn rounding_small_values_is_the_standard_library_s(y in -1e6f64..1e6) {
            proptest::prop_assert_eq!(round(y).to_bits(), y.round().to_bits());
        }
    }

    #[test]
    fn past_days_do_not_change_when_later_data_arrives() {
        let c = posts(|d| 1 + d / 10, 5, &["tiktok", "x"], &["US", "JP"]);
        let full = evaluate(&product_days(&c, LAST, WINDOW_DAYS), &Norms::default());
        let earlier = evaluate(
            &product_days(&c, LAST - 10, WINDOW_DAYS - 10),
            &Norms::default(),
        );
        let same_day = full
            .history
            .iter()
            .find(|d| d.day == earlier.day)
            .expect("the earlier day is in the history");
        assert_eq!(same_day.score, earlier.score);
        assert_eq!(same_day.stage, earlier.stage);
    }

    /// A product's days from its new posts per day and region alone (all
    /// that its detection reads).
    fn by_region(rows: &[[f64; REGION_COUNT]]) -> ProductDays {
        ProductDays {
            mentions: rows.iter().map(|r| r.iter().sum()).collect(),
            mentions_by_region: rows.to_vec(),
            ..ProductDays::default()
        }
    }

    fn flag_days(d: &ProductDays) -> Vec<usize> {
        product_detection(d)
            .iter()
            .enumerate()
            .filter(|(_, day)| day.stage.is_flag())
            .map(|(t, _)| t)
            .collect()
    }

    #[test]
    fn a_quiet_product_spreading_to_other_regions_is_flagged_by_the_spread_route() {
        // Half a post a day at home, then from day 100 a rise to about 1.5
        // posts a day, most of the new ones from other regions.
        let quiet = |t: usize| [f64::from(t.is_multiple_of(2)), 0.0, 0.0, 0.0, 0.0, 0.0];
        let mut home_only: Vec<[f64; REGION_COUNT]> = (0..120).map(quiet).collect();
        let mut spreading = home_only.clone();
        for t in 100..120 {
            home_only[t][0] += f64::from(!t.is_multiple_of(3));
            spreading[t][2 + t % 3] += f64::from(!t.is_multiple_of(3));
        }
        assert!(flag_days(&by_region(&home_only)).is_empty());
        let d = by_region(&spreading);
        let f = flag_days(&d);
        assert!(!f.is_empty(), "a spreading rise is flagged");
        let det = product_detection(&d)[f[0]];
        assert!(det.by_lane, "{det:?}");
        let why = reason(&det, 0.0, 0);
        assert!(why.contains("home region"), "{why}");
        let emerging = Day {
            stage: Stage::Emerging,
            ..det
        };
        let why = reason(&emerging, 0.0, 0);
        assert!(why.contains("outside its home region"), "{why}");
    }

    proptest::proptest! {
        #[test]
        fn the_spread_route_never_uses_a_later_day(
            rows in proptest::collection::vec(proptest::array::uniform6(0u8..4), 70..200),
            rise in 0usize..200,
            cut in 1usize..200,
        ) {
            // Posts in any region, more of them and in more regions from `rise` on.
            let rows: Vec<[f64; REGION_COUNT]> = rows
                .iter()
                .enumerate()
                .map(|(t, r)| r.map(|v| f64::from(v) * if t >= rise { 3.0 } else { 0.5 }))
                .collect();
            let cut = cut.min(rows.len());
            let full = product_detection(&by_region(&rows));
            proptest::prop_assert_eq!(product_detection(&by_region(&rows[..cut])), full[..cut].to_vec());
            let lane = spread_lane(&by_region(&rows));
            proptest::prop_assert_eq!(spread_lane(&by_region(&rows[..cut])), lane[..cut].to_vec());
        }

        #[test]
        fn a_steady_world_with_a_constant_spread_is_never_flagged(
            mix in proptest::array::uniform6(0u8..6),
            len in 70usize..300,
        ) {
            // The same posts from the same regions every day, however many and
            // however spread out.
            let row = mix.map(f64::from);
            proptest::prop_assert!(flag_days(&by_region(&vec![row; len])).is_empty());
            proptest::prop_assert!(spread_lane(&by_region(&vec![row; len])).iter().all(|l| !l));
        }

        #[test]
        fn the_spread_route_is_deterministic_and_shifts_with_the_series(
            rows in proptest::collection::vec(proptest::array::uniform6(0u8..4), 70..200),
            rise in 0usize..200,
            pad in 1usize..40,
        ) {
            let rows: Vec<[f64; REGION_COUNT]> = rows
                .iter()
                .enumerate()
                .map(|(t, r)| r.map(|v| f64::from(v) * if t >= rise { 3.0 } else { 0.5 }))
                .collect();
            let lane = spread_lane(&by_region(&rows));
            proptest::prop_assert_eq!(&lane, &spread_lane(&by_region(&rows)));
            let mut shifted = vec![rows[0]; pad];
            shifted.extend_from_slice(&rows);
            let moved = spread_lane(&by_region(&shifted));
            // Once both have a full usual-level window, the same days hold.
            let from = WARM_UP_DAYS + LAG + WIDTH;
            if rows.len() > from {
                proptest::prop_assert_eq!(&lane[from..], &moved[pad + from..]);
            }
        }
    }

    #[test]
    fn many_advertisers_weigh_on_the_score() {
        let mut c = posts(|_| 10, 30, &["tiktok"], &["US"]);
        let base = report(&c).score;
        for (i, content) in c.iter_mut().enumerate().take(60) {
            content.kind = "ad";
            content.author = Some(Box::leak(format!("shop{i}").into_boxed_str()));
        }
        let r = report(&c);
        let saturation = r
            .components
            .iter()
            .find(|c| c.name == "saturation")
            .unwrap();
        assert!(saturation.points < -10.0, "{saturation:?}");
        assert!(r.score < base, "{} vs {base}", r.score);
    }
}
