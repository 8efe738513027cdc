//! Producer ids (InitProducerId), as Kafka's `ProducerIdManager`. Sequence and epoch checks
//! live with the producer state in `kafka-storage` (`Log::append_as_leader`).

use std::fs;
use std::path::PathBuf;
use std::sync::Mutex;

/// Producer ids are handed out in blocks; the end of the current block is persisted before any
/// id of it is used, so ids are never reused after a restart.
const BLOCK: i64 = 1000;

/// Producer ids for InitProducerId. The producer state that makes idempotent produce safe
/// (sequences, epochs, duplicates) is each log's, checked by `Log::append_as_leader`.
#[derive(Debug)]
pub struct ProducerIdManager {
    file: PathBuf,
    next: Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    /// Loads the id block from `dir`.
    pub fn load(dir: &std::path::Path) -> std::io::Result<Self> {
        Self::load_above(dir, 0)
    }

    /// Loads the id block from `dir`, handing out no id below `in_use_below` (one more than the
    /// largest producer id the logs hold state for). The checkpoint alone is not trusted: a
    /// missing, emptied or garbled file would otherwise restart ids at 0, and a new producer
    /// given a live producer's id (epoch 0, sequence 0) is refused as out of order, or, if its
    /// first batch matches one of the old producer's cached batches, answered as a duplicate
    /// with that batch's offset: acknowledged and never stored.
    pub fn load_above(dir: &std::path::Path, in_use_below: i64) -> std::io::Result<Self> {
        let file = dir.join("producer-ids.checkpoint");
        let stored = match fs::read(&file) {
            Ok(s) => match std::str::from_utf8(&s).map(|s| s.trim().parse::<i64>()) {
                Ok(Ok(v)) if v >= 0 => Some(v),
                _ => {
                    tracing::warn!(file = %file.display(),
                        "unreadable producer id checkpoint: allocating above the ids in the logs");
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let start = stored.unwrap_or(0).max(in_use_below.max(0));
        Ok(ProducerIdManager {
            file,
            next: Mutex::new((start, start)),
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
            // The rename itself must be durable before an id of the block goes out.
            if let Some(dir) = self.file.parent() {
                fs::File::open(dir)?.sync_all()?;
            }
            next.1 = end;
        }
        let id = next.0;
        next.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// Found by the crash torture (`--corrupt`): a garbled checkpoint restarted ids at 0.
    #[test]
    fn a_garbled_checkpoint_does_not_reuse_ids_the_logs_hold() {
        let d = std::env::temp_dir().join(format!("broker-pid-garbled-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        for garbage in [&b""[..], b"\xff\x00garbage", b"-5"] {
            fs::write(d.join("producer-ids.checkpoint"), garbage).unwrap();
            let m = ProducerIdManager::load_above(&d, 1042).unwrap();
            assert_eq!(m.allocate().unwrap(), 1042);
            let m = ProducerIdManager::load_above(&d, 1042).unwrap();
            assert!(m.allocate().unwrap() >= 1043, "the new block is persisted");
        }
        // A readable checkpoint above the logs' ids wins.
        fs::write(d.join("producer-ids.checkpoint"), "5000").unwrap();
        let m = ProducerIdManager::load_above(&d, 7).unwrap();
        assert_eq!(m.allocate().unwrap(), 5000);
        fs::remove_dir_all(&d).unwrap();
    }
}
