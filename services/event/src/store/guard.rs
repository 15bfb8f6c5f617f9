//! Conditional writes that hold on FerretDB too.
//!
//! MongoDB applies `updateOne({_id, revision: n}, …)` atomically: the filter
//! and the write are one step. FerretDB 1.24 does not: it reads the matching
//! documents, applies the update in its own process and writes the whole
//! document back, so two writers of one document can both match and the
//! later silently undoes the earlier (measured: 8 parallel `$inc`s of one
//! field left it at 2..4). An insert of an existing `_id`, however, fails on
//! both servers, atomically — PostgreSQL's unique index decides.
//!
//! So every write of a venue or event document first claims its next
//! `revision` by inserting `<collection>:<id>:<revision>` into `claims`. Only
//! one writer gets each revision, and a writer can only ask for the revision
//! after the one it read, so writes of one document happen one at a time, in
//! order, on either server. The document's own `revision` filter stays in the
//! update (on MongoDB it is the real check; on FerretDB the claim is).
//!
//! Failure handling, by time:
//! - a writer writes within `WRITE_DEADLINE` of its read or not at all;
//! - a claim older than `STALE_CLAIM` whose revision the document never got
//!   was left by a writer that stopped: the next writer skips past it;
//! - claims are deleted after `KEEP_CLAIMS` (no TTL index on FerretDB): long
//!   after any read they could guard against has expired.

use super::{StoreError, StoreResult};
use mongodb::bson::{self, doc, Bson, Document};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::Collection;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);
pub const STALE_CLAIM: Duration = Duration::from_secs(30);
pub const KEEP_CLAIMS: Duration = Duration::from_secs(600);
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Re-reads after losing a claim to a writer that changed nothing we check
/// (the relay, usually); past them the caller sees a conflict.
const ATTEMPTS: u32 = 6;
/// Stale claims skipped in a row before giving up.
const MAX_SKIPS: i64 = 3;

const DUPLICATE_KEY: i32 = 11000;

pub fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    matches!(&*error.kind, ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY)
        || matches!(&*error.kind, ErrorKind::InsertMany(e)
            if e.write_errors.as_ref().is_some_and(|w| w.iter().any(|e| e.code == DUPLICATE_KEY)))
}

/// What the caller wants done to the current document.
pub enum Decision {
    /// Apply this update (`$set`, `$push`, …); the revision is added.
    Write(Document),
    /// Nothing to change.
    Nothing,
}

/// The `claims` collection and when it was last swept.
#[derive(Clone)]
pub struct Claims {
    claims: Collection<Document>,
    last_sweep_ms: Arc<AtomicI64>,
}

fn revision_of(document: &Document) -> i64 {
    match document.get("revision") {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        _ => 0,
    }
}

/// Documents written before revisions existed have none: revision 0.
fn revision_filter(revision: i64) -> Document {
    if revision == 0 {
        doc! {"$or": [{"revision": 0_i64}, {"revision": {"$exists": false}}]}
    } else {
        doc! {"revision": revision}
    }
}

fn age(at: bson::DateTime) -> Duration {
    let ms = bson::DateTime::now().timestamp_millis() - at.timestamp_millis();
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Claims {
    pub fn new(claims: Collection<Document>) -> Self {
        Self {
            claims,
            last_sweep_ms: Arc::new(AtomicI64::new(0)),
        }
    }

    pub fn collection(&self) -> &Collection<Document> {
        &self.claims
    }

    /// The revision after `revision` for this document, or `None` when
    /// another writer holds it.
    async fn claim(&self, key: &str, revision: i64) -> StoreResult<Option<i64>> {
        let mut next = revision + 1;
        while next <= revision + MAX_SKIPS {
            let id = format!("{key}:{next}");
            match self
                .claims
                .insert_one(doc! {"_id": &id, "at": bson::DateTime::now()})
                .await
            {
                Ok(_) => return Ok(Some(next)),
                Err(e) if is_duplicate_key(&e) => {
                    let stale = self
                        .claims
                        .find_one(doc! {"_id": &id})
                        .await?
                        .and_then(|c| c.get_datetime("at").ok().copied())
                        .is_some_and(|at| age(at) > STALE_CLAIM);
                    if !stale {
                        return Ok(None);
                    }
                    tracing::warn!(claim = id, "skipping a claim its writer never used");
                    next += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Read `id` (with `projection`, which gets `revision` added), let
    /// `decide` say what to write, claim the next revision and write it.
    /// A missing document, or `decide` returning `Conflict`, is `Conflict`.
    pub async fn write<F>(
        &self,
        collection: &Collection<Document>,
        id: &str,
        mut projection: Document,
        mut decide: F,
    ) -> StoreResult<()>
    where
        F: FnMut(&Document) -> StoreResult<Decision>,
    {
        projection.insert("revision", 1);
        let key = format!("{}:{id}", collection.name());
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                // The claim's holder is between its claim and its write.
                tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
            }
            let read_at = Instant::now();
            let Some(current) = collection
                .find_one(doc! {"_id": id})
                .projection(projection.clone())
                .await?
            else {
                return Err(StoreError::Conflict);
            };
            let mut update = match decide(&current)? {
                Decision::Write(update) => update,
                Decision::Nothing => return Ok(()),
            };
            let revision = revision_of(&current);
            let Some(next) = self.claim(&key, revision).await? else {
                continue;
            };
            if read_at.elapsed() > WRITE_DEADLINE {
                // Others may already treat the claim as abandoned.
                return Err(StoreError::Backend(anyhow::anyhow!(
                    "{key}: the write came {:?} after its read; not written",
                    read_at.elapsed()
                )));
            }
            match update.get_document_mut("$set") {
                Ok(set) => {
                    set.insert("revision", next);
                }
                Err(_) => {
                    update.insert("$set", doc! {"revision": next});
                }
            }
            let mut filter = doc! {"_id": id};
            filter.extend(revision_filter(revision));
            let done = collection.update_one(filter, update).await?;
            if done.matched_count == 1 {
                return Ok(());
            }
            // Only a writer that bypasses claims moves the revision under
            // us; read again.
            tracing::warn!(key, revision, "document changed without a claim");
        }
        Err(StoreError::Conflict)
    }

    /// Delete claims past `KEEP_CLAIMS`, at most once a `SWEEP_EVERY` per
    /// process (the relay calls this on each pass).
    pub async fn sweep(&self) -> StoreResult<()> {
        let now = bson::DateTime::now().timestamp_millis();
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        let every = i64::try_from(SWEEP_EVERY.as_millis()).unwrap_or(i64::MAX);
        if now - last < every
            || self
                .last_sweep_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        let keep = i64::try_from(KEEP_CLAIMS.as_millis()).unwrap_or(i64::MAX);
        let cutoff = bson::DateTime::from_millis(now - keep);
        let swept = self
            .claims
            .delete_many(doc! {"at": {"$lt": cutoff}})
            .await?;
        if swept.deleted_count > 0 {
            tracing::debug!(claims = swept.deleted_count, "old write claims deleted");
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn documents_without_a_revision_are_revision_zero() {
        assert_eq!(revision_of(&doc! {}), 0);
        assert_eq!(revision_of(&doc! {"revision": 7_i64}), 7);
        assert_eq!(revision_of(&doc! {"revision": 7_i32}), 7);
        assert!(revision_filter(0).contains_key("$or"));
        assert_eq!(revision_filter(3), doc! {"revision": 3_i64});
    }

    #[test]
    fn the_deadlines_leave_room_for_each_other() {
        // A claim is skipped only after its writer's deadline has passed, and
        // deleted only long after any read it guards has expired.
        assert!(STALE_CLAIM > WRITE_DEADLINE * 2);
        assert!(KEEP_CLAIMS > STALE_CLAIM * 10);
    }
}
