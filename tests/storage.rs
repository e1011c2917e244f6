//! The store on SQLite and PostgreSQL alike: migrations, the deliveries queue, installations,
//! setup states.

#[macro_use]
mod common;

use common::{Backend, TestDb};
use shipgate::store::codec::Codec;
use shipgate::store::deliveries::{DeliveryStatus, NewDelivery, Outcome};
use shipgate::store::installations::InstallationRow;

fn delivery(id: &str, handled: bool) -> NewDelivery {
    let body = br#"{"action":"opened","number":1}"#;
    NewDelivery {
        delivery_id: id.to_owned(),
        event: if handled { "pull_request" } else { "star" }.into(),
        action: Some("opened".into()),
        installation_id: Some(7),
        repository: Some("acme/widgets".into()),
        headers_json: "{}".into(),
        body: handled.then(|| (Codec::Lz4, Codec::Lz4.compress(body))),
        body_len: body.len() as i64,
        received_at: 1_700_000_000_000,
    }
}

fn outcome(id: i64, status: DeliveryStatus) -> Outcome {
    Outcome {
        id,
        status,
        error: None,
    }
}

async fn migrations_apply_once_and_match_the_files(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store.migrate().await.expect("a second run is a no-op");
    let dir = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let mut files: Vec<i64> = std::fs::read_dir(format!("{}/{dir}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .split('_')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    files.sort();
    assert_eq!(store.applied_migrations().await.unwrap(), files);
    store.ping().await.unwrap();
}

/// Ingest appends everything, redeliveries included, and every row is queued.
async fn a_batch_is_appended_and_queued(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store
        .insert_deliveries(&[delivery("a", true)])
        .await
        .unwrap();
    store
        .insert_deliveries(&[
            delivery("b", true),
            delivery("a", true),
            delivery("c", false),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.delivery_counts().await.unwrap(),
        vec![(DeliveryStatus::Pending, 4)]
    );
    let b = store.delivery("b").await.unwrap().unwrap();
    assert_eq!(
        b.body.as_deref(),
        Some(&br#"{"action":"opened","number":1}"#[..])
    );
    assert_eq!(b.status, DeliveryStatus::Pending);
    let c = store.delivery("c").await.unwrap().unwrap();
    assert!(
        c.body.is_none(),
        "no body kept for an event shipgate ignores"
    );
    let queued = store.pending_deliveries(10).await.unwrap();
    assert_eq!(
        queued
            .iter()
            .map(|d| d.delivery_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b", "a", "c"]
    );
}

/// The first delivery of a GUID is taken; later ones (in the same batch or later) are not.
async fn each_guid_is_taken_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store
        .insert_deliveries(&[
            delivery("a", true),
            delivery("b", true),
            delivery("a", true),
        ])
        .await
        .unwrap();
    let pending = store.pending_deliveries(10).await.unwrap();
    let ids: Vec<i64> = pending.iter().map(|d| d.id).collect();
    let (mut tx, locked) = store.lock_pending(&ids).await.unwrap();
    assert_eq!(locked, ids);
    let guids: Vec<(&str, i64)> = pending
        .iter()
        .map(|d| (d.delivery_id.as_str(), d.id))
        .collect();
    let duplicates = tx.take_guids(&guids).await.unwrap();
    assert_eq!(duplicates.into_iter().collect::<Vec<_>>(), vec![ids[2]]);
    let outcomes = vec![
        outcome(ids[0], DeliveryStatus::Processed),
        outcome(ids[1], DeliveryStatus::Processed),
        outcome(ids[2], DeliveryStatus::Duplicate),
    ];
    tx.record_outcomes(&outcomes, 5).await.unwrap();
    tx.commit().await.unwrap();
    assert!(
        store.pending_deliveries(10).await.unwrap().is_empty(),
        "dequeued"
    );

    // GitHub redelivers `b` a day later: stored and queued, then recognised.
    store
        .insert_deliveries(&[delivery("b", true)])
        .await
        .unwrap();
    let again = store.pending_deliveries(10).await.unwrap();
    let (mut tx, _) = store.lock_pending(&[again[0].id]).await.unwrap();
    let duplicates = tx.take_guids(&[("b", again[0].id)]).await.unwrap();
    assert!(duplicates.contains(&again[0].id));
    tx.record_outcomes(&[outcome(again[0].id, DeliveryStatus::Duplicate)], 6)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.delivery_counts().await.unwrap(),
        vec![
            (DeliveryStatus::Processed, 2),
            (DeliveryStatus::Duplicate, 2)
        ]
    );
    // The GUID names the delivery that was processed.
    assert_eq!(store.delivery("b").await.unwrap().unwrap().id, ids[1]);
}

/// Two workers never hold the same delivery: PostgreSQL skips rows another transaction
/// locked; SQLite makes the second wait, and by then the row is dequeued.
async fn concurrent_lockers_take_different_deliveries(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store
        .insert_deliveries(&[delivery("one", true), delivery("two", true)])
        .await
        .unwrap();
    let ids: Vec<i64> = store
        .pending_deliveries(10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    let (mut tx, first) = store.lock_pending(&ids[..1]).await.unwrap();
    assert_eq!(first, ids[..1]);
    let other = store.clone();
    let all = ids.clone();
    let second = tokio::spawn(async move {
        let (mut tx, locked) = other.lock_pending(&all).await.unwrap();
        let outcomes: Vec<Outcome> = locked
            .iter()
            .map(|id| outcome(*id, DeliveryStatus::Processed))
            .collect();
        tx.record_outcomes(&outcomes, 2).await.unwrap();
        tx.commit().await.unwrap();
        locked
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    tx.record_outcomes(&[outcome(ids[0], DeliveryStatus::Processed)], 1)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        second.await.unwrap(),
        vec![ids[1]],
        "the other worker got only the other delivery"
    );
    assert_eq!(
        store.delivery_counts().await.unwrap(),
        vec![(DeliveryStatus::Processed, 2)]
    );
}

async fn a_rolled_back_batch_stays_queued(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store
        .insert_deliveries(&[delivery("x", true)])
        .await
        .unwrap();
    let d = store.pending_deliveries(1).await.unwrap().remove(0);
    let (mut tx, _) = store.lock_pending(&[d.id]).await.unwrap();
    tx.record_outcomes(&[outcome(d.id, DeliveryStatus::Processed)], 1)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    store
        .note_delivery_attempt(d.id, "database went away", 2)
        .await
        .unwrap();
    let again = store.delivery("x").await.unwrap().unwrap();
    assert_eq!(again.status, DeliveryStatus::Pending);
    assert_eq!(again.attempts, 1);
    assert_eq!(again.error.as_deref(), Some("database went away"));
    assert_eq!(store.pending_deliveries(5).await.unwrap().len(), 1);
}

async fn installations_are_upserted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut row = InstallationRow {
        installation_id: 99,
        account_login: "acme".into(),
        account_type: Some("Organization".into()),
        repository_selection: Some("selected".into()),
        suspended: false,
        deleted: false,
        updated_at: 1,
    };
    let mut tx = store.begin().await.unwrap();
    tx.upsert_installation(&row).await.unwrap();
    tx.add_installation_repository(99, 1, "acme/a")
        .await
        .unwrap();
    tx.add_installation_repository(99, 2, "acme/b")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    row.suspended = true;
    row.repository_selection = None;
    let mut tx = store.begin().await.unwrap();
    tx.upsert_installation(&row).await.unwrap();
    tx.remove_installation_repository(99, 1).await.unwrap();
    tx.commit().await.unwrap();
    let stored = store.installation(99).await.unwrap().unwrap();
    assert!(stored.suspended);
    assert_eq!(
        stored.repository_selection.as_deref(),
        Some("selected"),
        "an absent value keeps the old one"
    );
    assert_eq!(
        store.installation_repositories(99).await.unwrap(),
        vec!["acme/b".to_string()]
    );
}

async fn setup_states_work_once_and_expire(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store.save_setup_state("old", 1_000, 0).await.unwrap();
    store.save_setup_state("recent", 6_000, 0).await.unwrap();
    // Saving a new state clears those issued before the given time.
    store
        .save_setup_state("fresh", 10_000, 5_000)
        .await
        .unwrap();
    assert!(store.take_setup_state("fresh", 5_000).await.unwrap());
    assert!(
        !store.take_setup_state("fresh", 5_000).await.unwrap(),
        "used once"
    );
    assert!(
        !store.take_setup_state("old", 0).await.unwrap(),
        "expired and cleared"
    );
    assert!(
        !store.take_setup_state("recent", 7_000).await.unwrap(),
        "too old when taken"
    );
    assert!(!store.take_setup_state("never-issued", 0).await.unwrap());
}

on_both_backends!(
    migrations_apply_once_and_match_the_files,
    a_batch_is_appended_and_queued,
    each_guid_is_taken_once,
    concurrent_lockers_take_different_deliveries,
    a_rolled_back_batch_stays_queued,
    installations_are_upserted,
    setup_states_work_once_and_expire,
);
