//! Evidence from the workflows (DESIGN.md §1, tests gate): which run a verified OIDC token
//! may report for ([`admit`]: only one shipgate dispatched, at the commit it was sent for),
//! and whether the evidence of a SHA's test runs meets `tests.min_coverage` and
//! `tests.max_findings` ([`shortfalls`]).
//!
//! Must not: trust the report's own word for which run it is — the token's claims say so,
//! and the report may only repeat them.

use super::config::TestsConfig;
use super::model::*;
use super::provenance::{Sent, deploy_sent, test_sent};
use super::text::short;

/// Metrics one run attempt may report, over all its reports.
pub const MAX_METRICS: usize = 50;

/// Metrics shown beside a run in comments and check runs (all of them are in the API).
const METRICS_SHOWN: usize = 5;

/// The run of the pipeline a report is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Test(usize),
    Deploy(usize),
}

/// Why a token may not report for the run it names: the claim that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The OIDC claim (or `pipeline`, the report's field) that does not match.
    pub claim: &'static str,
    pub why: String,
}

impl Refusal {
    fn new(claim: &'static str, why: String) -> Self {
        Refusal { claim, why }
    }
}

/// Which of `p`'s runs the token's `claims` speak for, if it is one shipgate dispatched and
/// the token was issued to it: the repository, the run id, the event, the workflow file and
/// branch, the commit it was sent for and the newest attempt must all match. `correlation`
/// is the `pipeline` input the report names (a token of one run replayed for another's
/// report is refused); deploys dispatch `deploy_workflow`.
pub fn admit(
    p: &Pipeline,
    deploy_workflow: &str,
    claims: &RunClaims,
    correlation: Option<&str>,
) -> Result<Target, Refusal> {
    if !claims.repository.eq_ignore_ascii_case(&p.repo) {
        return Err(Refusal::new(
            "repository",
            format!("the token is for {}, not {}", claims.repository, p.repo),
        ));
    }
    let run_id = Some(claims.run_id);
    let (target, sent, known_attempt, finished, evidence) =
        if let Some(i) = p.runs.iter().position(|r| r.run_id == run_id) {
            let r = &p.runs[i];
            let finished = r.state.is_finished();
            let sent = test_sent(r);
            (
                Target::Test(i),
                sent,
                r.attempt,
                finished,
                r.evidence.as_ref(),
            )
        } else if let Some(i) = p.deploys.iter().position(|d| d.run_id == run_id) {
            let d = &p.deploys[i];
            let sent = deploy_sent(p, d, deploy_workflow);
            let finished = d.state.is_finished();
            (Target::Deploy(i), sent, 1, finished, d.evidence.as_ref())
        } else {
            return Err(Refusal::new(
                "run_id",
                format!(
                    "run {} is not a run shipgate dispatched for {}",
                    claims.run_id,
                    p.name()
                ),
            ));
        };
    if let Some(named) = correlation
        && named != sent.correlation
    {
        return Err(Refusal::new(
            "run_id",
            format!(
                "the token is run {}'s (`{}`), not `{named}`'s",
                claims.run_id, sent.correlation
            ),
        ));
    }
    if claims.event_name != "workflow_dispatch" {
        return Err(Refusal::new(
            "event_name",
            format!(
                "a `{}` event started the run, not shipgate's dispatch",
                claims.event_name
            ),
        ));
    }
    check_workflow(claims, &sent)?;
    if let Some(sha) = sent.sha
        && claims.sha != sha
    {
        return Err(Refusal::new(
            "sha",
            format!(
                "the run checked out {}, not {} it was dispatched for",
                short(&claims.sha),
                short(sha)
            ),
        ));
    }
    let newest = known_attempt.max(evidence.map_or(0, |e| e.attempt));
    if claims.run_attempt < newest {
        return Err(Refusal::new(
            "run_attempt",
            format!(
                "attempt {} of run {} was superseded by attempt {newest}",
                claims.run_attempt, claims.run_id
            ),
        ));
    }
    // A job reports before its run ends; a token kept past the end may not rewrite what the
    // gates already judged.
    if finished && claims.run_attempt == known_attempt {
        return Err(Refusal::new(
            "run_attempt",
            format!(
                "attempt {} of run {} has finished",
                claims.run_attempt, claims.run_id
            ),
        ));
    }
    Ok(target)
}

/// Whether `report` keeps the run's metrics within [`MAX_METRICS`] once merged with what
/// the same attempt reported before.
pub fn metrics_fit(p: &Pipeline, target: Target, attempt: u64, report: &Evidence) -> bool {
    let before = match target {
        Target::Test(i) => p.runs[i].evidence.as_ref(),
        Target::Deploy(i) => p.deploys[i].evidence.as_ref(),
    }
    .filter(|e| e.attempt == attempt);
    let merged = before.map_or(0, |e| {
        e.metrics
            .keys()
            .filter(|k| !report.metrics.contains_key(*k))
            .count()
    }) + report.metrics.len();
    merged <= MAX_METRICS
}

/// `workflow_ref` (`owner/name/.github/workflows/tests.yml@refs/heads/<branch>`) and `ref`
/// name the workflow file and the branch shipgate dispatched.
fn check_workflow(claims: &RunClaims, sent: &Sent<'_>) -> Result<(), Refusal> {
    let branch = format!("refs/heads/{}", sent.git_ref);
    let (path, at) = claims
        .workflow_ref
        .split_once('@')
        .unwrap_or((&claims.workflow_ref, ""));
    let prefix = format!("{}/.github/workflows/", claims.repository);
    let file = path
        .get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(&prefix))
        .map(|_| &path[prefix.len()..]);
    if file != Some(sent.workflow) || at != branch {
        return Err(Refusal::new(
            "workflow_ref",
            format!(
                "the token is for `{}`, not `.github/workflows/{}@{branch}`",
                claims.workflow_ref, sent.workflow
            ),
        ));
    }
    if claims.git_ref != branch {
        return Err(Refusal::new(
            "ref",
            format!("the run is on `{}`, not `{branch}`", claims.git_ref),
        ));
    }
    Ok(())
}

/// What keeps succeeded test runs' evidence from meeting the thresholds of `tests`, one
/// sentence each (empty when it meets them): failed test cases, coverage under
/// `min_coverage` or not reported, findings over `max_findings`. Coverage counts the lowest
/// any run reported, findings and test cases their sum. Findings are limits on what the
/// runs report: a run that reports no scan has no findings to count.
pub fn shortfalls(runs: &[&TestRun], tests: &TestsConfig) -> Vec<String> {
    let mut out = Vec::new();
    let reports: Vec<&Evidence> = runs.iter().filter_map(|r| r.reported()).collect();
    let silent = |what: &str| {
        let names: Vec<String> = runs
            .iter()
            .map(|r| match r.run_id {
                Some(id) => format!("`{}` run {id}", r.workflow),
                None => format!("`{}`", r.workflow),
            })
            .collect();
        format!("no {what} reported by {}", names.join(" or "))
    };
    let failed = reports
        .iter()
        .filter_map(|e| e.tests)
        .fold(0u64, |n, t| n.saturating_add(t.failed));
    if failed > 0 {
        out.push(format!(
            "{failed} test case{} failed",
            if failed == 1 { "" } else { "s" }
        ));
    }
    if let Some(min) = tests.min_coverage {
        match reports.iter().filter_map(|e| e.coverage_hundredths).min() {
            None => out.push(silent("coverage")),
            Some(c) if f64::from(c) / 100.0 < min => out.push(format!(
                "coverage {} is under {}",
                percent(c),
                percent((min * 100.0).round() as u32)
            )),
            Some(_) => {}
        }
    }
    let findings = reports
        .iter()
        .filter_map(|e| e.findings)
        .reduce(|a, b| a + b);
    if let Some(f) = findings {
        let limits = &tests.max_findings;
        for (n, limit, severity) in [
            (f.critical, limits.critical, "critical"),
            (f.high, limits.high, "high"),
        ] {
            if n > u64::from(limit) {
                out.push(format!(
                    "{n} {severity} finding{} (at most {limit})",
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
    }
    out
}

/// `84.21 %` from hundredths of a percent.
pub fn percent(hundredths: u32) -> String {
    let whole = hundredths / 100;
    match hundredths % 100 {
        0 => format!("{whole} %"),
        f if f % 10 == 0 => format!("{whole}.{} %", f / 10),
        f => format!("{whole}.{f:02} %"),
    }
}

/// One line of evidence, `120 passed, 0 failed, 3 skipped · coverage 84.21 % · findings: 0
/// critical, 1 high, 2 medium, 5 low · `lighthouse=98``; `None` when there is nothing.
pub fn describe(e: &Evidence) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(t) = e.tests {
        parts.push(format!(
            "{} passed, {} failed, {} skipped",
            t.passed, t.failed, t.skipped
        ));
    }
    if let Some(c) = e.coverage_hundredths {
        parts.push(format!("coverage {}", percent(c)));
    }
    if let Some(f) = e.findings {
        parts.push(format!(
            "findings: {} critical, {} high, {} medium, {} low",
            f.critical, f.high, f.medium, f.low
        ));
    }
    // Reported text goes in code spans (the shell refuses backticks and control
    // characters), so it can neither mention nor link.
    if let Some(v) = &e.version {
        parts.push(format!("version `{v}`"));
    }
    if let Some(u) = &e.deploy_url {
        parts.push(format!("at `{u}`"));
    }
    parts.extend(
        e.metrics
            .iter()
            .take(METRICS_SHOWN)
            .map(|(k, v)| format!("`{k}={v}`")),
    );
    if e.metrics.len() > METRICS_SHOWN {
        parts.push(format!("{} more metrics", e.metrics.len() - METRICS_SHOWN));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}
