//! The resync watchdog: state that no delivery will report. The reconciler recovers
//! deliveries GitHub failed to make, for 3 days; a delivery GitHub never attempted, or one
//! whose redelivery failed too, is gone. So a pipeline waiting on GitHub (for its pull
//! request to be opened, reviewed, pushed to or merged) that has heard nothing for
//! `quiet` is read again from GitHub: its pull request (or, before one is linked, the open
//! pull requests that name its issue) and that pull request's reviews, fed to the core as
//! the events they would have been. Runs and deploys have their own watchdog timers (the
//! core polls a run silent for `tests.timeout`), health checks and gate clocks are timers:
//! with this, every wait a pipeline can be in is bounded.
//!
//! One replica at a time (the `resync` job lease); each pipeline at most once per `quiet`.
//! Must not: decide anything (the core does, through `advance`), or hold a transaction
//! while calling GitHub.

use std::sync::Arc;
use std::time::Duration;

use sha2::Digest as _;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::advance::{Outlets, advance, decode};
use super::mapping;
use super::resolver::{ResolveError, Resolver};
use crate::clock::Clock;
use crate::github::client::RepoRef;
use crate::pipeline::config::LoadedConfig;
use crate::pipeline::linking;
use crate::pipeline::model::{Input, Phase, Pipeline, PullAction, ReviewAction, ReviewState};
use crate::store::{Store, StoreError, millis};

/// The phases in which a pipeline waits on something GitHub reports by webhook (tests run
/// during review).
const WAITING: [Phase; 5] = [
    Phase::Development,
    Phase::Review,
    Phase::Staging,
    Phase::Readiness,
    Phase::Production,
];
/// Pipelines resynced per round.
const BATCH: i64 = 20;
const JOB: &str = "resync";
const LEASE_MS: i64 = 60_000;

pub struct Resync {
    pub store: Store,
    pub resolver: Arc<Resolver>,
    pub clock: Arc<dyn Clock>,
    /// This process's name as a lease holder.
    pub holder: String,
    /// How long a pipeline is quiet before it is read again (`SHIPGATE_RESYNC_AFTER`).
    pub quiet: Duration,
    pub effects_wake: Arc<Notify>,
    /// Where pipeline changes are reported besides the database (notifications, metrics).
    pub outlets: Outlets,
}

impl Resync {
    pub async fn run(self, stop: CancellationToken) {
        let poll = (self.quiet / 4).clamp(Duration::from_millis(250), Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(poll) => {}
            }
            match self.round().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(pipelines = n, "quiet pipelines read again from GitHub"),
                Err(e) => tracing::warn!(error = %e, "resync round failed"),
            }
        }
    }

    /// Reads the quiet pipelines again; returns how many it read.
    pub async fn round(&self) -> Result<usize, StoreError> {
        let now = millis(self.clock.now());
        if self
            .store
            .take_job_lease(JOB, &self.holder, now, now + LEASE_MS)
            .await?
            .is_none()
        {
            return Ok(0);
        }
        let outcome = self.resync_quiet(now).await;
        self.store.finish_job(JOB, &self.holder, 0).await?;
        if matches!(outcome, Ok(n) if n > 0) {
            self.effects_wake.notify_one();
        }
        outcome
    }

    async fn resync_quiet(&self, now: i64) -> Result<usize, StoreError> {
        let phases: Vec<&str> = WAITING.iter().map(|p| p.name()).collect();
        let quiet_since = now - self.quiet.as_millis() as i64;
        let ids = self
            .store
            .quiet_pipelines(&phases, quiet_since, BATCH)
            .await?;
        for id in &ids {
            let renewed = self
                .store
                .take_job_lease(JOB, &self.holder, now, millis(self.clock.now()) + LEASE_MS)
                .await?;
            if renewed.is_none() {
                break; // another replica took the job over
            }
            self.store.mark_resynced(*id, now).await?;
            if let Err(e) = self.resync(*id).await {
                tracing::warn!(pipeline = id, error = %e, "could not read a quiet pipeline again");
            }
        }
        Ok(ids.len())
    }

    async fn resync(&self, id: i64) -> Result<(), ResolveError> {
        let Some(record) = self.store.pipeline(id).await? else {
            return Ok(());
        };
        let pipeline = decode(&record)?;
        let Some(repo) = RepoRef::new(pipeline.installation_id, &pipeline.repo) else {
            return Ok(());
        };
        let cfg = self
            .resolver
            .config(&repo, &pipeline.default_branch)
            .await?;
        let inputs = self.read(&repo, &pipeline, &cfg).await?;
        if inputs.is_empty() {
            return Ok(());
        }
        let now = millis(self.clock.now());
        let mut tx = self.store.begin().await?;
        // What GitHub said is applied only to the state it was read beside: a webhook that
        // moved the pipeline meanwhile is newer than this reading (the next round reads again).
        match tx.pipeline_by_id(id).await? {
            Some(locked) if locked.state == record.state => {
                let mut current = pipeline;
                for input in &inputs {
                    current =
                        advance(&mut tx, &current, input, &cfg, now, None, &self.outlets).await?;
                }
                tx.commit().await?;
            }
            _ => tx.rollback().await?,
        }
        Ok(())
    }

    /// What GitHub says now, as the inputs its lost deliveries would have been.
    async fn read(
        &self,
        repo: &RepoRef,
        p: &Pipeline,
        cfg: &LoadedConfig,
    ) -> Result<Vec<Input>, ResolveError> {
        let gh = self.resolver.github();
        let bot = self.resolver.bot_login().await?;
        let pulls = match &p.pr {
            Some(linked) => gh.pull(repo, linked.number).await?.into_iter().collect(),
            None => gh
                .open_pulls(repo)
                .await?
                .into_iter()
                .filter(|pr| {
                    linking::pull_request_issues(
                        pr.body.as_deref().unwrap_or(""),
                        &pr.head.branch,
                        &p.repo,
                    )
                    .contains(&p.issue)
                })
                .collect::<Vec<_>>(),
        };
        let mut inputs = Vec::new();
        for info in pulls {
            let mut pr = mapping::pull_snapshot(&info);
            pr.author_access = self.resolver.access(repo, &pr.author).await?;
            pr.contributors = gh.pull_contributors(repo, pr.number).await?;
            let action = match (&p.pr, pr.open) {
                (_, false) => PullAction::Closed,
                (None, true) => PullAction::Opened,
                (Some(_), true) => PullAction::Edited,
            };
            let number = pr.number;
            let linked = p.pr.as_ref().is_some_and(|l| l.number == number);
            // Named by what GitHub said and what the pipeline had done (`seq` counts its
            // effects): the same reading of an unchanged pipeline is the same one-shot input,
            // which the core drops (and does not remember twice); a PR back in an earlier
            // state after the pipeline moved on is a new one.
            let reading = serde_json::to_vec(&pr).expect("snapshots serialise");
            let digest = hex::encode(&sha2::Sha256::digest(&reading)[..8]);
            inputs.push(Input::PullRequest {
                delivery: format!("resync:{}:{}:{number}:{digest}", p.id, p.seq),
                action,
                pr,
                actor: mapping::actor(&info.user, &bot),
            });
            if linked {
                inputs.extend(
                    self.reviews(repo, number, &info.head.sha, &bot, cfg)
                        .await?,
                );
            }
        }
        Ok(inputs)
    }

    /// The PR's reviews as review events (the core takes each review id once).
    async fn reviews(
        &self,
        repo: &RepoRef,
        number: u64,
        head: &str,
        bot: &str,
        cfg: &LoadedConfig,
    ) -> Result<Vec<Input>, ResolveError> {
        let teams = cfg.config.approvers.teams();
        let mut inputs = Vec::new();
        for review in self.resolver.github().pull_reviews(repo, number).await? {
            let dismissed = review.state.eq_ignore_ascii_case("dismissed");
            let state = mapping::review_state(&review.state);
            if state == ReviewState::Commented && !dismissed {
                continue;
            }
            let mut reviewer = mapping::actor(&review.user, bot);
            reviewer.access = self.resolver.access(repo, &reviewer.login).await?;
            if !teams.is_empty() && !reviewer.is_self {
                reviewer.teams = self
                    .resolver
                    .teams_of(repo, &reviewer.login, &teams)
                    .await?;
            }
            inputs.push(Input::Review {
                id: review.id,
                action: if dismissed {
                    ReviewAction::Dismissed
                } else {
                    ReviewAction::Submitted
                },
                state,
                commit_sha: review.commit_id.clone().unwrap_or_else(|| head.to_owned()),
                pr: number,
                reviewer,
                submitted_at: review.submitted_at.map_or(0, |t| t.timestamp_millis()),
            });
        }
        Ok(inputs)
    }
}
