//! Counts read for `/metrics` at scrape time: pipelines per phase, and each queue's depth and
//! oldest item. Each is one indexed or grouped query, so a scrape costs the same whatever
//! the traffic.
//! Must not: know what the counts mean (the metric names live in `crate::metrics`).

use std::collections::HashMap;

use super::{Store, StoreError, with_pool};

/// One queue's depth and the age of its oldest item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueGauge {
    /// `deliveries` (stored, not yet processed), `effects` (pending, retries included) or
    /// `timers` (due, not yet fired).
    pub name: &'static str,
    pub depth: i64,
    /// Milliseconds since the oldest item arrived (for timers: fell due); 0 when empty.
    pub oldest_age_ms: i64,
}

/// What a scrape reads.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Pipelines per phase name; phases with none are absent.
    pub pipelines: HashMap<String, i64>,
    pub queues: Vec<QueueGauge>,
}

impl Store {
    /// Reads the gauges as of `now` (ms).
    pub async fn gauges(&self, now: i64) -> Result<Gauges, StoreError> {
        let by_phase = "SELECT phase, COUNT(*) FROM pipelines GROUP BY phase";
        let rows: Vec<(String, i64)> =
            with_pool!(self, pool => sqlx::query_as(by_phase).fetch_all(pool).await?);
        let queues = [
            (
                "deliveries",
                "SELECT COUNT(*), MIN(d.received_at) FROM delivery_queue q \
                 JOIN deliveries d ON d.id = q.id",
            ),
            (
                "effects",
                "SELECT COUNT(*), MIN(created_at) FROM effects WHERE status = 'pending'",
            ),
            (
                "timers",
                "SELECT COUNT(*), MIN(due_at) FROM timers WHERE due_at <= $1",
            ),
        ];
        let mut gauges = Vec::with_capacity(queues.len());
        for (name, sql) in queues {
            let (depth, oldest): (i64, Option<i64>) = with_pool!(self, pool => {
                let query = sqlx::query_as(sql);
                let query = if sql.contains("$1") { query.bind(now) } else { query };
                query.fetch_one(pool).await?
            });
            gauges.push(QueueGauge {
                name,
                depth,
                oldest_age_ms: oldest.map_or(0, |at| (now - at).max(0)),
            });
        }
        Ok(Gauges {
            pipelines: rows.into_iter().collect(),
            queues: gauges,
        })
    }
}
