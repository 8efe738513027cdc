//! A Kafka client built on the same network crate as the broker: Kafka's Java client
//! architecture in Rust threads and mio, usable against any Kafka cluster.
//!
//! - [`NetworkClient`]: connections per node over one `Selector` (plaintext, TLS, SASL),
//!   reconnect backoff with jitter, ApiVersions negotiation per connection, correlation ids,
//!   `max.in.flight.requests.per.connection`, request timeouts; it keeps [`metadata`] fresh
//!   and routes each partition to its leader.
//! - [`producer::Producer`]: `send` partitions a record (murmur2 like Java for keyed records,
//!   sticky for the others), appends it to a `RecordAccumulator` batch and returns a
//!   [`producer::DeliveryFuture`]; a `Sender` thread drains ready batches into Produce requests,
//!   with idempotence (on by default), retries, `delivery.timeout.ms` and compression.
//! - [`consumer::Consumer`]: classic consumer groups (range, roundrobin, cooperative-sticky) or
//!   manual assignment, fetch sessions with prefetch, auto and manual commits, seek/position.
//! - [`admin::Admin`]: topics, partitions, configs, groups, offsets, records, ACLs.
//! - [`config`]: every key, its default and documentation in one table, read from Java-style
//!   properties.
//!
//! Tools built with the default `tools` feature: `producer-perf` and `consumer-perf` (Kafka's
//! perf tests), `kafka-console` (a JSON-lines console producer and consumer) and `kafka-admin`
//! (Kafka's admin tools in one command line; `docs/admin-cli.md`).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use kafka_client::config::Properties;
//! use kafka_client::consumer::Consumer;
//! use kafka_client::producer::{Producer, ProducerRecord};
//!
//! let props = Properties::new().with("bootstrap.servers", "localhost:9092");
//! let producer = Producer::new(&props)?;
//! let delivered = producer
//!     .send(ProducerRecord::new("orders").key("customer-7").value("{\"total\": 12}"))?
//!     .wait()?;
//! println!("stored at {}@{}", delivered.topic_partition, delivered.offset);
//! producer.close();
//!
//! let mut consumer = Consumer::new(
//!     &props
//!         .with("group.id", "billing")
//!         .with("auto.offset.reset", "earliest"),
//! )?;
//! consumer.subscribe(&["orders"])?;
//! for record in consumer.poll(Duration::from_secs(1))? {
//!     println!("{}-{}@{}: {:?}", record.topic, record.partition, record.offset, record.value);
//! }
//! consumer.close()?;
//! # Ok::<(), kafka_client::Error>(())
//! ```

pub mod admin;
pub mod config;
pub mod consumer;
mod error;
pub mod metadata;
mod network_client;
mod offsets;
pub mod producer;
mod types;

pub use admin::Admin;
pub use error::{Error, Result};
pub use network_client::{ClientResponse, NetworkClient};
pub use types::{NodeId, TopicPartition};
