//! The `shipgate` check runs: on the PR's head (the gates, and when production is approved,
//! `success` so branch protection lets the merge through), on a head the pipeline moved on
//! from (`neutral`), and on the merge commit (the production deploy and its health); and the
//! buttons each offers for what can be done next.
//!
//! Must not: change the pipeline (strings and views only).

use super::summary_body;
use crate::pipeline::commands::Button;
use crate::pipeline::config::LoadedConfig;
use crate::pipeline::gates;
use crate::pipeline::model::*;
use crate::pipeline::text::{plural, short};

/// The `shipgate` check run for one SHA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunView {
    /// `in_progress` or `completed`.
    pub status: &'static str,
    pub conclusion: Option<&'static str>,
    pub title: String,
    pub summary: String,
    /// At most three buttons.
    pub actions: Vec<Button>,
}

pub fn check_run(p: &Pipeline, cfg: &LoadedConfig, sha: &str) -> CheckRunView {
    // A head the pipeline moved on from needs no gates: evaluate them only when shown.
    let summary = || summary_body(p, cfg, &gates::evaluate(p, cfg));
    if p.merge_sha() == Some(sha) {
        return merge_check_run(p, summary());
    }
    if p.production.is_some() && p.pr_head_sha() == Some(sha) && p.phase != Phase::Failed {
        return approved_head_check_run(p, summary());
    }
    if p.head_sha() != Some(sha) {
        return CheckRunView {
            status: "completed",
            conclusion: Some("neutral"),
            title: "Superseded".into(),
            summary: format!(
                "{} moved on: the pull request's head is now `{}`.",
                p.name(),
                p.head_sha().map(short).unwrap_or("gone")
            ),
            actions: vec![],
        };
    }
    let report = gates::evaluate(p, cfg);
    let gates = &report.gates;
    let summary = summary_body(p, cfg, &report);
    let (status, conclusion, title) = match p.phase {
        Phase::Rejected => ("completed", Some("failure"), "Rejected".to_owned()),
        Phase::Failed => (
            "completed",
            Some("failure"),
            "Failed — /retry after fixing".to_owned(),
        ),
        _ if gates.iter().any(|g| g.failed) => {
            ("completed", Some("failure"), "Tests failed".to_owned())
        }
        _ => {
            let open = gates.iter().filter(|g| !g.passed).count();
            let title = if p.phase == Phase::Readiness {
                "Staging deployed — waiting for production approval".to_owned()
            } else if open == 0 {
                "Review and tests green — ready for staging".to_owned()
            } else {
                format!("{open} gate{} open", plural(open))
            };
            ("in_progress", None, title)
        }
    };
    CheckRunView {
        status,
        conclusion,
        title,
        summary,
        actions: buttons(p),
    }
}

/// The `shipgate` check run on the merge commit: the production deploy and its health.
fn merge_check_run(p: &Pipeline, summary: String) -> CheckRunView {
    let deploy = p.current_deploy(Environment::Production);
    let watching = p
        .health
        .iter()
        .any(|w| w.environment == Environment::Production && w.outcome.is_none());
    let (status, conclusion, title) = match p.phase {
        Phase::RolledBack => (
            "completed",
            Some("failure"),
            format!(
                "Rolled back to `{}`",
                p.rollback
                    .as_ref()
                    .and_then(|r| r.to_sha.as_deref())
                    .map(short)
                    .unwrap_or("?")
            ),
        ),
        Phase::Done => (
            "completed",
            Some("success"),
            "In production — healthy".to_owned(),
        ),
        Phase::Failed | Phase::Rejected | Phase::Stopped => (
            "completed",
            Some("failure"),
            format!(
                "Production {}",
                p.failure
                    .as_ref()
                    .map(|f| format!("{} failed", f.stage))
                    .unwrap_or_else(|| p.phase.name().to_owned())
            ),
        ),
        _ if watching => (
            "in_progress",
            None,
            "Deployed — watching production health".to_owned(),
        ),
        _ => (
            "in_progress",
            None,
            match deploy {
                Some(d) => format!("Deploying `{}` to production", short(&d.sha)),
                None => "Starting the production deploy".to_owned(),
            },
        ),
    };
    CheckRunView {
        status,
        conclusion,
        title,
        summary,
        actions: buttons(p),
    }
}

/// The PR head's check run once production is approved: `success`, so a branch protection
/// rule that requires it lets the merge through.
fn approved_head_check_run(p: &Pipeline, summary: String) -> CheckRunView {
    let by = p.production.as_ref().map(|a| a.by.as_str()).unwrap_or("?");
    CheckRunView {
        status: "completed",
        conclusion: Some("success"),
        title: format!("Production approved by @{by}"),
        summary,
        actions: vec![],
    }
}

/// What can be done next, as at most three buttons.
pub fn buttons(p: &Pipeline) -> Vec<Button> {
    let mut out = Vec::new();
    if p.phase == Phase::Done && p.rollback.is_none() {
        return vec![Button::Rollback];
    }
    if p.phase == Phase::RolledBack
        && p.rollback
            .as_ref()
            .is_some_and(|r| r.environment == Environment::Staging)
    {
        return vec![Button::Retry];
    }
    if p.phase.is_terminal() {
        return out;
    }
    if p.paused {
        out.push(Button::Resume);
    }
    match p.phase {
        Phase::Failed => out.push(Button::Retry),
        Phase::Production
            if p.current_deploy(Environment::Production).is_some() && p.rollback.is_none() =>
        {
            out.push(Button::Rollback)
        }
        Phase::Readiness if p.production.is_none() && !p.paused => {
            out.push(Button::ApproveProduction)
        }
        Phase::Review
            if !p.paused
                && p.pr.as_ref().is_some_and(|pr| pr.open && !pr.from_fork)
                && p.current_deploy(Environment::Staging)
                    .is_none_or(|d| d.state.is_finished()) =>
        {
            out.push(Button::DeployStaging)
        }
        _ => {}
    }
    out.truncate(3);
    out
}
