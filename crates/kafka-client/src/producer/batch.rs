//! One batch of records for one partition (Kafka's `ProducerBatch`).
//!
//! While open, records are encoded straight into a [`RecordBatchBuilder`] (one buffer, no
//! per-record allocation). At its first drain the batch is closed: compressed, stamped with
//! the producer id, epoch and base sequence if idempotent, and checksummed, once. Retries
//! resend exactly those bytes, which is what lets the broker recognise a duplicate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::primitives::{varint_size, varlong_size};
use kafka_protocol::records::{
    Compression, RecordBatch, RecordBatchBuilder, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
    RECORD_BATCH_OVERHEAD,
};

use super::record::{complete_thunks, Callback, DeliveryFuture, ProduceRequestResult, Thunk};
use crate::{Error, Result, TopicPartition};

/// The most a record's fixed fields can take in a v2 batch: its length (varint, 5), its
/// attributes (1), timestamp delta (varlong, 10) and offset delta (varint, 5). Kafka's
/// `DefaultRecord.MAX_RECORD_OVERHEAD`.
pub const MAX_RECORD_OVERHEAD: usize = 21;

fn len_varint_size(len: usize) -> usize {
    varint_size(i32::try_from(len).unwrap_or(i32::MAX))
}

fn nullable_size(b: Option<&[u8]>) -> usize {
    match b {
        None => varint_size(-1),
        Some(b) => len_varint_size(b.len()).saturating_add(b.len()),
    }
}

/// The size of a record's key, value and headers as encoded (Kafka's `DefaultRecord.sizeOf`
/// without the fixed fields).
fn payload_size(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&str, Option<&[u8]>)],
) -> usize {
    let mut size = nullable_size(key)
        .saturating_add(nullable_size(value))
        .saturating_add(len_varint_size(headers.len()));
    for (k, v) in headers {
        size = size
            .saturating_add(nullable_size(Some(k.as_bytes())))
            .saturating_add(nullable_size(*v));
    }
    size
}

/// An upper bound of a batch holding only this record (Kafka's
/// `AbstractRecords.estimateSizeInBytesUpperBound` for magic v2): what a new batch must be
/// able to hold, and what is compared with `max.request.size`.
pub fn estimate_size_upper_bound(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&str, Option<&[u8]>)],
) -> usize {
    RECORD_BATCH_OVERHEAD
        .saturating_add(MAX_RECORD_OVERHEAD)
        .saturating_add(payload_size(key, value, headers))
}

/// The exact encoded size of a record at these deltas (Kafka's `DefaultRecord.sizeInBytes`).
fn record_size(
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&str, Option<&[u8]>)],
) -> usize {
    let body = 1usize
        .saturating_add(varlong_size(timestamp_delta))
        .saturating_add(varint_size(offset_delta))
        .saturating_add(payload_size(key, value, headers));
    len_varint_size(body).saturating_add(body)
}

/// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap from `i32::MAX` to 0.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

// Header field positions of a v2 batch that an epoch bump rewrites.
const CRC_OFFSET: usize = 17;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;

/// How a batch ended; a batch ends once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FinalState {
    Succeeded,
    Failed,
}

/// A batch of records for one partition, from its first append until it is acknowledged,
/// fails or expires (Kafka's `ProducerBatch`).
///
/// Owned by the accumulator's deque while open and while waiting to be (re)sent, and by the
/// Sender while in flight. Every record's [`DeliveryFuture`] points at the batch's shared
/// completion, which [`complete`](Self::complete) or [`fail`](Self::fail) sets once.
#[derive(Debug)]
pub struct ProducerBatch {
    topic_partition: TopicPartition,
    /// `None` once closed.
    builder: Option<RecordBatchBuilder>,
    /// The encoded batch, once closed.
    built: Option<Bytes>,
    compression: Compression,
    compression_level: Option<i32>,
    record_count: i32,
    /// Bytes the batch may grow to: the memory it was given (`max(batch.size, first record)`).
    write_limit: usize,
    base_timestamp: Option<i64>,
    created: Instant,
    last_attempt: Instant,
    drained: Option<Instant>,
    attempts: u32,
    retry_backoff: Duration,
    thunks: Vec<Thunk>,
    result: Arc<ProduceRequestResult>,
    allocated: usize,
    memory_released: AtomicBool,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    final_state: Option<FinalState>,
}

impl ProducerBatch {
    /// An empty open batch for `topic_partition` that may grow to `write_limit` bytes and
    /// holds `allocated` bytes of `buffer.memory` (returned by the accumulator's
    /// `deallocate`).
    pub fn new(
        topic_partition: TopicPartition,
        compression: Compression,
        compression_level: Option<i32>,
        write_limit: usize,
        allocated: usize,
        now: Instant,
    ) -> Self {
        let capacity = write_limit.saturating_sub(RECORD_BATCH_OVERHEAD);
        ProducerBatch {
            result: Arc::new(ProduceRequestResult::new(topic_partition.clone())),
            topic_partition,
            builder: Some(RecordBatchBuilder::with_capacity(capacity)),
            built: None,
            compression,
            compression_level,
            record_count: 0,
            write_limit,
            base_timestamp: None,
            created: now,
            last_attempt: now,
            drained: None,
            attempts: 0,
            retry_backoff: Duration::ZERO,
            thunks: Vec::new(),
            allocated,
            memory_released: AtomicBool::new(false),
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            final_state: None,
        }
    }

    /// Appends a record, or `Ok(None)` when it does not fit (or the batch is closed): the
    /// caller then opens a new batch. The first record always fits, however large.
    ///
    /// `callback` is taken only when the record was appended, so the caller still has it for
    /// the next batch otherwise. `timestamp` is the create time in ms (or `-1`).
    pub fn try_append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
        callback: &mut Option<Callback>,
    ) -> Result<Option<DeliveryFuture>> {
        let Some(builder) = self.builder.as_mut() else {
            return Ok(None);
        };
        if self.record_count > 0 {
            let delta = timestamp.saturating_sub(self.base_timestamp.unwrap_or(timestamp));
            let size = record_size(self.record_count, delta, key, value, headers);
            if builder.estimated_size_in_bytes().saturating_add(size) > self.write_limit {
                return Ok(None);
            }
        }
        builder.append_with_headers(timestamp, key, value, headers)?;
        let relative_offset = self.record_count;
        self.record_count += 1;
        self.base_timestamp.get_or_insert(timestamp);
        let size_of =
            |b: Option<&[u8]>| b.map_or(-1, |b| i32::try_from(b.len()).unwrap_or(i32::MAX));
        let future = DeliveryFuture::new(
            self.result.clone(),
            relative_offset,
            timestamp,
            size_of(key),
            size_of(value),
        );
        if let Some(callback) = callback.take() {
            self.thunks.push(Thunk {
                callback,
                future: future.clone(),
            });
        }
        Ok(Some(future))
    }

    /// Whether no further record fits (Kafka: the builder is closed or its write limit
    /// reached), which makes the batch sendable without waiting for `linger.ms`.
    pub fn is_full(&self) -> bool {
        match &self.builder {
            None => true,
            Some(b) => self.record_count > 0 && b.estimated_size_in_bytes() >= self.write_limit,
        }
    }

    /// The batch's size: exact once closed, the uncompressed size before (an upper bound
    /// when compressing).
    pub fn estimated_size_in_bytes(&self) -> usize {
        match (&self.built, &self.builder) {
            (Some(b), _) => b.len(),
            (None, Some(b)) => b.estimated_size_in_bytes(),
            (None, None) => 0,
        }
    }

    /// Sets the idempotent producer's id, epoch and the first record's sequence, to be
    /// written when the batch is closed (Kafka's `setProducerState`). Ignored once closed:
    /// use [`reset_producer_state`](Self::reset_producer_state) then.
    pub fn set_producer_state(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) {
        if self.built.is_none() {
            self.producer_id = producer_id;
            self.producer_epoch = producer_epoch;
            self.base_sequence = base_sequence;
        }
    }

    /// Rewrites the producer id, epoch and base sequence of a closed batch (and its CRC),
    /// for Kafka's epoch bump after an `OUT_OF_ORDER_SEQUENCE_NUMBER` or
    /// `UNKNOWN_PRODUCER_ID`: in-flight batches are resent under the new epoch with new
    /// sequences. Copies the batch once; an open batch just records the new state.
    pub fn reset_producer_state(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> Result<()> {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        let Some(built) = self.built.take() else {
            return Ok(());
        };
        let mut buf = bytes::BytesMut::from(&built[..]);
        let mut put = |at: usize, bytes: &[u8]| -> Result<()> {
            buf.get_mut(at..at + bytes.len())
                .ok_or_else(|| Error::Other("record batch shorter than its header".into()))?
                .copy_from_slice(bytes);
            Ok(())
        };
        put(PRODUCER_ID_OFFSET, &producer_id.to_be_bytes())?;
        put(PRODUCER_EPOCH_OFFSET, &producer_epoch.to_be_bytes())?;
        put(BASE_SEQUENCE_OFFSET, &base_sequence.to_be_bytes())?;
        let batch = RecordBatch::new(buf.freeze())?;
        let crc = batch.compute_crc();
        let mut buf = bytes::BytesMut::from(&batch.as_bytes()[..]);
        if let Some(slot) = buf.get_mut(CRC_OFFSET..CRC_OFFSET + 4) {
            slot.copy_from_slice(&crc.to_be_bytes());
        }
        self.built = Some(buf.freeze());
        Ok(())
    }

    /// Closes the batch to appends and encodes it (compression, producer state, CRC) if not
    /// done yet; later calls do nothing. Kafka's `close()` at the first drain.
    pub fn close(&mut self) -> Result<()> {
        if self.built.is_some() {
            return Ok(());
        }
        let Some(builder) = self.builder.take() else {
            return Err(Error::Other(format!(
                "batch for {} lost its records",
                self.topic_partition
            )));
        };
        let bytes = builder
            .with_compression(self.compression)
            .with_compression_level(self.compression_level)
            .with_producer(self.producer_id, self.producer_epoch, self.base_sequence)
            .build()?;
        self.built = Some(bytes);
        Ok(())
    }

    /// The encoded batch, once [closed](Self::close): what goes into the Produce request.
    pub fn records(&self) -> Option<&Bytes> {
        self.built.as_ref()
    }

    /// Marks the batch written at `base_offset` (`-1` with `acks=0`), with the broker's
    /// log-append time if the topic uses it: runs the callbacks in record order, then
    /// releases every future. `false` (nothing happens) if the batch already ended.
    pub fn complete(&mut self, base_offset: i64, log_append_time: Option<i64>) -> bool {
        self.finish(FinalState::Succeeded, base_offset, log_append_time, None)
    }

    /// Fails every record of the batch with `error`; `false` if the batch already ended.
    pub fn fail(&mut self, error: Error) -> bool {
        self.finish(FinalState::Failed, -1, None, Some(error))
    }

    fn finish(
        &mut self,
        state: FinalState,
        base_offset: i64,
        log_append_time: Option<i64>,
        error: Option<Error>,
    ) -> bool {
        if self.final_state.is_some() {
            return false;
        }
        self.final_state = Some(state);
        // An ended batch never needs its open buffer again.
        self.builder = None;
        let thunks = std::mem::take(&mut self.thunks);
        complete_thunks(&self.result, thunks, base_offset, log_append_time, error)
    }

    /// Whether [`complete`](Self::complete) or [`fail`](Self::fail) was called.
    pub fn is_done(&self) -> bool {
        self.final_state.is_some()
    }

    /// The completion shared by the batch's futures.
    pub fn result(&self) -> &Arc<ProduceRequestResult> {
        &self.result
    }

    /// The first record's sequence, or `-1` ([`NO_SEQUENCE`]) if none was assigned.
    pub fn base_sequence(&self) -> i32 {
        self.base_sequence
    }

    /// The last record's sequence (wrapping like Kafka's), or `-1` without a sequence.
    pub fn last_sequence(&self) -> i32 {
        if !self.has_sequence() || self.record_count == 0 {
            return NO_SEQUENCE;
        }
        increment_sequence(self.base_sequence, self.record_count - 1)
    }

    /// Whether a sequence was assigned (at the batch's first drain, idempotent producers).
    pub fn has_sequence(&self) -> bool {
        self.base_sequence != NO_SEQUENCE
    }

    /// The producer id written into the batch (`-1` without idempotence).
    pub fn producer_id(&self) -> i64 {
        self.producer_id
    }

    /// The producer epoch written into the batch (`-1` without idempotence).
    pub fn producer_epoch(&self) -> i16 {
        self.producer_epoch
    }

    /// The number of records.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// How often the batch was put back for a retry.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The batch's partition.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.topic_partition
    }

    /// When the first record was appended; `delivery.timeout.ms` counts from here.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// When the batch was created or last put back for a retry; linger and backoff count
    /// from here.
    pub fn last_attempt(&self) -> Instant {
        self.last_attempt
    }

    /// When the batch was last drained for sending.
    pub fn drained_at(&self) -> Option<Instant> {
        self.drained
    }

    /// The backoff chosen when the batch was last put back.
    pub fn retry_backoff(&self) -> Duration {
        self.retry_backoff
    }

    /// Whether the batch was put back for a retry and its backoff has not yet passed.
    pub fn is_backing_off(&self, now: Instant) -> bool {
        self.attempts > 0 && self.waited(now) < self.retry_backoff
    }

    /// Time since creation or the last retry.
    pub fn waited(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_attempt)
    }

    /// Whether `delivery.timeout.ms` passed since creation (Kafka's
    /// `hasReachedDeliveryTimeout`).
    pub fn has_reached_delivery_timeout(&self, delivery_timeout: Duration, now: Instant) -> bool {
        now.saturating_duration_since(self.created) >= delivery_timeout
    }

    /// Bytes of `buffer.memory` the batch holds.
    pub fn allocated_size(&self) -> usize {
        self.allocated
    }

    /// Marks the batch's memory returned; `true` only the first time, so memory is never
    /// freed twice.
    pub(crate) fn release_memory(&self) -> bool {
        !self.memory_released.swap(true, Ordering::AcqRel)
    }

    /// Records a drain for sending.
    pub(crate) fn drained(&mut self, now: Instant) {
        self.drained = Some(now);
    }

    /// Records a retry: one more attempt, backoff counting from `now`.
    pub(crate) fn reenqueued(&mut self, now: Instant, backoff: Duration) {
        self.attempts = self.attempts.saturating_add(1);
        self.last_attempt = now;
        self.retry_backoff = backoff;
    }
}

impl Drop for ProducerBatch {
    /// A batch dropped before it ended (a Sender bug, or a producer dropped without close)
    /// fails its records instead of leaving their futures waiting forever.
    fn drop(&mut self) {
        if self.final_state.is_none() {
            self.fail(Error::Closed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::record::RecordMetadata;
    use std::sync::Mutex;

    fn tp() -> TopicPartition {
        TopicPartition::new("topic", 1)
    }

    fn batch(limit: usize, now: Instant) -> ProducerBatch {
        ProducerBatch::new(tp(), Compression::None, None, limit, limit, now)
    }

    fn append(b: &mut ProducerBatch, value: &[u8], _now: Instant) -> Option<DeliveryFuture> {
        b.try_append(1_000, Some(b"k"), Some(value), &[], &mut None)
            .ok()
            .flatten()
    }

    #[test]
    fn sizes_match_what_the_builder_writes() {
        let headers: &[(&str, Option<&[u8]>)] = &[("h", Some(b"v")), ("n", None)];
        let mut builder = RecordBatchBuilder::new();
        let before = builder.estimated_size_in_bytes();
        assert!(builder
            .append_with_headers(5, Some(b"key"), Some(&[0u8; 300]), headers)
            .is_ok());
        let first = builder.estimated_size_in_bytes() - before;
        assert_eq!(
            first,
            record_size(0, 0, Some(b"key"), Some(&[0u8; 300]), headers)
        );
        assert!(
            estimate_size_upper_bound(Some(b"key"), Some(&[0u8; 300]), headers)
                >= RECORD_BATCH_OVERHEAD + first
        );
        let before = builder.estimated_size_in_bytes();
        assert!(builder.append(100_000, None, None).is_ok());
        assert_eq!(
            builder.estimated_size_in_bytes() - before,
            record_size(1, 99_995, None, None, &[])
        );
    }

    #[test]
    fn fills_up_to_the_write_limit_and_the_first_record_always_fits() {
        let now = Instant::now();
        let mut b = batch(200, now);
        assert!(
            append(&mut b, &[1u8; 500], now).is_some(),
            "first record fits"
        );
        assert!(b.is_full());
        assert!(append(&mut b, b"x", now).is_none());

        let mut b = batch(200, now);
        let mut n = 0;
        while append(&mut b, &[7u8; 20], now).is_some() {
            n += 1;
        }
        assert_eq!(b.record_count(), n);
        assert!(b.estimated_size_in_bytes() <= 200);
        assert!(b.estimated_size_in_bytes() + 20 > 200 - RECORD_BATCH_OVERHEAD / 2);
    }

    #[test]
    fn callback_is_kept_by_the_caller_when_the_record_does_not_fit() {
        let now = Instant::now();
        let mut b = batch(80, now);
        assert!(append(&mut b, &[0u8; 10], now).is_some());
        let mut cb: Option<Callback> = Some(Box::new(|_: &Result<RecordMetadata>| {}));
        let r = b.try_append(1, None, Some(&[0u8; 100]), &[], &mut cb);
        assert!(matches!(r, Ok(None)));
        assert!(cb.is_some());
    }

    #[test]
    fn invalid_timestamp_is_an_error_not_a_full_batch() {
        let now = Instant::now();
        let mut b = batch(1000, now);
        let r = b.try_append(-5, None, Some(b"v"), &[], &mut None);
        assert!(matches!(r, Err(Error::Protocol(_))));
        assert_eq!(b.record_count(), 0);
    }

    #[test]
    fn complete_resolves_futures_and_runs_callbacks_in_order_once() {
        let now = Instant::now();
        let mut b = batch(10_000, now);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut futures = Vec::new();
        for i in 0..5i64 {
            let mut cb: Option<Callback> = if i % 2 == 0 {
                let seen = seen.clone();
                Some(Box::new(move |r: &Result<RecordMetadata>| {
                    let m = r.as_ref().map(|m| (m.offset, m.timestamp)).ok();
                    seen.lock().unwrap_or_else(|e| e.into_inner()).push((i, m));
                }))
            } else {
                None
            };
            let f = b.try_append(1_000 + i, None, Some(b"v"), &[], &mut cb);
            futures.push(f.ok().flatten());
        }
        assert!(b.complete(500, None));
        assert!(!b.complete(900, None), "completing twice is a no-op");
        assert!(!b.fail(Error::Closed));
        assert_eq!(
            *seen.lock().unwrap_or_else(|e| e.into_inner()),
            vec![
                (0, Some((500, 1_000))),
                (2, Some((502, 1_002))),
                (4, Some((504, 1_004)))
            ]
        );
        let offsets: Vec<_> = futures
            .into_iter()
            .map(|f| {
                f.and_then(|f| f.try_get())
                    .and_then(|r| r.ok())
                    .map(|m| m.offset)
            })
            .collect();
        assert_eq!(
            offsets,
            vec![Some(500), Some(501), Some(502), Some(503), Some(504)]
        );
    }

    #[test]
    fn fail_reaches_futures_and_callbacks() {
        let now = Instant::now();
        let mut b = batch(10_000, now);
        let got = Arc::new(Mutex::new(None));
        let g = got.clone();
        let mut cb: Option<Callback> = Some(Box::new(move |r: &Result<RecordMetadata>| {
            *g.lock().unwrap_or_else(|e| e.into_inner()) = Some(r.is_err());
        }));
        let f = b.try_append(1, None, None, &[], &mut cb).ok().flatten();
        assert!(b.fail(Error::Timeout("delivery.timeout.ms".into())));
        assert!(b.is_done());
        assert_eq!(*got.lock().unwrap_or_else(|e| e.into_inner()), Some(true));
        assert!(matches!(f.map(|f| f.wait()), Some(Err(Error::Timeout(_)))));
        assert!(!b.complete(1, None));
    }

    #[test]
    fn built_bytes_carry_producer_state_and_compression_and_are_built_once() {
        let now = Instant::now();
        let mut b = ProducerBatch::new(tp(), Compression::Lz4, None, 16_384, 16_384, now);
        for i in 0..10 {
            let v = format!("value-{i}-{}", "x".repeat(50));
            assert!(b
                .try_append(
                    2_000 + i,
                    Some(b"key"),
                    Some(v.as_bytes()),
                    &[("h", Some(b"1"))],
                    &mut None
                )
                .ok()
                .flatten()
                .is_some());
        }
        assert!(b.records().is_none());
        b.set_producer_state(42, 3, 100);
        assert!(b.close().is_ok());
        let first = b.records().cloned();
        assert!(b.close().is_ok());
        assert_eq!(b.records().cloned(), first, "built once");
        assert!(b.is_full(), "closed batches take no more records");
        assert!(append(&mut b, b"late", now).is_none());
        b.set_producer_state(1, 1, 1);
        assert_eq!(b.base_sequence(), 100, "producer state is fixed once built");

        let Some(bytes) = first else {
            panic!("no bytes")
        };
        let rb = RecordBatch::new(bytes).ok();
        let Some(rb) = rb else { panic!("not a batch") };
        assert!(rb.validate().is_ok());
        assert_eq!(rb.producer_id(), 42);
        assert_eq!(rb.producer_epoch(), 3);
        assert_eq!(rb.base_sequence(), 100);
        assert_eq!(rb.records_count(), 10);
        assert!(matches!(rb.compression(), Ok(Compression::Lz4)));
        assert_eq!(b.last_sequence(), 109);
        let records: Vec<_> = rb
            .records()
            .ok()
            .map(|r| r.filter_map(|r| r.ok()).collect())
            .unwrap_or_default();
        assert_eq!(records.len(), 10);
        assert_eq!(records[9].offset, 9);
        assert_eq!(records[9].timestamp, 2_009);
    }

    #[test]
    fn reset_producer_state_rewrites_header_and_crc() {
        let now = Instant::now();
        let mut b = ProducerBatch::new(tp(), Compression::Gzip, None, 1000, 1000, now);
        assert!(append(&mut b, b"one", now).is_some());
        assert!(append(&mut b, b"two", now).is_some());
        b.set_producer_state(7, 0, 5);
        assert!(b.close().is_ok());
        assert!(b.reset_producer_state(7, 1, 0).is_ok());
        let rb = b.records().cloned().and_then(|x| RecordBatch::new(x).ok());
        let Some(rb) = rb else { panic!("not a batch") };
        assert!(rb.validate().is_ok());
        assert_eq!(
            (rb.producer_id(), rb.producer_epoch(), rb.base_sequence()),
            (7, 1, 0)
        );
        assert_eq!((b.producer_epoch(), b.base_sequence()), (1, 0));
        let n = rb.records().map(|r| r.count()).unwrap_or(0);
        assert_eq!(n, 2);
    }

    #[test]
    fn dropping_an_unfinished_batch_fails_its_records() {
        let now = Instant::now();
        let mut b = batch(1000, now);
        let f = append(&mut b, b"v", now);
        drop(b);
        assert!(matches!(f.map(|f| f.wait()), Some(Err(Error::Closed))));

        let mut b = batch(1000, now);
        let f = append(&mut b, b"v", now);
        b.complete(3, None);
        drop(b);
        assert_eq!(
            f.and_then(|f| f.try_get())
                .and_then(|r| r.ok())
                .map(|m| m.offset),
            Some(3)
        );
    }

    #[test]
    fn sequences_wrap_like_kafka() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    }

    #[test]
    fn timing_helpers() {
        let t0 = Instant::now();
        let mut b = batch(100, t0);
        assert!(!b.is_backing_off(t0));
        assert!(!b.has_reached_delivery_timeout(Duration::from_secs(1), t0));
        assert!(b.has_reached_delivery_timeout(Duration::from_secs(1), t0 + Duration::from_secs(1)));
        b.reenqueued(t0 + Duration::from_millis(10), Duration::from_millis(100));
        assert_eq!(b.attempts(), 1);
        assert!(b.is_backing_off(t0 + Duration::from_millis(50)));
        assert!(!b.is_backing_off(t0 + Duration::from_millis(110)));
        assert!(b.release_memory());
        assert!(!b.release_memory());
    }
}
