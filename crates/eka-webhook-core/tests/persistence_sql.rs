//! The SQLite, MySQL and PostgreSQL schedule stores against real databases (a temp SQLite file,
//! the local MariaDB and PostgreSQL): what only one SQL backend has. The rules every backend
//! follows are in `persistence_suite.rs`.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eka_webhook_core::config::{
    MysqlConfig, PostgresConfig, PostgresSslMode, RootCert, SqliteConfig,
};
use eka_webhook_core::persistence::mysql::MysqlStore;
use eka_webhook_core::persistence::postgres::PostgresStore;
use eka_webhook_core::persistence::schedule::Schedule;
use eka_webhook_core::persistence::sql::SqlDialect;
use eka_webhook_core::persistence::sqlite::SqliteStore;
use eka_webhook_core::persistence::{
    AppointmentIdsBetween, PersistenceError, ScheduleStore, SCHEDULE_TABLE_NAME,
};
use eka_webhook_core::secret::Secret;
use sqlx::AssertSqlSafe;
use support::*;

/// `ensure_table` fails on `store` with an error that `is_kind` accepts and whose text says `says`.
async fn assert_ensure_table_fails(
    store: &dyn ScheduleStore,
    is_kind: fn(&PersistenceError) -> bool,
    says: &str,
) {
    let err = store.ensure_table().await.unwrap_err();
    assert!(is_kind(&err), "{err:?}");
    assert!(err.to_string().contains(says), "{err}");
}

/// `ensure_table` refuses the table as incompatible, with a message naming each of `words`.
async fn assert_incompatible_schema(store: &dyn ScheduleStore, words: &[&str]) {
    let err = store.ensure_table().await.unwrap_err();
    let PersistenceError::IncompatibleSchema(message) = &err else {
        panic!("{err:?}")
    };
    let missing: Vec<_> = words.iter().filter(|w| !message.contains(*w)).collect();
    assert!(missing.is_empty(), "{message} does not name {missing:?}");
}

// ---------------------------------------------------------------------------------------------
// MySQL only
// ---------------------------------------------------------------------------------------------

fn unreachable_config(timeout: Duration) -> MysqlConfig {
    MysqlConfig {
        port: closed_port(),
        connect_timeout: timeout,
        ..mysql_admin_config("test")
    }
}

/// A server store whose port has nothing listening (connect timeout 800 ms): every operation
/// is `Unreachable`, naming the target, after about the timeout.
async fn assert_unreachable_within_the_connect_timeout(store: &dyn ScheduleStore, target: &str) {
    let started = Instant::now();
    let err = store.ensure_table().await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, PersistenceError::Unreachable(_)), "{err:?}");
    assert!(
        elapsed >= Duration::from_millis(700) && elapsed < Duration::from_millis(2000),
        "{elapsed:?}"
    );
    assert!(err.to_string().contains(target), "{err}");
    // Every operation, not just the first.
    let err = store
        .upsert(&record("x", 1, "BK", "NEW"))
        .await
        .unwrap_err();
    assert!(matches!(err, PersistenceError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn mysql_unreachable_is_reported_within_the_connect_timeout() {
    let store = MysqlStore::new(&unreachable_config(Duration::from_millis(800)));
    assert_unreachable_within_the_connect_timeout(&store, "MySQL at 127.0.0.1:").await;
}

#[tokio::test]
async fn mysql_down_delays_concurrent_first_calls_by_one_timeout_not_many() {
    let timeout = Duration::from_millis(600);
    let schedule = Arc::new(Schedule::new(Arc::new(MysqlStore::new(
        &unreachable_config(timeout),
    ))));
    let started = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let schedule = schedule.clone();
            tokio::spawn(async move {
                schedule
                    .apply_event(
                        &event("appointment.created", &format!("d-{i}"), 1, "BK", "NEW"),
                        None,
                    )
                    .await;
                started.elapsed()
            })
        })
        .collect();
    for task in tasks {
        let waited = task.await.unwrap();
        assert!(
            waited < timeout * 2,
            "a webhook waited {waited:?} with a {timeout:?} connect timeout"
        );
    }
    // A later call retries (the failure is not cached).
    let err = schedule.ensure_ready().await.unwrap_err();
    assert!(matches!(err, PersistenceError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn mysql_wrong_password_is_auth_and_never_shows_the_password() {
    let admin = mysql_admin().await;
    let user = unique("user");
    let database = unique("auth");
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE DATABASE `{database}`; CREATE USER '{user}'@'%' IDENTIFIED BY 'right-pass'; \
         CREATE USER '{user}'@'localhost' IDENTIFIED BY 'right-pass'; \
         GRANT ALL ON `{database}`.* TO '{user}'@'%'; GRANT ALL ON `{database}`.* TO '{user}'@'localhost'"
    )))
    .execute(&admin)
    .await
    .unwrap();
    let config = |password: &str| MysqlConfig {
        user: user.clone(),
        password: Secret::new(password),
        connect_timeout: Duration::from_secs(3),
        ..mysql_admin_config(&database)
    };

    let wrong = "hunter2-Wrong-Pass";
    let store = MysqlStore::new(&config(wrong));
    let started = Instant::now();
    let err = store.ensure_table().await.unwrap_err();
    assert!(matches!(err, PersistenceError::Auth(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "an auth failure is not retried until the timeout"
    );
    assert!(
        !err.to_string().contains(wrong) && !format!("{err:?}").contains(wrong),
        "{err}"
    );
    assert!(err.to_string().contains(&user), "{err}");

    // The right password works (so the failure above really was the password).
    let good = MysqlStore::new(&config("right-pass"));
    good.ensure_table().await.unwrap();
    good.close().await;

    // A user that does not exist at all.
    let nobody = MysqlStore::new(&MysqlConfig {
        user: unique("nobody"),
        ..config("x")
    });
    assert!(matches!(
        nobody.ensure_table().await.unwrap_err(),
        PersistenceError::Auth(_)
    ));

    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP USER '{user}'@'%'; DROP USER '{user}'@'localhost'; DROP DATABASE `{database}`"
    )))
    .execute(&admin)
    .await
    .unwrap();
}

#[tokio::test]
async fn mysql_unknown_database_says_so() {
    let store = MysqlStore::new(&mysql_admin_config(&unique("missing_db")));
    let is_database = |e: &_| matches!(e, PersistenceError::Database(_));
    assert_ensure_table_fails(&store, is_database, "does not exist").await;
}

#[tokio::test]
async fn mysql_incompatible_column_type_is_reported() {
    let h = MysqlHarness::new("incompatible").await;
    h.create_old_table_replacing(
        "start_time BIGINT NOT NULL DEFAULT 0",
        "start_time VARCHAR(20) NOT NULL DEFAULT ''",
    )
    .await;
    assert_incompatible_schema(&*h.store(), &["start_time", "varchar(20)", "BIGINT"]).await;
    // Nothing was half-migrated.
    assert_eq!(h.columns().await.len(), 5);
    Box::new(h).cleanup().await;
}

#[tokio::test]
async fn mysql_table_matches_the_python_ddl() {
    let h = MysqlHarness::new("ddl").await;
    h.store().ensure_table().await.unwrap();
    let ours = h.show_create_table().await;
    // The same text run by hand in another database.
    let other = MysqlHarness::new("ddl_ref").await;
    other
        .exec(
            "CREATE TABLE IF NOT EXISTS eka_webhook_schedule_appointment (\n  appointment_id VARCHAR(255) NOT NULL,\n  \
             start_time BIGINT NOT NULL DEFAULT 0,\n  end_time BIGINT NOT NULL DEFAULT 0,\n  status VARCHAR(32) NOT NULL DEFAULT '',\n  \
             visit_type VARCHAR(32) NOT NULL DEFAULT '',\n  created_at BIGINT NOT NULL DEFAULT 0,\n  p_aid VARCHAR(255) NULL DEFAULT NULL,\n  \
             reminder_sent_at BIGINT NULL DEFAULT NULL,\n  PRIMARY KEY (appointment_id),\n  INDEX idx_start_time (start_time)\n)",
        )
        .await;
    assert_eq!(ours, other.show_create_table().await);
    assert!(
        ours.contains("KEY `idx_start_time` (`start_time`)"),
        "{ours}"
    );
    Box::new(h).cleanup().await;
    Box::new(other).cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL only
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn postgres_unreachable_is_reported_within_the_connect_timeout() {
    let config = PostgresConfig {
        port: closed_port(),
        connect_timeout: Duration::from_millis(800),
        ..postgres_config("public")
    };
    assert_unreachable_within_the_connect_timeout(
        &PostgresStore::new(&config),
        "PostgreSQL at 127.0.0.1:",
    )
    .await;
}

#[tokio::test]
async fn postgres_unknown_role_database_and_schema_say_so() {
    let role = PostgresStore::new(&PostgresConfig {
        user: unique("nobody"),
        ..postgres_config("public")
    });
    let is_auth = |e: &_| matches!(e, PersistenceError::Auth(_));
    assert_ensure_table_fails(&role, is_auth, "check the user and password").await;

    let database = PostgresStore::new(&PostgresConfig {
        database: unique("missing_db"),
        ..postgres_config("public")
    });
    let is_database = |e: &_| matches!(e, PersistenceError::Database(_));
    assert_ensure_table_fails(&database, is_database, "the database does not exist").await;

    let schema = unique("missing_schema").to_ascii_lowercase();
    let err = PostgresStore::new(&postgres_config(&schema))
        .ensure_table()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("the schema does not exist") && err.to_string().contains(&schema),
        "{err}"
    );
}

#[tokio::test]
async fn postgres_wrong_password_is_auth_and_never_shows_the_password() {
    // The test server trusts loopback connections, so only a role without LOGIN is refused;
    // the password given must still appear nowhere.
    let admin = postgres_admin().await;
    let role = unique("nologin").to_ascii_lowercase();
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE ROLE {role} NOLOGIN")))
        .execute(&admin)
        .await
        .unwrap();
    let wrong = "hunter2-Wrong-Pass";
    let store = PostgresStore::new(&PostgresConfig {
        user: role.clone(),
        password: Secret::new(wrong),
        ..postgres_config("public")
    });
    let err = store.ensure_table().await.unwrap_err();
    assert!(matches!(err, PersistenceError::Auth(_)), "{err:?}");
    assert!(
        !err.to_string().contains(wrong) && !format!("{err:?}").contains(wrong),
        "{err}"
    );
    sqlx::raw_sql(AssertSqlSafe(format!("DROP ROLE {role}")))
        .execute(&admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn postgres_incompatible_table_is_reported_and_nothing_is_dropped() {
    let h = PostgresHarness::new("incompatible").await;
    h.create_old_table_replacing(
        "start_time BIGINT NOT NULL DEFAULT 0",
        "start_time VARCHAR(20) NOT NULL DEFAULT ''",
    )
    .await;
    h.exec("INSERT INTO eka_webhook_schedule_appointment (appointment_id, start_time) VALUES ('kept', 'soon')").await;
    let words = ["start_time", "character varying", "BIGINT"];
    assert_incompatible_schema(&*h.store(), &words).await;
    // Nothing dropped nor half-migrated.
    assert_eq!(h.columns().await.len(), 5);
    assert_eq!(h.count().await, 1);
    Box::new(h).cleanup().await;

    // A table of the same name that is not the SDK's at all.
    let h = PostgresHarness::new("foreign").await;
    h.exec(
        "CREATE TABLE eka_webhook_schedule_appointment (id SERIAL PRIMARY KEY, note TEXT); \
            INSERT INTO eka_webhook_schedule_appointment (note) VALUES ('mine')",
    )
    .await;
    let err = h.store().ensure_table().await.unwrap_err();
    assert!(
        err.to_string().contains("has no appointment_id column"),
        "{err}"
    );
    assert_eq!(
        (h.columns().await, h.count().await),
        (ids(&["id", "note"]), 1)
    );
    Box::new(h).cleanup().await;
}

#[tokio::test]
async fn postgres_schemas_keep_their_rows_apart() {
    let a = PostgresHarness::new("schema_a").await;
    let b = PostgresHarness::new("schema_b").await;
    a.store()
        .upsert(&record("only-a", 10, "BK", "NEW"))
        .await
        .unwrap_err(); // no table yet
    a.store().ensure_table().await.unwrap();
    b.store().ensure_table().await.unwrap();
    a.store()
        .upsert(&record("only-a", 10, "BK", "NEW"))
        .await
        .unwrap();
    assert_eq!(
        appointments_between(&*a.store(), 0, 100).await,
        ids(&["only-a"])
    );
    assert_eq!(
        b.store()
            .find_appointment_ids_between(0, 100)
            .await
            .unwrap(),
        AppointmentIdsBetween::default()
    );
    // The table is in the configured schema, not in `public`.
    let admin = postgres_admin().await;
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT schemaname::text FROM pg_tables WHERE tablename = 'eka_webhook_schedule_appointment' \
         AND schemaname = ANY($1) ORDER BY 1",
    )
    .bind([a.place_name(), b.place_name(), "public".to_string()])
    .fetch_all(&admin)
    .await
    .unwrap();
    let mut expected = [a.place_name(), b.place_name()];
    expected.sort();
    assert_eq!(schemas, expected);
    Box::new(a).cleanup().await;
    Box::new(b).cleanup().await;
}

#[tokio::test]
async fn postgres_ssl_modes() {
    let admin = postgres_admin().await;
    let cert_file: String = sqlx::query_scalar("SHOW ssl_cert_file")
        .fetch_one(&admin)
        .await
        .unwrap();
    let encrypted = |mode: PostgresSslMode, root: Option<RootCert>| async move {
        let config = PostgresConfig {
            ssl_mode: mode,
            ssl_root_cert: root,
            ..postgres_config("public")
        };
        let store = PostgresStore::new(&config);
        let ssl: Result<bool, _> =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(store.pool())
                .await;
        store.close().await;
        ssl.map_err(|e| {
            <sqlx::Postgres as SqlDialect>::map_error(e, "test", Duration::from_secs(5))
        })
    };
    assert!(!encrypted(PostgresSslMode::Disable, None).await.unwrap());
    assert!(encrypted(PostgresSslMode::Require, None).await.unwrap());
    // The test server's certificate is self-signed for `localhost`: not trusted by the bundled
    // roots; trusted as the CA given (PEM text or file); its name checked by verify-full only.
    let ca = || Some(RootCert::Pem(std::fs::read_to_string(&cert_file).unwrap()));
    let err = encrypted(PostgresSslMode::VerifyFull, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PersistenceError::Unreachable(_))
            && err.to_string().contains("UnknownIssuer"),
        "{err:?}"
    );
    assert!(encrypted(PostgresSslMode::VerifyCa, ca()).await.unwrap());
    assert!(encrypted(
        PostgresSslMode::VerifyCa,
        Some(RootCert::File(cert_file.clone()))
    )
    .await
    .unwrap());
    let err = encrypted(PostgresSslMode::VerifyFull, ca())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not valid for name \"127.0.0.1\""),
        "{err:?}"
    );
    let localhost = PostgresConfig {
        host: "localhost".into(),
        ssl_mode: PostgresSslMode::VerifyFull,
        ssl_root_cert: ca(),
        ..postgres_config("public")
    };
    let store = PostgresStore::new(&localhost);
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(ssl);
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// SQLite only
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_uses_wal_and_several_instances_share_it() {
    let h = SqliteHarness::new("shared").await;
    let stores: Vec<_> = (0..3).map(|_| h.another_store()).collect();
    let tasks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(s, store)| {
            let store = store.clone();
            tokio::spawn(async move {
                let schedule = Schedule::new(store);
                schedule.ensure_ready().await.unwrap();
                // Enough contention that SQLite refuses some write locks at once (retried).
                for i in 0..150 {
                    let r = record(&format!("s{s}-{i}"), 1_900_000_000 + i, "BK", "NEW");
                    schedule.store().upsert(&r).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(h.count().await, 450);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let found = stores[0]
        .find_appointment_ids_between(1_900_000_000, 1_900_000_000)
        .await
        .unwrap();
    assert_eq!(found.appointments, ids(&["s0-0", "s1-0", "s2-0"]));
    for store in stores {
        store.close().await;
    }
    Box::new(h).cleanup().await;
}

#[tokio::test]
async fn sqlite_memory_keeps_its_data_and_is_private_to_its_store() {
    let config = SqliteConfig {
        filename: ":memory:".into(),
    };
    let a = SqliteStore::new(&config);
    let b = SqliteStore::new(&config);
    a.ensure_table().await.unwrap();
    b.ensure_table().await.unwrap();
    // Concurrent use of the single connection.
    let writes = (0..50).map(|i| {
        let a = &a;
        async move {
            a.upsert(&record(&format!("m-{i:02}"), 1000 + i, "BK", "NEW"))
                .await
                .unwrap()
        }
    });
    futures::future::join_all(writes).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(appointments_between(&a, 0, 5000).await.len(), 50);
    assert!(appointments_between(&b, 0, 5000).await.is_empty());
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn sqlite_incompatible_column_type_is_reported() {
    let h = SqliteHarness::new("incompatible").await;
    h.create_old_table_replacing(
        "status TEXT NOT NULL DEFAULT ''",
        "status REAL NOT NULL DEFAULT 0",
    )
    .await;
    assert_incompatible_schema(&*h.store(), &["status", "REAL", "TEXT"]).await;
    Box::new(h).cleanup().await;
}

#[tokio::test]
async fn sqlite_unopenable_file_is_reported() {
    let path = std::env::temp_dir()
        .join(unique("no_such_dir"))
        .join("schedule.db");
    let store = SqliteStore::new(&SqliteConfig {
        filename: path.to_string_lossy().into_owned(),
    });
    let err = store.ensure_table().await.unwrap_err();
    assert!(matches!(err, PersistenceError::Unreachable(_)), "{err:?}");
    assert!(err.to_string().contains("cannot open"), "{err}");
    assert!(
        err.to_string().contains(SCHEDULE_TABLE_NAME) || err.to_string().contains("schedule.db"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// All
// ---------------------------------------------------------------------------------------------

/// The SDK's constructor runs on the JS thread, outside any Tokio runtime: opening a store
/// there must not touch the runtime (sqlx spawns pool tasks when a pool is built).
#[test]
fn stores_open_outside_any_runtime() {
    use eka_webhook_core::config::PersistenceConfig;
    use eka_webhook_core::persistence::open_store;
    let file = std::env::temp_dir().join(format!("{}.sqlite3", unique("no_runtime")));
    for config in [
        PersistenceConfig::Sqlite(SqliteConfig {
            filename: ":memory:".into(),
        }),
        PersistenceConfig::Sqlite(SqliteConfig {
            filename: file.to_string_lossy().into_owned(),
        }),
        PersistenceConfig::Mysql(mysql_admin_config("test")),
        PersistenceConfig::Postgres(postgres_config("public")),
    ] {
        let store = open_store(&config);
        // And it works once a runtime drives it (servers: only up to a query, so that no table
        // lands in the shared `test` database).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            if matches!(config, PersistenceConfig::Sqlite(_)) {
                store
                    .ensure_table()
                    .await
                    .unwrap_or_else(|e| panic!("{config:?}: {e}"));
            } else {
                store.find_appointment_ids_between(0, 1).await.unwrap_err();
            }
            store.close().await;
        });
    }
    assert!(!file.exists() || std::fs::remove_file(&file).is_ok());
}
