//! Per-producer state for idempotence: the last five batches of each producer id, as Kafka's
//! `ProducerStateManager` keeps them.

use std::collections::{BTreeMap, VecDeque};

/// Kafka keeps the metadata of the last five batches per producer
/// (`ProducerStateEntry.NUM_BATCHES_TO_RETAIN`), matching
/// `max.in.flight.requests.per.connection=5`.
pub const NUM_BATCHES_TO_RETAIN: usize = 5;

/// One appended batch of an idempotent or transactional producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// `baseSequence`.
    pub first_seq: i32,
    /// The sequence of the last record.
    pub last_seq: i32,
    /// The offset of the first record.
    pub first_offset: i64,
    /// The offset of the last record.
    pub last_offset: i64,
    /// The batch's `maxTimestamp` as stored.
    pub timestamp: i64,
}

/// What the log knows about one producer id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerEntry {
    /// The latest epoch seen.
    pub producer_epoch: i16,
    /// Up to [`NUM_BATCHES_TO_RETAIN`] most recent batches of that epoch, oldest first.
    pub batches: VecDeque<BatchMetadata>,
    /// The broker time (ms) of the latest append, for expiration.
    pub last_update_ms: i64,
}

impl ProducerEntry {
    /// The last sequence appended, if any.
    pub fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }

    /// The retained batch with exactly these sequence numbers: a duplicate of a batch already
    /// in the log.
    pub fn find_duplicate(&self, first_seq: i32, last_seq: i32) -> Option<&BatchMetadata> {
        self.batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
    }
}

/// All producers of one partition.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProducerStateManager {
    pub(crate) producers: BTreeMap<i64, ProducerEntry>,
}

impl ProducerStateManager {
    /// Records one appended batch.
    pub(crate) fn update(
        &mut self,
        producer_id: i64,
        epoch: i16,
        batch: BatchMetadata,
        now_ms: i64,
    ) {
        let entry = self.producers.entry(producer_id).or_default();
        if epoch != entry.producer_epoch {
            entry.batches.clear();
            entry.producer_epoch = epoch;
        }
        if entry.batches.len() >= NUM_BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
        entry.batches.push_back(batch);
        entry.last_update_ms = entry.last_update_ms.max(now_ms);
    }

    /// Drops producers idle for longer than `expiration_ms`.
    pub(crate) fn expire(&mut self, now_ms: i64, expiration_ms: i64) {
        self.producers
            .retain(|_, e| now_ms.saturating_sub(e.last_update_ms) < expiration_ms);
    }
}
