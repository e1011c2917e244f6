//! Group commit for webhook deliveries: one writer task takes whatever deliveries are queued,
//! stores them in one transaction, then acknowledges each waiting request.
//!
//! One commit (one fsync) then serves many deliveries, so durability costs little per
//! delivery under load and nothing extra when idle (a lone delivery commits at once). On
//! PostgreSQL a few batches commit in parallel.
//! Owns: the queue, batching, and acknowledgements. Must not: answer HTTP or drop a delivery
//! it has accepted — on shutdown it drains the queue before it stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Store;
use super::deliveries::NewDelivery;
use crate::settings::DatabaseKind;

/// Deliveries waiting for the writer before senders are made to wait.
const QUEUE_CAPACITY: usize = 8192;
/// The most deliveries one transaction takes.
const MAX_BATCH: usize = 512;

struct Job {
    delivery: NewDelivery,
    ack: oneshot::Sender<Result<(), WriteError>>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the database did not take the delivery: {0}")]
    Database(String),
    #[error("shipgate is shutting down")]
    Closed,
}

/// Counters the writer keeps, for metrics, the benchmark, and background work that waits
/// for ingest to pause.
#[derive(Debug)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub rows: AtomicU64,
    pub largest_batch: AtomicU64,
    pub failed_batches: AtomicU64,
    started: Instant,
    /// Milliseconds after `started` of the last commit, and of the one before.
    last_commit_ms: AtomicU64,
    previous_commit_ms: AtomicU64,
    last_batch_rows: AtomicU64,
}

impl Default for WriterStats {
    fn default() -> Self {
        Self {
            batches: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            largest_batch: AtomicU64::new(0),
            failed_batches: AtomicU64::new(0),
            started: Instant::now(),
            last_commit_ms: AtomicU64::new(0),
            previous_commit_ms: AtomicU64::new(0),
            last_batch_rows: AtomicU64::new(0),
        }
    }
}

impl WriterStats {
    /// How long ago ingest last committed (since start if it never did).
    pub fn quiet_for(&self) -> Duration {
        let now = self.started.elapsed();
        now.saturating_sub(Duration::from_millis(
            self.last_commit_ms.load(Ordering::Relaxed),
        ))
    }

    /// Whether webhooks are arriving in a burst: the last commit carried several, or came
    /// soon after the one before. A lone webhook is not a burst and is processed at once.
    pub fn is_bursting(&self, window: Duration) -> bool {
        let last = self.last_commit_ms.load(Ordering::Relaxed);
        let previous = self.previous_commit_ms.load(Ordering::Relaxed);
        self.last_batch_rows.load(Ordering::Relaxed) > 1
            || (previous > 0 && last.saturating_sub(previous) < window.as_millis() as u64)
    }

    fn note_commit(&self, rows: usize) {
        let last = self.last_commit_ms.load(Ordering::Relaxed);
        self.previous_commit_ms.store(last, Ordering::Relaxed);
        self.last_batch_rows.store(rows as u64, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.largest_batch.fetch_max(rows as u64, Ordering::Relaxed);
        self.last_commit_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// Told of every committed batch: its rows and how long the commit took.
pub type OnCommit = Arc<dyn Fn(usize, Duration) + Send + Sync>;

/// The sending side; clone it into every request handler.
#[derive(Clone)]
pub struct DeliveryWriter {
    queue: mpsc::Sender<Job>,
    pub stats: Arc<WriterStats>,
}

impl DeliveryWriter {
    /// Starts the writer task. `stored` is notified after each commit. The task ends once
    /// every `DeliveryWriter` clone is dropped, or `stop` is cancelled, and what was queued
    /// by then is committed; later writes fail with [`WriteError::Closed`]. `on_commit` is
    /// told of each committed batch (for metrics).
    pub fn spawn(
        store: Store,
        stored: Arc<Notify>,
        stop: CancellationToken,
        on_commit: OnCommit,
    ) -> (Self, JoinHandle<()>) {
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let stats = Arc::new(WriterStats::default());
        let task = tokio::spawn(run(store, rx, stored, stats.clone(), stop, on_commit));
        (Self { queue, stats }, task)
    }

    /// Stores one delivery durably; returns once it is committed.
    pub async fn write(&self, delivery: NewDelivery) -> Result<(), WriteError> {
        let (ack, done) = oneshot::channel();
        self.queue
            .send(Job { delivery, ack })
            .await
            .map_err(|_| WriteError::Closed)?;
        done.await.unwrap_or(Err(WriteError::Closed))
    }
}

/// Transactions in flight at once: SQLite has one writer; PostgreSQL commits several in
/// parallel (and groups their WAL flushes itself), so a batch fills while another commits.
fn commits_in_flight(store: &Store) -> usize {
    match store.kind() {
        DatabaseKind::Sqlite => 1,
        DatabaseKind::Postgres => 2,
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Job>,
    stored: Arc<Notify>,
    stats: Arc<WriterStats>,
    stop: CancellationToken,
    on_commit: OnCommit,
) {
    let slots = commits_in_flight(&store);
    let in_flight = Arc::new(Semaphore::new(slots));
    loop {
        let slot = in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let first = tokio::select! {
            job = rx.recv() => job,
            // Stopping: take what is queued now, and nothing after.
            _ = stop.cancelled() => {
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else { break };
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (store, stored, stats) = (store.clone(), stored.clone(), stats.clone());
        let on_commit = on_commit.clone();
        tokio::spawn(async move {
            commit(&store, jobs, &stats, &on_commit).await;
            stored.notify_one();
            drop(slot);
        });
    }
    // Every batch taken is committed (or refused) before the writer reports it has stopped.
    let _all = in_flight.acquire_many(slots as u32).await;
    tracing::info!(
        rows = stats.rows.load(Ordering::Relaxed),
        commits = stats.batches.load(Ordering::Relaxed),
        largest_batch = stats.largest_batch.load(Ordering::Relaxed),
        "delivery writer drained and stopped"
    );
}

/// Stores one batch and acknowledges each of its senders.
async fn commit(store: &Store, jobs: Vec<Job>, stats: &WriterStats, on_commit: &OnCommit) {
    let (rows, acks): (Vec<NewDelivery>, Vec<_>) =
        jobs.into_iter().map(|j| (j.delivery, j.ack)).unzip();
    let started = Instant::now();
    match store.insert_deliveries(&rows).await {
        Ok(()) => {
            stats.note_commit(rows.len());
            on_commit(rows.len(), started.elapsed());
            for ack in acks {
                let _ = ack.send(Ok(()));
            }
        }
        Err(e) => {
            // Nothing of the batch was committed; every sender answers 503, which GitHub
            // records as a failed delivery that can be redelivered.
            stats.failed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, rows = rows.len(), "could not store a batch of deliveries");
            let error = WriteError::Database(e.to_string());
            for ack in acks {
                let _ = ack.send(Err(error.clone()));
            }
        }
    }
}
