//! The core's error type. Each variant has a stable code that the binding exposes as
//! `error.code` in JS. Messages never contain secrets.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CoreError {
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    EkaApi(#[from] crate::api_client::ApiError),
    #[error("{0}")]
    Persistence(#[from] crate::persistence::PersistenceError),
    #[error("{0}")]
    PersistenceNotConfigured(String),
    #[error("{0}")]
    Server(String),
    #[error("{0}")]
    Reminder(String),
    #[error("{0}")]
    Closed(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    /// Stable, documented codes; JS users switch on these, so never rename one.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::InvalidConfig(_) => "ERR_INVALID_CONFIG",
            CoreError::InvalidArgument(_) => "ERR_INVALID_ARGUMENT",
            CoreError::EkaApi(_) => "ERR_EKA_API",
            CoreError::Persistence(_) => "ERR_PERSISTENCE",
            CoreError::PersistenceNotConfigured(_) => "ERR_PERSISTENCE_NOT_CONFIGURED",
            CoreError::Server(_) => "ERR_SERVER",
            CoreError::Reminder(_) => "ERR_REMINDER",
            CoreError::Closed(_) => "ERR_CLOSED",
            CoreError::Internal(_) => "ERR_INTERNAL",
        }
    }
}
