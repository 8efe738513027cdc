//! Transport layers: what a channel reads from and writes to.
//!
//! Every [`TransportLayer`] provides, whatever it wraps:
//!
//! - **ready / handshake**: [`TransportLayer::ready`] is true once the transport can carry
//!   application data; until then the channel calls [`TransportLayer::handshake`] whenever the
//!   socket is readable or writable, and registers for [`TransportLayer::handshake_interest`].
//!   Plaintext is ready at once; TLS drives rustls' handshake without blocking.
//! - **read**: non-blocking; `Ok(0)` is end of stream, `ErrorKind::WouldBlock` means no data.
//!   A transport that buffers decrypted data says so with
//!   [`TransportLayer::has_buffered_read`], because that data produces no new socket
//!   readiness and would otherwise be stranded.
//! - **write**: non-blocking vectored writes of application data; a transport that buffers
//!   encrypted bytes it could not yet put on the socket reports them with
//!   [`TransportLayer::has_pending_writes`] and pushes them with
//!   [`TransportLayer::flush_pending`].
//! - **transfer_from**: copy a region of a file to the peer; plaintext uses `sendfile(2)` so
//!   the bytes never enter user space, TLS must read and encrypt them.
//! - **peer_principal**: who the transport says the peer is (a client certificate's subject
//!   under TLS with client authentication, `User:ANONYMOUS` otherwise).
//! - **close**: say goodbye properly (TLS close_notify) and shut the socket.
//! - **source**: the mio source to register with the selector's poll.

use std::fs::File;
use std::io::{self, IoSlice};

use mio::Interest;

use crate::principal::KafkaPrincipal;

mod plaintext;
#[allow(unsafe_code)]
mod sendfile;
mod ssl;

pub use plaintext::PlaintextTransportLayer;
pub use ssl::{
    certificate_subject, ClientAuth, EndpointIdentification, SslClientConfig,
    SslClientConfigBuilder, SslServerConfig, SslServerConfigBuilder, SslTransportLayer, TlsVersion,
};

/// The security protocol a listener or connection uses, as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    /// No encryption, no authentication.
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL over plaintext.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`).
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Kafka's id (`SecurityProtocol.id`), as broker registrations carry it: PLAINTEXT 0,
    /// SSL 1, SASL_PLAINTEXT 2, SASL_SSL 3.
    pub fn id(self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }

    /// Parses Kafka's name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    /// Whether the protocol uses TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether the protocol authenticates with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// A connection's byte stream, before framing. See the module documentation for the contract.
pub trait TransportLayer: Send + std::fmt::Debug {
    /// True once the transport carries application data.
    fn ready(&self) -> bool;

    /// Advances the handshake as far as the socket allows; `Ok` whether or not it finished
    /// (see [`TransportLayer::ready`]), `Err` if it failed.
    fn handshake(&mut self) -> io::Result<()>;

    /// What the handshake waits for, while not ready.
    fn handshake_interest(&self) -> Interest;

    /// Reads application data.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes application data from several buffers; returns how much was accepted.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;

    /// Sends up to `count` bytes of `file` from `position`; returns how many were sent.
    fn transfer_from(&mut self, file: &File, position: u64, count: usize) -> io::Result<usize>;

    /// Whether [`TransportLayer::transfer_from`] moves file bytes inside the kernel
    /// (`sendfile`) rather than reading them into memory; sends count the bytes of
    /// transports that copy ([`crate::NetworkSend::file_bytes_copied`]).
    fn transfers_without_copy(&self) -> bool {
        false
    }

    /// Data already read from the socket and decoded, waiting to be read.
    fn has_buffered_read(&self) -> bool;

    /// Bytes accepted by `write_vectored` but not yet on the socket.
    fn has_pending_writes(&self) -> bool;

    /// Pushes pending bytes to the socket; true when none remain.
    fn flush_pending(&mut self) -> io::Result<bool>;

    /// The principal the transport established.
    fn peer_principal(&self) -> KafkaPrincipal;

    /// Closes gracefully (TLS close_notify, then shutdown). Errors are ignored: the peer may
    /// already be gone.
    fn close(&mut self);

    /// The mio source to register for readiness.
    fn source(&mut self) -> &mut dyn mio::event::Source;

    /// The TCP socket underneath, to complete a non-blocking connect and read addresses.
    /// Transports over something else (tests' in-memory pipes) return `None`.
    fn tcp_stream(&self) -> Option<&mio::net::TcpStream> {
        None
    }
}

/// Makes any transport readable with `std::io::Read` (for frame assembly).
#[derive(Debug)]
pub struct ReadAdapter<'a, T: ?Sized>(pub &'a mut T);

impl<T: TransportLayer + ?Sized> io::Read for ReadAdapter<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
