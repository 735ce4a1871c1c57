//! One-shot appointment reminders: a single scheduler task per SDK holding a min-heap of fire
//! times (no task, thread or timer per reminder, so 100,000 pending reminders cost a few MB).
//! At fire time the appointment, patient, doctor and clinic are fetched fresh and the outcome is
//! handed to a `ReminderSink` (the JS callback bridge). The durable form, rows in the
//! configured database, is `durable`.

pub mod durable;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::api_client::EkaApiClient;
use crate::enrichment::enrich_appointment;
use crate::events::AppointmentContext;
use crate::faults::{FaultKind, Faults};
use crate::supervisor::spawn_supervised;

/// Fire-time fetches in flight at once, so a burst of due reminders cannot stampede the API.
const FIRE_CONCURRENCY: usize = 64;

/// Receives each reminder's outcome: when the scheduler fired it (epoch ms) and the fresh
/// context, or why none could be fetched. `Err`: the callback failed, with its message.
#[async_trait]
pub trait ReminderSink: Send + Sync {
    async fn fire(
        &self,
        reminder: &ScheduledReminder,
        fired_at_ms: i64,
        outcome: Result<AppointmentContext, String>,
    ) -> Result<(), String>;

    /// Runs a durable reminder's named handler. `Err`: it failed, with its message.
    async fn fire_durable(&self, fire: &durable::DurableFire) -> Result<(), String> {
        Err(format!(
            "no handler bridge for durable reminder {}",
            fire.id
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledReminder {
    pub id: String,
    pub appointment_id: String,
    pub fire_at_ms: i64,
}

#[derive(Default)]
struct Queue {
    /// (fire time, sequence): the sequence keeps the order of reminders due at the same instant.
    heap: BinaryHeap<Reverse<(i64, u64)>>,
    pending: HashMap<u64, ScheduledReminder>,
}

pub struct ReminderScheduler {
    queue: Arc<Mutex<Queue>>,
    wake: Arc<Notify>,
    next_sequence: AtomicU64,
    task: Mutex<Option<JoinHandle<()>>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl ReminderScheduler {
    /// Starts the scheduler task on the current tokio runtime. A failed fetch or callback is
    /// reported to `faults`.
    pub fn start(api: EkaApiClient, sink: Arc<dyn ReminderSink>, faults: Faults) -> Self {
        let queue = Arc::new(Mutex::new(Queue::default()));
        let wake = Arc::new(Notify::new());
        let task = {
            let (queue, wake) = (queue.clone(), wake.clone());
            spawn_supervised("reminder scheduler", move || {
                run(
                    queue.clone(),
                    wake.clone(),
                    api.clone(),
                    sink.clone(),
                    faults.clone(),
                )
            })
        };
        Self {
            queue,
            wake,
            next_sequence: AtomicU64::new(1),
            task: Mutex::new(Some(task)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Schedules a reminder at `fire_at_ms` (epoch ms; the JS glue turns Dates and cron strings
    /// into instants and checks them). One already due fires at once.
    pub fn schedule(&self, fire_at_ms: i64, appointment_id: &str) -> ScheduledReminder {
        let sequence = self.next_sequence.fetch_add(1, Ordering::Relaxed);
        let reminder = ScheduledReminder {
            id: format!("eka-reminder-{appointment_id}-{sequence:08x}"),
            appointment_id: appointment_id.to_string(),
            fire_at_ms,
        };
        let is_new_earliest = {
            let mut queue = self.lock();
            let earliest = queue.heap.peek().map(|Reverse((at, _))| *at);
            queue.heap.push(Reverse((fire_at_ms, sequence)));
            queue.pending.insert(sequence, reminder.clone());
            earliest.is_none_or(|at| fire_at_ms < at)
        };
        if is_new_earliest {
            self.wake.notify_one();
        }
        reminder
    }

    /// True when the reminder was pending (and now will not fire).
    pub fn cancel(&self, reminder_id: &str) -> bool {
        let Some(sequence) = sequence_of(reminder_id) else {
            return false;
        };
        // The heap entry stays and is skipped when it comes due.
        self.lock().pending.remove(&sequence).is_some()
    }

    pub fn pending_count(&self) -> usize {
        self.lock().pending.len()
    }

    /// Cancels everything pending and stops the task.
    pub fn shutdown(&self) {
        {
            let mut queue = self.lock();
            queue.pending.clear();
            queue.heap.clear();
        }
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

impl Drop for ReminderScheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn sequence_of(reminder_id: &str) -> Option<u64> {
    u64::from_str_radix(reminder_id.rsplit('-').next()?, 16).ok()
}

/// The scheduler loop: sleep until the earliest fire time (or until woken by an earlier
/// reminder), then start every due reminder.
async fn run(
    queue: Arc<Mutex<Queue>>,
    wake: Arc<Notify>,
    api: EkaApiClient,
    sink: Arc<dyn ReminderSink>,
    faults: Faults,
) {
    let permits = Arc::new(Semaphore::new(FIRE_CONCURRENCY));
    loop {
        let (due, next_at) = {
            let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
            let now = now_ms();
            let mut due = Vec::new();
            while let Some(Reverse((at, sequence))) = q.heap.peek().copied() {
                if at > now {
                    break;
                }
                q.heap.pop();
                if let Some(reminder) = q.pending.remove(&sequence) {
                    due.push(reminder);
                }
            }
            (due, q.heap.peek().map(|Reverse((at, _))| *at))
        };
        let fired_at_ms = now_ms();
        for reminder in due {
            let (api, sink, faults, permits) =
                (api.clone(), sink.clone(), faults.clone(), permits.clone());
            tokio::spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else {
                    return;
                };
                fire(&api, sink.as_ref(), &faults, reminder, fired_at_ms).await;
            });
        }
        match next_at {
            Some(at) => {
                let wait = Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

async fn fire(
    api: &EkaApiClient,
    sink: &dyn ReminderSink,
    faults: &Faults,
    reminder: ScheduledReminder,
    fired_at_ms: i64,
) {
    let appointment_id = Some(reminder.appointment_id.as_str());
    let outcome = enrich_appointment(api, &reminder.appointment_id, None)
        .await
        .map_err(|err| {
            let message = format!(
                "schedule_reminder error for appointment {} (reminder {}): {err}",
                reminder.appointment_id, reminder.id
            );
            faults.report(
                FaultKind::ReminderFetchFailed,
                appointment_id,
                message.clone(),
            );
            format!("WebhookSDK: {message}")
        });
    let fetched = outcome.is_ok();
    let delivered = sink.fire(&reminder, fired_at_ms, outcome).await;
    if let Err(message) = &delivered {
        faults.report(
            FaultKind::ReminderCallbackFailed,
            appointment_id,
            format!("reminder callback {} failed: {message}", reminder.id),
        );
    }
    let outcome = match (fetched, delivered) {
        (false, _) => "fetch_failed",
        (true, Err(_)) => "callback_failed",
        (true, Ok(())) => "fired",
    };
    api.telemetry()
        .reminder(outcome, fired_at_ms - reminder.fire_at_ms);
}
