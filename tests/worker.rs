//! The delivery worker keeps going whatever a single delivery is like: a damaged body, a
//! body-less row of an event it handles, a delivery that kept failing — each gets its own
//! outcome and the rest of the queue is processed.

#[macro_use]
mod common;

use common::{Backend, Shipgate, TestDb, fixture};
use shipgate::sim::Simulator;
use shipgate::store::codec::Codec;
use shipgate::store::deliveries::{DeliveryStatus, NewDelivery};

fn row(id: &str, event: &str, body: Option<(Codec, Vec<u8>)>, len: usize) -> NewDelivery {
    NewDelivery {
        delivery_id: id.to_owned(),
        event: event.to_owned(),
        action: Some("created".into()),
        installation_id: None,
        repository: None,
        headers_json: "{}".into(),
        body,
        body_len: len as i64,
        received_at: 0,
    }
}

async fn one_bad_delivery_does_not_stop_the_queue(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let good = fixture("installation", "created-1.json");
    let damaged = Codec::Lz4.compress(&good)[..40].to_vec();
    // A delivery whose transaction failed five times already.
    store
        .insert_deliveries(&[row(
            "stuck",
            "installation",
            Some((Codec::Lz4, Codec::Lz4.compress(&good))),
            good.len(),
        )])
        .await
        .unwrap();
    let stuck = store.pending_deliveries(1).await.unwrap().remove(0);
    for _ in 0..5 {
        store
            .note_delivery_attempt(stuck.id, "deadlock detected", 1)
            .await
            .unwrap();
    }
    store
        .insert_deliveries(&[
            row(
                "damaged",
                "installation",
                Some((Codec::Lz4, damaged)),
                good.len(),
            ),
            row("bodiless", "pull_request", None, 10),
            row(
                "good",
                "installation",
                Some((Codec::Lz4, Codec::Lz4.compress(&good))),
                good.len(),
            ),
        ])
        .await
        .unwrap();

    let sim = Simulator::start().await;
    let sg = Shipgate::start(&db, &sim).await;
    sg.drain().await;
    let stuck = store.delivery("stuck").await.unwrap().unwrap();
    assert_eq!(stuck.status, DeliveryStatus::Failed);
    assert!(
        stuck
            .error
            .unwrap()
            .contains("gave up after 5 attempts: deadlock detected")
    );
    let damaged = store.delivery("damaged").await.unwrap().unwrap();
    assert_eq!(damaged.status, DeliveryStatus::Failed);
    assert!(damaged.error.unwrap().contains("damaged"));
    assert_eq!(
        store.delivery("bodiless").await.unwrap().unwrap().status,
        DeliveryStatus::Ignored
    );
    assert_eq!(
        store.delivery("good").await.unwrap().unwrap().status,
        DeliveryStatus::Processed
    );
    let payload: serde_json::Value = serde_json::from_slice(&good).unwrap();
    let id = payload["installation"]["id"].as_i64().unwrap();
    assert!(
        store.installation(id).await.unwrap().is_some(),
        "the good delivery was applied"
    );
    sg.stop().await;
}

on_both_backends!(one_bad_delivery_does_not_stop_the_queue);
