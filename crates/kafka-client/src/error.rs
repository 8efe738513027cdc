//! The crate's error type.

use std::sync::Arc;

use kafka_protocol::ErrorCode;

/// An error from the client.
///
/// Cloneable: one failed batch fails the handle of every record in it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The broker answered with a Kafka error code.
    #[error("{code}: {}", message.as_deref().unwrap_or(code.message()))]
    Kafka {
        /// The code on the wire.
        code: ErrorCode,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },
    /// The connection failed or closed before the response arrived.
    #[error("network error: {0}")]
    Network(Arc<kafka_network::Error>),
    /// The connection to a node was lost (closed by the peer, refused, reset).
    #[error("disconnected from node {node}: {reason}")]
    Disconnected {
        /// The node id (or `-1`, `-2`, ... for bootstrap servers).
        node: i32,
        /// Why.
        reason: String,
    },
    /// A message could not be encoded or decoded.
    #[error("protocol error: {0}")]
    Protocol(#[from] kafka_protocol::Error),
    /// No answer within the configured time (`request.timeout.ms`, `max.block.ms`,
    /// `delivery.timeout.ms`, `default.api.timeout.ms`); the text says which.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A configuration key is unknown or its value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The broker does not support what was asked (no common version of an API).
    #[error("unsupported by the broker: {0}")]
    UnsupportedVersion(String),
    /// The record is larger than `max.request.size` or `buffer.memory`.
    #[error("record of {size} bytes exceeds {limit} ({what})")]
    RecordTooLarge {
        /// The record's serialized size.
        size: usize,
        /// The limit it exceeds.
        limit: usize,
        /// Which setting sets the limit.
        what: &'static str,
    },
    /// Authentication with a node failed (SASL credentials or mechanism refused, TLS
    /// certificate rejected); trying again will not help (Java's `AuthenticationException`).
    #[error("{0}")]
    Authentication(String),
    /// The client (producer, consumer, admin) was closed.
    #[error("the client is closed")]
    Closed,
    /// Anything else the client detected; the text says what.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An error for a Kafka error code without a message.
    pub fn kafka(code: ErrorCode) -> Self {
        Error::Kafka {
            code,
            message: None,
        }
    }

    /// An error for a Kafka error code with the broker's message.
    pub fn kafka_with_message(code: ErrorCode, message: Option<String>) -> Self {
        Error::Kafka { code, message }
    }

    /// The Kafka error code, if the error came from the broker.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether retrying the same operation may succeed (Kafka's `RetriableException`s,
    /// disconnections and request timeouts).
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Kafka { code, .. } => code.is_retriable(),
            Error::Network(_) | Error::Disconnected { .. } => true,
            Error::Timeout(_) => true,
            _ => false,
        }
    }
}

impl From<kafka_network::Error> for Error {
    fn from(e: kafka_network::Error) -> Self {
        Error::Network(Arc::new(e))
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
