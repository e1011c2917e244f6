//! Sign-in with GitHub: sign-ins under way (`login_states`) and signed-in browsers
//! (`sessions`). States and session ids are stored as SHA-256 digests, so a database reader
//! can replay neither; what is secret besides (the PKCE verifier, the user's token) arrives
//! here already encrypted.
//! Must not: encrypt or decrypt (the HTTP layer holds the key), or keep an expired session.

use sha2::{Digest, Sha256};

use super::{Store, StoreError, with_pool};

fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A sign-in under way, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginState {
    /// The PKCE verifier, encrypted.
    pub verifier: String,
    /// Where the browser goes once signed in (a path on shipgate).
    pub return_to: String,
}

/// A signed-in browser, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub login: String,
    /// The user access token, encrypted.
    pub token: String,
    pub expires_at: i64,
}

impl Store {
    /// Records a sign-in under way, and forgets those begun before `expire_before` (ms).
    pub async fn save_login_state(
        &self,
        state: &str,
        login: &LoginState,
        now: i64,
        expire_before: i64,
    ) -> Result<(), StoreError> {
        let expire = "DELETE FROM login_states WHERE created_at < $1";
        with_pool!(self, pool => sqlx::query(expire).bind(expire_before).execute(pool).await?.rows_affected());
        let sql = "INSERT INTO login_states (state_hash, verifier, return_to, created_at) VALUES ($1, $2, $3, $4)";
        with_pool!(self, pool => sqlx::query(sql).bind(digest(state)).bind(&login.verifier).bind(&login.return_to).bind(now).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Takes (deletes) a sign-in under way, if it began at or after `not_before` (ms). A
    /// state works once.
    pub async fn take_login_state(
        &self,
        state: &str,
        not_before: i64,
    ) -> Result<Option<LoginState>, StoreError> {
        let sql = "DELETE FROM login_states WHERE state_hash = $1 RETURNING verifier, return_to, created_at";
        let row: Option<(String, String, i64)> = with_pool!(self, pool => sqlx::query_as(sql).bind(digest(state)).fetch_optional(pool).await?);
        Ok(row
            .filter(|(_, _, at)| *at >= not_before)
            .map(|(verifier, return_to, _)| LoginState {
                verifier,
                return_to,
            }))
    }

    /// Records a session under the digest of `id`, and forgets expired ones.
    pub async fn save_session(
        &self,
        id: &str,
        session: &Session,
        now: i64,
    ) -> Result<(), StoreError> {
        let expire = "DELETE FROM sessions WHERE expires_at <= $1";
        with_pool!(self, pool => sqlx::query(expire).bind(now).execute(pool).await?.rows_affected());
        let sql = "INSERT INTO sessions (id_hash, login, token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
        with_pool!(self, pool => sqlx::query(sql).bind(digest(id)).bind(&session.login).bind(&session.token).bind(now).bind(session.expires_at).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// The session of cookie `id`, unless it expired by `now` (ms).
    pub async fn session(&self, id: &str, now: i64) -> Result<Option<Session>, StoreError> {
        let sql =
            "SELECT login, token, expires_at FROM sessions WHERE id_hash = $1 AND expires_at > $2";
        let row: Option<(String, String, i64)> = with_pool!(self, pool => sqlx::query_as(sql).bind(digest(id)).bind(now).fetch_optional(pool).await?);
        Ok(row.map(|(login, token, expires_at)| Session {
            login,
            token,
            expires_at,
        }))
    }

    /// Ends the session of cookie `id` (signing out).
    pub async fn end_session(&self, id: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM sessions WHERE id_hash = $1";
        with_pool!(self, pool => sqlx::query(sql).bind(digest(id)).execute(pool).await?.rows_affected());
        Ok(())
    }
}
