//! Schedule writes that failed for a transient reason (the database is down or unreachable) wait
//! here and are retried in order with backoff, so an outage loses no row. Bounded: when full, or
//! when a write has kept failing for too long, it is dropped and that is logged.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::Notify;

use super::{PersistenceError, ScheduleRecord};
use crate::logger;
use crate::supervisor::{panic_message, spawn_supervised};

/// Writes held at most; a larger backlog drops the new write (logged).
pub const QUEUE_CAPACITY: usize = 10_000;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A write failing for longer than this is given up (logged).
const GIVE_UP_AFTER: Duration = Duration::from_secs(600);

/// One change to the schedule table, decided from a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleWrite {
    Upsert(ScheduleRecord),
    SetStatus {
        appointment_id: String,
        status: String,
    },
}

impl ScheduleWrite {
    fn describe(&self) -> String {
        match self {
            ScheduleWrite::Upsert(r) => format!("upsert of {}", r.appointment_id),
            ScheduleWrite::SetStatus {
                appointment_id,
                status,
            } => format!("status {status} for {appointment_id}"),
        }
    }
}

/// What the queue retries its writes against (the schedule, which owns the queue: it is held
/// weakly, and named by this trait rather than its type so the two modules do not import each
/// other).
pub trait WriteTarget: Send + Sync {
    fn apply_write<'a>(
        &'a self,
        write: &'a ScheduleWrite,
    ) -> BoxFuture<'a, Result<(), PersistenceError>>;
}

/// Whether retrying can help: yes for an unreachable database or a failed statement, not for
/// rejected credentials or an incompatible table.
pub fn is_transient(error: &PersistenceError) -> bool {
    matches!(
        error,
        PersistenceError::Unreachable(_)
            | PersistenceError::Database(_)
            | PersistenceError::IndexNotReady(_)
    )
}

struct Pending {
    write: ScheduleWrite,
    first_failed: Instant,
}

#[derive(Default)]
pub struct WriteQueue {
    pending: Mutex<VecDeque<Pending>>,
    wake: Notify,
    /// Signalled whenever the queue becomes empty (for `flush`).
    drained: Notify,
    worker_started: std::sync::atomic::AtomicBool,
}

impl WriteQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues writes behind any already waiting (order per appointment is preserved), starting
    /// the worker on first use.
    pub fn push(
        self: &Arc<Self>,
        writes: impl IntoIterator<Item = ScheduleWrite>,
        target: Weak<dyn WriteTarget>,
    ) {
        let now = Instant::now();
        {
            let mut pending = self.lock();
            for write in writes {
                if pending.len() >= QUEUE_CAPACITY {
                    logger::error(&format!(
                        "WebhookSDK: persistence retry queue is full ({QUEUE_CAPACITY} writes); dropping the {}",
                        write.describe()
                    ));
                    continue;
                }
                pending.push_back(Pending {
                    write,
                    first_failed: now,
                });
            }
            logger::warn(&format!(
                "WebhookSDK: {} schedule write(s) waiting for the database",
                pending.len()
            ));
        }
        if !self
            .worker_started
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            let queue = self.clone();
            spawn_supervised("schedule write queue", move || {
                run(queue.clone(), target.clone())
            });
        }
        self.wake.notify_one();
    }

    /// Waits until every queued write is applied or given up, or `deadline` passes; returns how
    /// many are still waiting.
    pub async fn flush(&self, deadline: Duration) -> usize {
        let _ = tokio::time::timeout(deadline, async {
            loop {
                let drained = self.drained.notified();
                if self.is_empty() {
                    return;
                }
                drained.await;
            }
        })
        .await;
        self.len()
    }
}

/// The worker: applies the oldest write; on a transient failure waits (exponential backoff) and
/// tries it again. Holds the target weakly so that dropping the SDK ends it.
async fn run(queue: Arc<WriteQueue>, target: Weak<dyn WriteTarget>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let front = queue
            .lock()
            .front()
            .map(|p| (p.write.clone(), p.first_failed));
        let Some((write, first_failed)) = front else {
            let woken = queue.wake.notified();
            queue.drained.notify_waiters();
            woken.await;
            continue;
        };
        let Some(current) = target.upgrade() else {
            return;
        };
        // A write that panics (a bug) is dropped, not retried for ever.
        let outcome = std::panic::AssertUnwindSafe(current.apply_write(&write))
            .catch_unwind()
            .await;
        drop(current);
        match outcome {
            Err(panic) => logger::error(&format!(
                "WebhookSDK: dropping the {}: it panicked ({})",
                write.describe(),
                panic_message(panic.as_ref())
            )),
            Ok(Err(err)) if is_transient(&err) && first_failed.elapsed() < GIVE_UP_AFTER => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Ok(Err(err)) => logger::error(&format!(
                "WebhookSDK: giving up the {} after retries: {err}",
                write.describe()
            )),
            Ok(Ok(())) => {}
        }
        backoff = FIRST_BACKOFF;
        queue.lock().pop_front();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::config::SqliteConfig;
    use crate::persistence::ledger::{Claim, ClaimWindow, DeliveryStore};
    use crate::persistence::schedule::Schedule;
    use crate::persistence::sqlite::SqliteStore;
    use crate::persistence::{AppointmentIdsBetween, ScheduleStore};

    /// A real SQLite store whose first upsert panics, as a bug in a backend would.
    struct FirstUpsertPanics {
        inner: SqliteStore,
        panicked: AtomicBool,
    }

    /// The ledger is not what these tests exercise: plain delegation.
    #[async_trait]
    impl DeliveryStore for FirstUpsertPanics {
        async fn claim(
            &self,
            id: &str,
            event: &str,
            w: ClaimWindow,
        ) -> Result<Claim, PersistenceError> {
            self.inner.claim(id, event, w).await
        }
        async fn finish(&self, id: &str) -> Result<(), PersistenceError> {
            self.inner.finish(id).await
        }
        async fn release(&self, id: &str) -> Result<(), PersistenceError> {
            self.inner.release(id).await
        }
        async fn purge(&self, before: i64) -> Result<(), PersistenceError> {
            self.inner.purge(before).await
        }
    }

    #[async_trait]
    impl ScheduleStore for FirstUpsertPanics {
        async fn ensure_table(&self) -> Result<(), PersistenceError> {
            self.inner.ensure_table().await
        }
        async fn upsert(&self, record: &ScheduleRecord) -> Result<(), PersistenceError> {
            if !self.panicked.swap(true, Ordering::SeqCst) {
                panic!("backend bug on {}", record.appointment_id);
            }
            self.inner.upsert(record).await
        }
        async fn update_status(&self, id: &str, status: &str) -> Result<bool, PersistenceError> {
            self.inner.update_status(id, status).await
        }
        async fn mark_reminder_sent(&self, id: &str, now: i64) -> Result<bool, PersistenceError> {
            self.inner.mark_reminder_sent(id, now).await
        }
        async fn find_appointment_ids_between(
            &self,
            start: i64,
            end: i64,
        ) -> Result<AppointmentIdsBetween, PersistenceError> {
            self.inner.find_appointment_ids_between(start, end).await
        }
        async fn close(&self) {
            self.inner.close().await
        }
    }

    #[tokio::test]
    async fn a_write_that_panics_is_dropped_and_the_worker_goes_on() {
        let inner = SqliteStore::new(&SqliteConfig {
            filename: ":memory:".into(),
        });
        let store = Arc::new(FirstUpsertPanics {
            inner,
            panicked: AtomicBool::new(false),
        });
        let schedule: Arc<dyn WriteTarget> = Arc::new(Schedule::new(store.clone()));
        let upsert = |id: &str| {
            ScheduleWrite::Upsert(ScheduleRecord {
                appointment_id: id.into(),
                start_time: 10,
                end_time: 20,
                status: "BK".into(),
                visit_type: "NEW".into(),
                p_aid: None,
            })
        };
        let queue = Arc::new(WriteQueue::default());
        queue.push(
            [upsert("panics"), upsert("after")],
            Arc::downgrade(&schedule),
        );
        assert_eq!(
            queue.flush(Duration::from_secs(5)).await,
            0,
            "the worker kept going"
        );
        let stored = store.find_appointment_ids_between(0, 100).await.unwrap();
        assert_eq!(stored.appointments, vec!["after".to_string()]);
    }
}
