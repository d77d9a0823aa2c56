//! The dashboard's pages: each handler reads the visit and its query, asks the
//! store, and fills a template.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::session::{Admin, Member, Visit};
use super::{PageError, render};
use crate::api::auth::{Taken, UserCreate};
use crate::api::extract::{FromBody, Source};
use crate::app::AppState;
use crate::auth::password::{self, Verified};
use crate::charts::{self, Band, Bar, Series, compact};
use crate::error::ApiError;
use crate::store::{AdFilter, StoreError, TrendingFilter};
use crate::time::now_ms;

type PageResult = Result<Response, PageError>;

pub(super) fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// Where to go after logging in: a path of ours, never another site.
fn safe_next(next: Option<&String>) -> String {
    match next {
        Some(n) if n.starts_with("/app") && !n.starts_with("//") && !n.contains("://") => n.clone(),
        _ => "/app".into(),
    }
}

/// An id from a page's path: anything but a number is a page that does not exist.
pub(super) fn page_id(id: &str) -> Result<i64, PageError> {
    id.parse().map_err(|_| PageError::NotFound)
}

/// A form counts only with this browser's CSRF token in it.
pub(super) fn check_form(visit: &Visit, form: &HashMap<String, String>) -> Result<(), PageError> {
    if visit.csrf_ok(form.get("csrf").map(String::as_str)) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

// ------------------------------------------------------------------ landing

#[derive(Template)]
#[template(path = "landing.html")]
pub struct Landing {
    pub user: Option<String>,
    pub csrf: String,
}

// --------------------------------------------------------------- accounts

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    user: Option<String>,
    csrf: String,
    username: String,
    email: String,
    errors: HashMap<String, String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    user: Option<String>,
    csrf: String,
    login: String,
    next: String,
    error: Option<String>,
}

impl SignupPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }
}

pub async fn signup_form(visit: Visit) -> Response {
    let page = SignupPage {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
        username: String::new(),
        email: String::new(),
        errors: HashMap::new(),
    };
    visit.finish(render(StatusCode::OK, &page))
}

/// The form's fields as the API's validation reads a JSON body.
fn fields_of(form: &HashMap<String, String>, names: &[&str]) -> Map<String, Value> {
    names
        .iter()
        .filter_map(|n| {
            form.get(*n)
                .map(|v| ((*n).to_owned(), Value::String(v.clone())))
        })
        .collect()
}

pub async fn signup(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&visit, &form)?;
    let map = fields_of(&form, &["username", "email", "password"]);
    let mut fields = crate::api::extract::Fields::new(Source::Body, &map);
    let parsed = UserCreate::from_fields(&mut fields);
    let mut page = SignupPage {
        user: None,
        csrf: visit.csrf.clone(),
        username: form.get("username").cloned().unwrap_or_default(),
        email: form.get("email").cloned().unwrap_or_default(),
        errors: HashMap::new(),
    };
    let input = match fields.finish(parsed) {
        Ok(input) => input,
        Err(ApiError::Validation(errors)) => {
            for e in errors {
                let field = e
                    .loc
                    .get(1)
                    .and_then(Value::as_str)
                    .unwrap_or("form")
                    .to_owned();
                page.errors.entry(field).or_insert(e.msg);
            }
            return Ok(visit.finish(render(StatusCode::UNPROCESSABLE_ENTITY, &page)));
        }
        Err(e) => return Err(e.into()),
    };
    let user = match crate::api::auth::create_account(&state, input).await? {
        Ok(user) => user,
        Err(taken) => {
            let (field, message) = match taken {
                Taken::Email => ("email", "Email already registered"),
                Taken::Username => ("username", "Username already taken"),
            };
            page.errors.insert(field.into(), message.into());
            return Ok(visit.finish(render(StatusCode::BAD_REQUEST, &page)));
        }
    };
    start_session(&state, &visit, user.id, &user.username, "/app")
}

fn start_session(
    state: &AppState,
    visit: &Visit,
    user_id: i64,
    username: &str,
    next: &str,
) -> PageResult {
    let ttl = state.keys.refresh_ttl;
    let (token, _) = state
        .keys
        .issue(user_id, username, (now_ms() / 1000) as u64, ttl)
        .map_err(PageError::Internal)?;
    let mut response = visit.finish(redirect(next));
    let cookie = visit.session_cookie(&token, ttl.as_secs());
    response.headers_mut().append(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| PageError::Internal(e.into()))?,
    );
    Ok(response)
}

pub async fn login_form(visit: Visit, Query(q): Query<HashMap<String, String>>) -> Response {
    if visit.user.is_some() {
        return redirect(&safe_next(q.get("next")));
    }
    let page = LoginPage {
        user: None,
        csrf: visit.csrf.clone(),
        login: String::new(),
        next: safe_next(q.get("next")),
        error: None,
    };
    visit.finish(render(StatusCode::OK, &page))
}

pub async fn login(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&visit, &form)?;
    let login = form
        .get("username")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let next = safe_next(form.get("next"));
    let password = form.get("password").cloned().unwrap_or_default();
    let failed = |message: &str| LoginPage {
        user: None,
        csrf: visit.csrf.clone(),
        login: login.clone(),
        next: next.clone(),
        error: Some(message.to_owned()),
    };
    if login.is_empty() || password.is_empty() || login.len() > 320 || password.len() > 1024 {
        let page = failed("Enter your username (or email) and your password.");
        return Ok(visit.finish(render(StatusCode::UNPROCESSABLE_ENTITY, &page)));
    }
    let user = state.store.user_by_login(&login).await?;
    let stored = user.as_ref().map_or_else(
        || password::dummy_hash().to_owned(),
        |u| u.hashed_password.clone(),
    );
    let verified = tokio::task::spawn_blocking(move || password::verify(&password, &stored))
        .await
        .map_err(|e| PageError::Internal(e.into()))?;
    match (user, verified) {
        (Some(user), Verified::Yes | Verified::YesRehash) => {
            tracing::info!(user_id = user.id, "logged in to the dashboard");
            start_session(&state, &visit, user.id, &user.username, &next)
        }
        _ => {
            let page = failed("Incorrect username or password.");
            Ok(visit.finish(render(StatusCode::UNAUTHORIZED, &page)))
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    visit: Visit,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&visit, &form)?;
    if let Some(current) = &visit.user {
        state
            .store
            .revoke_session(
                current.user.id,
                &current.jti,
                (current.token_expires_at as i64) * 1000,
                None,
                now_ms(),
            )
            .await?;
    }
    let mut response = redirect("/");
    let cookie = visit.cleared_session_cookie();
    response.headers_mut().append(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| PageError::Internal(e.into()))?,
    );
    Ok(response)
}

// --------------------------------------------------------------- overview

/// One product in a ranked table.
pub struct Row {
    pub id: i64,
    pub name: String,
    pub score: String,
    pub stage: String,
    pub change: String,
    /// `up`, `down` or `flat`: the change's colour class.
    pub direction: &'static str,
    pub spark: String,
}

pub(super) fn change_text(change: Option<f64>) -> (String, &'static str) {
    match change {
        Some(c) if c > 0.5 => (format!("+{c:.0}%"), "up"),
        Some(c) if c < -0.5 => (format!("{c:.0}%"), "down"),
        Some(_) => ("0%".into(), "flat"),
        None => ("–".into(), "flat"),
    }
}

async fn rows(
    state: &AppState,
    ranked: Vec<crate::store::TrendingRow>,
    sparks: bool,
) -> Result<Vec<Row>, PageError> {
    let mut out = Vec::with_capacity(ranked.len());
    for r in ranked {
        let spark = if sparks {
            let history = match state.store.trend_report(r.product.id).await?.report {
                Some((json, _)) => serde_json::from_str::<crate::refresh::StoredReport>(&json)
                    .map(|rep| rep.history.attention)
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            let last = &history[history.len().saturating_sub(30)..];
            charts::sparkline(
                &format!("{}: attention over the last 30 days", r.product.name),
                last,
            )
        } else {
            String::new()
        };
        let (change, direction) = change_text(r.change_7d);
        out.push(Row {
            id: r.product.id,
            name: r.product.name,
            score: format!("{:.0}", r.score),
            stage: r.stage.unwrap_or_else(|| "dormant".into()),
            change,
            direction,
            spark,
        });
    }
    Ok(out)
}

pub struct AdCard {
    pub product_id: i64,
    pub product_name: String,
    pub platform: String,
    pub text: String,
    pub country: String,
    pub score: i64,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    user: Option<String>,
    csrf: String,
    admin: bool,
    empty: bool,
    trending: Vec<Row>,
    ads: Vec<AdCard>,
    watched: usize,
    /// The newest unread alerts, and how many are unread in all.
    alerts: Vec<super::alerts::AlertItem>,
    unread: i64,
    stream_after: i64,
}

pub async fn overview(
    State(state): State<AppState>,
    Member {
        visit,
        user: current,
    }: Member,
) -> PageResult {
    let ranked = state
        .store
        .trending(&TrendingFilter {
            limit: 10,
            stage: None,
            platform: None,
            region: None,
            active_since: None,
        })
        .await?;
    let empty = ranked.is_empty() && state.store.list_products(0, 1).await?.is_empty();
    let ads = state
        .store
        .top_ads(&AdFilter {
            min_score: 0,
            limit: 6,
            platform: None,
            country: None,
            since: None,
        })
        .await?
        .into_iter()
        .map(|a| AdCard {
            product_id: a.product_id,
            product_name: a.product_name,
            platform: a.platform,
            text: a.ad_content.chars().take(160).collect(),
            country: a.country.unwrap_or_default(),
            score: a.engagement_score,
        })
        .collect();
    let watched = state.store.watchlist(current.user.id).await?.len();
    let stream_after = state.store.last_alert_id(current.user.id).await?;
    let unread_alerts = state
        .store
        .alerts(
            current.user.id,
            &crate::store::AlertFilter {
                unread_only: true,
                limit: 5,
                ..Default::default()
            },
        )
        .await?;
    let page = Overview {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
        admin: current.user.admin(),
        empty,
        trending: rows(&state, ranked, true).await?,
        ads,
        watched,
        alerts: super::alerts::alert_items(unread_alerts),
        unread: state.store.unread_alert_count(current.user.id).await?,
        stream_after,
    };
    Ok(visit.finish(render(StatusCode::OK, &page)))
}

/// Demo products on the first run: small enough to load in a few seconds.
const DEMO_PRODUCTS: usize = 60;
const DEMO_DAYS: usize = 120;

pub async fn load_demo(
    State(state): State<AppState>,
    Member {
        visit,
        user: current,
    }: Member,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&visit, &form)?;
    // Anyone may fill an empty database; once products exist, only an administrator.
    let empty = state.store.list_products(0, 1).await?.is_empty();
    if !empty && !current.user.admin() {
        return Err(PageError::Forbidden);
    }
    if !state.store.has_demo().await? {
        crate::demo::load(&state.store, DEMO_PRODUCTS, DEMO_DAYS, 7, |_, _| {})
            .await
            .map_err(PageError::Internal)?;
    }
    Ok(redirect("/app"))
}

// ------------------------------------------------------------------ trends

#[derive(Template)]
#[template(path = "trends.html")]
struct Trends {
    user: Option<String>,
    csrf: String,
    rows: Vec<Row>,
    q: String,
    stage: String,
    platform: String,
    region: String,
    window: String,
    sort: String,
    page: usize,
    pages: usize,
    total: usize,
    prev_link: Option<String>,
    next_link: Option<String>,
    /// The same table as CSV: the same filters, search and sort.
    csv_link: String,
    stages: &'static [&'static str],
    platforms: &'static [&'static str],
    regions: &'static [&'static str],
}

const PAGE_SIZE: usize = 25;
const STAGES: &[&str] = &crate::refresh::STAGES;
const PLATFORMS: &[&str] = &["tiktok", "instagram", "facebook", "youtube", "x", "reddit"];

/// The trends explorer's filters, search and sort, as the URL gives them
/// (anything not allowed is ignored, never an error).
struct TrendQuery {
    stage: String,
    platform: String,
    region: String,
    window: String,
    sort: String,
    text: String,
}

impl TrendQuery {
    fn from(q: &HashMap<String, String>) -> Self {
        let pick = |name: &str, allowed: &[&str]| {
            q.get(name)
                .filter(|v| allowed.contains(&v.as_str()))
                .cloned()
                .unwrap_or_default()
        };
        TrendQuery {
            stage: pick("stage", STAGES),
            platform: pick("platform", PLATFORMS),
            region: pick("region", &crate::engine::geo::REGIONS),
            window: pick("window", &["1", "7", "30", "90"]),
            sort: pick("sort", &["score", "change", "name"]),
            text: q.get("q").map(|s| s.trim().to_owned()).unwrap_or_default(),
        }
    }

    /// The query string that reproduces these choices (empty ones left out).
    fn pairs(&self) -> url::form_urlencoded::Serializer<'static, String> {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &self.text),
            ("stage", &self.stage),
            ("platform", &self.platform),
            ("region", &self.region),
            ("window", &self.window),
            ("sort", &self.sort),
        ] {
            if !v.is_empty() {
                pairs.append_pair(k, v);
            }
        }
        pairs
    }

    /// Every product ranked for the filters, shared by every page, search and
    /// sort of them through the data-versioned cache.
    async fn ranking(
        &self,
        state: &AppState,
    ) -> Result<std::sync::Arc<Vec<crate::store::TrendingRow>>, PageError> {
        let today = crate::engine::attention::day_of(now_ms());
        let key = format!(
            "web:trending:{}:{}:{}:{}:{today}",
            self.stage, self.platform, self.region, self.window
        );
        let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        let (stage, platform, region) =
            (some(&self.stage), some(&self.platform), some(&self.region));
        let active_since = self
            .window
            .parse::<i64>()
            .ok()
            .map(|d| (today - d + 1) * crate::engine::attention::DAY_MS);
        Ok(state
            .caches
            .value(state.stamp(), key, async {
                state
                    .store
                    .trending(&TrendingFilter {
                        limit: 5_000,
                        stage: stage.as_deref(),
                        platform: platform.as_deref(),
                        region: region.as_deref(),
                        active_since,
                    })
                    .await
            })
            .await?)
    }

    /// `all`, searched and sorted.
    fn apply<'a>(
        &self,
        all: &'a [crate::store::TrendingRow],
    ) -> Vec<&'a crate::store::TrendingRow> {
        let mut ranked: Vec<&crate::store::TrendingRow> = all.iter().collect();
        if !self.text.is_empty() {
            let needle = self.text.to_lowercase();
            ranked.retain(|r| r.product.name.to_lowercase().contains(&needle));
        }
        match self.sort.as_str() {
            "change" => ranked.sort_by(|a, b| {
                b.change_7d
                    .unwrap_or(f64::MIN)
                    .total_cmp(&a.change_7d.unwrap_or(f64::MIN))
            }),
            "name" => ranked.sort_by_cached_key(|r| r.product.name.to_lowercase()),
            _ => {}
        }
        ranked
    }
}

pub async fn trends(
    State(state): State<AppState>,
    Member { visit, .. }: Member,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let query = TrendQuery::from(&q);
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let all = query.ranking(&state).await?;
    let ranked = query.apply(&all);
    let total = ranked.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.min(pages);
    let shown: Vec<_> = ranked
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .cloned()
        .collect();
    let link = |p: usize| {
        let mut pairs = query.pairs();
        pairs.append_pair("page", &p.to_string());
        format!("/app/trends?{}", pairs.finish())
    };
    let (prev_link, next_link) = (
        (page > 1).then(|| link(page - 1)),
        (page < pages).then(|| link(page + 1)),
    );
    let csv_link = format!("/app/trends.csv?{}", query.pairs().finish());
    let TrendQuery {
        stage,
        platform,
        region,
        window,
        sort,
        text,
    } = query;
    let page_view = Trends {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
        rows: rows(&state, shown, false).await?,
        prev_link,
        next_link,
        csv_link,
        q: text,
        stage,
        platform,
        region,
        window,
        sort,
        page,
        pages,
        total,
        stages: STAGES,
        platforms: PLATFORMS,
        regions: &crate::engine::geo::REGIONS,
    };
    Ok(visit.finish(render(StatusCode::OK, &page_view)))
}

// ----------------------------------------------------------------- product

pub struct PlaceRow {
    pub place: String,
    pub interest: i64,
    pub attention: String,
}

pub struct DayRow {
    pub date: String,
    pub attention: String,
    pub score: String,
    pub stage: String,
}

#[derive(Template)]
#[template(path = "product.html")]
struct ProductPage {
    user: Option<String>,
    csrf: String,
    id: i64,
    name: String,
    description: String,
    is_demo: bool,
    score: String,
    stage: String,
    reason: String,
    change: String,
    direction: &'static str,
    forecast_text: String,
    attention_chart: String,
    world: String,
    components_chart: String,
    platforms_chart: String,
    regions: Vec<PlaceRow>,
    countries: Vec<PlaceRow>,
    recent: Vec<DayRow>,
    ads: Vec<AdCard>,
    /// All of the product's ads, of which `ads` are the most viral.
    ads_total: i64,
    terms: Vec<(String, String)>,
    watching: bool,
}

/// Ads shown on a product's page: its most viral ones.
const PRODUCT_ADS: i64 = 12;

pub async fn product(
    State(state): State<AppState>,
    Member {
        visit,
        user: current,
    }: Member,
    Path(id): Path<String>,
) -> PageResult {
    let id = page_id(&id)?;
    let trend = crate::api::products::trend(&state, id).await?;
    let product = state.store.product(id).await?;
    let r = &trend.report;
    let h = &r.history;
    let attention_chart = charts::history_with_forecast(
        &format!(
            "Attention to {} by day, with the 14-day forecast",
            product.name
        ),
        &Series {
            dates: &h.dates,
            values: &h.attention,
        },
        r.forecast
            .as_ref()
            .map(|f| Band {
                dates: &f.dates,
                value: &f.value,
                lower: &f.lower,
                upper: &f.upper,
            })
            .as_ref(),
    );
    let components_chart = charts::bars(
        "Score components, in points",
        &r.components
            .iter()
            .map(|c| Bar {
                label: c.name.clone(),
                value: c.points,
                max: c.max,
                detail: c.detail.clone(),
            })
            .collect::<Vec<_>>(),
    );
    let platforms_chart = charts::bars(
        "Share of the last 7 days' attention by platform, in percent",
        &r.platforms
            .iter()
            .map(|p| Bar {
                label: p.platform.clone(),
                value: p.share,
                max: 100.0,
                detail: format!("{} engagement units in 7 days", compact(p.attention_7d)),
            })
            .collect::<Vec<_>>(),
    );
    let world = charts::world_map(
        &format!("Interest in {} by country, 0-100", product.name),
        &r.countries
            .iter()
            .map(|p| (p.place.clone(), p.interest))
            .collect(),
    );
    let places = |list: &[crate::refresh::StoredPlace]| {
        list.iter()
            .map(|p| PlaceRow {
                place: p.place.clone(),
                interest: p.interest,
                attention: compact(p.attention),
            })
            .collect::<Vec<_>>()
    };
    let recent = (0..h.dates.len())
        .rev()
        .take(14)
        .map(|i| DayRow {
            date: h.dates[i].clone(),
            attention: compact(h.attention.get(i).copied().unwrap_or(0.0)),
            score: format!("{:.0}", h.score.get(i).copied().unwrap_or(0.0)),
            stage: h.stage.get(i).cloned().unwrap_or_default(),
        })
        .collect();
    let (ads, ads_total) = state.store.ads_for_product(id, PRODUCT_ADS).await?;
    let ads = ads
        .into_iter()
        .map(|a| AdCard {
            product_id: id,
            product_name: product.name.clone(),
            platform: a.platform,
            text: a.ad_content.chars().take(200).collect(),
            country: String::new(),
            score: a.engagement_score,
        })
        .collect();
    let t = &product.terms;
    let join = |v: &[String]| v.join(", ");
    let terms = vec![
        ("Keywords".to_owned(), join(&t.keywords)),
        ("Aliases".to_owned(), join(&t.aliases)),
        (
            "Hashtags".to_owned(),
            t.hashtags
                .iter()
                .map(|h| format!("#{h}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("Negative keywords".to_owned(), join(&t.negative_keywords)),
    ];
    let watching = state
        .store
        .watchlist(current.user.id)
        .await?
        .iter()
        .any(|e| e.product_id == id);
    let (change, direction) = change_text(r.change_7d_pct);
    let forecast_text = match &r.forecast {
        Some(f) => format!(
            "If the last week's level holds: the next 7 days {:+.0}% against the last 7, \
             the next 14 days {:+.0}% against the last 14.",
            f.growth_7d_pct, f.growth_14d_pct
        ),
        None => "Not enough history for a forecast yet (it needs 28 days).".into(),
    };
    let page = ProductPage {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
        id,
        name: product.name.clone(),
        description: product.description.clone(),
        is_demo: product.is_demo,
        score: format!("{:.0}", r.score),
        stage: r.stage.clone(),
        reason: r.reason.clone(),
        change,
        direction,
        forecast_text,
        attention_chart,
        world,
        components_chart,
        platforms_chart,
        regions: places(&r.regions),
        countries: places(&r.countries).into_iter().take(15).collect(),
        recent,
        ads,
        ads_total,
        terms,
        watching,
    };
    Ok(visit.finish(render(StatusCode::OK, &page)))
}

async fn watch_change(
    state: &AppState,
    member: &Member,
    id: &str,
    form: &HashMap<String, String>,
    on: bool,
) -> PageResult {
    check_form(&member.visit, form)?;
    let id = page_id(id)?;
    let user_id = member.user.user.id;
    if on {
        match state.store.watch(user_id, id, now_ms()).await {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    } else if let Some(entry) = state
        .store
        .watchlist(user_id)
        .await?
        .into_iter()
        .find(|e| e.product_id == id)
    {
        state.store.unwatch(user_id, entry.id).await?;
    }
    match form.get("back").filter(|b| *b == "/app/watchlist") {
        Some(back) => Ok(redirect(back)),
        None => Ok(redirect(&format!("/app/products/{id}"))),
    }
}

pub async fn watch(
    State(state): State<AppState>,
    member: Member,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    watch_change(&state, &member, &id, &form, true).await
}

pub async fn unwatch(
    State(state): State<AppState>,
    member: Member,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    watch_change(&state, &member, &id, &form, false).await
}

// ---------------------------------------------------------------- heat map

/// One product's interest in each region, in the order of [`REGIONS`](crate::engine::geo::REGIONS).
pub struct MatrixRow {
    pub id: i64,
    pub name: String,
    pub cells: Vec<(i64, &'static str)>,
}

#[derive(Template)]
#[template(path = "heat_map.html")]
struct HeatMapPage {
    user: Option<String>,
    csrf: String,
    /// The product shown, or 0 for all tracked products.
    chosen: i64,
    title: String,
    products: Vec<(i64, String)>,
    world: String,
    countries: Vec<PlaceRow>,
    regions: &'static [&'static str],
    matrix: Vec<MatrixRow>,
}

/// Products in the matrix and the product list.
const HEAT_PRODUCTS: i64 = 25;

pub async fn heat_map(
    State(state): State<AppState>,
    Member { visit, .. }: Member,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let chosen: i64 = q.get("product").and_then(|p| p.parse().ok()).unwrap_or(0);
    let regions = &crate::engine::geo::REGIONS;
    let by_region = state
        .caches
        .value(
            state.stamp(),
            "web:places:region".into(),
            state.store.places("region", None, HEAT_PRODUCTS),
        )
        .await?;
    let by_region = by_region.as_ref().clone();
    let mut matrix: Vec<MatrixRow> = Vec::new();
    for row in by_region {
        if matrix.last().is_none_or(|m| m.id != row.product_id) {
            matrix.push(MatrixRow {
                id: row.product_id,
                name: row.product_name.clone(),
                cells: vec![(0, "heat-0"); regions.len()],
            });
        }
        if let (Some(m), Some(i)) = (
            matrix.last_mut(),
            regions.iter().position(|r| *r == row.place),
        ) {
            m.cells[i] = (row.interest, charts::heat_class(row.interest));
        }
    }
    let mut products: Vec<(i64, String)> = matrix.iter().map(|m| (m.id, m.name.clone())).collect();
    let (title, interest) = if chosen > 0 {
        let product = state.store.product(chosen).await?;
        // A product outside the hottest few (linked from its own page) is
        // still the one the picker shows as chosen.
        if !products.iter().any(|(id, _)| *id == chosen) {
            products.insert(0, (chosen, product.name.clone()));
        }
        let rows = state.store.places("country", Some(chosen), 1).await?;
        (
            format!("Interest in {} by country, 0-100", product.name),
            rows.into_iter()
                .map(|r| (r.place, r.interest))
                .collect::<HashMap<_, _>>(),
        )
    } else {
        // All tracked products: each country's mean interest over the
        // products shown, scaled so the hottest country is 100.
        let rows = state
            .caches
            .value(
                state.stamp(),
                "web:places:country".into(),
                state.store.places("country", None, HEAT_PRODUCTS),
            )
            .await?;
        let rows = rows.as_ref().clone();
        let shown = rows
            .iter()
            .map(|r| r.product_id)
            .collect::<std::collections::HashSet<_>>()
            .len()
            .max(1);
        let mut sums: HashMap<String, f64> = HashMap::new();
        for r in rows {
            *sums.entry(r.place).or_default() += r.interest as f64 / shown as f64;
        }
        let top = sums.values().copied().fold(0.0, f64::max).max(1e-9);
        (
            "Interest across the tracked products by country, 0-100".to_owned(),
            sums.into_iter()
                .map(|(k, v)| (k, (v / top * 100.0).round() as i64))
                .collect(),
        )
    };
    let mut countries: Vec<PlaceRow> = interest
        .iter()
        .map(|(place, v)| PlaceRow {
            place: place.clone(),
            interest: *v,
            attention: String::new(),
        })
        .collect();
    countries.sort_by(|a, b| {
        b.interest
            .cmp(&a.interest)
            .then_with(|| a.place.cmp(&b.place))
    });
    let page = HeatMapPage {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
        chosen,
        world: charts::world_map(&title, &interest),
        title,
        products,
        countries,
        regions,
        matrix,
    };
    Ok(visit.finish(render(StatusCode::OK, &page)))
}

// --------------------------------------------------------------------- ads

#[derive(Template)]
#[template(path = "ads.html")]
struct AdsPage {
    user: Option<String>,
    csrf: String,
    ads: Vec<AdCard>,
    platform: String,
    country: String,
    min_score: String,
    sort: String,
    platforms: &'static [&'static str],
}

/// The brief's ad platforms, as `/scan-ads` names them.
const AD_PLATFORMS: &[&str] = crate::api::ads::PLATFORMS;

pub async fn ads(
    State(state): State<AppState>,
    Member { visit, .. }: Member,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let platform = q
        .get("platform")
        .filter(|p| AD_PLATFORMS.contains(&p.as_str()))
        .cloned()
        .unwrap_or_default();
    let country = q
        .get("country")
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| crate::engine::geo::region_of(c).is_some())
        .unwrap_or_default();
    let min_score: i64 = q
        .get("min_score")
        .and_then(|m| m.parse().ok())
        .filter(|m| (0..=100).contains(m))
        .unwrap_or(0);
    let sort = match q.get("sort").map(String::as_str) {
        Some("newest") => "newest",
        _ => "score",
    };
    let mut rows = state
        .store
        .top_ads(&AdFilter {
            min_score,
            limit: 60,
            platform: (!platform.is_empty()).then_some(platform.as_str()),
            country: (!country.is_empty()).then_some(country.as_str()),
            since: None,
        })
        .await?;
    if sort == "newest" {
        rows.sort_by_key(|a| std::cmp::Reverse(a.created_at));
    }
    let page = AdsPage {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
        ads: rows
            .into_iter()
            .map(|a| AdCard {
                product_id: a.product_id,
                product_name: a.product_name,
                platform: a.platform,
                text: a.ad_content.chars().take(240).collect(),
                country: a.country.unwrap_or_default(),
                score: a.engagement_score,
            })
            .collect(),
        platform,
        country,
        min_score: if min_score > 0 {
            min_score.to_string()
        } else {
            String::new()
        },
        sort: sort.to_owned(),
        platforms: AD_PLATFORMS,
    };
    Ok(visit.finish(render(StatusCode::OK, &page)))
}

// ----------------------------------------------------------------- exports

/// The brief's CSV exports (`watchlist`, `trends`) for the logged-in user.
pub async fn export(
    State(state): State<AppState>,
    Member { user: current, .. }: Member,
    Path(kind): Path<String>,
) -> PageResult {
    let kind = kind.strip_suffix(".csv").unwrap_or(&kind);
    Ok(crate::api::export::export_csv(&state, current.user.id, kind).await?)
}

/// The trends explorer's table as CSV, in the brief's trends columns.
pub async fn trends_csv(
    State(state): State<AppState>,
    _: Member,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let query = TrendQuery::from(&q);
    let all = query.ranking(&state).await?;
    let ranked = query.apply(&all);
    let body = crate::api::export::write_csv(
        crate::api::export::TRENDS_HEADER,
        ranked.into_iter().map(|r| {
            vec![
                r.product.id.to_string(),
                r.product.name.clone(),
                format!("{:.1}", r.score),
                crate::time::csv_time(r.calculated_at),
            ]
        }),
    )?;
    Ok(crate::api::export::csv_download(
        "trending_export.csv",
        body,
    ))
}

// ------------------------------------------------------- sources and scans

pub struct SourceRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub query: String,
    pub every: String,
    pub status: String,
    pub last_scan: String,
}

#[derive(Template)]
#[template(path = "sources.html")]
struct SourcesPage {
    user: Option<String>,
    csrf: String,
    sources: Vec<SourceRow>,
    scans: Vec<ScanView>,
}

pub struct ScanView {
    pub id: i64,
    pub source: String,
    pub status: String,
    pub running: bool,
    pub trigger: String,
    pub pages: i64,
    pub max_pages: i64,
    pub items: i64,
    pub accepted: i64,
    pub duplicates: i64,
    pub skipped: i64,
    pub refreshed: i64,
    pub started: String,
    pub took: String,
    pub errors: Vec<String>,
}

fn scan_view(scan: crate::store::sources::Scan, max_pages: i64) -> ScanView {
    let took = match (scan.started_at, scan.finished_at) {
        (Some(a), Some(b)) => format!("{:.1} s", (b - a) as f64 / 1000.0),
        (Some(_), None) => "running".into(),
        _ => "–".into(),
    };
    ScanView {
        id: scan.id,
        source: scan.source_name,
        status: scan.status.as_str().to_owned(),
        running: scan.status == crate::store::sources::ScanStatus::Running,
        trigger: scan.trigger,
        pages: scan.pages,
        max_pages: max_pages.max(scan.pages).max(1),
        items: scan.items,
        accepted: scan.accepted,
        duplicates: scan.duplicates,
        skipped: scan.skipped,
        refreshed: scan.products_refreshed,
        started: shown_time(scan.started_at.unwrap_or(scan.created_at)),
        took,
        errors: scan
            .errors
            .into_iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect(),
    }
}

/// A time as the dashboard shows it: `2026-12-06 09:43 UTC`.
pub(super) fn shown_time(ms: i64) -> String {
    crate::time::iso(ms)[..16].replace('T', " ") + " UTC"
}

pub async fn sources(State(state): State<AppState>, Admin { visit, .. }: Admin) -> PageResult {
    let now = now_ms();
    let recent = state.store.scans(None, 20).await?;
    // The newest scan of each source among the recent ones (newest first).
    let mut last_status: HashMap<i64, crate::store::sources::ScanStatus> = HashMap::new();
    for s in &recent {
        last_status.entry(s.source_id).or_insert(s.status);
    }
    let sources = state
        .store
        .sources()
        .await?
        .into_iter()
        .map(|s| SourceRow {
            id: s.id,
            kind: s.kind.to_string(),
            query: s.query.join(", "),
            every: format!(
                "every {} min{}",
                s.every_minutes,
                if s.enabled { "" } else { " (disabled)" }
            ),
            status: match (s.paused_until, &s.pause_reason) {
                (Some(until), reason) if until > now => format!(
                    "paused until {}{}",
                    shown_time(until),
                    reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
                _ if !s.enabled => "disabled".into(),
                _ => match last_status.get(&s.id).map(|st| st.as_str()) {
                    Some(last @ ("failed" | "partial" | "abandoned")) => {
                        format!(
                            "ready; its last scan {}",
                            match last {
                                "failed" => "failed",
                                "partial" => "was partial",
                                _ => "was abandoned",
                            }
                        )
                    }
                    _ => "ready".into(),
                },
            },
            last_scan: s.last_scan_at.map_or("never".into(), shown_time),
            name: s.name,
        })
        .collect();
    let scans = recent.into_iter().map(|s| scan_view(s, 0)).collect();
    let page = SourcesPage {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
        sources,
        scans,
    };
    Ok(visit.finish(render(StatusCode::OK, &page)))
}

pub async fn start_scan(
    State(state): State<AppState>,
    Admin { visit, .. }: Admin,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&visit, &form)?;
    let id = page_id(&id)?;
    state.store.source(id).await?;
    let Some(claimed) = state
        .scanner
        .claim(id, "manual")
        .await
        .map_err(PageError::from)?
    else {
        // Already running: show that scan.
        let running = state
            .store
            .scans(Some(id), 1)
            .await?
            .into_iter()
            .next()
            .map(|s| s.id);
        return Ok(redirect(
            &running.map_or("/app/sources".into(), |s| format!("/app/scans/{s}")),
        ));
    };
    let scan_id = claimed.scan_id;
    let scanner = state.scanner.clone();
    tokio::spawn(async move {
        if let Err(e) = scanner.run(claimed, |_| {}).await {
            tracing::error!(scan = scan_id, "scan failed to record: {e}");
        }
    });
    Ok(redirect(&format!("/app/scans/{scan_id}")))
}

#[derive(Template)]
#[template(path = "scan.html")]
struct ScanPage {
    user: Option<String>,
    csrf: String,
    scan: ScanView,
}

async fn scan_of(state: &AppState, id: &str) -> Result<ScanView, PageError> {
    let id = page_id(id)?;
    let scan = state.store.scan(id).await?;
    let max_pages = state
        .store
        .source(scan.source_id)
        .await
        .map_or(0, |s| s.max_pages);
    Ok(scan_view(scan, max_pages))
}

pub async fn scan(
    State(state): State<AppState>,
    Admin { visit, .. }: Admin,
    Path(id): Path<String>,
) -> PageResult {
    let page = ScanPage {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
        scan: scan_of(&state, &id).await?,
    };
    Ok(visit.finish(render(StatusCode::OK, &page)))
}

/// A scan's progress for the page's script, which polls it while it runs.
pub async fn scan_progress(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> PageResult {
    let s = scan_of(&state, &id).await?;
    Ok(axum::Json(serde_json::json!({
        "status": s.status, "running": s.running, "pages": s.pages, "max_pages": s.max_pages,
        "items": s.items, "accepted": s.accepted, "duplicates": s.duplicates, "skipped": s.skipped,
        "refreshed": s.refreshed, "took": s.took, "errors": s.errors,
    }))
    .into_response())
}

// -------------------------------------------------------------- discoveries

#[derive(Template)]
#[template(path = "discover.html")]
struct DiscoverPage {
    user: Option<String>,
    csrf: String,
    terms: Vec<crate::api::discover::DiscoveryOut>,
}

pub async fn discover(State(state): State<AppState>, Member { visit, .. }: Member) -> PageResult {
    let found = crate::api::discover::discoveries(&state, 30).await?;
    let page = DiscoverPage {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
        terms: found.discoveries,
    };
    Ok(visit.finish(render(StatusCode::OK, &page)))
}

pub async fn track(
    State(state): State<AppState>,
    Member { visit, .. }: Member,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&visit, &form)?;
    let term = form.get("term").map(|t| t.trim()).unwrap_or_default();
    if term.is_empty() || term.len() > 100 {
        return Err(PageError::NotFound);
    }
    // Tracked already (a second click, another tab): show the product that tracks it.
    if let Some(id) = crate::api::discover::product_tracking(&state, term).await? {
        return Ok(redirect(&format!("/app/products/{id}")));
    }
    match crate::api::discover::track_term(&state, term, None, None).await {
        Ok(product) => Ok(redirect(&format!("/app/products/{}", product.id))),
        Err(ApiError::Validation(_)) => Err(PageError::NotFound),
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------------------ edit terms

#[derive(Template)]
#[template(path = "terms.html")]
struct TermsPage {
    user: Option<String>,
    csrf: String,
    id: i64,
    name: String,
    /// (field, label, value as typed, error)
    fields: Vec<(&'static str, &'static str, String, Option<String>)>,
}

const TERM_FIELDS: [(&str, &str); 4] = [
    ("keywords", "Keywords"),
    ("aliases", "Aliases"),
    ("hashtags", "Hashtags"),
    (
        "negative_keywords",
        "Negative keywords (content naming one of these is about something else)",
    ),
];

pub async fn terms_form(
    State(state): State<AppState>,
    Member { visit, .. }: Member,
    Path(id): Path<String>,
) -> PageResult {
    let id = page_id(&id)?;
    let product = state.store.product(id).await?;
    let t = &product.terms;
    let values = [&t.keywords, &t.aliases, &t.hashtags, &t.negative_keywords];
    let page = TermsPage {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
        id,
        name: product.name.clone(),
        fields: TERM_FIELDS
            .iter()
            .zip(values)
            .map(|((field, label), v)| (*field, *label, v.join(", "), None))
            .collect(),
    };
    Ok(visit.finish(render(StatusCode::OK, &page)))
}

pub async fn save_terms(
    State(state): State<AppState>,
    Member { visit, .. }: Member,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&visit, &form)?;
    let id = page_id(&id)?;
    let product = state.store.product(id).await?;
    // Comma-separated in the form, lists in the API: the same validation then.
    let map: Map<String, Value> = TERM_FIELDS
        .iter()
        .map(|(field, _)| {
            let list: Vec<Value> = form
                .get(*field)
                .map(String::as_str)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| Value::String(t.to_owned()))
                .collect();
            ((*field).to_owned(), Value::Array(list))
        })
        .collect();
    let mut fields = crate::api::extract::Fields::new(Source::Body, &map);
    let parsed = crate::api::products::ProductUpdate::from_fields(&mut fields);
    let input = match fields.finish(parsed) {
        Ok(input) => input,
        Err(ApiError::Validation(errors)) => {
            let mut by_field: HashMap<String, String> = HashMap::new();
            for e in errors {
                let field = e
                    .loc
                    .get(1)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                by_field.entry(field).or_insert(e.msg);
            }
            let page = TermsPage {
                user: visit.username().map(str::to_owned),
                csrf: visit.csrf.clone(),
                id,
                name: product.name,
                fields: TERM_FIELDS
                    .iter()
                    .map(|(field, label)| {
                        (
                            *field,
                            *label,
                            form.get(*field).cloned().unwrap_or_default(),
                            by_field.get(*field).cloned(),
                        )
                    })
                    .collect(),
            };
            return Ok(visit.finish(render(StatusCode::UNPROCESSABLE_ENTITY, &page)));
        }
        Err(e) => return Err(e.into()),
    };
    let patch = crate::store::ProductPatch {
        name: None,
        description: None,
        keywords: input.keywords,
        aliases: input.aliases,
        hashtags: input.hashtags,
        negative_keywords: input.negative_keywords,
    };
    state.store.update_product(id, &patch).await?;
    // The history is matched again in the background, as after the API's PATCH.
    state.rematch.notify_one();
    Ok(redirect(&format!("/app/products/{id}")))
}
