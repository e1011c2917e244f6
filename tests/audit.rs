//! The audit log end to end, on SQLite and PostgreSQL: approvals, rejections and refused
//! commands arriving as webhooks are appended with who, what, when, the pipeline and the
//! delivery; the hash chain verifies; `shipgate audit verify` finds an edited entry and a
//! removed one.

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};

use common::world::Setup;
use common::{Backend, Shipgate, TestDb};
use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;
use shipgate::store::audit::Broken;

const REPO: &str = "acme/widgets";
const BODY: &str = "## Acceptance criteria\n- works\n";

/// `shipgate audit verify` against the test database: (exit code, stdout + stderr).
fn verify_cli(db: &TestDb) -> (i32, String) {
    verify_cli_with(db, &[])
}

/// `shipgate audit verify` with more arguments (`--head SEQ:HASH`).
fn verify_cli_with(db: &TestDb, extra: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["audit", "verify"])
        .args(extra)
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("SHIPGATE_ENV_FILE", "/nonexistent/.env")
        .output()
        .expect("shipgate runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn decisions_are_chained_and_tampering_is_found(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    sim.add_shipgate_repo(
        REPO,
        &[
            ("lead", Permission::Maintain),
            ("visitor", Permission::Read),
        ],
    );
    let sg = Shipgate::start(&db, &sim).await;
    sim.install("acme", &[REPO]).await;
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sim.comment(REPO, n, "visitor", "/approve").await;
    sim.comment(REPO, n, "lead", "/approve\n/frobnicate").await;
    sim.comment(REPO, n, "lead", "/reject not this quarter")
        .await;
    sg.settle(&sim).await;

    let entries = sg.store.audit_entries(0, 100).await.unwrap();
    let seen: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("visitor", "refused"),
            ("lead", "approve requirement"),
            ("lead", "refused"),
            ("lead", "reject"),
        ],
        "{entries:#?}"
    );
    assert!(
        entries[0].detail.contains("write access"),
        "{}",
        entries[0].detail
    );
    assert!(
        entries[2].detail.contains("/frobnicate"),
        "{}",
        entries[2].detail
    );
    assert_eq!(entries[3].detail, "not this quarter");
    for e in &entries {
        assert_eq!(e.repo, REPO);
        assert!(e.pipeline_id.is_some());
        assert!(
            e.delivery.is_some(),
            "the webhook's delivery ID is recorded"
        );
    }
    assert_eq!(sg.store.verify_audit().await.unwrap(), Ok(4));
    sg.stop().await;
    let (code, out) = verify_cli(&db);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit log intact: 4 entries"), "{out}");

    // Someone edits who approved: the entry no longer matches its hash.
    let id = entries[1].id;
    db.execute(&format!(
        "UPDATE audit_log SET actor = 'mallory' WHERE id = {id}"
    ))
    .await;
    let store = db.store().await;
    assert_eq!(
        store.verify_audit().await.unwrap(),
        Err(Broken::Edited { id })
    );
    let (code, out) = verify_cli(&db);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("audit entry {id} was changed")),
        "{out}"
    );

    // Put back, then the refusal before it removed: the chain no longer links.
    db.execute(&format!(
        "UPDATE audit_log SET actor = 'lead' WHERE id = {id}"
    ))
    .await;
    assert_eq!(store.verify_audit().await.unwrap(), Ok(4));
    db.execute(&format!(
        "DELETE FROM audit_log WHERE id = {}",
        entries[0].id
    ))
    .await;
    assert_eq!(
        store.verify_audit().await.unwrap(),
        Err(Broken::Unlinked { id })
    );
    // And the newest removed: the head gives it away.
    db.execute(&format!(
        "DELETE FROM audit_log WHERE id >= {}",
        entries[0].id
    ))
    .await;
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        Err(Broken::Truncated { .. })
    ));
}

fn status(sim: &Simulator, n: u64) -> String {
    common::status_comment(sim, REPO, n)
}

async fn block_priority_and_unblock_show_and_are_recorded(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    sim.add_shipgate_repo(
        REPO,
        &[
            ("lead", Permission::Maintain),
            ("visitor", Permission::Read),
        ],
    );
    let sg = Shipgate::start(&db, &sim).await;
    sim.install("acme", &[REPO]).await;
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sim.comment(
        REPO,
        n,
        "lead",
        "/block waiting on legal\n/priority critical",
    )
    .await;
    sim.comment(REPO, n, "lead", "/approve").await;
    sg.settle(&sim).await;
    let shown = status(&sim, n);
    assert!(
        shown.contains("🚧 Blocked by @lead: waiting on legal"),
        "{shown}"
    );
    assert!(shown.contains("priority **critical**"), "{shown}");
    assert!(
        shown.contains("phase **intake**"),
        "approved, but blocked: {shown}"
    );
    sim.comment(REPO, n, "visitor", "/unblock").await;
    sim.comment(REPO, n, "lead", "/unblock").await;
    sg.settle(&sim).await;
    let shown = status(&sim, n);
    assert!(!shown.contains("Blocked by"), "{shown}");
    assert!(shown.contains("phase **planning**"), "{shown}");
    let entries = sg.store.audit_entries(0, 100).await.unwrap();
    let seen: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("lead", "block"),
            ("lead", "priority"),
            ("lead", "approve requirement"),
            ("visitor", "refused"),
            ("lead", "unblock"),
        ]
    );
    assert_eq!(sg.store.verify_audit().await.unwrap(), Ok(5));
    sg.stop().await;
}

/// A receiver of JSON notifications on loopback; returns its URL and the bodies it got.
async fn json_receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or_default());
                axum::http::StatusCode::OK
            }
        }),
    );
    (
        format!("http://{}/hook", common::serve_local(app).await),
        seen,
    )
}

/// Recomputes every entry's hash from its contents after `edit` (as a writer of the
/// database who knows the hashing could), and moves the head to match.
async fn rewrite_and_rehash(db: &TestDb, store: &shipgate::store::Store, drop_last: bool) {
    let mut entries = store.audit_entries(0, 1000).await.unwrap();
    if drop_last {
        let last = entries.pop().unwrap();
        db.execute(&format!("DELETE FROM audit_log WHERE id = {}", last.id))
            .await;
    }
    let mut prev = shipgate::store::audit::GENESIS.to_owned();
    for (i, e) in entries.iter().enumerate() {
        let actor = if i == 0 { "mallory" } else { e.actor.as_str() };
        let hash = shipgate::store::audit::entry_hash(
            &prev,
            &shipgate::store::audit::NewEntry {
                at: e.at,
                repo: &e.repo,
                pipeline_id: e.pipeline_id,
                delivery: e.delivery.as_deref(),
                actor,
                action: &e.action,
                detail: &e.detail,
            },
        );
        db.execute(
            &format!(
                "UPDATE audit_log SET actor = '{actor}', prev_hash = '{prev}', hash = '{hash}' WHERE id = {}",
                e.id
            ),
        )
        .await;
        prev = hash;
    }
    db.execute(&format!(
        "UPDATE audit_head SET hash = '{prev}', seq = {} WHERE id = 1",
        entries.len()
    ))
    .await;
}

/// The chain's head is published where the database's writer cannot reach — in every
/// notification and in the closing summary on GitHub — and `shipgate audit verify --head`
/// checks the log against it: a log rewritten and re-hashed, or cut short with its head
/// moved back, passes the chain check alone but not against the published head.
async fn a_published_head_finds_a_rewritten_or_truncated_log(backend: Backend) {
    let (url, notified) = json_receiver().await;
    let w = Setup::new(backend)
        .setting("SHIPGATE_NOTIFY_URL", url)
        .setting("SHIPGATE_NOTIFY_SECRET", "notify-secret")
        .start()
        .await;
    let (n, _) = w.to_done().await;
    let summary = w
        .replies(n)
        .into_iter()
        .find(|r| r.contains("is in production"))
        .expect("a closing summary");
    let published = regex::Regex::new(r"\*\*Audit log head:\*\* `(\d+:[0-9a-f]{64})`")
        .unwrap()
        .captures(&summary)
        .unwrap_or_else(|| panic!("the summary publishes the head: {summary}"))[1]
        .to_owned();
    let head = w.sg.store.audit_head().await.unwrap();
    assert_eq!(published, head.to_string(), "the head when it was posted");
    assert!(
        summary.contains(&format!("shipgate audit verify --head {published}")),
        "{summary}"
    );
    // Every notification carries the head as it was sent; the last is the newest.
    let mut heads: Vec<String> = Vec::new();
    for _ in 0..100 {
        heads = notified
            .lock()
            .unwrap()
            .iter()
            .filter_map(|b| b["audit_head"].as_str().map(str::to_owned))
            .collect();
        if heads.contains(&published) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(heads.contains(&published), "{heads:?}");
    w.sg.stop().await;
    let db = &w._db;
    let (code, out) = verify_cli_with(db, &["--head", &published]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("holds the published head {published}")),
        "{out}"
    );

    // Rewritten and re-hashed: the chain holds, the published head does not.
    let store = db.store().await;
    rewrite_and_rehash(db, &store, false).await;
    let (code, out) = verify_cli(db);
    assert_eq!(code, 0, "the chain alone cannot tell: {out}");
    let (code, out) = verify_cli_with(db, &["--head", &published]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the log was rewritten"), "{out}");

    // Its tail cut off and the head moved back: the same.
    rewrite_and_rehash(db, &store, true).await;
    let (code, out) = verify_cli(db);
    assert_eq!(code, 0, "the chain alone cannot tell: {out}");
    let (code, out) = verify_cli_with(db, &["--head", &published]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("fewer than the published head"), "{out}");
    let (code, out) = verify_cli_with(db, &["--head", "12:not-a-hash"]);
    assert_eq!(code, 2, "a malformed head is a usage error: {out}");
}

on_both_backends!(
    a_published_head_finds_a_rewritten_or_truncated_log,
    decisions_are_chained_and_tampering_is_found,
    block_priority_and_unblock_show_and_are_recorded
);
