//! What the dashboard and the API cost, measured on SQLite with shipgate in-process and the
//! simulator as GitHub: 1,000 pipelines in one repository (written through the store as the
//! worker writes them), one signed-in user who can read it.
//!
//! Prints p50/p99 of `GET /api/v1/pipelines` (the first page, 50 pipelines) and of the
//! dashboard's `GET /` (the same page as HTML), the requests each view makes to GitHub (the
//! first view asks who the user is; later ones within a minute ask nothing), and the
//! process's resident memory before and after the views.
//!
//! `cargo bench --bench dashboard` (PIPELINES=n, default 1000; VIEWS=n, default 500).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use shipgate::clock::SystemClock;
use shipgate::pipeline::model::{IssueSnapshot, Pipeline};
use shipgate::settings::Settings;
use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;
use shipgate::store::pipelines::PipelineColumns;

const REPO: &str = "acme/widgets";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let pipelines = env_number("PIPELINES", 1000);
    let views = env_number("VIEWS", 500);
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start().await;
    sim.add_shipgate_repo(
        REPO,
        &[("lead", Permission::Maintain), ("alice", Permission::Read)],
    );
    let mut env: BTreeMap<&str, String> = sim.app_env().into_iter().collect();
    env.insert(
        "DATABASE_URL",
        format!("sqlite://{}", dir.path().join("dashboard.db").display()),
    );
    env.insert("SHIPGATE_BIND", "127.0.0.1:0".into());
    let settings = Settings::from_lookup(|k| env.get(k).cloned()).expect("bench settings");
    let running = shipgate::app::start(settings, Arc::new(SystemClock))
        .await
        .expect("shipgate starts");
    let installation = sim.add_installation("acme", &[REPO]);

    // The pipelines, as the worker stores them.
    let store = running.store.clone();
    let now = chrono::Utc::now().timestamp_millis();
    for n in 1..=pipelines as u64 {
        let issue = IssueSnapshot {
            number: n,
            title: format!("Feature number {n}"),
            body: "## Acceptance criteria\n- works\n".into(),
            author: "pm".into(),
            labels: vec!["feature".into()],
            updated_at: 0,
            node_id: None,
        };
        let mut tx = store.begin().await.unwrap();
        let id = tx
            .create_pipeline(installation as i64, REPO, n as i64, now)
            .await
            .unwrap()
            .unwrap();
        let p = Pipeline::new(id, installation, REPO, "main", &issue, now);
        let state = serde_json::to_string(&p).unwrap();
        let columns = PipelineColumns {
            pr_number: None,
            phase: p.phase.name(),
            updated_at: now,
        };
        tx.save_pipeline(id, &columns, &state).await.unwrap();
        tx.commit().await.unwrap();
    }

    let token = sim.user_token("alice");
    let http = reqwest::Client::new();
    let base = format!("http://{}", running.addr);
    let before_kib = resident_kib();
    for (name, path) in [("API list", "/api/v1/pipelines"), ("dashboard list", "/")] {
        let asked_before = sim.requests().len();
        let mut ms = Vec::with_capacity(views);
        let mut first_view_requests = 0;
        for i in 0..views {
            let started = Instant::now();
            let answer = http
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200);
            let body = answer.text().await.unwrap();
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(body.contains(&format!("Feature number {pipelines}")));
            if i == 0 {
                first_view_requests = sim.requests().len() - asked_before;
            }
        }
        let later = sim.requests().len() - asked_before - first_view_requests;
        ms.sort_by(f64::total_cmp);
        println!(
            "{name} ({pipelines} pipelines, 50 a page, {views} views): p50 {:.2} ms, p99 {:.2} ms; \
             GitHub requests: {first_view_requests} on the first view, {later} on the {} after",
            percentile(&ms, 0.50),
            percentile(&ms, 0.99),
            views - 1
        );
    }
    println!(
        "resident memory: {} MiB before the views, {} MiB after",
        before_kib / 1024,
        resident_kib() / 1024
    );
    running.shutdown();
    running.wait().await.unwrap();
}
