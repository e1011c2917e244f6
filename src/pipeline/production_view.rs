//! How production shows: the production-approval, merge and production gates, the check run
//! on the merge commit, and the buttons a check run offers for what can be done next.
//!
//! Must not: change the pipeline (strings and views only).

use super::config::LoadedConfig;
use super::model::*;
use super::production::{APPROVE_PROD, Button, DEPLOY_STAGING, RESUME, RETRY, ROLLBACK};
use super::render::{CheckRunView, Gate, deploy_gate};
use super::step::short;

fn who(list: &[String]) -> String {
    if list.is_empty() {
        "someone with write access".into()
    } else {
        list.iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The gates after staging: production approval (from readiness on), merge, production.
pub fn gates(p: &Pipeline, cfg: &LoadedConfig) -> Vec<Gate> {
    let mut out = Vec::new();
    let shown = p.phase == Phase::Readiness
        || p.rollback.is_some()
        || p.production.is_some()
        || p.merge.is_some()
        || p.failure
            .as_ref()
            .is_some_and(|f| f.phase >= Phase::Readiness);
    if !shown {
        return out;
    }
    let author = p.pr.as_ref().map(|pr| pr.author.as_str()).unwrap_or("");
    out.push(match &p.production {
        Some(a) => Gate {
            name: "Production approval",
            passed: true,
            failed: false,
            state: format!("✅ approved by @{} ({})", a.by, a.via),
            waiting: None,
        },
        None => Gate {
            name: "Production approval",
            passed: false,
            failed: false,
            state: "waiting for a release approver".into(),
            waiting: Some(format!(
                "production approval: `/approve production` or the check run's **Approve prod** button, by {} other than @{author}",
                who(&cfg.config.approvers.production)
            )),
        },
    });
    if let Some(m) = &p.merge {
        out.push(match (&m.sha, &m.refused) {
            (Some(sha), _) => Gate {
                name: "Merge",
                passed: true,
                failed: false,
                state: format!("✅ `{}` — {}", short(sha), m.title),
                waiting: None,
            },
            (None, Some(why)) => Gate {
                name: "Merge",
                passed: false,
                failed: true,
                state: format!("refused: {why}"),
                waiting: Some("a fix, then `/retry merge`".into()),
            },
            (None, None) => Gate {
                name: "Merge",
                passed: false,
                failed: false,
                state: format!("merging as “{}”", m.title),
                waiting: Some("the merge".into()),
            },
        });
    }
    if let Some(g) = deploy_gate(p, cfg, "production", "Production") {
        out.push(g);
    }
    if let Some(r) = &p.rollback {
        let to = r.to_sha.as_deref().map(short);
        out.push(Gate {
            name: "Rollback",
            passed: r.done,
            failed: false,
            state: match (r.done, to) {
                (true, Some(to)) => format!(
                    "✅ {} back on `{to}` (was `{}`): {} — {}",
                    r.environment,
                    short(&r.from_sha),
                    r.reason,
                    r.by
                ),
                (false, Some(to)) => {
                    format!("rolling {} back to `{to}`: {}", r.environment, r.reason)
                }
                _ => format!(
                    "looking for the last good {} deployment: {}",
                    r.environment, r.reason
                ),
            },
            waiting: (!r.done).then(|| format!("the {} rollback", r.environment)),
        });
    }
    out
}

/// The `shipgate` check run on the merge commit: the production deploy and its health.
pub fn merge_check_run(p: &Pipeline, cfg: &LoadedConfig, summary: String) -> CheckRunView {
    let deploy = p.current_deploy("production");
    let watching = p
        .health
        .iter()
        .any(|w| w.environment == "production" && w.outcome.is_none());
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
    let _ = cfg;
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
pub fn approved_head_check_run(p: &Pipeline, summary: String) -> CheckRunView {
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
        return vec![ROLLBACK];
    }
    if p.phase == Phase::RolledBack
        && p.rollback
            .as_ref()
            .is_some_and(|r| r.environment == "staging")
    {
        return vec![RETRY];
    }
    if p.phase.is_terminal() {
        return out;
    }
    if p.paused {
        out.push(RESUME);
    }
    match p.phase {
        Phase::Failed => out.push(RETRY),
        Phase::Production if p.current_deploy("production").is_some() && p.rollback.is_none() => {
            out.push(ROLLBACK)
        }
        Phase::Readiness if p.production.is_none() && !p.paused => out.push(APPROVE_PROD),
        Phase::Review
            if !p.paused
                && p.pr.as_ref().is_some_and(|pr| pr.open && !pr.from_fork)
                && p.current_deploy("staging")
                    .is_none_or(|d| d.state.is_finished()) =>
        {
            out.push(DEPLOY_STAGING)
        }
        _ => {}
    }
    out.truncate(3);
    out
}
