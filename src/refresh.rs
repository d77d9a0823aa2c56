//! Keeping trend reports current. This layer carries data between storage and
//! the pure engine: it matches changed products' history again, refreshes the
//! products an ingest touched, and refreshes everything on a schedule. The
//! brief's endpoints then read precomputed results and never rescan raw
//! observations per request.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;

use crate::engine::attention::{
    ContentHistory, DAY_MS, Daily, Metrics, Snapshot, day_of, product_days,
};

use crate::engine::matching::Matcher;
use crate::engine::trend::{
    COMPONENTS, Component, Norms, PlaceInterest, PlatformShare, TrendReport, WINDOW_DAYS,
    engagement_norms, evaluate,
};
use crate::engine::viral::{ViralInput, median, viral_score};
use crate::store::{
    ContentToMatch, Millis, ProductRefresh, RefreshInput, ScoreRecord, Store, StoreError,
    StoreResult, TermsVersion, observation_platform,
};

/// Products refreshed per read and write: bounds memory and transaction size.
const PRODUCTS_PER_BATCH: usize = 250;
/// Contents read per page while re-matching history.
const CONTENTS_PER_PAGE: i64 = 5_000;
/// Days over which platforms' norms are learned.
const NORM_DAYS: i64 = 28;

/// The matcher over every product's terms, rebuilt only when terms change.
#[derive(Default)]
pub struct MatcherCache {
    current: Mutex<Option<(TermsVersion, Arc<Matcher>)>>,
}

impl MatcherCache {
    pub async fn get(&self, store: &Store) -> StoreResult<Arc<Matcher>> {
        let version = store.terms_version().await?;
        let mut current = self.current.lock().await;
        if let Some((v, m)) = current.as_ref()
            && *v == version
        {
            return Ok(m.clone());
        }
        let (version, terms) = store.all_product_terms().await?;
        let matcher = Arc::new(
            tokio::task::spawn_blocking(move || Matcher::new(&terms))
                .await
                .expect("building the matcher does not panic"),
        );
        *current = Some((version, matcher.clone()));
        Ok(matcher)
    }
}

/// The report as stored and served: today's figures in full, the history as
/// columns (compact: 90 days of a product fit in a few kilobytes).
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StoredReport {
    pub day: String,
    pub score: f64,
    pub stage: String,
    pub reason: String,
    pub components: Vec<StoredComponent>,
    pub change_7d_pct: Option<f64>,
    pub attention_7d: f64,
    pub history: StoredHistory,
    pub platforms: Vec<StoredPlatform>,
    pub countries: Vec<StoredPlace>,
    pub regions: Vec<StoredPlace>,
    /// The next 14 days' attention, with an 80% interval calibrated on real
    /// series (docs/SCORING.md, "Forecast"); null with under 28 days of history.
    pub forecast: Option<StoredForecast>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StoredForecast {
    pub dates: Vec<String>,
    pub value: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// Forecast of the next 7 days against the last 7, in percent.
    pub growth_7d_pct: f64,
    /// Forecast of the next 14 days against the last 14, in percent.
    pub growth_14d_pct: f64,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StoredComponent {
    pub name: String,
    pub points: f64,
    pub max: f64,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StoredHistory {
    pub dates: Vec<String>,
    pub attention: Vec<f64>,
    pub score: Vec<f64>,
    pub stage: Vec<String>,
    /// Component name -> points per day.
    pub components: BTreeMap<String, Vec<f64>>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StoredPlatform {
    pub platform: String,
    pub attention_7d: f64,
    pub share: f64,
    pub change_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StoredPlace {
    pub place: String,
    pub attention: f64,
    pub interest: i64,
}

fn date(day: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(day * DAY_MS)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

fn component(c: &Component) -> StoredComponent {
    StoredComponent {
        name: c.name.to_owned(),
        points: c.points,
        max: c.max,
        detail: c.detail.clone(),
    }
}

fn place(p: &PlaceInterest) -> StoredPlace {
    StoredPlace {
        place: p.place.clone(),
        attention: p.attention,
        interest: p.interest,
    }
}

fn platform(p: &PlatformShare) -> StoredPlatform {
    StoredPlatform {
        platform: p.platform.clone(),
        attention_7d: p.attention_7d,
        share: p.share,
        change_pct: p.change_pct,
    }
}

pub fn stored(report: &TrendReport) -> StoredReport {
    let mut history = StoredHistory::default();
    for d in &report.history {
        history.dates.push(date(d.day));
        history.attention.push(d.attention);
        history.score.push(d.score);
        history.stage.push(d.stage.as_str().to_owned());
        for (name, points) in COMPONENTS.iter().zip(d.points) {
            history
                .components
                .entry((*name).to_owned())
                .or_default()
                .push(points);
        }
    }
    StoredReport {
        day: date(report.day),
        score: report.score,
        stage: report.stage.as_str().to_owned(),
        reason: report.reason.clone(),
        components: report.components.iter().map(component).collect(),
        change_7d_pct: report.change_7d_pct,
        attention_7d: report.attention_7d,
        history,
        platforms: report.platforms.iter().map(platform).collect(),
        countries: report.countries.iter().map(place).collect(),
        regions: report.regions.iter().map(place).collect(),
        forecast: report.forecast.as_ref().map(|f| {
            let r = |x: f64| {
                if x.is_finite() {
                    (x * 10.0).round() / 10.0
                } else {
                    0.0
                }
            };
            StoredForecast {
                dates: f
                    .points
                    .iter()
                    .map(|p| date(report.day + i64::from(p.days_ahead)))
                    .collect(),
                value: f.points.iter().map(|p| r(p.value)).collect(),
                lower: f.points.iter().map(|p| r(p.lower)).collect(),
                upper: f.points.iter().map(|p| r(p.upper)).collect(),
                growth_7d_pct: r(f.growth_7d_pct),
                growth_14d_pct: r(f.growth_14d_pct),
            }
        }),
    }
}

/// Per-platform totals a full refresh learns norms from.
#[derive(Debug, Default)]
struct Learned {
    /// platform -> (interactions, views) over the last `NORM_DAYS` days.
    engagement: HashMap<String, (f64, f64)>,
    /// platform -> growth per day of each observed ad.
    ad_growth: HashMap<String, Vec<f64>>,
}

impl Learned {
    fn absorb(&mut self, other: Learned) {
        for (p, (i, v)) in other.engagement {
            let e = self.engagement.entry(p).or_default();
            e.0 += i;
            e.1 += v;
        }
        for (p, g) in other.ad_growth {
            self.ad_growth.entry(p).or_default().extend(g);
        }
    }
}

/// Turns one batch's stored data into reports and ad scores. Pure CPU work.
fn compute(
    products: &[i64],
    input: &RefreshInput,
    norms: &Norms,
    ad_medians: &HashMap<String, f64>,
    today: i64,
    learned: &mut Learned,
) -> (Vec<ProductRefresh>, Vec<(i64, i64)>) {
    let results = reports(products, input, norms, today, learned);
    (results, ad_scores(input, ad_medians, today, learned))
}

/// [`compute`] on every core: the reports split in halves over two threads
/// (a refresh is CPU-bound and the server has no other work on that thread).
fn compute_parallel(
    products: &[i64],
    input: &RefreshInput,
    norms: &Norms,
    ad_medians: &HashMap<String, f64>,
    today: i64,
    learned: &mut Learned,
) -> (Vec<ProductRefresh>, Vec<(i64, i64)>) {
    let (first, second) = products.split_at(products.len().div_ceil(2));
    let (mut results, other, other_learned) = std::thread::scope(|scope| {
        let half = scope.spawn(|| {
            let mut learned = Learned::default();
            let r = reports(second, input, norms, today, &mut learned);
            (r, learned)
        });
        let mine = reports(first, input, norms, today, learned);
        let (other, other_learned) = half.join().expect("the trend engine does not panic");
        (mine, other, other_learned)
    });
    results.extend(other);
    learned.absorb(other_learned);
    (results, ad_scores(input, ad_medians, today, learned))
}

/// The reports of `products`.
fn reports(
    products: &[i64],
    input: &RefreshInput,
    norms: &Norms,
    today: i64,
    learned: &mut Learned,
) -> Vec<ProductRefresh> {
    let no_links = Vec::new();
    let no_ads = Vec::new();
    let brief_platforms: HashMap<i64, Vec<String>> = input
        .brief_ads
        .iter()
        .map(|(p, ads)| {
            (
                *p,
                ads.iter()
                    .map(|a| observation_platform(&a.platform))
                    .collect(),
            )
        })
        .collect();
    let mut results = Vec::with_capacity(products.len());
    for &id in products {
        let links = input.links.get(&id).unwrap_or(&no_links);
        let mut contents: Vec<ContentHistory<'_>> = links
            .iter()
            .filter_map(|c| input.contents.get(c))
            .map(|c| ContentHistory {
                platform: &c.platform,
                kind: &c.kind,
                author: c.author.as_deref(),
                country: c.country.as_deref(),
                published_at_ms: c.published_at,
                snapshots: c.snapshots.clone(),
            })
            .collect();
        let brief = input.brief_ads.get(&id).unwrap_or(&no_ads);
        let platforms = brief_platforms.get(&id);
        for (i, ad) in brief.iter().enumerate() {
            // A brief ad is one sighting whose engagement score stands for its likes.
            contents.push(ContentHistory {
                platform: platforms.map(|p| p[i].as_str()).unwrap_or("other"),
                kind: "ad",
                author: None,
                country: ad.country.as_deref(),
                published_at_ms: Some(ad.created_at),
                snapshots: vec![Snapshot {
                    at_ms: ad.created_at,
                    metrics: Metrics {
                        likes: Some(ad.engagement_score),
                        ..Metrics::default()
                    },
                }],
            });
        }
        let days = product_days(&contents, today, WINDOW_DAYS);
        let from = days.days().saturating_sub(NORM_DAYS as usize);
        for (platform, d) in &days.by_platform {
            let e = learned.engagement.entry(platform.clone()).or_default();
            e.0 += d.interactions[from..].iter().sum::<f64>();
            e.1 += d.views[from..].iter().sum::<f64>();
        }
        let report = evaluate(&days, norms);
        let active = days.total.units.iter().rposition(|v| *v > 0.0);
        let report_json =
            serde_json::to_string(&stored(&report)).expect("a report always serialises");
        results.push(ProductRefresh {
            product_id: id,
            active_at: active.map(|i| (days.start + i as i64) * DAY_MS),
            report,
            report_json,
        });
    }
    results
}

/// The viral scores of the observed ads in `input`.
fn ad_scores(
    input: &RefreshInput,
    ad_medians: &HashMap<String, f64>,
    today: i64,
    learned: &mut Learned,
) -> Vec<(i64, i64)> {
    let week_start = today - 6;
    let mut growth: Vec<(i64, &str, f64, Millis)> = Vec::new();
    for ad in &input.observed_ads {
        let Some(c) = input.contents.get(&ad.content_id) else {
            continue;
        };
        let mut daily = Daily::new(7);
        daily.add(week_start, &c.snapshots);
        let per_day = daily.units.iter().sum::<f64>() / 7.0;
        learned
            .ad_growth
            .entry(c.platform.clone())
            .or_default()
            .push(per_day);
        growth.push((ad.id, &c.platform, per_day, ad.running_since));
    }
    let batch_medians: HashMap<&str, f64> = {
        let mut by: HashMap<&str, Vec<f64>> = HashMap::new();
        for (_, p, g, _) in &growth {
            by.entry(p).or_default().push(*g);
        }
        by.into_iter().map(|(p, v)| (p, median(v))).collect()
    };
    let now = (today + 1) * DAY_MS;
    growth
        .iter()
        .map(|(id, platform, per_day, since)| {
            let typical = ad_medians
                .get(*platform)
                .or_else(|| batch_medians.get(platform))
                .copied()
                .unwrap_or(0.0);
            let score = viral_score(ViralInput {
                growth_per_day: *per_day,
                platform_median: typical,
                days_running: (now - since) as f64 / DAY_MS as f64,
            });
            (*id, score)
        })
        .collect()
}

/// One batch refreshes at a time in this process: a batch reads, computes and
/// writes, so two overlapping refreshes of one product (a scheduled one and an
/// ingest's) could otherwise land the older reading last.
static REFRESH_LOCK: Mutex<()> = Mutex::const_new(());

/// What a refresh did.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct RefreshSummary {
    pub products: usize,
    pub ads: usize,
    pub millis: u128,
}

/// Refreshes the given products as of `now`. With `learn`, also learns each
/// platform's norms from them (a full refresh passes every product).
pub async fn refresh_products(
    store: &Store,
    products: &[i64],
    now: Millis,
    learn: bool,
) -> StoreResult<RefreshSummary> {
    let started = Instant::now();
    let today = day_of(now);
    let since = (today - WINDOW_DAYS as i64 + 1) * DAY_MS;
    let (norms, ad_medians) = store.platform_norms().await?;
    let (norms, ad_medians) = (Arc::new(norms), Arc::new(ad_medians));
    let mut summary = RefreshSummary::default();
    let mut learned_all = Learned::default();
    for batch in products.chunks(PRODUCTS_PER_BATCH) {
        let _turn = REFRESH_LOCK.lock().await;
        let input = store.refresh_input(batch, since).await?;
        let batch = batch.to_vec();
        let (norms, ad_medians) = (norms.clone(), ad_medians.clone());
        let (results, ad_scores, learned, input) = tokio::task::spawn_blocking(move || {
            let mut learned = Learned::default();
            let (r, a) = compute_parallel(&batch, &input, &norms, &ad_medians, today, &mut learned);
            (r, a, learned, input)
        })
        .await
        .expect("the trend engine does not panic");
        store
            .write_refresh(&results, &ad_scores, &input.previous_scores, false, now)
            .await?;
        summary.products += results.len();
        summary.ads += ad_scores.len();
        learned_all.absorb(learned);
    }
    if learn {
        let norms = engagement_norms(
            learned_all
                .engagement
                .iter()
                .map(|(p, (i, v))| (p.as_str(), *i, *v)),
        );
        let mut platforms: Vec<&String> = learned_all
            .engagement
            .keys()
            .chain(learned_all.ad_growth.keys())
            .collect();
        platforms.sort();
        platforms.dedup();
        let rows: Vec<(String, f64, f64, f64)> = platforms
            .into_iter()
            .map(|p| {
                let views = learned_all.engagement.get(p).map_or(0.0, |e| e.1);
                let growth = learned_all
                    .ad_growth
                    .get(p)
                    .map_or(0.0, |g| median(g.clone()));
                (
                    p.clone(),
                    norms.by_platform.get(p).copied().unwrap_or(0.0),
                    views,
                    growth,
                )
            })
            .collect();
        store.save_platform_norms(&rows, now).await?;
    }
    evaluate_alerts(store, now).await;
    summary.millis = started.elapsed().as_millis();
    Ok(summary)
}

/// Refreshes one product now and records its score in its history whether or
/// not it moved (what `/calculate-score` promises).
pub async fn refresh_one(
    store: &Store,
    product: i64,
    now: Millis,
) -> StoreResult<(TrendReport, ScoreRecord)> {
    let today = day_of(now);
    let since = (today - WINDOW_DAYS as i64 + 1) * DAY_MS;
    let (norms, ad_medians) = store.platform_norms().await?;
    let _turn = REFRESH_LOCK.lock().await;
    let input = store.refresh_input(&[product], since).await?;
    if !input.previous_scores.contains_key(&product) {
        return Err(StoreError::NotFound("product"));
    }
    let mut learned = Learned::default();
    let (mut results, ad_scores) =
        compute(&[product], &input, &norms, &ad_medians, today, &mut learned);
    store
        .write_refresh(&results, &ad_scores, &input.previous_scores, true, now)
        .await?;
    evaluate_alerts(store, now).await;
    let record = store.latest_score_record(product).await?;
    let report = results
        .pop()
        .expect("one product in, one report out")
        .report;
    Ok((report, record))
}

/// Raises the alerts the refresh's new scores call for. A failure is logged,
/// not returned: the scores are stored, and the products stay marked for the
/// next evaluation, so nothing is lost.
async fn evaluate_alerts(store: &Store, now: Millis) {
    match store.evaluate_alerts(now).await {
        Ok(e) if !e.alerts.is_empty() => tracing::info!(
            alerts = e.alerts.len(),
            deliveries = e.deliveries,
            watches = e.watches,
            "raised alerts"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "evaluating alerts failed; the next refresh retries"),
    }
}

/// Refreshes every product.
pub async fn refresh_all(store: &Store, now: Millis) -> StoreResult<RefreshSummary> {
    let ids = store.product_ids().await?;
    refresh_products(store, &ids, now, true).await
}

/// Matches the whole history again for products whose terms changed, then
/// refreshes them. Answers the products re-matched.
pub async fn rematch_pending(store: &Store, now: Millis) -> StoreResult<Vec<i64>> {
    let pending = store.products_pending_rematch().await?;
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<(i64, i64)> = pending.iter().map(|(t, v)| (t.product_id, *v)).collect();
    let terms: Vec<_> = pending.into_iter().map(|(t, _)| t).collect();
    let matcher = Matcher::new(&terms);
    let mut matched: Vec<ContentToMatch> = Vec::new();
    let mut after = 0;
    loop {
        let page = store.contents_page(after, CONTENTS_PER_PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        matched.extend(page.into_iter().filter(|c| {
            !matcher
                .products_in(c.text.as_deref().unwrap_or(""), &c.hashtags)
                .is_empty()
        }));
    }
    store.replace_links(&ids, &matcher, &matched, after).await?;
    let products: Vec<i64> = ids.iter().map(|(id, _)| *id).collect();
    refresh_products(store, &products, now, false).await?;
    store.finish_rematch(&ids).await?;
    Ok(products)
}

/// The background work of a server: re-matching when terms change (woken by
/// `wake`) and a full refresh every `every`.
pub async fn run_scheduler(
    store: Store,
    every: Duration,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    let mut next_full = Instant::now();
    loop {
        let now = crate::time::now_ms();
        match rematch_pending(&store, now).await {
            Ok(ids) if !ids.is_empty() => {
                tracing::info!(
                    products = ids.len(),
                    "re-matched history after a change of terms"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "re-matching failed; will retry"),
        }
        if Instant::now() >= next_full {
            match store
                .claim_schedule("full_refresh", now, every.as_millis() as i64)
                .await
            {
                Ok(true) => match refresh_all(&store, now).await {
                    Ok(s) => tracing::info!(
                        products = s.products,
                        ads = s.ads,
                        millis = s.millis as u64,
                        "refreshed trend scores"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "the scheduled refresh failed; will retry")
                    }
                },
                Ok(false) => tracing::debug!("another instance ran this period's full refresh"),
                Err(e) => tracing::warn!(error = %e, "the scheduled refresh failed; will retry"),
            }
            next_full = Instant::now() + every;
        }
        let until = next_full.saturating_duration_since(Instant::now());
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {},
            _ = tokio::time::sleep(until) => {},
        }
    }
}

/// Stage names accepted by filters.
pub const STAGES: [&str; 7] = [
    "emerging",
    "rising",
    "exploding",
    "peaking",
    "saturated",
    "declining",
    "dormant",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredContent;

    #[test]
    fn reports_computed_on_two_cores_equal_those_on_one() {
        let today = 20_000;
        let mut input = RefreshInput::default();
        for product in 1..=7i64 {
            for k in 0..(product * 5) {
                let id = product * 1_000 + k;
                input.links.entry(product).or_default().push(id);
                input.contents.insert(
                    id,
                    StoredContent {
                        id,
                        platform: ["tiktok", "x"][(k % 2) as usize].to_owned(),
                        kind: "video".to_owned(),
                        author: Some(format!("a{k}")),
                        country: Some("US".to_owned()),
                        published_at: None,
                        snapshots: vec![Snapshot {
                            at_ms: (today - k % 40) * DAY_MS,
                            metrics: Metrics {
                                likes: Some(k * 10),
                                ..Metrics::default()
                            },
                        }],
                    },
                );
            }
        }
        let products: Vec<i64> = (1..=7).collect();
        let (norms, medians) = (Norms::default(), HashMap::new());
        let (mut one, mut two) = (Learned::default(), Learned::default());
        let (a, _) = compute(&products, &input, &norms, &medians, today, &mut one);
        let (b, _) = compute_parallel(&products, &input, &norms, &medians, today, &mut two);
        let key = |r: &Vec<ProductRefresh>| -> Vec<(i64, String)> {
            r.iter()
                .map(|p| (p.product_id, p.report_json.clone()))
                .collect()
        };
        assert_eq!(key(&a), key(&b));
        assert_eq!(one.engagement.len(), two.engagement.len());
    }
    use crate::engine::detect::Stage;

    #[test]
    fn filter_stages_are_the_engines_stages() {
        let engine = [
            Stage::Emerging,
            Stage::Rising,
            Stage::Exploding,
            Stage::Peaking,
            Stage::Saturated,
            Stage::Declining,
            Stage::Dormant,
        ]
        .map(Stage::as_str);
        assert_eq!(STAGES, engine);
    }
}
