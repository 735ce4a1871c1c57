//! `NativeWebhookSdk`: the class behind the JS `WebhookSDK`. JSON crosses the boundary as text:
//! V8's `JSON.parse` on the JS side builds objects far faster than setting properties one napi
//! call at a time.

use std::sync::Arc;

use async_trait::async_trait;
use eka_webhook_core::error::CoreError;
use eka_webhook_core::events::{AppointmentContext, WebhookEvent};
use eka_webhook_core::logger;
use eka_webhook_core::envelope::Envelope;
use eka_webhook_core::pipeline::{EventSink, WebhookResult, INVALID_JSON_BODY};
use eka_webhook_core::reminders::ReminderSink;
use eka_webhook_core::sdk::WebhookSdk;
use eka_webhook_core::server::StandaloneServer;
use napi::bindgen_prelude::{BufferSlice, Either, FromNapiValue, PromiseRaw, Unknown};
use napi::Env;
use napi_derive::napi;
use serde_json::{json, Value};

use crate::callback::{JsCallback, JsCallbackFn};
use crate::errors::to_js_error;
use crate::js_text::JsText;

/// An event the standalone server hands to `onEvent`; the glue turns it into a `WebhookEvent`.
#[napi(object)]
pub struct NativeWebhookEvent {
    #[napi(js_name = "type")]
    pub event_type: String,
    pub payload_json: String,
    /// `{appointmentDetails, patientDetails?, doctorDetails?, clinicDetails?}` for appointment events.
    pub context_json: Option<String>,
}

/// The result of `handle` on every path. Failures have `error` (the body is `{error}`);
/// successes `eventType` and, for enriched events, `contextJson` (the body is
/// `{success: true, event: eventType, ...context}`).
#[napi(object)]
pub struct NativeWebhookResult {
    pub status: u32,
    pub error: Option<String>,
    pub event_type: Option<String>,
    pub context_json: Option<String>,
}

fn to_native_result(result: WebhookResult) -> NativeWebhookResult {
    let (event_type, context_json) = match result.event {
        Some(event) => (Some(event.event_type), event.context.as_deref().map(context_json)),
        None => (None, None),
    };
    NativeWebhookResult { status: u32::from(result.status), error: result.error, event_type, context_json }
}

/// A fired reminder as handed to JS: the fresh context, or why it could not be fetched.
#[napi(object)]
pub struct NativeReminderFire {
    pub id: String,
    /// When the scheduler fired it, epoch milliseconds.
    pub fired_at_ms: f64,
    pub context_json: Option<String>,
    pub error: Option<String>,
}

#[napi(object)]
pub struct NativeReminder {
    pub id: String,
    /// Epoch milliseconds.
    pub next_run_ms: f64,
}

fn context_json(ctx: &AppointmentContext) -> String {
    let mut object = json!({ "appointmentDetails": ctx.appointment_details });
    for (key, value) in [
        ("patientDetails", &ctx.patient_details),
        ("doctorDetails", &ctx.doctor_details),
        ("clinicDetails", &ctx.clinic_details),
    ] {
        if let Some(v) = value {
            object[key] = v.clone();
        }
    }
    object.to_string()
}

/// The reminder callbacks as the scheduler sees them: one JS dispatcher that looks up the
/// reminder's own callback by id (one bridge per SDK, not one per reminder).
struct JsReminderSink(JsCallback<NativeReminderFire>);

#[async_trait]
impl ReminderSink for JsReminderSink {
    async fn fire(&self, reminder_id: &str, fired_at_ms: i64, outcome: Result<AppointmentContext, String>) {
        let (context_json, error) = match &outcome {
            Ok(ctx) => (Some(context_json(ctx)), None),
            Err(message) => (None, Some(message.clone())),
        };
        let fire = NativeReminderFire { id: reminder_id.to_string(), fired_at_ms: fired_at_ms as f64, context_json, error };
        if let Err(message) = self.0.call(fire).await {
            logger::error(&format!("WebhookSDK: reminder callback {reminder_id} failed: {message}"));
        }
    }
}

/// `onEvent` as the standalone server calls it (the JS doors call it from the glue).
struct JsEventSink(JsCallback<NativeWebhookEvent>);

#[async_trait]
impl EventSink for JsEventSink {
    async fn deliver(&self, event: &WebhookEvent, payload_json: &str) -> Result<(), String> {
        let context_json = event.context.as_deref().map(context_json);
        let event = NativeWebhookEvent { event_type: event.event_type.clone(), payload_json: payload_json.to_string(), context_json };
        self.0.call(event).await
    }
}

#[napi]
pub struct NativeWebhookSdk {
    core: Arc<WebhookSdk>,
    on_event: Option<Arc<JsEventSink>>,
    on_reminder: Arc<JsReminderSink>,
}

#[napi]
impl NativeWebhookSdk {
    /// `options` is the user's config without its callbacks; `onServerEvent` wraps `onEvent` for the
    /// standalone server (the JS doors call `onEvent` from the glue).
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "options: Record<string, unknown>, onServerEvent: ((event: NativeWebhookEvent) => Promise<string | null>) | undefined | null, onReminder: (fire: NativeReminderFire) => Promise<string | null>"
    )]
    pub fn new(
        options: Unknown<'_>,
        on_event: Option<JsCallbackFn<NativeWebhookEvent>>,
        on_reminder: JsCallbackFn<NativeReminderFire>,
    ) -> napi::Result<Self> {
        // Converted here rather than as a `Value` parameter, whose error would carry no code.
        let options = Value::from_unknown(options).map_err(|e| {
            let reason = format!("WebhookSDK: the config must hold only plain data ({})", e.reason);
            to_js_error(CoreError::InvalidConfig(reason))
        })?;
        let config = eka_webhook_core::config::SdkConfig::from_options(&options).map_err(to_js_error)?;
        let on_event = on_event.map(|f| Arc::new(JsEventSink(JsCallback::new(f))));
        let on_reminder = Arc::new(JsReminderSink(JsCallback::new(on_reminder)));
        let event_sink = on_event.clone().map(|s| s as Arc<dyn EventSink>);
        let core = WebhookSdk::new(config, event_sink, Some(on_reminder.clone())).map_err(to_js_error)?;
        Ok(Self { core: Arc::new(core), on_event, on_reminder })
    }

    /// `atEpochMs`: the instant the glue made of the Date or cron string, and checked.
    #[napi(catch_unwind)]
    pub fn schedule_reminder(
        &self,
        at_epoch_ms: i64,
        appointment_id: String,
    ) -> napi::Result<NativeReminder> {
        let reminder = napi::bindgen_prelude::within_runtime_if_available(|| {
            self.core.schedule_reminder(at_epoch_ms, &appointment_id)
        })
        .map_err(to_js_error)?;
        Ok(NativeReminder { id: reminder.id, next_run_ms: reminder.fire_at_ms as f64 })
    }

    /// True when the reminder was pending (it will now not fire).
    #[napi(catch_unwind)]
    pub fn cancel_reminder(&self, id: String) -> bool {
        self.core.cancel_reminder(&id)
    }

    /// A request from a JS door, which parsed the body with `JSON.parse` and read the
    /// envelope fields from the parsed payload. `body` is the text to verify, as received (a
    /// Buffer is borrowed, not copied) or `JSON.stringify` output. The result is returned at
    /// once, or as a promise when the event is enriched from the Eka Care API.
    #[napi(catch_unwind, ts_return_type = "NativeWebhookResult | Promise<NativeWebhookResult>")]
    pub fn handle<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "string | Buffer")] body: Either<JsText, BufferSlice>,
        event: Option<String>,
        appointment_id: Option<String>,
        p_aid: Option<String>,
        #[napi(ts_arg_type = "string | undefined | null")] signature_header: Option<JsText>,
    ) -> napi::Result<Either<NativeWebhookResult, PromiseRaw<'env, NativeWebhookResult>>> {
        if self.core.is_closed() {
            return Err(to_js_error(CoreError::Closed("WebhookSDK: this instance was closed".into())));
        }
        let bytes = match &body {
            // V8 writes a string as UTF-8 (a lone surrogate as U+FFFD).
            Either::A(text) => text.as_bytes(),
            // A Buffer that is not UTF-8 is not the text JSON.parse read (it decoded it lossily).
            Either::B(buffer) if std::str::from_utf8(buffer).is_err() => {
                return Ok(Either::A(to_native_result(WebhookResult::failure(400, INVALID_JSON_BODY))));
            }
            Either::B(buffer) => &buffer[..],
        };
        let envelope = Envelope { event, appointment_id, p_aid };
        let pipeline = self.core.pipeline();
        let header = signature_header.as_ref().map(JsText::as_str);
        // The canonical form is the glue's to compute (JSON.stringify), on an invalid signature.
        let accepted = match pipeline.accept(bytes, || None, envelope, header) {
            Ok(accepted) => accepted,
            Err(rejection) => return Ok(Either::A(to_native_result(rejection.into()))),
        };
        if !accepted.is_enriched() {
            let event = WebhookEvent { event_type: accepted.event_type, context: None };
            return Ok(Either::A(to_native_result(WebhookResult::success(event))));
        }
        let pipeline = pipeline.clone();
        let promise = env.spawn_future(async move { Ok(to_native_result(pipeline.complete(accepted).await)) })?;
        Ok(Either::B(promise))
    }

    /// Binds synchronously on all IPv4 interfaces; `port` 0 picks a free port.
    #[napi(catch_unwind)]
    pub fn listen(&self, port: u16) -> napi::Result<NativeServer> {
        let server = napi::bindgen_prelude::within_runtime_if_available(|| self.core.listen(port)).map_err(to_js_error)?;
        Ok(NativeServer { server })
    }

    /// Resolves to the JSON text of `{appointments, followupAppointments}`.
    #[napi]
    /// `startTime`, `endTime`: epoch seconds, checked as safe integers by the glue.
    pub async fn find_appointments_between(
        &self,
        start_time: i64,
        end_time: i64,
    ) -> napi::Result<String> {
        let found = self.core.find_appointments_between(start_time, end_time).await;
        let found = found.map_err(to_js_error)?;
        Ok(json!({ "appointments": found.appointments, "followupAppointments": found.followup_appointments }).to_string())
    }

    #[napi]
    pub async fn reminder_sent(&self, appointment_id: String) -> napi::Result<()> {
        self.core.reminder_sent(&appointment_id).await.map_err(to_js_error)
    }

    /// Resolves to the JSON text of the appointment.
    #[napi]
    pub async fn get_appointment_details(&self, id: String, partner_id: Option<String>) -> napi::Result<String> {
        let details = self.core.get_appointment_details(&id, partner_id.as_deref()).await.map_err(to_js_error)?;
        Ok(details.to_string())
    }

    #[napi]
    pub async fn get_patient_details(&self, id: String) -> napi::Result<String> {
        Ok(self.core.get_patient_details(&id).await.map_err(to_js_error)?.to_string())
    }

    #[napi]
    pub async fn get_doctor_details(&self, id: String) -> napi::Result<String> {
        Ok(self.core.get_doctor_details(&id).await.map_err(to_js_error)?.to_string())
    }

    #[napi]
    pub async fn get_clinic_details(&self, id: String) -> napi::Result<String> {
        Ok(self.core.get_clinic_details(&id).await.map_err(to_js_error)?.to_string())
    }

    /// Stops everything the instance started and drops its JS callbacks. Idempotent.
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        self.core.close().await;
        if let Some(sink) = &self.on_event {
            sink.0.release();
        }
        self.on_reminder.0.release();
        Ok(())
    }
}

#[napi]
pub struct NativeServer {
    server: Arc<StandaloneServer>,
}

#[napi]
impl NativeServer {
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        u32::from(self.server.port())
    }

    /// Stops accepting and resolves when requests in flight have finished. Idempotent.
    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        self.server.close().await;
        Ok(())
    }
}
