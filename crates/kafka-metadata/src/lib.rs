//! Kafka's cluster metadata (KRaft's `metadata` module and `QuorumController`), as pure logic:
//! no I/O, no threads, time passed in as `now_ms`.
//!
//! - [`records`]: the metadata records, generated from Kafka's definitions, with Kafka's
//!   framing ([`MetadataRecord::encode`], [`MetadataRecord::decode`]) and one raft entry per
//!   batch ([`encode_batch`], [`decode_batch`]).
//! - [`MetadataImage`]: the state replayed from the records (brokers, topics and partitions,
//!   configs, features, producer-id blocks) and the queries a broker answers clients from;
//!   [`MetadataImage::to_records`] is a snapshot.
//! - [`QuorumController`]: the active controller's operations (broker registration and
//!   heartbeats, fencing, leader election, controlled shutdown, topic and partition creation
//!   with rack-aware placement, deletion, configs, producer-id blocks). Each returns its
//!   response and the records to propose ([`ControllerResult`]); a raft driver proposes them,
//!   feeds what commits back through [`QuorumController::replay_committed`] and answers the
//!   request after commit.
//!
//! # Example
//!
//! ```
//! use kafka_metadata::{ControllerConfig, MetadataRecord, Provenance, QuorumController};
//! use kafka_protocol::messages::broker_registration_request::{Feature, Listener};
//! use kafka_protocol::messages::{BrokerHeartbeatRequest, BrokerRegistrationRequest};
//!
//! /// What a raft driver does: propose one entry, and replay it once the quorum commits it.
//! fn commit(c: &mut QuorumController, offset: &mut i64, records: &[MetadataRecord]) {
//!     let entry = kafka_metadata::encode_batch(records).unwrap();
//!     let committed = kafka_metadata::decode_batch(&entry).unwrap();
//!     *offset += 1;
//!     c.replay_committed(Provenance { offset: *offset, epoch: 1 }, &committed).unwrap();
//! }
//!
//! let mut controller = QuorumController::new(ControllerConfig::default(), "cluster-1", 42);
//! controller.on_became_leader(0);
//! let mut offset = 0;
//! let boot = controller.bootstrap_records().unwrap();
//! commit(&mut controller, &mut offset, &boot);
//!
//! let registration = BrokerRegistrationRequest::default()
//!     .with_broker_id(1)
//!     .with_cluster_id("cluster-1".into())
//!     .with_listeners(vec![Listener::default()
//!         .with_name("PLAINTEXT".into())
//!         .with_host("localhost".into())
//!         .with_port(9092)])
//!     .with_features(vec![Feature::default()
//!         .with_name("metadata.version".into())
//!         .with_min_supported_version(1)
//!         .with_max_supported_version(21)]);
//! let registered = controller.register_broker(10, &registration).unwrap();
//! commit(&mut controller, &mut offset, &registered.records);
//! let epoch = registered.response.broker_epoch;
//!
//! // Caught up to its registration: the first heartbeat unfences it.
//! let heartbeat = BrokerHeartbeatRequest::default()
//!     .with_broker_id(1)
//!     .with_broker_epoch(epoch)
//!     .with_current_metadata_offset(offset);
//! let beat = controller.heartbeat(20, &heartbeat).unwrap();
//! assert!(!beat.response.is_fenced);
//! commit(&mut controller, &mut offset, &beat.records);
//! assert_eq!(controller.committed().live_brokers().count(), 1);
//! ```

pub mod controller;
pub mod error;
pub mod image;
pub mod placement;
pub mod records;

pub use controller::{
    AcceptAllConfigs, ApiError, ConfigValidator, ControllerConfig, ControllerResult,
    ProducerIdBlock, QuorumController,
};
pub use error::{Error, Result};
pub use image::{
    BrokerRegistration, ConfigResource, ConfigResourceType, Endpoint, MetadataImage,
    PartitionRegistration, Provenance, TopicImage,
};
pub use records::{decode_batch, encode_batch, MetadataRecord};
