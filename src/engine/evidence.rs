//! Recording evidence a workflow run reported (`POST /api/v1/evidence`, its OIDC token
//! already verified): the run must be one a pipeline dispatched (found by its id), of the
//! repository the token names by id, and `evidence::admit` must agree under the pipeline's
//! lock; then the report goes through `advance`, like every other input.
//!
//! Must not: record a report the core would not admit, or answer before it is committed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::advance::{Outlets, advance, decode};
use super::resolver::Resolver;
use crate::clock::Clock;
use crate::github::client::RepoRef;
use crate::pipeline::evidence::{MAX_METRICS, Refusal, Target, admit, metrics_fit};
use crate::pipeline::model::{Evidence, Input, RunClaims};
use crate::store::{Store, StoreError, millis};

/// Repository ids kept (a name's id changes only when it is renamed or transferred).
const REPO_ID_TTL_MS: i64 = 60 * 60 * 1000;
const MAX_REPO_IDS: usize = 10_000;

/// Why a report was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum NotRecorded {
    /// The token may not report for the run it names (403).
    #[error("{}: {}", .0.claim, .0.why)]
    Refused(Refusal),
    /// The report would not fit what the run may keep (400).
    #[error("{0}")]
    Invalid(String),
    /// GitHub or the database could not be reached (503; the reporter retries).
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for NotRecorded {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "evidence: the database could not be used");
        NotRecorded::Unavailable("the database is not reachable".into())
    }
}

/// What was recorded, and where.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub pipeline_id: i64,
    /// `REQ-<n>`.
    pub pipeline: String,
    pub repository: String,
    /// `tests` or `deploy`.
    pub kind: &'static str,
    /// The run's evidence with this report merged in.
    pub evidence: Evidence,
}

/// Records the reports of verified tokens.
pub struct EvidenceDesk {
    pub store: Store,
    pub resolver: Arc<Resolver>,
    pub clock: Arc<dyn Clock>,
    pub outlets: Outlets,
    pub effects_wake: Arc<Notify>,
    repo_ids: Mutex<HashMap<String, (u64, i64)>>,
}

impl EvidenceDesk {
    pub fn new(
        store: Store,
        resolver: Arc<Resolver>,
        clock: Arc<dyn Clock>,
        outlets: Outlets,
        effects_wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            resolver,
            clock,
            outlets,
            effects_wake,
            repo_ids: Mutex::new(HashMap::new()),
        }
    }

    /// Records `report` for the run the token's `claims` (and `repository_id`) name;
    /// `correlation` is the `pipeline` input the report repeats, if it does.
    pub async fn record(
        &self,
        claims: RunClaims,
        repository_id: u64,
        correlation: Option<String>,
        report: Evidence,
    ) -> Result<Recorded, NotRecorded> {
        let refuse = |claim, why| NotRecorded::Refused(Refusal { claim, why });
        let mut tx = self.store.begin().await?;
        let found = tx.pipeline_by_run(claims.run_id as i64).await?;
        tx.rollback().await?;
        let Some(found) = found else {
            return Err(refuse(
                "run_id",
                format!("run {} is not a run shipgate dispatched", claims.run_id),
            ));
        };
        let pipeline = decode(&found)?;
        if !claims.repository.eq_ignore_ascii_case(&pipeline.repo) {
            return Err(refuse(
                "repository",
                format!(
                    "the token is for {}, not {}",
                    claims.repository, pipeline.repo
                ),
            ));
        }
        let repo = RepoRef::new(pipeline.installation_id, &pipeline.repo).ok_or_else(|| {
            NotRecorded::Unavailable("the pipeline's repository is unknown".into())
        })?;
        let known_id = self.repository_id(&repo).await?;
        if known_id != repository_id {
            return Err(refuse(
                "repository_id",
                format!(
                    "the token is for repository {repository_id}; {} is {known_id}",
                    pipeline.repo
                ),
            ));
        }
        let cfg = self
            .resolver
            .config(&repo, &pipeline.default_branch)
            .await
            .map_err(|e| NotRecorded::Unavailable(format!("the configuration: {e}")))?;
        let now = millis(self.clock.now());
        let mut tx = self.store.begin().await?;
        let Some(current) = tx.pipeline_by_id(found.id).await? else {
            tx.rollback().await?;
            return Err(NotRecorded::Unavailable("the pipeline is gone".into()));
        };
        let current = decode(&current)?;
        let target = match admit(
            &current,
            &cfg.config.deploy.workflow,
            &claims,
            correlation.as_deref(),
        ) {
            Ok(target) => target,
            Err(refusal) => {
                tx.rollback().await?;
                return Err(NotRecorded::Refused(refusal));
            }
        };
        if !metrics_fit(&current, target, claims.run_attempt, &report) {
            tx.rollback().await?;
            return Err(NotRecorded::Invalid(format!(
                "a run attempt keeps at most {MAX_METRICS} metrics"
            )));
        }
        let input = Input::Evidence {
            claims,
            correlation,
            report,
        };
        let next = advance(&mut tx, &current, &input, &cfg, now, None, &self.outlets).await?;
        tx.commit().await?;
        self.effects_wake.notify_one();
        let (kind, evidence) = match target {
            Target::Test(i) => ("tests", next.runs[i].evidence.clone()),
            Target::Deploy(i) => ("deploy", next.deploys[i].evidence.clone()),
        };
        Ok(Recorded {
            pipeline_id: next.id,
            pipeline: next.name(),
            repository: next.repo.clone(),
            kind,
            evidence: evidence.unwrap_or_default(),
        })
    }

    /// The repository's id, from the cache or GitHub.
    async fn repository_id(&self, repo: &RepoRef) -> Result<u64, NotRecorded> {
        let now = millis(self.clock.now());
        let key = repo.full_name().to_ascii_lowercase();
        if let Some((id, at)) = self.repo_ids.lock().expect("cache").get(&key)
            && now - at < REPO_ID_TTL_MS
        {
            return Ok(*id);
        }
        let id = self
            .resolver
            .github()
            .repository_id(repo)
            .await
            .map_err(|e| NotRecorded::Unavailable(format!("GitHub: {e}")))?
            .ok_or_else(|| NotRecorded::Unavailable(format!("{} is gone", repo.full_name())))?;
        let mut cache = self.repo_ids.lock().expect("cache");
        if cache.len() >= MAX_REPO_IDS {
            cache.retain(|_, (_, at)| now - *at < REPO_ID_TTL_MS);
            if cache.len() >= MAX_REPO_IDS {
                cache.clear();
            }
        }
        cache.insert(key, (id, now));
        Ok(id)
    }
}
