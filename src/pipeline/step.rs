//! `step(pipeline, input, config, now) -> (pipeline, effects)`: every lifecycle rule from
//! intake to tested PR (DESIGN.md §1–§2). Pure: no I/O, no clock, no randomness — `now` and
//! the actors' access come in with the input.
//!
//! Shape: apply the input (recording approvals, reviews, results, refusing what is not
//! allowed), then `drive` the pipeline as far as its gates allow, then ask for the status
//! comment, check run and phase label to follow if anything visible changed.
//! Must not: read anything but its arguments.

use std::cell::Cell;

use super::commands::{ApproveTarget, Command, CommandLine, HELP};
use super::config::{LoadedConfig, PlanApproval};
use super::linking;
use super::model::*;
use super::render;
use super::skip::skip_of;

/// Applies one input. A one-shot input seen before changes nothing.
pub fn step(p: &Pipeline, input: &Input, cfg: &LoadedConfig, now: i64) -> (Pipeline, Vec<Effect>) {
    if let Some(id) = input.one_shot_id()
        && p.handled.contains(&id)
    {
        return (p.clone(), vec![]);
    }
    let mut s = Step {
        p: p.clone(),
        cfg,
        now,
        cause: input.cause(),
        effects: vec![],
        answers: vec![],
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
    s.finish(p, fresh || matches!(input, Input::ConfigChanged { .. }));
    (s.p, s.effects)
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
                IssueAction::Unlabeled(_) => false,
            }
        }
        _ => false,
    }
}

/// An answer to a command: something said, or a refusal (which is audited).
enum Answer {
    Said(String),
    Refused(String),
}

pub(super) struct Step<'a> {
    pub(super) p: Pipeline,
    pub(super) cfg: &'a LoadedConfig,
    pub(super) now: i64,
    cause: String,
    effects: Vec<Effect>,
    /// Lines of the reply to a comment's commands.
    answers: Vec<String>,
}

pub(super) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

impl Step<'_> {
    pub(super) fn emit(&mut self, action: Action) {
        let key = format!("p{}.e{}", self.p.id, self.p.seq);
        self.p.seq += 1;
        self.effects.push(Effect {
            key,
            cause: self.cause.clone(),
            action,
        });
    }

    /// Records a decision in the audit log.
    pub(super) fn audit(&mut self, actor: &str, action: &str, detail: String) {
        self.emit(Action::Audit {
            actor: actor.to_owned(),
            action: action.to_owned(),
            detail,
        });
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
            self.emit(Action::Notify {
                event: "phase".into(),
                text,
            });
            self.notify_approval_request(phase);
        }
    }

    /// Entering a phase that waits for a person's approval asks for it.
    fn notify_approval_request(&mut self, phase: Phase) {
        let approvers = &self.cfg.config.approvers;
        let (gate, list) = match phase {
            Phase::Planning
                if self.cfg.config.plan.approval != PlanApproval::Auto
                    && self.p.plan.is_none()
                    && skip_of(&self.p, "plan", None).is_none() =>
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
        self.emit(Action::Notify {
            event: "approval".into(),
            text,
        });
    }

    pub(super) fn fail(&mut self, stage: &str, reason: String) {
        if self.p.phase == Phase::Failed || self.p.phase.is_terminal() {
            return;
        }
        if self
            .p
            .rollback
            .as_ref()
            .is_some_and(|r| !r.done && r.environment == stage)
        {
            // The rollback itself failed (or could not start): it is over, and `/rollback`
            // or `/retry` may be tried again.
            self.p.rollback = None;
        }
        self.p.failure = Some(Failure {
            phase: self.p.phase,
            stage: stage.to_owned(),
            reason: reason.clone(),
        });
        self.audit("shipgate", "stage failed", format!("{stage}: {reason}"));
        self.set_phase(Phase::Failed);
        let issue = self.p.issue;
        self.reply(
            issue,
            format!(
                "⚠️ The **{stage}** stage failed: {reason}\n\nFix the cause, then comment `/retry`."
            ),
        );
    }

    /// Whether `actor` may decide `gate`: write access, and on the gate's approver list if
    /// it has one.
    pub(super) fn authorise(&self, actor: &Actor, gate: &str, what: &str) -> Result<(), String> {
        if actor.is_bot && !gate.is_empty() {
            return Err(format!(
                "@{} cannot {what}: bots and GitHub Apps never approve, whatever their access",
                actor.login
            ));
        }
        if !self.cfg.is_valid() && !gate.is_empty() && actor.access != Access::Admin {
            return Err(format!(
                "@{} cannot {what}: `{}` has errors, so who may is unknown; until they are fixed only a repository admin may",
                actor.login,
                super::config::CONFIG_PATH
            ));
        }
        if !actor.access.can_write() {
            return Err(format!(
                "@{} cannot {what}: it needs write access to the repository (they have {})",
                actor.login,
                actor.access.name()
            ));
        }
        let approvers = &self.cfg.config.approvers;
        let list = match gate {
            "requirement" => &approvers.requirement,
            "plan" => &approvers.plan,
            "review" => &approvers.review,
            "production" => &approvers.production,
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
            Err(format!(
                "@{} cannot {what}: `approvers.{gate}` allows only {}",
                actor.login,
                list.iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
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
            // Nothing to record: `drive` re-evaluates the gates, and the surfaces are redrawn
            // (the configuration's errors show there).
            Input::ConfigChanged { .. } => {}
            Input::EffectFailed { action, reason, .. } => self.on_effect_failed(action, reason),
        }
    }

    // ---- intake and planning ----

    fn on_issue(&mut self, action: &IssueAction, issue: &IssueSnapshot, actor: &Actor) {
        if issue.number != self.p.issue {
            return;
        }
        // A snapshot older than one already applied (a late or re-sent delivery) changes
        // nothing: the newer one holds everything it says.
        if issue.updated_at >= self.p.issue_updated_at {
            self.p.issue_updated_at = issue.updated_at;
            self.p.issue_labels = issue.labels.clone();
            self.p.title = issue.title.clone();
            if matches!(self.p.phase, Phase::Intake) {
                self.p.missing_sections = linking::missing_sections(
                    &issue.body,
                    &self.cfg.config.requirement.required_sections,
                );
            }
            if matches!(self.p.phase, Phase::Intake | Phase::Planning) {
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
            self.reply(issue, format!("Removed the `{label}` label: {why}."));
        }
    }

    fn approve_requirement(&mut self, actor: &Actor, via: &str) -> Result<(), String> {
        if self.p.requirement.is_some() {
            return Err("the requirement is already approved".into());
        }
        if self.p.phase != Phase::Intake {
            return Err(format!("the pipeline is {}", self.p.phase.name()));
        }
        if !self.cfg.is_valid() {
            return Err(format!(
                "`{}` has errors; the gates hold until they are fixed",
                super::config::CONFIG_PATH
            ));
        }
        self.authorise(actor, "requirement", "approve the requirement")?;
        if !self.p.missing_sections.is_empty() {
            return Err(format!(
                "the requirement is incomplete: add the {} section{} first",
                self.p
                    .missing_sections
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if self.p.missing_sections.len() == 1 {
                    ""
                } else {
                    "s"
                }
            ));
        }
        self.p.requirement = Some(Approval {
            by: actor.login.clone(),
            at: self.now,
            via: via.into(),
        });
        self.audit(&actor.login, "approve requirement", via.to_owned());
        Ok(())
    }

    fn approve_plan(&mut self, actor: &Actor) -> Result<(), String> {
        match self.p.phase {
            Phase::Intake => return Err("approve the requirement first".into()),
            Phase::Planning => {}
            _ => return Err("the plan is already approved".into()),
        }
        if !self.cfg.is_valid() {
            return Err("the configuration has errors; the gates hold until they are fixed".into());
        }
        self.authorise(actor, "plan", "approve the plan")?;
        self.p.plan = Some(Approval {
            by: actor.login.clone(),
            at: self.now,
            via: "/approve plan".into(),
        });
        self.audit(&actor.login, "approve plan", "/approve plan".into());
        Ok(())
    }

    // ---- commands ----

    fn on_comment(&mut self, id: u64, on: u64, commands: &[CommandLine], actor: &Actor) {
        if actor.is_self || commands.is_empty() {
            return;
        }
        self.emit(Action::React { comment_id: id });
        for line in commands {
            let answer = match line {
                CommandLine::Unknown(name) => Some(Answer::Refused(format!(
                    "`/{name}` is not a shipgate command; `/help` lists them."
                ))),
                CommandLine::Malformed { command, problem } => {
                    Some(Answer::Refused(format!("`/{command}` {problem}.")))
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
                Some(Answer::Refused(a)) => {
                    self.audit(&actor.login, "refused", a.clone());
                    self.answers.push(a);
                }
                Some(Answer::Said(a)) => self.answers.push(a),
                None => {}
            }
        }
        if !self.answers.is_empty() {
            let body = std::mem::take(&mut self.answers).join("\n\n");
            self.reply(on, format!("@{}: {body}", actor.login));
        }
    }

    /// Runs one command; returns the answer to post, if any (accepted state changes show
    /// in the status comment instead), and whether it is a refusal.
    fn command(&mut self, c: &Command, actor: &Actor, via: &str) -> Option<Answer> {
        let refused = Cell::new(false);
        let text = self.run_command(c, actor, via, &refused);
        text.map(|t| {
            if refused.get() {
                Answer::Refused(t)
            } else {
                Answer::Said(t)
            }
        })
    }

    /// `command`'s work: every refusal goes through `refuse`, which marks it.
    fn run_command(
        &mut self,
        c: &Command,
        actor: &Actor,
        via: &str,
        refusal: &Cell<bool>,
    ) -> Option<String> {
        match c {
            Command::Status => return Some(render::status_answer(&self.p, self.cfg)),
            Command::Help => return Some(HELP.to_owned()),
            _ => {}
        }
        let rollback_after_done = matches!(c, Command::Rollback(_)) && self.p.phase == Phase::Done;
        let retry_after_staging_rollback = matches!(c, Command::Retry(stage)
                if stage.as_deref().is_none_or(|s| s == "staging"))
            && self.staging_rolled_back();
        if self.p.phase.is_terminal() && !rollback_after_done && !retry_after_staging_rollback {
            refusal.set(true);
            return Some(format!(
                "`{c}` refused: the pipeline is {}; nothing more happens.",
                self.p.phase.name()
            ));
        }
        let refused = |why: String| {
            refusal.set(true);
            Some(format!("`{c}` refused: {why}."))
        };
        match c {
            Command::Approve(target) => {
                let target = match target {
                    ApproveTarget::Current => match self.p.phase {
                        Phase::Intake => ApproveTarget::Requirement,
                        Phase::Planning => ApproveTarget::Plan,
                        Phase::Readiness => ApproveTarget::Production,
                        phase => {
                            return refused(format!(
                                "nothing waits for `/approve` while the pipeline is in {}; \
                                 the pull request is approved by a review",
                                phase.name()
                            ));
                        }
                    },
                    t => *t,
                };
                let result = match target {
                    ApproveTarget::Requirement => self.approve_requirement(actor, "/approve"),
                    ApproveTarget::Plan => self.approve_plan(actor),
                    _ => {
                        return match self.approve_production(actor, via) {
                            Ok(()) if self.p.paused => Some(
                                "🚀 Production approved; the pipeline is paused, so the merge waits for `/resume`."
                                    .into(),
                            ),
                            Ok(()) => Some(format!(
                                "🚀 Production approved: merging #{}, then deploying it to production.",
                                self.p.pr.as_ref().map(|pr| pr.number).unwrap_or_default()
                            )),
                            Err(why) => refused(why),
                        };
                    }
                };
                result.err().and_then(refused)
            }
            Command::Reject(reason) => {
                if let Err(why) = self.authorise(actor, "requirement", "reject") {
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
                None
            }
            Command::Pause | Command::Resume => {
                let pause = matches!(c, Command::Pause);
                if let Err(why) = self.authorise(actor, "", if pause { "pause" } else { "resume" })
                {
                    return refused(why);
                }
                if self.p.paused == pause {
                    return refused(format!(
                        "the pipeline is {}",
                        if pause {
                            "already paused"
                        } else {
                            "not paused"
                        }
                    ));
                }
                self.p.paused = pause;
                if pause {
                    self.p.paused_at = Some(self.now);
                } else if let Some(at) = self.p.paused_at.take() {
                    self.p.held_ms += self.now - at;
                }
                Some(if pause {
                    "⏸️ Paused: nothing new is dispatched until `/resume`.".into()
                } else {
                    "▶️ Resumed.".into()
                })
            }
            Command::Retry(stage) => {
                if let Err(why) = self.authorise(actor, "", "retry") {
                    return refused(why);
                }
                self.retry(stage.as_deref()).err().and_then(refused)
            }
            Command::Deploy(environment) => {
                if let Err(why) = self.authorise(actor, "", "deploy") {
                    return refused(why);
                }
                match self.deploy_staging_now(environment, actor) {
                    Ok(answer) => Some(answer),
                    Err(why) => refused(why),
                }
            }
            Command::Rollback(reason) => {
                let on = self.p.issue;
                match self.rollback_command(actor, reason.as_deref(), on) {
                    Ok(answer) => Some(answer),
                    Err(why) => refused(why),
                }
            }
            Command::Block(reason) => {
                if let Err(why) = self.authorise(actor, "", "block") {
                    return refused(why);
                }
                self.p.blockers.push(Rejection {
                    by: actor.login.clone(),
                    reason: Some(reason.clone()),
                    at: self.now,
                });
                self.audit(&actor.login, "block", reason.clone());
                Some(format!(
                    "🚧 Blocked: nothing advances until `/unblock`. Reason: {reason}"
                ))
            }
            Command::Unblock => {
                if let Err(why) = self.authorise(actor, "", "unblock") {
                    return refused(why);
                }
                if self.p.blockers.is_empty() {
                    return refused("the pipeline is not blocked".into());
                }
                let lifted = std::mem::take(&mut self.p.blockers);
                self.audit(
                    &actor.login,
                    "unblock",
                    format!("{} blocker(s) lifted", lifted.len()),
                );
                Some("✅ Unblocked.".into())
            }
            Command::Priority(priority) => {
                if let Err(why) = self.authorise(actor, "", "set the priority") {
                    return refused(why);
                }
                self.p.priority = Some(*priority);
                let name = format!("{priority:?}").to_lowercase();
                self.audit(&actor.login, "priority", name.clone());
                Some(format!("Priority set to **{name}**."))
            }
            Command::Stop => {
                // Stopping a production deploy rolls production back: that takes the
                // authority `/rollback` does.
                let (gate, what) = if self.stop_rolls_back() {
                    (
                        "production",
                        "stop a production deploy (it rolls production back)",
                    )
                } else {
                    ("", "stop")
                };
                if let Err(why) = self.authorise(actor, gate, what) {
                    return refused(why);
                }
                Some(self.stop(actor))
            }
            Command::Skip { gate, reason } => match self.skip_command(actor, gate, reason) {
                Ok(answer) => Some(answer),
                Err(why) => refused(why),
            },
            Command::Status | Command::Help => unreachable!("answered above"),
        }
    }

    /// A check-run button acts like its command, with the same authorization; refusals are
    /// answered on the PR.
    fn on_button(&mut self, identifier: &str, on: u64, sha: &str, actor: &Actor) {
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
            Some(Answer::Refused(format!(
                "that button is on the check run of `{}`, which the pipeline has moved on from; use the one on `{}`.",
                short(sha),
                self.p
                    .check_run_sha()
                    .map(short)
                    .unwrap_or("the current head")
            )))
        } else {
            match super::production::button_command(identifier) {
                Some(c) => self.command(&c, actor, "the Approve prod button"),
                None => Some(Answer::Refused(format!(
                    "the check run's `{identifier}` button is not one shipgate offers (any more)."
                ))),
            }
        };
        let a = match answer {
            Some(Answer::Refused(a)) => {
                self.audit(
                    &actor.login,
                    "refused",
                    format!("button `{identifier}`: {a}"),
                );
                a
            }
            Some(Answer::Said(a)) => a,
            None => return,
        };
        self.reply(on, format!("@{}: {a}", actor.login));
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
        let in_production = self.stop_rolls_back();
        self.cancel_watchdogs(|_| true);
        let runs = format!(
            "cancelled {cancelled} run{}",
            if cancelled == 1 { "" } else { "s" }
        );
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
                .start_rollback("production", reason, by, Some(issue))
                .is_ok()
            {
                return format!("⏹️ Stopped: {runs}; rolling production back.");
            }
        }
        for w in self.p.health.iter_mut() {
            if w.outcome.is_none() {
                w.outcome = Some(false);
            }
        }
        self.set_phase(Phase::Stopped);
        format!("⏹️ Stopped: {runs}. Nothing more happens.")
    }

    /// Remembers who pushed to the linked PR: they may not approve it.
    fn note_pusher(&mut self, number: u64, login: &str) {
        if let Some(pr) = self.p.pr.as_mut().filter(|p| p.number == number) {
            pr.pushers.insert(login.to_owned());
        }
    }

    /// Whether `/stop` now rolls production back: a production deploy or its monitoring is
    /// under way.
    fn stop_rolls_back(&self) -> bool {
        self.p.phase == Phase::Production
            && self.p.current_deploy("production").is_some()
            && self.p.rollback.is_none()
    }

    /// Whether the pipeline ended by rolling staging back (which `/retry` recovers from).
    fn staging_rolled_back(&self) -> bool {
        self.p.phase == Phase::RolledBack
            && self
                .p
                .rollback
                .as_ref()
                .is_some_and(|r| r.environment == "staging")
    }

    fn retry(&mut self, stage: Option<&str>) -> Result<(), String> {
        if let Some(s) = stage
            && !matches!(s, "tests" | "branch" | "staging" | "merge" | "production")
        {
            return Err(format!(
                "there is no stage `{s}` to retry (try `tests`, `staging`, `merge` or `production`)"
            ));
        }
        let mut retried = false;
        if self.staging_rolled_back() && stage.is_none_or(|s| s == "staging") {
            // Staging was restored; the feature goes back to staging (a push meanwhile sends
            // it back to review first).
            self.p.rollback = None;
            self.p.skips.retain(|s| s.gate != "staging");
            self.supersede_deploys("staging");
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
            if failure.stage == "branch" {
                self.p.branch_state = BranchState::NotCreated;
            }
            if failure.stage == "staging" || failure.stage == "production" {
                // Deploy again: a failed deploy, or a good one whose health did not hold.
                if self
                    .p
                    .current_deploy(&failure.stage)
                    .is_some_and(|d| d.state.is_finished())
                {
                    self.supersede_deploys(&failure.stage);
                }
            }
            if failure.stage == "merge" {
                self.p.merge = None;
            }
            retried = true;
        }
        if stage.is_none_or(|s| s == "tests")
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
            Err("nothing has failed".into())
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
            self.emit(Action::CancelTimer { key });
        } else {
            run.state = RunState::Running;
        }
    }

    fn on_timer(&mut self, kind: &TimerKind) {
        match kind {
            TimerKind::GateTimeout { gate, action } => self.on_gate_timeout(gate, action),
            TimerKind::HealthTick { environment, since } => {
                self.on_health_tick(environment, *since)
            }
            TimerKind::RunWatchdog { correlation }
                if self.p.deploys.iter().any(|d| &d.correlation == correlation) =>
            {
                self.on_deploy_watchdog(correlation)
            }
            TimerKind::RunWatchdog { correlation } => {
                let Some(run) = self.p.run_mut(correlation) else {
                    return;
                };
                if run.state.is_finished() {
                    return;
                }
                match run.run_id {
                    Some(run_id) => {
                        let correlation = correlation.clone();
                        self.emit(Action::PollRun {
                            run_id,
                            correlation,
                        });
                    }
                    None => {
                        run.state = RunState::TimedOut;
                        run.finished_at = Some(self.now);
                    }
                }
            }
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
            self.emit(Action::CancelTimer { key });
        }
    }

    fn on_effect_done(&mut self, result: &EffectResult) {
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
                        self.emit(Action::SetTimer {
                            key: watchdog_key(&correlation),
                            due_at,
                            kind: TimerKind::RunWatchdog { correlation },
                        });
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
            EffectResult::SubIssues { tasks } => self.p.sub_issues = tasks.clone(),
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
                self.on_probed(environment, record, refused.clone());
            }
            EffectResult::PullFound { pulls } => {
                if self.p.pr.is_none() {
                    for pr in pulls {
                        self.on_pull(pr);
                    }
                }
            }
            EffectResult::Merged { sha } => self.on_merged(sha),
            EffectResult::NotMerged { number, base } => self.on_merge_refused(format!(
                "shipgate did not merge #{number}: it now targets `{base}`, and production runs `{}`",
                self.p.default_branch
            )),
            EffectResult::IncidentOpened { number } => self.on_incident_opened(*number),
            EffectResult::RollbackTarget { environment, sha } => {
                self.on_rollback_target(environment, sha.as_deref())
            }
            EffectResult::RunPolled {
                correlation,
                report,
            } => {
                if report.status == "completed" {
                    self.on_run_report(report, Some(correlation));
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

    fn on_effect_failed(&mut self, action: &Action, reason: &str) {
        match action {
            Action::Dispatch {
                workflow,
                correlation,
                ..
            } => {
                if let Some(run) = self.p.run_mut(correlation) {
                    run.state = RunState::NotDispatched(reason.to_owned());
                    run.finished_at = Some(self.now);
                }
                self.fail(
                    "tests",
                    format!("could not dispatch `{workflow}`: {reason}"),
                );
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
                let what = if matches!(action, Action::CreateDeployment { .. }) {
                    "create the deployment"
                } else {
                    "dispatch the deploy workflow"
                };
                self.fail(environment, format!("could not {what}: {reason}"));
            }
            Action::CreateBranch { branch, .. } => {
                self.fail("branch", format!("could not create `{branch}`: {reason}"));
            }
            Action::Merge { number, .. } => {
                self.on_merge_refused(format!("GitHub refused to merge #{number}: {reason}"))
            }
            Action::FindRollbackTarget { environment, .. } => {
                self.p.rollback = None;
                self.fail(
                    environment,
                    format!("could not look up the last good {environment} deployment: {reason}"),
                );
            }
            Action::OpenIncident { .. } => {
                let issue = self.p.issue;
                self.reply(
                    issue,
                    format!("⚠️ Could not open the incident issue for this rollback: {reason}"),
                );
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

    // ---- driving forward ----

    /// Moves the pipeline as far as its gates allow, asking for what each phase needs.
    fn drive(&mut self) {
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
                        || skip_of(&self.p, "requirement", None).is_some() =>
                {
                    self.set_phase(Phase::Planning);
                    self.emit(Action::FetchSubIssues);
                }
                Phase::Planning => {
                    if self.p.plan.is_none() && self.cfg.config.plan.approval == PlanApproval::Auto
                    {
                        self.p.plan = Some(Approval {
                            by: "shipgate".into(),
                            at: self.now,
                            via: "plan.approval: auto".into(),
                        });
                        self.audit("shipgate", "approve plan", "plan.approval: auto".into());
                    }
                    if self.p.plan.is_some() || skip_of(&self.p, "plan", None).is_some() {
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
                    }
                }
                Phase::Review => {
                    self.dispatch_tests();
                    let Some(sha) = self.p.pr_head_sha().map(str::to_owned) else {
                        break;
                    };
                    if !self.p.paused
                        && render::review_gate(&self.p, self.cfg, &sha).passed
                        && render::tests_gate(&self.p, self.cfg, &sha).passed
                    {
                        self.set_phase(Phase::Staging);
                    }
                }
                Phase::Staging => {
                    // Ready for staging only while review and tests hold on the current head:
                    // a push, requested changes or a dismissed review send it back.
                    match self.p.pr_head_sha().map(str::to_owned) {
                        None => self.set_phase(Phase::Development),
                        Some(sha) => {
                            if !(render::review_gate(&self.p, self.cfg, &sha).passed
                                && render::tests_gate(&self.p, self.cfg, &sha).passed)
                            {
                                self.set_phase(Phase::Review);
                            } else if self.staging_healthy(&sha) {
                                self.set_phase(Phase::Readiness);
                            } else {
                                self.deploy_staging(&sha);
                            }
                        }
                    }
                }
                Phase::Readiness => match self.p.pr_head_sha().map(str::to_owned) {
                    None => self.set_phase(Phase::Development),
                    Some(sha) => {
                        if !(render::review_gate(&self.p, self.cfg, &sha).passed
                            && render::tests_gate(&self.p, self.cfg, &sha).passed)
                        {
                            self.set_phase(Phase::Review);
                        } else if !self.staging_healthy(&sha) {
                            self.set_phase(Phase::Staging);
                        } else if self.p.production.is_some() && !self.p.paused {
                            self.set_phase(Phase::Production);
                        }
                    }
                },
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

    fn dispatch_tests(&mut self) {
        let Some(pr) = self.p.pr.clone().filter(|p| p.open) else {
            return;
        };
        if pr.from_fork {
            if self.p.fork_warned.insert(pr.number) {
                self.reply(pr.number, super::render::fork_refusal(&pr));
            }
            return;
        }
        if self.p.paused {
            return;
        }
        for workflow in self.cfg.config.tests.workflows.clone() {
            if self
                .p
                .runs_for(&pr.head_sha)
                .any(|r| r.workflow == workflow)
            {
                continue;
            }
            let correlation = format!("{}-t{}", self.p.name(), self.p.seq);
            self.p.runs.push(TestRun {
                workflow: workflow.clone(),
                sha: pr.head_sha.clone(),
                git_ref: pr.head_branch.clone(),
                correlation: correlation.clone(),
                run_id: None,
                url: None,
                state: RunState::Dispatching,
                dispatched_at: self.now,
                finished_at: None,
                attempt: 1,
            });
            self.emit(Action::Dispatch {
                workflow,
                git_ref: pr.head_branch.clone(),
                sha: pr.head_sha.clone(),
                correlation: correlation.clone(),
            });
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
