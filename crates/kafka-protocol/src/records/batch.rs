//! The record batch header, a zero-copy view over one batch, in-place patching of the fields
//! the CRC does not cover, and framing of concatenated batches.

use bytes::{Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::records::compression::{self, Compression};
use crate::records::record::{increment_sequence, BatchContext, RecordIter};

/// The magic byte of the only record format this crate reads and writes (Kafka's
/// `RecordBatch.MAGIC_VALUE_V2`).
pub const MAGIC: i8 = 2;
/// Bytes before a batch's `batchLength` counts: `baseOffset` and `batchLength` themselves
/// (Kafka's `Records.LOG_OVERHEAD`).
pub const LOG_OVERHEAD: usize = 12;
/// The size of a batch header, and so of a batch with no records (Kafka's
/// `DefaultRecordBatch.RECORD_BATCH_OVERHEAD`).
pub const RECORD_BATCH_OVERHEAD: usize = 61;
/// `producerId` of a batch written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producerEpoch` of a batch written without idempotence.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `baseSequence` of a batch written without idempotence.
pub const NO_SEQUENCE: i32 = -1;
/// `partitionLeaderEpoch` as producers write it, before the leader sets it.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// A missing timestamp.
pub const NO_TIMESTAMP: i64 = -1;
/// The decompression limit [`RecordBatch::records`] uses: 64 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

// Field offsets in the header (Kafka's DefaultRecordBatch constants).
const BASE_OFFSET_OFFSET: usize = 0;
const LENGTH_OFFSET: usize = 8;
const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
/// The CRC covers everything from the attributes to the end of the batch.
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const BASE_TIMESTAMP_OFFSET: usize = 27;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;
const RECORDS_COUNT_OFFSET: usize = 57;
const RECORDS_OFFSET: usize = RECORD_BATCH_OVERHEAD;

const COMPRESSION_CODEC_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_MASK: i16 = 0x08;
const TRANSACTIONAL_FLAG_MASK: i16 = 0x10;
const CONTROL_FLAG_MASK: i16 = 0x20;
const DELETE_HORIZON_FLAG_MASK: i16 = 0x40;

/// The smallest record: length, attributes, timestamp delta, offset delta, key length, value
/// length and header count, one byte each.
const MIN_RECORD_SIZE: usize = 7;

/// What a batch's timestamps mean: attribute bit 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer (bit clear).
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch (bit set); every record's timestamp is
    /// then the batch's `maxTimestamp`.
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's name for the type, as in `message.timestamp.type`.
    pub const fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// Batch attributes from their parts.
pub(crate) fn attributes(
    compression: Compression,
    timestamp_type: TimestampType,
    transactional: bool,
    control: bool,
) -> i16 {
    let mut a = i16::from(compression.id());
    if timestamp_type == TimestampType::LogAppendTime {
        a |= TIMESTAMP_TYPE_MASK;
    }
    if transactional {
        a |= TRANSACTIONAL_FLAG_MASK;
    }
    if control {
        a |= CONTROL_FLAG_MASK;
    }
    a
}

/// The header fields of a batch, to be written by [`write_header`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeaderFields {
    pub(crate) base_offset: i64,
    pub(crate) partition_leader_epoch: i32,
    pub(crate) attributes: i16,
    pub(crate) last_offset_delta: i32,
    pub(crate) base_timestamp: i64,
    pub(crate) max_timestamp: i64,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) base_sequence: i32,
    pub(crate) records_count: i32,
}

fn put_at(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// Writes the header into the first 61 bytes of `batch` (which holds the whole batch), sets
/// `batchLength` from its length and computes the CRC.
pub(crate) fn write_header(batch: &mut [u8], h: &HeaderFields) -> Result<()> {
    let batch_length = batch
        .len()
        .checked_sub(LOG_OVERHEAD)
        .and_then(|l| i32::try_from(l).ok())
        .filter(|_| batch.len() >= RECORD_BATCH_OVERHEAD)
        .ok_or(Error::TooLong {
            what: "record batch",
            length: batch.len(),
        })?;
    put_at(batch, BASE_OFFSET_OFFSET, &h.base_offset.to_be_bytes());
    put_at(batch, LENGTH_OFFSET, &batch_length.to_be_bytes());
    put_at(
        batch,
        PARTITION_LEADER_EPOCH_OFFSET,
        &h.partition_leader_epoch.to_be_bytes(),
    );
    put_at(batch, MAGIC_OFFSET, &MAGIC.to_be_bytes());
    put_at(batch, ATTRIBUTES_OFFSET, &h.attributes.to_be_bytes());
    put_at(
        batch,
        LAST_OFFSET_DELTA_OFFSET,
        &h.last_offset_delta.to_be_bytes(),
    );
    put_at(
        batch,
        BASE_TIMESTAMP_OFFSET,
        &h.base_timestamp.to_be_bytes(),
    );
    put_at(batch, MAX_TIMESTAMP_OFFSET, &h.max_timestamp.to_be_bytes());
    put_at(batch, PRODUCER_ID_OFFSET, &h.producer_id.to_be_bytes());
    put_at(
        batch,
        PRODUCER_EPOCH_OFFSET,
        &h.producer_epoch.to_be_bytes(),
    );
    put_at(batch, BASE_SEQUENCE_OFFSET, &h.base_sequence.to_be_bytes());
    put_at(batch, RECORDS_COUNT_OFFSET, &h.records_count.to_be_bytes());
    update_crc(batch);
    Ok(())
}

fn update_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(batch.get(ATTRIBUTES_OFFSET..).unwrap_or_default());
    put_at(batch, CRC_OFFSET, &crc.to_be_bytes());
}

fn read_array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    // Callers only read header fields of buffers checked to hold a whole header.
    buf.get(at..at + N)
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .unwrap_or([0; N])
}

fn read_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(read_array(buf, at))
}

fn read_i32(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(read_array(buf, at))
}

fn read_i64(buf: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(read_array(buf, at))
}

/// Checks that `buf` is exactly one magic v2 batch as far as its first 17 bytes tell: at least
/// a header long, `batchLength` matching the buffer, magic 2. O(1).
fn check_frame(buf: &[u8]) -> Result<()> {
    if buf.len() < RECORD_BATCH_OVERHEAD {
        return Err(Error::UnexpectedEof {
            needed: RECORD_BATCH_OVERHEAD,
            remaining: buf.len(),
        });
    }
    let magic = read_array::<1>(buf, MAGIC_OFFSET)[0] as i8;
    if magic != MAGIC {
        return Err(Error::UnsupportedMagic(magic));
    }
    let batch_length = read_i32(buf, LENGTH_OFFSET);
    if usize::try_from(batch_length).ok().map(|l| l + LOG_OVERHEAD) != Some(buf.len()) {
        return Err(Error::CorruptBatch(
            "batchLength does not match the size of the batch",
        ));
    }
    Ok(())
}

/// Sets `baseOffset` of the batch in `batch` in place. `baseOffset` is outside the CRC, so the
/// batch stays valid and its records are not touched. `batch` must start with a whole magic v2
/// header; bytes after it are not read.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) -> Result<()> {
    check_header(batch)?;
    put_at(batch, BASE_OFFSET_OFFSET, &base_offset.to_be_bytes());
    Ok(())
}

/// Sets `partitionLeaderEpoch` of the batch in `batch` in place, as the leader does on append.
/// The field is outside the CRC. `batch` must start with a whole magic v2 header.
pub fn set_partition_leader_epoch(batch: &mut [u8], partition_leader_epoch: i32) -> Result<()> {
    check_header(batch)?;
    put_at(
        batch,
        PARTITION_LEADER_EPOCH_OFFSET,
        &partition_leader_epoch.to_be_bytes(),
    );
    Ok(())
}

fn check_header(batch: &[u8]) -> Result<()> {
    if batch.len() < RECORD_BATCH_OVERHEAD {
        return Err(Error::UnexpectedEof {
            needed: RECORD_BATCH_OVERHEAD,
            remaining: batch.len(),
        });
    }
    let magic = read_array::<1>(batch, MAGIC_OFFSET)[0] as i8;
    if magic != MAGIC {
        return Err(Error::UnsupportedMagic(magic));
    }
    Ok(())
}

/// The size of the first batch in `buf` from its `baseOffset` and `batchLength` alone (Kafka's
/// `ByteBufferLogInputStream.nextBatchSize`), or `None` if `buf` does not hold all of it.
///
/// Errors: a negative `batchLength` or one smaller than a batch header
/// ([`Error::InvalidLength`]); a batch larger than `max_batch_size`
/// ([`Error::RecordBatchTooLarge`], checked before truncation, as Kafka does); a whole batch
/// whose magic is not 2 ([`Error::UnsupportedMagic`]).
pub fn next_batch_size(buf: &[u8], max_batch_size: usize) -> Result<Option<usize>> {
    if buf.len() < LOG_OVERHEAD {
        return Ok(None);
    }
    let batch_length = read_i32(buf, LENGTH_OFFSET);
    let size = match usize::try_from(batch_length) {
        Ok(l) if l + LOG_OVERHEAD >= RECORD_BATCH_OVERHEAD => l + LOG_OVERHEAD,
        _ => {
            return Err(Error::InvalidLength {
                what: "record batch",
                length: i64::from(batch_length),
            })
        }
    };
    if size > max_batch_size {
        return Err(Error::RecordBatchTooLarge {
            size,
            max: max_batch_size,
        });
    }
    if buf.len() < size {
        return Ok(None);
    }
    let magic = read_array::<1>(buf, MAGIC_OFFSET)[0] as i8;
    if magic != MAGIC {
        return Err(Error::UnsupportedMagic(magic));
    }
    Ok(Some(size))
}

/// A zero-copy view of one magic v2 record batch: Kafka's `DefaultRecordBatch`.
///
/// Construction ([`RecordBatch::new`]) checks only the frame: the buffer holds a whole header,
/// `batchLength` matches the buffer and the magic is 2. [`RecordBatch::validate`] checks the
/// CRC and the header's counts; call it on anything from the network or disk before trusting
/// it. Record iteration is safe on any input, validated or not.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordBatch {
    buf: Bytes,
}

impl RecordBatch {
    /// Wraps a buffer holding exactly one batch. O(1): checks size, `batchLength` and magic.
    pub fn new(buf: Bytes) -> Result<Self> {
        check_frame(&buf)?;
        Ok(RecordBatch { buf })
    }

    /// The batch's bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// The batch's bytes.
    pub fn into_bytes(self) -> Bytes {
        self.buf
    }

    /// The batch's size in bytes: `batchLength + 12`.
    pub fn size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// `baseOffset`: the offset of the first record.
    pub fn base_offset(&self) -> i64 {
        read_i64(&self.buf, BASE_OFFSET_OFFSET)
    }

    /// `batchLength`: the bytes after this field.
    pub fn batch_length(&self) -> i32 {
        read_i32(&self.buf, LENGTH_OFFSET)
    }

    /// `partitionLeaderEpoch`, set by the leader on append.
    pub fn partition_leader_epoch(&self) -> i32 {
        read_i32(&self.buf, PARTITION_LEADER_EPOCH_OFFSET)
    }

    /// `magic`: always 2 here.
    pub fn magic(&self) -> i8 {
        read_array::<1>(&self.buf, MAGIC_OFFSET)[0] as i8
    }

    /// The CRC stored in the header (CRC-32C of everything from the attributes on).
    pub fn crc(&self) -> u32 {
        u32::from_be_bytes(read_array(&self.buf, CRC_OFFSET))
    }

    /// The CRC-32C of the batch's bytes from the attributes on, to compare with [`Self::crc`].
    pub fn compute_crc(&self) -> u32 {
        crc32c::crc32c(self.buf.get(ATTRIBUTES_OFFSET..).unwrap_or_default())
    }

    /// The raw `attributes`.
    pub fn attributes(&self) -> i16 {
        read_i16(&self.buf, ATTRIBUTES_OFFSET)
    }

    /// The compression codec (attribute bits 0-2), or [`Error::UnknownCompression`].
    pub fn compression(&self) -> Result<Compression> {
        // invariant: the mask keeps three bits, so the value fits in u8.
        Compression::from_id((self.attributes() & COMPRESSION_CODEC_MASK) as u8)
    }

    /// The timestamp type (attribute bit 3).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & TIMESTAMP_TYPE_MASK != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch is part of a transaction (attribute bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_FLAG_MASK != 0
    }

    /// Whether the batch holds control records such as transaction markers (attribute bit 5).
    pub fn is_control_batch(&self) -> bool {
        self.attributes() & CONTROL_FLAG_MASK != 0
    }

    /// Whether `baseTimestamp` holds the log cleaner's delete horizon (attribute bit 6).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes() & DELETE_HORIZON_FLAG_MASK != 0
    }

    /// The delete horizon in ms, when attribute bit 6 says `baseTimestamp` holds one.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.has_delete_horizon().then(|| self.base_timestamp())
    }

    /// `lastOffsetDelta`: the last offset minus the base offset. Kept when compaction removes
    /// records, so it may exceed `records_count - 1`.
    pub fn last_offset_delta(&self) -> i32 {
        read_i32(&self.buf, LAST_OFFSET_DELTA_OFFSET)
    }

    /// The offset of the last record: `baseOffset + lastOffsetDelta`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(i64::from(self.last_offset_delta()))
    }

    /// The offset after this batch: `last_offset + 1`.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// `baseTimestamp`: the first record's timestamp, or the delete horizon (see
    /// [`Self::delete_horizon_ms`]).
    pub fn base_timestamp(&self) -> i64 {
        read_i64(&self.buf, BASE_TIMESTAMP_OFFSET)
    }

    /// `maxTimestamp`: the largest record timestamp, or the log-append time.
    pub fn max_timestamp(&self) -> i64 {
        read_i64(&self.buf, MAX_TIMESTAMP_OFFSET)
    }

    /// `producerId`, or [`NO_PRODUCER_ID`].
    pub fn producer_id(&self) -> i64 {
        read_i64(&self.buf, PRODUCER_ID_OFFSET)
    }

    /// `producerEpoch`, or [`NO_PRODUCER_EPOCH`].
    pub fn producer_epoch(&self) -> i16 {
        read_i16(&self.buf, PRODUCER_EPOCH_OFFSET)
    }

    /// `baseSequence`, or [`NO_SEQUENCE`].
    pub fn base_sequence(&self) -> i32 {
        read_i32(&self.buf, BASE_SEQUENCE_OFFSET)
    }

    /// The sequence of the last record, wrapping at `i32::MAX`, or [`NO_SEQUENCE`].
    pub fn last_sequence(&self) -> i32 {
        let base = self.base_sequence();
        if base == NO_SEQUENCE {
            NO_SEQUENCE
        } else {
            increment_sequence(base, self.last_offset_delta())
        }
    }

    /// The record count from the header (not checked against the records until they are read).
    pub fn records_count(&self) -> i32 {
        read_i32(&self.buf, RECORDS_COUNT_OFFSET)
    }

    /// The records section as stored: compressed if the batch is.
    pub fn records_bytes(&self) -> Bytes {
        self.buf.slice(RECORDS_OFFSET..)
    }

    /// Checks the batch as Kafka's `DefaultRecordBatch.ensureValid` does and a bit more,
    /// without reading records: the CRC, a known codec, a non-negative record count and
    /// `lastOffsetDelta`, a count that fits `lastOffsetDelta + 1` offsets (and, uncompressed,
    /// the bytes present), and a last offset that does not overflow. Costs one CRC pass.
    pub fn validate(&self) -> Result<()> {
        let stored = self.crc();
        let computed = self.compute_crc();
        if stored != computed {
            return Err(Error::CrcMismatch { stored, computed });
        }
        let compression = self.compression()?;
        let count = self.records_count();
        if count < 0 {
            return Err(Error::CorruptBatch("negative record count"));
        }
        let last_offset_delta = self.last_offset_delta();
        if last_offset_delta < 0 {
            return Err(Error::CorruptBatch("negative lastOffsetDelta"));
        }
        if i64::from(count) > i64::from(last_offset_delta) + 1 {
            return Err(Error::CorruptBatch(
                "record count exceeds the offsets lastOffsetDelta spans",
            ));
        }
        if self
            .base_offset()
            .checked_add(i64::from(last_offset_delta))
            .is_none()
        {
            return Err(Error::CorruptBatch("last offset overflows"));
        }
        // invariant: count is non-negative here.
        let count = count as usize;
        if compression == Compression::None
            && count.saturating_mul(MIN_RECORD_SIZE) > self.buf.len() - RECORDS_OFFSET
        {
            return Err(Error::CorruptBatch(
                "record count exceeds what the batch's bytes can hold",
            ));
        }
        Ok(())
    }

    /// The records, decompressing with [`DEFAULT_MAX_DECOMPRESSED_BYTES`] as the limit. See
    /// [`Self::records_with_limit`].
    pub fn records(&self) -> Result<RecordIter> {
        self.records_with_limit(DEFAULT_MAX_DECOMPRESSED_BYTES)
    }

    /// The records. An uncompressed batch's records are read in place; a compressed batch is
    /// decompressed once, into at most `max_decompressed` bytes
    /// ([`Error::DecompressedTooLarge`] beyond), and its records are slices of that buffer.
    ///
    /// This does not check the CRC: call [`Self::validate`] first on untrusted input. Reading
    /// is safe either way: every length is checked and errors are returned, never panics.
    pub fn records_with_limit(&self, max_decompressed: usize) -> Result<RecordIter> {
        let count = self.records_count();
        let Ok(count) = u32::try_from(count) else {
            return Err(Error::CorruptBatch("negative record count"));
        };
        let compression = self.compression()?;
        let raw = self.buf.slice(RECORDS_OFFSET..);
        let data = match compression {
            Compression::None => raw,
            codec => compression::decompress(codec, &raw, max_decompressed)?,
        };
        let ctx = BatchContext {
            base_offset: self.base_offset(),
            base_timestamp: self.base_timestamp(),
            log_append_time: (self.timestamp_type() == TimestampType::LogAppendTime)
                .then(|| self.max_timestamp()),
            base_sequence: self.base_sequence(),
        };
        Ok(RecordIter::new(data, count, ctx))
    }

    /// A mutable batch over the same bytes, without copying, if this is their only handle;
    /// otherwise `self` back. To patch a shared buffer, copy it or use [`set_base_offset`].
    pub fn try_into_mut(self) -> std::result::Result<RecordBatchMut, RecordBatch> {
        match self.buf.try_into_mut() {
            Ok(buf) => Ok(RecordBatchMut { buf }),
            Err(buf) => Err(RecordBatch { buf }),
        }
    }
}

impl std::fmt::Debug for RecordBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatch")
            .field("base_offset", &self.base_offset())
            .field("batch_length", &self.batch_length())
            .field("partition_leader_epoch", &self.partition_leader_epoch())
            .field("crc", &format_args!("{:#010x}", self.crc()))
            .field("attributes", &format_args!("{:#06x}", self.attributes()))
            .field("last_offset_delta", &self.last_offset_delta())
            .field("base_timestamp", &self.base_timestamp())
            .field("max_timestamp", &self.max_timestamp())
            .field("producer_id", &self.producer_id())
            .field("producer_epoch", &self.producer_epoch())
            .field("base_sequence", &self.base_sequence())
            .field("records_count", &self.records_count())
            .finish()
    }
}

/// One batch in a mutable buffer, for the header changes a leader makes on append without
/// touching the records.
#[derive(Debug)]
pub struct RecordBatchMut {
    buf: BytesMut,
}

impl RecordBatchMut {
    /// Wraps a buffer holding exactly one batch (checked as [`RecordBatch::new`] does).
    pub fn new(buf: BytesMut) -> Result<Self> {
        check_frame(&buf)?;
        Ok(RecordBatchMut { buf })
    }

    /// `baseOffset`.
    pub fn base_offset(&self) -> i64 {
        read_i64(&self.buf, BASE_OFFSET_OFFSET)
    }

    /// `partitionLeaderEpoch`.
    pub fn partition_leader_epoch(&self) -> i32 {
        read_i32(&self.buf, PARTITION_LEADER_EPOCH_OFFSET)
    }

    /// Sets `baseOffset` in place; the CRC does not cover it and stays valid. O(1).
    pub fn set_base_offset(&mut self, base_offset: i64) {
        put_at(
            &mut self.buf,
            BASE_OFFSET_OFFSET,
            &base_offset.to_be_bytes(),
        );
    }

    /// Sets the base offset so that the last record gets `last_offset` (Kafka's
    /// `setLastOffset`, used when compaction left gaps). O(1).
    pub fn set_last_offset(&mut self, last_offset: i64) {
        let delta = read_i32(&self.buf, LAST_OFFSET_DELTA_OFFSET);
        self.set_base_offset(last_offset.wrapping_sub(i64::from(delta)));
    }

    /// Sets `partitionLeaderEpoch` in place; the CRC does not cover it. O(1).
    pub fn set_partition_leader_epoch(&mut self, partition_leader_epoch: i32) {
        put_at(
            &mut self.buf,
            PARTITION_LEADER_EPOCH_OFFSET,
            &partition_leader_epoch.to_be_bytes(),
        );
    }

    /// Sets the timestamp type and `maxTimestamp`, as a broker with
    /// `log.message.timestamp.type=LogAppendTime` does (Kafka's `setMaxTimestamp`). Both are
    /// covered by the CRC, so this recomputes it: O(batch size), records untouched.
    pub fn set_max_timestamp(&mut self, timestamp_type: TimestampType, max_timestamp: i64) {
        let mut attributes = read_i16(&self.buf, ATTRIBUTES_OFFSET) & !TIMESTAMP_TYPE_MASK;
        if timestamp_type == TimestampType::LogAppendTime {
            attributes |= TIMESTAMP_TYPE_MASK;
        }
        put_at(&mut self.buf, ATTRIBUTES_OFFSET, &attributes.to_be_bytes());
        put_at(
            &mut self.buf,
            MAX_TIMESTAMP_OFFSET,
            &max_timestamp.to_be_bytes(),
        );
        update_crc(&mut self.buf);
    }

    /// The batch's bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// The read-only batch.
    pub fn freeze(self) -> RecordBatch {
        RecordBatch {
            buf: self.buf.freeze(),
        }
    }

    /// The buffer.
    pub fn into_inner(self) -> BytesMut {
        self.buf
    }
}

/// Splits a buffer of concatenated batches (a Produce request's or Fetch response's `records`,
/// a log segment) into [`RecordBatch`]es, reading only each batch's `baseOffset` and
/// `batchLength`: the cost is per batch, not per record or byte. Kafka's
/// `MemoryRecords.batches()`.
///
/// Each batch is a slice of the input (no copy) checked as [`RecordBatch::new`] does; the CRC
/// and records are not read (see [`RecordBatch::validate`]).
///
/// By default the input must be whole batches: a truncated last batch is an
/// [`Error::UnexpectedEof`]. A Fetch response may end with a partial batch that consumers skip;
/// for those, [`RecordBatches::allow_partial_tail`] makes iteration end quietly before it and
/// [`RecordBatches::partial_tail`] returns it. After an error the iterator yields nothing more.
#[derive(Debug, Clone)]
pub struct RecordBatches {
    rest: Bytes,
    max_batch_size: usize,
    allow_partial: bool,
    done: bool,
    failed: bool,
}

impl RecordBatches {
    /// Frames `buf`, requiring whole batches, with no size limit beyond `batchLength`'s.
    pub fn new(buf: Bytes) -> Self {
        RecordBatches {
            rest: buf,
            max_batch_size: usize::MAX,
            allow_partial: false,
            done: false,
            failed: false,
        }
    }

    /// Fails with [`Error::RecordBatchTooLarge`] on a batch larger than `max` bytes (whole,
    /// `batchLength + 12`), before looking for its end.
    pub fn with_max_batch_size(mut self, max: usize) -> Self {
        self.max_batch_size = max;
        self
    }

    /// Ends iteration without an error at a partial last batch, as a consumer reading a Fetch
    /// response does; see [`Self::partial_tail`].
    pub fn allow_partial_tail(mut self) -> Self {
        self.allow_partial = true;
        self
    }

    /// The bytes not yet framed: after an error, the bytes from the batch that failed on.
    pub fn remaining(&self) -> &Bytes {
        &self.rest
    }

    /// After iteration has ended without an error: the partial batch it stopped at, if any.
    pub fn partial_tail(&self) -> Option<&Bytes> {
        (self.done && !self.failed && !self.rest.is_empty()).then_some(&self.rest)
    }
}

impl Iterator for RecordBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        if self.done {
            return None;
        }
        if self.rest.is_empty() {
            self.done = true;
            return None;
        }
        match next_batch_size(&self.rest, self.max_batch_size) {
            Ok(Some(size)) => Some(Ok(RecordBatch {
                buf: self.rest.split_to(size),
            })),
            Ok(None) if self.allow_partial => {
                self.done = true;
                None
            }
            Ok(None) => {
                self.done = true;
                let needed = if self.rest.len() < LOG_OVERHEAD {
                    LOG_OVERHEAD
                } else {
                    read_i32(&self.rest, LENGTH_OFFSET) as usize + LOG_OVERHEAD
                };
                self.failed = true;
                Some(Err(Error::UnexpectedEof {
                    needed,
                    remaining: self.rest.len(),
                }))
            }
            Err(e) => {
                self.done = true;
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for RecordBatches {}
