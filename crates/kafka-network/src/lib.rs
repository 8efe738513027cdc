//! Kafka's network layer, shared by the broker and the client.
//!
//! This crate will hold the pieces of Kafka's `org.apache.kafka.common.network` package:
//! a `Selector` over `mio::Poll`, `KafkaChannel` (transport, authenticator, principal, the
//! current receive and send), `NetworkReceive`/`NetworkSend` frame assembly, the
//! `TransportLayer` trait with plaintext and rustls TLS implementations, SASL authenticators
//! (PLAIN, SCRAM-SHA-256/512) and a bounded `MemoryPool`.
//!
//! It is filled by the kafka-network issue; today it only fixes the crate's place in the
//! layering: it depends on `kafka-protocol` and nothing above it.
