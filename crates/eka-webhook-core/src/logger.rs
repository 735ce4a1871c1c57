//! The SDK's log output, silent unless `debug` is on (process-global, last SDK constructed wins,
//! as in the Python SDK). Lines go to stdout with the Python SDK's `[WARN]` / `[ERROR]` prefixes.
//! Callers must never format a secret into a message; `Secret` makes that hard to do by mistake.

use std::sync::atomic::{AtomicBool, Ordering};

static DEBUG_ENABLED: AtomicBool = AtomicBool::new(false);

pub fn set_debug(enabled: bool) {
    DEBUG_ENABLED.store(enabled, Ordering::Relaxed);
}

pub fn is_debug() -> bool {
    DEBUG_ENABLED.load(Ordering::Relaxed)
}

pub fn log(message: &str) {
    if is_debug() {
        println!("{message}");
    }
}

pub fn warn(message: &str) {
    if is_debug() {
        println!("[WARN] {message}");
    }
}

pub fn error(message: &str) {
    if is_debug() {
        println!("[ERROR] {message}");
    }
}
