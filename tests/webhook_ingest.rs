//! `POST /api/github/webhooks` through real HTTP, on SQLite and PostgreSQL: what GitHub (or an
//! attacker) gets back, and what is stored.

#[macro_use]
mod common;

use common::{Backend, Shipgate, TestDb, all_fixtures, fixture, guid};
use serde_json::Value;
use shipgate::github::signature;
use shipgate::sim::Simulator;
use shipgate::store::deliveries::DeliveryStatus;

async fn message(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (
        status,
        body["message"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn refuses_bad_input_in_order(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    let sg = Shipgate::start(&db, &sim).await;
    let url = sg.webhook_url();
    let body = fixture("issues", "opened-15.json");

    // No signature: 401, whatever else is wrong.
    let r = sg
        .http
        .post(&url)
        .header("x-github-event", "issues")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let (status, msg) = message(r).await;
    assert_eq!(status, 401);
    assert!(msg.contains("X-Hub-Signature-256"), "{msg}");

    // A signature made with another secret: 401.
    let r = sg
        .http
        .post(&url)
        .header("x-github-event", "issues")
        .header("x-github-delivery", guid())
        .header(
            "x-hub-signature-256",
            signature::sign(b"not the secret", &body),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(message(r).await.0, 401);

    // Signed correctly but not JSON: 400 (the signature is checked first, then the body).
    let r = sg
        .post_webhook("issues", &guid(), b"this is not json")
        .await;
    let (status, msg) = message(r).await;
    assert_eq!(status, 400);
    assert!(msg.contains("not valid JSON"), "{msg}");

    // Signed JSON without the event or delivery header: 400 naming the header.
    for missing in ["x-github-event", "x-github-delivery"] {
        let mut req = sg
            .http
            .post(&url)
            .header(
                "x-hub-signature-256",
                signature::sign(sg.secret.as_bytes(), &body),
            )
            .body(body.clone());
        if missing != "x-github-event" {
            req = req.header("x-github-event", "issues");
        }
        if missing != "x-github-delivery" {
            req = req.header("x-github-delivery", guid());
        }
        let (status, msg) = message(req.send().await.unwrap()).await;
        assert_eq!(status, 400);
        assert!(
            msg.to_lowercase().contains(missing),
            "{msg} should name {missing}"
        );
    }

    // Over 25 MiB, correctly signed: 413. Wrongly signed: 401 (signature first).
    let big = vec![b' '; 25 * 1024 * 1024 + 10];
    let r = sg.post_webhook("issues", &guid(), &big).await;
    assert_eq!(message(r).await.0, 413);
    let r = sg
        .http
        .post(&url)
        .header("x-github-event", "issues")
        .header("x-github-delivery", guid())
        .header("x-hub-signature-256", signature::sign(b"wrong", &big))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(message(r).await.0, 401);

    // Nothing of the above was stored.
    assert!(sg.store.delivery_counts().await.unwrap().is_empty());
    sg.stop().await;
}

async fn stores_before_answering_and_dedupes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    let sg = Shipgate::start(&db, &sim).await;
    let body = fixture("pull_request", "opened-12.json");
    let id = guid();

    let r = sg.post_webhook("pull_request", &id, &body).await;
    assert_eq!(r.status(), 202);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["status"], "queued");

    // The 202 came after the commit: the row is there, body byte for byte.
    let stored = sg.store.delivery(&id).await.unwrap().expect("stored");
    assert_eq!(stored.event, "pull_request");
    assert_eq!(stored.action.as_deref(), Some("opened"));
    assert_eq!(stored.body.as_deref(), Some(body.as_slice()));
    assert!(
        stored.stored_body_len < body.len() as i64 / 3,
        "bodies are kept compressed"
    );
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        stored.installation_id,
        payload["installation"]["id"].as_i64()
    );
    assert_eq!(
        stored.repository.as_deref(),
        payload["repository"]["full_name"].as_str()
    );
    let age = chrono::Utc::now().timestamp_millis() - stored.received_at;
    assert!(
        (0..60_000).contains(&age),
        "received_at is the arrival time"
    );

    // GitHub redelivers with the same GUID: 2xx, stored again for the record, and the worker
    // recognises it instead of processing it twice.
    let r = sg.post_webhook("pull_request", &id, &body).await;
    assert_eq!(r.status(), 202);
    sg.drain().await;
    assert_eq!(
        sg.store.delivery_counts().await.unwrap(),
        vec![
            (DeliveryStatus::Processed, 1),
            (DeliveryStatus::Duplicate, 1)
        ]
    );
    let taken = sg.store.delivery(&id).await.unwrap().unwrap();
    assert_eq!(taken.status, DeliveryStatus::Processed);
    let duplicate = &sg
        .store
        .deliveries_with_status(DeliveryStatus::Duplicate)
        .await
        .unwrap()[0];
    assert_eq!(duplicate.delivery_id, id);
    assert!(duplicate.id > taken.id, "the later copy is the duplicate");
    sg.stop().await;
}

async fn ping_and_unknown_events_are_answered_and_kept_as_headers(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    let sg = Shipgate::start(&db, &sim).await;

    let ping = guid();
    let r = sg
        .post_webhook("ping", &ping, &fixture("ping", "none-0.json"))
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "pong");

    // An event shipgate has never heard of, and a known event with an action it ignores.
    let star = guid();
    let r = sg
        .post_webhook(
            "star",
            &star,
            br#"{"action":"created","starred_at":"2026-01-01T00:00:00Z"}"#,
        )
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ignored");
    let pinned = guid();
    assert_eq!(
        sg.post_webhook("issues", &pinned, &fixture("issues", "pinned-19.json"))
            .await
            .status(),
        202
    );

    sg.drain().await;
    for id in [&ping, &star, &pinned] {
        let d = sg.store.delivery(id).await.unwrap().expect("stored");
        assert_eq!(d.status, DeliveryStatus::Ignored);
        assert!(d.body.is_none(), "ignored deliveries keep headers only");
    }
    sg.stop().await;
}

/// Every published example payload goes through the real endpoint; each is accepted and then
/// decoded by the worker or classified as ignored. None fails.
async fn every_github_example_payload_is_accepted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    let sg = Shipgate::start(&db, &sim).await;
    let fixtures = all_fixtures();
    assert!(fixtures.len() > 80, "the vendored examples are there");
    for (event, file, body) in &fixtures {
        let r = sg
            .post_webhook(event, &format!("{event}-{file}"), body)
            .await;
        assert_eq!(r.status(), 202, "{event}/{file} was refused");
    }
    sg.drain().await;
    let failed = sg
        .store
        .deliveries_with_status(DeliveryStatus::Failed)
        .await
        .unwrap();
    assert!(
        failed.is_empty(),
        "examples that did not decode: {:?}",
        failed
            .iter()
            .map(|d| (&d.delivery_id, &d.error))
            .collect::<Vec<_>>()
    );
    let counts = sg.store.delivery_counts().await.unwrap();
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    assert_eq!(total as usize, fixtures.len());
    let processed = counts
        .iter()
        .find(|(s, _)| *s == DeliveryStatus::Processed)
        .map(|c| c.1)
        .unwrap_or(0);
    assert!(
        processed > 50,
        "most examples are events shipgate handles ({processed})"
    );

    // Installations were recorded from the installation events.
    let created: Value =
        serde_json::from_slice(&fixture("installation", "created-1.json")).unwrap();
    let inst = sg
        .store
        .installation(created["installation"]["id"].as_i64().unwrap())
        .await
        .unwrap()
        .expect("installation recorded");
    assert_eq!(
        inst.account_login,
        created["installation"]["account"]["login"]
            .as_str()
            .unwrap()
    );
    let added: Value =
        serde_json::from_slice(&fixture("installation_repositories", "added-1.json")).unwrap();
    let repos = sg
        .store
        .installation_repositories(added["installation"]["id"].as_i64().unwrap())
        .await
        .unwrap();
    for r in added["repositories_added"].as_array().unwrap() {
        assert!(
            repos.contains(&r["full_name"].as_str().unwrap().to_owned()),
            "{repos:?}"
        );
    }
    sg.stop().await;
}

/// Concurrent deliveries share commits (group commit), and every one is stored.
async fn concurrent_deliveries_are_group_committed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    let sg = Shipgate::start(&db, &sim).await;
    let body = fixture("pull_request", "synchronize-22.json");
    let n = 300;
    let mut tasks = Vec::new();
    for i in 0..n {
        let http = sg.http.clone();
        let url = sg.webhook_url();
        let sig = signature::sign(sg.secret.as_bytes(), &body);
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .header("x-github-event", "pull_request")
                .header("x-github-delivery", format!("concurrent-{i}"))
                .header("x-hub-signature-256", sig)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    for i in 0..n {
        assert!(
            sg.store
                .delivery(&format!("concurrent-{i}"))
                .await
                .unwrap()
                .is_some()
        );
    }
    let stats = &sg.running.as_ref().unwrap().writer_stats;
    let rows = stats.rows.load(std::sync::atomic::Ordering::Relaxed);
    let batches = stats.batches.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(rows, n);
    assert!(
        batches < rows,
        "{rows} rows took {batches} commits: no batching happened"
    );
    sg.stop().await;
}

on_both_backends!(
    refuses_bad_input_in_order,
    stores_before_answering_and_dedupes,
    ping_and_unknown_events_are_answered_and_kept_as_headers,
    every_github_example_payload_is_accepted,
    concurrent_deliveries_are_group_committed,
);
