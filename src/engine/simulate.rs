//! Simulated observations: a reproducible world of products, creators and
//! platforms where a known share of products goes viral at known times and the
//! rest only wobble, so the whole chain (observations → matching → daily
//! attention → early detection) can be measured against a ground truth.
//!
//! Pure: no I/O and no clock. The first day is an argument, and every random
//! draw comes from a SplitMix64 generator written here, seeded from the seed
//! and the product's index, so the same arguments give the same bytes with
//! any version of any crate.
//!
//! What is modelled, per product:
//! - a baseline posting rate, heavy-tailed across products (a few posts a
//!   week to dozens a day), with a weekly rhythm, a slow drift, day-to-day
//!   noise (a lognormal multiplier on a Poisson count: negative-binomial-like)
//!   and, for some, a mild bump (at most 2x) that is not a trend;
//! - creators drawn from heavy-tailed pools (many small, a few big), and
//!   occasional one-off posts by a big creator on a quiet product;
//! - a home region and platform mix; viral products spread to other regions
//!   and platforms as they grow;
//! - for viral products: posting rises along a logistic curve over 10-30 days
//!   to 5x-50x the baseline, engagement per post rises 1.3x-2.5x with it, a
//!   short plateau, then a decay to a higher floor; ads arrive late, from more
//!   and more advertisers;
//! - every content is sighted several times (the day it is published, then
//!   after about 1, 2, 4, 7, 14 and 30 days, each sighting not always made),
//!   with cumulative metrics growing fast then saturating;
//! - posts that name a product together with one of its negative keywords,
//!   and posts about nothing tracked.
//!
//! The truth of a viral product is its expected attention curve (posting
//! multiplier x engagement multiplier, spread over the days the engagement
//! happens), with the half-peak level defined as the event yardstick does:
//! baseline + (peak - baseline) / 2.

use std::collections::HashSet;

use super::attention::{
    ContentHistory, DAY_MS, Metrics, ProductDays, Snapshot, day_of, product_days,
};
use super::matching::{Matcher, ProductTerms, normalize};
use super::observation::{Bounds, Observation};

pub const MAX_PRODUCTS: usize = 100_000;
pub const MIN_DAYS: usize = 90;
pub const MAX_DAYS: usize = 1095;
/// A viral rise starts at least this many days after the first day, so the
/// detector (67 days of warm-up) has seen the product's usual level.
pub const ONSET_AFTER: usize = 80;
/// The default share of products that go viral.
pub const VIRAL_SHARE: f64 = 0.15;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Params {
    pub products: usize,
    pub days: usize,
    pub seed: u64,
    /// Day number (days since 1970-01-01) of the first simulated day.
    pub first_day: i64,
    /// Share of products that go viral (0..=1).
    pub viral_share: f64,
}

impl Params {
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !(1..=MAX_PRODUCTS).contains(&self.products) {
            problems.push(format!(
                "products must be 1..={MAX_PRODUCTS} (got {})",
                self.products
            ));
        }
        if !(MIN_DAYS..=MAX_DAYS).contains(&self.days) {
            problems.push(format!(
                "days must be {MIN_DAYS}..={MAX_DAYS} (got {})",
                self.days
            ));
        }
        if !(0.0..=1.0).contains(&self.viral_share) {
            problems.push(format!(
                "the viral share must be between 0 and 1 (got {})",
                self.viral_share
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// A simulated product, as a loader creates it, with its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub name: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub hashtags: Vec<String>,
    pub negative_keywords: Vec<String>,
    pub truth: Truth,
}

impl Product {
    /// The terms the server tracks the product by: name, keywords and hashtags.
    pub fn terms(&self, product_id: i64) -> ProductTerms {
        let mut terms = vec![self.name.clone()];
        terms.extend(self.keywords.iter().cloned());
        terms.extend(self.hashtags.iter().cloned());
        ProductTerms {
            product_id,
            terms,
            negative: self.negative_keywords.clone(),
        }
    }
}

/// When the true attention of a viral product reached half its peak level, and its peak.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Truth {
    pub viral: bool,
    /// Day numbers (days since 1970-01-01).
    pub half_peak: Option<i64>,
    pub peak: Option<i64>,
    /// The peak of the true attention curve, as a multiple of the baseline.
    pub peak_multiple: Option<f64>,
}

#[derive(Debug, Clone)]
struct Content {
    platform: &'static str,
    kind: &'static str,
    platform_id: String,
    url: String,
    author: String,
    text: String,
    hashtags: Vec<String>,
    country: &'static str,
    language: &'static str,
    published_ms: i64,
    /// Index of the first of its sightings in `Simulation::sightings`.
    first: u32,
    count: u16,
}

#[derive(Debug, Clone, Copy)]
struct Sighting {
    at_ms: i64,
    content: u32,
    views: Option<i64>,
    likes: Option<i64>,
    comments: Option<i64>,
    shares: Option<i64>,
    /// Indexes into the impression and spend buckets, for ads.
    impressions: Option<u8>,
    spend: Option<(i64, Option<i64>)>,
}

/// A generated world: products with their truth, and every sighting of every content.
pub struct Simulation {
    pub params: Params,
    pub products: Vec<Product>,
    contents: Vec<Content>,
    /// Grouped by content, each content's sightings in time order.
    sightings: Vec<Sighting>,
    /// Indexes of `sightings` in (observed_at, content) order.
    order: Vec<u32>,
    ads: usize,
    unrelated: usize,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub products: usize,
    pub viral: usize,
    pub contents: usize,
    pub ads: usize,
    pub unrelated: usize,
    pub observations: usize,
}

// ------------------------------------------------------------------ randomness

/// SplitMix64: tiny, fast, and fixed here forever, so outputs never change.
#[derive(Debug, Clone)]
struct Rng(u64);

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        Rng(mix(seed ^ mix(stream.wrapping_add(0x632B_E59B_D9B4_E019))))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn below(&mut self, n: usize) -> usize {
        ((self.next() as u128 * n as u128) >> 64) as usize
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Log-uniform in [lo, hi].
    fn log_range(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.unit()).exp()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// exp(N(mu, sigma)).
    fn lognormal(&mut self, mu: f64, sigma: f64) -> f64 {
        (mu + sigma * self.normal()).exp()
    }

    /// Poisson: exact below 30, normal approximation above.
    fn poisson(&mut self, lambda: f64) -> u32 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda < 30.0 {
            let limit = (-lambda).exp();
            let mut k = 0;
            let mut p = self.unit();
            while p > limit {
                k += 1;
                p *= self.unit();
            }
            k
        } else {
            (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u32
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut r = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if r < *w {
                return i;
            }
            r -= w;
        }
        weights.len() - 1
    }
}

// ------------------------------------------------------------------ vocabulary

/// Modifiers that fit any product. No word here appears in a base name, so a
/// product's name is found only where its own modifier precedes its own base.
const MODIFIERS: &[&str] = &[
    "magnetic",
    "portable",
    "wireless",
    "foldable",
    "rechargeable",
    "ergonomic",
    "smart",
    "mini",
    "cordless",
    "adjustable",
    "waterproof",
    "collapsible",
    "self cleaning",
    "LED",
    "bamboo",
    "silicone",
    "stainless",
    "solar",
    "USB",
    "aesthetic",
    "retro",
    "cloud",
    "jumbo",
    "compact",
    "ultrasonic",
    "handheld",
    "electric",
    "reusable",
    "leakproof",
    "motion activated",
    "galaxy",
    "crystal",
    "marble",
    "velvet",
    "ceramic",
    "acrylic",
    "infrared",
    "digital",
    "modular",
    "transparent",
    "pastel",
    "matte",
    "touchless",
    "automatic",
    "hands free",
    "rotating",
    "vintage",
    "neon",
    "premium",
    "heavy duty",
];

/// Product kinds, with what they are for (used in descriptions).
const BASES: &[(&str, &str)] = &[
    ("phone mount", "the car"),
    ("strip lights", "bedrooms and gaming setups"),
    ("posture corrector", "long days at a desk"),
    ("water bottle", "the gym and the office"),
    ("neck fan", "hot commutes"),
    ("lunch box", "school and work"),
    ("makeup brush set", "everyday makeup"),
    ("hair straightener", "hair styling"),
    ("face roller", "skincare routines"),
    ("pet hair remover", "homes with pets"),
    ("dog bed", "dogs of every size"),
    ("cat tree", "indoor cats"),
    ("yoga mat", "home workouts"),
    ("resistance bands", "strength training"),
    ("massage gun", "muscle recovery"),
    ("desk organizer", "tidy desks"),
    ("laptop stand", "working from home"),
    ("earbuds", "music on the go"),
    ("power bank", "charging on the go"),
    ("charging station", "households full of devices"),
    ("projector", "movie nights"),
    ("humidifier", "dry winter air"),
    ("air fryer", "quick dinners"),
    ("blender bottle", "protein shakes"),
    ("milk frother", "coffee at home"),
    ("spice rack", "small kitchens"),
    ("cutting board", "meal prep"),
    ("knife sharpener", "home cooks"),
    ("ice roller", "morning puffiness"),
    ("nail lamp", "gel manicures at home"),
    ("lash curler", "lash lovers"),
    ("scalp massager", "hair care"),
    ("shower head", "better showers"),
    ("car vacuum", "clean car interiors"),
    ("seat cushion", "long drives and office chairs"),
    ("steering wheel cover", "drivers"),
    ("trunk organizer", "road trips"),
    ("dash cam", "safer driving"),
    ("tire inflator", "roadside emergencies"),
    ("plant stand", "indoor gardens"),
    ("grow light", "indoor plants"),
    ("herb garden", "fresh herbs on the windowsill"),
    ("bird feeder", "backyard birdwatching"),
    ("hammock", "lazy afternoons"),
    ("camping lantern", "camping trips"),
    ("fire pit", "backyard evenings"),
    ("cooler bag", "picnics"),
    ("beach towel", "summer days"),
    ("hiking backpack", "day hikes"),
    ("baby monitor", "new parents"),
    ("teething toy", "teething babies"),
    ("sound machine", "better sleep"),
    ("night light", "kids' rooms"),
    ("phone case", "phone protection"),
    ("ring light", "content creators"),
    ("tripod", "creators and travellers"),
    ("keyboard", "typing all day"),
    ("mouse pad", "desk setups"),
    ("webcam", "video calls"),
    ("watch band", "smartwatch owners"),
    ("wall clock", "home decor"),
    ("picture frame", "family photos"),
    ("throw blanket", "cosy evenings"),
    ("body pillow", "side sleepers"),
    ("shower curtain", "bathroom makeovers"),
    ("bath mat", "bathrooms"),
    ("storage bins", "closet organisation"),
    ("shoe rack", "entryways"),
    ("vanity mirror", "makeup routines"),
    ("candle warmer", "flameless fragrance"),
    ("oil diffuser", "aromatherapy"),
    ("jump rope", "cardio at home"),
    ("ab roller", "core workouts"),
    ("foam roller", "stretching"),
    ("dumbbells", "home gyms"),
    ("gym bag", "gym days"),
    ("knee sleeve", "runners and lifters"),
    ("ankle weights", "toning workouts"),
    ("pull up bar", "doorway workouts"),
    ("pill organizer", "daily vitamins"),
    ("heating pad", "cramps and sore backs"),
    ("sleep mask", "light sleepers"),
    ("sleep headphones", "falling asleep to podcasts"),
    ("teeth whitening kit", "brighter smiles"),
    ("toothbrush", "oral care"),
    ("coffee grinder", "coffee lovers"),
    ("pour over kettle", "slow coffee"),
    ("drinks fridge", "bedrooms and dorms"),
    ("ice maker", "summer drinks"),
    ("waffle maker", "weekend breakfasts"),
    ("rice cooker", "easy meals"),
    ("salad spinner", "fresh salads"),
    ("food containers", "meal prep"),
    ("garlic press", "home cooks"),
    ("vegetable chopper", "fast meal prep"),
    ("oil sprayer", "air fryer cooking"),
    ("label maker", "organised pantries"),
    ("bike light", "night cycling"),
    ("pool float", "pool parties"),
    ("sunglasses", "sunny days"),
];

const SYLLABLES: &[&str] = &[
    "lu", "mo", "ra", "zen", "ko", "vi", "ta", "ny", "qui", "ix", "el", "sa", "po", "ri", "da",
    "no", "ve", "ka", "lo", "bri", "fa", "go", "hu", "ja", "mi", "ne", "ol", "pe", "su", "tor",
];

const NEGATIVES: &[&str] = &["recall", "lawsuit", "knockoff", "scam", "counterfeit"];

const OPENERS: &[&str] = &[
    "obsessed with my new",
    "just got the",
    "honest review of the",
    "is the",
    "unboxing my",
    "day 30 with the",
    "why is everyone buying this",
    "found the best",
    "my mom loves her",
    "3 ways to use a",
    "I tested the",
    "you need this",
    "POV: you finally bought the",
    "cheapest",
    "rating every",
    "trying the viral",
    "packing my",
    "best budget",
];

const CLOSERS: &[&str] = &[
    "worth it?",
    "game changer",
    "link in bio",
    "10/10 would buy again",
    "not sponsored",
    "did not expect that",
    "thoughts?",
    "ok I get the hype now",
    "best purchase this year",
    "arrived in 3 days",
    "👀",
    "🔥🔥",
    "✨",
    "part 2 soon",
    "under $30",
];

const GENERIC_TAGS: &[&str] = &[
    "fyp",
    "foryou",
    "tiktokmademebuyit",
    "amazonfinds",
    "musthave",
    "homehacks",
    "gadgets",
    "review",
    "unboxing",
    "giftideas",
    "viral",
    "trending",
    "shopping",
    "lifehack",
    "cleantok",
    "fitnessgear",
    "beautytok",
    "momhack",
    "dealoftheday",
];

const UNRELATED: &[&str] = &[
    "morning routine",
    "what I eat in a day",
    "outfit check",
    "room tour",
    "study with me",
    "gym day 12",
    "trying a new recipe tonight",
    "weekend vlog",
    "cleaning motivation",
    "storytime: worst job interview ever",
    "sunset from my balcony",
    "my cat judging me again",
    "reacting to your comments",
    "get ready with me",
    "books I read this month",
    "quick pasta for one",
];

const AD_HOOKS: &[&str] = &[
    "Sale ends tonight:",
    "Back in stock!",
    "Limited drop:",
    "Everyone is talking about the",
    "Free shipping on the",
    "40% off the",
    "Upgrade to the",
    "As seen on TikTok:",
];

const AD_CTAS: &[&str] = &[
    "Shop now.",
    "Order today, ships in 24h.",
    "Only a few left!",
    "Tap to claim your discount.",
    "30-day money back guarantee.",
];

const ADVERTISER_SUFFIXES: &[&str] = &[
    "Store", "Shop", "Co", "Official", "Direct", "Goods", "Finds", "Market", "Home", "Lab",
];

const HANDLE_HEADS: &[&str] = &[
    "cozy", "daily", "real", "its", "tech", "home", "glow", "fit", "mama", "chef", "deal",
    "honest", "budget", "lazy", "tiny", "urban", "sunny", "happy", "nerdy", "minimal",
];

const HANDLE_TAILS: &[&str] = &[
    "finds", "hacks", "reviews", "life", "loves", "picks", "corner", "lab", "nest", "diaries",
    "world", "space",
];

const PLATFORMS: &[&str] = &["tiktok", "instagram", "youtube", "x", "reddit", "facebook"];
/// Typical share of posts per platform.
const PLATFORM_WEIGHTS: [f64; 6] = [0.34, 0.24, 0.12, 0.11, 0.08, 0.11];
/// Median views of a typical creator's post, per platform (reddit: upvote-equivalent reach).
const PLATFORM_REACH: [f64; 6] = [900.0, 500.0, 700.0, 300.0, 250.0, 300.0];
/// Likes per view, per platform.
const LIKE_RATE: [f64; 6] = [0.07, 0.05, 0.035, 0.02, 0.08, 0.03];
const SUBREDDITS: &[&str] = &[
    "BuyItForLife",
    "gadgets",
    "HomeImprovement",
    "SkincareAddiction",
    "fitness",
    "Cooking",
    "dogs",
    "camping",
    "malelivingspace",
    "Frugal",
];

const REGIONS: usize = 6;
/// Share of products whose home is each region: North America, South America, Europe, Asia, Africa, Oceania.
const REGION_WEIGHTS: [f64; REGIONS] = [0.36, 0.07, 0.26, 0.22, 0.03, 0.06];
/// (code, language, region, weight within the world).
const COUNTRIES: &[(&str, &str, usize, f64)] = &[
    ("US", "en", 0, 30.0),
    ("CA", "en", 0, 4.0),
    ("MX", "es", 0, 5.0),
    ("BR", "pt", 1, 7.0),
    ("AR", "es", 1, 2.0),
    ("CO", "es", 1, 1.5),
    ("GB", "en", 2, 7.0),
    ("DE", "de", 2, 5.0),
    ("FR", "fr", 2, 4.0),
    ("ES", "es", 2, 3.0),
    ("IT", "it", 2, 3.0),
    ("NL", "nl", 2, 1.5),
    ("SE", "sv", 2, 1.0),
    ("PL", "pl", 2, 1.5),
    ("IN", "en", 3, 6.0),
    ("JP", "ja", 3, 3.0),
    ("KR", "ko", 3, 2.0),
    ("ID", "id", 3, 3.0),
    ("PH", "en", 3, 2.5),
    ("AE", "ar", 3, 1.0),
    ("SA", "ar", 3, 1.0),
    ("AU", "en", 5, 2.5),
    ("NZ", "en", 5, 0.6),
    ("ZA", "en", 4, 1.0),
    ("NG", "en", 4, 1.2),
    ("EG", "ar", 4, 0.8),
];

const IMPRESSION_BUCKETS: &[i64] = &[
    0, 1_000, 5_000, 10_000, 50_000, 100_000, 200_000, 300_000, 400_000, 500_000, 1_000_000,
];

fn impression_bounds(bucket: u8) -> (i64, Option<i64>) {
    let i = bucket as usize;
    let upper = IMPRESSION_BUCKETS.get(i + 1).map(|u| u - 1);
    (IMPRESSION_BUCKETS[i], upper)
}

fn impression_bucket(n: f64) -> u8 {
    IMPRESSION_BUCKETS
        .iter()
        .rposition(|b| n >= *b as f64)
        .unwrap_or(0) as u8
}

fn spend_bounds(spend: f64) -> (i64, Option<i64>) {
    let step = if spend < 1_000.0 {
        100.0
    } else if spend < 5_000.0 {
        500.0
    } else if spend < 50_000.0 {
        5_000.0
    } else {
        return (50_000, None);
    };
    let lower = (spend / step).floor() * step;
    (lower as i64, Some((lower + step) as i64 - 1))
}

fn compact(term: &str) -> String {
    normalize(term)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

fn plural(term: &str) -> String {
    if term.ends_with('s') {
        term.to_owned()
    } else if term.ends_with("ch") || term.ends_with("sh") || term.ends_with('x') {
        format!("{term}es")
    } else {
        format!("{term}s")
    }
}

fn coined(rng: &mut Rng, syllables: usize) -> String {
    let mut word = String::new();
    for _ in 0..syllables {
        word.push_str(SYLLABLES[rng.below(SYLLABLES.len())]);
    }
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => word,
    }
}

// ------------------------------------------------------------------ the world

#[derive(Debug, Clone, Copy)]
struct Viral {
    /// Logistic centre and scale of the rise (days from the first day).
    centre: f64,
    scale: f64,
    top: f64,
    plateau: f64,
    /// Posting multiplier at the top, and engagement-per-post multiplier at the top.
    peak: f64,
    engage: f64,
    floor: f64,
    decay: f64,
    /// Ads: logistic centre of the advertisers' arrival, and new ads per day at saturation.
    ads_centre: f64,
    ads_max: f64,
}

impl Viral {
    /// Posting-rate multiplier on (fractional) day `t`.
    fn posting(&self, t: f64) -> f64 {
        let logistic = |t: f64| 1.0 / (1.0 + (-(t - self.centre) / self.scale).exp());
        if t <= self.top {
            1.0 + (self.peak - 1.0) * logistic(t) / logistic(self.top)
        } else if t <= self.top + self.plateau {
            self.peak
        } else {
            let since = t - self.top - self.plateau;
            self.floor + (self.peak - self.floor) * (-since / self.decay).exp()
        }
    }

    /// Engagement-per-post multiplier, growing with the posting multiplier.
    fn engagement(&self, posting: f64) -> f64 {
        1.0 + (self.engage - 1.0) * ((posting - 1.0) / (self.peak - 1.0)).clamp(0.0, 1.0)
    }

    /// How far along its rise the product is, 0..=1 (spread to other regions and platforms).
    fn spread(&self, posting: f64) -> f64 {
        ((posting - 1.0) / (self.peak - 1.0)).clamp(0.0, 1.0)
    }
}

/// A mild, non-viral bump (a season, a sale), at most 2x.
#[derive(Debug, Clone, Copy)]
struct Bump {
    centre: f64,
    width: f64,
    height: f64,
}

struct Plan {
    base_rate: f64,
    noise: f64,
    weekly: [f64; 7],
    drift: f64,
    bump: Option<Bump>,
    viral: Option<Viral>,
    home_region: usize,
    home_share: f64,
    platform_weights: [f64; 6],
    /// Posts per day by a big creator on this product (non-trend spikes).
    spike_rate: f64,
    base_ads: f64,
    /// Spelling variants used in text, all tracked terms.
    phrases: Vec<String>,
    negative: Option<String>,
}

struct Author {
    handle: String,
    reach: f64,
}

/// Share of a content's final engagement reached at `age` days.
fn accrued(age: f64, tau: f64) -> f64 {
    if age <= 0.0 {
        0.0
    } else {
        1.0 - (-age / tau).exp()
    }
}

/// Mean time constant of engagement accrual, in days.
const ACCRUAL_TAU: f64 = 1.3;
/// Revisit offsets (days after publication) and the chance each is made.
const REVISITS: [(f64, f64); 5] = [
    (1.0, 0.7),
    (3.0, 0.5),
    (7.0, 0.4),
    (14.0, 0.25),
    (30.0, 0.1),
];

struct Builder<'a> {
    params: &'a Params,
    first_ms: i64,
    end_ms: i64,
    authors: Vec<Vec<Author>>,
    /// Per platform, the indexes of the top 1% of authors by reach.
    big: Vec<Vec<usize>>,
    contents: Vec<Content>,
    sightings: Vec<Sighting>,
    ads: usize,
    unrelated: usize,
    id_key: u64,
}

impl Simulation {
    /// Generates the world. Fails when `params` do not pass `Params::check`.
    pub fn generate(params: &Params) -> Result<Self, String> {
        params.check()?;
        let mut world = Rng::new(params.seed, u64::MAX);
        let names = product_names(&mut world, params.products);
        let mut b = Builder {
            params,
            first_ms: params.first_day * DAY_MS,
            end_ms: (params.first_day + params.days as i64) * DAY_MS,
            authors: Vec::new(),
            big: Vec::new(),
            contents: Vec::new(),
            sightings: Vec::new(),
            ads: 0,
            unrelated: 0,
            id_key: world.next(),
        };
        let pool = 200 + 2 * params.products;
        for reach in PLATFORM_REACH {
            let mut authors: Vec<Author> = (0..pool)
                .map(|i| {
                    // Pareto with alpha 1.3: many small creators, a few big ones.
                    let pareto = (1.0 - world.unit()).powf(-1.0 / 1.3);
                    Author {
                        handle: format!(
                            "{}{}{i}",
                            world.pick(HANDLE_HEADS),
                            world.pick(HANDLE_TAILS)
                        ),
                        reach: reach * pareto.min(5_000.0),
                    }
                })
                .collect();
            authors.sort_by(|a, b| b.reach.total_cmp(&a.reach));
            b.big.push((0..(pool / 100).max(3)).collect());
            b.authors.push(authors);
        }
        // Which products go viral: a seeded shuffle, so they are spread over the list.
        let viral_count = (params.viral_share * params.products as f64).round() as usize;
        let mut indexes: Vec<usize> = (0..params.products).collect();
        for i in (1..indexes.len()).rev() {
            let j = world.below(i + 1);
            indexes.swap(i, j);
        }
        let mut is_viral = vec![false; params.products];
        for &i in &indexes[..viral_count] {
            is_viral[i] = true;
        }
        let mut products = Vec::with_capacity(params.products);
        for (i, (name, base)) in names.into_iter().enumerate() {
            let mut rng = Rng::new(params.seed, i as u64);
            let (product, plan) = b.plan(&mut rng, name, base, is_viral[i]);
            b.product_contents(&mut rng, &plan);
            products.push(product);
        }
        let mut rng = Rng::new(params.seed, u64::MAX - 1);
        b.unrelated_contents(&mut rng);
        let mut order: Vec<u32> = (0..b.sightings.len() as u32).collect();
        order.sort_unstable_by_key(|&i| {
            let s = &b.sightings[i as usize];
            (s.at_ms, s.content)
        });
        Ok(Simulation {
            params: params.clone(),
            products,
            contents: b.contents,
            sightings: b.sightings,
            order,
            ads: b.ads,
            unrelated: b.unrelated,
        })
    }

    pub fn summary(&self) -> Summary {
        Summary {
            products: self.products.len(),
            viral: self.products.iter().filter(|p| p.truth.viral).count(),
            contents: self.contents.len(),
            ads: self.ads,
            unrelated: self.unrelated,
            observations: self.sightings.len(),
        }
    }

    /// Number of observations (NDJSON lines).
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Writes the `n`-th observation in time order as one JSON line (without
    /// the line break) into `buf`, which is cleared first.
    pub fn line_into(&self, n: usize, buf: &mut String) {
        let s = &self.sightings[self.order[n] as usize];
        let c = &self.contents[s.content as usize];
        buf.clear();
        buf.push_str("{\"platform\":\"");
        buf.push_str(c.platform);
        buf.push_str("\",\"kind\":\"");
        buf.push_str(c.kind);
        buf.push_str("\",\"platform_id\":");
        json_str(buf, &c.platform_id);
        buf.push_str(",\"url\":");
        json_str(buf, &c.url);
        buf.push_str(",\"author\":");
        json_str(buf, &c.author);
        buf.push_str(",\"text\":");
        json_str(buf, &c.text);
        buf.push_str(",\"hashtags\":[");
        for (i, tag) in c.hashtags.iter().enumerate() {
            if i > 0 {
                buf.push(',');
            }
            json_str(buf, tag);
        }
        buf.push_str("],\"country\":\"");
        buf.push_str(c.country);
        buf.push_str("\",\"language\":\"");
        buf.push_str(c.language);
        buf.push_str("\",\"published_at\":\"");
        iso_into(buf, c.published_ms);
        buf.push_str("\",\"observed_at\":\"");
        iso_into(buf, s.at_ms);
        buf.push('"');
        let mut count = |name: &str, value: Option<i64>, hidden_as_minus_one: bool| match value {
            Some(v) => {
                buf.push_str(",\"");
                buf.push_str(name);
                buf.push_str("\":");
                buf.push_str(&v.to_string());
            }
            None if hidden_as_minus_one => {
                buf.push_str(",\"");
                buf.push_str(name);
                buf.push_str("\":-1");
            }
            None => {}
        };
        if c.kind != "ad" {
            count("views", s.views, false);
            count("likes", s.likes, true);
            count("comments", s.comments, false);
            count("shares", s.shares, false);
        }
        let range = |buf: &mut String, name: &str, (lower, upper): (i64, Option<i64>)| {
            buf.push_str(",\"");
            buf.push_str(name);
            buf.push_str("\":{\"lower_bound\":\"");
            buf.push_str(&lower.to_string());
            buf.push('"');
            if let Some(u) = upper {
                buf.push_str(",\"upper_bound\":\"");
                buf.push_str(&u.to_string());
                buf.push('"');
            }
            buf.push('}');
        };
        if let Some(bucket) = s.impressions {
            range(buf, "impressions", impression_bounds(bucket));
        }
        if let Some(spend) = s.spend {
            range(buf, "spend", spend);
        }
        buf.push('}');
    }

    /// Every observation as one JSON line each, in time order.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.len()).map(|n| {
            let mut buf = String::new();
            self.line_into(n, &mut buf);
            buf
        })
    }

    /// The `n`-th observation in time order, as `parse_json_batch` reads its line.
    pub fn observation(&self, n: usize) -> Observation {
        self.observation_of(&self.sightings[self.order[n] as usize])
    }

    fn observation_of(&self, s: &Sighting) -> Observation {
        let c = &self.contents[s.content as usize];
        let mut hashtags = c.hashtags.clone();
        for word in c.text.split(' ') {
            if let Some(tag) = word.strip_prefix('#') {
                let tag = tag.to_lowercase();
                if !hashtags.contains(&tag) {
                    hashtags.push(tag);
                }
            }
        }
        Observation {
            platform: c.platform,
            kind: c.kind,
            platform_id: c.platform_id.clone(),
            url: Some(c.url.clone()),
            author: Some(c.author.clone()),
            text: Some(c.text.clone()),
            hashtags,
            country: Some(c.country.to_owned()),
            language: Some(c.language.to_owned()),
            published_at: Some(c.published_ms),
            observed_at: s.at_ms,
            views: s.views,
            impressions: s.impressions.map(|b| {
                let (lower, upper) = impression_bounds(b);
                Bounds { lower, upper }
            }),
            likes: s.likes,
            comments: s.comments,
            shares: s.shares,
            spend: s.spend.map(|(lower, upper)| Bounds {
                lower: lower as f64,
                upper: upper.map(|u| u as f64),
            }),
        }
    }

    /// Daily mentions per product (in `products` order, over the simulated
    /// days): the series the product engine's stages follow, computed from the
    /// observations as the server does: each content is matched to products
    /// by its text and hashtags (`Matcher`, with every product's name,
    /// keywords and hashtags as terms and its negative keywords as vetoes),
    /// then `attention::product_days` counts it.
    pub fn series(&self) -> Vec<Vec<f64>> {
        self.product_days()
            .into_iter()
            .map(|d| d.mentions)
            .collect()
    }

    /// Each product's days as the server aggregates them (see [`Self::series`]).
    pub fn product_days(&self) -> Vec<ProductDays> {
        let terms: Vec<ProductTerms> = self
            .products
            .iter()
            .enumerate()
            .map(|(i, p)| p.terms(i as i64))
            .collect();
        let matcher = Matcher::new(&terms);
        struct Owned {
            platform: &'static str,
            kind: &'static str,
            author: Option<String>,
            country: Option<String>,
            published_at_ms: Option<i64>,
            snapshots: Vec<Snapshot>,
        }
        let mut histories: Vec<Owned> = Vec::new();
        let mut of_product: Vec<Vec<u32>> = vec![Vec::new(); self.products.len()];
        for c in &self.contents {
            let sightings = &self.sightings[c.first as usize..c.first as usize + c.count as usize];
            let observations: Vec<Observation> =
                sightings.iter().map(|s| self.observation_of(s)).collect();
            let first = &observations[0];
            let matched = matcher.products_in(first.text.as_deref().unwrap_or(""), &first.hashtags);
            if matched.is_empty() {
                continue;
            }
            for id in matched {
                of_product[id as usize].push(histories.len() as u32);
            }
            histories.push(Owned {
                platform: first.platform,
                kind: first.kind,
                author: first.author.clone(),
                country: first.country.clone(),
                published_at_ms: first.published_at,
                snapshots: observations.iter().map(snapshot_of).collect(),
            });
        }
        let last_day = self.params.first_day + self.params.days as i64 - 1;
        of_product
            .iter()
            .map(|list| {
                let contents: Vec<ContentHistory<'_>> = list
                    .iter()
                    .map(|&h| {
                        let h = &histories[h as usize];
                        ContentHistory {
                            platform: h.platform,
                            kind: h.kind,
                            author: h.author.as_deref(),
                            country: h.country.as_deref(),
                            published_at_ms: h.published_at_ms,
                            snapshots: h.snapshots.clone(),
                        }
                    })
                    .collect();
                product_days(&contents, last_day, self.params.days)
            })
            .collect()
    }

    /// `series,viral,half_peak,peak`, one row per product.
    pub fn truth_csv(&self) -> String {
        let mut out = String::from("series,viral,half_peak,peak\n");
        for p in &self.products {
            let date = |d: Option<i64>| d.map(date_of).unwrap_or_default();
            out.push_str(&format!(
                "{},{},{},{}\n",
                csv_field(&p.name),
                p.truth.viral,
                date(p.truth.half_peak),
                date(p.truth.peak)
            ));
        }
        out
    }

    /// The products as a JSON array a loader can create them from.
    pub fn products_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            name: &'a str,
            description: &'a str,
            keywords: &'a [String],
            hashtags: &'a [String],
            negative_keywords: &'a [String],
        }
        let out: Vec<Out<'_>> = self
            .products
            .iter()
            .map(|p| Out {
                name: &p.name,
                description: &p.description,
                keywords: &p.keywords,
                hashtags: &p.hashtags,
                negative_keywords: &p.negative_keywords,
            })
            .collect();
        let mut text = serde_json::to_string_pretty(&out).unwrap_or_else(|_| "[]".into());
        text.push('\n');
        text
    }

    /// `series,date,value` rows of `series()` (the input of `marketscout backtest`).
    pub fn series_csv(&self, series: &[Vec<f64>]) -> String {
        let mut out = String::from("series,date,value\n");
        for (p, values) in self.products.iter().zip(series) {
            let name = csv_field(&p.name);
            for (i, v) in values.iter().enumerate() {
                let date = date_of(self.params.first_day + i as i64);
                out.push_str(&format!("{name},{date},{}\n", (v * 100.0).round() / 100.0));
            }
        }
        out
    }
}

/// A snapshot from an observation: impressions count at the midpoint of their
/// range (the lower bound for an open top bucket).
pub fn snapshot_of(o: &Observation) -> Snapshot {
    Snapshot {
        at_ms: o.observed_at,
        metrics: Metrics {
            views: o.views,
            impressions: o.impressions.map(|b| match b.upper {
                Some(u) => (b.lower + u) as f64 / 2.0,
                None => b.lower as f64,
            }),
            likes: o.likes,
            comments: o.comments,
            shares: o.shares,
        },
    }
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn json_str(buf: &mut String, s: &str) {
    buf.push('"');
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            c if (c as u32) < 0x20 => buf.push_str(&format!("\\u{:04x}", c as u32)),
            c => buf.push(c),
        }
    }
    buf.push('"');
}

/// (year, month, day) of a day number (days since 1970-01-01), proleptic Gregorian.
fn civil(day: i64) -> (i64, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD` of a day number.
pub fn date_of(day: i64) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn iso_into(buf: &mut String, ms: i64) {
    use std::fmt::Write;
    let (y, m, d) = civil(day_of(ms));
    let secs = ms.rem_euclid(DAY_MS) / 1000;
    let _ = write!(
        buf,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
}

/// Unique product names with the index of their base: "modifier base" while
/// those last, then coined brands ("Lumora phone mount").
fn product_names(rng: &mut Rng, n: usize) -> Vec<(String, usize)> {
    let combos = MODIFIERS.len() * BASES.len();
    let mut used: HashSet<String> = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let base = rng.below(BASES.len());
        let name = if used.len() < combos * 3 / 4 && rng.chance(0.9) {
            format!("{} {}", rng.pick(MODIFIERS), BASES[base].0)
        } else {
            let syllables = 2 + rng.below(2);
            format!("{} {}", coined(rng, syllables), BASES[base].0)
        };
        if used.insert(name.to_lowercase()) {
            out.push((name, base));
        }
    }
    out
}

/// Day of the week, 0 = Monday (1970-01-01 was a Thursday).
fn weekday(day: i64) -> usize {
    (day + 3).rem_euclid(7) as usize
}

/// Weekly rhythm shape, Monday first: more posting at the weekend.
const WEEKLY: [f64; 7] = [-0.06, -0.04, -0.02, 0.0, 0.02, 0.06, 0.04];

impl Builder<'_> {
    fn days(&self) -> usize {
        self.params.days
    }

    fn plan(&mut self, rng: &mut Rng, name: String, base: usize, viral: bool) -> (Product, Plan) {
        let days = self.days() as f64;
        let base_rate = rng.lognormal(1.2f64.ln(), 1.0).clamp(0.25, 40.0);
        let amp = rng.range(0.5, 3.0);
        let mut weekly = [1.0; 7];
        for (w, shape) in weekly.iter_mut().zip(WEEKLY) {
            *w = 1.0 + amp * shape;
        }
        let viral = if viral { self.viral(rng) } else { None };
        let bump = (viral.is_none() && rng.chance(0.08)).then(|| Bump {
            centre: rng.range(ONSET_AFTER as f64 / 2.0, days),
            width: rng.range(4.0, 12.0),
            height: rng.range(0.3, 1.0),
        });
        let mut platform_weights = PLATFORM_WEIGHTS;
        for w in &mut platform_weights {
            *w *= rng.lognormal(0.0, 0.6);
        }
        let lower = name.to_lowercase();
        let mut keywords = Vec::new();
        let many = plural(&lower);
        if many != lower {
            keywords.push(many.clone());
        }
        let hashtags = vec![compact(&name)];
        let negative_keywords = if rng.chance(0.25) {
            vec![rng.pick(NEGATIVES).to_string()]
        } else {
            Vec::new()
        };
        let mut phrases = vec![name.clone(), lower.clone()];
        if many != lower {
            phrases.push(many);
        }
        let description = {
            let mut d = name.clone();
            if let Some(first) = d.get(..1) {
                let upper = first.to_uppercase();
                d.replace_range(..1, &upper);
            }
            format!("{d} for {}.", BASES[base].1)
        };
        let truth = viral.map(|v| truth_of(&v, self.params.first_day, self.days()));
        let product = Product {
            name,
            description,
            keywords,
            hashtags,
            negative_keywords,
            truth: truth.unwrap_or_default(),
        };
        let plan = Plan {
            base_rate,
            noise: rng.range(0.2, 0.5),
            weekly,
            drift: 0.3 * rng.normal(),
            bump,
            viral,
            home_region: rng.weighted(&REGION_WEIGHTS),
            home_share: rng.range(0.6, 0.9),
            platform_weights,
            spike_rate: 1.0 / rng.range(40.0, 120.0),
            base_ads: if rng.chance(0.4) {
                rng.range(0.01, 0.06)
            } else {
                0.0
            },
            phrases,
            negative: product.negative_keywords.first().cloned(),
        };
        (product, plan)
    }

    fn viral(&self, rng: &mut Rng) -> Option<Viral> {
        let days = self.days() as f64;
        let plateau = rng.range(0.0, 5.0);
        let mut ramp = rng.range(10.0, 30.0);
        // The top must leave a few days of data after the plateau.
        let latest = days - plateau - 5.0;
        if latest < ONSET_AFTER as f64 + ramp {
            ramp = 10.0;
        }
        if latest < ONSET_AFTER as f64 + ramp {
            return None;
        }
        let top = rng.range(ONSET_AFTER as f64 + ramp, latest);
        let peak = rng.log_range(5.0, 50.0);
        Some(Viral {
            centre: top - ramp / 2.0,
            scale: ramp / 7.8,
            top,
            plateau,
            peak,
            engage: rng.range(1.3, 2.5),
            floor: rng.range(1.3, 2.5).min(peak),
            decay: rng.range(7.0, 30.0),
            ads_centre: top + rng.range(-3.0, 12.0),
            ads_max: rng.range(0.3, 2.0) * (peak / 10.0).sqrt(),
        })
    }

    fn product_contents(&mut self, rng: &mut Rng, plan: &Plan) {
        let days = self.days();
        let mut advertisers: Vec<String> = Vec::new();
        for d in 0..days {
            let t = d as f64 + 0.5;
            let mut rate = plan.base_rate
                * plan.weekly[weekday(self.params.first_day + d as i64)]
                * (plan.drift * d as f64 / days as f64).exp()
                * rng.lognormal(-plan.noise * plan.noise / 2.0, plan.noise);
            if let Some(b) = plan.bump {
                let z = (t - b.centre) / b.width;
                rate *= 1.0 + b.height * (-z * z / 2.0).exp();
            }
            let (posting, engage, spread) = match &plan.viral {
                Some(v) => {
                    let p = v.posting(t);
                    (p, v.engagement(p), v.spread(p))
                }
                None => (1.0, 1.0, 0.0),
            };
            for _ in 0..rng.poisson(rate * posting) {
                self.post(rng, plan, d, engage, spread, PostKind::Normal);
            }
            if spread < 0.05 && rng.chance(plan.spike_rate) {
                self.post(rng, plan, d, 1.0, 0.0, PostKind::BigCreator);
            }
            if plan.negative.is_some() && rng.chance(0.03 * plan.base_rate.min(3.0)) {
                self.post(rng, plan, d, 1.0, spread, PostKind::Unrelated);
            }
            let mut ads = plan.base_ads;
            if let Some(v) = &plan.viral {
                let arrival = 1.0 / (1.0 + (-(t - v.ads_centre) / 3.0).exp());
                let fading = (-(t - v.ads_centre - 30.0).max(0.0) / 60.0).exp();
                ads += v.ads_max * arrival * fading;
            }
            for _ in 0..rng.poisson(ads) {
                self.ad(rng, plan, d, posting, spread, &mut advertisers);
            }
        }
    }

    fn country(&self, rng: &mut Rng, plan: &Plan, spread: f64) -> (&'static str, &'static str) {
        let home = rng.chance(plan.home_share * (1.0 - 0.5 * spread));
        let weights: Vec<f64> = COUNTRIES
            .iter()
            .map(|c| {
                if !home || c.2 == plan.home_region {
                    c.3
                } else {
                    0.0
                }
            })
            .collect();
        let c = COUNTRIES[rng.weighted(&weights)];
        (c.0, c.1)
    }

    /// Publication time on day `d`: mostly afternoons and evenings (UTC of the audience).
    fn publish_ms(&self, rng: &mut Rng, d: usize) -> i64 {
        let hour = (18.0 + 4.0 * rng.normal()).rem_euclid(24.0);
        let secs = (hour * 3600.0) as i64;
        self.first_ms + d as i64 * DAY_MS + secs * 1000
    }

    fn unique(&self, index: usize) -> u64 {
        mix(index as u64 ^ self.id_key)
    }

    fn post(
        &mut self,
        rng: &mut Rng,
        plan: &Plan,
        d: usize,
        engage: f64,
        spread: f64,
        kind: PostKind,
    ) {
        let mut weights = plan.platform_weights;
        for w in &mut weights {
            *w = w.powf(1.0 - 0.6 * spread);
        }
        let p = rng.weighted(&weights);
        let author = match kind {
            PostKind::BigCreator => *rng.pick(&self.big[p]),
            _ => rng.below(self.authors[p].len()),
        };
        let mut reach = self.authors[p][author].reach * rng.lognormal(-0.3, 0.8) * engage;
        if kind == PostKind::BigCreator {
            reach = reach.max(PLATFORM_REACH[p] * rng.range(50.0, 300.0));
        }
        let phrase = rng.pick(&plan.phrases).clone();
        let mut tags: Vec<String> = Vec::new();
        let mut inline: Vec<String> = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let tag = rng.pick(GENERIC_TAGS).to_string();
            if !tags.contains(&tag) && !inline.contains(&tag) {
                if rng.chance(0.4) {
                    inline.push(tag);
                } else {
                    tags.push(tag);
                }
            }
        }
        let text = match kind {
            PostKind::Unrelated => {
                // Names the product, but with its negative keyword: vetoed by the matcher.
                let negative = plan.negative.as_deref().unwrap_or("recall");
                format!("{phrase} {negative} news, is this real?")
            }
            _ => {
                let in_text = rng.chance(0.8);
                let compact_tag = compact(&phrase);
                if !in_text || rng.chance(0.4) {
                    if rng.chance(0.5) {
                        inline.insert(0, compact_tag);
                    } else {
                        tags.insert(0, compact_tag);
                    }
                }
                if in_text {
                    format!("{} {} {}", rng.pick(OPENERS), phrase, rng.pick(CLOSERS))
                } else {
                    format!(
                        "{} {}",
                        rng.pick(OPENERS).split(' ').next().unwrap_or("wow"),
                        rng.pick(CLOSERS)
                    )
                }
            }
        };
        let text = inline.iter().fold(text, |t, tag| format!("{t} #{tag}"));
        let (country, language) = self.country(rng, plan, spread);
        let published_ms = self.publish_ms(rng, d);
        self.push_content(
            rng,
            p,
            author,
            text,
            tags,
            country,
            language,
            published_ms,
            reach,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn push_content(
        &mut self,
        rng: &mut Rng,
        p: usize,
        author: usize,
        text: String,
        tags: Vec<String>,
        country: &'static str,
        language: &'static str,
        published_ms: i64,
        reach: f64,
    ) {
        let index = self.contents.len();
        let platform = PLATFORMS[p];
        let video = match platform {
            "tiktok" | "youtube" => true,
            "instagram" => rng.chance(0.5),
            "facebook" => rng.chance(0.3),
            _ => false,
        };
        let kind = if video { "video" } else { "post" };
        let handle = self.authors[p][author].handle.clone();
        let u = self.unique(index);
        let small = rng.below(1_000_000_000) as u64;
        let (platform_id, url) = match platform {
            "tiktok" => {
                let id = 7_300_000_000_000_000_000u64 + index as u64 * 1_000_000_000 + small;
                (
                    id.to_string(),
                    format!("https://www.tiktok.com/@{handle}/video/{id}"),
                )
            }
            "youtube" => {
                let id = base64_id(u);
                let url = if rng.chance(0.6) {
                    format!("https://www.youtube.com/shorts/{id}")
                } else {
                    format!("https://www.youtube.com/watch?v={id}")
                };
                (id, url)
            }
            "instagram" => {
                let id = base64_id(u);
                let path = if video { "reel" } else { "p" };
                let url = format!("https://www.instagram.com/{path}/{id}/");
                (id, url)
            }
            "x" => {
                let id = 1_800_000_000_000_000_000u64 + index as u64 * 1_000_000_000 + small;
                (
                    id.to_string(),
                    format!("https://x.com/{handle}/status/{id}"),
                )
            }
            "reddit" => {
                let id = base36(u);
                let url = format!(
                    "https://www.reddit.com/r/{}/comments/{id}/",
                    rng.pick(SUBREDDITS)
                );
                (id, url)
            }
            _ => {
                let id = 100_000_000_000_000u64 + index as u64 * 1_000 + small % 1_000;
                let path = if video { "videos" } else { "posts" };
                (
                    id.to_string(),
                    format!("https://www.facebook.com/{handle}/{path}/{id}"),
                )
            }
        };
        let like_rate = LIKE_RATE[p] * rng.lognormal(0.0, 0.3);
        let likes = reach * like_rate;
        let comments = likes * rng.range(0.01, 0.06);
        let shares = likes * rng.range(0.03, 0.15);
        let has_views = !matches!(
            (platform, kind),
            ("reddit", _) | ("instagram", "post") | ("facebook", "post")
        );
        let hide_likes = rng.chance(if platform == "instagram" { 0.15 } else { 0.03 });
        let tau = ACCRUAL_TAU * rng.lognormal(0.0, 0.3);
        let first = self.sightings.len() as u32;
        let mut times = vec![published_ms + (rng.range(0.5, 8.0) * 3_600_000.0) as i64];
        for (offset, chance) in REVISITS {
            if rng.chance(chance) {
                let jitter = rng.range(-2.0, 2.0) * 3_600_000.0;
                times.push(published_ms + (offset * DAY_MS as f64 + jitter) as i64);
            }
        }
        for at in times {
            let at = at / 1000 * 1000;
            if at >= self.end_ms {
                break;
            }
            let age = (at - published_ms) as f64 / DAY_MS as f64;
            let f = accrued(age, tau);
            let g = accrued(age - 0.05, tau);
            self.sightings.push(Sighting {
                at_ms: at,
                content: index as u32,
                views: has_views.then(|| (reach * f).round() as i64),
                likes: (!hide_likes).then(|| (likes * g).round() as i64),
                comments: Some((comments * g).round() as i64),
                shares: Some((shares * g).round() as i64),
                impressions: None,
                spend: None,
            });
        }
        let count = (self.sightings.len() as u32 - first) as u16;
        if count == 0 {
            return;
        }
        self.contents.push(Content {
            platform,
            kind,
            platform_id,
            url,
            author: handle,
            text,
            hashtags: tags,
            country,
            language,
            published_ms,
            first,
            count,
        });
    }

    fn ad(
        &mut self,
        rng: &mut Rng,
        plan: &Plan,
        d: usize,
        posting: f64,
        spread: f64,
        advertisers: &mut Vec<String>,
    ) {
        // A new advertiser with a chance that shrinks as more have joined (a
        // Chinese restaurant process): many advertisers, each running several ads.
        let advertiser =
            if advertisers.is_empty() || rng.chance(6.0 / (6.0 + advertisers.len() as f64)) {
                let syllables = 2 + rng.below(2);
                let brand = coined(rng, syllables);
                let name = format!("{brand} {}", rng.pick(ADVERTISER_SUFFIXES));
                advertisers.push(name.clone());
                name
            } else {
                rng.pick(advertisers).clone()
            };
        let p = rng.weighted(&[0.55, 0.3, 0.15]);
        let platform = ["facebook", "instagram", "tiktok"][p];
        let index = self.contents.len();
        let id = 1_000_000_000_000_000u64 + index as u64 * 1_000 + rng.below(1_000) as u64;
        let url = if platform == "tiktok" {
            format!("https://library.tiktok.com/ads/detail/?ad_id={id}")
        } else {
            format!("https://www.facebook.com/ads/library/?id={id}")
        };
        let text = format!(
            "{} {} {}",
            rng.pick(AD_HOOKS),
            rng.pick(&plan.phrases),
            rng.pick(AD_CTAS)
        );
        let (country, language) = self.country(rng, plan, spread);
        let start = self.publish_ms(rng, d);
        let duration = rng.range(4.0, 45.0);
        let daily = rng.lognormal(1_500f64.ln(), 1.0) * posting.sqrt();
        let cpm = rng.range(3.0, 12.0);
        let first = self.sightings.len() as u32;
        let mut at = start + (rng.range(2.0, 40.0) * 3_600_000.0) as i64;
        let stop = start + ((duration + 3.0) * DAY_MS as f64) as i64;
        while at < self.end_ms && at <= stop {
            let at_s = at / 1000 * 1000;
            let age = ((at_s - start) as f64 / DAY_MS as f64).clamp(0.2, duration);
            let impressions = daily * age;
            self.sightings.push(Sighting {
                at_ms: at_s,
                content: index as u32,
                views: None,
                likes: None,
                comments: None,
                shares: None,
                impressions: Some(impression_bucket(impressions)),
                spend: Some(spend_bounds(impressions * cpm / 1000.0)),
            });
            at += (rng.range(2.0, 6.0) * DAY_MS as f64) as i64;
        }
        let count = (self.sightings.len() as u32 - first) as u16;
        if count == 0 {
            return;
        }
        self.ads += 1;
        self.contents.push(Content {
            platform,
            kind: "ad",
            platform_id: id.to_string(),
            url,
            author: advertiser,
            text,
            hashtags: Vec::new(),
            country,
            language,
            published_ms: start,
            first,
            count,
        });
    }

    /// Posts about nothing tracked: about a tenth of all content.
    fn unrelated_contents(&mut self, rng: &mut Rng) {
        let per_day = 0.15 * self.params.products as f64;
        let plan = Plan {
            base_rate: 1.0,
            noise: 0.3,
            weekly: [1.0; 7],
            drift: 0.0,
            bump: None,
            viral: None,
            home_region: 0,
            home_share: 0.0,
            platform_weights: PLATFORM_WEIGHTS,
            spike_rate: 0.0,
            base_ads: 0.0,
            phrases: Vec::new(),
            negative: None,
        };
        for d in 0..self.days() {
            for _ in 0..rng.poisson(per_day) {
                let p = rng.weighted(&PLATFORM_WEIGHTS);
                let author = rng.below(self.authors[p].len());
                let reach = self.authors[p][author].reach * rng.lognormal(-0.3, 0.8);
                let mut text = rng.pick(UNRELATED).to_string();
                let mut tags = Vec::new();
                for _ in 0..rng.below(3) {
                    let tag = rng.pick(GENERIC_TAGS);
                    if rng.chance(0.5) {
                        text = format!("{text} #{tag}");
                    } else if !tags.iter().any(|t| t == tag) {
                        tags.push(tag.to_string());
                    }
                }
                let (country, language) = self.country(rng, &plan, 1.0);
                let published_ms = self.publish_ms(rng, d);
                let before = self.contents.len();
                self.push_content(
                    rng,
                    p,
                    author,
                    text,
                    tags,
                    country,
                    language,
                    published_ms,
                    reach,
                );
                self.unrelated += self.contents.len() - before;
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PostKind {
    Normal,
    /// A one-off post by one of the biggest creators: a spike, not a trend.
    BigCreator,
    /// Names the product with a negative keyword: about something else.
    Unrelated,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// 11 URL-safe base64 characters: every 64-bit value its own id.
fn base64_id(mut u: u64) -> String {
    let mut out = [0u8; 11];
    for c in out.iter_mut().rev() {
        *c = B64[(u & 63) as usize];
        u >>= 6;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base36(mut u: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(u % 36) as usize]);
        u /= 36;
        if u == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// The truth of a viral product: its expected attention relative to its usual
/// level (posting x engagement per post, spread over the days the engagement
/// happens), the first day at half level and the peak day.
fn truth_of(v: &Viral, first_day: i64, days: usize) -> Truth {
    let curve = true_attention(v, days);
    let (peak_i, peak) = curve
        .iter()
        .copied()
        .enumerate()
        .fold(
            (0, f64::MIN),
            |best, (i, x)| if x > best.1 { (i, x) } else { best },
        );
    let half = 1.0 + (peak - 1.0) / 2.0;
    let half_i = curve.iter().position(|x| *x >= half).unwrap_or(peak_i);
    Truth {
        viral: true,
        half_peak: Some(first_day + half_i as i64),
        peak: Some(first_day + peak_i as i64),
        peak_multiple: Some(peak),
    }
}

/// Expected daily attention of a viral product, 1.0 being its usual level.
fn true_attention(v: &Viral, days: usize) -> Vec<f64> {
    // Share of a post's engagement on each day after the day it is published
    // (published mid-day on average).
    let kernel: Vec<f64> = (0..45)
        .map(|k| {
            let k = k as f64;
            accrued(k + 0.5, ACCRUAL_TAU) - accrued(k - 0.5, ACCRUAL_TAU)
        })
        .collect();
    let norm: f64 = kernel.iter().sum();
    let daily: Vec<f64> = (0..days)
        .map(|d| {
            let p = v.posting(d as f64 + 0.5);
            p * v.engagement(p)
        })
        .collect();
    (0..days)
        .map(|d| {
            kernel
                .iter()
                .enumerate()
                .map(|(k, w)| w * if d >= k { daily[d - k] } else { 1.0 })
                .sum::<f64>()
                / norm
        })
        .collect()
}

/// How an early-detection run did against the truth.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Scores {
    pub viral: usize,
    /// Viral products with a flag in [half_peak - 30, half_peak).
    pub before_half_peak: usize,
    /// Median of peak - first flag in [half_peak - 30, peak), over the viral products flagged there.
    pub median_lead: Option<f64>,
    pub never_viral: usize,
    /// Never-viral products flagged on any day.
    pub never_viral_flagged: usize,
}

impl Scores {
    pub fn recall_before_half_peak(&self) -> f64 {
        self.before_half_peak as f64 / self.viral.max(1) as f64
    }

    pub fn never_viral_flagged_share(&self) -> f64 {
        self.never_viral_flagged as f64 / self.never_viral.max(1) as f64
    }
}

/// The product engine's daily flags for each simulated product, computed as
/// the server computes them (`trend::product_detection`).
pub fn product_flags(sim: &Simulation) -> Vec<Vec<bool>> {
    sim.product_days()
        .iter()
        .map(|d| {
            crate::engine::trend::product_detection(d)
                .iter()
                .map(|day| day.stage.is_flag())
                .collect()
        })
        .collect()
}

/// Scores daily flags (one list per product, day 0 = `first_day`) against the truth.
pub fn score(products: &[Product], first_day: i64, flags: &[Vec<bool>]) -> Scores {
    let mut s = Scores::default();
    let mut leads = Vec::new();
    for (p, f) in products.iter().zip(flags) {
        let flagged =
            |from: i64, to: i64| (from.max(0)..to.min(f.len() as i64)).find(|&d| f[d as usize]);
        match (p.truth.half_peak, p.truth.peak) {
            (Some(h), Some(pk)) if p.truth.viral => {
                s.viral += 1;
                let (h, pk) = (h - first_day, pk - first_day);
                if flagged(h - 30, h).is_some() {
                    s.before_half_peak += 1;
                }
                if let Some(d) = flagged(h - 30, pk) {
                    leads.push((pk - d) as f64);
                }
            }
            _ => {
                s.never_viral += 1;
                if f.iter().any(|x| *x) {
                    s.never_viral_flagged += 1;
                }
            }
        }
    }
    leads.sort_by(f64::total_cmp);
    s.median_lead = (!leads.is_empty()).then(|| {
        let n = leads.len();
        if n % 2 == 1 {
            leads[n / 2]
        } else {
            (leads[n / 2 - 1] + leads[n / 2]) / 2.0
        }
    });
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::observation::parse_json_batch;

    /// 2025-01-01.
    const FIRST_DAY: i64 = 20_089;

    fn params(products: usize, days: usize, seed: u64) -> Params {
        Params {
            products,
            days,
            seed,
            first_day: FIRST_DAY,
            viral_share: VIRAL_SHARE,
        }
    }

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(FIRST_DAY), "2025-01-01");
        assert_eq!(date_of(11_016), "2000-02-29");
        let mut buf = String::new();
        iso_into(&mut buf, FIRST_DAY * DAY_MS + 3_723_000);
        assert_eq!(buf, "2025-01-01T01:02:03Z");
        assert_eq!(weekday(FIRST_DAY), 2, "2025-01-01 was a Wednesday");
    }

    #[test]
    fn bad_parameters_are_named() {
        let err = Simulation::generate(&params(0, 80, 1)).err().unwrap();
        assert!(
            err.contains("products must be") && err.contains("days must be"),
            "{err}"
        );
        assert!(Simulation::generate(&params(100_001, 90, 1)).is_err());
        assert!(Simulation::generate(&params(1, 1096, 1)).is_err());
    }

    #[test]
    fn the_same_arguments_give_the_same_bytes() {
        let a: Vec<String> = Simulation::generate(&params(40, 120, 9))
            .unwrap()
            .lines()
            .collect();
        let b: Vec<String> = Simulation::generate(&params(40, 120, 9))
            .unwrap()
            .lines()
            .collect();
        assert!(a.len() > 1000, "{} lines", a.len());
        assert_eq!(a, b);
        let c: Vec<String> = Simulation::generate(&params(40, 120, 10))
            .unwrap()
            .lines()
            .collect();
        assert_ne!(a, c);
        let sim = Simulation::generate(&params(40, 120, 9)).unwrap();
        assert_eq!(
            sim.truth_csv(),
            Simulation::generate(&params(40, 120, 9))
                .unwrap()
                .truth_csv()
        );
    }

    #[test]
    fn every_line_parses_to_the_observation_it_stands_for() {
        let sim = Simulation::generate(&params(60, 150, 3)).unwrap();
        let body: String = sim.lines().map(|l| l + "\n").collect();
        let now = (FIRST_DAY + 150) * DAY_MS;
        let batch = parse_json_batch(&body, now).unwrap();
        assert!(
            batch.rejected.is_empty(),
            "{:?}",
            &batch.rejected[..batch.rejected.len().min(3)]
        );
        assert_eq!(batch.observations.len(), sim.len());
        for (n, o) in batch.observations.iter().enumerate() {
            assert_eq!(*o, sim.observation(n), "line {}", n + 1);
        }
        let times: Vec<i64> = batch.observations.iter().map(|o| o.observed_at).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "sorted by observed_at"
        );
        assert!(times.iter().all(|t| (FIRST_DAY * DAY_MS..now).contains(t)));
        let ids: HashSet<(&str, &str, i64)> = batch
            .observations
            .iter()
            .map(|o| (o.platform, o.platform_id.as_str(), o.observed_at))
            .collect();
        assert_eq!(ids.len(), batch.observations.len(), "no duplicate sighting");
        for kind in ["post", "video", "ad"] {
            assert!(batch.observations.iter().any(|o| o.kind == kind), "{kind}");
        }
        assert!(body.contains("\"likes\":-1"), "some likes are hidden");
        assert!(body.contains("\"lower_bound\":\"1000\",\"upper_bound\":\"4999\""));
        let products: Vec<serde_json::Value> = serde_json::from_str(&sim.products_json()).unwrap();
        assert_eq!(products.len(), 60);
        assert!(products[0]["keywords"].is_array() && products[0]["negative_keywords"].is_array());
    }

    #[test]
    fn names_are_unique_and_match_only_their_own_product() {
        let modifier_words: HashSet<&str> = MODIFIERS
            .iter()
            .flat_map(|m| m.split(' '))
            .map(|w| if w == "LED" { "led" } else { w })
            .collect();
        for (base, _) in BASES {
            for w in base.split(' ') {
                assert!(
                    !modifier_words.contains(w),
                    "{w} is both a modifier and a base word"
                );
            }
        }
        // Every modifier x base combination, and the text and hashtags posts use.
        let mut rng = Rng::new(1, 1);
        let names = product_names(&mut rng, MODIFIERS.len() * BASES.len() / 2);
        let unique: HashSet<String> = names.iter().map(|n| n.0.to_lowercase()).collect();
        assert_eq!(unique.len(), names.len());
        let products: Vec<Product> = names
            .iter()
            .map(|(name, _)| Product {
                name: name.clone(),
                description: String::new(),
                keywords: vec![plural(&name.to_lowercase())],
                hashtags: vec![compact(name)],
                negative_keywords: Vec::new(),
                truth: Truth::default(),
            })
            .collect();
        let terms: Vec<ProductTerms> = products
            .iter()
            .enumerate()
            .map(|(i, p)| p.terms(i as i64))
            .collect();
        let m = Matcher::new(&terms);
        for (i, p) in products.iter().enumerate() {
            let id = i as i64;
            for opener in [OPENERS[0], OPENERS[4], OPENERS[10]] {
                let text = format!("{opener} {} {}", plural(&p.name), CLOSERS[3]);
                assert_eq!(m.products_in(&text, &[]), [id], "{text}");
            }
            let tags = vec![compact(&p.name), "tiktokmademebuyit".into()];
            assert_eq!(m.products_in("wow", &tags), [id], "{tags:?}");
        }
        for text in UNRELATED
            .iter()
            .chain(OPENERS)
            .chain(CLOSERS)
            .chain(AD_HOOKS)
        {
            let tags: Vec<String> = GENERIC_TAGS.iter().map(|t| t.to_string()).collect();
            assert!(m.products_in(text, &tags).is_empty(), "{text}");
        }
        // Past the combinations, coined brands keep names unique.
        let many = product_names(&mut rng, 20_000);
        let unique: HashSet<String> = many.iter().map(|n| n.0.to_lowercase()).collect();
        assert_eq!(unique.len(), many.len());
    }

    /// The product engine's flags over 300 simulated products and 200 days.
    fn detection_on_simulated_data(seed: u64) -> Scores {
        let sim = Simulation::generate(&params(300, 200, seed)).unwrap();
        let flags = product_flags(&sim);
        let s = score(&sim.products, FIRST_DAY, &flags);
        eprintln!(
            "viral {} flagged before half-peak {} ({:.3}), median lead {:?} days, never-viral flagged {}/{} ({:.3})",
            s.viral,
            s.before_half_peak,
            s.recall_before_half_peak(),
            s.median_lead,
            s.never_viral_flagged,
            s.never_viral,
            s.never_viral_flagged_share()
        );
        s
    }

    /// Each seed's scores, with recall before half-peak and the share of
    /// never-viral products flagged pooled over all of them.
    fn pooled_detection(seeds: &[u64]) -> (Vec<Scores>, f64, f64) {
        let runs: Vec<Scores> = seeds
            .iter()
            .map(|seed| detection_on_simulated_data(*seed))
            .collect();
        let total = |f: &dyn Fn(&Scores) -> usize| runs.iter().map(f).sum::<usize>() as f64;
        let recall = total(&|s| s.before_half_peak) / total(&|s| s.viral);
        let false_alarms = total(&|s| s.never_viral_flagged) / total(&|s| s.never_viral);
        (runs, recall, false_alarms)
    }

    /// What the product engine gets on simulated social data over four seeds,
    /// recorded in docs/SCORING.md ("Simulated data") and shown by `GET
    /// /quality`: fails when a change to the engine or the simulation makes it
    /// worse, or when what users are shown is no longer what is measured.
    #[test]
    fn detection_on_simulated_data_stays_as_recorded() {
        let (runs, recall, false_alarms) = pooled_detection(&[7, 11, 13, 21]);
        assert!(recall >= 0.88, "{recall} {runs:?}");
        assert!(false_alarms <= 0.036, "{false_alarms} {runs:?}");
        for s in &runs {
            assert!(s.median_lead.unwrap_or(0.0) >= 10.0, "{s:?}");
        }
        let shown = crate::api::quality::RECORDED.simulated;
        assert_eq!(shown.products as usize, runs.len() * 300);
        assert_eq!(
            shown.viral_products as usize,
            runs.iter().map(|s| s.viral).sum::<usize>()
        );
        let three_places = |v: f64| (v * 1000.0).round() / 1000.0;
        assert_eq!(shown.recall_before_half_peak, three_places(recall));
        assert_eq!(shown.never_viral_flagged, three_places(false_alarms));
    }

    /// The same rule on seeds it was not chosen on (docs/SCORING.md, "Simulated
    /// data"): a rule fitted to the noise of 4 seeds would fall back here.
    #[test]
    fn detection_holds_on_seeds_the_rule_was_not_chosen_on() {
        let (runs, recall, false_alarms) = pooled_detection(&[1, 2, 3, 5, 8]);
        assert!(recall >= 0.89, "{recall} {runs:?}");
        assert!(false_alarms <= 0.042, "{false_alarms} {runs:?}");
        for s in &runs {
            assert!(s.median_lead.unwrap_or(0.0) >= 10.0, "{s:?}");
        }
    }

    /// The larger run recorded in docs/SCORING.md ("Simulated data"): 1000
    /// products over 240 days, seed 7. Ignored for its time (minutes in a
    /// debug build): `cargo test --lib 1000_products -- --ignored`.
    #[test]
    #[ignore = "minutes in a debug build; run it when the product rule changes"]
    fn detection_on_1000_products_over_240_days() {
        let sim = Simulation::generate(&params(1000, 240, 7)).unwrap();
        let s = score(&sim.products, FIRST_DAY, &product_flags(&sim));
        eprintln!("{s:?}");
        assert_eq!((s.before_half_peak, s.viral), (130, 150), "{s:?}");
        assert_eq!((s.never_viral_flagged, s.never_viral), (42, 850), "{s:?}");
        assert_eq!(s.median_lead, Some(13.0), "{s:?}");
    }

    /// The targets set for the engine, over all nine seeds (tuning and unseen
    /// alike: one lucky seed, such as 7 at 0.911, is not the engine meeting
    /// them). It meets the lead and false-alarm ones but not recall (0.82-0.98
    /// by seed, 0.894 pooled): see docs/SCORING.md ("Simulated data").
    #[test]
    #[ignore = "recall before half-peak is 0.894 over the nine seeds, under the 0.90 target (docs/SCORING.md)"]
    fn the_detector_meets_its_targets_on_simulated_data() {
        let (runs, recall, false_alarms) = pooled_detection(&[7, 11, 13, 21, 1, 2, 3, 5, 8]);
        assert!(recall >= 0.90, "{recall} {runs:?}");
        assert!(false_alarms <= 0.05, "{false_alarms} {runs:?}");
        for s in &runs {
            assert!(s.median_lead.unwrap_or(0.0) >= 5.0, "{s:?}");
        }
    }
}
