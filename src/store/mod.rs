//! Storage: one [`Store`] over SQLite (embedded default, WAL) or PostgreSQL (replicas).
//!
//! Owns: connecting, migrations, and every SQL statement, written once with `$n` placeholders
//! that both back ends accept; each submodule owns one group of tables.
//! Must not: know GitHub's payload shapes or the pipeline's rules — it stores rows.

pub mod audit;
pub mod codec;
pub mod deliveries;
pub mod gauges;
pub mod group_commit;
pub mod installations;
pub mod listing;
pub mod load;
pub mod pipelines;
pub mod recovery;
pub mod sessions;
pub mod setup_states;

use std::str::FromStr;
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, PgPool, SqlitePool};

use crate::settings::{DatabaseKind, DatabaseUrl};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The database. Cheap to clone (pools are reference-counted).
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("the store is shutting down")]
    Closed,
}

/// Runs the same code against whichever pool the store has. Inside, `$pool` is a concrete
/// `SqlitePool` or `PgPool`, so one query text serves both back ends.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// An open write transaction on either back end. Everything one unit of work writes (a
/// delivery's status, and later pipeline state, outbox and timers) goes through one `Tx`.
/// What else happens once it commits is registered with [`Tx::after_commit`].
pub struct Tx {
    conn: TxConn,
    after_commit: Vec<Box<dyn FnOnce() + Send>>,
}

pub(crate) enum TxConn {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Like [`with_pool!`] for a transaction: `$conn` is the concrete connection.
macro_rules! with_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match &mut ($tx).conn {
            $crate::store::TxConn::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            $crate::store::TxConn::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}
pub(crate) use with_tx;

impl Tx {
    fn new(conn: TxConn) -> Self {
        Tx {
            conn,
            after_commit: Vec::new(),
        }
    }

    pub fn kind(&self) -> DatabaseKind {
        match self.conn {
            TxConn::Sqlite(_) => DatabaseKind::Sqlite,
            TxConn::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    /// Runs `then` once the transaction has committed; never if it rolls back or fails.
    /// For what must count only what was saved (metrics of pipeline changes).
    pub fn after_commit(&mut self, then: impl FnOnce() + Send + 'static) {
        self.after_commit.push(Box::new(then));
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self.conn {
            TxConn::Sqlite(tx) => tx.commit().await?,
            TxConn::Postgres(tx) => tx.commit().await?,
        }
        for then in self.after_commit {
            then();
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.conn {
            TxConn::Sqlite(tx) => tx.rollback().await?,
            TxConn::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

/// Milliseconds since the Unix epoch, the one time format in every table.
pub fn millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl Store {
    /// Connects (creating an SQLite file if missing). Errors never contain the URL.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, ConnectError> {
        Self::connect_sized(url, None).await
    }

    /// A store with a single connection (background upkeep).
    pub async fn connect_single(url: &DatabaseUrl) -> Result<Self, ConnectError> {
        Self::connect_sized(url, Some(1)).await
    }

    async fn connect_sized(
        url: &DatabaseUrl,
        connections: Option<u32>,
    ) -> Result<Self, ConnectError> {
        let text = url.url.expose_secret();
        let pool = match url.kind {
            DatabaseKind::Sqlite => {
                let options = SqliteConnectOptions::from_str(text)
                    .map_err(|_| ConnectError::InvalidUrl)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a commit is on disk before shipgate answers 202. Group commit makes
                    // the fsync cheap per delivery.
                    .synchronous(SqliteSynchronous::Full)
                    // Checkpoints run in the background when ingest pauses (see
                    // engine::background), not inside commits; this is the safety net (~2 GiB).
                    // After a checkpoint the log file is cut back to 64 MiB.
                    .pragma("wal_autocheckpoint", "500000")
                    .pragma("journal_size_limit", "67108864")
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .log_statements(tracing::log::LevelFilter::Trace);
                let pool = SqlitePoolOptions::new()
                    .max_connections(connections.unwrap_or(8))
                    .min_connections(1)
                    .connect_with(options)
                    .await
                    .map_err(ConnectError::from_sqlx)?;
                Pool::Sqlite(pool)
            }
            DatabaseKind::Postgres => {
                let options = PgConnectOptions::from_str(text)
                    .map_err(|_| ConnectError::InvalidUrl)?
                    .log_statements(tracing::log::LevelFilter::Trace);
                let pool = PgPoolOptions::new()
                    .max_connections(connections.unwrap_or(16))
                    // Under GitHub's 10 s delivery deadline, with room to answer 503.
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await
                    .map_err(ConnectError::from_sqlx)?;
                Pool::Postgres(pool)
            }
        };
        Ok(Self { pool })
    }

    pub fn kind(&self) -> DatabaseKind {
        match self.pool {
            Pool::Sqlite(_) => DatabaseKind::Sqlite,
            Pool::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so two writers queue on the busy timeout instead of failing mid-way.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => {
                Tx::new(TxConn::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?))
            }
            Pool::Postgres(pool) => Tx::new(TxConn::Postgres(pool.begin().await?)),
        })
    }

    /// Applies every migration not yet applied. Safe to run on every start.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Versions of the migrations applied to this database, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        Ok(with_pool!(self, pool => sqlx::query_scalar(sql).fetch_all(pool).await?))
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Copies the SQLite write-ahead log back into the database file without waiting for
    /// anyone (a PASSIVE checkpoint). The background thread calls it when ingest pauses, so
    /// commits never pay for it and pages rewritten by many commits are copied once. No-op on
    /// PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if let Pool::Sqlite(pool) = &self.pool {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }
}

/// Why the database could not be opened, worded for an operator and free of the URL.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("setting DATABASE_URL: is not a valid database URL")]
    InvalidUrl,
    #[error("setting DATABASE_URL: could not connect to the database ({0})")]
    Unreachable(String),
}

impl ConnectError {
    fn from_sqlx(e: sqlx::Error) -> Self {
        // sqlx's own messages can quote connection parameters; keep only the kind of failure.
        let reason = match &e {
            sqlx::Error::Io(io) => format!("I/O error: {}", io.kind()),
            sqlx::Error::Database(db) => format!(
                "the server refused: {}",
                db.code()
                    .map(|c| c.into_owned())
                    .unwrap_or_else(|| "no code".into())
            ),
            sqlx::Error::PoolTimedOut => "timed out".into(),
            sqlx::Error::Tls(_) => "TLS failure".into(),
            sqlx::Error::Configuration(_) => "invalid connection options".into(),
            _ => "connection failed".into(),
        };
        ConnectError::Unreachable(reason)
    }
}
