//! `GET /api/v1/repositories/{owner}/{repo}/dora`: the four DORA metrics of a repository
//! over the last `days` (see `pipeline::dora` for the definitions).
//! Must not: answer for a repository the caller cannot read (404, as for one that does not
//! exist).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::SignedIn;
use super::{Problem, rfc3339};
use crate::engine::advance::decode;
use crate::github::users::Viewer;
use crate::http::AppState;
use crate::store::millis;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// The window: the last this many days, 1–365 (default 30).
    days: Option<i64>,
}

/// A repository's DORA metrics over a window.
#[derive(Debug, Serialize, ToSchema)]
pub struct DoraMetrics {
    /// `owner/name`.
    pub repository: String,
    pub from: String,
    pub to: String,
    pub days: i64,
    /// Production deployments that finished in the window (succeeded or failed; a
    /// rollback's redeploy is not one).
    pub deployments: u32,
    pub successful_deployments: u32,
    /// Successful production deployments per day.
    pub deployment_frequency_per_day: f64,
    /// Successful production deployments on each day of the window, oldest first.
    pub deployments_by_day: Vec<u32>,
    /// Features that reached healthy production in the window.
    pub changes: u32,
    /// Lead time for changes, trigger label to healthy production: the median, in seconds.
    pub lead_time_median_seconds: Option<f64>,
    /// Production deployments that failed or were rolled back.
    pub failed_deployments: u32,
    /// `failed_deployments / deployments` (0–1); null without deployments.
    pub change_failure_rate: Option<f64>,
    /// Production rollbacks restored in the window.
    pub restores: u32,
    /// Time to restore, rollback start to its redeploy succeeding: the median, in seconds.
    pub time_to_restore_median_seconds: Option<f64>,
}

/// The DORA metrics of one repository the caller can read.
#[utoipa::path(
    get,
    path = "/api/v1/repositories/{owner}/{repo}/dora",
    tag = "dora",
    params(
        ("owner" = String, Path, description = "The repository's owner"),
        ("repo" = String, Path, description = "The repository's name"),
        WindowQuery,
    ),
    security(("github_user" = [])),
    responses(
        (status = 200, description = "The metrics", body = DoraMetrics),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such repository the caller can see", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn metrics(
    State(state): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path((owner, repo)): Path<(String, String)>,
    query: Result<Query<WindowQuery>, QueryRejection>,
) -> Result<Json<DoraMetrics>, Problem> {
    let Query(q) = query.map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    of(&state, &viewer, &format!("{owner}/{repo}"), q.days)
        .await
        .map(Json)
}

/// The DORA metrics of `full` (`owner/name`) over the last `days` (default 30), if `viewer`
/// may see it (the API's, and the dashboard's).
pub async fn of(
    state: &AppState,
    viewer: &Viewer,
    full: &str,
    days: Option<i64>,
) -> Result<DoraMetrics, Problem> {
    let days = days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "days must be 1 to 365",
        ));
    }
    if !viewer.can_see(full) {
        return Err(Problem::not_found("repository"));
    }
    let to = millis(state.clock.now());
    let from = to - days * DAY_MS;
    let mut pipelines = Vec::new();
    for record in state.store.pipelines_of_any_case(full).await? {
        pipelines.push(decode(&record)?);
    }
    let m = crate::pipeline::dora::dora(&pipelines, from, to);
    let seconds = |ms: Option<i64>| ms.map(|ms| ms as f64 / 1000.0);
    Ok(DoraMetrics {
        repository: pipelines
            .first()
            .map_or_else(|| full.to_owned(), |p| p.repo.clone()),
        from: rfc3339(from),
        to: rfc3339(to),
        days,
        deployments: m.deployments,
        successful_deployments: m.successful_deployments,
        deployment_frequency_per_day: m.deployment_frequency_per_day,
        deployments_by_day: m.deployments_by_day,
        changes: m.changes,
        lead_time_median_seconds: seconds(m.lead_time_median_ms),
        failed_deployments: m.failed_deployments,
        change_failure_rate: m.change_failure_rate,
        restores: m.restores,
        time_to_restore_median_seconds: seconds(m.time_to_restore_median_ms),
    })
}
