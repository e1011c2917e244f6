//! The background thread: work that may wait while ingest is busy — decoding payloads for
//! the worker, and copying SQLite's write-ahead log back into the database file.
//!
//! It runs at a lower CPU priority than everything else (nice +10), so a burst of webhooks is
//! acknowledged first and processed as soon as there is CPU to spare. It holds no lock that
//! ingest needs: the worker's short transactions run at normal priority, and SQLite
//! checkpoints run beside writers.
//! Must not: write pipeline state (the worker does, in its transactions).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::github::events::{self, Event};
use crate::settings::DatabaseUrl;
use crate::store::Store;
use crate::store::group_commit::WriterStats;

/// How much lower than ingest the background thread runs (a `nice` value).
const NICENESS: i32 = 10;
/// How often the checkpoint policy looks at ingest.
const CHECKPOINT_TICK: Duration = Duration::from_millis(125);
/// Ingest counts as idle after this long without a commit.
const IDLE_AFTER_TICKS: u32 = 2;
/// Under sustained load, checkpoint anyway after this many deliveries (~1.5 GB of log, half a
/// minute at full speed on one core).
const CHECKPOINT_AFTER_ROWS: u64 = 250_000;

/// One payload to decode: the event name and the raw body.
pub type DecodeJob = (String, Vec<u8>);

/// Per payload: the event, `None` if shipgate does not decode that event, or why the payload
/// does not have the expected shape.
pub type Decoded = Result<Option<Event>, String>;

type Batch = (Vec<DecodeJob>, oneshot::Sender<Vec<Decoded>>);

/// Hands payloads to the background thread and waits for them decoded.
#[derive(Clone)]
pub struct Decoder {
    queue: mpsc::UnboundedSender<Batch>,
}

impl Decoder {
    /// Decodes a batch, in order. Errors say why a payload does not have the expected shape.
    pub async fn decode(&self, jobs: Vec<DecodeJob>) -> Option<Vec<Decoded>> {
        let (tx, rx) = oneshot::channel();
        self.queue.send((jobs, tx)).ok()?;
        rx.await.ok()
    }
}

/// Starts the background thread. It stops when `stop` is cancelled and every `Decoder` is
/// dropped.
pub fn spawn(
    database: DatabaseUrl,
    ingest: Arc<WriterStats>,
    stop: CancellationToken,
) -> anyhow::Result<(Decoder, std::thread::JoinHandle<()>)> {
    let (queue, mut jobs) = mpsc::unbounded_channel::<Batch>();
    let thread = std::thread::Builder::new()
        .name("shipgate-background".into())
        .spawn(move || {
            lower_this_threads_priority(NICENESS);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds");
            runtime.block_on(async move {
                let decode = async {
                    while let Some((batch, reply)) = jobs.recv().await {
                        let decoded = batch
                            .iter()
                            .map(|(event, body)| match events::decode(event, body) {
                                Ok(event) => Ok(Some(event)),
                                Err(events::DecodeError::Unsupported(_)) => Ok(None),
                                Err(e) => Err(e.to_string()),
                            })
                            .collect();
                        let _ = reply.send(decoded);
                    }
                };
                tokio::join!(decode, checkpoints(database, ingest, stop));
            });
        })?;
    Ok((Decoder { queue }, thread))
}

/// Copies the SQLite log into the database file when ingest pauses (or, under sustained load,
/// every CHECKPOINT_AFTER_ROWS deliveries), on a connection opened from this thread so
/// SQLite's own thread for it inherits the low priority. A checkpoint ends with an fsync of
/// the database file that stalls the log's fsync for as long as it takes; done in a pause,
/// no acknowledgement waits for it.
async fn checkpoints(database: DatabaseUrl, ingest: Arc<WriterStats>, stop: CancellationToken) {
    if database.kind != crate::settings::DatabaseKind::Sqlite {
        return;
    }
    let store = match Store::connect_single(&database).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no checkpoint connection; SQLite checkpoints inside commits");
            return;
        }
    };
    let mut tick = tokio::time::interval(CHECKPOINT_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checkpointed_at = 0u64;
    let mut last_seen = 0u64;
    let mut quiet_ticks = 0u32;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                let rows = ingest.rows.load(Ordering::Relaxed);
                quiet_ticks = if rows == last_seen { quiet_ticks + 1 } else { 0 };
                last_seen = rows;
                let idle = quiet_ticks >= IDLE_AFTER_TICKS;
                // The worker writes too: check now and then even without new deliveries.
                let due = (idle && (rows != checkpointed_at || quiet_ticks.is_multiple_of(8)))
                    || rows - checkpointed_at >= CHECKPOINT_AFTER_ROWS;
                if due {
                    match store.checkpoint().await {
                        Ok(()) => checkpointed_at = rows,
                        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                    }
                }
            }
        }
    }
    let _ = store.checkpoint().await;
    store.close().await;
}

/// Lowers the calling thread's scheduling priority. On Linux nice values are per thread, and
/// threads it starts inherit it.
fn lower_this_threads_priority(niceness: i32) {
    // SAFETY: setpriority only reads its integer arguments; `who` = 0 means the calling thread.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, niceness) };
    if result != 0 {
        tracing::debug!("could not lower the background thread's priority");
    }
}
