//! Deploys and their health, for staging and production alike: a GitHub Deployment, the
//! deploy workflow dispatched for it, its run followed to the end (and polled if it goes
//! quiet), deployment statuses, then health probes on durable timers for the environment's
//! window. What happens when an environment is healthy or not is the phase's business
//! (`staging_healthy`, `production_healthy`, `fail`).
//!
//! Must not: decide gates (that is `step::drive` and `render`), or read anything but the
//! pipeline, the configuration and `now`.

use super::config::HealthConfig;
use super::model::*;
use super::step::{Step, short, watchdog_key};

impl Step<'_> {
    /// Starts a deploy of `sha` to `environment`: the Deployment first, the workflow once
    /// GitHub has it (see `dispatch_deploys`).
    pub(super) fn deploy_to(&mut self, environment: &str, sha: &str, git_ref: &str) {
        self.deploy_with(environment, sha, git_ref, None);
    }

    /// Like `deploy_to`; with a reason, the deploy is a rollback.
    pub(super) fn deploy_with(
        &mut self,
        environment: &str,
        sha: &str,
        git_ref: &str,
        rollback_reason: Option<String>,
    ) {
        let correlation = format!("{}-d{}", self.p.name(), self.p.seq);
        self.p.deploys.push(Deploy {
            environment: environment.to_owned(),
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
        });
        self.emit(Action::CreateDeployment {
            environment: environment.to_owned(),
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
            .is_some_and(|r| !r.done && r.environment == "staging");
        if self.p.paused || rolling_back {
            return; // a rollback holds the environment until it is over
        }
        if self
            .p
            .current_deploy("staging")
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
                self.reply(pr.number, super::render::fork_refusal(&pr));
            }
            return;
        }
        self.deploy_to("staging", sha, &pr.head_branch);
    }

    /// Whether the current staging deploy is of `sha`, succeeded, and held its health
    /// window (or has no health check to hold), or an admin `/skip`ped staging at `sha`.
    pub(super) fn staging_healthy(&self, sha: &str) -> bool {
        self.staging_healthy_unskipped(sha)
            || super::skip::skip_of(&self.p, "staging", Some(sha)).is_some()
    }

    pub(super) fn staging_healthy_unskipped(&self, sha: &str) -> bool {
        let Some(d) = self.p.current_deploy("staging") else {
            return false;
        };
        d.sha == sha
            && d.state == DeployState::Succeeded
            && (self.cfg.config.deploy.staging.health.url.is_none()
                || self.p.health.iter().rev().any(|w| {
                    w.environment == "staging"
                        && w.sha == sha
                        && w.started_at >= d.started_at
                        && w.outcome == Some(true)
                }))
    }

    /// Marks the environment's current deploy superseded (a new one replaces it) and ends
    /// its health watch.
    pub(super) fn supersede_deploys(&mut self, environment: &str) {
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
                environment: d.environment.clone(),
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
            self.emit(Action::SetTimer {
                key: watchdog_key(&correlation),
                due_at: now + timeout,
                kind: TimerKind::RunWatchdog { correlation },
            });
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
        self.emit(Action::Notify {
            event: "deploy".into(),
            text: format!(
                "{}: the {environment} {} of `{}` {} ({})",
                self.p.name(),
                self.p.deploys[i].kind(),
                short(&sha),
                self.p.deploys[i].state.describe(),
                report.url
            ),
        });
        let health_url = cfg
            .config
            .deploy
            .environment(&environment)
            .health
            .url
            .clone();
        if let Some(deployment_id) = deployment_id {
            self.emit(Action::DeploymentStatus {
                deployment_id,
                state: if succeeded { "success" } else { "failure" }.into(),
                log_url: Some(report.url.clone()),
                environment_url: if succeeded { health_url.clone() } else { None },
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
            .current_deploy(&environment)
            .map(|c| c.correlation.clone());
        if current.as_deref() != Some(correlation.as_str()) {
            return; // a superseded deploy's result is recorded, nothing more
        }
        if self.p.deploys[i].rollback_reason.is_some() {
            self.on_rollback_deployed(&sha, succeeded, &report.url);
            return;
        }
        if !succeeded {
            let why = format!(
                "the {environment} deploy of `{}` concluded `{conclusion}` ([run]({}))",
                short(&sha),
                report.url
            );
            if cfg.config.deploy.environment(&environment).auto_rollback {
                self.roll_back_automatically(&environment, why);
            } else {
                self.fail(&environment, why);
            }
            return;
        }
        match health_url {
            Some(url) => self.start_health_watch(&environment, &sha, url),
            None => self.environment_healthy(&environment),
        }
    }

    /// Ends deploy `i` in `state` (now) and stops its watchdog; returns the deploy as it
    /// ended.
    pub(super) fn finish_deploy(&mut self, i: usize, state: DeployState) -> Deploy {
        let d = &mut self.p.deploys[i];
        d.state = state;
        d.finished_at = Some(self.now);
        let d = d.clone();
        self.emit(Action::CancelTimer {
            key: watchdog_key(&d.correlation),
        });
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
                let environment = d.environment.clone();
                d.state = DeployState::Failed("timed_out".into());
                d.finished_at = Some(self.now);
                self.fail(
                    &environment,
                    "the deploy run never started on GitHub".to_owned(),
                );
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
        let environment = d.environment.clone();
        self.fail(
            &environment,
            format!(
                "the {environment} deploy run has not finished after {} ([run]({url}))",
                super::config::format_duration(timeout)
            ),
        );
    }

    /// The environment's current deploy held: staging moves to readiness, production is done.
    fn environment_healthy(&mut self, environment: &str) {
        match (environment, self.p.phase) {
            ("staging", Phase::Staging) => self.set_phase(Phase::Readiness),
            ("production", Phase::Production) => self.finish_production(),
            _ => {}
        }
    }

    /// Starts probing an environment after a successful deploy: one probe now, then one
    /// every `interval` until `window` has passed.
    fn start_health_watch(&mut self, environment: &str, sha: &str, url: String) {
        let health = &self.cfg.config.deploy.environment(environment).health;
        let until = self.now + health.window as i64 * 1000;
        for w in self.p.health.iter_mut() {
            if w.environment == environment && w.outcome.is_none() {
                w.outcome = Some(false); // an earlier watch ends with its deploy
            }
        }
        self.p.health.push(HealthWatch {
            environment: environment.to_owned(),
            sha: sha.to_owned(),
            url: url.clone(),
            started_at: self.now,
            until,
            recent: vec![],
            total: 0,
            failed: 0,
            consecutive_failures: 0,
            consecutive_slow: 0,
            outcome: None,
        });
        self.emit(Action::Probe {
            environment: environment.to_owned(),
            url,
        });
    }

    /// The watch of the environment's current deploy, if it is still running.
    fn active_watch(&mut self, environment: &str) -> Option<&mut HealthWatch> {
        let sha = self.p.current_deploy(environment)?.sha.clone();
        self.p
            .health
            .iter_mut()
            .rev()
            .find(|w| w.environment == environment && w.sha == sha && w.outcome.is_none())
    }

    pub(super) fn on_probed(
        &mut self,
        environment: &str,
        record: ProbeRecord,
        refused: Option<String>,
    ) {
        let health = self
            .cfg
            .config
            .deploy
            .environment(environment)
            .health
            .clone();
        let now = self.now;
        let baseline = self.p.staging_baseline_ms;
        let Some(watch) = self.active_watch(environment) else {
            return;
        };
        if let Some(why) = refused {
            watch.outcome = Some(false);
            let url = watch.url.clone();
            self.fail(
                environment,
                format!("the health URL {url} is refused: {why}"),
            );
            return;
        }
        watch.total += 1;
        let limit = latency_limit(&health, environment, baseline);
        if record.ok {
            watch.consecutive_failures = 0;
        } else {
            watch.failed += 1;
            watch.consecutive_failures += 1;
        }
        let slow = record.ok && limit.is_some_and(|l| record.latency_ms > l);
        watch.consecutive_slow = if slow { watch.consecutive_slow + 1 } else { 0 };
        watch.recent.push(record);
        if watch.recent.len() > 20 {
            watch.recent.remove(0);
        }
        let evidence = |n: u32, recent: &[ProbeRecord]| {
            recent[recent.len().saturating_sub(n as usize)..]
                .iter()
                .map(probe_evidence)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let why = if watch.consecutive_failures >= health.failures {
            let n = watch.consecutive_failures;
            Some(format!(
                "{n} health probes of {} failed in a row: {}",
                watch.url,
                evidence(n, &watch.recent)
            ))
        } else if watch.consecutive_slow >= health.failures {
            let n = watch.consecutive_slow;
            let baseline = baseline.unwrap_or_default();
            let floored = if baseline < BASELINE_FLOOR_MS {
                format!(", counted as {BASELINE_FLOOR_MS} ms")
            } else {
                String::new()
            };
            Some(format!(
                "{n} health probes of {} in a row were slower than {} ms ({}× the staging baseline of {baseline} ms{floored}): {}",
                watch.url,
                limit.unwrap_or_default(),
                health.max_latency_factor.unwrap_or_default(),
                evidence(n, &watch.recent)
            ))
        } else {
            None
        };
        if let Some(why) = why {
            watch.outcome = Some(false);
            if self
                .cfg
                .config
                .deploy
                .environment(environment)
                .auto_rollback
            {
                self.roll_back_automatically(environment, why);
            } else {
                self.fail(environment, why);
            }
        } else if now >= watch.until {
            watch.outcome = Some(true);
            if environment == "staging" {
                self.p.staging_baseline_ms = median_latency(&watch_recent(&self.p, environment));
            }
            self.environment_healthy(environment);
        } else {
            let since = watch.started_at;
            let due_at = (now + health.interval as i64 * 1000).min(watch.until.max(now));
            // One key per tick: a fired timer is a one-shot input, so keys never repeat.
            let key = format!("health:{environment}:{due_at}");
            self.emit(Action::SetTimer {
                key,
                due_at,
                kind: TimerKind::HealthTick {
                    environment: environment.to_owned(),
                    since,
                },
            });
        }
    }

    /// A health tick: probe again (or, while paused, look again an interval later).
    pub(super) fn on_health_tick(&mut self, environment: &str, since: i64) {
        let paused = self.p.paused;
        let interval = self
            .cfg
            .config
            .deploy
            .environment(environment)
            .health
            .interval as i64
            * 1000;
        let now = self.now;
        let Some(watch) = self.active_watch(environment) else {
            return;
        };
        if since != 0 && watch.started_at != since {
            return; // a tick of a watch that has ended
        }
        let url = watch.url.clone();
        if paused {
            // The window holds too: it is extended by the time spent paused.
            watch.until += interval;
            self.emit(Action::SetTimer {
                key: format!("health:{environment}:{}", now + interval),
                due_at: now + interval,
                kind: TimerKind::HealthTick {
                    environment: environment.to_owned(),
                    since,
                },
            });
        } else {
            self.emit(Action::Probe {
                environment: environment.to_owned(),
                url,
            });
        }
    }
}

/// Latencies under this count as this much: a fast local endpoint's jitter is not a trend.
pub const BASELINE_FLOOR_MS: u64 = 20;

/// The latency a probe of `environment` must stay under: `max_latency_factor` × the staging
/// baseline (at least `BASELINE_FLOOR_MS`); none without a factor or a baseline.
fn latency_limit(health: &HealthConfig, environment: &str, baseline: Option<u64>) -> Option<u64> {
    let factor = health.max_latency_factor?;
    if environment == "staging" {
        return None;
    }
    let baseline = baseline?.max(BASELINE_FLOOR_MS);
    Some((factor * baseline as f64).round() as u64)
}

/// One probe as evidence: `502 in 3 ms`, or what went wrong.
pub(super) fn probe_evidence(r: &ProbeRecord) -> String {
    match (&r.error, r.status) {
        (Some(e), _) if !r.ok => format!("{e} after {} ms", r.latency_ms),
        (_, Some(status)) => format!("{status} in {} ms", r.latency_ms),
        _ => format!("{} ms", r.latency_ms),
    }
}

/// The latest probes of the environment's newest watch.
fn watch_recent(p: &Pipeline, environment: &str) -> Vec<ProbeRecord> {
    p.health
        .iter()
        .rev()
        .find(|w| w.environment == environment)
        .map(|w| w.recent.clone())
        .unwrap_or_default()
}

/// The median latency of the successful probes.
fn median_latency(recent: &[ProbeRecord]) -> Option<u64> {
    let mut ok: Vec<u64> = recent
        .iter()
        .filter(|r| r.ok)
        .map(|r| r.latency_ms)
        .collect();
    if ok.is_empty() {
        return None;
    }
    ok.sort_unstable();
    Some(ok[ok.len() / 2])
}
