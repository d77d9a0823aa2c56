//! The watchlist and its alert centre: watched products with their latest
//! movement and snooze, alerts (unread first, mark read, new ones arriving
//! live over server-sent events), and where alerts go (email, webhooks).
//! Also the unsubscribe link of alert emails, which needs no login.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::pages::{check_form, page_id, redirect, shown_time};
use super::session::{Member, Visit};
use super::{PageError, render};
use crate::api::alerts::{EMAIL_CHOICES, last_event_id, live_alerts};
use crate::api::webhooks::shown_url;
use crate::app::AppState;
use crate::charts;
use crate::notify::guard::check_url;
use crate::notify::webhook::{WebhookFormat, new_secret};
use crate::store::{AlertFilter, AlertRow};
use crate::time::{iso, now_ms};

type PageResult = Result<Response, PageError>;

/// Alerts shown on the watchlist page (the newest; the API pages through all).
/// Alerts per page of the alert centre (older ones on the next pages).
const ALERTS_SHOWN: i64 = 30;
const SNOOZE_HOURS: [(i64, &str); 3] = [(24, "a day"), (168, "a week"), (720, "30 days")];

/// One alert as the pages show it.
pub struct AlertItem {
    pub id: i64,
    pub product_id: i64,
    pub message: String,
    pub rule: &'static str,
    pub when: String,
    pub unread: bool,
}

/// What each rule is called on the page.
fn rule_label(rule: &str) -> &'static str {
    match rule {
        "score_threshold" => "Score level",
        "score_jump" => "Score jump",
        "stage_change" => "Stage",
        "viral_ad" => "Viral ad",
        "forecast_growth" => "Forecast",
        "new_country" => "New country",
        _ => "Alert",
    }
}

pub fn alert_items(rows: Vec<AlertRow>) -> Vec<AlertItem> {
    rows.into_iter()
        .map(|a| AlertItem {
            id: a.id,
            product_id: a.product_id,
            rule: rule_label(&a.rule),
            when: shown_time(a.created_at),
            unread: a.read_at.is_none(),
            message: a.message,
        })
        .collect()
}

pub struct WatchRow {
    pub watch_id: i64,
    pub row: super::pages::Row,
    /// "until 2026-12-05 10:00 UTC" while snoozed.
    pub snoozed: Option<String>,
}

pub struct HookRow {
    pub id: i64,
    pub url: String,
    pub format: String,
    pub pending: i64,
    pub failed: i64,
}

#[derive(Template)]
#[template(path = "watchlist.html")]
struct WatchlistPage {
    user: Option<String>,
    csrf: String,
    rows: Vec<WatchRow>,
    alerts: Vec<AlertItem>,
    unread: i64,
    /// Where the live stream starts: the newest alert when the page was read.
    stream_after: i64,
    /// The alert page shown (0: the newest), and the next one when there are more.
    alerts_page: i64,
    next_page: Option<i64>,
    email_alerts: String,
    email_choices: &'static [&'static str],
    smtp: bool,
    email: String,
    hooks: Vec<HookRow>,
    formats: &'static [&'static str],
    snooze_hours: &'static [(i64, &'static str)],
    /// Shown once, right after a webhook is added.
    new_secret: Option<String>,
    /// What was wrong with the webhook form, and what was typed.
    hook_error: Option<String>,
    hook_url: String,
}

/// What a form post wants shown on the page it comes back to.
#[derive(Default)]
struct Flash {
    /// Which page of alerts to show.
    alerts_page: i64,
    new_secret: Option<String>,
    hook_error: Option<String>,
    hook_url: String,
}

pub async fn watchlist(
    State(state): State<AppState>,
    member: Member,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let alerts_page = q
        .get("alerts_page")
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (0..10_000).contains(p))
        .unwrap_or(0);
    let flash = Flash {
        alerts_page,
        ..Default::default()
    };
    watchlist_page(&state, &member, StatusCode::OK, flash).await
}

async fn watchlist_page(
    state: &AppState,
    Member { visit, user }: &Member,
    status: StatusCode,
    flash: Flash,
) -> PageResult {
    let user_id = user.user.id;
    let now = now_ms();
    let mut rows = Vec::new();
    for watch in state.store.watchlist_overview(user_id).await? {
        let report = watch
            .report
            .as_deref()
            .and_then(|json| serde_json::from_str::<crate::refresh::StoredReport>(json).ok());
        let (change, direction) =
            super::pages::change_text(report.as_ref().and_then(|r| r.change_7d_pct));
        let attention = report
            .as_ref()
            .map(|r| r.history.attention.clone())
            .unwrap_or_default();
        rows.push(WatchRow {
            watch_id: watch.watch_id,
            snoozed: watch
                .snoozed_until
                .filter(|t| *t > now)
                .map(|t| format!("until {} UTC", iso(t)[..16].replace('T', " "))),
            row: super::pages::Row {
                id: watch.product_id,
                score: report
                    .as_ref()
                    .map_or("–".into(), |r| format!("{:.0}", r.score)),
                stage: report
                    .as_ref()
                    .map_or("dormant".into(), |r| r.stage.clone()),
                change,
                direction,
                spark: charts::sparkline(
                    &format!("{}: attention over the last 30 days", watch.product_name),
                    &attention[attention.len().saturating_sub(30)..],
                ),
                name: watch.product_name,
            },
        });
    }
    // Read before the list: an alert raised in between comes twice (the
    // script drops the repeat), never zero times.
    let stream_after = state.store.last_alert_id(user_id).await?;
    let alerts = state
        .store
        .alerts(
            user_id,
            &AlertFilter {
                // One more than shown says whether there is a next page.
                limit: ALERTS_SHOWN + 1,
                offset: flash.alerts_page * ALERTS_SHOWN,
                ..Default::default()
            },
        )
        .await?;
    let hooks = state
        .store
        .webhooks(user_id)
        .await?
        .into_iter()
        .map(|w| HookRow {
            id: w.id,
            url: shown_url(&w.url),
            format: w.format,
            pending: w.pending,
            failed: w.failed,
        })
        .collect();
    let page = WatchlistPage {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
        rows,
        next_page: (alerts.len() as i64 > ALERTS_SHOWN).then_some(flash.alerts_page + 1),
        alerts_page: flash.alerts_page,
        alerts: alert_items(alerts.into_iter().take(ALERTS_SHOWN as usize).collect()),
        unread: state.store.unread_alert_count(user_id).await?,
        stream_after,
        email_alerts: state.store.email_alerts(user_id).await?,
        email_choices: &EMAIL_CHOICES,
        smtp: state.config.notify.smtp.is_some(),
        email: user.user.email.clone(),
        hooks,
        formats: &WebhookFormat::NAMES,
        snooze_hours: &SNOOZE_HOURS,
        new_secret: flash.new_secret,
        hook_error: flash.hook_error,
        hook_url: flash.hook_url,
    };
    Ok(visit.finish(render(status, &page)))
}

fn back_to(fragment: &str) -> Response {
    redirect(&format!("/app/watchlist{fragment}"))
}

pub async fn read_alert(
    State(state): State<AppState>,
    member: Member,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&member.visit, &form)?;
    state
        .store
        .mark_alert_read(member.user.user.id, page_id(&id)?, now_ms())
        .await?;
    Ok(back_to("#alerts"))
}

pub async fn read_all(
    State(state): State<AppState>,
    member: Member,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&member.visit, &form)?;
    state
        .store
        .mark_all_alerts_read(member.user.user.id, now_ms())
        .await?;
    Ok(back_to("#alerts"))
}

/// Live alerts for the logged-in user (the pages' script listens to it).
/// Starts after `?after=` (the newest alert the page was rendered with, so
/// nothing raised between the render and the connection is missed), or after
/// `Last-Event-ID` when the browser reconnects.
pub async fn stream(
    State(state): State<AppState>,
    member: Member,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let after = last_event_id(&headers).or_else(|| {
        q.get("after")
            .and_then(|a| a.parse::<i64>().ok())
            .filter(|a| *a >= 0)
    });
    let sse = live_alerts(&state, &member.user, after).await?;
    Ok(sse.into_response())
}

pub async fn snooze(
    State(state): State<AppState>,
    member: Member,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&member.visit, &form)?;
    let hours: i64 = form
        .get("hours")
        .and_then(|h| h.parse().ok())
        .filter(|h| *h == 0 || SNOOZE_HOURS.iter().any(|(n, _)| n == h))
        .ok_or(PageError::BadRequest)?;
    let until = (hours > 0).then(|| now_ms() + hours * 3_600_000);
    state
        .store
        .snooze_watch(member.user.user.id, page_id(&id)?, until)
        .await?;
    Ok(back_to(""))
}

pub async fn email_settings(
    State(state): State<AppState>,
    member: Member,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&member.visit, &form)?;
    let choice = form
        .get("email_alerts")
        .and_then(|c| EMAIL_CHOICES.iter().find(|k| *k == c))
        .ok_or(PageError::BadRequest)?;
    state
        .store
        .set_email_alerts(member.user.user.id, choice)
        .await?;
    Ok(back_to("#notifications"))
}

pub async fn add_webhook(
    State(state): State<AppState>,
    member: Member,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&member.visit, &form)?;
    let url = form.get("url").map(|u| u.trim()).unwrap_or_default();
    let format = form
        .get("format")
        .and_then(|f| WebhookFormat::NAMES.iter().find(|k| *k == f))
        .ok_or(PageError::BadRequest)?;
    let refused = |message: String| Flash {
        hook_error: Some(message),
        hook_url: url.to_owned(),
        ..Default::default()
    };
    if url.is_empty() || url.len() > 2048 {
        let flash = refused("Enter the webhook's URL (at most 2,048 characters).".into());
        return watchlist_page(&state, &member, StatusCode::UNPROCESSABLE_ENTITY, flash).await;
    }
    let checked = match check_url(url, state.config.notify.allow_private_targets).await {
        Ok(u) => u,
        Err(e) => {
            let flash = refused(format!("This URL cannot be used: {e}."));
            return watchlist_page(&state, &member, StatusCode::UNPROCESSABLE_ENTITY, flash).await;
        }
    };
    let secret = new_secret();
    state
        .store
        .create_webhook(
            member.user.user.id,
            checked.as_str(),
            format,
            &secret,
            now_ms(),
        )
        .await?;
    let flash = Flash {
        new_secret: Some(secret),
        ..Default::default()
    };
    watchlist_page(&state, &member, StatusCode::OK, flash).await
}

pub async fn test_webhook(
    State(state): State<AppState>,
    member: Member,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&member.visit, &form)?;
    state
        .store
        .queue_test_delivery(member.user.user.id, page_id(&id)?, now_ms())
        .await?;
    Ok(back_to("#notifications"))
}

pub async fn delete_webhook(
    State(state): State<AppState>,
    member: Member,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    check_form(&member.visit, &form)?;
    state
        .store
        .delete_webhook(member.user.user.id, page_id(&id)?)
        .await?;
    Ok(back_to("#notifications"))
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    user: Option<String>,
    csrf: String,
    token: String,
    /// The address unsubscribed, once done.
    done: Option<String>,
}

/// The link in every alert email: a page with one button (so that mail
/// scanners following links do not unsubscribe anyone), no login needed.
pub async fn unsubscribe_form(
    visit: Visit,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let token = q.get("token").cloned().unwrap_or_default();
    if token.is_empty() || token.len() > 100 {
        return Err(PageError::NotFound);
    }
    let page = UnsubscribePage {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
        token,
        done: None,
    };
    Ok(visit.finish(render(StatusCode::OK, &page)))
}

/// The button, and mail clients' one-click unsubscribe (RFC 8058), which
/// posts to the same URL without cookies: the token is the authority.
pub async fn unsubscribe(
    State(state): State<AppState>,
    visit: Visit,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let token = q.get("token").cloned().unwrap_or_default();
    if token.is_empty() || token.len() > 100 {
        return Err(PageError::NotFound);
    }
    let email = state.store.unsubscribe(&token).await?;
    let page = UnsubscribePage {
        user: visit.username().map(str::to_owned),
        csrf: visit.csrf.clone(),
        token,
        done: Some(email),
    };
    Ok(visit.finish(render(StatusCode::OK, &page)))
}
