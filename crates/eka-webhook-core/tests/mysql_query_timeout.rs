//! Per-statement bounds on MySQL: an `ALTER` stuck behind a long transaction makes every later
//! statement on the table queue behind it; the SDK's statements give up at `queryTimeoutMs`
//! (the server ends the lock wait) instead of stalling webhooks.

mod support;

use std::time::{Duration, Instant};

use eka_webhook_core::config::MysqlConfig;
use eka_webhook_core::persistence::mysql::MysqlStore;
use eka_webhook_core::persistence::{PersistenceError, ScheduleRecord, ScheduleStore};
use support::*;

fn record(id: &str) -> ScheduleRecord {
    ScheduleRecord {
        appointment_id: id.into(),
        start_time: 100,
        end_time: 200,
        status: "BK".into(),
        visit_type: "NEW".into(),
        p_aid: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alter_stuck_on_a_metadata_lock_stalls_writes_only_up_to_the_query_timeout() {
    let h = MysqlHarness::new("lockwait").await;
    let query_timeout = Duration::from_secs(1);
    let store = MysqlStore::new(&MysqlConfig {
        query_timeout,
        ..mysql_admin_config(&h.place_name())
    });
    store.ensure_table().await.unwrap();

    // A transaction that read the table holds a shared metadata lock until it ends...
    let mut reader = h.pool.acquire().await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut *reader).await.unwrap();
    sqlx::raw_sql("SELECT * FROM eka_webhook_schedule_appointment")
        .execute(&mut *reader)
        .await
        .unwrap();
    // ...so an ALTER waits for its exclusive lock, and every later statement waits behind it.
    let mut alterer = h.pool.acquire().await.unwrap();
    let alter = tokio::spawn(async move {
        sqlx::raw_sql("ALTER TABLE eka_webhook_schedule_appointment ADD COLUMN extra INT NULL")
            .execute(&mut *alterer)
            .await
            .map(drop)
    });
    let waiting = Instant::now();
    loop {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE STATE = 'Waiting for table metadata lock' AND INFO LIKE 'ALTER TABLE%'",
        )
        .fetch_one(&h.pool)
        .await
        .unwrap();
        if count > 0 {
            break;
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(5),
            "the ALTER never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let started = Instant::now();
    let err = store.upsert(&record("apt-stalled")).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= query_timeout && elapsed < query_timeout * 2,
        "waited {elapsed:?}"
    );
    assert!(matches!(err, PersistenceError::Database(_)), "{err:?}");
    assert!(
        err.to_string().contains("Lock wait timeout exceeded"),
        "{err}"
    );
    assert!(err.to_string().contains("'queryTimeoutMs'"), "{err}");
    let started = Instant::now();
    assert!(store.find_appointment_ids_between(0, 1000).await.is_err());
    assert!(
        started.elapsed() < query_timeout * 2,
        "reads are bounded too"
    );

    // Once the long transaction ends, the ALTER and the writes go through.
    sqlx::raw_sql("COMMIT").execute(&mut *reader).await.unwrap();
    alter.await.unwrap().unwrap();
    store.upsert(&record("apt-after")).await.unwrap();
    store.close().await;
    drop(reader);
    Box::new(h).cleanup().await;
}
