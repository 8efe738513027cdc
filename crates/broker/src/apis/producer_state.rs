//! Producer ids (InitProducerId) and the per-partition state that makes idempotent produce
//! safe: the last five batches of each producer, to recognise retried duplicates and refuse
//! sequence gaps, as Kafka's `ProducerStateManager`.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use kafka_protocol::ErrorCode;
use kafka_storage::{ProducerEntry, TopicPartition};

/// Producer ids are handed out in blocks; the end of the current block is persisted before any
/// id of it is used, so ids are never reused after a restart.
const BLOCK: i64 = 1000;

/// What to do with an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SequenceCheck {
    /// Append it.
    Append,
    /// A retry of a batch already in the log: answer with its first offset.
    Duplicate {
        /// The offset the original batch got.
        first_offset: i64,
    },
}

pub(super) fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

/// Checks a batch of `epoch` with sequences `first_seq..=last_seq` against what the log knows
/// of its producer (`entry`, kept and recovered by the log itself), as Kafka's
/// `ProducerStateManager` does.
pub(super) fn check_sequence(
    entry: Option<&ProducerEntry>,
    epoch: i16,
    first_seq: i32,
    last_seq: i32,
) -> Result<SequenceCheck, ErrorCode> {
    let Some(entry) = entry else {
        // An unknown producer (new, or its state expired): accept, as Kafka does.
        return Ok(SequenceCheck::Append);
    };
    if epoch < entry.producer_epoch {
        return Err(ErrorCode::InvalidProducerEpoch);
    }
    if epoch > entry.producer_epoch {
        return if first_seq == 0 {
            Ok(SequenceCheck::Append)
        } else {
            Err(ErrorCode::OutOfOrderSequenceNumber)
        };
    }
    if let Some(dup) = entry.find_duplicate(first_seq, last_seq) {
        return Ok(SequenceCheck::Duplicate {
            first_offset: dup.first_offset,
        });
    }
    match entry.last_seq() {
        Some(last) if first_seq != next_seq(last) => Err(ErrorCode::OutOfOrderSequenceNumber),
        _ => Ok(SequenceCheck::Append),
    }
}

/// Producer ids, and a lock per partition that makes an idempotent batch's sequence check and
/// its append one step (the producer state itself is the log's).
#[derive(Debug)]
pub struct ProducerIdManager {
    file: PathBuf,
    next: Mutex<(i64, i64)>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Mutex<()>>>>,
}

impl ProducerIdManager {
    /// Loads the id block from `dir`.
    pub fn load(dir: &std::path::Path) -> std::io::Result<Self> {
        let file = dir.join("producer-ids.checkpoint");
        let start = fs::read_to_string(&file)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        Ok(ProducerIdManager {
            file,
            next: Mutex::new((start, start)),
            partitions: RwLock::new(HashMap::new()),
        })
    }

    /// A new producer id.
    pub fn allocate(&self) -> std::io::Result<i64> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        if next.0 >= next.1 {
            let end = next.0 + BLOCK;
            let tmp = self.file.with_extension("tmp");
            fs::write(&tmp, end.to_string())?;
            fs::File::open(&tmp)?.sync_all()?;
            fs::rename(&tmp, &self.file)?;
            next.1 = end;
        }
        let id = next.0;
        next.0 += 1;
        Ok(id)
    }

    /// The lock serializing idempotent appends to a partition.
    pub fn partition(&self, tp: &TopicPartition) -> Arc<Mutex<()>> {
        if let Some(p) = self
            .partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tp)
        {
            return Arc::clone(p);
        }
        let mut w = self.partitions.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(w.entry(tp.clone()).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_storage::BatchMetadata;

    fn entry(epoch: i16, batches: &[(i32, i32, i64)]) -> ProducerEntry {
        ProducerEntry {
            producer_epoch: epoch,
            batches: batches
                .iter()
                .map(|&(first_seq, last_seq, first_offset)| BatchMetadata {
                    first_seq,
                    last_seq,
                    first_offset,
                    last_offset: first_offset + i64::from(last_seq - first_seq),
                    timestamp: 0,
                })
                .collect(),
            last_update_ms: 0,
        }
    }

    #[test]
    fn duplicates_gaps_and_fencing() {
        assert_eq!(check_sequence(None, 0, 0, 9), Ok(SequenceCheck::Append));
        let e = entry(0, &[(0, 9, 100)]);
        assert_eq!(
            check_sequence(Some(&e), 0, 0, 9),
            Ok(SequenceCheck::Duplicate { first_offset: 100 })
        );
        assert_eq!(
            check_sequence(Some(&e), 0, 11, 12),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(
            check_sequence(Some(&e), 0, 10, 12),
            Ok(SequenceCheck::Append)
        );
        let e = entry(1, &[(0, 0, 200)]);
        assert_eq!(
            check_sequence(Some(&e), 0, 13, 13),
            Err(ErrorCode::InvalidProducerEpoch)
        );
        assert_eq!(
            check_sequence(Some(&e), 2, 5, 5),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(check_sequence(Some(&e), 2, 0, 5), Ok(SequenceCheck::Append));
        assert_eq!(check_sequence(None, 0, 42, 42), Ok(SequenceCheck::Append));
    }

    #[test]
    fn sequences_wrap() {
        let e = entry(0, &[(i32::MAX - 1, i32::MAX, 0)]);
        assert_eq!(check_sequence(Some(&e), 0, 0, 3), Ok(SequenceCheck::Append));
    }

    #[test]
    fn ids_are_not_reused_after_reload() {
        let d = std::env::temp_dir().join(format!("broker-pid-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let m = ProducerIdManager::load(&d).unwrap();
        let a = m.allocate().unwrap();
        let m2 = ProducerIdManager::load(&d).unwrap();
        assert!(m2.allocate().unwrap() > a);
        fs::remove_dir_all(&d).unwrap();
    }
}
