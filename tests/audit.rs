//! The audit log end to end, on SQLite and PostgreSQL: approvals, rejections and refused
//! commands arriving as webhooks are appended with who, what, when, the pipeline and the
//! delivery; the hash chain verifies; `shipgate audit verify` finds an edited entry and a
//! removed one.

#[macro_use]
mod common;

use common::{Backend, Shipgate, TestDb};
use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;
use shipgate::store::audit::Broken;

const REPO: &str = "acme/widgets";
const BODY: &str = "## Acceptance criteria\n- works\n";

/// Runs raw SQL against the test database, as someone with database access would.
async fn tamper(db: &TestDb, sql: &str) {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
    }
}

/// `shipgate audit verify` against the test database: (exit code, stdout + stderr).
fn verify_cli(db: &TestDb) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(["audit", "verify"])
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
    tamper(
        &db,
        &format!("UPDATE audit_log SET actor = 'mallory' WHERE id = {id}"),
    )
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
    tamper(
        &db,
        &format!("UPDATE audit_log SET actor = 'lead' WHERE id = {id}"),
    )
    .await;
    assert_eq!(store.verify_audit().await.unwrap(), Ok(4));
    tamper(
        &db,
        &format!("DELETE FROM audit_log WHERE id = {}", entries[0].id),
    )
    .await;
    assert_eq!(
        store.verify_audit().await.unwrap(),
        Err(Broken::Unlinked { id })
    );
    // And the newest removed: the head gives it away.
    tamper(
        &db,
        &format!("DELETE FROM audit_log WHERE id >= {}", entries[0].id),
    )
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

on_both_backends!(
    decisions_are_chained_and_tampering_is_found,
    block_priority_and_unblock_show_and_are_recorded
);
