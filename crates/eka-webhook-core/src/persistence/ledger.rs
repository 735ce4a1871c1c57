//! The delivery ledger: each delivery (keyed by the payload's `transaction_id`, else by the
//! signature's `t` and `v1`) is acted on once. A delivery is first *claimed* (status
//! `processing`, an atomic insert), then marked `done` when `onEvent` succeeded, or released
//! when it failed so the sender's retry runs it again. A delivery whose answer is known when it
//! is claimed (no `onEvent`, nothing to fetch) is claimed `done` at once: one write. A claim
//! older than [`CLAIM_TTL_SECONDS`] belongs to an instance that crashed or hangs, and may be
//! taken over; an entry older than the ledger's expiry is forgotten. Without persistence the
//! ledger is a window in memory, answered without waiting.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

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

/// Where the ledger lives: one implementation per backend.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
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
    /// The configured database, shared by every instance.
    Database(Arc<dyn DeliveryStore>),
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
        Self::new(Entries::Database(store), ttl_seconds)
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

    pub async fn claim(
        &self,
        key: &str,
        event: &str,
        done: bool,
    ) -> Result<Claim, PersistenceError> {
        let store = match &self.entries {
            Entries::Memory(memory) => return Ok(memory.claim(key, self.window(done))),
            Entries::Database(store) => store,
        };
        let window = self.window(done);
        let claim = store.claim(key, event, window).await?;
        self.purge_now_and_then(store.as_ref(), window).await;
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
            Entries::Database(store) => store,
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
