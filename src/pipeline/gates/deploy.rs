//! The deploy gates (staging, production: the current deploy and its health evidence) and
//! the gates after staging: production approval (from readiness on), merge, rollback.
//!
//! Must not: show a superseded deploy (a newer one replaced it).

use super::{Gate, GateKind};
use crate::pipeline::config::{LoadedConfig, format_duration};
use crate::pipeline::model::*;
use crate::pipeline::text::{code_list_or_writers, short};

/// The gates after staging: production approval (from readiness on), merge, production.
pub(super) fn after_staging(p: &Pipeline, cfg: &LoadedConfig) -> Vec<Gate> {
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
            kind: GateKind::ProductionApproval,
            passed: true,
            failed: false,
            state: format!("approved by @{} ({})", a.by, a.via),
            waiting: None,
        },
        None => Gate {
            kind: GateKind::ProductionApproval,
            passed: false,
            failed: false,
            state: "waiting for a release approver".into(),
            waiting: Some(format!(
                "production approval: `/approve production` or the check run's **Approve prod** button, by {} other than @{author}",
                code_list_or_writers(&cfg.config.approvers.production)
            )),
        },
    });
    if let Some(m) = &p.merge {
        out.push(match (&m.sha, &m.refused) {
            (Some(sha), _) => Gate {
                kind: GateKind::Merge,
                passed: true,
                failed: false,
                state: format!("`{}` — {}", short(sha), m.title),
                waiting: None,
            },
            (None, Some(why)) => Gate {
                kind: GateKind::Merge,
                passed: false,
                failed: true,
                state: format!("refused: {why}"),
                waiting: Some("a fix, then `/retry merge`".into()),
            },
            (None, None) => Gate {
                kind: GateKind::Merge,
                passed: false,
                failed: false,
                state: format!("merging as “{}”", m.title),
                waiting: Some("the merge".into()),
            },
        });
    }
    if let Some(g) = deploy_gate(p, cfg, Environment::Production) {
        out.push(g);
    }
    if let Some(r) = &p.rollback {
        let to = r.to_sha.as_deref().map(short);
        out.push(Gate {
            kind: GateKind::Rollback,
            passed: r.done,
            failed: false,
            state: match (r.done, to) {
                (true, Some(to)) => format!(
                    "{} back on `{to}` (was `{}`): {} — {}",
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

/// An environment's current deploy and its health, once there is one.
pub fn deploy_gate(p: &Pipeline, cfg: &LoadedConfig, environment: Environment) -> Option<Gate> {
    let kind = if environment == Environment::Staging {
        GateKind::Staging
    } else {
        GateKind::Production
    };
    let d = p.current_deploy(environment)?;
    let retry = format!("a fix, then `/retry {environment}`");
    let run = d
        .url
        .as_ref()
        .map(|u| format!(" ([run]({u}))"))
        .unwrap_or_default();
    let sha = short(&d.sha);
    let (passed, failed, state, waiting) = match &d.state {
        DeployState::Creating | DeployState::Dispatching => (
            false,
            false,
            format!("deploying `{sha}`"),
            Some(format!("the {environment} deploy of `{sha}`")),
        ),
        DeployState::Running => (
            false,
            false,
            format!("deploying `{sha}`{run}"),
            Some(format!("the {environment} deploy of `{sha}` to finish")),
        ),
        DeployState::Succeeded => {
            let h = &cfg.config.deploy.environment(environment).health;
            let watch = p
                .health
                .iter()
                .rev()
                .find(|w| w.environment == environment && w.sha == d.sha);
            match watch {
                None => (
                    true,
                    false,
                    format!(
                        "`{sha}` deployed{run}; no health check configured: healthy when the deploy run succeeds"
                    ),
                    None,
                ),
                Some(w) => {
                    let last = w
                        .recent
                        .last()
                        .map(|r| match (r.status, &r.error) {
                            (Some(code), _) if r.ok => {
                                format!("; last {code} in {} ms", r.latency_ms)
                            }
                            (_, Some(e)) => format!("; last: {e}"),
                            _ => String::new(),
                        })
                        .unwrap_or_default();
                    let probes = format!(
                        "{} of {} probes of {} ok{last}",
                        w.total - w.failed,
                        w.total,
                        w.url
                    );
                    match w.outcome {
                        None => (
                            false,
                            false,
                            format!("`{sha}` deployed{run}; watching health: {probes}"),
                            Some(format!(
                                "health probes of {} every {} to hold for {} (fails after {} in a row)",
                                w.url,
                                format_duration(h.interval),
                                format_duration(h.window),
                                h.failures
                            )),
                        ),
                        Some(true) => (
                            true,
                            false,
                            format!(
                                "`{sha}` deployed{run}; healthy for {}: {probes}",
                                format_duration(h.window)
                            ),
                            None,
                        ),
                        Some(false) => (
                            false,
                            true,
                            format!("`{sha}` deployed{run}; unhealthy: {probes}"),
                            Some(retry.clone()),
                        ),
                    }
                }
            }
        }
        DeployState::Failed(conclusion) => (
            false,
            true,
            format!("deploy of `{sha}` concluded `{conclusion}`{run}"),
            Some(retry.clone()),
        ),
        DeployState::NotStarted(why) => (
            false,
            true,
            format!("not started: {why}"),
            Some(retry.clone()),
        ),
        DeployState::Superseded => return None,
    };
    Some(Gate {
        kind,
        passed,
        failed,
        state,
        waiting,
    })
}

/// One probe as evidence: `502 in 3 ms`, or what went wrong.
pub fn probe_evidence(r: &ProbeRecord) -> String {
    match (&r.error, r.status) {
        (Some(e), _) if !r.ok => format!("{e} after {} ms", r.latency_ms),
        (_, Some(status)) => format!("{status} in {} ms", r.latency_ms),
        _ => format!("{} ms", r.latency_ms),
    }
}

/// Latencies under this count as this much: a fast local endpoint's jitter is not a trend.
pub const BASELINE_FLOOR_MS: u64 = 20;
