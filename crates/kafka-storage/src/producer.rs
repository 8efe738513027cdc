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

/// Kafka's `RecordBatch.NO_PRODUCER_EPOCH` / `NO_SEQUENCE`: what an entry knows before its
/// first batch.
const NO_SEQUENCE: i32 = -1;

/// The sequence after `seq`: sequences wrap from `i32::MAX` to 0.
pub(crate) fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

/// One batch of an idempotent producer, as the sequence check sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerBatch {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) first_seq: i32,
    pub(crate) last_seq: i32,
}

/// Why a batch's producer state does not allow it (Kafka's `ProducerAppendInfo` checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceError {
    /// An epoch older than the producer's current one (a zombie): INVALID_PRODUCER_EPOCH.
    FencedEpoch { current: i16 },
    /// Not the sequence after the last one written: OUT_OF_ORDER_SEQUENCE_NUMBER.
    OutOfOrder { expected: i32 },
}

/// The verdict on a request's batches against one partition's producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceVerdict {
    /// Every batch may be appended.
    Append,
    /// A batch repeats one of the producer's last five: the request is answered with that
    /// batch's offsets and nothing is appended (Kafka's `maybeDuplicate`).
    Duplicate(BatchMetadata),
    /// Batch `index` is refused.
    Refused { index: usize, error: SequenceError },
}

impl ProducerStateManager {
    /// Checks a request's producer batches in log order, as Kafka's
    /// `analyzeAndValidateProducerState` does for a client append: a duplicate of a retained
    /// batch (same epoch and sequence range) answers the whole request; an older epoch is
    /// fenced; a newer epoch must start at sequence 0 unless the producer is unknown here (a
    /// new producer, or one whose state expired or was deleted, takes any sequence, as since
    /// KIP-360); otherwise each batch must continue the sequence, earlier batches of the same
    /// request included. Allocates nothing: a producer's earlier batches in the request are
    /// found by scanning back over `batches`.
    pub(crate) fn validate<T>(
        &self,
        batches: &[T],
        key: impl Fn(&T) -> ProducerBatch,
    ) -> SequenceVerdict {
        for (index, b) in batches.iter().enumerate() {
            let b = key(b);
            if b.producer_id < 0 {
                continue;
            }
            let current = self.producers.get(&b.producer_id);
            if let Some(dup) = current
                .filter(|e| e.producer_epoch == b.epoch)
                .and_then(|e| e.find_duplicate(b.first_seq, b.last_seq))
            {
                return SequenceVerdict::Duplicate(*dup);
            }
            let earlier = batches
                .get(..index)
                .unwrap_or_default()
                .iter()
                .rev()
                .map(&key)
                .find(|e| e.producer_id == b.producer_id);
            // The producer as this request has left it so far (Kafka's `updatedEntry`).
            let (epoch, last_seq) = match (earlier, current) {
                (Some(e), _) => (Some(e.epoch), e.last_seq),
                (None, Some(c)) => (Some(c.producer_epoch), c.last_seq().unwrap_or(NO_SEQUENCE)),
                (None, None) => (None, NO_SEQUENCE),
            };
            let Some(epoch) = epoch else { continue };
            let error = if b.epoch < epoch {
                Some(SequenceError::FencedEpoch { current: epoch })
            } else if b.epoch > epoch {
                (b.first_seq != 0).then_some(SequenceError::OutOfOrder { expected: 0 })
            } else if current.is_some() && b.first_seq != next_seq(last_seq) {
                // Kafka checks continuity only for a producer the log knows: a new one's
                // later batches in the same request are taken as sent.
                Some(SequenceError::OutOfOrder {
                    expected: next_seq(last_seq),
                })
            } else {
                None
            };
            if let Some(error) = error {
                return SequenceVerdict::Refused { index, error };
            }
        }
        SequenceVerdict::Append
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pid: i64, epoch: i16, batches: &[(i32, i32, i64)]) -> ProducerStateManager {
        let mut s = ProducerStateManager::default();
        for &(first_seq, last_seq, first_offset) in batches {
            s.update(
                pid,
                epoch,
                BatchMetadata {
                    first_seq,
                    last_seq,
                    first_offset,
                    last_offset: first_offset + i64::from(last_seq - first_seq),
                    timestamp: 0,
                },
                0,
            );
        }
        s
    }

    fn b(epoch: i16, first_seq: i32, last_seq: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: 7,
            epoch,
            first_seq,
            last_seq,
        }
    }

    fn one(s: &ProducerStateManager, batch: ProducerBatch) -> SequenceVerdict {
        s.validate(&[batch], |b| *b)
    }

    #[test]
    fn duplicates_gaps_and_fencing() {
        let empty = ProducerStateManager::default();
        assert_eq!(one(&empty, b(0, 0, 9)), SequenceVerdict::Append);
        // Unknown producer (new, or expired): any sequence, as Kafka since KIP-360.
        assert_eq!(one(&empty, b(0, 42, 42)), SequenceVerdict::Append);

        let s = state(7, 0, &[(0, 9, 100)]);
        match one(&s, b(0, 0, 9)) {
            SequenceVerdict::Duplicate(d) => {
                assert_eq!((d.first_offset, d.last_offset), (100, 109))
            }
            v => panic!("{v:?}"),
        }
        assert_eq!(
            one(&s, b(0, 11, 12)),
            SequenceVerdict::Refused {
                index: 0,
                error: SequenceError::OutOfOrder { expected: 10 }
            }
        );
        assert_eq!(one(&s, b(0, 10, 12)), SequenceVerdict::Append);

        let s = state(7, 1, &[(0, 0, 200)]);
        assert_eq!(
            one(&s, b(0, 13, 13)),
            SequenceVerdict::Refused {
                index: 0,
                error: SequenceError::FencedEpoch { current: 1 }
            }
        );
        // Same sequence range, older epoch: fenced, not a duplicate.
        assert!(matches!(
            one(&s, b(0, 0, 0)),
            SequenceVerdict::Refused {
                error: SequenceError::FencedEpoch { .. },
                ..
            }
        ));
        assert_eq!(
            one(&s, b(2, 5, 5)),
            SequenceVerdict::Refused {
                index: 0,
                error: SequenceError::OutOfOrder { expected: 0 }
            }
        );
        assert_eq!(one(&s, b(2, 0, 5)), SequenceVerdict::Append);
    }

    #[test]
    fn only_the_last_five_batches_are_duplicates() {
        let batches: Vec<(i32, i32, i64)> = (0..7).map(|i| (i, i, i64::from(i))).collect();
        let s = state(7, 0, &batches);
        assert!(
            matches!(one(&s, b(0, 2, 2)), SequenceVerdict::Duplicate(d) if d.first_offset == 2)
        );
        assert!(matches!(
            one(&s, b(0, 1, 1)),
            SequenceVerdict::Refused { .. }
        ));
    }

    #[test]
    fn sequences_wrap() {
        let s = state(7, 0, &[(i32::MAX - 1, i32::MAX, 0)]);
        assert_eq!(one(&s, b(0, 0, 3)), SequenceVerdict::Append);
    }

    #[test]
    fn several_batches_of_a_producer_in_one_request() {
        let s = state(7, 0, &[(0, 4, 0)]);
        assert_eq!(
            s.validate(&[b(0, 5, 6), b(0, 7, 9)], |b| *b),
            SequenceVerdict::Append
        );
        assert_eq!(
            s.validate(&[b(0, 5, 6), b(0, 8, 9)], |b| *b),
            SequenceVerdict::Refused {
                index: 1,
                error: SequenceError::OutOfOrder { expected: 7 }
            }
        );
        // A producer the log does not know: taken as sent (Kafka), but not an older epoch
        // than its own earlier batch, and an epoch bump must start at 0.
        let empty = ProducerStateManager::default();
        assert_eq!(
            empty.validate(&[b(0, 3, 4), b(0, 5, 5)], |b| *b),
            SequenceVerdict::Append
        );
        assert_eq!(
            empty.validate(&[b(0, 3, 4), b(0, 9, 9)], |b| *b),
            SequenceVerdict::Append
        );
        assert!(matches!(
            empty.validate(&[b(1, 3, 4), b(0, 5, 5)], |b| *b),
            SequenceVerdict::Refused {
                index: 1,
                error: SequenceError::FencedEpoch { current: 1 }
            }
        ));
        assert!(matches!(
            empty.validate(&[b(0, 3, 4), b(1, 5, 5)], |b| *b),
            SequenceVerdict::Refused {
                index: 1,
                error: SequenceError::OutOfOrder { expected: 0 }
            }
        ));
        // An epoch bump inside the request: the later batch must start at 0.
        assert_eq!(
            s.validate(&[b(0, 5, 5), b(1, 0, 0)], |b| *b),
            SequenceVerdict::Append
        );
        assert!(matches!(
            s.validate(&[b(1, 0, 0), b(0, 1, 1)], |b| *b),
            SequenceVerdict::Refused {
                index: 1,
                error: SequenceError::FencedEpoch { current: 1 }
            }
        ));
        // Other producers do not interfere.
        let other = ProducerBatch {
            producer_id: 8,
            ..b(0, 100, 100)
        };
        assert_eq!(
            s.validate(&[other, b(0, 5, 5)], |b| *b),
            SequenceVerdict::Append
        );
    }
}
