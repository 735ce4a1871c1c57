//! The schedule rules shared by every backend (which webhook writes what), the lazy
//! `ensure_table`, and the enriched range query.

use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt, Shared};
use futures::stream::{self, StreamExt};
use serde_json::Value;

use super::{PersistenceError, ScheduleRecord, ScheduleStore};
use crate::api_client::EkaApiClient;
use crate::events::{WebhookEvent, APPOINTMENT_CREATED, APPOINTMENT_UPDATED};
use crate::logger;

/// How many appointment fetches `find_appointments_between` keeps in flight.
pub const FIND_CONCURRENCY: usize = 16;

/// A store plus its lazy initialisation: `ensure_table` runs once, even under concurrent first
/// calls; a failure is not cached, so the next call retries.
pub struct Schedule {
    store: Arc<dyn ScheduleStore>,
    ready: std::sync::Mutex<Readiness>,
}

/// One `ensure_table` attempt, awaited by every caller that arrives while it runs.
type Attempt = Shared<BoxFuture<'static, Result<(), PersistenceError>>>;

enum Readiness {
    NotReady,
    /// Callers join the attempt in flight rather than queue behind it and each retry in turn:
    /// with the database down, N concurrent webhooks then wait one connect timeout, not N.
    InFlight(Attempt),
    Ready,
}

/// The result of the range query: full appointment details, split like the Python SDK.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppointmentsBetween {
    pub appointments: Vec<Value>,
    pub followup_appointments: Vec<Value>,
}

impl Schedule {
    pub fn new(store: Arc<dyn ScheduleStore>) -> Self {
        Self { store, ready: std::sync::Mutex::new(Readiness::NotReady) }
    }

    pub fn store(&self) -> &Arc<dyn ScheduleStore> {
        &self.store
    }

    pub async fn ensure_ready(&self) -> Result<(), PersistenceError> {
        let attempt = {
            let mut state = self.ready.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match &*state {
                Readiness::Ready => return Ok(()),
                Readiness::InFlight(attempt) => attempt.clone(),
                Readiness::NotReady => {
                    let store = self.store.clone();
                    let attempt = async move { store.ensure_table().await }.boxed().shared();
                    *state = Readiness::InFlight(attempt.clone());
                    attempt
                }
            }
        };
        let result = attempt.clone().await;
        let mut state = self.ready.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Only the attempt still on record decides: a later one may already be running.
        if matches!(&*state, Readiness::InFlight(current) if current.ptr_eq(&attempt)) {
            *state = if result.is_ok() { Readiness::Ready } else { Readiness::NotReady };
        }
        result
    }

    /// Applies the schedule rules for an enriched event. Never fails: persistence is auxiliary,
    /// so errors are logged (with `debug`) and the webhook's status is unaffected.
    pub async fn apply_event(&self, event: &WebhookEvent, payload_p_aid: Option<&str>) {
        let Some(context) = &event.context else { return };
        let details = &context.appointment_details;
        // Python: `if not details: return`, so an empty object is skipped too (before p_aid).
        if details.as_object().is_none_or(|o| o.is_empty()) {
            return;
        }
        if let Err(err) = self.ensure_ready().await {
            logger::error(&format!("WebhookSDK: failed to initialize persistence table: {err}"));
            return;
        }
        if let Err(err) = self.apply_rules(&event.event_type, details, payload_p_aid).await {
            logger::error(&format!("WebhookSDK: persistence error for {}: {err}", event.event_type));
        }
    }

    async fn apply_rules(&self, event_type: &str, details: &Value, p_aid: Option<&str>) -> Result<(), PersistenceError> {
        let text = |field: &str| details.get(field).and_then(Value::as_str).unwrap_or("");
        match event_type {
            APPOINTMENT_CREATED => {
                let p_aid = p_aid.filter(|p| !p.is_empty());
                // A p_aid means this appointment reschedules an earlier one: retire that row.
                if let Some(previous) = p_aid {
                    if let Err(err) = self.store.update_status(previous, "RES").await {
                        logger::error(&format!(
                            "WebhookSDK: failed to mark previous appointment p_aid={previous} as RES: {err}"
                        ));
                    }
                }
                if !should_schedule_on_create(text("status"), text("visit_type")) {
                    return Ok(());
                }
                let Some(mut record) = schedule_record_from(details) else {
                    logger::warn(
                        "WebhookSDK: appointment.created qualified for scheduling but appointment_details is missing required fields; skipping insert",
                    );
                    return Ok(());
                };
                record.p_aid = p_aid.map(str::to_string);
                self.store.upsert(&record).await
            }
            APPOINTMENT_UPDATED => {
                let status = text("status");
                if status.is_empty() {
                    logger::warn("WebhookSDK: appointment.updated missing status; skipping update");
                    return Ok(());
                }
                let appointment_id = text("appointment_id");
                if appointment_id.is_empty() {
                    logger::warn("WebhookSDK: appointment.updated missing appointment_id; skipping update");
                    return Ok(());
                }
                if !self.store.update_status(appointment_id, status).await? {
                    logger::warn(&format!(
                        "WebhookSDK: no schedule row for appointment {appointment_id}; status update skipped"
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Sets `reminder_sent_at = now`; no row is a no-op with a warning.
    pub async fn reminder_sent(&self, appointment_id: &str, now: i64) -> Result<(), PersistenceError> {
        self.ensure_ready().await?;
        if !self.store.mark_reminder_sent(appointment_id, now).await? {
            logger::warn(&format!(
                "WebhookSDK: no schedule row for appointment {appointment_id}; reminder_sent ignored"
            ));
        }
        Ok(())
    }

    /// Ids in the inclusive window, each enriched with its appointment details (at most
    /// `FIND_CONCURRENCY` fetches in flight); ids whose fetch fails are dropped; order is the
    /// store's order.
    pub async fn find_appointments_between(
        &self,
        api: &EkaApiClient,
        start_time: i64,
        end_time: i64,
    ) -> Result<AppointmentsBetween, PersistenceError> {
        self.ensure_ready().await?;
        let ids = self.store.find_appointment_ids_between(start_time, end_time).await?;
        // One stream over both lists keeps the cap global rather than per list.
        let normal = ids.appointments.into_iter().map(|id| (true, id));
        let followup = ids.followup_appointments.into_iter().map(|id| (false, id));
        let results = stream::iter(normal.chain(followup))
            .map(|(is_normal, id)| async move {
                match api.get_appointment_details(&id, None).await {
                    Ok(details) => Some((is_normal, details)),
                    Err(err) => {
                        logger::error(&format!("WebhookSDK: failed to fetch appointment details for {id}: {err}"));
                        None
                    }
                }
            })
            .buffered(FIND_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        let mut out = AppointmentsBetween::default();
        for (is_normal, details) in results.into_iter().flatten() {
            if is_normal {
                out.appointments.push(details);
            } else {
                out.followup_appointments.push(details);
            }
        }
        Ok(out)
    }

    pub async fn close(&self) {
        self.store.close().await;
    }
}

fn should_schedule_on_create(status: &str, visit_type: &str) -> bool {
    status == "BK" || (status == "IN" && visit_type == "FLW")
}

/// The row for an appointment, when its details carry every field (times as integers).
fn schedule_record_from(details: &Value) -> Option<ScheduleRecord> {
    let text = |f: &str| details.get(f).and_then(Value::as_str).map(str::to_string);
    let int = |f: &str| details.get(f).and_then(Value::as_i64);
    Some(ScheduleRecord {
        appointment_id: text("appointment_id").filter(|s| !s.is_empty())?,
        start_time: int("start_time")?,
        end_time: int("end_time")?,
        status: text("status")?,
        visit_type: text("visit_type")?,
        p_aid: None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scheduling_rule() {
        assert!(should_schedule_on_create("BK", ""));
        assert!(should_schedule_on_create("IN", "FLW"));
        assert!(!should_schedule_on_create("IN", "NEW"));
        assert!(!should_schedule_on_create("CND", "FLW"));
    }

    #[test]
    fn record_needs_integer_times_and_string_fields() {
        let full = json!({"appointment_id":"a","start_time":10,"end_time":20,"status":"BK","visit_type":"NEW"});
        assert_eq!(schedule_record_from(&full).unwrap().start_time, 10);
        let mut float_time = full.clone();
        float_time["start_time"] = json!(10.5);
        assert!(schedule_record_from(&float_time).is_none());
        let mut no_visit = full.clone();
        no_visit.as_object_mut().unwrap().remove("visit_type");
        assert!(schedule_record_from(&no_visit).is_none());
    }
}
