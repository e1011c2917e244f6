//! Workflow runs reported to the pipeline (by webhook or a poll): each is claimed by the test
//! run, deploy or development task shipgate dispatched it as (`provenance` says whether it
//! really is that run), or reported once as not shipgate's; and the tests dispatched for
//! each new head.
//!
//! Must not: count a run shipgate did not start, or dispatch anything for a fork's head.

use super::Step;
use crate::pipeline::linking::contains_token;
use crate::pipeline::model::*;
use crate::pipeline::provenance::{
    MAX_FOREIGN_RUNS, deploy_sent, foreign_run_text, mismatch, task_sent, test_sent,
};
use crate::pipeline::text::short;
use crate::pipeline::views::replies;

/// Which of the pipeline's dispatches a run report belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Claim {
    /// Deploy `i`.
    Deploy(usize),
    /// Test run `i`.
    Test(usize),
    /// Development task `i`.
    Task(usize),
    /// Names one of this pipeline's dispatches but is not the run shipgate started: why.
    Foreign(String),
    /// Nothing of this pipeline's.
    Unrelated,
}

impl Step<'_> {
    /// A workflow run reported (by webhook, or a poll of `by_correlation`'s known run): it
    /// goes to the deploy or test run shipgate started it as, or is reported as not
    /// shipgate's.
    pub(super) fn on_run_report(&mut self, report: &RunReport, by_correlation: Option<&str>) {
        let claim = self.claim(report, by_correlation);
        // shipgate's run, but its branch had moved before GitHub started it: it ran another
        // commit's workflow, which proves nothing about the SHA it was sent for. A deploy of
        // it fails its stage, without a rollback (what it deployed was no decision of
        // shipgate's); a tests run fails.
        if let Some(ran) = self.ran_elsewhere(&claim, report) {
            match claim {
                Claim::Deploy(i) if !self.p.deploys[i].state.is_finished() => {
                    let d = &self.p.deploys[i];
                    let why = format!(
                        "the {} deploy run {} {ran}: its branch moved before GitHub started it; `/retry` deploys again",
                        d.environment, report.run_id
                    );
                    self.deploy_void(i, "ran another commit", why);
                }
                Claim::Test(i) => {
                    let failed = RunReport {
                        status: "completed".into(),
                        conclusion: Some(ran),
                        ..report.clone()
                    };
                    self.on_test_report(i, &failed);
                }
                _ => {}
            }
            return;
        }
        match claim {
            Claim::Deploy(i) => self.on_deploy_report(i, report),
            Claim::Test(i) => self.on_test_report(i, report),
            Claim::Task(i) => self.on_task_report(i, report),
            Claim::Foreign(why) => self.foreign_run(report, &why),
            Claim::Unrelated => {}
        }
    }

    /// `ran <sha>, not <sha>` when a claimed run's head is not the commit it was sent for.
    pub(super) fn ran_elsewhere(&self, claim: &Claim, report: &RunReport) -> Option<String> {
        let origin = report.origin.as_ref()?;
        let sent = match claim {
            Claim::Deploy(i) => deploy_sent(
                &self.p,
                &self.p.deploys[*i],
                &self.cfg.config.deploy.workflow,
            ),
            Claim::Test(i) => test_sent(&self.p.runs[*i]),
            _ => return None, // a task runs its branch's head, whatever it is
        };
        let sha = sent.sha?;
        (!origin.head_sha.is_empty() && origin.head_sha != sha)
            .then(|| format!("ran {}, not {}", short(&origin.head_sha), short(sha)))
    }

    /// The dispatch `report` is the run of: by run id (or the correlation of a poll of a
    /// known run), else adopted by its origin when the dispatch's answer never came.
    pub(super) fn claim(&self, report: &RunReport, by_correlation: Option<&str>) -> Claim {
        let p = &self.p;
        let known = |run_id: Option<u64>, correlation: &str| {
            run_id == Some(report.run_id) || by_correlation == Some(correlation)
        };
        if let Some(i) = p
            .deploys
            .iter()
            .position(|d| known(d.run_id, &d.correlation))
        {
            return Claim::Deploy(i);
        }
        if let Some(i) = p.runs.iter().position(|r| known(r.run_id, &r.correlation)) {
            return Claim::Test(i);
        }
        if let Some(i) = p.dev_tasks.iter().position(|t| {
            t.run_id == Some(report.run_id)
                || (by_correlation.is_some() && t.correlation.as_deref() == by_correlation)
        }) {
            return Claim::Task(i);
        }
        let title = report.display_title.as_deref().unwrap_or_default();
        let deploy = p
            .deploys
            .iter()
            .rposition(|d| contains_token(title, &d.correlation));
        let test = p
            .runs
            .iter()
            .rposition(|r| contains_token(title, &r.correlation));
        let task = p.dev_tasks.iter().rposition(|t| {
            t.correlation
                .as_deref()
                .is_some_and(|c| contains_token(title, c))
        });
        let workflow = &self.cfg.config.deploy.workflow;
        if report
            .origin
            .as_ref()
            .is_some_and(|o| o.event != "workflow_dispatch")
        {
            // A push or pull-request run that borrowed the name: plainly no dispatch of
            // shipgate's, and not worth a word.
            return Claim::Unrelated;
        }
        let (claim, run_id, sent) = match (deploy, test, task) {
            (Some(i), _, _) => (
                Claim::Deploy(i),
                p.deploys[i].run_id,
                deploy_sent(p, &p.deploys[i], workflow),
            ),
            (None, Some(i), _) => (Claim::Test(i), p.runs[i].run_id, test_sent(&p.runs[i])),
            (None, None, Some(i)) => match task_sent(p, &p.dev_tasks[i]) {
                Some(sent) => (Claim::Task(i), p.dev_tasks[i].run_id, sent),
                None => return Claim::Unrelated,
            },
            (None, None, None) => return Claim::Unrelated,
        };
        if let Some(ours) = run_id {
            return Claim::Foreign(format!(
                "shipgate's run for `{}` is {ours}",
                sent.correlation
            ));
        }
        match report.origin.as_ref().map(|o| mismatch(o, &sent)) {
            Some(None) => claim,
            Some(Some(why)) => Claim::Foreign(why),
            None => Claim::Foreign("GitHub did not say who started it".into()),
        }
    }

    /// A run that names this pipeline but that shipgate did not start: said once on the
    /// issue, audited, and otherwise ignored.
    pub(super) fn foreign_run(&mut self, report: &RunReport, why: &str) {
        if self.p.foreign_runs.len() >= MAX_FOREIGN_RUNS
            || !self.p.foreign_runs.insert(report.run_id)
        {
            return; // said once; and past the limit, nothing more is said or kept
        }
        let what = foreign_run_text(report, why);
        self.audit("shipgate", "run ignored", what.clone());
        let issue = self.p.issue;
        self.reply(issue, replies::warning(&what));
    }

    /// Dispatches each configured test workflow once for the open PR's head (never for a
    /// fork's, never while paused).
    pub(super) fn dispatch_tests(&mut self) {
        let Some(pr) = self.p.pr.clone().filter(|p| p.open) else {
            return;
        };
        if pr.from_fork {
            if self.p.fork_warned.insert(pr.number) {
                self.reply(pr.number, replies::fork_refusal(&pr));
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
                evidence: None,
            });
            self.emit(Action::Dispatch {
                workflow,
                git_ref: pr.head_branch.clone(),
                sha: pr.head_sha.clone(),
                correlation: correlation.clone(),
            });
        }
    }

    /// A test run silent for `tests.timeout`: polled by its id, or timed out when GitHub
    /// never gave one (its deploy twin is `on_deploy_watchdog`).
    pub(super) fn on_run_watchdog(&mut self, correlation: &str) {
        let Some(run) = self.p.run_mut(correlation) else {
            return;
        };
        if run.state.is_finished() {
            return;
        }
        match run.run_id {
            Some(run_id) => {
                let correlation = correlation.to_owned();
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
