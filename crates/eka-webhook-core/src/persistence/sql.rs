//! What the SQL backends share: the schedule table's columns (rendered per dialect), the
//! statements that are the same text in MySQL, PostgreSQL and SQLite (bind markers aside), the
//! migration plan for an older table, the error cases every server has, and one
//! `ScheduleStore` implementation generic over the sqlx database. A dialect (`mysql.rs`,
//! `postgres.rs`, `sqlite.rs`) supplies only what really differs: its DDL types, its upsert, how
//! it lists a table's columns, and what its errors mean.
//!
//! Every value reaches the database as a bound parameter; the only SQL built at run time is the
//! DDL, from the constant column list below.

use std::borrow::Cow;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::error::DatabaseError;
use sqlx::pool::PoolOptions;
use sqlx::query::Query;
use sqlx::{
    Connection, Database, Encode, Executor, FromRow, IntoArguments, Pool, SqlSafeStr, Type,
};

use super::ledger::{Claim, ClaimWindow, DeliveryStore, NewClaim, STATUS_DONE};
use super::reminder_sql::ReminderTuple;
use super::{
    AppointmentIdsBetween, PersistenceError, ScheduleRecord, ScheduleStore, SCHEDULE_TABLE_NAME,
};
use crate::config::DEFAULT_DB_QUERY_TIMEOUT;
use crate::logger;
use crate::signature::unix_now;
use Value::{Int, IntOrNull, Text, TextOrNull};

/// A column's type as the Python SDK declares it in MySQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    BigInt,
    VarChar(u16),
}

/// A table this SDK creates and migrates: its key and other columns.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    pub name: &'static str,
    pub key: Column,
    pub columns: &'static [Column],
}

/// The schedule table, shared with the Python SDK.
pub const SCHEDULE_TABLE: TableSpec = TableSpec {
    name: SCHEDULE_TABLE_NAME,
    key: KEY_COLUMN,
    columns: &NON_KEY_COLUMNS,
};

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
    pub const fn new(name: &'static str, ty: ColumnType, nullable: bool) -> Self {
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

/// How much longer than its query timeout the SDK waits for a statement, so that a server that
/// ends a lock wait at the timeout itself (MySQL) answers with its own error first.
pub const QUERY_TIMEOUT_GRACE: Duration = Duration::from_secs(1);

/// The upsert of SQLite and PostgreSQL (which share this syntax); MySQL has its own.
pub const ON_CONFLICT_UPSERT_SQL: &str = "INSERT INTO eka_webhook_schedule_appointment \
     (appointment_id, start_time, end_time, status, visit_type, created_at, p_aid) \
     VALUES (?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (appointment_id) DO UPDATE SET \
     start_time = excluded.start_time, \
     end_time = excluded.end_time, \
     status = excluded.status, \
     visit_type = excluded.visit_type, \
     p_aid = COALESCE(excluded.p_aid, eka_webhook_schedule_appointment.p_aid)";

/// The pool size of the server databases: the Python SDK's for MySQL.
pub const SERVER_POOL_SIZE: u32 = 10;

/// `start_time BETWEEN` is inclusive at both ends; the split is the Python SDK's, and the order
/// (which the Python SDK leaves to the database) is made stable.
const FIND_BETWEEN_SQL: &str =
    "SELECT appointment_id, status, visit_type FROM eka_webhook_schedule_appointment \
     WHERE start_time BETWEEN ? AND ? \
     AND (status = 'BK' OR (status = 'IN' AND visit_type = 'FLW')) \
     ORDER BY start_time, appointment_id";
const UPDATE_STATUS_SQL: &str =
    "UPDATE eka_webhook_schedule_appointment SET status = ? WHERE appointment_id = ?";
const MARK_REMINDER_SENT_SQL: &str =
    "UPDATE eka_webhook_schedule_appointment SET reminder_sent_at = ? WHERE appointment_id = ?";

/// A value bound to a statement: every column here is an integer or a text.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Int(i64),
    Text(&'a str),
    IntOrNull(Option<i64>),
    TextOrNull(Option<&'a str>),
}

/// The sqlx calls whose bounds (on `&mut D::Connection`, `i64`, `&str`, …) hold for MySQL,
/// PostgreSQL and SQLite but, not being bounds on the database type, would not follow from
/// `D: SqlDialect`: the blanket impl states them once, so the generic stores need none.
pub trait SqlDriver: Database<Arguments: IntoArguments<Self>> {
    /// The pool, as what runs a statement.
    fn on_pool(pool: &Pool<Self>) -> impl Executor<'_, Database = Self>;
    /// A transaction's connection, as what runs a statement.
    fn on_connection(connection: &mut Self::Connection) -> impl Executor<'_, Database = Self>;
    /// `sql` with `values` bound in order.
    fn query(sql: impl SqlSafeStr, values: &[Value]) -> Query<'static, Self, Self::Arguments>;
}

impl<D> SqlDriver for D
where
    D: Database<Arguments: IntoArguments<D>>,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'a> Option<i64>: Encode<'a, D> + Type<D>,
    for<'a> Option<&'a str>: Encode<'a, D> + Type<D>,
{
    fn on_pool(pool: &Pool<D>) -> impl Executor<'_, Database = D> {
        pool
    }

    fn on_connection(connection: &mut D::Connection) -> impl Executor<'_, Database = D> {
        connection
    }

    fn query(sql: impl SqlSafeStr, values: &[Value]) -> Query<'static, D, D::Arguments> {
        // `Some(v)` binds exactly as `v` would.
        let bind = |query: Query<'static, D, D::Arguments>, value: &Value| match *value {
            Int(v) => query.bind(Some(v)),
            Text(v) => query.bind(Some(v)),
            IntOrNull(v) => query.bind(v),
            TextOrNull(v) => query.bind(v),
        };
        values.iter().fold(sqlx::query(sql), bind)
    }
}

/// Reads a row as `O`: sqlx's `FromRow`, which (like [`SqlDriver`]'s bounds) would not follow
/// from `D: SqlDialect` as a bound on `O`, but does as this supertrait of it.
pub trait Reads<O>: Database {
    fn read(row: Self::Row) -> Result<O, sqlx::Error>;
}

impl<D: Database, O: for<'r> FromRow<'r, D::Row>> Reads<O> for D {
    fn read(row: D::Row) -> Result<O, sqlx::Error> {
        O::from_row(&row)
    }
}

/// What differs between the SQL databases; the row shapes the stores read.
pub trait SqlDialect:
    SqlDriver
    + Reads<(String,)>
    + Reads<(String, String)>
    + Reads<(String, String, String)>
    + Reads<(Option<i64>,)>
    + Reads<ReminderTuple>
{
    /// Inserts a row, or on a duplicate key updates every column but `created_at`, keeping an
    /// existing `p_aid` when the new one is NULL. Binds, in order: appointment_id, start_time,
    /// end_time, status, visit_type, created_at, p_aid.
    const UPSERT_SQL: &'static str;
    /// Rows `(column name, declared type)` of the schedule table; one bind: the table name.
    const LIST_COLUMNS_SQL: &'static str;
    /// Binds are written `?` in every statement here; PostgreSQL numbers them (`$1`, `$2`, …).
    const NUMBERED_BINDS: bool = false;
    /// `INSERT … ON CONFLICT (id) DO NOTHING` is written `{prefix} INTO … VALUES (…){suffix}`.
    const INSERT_IGNORE: (&'static str, &'static str) = ("INSERT", " ON CONFLICT (id) DO NOTHING");
    /// How a reminder claim's transaction starts: SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so two claimers never read the same due rows.
    const CLAIM_BEGIN: &'static str = "BEGIN";
    /// What locks the due rows a claim reads, skipping rows another claimer holds.
    const CLAIM_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";

    /// The column's type in this dialect's DDL: by default the Python SDK's MySQL types
    /// (`BIGINT`, `VARCHAR(n)`), which PostgreSQL shares.
    fn column_type(ty: ColumnType) -> String {
        match ty {
            ColumnType::BigInt => "BIGINT".into(),
            ColumnType::VarChar(n) => format!("VARCHAR({n})"),
        }
    }
    /// MySQL declares the index inside `CREATE TABLE`; the others create it on its own, after
    /// any missing column is added (so also on an older table that lacks it).
    const INLINE_INDEX: bool;
    /// Inserts a delivery ledger entry `(id, event, received_at, status)` unless its id exists,
    /// affecting no row then. Binds, in order: id, event, received_at, status.
    const CLAIM_INSERT_SQL: &'static str;
    /// The family of a type as the database reports it for an existing column.
    fn type_family(declared: &str) -> TypeFamily;
    fn rows_affected(result: &Self::QueryResult) -> u64;
    /// A `CREATE … IF NOT EXISTS` or `ALTER TABLE … ADD COLUMN` lost a race with another
    /// process that made the same object first (so there is nothing left to do).
    fn lost_ddl_race(err: &sqlx::Error) -> bool;
    /// A precise `PersistenceError` for a driver error. `target` names the database without
    /// any secret (e.g. `MySQL at db:3306/app`).
    fn map_error(err: sqlx::Error, target: &str, connect_timeout: Duration) -> PersistenceError;

    /// How long a write refused as [`is_busy`](SqlDialect::is_busy) is tried again. SQLite can
    /// refuse a write lock at once, without waiting out its busy timeout (two connections
    /// sharing a WAL file, one upgrading from a read snapshot); servers queue writers
    /// themselves but end one of two deadlocked transactions (reminder claims taking row locks
    /// in different orders), which is then run again.
    const BUSY_RETRY: Duration = Duration::from_secs(1);

    /// True when the write lost to another writer right now (lock held, deadlock victim) and
    /// running it again is the answer.
    fn is_busy(err: &sqlx::Error) -> bool;

    /// The query of the server's version (one text column), when whether an `INSERT` can
    /// return the rows it inserted depends on it; `None`: it always can (PostgreSQL; SQLite,
    /// bundled ≥ 3.35).
    const VERSION_SQL: Option<&'static str> = None;

    /// Whether the server of `version` (as `VERSION_SQL` answers) has `INSERT … RETURNING`.
    fn returns_inserted_rows(_version: &str) -> bool {
        true
    }
}

/// `sql` with its `?` binds as the dialect writes them. No statement here has a `?` in a literal.
pub fn with_binds<D: SqlDialect>(sql: &'static str) -> Cow<'static, str> {
    if !D::NUMBERED_BINDS {
        return Cow::Borrowed(sql);
    }
    Cow::Owned(number_binds(sql))
}

/// `sql` with its `?` binds numbered (`$1`, `$2`, …) as PostgreSQL writes them.
pub fn number_binds(sql: &str) -> String {
    let mut numbered = String::with_capacity(sql.len() + 8);
    for (i, part) in sql.split('?').enumerate() {
        if i > 0 {
            numbered.push_str(&format!("${i}"));
        }
        numbered.push_str(part);
    }
    numbered
}

/// The delivery ledger's table: the same text in every SQL dialect.
pub const CREATE_DELIVERY_TABLE_SQL: &str = "CREATE TABLE IF NOT EXISTS eka_webhook_delivery (
  id VARCHAR(255) NOT NULL,
  event VARCHAR(64) NOT NULL DEFAULT '',
  received_at BIGINT NOT NULL DEFAULT 0,
  status VARCHAR(16) NOT NULL DEFAULT '',
  PRIMARY KEY (id)
)";
/// Takes over a stale claim or an expired entry; the row lock makes one of two racers win.
const TAKE_OVER_DELIVERY_SQL: &str = "UPDATE eka_webhook_delivery \
     SET event = ?, received_at = ?, status = ? \
     WHERE id = ? AND ((status = 'processing' AND received_at < ?) OR received_at < ?)";
const DELIVERY_STATUS_SQL: &str = "SELECT status FROM eka_webhook_delivery WHERE id = ?";
const FINISH_DELIVERY_SQL: &str = "UPDATE eka_webhook_delivery SET status = 'done' WHERE id = ?";
const RELEASE_DELIVERY_SQL: &str =
    "DELETE FROM eka_webhook_delivery WHERE id = ? AND status = 'processing'";
const PURGE_DELIVERIES_SQL: &str = "DELETE FROM eka_webhook_delivery WHERE received_at < ?";
/// `INSERT … ON CONFLICT DO NOTHING`: PostgreSQL's and SQLite's ledger claim.
pub const ON_CONFLICT_CLAIM_SQL: &str = "INSERT INTO eka_webhook_delivery \
     (id, event, received_at, status) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING";

/// The statements a store runs, with the dialect's bind markers.
struct Statements {
    upsert: Arc<str>,
    list_columns: Arc<str>,
    find_between: Arc<str>,
    update_status: Arc<str>,
    mark_reminder_sent: Arc<str>,
    claim_insert: Arc<str>,
    take_over_delivery: Arc<str>,
    delivery_status: Arc<str>,
    finish_delivery: Arc<str>,
    release_delivery: Arc<str>,
    purge_deliveries: Arc<str>,
}

impl Statements {
    fn new<D: SqlDialect>() -> Self {
        let render = |sql| Arc::from(with_binds::<D>(sql));
        Self {
            upsert: render(D::UPSERT_SQL),
            list_columns: render(D::LIST_COLUMNS_SQL),
            find_between: render(FIND_BETWEEN_SQL),
            update_status: render(UPDATE_STATUS_SQL),
            mark_reminder_sent: render(MARK_REMINDER_SENT_SQL),
            claim_insert: render(D::CLAIM_INSERT_SQL),
            take_over_delivery: render(TAKE_OVER_DELIVERY_SQL),
            delivery_status: render(DELIVERY_STATUS_SQL),
            finish_delivery: render(FINISH_DELIVERY_SQL),
            release_delivery: render(RELEASE_DELIVERY_SQL),
            purge_deliveries: render(PURGE_DELIVERIES_SQL),
        }
    }
}

/// The batched ledger claim of `rows` entries: inserts each absent id, returning the ids it
/// inserted. Binds, per row: id, event, received_at, status.
pub fn claims_insert_sql<D: SqlDialect>(rows: usize) -> String {
    let (prefix, suffix) = D::INSERT_IGNORE;
    let values = vec!["(?, ?, ?, ?)"; rows].join(", ");
    let sql = format!(
        "{prefix} INTO eka_webhook_delivery (id, event, received_at, status) \
         VALUES {values}{suffix} RETURNING id"
    );
    if D::NUMBERED_BINDS {
        number_binds(&sql)
    } else {
        sql
    }
}

/// A statement whose text comes from the constants above (never from a value).
fn statement(sql: &Arc<str>) -> sqlx::AssertSqlSafe<Arc<str>> {
    sqlx::AssertSqlSafe(sql.clone())
}

/// The index where it is not part of `CREATE TABLE`.
pub const CREATE_INDEX_SQL: &str =
    "CREATE INDEX IF NOT EXISTS idx_start_time ON eka_webhook_schedule_appointment (start_time)";

/// A server's pool: at most [`SERVER_POOL_SIZE`] connections, each checked before use so a
/// restarted server is picked up, and a bounded wait for one (never sqlx's default 30 s).
pub fn server_pool_options<D: SqlDialect>(connect_timeout: Duration) -> PoolOptions<D> {
    PoolOptions::new()
        .max_connections(SERVER_POOL_SIZE)
        .acquire_timeout(connect_timeout)
        .test_before_acquire(true)
}

/// The driver errors every server database has in common; `database` words the server's own.
/// sqlx's messages carry no connection URL (pools are built from options, never a URL), and
/// servers never echo a password; still, only pieces are quoted.
pub fn map_server_error(
    err: sqlx::Error,
    target: &str,
    connect_timeout: Duration,
    database: impl FnOnce(&dyn DatabaseError) -> PersistenceError,
) -> PersistenceError {
    match err {
        sqlx::Error::PoolTimedOut => PersistenceError::Unreachable(format!(
            "{target}: no connection within {} ms (is the server running and reachable?)",
            connect_timeout.as_millis()
        )),
        // tokio-rustls reports a refused certificate as an I/O error of kind InvalidData.
        sqlx::Error::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            PersistenceError::Unreachable(format!(
                "{target}: TLS handshake failed: {e} (check the ssl mode and CA)"
            ))
        }
        sqlx::Error::Io(e) => PersistenceError::Unreachable(format!("{target}: {e}")),
        sqlx::Error::Tls(e) => {
            PersistenceError::Unreachable(format!("{target}: TLS handshake failed: {e}"))
        }
        sqlx::Error::PoolClosed => {
            PersistenceError::Database(format!("{target}: the store was closed"))
        }
        sqlx::Error::Database(db) => database(db.as_ref()),
        other => PersistenceError::Database(format!("{target}: {other}")),
    }
}

/// The driver's own error (`E`, e.g. `MySqlDatabaseError`) when the server answered with one.
pub fn server_error<E: DatabaseError>(err: &sqlx::Error) -> Option<&E> {
    match err {
        sqlx::Error::Database(db) => db.try_downcast_ref::<E>(),
        _ => None,
    }
}

/// `name TYPE constraint`, as in `CREATE TABLE` and `ALTER TABLE … ADD COLUMN`.
pub fn column_definition<D: SqlDialect>(column: &Column) -> String {
    format!(
        "{} {} {}",
        column.name,
        D::column_type(column.ty),
        column.constraint()
    )
}

/// The `CREATE TABLE IF NOT EXISTS` text, laid out exactly as the Python SDK's (whose MySQL
/// form must match byte for byte so `SHOW CREATE TABLE` is the same whoever created it).
/// `inline_index`: MySQL declares the index in the table; SQLite creates it separately.
pub fn create_table_sql<D: SqlDialect>(inline_index: bool) -> String {
    let mut lines = vec![format!(
        "{} {} NOT NULL",
        KEY_COLUMN.name,
        D::column_type(KEY_COLUMN.ty)
    )];
    lines.extend(NON_KEY_COLUMNS.iter().map(column_definition::<D>));
    lines.push(format!("PRIMARY KEY ({})", KEY_COLUMN.name));
    if inline_index {
        lines.push(format!("INDEX {INDEX_NAME} (start_time)"));
    }
    format!(
        "CREATE TABLE IF NOT EXISTS {SCHEDULE_TABLE_NAME} (\n  {}\n)",
        lines.join(",\n  ")
    )
}

/// Checks an existing table's columns (`(name, declared type)`) and returns the ones to add.
/// A column of the wrong type family, or a missing key, makes the table unusable.
pub fn plan_migration<D: SqlDialect>(
    table: &TableSpec,
    existing: &[(String, String)],
) -> Result<Vec<Column>, PersistenceError> {
    let declared = |name: &str| {
        existing
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, t)| t.as_str())
    };
    let table_name = table.name;
    let mut missing = Vec::new();
    for column in std::iter::once(&table.key).chain(table.columns.iter()) {
        match declared(column.name) {
            Some(ty) if D::type_family(ty) == column.ty.family() => {}
            Some(ty) => {
                return Err(PersistenceError::IncompatibleSchema(format!(
                    "{} column {table_name}.{} has type {ty}, expected {} \
                     (as this SDK creates it); alter or drop the column",
                    <D as Database>::NAME,
                    column.name,
                    D::column_type(column.ty),
                )))
            }
            None if column.name == table.key.name => {
                return Err(PersistenceError::IncompatibleSchema(format!(
                    "{} table {table_name} has no {} column; it was not created by this SDK",
                    <D as Database>::NAME,
                    table.key.name,
                )))
            }
            None => missing.push(*column),
        }
    }
    Ok(missing)
}

/// Splits `(appointment_id, status, visit_type)` rows as the Python SDK does: `BK` is a normal
/// booking, `IN` + `FLW` a follow-up, anything else is ignored. Order is kept.
pub fn split_ids(
    rows: impl IntoIterator<Item = (String, String, String)>,
) -> AppointmentIdsBetween {
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

/// A schedule store over a sqlx pool. `MysqlStore`, `PostgresStore` and `SqliteStore` are this
/// with a dialect.
pub struct SqlStore<D: SqlDialect> {
    connect_options: <D::Connection as Connection>::Options,
    pool_options: PoolOptions<D>,
    /// Every statement is given up this long after it started (plus `QUERY_TIMEOUT_GRACE`).
    query_timeout: Duration,
    /// Made on first use, inside the caller's runtime: sqlx spawns the pool's maintenance tasks
    /// when it builds one, and the SDK's constructor runs on the JS thread, outside any runtime.
    pool: OnceLock<Pool<D>>,
    statements: Statements,
    /// Names the database for messages; never holds a secret.
    target: String,
    connect_timeout: Duration,
    /// Set once the delivery ledger's table exists; a failure is retried on the next claim.
    ledger_ready: tokio::sync::OnceCell<()>,
    /// Whether the server has `INSERT … RETURNING` (for batched claims), asked once.
    returns_inserted_rows: tokio::sync::OnceCell<bool>,
}

impl<D: SqlDialect> SqlStore<D> {
    /// `pool_options` should bound `acquire_timeout`: sqlx's default waits 30 s.
    pub(crate) fn with_options(
        connect_options: <D::Connection as Connection>::Options,
        pool_options: PoolOptions<D>,
        target: String,
    ) -> Self {
        let connect_timeout = pool_options.get_acquire_timeout();
        let statements = Statements::new::<D>();
        let pool = OnceLock::new();
        let query_timeout = DEFAULT_DB_QUERY_TIMEOUT;
        Self {
            connect_options,
            pool_options,
            query_timeout,
            pool,
            statements,
            target,
            connect_timeout,
            ledger_ready: tokio::sync::OnceCell::new(),
            returns_inserted_rows: tokio::sync::OnceCell::new(),
        }
    }

    /// Gives up each statement after `timeout` (+ `QUERY_TIMEOUT_GRACE`) instead of the default.
    pub(crate) fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Runs one statement; one still running `query_timeout` + `QUERY_TIMEOUT_GRACE` after it
    /// started is given up (a server that bounds its own lock waits answers first).
    pub(crate) async fn bounded<T>(
        &self,
        statement: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        let limit = self.query_timeout + QUERY_TIMEOUT_GRACE;
        tokio::time::timeout(limit, statement)
            .await
            .unwrap_or_else(|_| {
                Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the statement did not finish within {} ms",
                        limit.as_millis()
                    ),
                )))
            })
    }

    /// The pool, built (without connecting) on first call. Call it from within a Tokio runtime.
    pub fn pool(&self) -> &Pool<D> {
        self.pool.get_or_init(|| {
            self.pool_options
                .clone()
                .connect_lazy_with(self.connect_options.clone())
        })
    }

    /// Runs a `CREATE … IF NOT EXISTS`; losing the race to another process is success.
    pub(crate) async fn create(&self, ddl: String) -> Result<(), PersistenceError> {
        let run = || {
            let ddl = sqlx::raw_sql(sqlx::AssertSqlSafe(ddl.clone()));
            ddl.execute(D::on_pool(self.pool()))
        };
        match self.write(run).await {
            Err(e) if !D::lost_ddl_race(&e) => Err(self.error(e)),
            _ => Ok(()),
        }
    }

    pub(crate) fn error(&self, err: sqlx::Error) -> PersistenceError {
        D::map_error(err, &self.target, self.connect_timeout)
    }

    /// Runs a write, again (after a short, growing pause) while the dialect calls its error
    /// busy, for up to [`SqlDialect::BUSY_RETRY`].
    pub(crate) async fn write<T, F, Fut>(&self, mut run: F) -> Result<T, sqlx::Error>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, sqlx::Error>> + Send,
        T: Send,
    {
        let deadline = tokio::time::Instant::now() + D::BUSY_RETRY;
        let mut pause = Duration::from_millis(1);
        loop {
            match self.bounded(run()).await {
                Err(e) if D::is_busy(&e) && tokio::time::Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                result => return result,
            }
        }
    }

    /// Runs the write statement `query` builds (again while the database is busy, see
    /// [`write`](Self::write)); the rows it affected.
    pub(crate) async fn affected<F>(&self, query: F) -> Result<u64, PersistenceError>
    where
        F: Fn() -> Query<'static, D, D::Arguments> + Send + Sync,
    {
        let run = || query().execute(D::on_pool(self.pool()));
        let result = self.write(run).await.map_err(|e| self.error(e))?;
        Ok(D::rows_affected(&result))
    }

    /// The rows `sql` reads with `values` bound, as `O`.
    pub(crate) async fn rows<O>(
        &self,
        sql: impl SqlSafeStr,
        values: &[Value<'_>],
    ) -> Result<Vec<O>, PersistenceError>
    where
        D: Reads<O>,
        O: Send + Unpin,
    {
        let rows = D::query(sql, values).try_map(D::read);
        let rows = self.bounded(rows.fetch_all(D::on_pool(self.pool())));
        rows.await.map_err(|e| self.error(e))
    }

    /// Runs `update` (`UPDATE … SET column = ? WHERE appointment_id = ?`) binding `value` and
    /// `appointment_id`; whether it found the row.
    async fn update_row(
        &self,
        update: &Arc<str>,
        value: Value<'_>,
        appointment_id: &str,
    ) -> Result<bool, PersistenceError> {
        let query = || D::query(statement(update), &[value, Text(appointment_id)]);
        Ok(self.affected(query).await? > 0)
    }

    /// Checks an existing table's columns and adds the ones it lacks.
    pub(crate) async fn add_missing_columns(
        &self,
        table: &TableSpec,
    ) -> Result<(), PersistenceError> {
        let list_columns = statement(&self.statements.list_columns);
        let existing: Vec<(String, String)> = self.rows(list_columns, &[Text(table.name)]).await?;
        let name = table.name;
        for column in plan_migration::<D>(table, &existing)? {
            let definition = column_definition::<D>(&column);
            let alter = format!("ALTER TABLE {name} ADD COLUMN {definition}");
            let added = sqlx::raw_sql(sqlx::AssertSqlSafe(alter)).execute(D::on_pool(self.pool()));
            match self.bounded(added).await {
                Ok(_) => logger::log(&format!(
                    "WebhookSDK: added missing {} column {} on {name}",
                    <D as Database>::NAME,
                    column.name
                )),
                // Another process (or SDK instance) added it between our look and our ALTER.
                Err(e) if D::lost_ddl_race(&e) => {}
                Err(e) => return Err(self.error(e)),
            }
        }
        Ok(())
    }

    /// Creates the delivery ledger's table on first use.
    async fn ensure_ledger_table(&self) -> Result<(), PersistenceError> {
        self.ledger_ready
            .get_or_try_init(|| self.create(CREATE_DELIVERY_TABLE_SQL.into()))
            .await
            .copied()
    }

    /// Whether the server can say which rows an `INSERT` inserted; asked once per store.
    async fn returns_inserted_rows(&self) -> Result<bool, PersistenceError> {
        let ask = || async {
            let Some(sql) = D::VERSION_SQL else {
                return Ok(true);
            };
            let query = D::query(sqlx::AssertSqlSafe(sql), &[]).try_map(D::read);
            let (version,): (String,) = self
                .bounded(query.fetch_one(D::on_pool(self.pool())))
                .await
                .map_err(|e| self.error(e))?;
            Ok(D::returns_inserted_rows(&version))
        };
        self.returns_inserted_rows
            .get_or_try_init(ask)
            .await
            .copied()
    }

    /// A ledger write binding `id` alone; the rows it affected.
    async fn delivery_write(&self, sql: &Arc<str>, id: &str) -> Result<u64, PersistenceError> {
        self.ensure_ledger_table().await?;
        self.affected(|| D::query(statement(sql), &[Text(id)]))
            .await
    }
}

#[async_trait]
impl<D: SqlDialect> ScheduleStore for SqlStore<D> {
    async fn ensure_table(&self) -> Result<(), PersistenceError> {
        self.create(create_table_sql::<D>(D::INLINE_INDEX)).await?;
        self.add_missing_columns(&SCHEDULE_TABLE).await?;
        if !D::INLINE_INDEX {
            self.create(CREATE_INDEX_SQL.to_string()).await?;
        }
        Ok(())
    }

    async fn upsert(&self, record: &ScheduleRecord) -> Result<(), PersistenceError> {
        let created_at = unix_now();
        let values = [
            Text(&record.appointment_id),
            Int(record.start_time),
            Int(record.end_time),
            Text(&record.status),
            Text(&record.visit_type),
            Int(created_at),
            TextOrNull(record.p_aid.as_deref()),
        ];
        let upsert = || D::query(statement(&self.statements.upsert), &values);
        self.affected(upsert).await.map(drop)
    }

    async fn update_status(
        &self,
        appointment_id: &str,
        status: &str,
    ) -> Result<bool, PersistenceError> {
        let update = &self.statements.update_status;
        self.update_row(update, Text(status), appointment_id).await
    }

    async fn mark_reminder_sent(
        &self,
        appointment_id: &str,
        now: i64,
    ) -> Result<bool, PersistenceError> {
        let mark = &self.statements.mark_reminder_sent;
        self.update_row(mark, Int(now), appointment_id).await
    }

    async fn find_appointment_ids_between(
        &self,
        start_time: i64,
        end_time: i64,
    ) -> Result<AppointmentIdsBetween, PersistenceError> {
        let find_between = statement(&self.statements.find_between);
        let window = [Int(start_time), Int(end_time)];
        let rows: Vec<(String, String, String)> = self.rows(find_between, &window).await?;
        Ok(split_ids(rows))
    }

    async fn close(&self) {
        // Building a never-used pool here costs nothing (it is lazy) and leaves the store closed.
        self.pool().close().await;
    }
}

#[async_trait]
impl<D: SqlDialect> DeliveryStore for SqlStore<D> {
    async fn insert_claims(
        &self,
        claims: &[NewClaim],
    ) -> Result<Option<Vec<String>>, PersistenceError> {
        self.ensure_ledger_table().await?;
        if !self.returns_inserted_rows().await? {
            return Ok(None);
        }
        let sql = claims_insert_sql::<D>(claims.len());
        let values: Vec<Value> = claims
            .iter()
            .flat_map(|c| {
                [
                    Text(&c.id),
                    Text(&c.event),
                    Int(c.received_at),
                    Text(c.status),
                ]
            })
            .collect();
        let insert = || {
            let query = D::query(sqlx::AssertSqlSafe(sql.clone()), &values);
            let ids = query.try_map(|row| D::read(row).map(|(id,): (String,)| id));
            ids.fetch_all(D::on_pool(self.pool()))
        };
        let inserted = self.write(insert).await.map_err(|e| self.error(e))?;
        Ok(Some(inserted))
    }

    async fn claim(
        &self,
        id: &str,
        event: &str,
        w: ClaimWindow,
    ) -> Result<Claim, PersistenceError> {
        self.ensure_ledger_table().await?;
        let stmts = &self.statements;
        let (id, event, now, status) = (Text(id), Text(event), Int(w.now), Text(w.status()));
        // An entry released between our insert and our look is claimed on the next turn.
        for _ in 0..3 {
            let insert = || D::query(statement(&stmts.claim_insert), &[id, event, now, status]);
            if self.affected(insert).await? > 0 {
                return Ok(Claim::Claimed);
            }
            let (stale, expired) = (Int(w.stale_before), Int(w.expired_before));
            let take_over = [event, now, status, id, stale, expired];
            let query = || D::query(statement(&stmts.take_over_delivery), &take_over);
            if self.affected(query).await? > 0 {
                return Ok(Claim::Claimed);
            }
            let found: Option<(String,)> = D::query(statement(&stmts.delivery_status), &[id])
                .try_map(D::read)
                .fetch_optional(D::on_pool(self.pool()))
                .await
                .map_err(|e| self.error(e))?;
            match found {
                Some((found,)) if found == STATUS_DONE => return Ok(Claim::Done),
                Some(_) => return Ok(Claim::InProgress),
                None => {}
            }
        }
        Ok(Claim::InProgress)
    }

    async fn finish(&self, id: &str) -> Result<(), PersistenceError> {
        self.delivery_write(&self.statements.finish_delivery, id)
            .await
            .map(drop)
    }

    async fn release(&self, id: &str) -> Result<(), PersistenceError> {
        self.delivery_write(&self.statements.release_delivery, id)
            .await
            .map(drop)
    }

    async fn purge(&self, before: i64) -> Result<(), PersistenceError> {
        let purge = || D::query(statement(&self.statements.purge_deliveries), &[Int(before)]);
        self.affected(purge).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: &str, visit: &str) -> (String, String, String) {
        (id.into(), status.into(), visit.into())
    }

    #[test]
    fn numbered_binds() {
        let numbered = with_binds::<sqlx::Postgres>("a = ? AND b IN (?, ?)");
        assert_eq!(numbered, "a = $1 AND b IN ($2, $3)");
        assert_eq!(
            with_binds::<sqlx::MySql>("a = ? AND b = ?"),
            "a = ? AND b = ?"
        );
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
