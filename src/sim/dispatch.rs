//! The simulator's request pipeline: route by GitHub's REST description, validate the request,
//! authenticate, run the operation's handler, validate the answer, record everything, and
//! hand the webhooks the operation caused to the sender.
//! Must not: answer a request without recording it.

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
use super::{permissions, web, webhooks};

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

/// What the simulator received, as it is recorded.
struct Received {
    method: http::Method,
    path: String,
    query: String,
    operation: Option<String>,
    body: Option<Value>,
    /// Carried out, and never to be answered (see `Simulator::hang_after`).
    hang: bool,
    peer: Option<std::net::SocketAddr>,
}

impl Received {
    /// A refusal GitHub would give, recorded as a violation of the test that caused it.
    fn refused(&self, status: u16, message: &str, violation: String) -> (Reply, Vec<String>) {
        (Reply::error(status, message), vec![violation])
    }

    fn describe(&self) -> String {
        match &self.operation {
            Some(op) => format!("{} {} ({op})", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, 16 * 1024 * 1024).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let query_text = parts.uri.query().unwrap_or("").to_owned();
    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(response) = super::oidc::handle(
        &inner,
        &parts.method,
        parts.uri.path(),
        &query_text,
        authorization,
    ) {
        return response;
    }
    if let Some(response) =
        web::handle(&inner, &parts.method, parts.uri.path(), &query_text, &bytes)
    {
        return response;
    }
    let mut received = Received {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: query_text,
        operation: None,
        body: None,
        hang: false,
        peer: parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0),
    };
    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (reply, violations) = serve(&inner, &mut received, &bytes, authorization);
    let hang = received.hang;
    record(&inner, received, &reply, violations);
    if hang {
        // Until the caller hangs up (hyper drops this future with the connection).
        std::future::pending::<()>().await;
    }
    answer(reply)
}

/// Everything between receiving a request and answering it.
fn serve(
    inner: &Arc<Inner>,
    received: &mut Received,
    bytes: &[u8],
    authorization: Option<&str>,
) -> (Reply, Vec<String>) {
    if received.method == http::Method::POST && received.path == "/graphql" {
        let op = super::graphql::OPERATION;
        received.operation = Some(op.into());
        received.body = serde_json::from_slice(bytes).ok();
        let mut state = inner.state.lock().expect("simulator state");
        let (reply, violations) = super::graphql::serve(&mut state, bytes, authorization);
        let installation = matches!(
            auth::identify(&state, authorization),
            Ok(Caller::Installation(_))
        );
        return finish(inner, state, received, op, installation, reply, violations);
    }
    let Some((op, params)) = inner.spec.route(&received.method, &received.path) else {
        let v = format!(
            "{}: no such operation in GitHub's REST description",
            received.describe()
        );
        return received.refused(404, "Not Found", v);
    };
    received.operation = Some(op.id.clone());

    // Credentials first, as GitHub checks them before it reads the request.
    let mut state = inner.state.lock().expect("simulator state");
    let caller = match auth::identify(&state, authorization) {
        Ok(c) => c,
        Err(refused) => {
            let v = format!(
                "{}: credentials refused: {}",
                received.describe(),
                refused.0
            );
            return received.refused(401, &refused.0, v);
        }
    };
    if !bytes.is_empty() {
        match serde_json::from_slice(bytes) {
            Ok(v) => received.body = Some(v),
            Err(e) => {
                let v = format!("{}: body is not JSON ({e})", received.describe());
                return received.refused(400, "Problems parsing JSON", v);
            }
        }
    }
    let query: Vec<(String, String)> = url::form_urlencoded::parse(received.query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let call = Call {
        params,
        query,
        body: received.body.clone(),
        caller,
    };
    if let Err((status, message)) = authorize(&state, handlers::need(&op.id), &call) {
        let v = format!("{}: {message}", received.describe());
        return received.refused(status, &message, v);
    }
    if let Caller::Installation(_) = call.caller
        && let Some((permission, level)) = permissions::required(&op.id, &received.method)
        && !permissions::granted(&state.app.permissions, permission, level)
    {
        let v = format!(
            "{}: the App lacks the `{permission}: {level}` permission",
            received.describe()
        );
        return received.refused(403, "Resource not accessible by integration", v);
    }
    let problems = inner
        .spec
        .check_request(op, &call.params, &call.query, call.body.as_ref());
    if !problems.is_empty() {
        let reply = Reply::new(
            422,
            json!({"message": "Invalid request.", "errors": problems, "documentation_url": DOCS}),
        );
        let described = received.describe();
        return (
            reply,
            problems
                .iter()
                .map(|p| format!("{described}: {p}"))
                .collect(),
        );
    }

    if let Caller::Installation(installation) = call.caller
        && CREATES_CONTENT.contains(&op.id.as_str())
        && let Some(throttle) = state.content_throttle.as_mut()
        && !throttle.take(installation)
    {
        let mut reply = Reply::new(403, secondary_rate_limit_body());
        reply.headers = rate_limit_headers(&state, &op.id);
        return (reply, Vec::new());
    }
    if let Some(reply) = fault_before(&mut state, &op.id) {
        return (reply, Vec::new());
    }
    let Some(handler) = handlers::lookup(&op.id) else {
        let v = format!(
            "{}: the simulator does not implement this operation",
            received.describe()
        );
        return received.refused(
            501,
            "The simulator does not implement this operation yet",
            v,
        );
    };

    let (Ok(reply) | Err(reply)) = handler(&mut state, &call);
    let described = received.describe();
    let violations: Vec<String> = inner
        .spec
        .check_response(op, reply.status, reply.body.as_ref())
        .into_iter()
        .map(|p| format!("simulator answer to {described} is not GitHub's shape: {p}"))
        .collect();
    let installation = matches!(call.caller, Caller::Installation(_));
    finish(
        inner,
        state,
        received,
        &op.id,
        installation,
        reply,
        violations,
    )
}

/// A fault injected to answer in place of the operation (once the request was checked),
/// taken.
pub(super) fn fault_before(state: &mut super::state::SimState, operation: &str) -> Option<Reply> {
    let fault = take_fault(state, operation, false)?;
    let mut reply = match fault.body {
        Some(body) => Reply::new(fault.status, body),
        None => Reply::error(fault.status, "injected failure"),
    };
    reply.headers = fault.headers;
    if fault.status == 403 && reply.headers.is_empty() {
        reply.headers = rate_limit_headers(state, operation);
    }
    Some(reply)
}

/// The first fault set for `operation` (before it is carried out, or `after`), unless it
/// lets this request through first (`skip`).
fn take_fault(
    state: &mut super::state::SimState,
    operation: &str,
    after: bool,
) -> Option<super::state::Fault> {
    let i = state
        .faults
        .iter()
        .position(|f| f.operation == operation && f.after == after)?;
    if state.faults[i].skip > 0 {
        state.faults[i].skip -= 1;
        return None;
    }
    Some(state.faults.remove(i))
}

/// After the operation was carried out: a fault injected to lose its answer, the rate-limit
/// headers an installation gets, and the webhooks it set off sent.
fn finish(
    inner: &Arc<Inner>,
    mut state: std::sync::MutexGuard<'_, super::state::SimState>,
    received: &mut Received,
    operation: &str,
    installation: bool,
    mut reply: Reply,
    mut violations: Vec<String>,
) -> (Reply, Vec<String>) {
    if let Some(fault) = take_fault(&mut state, operation, true) {
        received.hang = fault.hang;
        reply = Reply::error(
            fault.status,
            "injected failure after the request was carried out",
        );
    }
    // A fault's own rate-limit headers (a GraphQL fault comes through here) are its answer.
    let faulted = reply
        .headers
        .iter()
        .any(|(k, _)| k.starts_with("x-ratelimit-"));
    if installation && !faulted {
        reply.headers.extend(rate_limit_headers(&state, operation));
    }
    let outgoing = std::mem::take(&mut state.outbox);
    violations.extend(webhooks::check_all(&inner.spec, &outgoing));
    let outgoing = webhooks::hold_back(&mut state, outgoing);
    let redeliveries: Vec<_> = std::mem::take(&mut state.redeliveries)
        .into_iter()
        .filter_map(|id| state.hook_deliveries.iter().find(|d| d.id == id).cloned())
        .collect();
    drop(state);
    inner.hooks.enqueue(inner, outgoing);
    for delivery in &redeliveries {
        webhooks::redeliver(inner, delivery);
    }
    (reply, violations)
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
        (Need::User, Caller::User(_)) => Ok(()),
        (Need::User, _) => Err((
            401,
            "this endpoint needs a user access token (Authorization: Bearer ghu_…)".into(),
        )),
    }
}

/// Operations that create content, which GitHub's secondary limits count: those shipgate
/// uses (shipgate's own rule, `github::limits::creates_content`, goes by path and also counts
/// the others, such as review comments).
const CREATES_CONTENT: [&str; 4] = [
    "issues/create-comment",
    "issues/create",
    "pulls/create",
    "actions/create-workflow-dispatch",
];

/// GitHub's answer to a request over a secondary rate limit (403; no `retry-after`).
pub fn secondary_rate_limit_body() -> Value {
    json!({
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.",
        "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits",
        "status": "403"
    })
}

/// GitHub's `x-ratelimit-*` headers of one of two budgets, each counting its own requests
/// of the last hour: `x-ratelimit-resource` `graphql` for GraphQL, `core` for REST.
fn rate_limit_headers(state: &super::state::SimState, operation: &str) -> Vec<(String, String)> {
    let graphql = operation == super::graphql::OPERATION;
    let (resource, reported) = if graphql {
        ("graphql", state.graphql_rate_limit_remaining)
    } else {
        ("core", state.rate_limit_remaining)
    };
    let hour_ago = state.now() - chrono::Duration::hours(1);
    let used = match reported {
        Some(remaining) => 4999u64.saturating_sub(remaining),
        None => state
            .requests
            .iter()
            .filter(|r| r.at > hour_ago)
            .filter(|r| (r.operation.as_deref() == Some(super::graphql::OPERATION)) == graphql)
            .count() as u64,
    };
    vec![
        ("x-ratelimit-limit".into(), "5000".into()),
        (
            "x-ratelimit-remaining".into(),
            5000u64.saturating_sub(used + 1).to_string(),
        ),
        ("x-ratelimit-used".into(), (used + 1).to_string()),
        ("x-ratelimit-resource".into(), resource.into()),
        (
            "x-ratelimit-reset".into(),
            (state.now().timestamp() + 3600).to_string(),
        ),
    ]
}

/// Records the request, its answer and any violation it caused.
fn record(inner: &Inner, received: Received, reply: &Reply, violations: Vec<String>) {
    let mut state = inner.state.lock().expect("simulator state");
    for v in &violations {
        tracing::warn!(violation = %v, "GitHub simulator: request does not conform");
    }
    state.violations.extend(violations);
    let at = state.now();
    state.requests.push(RecordedRequest {
        method: received.method.to_string(),
        path: received.path,
        query: received.query,
        operation: received.operation,
        status: reply.status,
        body: received.body,
        at,
        peer: received.peer,
    });
}
