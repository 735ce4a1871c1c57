//! Failures the SDK deals with on its own but that the application must be able to see without
//! `debug`: a schedule write dropped, the retry queue full, a write given up, a reminder that
//! failed, was missed or could not reach its store. Each is logged as an `[ERROR]` and handed to
//! a [`FaultSink`], which the binding turns into `process.emitWarning` and the `onError` hook.

use std::sync::Arc;

use crate::error::codes;
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
    /// A durable reminder's attempt failed (its handler threw or the fetch failed); it will be
    /// tried again.
    ReminderRetry,
    /// A durable reminder's last attempt failed: it is `failed` for good.
    ReminderFailed,
    /// A durable reminder was found too late (`onMissed: 'skip'`): it is `missed`.
    ReminderMissed,
    /// A `scheduleReminder` fire could not fetch the appointment's details: its callback was
    /// not called.
    ReminderFetchFailed,
    /// A `scheduleReminder` callback threw or rejected.
    ReminderCallbackFailed,
    /// The reminders' store failed: polling, recording a fire, or following an appointment.
    ReminderStore,
}

impl FaultKind {
    /// The stable, precise code the application switches on (`error.fault`, the warning's
    /// `code`).
    pub fn code(self) -> &'static str {
        match self {
            FaultKind::WriteDropped => "EKA_WRITE_DROPPED",
            FaultKind::QueueFull => "EKA_QUEUE_FULL",
            FaultKind::WriteGaveUp => "EKA_WRITE_GAVE_UP",
            FaultKind::ReminderRetry => "EKA_REMINDER_RETRY",
            FaultKind::ReminderFailed => "EKA_REMINDER_FAILED",
            FaultKind::ReminderMissed => "EKA_REMINDER_MISSED",
            FaultKind::ReminderFetchFailed => "EKA_REMINDER_FETCH_FAILED",
            FaultKind::ReminderCallbackFailed => "EKA_REMINDER_CALLBACK_FAILED",
            FaultKind::ReminderStore => "EKA_REMINDER_STORE",
        }
    }

    /// The SDK error code of its kind (`error.code`): one of the core's error codes.
    pub fn error_code(self) -> &'static str {
        match self {
            FaultKind::WriteDropped | FaultKind::QueueFull | FaultKind::WriteGaveUp => {
                codes::PERSISTENCE
            }
            FaultKind::ReminderRetry
            | FaultKind::ReminderFailed
            | FaultKind::ReminderMissed
            | FaultKind::ReminderFetchFailed
            | FaultKind::ReminderCallbackFailed
            | FaultKind::ReminderStore => codes::REMINDER,
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

    /// Logs it, and hands it to the sink. `message` names ids only (no secret, no patient data).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_faults_are_persistence_errors_and_reminder_faults_reminder_errors() {
        let codes = |kind: FaultKind| (kind.code(), kind.error_code());
        assert_eq!(
            codes(FaultKind::QueueFull),
            ("EKA_QUEUE_FULL", "ERR_PERSISTENCE")
        );
        assert_eq!(
            codes(FaultKind::ReminderMissed),
            ("EKA_REMINDER_MISSED", "ERR_REMINDER")
        );
        assert_eq!(
            codes(FaultKind::ReminderStore),
            ("EKA_REMINDER_STORE", "ERR_REMINDER")
        );
    }
}
