//! THE GATES: every gate of a pipeline evaluated once, from the pipeline and the
//! configuration, into a [`GateReport`]: each gate with its kind, whether it passed or failed
//! for good, its evidence and what it waits for; the readiness score; and what the pipeline
//! waits for. `step` decides with it and the views show it, so what is shown is what is
//! enforced.
//!
//! Files: `review.rs` the review and tests gates at a SHA, `list.rs` the gates from the
//! requirement to the pull request, `deploy.rs` the deploy gates (staging, production), the
//! production approval, merge and rollback.
//!
//! Must not: change the pipeline, or decide from display text (kinds, never names).

mod deploy;
mod list;
mod review;

pub use deploy::{BASELINE_FLOOR_MS, deploy_gate, probe_evidence};
pub use review::{review_gate, review_gate_unskipped, tests_gate, tests_gate_unskipped};

pub use super::domain::GateKind;

use super::config::LoadedConfig;
use super::model::*;

/// One gate as shown and as enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    pub kind: GateKind,
    pub passed: bool,
    /// Failed for good on this SHA (not just waiting).
    pub failed: bool,
    /// The evidence, in Markdown: who approved, which runs, which probes.
    pub state: String,
    /// What shipgate waits for, and from whom.
    pub waiting: Option<String>,
}

impl Gate {
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

/// The readiness score and what it is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// 0–100.
    pub score: u8,
    /// The parts that did not score, as `review −25`.
    pub missing: Vec<String>,
}

/// Every gate of a pipeline, evaluated once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateReport {
    /// In the order they are passed; a gate shows once it means something (review and tests
    /// once there is a PR, deploy gates once there is a deploy, production from readiness).
    pub gates: Vec<Gate>,
    /// Review and tests hold at the PR's head (a `/skip` counts); false without a PR.
    pub reviewed_and_tested: bool,
    /// The current staging deploy is of the PR's head and held its health window (or has no
    /// health check), or staging is skipped there; false without a PR.
    pub staging_healthy: bool,
    pub readiness: Readiness,
    /// What shipgate waits for now, in one sentence.
    pub waiting_for: String,
}

impl GateReport {
    /// The gates a production approval still needs, with their evidence.
    pub fn open_for_production(&self) -> impl Iterator<Item = &Gate> {
        self.gates
            .iter()
            .filter(|g| !g.passed && g.kind.needed_for_production())
    }
}

/// Evaluates every gate of `p` under `cfg`.
pub fn evaluate(p: &Pipeline, cfg: &LoadedConfig) -> GateReport {
    let gates = all(p, cfg);
    let head = p.pr_head_sha();
    let passed = |kind| gates.iter().any(|g| g.kind == kind && g.passed);
    let reviewed_and_tested = head.is_some() && passed(GateKind::Review) && passed(GateKind::Tests);
    let staging_healthy = head.is_some_and(|sha| staging_healthy(p, cfg, sha));
    let readiness = readiness(p, cfg, passed(GateKind::Review), passed(GateKind::Tests));
    let waiting_for = waiting_for(p, cfg, &gates);
    GateReport {
        gates,
        reviewed_and_tested,
        staging_healthy,
        readiness,
        waiting_for,
    }
}

/// Every gate in order, skipped ones shown as skipped.
fn all(p: &Pipeline, cfg: &LoadedConfig) -> Vec<Gate> {
    let mut out = list::up_to_pull_request(p, cfg);
    if let Some(sha) = p.pr_head_sha() {
        out.push(review_gate(p, cfg, sha));
        out.push(tests_gate(p, cfg, sha));
    }
    if let Some(gate) = deploy_gate(p, cfg, Environment::Staging) {
        out.push(gate);
    }
    out.extend(deploy::after_staging(p, cfg));
    mark_skipped(p, out)
}

/// Whether the current staging deploy is of `sha`, succeeded, and held its health window
/// (or has no health check to hold), or an admin `/skip`ped staging at `sha`.
pub fn staging_healthy(p: &Pipeline, cfg: &LoadedConfig, sha: &str) -> bool {
    staging_healthy_unskipped(p, cfg, sha) || skip_of(p, GateKind::Staging, Some(sha)).is_some()
}

/// [`staging_healthy`] without `/skip`.
pub fn staging_healthy_unskipped(p: &Pipeline, cfg: &LoadedConfig, sha: &str) -> bool {
    let Some(d) = p.current_deploy(Environment::Staging) else {
        return false;
    };
    d.sha == sha
        && d.state == DeployState::Succeeded
        && (cfg.config.deploy.staging.health.url.is_none()
            || p.health.iter().rev().any(|w| {
                w.environment == Environment::Staging
                    && w.sha == sha
                    && w.started_at >= d.started_at
                    && w.outcome == Some(true)
            }))
}

/// The skip that lets `gate` through at `sha` (the PR head for review, tests and staging).
pub fn skip_of<'a>(p: &'a Pipeline, gate: GateKind, sha: Option<&str>) -> Option<&'a SkipRecord> {
    p.skips
        .iter()
        .rev()
        .find(|s| s.gate == gate && (!gate.skipped_per_sha() || s.sha.as_deref() == sha))
}

/// `gate` as shown once skipped: passed, saying by whom and why, and what it was.
fn as_skipped(gate: Gate, skip: &SkipRecord) -> Gate {
    Gate {
        passed: true,
        failed: false,
        state: format!(
            "⏭️ skipped by @{}: {} (was: {})",
            skip.by, skip.reason, gate.state
        ),
        waiting: None,
        ..gate
    }
}

/// `g` at `sha`, shown as skipped when an admin `/skip`ped it there.
fn with_skip(p: &Pipeline, sha: &str, g: Gate) -> Gate {
    match skip_of(p, g.kind, Some(sha)) {
        Some(s) if !g.passed => as_skipped(g, s),
        _ => g,
    }
}

/// Shows every skipped gate in `gates` as skipped.
fn mark_skipped(p: &Pipeline, gates: Vec<Gate>) -> Vec<Gate> {
    let head = p.pr_head_sha();
    gates
        .into_iter()
        .map(|g| match skip_of(p, g.kind, head) {
            Some(s) if !g.passed => as_skipped(g, s),
            _ => g,
        })
        .collect()
}

/// What shipgate waits for now, in one sentence.
fn waiting_for(p: &Pipeline, cfg: &LoadedConfig, gates: &[Gate]) -> String {
    if !cfg.is_valid() {
        return "a fix to the configuration errors below".into();
    }
    match p.phase {
        Phase::Rejected => return "nothing: the feature was rejected".into(),
        Phase::Failed => return "`/retry` once the cause of the failure is fixed".into(),
        Phase::Done => return "nothing: the feature is in production".into(),
        _ => {}
    }
    if p.paused {
        return "`/resume`: the pipeline is paused".into();
    }
    if !p.blockers.is_empty() {
        return "`/unblock`: the pipeline is blocked".into();
    }
    let waits: Vec<&str> = gates.iter().filter_map(|g| g.waiting.as_deref()).collect();
    if waits.is_empty() {
        "nothing".into()
    } else {
        waits.join("; ")
    }
}

/// The readiness score, 0–100, and what each part contributed. Weights: requirement 10,
/// plan 10, review 25, tests 25, staging deploy 15, staging health 15. A gate that passed
/// scores its weight; open or failed, nothing. Without `health.url` the health part scores
/// nothing (no evidence), so such a pipeline tops out at 85.
fn readiness(p: &Pipeline, cfg: &LoadedConfig, review: bool, tests: bool) -> Readiness {
    let deployed = p
        .current_deploy(Environment::Staging)
        .is_some_and(|d| d.state == DeployState::Succeeded);
    let healthy = deployed
        && p.health.iter().rev().any(|w| {
            w.environment == Environment::Staging
                && Some(w.sha.as_str())
                    == p.current_deploy(Environment::Staging)
                        .map(|d| d.sha.as_str())
                && w.outcome == Some(true)
        });
    let no_health_check = cfg.config.deploy.staging.health.url.is_none();
    let parts = [
        ("requirement", 10, p.requirement.is_some()),
        ("plan", 10, p.plan.is_some()),
        ("review", 25, review),
        ("tests", 25, tests),
        ("staging deploy", 15, deployed),
        ("staging health", 15, healthy),
    ];
    let score: u32 = parts
        .iter()
        .filter(|(_, _, ok)| *ok)
        .map(|(_, w, _)| w)
        .sum();
    let mut missing: Vec<String> = parts
        .iter()
        .filter(|(_, _, ok)| !ok)
        .map(|(name, w, _)| format!("{name} −{w}"))
        .collect();
    if no_health_check && let Some(m) = missing.iter_mut().find(|m| m.starts_with("staging health"))
    {
        *m = "staging health −15 (no health check configured)".into();
    }
    let short_of = p
        .pr_head_sha()
        .map(|sha| review::evidence_short_of(p, cfg, sha))
        .unwrap_or_default();
    if !tests
        && !short_of.is_empty()
        && let Some(m) = missing.iter_mut().find(|m| m.starts_with("tests"))
    {
        *m = format!("tests −25 ({})", short_of.join("; "));
    }
    Readiness {
        score: score as u8,
        missing,
    }
}

/// Whether `login` changed the linked PR's code: authored or committed any of its commits
/// (as GitHub lists them), or pushed to it (or to the pipeline's branch it comes from). They
/// neither review nor release their own change.
pub fn changed_the_code(p: &Pipeline, login: &str) -> bool {
    p.pr.as_ref().is_some_and(|pr| {
        let branch_pushers = (pr.head_branch == p.branch && !pr.from_fork)
            .then_some(&p.branch_pushers)
            .into_iter()
            .flatten();
        pr.contributors
            .iter()
            .chain(&pr.pushers)
            .chain(branch_pushers)
            .any(|c| c.eq_ignore_ascii_case(login))
    })
}

/// What is wrong with the PR's base, if anything: production runs only the default branch.
pub fn base_problem(p: &Pipeline, pr: &PullRequest) -> Option<String> {
    (!pr.base_branch.is_empty() && pr.base_branch != p.default_branch).then(|| {
        format!(
            "#{} targets `{}`, but production runs `{}`: shipgate merges and deploys only a pull request into `{}`",
            pr.number, pr.base_branch, p.default_branch, p.default_branch
        )
    })
}
