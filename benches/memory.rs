//! shipgate's memory with many pipelines in flight: the real `shipgate serve` process (the
//! release binary) as the simulator's App, on SQLite in a temporary directory; the
//! simulator runs in this process, so its memory is not counted.
//!
//! Takes PIPELINES features (default 1,000) to `review` — each with its status comment,
//! phase label, branch, PR, check run and a dispatched tests run waiting — then prints the
//! process's resident memory now and its peak (`VmRSS`, `VmHWM` from /proc), and the database
//! size.
//!
//! `cargo bench --bench memory` (PIPELINES=n).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;

const REPO: &str = "acme/widgets";
const BODY: &str = "## Acceptance criteria\n- one CSV per month\n";

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system) a process has used, from /proc/<pid>/stat.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is 14th, stime 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(addr: &str) {
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(r) = client.get(format!("http://{addr}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("shipgate did not become ready");
}

/// Waits until the simulator has seen no new request for a while (shipgate is idle).
async fn quiet(sim: &Simulator) {
    let mut last = usize::MAX;
    let mut still = 0;
    while still < 8 {
        sim.settle().await;
        let n = sim.with(|s| s.requests.len());
        if n == last {
            still += 1;
        } else {
            still = 0;
            last = n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let features: u64 = std::env::var("PIPELINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start().await;
    sim.add_shipgate_repo(
        REPO,
        &[("lead", Permission::Maintain), ("dev", Permission::Write)],
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let db = dir.path().join("memory.db");
    let mut env: BTreeMap<&str, String> = sim.app_env().into_iter().collect();
    env.insert("DATABASE_URL", format!("sqlite://{}", db.display()));
    env.insert("SHIPGATE_BIND", addr.clone());
    env.insert("RUST_LOG", "warn".into());
    // 1,000 features at once: GitHub's content pace (one a second, 500 an hour per
    // installation) would stretch this to hours; the simulator has no such limit.
    env.insert("SHIPGATE_CONTENT_PACING", "off".into());
    let child = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .arg("serve")
        .env_clear()
        .envs(&env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("shipgate starts");
    let serve = Serve(child);
    let pid = serve.0.id();
    wait_ready(&addr).await;
    sim.set_webhook_url(
        format!("http://{addr}/api/github/webhooks")
            .parse()
            .unwrap(),
    );
    sim.install("acme", &[REPO]).await;
    quiet(&sim).await;
    let idle = status_kib(pid, "VmRSS:");

    let started = Instant::now();
    for i in 0..features {
        let title = format!("Export invoices {i}");
        let n = sim.open_issue(REPO, "pm", &title, BODY, &["feature"]).await;
        sim.comment(REPO, n, "lead", "/approve\n/approve plan")
            .await;
        let branch = shipgate::pipeline::linking::branch_name(n, &title);
        sim.open_pull(REPO, "dev", &branch, &title, &format!("Closes #{n}"))
            .await;
        if i % 100 == 99 {
            eprintln!(
                "  {} features opened, RSS {} MiB",
                i + 1,
                status_kib(pid, "VmRSS:") / 1024
            );
        }
    }
    quiet(&sim).await;
    let elapsed = started.elapsed();
    let in_review = sim.with(|s| {
        s.repos[REPO]
            .issues
            .values()
            .filter(|i| i.labels.iter().any(|l| l == "shipgate:review"))
            .count()
    });
    let (shipgate_cpu, bench_cpu) = (cpu_seconds(&pid.to_string()), cpu_seconds("self"));
    let rss = status_kib(pid, "VmRSS:");
    let peak = status_kib(pid, "VmHWM:");
    let files: Vec<(String, u64)> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().ok()?.len(),
            ))
        })
        .collect();
    let db_bytes: u64 = files.iter().map(|(_, n)| n).sum();
    println!(
        "memory benchmark: {features} pipelines taken to review ({in_review} show shipgate:review) in {:.1} s, {} GitHub requests",
        elapsed.as_secs_f64(),
        sim.with(|s| s.requests.len())
    );
    println!(
        "shipgate serve RSS: idle {} MiB, with {features} pipelines in flight {} MiB, peak {} MiB",
        idle / 1024,
        rss / 1024,
        peak / 1024
    );
    println!(
        "CPU: shipgate serve {shipgate_cpu:.1} s; this process (the simulator and its webhooks) {bench_cpu:.1} s"
    );
    let mib = |n: u64| n as f64 / (1024.0 * 1024.0);
    println!(
        "database on disk: {:.1} MiB ({})",
        mib(db_bytes),
        files
            .iter()
            .map(|(name, n)| format!("{name} {:.1} MiB", mib(*n)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if in_review as u64 != features {
        let mut ops: BTreeMap<String, usize> = BTreeMap::new();
        for r in sim.requests() {
            *ops.entry(format!("{} {}", r.operation.unwrap_or_default(), r.status))
                .or_default() += 1;
        }
        let labels = sim.with(|s| s.repos[REPO].issues.get(&1).map(|i| i.labels.clone()));
        panic!(
            "only {in_review} of {features} pipelines reached review; requests: {ops:?}; issue 1: {labels:?}"
        );
    }
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}
