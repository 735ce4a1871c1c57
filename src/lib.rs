//! napi-rs binding of the Eka Care webhook SDK. Thin by design: JS ↔ Rust conversion, the JS
//! callback bridge and the error mapping; all behaviour lives in `eka-webhook-core`.

// napi-derive compiles its export registration out of test builds, which leaves the exported
// functions looking unused there.
#![cfg_attr(test, allow(dead_code))]

mod callback;
mod errors;
mod js_text;
mod sdk;
mod signature;

use napi_derive::napi;

/// The events the SDK accepts by default.
#[napi]
pub fn supported_events() -> Vec<&'static str> {
    eka_webhook_core::events::SUPPORTED_EVENTS.to_vec()
}

/// The events enriched from the Eka Care API.
#[napi]
pub fn appointment_events() -> Vec<&'static str> {
    eka_webhook_core::events::APPOINTMENT_EVENTS.to_vec()
}

/// The reason telemetry gives a delivery answered 200.
#[napi]
pub fn success_reason() -> &'static str {
    eka_webhook_core::telemetry::OK_REASON
}

/// The schedule table shared with the Python SDK.
#[napi]
pub fn schedule_table_name() -> &'static str {
    eka_webhook_core::persistence::SCHEDULE_TABLE_NAME
}
