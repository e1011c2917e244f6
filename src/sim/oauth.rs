//! Signing in with the App, as github.com does it (the web application flow for GitHub
//! Apps): `GET /login/oauth/authorize` shows a sign-in page, posting it sends the browser
//! back to `redirect_uri` with a code and the `state`, and `POST /login/oauth/access_token`
//! exchanges the code — once, within ten minutes, with the App's client secret and the PKCE
//! verifier — for a user access token. Like GitHub, a refused exchange answers 200 with
//! `{"error": …}`. Every refusal is also recorded as a violation.
//! The simulator insists on PKCE (S256) and `state`, which GitHub recommends: shipgate must
//! send both.
//! Must not: sign anyone in without the page being posted.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Inner;
use super::state::PendingSignIn;

const CODE_LIFETIME_MINUTES: i64 = 10;

fn params(text: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(text).into_owned().collect()
}

fn refuse(inner: &Inner, status: StatusCode, why: String) -> Response {
    inner
        .state
        .lock()
        .expect("simulator state")
        .violations
        .push(format!("sign-in: {why}"));
    (status, why).into_response()
}

/// Answers the sign-in pages and the token exchange; `None` for any other path.
pub(crate) fn handle(
    inner: &Inner,
    method: &http::Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> Option<Response> {
    match (method.as_str(), path) {
        ("GET", "/login/oauth/authorize") => Some(page(inner, query)),
        ("POST", "/login/oauth/authorize") => Some(authorize(inner, query, body)),
        ("POST", "/login/oauth/access_token") => Some(exchange(inner, body)),
        _ => None,
    }
}

/// What is wrong with an authorize request, if anything.
fn check_authorize(inner: &Inner, q: &HashMap<String, String>) -> Option<String> {
    let client_id = inner
        .state
        .lock()
        .expect("simulator state")
        .app
        .client_id
        .clone();
    if q.get("client_id") != Some(&client_id) {
        return Some("unknown client_id".into());
    }
    if !q
        .get("redirect_uri")
        .and_then(|u| url::Url::parse(u).ok())
        .is_some_and(|u| matches!(u.scheme(), "http" | "https"))
    {
        return Some("redirect_uri must be an http(s) URL".into());
    }
    if q.get("state").is_none_or(|s| s.len() < 16) {
        return Some("no unguessable state".into());
    }
    if q.get("code_challenge_method").map(String::as_str) != Some("S256")
        || q.get("code_challenge").is_none_or(|c| c.len() != 43)
    {
        return Some("no S256 PKCE code_challenge".into());
    }
    None
}

fn page(inner: &Inner, query: &str) -> Response {
    let q = params(query.as_bytes());
    if let Some(why) = check_authorize(inner, &q) {
        return refuse(inner, StatusCode::BAD_REQUEST, why);
    }
    let name = inner
        .state
        .lock()
        .expect("simulator state")
        .app
        .name
        .clone();
    let action = format!("/login/oauth/authorize?{query}");
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in to GitHub</title></head>\
         <body><main><h1>Sign in to GitHub to continue to {name}</h1>\
         <form method=\"post\" action=\"{action}\">\
         <label for=\"login\">Username</label> <input id=\"login\" name=\"login\" autocomplete=\"username\" required>\
         <button type=\"submit\">Authorize</button></form></main></body></html>",
        name = html_escape::encode_text(&name),
        action = html_escape::encode_double_quoted_attribute(&action),
    ))
    .into_response()
}

fn authorize(inner: &Inner, query: &str, body: &[u8]) -> Response {
    let q = params(query.as_bytes());
    if let Some(why) = check_authorize(inner, &q) {
        return refuse(inner, StatusCode::BAD_REQUEST, why);
    }
    let Some(login) = params(body).remove("login").filter(|l| !l.is_empty()) else {
        return refuse(
            inner,
            StatusCode::BAD_REQUEST,
            "the page was posted without a username".into(),
        );
    };
    let code = format!("{:020x}", rand::random::<u128>());
    {
        let mut s = inner.state.lock().expect("simulator state");
        s.ensure_user(&login);
        let created_at = s.now();
        s.sign_in_codes.insert(
            code.clone(),
            PendingSignIn {
                login,
                redirect_uri: q["redirect_uri"].clone(),
                challenge: q["code_challenge"].clone(),
                created_at,
            },
        );
    }
    let mut target = url::Url::parse(&q["redirect_uri"]).expect("checked above");
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q["state"]);
    (
        StatusCode::FOUND,
        [(http::header::LOCATION, target.to_string())],
    )
        .into_response()
}

fn exchange(inner: &Inner, body: &[u8]) -> Response {
    let p = params(body);
    let field = |k: &str| p.get(k).map(String::as_str).unwrap_or_default();
    let refused = |error: &str, description: &str| {
        inner
            .state
            .lock()
            .expect("simulator state")
            .violations
            .push(format!("sign-in: token exchange refused: {description}"));
        axum::Json(json!({
            "error": error,
            "error_description": description,
            "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors",
        }))
        .into_response()
    };
    let mut s = inner.state.lock().expect("simulator state");
    if field("client_id") != s.app.client_id || field("client_secret") != s.app.client_secret {
        drop(s);
        return refused(
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        );
    }
    let now = s.now();
    let Some(pending) = s.sign_in_codes.remove(field("code")) else {
        drop(s);
        return refused(
            "bad_verification_code",
            "The code passed is incorrect or expired.",
        );
    };
    if now - pending.created_at > chrono::Duration::minutes(CODE_LIFETIME_MINUTES) {
        drop(s);
        return refused(
            "bad_verification_code",
            "The code passed is incorrect or expired.",
        );
    }
    if field("redirect_uri") != pending.redirect_uri {
        drop(s);
        return refused(
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
        );
    }
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(field("code_verifier").as_bytes()));
    if challenge != pending.challenge {
        drop(s);
        return refused(
            "bad_verification_code",
            "The code_verifier does not match the code_challenge.",
        );
    }
    let token = s.issue_user_token(&pending.login);
    axum::Json(json!({
        "access_token": token,
        "expires_in": 28800,
        "refresh_token": format!("ghr_{:032x}", rand::random::<u128>()),
        "refresh_token_expires_in": 15897600,
        "scope": "",
        "token_type": "bearer",
    }))
    .into_response()
}
