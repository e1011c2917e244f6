//! `POST /api/v1/evidence`: a workflow run shipgate dispatched reports its evidence (test
//! counts, coverage, findings, metrics, where and what it deployed), authenticated by the
//! job's GitHub Actions OIDC token — the `action/` in this repository sends it.
//!
//! Answers: 201 with what the run's evidence now is; 400 for a document that is not one;
//! 401 for a token that does not hold (signature, `iss`, `aud`, times), 403 for one that may
//! not report for the run it names (`repository`, `repository_id`, `run_id`, …) — both with
//! the failing `claim` in the problem body —; 413 over 64 KiB; 503 when the issuer, GitHub
//! or the database cannot be reached (the action retries).
//! Must not: record anything for a token that was not verified, or keep the token.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Problem;
use crate::engine::evidence::NotRecorded;
use crate::github::oidc::OidcError;
use crate::http::AppState;
use crate::pipeline::evidence::describe;
use crate::pipeline::model::{Evidence, Findings, RunClaims, TestCounts};

/// The largest evidence document accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Extra metrics one document (and one run attempt, over all its reports) may carry.
pub use crate::pipeline::evidence::MAX_METRICS;
/// The largest count of test cases or findings accepted.
const MAX_COUNT: u64 = 1_000_000_000;
const MAX_METRIC_NAME: usize = 64;
const MAX_METRIC_VALUE: usize = 256;
const MAX_VERSION: usize = 128;
const MAX_URL: usize = 2048;

/// One evidence report (format 1), as `action/` sends it. Every part but `format` is
/// optional; a part sent replaces what the same run attempt reported for it before.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceDocument {
    /// Always 1.
    pub format: u32,
    /// The `pipeline` input shipgate dispatched the run with; when given it must be the
    /// token's run's.
    pub pipeline: Option<String>,
    pub tests: Option<TestsPart>,
    pub coverage: Option<CoveragePart>,
    pub findings: Option<FindingsPart>,
    /// Free-form extras, at most 50: names of letters, digits, `_`, `.`, `-` (≤ 64),
    /// values ≤ 256 characters.
    #[serde(default)]
    pub metrics: BTreeMap<String, String>,
    pub deploy: Option<DeployPart>,
}

/// Test cases by outcome (from JUnit reports).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestsPart {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

/// Line coverage.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoveragePart {
    /// 0–100, two decimals kept.
    pub percent: f64,
}

/// Findings by severity (from SARIF reports, ranked as GitHub code scanning ranks them).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingsPart {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
}

/// What a deploy run deployed.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployPart {
    /// Where it deployed to (http or https): the Deployment's `environment_url`.
    pub url: Option<String>,
    /// The version it deployed (≤ 128 characters).
    pub version: Option<String>,
}

/// The run's evidence after the report.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceRecorded {
    pub pipeline_id: i64,
    /// `REQ-<issue>`.
    pub pipeline: String,
    /// `owner/name`.
    pub repository: String,
    pub run_id: u64,
    pub run_attempt: u64,
    /// `tests` or `deploy`.
    pub kind: &'static str,
    pub evidence: EvidenceView,
}

/// What a run reported, every report of its attempt merged.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceView {
    /// The run attempt that reported.
    pub attempt: u64,
    /// When it last reported (RFC 3339).
    pub reported_at: String,
    pub tests: Option<TestsPart>,
    pub coverage: Option<CoveragePart>,
    pub findings: Option<FindingsPart>,
    pub metrics: BTreeMap<String, String>,
    pub deploy: Option<DeployPart>,
    /// The evidence in one line, as the check run shows it (Markdown).
    pub summary: String,
}

impl From<&Evidence> for EvidenceView {
    fn from(e: &Evidence) -> Self {
        EvidenceView {
            attempt: e.attempt,
            reported_at: super::rfc3339(e.at),
            summary: describe(e).unwrap_or_default(),
            tests: e.tests.map(|t| TestsPart {
                passed: t.passed,
                failed: t.failed,
                skipped: t.skipped,
            }),
            coverage: e.coverage_hundredths.map(|c| CoveragePart {
                percent: f64::from(c) / 100.0,
            }),
            findings: e.findings.map(|f| FindingsPart {
                critical: f.critical,
                high: f.high,
                medium: f.medium,
                low: f.low,
            }),
            metrics: e.metrics.clone(),
            deploy: (e.deploy_url.is_some() || e.version.is_some()).then(|| DeployPart {
                url: e.deploy_url.clone(),
                version: e.version.clone(),
            }),
        }
    }
}

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, detail)
}

/// Text a person reads in the check run: no backticks (it goes in a code span), no `<` or
/// `>` (no HTML, no hidden markers), no control or bidirectional-override characters.
fn plain(what: &str, text: &str, max: usize) -> Result<String, Problem> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max {
        return Err(bad_request(format!("{what} must be 1–{max} characters")));
    }
    let refused = |c: char| {
        matches!(c, '`' | '<' | '>' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            || c.is_control()
    };
    if text.chars().any(refused) {
        return Err(bad_request(format!(
            "{what} may not hold backticks, `<`, `>`, control or direction characters"
        )));
    }
    Ok(text.to_owned())
}

impl EvidenceDocument {
    /// The report in the core's terms, or why the document is not one.
    fn into_report(self) -> Result<(Option<String>, Evidence), Problem> {
        if self.format != 1 {
            return Err(bad_request(format!(
                "format {} is not known; this shipgate reads format 1",
                self.format
            )));
        }
        let correlation = match self.pipeline {
            // The input carries `.<nonce>` after the dispatch's token.
            Some(p) => Some(plain("pipeline", &p, 200)?)
                .map(|p| p.split('.').next().unwrap_or_default().to_owned()),
            None => None,
        };
        let counts = [
            self.tests
                .as_ref()
                .map(|t| [t.passed, t.failed, t.skipped, 0]),
            self.findings
                .as_ref()
                .map(|f| [f.critical, f.high, f.medium, f.low]),
        ];
        if counts.iter().flatten().flatten().any(|n| *n > MAX_COUNT) {
            return Err(bad_request(format!("counts are at most {MAX_COUNT}")));
        }
        let coverage_hundredths = match self.coverage {
            // Rounded down: 79.995 % does not meet 80 %.
            Some(c) if c.percent.is_finite() && (0.0..=100.0).contains(&c.percent) => {
                Some((c.percent * 100.0).floor() as u32)
            }
            Some(_) => return Err(bad_request("coverage.percent must be 0–100")),
            None => None,
        };
        if self.metrics.len() > MAX_METRICS {
            return Err(bad_request(format!("at most {MAX_METRICS} metrics")));
        }
        let mut metrics = BTreeMap::new();
        for (name, value) in self.metrics {
            let named = !name.is_empty()
                && name.len() <= MAX_METRIC_NAME
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !named {
                return Err(bad_request(format!(
                    "metric name {:?} must be 1–64 letters, digits, `_`, `.` or `-`",
                    name.chars().take(80).collect::<String>()
                )));
            }
            let value = plain(&format!("metric {name}"), &value, MAX_METRIC_VALUE)?;
            metrics.insert(name, value);
        }
        let (deploy_url, version) = match self.deploy {
            None => (None, None),
            Some(d) => {
                let url = match d.url {
                    Some(u) => {
                        let u = plain("deploy.url", &u, MAX_URL)?;
                        let parsed = url::Url::parse(&u)
                            .map_err(|_| bad_request("deploy.url is not a URL"))?;
                        if !matches!(parsed.scheme(), "http" | "https")
                            || !parsed.username().is_empty()
                            || parsed.password().is_some()
                        {
                            return Err(bad_request(
                                "deploy.url must be an http(s) URL without credentials",
                            ));
                        }
                        Some(parsed.to_string())
                    }
                    None => None,
                };
                let version = d
                    .version
                    .map(|v| plain("deploy.version", &v, MAX_VERSION))
                    .transpose()?;
                (url, version)
            }
        };
        let report = Evidence {
            attempt: 0, // the token's, set by the core
            at: 0,
            tests: self.tests.map(|t| TestCounts {
                passed: t.passed,
                failed: t.failed,
                skipped: t.skipped,
            }),
            coverage_hundredths,
            findings: self.findings.map(|f| Findings {
                critical: f.critical,
                high: f.high,
                medium: f.medium,
                low: f.low,
            }),
            metrics,
            deploy_url,
            version,
        };
        Ok((correlation, report))
    }
}

/// The bearer token of `Authorization`, if there is one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn claim_problem(status: StatusCode, claim: &str, why: &str) -> Problem {
    let mut p = Problem::new(status, format!("{claim}: {why}"));
    p.claim = Some(claim.to_owned());
    p
}

/// Report a run's evidence.
#[utoipa::path(
    post,
    path = "/api/v1/evidence",
    request_body = EvidenceDocument,
    responses(
        (status = 201, description = "Recorded: the run's evidence now", body = EvidenceRecorded),
        (status = 400, description = "Not an evidence document", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The OIDC token does not hold; `claim` says which part", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's run may not report here; `claim` says why", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The issuer, GitHub or the database cannot be reached; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("actions_oidc" = [])),
    tag = "evidence"
)]
pub async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<EvidenceRecorded>), Problem> {
    let body = body.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(status, "the document is larger than 64 KiB")
        } else {
            Problem::new(status, "the body could not be read")
        }
    })?;
    let Some(token) = bearer(&headers) else {
        return Err(claim_problem(
            StatusCode::UNAUTHORIZED,
            "token",
            "send the job's OIDC token as `Authorization: Bearer <token>` (the job needs `permissions: id-token: write`)",
        ));
    };
    let now_s = state.clock.now().timestamp();
    let claims = match state.evidence.verifier.verify(token, now_s).await {
        Ok(c) => c,
        Err(OidcError::Refused(r)) => {
            return Err(claim_problem(StatusCode::UNAUTHORIZED, r.claim, &r.why));
        }
        Err(e @ OidcError::Issuer(_)) => {
            tracing::warn!(error = %e, "evidence: the OIDC issuer could not be read");
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the OIDC issuer's keys could not be read; retry",
            ));
        }
    };
    let number = |claim: &'static str, text: &str| {
        text.parse::<u64>()
            .map_err(|_| claim_problem(StatusCode::UNAUTHORIZED, claim, "not a number"))
    };
    let repository_id = number("repository_id", &claims.repository_id)?;
    let run = RunClaims {
        repository: claims.repository.clone(),
        run_id: number("run_id", &claims.run_id)?,
        run_attempt: number("run_attempt", &claims.run_attempt)?,
        sha: claims.sha.clone(),
        git_ref: claims.git_ref.clone(),
        workflow_ref: claims.workflow_ref.clone(),
        event_name: claims.event_name.clone(),
    };
    let document: EvidenceDocument = serde_json::from_slice(&body)
        .map_err(|e| bad_request(format!("not an evidence document: {e}")))?;
    let (correlation, report) = document.into_report()?;
    let (run_id, run_attempt) = (run.run_id, run.run_attempt);
    let recorded = state
        .evidence
        .desk
        .record(run, repository_id, correlation, report)
        .await
        .map_err(|e| match e {
            NotRecorded::Refused(r) => claim_problem(StatusCode::FORBIDDEN, r.claim, &r.why),
            NotRecorded::Invalid(why) => bad_request(why),
            NotRecorded::Unavailable(why) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, why),
        })?;
    tracing::info!(
        pipeline = %recorded.pipeline,
        repository = %recorded.repository,
        run_id,
        "evidence recorded"
    );
    Ok((
        StatusCode::CREATED,
        Json(EvidenceRecorded {
            pipeline_id: recorded.pipeline_id,
            pipeline: recorded.pipeline,
            repository: recorded.repository,
            run_id,
            run_attempt,
            kind: recorded.kind,
            evidence: EvidenceView::from(&recorded.evidence),
        }),
    ))
}
