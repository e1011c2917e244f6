//! `step(pipeline, input, config, now) -> (pipeline, effects)`: every lifecycle rule, from
//! the trigger label to production and rollback (DESIGN.md §1–§2). Pure: no I/O, no clock,
//! no randomness — `now` and the actors' access come in with the input.
//!
//! Shape: `apply` the input (recording approvals, reviews, results, refusing what is not
//! allowed), then `drive` the pipeline as far as its gates allow (the gates are evaluated in
//! `gates`, the same report the views show), then `finish`: ask for the status comment,
//! check run and phase label to follow if anything visible changed.
//!
//! Where each input is handled:
//!
//! | input | handler | file |
//! |---|---|---|
//! | `Issue` (opened, edited, labelled) | `on_issue`, `approve_requirement`, `approve_plan` | `intake.rs` |
//! | `TasksChanged`, a sub-issue closed or reopened | `on_tasks_changed` | `intake.rs` |
//! | `Comment` (slash-commands) | `on_comment` → `command` | `commands.rs` |
//! | `Button` (check-run buttons) | `on_button` → `command` | `commands.rs` |
//! | `/skip` | `skip_command` | `skip.rs` |
//! | `/approve production`, `/deploy staging`, merge | `approve_production`, `deploy_staging_now`, `drive_production` | `production.rs` |
//! | `/rollback`, failed deploy or health | `rollback_command`, `start_rollback` | `rollback.rs` |
//! | `PullRequest`, `Push`, `Review` | `on_pull`, `on_review` | `pull.rs` |
//! | `WorkflowRun` (and polled runs) | `on_run_report`, `claim`, `dispatch_tests` | `runs.rs` |
//! | deploy runs, deployment statuses | `on_deploy_report`, `dispatch_deploys` | `deploys.rs` |
//! | health probes (`EffectDone::Probed`, `Timer::HealthTick`) | `on_probed`, `on_health_tick` | `health.rs` |
//! | `ProtectionRule` (custom deployment protection rule) | `on_protection_rule` | `protection.rs` |
//! | `Timer` (gate timeouts, run watchdogs) | `on_timer`, `on_gate_timeout` | `timeouts.rs` |
//! | development tasks (`develop.workflows`), `/retry task`, `/skip task` | `drive_tasks`, `on_task_report`, `task_attempt_failed` | `develop.rs` |
//! | `Evidence` (the action's reports), the tests verdict notified | `on_evidence`, `tell_tests_verdict` | `evidence.rs` |
//! | `EffectDone`, `EffectFailed` | `on_effect_done`, `on_effect_failed` | `effects.rs` |
//! | incident issues | `open_incident`, `on_incident_opened` | `incident.rs` |
//! | `ConfigChanged` | nothing to record: `drive` and `finish` re-evaluate and redraw | here |
//!
//! Must not: read anything but its arguments; compare display text to decide.

mod commands;
mod deploys;
mod develop;
mod effects;
mod evidence;
mod health;
mod incident;
mod intake;
mod production;
mod protection;
mod pull;
mod rollback;
mod runs;
mod skip;
mod timeouts;

pub use develop::task_load;

use super::config::{LoadedConfig, PlanApproval};
use super::gates::{self, GateKind, skip_of};
use super::model::*;
use super::plan::plan;
use super::views::{refusals as say, replies};

/// Applies one input. A one-shot input seen before changes nothing.
pub fn step(p: &Pipeline, input: &Input, cfg: &LoadedConfig, now: i64) -> (Pipeline, Outputs) {
    step_with(p, input, cfg, now, RepoLoad::default())
}

/// [`step`], with what the repository's other pipelines hold when `develop.max_parallel`
/// is shared by the repository (`load`; ignored otherwise).
pub fn step_with(
    p: &Pipeline,
    input: &Input,
    cfg: &LoadedConfig,
    now: i64,
    load: RepoLoad,
) -> (Pipeline, Outputs) {
    if let Some(id) = input.one_shot_id()
        && p.handled.contains(&id)
    {
        return (p.clone(), Outputs::default());
    }
    let mut s = Step {
        p: p.clone(),
        cfg,
        now,
        load,
        cause: input.cause(),
        out: Outputs::default(),
    };
    if let Some(id) = input.one_shot_id() {
        s.p.handled.insert(id);
    }
    let fresh = p.seq == 0;
    if !cfg.is_valid() && (fresh || matches!(input, Input::ConfigChanged { .. })) {
        let errors: Vec<String> = cfg.errors.iter().map(|e| e.to_string()).collect();
        s.audit("shipgate", "configuration error", errors.join("; "));
    }
    if fresh {
        s.start_gate_clocks(Phase::Intake);
    }
    s.apply(input);
    s.drive();
    s.tell_tests_verdict(p);
    s.finish(p, fresh || matches!(input, Input::ConfigChanged { .. }));
    (s.p, s.out)
}

/// Whether an issue event should create a pipeline (the trigger label is on a plain issue).
pub fn starts_pipeline(input: &Input, cfg: &LoadedConfig) -> bool {
    match input {
        Input::Issue { action, issue, .. } => {
            let trigger = &cfg.config.trigger_label;
            let labelled = issue.labels.iter().any(|l| l == trigger);
            match action {
                IssueAction::Labeled(l) => l == trigger,
                IssueAction::Opened | IssueAction::Reopened | IssueAction::Edited => labelled,
                IssueAction::Unlabeled(_) | IssueAction::Closed | IssueAction::Removed => false,
            }
        }
        _ => false,
    }
}

pub(super) struct Step<'a> {
    pub(super) p: Pipeline,
    pub(super) cfg: &'a LoadedConfig,
    pub(super) now: i64,
    /// The repository's other pipelines (shared `develop.max_parallel` only).
    pub(super) load: RepoLoad,
    cause: String,
    out: Outputs,
}

impl Step<'_> {
    /// The next output's key, `p<id>.e<seq>`: every output takes one, so keys never repeat.
    fn next_key(&mut self) -> String {
        let key = format!("p{}.e{}", self.p.id, self.p.seq);
        self.p.seq += 1;
        key
    }

    /// Asks for an effect on GitHub.
    pub(super) fn emit(&mut self, action: Action) {
        let key = self.next_key();
        self.out.effects.push(Effect {
            key,
            cause: self.cause.clone(),
            action,
        });
    }

    /// Records a decision in the audit log.
    pub(super) fn audit(&mut self, actor: &str, action: &str, detail: String) {
        self.next_key();
        self.out.audit.push(AuditEntry {
            actor: actor.to_owned(),
            action: action.to_owned(),
            detail,
        });
    }

    /// Tells the operator's receiver (`event`: `phase`, `approval`, `deploy`, …).
    pub(super) fn notify(&mut self, event: &str, text: String) {
        let key = self.next_key();
        self.out.notifications.push(Notice {
            key,
            cause: self.cause.clone(),
            event: event.to_owned(),
            text,
        });
    }

    /// Sets (or moves) the timer `key` to fire at `due_at` (ms).
    pub(super) fn set_timer(&mut self, key: String, due_at: i64, kind: TimerKind) {
        self.next_key();
        self.out.timers.push(TimerChange::Set { key, due_at, kind });
    }

    pub(super) fn cancel_timer(&mut self, key: String) {
        self.next_key();
        self.out.timers.push(TimerChange::Cancel { key });
    }

    pub(super) fn reply(&mut self, on: u64, body: String) {
        self.emit(Action::Reply { on, body });
    }

    pub(super) fn set_phase(&mut self, phase: Phase) {
        if self.p.phase != phase {
            let old = self.p.phase;
            self.p.phase = phase;
            self.p.timeline.push((phase, self.now));
            self.emit(Action::SetPhaseLabel {
                add: phase.label(),
                remove: vec![old.label()],
            });
            self.start_gate_clocks(phase);
            let text = format!(
                "{} “{}” is now **{}**",
                self.p.name(),
                self.p.title,
                phase.name()
            );
            self.notify("phase", text);
            self.notify_approval_request(phase);
        }
    }

    pub(super) fn fail(&mut self, stage: impl Into<Stage>, reason: String) {
        let stage = stage.into();
        if self.p.phase == Phase::Failed || self.p.phase.is_terminal() {
            return;
        }
        if self
            .p
            .rollback
            .as_ref()
            .is_some_and(|r| !r.done && Stage::from(r.environment) == stage)
        {
            // The rollback itself failed (or could not start): it is over, and `/rollback`
            // or `/retry` may be tried again.
            self.p.rollback = None;
        }
        self.p.failure = Some(Failure {
            phase: self.p.phase,
            stage,
            reason: reason.clone(),
        });
        self.audit("shipgate", "stage failed", format!("{stage}: {reason}"));
        self.set_phase(Phase::Failed);
        let issue = self.p.issue;
        self.reply(issue, replies::stage_failed(stage, &reason));
    }

    /// Whether `actor` may decide `gate` (`None`: an action any writer may take): write
    /// access, and on the gate's approver list if it has one. Bots never decide a gate.
    pub(super) fn authorise(
        &self,
        actor: &Actor,
        gate: Option<GateKind>,
        what: &str,
    ) -> Result<(), String> {
        if actor.is_bot && gate.is_some() {
            return Err(say::bots_never_decide(&actor.login, what));
        }
        if !self.cfg.is_valid() && gate.is_some() && actor.access != Access::Admin {
            return Err(say::only_admins_while_config_broken(&actor.login, what));
        }
        if !actor.access.can_write() {
            return Err(say::needs_write_access(&actor.login, what, actor.access));
        }
        let approvers = &self.cfg.config.approvers;
        let (key, list) = match gate {
            Some(GateKind::Requirement) => ("requirement", &approvers.requirement),
            Some(GateKind::Plan) => ("plan", &approvers.plan),
            Some(GateKind::Review) => ("review", &approvers.review),
            Some(GateKind::ProductionApproval) => ("production", &approvers.production),
            _ => return Ok(()),
        };
        let listed = |entry: &String| {
            entry.eq_ignore_ascii_case(&actor.login)
                || (entry.starts_with('@')
                    && actor.teams.iter().any(|t| t.eq_ignore_ascii_case(entry)))
        };
        if list.is_empty() || list.iter().any(listed) {
            Ok(())
        } else {
            Err(say::not_an_approver(&actor.login, what, key, list))
        }
    }

    fn apply(&mut self, input: &Input) {
        match input {
            Input::Issue {
                action,
                issue,
                actor,
                ..
            } => self.on_issue(action, issue, actor),
            Input::Comment {
                id,
                on,
                commands,
                actor,
            } => self.on_comment(*id, *on, commands, actor),
            Input::PullRequest {
                action, pr, actor, ..
            } => {
                self.on_pull(pr);
                if *action == PullAction::Synchronize && !actor.is_self {
                    self.note_pusher(pr.number, &actor.login);
                }
            }
            Input::Push { branch, pusher, .. } => {
                if *branch == self.p.branch && !pusher.is_self {
                    self.p.branch_pushers.insert(pusher.login.clone());
                }
            }
            Input::Review {
                id,
                action,
                state,
                commit_sha,
                pr,
                reviewer,
                submitted_at,
            } => self.on_review(
                *id,
                action,
                *state,
                commit_sha,
                *pr,
                reviewer,
                *submitted_at,
            ),
            Input::WorkflowRun(report) => self.on_run_report(report, None),
            Input::Button {
                identifier,
                on,
                actor,
                sha,
                ..
            } => self.on_button(identifier, *on, sha, actor),
            Input::ProtectionRule {
                run_id,
                environment,
                sha,
                run,
                ..
            } => self.on_protection_rule(*run_id, environment, sha, run.as_ref()),
            Input::Timer { kind, .. } => self.on_timer(kind),
            Input::EffectDone { result, .. } => self.on_effect_done(result),
            Input::TasksChanged { sub_issue, .. } => self.on_tasks_changed(*sub_issue),
            // Nothing to record: `drive` re-evaluates the gates, and the surfaces are redrawn
            // (the configuration's errors show there).
            Input::ConfigChanged { .. } => {}
            Input::EffectFailed { action, reason, .. } => self.on_effect_failed(action, reason),
            Input::Evidence {
                claims,
                correlation,
                report,
            } => self.on_evidence(claims, correlation.as_deref(), report),
        }
    }

    /// Moves the pipeline as far as its gates allow, asking for what each phase needs. Each
    /// round reads a fresh [`GateReport`](gates::GateReport): the same evaluation the status
    /// comment and check run show.
    pub(super) fn drive(&mut self) {
        self.dispatch_deploys(); // any held by a pause or block that has lifted
        if !self.cfg.is_valid() {
            return; // a broken configuration holds every gate
        }
        if !self.p.blockers.is_empty() {
            return; // `/block`: nothing advances until `/unblock`
        }
        for _ in 0..Phase::ALL.len() {
            let before = self.p.phase;
            match self.p.phase {
                Phase::Intake
                    if (self.p.requirement.is_some() && self.p.missing_sections.is_empty())
                        || skip_of(&self.p, GateKind::Requirement, None).is_some() =>
                {
                    self.set_phase(Phase::Planning);
                    self.emit(Action::FetchSubIssues);
                }
                Phase::Planning => {
                    if self.p.plan.is_none()
                        && self.cfg.config.plan.approval == PlanApproval::Auto
                        && plan(&self.p.tasks, &self.p.sub_issues).problems.is_empty()
                    {
                        self.p.plan = Some(Approval {
                            by: "shipgate".into(),
                            at: self.now,
                            via: "plan.approval: auto".into(),
                        });
                        self.audit("shipgate", "approve plan", "plan.approval: auto".into());
                    }
                    if self.p.plan.is_some() || skip_of(&self.p, GateKind::Plan, None).is_some() {
                        self.set_phase(Phase::Development);
                        if self.p.pr.is_none() {
                            self.emit(Action::FindPullRequest);
                        }
                    }
                }
                Phase::Development => {
                    if self.p.branch_state == BranchState::NotCreated && !self.p.paused {
                        self.p.branch_state = BranchState::Requested;
                        let (branch, from) = (self.p.branch.clone(), self.p.default_branch.clone());
                        self.emit(Action::CreateBranch { branch, from });
                    }
                    if self.p.pr.as_ref().is_some_and(|pr| pr.open && !pr.draft) {
                        self.set_phase(Phase::Review);
                    } else {
                        self.drive_tasks();
                    }
                }
                Phase::Review => {
                    self.dispatch_tests();
                    if self.p.pr_head_sha().is_none() {
                        break;
                    }
                    if !self.p.paused && gates::evaluate(&self.p, self.cfg).reviewed_and_tested {
                        self.set_phase(Phase::Staging);
                    }
                }
                // Ready for staging only while review and tests hold on the current head: a
                // push, requested changes or a dismissed review send it back.
                Phase::Staging => match self.p.pr_head_sha().map(str::to_owned) {
                    None => self.set_phase(Phase::Development),
                    Some(sha) => {
                        let report = gates::evaluate(&self.p, self.cfg);
                        if !report.reviewed_and_tested {
                            self.set_phase(Phase::Review);
                        } else if report.staging_healthy {
                            self.set_phase(Phase::Readiness);
                        } else {
                            self.deploy_staging(&sha);
                        }
                    }
                },
                Phase::Readiness => {
                    if self.p.pr_head_sha().is_none() {
                        self.set_phase(Phase::Development);
                    } else {
                        let report = gates::evaluate(&self.p, self.cfg);
                        if !report.reviewed_and_tested {
                            self.set_phase(Phase::Review);
                        } else if !report.staging_healthy {
                            self.set_phase(Phase::Staging);
                        } else if self.p.production.is_some() && !self.p.paused {
                            self.set_phase(Phase::Production);
                        }
                    }
                }
                Phase::Production => {
                    if self.p.production.is_none() && self.p.merge.is_none() {
                        self.set_phase(Phase::Review);
                    } else {
                        self.drive_production();
                    }
                }
                _ => {}
            }
            if self.p.phase == before {
                break;
            }
        }
    }

    /// Asks the surfaces to follow when anything a user would see changed.
    fn finish(&mut self, before: &Pipeline, redraw: bool) {
        let fresh = before.seq == 0;
        if fresh {
            self.emit(Action::SetPhaseLabel {
                add: self.p.phase.label(),
                remove: vec![],
            });
        }
        let visible = |p: &Pipeline| {
            let mut v = p.clone();
            v.handled.clear();
            v.seq = 0;
            v.updated_at = 0;
            v.status_comment = None;
            v.check_runs.clear();
            v.fork_warned.clear();
            v.foreign_runs.clear();
            v.issue_updated_at = 0;
            v.issue_labels.clear();
            v.issue_node_id = None;
            v.branch_pushers.clear();
            v
        };
        if redraw || visible(before) != visible(&self.p) {
            self.p.updated_at = self.now;
            self.emit(Action::SyncStatusComment);
            if let Some(sha) = self.p.check_run_sha().map(str::to_owned)
                && (self.p.phase >= Phase::Review || self.p.check_runs.contains_key(&sha))
            {
                self.emit(Action::SyncCheckRun { sha });
            }
        }
    }
}

pub fn watchdog_key(correlation: &str) -> String {
    format!("watch:{correlation}")
}
