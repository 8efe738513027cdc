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
        let file = dir.join("producer-ids.checkpoint");
        let start = fs::read_to_string(&file)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
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
}
