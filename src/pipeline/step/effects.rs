//! Results of effects, fed back: what GitHub made (comment and check-run ids, run ids,
//! deployments, merges, incident issues, rollback targets, polled runs) and what it refused.
//!
//! Must not: retry anything itself (the shell retries transient failures; what reaches
//! `on_effect_failed` failed for good).

use super::{Step, watchdog_key};
use crate::pipeline::model::*;
use crate::pipeline::views::{failures as why, replies};

impl Step<'_> {
    pub(super) fn on_effect_done(&mut self, result: &EffectResult) {
        match result {
            EffectResult::StatusComment { id } => self.p.status_comment = Some(*id),
            EffectResult::CheckRun { sha, id, completed } => {
                self.p.check_runs.insert(
                    sha.clone(),
                    CheckRunRecord {
                        id: *id,
                        completed: *completed,
                    },
                );
            }
            EffectResult::Dispatched {
                correlation,
                run_id,
                url,
            } if self.p.deploys.iter().any(|d| &d.correlation == correlation) => {
                self.on_deploy_dispatched(correlation, *run_id, url)
            }
            EffectResult::Dispatched {
                correlation,
                run_id,
                url,
            } if self.task_of(correlation).is_some() => {
                let i = self.task_of(correlation).expect("checked");
                self.on_task_dispatched(i, *run_id, url);
            }
            EffectResult::Dispatched {
                correlation,
                run_id,
                url,
            } => {
                if let Some(run) = self.p.run_mut(correlation) {
                    run.run_id = Some(*run_id);
                    run.url = Some(url.clone());
                    if run.state == RunState::Dispatching {
                        run.state = RunState::Running;
                    }
                    if !run.state.is_finished() {
                        // The watchdog starts when GitHub has the run, not when it was asked
                        // for (a dispatch can wait behind a rate limit).
                        let due_at = self.now + self.cfg.config.tests.timeout as i64 * 1000;
                        let correlation = correlation.clone();
                        self.set_timer(
                            watchdog_key(&correlation),
                            due_at,
                            TimerKind::RunWatchdog { correlation },
                        );
                    }
                }
            }
            EffectResult::Branch { existed } => {
                self.p.branch_state = if *existed {
                    BranchState::Existed
                } else {
                    BranchState::Created
                };
            }
            EffectResult::SubIssues { tasks } => {
                self.p.sub_issues = tasks.clone();
                self.follow_sub_issues();
            }
            EffectResult::DeploymentCreated {
                correlation,
                deployment_id,
            } => {
                if let Some(d) = self.p.deploy_mut(correlation)
                    && d.state == DeployState::Creating
                {
                    d.deployment_id = Some(*deployment_id);
                    d.state = DeployState::Dispatching;
                }
                self.dispatch_deploys();
            }
            EffectResult::Probed {
                environment,
                ok,
                status,
                latency_ms,
                error,
                refused,
            } => {
                let record = ProbeRecord {
                    at: self.now,
                    ok: *ok,
                    status: *status,
                    latency_ms: *latency_ms,
                    error: error.clone(),
                };
                self.on_probed(*environment, record, refused.clone());
            }
            EffectResult::PullFound { pulls } => {
                for pr in pulls {
                    if let Some(own) = self.p.own_pr.as_mut()
                        && pr.head_branch == self.p.branch
                    {
                        own.refused = None;
                    }
                    // Found when development began, or GitHub's word on the linked one.
                    if self.p.pr.as_ref().is_none_or(|l| l.number == pr.number) {
                        self.on_pull(pr);
                    }
                }
            }
            EffectResult::PullNotOpened { reason } => {
                if let Some(own) = self.p.own_pr.as_mut() {
                    own.refused = Some(reason.clone());
                }
            }
            EffectResult::Merged { sha } => self.on_merged(sha),
            EffectResult::NotMerged { number, base } => {
                self.on_merge_refused(why::base_changed(*number, base, &self.p.default_branch))
            }
            EffectResult::IncidentOpened { number } => self.on_incident_opened(*number),
            EffectResult::RollbackTarget { environment, sha } => {
                self.on_rollback_target(*environment, sha.as_deref())
            }
            EffectResult::RunPolled {
                correlation,
                report,
            } => {
                if report.status == "completed" {
                    self.on_run_report(report, Some(correlation));
                } else if let Some(i) = self.task_of(correlation) {
                    // The silent run may still push: it is cancelled before the next attempt.
                    self.emit(Action::CancelRun {
                        run_id: report.run_id,
                    });
                    self.task_attempt_failed(i, "still not finished after `develop.timeout`");
                } else if self.p.deploys.iter().any(|d| &d.correlation == correlation) {
                    self.on_deploy_silent(correlation, &report.url);
                } else if let Some(run) = self.p.run_mut(correlation)
                    && !run.state.is_finished()
                {
                    run.state = RunState::TimedOut;
                    run.finished_at = Some(self.now);
                    run.url = Some(report.url.clone());
                }
            }
        }
    }

    pub(super) fn on_effect_failed(&mut self, action: &Action, reason: &str) {
        match action {
            // `develop.open_pr`: the status comment says why; a person can do it by hand.
            Action::OpenPullRequest { .. } => {
                if let Some(own) = self.p.own_pr.as_mut() {
                    own.refused = Some(reason.to_owned());
                }
            }
            Action::MarkReadyForReview { .. } => {
                if let Some(own) = self.p.own_pr.as_mut() {
                    own.not_ready = Some(reason.to_owned());
                }
            }
            Action::DispatchTask { correlation, .. } => {
                if let Some(i) = self.task_of(correlation) {
                    self.task_attempt_failed(i, &format!("not dispatched: {reason}"));
                }
            }
            Action::PollRun { correlation, .. } if self.task_of(correlation).is_some() => {
                let i = self.task_of(correlation).expect("checked");
                self.task_attempt_failed(i, &format!("could not be read: {reason}"));
            }
            Action::Dispatch {
                workflow,
                correlation,
                ..
            } => {
                if let Some(run) = self.p.run_mut(correlation) {
                    run.state = RunState::NotDispatched(reason.to_owned());
                    run.finished_at = Some(self.now);
                }
                self.fail(Stage::Tests, why::not_dispatched(workflow, reason));
            }
            Action::CreateDeployment {
                correlation,
                environment,
                ..
            }
            | Action::DispatchDeploy {
                correlation,
                environment,
                ..
            } => {
                if let Some(d) = self.p.deploy_mut(correlation) {
                    d.state = DeployState::NotStarted(reason.to_owned());
                    d.finished_at = Some(self.now);
                }
                let created = matches!(action, Action::DispatchDeploy { .. });
                self.fail(*environment, why::deploy_not_started(created, reason));
            }
            Action::CreateBranch { branch, .. } => {
                self.fail(Stage::Branch, why::branch_not_created(branch, reason));
            }
            Action::Merge { number, .. } => {
                self.on_merge_refused(why::merge_refused(*number, reason))
            }
            Action::FindRollbackTarget { environment, .. } => {
                self.p.rollback = None;
                self.fail(*environment, why::no_rollback_target(*environment, reason));
            }
            Action::OpenIncident { .. } => {
                let issue = self.p.issue;
                self.reply(issue, replies::incident_not_opened(reason));
            }
            Action::PollRun { correlation, .. }
                if self.p.deploys.iter().any(|d| &d.correlation == correlation) =>
            {
                self.on_deploy_silent(correlation, "")
            }
            Action::PollRun { correlation, .. } => {
                if let Some(run) = self.p.run_mut(correlation)
                    && !run.state.is_finished()
                {
                    run.state = RunState::TimedOut;
                    run.finished_at = Some(self.now);
                }
            }
            // Sub-issues are extra detail; comments, labels and check runs cannot report
            // their own failure on GitHub (the shell logs them).
            _ => {}
        }
    }
}
