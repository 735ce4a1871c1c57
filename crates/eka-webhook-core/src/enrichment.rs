//! Appointment enrichment: the appointment first (its failure is the caller's error), then the
//! patient, doctor and clinic it names, fetched concurrently and best effort.

use serde_json::Value;

use crate::api_client::{ApiError, EkaApiClient};
use crate::events::AppointmentContext;
use crate::logger;

pub async fn enrich_appointment(
    client: &EkaApiClient,
    appointment_id: &str,
    partner_id: Option<&str>,
) -> Result<AppointmentContext, ApiError> {
    let appointment = client
        .get_appointment_details(appointment_id, partner_id)
        .await?;
    let id_of = |field: &str| {
        appointment
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let (patient_details, doctor_details, clinic_details) = tokio::join!(
        best_effort("patient", id_of("patient_id"), |id| client
            .get_patient_details(id)),
        best_effort("doctor", id_of("doctor_id"), |id| client
            .get_doctor_details(id)),
        best_effort("clinic", id_of("clinic_id"), |id| client
            .get_clinic_details(id)),
    );
    Ok(AppointmentContext {
        appointment_details: appointment,
        patient_details,
        doctor_details,
        clinic_details,
    })
}

async fn best_effort<'a, F, Fut>(what: &str, id: Option<&'a str>, fetch: F) -> Option<Value>
where
    F: FnOnce(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<Value, ApiError>>,
{
    let id = id?;
    match fetch(id).await {
        Ok(details) => Some(details),
        Err(err) => {
            logger::error(&format!(
                "WebhookSDK: Failed to fetch {what} details: {id}: {err}"
            ));
            None
        }
    }
}
