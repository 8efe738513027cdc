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
//! - [`RequestHandler`]: what the broker implements; a handler may answer later through a
//!   cloned [`ResponseSender`] without holding a thread.
//! - [`Request`] / [`Response`]: a parsed request with its context and timestamps, and the
//!   action for its Processor (send, nothing, close).
//! - [`ConnectionQuotas`]: `max.connections`, per listener and per IP, and the creation rate.
//! - [`metrics`]: request and network metrics named as Kafka's JMX exporter names them.
//!
//! # Example: an ApiVersions-only server on a free port
//!
//! ```no_run
//! use std::collections::HashMap;
//! use std::sync::Arc;
//! use kafka_protocol::messages::{ApiVersionsResponse, RequestKind, ResponseKind};
//! use kafka_server::{Request, RequestHandler, ResponseSender, SocketServer, SocketServerConfig};
//!
//! struct Versions;
//! impl RequestHandler for Versions {
//!     fn handle(&self, request: Request, responses: &ResponseSender) {
//!         let response = match &request.body {
//!             RequestKind::ApiVersions(_) => request
//!                 .respond(&ResponseKind::ApiVersions(ApiVersionsResponse::default()))
//!                 .unwrap_or_else(|_| request.close_connection()),
//!             _ => request.close_connection(),
//!         };
//!         responses.send(response);
//!     }
//! }
//!
//! let mut config = SocketServerConfig::default();
//! config.listeners[0].port = 0;
//! let server = SocketServer::start(config, Arc::new(Versions), HashMap::new())?;
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
pub use handler::{RequestHandler, ResponseSender};
pub use quotas::{ConnectionQuotas, QuotaViolation};
pub use request::{
    encode_response, encode_response_parts, Request, RequestContext, RequestTimes, Response,
    ResponseAction,
};
pub use socket_server::{ChannelBuilderFactory, SocketServer};
