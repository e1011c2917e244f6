//! Effects happen exactly once across a stop between a step's commit and its effects, and
//! across GitHub carrying out a request whose answer is lost — on SQLite and PostgreSQL.

#[macro_use]
mod common;

use std::time::Duration;

use common::{Backend, Shipgate, TestDb};
use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;

const REPO: &str = "acme/widgets";
const BODY: &str = "## Acceptance criteria\n- works\n";

fn count(sim: &Simulator, operation: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.operation.as_deref() == Some(operation) && r.status < 300)
        .count()
}

async fn effects_happen_exactly_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    sim.add_repo(REPO);
    sim.add_workflow(REPO, "tests.yml", &["sha", "pipeline"]);
    sim.set_permission(REPO, "lead", Permission::Maintain);
    let sg = Shipgate::start(&db, &sim).await;
    sim.install("acme", &[REPO]).await;
    sg.settle(&sim).await;

    // GitHub refuses the effects' calls for now (the phase label's and the status
    // comment's): the step commits, its effects wait.
    for _ in 0..5 {
        sim.inject_fault("issues/get-label", 503, &[]);
        sim.inject_fault("issues/create-comment", 503, &[]);
    }
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sg.drain().await;
    for _ in 0..200 {
        if count_failed(&sim, "issues/get-label") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sg.stop().await;
    let pipelines = db.store().await.pipelines_of(REPO).await.unwrap();
    assert_eq!(pipelines.len(), 1, "the step's transaction committed");
    assert!(
        db.store().await.pending_effects().await.unwrap() >= 2,
        "its effects did not run"
    );
    assert_eq!(count(&sim, "issues/create-comment"), 0);
    assert_eq!(count(&sim, "graphql"), 0);
    sim.with(|s| s.faults.clear());

    // Restarted on the same database, shipgate runs them, once.
    let sg = Shipgate::start(&db, &sim).await;
    sg.settle(&sim).await;
    assert_eq!(
        count(&sim, "issues/create-comment"),
        1,
        "one status comment"
    );
    assert_eq!(count(&sim, "graphql"), 1, "one phase label");
    let labels = sim.with(|s| s.repos[REPO].issues[&n].labels.clone());
    assert!(labels.contains(&"shipgate:intake".to_owned()));

    // GitHub does the work but the answer is lost: the retry finds it instead of repeating it.
    sim.lose_answer("actions/create-workflow-dispatch", 502);
    sim.lose_answer("checks/create", 502);
    sim.lose_answer("issues/create-comment", 502);
    sim.comment(REPO, n, "lead", "/approve").await;
    sim.comment(REPO, n, "lead", "/approve plan").await;
    sim.comment(REPO, n, "lead", "/frobnicate").await; // a reply whose answer is lost
    sg.settle(&sim).await;
    let branch = format!("feature/REQ-{n}-export-invoices");
    let pr = sim
        .open_pull(REPO, "lead", &branch, "Export", &format!("Closes #{n}"))
        .await;
    sg.settle(&sim).await;
    let head = sim.with(|s| s.repos[REPO].pulls[&pr].head_sha.clone());
    let (runs, checks, replies) = sim.with(|s| {
        let r = &s.repos[REPO];
        let bot = s.app.bot_login();
        (
            r.runs
                .values()
                .filter(|x| x.inputs.get("sha").and_then(|v| v.as_str()) == Some(head.as_str()))
                .count(),
            r.check_runs
                .values()
                .filter(|c| c.head_sha == head && c.name == "shipgate")
                .count(),
            r.comments
                .values()
                .filter(|c| c.user == bot && c.body.contains("frobnicate"))
                .count(),
        )
    });
    assert_eq!(runs, 1, "one dispatch although its answer was lost");
    assert_eq!(checks, 1, "one check run although its answer was lost");
    assert_eq!(replies, 1, "one reply although its answer was lost");
    let effects = sg
        .store
        .effects_of(sg.store.pipelines_of(REPO).await.unwrap()[0].id)
        .await
        .unwrap();
    assert!(effects.iter().all(|e| e.status == "done"), "{effects:?}");
    assert!(
        effects
            .iter()
            .any(|e| e.action == "dispatch" && e.attempts == 2),
        "the dispatch was retried: {effects:?}"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sg.stop().await;
}

fn count_failed(sim: &Simulator, operation: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.operation.as_deref() == Some(operation) && r.status >= 500)
        .count()
}

on_both_backends!(effects_happen_exactly_once);
