//! The store on SQLite and PostgreSQL alike: migrations, the deliveries queue, installations,
//! setup states.

#[macro_use]
mod common;

use common::{Backend, TestDb};
use shipgate::store::codec::Codec;
use shipgate::store::deliveries::{DeliveryStatus, InsertOutcome, NewDelivery};
use shipgate::store::installations::InstallationRow;

fn delivery(id: &str, status: DeliveryStatus) -> NewDelivery {
    let body = br#"{"action":"opened","number":1}"#;
    NewDelivery {
        delivery_id: id.to_owned(),
        event: "pull_request".into(),
        action: Some("opened".into()),
        installation_id: Some(7),
        repository: Some("acme/widgets".into()),
        status,
        headers_json: "{}".into(),
        body: (status == DeliveryStatus::Pending).then(|| (Codec::Lz4, Codec::Lz4.compress(body))),
        body_len: body.len() as i64,
        received_at: 1_700_000_000_000,
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

async fn a_batch_commits_together_and_reports_duplicates(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let first = store
        .insert_deliveries(&[delivery("a", DeliveryStatus::Pending)])
        .await
        .unwrap();
    assert!(matches!(first[0], InsertOutcome::Stored { .. }));
    let batch = [
        delivery("b", DeliveryStatus::Pending),
        delivery("a", DeliveryStatus::Pending),
        delivery("b", DeliveryStatus::Pending),
        delivery("c", DeliveryStatus::Ignored),
    ];
    let outcomes = store.insert_deliveries(&batch).await.unwrap();
    assert!(matches!(outcomes[0], InsertOutcome::Stored { .. }));
    assert_eq!(
        outcomes[1],
        InsertOutcome::Duplicate,
        "already stored earlier"
    );
    assert_eq!(outcomes[2], InsertOutcome::Duplicate, "twice in one batch");
    assert!(matches!(outcomes[3], InsertOutcome::Stored { .. }));
    let counts = store.delivery_counts().await.unwrap();
    assert_eq!(
        counts,
        vec![(DeliveryStatus::Ignored, 1), (DeliveryStatus::Pending, 2)]
    );
    let b = store.delivery("b").await.unwrap().unwrap();
    assert_eq!(
        b.body.as_deref(),
        Some(&br#"{"action":"opened","number":1}"#[..])
    );
}

/// Two workers never hold the same delivery: the second gets the next one (PostgreSQL skips
/// the locked row; SQLite waits for the first transaction and then sees it processed).
async fn concurrent_claims_take_different_deliveries(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store
        .insert_deliveries(&[
            delivery("one", DeliveryStatus::Pending),
            delivery("two", DeliveryStatus::Pending),
        ])
        .await
        .unwrap();
    let (mut tx, first) = store
        .claim_pending_delivery()
        .await
        .unwrap()
        .expect("one pending");
    assert_eq!(first.delivery_id, "one");
    let other = store.clone();
    let second = tokio::spawn(async move {
        let (mut tx, d) = other
            .claim_pending_delivery()
            .await
            .unwrap()
            .expect("another pending");
        tx.finish_delivery(d.id, DeliveryStatus::Processed, None, 2)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        d.delivery_id
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    tx.finish_delivery(first.id, DeliveryStatus::Processed, None, 1)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(second.await.unwrap(), "two");
    assert!(store.claim_pending_delivery().await.unwrap().is_none());
    assert_eq!(
        store.delivery_counts().await.unwrap(),
        vec![(DeliveryStatus::Processed, 2)]
    );
}

async fn a_rolled_back_claim_leaves_the_delivery_pending(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store
        .insert_deliveries(&[delivery("x", DeliveryStatus::Pending)])
        .await
        .unwrap();
    let (mut tx, d) = store.claim_pending_delivery().await.unwrap().unwrap();
    tx.finish_delivery(d.id, DeliveryStatus::Processed, None, 1)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    store
        .note_delivery_attempt(d.id, "database went away")
        .await
        .unwrap();
    let again = store.delivery("x").await.unwrap().unwrap();
    assert_eq!(again.status, DeliveryStatus::Pending);
    assert_eq!(again.attempts, 1);
    assert_eq!(again.error.as_deref(), Some("database went away"));
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
    store.save_setup_state("fresh", 10_000).await.unwrap();
    store.save_setup_state("old", 1_000).await.unwrap();
    assert!(store.take_setup_state("fresh", 5_000).await.unwrap());
    assert!(
        !store.take_setup_state("fresh", 5_000).await.unwrap(),
        "used once"
    );
    assert!(
        !store.take_setup_state("old", 5_000).await.unwrap(),
        "expired"
    );
    assert!(!store.take_setup_state("never-issued", 0).await.unwrap());
}

on_both_backends!(
    migrations_apply_once_and_match_the_files,
    a_batch_commits_together_and_reports_duplicates,
    concurrent_claims_take_different_deliveries,
    a_rolled_back_claim_leaves_the_delivery_pending,
    installations_are_upserted,
    setup_states_work_once_and_expire,
);
