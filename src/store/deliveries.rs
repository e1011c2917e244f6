//! Webhook deliveries: the append-only `deliveries` log, the worker's `delivery_queue` and
//! `delivery_outcomes`, and `delivery_guids` (the first delivery taken for each GUID).
//!
//! Ingest only appends, in batches (the group-commit writer's unit), and touches no index but
//! primary keys that grow at the end: an index on the random GUID, or a status column updated
//! later, would each rewrite pages in every commit. A trigger queues each stored delivery.
//! The worker reads the queue, locks a batch in a short write transaction (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL), takes the GUIDs, records outcomes and dequeues — all in that one
//! transaction, so a redelivery is stored, but never processed twice.
//! Must not: decide what an event means (the worker does).

use std::collections::HashSet;
use std::sync::LazyLock;

use super::codec::Codec;
use super::{Store, StoreError, Tx, TxConn, with_pool, with_tx};
use crate::settings::DatabaseKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryStatus {
    /// Stored and queued for the worker (perhaps after failed attempts: see `attempts`).
    Pending,
    /// Taken by the worker and applied.
    Processed,
    /// An event shipgate does not act on; only its headers were kept.
    Ignored,
    /// A redelivery of a GUID the worker had already taken.
    Duplicate,
    /// Could not be decoded (the reason is in `error`).
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Processed,
        DeliveryStatus::Ignored,
        DeliveryStatus::Duplicate,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Processed => "processed",
            DeliveryStatus::Ignored => "ignored",
            DeliveryStatus::Duplicate => "duplicate",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Reads a delivery's status from its outcome and whether it is still queued.
    fn from_outcome(s: Option<&str>, queued: bool) -> Result<Self, StoreError> {
        if queued {
            return Ok(DeliveryStatus::Pending);
        }
        match s {
            None | Some("retrying") => Ok(DeliveryStatus::Pending),
            Some(s) => Self::ALL
                .into_iter()
                .find(|status| status.as_str() == s)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery outcome {s}"))),
        }
    }
}

/// A delivery as ingest hands it over. `body` is already compressed (on the request path,
/// which spreads the work over all cores), `None` for events shipgate does not handle.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub repository: Option<String>,
    pub headers_json: String,
    pub body: Option<(Codec, Vec<u8>)>,
    pub body_len: i64,
    pub received_at: i64,
}

/// A stored delivery with its outcome, body restored.
#[derive(Debug, Clone)]
pub struct StoredDelivery {
    pub id: i64,
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub repository: Option<String>,
    pub status: DeliveryStatus,
    pub headers_json: String,
    pub body: Option<Vec<u8>>,
    /// Why a stored body could not be restored (damaged data, unknown codec).
    pub body_error: Option<String>,
    pub body_len: i64,
    /// Bytes the row holds for the body (compressed), to show what compression saves.
    pub stored_body_len: i64,
    pub received_at: i64,
    pub attempts: i64,
    /// When the outcome was recorded.
    pub processed_at: Option<i64>,
    pub error: Option<String>,
}

/// What the worker made of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub id: i64,
    pub status: DeliveryStatus,
    pub error: Option<String>,
}

const INSERT_COLUMNS: usize = 9;
/// Rows per statement: a batch is written as a few multi-row statements of power-of-two
/// sizes, so only a handful of statement shapes are ever prepared.
const MAX_ROWS_PER_STATEMENT: usize = 64;

/// Builds the `rows`-row form of a statement for both placeholder styles: `?` for SQLite
/// (which binds them faster than numbered ones) and `$n` for PostgreSQL.
struct Shapes {
    sqlite: Vec<String>,
    postgres: Vec<String>,
}

impl Shapes {
    fn new(build: fn(&dyn Fn(usize) -> String, usize) -> String) -> Self {
        let make = |numbered: bool| -> Vec<String> {
            (0..=MAX_ROWS_PER_STATEMENT)
                .map(|rows| {
                    let placeholder = |n: usize| {
                        if numbered {
                            format!("${n}")
                        } else {
                            "?".to_owned()
                        }
                    };
                    build(&placeholder, rows)
                })
                .collect()
        };
        Self {
            sqlite: make(false),
            postgres: make(true),
        }
    }

    fn get(&'static self, kind: DatabaseKind, rows: usize) -> &'static str {
        match kind {
            DatabaseKind::Sqlite => &self.sqlite[rows],
            DatabaseKind::Postgres => &self.postgres[rows],
        }
    }
}

/// `(p1, p2, …)` groups of `width` placeholders for `rows` rows.
fn tuples(p: &dyn Fn(usize) -> String, rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| {
            format!(
                "({})",
                (1..=width)
                    .map(|c| p(r * width + c))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

static INSERT_DELIVERIES: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(|p, rows| {
        format!(
            "INSERT INTO deliveries (delivery_id, event, action, installation_id, repository, headers, \
             body_codec, body, body_len, received_at) VALUES {}",
            tuples(p, rows, INSERT_COLUMNS + 1)
        )
    })
});

static LOCK_PENDING: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(|p, rows| {
        let ids = (1..=rows).map(p).collect::<Vec<_>>().join(", ");
        format!("SELECT id FROM delivery_queue WHERE id IN ({ids})")
    })
});

static DEQUEUE: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(|p, rows| {
        let ids = (1..=rows).map(p).collect::<Vec<_>>().join(", ");
        format!("DELETE FROM delivery_queue WHERE id IN ({ids})")
    })
});

static TAKE_GUIDS: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(|p, rows| {
        format!(
            "INSERT INTO delivery_guids (delivery_id, id) VALUES {} ON CONFLICT (delivery_id) DO NOTHING",
            tuples(p, rows, 2)
        )
    })
});

static RECORD_OUTCOMES: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(|p, rows| {
        format!(
            "INSERT INTO delivery_outcomes (id, status, error, updated_at) VALUES {} \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, error = excluded.error, \
             updated_at = excluded.updated_at",
            tuples(p, rows, 4)
        )
    })
});

/// Error text as both back ends store it (PostgreSQL refuses NUL characters in text).
fn storable(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

/// Splits `items` into chunks of MAX_ROWS_PER_STATEMENT, then powers of two.
fn chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if items.is_empty() {
            return None;
        }
        let take = if items.len() >= MAX_ROWS_PER_STATEMENT {
            MAX_ROWS_PER_STATEMENT
        } else {
            1 << (usize::BITS - 1 - items.len().leading_zeros())
        };
        let (chunk, rest) = items.split_at(take);
        items = rest;
        Some(chunk)
    })
}

/// `SELECT <delivery and outcome columns> FROM deliveries d LEFT JOIN delivery_outcomes o …
/// <tail>` as one static string.
macro_rules! select_deliveries {
    ($tail:literal) => {
        concat!(
            "SELECT d.id, d.delivery_id, d.event, d.action, d.installation_id, d.repository, d.headers, \
             d.body_codec, d.body, d.body_len, d.received_at, o.status, o.attempts, o.error, o.updated_at, \
             q.id AS queued FROM deliveries d LEFT JOIN delivery_outcomes o ON o.id = d.id \
             LEFT JOIN delivery_queue q ON q.id = d.id ",
            $tail
        )
    };
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    delivery_id: String,
    event: String,
    action: Option<String>,
    installation_id: Option<i64>,
    repository: Option<String>,
    headers: String,
    body_codec: Option<String>,
    body: Option<Vec<u8>>,
    body_len: i64,
    received_at: i64,
    status: Option<String>,
    attempts: Option<i32>,
    error: Option<String>,
    updated_at: Option<i64>,
    queued: Option<i64>,
}

impl TryFrom<DeliveryRow> for StoredDelivery {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        let stored_body_len = row.body.as_ref().map_or(0, |b| b.len() as i64);
        // A damaged body fails only its own delivery, not every read of the queue.
        let (body, body_error) = match (row.body_codec, row.body) {
            (Some(name), Some(bytes)) => match Codec::from_name(&name)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown body codec {name}")))
                .and_then(|codec| codec.decompress(&bytes, row.body_len as usize))
            {
                Ok(body) => (Some(body), None),
                Err(e) => (None, Some(e.to_string())),
            },
            _ => (None, None),
        };
        let status = DeliveryStatus::from_outcome(row.status.as_deref(), row.queued.is_some())?;
        Ok(StoredDelivery {
            id: row.id,
            delivery_id: row.delivery_id,
            event: row.event,
            action: row.action,
            installation_id: row.installation_id,
            repository: row.repository,
            status,
            headers_json: row.headers,
            body,
            body_error,
            body_len: row.body_len,
            stored_body_len,
            received_at: row.received_at,
            attempts: i64::from(row.attempts.unwrap_or(0)),
            processed_at: row.updated_at.filter(|_| status != DeliveryStatus::Pending),
            error: row.error,
        })
    }
}

fn decode_rows(rows: Vec<DeliveryRow>) -> Result<Vec<StoredDelivery>, StoreError> {
    rows.into_iter().map(StoredDelivery::try_from).collect()
}

impl Store {
    /// Appends a batch, all or nothing, in one transaction of a few multi-row statements.
    /// The statements return no rows: sqlx hands returned rows across threads one at a time,
    /// which would cost more than the insert.
    pub async fn insert_deliveries(&self, batch: &[NewDelivery]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for chunk in chunks(batch) {
            let sql = INSERT_DELIVERIES.get(self.kind(), chunk.len());
            with_tx!(&mut tx, conn => {
                let mut query = sqlx::query(sql);
                for d in chunk {
                    let (codec, body) = match &d.body {
                        Some((codec, bytes)) => (Some(codec.name()), Some(bytes.as_slice())),
                        None => (None, None),
                    };
                    query = query
                        .bind(d.delivery_id.as_str())
                        .bind(d.event.as_str())
                        .bind(d.action.as_deref())
                        .bind(d.installation_id)
                        .bind(d.repository.as_deref())
                        .bind(d.headers_json.as_str())
                        .bind(codec)
                        .bind(body)
                        .bind(d.body_len)
                        .bind(d.received_at);
                }
                query.execute(conn).await?.rows_affected()
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// The delivery a GUID names: the one the worker took for it, or else the oldest one
    /// still queued. One statement, so a worker committing meanwhile cannot hide it.
    pub async fn delivery(&self, delivery_id: &str) -> Result<Option<StoredDelivery>, StoreError> {
        let sql = select_deliveries!(
            "WHERE d.id = COALESCE(\
               (SELECT g.id FROM delivery_guids g WHERE g.delivery_id = $1), \
               (SELECT MIN(q2.id) FROM delivery_queue q2 JOIN deliveries d2 ON d2.id = q2.id WHERE d2.delivery_id = $1))"
        );
        let row: Option<DeliveryRow> = with_pool!(self, pool => sqlx::query_as(sql).bind(delivery_id).fetch_optional(pool).await?);
        row.map(StoredDelivery::try_from).transpose()
    }

    /// How many deliveries wait for the worker.
    pub async fn queue_length(&self) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM delivery_queue";
        Ok(with_pool!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await?))
    }

    /// Number of stored deliveries per status (reads every row: for tests and tools, not
    /// for pages anyone can load).
    pub async fn delivery_counts(&self) -> Result<Vec<(DeliveryStatus, i64)>, StoreError> {
        let sql = "SELECT o.status, q.id IS NOT NULL, COUNT(*) FROM deliveries d \
                   LEFT JOIN delivery_outcomes o ON o.id = d.id LEFT JOIN delivery_queue q ON q.id = d.id \
                   GROUP BY o.status, q.id IS NOT NULL";
        let rows: Vec<(Option<String>, bool, i64)> =
            with_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await?);
        let mut counts: Vec<(DeliveryStatus, i64)> = Vec::new();
        for (status, queued, n) in rows {
            let status = DeliveryStatus::from_outcome(status.as_deref(), queued)?;
            match counts.iter_mut().find(|(s, _)| *s == status) {
                Some((_, total)) => *total += n,
                None => counts.push((status, n)),
            }
        }
        counts.sort();
        Ok(counts)
    }

    /// All deliveries with the given status, oldest first (for tests, replay and the API).
    pub async fn deliveries_with_status(
        &self,
        status: DeliveryStatus,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        let rows: Vec<DeliveryRow> = if status == DeliveryStatus::Pending {
            let sql = select_deliveries!("WHERE q.id IS NOT NULL ORDER BY d.id");
            with_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await?)
        } else {
            let sql = select_deliveries!("WHERE q.id IS NULL AND o.status = $1 ORDER BY d.id");
            with_pool!(self, pool => sqlx::query_as(sql).bind(status.as_str()).fetch_all(pool).await?)
        };
        decode_rows(rows)
    }

    /// Up to `limit` of the oldest queued deliveries, without locking them (the worker
    /// decodes them before it takes a lock; see [`Store::lock_pending`]).
    pub async fn pending_deliveries(&self, limit: i64) -> Result<Vec<StoredDelivery>, StoreError> {
        let sql = select_deliveries!(
            "WHERE d.id IN (SELECT id FROM delivery_queue ORDER BY id LIMIT $1) ORDER BY d.id"
        );
        let rows: Vec<DeliveryRow> =
            with_pool!(self, pool => sqlx::query_as(sql).bind(limit).fetch_all(pool).await?);
        decode_rows(rows)
    }

    /// Opens a write transaction and locks those of `ids` that are still pending, returning
    /// them. On PostgreSQL rows another replica holds are skipped (`FOR UPDATE SKIP LOCKED`);
    /// on SQLite the transaction holds the write lock.
    pub async fn lock_pending(&self, ids: &[i64]) -> Result<(Tx, Vec<i64>), StoreError> {
        let mut tx = self.begin().await?;
        let mut locked = Vec::with_capacity(ids.len());
        for chunk in chunks(ids) {
            let found: Vec<i64> = match &mut tx.conn {
                TxConn::Sqlite(t) => {
                    let mut query = sqlx::query_scalar(LOCK_PENDING.get(self.kind(), chunk.len()));
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    query.fetch_all(&mut **t).await?
                }
                TxConn::Postgres(t) => {
                    let sql =
                        "SELECT id FROM delivery_queue WHERE id = ANY($1) FOR UPDATE SKIP LOCKED";
                    sqlx::query_scalar(sql)
                        .bind(chunk)
                        .fetch_all(&mut **t)
                        .await?
                }
            };
            locked.extend(found);
        }
        Ok((tx, locked))
    }

    /// Counts a failed attempt at a pending delivery (outside the failed transaction).
    pub async fn note_delivery_attempt(
        &self,
        id: i64,
        error: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO delivery_outcomes (id, status, attempts, error, updated_at) VALUES ($1, 'retrying', 1, $2, $3) \
                   ON CONFLICT (id) DO UPDATE SET attempts = delivery_outcomes.attempts + 1, error = excluded.error, \
                   updated_at = excluded.updated_at";
        with_pool!(self, pool => sqlx::query(sql).bind(id).bind(storable(error)).bind(now_ms).execute(pool).await?.rows_affected());
        Ok(())
    }
}

impl Tx {
    /// Records that these deliveries are the ones processed for their GUIDs, and returns the
    /// ids of those that are not: another delivery with the GUID was taken first (earlier, or
    /// earlier in `deliveries`). On PostgreSQL a replica taking the same GUID at the same
    /// moment waits for this transaction.
    pub async fn take_guids(
        &mut self,
        deliveries: &[(&str, i64)],
    ) -> Result<HashSet<i64>, StoreError> {
        let mut duplicates = HashSet::new();
        let kind = self.kind();
        for chunk in chunks(deliveries) {
            let inserted = with_tx!(self, conn => {
                let mut query = sqlx::query(TAKE_GUIDS.get(kind, chunk.len()));
                for (guid, id) in chunk {
                    query = query.bind(*guid).bind(*id);
                }
                query.execute(conn).await?.rows_affected()
            });
            if inserted as usize == chunk.len() {
                continue;
            }
            // Some GUIDs were taken before (a redelivery): ask which id each GUID belongs to.
            for (guid, id) in chunk {
                let sql = "SELECT id FROM delivery_guids WHERE delivery_id = $1";
                let owner: i64 = with_tx!(self, conn => sqlx::query_scalar(sql).bind(*guid).fetch_one(conn).await?);
                if owner != *id {
                    duplicates.insert(*id);
                }
            }
        }
        Ok(duplicates)
    }

    /// Records what became of locked deliveries and takes them off the queue.
    pub async fn record_outcomes(
        &mut self,
        outcomes: &[Outcome],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let kind = self.kind();
        for chunk in chunks(outcomes) {
            with_tx!(self, conn => {
                let mut query = sqlx::query(RECORD_OUTCOMES.get(kind, chunk.len()));
                for o in chunk {
                    query = query.bind(o.id).bind(o.status.as_str()).bind(o.error.as_deref().map(storable)).bind(now_ms);
                }
                query.execute(conn).await?.rows_affected()
            });
            with_tx!(self, conn => {
                let mut query = sqlx::query(DEQUEUE.get(kind, chunk.len()));
                for o in chunk {
                    query = query.bind(o.id);
                }
                query.execute(conn).await?.rows_affected()
            });
        }
        Ok(())
    }
}
