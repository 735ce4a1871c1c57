//! SQLite: the embedded backend for one machine. The same columns and rules as MySQL, in
//! SQLite's types; WAL and a busy timeout so several SDK instances (in one process or several)
//! can share one file; `:memory:` keeps its data for the store's lifetime.

use std::time::Duration;

use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};

use super::sql::{
    ColumnType, SqlDialect, SqlStore, TypeFamily, ON_CONFLICT_CLAIM_SQL, ON_CONFLICT_UPSERT_SQL,
};
use super::PersistenceError;
use crate::config::{SqliteConfig, DEFAULT_DB_CONNECT_TIMEOUT};

/// The schedule store on an SQLite file (or `:memory:`).
pub type SqliteStore = SqlStore<Sqlite>;

pub const SQLITE_MEMORY: &str = ":memory:";
/// Readers run alongside the one writer in WAL mode; more connections would only queue.
const SQLITE_POOL_SIZE: u32 = 4;
/// How long a write waits for another connection's (or process's) write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

// Extended result codes (https://www.sqlite.org/rescode.html).
const SQLITE_BUSY: &str = "5";
const SQLITE_CANTOPEN: &str = "14";
const SQLITE_NOTADB: &str = "26";

impl SqlStore<Sqlite> {
    /// Builds the pool without opening the file: the first query does.
    pub fn new(config: &SqliteConfig) -> Self {
        let in_memory = config.filename == SQLITE_MEMORY;
        let options = SqliteConnectOptions::new()
            .filename(&config.filename)
            .in_memory(in_memory)
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT);
        let (options, pool) = if in_memory {
            // Each connection to `:memory:` is its own database: keep exactly one, forever.
            (
                options,
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None),
            )
        } else {
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            (
                options,
                SqlitePoolOptions::new().max_connections(SQLITE_POOL_SIZE),
            )
        };
        let pool = pool.acquire_timeout(DEFAULT_DB_CONNECT_TIMEOUT);
        Self::with_options(
            options,
            pool,
            format!("SQLite database {:?}", config.filename),
        )
    }
}

impl SqlDialect for Sqlite {
    const UPSERT_SQL: &'static str = ON_CONFLICT_UPSERT_SQL;
    const CLAIM_INSERT_SQL: &'static str = ON_CONFLICT_CLAIM_SQL;
    const LIST_COLUMNS_SQL: &'static str = "SELECT name, type FROM pragma_table_info(?)";

    fn column_type(ty: ColumnType) -> String {
        match ty {
            ColumnType::BigInt => "INTEGER".into(),
            ColumnType::VarChar(_) => "TEXT".into(),
        }
    }

    const INLINE_INDEX: bool = false;
    const CLAIM_BEGIN: &'static str = "BEGIN IMMEDIATE";
    // `BEGIN IMMEDIATE` already holds the database's one write lock.
    const CLAIM_LOCK: &'static str = "";

    /// SQLite's affinity rules (https://www.sqlite.org/datatype3.html#determination_of_column_affinity).
    fn type_family(declared: &str) -> TypeFamily {
        let upper = declared.to_ascii_uppercase();
        if upper.contains("INT") {
            TypeFamily::Integer
        } else if ["CHAR", "CLOB", "TEXT"].iter().any(|t| upper.contains(t)) {
            TypeFamily::Text
        } else {
            TypeFamily::Other
        }
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn lost_ddl_race(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(db) if db.message().starts_with("duplicate column name"))
    }

    const BUSY_RETRY: Duration = BUSY_TIMEOUT;

    fn is_busy(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(db) if primary_code(db.code().as_deref()).as_deref() == Some(SQLITE_BUSY))
    }

    fn map_error(err: sqlx::Error, target: &str, connect_timeout: Duration) -> PersistenceError {
        match err {
            sqlx::Error::PoolTimedOut => PersistenceError::Unreachable(format!(
                "{target}: no connection within {} ms",
                connect_timeout.as_millis()
            )),
            sqlx::Error::PoolClosed => {
                PersistenceError::Database(format!("{target}: the store was closed"))
            }
            sqlx::Error::Io(e) => PersistenceError::Unreachable(format!("{target}: {e}")),
            sqlx::Error::Database(db) => {
                let primary = primary_code(db.code().as_deref());
                let message = db.message();
                match primary.as_deref() {
                    Some(SQLITE_CANTOPEN) => PersistenceError::Unreachable(format!(
                        "{target}: cannot open the file ({message}); does its directory exist and is it writable?"
                    )),
                    Some(SQLITE_BUSY) => PersistenceError::Database(format!(
                        "{target}: still locked by another writer after {} ms ({message})",
                        BUSY_TIMEOUT.as_millis()
                    )),
                    Some(SQLITE_NOTADB) => {
                        PersistenceError::Database(format!("{target}: the file is not an SQLite database ({message})"))
                    }
                    _ => PersistenceError::Database(format!("{target}: {message}")),
                }
            }
            other => PersistenceError::Database(format!("{target}: {other}")),
        }
    }
}

/// The primary result code of an extended one (`"517"` → `"5"`).
fn primary_code(code: Option<&str>) -> Option<String> {
    code.map(|c| {
        c.parse::<i32>()
            .map(|n| (n & 0xff).to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::sql::create_table_sql;

    #[test]
    fn affinities() {
        assert_eq!(Sqlite::type_family("INTEGER"), TypeFamily::Integer);
        assert_eq!(Sqlite::type_family("BIGINT"), TypeFamily::Integer);
        assert_eq!(Sqlite::type_family("VARCHAR(255)"), TypeFamily::Text);
        assert_eq!(Sqlite::type_family("TEXT"), TypeFamily::Text);
        assert_eq!(Sqlite::type_family("REAL"), TypeFamily::Other);
        assert_eq!(Sqlite::type_family(""), TypeFamily::Other);
    }

    #[test]
    fn ddl() {
        let create = create_table_sql::<Sqlite>(Sqlite::INLINE_INDEX);
        assert!(create.contains("start_time INTEGER NOT NULL DEFAULT 0,\n"));
        assert!(create.contains("p_aid TEXT NULL DEFAULT NULL,\n"));
        assert!(!create.contains("INDEX"));
    }
}
