//! The `installations` and `installation_repositories` tables: where the App is installed and
//! which repositories each installation covers, kept from `installation` and
//! `installation_repositories` events.
//!
//! Must not: call GitHub; the reconciler refreshes these from the API, not this module.

use super::{Store, StoreError, Tx, with_pool, with_tx};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InstallationRow {
    pub installation_id: i64,
    pub account_login: String,
    pub account_type: Option<String>,
    pub repository_selection: Option<String>,
    pub suspended: bool,
    pub deleted: bool,
    pub updated_at: i64,
}

impl Tx {
    pub async fn upsert_installation(&mut self, row: &InstallationRow) -> Result<(), StoreError> {
        let sql = "INSERT INTO installations \
            (installation_id, account_login, account_type, repository_selection, suspended, deleted, updated_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7) \
            ON CONFLICT (installation_id) DO UPDATE SET account_login = excluded.account_login, \
            account_type = excluded.account_type, \
            repository_selection = COALESCE(excluded.repository_selection, installations.repository_selection), \
            suspended = excluded.suspended, deleted = excluded.deleted, updated_at = excluded.updated_at";
        with_tx!(self, conn => sqlx::query(sql)
            .bind(row.installation_id)
            .bind(&row.account_login)
            .bind(row.account_type.as_deref())
            .bind(row.repository_selection.as_deref())
            .bind(row.suspended)
            .bind(row.deleted)
            .bind(row.updated_at)
            .execute(conn)
            .await?.rows_affected());
        Ok(())
    }

    pub async fn add_installation_repository(
        &mut self,
        installation_id: i64,
        repository_id: i64,
        full_name: &str,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO installation_repositories (installation_id, repository_id, full_name) \
            VALUES ($1, $2, $3) ON CONFLICT (installation_id, repository_id) DO UPDATE SET full_name = excluded.full_name";
        with_tx!(self, conn => sqlx::query(sql)
            .bind(installation_id)
            .bind(repository_id)
            .bind(full_name)
            .execute(conn)
            .await?.rows_affected());
        Ok(())
    }

    pub async fn remove_installation_repository(
        &mut self,
        installation_id: i64,
        repository_id: i64,
    ) -> Result<(), StoreError> {
        let sql = "DELETE FROM installation_repositories WHERE installation_id = $1 AND repository_id = $2";
        with_tx!(self, conn => sqlx::query(sql)
            .bind(installation_id)
            .bind(repository_id)
            .execute(conn)
            .await?.rows_affected());
        Ok(())
    }

    pub async fn clear_installation_repositories(
        &mut self,
        installation_id: i64,
    ) -> Result<(), StoreError> {
        let sql = "DELETE FROM installation_repositories WHERE installation_id = $1";
        with_tx!(self, conn => sqlx::query(sql).bind(installation_id).execute(conn).await?.rows_affected());
        Ok(())
    }
}

impl Store {
    pub async fn installation(
        &self,
        installation_id: i64,
    ) -> Result<Option<InstallationRow>, StoreError> {
        let sql = "SELECT installation_id, account_login, account_type, repository_selection, suspended, deleted, updated_at \
            FROM installations WHERE installation_id = $1";
        Ok(
            with_pool!(self, pool => sqlx::query_as(sql).bind(installation_id).fetch_optional(pool).await?),
        )
    }

    /// Full names of the repositories an installation covers, sorted.
    pub async fn installation_repositories(
        &self,
        installation_id: i64,
    ) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT full_name FROM installation_repositories WHERE installation_id = $1 ORDER BY full_name";
        Ok(
            with_pool!(self, pool => sqlx::query_scalar(sql).bind(installation_id).fetch_all(pool).await?),
        )
    }
}
