//! `POST /api/github/webhooks`: verify, store, answer. Nothing else happens on this path.
//!
//! Checks, in this order: a signature header (401), the signature over a body of at most
//! 25 MiB (401, then 413), the `X-GitHub-Event` and `X-GitHub-Delivery` headers (400), a JSON
//! object body (400). Then the delivery is committed through the group-commit writer and
//! answered 202 (503 if the database refused). A redelivery is stored and answered like any
//! delivery; the worker recognises its GUID and does not process it twice.
//! Must not: log the body or the secret, or answer 2xx before the delivery is committed.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use secrecy::ExposeSecret;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use super::{AppState, problem};
use crate::github::envelope::{Envelope, Handling, handling};
use crate::github::signature::{self, ClaimedSignature, Verifier};
use crate::store::codec;
use crate::store::deliveries::NewDelivery;
use crate::store::group_commit::WriteError;

/// GitHub caps payloads at 25 MB; shipgate refuses anything larger.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;
/// Past the cap the body is still read and hashed (not kept), so a wrong signature gets its
/// 401 first; beyond this much shipgate stops reading and answers 413.
const MAX_HASHED_BYTES: usize = 4 * MAX_BODY_BYTES;
/// How long a body may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Buffers start at most this large, whatever `Content-Length` says.
const PREALLOCATE_AT_MOST: usize = 1024 * 1024;
/// Bodies being received share this much memory ...
pub const BODY_BUDGET_BYTES: usize = 512 * 1024 * 1024;
/// ... counted in units of this size.
pub const BUDGET_UNIT: usize = 64 * 1024;
/// Headers kept with every delivery (besides event and GUID, which have columns).
const KEPT_HEADERS: [&str; 4] = [
    "x-github-hook-id",
    "x-github-hook-installation-target-id",
    "x-github-hook-installation-target-type",
    "user-agent",
];

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let Some(app) = state.github.load_full() else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "shipgate has no GitHub App configured yet; finish the setup at /setup",
        );
    };
    let Some(sig_header) = headers.get(signature::HEADER) else {
        return problem(
            StatusCode::UNAUTHORIZED,
            "missing X-Hub-Signature-256 header",
        );
    };
    let Some(claimed) = sig_header.to_str().ok().and_then(ClaimedSignature::parse) else {
        return problem(
            StatusCode::UNAUTHORIZED,
            "malformed X-Hub-Signature-256 header",
        );
    };
    let declared_len = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared_len.is_some_and(|n| n > MAX_HASHED_BYTES) {
        return too_large();
    }

    let verifier = Verifier::new(app.credentials.webhook_secret.expose_secret().as_bytes());
    let read = tokio::time::timeout(
        BODY_TIMEOUT,
        read_body(body, verifier, declared_len, &state.body_budget),
    )
    .await;
    let (kept, total, verifier) = match read {
        Err(_) => {
            return problem(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            );
        }
        Ok(Err(refusal)) => return refusal,
        Ok(Ok(read)) => read,
    };
    if !verifier.matches(&claimed) {
        return problem(
            StatusCode::UNAUTHORIZED,
            "X-Hub-Signature-256 does not match the body; check the webhook secret",
        );
    }
    if total > MAX_BODY_BYTES {
        return too_large();
    }
    let body = kept;

    let Some(event) = header_text(&headers, "x-github-event") else {
        return problem(
            StatusCode::BAD_REQUEST,
            "missing or invalid X-GitHub-Event header",
        );
    };
    let Some(delivery_id) = header_text(&headers, "x-github-delivery") else {
        return problem(
            StatusCode::BAD_REQUEST,
            "missing or invalid X-GitHub-Delivery header",
        );
    };
    let envelope = match Envelope::parse(&body) {
        Ok(e) => e,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.to_string()),
    };

    let span = tracing::info_span!("webhook", delivery = %delivery_id, event = %event);
    store(state, event, delivery_id, envelope, &headers, body)
        .instrument(span)
        .await
}

async fn store(
    state: AppState,
    event: String,
    delivery_id: String,
    envelope: Envelope,
    headers: &HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let handled = handling(&event, envelope.action.as_deref());
    // Bodies of events shipgate never acts on are not kept.
    let stored_body =
        (handled == Handling::Process).then(|| (codec::DEFAULT, codec::DEFAULT.compress(&body)));
    let kept: serde_json::Map<String, serde_json::Value> = KEPT_HEADERS
        .iter()
        .filter_map(|name| Some((name.to_string(), json!(headers.get(*name)?.to_str().ok()?))))
        .collect();
    let delivery = NewDelivery {
        delivery_id: delivery_id.clone(),
        event: event.clone(),
        action: envelope.action.clone(),
        installation_id: envelope.installation_id,
        repository: envelope.repository,
        headers_json: serde_json::Value::Object(kept).to_string(),
        body: stored_body,
        body_len: body.len() as i64,
        received_at: crate::store::millis(state.clock.now()),
    };
    match state.writer.write(delivery).await {
        Ok(()) => {
            tracing::debug!(
                action = envelope.action.as_deref().unwrap_or(""),
                "delivery stored"
            );
            let status = match (event.as_str(), handled) {
                ("ping", _) => "pong",
                (_, Handling::Process) => "queued",
                (_, Handling::Ignore) => "ignored",
            };
            (
                StatusCode::ACCEPTED,
                Json(json!({ "status": status, "delivery": delivery_id })),
            )
                .into_response()
        }
        Err(WriteError::Closed) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "shipgate is shutting down; the delivery was not stored, redeliver it",
        ),
        Err(WriteError::Database(_)) => {
            tracing::warn!("delivery not stored: the database refused the batch");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the delivery could not be stored; it was not accepted, redeliver it",
            )
        }
    }
}

/// Reads the body, hashing all of it and keeping the first MAX_BODY_BYTES. Kept bytes count
/// against the shared budget, so concurrent unauthenticated uploads cannot exhaust memory.
async fn read_body(
    body: Body,
    mut verifier: Verifier,
    declared_len: Option<usize>,
    budget: &Arc<Semaphore>,
) -> Result<(Bytes, usize, Verifier), Response> {
    // Never trust Content-Length for an allocation.
    let mut kept = BytesMut::with_capacity(declared_len.unwrap_or(8192).min(PREALLOCATE_AT_MOST));
    let mut reserved: Vec<OwnedSemaphorePermit> = Vec::new();
    let mut total = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Err(problem(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            ));
        };
        total += chunk.len();
        if total > MAX_HASHED_BYTES {
            return Err(too_large());
        }
        verifier.update(&chunk);
        if total <= MAX_BODY_BYTES {
            let units_needed = (kept.len() + chunk.len()).div_ceil(BUDGET_UNIT);
            let units_held: usize = reserved.iter().map(|p| p.num_permits()).sum();
            if units_needed > units_held {
                let more = (units_needed - units_held) as u32;
                let Ok(permit) = budget.clone().try_acquire_many_owned(more) else {
                    return Err(problem(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "shipgate is receiving more than it can hold right now; redeliver this later",
                    ));
                };
                reserved.push(permit);
            }
            kept.extend_from_slice(&chunk);
        }
    }
    drop(reserved);
    Ok((kept.freeze(), total, verifier))
}

fn too_large() -> Response {
    problem(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("webhook bodies are limited to {MAX_BODY_BYTES} bytes"),
    )
}

/// A header that is present, visible ASCII and of a sane length.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    let ok = !value.is_empty() && value.len() <= 100 && value.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| value.to_owned())
}
