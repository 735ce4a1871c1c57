//! MySQL / MariaDB: the table exactly as the Python SDK 0.1.4 creates it (so both SDKs can share
//! it), a pool of 10 like the Python SDK's (`SERVER_POOL_SIZE`), opened lazily.

use std::time::Duration;

use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlDatabaseError, MySqlQueryResult, MySqlSslMode};

use super::sql::{
    map_server_error, server_error, server_pool_options, SqlDialect, SqlStore, TypeFamily,
};
use super::{is_data_exception, PersistenceError};
use crate::config::{MysqlConfig, MysqlSslMode, RootCert};

/// The schedule store on MySQL or MariaDB.
pub type MysqlStore = SqlStore<MySql>;

// Server error numbers (https://mariadb.com/kb/en/mariadb-error-codes/).
const ER_DBACCESS_DENIED: u16 = 1044;
const ER_ACCESS_DENIED: u16 = 1045;
const ER_BAD_DB: u16 = 1049;
const ER_DUP_FIELDNAME: u16 = 1060;
const ER_TABLEACCESS_DENIED: u16 = 1142;
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
const ER_LOCK_DEADLOCK: u16 = 1213;
const ER_ACCESS_DENIED_NO_PASSWORD: u16 = 1698;
// A value refused for its content (strict mode): a text longer than its column (SQLSTATE
// 22001); a character the column's charset lacks, stored (1366) or compared with (1267) (both
// SQLSTATE HY000, so named by number).
const ER_CANT_AGGREGATE_2COLLATIONS: u16 = 1267;
const ER_DATA_TOO_LONG: u16 = 1406;
const ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: u16 = 1366;
const CONTENT_REFUSED: [u16; 3] = [
    ER_CANT_AGGREGATE_2COLLATIONS,
    ER_DATA_TOO_LONG,
    ER_TRUNCATED_WRONG_VALUE_FOR_FIELD,
];

impl SqlStore<MySql> {
    /// Builds the pool without connecting: the first query connects, and waits at most
    /// `connect_timeout` for a connection (never sqlx's default 30 s).
    pub fn new(config: &MysqlConfig) -> Self {
        let mut options = MySqlConnectOptions::new()
            .host(&config.host)
            .port(config.port)
            .username(&config.user)
            .database(&config.database);
        // An empty password must be sent as none: sqlx would otherwise scramble "" into a
        // non-empty auth response, which the server rejects for a password-less account.
        if !config.password.is_empty() {
            options = options.password(config.password.expose());
        }
        options = options.ssl_mode(ssl_mode(config.ssl_mode));
        options = match &config.ssl_ca {
            Some(RootCert::Pem(pem)) => options.ssl_ca_from_pem(pem.as_bytes().to_vec()),
            Some(RootCert::File(path)) => options.ssl_ca(path),
            None => options,
        };
        // The server ends a statement's wait for a metadata lock (an `ALTER` queued behind a
        // long transaction) or a row lock at the query timeout, with error 1205; its defaults
        // are a year and 50 s.
        let lock_wait_seconds = config.query_timeout.as_secs().max(1);
        let pool =
            server_pool_options(config.connect_timeout).after_connect(move |connection, _| {
                Box::pin(async move {
                    sqlx::query("SET SESSION lock_wait_timeout = ?, innodb_lock_wait_timeout = ?")
                        .bind(lock_wait_seconds)
                        .bind(lock_wait_seconds)
                        .execute(connection)
                        .await
                        .map(drop)
                })
            });
        let target = format!(
            "MySQL at {}:{}/{}",
            config.host, config.port, config.database
        );
        Self::with_options(options, pool, target).with_query_timeout(config.query_timeout)
    }
}

fn ssl_mode(mode: MysqlSslMode) -> MySqlSslMode {
    match mode {
        MysqlSslMode::Disabled => MySqlSslMode::Disabled,
        MysqlSslMode::Preferred => MySqlSslMode::Preferred,
        MysqlSslMode::Required => MySqlSslMode::Required,
        MysqlSslMode::VerifyCa => MySqlSslMode::VerifyCa,
        MysqlSslMode::VerifyIdentity => MySqlSslMode::VerifyIdentity,
    }
}

impl SqlDialect for MySql {
    // The Python SDK's `_UPSERT_SQL`: `created_at` is only ever inserted, and a NULL p_aid
    // keeps the stored one.
    const UPSERT_SQL: &'static str = "INSERT INTO eka_webhook_schedule_appointment \
         (appointment_id, start_time, end_time, status, visit_type, created_at, p_aid) \
         VALUES (?, ?, ?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE \
         start_time = VALUES(start_time), \
         end_time = VALUES(end_time), \
         status = VALUES(status), \
         visit_type = VALUES(visit_type), \
         p_aid = COALESCE(VALUES(p_aid), p_aid)";
    // The Python SDK's `_LIST_COLUMNS_SQL` (its schema is the connection's database), plus the
    // type. CAST: some servers report INFORMATION_SCHEMA text as binary strings.
    const LIST_COLUMNS_SQL: &'static str =
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR) \
         FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?";

    // Not `ON DUPLICATE KEY UPDATE`: with CLIENT_FOUND_ROWS a no-op update still counts a row.
    const CLAIM_INSERT_SQL: &'static str = "INSERT IGNORE INTO eka_webhook_delivery \
         (id, event, received_at, status) VALUES (?, ?, ?, ?)";

    const INLINE_INDEX: bool = true;
    const INSERT_IGNORE: (&'static str, &'static str) = ("INSERT IGNORE", "");
    const VERSION_SQL: Option<&'static str> = Some("SELECT CAST(VERSION() AS CHAR)");

    /// MariaDB ≥ 10.5 has `INSERT … RETURNING`; MySQL (8.x: `8.0.36`) has none.
    fn returns_inserted_rows(version: &str) -> bool {
        if !version.contains("MariaDB") {
            return false;
        }
        let mut numbers = version.split(['.', '-']).map(|n| n.parse::<u32>().ok());
        let major_minor = (numbers.next().flatten(), numbers.next().flatten());
        matches!(major_minor, (Some(major), Some(minor)) if (major, minor) >= (10, 5))
    }

    /// `bigint(20) unsigned` → Integer; `varchar`/`char`/`*text` → Text. Narrower integers are
    /// not compatible: epoch seconds overflow them (or will, in 2038).
    fn type_family(declared: &str) -> TypeFamily {
        let base = declared
            .split(['(', ' '])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match base.as_str() {
            "bigint" => TypeFamily::Integer,
            "varchar" | "char" | "tinytext" | "text" | "mediumtext" | "longtext" => {
                TypeFamily::Text
            }
            _ => TypeFamily::Other,
        }
    }

    fn rows_affected(result: &MySqlQueryResult) -> u64 {
        // sqlx connects with CLIENT_FOUND_ROWS: matched rows, even when the value is unchanged.
        result.rows_affected()
    }

    fn lost_ddl_race(err: &sqlx::Error) -> bool {
        let number = server_error::<MySqlDatabaseError>(err).map(MySqlDatabaseError::number);
        number == Some(ER_DUP_FIELDNAME)
    }

    fn is_busy(err: &sqlx::Error) -> bool {
        let number = server_error::<MySqlDatabaseError>(err).map(MySqlDatabaseError::number);
        number == Some(ER_LOCK_DEADLOCK)
    }

    fn map_error(err: sqlx::Error, target: &str, connect_timeout: Duration) -> PersistenceError {
        map_server_error(err, target, connect_timeout, |db| {
            let number = db
                .try_downcast_ref::<MySqlDatabaseError>()
                .map(MySqlDatabaseError::number);
            let message = db.message();
            match number {
                Some(ER_ACCESS_DENIED | ER_ACCESS_DENIED_NO_PASSWORD | ER_DBACCESS_DENIED) => {
                    PersistenceError::Auth(format!("{target}: {message} (check the user and password)"))
                }
                Some(ER_BAD_DB) => PersistenceError::Database(format!(
                    "{target}: the database does not exist ({message}); create it first (CREATE DATABASE …)"
                )),
                Some(ER_TABLEACCESS_DENIED) => PersistenceError::Database(format!(
                    "{target}: {message} (the user needs SELECT, INSERT, UPDATE, CREATE and ALTER on the database)"
                )),
                Some(ER_LOCK_WAIT_TIMEOUT) => PersistenceError::Database(format!(
                    "{target}: {message} (another session holds a lock on the table, e.g. an ALTER \
                     waiting behind a long transaction; waits are bounded by 'queryTimeoutMs')"
                )),
                Some(n)
                    if CONTENT_REFUSED.contains(&n) || is_data_exception(db.code().as_deref()) =>
                {
                    PersistenceError::Rejected(format!("{target}: error {n}: {message}"))
                }
                Some(n) => PersistenceError::Database(format!("{target}: error {n}: {message}")),
                None => PersistenceError::Database(format!("{target}: {message}")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::sql::create_table_sql;

    /// The Python SDK 0.1.4's `_CREATE_TABLE_SQL`, as it renders.
    const PYTHON_CREATE_TABLE_SQL: &str =
        "CREATE TABLE IF NOT EXISTS eka_webhook_schedule_appointment (
  appointment_id VARCHAR(255) NOT NULL,
  start_time BIGINT NOT NULL DEFAULT 0,
  end_time BIGINT NOT NULL DEFAULT 0,
  status VARCHAR(32) NOT NULL DEFAULT '',
  visit_type VARCHAR(32) NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL DEFAULT 0,
  p_aid VARCHAR(255) NULL DEFAULT NULL,
  reminder_sent_at BIGINT NULL DEFAULT NULL,
  PRIMARY KEY (appointment_id),
  INDEX idx_start_time (start_time)
)";

    #[test]
    fn create_table_is_the_python_sdks_text() {
        assert_eq!(
            create_table_sql::<MySql>(MySql::INLINE_INDEX),
            PYTHON_CREATE_TABLE_SQL
        );
    }

    #[test]
    fn returning_is_mariadb_10_5_and_later() {
        assert!(MySql::returns_inserted_rows("10.11.19-MariaDB-0+deb12u1"));
        assert!(MySql::returns_inserted_rows("10.5.0-MariaDB"));
        assert!(MySql::returns_inserted_rows("11.4.2-MariaDB-log"));
        assert!(!MySql::returns_inserted_rows("10.4.34-MariaDB"));
        assert!(!MySql::returns_inserted_rows("8.0.36"));
    }

    #[test]
    fn type_families() {
        assert_eq!(MySql::type_family("bigint(20)"), TypeFamily::Integer);
        assert_eq!(
            MySql::type_family("bigint(20) unsigned"),
            TypeFamily::Integer
        );
        assert_eq!(MySql::type_family("varchar(255)"), TypeFamily::Text);
        assert_eq!(MySql::type_family("int(11)"), TypeFamily::Other);
        assert_eq!(MySql::type_family("datetime"), TypeFamily::Other);
    }
}
