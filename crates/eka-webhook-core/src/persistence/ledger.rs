//! The delivery ledger: each delivery (keyed by the payload's `transaction_id`, else by the
//! signature's `t` and `v1`) is acted on once. A delivery is first *claimed* (status
//! `processing`, an atomic insert), then marked `done` when `onEvent` succeeded, or released
//! when it failed so the sender's retry runs it again. A delivery whose answer is known when it
//! is claimed (no `onEvent`, nothing to fetch) is claimed `done` at once: one write. A claim
//! older than [`CLAIM_TTL_SECONDS`] belongs to an instance that crashed or hangs, and may be
//! taken over; an entry older than the ledger's expiry is forgotten. Without persistence the
//! ledger is a window in memory, answered without waiting.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::PersistenceError;
use crate::logger;
use crate::signature::unix_now;

pub const DELIVERY_TABLE_NAME: &str = "eka_webhook_delivery";
pub const STATUS_PROCESSING: &str = "processing";
pub const STATUS_DONE: &str = "done";
/// Default expiry of an entry: 7 days.
pub const DEFAULT_LEDGER_TTL_SECONDS: u64 = 7 * 24 * 3600;
/// How long a `processing` claim holds before another instance may take it over.
pub const CLAIM_TTL_SECONDS: i64 = 300;
/// The in-memory window (no persistence): at most this many ids, for at most 24 h.
pub const MEMORY_MAX_IDS: usize = 100_000;
pub const MEMORY_MAX_TTL_SECONDS: u64 = 24 * 3600;
/// Ids fit the tables' `VARCHAR(255)`; a longer one is stored as its SHA-256.
const MAX_KEY_LEN: usize = 255;
/// At most this many claims go in one statement.
pub const MAX_CLAIM_BATCH: usize = 64;
/// Claims that queued behind a statement are a stream: the next statement waits this long for
/// more to join it (unless the batch is full). Each statement is a durable commit; gathering
/// cut the database's work per delivery by two thirds at 3,000 deliveries a second
/// (bench/README.md). A claim that finds the ledger idle is inserted at once.
const CLAIM_GATHER: Duration = Duration::from_millis(1);

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This instance now holds the delivery: run it, then `finish` or `release`.
    Claimed,
    /// Already done: a duplicate.
    Done,
    /// Another instance is running it right now.
    InProgress,
}

/// How a claim is made: the instants it compares entries with (epoch seconds), and the status
/// it records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimWindow {
    pub now: i64,
    /// A `processing` entry received before this is a stale claim.
    pub stale_before: i64,
    /// Any entry received before this has expired.
    pub expired_before: i64,
    /// Record the entry `done` at once, not `processing`: its answer is already known, so no
    /// settle follows.
    pub done: bool,
}

impl ClaimWindow {
    /// The status the claim records.
    pub fn status(&self) -> &'static str {
        if self.done {
            STATUS_DONE
        } else {
            STATUS_PROCESSING
        }
    }
}

/// An entry a claim inserts, as a batch of claims writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClaim {
    pub id: String,
    pub event: String,
    pub received_at: i64,
    pub status: &'static str,
}

/// Where the ledger lives: one implementation per backend.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Inserts, in one statement, each of `claims` (distinct ids) that has no entry yet, and
    /// returns the ids that statement inserted: those are claimed. `None`: this store cannot
    /// tell which rows one statement inserted (no `RETURNING`), so each claim takes `claim`.
    async fn insert_claims(
        &self,
        _claims: &[NewClaim],
    ) -> Result<Option<Vec<String>>, PersistenceError> {
        Ok(None)
    }
    /// Atomically records `id` with `window.status()` unless a live entry exists (a stale claim
    /// or an expired entry is taken over).
    async fn claim(
        &self,
        id: &str,
        event: &str,
        window: ClaimWindow,
    ) -> Result<Claim, PersistenceError>;
    /// Marks a claimed delivery `done`.
    async fn finish(&self, id: &str) -> Result<(), PersistenceError>;
    /// Forgets a claimed delivery that failed, so a retry runs it again.
    async fn release(&self, id: &str) -> Result<(), PersistenceError>;
    /// Deletes the entries received before `before`.
    async fn purge(&self, before: i64) -> Result<(), PersistenceError>;
}

/// The key of a delivery: its `transaction_id`, else the signature header's `t` and `v1`;
/// `None` when it has neither.
pub fn delivery_key(
    transaction_id: Option<&str>,
    signature_header: Option<&str>,
) -> Option<String> {
    let key = match transaction_id.filter(|id| !id.is_empty()) {
        Some(id) => format!("txn:{id}"),
        None => {
            let header = signature_header?;
            let part = |name: &str| {
                header
                    .split(',')
                    .find_map(|p| p.trim().strip_prefix(name)?.strip_prefix('='))
            };
            format!("sig:{}:{}", part("t")?, part("v1")?)
        }
    };
    if key.len() <= MAX_KEY_LEN {
        return Some(key);
    }
    Some(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(key.as_bytes()))
    ))
}

/// Where a ledger keeps its entries.
enum Entries {
    /// No persistence: a bounded window in this process.
    Memory(MemoryLedger),
    /// The configured database, shared by every instance; claims are inserted in batches.
    Database(Arc<ClaimBatcher>),
}

/// The entries plus the ledger's expiry and the bookkeeping of occasional purges.
pub struct Ledger {
    entries: Entries,
    ttl_seconds: i64,
    next_purge: Mutex<i64>,
}

impl Ledger {
    /// The window in memory (no persistence).
    pub fn in_memory(ttl_seconds: u64) -> Self {
        Self::new(Entries::Memory(MemoryLedger::default()), ttl_seconds)
    }

    /// A table (or DynamoDB table) in the configured database.
    pub fn in_database(store: Arc<dyn DeliveryStore>, ttl_seconds: u64) -> Self {
        let batcher = ClaimBatcher {
            store,
            queue: Mutex::default(),
            batching: AtomicBool::new(true),
            batches: AtomicU64::new(0),
        };
        Self::new(Entries::Database(Arc::new(batcher)), ttl_seconds)
    }

    fn new(entries: Entries, ttl_seconds: u64) -> Self {
        let ttl_seconds = i64::try_from(ttl_seconds).unwrap_or(i64::MAX / 2);
        Self {
            entries,
            ttl_seconds,
            next_purge: Mutex::new(0),
        }
    }

    /// True for the window in memory, whose claims and settles need no waiting.
    pub fn is_in_memory(&self) -> bool {
        matches!(self.entries, Entries::Memory(_))
    }

    fn window(&self, done: bool) -> ClaimWindow {
        let now = unix_now();
        ClaimWindow {
            now,
            stale_before: now - CLAIM_TTL_SECONDS,
            expired_before: now - self.ttl_seconds,
            done,
        }
    }

    /// The claim, when it needs no waiting (the window in memory); `None`: `claim` asks the
    /// database. `done`: see [`ClaimWindow::done`].
    pub fn claim_now(&self, key: &str, done: bool) -> Option<Claim> {
        match &self.entries {
            Entries::Memory(memory) => Some(memory.claim(key, self.window(done))),
            Entries::Database(_) => None,
        }
    }

    /// How many batched claim statements have inserted claims so far (none in memory, nor on a
    /// store that cannot batch).
    pub fn claim_batches(&self) -> u64 {
        match &self.entries {
            Entries::Memory(_) => 0,
            Entries::Database(batcher) => batcher.batches.load(Ordering::Relaxed),
        }
    }

    /// A claim inserted in a batch is `Claimed`; any other (a duplicate, a claim in progress, a
    /// stale or expired entry to take over) takes the store's single-claim path.
    pub async fn claim(
        &self,
        key: &str,
        event: &str,
        done: bool,
    ) -> Result<Claim, PersistenceError> {
        let batcher = match &self.entries {
            Entries::Memory(memory) => return Ok(memory.claim(key, self.window(done))),
            Entries::Database(batcher) => batcher,
        };
        let window = self.window(done);
        let new = NewClaim {
            id: key.to_string(),
            event: event.to_string(),
            received_at: window.now,
            status: window.status(),
        };
        let store = batcher.store.as_ref();
        let claim = if batcher.insert(new).await? {
            Claim::Claimed
        } else {
            store.claim(key, event, window).await?
        };
        self.purge_now_and_then(store, window).await;
        Ok(claim)
    }

    /// Settles a claim at once when that needs no waiting (in memory); false: `settle` it.
    pub fn settle_now(&self, key: &str, succeeded: bool) -> bool {
        match &self.entries {
            Entries::Memory(memory) => {
                memory.settle(key, succeeded);
                true
            }
            Entries::Database(_) => false,
        }
    }

    /// Records the end of a claimed delivery: `done` when it succeeded, released otherwise.
    /// A failure is logged: at worst a retry runs the delivery again.
    pub async fn settle(&self, key: &str, succeeded: bool) {
        let store = match &self.entries {
            Entries::Memory(memory) => return memory.settle(key, succeeded),
            Entries::Database(batcher) => &batcher.store,
        };
        let settled = if succeeded {
            store.finish(key).await
        } else {
            store.release(key).await
        };
        if let Err(err) = settled {
            logger::error(&format!(
                "WebhookSDK: delivery ledger could not record {key}: {err}"
            ));
        }
    }

    /// Purges expired entries at most once an hour per instance (the window in memory evicts
    /// as it claims).
    async fn purge_now_and_then(&self, store: &dyn DeliveryStore, window: ClaimWindow) {
        {
            let mut next = self.next_purge.lock().unwrap_or_else(|e| e.into_inner());
            if window.now < *next {
                return;
            }
            *next = window.now + 3600;
        }
        if let Err(err) = store.purge(window.expired_before).await {
            logger::error(&format!("WebhookSDK: delivery ledger purge failed: {err}"));
        }
    }
}

/// Group commit of claims: a claim that arrives while a batch is being inserted waits and goes
/// with the others in the next statement (at most [`MAX_CLAIM_BATCH`], gathered for
/// [`CLAIM_GATHER`]); an idle ledger inserts a claim at once. One durable write then serves many
/// concurrent deliveries.
struct ClaimBatcher {
    store: Arc<dyn DeliveryStore>,
    queue: Mutex<ClaimQueue>,
    /// Cleared once the store says it cannot batch: claims then take the single path at once.
    batching: AtomicBool,
    /// Batched statements that ran.
    batches: AtomicU64,
}

/// What a waiting claim learns: `Ok(true)` inserted (claimed), `Ok(false)` not inserted by the
/// batch (take the single path).
type Inserted = Result<bool, PersistenceError>;

#[derive(Default)]
struct ClaimQueue {
    waiting: Vec<(NewClaim, tokio::sync::oneshot::Sender<Inserted>)>,
    /// A task is inserting batches until the queue is empty.
    draining: bool,
}

impl ClaimBatcher {
    /// Whether `claim` was inserted by a batch.
    async fn insert(self: &Arc<Self>, claim: NewClaim) -> Inserted {
        if !self.batching.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let (answer, answered) = tokio::sync::oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.waiting.push((claim, answer));
            !std::mem::replace(&mut queue.draining, true)
        };
        if start {
            tokio::spawn(Arc::clone(self).drain());
        }
        // No answer (the runtime is shutting down): the single path decides.
        answered.await.unwrap_or(Ok(false))
    }

    async fn drain(self: Arc<Self>) {
        let _on_panic = DrainGuard(&self);
        let mut streaming = false;
        loop {
            if streaming && self.waiting() < MAX_CLAIM_BATCH {
                tokio::time::sleep(CLAIM_GATHER).await;
            }
            streaming = true;
            let batch: Vec<_> = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                if queue.waiting.is_empty() {
                    queue.draining = false;
                    return;
                }
                let take = queue.waiting.len().min(MAX_CLAIM_BATCH);
                queue.waiting.drain(..take).collect()
            };
            self.insert_batch(batch).await;
        }
    }

    fn waiting(&self) -> usize {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .waiting
            .len()
    }

    async fn insert_batch(&self, batch: Vec<(NewClaim, tokio::sync::oneshot::Sender<Inserted>)>) {
        // An id's first claim alone goes in the statement: of two rows with one id the database
        // inserts one and returns the id once. The repeats take the single path.
        let mut ids = HashSet::new();
        let mut rows = Vec::with_capacity(batch.len());
        let mut in_statement = Vec::with_capacity(batch.len());
        for (claim, _) in &batch {
            let first = ids.insert(claim.id.as_str());
            if first {
                rows.push(claim.clone());
            }
            in_statement.push(first);
        }
        // Rows in key order: two instances' batches then lock their common ids in one order.
        rows.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let inserted = match self.store.insert_claims(&rows).await {
            Ok(Some(inserted)) => {
                self.batches.fetch_add(1, Ordering::Relaxed);
                Ok(inserted.into_iter().collect::<HashSet<_>>())
            }
            Ok(None) => {
                self.batching.store(false, Ordering::Relaxed);
                Ok(HashSet::new())
            }
            // Without the database every claim fails alike. Otherwise (a row it refuses, a
            // deadlock with another instance's batch) alone, each claim fails or succeeds on
            // its own.
            Err(err @ (PersistenceError::Unreachable(_) | PersistenceError::Auth(_))) => Err(err),
            Err(_) => Ok(HashSet::new()),
        };
        for ((claim, answer), in_statement) in batch.into_iter().zip(in_statement) {
            let answer_is = match &inserted {
                Ok(ids) => Ok(in_statement && ids.contains(&claim.id)),
                Err(err) => Err(err.clone()),
            };
            // The claimer gave up waiting (its request was dropped): nothing to tell.
            let _ = answer.send(answer_is);
        }
    }
}

/// Should the drain task panic, the claims still waiting take the single path (their answers
/// are dropped) and the next claim starts a new task, instead of waiting forever.
struct DrainGuard<'a>(&'a ClaimBatcher);

impl Drop for DrainGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut queue = self.0.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.waiting.clear();
            queue.draining = false;
        }
    }
}

/// The ledger without persistence: a bounded window in this process.
#[derive(Default)]
struct MemoryLedger {
    entries: Mutex<MemoryEntries>,
}

#[derive(Default)]
struct MemoryEntries {
    /// Each id's claim instant, and whether it is done.
    by_id: HashMap<String, (i64, bool)>,
    /// Ids in claim order, for evicting the oldest; an id may appear again once re-claimed.
    order: VecDeque<(String, i64)>,
}

impl MemoryEntries {
    fn evict(&mut self, expired_before: i64) {
        while let Some((id, at)) = self.order.front() {
            let over = self.by_id.len() > MEMORY_MAX_IDS;
            if !over && *at >= expired_before {
                break;
            }
            if self
                .by_id
                .get(id)
                .is_some_and(|(received, _)| received == at)
            {
                self.by_id.remove(id);
            }
            self.order.pop_front();
        }
    }
}

impl MemoryLedger {
    fn entries(&self) -> std::sync::MutexGuard<'_, MemoryEntries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn claim(&self, id: &str, window: ClaimWindow) -> Claim {
        let mut entries = self.entries();
        let memory_horizon = window.now - MEMORY_MAX_TTL_SECONDS as i64;
        let expired_before = window.expired_before.max(memory_horizon);
        entries.evict(expired_before);
        match entries.by_id.get(id) {
            Some((_, true)) => return Claim::Done,
            Some((at, false)) if *at >= window.stale_before => return Claim::InProgress,
            _ => {}
        }
        entries
            .by_id
            .insert(id.to_string(), (window.now, window.done));
        entries.order.push_back((id.to_string(), window.now));
        entries.evict(expired_before);
        Claim::Claimed
    }

    /// Done when it succeeded; otherwise forgotten (unless done meanwhile), so a retry runs it.
    fn settle(&self, id: &str, succeeded: bool) {
        let mut entries = self.entries();
        match entries.by_id.get_mut(id) {
            Some(entry) if succeeded => entry.1 = true,
            Some((_, false)) => {
                entries.by_id.remove(id);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// A database whose batched insert takes `statement` and claims every id; it records when
    /// each statement started and how many claims it carried.
    struct TimedStore {
        statement: Duration,
        statements: Mutex<Vec<(Instant, usize)>>,
    }

    #[async_trait]
    impl DeliveryStore for TimedStore {
        async fn insert_claims(
            &self,
            claims: &[NewClaim],
        ) -> Result<Option<Vec<String>>, PersistenceError> {
            self.statements
                .lock()
                .unwrap()
                .push((Instant::now(), claims.len()));
            tokio::time::sleep(self.statement).await;
            Ok(Some(claims.iter().map(|c| c.id.clone()).collect()))
        }
        async fn claim(&self, _: &str, _: &str, _: ClaimWindow) -> Result<Claim, PersistenceError> {
            unreachable!("every claim here is new, so batched")
        }
        async fn finish(&self, _: &str) -> Result<(), PersistenceError> {
            Ok(())
        }
        async fn release(&self, _: &str) -> Result<(), PersistenceError> {
            Ok(())
        }
        async fn purge(&self, _: i64) -> Result<(), PersistenceError> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_claim_is_inserted_at_once_and_a_stream_is_gathered() {
        const STATEMENT: Duration = Duration::from_millis(1);
        let store = Arc::new(TimedStore {
            statement: STATEMENT,
            statements: Mutex::default(),
        });
        let ledger = Arc::new(Ledger::in_database(store.clone(), 3600));
        let start = Instant::now();
        let idle = ledger.claim("txn:idle", "e", true).await;
        assert_eq!(idle.unwrap(), Claim::Claimed);
        assert_eq!(store.statements.lock().unwrap()[0], (start, 1));

        // 4 new deliveries every millisecond for 50 ms.
        let claims = (0..200u64).map(|i| {
            let ledger = Arc::clone(&ledger);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(2 + i / 4)).await;
                let asked = Instant::now();
                let claim = ledger.claim(&format!("txn:{i}"), "e", true).await;
                (claim, asked.elapsed())
            })
        });
        for task in claims.collect::<Vec<_>>() {
            let (claim, waited) = task.await.unwrap();
            assert_eq!(claim.unwrap(), Claim::Claimed);
            // The statement in flight, the gathering, its own statement (a tick each at most).
            assert!(waited <= STATEMENT + CLAIM_GATHER + STATEMENT + Duration::from_millis(1));
        }
        // One statement a millisecond without gathering; about one per two with it.
        let statements = store.statements.lock().unwrap().len() - 1;
        assert!(statements <= 30, "{statements} statements for 200 claims");
    }

    fn window(now: i64) -> ClaimWindow {
        ClaimWindow {
            now,
            stale_before: now - CLAIM_TTL_SECONDS,
            expired_before: now - 1000,
            done: false,
        }
    }

    #[test]
    fn keys() {
        assert_eq!(
            delivery_key(Some("t-1"), Some("t=1,v1=ab")).as_deref(),
            Some("txn:t-1")
        );
        assert_eq!(
            delivery_key(None, Some("t=12, v1=ab")).as_deref(),
            Some("sig:12:ab")
        );
        assert_eq!(delivery_key(Some(""), None), None);
        assert_eq!(delivery_key(None, Some("v1=ab")), None);
        let long = "x".repeat(300);
        assert!(delivery_key(Some(&long), None)
            .unwrap()
            .starts_with("sha256:"));
    }

    #[test]
    fn memory_claims_once_releases_on_failure_and_expires() {
        let ledger = MemoryLedger::default();
        assert_eq!(ledger.claim("a", window(100)), Claim::Claimed);
        assert_eq!(ledger.claim("a", window(101)), Claim::InProgress);
        ledger.settle("a", false);
        assert_eq!(ledger.claim("a", window(102)), Claim::Claimed);
        ledger.settle("a", true);
        assert_eq!(ledger.claim("a", window(103)), Claim::Done);
        // A release after it is done changes nothing.
        ledger.settle("a", false);
        assert_eq!(ledger.claim("a", window(104)), Claim::Done);
        // A stale claim is taken over; an expired entry is forgotten.
        assert_eq!(ledger.claim("b", window(200)), Claim::Claimed);
        let stale = window(200 + CLAIM_TTL_SECONDS + 1);
        assert_eq!(ledger.claim("b", stale), Claim::Claimed);
        assert_eq!(ledger.claim("a", window(1200)), Claim::Claimed);
    }

    #[test]
    fn memory_claim_done_at_once_needs_no_settle() {
        let ledger = MemoryLedger::default();
        let done = ClaimWindow {
            done: true,
            ..window(100)
        };
        assert_eq!(ledger.claim("a", done), Claim::Claimed);
        assert_eq!(ledger.claim("a", window(101)), Claim::Done);
        // Even long after a processing claim would have gone stale.
        let later = window(100 + CLAIM_TTL_SECONDS + 1);
        assert_eq!(ledger.claim("a", later), Claim::Done);
    }

    #[test]
    fn the_window_in_memory_answers_without_waiting() {
        let ledger = Ledger::in_memory(DEFAULT_LEDGER_TTL_SECONDS);
        assert_eq!(ledger.claim_now("k", false), Some(Claim::Claimed));
        assert_eq!(ledger.claim_now("k", false), Some(Claim::InProgress));
        assert!(ledger.settle_now("k", true));
        assert_eq!(ledger.claim_now("k", false), Some(Claim::Done));
    }
}
