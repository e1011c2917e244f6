//! A stateful GitHub simulator served over real HTTP, for tests and `shipgate demo`.
//!
//! shipgate's real octocrab client talks to it through `GITHUB_API_URL`. Every request is
//! matched to an operation of GitHub's REST description and validated against it (path and
//! query parameters, body); a request that does not conform is refused and recorded as a
//! violation, and a [`Simulator`] with violations panics when dropped, so the test that made
//! the request fails naming it. The simulator's own answers and the webhooks it sends are
//! validated too, so it cannot drift from GitHub's shapes unnoticed.
//!
//! Extending it: add a handler for the operation's `operationId` in one of the `handlers`
//! modules and register it there; state lives in [`state::SimState`], JSON in [`render`].
//! Must not: be used by production code paths other than `shipgate demo`.

pub mod auth;
mod dispatch;
mod graphql;
mod handlers;
pub mod keys;
mod oauth;
pub mod oidc;
pub(crate) mod people;
mod permissions;
pub mod render;
pub mod spec;
pub mod state;
mod web;
pub mod webhooks;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio::task::JoinHandle;
use url::Url;

use crate::clock::{Clock, SystemClock};
use crate::github::credentials::{AppCredentials, AppKey};
use state::{AppInfo, Installation, Permission, Repo, SimState, Workflow};

pub use people::NewPull;
pub use state::{HookDelivery, RecordedRequest};

pub(crate) struct Inner {
    pub state: Mutex<SimState>,
    pub spec: spec::Spec,
    pub hooks: webhooks::HookQueue,
}

/// A running simulator. Cheap to share by reference; stops when dropped.
pub struct Simulator {
    inner: Arc<Inner>,
    addr: SocketAddr,
    task: JoinHandle<()>,
    /// Panic on drop if requests did not conform (on in tests, off in the demo).
    pub fail_on_violations: bool,
}

/// The permissions the simulated App has (those `app-manifest.json` asks for).
fn default_permissions() -> BTreeMap<String, String> {
    [
        ("actions", "write"),
        ("checks", "write"),
        ("contents", "write"),
        ("deployments", "write"),
        ("issues", "write"),
        ("pull_requests", "write"),
        ("metadata", "read"),
        ("members", "read"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl Simulator {
    /// Starts on a free local port with the real clock.
    pub async fn start() -> Self {
        Self::start_with_clock(Arc::new(SystemClock)).await
    }

    /// Starts with the given clock (share it with shipgate so both agree on time).
    pub async fn start_with_clock(clock: Arc<dyn Clock>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the simulator binds a local port");
        let addr = listener.local_addr().expect("bound address");
        let base = Url::parse(&format!("http://{addr}/")).expect("local URL");
        let pair = keys::app_key_pair(0);
        let app = AppInfo {
            id: 4242,
            slug: "shipgate-sim".into(),
            name: "shipgate (simulated)".into(),
            owner: "sim-owner".into(),
            client_id: "Iv1.simulatedclient".into(),
            client_secret: "simulated-client-secret".into(),
            webhook_secret: "simulated webhook secret".into(),
            private_key_pem: pair.private_pem.clone(),
            public_key_pem: pair.public_pem.clone(),
            webhook_url: None,
            permissions: default_permissions(),
            events: serde_json::from_str::<serde_json::Value>(crate::github::manifest::MANIFEST)
                .ok()
                .and_then(|m| serde_json::from_value(m["default_events"].clone()).ok())
                .unwrap_or_default(),
            created_at: clock.now(),
        };
        let inner = Arc::new(Inner {
            state: Mutex::new(SimState::new(base, clock, app)),
            spec: spec::Spec::load(),
            hooks: webhooks::HookQueue::default(),
        });
        let router = dispatch::router(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await;
        });
        Self {
            inner,
            addr,
            task,
            fail_on_violations: true,
        }
    }

    /// The API root to use as `GITHUB_API_URL`.
    pub fn api_url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.addr)).expect("local URL")
    }

    /// The web root to use as `GITHUB_URL` (the new-App page of the manifest flow).
    pub fn web_url(&self) -> Url {
        self.api_url()
    }

    /// Credentials for the simulated App, as an operator would configure them.
    pub fn app_credentials(&self) -> AppCredentials {
        self.with(|s| AppCredentials {
            app_id: s.app.id,
            key: AppKey::from_pem(&s.app.private_key_pem).expect("simulator key parses"),
            webhook_secret: s.app.webhook_secret.clone().into(),
            client_id: Some(s.app.client_id.clone()),
            client_secret: Some(s.app.client_secret.clone().into()),
            slug: Some(s.app.slug.clone()),
        })
    }

    /// Runs `f` on the simulator's state (to arrange a scene or look at the outcome).
    pub fn with<R>(&self, f: impl FnOnce(&mut SimState) -> R) -> R {
        f(&mut self.inner.state.lock().expect("simulator state"))
    }

    /// A user access token for the App, as `login` gets by signing in with it (valid 8 h,
    /// as GitHub's expiring user tokens are).
    pub fn user_token(&self, login: &str) -> String {
        self.with(|s| s.issue_user_token(login))
    }

    /// The Actions OIDC issuer the simulator plays (`SHIPGATE_OIDC_ISSUER`).
    pub fn oidc_issuer(&self) -> String {
        oidc::issuer(&self.api_url())
    }

    /// A token GitHub Actions would give run `run_id` of `full_name` now, for `audience`.
    /// Panics when there is no such run.
    pub fn oidc_token(&self, full_name: &str, run_id: u64, audience: &str) -> String {
        oidc::sign(&self.oidc_claims(full_name, run_id, audience))
    }

    /// The claims of [`oidc_token`](Self::oidc_token), to change before signing them with
    /// [`oidc::sign`] (or [`oidc::forge`]). Panics when there is no such run.
    pub fn oidc_claims(&self, full_name: &str, run_id: u64, audience: &str) -> serde_json::Value {
        self.with(|s| s.oidc_claims(full_name, run_id, audience))
            .unwrap_or_else(|| panic!("the simulator has no run {run_id} in {full_name}"))
    }

    /// What a runner sets for a job of run `run_id` with `id-token: write`:
    /// (`ACTIONS_ID_TOKEN_REQUEST_URL`, `ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
    pub fn actions_token_request(&self, full_name: &str, run_id: u64) -> (String, String) {
        let token = format!("job-{}", self.with(|s| s.next_id()));
        self.with(|s| {
            s.job_token_requests
                .insert(token.clone(), (full_name.to_owned(), run_id))
        });
        let url = format!("{}oidc/token?api-version=2.0", self.api_url());
        (url, token)
    }

    /// Sends webhooks to this URL from now on.
    pub fn set_webhook_url(&self, url: Url) {
        self.with(|s| s.app.webhook_url = Some(url));
    }

    /// Creates a repository with one commit on `main`, owned by `owner`.
    pub fn add_repo(&self, full_name: &str) -> u64 {
        let (owner, name) = full_name.split_once('/').expect("owner/name");
        self.with(|s| {
            s.ensure_user(owner);
            let id = s.next_id();
            s.repos.insert(
                full_name.to_owned(),
                Repo {
                    id,
                    owner: owner.to_owned(),
                    name: name.to_owned(),
                    default_branch: "main".into(),
                    next_number: 1,
                    ..Repo::default()
                },
            );
            s.commit(
                full_name,
                "main",
                "Initial commit",
                owner,
                &[("README.md", Some("# hello\n"))],
            );
            id
        })
    }

    /// A repository set up as shipgate's README says: `tests.yml` (inputs `sha`,
    /// `pipeline`) and `deploy.yml` (`environment`, `sha`, `pipeline`, `rollback`, `reason`), with
    /// `people` as collaborators.
    pub fn add_shipgate_repo(&self, full_name: &str, people: &[(&str, Permission)]) -> u64 {
        let id = self.add_repo(full_name);
        self.add_workflow(full_name, "tests.yml", &["sha", "pipeline"]);
        self.add_workflow(
            full_name,
            "deploy.yml",
            &["environment", "sha", "pipeline", "rollback", "reason"],
        );
        for (login, permission) in people {
            self.set_permission(full_name, login, *permission);
        }
        id
    }

    /// The settings (as environment variables) that make shipgate this simulator's App.
    pub fn app_env(&self) -> Vec<(&'static str, String)> {
        let creds = self.app_credentials();
        let (pem, secret, client_secret) = self.with(|s| {
            (
                s.app.private_key_pem.clone(),
                s.app.webhook_secret.clone(),
                s.app.client_secret.clone(),
            )
        });
        vec![
            ("GITHUB_APP_ID", creds.app_id.to_string()),
            ("GITHUB_PRIVATE_KEY", pem),
            ("GITHUB_WEBHOOK_SECRET", secret),
            ("GITHUB_APP_SLUG", creds.slug.unwrap_or_default()),
            ("GITHUB_CLIENT_ID", creds.client_id.unwrap_or_default()),
            ("GITHUB_CLIENT_SECRET", client_secret),
            ("GITHUB_API_URL", self.api_url().to_string()),
            ("GITHUB_URL", self.web_url().to_string()),
            ("SHIPGATE_OIDC_ISSUER", self.oidc_issuer()),
        ]
    }

    /// Gives `login` a permission on a repository.
    pub fn set_permission(&self, full_name: &str, login: &str, permission: Permission) {
        self.with(|s| {
            s.ensure_user(login);
            s.repo_mut(full_name)
                .expect("known repository")
                .collaborators
                .insert(login.to_owned(), permission);
        });
    }

    /// Declares a workflow file with the `workflow_dispatch` inputs it accepts.
    pub fn add_workflow(&self, full_name: &str, file: &str, inputs: &[&str]) -> u64 {
        self.with(|s| {
            let id = s.next_id();
            let repo = s.repo_mut(full_name).expect("known repository");
            repo.workflows.insert(
                id,
                Workflow {
                    id,
                    name: file
                        .trim_end_matches(".yml")
                        .trim_end_matches(".yaml")
                        .to_owned(),
                    path: format!(".github/workflows/{file}"),
                    inputs: inputs.iter().map(|i| (*i).to_owned()).collect(),
                },
            );
            id
        })
    }

    /// Installs the App on `account` for the given repositories, without a webhook.
    pub fn add_installation(&self, account: &str, repositories: &[&str]) -> u64 {
        self.with(|s| {
            s.ensure_user(account);
            let id = s.next_id();
            let created_at = s.now();
            s.installations.insert(
                id,
                Installation {
                    id,
                    account: account.to_owned(),
                    repositories: repositories.iter().map(|r| (*r).to_owned()).collect(),
                    suspended: false,
                    created_at,
                },
            );
            id
        })
    }

    /// Installs the App as a user would: GitHub records it and sends `installation.created`.
    pub async fn install(&self, account: &str, repositories: &[&str]) -> u64 {
        let id = self.add_installation(account, repositories);
        self.with(|s| webhooks::installation_created(s, id));
        self.settle().await;
        id
    }

    /// Completes a workflow run (as GitHub Actions would) and sends `workflow_run.completed`.
    pub async fn complete_workflow_run(&self, full_name: &str, run_id: u64, conclusion: &str) {
        self.with(|s| {
            let now = s.now();
            let repo = s.repo_mut(full_name).expect("known repository");
            let run = repo.runs.get_mut(&run_id).expect("known workflow run");
            run.status = "completed".into();
            run.conclusion = Some(conclusion.to_owned());
            run.updated_at = now;
            webhooks::workflow_run(s, full_name, run_id, "completed");
        });
        self.settle().await;
    }

    /// A job of run `run_id` reaches `environment`, guarded by the App's custom protection
    /// rule: GitHub asks the App (`deployment_protection_rule.requested`). The answer is in
    /// the repository's `protection_reviews`.
    pub async fn request_deployment_protection(
        &self,
        full_name: &str,
        run_id: u64,
        environment: &str,
    ) {
        self.with(|s| webhooks::deployment_protection_rule(s, full_name, run_id, environment));
        self.settle().await;
    }

    /// Holds back webhooks of `event` until `release_webhooks` (GitHub does not promise
    /// delivery order: a later event can arrive first).
    pub fn hold_webhooks(&self, event: &str) {
        self.with(|s| s.held_events.push(event.to_owned()));
    }

    /// Sends the webhooks held back, in their order, and stops holding.
    pub async fn release_webhooks(&self) {
        self.with(|s| {
            s.held_events.clear();
            let held = std::mem::take(&mut s.held);
            s.outbox.extend(held);
        });
        self.settle().await;
    }

    /// Sends a webhook GitHub would send, signed with the App's secret. Returns the delivery.
    pub async fn send_webhook(&self, event: &str, payload: serde_json::Value) -> HookDelivery {
        self.with(|s| webhooks::enqueue_raw(s, event, payload));
        self.settle().await;
        self.with(|s| {
            s.hook_deliveries
                .last()
                .cloned()
                .expect("a delivery was recorded")
        })
    }

    /// Waits until every queued webhook has been sent.
    pub async fn settle(&self) {
        webhooks::flush(&self.inner).await;
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.with(|s| s.requests.clone())
    }

    /// Violations so far, without clearing them.
    pub fn violations(&self) -> Vec<String> {
        self.with(|s| s.violations.clone())
    }

    /// Takes the violations a test provoked on purpose, so they do not fail it at drop.
    pub fn take_violations(&self) -> Vec<String> {
        self.with(|s| std::mem::take(&mut s.violations))
    }

    /// Makes the next request to `operation` (an `operationId`) fail with `status`.
    pub fn inject_fault(&self, operation: &str, status: u16, headers: &[(&str, &str)]) {
        self.with(|s| {
            s.faults.push(state::Fault {
                headers: headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                ..state::Fault::new(operation, status)
            })
        });
    }

    /// Makes the next GraphQL request meet GraphQL's own rate limit, as GitHub answers it:
    /// 200 with an error of type `RATE_LIMITED`, `x-ratelimit-remaining: 0` and the budget's
    /// `reset` (seconds since the epoch) ("Rate limits and query limits for the GraphQL API",
    /// docs.github.com).
    pub fn inject_graphql_rate_limit(&self, reset: i64) {
        self.with(|s| {
            s.faults.push(state::Fault {
                body: Some(serde_json::json!({
                    "data": null,
                    "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for installation."}],
                })),
                headers: vec![
                    ("x-ratelimit-limit".into(), "5000".into()),
                    ("x-ratelimit-remaining".into(), "0".into()),
                    ("x-ratelimit-reset".into(), reset.to_string()),
                    ("x-ratelimit-resource".into(), "graphql".into()),
                ],
                ..state::Fault::new(graphql::OPERATION, 200)
            })
        });
    }

    /// Makes the next request to `operation` meet GitHub's secondary rate limit: 403 with
    /// GitHub's message and documentation link, no `retry-after`, and a primary limit far
    /// from spent.
    pub fn inject_secondary_rate_limit(&self, operation: &str) {
        self.with(|s| {
            s.faults.push(state::Fault {
                body: Some(dispatch::secondary_rate_limit_body()),
                ..state::Fault::new(operation, 403)
            })
        });
    }

    /// Makes every REST answer say that `remaining` of the installation's hourly requests
    /// are left (`x-ratelimit-remaining`), until set back to `None` (the real count).
    pub fn report_rate_limit_remaining(&self, remaining: Option<u64>) {
        self.with(|s| s.rate_limit_remaining = remaining);
    }

    /// The same for GraphQL's budget (`x-ratelimit-resource: graphql`).
    pub fn report_graphql_rate_limit_remaining(&self, remaining: Option<u64>) {
        self.with(|s| s.graphql_rate_limit_remaining = remaining);
    }

    /// Enforces GitHub's secondary limit on content-creating requests (comments, issues,
    /// pull requests, workflow dispatches) per installation: `burst` at once, then one every
    /// `every`; beyond that, GitHub's secondary-limit 403.
    pub fn throttle_content(&self, burst: u32, every: std::time::Duration) {
        self.with(|s| {
            s.content_throttle = Some(state::ContentThrottle {
                burst: f64::from(burst),
                every,
                buckets: Default::default(),
                refused: 0,
            })
        });
    }

    /// How many content-creating requests the throttle refused.
    pub fn content_refused(&self) -> usize {
        self.with(|s| s.content_throttle.as_ref().map_or(0, |t| t.refused))
    }

    /// Makes the next request to `operation` succeed on GitHub's side but answer `status`
    /// (the write happened; the caller cannot tell). Idempotency tests use it.
    pub fn lose_answer(&self, operation: &str, status: u16) {
        self.with(|s| {
            s.faults.push(state::Fault {
                after: true,
                ..state::Fault::new(operation, status)
            })
        });
    }

    /// Makes the next request to `operation` be carried out and then never answered: the
    /// caller waits until it gives up or is killed (crash tests kill shipgate then).
    pub fn hang_after(&self, operation: &str) {
        self.hang_after_nth(operation, 0);
    }

    /// As [`Simulator::hang_after`], for the request to `operation` after the next `skip`.
    pub fn hang_after_nth(&self, operation: &str, skip: usize) {
        self.with(|s| {
            s.faults.push(state::Fault {
                after: true,
                hang: true,
                skip,
                ..state::Fault::new(operation, 504)
            })
        });
    }

    /// Waits (up to 30 s) until the simulator has received `n` requests to `operation`;
    /// panics if it has not.
    pub async fn wait_for_requests(&self, operation: &str, n: usize) {
        for _ in 0..3000 {
            let seen = self.with(|s| {
                s.requests
                    .iter()
                    .filter(|r| r.operation.as_deref() == Some(operation))
                    .count()
            });
            if seen >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the simulator never received {n} request(s) to {operation}");
    }

    /// Branch protection on `branch`: a PR merges only once each named check run concluded
    /// `success` on its head (GitHub answers 405 otherwise).
    pub fn require_checks(&self, full_name: &str, branch: &str, checks: &[&str]) {
        self.with(|s| {
            s.repo_mut(full_name)
                .expect("known repository")
                .required_checks
                .insert(
                    branch.to_owned(),
                    checks.iter().map(|c| (*c).to_owned()).collect(),
                );
        });
    }

    /// The current time on the simulator's clock.
    pub fn now(&self) -> chrono::DateTime<Utc> {
        self.with(|s| s.now())
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
        if self.fail_on_violations && !std::thread::panicking() {
            let violations = self.violations();
            if !violations.is_empty() {
                panic!(
                    "the GitHub simulator saw {} request(s) that GitHub would refuse:\n  - {}",
                    violations.len(),
                    violations.join("\n  - ")
                );
            }
        }
    }
}
