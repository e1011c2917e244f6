//! github.com pages the simulator plays: the new-App page of the manifest flow (and, in
//! `oauth`, signing in with the App). A browser
//! (or a test acting as one) posts the manifest form here and is redirected to the App's
//! `redirect_url` with a one-hour code, as on GitHub.
//! Must not: serve API routes (those go through the REST description).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use serde_json::Value;

use super::Inner;
use super::state::PendingManifest;

fn is_new_app_page(path: &str) -> bool {
    path == "/settings/apps/new"
        || (path.starts_with("/organizations/") && path.ends_with("/settings/apps/new"))
}

/// Problems with a manifest that GitHub would show instead of creating the App.
fn manifest_problems(m: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for key in ["name", "url", "redirect_url"] {
        if !m[key].is_string() {
            problems.push(format!("manifest `{key}` must be a string"));
        }
    }
    if !m
        .pointer("/hook_attributes/url")
        .is_some_and(Value::is_string)
    {
        problems.push("manifest `hook_attributes.url` must be a string".into());
    }
    if !m["default_permissions"].is_object() {
        problems.push("manifest `default_permissions` must be an object".into());
    }
    if let Some(events) = m["default_events"].as_array() {
        let perms = m["default_permissions"].as_object();
        let needs = |event: &str| -> Option<&'static str> {
            Some(match event {
                "issues" | "issue_comment" | "sub_issues" | "issue_dependencies" => "issues",
                "pull_request" | "pull_request_review" => "pull_requests",
                "check_run" | "check_suite" => "checks",
                "workflow_run" | "workflow_job" => "actions",
                "deployment" | "deployment_status" | "deployment_protection_rule" => "deployments",
                "push" => "contents",
                _ => return None,
            })
        };
        for e in events.iter().filter_map(Value::as_str) {
            if let Some(p) = needs(e)
                && !perms.is_some_and(|perms| perms.contains_key(p))
            {
                problems.push(format!("event `{e}` needs the `{p}` permission"));
            }
        }
    } else {
        problems.push("manifest `default_events` must be an array".into());
    }
    problems
}

pub(crate) fn handle(
    inner: &Inner,
    method: &http::Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> Option<Response> {
    if let Some(response) = super::oauth::handle(inner, method, path, query, body) {
        return Some(response);
    }
    if path == "/favicon.ico" {
        // A browser on the sign-in page asks for it; github.com has one, this has none.
        return Some(StatusCode::NO_CONTENT.into_response());
    }
    if !is_new_app_page(path) {
        return None;
    }
    if method != http::Method::POST {
        return Some((StatusCode::METHOD_NOT_ALLOWED, "post the manifest form").into_response());
    }
    let state_param = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned());
    let manifest = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "manifest")
        .and_then(|(_, v)| serde_json::from_str::<Value>(&v).ok());
    let mut s = inner.state.lock().expect("simulator state");
    let Some(manifest) = manifest else {
        s.violations
            .push("new-App page: the form has no JSON `manifest` field".into());
        return Some((StatusCode::UNPROCESSABLE_ENTITY, "manifest missing").into_response());
    };
    let problems = manifest_problems(&manifest);
    if !problems.is_empty() {
        s.violations
            .extend(problems.iter().map(|p| format!("new-App page: {p}")));
        return Some((StatusCode::UNPROCESSABLE_ENTITY, problems.join("; ")).into_response());
    }
    let mut raw = [0u8; 10];
    rand::rng().fill_bytes(&mut raw);
    let code = hex::encode(raw);
    let created_at = s.now();
    s.manifest_codes.insert(
        code.clone(),
        PendingManifest {
            manifest: manifest.clone(),
            created_at,
        },
    );
    let mut target = url::Url::parse(manifest["redirect_url"].as_str().unwrap_or_default()).ok()?;
    target.query_pairs_mut().append_pair("code", &code);
    if let Some(state) = state_param {
        target.query_pairs_mut().append_pair("state", &state);
    }
    Some(
        (
            StatusCode::FOUND,
            [(http::header::LOCATION, target.to_string())],
            "redirecting to the App's redirect_url",
        )
            .into_response(),
    )
}
