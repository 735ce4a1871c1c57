//! Shared by the integration-test binaries; each uses a part of it.
#![allow(dead_code, unused_imports)]

mod dynamo;
pub mod moto;
mod sql;

pub use dynamo::*;
pub use sql::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use eka_webhook_core::events::{AppointmentContext, WebhookEvent};
use eka_webhook_core::persistence::ledger::{Claim, ClaimWindow, DeliveryStore};
use eka_webhook_core::persistence::{
    AppointmentIdsBetween, PersistenceError, ScheduleRecord, ScheduleStore,
};
use serde_json::json;

/// A row of 15 minutes from `start`, without a p_aid.
pub fn record(id: &str, start: i64, status: &str, visit_type: &str) -> ScheduleRecord {
    ScheduleRecord {
        appointment_id: id.into(),
        start_time: start,
        end_time: start + 900,
        status: status.into(),
        visit_type: visit_type.into(),
        p_aid: None,
    }
}

/// An enriched webhook whose appointment details describe that row.
pub fn event(
    event_type: &str,
    id: &str,
    start: i64,
    status: &str,
    visit_type: &str,
) -> WebhookEvent {
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

pub fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The `appointments` (not the follow-ups) that `store` finds starting from `start` to `end`.
pub async fn appointments_between(store: &dyn ScheduleStore, start: i64, end: i64) -> Vec<String> {
    let found = store.find_appointment_ids_between(start, end).await;
    found.unwrap().appointments
}

/// Delegates to a real store and counts `ensure_table` calls.
pub struct CountingStore {
    inner: Arc<dyn ScheduleStore>,
    pub ensure_calls: AtomicUsize,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ScheduleStore>) -> Self {
        Self {
            inner,
            ensure_calls: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl DeliveryStore for CountingStore {
    async fn claim(
        &self,
        id: &str,
        event: &str,
        window: ClaimWindow,
    ) -> Result<Claim, PersistenceError> {
        self.inner.claim(id, event, window).await
    }
    async fn finish(&self, id: &str) -> Result<(), PersistenceError> {
        self.inner.finish(id).await
    }
    async fn release(&self, id: &str) -> Result<(), PersistenceError> {
        self.inner.release(id).await
    }
    async fn purge(&self, before: i64) -> Result<(), PersistenceError> {
        self.inner.purge(before).await
    }
}

#[async_trait]
impl ScheduleStore for CountingStore {
    async fn ensure_table(&self) -> Result<(), PersistenceError> {
        self.ensure_calls.fetch_add(1, Ordering::SeqCst);
        self.inner.ensure_table().await
    }
    async fn upsert(&self, record: &ScheduleRecord) -> Result<(), PersistenceError> {
        self.inner.upsert(record).await
    }
    async fn update_status(&self, id: &str, status: &str) -> Result<bool, PersistenceError> {
        self.inner.update_status(id, status).await
    }
    async fn mark_reminder_sent(&self, id: &str, now: i64) -> Result<bool, PersistenceError> {
        self.inner.mark_reminder_sent(id, now).await
    }
    async fn find_appointment_ids_between(
        &self,
        s: i64,
        e: i64,
    ) -> Result<AppointmentIdsBetween, PersistenceError> {
        self.inner.find_appointment_ids_between(s, e).await
    }
    async fn close(&self) {
        self.inner.close().await
    }
}
