//! Group commit for webhook deliveries: one writer task takes whatever deliveries are queued,
//! stores them in one transaction, then acknowledges each waiting request.
//!
//! One commit (one fsync) then serves many deliveries, so durability costs little per
//! delivery under load and nothing extra when idle (a lone delivery commits at once).
//! Owns: the queue, batching, and acknowledgements. Must not: answer HTTP or drop a delivery
//! it has accepted — on shutdown it drains the queue before it stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Store;
use super::deliveries::{DeliveryStatus, InsertOutcome, NewDelivery};

/// Deliveries waiting for the writer before senders are made to wait.
const QUEUE_CAPACITY: usize = 8192;
/// The most deliveries one transaction takes.
const MAX_BATCH: usize = 512;

struct Job {
    delivery: NewDelivery,
    ack: oneshot::Sender<Result<InsertOutcome, WriteError>>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the database did not take the delivery: {0}")]
    Database(String),
    #[error("shipgate is shutting down")]
    Closed,
}

/// Counters the writer keeps, for metrics and the benchmark.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub rows: AtomicU64,
    pub largest_batch: AtomicU64,
    pub failed_batches: AtomicU64,
}

/// The sending side; clone it into every request handler.
#[derive(Clone)]
pub struct DeliveryWriter {
    queue: mpsc::Sender<Job>,
    pub stats: Arc<WriterStats>,
}

impl DeliveryWriter {
    /// Starts the writer task. `stored` is notified after each commit that stored a delivery
    /// the worker has to process. The task ends once every `DeliveryWriter` clone is dropped
    /// and the queue is drained.
    pub fn spawn(store: Store, stored: Arc<Notify>) -> (Self, JoinHandle<()>) {
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let stats = Arc::new(WriterStats::default());
        let task = tokio::spawn(run(store, rx, stored, stats.clone()));
        (Self { queue, stats }, task)
    }

    /// Stores one delivery durably; returns once it is committed (or known to be a duplicate).
    pub async fn write(&self, delivery: NewDelivery) -> Result<InsertOutcome, WriteError> {
        let (ack, done) = oneshot::channel();
        self.queue
            .send(Job { delivery, ack })
            .await
            .map_err(|_| WriteError::Closed)?;
        done.await.unwrap_or(Err(WriteError::Closed))
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Job>,
    stored: Arc<Notify>,
    stats: Arc<WriterStats>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (rows, acks): (Vec<NewDelivery>, Vec<_>) =
            jobs.drain(..).map(|j| (j.delivery, j.ack)).unzip();
        match store.insert_deliveries(&rows).await {
            Ok(outcomes) => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats.rows.fetch_add(rows.len() as u64, Ordering::Relaxed);
                stats
                    .largest_batch
                    .fetch_max(rows.len() as u64, Ordering::Relaxed);
                let wake_worker = rows.iter().zip(&outcomes).any(|(row, outcome)| {
                    row.status == DeliveryStatus::Pending
                        && matches!(outcome, InsertOutcome::Stored { .. })
                });
                for (ack, outcome) in acks.into_iter().zip(outcomes) {
                    let _ = ack.send(Ok(outcome));
                }
                if wake_worker {
                    stored.notify_one();
                }
            }
            Err(e) => {
                // Nothing of the batch was committed; every sender hears so and answers 503,
                // which GitHub records as a failed delivery that can be redelivered.
                stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, rows = rows.len(), "could not store a batch of deliveries");
                let error = WriteError::Database(e.to_string());
                for ack in acks {
                    let _ = ack.send(Err(error.clone()));
                }
            }
        }
    }
    tracing::debug!("delivery writer drained and stopped");
}
