//! Control records: the records of a control batch (attribute bit 5), such as the transaction
//! markers a coordinator writes to end a transaction.
//!
//! A control record's key is `version: int16, type: int16` (Kafka's `ControlRecordType`); an
//! end-transaction marker's value is `version: int16, coordinatorEpoch: int32` (Kafka's
//! `EndTransactionMarker`). Both are read leniently about versions, as Kafka does: newer
//! versions are parsed as version 0 and extra bytes are ignored.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::records::batch::NO_SEQUENCE;
use crate::records::builder::RecordBatchBuilder;
use crate::records::record::Record;

/// The control record key version this crate writes.
pub const CONTROL_RECORD_KEY_VERSION: i16 = 0;
/// The end-transaction marker value version this crate writes.
pub const END_TXN_MARKER_VALUE_VERSION: i16 = 0;

/// The type of a control record, from its key (Kafka's `ControlRecordType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// A transaction was aborted (0).
    Abort,
    /// A transaction was committed (1).
    Commit,
    /// KRaft leader change (2).
    LeaderChange,
    /// KRaft snapshot header (3).
    SnapshotHeader,
    /// KRaft snapshot footer (4).
    SnapshotFooter,
    /// KRaft version (5).
    KRaftVersion,
    /// KRaft voters (6).
    KRaftVoters,
    /// A type this crate does not know; consumers skip such records, as Kafka's do.
    Unknown(i16),
}

impl ControlRecordType {
    /// The type id.
    pub const fn id(self) -> i16 {
        match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::LeaderChange => 2,
            ControlRecordType::SnapshotHeader => 3,
            ControlRecordType::SnapshotFooter => 4,
            ControlRecordType::KRaftVersion => 5,
            ControlRecordType::KRaftVoters => 6,
            ControlRecordType::Unknown(id) => id,
        }
    }

    /// The type with this id.
    pub const fn from_id(id: i16) -> Self {
        match id {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            2 => ControlRecordType::LeaderChange,
            3 => ControlRecordType::SnapshotHeader,
            4 => ControlRecordType::SnapshotFooter,
            5 => ControlRecordType::KRaftVersion,
            6 => ControlRecordType::KRaftVoters,
            other => ControlRecordType::Unknown(other),
        }
    }

    /// Reads a control record key: at least 4 bytes, a non-negative version.
    pub fn parse_key(key: &[u8]) -> Result<Self> {
        let (Some(version), Some(id)) = (be_i16(key, 0), be_i16(key, 2)) else {
            return Err(Error::InvalidRecord(
                "control record key is shorter than 4 bytes",
            ));
        };
        if version < 0 {
            return Err(Error::InvalidRecord("negative control record key version"));
        }
        Ok(Self::from_id(id))
    }

    /// The control record key for this type, at version 0.
    pub fn encode_key(self) -> [u8; 4] {
        let mut key = [0u8; 4];
        key[..2].copy_from_slice(&CONTROL_RECORD_KEY_VERSION.to_be_bytes());
        key[2..].copy_from_slice(&self.id().to_be_bytes());
        key
    }
}

fn be_i16(b: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// An end-transaction marker: the one control record of the batch a transaction coordinator
/// writes to each partition of a transaction to commit or abort it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTransactionMarker {
    /// Whether the transaction committed (otherwise it aborted).
    pub committed: bool,
    /// The coordinator's epoch, fencing markers from a stale coordinator.
    pub coordinator_epoch: i32,
}

impl EndTransactionMarker {
    /// A commit marker.
    pub fn commit(coordinator_epoch: i32) -> Self {
        EndTransactionMarker {
            committed: true,
            coordinator_epoch,
        }
    }

    /// An abort marker.
    pub fn abort(coordinator_epoch: i32) -> Self {
        EndTransactionMarker {
            committed: false,
            coordinator_epoch,
        }
    }

    /// The control record type: [`ControlRecordType::Commit`] or [`ControlRecordType::Abort`].
    pub fn control_type(&self) -> ControlRecordType {
        if self.committed {
            ControlRecordType::Commit
        } else {
            ControlRecordType::Abort
        }
    }

    /// The record key.
    pub fn encode_key(&self) -> [u8; 4] {
        self.control_type().encode_key()
    }

    /// The record value, at version 0.
    pub fn encode_value(&self) -> [u8; 6] {
        let mut value = [0u8; 6];
        value[..2].copy_from_slice(&END_TXN_MARKER_VALUE_VERSION.to_be_bytes());
        value[2..].copy_from_slice(&self.coordinator_epoch.to_be_bytes());
        value
    }

    /// Reads a marker from a control record's key and value. Errors if the key is not a
    /// commit or abort key or the value is shorter than 6 bytes or has a negative version.
    pub fn parse(key: &[u8], value: &[u8]) -> Result<Self> {
        let committed = match ControlRecordType::parse_key(key)? {
            ControlRecordType::Commit => true,
            ControlRecordType::Abort => false,
            _ => {
                return Err(Error::InvalidRecord(
                    "control record is not an end-transaction marker",
                ))
            }
        };
        let (Some(version), Some(coordinator_epoch)) = (be_i16(value, 0), be_i32(value, 2)) else {
            return Err(Error::InvalidRecord(
                "end-transaction marker value is shorter than 6 bytes",
            ));
        };
        if version < 0 {
            return Err(Error::InvalidRecord(
                "negative end-transaction marker version",
            ));
        }
        Ok(EndTransactionMarker {
            committed,
            coordinator_epoch,
        })
    }

    /// Reads a marker from a record of a control batch.
    pub fn from_record(record: &Record) -> Result<Self> {
        let empty = Bytes::new();
        Self::parse(
            record.key.as_ref().unwrap_or(&empty),
            record.value.as_ref().unwrap_or(&empty),
        )
    }

    /// Encodes the marker's batch as Kafka's `MemoryRecords.withEndTransactionMarker` does:
    /// uncompressed, transactional, control, create time, no sequence, one record.
    pub fn build_batch(
        &self,
        base_offset: i64,
        timestamp: i64,
        partition_leader_epoch: i32,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<Bytes> {
        let mut builder = RecordBatchBuilder::with_capacity(32)
            .with_base_offset(base_offset)
            .with_partition_leader_epoch(partition_leader_epoch)
            .with_producer(producer_id, producer_epoch, NO_SEQUENCE)
            .with_transactional(true)
            .with_control(true);
        builder.append(
            timestamp,
            Some(&self.encode_key()),
            Some(&self.encode_value()),
        )?;
        builder.build()
    }
}
