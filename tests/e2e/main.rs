//! The dashboard in a real browser: Debian's Chromium, headless, driven
//! through chromedriver against the real server on a temporary database.
//! Each flow runs at 375 px (a phone) and 1280 px, fails on any error in the
//! browser's console, and writes a screenshot of every page it visits to
//! `target/e2e-screenshots/` (CI lists the folder).
//!
//! Without `chromedriver` and `chromium` on the PATH the tests say so and
//! pass, so `cargo test` works on any machine; CI installs both and sets
//! `MARKETSCOUT_E2E_REQUIRED=1`, which turns their absence into a failure.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use helpers::{TestApp, spawn_app};

const WIDTHS: [u32; 2] = [375, 1280];

/// axe-core, vendored (tests/e2e/assets/README.md).
const AXE: &str = include_str!("assets/axe.min.js");

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join(program))
        .find(|p| p.is_file())
}

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser, or `None` (with the reason printed) when this machine has none.
async fn driver() -> Option<Driver> {
    let required = std::env::var("MARKETSCOUT_E2E_REQUIRED").is_ok_and(|v| v == "1");
    let (Some(chromedriver), Some(_)) = (which("chromedriver"), which("chromium")) else {
        assert!(
            !required,
            "MARKETSCOUT_E2E_REQUIRED=1 but chromium or chromedriver is not installed"
        );
        eprintln!(
            "skipping the browser tests: install Debian's chromium and chromium-driver to run them"
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let driver = Driver {
        child,
        url,
        profile: tempfile::tempdir().unwrap(),
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start listening");
}

async fn browser(driver: &Driver, width: u32) -> Client {
    let mut caps = Capabilities::new();
    let profile = driver.profile.path().join(format!("w{width}"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": which("chromium").unwrap(),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", format!("--user-data-dir={}", profile.display()),
                format!("--window-size={width},900"),
            ],
        }),
    );
    // Desktop Chromium will not make a window narrower than 500 px: a phone
    // is emulated (its viewport, pixel ratio and touch), as its DevTools do.
    if width < 500 {
        caps.get_mut("goog:chromeOptions").unwrap()["mobileEmulation"] = json!({
            "deviceMetrics": { "width": width, "height": 812, "pixelRatio": 2.0, "touch": true },
        });
    }
    caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromedriver session")
}

/// chromedriver's console log since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// A visit by one browser at one width: screenshots named in order.
struct Visit<'a> {
    app: &'a TestApp,
    client: Client,
    width: u32,
    shots: usize,
}

impl Visit<'_> {
    async fn open(&mut self, path: &str) {
        self.client.goto(&self.app.url(path)).await.unwrap();
    }

    /// Screenshot of the page as it is, no console errors so far, no
    /// serious or critical accessibility violation, no sideways scrolling.
    async fn page(&mut self, name: &str) {
        self.shots += 1;
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(
            dir.join(format!("{}-{:02}-{name}.png", self.width, self.shots)),
            png,
        )
        .unwrap();
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or(Value::Null);
        // The page's own status (a form sent back with errors is a 422, the
        // 404 page a 404) is asserted by the flows; any other failure, a
        // stylesheet, a script, an icon or a script error, is a bug.
        let page_url = self.client.current_url().await.unwrap().to_string();
        let own = format!("{page_url} - Failed to load resource");
        let errors: Vec<&Value> = log
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .filter(|e| !e["message"].as_str().is_some_and(|m| m.starts_with(&own)))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            errors.is_empty(),
            "console errors on {name} at {}px: {errors:?}",
            self.width
        );
        // axe-core, run in the page (WebDriver's scripts are not the page's,
        // so its Content-Security-Policy does not stop them).
        self.client.execute(AXE, vec![]).await.unwrap();
        let report = self
            .client
            .execute_async(
                "const done = arguments[0]; \
                 axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations.map(v => \
                   ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) }))));",
                vec![],
            )
            .await
            .unwrap();
        let serious: Vec<&Value> = report
            .as_array()
            .map(|v| {
                v.iter()
                    .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            serious.is_empty(),
            "accessibility violations on {name} at {}px: {serious:#?}",
            self.width
        );
        // Cumulative layout shift since the page loaded (Chromium's Layout
        // Instability API): content must not jump as it arrives. 0.1 is the
        // threshold web performance guidance calls "good".
        let shift = self
            .client
            .execute_async(
                "const done = arguments[0]; let cls = 0; \
                 const po = new PerformanceObserver((list) => { for (const e of list.getEntries()) \
                   if (!e.hadRecentInput) cls += e.value; }); \
                 po.observe({ type: 'layout-shift', buffered: true }); \
                 setTimeout(() => { po.disconnect(); done(cls); }, 50);",
                vec![],
            )
            .await
            .unwrap()
            .as_f64()
            .unwrap_or(0.0);
        eprintln!("layout shift: {name} at {}px: {shift:.4}", self.width);
        assert!(
            shift < 0.1,
            "{name} shifts its layout by {shift:.3} at {}px",
            self.width
        );
        // Nothing wider than the window: no sideways scrolling on a phone.
        let overflow = self
            .client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            overflow.as_i64().unwrap_or(0) <= 1,
            "{name} scrolls sideways at {}px by {overflow}",
            self.width
        );
    }

    async fn fill(&self, id: &str, text: &str) {
        let field = self.client.find(Locator::Id(id)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.text_within(css, Duration::from_secs(10)).await
    }

    /// [`Visit::text`] after an action known to take long.
    async fn text_within(&self, css: &str, wait: Duration) -> String {
        self.client
            .wait()
            .at_most(wait)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Waits for the element to say `expected` (after a form's round trip).
    async fn shows(&self, css: &str, expected: &str) {
        let mut last = String::new();
        for _ in 0..100 {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = e.text().await
            {
                if text == expected {
                    return;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{css} says {last:?}, expected {expected:?} ({}px)",
            self.width
        );
    }

    /// Waits for the browser to arrive at `path` (a click's navigation
    /// finishes after the click returns).
    async fn arrives_at(&self, path: &str) {
        let mut now = String::new();
        for _ in 0..100 {
            now = self.client.current_url().await.unwrap().path().to_owned();
            if now == path {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("at {now}, expected {path} ({}px)", self.width);
    }

    async fn arrives_under(&self, prefix: &str) {
        for _ in 0..100 {
            if self
                .client
                .current_url()
                .await
                .unwrap()
                .path()
                .starts_with(prefix)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("never reached {prefix} ({}px)", self.width);
    }
}

/// Sign up, load the demo, open a trending product, watch it, browse the
/// trends, log out and back in: the first morning of a new user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_signs_up_loads_the_demo_and_watches_a_trending_product() {
    let Some(driver) = driver().await else {
        return;
    };
    // Only this run's screenshots in the folder.
    let _ = std::fs::remove_dir_all(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e-screenshots"),
    );
    let app = spawn_app().await;
    // A local source to scan: a folder with an export of 2,500 observations
    // (three pages of a file scan).
    let folder = tempfile::tempdir().unwrap();
    let mut export = String::new();
    for n in 0..2_500u64 {
        export += &format!(
            "{{\"platform\":\"tiktok\",\"kind\":\"video\",\"platform_id\":\"{}\",\"text\":\"room glow haul {n}\",\"observed_at\":\"2025-11-19T08:00:00Z\",\"views\":{}}}\n",
            7_300_000_000_000_000_000 + n,
            1000 + n
        );
    }
    std::fs::write(folder.path().join("export.ndjson"), export).unwrap();
    app.state
        .store
        .create_source(
            &marketscout::store::sources::SourceFields {
                name: Some("Drop folder".into()),
                kind: Some(marketscout::connectors::SourceKind::File),
                query: Some(vec![folder.path().display().to_string()]),
                every_minutes: Some(60),
                ..Default::default()
            },
            marketscout::time::now_ms(),
        )
        .await
        .unwrap();
    for width in WIDTHS {
        let mut v = Visit {
            app: &app,
            client: browser(&driver, width).await,
            width,
            shots: 0,
        };
        let username = format!("seller{width}");
        v.open("/").await;
        v.page("landing").await;
        v.click("main a[href='/app/signup']").await;
        v.page("signup").await;
        v.fill("username", &username).await;
        v.fill("email", &format!("{username}@example.com")).await;
        v.fill("password", "short").await;
        v.click("form[action='/app/signup'] button").await;
        assert!(
            v.text("#password-error")
                .await
                .contains("at least 6 characters")
        );
        v.page("signup-error").await;
        v.fill("password", "secret123").await;
        v.click("form[action='/app/signup'] button").await;
        v.arrives_at("/app").await;

        if width == WIDTHS[0] {
            assert!(
                v.text("#first-run-title")
                    .await
                    .contains("nothing is tracked yet")
            );
            v.page("first-run").await;
            v.click("#load-demo").await;
        }
        // Loading the demo stores some 57,000 observations before the page
        // answers: 8-9 s in a debug build on PostgreSQL on a busy machine.
        assert!(
            v.text_within("#trending-title", Duration::from_secs(60))
                .await
                .contains("Trending now")
        );
        v.page("overview").await;

        v.click("table.ranked tbody tr:first-child th a").await;
        v.arrives_under("/app/products/").await;
        let product_id: i64 = v
            .client
            .current_url()
            .await
            .unwrap()
            .path()
            .trim_start_matches("/app/products/")
            .parse()
            .unwrap();
        let score: i64 = v.text("#score").await.parse().unwrap();
        assert!((0..=100).contains(&score));
        v.page("product").await;
        v.open(&format!(
            "{}/terms",
            v.client.current_url().await.unwrap().path()
        ))
        .await;
        v.page("terms").await;
        v.client.back().await.unwrap();
        v.click("#watch-toggle").await;
        v.shows("#watch-toggle", "Remove from watchlist").await;

        v.open("/app/trends?sort=change").await;
        assert!(v.text("p.count").await.contains("product"));
        v.page("trends").await;

        v.open("/app/watchlist").await;
        assert!(v.text("table.ranked tbody").await.contains("Remove"));
        v.page("watchlist").await;
        // The download the button gives, fetched as the page would, with the session.
        let csv = v
            .client
            .execute_async(
                "const done = arguments[0]; fetch('/app/export/watchlist.csv').then(r => r.text()).then(done);",
                vec![],
            )
            .await
            .unwrap();
        let csv = csv.as_str().unwrap_or_default().to_owned();
        assert!(
            csv.starts_with("Product ID,Product Name,Description,Added Date\n")
                && csv.lines().count() == 2,
            "{csv}"
        );

        // An alert arrives while the page is open: a viral ad for the watched
        // product appears at the top of the alert list without a reload.
        let res = app
            .client
            .post(app.url("/ads"))
            .json(&json!({
                "product_id": product_id,
                "platform": "YouTube",
                "ad_content": "🔥 VIRAL deal of the day! Get yours now before they sell out!!",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let started = std::time::Instant::now();
        let mut live = String::new();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(e) = v.client.find(Locator::Css("#alert-list")).await
                && let Ok(text) = e.text().await
            {
                live = text;
                if live.contains("New viral ad detected") {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            live.contains("New viral ad detected"),
            "no live alert: {live:?} ({width}px)"
        );
        assert!(v.text("#unread-count").await.contains("unread"));
        v.page("watchlist-live-alert").await;
        v.click("#edit-rules").await;
        v.arrives_at("/app/alerts/rules").await;
        v.fill("score_threshold.threshold", "65").await;
        v.click("#save-rules").await;
        v.shows("#rules-saved", "Rules saved.").await;
        v.page("alert-rules").await;

        v.open("/app/ads").await;
        v.page("ads").await;
        v.open("/app/discover").await;
        v.page("discover").await;

        // An administrator starts a scan and watches it finish.
        app.sql("UPDATE users SET is_admin = 1").await;
        // Raw SQL bypasses the store's change counter: let the cached session
        // (one second in tests) expire so the new role is seen.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        v.open("/app/sources").await;
        v.page("sources").await;
        v.click("form[action$='/scan'] button").await;
        v.arrives_under("/app/scans/").await;
        v.shows("#scan-status", "succeeded").await;
        assert_eq!(v.text("#scan-items").await, "2500");
        v.page("scan").await;

        v.open("/app/heat-map").await;
        assert!(v.text("#map-title").await.contains("by country"));
        v.page("heat-map").await;

        v.open("/app/no-such-page").await;
        v.shows("main h1", "Page not found").await;
        v.page("not-found").await;

        v.open("/app").await;
        v.click("form.logout button").await;
        v.arrives_at("/").await;
        v.open("/app/login").await;
        v.fill("username", &username).await;
        v.fill("password", "secret123").await;
        v.click("form[action='/app/login'] button").await;
        v.arrives_at("/app").await;
        v.client.close().await.unwrap();
    }
}
