//! Test support for the SQL backends: a throwaway MariaDB/MySQL database, PostgreSQL schema or
//! SQLite file per test, and one view of the raw table for all.
//!
//! MySQL is the server at `EKA_TEST_MYSQL_HOST`:`EKA_TEST_MYSQL_PORT` (default 127.0.0.1:3306)
//! as `EKA_TEST_MYSQL_USER` / `EKA_TEST_MYSQL_PASSWORD` (default root, empty), who may create
//! databases and users. PostgreSQL is the server at `EKA_TEST_PG_HOST`:`EKA_TEST_PG_PORT`
//! (default 127.0.0.1:5432), database `EKA_TEST_PG_DATABASE` (default `test`), as
//! `EKA_TEST_PG_USER` (default `postgres`, trust authentication), who may create schemas and roles.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eka_webhook_core::config::{
    MysqlConfig, MysqlSslMode, PersistenceConfig, PostgresConfig, PostgresSslMode, SqliteConfig,
    SslMode, DEFAULT_DB_QUERY_TIMEOUT,
};
use eka_webhook_core::persistence::mysql::MysqlStore;
use eka_webhook_core::persistence::postgres::PostgresStore;
use eka_webhook_core::persistence::sql::{with_binds, SqlDialect, SqlStore};
use eka_webhook_core::persistence::sqlite::SqliteStore;
use eka_webhook_core::persistence::{
    open_store, ScheduleRecord, ScheduleStore, SCHEDULE_TABLE_NAME,
};
use eka_webhook_core::secret::Secret;
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlPool};
use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, Postgres};
use sqlx::sqlite::Sqlite;
use sqlx::{
    AssertSqlSafe, ColumnIndex, Connection, Database, Decode, Encode, Executor, IntoArguments,
    Pool, Type,
};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name no other test (or concurrent test run) uses.
pub fn unique(tag: &str) -> String {
    format!(
        "eka_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        tag
    )
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

pub fn mysql_host() -> String {
    env_or("EKA_TEST_MYSQL_HOST", "127.0.0.1")
}

pub fn mysql_port() -> u16 {
    env_or("EKA_TEST_MYSQL_PORT", "3306")
        .parse()
        .expect("EKA_TEST_MYSQL_PORT")
}

pub fn mysql_admin_config(database: &str) -> MysqlConfig {
    MysqlConfig {
        host: mysql_host(),
        port: mysql_port(),
        user: env_or("EKA_TEST_MYSQL_USER", "root"),
        password: Secret::new(std::env::var("EKA_TEST_MYSQL_PASSWORD").unwrap_or_default()),
        database: database.to_string(),
        ssl_mode: MysqlSslMode::default_for_host(&mysql_host()),
        ssl_ca: None,
        connect_timeout: Duration::from_secs(5),
        query_timeout: DEFAULT_DB_QUERY_TIMEOUT,
    }
}

/// A pool on the server with no default database, for CREATE/DROP DATABASE and users.
pub async fn mysql_admin() -> MySqlPool {
    let c = mysql_admin_config("");
    let mut options = MySqlConnectOptions::new()
        .host(&c.host)
        .port(c.port)
        .username(&c.user);
    if !c.password.is_empty() {
        options = options.password(c.password.expose());
    }
    admin_pool(options, &format!("MariaDB/MySQL at {}:{}", c.host, c.port)).await
}

pub fn postgres_config(schema: &str) -> PostgresConfig {
    let host = env_or("EKA_TEST_PG_HOST", "127.0.0.1");
    PostgresConfig {
        port: env_or("EKA_TEST_PG_PORT", "5432")
            .parse()
            .expect("EKA_TEST_PG_PORT"),
        user: env_or("EKA_TEST_PG_USER", "postgres"),
        password: Secret::new(std::env::var("EKA_TEST_PG_PASSWORD").unwrap_or_default()),
        database: env_or("EKA_TEST_PG_DATABASE", "test"),
        schema: schema.to_string(),
        ssl_mode: PostgresSslMode::default_for_host(&host),
        ssl_root_cert: None,
        connect_timeout: Duration::from_secs(5),
        host,
    }
}

/// A pool on the test database, for CREATE/DROP SCHEMA and roles.
pub async fn postgres_admin() -> PgPool {
    let c = postgres_config("public");
    let mut options = PgConnectOptions::new_without_pgpass()
        .host(&c.host)
        .port(c.port)
        .username(&c.user)
        .database(&c.database);
    if !c.password.is_empty() {
        options = options.password(c.password.expose());
    }
    let server = format!(
        "PostgreSQL at {}:{} (database {})",
        c.host, c.port, c.database
    );
    admin_pool(options, &server).await
}

/// A small pool for the tests' own DDL; `server` names what must be running.
async fn admin_pool<DB: Database>(
    options: <DB::Connection as Connection>::Options,
    server: &str,
) -> Pool<DB> {
    PoolOptions::<DB>::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .unwrap_or_else(|e| panic!("{server} must be running for these tests: {e}"))
}

/// Runs the tests' own DDL (CREATE/DROP DATABASE or SCHEMA) on an admin pool.
async fn admin_exec<'e, E: Executor<'e>>(admin: E, sql: String) {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(admin)
        .await
        .unwrap();
}

/// The raw table, whatever the backend (DynamoDB: the item's attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    pub start_time: i64,
    pub end_time: i64,
    pub status: String,
    pub visit_type: String,
    pub created_at: i64,
    pub p_aid: Option<String>,
    pub reminder_sent_at: Option<i64>,
}

type RawTuple = (i64, i64, String, String, i64, Option<String>, Option<i64>);

impl From<RawTuple> for RawRow {
    fn from(t: RawTuple) -> Self {
        Self {
            start_time: t.0,
            end_time: t.1,
            status: t.2,
            visit_type: t.3,
            created_at: t.4,
            p_aid: t.5,
            reminder_sent_at: t.6,
        }
    }
}

const SELECT_ROW: &str =
    "SELECT start_time, end_time, status, visit_type, created_at, p_aid, reminder_sent_at \
     FROM eka_webhook_schedule_appointment WHERE appointment_id = ?";

/// One backend's throwaway place (database, schema, file or moto server) for the shared
/// persistence suite, and a look at its raw rows that does not go through the store.
#[async_trait]
pub trait Harness: Send + Sync {
    fn store(&self) -> Arc<dyn ScheduleStore>;
    /// Another store on the same place (a second SDK instance).
    fn another_store(&self) -> Arc<dyn ScheduleStore> {
        open_store(&self.persistence_config())
    }
    /// The place as an SDK's `persistence` config (to open further stores on it).
    fn persistence_config(&self) -> PersistenceConfig;
    async fn row(&self, id: &str) -> Option<RawRow>;
    async fn count(&self) -> i64;
    async fn set_created_at(&self, id: &str, created_at: i64);
    /// The table as an older release left it (SQL: without created_at, p_aid and
    /// reminder_sent_at, and without the start_time index where the dialect adds it later;
    /// DynamoDB: without the GSI), holding `row` (its p_aid aside).
    async fn create_older_table_with(&self, row: &ScheduleRecord);
    /// Panics unless the table has everything the SDK creates (columns and index, or the GSI).
    async fn assert_table_complete(&self);
    async fn cleanup(self: Box<Self>);
}

/// A throwaway database of an SQL backend, its store, and a pool to look at the raw table.
pub struct SqlHarness<D: SqlDialect> {
    pub pool: Pool<D>,
    store: Arc<SqlStore<D>>,
    place: Place,
}

enum Place {
    Mysql {
        database: String,
        admin: MySqlPool,
    },
    Sqlite {
        path: PathBuf,
    },
    /// The store's connections have the schema as their `search_path`, and so has `pool`.
    Postgres {
        schema: String,
        admin: PgPool,
    },
}

pub type MysqlHarness = SqlHarness<MySql>;
pub type PostgresHarness = SqlHarness<Postgres>;
pub type SqliteHarness = SqlHarness<Sqlite>;

impl SqlHarness<MySql> {
    pub async fn new(tag: &str) -> Self {
        let admin = mysql_admin().await;
        let database = unique(tag);
        admin_exec(&admin, format!("CREATE DATABASE `{database}`")).await;
        let store = MysqlStore::new(&mysql_admin_config(&database));
        Self::on(store, Place::Mysql { database, admin })
    }

    pub async fn show_create_table(&self) -> String {
        let (_, ddl): (String, String) = sqlx::query_as(AssertSqlSafe(format!(
            "SHOW CREATE TABLE {SCHEDULE_TABLE_NAME}"
        )))
        .fetch_one(&self.pool)
        .await
        .unwrap();
        ddl
    }
}

impl SqlHarness<Postgres> {
    pub async fn new(tag: &str) -> Self {
        let admin = postgres_admin().await;
        let schema = unique(tag).to_ascii_lowercase();
        admin_exec(&admin, format!("CREATE SCHEMA {schema}")).await;
        let store = PostgresStore::new(&postgres_config(&schema));
        Self::on(store, Place::Postgres { schema, admin })
    }
}

impl SqlHarness<Sqlite> {
    pub async fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{}.sqlite3", unique(tag)));
        let store = SqliteStore::new(&sqlite_config(&path));
        Self::on(store, Place::Sqlite { path })
    }
}

fn sqlite_config(path: &Path) -> SqliteConfig {
    SqliteConfig {
        filename: path.to_string_lossy().into_owned(),
    }
}

impl<D: SqlDialect> SqlHarness<D> {
    fn on(store: SqlStore<D>, place: Place) -> Self {
        Self {
            pool: store.pool().clone(),
            store: Arc::new(store),
            place,
        }
    }

    /// The database (MySQL), schema (PostgreSQL) or file (SQLite) the harness made.
    pub fn place_name(&self) -> String {
        match &self.place {
            Place::Mysql { database, .. } => database.clone(),
            Place::Postgres { schema, .. } => schema.clone(),
            Place::Sqlite { path } => path.to_string_lossy().into_owned(),
        }
    }
}

impl<D> SqlHarness<D>
where
    D: SqlDialect,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    for<'a> &'a str: Encode<'a, D> + Type<D>,
    for<'a> i64: Encode<'a, D> + Type<D>,
    for<'r> String: Decode<'r, D> + Type<D>,
    for<'r> i64: Decode<'r, D> + Type<D>,
    usize: ColumnIndex<D::Row>,
{
    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(&self.pool)
            .await
            .unwrap();
    }

    /// Column names in table order.
    pub async fn columns(&self) -> Vec<String> {
        let sql = match self.place {
            Place::Mysql { .. } => {
                "SELECT CAST(COLUMN_NAME AS CHAR) FROM INFORMATION_SCHEMA.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
            }
            Place::Postgres { .. } => {
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position"
            }
            Place::Sqlite { .. } => "SELECT name FROM pragma_table_info(?) ORDER BY cid",
        };
        sqlx::query_scalar(AssertSqlSafe(with_binds::<D>(sql)))
            .bind(SCHEDULE_TABLE_NAME)
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    /// Whether the table has the `idx_start_time` index on `start_time`.
    pub async fn has_start_time_index(&self) -> bool {
        let sql = match self.place {
            Place::Mysql { .. } => {
                "SELECT COUNT(*) FROM INFORMATION_SCHEMA.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME = ? AND INDEX_NAME = 'idx_start_time' AND COLUMN_NAME = 'start_time'"
            }
            // The catalogs themselves, not pg_indexes: its pg_get_indexdef() opens every index it
            // reads, and fails ("could not open relation") on one a concurrent test has dropped.
            Place::Postgres { .. } => {
                "SELECT COUNT(*) FROM pg_index x \
                 JOIN pg_class i ON i.oid = x.indexrelid \
                 JOIN pg_class t ON t.oid = x.indrelid \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 WHERE n.nspname = current_schema() AND t.relname = ? \
                 AND i.relname = 'idx_start_time' AND x.indnatts = 1 AND a.attname = 'start_time'"
            }
            Place::Sqlite { .. } => {
                "SELECT COUNT(*) FROM pragma_index_list(?) AS l JOIN pragma_index_info(l.name) AS i \
                 WHERE l.name = 'idx_start_time' AND i.name = 'start_time'"
            }
        };
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(with_binds::<D>(sql)))
            .bind(SCHEDULE_TABLE_NAME)
            .fetch_one(&self.pool)
            .await
            .unwrap();
        n == 1
    }

    /// Creates the older table (`old_table_sql`) with one column declaration replaced.
    pub async fn create_old_table_replacing(&self, declaration: &str, replacement: &str) {
        self.exec(&self.old_table_sql().replace(declaration, replacement))
            .await;
    }

    /// The `CREATE TABLE` of an older schema: no created_at, p_aid, reminder_sent_at (and, on
    /// the dialects whose index is a statement of its own, no index).
    pub fn old_table_sql(&self) -> &'static str {
        match self.place {
            Place::Mysql { .. } => {
                "CREATE TABLE eka_webhook_schedule_appointment (
                   appointment_id VARCHAR(255) NOT NULL,
                   start_time BIGINT NOT NULL DEFAULT 0,
                   end_time BIGINT NOT NULL DEFAULT 0,
                   status VARCHAR(32) NOT NULL DEFAULT '',
                   visit_type VARCHAR(32) NOT NULL DEFAULT '',
                   PRIMARY KEY (appointment_id),
                   INDEX idx_start_time (start_time))"
            }
            Place::Postgres { .. } => {
                "CREATE TABLE eka_webhook_schedule_appointment (
                   appointment_id VARCHAR(255) NOT NULL PRIMARY KEY,
                   start_time BIGINT NOT NULL DEFAULT 0,
                   end_time BIGINT NOT NULL DEFAULT 0,
                   status VARCHAR(32) NOT NULL DEFAULT '',
                   visit_type VARCHAR(32) NOT NULL DEFAULT '')"
            }
            Place::Sqlite { .. } => {
                "CREATE TABLE eka_webhook_schedule_appointment (
                   appointment_id TEXT NOT NULL PRIMARY KEY,
                   start_time INTEGER NOT NULL DEFAULT 0,
                   end_time INTEGER NOT NULL DEFAULT 0,
                   status TEXT NOT NULL DEFAULT '',
                   visit_type TEXT NOT NULL DEFAULT '')"
            }
        }
    }
}

/// All eight columns, in the Python SDK's order.
pub const ALL_COLUMNS: [&str; 8] = [
    "appointment_id",
    "start_time",
    "end_time",
    "status",
    "visit_type",
    "created_at",
    "p_aid",
    "reminder_sent_at",
];

#[async_trait]
impl<D> Harness for SqlHarness<D>
where
    D: SqlDialect,
    SqlStore<D>: ScheduleStore,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    for<'a> &'a str: Encode<'a, D> + Type<D>,
    for<'a> i64: Encode<'a, D> + Type<D>,
    for<'r> String: Decode<'r, D> + Type<D>,
    for<'r> i64: Decode<'r, D> + Type<D>,
    for<'r> Option<String>: Decode<'r, D> + Type<D>,
    for<'r> Option<i64>: Decode<'r, D> + Type<D>,
    usize: ColumnIndex<D::Row>,
{
    fn store(&self) -> Arc<dyn ScheduleStore> {
        self.store.clone()
    }

    fn persistence_config(&self) -> PersistenceConfig {
        match &self.place {
            Place::Mysql { database, .. } => PersistenceConfig::Mysql(mysql_admin_config(database)),
            Place::Postgres { schema, .. } => PersistenceConfig::Postgres(postgres_config(schema)),
            Place::Sqlite { path } => PersistenceConfig::Sqlite(sqlite_config(path)),
        }
    }

    async fn row(&self, id: &str) -> Option<RawRow> {
        let row: Option<RawTuple> = sqlx::query_as(AssertSqlSafe(with_binds::<D>(SELECT_ROW)))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .unwrap();
        row.map(RawRow::from)
    }

    async fn count(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM eka_webhook_schedule_appointment")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn set_created_at(&self, id: &str, created_at: i64) {
        let sql =
            "UPDATE eka_webhook_schedule_appointment SET created_at = ? WHERE appointment_id = ?";
        sqlx::query(AssertSqlSafe(with_binds::<D>(sql)))
            .bind(created_at)
            .bind(id)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    async fn create_older_table_with(&self, row: &ScheduleRecord) {
        self.exec(self.old_table_sql()).await;
        let sql = "INSERT INTO eka_webhook_schedule_appointment \
                   (appointment_id, start_time, end_time, status, visit_type) VALUES (?, ?, ?, ?, ?)";
        sqlx::query(AssertSqlSafe(with_binds::<D>(sql)))
            .bind(row.appointment_id.as_str())
            .bind(row.start_time)
            .bind(row.end_time)
            .bind(row.status.as_str())
            .bind(row.visit_type.as_str())
            .execute(&self.pool)
            .await
            .unwrap();
    }

    async fn assert_table_complete(&self) {
        assert_eq!(self.columns().await, ALL_COLUMNS);
        assert!(
            self.has_start_time_index().await,
            "no idx_start_time on start_time"
        );
    }

    async fn cleanup(self: Box<Self>) {
        self.store.close().await;
        match self.place {
            Place::Mysql { database, admin } => {
                admin_exec(&admin, format!("DROP DATABASE IF EXISTS `{database}`")).await;
                admin.close().await;
            }
            Place::Postgres { schema, admin } => {
                self.pool.close().await;
                admin_exec(&admin, format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
                admin.close().await;
            }
            Place::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut name = path.clone().into_os_string();
                    name.push(suffix);
                    let _ = std::fs::remove_file(name);
                }
            }
        }
    }
}

/// A TCP port on 127.0.0.1 with nothing listening.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}
