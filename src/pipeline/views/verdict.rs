//! What shipgate answers a deployment protection rule (the comment on its review of the
//! run, and the reply on the issue when it rejects one): why a run may deploy, or what it
//! still needs.
//!
//! Must not: decide anything (`step/protection.rs` decides).

use crate::pipeline::gates::Gate;
use crate::pipeline::model::*;
use crate::pipeline::text::short;

/// The review's comment: `REQ-12: <why>`.
pub fn comment(pipeline: &str, why: &str) -> String {
    format!("{pipeline}: {why}")
}

pub fn rejected(environment: &str, sha: &str, run_id: u64, comment: &str) -> String {
    format!(
        "🛑 A `{environment}` deployment of `{}` (run {run_id}) is rejected: {comment}",
        short(sha)
    )
}

/// A rejected deploy of shipgate's own that the pipeline was not waiting for.
pub fn stopped(why: &str) -> String {
    format!("🛑 {why}")
}

pub fn branch_moved(run_id: u64, ran: &str) -> String {
    format!("run {run_id} {ran}: its branch moved before it started")
}

pub fn not_dispatched(run_id: u64) -> String {
    format!("run {run_id} is not a deploy shipgate dispatched")
}

/// `asked` is GitHub's name for the environment the run deploys to.
pub fn other_environment(dispatched: Environment, asked: &str) -> String {
    format!("this run was dispatched for {dispatched}, not {asked}")
}

pub fn superseded() -> String {
    "a newer deploy replaced this one".into()
}

pub fn finished(deploy: &Deploy) -> String {
    format!(
        "this {} has finished ({}); running it again deploys nothing shipgate decided",
        deploy.kind(),
        deploy.state.describe()
    )
}

pub fn rollback(sha: &str, reason: &str) -> String {
    format!("a rollback to `{}`: {reason}", short(sha))
}

pub fn blocked(blocker: &Rejection) -> String {
    format!(
        "it is blocked by @{}: {}; `/unblock`, then `/retry`",
        blocker.by,
        blocker.reason.as_deref().unwrap_or("no reason given")
    )
}

pub fn deployed_by_command(login: &str, sha: &str) -> String {
    format!("`/deploy staging` by @{login} of `{}`", short(sha))
}

pub fn reviewed_and_tested(sha: &str) -> String {
    format!("review and tests passed at `{}`", short(sha))
}

/// The review and tests gates that have not passed, with what each waits for.
pub fn not_passed(open: &[Gate]) -> String {
    let open: Vec<String> = open
        .iter()
        .map(|g| format!("{}: {}", g.name(), g.waiting.as_deref().unwrap_or(&g.state)))
        .collect();
    format!("not passed yet — {}", open.join("; "))
}

pub fn production_approved(approval: &Approval, sha: &str) -> String {
    format!(
        "production approved by @{} ({}), merged as `{}`",
        approval.by,
        approval.via,
        short(sha)
    )
}

pub fn not_the_approved_merge(sha: &str) -> String {
    format!(
        "`{}` is not the merge commit production was approved for",
        short(sha)
    )
}

pub fn production_not_approved() -> String {
    "production is not approved: it needs `/approve production` from a release approver".into()
}
