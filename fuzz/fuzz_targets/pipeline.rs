#![no_main]
//! See `check_pipeline` in `../src/checks.rs` for the input layout and the properties.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eka_webhook_core_fuzz::check_pipeline(data));
