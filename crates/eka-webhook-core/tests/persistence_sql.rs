//! The SQLite and MySQL schedule stores against real databases (a temp SQLite file, the local
//! MariaDB). The same checks run on both backends; what only one has is tested below them.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eka_webhook_core::config::{MysqlConfig, SqliteConfig};
use eka_webhook_core::events::{AppointmentContext, WebhookEvent};
use eka_webhook_core::persistence::mysql::MysqlStore;
use eka_webhook_core::persistence::schedule::Schedule;
use eka_webhook_core::persistence::sqlite::SqliteStore;
use eka_webhook_core::persistence::{
    AppointmentIdsBetween, PersistenceError, ScheduleRecord, ScheduleStore, SCHEDULE_TABLE_NAME,
};
use eka_webhook_core::secret::Secret;
use eka_webhook_core::signature::unix_now;
use serde_json::json;
use sqlx::AssertSqlSafe;
use support::*;

const ALL_COLUMNS: [&str; 8] =
    ["appointment_id", "start_time", "end_time", "status", "visit_type", "created_at", "p_aid", "reminder_sent_at"];

fn record(id: &str, start: i64, status: &str, visit_type: &str) -> ScheduleRecord {
    ScheduleRecord {
        appointment_id: id.into(),
        start_time: start,
        end_time: start + 900,
        status: status.into(),
        visit_type: visit_type.into(),
        p_aid: None,
    }
}

fn event(event_type: &str, id: &str, start: i64, status: &str, visit_type: &str) -> WebhookEvent {
    WebhookEvent {
        event_type: event_type.into(),
        context: Some(Box::new(AppointmentContext {
            appointment_details: json!({
                "appointment_id": id, "start_time": start, "end_time": start + 900,
                "status": status, "visit_type": visit_type, "patient_id": "pat-1",
            }),
            ..Default::default()
        })),
    }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// The checks both backends pass
// ---------------------------------------------------------------------------------------------

async fn creates_from_nothing(h: &dyn Harness) {
    let store = h.store();
    store.ensure_table().await.unwrap();
    assert_eq!(h.columns().await, ALL_COLUMNS);
    // Idempotent, and a second instance on the same database is happy with it.
    store.ensure_table().await.unwrap();
    h.another_store().ensure_table().await.unwrap();
    assert_eq!(h.count().await, 0);
}

async fn migrates_an_older_table(h: &dyn Harness) {
    h.exec(h.old_table_sql()).await;
    h.exec("INSERT INTO eka_webhook_schedule_appointment (appointment_id, start_time, end_time, status, visit_type) VALUES ('old-1', 100, 200, 'BK', 'NEW')").await;
    let store = h.store();
    store.ensure_table().await.unwrap();
    assert_eq!(h.columns().await, ALL_COLUMNS);
    let old = h.row("old-1").await.unwrap();
    assert_eq!((old.created_at, old.p_aid, old.reminder_sent_at), (0, None, None));
    assert_eq!((old.start_time, old.status.as_str()), (100, "BK"));
    // And it works as a full table now.
    store.upsert(&record("new-1", 150, "BK", "NEW")).await.unwrap();
    assert!(store.mark_reminder_sent("old-1", 42).await.unwrap());
    assert_eq!(h.row("old-1").await.unwrap().reminder_sent_at, Some(42));
    let found = store.find_appointment_ids_between(0, 1000).await.unwrap();
    assert_eq!(found.appointments, ids(&["old-1", "new-1"]));
}

async fn applies_the_schedule_rules(h: &dyn Harness) {
    let schedule = Arc::new(Schedule::new(h.store()));
    let t = 1_900_000_000;
    let before = unix_now();

    // BK is scheduled, with created_at = now.
    schedule.apply_event(&event("appointment.created", "a-1", t, "BK", "NEW"), None).await;
    let row = h.row("a-1").await.unwrap();
    assert_eq!((row.start_time, row.end_time, row.status.as_str(), row.visit_type.as_str()), (t, t + 900, "BK", "NEW"));
    assert!(row.created_at >= before && row.created_at <= unix_now(), "created_at {}", row.created_at);
    assert_eq!((row.p_aid, row.reminder_sent_at), (None, None));

    // A re-upsert changes the schedule but keeps created_at.
    h.exec("UPDATE eka_webhook_schedule_appointment SET created_at = 7 WHERE appointment_id = 'a-1'").await;
    schedule.apply_event(&event("appointment.created", "a-1", t + 60, "BK", "FLW"), None).await;
    let row = h.row("a-1").await.unwrap();
    assert_eq!((row.start_time, row.visit_type.as_str(), row.created_at), (t + 60, "FLW", 7));

    // A reschedule: the earlier appointment becomes RES, the new row remembers it.
    schedule.apply_event(&event("appointment.created", "a-2", t + 3600, "BK", "NEW"), Some("a-1")).await;
    assert_eq!(h.row("a-1").await.unwrap().status, "RES");
    assert_eq!(h.row("a-2").await.unwrap().p_aid.as_deref(), Some("a-1"));
    // Upserting a-2 again without a p_aid keeps the one it had.
    schedule.apply_event(&event("appointment.created", "a-2", t + 7200, "BK", "NEW"), None).await;
    let row = h.row("a-2").await.unwrap();
    assert_eq!((row.p_aid.as_deref(), row.start_time), (Some("a-1"), t + 7200));
    // A p_aid naming no row is harmless.
    schedule.apply_event(&event("appointment.created", "a-3", t, "BK", "NEW"), Some("nowhere")).await;
    assert_eq!(h.row("a-3").await.unwrap().p_aid.as_deref(), Some("nowhere"));
    assert!(h.row("nowhere").await.is_none());

    // Details that are an empty object change nothing, not even the p_aid's row (as Python).
    let mut empty = event("appointment.created", "a-4", t, "BK", "NEW");
    empty.context.as_mut().unwrap().appointment_details = json!({});
    schedule.apply_event(&empty, Some("a-2")).await;
    assert_eq!(h.row("a-2").await.unwrap().status, "BK");

    // Only BK, or IN + FLW, is scheduled on create.
    schedule.apply_event(&event("appointment.created", "f-1", t, "IN", "FLW"), None).await;
    schedule.apply_event(&event("appointment.created", "n-1", t, "IN", "NEW"), None).await;
    schedule.apply_event(&event("appointment.created", "c-1", t, "CND", "FLW"), None).await;
    assert_eq!(h.row("f-1").await.unwrap().status, "IN");
    assert!(h.row("n-1").await.is_none());
    assert!(h.row("c-1").await.is_none());

    // appointment.updated mirrors any status onto an existing row, and creates none.
    schedule.apply_event(&event("appointment.updated", "f-1", t, "CND", "FLW"), None).await;
    assert_eq!(h.row("f-1").await.unwrap().status, "CND");
    schedule.apply_event(&event("appointment.updated", "n-1", t, "BK", "NEW"), None).await;
    assert!(h.row("n-1").await.is_none());
    // The same status again still counts as a match (MySQL's CLIENT_FOUND_ROWS).
    assert!(h.store().update_status("f-1", "CND").await.unwrap());
    assert!(!h.store().update_status("missing", "CND").await.unwrap());

    // reminder_sent: now on the row; no row is a no-op.
    let before = unix_now();
    schedule.reminder_sent("a-2", unix_now()).await.unwrap();
    let sent = h.row("a-2").await.unwrap().reminder_sent_at.unwrap();
    assert!(sent >= before && sent <= unix_now());
    schedule.reminder_sent("missing", unix_now()).await.unwrap();
    assert!(h.row("missing").await.is_none());
    assert_eq!(h.count().await, 4);
}

async fn finds_ids_at_the_exact_bounds(h: &dyn Harness) {
    let store = h.store();
    store.ensure_table().await.unwrap();
    let (start, end) = (2_000_000_000, 2_000_003_600);
    for r in [
        record("before", start - 1, "BK", "NEW"),
        record("z-at-start", start, "BK", "NEW"),
        record("a-at-start", start, "BK", "NEW"),
        record("flw-mid", start + 10, "IN", "FLW"),
        record("in-new-mid", start + 10, "IN", "NEW"),
        record("cnd-mid", start + 20, "CND", "NEW"),
        record("bk-flw-mid", start + 30, "BK", "FLW"),
        record("flw-at-end", end, "IN", "FLW"),
        record("at-end", end, "BK", "NEW"),
        record("after", end + 1, "BK", "NEW"),
    ] {
        store.upsert(&r).await.unwrap();
    }
    let found = store.find_appointment_ids_between(start, end).await.unwrap();
    assert_eq!(
        found,
        AppointmentIdsBetween {
            // start_time, then appointment_id.
            appointments: ids(&["a-at-start", "z-at-start", "bk-flw-mid", "at-end"]),
            followup_appointments: ids(&["flw-mid", "flw-at-end"]),
        }
    );
    // A one-second window at each bound.
    let at_start = store.find_appointment_ids_between(start, start).await.unwrap();
    assert_eq!(at_start.appointments, ids(&["a-at-start", "z-at-start"]));
    let at_end = store.find_appointment_ids_between(end, end).await.unwrap();
    assert_eq!((at_end.appointments, at_end.followup_appointments), (ids(&["at-end"]), ids(&["flw-at-end"])));
    assert_eq!(store.find_appointment_ids_between(end + 2, end + 100).await.unwrap(), AppointmentIdsBetween::default());
}

const AWKWARD_IDS: [&str; 9] = [
    "it's",
    "\"quoted\"",
    "back\\slash\\",
    "100%_like",
    "x'; DROP TABLE eka_webhook_schedule_appointment;--",
    "ünïcødé-予約-🩺",
    "tab\tnew\nline",
    "`backtick`",
    "?",
];

async fn awkward_ids_round_trip(h: &dyn Harness) {
    let store = h.store();
    store.ensure_table().await.unwrap();
    let t = 1_950_000_000;
    for (i, id) in AWKWARD_IDS.iter().enumerate() {
        let mut r = record(id, t + i as i64, "BK", "NEW");
        r.p_aid = Some(format!("{id}-prev"));
        store.upsert(&r).await.unwrap();
    }
    let found = store.find_appointment_ids_between(t, t + 100).await.unwrap();
    assert_eq!(found.appointments, ids(&AWKWARD_IDS));
    for id in AWKWARD_IDS {
        assert!(store.update_status(id, "IN").await.unwrap(), "{id}");
        assert!(store.mark_reminder_sent(id, 5).await.unwrap(), "{id}");
        let row = h.row(id).await.unwrap_or_else(|| panic!("row {id:?}"));
        assert_eq!((row.status.as_str(), row.reminder_sent_at, row.p_aid), ("IN", Some(5), Some(format!("{id}-prev"))));
    }
    // `%` and `_` are data, not patterns; nothing was dropped.
    assert!(!store.update_status("100%", "X").await.unwrap());
    assert_eq!(h.count().await, AWKWARD_IDS.len() as i64);
}

async fn concurrent_first_calls_create_the_table_once(h: &dyn Harness) {
    let counting = Arc::new(CountingStore::new(h.store()));
    let schedule = Arc::new(Schedule::new(counting.clone()));
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let schedule = schedule.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    schedule.ensure_ready().await.unwrap();
                } else {
                    let id = format!("c-{i}");
                    schedule.apply_event(&event("appointment.created", &id, 1_900_000_000 + i, "BK", "NEW"), None).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(counting.ensure_calls.load(Ordering::SeqCst), 1);
    assert_eq!(h.columns().await, ALL_COLUMNS);
    assert_eq!(h.count().await, 12);
}

/// Runs one check on a fresh database of the backend, then removes the database.
async fn on_fresh<H: Harness + 'static>(h: H, check: impl for<'a> FnOnce(&'a dyn Harness) -> futures::future::BoxFuture<'a, ()>) {
    check(&h).await;
    Box::new(h).cleanup().await;
}

macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {
        mod mysql_backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    on_fresh(MysqlHarness::new(stringify!($check)).await, |h| Box::pin(super::$check(h))).await;
                }
            )*
        }
        mod sqlite_backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    on_fresh(SqliteHarness::new(stringify!($check)).await, |h| Box::pin(super::$check(h))).await;
                }
            )*
        }
    };
}

on_both_backends!(
    creates_from_nothing,
    migrates_an_older_table,
    applies_the_schedule_rules,
    finds_ids_at_the_exact_bounds,
    awkward_ids_round_trip,
    concurrent_first_calls_create_the_table_once,
);

// ---------------------------------------------------------------------------------------------
// MySQL only
// ---------------------------------------------------------------------------------------------

fn unreachable_config(timeout: Duration) -> MysqlConfig {
    MysqlConfig { port: closed_port(), connect_timeout: timeout, ..mysql_admin_config("test") }
}

#[tokio::test]
async fn mysql_unreachable_is_reported_within_the_connect_timeout() {
    let store = MysqlStore::new(&unreachable_config(Duration::from_millis(800)));
    let started = Instant::now();
    let err = store.ensure_table().await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, PersistenceError::Unreachable(_)), "{err:?}");
    assert!(elapsed >= Duration::from_millis(700) && elapsed < Duration::from_millis(2000), "{elapsed:?}");
    assert!(err.to_string().contains("127.0.0.1:"), "{err}");
    // Every operation, not just the first.
    let err = store.upsert(&record("x", 1, "BK", "NEW")).await.unwrap_err();
    assert!(matches!(err, PersistenceError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn mysql_down_delays_concurrent_first_calls_by_one_timeout_not_many() {
    let timeout = Duration::from_millis(600);
    let schedule = Arc::new(Schedule::new(Arc::new(MysqlStore::new(&unreachable_config(timeout)))));
    let started = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let schedule = schedule.clone();
            tokio::spawn(async move {
                schedule.apply_event(&event("appointment.created", &format!("d-{i}"), 1, "BK", "NEW"), None).await;
                started.elapsed()
            })
        })
        .collect();
    for task in tasks {
        let waited = task.await.unwrap();
        assert!(waited < timeout * 2, "a webhook waited {waited:?} with a {timeout:?} connect timeout");
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
    assert!(started.elapsed() < Duration::from_secs(2), "an auth failure is not retried until the timeout");
    assert!(!err.to_string().contains(wrong) && !format!("{err:?}").contains(wrong), "{err}");
    assert!(err.to_string().contains(&user), "{err}");

    // The right password works (so the failure above really was the password).
    let good = MysqlStore::new(&config("right-pass"));
    good.ensure_table().await.unwrap();
    good.close().await;

    // A user that does not exist at all.
    let nobody = MysqlStore::new(&MysqlConfig { user: unique("nobody"), ..config("x") });
    assert!(matches!(nobody.ensure_table().await.unwrap_err(), PersistenceError::Auth(_)));

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
    let err = store.ensure_table().await.unwrap_err();
    assert!(matches!(err, PersistenceError::Database(_)), "{err:?}");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn mysql_incompatible_column_type_is_reported() {
    let h = MysqlHarness::new("incompatible").await;
    h.exec(&h.old_table_sql().replace("start_time BIGINT NOT NULL DEFAULT 0", "start_time VARCHAR(20) NOT NULL DEFAULT ''"))
        .await;
    let err = h.store().ensure_table().await.unwrap_err();
    let PersistenceError::IncompatibleSchema(message) = &err else { panic!("{err:?}") };
    assert!(message.contains("start_time") && message.contains("varchar(20)") && message.contains("BIGINT"), "{message}");
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
    assert!(ours.contains("KEY `idx_start_time` (`start_time`)"), "{ours}");
    Box::new(h).cleanup().await;
    Box::new(other).cleanup().await;
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
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&h.pool).await.unwrap();
    assert_eq!(mode, "wal");
    let found = stores[0].find_appointment_ids_between(1_900_000_000, 1_900_000_000).await.unwrap();
    assert_eq!(found.appointments, ids(&["s0-0", "s1-0", "s2-0"]));
    for store in stores {
        store.close().await;
    }
    Box::new(h).cleanup().await;
}

#[tokio::test]
async fn sqlite_memory_keeps_its_data_and_is_private_to_its_store() {
    let config = SqliteConfig { filename: ":memory:".into() };
    let a = SqliteStore::new(&config);
    let b = SqliteStore::new(&config);
    a.ensure_table().await.unwrap();
    b.ensure_table().await.unwrap();
    // Concurrent use of the single connection.
    let writes = (0..50).map(|i| {
        let a = &a;
        async move { a.upsert(&record(&format!("m-{i:02}"), 1000 + i, "BK", "NEW")).await.unwrap() }
    });
    futures::future::join_all(writes).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(a.find_appointment_ids_between(0, 5000).await.unwrap().appointments.len(), 50);
    assert!(b.find_appointment_ids_between(0, 5000).await.unwrap().appointments.is_empty());
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn sqlite_incompatible_column_type_is_reported() {
    let h = SqliteHarness::new("incompatible").await;
    h.exec(&h.old_table_sql().replace("status TEXT NOT NULL DEFAULT ''", "status REAL NOT NULL DEFAULT 0")).await;
    let err = h.store().ensure_table().await.unwrap_err();
    let PersistenceError::IncompatibleSchema(message) = &err else { panic!("{err:?}") };
    assert!(message.contains("status") && message.contains("REAL") && message.contains("TEXT"), "{message}");
    Box::new(h).cleanup().await;
}

#[tokio::test]
async fn sqlite_unopenable_file_is_reported() {
    let path = std::env::temp_dir().join(unique("no_such_dir")).join("schedule.db");
    let store = SqliteStore::new(&SqliteConfig { filename: path.to_string_lossy().into_owned() });
    let err = store.ensure_table().await.unwrap_err();
    assert!(matches!(err, PersistenceError::Unreachable(_)), "{err:?}");
    assert!(err.to_string().contains("cannot open"), "{err}");
    assert!(err.to_string().contains(SCHEDULE_TABLE_NAME) || err.to_string().contains("schedule.db"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Both
// ---------------------------------------------------------------------------------------------

/// The SDK's constructor runs on the JS thread, outside any Tokio runtime: opening a store
/// there must not touch the runtime (sqlx spawns pool tasks when a pool is built).
#[test]
fn stores_open_outside_any_runtime() {
    use eka_webhook_core::config::PersistenceConfig;
    use eka_webhook_core::persistence::open_store;
    let file = std::env::temp_dir().join(format!("{}.sqlite3", unique("no_runtime")));
    for config in [
        PersistenceConfig::Sqlite(SqliteConfig { filename: ":memory:".into() }),
        PersistenceConfig::Sqlite(SqliteConfig { filename: file.to_string_lossy().into_owned() }),
        PersistenceConfig::Mysql(mysql_admin_config("test")),
    ] {
        let store = open_store(&config).unwrap();
        // And it works once a runtime drives it (MySQL: only up to a query, so that no table
        // lands in the shared `test` database).
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            if matches!(config, PersistenceConfig::Sqlite(_)) {
                store.ensure_table().await.unwrap_or_else(|e| panic!("{config:?}: {e}"));
            } else {
                store.find_appointment_ids_between(0, 1).await.unwrap_err();
            }
            store.close().await;
        });
    }
    assert!(!file.exists() || std::fs::remove_file(&file).is_ok());
}
