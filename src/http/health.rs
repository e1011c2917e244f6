//! `GET /healthz` (the process answers) and `GET /readyz` (and its database does).
//! Must not: do more than one cheap query (load balancers call these often).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{AppState, problem};

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not reachable",
            )
        }
    }
}
