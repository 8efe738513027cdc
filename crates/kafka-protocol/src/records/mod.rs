//! Magic v2 record batches, as Apache Kafka's `DefaultRecordBatch` and `DefaultRecord`.
//!
//! ```text
//! baseOffset: int64                 ┐ not covered by the CRC;
//! batchLength: int32                │ the leader patches baseOffset and
//! partitionLeaderEpoch: int32       ┘ partitionLeaderEpoch in place
//! magic: int8 (2)
//! crc: uint32                       CRC-32C of everything from attributes to the end
//! attributes: int16                 bits 0-2 codec, 3 timestamp type, 4 transactional,
//!                                   5 control, 6 delete horizon
//! lastOffsetDelta: int32
//! baseTimestamp: int64
//! maxTimestamp: int64
//! producerId: int64
//! producerEpoch: int16
//! baseSequence: int32
//! recordsCount: int32
//! records: [Record]                 compressed as one blob if the codec is not none
//! ```
//!
//! The pieces, from the network inwards:
//!
//! - [`RecordBatches`] splits concatenated batches by `batchLength` alone (per-batch cost,
//!   independent of the records), and can stop at a Fetch response's partial last batch.
//! - [`RecordBatch`] is a zero-copy view of one batch: header accessors, [`RecordBatch::validate`]
//!   (CRC-32C and header sanity), and [`RecordBatch::records`].
//! - [`set_base_offset`], [`set_partition_leader_epoch`] and [`RecordBatchMut`] patch the header
//!   in place, without touching the records or invalidating the CRC.
//! - [`RecordIter`] iterates over a batch's [`Record`]s, whose keys, values and [`Headers`] are
//!   slices of the batch (or of its one decompressed buffer), with every length checked and a
//!   caller-set limit on decompression. [`RecordIter::refs`] gives borrowed [`RecordRef`]s for
//!   scans that keep nothing.
//! - [`RecordBatchBuilder`] encodes a batch, writing records straight into one buffer.
//! - [`Compression`] covers none, gzip, snappy (xerial-framed or raw), lz4 (frame) and zstd.
//! - [`ControlRecordType`] and [`EndTransactionMarker`] read and write transaction markers.
//! - [`Records`], the value of a message's `records` field: bytes in memory or a
//!   [`FileRegion`] of a log file; [`PartsWriter`] encodes a message into [`SendPart`]s so
//!   file regions go out without being copied.
//!
//! Nothing here panics on any input, and no allocation is sized by an unchecked length.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use kafka_protocol::records::{RecordBatchBuilder, RecordBatches};
//!
//! // Two batches as a producer would send them, concatenated.
//! let mut wire = BytesMut::new();
//! for n in 0..2 {
//!     let mut b = RecordBatchBuilder::new();
//!     b.append(1_000 + n, Some(b"k"), Some(b"v"))?;
//!     wire.extend_from_slice(&b.build()?);
//! }
//!
//! // The leader frames them, validates each and assigns offsets in place.
//! let mut next_offset = 100;
//! let mut batches = Vec::new();
//! for batch in RecordBatches::new(wire.freeze()) {
//!     let batch = batch?;
//!     batch.validate()?;
//!     let mut batch = BytesMut::from(batch.as_bytes().as_ref());
//!     kafka_protocol::records::set_base_offset(&mut batch, next_offset)?;
//!     next_offset += 1;
//!     batches.push(batch.freeze());
//! }
//! let log: Bytes = batches.concat().into();
//! let offsets: Vec<i64> = RecordBatches::new(log)
//!     .map(|b| b.map(|b| b.base_offset()))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(offsets, [100, 101]);
//! # Ok::<(), kafka_protocol::Error>(())
//! ```

mod batch;
mod builder;
mod compression;
mod control;
mod record;
mod value;

#[cfg(test)]
mod tests;

pub use batch::{
    next_batch_size, set_base_offset, set_partition_leader_epoch, RecordBatch, RecordBatchMut,
    RecordBatches, TimestampType, DEFAULT_MAX_DECOMPRESSED_BYTES, LOG_OVERHEAD, MAGIC,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
    RECORD_BATCH_OVERHEAD,
};
pub use builder::RecordBatchBuilder;
pub use compression::Compression;
pub use control::{
    ControlRecordType, EndTransactionMarker, CONTROL_RECORD_KEY_VERSION,
    END_TXN_MARKER_VALUE_VERSION,
};
pub use record::{Header, Headers, HeadersIter, Record, RecordIter, RecordRef, RecordRefs};
pub(crate) use value::copy_records;
pub use value::{FileRegion, InlineSize, PartsWriter, Records, SendPart, MIN_SEPARATE_RECORDS};
