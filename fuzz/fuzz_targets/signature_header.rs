#![no_main]
//! See `check_signature_header` in `../src/checks.rs` for the input layout and the properties.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eka_webhook_core_fuzz::check_signature_header(data));
