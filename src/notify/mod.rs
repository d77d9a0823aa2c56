//! Delivery of alerts outside the app: webhooks (signed JSON, Slack and
//! Discord formats) and email (immediate or a daily digest), both from a
//! durable outbox, and the guard that keeps outgoing requests off the
//! server's own network.

pub mod deliver;
pub mod email;
pub mod guard;
pub mod webhook;

use serde::Serialize;

/// One alert as it leaves the server: what every channel renders.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    pub id: i64,
    pub product_id: i64,
    pub product_name: String,
    /// The rule that fired (`score_threshold`, `score_jump`, `stage_change`,
    /// `viral_ad`, `forecast_growth`, `new_country`).
    pub rule: String,
    pub message: String,
    pub value_before: Option<f64>,
    pub value_after: Option<f64>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Link to the product's page on the dashboard, when the server knows its public URL.
    pub url: Option<String>,
}
