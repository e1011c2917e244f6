//! A repository set up for the end-to-end lifecycle suites (production, rollback and
//! governance): shipgate on a fresh database, the simulator, and helpers that take a
//! feature to readiness or to done the way people would.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use shipgate::clock::{Clock, ManualClock, SystemClock};
use shipgate::sim::Simulator;
use shipgate::sim::state::Permission;

use super::{Backend, Shipgate, TestDb};

pub const REPO: &str = "acme/widgets";
pub const BODY: &str = "## Acceptance criteria\n- one CSV per month\n";

/// A health endpoint answering 200 while `healthy`, else 503.
pub async fn endpoint(healthy: Arc<AtomicBool>) -> String {
    super::health_endpoint(healthy, Arc::default()).await
}

/// A deployment as a user sees it on GitHub.
#[derive(Debug, Clone)]
pub struct DeploymentSeen {
    pub sha: String,
    pub git_ref: String,
    pub production_environment: bool,
    /// Its statuses, oldest first, as (state, environment_url).
    pub statuses: Vec<(String, String)>,
}

/// A workflow run shipgate dispatched, as GitHub has it.
#[derive(Debug, Clone)]
pub struct RunSeen {
    pub id: u64,
    /// The branch it runs on.
    pub branch: String,
    /// The dispatch's inputs.
    pub inputs: Value,
}

/// A `shipgate` check run as GitHub shows it.
#[derive(Debug, Clone)]
pub struct CheckRunSeen {
    pub id: u64,
    pub status: String,
    pub conclusion: Option<String>,
    pub title: String,
    /// The identifiers of its buttons.
    pub buttons: Vec<String>,
}

pub struct World {
    pub sg: Shipgate,
    pub sim: Simulator,
    pub _db: TestDb,
    /// Where a shipgate process writes its log (see [`setup_process`]).
    pub logs: Option<tempfile::TempDir>,
    /// A place among the processes allowed at once.
    pub _permit: Option<tokio::sync::SemaphorePermit<'static>>,
    /// How its in-process shipgate was started (for [`World::restarted`]).
    pub recipe: Option<Recipe>,
}

/// A repository with staging and production health URLs, `releaser` as the only
/// production approver, and `main` protected by shipgate's check run. The latency trigger
/// is off here (a loaded CI machine's local probes are no baseline); `tests/guards.rs`
/// drives it.
pub async fn setup(backend: Backend, staging: &str, production: &str) -> World {
    let config = format!(
        "approvers:\n  production: [releaser]\n\
         deploy:\n  environments:\n\
         \x20   staging:\n      health: {{ url: \"{staging}\", interval: 1s, window: 2s }}\n\
         \x20   production:\n      health: {{ url: \"{production}\", interval: 1s, window: 2s, failures: 2, max_latency_factor: null }}\n"
    );
    setup_with(backend, &config).await
}

/// The same people and branch protection with `config` as `.github/shipgate.yml`; `owner`
/// is the repository's admin.
pub async fn setup_with(backend: Backend, config: &str) -> World {
    Setup::new(backend).config(config).start().await
}

/// Like [`setup_with`]; `allow_private_health` off keeps the SSRF rules of production (health
/// URLs on internal addresses are refused) — on, the suites' local endpoints can be probed.
pub async fn setup_probing(backend: Backend, config: &str, allow_private_health: bool) -> World {
    Setup::new(backend)
        .config(config)
        .private_health(allow_private_health)
        .start()
        .await
}

/// How a world is set up, beyond the common repository: its `.github/shipgate.yml`, extra
/// settings, a clock the test moves (shared by shipgate and the simulator), and whether
/// health probes may reach internal addresses (the suites' local endpoints).
pub struct Setup {
    backend: Backend,
    config: String,
    extra: Vec<(&'static str, String)>,
    clock: Option<Arc<ManualClock>>,
    allow_private_health: bool,
}

impl Setup {
    pub fn new(backend: Backend) -> Self {
        Setup {
            backend,
            config: String::new(),
            extra: vec![],
            clock: None,
            allow_private_health: true,
        }
    }

    pub fn config(mut self, config: &str) -> Self {
        self.config = config.to_owned();
        self
    }

    /// An extra setting (`SHIPGATE_NOTIFY_URL`, …).
    pub fn setting(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// shipgate and the simulator read `clock`, which the test moves (`World::clock`).
    pub fn clock(mut self, clock: Arc<ManualClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    pub fn private_health(mut self, allow: bool) -> Self {
        self.allow_private_health = allow;
        self
    }

    /// The repository, then shipgate, installed and settled.
    pub async fn start(self) -> World {
        let (db, sim) = repository_on(self.backend, &self.config, self.clock.clone()).await;
        let recipe = Recipe {
            extra: self.extra,
            clock: self.clock,
            allow_private_health: self.allow_private_health,
        };
        let sg = recipe.start(&db, &sim).await;
        sim.install("acme", &[REPO]).await;
        sg.settle(&sim).await;
        World {
            _db: db,
            sim,
            sg,
            logs: None,
            _permit: None,
            recipe: Some(recipe),
        }
    }
}

/// How an in-process shipgate of a [`Setup`] is started (again, after a restart).
pub struct Recipe {
    extra: Vec<(&'static str, String)>,
    clock: Option<Arc<ManualClock>>,
    allow_private_health: bool,
}

impl Recipe {
    async fn start(&self, db: &TestDb, sim: &Simulator) -> Shipgate {
        let mut pairs = sim.app_env();
        pairs.push((
            "SHIPGATE_ALLOW_PRIVATE_HEALTH_URLS",
            self.allow_private_health.to_string(),
        ));
        pairs.extend(self.extra.iter().cloned());
        let settings = super::settings(db, &pairs);
        let clock: Arc<dyn Clock> = match &self.clock {
            Some(c) => c.clone(),
            None => Arc::new(SystemClock),
        };
        let secret = sim.with(|s| s.app.webhook_secret.clone());
        let sg = Shipgate::start_settings(settings, clock, secret).await;
        sim.set_webhook_url(sg.url.join("api/github/webhooks").unwrap());
        sg
    }
}

/// Like [`setup_with`], with shipgate running as a `shipgate serve` process (which a test
/// may kill) with `extra` settings; its log is `shipgate.log` in `logs`.
pub async fn setup_process(backend: Backend, config: &str, extra: &[(&str, &str)]) -> World {
    let permit = PROCESSES.acquire().await.expect("open");
    let (db, sim) = repository(backend, config).await;
    let logs = tempfile::tempdir().expect("a log directory");
    let sg = Shipgate::spawn(&db, &sim, None, extra, &logs.path().join("shipgate.log")).await;
    sim.install("acme", &[REPO]).await;
    sg.settle(&sim).await;
    World {
        _db: db,
        sim,
        sg,
        logs: Some(logs),
        _permit: Some(permit),
        recipe: None,
    }
}

/// At most this many shipgate processes run at once per test binary: on two cores, a
/// suite of dozens of lifecycles at once only measures the machine's patience.
static PROCESSES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(6);

/// Like [`setup_process`] with `n` `shipgate serve` processes on one database behind a
/// round-robin load balancer: the world (watching through the first), the other replicas
/// (stopped when dropped), and every replica's process (to kill one).
pub async fn setup_replicas(
    backend: Backend,
    config: &str,
    n: usize,
) -> (World, Vec<Shipgate>, Vec<super::Process>) {
    let (db, sim) = repository(backend, config).await;
    let logs = tempfile::tempdir().expect("a log directory");
    let mut replicas = Vec::new();
    for i in 0..n {
        let log = logs.path().join(format!("replica-{i}.log"));
        replicas.push(Shipgate::spawn(&db, &sim, None, &[], &log).await);
    }
    let processes: Vec<_> = replicas
        .iter()
        .map(|r| r.process.clone().expect("a process"))
        .collect();
    let lb = super::balancer(processes.iter().map(|p| p.addr).collect()).await;
    sim.set_webhook_url(format!("http://{lb}/api/github/webhooks").parse().unwrap());
    sim.install("acme", &[REPO]).await;
    let sg = replicas.remove(0);
    sg.settle(&sim).await;
    let w = World {
        _db: db,
        sim,
        sg,
        logs: Some(logs),
        _permit: None,
        recipe: None,
    };
    (w, replicas, processes)
}

/// A database and a simulator with the repository, its people, `config` as
/// `.github/shipgate.yml` and `main` protected by shipgate's check run.
pub async fn repository(backend: Backend, config: &str) -> (TestDb, Simulator) {
    repository_on(backend, config, None).await
}

/// Like [`repository`], the simulator on `clock` when there is one.
pub async fn repository_on(
    backend: Backend,
    config: &str,
    clock: Option<Arc<ManualClock>>,
) -> (TestDb, Simulator) {
    let db = TestDb::new(backend).await;
    let sim = match clock {
        Some(clock) => Simulator::start_with_clock(clock).await,
        None => Simulator::start().await,
    };
    sim.add_shipgate_repo(
        REPO,
        &[
            ("owner", Permission::Admin),
            ("lead", Permission::Maintain),
            ("dev", Permission::Write),
            ("reviewer", Permission::Write),
            ("releaser", Permission::Write),
            ("outsider", Permission::Read),
            ("visitor", Permission::Read),
        ],
    );
    sim.with(|s| {
        s.commit(
            REPO,
            "main",
            "shipgate config",
            "lead",
            &[(".github/shipgate.yml", Some(config))],
        )
    });
    sim.require_checks(REPO, "main", &["shipgate"]);
    (db, sim)
}

impl World {
    /// Stops shipgate, does `while_down` (moves the clock, say), and starts it again on the
    /// same database, settings and clock (an in-process world from [`Setup`]).
    pub async fn restarted(self, while_down: impl FnOnce()) -> World {
        let World {
            sg,
            sim,
            _db,
            logs,
            _permit,
            recipe,
        } = self;
        sg.stop().await;
        while_down();
        let recipe = recipe.expect("an in-process world");
        let sg = recipe.start(&_db, &sim).await;
        World {
            sg,
            sim,
            _db,
            logs,
            _permit,
            recipe: Some(recipe),
        }
    }

    /// How many effects that ran more than once (interrupted, or their answer lost) are
    /// done.
    pub async fn retried_effects_done(&self) -> usize {
        let store = &self.sg.store;
        let mut n = 0;
        for p in store.pipelines_of(REPO).await.unwrap_or_default() {
            n += store
                .effects_of(p.id)
                .await
                .unwrap_or_default()
                .iter()
                .filter(|e| e.attempts > 1 && e.status == "done")
                .count();
        }
        n
    }

    /// Everything shipgate made on GitHub exists once: its status comment per issue, each
    /// reply, each check run per commit, each dispatched run, each deployment, each deployment
    /// status, each protection-rule answer, each incident issue; and GitHub refused nothing.
    pub fn assert_nothing_doubled(&self) {
        self.sim.with(|s| {
            let r = &s.repos[REPO];
            let bot = s.app.bot_login();
            let mut seen: HashMap<String, usize> = HashMap::new();
            let mut count = |key: String| *seen.entry(key).or_default() += 1;
            for c in r.comments.values().filter(|c| c.user == bot) {
                let first = c.body.lines().next().unwrap_or("");
                let marker = if first.starts_with("<!-- shipgate:status") {
                    first.to_owned()
                } else {
                    // A reply names its effect in a marker at its end.
                    c.body.lines().last().unwrap_or("").to_owned()
                };
                count(format!("comment on #{}: {marker}", c.issue_number));
            }
            for c in r.check_runs.values() {
                count(format!(
                    "check run {} on {} ({:?})",
                    c.name, c.head_sha, c.external_id
                ));
            }
            for run in r.runs.values() {
                let input = |k: &str| run.inputs.get(k).and_then(Value::as_str).unwrap_or("");
                count(format!(
                    "run of workflow {} for {} {} rollback={}",
                    run.workflow_id,
                    input("environment"),
                    input("sha"),
                    input("rollback")
                ));
            }
            for d in r.deployments.values().filter(|d| d.creator == bot) {
                count(format!(
                    "deployment of {} to {} for {}",
                    d.sha, d.environment, d.payload["pipeline"]
                ));
            }
            for st in r.deployment_statuses.values().filter(|x| x.creator == bot) {
                count(format!(
                    "status {} of deployment {}",
                    st.state, st.deployment_id
                ));
            }
            for (run, environment, _, _) in &r.protection_reviews {
                count(format!("answer for run {run} in {environment}"));
            }
            for i in r.issues.values().filter(|i| i.user == bot) {
                count(format!("issue {}", i.title));
            }
            let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
            assert!(doubled.is_empty(), "made twice: {doubled:?}");
        });
        assert!(
            self.sim.violations().is_empty(),
            "{:?}",
            self.sim.violations()
        );
    }

    pub fn status(&self, n: u64) -> String {
        super::status_comment(&self.sim, REPO, n)
    }

    /// The `shipgate:` labels issue `n` carries, in the order they were added.
    pub fn phase_labels(&self, n: u64) -> Vec<String> {
        self.sim.with(|s| {
            s.repos[REPO].issues[&n]
                .labels
                .iter()
                .filter(|l| l.starts_with("shipgate:"))
                .cloned()
                .collect()
        })
    }

    /// shipgate's other comments on an issue or PR.
    pub fn replies(&self, n: u64) -> Vec<String> {
        super::bot_replies(&self.sim, REPO, n)
    }

    /// Waits (real time: probes run on the clock) until the status shows `phase`.
    pub async fn wait_for_phase(&self, n: u64, phase: &str) {
        for _ in 0..80 {
            self.sg.settle(&self.sim).await;
            if self.status(n).contains(&format!("phase **{phase}**")) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("never reached {phase}: {}", self.status(n));
    }

    /// Waits (up to 60 s) for a workflow run dispatched with `environment` (None: a tests
    /// run) and returns the newest one's id.
    pub async fn wait_for_run(&self, environment: Option<&str>) -> u64 {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(run) = self.newest_run(environment) {
                return run.id;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {environment:?} run was dispatched"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The newest workflow run dispatched with `environment` (None: a tests run).
    pub fn newest_run(&self, environment: Option<&str>) -> Option<RunSeen> {
        self.sim.with(|s| {
            s.repos[REPO]
                .runs
                .values()
                .filter(|r| r.inputs.get("environment").and_then(Value::as_str) == environment)
                .max_by_key(|r| r.id)
                .map(|r| RunSeen {
                    id: r.id,
                    branch: r.head_branch.clone(),
                    inputs: Value::Object(r.inputs.clone()),
                })
        })
    }

    /// The newest `shipgate` check run on `sha`.
    pub fn check_run(&self, sha: &str) -> CheckRunSeen {
        self.sim.with(|s| {
            let c = s.repos[REPO]
                .check_runs
                .values()
                .filter(|c| c.head_sha == sha && c.name == "shipgate")
                .max_by_key(|c| c.id)
                .expect("a shipgate check run");
            let buttons = c
                .actions
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["identifier"].as_str().map(str::to_owned))
                .collect();
            CheckRunSeen {
                id: c.id,
                status: c.status.clone(),
                conclusion: c.conclusion.clone(),
                title: c.output["title"].as_str().unwrap_or("").to_owned(),
                buttons,
            }
        })
    }

    /// Deployments to `environment`, oldest first.
    pub fn deployments(&self, environment: &str) -> Vec<DeploymentSeen> {
        self.sim.with(|s| {
            let r = &s.repos[REPO];
            r.deployments
                .values()
                .filter(|d| d.environment == environment)
                .map(|d| {
                    let statuses = r
                        .deployment_statuses
                        .values()
                        .filter(|x| x.deployment_id == d.id)
                        .map(|x| (x.state.clone(), x.environment_url.clone()))
                        .collect();
                    DeploymentSeen {
                        sha: d.sha.clone(),
                        git_ref: d.git_ref.clone(),
                        production_environment: d.production_environment,
                        statuses,
                    }
                })
                .collect()
        })
    }

    /// Opens a feature issue and approves its requirement and plan (it is in development);
    /// returns the issue.
    pub async fn planned_feature(&self, title: &str) -> u64 {
        self.planned_feature_with(title, BODY).await
    }

    /// [`planned_feature`](Self::planned_feature) with the issue body `body`.
    pub async fn planned_feature_with(&self, title: &str, body: &str) -> u64 {
        let (sim, sg) = (&self.sim, &self.sg);
        let n = sim.open_issue(REPO, "pm", title, body, &["feature"]).await;
        sim.comment(REPO, n, "lead", "/approve").await;
        sim.comment(REPO, n, "lead", "/approve plan").await;
        sg.settle(sim).await;
        n
    }

    /// `dev` opens the PR of feature `n` (titled `title`) from shipgate's branch, closing the
    /// issue; returns the PR. Its webhooks are sent; shipgate may not have taken them yet.
    pub async fn open_feature_pull(&self, n: u64, title: &str, pr_title: &str) -> u64 {
        let slug = title.to_lowercase().replace(' ', "-");
        self.sim
            .open_pull(
                REPO,
                "dev",
                &format!("feature/REQ-{n}-{slug}"),
                pr_title,
                &format!("Closes #{n}"),
            )
            .await
    }

    /// Opens a feature issue, approves its requirement and plan, and opens its PR (by `dev`,
    /// from shipgate's branch); returns (issue, PR) with the tests run dispatched.
    pub async fn feature_in_review(&self, title: &str, pr_title: &str) -> (u64, u64) {
        let n = self.planned_feature(title).await;
        let pr = self.open_feature_pull(n, title, pr_title).await;
        self.sg.settle(&self.sim).await;
        (n, pr)
    }

    /// Opens a feature ("Export invoices") and its PR, and its tests run succeeds (the
    /// webhook is sent; shipgate may not have taken it yet); returns (issue, PR).
    pub async fn feature_tested(&self) -> (u64, u64) {
        let (n, pr) = self
            .feature_in_review("Export invoices", "Add invoice export")
            .await;
        let tests = self.wait_for_run(None).await;
        self.sim.complete_workflow_run(REPO, tests, "success").await;
        (n, pr)
    }

    /// Takes a new feature through review and tests to a successful staging deploy run (its
    /// health, if any, is still being watched); returns (issue, PR).
    pub async fn staging_deployed(&self) -> (u64, u64) {
        let (sim, sg) = (&self.sim, &self.sg);
        let (n, pr) = self.feature_tested().await;
        sim.review(REPO, pr, "reviewer", "APPROVED").await;
        sg.settle(sim).await;
        let deploy = self.wait_for_run(Some("staging")).await;
        sim.complete_workflow_run(REPO, deploy, "success").await;
        sg.settle(sim).await;
        (n, pr)
    }

    /// Asserts the status comment of `n` says `text`.
    pub fn expect_status(&self, n: u64, text: &str) {
        let status = self.status(n);
        assert!(
            status.contains(text),
            "the status lacks {text:?}:\n{status}"
        );
    }

    /// Asserts one of shipgate's replies on `n` says every one of `parts`.
    pub fn expect_reply(&self, n: u64, parts: &[&str]) {
        let replies = self.replies(n);
        assert!(
            replies.iter().any(|r| parts.iter().all(|p| r.contains(p))),
            "no reply says {parts:?}: {replies:?}"
        );
    }

    /// Takes a feature to a healthy staging (readiness); returns (issue, PR, head SHA).
    pub async fn to_readiness(&self) -> (u64, u64, String) {
        let (n, pr) = self.staging_deployed().await;
        self.wait_for_phase(n, "readiness").await;
        let head = self.sim.with(|s| s.repos[REPO].pulls[&pr].head_sha.clone());
        (n, pr, head)
    }
}

/// Another organisation's repository, with the App installed there too.
#[allow(dead_code)]
pub const STRANGERS_REPO: &str = "globex/secret";

impl World {
    /// Two people for visibility tests: `carol` works only in [`STRANGERS_REPO`] (installed,
    /// with her feature "Acquire Initech" opened), `alice` can only read [`REPO`].
    #[allow(dead_code)]
    pub async fn with_strangers(&self) {
        let sim = &self.sim;
        sim.add_shipgate_repo(STRANGERS_REPO, &[("carol", Permission::Write)]);
        sim.install("globex", &[STRANGERS_REPO]).await;
        sim.set_permission(REPO, "alice", Permission::Read);
        sim.open_issue(
            STRANGERS_REPO,
            "carol",
            "Acquire Initech",
            BODY,
            &["feature"],
        )
        .await;
        self.sg.settle(sim).await;
    }

    /// Takes a new feature all the way to `done`; returns (issue, merge SHA).
    pub async fn to_done(&self) -> (u64, String) {
        let (n, pr, _) = self.to_readiness().await;
        self.sim
            .comment(REPO, pr, "releaser", "/approve production")
            .await;
        self.sg.settle(&self.sim).await;
        let run = self
            .newest_run(Some("production"))
            .expect("production deploy")
            .id;
        self.sim.complete_workflow_run(REPO, run, "success").await;
        self.wait_for_phase(n, "done").await;
        let merge_sha = self.sim.with(|s| {
            s.repos[REPO].pulls[&pr]
                .merge_commit_sha
                .clone()
                .expect("merged")
        });
        (n, merge_sha)
    }
}

/// A production health endpoint whose answers the test scripts: `mode` 0 healthy, 1 down,
/// 2 flapping (down on every other request counted in `hits`, starting with the first),
/// 3 healthy but slow (200 after 400 ms).
pub async fn scripted_endpoint(
    mode: Arc<std::sync::atomic::AtomicU8>,
    hits: Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let (mode, hits) = (mode.clone(), hits.clone());
            async move {
                let n = hits.fetch_add(1, Ordering::SeqCst);
                let mode = mode.load(Ordering::SeqCst);
                if mode == 3 {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
                let up = match mode {
                    0 | 3 => true,
                    1 => false,
                    _ => n % 2 == 1,
                };
                if up {
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::BAD_GATEWAY
                }
            }
        }),
    );
    format!("http://{}/health", super::serve_local(app).await)
}
