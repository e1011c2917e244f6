//! The delivery worker: takes stored deliveries in arrival order, a batch at a time. Payloads
//! are decoded first, on the low-priority background thread and outside any transaction;
//! then one short write transaction locks the batch and, for each delivery, records its GUID
//! (a redelivery becomes `duplicate`), skips events shipgate does not handle (`ignored`) and
//! applies the rest — the outcome committed together with the change.
//!
//! Applying means: installation events keep the installation records; the rest are routed
//! (`mapping`) to a pipeline, whose config and actor's access are resolved first (outside the
//! transaction), then stepped and saved (`advance`). A payload that cannot be decoded is
//! marked `failed` with the reason (it would fail the same way again); a database error rolls
//! the whole batch back and it is retried.
//! Must not: call GitHub inside a transaction (effects go to an outbox).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::advance::{Outlets, advance, decode};
use super::background::Decoder;
use super::mapping::{Lookup, Routed, Routing, route};
use super::resolver::Resolver;
use crate::clock::Clock;
use crate::github::events::{Event, InstallationInfo};
use crate::pipeline::config::LoadedConfig;
use crate::pipeline::model::{Input, IssueAction, Pipeline, PullSnapshot, RunReport};
use crate::pipeline::starts_pipeline;
use crate::store::deliveries::{DeliveryStatus, Outcome, StoredDelivery};
use crate::store::group_commit::WriterStats;
use crate::store::installations::InstallationRow;
use crate::store::pipelines::NewEffect;
use crate::store::{Store, StoreError, Tx, millis};

/// How often the worker looks for work nobody told it about (another replica's deliveries).
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Deliveries taken per transaction.
const BATCH: i64 = 64;
/// A delivery whose transaction failed this often is recorded as failed and skipped.
const MAX_ATTEMPTS: i64 = 5;
/// During a burst, processing waits for ingest to pause this long, so the burst is
/// acknowledged first (on a single core every commit the worker makes delays an
/// acknowledgement); a lone webhook is processed at once ...
const INGEST_QUIET: Duration = Duration::from_millis(50);
/// ... but never defers work longer than this.
const MAX_DEFER: Duration = Duration::from_secs(30);

pub struct Worker {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub decoder: Decoder,
    /// Notified by the delivery writer after each commit.
    pub wake: Arc<Notify>,
    /// The writer's counters, to see when ingest pauses.
    pub ingest: Arc<WriterStats>,
    pub resolver: Arc<Resolver>,
    /// Tells the effect executor there is new work.
    pub effects_wake: Arc<Notify>,
    /// Repositories GitHub could not answer for, and until when their deliveries wait.
    pub deferred: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    /// Where pipeline changes are reported besides the database (notifications, metrics).
    pub outlets: Outlets,
}

/// How long a repository's deliveries wait after GitHub failed to answer for it (when
/// GitHub gave no time of its own).
const RESOLVE_RETRY: Duration = Duration::from_secs(10);

/// What a delivery needs that only GitHub knows, resolved before the transaction.
enum Prepared {
    Pipeline {
        routed: Box<Routed>,
        cfg: Box<LoadedConfig>,
    },
    ConfigPush {
        job: String,
        /// On the default branch: the new configuration, for every open pipeline.
        refresh: Option<(String, Box<LoadedConfig>, String)>,
    },
    /// Repository-level work for the outbox, under its idempotency key.
    RepoJob {
        key: String,
        job: String,
    },
    Nothing,
    /// GitHub could not answer for its repository yet: left queued.
    Deferred,
}

impl Worker {
    pub async fn run(self, stop: CancellationToken) {
        let mut failures: u32 = 0;
        let mut deferring_since: Option<std::time::Instant> = None;
        loop {
            if stop.is_cancelled() {
                break;
            }
            let quiet = self.ingest.quiet_for();
            let since = *deferring_since.get_or_insert_with(std::time::Instant::now);
            if quiet < INGEST_QUIET
                && self.ingest.is_bursting(INGEST_QUIET)
                && since.elapsed() < MAX_DEFER
            {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(INGEST_QUIET - quiet) => continue,
                }
            }
            let outcome = self.process_batch().await;
            if !matches!(outcome, Ok(n) if n as i64 == BATCH) {
                deferring_since = None;
            }
            match outcome {
                Ok(0) => {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                    }
                }
                Ok(_) => failures = 0,
                Err(e) => {
                    failures += 1;
                    let wait = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "delivery worker error");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        tracing::debug!("delivery worker stopped");
    }

    /// Processes a batch of the oldest pending deliveries; returns how many were pending.
    pub async fn process_batch(&self) -> Result<usize, StoreError> {
        let mut pending = self.store.pending_deliveries(BATCH).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        // What each delivery needs, decided before any lock is taken: decoding runs on the
        // background thread, outside every transaction.
        let mut jobs = Vec::new();
        let mut verdicts: Vec<Verdict> = pending
            .iter_mut()
            .map(|d| {
                if d.attempts >= MAX_ATTEMPTS {
                    let last = d.error.clone().unwrap_or_default();
                    Verdict::Fail(format!("gave up after {} attempts: {last}", d.attempts))
                } else if let Some(damage) = d.body_error.take() {
                    Verdict::Fail(format!("the stored body is damaged: {damage}"))
                } else if let Some(body) = d.body.take() {
                    jobs.push((d.event.clone(), body));
                    Verdict::Apply(None)
                } else {
                    // Stored without a body: an event shipgate does not act on.
                    Verdict::Ignore
                }
            })
            .collect();
        let decoded = self
            .decoder
            .decode(jobs)
            .await
            .ok_or_else(|| StoreError::Corrupt("the background thread stopped".into()))?;
        let mut decoded = decoded.into_iter();
        for verdict in verdicts
            .iter_mut()
            .filter(|v| matches!(v, Verdict::Apply(None)))
        {
            *verdict = match decoded.next() {
                Some(Ok(Some(event))) => Verdict::Apply(Some(event)),
                Some(Ok(None)) => Verdict::Ignore,
                Some(Err(reason)) => Verdict::Fail(reason),
                None => Verdict::Fail("the background thread did not decode it".into()),
            };
        }
        // Configuration, access and the bot's login come from GitHub (cached), outside
        // every transaction. When GitHub cannot answer for a repository (an outage, a rate
        // limit), that repository's deliveries wait — all of them, to keep their order — and
        // the others go ahead.
        // An issue event in the batch may create a pipeline that later deliveries of the same
        // batch belong to: then nothing is skipped for want of a pipeline.
        let may_create = verdicts
            .iter()
            .any(|v| matches!(v, Verdict::Apply(Some(Event::Issues(_)))));
        let has_pipelines = self.store.repos_with_pipelines().await?;
        let mut prepared = Vec::with_capacity(verdicts.len());
        for (delivery, verdict) in pending.iter().zip(&verdicts) {
            let repo = delivery.repository.clone().unwrap_or_default();
            let waiting = self.deferred_until(&repo);
            prepared.push(match verdict {
                _ if waiting.is_some() => Prepared::Deferred,
                Verdict::Apply(Some(event)) => {
                    match self
                        .prepare(event, &delivery.delivery_id, may_create, &has_pipelines)
                        .await
                    {
                        Ok(p) => p,
                        Err(e) if e.is_transient() => {
                            let until = e.retry_at().unwrap_or_else(|| {
                                millis(self.clock.now()) + RESOLVE_RETRY.as_millis() as i64
                            });
                            tracing::warn!(error = %e, repository = %repo, "GitHub cannot answer for this repository yet; its deliveries wait");
                            self.defer(&repo, until);
                            Prepared::Deferred
                        }
                        Err(e) => {
                            return Err(StoreError::Corrupt(format!("resolving a delivery: {e}")));
                        }
                    }
                }
                _ => Prepared::Nothing,
            });
        }
        let ids: Vec<i64> = pending.iter().map(|d| d.id).collect();
        let (mut tx, locked) = self.store.lock_pending(&ids).await?;
        // Only the oldest run of deliveries this worker could lock: if another replica holds
        // an earlier one, later ones wait for it, so a comment is never applied before the
        // label that created its pipeline.
        let prefix: std::collections::HashSet<i64> = ids
            .iter()
            .copied()
            .take_while(|id| locked.contains(id))
            .collect();
        let now = millis(self.clock.now());
        let batch: Vec<(&StoredDelivery, Verdict, Prepared)> = pending
            .iter()
            .zip(verdicts)
            .zip(prepared)
            .map(|((d, v), p)| (d, v, p))
            .filter(|(d, _, p)| prefix.contains(&d.id) && !matches!(p, Prepared::Deferred))
            .collect();
        let taken = batch.len();
        if let Err((id, e)) = apply_batch(&mut tx, batch, now, &self.outlets).await {
            let _ = tx.rollback().await;
            self.store
                .note_delivery_attempt(id, &e.to_string(), now)
                .await?;
            return Err(e);
        }
        tx.commit().await?;
        self.effects_wake.notify_one();
        Ok(taken)
    }

    fn deferred_until(&self, repo: &str) -> Option<i64> {
        let now = millis(self.clock.now());
        let mut map = self.deferred.lock().expect("deferral map");
        match map.get(repo) {
            Some(until) if *until > now => Some(*until),
            Some(_) => {
                map.remove(repo);
                None
            }
            None => None,
        }
    }

    fn defer(&self, repo: &str, until: i64) {
        self.deferred
            .lock()
            .expect("deferral map")
            .insert(repo.to_owned(), until);
    }

    /// A protection rule for a run the store does not know yet (its dispatch's answer has
    /// not landed): the run's name carries the deploy's `pipeline` input, which routes it.
    async fn route_protection_by_run_name(
        &self,
        routed: &mut Routed,
    ) -> Result<bool, super::resolver::ResolveError> {
        let Input::ProtectionRule { run_id, run, .. } = &mut routed.input else {
            return Ok(false);
        };
        let report = self.run_report_of(&routed.repo, *run_id).await?;
        let Some((issue, _)) = report
            .display_title
            .as_deref()
            .and_then(super::mapping::deploy_in_run_name)
        else {
            return Ok(false);
        };
        let full = routed.repo.full_name();
        if !self
            .store
            .pipeline_exists(&full, &[issue as i64], None, None, None)
            .await?
        {
            return Ok(false);
        }
        // The core adopts it only if it is, in every respect, the run shipgate dispatched.
        *run = Some(report);
        routed.lookup = Lookup::Run {
            run_id: *run_id,
            issue: Some(issue),
        };
        Ok(true)
    }

    /// A workflow run as GitHub has it now, with its origin and the dispatch its name proves.
    async fn run_report_of(
        &self,
        repo: &crate::github::client::RepoRef,
        run_id: u64,
    ) -> Result<RunReport, super::resolver::ResolveError> {
        let found = self.resolver.github().workflow_run(repo, run_id).await?;
        let bot = self.resolver.bot_login().await?;
        let mut report = super::mapping::run_report(&found, &bot, "");
        self.prove_dispatch(repo, &mut report);
        Ok(report)
    }

    /// Marks which dispatch a run's name proves, with the nonce only this App can make.
    fn prove_dispatch(&self, repo: &crate::github::client::RepoRef, report: &mut RunReport) {
        let github = self.resolver.github();
        super::mapping::prove_dispatch(report, |token| github.dispatch_nonce(repo, token));
    }

    /// A pull request as GitHub has it now, not as the delivery (perhaps late, or re-sent)
    /// described it, with everyone who authored or committed its commits. A delivery that
    /// says the PR is merged is taken as it is: a merge is final (its head, base and merge
    /// commit never change after it), so reading it again would say the same; its commits
    /// are still read (the pipeline may not know the PR yet).
    async fn refresh_pull(
        &self,
        repo: &crate::github::client::RepoRef,
        pr: &mut PullSnapshot,
    ) -> Result<(), super::resolver::ResolveError> {
        let github = self.resolver.github();
        let merged = pr.merged;
        let read = async {
            let now = if merged {
                None
            } else {
                github.pull(repo, pr.number).await?
            };
            let contributors = github.pull_contributors(repo, pr.number).await?;
            Ok::<_, crate::github::rest::GitHubError>((now, contributors))
        };
        match read.await {
            Ok((now, contributors)) => {
                if let Some(now) = now {
                    *pr = super::mapping::pull_snapshot(&now);
                }
                pr.contributors = contributors;
                Ok(())
            }
            Err(e) if e.kind() != crate::github::rest::FailureKind::Permanent => Err(e.into()),
            // GitHub will not say (the PR or the App's access is gone): the delivery's word,
            // and the commits' authors as the pipeline last knew them.
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the pull request from GitHub; using the delivery's copy");
                Ok(())
            }
        }
    }

    /// Routes an event and resolves what its step needs from GitHub.
    async fn prepare(
        &self,
        event: &Event,
        delivery: &str,
        may_create: bool,
        has_pipelines: &std::collections::HashSet<String>,
    ) -> Result<Prepared, super::resolver::ResolveError> {
        if !matches!(
            event,
            Event::Issues(_)
                | Event::SubIssues(_)
                | Event::IssueDependencies(_)
                | Event::IssueComment(_)
                | Event::PullRequest(_)
                | Event::PullRequestReview(_)
                | Event::WorkflowRun(_)
                | Event::Push(_)
                | Event::CheckRun(_)
                | Event::DeploymentProtectionRule(_)
        ) {
            return Ok(Prepared::Nothing);
        }
        // Who shipgate's bot is matters only where the actor matters.
        let bot = match event {
            Event::Issues(_)
            | Event::IssueComment(_)
            | Event::PullRequestReview(_)
            | Event::CheckRun(_)
            | Event::WorkflowRun(_)
            | Event::Push(_) => self.resolver.bot_login().await?,
            _ => String::new(),
        };
        match route(event, delivery, &bot) {
            Routing::Nothing => Ok(Prepared::Nothing),
            Routing::ConfigPush {
                repo,
                sha,
                on_default_branch,
                default_branch,
            } => {
                let refresh = if on_default_branch {
                    self.resolver.forget_config(&repo).await?;
                    let cfg = self.resolver.config(&repo, &default_branch).await?;
                    Some((repo.full_name(), Box::new(cfg), sha.clone()))
                } else {
                    None
                };
                let job = super::repo_jobs::RepoJob::ConfigCheck {
                    installation_id: repo.installation_id,
                    repo: repo.full_name(),
                    sha,
                };
                Ok(Prepared::ConfigPush {
                    job: serde_json::to_string(&job).expect("jobs serialise"),
                    refresh,
                })
            }
            Routing::Pipeline(mut routed) => {
                // Only an issue event can start a pipeline; anything else for a pipeline that
                // does not exist needs nothing from GitHub.
                let (issues, pr, run, task) = match &routed.lookup {
                    Lookup::Issue(n) => (vec![*n as i64], None, None, None),
                    Lookup::IssueOrTask(n) => (vec![*n as i64], None, None, Some(*n as i64)),
                    Lookup::Pull { number, issues } => (
                        issues.iter().map(|i| *i as i64).collect(),
                        Some(*number as i64),
                        None,
                        None,
                    ),
                    Lookup::Run { run_id, issue } => (
                        issue.iter().map(|i| *i as i64).collect(),
                        None,
                        Some(*run_id as i64),
                        None,
                    ),
                    // Looked up by id in the transaction (and checked to be this repo's).
                    Lookup::Pipeline(_) => (vec![], None, None, None),
                };
                // A close or removal never starts a pipeline: only a pipeline that plans the
                // issue as a sub-issue needs it (nothing to resolve for other repositories).
                let starts = may_create
                    || matches!(&routed.input, Input::Issue { action, .. }
                        if !matches!(action, IssueAction::Closed | IssueAction::Removed));
                let full = routed.repo.full_name();
                let by_id = matches!(routed.lookup, Lookup::Pipeline(_));
                // A protection rule never starts a pipeline, and must be answered: it is looked
                // up now, even when an issue event in the batch may create one.
                let protection = matches!(routed.input, Input::ProtectionRule { .. });
                let mut found = (starts && !protection)
                    || (has_pipelines.contains(&full)
                        && (by_id
                            || self
                                .store
                                .pipeline_exists(&full, &issues, pr, run, task)
                                .await?));
                if !found && has_pipelines.contains(&full) {
                    found = self.route_protection_by_run_name(&mut routed).await?;
                }
                if !found {
                    if let Input::ProtectionRule {
                        run_id,
                        environment,
                        ..
                    } = &routed.input
                    {
                        // shipgate is the rule here, and no pipeline of it asked: a rejection,
                        // not a run left waiting.
                        let job = super::repo_jobs::RepoJob::RejectProtection {
                            installation_id: routed.repo.installation_id,
                            repo: full,
                            run_id: *run_id,
                            environment: environment.clone(),
                        };
                        return Ok(Prepared::RepoJob {
                            key: format!("protection:{delivery}"),
                            job: serde_json::to_string(&job).expect("jobs serialise"),
                        });
                    }
                    return Ok(Prepared::Nothing);
                }
                let cfg = self
                    .resolver
                    .config(&routed.repo, &routed.default_branch)
                    .await?;
                match &mut routed.input {
                    Input::WorkflowRun(report) => self.prove_dispatch(&routed.repo, report),
                    Input::PullRequest { pr, .. } => self.refresh_pull(&routed.repo, pr).await?,
                    // Who started this attempt of the run: a person's re-run of shipgate's
                    // run keeps its id.
                    Input::ProtectionRule {
                        run_id,
                        run: run @ None,
                        ..
                    } => *run = Some(self.run_report_of(&routed.repo, *run_id).await?),
                    _ => {}
                }
                if let Some(login) = routed.needs_access.clone() {
                    let access = match self.resolver.access(&routed.repo, &login).await {
                        Ok(a) => a,
                        Err(e) if !e.is_transient() => crate::pipeline::Access::None,
                        Err(e) => return Err(e),
                    };
                    set_access(&mut routed.input, access);
                    let teams = cfg.config.approvers.teams();
                    if !teams.is_empty() && needs_teams(&routed.input) {
                        let member_of =
                            match self.resolver.teams_of(&routed.repo, &login, &teams).await {
                                Ok(t) => t,
                                Err(e) if !e.is_transient() => vec![],
                                Err(e) => return Err(e),
                            };
                        set_teams(&mut routed.input, member_of);
                    }
                }
                Ok(Prepared::Pipeline {
                    routed,
                    cfg: Box::new(cfg),
                })
            }
        }
    }
}

/// Records the access the input's decider has (a PR: its author's).
fn set_access(input: &mut Input, access: crate::pipeline::Access) {
    match input {
        Input::Issue { actor, .. } | Input::Comment { actor, .. } | Input::Button { actor, .. } => {
            actor.access = access
        }
        Input::PullRequest { pr, .. } => pr.author_access = access,
        Input::Review { reviewer, .. } => reviewer.access = access,
        _ => {}
    }
}

/// The decider whose team memberships matter: a person deciding a gate (never shipgate's
/// own bot, and never a PR's author).
fn decider(input: &mut Input) -> Option<&mut crate::pipeline::model::Actor> {
    match input {
        Input::Issue { actor, .. } | Input::Comment { actor, .. } | Input::Button { actor, .. } => {
            Some(actor)
        }
        Input::Review { reviewer, .. } => Some(reviewer),
        _ => None,
    }
    .filter(|a| !a.is_self)
}

fn needs_teams(input: &Input) -> bool {
    match input {
        Input::Issue { actor, .. } | Input::Comment { actor, .. } | Input::Button { actor, .. } => {
            !actor.is_self
        }
        Input::Review { reviewer, .. } => !reviewer.is_self,
        _ => false,
    }
}

fn set_teams(input: &mut Input, teams: Vec<String>) {
    if let Some(actor) = decider(input) {
        actor.teams = teams;
    }
}

/// What to do with one delivery.
enum Verdict {
    /// Record it as ignored.
    Ignore,
    /// Apply the decoded event (`None` only while decoding is pending).
    Apply(Option<Event>),
    /// Record it as failed, with the reason.
    Fail(String),
}

/// Applies a locked batch: GUIDs, changes and outcomes, in the caller's transaction. On a
/// database error, says which delivery it happened at (its attempt is counted, and after
/// MAX_ATTEMPTS it is given up, so one bad delivery cannot stop the queue).
async fn apply_batch(
    tx: &mut Tx,
    batch: Vec<(&StoredDelivery, Verdict, Prepared)>,
    now: i64,
    outlets: &Outlets,
) -> Result<(), (i64, StoreError)> {
    let guids: Vec<(&str, i64)> = batch
        .iter()
        .map(|(d, _, _)| (d.delivery_id.as_str(), d.id))
        .collect();
    let first = batch.first().map_or(0, |(d, _, _)| d.id);
    let duplicates = tx.take_guids(&guids).await.map_err(|e| (first, e))?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for (delivery, verdict, prepared) in batch {
        let span = tracing::info_span!("delivery", delivery = %delivery.delivery_id, event = %delivery.event);
        let (status, error) = if duplicates.contains(&delivery.id) {
            (DeliveryStatus::Duplicate, None)
        } else {
            match verdict {
                Verdict::Ignore | Verdict::Apply(None) => (DeliveryStatus::Ignored, None),
                Verdict::Apply(Some(event)) => {
                    async {
                        apply(tx, &event, now).await?;
                        apply_prepared(tx, prepared, &delivery.delivery_id, now, outlets).await
                    }
                    .instrument(span.clone())
                    .await
                    .map_err(|e| (delivery.id, e))?;
                    (DeliveryStatus::Processed, None)
                }
                Verdict::Fail(reason) => {
                    span.in_scope(|| tracing::warn!(%reason, "delivery failed"));
                    (DeliveryStatus::Failed, Some(reason))
                }
            }
        };
        span.in_scope(|| {
            tracing::info!(
                status = status.as_str(),
                action = delivery.action.as_deref().unwrap_or(""),
                "delivery taken"
            )
        });
        outcomes.push(Outcome {
            id: delivery.id,
            status,
            error,
        });
    }
    tx.record_outcomes(&outcomes, now)
        .await
        .map_err(|e| (first, e))
}

/// Applies a delivery's pipeline input (finding or creating its pipeline) or queues its
/// repository-level job.
async fn apply_prepared(
    tx: &mut Tx,
    prepared: Prepared,
    delivery: &str,
    now: i64,
    outlets: &Outlets,
) -> Result<(), StoreError> {
    let (routed, cfg) = match prepared {
        Prepared::Nothing | Prepared::Deferred => return Ok(()),
        Prepared::RepoJob { key, job } => {
            let effect = NewEffect {
                key: &key,
                action: "reject_protection",
                body: job,
                cause: &key,
            };
            return tx.add_effects(None, &[effect], now).await;
        }
        Prepared::ConfigPush { job, refresh } => {
            let key = format!("config:{delivery}");
            let effect = NewEffect {
                key: &key,
                action: "config_check",
                body: job,
                cause: &key,
            };
            tx.add_effects(None, &[effect], now).await?;
            // A fixed (or broken) configuration re-evaluates every open pipeline now, not at
            // its next event.
            if let Some((repo, cfg, sha)) = refresh {
                for record in tx.open_pipelines_of(&repo).await? {
                    let pipeline = decode(&record)?;
                    let input = Input::ConfigChanged { sha: sha.clone() };
                    advance(tx, &pipeline, &input, &cfg, now, Some(delivery), outlets).await?;
                }
            }
            return Ok(());
        }
        Prepared::Pipeline { routed, cfg } => (routed, *cfg),
    };
    let repo = routed.repo.full_name();
    let record = match &routed.lookup {
        Lookup::Issue(n) => tx.pipeline_by_issue(&repo, *n as i64).await?,
        Lookup::IssueOrTask(n) => match tx.pipeline_by_issue(&repo, *n as i64).await? {
            None if !starts_pipeline(&routed.input, &cfg) => {
                tx.pipeline_by_task(&repo, *n as i64).await?
            }
            found => found,
        },
        Lookup::Pull { number, issues } => {
            let mut found = tx.pipeline_by_pr(&repo, *number as i64).await?;
            for issue in issues {
                if found.is_some() {
                    break;
                }
                found = tx.pipeline_by_issue(&repo, *issue as i64).await?;
            }
            found
        }
        Lookup::Pipeline(id) => match tx.pipeline_by_id(*id).await? {
            Some(record) if decode(&record)?.repo == repo => Some(record),
            _ => None,
        },
        Lookup::Run { run_id, issue } => match tx.pipeline_by_run(*run_id as i64).await? {
            Some(r) => Some(r),
            None => match issue {
                Some(n) => tx.pipeline_by_issue(&repo, *n as i64).await?,
                None => None,
            },
        },
    };
    let pipeline = match record {
        Some(record) => decode(&record)?,
        None => {
            let (Input::Issue { issue, .. }, true) =
                (&routed.input, starts_pipeline(&routed.input, &cfg))
            else {
                return Ok(());
            };
            let installation = routed.repo.installation_id as i64;
            match tx
                .create_pipeline(installation, &repo, issue.number as i64, now)
                .await?
            {
                Some(id) => Pipeline::new(
                    id,
                    routed.repo.installation_id,
                    &repo,
                    &routed.default_branch,
                    issue,
                    now,
                ),
                None => match tx.pipeline_by_issue(&repo, issue.number as i64).await? {
                    Some(record) => decode(&record)?,
                    None => return Ok(()),
                },
            }
        }
    };
    advance(
        tx,
        &pipeline,
        &routed.input,
        &cfg,
        now,
        Some(delivery),
        outlets,
    )
    .await?;
    Ok(())
}

fn installation_row(info: &InstallationInfo, action: &str, now: i64) -> InstallationRow {
    InstallationRow {
        installation_id: info.id as i64,
        account_login: info.account.login.clone(),
        account_type: info.account.kind.clone(),
        repository_selection: info.repository_selection.clone(),
        suspended: action == "suspend" || (action != "unsuspend" && info.suspended_at.is_some()),
        deleted: action == "deleted",
        updated_at: now,
    }
}

/// Applies what a delivery changes. Only installation bookkeeping lives here for now.
async fn apply(tx: &mut Tx, event: &Event, now: i64) -> Result<(), StoreError> {
    match event {
        Event::Installation(e) => {
            let id = e.installation.id as i64;
            tx.upsert_installation(&installation_row(&e.installation, &e.action, now))
                .await?;
            match e.action.as_str() {
                "deleted" => tx.clear_installation_repositories(id).await?,
                "created" => {
                    for repo in e.repositories.iter().flatten() {
                        tx.add_installation_repository(id, repo.id as i64, &repo.full_name)
                            .await?;
                    }
                }
                _ => {}
            }
        }
        Event::InstallationRepositories(e) => {
            let id = e.installation.id as i64;
            tx.upsert_installation(&installation_row(&e.installation, &e.action, now))
                .await?;
            for repo in &e.repositories_added {
                tx.add_installation_repository(id, repo.id as i64, &repo.full_name)
                    .await?;
            }
            for repo in &e.repositories_removed {
                tx.remove_installation_repository(id, repo.id as i64)
                    .await?;
            }
        }
        _ => {}
    }
    Ok(())
}
