//! Shared by the integration-test binaries; each uses a part of it.
#![allow(dead_code, unused_imports)]

pub mod moto;
mod dynamo;
mod sql;

pub use dynamo::*;
pub use sql::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use eka_webhook_core::persistence::{AppointmentIdsBetween, PersistenceError, ScheduleRecord, ScheduleStore};

/// Delegates to a real store and counts `ensure_table` calls.
pub struct CountingStore {
    inner: Arc<dyn ScheduleStore>,
    pub ensure_calls: AtomicUsize,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ScheduleStore>) -> Self {
        Self { inner, ensure_calls: AtomicUsize::new(0) }
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
    async fn find_appointment_ids_between(&self, s: i64, e: i64) -> Result<AppointmentIdsBetween, PersistenceError> {
        self.inner.find_appointment_ids_between(s, e).await
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

