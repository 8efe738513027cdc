//! Kafka's network layer, shared by the broker and the client.
//!
//! The pieces of Kafka's `org.apache.kafka.common.network` package:
//!
//! - [`Selector`]: the only place that touches `mio`. Channels are registered under a
//!   connection id; `poll` performs the I/O and leaves completed receives, completed sends,
//!   new connections and disconnections (with the reason) to be drained.
//! - [`KafkaChannel`]: a transport, an authenticator, the principal, the receive being
//!   assembled and the send being written, and the mute state that keeps one request in flight
//!   per connection on the server.
//! - [`NetworkReceive`] and [`NetworkSend`]: size-prefixed frame assembly across any number of
//!   partial reads, and vectored / zero-copy (sendfile) writes that survive partial writes.
//! - [`MemoryPool`]: the bounded byte budget receives are taken from
//!   (`queued.max.request.bytes`); when it is empty, channels wait muted instead of growing.
//! - [`transport`]: the [`TransportLayer`] trait with plaintext and TLS (rustls) layers.
//! - [`auth`]: SASL authenticators (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) speaking Kafka's
//!   SaslHandshake/SaslAuthenticate framing, on both sides.
//!
//! Pure logic (frame assembly, mute state, the SASL exchange) takes its input as arguments and
//! has no clock of its own: callers pass `now`, so tests drive it byte by byte.
//!
//! # Example: assemble a frame
//!
//! ```
//! use kafka_network::{MemoryPool, NetworkReceive, ReadStatus};
//!
//! let pool = MemoryPool::bounded(1 << 20);
//! let mut receive = NetworkReceive::new(1024);
//! // A real channel reads from its transport; any `std::io::Read` works here.
//! let mut wire: &[u8] = &[0, 0, 0, 3, b'a', b'b', b'c'];
//! assert_eq!(receive.read_from(&mut wire, &pool)?, ReadStatus::Complete);
//! assert_eq!(receive.payload().as_deref(), Some(&b"abc"[..]));
//! # Ok::<(), kafka_network::Error>(())
//! ```

mod api_versions;
pub mod auth;
mod builders;
mod channel;
mod error;
mod memory_pool;
mod mute;
mod principal;
mod receive;
mod selector;
mod send;
pub mod transport;

pub use api_versions::AdvertisedApis;
pub use builders::{AuthMode, SecureChannelBuilder, TlsMode};
pub use channel::{
    AuthenticatorFactory, ChannelBuilder, ChannelState, KafkaChannel, PlaintextChannelBuilder,
};
pub use error::{DisconnectReason, Error, Result};
pub use memory_pool::{MemoryPool, PooledBuffer};
pub use mute::{ChannelMuteEvent, ChannelMuteState};
pub use principal::KafkaPrincipal;
pub use receive::{NetworkReceive, ReadStatus};
pub use selector::{ConnectionId, Selector, SelectorConfig};
pub use send::{FileRegion, NetworkSend, SendPart};
pub use transport::TransportLayer;
