//! Test support for the SQL backends: a throwaway MariaDB/MySQL database or SQLite file per
//! test, and one view of the raw table for both.
//!
//! MySQL is the server at `EKA_TEST_MYSQL_HOST`:`EKA_TEST_MYSQL_PORT` (default 127.0.0.1:3306)
//! as `EKA_TEST_MYSQL_USER` / `EKA_TEST_MYSQL_PASSWORD` (default root, empty), who may create
//! databases and users.


use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eka_webhook_core::config::{MysqlConfig, SqliteConfig};
use eka_webhook_core::persistence::mysql::MysqlStore;
use eka_webhook_core::persistence::sqlite::SqliteStore;
use eka_webhook_core::persistence::{ScheduleStore, SCHEDULE_TABLE_NAME};
use eka_webhook_core::secret::Secret;
use eka_webhook_core::persistence::sql::{SqlDialect, SqlStore};
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::sqlite::Sqlite;
use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Type};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name no other test (or concurrent test run) uses.
pub fn unique(tag: &str) -> String {
    format!("eka_test_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), tag)
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

pub fn mysql_host() -> String {
    env_or("EKA_TEST_MYSQL_HOST", "127.0.0.1")
}

pub fn mysql_port() -> u16 {
    env_or("EKA_TEST_MYSQL_PORT", "3306").parse().expect("EKA_TEST_MYSQL_PORT")
}

pub fn mysql_admin_config(database: &str) -> MysqlConfig {
    MysqlConfig {
        host: mysql_host(),
        port: mysql_port(),
        user: env_or("EKA_TEST_MYSQL_USER", "root"),
        password: Secret::new(std::env::var("EKA_TEST_MYSQL_PASSWORD").unwrap_or_default()),
        database: database.to_string(),
        connect_timeout: Duration::from_secs(5),
    }
}

/// A pool on the server with no default database, for CREATE/DROP DATABASE and users.
pub async fn mysql_admin() -> MySqlPool {
    let c = mysql_admin_config("");
    let mut options = MySqlConnectOptions::new().host(&c.host).port(c.port).username(&c.user);
    if !c.password.is_empty() {
        options = options.password(c.password.expose());
    }
    MySqlPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .unwrap_or_else(|e| panic!("MariaDB/MySQL must be running at {}:{} for these tests: {e}", c.host, c.port))
}

/// The raw table, whatever the backend.
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
        Self { start_time: t.0, end_time: t.1, status: t.2, visit_type: t.3, created_at: t.4, p_aid: t.5, reminder_sent_at: t.6 }
    }
}

const SELECT_ROW: &str = "SELECT start_time, end_time, status, visit_type, created_at, p_aid, reminder_sent_at \
     FROM eka_webhook_schedule_appointment WHERE appointment_id = ?";

#[async_trait]
pub trait Harness: Send + Sync {
    fn store(&self) -> Arc<dyn ScheduleStore>;
    /// Another store on the same database (a second SDK instance).
    fn another_store(&self) -> Arc<dyn ScheduleStore>;
    async fn exec(&self, sql: &str);
    async fn row(&self, id: &str) -> Option<RawRow>;
    /// Column names in table order.
    async fn columns(&self) -> Vec<String>;
    async fn count(&self) -> i64;
    /// The `CREATE TABLE` of an older schema: no created_at, p_aid, reminder_sent_at.
    fn old_table_sql(&self) -> &'static str;
    async fn cleanup(self: Box<Self>);
}

/// A throwaway database of either backend, its store, and a pool to look at the raw table.
pub struct SqlHarness<D: SqlDialect> {
    pub pool: Pool<D>,
    store: Arc<SqlStore<D>>,
    place: Place,
}

enum Place {
    Mysql { database: String, admin: MySqlPool },
    Sqlite { path: PathBuf },
}

pub type MysqlHarness = SqlHarness<MySql>;
pub type SqliteHarness = SqlHarness<Sqlite>;

impl SqlHarness<MySql> {
    pub async fn new(tag: &str) -> Self {
        let admin = mysql_admin().await;
        let database = unique(tag);
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE `{database}`"))).execute(&admin).await.unwrap();
        let store = Arc::new(MysqlStore::new(&mysql_admin_config(&database)));
        Self { pool: store.pool().clone(), store, place: Place::Mysql { database, admin } }
    }

    pub fn config(&self) -> MysqlConfig {
        let Place::Mysql { database, .. } = &self.place else { unreachable!() };
        mysql_admin_config(database)
    }

    pub async fn show_create_table(&self) -> String {
        let (_, ddl): (String, String) = sqlx::query_as(AssertSqlSafe(format!("SHOW CREATE TABLE {SCHEDULE_TABLE_NAME}")))
            .fetch_one(&self.pool)
            .await
            .unwrap();
        ddl
    }
}

impl SqlHarness<Sqlite> {
    pub async fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{}.sqlite3", unique(tag)));
        let store = Arc::new(SqliteStore::new(&SqliteConfig { filename: path.to_string_lossy().into_owned() }));
        Self { pool: store.pool().clone(), store, place: Place::Sqlite { path } }
    }

    pub fn config(&self) -> SqliteConfig {
        let Place::Sqlite { path } = &self.place else { unreachable!() };
        SqliteConfig { filename: path.to_string_lossy().into_owned() }
    }
}

#[async_trait]
impl<D> Harness for SqlHarness<D>
where
    D: SqlDialect,
    SqlStore<D>: ScheduleStore,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    for<'a> &'a str: Encode<'a, D> + Type<D>,
    for<'r> String: Decode<'r, D> + Type<D>,
    for<'r> i64: Decode<'r, D> + Type<D>,
    for<'r> Option<String>: Decode<'r, D> + Type<D>,
    for<'r> Option<i64>: Decode<'r, D> + Type<D>,
    usize: ColumnIndex<D::Row>,
{
    fn store(&self) -> Arc<dyn ScheduleStore> {
        self.store.clone()
    }

    fn another_store(&self) -> Arc<dyn ScheduleStore> {
        match &self.place {
            Place::Mysql { database, .. } => Arc::new(MysqlStore::new(&mysql_admin_config(database))),
            Place::Sqlite { path } => {
                Arc::new(SqliteStore::new(&SqliteConfig { filename: path.to_string_lossy().into_owned() }))
            }
        }
    }

    async fn exec(&self, sql: &str) {
        sqlx::raw_sql(AssertSqlSafe(sql.to_string())).execute(&self.pool).await.unwrap();
    }

    async fn row(&self, id: &str) -> Option<RawRow> {
        let row: Option<RawTuple> = sqlx::query_as(SELECT_ROW).bind(id).fetch_optional(&self.pool).await.unwrap();
        row.map(RawRow::from)
    }

    async fn columns(&self) -> Vec<String> {
        let sql = match self.place {
            Place::Mysql { .. } => {
                "SELECT CAST(COLUMN_NAME AS CHAR) FROM INFORMATION_SCHEMA.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
            }
            Place::Sqlite { .. } => "SELECT name FROM pragma_table_info(?) ORDER BY cid",
        };
        sqlx::query_scalar(sql).bind(SCHEDULE_TABLE_NAME).fetch_all(&self.pool).await.unwrap()
    }

    async fn count(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM eka_webhook_schedule_appointment").fetch_one(&self.pool).await.unwrap()
    }

    fn old_table_sql(&self) -> &'static str {
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

    async fn cleanup(self: Box<Self>) {
        self.store.close().await;
        match self.place {
            Place::Mysql { database, admin } => {
                sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{database}`")))
                    .execute(&admin)
                    .await
                    .unwrap();
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
