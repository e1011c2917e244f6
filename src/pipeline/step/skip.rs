//! `/skip <gate> <reason>`: an admin lets one open gate through, on the record. A skip of
//! the review, tests or staging gate holds for the head SHA it was made on (a push voids it,
//! as it voids approvals); requirement and plan skips hold for the pipeline. Every surface
//! shows a skipped gate as skipped, with who and why, and whoever skipped a gate cannot also
//! approve production for the pipeline.
//!
//! Must not: let anyone below admin skip, skip a gate that has passed, or skip anything
//! after production approval (there is nothing left before it).

use super::Step;
use crate::pipeline::gates::{self, GateKind, skip_of};
use crate::pipeline::model::*;
use crate::pipeline::text::short;

impl Step<'_> {
    /// Whether `gate` holds right now without a skip.
    fn gate_passed(&self, gate: GateKind, sha: Option<&str>) -> bool {
        let (p, cfg) = (&self.p, self.cfg);
        match (gate, sha) {
            (GateKind::Requirement, _) => p.requirement.is_some() && p.missing_sections.is_empty(),
            (GateKind::Plan, _) => p.plan.is_some(),
            (GateKind::Review, Some(sha)) => gates::review_gate_unskipped(p, cfg, sha).passed,
            (GateKind::Tests, Some(sha)) => gates::tests_gate_unskipped(p, cfg, sha).passed,
            (GateKind::Staging, Some(sha)) => gates::staging_healthy_unskipped(p, cfg, sha),
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
        let Some(kind) = GateKind::skippable(&gate) else {
            return Err(format!(
                "there is no gate `{gate}` to skip (try {})",
                GateKind::SKIPPABLE
                    .iter()
                    .map(|g| format!("`{g}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        if self.p.production.is_some() || matches!(self.p.phase, Phase::Production | Phase::Done) {
            return Err(
                "production is approved; there is no gate before it left to skip".to_owned(),
            );
        }
        if kind == GateKind::Staging
            && self
                .p
                .rollback
                .as_ref()
                .is_some_and(|r| !r.done && r.environment == Environment::Staging)
        {
            return Err("staging is being rolled back; let the rollback finish first".into());
        }
        if let Some(pr) = self
            .p
            .pr
            .as_ref()
            .filter(|pr| pr.from_fork && kind.skipped_per_sha())
        {
            return Err(format!(
                "#{} comes from a fork: its head is never tested or deployed, so skipping its `{gate}` gate leads nowhere",
                pr.number
            ));
        }
        let sha = if kind.skipped_per_sha() {
            match self.p.pr_head_sha() {
                Some(sha) => Some(sha.to_owned()),
                None => return Err(format!("there is no pull request whose `{gate}` to skip")),
            }
        } else {
            None
        };
        if skip_of(&self.p, kind, sha.as_deref()).is_some() {
            return Err(format!("`{gate}` is already skipped"));
        }
        if self.gate_passed(kind, sha.as_deref()) {
            return Err(format!(
                "the `{gate}` gate has passed; there is nothing to skip"
            ));
        }
        self.p.skips.push(SkipRecord {
            gate: kind,
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
        if kind == GateKind::Staging {
            // A staging deploy still in flight no longer counts, whatever it does.
            self.supersede_deploys(Environment::Staging);
        }
        if self.p.phase == Phase::Failed
            && let Some(f) = self
                .p
                .failure
                .clone()
                .filter(|f| Some(f.stage) == kind.stage())
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
