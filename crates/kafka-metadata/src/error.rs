//! The crate's one error type.

use kafka_protocol::Uuid;

/// What can go wrong reading metadata records or replaying them into an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A record's message (or a primitive of its framing) could not be read or written.
    #[error("metadata record codec: {0}")]
    Codec(#[from] kafka_protocol::Error),
    /// The frame version is not the one Kafka writes (1).
    #[error("unsupported metadata record frame version {0}")]
    UnsupportedFrameVersion(u32),
    /// The record type is not one this codec knows.
    #[error("unknown metadata record type {0}")]
    UnknownRecordType(u32),
    /// The record type is known but not at this version.
    #[error("metadata record type {record_type} has no version {version}")]
    UnsupportedRecordVersion {
        /// The record type.
        record_type: u16,
        /// The version as read.
        version: u32,
    },
    /// Bytes were left after a record that its frame said was complete.
    #[error("{remaining} bytes left after a metadata record")]
    TrailingBytes {
        /// How many.
        remaining: usize,
    },
    /// A batch claims more records than its bytes can hold.
    #[error("a metadata batch claims {count} records in {bytes} bytes")]
    BatchCountExceedsInput {
        /// The claimed count.
        count: u32,
        /// The bytes that followed it.
        bytes: usize,
    },
    /// Replay: a record names a broker the image does not hold.
    #[error("replay: broker {0} is not registered")]
    UnknownBroker(i32),
    /// Replay: a record names a broker by a stale epoch.
    #[error("replay: broker {broker} has epoch {current}, the record says {record}")]
    BrokerEpochMismatch {
        /// The broker.
        broker: i32,
        /// Its registered epoch.
        current: i64,
        /// The epoch the record carries.
        record: i64,
    },
    /// Replay: a record names a topic id the image does not hold.
    #[error("replay: unknown topic id {0}")]
    UnknownTopicId(Uuid),
    /// Replay: a TopicRecord reuses a name or id the image already holds.
    #[error("replay: topic {name} ({id}) already exists")]
    DuplicateTopic {
        /// The name.
        name: String,
        /// The id.
        id: Uuid,
    },
    /// Replay: a PartitionChangeRecord names a partition the image does not hold.
    #[error("replay: unknown partition {partition} of topic {topic_id}")]
    UnknownPartition {
        /// The topic.
        topic_id: Uuid,
        /// The partition.
        partition: i32,
    },
    /// Replay: a record's content contradicts itself (what, in a few words).
    #[error("replay: invalid {0}")]
    InvalidRecord(&'static str),
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
