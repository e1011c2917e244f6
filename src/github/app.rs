//! Acting as the GitHub App: App-JWT calls, and installation access tokens cached per
//! installation.
//!
//! Owns: the token cache. A token is reused until less than [`TOKEN_REFRESH_MARGIN`] of its
//! life is left; concurrent callers for one installation wait for a single fetch.
//! Must not: log tokens, or hand out a token it knows is about to expire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use http::Method;
use octocrab::Octocrab;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::credentials::AppCredentials;
use super::limits::{InstallationLimits, Resource, creates_content};
use super::rest::{self, Answer, FailureKind, GitHubError};
use crate::clock::Clock;
use crate::metrics::{Metrics, Wait};

/// Tokens live one hour; shipgate replaces them once less than this is left, so no request
/// ever races an expiry.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::minutes(10);

#[derive(Clone)]
struct CachedToken {
    token: SecretString,
    expires_at: DateTime<Utc>,
}

type TokenSlot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// shipgate as one GitHub App: its credentials, an HTTP client pointed at the API, and the
/// installation tokens it holds.
pub struct GitHubApp {
    pub credentials: AppCredentials,
    base: Octocrab,
    /// The same, rooted where GitHub serves GraphQL (see [`graphql_root`]).
    graphql: Octocrab,
    clock: Arc<dyn Clock>,
    tokens: Mutex<HashMap<u64, TokenSlot>>,
    limits: InstallationLimits,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApp")
            .field("app_id", &self.credentials.app_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct AccessTokenAnswer {
    token: String,
    expires_at: DateTime<Utc>,
}

/// An octocrab client without authentication, for the given API root.
pub fn anonymous_client(api_url: &Url) -> Result<Octocrab, GitHubError> {
    Octocrab::builder()
        // A GitHub that stops answering must not hold callers (and the token lock) forever.
        .set_connect_timeout(Some(std::time::Duration::from_secs(10)))
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .set_write_timeout(Some(std::time::Duration::from_secs(30)))
        .base_uri(api_url.as_str())
        .and_then(|b| b.build())
        .map_err(|e| GitHubError::Transport {
            operation: "build client",
            detail: e.to_string(),
        })
}

/// Where GitHub serves GraphQL (`POST <root>/graphql`) for the REST root `api_url`:
/// `https://api.github.com` serves both; GitHub Enterprise Server serves REST under
/// `https://HOST/api/v3` and GraphQL at `https://HOST/api/graphql` (docs.github.com:
/// "Forming calls with GraphQL", the endpoint).
pub fn graphql_root(api_url: &Url) -> Url {
    let mut root = api_url.clone();
    let path = api_url.path().trim_end_matches('/');
    if let Some(prefix) = path.strip_suffix("/api/v3") {
        root.set_path(&format!("{prefix}/api"));
    }
    root
}

impl GitHubApp {
    /// `pace_content`: space content-creating requests per installation (see `limits`).
    /// Every request and rate-limit wait is counted in `metrics`.
    pub fn new(
        credentials: AppCredentials,
        api_url: &Url,
        clock: Arc<dyn Clock>,
        pace_content: bool,
        metrics: Arc<Metrics>,
    ) -> Result<Self, GitHubError> {
        Ok(Self {
            credentials,
            base: anonymous_client(api_url)?,
            graphql: anonymous_client(&graphql_root(api_url))?,
            limits: InstallationLimits::new(clock.clone(), pace_content),
            clock,
            tokens: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// Sends one request and counts it (operation, status, time taken).
    async fn send<B: serde::Serialize + ?Sized>(
        &self,
        client: &Octocrab,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Answer, GitHubError> {
        let started = std::time::Instant::now();
        let result = rest::call(client, operation, method, path, body, self.clock.now()).await;
        let status = match &result {
            Ok(answer) => Some(answer.status.as_u16()),
            Err(e) => e.status(),
        };
        self.metrics
            .github_request(operation, status, started.elapsed().as_secs_f64());
        result
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn bearer(&self, token: &SecretString) -> Result<Octocrab, GitHubError> {
        Self::bearer_on(&self.base, token)
    }

    fn bearer_on(base: &Octocrab, token: &SecretString) -> Result<Octocrab, GitHubError> {
        base.user_access_token(token.expose_secret().to_owned())
            .map_err(|e| GitHubError::Transport {
                operation: "build client",
                detail: e.to_string(),
            })
    }

    /// Calls an `/app/...` endpoint authenticated by a freshly signed App JWT.
    pub async fn as_app<B: serde::Serialize + ?Sized>(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Answer, GitHubError> {
        let client = self.bearer(&self.credentials.jwt(self.clock.now()))?;
        self.send(&client, operation, method, path, body).await
    }

    /// `GET path` as the user whose token this is (a user access token for the App, from
    /// signing in with it): what that user may see, e.g. `GET /user/installations`
    /// (`apps/list-installations-for-authenticated-user`).
    pub async fn as_user(
        &self,
        token: &SecretString,
        operation: &'static str,
        path: &str,
    ) -> Result<Answer, GitHubError> {
        let client = self.bearer(token)?;
        self.send::<()>(&client, operation, Method::GET, path, None)
            .await
    }

    /// One GraphQL request (`POST /graphql`, body `{query, variables}`) as the installation,
    /// within GraphQL's budget and the installation's holds. Answers the `data` object.
    /// GraphQL refuses with 200 and an `errors` list: an error carrying the first message,
    /// permanent unless its type is `RATE_LIMITED` (then a rate limit, held and waited out
    /// like REST's); its status is 404 when the type is `NOT_FOUND` (a node id that resolves
    /// to nothing), else the answer's. Of several errors only the first is told.
    pub async fn graphql_as_installation(
        &self,
        installation_id: u64,
        operation: &'static str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, GitHubError> {
        let graphql = Resource::Graphql;
        self.limits.check(installation_id, graphql, operation)?;
        let token = self.installation_token(installation_id).await?;
        let client = Self::bearer_on(&self.graphql, &token)?;
        let result = self
            .send(&client, operation, Method::POST, "/graphql", Some(body))
            .await;
        let answer = self
            .limits
            .record(installation_id, graphql, false, result)?;
        let mut v: serde_json::Value = answer.json(operation)?;
        if let Some(first) = v["errors"].as_array().and_then(|e| e.first()) {
            // GraphQL's own rate limit ("Rate limits and query limits for the GraphQL API",
            // docs.github.com) says so in the error's type, not in the status; its headers
            // say until when, as REST's do, so it is read as REST's 429 and held the same.
            if first["type"] == "RATE_LIMITED" {
                let message = first["message"]
                    .as_str()
                    .unwrap_or("GraphQL rate limit")
                    .to_owned();
                let kind = rest::classify(
                    http::StatusCode::TOO_MANY_REQUESTS,
                    &answer.headers,
                    &rest::ErrorBody::default(),
                    self.clock.now(),
                );
                let limited = GitHubError::Status {
                    operation,
                    status: answer.status.as_u16(),
                    message,
                    kind,
                };
                return self
                    .limits
                    .record(installation_id, graphql, false, Err(limited))
                    .map(|_| serde_json::Value::Null);
            }
            // A node id that resolves to nothing is REST's 404 in GraphQL's words.
            let status = if first["type"] == "NOT_FOUND" {
                404
            } else {
                answer.status.as_u16()
            };
            return Err(GitHubError::Status {
                operation,
                status,
                message: first["message"]
                    .as_str()
                    .unwrap_or("GraphQL error")
                    .to_owned(),
                kind: FailureKind::Permanent,
            });
        }
        Ok(v["data"].take())
    }

    /// Until when the installation's hourly budget is low (see
    /// [`InstallationLimits::low_budget_until`]); `None` when it is not.
    pub fn low_budget_until(
        &self,
        installation_id: u64,
        resource: Resource,
    ) -> Option<DateTime<Utc>> {
        self.limits.low_budget_until(installation_id, resource)
    }

    /// Calls a repository endpoint as the given installation, within GitHub's limits for it
    /// (see `limits`): refused unsent while a rate limit holds the installation, and paced if
    /// it creates content.
    pub async fn as_installation<B: serde::Serialize + ?Sized>(
        &self,
        installation_id: u64,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Answer, GitHubError> {
        let content = creates_content(&method, path);
        if content {
            let started = std::time::Instant::now();
            self.limits.pace(installation_id).await;
            let waited = started.elapsed();
            if waited >= std::time::Duration::from_millis(1) {
                self.metrics
                    .rate_limit_wait(Wait::Pacing, waited.as_secs_f64());
            }
        }
        // After the pace: a hold that began while this request waited its turn counts.
        self.limits
            .check(installation_id, Resource::Core, operation)?;
        let token = self.installation_token(installation_id).await?;
        let client = self.bearer(&token)?;
        let result = self.send(&client, operation, method, path, body).await;
        let result = self
            .limits
            .record(installation_id, Resource::Core, content, result);
        if let Err(GitHubError::Status {
            kind:
                FailureKind::RateLimited {
                    retry_at,
                    secondary,
                },
            ..
        }) = &result
        {
            let limit = if *secondary {
                Wait::Secondary
            } else {
                Wait::Primary
            };
            let wait = (*retry_at - self.clock.now()).num_milliseconds().max(0);
            self.metrics.rate_limit_wait(limit, wait as f64 / 1000.0);
        }
        if let Err(e) = &result
            && e.status() == Some(401)
        {
            // GitHub revoked or expired the token early: the next call fetches a new one.
            self.forget_token(installation_id).await;
        }
        result
    }

    /// An installation access token valid for at least [`TOKEN_REFRESH_MARGIN`].
    pub async fn installation_token(
        &self,
        installation_id: u64,
    ) -> Result<SecretString, GitHubError> {
        let slot = self.slot(installation_id);
        let mut cached = slot.lock().await;
        let now = self.clock.now();
        if let Some(token) = cached.as_ref()
            && token.expires_at - now > TOKEN_REFRESH_MARGIN
        {
            return Ok(token.token.clone());
        }
        let answer = self
            .as_app::<()>(
                "create an installation access token",
                Method::POST,
                &format!("/app/installations/{installation_id}/access_tokens"),
                None,
            )
            .await?;
        let fresh: AccessTokenAnswer = answer.json("create an installation access token")?;
        let token = SecretString::from(fresh.token);
        *cached = Some(CachedToken {
            token: token.clone(),
            expires_at: fresh.expires_at,
        });
        tracing::debug!(installation_id, expires_at = %fresh.expires_at, "installation token refreshed");
        Ok(token)
    }

    async fn forget_token(&self, installation_id: u64) {
        *self.slot(installation_id).lock().await = None;
    }

    fn slot(&self, installation_id: u64) -> TokenSlot {
        self.tokens
            .lock()
            .expect("token map lock")
            .entry(installation_id)
            .or_default()
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_lives_beside_rest_on_github_com_and_under_api_on_enterprise_server() {
        let root = |api: &str| graphql_root(&Url::parse(api).unwrap()).to_string();
        assert_eq!(root("https://api.github.com"), "https://api.github.com/");
        assert_eq!(
            root("https://ghe.example.com/api/v3"),
            "https://ghe.example.com/api"
        );
        assert_eq!(
            root("https://ghe.example.com/api/v3/"),
            "https://ghe.example.com/api"
        );
        assert_eq!(root("http://127.0.0.1:8080/"), "http://127.0.0.1:8080/");
    }
}
