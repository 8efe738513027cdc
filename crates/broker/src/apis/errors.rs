//! The Kafka error code of each storage error.

use kafka_protocol::ErrorCode;

/// The error code a produce, fetch or ListOffsets gets for a storage failure: the storage
/// crate's one mapping ([`kafka_storage::Error::error_code`]).
pub(crate) fn storage_error_code(e: &kafka_storage::Error) -> ErrorCode {
    e.error_code()
}
