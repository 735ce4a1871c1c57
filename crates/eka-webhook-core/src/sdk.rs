//! One SDK instance: its configuration, API client, schedule store and pipeline, and the
//! operations the binding exposes on `WebhookSDK`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::api_client::EkaApiClient;
use crate::config::PersistenceConfig;
use crate::config::SdkConfig;
use crate::error::CoreError;
use crate::faults::{FaultSink, Faults};
use crate::logger;
use crate::persistence::ledger::Ledger;
use crate::persistence::open_stores;
use crate::persistence::reminder_store::ReminderRow;
use crate::persistence::schedule::{AppointmentsBetween, Schedule};
use crate::persistence::sqlite::SQLITE_MEMORY;
use crate::pipeline::{EventSink, Pipeline};
use crate::reminders::durable::{DueAt, DurableReminders, RunSummary};
use crate::reminders::{ReminderScheduler, ReminderSink, ScheduledReminder};
use crate::server::{ServerOptions, StandaloneServer};
use crate::signature::unix_now;
use crate::telemetry::Telemetry;

/// How long `close()` lets writes waiting for the database reach it.
const CLOSE_FLUSH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// What `close()` could not finish.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloseReport {
    /// Schedule writes still waiting for the database when the flush deadline passed: lost.
    pub unflushed_writes: usize,
}

pub struct WebhookSdk {
    config: Arc<SdkConfig>,
    api: EkaApiClient,
    schedule: Option<Arc<Schedule>>,
    pipeline: Arc<Pipeline>,
    servers: std::sync::Mutex<Vec<Arc<StandaloneServer>>>,
    reminder_sink: Option<Arc<dyn ReminderSink>>,
    reminders: OnceLock<ReminderScheduler>,
    faults: Faults,
    /// `Err`: why durable reminders are unavailable (no persistence, or `:memory:`).
    durable: Result<Arc<DurableReminders>, String>,
    closed: AtomicBool,
    /// The first `close()`'s report, which later calls return too.
    close_report: tokio::sync::OnceCell<CloseReport>,
}

impl WebhookSdk {
    /// `reminder_sink` receives fired reminders; without one, `schedule_reminder` is refused.
    /// `fault_sink` hears of the schedule writes that are dropped and the reminders that fail
    /// (they are logged anyway).
    pub fn new(
        config: SdkConfig,
        on_event: Option<Arc<dyn EventSink>>,
        reminder_sink: Option<Arc<dyn ReminderSink>>,
        fault_sink: Option<Arc<dyn FaultSink>>,
    ) -> Result<Self, CoreError> {
        logger::set_debug(config.debug);
        let config = Arc::new(config);
        let api = EkaApiClient::new(config.credentials.clone()).map_err(|e| {
            CoreError::InvalidConfig(format!("WebhookSDK: 'apiBaseUrl' is invalid: {e}"))
        })?;
        let faults = Faults::new(fault_sink);
        let stores = config.persistence.as_ref().map(open_stores);
        let schedule = stores
            .as_ref()
            .map(|s| Schedule::new(s.schedule.clone()).with_faults(faults.clone()))
            .map(Arc::new);
        let durable = match (&config.persistence, stores, &schedule, &reminder_sink) {
            (None, ..) => Err("'persistence' is not configured".to_string()),
            (Some(PersistenceConfig::Sqlite(c)), ..) if c.filename == SQLITE_MEMORY => {
                Err("SQLite ':memory:' does not outlive the process; use a file".to_string())
            }
            (_, Some(stores), Some(schedule), Some(sink)) => Ok(Arc::new(DurableReminders::new(
                stores.reminders,
                schedule.clone(),
                api.clone(),
                sink.clone(),
                config.reminders.clone(),
                faults.clone(),
            ))),
            _ => Err("there is no reminder callback bridge".to_string()),
        };
        let ledger = config.delivery_ledger_ttl_seconds.map(|ttl| {
            Arc::new(match &schedule {
                Some(schedule) => Ledger::in_database(schedule.store().clone(), ttl),
                None => Ledger::in_memory(ttl),
            })
        });
        let pipeline = Pipeline::new(
            config.clone(),
            api.clone(),
            schedule.clone(),
            ledger,
            on_event,
        )
        .with_reminders(durable.as_ref().ok().cloned());
        let pipeline = Arc::new(pipeline);
        Ok(Self {
            config,
            api,
            schedule,
            pipeline,
            servers: Default::default(),
            reminder_sink,
            reminders: OnceLock::new(),
            faults,
            durable,
            closed: AtomicBool::new(false),
            close_report: tokio::sync::OnceCell::new(),
        })
    }

    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    pub fn api(&self) -> &EkaApiClient {
        &self.api
    }

    /// Shared with the standalone servers, which outlive a single call.
    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// Starts a standalone server on the current tokio runtime; `close()` stops it too.
    pub fn listen(&self, port: u16) -> Result<Arc<StandaloneServer>, CoreError> {
        self.ensure_open()?;
        let server = Arc::new(StandaloneServer::bind(
            port,
            self.pipeline.clone(),
            ServerOptions::new(&self.config),
        )?);
        self.servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(server.clone());
        Ok(server)
    }

    /// Schedules a one-shot reminder at `fire_at_ms` (epoch ms); the scheduler task starts (on
    /// the current tokio runtime) with the first one.
    pub fn schedule_reminder(
        &self,
        fire_at_ms: i64,
        appointment_id: &str,
    ) -> Result<ScheduledReminder, CoreError> {
        self.ensure_open()?;
        let sink = self.reminder_sink.clone().ok_or_else(|| {
            CoreError::Reminder("WebhookSDK: reminders need a callback bridge".into())
        })?;
        Ok(self
            .reminders
            .get_or_init(|| ReminderScheduler::start(self.api.clone(), sink, self.faults.clone()))
            .schedule(fire_at_ms, appointment_id))
    }

    /// True when the reminder was pending.
    pub fn cancel_reminder(&self, reminder_id: &str) -> bool {
        self.reminders.get().is_some_and(|r| r.cancel(reminder_id))
    }

    /// The durable reminders, or `ERR_PERSISTENCE_NOT_CONFIGURED` saying why there are none.
    pub fn durable_reminders(&self, method: &str) -> Result<&Arc<DurableReminders>, CoreError> {
        self.ensure_open()?;
        self.durable.as_ref().map_err(|why| {
            CoreError::PersistenceNotConfigured(format!(
                "WebhookSDK: reminders.{method}() needs durable persistence: {why}"
            ))
        })
    }

    /// Starts polling for due reminders (when `reminders.poll`), on the current runtime.
    pub fn start_reminder_polling(&self) -> Result<(), CoreError> {
        self.durable_reminders("define")?.start_polling();
        Ok(())
    }

    pub async fn schedule_durable_reminder(
        &self,
        appointment_id: &str,
        name: &str,
        due: DueAt,
    ) -> Result<ReminderRow, CoreError> {
        self.durable_reminders("schedule")?
            .schedule(appointment_id, name, due)
            .await
    }

    pub async fn run_due_reminders(
        &self,
        max: std::time::Duration,
    ) -> Result<RunSummary, CoreError> {
        self.durable_reminders("runDue")?.run_due(max).await
    }

    pub fn telemetry(&self) -> &Arc<Telemetry> {
        self.api.telemetry()
    }

    /// Every counter as plain numbers (`sdk.stats()`).
    pub fn stats(&self) -> Value {
        let depth = self.schedule.as_ref().map_or(0, |s| s.write_queue_depth());
        self.api.telemetry().snapshot(depth)
    }

    fn schedule_for(&self, method: &str) -> Result<&Arc<Schedule>, CoreError> {
        self.ensure_open()?;
        self.schedule.as_ref().ok_or_else(|| {
            CoreError::PersistenceNotConfigured(format!(
                "WebhookSDK: 'persistence' must be configured to call {method}()"
            ))
        })
    }

    pub async fn find_appointments_between(
        &self,
        start_time: i64,
        end_time: i64,
    ) -> Result<AppointmentsBetween, CoreError> {
        let schedule = self.schedule_for("findAppointmentsBetween")?;
        // An empty window, as in the Python SDK (no query: DynamoDB refuses such a BETWEEN).
        if start_time > end_time {
            return Ok(AppointmentsBetween::default());
        }
        Ok(schedule
            .find_appointments_between(&self.api, start_time, end_time)
            .await?)
    }

    pub async fn reminder_sent(&self, appointment_id: &str) -> Result<(), CoreError> {
        let schedule = self.schedule_for("reminderSent")?;
        Ok(schedule.reminder_sent(appointment_id, unix_now()).await?)
    }

    pub async fn get_appointment_details(
        &self,
        id: &str,
        partner_id: Option<&str>,
    ) -> Result<Value, CoreError> {
        self.ensure_open()?;
        Ok(self.api.get_appointment_details(id, partner_id).await?)
    }

    pub async fn get_patient_details(&self, id: &str) -> Result<Value, CoreError> {
        self.ensure_open()?;
        Ok(self.api.get_patient_details(id).await?)
    }

    pub async fn get_doctor_details(&self, id: &str) -> Result<Value, CoreError> {
        self.ensure_open()?;
        Ok(self.api.get_doctor_details(id).await?)
    }

    pub async fn get_clinic_details(&self, id: &str) -> Result<Value, CoreError> {
        self.ensure_open()?;
        Ok(self.api.get_clinic_details(id).await?)
    }

    fn ensure_open(&self) -> Result<(), CoreError> {
        if self.closed.load(Ordering::Acquire) {
            Err(CoreError::Closed(
                "WebhookSDK: this instance was closed".into(),
            ))
        } else {
            Ok(())
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Stops the servers (letting requests in flight finish), gives waiting schedule writes
    /// up to 10 s, then closes the schedule store's pools. Idempotent: a later (or concurrent)
    /// call waits for the first and returns its report.
    pub async fn close(&self) -> CloseReport {
        *self.close_report.get_or_init(|| self.shut_down()).await
    }

    async fn shut_down(&self) -> CloseReport {
        self.closed.store(true, Ordering::Release);
        if let Some(reminders) = self.reminders.get() {
            reminders.shutdown();
        }
        if let Ok(durable) = &self.durable {
            durable.stop_polling();
        }
        let servers = std::mem::take(&mut *self.servers.lock().unwrap_or_else(|e| e.into_inner()));
        futures::future::join_all(servers.iter().map(|s| s.close())).await;
        let unflushed_writes = match &self.schedule {
            Some(schedule) => schedule.close(CLOSE_FLUSH_DEADLINE).await,
            None => 0,
        };
        CloseReport { unflushed_writes }
    }
}
