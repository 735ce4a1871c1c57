#![no_main]
//! See `eka_webhook_core::fuzz_checks::check_canonical_json` for the input layout and the properties.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eka_webhook_core::fuzz_checks::check_canonical_json(data));
