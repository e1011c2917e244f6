//! Commands and check-run buttons: every slash-command line of a comment, and every button
//! press, answered with what changed or why not (a refusal, which is audited). A button is
//! its command by another route, with the same authorization.
//!
//! Must not: act for shipgate's own comments, or answer a comment with more than one reply.

use super::{Step, watchdog_key};
use crate::pipeline::commands::{
    ApproveTarget, Button, Command, CommandLine, MAX_COMMANDS_PER_COMMENT, help,
};
use crate::pipeline::gates::GateKind;
use crate::pipeline::model::*;
use crate::pipeline::text::plural;
use crate::pipeline::views::{self, refusals as say, replies};

impl Step<'_> {
    pub(super) fn on_comment(&mut self, id: u64, on: u64, commands: &[CommandLine], actor: &Actor) {
        if actor.is_self || commands.is_empty() {
            return;
        }
        self.emit(Action::React { comment_id: id });
        let mut answers = Vec::new();
        let mut refusals = Vec::new();
        for line in commands.iter().take(MAX_COMMANDS_PER_COMMENT) {
            let answer = match line {
                CommandLine::Unknown(name) => Err(say::unknown_command(name)),
                CommandLine::Malformed { command, problem } => {
                    Err(say::malformed(command, problem))
                }
                CommandLine::Command(c) => {
                    let answer = self.command(c, actor, "/approve production");
                    // The next line sees what this one changed (`/approve` then
                    // `/approve plan` in one comment works).
                    self.drive();
                    answer
                }
            };
            match answer {
                Err(refusal) => {
                    refusals.push(refusal.clone());
                    answers.push(refusal);
                }
                Ok(Some(said)) => answers.push(said),
                Ok(None) => {}
            }
        }
        if commands.len() > MAX_COMMANDS_PER_COMMENT {
            let more = say::too_many_commands(MAX_COMMANDS_PER_COMMENT);
            refusals.push(more.clone());
            answers.push(more);
        }
        // One entry per comment, however many of its lines were refused.
        if !refusals.is_empty() {
            self.audit(&actor.login, "refused", refusals.join(" · "));
        }
        if !answers.is_empty() {
            self.reply(on, replies::to(&actor.login, &answers.join("\n\n")));
        }
    }

    /// Runs one command: `Ok` with what to answer, if anything (accepted state changes show
    /// in the status comment instead), or `Err` with the refusal, which the caller audits and
    /// answers.
    fn command(&mut self, c: &Command, actor: &Actor, via: &str) -> Result<Option<String>, String> {
        match c {
            Command::Status => return Ok(Some(views::status_answer(&self.p, self.cfg))),
            Command::Help => return Ok(Some(help())),
            _ => {}
        }
        let rollback_after_done = matches!(c, Command::Rollback(_)) && self.p.phase == Phase::Done;
        let retry_after_staging_rollback = matches!(c, Command::Retry(stage)
                if stage.as_deref().is_none_or(|s| Stage::parse(s) == Some(Stage::Staging)))
            && self.staging_rolled_back();
        if self.p.phase.is_terminal() && !rollback_after_done && !retry_after_staging_rollback {
            return Err(say::pipeline_over(c, self.p.phase));
        }
        let refused = |why: String| Err(say::refused(c, &why));
        let said = |answer: String| Ok(Some(answer));
        match c {
            Command::Approve(target) => {
                let target = match target {
                    ApproveTarget::Current => match self.p.phase {
                        Phase::Intake => ApproveTarget::Requirement,
                        Phase::Planning => ApproveTarget::Plan,
                        Phase::Readiness => ApproveTarget::Production,
                        phase => {
                            return refused(say::nothing_to_approve(phase));
                        }
                    },
                    t => *t,
                };
                let result = match target {
                    ApproveTarget::Requirement => self.approve_requirement(actor, "/approve"),
                    ApproveTarget::Plan => self.approve_plan(actor),
                    _ => {
                        return match self.approve_production(actor, via) {
                            Ok(()) => said(replies::production_approved(
                                self.p.pr.as_ref().map(|pr| pr.number).unwrap_or_default(),
                                self.p.paused,
                            )),
                            Err(why) => refused(why),
                        };
                    }
                };
                result.map_or_else(refused, |()| Ok(None))
            }
            Command::Reject(reason) => {
                if let Err(why) = self.authorise(actor, Some(GateKind::Requirement), "reject") {
                    return refused(why);
                }
                self.p.rejection = Some(Rejection {
                    by: actor.login.clone(),
                    reason: reason.clone(),
                    at: self.now,
                });
                self.audit(&actor.login, "reject", reason.clone().unwrap_or_default());
                self.p.failure = None;
                self.cancel_watchdogs(|_| true);
                self.set_phase(Phase::Rejected);
                Ok(None)
            }
            Command::Pause | Command::Resume => {
                let pause = matches!(c, Command::Pause);
                if let Err(why) =
                    self.authorise(actor, None, if pause { "pause" } else { "resume" })
                {
                    return refused(why);
                }
                if self.p.paused == pause {
                    return refused(say::already(pause));
                }
                self.p.paused = pause;
                if pause {
                    self.p.paused_at = Some(self.now);
                } else if let Some(at) = self.p.paused_at.take() {
                    self.p.held_ms += self.now - at;
                }
                said(replies::paused(pause))
            }
            Command::Retry(stage) => {
                if let Err(why) = self.authorise(actor, None, "retry") {
                    return refused(why);
                }
                let stage = match stage.as_deref().map(|s| Stage::parse(s).ok_or(s)) {
                    None => None,
                    Some(Ok(stage)) => Some(stage),
                    Some(Err(s)) => {
                        return refused(say::no_such_stage(s));
                    }
                };
                self.retry(stage).map_or_else(refused, |()| Ok(None))
            }
            Command::Deploy(environment) => {
                if let Err(why) = self.authorise(actor, None, "deploy") {
                    return refused(why);
                }
                match self.deploy_staging_now(*environment, actor) {
                    Ok(answer) => said(answer),
                    Err(why) => refused(why),
                }
            }
            Command::Rollback(reason) => {
                let on = self.p.issue;
                match self.rollback_command(actor, reason.as_deref(), on) {
                    Ok(answer) => said(answer),
                    Err(why) => refused(why),
                }
            }
            Command::Block(reason) => {
                if let Err(why) = self.authorise(actor, None, "block") {
                    return refused(why);
                }
                self.p.blockers.push(Rejection {
                    by: actor.login.clone(),
                    reason: Some(reason.clone()),
                    at: self.now,
                });
                self.audit(&actor.login, "block", reason.clone());
                said(replies::blocked(reason))
            }
            Command::Unblock => {
                if let Err(why) = self.authorise(actor, None, "unblock") {
                    return refused(why);
                }
                if self.p.blockers.is_empty() {
                    return refused(say::not_blocked());
                }
                let lifted = std::mem::take(&mut self.p.blockers);
                self.audit(
                    &actor.login,
                    "unblock",
                    format!("{} blocker(s) lifted", lifted.len()),
                );
                said(replies::unblocked())
            }
            Command::Priority(priority) => {
                if let Err(why) = self.authorise(actor, None, "set the priority") {
                    return refused(why);
                }
                self.p.priority = Some(*priority);
                let name = format!("{priority:?}").to_lowercase();
                self.audit(&actor.login, "priority", name.clone());
                said(replies::priority_set(&name))
            }
            Command::Stop => {
                // Stopping a production deploy rolls production back: that takes the
                // authority `/rollback` does.
                let (gate, what) = if self.stop_rolls_back() {
                    (
                        Some(GateKind::ProductionApproval),
                        "stop a production deploy (it rolls production back)",
                    )
                } else {
                    (None, "stop")
                };
                if let Err(why) = self.authorise(actor, gate, what) {
                    return refused(why);
                }
                said(self.stop(actor))
            }
            Command::Skip { gate, reason } => match self.skip_command(actor, gate, reason) {
                Ok(answer) => said(answer),
                Err(why) => refused(why),
            },
            Command::RetryTask(n) => {
                if let Err(why) = self.authorise(actor, None, "retry") {
                    return refused(why);
                }
                self.retry_task(*n).map_or_else(refused, |()| Ok(None))
            }
            Command::SkipTask { task, reason } => {
                if actor.access != Access::Admin {
                    return refused(say::skip_needs_admin(&actor.login, actor.access));
                }
                if actor.is_bot {
                    return refused(say::bots_never_decide(&actor.login, "skip a task"));
                }
                match self.skip_task(*task, &actor.login, reason) {
                    Ok(()) => said(replies::task_skipped(*task, reason)),
                    Err(why) => refused(why),
                }
            }
            Command::Status | Command::Help => unreachable!("answered above"),
        }
    }

    /// A check-run button acts like its command, with the same authorization; refusals are
    /// answered on the PR.
    pub(super) fn on_button(&mut self, identifier: &str, on: u64, sha: &str, actor: &Actor) {
        if actor.is_self {
            return;
        }
        // A check run on a merge commit or a fork's head names no PR: answer where it shows.
        let on = if on != 0 {
            on
        } else {
            self.p.pr.as_ref().map_or(self.p.issue, |pr| pr.number)
        };
        let current = [self.p.check_run_sha(), self.p.pr_head_sha()];
        let answer = if !sha.is_empty() && !current.contains(&Some(sha)) {
            Err(say::stale_button(sha, self.p.check_run_sha()))
        } else {
            match Button::from_identifier(identifier) {
                Some(b) => self.command(&b.command(), actor, "the Approve prod button"),
                None => Err(say::unknown_button(identifier)),
            }
        };
        let a = match answer {
            Err(a) => {
                self.audit(
                    &actor.login,
                    "refused",
                    format!("button `{identifier}`: {a}"),
                );
                a
            }
            Ok(Some(a)) => a,
            Ok(None) => return,
        };
        self.reply(on, replies::to(&actor.login, &a));
    }

    /// `/stop`: cancels the pipeline's runs in flight; during a production deploy or its
    /// monitoring it also rolls production back, otherwise the pipeline is stopped.
    fn stop(&mut self, actor: &Actor) -> String {
        let mut cancelled = 0;
        for i in 0..self.p.runs.len() {
            let run = &mut self.p.runs[i];
            if !run.state.is_finished() {
                run.state = RunState::Failed("cancelled".into());
                run.finished_at = Some(self.now);
                if let Some(run_id) = run.run_id {
                    cancelled += 1;
                    self.emit(Action::CancelRun { run_id });
                }
            }
        }
        for i in 0..self.p.deploys.len() {
            let d = &mut self.p.deploys[i];
            if !d.state.is_finished() && d.rollback_reason.is_none() {
                d.state = DeployState::Failed("cancelled".into());
                d.finished_at = Some(self.now);
                if let Some(run_id) = d.run_id {
                    cancelled += 1;
                    self.emit(Action::CancelRun { run_id });
                }
            }
        }
        for i in 0..self.p.dev_tasks.len() {
            let t = &mut self.p.dev_tasks[i];
            if t.state.in_flight() {
                t.state = TaskState::Failed("cancelled by /stop".into());
                if let Some(run_id) = t.run_id {
                    cancelled += 1;
                    self.emit(Action::CancelRun { run_id });
                }
            }
        }
        let in_production = self.stop_rolls_back();
        self.cancel_watchdogs(|_| true);
        let runs = format!("cancelled {cancelled} run{}", plural(cancelled));
        let reason = format!("/stop by @{}", actor.login);
        self.audit(&actor.login, "stop", runs.clone());
        if in_production {
            for w in self.p.health.iter_mut() {
                if w.outcome.is_none() {
                    w.outcome = Some(false);
                }
            }
            let by = format!("@{}", actor.login);
            let issue = self.p.issue;
            if self
                .start_rollback(
                    Environment::Production,
                    reason,
                    by,
                    Some(issue),
                    RollbackTrigger::Stop,
                )
                .is_ok()
            {
                return replies::stopped(&runs, true);
            }
        }
        for w in self.p.health.iter_mut() {
            if w.outcome.is_none() {
                w.outcome = Some(false);
            }
        }
        self.set_phase(Phase::Stopped);
        replies::stopped(&runs, false)
    }

    /// Whether `/stop` now rolls production back: a production deploy or its monitoring is
    /// under way.
    fn stop_rolls_back(&self) -> bool {
        self.p.phase == Phase::Production
            && self.p.current_deploy(Environment::Production).is_some()
            && self.p.rollback.is_none()
    }

    /// Whether the pipeline ended by rolling staging back (which `/retry` recovers from).
    fn staging_rolled_back(&self) -> bool {
        self.p.phase == Phase::RolledBack
            && self
                .p
                .rollback
                .as_ref()
                .is_some_and(|r| r.environment == Environment::Staging)
    }

    fn retry(&mut self, stage: Option<Stage>) -> Result<(), String> {
        let mut retried = false;
        if self.staging_rolled_back() && stage.is_none_or(|s| s == Stage::Staging) {
            // Staging was restored; the feature goes back to staging (a push meanwhile sends
            // it back to review first).
            self.p.rollback = None;
            self.p.skips.retain(|s| s.gate != GateKind::Staging);
            self.supersede_deploys(Environment::Staging);
            self.set_phase(Phase::Staging);
            return Ok(());
        }
        if let Some(failure) = self.p.failure.clone()
            && stage.is_none_or(|s| s == failure.stage)
        {
            self.p.failure = None;
            self.p.phase = failure.phase;
            self.p.timeline.push((failure.phase, self.now));
            self.emit(Action::SetPhaseLabel {
                add: failure.phase.label(),
                remove: vec![Phase::Failed.label()],
            });
            if failure.stage == Stage::Branch {
                self.p.branch_state = BranchState::NotCreated;
            }
            if let Some(environment) = failure.stage.environment() {
                // Deploy again: a failed deploy, or a good one whose health did not hold.
                if self
                    .p
                    .current_deploy(environment)
                    .is_some_and(|d| d.state.is_finished())
                {
                    self.supersede_deploys(environment);
                }
            }
            if failure.stage == Stage::Merge {
                self.p.merge = None;
            }
            retried = true;
        }
        if stage.is_none_or(|s| s == Stage::Tests)
            && let Some(sha) = self.p.head_sha().map(str::to_owned)
        {
            for run in self.p.runs.iter_mut() {
                if run.sha == sha && run.state.is_failure() {
                    run.state = RunState::Superseded;
                    retried = true;
                }
            }
        }
        if retried {
            Ok(())
        } else {
            Err(say::nothing_failed())
        }
    }

    // ---- tests ----

    /// Test run `i` reported (by webhook or poll; `provenance::on_run_report` tied the report
    /// to it).
    pub(super) fn on_test_report(&mut self, i: usize, report: &RunReport) {
        let run = &mut self.p.runs[i];
        run.run_id = Some(report.run_id);
        run.url = Some(report.url.clone());
        if report.attempt > run.attempt && run.state != RunState::Superseded {
            // Re-run in GitHub: the same run id, a new attempt, a new result to wait for.
            run.attempt = report.attempt;
            run.state = RunState::Running;
            run.finished_at = None;
        } else if report.attempt < run.attempt || run.state.is_finished() {
            return; // a late or repeated report does not rewrite a result
        }
        if report.status == "completed" {
            run.state = match report.conclusion.as_deref() {
                Some("success") => RunState::Succeeded,
                other => RunState::Failed(other.unwrap_or("unknown").to_owned()),
            };
            run.finished_at = Some(self.now);
            let key = watchdog_key(&run.correlation);
            self.cancel_timer(key);
        } else {
            run.state = RunState::Running;
        }
    }
}
