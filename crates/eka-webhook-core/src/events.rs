//! Event names and the enriched event handed to users.

use serde_json::Value;

pub const APPOINTMENT_CREATED: &str = "appointment.created";
pub const APPOINTMENT_UPDATED: &str = "appointment.updated";

pub const SUPPORTED_EVENTS: [&str; 4] = [
    APPOINTMENT_CREATED,
    APPOINTMENT_UPDATED,
    "prescription.created",
    "prescription.updated",
];

/// The events that are enriched from the Eka Care API. (The Python SDK 0.1.4 lists the
/// prescription events here too, contradicting its README; we follow the README.)
pub const APPOINTMENT_EVENTS: [&str; 2] = [APPOINTMENT_CREATED, APPOINTMENT_UPDATED];

pub fn is_appointment_event(event: &str) -> bool {
    APPOINTMENT_EVENTS.contains(&event)
}

/// Appointment, patient, doctor and clinic details for one appointment. The patient, doctor and
/// clinic are best effort: a failed fetch leaves them `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppointmentContext {
    pub appointment_details: Value,
    pub patient_details: Option<Value>,
    pub doctor_details: Option<Value>,
    pub clinic_details: Option<Value>,
}

/// A verified, validated (and for appointment events, enriched) webhook event. Its payload stays
/// with the door that parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    pub event_type: String,
    /// Boxed: it is large, and most events (and every failure) carry none.
    pub context: Option<Box<AppointmentContext>>,
}
