//! Verifying a GitHub Actions OIDC token, as GitHub documents it (docs.github.com: "About
//! security hardening with OpenID Connect" and "Configuring OpenID Connect in cloud
//! providers"): an RS256 signature by a key of the issuer's JWKS — found through
//! `<issuer>/.well-known/openid-configuration`, cached by `kid`, fetched again for a `kid`
//! it does not know at most once a minute — then `iss`, `aud`, `exp`, `nbf` and `iat` with
//! [`LEEWAY_S`] of clock skew. What the token says about the run is the caller's to match.
//!
//! Must not: accept another algorithm than RS256, or let a stream of unknown `kid`s make it
//! fetch the keys more than once a minute.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use tokio::sync::Mutex;

/// GitHub.com's Actions issuer (GitHub Enterprise Server: `https://HOST/_services/token`).
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Clock skew allowed on `exp`, `nbf` and `iat`, in s.
pub const LEEWAY_S: i64 = 60;

/// The issuer's keys are fetched again for an unknown `kid` at most this often.
const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// Keys kept from one JWKS; GitHub publishes a handful.
const MAX_KEYS: usize = 32;

/// A discovery document or key set larger than this is refused, in bytes.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// A token longer than this is refused unread, in bytes (GitHub's are about 1.5 KB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused: the claim (or `signature`, `kid`, `token`) that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{claim}: {why}")]
pub struct TokenRefused {
    pub claim: &'static str,
    pub why: String,
}

fn refused(claim: &'static str, why: impl Into<String>) -> OidcError {
    OidcError::Refused(TokenRefused {
        claim,
        why: why.into(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The token does not hold (the caller answers 401).
    #[error(transparent)]
    Refused(TokenRefused),
    /// The issuer's keys could not be read (the caller answers 503; the reporter retries).
    #[error("the OIDC issuer's keys could not be read: {0}")]
    Issuer(String),
}

/// The claims shipgate reads from an Actions token. GitHub sends the numbers as strings.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionsClaims {
    pub repository: String,
    pub repository_id: String,
    pub run_id: String,
    pub run_attempt: String,
    pub sha: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub workflow_ref: String,
    pub event_name: String,
    pub iat: i64,
    pub nbf: Option<i64>,
    pub exp: i64,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fetched_at: Option<tokio::time::Instant>,
    /// Why the last fetch failed, while it is recent: tokens are answered 503 meanwhile (the
    /// reporter retries), not refused for a key shipgate could not read.
    failed: Option<String>,
}

/// Verifies Actions tokens for one issuer and audience.
pub struct OidcVerifier {
    issuer: String,
    audience: String,
    http: reqwest::Client,
    keys: Mutex<Keys>,
}

impl OidcVerifier {
    /// `issuer`: the `iss` tokens must carry (its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`); `audience`: the `aud` they must carry.
    pub fn new(issuer: &str, audience: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("shipgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with rustls builds");
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            audience: audience.to_owned(),
            http,
            keys: Mutex::new(Keys::default()),
        }
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The token's claims, if it was signed by the issuer, for the audience, and is valid at
    /// `now_s` (Unix seconds).
    pub async fn verify(&self, token: &str, now_s: i64) -> Result<ActionsClaims, OidcError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(refused("token", "longer than any GitHub issues"));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| refused("token", "not a JSON Web Token"))?;
        if header.alg != Algorithm::RS256 {
            return Err(refused("alg", format!("{:?}, not RS256", header.alg)));
        }
        let kid = header
            .kid
            .ok_or_else(|| refused("kid", "the token names no signing key"))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        // Times are checked below against shipgate's clock, not the library's.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        let data =
            jsonwebtoken::decode::<ActionsClaims>(token, &key, &validation).map_err(|e| match e
                .kind()
            {
                ErrorKind::InvalidSignature => {
                    refused("signature", "not signed by the issuer's key")
                }
                ErrorKind::InvalidIssuer => {
                    refused("iss", format!("not issued by {}", self.issuer))
                }
                ErrorKind::InvalidAudience => {
                    refused("aud", format!("not for the audience {}", self.audience))
                }
                ErrorKind::MissingRequiredClaim(c) if c == "iss" => {
                    refused("iss", "the token names no issuer")
                }
                ErrorKind::MissingRequiredClaim(c) if c == "aud" => {
                    refused("aud", "the token names no audience")
                }
                ErrorKind::MissingRequiredClaim(c) if c == "exp" => {
                    refused("exp", "the token has no expiry")
                }
                ErrorKind::Json(_) => refused("token", "lacks a claim an Actions token has"),
                _ => refused("token", e.to_string()),
            })?;
        let c = data.claims;
        if c.exp + LEEWAY_S < now_s {
            return Err(refused("exp", "the token has expired"));
        }
        if c.nbf.is_some_and(|nbf| nbf - LEEWAY_S > now_s) {
            return Err(refused("nbf", "the token is not valid yet"));
        }
        if c.iat - LEEWAY_S > now_s {
            return Err(refused("iat", "the token was issued in the future"));
        }
        Ok(c)
    }

    /// The issuer's key `kid`: from the cache, or the issuer's JWKS (fetched again at most
    /// once per [`REFRESH_EVERY`]).
    async fn key(&self, kid: &str) -> Result<DecodingKey, OidcError> {
        let mut keys = self.keys.lock().await;
        if let Some(key) = keys.by_kid.get(kid) {
            return Ok(key.clone());
        }
        let recently = keys
            .fetched_at
            .is_some_and(|at| at.elapsed() < REFRESH_EVERY);
        if !recently {
            keys.fetched_at = Some(tokio::time::Instant::now());
            match self.fetch_keys().await {
                Ok(fetched) => {
                    keys.by_kid = fetched;
                    keys.failed = None;
                }
                Err(OidcError::Issuer(why)) => {
                    keys.failed = Some(why.clone());
                    return Err(OidcError::Issuer(why));
                }
                Err(e) => return Err(e),
            }
        } else if let Some(why) = &keys.failed {
            return Err(OidcError::Issuer(why.clone()));
        }
        keys.by_kid
            .get(kid)
            .cloned()
            .ok_or_else(|| refused("kid", format!("the issuer has no key `{kid}`")))
    }

    async fn fetch_keys(&self) -> Result<HashMap<String, DecodingKey>, OidcError> {
        let discovery: Discovery = self
            .get_json(&format!("{}/.well-known/openid-configuration", self.issuer))
            .await?;
        if discovery.issuer.trim_end_matches('/') != self.issuer {
            return Err(OidcError::Issuer(format!(
                "the discovery document names the issuer {}",
                discovery.issuer
            )));
        }
        let set: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        let keys: HashMap<String, DecodingKey> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                Some((kid, DecodingKey::from_jwk(jwk).ok()?))
            })
            .take(MAX_KEYS)
            .collect();
        tracing::info!(issuer = %self.issuer, keys = keys.len(), "read the OIDC issuer's keys");
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let fail = |e: String| OidcError::Issuer(format!("{url}: {e}"));
        let mut answer = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        if !answer.status().is_success() {
            return Err(fail(format!("answered {}", answer.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(fail("larger than 256 KiB".into()));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))
    }
}
