//! Why a stage failed, as the failure reply and the status comment say it (after "The
//! **<stage>** stage failed: "): what GitHub answered, what a run concluded, what the
//! probes found.
//!
//! Must not: decide anything.

use crate::pipeline::gates::{BASELINE_FLOOR_MS, probe_evidence};
use crate::pipeline::model::*;
use crate::pipeline::text::{format_duration, short};

pub fn deploy_concluded(
    environment: Environment,
    sha: &str,
    conclusion: &str,
    url: &str,
) -> String {
    format!(
        "the {environment} deploy of `{}` concluded `{conclusion}` ([run]({url}))",
        short(sha)
    )
}

pub fn deploy_never_started() -> String {
    "the deploy run never started on GitHub".into()
}

/// `timeout` in seconds (`deploy.timeout`).
pub fn deploy_silent(environment: Environment, timeout: u64, url: &str) -> String {
    format!(
        "the {environment} deploy run has not finished after {} ([run]({url}))",
        format_duration(timeout)
    )
}

pub fn probe_refused(url: &str, why: &str) -> String {
    format!("the health URL {url} is refused: {why}")
}

/// The last `n` probes of `watch` failed.
pub fn probes_failed(watch: &HealthWatch, n: u32) -> String {
    format!(
        "{n} health probes of {} failed in a row: {}",
        watch.url,
        evidence(watch, n)
    )
}

/// The last `n` probes of `watch` were slower than `limit_ms` (`factor` × the staging
/// baseline, `baseline_ms`).
pub fn probes_slow(
    watch: &HealthWatch,
    n: u32,
    limit_ms: u64,
    factor: f64,
    baseline_ms: u64,
) -> String {
    let floored = if baseline_ms < BASELINE_FLOOR_MS {
        format!(", counted as {BASELINE_FLOOR_MS} ms")
    } else {
        String::new()
    };
    format!(
        "{n} health probes of {} in a row were slower than {limit_ms} ms ({factor}× the staging baseline of {baseline_ms} ms{floored}): {}",
        watch.url,
        evidence(watch, n)
    )
}

/// The last `n` probes, as evidence.
fn evidence(watch: &HealthWatch, n: u32) -> String {
    let recent = &watch.recent;
    recent[recent.len().saturating_sub(n as usize)..]
        .iter()
        .map(probe_evidence)
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn not_dispatched(workflow: &str, reason: &str) -> String {
    format!("could not dispatch `{workflow}`: {reason}")
}

/// GitHub refused to create the deployment, or (`created`) to dispatch its workflow.
pub fn deploy_not_started(created: bool, reason: &str) -> String {
    let what = if created {
        "dispatch the deploy workflow"
    } else {
        "create the deployment"
    };
    format!("could not {what}: {reason}")
}

pub fn branch_not_created(branch: &str, reason: &str) -> String {
    format!("could not create `{branch}`: {reason}")
}

pub fn merge_refused(pr: u64, reason: &str) -> String {
    format!("GitHub refused to merge #{pr}: {reason}")
}

pub fn base_changed(pr: u64, base: &str, default_branch: &str) -> String {
    format!(
        "shipgate did not merge #{pr}: it now targets `{base}`, and production runs `{default_branch}`"
    )
}

pub fn no_rollback_target(environment: Environment, reason: &str) -> String {
    format!("could not look up the last good {environment} deployment: {reason}")
}

/// shipgate's protection rule rejected its own deploy run (`comment` says why).
pub fn deploy_rejected(deploy: &Deploy, comment: &str) -> String {
    format!(
        "the {} deployment of `{}` was rejected by the protection rule: {comment}",
        deploy.environment,
        short(&deploy.sha)
    )
}

pub fn rollback_failed(r: &RollbackRecord, sha: &str, url: &str) -> String {
    format!(
        "the rollback deploy of `{}` failed ([run]({url})); {} is still on `{}`",
        short(sha),
        r.environment,
        short(&r.from_sha)
    )
}
