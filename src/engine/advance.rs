//! Applying one input to one pipeline inside the caller's transaction: run `step`, then save
//! the new state, its effects (the outbox) and its timers together. The worker (webhooks,
//! timers) and the effect executor (results) both go through here, so every change to a
//! pipeline is made the same way.
//!
//! Must not: commit (the caller owns the transaction) or call GitHub.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::notify::{Notification, Notifier};
use super::repo_jobs::RepoJob;
use crate::metrics::{self, Metrics};
use crate::pipeline::config::LoadedConfig;
use crate::pipeline::model::TimerChange;
use crate::pipeline::{Input, Pipeline, step};
use crate::store::audit::NewEntry;
use crate::store::pipelines::{NewEffect, PipelineColumns, PipelineRecord};
use crate::store::{StoreError, Tx};

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
    let (next, out) = step(pipeline, input, cfg, now);
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
