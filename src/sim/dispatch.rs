//! The simulator's request pipeline: route by GitHub's REST description, validate the request,
//! authenticate, run the operation's handler, validate the answer, record everything, and
//! hand the webhooks the operation caused to the sender.

use std::sync::Arc;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Inner;
use super::auth::{self, Caller};
use super::handlers::{self, Call, Need, Reply};
use super::state::RecordedRequest;
use super::{web, webhooks};

pub fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(handle).with_state(inner)
}

const DOCS: &str = "https://docs.github.com/rest";

fn answer(reply: Reply) -> Response {
    let mut response = match reply.body {
        Some(body) => (
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK),
            axum::Json(body),
        )
            .into_response(),
        None => StatusCode::from_u16(reply.status)
            .unwrap_or(StatusCode::NO_CONTENT)
            .into_response(),
    };
    for (k, v) in reply.headers {
        if let (Ok(name), Ok(value)) = (k.parse::<http::HeaderName>(), HeaderValue::from_str(&v)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let query_text = parts.uri.query().unwrap_or("").to_owned();
    let bytes = match to_bytes(body, 16 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };

    if let Some(response) = web::handle(&inner, &method, &path, &query_text, &bytes) {
        return response;
    }

    let query: Vec<(String, String)> = url::form_urlencoded::parse(query_text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let body: Option<Value> = if bytes.is_empty() {
        None
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                let reply = Reply::error(400, "Problems parsing JSON");
                return finish(
                    &inner,
                    &method,
                    &path,
                    &query_text,
                    None,
                    None,
                    reply,
                    vec![format!("{method} {path}: body is not JSON ({e})")],
                );
            }
        }
    };

    let Some((op, params)) = inner.spec.route(&method, &path) else {
        let reply = Reply::error(404, "Not Found");
        let v = format!("{method} {path}: no such operation in GitHub's REST description");
        return finish(
            &inner,
            &method,
            &path,
            &query_text,
            None,
            body,
            reply,
            vec![v],
        );
    };
    let op_id = op.id.clone();

    let problems = inner.spec.check_request(op, &params, &query, body.as_ref());
    if !problems.is_empty() {
        let reply = Reply::new(
            422,
            json!({"message": "Invalid request.", "errors": problems, "documentation_url": DOCS}),
        );
        let violations = problems
            .iter()
            .map(|p| format!("{method} {path} ({op_id}): {p}"))
            .collect();
        return finish(
            &inner,
            &method,
            &path,
            &query_text,
            Some(op_id),
            body,
            reply,
            violations,
        );
    }

    let mut state = inner.state.lock().expect("simulator state");
    if let Some(i) = state.faults.iter().position(|f| f.operation == op_id) {
        let fault = state.faults.remove(i);
        drop(state);
        let mut reply = Reply::error(fault.status, "injected failure");
        reply.headers = fault.headers;
        return finish(
            &inner,
            &method,
            &path,
            &query_text,
            Some(op_id),
            body,
            reply,
            Vec::new(),
        );
    }

    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = match auth::identify(&state, authorization) {
        Ok(c) => c,
        Err(refused) => {
            drop(state);
            let reply = Reply::error(401, &refused.0);
            let v = format!(
                "{method} {path} ({op_id}): credentials refused: {}",
                refused.0
            );
            return finish(
                &inner,
                &method,
                &path,
                &query_text,
                Some(op_id),
                body,
                reply,
                vec![v],
            );
        }
    };
    let need = handlers::need(&op_id);
    let call = Call {
        params,
        query,
        body: body.clone(),
        caller: caller.clone(),
    };
    if let Err(refusal) = authorize(&state, need, &call) {
        drop(state);
        let v = format!("{method} {path} ({op_id}): {}", refusal.1);
        let reply = Reply::error(refusal.0, &refusal.1);
        return finish(
            &inner,
            &method,
            &path,
            &query_text,
            Some(op_id),
            body,
            reply,
            vec![v],
        );
    }

    let Some(handler) = handlers::lookup(&op_id) else {
        drop(state);
        let reply = Reply::error(501, "The simulator does not implement this operation yet");
        let v = format!("{method} {path}: the simulator does not implement {op_id}");
        return finish(
            &inner,
            &method,
            &path,
            &query_text,
            Some(op_id),
            body,
            reply,
            vec![v],
        );
    };
    let mut reply = match handler(&mut state, &call) {
        Ok(r) | Err(r) => r,
    };
    let mut violations: Vec<String> = inner
        .spec
        .check_response(op, reply.status, reply.body.as_ref())
        .into_iter()
        .map(|p| {
            format!("simulator answer to {method} {path} ({op_id}) is not GitHub's shape: {p}")
        })
        .collect();
    if let Caller::Installation(_) = caller {
        reply.headers.extend(rate_limit_headers(&state));
    }
    let outgoing = std::mem::take(&mut state.outbox);
    violations.extend(webhooks::check_all(&inner.spec, &outgoing));
    let redeliveries: Vec<_> = std::mem::take(&mut state.redeliveries)
        .into_iter()
        .filter_map(|id| state.hook_deliveries.iter().find(|d| d.id == id).cloned())
        .collect();
    drop(state);
    inner.hooks.enqueue(&inner, outgoing);
    for delivery in &redeliveries {
        webhooks::redeliver(&inner, delivery);
    }
    finish(
        &inner,
        &method,
        &path,
        &query_text,
        Some(op_id),
        body,
        reply,
        violations,
    )
}

/// Checks the caller may use the operation on the resource it names.
fn authorize(state: &super::state::SimState, need: Need, call: &Call) -> Result<(), (u16, String)> {
    match (need, &call.caller) {
        (Need::Nothing, _) => Ok(()),
        (Need::AppJwt, Caller::App) => Ok(()),
        (Need::AppJwt, _) => Err((
            401,
            "this endpoint needs an App JWT (Authorization: Bearer <jwt>)".into(),
        )),
        (Need::Installation, Caller::Installation(id)) => {
            let Some(installation) = state.installations.get(id) else {
                return Err((401, "Bad credentials (unknown installation)".into()));
            };
            if let (Some(owner), Some(repo)) = (call.params.get("owner"), call.params.get("repo")) {
                let full = format!("{owner}/{repo}");
                if state.repos.contains_key(&full) && !installation.repositories.contains(&full) {
                    return Err((404, format!("the installation does not cover {full}")));
                }
            }
            if let Some(org) = call.params.get("org")
                && *org != installation.account
            {
                return Err((
                    404,
                    format!("the installation is not on the organisation {org}"),
                ));
            }
            Ok(())
        }
        (Need::Installation, _) => Err((
            401,
            "this endpoint needs an installation access token".into(),
        )),
    }
}

/// GitHub's rate-limit headers (the simulator counts every request of the last hour).
fn rate_limit_headers(state: &super::state::SimState) -> Vec<(String, String)> {
    let hour_ago = state.now() - chrono::Duration::hours(1);
    let used = state.requests.iter().filter(|r| r.at > hour_ago).count() as u64;
    vec![
        ("x-ratelimit-limit".into(), "5000".into()),
        (
            "x-ratelimit-remaining".into(),
            5000u64.saturating_sub(used + 1).to_string(),
        ),
        ("x-ratelimit-used".into(), (used + 1).to_string()),
        (
            "x-ratelimit-reset".into(),
            (state.now().timestamp() + 3600).to_string(),
        ),
    ]
}

#[allow(clippy::too_many_arguments)]
fn finish(
    inner: &Inner,
    method: &http::Method,
    path: &str,
    query: &str,
    operation: Option<String>,
    body: Option<Value>,
    reply: Reply,
    violations: Vec<String>,
) -> Response {
    let mut state = inner.state.lock().expect("simulator state");
    for v in &violations {
        tracing::warn!(violation = %v, "GitHub simulator: request does not conform");
    }
    state.violations.extend(violations);
    let at = state.now();
    state.requests.push(RecordedRequest {
        method: method.to_string(),
        path: path.to_owned(),
        query: query.to_owned(),
        operation,
        status: reply.status,
        body,
        at,
    });
    drop(state);
    answer(reply)
}
