//! PostgreSQL: the MySQL table's columns and rules in PostgreSQL's types (`BIGINT`,
//! `VARCHAR(n)`), in the configured schema (the connections' `search_path`), with a pool like
//! MySQL's, opened lazily.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgDatabaseError, PgQueryResult, PgSslMode, Postgres};

use super::sql::{
    map_server_error, server_error, server_pool_options, SqlDialect, SqlStore, TypeFamily,
    ON_CONFLICT_CLAIM_SQL, ON_CONFLICT_UPSERT_SQL,
};
use super::{is_data_exception, PersistenceError};
use crate::config::{PostgresConfig, PostgresSslMode, RootCert};

/// The schedule store on PostgreSQL.
pub type PostgresStore = SqlStore<Postgres>;

// SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const INVALID_AUTHORIZATION: &str = "28000";
const INVALID_PASSWORD: &str = "28P01";
const INVALID_CATALOG_NAME: &str = "3D000";
const INVALID_SCHEMA_NAME: &str = "3F000";
const INSUFFICIENT_PRIVILEGE: &str = "42501";
const DUPLICATE_COLUMN: &str = "42701";
const DUPLICATE_TABLE: &str = "42P07";
/// Two concurrent `CREATE … IF NOT EXISTS` can both pass the check; the loser hits the
/// catalogue's unique index.
const UNIQUE_VIOLATION: &str = "23505";
const SERIALIZATION_FAILURE: &str = "40001";
const DEADLOCK_DETECTED: &str = "40P01";
/// Class 08 (connection exception) and 57P0x (the server is shutting down or starting).
const UNAVAILABLE_PREFIXES: [&str; 4] = ["08", "57P01", "57P02", "57P03"];

impl SqlStore<Postgres> {
    /// Builds the pool without connecting: the first query connects, and waits at most
    /// `connect_timeout` for a connection.
    pub fn new(config: &PostgresConfig) -> Self {
        // Not `new()`: a `~/.pgpass` must not supply a password the config did not give.
        let mut options = PgConnectOptions::new_without_pgpass()
            .host(&config.host)
            .port(config.port)
            .username(&config.user)
            .database(&config.database)
            .ssl_mode(ssl_mode(config.ssl_mode))
            // The schema is a checked plain identifier (see config_parse), so it needs no quoting.
            .options([("search_path", &config.schema)]);
        if !config.password.is_empty() {
            options = options.password(config.password.expose());
        }
        options = match &config.ssl_root_cert {
            Some(RootCert::Pem(pem)) => options.ssl_root_cert_from_pem(pem.as_bytes().to_vec()),
            Some(RootCert::File(path)) => options.ssl_root_cert(path),
            None => options,
        };
        let target = format!(
            "PostgreSQL at {}:{}/{} (schema {})",
            config.host, config.port, config.database, config.schema
        );
        Self::with_options(options, server_pool_options(config.connect_timeout), target)
    }
}

fn ssl_mode(mode: PostgresSslMode) -> PgSslMode {
    match mode {
        PostgresSslMode::Disable => PgSslMode::Disable,
        PostgresSslMode::Allow => PgSslMode::Allow,
        PostgresSslMode::Prefer => PgSslMode::Prefer,
        PostgresSslMode::Require => PgSslMode::Require,
        PostgresSslMode::VerifyCa => PgSslMode::VerifyCa,
        PostgresSslMode::VerifyFull => PgSslMode::VerifyFull,
    }
}

impl SqlDialect for Postgres {
    const UPSERT_SQL: &'static str = ON_CONFLICT_UPSERT_SQL;
    const CLAIM_INSERT_SQL: &'static str = ON_CONFLICT_CLAIM_SQL;
    // `current_schema()` is the first schema of the search_path that exists: the configured one.
    const LIST_COLUMNS_SQL: &'static str = "SELECT column_name::text, data_type::text \
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?";
    const NUMBERED_BINDS: bool = true;

    const INLINE_INDEX: bool = false;

    /// `information_schema.columns.data_type`: `bigint`, `character varying`, … Narrower
    /// integers are not compatible: epoch seconds overflow them (or will, in 2038).
    fn type_family(declared: &str) -> TypeFamily {
        match declared.to_ascii_lowercase().as_str() {
            "bigint" => TypeFamily::Integer,
            "character varying" | "character" | "text" => TypeFamily::Text,
            _ => TypeFamily::Other,
        }
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        // Rows matched by an UPDATE, even when the value is unchanged.
        result.rows_affected()
    }

    fn lost_ddl_race(err: &sqlx::Error) -> bool {
        matches!(
            server_error::<PgDatabaseError>(err).map(PgDatabaseError::code),
            Some(DUPLICATE_COLUMN | DUPLICATE_TABLE | UNIQUE_VIOLATION)
        )
    }

    fn is_busy(err: &sqlx::Error) -> bool {
        matches!(
            server_error::<PgDatabaseError>(err).map(PgDatabaseError::code),
            Some(SERIALIZATION_FAILURE | DEADLOCK_DETECTED)
        )
    }

    fn map_error(err: sqlx::Error, target: &str, connect_timeout: Duration) -> PersistenceError {
        map_server_error(err, target, connect_timeout, |db| {
            let message = db.message();
            let code = db
                .try_downcast_ref::<PgDatabaseError>()
                .map(PgDatabaseError::code)
                .unwrap_or("");
            match code {
                INVALID_PASSWORD | INVALID_AUTHORIZATION => {
                    PersistenceError::Auth(format!("{target}: {message} (check the user and password)"))
                }
                INVALID_CATALOG_NAME => PersistenceError::Database(format!(
                    "{target}: the database does not exist ({message}); create it first (CREATE DATABASE …)"
                )),
                INVALID_SCHEMA_NAME => PersistenceError::Database(format!(
                    "{target}: the schema does not exist ({message}); create it first (CREATE SCHEMA …)"
                )),
                INSUFFICIENT_PRIVILEGE => PersistenceError::Database(format!(
                    "{target}: {message} (the user needs USAGE and CREATE on the schema, and SELECT, INSERT \
                     and UPDATE on the table)"
                )),
                c if UNAVAILABLE_PREFIXES.iter().any(|p| c.starts_with(p)) => {
                    PersistenceError::Unreachable(format!("{target}: {message}"))
                }
                c if is_data_exception(Some(c)) => {
                    PersistenceError::Rejected(format!("{target}: error {c}: {message}"))
                }
                "" => PersistenceError::Database(format!("{target}: {message}")),
                c => PersistenceError::Database(format!("{target}: error {c}: {message}")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::sql::create_table_sql;

    #[test]
    fn ddl_has_mysqls_types_and_a_separate_index() {
        let create = create_table_sql::<Postgres>(Postgres::INLINE_INDEX);
        assert!(create.contains("appointment_id VARCHAR(255) NOT NULL,\n"));
        assert!(create.contains("start_time BIGINT NOT NULL DEFAULT 0,\n"));
        assert!(create.contains("status VARCHAR(32) NOT NULL DEFAULT '',\n"));
        assert!(create.contains("p_aid VARCHAR(255) NULL DEFAULT NULL,\n"));
        assert!(!create.contains("INDEX"));
    }

    #[test]
    fn type_families() {
        assert_eq!(Postgres::type_family("bigint"), TypeFamily::Integer);
        assert_eq!(Postgres::type_family("character varying"), TypeFamily::Text);
        assert_eq!(Postgres::type_family("text"), TypeFamily::Text);
        assert_eq!(Postgres::type_family("integer"), TypeFamily::Other);
        assert_eq!(
            Postgres::type_family("timestamp without time zone"),
            TypeFamily::Other
        );
    }
}
