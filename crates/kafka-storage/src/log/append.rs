//! Appends: batch validation, offset assignment, the write to the active segment, rolling.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    set_base_offset, set_partition_leader_epoch, RecordBatchMut, RecordBatches, TimestampType,
    NO_TIMESTAMP,
};
use tracing::{info, warn};

use super::{lock, write_lock, AppendState, Log};
use crate::checkpoint::{self, SNAPSHOT_SUFFIX};
use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::producer::{BatchMetadata, ProducerBatch, SequenceError, SequenceVerdict};
use crate::segment::{file_name, parse_base_offset, remove_if_exists, AppendedBatch, LogSegment};

/// Bytes at the front of a batch copied and rewritten on append: its fixed header, which holds
/// the base offset and partition leader epoch (both outside the batch CRC).
const PATCHED_HEAD: usize = kafka_protocol::records::RECORD_BATCH_OVERHEAD;

/// One appended batch of an idempotent or transactional producer, for the broker's producer
/// state checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatchInfo {
    /// `producerId` (never -1 here).
    pub producer_id: i64,
    /// `producerEpoch`.
    pub producer_epoch: i16,
    /// `baseSequence`.
    pub base_sequence: i32,
    /// The sequence of the last record.
    pub last_sequence: i32,
    /// The offset assigned to the first record.
    pub first_offset: i64,
    /// The offset assigned to the last record.
    pub last_offset: i64,
    /// Whether the batch is transactional.
    pub is_transactional: bool,
}

/// What one append did (Kafka's `LogAppendInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInfo {
    /// The offset of the first record appended (-1 if the records held no batch).
    pub first_offset: i64,
    /// The offset of the last record appended (-1 if the records held no batch).
    pub last_offset: i64,
    /// The largest `maxTimestamp` of the batches (the log-append time for LogAppendTime
    /// topics), -1 if none.
    pub max_timestamp: i64,
    /// The last offset of the batch holding `max_timestamp`.
    pub offset_of_max_timestamp: i64,
    /// The broker time stamped into the batches for LogAppendTime topics, `None` for
    /// CreateTime (the Produce response's `log_append_time_ms` is -1 then).
    pub log_append_time: Option<i64>,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// Records appended (the sum of the batches' record counts).
    pub num_messages: u64,
    /// Bytes appended.
    pub bytes: usize,
    /// Batches carrying a producer id, in log order (empty for plain producers).
    pub producer_batches: Vec<ProducerBatchInfo>,
    /// Whether the flush policy (`flush.messages`) asks for an fsync covering this append
    /// before it is acknowledged. [`Log::append`] has already done it;
    /// [`Log::append_without_flush`] leaves it to the caller
    /// ([`Log::flush_up_to`]`(last_offset + 1)`); [`Log::append_as_leader`] has queued it
    /// for the flusher thread.
    pub flush_needed: bool,
    /// The request repeated a batch already in the log ([`Log::append_as_leader`] only):
    /// nothing was appended, and the offsets (and `max_timestamp`) are the original batch's.
    pub duplicate: bool,
}

/// Who an append comes from (Kafka's `AppendOrigin`): only client appends are checked
/// against the producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Client,
    Internal,
}

fn frame_error(e: kafka_protocol::Error) -> Error {
    match e {
        kafka_protocol::Error::RecordBatchTooLarge { size, max } => {
            Error::MessageTooLarge { size, max }
        }
        e => Error::CorruptRecord(e),
    }
}

impl Log {
    /// Appends the records of a client's Produce request partition (Kafka's
    /// `appendAsLeader` with origin `Client`): one or more magic v2 batches, validated once.
    ///
    /// Before the append lock, each batch is framed and validated (size against
    /// `max.message.bytes`, magic, CRC, a record count matching its offset range, no control
    /// batches, create-time timestamps within `message.timestamp.{before,after}.max.ms` of
    /// `now_ms`), and their total against `segment.bytes`. Under the append lock, the batches
    /// of idempotent producers are checked against the log's producer state as Kafka does: a
    /// repeat of one of the producer's last five batches answers the whole request with that
    /// batch's offsets and appends nothing ([`AppendInfo::duplicate`]); an older epoch is
    /// [`Error::InvalidProducerEpoch`]; a sequence that does not continue the producer's
    /// (earlier batches of the same request included), or a new epoch not starting at 0, is
    /// [`Error::OutOfOrderSequence`]; a producer the log does not know takes any sequence.
    /// Then offsets are assigned and the batches written as in [`Log::append`].
    ///
    /// Returns at once. When [`AppendInfo::flush_needed`] is set, the flush policy wants the
    /// records durable before they are acknowledged: an fsync covering them has been queued
    /// for the manager's flusher thread (or made, if none runs), which group-commits every
    /// append since its last round; [`Log::flushed_offset`] passing `last_offset` tells when,
    /// and a [`crate::DurabilityListener`] is told of each round and of a failed one (after
    /// which the log is offline, [`Log::is_offline`], and the append will never be durable).
    ///
    /// Every error maps to the partition's Kafka error with [`Error::error_code`].
    pub fn append_as_leader(
        &self,
        records: Bytes,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        let info = self.append_records(records, now_ms, leader_epoch, true, Origin::Client)?;
        if info.flush_needed {
            self.schedule_flush()?;
        }
        Ok(info)
    }

    /// Appends batches written by the broker itself (group metadata) or, with
    /// `assign_offsets` false, batches that already carry their offsets: one or more magic
    /// v2 batches. No producer-state check is made.
    ///
    /// Each batch is framed and validated (size against `max.message.bytes`, magic, CRC, a
    /// record count matching its offset range, no control batches, create-time timestamps
    /// within `message.timestamp.{before,after}.max.ms` of `now_ms` as far as the batch header
    /// tells: its base and max timestamps). Then, without re-encoding anything, its
    /// `partitionLeaderEpoch` is set to `leader_epoch` and, for LogAppendTime topics, its
    /// timestamp type and `maxTimestamp` (`now_ms`) with a recomputed CRC; under the append
    /// lock, `baseOffset` is assigned (when `assign_offsets`; otherwise the batches' own
    /// offsets are kept and must not go backwards), the segment is rolled if due and all
    /// batches go to the active segment with one write. `records` is copied at most once
    /// (only for LogAppendTime): not at all when it is the only handle on its buffer.
    ///
    /// With `flush.messages` reached, this also waits for an fsync covering the append
    /// ([`Log::flush_up_to`], shared with concurrent appenders), after the append lock is
    /// released.
    pub fn append(
        &self,
        records: Bytes,
        now_ms: i64,
        leader_epoch: i32,
        assign_offsets: bool,
    ) -> Result<AppendInfo> {
        let info = self.append_without_flush(records, now_ms, leader_epoch, assign_offsets)?;
        if info.flush_needed {
            self.flush_up_to(info.last_offset.saturating_add(1))?;
        }
        Ok(info)
    }

    /// As [`Log::append`], without the fsync: when [`AppendInfo::flush_needed`] is set the
    /// caller acknowledges the append only after [`Log::flush_up_to`]`(last_offset + 1)` (or
    /// a flush listener reporting that offset), so handler threads need not wait on the disk.
    pub fn append_without_flush(
        &self,
        records: Bytes,
        now_ms: i64,
        leader_epoch: i32,
        assign_offsets: bool,
    ) -> Result<AppendInfo> {
        self.append_records(
            records,
            now_ms,
            leader_epoch,
            assign_offsets,
            Origin::Internal,
        )
    }

    fn append_records(
        &self,
        records: Bytes,
        now_ms: i64,
        leader_epoch: i32,
        assign_offsets: bool,
        origin: Origin,
    ) -> Result<AppendInfo> {
        self.check_open()?;
        let config = self.config();

        // Validate outside the lock.
        let mut batches: Vec<AppendedBatch> = Vec::new();
        let mut total = 0usize;
        let mut num_messages = 0u64;
        for batch in
            RecordBatches::new(records.clone()).with_max_batch_size(config.max_message_bytes)
        {
            let batch = batch.map_err(frame_error)?;
            batch.validate().map_err(Error::CorruptRecord)?;
            if batch.is_control_batch() {
                return Err(Error::InvalidRecord(
                    "clients are not allowed to write control records".into(),
                ));
            }
            let count = batch.records_count();
            let delta = batch.last_offset_delta();
            if assign_offsets && i64::from(count) != i64::from(delta) + 1 {
                return Err(Error::InvalidRecord(format!(
                    "inconsistent batch offset range ({}) and record count ({count})",
                    i64::from(delta) + 1
                )));
            }
            if config.message_timestamp_type == TimestampType::CreateTime
                && batch.timestamp_type() == TimestampType::CreateTime
            {
                check_timestamps(
                    &config,
                    batch.base_timestamp(),
                    batch.max_timestamp(),
                    now_ms,
                )?;
            }
            let size = batch.size_in_bytes();
            total = total.saturating_add(size);
            num_messages += u64::try_from(count).unwrap_or(0);
            batches.push(AppendedBatch {
                size: size as u64,
                base_offset: batch.base_offset(),
                last_offset: batch.last_offset(),
                last_offset_delta: delta,
                max_timestamp: batch.max_timestamp(),
                producer_id: batch.producer_id(),
                producer_epoch: batch.producer_epoch(),
                base_sequence: batch.base_sequence(),
                last_sequence: batch.last_sequence(),
                is_transactional: batch.is_transactional(),
            });
        }
        if batches.is_empty() {
            return Ok(AppendInfo {
                first_offset: -1,
                last_offset: -1,
                max_timestamp: NO_TIMESTAMP,
                offset_of_max_timestamp: -1,
                log_append_time: None,
                log_start_offset: self.log_start_offset(),
                num_messages: 0,
                bytes: 0,
                producer_batches: Vec::new(),
                flush_needed: false,
                duplicate: false,
            });
        }
        if total as u64 > config.segment_bytes {
            return Err(Error::RecordListTooLarge {
                size: total,
                max: usize::try_from(config.segment_bytes).unwrap_or(usize::MAX),
            });
        }

        // Without LogAppendTime the records are written as received: only each batch's first
        // 16 bytes (base offset, length, partition leader epoch; none covered by the CRC) are
        // rewritten, in small copies, and the rest goes from the request's buffer to the file
        // with one vectored write. LogAppendTime rewrites the max timestamp and the CRC, so
        // that path copies the batches once (not at all when the request's buffer is not
        // shared) and patches the base offsets into that copy.
        let log_append_time =
            (config.message_timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        let mut heads: Vec<[u8; PATCHED_HEAD]> = Vec::new();
        let (shared, mut owned) = if let Some(t) = log_append_time {
            let mut buf = match records.try_into_mut() {
                Ok(b) => b,
                Err(b) => BytesMut::from(&b[..]),
            };
            let mut out = BytesMut::new();
            for b in &mut batches {
                let piece = buf.split_to(usize::try_from(b.size).unwrap_or(0));
                let mut m = RecordBatchMut::new(piece).map_err(Error::CorruptRecord)?;
                m.set_partition_leader_epoch(leader_epoch);
                m.set_max_timestamp(TimestampType::LogAppendTime, t);
                // The pieces are adjacent in one buffer: unsplit rejoins them without copying.
                out.unsplit(m.into_inner());
                b.max_timestamp = t;
            }
            (Bytes::new(), Some(out))
        } else {
            let mut pos = 0usize;
            for b in &batches {
                let mut head = [0u8; PATCHED_HEAD];
                head.copy_from_slice(
                    records
                        .get(pos..pos + PATCHED_HEAD)
                        .unwrap_or(&[0; PATCHED_HEAD]),
                );
                set_partition_leader_epoch(&mut head, leader_epoch)
                    .map_err(Error::CorruptRecord)?;
                heads.push(head);
                pos += usize::try_from(b.size).unwrap_or(0);
            }
            (records, None)
        };

        let mut st = lock(&self.append);
        self.check_open()?;
        if origin == Origin::Client && batches.iter().any(|b| b.producer_id >= 0) {
            let verdict = lock(&self.producers).validate(&batches, |b| ProducerBatch {
                producer_id: b.producer_id,
                epoch: b.producer_epoch,
                first_seq: b.base_sequence,
                last_seq: b.last_sequence,
            });
            match verdict {
                SequenceVerdict::Append => {}
                SequenceVerdict::Duplicate(d) => {
                    drop(st);
                    return Ok(self.duplicate_info(&config, &d));
                }
                SequenceVerdict::Refused { index, error } => {
                    let b = batches.get(index);
                    let producer_id = b.map_or(-1, |b| b.producer_id);
                    let epoch = b.map_or(-1, |b| b.producer_epoch);
                    return Err(match error {
                        SequenceError::FencedEpoch { current } => Error::InvalidProducerEpoch {
                            producer_id,
                            epoch,
                            current,
                        },
                        SequenceError::OutOfOrder { expected } => Error::OutOfOrderSequence {
                            producer_id,
                            epoch,
                            expected,
                            got: b.map_or(-1, |b| b.base_sequence),
                        },
                    });
                }
            }
        }
        let mut next = self.log_end_offset();
        for (i, b) in batches.iter_mut().enumerate() {
            if assign_offsets {
                match heads.get_mut(i) {
                    Some(head) => set_base_offset(head, next).map_err(Error::CorruptRecord)?,
                    None => {
                        // The copied (LogAppendTime) body: patch it in place below.
                    }
                }
                b.base_offset = next;
                b.last_offset = next.saturating_add(i64::from(b.last_offset_delta));
            } else if b.base_offset < next {
                return Err(Error::InvalidRecord(format!(
                    "batch offset {} is below the log end offset {next}",
                    b.base_offset
                )));
            }
            next = b.last_offset.saturating_add(1);
        }
        let body: Bytes = match owned.take() {
            Some(mut buf) => {
                if assign_offsets {
                    let mut pos = 0usize;
                    for b in &batches {
                        let end = pos + usize::try_from(b.size).unwrap_or(0);
                        let slice = buf.get_mut(pos..end).unwrap_or_default();
                        set_base_offset(slice, b.base_offset).map_err(Error::CorruptRecord)?;
                        pos = end;
                    }
                }
                buf.freeze()
            }
            None => shared,
        };
        let mut parts: Vec<&[u8]> = Vec::with_capacity(batches.len() * 2);
        if heads.is_empty() {
            parts.push(&body[..]);
        } else {
            let mut pos = 0usize;
            for (b, head) in batches.iter().zip(&heads) {
                let end = pos + usize::try_from(b.size).unwrap_or(0);
                parts.push(&head[..]);
                parts.push(body.get(pos + PATCHED_HEAD..end).unwrap_or_default());
                pos = end;
            }
        }
        let first_offset = batches.first().map_or(next, |b| b.base_offset);
        let last_offset = next - 1;
        let max_ts_in = batches
            .iter()
            .map(|b| b.max_timestamp)
            .max()
            .unwrap_or(NO_TIMESTAMP);

        if self.should_roll(&st, &config, total as u64, max_ts_in, last_offset, now_ms) {
            self.roll_locked(&mut st, first_offset, now_ms)?;
        }
        let seg = st.active.clone();
        if let Err((e, restored)) = seg.append(&parts, &batches, &mut st.bytes_since_index) {
            if !restored {
                self.offline.store(true, Ordering::Release);
            }
            warn!(partition = %self.tp, error = %e, restored, "append failed");
            return Err(Error::Io(e));
        }
        self.log_end_offset.store(next, Ordering::Release);

        if leader_epoch >= 0 {
            let mut epochs = lock(&self.epochs);
            if epochs.assign(leader_epoch, first_offset) {
                if let Err(e) = checkpoint::write_leader_epochs(&self.dir, &epochs.entries) {
                    warn!(partition = %self.tp, error = %e, "could not write the leader epoch checkpoint");
                }
            }
        }
        let mut producer_batches = Vec::new();
        if batches.iter().any(|b| b.producer_id >= 0) {
            let mut producers = lock(&self.producers);
            for b in batches.iter().filter(|b| b.producer_id >= 0) {
                producers.update(
                    b.producer_id,
                    b.producer_epoch,
                    BatchMetadata {
                        first_seq: b.base_sequence,
                        last_seq: b.last_sequence,
                        first_offset: b.base_offset,
                        last_offset: b.last_offset,
                        timestamp: b.max_timestamp,
                    },
                    now_ms,
                );
                producer_batches.push(ProducerBatchInfo {
                    producer_id: b.producer_id,
                    producer_epoch: b.producer_epoch,
                    base_sequence: b.base_sequence,
                    last_sequence: b.last_sequence,
                    first_offset: b.base_offset,
                    last_offset: b.last_offset,
                    is_transactional: b.is_transactional,
                });
            }
        }
        drop(st);

        let (max_timestamp, offset_of_max_timestamp) =
            batches
                .iter()
                .fold((NO_TIMESTAMP, first_offset), |(t, o), b| {
                    if b.max_timestamp > t {
                        (b.max_timestamp, b.last_offset)
                    } else {
                        (t, o)
                    }
                });
        let flush_needed = config
            .flush_interval_messages
            .is_some_and(|n| next - self.flushed_offset() >= i64::try_from(n).unwrap_or(i64::MAX));
        Ok(AppendInfo {
            first_offset,
            last_offset,
            max_timestamp,
            offset_of_max_timestamp,
            log_append_time,
            log_start_offset: self.log_start_offset(),
            num_messages,
            bytes: total,
            producer_batches,
            flush_needed,
            duplicate: false,
        })
    }

    /// The answer to a retried batch already in the log (Kafka answers it with the original
    /// batch's offsets and timestamp). It needs a flush when the original is not durable yet.
    fn duplicate_info(&self, config: &LogConfig, d: &BatchMetadata) -> AppendInfo {
        AppendInfo {
            first_offset: d.first_offset,
            last_offset: d.last_offset,
            max_timestamp: d.timestamp,
            offset_of_max_timestamp: d.last_offset,
            log_append_time: (config.message_timestamp_type == TimestampType::LogAppendTime)
                .then_some(d.timestamp),
            log_start_offset: self.log_start_offset(),
            num_messages: 0,
            bytes: 0,
            producer_batches: Vec::new(),
            flush_needed: config.flush_interval_messages.is_some()
                && self.flushed_offset() <= d.last_offset,
            duplicate: true,
        }
    }

    /// Kafka's `LogSegment.shouldRoll`.
    fn should_roll(
        &self,
        st: &AppendState,
        config: &LogConfig,
        incoming: u64,
        max_timestamp_in: i64,
        last_offset: i64,
        now_ms: i64,
    ) -> bool {
        let seg = &st.active;
        let size = seg.size();
        if size == 0 {
            return false;
        }
        let full = size.saturating_add(incoming) > config.segment_bytes;
        let too_old = config.segment_ms.is_some_and(|ms| {
            let stats = seg.stats();
            let waited = match stats.first_batch_timestamp {
                Some(t) if t >= 0 => max_timestamp_in.saturating_sub(t),
                _ => now_ms.saturating_sub(stats.created_ms),
            };
            waited > i64::try_from(ms).unwrap_or(i64::MAX)
        });
        let (offset_entries, time_entries) = seg.index_entries();
        let index_full = offset_entries as u64 >= config.segment_index_bytes / 8
            || time_entries as u64 >= config.segment_index_bytes / 12;
        let offset_overflow = last_offset.saturating_sub(seg.base_offset) > i64::from(i32::MAX);
        full || too_old || index_full || offset_overflow
    }

    /// Starts a new active segment at `new_base`. Called with the append lock held.
    pub(super) fn roll_locked(
        &self,
        st: &mut AppendState,
        new_base: i64,
        now_ms: i64,
    ) -> Result<()> {
        let old = st.active.clone();
        if old.base_offset == new_base && old.size() == 0 {
            return Ok(());
        }
        let interval = self.config().index_interval_bytes;
        if old.size() == 0 {
            // An empty active segment at another offset is replaced.
            write_lock(&self.segments).remove(&old.base_offset);
            old.delete_files();
        } else {
            old.seal()?;
        }
        let seg = Arc::new(LogSegment::create(&self.dir, new_base, interval, now_ms)?);
        self.dir_dirty.store(true, Ordering::Release);
        write_lock(&self.segments).insert(new_base, seg.clone());
        st.active = seg;
        st.bytes_since_index = 0;
        info!(partition = %self.tp, base_offset = new_base, "rolled a new log segment");
        self.take_producer_snapshot(new_base);
        Ok(())
    }

    /// Writes a producer snapshot as of `offset` and keeps only the two newest.
    pub(super) fn take_producer_snapshot(&self, offset: i64) {
        let state = lock(&self.producers).clone();
        if let Err(e) = checkpoint::write_producer_snapshot(&self.dir, offset, &state) {
            warn!(partition = %self.tp, error = %e, "could not write a producer snapshot");
            return;
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut snaps: Vec<i64> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| parse_base_offset(n, SNAPSHOT_SUFFIX))
            })
            .collect();
        snaps.sort_unstable();
        let keep_from = snaps.len().saturating_sub(2);
        for &s in snaps.get(..keep_from).unwrap_or_default() {
            let _ = remove_if_exists(&self.dir.join(file_name(s, SNAPSHOT_SUFFIX)));
        }
    }
}

/// Kafka's timestamp validation, from the batch header: the first record's timestamp and the
/// batch's largest one.
fn check_timestamps(config: &LogConfig, base: i64, max: i64, now_ms: i64) -> Result<()> {
    if let Some(after) = config.message_timestamp_after_max_ms {
        if max != NO_TIMESTAMP && max.saturating_sub(now_ms) > after {
            return Err(Error::InvalidTimestamp {
                timestamp: max,
                reason: "more than message.timestamp.after.max.ms ahead of the broker's time",
            });
        }
    }
    if let Some(before) = config.message_timestamp_before_max_ms {
        if base != NO_TIMESTAMP && now_ms.saturating_sub(base) > before {
            return Err(Error::InvalidTimestamp {
                timestamp: base,
                reason: "more than message.timestamp.before.max.ms behind the broker's time",
            });
        }
    }
    Ok(())
}
