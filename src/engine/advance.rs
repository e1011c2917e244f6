//! Applying one input to one pipeline inside the caller's transaction: run `step`, then save
//! the new state, its effects (the outbox) and its timers together. The worker (webhooks,
//! timers) and the effect executor (results) both go through here, so every change to a
//! pipeline is made the same way. When the repository shares `develop.max_parallel`, a step
//! also reads (and, in development, holds) the repository's load, records its pipeline's
//! share, and wakes the other pipelines that wait for a slot (their timers).
//!
//! Must not: commit (the caller owns the transaction) or call GitHub.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::notify::{Notification, Notifier};
use super::repo_jobs::RepoJob;
use crate::metrics::{self, Metrics};
use crate::pipeline::config::{LoadedConfig, ParallelScope};
use crate::pipeline::model::{Phase, RepoLoad, TimerChange, TimerKind};
use crate::pipeline::{Input, Pipeline, step_with, task_load};
use crate::store::audit::NewEntry;
use crate::store::load::LoadRow;
use crate::store::pipelines::{NewEffect, PipelineColumns, PipelineRecord};
use crate::store::{Store, StoreError, Tx};

/// Reads a stored pipeline.
pub fn decode(record: &PipelineRecord) -> Result<Pipeline, StoreError> {
    serde_json::from_str(&record.state)
        .map_err(|e| StoreError::Corrupt(format!("pipeline {} state: {e}", record.id)))
}

/// Where a pipeline's changes are reported besides the database and GitHub.
#[derive(Clone)]
pub struct Outlets {
    /// The operator's receiver, if one is configured (without one, notifications are not
    /// queued at all).
    pub notifier: Option<Arc<Notifier>>,
    /// Counted once the transaction commits.
    pub metrics: Arc<Metrics>,
    /// shipgate's public URL: each pipeline has a dashboard page at `pipelines/<id>` there,
    /// which its check runs link to (`details_url`).
    pub public_url: url::Url,
}

/// Steps `pipeline` with `input` and saves the outcome; returns the new state. `delivery`
/// is the webhook the input came from, for the audit log.
pub async fn advance(
    tx: &mut Tx,
    pipeline: &Pipeline,
    input: &Input,
    cfg: &LoadedConfig,
    now: i64,
    delivery: Option<&str>,
    outlets: &Outlets,
) -> Result<Pipeline, StoreError> {
    let shared = cfg.config.develop.is_on()
        && cfg.config.develop.max_parallel_scope == ParallelScope::Repository;
    // Only a step in development may dispatch into the shared slots, so only it holds them.
    let holds = shared
        && pipeline.phase == Phase::Development
        && tx.try_lock_repo_load(&pipeline.repo).await?;
    let neighbours = if shared {
        tx.repo_load(&pipeline.repo).await?
    } else {
        vec![]
    };
    let mut load = repo_load(pipeline, &neighbours, task_load(pipeline, cfg, now).rank);
    load.busy = shared && !holds;
    let (next, out) = step_with(pipeline, input, cfg, now, load);
    if shared {
        share_load(tx, &next, cfg, now, &neighbours, holds).await?;
    }
    if &next == pipeline && out.is_empty() {
        return Ok(next);
    }
    let state = serde_json::to_string(&next).expect("pipeline state serialises");
    let columns = PipelineColumns {
        pr_number: next.pr.as_ref().map(|p| p.number as i64),
        phase: next.phase.name(),
        updated_at: next.updated_at,
    };
    tx.save_pipeline(next.id, &columns, &state).await?;
    for timer in &out.timers {
        match timer {
            TimerChange::Set { key, due_at, kind } => {
                let kind = serde_json::to_string(kind).expect("timers serialise");
                tx.set_timer(next.id, key, *due_at, &kind).await?;
            }
            TimerChange::Cancel { key } => {
                tx.take_timer(next.id, key).await?;
            }
        }
    }
    let outbox: Vec<NewEffect> = out
        .effects
        .iter()
        .map(|e| NewEffect {
            key: &e.key,
            action: e.action.name(),
            body: serde_json::to_string(&e.action).expect("actions serialise"),
            cause: &e.cause,
        })
        .collect();
    tx.add_effects(Some(next.id), &outbox, now).await?;
    let audit: Vec<NewEntry> = out
        .audit
        .iter()
        .map(|a| NewEntry {
            at: now,
            repo: &next.repo,
            pipeline_id: Some(next.id),
            delivery,
            actor: &a.actor,
            action: &a.action,
            detail: &a.detail,
        })
        .collect();
    tx.append_audit(&audit).await?;
    // Notifications go in the repository-level lane: never behind, nor in front of, the
    // pipeline's own effects. Without a receiver they are not queued at all.
    let notices: Vec<NewEffect> = out
        .notifications
        .iter()
        .filter(|_| outlets.notifier.is_some())
        .map(|n| {
            let job = RepoJob::Notify(Notification {
                event: n.event.clone(),
                repo: next.repo.clone(),
                issue: next.issue,
                pipeline: next.name(),
                text: n.text.clone(),
                at: now,
                audit_head: None,
            });
            NewEffect {
                key: &n.key,
                action: "notify",
                body: serde_json::to_string(&job).expect("jobs serialise"),
                cause: &n.cause,
            }
        })
        .collect();
    tx.add_effects(None, &notices, now).await?;
    let run_ids = |p: &Pipeline| -> Vec<u64> {
        p.runs
            .iter()
            .filter_map(|r| r.run_id)
            .chain(p.deploys.iter().filter_map(|d| d.run_id))
            .chain(p.dev_tasks.iter().filter_map(|t| t.run_id))
            .collect()
    };
    let known: BTreeSet<u64> = run_ids(pipeline).into_iter().collect();
    let now_known = run_ids(&next);
    for run_id in now_known {
        if !known.contains(&run_id) {
            tx.index_run(run_id as i64, next.id).await?;
        }
    }
    for n in next.sub_issues.iter().filter_map(|t| t.issue) {
        if !pipeline.sub_issues.iter().any(|t| t.issue == Some(n)) {
            tx.index_task(&next.repo, n as i64, next.id).await?;
        }
    }
    let seen = metrics::observations(pipeline, &next, now);
    if !seen.is_empty() {
        let metrics = outlets.metrics.clone();
        tx.after_commit(move || metrics.record(seen));
    }
    Ok(next)
}

/// How long a step that found the repository's shared slots held by another transaction
/// waits before it looks again (ms).
const BUSY_RETRY_MS: i64 = 1_000;

/// What the repository's other pipelines hold, for a pipeline of `rank` (its place in line):
/// their runs in flight, and the ready tasks of those ahead of it (a better rank, or the
/// same and an older pipeline).
fn repo_load(p: &Pipeline, rows: &[LoadRow], rank: u8) -> RepoLoad {
    let mut load = RepoLoad::default();
    for r in rows.iter().filter(|r| r.pipeline_id != p.id) {
        load.in_flight += r.in_flight as u32;
        if (r.rank, r.pipeline_id) < (rank as i64, p.id) {
            load.ahead += r.ready as u32;
        }
    }
    load
}

/// Records the pipeline's share of a shared `develop.max_parallel` after its step. When it
/// freed a slot, dropped a claim or changed its place in line, every other pipeline of the
/// repository with ready tasks looks again (a timer due now, one per change), and so does
/// this one if its place in line changed. A step that could not hold the slots (`holds`
/// false: another transaction did) and has ready tasks looks again in a second.
async fn share_load(
    tx: &mut Tx,
    next: &Pipeline,
    cfg: &LoadedConfig,
    now: i64,
    rows: &[LoadRow],
    holds: bool,
) -> Result<(), StoreError> {
    let mine = task_load(next, cfg, now);
    let row = LoadRow {
        pipeline_id: next.id,
        in_flight: mine.in_flight as i64,
        ready: mine.ready as i64,
        rank: mine.rank as i64,
    };
    let kind = serde_json::to_string(&TimerKind::TaskSlot).expect("timers serialise");
    let key = format!("task-slot:p{}:{now}", next.id);
    if !holds && next.phase == Phase::Development && row.ready > 0 {
        let again = format!("task-slot:p{}:busy:{now}", next.id);
        tx.set_timer(next.id, &again, now + BUSY_RETRY_MS, &kind)
            .await?;
    }
    let before = rows.iter().find(|r| r.pipeline_id == next.id);
    if before == Some(&row) {
        return Ok(());
    }
    tx.set_load(&next.repo, row).await?;
    let moved = before.is_some_and(|b| b.rank != row.rank);
    let released = before.is_none_or(|b| row.in_flight < b.in_flight || row.ready < b.ready);
    if !(released || moved) {
        return Ok(());
    }
    for other in rows
        .iter()
        .filter(|r| r.pipeline_id != next.id && r.ready > 0)
    {
        tx.set_timer(other.pipeline_id, &key, now, &kind).await?;
    }
    if moved && row.ready > 0 {
        tx.set_timer(next.id, &key, now, &kind).await?;
    }
    Ok(())
}

/// Indexes the sub-issues of every pipeline planning or developing (`pipeline_tasks`), so
/// their webhooks find them: at start-up, for pipelines whose sub-issues were read before
/// the index existed (a step indexes the ones it reads).
pub async fn index_planned_sub_issues(store: &Store) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    for record in store.planning_pipelines().await? {
        let p = decode(&record)?;
        for n in p.sub_issues.iter().filter_map(|t| t.issue) {
            tx.index_task(&p.repo, n as i64, p.id).await?;
        }
    }
    tx.commit().await
}
