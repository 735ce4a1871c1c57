//! The schedule rules shared by every backend (which webhook writes what), the lazy
//! `ensure_table`, and the enriched range query.

use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt};
use serde_json::Value;

use super::readiness::Readiness;
use super::write_queue::{is_transient, ScheduleWrite, WriteQueue, WriteTarget};
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
    ready: Readiness,
    write_queue: Arc<WriteQueue>,
}

/// The result of the range query: full appointment details, split like the Python SDK.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppointmentsBetween {
    pub appointments: Vec<Value>,
    pub followup_appointments: Vec<Value>,
}

impl Schedule {
    pub fn new(store: Arc<dyn ScheduleStore>) -> Self {
        Self {
            store,
            ready: Readiness::default(),
            write_queue: Arc::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn ScheduleStore> {
        &self.store
    }

    /// Writes waiting in the retry queue for the database to come back.
    pub fn write_queue_depth(&self) -> usize {
        self.write_queue.len()
    }

    pub async fn ensure_ready(&self) -> Result<(), PersistenceError> {
        let store = self.store.clone();
        self.ready
            .ensure(move || async move { store.ensure_table().await }.boxed())
            .await
    }

    /// Applies the schedule rules for an enriched event. Never fails: persistence is auxiliary,
    /// so the webhook's status is unaffected. Writes that fail because the database is away wait
    /// in the retry queue (in order, behind any already waiting); other failures are logged.
    pub async fn apply_event(self: &Arc<Self>, event: &WebhookEvent, payload_p_aid: Option<&str>) {
        let Some(context) = &event.context else {
            return;
        };
        let writes = plan_writes(
            &event.event_type,
            &context.appointment_details,
            payload_p_aid,
        );
        if writes.is_empty() {
            // The table is made on the first appointment webhook even when it writes no row, as
            // the Python SDK does (a CND appointment.created, say).
            if let Err(err) = self.ensure_ready().await {
                logger::error(&format!(
                    "WebhookSDK: persistence error for {}: {err}",
                    event.event_type
                ));
            }
            return;
        }
        if !self.write_queue.is_empty() {
            self.write_queue.push(writes, self.as_write_target());
            return;
        }
        let mut writes = writes.into_iter();
        while let Some(write) = writes.next() {
            match self.apply_write(&write).await {
                Ok(()) => {}
                Err(err) if is_transient(&err) => {
                    logger::error(&format!(
                        "WebhookSDK: persistence error for {}, will retry: {err}",
                        event.event_type
                    ));
                    let rest = std::iter::once(write).chain(writes);
                    self.write_queue.push(rest, self.as_write_target());
                    return;
                }
                Err(err) => logger::error(&format!(
                    "WebhookSDK: persistence error for {}: {err}",
                    event.event_type
                )),
            }
        }
    }

    fn as_write_target(self: &Arc<Self>) -> std::sync::Weak<dyn WriteTarget> {
        Arc::downgrade(self) as std::sync::Weak<dyn WriteTarget>
    }

    /// One write, creating the table first if that has not happened yet.
    async fn apply_write(&self, write: &ScheduleWrite) -> Result<(), PersistenceError> {
        self.ensure_ready().await?;
        match write {
            ScheduleWrite::Upsert(record) => self.store.upsert(record).await,
            ScheduleWrite::SetStatus {
                appointment_id,
                status,
            } => {
                let found = self.store.update_status(appointment_id, status).await?;
                warn_unless_found(
                    found,
                    appointment_id,
                    &format!("status {status} not recorded"),
                );
                Ok(())
            }
        }
    }

    /// Sets `reminder_sent_at = now`; no row is a no-op with a warning.
    pub async fn reminder_sent(
        &self,
        appointment_id: &str,
        now: i64,
    ) -> Result<(), PersistenceError> {
        self.ensure_ready().await?;
        let found = self.store.mark_reminder_sent(appointment_id, now).await?;
        warn_unless_found(found, appointment_id, "reminder_sent ignored");
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
        let ids = self
            .store
            .find_appointment_ids_between(start_time, end_time)
            .await?;
        // One stream over both lists keeps the cap global rather than per list.
        let normal = ids.appointments.into_iter().map(|id| (true, id));
        let followup = ids.followup_appointments.into_iter().map(|id| (false, id));
        let results = stream::iter(normal.chain(followup))
            .map(|(is_normal, id)| async move {
                match api.get_appointment_details(&id, None).await {
                    Ok(details) => Some((is_normal, details)),
                    Err(err) => {
                        logger::error(&format!(
                            "WebhookSDK: failed to fetch appointment details for {id}: {err}"
                        ));
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

    /// Gives queued writes up to `flush_deadline` to reach the database, then closes the store.
    pub async fn close(&self, flush_deadline: std::time::Duration) {
        let lost = self.write_queue.flush(flush_deadline).await;
        if lost > 0 {
            logger::error(&format!(
                "WebhookSDK: closing with {lost} schedule write(s) not yet stored; they are lost"
            ));
        }
        self.store.close().await;
    }
}

impl WriteTarget for Schedule {
    fn apply_write<'a>(
        &'a self,
        write: &'a ScheduleWrite,
    ) -> BoxFuture<'a, Result<(), PersistenceError>> {
        Schedule::apply_write(self, write).boxed()
    }
}

/// What an enriched event changes in the table, in order (the Python SDK's rules).
fn plan_writes(event_type: &str, details: &Value, p_aid: Option<&str>) -> Vec<ScheduleWrite> {
    // Python: `if not details: return`, so an empty object is skipped too (before p_aid).
    if details.as_object().is_none_or(|o| o.is_empty()) {
        return Vec::new();
    }
    let text = |field: &str| details.get(field).and_then(Value::as_str).unwrap_or("");
    let mut writes = Vec::new();
    match event_type {
        APPOINTMENT_CREATED => {
            let p_aid = p_aid.filter(|p| !p.is_empty());
            // A p_aid means this appointment reschedules an earlier one: retire that row.
            if let Some(previous) = p_aid {
                writes.push(ScheduleWrite::SetStatus {
                    appointment_id: previous.to_string(),
                    status: "RES".into(),
                });
            }
            if should_schedule_on_create(text("status"), text("visit_type")) {
                match schedule_record_from(details) {
                    Some(record) => writes.push(ScheduleWrite::Upsert(ScheduleRecord { p_aid: p_aid.map(str::to_string), ..record })),
                    None => logger::warn(
                        "WebhookSDK: appointment.created qualified for scheduling but appointment_details is missing required fields; skipping insert",
                    ),
                }
            }
        }
        APPOINTMENT_UPDATED => {
            let (status, appointment_id) = (text("status"), text("appointment_id"));
            if status.is_empty() {
                logger::warn("WebhookSDK: appointment.updated missing status; skipping update");
            } else if appointment_id.is_empty() {
                logger::warn(
                    "WebhookSDK: appointment.updated missing appointment_id; skipping update",
                );
            } else {
                writes.push(ScheduleWrite::SetStatus {
                    appointment_id: appointment_id.into(),
                    status: status.into(),
                });
            }
        }
        _ => {}
    }
    writes
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

/// An update that found no row for the appointment is a no-op, with a warning saying what was
/// not done.
fn warn_unless_found(found: bool, appointment_id: &str, not_done: &str) {
    if !found {
        logger::warn(&format!(
            "WebhookSDK: no schedule row for appointment {appointment_id}; {not_done}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn plans_follow_the_python_rules() {
        let bk = json!({"appointment_id":"a","start_time":10,"end_time":20,"status":"BK","visit_type":"NEW"});
        let upsert = |p_aid: Option<&str>| {
            ScheduleWrite::Upsert(ScheduleRecord {
                appointment_id: "a".into(),
                start_time: 10,
                end_time: 20,
                status: "BK".into(),
                visit_type: "NEW".into(),
                p_aid: p_aid.map(str::to_string),
            })
        };
        assert_eq!(
            plan_writes(APPOINTMENT_CREATED, &bk, None),
            vec![upsert(None)]
        );
        assert_eq!(
            plan_writes(APPOINTMENT_CREATED, &bk, Some("old")),
            vec![
                ScheduleWrite::SetStatus {
                    appointment_id: "old".into(),
                    status: "RES".into()
                },
                upsert(Some("old"))
            ]
        );
        let cancelled = json!({"appointment_id":"a","start_time":10,"end_time":20,"status":"CND","visit_type":"NEW"});
        assert_eq!(plan_writes(APPOINTMENT_CREATED, &cancelled, None), vec![]);
        assert_eq!(
            plan_writes(APPOINTMENT_UPDATED, &cancelled, None),
            vec![ScheduleWrite::SetStatus {
                appointment_id: "a".into(),
                status: "CND".into()
            }]
        );
        assert_eq!(
            plan_writes(APPOINTMENT_CREATED, &json!({}), Some("old")),
            vec![],
            "empty details: nothing, not even RES"
        );
        assert_eq!(plan_writes("prescription.created", &bk, None), vec![]);
    }

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
