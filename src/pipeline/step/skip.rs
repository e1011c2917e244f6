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
use crate::pipeline::views::{refusals as say, replies};

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
            return Err(say::skip_needs_admin(&actor.login, actor.access));
        }
        if actor.is_bot {
            return Err(say::bots_never_decide(&actor.login, "skip a gate"));
        }
        let gate = gate.to_lowercase();
        let Some(kind) = GateKind::skippable(&gate) else {
            return Err(say::no_such_gate(&gate));
        };
        if self.p.production.is_some() || matches!(self.p.phase, Phase::Production | Phase::Done) {
            return Err(say::nothing_left_to_skip());
        }
        if kind == GateKind::Staging
            && self
                .p
                .rollback
                .as_ref()
                .is_some_and(|r| !r.done && r.environment == Environment::Staging)
        {
            return Err(say::staging_rolling_back());
        }
        if let Some(pr) = self
            .p
            .pr
            .as_ref()
            .filter(|pr| pr.from_fork && kind.skipped_per_sha())
        {
            return Err(say::skip_on_a_fork(pr.number, &gate));
        }
        let sha = if kind.skipped_per_sha() {
            match self.p.pr_head_sha() {
                Some(sha) => Some(sha.to_owned()),
                None => return Err(say::no_pull_request_to_skip(&gate)),
            }
        } else {
            None
        };
        if skip_of(&self.p, kind, sha.as_deref()).is_some() {
            return Err(say::already_skipped(&gate));
        }
        if self.gate_passed(kind, sha.as_deref()) {
            return Err(say::gate_passed(&gate));
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
        Ok(replies::skipped(
            &gate,
            &at,
            &actor.login,
            reason,
            &self.p.name(),
        ))
    }
}
