//! Staging health monitoring end to end: after a successful deploy shipgate probes the
//! environment's `health.url` (a real local HTTP endpoint the test controls) every
//! `interval` for `window`; consecutive failures fail the stage; URLs the SSRF rules forbid
//! are refused — on SQLite and PostgreSQL.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Backend, Shipgate, TestDb, app_settings_with};
use shipgate::clock::SystemClock;
use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;

const REPO: &str = "acme/widgets";
const BODY: &str = "## Acceptance criteria\n- works\n";

/// A health endpoint: answers 200 while `healthy`, else 503; counts requests.
struct Endpoint {
    url: String,
    healthy: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
}

async fn endpoint(healthy: bool) -> Endpoint {
    let flag = Arc::new(AtomicBool::new(healthy));
    let hits = Arc::new(AtomicUsize::new(0));
    let url = common::health_endpoint(flag.clone(), hits.clone()).await;
    Endpoint {
        url,
        healthy: flag,
        hits,
    }
}

/// A repository whose staging health URL is `url`, with shipgate running.
async fn setup(backend: Backend, url: &str, allow_private: bool) -> (TestDb, Simulator, Shipgate) {
    let db = TestDb::new(backend).await;
    let sim = Simulator::start().await;
    sim.add_shipgate_repo(
        REPO,
        &[
            ("lead", Permission::Maintain),
            ("reviewer", Permission::Write),
        ],
    );
    let config = format!(
        "deploy:\n  environments:\n    staging:\n      health: {{ url: \"{url}\", interval: 1s, window: 3s, failures: 2 }}\n"
    );
    sim.with(|s| {
        s.commit(
            REPO,
            "main",
            "shipgate config",
            "lead",
            &[(".github/shipgate.yml", Some(&config))],
        )
    });
    let settings = app_settings_with(&db, &sim, allow_private);
    let secret = sim.with(|s| s.app.webhook_secret.clone());
    let sg = Shipgate::start_settings(settings, Arc::new(SystemClock), secret).await;
    sim.set_webhook_url(sg.url.join("api/github/webhooks").unwrap());
    sim.install("acme", &[REPO]).await;
    sg.settle(&sim).await;
    (db, sim, sg)
}

/// Takes a feature to a successful staging deploy; returns the issue number.
async fn deploy_to_staging(sim: &Simulator, sg: &Shipgate) -> u64 {
    let n = sim
        .open_issue(REPO, "pm", "Export invoices", BODY, &["feature"])
        .await;
    sim.comment(REPO, n, "lead", "/approve").await;
    sim.comment(REPO, n, "lead", "/approve plan").await;
    sg.settle(sim).await;
    let branch = format!("feature/REQ-{n}-export-invoices");
    let pr = sim
        .open_pull(REPO, "lead", &branch, "Export", &format!("Closes #{n}"))
        .await;
    sg.settle(sim).await;
    let run_for = |environment: bool| {
        sim.with(|s| {
            s.repos[REPO]
                .runs
                .values()
                .filter(|r| r.inputs.contains_key("environment") == environment)
                .map(|r| r.id)
                .max()
        })
    };
    sim.complete_workflow_run(REPO, run_for(false).expect("tests dispatched"), "success")
        .await;
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    sg.settle(sim).await;
    sim.complete_workflow_run(REPO, run_for(true).expect("deploy dispatched"), "success")
        .await;
    sg.settle(sim).await;
    n
}

fn status(sim: &Simulator, n: u64) -> String {
    sim.with(|s| {
        s.repos[REPO]
            .comments
            .values()
            .find(|c| c.issue_number == n && c.body.starts_with("<!-- shipgate:status"))
            .map(|c| c.body.clone())
            .unwrap_or_default()
    })
}

fn replies(sim: &Simulator, n: u64) -> Vec<String> {
    sim.with(|s| {
        let bot = s.app.bot_login();
        s.repos[REPO]
            .comments
            .values()
            .filter(|c| {
                c.issue_number == n && c.user == bot && !c.body.starts_with("<!-- shipgate:status")
            })
            .map(|c| c.body.clone())
            .collect()
    })
}

/// Waits (real time: probes run on the clock) until the status shows `phase`.
async fn wait_for_phase(sim: &Simulator, sg: &Shipgate, n: u64, phase: &str) {
    for _ in 0..60 {
        sg.settle(sim).await;
        if status(sim, n).contains(&format!("phase **{phase}**")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never reached {phase}: {}", status(sim, n));
}

async fn a_healthy_staging_holds_for_the_window(backend: Backend) {
    let health = endpoint(true).await;
    let (_db, sim, sg) = setup(backend, &health.url, true).await;
    let n = deploy_to_staging(&sim, &sg).await;
    assert!(
        status(&sim, n).contains("watching health"),
        "{}",
        status(&sim, n)
    );
    wait_for_phase(&sim, &sg, n, "readiness").await;
    let text = status(&sim, n);
    assert!(text.contains("healthy for 3s"), "{text}");
    assert!(text.contains("**Readiness:** 100/100"), "{text}");
    assert!(
        text.contains(&format!("probes of {} ok", health.url)),
        "{text}"
    );
    assert!(
        health.hits.load(Ordering::SeqCst) >= 3,
        "probed every second for three seconds"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    sg.stop().await;
}

async fn consecutive_failed_probes_fail_the_stage(backend: Backend) {
    let health = endpoint(true).await;
    let (_db, sim, sg) = setup(backend, &health.url, true).await;
    health.healthy.store(false, Ordering::SeqCst);
    let n = deploy_to_staging(&sim, &sg).await;
    wait_for_phase(&sim, &sg, n, "failed").await;
    let r = replies(&sim, n);
    assert!(
        r.iter().any(|x| x.contains("2 health probes of")
            && x.contains("failed in a row")
            && x.contains("503")),
        "{r:?}"
    );
    assert_eq!(
        health.hits.load(Ordering::SeqCst),
        2,
        "stops probing once the stage failed"
    );
    assert!(
        status(&sim, n).contains("unhealthy: 0 of 2 probes"),
        "{}",
        status(&sim, n)
    );
    sg.stop().await;
}

async fn an_internal_health_url_is_refused(backend: Backend) {
    let health = endpoint(true).await;
    let url = health.url.replace("http://", "https://");
    let (_db, sim, sg) = setup(backend, &url, false).await;
    let n = deploy_to_staging(&sim, &sg).await;
    wait_for_phase(&sim, &sg, n, "failed").await;
    let r = replies(&sim, n);
    assert!(
        r.iter()
            .any(|x| x.contains("is refused") && x.contains("internal address")),
        "{r:?}"
    );
    assert_eq!(health.hits.load(Ordering::SeqCst), 0, "never contacted");
    sg.stop().await;
}

on_both_backends!(
    a_healthy_staging_holds_for_the_window,
    consecutive_failed_probes_fail_the_stage,
    an_internal_health_url_is_refused
);
