//! Property checks on arbitrary bytes against the public API of `eka-webhook-core`, shared by
//! the cargo-fuzz targets (`fuzz_targets/`) and the regression replay (the core's
//! `tests/fuzz_regressions.rs` includes this file), so the two can never drift apart.
//!
//! Each `check_*` function takes any input and panics when a property does not hold; returning
//! normally means the input is fine. See `README.md` for the properties.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use eka_webhook_core::api_client::EkaApiClient;
use eka_webhook_core::canonical_json;
use eka_webhook_core::config::SdkConfig;
use eka_webhook_core::envelope::{self, Envelope, EnvelopeError};
use eka_webhook_core::events::{is_appointment_event, WebhookEvent, SUPPORTED_EVENTS};
use eka_webhook_core::pipeline::{self, EventSink, Pipeline};
use eka_webhook_core::secret::Secret;
use eka_webhook_core::signature::{self, VerifyFailure, VerifyOptions};
use serde::de::IgnoredAny;
use serde_json::{json, Value};

/// The signing key the checks sign with.
pub const FUZZ_KEY: &str = "whsec_fuzz";

/// Inputs are `<part one> 0xFF <part two>`: 0xFF never occurs in UTF-8, so a text part can
/// hold anything else. Without a 0xFF everything is part one.
fn split_input(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

// ---------------------------------------------------------------------------------------------
// signature_header
// ---------------------------------------------------------------------------------------------

/// Python's `bytes.fromhex` (CPython 3.11 `_PyBytes_FromHex`): pairs of hex digits; runs of
/// ASCII whitespace as `Py_ISSPACE` defines it (space, `\t \n \v \f \r`) are skipped before a
/// pair, never inside one; anything else is a `ValueError` (here `None`).
fn python_fromhex(text: &str) -> Option<Vec<u8>> {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r');
    let mut chars = text.chars();
    let mut out = Vec::new();
    loop {
        let high = match chars.by_ref().find(|c| !is_space(*c)) {
            None => return Some(out),
            Some(c) => c.to_digit(16)?,
        };
        let low = chars.next()?.to_digit(16)?;
        out.push((high * 16 + low) as u8);
    }
}

/// What the Python SDK 0.1.4 (`eka_webhook_sdk/signature.py`) does with a header, transliterated
/// line by line, plus the one documented extension: every non-empty `v1` is kept (Python keeps
/// only the last, and fails when that last one is empty).
struct HeaderModel {
    /// Python's result: `Ok((t, last v1))` or the reason it gives.
    python: Result<(String, String), VerifyFailure>,
    /// Our documented grammar: the same, with all non-empty `v1` values.
    ours: Result<(String, Vec<String>), VerifyFailure>,
}

fn header_model(header: Option<&str>) -> HeaderModel {
    let header = match header {
        Some(h) if !h.is_empty() => h,
        _ => {
            return HeaderModel {
                python: Err(VerifyFailure::MissingHeader),
                ours: Err(VerifyFailure::MissingHeader),
            }
        }
    };
    let mut timestamp: Option<&str> = None;
    let mut last_signature: Option<&str> = None;
    let mut all_signatures = Vec::new();
    for item in header.split(',') {
        let Some(eq_index) = item.find('=') else {
            return HeaderModel {
                python: Err(VerifyFailure::InvalidFormat),
                ours: Err(VerifyFailure::InvalidFormat),
            };
        };
        let (key, value) = (&item[..eq_index], &item[eq_index + 1..]);
        if key == "t" {
            timestamp = Some(value);
        } else if key == "v1" {
            last_signature = Some(value);
            if !value.is_empty() {
                all_signatures.push(value.to_string());
            }
        }
    }
    let t = timestamp.filter(|t| !t.is_empty());
    let python = match (t, last_signature.filter(|s| !s.is_empty())) {
        (Some(t), Some(s)) => Ok((t.to_string(), s.to_string())),
        _ => Err(VerifyFailure::MissingFields),
    };
    let ours = match t {
        Some(t) if !all_signatures.is_empty() => Ok((t.to_string(), all_signatures)),
        _ => Err(VerifyFailure::MissingFields),
    };
    HeaderModel { python, ours }
}

fn hmac_hex(timestamp: &str, body: &[u8]) -> String {
    hex::encode(signature::compute_signature(
        FUZZ_KEY.as_bytes(),
        timestamp,
        body,
    ))
}

fn le_i64(bytes: &[u8]) -> i64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
    i64::from_le_bytes(buf)
}

/// `signature_header` target. Input: `<header> 0xFF <body>`; in the header, every `@` is replaced
/// by the correct hex signature of the body for the header's (last) `t`, so the fuzzer can reach
/// matching signatures. Checks, for any input:
///
/// * `parse_header` never panics and agrees with a line-by-line transliteration of the Python
///   SDK's parser and of `bytes.fromhex` (timestamp, every `v1` entry, the failure reason); where
///   Python accepts a header, we accept it with the same timestamp and last signature;
/// * `verify` agrees with that model, and accepts whatever the Python SDK accepts;
/// * a header from `generate_header` always verifies, also after any well-formed items;
/// * `check_tolerance` never panics or overflows, and accepts exactly `|now - t| <= tolerance`.
pub fn check_signature_header(data: &[u8]) {
    let (header_bytes, body) = split_input(data);
    let raw_header = String::from_utf8_lossy(header_bytes);
    let header = if raw_header.contains('@') {
        let t = match header_model(Some(&raw_header)).ours {
            Ok((t, _)) => t,
            Err(_) => String::new(),
        };
        Cow::Owned(raw_header.replace('@', &hmac_hex(&t, body)))
    } else {
        raw_header
    };
    let header: &str = &header;

    // parse_header against the model.
    assert_eq!(
        signature::parse_header(None),
        Err(VerifyFailure::MissingHeader)
    );
    let parsed = signature::parse_header(Some(header));
    let model = header_model(Some(header));
    match (&parsed, &model.ours) {
        (Ok(p), Ok((t, sigs))) => {
            assert_eq!(p.timestamp, t, "timestamp of {header:?}");
            let expected: Vec<Option<Vec<u8>>> = sigs.iter().map(|s| python_fromhex(s)).collect();
            assert_eq!(p.signatures, expected, "signatures of {header:?}");
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "failure for {header:?}"),
        (a, b) => panic!("parse_header({header:?}) = {a:?}, model says {b:?}"),
    }
    if let Ok((t, last)) = &model.python {
        let p = parsed
            .as_ref()
            .expect("Python accepts this header, so must we");
        assert_eq!(p.timestamp, t);
        assert_eq!(
            p.signatures.last(),
            Some(&python_fromhex(last)),
            "last v1 of {header:?}"
        );
    }

    // verify against the model and against Python's verdict.
    let keys = [Secret::new(FUZZ_KEY)];
    let no_tolerance = VerifyOptions {
        tolerance_seconds: None,
        now: 0,
    };
    let verdict = signature::verify(Some(header), &keys, no_tolerance, [Cow::Borrowed(body)]);
    let expected = model.ours.as_ref().map_err(|e| *e).and_then(|(t, sigs)| {
        let good = signature::compute_signature(FUZZ_KEY.as_bytes(), t, body);
        let any = sigs
            .iter()
            .any(|s| python_fromhex(s).as_deref() == Some(&good[..]));
        if any {
            Ok(())
        } else {
            Err(VerifyFailure::InvalidSignature)
        }
    });
    assert_eq!(verdict, expected, "verify({header:?})");
    let python_valid = model.python.as_ref().is_ok_and(|(t, s)| {
        python_fromhex(s).as_deref()
            == Some(&signature::compute_signature(FUZZ_KEY.as_bytes(), t, body)[..])
    });
    if python_valid {
        assert_eq!(verdict, Ok(()), "the Python SDK accepts {header:?}");
    }
    assert_eq!(
        signature::verify(Some(header), &[], no_tolerance, [Cow::Borrowed(body)]),
        Err(VerifyFailure::KeyNotConfigured)
    );

    // Generated headers verify, alone and after items that are all well-formed.
    let t = le_i64(body);
    let good = signature::generate_header(body, FUZZ_KEY, t);
    let rotation = [Secret::new("old key"), Secret::new(FUZZ_KEY)];
    assert_eq!(
        signature::verify(Some(&good), &rotation, no_tolerance, [Cow::Borrowed(body)]),
        Ok(())
    );
    let combined = format!("{header},{good}");
    let well_formed = header.split(',').all(|item| item.contains('='));
    let combined_verdict =
        signature::verify(Some(&combined), &keys, no_tolerance, [Cow::Borrowed(body)]);
    if well_formed {
        assert_eq!(combined_verdict, Ok(()), "{combined:?}");
    } else {
        assert_eq!(
            combined_verdict,
            Err(VerifyFailure::InvalidFormat),
            "{combined:?}"
        );
    }

    // Tolerance arithmetic on extreme values.
    if let Ok(p) = &parsed {
        let tolerance = u64::from_le_bytes(le_i64(header_bytes).to_le_bytes());
        let now = le_i64(body.get(8..).unwrap_or_default());
        for tolerance in [tolerance, tolerance >> 1, tolerance % 1000, u64::MAX] {
            let result = p.check_tolerance(Some(tolerance), now);
            match p.timestamp.trim().parse::<i64>() {
                Err(_) => assert_eq!(result, Err(VerifyFailure::InvalidTimestamp)),
                Ok(ts) => {
                    let skew = i128::from(now) - i128::from(ts);
                    let expected = if skew > i128::from(tolerance) {
                        Err(VerifyFailure::TimestampTooOld)
                    } else if -skew > i128::from(tolerance) {
                        Err(VerifyFailure::TimestampInFuture)
                    } else {
                        Ok(())
                    };
                    assert_eq!(result, expected, "t={ts} now={now} tolerance={tolerance}");
                }
            }
            assert_eq!(p.check_tolerance(None, now), Ok(()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// canonical_json and envelope
// ---------------------------------------------------------------------------------------------

/// Structural equality with every number compared as an `f64` (serde_json keeps integers and
/// floats apart; JavaScript does not). `ordered` also compares object member order.
fn same_json(a: &Value, b: &Value, ordered: bool) -> bool {
    let mut pending = vec![(a, b)];
    while let Some((a, b)) = pending.pop() {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                if x.as_f64() != y.as_f64() {
                    return false;
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                if x.len() != y.len() {
                    return false;
                }
                pending.extend(x.iter().zip(y));
            }
            (Value::Object(x), Value::Object(y)) => {
                if x.len() != y.len() {
                    return false;
                }
                if ordered {
                    for ((kx, vx), (ky, vy)) in x.iter().zip(y) {
                        if kx != ky {
                            return false;
                        }
                        pending.push((vx, vy));
                    }
                } else {
                    for (k, vx) in x {
                        match y.get(k) {
                            Some(vy) => pending.push((vx, vy)),
                            None => return false,
                        }
                    }
                }
            }
            (x, y) => {
                if x != y {
                    return false;
                }
            }
        }
    }
    true
}

/// True when every object's array-index keys come first, in ascending order (V8's order).
fn index_keys_first(value: &Value) -> bool {
    let index = |k: &str| {
        let canonical = !k.is_empty() && k.len() <= 10 && (k == "0" || !k.starts_with('0'));
        canonical
            && k.bytes().all(|b| b.is_ascii_digit())
            && k.parse::<u32>().is_ok_and(|n| n != u32::MAX)
    };
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Array(items) => pending.extend(items),
            Value::Object(members) => {
                let keys: Vec<&str> = members.keys().map(String::as_str).collect();
                let indexed = keys.iter().take_while(|k| index(k)).count();
                if keys[indexed..].iter().any(|k| index(k)) {
                    return false;
                }
                let numbers: Vec<u32> = keys[..indexed]
                    .iter()
                    .map(|k| k.parse().unwrap_or_default())
                    .collect();
                if numbers.windows(2).any(|w| w[0] >= w[1]) {
                    return false;
                }
                pending.extend(members.values());
            }
            _ => {}
        }
    }
    true
}

/// `canonical_json` target. For any bytes:
///
/// * `is_too_deep`, `read_envelope` and `canonicalize` never panic;
/// * `read_envelope` accepts exactly the texts serde_json's grammar accepts (an object, or
///   `NotAnObject`), and reads `event`, and for appointment events `data.appointment_id` and
///   `data.p_aid`, as serde_json's tree gives them whenever serde_json builds one;
/// * `canonicalize` has a result exactly when serde_json builds a tree; the canonical text is
///   UTF-8, parses back to the same value (numbers as f64), has array-index keys first in
///   ascending order, and is its own canonical form (idempotence);
/// * a text serde_json builds a tree of (at most 128 levels) is never too deep.
pub fn check_canonical_json(data: &[u8]) {
    let too_deep = envelope::is_too_deep(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let envelope = envelope::read_envelope(text);
    let grammar_accepts = serde_json::from_str::<IgnoredAny>(text).is_ok();
    assert_eq!(
        envelope != Err(EnvelopeError::Invalid),
        grammar_accepts,
        "read_envelope {envelope:?}"
    );
    let tree = serde_json::from_str::<Value>(text);
    let canonical = canonical_json::canonicalize(text);
    let Ok(value) = tree else {
        assert!(
            canonical.is_none(),
            "a canonical form of a text serde_json does not parse"
        );
        return;
    };
    assert!(!too_deep, "a text serde_json parses is too deep");
    let string_at = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    // `data` is read for appointment events only.
    let event = string_at(value.get("event"));
    let data = value
        .get("data")
        .filter(|_| event.as_deref().is_some_and(is_appointment_event));
    let expected = match &value {
        Value::Object(_) => Ok(Envelope {
            event,
            appointment_id: string_at(data.and_then(|d| d.get("appointment_id"))),
            p_aid: string_at(data.and_then(|d| d.get("p_aid"))),
            transaction_id: string_at(value.get("transaction_id")),
        }),
        _ => Err(EnvelopeError::NotAnObject),
    };
    assert_eq!(
        envelope, expected,
        "read_envelope disagrees with serde_json's tree"
    );

    let canonical = canonical.expect("a canonical form of every text serde_json parses");
    let canonical_text = std::str::from_utf8(&canonical).expect("the canonical text is UTF-8");
    let reparsed: Value = serde_json::from_str(canonical_text).expect("the canonical text parses");
    assert!(
        same_json(&value, &reparsed, false),
        "{canonical_text} is not the value of the input"
    );
    assert!(
        index_keys_first(&reparsed),
        "{canonical_text}: array-index keys are not first"
    );
    let again = canonical_json::canonicalize(canonical_text)
        .expect("the canonical text has a canonical form");
    assert_eq!(
        String::from_utf8_lossy(&again),
        canonical_text,
        "canonicalize is not idempotent"
    );
}

// ---------------------------------------------------------------------------------------------
// pipeline
// ---------------------------------------------------------------------------------------------

/// A stand-in for the Eka Care API on a loopback port, so that appointment events are enriched
/// (or fail) in microseconds. Login succeeds; `GET /dr/v1/appointment/<id>` answers 404 when the
/// id contains `missing` (→ 502) and a fixed appointment otherwise; the patient and the doctor
/// are found, the clinic is not (enrichment is best effort). Any other request is recorded in
/// `unexpected`: the SDK must only call the documented endpoints, with the id as one segment.
struct StubApi {
    base_url: String,
    unexpected: std::sync::Mutex<Vec<String>>,
}

const STUB_APPOINTMENT: &str = r#"{"appointment_id":"apt-fuzz","patient_id":"pat-fuzz","doctor_id":"doc-fuzz","clinic_id":"cln-fuzz","status":"BK","visit_type":"NEW","start_time":1893456000,"end_time":1893456900}"#;
const STUB_PATIENT: &str = r#"{"fln":"Fuzz Patient"}"#;
const STUB_DOCTOR: &str = r#"{"name":"Dr Fuzz"}"#;

fn stub_api() -> &'static StubApi {
    static STUB: std::sync::OnceLock<StubApi> = std::sync::OnceLock::new();
    STUB.get_or_init(|| {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("binding the stub API on loopback");
        let base_url = format!("http://{}", listener.local_addr().expect("stub address"));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || stub_connection(stream));
            }
        });
        StubApi {
            base_url,
            unexpected: std::sync::Mutex::new(Vec::new()),
        }
    })
}

/// Serves keep-alive HTTP/1.1 requests on one connection until the client closes it.
fn stub_connection(mut stream: std::net::TcpStream) {
    use std::io::{Read, Write};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let content_length = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse::<usize>().ok())
            .unwrap_or(0);
        while buf.len() < head_end + content_length {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + content_length);
        let mut request_line = head.lines().next().unwrap_or_default().split(' ');
        let (method, target) = (
            request_line.next().unwrap_or_default(),
            request_line.next().unwrap_or_default(),
        );
        let path = target.split('?').next().unwrap_or_default();
        let one_segment = |prefix: &str| {
            path.strip_prefix(prefix)
                .filter(|id| !id.is_empty() && !id.contains('/'))
        };
        let (status, body): (&str, Cow<'_, str>) =
            if method == "POST" && path == "/connect-auth/v1/account/login" {
                (
                    "200 OK",
                    r#"{"access_token":"fuzz-token","refresh_token":"fuzz-refresh"}"#.into(),
                )
            } else if method != "GET" {
                ("405 Method Not Allowed", "{}".into())
            } else if let Some(id) = one_segment("/dr/v1/appointment/") {
                if id.contains("missing") {
                    (
                        "404 Not Found",
                        r#"{"message":"Appointment not found"}"#.into(),
                    )
                } else {
                    ("200 OK", format!(r#"{{"data":{STUB_APPOINTMENT}}}"#).into())
                }
            } else if one_segment("/dr/v1/patient/").is_some() {
                ("200 OK", STUB_PATIENT.into())
            } else if one_segment("/dr/v1/doctor/").is_some() {
                ("200 OK", format!(r#"{{"doctor":{STUB_DOCTOR}}}"#).into())
            } else if one_segment("/dr/v1/business/clinic/").is_some() {
                ("404 Not Found", r#"{"message":"Clinic not found"}"#.into())
            } else {
                stub_api()
                    .unexpected
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("{method} {target}"));
                ("404 Not Found", r#"{"message":"no such endpoint"}"#.into())
            };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// An `onEvent` that fails (like a JS callback that throws) when the payload contains `"fail"`.
struct FailingSink;

#[async_trait]
impl EventSink for FailingSink {
    async fn deliver(&self, _event: &WebhookEvent, payload_json: &str) -> Result<(), String> {
        if payload_json.contains("\"fail\"") {
            Err("callback failed".into())
        } else {
            Ok(())
        }
    }
}

const SIGNED: u8 = 1;
const RESTRICTED_EVENTS: u8 = 1 << 3;
const TOLERANCE: u8 = 1 << 4;
const ON_EVENT: u8 = 1 << 5;
const PIPELINE_FLAGS: u8 = SIGNED | RESTRICTED_EVENTS | TOLERANCE | ON_EVENT;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a current-thread runtime");
    static PIPELINES: RefCell<HashMap<u8, Arc<Pipeline>>> = RefCell::new(HashMap::new());
}

fn pipeline_for(flags: u8) -> Arc<Pipeline> {
    let flags = flags & PIPELINE_FLAGS;
    PIPELINES.with(|cache| {
        cache
            .borrow_mut()
            .entry(flags)
            .or_insert_with(|| {
                let mut options = json!({
                    "clientId": "fuzz-client",
                    "clientSecret": "fuzz-secret",
                    "apiBaseUrl": stub_api().base_url,
                    "requestTimeoutMs": 2000,
                });
                if flags & SIGNED != 0 {
                    options["signingKey"] = json!(["old key", FUZZ_KEY]);
                }
                if flags & RESTRICTED_EVENTS != 0 {
                    options["allowedEvents"] =
                        json!(["prescription.created", "appointment.updated"]);
                }
                if flags & TOLERANCE != 0 {
                    options["signatureToleranceSeconds"] = json!(180);
                }
                let config = SdkConfig::from_options(&options).expect("fuzz config is valid");
                let api = EkaApiClient::new(config.credentials.clone()).expect("API client");
                let sink: Option<Arc<dyn EventSink>> =
                    (flags & ON_EVENT != 0).then(|| Arc::new(FailingSink) as Arc<dyn EventSink>);
                Arc::new(Pipeline::new(Arc::new(config), api, None, None, sink))
            })
            .clone()
    })
}

/// `pipeline` target. Input: `<flags byte> <header> 0xFF <body>`. Flags: bit 0 signing key
/// configured; bits 1-2 the header sent (0 the fuzzed one, 1 a valid signature of the raw body,
/// 2 of its canonical form, 3 the fuzzed items followed by a valid one); bit 3 a restricted
/// `allowedEvents`; bit 4 `signatureToleranceSeconds: 180`; bit 5 an `onEvent` that throws on
/// `"fail"`; bit 6 no header at all. The Eka Care API is the loopback stub above. Checks that
/// `Pipeline::handle_bytes` (the standalone server's door) never panics, answers one of
/// 200/400/403/500/502 with a JSON object body of the documented shape, and that the status is
/// consistent with the input: correct signatures are never 403, JSON that serde_json accepts is
/// never "Invalid JSON body" and JSON it refuses always 400, 200 only for an allowed event
/// (with exactly the stub's details for appointment events), 502 only for an appointment
/// event, 500 only from `onEvent`, and no request to the API outside its documented endpoints.
pub fn check_pipeline(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (header_bytes, body) = split_input(rest);
    let fuzzed_header = String::from_utf8_lossy(header_bytes);
    let now = signature::unix_now();
    let header_mode = (flags >> 1) & 3;
    let text = std::str::from_utf8(body).ok();
    let canonical = text.and_then(canonical_json::canonicalize);
    let envelope = text.map(envelope::read_envelope);
    let valid_header = match header_mode {
        1 => Some(signature::generate_header(body, FUZZ_KEY, now)),
        2 => canonical
            .as_ref()
            .map(|c| signature::generate_header(c, FUZZ_KEY, now)),
        3 => Some(format!(
            "{fuzzed_header},{}",
            signature::generate_header(body, FUZZ_KEY, now)
        )),
        _ => None,
    };
    let header: Option<&str> = if flags & (1 << 6) != 0 {
        None
    } else {
        Some(valid_header.as_deref().unwrap_or(&fuzzed_header))
    };
    let correctly_signed = match header_mode {
        1 | 2 => valid_header.is_some(),
        3 => fuzzed_header.split(',').all(|item| item.contains('=')),
        _ => false,
    } && header.is_some();

    let pipeline = pipeline_for(flags);
    let result = RUNTIME.with(|rt| rt.block_on(pipeline.handle_bytes(body, header)));

    let status = result.status;
    assert!(
        [200, 400, 403, 500, 502].contains(&status),
        "status {status}"
    );
    let body_object = result
        .body
        .as_object()
        .expect("the result body is a JSON object");
    if status == 200 {
        let event = result.event.as_ref().expect("a 200 carries the event");
        assert!(result.error.is_none());
        assert_eq!(body_object.get("success"), Some(&Value::Bool(true)));
        assert_eq!(
            body_object.get("event"),
            Some(&Value::String(event.event_type.clone()))
        );
        let expected_keys = if is_appointment_event(&event.event_type) {
            let details = |text: &str| serde_json::from_str::<Value>(text).expect("stub JSON");
            assert_eq!(
                body_object.get("appointmentDetails"),
                Some(&details(STUB_APPOINTMENT))
            );
            assert_eq!(
                body_object.get("patientDetails"),
                Some(&details(STUB_PATIENT))
            );
            assert_eq!(
                body_object.get("doctorDetails"),
                Some(&details(STUB_DOCTOR))
            );
            let id = envelope
                .clone()
                .and_then(Result::ok)
                .and_then(|e| e.appointment_id);
            assert!(
                !id.as_deref().unwrap_or_default().contains("missing"),
                "the stub has no appointment {id:?}, yet 200"
            );
            5
        } else {
            2
        };
        assert_eq!(
            body_object.len(),
            expected_keys,
            "success body {}",
            result.body
        );
        let allowed: &[&str] = if flags & RESTRICTED_EVENTS != 0 {
            &["prescription.created", "appointment.updated"]
        } else {
            &SUPPORTED_EVENTS
        };
        assert!(
            allowed.contains(&event.event_type.as_str()),
            "{} is not allowed",
            event.event_type
        );
        if flags & ON_EVENT != 0 {
            assert!(
                !text.unwrap_or_default().contains("\"fail\""),
                "onEvent threw, yet 200"
            );
        }
    } else {
        assert!(result.event.is_none());
        let error = result
            .error
            .as_deref()
            .expect("a failure carries its error");
        assert_eq!(body_object.len(), 1, "failure body {}", result.body);
        let public = body_object
            .get("error")
            .and_then(Value::as_str)
            .expect("failure body has an error string");
        if status == 500 {
            assert_eq!(public, pipeline::ON_EVENT_FAILED);
            assert_eq!(error, "callback failed");
            assert!(flags & ON_EVENT != 0, "500 without an onEvent");
        } else {
            assert_eq!(public, error);
        }
        if status == 403 {
            assert!(flags & SIGNED != 0, "403 without a signing key");
            assert!(
                !correctly_signed,
                "a correctly signed request was refused: {error}"
            );
        }
        if status == 502 {
            assert!(
                error.starts_with("Failed to fetch appointment details: "),
                "{error}"
            );
            let event = envelope.clone().and_then(Result::ok).and_then(|e| e.event);
            assert!(
                event.as_deref().is_some_and(is_appointment_event),
                "502 for event {event:?}"
            );
        }
        if status == 400 {
            let known = [
                pipeline::INVALID_JSON_BODY,
                pipeline::BODY_REQUIRED,
                pipeline::BODY_TOO_DEEP,
                pipeline::MISSING_EVENT,
                pipeline::MISSING_APPOINTMENT_ID,
            ];
            assert!(
                known.contains(&error) || error.starts_with("Event type '"),
                "unexpected 400: {error}"
            );
        }
    }

    let unexpected = std::mem::take(
        &mut *stub_api()
            .unexpected
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    assert!(
        unexpected.is_empty(),
        "requests outside the documented endpoints: {unexpected:?}"
    );

    // The body's fate, judged independently by serde_json's grammar over UTF-8 text (`from_slice`
    // would let invalid UTF-8 through inside strings it skips; the pipeline refuses it, as
    // Python's `json.loads` does).
    let serde_accepts = std::str::from_utf8(body)
        .is_ok_and(|text| serde_json::from_str::<IgnoredAny>(text).is_ok());
    if serde_accepts {
        assert_ne!(
            result.error.as_deref(),
            Some(pipeline::INVALID_JSON_BODY),
            "serde_json parses this body"
        );
    } else {
        assert_eq!(status, 400, "a body serde_json refuses answered {status}");
    }
}
