//! The shared persistence suite: every rule of the schedule table, run on each backend (MySQL,
//! PostgreSQL, SQLite and DynamoDB via moto), each check on a fresh database, schema, file or
//! server of its own. What only one backend has is in `persistence_sql.rs` and `dynamodb.rs`.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use eka_webhook_core::config::PersistenceConfig;
use eka_webhook_core::persistence::ledger::{Claim, Ledger, DEFAULT_LEDGER_TTL_SECONDS};
use eka_webhook_core::persistence::reminder_store::{FireOutcome, NewReminder, ReminderStore};
use eka_webhook_core::persistence::schedule::Schedule;
use eka_webhook_core::persistence::{open_stores, AppointmentIdsBetween};
use eka_webhook_core::signature::unix_now;
use serde_json::json;
use support::*;

async fn creates_from_nothing(h: &dyn Harness) {
    let store = h.store();
    store.ensure_table().await.unwrap();
    h.assert_table_complete().await;
    // Idempotent, and a second instance on the same database is happy with it.
    store.ensure_table().await.unwrap();
    h.another_store().ensure_table().await.unwrap();
    assert_eq!(h.count().await, 0);
}

async fn migrates_an_older_table(h: &dyn Harness) {
    h.create_older_table_with(&record("old-1", 100, "BK", "NEW"))
        .await;
    let store = h.store();
    store.ensure_table().await.unwrap();
    h.assert_table_complete().await;
    let old = h.row("old-1").await.unwrap();
    assert_eq!(
        (old.created_at, old.p_aid, old.reminder_sent_at),
        (0, None, None)
    );
    assert_eq!((old.start_time, old.status.as_str()), (100, "BK"));
    // And it works as a full table now.
    store
        .upsert(&record("new-1", 150, "BK", "NEW"))
        .await
        .unwrap();
    assert!(store.mark_reminder_sent("old-1", 42).await.unwrap());
    assert_eq!(h.row("old-1").await.unwrap().reminder_sent_at, Some(42));
    let found = store.find_appointment_ids_between(0, 1000).await.unwrap();
    assert_eq!(found.appointments, ids(&["old-1", "new-1"]));
}

/// An `appointment.created` webhook for that row (see `event`), the payload naming `p_aid`.
async fn apply_created(
    schedule: &Arc<Schedule>,
    id: &str,
    start: i64,
    status: &str,
    visit_type: &str,
    p_aid: Option<&str>,
) {
    let created = event("appointment.created", id, start, status, visit_type);
    schedule.apply_event(&created, p_aid).await;
}

async fn applies_the_schedule_rules(h: &dyn Harness) {
    let schedule = Arc::new(Schedule::new(h.store()));
    let t = 1_900_000_000;
    let before = unix_now();

    // BK is scheduled, with created_at = now.
    apply_created(&schedule, "a-1", t, "BK", "NEW", None).await;
    let row = h.row("a-1").await.unwrap();
    assert_eq!(
        (
            row.start_time,
            row.end_time,
            row.status.as_str(),
            row.visit_type.as_str()
        ),
        (t, t + 900, "BK", "NEW")
    );
    assert!(
        row.created_at >= before && row.created_at <= unix_now(),
        "created_at {}",
        row.created_at
    );
    assert_eq!((row.p_aid, row.reminder_sent_at), (None, None));

    // A re-upsert changes the schedule but keeps created_at.
    h.set_created_at("a-1", 7).await;
    apply_created(&schedule, "a-1", t + 60, "BK", "FLW", None).await;
    let row = h.row("a-1").await.unwrap();
    assert_eq!(
        (row.start_time, row.visit_type.as_str(), row.created_at),
        (t + 60, "FLW", 7)
    );

    // A reschedule: the earlier appointment becomes RES, the new row remembers it.
    apply_created(&schedule, "a-2", t + 3600, "BK", "NEW", Some("a-1")).await;
    assert_eq!(h.row("a-1").await.unwrap().status, "RES");
    assert_eq!(h.row("a-2").await.unwrap().p_aid.as_deref(), Some("a-1"));
    // Upserting a-2 again without a p_aid keeps the one it had.
    apply_created(&schedule, "a-2", t + 7200, "BK", "NEW", None).await;
    let row = h.row("a-2").await.unwrap();
    assert_eq!(
        (row.p_aid.as_deref(), row.start_time),
        (Some("a-1"), t + 7200)
    );
    // A p_aid naming no row is harmless.
    apply_created(&schedule, "a-3", t, "BK", "NEW", Some("nowhere")).await;
    assert_eq!(
        h.row("a-3").await.unwrap().p_aid.as_deref(),
        Some("nowhere")
    );
    assert!(h.row("nowhere").await.is_none());

    // Details that are an empty object change nothing, not even the p_aid's row (as Python).
    let mut empty = event("appointment.created", "a-4", t, "BK", "NEW");
    empty.context.as_mut().unwrap().appointment_details = json!({});
    schedule.apply_event(&empty, Some("a-2")).await;
    assert_eq!(h.row("a-2").await.unwrap().status, "BK");

    // Only BK, or IN + FLW, is scheduled on create.
    apply_created(&schedule, "f-1", t, "IN", "FLW", None).await;
    apply_created(&schedule, "n-1", t, "IN", "NEW", None).await;
    apply_created(&schedule, "c-1", t, "CND", "FLW", None).await;
    assert_eq!(h.row("f-1").await.unwrap().status, "IN");
    assert!(h.row("n-1").await.is_none());
    assert!(h.row("c-1").await.is_none());

    // appointment.updated mirrors any status onto an existing row, and creates none.
    schedule
        .apply_event(&event("appointment.updated", "f-1", t, "CND", "FLW"), None)
        .await;
    assert_eq!(h.row("f-1").await.unwrap().status, "CND");
    schedule
        .apply_event(&event("appointment.updated", "n-1", t, "BK", "NEW"), None)
        .await;
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
    let found = store
        .find_appointment_ids_between(start, end)
        .await
        .unwrap();
    assert_eq!(
        found,
        AppointmentIdsBetween {
            // start_time, then appointment_id.
            appointments: ids(&["a-at-start", "z-at-start", "bk-flw-mid", "at-end"]),
            followup_appointments: ids(&["flw-mid", "flw-at-end"]),
        }
    );
    // A one-second window at each bound.
    let at_start = store
        .find_appointment_ids_between(start, start)
        .await
        .unwrap();
    assert_eq!(at_start.appointments, ids(&["a-at-start", "z-at-start"]));
    let at_end = store.find_appointment_ids_between(end, end).await.unwrap();
    assert_eq!(
        (at_end.appointments, at_end.followup_appointments),
        (ids(&["at-end"]), ids(&["flw-at-end"]))
    );
    assert_eq!(
        store
            .find_appointment_ids_between(end + 2, end + 100)
            .await
            .unwrap(),
        AppointmentIdsBetween::default()
    );
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
    let found = store
        .find_appointment_ids_between(t, t + 100)
        .await
        .unwrap();
    assert_eq!(found.appointments, ids(&AWKWARD_IDS));
    for id in AWKWARD_IDS {
        assert!(store.update_status(id, "IN").await.unwrap(), "{id}");
        assert!(store.mark_reminder_sent(id, 5).await.unwrap(), "{id}");
        let row = h.row(id).await.unwrap_or_else(|| panic!("row {id:?}"));
        assert_eq!(
            (row.status.as_str(), row.reminder_sent_at, row.p_aid),
            ("IN", Some(5), Some(format!("{id}-prev")))
        );
    }
    // `%` and `_` are data, not patterns; nothing was dropped.
    assert!(!store.update_status("100%", "X").await.unwrap());
    assert_eq!(h.count().await, AWKWARD_IDS.len() as i64);
}

async fn concurrent_first_calls_create_the_table_once(h: &dyn Harness) {
    // Several processes racing on a fresh database: every one succeeds (a lost CREATE race
    // counts as success) and the table is whole.
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let store = h.another_store();
            tokio::spawn(async move { store.ensure_table().await })
        })
        .collect();
    for racer in racers {
        racer.await.unwrap().unwrap();
    }
    h.assert_table_complete().await;
    // One SDK: concurrent first calls run ensure_table once.
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
                    schedule
                        .apply_event(
                            &event("appointment.created", &id, 1_900_000_000 + i, "BK", "NEW"),
                            None,
                        )
                        .await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(counting.ensure_calls.load(Ordering::SeqCst), 1);
    h.assert_table_complete().await;
    assert_eq!(h.count().await, 12);
}

/// Two reminder stores on the place: two SDK instances.
fn two_reminder_stores(h: &dyn Harness) -> [Arc<dyn ReminderStore>; 2] {
    let config = h.persistence_config();
    [
        open_stores(&config).reminders,
        open_stores(&config).reminders,
    ]
}

fn new_reminder(
    id: &str,
    appointment_id: &str,
    due_at: i64,
    before_start: Option<i64>,
) -> NewReminder {
    NewReminder {
        id: id.into(),
        appointment_id: appointment_id.into(),
        name: "n".into(),
        due_at,
        before_start,
    }
}

async fn reminders_are_claimed_once(h: &dyn Harness) {
    let [a, b] = two_reminder_stores(h);
    a.ensure_reminder_table().await.unwrap();
    b.ensure_reminder_table().await.unwrap();
    let now = now_ms();
    for i in 0..40 {
        let reminder = new_reminder(&format!("r-{i:02}"), "apt", now - 1000 + i, None);
        // Both instances schedule it: one row.
        let first = a.insert_reminder(&reminder, now).await.unwrap();
        let second = b.insert_reminder(&reminder, now).await.unwrap();
        assert_eq!(first, second);
        assert_eq!((first.status.as_str(), first.attempt), ("pending", 0));
    }
    // A reminder not yet due is not claimed.
    a.insert_reminder(&new_reminder("later", "apt", now + 60_000, None), now)
        .await
        .unwrap();
    let claimers = (0..4).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = store
                    .claim_due(now_ms(), now_ms() + 60_000, 3)
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed);
            }
        })
    });
    let mut claimed = Vec::new();
    for task in claimers.collect::<Vec<_>>() {
        claimed.extend(task.await.unwrap());
    }
    let mut ids: Vec<&str> = claimed.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        (ids.len(), claimed.len()),
        (40, 40),
        "each claimed by exactly one claimer"
    );
    assert!(claimed
        .iter()
        .all(|r| r.status == "running" && r.attempt == 1));
    assert_eq!(
        a.next_run_at().await.unwrap().map(|at| at > now),
        Some(true)
    );
}

async fn expired_leases_are_claimed_again(h: &dyn Harness) {
    let [a, b] = two_reminder_stores(h);
    a.ensure_reminder_table().await.unwrap();
    let now = now_ms();
    a.insert_reminder(&new_reminder("r", "apt", now - 10, None), now)
        .await
        .unwrap();
    // Claimed with a lease that has already run out (the instance died).
    let [first] = <[_; 1]>::try_from(a.claim_due(now, now - 1, 10).await.unwrap()).unwrap();
    assert_eq!(first.attempt, 1);
    let claimed = b.claim_due(now_ms(), now_ms() + 60_000, 10).await.unwrap();
    let [again] = <[_; 1]>::try_from(claimed).unwrap();
    assert_eq!((again.id.as_str(), again.attempt), ("r", 2));
    // The first holder's late result is refused; the current holder's is recorded.
    let done = FireOutcome::Finished {
        status: "done",
        error: None,
    };
    assert!(!a.finish_fire(&first, now, &done).await.unwrap());
    let retry = FireOutcome::Retry {
        run_at: now - 5,
        error: "gateway down".into(),
    };
    assert!(b.finish_fire(&again, now, &retry).await.unwrap());
    let claimed = a.claim_due(now_ms(), now_ms() + 60_000, 10).await.unwrap();
    let [third] = <[_; 1]>::try_from(claimed).unwrap();
    assert_eq!(third.attempt, 3);
    assert_eq!(third.last_error.as_deref(), Some("gateway down"));
    assert!(a.finish_fire(&third, now, &done).await.unwrap());
    assert!(b
        .claim_due(now_ms(), now_ms() + 60_000, 10)
        .await
        .unwrap()
        .is_empty());
    let rows = b.list_reminders(None, Some("done")).await.unwrap();
    assert_eq!(
        (rows.len(), rows[0].fired_at, rows[0].last_error.clone()),
        (1, Some(now), None)
    );
}

async fn reminders_follow_and_cancel(h: &dyn Harness) {
    let [a, b] = two_reminder_stores(h);
    a.ensure_reminder_table().await.unwrap();
    let now = now_ms();
    let follows = new_reminder("f", "old", now + 1000, Some(600));
    a.insert_reminder(&follows, now).await.unwrap();
    a.insert_reminder(&new_reminder("fixed", "old", now + 1000, None), now)
        .await
        .unwrap();
    // Rescheduled to "new", starting at start_ms: only the beforeStart reminder moves.
    let start_ms = now + 7_200_000;
    assert_eq!(b.rearm_reminders("old", "new", start_ms).await.unwrap(), 1);
    let [moved] = <[_; 1]>::try_from(a.list_reminders(Some("new"), None).await.unwrap()).unwrap();
    let due = start_ms - 600_000;
    assert_eq!(
        (moved.id.as_str(), moved.due_at, moved.run_at),
        ("f", due, due)
    );
    assert_eq!(a.list_reminders(Some("old"), None).await.unwrap().len(), 1);
    assert_eq!(b.cancel_reminders("new").await.unwrap(), 1);
    assert_eq!(
        b.cancel_reminders("new").await.unwrap(),
        0,
        "only pending ones are cancelled"
    );
    assert_eq!(
        a.list_reminders(None, Some("cancelled")).await.unwrap()[0].id,
        "f"
    );
    // Scheduling a cancelled reminder again arms it again.
    let again = a.insert_reminder(&follows, now).await.unwrap();
    assert_eq!((again.status.as_str(), again.attempt), ("pending", 0));
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Many concurrent claims of distinct and repeated ids: exactly one is `Claimed` per id. The SQL
/// backends insert them in batched statements (fewer than the claims); DynamoDB claims one by
/// one.
async fn concurrent_ledger_claims_claim_each_id_once(h: &dyn Harness) {
    const IDS: usize = 40;
    const CLAIMS: usize = 200;
    let ledger = Arc::new(Ledger::in_database(h.store(), DEFAULT_LEDGER_TTL_SECONDS));
    let claims = (0..CLAIMS).map(|i| {
        let ledger = Arc::clone(&ledger);
        tokio::spawn(async move {
            let id = format!("txn:{}", i % IDS);
            let claim = ledger.claim(&id, "e", i % 2 == 0).await.unwrap();
            (id, claim)
        })
    });
    let mut claimed = std::collections::HashMap::new();
    for task in claims.collect::<Vec<_>>() {
        let (id, claim) = task.await.unwrap();
        *claimed.entry(id).or_insert(0) += usize::from(claim == Claim::Claimed);
    }
    assert_eq!(claimed.len(), IDS);
    assert!(
        claimed.values().all(|&n| n == 1),
        "one claim per id: {claimed:?}"
    );
    let batches = ledger.claim_batches();
    match h.persistence_config() {
        PersistenceConfig::Dynamodb(_) => assert_eq!(batches, 0),
        _ => assert!(
            (1..CLAIMS as u64).contains(&batches),
            "{batches} batched statements for {CLAIMS} claims"
        ),
    }
    // A later claim of a known id is no new claim.
    assert_ne!(
        ledger.claim("txn:0", "e", false).await.unwrap(),
        Claim::Claimed
    );
}

/// Runs one check on a fresh database of the backend, then removes the database.
async fn on_fresh<H: Harness + 'static>(
    h: H,
    check: impl for<'a> FnOnce(&'a dyn Harness) -> futures::future::BoxFuture<'a, ()>,
) {
    check(&h).await;
    Box::new(h).cleanup().await;
}

macro_rules! on_every_backend {
    ($($check:ident),* $(,)?) => {
        on_every_backend!(@backend mysql, MysqlHarness, $($check),*);
        on_every_backend!(@backend postgres, PostgresHarness, $($check),*);
        on_every_backend!(@backend sqlite, SqliteHarness, $($check),*);
        on_every_backend!(@backend dynamodb, DynamoHarness, $($check),*);
    };
    (@backend $backend:ident, $harness:ident, $($check:ident),*) => {
        mod $backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let harness = $harness::new(stringify!($check)).await;
                    on_fresh(harness, |h| Box::pin(super::$check(h))).await;
                }
            )*
        }
    };
}

on_every_backend!(
    creates_from_nothing,
    migrates_an_older_table,
    applies_the_schedule_rules,
    finds_ids_at_the_exact_bounds,
    awkward_ids_round_trip,
    concurrent_first_calls_create_the_table_once,
    reminders_are_claimed_once,
    expired_leases_are_claimed_again,
    reminders_follow_and_cancel,
    concurrent_ledger_claims_claim_each_id_once,
);
