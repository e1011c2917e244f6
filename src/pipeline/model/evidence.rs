//! Evidence a workflow run reported through the action: test cases by outcome, line
//! coverage, findings by severity, free-form metrics, and for a deploy where and what it
//! deployed. Plain data, kept on the run (`TestRun`, `Deploy`) that reported it.
//!
//! Must not: hold rules (which run may report, and what meets the thresholds, are
//! `pipeline::evidence`'s).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a workflow run shipgate dispatched reported through the action
/// (`POST /api/v1/evidence`, its OIDC token verified): each report replaces the parts it
/// carries and keeps the others, so a job may report tests and coverage in separate steps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The run attempt that reported last (a re-run's reports replace an earlier attempt's).
    pub attempt: u64,
    /// When it last reported, ms.
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestCounts>,
    /// Line coverage in hundredths of a percent (8421 is 84.21 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_hundredths: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<Findings>,
    /// Free-form `name → value` extras (accessibility, performance scores, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, String>,
    /// Where a deploy run deployed to: the Deployment's `environment_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_url: Option<String>,
    /// The version a deploy run deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl Evidence {
    /// `other` (a later report) over this one: the parts it carries replace these.
    pub fn merged(&self, other: &Evidence) -> Evidence {
        let mut metrics = self.metrics.clone();
        metrics.extend(other.metrics.clone());
        Evidence {
            attempt: other.attempt,
            at: other.at,
            tests: other.tests.or(self.tests),
            coverage_hundredths: other.coverage_hundredths.or(self.coverage_hundredths),
            findings: other.findings.or(self.findings),
            metrics,
            deploy_url: other.deploy_url.clone().or_else(|| self.deploy_url.clone()),
            version: other.version.clone().or_else(|| self.version.clone()),
        }
    }
}

/// Test cases by outcome, from JUnit reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCounts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

/// Findings by severity, from SARIF reports (GitHub code scanning's severities).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Findings {
    pub critical: u64,
    pub high: u64,
    pub medium: u64,
    pub low: u64,
}

impl std::ops::Add for Findings {
    type Output = Findings;
    fn add(self, o: Findings) -> Findings {
        Findings {
            critical: self.critical.saturating_add(o.critical),
            high: self.high.saturating_add(o.high),
            medium: self.medium.saturating_add(o.medium),
            low: self.low.saturating_add(o.low),
        }
    }
}
