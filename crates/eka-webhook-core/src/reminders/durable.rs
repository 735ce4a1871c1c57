//! Durable reminders: rows in `eka_webhook_reminder`, claimed under a lease by whichever
//! instance polls first, fired with fresh appointment details, and recorded before they can
//! repeat. Rust owns time here: the poll loop, leases, retries and the missed-fire policy; the
//! named handler runs in JS through the reminder sink.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use super::ReminderSink;
use crate::api_client::EkaApiClient;
use crate::config::{OnMissed, ReminderConfig};
use crate::enrichment::enrich_appointment;
use crate::error::CoreError;
use crate::events::{AppointmentContext, WebhookEvent, APPOINTMENT_UPDATED};
use crate::faults::{FaultKind, Faults};
use crate::logger;
use crate::persistence::readiness::Readiness;
use crate::persistence::reminder_store::{
    status, FireOutcome, NewReminder, ReminderRow, ReminderStore,
};
use crate::persistence::schedule::Schedule;
use crate::persistence::PersistenceError;
use crate::signature::unix_now;
use crate::supervisor::spawn_supervised;

/// Fires in flight at once per instance; also the most one claim takes.
const FIRE_CONCURRENCY: usize = 64;
/// The first retry waits this long; each further one twice as long, up to `MAX_BACKOFF`.
const FIRST_BACKOFF_MS: i64 = 1000;
const MAX_BACKOFF_MS: i64 = 5 * 60 * 1000;
/// Appointment statuses that cancel a reminder (cancelled, rescheduled).
const CANCELLING_STATUSES: [&str; 2] = ["CND", "RES"];

/// One fire as handed to the handler.
#[derive(Debug, Clone)]
pub struct DurableFire {
    pub id: String,
    pub appointment_id: String,
    pub name: String,
    pub due_at: i64,
    pub fired_at: i64,
    pub late_by_ms: i64,
    pub attempt: i64,
    pub context: AppointmentContext,
}

/// When a reminder is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueAt {
    /// An instant, epoch ms.
    At(i64),
    /// Seconds before the appointment's `start_time`, following it when it moves.
    BeforeStart(i64),
}

/// How one fire ended, for `runDue`'s summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Done,
    Retried,
    Failed,
    Missed,
    Cancelled,
    /// Another instance holds the row now (our lease ran out).
    LeaseLost,
}

/// What one `run_due` pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub claimed: u64,
    pub done: u64,
    pub retried: u64,
    pub failed: u64,
    pub missed: u64,
    pub cancelled: u64,
}

impl RunSummary {
    fn add(&mut self, ended: Ended) {
        match ended {
            Ended::Done => self.done += 1,
            Ended::Retried => self.retried += 1,
            Ended::Failed => self.failed += 1,
            Ended::Missed => self.missed += 1,
            Ended::Cancelled => self.cancelled += 1,
            Ended::LeaseLost => {}
        }
    }
}

/// Counters for `sdk.reminders.stats()` and the bench.
#[derive(Debug, Default)]
pub struct DurableStats {
    pub fired: AtomicU64,
    /// Calls to the store (each a database request, or a transaction for a claim).
    pub store_calls: AtomicU64,
    pub claims: AtomicU64,
}

pub struct DurableReminders {
    store: Arc<dyn ReminderStore>,
    schedule: Arc<Schedule>,
    api: EkaApiClient,
    sink: Arc<dyn ReminderSink>,
    config: ReminderConfig,
    /// Where failed, missed and unrecorded fires and store failures are reported.
    faults: Faults,
    /// Set once this instance defines a handler or schedules a reminder. Only then does a
    /// failure to follow an appointment go to `faults`: an SDK that never uses durable
    /// reminders would otherwise report one for every webhook while the database is away.
    in_use: AtomicBool,
    ready: Readiness,
    wake: Notify,
    permits: Arc<Semaphore>,
    poller: Mutex<Option<JoinHandle<()>>>,
    pub stats: DurableStats,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The id of (appointment, name, due time): the same reminder scheduled twice, by any
/// instance, is one row.
pub fn reminder_id(appointment_id: &str, name: &str, due_at: i64) -> String {
    let digest = Sha256::new()
        .chain_update(appointment_id.as_bytes())
        .chain_update([0])
        .chain_update(name.as_bytes())
        .chain_update([0])
        .chain_update(due_at.to_string().as_bytes())
        .finalize();
    format!("rem_{}", &hex::encode(digest)[..32])
}

fn backoff_ms(attempt: i64) -> i64 {
    let doublings = u32::try_from(attempt.clamp(1, 20) - 1).unwrap_or(0);
    (FIRST_BACKOFF_MS << doublings).min(MAX_BACKOFF_MS)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl DurableReminders {
    pub fn new(
        store: Arc<dyn ReminderStore>,
        schedule: Arc<Schedule>,
        api: EkaApiClient,
        sink: Arc<dyn ReminderSink>,
        config: ReminderConfig,
        faults: Faults,
    ) -> Self {
        Self {
            store,
            schedule,
            api,
            sink,
            config,
            faults,
            in_use: AtomicBool::new(false),
            ready: Readiness::default(),
            wake: Notify::new(),
            permits: Arc::new(Semaphore::new(FIRE_CONCURRENCY)),
            poller: Mutex::new(None),
            stats: DurableStats::default(),
        }
    }

    /// The store, its table created (once; a failure is retried by the next call).
    async fn store(&self) -> Result<&dyn ReminderStore, PersistenceError> {
        let store = self.store.clone();
        let create = move || async move { store.ensure_reminder_table().await }.boxed();
        self.ready.ensure(create).await?;
        self.stats.store_calls.fetch_add(1, Ordering::Relaxed);
        Ok(self.store.as_ref())
    }

    pub async fn schedule(
        &self,
        appointment_id: &str,
        name: &str,
        due: DueAt,
    ) -> Result<ReminderRow, CoreError> {
        self.in_use.store(true, Ordering::Relaxed);
        let (due_at, before_start) = match due {
            DueAt::At(at) => (at, None),
            DueAt::BeforeStart(seconds) => {
                let details = self
                    .api
                    .get_appointment_details(appointment_id, None)
                    .await?;
                let start = details
                    .get("start_time")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| {
                        CoreError::InvalidArgument(format!(
                            "reminders.schedule: appointment {appointment_id} has no integer \
                         start_time, so beforeStart cannot be used"
                        ))
                    })?;
                (start * 1000 - seconds * 1000, Some(seconds))
            }
        };
        let reminder = NewReminder {
            id: reminder_id(appointment_id, name, due_at),
            appointment_id: appointment_id.to_string(),
            name: name.to_string(),
            due_at,
            before_start,
        };
        let row = self
            .store()
            .await?
            .insert_reminder(&reminder, now_ms())
            .await?;
        self.wake.notify_one();
        Ok(row)
    }

    pub async fn cancel(&self, appointment_id: &str) -> Result<u64, CoreError> {
        Ok(self.store().await?.cancel_reminders(appointment_id).await?)
    }

    pub async fn list(
        &self,
        appointment_id: Option<&str>,
        of_status: Option<&str>,
    ) -> Result<Vec<ReminderRow>, CoreError> {
        if let Some(s) = of_status.filter(|s| !status::ALL.contains(s)) {
            return Err(CoreError::InvalidArgument(format!(
                "reminders.list: status must be one of {}, got {s:?}",
                status::ALL.join(", ")
            )));
        }
        Ok(self
            .store()
            .await?
            .list_reminders(appointment_id, of_status)
            .await?)
    }

    /// Keeps reminders following their appointment: a cancelled or rescheduled-away
    /// appointment cancels them, a moved one re-arms them, and a reschedule (`p_aid`) moves
    /// them to the new appointment. Failures are not queued but reported (logged only if this
    /// instance does not use durable reminders); fire time checks the status again.
    pub async fn follow_event(&self, event: &WebhookEvent, p_aid: Option<&str>) {
        let Some(context) = &event.context else {
            return;
        };
        let details = &context.appointment_details;
        let text = |field: &str| {
            details
                .get(field)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let Some(appointment_id) = text("appointment_id") else {
            return;
        };
        let result = async {
            let store = self.store().await?;
            if text("status").is_some_and(|s| CANCELLING_STATUSES.contains(&s)) {
                store.cancel_reminders(appointment_id).await?;
                return Ok(());
            }
            let Some(start_ms) = details
                .get("start_time")
                .and_then(Value::as_i64)
                .map(|s| s * 1000)
            else {
                return Ok(());
            };
            if let Some(previous) = p_aid.filter(|p| !p.is_empty() && *p != appointment_id) {
                store
                    .rearm_reminders(previous, appointment_id, start_ms)
                    .await?;
            }
            if event.event_type == APPOINTMENT_UPDATED {
                store
                    .rearm_reminders(appointment_id, appointment_id, start_ms)
                    .await?;
            }
            self.wake.notify_one();
            Ok::<(), PersistenceError>(())
        };
        if let Err(err) = result.await {
            let message =
                format!("could not update the reminders of appointment {appointment_id}: {err}");
            if self.in_use.load(Ordering::Relaxed) {
                self.faults
                    .report(FaultKind::ReminderStore, Some(appointment_id), message);
            } else {
                logger::error(&format!("WebhookSDK: {message}"));
            }
        }
    }

    /// Starts the poll loop on the current runtime, once (`reminders.define`).
    pub fn start_polling(self: &Arc<Self>) {
        self.in_use.store(true, Ordering::Relaxed);
        if !self.config.poll {
            return;
        }
        let mut poller = self.poller.lock().unwrap_or_else(|e| e.into_inner());
        if poller.is_none() {
            let this = Arc::downgrade(self);
            *poller = Some(spawn_supervised("durable reminder poller", move || {
                poll_loop(this.clone())
            }));
        }
    }

    pub fn stop_polling(&self) {
        if let Some(task) = self.poller.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    /// Fires what is due until nothing is, or `max` has passed (then the pass ends after the
    /// fires in flight).
    pub async fn run_due(&self, max: Duration) -> Result<RunSummary, CoreError> {
        let started = Instant::now();
        let mut summary = RunSummary::default();
        loop {
            let limit = FIRE_CONCURRENCY as u32;
            let claimed = self.claim(limit).await?;
            // A batch short of the limit took everything that was due.
            let drained = claimed.len() < limit as usize;
            summary.claimed += claimed.len() as u64;
            let fires = claimed.into_iter().map(|row| self.fire(row));
            for ended in futures::future::join_all(fires).await {
                summary.add(ended);
            }
            if drained || started.elapsed() >= max {
                return Ok(summary);
            }
        }
    }

    async fn claim(&self, limit: u32) -> Result<Vec<ReminderRow>, PersistenceError> {
        let now = now_ms();
        let lease_until = now + duration_ms(self.config.lease);
        let rows = self
            .store()
            .await?
            .claim_due(now, lease_until, limit)
            .await?;
        self.stats.claims.fetch_add(1, Ordering::Relaxed);
        Ok(rows)
    }

    /// Fires one claimed row and records how it ended.
    async fn fire(&self, row: ReminderRow) -> Ended {
        let fired_at = now_ms();
        let late_by_ms = (fired_at - row.due_at).max(0);
        let Some(outcome) = self.outcome_of(&row, fired_at, late_by_ms).await else {
            logger::warn(&format!(
                "WebhookSDK: reminder {} was not fired: its lease ran out first \
                 (raise reminders.leaseSeconds)",
                row.id
            ));
            return Ended::LeaseLost;
        };
        let ended = match &outcome {
            FireOutcome::Retry { .. } => Ended::Retried,
            FireOutcome::Finished { status, .. } => match *status {
                status::DONE => Ended::Done,
                status::MISSED => Ended::Missed,
                status::CANCELLED => Ended::Cancelled,
                _ => Ended::Failed,
            },
        };
        self.report_outcome(&row, &outcome);
        let recorded = match self.store().await {
            Ok(store) => store.finish_fire(&row, fired_at, &outcome).await,
            Err(err) => Err(err),
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                logger::warn(&format!(
                    "WebhookSDK: reminder {} outlived its lease; another instance fired it again",
                    row.id
                ));
                return Ended::LeaseLost;
            }
            // The lease will expire and the reminder be fired again (attempt + 1).
            Err(err) => self.faults.report(
                FaultKind::ReminderStore,
                Some(&row.appointment_id),
                format!("could not record reminder {}: {err}", row.id),
            ),
        }
        if ended == Ended::Done {
            if let Err(err) = self
                .schedule
                .reminder_sent(&row.appointment_id, unix_now())
                .await
            {
                self.faults.report(
                    FaultKind::ReminderStore,
                    Some(&row.appointment_id),
                    format!(
                        "reminder {} fired but reminder_sent_at was not recorded: {err}",
                        row.id
                    ),
                );
            }
        }
        ended
    }

    /// `None`: the lease ran out before the handler could be called (another instance may
    /// already hold the row), so this instance leaves it alone.
    async fn outcome_of(
        &self,
        row: &ReminderRow,
        fired_at: i64,
        late_by_ms: i64,
    ) -> Option<FireOutcome> {
        let first_claim = row.attempt == 1;
        if first_claim
            && late_by_ms > duration_ms(self.config.missed_grace)
            && self.config.on_missed == OnMissed::Skip
        {
            let error = format!("{late_by_ms} ms past due, beyond missedGraceSeconds");
            return Some(FireOutcome::Finished {
                status: status::MISSED,
                error: Some(error),
            });
        }
        let context = match enrich_appointment(&self.api, &row.appointment_id, None).await {
            Ok(context) => context,
            Err(err) => {
                let error = format!("fetching the appointment failed: {err}");
                return Some(self.failure(row, fired_at, error));
            }
        };
        let fresh_status = context
            .appointment_details
            .get("status")
            .and_then(Value::as_str);
        if let Some(s) = fresh_status.filter(|s| CANCELLING_STATUSES.contains(s)) {
            let error = format!("appointment status is {s}");
            return Some(FireOutcome::Finished {
                status: status::CANCELLED,
                error: Some(error),
            });
        }
        // `run_at` of a claimed row is its lease's end.
        if now_ms() >= row.run_at {
            return None;
        }
        let fire = DurableFire {
            id: row.id.clone(),
            appointment_id: row.appointment_id.clone(),
            name: row.name.clone(),
            due_at: row.due_at,
            fired_at,
            late_by_ms,
            attempt: row.attempt,
            context,
        };
        self.stats.fired.fetch_add(1, Ordering::Relaxed);
        Some(match self.sink.fire_durable(&fire).await {
            Ok(()) => FireOutcome::Finished {
                status: status::DONE,
                error: None,
            },
            Err(message) => self.failure(row, fired_at, message),
        })
    }

    /// Reports a fire that failed (for now or for good) or was missed.
    fn report_outcome(&self, row: &ReminderRow, outcome: &FireOutcome) {
        let (kind, message) = match outcome {
            FireOutcome::Retry { run_at, error } => (
                FaultKind::ReminderRetry,
                format!(
                    "reminder {} ('{}') attempt {} failed, retrying in {} ms: {error}",
                    row.id,
                    row.name,
                    row.attempt,
                    (run_at - now_ms()).max(0)
                ),
            ),
            FireOutcome::Finished {
                status: status::FAILED,
                error,
            } => (
                FaultKind::ReminderFailed,
                format!(
                    "reminder {} ('{}') failed after attempt {}: {}",
                    row.id,
                    row.name,
                    row.attempt,
                    error.as_deref().unwrap_or("no reason given")
                ),
            ),
            FireOutcome::Finished {
                status: status::MISSED,
                error,
            } => (
                FaultKind::ReminderMissed,
                format!(
                    "reminder {} ('{}') was missed: {}",
                    row.id,
                    row.name,
                    error.as_deref().unwrap_or("too late")
                ),
            ),
            FireOutcome::Finished { .. } => return,
        };
        self.faults.report(kind, Some(&row.appointment_id), message);
    }

    fn failure(&self, row: &ReminderRow, now: i64, error: String) -> FireOutcome {
        if row.attempt >= i64::from(self.config.max_attempts) {
            FireOutcome::Finished {
                status: status::FAILED,
                error: Some(error),
            }
        } else {
            FireOutcome::Retry {
                run_at: now + backoff_ms(row.attempt),
                error,
            }
        }
    }
}

/// Claims what is due whenever a fire slot is free; sleeps a poll interval (with jitter, so
/// instances do not poll in step), or until the next reminder is due if that is sooner.
async fn poll_loop(this: std::sync::Weak<DurableReminders>) {
    loop {
        let Some(reminders) = this.upgrade() else {
            return;
        };
        let free = reminders.permits.available_permits() as u32;
        let claimed = if free == 0 {
            Ok(Vec::new())
        } else {
            reminders.claim(free).await
        };
        let full = match claimed {
            Ok(rows) => {
                let full = free > 0 && rows.len() as u32 == free;
                for row in rows {
                    let Ok(permit) = reminders.permits.clone().try_acquire_owned() else {
                        break;
                    };
                    let fire = reminders.clone();
                    tokio::spawn(async move {
                        fire.fire(row).await;
                        drop(permit);
                    });
                }
                full
            }
            Err(err) => {
                reminders.faults.report(
                    FaultKind::ReminderStore,
                    None,
                    format!("polling for due reminders failed: {err}"),
                );
                false
            }
        };
        if full {
            continue;
        }
        let interval = duration_ms(reminders.config.poll_interval);
        let mut wait = interval + rand::random_range(0..=interval / 5);
        if free > 0 {
            if let Ok(store) = reminders.store().await {
                if let Ok(Some(at)) = store.next_run_at().await {
                    // A little jitter after the due time too, so instances do not collide.
                    wait = wait.min((at - now_ms()).max(0) + rand::random_range(0..=25));
                }
            }
        }
        let wait = Duration::from_millis(u64::try_from(wait.max(5)).unwrap_or(5));
        let woken = async { reminders.wake.notified().await };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = woken => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(reminder_id("a", "n", 1), reminder_id("a", "n", 1));
        assert_ne!(reminder_id("a", "n", 1), reminder_id("a", "n", 2));
        assert_ne!(reminder_id("a", "bn", 1), reminder_id("ab", "n", 1));
        assert_eq!(reminder_id("a", "n", 1).len(), 36);
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(
            [backoff_ms(1), backoff_ms(2), backoff_ms(3)],
            [1000, 2000, 4000]
        );
        assert_eq!(backoff_ms(40), MAX_BACKOFF_MS);
    }
}
