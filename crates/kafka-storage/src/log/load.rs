//! Creating and loading a partition's log: segment discovery, recovery after an unclean
//! shutdown, and rebuilding producer state.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use kafka_protocol::Uuid;
use tracing::{info, warn};

use super::{lock, sync_dir, AppendState, Log};
use crate::checkpoint::{self, OffsetsCheckpoint, SNAPSHOT_SUFFIX};
use crate::config::LogConfig;
use crate::durability::Durability;
use crate::epoch::LeaderEpochCache;
use crate::error::{Error, Result};
use crate::producer::{BatchMetadata, ProducerStateManager};
use crate::segment::{
    file_name, parse_base_offset, remove_if_exists, LogSegment, DELETED_SUFFIX, INDEX_SUFFIX,
    LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::TopicPartition;

/// Options for loading a log.
#[derive(Debug, Clone)]
pub(crate) struct LoadOptions {
    pub(crate) had_clean_shutdown: bool,
    pub(crate) now_ms: i64,
    /// The manager's listeners and flusher queue.
    pub(crate) durability: Arc<Durability>,
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
        durability: Arc<Durability>,
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
                durability,
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
            durability: opts.durability,
            flush_queued: AtomicBool::new(false),
            #[cfg(test)]
            fail_fsync: AtomicBool::new(false),
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
}
