//! The DynamoDB schedule store against a real moto server (one per test, started and killed by
//! `support::moto`): what only DynamoDB has. The rules every backend follows are in
//! `persistence_suite.rs`.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, PutRequest, TableDescription, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use eka_webhook_core::persistence::dynamodb::{DynamoDbStore, STATUS_START_TIME_INDEX};
use eka_webhook_core::persistence::{PersistenceError, ScheduleStore, SCHEDULE_TABLE_NAME};
use support::moto::Moto;
use support::{
    assert_key_and_gsi, create_table_keyed_by, create_table_without_gsi, describe, dynamo_config,
    get_item, ids, raw_client, record, store, SECRET_KEY,
};

/// A fresh moto server with the table created by the store under test.
async fn with_table() -> (Moto, Client, DynamoDbStore) {
    let moto = Moto::start().await;
    let store = store(&moto.endpoint);
    store.ensure_table().await.unwrap();
    let client = raw_client(&moto.endpoint);
    (moto, client, store)
}

fn n(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item[name]
        .as_n()
        .unwrap_or_else(|_| panic!("{name} is not N: {:?}", item[name]))
        .parse()
        .unwrap()
}

fn s<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> &'a str {
    item[name]
        .as_s()
        .unwrap_or_else(|_| panic!("{name} is not S: {:?}", item[name]))
}

fn assert_pay_per_request(table: &TableDescription) {
    let billing = table.billing_mode_summary().unwrap().billing_mode();
    assert_eq!(billing, Some(&BillingMode::PayPerRequest));
}

/// Asserts the table and GSI are exactly what the Python SDK 0.1.4 creates.
fn assert_python_shape(table: &TableDescription) {
    assert_key_and_gsi(table);
    let mut attrs: Vec<_> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    attrs.sort();
    assert_eq!(
        attrs,
        [
            ("appointment_id", "S"),
            ("start_time", "N"),
            ("status", "S")
        ]
    );
}

#[tokio::test]
async fn creates_the_python_table_from_nothing() {
    let (_moto, client, store) = with_table().await;
    let table = describe(&client).await;
    assert_python_shape(&table);
    assert_pay_per_request(&table);
    assert_eq!(table.table_status().unwrap().as_str(), "ACTIVE");
    // Idempotent: a second run (a restart) changes nothing.
    store.ensure_table().await.unwrap();
    assert_python_shape(&describe(&client).await);
}

#[tokio::test]
async fn adds_the_gsi_to_an_old_table_and_reports_it_missing_before() {
    let moto = Moto::start().await;
    let client = raw_client(&moto.endpoint);
    create_table_without_gsi(&client).await;
    let store = store(&moto.endpoint);
    store
        .upsert(&record("old-1", 500, "BK", "NEW"))
        .await
        .unwrap();

    // Before UpdateTable the GSI is missing: a clear IndexNotReady, not a generic error.
    // (moto creates a GSI ACTIVE at once, so the CREATING/backfilling state is covered by the
    // unit test of the error mapping in src/persistence/dynamodb.rs.)
    match store.find_appointment_ids_between(0, 1000).await {
        Err(PersistenceError::IndexNotReady(text)) => {
            assert!(text.contains(STATUS_START_TIME_INDEX), "{text}");
            assert!(text.contains("not ACTIVE yet"), "{text}");
            assert!(text.contains("has no index"), "{text}");
        }
        other => panic!("expected IndexNotReady, got {other:?}"),
    }

    store.ensure_table().await.unwrap();
    let table = describe(&client).await;
    // Not assert_python_shape: the UpdateTable (Python's, to the letter) lists only the GSI's
    // attributes, and moto *replaces* the table's AttributeDefinitions with them (DynamoDB
    // merges), so appointment_id drops out of the list here — as it does after Python's.
    assert_key_and_gsi(&table);
    assert_pay_per_request(&table);
    // Rows written before the migration are found through the new index.
    let found = store.find_appointment_ids_between(0, 1000).await.unwrap();
    assert_eq!(found.appointments, ids(&["old-1"]));
}

#[tokio::test]
async fn rejects_a_table_with_another_key() {
    let moto = Moto::start().await;
    let client = raw_client(&moto.endpoint);
    create_table_keyed_by(&client, "id").await;
    match store(&moto.endpoint).ensure_table().await {
        Err(PersistenceError::IncompatibleSchema(text)) => {
            assert!(text.contains("appointment_id"), "{text}")
        }
        other => panic!("expected IncompatibleSchema, got {other:?}"),
    }
}

#[tokio::test]
async fn writes_items_with_pythons_attribute_names_and_types() {
    let (_moto, client, store) = with_table().await;

    let before = eka_webhook_core::signature::unix_now();
    store
        .upsert(&record("apt-1", 1_000, "BK", "NEW"))
        .await
        .unwrap();
    let item = get_item(&client, "apt-1").await.unwrap();
    let mut names: Vec<_> = item.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "appointment_id",
            "created_at",
            "end_time",
            "start_time",
            "status",
            "visit_type"
        ]
    );
    assert_eq!(s(&item, "appointment_id"), "apt-1");
    assert_eq!(
        (n(&item, "start_time"), n(&item, "end_time")),
        (1_000, 1_900)
    );
    assert_eq!((s(&item, "status"), s(&item, "visit_type")), ("BK", "NEW"));
    let created_at = n(&item, "created_at");
    assert!(created_at >= before && created_at <= eka_webhook_core::signature::unix_now());

    // update_status only touches an existing item.
    assert!(store.update_status("apt-1", "CND").await.unwrap());
    assert_eq!(
        s(&get_item(&client, "apt-1").await.unwrap(), "status"),
        "CND"
    );
    assert!(!store.update_status("missing", "CND").await.unwrap());
    assert!(
        get_item(&client, "missing").await.is_none(),
        "update_status must not create an item"
    );

    // reminder_sent_at is N, only on an existing item.
    assert!(store.mark_reminder_sent("apt-1", 1_234_567).await.unwrap());
    assert_eq!(
        n(
            &get_item(&client, "apt-1").await.unwrap(),
            "reminder_sent_at"
        ),
        1_234_567
    );
    assert!(!store.mark_reminder_sent("missing", 1).await.unwrap());
    assert!(
        get_item(&client, "missing").await.is_none(),
        "mark_reminder_sent must not create an item"
    );
}

#[tokio::test]
async fn reupsert_keeps_created_at_reminder_and_an_existing_p_aid() {
    let (_moto, client, store) = with_table().await;

    let mut first = record("apt-2", 1_000, "BK", "NEW");
    first.p_aid = Some("apt-0".to_string());
    store.upsert(&first).await.unwrap();
    // An old created_at, so that a re-upsert overwriting it would show.
    client
        .update_item()
        .table_name(SCHEDULE_TABLE_NAME)
        .key("appointment_id", AttributeValue::S("apt-2".into()))
        .update_expression("SET created_at = :c")
        .expression_attribute_values(":c", AttributeValue::N("1000".into()))
        .send()
        .await
        .unwrap();
    store.mark_reminder_sent("apt-2", 4_242).await.unwrap();

    store
        .upsert(&record("apt-2", 2_000, "IN", "FLW"))
        .await
        .unwrap();
    let item = get_item(&client, "apt-2").await.unwrap();
    assert_eq!(n(&item, "created_at"), 1_000);
    assert_eq!(
        s(&item, "p_aid"),
        "apt-0",
        "an absent p_aid keeps the stored one"
    );
    assert_eq!(n(&item, "reminder_sent_at"), 4_242);
    assert_eq!(
        (
            n(&item, "start_time"),
            s(&item, "status"),
            s(&item, "visit_type")
        ),
        (2_000, "IN", "FLW")
    );

    let mut again = record("apt-2", 2_000, "BK", "NEW");
    again.p_aid = Some("apt-1".to_string());
    store.upsert(&again).await.unwrap();
    let item = get_item(&client, "apt-2").await.unwrap();
    assert_eq!(s(&item, "p_aid"), "apt-1", "a present p_aid replaces it");
    assert_eq!(n(&item, "created_at"), 1_000);
}

/// 1,500 items of ~2 KB: more than DynamoDB's (and moto's) 1 MB per Query page, so the store
/// has to follow LastEvaluatedKey.
#[tokio::test]
async fn follows_pagination_to_the_end() {
    let (moto, client, store) = with_table().await;
    let padding = "x".repeat(2_000);
    let rows: Vec<(String, i64, &str, &str)> = (0..1_500)
        .map(|i| match i % 3 {
            0 | 1 => (format!("bk-{i:04}"), 10_000 + i, "BK", "NEW"),
            _ if i % 2 == 0 => (format!("flw-{i:04}"), 10_000 + i, "IN", "FLW"),
            _ => (format!("in-{i:04}"), 10_000 + i, "IN", "NEW"),
        })
        .collect();
    for chunk in rows.chunks(25) {
        let requests = chunk
            .iter()
            .map(|(id, start, status, visit)| {
                let put = PutRequest::builder()
                    .item("appointment_id", AttributeValue::S(id.clone()))
                    .item("start_time", AttributeValue::N(start.to_string()))
                    .item("end_time", AttributeValue::N((start + 900).to_string()))
                    .item("status", AttributeValue::S(status.to_string()))
                    .item("visit_type", AttributeValue::S(visit.to_string()))
                    .item("created_at", AttributeValue::N("1".into()))
                    .item("padding", AttributeValue::S(padding.clone()))
                    .build()
                    .unwrap();
                WriteRequest::builder().put_request(put).build()
            })
            .collect::<Vec<_>>();
        let out = client
            .batch_write_item()
            .request_items(SCHEDULE_TABLE_NAME, requests)
            .send()
            .await
            .unwrap();
        assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    }

    // The premise: one Query does not return everything.
    let first_page = client
        .query()
        .table_name(SCHEDULE_TABLE_NAME)
        .index_name(STATUS_START_TIME_INDEX)
        .key_condition_expression("#s = :s AND #st BETWEEN :a AND :b")
        .expression_attribute_names("#s", "status")
        .expression_attribute_names("#st", "start_time")
        .expression_attribute_values(":s", AttributeValue::S("BK".into()))
        .expression_attribute_values(":a", AttributeValue::N("0".into()))
        .expression_attribute_values(":b", AttributeValue::N("99999".into()))
        .send()
        .await
        .unwrap();
    assert!(
        first_page.last_evaluated_key().is_some(),
        "the test data must span more than one page"
    );
    assert!(first_page.items().len() < 1_000);

    let expect = |status: &str, visit: Option<&str>| -> Vec<String> {
        rows.iter()
            .filter(|(_, _, st, vt)| *st == status && visit.is_none_or(|v| v == *vt))
            .map(|(id, ..)| id.clone())
            .collect()
    };
    let found = store.find_appointment_ids_between(0, 99_999).await.unwrap();
    assert_eq!(found.appointments.len(), 1_000);
    assert_eq!(found.appointments, expect("BK", None));
    assert_eq!(found.followup_appointments, expect("IN", Some("FLW")));
    assert_eq!(found.followup_appointments.len(), 250);

    // And with a small page size (many more pages, including filtered-empty ones).
    let small_pages = DynamoDbStore::new(dynamo_config(&moto.endpoint)).with_query_page_limit(7);
    let window = small_pages
        .find_appointment_ids_between(10_000, 10_100)
        .await
        .unwrap();
    let in_window = |list: Vec<String>| -> Vec<String> {
        list.into_iter()
            .filter(|id| id[id.len() - 4..].parse::<i64>().unwrap() <= 100)
            .collect()
    };
    assert_eq!(window.appointments, in_window(expect("BK", None)));
    assert_eq!(
        window.followup_appointments,
        in_window(expect("IN", Some("FLW")))
    );
}

#[tokio::test]
async fn nothing_listening_is_unreachable_quickly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = store(&format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    let err = store.ensure_table().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    match &err {
        PersistenceError::Unreachable(text) => {
            assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains(SECRET_KEY));
}

/// A server that accepts connections and never answers: the operation timeout (the configured
/// connect timeout) bounds every call.
#[tokio::test]
async fn a_silent_endpoint_times_out_within_the_connect_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = dynamo_config(&format!("http://127.0.0.1:{port}"));
    config.connect_timeout = Duration::from_millis(500);
    let store = DynamoDbStore::new(config);
    let started = Instant::now();
    let err = store
        .upsert(&record("x", 1, "BK", "NEW"))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1_500), "took {elapsed:?}");
    assert!(matches!(err, PersistenceError::Unreachable(_)), "{err:?}");
    drop(listener);
}

#[tokio::test]
async fn rejected_credentials_are_auth_errors_without_the_secret() {
    // With INITIAL_NO_AUTH_ACTION_COUNT=0 moto checks the access key against its IAM users.
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]).await;
    let err = store(&moto.endpoint).ensure_table().await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, PersistenceError::Auth(_)), "{text}");
    assert!(!text.contains(SECRET_KEY), "{text}");
}
