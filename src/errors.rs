//! The one place core errors become JS errors. napi's async bridge keeps only a message, so the
//! stable code travels as a `[CODE] ` prefix that the JS glue (`lib/native.js`) moves into
//! `error.code`.

use eka_webhook_core::error::CoreError;
use napi_derive::napi;

pub fn to_js_error(err: CoreError) -> napi::Error {
    napi::Error::new(
        napi::Status::GenericFailure,
        format!("[{}] {err}", err.code()),
    )
}

pub fn invalid_argument(message: impl Into<String>) -> napi::Error {
    to_js_error(CoreError::InvalidArgument(message.into()))
}

/// The codes of the errors the JS glue raises itself, taken from the core's error enum so that
/// the codes have one source.
#[napi(object)]
pub struct GlueErrorCodes {
    pub invalid_config: String,
    pub invalid_argument: String,
}

#[napi]
pub fn glue_error_codes() -> GlueErrorCodes {
    GlueErrorCodes {
        invalid_config: CoreError::InvalidConfig(String::new()).code().to_string(),
        invalid_argument: CoreError::InvalidArgument(String::new()).code().to_string(),
    }
}
