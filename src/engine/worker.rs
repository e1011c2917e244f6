//! The delivery worker: takes stored deliveries in arrival order, a batch at a time. Payloads
//! are decoded first, on the low-priority background thread and outside any transaction;
//! then one short write transaction locks the batch and, for each delivery, records its GUID
//! (a redelivery becomes `duplicate`), skips events shipgate does not handle (`ignored`) and
//! applies the rest — the outcome committed together with the change.
//!
//! Today it keeps the installation records; the pipeline engine plugs in here. A payload that
//! cannot be decoded is marked `failed` with the reason (it would fail the same way again); a
//! database error rolls the whole batch back and it is retried.
//! Must not: call GitHub inside a transaction (effects go to an outbox).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::background::Decoder;
use crate::clock::Clock;
use crate::github::events::{Event, InstallationInfo};
use crate::store::deliveries::{DeliveryStatus, Outcome, StoredDelivery};
use crate::store::group_commit::WriterStats;
use crate::store::installations::InstallationRow;
use crate::store::{Store, StoreError, Tx, millis};

/// How often the worker looks for work nobody told it about (another replica's deliveries).
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Deliveries taken per transaction.
const BATCH: i64 = 64;
/// A delivery whose transaction failed this often is recorded as failed and skipped.
const MAX_ATTEMPTS: i64 = 5;
/// Processing waits for ingest to pause this long, so a burst of webhooks is acknowledged
/// first (on a single core every commit the worker makes delays an acknowledgement) ...
const INGEST_QUIET: Duration = Duration::from_millis(50);
/// ... but never defers work longer than this.
const MAX_DEFER: Duration = Duration::from_secs(30);

pub struct Worker {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub decoder: Decoder,
    /// Notified by the delivery writer after each commit.
    pub wake: Arc<Notify>,
    /// The writer's counters, to see when ingest pauses.
    pub ingest: Arc<WriterStats>,
}

impl Worker {
    pub async fn run(self, stop: CancellationToken) {
        let mut failures: u32 = 0;
        let mut deferring_since: Option<std::time::Instant> = None;
        loop {
            if stop.is_cancelled() {
                break;
            }
            let quiet = self.ingest.quiet_for();
            let since = *deferring_since.get_or_insert_with(std::time::Instant::now);
            if quiet < INGEST_QUIET && since.elapsed() < MAX_DEFER {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(INGEST_QUIET - quiet) => continue,
                }
            }
            let outcome = self.process_batch().await;
            if !matches!(outcome, Ok(n) if n as i64 == BATCH) {
                deferring_since = None;
            }
            match outcome {
                Ok(0) => {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                    }
                }
                Ok(_) => failures = 0,
                Err(e) => {
                    failures += 1;
                    let wait = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "delivery worker error");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        tracing::debug!("delivery worker stopped");
    }

    /// Processes a batch of the oldest pending deliveries; returns how many were pending.
    pub async fn process_batch(&self) -> Result<usize, StoreError> {
        let mut pending = self.store.pending_deliveries(BATCH).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        // What each delivery needs, decided before any lock is taken: decoding runs on the
        // background thread, outside every transaction.
        let mut jobs = Vec::new();
        let mut verdicts: Vec<Verdict> = pending
            .iter_mut()
            .map(|d| {
                if d.attempts >= MAX_ATTEMPTS {
                    let last = d.error.clone().unwrap_or_default();
                    Verdict::Fail(format!("gave up after {} attempts: {last}", d.attempts))
                } else if let Some(damage) = d.body_error.take() {
                    Verdict::Fail(format!("the stored body is damaged: {damage}"))
                } else if let Some(body) = d.body.take() {
                    jobs.push((d.event.clone(), body));
                    Verdict::Apply(None)
                } else {
                    // Stored without a body: an event shipgate does not act on.
                    Verdict::Ignore
                }
            })
            .collect();
        let decoded = self
            .decoder
            .decode(jobs)
            .await
            .ok_or_else(|| StoreError::Corrupt("the background thread stopped".into()))?;
        let mut decoded = decoded.into_iter();
        for verdict in verdicts
            .iter_mut()
            .filter(|v| matches!(v, Verdict::Apply(None)))
        {
            *verdict = match decoded.next() {
                Some(Ok(Some(event))) => Verdict::Apply(Some(event)),
                Some(Ok(None)) => Verdict::Ignore,
                Some(Err(reason)) => Verdict::Fail(reason),
                None => Verdict::Fail("the background thread did not decode it".into()),
            };
        }
        let ids: Vec<i64> = pending.iter().map(|d| d.id).collect();
        let (mut tx, locked) = self.store.lock_pending(&ids).await?;
        let now = millis(self.clock.now());
        let batch: Vec<(&StoredDelivery, Verdict)> = pending
            .iter()
            .zip(verdicts)
            .filter(|(d, _)| locked.contains(&d.id)) // the others: another replica has them
            .collect();
        if let Err((id, e)) = apply_batch(&mut tx, batch, now).await {
            let _ = tx.rollback().await;
            self.store
                .note_delivery_attempt(id, &e.to_string(), now)
                .await?;
            return Err(e);
        }
        tx.commit().await?;
        Ok(pending.len())
    }
}

/// What to do with one delivery.
enum Verdict {
    /// Record it as ignored.
    Ignore,
    /// Apply the decoded event (`None` only while decoding is pending).
    Apply(Option<Event>),
    /// Record it as failed, with the reason.
    Fail(String),
}

/// Applies a locked batch: GUIDs, changes and outcomes, in the caller's transaction. On a
/// database error, says which delivery it happened at (its attempt is counted, and after
/// MAX_ATTEMPTS it is given up, so one bad delivery cannot stop the queue).
async fn apply_batch(
    tx: &mut Tx,
    batch: Vec<(&StoredDelivery, Verdict)>,
    now: i64,
) -> Result<(), (i64, StoreError)> {
    let guids: Vec<(&str, i64)> = batch
        .iter()
        .map(|(d, _)| (d.delivery_id.as_str(), d.id))
        .collect();
    let first = batch.first().map_or(0, |(d, _)| d.id);
    let duplicates = tx.take_guids(&guids).await.map_err(|e| (first, e))?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for (delivery, verdict) in batch {
        let span = tracing::info_span!("delivery", delivery = %delivery.delivery_id, event = %delivery.event);
        let (status, error) = if duplicates.contains(&delivery.id) {
            (DeliveryStatus::Duplicate, None)
        } else {
            match verdict {
                Verdict::Ignore | Verdict::Apply(None) => (DeliveryStatus::Ignored, None),
                Verdict::Apply(Some(event)) => {
                    apply(tx, &event, now)
                        .instrument(span.clone())
                        .await
                        .map_err(|e| (delivery.id, e))?;
                    (DeliveryStatus::Processed, None)
                }
                Verdict::Fail(reason) => {
                    span.in_scope(|| tracing::warn!(%reason, "delivery failed"));
                    (DeliveryStatus::Failed, Some(reason))
                }
            }
        };
        span.in_scope(|| {
            tracing::info!(
                status = status.as_str(),
                action = delivery.action.as_deref().unwrap_or(""),
                "delivery taken"
            )
        });
        outcomes.push(Outcome {
            id: delivery.id,
            status,
            error,
        });
    }
    tx.record_outcomes(&outcomes, now)
        .await
        .map_err(|e| (first, e))
}

fn installation_row(info: &InstallationInfo, action: &str, now: i64) -> InstallationRow {
    InstallationRow {
        installation_id: info.id as i64,
        account_login: info.account.login.clone(),
        account_type: info.account.kind.clone(),
        repository_selection: info.repository_selection.clone(),
        suspended: action == "suspend" || (action != "unsuspend" && info.suspended_at.is_some()),
        deleted: action == "deleted",
        updated_at: now,
    }
}

/// Applies what a delivery changes. Only installation bookkeeping lives here for now.
async fn apply(tx: &mut Tx, event: &Event, now: i64) -> Result<(), StoreError> {
    match event {
        Event::Installation(e) => {
            let id = e.installation.id as i64;
            tx.upsert_installation(&installation_row(&e.installation, &e.action, now))
                .await?;
            match e.action.as_str() {
                "deleted" => tx.clear_installation_repositories(id).await?,
                "created" => {
                    for repo in e.repositories.iter().flatten() {
                        tx.add_installation_repository(id, repo.id as i64, &repo.full_name)
                            .await?;
                    }
                }
                _ => {}
            }
        }
        Event::InstallationRepositories(e) => {
            let id = e.installation.id as i64;
            tx.upsert_installation(&installation_row(&e.installation, &e.action, now))
                .await?;
            for repo in &e.repositories_added {
                tx.add_installation_repository(id, repo.id as i64, &repo.full_name)
                    .await?;
            }
            for repo in &e.repositories_removed {
                tx.remove_installation_repository(id, repo.id as i64)
                    .await?;
            }
        }
        _ => {}
    }
    Ok(())
}
