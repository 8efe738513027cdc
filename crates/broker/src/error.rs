//! The broker's error type.

/// An error starting or running the broker.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Keys that matter for security or durability are set to values this broker does not
    /// honour: it refuses to start rather than run without what they ask for.
    #[error("refusing to start: {} set but not implemented by this broker (security or durability would silently differ from what it asks); remove it, or see docs/configuration.md", keys.join(", "))]
    Unhonoured {
        /// The keys.
        keys: Vec<String>,
    },
    /// A file or socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The log failed.
    #[error(transparent)]
    Storage(#[from] kafka_storage::Error),
    /// The socket server failed.
    #[error(transparent)]
    Server(#[from] kafka_server::Error),
    /// The network layer failed (TLS or SASL setup).
    #[error(transparent)]
    Network(#[from] kafka_network::Error),
    /// Broker metadata on disk is unreadable.
    #[error("corrupt metadata in {path}: {reason}")]
    Metadata {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// A `Result` with the broker's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
