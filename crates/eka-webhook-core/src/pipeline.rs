//! One webhook request, end to end: parse → verify → event rules → enrich → persist → `onEvent`
//! → result. Every door (handleRequest, Express, Fetch, the standalone server) comes here.

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::api_client::EkaApiClient;
use crate::canonical_json::{self, JsonValue};
use crate::config::SdkConfig;
use crate::enrichment::enrich_appointment;
use crate::envelope_scan;
use crate::events::{is_appointment_event, AppointmentContext, WebhookEvent, SUPPORTED_EVENTS};
use crate::logger;
use crate::persistence::schedule::Schedule;
use crate::reminders::durable::DurableReminders;
use crate::secret::Secret;
use crate::signature::{self, VerifyFailure, VerifyOptions};
use crate::telemetry::{delivery_reason, Phase, PhaseTimings, OK_REASON};

pub const INVALID_JSON_BODY: &str = "Invalid JSON body";
pub const BODY_REQUIRED: &str = "Request body is required";
pub const BODY_TOO_DEEP: &str = "JSON body is nested too deeply";
pub const MISSING_EVENT: &str = "Missing 'event' field in webhook payload";
pub const MISSING_APPOINTMENT_ID: &str = "Missing 'appointment_id' in webhook payload data";
pub const ON_EVENT_FAILED: &str = "Internal server error while processing webhook event";

/// The request body as a door received it.
#[derive(Debug, Clone, Copy)]
pub enum RequestBody<'a> {
    /// Bytes off the wire (a string, a Buffer, an HTTP body): verified as received first, then
    /// in canonical form.
    Raw(&'a [u8]),
    /// Bytes off the wire whose text V8's `JSON.parse` has already accepted (the JS door parses
    /// a string or Buffer body for the event's payload): treated as `Raw`, but the grammar is
    /// not checked a second time (UTF-8 and the nesting limit still are).
    Parsed(&'a [u8]),
    /// `JSON.stringify` output of a JS object: already canonical, verified as is.
    Canonical(&'a [u8]),
    /// No body at all (`null`, `undefined`, an empty HTTP body).
    Missing,
}

/// What `handleRequest` returns: the HTTP status and JSON body to answer with.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookResult {
    pub status: u16,
    pub body: Value,
    pub event: Option<WebhookEvent>,
    pub error: Option<String>,
}

impl WebhookResult {
    pub fn failure(status: u16, message: impl Into<String>) -> Self {
        Self::failure_with_body(status, message.into(), None)
    }

    fn failure_with_body(status: u16, error: String, public_message: Option<&str>) -> Self {
        let body = json!({ "error": public_message.unwrap_or(&error) });
        Self { status, body, event: None, error: Some(error) }
    }
}

/// What [`Pipeline::handle_now`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Immediate {
    /// The final result: a failure.
    Failed(WebhookResult),
    /// Verified and accepted, nothing to enrich or deliver: status 200 with
    /// [`Immediate::body`]; the event's payload is the request body as passed.
    Accepted { event_type: String },
}

impl Immediate {
    pub fn status(&self) -> u16 {
        match self {
            Immediate::Failed(result) => result.status,
            Immediate::Accepted { .. } => 200,
        }
    }

    pub fn body(&self) -> Value {
        match self {
            Immediate::Failed(result) => result.body.clone(),
            Immediate::Accepted { event_type } => success_body(event_type, None),
        }
    }

    /// Appends [`Immediate::body`] as compact JSON text. An accepted event's body is written
    /// directly: building the `Value` (an ordered map) cost more than the rest of the answer.
    pub fn write_body_json(&self, out: &mut String) {
        match self {
            Immediate::Failed(result) => out.push_str(&result.body.to_string()),
            Immediate::Accepted { event_type } => {
                out.push_str(r#"{"success":true,"event":"#);
                // A string always serialises.
                if let Ok(quoted) = serde_json::to_string(event_type) {
                    out.push_str(&quoted);
                }
                out.push('}');
            }
        }
    }

    /// The [`WebhookResult`] `handle` gives for the same request; `payload` is its body.
    pub fn into_result(self, payload: &[u8]) -> WebhookResult {
        match self {
            Immediate::Failed(result) => result,
            Immediate::Accepted { event_type } => {
                let body = success_body(&event_type, None);
                let accepted = Accepted { event_type, payload, appointment_id: None, p_aid: None };
                WebhookResult { status: 200, body, event: Some(accepted.into_event()), error: None }
            }
        }
    }
}

/// A request that passed parsing, verification and the event rules.
struct Accepted<'a> {
    event_type: String,
    /// The verified body (valid UTF-8: the parse checked it).
    payload: &'a [u8],
    appointment_id: Option<String>,
    p_aid: Option<String>,
}

impl Accepted<'_> {
    fn into_event(self) -> WebhookEvent {
        // The binding parses the text with V8's JSON.parse.
        WebhookEvent { event_type: self.event_type, payload_json: String::from_utf8_lossy(self.payload).into_owned(), context: None }
    }
}

/// The user's `onEvent`, however it is called (a JS function through the binding, a Rust
/// closure in tests). `Err` carries the thrown error's message.
#[async_trait]
pub trait EventSink: Send + Sync {
    async fn deliver(&self, event: &WebhookEvent) -> Result<(), String>;
}

/// A request refused before anything was awaited: its status and error text.
struct Rejection {
    status: u16,
    message: String,
}

impl Rejection {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    fn into_result(self) -> WebhookResult {
        WebhookResult::failure(self.status, self.message)
    }
}

pub struct Pipeline {
    config: Arc<SdkConfig>,
    api: EkaApiClient,
    schedule: Option<Arc<Schedule>>,
    on_event: Option<Arc<dyn EventSink>>,
    reminders: Option<Arc<DurableReminders>>,
}

impl Pipeline {
    /// Lets appointment events re-arm and cancel the durable reminders they concern.
    pub fn with_reminders(mut self, reminders: Option<Arc<DurableReminders>>) -> Self {
        self.reminders = reminders;
        self
    }

    pub fn new(
        config: Arc<SdkConfig>,
        api: EkaApiClient,
        schedule: Option<Arc<Schedule>>,
        on_event: Option<Arc<dyn EventSink>>,
    ) -> Self {
        Self { config, api, schedule, on_event, reminders: None }
    }

    pub async fn handle(&self, body: RequestBody<'_>, signature_header: Option<&str>) -> WebhookResult {
        self.handle_timed(body, signature_header).await.0
    }

    /// [`handle`](Self::handle), with when each phase ran.
    pub async fn handle_timed(
        &self,
        body: RequestBody<'_>,
        signature_header: Option<&str>,
    ) -> (WebhookResult, PhaseTimings) {
        let mut timings = PhaseTimings::default();
        let result = match self.prepare(body, signature_header, &mut timings) {
            Ok(accepted) => self.complete(accepted, &mut timings).await,
            Err(rejection) => rejection.into_result(),
        };
        self.api.telemetry().delivery(result.status, delivery_reason(&result));
        (result, timings)
    }

    /// The whole pipeline when it finishes without waiting for anything: any failure up to the
    /// event rules, and events that are not enriched when there is no `onEvent` (persistence
    /// acts only on enriched events). `None`: use [`handle`](Self::handle), whose result
    /// [`Immediate::into_result`] reproduces exactly. A door on a JS thread answers these
    /// without a thread hop, and an accepted event costs no copy of the body.
    pub fn handle_now(&self, body: RequestBody<'_>, signature_header: Option<&str>) -> Option<Immediate> {
        if self.on_event.is_some() {
            return None;
        }
        let immediate = match self.prepare(body, signature_header, &mut PhaseTimings::default()) {
            Err(rejection) => Immediate::Failed(rejection.into_result()),
            Ok(accepted) if is_appointment_event(&accepted.event_type) => return None,
            Ok(accepted) => Immediate::Accepted { event_type: accepted.event_type },
        };
        let reason = match &immediate {
            Immediate::Failed(result) => delivery_reason(result),
            Immediate::Accepted { .. } => OK_REASON,
        };
        self.api.telemetry().delivery(immediate.status(), reason);
        Some(immediate)
    }

    /// The synchronous steps: parse, verify, event rules. `Err` is the final (failure) result.
    fn prepare<'a>(
        &self,
        body: RequestBody<'a>,
        signature_header: Option<&str>,
        timings: &mut PhaseTimings,
    ) -> Result<Accepted<'a>, Rejection> {
        let (bytes, is_canonical, is_known_json) = match body {
            RequestBody::Raw(b) => (b, false, false),
            RequestBody::Parsed(b) => (b, false, true),
            RequestBody::Canonical(b) => (b, true, true),
            RequestBody::Missing => return Err(Rejection::new(400, BODY_REQUIRED)),
        };
        // Only what the pipeline reads: no tree (the tree is built only if the raw bytes fail
        // to verify and their canonical form is needed).
        let envelope = if is_known_json {
            envelope_scan::read_envelope_of_valid_json(bytes, canonical_json::DEFAULT_MAX_DEPTH)
        } else {
            canonical_json::read_envelope(bytes)
        };
        let envelope = match envelope {
            Ok(envelope) if envelope.is_object => envelope,
            Ok(_) => return Err(Rejection::new(400, BODY_REQUIRED)),
            Err(err) if err.is_too_deep() => return Err(Rejection::new(400, BODY_TOO_DEEP)),
            Err(_) => return Err(Rejection::new(400, INVALID_JSON_BODY)),
        };

        if !self.config.signing_keys.is_empty() {
            let options = VerifyOptions::at_current_time(self.config.signature_tolerance_seconds);
            let keys = &self.config.signing_keys;
            let verified = timings.time(Phase::Verify, || {
                verify_body(bytes, is_canonical, None, signature_header, keys, options)
            });
            if let Err(failure) = verified {
                return Err(Rejection::new(403, failure.reason()));
            }
        }

        let event_type = match envelope.event {
            Some(e) if !e.is_empty() => e,
            _ => return Err(Rejection::new(400, MISSING_EVENT)),
        };
        if !self.is_allowed(&event_type) {
            return Err(Rejection::new(
                400,
                format!(
                    "Event type '{event_type}' is not in the allowed events list. Allowed: {}",
                    python_list(self.allowed_events())
                ),
            ));
        }
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let appointment_id = non_empty(envelope.appointment_id);
        if is_appointment_event(&event_type) && appointment_id.is_none() {
            return Err(Rejection::new(400, MISSING_APPOINTMENT_ID));
        }
        Ok(Accepted { event_type, payload: bytes, appointment_id, p_aid: non_empty(envelope.p_aid) })
    }

    /// The steps that wait: enrichment, persistence, `onEvent`.
    async fn complete(&self, accepted: Accepted<'_>, timings: &mut PhaseTimings) -> WebhookResult {
        let appointment_id = accepted.appointment_id.clone();
        let p_aid = accepted.p_aid.clone();
        let mut event = accepted.into_event();
        if is_appointment_event(&event.event_type) {
            let appointment_id = appointment_id.as_deref().unwrap_or_default();
            // Logins, retries and the four fetches together: a stalled API answers 504 in time
            // for the sender, never a request that hangs on.
            let limit = self.config.webhook_timeout;
            let enriched = enrich_appointment(&self.api, appointment_id, None);
            match tokio::time::timeout(limit, timings.time_async(Phase::Enrich, enriched)).await {
                Ok(Ok(context)) => event.context = Some(Box::new(context)),
                Ok(Err(err)) => {
                    let message = format!("Failed to fetch appointment details: {err}");
                    return WebhookResult::failure(502, message);
                }
                Err(_) => {
                    return WebhookResult::failure(
                        504,
                        format!(
                            "Failed to fetch appointment details: the Eka Care API did not answer \
                             within {} ms ('webhookTimeoutMs')",
                            limit.as_millis()
                        ),
                    )
                }
            }
        }

        if let Some(schedule) = &self.schedule {
            // The durable reminders follow the appointment alongside (their own table).
            let follow = async {
                if let Some(reminders) = &self.reminders {
                    reminders.follow_event(&event, p_aid.as_deref()).await;
                }
            };
            let applied = schedule.apply_event(&event, p_aid.as_deref());
            let persisted = futures::future::join(applied, follow);
            timings.time_async(Phase::Persist, persisted).await;
        }

        if let Some(on_event) = &self.on_event {
            let delivery = async {
                match self.config.on_event_timeout {
                    None => on_event.deliver(&event).await,
                    Some(limit) => tokio::time::timeout(limit, on_event.deliver(&event))
                        .await
                        .unwrap_or_else(|_| Err(format!("onEvent did not settle within {} ms", limit.as_millis()))),
                }
            };
            let delivered = timings.time_async(Phase::OnEvent, delivery).await;
            if let Err(message) = delivered {
                logger::error(&format!("WebhookSDK: Error in on_event callback: {message}"));
                return WebhookResult::failure_with_body(500, message, Some(ON_EVENT_FAILED));
            }
        }

        WebhookResult { status: 200, body: success_body(&event.event_type, event.context.as_deref()), event: Some(event), error: None }
    }

    fn allowed_events(&self) -> Vec<&str> {
        match &self.config.allowed_events {
            Some(list) if !list.is_empty() => list.iter().map(String::as_str).collect(),
            _ => SUPPORTED_EVENTS.to_vec(),
        }
    }

    fn is_allowed(&self, event_type: &str) -> bool {
        match &self.config.allowed_events {
            Some(list) if !list.is_empty() => list.iter().any(|allowed| allowed == event_type),
            _ => SUPPORTED_EVENTS.contains(&event_type),
        }
    }
}

/// Verifies a body: the exact bytes first, then (unless they already are `JSON.stringify`
/// output) their canonical re-serialisation, computed only when the bytes did not match.
/// `parsed` saves a second parse when the caller already has the tree.
pub fn verify_body(
    bytes: &[u8],
    is_canonical: bool,
    parsed: Option<&JsonValue>,
    signature_header: Option<&str>,
    keys: &[Secret],
    options: VerifyOptions,
) -> Result<(), VerifyFailure> {
    let canonical = || {
        if is_canonical {
            return None;
        }
        let canonical = match parsed {
            Some(tree) => canonical_json::to_canonical_vec(tree),
            None => canonical_json::canonicalize(bytes).ok()?,
        };
        (canonical.as_slice() != bytes).then_some(Cow::Owned(canonical))
    };
    let candidates = std::iter::once(Cow::Borrowed(bytes)).chain(std::iter::once_with(canonical).flatten());
    signature::verify(signature_header, keys, options, candidates)
}

/// `{"success": true, "event": type, "appointmentDetails"?, "patientDetails"?, ...}`.
fn success_body(event_type: &str, context: Option<&AppointmentContext>) -> Value {
    let mut body = Map::new();
    body.insert("success".into(), Value::Bool(true));
    body.insert("event".into(), Value::String(event_type.to_string()));
    if let Some(ctx) = context {
        body.insert("appointmentDetails".into(), ctx.appointment_details.clone());
        for (key, value) in [
            ("patientDetails", &ctx.patient_details),
            ("doctorDetails", &ctx.doctor_details),
            ("clinicDetails", &ctx.clinic_details),
        ] {
            if let Some(v) = value {
                body.insert(key.into(), v.clone());
            }
        }
    }
    Value::Object(body)
}

/// Python's `repr` of a list of strings, so the 400 text matches the Python SDK's.
fn python_list(items: Vec<&str>) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", quoted.join(", "))
}
