//! Reading pipelines for people (the API and the dashboard): a page of pipelines filtered by
//! repository, phase and age, newest first, and a pipeline's audit entries.
//! Pages are keyed on the id (`before`), so a page never shifts while pipelines are added.
//! Must not: decide who may see what — the caller passes the repositories it may show.

use sqlx::Row;

use super::audit::Entry;
use super::pipelines::PipelineRecord;
use super::{Store, StoreError, with_pool};

/// Which pipelines to list.
#[derive(Debug, Clone, Default)]
pub struct PipelineFilter {
    /// `owner/name`, lowercased: only these repositories (none: nothing is listed).
    pub repositories: Vec<String>,
    /// Only this phase (`intake`, …, `rolled_back`).
    pub phase: Option<String>,
    /// Only pipelines changed at or after this time (ms).
    pub updated_since: Option<i64>,
    /// Only pipelines with a smaller id (the previous page's last id).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

impl Store {
    /// A page of pipelines, newest first.
    pub async fn list_pipelines(
        &self,
        f: &PipelineFilter,
    ) -> Result<Vec<PipelineRecord>, StoreError> {
        if f.repositories.is_empty() || f.limit <= 0 {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=f.repositories.len())
            .map(|i| format!("${i}"))
            .collect();
        let mut sql = format!(
            "SELECT id, state FROM pipelines WHERE LOWER(repo) IN ({})",
            marks.join(", ")
        );
        let mut next = f.repositories.len() + 1;
        let mut clause = |text: &str| {
            sql.push_str(&format!(" AND {text} ${next}"));
            next += 1;
        };
        if f.phase.is_some() {
            clause("phase =");
        }
        if f.updated_since.is_some() {
            clause("updated_at >=");
        }
        if f.before.is_some() {
            clause("id <");
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${next}"));
        let rows = with_pool!(self, pool => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for repo in &f.repositories {
                query = query.bind(repo);
            }
            if let Some(phase) = &f.phase {
                query = query.bind(phase);
            }
            if let Some(since) = f.updated_since {
                query = query.bind(since);
            }
            if let Some(before) = f.before {
                query = query.bind(before);
            }
            query.bind(f.limit).fetch_all(pool).await?
                .into_iter()
                .map(|r| PipelineRecord { id: r.get(0), state: r.get(1) })
                .collect()
        });
        Ok(rows)
    }

    /// Every pipeline of `repo` (`owner/name`, any case), oldest first.
    pub async fn pipelines_of_any_case(
        &self,
        repo: &str,
    ) -> Result<Vec<PipelineRecord>, StoreError> {
        let sql = "SELECT id, state FROM pipelines WHERE LOWER(repo) = $1 ORDER BY id";
        Ok(
            with_pool!(self, pool => sqlx::query(sql).bind(repo.to_lowercase()).fetch_all(pool).await?
            .into_iter().map(|r| PipelineRecord { id: r.get(0), state: r.get(1) }).collect()),
        )
    }

    /// The pipeline of issue `issue` of `repo` (`owner/name`, any case).
    pub async fn pipeline_by_issue_any_case(
        &self,
        repo: &str,
        issue: i64,
    ) -> Result<Option<PipelineRecord>, StoreError> {
        let sql = "SELECT id, state FROM pipelines WHERE LOWER(repo) = $1 AND issue_number = $2";
        Ok(
            with_pool!(self, pool => sqlx::query(sql).bind(repo.to_lowercase()).bind(issue).fetch_optional(pool).await?
            .map(|r| PipelineRecord { id: r.get(0), state: r.get(1) })),
        )
    }

    /// A pipeline's audit entries, oldest first, at most `limit`.
    pub async fn audit_of_pipeline(&self, id: i64, limit: i64) -> Result<Vec<Entry>, StoreError> {
        let sql = "SELECT id, at, repo, pipeline_id, delivery, actor, action, detail, prev_hash, hash \
                   FROM audit_log WHERE pipeline_id = $1 ORDER BY id LIMIT $2";
        Ok(
            with_pool!(self, pool => sqlx::query_as(sql).bind(id).bind(limit).fetch_all(pool).await?),
        )
    }
}
