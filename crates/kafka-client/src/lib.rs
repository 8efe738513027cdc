//! A Kafka client built on the same network crate as the broker.
//!
//! This crate will hold `NetworkClient` (connections per node, ApiVersions negotiation,
//! correlation ids, in-flight limits), cluster metadata, the producer (`RecordAccumulator`
//! and `Sender`), the consumer (group membership and `Fetcher`) and an admin client. It works
//! against any Kafka cluster, not only this project's broker.
//!
//! It is filled by the kafka-client issue; it depends on `kafka-protocol` and `kafka-network`.
