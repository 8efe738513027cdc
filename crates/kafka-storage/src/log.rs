//! One partition's log: Kafka's `UnifiedLog` and `LocalLog` in one type.
//!
//! Concurrency: appends take the append lock (a `Mutex`) for offset assignment, the roll
//! decision and the one `write` to the active segment; validation (framing, CRC, timestamps,
//! the LogAppendTime rewrite) happens before it. The segment map sits behind an `RwLock`
//! taken only to look up or add/remove segments. Readers never take the append lock: they
//! read the log end offset (an atomic stored after a write completes) and each segment's
//! committed size, so they see whole batches only. Flushes take neither lock while they
//! fsync (see [`Log::flush_up_to`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    set_base_offset, set_partition_leader_epoch, FileRegion, RecordBatchMut, RecordBatches,
    TimestampType, NO_TIMESTAMP,
};
use kafka_protocol::Uuid;
use tracing::{info, warn};

use crate::checkpoint::{self, OffsetsCheckpoint, SNAPSHOT_SUFFIX};
use crate::config::LogConfig;
use crate::epoch::LeaderEpochCache;
use crate::error::{Error, Result};
use crate::manager::FlushListener;
use crate::producer::{BatchMetadata, ProducerEntry, ProducerStateManager};
use crate::segment::{
    file_name, parse_base_offset, remove_if_exists, AppendedBatch, LogSegment, DELETED_SUFFIX,
    INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::TopicPartition;

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
    /// ([`Log::flush_up_to`]`(last_offset + 1)`).
    pub flush_needed: bool,
}

/// The result of a read (Kafka's `FetchDataInfo`).
#[derive(Debug, Clone)]
pub struct FetchDataInfo {
    /// Whole batches from one segment file, to send with sendfile; `None` when nothing is
    /// returned.
    pub records: Option<FileRegion>,
    /// The region's length (0 when `records` is `None`).
    pub bytes: usize,
    /// The base offset of the first batch returned (it may be below the fetch offset when the
    /// fetch offset is inside a batch).
    pub first_batch_offset: Option<i64>,
    /// The offset after the last batch returned: where to fetch next (the fetch offset when
    /// nothing was returned).
    pub next_offset: i64,
    /// Whether the first batch alone was larger than `max_bytes` and nothing was returned
    /// because `min_one_message` was false.
    pub first_batch_too_large: bool,
    /// The log start offset when the read was made.
    pub log_start_offset: i64,
    /// The log end offset when the read was made.
    pub log_end_offset: i64,
    /// The high watermark when the read was made.
    pub high_watermark: i64,
}

/// The writer's state, behind the append lock.
#[derive(Debug)]
struct AppendState {
    active: Arc<LogSegment>,
    /// Bytes appended to the active segment since its last index entry.
    bytes_since_index: u64,
}

/// One partition's log. `Send + Sync`: appends are serialized by an internal lock; reads run
/// concurrently with them and with each other.
pub struct Log {
    tp: TopicPartition,
    dir: PathBuf,
    topic_id: Option<Uuid>,
    config: RwLock<Arc<LogConfig>>,
    append: Mutex<AppendState>,
    segments: RwLock<BTreeMap<i64, Arc<LogSegment>>>,
    log_start_offset: AtomicI64,
    log_end_offset: AtomicI64,
    /// Offsets below this are fsynced (the recovery point).
    flushed_offset: AtomicI64,
    /// Whether a flush is in progress.
    flushing: Mutex<bool>,
    flush_done: Condvar,
    last_flush_ms: AtomicI64,
    fsyncs: AtomicU64,
    epochs: Mutex<LeaderEpochCache>,
    producers: Mutex<ProducerStateManager>,
    checkpointed: Mutex<Option<OffsetsCheckpoint>>,
    closed: AtomicBool,
    offline: AtomicBool,
    /// A segment file was created since the directory was last fsynced.
    dir_dirty: AtomicBool,
    flush_listener: RwLock<Option<FlushListener>>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("topic_partition", &self.tp)
            .field("dir", &self.dir)
            .field("log_start_offset", &self.log_start_offset())
            .field("log_end_offset", &self.log_end_offset())
            .field("flushed_offset", &self.flushed_offset())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read_lock<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_lock<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The wall clock in ms since the epoch.
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}

fn frame_error(e: kafka_protocol::Error) -> Error {
    match e {
        kafka_protocol::Error::RecordBatchTooLarge { size, max } => {
            Error::MessageTooLarge { size, max }
        }
        e => Error::CorruptRecord(e),
    }
}

/// Options for loading a log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadOptions {
    pub(crate) had_clean_shutdown: bool,
    pub(crate) now_ms: i64,
}

impl Log {
    /// Creates a new partition directory and its empty log.
    pub(crate) fn create(
        dir: &Path,
        tp: TopicPartition,
        topic_id: Uuid,
        overrides: &BTreeMap<String, String>,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<Log> {
        std::fs::create_dir_all(dir)?;
        checkpoint::write_partition_metadata(dir, topic_id)?;
        checkpoint::write_topic_config(dir, overrides)?;
        checkpoint::write_offsets_checkpoint(
            dir,
            OffsetsCheckpoint {
                log_start_offset: 0,
                recovery_point: 0,
            },
        )?;
        sync_dir(dir);
        sync_dir(dir.parent().unwrap_or(dir));
        Log::open(
            dir,
            tp,
            config,
            LoadOptions {
                had_clean_shutdown: true,
                now_ms,
            },
        )
    }

    /// Loads a partition directory, recovering what was not flushed before an unclean
    /// shutdown (see the crate docs).
    pub(crate) fn open(
        dir: &Path,
        tp: TopicPartition,
        config: LogConfig,
        opts: LoadOptions,
    ) -> Result<Log> {
        let topic_id = checkpoint::read_partition_metadata(dir)?;
        let offsets = match checkpoint::read_offsets_checkpoint(dir) {
            Ok(c) => c,
            Err(e) => {
                warn!(partition = %tp, error = %e, "ignoring unreadable offsets checkpoint");
                None
            }
        };
        let epochs = match checkpoint::read_leader_epochs(dir) {
            Ok(e) => LeaderEpochCache::new(e),
            Err(e) => {
                warn!(partition = %tp, error = %e, "ignoring unreadable leader epoch checkpoint");
                LeaderEpochCache::default()
            }
        };

        // Find the segments; drop what an interrupted operation left behind.
        let mut bases = Vec::new();
        let mut index_files = Vec::new();
        let mut snapshots = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            if name.ends_with(DELETED_SUFFIX)
                || name.ends_with(".cleaned")
                || name.ends_with(".swap")
                || name.ends_with(".tmp")
            {
                info!(file = %path.display(), "removing leftover file");
                remove_if_exists(&path)?;
            } else if let Some(base) = parse_base_offset(name, LOG_SUFFIX) {
                bases.push(base);
            } else if let Some(base) = parse_base_offset(name, SNAPSHOT_SUFFIX) {
                snapshots.push(base);
            } else if parse_base_offset(name, INDEX_SUFFIX)
                .or_else(|| parse_base_offset(name, TIME_INDEX_SUFFIX))
                .is_some()
            {
                index_files.push((name.to_string(), path));
            }
        }
        bases.sort_unstable();
        for (name, path) in index_files {
            let base = parse_base_offset(&name, INDEX_SUFFIX)
                .or_else(|| parse_base_offset(&name, TIME_INDEX_SUFFIX));
            if base.is_some_and(|b| bases.binary_search(&b).is_err()) {
                info!(file = %path.display(), "removing index without a log file");
                remove_if_exists(&path)?;
            }
        }

        let recover_from = if opts.had_clean_shutdown {
            None
        } else {
            let rp = offsets.map_or(0, |c| c.recovery_point);
            // The segment holding the recovery point and every later one.
            Some(
                bases
                    .iter()
                    .rev()
                    .find(|&&b| b <= rp)
                    .copied()
                    .unwrap_or(i64::MIN),
            )
        };

        let mut segments: BTreeMap<i64, Arc<LogSegment>> = BTreeMap::new();
        let mut recovered = Vec::new();
        let n = bases.len();
        let mut truncated_at: Option<usize> = None;
        for (i, &base) in bases.iter().enumerate() {
            let seg = LogSegment::open(dir, base, config.index_interval_bytes, opts.now_ms)?;
            let is_last = i + 1 == n;
            let needs_recovery = recover_from.is_some_and(|from| base >= from);
            let mut recovered_this = false;
            if needs_recovery {
                let outcome = seg.recover()?;
                recovered_this = true;
                if outcome.truncated_bytes > 0 && !is_last {
                    truncated_at = Some(i);
                }
            } else if let Err(e) = seg.load_clean(is_last) {
                warn!(segment = %seg.log_path().display(), error = %e,
                    "segment failed its load checks: recovering it");
                let outcome = seg.recover()?;
                recovered_this = true;
                if outcome.truncated_bytes > 0 && !is_last {
                    truncated_at = Some(i);
                }
            }
            let seg = Arc::new(seg);
            if recovered_this {
                recovered.push(seg.clone());
            }
            segments.insert(base, seg);
            if truncated_at.is_some() {
                break;
            }
        }
        if let Some(i) = truncated_at {
            // Everything after a corrupt batch is suspect: drop the later segments, as Kafka
            // does.
            for &base in bases.get(i + 1..).unwrap_or_default() {
                warn!(partition = %tp, base_offset = base, "recovery: deleting segment after a truncated one");
                for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                    remove_if_exists(&dir.join(file_name(base, suffix)))?;
                }
            }
        }
        // Sealed segments end where the next one starts; seal recovered ones.
        let keys: Vec<i64> = segments.keys().copied().collect();
        for w in keys.windows(2) {
            if let (Some(&a), Some(&b)) = (w.first(), w.get(1)) {
                if let Some(seg) = segments.get(&a) {
                    if seg.size() > 0 && seg.next_offset() <= a {
                        seg.set_next_offset(b);
                    }
                    if !seg.is_sealed() {
                        seg.seal()?;
                    } else if recovered.iter().any(|r| Arc::ptr_eq(r, seg)) {
                        seg.persist_index(false)?;
                    }
                }
            }
        }

        let checkpoint_start = offsets.map_or(0, |c| c.log_start_offset);
        if segments.is_empty() {
            let base = checkpoint_start.max(0);
            let seg = LogSegment::create(dir, base, config.index_interval_bytes, opts.now_ms)?;
            segments.insert(base, Arc::new(seg));
        }
        let mut leo = segments.values().next_back().map_or(0, |s| s.next_offset());
        let first_base = segments.keys().next().copied().unwrap_or(0);
        let mut log_start = checkpoint_start.max(first_base);
        if log_start > leo {
            warn!(partition = %tp, log_start, leo,
                "log start offset is past the recovered log end: starting an empty log at it");
            for seg in segments.values() {
                seg.delete_files();
            }
            segments.clear();
            let seg = LogSegment::create(dir, log_start, config.index_interval_bytes, opts.now_ms)?;
            segments.insert(log_start, Arc::new(seg));
            leo = log_start;
        }
        log_start = log_start.min(leo);

        for seg in &recovered {
            seg.flush()?;
        }

        let mut epochs = epochs;
        let epochs_changed = epochs.truncate_from_end(leo) | epochs.truncate_from_start(log_start);
        if epochs_changed {
            checkpoint::write_leader_epochs(dir, &epochs.entries)?;
        }

        let active = segments
            .values()
            .next_back()
            .cloned()
            .ok_or_else(|| Error::Corrupt("no active segment".into()))?;
        let log = Log {
            tp,
            dir: dir.to_path_buf(),
            topic_id,
            config: RwLock::new(Arc::new(config)),
            append: Mutex::new(AppendState {
                active,
                bytes_since_index: 0,
            }),
            segments: RwLock::new(segments),
            log_start_offset: AtomicI64::new(log_start),
            log_end_offset: AtomicI64::new(leo),
            flushed_offset: AtomicI64::new(leo),
            flushing: Mutex::new(false),
            flush_done: Condvar::new(),
            last_flush_ms: AtomicI64::new(opts.now_ms),
            fsyncs: AtomicU64::new(0),
            epochs: Mutex::new(epochs),
            producers: Mutex::new(ProducerStateManager::default()),
            checkpointed: Mutex::new(None),
            closed: AtomicBool::new(false),
            offline: AtomicBool::new(false),
            dir_dirty: AtomicBool::new(false),
            flush_listener: RwLock::new(None),
        };
        log.load_producer_state(&snapshots)?;
        log.write_checkpoint()?;
        if !recovered.is_empty() {
            info!(partition = %log.tp, log_end_offset = leo, segments = recovered.len(), "recovered log");
        }
        Ok(log)
    }

    /// Rebuilds producer state: the latest snapshot at or below the log end, then the batch
    /// headers after it.
    fn load_producer_state(&self, snapshots: &[i64]) -> Result<()> {
        let leo = self.log_end_offset();
        let start = self.log_start_offset();
        let mut state = ProducerStateManager::default();
        let mut from = start;
        let mut usable: Vec<i64> = snapshots.to_vec();
        usable.sort_unstable();
        for &s in snapshots {
            if s > leo {
                remove_if_exists(&self.dir.join(file_name(s, SNAPSHOT_SUFFIX)))?;
            }
        }
        usable.retain(|&s| s <= leo);
        while let Some(s) = usable.pop() {
            let path = self.dir.join(file_name(s, SNAPSHOT_SUFFIX));
            match checkpoint::read_producer_snapshot(&path) {
                Ok(st) => {
                    state = st;
                    from = s.max(start);
                    break;
                }
                Err(e) => {
                    warn!(file = %path.display(), error = %e, "ignoring unreadable producer snapshot");
                }
            }
        }
        if from < leo {
            for seg in self.segments_from(from) {
                seg.scan_headers(from, |h| {
                    if h.producer_id >= 0 && !h.is_control() && h.last_offset() >= from {
                        state.update(
                            h.producer_id,
                            h.producer_epoch,
                            BatchMetadata {
                                first_seq: h.base_sequence,
                                last_seq: h.last_sequence(),
                                first_offset: h.base_offset,
                                last_offset: h.last_offset(),
                                timestamp: h.max_timestamp,
                            },
                            h.max_timestamp,
                        );
                    }
                })?;
            }
        }
        *lock(&self.producers) = state;
        Ok(())
    }

    /// The segments that may hold `offset` or later ones, in order.
    fn segments_from(&self, offset: i64) -> Vec<Arc<LogSegment>> {
        let map = read_lock(&self.segments);
        let start = map
            .range(..=offset)
            .next_back()
            .map_or(i64::MIN, |(k, _)| *k);
        map.range(start..).map(|(_, s)| s.clone()).collect()
    }

    fn all_segments(&self) -> Vec<Arc<LogSegment>> {
        read_lock(&self.segments).values().cloned().collect()
    }

    fn check_open(&self) -> Result<()> {
        if self.offline.load(Ordering::Acquire) {
            return Err(Error::Offline(self.tp.clone()));
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::LogDeleted(self.tp.clone()));
        }
        Ok(())
    }

    /// The partition.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    /// The partition's directory.
    pub fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// The topic id stored in `partition.metadata`.
    pub fn topic_id(&self) -> Option<Uuid> {
        self.topic_id
    }

    /// The log's current configuration.
    pub fn config(&self) -> Arc<LogConfig> {
        read_lock(&self.config).clone()
    }

    pub(crate) fn set_config(&self, config: LogConfig) {
        *write_lock(&self.config) = Arc::new(config);
    }

    pub(crate) fn set_flush_listener(&self, listener: Option<FlushListener>) {
        *write_lock(&self.flush_listener) = listener;
    }

    /// Appends the `records` field of a Produce request partition: one or more magic v2
    /// batches.
    ///
    /// Each batch is framed and validated (size against `max.message.bytes`, magic, CRC, a
    /// record count matching its offset range, no control batches, create-time timestamps
    /// within `message.timestamp.{before,after}.max.ms` of `now_ms` as far as the batch header
    /// tells: its base and max timestamps). Then, without re-encoding anything, its
    /// `partitionLeaderEpoch` is set to `leader_epoch` and, for LogAppendTime topics, its
    /// timestamp type and `maxTimestamp` (`now_ms`) with a recomputed CRC; under the append
    /// lock, `baseOffset` is assigned (when `assign_offsets`; otherwise the batches' own
    /// offsets are kept and must not go backwards), the segment is rolled if due and all
    /// batches go to the active segment with one write. `records` is copied at most once:
    /// not at all when it is the only handle on its buffer.
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
        // that path copies the batches once.
        let log_append_time =
            (config.message_timestamp_type == TimestampType::LogAppendTime).then_some(now_ms);
        let mut heads: Vec<[u8; PATCHED_HEAD]> = Vec::new();
        let body: Bytes = if let Some(t) = log_append_time {
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
                out.unsplit(m.into_inner());
                b.max_timestamp = t;
            }
            out.freeze()
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
            records
        };

        let mut st = lock(&self.append);
        self.check_open()?;
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
        let body = if heads.is_empty() && assign_offsets {
            let mut buf = BytesMut::from(&body[..]);
            let mut pos = 0usize;
            for b in &batches {
                let end = pos + usize::try_from(b.size).unwrap_or(0);
                let slice = buf.get_mut(pos..end).unwrap_or_default();
                set_base_offset(slice, b.base_offset).map_err(Error::CorruptRecord)?;
                pos = end;
            }
            buf.freeze()
        } else {
            body
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
        })
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
    fn roll_locked(&self, st: &mut AppendState, new_base: i64, now_ms: i64) -> Result<()> {
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
    fn take_producer_snapshot(&self, offset: i64) {
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

    /// Reads whole batches from the batch holding `fetch_offset`: at most `max_bytes` bytes
    /// (but the first batch whole when `min_one_message`), only batches whose base offset is
    /// below `max_offset` (exclusive; the high watermark or last stable offset) and the log
    /// end offset, and never past the end of the segment the first batch is in: call again
    /// from [`FetchDataInfo::next_offset`] for more.
    ///
    /// [`Error::OffsetOutOfRange`] when `fetch_offset` is below the log start offset or
    /// above the log end offset. Reading at the log end offset returns nothing.
    pub fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        max_offset: Option<i64>,
        min_one_message: bool,
    ) -> Result<FetchDataInfo> {
        let leo = self.log_end_offset();
        let start = self.log_start_offset();
        let mut info = FetchDataInfo {
            records: None,
            bytes: 0,
            first_batch_offset: None,
            next_offset: fetch_offset,
            first_batch_too_large: false,
            log_start_offset: start,
            log_end_offset: leo,
            high_watermark: leo,
        };
        if fetch_offset < start || fetch_offset > leo {
            return Err(Error::OffsetOutOfRange {
                requested: fetch_offset,
                start,
                end: leo,
            });
        }
        let bound = max_offset.map_or(leo, |m| m.min(leo));
        if fetch_offset >= bound {
            return Ok(info);
        }
        let mut seg = {
            let map = read_lock(&self.segments);
            map.range(..=fetch_offset)
                .next_back()
                .or_else(|| map.iter().next())
                .map(|(_, s)| s.clone())
        };
        while let Some(s) = seg {
            let limit = s.size();
            if let Some(first) = s.translate_offset(fetch_offset, limit)? {
                if first.base_offset >= bound {
                    return Ok(info);
                }
                if first.size > max_bytes as u64 && !min_one_message {
                    info.first_batch_too_large = true;
                    return Ok(info);
                }
                let max_end = first
                    .position
                    .saturating_add(max_bytes as u64)
                    .max(first.end());
                let (end, next) = s.region_end(&first, max_end, bound, limit)?;
                let len = usize::try_from(end - first.position)
                    .map_err(|_| Error::Corrupt("region too large".into()))?;
                info.records = Some(FileRegion {
                    file: s.file.clone(),
                    position: first.position,
                    len,
                });
                info.bytes = len;
                info.first_batch_offset = Some(first.base_offset);
                info.next_offset = next;
                return Ok(info);
            }
            seg = read_lock(&self.segments)
                .range(s.base_offset.saturating_add(1)..)
                .next()
                .map(|(_, s)| s.clone());
        }
        Ok(info)
    }

    /// Like [`Log::read`] with `min_one_message`, but the batches are read into memory: the
    /// one path for callers that need the bytes rather than a region to send. At most
    /// `max_bytes` are read and allocated (exactly the bytes returned); a first batch larger
    /// than that is [`Error::MessageTooLarge`] with its size, so a caller may ask again with
    /// a larger limit if it means to.
    pub fn read_records(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        max_offset: Option<i64>,
    ) -> Result<(FetchDataInfo, Bytes)> {
        let info = self.read(fetch_offset, max_bytes, max_offset, true)?;
        let bytes = match &info.records {
            Some(region) => crate::region::read_region(region, max_bytes)?,
            None => Bytes::new(),
        };
        Ok((info, bytes))
    }

    /// The first offset of the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// The offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }

    /// The high watermark: the log end offset on a single broker. A separate method so the
    /// broker states which one it means; with `flush.messages=1` acknowledge only what
    /// [`Log::flushed_offset`] covers.
    pub fn high_watermark(&self) -> i64 {
        self.log_end_offset()
    }

    /// The last stable offset: the high watermark while transactions are not implemented.
    pub fn last_stable_offset(&self) -> i64 {
        self.high_watermark()
    }

    /// Bytes in all segments.
    pub fn size_in_bytes(&self) -> u64 {
        read_lock(&self.segments).values().map(|s| s.size()).sum()
    }

    /// Number of segments.
    pub fn num_segments(&self) -> usize {
        read_lock(&self.segments).len()
    }

    /// The base offsets of the segments, in order.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        read_lock(&self.segments).keys().copied().collect()
    }

    /// Fsyncs everything appended so far ([`Log::flush_up_to`] the log end offset).
    pub fn flush(&self) -> Result<()> {
        self.flush_up_to(self.log_end_offset())
    }

    /// Returns once every offset below `offset` (capped at the log end offset) is fsynced.
    ///
    /// Group commit: one flush at a time runs per log; it takes the log end offset as its
    /// target, fsyncs the segments holding unflushed data without holding the append lock
    /// (appends go on meanwhile), then advances [`Log::flushed_offset`] and wakes every
    /// waiter. A caller whose offset a running flush will not cover waits for it and starts
    /// the next, which covers every append made meanwhile: one fsync serves many appends.
    pub fn flush_up_to(&self, offset: i64) -> Result<()> {
        loop {
            let target = offset.min(self.log_end_offset());
            if self.flushed_offset() >= target {
                return Ok(());
            }
            let mut busy = lock(&self.flushing);
            if self.flushed_offset() >= target {
                return Ok(());
            }
            if *busy {
                let _unused = self
                    .flush_done
                    .wait(busy)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            *busy = true;
            drop(busy);
            let res = self.flush_once();
            *lock(&self.flushing) = false;
            self.flush_done.notify_all();
            res?;
        }
    }

    /// One fsync round up to the current log end offset.
    fn flush_once(&self) -> Result<()> {
        let target = self.log_end_offset();
        let from = self.flushed_offset();
        if target <= from {
            return Ok(());
        }
        let segs: Vec<Arc<LogSegment>> = self
            .segments_from(from)
            .into_iter()
            .filter(|s| s.base_offset < target)
            .collect();
        // A new segment's directory entry must be durable before its data counts as flushed.
        if self.dir_dirty.swap(false, Ordering::AcqRel) {
            if let Err(e) = std::fs::File::open(&self.dir).and_then(|d| d.sync_all()) {
                self.dir_dirty.store(true, Ordering::Release);
                return Err(e.into());
            }
        }
        for s in &segs {
            if let Err(e) = s.flush() {
                // After a failed fsync the page cache state is unknown: stop taking writes.
                self.offline.store(true, Ordering::Release);
                warn!(partition = %self.tp, error = %e, "fsync failed: log is offline");
                return Err(e);
            }
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.flushed_offset.fetch_max(target, Ordering::AcqRel);
        self.last_flush_ms.store(wall_clock_ms(), Ordering::Release);
        let listener = read_lock(&self.flush_listener).clone();
        if let Some(l) = listener {
            l(&self.tp, target);
        }
        Ok(())
    }

    /// Offsets below this are fsynced (the recovery point).
    pub fn flushed_offset(&self) -> i64 {
        self.flushed_offset.load(Ordering::Acquire)
    }

    /// Messages appended but not yet fsynced (by offset count, as Kafka's
    /// `unflushedMessages`).
    pub fn unflushed_messages(&self) -> i64 {
        (self.log_end_offset() - self.flushed_offset()).max(0)
    }

    /// Fsync rounds made since the log was opened (one round may fsync several segments).
    pub fn fsync_count(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// ListOffsets by timestamp: the first record at or after the log start offset whose
    /// timestamp is at least `timestamp`, as `(offset, timestamp, leader epoch)` (-1 if
    /// unknown); `None` if there is none. Finds the first segment whose largest timestamp
    /// reaches `timestamp`, then uses its time and offset indexes and batch headers, and
    /// decodes only the one batch that holds the answer.
    pub fn fetch_offset_by_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64, i32)>> {
        let start = self.log_start_offset();
        for seg in self.all_segments() {
            if seg.stats().max_timestamp < timestamp {
                continue;
            }
            if let Some((offset, ts, epoch)) = seg.find_offset_by_timestamp(timestamp, start)? {
                return Ok(Some((offset, ts, self.resolve_epoch(offset, epoch))));
            }
        }
        Ok(None)
    }

    /// ListOffsets -3 (`MAX_TIMESTAMP`): the first record with the largest timestamp in the
    /// log, as `(offset, timestamp, leader epoch)`; `None` if no record has a timestamp.
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64, i32)>> {
        let mut best: Option<Arc<LogSegment>> = None;
        for seg in self.all_segments() {
            let ts = seg.stats().max_timestamp;
            if ts >= 0 && best.as_ref().is_none_or(|b| ts > b.stats().max_timestamp) {
                best = Some(seg);
            }
        }
        let Some(seg) = best else { return Ok(None) };
        Ok(seg
            .find_max_timestamp_record()?
            .map(|(o, t, e)| (o, t, self.resolve_epoch(o, e))))
    }

    /// ListOffsets -2 (`EARLIEST`): the log start offset and its leader epoch (-1 if unknown).
    pub fn earliest_offset(&self) -> (i64, i32) {
        let o = self.log_start_offset();
        (o, self.epoch_for_offset(o).unwrap_or(-1))
    }

    /// ListOffsets -1 (`LATEST`): the high watermark and the latest leader epoch (-1 if
    /// none).
    pub fn latest_offset(&self) -> (i64, i32) {
        (self.high_watermark(), self.latest_epoch().unwrap_or(-1))
    }

    fn resolve_epoch(&self, offset: i64, batch_epoch: i32) -> i32 {
        if batch_epoch >= 0 {
            batch_epoch
        } else {
            self.epoch_for_offset(offset).unwrap_or(-1)
        }
    }

    /// DeleteRecords: moves the log start offset up to `offset` (at most the high
    /// watermark, else [`Error::OffsetOutOfRange`]), persists it in `offsets.checkpoint`
    /// and deletes the segments entirely below it (never the active segment). Returns the
    /// new log start offset (the low watermark).
    pub fn delete_records_before(&self, offset: i64) -> Result<i64> {
        self.check_open()?;
        let hw = self.high_watermark();
        let start = self.log_start_offset();
        if offset < 0 || offset > hw {
            return Err(Error::OffsetOutOfRange {
                requested: offset,
                start,
                end: hw,
            });
        }
        if offset > start {
            {
                let _st = lock(&self.append);
                self.log_start_offset.fetch_max(offset, Ordering::AcqRel);
                let mut epochs = lock(&self.epochs);
                if epochs.truncate_from_start(offset) {
                    checkpoint::write_leader_epochs(&self.dir, &epochs.entries)?;
                }
            }
            self.write_checkpoint()?;
            self.delete_segments_matching(wall_clock_ms(), |_, next| {
                next.is_some_and(|n| n.base_offset <= offset)
            })?;
        }
        Ok(self.log_start_offset())
    }

    /// Retention (Kafka's `deleteOldSegments`): segments entirely below the log start
    /// offset; then, if `cleanup.policy` includes `delete`, segments whose largest timestamp
    /// is more than `retention.ms` before `now_ms`, and the oldest segments while the log is
    /// more than `retention.bytes` over. Segments are deleted oldest first and never past the
    /// high watermark; when the active segment itself is due, a new empty one is rolled first,
    /// so the log always keeps an active segment. Returns the number of segments deleted.
    pub fn delete_old_segments(&self, now_ms: i64) -> Result<usize> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(0);
        }
        let config = self.config();
        let start = self.log_start_offset();
        let mut deleted = self.delete_segments_matching(now_ms, |_, next| {
            next.is_some_and(|n| n.base_offset <= start)
        })?;
        if !config.deletes() {
            return Ok(deleted);
        }
        if let Some(ms) = config.retention_ms {
            deleted += self.delete_segments_matching(now_ms, |seg, _| {
                now_ms.saturating_sub(seg.largest_timestamp()) > ms
            })?;
        }
        if let Some(limit) = config.retention_bytes {
            let size = self.size_in_bytes();
            if size > limit {
                let mut diff = size - limit;
                deleted += self.delete_segments_matching(now_ms, |seg, _| {
                    if diff >= seg.size() {
                        diff -= seg.size();
                        true
                    } else {
                        false
                    }
                })?;
            }
        }
        Ok(deleted)
    }

    /// Kafka's `deletableSegments` + `deleteSegments`.
    fn delete_segments_matching(
        &self,
        now_ms: i64,
        mut predicate: impl FnMut(&LogSegment, Option<&LogSegment>) -> bool,
    ) -> Result<usize> {
        let mut st = lock(&self.append);
        let segs = self.all_segments();
        let hw = self.high_watermark();
        let mut deletable: Vec<Arc<LogSegment>> = Vec::new();
        let mut should_roll = false;
        for (i, seg) in segs.iter().enumerate() {
            let next = segs.get(i + 1);
            let last_and_empty = next.is_none() && seg.size() == 0;
            let upper = next.map_or(self.log_end_offset(), |n| n.base_offset);
            let ok = hw >= upper && predicate(seg, next.map(|n| &**n));
            if !ok || last_and_empty {
                break;
            }
            if next.is_none() {
                should_roll = true;
            }
            deletable.push(seg.clone());
        }
        if deletable.is_empty() {
            return Ok(0);
        }
        if should_roll {
            info!(partition = %self.tp, "rolling the active segment to delete it");
            let leo = self.log_end_offset();
            self.roll_locked(&mut st, leo, now_ms)?;
        }
        {
            let mut map = write_lock(&self.segments);
            for s in &deletable {
                map.remove(&s.base_offset);
            }
            let first = map.keys().next().copied().unwrap_or(0);
            self.log_start_offset.fetch_max(first, Ordering::AcqRel);
        }
        let start = self.log_start_offset();
        {
            let mut epochs = lock(&self.epochs);
            if epochs.truncate_from_start(start) {
                checkpoint::write_leader_epochs(&self.dir, &epochs.entries)?;
            }
        }
        drop(st);
        for s in &deletable {
            info!(partition = %self.tp, base_offset = s.base_offset, size = s.size(), "deleting segment");
            s.delete_files();
        }
        Ok(deletable.len())
    }

    /// The latest leader epoch appended with.
    pub fn latest_epoch(&self) -> Option<i32> {
        lock(&self.epochs).latest_epoch()
    }

    /// OffsetForLeaderEpoch (Kafka's `endOffsetForEpoch`): the largest epoch at most `epoch`
    /// and the offset where the next epoch starts (the log end offset for the latest epoch);
    /// `(-1, -1)` for an unknown epoch.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let leo = self.log_end_offset();
        lock(&self.epochs).end_offset_for(epoch, leo)
    }

    /// The leader epoch the record at `offset` was written in.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        lock(&self.epochs).epoch_for_offset(offset)
    }

    /// The state of every producer id seen in the log: its epoch and last five batches,
    /// rebuilt at load from the latest snapshot plus the batch headers after it.
    pub fn producer_snapshot(&self) -> BTreeMap<i64, ProducerEntry> {
        lock(&self.producers).producers.clone()
    }

    /// One producer's state.
    pub fn producer_state(&self, producer_id: i64) -> Option<ProducerEntry> {
        lock(&self.producers).producers.get(&producer_id).cloned()
    }

    /// Drops producer state idle for `expiration_ms` (`producer.id.expiration.ms`).
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) {
        lock(&self.producers).expire(now_ms, expiration_ms);
    }

    /// The background flush check: flushes rolled segments not yet flushed, and everything
    /// when `flush.ms` has passed since the last flush.
    pub(crate) fn flush_if_due(&self, now_ms: i64) -> Result<()> {
        if self.closed.load(Ordering::Acquire) || self.offline.load(Ordering::Acquire) {
            return Ok(());
        }
        let active_base = lock(&self.append).active.base_offset;
        if self.flushed_offset() < active_base {
            self.flush_up_to(active_base)?;
        }
        if let Some(ms) = self.config().flush_interval_ms {
            let since = now_ms.saturating_sub(self.last_flush_ms.load(Ordering::Acquire));
            if self.unflushed_messages() > 0 && since >= i64::try_from(ms).unwrap_or(i64::MAX) {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Writes `offsets.checkpoint` if the log start offset or recovery point moved.
    pub(crate) fn write_checkpoint(&self) -> Result<()> {
        let c = OffsetsCheckpoint {
            log_start_offset: self.log_start_offset(),
            recovery_point: self.flushed_offset(),
        };
        let mut last = lock(&self.checkpointed);
        if *last == Some(c) {
            return Ok(());
        }
        checkpoint::write_offsets_checkpoint(&self.dir, c)?;
        *last = Some(c);
        Ok(())
    }

    /// Stops appends, flushes everything, writes the active segment's index, a producer
    /// snapshot and the checkpoint, for a clean shutdown.
    pub(crate) fn close(&self) -> Result<()> {
        let active = {
            let st = lock(&self.append);
            if self.closed.swap(true, Ordering::AcqRel) {
                return Ok(());
            }
            st.active.clone()
        };
        if self.offline.load(Ordering::Acquire) {
            return Err(Error::Offline(self.tp.clone()));
        }
        self.flush()?;
        active.add_final_time_entry();
        active.persist_index(true)?;
        self.take_producer_snapshot(self.log_end_offset());
        self.write_checkpoint()?;
        Ok(())
    }

    /// Marks the log closed without flushing (before its directory is deleted).
    pub(crate) fn mark_deleted(&self) {
        let _st = lock(&self.append);
        self.closed.store(true, Ordering::Release);
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

/// Fsyncs a directory so a rename or create in it is durable (best effort).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}
