//! Errors of connectors and of the HTTP toolkit, classified by what should happen next.

use std::time::Duration;

/// What should happen after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Transient (5xx, timeout, reset, rate limit): try again later.
    Retry,
    /// Will not go away by itself (bad credentials, missing permission, bad configuration).
    NeedsHuman,
    /// One record is bad; skip it (quarantine) and go on.
    BadRecord,
}

/// An error from a connector or the HTTP toolkit. Its message never contains a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConnectorError {
    /// What should happen next.
    pub class: ErrorClass,
    /// What went wrong, for people.
    pub message: String,
    /// HTTP status, when the error came from a response.
    pub status: Option<u16>,
    /// How long the vendor asked us to wait, when it said.
    pub retry_after: Option<Duration>,
}

impl ConnectorError {
    /// A new error of `class`.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self { class, message: message.into(), status: None, retry_after: None }
    }

    /// A transient error.
    pub fn retry(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Retry, message)
    }

    /// An error that needs a person to act.
    pub fn needs_human(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::NeedsHuman, message)
    }

    /// A bad record.
    pub fn bad_record(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::BadRecord, message)
    }

    /// Sets the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
}
