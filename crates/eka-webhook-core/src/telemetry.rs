//! What one SDK instance counts and times, for `sdk.stats()` and OpenTelemetry: deliveries by
//! status and reason, Eka Care API calls and their latency, reminders by outcome and their
//! lateness, and the phases of each delivery. Labels are fixed names (never ids, event bodies or
//! anything a user sent), so nothing here can carry patient data.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::api_client::{ApiError, LOGIN_PATH};
use crate::pipeline::{
    WebhookResult, BODY_REQUIRED, BODY_TOO_DEEP, DELIVERY_IN_PROGRESS, INVALID_JSON_BODY,
    MISSING_APPOINTMENT_ID, MISSING_EVENT,
};
use crate::signature::INVALID_SIGNATURE;

/// The phases of one delivery, in order. `Dedupe` is the delivery ledger's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Verify,
    Dedupe,
    Enrich,
    Persist,
    OnEvent,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Verify => "verify",
            Phase::Dedupe => "dedupe",
            Phase::Enrich => "enrich",
            Phase::Persist => "persist",
            Phase::OnEvent => "onEvent",
        }
    }
}

/// One phase that ran: when it started, relative to the delivery's start, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseTiming {
    pub phase: Phase,
    pub start: Duration,
    pub duration: Duration,
}

/// The phases of one delivery as they run; [`PhaseTimings::off`] for one nobody traces.
#[derive(Debug, Clone)]
pub struct PhaseTimings {
    /// When the delivery started; `None` when nothing is recorded.
    origin: Option<Instant>,
    pub phases: Vec<PhaseTiming>,
}

impl Default for PhaseTimings {
    fn default() -> Self {
        Self {
            origin: Some(Instant::now()),
            phases: Vec::new(),
        }
    }
}

impl PhaseTimings {
    /// Records nothing and reads no clock: a delivery nobody traces (most of them).
    pub fn off() -> Self {
        Self {
            origin: None,
            phases: Vec::new(),
        }
    }

    pub fn time<T>(&mut self, phase: Phase, step: impl FnOnce() -> T) -> T {
        let Some(origin) = self.origin else {
            return step();
        };
        let started = Instant::now();
        let output = step();
        self.record(origin, phase, started);
        output
    }

    pub async fn time_async<T>(&mut self, phase: Phase, step: impl Future<Output = T>) -> T {
        let Some(origin) = self.origin else {
            return step.await;
        };
        let started = Instant::now();
        let output = step.await;
        self.record(origin, phase, started);
        output
    }

    fn record(&mut self, origin: Instant, phase: Phase, started: Instant) {
        self.phases.push(PhaseTiming {
            phase,
            start: started.saturating_duration_since(origin),
            duration: started.elapsed(),
        });
    }
}

/// Upper bounds (ms) of the latency and lateness histograms' buckets; a last one holds the rest.
const BUCKET_BOUNDS_MS: [f64; 14] = [
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKET_BOUNDS_MS.len() + 1],
    count: u64,
    sum_ms: f64,
}

impl Histogram {
    fn record(&mut self, ms: f64) {
        let bucket = BUCKET_BOUNDS_MS
            .iter()
            .position(|bound| ms <= *bound)
            .unwrap_or(BUCKET_BOUNDS_MS.len());
        self.counts[bucket] += 1;
        self.count += 1;
        self.sum_ms += ms;
    }

    fn to_json(&self) -> Value {
        let buckets: Vec<Value> = self
            .counts
            .iter()
            .enumerate()
            .map(|(i, count)| match BUCKET_BOUNDS_MS.get(i) {
                Some(bound) => json!({ "le": bound, "count": count }),
                None => json!({ "le": "+Inf", "count": count }),
            })
            .collect();
        json!({ "count": self.count, "sumMs": self.sum_ms, "buckets": buckets })
    }
}

/// One Eka Care API request, kept for the OpenTelemetry latency histogram until the JS side
/// takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCallSample {
    pub resource: &'static str,
    pub outcome: &'static str,
    pub duration_ms: f64,
}

/// Samples kept between two takes; past it they are dropped (the counters still count them).
const MAX_PENDING_SAMPLES: usize = 10_000;

#[derive(Debug, Default)]
struct Counters {
    deliveries: BTreeMap<(u16, &'static str), u64>,
    api_calls: BTreeMap<(&'static str, &'static str), u64>,
    api_latency: Histogram,
    reminders: BTreeMap<&'static str, u64>,
    reminder_lateness: Histogram,
}

/// The counters of one SDK instance, shared by its pipeline, API client and reminders.
#[derive(Debug, Default)]
pub struct Telemetry {
    counters: Mutex<Counters>,
    /// `None` until something will take the samples (OpenTelemetry is in use).
    api_samples: Mutex<Option<Vec<ApiCallSample>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Telemetry {
    /// `count` deliveries' final answer; `reason` from [`delivery_reason`].
    pub fn deliveries(&self, status: u16, reason: &'static str, count: u64) {
        *lock(&self.counters)
            .deliveries
            .entry((status, reason))
            .or_default() += count;
    }

    /// One HTTP request to the Eka Care API (each retry and re-login is one).
    pub fn api_call(&self, endpoint: &str, outcome: Result<(), &ApiError>, duration: Duration) {
        let (resource, outcome) = (api_resource(endpoint), api_outcome(outcome));
        let duration_ms = duration.as_secs_f64() * 1000.0;
        {
            let mut counters = lock(&self.counters);
            *counters.api_calls.entry((resource, outcome)).or_default() += 1;
            counters.api_latency.record(duration_ms);
        }
        if let Some(samples) = lock(&self.api_samples).as_mut() {
            if samples.len() < MAX_PENDING_SAMPLES {
                samples.push(ApiCallSample {
                    resource,
                    outcome,
                    duration_ms,
                });
            }
        }
    }

    /// A fired reminder: `outcome` is `fired`, `fetch_failed` or `callback_failed`.
    pub fn reminder(&self, outcome: &'static str, lateness_ms: i64) {
        let mut counters = lock(&self.counters);
        *counters.reminders.entry(outcome).or_default() += 1;
        counters.reminder_lateness.record(lateness_ms.max(0) as f64);
    }

    /// Starts keeping API call samples for [`take_api_samples`](Self::take_api_samples).
    pub fn keep_api_samples(&self) {
        lock(&self.api_samples).get_or_insert_with(Vec::new);
    }

    pub fn take_api_samples(&self) -> Vec<ApiCallSample> {
        lock(&self.api_samples)
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Every counter as plain numbers; `write_queue_depth` is read by the caller, who owns the
    /// queue.
    pub fn snapshot(&self, write_queue_depth: usize) -> Value {
        let counters = lock(&self.counters);
        let mut by_status = Map::new();
        let mut by_reason = Map::new();
        let mut total = 0;
        let mut detail = Vec::new();
        for ((status, reason), count) in &counters.deliveries {
            add(&mut by_status, &status.to_string(), *count);
            add(&mut by_reason, reason, *count);
            total += count;
            detail.push(json!({ "status": status, "reason": reason, "count": count }));
        }
        let mut calls_by_resource = Map::new();
        let mut calls_by_outcome = Map::new();
        let mut calls = 0;
        let mut call_detail = Vec::new();
        for ((resource, outcome), count) in &counters.api_calls {
            add(&mut calls_by_resource, resource, *count);
            add(&mut calls_by_outcome, outcome, *count);
            calls += count;
            call_detail.push(json!({ "resource": resource, "outcome": outcome, "count": count }));
        }
        let mut reminders = Map::new();
        for (outcome, count) in &counters.reminders {
            add(&mut reminders, outcome, *count);
        }
        json!({
            "deliveries": {
                "total": total,
                "byStatus": by_status,
                "byReason": by_reason,
                "byStatusAndReason": detail,
            },
            "api": {
                "calls": calls,
                "byResource": calls_by_resource,
                "byOutcome": calls_by_outcome,
                "byResourceAndOutcome": call_detail,
                "latencyMs": counters.api_latency.to_json(),
            },
            "writeQueueDepth": write_queue_depth,
            "reminders": {
                "byOutcome": reminders,
                "latenessMs": counters.reminder_lateness.to_json(),
            },
        })
    }
}

fn add(map: &mut Map<String, Value>, key: &str, count: u64) {
    let sum = map.get(key).and_then(Value::as_u64).unwrap_or(0) + count;
    map.insert(key.to_string(), Value::from(sum));
}

/// The reason of a delivery answered 200.
pub const OK_REASON: &str = "ok";

/// A fixed name for why a delivery got its status (the error texts can quote the request).
pub fn delivery_reason(result: &WebhookResult) -> &'static str {
    if result.status == 200 {
        return OK_REASON;
    }
    if result.status == 500 {
        return "on_event_failed";
    }
    let error = result.error.as_deref().unwrap_or_default();
    match error {
        INVALID_JSON_BODY => "invalid_json",
        BODY_REQUIRED => "body_required",
        BODY_TOO_DEEP => "body_too_deep",
        MISSING_EVENT => "missing_event",
        MISSING_APPOINTMENT_ID => "missing_appointment_id",
        DELIVERY_IN_PROGRESS => "delivery_in_progress",
        "Missing Eka-Webhook-Signature header" => "signature_missing",
        INVALID_SIGNATURE => "signature_invalid",
        _ if error.starts_with("Invalid signature header format") => "signature_malformed",
        _ if error.starts_with("Signature timestamp") || error == "Invalid signature timestamp" => {
            "signature_timestamp"
        }
        _ if error.starts_with("Event type '") => "event_not_allowed",
        _ if error.starts_with("Failed to fetch appointment details") => "appointment_fetch_failed",
        _ => "other",
    }
}

/// The resource an API path names, without its id.
fn api_resource(endpoint: &str) -> &'static str {
    const RESOURCES: [(&str, &str); 4] = [
        ("/dr/v1/appointment/", "appointment"),
        ("/dr/v1/patient/", "patient"),
        ("/dr/v1/doctor/", "doctor"),
        ("/dr/v1/business/clinic/", "clinic"),
    ];
    if endpoint.ends_with(LOGIN_PATH) {
        return "login";
    }
    RESOURCES
        .iter()
        .find(|(prefix, _)| endpoint.contains(prefix))
        .map_or("other", |(_, name)| name)
}

fn api_outcome(outcome: Result<(), &ApiError>) -> &'static str {
    match outcome {
        Ok(()) => "ok",
        Err(ApiError::Status { status, .. }) if *status < 500 => "http_4xx",
        Err(ApiError::Status { .. }) => "http_5xx",
        Err(ApiError::Timeout { .. }) => "timeout",
        Err(ApiError::Network { .. }) => "network",
        Err(_) => "invalid_response",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_upper_bounds_with_an_overflow_bucket() {
        let mut histogram = Histogram::default();
        for ms in [0.5, 1.0, 1.5, 100.0, 70_000.0] {
            histogram.record(ms);
        }
        let json = histogram.to_json();
        assert_eq!(json["count"], 5);
        assert_eq!(json["sumMs"], 70_103.0);
        let buckets = json["buckets"].as_array().unwrap();
        assert_eq!(buckets[0], json!({ "le": 1.0, "count": 2 }));
        assert_eq!(buckets[1], json!({ "le": 5.0, "count": 1 }));
        assert_eq!(buckets[5], json!({ "le": 100.0, "count": 1 }));
        assert_eq!(
            buckets.last().unwrap(),
            &json!({ "le": "+Inf", "count": 1 })
        );
    }

    #[test]
    fn reasons_are_fixed_names_whatever_the_error_quotes() {
        let failure = |status, error: &str| WebhookResult::failure(status, error);
        let cases = [
            (
                failure(
                    400,
                    "Event type 'x<script>' is not in the allowed events list. Allowed: []",
                ),
                "event_not_allowed",
            ),
            (
                failure(
                    403,
                    "Invalid signature header format: missing 't' or 'v1' fields",
                ),
                "signature_malformed",
            ),
            (
                failure(403, "Signature timestamp is too old"),
                "signature_timestamp",
            ),
            (failure(403, "Invalid signature"), "signature_invalid"),
            (
                failure(
                    502,
                    "Failed to fetch appointment details: HTTP 404 for /dr/v1/appointment/a-1",
                ),
                "appointment_fetch_failed",
            ),
            (failure(500, "the user's own message"), "on_event_failed"),
            (
                failure(400, MISSING_APPOINTMENT_ID),
                "missing_appointment_id",
            ),
        ];
        for (result, reason) in cases {
            assert_eq!(delivery_reason(&result), reason, "{:?}", result.error);
        }
    }

    #[test]
    fn api_calls_are_labelled_by_resource_never_by_id() {
        let telemetry = Telemetry::default();
        telemetry.keep_api_samples();
        let not_found = ApiError::Status {
            status: 404,
            endpoint: String::new(),
            detail: String::new(),
            retry_after: None,
        };
        telemetry.api_call(
            "/dr/v1/patient/p-secret-1",
            Err(&not_found),
            Duration::from_millis(3),
        );
        telemetry.api_call(LOGIN_PATH, Ok(()), Duration::from_millis(7));
        let samples = telemetry.take_api_samples();
        assert_eq!(
            samples
                .iter()
                .map(|s| (s.resource, s.outcome))
                .collect::<Vec<_>>(),
            [("patient", "http_4xx"), ("login", "ok")]
        );
        assert!(telemetry.take_api_samples().is_empty());
        let snapshot = telemetry.snapshot(2);
        assert_eq!(snapshot["api"]["calls"], 2);
        assert_eq!(
            snapshot["api"]["byResource"],
            json!({ "login": 1, "patient": 1 })
        );
        assert_eq!(snapshot["writeQueueDepth"], 2);
        assert!(!snapshot.to_string().contains("p-secret-1"));
    }
}
