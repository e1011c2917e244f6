//! `GET /metrics`: the Prometheus scrape (see `crate::metrics` for what it holds).
//!
//! Open to whoever reaches the port unless `SHIPGATE_METRICS_TOKEN` is set; then only
//! `Authorization: Bearer <token>` is answered (compared in constant time), and anything
//! else gets 401 with `WWW-Authenticate: Bearer`.
//! Must not: show secrets, logins or titles (the metrics hold none), or write anything.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::{AppState, problem};
use crate::store::millis;

pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.settings.metrics_token {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(sent.as_bytes().ct_eq(token.expose_secret().as_bytes())) {
            let mut refused = problem(
                StatusCode::UNAUTHORIZED,
                "/metrics needs Authorization: Bearer <SHIPGATE_METRICS_TOKEN>",
            );
            refused
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return refused;
        }
    }
    let now = millis(state.clock.now());
    match state.metrics.render(&state.store, now).await {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the database could not be read");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not reachable",
            )
        }
    }
}
