//! The delivery worker: claims stored deliveries one at a time, decodes them into typed
//! events and applies them, recording the outcome in the same transaction as the change.
//!
//! Today it keeps the installation records; the pipeline engine plugs in here. A delivery
//! whose payload cannot be decoded is marked `failed` with the reason (it would fail the same
//! way again); a database error rolls the claim back and the delivery is retried.
//! Must not: call GitHub inside a claim's transaction (effects go to an outbox).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::clock::Clock;
use crate::github::events::{self, Event, InstallationInfo};
use crate::store::deliveries::{DeliveryStatus, StoredDelivery};
use crate::store::installations::InstallationRow;
use crate::store::{Store, StoreError, Tx, millis};

/// How often the worker looks for work nobody told it about (another replica's deliveries).
const IDLE_POLL: Duration = Duration::from_secs(5);

pub struct Worker {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Notified by the delivery writer after it stores something to process.
    pub wake: Arc<Notify>,
}

impl Worker {
    pub async fn run(self, stop: CancellationToken) {
        let mut failures: u32 = 0;
        loop {
            if stop.is_cancelled() {
                break;
            }
            match self.process_next().await {
                Ok(true) => failures = 0,
                Ok(false) => {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                    }
                }
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

    /// Processes the oldest pending delivery. `Ok(false)` when there was none.
    pub async fn process_next(&self) -> Result<bool, StoreError> {
        let Some((tx, delivery)) = self.store.claim_pending_delivery().await? else {
            return Ok(false);
        };
        let span = tracing::info_span!("delivery", delivery = %delivery.delivery_id, event = %delivery.event);
        self.handle(tx, delivery).instrument(span).await
    }

    async fn handle(&self, mut tx: Tx, delivery: StoredDelivery) -> Result<bool, StoreError> {
        let now = millis(self.clock.now());
        let outcome = match decode(&delivery) {
            Ok(event) => apply(&mut tx, &event, now)
                .await
                .map(|()| (DeliveryStatus::Processed, None)),
            Err(reason) => {
                tracing::warn!(%reason, "delivery could not be decoded");
                Ok((DeliveryStatus::Failed, Some(reason)))
            }
        };
        match outcome {
            Ok((status, error)) => {
                tx.finish_delivery(delivery.id, status, error.as_deref(), now)
                    .await?;
                tx.commit().await?;
                tracing::debug!(status = status.as_str(), "delivery processed");
                Ok(true)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                self.store
                    .note_delivery_attempt(delivery.id, &e.to_string())
                    .await?;
                Err(e)
            }
        }
    }
}

fn decode(delivery: &StoredDelivery) -> Result<Event, String> {
    let body = delivery
        .body
        .as_deref()
        .ok_or_else(|| "the delivery has no stored body".to_owned())?;
    events::decode(&delivery.event, body).map_err(|e| e.to_string())
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
