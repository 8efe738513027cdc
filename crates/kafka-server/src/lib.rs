//! The broker's reactor, modelled on Kafka's `SocketServer`.
//!
//! ```text
//! client ──TCP──> Acceptor (1 per listener) ──round robin──> Processor[i] (num.network.threads)
//!                                                              │ Selector: frames, header parse, mute
//!                                                              ▼
//!                                   RequestChannel request queue (bounded: queued.max.requests)
//!                                                              ▼
//!                                   handler pool (num.io.threads) ──> RequestHandler (KafkaApis)
//!                                                              ▼
//!                                   response queue of Processor[i] + its waker
//!                                                              ▼
//!                                   Processor[i] writes the response, unmutes the channel
//! ```
//!
//! - [`SocketServer`]: binds the listeners and starts everything in Kafka's order; shuts down
//!   gracefully.
//! - [`RequestHandler`]: what the broker implements. Each request reaches it as a
//!   [`RequestContext`] (connection, principal, listener, header, timings), the typed body and
//!   a move-only [`Responder`] that must answer exactly once (`respond`, `no_response`,
//!   `close`); a handler that waits keeps only the responder and answers from any thread.
//! - [`AdvertisedApis`]: the versions the handler serves (per listener with [`ListenerApis`]),
//!   handed to [`SocketServer::start`] as data; the Processors refuse anything outside them
//!   without involving a handler.
//! - [`ConnectionQuotas`]: `max.connections`, per listener and per IP, and the creation rate.
//! - [`metrics`]: request and network metrics named as Kafka's JMX exporter names them.
//!
//! # Example: an ApiVersions-only server on a free port
//!
//! ```no_run
//! use std::collections::HashMap;
//! use std::sync::Arc;
//! use kafka_protocol::messages::{ApiVersionsResponse, RequestKind, ResponseKind};
//! use kafka_protocol::{ApiKey, VersionRange};
//! use kafka_server::{
//!     AdvertisedApis, RequestContext, RequestHandler, Responder, SocketServer, SocketServerConfig,
//! };
//!
//! struct Versions(AdvertisedApis);
//! impl RequestHandler for Versions {
//!     fn handle(&self, _context: RequestContext, body: RequestKind, responder: Responder) {
//!         match body {
//!             RequestKind::ApiVersions(_) => responder.respond(ResponseKind::ApiVersions(
//!                 ApiVersionsResponse::default().with_api_keys(self.0.entries()),
//!             )),
//!             _ => responder.close(),
//!         }
//!     }
//! }
//!
//! let apis = AdvertisedApis::new([(ApiKey::ApiVersions, VersionRange::new(0, 4))]);
//! let mut config = SocketServerConfig::default();
//! config.listeners[0].port = 0;
//! let server = SocketServer::start(config, apis.clone(), Arc::new(Versions(apis)), HashMap::new())?;
//! println!("listening on {:?}", server.bound_addresses());
//! server.shutdown();
//! # Ok::<(), kafka_server::Error>(())
//! ```

mod acceptor;
pub mod config;
mod error;
mod handler;
pub mod metrics;
mod processor;
mod quotas;
mod request;
mod request_channel;
mod socket_server;

pub use config::{ListenerConfig, SocketServerConfig};
pub use error::{Error, Result};
pub use handler::RequestHandler;
pub use kafka_network::{AdvertisedApis, ConnectionId};
pub use quotas::{ConnectionQuotas, QuotaViolation};
pub use request::{Captured, RequestContext, RequestTimes, Responder, ResponseCapture};
pub use socket_server::{ChannelBuilderFactory, ListenerApis, SocketServer};
