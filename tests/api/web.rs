//! The web dashboard over real HTTP: pages, sessions in cookies, CSRF on
//! every form, and friendly errors. (The same flows in a real browser are in
//! `tests/e2e`.)

use reqwest::header::{ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{RequestBuilder, Response};

use crate::helpers::{TestApp, json_of, spawn_app, spawn_app_with};

/// A browser's cookie jar, kept by hand so every cookie attribute can be checked.
#[derive(Default)]
struct Browser {
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn keep(&mut self, res: &Response) {
        for header in res.headers().get_all(SET_COOKIE) {
            let text = header.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() && !text.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn with(&self, req: RequestBuilder) -> RequestBuilder {
        let header: Vec<String> = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        req.header(COOKIE, header.join("; "))
            .header(ACCEPT, "text/html")
    }

    async fn get(&mut self, app: &TestApp, path: &str) -> (u16, String) {
        let res = self
            .with(app.client.get(app.url(path)))
            .send()
            .await
            .unwrap();
        self.keep(&res);
        (res.status().as_u16(), res.text().await.unwrap())
    }

    async fn post(&mut self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> Response {
        let res = self
            .with(app.client.post(app.url(path)))
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&res);
        res
    }

    fn has(&self, name: &str) -> bool {
        self.cookies.iter().any(|(n, _)| n == name)
    }
}

/// The CSRF token a page's forms carry.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

async fn signed_up(app: &TestApp, username: &str) -> Browser {
    let mut browser = Browser::default();
    let (_, html) = browser.get(app, "/app/signup").await;
    let csrf = csrf_of(&html);
    let email = format!("{username}@example.com");
    let res = browser
        .post(
            app,
            "/app/signup",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("email", &email),
                ("password", "secret123"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/app");
    browser
}

#[tokio::test]
async fn a_browser_gets_the_landing_page_and_an_api_client_still_gets_json() {
    let app = spawn_app().await;
    let mut browser = Browser::default();
    let (status, html) = browser.get(&app, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains("Know which products are about to go viral"));
    assert!(html.contains("href=\"/app/signup\""));
    let json: serde_json::Value = app.get("/").await.json().await.unwrap();
    assert_eq!(json["docs"], "/docs");
}

#[tokio::test]
async fn signing_up_starts_a_session_that_outlives_the_browser_and_is_locked_down() {
    let app = spawn_app().await;
    let mut browser = Browser::default();
    let (_, html) = browser.get(&app, "/app/signup").await;
    let res = browser
        .post(
            &app,
            "/app/signup",
            &[
                ("csrf", &csrf_of(&html)),
                ("username", "alice"),
                ("email", "alice@example.com"),
                ("password", "secret123"),
            ],
        )
        .await;
    let cookie = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ms_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP: a Secure cookie would never come back"
    );
    let (status, html) = browser.get(&app, "/app").await;
    assert_eq!(status, 200);
    assert!(html.contains("alice"));
    assert!(
        html.contains("Load demo data"),
        "an empty database gets the guided first run"
    );
}

#[tokio::test]
async fn behind_https_the_cookies_are_secure() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/app/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let csrf = res.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        csrf.starts_with("ms_csrf=") && csrf.contains("; Secure"),
        "{csrf}"
    );
}

#[tokio::test]
async fn signup_errors_are_shown_beside_their_fields_with_what_was_typed() {
    let app = spawn_app().await;
    let mut browser = Browser::default();
    let (_, html) = browser.get(&app, "/app/signup").await;
    let res = browser
        .post(
            &app,
            "/app/signup",
            &[
                ("csrf", &csrf_of(&html)),
                ("username", "a b"),
                ("email", "not-an-email"),
                ("password", "123"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"username-error\""));
    assert!(html.contains("String should match pattern"));
    assert!(html.contains("id=\"email-error\""));
    assert!(html.contains("value is not a valid email address"));
    assert!(html.contains("id=\"password-error\""));
    assert!(
        html.contains("value=\"not-an-email\""),
        "what was typed stays"
    );
    assert!(!browser.has("ms_session"));

    signed_up(&app, "bob").await;
    let mut again = Browser::default();
    let (_, html) = again.get(&app, "/app/signup").await;
    let res = again
        .post(
            &app,
            "/app/signup",
            &[
                ("csrf", &csrf_of(&html)),
                ("username", "bob"),
                ("email", "other@example.com"),
                ("password", "secret123"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("Username already taken"));
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let mut browser = Browser::default();
    browser.get(&app, "/app/signup").await;
    for token in ["", "forged-token-that-is-long-enough"] {
        let res = browser
            .post(
                &app,
                "/app/signup",
                &[
                    ("csrf", token),
                    ("username", "mallory"),
                    ("email", "m@example.com"),
                    ("password", "secret123"),
                ],
            )
            .await;
        assert_eq!(res.status(), 403);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    // A browser that never loaded our page has no CSRF cookie at all.
    let res = app
        .client
        .post(app.url("/app/signup"))
        .form(&[
            ("csrf", "x"),
            ("username", "mallory"),
            ("email", "m@example.com"),
            ("password", "secret123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM users").await, 0);
}

#[tokio::test]
async fn logging_in_goes_where_the_visitor_was_headed_and_logging_out_ends_the_session() {
    let app = spawn_app().await;
    signed_up(&app, "carol").await;
    let mut browser = Browser::default();
    let res = browser
        .with(app.client.get(app.url("/app/trends")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/app/login?next=%2Fapp%2Ftrends");
    let (_, html) = browser.get(&app, "/app/login?next=/app/trends").await;
    let csrf = csrf_of(&html);
    let res = browser
        .post(
            &app,
            "/app/login",
            &[
                ("csrf", &csrf),
                ("username", "carol"),
                ("password", "wrong-password"),
                ("next", "/app/trends"),
            ],
        )
        .await;
    assert_eq!(res.status(), 401);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Incorrect username or password.")
    );
    let res = browser
        .post(
            &app,
            "/app/login",
            &[
                ("csrf", &csrf),
                ("username", "carol@example.com"),
                ("password", "secret123"),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(
        res.headers()[LOCATION],
        "/app",
        "never sent to another site"
    );
    let res = browser
        .post(
            &app,
            "/app/login",
            &[
                ("csrf", &csrf),
                ("username", "carol"),
                ("password", "secret123"),
                ("next", "/app/trends"),
            ],
        )
        .await;
    assert_eq!(res.headers()[LOCATION], "/app/trends");
    let session = browser
        .cookies
        .iter()
        .find(|(n, _)| n == "ms_session")
        .unwrap()
        .1
        .clone();

    let (status, _) = browser.get(&app, "/app").await;
    assert_eq!(status, 200);
    let res = browser.post(&app, "/app/logout", &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    assert!(!browser.has("ms_session"));
    // The old cookie, replayed, is a revoked session: back to the login page.
    let res = app
        .client
        .get(app.url("/app"))
        .header(COOKIE, format!("ms_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn the_demo_fills_the_overview_trends_and_product_pages() {
    let app = spawn_app().await;
    let mut browser = signed_up(&app, "dave").await;
    let (_, html) = browser.get(&app, "/app").await;
    let res = browser
        .post(&app, "/app/demo", &[("csrf", &csrf_of(&html))])
        .await;
    assert_eq!(res.status(), 303);
    assert!(
        app.scalar("SELECT COUNT(*) FROM products WHERE is_demo = 1")
            .await
            >= 60
    );

    let (status, html) = browser.get(&app, "/app").await;
    assert_eq!(status, 200);
    assert!(html.contains("Trending now"));
    assert!(html.contains("<svg class=\"spark\""));
    let first = html.find("/app/products/").expect("a trending product");
    let id: String = html[first + 14..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();

    let (status, html) = browser.get(&app, "/app/trends?sort=name&q=a").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<option value=\"name\" selected>"),
        "the filters live in the URL"
    );
    let at = html.find("/app/trends.csv?").expect("a CSV link");
    assert!(
        html[at..].starts_with("/app/trends.csv?q=a&#38;sort=name\""),
        "{}",
        &html[at..at + 60]
    );
    let (status, csv) = browser.get(&app, "/app/trends.csv?q=a&sort=name").await;
    assert_eq!(status, 200);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("Product ID,Product Name,Trend Score,Calculated At")
    );
    let names: Vec<String> = lines
        .map(|l| l.split(',').nth(1).unwrap().to_lowercase())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.contains('a')),
        "{names:?}"
    );
    assert!(
        names.windows(2).all(|w| w[0] <= w[1]),
        "sorted by name as on screen"
    );

    let (status, html) = browser.get(&app, &format!("/app/products/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("demo data"));
    assert!(html.contains("Why this score"));
    assert!(html.contains("role=\"img\""));
    assert!(html.contains("<desc id=\"chart-desc\">Daily attention from"));
    assert!(html.contains("Add to watchlist"));
    let res = browser
        .post(
            &app,
            &format!("/app/products/{id}/watch"),
            &[("csrf", &csrf_of(&html))],
        )
        .await;
    assert_eq!(res.status(), 303);
    let (_, html) = browser.get(&app, &format!("/app/products/{id}")).await;
    assert!(html.contains("Remove from watchlist"));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM watchlists").await, 1);
    assert!(
        html.contains("<svg class=\"chart world\""),
        "the product's own map"
    );

    let (status, html) = browser.get(&app, "/app/heat-map").await;
    assert_eq!(status, 200);
    assert!(html.contains("Interest across the tracked products by country"));
    assert!(
        html.contains("class=\"country heat-5\""),
        "the hottest country is at the top step"
    );
    assert!(html.contains("<table class=\"matrix\">"));
    let (status, html) = browser
        .get(&app, &format!("/app/heat-map?product={id}"))
        .await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("<option value=\"{id}\" selected>")));
    // A product outside the hottest shown in the matrix is still the one chosen.
    let quiet = app.product("Quiet Kettle").await;
    let (status, html) = browser
        .get(&app, &format!("/app/heat-map?product={quiet}"))
        .await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!(
            "<option value=\"{quiet}\" selected>Quiet Kettle</option>"
        )),
        "{html}"
    );
}

#[tokio::test]
async fn unknown_pages_and_products_get_a_friendly_page_never_a_trace() {
    let app = spawn_app().await;
    let mut browser = signed_up(&app, "erin").await;
    for path in [
        "/app/no-such-page",
        "/app/products/999999",
        "/app/products/abc",
    ] {
        let (status, html) = browser.get(&app, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(html.contains("Page not found"), "{path}");
        assert!(html.contains("<!doctype html>"));
    }
    // A trailing slash on the dashboard's address leads to it.
    let res = app.get("/app/").await;
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()[LOCATION], "/app");
    // The API's own 404 stays JSON.
    let res = app.get("/no-such-endpoint").await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["detail"],
        "Not Found"
    );
}

#[tokio::test]
async fn pages_load_only_our_own_assets() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/app/login")).send().await.unwrap();
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let html = res.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no third-party asset"
    );
    let css = app
        .client
        .get(app.url("/app/assets/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(
        css.text()
            .await
            .unwrap()
            .contains("prefers-color-scheme: dark")
    );
}

#[tokio::test]
async fn the_watchlist_page_shows_movement_exports_the_briefs_csv_and_removes_entries() {
    let app = spawn_app().await;
    let mut browser = signed_up(&app, "frank").await;
    let lamp = app.product("Sunset Lamp").await;
    let (_, html) = browser.get(&app, "/app/watchlist").await;
    assert!(html.contains("You watch no product yet"));
    let csrf = csrf_of(&html);
    browser
        .post(
            &app,
            &format!("/app/products/{lamp}/watch"),
            &[("csrf", &csrf)],
        )
        .await;
    let (status, html) = browser.get(&app, "/app/watchlist").await;
    assert_eq!(status, 200);
    assert!(html.contains("Sunset Lamp"));

    let res = browser
        .with(app.client.get(app.url("/app/export/watchlist.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("watchlist_export.csv")
    );
    let csv = res.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("Product ID,Product Name,Description,Added Date")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(&format!("{lamp},Sunset Lamp,"))
    );

    let res = browser
        .post(
            &app,
            &format!("/app/products/{lamp}/unwatch"),
            &[("csrf", &csrf), ("back", "/app/watchlist")],
        )
        .await;
    assert_eq!(res.headers()[LOCATION], "/app/watchlist");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM watchlists").await, 0);
    // Without a session, a download is a trip to the login page, not a file.
    let res = app
        .client
        .get(app.url("/app/export/watchlist.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn the_ad_scanner_filters_by_platform_country_and_score() {
    let app = spawn_app().await;
    let mut browser = signed_up(&app, "grace").await;
    let lamp = app.product("Sunset Lamp").await;
    app.ad(
        lamp,
        "TikTok",
        "Glow up your room with this lamp",
        Some("US"),
    )
    .await;
    app.ad(lamp, "Facebook", "Sunset lamp sale today", Some("FR"))
        .await;
    let (status, html) = browser.get(&app, "/app/ads").await;
    assert_eq!(status, 200);
    assert!(html.contains("Glow up your room") && html.contains("Sunset lamp sale"));
    let (_, html) = browser.get(&app, "/app/ads?platform=TikTok").await;
    assert!(html.contains("Glow up your room") && !html.contains("Sunset lamp sale"));
    let (_, html) = browser.get(&app, "/app/ads?country=fr").await;
    assert!(!html.contains("Glow up your room") && html.contains("Sunset lamp sale"));
    let (_, html) = browser
        .get(&app, "/app/ads?min_score=101&platform=Nope&sort=x")
        .await;
    assert!(
        html.contains("Sunset lamp sale"),
        "bad filters are ignored, not an error"
    );
}

#[tokio::test]
async fn a_product_page_shows_its_most_viral_ads_and_new_ones_among_equals() {
    let app = spawn_app().await;
    let mut browser = signed_up(&app, "grace").await;
    let lamp = app.product("Sunset Lamp").await;
    for i in 0..13 {
        app.ad(
            lamp,
            "TikTok",
            &format!("Sunset lamp ad number {i:02}"),
            None,
        )
        .await;
    }
    app.sql("UPDATE ads SET engagement_score = 40").await;
    app.sql("UPDATE ads SET engagement_score = 90 WHERE ad_content LIKE '%number 03'")
        .await;
    let (status, html) = browser.get(&app, &format!("/app/products/{lamp}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("The 12 most viral of its 13 ads"), "{html}");
    let at = |text: &str| html.find(text).unwrap_or_else(|| panic!("{text} missing"));
    // The most viral first, then the newest: the oldest of equals is left out.
    assert!(at("number 03") < at("number 12") && at("number 12") < at("number 11"));
    assert!(
        !html.contains("number 00"),
        "the oldest of equals is the one left out"
    );
}

/// A file source over a folder with one export of `lines` observations.
async fn file_source(app: &TestApp, dir: &std::path::Path, lines: usize) -> i64 {
    let mut ndjson = String::new();
    for n in 0..lines {
        ndjson += &format!(
            "{{\"platform\":\"tiktok\",\"kind\":\"video\",\"platform_id\":\"{}\",\"text\":\"sunset lamp haul {n}\",\"observed_at\":\"2025-11-19T08:00:00Z\",\"views\":{}}}\n",
            7_300_000_000_000_000_000u64 + n as u64,
            1000 + n
        );
    }
    std::fs::write(dir.join("drop.ndjson"), ndjson).unwrap();
    app.state
        .store
        .create_source(
            &marketscout::store::sources::SourceFields {
                name: Some("Drop folder".into()),
                kind: Some(marketscout::connectors::SourceKind::File),
                query: Some(vec![dir.display().to_string()]),
                every_minutes: Some(60),
                ..Default::default()
            },
            marketscout::time::now_ms(),
        )
        .await
        .unwrap()
        .id
}

/// Presses "Scan now" on the sources page `html` and follows the scan's
/// progress to its end: the scan's page and its last progress report.
async fn scan_now(
    app: &TestApp,
    admin: &mut Browser,
    source: i64,
    html: &str,
) -> (String, serde_json::Value) {
    let res = admin
        .post(
            app,
            &format!("/app/sources/{source}/scan"),
            &[("csrf", &csrf_of(html))],
        )
        .await;
    assert_eq!(res.status(), 303);
    let scan_page = res.headers()[LOCATION].to_str().unwrap().to_owned();
    let mut progress = serde_json::Value::Null;
    for _ in 0..100 {
        let res = admin
            .with(app.client.get(app.url(&format!("{scan_page}/progress"))))
            .send()
            .await
            .unwrap();
        progress = res.json().await.unwrap();
        if progress["running"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (scan_page, progress)
}

#[tokio::test]
async fn an_administrator_starts_a_scan_and_follows_it_to_the_end() {
    let app = spawn_app().await;
    let mut admin = signed_up(&app, "root").await;
    let mut seller = signed_up(&app, "seller").await;
    app.sql("UPDATE users SET is_admin = 1 WHERE username = 'root'")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let source = file_source(&app, dir.path(), 40).await;

    let (status, html) = seller.get(&app, "/app/sources").await;
    assert_eq!(status, 403, "administrators only");
    assert!(html.contains("Not allowed"));

    let (status, html) = admin.get(&app, "/app/sources").await;
    assert_eq!(status, 200);
    assert!(html.contains("Drop folder") && html.contains("Scan now"));
    let (scan_page, progress) = scan_now(&app, &mut admin, source, &html).await;
    assert!(scan_page.starts_with("/app/scans/"));
    assert_eq!(progress["status"], "succeeded", "{progress}");
    assert_eq!(progress["accepted"], 40);
    let (status, html) = admin.get(&app, &scan_page).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"scan-accepted\">40<"));
    assert!(html.contains("<progress"));
    assert!(
        html.contains(" UTC ("),
        "times read as on every other page: {html}"
    );

    // The folder is gone: the next scan fails, and the source says so.
    drop(dir);
    let (_, html) = admin.get(&app, "/app/sources").await;
    let (_, progress) = scan_now(&app, &mut admin, source, &html).await;
    assert_eq!(progress["status"], "failed", "{progress}");
    let (_, html) = admin.get(&app, "/app/sources").await;
    assert!(html.contains("ready; its last scan failed"), "{html}");
}

#[tokio::test]
async fn a_discovered_term_is_tracked_in_one_click() {
    let app = spawn_app().await;
    let mut browser = signed_up(&app, "heidi").await;
    let (status, html) = browser.get(&app, "/app/discover").await;
    assert_eq!(status, 200);
    assert!(html.contains("Newly discovered terms"));
    let csrf = csrf_of(&html);
    // Presses "Track" for #glowlamp: where the button leads.
    async fn track(browser: &mut Browser, app: &TestApp, csrf: &str) -> String {
        let res = browser
            .post(
                app,
                "/app/discover/track",
                &[("csrf", csrf), ("term", "#glowlamp")],
            )
            .await;
        assert_eq!(res.status(), 303);
        res.headers()[LOCATION].to_str().unwrap().to_owned()
    }
    let to = track(&mut browser, &app, &csrf).await;
    assert!(to.starts_with("/app/products/"), "{to}");
    let (status, html) = browser.get(&app, &to).await;
    assert_eq!(status, 200);
    assert!(html.contains("#glowlamp"), "tracked by its hashtag");

    // A second click goes to the same product rather than making a twin.
    assert_eq!(track(&mut browser, &app, &csrf).await, to);
}

#[tokio::test]
async fn the_log_in_form_counts_against_the_authentication_limit_and_says_so_in_a_page() {
    let app = spawn_app_with(|c| c.rate_limit.enabled = true).await;
    let mut browser = Browser::default();
    let (_, html) = browser.get(&app, "/app/login").await;
    let csrf = csrf_of(&html);
    let limit = app.state.config.rate_limit.auth;
    for _ in 0..limit {
        let res = browser
            .post(
                &app,
                "/app/login",
                &[
                    ("csrf", &csrf),
                    ("username", "nobody"),
                    ("password", "guess"),
                ],
            )
            .await;
        assert_eq!(res.status(), 401);
    }
    let res = browser
        .post(
            &app,
            "/app/login",
            &[
                ("csrf", &csrf),
                ("username", "nobody"),
                ("password", "guess"),
            ],
        )
        .await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.text().await.unwrap().contains("Too many attempts"));
    // Reading the form is not an attempt.
    let (status, _) = browser.get(&app, "/app/login").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_products_terms_are_edited_in_a_form_with_the_apis_validation() {
    let app = spawn_app().await;
    let mut browser = signed_up(&app, "ivan").await;
    let lamp = app.product("Sunset Lamp").await;
    let (status, html) = browser
        .get(&app, &format!("/app/products/{lamp}/terms"))
        .await;
    assert_eq!(status, 200);
    let csrf = csrf_of(&html);
    let too_long = "x".repeat(101);
    let res = browser
        .post(
            &app,
            &format!("/app/products/{lamp}/terms"),
            &[
                ("csrf", &csrf),
                ("keywords", &format!("moon lamp, {too_long}")),
                ("hashtags", "#moonlamp"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("id=\"keywords-error\""),
        "the error is beside its field"
    );
    assert!(html.contains("#moonlamp"), "what was typed stays");

    let res = browser
        .post(
            &app,
            &format!("/app/products/{lamp}/terms"),
            &[
                ("csrf", &csrf),
                ("keywords", "moon lamp, galaxy light ,"),
                ("hashtags", "#MoonLamp"),
                ("aliases", ""),
                ("negative_keywords", "moon boots"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let product: serde_json::Value = app
        .get(&format!("/products/{lamp}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        product["keywords"],
        serde_json::json!(["moon lamp", "galaxy light"])
    );
    assert_eq!(
        product["hashtags"],
        serde_json::json!(["MoonLamp"]),
        "as the API keeps them, without the #"
    );
    assert_eq!(
        product["negative_keywords"],
        serde_json::json!(["moon boots"])
    );
}

#[tokio::test]
async fn the_alert_centre_lists_alerts_marks_them_read_snoozes_and_adds_webhooks() {
    let app = spawn_app_with(|c| c.notify.allow_private_targets = false).await;
    let mut browser = signed_up(&app, "gina").await;
    let lamp = app.product("Sunset Lamp").await;
    let (_, html) = browser.get(&app, "/app/watchlist").await;
    let csrf = csrf_of(&html);
    browser
        .post(
            &app,
            &format!("/app/products/{lamp}/watch"),
            &[("csrf", &csrf)],
        )
        .await;
    let viral = "🔥 VIRAL deal of the day! Get yours now before they sell out!!";
    app.ad(lamp, "TikTok", viral, None).await;

    let (_, overview) = browser.get(&app, "/app").await;
    assert!(
        overview.contains("1 unread"),
        "the overview shows unread alerts"
    );
    assert!(overview.contains("New viral ad detected for Sunset Lamp on TikTok!"));
    let (_, html) = browser.get(&app, "/app/watchlist").await;
    assert!(html.contains(&format!(
        "data-stream=\"/app/alerts/stream?after={}\"",
        app.scalar("SELECT MAX(id) FROM alerts").await
    )));
    let id = app.scalar("SELECT MAX(id) FROM alerts").await;
    let res = browser
        .post(&app, &format!("/app/alerts/{id}/read"), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.headers()[LOCATION], "/app/watchlist#alerts");
    let (_, html) = browser.get(&app, "/app/watchlist").await;
    assert!(html.contains("0 unread"));
    let res = browser
        .post(
            &app,
            &format!("/app/alerts/{id}/read"),
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(res.status(), 403);

    let watch = app.scalar("SELECT MAX(id) FROM watchlists").await;
    browser
        .post(
            &app,
            &format!("/app/watchlist/{watch}/snooze"),
            &[("csrf", &csrf), ("hours", "168")],
        )
        .await;
    let (_, html) = browser.get(&app, "/app/watchlist").await;
    assert!(html.contains("Snoozed until"));
    let res = browser
        .post(
            &app,
            &format!("/app/watchlist/{watch}/snooze"),
            &[("csrf", &csrf), ("hours", "5")],
        )
        .await;
    assert_eq!(res.status(), 400, "only the offered choices");

    let res = browser
        .post(
            &app,
            "/app/webhooks",
            &[
                ("csrf", &csrf),
                ("url", "http://127.0.0.1:9/hook"),
                ("format", "json"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("This URL cannot be used"), "{html}");
    assert!(
        html.contains("value=\"http://127.0.0.1:9/hook\""),
        "what was typed is kept"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM webhooks").await, 0);

    let res = browser
        .post(
            &app,
            "/app/alerts/email",
            &[("csrf", &csrf), ("email_alerts", "daily")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let (_, html) = browser.get(&app, "/app/watchlist").await;
    assert!(html.contains("<option value=\"daily\" selected>"));
    assert!(html.contains("no mail settings yet"));

    // 36 alerts in all: the centre shows 30 a page, unread first, and pages on.
    app.sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 35) \
         INSERT INTO alerts (user_id, product_id, rule, event_key, message, created_at) \
         SELECT a.user_id, a.product_id, a.rule, a.event_key || '-' || CAST(n.i AS TEXT), \
           'Older copy', a.created_at FROM n CROSS JOIN (SELECT * FROM alerts LIMIT 1) a",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (_, html) = browser.get(&app, "/app/watchlist").await;
    assert_eq!(html.matches("<li class=\"alert").count(), 30);
    assert!(html.contains("/app/watchlist?alerts_page=1#alerts"));
    let (_, html) = browser.get(&app, "/app/watchlist?alerts_page=1").await;
    assert_eq!(html.matches("<li class=\"alert").count(), 6);
    assert!(html.contains("Newer alerts") && !html.contains("Older alerts"));
    let (status, _) = browser.get(&app, "/app/watchlist?alerts_page=x").await;
    assert_eq!(status, 200, "a bad page number is the first page");

    // The live stream needs a session like every other page.
    let res = app
        .client
        .get(app.url("/app/alerts/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn alert_rules_are_changed_in_a_form_with_the_apis_validation() {
    let app = spawn_app().await;
    let mut browser = signed_up(&app, "hugo").await;
    let (status, html) = browser.get(&app, "/app/alerts/rules").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"score_threshold.threshold\""));
    assert!(html.contains("value=\"exploding\" checked"));
    let csrf = csrf_of(&html);
    let form = |threshold: &'static str, points: &'static str| {
        vec![
            ("score_threshold.enabled", "on"),
            ("score_threshold.threshold", threshold),
            ("score_threshold.direction", "both"),
            ("score_threshold.confirmations", "2"),
            ("score_threshold.cooldown_minutes", "60"),
            ("score_jump.points", points),
            ("score_jump.within_hours", "12"),
            ("score_jump.direction", "up"),
            ("score_jump.confirmations", "1"),
            ("score_jump.cooldown_minutes", "60"),
            ("stage_change.enabled", "on"),
            ("stage_change.stages", "exploding"),
            ("stage_change.stages", "saturated"),
            ("stage_change.confirmations", "1"),
            ("stage_change.cooldown_minutes", "0"),
            ("viral_ad.enabled", "on"),
            ("viral_ad.min_score", "80"),
            ("viral_ad.cooldown_minutes", "30"),
            ("forecast_growth.percent", "50"),
            ("forecast_growth.confirmations", "1"),
            ("forecast_growth.cooldown_minutes", "1440"),
            ("new_country.enabled", "on"),
            ("new_country.min_interest", "40"),
            ("new_country.cooldown_minutes", "0"),
        ]
    };
    let mut bad = form("150", "lots");
    bad.push(("csrf", &csrf));
    let res = browser.post(&app, "/app/alerts/rules", &bad).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Enter a number"),
        "a word where a number goes"
    );
    assert!(html.contains("value=\"150\""), "what was typed is kept");
    let res = app
        .client
        .post(app.url("/token"))
        .form(&[("username", "hugo"), ("password", "secret123")])
        .send()
        .await
        .unwrap();
    let token = json_of(res).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, unchanged) = json_of(app.get_auth("/alerts/rules", &token).await).await;
    assert_eq!(unchanged["viral_ad"]["min_score"], 70, "nothing saved");

    let mut too_high = form("150", "20");
    too_high.push(("csrf", &csrf));
    let res = browser.post(&app, "/app/alerts/rules", &too_high).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("between 0 and 100"));

    // A choice that does not exist (a forged form) is named beside its field too.
    let mut sideways: Vec<(&str, &str)> = form("65", "20")
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                if k == "score_jump.direction" {
                    "sideways"
                } else {
                    v
                },
            )
        })
        .collect();
    sideways.push(("csrf", &csrf));
    let res = browser.post(&app, "/app/alerts/rules", &sideways).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("id=\"score_jump.direction-error\">Input should be &#39;up&#39;"),
        "{html}"
    );

    let mut good = form("65", "20");
    good.push(("csrf", &csrf));
    let res = browser.post(&app, "/app/alerts/rules", &good).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/app/alerts/rules?saved=1");
    let (_, rules) = json_of(app.get_auth("/alerts/rules", &token).await).await;
    assert_eq!(rules["score_threshold"]["threshold"], 65.0);
    assert_eq!(rules["score_threshold"]["direction"], "both");
    assert_eq!(
        rules["score_jump"]["enabled"], false,
        "an unticked box is off"
    );
    assert_eq!(
        rules["stage_change"]["stages"],
        serde_json::json!(["exploding", "saturated"])
    );
    assert_eq!(rules["viral_ad"]["min_score"], 80);
    assert_eq!(rules["forecast_growth"]["enabled"], false);
    let (_, html) = browser.get(&app, "/app/alerts/rules?saved=1").await;
    assert!(html.contains("Rules saved."));
}
