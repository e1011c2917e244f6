//! The effect executor: runs outbox rows against GitHub, one pipeline's effects in order.
//!
//! Each effect is safe to run twice: a claim counts an attempt, and an effect that may have
//! run before (attempt > 1) looks before it creates — the status comment by its hidden
//! marker, replies by theirs, check runs by `external_id`, dispatches by the `pipeline`
//! input in the run name. Transient failures retry with exponential backoff and jitter;
//! rate limits wait for `retry-after` / `x-ratelimit-reset`; permanent failures are told to
//! the pipeline, which says so on GitHub. Results come back through `advance`, in the same
//! transaction that marks the effect done.
//! Must not: hold a transaction while calling GitHub.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::advance::{advance, decode};
use super::resolver::Resolver;
use crate::clock::Clock;
use crate::github::client::{
    CheckAction, CheckOutput, CheckRunRequest, DeploymentRequest, DeploymentStatusRequest, GitHub,
    MergeRequest, NewIssue, ProtectionReview, RepoRef,
};
use crate::github::rest::{FailureKind, GitHubError, backoff};
use crate::pipeline::config::LoadedConfig;
use crate::pipeline::domain::Environment;
use crate::pipeline::linking;
use crate::pipeline::model::{EffectResult, Task};
use crate::pipeline::views::incident::INCIDENT_LABEL;
use crate::pipeline::{Action, Input, Pipeline, views};
use crate::store::pipelines::EffectRow;
use crate::store::{Store, StoreError, millis};

/// Effects claimed per round (run one after another, so each lease covers a few calls).
const CLAIM: i64 = 4;
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
    /// Labels known to exist, per repository.
    labels: Mutex<HashSet<(String, String)>>,
    /// The claims of the current round not yet finished (their leases are renewed).
    in_flight: Mutex<Vec<EffectRow>>,
    prober: super::health::Prober,
    notifier: Option<super::notify::Notifier>,
}

enum Failed {
    Retry { at: i64, error: String },
    Permanent(String),
}

impl Executor {
    pub fn new(
        store: Store,
        holder: String,
        resolver: Arc<Resolver>,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
        allow_private_health_urls: bool,
        notifier: Option<super::notify::Notifier>,
    ) -> Self {
        Self {
            store,
            holder,
            resolver,
            clock,
            wake,
            labels: Mutex::new(HashSet::new()),
            in_flight: Mutex::new(Vec::new()),
            notifier,
            prober: super::health::Prober {
                allow_private: allow_private_health_urls,
            },
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
            .claim_effects(&self.holder, now, LEASE_MS, CLAIM)
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
        tx.commit().await
    }

    async fn execute(&self, row: EffectRow) -> Result<(), StoreError> {
        let Some(pipeline_id) = row.pipeline_id else {
            let job: super::repo_jobs::RepoJob = serde_json::from_str(&row.body)
                .map_err(|e| StoreError::Corrupt(format!("effect {}: {e}", row.effect_key)))?;
            if let super::repo_jobs::RepoJob::Notify(n) = &job {
                let outcome = match &self.notifier {
                    None => Ok(None), // no receiver configured
                    // Named the same on every attempt, and apart from other installations'
                    // notifications: `<repo>#<issue>/<effect key>`.
                    Some(notifier) => notifier
                        .send(n, &format!("{}#{}/{}", n.repo, n.issue, row.effect_key))
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
        let cfg = match self.resolver.config(&repo, &pipeline.default_branch).await {
            Ok(cfg) => cfg,
            // A configuration that exists but cannot be read is a configuration error (the
            // gates hold); this is GitHub or the database failing for now.
            Err(e) => {
                let failed = classify(&e.to_string(), true, None, row.attempts, self.now());
                return self.finish_with(&row, Err(failed), None, None).await;
            }
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
                return self.store.retry_effect(row, at, &error).await;
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
                advance(
                    &mut tx,
                    &current,
                    &input,
                    &cfg,
                    now,
                    None,
                    self.notifier.is_some(),
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn perform(
        &self,
        p: &Pipeline,
        cfg: &LoadedConfig,
        repo: &RepoRef,
        action: &Action,
        row: &EffectRow,
    ) -> Result<Option<EffectResult>, GitHubError> {
        let gh = self.github();
        let may_have_run = row.attempts > 1;
        match action {
            Action::SyncStatusComment => {
                let body = views::status_comment(p, cfg);
                if let Some(id) = p.status_comment {
                    match gh.update_issue_comment(repo, id, &body).await {
                        Ok(_) => return Ok(None),
                        Err(e) if e.is_not_found() => {} // deleted by someone: write it again
                        Err(e) => return Err(e),
                    }
                }
                // Only shipgate's own comment counts: anyone can paste the marker.
                let marker = views::status_marker(p.id);
                let bot = self.resolver.bot_login().await.ok();
                let found = gh
                    .list_issue_comments(repo, p.issue)
                    .await?
                    .into_iter()
                    .find(|c| {
                        Some(&c.user.login) == bot.as_ref()
                            && c.body.as_deref().is_some_and(|b| b.starts_with(&marker))
                    });
                let id = match found {
                    Some(c) => gh.update_issue_comment(repo, c.id, &body).await?.id,
                    None => gh.create_issue_comment(repo, p.issue, &body).await?.id,
                };
                Ok(Some(EffectResult::StatusComment { id }))
            }
            Action::SyncCheckRun { sha } => {
                self.sync_check_run(p, cfg, repo, sha, may_have_run).await
            }
            Action::SetPhaseLabel { add, remove } => {
                self.ensure_label(repo, add).await?;
                gh.add_labels(repo, p.issue, std::slice::from_ref(add))
                    .await?;
                for old in remove.iter().filter(|r| *r != add) {
                    gh.remove_label(repo, p.issue, old).await?;
                }
                Ok(None)
            }
            Action::RemoveLabel { label } => {
                gh.remove_label(repo, p.issue, label).await?;
                Ok(None)
            }
            Action::React { comment_id } => {
                gh.add_reaction(repo, *comment_id, "eyes").await?;
                Ok(None)
            }
            Action::Reply { on, body } => {
                let marker = format!("<!-- shipgate:reply {} -->", row.effect_key);
                if may_have_run {
                    let comments = gh.list_issue_comments(repo, *on).await?;
                    if comments
                        .iter()
                        .any(|c| c.body.as_deref().is_some_and(|b| b.contains(&marker)))
                    {
                        return Ok(None);
                    }
                }
                gh.create_issue_comment(repo, *on, &format!("{body}\n\n{marker}"))
                    .await?;
                Ok(None)
            }
            Action::CreateBranch { branch, from } => {
                let Some(sha) = gh.branch_sha(repo, from).await? else {
                    return Err(GitHubError::Status {
                        operation: "read the default branch",
                        status: 404,
                        message: format!("branch `{from}` not found"),
                        kind: FailureKind::Permanent,
                    });
                };
                let created = gh.create_branch(repo, branch, &sha).await?;
                Ok(Some(EffectResult::Branch { existed: !created }))
            }
            Action::FetchSubIssues => {
                let tasks = gh
                    .sub_issues(repo, p.issue)
                    .await?
                    .into_iter()
                    .map(|s| Task {
                        text: s.title,
                        done: s.state == "closed",
                        issue: Some(s.number),
                    })
                    .collect();
                Ok(Some(EffectResult::SubIssues { tasks }))
            }
            Action::FindPullRequest => {
                let mut pulls = Vec::new();
                for pr in gh.open_pulls(repo).await? {
                    let mut pr = super::mapping::pull_snapshot(&pr);
                    if !linking::pull_request_issues(&pr.body, &pr.head_branch, &p.repo)
                        .contains(&p.issue)
                    {
                        continue;
                    }
                    pr.author_access = self
                        .resolver
                        .access(repo, &pr.author)
                        .await
                        .unwrap_or_default();
                    pr.contributors = gh.pull_contributors(repo, pr.number).await?;
                    pulls.push(pr);
                }
                Ok(Some(EffectResult::PullFound { pulls }))
            }
            Action::Dispatch {
                workflow,
                git_ref,
                sha,
                correlation,
            } => {
                let inputs = [("sha", sha.as_str())];
                self.dispatch_once(
                    p,
                    cfg,
                    workflow,
                    git_ref,
                    correlation,
                    &inputs,
                    may_have_run,
                )
                .await
            }
            Action::PollRun {
                run_id,
                correlation,
            } => {
                // Polled by the id the dispatch answered with: shipgate's own run.
                let run = gh.workflow_run(repo, *run_id).await?;
                Ok(Some(EffectResult::RunPolled {
                    correlation: correlation.clone(),
                    report: super::mapping::run_report(&run, "", ""),
                }))
            }
            Action::CreateDeployment {
                environment,
                sha,
                correlation,
            } => {
                if may_have_run {
                    let found = gh
                        .deployments_for(repo, sha, environment.name())
                        .await?
                        .into_iter()
                        .find(|d| {
                            d.payload.get("pipeline").and_then(|v| v.as_str()) == Some(correlation)
                        });
                    if let Some(d) = found {
                        return Ok(Some(EffectResult::DeploymentCreated {
                            correlation: correlation.clone(),
                            deployment_id: d.id,
                        }));
                    }
                }
                let request = DeploymentRequest {
                    git_ref: sha.clone(),
                    environment: environment.name().to_owned(),
                    description: format!("{} via shipgate", p.name()),
                    payload: serde_json::json!({ "pipeline": correlation, "issue": p.issue }),
                    production_environment: *environment == Environment::Production,
                };
                let d = gh.create_deployment(repo, &request).await?;
                Ok(Some(EffectResult::DeploymentCreated {
                    correlation: correlation.clone(),
                    deployment_id: d.id,
                }))
            }
            Action::DispatchDeploy {
                workflow,
                git_ref,
                environment,
                sha,
                correlation,
                rollback_reason,
            } => {
                let mut inputs = vec![
                    ("environment", environment.name()),
                    ("sha", sha.as_str()),
                    (
                        "rollback",
                        if rollback_reason.is_some() {
                            "true"
                        } else {
                            "false"
                        },
                    ),
                ];
                if let Some(reason) = rollback_reason {
                    inputs.push(("reason", reason.as_str()));
                }
                // Production only ever deploys a commit on the branch it dispatches (a
                // rollback's target was checked when it was found).
                if *environment == Environment::Production
                    && rollback_reason.is_none()
                    && !gh.branch_contains(repo, git_ref, sha).await?
                {
                    return Err(GitHubError::Refused {
                        operation: "dispatch the production deploy",
                        reason: format!("`{sha}` is not on `{git_ref}`"),
                    });
                }
                self.dispatch_once(
                    p,
                    cfg,
                    workflow,
                    git_ref,
                    correlation,
                    &inputs,
                    may_have_run,
                )
                .await
            }
            Action::FindRollbackTarget {
                environment,
                current_sha,
                bad_shas,
            } => {
                // The newest deployment of another SHA that shipgate made and saw succeed
                // (GitHub marks replaced deployments `inactive`, so any `success` of its in
                // the history counts): a deployment or status anyone else created chooses
                // nothing. Production goes back only to a commit on the default branch, where
                // a rollback runs; staging also to a PR head shipgate deployed.
                let bot = self.bot_login().await?;
                let by_bot = |login: &str| login.eq_ignore_ascii_case(&bot);
                for d in gh.environment_deployments(repo, environment.name()).await? {
                    if d.sha == *current_sha
                        || bad_shas.contains(&d.sha)
                        || !d.creator.as_ref().is_some_and(|c| by_bot(&c.login))
                    {
                        continue;
                    }
                    let states = gh.deployment_states(repo, d.id).await?;
                    if !states.iter().any(|(s, by)| s == "success" && by_bot(by)) {
                        continue;
                    }
                    if *environment != Environment::Production
                        || gh.branch_contains(repo, &p.default_branch, &d.sha).await?
                    {
                        return Ok(Some(EffectResult::RollbackTarget {
                            environment: *environment,
                            sha: Some(d.sha),
                        }));
                    }
                }
                Ok(Some(EffectResult::RollbackTarget {
                    environment: *environment,
                    sha: None,
                }))
            }
            Action::DeploymentStatus {
                deployment_id,
                state,
                log_url,
                environment_url,
                description,
            } => {
                // shipgate posts each state at most once per deployment: one of its own with
                // this state means an earlier attempt posted it.
                if may_have_run {
                    let bot = self.bot_login().await?;
                    let posted = gh.deployment_states(repo, *deployment_id).await?;
                    if posted
                        .iter()
                        .any(|(s, by)| s == state && by.eq_ignore_ascii_case(&bot))
                    {
                        return Ok(None);
                    }
                }
                let status = DeploymentStatusRequest {
                    state: state.clone(),
                    log_url: log_url.clone(),
                    environment_url: environment_url.clone(),
                    description: description.clone(),
                };
                gh.create_deployment_status(repo, *deployment_id, &status)
                    .await?;
                Ok(None)
            }
            Action::Probe { environment, url } => {
                let o = self.prober.probe(url).await;
                Ok(Some(EffectResult::Probed {
                    environment: *environment,
                    ok: o.ok,
                    status: o.status,
                    latency_ms: o.latency_ms,
                    error: o.error,
                    refused: o.refused,
                }))
            }
            Action::Merge {
                number,
                sha,
                base,
                title,
                message,
                method,
            } => {
                // Only into the branch production runs (a base changed since is refused).
                // Merged already (an earlier attempt whose answer was lost, or a person)? It
                // counts only if the approved head is what was merged.
                let merged_head = |pr: &Option<crate::github::client::PullInfo>| {
                    pr.as_ref()
                        .filter(|pr| pr.merged == Some(true) && pr.head.sha == *sha)
                        .and_then(|pr| pr.merge_commit_sha.clone())
                };
                let now = gh.pull(repo, *number).await?;
                if let Some(pr) = now
                    .as_ref()
                    .filter(|pr| !base.is_empty() && pr.base.branch != *base)
                {
                    // Not into the branch production runs (a person may have merged it there).
                    return Ok(Some(EffectResult::NotMerged {
                        number: *number,
                        base: pr.base.branch.clone(),
                    }));
                }
                if let Some(merge_sha) = merged_head(&now) {
                    return Ok(Some(EffectResult::Merged { sha: merge_sha }));
                }
                let request = MergeRequest {
                    sha: sha.clone(),
                    commit_title: title.clone(),
                    commit_message: message.clone(),
                    merge_method: method.clone(),
                };
                match gh.merge_pull(repo, *number, &request).await {
                    Ok(merged) => Ok(Some(EffectResult::Merged { sha: merged })),
                    Err(e) if e.kind() == FailureKind::Permanent => {
                        match merged_head(&gh.pull(repo, *number).await?) {
                            Some(merge_sha) => Ok(Some(EffectResult::Merged { sha: merge_sha })),
                            None => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            Action::CancelRun { run_id } => {
                gh.cancel_run(repo, *run_id).await?;
                Ok(None)
            }
            Action::CloseIssue => {
                gh.close_issue(repo, p.issue).await?;
                Ok(None)
            }
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
                answer_protection_rule(gh.as_ref(), repo, *run_id, &review, may_have_run).await?;
                Ok(None)
            }
            Action::OpenIncident {
                marker,
                title,
                body,
                assignee,
            } => {
                // Found before created: a retry after a crash finds the issue it opened.
                let label = INCIDENT_LABEL;
                let found = gh
                    .issues_labelled(repo, label)
                    .await?
                    .into_iter()
                    .find(|i| {
                        i.body
                            .as_deref()
                            .is_some_and(|b| b.contains(marker.as_str()))
                    });
                let number = match found {
                    Some(issue) => issue.number,
                    None => {
                        self.ensure_label(repo, label).await?;
                        let mut issue = NewIssue {
                            title: title.clone(),
                            body: body.clone(),
                            labels: vec![label.to_owned()],
                            assignees: assignee.iter().cloned().collect(),
                        };
                        match gh.create_issue(repo, &issue).await {
                            // GitHub refuses an assignee it cannot assign (a bot, someone
                            // without access): the incident matters more than who has it.
                            Err(GitHubError::Status { status: 422, .. })
                                if !issue.assignees.is_empty() =>
                            {
                                issue.assignees.clear();
                                gh.create_issue(repo, &issue).await?
                            }
                            other => other?,
                        }
                    }
                };
                Ok(Some(EffectResult::IncidentOpened { number }))
            }
            // Saved with the state, or queued in the repository lane, by `advance`; never in
            // a pipeline's outbox.
            Action::SetTimer { .. }
            | Action::CancelTimer { .. }
            | Action::Audit { .. }
            | Action::Notify { .. } => Ok(None),
        }
    }

    async fn sync_check_run(
        &self,
        p: &Pipeline,
        cfg: &LoadedConfig,
        repo: &RepoRef,
        sha: &str,
        may_have_run: bool,
    ) -> Result<Option<EffectResult>, GitHubError> {
        let gh = self.github();
        let view = views::check_run(p, cfg, sha);
        let known = p.check_runs.get(sha);
        let is_head = p.head_sha() == Some(sha) || p.check_run_sha() == Some(sha);
        if known.is_none() && !is_head {
            return Ok(None); // nothing to mark superseded
        }
        let request = CheckRunRequest {
            status: Some(view.status.into()),
            conclusion: view.conclusion.map(Into::into),
            output: Some(CheckOutput {
                title: view.title.clone(),
                summary: view.summary.clone(),
                text: None,
            }),
            actions: Some(
                view.actions
                    .iter()
                    .map(|b| CheckAction {
                        label: b.label().into(),
                        description: b.description().into(),
                        identifier: b.identifier().into(),
                    })
                    .collect(),
            ),
            ..Default::default()
        };
        let completed = view.status == "completed";
        // A completed check run is not reopened: a retry gets a new one on the same SHA.
        if let Some(known) = known.filter(|k| !k.completed || completed) {
            let info = gh.update_check_run(repo, known.id, &request).await?;
            return Ok(
                (known.completed != completed).then_some(EffectResult::CheckRun {
                    sha: sha.into(),
                    id: info.id,
                    completed,
                }),
            );
        }
        let external_id = format!("p{}:{sha}", p.id);
        if may_have_run {
            let existing = gh.check_runs_for(repo, sha, "shipgate").await?;
            // The newest of ours on this SHA; a completed one is reused unless the pipeline
            // needs it open again (a retry), which gets a new check run.
            if let Some(found) = existing
                .into_iter()
                .filter(|c| c.external_id.as_deref() == Some(&external_id))
                .max_by_key(|c| c.id)
                .filter(|c| c.status != "completed" || completed)
            {
                let info = gh.update_check_run(repo, found.id, &request).await?;
                return Ok(Some(EffectResult::CheckRun {
                    sha: sha.into(),
                    id: info.id,
                    completed,
                }));
            }
        }
        let create = CheckRunRequest {
            name: Some("shipgate".into()),
            head_sha: Some(sha.into()),
            external_id: Some(external_id),
            ..request
        };
        let info = gh.create_check_run(repo, &create).await?;
        Ok(Some(EffectResult::CheckRun {
            sha: sha.into(),
            id: info.id,
            completed,
        }))
    }

    /// `<app-slug>[bot]`, the login of shipgate's own runs and deployments.
    async fn bot_login(&self) -> Result<String, GitHubError> {
        self.resolver
            .bot_login()
            .await
            .map_err(|e| GitHubError::Transport {
                operation: "read the App's slug",
                detail: e.to_string(),
            })
    }

    /// Dispatches a workflow with `inputs` and the `pipeline` input (`correlation` and the
    /// dispatch's nonce), unless an earlier attempt may have dispatched it and GitHub has a
    /// run that is, in every respect, the one it sent (`provenance::mismatch`).
    #[allow(clippy::too_many_arguments)]
    async fn dispatch_once(
        &self,
        p: &Pipeline,
        cfg: &LoadedConfig,
        workflow: &str,
        git_ref: &str,
        correlation: &str,
        inputs: &[(&str, &str)],
        may_have_run: bool,
    ) -> Result<Option<EffectResult>, GitHubError> {
        let gh = self.github();
        let repo = &repo_of(p);
        let nonce = gh
            .dispatch_nonce(repo, correlation)
            .ok_or(GitHubError::NotConfigured)?;
        let pipeline = format!("{correlation}.{nonce}");
        if may_have_run
            && let Some(sent) = crate::pipeline::provenance::dispatch_sent(
                p,
                &cfg.config.deploy.workflow,
                correlation,
            )
        {
            let bot = self.bot_login().await?;
            for run in gh.find_dispatched_runs(repo, git_ref, &pipeline).await? {
                let mut report = super::mapping::run_report(&run, &bot, "");
                super::mapping::prove_dispatch(&mut report, |token| gh.dispatch_nonce(repo, token));
                let matches = report
                    .origin
                    .as_ref()
                    .is_some_and(|o| crate::pipeline::provenance::mismatch(o, &sent).is_none());
                if matches {
                    return Ok(Some(EffectResult::Dispatched {
                        correlation: correlation.to_owned(),
                        run_id: run.id,
                        url: run.html_url,
                    }));
                }
            }
        }
        let inputs: serde_json::Map<String, serde_json::Value> = inputs
            .iter()
            .chain([&("pipeline", pipeline.as_str())])
            .map(|(k, v)| ((*k).to_owned(), (*v).into()))
            .collect();
        let run = gh
            .dispatch_workflow(repo, workflow, git_ref, &inputs)
            .await?;
        Ok(Some(EffectResult::Dispatched {
            correlation: correlation.to_owned(),
            run_id: run.workflow_run_id,
            url: run.html_url,
        }))
    }

    async fn ensure_label(&self, repo: &RepoRef, name: &str) -> Result<(), GitHubError> {
        let key = (repo.full_name(), name.to_owned());
        if self.labels.lock().expect("label cache").contains(&key) {
            return Ok(());
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
        self.github()
            .ensure_label(repo, name, color, &description)
            .await?;
        self.labels.lock().expect("label cache").insert(key);
        Ok(())
    }
}

/// Answers a deployment protection rule. GitHub refuses (422) an answer to a rule that no
/// longer waits: after an attempt that may have answered it, that refusal means it did.
pub async fn answer_protection_rule(
    gh: &dyn GitHub,
    repo: &RepoRef,
    run_id: u64,
    review: &ProtectionReview,
    may_have_answered: bool,
) -> Result<(), GitHubError> {
    match gh.review_protection_rule(repo, run_id, review).await {
        Err(GitHubError::Status { status: 422, .. }) if may_have_answered => Ok(()),
        other => other,
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
        FailureKind::RateLimited { retry_at } => Some(millis(retry_at)),
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
