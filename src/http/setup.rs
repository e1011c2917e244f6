//! First-run setup through GitHub's App-manifest flow (as Probot does it), guarded so that
//! only the operator can complete it.
//!
//! With no App configured, shipgate writes a one-time setup token to a 0600 file beside the
//! `.env` file and logs where it is (never the token). `GET /setup?token=…` shows a button
//! that posts `app-manifest.json` (URLs filled from `SHIPGATE_PUBLIC_URL`) to GitHub's new-App
//! page with a one-time `state`, also set as an HttpOnly cookie. GitHub sends the same browser
//! back to `GET /setup/callback?code=…&state=…`; shipgate checks the state against the cookie
//! and the database, converts the code into the App's credentials, writes them to the `.env`
//! file (0600; the key to a 0600 file beside it) and acts as that App without a restart.
//! Must not: run once an App is configured (that would let anyone replace it), adopt two Apps
//! (callbacks are serialised), or show or log the credentials it receives.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http::Method;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::AppState;
use super::pages::{escape, page};
use crate::env_file;
use crate::github::app::{GitHubApp, anonymous_client};
use crate::github::credentials::{AppCredentials, AppKey};
use crate::github::manifest::{Conversion, manifest_for};
use crate::github::rest;

/// How long a `state` stays valid; GitHub's manifest codes live one hour too.
const STATE_LIFETIME_MS: i64 = 60 * 60 * 1000;
const STATE_COOKIE: &str = "shipgate_setup_state";

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// What proves the operator started setup, and keeps it to one App.
pub struct SetupGuard {
    token: SecretString,
    /// Where the token is written for the operator to read.
    pub token_file: PathBuf,
    adopting: tokio::sync::Mutex<()>,
}

impl SetupGuard {
    /// A fresh token, written (0600) to `shipgate-setup-token` beside the env file.
    pub fn create(env_file: &std::path::Path) -> std::io::Result<Self> {
        let token = random_hex(16);
        let token_file = env_file_dir(env_file).join("shipgate-setup-token");
        env_file::write_private(&token_file, format!("{token}\n").as_bytes())?;
        Ok(Self {
            token: SecretString::from(token),
            token_file,
            adopting: tokio::sync::Mutex::new(()),
        })
    }

    fn accepts(&self, token: Option<&str>) -> bool {
        token.is_some_and(|t| same_secret(t.trim(), self.token.expose_secret()))
    }
}

fn env_file_dir(env_file: &std::path::Path) -> PathBuf {
    env_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[derive(Deserialize)]
pub struct SetupQuery {
    token: Option<String>,
    org: Option<String>,
}

fn already_configured(state: &AppState) -> Option<Response> {
    let app = state.github.load_full()?;
    let name = app
        .credentials
        .slug
        .clone()
        .unwrap_or_else(|| app.credentials.app_id.to_string());
    Some(
        (
            StatusCode::CONFLICT,
            page(
                "shipgate is already set up",
                &format!(
                    "<p>shipgate runs as GitHub App <strong>{}</strong>. To use another App, \
                     change the <code>GITHUB_*</code> settings and restart.</p>",
                    escape(&name)
                ),
            ),
        )
            .into_response(),
    )
}

fn valid_org(org: &str) -> bool {
    !org.is_empty() && org.len() <= 39 && org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (
        status,
        page(
            "Setup did not finish",
            &format!(
                "<p>{}</p><p>Start again from the setup link.</p>",
                escape(message)
            ),
        ),
    )
        .into_response()
}

pub async fn show(State(state): State<AppState>, Query(query): Query<SetupQuery>) -> Response {
    if let Some(done) = already_configured(&state) {
        return done;
    }
    let Some(guard) = state.setup.as_ref() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "Setup is not available.");
    };
    if !guard.accepts(query.token.as_deref()) {
        return (
            StatusCode::FORBIDDEN,
            page(
                "Set up shipgate",
                // The file's name only: its full path tells a visitor about the machine.
                &format!(
                    "<p>Setup needs the one-time token shipgate wrote to the file \
                     <code>{}</code> beside its settings (shipgate's log names the full path), \
                     on the machine it runs on: open <code>/setup?token=&lt;that token&gt;</code>.</p>",
                    escape(
                        &guard
                            .token_file
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    )
                ),
            ),
        )
            .into_response();
    }
    let org = query.org.filter(|o| !o.is_empty());
    if org.as_deref().is_some_and(|o| !valid_org(o)) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "That is not a GitHub organisation name.",
        );
    }
    let one_time = random_hex(24);
    let now = crate::store::millis(state.clock.now());
    if let Err(e) = state
        .store
        .save_setup_state(&one_time, now, now - STATE_LIFETIME_MS)
        .await
    {
        tracing::error!(error = %e, "could not store a setup state");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is not reachable.",
        );
    }
    let target = match &org {
        Some(org) => format!("organizations/{org}/settings/apps/new"),
        None => "settings/apps/new".to_owned(),
    };
    let mut action = state
        .settings
        .github_url
        .join(&target)
        .expect("a relative path joins");
    action.query_pairs_mut().append_pair("state", &one_time);
    let manifest = manifest_for(&state.settings.public_url).to_string();
    let owner = match &org {
        Some(org) => format!("the organisation <strong>{}</strong>", escape(org)),
        None => "your personal account".to_owned(),
    };
    let secure = if state.settings.public_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{STATE_COOKIE}={one_time}; HttpOnly; SameSite=Lax; Path=/setup; Max-Age={}{secure}",
        STATE_LIFETIME_MS / 1000
    );
    let body = page(
        "Set up shipgate",
        &format!(
            "<p>shipgate acts on GitHub as a GitHub App. This button registers one for {owner} \
             with the permissions and events in <code>app-manifest.json</code>; GitHub then \
             sends you back here and shipgate starts at once.</p>\
             <form method=\"post\" action=\"{action}\">\
             <input type=\"hidden\" name=\"manifest\" value=\"{manifest}\">\
             <button type=\"submit\">Create the GitHub App</button></form>\
             <p>Webhooks will go to <code>{hook}</code> — make sure GitHub can reach \
             <code>SHIPGATE_PUBLIC_URL</code>.</p>\
             <form method=\"get\" action=\"/setup\"><input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <label>Register it for an organisation instead: <input name=\"org\" placeholder=\"organisation\"></label> \
             <button type=\"submit\">Use organisation</button></form>",
            action = escape(action.as_str()),
            manifest = escape(&manifest),
            token = escape(query.token.as_deref().unwrap_or_default()),
            hook = escape(
                state
                    .settings
                    .public_url
                    .join("api/github/webhooks")
                    .expect("joins")
                    .as_str()
            ),
        ),
    );
    ([(header::SET_COOKIE, cookie)], body).into_response()
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
}

fn state_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == STATE_COOKIE)
        .map(|(_, value)| value.to_owned())
}

pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    if let Some(done) = already_configured(&state) {
        return done;
    }
    let Some(guard) = state.setup.clone() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "Setup is not available.");
    };
    let (Some(code), Some(one_time)) = (query.code, query.state) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "GitHub's answer lacks the code or the state.",
        );
    };
    if code.is_empty()
        || code.len() > 100
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The code in GitHub's answer is malformed.",
        );
    }
    // The state must come back to the browser that started setup...
    if !state_cookie(&headers).is_some_and(|c| same_secret(&c, &one_time)) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "This setup was started in another browser, or its link is stale.",
        );
    }
    // ... and be one shipgate issued, unused and less than an hour old.
    let now = crate::store::millis(state.clock.now());
    match state
        .store
        .take_setup_state(&one_time, now - STATE_LIFETIME_MS)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "This setup link is unknown, used or expired (states last one hour and work once).",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "could not check a setup state");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is not reachable.",
            );
        }
    }
    // One App only: callbacks arriving together take turns, and the second finds one set up.
    let _adopting = guard.adopting.lock().await;
    if let Some(done) = already_configured(&state) {
        return done;
    }
    let conversion = match convert(&state, &code).await {
        Ok(c) => c,
        Err(message) => return refuse(StatusCode::BAD_GATEWAY, &message),
    };
    match adopt(&state, conversion).await {
        Ok((name, html_url)) => {
            let _ = std::fs::remove_file(&guard.token_file);
            page(
                "shipgate is set up",
                &format!(
                    "<p>shipgate now runs as GitHub App <strong>{}</strong>; its credentials are in \
                     <code>{}</code> (mode 0600).</p><p>Next: <a href=\"{}\">install the App</a> on \
                     the repositories it should guard.</p>",
                    escape(&name),
                    escape(&state.settings.env_file.display().to_string()),
                    escape(&format!("{html_url}/installations/new")),
                ),
            )
            .into_response()
        }
        Err(message) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &message),
    }
}

async fn convert(state: &AppState, code: &str) -> Result<Conversion, String> {
    let client = anonymous_client(&state.settings.github_api_url).map_err(|e| e.to_string())?;
    let answer = rest::call::<()>(
        &client,
        "convert the App manifest code",
        Method::POST,
        &format!("/app-manifests/{code}/conversions"),
        None,
        state.clock.now(),
    )
    .await
    .map_err(|e| {
        tracing::warn!(error = %e, "manifest conversion failed");
        format!("GitHub did not turn the code into an App ({e}). Codes work once, for one hour.")
    })?;
    answer
        .json("convert the App manifest code")
        .map_err(|e| e.to_string())
}

/// Saves the new App's credentials and switches to them.
async fn adopt(state: &AppState, c: Conversion) -> Result<(String, String), String> {
    let key = AppKey::from_pem(&c.pem)
        .map_err(|_| "GitHub's private key could not be read.".to_owned())?;
    let webhook_secret = c
        .webhook_secret
        .ok_or_else(|| "GitHub returned no webhook secret for the App.".to_owned())?;
    let slug = c.slug.clone().unwrap_or_else(|| c.id.to_string());
    let key_path = env_file::key_path_beside(&state.settings.env_file, &slug);
    let written = env_file::write_private(&key_path, c.pem.as_bytes()).and_then(|()| {
        let key_path = key_path.to_string_lossy();
        let id = c.id.to_string();
        env_file::set_vars(
            &state.settings.env_file,
            &[
                ("GITHUB_APP_ID", id.as_str()),
                ("GITHUB_APP_SLUG", slug.as_str()),
                ("GITHUB_CLIENT_ID", c.client_id.as_str()),
                ("GITHUB_CLIENT_SECRET", c.client_secret.as_str()),
                ("GITHUB_WEBHOOK_SECRET", webhook_secret.as_str()),
                ("GITHUB_PRIVATE_KEY_PATH", key_path.as_ref()),
            ],
        )
    });
    if let Err(e) = written {
        tracing::error!(error_kind = %e.kind(), "could not write the App credentials");
        return Err(format!(
            "The App was created on GitHub but its credentials could not be saved ({}). \
             Download a new private key from the App's settings page and configure it by hand.",
            e.kind()
        ));
    }
    let credentials = AppCredentials {
        app_id: c.id,
        key,
        webhook_secret: SecretString::from(webhook_secret),
        client_id: Some(c.client_id),
        client_secret: Some(SecretString::from(c.client_secret)),
        slug: Some(slug),
    };
    let app = GitHubApp::new(
        credentials,
        &state.settings.github_api_url,
        state.clock.clone(),
        state.settings.content_pacing,
        state.metrics.clone(),
    )
    .map_err(|e| e.to_string())?;
    state.github.store(Some(Arc::new(app)));
    tracing::info!(
        app_id = c.id,
        "GitHub App configured through the manifest flow"
    );
    Ok((c.name, c.html_url))
}
