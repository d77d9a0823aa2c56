//! The scan schedule, as the store keeps it: when a source is due, that a
//! source never has two scans running, that a scan whose server died is
//! picked up again once its lease lapses, that a paused source waits, and that
//! instances racing for due scans each get a different one (on PostgreSQL,
//! several servers share one database).

use marketscout::connectors::SourceKind;
use marketscout::store::Store;
use marketscout::store::sources::{ScanError, ScanStatus, SourceFields};

use crate::helpers::*;

const MINUTE: i64 = 60_000;
/// 2025-11-20T12:00:00Z: the tests' clock.
const T0: i64 = 1_763_640_000_000;

async fn add_source(store: &Store, name: &str, every_minutes: i64) -> i64 {
    store
        .create_source(
            &SourceFields {
                name: Some(name.into()),
                kind: Some(SourceKind::Reddit),
                query: Some(vec!["r/gadgets".into()]),
                every_minutes: Some(every_minutes),
                ..SourceFields::default()
            },
            T0,
        )
        .await
        .unwrap()
        .id
}

async fn claim(store: &Store, owner: &str, now: i64) -> Option<(i64, i64)> {
    store.reap_abandoned_scans(now).await.unwrap();
    store
        .claim_due_scan(owner, now, now + 2 * MINUTE, None, "schedule")
        .await
        .unwrap()
        .map(|c| (c.scan_id, c.source.id))
}

async fn finish(store: &Store, scan_id: i64, now: i64) {
    store
        .finish_scan(scan_id, ScanStatus::Succeeded, &[], 0, None, now)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_source_is_due_at_once_then_every_interval_and_never_twice_at_a_time() {
    let app = spawn_app().await;
    let store = &app.state.store;
    let id = add_source(store, "gadgets", 60).await;

    let (scan, source) = claim(store, "a", T0)
        .await
        .expect("a new source is due at once");
    assert_eq!(source, id);
    assert_eq!(
        claim(store, "b", T0 + MINUTE).await,
        None,
        "its scan is running"
    );
    let manual = store
        .claim_due_scan("b", T0 + MINUTE, T0 + 3 * MINUTE, Some(id), "manual")
        .await
        .unwrap();
    assert!(
        manual.is_none(),
        "a scan on request waits for the running one"
    );

    finish(store, scan, T0 + 2 * MINUTE).await;
    assert_eq!(
        claim(store, "a", T0 + 59 * MINUTE).await,
        None,
        "not due before its interval"
    );
    let (next, _) = claim(store, "a", T0 + 60 * MINUTE)
        .await
        .expect("due after 60 minutes");
    let claimed = store.scan(next).await.unwrap();
    assert_eq!(
        claimed.window_from,
        T0 - 60 * MINUTE,
        "the next window starts an hour before the last one ended (late-indexed posts)"
    );
    assert_eq!(claimed.window_to, T0 + 60 * MINUTE);
}

#[tokio::test]
async fn a_disabled_or_paused_source_waits() {
    let app = spawn_app().await;
    let store = &app.state.store;
    let id = add_source(store, "gadgets", 15).await;
    store
        .update_source(
            id,
            &SourceFields {
                enabled: Some(false),
                ..SourceFields::default()
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(claim(store, "a", T0).await, None, "disabled");
    store
        .update_source(
            id,
            &SourceFields {
                enabled: Some(true),
                ..SourceFields::default()
            },
            T0,
        )
        .await
        .unwrap();

    let (scan, _) = claim(store, "a", T0).await.unwrap();
    let limit = ScanError {
        at: T0,
        code: "rate_limited".into(),
        message: "reddit rate limit reached: resets in 2 hours".into(),
    };
    store
        .finish_scan(
            scan,
            ScanStatus::Failed,
            &[limit],
            0,
            Some((T0 + 120 * MINUTE, "reddit rate limit reached".into())),
            T0 + MINUTE,
        )
        .await
        .unwrap();
    let source = store.source(id).await.unwrap();
    assert_eq!(source.paused_until, Some(T0 + 120 * MINUTE));
    assert_eq!(
        claim(store, "a", T0 + 30 * MINUTE).await,
        None,
        "paused, though due"
    );
    assert!(
        claim(store, "a", T0 + 120 * MINUTE).await.is_some(),
        "resumes when the pause ends"
    );
    let failed = store.scan(scan).await.unwrap();
    assert_eq!(failed.status, ScanStatus::Failed);
    assert_eq!(failed.errors[0].code, "rate_limited");
}

#[tokio::test]
async fn a_scan_whose_server_died_is_abandoned_when_its_lease_lapses_and_its_source_is_due_again() {
    let app = spawn_app().await;
    let store = &app.state.store;
    let id = add_source(store, "gadgets", 60).await;
    let (dead, _) = claim(store, "died", T0).await.unwrap();

    assert_eq!(
        claim(store, "alive", T0 + MINUTE).await,
        None,
        "the lease still holds"
    );
    let (again, source) = claim(store, "alive", T0 + 3 * MINUTE)
        .await
        .expect("due again as soon as the lease lapsed, not an interval later");
    assert_eq!(source, id);
    assert_ne!(again, dead);
    assert_eq!(
        store.scan(dead).await.unwrap().status,
        ScanStatus::Abandoned
    );
    assert!(
        !store
            .renew_scan_lease(dead, "died", T0 + 10 * MINUTE)
            .await
            .unwrap(),
        "the dead instance, if it comes back, learns it lost the scan"
    );
    assert!(
        store
            .renew_scan_lease(again, "alive", T0 + 10 * MINUTE)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn instances_racing_for_due_scans_each_get_a_different_one() {
    let app = spawn_app().await;
    let store = app.state.store.clone();
    for i in 0..3 {
        add_source(&store, &format!("source {i}"), 60).await;
    }
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .claim_due_scan(&format!("instance {i}"), T0, T0 + MINUTE, None, "schedule")
                    .await
                    .unwrap()
                    .map(|c| c.source.id)
            })
        })
        .collect();
    let mut won = Vec::new();
    for r in racers {
        won.extend(r.await.unwrap());
    }
    won.sort();
    let distinct = {
        let mut d = won.clone();
        d.dedup();
        d
    };
    assert_eq!(won.len(), 3, "every due source claimed once: {won:?}");
    assert_eq!(distinct, won, "no source claimed twice");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM scans WHERE status = 'running'")
            .await,
        3
    );
}
