//! The email channel end to end: `Mailer` talking SMTP to a real (tiny) server.

use std::time::{Duration, Instant};

use marketscout::notify::AlertView;
use marketscout::notify::email::{
    EmailError, Mailer, SmtpSecurity, SmtpSettings, alert_email, digest_email,
};

use crate::smtp_sink::SmtpSink;

const WAIT: Duration = Duration::from_secs(5);
const UNSUBSCRIBE: &str = "https://scout.example.com/unsubscribe?token=t0k3n";

fn settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".to_owned(),
        port,
        username: None,
        password: None,
        security: SmtpSecurity::None,
        from: "MarketScout <alerts@marketscout.test>".to_owned(),
        timeout: Duration::from_secs(5),
    }
}

fn lamp_alert() -> AlertView {
    AlertView {
        id: 1,
        product_id: 7,
        product_name: "Desk Lamp".to_owned(),
        rule: "score_jump".to_owned(),
        message: "Desk Lamp jumped to 82".to_owned(),
        value_before: Some(61.0),
        value_after: Some(82.0),
        created_at: 1_796_392_980_000,
        url: Some("https://scout.example.com/products/7".to_owned()),
    }
}

#[tokio::test]
async fn an_alert_email_arrives_with_its_headers_and_both_parts() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(&settings(sink.port())).unwrap();

    let email = alert_email("ann@example.com", &lamp_alert(), Some(UNSUBSCRIBE));
    mailer.send(&email).await.unwrap();

    let messages = sink.wait_for(1, WAIT).await;
    assert_eq!(messages.len(), 1);
    let mail = &messages[0];
    assert_eq!(mail.from, "alerts@marketscout.test");
    assert_eq!(mail.to, ["ann@example.com"]);
    let header = |name: &str| mail.header(name).unwrap_or_else(|| panic!("no {name}"));
    assert_eq!(header("From"), "MarketScout <alerts@marketscout.test>");
    assert_eq!(header("To"), "ann@example.com");
    assert_eq!(header("Subject"), "MarketScout: Desk Lamp jumped to 82");
    assert_eq!(header("List-Unsubscribe"), format!("<{UNSUBSCRIBE}>"));
    assert_eq!(
        header("List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    assert_eq!(header("Auto-Submitted"), "auto-generated");
    assert!(header("Message-ID").ends_with("@marketscout.test>"));
    assert!(header("Date").contains("2")); // set by lettre at build time
    assert!(header("Content-Type").starts_with("multipart/alternative"));
    assert!(
        mail.data
            .contains("Content-Type: text/plain; charset=utf-8")
    );
    assert!(mail.data.contains("Content-Type: text/html; charset=utf-8"));
    assert!(mail.data.contains("Desk Lamp jumped to 82"));
    assert!(mail.data.contains("<!DOCTYPE html>"));
}

#[tokio::test]
async fn the_list_unsubscribe_headers_are_left_out_without_a_link() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(&settings(sink.port())).unwrap();

    let email = digest_email("ann@example.com", "2026-12-04", &[lamp_alert()], None);
    mailer.send(&email).await.unwrap();

    let mail = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("MarketScout daily digest for 2026-12-04: 1 alert")
    );
    assert_eq!(mail.header("List-Unsubscribe"), None);
    assert_eq!(mail.header("List-Unsubscribe-Post"), None);
}

#[tokio::test]
async fn three_emails_sent_concurrently_all_arrive() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(&settings(sink.port())).unwrap();

    let recipients = ["a@example.com", "b@example.com", "c@example.com"];
    let emails: Vec<_> = recipients
        .iter()
        .map(|to| alert_email(to, &lamp_alert(), Some(UNSUBSCRIBE)))
        .collect();
    let results = futures::future::join_all(emails.iter().map(|email| mailer.send(email))).await;
    for result in results {
        result.unwrap();
    }

    let messages = sink.wait_for(3, WAIT).await;
    let mut arrived: Vec<String> = messages.iter().flat_map(|m| m.to.clone()).collect();
    arrived.sort();
    assert_eq!(arrived, recipients);
}

#[tokio::test]
async fn messages_sent_one_after_another_share_a_connection() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(&settings(sink.port())).unwrap();

    for to in ["a@example.com", "b@example.com", "c@example.com"] {
        mailer
            .send(&alert_email(to, &lamp_alert(), None))
            .await
            .unwrap();
        // lettre hands the connection back to its pool in a background task.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(sink.wait_for(3, WAIT).await.len(), 3);
    assert_eq!(sink.connections(), 1);
}

#[tokio::test]
async fn a_try_again_later_reply_is_transient_and_a_retry_gets_through() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(&settings(sink.port())).unwrap();
    sink.reject_next(1);

    let email = alert_email("ann@example.com", &lamp_alert(), None);
    let err = mailer.send(&email).await.unwrap_err();
    assert!(matches!(err, EmailError::Transient(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("451"), "{err}");
    assert!(sink.messages().await.is_empty());

    mailer.send(&email).await.unwrap();
    assert_eq!(sink.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn an_invalid_recipient_is_a_bad_address_before_any_connection() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(&settings(sink.port())).unwrap();

    let email = alert_email("not-an-address", &lamp_alert(), None);
    let err = mailer.send(&email).await.unwrap_err();
    assert!(matches!(err, EmailError::BadAddress(_)), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("not-an-address"), "{err}");
    assert_eq!(sink.connections(), 0);
}

#[tokio::test]
async fn configured_credentials_are_used_to_log_in() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::new(&SmtpSettings {
        username: Some("scout".to_owned()),
        password: Some("s3cret-pass".to_owned()),
        ..settings(sink.port())
    })
    .unwrap();

    mailer
        .send(&alert_email("ann@example.com", &lamp_alert(), None))
        .await
        .unwrap();

    assert_eq!(sink.wait_for(1, WAIT).await.len(), 1);
    assert_eq!(sink.logins(), ["scout"]);
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_transient_timeout() {
    // Accepts connections but never sends the 220 greeting. lettre's own
    // timeout only covers the TCP connect, so this checks the Mailer's.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mailer = Mailer::new(&SmtpSettings {
        timeout: Duration::from_millis(300),
        ..settings(port)
    })
    .unwrap();

    let started = Instant::now();
    let err = mailer
        .send(&alert_email("ann@example.com", &lamp_alert(), None))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    silent.abort();
}

#[tokio::test]
async fn a_dropped_sink_stops_accepting() {
    let sink = SmtpSink::start().await;
    let port = sink.port();
    drop(sink);

    let deadline = Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
    {
        assert!(Instant::now() < deadline, "port {port} still accepts");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
