//! Schedule writes that failed for a transient reason (the database is down or unreachable) wait
//! here and are retried in order with backoff, so an outage loses no row. At most one write per
//! appointment waits: a newer webhook's write replaces it, so a stale snapshot is never written
//! over a newer one. Bounded: when full, or when a write has kept failing for too long, it is
//! dropped. A write the database refuses for its content is dropped at once rather than
//! retried, so it never holds up the writes behind it. Every drop is a reported fault.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::sql::{ColumnType, KEY_COLUMN, NON_KEY_COLUMNS};
use super::{PersistenceError, ScheduleRecord};
use crate::faults::{FaultKind, Faults};
use crate::logger;
use crate::supervisor::{panic_message, spawn_supervised};

/// Writes held at most (one per appointment); a larger backlog drops the new write (reported).
pub const QUEUE_CAPACITY: usize = 10_000;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A write failing for longer than this is given up (reported).
const GIVE_UP_AFTER: Duration = Duration::from_secs(600);
/// How much of an appointment id a message quotes (a longer one is garbage, and cut).
const SHOWN_ID_CHARS: usize = 255;

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
    pub fn appointment_id(&self) -> &str {
        match self {
            ScheduleWrite::Upsert(r) => &r.appointment_id,
            ScheduleWrite::SetStatus { appointment_id, .. } => appointment_id,
        }
    }

    fn describe(&self) -> String {
        // Control characters (a NUL, say) are spelt out rather than written to a log.
        let mut id = String::new();
        for c in shown_id(self.appointment_id()).chars() {
            if c.is_control() {
                id.extend(c.escape_unicode());
            } else {
                id.push(c);
            }
        }
        match self {
            ScheduleWrite::Upsert(_) => format!("upsert of appointment {id}"),
            ScheduleWrite::SetStatus { status, .. } => {
                format!("status {status} for appointment {id}")
            }
        }
    }

    /// The one write whose effect is `self` then `newer` (a later write for the same
    /// appointment): an upsert with the newer status, or the newer write alone.
    fn then(self, newer: ScheduleWrite) -> ScheduleWrite {
        match (self, newer) {
            (ScheduleWrite::Upsert(row), ScheduleWrite::SetStatus { status, .. }) => {
                ScheduleWrite::Upsert(ScheduleRecord { status, ..row })
            }
            // An upsert without a p_aid keeps the stored one.
            (ScheduleWrite::Upsert(row), ScheduleWrite::Upsert(newer)) => {
                let p_aid = newer.p_aid.or(row.p_aid);
                ScheduleWrite::Upsert(ScheduleRecord { p_aid, ..newer })
            }
            (ScheduleWrite::SetStatus { .. }, newer) => newer,
        }
    }

    /// Why the table cannot hold this write: a text longer than its column (in characters, as
    /// MySQL and PostgreSQL count). Checked before writing on every backend, so SQLite and
    /// DynamoDB, which would store it, keep the same rows as the servers, which refuse it.
    pub fn oversized_field(&self) -> Option<String> {
        let texts: Vec<(&str, Option<&str>)> = match self {
            ScheduleWrite::Upsert(r) => vec![
                ("appointment_id", Some(&r.appointment_id)),
                ("status", Some(&r.status)),
                ("visit_type", Some(&r.visit_type)),
                ("p_aid", r.p_aid.as_deref()),
            ],
            ScheduleWrite::SetStatus {
                appointment_id,
                status,
            } => vec![
                ("appointment_id", Some(appointment_id)),
                ("status", Some(status)),
            ],
        };
        texts.into_iter().find_map(|(column, text)| {
            let length = text?.chars().count();
            let limit = varchar_limit(column)?;
            (length > limit)
                .then(|| format!("{column} is {length} characters long; the column holds {limit}"))
        })
    }
}

/// The declared length of a text column of the schedule table.
fn varchar_limit(column: &str) -> Option<usize> {
    let declared = std::iter::once(&KEY_COLUMN)
        .chain(&NON_KEY_COLUMNS)
        .find(|c| c.name == column)?;
    match declared.ty {
        ColumnType::VarChar(n) => Some(usize::from(n)),
        ColumnType::BigInt => None,
    }
}

/// An id as messages quote it: cut to the key column's length.
fn shown_id(id: &str) -> String {
    match id.char_indices().nth(SHOWN_ID_CHARS) {
        Some((end, _)) => format!("{}…", &id[..end]),
        None => id.to_string(),
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
/// rejected credentials, an incompatible table or a row refused for its content.
pub fn is_transient(error: &PersistenceError) -> bool {
    matches!(
        error,
        PersistenceError::Unreachable(_)
            | PersistenceError::Database(_)
            | PersistenceError::IndexNotReady(_)
    )
}

struct Pending {
    /// The order of the webhook that decided the write (see [`WriteQueue::next_order`]).
    order: u64,
    write: ScheduleWrite,
    first_failed: Instant,
}

#[derive(Default)]
pub struct WriteQueue {
    pending: Mutex<VecDeque<Pending>>,
    wake: Notify,
    /// Signalled whenever the queue becomes empty (for `flush`).
    drained: Notify,
    worker_started: AtomicBool,
    next_order: AtomicU64,
    faults: Faults,
}

impl WriteQueue {
    pub fn new(faults: Faults) -> Self {
        Self {
            faults,
            ..Self::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A number for a webhook's writes, taken when they are decided: a write never replaces
    /// one of a later webhook (whose write failed and was queued first).
    pub fn next_order(&self) -> u64 {
        self.next_order.fetch_add(1, Ordering::Relaxed)
    }

    /// False, with the write reported dropped, when a field is longer than its column.
    pub fn admits(&self, write: &ScheduleWrite) -> bool {
        let Some(reason) = write.oversized_field() else {
            return true;
        };
        self.drop_write(write, &reason);
        false
    }

    /// Reports a write given up for a lasting reason.
    pub fn drop_write(&self, write: &ScheduleWrite, reason: &dyn std::fmt::Display) {
        self.faults.report(
            FaultKind::WriteDropped,
            Some(&shown_id(write.appointment_id())),
            format!("dropping the {}: {reason}", write.describe()),
        );
    }

    /// Queues the writes of the webhook numbered `order`, each replacing the write waiting for
    /// the same appointment (or, when that one is from a later webhook, dropped as stale);
    /// starts the worker on first use.
    pub fn push(
        self: &Arc<Self>,
        writes: impl IntoIterator<Item = ScheduleWrite>,
        order: u64,
        target: Weak<dyn WriteTarget>,
    ) {
        let now = Instant::now();
        {
            let mut pending = self.lock();
            for write in writes {
                let id = write.appointment_id();
                if let Some(waiting) = pending.iter_mut().find(|p| p.write.appointment_id() == id) {
                    if waiting.order > order {
                        logger::warn(&format!(
                            "WebhookSDK: not queueing the {}: a later webhook's write for it is waiting",
                            write.describe()
                        ));
                    } else {
                        let older = std::mem::replace(&mut waiting.write, write.clone());
                        waiting.write = older.then(write);
                        waiting.order = order;
                        waiting.first_failed = now;
                    }
                    continue;
                }
                if pending.len() >= QUEUE_CAPACITY {
                    self.faults.report(
                        FaultKind::QueueFull,
                        Some(&shown_id(id)),
                        format!(
                            "the schedule retry queue is full ({QUEUE_CAPACITY} writes waiting for the database); dropping the {}",
                            write.describe()
                        ),
                    );
                    continue;
                }
                pending.push_back(Pending {
                    order,
                    write,
                    first_failed: now,
                });
            }
            logger::warn(&format!(
                "WebhookSDK: {} schedule write(s) waiting for the database",
                pending.len()
            ));
        }
        if !self.worker_started.swap(true, Ordering::AcqRel) {
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
            Err(panic) => {
                let reason = format!("it panicked ({})", panic_message(panic.as_ref()));
                queue.drop_write(&write, &reason);
            }
            Ok(Err(err)) if is_transient(&err) && first_failed.elapsed() < GIVE_UP_AFTER => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Ok(Err(err)) if is_transient(&err) => queue.faults.report(
                FaultKind::WriteGaveUp,
                Some(&shown_id(write.appointment_id())),
                format!(
                    "giving up the {} after {} s of retries: {err}",
                    write.describe(),
                    GIVE_UP_AFTER.as_secs()
                ),
            ),
            Ok(Err(err)) => queue.drop_write(&write, &err),
            Ok(Ok(())) => {}
        }
        backoff = FIRST_BACKOFF;
        let mut pending = queue.lock();
        // A newer write for the appointment may have replaced this one meanwhile: it stays.
        if pending.front().is_some_and(|p| p.write == write) {
            pending.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SqliteConfig;
    use crate::faults::{Fault, FaultSink};
    use crate::persistence::schedule::Schedule;
    use crate::persistence::sqlite::SqliteStore;

    fn upsert(id: &str, status: &str, p_aid: Option<&str>) -> ScheduleWrite {
        ScheduleWrite::Upsert(ScheduleRecord {
            appointment_id: id.into(),
            start_time: 10,
            end_time: 20,
            status: status.into(),
            visit_type: "NEW".into(),
            p_aid: p_aid.map(str::to_string),
        })
    }

    fn set_status(id: &str, status: &str) -> ScheduleWrite {
        ScheduleWrite::SetStatus {
            appointment_id: id.into(),
            status: status.into(),
        }
    }

    /// A real SQLite schedule behind a switch: while `down`, every write fails as an
    /// unreachable database does; writes to `refused` fail as a row the database refuses; the
    /// first write panics when `panic_first`. Records the writes that reached the database.
    struct Database {
        schedule: Schedule,
        down: AtomicBool,
        panic_first: AtomicBool,
        refused: &'static str,
        applied: Mutex<Vec<ScheduleWrite>>,
    }

    impl Database {
        fn new(refused: &'static str) -> Arc<Self> {
            let store = SqliteStore::new(&SqliteConfig {
                filename: ":memory:".into(),
            });
            Arc::new(Self {
                schedule: Schedule::new(Arc::new(store)),
                down: AtomicBool::new(false),
                panic_first: AtomicBool::new(false),
                refused,
                applied: Mutex::default(),
            })
        }

        async fn write(&self, write: &ScheduleWrite) -> Result<(), PersistenceError> {
            if self.panic_first.swap(false, Ordering::SeqCst) {
                panic!("backend bug on {}", write.appointment_id());
            }
            if self.down.load(Ordering::SeqCst) {
                return Err(PersistenceError::Unreachable("the proxy is cut".into()));
            }
            if write.appointment_id() == self.refused {
                return Err(PersistenceError::Rejected(
                    "error 1406: Data too long".into(),
                ));
            }
            WriteTarget::apply_write(&self.schedule, write).await?;
            self.applied.lock().unwrap().push(write.clone());
            Ok(())
        }
    }

    impl WriteTarget for Database {
        fn apply_write<'a>(
            &'a self,
            write: &'a ScheduleWrite,
        ) -> BoxFuture<'a, Result<(), PersistenceError>> {
            self.write(write).boxed()
        }
    }

    #[derive(Default)]
    struct Recorded(Mutex<Vec<Fault>>);

    impl FaultSink for Recorded {
        fn report(&self, fault: Fault) {
            self.0.lock().unwrap().push(fault);
        }
    }

    fn target(database: &Arc<Database>) -> Weak<dyn WriteTarget> {
        let database: Arc<dyn WriteTarget> = database.clone();
        Arc::downgrade(&database)
    }

    /// A queue reporting its faults to a record.
    fn recorded_queue() -> (Arc<Recorded>, Arc<WriteQueue>) {
        let faults = Arc::new(Recorded::default());
        let sink: Arc<dyn FaultSink> = faults.clone();
        (
            faults.clone(),
            Arc::new(WriteQueue::new(Faults::new(Some(sink)))),
        )
    }

    /// Queues a write for `dropped` then one for `next` as one webhook's, brings `database` up
    /// and waits for the queue to empty: the first must be dropped (the one fault, returned)
    /// and the second stored.
    async fn first_dropped_next_stored(database: Arc<Database>, dropped: &str) -> Fault {
        let (faults, queue) = recorded_queue();
        let writes = [upsert(dropped, "BK", None), upsert("next", "BK", None)];
        queue.push(writes, queue.next_order(), target(&database));
        database.down.store(false, Ordering::SeqCst);
        let waiting = queue.flush(Duration::from_secs(5)).await;
        assert_eq!(waiting, 0, "the worker kept going");
        assert_eq!(
            *database.applied.lock().unwrap(),
            [upsert("next", "BK", None)]
        );
        let faults = faults.0.lock().unwrap();
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!(faults[0].kind, FaultKind::WriteDropped);
        assert_eq!(faults[0].appointment_id.as_deref(), Some(dropped));
        faults[0].clone()
    }

    #[tokio::test]
    async fn a_write_that_panics_is_dropped_and_the_worker_goes_on() {
        let database = Database::new("");
        database.panic_first.store(true, Ordering::SeqCst);
        first_dropped_next_stored(database, "panics").await;
    }

    #[tokio::test]
    async fn a_refused_row_is_dropped_at_once_and_the_writes_behind_it_go_through() {
        let database = Database::new("too-long");
        database.down.store(true, Ordering::SeqCst);
        // Were the refusal transient, the queue would hold for GIVE_UP_AFTER (10 minutes).
        let fault = first_dropped_next_stored(database, "too-long").await;
        assert!(
            fault.message.contains("appointment too-long")
                && fault.message.contains("Data too long"),
            "{}",
            fault.message
        );
    }

    #[tokio::test]
    async fn only_the_latest_write_per_appointment_waits() {
        let database = Database::new("");
        database.down.store(true, Ordering::SeqCst);
        let queue = Arc::new(WriteQueue::default());
        let to = || target(&database);
        let stale = queue.next_order();
        let created = queue.next_order();
        queue.push([upsert("x", "BK", Some("old"))], created, to());
        queue.push([upsert("y", "BK", None)], queue.next_order(), to());
        queue.push([set_status("x", "CND")], queue.next_order(), to());
        // A write decided before the one waiting (its webhook failed later) is stale.
        queue.push([set_status("x", "BK")], stale, to());
        assert_eq!(queue.len(), 2, "one write per appointment");
        database.down.store(false, Ordering::SeqCst);
        assert_eq!(queue.flush(Duration::from_secs(5)).await, 0);
        assert_eq!(
            *database.applied.lock().unwrap(),
            [upsert("x", "CND", Some("old")), upsert("y", "BK", None)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_failing_for_ten_minutes_is_given_up_and_reported() {
        let database = Database::new("");
        database.down.store(true, Ordering::SeqCst);
        let (faults, queue) = recorded_queue();
        queue.push(
            [upsert("x", "BK", None)],
            queue.next_order(),
            target(&database),
        );
        let started = Instant::now();
        assert_eq!(queue.flush(Duration::from_secs(3600)).await, 0);
        assert!(
            started.elapsed() >= GIVE_UP_AFTER,
            "{:?}",
            started.elapsed()
        );
        let faults = faults.0.lock().unwrap();
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!(faults[0].kind, FaultKind::WriteGaveUp);
        assert_eq!(faults[0].appointment_id.as_deref(), Some("x"));
        assert!(
            faults[0].message.contains("the proxy is cut"),
            "{}",
            faults[0].message
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_reports_a_new_appointment_but_folds_a_waiting_one() {
        let database = Database::new("");
        database.down.store(true, Ordering::SeqCst);
        let (faults, queue) = recorded_queue();
        let order = queue.next_order();
        let waiting = (0..QUEUE_CAPACITY).map(|i| upsert(&format!("a-{i}"), "BK", None));
        queue.push(waiting, order, target(&database));
        let later = queue.next_order();
        queue.push(
            [set_status("a-7", "CND"), upsert("one-too-many", "BK", None)],
            later,
            target(&database),
        );
        assert_eq!(queue.len(), QUEUE_CAPACITY);
        let faults = faults.0.lock().unwrap();
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!(faults[0].kind, FaultKind::QueueFull);
        assert_eq!(faults[0].appointment_id.as_deref(), Some("one-too-many"));
    }

    #[test]
    fn a_later_write_is_folded_into_the_waiting_one() {
        let waiting = upsert("x", "BK", Some("old"));
        assert_eq!(
            waiting.clone().then(set_status("x", "CND")),
            upsert("x", "CND", Some("old"))
        );
        assert_eq!(
            waiting.clone().then(upsert("x", "IN", None)),
            upsert("x", "IN", Some("old")),
            "an upsert without p_aid keeps the one waiting, as the table keeps the stored one"
        );
        assert_eq!(
            waiting.then(upsert("x", "IN", Some("new"))),
            upsert("x", "IN", Some("new"))
        );
        assert_eq!(
            set_status("x", "CND").then(set_status("x", "BK")),
            set_status("x", "BK")
        );
        assert_eq!(
            set_status("x", "CND").then(upsert("x", "BK", None)),
            upsert("x", "BK", None)
        );
    }

    #[test]
    fn fields_longer_than_their_columns_are_named() {
        let long = "p".repeat(256);
        assert_eq!(
            upsert(&"a".repeat(255), "BK", Some(&"é".repeat(255))).oversized_field(),
            None
        );
        assert_eq!(
            upsert("a", "BK", Some(&long)).oversized_field().as_deref(),
            Some("p_aid is 256 characters long; the column holds 255")
        );
        assert_eq!(
            set_status("a", &"S".repeat(33))
                .oversized_field()
                .as_deref(),
            Some("status is 33 characters long; the column holds 32")
        );
        assert!(set_status(&long, "RES")
            .oversized_field()
            .is_some_and(|r| r.starts_with("appointment_id is 256")));
        assert_eq!(
            shown_id(&long).chars().count(),
            256,
            "255 characters and an ellipsis"
        );
    }
}
