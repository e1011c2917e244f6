//! Gate timeouts on durable timers (DESIGN.md §1): the requirement escalates after
//! `requirement.escalate_after` (mentioning `escalate_to`) and is rejected after
//! `reject_after`; the plan auto-approves with a warning after `plan.auto_approve_after`;
//! production approval is rejected after `approval_timeout`. `/pause` holds these clocks: a
//! timer that fires early (paused time does not count) is set again for what is left.
//! Also every other timer as it fires: health ticks (`health.rs`) and run watchdogs (a run
//! silent for `tests.timeout` is polled, or timed out when GitHub never gave its id).
//!
//! Must not: act on a gate the pipeline has already left.

use super::{Step, watchdog_key};
use crate::pipeline::config::{PlanApproval, format_duration};
use crate::pipeline::model::TimeoutAction::{AutoApprove, Escalate, Reject};
use crate::pipeline::model::*;
use crate::pipeline::plan::plan;
use crate::pipeline::views::replies;

/// Which gate a timeout belongs to, and the phase that gate is decided in.
fn gate_phase(gate: GateKind) -> Option<Phase> {
    match gate {
        GateKind::Requirement => Some(Phase::Intake),
        GateKind::Plan => Some(Phase::Planning),
        GateKind::ProductionApproval => Some(Phase::Readiness),
        _ => None,
    }
}

impl Step<'_> {
    /// Paused time so far (including a pause still on).
    fn held_ms(&self) -> i64 {
        self.p.held_ms + self.p.paused_at.map_or(0, |at| self.now - at)
    }

    /// Starts the clocks of the gate `phase` decides, when the pipeline enters it.
    pub(super) fn start_gate_clocks(&mut self, phase: Phase) {
        self.p.phase_held_at_entry = self.held_ms();
        let c = &self.cfg.config;
        let clocks: Vec<(GateKind, TimeoutAction, u64)> = match phase {
            Phase::Intake => vec![
                (
                    GateKind::Requirement,
                    Escalate,
                    c.requirement.escalate_after,
                ),
                (GateKind::Requirement, Reject, c.requirement.reject_after),
            ],
            Phase::Planning if c.plan.approval == PlanApproval::Required => {
                vec![(GateKind::Plan, AutoApprove, c.plan.auto_approve_after)]
            }
            Phase::Readiness => c
                .deploy
                .production
                .approval_timeout
                .map(|t| vec![(GateKind::ProductionApproval, Reject, t)])
                .unwrap_or_default(),
            _ => vec![],
        };
        for (gate, action, after) in clocks {
            if after > 0 {
                self.set_gate_timer(gate, action, self.now + after as i64 * 1000);
            }
        }
    }

    fn set_gate_timer(&mut self, gate: GateKind, action: TimeoutAction, due_at: i64) {
        // One key per due time: a fired timer is a one-shot input.
        let key = format!("gate:{gate}:{}:{due_at}", action.name());
        self.set_timer(key, due_at, TimerKind::GateTimeout { gate, action });
    }

    pub(super) fn on_gate_timeout(&mut self, gate: GateKind, action: TimeoutAction) {
        if gate_phase(gate) != Some(self.p.phase) {
            return; // the gate was decided (or the pipeline moved) meanwhile
        }
        let c = &self.cfg.config;
        let after = match (gate, action) {
            (GateKind::Requirement, Escalate) => c.requirement.escalate_after,
            (GateKind::Requirement, Reject) => c.requirement.reject_after,
            (GateKind::Plan, AutoApprove) => c.plan.auto_approve_after,
            (GateKind::ProductionApproval, Reject) => {
                c.deploy.production.approval_timeout.unwrap_or(0)
            }
            _ => return,
        } as i64
            * 1000;
        let entered = self.p.timeline.last().map_or(self.p.created_at, |t| t.1);
        let waited = self.now - entered - (self.held_ms() - self.p.phase_held_at_entry);
        if self.p.paused || waited < after {
            // Paused time does not count: look again when the rest has passed.
            let rest = (after - waited).max(60_000);
            self.set_gate_timer(gate, action, self.now + rest);
            return;
        }
        let waited_for = format_duration((after / 1000) as u64);
        match (gate, action) {
            (GateKind::Requirement, Escalate) => {
                let requirement = &self.cfg.config.requirement;
                let text = replies::escalated(
                    &waited_for,
                    &requirement.escalate_to,
                    requirement.reject_after,
                );
                let issue = self.p.issue;
                self.reply(issue, text);
                self.audit(
                    "shipgate",
                    "escalate",
                    format!("requirement after {waited_for}"),
                );
            }
            (GateKind::Plan, AutoApprove)
                if !plan(&self.p.tasks, &self.p.sub_issues).problems.is_empty() => {}
            (GateKind::Plan, AutoApprove) => {
                self.p.plan = Some(Approval {
                    by: "shipgate".into(),
                    at: self.now,
                    via: format!("plan.auto_approve_after ({waited_for})"),
                });
                let issue = self.p.issue;
                self.reply(issue, replies::plan_auto_approved(&waited_for));
                self.audit(
                    "shipgate",
                    "approve plan",
                    format!("auto after {waited_for}"),
                );
            }
            (gate, _) => {
                let reason = format!("{gate} approval did not come within {waited_for}");
                self.p.rejection = Some(Rejection {
                    by: "shipgate".into(),
                    reason: Some(reason.clone()),
                    at: self.now,
                });
                self.audit("shipgate", "reject", reason.clone());
                self.set_phase(Phase::Rejected);
                let issue = self.p.issue;
                self.reply(issue, replies::rejected_by_timeout(&reason));
            }
        }
    }

    pub(super) fn on_timer(&mut self, kind: &TimerKind) {
        match kind {
            TimerKind::GateTimeout { gate, action } => self.on_gate_timeout(*gate, *action),
            TimerKind::HealthTick { environment, since } => {
                self.on_health_tick(*environment, *since)
            }
            TimerKind::RunWatchdog { correlation }
                if self.p.deploys.iter().any(|d| &d.correlation == correlation) =>
            {
                self.on_deploy_watchdog(correlation)
            }
            TimerKind::RunWatchdog { correlation } => match self.task_of(correlation) {
                Some(i) => self.on_task_watchdog(i),
                None => self.on_run_watchdog(correlation),
            },
            // The backoff is over, or another pipeline of the repository freed a shared slot:
            // `drive` dispatches the tasks that may start.
            TimerKind::TaskRetry { .. } | TimerKind::TaskSlot => {}
        }
    }

    pub(super) fn cancel_watchdogs(&mut self, which: impl Fn(&TestRun) -> bool) {
        let keys: Vec<String> = self
            .p
            .runs
            .iter()
            .filter(|r| !r.state.is_finished() && which(r))
            .map(|r| watchdog_key(&r.correlation))
            .collect();
        for key in keys {
            self.cancel_timer(key);
        }
    }
}
