//! Recovery and replicas, measured with the release `shipgate serve` binary against the
//! simulator (real processes, real SIGKILLs, loopback only):
//!
//! 1. how long after a SIGKILL — right after GitHub carried out an effect — the interrupted
//!    effect is finished by the process started again on the same address (SQLite and
//!    PostgreSQL), and by a surviving replica (PostgreSQL, three replicas);
//! 2. an outage: features opened and approved while shipgate is down; how many redeliveries
//!    it asks for when it starts again, and how long until the pipelines caught up;
//! 3. throughput: features through their whole lifecycle (label → … → production → `done`,
//!    no health URL), `DRIVERS` at a time, with 1 and with 3 replicas behind a round-robin
//!    balancer on PostgreSQL.
//!
//! `cargo bench --bench recovery` (PostgreSQL from SHIPGATE_TEST_POSTGRES_URL, default
//! 127.0.0.1:5432; SAMPLES kills per back end, default 6; FEATURES per throughput run,
//! default 24; DRIVERS, default 4).

#[path = "../tests/common/mod.rs"]
#[macro_use]
#[allow(unused_macros)]
mod common;

use std::time::{Duration, Instant};

use common::world::{REPO, setup_process, setup_replicas};
use common::{Backend, crash_at, pid_of_peer};
use serde_json::Value;
use shipgate::sim::Simulator;

const CONFIG: &str = "approvers:\n  production: [releaser]\n";
const BODY: &str = "## Acceptance criteria\n- one CSV per month\n";
/// Where the kills land, in turn.
const OPS: [&str; 6] = [
    "issues/create-comment",
    "actions/create-workflow-dispatch",
    "repos/create-deployment",
    "repos/create-deployment-status",
    "pulls/merge",
    "issues/update",
];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn summary(mut ms: Vec<u128>) -> String {
    ms.sort();
    let p = |q: f64| ms[((ms.len() as f64 - 1.0) * q).floor() as usize];
    format!(
        "p50 {} ms, max {} ms ({} kills)",
        p(0.5),
        ms[ms.len() - 1],
        ms.len()
    )
}

/// SIGKILL right after GitHub did the work, then the same address started again.
async fn restarted(backend: Backend, samples: usize) -> Vec<u128> {
    let w = setup_process(backend, CONFIG, &[]).await;
    let process = w.sg.process.clone().unwrap();
    let mut out = Vec::new();
    for i in 0..samples {
        let before = w.retried_effects_done().await;
        let (w, process) = (&w, &process);
        let measured = std::cell::Cell::new(0);
        let crash = |_| async {
            let killed = Instant::now();
            process.kill_and_restart().await;
            while w.retried_effects_done().await <= before {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            measured.set(killed.elapsed().as_millis());
        };
        crash_at(&w.sim, OPS[i % OPS.len()], crash, w.to_done()).await;
        out.push(measured.get());
    }
    w.sg.stop().await;
    out
}

/// Three replicas; whichever one runs the effect is SIGKILLed right after GitHub did it.
async fn taken_over(samples: usize) -> Vec<u128> {
    let (w, _others, processes) = setup_replicas(Backend::Postgres, CONFIG, 3).await;
    let pids: Vec<u32> = processes
        .iter()
        .map(|p| p.child.lock().unwrap().id())
        .collect();
    let mut out = Vec::new();
    let mut alive = processes.len();
    for i in 0..samples.min(2) {
        let before = w.retried_effects_done().await;
        let measured = std::cell::Cell::new(0);
        let (w, processes, pids) = (&w, &processes, &pids);
        let crash = |hung: shipgate::sim::state::RecordedRequest| {
            let peer = hung.peer.expect("the simulator records the caller");
            let measured = &measured;
            async move {
                let pid = pid_of_peer(
                    peer,
                    w.sim.api_url().port().expect("the simulator's port"),
                    pids,
                )
                .expect("a replica sent it");
                let killed = Instant::now();
                processes[pids.iter().position(|p| *p == pid).unwrap()].kill();
                while w.retried_effects_done().await <= before {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                measured.set(killed.elapsed().as_millis());
            }
        };
        crash_at(&w.sim, OPS[(i + 4) % OPS.len()], crash, w.to_done()).await;
        out.push(measured.get());
        alive -= 1;
    }
    assert!(alive >= 1);
    out
}

/// Features opened and approved while shipgate is down.
async fn outage(features: usize) -> (usize, usize, u128) {
    let w = setup_process(Backend::Postgres, CONFIG, &[]).await;
    let process = w.sg.process.clone().unwrap();
    process.kill();
    let mut issues = Vec::new();
    for i in 0..features {
        let n = w
            .sim
            .open_issue(REPO, "pm", &format!("Feature {i}"), BODY, &["feature"])
            .await;
        w.sim.comment(REPO, n, "lead", "/approve").await;
        w.sim.comment(REPO, n, "lead", "/approve plan").await;
        issues.push(n);
    }
    w.sim.settle().await;
    let failed = w.sim.with(|s| {
        s.hook_deliveries
            .iter()
            .filter(|d| d.status_code == 0)
            .count()
    });
    let started = Instant::now();
    process.kill_and_restart().await;
    for n in &issues {
        wait_for(|| common::status_comment(&w.sim, REPO, *n).contains("phase **development**"))
            .await;
    }
    let caught_up = started.elapsed().as_millis();
    let asked = w.sg.store.redeliveries().await.unwrap().len();
    w.sg.stop().await;
    (failed, asked, caught_up)
}

async fn wait_for(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The newest run of feature `n` for `environment` (None: tests).
fn run_of(sim: &Simulator, n: u64, environment: Option<&str>) -> Option<u64> {
    let prefix = format!("REQ-{n}-");
    sim.with(|s| {
        s.repos[REPO]
            .runs
            .values()
            .filter(|r| {
                r.inputs.get("environment").and_then(Value::as_str) == environment
                    && r.inputs
                        .get("pipeline")
                        .and_then(Value::as_str)
                        .is_some_and(|p| p.starts_with(&prefix))
            })
            .map(|r| r.id)
            .max()
    })
}

/// One feature from the label to `done`, safe beside other drivers.
async fn lifecycle(sim: &Simulator, i: usize) {
    let title = format!("Feature {i}");
    let n = sim.open_issue(REPO, "pm", &title, BODY, &["feature"]).await;
    sim.comment(REPO, n, "lead", "/approve").await;
    sim.comment(REPO, n, "lead", "/approve plan").await;
    let branch = shipgate::pipeline::linking::branch_name(n, &title);
    wait_for(|| sim.with(|s| s.repos[REPO].branches.contains_key(&branch))).await;
    let pr = sim
        .open_pull(REPO, "dev", &branch, &title, &format!("Closes #{n}"))
        .await;
    wait_for(|| run_of(sim, n, None).is_some()).await;
    sim.complete_workflow_run(REPO, run_of(sim, n, None).unwrap(), "success")
        .await;
    sim.review(REPO, pr, "reviewer", "APPROVED").await;
    wait_for(|| run_of(sim, n, Some("staging")).is_some()).await;
    let staging = run_of(sim, n, Some("staging")).unwrap();
    sim.complete_workflow_run(REPO, staging, "success").await;
    wait_for(|| common::status_comment(sim, REPO, n).contains("phase **readiness**")).await;
    sim.comment(REPO, pr, "releaser", "/approve production")
        .await;
    wait_for(|| run_of(sim, n, Some("production")).is_some()).await;
    let production = run_of(sim, n, Some("production")).unwrap();
    sim.complete_workflow_run(REPO, production, "success").await;
    wait_for(|| sim.with(|s| s.repos[REPO].issues[&n].state == "closed")).await;
}

/// Features per minute with `n` replicas, `drivers` features at a time.
async fn throughput(n: usize, features: usize, drivers: usize) -> (f64, usize) {
    let (w, _others, _) = setup_replicas(Backend::Postgres, CONFIG, n).await;
    let hooks_before = w.sim.with(|s| s.hook_deliveries.len());
    let started = Instant::now();
    let mut next = 0;
    while next < features {
        let batch: Vec<_> = (next..(next + drivers).min(features))
            .map(|i| lifecycle(&w.sim, i))
            .collect();
        next += batch.len();
        futures::future::join_all(batch).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let hooks = w.sim.with(|s| s.hook_deliveries.len()) - hooks_before;
    w.assert_nothing_doubled();
    (features as f64 * 60.0 / secs, hooks)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let samples = env_or("SAMPLES", 6);
    let features = env_or("FEATURES", 24);
    let drivers = env_or("DRIVERS", 4);
    println!("recovery benchmark (release shipgate serve processes, loopback)");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let ms = restarted(backend, samples).await;
        println!(
            "SIGKILL → interrupted effect finished by the process restarted on its address, {backend:?}: {}",
            summary(ms)
        );
    }
    println!(
        "SIGKILL → interrupted effect finished by a surviving replica, PostgreSQL, 3 replicas: {}",
        summary(taken_over(samples).await)
    );
    let (failed, asked, caught_up) = outage(5).await;
    println!(
        "outage, 5 features labelled and approved while down: {failed} deliveries failed, {asked} redeliveries asked for, all 5 pipelines in development {caught_up} ms after the restart"
    );
    for n in [1, 3] {
        let (per_minute, hooks) = throughput(n, features, drivers).await;
        println!(
            "throughput, PostgreSQL, {n} replica(s), {features} features {drivers} at a time: {per_minute:.1} features/min ({hooks} webhooks)"
        );
    }
}
