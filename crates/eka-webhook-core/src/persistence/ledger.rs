//! The delivery ledger: each delivery (keyed by the payload's `transaction_id`, else by the
//! signature's `t` and `v1`) is acted on once. A delivery is first *claimed* (status
//! `processing`, an atomic insert), then marked `done` when `onEvent` succeeded, or released
//! when it failed so the sender's retry runs it again. A claim older than [`CLAIM_TTL_SECONDS`]
//! belongs to an instance that crashed or hangs, and may be taken over; an entry older than the
//! ledger's expiry is forgotten.

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

/// The instants a claim compares entries with (epoch seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimWindow {
    pub now: i64,
    /// A `processing` entry received before this is a stale claim.
    pub stale_before: i64,
    /// Any entry received before this has expired.
    pub expired_before: i64,
}

/// Where the ledger lives: one implementation per backend.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Atomically records `id` as `processing` unless a live entry exists (a stale claim or an
    /// expired entry is taken over).
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

/// A store plus the ledger's expiry and the bookkeeping of occasional purges.
pub struct Ledger {
    store: Arc<dyn DeliveryStore>,
    ttl_seconds: i64,
    next_purge: Mutex<i64>,
}

impl Ledger {
    pub fn new(store: Arc<dyn DeliveryStore>, ttl_seconds: u64) -> Self {
        let ttl_seconds = i64::try_from(ttl_seconds).unwrap_or(i64::MAX / 2);
        Self {
            store,
            ttl_seconds,
            next_purge: Mutex::new(0),
        }
    }

    pub async fn claim(&self, key: &str, event: &str) -> Result<Claim, PersistenceError> {
        let now = unix_now();
        let window = ClaimWindow {
            now,
            stale_before: now - CLAIM_TTL_SECONDS,
            expired_before: now - self.ttl_seconds,
        };
        let claim = self.store.claim(key, event, window).await?;
        self.purge_now_and_then(now, window.expired_before).await;
        Ok(claim)
    }

    /// Records the end of a claimed delivery: `done` when it succeeded, released otherwise.
    /// A failure is logged: at worst a retry runs the delivery again.
    pub async fn settle(&self, key: &str, succeeded: bool) {
        let settled = if succeeded {
            self.store.finish(key).await
        } else {
            self.store.release(key).await
        };
        if let Err(err) = settled {
            logger::error(&format!(
                "WebhookSDK: delivery ledger could not record {key}: {err}"
            ));
        }
    }

    /// Purges expired entries at most once an hour per instance.
    async fn purge_now_and_then(&self, now: i64, before: i64) {
        {
            let mut next = self.next_purge.lock().unwrap_or_else(|e| e.into_inner());
            if now < *next {
                return;
            }
            *next = now + 3600;
        }
        if let Err(err) = self.store.purge(before).await {
            logger::error(&format!("WebhookSDK: delivery ledger purge failed: {err}"));
        }
    }
}

/// The ledger without persistence: a bounded window in this process.
#[derive(Default)]
pub struct MemoryLedger {
    entries: Mutex<MemoryEntries>,
}

#[derive(Default)]
struct MemoryEntries {
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

#[async_trait]
impl DeliveryStore for MemoryLedger {
    async fn claim(
        &self,
        id: &str,
        _event: &str,
        window: ClaimWindow,
    ) -> Result<Claim, PersistenceError> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let memory_horizon = window.now - MEMORY_MAX_TTL_SECONDS as i64;
        entries.evict(window.expired_before.max(memory_horizon));
        match entries.by_id.get(id) {
            Some((_, true)) => return Ok(Claim::Done),
            Some((at, false)) if *at >= window.stale_before => return Ok(Claim::InProgress),
            _ => {}
        }
        entries.by_id.insert(id.to_string(), (window.now, false));
        entries.order.push_back((id.to_string(), window.now));
        entries.evict(window.expired_before.max(memory_horizon));
        Ok(Claim::Claimed)
    }

    async fn finish(&self, id: &str) -> Result<(), PersistenceError> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = entries.by_id.get_mut(id) {
            entry.1 = true;
        }
        Ok(())
    }

    async fn release(&self, id: &str) -> Result<(), PersistenceError> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.by_id.get(id).is_some_and(|(_, done)| !done) {
            entries.by_id.remove(id);
        }
        Ok(())
    }

    async fn purge(&self, before: i64) -> Result<(), PersistenceError> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .evict(before);
        Ok(())
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

    #[tokio::test]
    async fn memory_claims_once_releases_on_failure_and_expires() {
        let ledger = MemoryLedger::default();
        assert_eq!(
            ledger.claim("a", "e", window(100)).await.unwrap(),
            Claim::Claimed
        );
        assert_eq!(
            ledger.claim("a", "e", window(101)).await.unwrap(),
            Claim::InProgress
        );
        ledger.release("a").await.unwrap();
        assert_eq!(
            ledger.claim("a", "e", window(102)).await.unwrap(),
            Claim::Claimed
        );
        ledger.finish("a").await.unwrap();
        assert_eq!(
            ledger.claim("a", "e", window(103)).await.unwrap(),
            Claim::Done
        );
        // A stale claim is taken over; an expired entry is forgotten.
        assert_eq!(
            ledger.claim("b", "e", window(200)).await.unwrap(),
            Claim::Claimed
        );
        assert_eq!(
            ledger
                .claim("b", "e", window(200 + CLAIM_TTL_SECONDS + 1))
                .await
                .unwrap(),
            Claim::Claimed
        );
        assert_eq!(
            ledger.claim("a", "e", window(1200)).await.unwrap(),
            Claim::Claimed
        );
    }
}
