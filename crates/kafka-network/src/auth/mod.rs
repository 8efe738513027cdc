//! Authenticators: what runs on a channel after the transport is ready and before application
//! requests flow.
//!
//! An [`Authenticator`] is pure logic: it is handed complete frames (payloads without their
//! 4-byte size prefix) and the current time, and answers with frames to send. The channel does
//! the I/O. This keeps the SASL exchange testable byte by byte, on either side.
//!
//! - [`NoAuthenticator`]: PLAINTEXT and SSL listeners.
//! - [`SaslServerAuthenticator`] / [`SaslClientAuthenticator`]: Kafka's SASL framing
//!   (ApiVersions, SaslHandshake v0/v1, SaslAuthenticate v0–v2 or raw tokens) with the
//!   mechanisms of [`SaslMechanism`]: PLAIN ([`plain`]), SCRAM-SHA-256 and SCRAM-SHA-512
//!   ([`scram`]), built on the `sasl` crate.
//! - [`credentials`]: where the server finds users ([`CredentialStore`],
//!   [`InMemoryCredentialStore`], [`FileCredentialStore`] and its file format).

use std::fmt;
use std::time::Instant;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::principal::KafkaPrincipal;

pub mod credentials;
mod frames;
mod mechanism;
pub mod plain;
pub mod sasl_client;
pub mod sasl_server;
pub mod scram;
mod scram_hash;

pub use credentials::{
    credential_lines, CredentialStore, FileCredentialStore, InMemoryCredentialStore,
    ScramCredential,
};
pub use mechanism::{SaslMechanism, ScramMechanism};
pub use sasl_client::{SaslClientAuthenticator, SaslClientConfig};
pub use sasl_server::{ApiVersionsSupplier, SaslServerAuthenticator, SaslServerConfig};

/// The result of handling one received frame.
#[derive(Debug, Default)]
pub struct AuthStep {
    /// Frames to send, in order (payloads; the channel adds the size prefix).
    pub sends: Vec<Bytes>,
    /// If set, authentication failed: the channel sends `sends` (Kafka's error response) and
    /// then closes the connection with this error.
    pub failure: Option<Error>,
}

impl AuthStep {
    /// A step that sends `frames` and carries on.
    pub fn send(frames: Vec<Bytes>) -> Self {
        AuthStep {
            sends: frames,
            failure: None,
        }
    }
}

/// A channel's authentication exchange.
pub trait Authenticator: Send + fmt::Debug {
    /// Frames to send before anything is received: a client's first request; nothing on a
    /// server.
    fn start(&mut self, now: Instant) -> Result<Vec<Bytes>>;

    /// Handles one complete frame received while authenticating.
    fn handle_receive(&mut self, frame: Bytes, now: Instant) -> Result<AuthStep>;

    /// True once authentication has succeeded.
    fn complete(&self) -> bool;

    /// The authenticated principal, once complete.
    fn principal(&self) -> Option<KafkaPrincipal>;

    /// When the authenticated session expires, if the mechanism set a lifetime (KIP-368).
    fn session_expiration(&self) -> Option<Instant> {
        None
    }

    /// The largest frame accepted while authenticating, if smaller than the channel's maximum
    /// (Kafka's `sasl.server.max.receive.size`: an unauthenticated peer must not make the
    /// broker allocate a full request's worth of memory).
    fn max_receive_size(&self) -> Option<usize> {
        None
    }
}

/// The authenticator of listeners without SASL (PLAINTEXT, SSL): complete at once, with the
/// principal the transport established.
#[derive(Debug, Clone)]
pub struct NoAuthenticator {
    principal: KafkaPrincipal,
}

impl NoAuthenticator {
    /// Completes with `principal` (from `TransportLayer::peer_principal`).
    pub fn new(principal: KafkaPrincipal) -> Self {
        NoAuthenticator { principal }
    }
}

impl Authenticator for NoAuthenticator {
    fn start(&mut self, _now: Instant) -> Result<Vec<Bytes>> {
        Ok(Vec::new())
    }

    fn handle_receive(&mut self, _frame: Bytes, _now: Instant) -> Result<AuthStep> {
        Err(Error::IllegalSaslState(
            "no authentication is in progress".into(),
        ))
    }

    fn complete(&self) -> bool {
        true
    }

    fn principal(&self) -> Option<KafkaPrincipal> {
        Some(self.principal.clone())
    }
}
