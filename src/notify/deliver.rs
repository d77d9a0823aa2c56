//! The delivery worker: sends what the outbox holds, lane by lane in order,
//! retrying with backoff, and queues the daily digests.
//!
//! Any number of instances may run it: a delivery is leased before it is
//! sent, so one instance sends it. If an instance dies between sending and
//! recording, the lease lapses and the delivery is sent again: receivers see
//! each alert at least once, and the `X-MarketScout-Delivery` header (the
//! same on every attempt) lets them drop the rare repeat.

use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::AlertView;
use super::email::{Mailer, alert_email, digest_email};
use super::guard::{check_host, check_url, client};
use super::webhook::{
    MAX_ATTEMPTS, SIGNATURE_HEADER, WebhookFormat, backoff, payload, signature_header, test_payload,
};
use crate::config::NotifyConfig;
use crate::store::{Claimed, Millis, Outcome, Store, StoreResult};

/// How long a worker holds a lane it is sending.
const LEASE_MS: i64 = 60_000;
/// Lanes sent at once, and deliveries taken from each per round.
const LANES: i64 = 32;
const PER_LANE: i64 = 50;
/// Longest sleep between rounds when nothing wakes the worker.
const IDLE: Duration = Duration::from_secs(5);
const DAY_MS: i64 = 86_400_000;
/// How often the worker looks whether the day's digests are due.
const DIGEST_CHECK: Duration = Duration::from_secs(60);

/// What the worker needs, built once.
#[derive(Clone)]
pub struct Deliverer {
    store: Store,
    config: NotifyConfig,
    http: reqwest::Client,
    mailer: Option<Mailer>,
    /// Base of links to the dashboard.
    base_url: String,
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub delivered: usize,
    pub failed: usize,
}

impl Deliverer {
    /// Must be called inside a Tokio runtime (the mail pool starts a task).
    pub fn new(store: Store, config: NotifyConfig, fallback_base_url: String) -> Self {
        let mailer = config.smtp.as_ref().and_then(|s| match Mailer::new(s) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(error = %e, "email is off: the SMTP settings are not usable");
                None
            }
        });
        Self {
            http: client(config.allow_private_targets, config.webhook_timeout),
            base_url: config.public_url.clone().unwrap_or(fallback_base_url),
            store,
            mailer,
            config,
        }
    }

    /// Delivers until `stop`: woken by any change of the data (a new alert
    /// queues deliveries in the same transaction), else when the next retry is due.
    pub async fn run(self, stop: CancellationToken) {
        let mut changes = self.store.subscribe();
        let mut digests_checked: Option<std::time::Instant> = None;
        loop {
            changes.mark_unchanged();
            let now = crate::time::now_ms();
            if digests_checked.is_none_or(|t| t.elapsed() >= DIGEST_CHECK) {
                digests_checked = Some(std::time::Instant::now());
                if let Err(e) = self.queue_digests(now).await {
                    tracing::warn!(error = %e, "could not queue the daily digests; will retry");
                }
            }
            let busy = match self.round(now).await {
                Ok(round) => round.delivered + round.failed > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "the delivery round failed; will retry");
                    false
                }
            };
            if busy {
                continue;
            }
            let wait = match self.store.next_delivery_at().await {
                Ok(Some(at)) => Duration::from_millis((at - now).clamp(10, 5_000) as u64),
                _ => IDLE,
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = changes.changed() => {},
                _ = tokio::time::sleep(wait) => {},
            }
        }
    }

    /// Leases what is due, sends it (lanes at once, each lane in order) and
    /// records the outcomes.
    pub async fn round(&self, now: Millis) -> StoreResult<Round> {
        let lanes = self
            .store
            .claim_deliveries(now, LEASE_MS, LANES, PER_LANE)
            .await?;
        if lanes.is_empty() {
            return Ok(Round::default());
        }
        let outcomes: Vec<Vec<(i64, Outcome)>> = futures::stream::iter(lanes)
            .map(|lane| self.send_lane(lane))
            .buffer_unordered(LANES as usize)
            .collect()
            .await;
        let outcomes: Vec<(i64, Outcome)> = outcomes.into_iter().flatten().collect();
        let mut round = Round::default();
        for (_, o) in &outcomes {
            match o {
                Outcome::Delivered { .. } => round.delivered += 1,
                Outcome::Failed { .. } => round.failed += 1,
                Outcome::Released => {}
            }
        }
        self.store
            .finish_deliveries(&outcomes, crate::time::now_ms())
            .await?;
        Ok(round)
    }

    /// Sends a lane's deliveries in order; after a failure the rest wait
    /// their turn (nothing overtakes a delivery being retried).
    async fn send_lane(&self, lane: Vec<Claimed>) -> Vec<(i64, Outcome)> {
        let mut out = Vec::with_capacity(lane.len());
        let mut blocked = false;
        for d in lane {
            if blocked {
                out.push((d.id, Outcome::Released));
                continue;
            }
            let attempt = u32::try_from(d.attempts)
                .unwrap_or(u32::MAX)
                .saturating_add(1);
            let outcome = match self.send(&d).await {
                Ok(status) => Outcome::Delivered { status },
                Err(failure) => {
                    blocked = true;
                    let retry_at = (failure.retry && attempt < MAX_ATTEMPTS).then(|| {
                        // `backoff` counts from 10 s; the configured base scales it.
                        let wait =
                            backoff(attempt).mul_f64(self.config.retry_base.as_secs_f64() / 10.0);
                        // Up to a fifth more, so receivers coming back are not hit by every sender at once.
                        let jitter = rand::rng().random_range(0..=wait.as_millis() as i64 / 5);
                        crate::time::now_ms() + wait.as_millis() as i64 + jitter
                    });
                    tracing::info!(
                        delivery = d.id,
                        lane = %d.lane,
                        attempt,
                        status = failure.status,
                        error = %failure.error,
                        will_retry = retry_at.is_some(),
                        "a delivery failed"
                    );
                    Outcome::Failed {
                        status: failure.status,
                        error: failure.error,
                        retry_at,
                    }
                }
            };
            out.push((d.id, outcome));
        }
        out
    }

    async fn send(&self, d: &Claimed) -> Result<Option<i64>, Failure> {
        match d.channel.as_str() {
            "webhook" => self.send_webhook(d).await.map(Some),
            "email" | "digest" => self.send_email(d).await.map(|()| None),
            other => Err(Failure::permanent(None, format!("unknown channel {other}"))),
        }
    }

    fn alert_view(&self, d: &Claimed) -> Option<AlertView> {
        Some(AlertView {
            id: d.alert_id?,
            product_id: d.product_id?,
            product_name: d.product_name.clone()?,
            rule: d.rule.clone()?,
            message: d.message.clone()?,
            value_before: d.value_before,
            value_after: d.value_after,
            created_at: d.alert_created_at?,
            url: Some(format!("{}/app/products/{}", self.base_url, d.product_id?)),
        })
    }

    async fn send_webhook(&self, d: &Claimed) -> Result<i64, Failure> {
        let (Some(url), Some(format), Some(secret)) =
            (&d.webhook_url, &d.webhook_format, &d.webhook_secret)
        else {
            return Err(Failure::permanent(None, "the webhook was deleted".into()));
        };
        let format: WebhookFormat = format
            .parse()
            .map_err(|_| Failure::permanent(None, "unknown webhook format".into()))?;
        // Checked on every attempt: a name may resolve elsewhere than when it was saved.
        let url = check_url(url, self.config.allow_private_targets)
            .await
            .map_err(|e| Failure::permanent(None, e.to_string()))?;
        let (body, event) = match self.alert_view(d) {
            Some(alert) => (payload(format, d.id, &alert), "alert"),
            None => (test_payload(format, d.id, crate::time::now_ms()), "test"),
        };
        let body = serde_json::to_vec(&body).expect("payloads serialise");
        let signature = signature_header(secret, crate::time::now_ms() / 1000, &body);
        let answer = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header("x-marketscout-delivery", d.id.to_string())
            .header("x-marketscout-event", event)
            .body(body)
            .send()
            .await
            // Without the URL: a webhook's URL can itself be a secret.
            .map_err(|e| Failure::retry(None, e.without_url().to_string()))?;
        let status = i64::from(answer.status().as_u16());
        if answer.status().is_success() {
            return Ok(status);
        }
        let error = format!("the receiver answered {status}");
        // A client error other than "too many" or "timeout" will not change by itself
        // soon, but receivers misconfigured for a while are common: retry those too.
        Err(Failure::retry(Some(status), error))
    }

    async fn send_email(&self, d: &Claimed) -> Result<(), Failure> {
        let Some(mailer) = &self.mailer else {
            return Err(Failure::permanent(
                None,
                "email is not configured on this server (SMTP_HOST)".into(),
            ));
        };
        if let Some(smtp) = &self.config.smtp {
            check_host(&smtp.host, smtp.port, self.config.allow_private_targets)
                .await
                .map_err(|e| Failure::permanent(None, e.to_string()))?;
        }
        let token = match &d.unsubscribe_token {
            Some(t) => t.clone(),
            None => self
                .store
                .unsubscribe_token(d.user_id)
                .await
                .map_err(|e| Failure::retry(None, e.to_string()))?,
        };
        let unsubscribe = format!("{}/app/unsubscribe?token={token}", self.base_url);
        let email = if d.channel == "digest" {
            let (day, ids) = digest_payload(d.payload.as_deref())
                .ok_or_else(|| Failure::permanent(None, "a digest without its alerts".into()))?;
            let rows = self
                .store
                .alerts_by_id(d.user_id, &ids)
                .await
                .map_err(|e| Failure::retry(None, e.to_string()))?;
            let alerts: Vec<AlertView> = rows
                .into_iter()
                .map(|a| AlertView {
                    url: Some(format!("{}/app/products/{}", self.base_url, a.product_id)),
                    id: a.id,
                    product_id: a.product_id,
                    product_name: a.product_name,
                    rule: a.rule,
                    message: a.message,
                    value_before: a.value_before,
                    value_after: a.value_after,
                    created_at: a.created_at,
                })
                .collect();
            if alerts.is_empty() {
                return Ok(());
            }
            let day = crate::time::iso(day * DAY_MS)[..10].to_owned();
            digest_email(&d.user_email, &day, &alerts, Some(&unsubscribe))
        } else {
            let alert = self
                .alert_view(d)
                .ok_or_else(|| Failure::permanent(None, "the alert was deleted".into()))?;
            alert_email(&d.user_email, &alert, Some(&unsubscribe))
        };
        mailer.send(&email).await.map_err(|e| Failure {
            status: None,
            retry: e.is_transient(),
            error: e.to_string(),
        })
    }

    /// Queues the day's digests once the digest hour has passed.
    async fn queue_digests(&self, now: Millis) -> StoreResult<()> {
        if self.mailer.is_none() {
            return Ok(());
        }
        let day = now.div_euclid(DAY_MS);
        let hour = now.rem_euclid(DAY_MS) / 3_600_000;
        if hour < i64::from(self.config.digest_hour_utc) {
            return Ok(());
        }
        let queued = self.store.queue_digests(day, now).await?;
        if queued > 0 {
            tracing::info!(digests = queued, "queued the daily digests");
        }
        Ok(())
    }
}

fn digest_payload(payload: Option<&str>) -> Option<(i64, Vec<i64>)> {
    let v: serde_json::Value = serde_json::from_str(payload?).ok()?;
    let day = v.get("day")?.as_i64()?;
    let ids = v
        .get("alerts")?
        .as_array()?
        .iter()
        .filter_map(serde_json::Value::as_i64)
        .collect();
    Some((day, ids))
}

struct Failure {
    status: Option<i64>,
    retry: bool,
    error: String,
}

impl Failure {
    fn retry(status: Option<i64>, error: String) -> Self {
        Self {
            status,
            retry: true,
            error,
        }
    }
    fn permanent(status: Option<i64>, error: String) -> Self {
        Self {
            status,
            retry: false,
            error,
        }
    }
}
