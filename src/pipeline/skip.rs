//! `/skip <gate> <reason>`: an admin lets one open gate through, on the record. A skip of
//! the review, tests or staging gate holds for the head SHA it was made on (a push voids it,
//! as it voids approvals); requirement and plan skips hold for the pipeline. Every surface
//! shows a skipped gate as skipped, with who and why, and whoever skipped a gate cannot also
//! approve production for the pipeline.
//!
//! Must not: let anyone below admin skip, skip a gate that has passed, or skip anything
//! after production approval (there is nothing left before it).

use super::model::*;
use super::render::{self, Gate};
use super::step::{Step, short};

/// The gates `/skip` can let through.
pub const SKIPPABLE: [&str; 5] = ["requirement", "plan", "review", "tests", "staging"];

/// Whether a skip of this gate is tied to a head SHA.
fn per_sha(gate: &str) -> bool {
    matches!(gate, "review" | "tests" | "staging")
}

/// The skip that lets `gate` through at `sha` (the PR head for review, tests and staging).
pub fn skip_of<'a>(p: &'a Pipeline, gate: &str, sha: Option<&str>) -> Option<&'a SkipRecord> {
    p.skips
        .iter()
        .rev()
        .find(|s| s.gate == gate && (!per_sha(gate) || s.sha.as_deref() == sha))
}

/// `gate` as shown once skipped: passed, saying by whom and why, and what it was.
pub fn as_skipped(gate: Gate, skip: &SkipRecord) -> Gate {
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

/// Shows every skipped gate in `gates` as skipped.
pub fn mark_skipped(p: &Pipeline, gates: Vec<Gate>) -> Vec<Gate> {
    let head = p.pr_head_sha();
    gates
        .into_iter()
        .map(|g| {
            let key = g.name.to_lowercase();
            match skip_of(p, &key, head) {
                Some(s) if !g.passed => as_skipped(g, s),
                _ => g,
            }
        })
        .collect()
}

/// One line per skip, for the status comment and the closing summary.
pub fn skip_lines(p: &Pipeline) -> String {
    p.skips
        .iter()
        .map(|s| {
            let at = s
                .sha
                .as_deref()
                .map(|sha| format!(" at `{}`", short(sha)))
                .unwrap_or_default();
            format!("⏭️ `{}` skipped{at} by @{}: {}\n\n", s.gate, s.by, s.reason)
        })
        .collect()
}

impl Step<'_> {
    /// Whether `gate` holds right now without a skip.
    fn gate_passed(&self, gate: &str, sha: Option<&str>) -> bool {
        match (gate, sha) {
            ("requirement", _) => {
                self.p.requirement.is_some() && self.p.missing_sections.is_empty()
            }
            ("plan", _) => self.p.plan.is_some(),
            ("review", Some(sha)) => render::review_gate_unskipped(&self.p, self.cfg, sha).passed,
            ("tests", Some(sha)) => render::tests_gate_unskipped(&self.p, self.cfg, sha).passed,
            ("staging", Some(sha)) => self.staging_healthy_unskipped(sha),
            _ => false,
        }
    }

    /// `/skip <gate> <reason>`: answers what was skipped, or why not.
    pub(super) fn skip_command(
        &mut self,
        actor: &Actor,
        gate: &str,
        reason: &str,
    ) -> Result<String, String> {
        if actor.access != Access::Admin {
            return Err(format!(
                "@{} cannot skip a gate: it takes admin access to the repository (they have {})",
                actor.login,
                actor.access.name()
            ));
        }
        if actor.is_bot {
            return Err(format!(
                "@{} cannot skip a gate: bots and GitHub Apps never approve, whatever their access",
                actor.login
            ));
        }
        let gate = gate.to_lowercase();
        if !SKIPPABLE.contains(&gate.as_str()) {
            return Err(format!(
                "there is no gate `{gate}` to skip (try {})",
                SKIPPABLE
                    .iter()
                    .map(|g| format!("`{g}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if self.p.production.is_some() || matches!(self.p.phase, Phase::Production | Phase::Done) {
            return Err(
                "production is approved; there is no gate before it left to skip".to_owned(),
            );
        }
        if gate == "staging"
            && self
                .p
                .rollback
                .as_ref()
                .is_some_and(|r| !r.done && r.environment == "staging")
        {
            return Err("staging is being rolled back; let the rollback finish first".into());
        }
        if let Some(pr) = self
            .p
            .pr
            .as_ref()
            .filter(|pr| pr.from_fork && per_sha(&gate))
        {
            return Err(format!(
                "#{} comes from a fork: its head is never tested or deployed, so skipping its `{gate}` gate leads nowhere",
                pr.number
            ));
        }
        let sha = if per_sha(&gate) {
            match self.p.pr_head_sha() {
                Some(sha) => Some(sha.to_owned()),
                None => return Err(format!("there is no pull request whose `{gate}` to skip")),
            }
        } else {
            None
        };
        if skip_of(&self.p, &gate, sha.as_deref()).is_some() {
            return Err(format!("`{gate}` is already skipped"));
        }
        if self.gate_passed(&gate, sha.as_deref()) {
            return Err(format!(
                "the `{gate}` gate has passed; there is nothing to skip"
            ));
        }
        self.p.skips.push(SkipRecord {
            gate: gate.clone(),
            by: actor.login.clone(),
            reason: reason.to_owned(),
            at: self.now,
            sha: sha.clone(),
        });
        let at = sha
            .as_deref()
            .map(|s| format!(" at `{}`", short(s)))
            .unwrap_or_default();
        self.audit(&actor.login, "skip", format!("{gate}{at}: {reason}"));
        if gate == "staging" {
            // A staging deploy still in flight no longer counts, whatever it does.
            self.supersede_deploys("staging");
        }
        if self.p.phase == Phase::Failed
            && let Some(f) = self.p.failure.clone().filter(|f| f.stage == gate)
        {
            // The failed stage is the skipped gate: the pipeline goes on from where it was.
            self.p.failure = None;
            self.set_phase(f.phase);
        }
        Ok(format!(
            "⏭️ The `{gate}` gate is skipped{at} by @{}: {reason}. It is on the record, and @{} \
             cannot approve production for {}.",
            actor.login,
            actor.login,
            self.p.name()
        ))
    }
}
