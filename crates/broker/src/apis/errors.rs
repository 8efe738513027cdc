//! The Kafka error code of each storage error.

use kafka_protocol::ErrorCode;

/// The error code a produce or fetch gets for a storage failure.
pub(crate) fn storage_error_code(e: &kafka_storage::Error) -> ErrorCode {
    use kafka_storage::Error as E;
    match e {
        E::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        E::MessageTooLarge { .. } => ErrorCode::MessageTooLarge,
        E::RecordListTooLarge { .. } => ErrorCode::RecordListTooLarge,
        E::CorruptRecord(_) => ErrorCode::CorruptMessage,
        E::InvalidRecord(_) => ErrorCode::InvalidRecord,
        E::InvalidTimestamp { .. } => ErrorCode::InvalidTimestamp,
        E::UnknownPartition(_) => ErrorCode::UnknownTopicOrPartition,
        _ => ErrorCode::KafkaStorageError,
    }
}
