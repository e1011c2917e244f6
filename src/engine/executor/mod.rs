//! The effect executor: runs outbox rows against GitHub, one pipeline's effects in order —
//! except redraws (status comment, check run, phase label), which wait for the rest of their
//! pipeline's due work and are skipped when they would change nothing, and cosmetic effects,
//! which wait unsent while the installation's budget they spend (REST's or GraphQL's) is low.
//!
//! Each effect is safe to run twice: a claim counts an attempt, and an effect that may have
//! run before (attempt > 1) looks before it creates — the status comment by its hidden
//! marker, replies by theirs, check runs by `external_id`, dispatches by the `pipeline`
//! input in the run name. Transient failures retry with exponential backoff and jitter;
//! rate limits wait for `retry-after` / `x-ratelimit-reset`; permanent failures are told to
//! the pipeline, which says so on GitHub. Results come back through `advance`, in the same
//! transaction that marks the effect done.
//! Must not: hold a transaction while calling GitHub.

mod checks;
mod deploys;

use deploys::DeployDispatch;
pub use deploys::answer_protection_rule;
mod issues;
mod pulls;
mod runs;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::advance::{Outlets, advance, decode};
use super::resolver::Resolver;
use crate::clock::Clock;
use crate::github::client::{
    DeploymentStatusRequest, GitHub, MergeRequest, ProtectionReview, RepoRef,
};
use crate::github::limits::Resource;
use crate::github::rest::{FailureKind, GitHubError, backoff};
use crate::pipeline::config::LoadedConfig;
use crate::pipeline::model::EffectResult;
use crate::pipeline::views::audit_head_note;
use crate::pipeline::views::incident::INCIDENT_LABEL;
use crate::pipeline::{Action, Input, Pipeline};
use crate::store::pipelines::{EffectOrder, EffectRow};
use crate::store::{Store, StoreError, millis};

/// Effects claimed per round (run one after another, so each lease covers a few calls).
const CLAIM: i64 = 4;
/// Redraws wait for the rest of their pipeline's due work (see [`Action::REDRAWS`]).
const EFFECT_ORDER: EffectOrder = EffectOrder {
    redraws: &Action::REDRAWS,
    waiting: &Action::WAITING,
    awaited: &Action::AWAITED,
};
/// A claimed effect is not claimed again for this long unless its holder renews the lease,
/// which it does every RENEW_EVERY while it runs: a killed executor's claims expire within
/// LEASE_MS, a live one's never do. Finishing checks the claim is still this executor's, so
/// an effect taken over after a lapse cannot finish twice.
pub const LEASE_MS: i64 = 15_000;
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// Transient failures are retried this often before the effect fails for good.
const MAX_ATTEMPTS: i32 = 8;
const IDLE_POLL: Duration = Duration::from_secs(1);

pub struct Executor {
    pub store: Store,
    /// Who claims effects: `<host>:<address>`, which only one live process can be.
    pub holder: String,
    pub resolver: Arc<Resolver>,
    pub clock: Arc<dyn Clock>,
    /// Notified when the worker adds effects.
    pub wake: Arc<Notify>,
    /// GraphQL node ids of labels known to exist, by repository and name.
    labels: Mutex<HashMap<(String, String), String>>,
    /// The claims of the current round not yet finished (their leases are renewed).
    in_flight: Mutex<Vec<EffectRow>>,
    prober: super::health::Prober,
    outlets: Outlets,
}

/// One attempt at one effect: the pipeline and configuration it runs for, and whether an
/// earlier attempt may have done the work already (it was claimed before).
struct Attempt<'a> {
    p: &'a Pipeline,
    cfg: &'a LoadedConfig,
    repo: &'a RepoRef,
    /// The effect's key, `p<id>.e<seq>`.
    key: &'a str,
    may_have_run: bool,
}

enum Failed {
    Retry { at: i64, error: String },
    Permanent(String),
}

/// What shipgate last drew on one of a pipeline's surfaces (`status`, `check:<sha>`), from
/// the `surface_digests` table; made by [`Executor::surface`].
pub(super) struct Surface<'a> {
    pipeline: i64,
    name: String,
    store: &'a Store,
}

impl Surface<'_> {
    /// SHA-256 (hex) of a target (comment or check run id) and the request that draws it.
    fn digest(target: u64, request: &str) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!("{target}\n{request}")))
    }

    /// Whether `target` shows `request` already, as last drawn. A cache: when the database
    /// cannot say, the edit is made.
    async fn shows(&self, target: u64, request: &str) -> bool {
        match self.store.surface_digest(self.pipeline, &self.name).await {
            Ok(known) => known == Some(Self::digest(target, request)),
            Err(e) => {
                tracing::warn!(error = %e, surface = %self.name, "what a surface shows is not known");
                false
            }
        }
    }

    /// Records that `target` now shows `request`.
    async fn drew(&self, target: u64, request: &str) {
        let digest = Self::digest(target, request);
        if let Err(e) = self
            .store
            .put_surface_digest(self.pipeline, &self.name, &digest)
            .await
        {
            tracing::warn!(error = %e, surface = %self.name, "what a surface shows was not recorded");
        }
    }
}

impl Executor {
    pub fn new(
        store: Store,
        holder: String,
        resolver: Arc<Resolver>,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
        allow_private_health_urls: bool,
        outlets: Outlets,
    ) -> Self {
        Self {
            store,
            holder,
            resolver,
            clock,
            wake,
            labels: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(Vec::new()),
            outlets,
            prober: super::health::Prober::new(allow_private_health_urls)
                .expect("the probe client starts (rustls, no proxy)"),
        }
    }

    fn github(&self) -> &Arc<dyn GitHub> {
        self.resolver.github()
    }

    pub async fn run(self, stop: CancellationToken) {
        // A process with this address that held claims is dead (this one holds the address
        // now): what it held continues at once.
        match self.store.release_claims(&self.holder).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                released = n,
                "effects claimed by this address's previous process released"
            ),
            Err(e) => tracing::warn!(error = %e, "could not release earlier claims"),
        }
        // Leases are renewed until the work has stopped, not merely been asked to.
        let worked = CancellationToken::new();
        let work = async {
            self.work(&stop).await;
            worked.cancel();
        };
        tokio::join!(work, self.renew(&worked));
        tracing::debug!("effect executor stopped");
    }

    /// Keeps the leases of the effects this executor has claimed and not yet finished (its
    /// current round) from running out while it works on them.
    async fn renew(&self, until_done: &CancellationToken) {
        loop {
            tokio::select! {
                _ = until_done.cancelled() => break,
                _ = tokio::time::sleep(RENEW_EVERY) => {}
            }
            let claims = self.in_flight.lock().expect("claims").clone();
            let until = self.now() + LEASE_MS;
            for claim in &claims {
                if let Err(e) = self.store.renew_claim(claim, until).await {
                    tracing::warn!(error = %e, "could not renew an effect's lease");
                }
            }
        }
    }

    async fn work(&self, stop: &CancellationToken) {
        loop {
            if stop.is_cancelled() {
                break;
            }
            let ran = match self.run_once(stop).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "effect executor error");
                    0
                }
            };
            if ran == 0 {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
        }
    }

    /// Claims and runs one round of effects; returns how many it claimed. Stops after the
    /// effect under way when `stop` is cancelled; the claims it did not get to (and, after a
    /// database error, the one that failed) are released at once for any executor to take.
    async fn run_once(&self, stop: &CancellationToken) -> Result<usize, StoreError> {
        let now = millis(self.clock.now());
        let rows = self
            .store
            .claim_effects(&self.holder, now, LEASE_MS, CLAIM, EFFECT_ORDER)
            .await?;
        let n = rows.len();
        *self.in_flight.lock().expect("claims") = rows.clone();
        let mut outcome = Ok(n);
        let mut left = rows.into_iter();
        for row in left.by_ref() {
            if stop.is_cancelled() {
                let _ = self.store.release_claim(&row, false).await;
                break;
            }
            let span = tracing::info_span!("effect", key = %row.effect_key, action = %row.action);
            match self.execute(row.clone()).instrument(span).await {
                Ok(()) => {}
                // Damaged data fails the same way every time: recorded as failed, not retried.
                Err(StoreError::Corrupt(why)) => {
                    tracing::error!(key = %row.effect_key, %why, "effect cannot be run");
                    if let Err(e) = self.fail_effect(&row, &why).await {
                        outcome = Err(e);
                        break;
                    }
                }
                Err(e) => {
                    let _ = self.store.release_claim(&row, true).await;
                    outcome = Err(e);
                    break;
                }
            }
            self.in_flight
                .lock()
                .expect("claims")
                .retain(|c| c.id != row.id);
        }
        for row in left {
            let _ = self.store.release_claim(&row, false).await;
        }
        self.in_flight.lock().expect("claims").clear();
        outcome
    }

    /// Records an effect as failed for good (without telling its pipeline: what it would be
    /// told about cannot be read).
    async fn fail_effect(&self, row: &EffectRow, why: &str) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        tx.finish_effect(row, "failed", Some(why), self.now())
            .await?;
        tx.commit().await?;
        self.outlets.metrics.effect(&row.action, "failed");
        Ok(())
    }

    async fn execute(&self, row: EffectRow) -> Result<(), StoreError> {
        let Some(pipeline_id) = row.pipeline_id else {
            let job: super::repo_jobs::RepoJob = serde_json::from_str(&row.body)
                .map_err(|e| StoreError::Corrupt(format!("effect {}: {e}", row.effect_key)))?;
            if let super::repo_jobs::RepoJob::Notify(n) = &job {
                let outcome = match &self.outlets.notifier {
                    None => Ok(None), // no receiver configured
                    // Named the same on every attempt, and apart from other installations'
                    // notifications: `<repo>#<issue>/<effect key>`. It carries the audit
                    // log's head as it is now: a copy outside the database.
                    Some(notifier) => notifier
                        .send(
                            &super::notify::Notification {
                                audit_head: Some(self.store.audit_head().await?.to_string()),
                                ..n.clone()
                            },
                            &format!("{}#{}/{}", n.repo, n.issue, row.effect_key),
                        )
                        .await
                        .map(|()| None)
                        .map_err(|e| {
                            classify(&e.message, e.transient, None, row.attempts, self.now())
                        }),
                };
                return self.finish_with(&row, outcome, None, None).await;
            }
            let outcome = job
                .run(&self.resolver, row.attempts > 1)
                .await
                .map(|()| None)
                .map_err(|e| classify_github(&e, row.attempts, self.now()));
            return self.finish_with(&row, outcome, None, None).await;
        };
        // Read the newest effect id BEFORE the state: state and effects are committed
        // together, so every status edit queued up to that id is covered by what is rendered.
        let rendered_up_to = self.store.last_effect_id(pipeline_id).await?;
        let Some(record) = self.store.pipeline(pipeline_id).await? else {
            let gone = Err(Failed::Permanent("the pipeline is gone".into()));
            return self.finish_with(&row, gone, None, None).await;
        };
        let pipeline = decode(&record)?;
        let action: Action = serde_json::from_str(&row.body)
            .map_err(|e| StoreError::Corrupt(format!("effect {}: {e}", row.effect_key)))?;
        let repo = repo_of(&pipeline);
        let budget = budget_of(&action);
        if Action::COSMETIC.contains(&action.name())
            && let Some(until) = self.github().low_budget_until(&repo, budget)
        {
            // Unsent, and not an attempt: when the budget is back, only the newest drawing
            // is sent (queued redraws are coalesced).
            tracing::info!(key = %row.effect_key, %until, "cosmetic effect waits for the rate-limit reset");
            let why = format!(
                "waits for GitHub's rate-limit reset at {until}: little of the installation's hourly {} budget is left, and gating effects go first",
                match budget {
                    Resource::Core => "REST",
                    Resource::Graphql => "GraphQL",
                }
            );
            return self.store.postpone_effect(&row, millis(until), &why).await;
        }
        let cfg = match self.resolver.config(&repo, &pipeline.default_branch).await {
            Ok(cfg) => cfg,
            // A configuration that exists but cannot be read is a configuration error (the
            // gates hold); this is GitHub or the database failing for now.
            Err(e) => {
                let failed = classify(&e.to_string(), true, None, row.attempts, self.now());
                return self.finish_with(&row, Err(failed), None, None).await;
            }
        };
        // The closing summary publishes the audit log's head as it is when posted.
        let action = match action {
            Action::ClosingSummary { on, body } => {
                let head = self.store.audit_head().await?.to_string();
                Action::ClosingSummary {
                    on,
                    body: format!("{body}{}", audit_head_note(&head)),
                }
            }
            other => other,
        };
        let outcome = self
            .perform(&pipeline, &cfg, &repo, &action, &row)
            .await
            .map_err(|e| classify_github(&e, row.attempts, self.now()));
        let coalesce = matches!(
            action,
            Action::SyncStatusComment | Action::SyncCheckRun { .. }
        )
        .then_some((pipeline_id, rendered_up_to));
        if let Err(Failed::Permanent(reason)) = &outcome {
            tracing::warn!(key = %row.effect_key, %reason, "effect failed");
        }
        self.finish_with(&row, outcome, coalesce, Some((pipeline, cfg, action)))
            .await
    }

    fn now(&self) -> i64 {
        millis(self.clock.now())
    }

    /// A pipeline's surface (`status`, `check:<sha>`), to skip edits that change nothing.
    fn surface(&self, pipeline: i64, name: String) -> Surface<'_> {
        Surface {
            pipeline,
            name,
            store: &self.store,
        }
    }

    /// Records an effect's outcome and tells its pipeline, in one transaction.
    async fn finish_with(
        &self,
        row: &EffectRow,
        outcome: Result<Option<EffectResult>, Failed>,
        coalesce: Option<(i64, i64)>,
        context: Option<(Pipeline, LoadedConfig, Action)>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let permanent = match &outcome {
            Err(Failed::Permanent(reason)) => Some(reason.clone()),
            _ => None,
        };
        let feedback = match outcome {
            Err(Failed::Retry { at, error }) => {
                tracing::info!(key = %row.effect_key, %error, retry_in_ms = at - now, "effect will be retried");
                self.store.retry_effect(row, at, &error).await?;
                self.outlets.metrics.effect(&row.action, "retried");
                return Ok(());
            }
            Ok(result) => result.map(|result| Input::EffectDone {
                key: row.effect_key.clone(),
                result,
            }),
            Err(Failed::Permanent(reason)) => {
                context.as_ref().map(|(_, _, action)| Input::EffectFailed {
                    key: row.effect_key.clone(),
                    action: action.clone(),
                    reason,
                })
            }
        };
        let status = if permanent.is_some() {
            "failed"
        } else {
            "done"
        };
        let mut tx = self.store.begin().await?;
        if !tx
            .finish_effect(row, status, permanent.as_deref(), now)
            .await?
        {
            // The lease ran out and another executor took the effect: its outcome counts.
            tx.rollback().await?;
            tracing::warn!(key = %row.effect_key, "effect lease lost before it finished");
            return Ok(());
        }
        if let Some((pipeline_id, up_to)) = coalesce {
            tx.finish_coalesced(pipeline_id, &row.action, &row.body, up_to, now)
                .await?;
        }
        if let (Some(input), Some((pipeline, cfg, _))) = (feedback, context) {
            // Re-read under the lock: the worker may have moved the pipeline meanwhile.
            if let Some(record) = tx.pipeline_by_id(pipeline.id).await? {
                let current = decode(&record)?;
                advance(&mut tx, &current, &input, &cfg, now, None, &self.outlets).await?;
            }
        }
        tx.commit().await?;
        self.outlets.metrics.effect(&row.action, status);
        Ok(())
    }

    /// Carries out one effect on GitHub: one method per family of effects, each of which
    /// finds out first, when the effect may have run before, whether the work is done.
    async fn perform(
        &self,
        p: &Pipeline,
        cfg: &LoadedConfig,
        repo: &RepoRef,
        action: &Action,
        row: &EffectRow,
    ) -> Result<Option<EffectResult>, GitHubError> {
        let at = Attempt {
            p,
            cfg,
            repo,
            key: &row.effect_key,
            may_have_run: row.attempts > 1,
        };
        match action {
            // Issues and comments (`issues.rs`).
            Action::SyncStatusComment => self.sync_status_comment(&at).await,
            Action::Reply { on, body } => self.reply(&at, *on, body).await,
            // Its body carries the audit head by now (`execute`).
            Action::ClosingSummary { on, body } => self.reply(&at, *on, body).await,
            Action::React { comment_id } => self.react(&at, *comment_id).await,
            Action::SetPhaseLabel { add, remove } => self.set_phase_label(&at, add, remove).await,
            Action::RemoveLabel { label } => self.remove_label(&at, label).await,
            Action::CloseIssue => self.close_issue(&at, at.p.issue).await,
            Action::CloseSubIssue { number } => self.close_issue(&at, *number).await,
            Action::TickTask { title, nth } => self.tick_task(&at, title, *nth).await,
            Action::OpenIncident {
                marker,
                title,
                body,
                assignee,
            } => {
                self.open_incident(&at, marker, title, body, assignee.as_deref())
                    .await
            }
            // Check runs (`checks.rs`).
            Action::SyncCheckRun { sha } => self.sync_check_run(&at, sha).await,
            // Branches and pull requests (`pulls.rs`).
            Action::CreateBranch { branch, from } => self.create_branch(&at, branch, from).await,
            Action::FetchSubIssues => self.fetch_sub_issues(&at).await,
            Action::FindPullRequest => self.find_pull_request(&at).await,
            Action::OpenPullRequest { title, body, draft } => {
                self.open_pull_request(&at, title, body, *draft).await
            }
            Action::MarkReadyForReview { number } => self.mark_ready(&at, *number).await,
            Action::Merge {
                number,
                sha,
                base,
                title,
                message,
                method,
            } => {
                let request = MergeRequest {
                    sha: sha.clone(),
                    commit_title: title.clone(),
                    commit_message: message.clone(),
                    merge_method: method.clone(),
                };
                self.merge(&at, *number, base, request).await
            }
            // Workflow runs (`runs.rs`).
            Action::Dispatch {
                workflow,
                git_ref,
                sha,
                correlation,
            } => {
                let inputs = [("sha", sha.as_str())];
                self.dispatch_once(&at, workflow, git_ref, correlation, &inputs)
                    .await
            }
            Action::DispatchTask {
                workflow,
                git_ref,
                correlation,
                inputs,
            } => {
                let inputs: Vec<(&str, &str)> = inputs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                self.dispatch_once(&at, workflow, git_ref, correlation, &inputs)
                    .await
            }
            Action::PollRun {
                run_id,
                correlation,
            } => self.poll_run(&at, *run_id, correlation).await,
            Action::CancelRun { run_id } => self.cancel_run(&at, *run_id).await,
            // Deployments, health and protection rules (`deploys.rs`).
            Action::CreateDeployment {
                environment,
                sha,
                correlation,
            } => {
                self.create_deployment(&at, *environment, sha, correlation)
                    .await
            }
            Action::DispatchDeploy {
                workflow,
                git_ref,
                environment,
                sha,
                correlation,
                rollback_reason,
            } => {
                let deploy = DeployDispatch {
                    workflow,
                    git_ref,
                    environment: *environment,
                    sha,
                    correlation,
                    rollback_reason: rollback_reason.as_deref(),
                };
                self.dispatch_deploy(&at, deploy).await
            }
            Action::FindRollbackTarget {
                environment,
                current_sha,
                bad_shas,
            } => {
                self.find_rollback_target(&at, *environment, current_sha, bad_shas)
                    .await
            }
            Action::DeploymentStatus {
                deployment_id,
                state,
                log_url,
                environment_url,
                description,
            } => {
                let status = DeploymentStatusRequest {
                    state: state.clone(),
                    log_url: log_url.clone(),
                    environment_url: environment_url.clone(),
                    description: description.clone(),
                };
                self.deployment_status(&at, *deployment_id, status).await
            }
            Action::Probe { environment, url } => Ok(Some(self.probe(*environment, url).await)),
            Action::ReviewProtection {
                run_id,
                environment,
                approved,
                comment,
            } => {
                let review = ProtectionReview {
                    environment_name: environment.clone(),
                    state: if *approved { "approved" } else { "rejected" }.into(),
                    comment: comment.clone(),
                };
                self.review_protection(&at, *run_id, &review).await
            }
        }
    }

    /// `<app-slug>[bot]`, the login of shipgate's own runs and deployments.
    pub(super) async fn bot_login(&self) -> Result<String, GitHubError> {
        self.resolver
            .bot_login()
            .await
            .map_err(|e| GitHubError::Transport {
                operation: "read the App's slug",
                detail: e.to_string(),
            })
    }

    /// Creates a label shipgate uses once per process and repository (phase labels,
    /// `shipgate:incident`); an existing one counts. Answers its node id.
    /// (`issues/get-label`, `issues/create-label`)
    async fn ensure_label(&self, repo: &RepoRef, name: &str) -> Result<String, GitHubError> {
        if let Some(id) = self.cached_label(repo, name) {
            return Ok(id);
        }
        let (color, description) = if name == INCIDENT_LABEL {
            (
                "b60205",
                "shipgate: a production rollback to look into".to_owned(),
            )
        } else {
            (
                "5319e7",
                format!("shipgate phase: {}", name.trim_start_matches("shipgate:")),
            )
        };
        let id = self
            .github()
            .ensure_label(repo, name, color, &description)
            .await?;
        self.remember_label(repo, name, &id);
        Ok(id)
    }

    /// A label's node id, remembered per process and repository once found; `None` when the
    /// repository has no such label (asked again next time). (`issues/get-label`)
    async fn label_id(&self, repo: &RepoRef, name: &str) -> Result<Option<String>, GitHubError> {
        if let Some(id) = self.cached_label(repo, name) {
            return Ok(Some(id));
        }
        let found = self.github().label_node_id(repo, name).await?;
        if let Some(id) = &found {
            self.remember_label(repo, name, id);
        }
        Ok(found)
    }

    fn cached_label(&self, repo: &RepoRef, name: &str) -> Option<String> {
        let key = (repo.full_name(), name.to_owned());
        self.labels.lock().expect("label cache").get(&key).cloned()
    }

    fn remember_label(&self, repo: &RepoRef, name: &str, id: &str) {
        let key = (repo.full_name(), name.to_owned());
        self.labels
            .lock()
            .expect("label cache")
            .insert(key, id.to_owned());
    }

    /// Forgets the repository's label ids (one no longer resolved: a label deleted, perhaps
    /// made again under the same name).
    fn forget_labels(&self, repo: &RepoRef) {
        let full = repo.full_name();
        self.labels
            .lock()
            .expect("label cache")
            .retain(|(r, _), _| *r != full);
    }
}

/// The hourly budget an effect mostly spends: the phase label is changed through GraphQL
/// (the few reads of label and issue ids it may need are REST's), everything else through
/// REST.
fn budget_of(action: &Action) -> Resource {
    match action {
        Action::SetPhaseLabel { .. } => Resource::Graphql,
        _ => Resource::Core,
    }
}

fn repo_of(p: &Pipeline) -> RepoRef {
    RepoRef::new(p.installation_id, &p.repo).unwrap_or(RepoRef {
        installation_id: p.installation_id,
        owner: p.repo.clone(),
        name: String::new(),
    })
}

fn classify_github(e: &GitHubError, attempts: i32, now: i64) -> Failed {
    let retry_at = match e.kind() {
        FailureKind::RateLimited { retry_at, .. } => Some(millis(retry_at)),
        _ => None,
    };
    classify(
        &e.to_string(),
        e.kind() != FailureKind::Permanent,
        retry_at,
        attempts,
        now,
    )
}

/// Retry or give up: transient failures back off exponentially with jitter (capped at 10
/// minutes) until MAX_ATTEMPTS; rate limits wait until GitHub says.
fn classify(
    error: &str,
    transient: bool,
    retry_at: Option<i64>,
    attempts: i32,
    now: i64,
) -> Failed {
    if let Some(at) = retry_at {
        return Failed::Retry {
            at: at.max(now),
            error: error.to_owned(),
        };
    }
    if !transient {
        return Failed::Permanent(error.to_owned());
    }
    if attempts >= MAX_ATTEMPTS {
        return Failed::Permanent(format!("{error} (gave up after {attempts} attempts)"));
    }
    let wait = backoff(
        attempts as u32,
        Duration::from_millis(500),
        Duration::from_secs(600),
        rand::random::<f64>(),
    );
    Failed::Retry {
        at: now + wait.as_millis() as i64,
        error: error.to_owned(),
    }
}
