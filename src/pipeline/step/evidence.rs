//! Evidence reported by the workflows through the action: kept on the run that reported it
//! (only a run shipgate dispatched, for the commit it was sent for — `evidence::admit`),
//! audited; and the operator told when the tests gate at the head turns green or red.
//!
//! Must not: judge the thresholds (the tests gate does, from what is kept here).

use super::Step;
use crate::pipeline::evidence::{self, Target};
use crate::pipeline::gates::tests_gate;
use crate::pipeline::model::*;
use crate::pipeline::text::short;

impl Step<'_> {
    /// A verified token's run reported `report`: merged over what the same attempt
    /// reported before, or replacing an earlier attempt's.
    pub(super) fn on_evidence(
        &mut self,
        claims: &RunClaims,
        correlation: Option<&str>,
        report: &Evidence,
    ) {
        let workflow = &self.cfg.config.deploy.workflow;
        // The shell admitted it under the same lock; a refusal here means the pipeline
        // moved in between, and the report counts for nothing.
        let Ok(target) = evidence::admit(&self.p, workflow, claims, correlation) else {
            return;
        };
        if !evidence::metrics_fit(&self.p, target, claims.run_attempt, report) {
            return;
        }
        let report = Evidence {
            attempt: claims.run_attempt,
            at: self.now,
            ..report.clone()
        };
        let slot = match target {
            Target::Test(i) => &mut self.p.runs[i].evidence,
            Target::Deploy(i) => &mut self.p.deploys[i].evidence,
        };
        let kept = match slot.take() {
            Some(old) if old.attempt == report.attempt => old.merged(&report),
            _ => report,
        };
        let detail = format!(
            "run {} (attempt {}): {}",
            claims.run_id,
            claims.run_attempt,
            evidence::describe(&kept).unwrap_or_else(|| "nothing".into())
        );
        *slot = Some(kept);
        self.audit(&format!("run {}", claims.run_id), "evidence", detail);
    }

    /// Tells the operator when the tests gate at the PR's head passes or fails for good
    /// (with the evidence, or what it lacks) where it did not before this step.
    pub(super) fn tell_tests_verdict(&mut self, before: &Pipeline) {
        let Some(sha) = self.p.pr_head_sha().map(str::to_owned) else {
            return;
        };
        let now = tests_gate(&self.p, self.cfg, &sha);
        let then = (before.pr_head_sha() == Some(sha.as_str()))
            .then(|| tests_gate(before, self.cfg, &sha));
        let changed = |was: Option<bool>, is: bool| is && was != Some(true);
        let verdict = if changed(then.as_ref().map(|g| g.passed), now.passed) {
            "passed"
        } else if changed(then.as_ref().map(|g| g.failed), now.failed) {
            "failed"
        } else {
            return;
        };
        let text = format!(
            "{}: tests {verdict} on `{}`: {}",
            self.p.name(),
            short(&sha),
            now.state
        );
        self.notify("tests", text);
    }
}
