//! A Kafka client built on the same network crate as the broker.
//!
//! This crate will hold `NetworkClient` (connections per node, ApiVersions negotiation,
//! correlation ids, in-flight limits), cluster metadata, the producer (`RecordAccumulator`
//! and `Sender`), the consumer (group membership and `Fetcher`) and an admin client. It works
//! against any Kafka cluster, not only this project's broker.

pub mod admin;
pub mod config;
pub mod consumer;
mod error;
pub mod metadata;
mod network_client;
pub mod producer;
mod types;

pub use admin::Admin;
pub use error::{Error, Result};
pub use network_client::{ClientResponse, NetworkClient};
pub use types::{NodeId, TopicPartition};
