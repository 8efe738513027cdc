//! Channel builders for each security protocol, as Kafka's `ChannelBuilders`: which transport
//! wraps a new socket, and which authenticator runs once the transport is ready.
//!
//! | protocol | transport | authenticator |
//! |---|---|---|
//! | `PLAINTEXT` | plaintext | none (`User:ANONYMOUS`) |
//! | `SSL` | TLS | none (client certificate subject, or `User:ANONYMOUS`) |
//! | `SASL_PLAINTEXT` | plaintext | SASL |
//! | `SASL_SSL` | TLS | SASL |

use std::sync::Arc;

use mio::net::TcpStream;

use crate::auth::{
    NoAuthenticator, SaslClientAuthenticator, SaslClientConfig, SaslServerAuthenticator,
    SaslServerConfig,
};
use crate::channel::{AuthenticatorFactory, ChannelBuilder};
use crate::error::Result;
use crate::transport::{
    PlaintextTransportLayer, SslClientConfig, SslServerConfig, SslTransportLayer, TransportLayer,
};

/// The TLS side of a builder.
#[derive(Debug, Clone)]
pub enum TlsMode {
    /// No TLS.
    None,
    /// Accepting TLS connections.
    Server(Arc<SslServerConfig>),
    /// Making TLS connections (the server name is the host connected to).
    Client(Arc<SslClientConfig>),
}

/// The authentication side of a builder.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// No SASL: the transport's principal.
    None,
    /// SASL server (broker).
    SaslServer(Arc<SaslServerConfig>),
    /// SASL client.
    SaslClient(SaslClientConfig),
}

/// Builds channels for one security protocol on one side.
#[derive(Debug, Clone)]
pub struct SecureChannelBuilder {
    tls: TlsMode,
    auth: AuthMode,
}

impl SecureChannelBuilder {
    /// A builder with the given TLS and authentication sides.
    pub fn new(tls: TlsMode, auth: AuthMode) -> Self {
        SecureChannelBuilder { tls, auth }
    }
}

impl ChannelBuilder for SecureChannelBuilder {
    fn build(
        &self,
        _id: crate::ConnectionId,
        stream: TcpStream,
        peer_host: &str,
    ) -> Result<(Box<dyn TransportLayer>, AuthenticatorFactory)> {
        let transport: Box<dyn TransportLayer> = match &self.tls {
            TlsMode::None => Box::new(PlaintextTransportLayer::new(stream)),
            TlsMode::Server(config) => Box::new(SslTransportLayer::server(stream, config)?),
            TlsMode::Client(config) => {
                Box::new(SslTransportLayer::client(stream, config, peer_host)?)
            }
        };
        let factory: AuthenticatorFactory = match &self.auth {
            AuthMode::None => Box::new(|principal| Box::new(NoAuthenticator::new(principal))),
            AuthMode::SaslServer(config) => {
                let config = Arc::clone(config);
                Box::new(move |_principal| Box::new(SaslServerAuthenticator::new(config)))
            }
            AuthMode::SaslClient(config) => {
                // The config was validated when the client was set up; a failure here is a
                // bug in it, reported as a failed authentication rather than a panic.
                let authenticator = SaslClientAuthenticator::new(config.clone())?;
                Box::new(move |_principal| Box::new(authenticator))
            }
        };
        Ok((transport, factory))
    }
}
