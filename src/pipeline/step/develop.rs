//! The development stage (`develop.workflows` set): once the plan is approved and the
//! branch exists, each task's workflow is dispatched on the feature branch as soon as the
//! tasks it waits for are done, never more than `develop.max_parallel` at once (the
//! pipeline's runs, or with `max_parallel_scope: repository` the repository's, ahead-in-line
//! pipelines first: `task_load` and `RepoLoad`), lowest task number first. A failed attempt
//! is retried after a backoff up to `develop.attempts` times, then the next workflow of the
//! list takes over; when the last gives up the task fails and the issue says so (`/retry
//! task <n>`, `/skip task <n> <reason>`). A task is also done when a person ticks it or
//! closes its sub-issue; GitHub's sub-issues and "blocked by" read again are followed by the
//! tasks not yet started. With `develop.open_pr`, shipgate opens the PR and marks it ready
//! for review once every task is done. `/pause` holds new dispatches; `/stop` cancels the
//! runs in flight (`commands.rs`).
//!
//! Must not: dispatch while paused or blocked, or more than `max_parallel` (a run named by
//! GitHub after its task was skipped, stopped or ticked is cancelled); count a run shipgate
//! did not start (`runs.rs` claims runs for tasks as for tests).

use super::{Step, watchdog_key};
use crate::pipeline::commands::Priority;
use crate::pipeline::config::{LoadedConfig, ParallelScope};
use crate::pipeline::model::*;
use crate::pipeline::plan::{PlannedTask, levels, plan};
use crate::pipeline::views::replies;

/// The first retry waits this long; each next one twice as long, up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: i64 = 30_000;
const MAX_BACKOFF_MS: i64 = 15 * 60_000;
/// The longest task title sent as the `task` input.
const MAX_TITLE: usize = 1_000;

impl Step<'_> {
    /// In development with the branch there: the tasks taken from the plan once, those
    /// ticked since marked done, and every task that may start dispatched.
    pub(super) fn drive_tasks(&mut self) {
        let develop = &self.cfg.config.develop;
        if !develop.is_on()
            || self.p.phase != Phase::Development
            || !matches!(
                self.p.branch_state,
                BranchState::Created | BranchState::Existed
            )
        {
            return;
        }
        if self.p.dev_tasks.is_empty() {
            let planned = plan(&self.p.tasks, &self.p.sub_issues);
            if !planned.problems.is_empty() {
                return; // the plan could not be approved with them; a skip does not cure them
            }
            self.p.dev_tasks = planned
                .tasks
                .into_iter()
                .map(|t| DevTask {
                    id: t.id,
                    title: t.title,
                    nth: t.nth,
                    issue: t.issue,
                    after: t.after,
                    state: if t.done {
                        TaskState::Done("done before development began".into())
                    } else {
                        TaskState::Waiting
                    },
                    workflow: 0,
                    attempt: 0,
                    not_before: None,
                    correlation: None,
                    sent_workflow: None,
                    run_id: None,
                    url: None,
                    dispatched_at: None,
                    failures: vec![],
                })
                .collect();
            let count = self.p.dev_tasks.len();
            self.audit(
                "shipgate",
                "development started",
                format!("{count} task(s)"),
            );
        }
        self.note_ticked_tasks();
        self.dispatch_tasks();
        self.drive_own_pull();
    }

    /// `develop.open_pr`: once a task is done and no PR is linked, shipgate opens one from
    /// the branch — a draft while tasks remain (asked again when another task is done if
    /// GitHub refused it for having no commits); once every task is done or skipped, its own
    /// draft is marked ready for review, which ends the phase as a person's would.
    fn drive_own_pull(&mut self) {
        if !self.cfg.config.develop.open_pr {
            return;
        }
        let settled = self
            .p
            .dev_tasks
            .iter()
            .filter(|t| t.state.settled())
            .count();
        let all = settled == self.p.dev_tasks.len();
        let own = self.p.own_pr.clone();
        match &self.p.pr {
            None if settled > 0 && own.as_ref().is_none_or(|o| o.asked_at < settled) => {
                self.p.own_pr = Some(OwnPull {
                    asked_at: settled,
                    refused: own.and_then(|o| o.refused),
                    ready_asked: false,
                    not_ready: None,
                });
                let body = replies::own_pull_body(&self.p, !all);
                self.emit(Action::OpenPullRequest {
                    title: self.p.title.clone(),
                    body,
                    draft: !all,
                });
            }
            // The PR from the feature branch (the one shipgate opened, or a person's).
            Some(pr) if all && pr.draft && pr.open && pr.head_branch == self.p.branch => {
                let number = pr.number;
                let own = self.p.own_pr.get_or_insert(OwnPull {
                    asked_at: settled,
                    refused: None,
                    ready_asked: false,
                    not_ready: None,
                });
                if !own.ready_asked {
                    own.ready_asked = true;
                    self.emit(Action::MarkReadyForReview { number });
                }
            }
            _ => {}
        }
    }

    /// Tasks a person ticked in the issue, or whose sub-issue was closed, are done. A task
    /// is found by its sub-issue, or by its text: the issue may have been edited since.
    fn note_ticked_tasks(&mut self) {
        let now = plan(&self.p.tasks, &self.p.sub_issues).tasks;
        let mut cancel = Vec::new();
        for task in self.p.dev_tasks.iter_mut() {
            let ticked = now.iter().any(|t| {
                t.done
                    && match task.issue {
                        Some(n) => t.issue == Some(n),
                        None => t.issue.is_none() && t.title == task.title && t.nth == task.nth,
                    }
            });
            if ticked && !task.state.settled() {
                let running = task.state.in_flight().then_some(task.run_id).flatten();
                task.state = TaskState::Done(match task.issue {
                    Some(n) => format!("#{n} closed"),
                    None => "ticked in the issue".into(),
                });
                cancel.extend(running);
            }
        }
        for run_id in cancel {
            self.emit(Action::CancelRun { run_id });
        }
    }

    /// The sub-issues as just read again, for the sub-issue tasks not yet started: one no
    /// longer a sub-issue (removed from the plan, deleted, transferred) is skipped; GitHub's
    /// "blocked by" is followed — a dependency added holds the task, one removed frees it
    /// (`(after …)` markers were fixed with the plan and stay). A change that would make
    /// tasks wait for each other is not followed: the approved order stands, and the audit
    /// log says why.
    pub(super) fn follow_sub_issues(&mut self) {
        if self.p.phase != Phase::Development || self.p.dev_tasks.is_empty() {
            return;
        }
        let fresh = plan(&self.p.tasks, &self.p.sub_issues).tasks;
        let parent = self.p.issue;
        let mut gone = Vec::new();
        for task in self.p.dev_tasks.iter_mut() {
            if let (Some(n), TaskState::Waiting) = (task.issue, &task.state)
                && !fresh.iter().any(|f| f.issue == Some(n))
            {
                let reason = format!("#{n} is no longer a sub-issue of #{parent}");
                task.state = TaskState::Skipped {
                    by: "shipgate".into(),
                    reason: reason.clone(),
                };
                gone.push(format!("task {}: {reason}", task.id));
            }
        }
        for what in gone {
            self.audit("shipgate", "task skipped", what);
        }
        let dev_id = |f: &PlannedTask| {
            self.p
                .dev_tasks
                .iter()
                .find(|d| match f.issue {
                    Some(n) => d.issue == Some(n),
                    None => d.issue.is_none() && d.title == f.title && d.nth == f.nth,
                })
                .map(|d| d.id)
        };
        let mut proposed = self.p.dev_tasks.clone();
        for task in proposed.iter_mut() {
            let (Some(n), TaskState::Waiting, 0) = (task.issue, &task.state, task.attempt) else {
                continue;
            };
            let Some(now) = fresh.iter().find(|f| f.issue == Some(n)) else {
                continue; // skipped above
            };
            let mut after: Vec<u64> = now
                .after
                .iter()
                .filter_map(|a| fresh.iter().find(|f| f.id == *a))
                .filter_map(dev_id)
                .collect();
            after.sort_unstable();
            after.dedup();
            task.after = after;
        }
        if proposed == self.p.dev_tasks {
            return;
        }
        let graph: Vec<PlannedTask> = proposed
            .iter()
            .map(|t| PlannedTask {
                id: t.id,
                title: String::new(),
                nth: 0,
                issue: t.issue,
                done: false,
                after: t.after.clone(),
            })
            .collect();
        let (_, stuck) = levels(&graph);
        if stuck.is_empty() {
            self.p.dev_tasks = proposed;
            self.audit(
                "shipgate",
                "task order",
                "followed GitHub's blocked by".into(),
            );
        } else {
            let names: Vec<String> = stuck.iter().map(u64::to_string).collect();
            let why = format!(
                "GitHub's blocked by not followed: tasks {} would wait for each other",
                names.join(", ")
            );
            self.audit("shipgate", "task order", why);
        }
    }

    /// Dispatches the tasks that may start, lowest number first, up to `max_parallel` in
    /// flight — its own, or the repository's when shared — (never while paused or blocked).
    fn dispatch_tasks(&mut self) {
        if self.p.paused || !self.p.blockers.is_empty() {
            return;
        }
        let develop = &self.cfg.config.develop;
        let max = develop.max_parallel as usize;
        let in_flight = self
            .p
            .dev_tasks
            .iter()
            .filter(|t| t.state.in_flight())
            .count();
        // Shared by the repository: the others' runs hold slots, and the ready tasks of
        // pipelines ahead in line take the free ones first.
        let taken = match develop.max_parallel_scope {
            ParallelScope::Pipeline => in_flight,
            ParallelScope::Repository if self.load.busy => return,
            ParallelScope::Repository => {
                in_flight + (self.load.in_flight + self.load.ahead) as usize
            }
        };
        let ready: Vec<usize> = (0..self.p.dev_tasks.len())
            .filter(|&i| self.may_start(i))
            .take(max.saturating_sub(taken))
            .collect();
        for i in ready {
            self.dispatch_task(i);
        }
    }

    fn may_start(&self, i: usize) -> bool {
        may_start(&self.p, &self.p.dev_tasks[i], self.now)
    }

    fn dispatch_task(&mut self, i: usize) {
        let workflows = &self.cfg.config.develop.workflows;
        let Some(workflow) = workflows.get(self.p.dev_tasks[i].workflow).cloned() else {
            // The list changed under it: no workflow is left for this task.
            self.p.dev_tasks[i].state =
                TaskState::Failed("`develop.workflows` lists no workflow for it now".into());
            return;
        };
        let correlation = format!("{}-k{}", self.p.name(), self.p.seq);
        let (issue, branch) = (self.p.issue, self.p.branch.clone());
        let t = &mut self.p.dev_tasks[i];
        t.attempt += 1;
        t.state = TaskState::Dispatching;
        t.not_before = None;
        t.correlation = Some(correlation.clone());
        t.sent_workflow = Some(workflow.clone());
        t.run_id = None;
        t.url = None;
        t.dispatched_at = Some(self.now);
        let title: String = t.title.chars().take(MAX_TITLE).collect();
        let values = [
            title,
            t.id.to_string(),
            t.issue.map(|n| n.to_string()).unwrap_or_default(),
            issue.to_string(),
            branch.clone(),
            t.attempt.to_string(),
        ];
        // `TASK_INPUTS` names them, in this order; the shell adds `pipeline`.
        let inputs = TASK_INPUTS
            .iter()
            .zip(values)
            .map(|(k, v)| ((*k).to_owned(), v))
            .collect();
        self.emit(Action::DispatchTask {
            workflow,
            git_ref: branch,
            correlation,
            inputs,
        });
    }

    /// The task dispatched as `correlation`, if one was.
    pub(super) fn task_of(&self, correlation: &str) -> Option<usize> {
        self.p
            .dev_tasks
            .iter()
            .position(|t| t.correlation.as_deref() == Some(correlation))
    }

    /// GitHub has task `i`'s run: its id, and the watchdog from now.
    pub(super) fn on_task_dispatched(&mut self, i: usize, run_id: u64, url: &str) {
        let t = &mut self.p.dev_tasks[i];
        t.run_id = Some(run_id);
        t.url = Some(url.to_owned());
        if !t.state.in_flight() {
            // Skipped, stopped or ticked before GitHub named the run: it is not wanted.
            self.emit(Action::CancelRun { run_id });
            return;
        }
        if t.state == TaskState::Dispatching {
            t.state = TaskState::Running;
        }
        if t.state.in_flight()
            && let Some(correlation) = t.correlation.clone()
        {
            let due_at = self.now + self.cfg.config.develop.timeout as i64 * 1000;
            self.set_timer(
                watchdog_key(&correlation),
                due_at,
                TimerKind::RunWatchdog { correlation },
            );
        }
    }

    /// Task `i`'s run reported (webhook or poll; `claim` tied it to the task).
    pub(super) fn on_task_report(&mut self, i: usize, report: &RunReport) {
        let t = &mut self.p.dev_tasks[i];
        if !t.state.in_flight() {
            return; // a late or repeated report does not rewrite a result
        }
        t.run_id = Some(report.run_id);
        t.url = Some(report.url.clone());
        if report.status != "completed" {
            t.state = TaskState::Running;
            return;
        }
        if let Some(c) = t.correlation.clone() {
            self.cancel_timer(watchdog_key(&c));
        }
        match report.conclusion.as_deref() {
            Some("success") => {
                let t = &mut self.p.dev_tasks[i];
                t.state = TaskState::Done(format!("run {}", report.run_id));
                let what = format!("task {} “{}” done by run {}", t.id, t.title, report.run_id);
                let (id, sub_issue) = (t.id, t.issue);
                self.audit("shipgate", "task done", what);
                match sub_issue {
                    Some(number) => {
                        let name = self.p.name();
                        self.reply(number, replies::task_done(&name, id, &report.url));
                        self.emit(Action::CloseSubIssue { number });
                    }
                    None => {
                        let t = &self.p.dev_tasks[i];
                        let (title, nth) = (t.title.clone(), t.nth);
                        self.emit(Action::TickTask { title, nth });
                    }
                }
            }
            other => {
                let why = other.unwrap_or("unknown").to_owned();
                self.task_attempt_failed(i, &why);
            }
        }
    }

    /// An attempt of task `i` failed (its run, its dispatch, or its watchdog): retried after
    /// a backoff, handed to the next workflow, or the task fails.
    pub(super) fn task_attempt_failed(&mut self, i: usize, why: &str) {
        let develop = &self.cfg.config.develop;
        let (attempts, workflows) = (develop.attempts, develop.workflows.clone());
        let t = &mut self.p.dev_tasks[i];
        if !t.state.in_flight() {
            return;
        }
        let workflow = t.sent_workflow.clone().unwrap_or_default();
        t.failures
            .push(format!("{workflow} attempt {}: {why}", t.attempt));
        t.run_id = None;
        if t.attempt < attempts {
            let wait = (FIRST_BACKOFF_MS << (t.attempt - 1).min(10)).min(MAX_BACKOFF_MS);
            let (id, due) = (t.id, self.now + wait);
            // One key per retry (a fired timer's key is not taken twice): the failed
            // dispatch's own.
            let key = format!(
                "task-retry:{}",
                t.correlation.as_deref().unwrap_or_default()
            );
            t.state = TaskState::Waiting;
            t.not_before = Some(due);
            self.set_timer(key, due, TimerKind::TaskRetry { task: id });
        } else if t.workflow + 1 < workflows.len() {
            t.workflow += 1;
            t.attempt = 0;
            t.state = TaskState::Waiting;
            let (id, next) = (t.id, workflows[t.workflow].clone());
            self.audit(
                "shipgate",
                "task handed over",
                format!("task {id}: {workflow} failed {attempts} time(s); {next} takes over"),
            );
        } else {
            t.state = TaskState::Failed(why.to_owned());
            let (id, title) = (t.id, t.title.clone());
            let text = format!("task {id} “{title}” failed on every develop workflow ({why})");
            self.audit("shipgate", "task failed", text.clone());
            let issue = self.p.issue;
            self.reply(issue, replies::task_failed(id, &title, why));
            self.notify("task", format!("{}: {text}", self.p.name()));
        }
    }

    /// `/retry task <n>`: a failed task starts again from the first workflow.
    pub(super) fn retry_task(&mut self, id: u64) -> Result<(), String> {
        let t = self
            .p
            .dev_tasks
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| replies::no_such_task(id))?;
        if !matches!(t.state, TaskState::Failed(_)) {
            return Err(replies::task_not_failed(id));
        }
        t.state = TaskState::Waiting;
        t.workflow = 0;
        t.attempt = 0;
        t.not_before = None;
        Ok(())
    }

    /// `/skip task <n> <reason>` (an admin's, checked by the caller): its dependents may
    /// start.
    pub(super) fn skip_task(&mut self, id: u64, by: &str, reason: &str) -> Result<(), String> {
        let t = self
            .p
            .dev_tasks
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| replies::no_such_task(id))?;
        if t.state.settled() {
            return Err(replies::task_settled(id));
        }
        // A run still going is cancelled: the task's slot is free for the next.
        let running = t.state.in_flight().then_some(t.run_id).flatten();
        t.state = TaskState::Skipped {
            by: by.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(run_id) = running {
            self.emit(Action::CancelRun { run_id });
        }
        self.audit(by, "skip task", format!("task {id}: {reason}"));
        Ok(())
    }

    /// A task run silent for `develop.timeout`: polled by its id, or failed when GitHub
    /// never gave one.
    pub(super) fn on_task_watchdog(&mut self, i: usize) {
        let t = &self.p.dev_tasks[i];
        if !t.state.in_flight() {
            return;
        }
        match (t.run_id, t.correlation.clone()) {
            (Some(run_id), Some(correlation)) => self.emit(Action::PollRun {
                run_id,
                correlation,
            }),
            _ => self.task_attempt_failed(i, "no run after the timeout"),
        }
    }
}

/// The pipeline's share of the repository's development load after a step, for the shell to
/// record when `develop.max_parallel` is shared: its runs in flight, the tasks it would
/// dispatch now given a free slot (none while paused, blocked or out of development), and
/// its place in line by `/priority`.
pub fn task_load(p: &Pipeline, cfg: &LoadedConfig, now: i64) -> TaskLoad {
    let in_flight = p.dev_tasks.iter().filter(|t| t.state.in_flight()).count() as u32;
    let developing = p.phase == Phase::Development
        && cfg.config.develop.is_on()
        && !p.paused
        && p.blockers.is_empty();
    let ready = if developing {
        p.dev_tasks.iter().filter(|t| may_start(p, t, now)).count() as u32
    } else {
        0
    };
    let rank = match p.priority {
        Some(Priority::Critical) => 0,
        Some(Priority::High) => 1,
        None | Some(Priority::Medium) => 2,
        Some(Priority::Low) => 3,
    };
    TaskLoad {
        in_flight,
        ready,
        rank,
    }
}

/// Whether task `t` may be dispatched now: waiting, past its backoff, and every task it
/// waits for done or skipped.
fn may_start(p: &Pipeline, t: &DevTask, now: i64) -> bool {
    t.state == TaskState::Waiting
        && t.not_before.is_none_or(|at| at <= now)
        && t.after
            .iter()
            .all(|d| p.dev_tasks.iter().any(|o| o.id == *d && o.state.settled()))
}
