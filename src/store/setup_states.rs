//! One-time `state` values of the App-manifest flow, stored as SHA-256 digests so a database
//! reader cannot replay one.
//!
//! Owns: issuing, expiring and consuming states. Must not: hold App credentials (they go to
//! the `.env` file, never the database).

use sha2::{Digest, Sha256};

use super::{Store, StoreError, with_pool};

fn digest(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

impl Store {
    /// Records a new state, and forgets states issued before `expire_before_ms`.
    pub async fn save_setup_state(
        &self,
        state: &str,
        now_ms: i64,
        expire_before_ms: i64,
    ) -> Result<(), StoreError> {
        let expire = "DELETE FROM setup_states WHERE created_at < $1";
        with_pool!(self, pool => sqlx::query(expire).bind(expire_before_ms).execute(pool).await?.rows_affected());
        let sql = "INSERT INTO setup_states (state, created_at) VALUES ($1, $2)";
        with_pool!(self, pool => sqlx::query(sql).bind(digest(state)).bind(now_ms).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Deletes the state and says whether it existed and was issued after `not_before_ms`.
    /// A state works once.
    pub async fn take_setup_state(
        &self,
        state: &str,
        not_before_ms: i64,
    ) -> Result<bool, StoreError> {
        let sql = "DELETE FROM setup_states WHERE state = $1 RETURNING created_at";
        let created: Option<i64> = with_pool!(self, pool => sqlx::query_scalar(sql).bind(digest(state)).fetch_optional(pool).await?);
        Ok(created.is_some_and(|t| t >= not_before_ms))
    }
}
