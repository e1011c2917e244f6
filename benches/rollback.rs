//! How fast shipgate rolls back, measured end to end against the simulator: shipgate
//! in-process on SQLite, a local production health endpoint the bench switches off.
//!
//! Prints p50/p99 of (1) the time from the probe that makes `failures` in a row (the third
//! by default) reaching the endpoint to the rollback's workflow dispatch reaching the
//! simulator, and (2) the time from a `/rollback` comment's webhook being sent to that
//! dispatch. Each sample is its own feature taken to production; one good feature first gives
//! every rollback a target.
//!
//! `cargo bench --bench rollback` (SAMPLES=n, default 15 of each).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use shipgate::clock::SystemClock;
use shipgate::settings::Settings;
use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;
use shipgate::store::Store;

const REPO: &str = "acme/widgets";
const BODY: &str = "## Acceptance criteria\n- works\n";

async fn settle(sim: &Simulator, store: &Store) {
    for _ in 0..5000 {
        sim.settle().await;
        if store.is_idle().await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("shipgate did not settle");
}

/// The health endpoint: up or down, and when each failed probe arrived.
#[derive(Clone, Default)]
struct Health {
    up: Arc<AtomicBool>,
    failures: Arc<Mutex<Vec<DateTime<Utc>>>>,
}

async fn serve_health(h: Health) -> String {
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let h = h.clone();
            async move {
                if h.up.load(Ordering::SeqCst) {
                    axum::http::StatusCode::OK
                } else {
                    h.failures.lock().unwrap().push(Utc::now());
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/health")
}

/// The newest production deploy run: (id, inputs).
fn newest_production_run(
    sim: &Simulator,
) -> Option<(u64, serde_json::Map<String, serde_json::Value>)> {
    sim.with(|s| {
        s.repos[REPO]
            .runs
            .values()
            .filter(|r| r.inputs.get("environment").and_then(|v| v.as_str()) == Some("production"))
            .max_by_key(|r| r.id)
            .map(|r| (r.id, r.inputs.clone()))
    })
}

/// When the simulator received the dispatch of run `id` (its request carries the run's
/// `pipeline` input).
fn dispatched_at(sim: &Simulator, id: u64) -> DateTime<Utc> {
    sim.with(|s| {
        let pipeline = s.repos[REPO].runs[&id].inputs["pipeline"].clone();
        s.requests
            .iter()
            .filter(|r| r.operation.as_deref() == Some("actions/create-workflow-dispatch"))
            .find(|r| {
                r.body
                    .as_ref()
                    .is_some_and(|b| b["inputs"]["pipeline"] == pipeline)
            })
            .map(|r| r.at)
            .expect("the dispatch was recorded")
    })
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

struct Bench {
    sim: Simulator,
    store: Store,
    features: u64,
}

impl Bench {
    /// Takes a new feature to a successful production deploy; returns (issue, PR).
    async fn ship_feature(&mut self) -> (u64, u64) {
        let (sim, store) = (&self.sim, &self.store);
        self.features += 1;
        let title = format!("Export invoices {}", self.features);
        let n = sim.open_issue(REPO, "pm", &title, BODY, &["feature"]).await;
        sim.comment(REPO, n, "lead", "/approve\n/approve plan")
            .await;
        settle(sim, store).await;
        let branch = shipgate::pipeline::linking::branch_name(n, &title);
        let pr = sim
            .open_pull(REPO, "dev", &branch, &title, &format!("Closes #{n}"))
            .await;
        settle(sim, store).await;
        let head = sim.with(|s| s.repos[REPO].pulls[&pr].head_sha.clone());
        let run_with = |env: Option<&str>| {
            sim.with(|s| {
                s.repos[REPO]
                    .runs
                    .values()
                    .filter(|r| r.inputs.get("sha").and_then(|v| v.as_str()) == Some(head.as_str()))
                    .filter(|r| r.inputs.get("environment").and_then(|v| v.as_str()) == env)
                    .map(|r| r.id)
                    .max()
            })
        };
        sim.complete_workflow_run(REPO, run_with(None).unwrap(), "success")
            .await;
        sim.review(REPO, pr, "reviewer", "APPROVED").await;
        settle(sim, store).await;
        sim.complete_workflow_run(REPO, run_with(Some("staging")).unwrap(), "success")
            .await;
        settle(sim, store).await;
        sim.comment(REPO, pr, "releaser", "/approve production")
            .await;
        settle(sim, store).await;
        let (run, _) = newest_production_run(sim).unwrap();
        sim.complete_workflow_run(REPO, run, "success").await;
        settle(sim, store).await;
        (n, pr)
    }

    /// Waits (real time) for a production run other than `after`.
    async fn next_production_run(&self, after: u64) -> u64 {
        for _ in 0..400 {
            settle(&self.sim, &self.store).await;
            if let Some((id, inputs)) = newest_production_run(&self.sim)
                && id != after
            {
                assert_eq!(inputs["rollback"], "true");
                return id;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no rollback was dispatched");
    }

    fn is_done(&self, n: u64) -> bool {
        self.sim.with(|s| {
            s.repos[REPO].issues[&n]
                .labels
                .iter()
                .any(|l| l == "shipgate:done")
        })
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let samples: usize = std::env::var("SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let dir = tempfile::tempdir().unwrap();
    let health = Health::default();
    health.up.store(true, Ordering::SeqCst);
    let url = serve_health(health.clone()).await;
    let sim = Simulator::start().await;
    sim.add_shipgate_repo(
        REPO,
        &[
            ("lead", Permission::Maintain),
            ("reviewer", Permission::Write),
            ("dev", Permission::Write),
            ("releaser", Permission::Write),
        ],
    );
    let config = format!(
        "deploy:\n  environments:\n    production:\n      health: {{ url: \"{url}\", interval: 1s, window: 3s, failures: 3 }}\n"
    );
    sim.with(|s| {
        s.commit(
            REPO,
            "main",
            "config",
            "lead",
            &[(".github/shipgate.yml", Some(&config))],
        )
    });
    let mut env: BTreeMap<&str, String> = sim.app_env().into_iter().collect();
    env.insert(
        "DATABASE_URL",
        format!("sqlite://{}", dir.path().join("rollback.db").display()),
    );
    env.insert("SHIPGATE_BIND", "127.0.0.1:0".into());
    env.insert("SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS", "true".into());
    let settings = Settings::from_lookup(|k| env.get(k).cloned()).expect("bench settings");
    let running = shipgate::app::start(settings, Arc::new(SystemClock))
        .await
        .expect("shipgate starts");
    let store = running.store.clone();
    sim.set_webhook_url(
        format!("http://{}/api/github/webhooks", running.addr)
            .parse()
            .unwrap(),
    );
    sim.install("acme", &[REPO]).await;
    settle(&sim, &store).await;
    let mut b = Bench {
        sim,
        store,
        features: 0,
    };

    // One good feature: every rollback goes back to it.
    let (first, _) = b.ship_feature().await;
    for _ in 0..100 {
        if b.is_done(first) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        settle(&b.sim, &b.store).await;
    }
    assert!(b.is_done(first), "the first feature reached done");

    let mut after_probe = Vec::new();
    let mut after_comment = Vec::new();
    for _ in 0..samples {
        // Automatic: production goes down right after the deploy.
        health.up.store(false, Ordering::SeqCst);
        health.failures.lock().unwrap().clear();
        let (_, _) = b.ship_feature().await;
        let deployed = newest_production_run(&b.sim).unwrap().0;
        let rollback = b.next_production_run(deployed).await;
        let third = health.failures.lock().unwrap()[2];
        after_probe.push(
            (dispatched_at(&b.sim, rollback) - third)
                .to_std()
                .unwrap_or_default(),
        );
        health.up.store(true, Ordering::SeqCst);
        b.sim.complete_workflow_run(REPO, rollback, "success").await;
        settle(&b.sim, &b.store).await;

        // By comment, once a feature is done.
        let (n, _) = b.ship_feature().await;
        for _ in 0..100 {
            if b.is_done(n) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            settle(&b.sim, &b.store).await;
        }
        let deployed = newest_production_run(&b.sim).unwrap().0;
        let sent = Utc::now();
        b.sim.comment(REPO, n, "releaser", "/rollback bench").await;
        let rollback = b.next_production_run(deployed).await;
        after_comment.push(
            (dispatched_at(&b.sim, rollback) - sent)
                .to_std()
                .unwrap_or_default(),
        );
        b.sim.complete_workflow_run(REPO, rollback, "success").await;
        settle(&b.sim, &b.store).await;
    }
    assert!(b.sim.violations().is_empty(), "{:?}", b.sim.violations());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "rollback benchmark: {samples} automatic and {samples} by comment (SQLite, health interval 1s, failures 3)"
    );
    println!(
        "third failed probe → rollback dispatch at the simulator: p50 {:.1} ms, p99 {:.1} ms",
        ms(percentile(after_probe.clone(), 0.5)),
        ms(percentile(after_probe, 0.99))
    );
    println!(
        "`/rollback` comment sent → rollback dispatch at the simulator: p50 {:.1} ms, p99 {:.1} ms",
        ms(percentile(after_comment.clone(), 0.5)),
        ms(percentile(after_comment, 0.99))
    );
    running.shutdown();
    running.wait().await.unwrap();
}
