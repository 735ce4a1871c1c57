//! What the SQL backends share: the schedule table's columns (rendered per dialect), the
//! statements that are the same text in MySQL and SQLite, the migration plan for an older table,
//! and one `ScheduleStore` implementation generic over the sqlx database. A dialect
//! (`mysql.rs`, `sqlite.rs`) supplies only what really differs: its DDL types, its upsert, how
//! it lists a table's columns, and what its errors mean.
//!
//! Every value reaches the database as a bound parameter; the only SQL built at run time is the
//! DDL, from the constant column list below.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolOptions;
use sqlx::{ColumnIndex, Connection, Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use super::{AppointmentIdsBetween, PersistenceError, ScheduleRecord, ScheduleStore, SCHEDULE_TABLE_NAME};
use crate::logger;
use crate::signature::unix_now;

/// A column's type as the Python SDK declares it in MySQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    BigInt,
    VarChar(u16),
}

/// The family a declared column type belongs to: what decides whether an existing column works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeFamily {
    Integer,
    Text,
    Other,
}

impl ColumnType {
    fn family(self) -> TypeFamily {
        match self {
            ColumnType::BigInt => TypeFamily::Integer,
            ColumnType::VarChar(_) => TypeFamily::Text,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
}

impl Column {
    const fn new(name: &'static str, ty: ColumnType, nullable: bool) -> Self {
        Self { name, ty, nullable }
    }

    /// `NOT NULL DEFAULT 0`, `NOT NULL DEFAULT ''` or `NULL DEFAULT NULL`: the same in both
    /// dialects, and what makes `ALTER TABLE … ADD COLUMN` safe on a table that has rows.
    fn constraint(&self) -> &'static str {
        match (self.nullable, self.ty) {
            (true, _) => "NULL DEFAULT NULL",
            (false, ColumnType::BigInt) => "NOT NULL DEFAULT 0",
            (false, ColumnType::VarChar(_)) => "NOT NULL DEFAULT ''",
        }
    }
}

/// The primary key.
pub const KEY_COLUMN: Column = Column::new("appointment_id", ColumnType::VarChar(255), false);

/// The other columns, in the Python SDK's order (`_NON_KEY_COLUMNS` in its `mysql.py`).
pub const NON_KEY_COLUMNS: [Column; 7] = [
    Column::new("start_time", ColumnType::BigInt, false),
    Column::new("end_time", ColumnType::BigInt, false),
    Column::new("status", ColumnType::VarChar(32), false),
    Column::new("visit_type", ColumnType::VarChar(32), false),
    Column::new("created_at", ColumnType::BigInt, false),
    Column::new("p_aid", ColumnType::VarChar(255), true),
    Column::new("reminder_sent_at", ColumnType::BigInt, true),
];

pub const INDEX_NAME: &str = "idx_start_time";

/// `start_time BETWEEN` is inclusive at both ends; the split is the Python SDK's, and the order
/// (which the Python SDK leaves to the database) is made stable.
const FIND_BETWEEN_SQL: &str = "SELECT appointment_id, status, visit_type FROM eka_webhook_schedule_appointment \
     WHERE start_time BETWEEN ? AND ? \
     AND (status = 'BK' OR (status = 'IN' AND visit_type = 'FLW')) \
     ORDER BY start_time, appointment_id";
const UPDATE_STATUS_SQL: &str = "UPDATE eka_webhook_schedule_appointment SET status = ? WHERE appointment_id = ?";
const MARK_REMINDER_SENT_SQL: &str =
    "UPDATE eka_webhook_schedule_appointment SET reminder_sent_at = ? WHERE appointment_id = ?";

/// What differs between the SQL databases.
pub trait SqlDialect: Database {
    /// Inserts a row, or on a duplicate key updates every column but `created_at`, keeping an
    /// existing `p_aid` when the new one is NULL. Binds, in order: appointment_id, start_time,
    /// end_time, status, visit_type, created_at, p_aid.
    const UPSERT_SQL: &'static str;
    /// Rows `(column name, declared type)` of the schedule table; one bind: the table name.
    const LIST_COLUMNS_SQL: &'static str;

    /// The column's type in this dialect's DDL, e.g. `BIGINT` or `INTEGER`.
    fn column_type(ty: ColumnType) -> String;
    /// The statements that create the table and its index when they do not exist.
    fn create_statements() -> Vec<String>;
    /// The family of a type as the database reports it for an existing column.
    fn type_family(declared: &str) -> TypeFamily;
    fn rows_affected(result: &Self::QueryResult) -> u64;
    /// The `ALTER TABLE … ADD COLUMN` lost a race with another process that added it first.
    fn is_duplicate_column(err: &sqlx::Error) -> bool;
    /// A precise `PersistenceError` for a driver error. `target` names the database without
    /// any secret (e.g. `MySQL at db:3306/app`).
    fn map_error(err: sqlx::Error, target: &str, connect_timeout: Duration) -> PersistenceError;

    /// How long a write refused as [`is_busy`](SqlDialect::is_busy) is tried again. SQLite can
    /// refuse a write lock at once, without waiting out its busy timeout (two connections
    /// sharing a WAL file, one upgrading from a read snapshot); servers queue writers
    /// themselves, so the default is not to retry.
    const BUSY_RETRY: Duration = Duration::ZERO;

    /// True when another writer holds the lock right now.
    fn is_busy(_err: &sqlx::Error) -> bool {
        false
    }
}

/// `name TYPE constraint`, as in `CREATE TABLE` and `ALTER TABLE … ADD COLUMN`.
pub fn column_definition<D: SqlDialect>(column: &Column) -> String {
    format!("{} {} {}", column.name, D::column_type(column.ty), column.constraint())
}

/// The `CREATE TABLE IF NOT EXISTS` text, laid out exactly as the Python SDK's (whose MySQL
/// form must match byte for byte so `SHOW CREATE TABLE` is the same whoever created it).
/// `inline_index`: MySQL declares the index in the table; SQLite creates it separately.
pub fn create_table_sql<D: SqlDialect>(inline_index: bool) -> String {
    let mut lines = vec![format!("{} {} NOT NULL", KEY_COLUMN.name, D::column_type(KEY_COLUMN.ty))];
    lines.extend(NON_KEY_COLUMNS.iter().map(column_definition::<D>));
    lines.push(format!("PRIMARY KEY ({})", KEY_COLUMN.name));
    if inline_index {
        lines.push(format!("INDEX {INDEX_NAME} (start_time)"));
    }
    format!("CREATE TABLE IF NOT EXISTS {SCHEDULE_TABLE_NAME} (\n  {}\n)", lines.join(",\n  "))
}

/// Checks an existing table's columns (`(name, declared type)`) and returns the ones to add.
/// A column of the wrong type family, or a missing key, makes the table unusable.
pub fn plan_migration<D: SqlDialect>(existing: &[(String, String)]) -> Result<Vec<Column>, PersistenceError> {
    let declared = |name: &str| existing.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, t)| t.as_str());
    let mut missing = Vec::new();
    for column in std::iter::once(&KEY_COLUMN).chain(NON_KEY_COLUMNS.iter()) {
        match declared(column.name) {
            Some(ty) if D::type_family(ty) == column.ty.family() => {}
            Some(ty) => {
                return Err(PersistenceError::IncompatibleSchema(format!(
                    "{} column {SCHEDULE_TABLE_NAME}.{} has type {ty}, expected {} (as the Python SDK creates it); \
                     alter or drop the column",
                    <D as Database>::NAME,
                    column.name,
                    D::column_type(column.ty),
                )))
            }
            None if column.name == KEY_COLUMN.name => {
                return Err(PersistenceError::IncompatibleSchema(format!(
                    "{} table {SCHEDULE_TABLE_NAME} has no {} column; it was not created by this SDK",
                    <D as Database>::NAME,
                    KEY_COLUMN.name,
                )))
            }
            None => missing.push(*column),
        }
    }
    Ok(missing)
}

/// Splits `(appointment_id, status, visit_type)` rows as the Python SDK does: `BK` is a normal
/// booking, `IN` + `FLW` a follow-up, anything else is ignored. Order is kept.
pub fn split_ids(rows: impl IntoIterator<Item = (String, String, String)>) -> AppointmentIdsBetween {
    let mut out = AppointmentIdsBetween::default();
    for (id, status, visit_type) in rows {
        match (status.as_str(), visit_type.as_str()) {
            ("BK", _) => out.appointments.push(id),
            ("IN", "FLW") => out.followup_appointments.push(id),
            _ => {}
        }
    }
    out
}

/// A schedule store over a sqlx pool. `MysqlStore` and `SqliteStore` are this with a dialect.
pub struct SqlStore<D: SqlDialect> {
    connect_options: <D::Connection as Connection>::Options,
    pool_options: PoolOptions<D>,
    /// Made on first use, inside the caller's runtime: sqlx spawns the pool's maintenance tasks
    /// when it builds one, and the SDK's constructor runs on the JS thread, outside any runtime.
    pool: OnceLock<Pool<D>>,
    /// Names the database for messages; never holds a secret.
    target: String,
    connect_timeout: Duration,
}

impl<D: SqlDialect> SqlStore<D> {
    /// `pool_options` should bound `acquire_timeout`: sqlx's default waits 30 s.
    pub(crate) fn with_options(
        connect_options: <D::Connection as Connection>::Options,
        pool_options: PoolOptions<D>,
        target: String,
    ) -> Self {
        let connect_timeout = pool_options.get_acquire_timeout();
        Self { connect_options, pool_options, pool: OnceLock::new(), target, connect_timeout }
    }

    /// The pool, built (without connecting) on first call. Call it from within a Tokio runtime.
    pub fn pool(&self) -> &Pool<D> {
        self.pool.get_or_init(|| self.pool_options.clone().connect_lazy_with(self.connect_options.clone()))
    }

    fn error(&self, err: sqlx::Error) -> PersistenceError {
        D::map_error(err, &self.target, self.connect_timeout)
    }

    /// Runs a write, again (after a short, growing pause) while the dialect calls its error
    /// busy, for up to [`SqlDialect::BUSY_RETRY`].
    async fn write<T, F, Fut>(&self, mut run: F) -> Result<T, PersistenceError>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, sqlx::Error>> + Send,
        T: Send,
    {
        let deadline = tokio::time::Instant::now() + D::BUSY_RETRY;
        let mut pause = Duration::from_millis(1);
        loop {
            match run().await {
                Err(e) if D::is_busy(&e) && tokio::time::Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                result => return result.map_err(|e| self.error(e)),
            }
        }
    }
}

#[async_trait]
impl<D> ScheduleStore for SqlStore<D>
where
    D: SqlDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    for<'a> i64: Encode<'a, D> + Type<D>,
    for<'a> &'a str: Encode<'a, D> + Type<D>,
    for<'a> Option<&'a str>: Encode<'a, D> + Type<D>,
    for<'r> String: Decode<'r, D> + Type<D>,
    usize: ColumnIndex<D::Row>,
{
    async fn ensure_table(&self) -> Result<(), PersistenceError> {
        for statement in D::create_statements() {
            self.write(|| sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone())).execute(self.pool())).await?;
        }
        let existing: Vec<(String, String)> = sqlx::query_as(D::LIST_COLUMNS_SQL)
            .bind(SCHEDULE_TABLE_NAME)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.error(e))?;
        for column in plan_migration::<D>(&existing)? {
            let alter = format!("ALTER TABLE {SCHEDULE_TABLE_NAME} ADD COLUMN {}", column_definition::<D>(&column));
            match sqlx::raw_sql(sqlx::AssertSqlSafe(alter)).execute(self.pool()).await {
                Ok(_) => logger::log(&format!(
                    "WebhookSDK: added missing {} column {} on {SCHEDULE_TABLE_NAME}",
                    <D as Database>::NAME,
                    column.name
                )),
                // Another process (or SDK instance) added it between our look and our ALTER.
                Err(e) if D::is_duplicate_column(&e) => {}
                Err(e) => return Err(self.error(e)),
            }
        }
        Ok(())
    }

    async fn upsert(&self, record: &ScheduleRecord) -> Result<(), PersistenceError> {
        let created_at = unix_now();
        self.write(|| {
            sqlx::query(D::UPSERT_SQL)
                .bind(record.appointment_id.as_str())
                .bind(record.start_time)
                .bind(record.end_time)
                .bind(record.status.as_str())
                .bind(record.visit_type.as_str())
                .bind(created_at)
                .bind(record.p_aid.as_deref())
                .execute(self.pool())
        })
        .await?;
        Ok(())
    }

    async fn update_status(&self, appointment_id: &str, status: &str) -> Result<bool, PersistenceError> {
        let result = self
            .write(|| sqlx::query(UPDATE_STATUS_SQL).bind(status).bind(appointment_id).execute(self.pool()))
            .await?;
        Ok(D::rows_affected(&result) > 0)
    }

    async fn mark_reminder_sent(&self, appointment_id: &str, now: i64) -> Result<bool, PersistenceError> {
        let result = self
            .write(|| sqlx::query(MARK_REMINDER_SENT_SQL).bind(now).bind(appointment_id).execute(self.pool()))
            .await?;
        Ok(D::rows_affected(&result) > 0)
    }

    async fn find_appointment_ids_between(
        &self,
        start_time: i64,
        end_time: i64,
    ) -> Result<AppointmentIdsBetween, PersistenceError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(FIND_BETWEEN_SQL)
            .bind(start_time)
            .bind(end_time)
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.error(e))?;
        Ok(split_ids(rows))
    }

    async fn close(&self) {
        // Building a never-used pool here costs nothing (it is lazy) and leaves the store closed.
        self.pool().close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: &str, visit: &str) -> (String, String, String) {
        (id.into(), status.into(), visit.into())
    }

    #[test]
    fn split_follows_the_python_rules_and_keeps_order() {
        let out = split_ids([
            row("a", "BK", "NEW"),
            row("b", "IN", "FLW"),
            row("c", "IN", "NEW"),
            row("d", "BK", "FLW"),
            row("e", "CND", "FLW"),
        ]);
        assert_eq!(out.appointments, ["a", "d"]);
        assert_eq!(out.followup_appointments, ["b"]);
    }
}
