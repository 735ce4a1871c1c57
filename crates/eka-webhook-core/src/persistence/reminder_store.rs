//! The durable reminders' table, `eka_webhook_reminder`: one row per reminder, claimed under a
//! lease so that one instance fires it. One trait, one implementation per backend (the SQL
//! dialects share theirs in `reminder_sql.rs`; DynamoDB's is `reminder_dynamodb.rs`).
//!
//! Times are epoch milliseconds. `run_at` is when the row may next be claimed: the due time
//! while pending, the retry time after a failure, and the lease's end while running (so a lease
//! that expires makes the row claimable again by the same condition).

use async_trait::async_trait;

use super::PersistenceError;

pub const REMINDER_TABLE_NAME: &str = "eka_webhook_reminder";

/// The statuses a reminder row goes through.
pub mod status {
    pub const PENDING: &str = "pending";
    pub const RUNNING: &str = "running";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
    pub const MISSED: &str = "missed";
    pub const CANCELLED: &str = "cancelled";
    pub const ALL: [&str; 6] = [PENDING, RUNNING, DONE, FAILED, MISSED, CANCELLED];
}

/// The longest `last_error` kept (the column's width).
pub const LAST_ERROR_MAX_CHARS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderRow {
    pub id: String,
    pub appointment_id: String,
    pub name: String,
    pub due_at: i64,
    pub run_at: i64,
    /// Seconds before the appointment's start, for a reminder that follows the appointment.
    pub before_start: Option<i64>,
    pub status: String,
    /// Claims so far (the fire in progress is attempt `attempt`).
    pub attempt: i64,
    pub fired_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// A new reminder, as `schedule` inserts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReminder {
    pub id: String,
    pub appointment_id: String,
    pub name: String,
    pub due_at: i64,
    pub before_start: Option<i64>,
}

/// How a fire ended: the row's final status, or a retry at `run_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FireOutcome {
    Finished {
        status: &'static str,
        error: Option<String>,
    },
    Retry {
        run_at: i64,
        error: String,
    },
}

#[async_trait]
pub trait ReminderStore: Send + Sync {
    /// Creates the table and its indexes, or adds the columns an older table lacks. Idempotent.
    async fn ensure_reminder_table(&self) -> Result<(), PersistenceError>;
    /// Inserts the row unless one with its id exists; an existing row that ended `failed`,
    /// `missed` or `cancelled` is armed again. Returns the row as stored.
    async fn insert_reminder(
        &self,
        reminder: &NewReminder,
        now: i64,
    ) -> Result<ReminderRow, PersistenceError>;
    /// Claims at most `limit` rows that are pending and due, or running with an expired
    /// lease: each becomes `running` with `attempt + 1` and `run_at = lease_until`. A row is
    /// claimed by one caller only, whatever runs concurrently.
    async fn claim_due(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ReminderRow>, PersistenceError>;
    /// Records how the fire of a row as `claim_due` returned it ended. `Ok(false)`: the lease
    /// was lost (another instance claimed the row again), so nothing was written.
    async fn finish_fire(
        &self,
        claimed: &ReminderRow,
        fired_at: i64,
        outcome: &FireOutcome,
    ) -> Result<bool, PersistenceError>;
    /// Pending reminders of the appointment become `cancelled`; returns how many.
    async fn cancel_reminders(&self, appointment_id: &str) -> Result<u64, PersistenceError>;
    /// Pending `before_start` reminders of `from_appointment_id` move to `to_appointment_id`,
    /// due `before_start` seconds before `start_ms`; returns how many.
    async fn rearm_reminders(
        &self,
        from_appointment_id: &str,
        to_appointment_id: &str,
        start_ms: i64,
    ) -> Result<u64, PersistenceError>;
    /// Rows by due time, filtered by appointment and status when given.
    async fn list_reminders(
        &self,
        appointment_id: Option<&str>,
        status: Option<&str>,
    ) -> Result<Vec<ReminderRow>, PersistenceError>;
    /// The earliest `run_at` of a pending or running row.
    async fn next_run_at(&self) -> Result<Option<i64>, PersistenceError>;
}

/// Keeps an error text within the column.
pub fn clip_error(message: &str) -> String {
    message.chars().take(LAST_ERROR_MAX_CHARS).collect()
}
