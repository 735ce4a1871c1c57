//! Schedule persistence: the table `eka_webhook_schedule_appointment`, shared with the Python
//! SDK 0.1.4, behind one trait with a backend per database.

use async_trait::async_trait;
use thiserror::Error;

pub const SCHEDULE_TABLE_NAME: &str = "eka_webhook_schedule_appointment";

/// One row of the schedule table (the columns the SDK writes; `created_at` and
/// `reminder_sent_at` are managed by the backends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRecord {
    pub appointment_id: String,
    pub start_time: i64,
    pub end_time: i64,
    pub status: String,
    pub visit_type: String,
    pub p_aid: Option<String>,
}

/// Ids whose `start_time` lies in an inclusive window, split as the Python SDK does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppointmentIdsBetween {
    /// status `BK`
    pub appointments: Vec<String>,
    /// status `IN` and visit_type `FLW`
    pub followup_appointments: Vec<String>,
}

#[derive(Debug, Clone, Error)]
pub enum PersistenceError {
    #[error("database unreachable: {0}")]
    Unreachable(String),
    #[error("database rejected the credentials: {0}")]
    Auth(String),
    #[error("schedule table is incompatible: {0}")]
    IncompatibleSchema(String),
    #[error("schedule index is not ready: {0}")]
    IndexNotReady(String),
    #[error("database error: {0}")]
    Database(String),
    /// The database refused the row for its content (too long, a value it cannot store): no
    /// retry can succeed.
    #[error("the database refused the row: {0}")]
    Rejected(String),
}

/// SQLSTATE class 22, "data exception": a value the column cannot hold (too long, out of
/// range, a character the encoding lacks). PostgreSQL and MySQL both report it.
pub const DATA_EXCEPTION_CLASS: &str = "22";

/// Whether a server error's SQLSTATE is a data exception.
pub fn is_data_exception(sqlstate: Option<&str>) -> bool {
    sqlstate.is_some_and(|code| code.starts_with(DATA_EXCEPTION_CLASS))
}

/// Every backend also holds the delivery ledger, in the same database.
#[async_trait]
pub trait ScheduleStore: ledger::DeliveryStore {
    /// Creates the table (and index/GSI) as the Python SDK does, or adds what an older table
    /// lacks. Idempotent.
    async fn ensure_table(&self) -> Result<(), PersistenceError>;
    /// Inserts or replaces the row, keeping `created_at`, and keeping an existing `p_aid`
    /// when `record.p_aid` is `None`.
    async fn upsert(&self, record: &ScheduleRecord) -> Result<(), PersistenceError>;
    /// Sets `status` on an existing row. `Ok(false)` when there is no such row.
    async fn update_status(
        &self,
        appointment_id: &str,
        status: &str,
    ) -> Result<bool, PersistenceError>;
    /// Sets `reminder_sent_at = now` on an existing row. `Ok(false)` when there is no such row.
    async fn mark_reminder_sent(
        &self,
        appointment_id: &str,
        now: i64,
    ) -> Result<bool, PersistenceError>;
    /// Inclusive bounds, ordered by `start_time` then `appointment_id`.
    async fn find_appointment_ids_between(
        &self,
        start_time: i64,
        end_time: i64,
    ) -> Result<AppointmentIdsBetween, PersistenceError>;
    /// Closes pools; the store is unusable afterwards.
    async fn close(&self);
}
pub mod dynamodb;
pub mod ledger;
pub mod mysql;
pub mod postgres;
pub mod readiness;
pub mod reminder_dynamodb;
pub mod reminder_sql;
pub mod reminder_store;
pub mod schedule;
pub mod sql;
pub mod sqlite;
pub mod write_queue;

/// The configured backend, as each concern sees it (one connection pool for both).
pub struct Stores {
    pub schedule: std::sync::Arc<dyn ScheduleStore>,
    pub reminders: std::sync::Arc<dyn reminder_store::ReminderStore>,
}

fn stores<T: ScheduleStore + reminder_store::ReminderStore + 'static>(store: T) -> Stores {
    let store = std::sync::Arc::new(store);
    Stores {
        schedule: store.clone(),
        reminders: store,
    }
}

/// Opens the configured backend (the config is already validated, so this cannot fail).
/// Connections are made lazily (on the first webhook or query), so constructing an SDK never
/// blocks on the database.
pub fn open_stores(config: &crate::config::PersistenceConfig) -> Stores {
    use crate::config::PersistenceConfig;
    match config {
        PersistenceConfig::Sqlite(c) => stores(sqlite::SqliteStore::new(c)),
        PersistenceConfig::Mysql(c) => stores(mysql::MysqlStore::new(c)),
        PersistenceConfig::Dynamodb(c) => stores(dynamodb::DynamoDbStore::new(c.clone())),
        PersistenceConfig::Postgres(c) => stores(postgres::PostgresStore::new(c)),
    }
}

/// The schedule store of the configured backend.
pub fn open_store(config: &crate::config::PersistenceConfig) -> std::sync::Arc<dyn ScheduleStore> {
    open_stores(config).schedule
}
