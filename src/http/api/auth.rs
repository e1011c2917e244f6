//! Who is asking: `Authorization: Bearer <token>` with a GitHub user access token for the
//! App, or the session cookie of a browser signed in at `/login` (which holds such a token),
//! checked by asking GitHub who holds it and what they can read (`github::users`).
//!
//! The answer is kept for [`CACHE_TTL`] under the SHA-256 of the token (the token itself is
//! never kept), for at most [`CACHE_ENTRIES`] tokens. A token not in the cache costs GitHub
//! requests, so each client (IPv4 address or IPv6 /64) may have [`CHECKS_PER_MINUTE`] of
//! them checked a minute (sign-ins begun at `/login` count too); past that, 429 with
//! `retry-after`.
//! Must not: log or store the token, or trust anything but GitHub's answer.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::Problem;
use crate::github::users::{Viewer, viewer};
use crate::http::AppState;
use crate::http::serve::Peer;
use crate::http::shares::Client;

/// How long GitHub's answer about a token is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// Tokens remembered at once.
pub const CACHE_ENTRIES: usize = 10_000;
/// Tokens one client may have checked with GitHub per minute.
pub const CHECKS_PER_MINUTE: u32 = 30;

/// What GitHub said about a token, and when.
type Seen = (Arc<Viewer>, Instant);

/// Signed-in users seen recently, and the pace of new checks per client.
pub struct Viewers {
    /// Keyed by the SHA-256 of the token.
    cache: Mutex<HashMap<[u8; 32], Seen>>,
    checks: DefaultKeyedRateLimiter<Client>,
}

impl Default for Viewers {
    fn default() -> Self {
        let per_minute = NonZeroU32::new(CHECKS_PER_MINUTE).expect("not zero");
        Viewers {
            cache: Mutex::default(),
            checks: RateLimiter::keyed(Quota::per_minute(per_minute)),
        }
    }
}

impl Viewers {
    fn cached(&self, key: &[u8; 32]) -> Option<Arc<Viewer>> {
        let cache = self.cache.lock().expect("viewer cache");
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(v, _)| v.clone())
    }

    /// Whether `client` may start one more check with GitHub (or sign-in) this minute. The
    /// per-client counters are pruned when there are many, so an attacker with many
    /// addresses cannot grow them without bound.
    pub fn may_ask_github(&self, client: Client) -> bool {
        if self.checks.len() > CACHE_ENTRIES {
            self.checks.retain_recent();
        }
        self.checks.check_key(&client).is_ok()
    }

    fn remember(&self, key: [u8; 32], viewer: Arc<Viewer>) {
        let mut cache = self.cache.lock().expect("viewer cache");
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(key, (viewer, Instant::now()));
    }
}

/// The client (IPv4 address or IPv6 /64) a request came from.
pub fn client_of(extensions: &axum::http::Extensions) -> Client {
    extensions
        .get::<Peer>()
        .map_or(Client::of(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), |p| p.client)
}

/// The signed-in user a request is made by.
pub struct SignedIn(pub Arc<Viewer>);

/// Why a request is not signed in (a problem answer).
pub struct NotSignedIn(Response);

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        self.0
    }
}

fn refuse(status: StatusCode, detail: &str) -> NotSignedIn {
    NotSignedIn(Problem::new(status, detail).into_response())
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = NotSignedIn;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| SecretString::from(t.to_owned()));
        let token = match bearer {
            Some(token) => token,
            None => crate::http::login::session_token(state, &parts.headers)
                .await
                .ok_or_else(|| {
                    refuse(
                        StatusCode::UNAUTHORIZED,
                        "sign in at /login, or send Authorization: Bearer <a GitHub user access token for this App>",
                    )
                })?,
        };
        let key: [u8; 32] = Sha256::digest(token.expose_secret().as_bytes()).into();
        let viewers = &state.viewers;
        if let Some(viewer) = viewers.cached(&key) {
            return Ok(SignedIn(viewer));
        }
        if !viewers.may_ask_github(client_of(&parts.extensions)) {
            let mut refused = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "too many new tokens from this address; try again in a minute",
            );
            refused
                .0
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("60"));
            return Err(refused);
        }
        let Some(app) = state.github.load_full() else {
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "shipgate has no GitHub App yet (setup is not finished)",
            ));
        };
        match viewer(&app, &token).await {
            Ok(found) => {
                let found = Arc::new(found);
                viewers.remember(key, found.clone());
                Ok(SignedIn(found))
            }
            Err(e) if matches!(e.status(), Some(401) | Some(403)) => Err(refuse(
                StatusCode::UNAUTHORIZED,
                "GitHub does not accept this token (a user access token for this App is needed)",
            )),
            Err(e) => {
                tracing::warn!(error = %e, "API: GitHub could not say who is signed in");
                Err(refuse(
                    StatusCode::BAD_GATEWAY,
                    "GitHub could not be asked who is signed in; try again",
                ))
            }
        }
    }
}
