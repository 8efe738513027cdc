//! The TLS transport: rustls driven by socket readiness, as Kafka's `SslTransportLayer` drives
//! an `SSLEngine`.
//!
//! [`SslTransportLayer`] owns a non-blocking byte stream and a rustls connection. Everything
//! rustls needs to put on the wire stays in rustls' outgoing buffer until the socket takes it
//! (a partial socket write loses nothing); everything read from the socket goes through a
//! read buffer of ours into rustls, so one `read(2)` can bring in many TLS records. Decrypted
//! bytes the caller has not read yet, and encrypted bytes read but not yet decrypted, produce
//! no new socket readiness: [`SslTransportLayer::has_buffered_read`] reports them, so the
//! selector keeps reading that channel without waiting for an event.
//!
//! The layer is generic over the stream so tests drive it through an in-memory pipe with any
//! chunk size; the [`TransportLayer`](super::TransportLayer) implementation is for streams
//! that are also mio sources and file descriptors (a `mio::net::TcpStream` in practice).
//!
//! Configuration follows Kafka's `ssl.*` keys for PEM key and trust stores:
//! [`SslServerConfigBuilder`] and [`SslClientConfigBuilder`] (or their `from_properties`).
//!
//! The pieces, each depending only on those above it:
//!
//! - `principal`: who the peer is, from its certificate ([`certificate_subject`]), and the
//!   `ssl.principal.mapping.rules` check.
//! - `verifier`: how certificates are verified (client certificates against the trust store;
//!   server certificates with or without host name checks).
//! - `config`: the `ssl.*` settings and the builders turning them into rustls configurations.
//! - `transport`: [`SslTransportLayer`], one connection over a built configuration.

mod config;
mod principal;
mod transport;
mod verifier;

pub use config::{
    ClientAuth, EndpointIdentification, SslClientConfig, SslClientConfigBuilder, SslServerConfig,
    SslServerConfigBuilder, TlsVersion,
};
pub use principal::certificate_subject;
pub use transport::SslTransportLayer;
