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
    /// A rate limit: wait until the given time. `secondary` when GitHub gave no time (a
    /// secondary rate limit): the caller waits at least a minute, longer each time in a row.
    RateLimited {
        retry_at: DateTime<Utc>,
        secondary: bool,
    },
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
    /// Not sent: a rate limit GitHub set holds this installation's requests until then.
    #[error(
        "{operation} waits: GitHub's rate limit holds this installation's requests until {until}"
    )]
    Held {
        operation: &'static str,
        until: DateTime<Utc>,
    },
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
            GitHubError::Held { until, .. } => FailureKind::RateLimited {
                retry_at: *until,
                secondary: false,
            },
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
    let error = ErrorBody::read(&body);
    Err(GitHubError::Status {
        operation,
        status: parts.status.as_u16(),
        kind: classify(parts.status, &parts.headers, &error, now),
        message: error.message,
    })
}

/// What GitHub's error bodies say: `{"message": …, "documentation_url": …}`.
#[derive(Debug, Default)]
pub struct ErrorBody {
    pub message: String,
    pub documentation_url: String,
}

impl ErrorBody {
    pub fn read(body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Raw {
            message: Option<String>,
            documentation_url: Option<String>,
            /// A 422's details: `[{"resource", "code", "message"?}]`.
            #[serde(default)]
            errors: Vec<Detail>,
        }
        #[derive(serde::Deserialize)]
        struct Detail {
            message: Option<String>,
        }
        let raw = serde_json::from_slice::<Raw>(body).ok();
        let details: Vec<String> = raw
            .iter()
            .flat_map(|r| r.errors.iter().filter_map(|d| d.message.clone()))
            .collect();
        let documentation_url = raw
            .as_ref()
            .and_then(|r| r.documentation_url.clone())
            .unwrap_or_default();
        let message = raw
            .and_then(|r| r.message)
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
        let message = if details.is_empty() {
            message
        } else {
            format!("{message}: {}", details.join("; "))
        };
        Self {
            message,
            documentation_url,
        }
    }

    /// GitHub's secondary rate limits (and their older name, abuse detection), recognised by
    /// message or documentation link: "Rate limits for the REST API", docs.github.com
    /// (`#about-secondary-rate-limits`).
    pub fn is_secondary_rate_limit(&self) -> bool {
        let message = self.message.to_ascii_lowercase();
        message.contains("secondary rate limit")
            || message.contains("abuse detection")
            || self.documentation_url.contains("secondary-rate-limits")
    }
}

/// GitHub signals rate limits with 429, or 403 plus `retry-after`, an exhausted
/// `x-ratelimit-remaining` or a secondary-rate-limit message. `retry-after` wins; then
/// `x-ratelimit-reset` when the primary limit is spent; otherwise it is a secondary limit
/// without a time, and the wait starts at one minute, as GitHub's guidance says ("Rate limits
/// for the REST API", docs.github.com).
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    error: &ErrorBody,
    now: DateTime<Utc>,
) -> FailureKind {
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
        || (status == StatusCode::FORBIDDEN
            && (retry_after.is_some() || remaining == Some(0) || error.is_secondary_rate_limit()));
    if limited {
        let reset = reset.and_then(|r| DateTime::from_timestamp(r, 0));
        return match (retry_after, remaining, reset) {
            (Some(secs), _, _) => FailureKind::RateLimited {
                retry_at: now + chrono::Duration::seconds(secs.max(0)),
                secondary: false,
            },
            (None, Some(0), Some(reset)) => FailureKind::RateLimited {
                retry_at: reset.max(now),
                secondary: false,
            },
            _ => FailureKind::RateLimited {
                retry_at: now + SECONDARY_WAIT,
                secondary: true,
            },
        };
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        FailureKind::Transient
    } else {
        FailureKind::Permanent
    }
}

/// The first wait after a secondary rate limit without `retry-after`: GitHub asks for at least
/// a minute.
pub const SECONDARY_WAIT: chrono::Duration = chrono::Duration::seconds(60);

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
            &ErrorBody::default(),
            now,
        );
        assert_eq!(
            kind,
            FailureKind::RateLimited {
                retry_at: now + chrono::Duration::seconds(30),
                secondary: false,
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
            &ErrorBody::default(),
            now,
        );
        assert_eq!(
            kind,
            FailureKind::RateLimited {
                retry_at: DateTime::from_timestamp(1_600, 0).unwrap(),
                secondary: false,
            }
        );
    }

    /// The issue's case: 403, no `retry-after`, `x-ratelimit-remaining` not 0, GitHub's
    /// secondary-limit message — a rate limit, waited out for at least a minute.
    #[test]
    fn a_secondary_limit_without_headers_waits_a_minute() {
        let now = Utc::now();
        let body = br#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}"#;
        let limited = FailureKind::RateLimited {
            retry_at: now + SECONDARY_WAIT,
            secondary: true,
        };
        let remaining = headers(&[("x-ratelimit-remaining", "4000")]);
        assert_eq!(
            classify(
                StatusCode::FORBIDDEN,
                &remaining,
                &ErrorBody::read(body),
                now
            ),
            limited
        );
        let by_link = ErrorBody {
            message: "Forbidden".into(),
            documentation_url: "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits".into(),
        };
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &remaining, &by_link, now),
            limited
        );
    }

    #[test]
    fn plain_forbidden_is_permanent_and_5xx_transient() {
        let now = Utc::now();
        let plain = ErrorBody {
            message: "Resource not accessible by integration".into(),
            documentation_url: "https://docs.github.com/rest".into(),
        };
        let none = HeaderMap::new();
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &none, &plain, now),
            FailureKind::Permanent
        );
        assert_eq!(
            classify(StatusCode::UNPROCESSABLE_ENTITY, &none, &plain, now),
            FailureKind::Permanent
        );
        assert_eq!(
            classify(StatusCode::BAD_GATEWAY, &none, &plain, now),
            FailureKind::Transient
        );
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, &none, &plain, now),
            FailureKind::RateLimited {
                secondary: true,
                ..
            }
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
