//! The four DORA metrics of a repository over a window, read from its pipelines' records:
//! deployment frequency, lead time for changes, change failure rate, time to restore.
//!
//! Definitions (DORA's, in shipgate's records):
//! - a *production deployment* is a production deploy shipgate started that finished in the
//!   window (a rollback's redeploy is not one);
//! - *lead time for changes* runs from the trigger label (the pipeline's creation) to healthy
//!   production (`done`), for pipelines done in the window;
//! - a production deployment *failed* if its run failed or production was later rolled back
//!   from its SHA; the *change failure rate* is failed / all;
//! - *time to restore* runs from a production rollback's start (the failure seen) to its
//!   redeploy succeeding, for rollbacks restored in the window.
//!
//! Medians are the lower middle value. Times are ms.
//! Must not: read anything but the records (no clock: the window comes in).

use super::domain::Environment;
use super::model::{DeployState, Phase, Pipeline};

/// A repository's DORA metrics over `[from, to)` (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Dora {
    /// Production deployments that finished in the window (succeeded or failed).
    pub deployments: u32,
    /// Of those, the ones that succeeded.
    pub successful_deployments: u32,
    /// Successful production deployments per day of the window.
    pub deployment_frequency_per_day: f64,
    /// Successful production deployments on each day of the window, oldest first.
    pub deployments_by_day: Vec<u32>,
    /// Pipelines that reached healthy production in the window.
    pub changes: u32,
    pub lead_time_median_ms: Option<i64>,
    /// Production deployments that failed or were rolled back.
    pub failed_deployments: u32,
    /// `failed_deployments / deployments`; none without deployments.
    pub change_failure_rate: Option<f64>,
    /// Production rollbacks restored in the window.
    pub restores: u32,
    pub time_to_restore_median_ms: Option<i64>,
}

const DAY_MS: i64 = 86_400_000;

fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    values.get(values.len().checked_sub(1)? / 2).copied()
}

/// The metrics of `pipelines` (one repository's) over `[from, to)`.
pub fn dora(pipelines: &[Pipeline], from: i64, to: i64) -> Dora {
    let within = |at: i64| from <= at && at < to;
    let (mut deployments, mut successful, mut failed) = (0u32, 0u32, 0u32);
    let day_count = ((to - from).max(0) + DAY_MS - 1) / DAY_MS;
    let mut by_day = vec![0u32; day_count as usize];
    let mut lead_times = Vec::new();
    let mut restore_times = Vec::new();
    for p in pipelines {
        let rolled_back_from = p
            .rollback
            .as_ref()
            .filter(|r| r.environment == Environment::Production)
            .map(|r| r.from_sha.as_str());
        for d in &p.deploys {
            let Some(finished) = d.finished_at else {
                continue;
            };
            if d.environment != Environment::Production || !within(finished) {
                continue;
            }
            if d.rollback_reason.is_some() {
                if d.state == DeployState::Succeeded
                    && let Some(r) = &p.rollback
                {
                    restore_times.push(finished - r.at);
                }
                continue;
            }
            let ok = match d.state {
                DeployState::Succeeded => true,
                DeployState::Failed(_) => false,
                _ => continue,
            };
            deployments += 1;
            successful += u32::from(ok);
            if ok && let Some(day) = by_day.get_mut(((finished - from) / DAY_MS) as usize) {
                *day += 1;
            }
            if !ok || rolled_back_from == Some(d.sha.as_str()) {
                failed += 1;
            }
        }
        if let Some((_, done)) = p.timeline.iter().rev().find(|(ph, _)| *ph == Phase::Done)
            && within(*done)
        {
            lead_times.push(done - p.created_at);
        }
    }
    let days = (to - from).max(1) as f64 / 86_400_000.0;
    Dora {
        deployments,
        successful_deployments: successful,
        deployment_frequency_per_day: f64::from(successful) / days,
        deployments_by_day: by_day,
        changes: lead_times.len() as u32,
        lead_time_median_ms: median(lead_times),
        failed_deployments: failed,
        change_failure_rate: (deployments > 0).then(|| f64::from(failed) / f64::from(deployments)),
        restores: restore_times.len() as u32,
        time_to_restore_median_ms: median(restore_times),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::model::{Deploy, IssueSnapshot, RollbackRecord};

    const DAY: i64 = 86_400_000;

    fn pipeline(id: i64, created: i64) -> Pipeline {
        let issue = IssueSnapshot {
            number: id as u64,
            title: "t".into(),
            body: String::new(),
            author: "pm".into(),
            labels: vec!["feature".into()],
            updated_at: 0,
            node_id: None,
        };
        Pipeline::new(id, 1, "acme/widgets", "main", &issue, created)
    }

    fn deploy(environment: Environment, sha: &str, state: DeployState, at: i64) -> Deploy {
        Deploy {
            environment,
            sha: sha.into(),
            git_ref: "main".into(),
            correlation: format!("{sha}-{at}"),
            deployment_id: None,
            run_id: None,
            url: None,
            state,
            started_at: at - 1000,
            finished_at: Some(at),
            rollback_reason: None,
            requested_by: None,
            evidence: None,
        }
    }

    #[test]
    fn the_four_metrics_of_a_month() {
        let production = Environment::Production;
        // Done after 2 days; deployed once, healthy.
        let mut a = pipeline(1, 10 * DAY);
        a.deploys.push(deploy(
            Environment::Staging,
            "a",
            DeployState::Succeeded,
            11 * DAY,
        ));
        a.deploys
            .push(deploy(production, "a", DeployState::Succeeded, 12 * DAY));
        a.timeline.push((Phase::Done, 12 * DAY));
        // Done after 4 days, then rolled back from its SHA and restored an hour later.
        let mut b = pipeline(2, 14 * DAY);
        b.deploys
            .push(deploy(production, "b", DeployState::Succeeded, 18 * DAY));
        b.timeline.push((Phase::Done, 18 * DAY));
        b.rollback = Some(RollbackRecord {
            environment: production,
            from_sha: "b".into(),
            from_deployment: None,
            to_sha: Some("a".into()),
            reason: "health".into(),
            by: "shipgate".into(),
            at: 19 * DAY,
            answer_on: None,
            done: true,
            trigger: None,
        });
        let mut redeploy = deploy(
            production,
            "a",
            DeployState::Succeeded,
            19 * DAY + 3_600_000,
        );
        redeploy.rollback_reason = Some("health".into());
        b.deploys.push(redeploy);
        // A failed production deploy, and one still running; one done before the window.
        let mut c = pipeline(3, 20 * DAY);
        c.deploys.push(deploy(
            production,
            "c",
            DeployState::Failed("failure".into()),
            21 * DAY,
        ));
        let mut running = deploy(production, "c2", DeployState::Running, 22 * DAY);
        running.finished_at = None;
        c.deploys.push(running);
        let mut old = pipeline(4, 0);
        old.deploys
            .push(deploy(production, "o", DeployState::Succeeded, DAY));
        old.timeline.push((Phase::Done, DAY));

        let m = dora(&[a, b, c, old], 5 * DAY, 35 * DAY);
        assert_eq!(
            m,
            Dora {
                deployments: 3,
                successful_deployments: 2,
                deployment_frequency_per_day: 2.0 / 30.0,
                deployments_by_day: (0..30).map(|d| u32::from(d == 7 || d == 13)).collect(),
                changes: 2,
                lead_time_median_ms: Some(2 * DAY),
                failed_deployments: 2,
                change_failure_rate: Some(2.0 / 3.0),
                restores: 1,
                time_to_restore_median_ms: Some(3_600_000),
            }
        );
    }

    #[test]
    fn an_empty_window_has_no_rates() {
        let m = dora(&[], 0, 7 * DAY);
        assert_eq!(m.deployments, 0);
        assert_eq!(m.deployment_frequency_per_day, 0.0);
        assert_eq!(m.deployments_by_day, vec![0; 7]);
        assert_eq!(m.change_failure_rate, None);
        assert_eq!(m.lead_time_median_ms, None);
        assert_eq!(m.time_to_restore_median_ms, None);
    }
}
