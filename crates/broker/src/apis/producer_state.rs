//! Producer ids (InitProducerId), as Kafka's `ProducerIdManager`. Sequence and epoch checks
//! live with the producer state in `kafka-storage` (`Log::append_as_leader`).

use std::sync::Mutex;

use kafka_protocol::ErrorCode;

/// Producer ids for InitProducerId, handed out from blocks the active controller allocates
/// (a `ProducerIdsRecord` in the metadata log), so no two brokers and no two runs ever hand
/// out the same id. The producer state that makes idempotent produce safe (sequences, epochs,
/// duplicates) is each log's, checked by `Log::append_as_leader`.
#[derive(Debug, Default)]
pub struct ProducerIdManager {
    /// The next id to hand out and the end of the current block.
    block: Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    /// A new producer id, from the current block or from a new one `fetch_block` gets from
    /// the active controller (first id, length).
    pub fn allocate(
        &self,
        fetch_block: impl FnOnce() -> Result<(i64, i64), ErrorCode>,
    ) -> Result<i64, ErrorCode> {
        let mut block = self.block.lock().unwrap_or_else(|e| e.into_inner());
        if block.0 >= block.1 {
            let (first, len) = fetch_block()?;
            if len <= 0 {
                return Err(ErrorCode::UnknownServerError);
            }
            *block = (first, first.saturating_add(len));
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ids_come_from_blocks_and_a_new_block_is_asked_for_when_one_runs_out() {
        let m = ProducerIdManager::default();
        let mut asked = 0;
        let mut next_block = 1000;
        let mut fetch = || {
            asked += 1;
            let first = next_block;
            next_block += 2;
            Ok((first, 2))
        };
        assert_eq!(m.allocate(&mut fetch), Ok(1000));
        assert_eq!(m.allocate(&mut fetch), Ok(1001));
        assert_eq!(m.allocate(&mut fetch), Ok(1002));
        assert_eq!(asked, 2);
        assert_eq!(
            ProducerIdManager::default().allocate(|| Err(ErrorCode::NotController)),
            Err(ErrorCode::NotController)
        );
    }
}
