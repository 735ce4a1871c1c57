//! `JsText`: a JS string's UTF-8 bytes, converted in one pass (the body, the signature header
//! and the envelope fields every request passes).

use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, TypeName, ValidateNapiValue, ValueType};
use napi::{check_status, sys};

/// A JS string as UTF-8 (lone surrogates become U+FFFD), for the body and signature header
/// every request passes. napi-rs's `String` first asks V8 for the UTF-8 length (a pass over the
/// whole string) and zeroes its buffer; this sizes the buffer from the UTF-16 length instead
/// (known without a pass: at most three bytes per unit) and lets V8 write it once.
pub struct JsText(Vec<u8>);

impl JsText {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text (V8 writes lone surrogates as U+FFFD, so the bytes are UTF-8).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn into_string(self) -> String {
        String::from_utf8(self.0).unwrap_or_default()
    }
}

impl TypeName for JsText {
    fn type_name() -> &'static str {
        "String"
    }

    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ValidateNapiValue for JsText {}

impl FromNapiValue for JsText {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        let mut units = 0;
        // SAFETY: a null buffer asks only for the length in UTF-16 units.
        check_status!(
            unsafe { sys::napi_get_value_string_utf16(env, value, ptr::null_mut(), 0, &mut units) },
            "the body must be a string"
        )?;
        // Three UTF-8 bytes per UTF-16 unit at most (a surrogate pair is two units, four
        // bytes), and one for the terminator napi writes.
        let capacity = units
            .checked_mul(3)
            .and_then(|n| n.checked_add(1))
            .ok_or_else(|| napi::Error::from_reason("the body string is too long"))?;
        let mut bytes = Vec::<u8>::with_capacity(capacity);
        let mut written = 0;
        // SAFETY: the buffer has `capacity` bytes; napi writes at most `capacity - 1` of them
        // and a terminator, and reports how many it wrote before the terminator.
        check_status!(
            unsafe {
                sys::napi_get_value_string_utf8(
                    env,
                    value,
                    bytes.as_mut_ptr().cast(),
                    capacity,
                    &mut written,
                )
            },
            "the body must be a string"
        )?;
        // SAFETY: the first `written` bytes were initialised by napi just above.
        unsafe { bytes.set_len(written.min(capacity)) };
        Ok(JsText(bytes))
    }
}
