//! The test harness: a real server on a random port over a fresh database
//! (a temporary SQLite file, or a new PostgreSQL database when
//! MARKETSCOUT_TEST_DATABASE_URL is set), driven over real HTTP.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use marketscout::app::{AppState, Application};
use marketscout::config::{
    Config, CorsOrigins, DatabaseUrl, NotifyConfig, RateLimitConfig, ScanConfig,
};
use reqwest::{Client, Response};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

pub const SECRET: &[u8] = b"test-secret-key-that-is-long-enough-0123456789";
pub const PASSWORD: &str = "correct horse";

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub state: AppState,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
    pg_database: Option<(String, String)>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some((admin_url, name)) = self.pg_database.take() {
            // Dropped from a thread of its own: Drop cannot await, and the test's runtime is ending.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&mut conn)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

pub fn base_config(database: DatabaseUrl) -> Config {
    Config {
        host: IpAddr::from([127, 0, 0, 1]),
        port: 0,
        database,
        max_connections: 8,
        secret_key: SECRET.to_vec(),
        algorithm: jsonwebtoken::Algorithm::HS256,
        access_token_ttl: Duration::from_secs(1800),
        refresh_token_ttl: Duration::from_secs(14 * 86_400),
        api_title: "MarketScout API".into(),
        api_version: "1.0.0".into(),
        rate_limit: RateLimitConfig {
            enabled: false,
            window: Duration::from_secs(60),
            general: 60,
            auth: 5,
            heavy: 10,
        },
        redis_url: None,
        redis_key_prefix: "marketscout-test".into(),
        cors_origins: CorsOrigins::None,
        trusted_proxies: Vec::new(),
        max_body_bytes: 64 * 1024,
        request_timeout: Duration::from_secs(30),
        cache_ttl: Duration::from_secs(1),
        refresh_interval: None,
        scan: ScanConfig {
            enabled: false,
            ..ScanConfig::default()
        },
        // Tests' webhook receivers and mail sinks listen on loopback.
        notify: NotifyConfig {
            allow_private_targets: true,
            ..NotifyConfig::default()
        },
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

async fn fresh_postgres(url: &str) -> (DatabaseUrl, (String, String)) {
    let name = format!(
        "ms_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .expect("MARKETSCOUT_TEST_DATABASE_URL is set but PostgreSQL is unreachable");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .expect("creating a test database");
    let mut parsed = url::Url::parse(url).expect("MARKETSCOUT_TEST_DATABASE_URL is not a URL");
    parsed.set_path(&format!("/{name}"));
    (
        DatabaseUrl::Postgres(parsed.to_string()),
        (url.to_owned(), name),
    )
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customize: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (database, pg_database) = match std::env::var("MARKETSCOUT_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let (db, handle) = fresh_postgres(&url).await;
            (db, Some(handle))
        }
        _ => (
            DatabaseUrl::Sqlite {
                path: Some(dir.path().join("test.db")),
                params: String::new(),
            },
            None,
        ),
    };
    let mut config = base_config(database);
    customize(&mut config);
    spawn_config(config, dir, pg_database).await
}

/// Two servers on one database (and one Redis), as behind a load balancer.
pub async fn spawn_pair_with(customize: impl Fn(&mut Config)) -> (TestApp, TestApp) {
    let first = spawn_app_with(&customize).await;
    let mut config = base_config(first.state.config.database.clone());
    customize(&mut config);
    let second = spawn_config(config, tempfile::tempdir().unwrap(), None).await;
    (first, second)
}

async fn spawn_config(
    config: Config,
    dir: tempfile::TempDir,
    pg_database: Option<(String, String)>,
) -> TestApp {
    let app = Application::build(config).await.expect("building the app");
    let addr = app.local_addr().unwrap();
    let state = app.state();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(app.run_until(async move { token.cancelled().await }));
    TestApp {
        base: format!("http://{addr}"),
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        state,
        shutdown,
        _dir: dir,
        pg_database,
    }
}

pub fn redis_url() -> Option<String> {
    std::env::var("MARKETSCOUT_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

impl TestApp {
    /// Starts a graceful shutdown, as SIGTERM does.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete_auth(&self, path: &str, token: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// `POST /calculate-score/{product_id}`.
    pub async fn calculate(&self, product_id: i64) -> Response {
        self.client
            .post(self.url(&format!("/calculate-score/{product_id}")))
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json_auth(&self, path: &str, body: &Value, token: &str) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch_json_auth(&self, path: &str, body: &Value, token: &str) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn signup(&self, username: &str) -> Value {
        let res = self
            .post_json(
                "/signup",
                &json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), 200, "signup of {username}");
        res.json().await.unwrap()
    }

    pub async fn login(&self, username: &str) -> Value {
        let res = self
            .client
            .post(self.url("/token"))
            .form(&[("username", username), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login of {username}");
        res.json().await.unwrap()
    }

    /// Signs a user up and returns their access token.
    pub async fn user_token(&self, username: &str) -> String {
        self.signup(username).await;
        self.login(username).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn product(&self, name: &str) -> i64 {
        let res = self
            .post_json(
                "/products",
                &json!({"name": name, "description": format!("{name} description")}),
            )
            .await;
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    pub async fn ad(
        &self,
        product_id: i64,
        platform: &str,
        content: &str,
        country: Option<&str>,
    ) -> Value {
        let res = self
            .post_json(
                "/ads",
                &json!({"product_id": product_id, "platform": platform, "ad_content": content, "country": country}),
            )
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// The single integer a query such as `SELECT COUNT(*) FROM ads` answers.
    pub async fn scalar(&self, sql: &'static str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql)
            .fetch_one(self.state.store.pool())
            .await
            .unwrap();
        n
    }

    pub async fn sql(&self, sql: &'static str) {
        sqlx::query(sql)
            .execute(self.state.store.pool())
            .await
            .unwrap();
    }
}

/// The `type`s and `loc`s of a 422 body, in order.
pub fn validation_errors(body: &Value) -> Vec<(String, Vec<Value>)> {
    body["detail"]
        .as_array()
        .expect("a 422 detail list")
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["loc"].as_array().unwrap().clone(),
            )
        })
        .collect()
}

pub fn loc(parts: &[&str]) -> Vec<Value> {
    parts.iter().map(|p| json!(p)).collect()
}

pub async fn json_of(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body)
}
