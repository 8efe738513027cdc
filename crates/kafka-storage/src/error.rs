//! The crate's error type and its mapping to Kafka's wire error codes.

use std::path::PathBuf;

use kafka_protocol::ErrorCode;

use crate::TopicPartition;

/// Everything the log can fail with.
///
/// [`Error::error_code`] maps each variant to the code Kafka puts in a response:
///
/// | variant | Kafka error code |
/// |---|---|
/// | [`Error::OffsetOutOfRange`] | `OFFSET_OUT_OF_RANGE` (1) |
/// | [`Error::CorruptRecord`] | `CORRUPT_MESSAGE` (2) |
/// | [`Error::UnknownPartition`], [`Error::LogDeleted`] | `UNKNOWN_TOPIC_OR_PARTITION` (3) |
/// | [`Error::MessageTooLarge`] | `MESSAGE_TOO_LARGE` (10) |
/// | [`Error::InvalidTopic`] | `INVALID_TOPIC_EXCEPTION` (17) |
/// | [`Error::RecordListTooLarge`] | `RECORD_LIST_TOO_LARGE` (18) |
/// | [`Error::InvalidTimestamp`] | `INVALID_TIMESTAMP` (32) |
/// | [`Error::LogExists`] | `TOPIC_ALREADY_EXISTS` (36) |
/// | [`Error::Config`] | `INVALID_CONFIG` (40) |
/// | [`Error::Io`], [`Error::Corrupt`], [`Error::LogDirLocked`], [`Error::Offline`] | `KAFKA_STORAGE_ERROR` (56) |
/// | [`Error::OutOfOrderSequence`] | `OUT_OF_ORDER_SEQUENCE_NUMBER` (45) |
/// | [`Error::InvalidProducerEpoch`] | `INVALID_PRODUCER_EPOCH` (47) |
/// | [`Error::InvalidRecord`] | `INVALID_RECORD` (87) |
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Data on disk is not what the log wrote (found outside recovery, which truncates it).
    #[error("corrupt log data: {0}")]
    Corrupt(String),
    /// A fetch or delete-records offset outside `[log start offset, log end offset]`.
    #[error("offset {requested} is out of range [{start}, {end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: i64,
        /// The log start offset.
        start: i64,
        /// The log end offset (or the high watermark, for DeleteRecords).
        end: i64,
    },
    /// One batch is larger than `max.message.bytes`.
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge {
        /// The batch's size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The batches of one append together are larger than a segment (`segment.bytes`).
    #[error("records of {size} bytes exceed segment.bytes {max}")]
    RecordListTooLarge {
        /// Their size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A batch failed framing or its CRC / header check (`CorruptRecordException` in Kafka).
    #[error("corrupt record batch: {0}")]
    CorruptRecord(#[source] kafka_protocol::Error),
    /// A batch is well formed but not acceptable here (`InvalidRecordException` in Kafka):
    /// a control batch from a client, a record count that does not match the offsets, offsets
    /// that go backwards.
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// A create-time timestamp outside `message.timestamp.before.max.ms` /
    /// `message.timestamp.after.max.ms` of the broker's clock.
    #[error("invalid timestamp {timestamp}: {reason}")]
    InvalidTimestamp {
        /// The offending timestamp.
        timestamp: i64,
        /// Which bound it broke.
        reason: &'static str,
    },
    /// `create_log` for a partition that already has a log.
    #[error("log for {0} already exists")]
    LogExists(TopicPartition),
    /// No log for this partition.
    #[error("no log for {0}")]
    UnknownPartition(TopicPartition),
    /// The log was deleted (or the manager shut down) while in use.
    #[error("log for {0} was deleted or closed")]
    LogDeleted(TopicPartition),
    /// A topic name or partition index Kafka would not accept.
    #[error("invalid topic: {0}")]
    InvalidTopic(String),
    /// A bad configuration key or value.
    #[error("invalid config: {0}")]
    Config(String),
    /// Another process holds the log directory's `.lock`.
    #[error("log directory {0} is locked by another process")]
    LogDirLocked(PathBuf),
    /// An idempotent producer's batch whose sequence does not continue the producer's last
    /// one (or a new epoch not starting at 0).
    #[error("out of order sequence {got} from producer {producer_id} epoch {epoch}: expected {expected}")]
    OutOfOrderSequence {
        /// The producer id.
        producer_id: i64,
        /// The batch's producer epoch.
        epoch: i16,
        /// The sequence the log expected.
        expected: i32,
        /// The batch's base sequence.
        got: i32,
    },
    /// A batch from an older epoch than its producer's current one: a fenced zombie.
    #[error("producer {producer_id} epoch {epoch} is older than its current epoch {current}")]
    InvalidProducerEpoch {
        /// The producer id.
        producer_id: i64,
        /// The batch's producer epoch.
        epoch: i16,
        /// The producer's current epoch in this log.
        current: i16,
    },
    /// A write failed and could not be undone; the log takes no more appends.
    #[error("log for {0} is offline after an I/O error")]
    Offline(TopicPartition),
}

impl Error {
    /// The Kafka error code to answer with (see the table on [`Error`]).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Error::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            Error::CorruptRecord(_) => ErrorCode::CorruptMessage,
            Error::UnknownPartition(_) | Error::LogDeleted(_) => ErrorCode::UnknownTopicOrPartition,
            Error::MessageTooLarge { .. } => ErrorCode::MessageTooLarge,
            Error::RecordListTooLarge { .. } => ErrorCode::RecordListTooLarge,
            Error::InvalidTopic(_) => ErrorCode::InvalidTopicException,
            Error::InvalidTimestamp { .. } => ErrorCode::InvalidTimestamp,
            Error::LogExists(_) => ErrorCode::TopicAlreadyExists,
            Error::Config(_) => ErrorCode::InvalidConfig,
            Error::InvalidRecord(_) => ErrorCode::InvalidRecord,
            Error::OutOfOrderSequence { .. } => ErrorCode::OutOfOrderSequenceNumber,
            Error::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
            Error::Io(_) | Error::Corrupt(_) | Error::LogDirLocked(_) | Error::Offline(_) => {
                ErrorCode::KafkaStorageError
            }
        }
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers clients receive (Kafka's `Errors`), not just the enum names.
    #[test]
    fn error_codes_are_kafkas() {
        let tp = || TopicPartition::new("t", 0);
        let cases: Vec<(Error, i16)> = vec![
            (
                Error::OffsetOutOfRange {
                    requested: 9,
                    start: 0,
                    end: 1,
                },
                1,
            ),
            (
                Error::CorruptRecord(kafka_protocol::Error::CorruptBatch("x")),
                2,
            ),
            (Error::UnknownPartition(tp()), 3),
            (Error::LogDeleted(tp()), 3),
            (Error::MessageTooLarge { size: 2, max: 1 }, 10),
            (Error::InvalidTopic("x".into()), 17),
            (Error::RecordListTooLarge { size: 2, max: 1 }, 18),
            (
                Error::InvalidTimestamp {
                    timestamp: 0,
                    reason: "x",
                },
                32,
            ),
            (Error::LogExists(tp()), 36),
            (Error::Config("x".into()), 40),
            (
                Error::OutOfOrderSequence {
                    producer_id: 1,
                    epoch: 0,
                    expected: 1,
                    got: 3,
                },
                45,
            ),
            (
                Error::InvalidProducerEpoch {
                    producer_id: 1,
                    epoch: 0,
                    current: 1,
                },
                47,
            ),
            (Error::Io(std::io::Error::other("x")), 56),
            (Error::Corrupt("x".into()), 56),
            (Error::LogDirLocked("/x".into()), 56),
            (Error::Offline(tp()), 56),
            (Error::InvalidRecord("x".into()), 87),
        ];
        for (e, code) in cases {
            assert_eq!(e.error_code().code(), code, "{e}");
        }
    }
}
