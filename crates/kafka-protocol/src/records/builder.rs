//! Encoding record batches: Kafka's `MemoryRecordsBuilder` for magic v2.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::primitives::{put_varint, put_varlong, varint_size, varlong_size};
use crate::records::batch::{
    attributes, write_header, HeaderFields, TimestampType, NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP, RECORD_BATCH_OVERHEAD,
};
use crate::records::compression::{self, Compression};
use crate::records::record::{Headers, Record};

/// Builds one magic v2 record batch.
///
/// Records are encoded straight into one buffer as they are appended (no allocation per
/// record); [`build`](Self::build) compresses them if asked, fills in the header
/// (`lastOffsetDelta`, `baseTimestamp` = the first record's timestamp, `maxTimestamp`, the
/// record count) and computes the CRC.
///
/// The `with_*` setters configure the header and may be called at any time. Offsets given to
/// [`append_with_offset`](Self::append_with_offset) are stored relative to the base offset at
/// the time of the call, so changing the base offset afterwards shifts every record, as
/// [`set_base_offset`](crate::records::set_base_offset) does on a built batch.
///
/// ```
/// use kafka_protocol::records::{Compression, RecordBatch, RecordBatchBuilder};
///
/// let mut builder = RecordBatchBuilder::new().with_compression(Compression::Lz4);
/// builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"))?;
/// builder.append_with_headers(1_700_000_000_001, None, Some(b"v2"), &[("trace", Some(b"1"))])?;
/// let batch = RecordBatch::new(builder.build()?)?;
/// batch.validate()?;
/// let records = batch.records()?.collect::<Result<Vec<_>, _>>()?;
/// assert_eq!(records[1].offset, 1);
/// assert_eq!(records[1].value.as_deref(), Some(&b"v2"[..]));
/// # Ok::<(), kafka_protocol::Error>(())
/// ```
#[derive(Debug)]
pub struct RecordBatchBuilder {
    base_offset: i64,
    partition_leader_epoch: i32,
    compression: Compression,
    compression_level: Option<i32>,
    timestamp_type: TimestampType,
    log_append_time: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    /// A zeroed header followed by the uncompressed records.
    buf: BytesMut,
    count: u32,
    last_offset_delta: Option<i32>,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
}

impl Default for RecordBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a record's headers come from.
#[derive(Debug, Clone, Copy)]
enum HeaderSource<'a> {
    Pairs(&'a [(&'a str, Option<&'a [u8]>)]),
    Encoded(&'a Headers),
}

fn len_prefix(len: usize, what: &'static str) -> Result<i32> {
    i32::try_from(len).map_err(|_| Error::TooLong { what, length: len })
}

fn nullable_size(b: Option<&[u8]>, what: &'static str) -> Result<usize> {
    Ok(match b {
        None => varint_size(-1),
        Some(b) => varint_size(len_prefix(b.len(), what)?) + b.len(),
    })
}

fn put_nullable<B: BufMut>(buf: &mut B, b: Option<&[u8]>) {
    match b {
        None => put_varint(buf, -1),
        Some(b) => {
            // invariant: nullable_size checked the length fits an i32.
            put_varint(buf, b.len() as i32);
            buf.put_slice(b);
        }
    }
}

impl RecordBatchBuilder {
    /// A builder for an uncompressed, non-transactional batch at base offset 0, with no
    /// producer id, create-time timestamps and partition leader epoch -1, as a producer
    /// without idempotence writes it.
    pub fn new() -> Self {
        Self::with_capacity(1024)
    }

    /// As [`new`](Self::new), with room for `capacity` bytes of records before growing.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = BytesMut::with_capacity(RECORD_BATCH_OVERHEAD + capacity);
        buf.put_bytes(0, RECORD_BATCH_OVERHEAD);
        RecordBatchBuilder {
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            compression: Compression::None,
            compression_level: None,
            timestamp_type: TimestampType::CreateTime,
            log_append_time: NO_TIMESTAMP,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            control: false,
            buf,
            count: 0,
            last_offset_delta: None,
            base_timestamp: None,
            max_timestamp: NO_TIMESTAMP,
        }
    }

    /// Sets `baseOffset`.
    pub fn with_base_offset(mut self, base_offset: i64) -> Self {
        self.base_offset = base_offset;
        self
    }

    /// Sets `partitionLeaderEpoch`.
    pub fn with_partition_leader_epoch(mut self, partition_leader_epoch: i32) -> Self {
        self.partition_leader_epoch = partition_leader_epoch;
        self
    }

    /// Sets the compression codec.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the codec's level (gzip 0-9, zstd's range; ignored by snappy and lz4). `None`
    /// uses Kafka's defaults (gzip 6, zstd 3).
    pub fn with_compression_level(mut self, level: Option<i32>) -> Self {
        self.compression_level = level;
        self
    }

    /// Makes the batch use log-append time: `maxTimestamp` is `log_append_time`, which every
    /// record then reports as its timestamp.
    pub fn with_log_append_time(mut self, log_append_time: i64) -> Self {
        self.timestamp_type = TimestampType::LogAppendTime;
        self.log_append_time = log_append_time;
        self
    }

    /// Sets the idempotent producer's id, epoch and the first record's sequence.
    pub fn with_producer(
        mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Marks the batch transactional (attribute bit 4).
    pub fn with_transactional(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }

    /// Marks the batch as holding control records (attribute bit 5).
    pub fn with_control(mut self, control: bool) -> Self {
        self.control = control;
        self
    }

    /// The number of records appended.
    pub fn num_records(&self) -> usize {
        self.count as usize
    }

    /// Whether no record has been appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The batch's size if built uncompressed; an upper estimate for a compressed one.
    pub fn estimated_size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The offset the next [`append`](Self::append) gives its record.
    pub fn next_offset(&self) -> i64 {
        match self.last_offset_delta {
            None => self.base_offset,
            Some(d) => self.base_offset.wrapping_add(i64::from(d)).wrapping_add(1),
        }
    }

    /// Appends a record with no headers at the next offset and returns that offset.
    /// `timestamp` is ms since the epoch, or [`NO_TIMESTAMP`].
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<i64> {
        let offset = self.next_offset();
        self.append_inner(offset, timestamp, key, value, HeaderSource::Pairs(&[]))?;
        Ok(offset)
    }

    /// Appends a record with headers (key, nullable value) at the next offset and returns
    /// that offset.
    pub fn append_with_headers(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) -> Result<i64> {
        let offset = self.next_offset();
        self.append_inner(offset, timestamp, key, value, HeaderSource::Pairs(headers))?;
        Ok(offset)
    }

    /// Appends a record at `offset`, which must be above every offset appended so far and
    /// within `i32::MAX` of the base offset (Kafka's `appendWithOffset`; gaps are allowed, as
    /// compaction leaves them).
    pub fn append_with_offset(
        &mut self,
        offset: i64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) -> Result<()> {
        self.append_inner(offset, timestamp, key, value, HeaderSource::Pairs(headers))
    }

    /// Appends a record read from another batch, keeping its offset, timestamp, key, value
    /// and headers (copied as encoded).
    pub fn append_record(&mut self, record: &Record) -> Result<()> {
        self.append_inner(
            record.offset,
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            HeaderSource::Encoded(&record.headers),
        )
    }

    fn append_inner(
        &mut self,
        offset: i64,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: HeaderSource<'_>,
    ) -> Result<()> {
        if timestamp < 0 && timestamp != NO_TIMESTAMP {
            return Err(Error::InvalidRecord("negative timestamp"));
        }
        let offset_delta = offset
            .checked_sub(self.base_offset)
            .and_then(|d| i32::try_from(d).ok())
            .filter(|d| *d >= 0)
            .ok_or(Error::InvalidRecord(
                "offset is below the base offset or more than i32::MAX above it",
            ))?;
        if self
            .last_offset_delta
            .is_some_and(|last| offset_delta <= last)
        {
            return Err(Error::InvalidRecord(
                "offsets must increase monotonically within a batch",
            ));
        }
        if self.count == i32::MAX as u32 {
            return Err(Error::TooLong {
                what: "record batch record count",
                length: self.count as usize,
            });
        }
        let base_timestamp = self.base_timestamp.unwrap_or(timestamp);
        let timestamp_delta = timestamp
            .checked_sub(base_timestamp)
            .ok_or(Error::InvalidRecord("timestamp delta overflows"))?;

        let (headers_size, header_count) = match headers {
            HeaderSource::Pairs(pairs) => {
                let mut size = 0usize;
                for (k, v) in pairs {
                    size = size
                        .saturating_add(nullable_size(Some(k.as_bytes()), "header key")?)
                        .saturating_add(nullable_size(*v, "header value")?);
                }
                (size, pairs.len())
            }
            HeaderSource::Encoded(h) => (h.as_encoded().len(), h.len()),
        };
        let header_count_i32 = len_prefix(header_count, "record headers")?;
        let body_size = 1usize
            .saturating_add(varlong_size(timestamp_delta))
            .saturating_add(varint_size(offset_delta))
            .saturating_add(nullable_size(key, "record key")?)
            .saturating_add(nullable_size(value, "record value")?)
            .saturating_add(varint_size(header_count_i32))
            .saturating_add(headers_size);
        let body_size_i32 = len_prefix(body_size, "record")?;

        let buf = &mut self.buf;
        buf.reserve(varint_size(body_size_i32) + body_size);
        put_varint(buf, body_size_i32);
        buf.put_i8(0); // attributes
        put_varlong(buf, timestamp_delta);
        put_varint(buf, offset_delta);
        put_nullable(buf, key);
        put_nullable(buf, value);
        put_varint(buf, header_count_i32);
        match headers {
            HeaderSource::Pairs(pairs) => {
                for (k, v) in pairs {
                    put_nullable(buf, Some(k.as_bytes()));
                    put_nullable(buf, *v);
                }
            }
            HeaderSource::Encoded(h) => buf.put_slice(h.as_encoded()),
        }

        self.count += 1;
        self.last_offset_delta = Some(offset_delta);
        self.base_timestamp = Some(base_timestamp);
        self.max_timestamp = self.max_timestamp.max(timestamp);
        Ok(())
    }

    /// Encodes the batch. A builder with no records gives a valid batch with a record count
    /// of 0, `lastOffsetDelta` 0 and no timestamps.
    pub fn build(self) -> Result<Bytes> {
        let attributes = attributes(
            self.compression,
            self.timestamp_type,
            self.transactional,
            self.control,
        );
        let max_timestamp = match self.timestamp_type {
            TimestampType::LogAppendTime => self.log_append_time,
            TimestampType::CreateTime => self.max_timestamp,
        };
        let header = HeaderFields {
            base_offset: self.base_offset,
            partition_leader_epoch: self.partition_leader_epoch,
            attributes,
            last_offset_delta: self.last_offset_delta.unwrap_or(0),
            base_timestamp: self.base_timestamp.unwrap_or(NO_TIMESTAMP),
            max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            // invariant: append_inner keeps count <= i32::MAX.
            records_count: self.count as i32,
        };
        let mut out = match self.compression {
            Compression::None => self.buf,
            codec => {
                let records = self.buf.get(RECORD_BATCH_OVERHEAD..).unwrap_or_default();
                let mut out =
                    BytesMut::with_capacity(RECORD_BATCH_OVERHEAD + records.len() / 2 + 64);
                out.put_bytes(0, RECORD_BATCH_OVERHEAD);
                compression::compress(codec, self.compression_level, records, &mut out)?;
                out
            }
        };
        write_header(&mut out, &header)?;
        Ok(out.freeze())
    }
}
