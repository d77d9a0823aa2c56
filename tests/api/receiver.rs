//! A local webhook receiver: records every request it gets (headers and raw
//! body), answering 503 to the first `fail_first` of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tokio::sync::Mutex;

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
struct Inner {
    accepted: Arc<Mutex<Vec<Received>>>,
    attempts: Arc<AtomicUsize>,
    fail_first: Arc<AtomicUsize>,
}

pub struct Receiver {
    pub url: String,
    inner: Inner,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let inner = Inner::default();
        inner.fail_first.store(fail_first, Ordering::SeqCst);
        let app = Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, inner }
    }

    /// Requests answered 2xx, in arrival order.
    pub async fn accepted(&self) -> Vec<Received> {
        self.inner.accepted.lock().await.clone()
    }

    /// Every request, refused ones included.
    pub fn attempts(&self) -> usize {
        self.inner.attempts.load(Ordering::SeqCst)
    }

    /// Waits until `n` requests were accepted (or `timeout` passed).
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.accepted().await;
            if got.len() >= n || tokio::time::Instant::now() >= end {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(State(inner): State<Inner>, headers: HeaderMap, body: Bytes) -> StatusCode {
    inner.attempts.fetch_add(1, Ordering::SeqCst);
    let refuse = inner
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if refuse {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    inner.accepted.lock().await.push(Received { headers, body });
    StatusCode::OK
}
