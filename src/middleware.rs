//! Cross-cutting HTTP layers: client address, rate limits, FastAPI-shaped
//! error bodies for responses the framework makes itself, timeouts and metrics.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use crate::app::AppState;
use crate::error::{ApiError, json_detail};
use crate::ratelimit::{Tier, now_ms};

/// The client's address: the socket peer, unless that peer is a trusted proxy,
/// in which case `X-Forwarded-For` is walked from the right past every
/// trusted hop. Untrusted peers cannot spoof their address with the header.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

fn tier_of(path: &str) -> Tier {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    match path {
        // The dashboard's sign-up and log-in forms count with the API's.
        "/signup" | "/token" | "/token/refresh" | "/app/signup" | "/app/login" => Tier::Auth,
        "/scan-ads" | "/heat-map" | "/export/{data_type}" => Tier::Heavy,
        p if p.starts_with("/calculate-score/") => Tier::Heavy,
        _ => Tier::General,
    }
}

pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.limiter.enabled() {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
    let client = client_ip(peer, req.headers(), &state.config.trusted_proxies);
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| req.uri().path().to_owned(), |m| m.as_str().to_owned());
    let tier = tier_of(&path);
    let scope = crate::ratelimit::scope_of(tier, req.uri().path());
    let decision = state.limiter.check(tier, client, scope, now_ms()).await;
    let mut response = if decision.allowed {
        next.run(req).await
    } else {
        let window = state.config.rate_limit.window.as_secs();
        let per = if window == 60 {
            "1 minute".to_owned()
        } else {
            format!("{window} seconds")
        };
        let mut res = ApiError::RateLimited {
            detail: format!("Rate limit exceeded: {} per {per}", decision.limit),
        }
        .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(decision.retry_after));
        res
    };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(decision.remaining),
    );
    headers.insert("x-ratelimit-reset", HeaderValue::from(decision.reset_at));
    response
}

/// Gives the framework's own error responses (unknown route, wrong method,
/// body too large, bad content...) the `{"detail": ...}` body clients expect.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if status.as_u16() < 400 {
        return response;
    }
    let keep = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"));
    // The dashboard's error pages are HTML on purpose.
    if keep {
        return response;
    }
    let detail = match status {
        StatusCode::NOT_FOUND => "Not Found",
        StatusCode::METHOD_NOT_ALLOWED => "Method Not Allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "Request body too large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported media type",
        StatusCode::REQUEST_TIMEOUT => "Request timed out",
        s if s.is_server_error() => "Internal Server Error",
        s => s.canonical_reason().unwrap_or("Error"),
    };
    let (mut parts, _) = response.into_parts();
    let mut fresh = json_detail(status, detail);
    // Keep headers such as Allow and the rate-limit ones.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    std::mem::swap(fresh.headers_mut(), &mut parts.headers);
    fresh
}

pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => json_detail(StatusCode::SERVICE_UNAVAILABLE, "Request timed out"),
    }
}

pub async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2])
        .record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(stranger, &headers("1.2.3.4"), &trusted), stranger);
        assert_eq!(
            client_ip(proxy, &headers("1.2.3.4, 10.0.0.7"), &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        // A client-supplied prefix cannot hide the real client.
        assert_eq!(
            client_ip(proxy, &headers("6.6.6.6, 1.2.3.4"), &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
    }

    #[test]
    fn routes_fall_into_the_documented_tiers() {
        assert_eq!(tier_of("/token"), Tier::Auth);
        assert_eq!(tier_of("/api/v1/signup"), Tier::Auth);
        assert_eq!(tier_of("/calculate-score/{product_id}"), Tier::Heavy);
        assert_eq!(tier_of("/export/{data_type}"), Tier::Heavy);
        assert_eq!(tier_of("/products"), Tier::General);
    }
}
