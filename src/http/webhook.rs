//! `POST /api/github/webhooks`: verify, store, answer. Nothing else happens on this path.
//!
//! Checks, in this order: an App configured (503 until setup is done), a signature header
//! (401), a declared length of at most 25 MiB (413), a body that arrives in time (408:
//! `SHIPGATE_BODY_TIMEOUT` in all, no pause longer than `SHIPGATE_HEADER_TIMEOUT`), within
//! 25 MiB (413) and within the client's share of the memory for bodies (503), the signature
//! over it (401), the `X-GitHub-Event` and `X-GitHub-Delivery` headers (400), a JSON object
//! body (400). Then the delivery is committed through the group-commit writer and answered
//! 202 (503 if the database refused). A redelivery is stored and answered like any delivery;
//! the worker recognises its GUID and does not process it twice.
//! Must not: log the body or the secret, or answer 2xx before the delivery is committed.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use secrecy::ExposeSecret;
use serde_json::json;
use tracing::Instrument;

use super::serve::Peer;
use super::shares::{Client, Shares};
use super::{AppState, problem};
use crate::github::envelope::{Envelope, Handling, handling};
use crate::github::signature::{self, ClaimedSignature, Verifier};
use crate::settings::IntakeLimits;
use crate::store::codec;
use crate::store::deliveries::NewDelivery;
use crate::store::group_commit::WriteError;

/// GitHub caps payloads at 25 MB; shipgate refuses anything larger, before reading a byte of
/// it when `Content-Length` says so, else as soon as the count passes the cap.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;
/// Bodies being received share this much memory ...
pub const BODY_BUDGET_BYTES: usize = 512 * 1024 * 1024;
/// ... of which one client (see `shares::Client`) may hold this much: two full-size bodies
/// and more, while a client needs eight addresses to take it all ...
pub const BODY_BUDGET_PER_CLIENT_BYTES: usize = BODY_BUDGET_BYTES / 8;
/// ... counted in units of this size.
pub const BUDGET_UNIT: usize = 64 * 1024;
/// Headers kept with every delivery (besides event and GUID, which have columns).
const KEPT_HEADERS: [&str; 4] = [
    "x-github-hook-id",
    "x-github-hook-installation-target-id",
    "x-github-hook-installation-target-type",
    "user-agent",
];

/// `POST /api/github/webhooks`; every answer is counted by event and status.
pub async fn receive(
    State(state): State<AppState>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let metrics = state.metrics.clone();
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let answer = answer(state, peer, headers, body).await;
    metrics.delivery(event.as_deref(), answer.status().as_u16());
    answer
}

async fn answer(
    state: AppState,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
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
    if declared_len.is_some_and(|n| n > MAX_BODY_BYTES) {
        return too_large();
    }

    // A request that did not come through `serve` (none does in shipgate) shares one client.
    let client = peer.map_or(Client::V4(0), |Extension(peer)| peer.client);
    let limits = state.settings.intake;
    let verifier = Verifier::new(app.credentials.webhook_secret.expose_secret().as_bytes());
    let reading = read_body(
        body,
        verifier,
        declared_len,
        &state.body_budget,
        client,
        limits,
    );
    let (body, verifier) = match tokio::time::timeout(limits.body_timeout, reading).await {
        Err(_) => {
            return problem(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    limits.body_timeout.as_secs()
                ),
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

/// Reads and hashes the body. The memory it is kept in counts against the client's share of
/// the memory for bodies, so concurrent unauthenticated uploads cannot take what GitHub's
/// deliveries need: the buffer grows only by units taken from the share (doubling, so a
/// large body is copied few times, but never past its declared length), so it is never more
/// than twice the bytes that arrived, whatever `Content-Length` says. A body that pauses
/// longer than the header timeout is given up.
async fn read_body(
    body: Body,
    mut verifier: Verifier,
    declared_len: Option<usize>,
    budget: &Arc<Shares>,
    client: Client,
    limits: IntakeLimits,
) -> Result<(Bytes, Verifier), Response> {
    let mut kept: Vec<u8> = Vec::new();
    let mut share = budget.empty(client);
    let most_units = declared_len
        .unwrap_or(MAX_BODY_BYTES)
        .min(MAX_BODY_BYTES)
        .div_ceil(BUDGET_UNIT);
    let mut stream = body.into_data_stream();
    loop {
        let chunk = match tokio::time::timeout(limits.header_timeout, stream.next()).await {
            Err(_) => {
                return Err(problem(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request body stopped arriving for {} s",
                        limits.header_timeout.as_secs()
                    ),
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(problem(
                    StatusCode::BAD_REQUEST,
                    "the request body could not be read",
                ));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        let needed = kept.len() + chunk.len();
        if needed > MAX_BODY_BYTES {
            return Err(too_large());
        }
        if needed > kept.capacity() {
            let units = (share.units() * 2)
                .min(most_units)
                .max(needed.div_ceil(BUDGET_UNIT));
            if !share.grow(units - share.units()) {
                return Err(problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shipgate is receiving more from your address, or in all, than it holds at once; redeliver this later",
                ));
            }
            kept.reserve_exact(units * BUDGET_UNIT - kept.len());
        }
        verifier.update(&chunk);
        kept.extend_from_slice(&chunk);
    }
    Ok((Bytes::from(kept), verifier))
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
