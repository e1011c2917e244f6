//! shipgate's HTTP surface: the listening socket and its limits (`serve`, `shares`), webhook
//! ingest, first-run setup, health, metrics, the JSON API (`api`).
//!
//! Owns: routes, the shared request state, and the shape of error answers (JSON with a
//! `message` a person can act on).
//! Must not: call GitHub or run pipeline logic on the webhook path — ingest stores and answers.

pub mod api;
pub mod dashboard;
pub mod health;
pub mod login;
pub mod metrics;
pub mod pages;
pub mod serve;
pub mod setup;
pub mod shares;
pub mod webhook;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::clock::Clock;
use crate::github::LiveApp;
use crate::settings::Settings;
use crate::store::Store;
use crate::store::group_commit::DeliveryWriter;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub writer: DeliveryWriter,
    pub github: Arc<LiveApp>,
    pub settings: Arc<Settings>,
    pub clock: Arc<dyn Clock>,
    /// Present while no App is configured: the first-run setup's token and lock.
    pub setup: Option<Arc<setup::SetupGuard>>,
    /// Memory webhook bodies being received may use, in all and per client (see `webhook`).
    pub body_budget: Arc<shares::Shares>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Signed-in users seen recently (the API's and dashboard's sign-in).
    pub viewers: Arc<api::auth::Viewers>,
    /// What `POST /api/v1/evidence` verifies tokens with and records reports through.
    pub evidence: Arc<EvidenceIntake>,
}

/// The token verifier and the recorder behind `POST /api/v1/evidence`.
pub struct EvidenceIntake {
    pub verifier: crate::github::oidc::OidcVerifier,
    pub desk: crate::engine::evidence::EvidenceDesk,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/github/webhooks", post(webhook::receive))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::scrape))
        .route("/", get(dashboard::index))
        .route("/pipelines/{id}", get(dashboard::pipeline))
        .route(
            "/repositories/{owner}/{repo}/dora",
            get(dashboard::dora_page),
        )
        .route("/setup", get(setup::show))
        .route("/setup/callback", get(setup::callback))
        .route("/login", get(login::start))
        .route("/login/callback", get(login::callback))
        .route("/logout", post(login::logout))
        .merge(api::router())
        .with_state(state)
}

/// An error answer: the status and a JSON body `{"message": …}`.
pub fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(serde_json::json!({ "message": message.into() })),
    )
        .into_response()
}
