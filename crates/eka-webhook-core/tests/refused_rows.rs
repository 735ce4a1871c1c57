//! A row a database refuses for its content is `PersistenceError::Rejected` (so the write queue
//! drops it rather than retrying it for 10 minutes), classified from the server's own code on a
//! real MariaDB, PostgreSQL and DynamoDB (moto). The store is called directly: the schedule
//! refuses over-long fields before they get here.

mod support;

use eka_webhook_core::persistence::write_queue::is_transient;
use std::sync::Arc;

use eka_webhook_core::persistence::{PersistenceError, ScheduleStore};
use support::*;

fn assert_rejected(result: Result<impl std::fmt::Debug, PersistenceError>, code: &str) {
    match result {
        Err(err @ PersistenceError::Rejected(_)) => {
            assert!(err.to_string().contains(code), "{err}");
            assert!(!is_transient(&err));
        }
        other => panic!("expected Rejected ({code}), got {other:?}"),
    }
}

/// The harness's store, with the table made.
async fn table(h: &dyn Harness) -> Arc<dyn ScheduleStore> {
    let store = h.store();
    store.ensure_table().await.unwrap();
    store
}

/// 256 characters: one more than `appointment_id VARCHAR(255)` holds.
fn too_long() -> String {
    "a".repeat(256)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_refusals_are_rejected() {
    let h = MysqlHarness::new("refused").await;
    // A latin1 database, as an older server or a shared schema may have.
    let database = h.place_name();
    h.exec(&format!("ALTER DATABASE `{database}` CHARACTER SET latin1"))
        .await;
    let store = table(&h).await;
    assert_rejected(
        store.upsert(&record(&too_long(), 10, "BK", "NEW")).await,
        "error 1406",
    );
    let mut emoji = record("a-1", 10, "BK", "NEW");
    emoji.p_aid = Some("old-\u{1F600}".into());
    assert_rejected(store.upsert(&emoji).await, "error 1366");
    assert_rejected(
        store.update_status("old-\u{1F600}", "RES").await,
        "error 1267",
    );
    Box::new(h).cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_data_exceptions_are_rejected() {
    let h = PostgresHarness::new("refused").await;
    let store = table(&h).await;
    assert_rejected(
        store.upsert(&record(&too_long(), 10, "BK", "NEW")).await,
        "error 22001",
    );
    assert_rejected(store.update_status("a\u{0}b", "RES").await, "error 22021");
    Box::new(h).cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_validation_exceptions_are_rejected() {
    let h = DynamoHarness::new("refused").await;
    let store = table(&h).await;
    // Over DynamoDB's 400 KB item size.
    let huge = record("a-1", 10, "BK", &"v".repeat(500 * 1024));
    assert_rejected(store.upsert(&huge).await, "ValidationException");
    Box::new(h).cleanup().await;
}
