//! Intake and planning: the issue's snapshot (title, labels, required sections, task list),
//! the requirement's approval (`/approve` or the approval label) and the plan's, and the
//! notification asking an approver when a phase waits for one.
//!
//! Must not: approve anything for an actor `authorise` refuses, or while the configuration
//! has errors.

use super::Step;
use crate::pipeline::config::PlanApproval;
use crate::pipeline::gates::{GateKind, skip_of};
use crate::pipeline::linking;
use crate::pipeline::model::*;
use crate::pipeline::plan::plan;
use crate::pipeline::views::{refusals as say, replies};

impl Step<'_> {
    pub(super) fn on_issue(&mut self, action: &IssueAction, issue: &IssueSnapshot, actor: &Actor) {
        if issue.number != self.p.issue {
            // One of the plan's sub-issues (the shell found the pipeline by it).
            if matches!(
                action,
                IssueAction::Closed | IssueAction::Reopened | IssueAction::Removed
            ) {
                self.on_tasks_changed(issue.number);
            }
            return;
        }
        if *action == IssueAction::Removed {
            return; // the feature issue itself: its snapshot is no longer GitHub's word
        }
        // A snapshot older than one already applied (a late or re-sent delivery) changes
        // nothing: the newer one holds everything it says.
        if issue.updated_at >= self.p.issue_updated_at {
            self.p.issue_updated_at = issue.updated_at;
            self.p.issue_labels = issue.labels.clone();
            self.p.title = issue.title.clone();
            if issue.node_id.is_some() {
                self.p.issue_node_id = issue.node_id.clone();
            }
            if matches!(self.p.phase, Phase::Intake) {
                self.p.missing_sections = linking::missing_sections(
                    &issue.body,
                    &self.cfg.config.requirement.required_sections,
                );
            }
            // The plan is fixed once approved; once the development stage has taken its
            // tasks, the list is still read, for the ones people tick (`develop.rs` finds them
            // by their text and changes nothing else).
            let ticks_count = self.p.phase == Phase::Development && !self.p.dev_tasks.is_empty();
            if matches!(self.p.phase, Phase::Intake | Phase::Planning) || ticks_count {
                self.p.tasks = linking::task_list(&issue.body);
            }
        }
        // A label approves only while GitHub's newest word has it on the issue.
        let approval_label = &self.cfg.config.requirement.approval_label;
        if let IssueAction::Labeled(label) = action
            && label == approval_label
            && self.p.issue_labels.contains(label)
            && !actor.is_self
            && self.p.requirement.is_none()
            && let Err(why) = self.approve_requirement(actor, "the approval label")
        {
            let label = label.clone();
            self.emit(Action::RemoveLabel {
                label: label.clone(),
            });
            let issue = self.p.issue;
            self.audit(
                &actor.login,
                "refused",
                format!("the `{label}` label: {why}"),
            );
            self.reply(issue, replies::label_removed(&label, &why));
        }
    }

    /// GitHub changed the plan's sub-issues (one added, removed, closed or reopened) or the
    /// "blocked by" of one of them: read them again while the plan is being made or its
    /// tasks run. (Changes to the feature issue's own dependencies are not the plan's.)
    pub(super) fn on_tasks_changed(&mut self, sub_issue: u64) {
        let develops = self.p.phase == Phase::Development && self.cfg.config.develop.is_on();
        if sub_issue != self.p.issue && (self.p.phase == Phase::Planning || develops) {
            self.emit(Action::FetchSubIssues);
        }
    }

    pub(super) fn approve_requirement(&mut self, actor: &Actor, via: &str) -> Result<(), String> {
        if self.p.requirement.is_some() {
            return Err(say::requirement_already_approved());
        }
        if self.p.phase != Phase::Intake {
            return Err(say::pipeline_is(self.p.phase));
        }
        if !self.cfg.is_valid() {
            return Err(say::gates_hold_config_broken());
        }
        self.authorise(
            actor,
            Some(GateKind::Requirement),
            "approve the requirement",
        )?;
        if !self.p.missing_sections.is_empty() {
            return Err(say::requirement_incomplete(&self.p.missing_sections));
        }
        self.p.requirement = Some(Approval {
            by: actor.login.clone(),
            at: self.now,
            via: via.into(),
        });
        self.audit(&actor.login, "approve requirement", via.to_owned());
        Ok(())
    }

    pub(super) fn approve_plan(&mut self, actor: &Actor) -> Result<(), String> {
        match self.p.phase {
            Phase::Intake => return Err(say::approve_requirement_first()),
            Phase::Planning => {}
            _ => return Err(say::plan_already_approved()),
        }
        if !self.cfg.is_valid() {
            return Err(say::plan_gates_hold_config_broken());
        }
        self.authorise(actor, Some(GateKind::Plan), "approve the plan")?;
        let problems = plan(&self.p.tasks, &self.p.sub_issues).problems;
        if !problems.is_empty() {
            return Err(say::plan_has_problems(&problems));
        }
        self.p.plan = Some(Approval {
            by: actor.login.clone(),
            at: self.now,
            via: "/approve plan".into(),
        });
        self.audit(&actor.login, "approve plan", "/approve plan".into());
        Ok(())
    }

    /// Entering a phase that waits for a person's approval asks for it.
    pub(super) fn notify_approval_request(&mut self, phase: Phase) {
        let approvers = &self.cfg.config.approvers;
        let (gate, list) = match phase {
            Phase::Planning
                if self.cfg.config.plan.approval != PlanApproval::Auto
                    && self.p.plan.is_none()
                    && skip_of(&self.p, GateKind::Plan, None).is_none() =>
            {
                ("the plan (`/approve plan`)", &approvers.plan)
            }
            Phase::Readiness if self.p.production.is_none() => {
                ("production (`/approve production`)", &approvers.production)
            }
            _ => return,
        };
        let from = if list.is_empty() {
            "someone with write access".to_owned()
        } else {
            list.join(", ")
        };
        let text = format!(
            "{} “{}” waits for approval of {gate} from {from}",
            self.p.name(),
            self.p.title
        );
        self.notify("approval", text);
    }
}
