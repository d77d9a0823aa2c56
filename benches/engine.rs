//! Benchmarks of the pure trend engine: matching content to products, scoring
//! products, detection and forecast. Run with `cargo bench --bench engine`
//! (add a filter, e.g. `cargo bench --bench engine -- matching`). Results and
//! targets are in `docs/PERFORMANCE.md`, "Trend engine".
//!
//! All data is generated here, deterministically, to look like what the
//! scanners bring in: product names of 2-4 words with a few keywords, a
//! hashtag and sometimes a negative keyword; social captions of 10-40 words
//! with 0-5 hashtags, about one in ten mentioning a product; 150 days of
//! posts per product, most of them steady, some taking off.

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use marketscout::engine::attention::{
    ContentHistory, DAY_MS, Metrics, ProductDays, Snapshot, product_days,
};
use marketscout::engine::detect::detect_with_floor;
use marketscout::engine::forecast::forecast;
use marketscout::engine::matching::{Matcher, ProductTerms};
use marketscout::engine::trend::{FLOOR, Norms, WINDOW_DAYS, evaluate};

/// A small deterministic generator (SplitMix64): the same data on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A Poisson draw (Knuth's method for small means, normal above 30).
    fn poisson(&mut self, mean: f64) -> usize {
        if mean > 30.0 {
            let u = self.unit().max(1e-12);
            let v = self.unit();
            let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
            return (mean + mean.sqrt() * z).round().max(0.0) as usize;
        }
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p = self.unit();
        while p > limit {
            k += 1;
            p *= self.unit();
        }
        k
    }
}

/// FNV-1a of a text: shows that an optimisation left results unchanged.
fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

// ---------------------------------------------------------------- matching

const ADJECTIVES: &[&str] = &[
    "portable",
    "mini",
    "smart",
    "wireless",
    "magnetic",
    "foldable",
    "electric",
    "heated",
    "cordless",
    "rechargeable",
    "ergonomic",
    "adjustable",
    "waterproof",
    "silicone",
    "bamboo",
    "stainless",
    "ceramic",
    "vintage",
    "aesthetic",
    "cozy",
    "compact",
    "automatic",
    "digital",
    "retro",
    "weighted",
    "cooling",
    "glow",
    "handheld",
    "luxury",
    "reusable",
    "collapsible",
    "rotating",
    "self cleaning",
    "touchless",
    "ultrasonic",
    "insulated",
    "hanging",
    "wall mounted",
    "crème brûlée",
    "café",
];

const QUALIFIERS: &[&str] = &[
    "led",
    "usb",
    "glass",
    "wooden",
    "steel",
    "cotton",
    "linen",
    "leather",
    "velvet",
    "marble",
    "copper",
    "neon",
    "solar",
    "memory foam",
    "sunset",
    "cloud",
    "crystal",
    "pet",
    "baby",
    "kitchen",
    "car",
    "desk",
    "travel",
    "gym",
    "yoga",
    "camping",
    "garden",
    "bathroom",
    "phone",
    "laptop",
    "coffee",
    "makeup",
    "hair",
    "skincare",
    "shower",
    "bed",
    "closet",
    "fridge",
    "dog",
    "cat",
];

const NOUNS: &[&str] = &[
    "lamp",
    "mug",
    "bottle",
    "blender",
    "projector",
    "humidifier",
    "organizer",
    "pillow",
    "blanket",
    "massager",
    "speaker",
    "charger",
    "stand",
    "holder",
    "mirror",
    "scale",
    "brush",
    "diffuser",
    "tumbler",
    "backpack",
    "wallet",
    "ring light",
    "tripod",
    "fan",
    "heater",
    "rug",
    "planter",
    "grinder",
    "kettle",
    "pan",
    "strip lights",
    "night light",
    "slippers",
    "hoodie",
    "earbuds",
    "keyboard",
    "mouse pad",
    "cutting board",
    "spice rack",
    "shelf",
    "clock",
    "frame",
    "candle",
    "vacuum",
    "mop",
    "jar",
    "bowl",
    "tray",
    "hook",
    "case",
];

const SYLLABLES: &[&str] = &[
    "lu", "mi", "zo", "ka", "ve", "tri", "no", "glo", "pix", "ra", "sy", "qu", "bel", "dor", "fin",
    "ex", "ol", "ta",
];

const PLACES: &[&str] = &[
    "bedroom", "kitchen", "office", "car", "travel", "kids", "dogs", "cats", "camping", "gym",
];

const NEGATIVE: &[&str] = &[
    "repair",
    "tutorial",
    "recall",
    "broken",
    "diy",
    "review scam",
];

/// What captions are made of, besides product mentions.
const CAPTION_WORDS: &[&str] = &[
    "omg",
    "this",
    "is",
    "the",
    "best",
    "thing",
    "I",
    "ever",
    "bought",
    "so",
    "obsessed",
    "with",
    "my",
    "new",
    "you",
    "need",
    "it",
    "honestly",
    "a",
    "game",
    "changer",
    "link",
    "in",
    "bio",
    "love",
    "how",
    "cute",
    "look",
    "at",
    "perfect",
    "for",
    "gift",
    "ideas",
    "morning",
    "routine",
    "haul",
    "unboxing",
    "review",
    "worth",
    "every",
    "penny",
    "finally",
    "got",
    "our",
    "home",
    "decor",
    "vibes",
    "what",
    "do",
    "think",
    "comment",
    "below",
    "follow",
    "more",
    "finds",
    "under",
    "$20",
    "wait",
    "til",
    "end",
    "literally",
    "can't",
    "believe",
    "price",
    "and",
    "to",
    "of",
    "it's",
    "day",
    "week",
    "shop",
    "sale",
    "today",
    "only",
    "free",
    "shipping",
    "must",
    "have",
    "POV:",
    "when",
    "your",
    "mom",
    "asks",
    "where",
    "from",
    "🔥",
    "✨",
    "😍",
    "🙌",
    "!!",
    "...",
    "lol",
    "fr",
    "tbh",
    "#ad",
    "save",
    "later",
    "part",
    "2",
    "small",
    "business",
    "check",
    "out",
    "amazing",
    "quality",
    "cheap",
    "lamp",
    "cup",
    "light",
    "room",
    "clean",
    "tidy",
    "setup",
    "desk",
    "tour",
];

const TAGS: &[&str] = &[
    "#fyp",
    "#foryou",
    "#viral",
    "#tiktokmademebuyit",
    "#amazonfinds",
    "#homedecor",
    "#musthave",
    "#gadgets",
    "#kitchenhacks",
    "#unboxing",
    "#haul",
    "#giftideas",
    "#cleantok",
    "#roomdecor",
    "#aesthetic",
    "#smallbusiness",
    "#deal",
    "#trending",
    "#lifehacks",
    "#techtok",
    "#DeskSetup",
    "#MorningRoutine",
];

fn brand(rng: &mut Rng) -> String {
    (0..2 + rng.below(2))
        .map(|_| *rng.pick(SYLLABLES))
        .collect()
}

/// `n` products with distinct names.
fn products(n: usize, rng: &mut Rng) -> Vec<ProductTerms> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let noun = *rng.pick(NOUNS);
        let name = match rng.below(3) {
            0 => format!("{} {noun}", rng.pick(QUALIFIERS)),
            1 => format!("{} {} {noun}", rng.pick(ADJECTIVES), rng.pick(QUALIFIERS)),
            _ => format!(
                "{} {} {} {noun}",
                brand(rng),
                rng.pick(ADJECTIVES),
                rng.pick(QUALIFIERS)
            ),
        };
        if !names.insert(name.clone()) {
            continue;
        }
        let mut terms = vec![name.clone()];
        for _ in 0..1 + rng.below(3) {
            terms.push(match rng.below(3) {
                0 => format!("{} {noun}", rng.pick(QUALIFIERS)),
                1 => format!("{noun} for {}", rng.pick(PLACES)),
                _ => brand(rng),
            });
        }
        terms.push(format!("#{}", name.replace(' ', "")));
        let negative = if rng.chance(0.3) {
            vec![format!("{noun} {}", rng.pick(NEGATIVE))]
        } else {
            Vec::new()
        };
        out.push(ProductTerms {
            product_id: 1 + out.len() as i64,
            terms,
            negative,
        });
    }
    out
}

/// Captions of 10-40 words with 0-5 hashtags; `mention` of them name a product
/// (its name or a keyword, sometimes with other case or punctuation, often with
/// its hashtag).
fn observations(
    n: usize,
    products: &[ProductTerms],
    mention: f64,
    rng: &mut Rng,
) -> Vec<(String, Vec<String>)> {
    (0..n)
        .map(|_| {
            let words = 10 + rng.below(31);
            let mut text: Vec<String> = (0..words)
                .map(|_| (*rng.pick(CAPTION_WORDS)).to_owned())
                .collect();
            let mut tags: Vec<String> = (0..rng.below(6))
                .map(|_| (*rng.pick(TAGS)).to_owned())
                .collect();
            if rng.chance(mention) {
                let p = rng.pick(products);
                let keywords = &p.terms[..p.terms.len() - 1];
                let mut term = rng.pick(keywords).clone();
                match rng.below(4) {
                    0 => term = term.to_uppercase(),
                    1 => term = term.replace(' ', "-") + "!!",
                    _ => {}
                }
                let at = rng.below(text.len());
                text.insert(at, term);
                if rng.chance(0.5) {
                    tags.push(p.terms[p.terms.len() - 1].clone());
                }
            }
            (text.join(" "), tags)
        })
        .collect()
}

fn matching(c: &mut Criterion) {
    let mut rng = Rng(7);
    let products = products(10_000, &mut rng);
    let obs = observations(10_000, &products, 0.10, &mut rng);

    let mut group = c.benchmark_group("matching");
    group.sample_size(10);
    group.bench_function("build_10k_products", |b| {
        b.iter(|| Matcher::new(black_box(&products)))
    });

    let matcher = Matcher::new(&products);
    let matched = obs
        .iter()
        .filter(|(t, h)| !matcher.products_in(t, h).is_empty())
        .count();
    let found: Vec<Vec<i64>> = obs.iter().map(|(t, h)| matcher.products_in(t, h)).collect();
    eprintln!(
        "matching: {} of {} observations match a product (fingerprint {:016x})",
        matched,
        obs.len(),
        fingerprint(&format!("{found:?}"))
    );
    group.sample_size(30);
    group.throughput(Throughput::Elements(obs.len() as u64));
    group.bench_function("observations_10k_products", |b| {
        b.iter(|| {
            let mut hits = 0;
            for (text, tags) in &obs {
                hits += matcher.products_in(black_box(text), black_box(tags)).len();
            }
            hits
        })
    });
    group.finish();
}

// ---------------------------------------------------------------- scoring

const LAST_DAY: i64 = 20_400;
const PLATFORMS: &[&str] = &["tiktok", "instagram", "youtube", "x", "reddit", "facebook"];
const COUNTRIES: &[&str] = &["US", "GB", "DE", "FR", "BR", "JP", "IN", "CA", "AU", "ES"];

/// One product's contents over the 150-day window: a base rate of new posts
/// (0.2 to 20 a day), a first sighting that is sometimes recent, and for one
/// product in five a take-off in the last weeks. Each post is sighted 1-4
/// times on following days, with growing metrics; one content in twenty is
/// an ad.
fn product_contents<'a>(authors: &'a [String], rng: &mut Rng) -> Vec<ContentHistory<'a>> {
    let start = LAST_DAY - WINDOW_DAYS as i64 + 1;
    let base = 0.2 * 100f64.powf(rng.unit());
    let born = if rng.chance(0.25) {
        30 + rng.below(110)
    } else {
        0
    };
    let takeoff = rng
        .chance(0.2)
        .then(|| (110 + rng.below(35), 2.0 + 8.0 * rng.unit()));
    let platforms = &PLATFORMS[..1 + rng.below(4)];
    let countries = &COUNTRIES[rng.below(4)..][..1 + rng.below(6)];
    let creators = 20 + rng.below(200);
    let mut out = Vec::new();
    for day in born..WINDOW_DAYS {
        let weekday = if day % 7 >= 5 { 1.25 } else { 0.9 };
        let boost = match takeoff {
            Some((from, peak)) if day >= from => {
                1.0 + (peak - 1.0) * ((day - from) as f64 / 10.0).min(1.0)
            }
            _ => 1.0,
        };
        for _ in 0..rng.poisson(base * weekday * boost) {
            let platform = *rng.pick(platforms);
            let ad = rng.chance(0.05);
            let views = platform != "reddit";
            let reach = 100.0 * 1000f64.powf(rng.unit());
            let sightings = 1 + rng.below(4);
            let first = (start + day as i64) * DAY_MS + rng.below(DAY_MS as usize) as i64;
            let snapshots = (0..sightings)
                .map(|k| {
                    let seen = reach * (1.0 + k as f64);
                    Snapshot {
                        at_ms: first + k as i64 * DAY_MS,
                        metrics: Metrics {
                            views: views.then_some(seen as i64),
                            impressions: None,
                            likes: Some((seen * 0.05) as i64),
                            comments: Some((seen * 0.004) as i64),
                            shares: Some((seen * 0.002) as i64),
                        },
                    }
                })
                .collect();
            out.push(ContentHistory {
                platform,
                kind: if ad { "ad" } else { "video" },
                author: Some(authors[rng.below(creators)].as_str()),
                country: Some(*rng.pick(countries)),
                published_at_ms: Some(first),
                snapshots,
            });
        }
    }
    out
}

/// The reports as text, field by field: a fingerprint that does not depend on
/// how the report types are laid out, so results compare across versions.
fn canonical(r: &marketscout::engine::trend::TrendReport) -> String {
    let mut s = format!(
        "{} {} {:?} {:?} {:?} {} ",
        r.day, r.score, r.stage, r.reason, r.change_7d_pct, r.attention_7d
    );
    for c in &r.components {
        s += &format!("{} {} {} {:?};", c.name, c.points, c.max, c.detail);
    }
    for d in &r.history {
        s += &format!(
            "{} {} {} {:?} {:?};",
            d.day,
            d.attention,
            d.score,
            d.stage,
            d.points.to_vec()
        );
    }
    s += &format!(
        "{:?} {:?} {:?} {:?}",
        r.platforms, r.countries, r.regions, r.forecast
    );
    s
}

/// Norms as a refresh learns them: some platforms known, others at the default.
fn norms() -> Norms {
    Norms {
        by_platform: [("tiktok", 0.052), ("instagram", 0.031), ("youtube", 0.044)]
            .into_iter()
            .map(|(p, r)| (p.to_owned(), r))
            .collect(),
    }
}

/// Products whose reports are benchmarked; a refresh of 100,000 products is
/// timed as this pool evaluated 100 times over.
const POOL: usize = 1_000;

fn scoring(c: &mut Criterion) {
    let authors: Vec<String> = (0..220).map(|i| format!("creator{i}")).collect();
    let mut rng = Rng(11);
    let contents: Vec<Vec<ContentHistory<'_>>> = (0..POOL)
        .map(|_| product_contents(&authors, &mut rng))
        .collect();
    let days: Vec<ProductDays> = contents
        .iter()
        .map(|c| product_days(c, LAST_DAY, WINDOW_DAYS))
        .collect();
    let posts: usize = contents.iter().map(Vec::len).sum();
    eprintln!(
        "scoring: {POOL} products, {:.1} contents each on average",
        posts as f64 / POOL as f64
    );
    let norms = norms();
    let reports: Vec<_> = days.iter().map(|d| evaluate(d, &norms)).collect();
    eprintln!(
        "scoring: reports fingerprint {:016x}",
        fingerprint(&reports.iter().map(canonical).collect::<String>())
    );
    // A typical product with a take-off: several platforms and countries.
    let one = days
        .iter()
        .find(|d| d.by_platform.len() >= 3 && d.by_country.len() >= 3 && d.mentions[149] > 3.0)
        .expect("the pool holds a busy product");

    let mut group = c.benchmark_group("scoring");
    group.bench_function("evaluate_one_product_150_days", |b| {
        b.iter(|| evaluate(black_box(one), &norms))
    });

    group.sample_size(20);
    group.throughput(Throughput::Elements(POOL as u64));
    group.bench_function("evaluate_1k_products", |b| {
        b.iter(|| {
            days.iter()
                .map(|d| evaluate(black_box(d), &norms).score)
                .sum::<f64>()
        })
    });
    group.bench_function("product_days_and_evaluate_1k_products", |b| {
        b.iter(|| {
            contents
                .iter()
                .map(|c| evaluate(&product_days(black_box(c), LAST_DAY, WINDOW_DAYS), &norms).score)
                .sum::<f64>()
        })
    });
    group.finish();

    // The full refresh: 100,000 reports, on one core and on two.
    let mut group = c.benchmark_group("refresh_100k");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(100_000));
    for threads in [1usize, 2] {
        group.bench_with_input(
            BenchmarkId::new("evaluate", format!("{threads}_threads")),
            &threads,
            |b, &threads| {
                b.iter(|| {
                    let per_thread = 100_000 / threads;
                    std::thread::scope(|s| {
                        let workers: Vec<_> = (0..threads)
                            .map(|_| {
                                s.spawn(|| {
                                    days.iter()
                                        .cycle()
                                        .take(per_thread)
                                        .map(|d| evaluate(d, &norms).score)
                                        .sum::<f64>()
                                })
                            })
                            .collect();
                        workers
                            .into_iter()
                            .map(|w| w.join().expect("no panic"))
                            .sum::<f64>()
                    })
                })
            },
        );
    }
    group.finish();
}

// ---------------------------------------------------------------- detection and forecast

/// A year of a product's daily attention: a weekly cycle, noise, and a take-off.
fn year(rng: &mut Rng) -> Vec<f64> {
    (0..365)
        .map(|t| {
            let weekday = if t % 7 >= 5 { 1.3 } else { 0.9 };
            let boost = if t < 300 {
                1.0
            } else {
                1.0 + 9.0 * ((t - 300) as f64 / 20.0).min(1.0)
            };
            (200.0 * weekday * boost * (0.6 + 0.8 * rng.unit())).round()
        })
        .collect()
}

fn series(c: &mut Criterion) {
    let x = year(&mut Rng(3));
    eprintln!(
        "series: detect and forecast fingerprint {:016x}",
        fingerprint(&format!(
            "{:?}{:?}",
            detect_with_floor(&x, FLOOR),
            forecast(&x)
        ))
    );
    let mut group = c.benchmark_group("series_365_days");
    group.bench_function("detect", |b| {
        b.iter(|| detect_with_floor(black_box(&x), FLOOR))
    });
    group.bench_function("forecast", |b| b.iter(|| forecast(black_box(&x))));
    group.finish();
}

criterion_group!(benches, matching, scoring, series);
criterion_main!(benches);
