//! Health watches: after a deploy succeeds, the environment's health URL is probed on durable
//! timers for its window; `failures` failed (or, in production, too slow against the staging
//! baseline) probes in a row roll back or fail the stage, a window that holds makes the
//! environment healthy.
//!
//! Must not: probe anything but the configured URL (the shell refuses private addresses).

use super::Step;
use crate::pipeline::config::HealthConfig;
use crate::pipeline::gates::BASELINE_FLOOR_MS;
use crate::pipeline::model::*;
use crate::pipeline::views::failures;

impl Step<'_> {
    /// The environment's current deploy held: staging moves to readiness, production is done.
    pub(super) fn environment_healthy(&mut self, environment: Environment) {
        match (environment, self.p.phase) {
            (Environment::Staging, Phase::Staging) => self.set_phase(Phase::Readiness),
            (Environment::Production, Phase::Production) => self.finish_production(),
            _ => {}
        }
    }

    /// Starts probing an environment after a successful deploy: one probe now, then one
    /// every `interval` until `window` has passed.
    pub(super) fn start_health_watch(&mut self, environment: Environment, sha: &str, url: String) {
        let health = &self.cfg.config.deploy.environment(environment).health;
        let until = self.now + health.window as i64 * 1000;
        for w in self.p.health.iter_mut() {
            if w.environment == environment && w.outcome.is_none() {
                w.outcome = Some(false); // an earlier watch ends with its deploy
            }
        }
        self.p.health.push(HealthWatch {
            environment,
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
        self.emit(Action::Probe { environment, url });
    }

    /// The watch of the environment's current deploy, if it is still running.
    fn active_watch(&mut self, environment: Environment) -> Option<&mut HealthWatch> {
        let sha = self.p.current_deploy(environment)?.sha.clone();
        self.p
            .health
            .iter_mut()
            .rev()
            .find(|w| w.environment == environment && w.sha == sha && w.outcome.is_none())
    }

    pub(super) fn on_probed(
        &mut self,
        environment: Environment,
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
            self.fail(environment, failures::probe_refused(&url, &why));
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
        let why = if watch.consecutive_failures >= health.failures {
            Some(failures::probes_failed(watch, watch.consecutive_failures))
        } else if watch.consecutive_slow >= health.failures {
            Some(failures::probes_slow(
                watch,
                watch.consecutive_slow,
                limit.unwrap_or_default(),
                health.max_latency_factor.unwrap_or_default(),
                baseline.unwrap_or_default(),
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
                self.roll_back_automatically(environment, why, RollbackTrigger::Health);
            } else {
                self.fail(environment, why);
            }
        } else if now >= watch.until {
            watch.outcome = Some(true);
            if environment == Environment::Staging {
                self.p.staging_baseline_ms = median_latency(&watch_recent(&self.p, environment));
            }
            self.environment_healthy(environment);
        } else {
            let since = watch.started_at;
            let due_at = (now + health.interval as i64 * 1000).min(watch.until.max(now));
            // One key per tick: a fired timer is a one-shot input, so keys never repeat.
            let key = format!("health:{environment}:{due_at}");
            self.set_timer(key, due_at, TimerKind::HealthTick { environment, since });
        }
    }

    /// A health tick: probe again (or, while paused, look again an interval later).
    pub(super) fn on_health_tick(&mut self, environment: Environment, since: i64) {
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
            let due_at = now + interval;
            self.set_timer(
                format!("health:{environment}:{due_at}"),
                due_at,
                TimerKind::HealthTick { environment, since },
            );
        } else {
            self.emit(Action::Probe { environment, url });
        }
    }
}

/// The latency a probe of `environment` must stay under: `max_latency_factor` × the staging
/// baseline (at least `BASELINE_FLOOR_MS`); none without a factor or a baseline.
fn latency_limit(
    health: &HealthConfig,
    environment: Environment,
    baseline: Option<u64>,
) -> Option<u64> {
    let factor = health.max_latency_factor?;
    if environment == Environment::Staging {
        return None;
    }
    let baseline = baseline?.max(BASELINE_FLOOR_MS);
    Some((factor * baseline as f64).round() as u64)
}

/// The latest probes of the environment's newest watch.
fn watch_recent(p: &Pipeline, environment: Environment) -> Vec<ProbeRecord> {
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
