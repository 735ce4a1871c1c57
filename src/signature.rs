//! `verifySignature` and `generateSignatureHeader`.

use std::borrow::Cow;

use eka_webhook_core::secret::Secret;
use eka_webhook_core::signature::{self, unix_now, VerifyOptions};
use napi::bindgen_prelude::{BufferSlice, Either};
use napi_derive::napi;

use crate::errors::invalid_argument;
use crate::js_text::JsText;

#[napi(object)]
pub struct NativeVerifyResult {
    pub valid: bool,
    pub reason: Option<String>,
}

/// The bytes of a body handed over by the JS glue: a string or Buffer as received, or
/// `JSON.stringify` output.
fn body_bytes<'a>(body: &'a Either<JsText, BufferSlice>) -> &'a [u8] {
    match body {
        Either::A(text) => text.as_bytes(),
        Either::B(buffer) => buffer,
    }
}

fn whole_seconds(value: f64, what: &str) -> napi::Result<i64> {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e15 {
        Ok(value as i64)
    } else {
        Err(invalid_argument(format!(
            "{what} must be an integer number of seconds"
        )))
    }
}

#[napi(catch_unwind)]
pub fn native_verify_signature(
    #[napi(ts_arg_type = "string | Buffer")] body: Either<JsText, BufferSlice>,
    signature_header: Option<String>,
    signing_keys: Vec<String>,
    tolerance_seconds: Option<f64>,
    now: Option<f64>,
) -> napi::Result<NativeVerifyResult> {
    let tolerance = tolerance_seconds
        .map(|t| whole_seconds(t, "toleranceSeconds"))
        .transpose()?
        .map(|t| {
            u64::try_from(t).map_err(|_| invalid_argument("toleranceSeconds must not be negative"))
        })
        .transpose()?;
    let now = now
        .map(|n| whole_seconds(n, "now"))
        .transpose()?
        .unwrap_or_else(unix_now);
    let keys: Vec<Secret> = signing_keys
        .into_iter()
        .filter(|k| !k.is_empty())
        .map(Secret::new)
        .collect();
    let options = VerifyOptions {
        tolerance_seconds: tolerance,
        now,
    };
    let outcome = signature::verify(
        signature_header.as_deref(),
        &keys,
        options,
        [Cow::Borrowed(body_bytes(&body))],
    );
    Ok(match outcome {
        Ok(()) => NativeVerifyResult {
            valid: true,
            reason: None,
        },
        Err(failure) => NativeVerifyResult {
            valid: false,
            reason: Some(failure.reason().to_string()),
        },
    })
}

#[napi(catch_unwind)]
pub fn native_generate_signature_header(
    #[napi(ts_arg_type = "string | Buffer")] body: Either<JsText, BufferSlice>,
    signing_key: String,
    timestamp: Option<f64>,
) -> napi::Result<String> {
    let timestamp = timestamp
        .map(|t| whole_seconds(t, "timestamp"))
        .transpose()?
        .unwrap_or_else(unix_now);
    Ok(signature::generate_header(
        body_bytes(&body),
        &signing_key,
        timestamp,
    ))
}
