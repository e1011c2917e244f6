//! `GET /api/v1/pipelines` (a page, filtered) and `GET /api/v1/pipelines/{id}` (one, with
//! its gates — the same evaluation the check run shows —, timeline, deploys, health
//! evidence, rollback and audit entries).
//! Must not: show a pipeline of a repository the caller cannot read.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::SignedIn;
use super::evidence::EvidenceView;
use super::{Problem, rfc3339};
use crate::engine::advance::decode;
use crate::github::users::Viewer;
use crate::http::AppState;
use crate::pipeline::config::LoadedConfig;
use crate::pipeline::gates;
use crate::pipeline::model::{Deploy, DeployState, Phase, Pipeline, RunState, TestRun};
use crate::store::Store;
use crate::store::listing::PipelineFilter;

/// Pipelines per page unless `limit` says otherwise, and the most one page holds.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 100;
/// Audit entries shown with one pipeline.
const AUDIT_SHOWN: i64 = 200;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this repository, `owner/name`.
    pub repository: Option<String>,
    /// Only this phase: `intake`, `planning`, `development`, `review`, `staging`,
    /// `readiness`, `production`, `done`, `rejected`, `failed`, `rolled_back`, `stopped`.
    pub phase: Option<String>,
    /// Only pipelines changed at or after this time (RFC 3339).
    pub updated_since: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Pipelines per page, 1–100 (default 50).
    pub limit: Option<i64>,
}

/// A page of pipelines, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineList {
    pub pipelines: Vec<PipelineSummary>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One pipeline as the list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineSummary {
    pub id: i64,
    /// `owner/name`.
    pub repository: String,
    /// The feature issue's number.
    pub issue: u64,
    /// `REQ-<issue>`.
    pub name: String,
    pub title: String,
    pub phase: String,
    pub paused: bool,
    /// `/block` reasons in force.
    pub blocked_by: Vec<String>,
    /// What shipgate waits for now, in one sentence (as the check run says).
    pub waiting_for: String,
    /// `low`, `medium`, `high` or `critical`, if set with `/priority`.
    pub priority: Option<String>,
    /// The feature issue on GitHub.
    pub html_url: String,
    /// When the trigger label started it (RFC 3339).
    pub created_at: String,
    pub updated_at: String,
    pub last_deploy: Option<DeployView>,
}

/// One deploy (or a rollback's redeploy).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeployView {
    /// `staging` or `production`.
    pub environment: String,
    /// `deploy` or `rollback`.
    pub kind: String,
    pub sha: String,
    /// `creating`, `dispatching`, `running`, `succeeded`, `failed`, `not_started`, `superseded`.
    pub state: String,
    /// Why it failed or did not start.
    pub reason: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// The workflow run on GitHub.
    pub run_url: Option<String>,
    /// Who asked for it (`/deploy staging`), when a person did.
    pub requested_by: Option<String>,
    /// What the deploy run reported (where it deployed, which version).
    pub evidence: Option<EvidenceView>,
}

/// One dispatched test workflow run.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestRunView {
    /// The workflow file, `tests.yml`.
    pub workflow: String,
    /// The commit it tests.
    pub sha: String,
    /// `dispatching`, `running`, `succeeded`, `failed`, `timed_out`, `not_dispatched`,
    /// `superseded`.
    pub state: String,
    /// The conclusion, or why it was not dispatched.
    pub reason: Option<String>,
    pub run_id: Option<u64>,
    pub run_url: Option<String>,
    pub attempt: u64,
    pub dispatched_at: String,
    pub finished_at: Option<String>,
    /// What the run reported through the action.
    pub evidence: Option<EvidenceView>,
}

/// One gate and its evidence.
#[derive(Debug, Serialize, ToSchema)]
pub struct GateView {
    /// The gate's key (as `/skip` names it): `requirement`, `plan`, `branch`,
    /// `pull_request`, `review`, `tests`, `staging`, `production` (the release approval),
    /// `merge`, `production_deploy`, `rollback`.
    pub gate: String,
    /// Its name for people (`Production approval`).
    pub label: String,
    pub passed: bool,
    /// Failed for good on this SHA (not only waiting).
    pub failed: bool,
    /// The evidence, in Markdown: who approved, which runs, which probes.
    pub evidence: String,
    /// What it waits for, and from whom.
    pub waiting: Option<String>,
}

/// A phase entered, and when.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhaseChange {
    pub phase: String,
    pub at: String,
}

/// Health monitoring of one deploy.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    pub environment: String,
    pub sha: String,
    pub url: String,
    pub started_at: String,
    /// When the monitoring window ends (or ended).
    pub until: String,
    /// `watching`, `healthy` or `unhealthy`.
    pub outcome: String,
    pub probes_total: u32,
    pub probes_failed: u32,
    /// The latest probes, oldest first (at most 20).
    pub probes: Vec<ProbeView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeView {
    pub at: String,
    pub ok: bool,
    /// The HTTP status, when one came back.
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// The pipeline's rollback.
#[derive(Debug, Serialize, ToSchema)]
pub struct RollbackView {
    pub environment: String,
    /// The SHA rolled back from, and to (once found).
    pub from_sha: String,
    pub to_sha: Option<String>,
    pub reason: String,
    /// `@login` for `/rollback`, `shipgate` when automatic.
    pub by: String,
    /// `command`, `stop`, `deploy_failed`, `health` (null if recorded before it was kept).
    pub trigger: Option<String>,
    pub at: String,
    pub done: bool,
}

/// One audit log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// One pipeline with everything it holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineDetail {
    #[serde(flatten)]
    pub summary: PipelineSummary,
    pub gates: Vec<GateView>,
    /// The readiness score, 0–100.
    pub readiness: u8,
    pub timeline: Vec<PhaseChange>,
    /// Test runs, oldest first.
    pub test_runs: Vec<TestRunView>,
    pub deploys: Vec<DeployView>,
    pub health: Vec<HealthView>,
    pub rollback: Option<RollbackView>,
    /// The pipeline's audit entries, oldest first (at most 200).
    pub audit: Vec<AuditView>,
}

/// The pipelines of the repositories the caller can read, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/pipelines",
    tag = "pipelines",
    params(ListQuery),
    security(("github_user" = [])),
    responses(
        (status = 200, description = "A page of pipelines", body = PipelineList),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<PipelineList>, Problem> {
    let Query(q) = query.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    page(&state, &viewer, &q).await.map(Json)
}

/// Where pipelines are read from: the database, and GitHub's web root for links.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub store: &'a Store,
    pub github_url: &'a url::Url,
}

impl<'a> Source<'a> {
    pub fn of(state: &'a AppState) -> Self {
        Source {
            store: &state.store,
            github_url: &state.settings.github_url,
        }
    }
}

/// A page of the pipelines `viewer` may see (the API's list, and the dashboard's).
pub async fn page(
    state: &AppState,
    viewer: &Viewer,
    q: &ListQuery,
) -> Result<PipelineList, Problem> {
    let repositories = match &q.repository {
        Some(r) if viewer.can_see(r) => vec![r.to_lowercase()],
        Some(_) => Vec::new(),
        None => viewer.repositories.iter().cloned().collect(),
    };
    page_of(Source::of(state), repositories, q).await
}

/// A page of the pipelines of `repositories` (lowercased `owner/name`), by `q` but for its
/// `repository`, which the caller has applied (for `shipgate pipelines` too).
pub async fn page_of(
    src: Source<'_>,
    repositories: Vec<String>,
    q: &ListQuery,
) -> Result<PipelineList, Problem> {
    let bad = |detail: &str| Problem::new(StatusCode::BAD_REQUEST, detail);
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad("limit must be 1 to 100"));
    }
    if let Some(phase) = &q.phase
        && !Phase::ALL.iter().any(|p| p.name() == phase)
    {
        return Err(bad("phase is not one of shipgate's phases"));
    }
    let updated_since = match &q.updated_since {
        None => None,
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| bad("updated_since must be an RFC 3339 time"))?
                .timestamp_millis(),
        ),
    };
    let before = match &q.cursor {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| bad("cursor is not one this API gave"))?,
        ),
    };
    let records = src
        .store
        .list_pipelines(&PipelineFilter {
            repositories,
            phase: q.phase.clone(),
            updated_since,
            before,
            limit,
        })
        .await?;
    let next_cursor = (records.len() as i64 == limit)
        .then(|| records.last().map(|r| r.id.to_string()))
        .flatten();
    let mut configs = HashMap::new();
    let mut pipelines = Vec::with_capacity(records.len());
    for record in &records {
        let p = decode(record)?;
        let cfg = config_of(src.store, &mut configs, &p.repo).await?;
        let report = gates::evaluate(&p, &cfg);
        pipelines.push(summary(src, &p, &report.waiting_for));
    }
    Ok(PipelineList {
        pipelines,
        next_cursor,
    })
}

/// One pipeline, if the caller can read its repository.
#[utoipa::path(
    get,
    path = "/api/v1/pipelines/{id}",
    tag = "pipelines",
    params(("id" = i64, Path, description = "The pipeline's id")),
    security(("github_user" = [])),
    responses(
        (status = 200, description = "The pipeline", body = PipelineDetail),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such pipeline the caller can see", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn one(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path(id): Path<String>,
) -> Result<Json<PipelineDetail>, Problem> {
    detail(&state, &viewer, &id).await.map(Json)
}

/// Pipeline `id` if `viewer` may see it (the API's, and the dashboard's).
pub async fn detail(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
) -> Result<PipelineDetail, Problem> {
    let missing = || Problem::not_found("pipeline");
    let id: i64 = id.parse().map_err(|_| missing())?;
    let record = state.store.pipeline(id).await?.ok_or_else(missing)?;
    let p = decode(&record)?;
    if !viewer.can_see(&p.repo) {
        return Err(missing());
    }
    detail_of(Source::of(state), &p).await
}

/// Everything about `p` (for `shipgate status` too).
pub async fn detail_of(src: Source<'_>, p: &Pipeline) -> Result<PipelineDetail, Problem> {
    let cfg = config_of(src.store, &mut HashMap::new(), &p.repo).await?;
    let report = gates::evaluate(p, &cfg);
    let audit = src.store.audit_of_pipeline(p.id, AUDIT_SHOWN).await?;
    Ok(PipelineDetail {
        summary: summary(src, p, &report.waiting_for),
        gates: report
            .gates
            .iter()
            .map(|g| GateView {
                gate: g.kind.key().to_owned(),
                label: g.name().to_owned(),
                passed: g.passed,
                failed: g.failed,
                evidence: g.state.clone(),
                waiting: g.waiting.clone(),
            })
            .collect(),
        readiness: report.readiness.score,
        timeline: p
            .timeline
            .iter()
            .map(|(phase, at)| PhaseChange {
                phase: phase.name().to_owned(),
                at: rfc3339(*at),
            })
            .collect(),
        test_runs: p.runs.iter().map(test_run_view).collect(),
        deploys: p.deploys.iter().map(deploy_view).collect(),
        health: p
            .health
            .iter()
            .map(|w| HealthView {
                environment: w.environment.name().to_owned(),
                sha: w.sha.clone(),
                url: w.url.clone(),
                started_at: rfc3339(w.started_at),
                until: rfc3339(w.until),
                outcome: match w.outcome {
                    None => "watching",
                    Some(true) => "healthy",
                    Some(false) => "unhealthy",
                }
                .to_owned(),
                probes_total: w.total,
                probes_failed: w.failed,
                probes: w
                    .recent
                    .iter()
                    .map(|r| ProbeView {
                        at: rfc3339(r.at),
                        ok: r.ok,
                        status: r.status,
                        latency_ms: r.latency_ms,
                        error: r.error.clone(),
                    })
                    .collect(),
            })
            .collect(),
        rollback: p.rollback.as_ref().map(|r| RollbackView {
            environment: r.environment.name().to_owned(),
            from_sha: r.from_sha.clone(),
            to_sha: r.to_sha.clone(),
            reason: r.reason.clone(),
            by: r.by.clone(),
            trigger: r.trigger.map(|t| t.name().to_owned()),
            at: rfc3339(r.at),
            done: r.done,
        }),
        audit: audit
            .into_iter()
            .map(|e| AuditView {
                at: rfc3339(e.at),
                actor: e.actor,
                action: e.action,
                detail: e.detail,
            })
            .collect(),
    })
}

/// A repository's configuration as shipgate last read it (the API never asks GitHub); the
/// defaults if it has not been read.
async fn config_of(
    store: &Store,
    known: &mut HashMap<String, LoadedConfig>,
    repo: &str,
) -> Result<LoadedConfig, Problem> {
    if let Some(cfg) = known.get(repo) {
        return Ok(cfg.clone());
    }
    let cfg = store
        .repo_config(repo)
        .await?
        .and_then(|(json, _)| serde_json::from_str(&json).ok())
        .unwrap_or_default();
    known.insert(repo.to_owned(), cfg);
    Ok(known[repo].clone())
}

fn summary(src: Source<'_>, p: &Pipeline, waiting_for: &str) -> PipelineSummary {
    let web = src.github_url.as_str().trim_end_matches('/');
    PipelineSummary {
        id: p.id,
        repository: p.repo.clone(),
        issue: p.issue,
        name: p.name(),
        title: p.title.clone(),
        phase: p.phase.name().to_owned(),
        paused: p.paused,
        blocked_by: p
            .blockers
            .iter()
            .map(|b| b.reason.clone().unwrap_or_else(|| format!("@{}", b.by)))
            .collect(),
        waiting_for: waiting_for.to_owned(),
        priority: p.priority.map(|pr| format!("{pr:?}").to_lowercase()),
        html_url: format!("{web}/{}/issues/{}", p.repo, p.issue),
        created_at: rfc3339(p.created_at),
        updated_at: rfc3339(p.updated_at),
        last_deploy: p
            .deploys
            .iter()
            .rev()
            .find(|d| d.state != DeployState::Superseded)
            .map(deploy_view),
    }
}

fn deploy_view(d: &Deploy) -> DeployView {
    let (state, reason) = match &d.state {
        DeployState::Creating => ("creating", None),
        DeployState::Dispatching => ("dispatching", None),
        DeployState::Running => ("running", None),
        DeployState::Succeeded => ("succeeded", None),
        DeployState::Failed(why) => ("failed", Some(why.clone())),
        DeployState::NotStarted(why) => ("not_started", Some(why.clone())),
        DeployState::Superseded => ("superseded", None),
    };
    DeployView {
        environment: d.environment.name().to_owned(),
        kind: d.kind().to_owned(),
        sha: d.sha.clone(),
        state: state.to_owned(),
        reason,
        started_at: rfc3339(d.started_at),
        finished_at: d.finished_at.map(rfc3339),
        run_url: d.url.clone(),
        requested_by: d.requested_by.clone(),
        evidence: d.evidence.as_ref().map(EvidenceView::from),
    }
}

fn test_run_view(r: &TestRun) -> TestRunView {
    let (state, reason) = match &r.state {
        RunState::Dispatching => ("dispatching", None),
        RunState::Running => ("running", None),
        RunState::Succeeded => ("succeeded", None),
        RunState::Failed(why) => ("failed", Some(why.clone())),
        RunState::TimedOut => ("timed_out", None),
        RunState::NotDispatched(why) => ("not_dispatched", Some(why.clone())),
        RunState::Superseded => ("superseded", None),
    };
    TestRunView {
        workflow: r.workflow.clone(),
        sha: r.sha.clone(),
        state: state.to_owned(),
        reason,
        run_id: r.run_id,
        run_url: r.url.clone(),
        attempt: r.attempt,
        dispatched_at: rfc3339(r.dispatched_at),
        finished_at: r.finished_at.map(rfc3339),
        evidence: r.evidence.as_ref().map(EvidenceView::from),
    }
}
