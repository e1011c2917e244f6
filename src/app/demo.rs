//! `shipgate demo`: a whole lifecycle, from an issue labelled `feature` to a healthy
//! production deploy, against the built-in GitHub simulator — SQLite in a temporary
//! directory, a local health endpoint, scripted people — printed as a timeline as it happens.
//! The real engine runs unchanged: signed webhooks in, octocrab calls out.
//!
//! Must not: reach the network beyond loopback, or leave files behind.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::clock::SystemClock;
use crate::pipeline::model::TASK_INPUTS;
use crate::settings::Settings;
use crate::sim::Simulator;
use crate::sim::state::Permission;
use crate::store::Store;

const REPO: &str = "demo/shop";
const TITLE: &str = "Export invoices as CSV";
const BODY: &str = "Finance wants a CSV of each month's invoices.\n\n## Acceptance criteria\n- one file per month\n- totals match the ledger\n\n## Tasks\n- [ ] Invoice CSV writer\n- [ ] Ledger totals check\n- [ ] Monthly export job (after 1, 2)\n";

/// What the demo prints, with the time since it started.
struct Printer {
    started: Instant,
}

impl Printer {
    fn say(&self, what: &str) {
        println!("  [{:>5.1}s] {what}", self.started.elapsed().as_secs_f64());
    }
}

/// Runs the demo; `Ok(true)` when the pipeline reached `done`.
pub async fn run() -> anyhow::Result<bool> {
    let dir = std::env::temp_dir().join(format!(
        "shipgate-demo-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).context("creating the demo's temporary directory")?;
    let outcome = lifecycle(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

async fn health_endpoint() -> anyhow::Result<String> {
    let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/health"))
}

async fn lifecycle(dir: &std::path::Path) -> anyhow::Result<bool> {
    let out = Printer {
        started: Instant::now(),
    };
    println!(
        "shipgate demo — one feature from issue to production, against the built-in GitHub simulator\n"
    );
    let health = health_endpoint().await?;
    let sim = Simulator::start().await;
    sim.add_shipgate_repo(
        REPO,
        &[
            ("lead", Permission::Maintain),
            ("dev", Permission::Write),
            ("reviewer", Permission::Write),
            ("releaser", Permission::Write),
        ],
    );
    sim.add_workflow(REPO, "develop.yml", &TASK_INPUTS);
    let config = format!(
        "develop:\n  workflows: [develop.yml]\n\
         deploy:\n  environments:\n\
         \x20   staging:\n      health: {{ url: \"{health}\", interval: 1s, window: 3s }}\n\
         \x20   production:\n      health: {{ url: \"{health}\", interval: 1s, window: 3s }}\n"
    );
    sim.with(|s| {
        s.commit(
            REPO,
            "main",
            "shipgate config: short health windows for the demo",
            "lead",
            &[(".github/shipgate.yml", Some(&config))],
        )
    });
    sim.require_checks(REPO, "main", &["shipgate"]);

    let mut env: HashMap<String, String> = sim
        .app_env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    env.extend([
        (
            "DATABASE_URL".to_owned(),
            format!("sqlite://{}", dir.join("shipgate.db").display()),
        ),
        ("SHIPGATE_BIND".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS".to_owned(),
            "true".to_owned(),
        ),
    ]);
    let settings = Settings::from_lookup(|k| env.get(k).cloned())
        .map_err(|e| anyhow::anyhow!("demo settings: {e}"))?;
    let running = super::start(settings, Arc::new(SystemClock)).await?;
    let store = running.store.clone();
    sim.set_webhook_url(url::Url::parse(&format!(
        "http://{}/api/github/webhooks",
        running.addr
    ))?);
    sim.install("demo", &[REPO]).await;
    out.say(&format!(
        "shipgate is the simulator's App on http://{}; {REPO} is installed",
        running.addr
    ));

    let mut script = Script {
        sim: &sim,
        store: &store,
        out: &out,
        issue: 0,
        phase: String::new(),
    };
    let result = script.play().await;
    running.shutdown();
    let _ = running.wait().await;
    let done = result?;
    if done {
        let summary = sim.with(|s| {
            let bot = s.app.bot_login();
            s.repos[REPO]
                .comments
                .values()
                .rev()
                .find(|c| c.user == bot && c.body.contains("is in production"))
                .map(|c| c.body.clone())
        });
        println!("\nThe summary shipgate left on the issue before closing it:\n");
        for line in summary.unwrap_or_default().lines() {
            if !line.starts_with("<!--") {
                println!("    {line}");
            }
        }
        let requests = sim.requests().len();
        println!("\nshipgate made {requests} GitHub API requests for this lifecycle.");
    }
    Ok(done)
}

/// The people of the demo, and what they do.
struct Script<'a> {
    sim: &'a Simulator,
    store: &'a Store,
    out: &'a Printer,
    issue: u64,
    phase: String,
}

impl Script<'_> {
    async fn play(&mut self) -> anyhow::Result<bool> {
        let (sim, out) = (self.sim, self.out);
        out.say(&format!("pm opens issue \"{TITLE}\" labelled `feature`"));
        self.issue = sim.open_issue(REPO, "pm", TITLE, BODY, &["feature"]).await;
        self.settle().await?;
        out.say("lead comments `/approve` (the requirement has its acceptance criteria)");
        sim.comment(REPO, self.issue, "lead", "/approve").await;
        self.settle().await?;
        out.say("lead comments `/approve plan`");
        sim.comment(REPO, self.issue, "lead", "/approve plan").await;
        self.settle().await?;
        self.develop().await?;
        let branch = sim.with(|s| {
            s.repos[REPO]
                .branches
                .keys()
                .find(|b| b.starts_with("feature/"))
                .cloned()
        });
        let branch = branch.context("shipgate created no feature branch")?;
        out.say(&format!("dev opens a pull request from `{branch}`"));
        let pr = sim
            .open_pull(
                REPO,
                "dev",
                &branch,
                "Add invoice export",
                &format!("Closes #{}", self.issue),
            )
            .await;
        self.settle().await?;
        let tests = self.newest_run(None).context("no tests dispatched")?;
        out.say(&format!("GitHub Actions: tests run {tests} succeeds"));
        sim.complete_workflow_run(REPO, tests, "success").await;
        out.say("reviewer approves the pull request");
        sim.review(REPO, pr, "reviewer", "APPROVED").await;
        self.settle().await?;
        let deploy = self
            .newest_run(Some("staging"))
            .context("no staging deploy dispatched")?;
        out.say(&format!(
            "GitHub Actions: staging deploy run {deploy} succeeds"
        ));
        sim.complete_workflow_run(REPO, deploy, "success").await;
        self.wait_for("readiness").await?;
        let check = sim.with(|s| {
            s.repos[REPO]
                .check_runs
                .values()
                .filter(|c| c.name == "shipgate" && c.status != "completed")
                .max_by_key(|c| c.id)
                .map(|c| c.id)
        });
        let check = check.context("no open shipgate check run")?;
        out.say("releaser presses \"Approve prod\" on the check run");
        sim.press_button(REPO, check, "releaser", "approve_prod")
            .await;
        self.settle().await?;
        let deploy = self
            .newest_run(Some("production"))
            .context("no production deploy dispatched")?;
        out.say(&format!(
            "GitHub Actions: production deploy run {deploy} succeeds"
        ));
        sim.complete_workflow_run(REPO, deploy, "success").await;
        self.wait_for("done").await?;
        Ok(self.phase == "done")
    }

    /// The development stage: each task's run, as shipgate dispatches them in dependency
    /// order, succeeds.
    async fn develop(&mut self) -> anyhow::Result<()> {
        for _ in 0..10 {
            let pending: Vec<(u64, String, String)> = self.sim.with(|s| {
                s.repos[REPO]
                    .runs
                    .values()
                    .filter(|r| r.status != "completed")
                    .filter_map(|r| {
                        let input = |k: &str| r.inputs.get(k)?.as_str().map(str::to_owned);
                        Some((r.id, input("task_id")?, input("task")?))
                    })
                    .collect()
            });
            if pending.is_empty() {
                return Ok(());
            }
            for (run, id, task) in pending {
                self.out.say(&format!(
                    "GitHub Actions: develop run {run} for task {id} “{task}” pushes its work and succeeds"
                ));
                self.sim.complete_workflow_run(REPO, run, "success").await;
            }
            self.settle().await?;
        }
        bail!("the development tasks never finished")
    }

    fn newest_run(&self, environment: Option<&str>) -> Option<u64> {
        self.sim.with(|s| {
            s.repos[REPO]
                .runs
                .values()
                .filter(|r| r.inputs.get("environment").and_then(Value::as_str) == environment)
                .map(|r| r.id)
                .max()
        })
    }

    /// The phase the status comment shows.
    fn shown_phase(&self) -> Option<String> {
        self.sim.with(|s| {
            let body = &s.repos[REPO]
                .comments
                .values()
                .find(|c| {
                    c.issue_number == self.issue && c.body.starts_with("<!-- shipgate:status")
                })?
                .body;
            let at = body.find("phase **")? + "phase **".len();
            let len = body[at..].find("**")?;
            Some(body[at..at + len].to_owned())
        })
    }

    fn note_phase(&mut self) {
        if let Some(phase) = self.shown_phase()
            && phase != self.phase
        {
            self.out.say(&format!("shipgate: phase → {phase}"));
            self.phase = phase;
        }
    }

    /// Waits until shipgate took every delivery and ran every due effect.
    async fn settle(&mut self) -> anyhow::Result<()> {
        for _ in 0..600 {
            self.sim.settle().await;
            if self.store.is_idle().await? {
                self.sim.settle().await;
                self.note_phase();
                return Ok(());
            }
            self.note_phase();
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("shipgate did not settle within 15 s")
    }

    /// Waits (health windows run on the clock) until the pipeline shows `phase`.
    async fn wait_for(&mut self, phase: &str) -> anyhow::Result<()> {
        for _ in 0..150 {
            self.settle().await?;
            if self.phase == phase {
                return Ok(());
            }
            if self.phase == "failed" {
                bail!("the pipeline failed on its way to {phase}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!(
            "the pipeline never reached {phase} (it is in {})",
            self.phase
        )
    }
}
