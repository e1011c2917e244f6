//! What recovery keeps: leases naming which replica runs a periodic job (and the job's
//! progress), and the failed webhook deliveries the reconciler asked GitHub to send again.
//!
//! Owns: the `job_leases` and `redeliveries` tables, and whether a delivery GUID is stored.
//! Must not: call GitHub (the reconciler does, outside any transaction).

use super::{Store, StoreError, with_pool};

/// A redelivery the reconciler asked for, for the API and tests.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RedeliveryRow {
    pub guid: String,
    pub hook_delivery_id: i64,
    pub event: String,
    /// When GitHub's failed attempt was made (ms since the epoch).
    pub delivered_at: i64,
    /// When shipgate asked (ms since the epoch).
    pub asked_at: i64,
    /// `asking`, `requested`, or the error GitHub answered with.
    pub outcome: String,
    /// How many times it was asked for.
    pub tries: i32,
}

impl Store {
    /// Takes (or renews) the lease on `job` for `holder` until `lease_until` (ms since the
    /// epoch), if no one else holds an unexpired one at `now`; returns the job's progress,
    /// or `None` if another replica holds it.
    pub async fn take_job_lease(
        &self,
        job: &str,
        holder: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<i64>, StoreError> {
        let sql = "INSERT INTO job_leases (job, holder, lease_until, progress) VALUES ($1, $2, $3, 0) \
                   ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until \
                   WHERE job_leases.lease_until <= $4 OR job_leases.holder = excluded.holder \
                   RETURNING progress";
        Ok(with_pool!(self, pool => sqlx::query_scalar(sql)
            .bind(job).bind(holder).bind(lease_until).bind(now)
            .fetch_optional(pool).await?))
    }

    /// Records `holder`'s progress on `job` and releases its lease (if it still holds it).
    pub async fn finish_job(
        &self,
        job: &str,
        holder: &str,
        progress: i64,
    ) -> Result<(), StoreError> {
        let sql =
            "UPDATE job_leases SET progress = $1, lease_until = 0 WHERE job = $2 AND holder = $3";
        with_pool!(self, pool => sqlx::query(sql).bind(progress).bind(job).bind(holder)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// A job's lease: (holder, lease until, progress); `("", 0, 0)` if it never ran.
    pub async fn job_lease(&self, job: &str) -> Result<(String, i64, i64), StoreError> {
        let sql = "SELECT holder, lease_until, progress FROM job_leases WHERE job = $1";
        let row: Option<(String, i64, i64)> =
            with_pool!(self, pool => sqlx::query_as(sql).bind(job).fetch_optional(pool).await?);
        Ok(row.unwrap_or_default())
    }

    /// Whether a delivery with this GUID is stored: processed (its GUID taken) or queued
    /// (one statement, so a delivery the worker takes meanwhile is seen in one place or the
    /// other).
    pub async fn delivery_stored(&self, guid: &str) -> Result<bool, StoreError> {
        let sql = "SELECT COUNT(*) FROM (SELECT 1 AS x FROM delivery_guids WHERE delivery_id = $1 \
                   UNION ALL SELECT 1 AS x FROM delivery_queue q JOIN deliveries d ON d.id = q.id \
                   WHERE d.delivery_id = $1) found";
        let n: i64 =
            with_pool!(self, pool => sqlx::query_scalar(sql).bind(guid).fetch_one(pool).await?);
        Ok(n > 0)
    }

    /// Records that a redelivery of `guid` is being asked for; returns false if it was asked
    /// for before (by this or another replica) and GitHub accepted, or the last request is
    /// more recent than `retry_before`, or it was tried `max_tries` times.
    #[allow(clippy::too_many_arguments)]
    pub async fn note_redelivery(
        &self,
        guid: &str,
        hook_delivery_id: i64,
        event: &str,
        delivered_at: i64,
        now: i64,
        retry_before: i64,
        max_tries: i32,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO redeliveries (guid, hook_delivery_id, event, delivered_at, asked_at, outcome) \
                   VALUES ($1, $2, $3, $4, $5, 'asking') ON CONFLICT (guid) DO UPDATE \
                   SET asked_at = excluded.asked_at, outcome = 'asking', tries = redeliveries.tries + 1 \
                   WHERE redeliveries.outcome <> 'requested' AND redeliveries.asked_at < $6 \
                   AND redeliveries.tries < $7";
        let n = with_pool!(self, pool => sqlx::query(sql).bind(guid).bind(hook_delivery_id)
            .bind(event).bind(delivered_at).bind(now).bind(retry_before).bind(max_tries)
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }

    /// Records what GitHub answered to a redelivery request.
    pub async fn redelivery_outcome(&self, guid: &str, outcome: &str) -> Result<(), StoreError> {
        let sql = "UPDATE redeliveries SET outcome = $1 WHERE guid = $2";
        with_pool!(self, pool => sqlx::query(sql).bind(outcome).bind(guid)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Redeliveries GitHub has not accepted (yet) that may be asked for again: asked before
    /// `retry_before`, fewer than `max_tries` times, for a delivery made after `window_start`
    /// (ms since the epoch), oldest first.
    pub async fn redeliveries_to_retry(
        &self,
        retry_before: i64,
        max_tries: i32,
        window_start: i64,
    ) -> Result<Vec<RedeliveryRow>, StoreError> {
        let sql = "SELECT guid, hook_delivery_id, event, delivered_at, asked_at, outcome, tries \
                   FROM redeliveries WHERE outcome <> 'requested' AND asked_at < $1 AND tries < $2 \
                   AND delivered_at >= $3 ORDER BY hook_delivery_id";
        Ok(
            with_pool!(self, pool => sqlx::query_as(sql).bind(retry_before).bind(max_tries)
            .bind(window_start).fetch_all(pool).await?),
        )
    }

    /// Every redelivery asked for, oldest first.
    pub async fn redeliveries(&self) -> Result<Vec<RedeliveryRow>, StoreError> {
        let sql = "SELECT guid, hook_delivery_id, event, delivered_at, asked_at, outcome, tries \
                   FROM redeliveries ORDER BY asked_at, hook_delivery_id";
        Ok(with_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await?))
    }
}

impl Store {
    /// Up to `limit` pipelines in `phases` with no change and no resync since `quiet_since`
    /// (ms since the epoch), least recently resynced first.
    pub async fn quiet_pipelines(
        &self,
        phases: &[&str],
        quiet_since: i64,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let list: Vec<String> = phases.iter().map(|p| format!("'{p}'")).collect();
        let sql = format!(
            "SELECT id FROM pipelines WHERE phase IN ({}) AND updated_at < $1 AND resynced_at < $1 \
             ORDER BY resynced_at, id LIMIT $2",
            list.join(", ")
        );
        Ok(
            with_pool!(self, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(quiet_since).bind(limit).fetch_all(pool).await?),
        )
    }

    /// Records that a pipeline was resynced at `now` (ms since the epoch).
    pub async fn mark_resynced(&self, id: i64, now: i64) -> Result<(), StoreError> {
        let sql = "UPDATE pipelines SET resynced_at = $1 WHERE id = $2";
        with_pool!(self, pool => sqlx::query(sql).bind(now).bind(id)
            .execute(pool).await?.rows_affected());
        Ok(())
    }
}
