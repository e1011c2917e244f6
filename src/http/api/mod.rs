//! The JSON API under `/api/v1/`, and its OpenAPI 3.1 document at `/api/openapi.json`,
//! generated from the handlers by `utoipa` (never written by hand).
//!
//! Every read needs a signed-in GitHub user (`auth`: a user access token for the App in
//! `Authorization: Bearer`), and shows only the repositories that user can read on GitHub.
//! A pipeline of another repository is answered 404, as if it did not exist. The one write,
//! `POST /api/v1/evidence` (`evidence`), is made by workflow runs with their Actions OIDC
//! token instead.
//! Errors are `application/problem+json` (RFC 9457): `type`, `title`, `status`, `detail`,
//! and for a refused token the `claim` that failed.
//! Must not: change anything but a run's evidence, or call GitHub except to learn who is
//! asking (or, for evidence, the repository's id and its configuration, through the
//! resolver's cache).

pub mod auth;
pub mod dora;
pub mod evidence;
pub mod pipelines;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "shipgate",
        description = "Pipelines from a feature issue to production: their gates, deploys, health and audit, and each repository's DORA metrics. Every call needs `Authorization: Bearer <GitHub user access token>`; a user sees the repositories they can read on GitHub.",
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "github_user",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "actions_oidc",
            SecurityScheme::Http(
                utoipa::openapi::security::HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A GitHub Actions OIDC token of the run that reports (the job needs `permissions: id-token: write`)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The API's routes, and its document served at `/api/openapi.json`.
pub fn router() -> Router<AppState> {
    let (router, document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(pipelines::list))
        .routes(routes!(pipelines::one))
        .routes(routes!(dora::metrics))
        .routes(
            routes!(evidence::report).layer(axum::extract::DefaultBodyLimit::max(
                evidence::MAX_BODY_BYTES,
            )),
        )
        .split_for_parts();
    let document: Arc<str> = document
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
        .into();
    router.route(
        "/api/openapi.json",
        get(move || {
            let document = document.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    document.to_string(),
                )
            }
        }),
    )
}

/// An error answer (RFC 9457 problem details).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// For a refused OIDC token: the claim that failed (`aud`, `exp`, `run_id`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: detail.into(),
            claim: None,
        }
    }

    /// 404 for what does not exist or the caller may not see (the same answer for both).
    pub fn not_found(what: &str) -> Self {
        Problem::new(StatusCode::NOT_FOUND, format!("no {what} you can see"))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self).expect("a problem serialises");
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<crate::store::StoreError> for Problem {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::warn!(error = %e, "API: the database could not be read");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database is not reachable",
        )
    }
}

/// A time in ms as RFC 3339 (UTC, seconds).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
