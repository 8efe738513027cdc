//! Producer ids (InitProducerId) and the per-partition state that makes idempotent produce
//! safe: the last five batches of each producer, to recognise retried duplicates and refuse
//! sequence gaps, as Kafka's `ProducerStateManager`.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use kafka_protocol::ErrorCode;
use kafka_storage::TopicPartition;

/// Producer ids are handed out in blocks; the end of the current block is persisted before any
/// id of it is used, so ids are never reused after a restart.
const BLOCK: i64 = 1000;
/// Batches remembered per producer (Kafka's `NUM_BATCHES_TO_RETAIN`).
const BATCHES_TO_RETAIN: usize = 5;

/// A batch already in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    /// First sequence.
    pub first_seq: i32,
    /// Last sequence.
    pub last_seq: i32,
    /// First offset assigned.
    pub first_offset: i64,
    /// Last offset assigned.
    pub last_offset: i64,
}

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

/// What to do with an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Append,
    /// A retry of a batch already in the log: answer with its offsets.
    Duplicate(BatchMeta),
}

/// The producers of one partition.
#[derive(Debug, Default)]
pub struct PartitionProducers {
    producers: HashMap<i64, ProducerEntry>,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl PartitionProducers {
    /// Checks a batch of `producer_id`/`epoch` starting at `first_seq`, ending at `last_seq`.
    pub fn check(
        &self,
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
    ) -> Result<SequenceCheck, ErrorCode> {
        let Some(entry) = self.producers.get(&producer_id) else {
            // An unknown producer (new, or its state expired): accept, as Kafka does.
            return Ok(SequenceCheck::Append);
        };
        if epoch < entry.epoch {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if epoch > entry.epoch {
            return if first_seq == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(ErrorCode::OutOfOrderSequenceNumber)
            };
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
        {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        match entry.batches.back() {
            Some(last) if first_seq != next_seq(last.last_seq) => {
                Err(ErrorCode::OutOfOrderSequenceNumber)
            }
            _ => Ok(SequenceCheck::Append),
        }
    }

    /// Whether the state of `producer_id` is known here.
    pub fn knows(&self, producer_id: i64) -> bool {
        self.producers.contains_key(&producer_id)
    }

    /// Takes the state the log recovered for `producer_id` (after a restart).
    pub fn seed(&mut self, producer_id: i64, entry: &kafka_storage::ProducerEntry) {
        let e = self.producers.entry(producer_id).or_default();
        e.epoch = entry.producer_epoch;
        e.batches = entry
            .batches
            .iter()
            .map(|b| BatchMeta {
                first_seq: b.first_seq,
                last_seq: b.last_seq,
                first_offset: b.first_offset,
                last_offset: b.last_offset,
            })
            .collect();
    }

    /// Records an appended batch.
    pub fn record(&mut self, producer_id: i64, epoch: i16, batch: BatchMeta) {
        let entry = self.producers.entry(producer_id).or_default();
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(batch);
        while entry.batches.len() > BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
    }
}

/// Producer ids and the producer state of every partition.
#[derive(Debug)]
pub struct ProducerIdManager {
    file: PathBuf,
    next: Mutex<(i64, i64)>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Mutex<PartitionProducers>>>>,
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

    /// The producer state of a partition.
    pub fn partition(&self, tp: &TopicPartition) -> Arc<Mutex<PartitionProducers>> {
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

    fn meta(first_seq: i32, last_seq: i32, first_offset: i64) -> BatchMeta {
        BatchMeta {
            first_seq,
            last_seq,
            first_offset,
            last_offset: first_offset + i64::from(last_seq - first_seq),
        }
    }

    #[test]
    fn duplicates_gaps_and_fencing() {
        let mut p = PartitionProducers::default();
        assert_eq!(p.check(7, 0, 0, 9), Ok(SequenceCheck::Append));
        p.record(7, 0, meta(0, 9, 100));
        assert_eq!(
            p.check(7, 0, 0, 9),
            Ok(SequenceCheck::Duplicate(meta(0, 9, 100)))
        );
        assert_eq!(
            p.check(7, 0, 11, 12),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(p.check(7, 0, 10, 12), Ok(SequenceCheck::Append));
        p.record(7, 1, meta(0, 0, 200));
        assert_eq!(p.check(7, 0, 13, 13), Err(ErrorCode::InvalidProducerEpoch));
        assert_eq!(
            p.check(7, 2, 5, 5),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(p.check(8, 0, 42, 42), Ok(SequenceCheck::Append));
    }

    #[test]
    fn sequences_wrap() {
        let mut p = PartitionProducers::default();
        p.record(
            1,
            0,
            BatchMeta {
                first_seq: i32::MAX - 1,
                last_seq: i32::MAX,
                first_offset: 0,
                last_offset: 1,
            },
        );
        assert_eq!(p.check(1, 0, 0, 3), Ok(SequenceCheck::Append));
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
