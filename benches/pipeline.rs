//! The pipeline engine, measured end to end against the simulator: shipgate in-process on
//! SQLite (or `DATABASE_URL`), real HTTP both ways.
//!
//! Prints (1) the GitHub API requests one feature costs for its whole lifecycle — from the
//! `feature` label through a green, approved PR, a staging deploy, production approval, the
//! squash merge and the production deploy to `done` — by operation and what each is for, and
//! (2) the latency from each webhook being sent to the first and the last GitHub request its
//! effects make (p50/p99 over every action). No health URL is configured (probes are not
//! GitHub requests).
//!
//! `cargo bench --bench pipeline` (PIPELINES=n features, default 30; SHOW_REQUESTS=1 also
//! lists the last feature's requests in order). It also counts the edits that sent a status
//! comment or check run what it already showed (0 since such edits are skipped).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use shipgate::clock::SystemClock;
use shipgate::settings::Settings;
use shipgate::sim::Simulator;
use shipgate::sim::state::{Permission, RecordedRequest};
use shipgate::store::Store;

const REPO: &str = "acme/widgets";
const BODY: &str = "## Acceptance criteria\n- one CSV per month\n\n- [ ] writer\n- [ ] route\n";

/// Requests shipgate makes to decide (config, access, tokens) rather than to act.
fn is_lookup(op: &str) -> bool {
    op.starts_with("apps/")
        || op == "repos/get-content"
        || op == "repos/get-collaborator-permission-level"
}

/// What shipgate uses each operation for.
fn purpose(op: &str) -> &'static str {
    match op {
        "apps/create-installation-access-token" => "installation token (cached for its hour)",
        "repos/get-content" => "read .github/shipgate.yml (cached 15 min by blob SHA)",
        "repos/get-collaborator-permission-level" => "the actor's access (cached 5 min)",
        "issues/create-comment" => "status comment (once) and replies",
        "issues/update-comment" => "edit the status comment as the pipeline moves",
        "issues/list-comments" => "find the status comment by its marker",
        "graphql" => "phase label: the current added, the previous removed, in one request",
        "issues/get-label" => "a phase label's node id, read once per process",
        "issues/create-label" => "create a phase label the first time",
        "issues/update" => "close the issue when done",
        "reactions/create-for-issue-comment" => "👀 on each accepted command",
        "issues/list-sub-issues" => "sub-issues as tasks",
        "git/get-ref" => "the default branch head, to branch from",
        "git/create-ref" => "create feature/REQ-<n>-<slug>",
        "pulls/list" => "find a PR opened before development",
        "actions/create-workflow-dispatch" => "dispatch tests, staging and production deploys",
        "checks/create" => "the shipgate check run (PR head, merge commit)",
        "checks/update" => "update the check run as gates change",
        "repos/create-deployment" => "GitHub Deployment per environment",
        "repos/create-deployment-status" => "in_progress / success per deployment",
        "pulls/merge" => "squash merge after production approval",
        "pulls/get" => {
            "the PR as GitHub has it now (each PR event but a merged PR's; before the merge)"
        }
        "pulls/list-commits" => "who wrote the PR's commits (each PR event)",
        "repos/compare-commits-with-basehead" => "the merge commit is on the default branch",
        "apps/get-authenticated" => "the App's slug (bot login), once",
        _ => "",
    }
}

async fn settle(sim: &Simulator, store: &Store) {
    for _ in 0..2000 {
        sim.settle().await;
        if store.is_idle().await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("shipgate did not settle");
}

struct Sample {
    first: Duration,
    last: Duration,
}

/// Runs one user action, waits for shipgate to settle, and measures its effects' requests.
async fn measure<F, Fut, T>(
    sim: &Simulator,
    store: &Store,
    samples: &mut Vec<Sample>,
    action: F,
) -> T
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let seen = sim.with(|s| s.requests.len());
    let sent: DateTime<Utc> = Utc::now();
    let out = action().await;
    settle(sim, store).await;
    let effects: Vec<RecordedRequest> = sim
        .with(|s| s.requests[seen..].to_vec())
        .into_iter()
        .filter(|r| r.operation.as_deref().is_some_and(|op| !is_lookup(op)))
        .collect();
    if let (Some(first), Some(last)) = (effects.first(), effects.last()) {
        samples.push(Sample {
            first: (first.at - sent).to_std().unwrap_or_default(),
            last: (last.at - sent).to_std().unwrap_or_default(),
        });
    }
    out
}

/// Edits (of a comment, of a check run) whose body is the one sent to that target before:
/// requests a reader could not tell happened.
fn repeated(requests: &[RecordedRequest]) -> usize {
    let mut last: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut count = 0;
    for r in requests {
        let edit = matches!(
            r.operation.as_deref(),
            Some("issues/update-comment" | "checks/update")
        );
        if let (true, Some(body)) = (edit, &r.body) {
            if last.get(&r.path) == Some(body) {
                count += 1;
            }
            last.insert(r.path.clone(), body.clone());
        }
    }
    count
}

fn percentile(mut values: Vec<Duration>, p: f64) -> Duration {
    values.sort();
    let i = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[i]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let features: usize = std::env::var("PIPELINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
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
    let mut env: BTreeMap<&str, String> = sim.app_env().into_iter().collect();
    env.insert(
        "DATABASE_URL",
        std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display())),
    );
    env.insert("SHIPGATE_BIND", "127.0.0.1:0".into());
    env.insert(
        "SHIPGATE_ENV_FILE",
        dir.path().join(".env").display().to_string(),
    );
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

    let mut samples = Vec::new();
    let mut per_feature: Vec<BTreeMap<String, usize>> = Vec::new();
    let mut repeated_edits: Vec<usize> = Vec::new();
    let started = Instant::now();
    for i in 0..features {
        let before = sim.with(|s| s.requests.len());
        let title = format!("Export invoices {i}");
        let n = measure(&sim, &store, &mut samples, || {
            sim.open_issue(REPO, "pm", &title, BODY, &["feature"])
        })
        .await;
        measure(&sim, &store, &mut samples, || {
            sim.comment(REPO, n, "lead", "/approve")
        })
        .await;
        measure(&sim, &store, &mut samples, || {
            sim.comment(REPO, n, "lead", "/approve plan")
        })
        .await;
        let branch = shipgate::pipeline::linking::branch_name(n, &title);
        let closes = format!("Closes #{n}");
        let pr = measure(&sim, &store, &mut samples, || {
            sim.open_pull(REPO, "dev", &branch, &title, &closes)
        })
        .await;
        let head = sim.with(|s| s.repos[REPO].pulls[&pr].head_sha.clone());
        let run = sim.with(|s| {
            s.repos[REPO]
                .runs
                .values()
                .find(|r| r.inputs.get("sha").and_then(|v| v.as_str()) == Some(head.as_str()))
                .map(|r| r.id)
        });
        let run = run.expect("tests were dispatched");
        measure(&sim, &store, &mut samples, || {
            sim.complete_workflow_run(REPO, run, "success")
        })
        .await;
        measure(&sim, &store, &mut samples, || {
            sim.review(REPO, pr, "reviewer", "APPROVED")
        })
        .await;
        let deploy = sim.with(|s| {
            s.repos[REPO]
                .runs
                .values()
                .find(|r| {
                    r.inputs.get("environment").is_some()
                        && r.inputs.get("sha").and_then(|v| v.as_str()) == Some(head.as_str())
                })
                .map(|r| r.id)
        });
        let deploy = deploy.expect("the staging deploy was dispatched");
        measure(&sim, &store, &mut samples, || {
            sim.complete_workflow_run(REPO, deploy, "success")
        })
        .await;
        measure(&sim, &store, &mut samples, || {
            sim.comment(REPO, pr, "releaser", "/approve production")
        })
        .await;
        let production = sim.with(|s| {
            s.repos[REPO]
                .runs
                .values()
                .filter(|r| {
                    r.inputs.get("environment").and_then(|v| v.as_str()) == Some("production")
                })
                .map(|r| r.id)
                .max()
        });
        let production = production.expect("the production deploy was dispatched");
        measure(&sim, &store, &mut samples, || {
            sim.complete_workflow_run(REPO, production, "success")
        })
        .await;
        let closed = sim.with(|s| s.repos[REPO].issues[&n].state == "closed");
        assert!(closed, "feature {i} reached done and its issue is closed");
        let mut ops = BTreeMap::new();
        let requests = sim.with(|s| s.requests[before..].to_vec());
        repeated_edits.push(repeated(&requests));
        if std::env::var_os("SHOW_REQUESTS").is_some() && i + 1 == features {
            for r in &requests {
                let op = r.operation.as_deref().unwrap_or("?");
                println!("    {op:<45} {} {}", r.method, r.path);
            }
        }
        for r in requests {
            *ops.entry(r.operation.unwrap_or_else(|| "?".into()))
                .or_insert(0) += 1;
        }
        per_feature.push(ops);
    }
    let elapsed = started.elapsed();
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());

    println!(
        "pipeline benchmark: {features} features, label → approved PR with green tests → staging → production → done, {:.1} s",
        elapsed.as_secs_f64()
    );
    let first = &per_feature[0];
    let last = per_feature.last().unwrap();
    println!(
        "GitHub requests, first feature: {} (includes the token and configuration reads)",
        first.values().sum::<usize>()
    );
    println!(
        "GitHub requests, last feature:  {} (caches warm)",
        last.values().sum::<usize>()
    );
    for (op, count) in last {
        println!("  {count:>3}  {op:<45} {}", purpose(op));
    }
    println!(
        "  of which edits that sent what the comment or check run already said: {}",
        repeated_edits.last().unwrap()
    );
    let firsts: Vec<Duration> = samples.iter().map(|s| s.first).collect();
    let lasts: Vec<Duration> = samples.iter().map(|s| s.last).collect();
    println!(
        "webhook sent → first effect request: p50 {:.1} ms, p99 {:.1} ms ({} actions)",
        percentile(firsts.clone(), 0.5).as_secs_f64() * 1e3,
        percentile(firsts, 0.99).as_secs_f64() * 1e3,
        samples.len()
    );
    println!(
        "webhook sent → last effect request:  p50 {:.1} ms, p99 {:.1} ms",
        percentile(lasts.clone(), 0.5).as_secs_f64() * 1e3,
        percentile(lasts, 0.99).as_secs_f64() * 1e3
    );
    running.shutdown();
    running.wait().await.unwrap();
}
