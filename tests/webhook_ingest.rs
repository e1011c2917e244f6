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

/// Sends `request` as it is over a new connection and reads the answer until shipgate closes
/// the connection (or 10 s pass).
async fn raw_exchange(sg: &common::Shipgate, request: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = format!("{}:{}", sg.url.host_str().unwrap(), sg.url.port().unwrap());
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
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

    // A declared length over 25 MiB: 413 before a byte of the body is read, however it is
    // signed. Without a declared length, 413 as soon as the body passes 25 MiB.
    let head = |length: &str| {
        format!(
            "POST /api/github/webhooks HTTP/1.1\r\nHost: shipgate\r\nX-GitHub-Event: issues\r\nX-GitHub-Delivery: {}\r\nX-Hub-Signature-256: {}\r\n{length}\r\n",
            guid(),
            signature::sign(sg.secret.as_bytes(), b"")
        )
    };
    let answer = raw_exchange(&sg, head("Content-Length: 26214401\r\n").into_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("limited to 26214400 bytes"), "{answer}");
    let mut chunked = head("Transfer-Encoding: chunked\r\n").into_bytes();
    for _ in 0..25 {
        chunked.extend_from_slice(b"100000\r\n");
        chunked.extend(std::iter::repeat_n(b' ', 1024 * 1024));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"1\r\n \r\n");
    let answer = raw_exchange(&sg, chunked).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A request head over 64 KiB: 431.
    let mut huge_head = head("").into_bytes();
    huge_head.truncate(huge_head.len() - 2);
    huge_head.extend_from_slice(format!("X-Padding: {}\r\n\r\n", "a".repeat(70_000)).as_bytes());
    let answer = raw_exchange(&sg, huge_head).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

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
