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

/// Stable, documented codes; JS users switch on these, so never rename one.
pub mod codes {
    pub const INVALID_CONFIG: &str = "ERR_INVALID_CONFIG";
    pub const INVALID_ARGUMENT: &str = "ERR_INVALID_ARGUMENT";
    pub const EKA_API: &str = "ERR_EKA_API";
    pub const PERSISTENCE: &str = "ERR_PERSISTENCE";
    pub const PERSISTENCE_NOT_CONFIGURED: &str = "ERR_PERSISTENCE_NOT_CONFIGURED";
    pub const SERVER: &str = "ERR_SERVER";
    pub const REMINDER: &str = "ERR_REMINDER";
    pub const CLOSED: &str = "ERR_CLOSED";
    pub const INTERNAL: &str = "ERR_INTERNAL";
}

impl CoreError {
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::InvalidConfig(_) => codes::INVALID_CONFIG,
            CoreError::InvalidArgument(_) => codes::INVALID_ARGUMENT,
            CoreError::EkaApi(_) => codes::EKA_API,
            CoreError::Persistence(_) => codes::PERSISTENCE,
            CoreError::PersistenceNotConfigured(_) => codes::PERSISTENCE_NOT_CONFIGURED,
            CoreError::Server(_) => codes::SERVER,
            CoreError::Reminder(_) => codes::REMINDER,
            CoreError::Closed(_) => codes::CLOSED,
            CoreError::Internal(_) => codes::INTERNAL,
        }
    }
}
