//! The audit log: every approval, rejection, refusal, configuration error, merge and
//! production deploy, appended in the transaction that decided it. Each entry carries the
//! hash of the entry before it, so editing, removing or inserting a row breaks the chain,
//! and `verify` finds where. The head ([`Head`]: the chain's length and newest hash) is
//! published outside the database (notifications, closing summaries); `verify` against a
//! published head proves the log still holds that entry, so truncating the log or rewriting
//! and re-hashing it is found too.
//!
//! Must not: update or delete entries; know what the entries mean (they are rows).

use sha2::{Digest, Sha256};

use super::{Store, StoreError, Tx, with_pool, with_tx};
use crate::settings::DatabaseKind;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry, as it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry<'a> {
    pub at: i64,
    pub repo: &'a str,
    pub pipeline_id: Option<i64>,
    pub delivery: Option<&'a str>,
    pub actor: &'a str,
    pub action: &'a str,
    pub detail: &'a str,
}

/// One entry, as it is stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub at: i64,
    pub repo: String,
    pub pipeline_id: Option<i64>,
    pub delivery: Option<String>,
    pub actor: String,
    pub action: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an entry's contents chained to `prev`: SHA-256 over the fields, each
/// length-prefixed so no two different entries read the same.
pub fn entry_hash(prev: &str, e: &NewEntry<'_>) -> String {
    let mut h = Sha256::new();
    let pipeline = e.pipeline_id.map(|p| p.to_string()).unwrap_or_default();
    let at = e.at.to_string();
    for field in [
        prev,
        at.as_str(),
        e.repo,
        pipeline.as_str(),
        e.delivery.unwrap_or(""),
        e.actor,
        e.action,
        e.detail,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The chain's head: how many entries it holds and the newest one's hash; written
/// `SEQ:HASH` where it is published. The SEQ-th entry (counting from 1) has hash HASH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl std::str::FromStr for Head {
    type Err = String;

    /// `SEQ:HASH`, HASH being 64 hex digits.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{text}` is not a head: expected SEQ:HASH (a number, a colon, 64 hex digits)")
        };
        let (seq, hash) = text.trim().split_once(':').ok_or_else(bad)?;
        let seq = seq.parse().map_err(|_| bad())?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        Ok(Self {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// The entry's contents do not give its hash (it was edited).
    Edited { id: i64 },
    /// The entry does not follow the one before it (one was removed, inserted or reordered).
    Unlinked { id: i64 },
    /// The newest entry is not the one the head records (entries were removed at the end).
    Truncated { head: String },
    /// An entry follows the newest one the head counts (it was added without the head).
    PastHead { id: i64 },
    /// The log holds fewer entries than a head published earlier (its tail was removed).
    ShorterThanPublished { published: Head, entries: u64 },
    /// The entry at a published head's position is not the one published (the log was
    /// rewritten and re-hashed).
    NotPublished { published: Head, found: String },
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broken::Edited { id } => write!(
                f,
                "audit entry {id} was changed after it was written (its hash does not match its contents)"
            ),
            Broken::Unlinked { id } => write!(
                f,
                "audit entry {id} does not follow the entry before it (an entry was removed or inserted)"
            ),
            Broken::Truncated { head } => write!(
                f,
                "the newest audit entry is not the last one written (head {head}): entries were removed"
            ),
            Broken::PastHead { id } => write!(
                f,
                "audit entry {id} comes after the newest entry the head records: it was added behind shipgate's back"
            ),
            Broken::ShorterThanPublished { published, entries } => write!(
                f,
                "the log holds {entries} entries, fewer than the published head {published}: entries were removed"
            ),
            Broken::NotPublished { published, found } => write!(
                f,
                "entry {} has hash {found}, not the published {}: the log was rewritten",
                published.seq, published.hash
            ),
        }
    }
}

impl Tx {
    /// Appends entries to the chain (locking its head until the transaction ends).
    pub async fn append_audit(&mut self, entries: &[NewEntry<'_>]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let head_sql = match self.kind() {
            DatabaseKind::Postgres => "SELECT hash, seq FROM audit_head WHERE id = 1 FOR UPDATE",
            DatabaseKind::Sqlite => "SELECT hash, seq FROM audit_head WHERE id = 1",
        };
        let (mut prev, seq): (String, i64) =
            with_tx!(self, conn => sqlx::query_as(head_sql).fetch_one(conn).await?);
        let insert = "INSERT INTO audit_log (at, repo, pipeline_id, delivery, actor, action, detail, prev_hash, hash) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        for e in entries {
            let hash = entry_hash(&prev, e);
            with_tx!(self, conn => sqlx::query(insert)
                .bind(e.at).bind(e.repo).bind(e.pipeline_id).bind(e.delivery)
                .bind(e.actor).bind(e.action).bind(e.detail).bind(&prev).bind(&hash)
                .execute(conn).await?.rows_affected());
            prev = hash;
        }
        let update = "UPDATE audit_head SET hash = $1, seq = $2 WHERE id = 1";
        let seq = seq + entries.len() as i64;
        with_tx!(self, conn => sqlx::query(update).bind(&prev).bind(seq).execute(conn).await?.rows_affected());
        Ok(())
    }
}

impl Store {
    /// Entries in order, `after` the given id, at most `limit`.
    pub async fn audit_entries(&self, after: i64, limit: i64) -> Result<Vec<Entry>, StoreError> {
        let sql = "SELECT id, at, repo, pipeline_id, delivery, actor, action, detail, prev_hash, hash \
                   FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2";
        Ok(
            with_pool!(self, pool => sqlx::query_as(sql).bind(after).bind(limit).fetch_all(pool).await?),
        )
    }

    /// The chain's head now.
    pub async fn audit_head(&self) -> Result<Head, StoreError> {
        let sql = "SELECT hash, seq FROM audit_head WHERE id = 1";
        let (hash, seq): (String, i64) =
            with_pool!(self, pool => sqlx::query_as(sql).fetch_one(pool).await?);
        Ok(Head {
            seq: u64::try_from(seq).unwrap_or(0),
            hash,
        })
    }

    /// Walks the whole chain; the number of entries if it holds, else where it breaks.
    pub async fn verify_audit(&self) -> Result<Result<u64, Broken>, StoreError> {
        self.verify_audit_against(&[]).await
    }

    /// Like [`Store::verify_audit`], and the chain must hold every `published` head: its
    /// SEQ-th entry has that hash. The chain is checked up to the head read first, so entries
    /// appended while it runs (a live shipgate) are not mistaken for a broken tail.
    pub async fn verify_audit_against(
        &self,
        published: &[Head],
    ) -> Result<Result<u64, Broken>, StoreError> {
        let head = self.audit_head().await?;
        let mut prev = GENESIS.to_owned();
        let (mut after, mut count) = (0, 0u64);
        'walk: while count < head.seq {
            let page = self.audit_entries(after, 1000).await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                if e.prev_hash != prev {
                    return Ok(Err(Broken::Unlinked { id: e.id }));
                }
                let contents = NewEntry {
                    at: e.at,
                    repo: &e.repo,
                    pipeline_id: e.pipeline_id,
                    delivery: e.delivery.as_deref(),
                    actor: &e.actor,
                    action: &e.action,
                    detail: &e.detail,
                };
                if entry_hash(&prev, &contents) != e.hash {
                    return Ok(Err(Broken::Edited { id: e.id }));
                }
                prev = e.hash.clone();
                after = e.id;
                count += 1;
                if let Some(p) = published
                    .iter()
                    .find(|p| p.seq == count && p.hash != e.hash)
                {
                    return Ok(Err(Broken::NotPublished {
                        published: p.clone(),
                        found: e.hash.clone(),
                    }));
                }
                if count == head.seq {
                    break 'walk;
                }
            }
        }
        if let Some(p) = published.iter().find(|p| p.seq > count) {
            return Ok(Err(Broken::ShorterThanPublished {
                published: p.clone(),
                entries: count,
            }));
        }
        if let Some(p) = published.iter().find(|p| p.seq == 0 && p.hash != GENESIS) {
            return Ok(Err(Broken::NotPublished {
                published: p.clone(),
                found: GENESIS.to_owned(),
            }));
        }
        if head.hash != prev || head.seq != count {
            return Ok(Err(Broken::Truncated {
                head: head.to_string(),
            }));
        }
        // An entry past the head is a live append (the head has moved on since) or one added
        // behind shipgate's back (not chained to the head, or the head never counted it).
        if let Some(e) = self.audit_entries(after, 1).await?.first() {
            if e.prev_hash != prev {
                return Ok(Err(Broken::Unlinked { id: e.id }));
            }
            if self.audit_head().await?.seq <= head.seq {
                return Ok(Err(Broken::PastHead { id: e.id }));
            }
        }
        Ok(Ok(count))
    }
}
