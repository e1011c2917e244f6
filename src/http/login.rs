//! Signing in with GitHub, for the dashboard and the API in a browser: GitHub's web flow for
//! GitHub Apps with `state` and PKCE (S256), then a session.
//!
//! `GET /login` stores the sign-in (the state's SHA-256, the PKCE verifier encrypted) and
//! binds it to the browser with a short-lived `shipgate_login` cookie, then sends the browser
//! to GitHub. `GET /login/callback` accepts only the state of that same browser, once, within
//! ten minutes, exchanges the code (with the verifier) for a user access token, and starts a
//! session: the `shipgate_session` cookie (random; HttpOnly, SameSite=Lax, Secure when
//! `SHIPGATE_PUBLIC_URL` is https) names a row holding the cookie's SHA-256, the login and the
//! token encrypted with XChaCha20-Poly1305 under a key derived from the App's private key.
//! The session ends when the token does (8 h on GitHub), or at `POST /logout`.
//! Must not: put a token, code or verifier in a URL, a log or the database in clear; follow a
//! `return_to` off shipgate.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::github::oauth::{self, OAuthError};
use crate::github::users::viewer;
use crate::store::millis;
use crate::store::sessions::{LoginState, Session};

/// The cookie binding a sign-in under way to the browser that began it.
pub const LOGIN_COOKIE: &str = "shipgate_login";
/// The cookie naming a signed-in browser's session.
pub const SESSION_COOKIE: &str = "shipgate_session";
/// How long a sign-in may take, in ms.
const LOGIN_WINDOW_MS: i64 = 10 * 60 * 1000;
/// A session's life when GitHub's token does not expire, in ms.
const SESSION_MS: i64 = 8 * 60 * 60 * 1000;

/// 32 random bytes, base64url.
fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// The S256 PKCE challenge of `verifier` (RFC 7636).
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Encrypts `plain` under `key`: base64url of a random 24-byte nonce and the ciphertext.
pub fn seal(key: &[u8; 32], plain: &str) -> String {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; 24];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(&XNonce::from(nonce), plain.as_bytes())
        .expect("encryption of a short text cannot fail");
    URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat())
}

/// Decrypts what [`seal`] made under the same key; none if it was altered or the key changed.
pub fn open(key: &[u8; 32], sealed: &str) -> Option<SecretString> {
    let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    let (nonce, text) = raw.split_at_checked(24)?;
    let nonce: [u8; 24] = nonce.try_into().ok()?;
    let plain = XChaCha20Poly1305::new(key.into())
        .decrypt(&XNonce::from(nonce), text)
        .ok()?;
    String::from_utf8(plain).ok().map(SecretString::from)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Secure on https; `max_age` in seconds (0
/// removes it).
fn set_cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: i64) -> HeaderValue {
    let built = cookie::Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(state.settings.public_url.scheme() == "https")
        .max_age(cookie::time::Duration::seconds(max_age))
        .build();
    HeaderValue::from_str(&built.to_string()).expect("cookie values are header-safe")
}

/// A short page for a person whose sign-in did not work (text, nothing from the request).
fn refused(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{why}\n\nSign in again: /login\n"),
    )
        .into_response()
}

/// Only a path on shipgate itself: starting with one `/`, and without a backslash or a
/// control character (browsers drop tabs and newlines from URLs, so `/\t/evil.example`
/// would lead off shipgate).
fn safe_return(path: Option<&str>) -> String {
    match path {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.chars().any(|c| c == '\\' || c.is_control()) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

/// `GET /login`: to GitHub, to sign in. Each one stores a row for ten minutes, so a client
/// may begin as many a minute as it may have tokens checked (`api::auth`).
pub async fn start(
    State(state): State<AppState>,
    Query(q): Query<LoginQuery>,
    request: axum::http::request::Parts,
) -> Response {
    if !state
        .viewers
        .may_ask_github(super::api::auth::client_of(&request.extensions))
    {
        let mut busy = refused(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ins from this address; try again in a minute.",
        );
        busy.headers_mut()
            .insert("retry-after", HeaderValue::from_static("60"));
        return busy;
    }
    let Some(app) = state.github.load_full() else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "shipgate has no GitHub App yet: finish setup first.",
        );
    };
    let Some(client_id) = app.credentials.client_id.clone() else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in needs the App's client ID and secret (GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET).",
        );
    };
    let (login_state, verifier) = (random_token(), random_token());
    let now = millis(state.clock.now());
    let saved = state
        .store
        .save_login_state(
            &login_state,
            &LoginState {
                verifier: seal(app.credentials.key.derived_secret(), &verifier),
                return_to: safe_return(q.return_to.as_deref()),
            },
            now,
            now - LOGIN_WINDOW_MS,
        )
        .await;
    if let Err(e) = saved {
        tracing::warn!(error = %e, "sign-in: the database could not be written");
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is not reachable.",
        );
    }
    let target = oauth::authorize_url(
        &state.settings.github_url,
        &client_id,
        callback_url(&state).as_str(),
        &login_state,
        &challenge(&verifier),
    );
    let mut response =
        (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            &state,
            LOGIN_COOKIE,
            &login_state,
            "/login",
            LOGIN_WINDOW_MS / 1000,
        ),
    );
    response
}

fn callback_url(state: &AppState) -> url::Url {
    state
        .settings
        .public_url
        .join("login/callback")
        .expect("a relative path joins")
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /login/callback`: GitHub sends the browser back with a code; a session starts.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    if q.error.is_some() {
        return refused(StatusCode::UNAUTHORIZED, "GitHub did not sign you in.");
    }
    let (Some(code), Some(sent_state)) = (q.code, q.state) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "GitHub's answer has no code or state.",
        );
    };
    let ours = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !bool::from(ours.as_bytes().ct_eq(sent_state.as_bytes())) {
        return refused(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started in this browser.",
        );
    }
    let Some(app) = state.github.load_full() else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "shipgate has no GitHub App yet.",
        );
    };
    let (Some(client_id), Some(secret)) = (
        app.credentials.client_id.clone(),
        app.credentials.client_secret.clone(),
    ) else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in needs GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET.",
        );
    };
    let key = app.credentials.key.derived_secret();
    let now = millis(state.clock.now());
    let pending = match state
        .store
        .take_login_state(&sent_state, now - LOGIN_WINDOW_MS)
        .await
    {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "This sign-in expired or was already used.",
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "sign-in: the database could not be read");
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is not reachable.",
            );
        }
    };
    let Some(verifier) = open(key, &pending.verifier) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "This sign-in can no longer be finished.",
        );
    };
    let access = match oauth::exchange(
        &state.settings.github_url,
        &client_id,
        &secret,
        &code,
        callback_url(&state).as_str(),
        verifier.expose_secret(),
    )
    .await
    {
        Ok(access) => access,
        Err(e @ OAuthError::Refused(_)) => {
            tracing::info!(error = %e, "sign-in refused by GitHub");
            return refused(StatusCode::UNAUTHORIZED, "GitHub refused the sign-in.");
        }
        Err(e) => {
            tracing::warn!(error = %e, "sign-in: GitHub could not be reached");
            return refused(StatusCode::BAD_GATEWAY, "GitHub could not be reached.");
        }
    };
    let who = match viewer(&app, &access.token).await {
        Ok(who) => who,
        Err(e) => {
            tracing::warn!(error = %e, "sign-in: GitHub could not say who signed in");
            return refused(StatusCode::BAD_GATEWAY, "GitHub could not say who you are.");
        }
    };
    let lifetime = access
        .expires_in
        .map_or(SESSION_MS, |s| (s as i64).saturating_mul(1000));
    let id = random_token();
    let session = Session {
        login: who.login.clone(),
        token: seal(key, access.token.expose_secret()),
        expires_at: now + lifetime,
    };
    if let Err(e) = state.store.save_session(&id, &session, now).await {
        tracing::warn!(error = %e, "sign-in: the session could not be stored");
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is not reachable.",
        );
    }
    tracing::info!(login = %who.login, "signed in");
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, pending.return_to)],
    )
        .into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, &id, "/", lifetime / 1000),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(&state, LOGIN_COOKIE, "", "/login", 0),
    );
    response
}

/// `POST /logout`: ends the session.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = state.store.end_session(&id).await
    {
        tracing::warn!(error = %e, "sign-out: the database could not be written");
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is not reachable.",
        );
    }
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", "/", 0),
    );
    response
}

/// The user access token of the session a request's cookie names, if it is live.
pub async fn session_token(state: &AppState, headers: &HeaderMap) -> Option<SecretString> {
    let id = cookie(headers, SESSION_COOKIE)?;
    let app = state.github.load_full()?;
    let now = millis(state.clock.now());
    let session = state.store.session(&id, now).await.ok()??;
    open(app.credentials.key.derived_secret(), &session.token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_text_opens_only_with_its_key_and_unaltered() {
        let key = [7u8; 32];
        let sealed = seal(&key, "ghu_secret");
        assert!(!sealed.contains("ghu_secret"));
        assert_ne!(sealed, seal(&key, "ghu_secret"), "a fresh nonce each time");
        assert_eq!(open(&key, &sealed).unwrap().expose_secret(), "ghu_secret");
        assert!(open(&[8u8; 32], &sealed).is_none());
        let mut altered = sealed.into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert!(open(&key, &String::from_utf8(altered).unwrap()).is_none());
    }

    #[test]
    fn pkce_challenge_is_rfc_7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn return_to_stays_on_shipgate() {
        assert_eq!(safe_return(Some("/pipelines/7")), "/pipelines/7");
        for off in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/x\\..\\/evil.example",
            "evil",
        ] {
            assert_eq!(safe_return(Some(off)), "/", "{off}");
        }
        assert_eq!(safe_return(None), "/");
    }
}
