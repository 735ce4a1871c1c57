//! The SDK's log output, silent unless `debug` is on (process-global, last SDK constructed wins,
//! as in the Python SDK). Lines go to stdout with the Python SDK's `[WARN]` / `[ERROR]` prefixes.
//! Callers must never format a secret into a message; `Secret` makes that hard to do by mistake.
//!
//! A failed write (stdout closed: EPIPE, a full disk) is ignored: logging must never take down
//! the webhook or task that logs (`println!` would panic).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static DEBUG_ENABLED: AtomicBool = AtomicBool::new(false);

pub fn set_debug(enabled: bool) {
    DEBUG_ENABLED.store(enabled, Ordering::Relaxed);
}

pub fn is_debug() -> bool {
    DEBUG_ENABLED.load(Ordering::Relaxed)
}

fn write_line(prefix: &str, message: &str) {
    if is_debug() {
        let _ = writeln!(std::io::stdout().lock(), "{prefix}{message}");
    }
}

pub fn log(message: &str) {
    write_line("", message);
}

pub fn warn(message: &str) {
    write_line("[WARN] ", message);
}

pub fn error(message: &str) {
    write_line("[ERROR] ", message);
}
