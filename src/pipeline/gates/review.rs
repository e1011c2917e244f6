//! The review and tests gates at one SHA: approving reviews that count (write access, not
//! the author nor anyone who changed the code, on the approver list, at the SHA unless stale
//! approvals are kept) and changes requested; the configured test workflows' runs and
//! whether their evidence meets the thresholds.
//!
//! Must not: count a review or a run for another SHA than the one asked about (stale
//! approvals only when `review.dismiss_stale` is off).

use super::{Gate, GateKind, changed_the_code, with_skip};
use crate::pipeline::config::{LoadedConfig, format_duration};
use crate::pipeline::evidence;
use crate::pipeline::model::*;
use crate::pipeline::text::{mentions_or_writers, plural, short};

/// The review gate at `sha`, shown as skipped when an admin `/skip`ped it there.
pub fn review_gate(p: &Pipeline, cfg: &LoadedConfig, sha: &str) -> Gate {
    with_skip(p, sha, review_gate_unskipped(p, cfg, sha))
}

/// The tests gate at `sha`, shown as skipped when an admin `/skip`ped it there.
pub fn tests_gate(p: &Pipeline, cfg: &LoadedConfig, sha: &str) -> Gate {
    with_skip(p, sha, tests_gate_unskipped(p, cfg, sha))
}

/// The review gate at `sha`, ignoring `/skip`.
pub fn review_gate_unskipped(p: &Pipeline, cfg: &LoadedConfig, sha: &str) -> Gate {
    let c = &cfg.config;
    let author = p.pr.as_ref().map(|pr| pr.author.as_str()).unwrap_or("");
    let allowed = |login: &str| {
        c.approvers.review.is_empty()
            || c.approvers
                .review
                .iter()
                .any(|a| a.eq_ignore_ascii_case(login))
    };
    let counts = |login: &str, r: &ReviewRecord| {
        r.state == ReviewState::Approved
            && login != author
            && !changed_the_code(p, login)
            && r.access.can_write()
            && allowed(login)
            && (r.sha == sha || !c.review.dismiss_stale)
    };
    let approvers: Vec<String> = p
        .reviews
        .iter()
        .filter(|(login, r)| counts(login, r))
        .map(|(login, _)| format!("@{login}"))
        .collect();
    let blocking: Vec<String> = p
        .reviews
        .iter()
        .filter(|(_, r)| r.state == ReviewState::ChangesRequested && r.access.can_write())
        .map(|(login, _)| format!("@{login}"))
        .collect();
    let stale: Vec<String> = p
        .reviews
        .iter()
        .filter(|(login, r)| {
            r.state == ReviewState::Approved
                && **login != author
                && r.sha != sha
                && c.review.dismiss_stale
        })
        .map(|(login, _)| format!("@{login}"))
        .collect();
    let needed = c.review.required_approvals as usize;
    let passed = approvers.len() >= needed && blocking.is_empty();
    let mut state = format!(
        "{}/{} approvals at `{}`",
        approvers.len(),
        needed,
        short(sha)
    );
    if !approvers.is_empty() {
        state.push_str(&format!(" ({})", approvers.join(", ")));
    }
    if !blocking.is_empty() {
        state.push_str(&format!("; changes requested by {}", blocking.join(", ")));
    }
    if !stale.is_empty() {
        state.push_str(&format!("; stale: {}", stale.join(", ")));
    }
    let waiting = (!passed).then(|| {
        if !blocking.is_empty() {
            format!(
                "{} to approve or dismiss their requested changes",
                blocking.join(", ")
            )
        } else {
            format!(
                "{} more approving review{} of `{}` from {} other than @{author}",
                needed - approvers.len(),
                plural(needed - approvers.len()),
                short(sha),
                mentions_or_writers(&c.approvers.review)
            )
        }
    });
    Gate {
        kind: GateKind::Review,
        passed,
        failed: false,
        state,
        waiting,
    }
}

/// The tests gate at `sha`, ignoring `/skip`.
pub fn tests_gate_unskipped(p: &Pipeline, cfg: &LoadedConfig, sha: &str) -> Gate {
    let workflows = &cfg.config.tests.workflows;
    if workflows.is_empty() {
        return Gate {
            kind: GateKind::Tests,
            passed: true,
            failed: false,
            state: "no test workflows configured".into(),
            waiting: None,
        };
    }
    let mut parts = Vec::new();
    let mut passed = true;
    let mut failed = false;
    let mut pending = Vec::new();
    for w in workflows {
        let run = p.runs_for(sha).filter(|r| &r.workflow == w).last();
        let link = |r: &TestRun| {
            r.url
                .as_ref()
                .map(|u| format!(" ([run]({u}))"))
                .unwrap_or_default()
        };
        let text = match run {
            None => {
                passed = false;
                pending.push(format!("`{w}` to be dispatched"));
                format!("`{w}` not dispatched")
            }
            Some(r) => match &r.state {
                RunState::Succeeded => {
                    let reported = r.reported().and_then(evidence::describe);
                    let reported = reported.map(|e| format!(": {e}")).unwrap_or_default();
                    format!("`{w}` ✅ passed{}{reported}", link(r))
                }
                RunState::Dispatching | RunState::Running => {
                    passed = false;
                    pending.push(format!("`{w}` to finish"));
                    format!("`{w}` ⏳ running{}", link(r))
                }
                RunState::Failed(conclusion) => {
                    passed = false;
                    failed = true;
                    format!("`{w}` ❌ {conclusion}{}", link(r))
                }
                RunState::TimedOut => {
                    passed = false;
                    failed = true;
                    format!(
                        "`{w}` ❌ no result after {}{}",
                        format_duration(cfg.config.tests.timeout),
                        link(r)
                    )
                }
                RunState::NotDispatched(why) => {
                    passed = false;
                    failed = true;
                    format!("`{w}` ❌ not dispatched: {why}")
                }
                RunState::Superseded => unreachable!("runs_for skips superseded runs"),
            },
        };
        parts.push(text);
    }
    let short_of = evidence_short_of(p, cfg, sha);
    let mut state = format!("{} on `{}`", parts.join(", "), short(sha));
    if !short_of.is_empty() {
        passed = false;
        failed = true;
        state.push_str(&format!("; ❌ {}", short_of.join("; ")));
    }
    let waiting = if !short_of.is_empty() {
        Some("a fix pushed to the pull request, or `/skip tests <reason>` by an admin".to_owned())
    } else if failed {
        Some("a fix pushed to the pull request, or `/retry tests`".to_owned())
    } else if !pending.is_empty() {
        Some(format!("{} on `{}`", pending.join(", "), short(sha)))
    } else {
        None
    };
    Gate {
        kind: GateKind::Tests,
        passed,
        failed,
        state,
        waiting,
    }
}

/// What the evidence of the test runs at `sha` lacks against the thresholds, once every
/// configured run succeeded (a run still going may yet report); empty otherwise.
pub fn evidence_short_of(p: &Pipeline, cfg: &LoadedConfig, sha: &str) -> Vec<String> {
    let succeeded: Option<Vec<&TestRun>> = cfg
        .config
        .tests
        .workflows
        .iter()
        .map(|w| {
            p.runs_for(sha)
                .filter(|r| &r.workflow == w)
                .last()
                .filter(|r| r.state == RunState::Succeeded)
        })
        .collect();
    succeeded
        .map(|runs| evidence::shortfalls(&runs, &cfg.config.tests))
        .unwrap_or_default()
}
