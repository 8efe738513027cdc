//! Retention and DeleteRecords: moving the log start offset and deleting whole segments.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracing::info;

use super::{lock, wall_clock_ms, write_lock, Log};
use crate::checkpoint::{self};
use crate::error::{Error, Result};
use crate::segment::LogSegment;

impl Log {
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
}
