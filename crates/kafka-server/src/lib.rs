//! The broker's reactor, modelled on Kafka's `SocketServer`.
//!
//! This crate will hold `SocketServer` (one Acceptor per listener, `num.network.threads`
//! Processors each owning a `Selector`), `RequestChannel` (a bounded request queue shared by the
//! Processors and one response queue per Processor), the request-handler pool calling a
//! `RequestHandler` trait, connection quotas and request metrics.
//!
//! It is filled by the kafka-server issue; it depends on `kafka-protocol` and `kafka-network`
//! and never on the broker that sits above it.
