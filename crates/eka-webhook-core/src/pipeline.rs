//! One webhook request: verify → event rules → enrich → persist → result. The JS doors
//! (handleRequest, Express, Fetch, Fastify) parse the body with `JSON.parse`, call
//! [`Pipeline::accept`] and [`Pipeline::complete`], then `onEvent` themselves; the standalone
//! server comes in through [`Pipeline::handle_bytes`].

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::api_client::EkaApiClient;
use crate::canonical_json;
use crate::config::SdkConfig;
use crate::enrichment::enrich_appointment;
use crate::envelope::{self, Envelope, EnvelopeError};
use crate::events::{is_appointment_event, AppointmentContext, WebhookEvent, SUPPORTED_EVENTS};
use crate::logger;
use crate::persistence::ledger::{delivery_key, Claim, Ledger};
use crate::persistence::schedule::Schedule;
use crate::reminders::durable::DurableReminders;
use crate::signature::{self, VerifyOptions};
use crate::telemetry::{delivery_reason, Phase, PhaseTimings, OK_REASON};

pub const INVALID_JSON_BODY: &str = "Invalid JSON body";
pub const BODY_REQUIRED: &str = "Request body is required";
pub const BODY_TOO_DEEP: &str = "JSON body is nested too deeply";
pub const MISSING_EVENT: &str = "Missing 'event' field in webhook payload";
pub const MISSING_APPOINTMENT_ID: &str = "Missing 'appointment_id' in webhook payload data";
pub const ON_EVENT_FAILED: &str = "Internal server error while processing webhook event";
pub const DELIVERY_IN_PROGRESS: &str =
    "This delivery is being processed by another request; retry later";

/// What `handleRequest` returns: the HTTP status and JSON body to answer with.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookResult {
    pub status: u16,
    pub body: Value,
    pub event: Option<WebhookEvent>,
    pub error: Option<String>,
    /// A delivery the ledger has seen done: `onEvent` and persistence did not run again.
    pub duplicate: bool,
}

impl WebhookResult {
    pub fn failure(status: u16, message: impl Into<String>) -> Self {
        Self::failure_with_body(status, message.into(), None)
    }

    fn failure_with_body(status: u16, error: String, public_message: Option<&str>) -> Self {
        let body = json!({ "error": public_message.unwrap_or(&error) });
        Self {
            status,
            body,
            event: None,
            error: Some(error),
            duplicate: false,
        }
    }

    /// 200, `{"success": true, "event": type, ...context}`.
    pub fn success(event: WebhookEvent) -> Self {
        let body = success_body(&event.event_type, event.context.as_deref());
        Self {
            status: 200,
            body,
            event: Some(event),
            error: None,
            duplicate: false,
        }
    }

    /// 200, `{"success": true, "event": type, "duplicate": true}`.
    pub fn duplicate(event_type: String) -> Self {
        let body = json!({ "success": true, "event": event_type, "duplicate": true });
        let event = WebhookEvent {
            event_type,
            context: None,
        };
        Self {
            status: 200,
            body,
            event: Some(event),
            error: None,
            duplicate: true,
        }
    }
}

/// A request refused by the synchronous checks: its status and error text (the body is
/// `{"error": message}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub message: String,
}

impl Rejection {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl From<Rejection> for WebhookResult {
    fn from(rejection: Rejection) -> Self {
        WebhookResult::failure(rejection.status, rejection.message)
    }
}

/// A request that passed the synchronous checks: nesting, signature, event rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub event_type: String,
    pub appointment_id: Option<String>,
    pub p_aid: Option<String>,
    /// The ledger's key for this delivery (see [`delivery_key`]).
    pub delivery_key: Option<String>,
}

impl Accepted {
    /// True when completing it waits for the Eka Care API; otherwise its result is
    /// `WebhookResult::success` of the unenriched event (persistence acts only on enriched
    /// events).
    pub fn is_enriched(&self) -> bool {
        is_appointment_event(&self.event_type)
    }
}

/// The user's `onEvent` where Rust starts the work (the standalone server): a JS function
/// through the binding, a Rust closure in tests. `Err` carries the thrown error's message.
#[async_trait]
pub trait EventSink: Send + Sync {
    async fn deliver(&self, event: &WebhookEvent, payload_json: &str) -> Result<(), String>;
}

pub struct Pipeline {
    config: Arc<SdkConfig>,
    api: EkaApiClient,
    schedule: Option<Arc<Schedule>>,
    ledger: Option<Arc<Ledger>>,
    on_event: Option<Arc<dyn EventSink>>,
    reminders: Option<Arc<DurableReminders>>,
}

/// What the ledger said of a delivery before it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Run it; when `claimed`, settle its key afterwards ([`Pipeline::settle`]).
    Run { claimed: Option<String> },
    /// Answer this at once: a duplicate, or a delivery in progress elsewhere.
    Answer(WebhookResult),
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
        ledger: Option<Arc<Ledger>>,
        on_event: Option<Arc<dyn EventSink>>,
    ) -> Self {
        Self {
            config,
            api,
            schedule,
            ledger,
            on_event,
            reminders: None,
        }
    }

    /// True when the door calls `onEvent` after this answer (a fresh success, with an `onEvent`
    /// configured): the delivery ends only after it, with [`Pipeline::finish`].
    pub fn on_event_follows(&self, result: &WebhookResult) -> bool {
        self.on_event.is_some() && result.event.is_some() && !result.duplicate
    }

    /// True when the answer is known as the delivery is claimed: no `onEvent` follows and there
    /// is nothing to fetch (persistence acts only on enriched events). The ledger then records
    /// it done at once, and nothing is left to settle.
    fn answer_known_at_claim(&self, accepted: &Accepted) -> bool {
        self.on_event.is_none() && !accepted.is_enriched()
    }

    /// The ledger's answer when it needs no waiting: no ledger or no key (run it unclaimed), or
    /// the window in memory. `None`: the ledger is a database's, ask [`Pipeline::admit`].
    pub fn admit_now(&self, accepted: &Accepted, timings: &mut PhaseTimings) -> Option<Admission> {
        let (Some(ledger), Some(key)) = (&self.ledger, &accepted.delivery_key) else {
            return Some(Admission::Run { claimed: None });
        };
        if !ledger.is_in_memory() {
            return None;
        }
        let done = self.answer_known_at_claim(accepted);
        let claim = timings.time(Phase::Dedupe, || ledger.claim_now(key, done))?;
        Some(self.admission(accepted, key, done, claim))
    }

    /// Claims an accepted delivery in the ledger (the dedupe phase). A ledger that cannot be
    /// reached lets the delivery run unclaimed: running it twice is better than losing it.
    pub async fn admit(&self, accepted: &Accepted, timings: &mut PhaseTimings) -> Admission {
        let (Some(ledger), Some(key)) = (&self.ledger, &accepted.delivery_key) else {
            return Admission::Run { claimed: None };
        };
        let done = self.answer_known_at_claim(accepted);
        let claim = ledger.claim(key, &accepted.event_type, done);
        match timings.time_async(Phase::Dedupe, claim).await {
            Ok(claim) => self.admission(accepted, key, done, claim),
            Err(err) => {
                logger::error(&format!(
                    "WebhookSDK: delivery ledger unavailable, running {key} unchecked: {err}"
                ));
                Admission::Run { claimed: None }
            }
        }
    }

    /// What a claim means for the delivery; a claim recorded `done` leaves nothing to settle.
    fn admission(&self, accepted: &Accepted, key: &str, done: bool, claim: Claim) -> Admission {
        match claim {
            Claim::Claimed => Admission::Run {
                claimed: (!done).then(|| key.to_string()),
            },
            Claim::Done => Admission::Answer(WebhookResult::duplicate(accepted.event_type.clone())),
            Claim::InProgress => {
                Admission::Answer(WebhookResult::failure(409, DELIVERY_IN_PROGRESS))
            }
        }
    }

    /// Ends a delivery at its final answer: counts it, and settles its claim (`claimed`): done
    /// on a 200, released otherwise so the sender's retry runs it again. The window in memory
    /// settles at once; a database's settle is the returned future, to await before answering
    /// (so the sender's next attempt finds it settled).
    pub fn finish(
        &self,
        claimed: Option<String>,
        result: &WebhookResult,
    ) -> Option<impl Future<Output = ()> + Send + 'static> {
        self.record_delivery(result);
        let (Some(ledger), Some(key)) = (&self.ledger, claimed) else {
            return None;
        };
        let succeeded = result.status == 200;
        if ledger.settle_now(&key, succeeded) {
            return None;
        }
        let ledger = ledger.clone();
        Some(async move { ledger.settle(&key, succeeded).await })
    }

    /// The standalone server's door, end to end: bytes off the wire (empty: no body), parsed
    /// here, `onEvent` called through the [`EventSink`].
    pub async fn handle_bytes(&self, body: &[u8], signature_header: Option<&str>) -> WebhookResult {
        // The server reports no phases.
        let mut timings = PhaseTimings::off();
        let (result, claimed) = match self.accept_bytes(body, signature_header, &mut timings) {
            Ok(accepted) => match self.admit(&accepted, &mut timings).await {
                Admission::Run { claimed } => {
                    (self.complete(accepted, &mut timings).await, claimed)
                }
                Admission::Answer(answer) => (answer, None),
            },
            Err(rejection) => (rejection.into(), None),
        };
        let result = match (&self.on_event, &result.event) {
            // The event exists only on success, whose body was valid UTF-8.
            (Some(sink), Some(event)) if self.on_event_follows(&result) => {
                let payload_json = String::from_utf8_lossy(body);
                let delivery = self.deliver(sink.as_ref(), event, &payload_json);
                match timings.time_async(Phase::OnEvent, delivery).await {
                    Ok(()) => result,
                    Err(failure) => failure,
                }
            }
            _ => result,
        };
        if let Some(settling) = self.finish(claimed, &result) {
            settling.await;
        }
        result
    }

    /// Counts a delivery's final answer (status and reason) for telemetry: once per request,
    /// by [`Pipeline::finish`] or for an answer the door gives without the pipeline.
    pub fn record_delivery(&self, result: &WebhookResult) {
        self.api
            .telemetry()
            .deliveries(result.status, delivery_reason(result), 1);
    }

    /// Counts `count` deliveries answered 200.
    pub fn record_successes(&self, count: u64) {
        self.api.telemetry().deliveries(200, OK_REASON, count);
    }

    fn accept_bytes(
        &self,
        body: &[u8],
        signature_header: Option<&str>,
        timings: &mut PhaseTimings,
    ) -> Result<Accepted, Rejection> {
        if body.is_empty() {
            return Err(Rejection::new(400, BODY_REQUIRED));
        }
        let text = std::str::from_utf8(body).map_err(|_| Rejection::new(400, INVALID_JSON_BODY))?;
        let envelope = envelope::read_envelope(text).map_err(|e| match e {
            EnvelopeError::Invalid => Rejection::new(400, INVALID_JSON_BODY),
            EnvelopeError::NotAnObject => Rejection::new(400, BODY_REQUIRED),
        })?;
        self.accept(
            body,
            || canonical_json::canonicalize(text),
            envelope,
            signature_header,
            timings,
        )
    }

    /// The synchronous checks every door runs, in order: nesting, signature, event rules.
    /// `body` is the text to verify, exactly as received; `canonical` gives its canonical form,
    /// tried (and computed) only when the bytes themselves do not verify. `envelope` is what
    /// the door read of the body. `timings` gets the verify phase.
    pub fn accept(
        &self,
        body: &[u8],
        canonical: impl FnOnce() -> Option<Vec<u8>>,
        envelope: Envelope,
        signature_header: Option<&str>,
        timings: &mut PhaseTimings,
    ) -> Result<Accepted, Rejection> {
        if envelope::is_too_deep(body) {
            return Err(Rejection::new(400, BODY_TOO_DEEP));
        }
        if !self.config.signing_keys.is_empty() {
            let options = VerifyOptions::at_current_time(self.config.signature_tolerance_seconds);
            let canonical = std::iter::once_with(|| {
                canonical().filter(|c| c.as_slice() != body).map(Cow::Owned)
            });
            let candidates = std::iter::once(Cow::Borrowed(body)).chain(canonical.flatten());
            let keys = &self.config.signing_keys;
            timings
                .time(Phase::Verify, || {
                    signature::verify(signature_header, keys, options, candidates)
                })
                .map_err(|failure| Rejection::new(403, failure.reason()))?;
        }

        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let Some(event_type) = non_empty(envelope.event) else {
            return Err(Rejection::new(400, MISSING_EVENT));
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
        let appointment_id = non_empty(envelope.appointment_id);
        if is_appointment_event(&event_type) && appointment_id.is_none() {
            return Err(Rejection::new(400, MISSING_APPOINTMENT_ID));
        }
        // Only the ledger needs the key.
        let delivery_key = self
            .ledger
            .as_ref()
            .and_then(|_| delivery_key(envelope.transaction_id.as_deref(), signature_header));
        Ok(Accepted {
            event_type,
            appointment_id,
            p_aid: non_empty(envelope.p_aid),
            delivery_key,
        })
    }

    /// The steps that wait: enrichment and persistence (not `onEvent`: the door calls it).
    /// `timings` gets their phases.
    pub async fn complete(&self, accepted: Accepted, timings: &mut PhaseTimings) -> WebhookResult {
        let mut event = WebhookEvent {
            event_type: accepted.event_type,
            context: None,
        };
        if is_appointment_event(&event.event_type) {
            let appointment_id = accepted.appointment_id.as_deref().unwrap_or_default();
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
            let p_aid = accepted.p_aid.as_deref();
            // The durable reminders follow the appointment alongside (their own table).
            let follow = async {
                if let Some(reminders) = &self.reminders {
                    reminders.follow_event(&event, p_aid).await;
                }
            };
            let persisted = futures::future::join(schedule.apply_event(&event, p_aid), follow);
            timings.time_async(Phase::Persist, persisted).await;
        }
        WebhookResult::success(event)
    }

    /// Calls `onEvent` within `onEventTimeoutMs`; `Err` is the 500 to answer with.
    async fn deliver(
        &self,
        sink: &dyn EventSink,
        event: &WebhookEvent,
        payload_json: &str,
    ) -> Result<(), WebhookResult> {
        let delivered = match self.config.on_event_timeout {
            None => sink.deliver(event, payload_json).await,
            Some(limit) => tokio::time::timeout(limit, sink.deliver(event, payload_json))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "onEvent did not settle within {} ms",
                        limit.as_millis()
                    ))
                }),
        };
        delivered.map_err(|message| {
            logger::error(&format!(
                "WebhookSDK: Error in on_event callback: {message}"
            ));
            WebhookResult::failure_with_body(500, message, Some(ON_EVENT_FAILED))
        })
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
