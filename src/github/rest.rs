//! One REST call to GitHub through octocrab, and what its failure means.
//!
//! Owns: building requests on octocrab's HTTP stack (base URI, user agent, bearer auth),
//! reading status, headers and body, and classifying failures as transient, rate-limited or
//! permanent so callers can retry correctly.
//! Must not: decide what to retry (the effect executor does), or put a token in an error.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a failed GitHub call means for whoever wants to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// 5xx, timeouts, connection errors: retry with backoff.
    Transient,
    /// 403/429 with rate-limit headers: wait until the given time.
    RateLimited { retry_at: DateTime<Utc> },
    /// Any other 4xx, or an answer shipgate cannot read: retrying will not help.
    Permanent,
}

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub answered {status} to {operation}: {message}")]
    Status {
        operation: &'static str,
        status: u16,
        message: String,
        kind: FailureKind,
    },
    #[error("could not reach GitHub for {operation}: {detail}")]
    Transport {
        operation: &'static str,
        detail: String,
    },
    #[error("GitHub's answer to {operation} could not be read: {detail}")]
    Decode {
        operation: &'static str,
        detail: String,
    },
    #[error("no GitHub App is configured (open /setup)")]
    NotConfigured,
    /// shipgate itself will not make the call: what GitHub answered before it says no.
    #[error("shipgate will not {operation}: {reason}")]
    Refused {
        operation: &'static str,
        reason: String,
    },
}

impl GitHubError {
    pub fn kind(&self) -> FailureKind {
        match self {
            GitHubError::Status { kind, .. } => *kind,
            GitHubError::Transport { .. } => FailureKind::Transient,
            GitHubError::Decode { .. }
            | GitHubError::NotConfigured
            | GitHubError::Refused { .. } => FailureKind::Permanent,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// A successful answer: status, headers and the raw body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json<T: DeserializeOwned>(&self, operation: &'static str) -> Result<T, GitHubError> {
        serde_json::from_slice(&self.body).map_err(|e| GitHubError::Decode {
            operation,
            detail: e.to_string(),
        })
    }
}

/// Sends one request. `client` carries the authentication (App JWT or installation token).
pub async fn call<B: Serialize + ?Sized>(
    client: &Octocrab,
    operation: &'static str,
    method: Method,
    path: &str,
    body: Option<&B>,
    now: DateTime<Utc>,
) -> Result<Answer, GitHubError> {
    let transport = |detail: String| GitHubError::Transport { operation, detail };
    let builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::ACCEPT, "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28");
    let request = client
        .build_request(builder, body)
        .map_err(|e| transport(e.to_string()))?;
    let response = client
        .execute(request)
        .await
        .map_err(|e| transport(e.to_string()))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| transport(e.to_string()))?
        .to_bytes();
    if parts.status.is_success() {
        return Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        });
    }
    Err(GitHubError::Status {
        operation,
        status: parts.status.as_u16(),
        message: error_message(&body),
        kind: classify(parts.status, &parts.headers, now),
    })
}

fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: Option<String>,
    }
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

/// GitHub signals rate limits with 429, or 403 plus `retry-after` or an exhausted
/// `x-ratelimit-remaining`. `retry-after` wins; otherwise wait for `x-ratelimit-reset`.
pub fn classify(status: StatusCode, headers: &HeaderMap, now: DateTime<Utc>) -> FailureKind {
    let header_i64 = |name: &str| -> Option<i64> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    };
    let retry_after = header_i64("retry-after");
    let remaining = header_i64("x-ratelimit-remaining");
    let reset = header_i64("x-ratelimit-reset");
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (retry_after.is_some() || remaining == Some(0)));
    if limited {
        let retry_at = if let Some(secs) = retry_after {
            now + chrono::Duration::seconds(secs.max(0))
        } else if let Some(reset) = reset.and_then(|r| DateTime::from_timestamp(r, 0)) {
            reset.max(now)
        } else {
            now + chrono::Duration::seconds(60)
        };
        return FailureKind::RateLimited { retry_at };
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        FailureKind::Transient
    } else {
        FailureKind::Permanent
    }
}

/// Exponential backoff with full jitter: a random wait in `[0, min(cap, base * 2^attempt)]`.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, unit_random: f64) -> Duration {
    let exp = base.saturating_mul(2u32.saturating_pow(attempt.min(20)));
    exp.min(cap).mul_f64(unit_random.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_wins_over_reset() {
        let now = Utc::now();
        let kind = classify(
            StatusCode::FORBIDDEN,
            &headers(&[("retry-after", "30"), ("x-ratelimit-reset", "1")]),
            now,
        );
        assert_eq!(
            kind,
            FailureKind::RateLimited {
                retry_at: now + chrono::Duration::seconds(30)
            }
        );
    }

    #[test]
    fn exhausted_primary_limit_waits_for_reset() {
        let now = DateTime::from_timestamp(1_000, 0).unwrap();
        let kind = classify(
            StatusCode::FORBIDDEN,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1600"),
            ]),
            now,
        );
        assert_eq!(
            kind,
            FailureKind::RateLimited {
                retry_at: DateTime::from_timestamp(1_600, 0).unwrap()
            }
        );
    }

    #[test]
    fn plain_forbidden_is_permanent_and_5xx_transient() {
        let now = Utc::now();
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &HeaderMap::new(), now),
            FailureKind::Permanent
        );
        assert_eq!(
            classify(StatusCode::UNPROCESSABLE_ENTITY, &HeaderMap::new(), now),
            FailureKind::Permanent
        );
        assert_eq!(
            classify(StatusCode::BAD_GATEWAY, &HeaderMap::new(), now),
            FailureKind::Transient
        );
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), now),
            FailureKind::RateLimited { .. }
        ));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(10);
        assert_eq!(backoff(0, base, cap, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(3, base, cap, 1.0), Duration::from_millis(800));
        assert_eq!(backoff(30, base, cap, 1.0), cap);
        assert_eq!(backoff(3, base, cap, 0.5), Duration::from_millis(400));
    }
}
