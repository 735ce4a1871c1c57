//! `NativeWebhookSdk`: the class behind the JS `WebhookSDK`. JSON crosses the boundary as text:
//! V8's `JSON.parse` on the JS side builds objects far faster than setting properties one napi
//! call at a time.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use eka_webhook_core::envelope::Envelope;
use eka_webhook_core::error::CoreError;
use eka_webhook_core::events::{AppointmentContext, WebhookEvent};
use eka_webhook_core::faults::{Fault, FaultSink};
use eka_webhook_core::persistence::reminder_store::ReminderRow;
use eka_webhook_core::pipeline::{
    Admission, EventSink, Pipeline, WebhookResult, INVALID_JSON_BODY,
};
use eka_webhook_core::reminders::durable::{DueAt, DurableFire};
use eka_webhook_core::reminders::{ReminderSink, ScheduledReminder};
use eka_webhook_core::sdk::WebhookSdk;
use eka_webhook_core::server::StandaloneServer;
use eka_webhook_core::signature::INVALID_SIGNATURE;
use eka_webhook_core::telemetry::{delivery_reason, PhaseTimings};
use napi::bindgen_prelude::{BufferSlice, Either, FromNapiValue, PromiseRaw, Unknown};
use napi::Env;
use napi_derive::napi;
use serde_json::{json, Value};

use crate::callback::{JsCallback, JsCallbackFn, JsNotify, JsNotifyFn};
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

/// The result of `handle` on every path. Failures have `error` (the body is `{error}`); a
/// success is for the `event` the call passed (the body is `{success: true, event,
/// ...context}`), with `contextJson` for enriched events. Only what a result has is set:
/// each property costs V8 a map transition, on every request.
#[napi(object)]
pub struct NativeWebhookResult {
    pub status: u32,
    pub error: Option<String>,
    pub context_json: Option<String>,
    /// The phases that ran, in order, when the call asked for them (a traced delivery).
    pub phases: Option<Vec<NativePhase>>,
    /// True when the delivery ledger has it done already (`onEvent` must not run).
    pub duplicate: Option<bool>,
    /// The ledger key this call claimed, when `onEvent` follows: hand it to `finishDelivery`.
    pub claimed_key: Option<String>,
    /// Set when the answer is final (counted already) and the call asked for phases: the
    /// delivery's reason (`ok`, `signature_invalid`, …) for its span.
    pub reason: Option<String>,
}

/// One phase of a delivery, for its telemetry span.
#[napi(object)]
pub struct NativePhase {
    /// `verify`, `dedupe`, `enrich`, `persist` or `onEvent`.
    pub name: String,
    /// Milliseconds after the core started the delivery.
    pub start_ms: f64,
    pub duration_ms: f64,
}

/// One Eka Care API request, for the latency histogram.
#[napi(object)]
pub struct NativeApiCall {
    /// `login`, `appointment`, `patient`, `doctor` or `clinic`.
    pub resource: String,
    /// `ok`, `http_4xx`, `http_5xx`, `timeout`, `network` or `invalid_response`.
    pub outcome: String,
    pub duration_ms: f64,
}

/// `handle`'s answer without the pipeline's waiting steps (see [`conclude`]).
fn answer_now<'env>(
    env: &'env Env,
    pipeline: &Pipeline,
    result: WebhookResult,
    claimed: Option<String>,
    timed: bool,
    timings: PhaseTimings,
) -> HandleResult<'env> {
    match conclude(pipeline, result, claimed, timed, timings) {
        Either::A(answer) => Ok(Either::A(answer)),
        Either::B(settling) => Ok(Either::B(
            env.spawn_future(async move { Ok(settling.await) })?,
        )),
    }
}

/// The pipeline's answer as `handle` returns it: as it is when `onEvent` follows (the glue
/// ends the delivery); otherwise counted, with its claim settled — after the returned future
/// while a database records the settle.
fn conclude(
    pipeline: &Pipeline,
    result: WebhookResult,
    claimed: Option<String>,
    timed: bool,
    timings: PhaseTimings,
) -> Either<NativeWebhookResult, impl Future<Output = NativeWebhookResult> + Send + 'static> {
    if pipeline.on_event_follows(&result) {
        return Either::A(to_native_result(result, timed, timings, claimed));
    }
    match pipeline.finish(claimed, &result) {
        None => Either::A(final_result_counted(result, timed, timings)),
        Some(settling) => Either::B(async move {
            settling.await;
            final_result_counted(result, timed, timings)
        }),
    }
}

/// `handle`'s result: at once, or a promise when the pipeline waits.
type HandleResult<'env> =
    napi::Result<Either<NativeWebhookResult, PromiseRaw<'env, NativeWebhookResult>>>;

/// A delivery's final answer: counted here (no claim is left to settle).
fn final_result(
    pipeline: &Pipeline,
    result: WebhookResult,
    timed: bool,
    timings: PhaseTimings,
) -> NativeWebhookResult {
    pipeline.record_delivery(&result);
    final_result_counted(result, timed, timings)
}

/// A final answer already counted: with its reason when the delivery is traced.
fn final_result_counted(
    result: WebhookResult,
    timed: bool,
    timings: PhaseTimings,
) -> NativeWebhookResult {
    let reason = timed.then(|| delivery_reason(&result).to_string());
    NativeWebhookResult {
        reason,
        ..to_native_result(result, timed, timings, None)
    }
}

fn to_native_result(
    result: WebhookResult,
    timed: bool,
    timings: PhaseTimings,
    claimed_key: Option<String>,
) -> NativeWebhookResult {
    let duplicate = result.duplicate.then_some(true);
    let context_json = result
        .event
        .and_then(|event| event.context.as_deref().map(context_json));
    let millis = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let phases = timed.then(|| {
        let phase = |p: &eka_webhook_core::telemetry::PhaseTiming| NativePhase {
            name: p.phase.name().to_string(),
            start_ms: millis(p.start),
            duration_ms: millis(p.duration),
        };
        timings.phases.iter().map(phase).collect()
    });
    let status = u32::from(result.status);
    NativeWebhookResult {
        status,
        error: result.error,
        context_json,
        phases,
        duplicate,
        claimed_key,
        reason: None,
    }
}

/// A fired reminder as handed to JS: the fresh context, or why it could not be fetched.
#[napi(object)]
pub struct NativeReminderFire {
    pub id: String,
    /// When it was due, epoch milliseconds.
    pub scheduled_at_ms: f64,
    /// When the scheduler fired it, epoch milliseconds.
    pub fired_at_ms: f64,
    pub context_json: Option<String>,
    pub error: Option<String>,
    /// A durable reminder's handler name (absent for `scheduleReminder`'s).
    pub name: Option<String>,
    pub appointment_id: Option<String>,
    pub attempt: Option<u32>,
    pub late_by_ms: Option<f64>,
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
    async fn fire(
        &self,
        reminder: &ScheduledReminder,
        fired_at_ms: i64,
        outcome: Result<AppointmentContext, String>,
    ) -> Result<(), String> {
        let (context_json, error) = match &outcome {
            Ok(ctx) => (Some(context_json(ctx)), None),
            Err(message) => (None, Some(message.clone())),
        };
        let fire = NativeReminderFire {
            id: reminder.id.clone(),
            scheduled_at_ms: reminder.fire_at_ms as f64,
            fired_at_ms: fired_at_ms as f64,
            context_json,
            error,
            name: None,
            appointment_id: None,
            attempt: None,
            late_by_ms: None,
        };
        self.0.call(fire).await
    }

    async fn fire_durable(&self, fire: &DurableFire) -> Result<(), String> {
        let native = NativeReminderFire {
            id: fire.id.clone(),
            scheduled_at_ms: fire.due_at as f64,
            fired_at_ms: fire.fired_at as f64,
            context_json: Some(context_json(&fire.context)),
            error: None,
            name: Some(fire.name.clone()),
            appointment_id: Some(fire.appointment_id.clone()),
            attempt: Some(u32::try_from(fire.attempt).unwrap_or(u32::MAX)),
            late_by_ms: Some(fire.late_by_ms as f64),
        };
        self.0.call(native).await
    }
}

/// A durable reminder row as JSON for the glue.
fn reminder_row_json(row: &ReminderRow) -> Value {
    json!({
        "id": row.id,
        "appointmentId": row.appointment_id,
        "name": row.name,
        "dueAtMs": row.due_at,
        "status": row.status,
        "attempt": row.attempt,
        "beforeStart": row.before_start,
        "firedAtMs": row.fired_at,
        "lastError": row.last_error,
    })
}

/// `onEvent` as the standalone server calls it (the JS doors call it from the glue).
struct JsEventSink(JsCallback<NativeWebhookEvent>);

#[async_trait]
impl EventSink for JsEventSink {
    async fn deliver(&self, event: &WebhookEvent, payload_json: &str) -> Result<(), String> {
        let context_json = event.context.as_deref().map(context_json);
        let event = NativeWebhookEvent {
            event_type: event.event_type.clone(),
            payload_json: payload_json.to_string(),
            context_json,
        };
        self.0.call(event).await
    }
}

/// A failure the SDK handled itself (a schedule write dropped, a reminder failed, …), for
/// `onError` and the warnings.
#[napi(object)]
pub struct NativeFault {
    /// The SDK error code of its kind: `ERR_PERSISTENCE` or `ERR_REMINDER`.
    pub code: String,
    /// The precise kind, e.g. `EKA_WRITE_DROPPED` or `EKA_REMINDER_FAILED`.
    pub fault: String,
    pub appointment_id: Option<String>,
    pub message: String,
}

/// The core's fault reports, handed to the glue without waiting for it.
struct JsFaultSink(JsNotify<NativeFault>);

impl FaultSink for JsFaultSink {
    fn report(&self, fault: Fault) {
        self.0.notify(NativeFault {
            code: fault.kind.error_code().to_string(),
            fault: fault.kind.code().to_string(),
            appointment_id: fault.appointment_id,
            message: fault.message,
        });
    }
}

/// What `close()` could not finish.
#[napi(object)]
pub struct NativeCloseReport {
    /// Schedule writes still waiting for the database when `close()` gave up on them: lost.
    pub unflushed_writes: u32,
}

#[napi]
pub struct NativeWebhookSdk {
    core: Arc<WebhookSdk>,
    on_event: Option<Arc<JsEventSink>>,
    on_reminder: Arc<JsReminderSink>,
    on_fault: Arc<JsFaultSink>,
}

#[napi]
impl NativeWebhookSdk {
    /// `options` is the user's config without its callbacks; `onServerEvent` wraps `onEvent` for the
    /// standalone server (the JS doors call `onEvent` from the glue); `onFault` hears of the
    /// failures the SDK handled itself, and must never throw.
    #[napi(
        constructor,
        catch_unwind,
        ts_args_type = "options: Record<string, unknown>, onServerEvent: ((event: NativeWebhookEvent) => Promise<string | null>) | undefined | null, onReminder: (fire: NativeReminderFire) => Promise<string | null>, onFault: (fault: NativeFault) => void"
    )]
    pub fn new(
        options: Unknown<'_>,
        on_event: Option<JsCallbackFn<NativeWebhookEvent>>,
        on_reminder: JsCallbackFn<NativeReminderFire>,
        on_fault: JsNotifyFn<NativeFault>,
    ) -> napi::Result<Self> {
        // Converted here rather than as a `Value` parameter, whose error would carry no code.
        let options = Value::from_unknown(options).map_err(|e| {
            let reason = format!(
                "WebhookSDK: the config must hold only plain data ({})",
                e.reason
            );
            to_js_error(CoreError::InvalidConfig(reason))
        })?;
        let config =
            eka_webhook_core::config::SdkConfig::from_options(&options).map_err(to_js_error)?;
        let on_event = on_event.map(|f| Arc::new(JsEventSink(JsCallback::new(f))));
        let on_reminder = Arc::new(JsReminderSink(JsCallback::new(on_reminder)));
        let on_fault = Arc::new(JsFaultSink(JsNotify::new(on_fault)));
        let event_sink = on_event.clone().map(|s| s as Arc<dyn EventSink>);
        let reminder_sink = Some(on_reminder.clone() as Arc<dyn ReminderSink>);
        let fault_sink = Some(on_fault.clone() as Arc<dyn FaultSink>);
        let core = WebhookSdk::new(config, event_sink, reminder_sink, fault_sink);
        Ok(Self {
            core: Arc::new(core.map_err(to_js_error)?),
            on_event,
            on_reminder,
            on_fault,
        })
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
        Ok(NativeReminder {
            id: reminder.id,
            next_run_ms: reminder.fire_at_ms as f64,
        })
    }

    /// True when the reminder was pending (it will now not fire).
    #[napi(catch_unwind)]
    pub fn cancel_reminder(&self, id: String) -> bool {
        self.core.cancel_reminder(&id)
    }

    /// A request from a JS door, which parsed the body with `JSON.parse` and read the
    /// envelope fields from the parsed payload. `body` is the text to verify, as received (a
    /// Buffer is borrowed, not copied) or `JSON.stringify` output. `canonicalRetry`: the glue
    /// retries an invalid signature with the body's canonical form, so that answer is not the
    /// delivery's last. The result is returned at once, or as a promise when the event is
    /// enriched from the Eka Care API or claimed in a database. A final answer is counted (and
    /// its claim settled) here; after a fresh success with `onEvent` configured, the glue calls
    /// `onEvent`, then `finishDelivery`.
    #[napi(
        catch_unwind,
        ts_return_type = "NativeWebhookResult | Promise<NativeWebhookResult>"
    )]
    // Each field crosses as its own argument: an options object would cost a napi property
    // lookup per field on every request. The return type is spelled out (not `HandleResult`):
    // napi's macro makes an `Err` a throw only for a literal `Result`.
    #[allow(clippy::too_many_arguments)]
    pub fn handle<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "string | Buffer")] body: Either<JsText, BufferSlice>,
        #[napi(ts_arg_type = "string | undefined | null")] event: Option<JsText>,
        #[napi(ts_arg_type = "string | undefined | null")] appointment_id: Option<JsText>,
        #[napi(ts_arg_type = "string | undefined | null")] p_aid: Option<JsText>,
        #[napi(ts_arg_type = "string | undefined | null")] transaction_id: Option<JsText>,
        #[napi(ts_arg_type = "string | undefined | null")] signature_header: Option<JsText>,
        timed: bool,
        canonical_retry: bool,
    ) -> napi::Result<Either<NativeWebhookResult, PromiseRaw<'env, NativeWebhookResult>>> {
        if self.core.is_closed() {
            return Err(to_js_error(CoreError::Closed(
                "WebhookSDK: this instance was closed".into(),
            )));
        }
        let pipeline = self.core.pipeline();
        let mut timings = if timed {
            PhaseTimings::default()
        } else {
            PhaseTimings::off()
        };
        let bytes = match &body {
            // V8 writes a string as UTF-8 (a lone surrogate as U+FFFD).
            Either::A(text) => text.as_bytes(),
            // A Buffer that is not UTF-8 is not the text JSON.parse read (it decoded it lossily).
            Either::B(buffer) if std::str::from_utf8(buffer).is_err() => {
                let result = WebhookResult::failure(400, INVALID_JSON_BODY);
                return Ok(Either::A(final_result(pipeline, result, timed, timings)));
            }
            Either::B(buffer) => &buffer[..],
        };
        let envelope = Envelope {
            event: event.map(JsText::into_string),
            appointment_id: appointment_id.map(JsText::into_string),
            p_aid: p_aid.map(JsText::into_string),
            transaction_id: transaction_id.map(JsText::into_string),
        };
        let header = signature_header.as_ref().map(JsText::as_str);
        // The canonical form is the glue's to compute (JSON.stringify), on an invalid signature.
        let accepted = match pipeline.accept(bytes, || None, envelope, header, &mut timings) {
            Ok(accepted) => accepted,
            Err(rejection) if canonical_retry && rejection.message == INVALID_SIGNATURE => {
                let result = rejection.into();
                return Ok(Either::A(to_native_result(result, timed, timings, None)));
            }
            Err(rejection) => {
                let result = rejection.into();
                return Ok(Either::A(final_result(pipeline, result, timed, timings)));
            }
        };
        let pipeline = pipeline.clone();
        // Nothing to wait for: a ledger answer, or an event with nothing to fetch.
        let admission = match pipeline.admit_now(&accepted, &mut timings) {
            Some(Admission::Answer(answer)) => {
                return answer_now(env, &pipeline, answer, None, timed, timings)
            }
            Some(Admission::Run { claimed }) if !accepted.is_enriched() => {
                let event = WebhookEvent {
                    event_type: accepted.event_type,
                    context: None,
                };
                let success = WebhookResult::success(event);
                return answer_now(env, &pipeline, success, claimed, timed, timings);
            }
            admission => admission,
        };
        let promise = env.spawn_future(async move {
            let admission = match admission {
                Some(admission) => admission,
                None => pipeline.admit(&accepted, &mut timings).await,
            };
            let (result, claimed) = match admission {
                Admission::Run { claimed } => {
                    (pipeline.complete(accepted, &mut timings).await, claimed)
                }
                Admission::Answer(answer) => (answer, None),
            };
            Ok(match conclude(&pipeline, result, claimed, timed, timings) {
                Either::A(answer) => answer,
                Either::B(settling) => settling.await,
            })
        })?;
        Ok(Either::B(promise))
    }

    /// Ends a JS door's delivery after `onEvent` (or an answer the glue gave without `handle`):
    /// counts it and settles its claim (`claimedKey` of `handle`'s result), done on a 200,
    /// released otherwise so the sender's retry runs it again. Returns its reason (`ok`,
    /// `signature_invalid`, …) for the delivery's span; a promise of it while a database
    /// ledger records the settle.
    #[napi(catch_unwind, ts_return_type = "string | Promise<string>")]
    pub fn finish_delivery<'env>(
        &self,
        env: &'env Env,
        claimed_key: Option<String>,
        status: u32,
        error: Option<String>,
    ) -> napi::Result<Either<&'static str, PromiseRaw<'env, &'static str>>> {
        let status = u16::try_from(status).unwrap_or(500);
        let result = match error {
            Some(message) => WebhookResult::failure(status, message),
            None => WebhookResult {
                status,
                body: Value::Null,
                event: None,
                error: None,
                duplicate: false,
            },
        };
        let reason = delivery_reason(&result);
        match self.core.pipeline().finish(claimed_key, &result) {
            None => Ok(Either::A(reason)),
            Some(settling) => {
                let promise = env.spawn_future(async move {
                    settling.await;
                    Ok(reason)
                })?;
                Ok(Either::B(promise))
            }
        }
    }

    /// Counts `count` deliveries that `onEvent` answered 200 with no claim to settle (the glue
    /// hands them over together, rather than one `finishDelivery` each).
    #[napi(catch_unwind)]
    pub fn count_successes(&self, count: u32) {
        self.core.pipeline().record_successes(count.into());
    }

    /// Starts polling for due durable reminders (once; not with `reminders.poll: false`).
    #[napi(catch_unwind)]
    pub fn reminders_start_polling(&self) -> napi::Result<()> {
        napi::bindgen_prelude::within_runtime_if_available(|| self.core.start_reminder_polling())
            .map_err(to_js_error)
    }

    /// Exactly one of `atEpochMs` (checked by the glue) and `beforeStartSeconds`. Resolves to
    /// the row's JSON text.
    #[napi]
    pub async fn reminders_schedule(
        &self,
        appointment_id: String,
        name: String,
        at_epoch_ms: Option<i64>,
        before_start_seconds: Option<i64>,
    ) -> napi::Result<String> {
        let due = match (at_epoch_ms, before_start_seconds) {
            (Some(at), None) => DueAt::At(at),
            (None, Some(seconds)) => DueAt::BeforeStart(seconds),
            _ => {
                let reason = "reminders.schedule: give exactly one of at, cronTime, beforeStart";
                return Err(to_js_error(CoreError::InvalidArgument(reason.into())));
            }
        };
        let row = self
            .core
            .schedule_durable_reminder(&appointment_id, &name, due)
            .await;
        Ok(reminder_row_json(&row.map_err(to_js_error)?).to_string())
    }

    /// Resolves to how many pending reminders were cancelled.
    #[napi]
    pub async fn reminders_cancel(&self, appointment_id: String) -> napi::Result<u32> {
        let reminders = self.core.durable_reminders("cancel").map_err(to_js_error)?;
        let cancelled = reminders
            .cancel(&appointment_id)
            .await
            .map_err(to_js_error)?;
        Ok(u32::try_from(cancelled).unwrap_or(u32::MAX))
    }

    /// Resolves to the JSON text of the rows.
    #[napi]
    pub async fn reminders_list(
        &self,
        appointment_id: Option<String>,
        status: Option<String>,
    ) -> napi::Result<String> {
        let reminders = self.core.durable_reminders("list").map_err(to_js_error)?;
        let rows = reminders
            .list(appointment_id.as_deref(), status.as_deref())
            .await;
        let rows: Vec<Value> = rows
            .map_err(to_js_error)?
            .iter()
            .map(reminder_row_json)
            .collect();
        Ok(Value::Array(rows).to_string())
    }

    /// One pass over what is due, for at most `maxMs`. Resolves to the summary's JSON text.
    #[napi]
    pub async fn reminders_run_due(&self, max_ms: u32) -> napi::Result<String> {
        let max = std::time::Duration::from_millis(u64::from(max_ms));
        let summary = self
            .core
            .run_due_reminders(max)
            .await
            .map_err(to_js_error)?;
        Ok(json!({
            "claimed": summary.claimed,
            "done": summary.done,
            "retried": summary.retried,
            "failed": summary.failed,
            "missed": summary.missed,
            "cancelled": summary.cancelled,
        })
        .to_string())
    }

    /// `{fired, storeCalls, claims}` of this instance's durable reminders.
    #[napi(catch_unwind)]
    pub fn reminders_stats(&self) -> napi::Result<String> {
        use std::sync::atomic::Ordering::Relaxed;
        let reminders = self.core.durable_reminders("stats").map_err(to_js_error)?;
        let stats = &reminders.stats;
        let fired = stats.fired.load(Relaxed);
        let store_calls = stats.store_calls.load(Relaxed);
        let claims = stats.claims.load(Relaxed);
        Ok(json!({ "fired": fired, "storeCalls": store_calls, "claims": claims }).to_string())
    }

    /// The JSON text of every counter (`sdk.stats()`).
    #[napi(catch_unwind)]
    pub fn stats(&self) -> String {
        self.core.stats().to_string()
    }

    /// Starts keeping each Eka Care API request for `takeApiCalls` (OpenTelemetry is in use).
    #[napi(catch_unwind)]
    pub fn keep_api_calls(&self) {
        self.core.telemetry().keep_api_samples();
    }

    /// The API requests made since the last take (at most 10,000 are kept in between).
    #[napi(catch_unwind)]
    pub fn take_api_calls(&self) -> Vec<NativeApiCall> {
        let calls = self.core.telemetry().take_api_samples();
        calls
            .into_iter()
            .map(|c| NativeApiCall {
                resource: c.resource.into(),
                outcome: c.outcome.into(),
                duration_ms: c.duration_ms,
            })
            .collect()
    }

    /// Binds synchronously on all IPv4 interfaces; `port` 0 picks a free port.
    #[napi(catch_unwind)]
    pub fn listen(&self, port: u16) -> napi::Result<NativeServer> {
        let server = napi::bindgen_prelude::within_runtime_if_available(|| self.core.listen(port))
            .map_err(to_js_error)?;
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
        let found = self
            .core
            .find_appointments_between(start_time, end_time)
            .await;
        let found = found.map_err(to_js_error)?;
        Ok(json!({ "appointments": found.appointments, "followupAppointments": found.followup_appointments }).to_string())
    }

    #[napi]
    pub async fn reminder_sent(&self, appointment_id: String) -> napi::Result<()> {
        self.core
            .reminder_sent(&appointment_id)
            .await
            .map_err(to_js_error)
    }

    /// Resolves to the JSON text of the appointment.
    #[napi]
    pub async fn get_appointment_details(
        &self,
        id: String,
        partner_id: Option<String>,
    ) -> napi::Result<String> {
        let details = self
            .core
            .get_appointment_details(&id, partner_id.as_deref())
            .await
            .map_err(to_js_error)?;
        Ok(details.to_string())
    }

    #[napi]
    pub async fn get_patient_details(&self, id: String) -> napi::Result<String> {
        Ok(self
            .core
            .get_patient_details(&id)
            .await
            .map_err(to_js_error)?
            .to_string())
    }

    #[napi]
    pub async fn get_doctor_details(&self, id: String) -> napi::Result<String> {
        Ok(self
            .core
            .get_doctor_details(&id)
            .await
            .map_err(to_js_error)?
            .to_string())
    }

    #[napi]
    pub async fn get_clinic_details(&self, id: String) -> napi::Result<String> {
        Ok(self
            .core
            .get_clinic_details(&id)
            .await
            .map_err(to_js_error)?
            .to_string())
    }

    /// Stops everything the instance started and drops its JS callbacks. Idempotent: every
    /// call resolves to the first one's report.
    #[napi]
    pub async fn close(&self) -> napi::Result<NativeCloseReport> {
        let report = self.core.close().await;
        if let Some(sink) = &self.on_event {
            sink.0.release();
        }
        self.on_reminder.0.release();
        self.on_fault.0.release();
        let unflushed_writes = u32::try_from(report.unflushed_writes).unwrap_or(u32::MAX);
        Ok(NativeCloseReport { unflushed_writes })
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
