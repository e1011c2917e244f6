//! Deploys and their health, for staging and production alike: a GitHub Deployment, the
//! deploy workflow dispatched for it, its run followed to the end (and polled if it goes
//! quiet), deployment statuses, then health probes on durable timers for the environment's
//! window. What happens when an environment is healthy or not is the phase's business
//! (`drive`, `finish_production`, `fail`); the probes themselves are `health.rs`.
//!
//! Must not: decide gates (that is `gates`, read by `drive`), or read anything but the
//! pipeline, the configuration and `now`.

use super::{Step, watchdog_key};
use crate::pipeline::evidence;
use crate::pipeline::model::*;
use crate::pipeline::text::short;
use crate::pipeline::views::{failures as why, replies};

impl Step<'_> {
    /// Starts a deploy of `sha` to `environment`: the Deployment first, the workflow once
    /// GitHub has it (see `dispatch_deploys`).
    pub(super) fn deploy_to(&mut self, environment: Environment, sha: &str, git_ref: &str) {
        self.deploy_with(environment, sha, git_ref, None);
    }

    /// Like `deploy_to`; with a reason, the deploy is a rollback.
    pub(super) fn deploy_with(
        &mut self,
        environment: Environment,
        sha: &str,
        git_ref: &str,
        rollback_reason: Option<String>,
    ) {
        let correlation = format!("{}-d{}", self.p.name(), self.p.seq);
        self.p.deploys.push(Deploy {
            environment,
            sha: sha.to_owned(),
            git_ref: git_ref.to_owned(),
            correlation: correlation.clone(),
            deployment_id: None,
            run_id: None,
            url: None,
            state: DeployState::Creating,
            started_at: self.now,
            finished_at: None,
            rollback_reason,
            requested_by: None,
            evidence: None,
        });
        self.emit(Action::CreateDeployment {
            environment,
            sha: sha.to_owned(),
            correlation,
        });
    }

    /// Starts the staging deploy of the PR's head `sha` unless one is under way or done
    /// (or the pipeline is paused).
    pub(super) fn deploy_staging(&mut self, sha: &str) {
        let rolling_back = self
            .p
            .rollback
            .as_ref()
            .is_some_and(|r| !r.done && r.environment == Environment::Staging);
        if self.p.paused || rolling_back {
            return; // a rollback holds the environment until it is over
        }
        if self
            .p
            .current_deploy(Environment::Staging)
            .is_some_and(|d| d.sha == sha)
        {
            return;
        }
        let Some(pr) = self.p.pr.clone() else {
            return;
        };
        if pr.from_fork {
            // Whatever let it this far (a skip, a review), a fork's head is never deployed.
            if self.p.fork_warned.insert(pr.number) {
                self.reply(pr.number, replies::fork_refusal(&pr));
            }
            return;
        }
        self.deploy_to(Environment::Staging, sha, &pr.head_branch);
    }

    /// Marks the environment's current deploy superseded (a new one replaces it) and ends
    /// its health watch.
    pub(super) fn supersede_deploys(&mut self, environment: Environment) {
        for d in self.p.deploys.iter_mut() {
            if d.environment == environment && d.state != DeployState::Superseded {
                d.state = DeployState::Superseded;
            }
        }
        for w in self.p.health.iter_mut() {
            if w.environment == environment && w.outcome.is_none() {
                w.outcome = Some(false);
            }
        }
    }

    /// Dispatches the deploy workflow for each created deployment (held while paused).
    /// (A pause or a block holds deploys, never a rollback; held ones go when it lifts.)
    pub(super) fn dispatch_deploys(&mut self) {
        let held = self.p.paused
            || !self.p.blockers.is_empty()
            || self.p.phase.is_terminal()
            || self.p.phase == Phase::Failed;
        let ready: Vec<Deploy> = self
            .p
            .deploys
            .iter()
            .filter(|d| d.state == DeployState::Dispatching && d.run_id.is_none())
            .filter(|d| d.rollback_reason.is_some() || !held)
            .cloned()
            .collect();
        for d in ready {
            if let Some(deploy) = self.p.deploy_mut(&d.correlation) {
                deploy.state = DeployState::Running;
            }
            self.emit(Action::DispatchDeploy {
                workflow: self.cfg.config.deploy.workflow.clone(),
                git_ref: d.git_ref.clone(),
                environment: d.environment,
                sha: d.sha.clone(),
                correlation: d.correlation.clone(),
                rollback_reason: d.rollback_reason.clone(),
            });
            // The incident issue waits behind the rollback's dispatch, never in front of it.
            if d.rollback_reason.is_some()
                && let Some(record) = self.p.rollback.clone()
            {
                self.open_incident(&record);
            }
        }
    }

    /// GitHub has the deploy run: the deployment goes `in_progress` and the run's watchdog
    /// starts.
    pub(super) fn on_deploy_dispatched(&mut self, correlation: &str, run_id: u64, url: &str) {
        let timeout = self.cfg.config.deploy.timeout as i64 * 1000;
        let now = self.now;
        self.note_deploy_run(correlation, run_id, url);
        let Some(d) = self.p.deploy_mut(correlation) else {
            return;
        };
        // Armed here whichever came first, this answer or the run's webhook.
        if !d.state.is_finished() {
            let correlation = correlation.to_owned();
            self.set_timer(
                watchdog_key(&correlation),
                now + timeout,
                TimerKind::RunWatchdog { correlation },
            );
        }
    }

    /// Records the deploy's run the first time it is known (from the dispatch's answer or
    /// the run's webhook, whichever comes first): the deployment goes `in_progress`.
    pub(super) fn note_deploy_run(&mut self, correlation: &str, run_id: u64, url: &str) {
        let Some(d) = self.p.deploy_mut(correlation) else {
            return;
        };
        if d.run_id.is_some() {
            return;
        }
        d.run_id = Some(run_id);
        d.url = Some(url.to_owned());
        if let (Some(deployment_id), false) = (d.deployment_id, d.state.is_finished()) {
            let description = format!("{} deploy of {} running", d.environment, short(&d.sha));
            self.emit(Action::DeploymentStatus {
                deployment_id,
                state: "in_progress".into(),
                log_url: Some(url.to_owned()),
                environment_url: None,
                description,
            });
        }
    }

    /// A deploy run reported (by webhook or poll).
    pub(super) fn on_deploy_report(&mut self, i: usize, report: &RunReport) {
        let cfg = self.cfg;
        let correlation = self.p.deploys[i].correlation.clone();
        self.note_deploy_run(&correlation, report.run_id, &report.url);
        let d = &mut self.p.deploys[i];
        d.url = Some(report.url.clone());
        if d.state.is_finished() || report.status != "completed" {
            return;
        }
        let succeeded = report.conclusion.as_deref() == Some("success");
        let conclusion = report
            .conclusion
            .clone()
            .unwrap_or_else(|| "unknown".into());
        let d = self.finish_deploy(
            i,
            if succeeded {
                DeployState::Succeeded
            } else {
                DeployState::Failed(conclusion.clone())
            },
        );
        let (environment, sha, deployment_id, correlation) =
            (d.environment, d.sha, d.deployment_id, d.correlation);
        let reported = d.evidence.as_ref().and_then(evidence::describe);
        self.notify(
            "deploy",
            format!(
                "{}: the {environment} {} of `{}` {} ({}){}",
                self.p.name(),
                self.p.deploys[i].kind(),
                short(&sha),
                self.p.deploys[i].state.describe(),
                report.url,
                reported.map(|e| format!(": {e}")).unwrap_or_default()
            ),
        );
        let health_url = cfg
            .config
            .deploy
            .environment(environment)
            .health
            .url
            .clone();
        // Where the run says it deployed to, else where its health is probed.
        let environment_url = d.evidence.and_then(|e| e.deploy_url).or(health_url.clone());
        if let Some(deployment_id) = deployment_id {
            self.emit(Action::DeploymentStatus {
                deployment_id,
                state: if succeeded { "success" } else { "failure" }.into(),
                log_url: Some(report.url.clone()),
                environment_url: if succeeded { environment_url } else { None },
                description: format!(
                    "{} deploy of {} {}",
                    environment,
                    short(&sha),
                    if succeeded { "succeeded" } else { "failed" }
                ),
            });
        }
        let current = self
            .p
            .current_deploy(environment)
            .map(|c| c.correlation.clone());
        if current.as_deref() != Some(correlation.as_str()) {
            return; // a superseded deploy's result is recorded, nothing more
        }
        if self.p.deploys[i].rollback_reason.is_some() {
            self.on_rollback_deployed(&sha, succeeded, &report.url);
            return;
        }
        if !succeeded {
            let why = why::deploy_concluded(environment, &sha, &conclusion, &report.url);
            if cfg.config.deploy.environment(environment).auto_rollback {
                self.roll_back_automatically(environment, why, RollbackTrigger::DeployFailed);
            } else {
                self.fail(environment, why);
            }
            return;
        }
        match health_url {
            Some(url) => self.start_health_watch(environment, &sha, url),
            None => self.environment_healthy(environment),
        }
    }

    /// Ends deploy `i` in `state` (now) and stops its watchdog; returns the deploy as it
    /// ended.
    pub(super) fn finish_deploy(&mut self, i: usize, state: DeployState) -> Deploy {
        let d = &mut self.p.deploys[i];
        d.state = state;
        d.finished_at = Some(self.now);
        let d = d.clone();
        self.cancel_timer(watchdog_key(&d.correlation));
        d
    }

    /// A deploy run stayed silent past `deploy.timeout`: poll it, or fail if GitHub never
    /// gave it an id.
    pub(super) fn on_deploy_watchdog(&mut self, correlation: &str) {
        let Some(d) = self.p.deploy_mut(correlation) else {
            return;
        };
        if d.state.is_finished() {
            return;
        }
        match d.run_id {
            Some(run_id) => {
                let correlation = correlation.to_owned();
                self.emit(Action::PollRun {
                    run_id,
                    correlation,
                });
            }
            None => {
                let environment = d.environment;
                d.state = DeployState::Failed("timed_out".into());
                d.finished_at = Some(self.now);
                self.fail(environment, why::deploy_never_started());
            }
        }
    }

    /// A poll found the deploy run still not finished after the timeout.
    pub(super) fn on_deploy_silent(&mut self, correlation: &str, url: &str) {
        let timeout = self.cfg.config.deploy.timeout;
        let Some(d) = self.p.deploy_mut(correlation) else {
            return;
        };
        if d.state.is_finished() {
            return;
        }
        d.state = DeployState::Failed("timed_out".into());
        d.finished_at = Some(self.now);
        let environment = d.environment;
        self.fail(environment, why::deploy_silent(environment, timeout, url));
    }
}
