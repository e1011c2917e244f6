//! Why shipgate refuses what someone asked: every refusal a command, a button or an approval
//! label gets, as a named function, so the wording lives in one place and is snapshotted.
//! Each says who cannot do what and why, in one sentence (the caller adds the `@login: `).
//!
//! Must not: decide anything (the step decides, then asks here how to say it).

use crate::pipeline::commands::Command;
use crate::pipeline::config::CONFIG_PATH;
use crate::pipeline::gates::Gate;
use crate::pipeline::model::*;
use crate::pipeline::text::{code_list, plural, short};

/// `` `/approve plan` refused: <why>. ``
pub fn refused(command: &Command, why: &str) -> String {
    format!("`{command}` refused: {why}.")
}

pub fn unknown_command(name: &str) -> String {
    format!("`/{name}` is not a shipgate command; `/help` lists them.")
}

/// A known command with arguments it does not take; `problem` says what it expects.
pub fn malformed(command: &str, problem: &str) -> String {
    format!("`/{command}` {problem}.")
}

/// A comment with more commands than are read (the first `max` were).
pub fn too_many_commands(max: usize) -> String {
    format!("only the first {max} commands of a comment are read; comment again for the others.")
}

pub fn pipeline_over(command: &Command, phase: Phase) -> String {
    format!(
        "`{command}` refused: the pipeline is {}; nothing more happens.",
        phase.name()
    )
}

// ---- who may ----

pub fn bots_never_decide(login: &str, what: &str) -> String {
    format!("@{login} cannot {what}: bots and GitHub Apps never approve, whatever their access")
}

pub fn only_admins_while_config_broken(login: &str, what: &str) -> String {
    format!(
        "@{login} cannot {what}: `{CONFIG_PATH}` has errors, so who may is unknown; until they are fixed only a repository admin may"
    )
}

pub fn needs_write_access(login: &str, what: &str, access: Access) -> String {
    format!(
        "@{login} cannot {what}: it needs write access to the repository (they have {})",
        access.name()
    )
}

/// `key` is the `approvers.<key>` list, which does not name `login` or a team of theirs.
pub fn not_an_approver(login: &str, what: &str, key: &str, list: &[String]) -> String {
    format!(
        "@{login} cannot {what}: `approvers.{key}` allows only {}",
        code_list(list)
    )
}

// ---- commands ----

pub fn nothing_to_approve(phase: Phase) -> String {
    format!(
        "nothing waits for `/approve` while the pipeline is in {}; the pull request is approved by a review",
        phase.name()
    )
}

/// `/pause` while paused, `/resume` while not.
pub fn already(pause: bool) -> String {
    format!(
        "the pipeline is {}",
        if pause {
            "already paused"
        } else {
            "not paused"
        }
    )
}

pub fn no_such_stage(stage: &str) -> String {
    format!(
        "there is no stage `{stage}` to retry (try `tests`, `staging`, `merge` or `production`)"
    )
}

pub fn not_blocked() -> String {
    "the pipeline is not blocked".into()
}

pub fn nothing_failed() -> String {
    "nothing has failed".into()
}

/// A button on the check run of `sha`, which is no longer the one the pipeline follows
/// (`current`).
pub fn stale_button(sha: &str, current: Option<&str>) -> String {
    format!(
        "that button is on the check run of `{}`, which the pipeline has moved on from; use the one on `{}`.",
        short(sha),
        current.map(short).unwrap_or("the current head")
    )
}

pub fn unknown_button(identifier: &str) -> String {
    format!("the check run's `{identifier}` button is not one shipgate offers (any more).")
}

// ---- intake and planning ----

pub fn requirement_already_approved() -> String {
    "the requirement is already approved".into()
}

pub fn pipeline_is(phase: Phase) -> String {
    format!("the pipeline is {}", phase.name())
}

pub fn gates_hold_config_broken() -> String {
    format!("`{CONFIG_PATH}` has errors; the gates hold until they are fixed")
}

pub fn requirement_incomplete(missing: &[String]) -> String {
    format!(
        "the requirement is incomplete: add the {} section{} first",
        code_list(missing),
        plural(missing.len())
    )
}

pub fn approve_requirement_first() -> String {
    "approve the requirement first".into()
}

pub fn plan_already_approved() -> String {
    "the plan is already approved".into()
}

/// The plan's tasks cannot be ordered (a cycle, or a dependency on no task).
pub fn plan_has_problems(problems: &[String]) -> String {
    format!(
        "the plan cannot be approved: {}. Fix the issue's `(after …)` markers and ask again",
        problems.join("; ")
    )
}

pub fn plan_gates_hold_config_broken() -> String {
    "the configuration has errors; the gates hold until they are fixed".into()
}

// ---- `/skip` ----

pub fn skip_needs_admin(login: &str, access: Access) -> String {
    format!(
        "@{login} cannot skip a gate: it takes admin access to the repository (they have {})",
        access.name()
    )
}

pub fn no_such_gate(gate: &str) -> String {
    format!(
        "there is no gate `{gate}` to skip (try {})",
        code_list(GateKind::SKIPPABLE)
    )
}

pub fn nothing_left_to_skip() -> String {
    "production is approved; there is no gate before it left to skip".into()
}

pub fn staging_rolling_back() -> String {
    "staging is being rolled back; let the rollback finish first".into()
}

pub fn skip_on_a_fork(pr: u64, gate: &str) -> String {
    format!(
        "#{pr} comes from a fork: its head is never tested or deployed, so skipping its `{gate}` gate leads nowhere"
    )
}

pub fn no_pull_request_to_skip(gate: &str) -> String {
    format!("there is no pull request whose `{gate}` to skip")
}

pub fn already_skipped(gate: &str) -> String {
    format!("`{gate}` is already skipped")
}

pub fn gate_passed(gate: &str) -> String {
    format!("the `{gate}` gate has passed; there is nothing to skip")
}

// ---- production approval and `/deploy staging` ----

pub fn production_already_approved(by: &str) -> String {
    format!("production is already approved by @{by}")
}

/// Production approval outside readiness, with the gates that have not passed yet.
pub fn production_not_yet(phase: Phase, open: &[&Gate]) -> String {
    let open = if open.is_empty() {
        String::new()
    } else {
        format!("; not passed yet: {}", gate_list(open))
    };
    format!(
        "production is approved once staging is healthy, and the pipeline is in {}{open}",
        phase.name()
    )
}

pub fn gates_must_pass(open: &[&Gate]) -> String {
    format!(
        "{} must pass first: {}",
        if open.len() == 1 {
            "this gate"
        } else {
            "these gates"
        },
        gate_list(open)
    )
}

/// `Review (0/1 approvals at …); Tests (…)`.
fn gate_list(open: &[&Gate]) -> String {
    open.iter()
        .map(|g| format!("{} ({})", g.name(), g.state))
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn no_pull_request_yet() -> String {
    "there is no pull request yet".into()
}

pub fn author_cannot_release(login: &str, pr: u64) -> String {
    format!("@{login} opened #{pr}; a pull request's author cannot approve its production deploy")
}

pub fn committer_cannot_release(login: &str, pr: u64) -> String {
    format!(
        "@{login} authored, committed or pushed commits of #{pr}; whoever changed the code cannot approve its production deploy"
    )
}

pub fn skipper_cannot_release(login: &str, gate: GateKind) -> String {
    format!(
        "@{login} skipped the `{gate}` gate; whoever skips a gate cannot also approve production"
    )
}

pub fn only_staging_by_command(environment: Environment) -> String {
    format!(
        "only `staging` is deployed by command; production follows `/approve production` (not `{environment}`)"
    )
}

pub fn no_staging_deploy_now(phase: Phase) -> String {
    format!(
        "the pipeline is in {}; staging deploys happen between review and production",
        phase.name()
    )
}

pub fn paused_resume_first() -> String {
    "the pipeline is paused; `/resume` first".into()
}

pub fn no_open_pull_request() -> String {
    "there is no open pull request to deploy".into()
}

pub fn fork_never_deployed(pr: u64) -> String {
    format!("#{pr} comes from a fork; shipgate never runs its code with this repository's secrets")
}

pub fn staging_deploy_under_way(sha: &str) -> String {
    format!("a staging deploy of `{}` is under way", short(sha))
}

// ---- rollback ----

pub fn nothing_to_roll_back(phase: Phase) -> String {
    format!(
        "there is nothing deployed to roll back while the pipeline is in {}",
        phase.name()
    )
}

pub fn rollback_under_way() -> String {
    "a rollback is already under way".into()
}

pub fn nothing_deployed_to(environment: Environment) -> String {
    format!("nothing has been deployed to {environment}")
}

pub fn no_earlier_deployment(environment: Environment) -> String {
    format!("there is no earlier successful {environment} deployment to roll back to")
}

pub fn committer_cannot_review(login: &str, pr: u64) -> String {
    format!(
        "@{login} authored, committed or pushed commits of #{pr}; whoever changed the code cannot approve it"
    )
}
