//! Failures the SDK deals with on its own but that the application must be able to see without
//! `debug`: a schedule write dropped, the retry queue full, a write given up. Each is logged as an
//! `[ERROR]` and handed to a [`FaultSink`], which the binding turns into `process.emitWarning`
//! and the `onError` hook.

use std::sync::Arc;

use crate::logger;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A schedule write was dropped: refused for its content (by the SDK's length check or by
    /// the database), refused for another lasting reason, or it panicked.
    WriteDropped,
    /// The retry queue was full, so a write waiting for the database was dropped.
    QueueFull,
    /// A write kept failing for a transient reason for longer than the retry queue waits.
    WriteGaveUp,
}

impl FaultKind {
    /// The stable code the application switches on (`error.code`, the warning's `code`).
    pub fn code(self) -> &'static str {
        match self {
            FaultKind::WriteDropped => "EKA_WRITE_DROPPED",
            FaultKind::QueueFull => "EKA_QUEUE_FULL",
            FaultKind::WriteGaveUp => "EKA_WRITE_GAVE_UP",
        }
    }
}

/// One failure, for people and programs. The message names ids and the database's reason,
/// never a secret or a patient's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub appointment_id: Option<String>,
    pub message: String,
}

pub trait FaultSink: Send + Sync {
    /// Called on the write path: must return at once.
    fn report(&self, fault: Fault);
}

/// Where faults go: the `[ERROR]` log always, and the sink when there is one.
#[derive(Clone, Default)]
pub struct Faults(Option<Arc<dyn FaultSink>>);

impl Faults {
    pub fn new(sink: Option<Arc<dyn FaultSink>>) -> Self {
        Self(sink)
    }

    pub fn report(&self, kind: FaultKind, appointment_id: Option<&str>, message: String) {
        logger::error(&format!("WebhookSDK: {message}"));
        if let Some(sink) = &self.0 {
            sink.report(Fault {
                kind,
                appointment_id: appointment_id.map(str::to_string),
                message,
            });
        }
    }
}
