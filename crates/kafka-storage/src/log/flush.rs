//! Durability: fsync with group commit, the background flush check, checkpoints, close.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracing::warn;

use super::{lock, wall_clock_ms, Log};
use crate::checkpoint::{self, OffsetsCheckpoint};
use crate::error::{Error, Result};
use crate::segment::LogSegment;

impl Log {
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

    /// Asks for an fsync covering everything appended so far without waiting for it: the
    /// log is queued for the manager's flusher thread (once, however many appends ask before
    /// it runs), or flushed here when no flusher runs.
    pub(crate) fn schedule_flush(&self) -> Result<()> {
        if self.flush_queued.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if self.durability.schedule(&self.tp) {
            return Ok(());
        }
        self.flush_queued.store(false, Ordering::Release);
        self.flush()
    }

    /// The flusher thread's turn at this log: one fsync round covering every append so far.
    pub(crate) fn flush_scheduled(&self) {
        // Swapped (not stored) so that an append which found the flag still set is seen:
        // its log end offset was published before its swap.
        self.flush_queued.swap(false, Ordering::AcqRel);
        if let Err(e) = self.flush() {
            warn!(partition = %self.tp, error = %e, "flush failed");
        }
    }

    /// One fsync round up to the current log end offset; listeners hear of its outcome.
    fn flush_once(&self) -> Result<()> {
        let res = self.fsync_to_end();
        match &res {
            Ok(Some(flushed)) => self.durability.notify_flushed(&self.tp, *flushed),
            Ok(None) => {}
            Err(e) => self.durability.notify_failed(&self.tp, e),
        }
        res.map(|_| ())
    }

    /// The fsyncs of [`Log::flush_once`]: the new flushed offset, `None` if nothing was due.
    fn fsync_to_end(&self) -> Result<Option<i64>> {
        // After a failed fsync the dirty pages may be gone while a retried fsync succeeds:
        // never count anything as flushed again.
        if self.is_offline() {
            return Err(Error::Offline(self.tp.clone()));
        }
        let target = self.log_end_offset();
        let from = self.flushed_offset();
        if target <= from {
            return Ok(None);
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
                self.offline.store(true, Ordering::Release);
                warn!(partition = %self.tp, error = %e, "directory fsync failed: log is offline");
                return Err(e.into());
            }
        }
        for s in &segs {
            #[cfg(test)]
            let injected = self
                .fail_fsync
                .load(Ordering::Acquire)
                .then(|| Error::Io(std::io::Error::other("injected fsync failure")));
            #[cfg(not(test))]
            let injected: Option<Error> = None;
            if let Err(e) = injected.map_or_else(|| s.flush(), Err) {
                // After a failed fsync the page cache state is unknown: stop taking writes.
                self.offline.store(true, Ordering::Release);
                warn!(partition = %self.tp, error = %e, "fsync failed: log is offline");
                return Err(e);
            }
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.flushed_offset.fetch_max(target, Ordering::AcqRel);
        self.last_flush_ms.store(wall_clock_ms(), Ordering::Release);
        Ok(Some(target))
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
}
