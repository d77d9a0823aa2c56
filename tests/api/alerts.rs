//! Alerts on watched products: stored once per event, read state, rules,
//! snoozes, the live stream, webhooks (signed, retried, in order, once across
//! instances) and email.

use std::time::Duration;

use marketscout::notify::deliver::Deliverer;
use marketscout::notify::email::{SmtpSecurity, SmtpSettings};
use marketscout::notify::webhook::verify;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, json_of, loc, spawn_app, spawn_app_with, spawn_pair_with, validation_errors,
};
use crate::receiver::Receiver;
use crate::smtp_sink::SmtpSink;

const VIRAL: &str = "🔥 VIRAL deal of the day! Get yours now before they sell out!!";

/// A user watching "Lamp" with only the viral-ad rule on and no cooldown, so
/// each viral ad posted is exactly one alert.
async fn watching_viral_ads(app: &TestApp, user: &str) -> (String, i64, i64) {
    let token = app.user_token(user).await;
    let lamp = app.product("Lamp").await;
    let (status, _) = json_of(
        app.patch_json_auth(
            "/alerts/rules",
            &json!({
                "score_threshold": {"enabled": false},
                "score_jump": {"enabled": false},
                "stage_change": {"enabled": false},
                "forecast_growth": {"enabled": false},
                "new_country": {"enabled": false},
                "viral_ad": {"cooldown_minutes": 0},
            }),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let (_, entry) = json_of(
        app.post_json_auth("/watchlists", &json!({"product_id": lamp}), &token)
            .await,
    )
    .await;
    (token, lamp, entry["id"].as_i64().unwrap())
}

async fn alerts(app: &TestApp, token: &str, query: &str) -> Value {
    let (status, body) = json_of(app.get_auth(&format!("/alerts{query}"), token).await).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn alerts_are_listed_unread_first_with_their_details_and_read_one_by_one() {
    let app = spawn_app().await;
    let (token, lamp, _) = watching_viral_ads(&app, "ann").await;
    app.ad(lamp, "TikTok", VIRAL, None).await;
    app.ad(lamp, "YouTube", VIRAL, None).await;

    let list = alerts(&app, &token, "").await;
    assert_eq!(list["unread"], 2);
    let first = &list["alerts"][0];
    assert_eq!(
        first["message"],
        "🔥 New viral ad detected for Lamp on YouTube!"
    );
    assert_eq!(first["rule"], "viral_ad");
    assert_eq!(first["product_id"], lamp);
    assert_eq!(first["product_name"], "Lamp");
    assert_eq!(first["read"], false);
    assert!(first["value_after"].as_f64().unwrap() >= 70.0);

    let older = list["alerts"][1]["id"].as_i64().unwrap();
    let (status, read) = json_of(
        app.post_json_auth(&format!("/alerts/{older}/read"), &json!({}), &token)
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(read["read"], true);
    let list = alerts(&app, &token, "").await;
    assert_eq!(list["unread"], 1);
    assert_eq!(
        list["alerts"][1]["read"], true,
        "read alerts come after unread ones"
    );
    let unread = alerts(&app, &token, "?unread=true").await;
    assert_eq!(unread["alerts"].as_array().unwrap().len(), 1);

    let bob = app.user_token("bob").await;
    let res = app
        .post_json_auth(&format!("/alerts/{older}/read"), &json!({}), &bob)
        .await;
    assert_eq!(
        res.status(),
        404,
        "someone else's alert looks like no alert"
    );
    assert_eq!(alerts(&app, &bob, "").await["alerts"], json!([]));
    let (status, body) = json_of(app.get_auth("/alerts?limit=0", &token).await).await;
    assert_eq!(status, 422);
    assert_eq!(validation_errors(&body)[0].1, loc(&["query", "limit"]));
}

#[tokio::test]
async fn rules_have_defaults_that_a_user_and_each_product_can_change() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let lamp = app.product("Lamp").await;
    let (_, defaults) = json_of(app.get_auth("/alerts/rules", &token).await).await;
    assert_eq!(defaults["score_threshold"]["threshold"], 70.0);
    assert_eq!(defaults["viral_ad"]["min_score"], 70);

    let (status, body) = json_of(
        app.patch_json_auth(
            "/alerts/rules",
            &json!({"score_threshold": {"threshold": 150, "confirmations": 0}, "sms": true}),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    let locs: Vec<Vec<Value>> = validation_errors(&body).into_iter().map(|e| e.1).collect();
    assert_eq!(locs, [loc(&["body", "sms"])]);
    let (status, body) = json_of(
        app.patch_json_auth(
            "/alerts/rules",
            &json!({"score_threshold": {"threshold": 150, "confirmations": 0}}),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    let locs: Vec<Vec<Value>> = validation_errors(&body).into_iter().map(|e| e.1).collect();
    assert_eq!(
        locs,
        [
            loc(&["body", "score_threshold", "threshold"]),
            loc(&["body", "score_threshold", "confirmations"])
        ]
    );

    let (_, mine) = json_of(
        app.patch_json_auth(
            "/alerts/rules",
            &json!({"score_jump": {"points": 25}}),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(mine["score_jump"]["points"], 25.0);
    assert_eq!(mine["score_jump"]["within_hours"], 24, "the rest is kept");

    let (_, entry) = json_of(
        app.post_json_auth("/watchlists", &json!({"product_id": lamp}), &token)
            .await,
    )
    .await;
    let path = format!("/watchlists/{}/rules", entry["id"]);
    let (_, own) = json_of(app.get_auth(&path, &token).await).await;
    assert_eq!(own["custom"], false);
    assert_eq!(
        own["rules"]["score_jump"]["points"], 25.0,
        "the user's defaults apply"
    );
    let (_, own) = json_of(
        app.patch_json_auth(
            &path,
            &json!({"stage_change": {"stages": ["exploding"]}}),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(own["custom"], true);
    assert_eq!(own["rules"]["stage_change"]["stages"], json!(["exploding"]));
    assert_eq!(own["rules"]["score_jump"]["points"], 25.0);
    let (status, body) = json_of(
        app.patch_json_auth(
            &path,
            &json!({"stage_change": {"stages": ["viral"]}}),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        validation_errors(&body)[0].1,
        vec![
            json!("body"),
            json!("stage_change"),
            json!("stages"),
            json!(0)
        ]
    );
    let res = app.delete_auth(&path, &token).await;
    let (_, reset) = json_of(res).await;
    assert_eq!(reset["custom"], false);

    let bob = app.user_token("bob").await;
    assert_eq!(app.get_auth(&path, &bob).await.status(), 404);
}

#[tokio::test]
async fn a_snoozed_product_raises_nothing_until_woken() {
    let app = spawn_app().await;
    let (token, lamp, watch) = watching_viral_ads(&app, "ann").await;
    let (status, body) = json_of(
        app.post_json_auth(
            &format!("/watchlists/{watch}/snooze"),
            &json!({"hours": 0}),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, snoozed) = json_of(
        app.post_json_auth(
            &format!("/watchlists/{watch}/snooze"),
            &json!({"hours": 24}),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert!(snoozed["snoozed_until"].is_string());
    app.ad(lamp, "TikTok", VIRAL, None).await;
    assert_eq!(alerts(&app, &token, "").await["unread"], 0);

    let res = app
        .delete_auth(&format!("/watchlists/{watch}/snooze"), &token)
        .await;
    assert_eq!(json_of(res).await.1["snoozed_until"], Value::Null);
    app.ad(lamp, "YouTube", VIRAL, None).await;
    let list = alerts(&app, &token, "").await;
    assert_eq!(
        list["alerts"][0]["message"], "🔥 New viral ad detected for Lamp on YouTube!",
        "what happened during the snooze is not replayed"
    );
    assert_eq!(list["unread"], 1);
}

#[tokio::test]
async fn evaluating_again_after_a_crash_stores_each_event_once() {
    let app = spawn_app().await;
    let (token, lamp, _) = watching_viral_ads(&app, "ann").await;
    // Recorded as evaluated, then the evaluation's bookkeeping is lost (as if
    // the process died between storing alerts and anything after).
    app.ad(lamp, "TikTok", VIRAL, None).await;
    app.sql("UPDATE watchlists SET rule_state = '{}'").await;
    app.sql("UPDATE alert_cursor SET seq = 0").await;
    let store = &app.state.store;
    let again = store
        .evaluate_alerts(marketscout::time::now_ms())
        .await
        .unwrap();
    assert_eq!(again.watches, 1);
    assert!(again.alerts.is_empty(), "{again:?}");
    assert_eq!(alerts(&app, &token, "").await["unread"], 1);
    // Nothing left to evaluate: a second pass is a no-op.
    let idle = store
        .evaluate_alerts(marketscout::time::now_ms())
        .await
        .unwrap();
    assert_eq!((idle.products, idle.watches), (0, 0));
}

/// Several refreshes while nobody evaluated (a server down, a backlog): each
/// reading is judged in turn, for every product, with the score before it:
/// up, down, up, then down again after one more reading; the same for the
/// watches with their own jump window, which read their readings apart.
#[tokio::test]
async fn readings_piled_up_between_evaluations_are_each_judged_in_order() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let (status, _) = json_of(
        app.patch_json_auth(
            "/alerts/rules",
            &json!({
                "score_threshold": {"threshold": 50, "direction": "both", "cooldown_minutes": 0},
                "score_jump": {"enabled": false},
                "stage_change": {"enabled": false},
                "forecast_growth": {"enabled": false},
                "new_country": {"enabled": false},
                "viral_ad": {"enabled": false},
            }),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let mut products = Vec::new();
    for i in 0..7 {
        let id = app.product(&format!("Lamp {i}")).await;
        let (status, watch) = json_of(
            app.post_json_auth("/watchlists", &json!({"product_id": id}), &token)
                .await,
        )
        .await;
        assert_eq!(status, 200);
        if i % 2 == 1 {
            let path = format!("/watchlists/{}/rules", watch["id"]);
            let res = app
                .patch_json_auth(&path, &json!({"score_jump": {"within_hours": 2}}), &token)
                .await;
            assert_eq!(res.status(), 200);
        }
        products.push(id);
    }
    let store = &app.state.store;
    // A new product is matched and scored by the server in the background:
    // that first reading comes before the scripted ones.
    for id in &products {
        let mut waited = 0;
        while store.latest_score_record(*id).await.is_err() {
            assert!(waited < 200, "product {id} was never scored");
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += 1;
        }
    }
    let start = marketscout::time::now_ms();
    for (step, score) in [40.0, 60.0, 30.0, 80.0].into_iter().enumerate() {
        for id in &products {
            store
                .record_score(*id, score, 0, start + step as i64 * 60_000)
                .await
                .unwrap();
        }
    }
    // The server's own start-up evaluation may take part of the backlog
    // (it runs beside the test): what is stored is the same either way.
    store.evaluate_alerts(start + 240_000).await.unwrap();
    for id in &products {
        store
            .record_score(*id, 20.0, 0, start + 300_000)
            .await
            .unwrap();
    }
    store.evaluate_alerts(start + 360_000).await.unwrap();

    for id in &products {
        let list = alerts(&app, &token, &format!("?product_id={id}")).await;
        let mut seen: Vec<(Value, Value)> = list["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["value_before"].clone(), a["value_after"].clone()))
            .collect();
        seen.reverse();
        assert_eq!(
            seen,
            [
                (json!(40.0), json!(60.0)),
                (json!(60.0), json!(30.0)),
                (json!(30.0), json!(80.0)),
                (json!(80.0), json!(20.0)),
            ],
            "product {id}: {list}"
        );
    }
}

#[tokio::test]
async fn the_live_stream_delivers_a_new_alert_within_a_second() {
    let app = spawn_app().await;
    let (token, lamp, _) = watching_viral_ads(&app, "ann").await;
    app.ad(lamp, "TikTok", VIRAL, None).await;
    let mut stream = app
        .client
        .get(app.url("/alerts/stream"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");

    let started = std::time::Instant::now();
    app.ad(lamp, "YouTube", VIRAL, None).await;
    let mut seen = String::new();
    while !seen.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(1), stream.chunk())
            .await
            .expect("an event within a second")
            .unwrap()
            .unwrap();
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(seen.contains("event: alert"), "{seen}");
    assert!(
        seen.contains("New viral ad detected for Lamp on YouTube"),
        "only what is new since the stream opened: {seen}"
    );
    assert!(!seen.contains("TikTok"), "{seen}");

    // A client that reconnects with Last-Event-ID gets what it missed.
    let first = alerts(&app, &token, "").await["alerts"][1]["id"]
        .as_i64()
        .unwrap();
    let mut resumed = app
        .client
        .get(app.url("/alerts/stream"))
        .bearer_auth(&token)
        .header("Last-Event-ID", (first - 1).to_string())
        .send()
        .await
        .unwrap();
    let chunk = tokio::time::timeout(Duration::from_secs(1), resumed.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(std::str::from_utf8(&chunk).unwrap().contains("TikTok"));
    assert_eq!(app.get("/alerts/stream").await.status(), 401);
}

async fn register(app: &TestApp, token: &str, url: &str, format: &str) -> (i64, String) {
    let (status, body) = json_of(
        app.post_json_auth("/webhooks", &json!({"url": url, "format": format}), token)
            .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_i64().unwrap(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn webhooks_to_the_servers_own_network_are_refused_by_default() {
    let app = spawn_app_with(|c| c.notify.allow_private_targets = false).await;
    let token = app.user_token("ann").await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
    ] {
        let (status, body) = json_of(
            app.post_json_auth("/webhooks", &json!({"url": url}), &token)
                .await,
        )
        .await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(validation_errors(&body)[0].1, loc(&["body", "url"]));
    }
    let (status, body) = json_of(
        app.post_json_auth(
            "/webhooks",
            &json!({"url": "ftp://example.com/x", "format": "teams"}),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    let locs: Vec<Vec<Value>> = validation_errors(&body).into_iter().map(|e| e.1).collect();
    assert!(locs.contains(&loc(&["body", "format"])), "{body}");
}

#[tokio::test]
async fn a_webhook_gets_every_alert_signed_and_in_order_after_its_receiver_comes_back() {
    let app = spawn_app_with(|c| c.notify.retry_base = Duration::from_millis(50)).await;
    let receiver = Receiver::start(3).await;
    let (token, lamp, _) = watching_viral_ads(&app, "ann").await;
    let (hook, secret) = register(&app, &token, &receiver.url, "json").await;
    let (_, listed) = json_of(app.get_auth("/webhooks", &token).await).await;
    assert_eq!(listed[0]["id"], hook);
    assert!(
        listed[0].get("secret").is_none(),
        "the secret is shown once"
    );

    let platforms = ["TikTok", "YouTube", "Facebook", "Instagram", "Twitter"];
    for platform in platforms {
        app.ad(lamp, platform, VIRAL, None).await;
    }
    let got = receiver.wait_for(5, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 5, "all delivered once the receiver accepts");
    assert!(receiver.attempts() >= 8, "three refusals were retried");
    let now = marketscout::time::now_ms() / 1000;
    let mut ids = Vec::new();
    for (r, platform) in got.iter().zip(platforms) {
        verify(
            &secret,
            r.header("x-marketscout-signature"),
            &r.body,
            now,
            300,
        )
        .expect("a valid signature");
        assert!(
            verify(
                "whsec_other",
                r.header("x-marketscout-signature"),
                &r.body,
                now,
                300
            )
            .is_err()
        );
        let body = r.json();
        assert_eq!(body["type"], "alert");
        assert_eq!(
            body["alert"]["message"],
            format!("🔥 New viral ad detected for Lamp on {platform}!"),
            "in the order they were raised"
        );
        assert_eq!(r.header("x-marketscout-event"), "alert");
        ids.push(body["alert"]["id"].as_i64().unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // A round's results are recorded after its requests are answered: the
    // receiver can have all five a moment before the outbox says so.
    let mut deliveries = Vec::new();
    for _ in 0..100 {
        let (_, listed) = json_of(
            app.get_auth(&format!("/webhooks/{hook}/deliveries"), &token)
                .await,
        )
        .await;
        deliveries = listed.as_array().unwrap().clone();
        if deliveries.iter().all(|d| d["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(deliveries.len(), 5);
    let first = deliveries.last().unwrap();
    assert_eq!(first["status"], "delivered");
    assert_eq!(first["attempts"], 4, "three refusals then success");
    assert_eq!(first["last_status_code"], 200);
}

#[tokio::test]
async fn a_test_event_reaches_slack_and_discord_webhooks_in_their_formats() {
    let app = spawn_app().await;
    let slack = Receiver::start(0).await;
    let discord = Receiver::start(0).await;
    let token = app.user_token("ann").await;
    let (slack_id, _) = register(&app, &token, &slack.url, "slack").await;
    let (discord_id, _) = register(&app, &token, &discord.url, "discord").await;
    for id in [slack_id, discord_id] {
        let (status, queued) = json_of(
            app.post_json_auth(&format!("/webhooks/{id}/test"), &json!({}), &token)
                .await,
        )
        .await;
        assert_eq!(status, 202);
        assert_eq!(queued["status"], "pending");
    }
    let got = slack.wait_for(1, Duration::from_secs(5)).await;
    assert!(got[0].json()["text"].as_str().unwrap().contains("test"));
    assert_eq!(got[0].header("x-marketscout-event"), "test");
    let got = discord.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].json()["allowed_mentions"], json!({"parse": []}));

    let bob = app.user_token("bob").await;
    assert_eq!(
        app.post_json_auth(&format!("/webhooks/{slack_id}/test"), &json!({}), &bob)
            .await
            .status(),
        404
    );
    assert_eq!(
        app.delete_auth(&format!("/webhooks/{slack_id}"), &bob)
            .await
            .status(),
        404
    );
    assert_eq!(
        app.delete_auth(&format!("/webhooks/{slack_id}"), &token)
            .await
            .status(),
        200
    );
    let (_, left) = json_of(app.get_auth("/webhooks", &token).await).await;
    assert_eq!(left.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn two_instances_on_one_database_deliver_each_alert_once() {
    let (first, second) = spawn_pair_with(|_| {}).await;
    let receiver = Receiver::start(0).await;
    let (token, lamp, _) = watching_viral_ads(&first, "ann").await;
    register(&first, &token, &receiver.url, "json").await;
    let platforms = [
        "TikTok",
        "YouTube",
        "Facebook",
        "Instagram",
        "Twitter",
        "TikTok",
    ];
    for (i, platform) in platforms.iter().enumerate() {
        let app = if i % 2 == 0 { &first } else { &second };
        app.ad(lamp, platform, VIRAL, None).await;
    }
    let got = receiver.wait_for(6, Duration::from_secs(10)).await;
    // Give a duplicate the time it would need to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = receiver.accepted().await;
    assert_eq!(got.len(), 6);
    assert_eq!(got_after.len(), 6, "each alert delivered once");
    let mut deliveries: Vec<String> = got_after
        .iter()
        .map(|r| r.header("x-marketscout-delivery").to_owned())
        .collect();
    deliveries.dedup();
    assert_eq!(deliveries.len(), 6);
}

fn smtp_to(sink: &SmtpSink) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port: sink.port(),
        username: None,
        password: None,
        security: SmtpSecurity::None,
        from: "MarketScout <alerts@example.com>".into(),
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn an_immediate_email_arrives_and_its_unsubscribe_link_works_without_logging_in() {
    let sink = SmtpSink::start().await;
    let settings = smtp_to(&sink);
    let app = spawn_app_with(move |c| c.notify.smtp = Some(settings)).await;
    let (token, lamp, _) = watching_viral_ads(&app, "ann").await;
    let (status, body) = json_of(
        app.patch_json_auth("/alerts/email", &json!({"email_alerts": "weekly"}), &token)
            .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (_, settings) = json_of(
        app.patch_json_auth(
            "/alerts/email",
            &json!({"email_alerts": "immediate"}),
            &token,
        )
        .await,
    )
    .await;
    assert_eq!(settings["email_alerts"], "immediate");
    assert_eq!(settings["smtp_configured"], true);

    app.ad(lamp, "TikTok", VIRAL, None).await;
    let mail = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, ["ann@example.com"]);
    let subject = mail[0].header("Subject").unwrap();
    assert!(
        subject.contains("New viral ad detected for Lamp on TikTok"),
        "{subject}"
    );
    let link = mail[0].header("List-Unsubscribe").unwrap();
    let link = link.trim_matches(['<', '>']);
    let path = &link[link.find("/app/unsubscribe").unwrap()..];

    // A fresh browser, no session: the page asks, the button unsubscribes.
    let anonymous = reqwest::Client::new();
    let page = anonymous.get(app.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Stop alert emails?"));
    let (_, still) = json_of(app.get_auth("/alerts/email", &token).await).await;
    assert_eq!(
        still["email_alerts"], "immediate",
        "opening the link changes nothing"
    );
    let done = anonymous.post(app.url(path)).send().await.unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("ann@example.com"));
    let (_, off) = json_of(app.get_auth("/alerts/email", &token).await).await;
    assert_eq!(off["email_alerts"], "off");
    let forged = anonymous
        .post(app.url("/app/unsubscribe?token=not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);

    app.ad(lamp, "YouTube", VIRAL, None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sink.messages().await.len(),
        1,
        "no email after unsubscribing"
    );
}

#[tokio::test]
async fn a_daily_digest_gathers_the_days_alerts_in_one_email() {
    let sink = SmtpSink::start().await;
    let settings = smtp_to(&sink);
    let app = spawn_app_with(move |c| {
        c.notify.smtp = Some(settings);
        // Past the digest hour whatever the time of day the test runs.
        c.notify.digest_hour_utc = 0;
        c.notify.delivery_enabled = false;
    })
    .await;
    let (token, lamp, _) = watching_viral_ads(&app, "ann").await;
    // Raised before the user asked for digests: not the digest's news.
    app.ad(lamp, "Instagram", VIRAL, None).await;
    app.patch_json_auth("/alerts/email", &json!({"email_alerts": "daily"}), &token)
        .await;
    for platform in ["TikTok", "YouTube", "Facebook"] {
        app.ad(lamp, platform, VIRAL, None).await;
    }
    let store = app.state.store.clone();
    let now = marketscout::time::now_ms();
    let deliverer = Deliverer::new(
        store.clone(),
        app.state.config.notify.clone(),
        app.base.clone(),
    );
    // The digest is queued once a day, whatever the number of rounds.
    assert_eq!(store.queue_digests(now / 86_400_000, now).await.unwrap(), 1);
    assert_eq!(store.queue_digests(now / 86_400_000, now).await.unwrap(), 0);
    let round = deliverer.round(now).await.unwrap();
    assert_eq!(round.delivered, 1);
    let mail = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mail.len(), 1);
    let subject = mail[0].header("Subject").unwrap();
    assert!(subject.contains("3 alerts"), "{subject}");
    assert!(mail[0].data.contains("Facebook"));
    assert!(!mail[0].data.contains("Instagram"), "{}", mail[0].data);
}

#[tokio::test]
async fn instances_queueing_the_digests_together_queue_each_once() {
    let app = spawn_app().await;
    let (token, lamp, _) = watching_viral_ads(&app, "ann").await;
    app.patch_json_auth("/alerts/email", &json!({"email_alerts": "daily"}), &token)
        .await;
    app.ad(lamp, "TikTok", VIRAL, None).await;
    let store = &app.state.store;
    let now = marketscout::time::now_ms();
    let day = now / 86_400_000;
    let (a, b) = tokio::join!(store.queue_digests(day, now), store.queue_digests(day, now));
    assert_eq!(a.unwrap() + b.unwrap(), 1, "one digest for the day");
}

#[tokio::test]
async fn a_delivery_leased_by_an_instance_that_died_is_sent_once_after_its_lease_lapses() {
    let app = spawn_app_with(|c| c.notify.delivery_enabled = false).await;
    let receiver = Receiver::start(0).await;
    let (token, lamp, _) = watching_viral_ads(&app, "ann").await;
    register(&app, &token, &receiver.url, "json").await;
    app.ad(lamp, "TikTok", VIRAL, None).await;
    app.ad(lamp, "YouTube", VIRAL, None).await;
    let store = app.state.store.clone();
    let now = marketscout::time::now_ms();

    // An instance leases both deliveries and dies before sending them.
    let leased = store.claim_deliveries(now, 60_000, 32, 50).await.unwrap();
    assert_eq!(leased.iter().map(Vec::len).sum::<usize>(), 2);
    let survivor = Deliverer::new(
        store.clone(),
        app.state.config.notify.clone(),
        app.base.clone(),
    );
    let round = survivor.round(now + 1_000).await.unwrap();
    assert_eq!(round.delivered, 0, "a held lease is respected");
    // Once the lease lapses, another instance sends them, in order, once.
    let round = survivor.round(now + 61_000).await.unwrap();
    assert_eq!(round.delivered, 2);
    assert_eq!(survivor.round(now + 62_000).await.unwrap().delivered, 0);
    let got = receiver.wait_for(2, Duration::from_secs(5)).await;
    let messages: Vec<String> = got
        .iter()
        .map(|r| r.json()["alert"]["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        messages,
        [
            "🔥 New viral ad detected for Lamp on TikTok!",
            "🔥 New viral ad detected for Lamp on YouTube!"
        ]
    );
}

#[tokio::test]
async fn a_logout_ends_the_alert_stream_it_opened() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let other = app.user_token("bob").await;
    let open = |token: String| {
        let app = &app;
        async move {
            let res = app
                .client
                .get(app.url("/alerts/stream"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res
        }
    };
    let mut ann = open(token.clone()).await;
    let mut bob = open(other.clone()).await;

    let res = app.post_json_auth("/logout", &json!(null), &token).await;
    assert_eq!(res.status(), 200);
    let started = std::time::Instant::now();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(2), ann.chunk())
            .await
            .expect("the stream ends within two seconds of the logout")
            .unwrap();
        if chunk.is_none() {
            break;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), bob.chunk())
            .await
            .is_err(),
        "another user's stream stays open"
    );
}
