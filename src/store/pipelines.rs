//! The pipeline engine's tables: `pipelines` (state as JSON, with lookup columns),
//! `pipeline_runs` (runs it dispatched) and `pipeline_tasks` (sub-issues it plans), the
//! `effects` outbox, `timers`, and the `repo_configs`, `access_cache` and `surface_digests`
//! caches.
//!
//! Must not: interpret the JSON it stores (the engine serialises and reads it) or call
//! GitHub.

use sqlx::Row;

use super::{Store, StoreError, Tx, with_pool, with_tx};
use crate::settings::DatabaseKind;

/// A pipeline row: its id and state document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineRecord {
    pub id: i64,
    pub state: String,
}

/// Lookup columns written with the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineColumns<'a> {
    pub pr_number: Option<i64>,
    pub phase: &'a str,
    pub updated_at: i64,
}

/// One outbox row to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEffect<'a> {
    pub key: &'a str,
    pub action: &'a str,
    pub body: String,
    pub cause: &'a str,
}

/// A claimed outbox row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EffectRow {
    pub id: i64,
    pub pipeline_id: Option<i64>,
    pub effect_key: String,
    pub action: String,
    pub body: String,
    pub cause: String,
    /// Including this claim: more than 1 means it may have run before. With the holder it
    /// names the claim: finishing checks both are still the row's (fencing).
    pub attempts: i32,
    /// The executor holding the claim (`<host>:<address>`).
    pub claimed_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TimerRow {
    pub pipeline_id: i64,
    pub timer_key: String,
    pub due_at: i64,
    pub kind: String,
}

/// An effect's status in the outbox, for tests and the API.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EffectSummary {
    pub effect_key: String,
    pub action: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// `NO KEY UPDATE`, not `UPDATE`: it excludes every other step of the pipeline the same way,
/// but not the key-share lock a foreign key takes, so a step may set another pipeline's
/// timer (a freed shared slot) while that pipeline's own step waits for the repository.
const LOCK: &str = " FOR NO KEY UPDATE";

impl Tx {
    fn lock_clause(&self) -> &'static str {
        match self.kind() {
            DatabaseKind::Postgres => LOCK,
            DatabaseKind::Sqlite => "", // BEGIN IMMEDIATE already holds the write lock
        }
    }

    async fn pipeline_where(
        &mut self,
        condition: &str,
        a: &str,
        b: i64,
    ) -> Result<Option<PipelineRecord>, StoreError> {
        let sql = format!(
            "SELECT id, state FROM pipelines WHERE {condition} ORDER BY id LIMIT 1{}",
            self.lock_clause()
        );
        let row = with_tx!(self, conn => sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(a).bind(b).fetch_optional(conn).await?
            .map(|r| PipelineRecord { id: r.get(0), state: r.get(1) }));
        Ok(row)
    }

    /// The pipeline of an issue, locked for this transaction.
    pub async fn pipeline_by_issue(
        &mut self,
        repo: &str,
        issue: i64,
    ) -> Result<Option<PipelineRecord>, StoreError> {
        self.pipeline_where("repo = $1 AND issue_number = $2", repo, issue)
            .await
    }

    /// The pipeline a PR is linked to, locked.
    pub async fn pipeline_by_pr(
        &mut self,
        repo: &str,
        pr: i64,
    ) -> Result<Option<PipelineRecord>, StoreError> {
        self.pipeline_where("repo = $1 AND pr_number = $2", repo, pr)
            .await
    }

    /// The pipeline that dispatched a workflow run, locked.
    pub async fn pipeline_by_run(
        &mut self,
        run_id: i64,
    ) -> Result<Option<PipelineRecord>, StoreError> {
        self.pipeline_where(
            "$1 = $1 AND id = (SELECT pipeline_id FROM pipeline_runs WHERE run_id = $2)",
            "",
            run_id,
        )
        .await
    }

    /// The pipeline whose plan has sub-issue `issue` as a task, locked.
    pub async fn pipeline_by_task(
        &mut self,
        repo: &str,
        issue: i64,
    ) -> Result<Option<PipelineRecord>, StoreError> {
        self.pipeline_where(
            "id = (SELECT pipeline_id FROM pipeline_tasks WHERE repo = $1 AND issue_number = $2)",
            repo,
            issue,
        )
        .await
    }

    /// Every pipeline of a repository that can still move, locked.
    pub async fn open_pipelines_of(
        &mut self,
        repo: &str,
    ) -> Result<Vec<PipelineRecord>, StoreError> {
        let sql = format!(
            "SELECT id, state FROM pipelines WHERE repo = $1 \
             AND phase NOT IN ('done', 'rejected', 'rolled_back', 'stopped') ORDER BY id{}",
            self.lock_clause()
        );
        let rows = with_tx!(self, conn => sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(repo).fetch_all(conn).await?
            .into_iter().map(|r| PipelineRecord { id: r.get(0), state: r.get(1) }).collect());
        Ok(rows)
    }

    pub async fn pipeline_by_id(&mut self, id: i64) -> Result<Option<PipelineRecord>, StoreError> {
        self.pipeline_where("$1 = $1 AND id = $2", "", id).await
    }

    /// Creates the row for a new pipeline (its state is saved right after); `None` if the
    /// issue has one already.
    pub async fn create_pipeline(
        &mut self,
        installation_id: i64,
        repo: &str,
        issue: i64,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let sql = "INSERT INTO pipelines (installation_id, repo, issue_number, phase, state, created_at, updated_at) \
                   VALUES ($1, $2, $3, 'intake', '{}', $4, $4) ON CONFLICT (repo, issue_number) DO NOTHING RETURNING id";
        Ok(with_tx!(self, conn => sqlx::query_scalar(sql)
            .bind(installation_id).bind(repo).bind(issue).bind(now)
            .fetch_optional(conn).await?))
    }

    pub async fn save_pipeline(
        &mut self,
        id: i64,
        columns: &PipelineColumns<'_>,
        state: &str,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE pipelines SET pr_number = $1, phase = $2, state = $3, updated_at = $4 WHERE id = $5";
        with_tx!(self, conn => sqlx::query(sql)
            .bind(columns.pr_number).bind(columns.phase).bind(state).bind(columns.updated_at).bind(id)
            .execute(conn).await?.rows_affected());
        Ok(())
    }

    pub async fn index_run(&mut self, run_id: i64, pipeline_id: i64) -> Result<(), StoreError> {
        let sql = "INSERT INTO pipeline_runs (run_id, pipeline_id) VALUES ($1, $2) ON CONFLICT (run_id) DO NOTHING";
        with_tx!(self, conn => sqlx::query(sql).bind(run_id).bind(pipeline_id).execute(conn).await?.rows_affected());
        Ok(())
    }

    /// Records that sub-issue `issue` is a task of the pipeline (the newest plan to name it
    /// holds it: a sub-issue has one parent at a time).
    pub async fn index_task(
        &mut self,
        repo: &str,
        issue: i64,
        pipeline_id: i64,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO pipeline_tasks (repo, issue_number, pipeline_id) VALUES ($1, $2, $3) \
                   ON CONFLICT (repo, issue_number) DO UPDATE SET pipeline_id = excluded.pipeline_id";
        with_tx!(self, conn => sqlx::query(sql).bind(repo).bind(issue).bind(pipeline_id).execute(conn).await?.rows_affected());
        Ok(())
    }

    /// Appends effects to the outbox; a key already there is kept as it is.
    pub async fn add_effects(
        &mut self,
        pipeline_id: Option<i64>,
        effects: &[NewEffect<'_>],
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO effects (pipeline_id, effect_key, action, body, cause, next_attempt_at, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (effect_key) DO NOTHING";
        for e in effects {
            with_tx!(self, conn => sqlx::query(sql)
                .bind(pipeline_id).bind(e.key).bind(e.action).bind(&e.body).bind(e.cause).bind(now)
                .execute(conn).await?.rows_affected());
        }
        Ok(())
    }

    pub async fn set_timer(
        &mut self,
        pipeline_id: i64,
        key: &str,
        due_at: i64,
        kind: &str,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO timers (pipeline_id, timer_key, due_at, kind) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (pipeline_id, timer_key) DO UPDATE SET due_at = excluded.due_at, kind = excluded.kind";
        with_tx!(self, conn => sqlx::query(sql).bind(pipeline_id).bind(key).bind(due_at).bind(kind)
            .execute(conn).await?.rows_affected());
        Ok(())
    }

    /// Removes a timer; returns whether it was there (a fired timer is taken exactly once).
    pub async fn take_timer(&mut self, pipeline_id: i64, key: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM timers WHERE pipeline_id = $1 AND timer_key = $2";
        let n = with_tx!(self, conn => sqlx::query(sql).bind(pipeline_id).bind(key).execute(conn).await?.rows_affected());
        Ok(n > 0)
    }

    /// Marks an effect done or failed, if the caller's claim still holds (no one claimed it
    /// since); returns whether it did.
    pub async fn finish_effect(
        &mut self,
        claim: &EffectRow,
        status: &str,
        error: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE effects SET status = $1, last_error = $2, finished_at = $3, lease_until = 0 \
                   WHERE id = $4 AND claimed_by = $5 AND attempts = $6 AND status = 'pending'";
        let n = with_tx!(self, conn => sqlx::query(sql).bind(status).bind(error).bind(now)
            .bind(claim.id).bind(&claim.claimed_by).bind(claim.attempts)
            .execute(conn).await?.rows_affected());
        Ok(n == 1)
    }

    /// Marks as done the pending effects of a pipeline with the same action and body, up to
    /// `up_to` (one status-comment edit covers every change queued before it was rendered).
    pub async fn finish_coalesced(
        &mut self,
        pipeline_id: i64,
        action: &str,
        body: &str,
        up_to: i64,
        now: i64,
    ) -> Result<u64, StoreError> {
        let sql = "UPDATE effects SET status = 'done', last_error = 'coalesced', finished_at = $1 \
                   WHERE pipeline_id = $2 AND status = 'pending' AND action = $3 AND body = $4 AND id <= $5";
        Ok(
            with_tx!(self, conn => sqlx::query(sql).bind(now).bind(pipeline_id).bind(action).bind(body).bind(up_to)
            .execute(conn).await?.rows_affected()),
        )
    }
}

/// Which effects (by their `action` name) [`Store::claim_effects`] lets wait or pass.
#[derive(Debug, Clone, Copy)]
pub struct EffectOrder {
    /// Effects that wait for older ones of their kind and until no other effect of their
    /// pipeline is due, and that other effects pass.
    pub redraws: &'static [&'static str],
    /// Effects that do not pass the `awaited` redraws queued before them ...
    pub waiting: &'static [&'static str],
    /// ... these.
    pub awaited: &'static [&'static str],
}

/// `'a', 'b'`: names for an SQL `IN` list (static names, never input; `''` when empty).
fn sql_list(names: &[&'static str]) -> String {
    if names.is_empty() {
        return "''".into();
    }
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Claims up to `limit` runnable effects for `holder`: pending, due, not leased, and the
    /// oldest pending one of their pipeline (effects of one pipeline run in order), except
    /// that `order.redraws` wait for older redraws of their kind only, and until no other
    /// effect of their pipeline is due (not for those waiting for a retry), and other effects
    /// do not wait for them (but `order.waiting` do for `order.awaited`). Each
    /// claim counts an attempt and leases the row until `now + lease_ms` (ms since the epoch;
    /// the holder renews it while it works, see [`Store::renew_claims`]).
    pub async fn claim_effects(
        &self,
        holder: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
        order: EffectOrder,
    ) -> Result<Vec<EffectRow>, StoreError> {
        // Most polls find nothing: look first without taking SQLite's write lock (which
        // would make ingest's next commit wait).
        let any = "SELECT COUNT(*) FROM effects WHERE status = 'pending' AND next_attempt_at <= $1 AND lease_until <= $1";
        let runnable: i64 =
            with_pool!(self, pool => sqlx::query_scalar(any).bind(now).fetch_one(pool).await?);
        if runnable == 0 {
            return Ok(vec![]);
        }
        let mut tx = self.begin().await?;
        let (redraws, waiting, awaited) = (
            sql_list(order.redraws),
            sql_list(order.waiting),
            sql_list(order.awaited),
        );
        // A redraw runs when no older redraw of its kind is pending (a retry must find what
        // its earlier attempt made before another draws; other kinds draw other surfaces)
        // and no other effect of its pipeline is due (one waiting for a retry or a reset
        // does not hold it) — of those queued after it, only while no `waiting` effect is
        // pending, which would wait for it in turn. Any other effect runs when no older
        // effect but redraws is pending, and a `waiting` one also when no older `awaited`
        // one is.
        let select = format!(
            "SELECT id FROM effects e WHERE e.status = 'pending' AND e.next_attempt_at <= $1 AND e.lease_until <= $1 \
             AND NOT EXISTS (SELECT 1 FROM effects o WHERE o.pipeline_id = e.pipeline_id AND o.status = 'pending' AND ( \
               (e.action IN ({redraws}) AND ((o.id < e.id AND o.action = e.action) \
                 OR (o.action NOT IN ({redraws}) AND o.next_attempt_at <= $1 AND (o.id < e.id \
                   OR NOT EXISTS (SELECT 1 FROM effects b WHERE b.pipeline_id = e.pipeline_id AND b.status = 'pending' AND b.action IN ({waiting})))))) \
               OR (e.action NOT IN ({redraws}) AND o.id < e.id AND (o.action NOT IN ({redraws}) \
                 OR (e.action IN ({waiting}) AND o.action IN ({awaited})))))) \
             ORDER BY e.id LIMIT $2{}",
            match tx.kind() {
                DatabaseKind::Postgres => " FOR UPDATE SKIP LOCKED",
                DatabaseKind::Sqlite => "",
            }
        );
        let ids: Vec<i64> = with_tx!(&mut tx, conn => sqlx::query_scalar(sqlx::AssertSqlSafe(select.as_str())).bind(now).bind(limit).fetch_all(conn).await?);
        let mut rows = Vec::with_capacity(ids.len());
        let claim = "UPDATE effects SET lease_until = $1, attempts = attempts + 1, claimed_by = $2 WHERE id = $3 \
                     RETURNING id, pipeline_id, effect_key, action, body, cause, attempts, claimed_by";
        for id in ids {
            let row: EffectRow = with_tx!(&mut tx, conn => sqlx::query_as(claim).bind(now + lease_ms).bind(holder).bind(id).fetch_one(conn).await?);
            rows.push(row);
        }
        tx.commit().await?;
        Ok(rows)
    }

    /// Puts a claimed effect back for a later attempt (if the caller's claim still holds).
    pub async fn retry_effect(
        &self,
        claim: &EffectRow,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        self.put_back(claim, next_attempt_at, error, 0).await
    }

    /// Puts a claimed effect back, unsent, until `at` (ms since the epoch), saying why: the
    /// claim does not count as an attempt (if the caller's claim still holds).
    pub async fn postpone_effect(
        &self,
        claim: &EffectRow,
        at: i64,
        why: &str,
    ) -> Result<(), StoreError> {
        self.put_back(claim, at, why, 1).await
    }

    /// Makes a claimed effect pending again from `at`, with `why`, taking `uncount` back
    /// from its attempts.
    async fn put_back(
        &self,
        claim: &EffectRow,
        at: i64,
        why: &str,
        uncount: i32,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE effects SET next_attempt_at = $1, lease_until = 0, last_error = $2, attempts = attempts - $6 \
                   WHERE id = $3 AND claimed_by = $4 AND attempts = $5 AND status = 'pending'";
        with_pool!(self, pool => sqlx::query(sql).bind(at).bind(why)
            .bind(claim.id).bind(&claim.claimed_by).bind(claim.attempts).bind(uncount)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Extends a claim's lease to `lease_until` (ms since the epoch) while its holder works
    /// on it, if the claim is still the holder's; returns whether it did.
    pub async fn renew_claim(
        &self,
        claim: &EffectRow,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE effects SET lease_until = $1 \
                   WHERE id = $2 AND claimed_by = $3 AND attempts = $4 AND status = 'pending' AND lease_until > 0";
        let n = with_pool!(self, pool => sqlx::query(sql).bind(lease_until)
            .bind(claim.id).bind(&claim.claimed_by).bind(claim.attempts)
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }

    /// Gives a claim back (if it is still the holder's): any executor may take it now. One
    /// that never `started` does not count as an attempt.
    pub async fn release_claim(&self, claim: &EffectRow, started: bool) -> Result<(), StoreError> {
        let sql = "UPDATE effects SET lease_until = 0, attempts = attempts - $4 \
                   WHERE id = $1 AND claimed_by = $2 AND attempts = $3 AND status = 'pending'";
        with_pool!(self, pool => sqlx::query(sql)
            .bind(claim.id).bind(&claim.claimed_by).bind(claim.attempts).bind(i32::from(!started))
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Releases every claim `holder` holds (a restarted process releases what it held
    /// before it died: the work continues at once instead of when the lease runs out);
    /// returns how many it released.
    pub async fn release_claims(&self, holder: &str) -> Result<u64, StoreError> {
        let sql = "UPDATE effects SET lease_until = 0 \
                   WHERE claimed_by = $1 AND status = 'pending' AND lease_until > 0";
        Ok(with_pool!(self, pool => sqlx::query(sql).bind(holder)
            .execute(pool).await?.rows_affected()))
    }

    /// A pipeline's state without locking it (the executor renders from it).
    pub async fn pipeline(&self, id: i64) -> Result<Option<PipelineRecord>, StoreError> {
        let sql = "SELECT id, state FROM pipelines WHERE id = $1";
        Ok(
            with_pool!(self, pool => sqlx::query(sql).bind(id).fetch_optional(pool).await?
            .map(|r| PipelineRecord { id: r.get(0), state: r.get(1) })),
        )
    }

    /// Repositories that have at least one pipeline (the worker skips lookups for others).
    pub async fn repos_with_pipelines(
        &self,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let sql = "SELECT DISTINCT repo FROM pipelines";
        let repos: Vec<String> =
            with_pool!(self, pool => sqlx::query_scalar(sql).fetch_all(pool).await?);
        Ok(repos.into_iter().collect())
    }

    /// Whether any pipeline matches: by issue, by PR, or by dispatched run (a read without
    /// locks, so events that concern no pipeline need nothing from GitHub).
    pub async fn pipeline_exists(
        &self,
        repo: &str,
        issues: &[i64],
        pr: Option<i64>,
        run: Option<i64>,
        task: Option<i64>,
    ) -> Result<bool, StoreError> {
        for issue in issues {
            let sql = "SELECT COUNT(*) FROM pipelines WHERE repo = $1 AND issue_number = $2";
            let n: i64 = with_pool!(self, pool => sqlx::query_scalar(sql).bind(repo).bind(issue).fetch_one(pool).await?);
            if n > 0 {
                return Ok(true);
            }
        }
        if let Some(pr) = pr {
            let sql = "SELECT COUNT(*) FROM pipelines WHERE repo = $1 AND pr_number = $2";
            let n: i64 = with_pool!(self, pool => sqlx::query_scalar(sql).bind(repo).bind(pr).fetch_one(pool).await?);
            if n > 0 {
                return Ok(true);
            }
        }
        if let Some(run) = run {
            let sql = "SELECT COUNT(*) FROM pipeline_runs WHERE run_id = $1";
            let n: i64 =
                with_pool!(self, pool => sqlx::query_scalar(sql).bind(run).fetch_one(pool).await?);
            if n > 0 {
                return Ok(true);
            }
        }
        if let Some(task) = task {
            let sql = "SELECT COUNT(*) FROM pipeline_tasks WHERE repo = $1 AND issue_number = $2";
            let n: i64 = with_pool!(self, pool => sqlx::query_scalar(sql).bind(repo).bind(task).fetch_one(pool).await?);
            if n > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Every pipeline planning or developing, in every repository (for re-indexing their
    /// sub-issues at start-up).
    pub async fn planning_pipelines(&self) -> Result<Vec<PipelineRecord>, StoreError> {
        let sql = "SELECT id, state FROM pipelines WHERE phase IN ('planning', 'development') ORDER BY id";
        Ok(
            with_pool!(self, pool => sqlx::query(sql).fetch_all(pool).await?
            .into_iter().map(|r| PipelineRecord { id: r.get(0), state: r.get(1) }).collect()),
        )
    }

    /// Every pipeline of a repository, oldest first (tests, the API).
    pub async fn pipelines_of(&self, repo: &str) -> Result<Vec<PipelineRecord>, StoreError> {
        let sql = "SELECT id, state FROM pipelines WHERE repo = $1 ORDER BY id";
        Ok(
            with_pool!(self, pool => sqlx::query(sql).bind(repo).fetch_all(pool).await?
            .into_iter().map(|r| PipelineRecord { id: r.get(0), state: r.get(1) }).collect()),
        )
    }

    /// The newest effect id of a pipeline.
    pub async fn last_effect_id(&self, pipeline_id: i64) -> Result<i64, StoreError> {
        let sql = "SELECT COALESCE(MAX(id), 0) FROM effects WHERE pipeline_id = $1";
        Ok(
            with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql).bind(pipeline_id).fetch_one(pool).await?),
        )
    }

    pub async fn effects_of(&self, pipeline_id: i64) -> Result<Vec<EffectSummary>, StoreError> {
        let sql = "SELECT effect_key, action, status, attempts, last_error FROM effects WHERE pipeline_id = $1 ORDER BY id";
        Ok(with_pool!(self, pool => sqlx::query_as(sql).bind(pipeline_id).fetch_all(pool).await?))
    }

    /// Whether every stored delivery has been taken and every effect run (nothing pending).
    pub async fn is_idle(&self) -> Result<bool, StoreError> {
        let deliveries_waiting = self
            .delivery_counts()
            .await?
            .iter()
            .any(|(s, n)| s.as_str() == "pending" && *n > 0);
        Ok(!deliveries_waiting && self.pending_effects().await? == 0)
    }

    pub async fn pending_effects(&self) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM effects WHERE status = 'pending'";
        Ok(with_pool!(self, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await?))
    }

    /// Timers due at `now`, oldest first.
    pub async fn due_timers(&self, now: i64, limit: i64) -> Result<Vec<TimerRow>, StoreError> {
        let sql = "SELECT pipeline_id, timer_key, due_at, kind FROM timers WHERE due_at <= $1 ORDER BY due_at LIMIT $2";
        Ok(
            with_pool!(self, pool => sqlx::query_as(sql).bind(now).bind(limit).fetch_all(pool).await?),
        )
    }

    pub async fn repo_config(&self, repo: &str) -> Result<Option<(String, i64)>, StoreError> {
        let sql = "SELECT loaded, fetched_at FROM repo_configs WHERE repo = $1";
        Ok(
            with_pool!(self, pool => sqlx::query(sql).bind(repo).fetch_optional(pool).await?
            .map(|r| (r.get(0), r.get(1)))),
        )
    }

    pub async fn put_repo_config(
        &self,
        repo: &str,
        loaded: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO repo_configs (repo, loaded, fetched_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (repo) DO UPDATE SET loaded = excluded.loaded, fetched_at = excluded.fetched_at";
        with_pool!(self, pool => sqlx::query(sql).bind(repo).bind(loaded).bind(now).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Forgets a repository's cached configuration.
    pub async fn forget_repo_config(&self, repo: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM repo_configs WHERE repo = $1";
        with_pool!(self, pool => sqlx::query(sql).bind(repo).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Forgets the cached configuration of every repository of an owner (its `.github`
    /// repository's defaults changed).
    pub async fn forget_owner_configs(&self, owner: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM repo_configs WHERE repo LIKE $1";
        // GitHub logins are letters, digits and hyphens: nothing LIKE treats specially.
        let pattern = format!("{owner}/%");
        with_pool!(self, pool => sqlx::query(sql).bind(pattern).execute(pool).await?.rows_affected());
        Ok(())
    }

    pub async fn cached_access(
        &self,
        repo: &str,
        login: &str,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let sql = "SELECT access, fetched_at FROM access_cache WHERE repo = $1 AND login = $2";
        Ok(
            with_pool!(self, pool => sqlx::query(sql).bind(repo).bind(login).fetch_optional(pool).await?
            .map(|r| (r.get(0), r.get(1)))),
        )
    }

    pub async fn put_access(
        &self,
        repo: &str,
        login: &str,
        access: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO access_cache (repo, login, access, fetched_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (repo, login) DO UPDATE SET access = excluded.access, fetched_at = excluded.fetched_at";
        with_pool!(self, pool => sqlx::query(sql).bind(repo).bind(login).bind(access).bind(now).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// The digest of what was last drawn on a pipeline's `surface` (`None`: not known).
    pub async fn surface_digest(
        &self,
        pipeline_id: i64,
        surface: &str,
    ) -> Result<Option<String>, StoreError> {
        let sql = "SELECT digest FROM surface_digests WHERE pipeline_id = $1 AND surface = $2";
        Ok(
            with_pool!(self, pool => sqlx::query_scalar(sql).bind(pipeline_id).bind(surface).fetch_optional(pool).await?),
        )
    }

    /// Records what was just drawn on a pipeline's `surface`.
    pub async fn put_surface_digest(
        &self,
        pipeline_id: i64,
        surface: &str,
        digest: &str,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO surface_digests (pipeline_id, surface, digest) VALUES ($1, $2, $3) \
                   ON CONFLICT (pipeline_id, surface) DO UPDATE SET digest = excluded.digest";
        with_pool!(self, pool => sqlx::query(sql).bind(pipeline_id).bind(surface).bind(digest).execute(pool).await?.rows_affected());
        Ok(())
    }
}
