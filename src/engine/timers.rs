//! Durable timers: rows with a due time (run watchdogs, gate timeouts, health ticks), each
//! fired once as an `Input::Timer` to its pipeline, in the transaction that deletes it. Fired
//! by polling the table, so they survive restarts; the clock is injected so tests move time.
//!
//! Must not: keep timers in memory.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::advance::{Outlets, advance, decode};
use super::resolver::Resolver;
use crate::clock::Clock;
use crate::pipeline::Input;
use crate::pipeline::config::LoadedConfig;
use crate::store::{Store, StoreError, millis};

const BATCH: i64 = 64;
/// How often the table is looked at (an indexed MIN query).
const POLL: Duration = Duration::from_millis(200);

pub struct Timers {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub resolver: Arc<Resolver>,
    pub effects_wake: Arc<Notify>,
    /// Where pipeline changes are reported besides the database (notifications, metrics).
    pub outlets: Outlets,
}

impl Timers {
    pub async fn run(self, stop: CancellationToken) {
        loop {
            if let Err(e) = self.fire_timers().await {
                tracing::warn!(error = %e, "timer error");
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Fires due timers, each in its own transaction (a timer row is taken exactly once).
    pub async fn fire_timers(&self) -> Result<usize, StoreError> {
        let now = millis(self.clock.now());
        let due = self.store.due_timers(now, BATCH).await?;
        let mut fired = 0;
        for timer in due {
            let Some(record) = self.store.pipeline(timer.pipeline_id).await? else {
                continue;
            };
            let pipeline = decode(&record)?;
            let repo =
                crate::github::client::RepoRef::new(pipeline.installation_id, &pipeline.repo);
            let cfg = match repo {
                Some(repo) => match self.resolver.config(&repo, &pipeline.default_branch).await {
                    Ok(cfg) => cfg,
                    Err(e) => return Err(StoreError::Corrupt(e.to_string())),
                },
                None => LoadedConfig::default(),
            };
            let kind = serde_json::from_str(&timer.kind)
                .map_err(|e| StoreError::Corrupt(format!("timer {}: {e}", timer.timer_key)))?;
            // The pipeline first, then its timer: the order the worker takes them in (it
            // cancels timers while holding the pipeline), so the two never deadlock.
            let mut tx = self.store.begin().await?;
            let record = tx.pipeline_by_id(timer.pipeline_id).await?;
            if !tx.take_timer(timer.pipeline_id, &timer.timer_key).await? {
                tx.rollback().await?;
                continue; // cancelled or fired by another replica meanwhile
            }
            if let Some(record) = record {
                let current = decode(&record)?;
                let input = Input::Timer {
                    key: timer.timer_key.clone(),
                    kind,
                };
                advance(&mut tx, &current, &input, &cfg, now, None, &self.outlets).await?;
            }
            tx.commit().await?;
            fired += 1;
        }
        if fired > 0 {
            self.effects_wake.notify_one();
        }
        Ok(fired)
    }
}
