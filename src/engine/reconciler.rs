//! The reconciler: recovers webhook deliveries GitHub could not make (DESIGN §5). GitHub does
//! not retry a failed delivery — shipgate down, a 503 from a full store, a dropped
//! connection — but keeps a record of each for 3 days and sends one again on request, with
//! its GUID. At start-up and then every [`SCAN_EVERY`], one replica (the holder of the
//! `reconciler` job lease) lists the App's deliveries newest first, stopping at those an
//! earlier scan looked at, and asks GitHub to send again, oldest first, each failed delivery
//! whose GUID shipgate has not stored: once per GUID (again, 5 minutes later and at most 3
//! times, while GitHub has not accepted the request), at most [`REDELIVERIES_PER_SECOND`],
//! each request recorded in `redeliveries`. Each scan looks again at the last [`OVERLAP_MS`]
//! of the one before (a delivery still being attempted is listed late); what it saw before
//! it finds stored or asked for already.
//!
//! Must not: process a delivery itself (a redelivery arrives at the webhook like any other,
//! and is deduplicated by its GUID there).

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{Quota, RateLimiter};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::github::client::{GitHub, HookDeliveryInfo};
use crate::github::rest::GitHubError;
use crate::store::{Store, StoreError, millis};

/// How often the App's deliveries are looked at after the scan at start-up.
pub const SCAN_EVERY: Duration = Duration::from_secs(60);
/// GitHub redelivers for 3 days; older failures are past asking for (with a margin for
/// clocks and for the time a scan takes).
const WINDOW_MS: i64 = 3 * 24 * 3_600_000 - 15 * 60_000;
/// At most this many pages of 100 deliveries per scan (the newest 5,000).
const MAX_PAGES: usize = 50;
/// Redelivery requests are paced: GitHub limits them, and each one is a webhook to take.
pub const REDELIVERIES_PER_SECOND: u32 = 5;
const JOB: &str = "reconciler";
/// How far back before the newest delivery an earlier scan saw the next scan looks again.
const OVERLAP_MS: i64 = 120_000;
/// A redelivery GitHub did not accept (a 5xx, a rate limit, a crash before the request) is
/// asked for again this much later, up to MAX_TRIES times in all.
const RETRY_AFTER_MS: i64 = 5 * 60_000;
const MAX_TRIES: i32 = 3;
/// A scan holds the job this long unless it renews (it does, page by page and before each
/// request).
const LEASE_MS: i64 = 60_000;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
}

/// What one scan did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scan {
    /// Deliveries newer than the previous scan's, within GitHub's window.
    pub looked_at: usize,
    /// Redeliveries asked for.
    pub asked: usize,
}

pub struct Reconciler {
    store: Store,
    github: Arc<dyn GitHub>,
    clock: Arc<dyn Clock>,
    /// This process's name as a lease holder (`<host>:<address>`).
    holder: String,
    /// The pace of redelivery requests, across scans.
    pace: governor::DefaultDirectRateLimiter,
}

impl Reconciler {
    pub fn new(
        store: Store,
        github: Arc<dyn GitHub>,
        clock: Arc<dyn Clock>,
        holder: String,
    ) -> Self {
        Self {
            store,
            github,
            clock,
            holder,
            pace: RateLimiter::direct(Quota::per_second(
                NonZeroU32::new(REDELIVERIES_PER_SECOND).expect("non-zero"),
            )),
        }
    }

    /// The redeliveries asked for, oldest first (tests, the API).
    pub async fn redeliveries(
        &self,
    ) -> Result<Vec<crate::store::recovery::RedeliveryRow>, StoreError> {
        self.store.redeliveries().await
    }

    pub async fn run(self, stop: CancellationToken) {
        loop {
            match self.scan_until(&stop).await {
                Ok(scan) if scan.asked > 0 => tracing::info!(
                    looked_at = scan.looked_at,
                    asked = scan.asked,
                    "asked GitHub to redeliver failed webhook deliveries"
                ),
                Ok(_) => {}
                Err(ReconcileError::GitHub(GitHubError::NotConfigured)) => {}
                Err(e) => tracing::warn!(error = %e, "reconciler scan failed"),
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(SCAN_EVERY) => {}
            }
        }
    }

    /// One scan, if no other replica is scanning.
    pub async fn scan(&self) -> Result<Scan, ReconcileError> {
        self.scan_until(&CancellationToken::new()).await
    }

    /// One scan, which stops asking for redeliveries when `stop` is cancelled.
    async fn scan_until(&self, stop: &CancellationToken) -> Result<Scan, ReconcileError> {
        let Some(progress) = self.lease().await? else {
            return Ok(Scan::default());
        };
        let outcome = self.scan_from(progress, stop).await;
        // Progress only moves past what a whole scan looked at.
        let newest = outcome.as_ref().map_or(progress, |(newest, _)| *newest);
        self.store.finish_job(JOB, &self.holder, newest).await?;
        outcome.map(|(_, scan)| scan)
    }

    /// Takes or renews the job's lease; its progress (when the deliveries the next scan must
    /// look at begin, ms since the epoch), or
    /// `None` if another replica holds it.
    async fn lease(&self) -> Result<Option<i64>, StoreError> {
        let now = millis(self.clock.now());
        self.store
            .take_job_lease(JOB, &self.holder, now, now + LEASE_MS)
            .await
    }

    async fn scan_from(
        &self,
        progress: i64,
        stop: &CancellationToken,
    ) -> Result<(i64, Scan), ReconcileError> {
        let now = millis(self.clock.now());
        let mut seen: Vec<HookDeliveryInfo> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut complete = false;
        for _ in 0..MAX_PAGES {
            let page = self.github.hook_deliveries(cursor.as_deref()).await?;
            let before = seen.len();
            let total = page.deliveries.len();
            seen.extend(
                page.deliveries
                    .into_iter()
                    .filter(|d| millis(d.delivered_at) >= progress.max(now - WINDOW_MS)),
            );
            // Newest first: a page that reached older deliveries is the last one needed.
            if seen.len() - before < total {
                complete = true;
                break;
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => {
                    complete = true;
                    break;
                }
            }
            if self.lease().await?.is_none() {
                return Ok((progress, Scan::default())); // another replica took over
            }
        }
        // A scan cut short by MAX_PAGES leaves progress where it was: older failures stay
        // in reach of the next scan (as long as they are among the newest it lists).
        let newest = if complete {
            seen.iter()
                .map(|d| millis(d.delivered_at) - OVERLAP_MS)
                .max()
                .unwrap_or(progress)
                .max(progress)
        } else {
            tracing::warn!(
                pages = MAX_PAGES,
                "more webhook deliveries than one scan reads; the next scan starts from the newest again"
            );
            progress
        };
        let mut scan = Scan {
            looked_at: seen.len(),
            asked: 0,
        };
        // Requests GitHub did not accept before, wherever their deliveries are in the list
        // now, then the failures this scan found.
        let retries = self
            .store
            .redeliveries_to_retry(now - RETRY_AFTER_MS, MAX_TRIES, now - WINDOW_MS)
            .await?;
        let wanted = retries
            .iter()
            .map(|r| {
                (
                    r.hook_delivery_id as u64,
                    r.guid.as_str(),
                    r.event.as_str(),
                    r.delivered_at,
                )
            })
            .chain(failed_deliveries(&seen).into_iter().map(|d| {
                (
                    d.id,
                    d.guid.as_str(),
                    d.event.as_str(),
                    millis(d.delivered_at),
                )
            }));
        for (id, guid, event, delivered_at) in wanted {
            // The rest waits for the next scan (progress stays where it was) when shipgate
            // stops or another replica took the job over.
            if stop.is_cancelled() || self.lease().await?.is_none() {
                return Ok((progress, scan));
            }
            if self.ask(id, guid, event, delivered_at).await? {
                scan.asked += 1;
            }
        }
        Ok((newest, scan))
    }

    /// Asks GitHub to redeliver delivery `id` unless its GUID is stored or was asked for
    /// already (and GitHub accepted, or it is not yet time to ask again); returns whether
    /// it asked.
    async fn ask(
        &self,
        id: u64,
        guid: &str,
        event: &str,
        delivered_at: i64,
    ) -> Result<bool, StoreError> {
        if self.store.delivery_stored(guid).await? {
            return Ok(false); // it came through (GitHub gave up waiting for the answer)
        }
        let now = millis(self.clock.now());
        let noted = self
            .store
            .note_redelivery(
                guid,
                id as i64,
                event,
                delivered_at,
                now,
                now - RETRY_AFTER_MS,
                MAX_TRIES,
            )
            .await?;
        if !noted {
            return Ok(false);
        }
        self.pace.until_ready().await;
        let outcome = match self.github.redeliver(id).await {
            Ok(()) => "requested".to_owned(),
            Err(e) => {
                tracing::warn!(%guid, error = %e, "GitHub refused a redelivery");
                e.to_string()
            }
        };
        self.store.redelivery_outcome(guid, &outcome).await?;
        Ok(true)
    }
}

/// The failed deliveries among `seen` whose GUID no attempt delivered, oldest first, one per
/// GUID (the first attempt: the order GitHub first sent them in).
fn failed_deliveries(seen: &[HookDeliveryInfo]) -> Vec<&HookDeliveryInfo> {
    let ok = |d: &HookDeliveryInfo| (200..300).contains(&d.status_code);
    let delivered: HashSet<&str> = seen
        .iter()
        .filter(|d| ok(d))
        .map(|d| d.guid.as_str())
        .collect();
    let mut failed: Vec<&HookDeliveryInfo> = seen
        .iter()
        .filter(|d| !ok(d) && !delivered.contains(d.guid.as_str()))
        .collect();
    failed.sort_by_key(|d| d.id);
    let mut asked = HashSet::new();
    failed.retain(|d| asked.insert(d.guid.as_str()));
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: u64, guid: &str, status_code: u16) -> HookDeliveryInfo {
        HookDeliveryInfo {
            id,
            guid: guid.into(),
            status_code,
            event: "issues".into(),
            action: None,
            redelivery: false,
            delivered_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn failed_deliveries_are_asked_for_oldest_first_once_unless_an_attempt_came_through() {
        let seen = [
            delivery(9, "c", 0),   // newest first, as GitHub lists them
            delivery(8, "b", 202), // a redelivery of b came through
            delivery(7, "a", 503), // a's second attempt failed too
            delivery(5, "b", 0),
            delivery(4, "a", 0),
            delivery(3, "d", 202),
        ];
        let ids: Vec<u64> = failed_deliveries(&seen).iter().map(|d| d.id).collect();
        assert_eq!(ids, [4, 9]);
    }
}
