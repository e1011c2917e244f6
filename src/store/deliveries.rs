//! The `deliveries` table: every webhook delivery GitHub sent, once per GUID.
//!
//! Owns: inserting batches (the group-commit writer's unit), the worker's queue of pending
//! deliveries (claimed inside a transaction, `FOR UPDATE SKIP LOCKED` on PostgreSQL), and
//! reading a delivery back with its original body.
//! Must not: decide whether an event matters (ingest does) or what it means (the worker does).

use super::codec::Codec;
use super::{Store, StoreError, Tx, with_pool, with_tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Ignored,
    Processed,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Ignored => "ignored",
            DeliveryStatus::Processed => "processed",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeliveryStatus::Pending,
            "ignored" => DeliveryStatus::Ignored,
            "processed" => DeliveryStatus::Processed,
            "failed" => DeliveryStatus::Failed,
            _ => return None,
        })
    }
}

/// A delivery as ingest hands it over. `body` is already compressed (ingest does that work
/// off the writer), `None` for ignored events.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub repository: Option<String>,
    pub status: DeliveryStatus,
    pub headers_json: String,
    pub body: Option<(Codec, Vec<u8>)>,
    pub body_len: i64,
    pub received_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    Stored {
        id: i64,
    },
    /// A delivery with this GUID was already stored (a redelivery).
    Duplicate,
}

/// A stored delivery, body restored.
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
    pub body_len: i64,
    /// Bytes the row holds for the body (compressed), to show what compression saves.
    pub stored_body_len: i64,
    pub received_at: i64,
    pub attempts: i64,
    pub processed_at: Option<i64>,
    pub error: Option<String>,
}

const INSERT: &str = "INSERT INTO deliveries \
    (delivery_id, event, action, installation_id, repository, status, headers, body_codec, body, body_len, received_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
    ON CONFLICT (delivery_id) DO NOTHING RETURNING id";

/// `SELECT <every column> FROM deliveries <tail>` as one static string.
macro_rules! select_deliveries {
    ($tail:literal) => {
        concat!(
            "SELECT id, delivery_id, event, action, installation_id, repository, status, headers, \
             body_codec, body, body_len, received_at, attempts, processed_at, error FROM deliveries ",
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
    status: String,
    headers: String,
    body_codec: Option<String>,
    body: Option<Vec<u8>>,
    body_len: i64,
    received_at: i64,
    attempts: i32,
    processed_at: Option<i64>,
    error: Option<String>,
}

impl TryFrom<DeliveryRow> for StoredDelivery {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        let stored_body_len = row.body.as_ref().map_or(0, |b| b.len() as i64);
        let body = match (row.body_codec, row.body) {
            (Some(name), Some(bytes)) => {
                let codec = Codec::from_name(&name)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown body codec {name}")))?;
                Some(codec.decompress(&bytes, row.body_len as usize)?)
            }
            _ => None,
        };
        Ok(StoredDelivery {
            id: row.id,
            delivery_id: row.delivery_id,
            event: row.event,
            action: row.action,
            installation_id: row.installation_id,
            repository: row.repository,
            status: DeliveryStatus::parse(&row.status).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown delivery status {}", row.status))
            })?,
            headers_json: row.headers,
            body,
            body_len: row.body_len,
            stored_body_len,
            received_at: row.received_at,
            attempts: i64::from(row.attempts),
            processed_at: row.processed_at,
            error: row.error,
        })
    }
}

impl Store {
    /// Stores a batch in one transaction; duplicates (within the batch or already stored) are
    /// reported, not errors. Either every row of the batch is committed or none is.
    pub async fn insert_deliveries(
        &self,
        batch: &[NewDelivery],
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut tx = self.begin().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for d in batch {
            let (codec, body) = match &d.body {
                Some((codec, bytes)) => (Some(codec.name()), Some(bytes.as_slice())),
                None => (None, None),
            };
            let id: Option<i64> = with_tx!(&mut tx, conn => sqlx::query_scalar(INSERT)
                .bind(&d.delivery_id)
                .bind(&d.event)
                .bind(d.action.as_deref())
                .bind(d.installation_id)
                .bind(d.repository.as_deref())
                .bind(d.status.as_str())
                .bind(&d.headers_json)
                .bind(codec)
                .bind(body)
                .bind(d.body_len)
                .bind(d.received_at)
                .fetch_optional(conn)
                .await?);
            outcomes.push(match id {
                Some(id) => InsertOutcome::Stored { id },
                None => InsertOutcome::Duplicate,
            });
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    pub async fn delivery(&self, delivery_id: &str) -> Result<Option<StoredDelivery>, StoreError> {
        let sql = select_deliveries!("WHERE delivery_id = $1");
        let row: Option<DeliveryRow> = with_pool!(self, pool => sqlx::query_as(sql).bind(delivery_id).fetch_optional(pool).await?);
        row.map(StoredDelivery::try_from).transpose()
    }

    /// Number of stored deliveries per status.
    pub async fn delivery_counts(&self) -> Result<Vec<(DeliveryStatus, i64)>, StoreError> {
        let sql = "SELECT status, COUNT(*) FROM deliveries GROUP BY status ORDER BY status";
        let rows: Vec<(String, i64)> =
            with_pool!(self, pool => sqlx::query_as(sql).fetch_all(pool).await?);
        rows.into_iter()
            .map(|(s, n)| {
                DeliveryStatus::parse(&s)
                    .map(|s| (s, n))
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery status {s}")))
            })
            .collect()
    }

    /// All deliveries with the given status, oldest first (for tests, replay and the API).
    pub async fn deliveries_with_status(
        &self,
        status: DeliveryStatus,
    ) -> Result<Vec<StoredDelivery>, StoreError> {
        let sql = select_deliveries!("WHERE status = $1 ORDER BY id");
        let rows: Vec<DeliveryRow> = with_pool!(self, pool => sqlx::query_as(sql).bind(status.as_str()).fetch_all(pool).await?);
        rows.into_iter().map(StoredDelivery::try_from).collect()
    }

    /// Opens a transaction holding the oldest pending delivery, or `None` if there is none.
    /// On PostgreSQL other replicas skip the locked row; on SQLite the transaction holds the
    /// write lock. The caller records the outcome with [`Tx::finish_delivery`] and commits.
    pub async fn claim_pending_delivery(&self) -> Result<Option<(Tx, StoredDelivery)>, StoreError> {
        let mut tx = self.begin().await?;
        let row: Option<DeliveryRow> = match &mut tx {
            Tx::Sqlite(t) => {
                let sql = select_deliveries!("WHERE status = 'pending' ORDER BY id LIMIT 1");
                sqlx::query_as(sql).fetch_optional(&mut **t).await?
            }
            Tx::Postgres(t) => {
                let sql = select_deliveries!(
                    "WHERE status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
                );
                sqlx::query_as(sql).fetch_optional(&mut **t).await?
            }
        };
        match row.map(StoredDelivery::try_from).transpose()? {
            Some(d) => Ok(Some((tx, d))),
            None => {
                tx.rollback().await?;
                Ok(None)
            }
        }
    }

    /// Counts a failed attempt at a pending delivery (outside the failed transaction).
    pub async fn note_delivery_attempt(&self, id: i64, error: &str) -> Result<(), StoreError> {
        let sql = "UPDATE deliveries SET attempts = attempts + 1, error = $2 WHERE id = $1";
        with_pool!(self, pool => sqlx::query(sql).bind(id).bind(error).execute(pool).await?.rows_affected());
        Ok(())
    }
}

impl Tx {
    /// Records what became of a claimed delivery.
    pub async fn finish_delivery(
        &mut self,
        id: i64,
        status: DeliveryStatus,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE deliveries SET status = $2, error = $3, processed_at = $4 WHERE id = $1";
        with_tx!(self, conn => sqlx::query(sql)
            .bind(id)
            .bind(status.as_str())
            .bind(error)
            .bind(now_ms)
            .execute(conn)
            .await?.rows_affected());
        Ok(())
    }
}
