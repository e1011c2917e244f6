//! The gates from intake to a pull request: the requirement (its sections and approval),
//! the plan, the feature branch, and the pull request that drives the pipeline (a fork's, or
//! one into another branch than production runs, never passes).
//!
//! Must not: look at reviews, runs or deploys (`review.rs`, `deploy.rs`).

use super::{Gate, GateKind, base_problem};
use crate::pipeline::config::LoadedConfig;
use crate::pipeline::model::*;
use crate::pipeline::plan::plan;
use crate::pipeline::text::{code_list, mentions_or_writers, plural, short};

/// The requirement, plan, branch and pull-request gates, in order.
pub(super) fn up_to_pull_request(p: &Pipeline, cfg: &LoadedConfig) -> Vec<Gate> {
    let c = &cfg.config;
    let mut out = Vec::new();
    let requirement = match (&p.requirement, p.missing_sections.is_empty()) {
        (Some(a), _) => Gate {
            kind: GateKind::Requirement,
            passed: true,
            failed: false,
            state: format!("approved by @{} ({})", a.by, a.via),
            waiting: None,
        },
        (None, false) => Gate {
            kind: GateKind::Requirement,
            passed: false,
            failed: false,
            state: format!(
                "missing section{}: {}",
                plural(p.missing_sections.len()),
                code_list(&p.missing_sections)
            ),
            waiting: Some(format!(
                "@{} to add {} to the issue",
                p.author,
                p.missing_sections
                    .iter()
                    .map(|s| format!("a `## {s}` section"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )),
        },
        (None, true) => Gate {
            kind: GateKind::Requirement,
            passed: false,
            failed: false,
            state: "complete, waiting for approval".into(),
            waiting: Some(format!(
                "`/approve` or the `{}` label from {}",
                c.requirement.approval_label,
                mentions_or_writers(&c.approvers.requirement)
            )),
        },
    };
    out.push(requirement);
    let plan = match &p.plan {
        Some(a) => Gate {
            kind: GateKind::Plan,
            passed: true,
            failed: false,
            state: format!(
                "approved by {} ({})",
                if a.by == "shipgate" {
                    "shipgate".to_owned()
                } else {
                    format!("@{}", a.by)
                },
                a.via
            ),
            waiting: None,
        },
        None => {
            let problems = plan(&p.tasks, &p.sub_issues).problems;
            let count = p.tasks.len() + p.sub_issues.len();
            let mut state = format!("{count} task{}", plural(count));
            if !problems.is_empty() {
                state.push_str(&format!("; ❌ {}", problems.join("; ")));
            }
            Gate {
                kind: GateKind::Plan,
                passed: false,
                failed: !problems.is_empty(),
                state,
                waiting: (p.phase == Phase::Planning).then(|| {
                    if problems.is_empty() {
                        format!(
                            "`/approve plan` from {}",
                            mentions_or_writers(&c.approvers.plan)
                        )
                    } else {
                        "the tasks' `(after …)` markers fixed in the issue".to_owned()
                    }
                }),
            }
        }
    };
    out.push(plan);
    let branch = match p.branch_state {
        BranchState::Created => format!("`{}` created from `{}`", p.branch, p.default_branch),
        BranchState::Existed => format!("`{}` (already existed)", p.branch),
        BranchState::Requested => format!("creating `{}`", p.branch),
        BranchState::NotCreated => format!("`{}` once the plan is approved", p.branch),
    };
    out.push(Gate {
        kind: GateKind::Branch,
        passed: matches!(p.branch_state, BranchState::Created | BranchState::Existed),
        failed: false,
        state: branch,
        waiting: None,
    });
    // A fork's PR, or one into another branch than production runs, never passes — open
    // or merged (by a person) alike.
    let untrusted = |pr: &PullRequest| {
        if pr.from_fork {
            Some((
                format!(
                    "#{} by @{} comes from a fork: shipgate never tests, deploys or merges it",
                    pr.number, pr.author
                ),
                "a pull request from a branch of this repository".to_owned(),
            ))
        } else {
            base_problem(p, pr).map(|problem| {
                (
                    problem,
                    format!("#{} to target `{}`", pr.number, p.default_branch),
                )
            })
        }
    };
    let pr_gate = match &p.pr {
        Some(pr) if pr.merged || (pr.open && !pr.draft) => match untrusted(pr) {
            Some((state, waiting)) => Gate {
                kind: GateKind::PullRequest,
                passed: false,
                failed: true,
                state,
                waiting: Some(waiting),
            },
            None if pr.merged => Gate {
                kind: GateKind::PullRequest,
                passed: true,
                failed: false,
                state: format!(
                    "#{} by @{} merged{}",
                    pr.number,
                    pr.author,
                    p.merge_sha()
                        .map(|m| format!(" as `{}`", short(m)))
                        .unwrap_or_default()
                ),
                waiting: None,
            },
            None => Gate {
                kind: GateKind::PullRequest,
                passed: true,
                failed: false,
                state: format!(
                    "#{} by @{}, head `{}`",
                    pr.number,
                    pr.author,
                    short(&pr.head_sha)
                ),
                waiting: None,
            },
        },
        Some(pr) => Gate {
            kind: GateKind::PullRequest,
            passed: false,
            failed: false,
            state: format!(
                "#{} is {}",
                pr.number,
                if pr.open { "a draft" } else { "closed" }
            ),
            waiting: Some(format!(
                "#{} to be {}",
                pr.number,
                if pr.open {
                    "marked ready for review"
                } else {
                    "reopened, or a new pull request"
                }
            )),
        },
        None => Gate {
            kind: GateKind::PullRequest,
            passed: false,
            failed: false,
            state: "none yet".into(),
            waiting: (p.phase == Phase::Development).then(|| {
                format!(
                    "a pull request from `{}` or one that says `Closes #{}`",
                    p.branch, p.issue
                )
            }),
        },
    };
    out.push(pr_gate);
    out
}
