//! One partition's log: Kafka's `UnifiedLog` and `LocalLog` in one type.
//!
//! Concurrency: appends take the append lock (a `Mutex`) for offset assignment, the roll
//! decision and the one `write` to the active segment; validation (framing, CRC, timestamps,
//! the LogAppendTime rewrite) happens before it. The segment map sits behind an `RwLock`
//! taken only to look up or add/remove segments. Readers never take the append lock: they
//! read the log end offset (an atomic stored after a write completes) and each segment's
//! committed size, so they see whole batches only. Flushes take neither lock while they
//! fsync (see [`Log::flush_up_to`]).

//!
//! The code is split by concern: [`load`] (create, open and recovery), [`append`] (validation,
//! offset assignment, rolling), [`read`] (fetch and ListOffsets lookups), [`retention`]
//! (DeleteRecords and segment deletion) and [`flush`] (fsync, group commit, checkpoints and
//! close).

mod append;
mod flush;
mod load;
mod read;
mod retention;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use kafka_protocol::Uuid;

use crate::checkpoint::OffsetsCheckpoint;
use crate::config::LogConfig;
use crate::durability::Durability;
use crate::epoch::LeaderEpochCache;
use crate::error::{Error, Result};
use crate::producer::{ProducerEntry, ProducerStateManager};
use crate::segment::LogSegment;
use crate::TopicPartition;

pub use append::{AppendInfo, ProducerBatchInfo};
pub(crate) use load::LoadOptions;
pub use read::FetchDataInfo;

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
    /// Listeners and the flusher queue, shared with the manager.
    durability: Arc<Durability>,
    /// This log is in the flusher's queue (so it is queued once however many appends wait).
    flush_queued: AtomicBool,
    /// Tests: make the next fsyncs fail.
    #[cfg(test)]
    pub(crate) fail_fsync: AtomicBool,
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

impl Log {
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

    /// Whether a failed write or fsync took the log offline: it takes no more appends, and
    /// nothing above [`Log::flushed_offset`] will become durable.
    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
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

    /// Marks the log closed without flushing (before its directory is deleted).
    pub(crate) fn mark_deleted(&self) {
        let _st = lock(&self.append);
        self.closed.store(true, Ordering::Release);
    }
}

/// Fsyncs a directory so a rename or create in it is durable (best effort).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

#[cfg(test)]
mod tests;
