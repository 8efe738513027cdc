//! The crate's error type and why channels close.

use std::io;

/// An error on a channel or in the network layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// A frame's size prefix exceeds the channel's maximum (`socket.request.max.bytes`).
    #[error("frame of {size} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The size the prefix declared.
        size: usize,
        /// The channel's maximum.
        max: usize,
    },
    /// A frame's size prefix is negative.
    #[error("invalid negative frame size {0}")]
    NegativeFrameSize(i32),
    /// The peer closed the connection.
    #[error("connection closed by peer")]
    PeerClosed,
    /// The TLS layer failed (handshake, certificate, or record error).
    #[error("TLS error: {0}")]
    Tls(String),
    /// Authentication failed; the message is what the peer was told.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The peer broke the authentication protocol (wrong request, wrong state).
    #[error("illegal SASL state: {0}")]
    IllegalSaslState(String),
    /// The peer asked for a SASL mechanism that is not enabled.
    #[error("unsupported SASL mechanism {0}")]
    UnsupportedSaslMechanism(String),
    /// A Kafka message could not be decoded or encoded.
    #[error("protocol error: {0}")]
    Protocol(#[from] kafka_protocol::Error),
    /// The connection id is not known to the selector.
    #[error("unknown connection {0}")]
    UnknownConnection(String),
    /// A send was queued while another is still in progress.
    #[error("a send is already in progress on connection {0}")]
    SendInProgress(String),
    /// Configuration (certificates, credentials, mechanisms) is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a channel was closed, as reported by `Selector::disconnected`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The peer closed the connection (end of stream).
    PeerClosed,
    /// Closed locally by `Selector::close`.
    Local,
    /// No traffic for longer than `connections.max.idle.ms`.
    Idle,
    /// Establishing the connection failed (client side).
    ConnectFailed(String),
    /// The TLS or SASL handshake failed.
    AuthenticationFailed(String),
    /// A frame was invalid (size out of bounds) or the socket failed.
    Error(String),
}
