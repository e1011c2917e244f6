//! The `develop_load` table: each pipeline's share of its repository's development load
//! (task runs in flight, tasks ready, place in line), as its last step left it, so a step
//! can share `develop.max_parallel` with the repository's other pipelines.
//!
//! Must not: decide anything (the core's `task_load` says what a pipeline holds; `advance`
//! decides who is woken).

use sqlx::Row;

use super::{StoreError, Tx, with_tx};
use crate::settings::DatabaseKind;

/// One pipeline's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadRow {
    pub pipeline_id: i64,
    pub in_flight: i64,
    pub ready: i64,
    /// 0 for `/priority critical` … 3 for `low`.
    pub rank: i64,
}

impl Tx {
    /// Tries to hold the repository's shared slots until this transaction ends, so no other
    /// step dispatches into them meanwhile; `false` if another transaction holds them. Never
    /// waits: a step holds its pipeline's row already, and a transaction that steps several
    /// pipelines may hold this and want that row, so waiting could deadlock. (SQLite's
    /// `BEGIN IMMEDIATE` already holds the whole database; PostgreSQL takes a
    /// transaction-scoped advisory lock named after the repository, re-entrant within it.)
    pub async fn try_lock_repo_load(&mut self, repo: &str) -> Result<bool, StoreError> {
        if self.kind() == DatabaseKind::Sqlite {
            return Ok(true);
        }
        let sql = "SELECT pg_try_advisory_xact_lock(hashtext('develop_load:' || $1))";
        Ok(with_tx!(self, conn => sqlx::query_scalar(sql).bind(repo).fetch_one(conn).await?))
    }

    /// Every row of the repository's pipelines.
    pub async fn repo_load(&mut self, repo: &str) -> Result<Vec<LoadRow>, StoreError> {
        let sql =
            "SELECT pipeline_id, in_flight, ready, priority_rank FROM develop_load WHERE repo = $1";
        Ok(
            with_tx!(self, conn => sqlx::query(sql).bind(repo).fetch_all(conn).await?
            .into_iter()
            .map(|r| LoadRow {
                pipeline_id: r.get(0),
                in_flight: r.get::<i32, _>(1) as i64,
                ready: r.get::<i32, _>(2) as i64,
                rank: r.get::<i32, _>(3) as i64,
            })
            .collect()),
        )
    }

    pub async fn set_load(&mut self, repo: &str, row: LoadRow) -> Result<(), StoreError> {
        let sql = "INSERT INTO develop_load (pipeline_id, repo, in_flight, ready, priority_rank) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (pipeline_id) DO UPDATE SET \
                   in_flight = excluded.in_flight, ready = excluded.ready, \
                   priority_rank = excluded.priority_rank";
        with_tx!(self, conn => sqlx::query(sql)
            .bind(row.pipeline_id).bind(repo).bind(row.in_flight as i32).bind(row.ready as i32)
            .bind(row.rank as i32)
            .execute(conn).await?.rows_affected());
        Ok(())
    }
}
