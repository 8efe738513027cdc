//! Kafka's `LeaderEpochFileCache`: the first offset written in each leader epoch.

/// Kafka's `UNDEFINED_EPOCH`.
pub(crate) const UNDEFINED_EPOCH: i32 = -1;
/// Kafka's `UNDEFINED_EPOCH_OFFSET`.
pub(crate) const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// `(epoch, start offset)` entries, both strictly increasing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LeaderEpochCache {
    pub(crate) entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    /// From a checkpoint, dropping entries that break monotonicity.
    pub(crate) fn new(entries: Vec<(i32, i64)>) -> Self {
        let mut c = LeaderEpochCache::default();
        for (e, o) in entries {
            c.assign(e, o);
        }
        c
    }

    pub(crate) fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|&(e, _)| e)
    }

    /// Records that `epoch` starts at `start_offset`; whether anything changed.
    pub(crate) fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        match self.entries.last() {
            Some(&(e, o)) if epoch <= e || start_offset < o => false,
            _ => {
                self.entries.push((epoch, start_offset));
                true
            }
        }
    }

    /// Drops entries at or past `end_offset` (after recovery truncated the log).
    pub(crate) fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|&(_, o)| o < end_offset);
        self.entries.len() != before
    }

    /// After the log start offset moved to `start_offset`: entries before it are dropped,
    /// except the last, which now starts at `start_offset` (Kafka's `truncateFromStart`).
    pub(crate) fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let idx = self.entries.partition_point(|&(_, o)| o <= start_offset);
        let Some(last_before) = idx.checked_sub(1) else {
            return false;
        };
        let epoch = self.entries.get(last_before).map_or(0, |&(e, _)| e);
        let unchanged =
            last_before == 0 && self.entries.first().map(|&(_, o)| o) == Some(start_offset);
        if unchanged {
            return false;
        }
        self.entries.drain(..=last_before);
        self.entries.insert(0, (epoch, start_offset));
        true
    }

    /// The epoch of the record at `offset`.
    pub(crate) fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        let idx = self.entries.partition_point(|&(_, o)| o <= offset);
        idx.checked_sub(1)
            .and_then(|i| self.entries.get(i))
            .map(|&(e, _)| e)
    }

    /// Kafka's `endOffsetFor(requestedEpoch, logEndOffset)`: the largest epoch at most
    /// `requested` and the offset where the epoch after it starts (the log end offset for
    /// the latest epoch); `(-1, -1)` when `requested` is unknown or above the latest epoch.
    pub(crate) fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let higher = self.entries.iter().find(|&&(e, _)| e > requested);
        let Some(&(_, higher_start)) = higher else {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        };
        match self.entries.iter().rev().find(|&&(e, _)| e <= requested) {
            Some(&(e, _)) => (e, higher_start),
            None => (requested, higher_start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offsets_as_kafka() {
        let mut c = LeaderEpochCache::default();
        assert_eq!(c.end_offset_for(0, 10), (-1, -1));
        assert!(c.assign(0, 0));
        assert!(!c.assign(0, 5));
        assert!(c.assign(2, 10));
        assert!(c.assign(5, 20));
        assert_eq!(c.end_offset_for(5, 30), (5, 30));
        assert_eq!(c.end_offset_for(0, 30), (0, 10));
        assert_eq!(c.end_offset_for(1, 30), (0, 10));
        assert_eq!(c.end_offset_for(3, 30), (2, 20));
        assert_eq!(c.end_offset_for(6, 30), (-1, -1));
        assert_eq!(c.epoch_for_offset(15), Some(2));
        assert!(c.truncate_from_start(12));
        assert_eq!(c.entries, vec![(2, 12), (5, 20)]);
        assert!(c.truncate_from_end(20));
        assert_eq!(c.entries, vec![(2, 12)]);
        let c = LeaderEpochCache::new(vec![(1, 0), (0, 5), (3, 2)]);
        assert_eq!(c.entries, vec![(1, 0), (3, 2)]);
    }
}
