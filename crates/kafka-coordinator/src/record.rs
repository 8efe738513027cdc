//! [`CoordinatorRecord`]: the state changes the broker must persist, and their binary format.
//!
//! The coordinator emits a record for every change that must survive a restart (see
//! [`crate::GroupCoordinator::take_records`]); the broker appends them to its log, reports
//! whether that worked ([`crate::GroupCoordinator::write_completed`] or
//! [`crate::GroupCoordinator::write_failed`]) and, at
//! start-up, feeds them back in log order to [`crate::GroupCoordinator::replay`]. Later records
//! win over earlier ones for the same key ([`CoordinatorRecord::key`]), so a compacted log keeps
//! exactly what replay needs.
//!
//! # Format (version 0)
//!
//! Every record is `type: u8`, `version: u8` (0), then the body of its type. All integers are
//! big-endian. `string` is a `u16` length and UTF-8 bytes; `nullable_string` is an `i16` length
//! (-1 for null) and UTF-8 bytes; `bytes` is a `u32` length and the bytes; `array` is a `u32`
//! count and the elements.
//!
//! | type | record | body |
//! |---|---|---|
//! | 0 | [`CoordinatorRecord::OffsetCommit`] | group `string`, topic `string`, partition `i32`, offset `i64`, leader epoch `i32` (-1: none), metadata `string`, commit timestamp `i64`, expire timestamp `i64` (-1: none) |
//! | 1 | [`CoordinatorRecord::OffsetTombstone`] | group `string`, topic `string`, partition `i32` |
//! | 2 | [`CoordinatorRecord::GroupMetadata`] | group `string`, protocol type `nullable_string`, generation `i32`, protocol `nullable_string`, leader `nullable_string`, state timestamp `i64`, members `array` of: member id `string`, group instance id `nullable_string`, client id `string`, client host `string`, rebalance timeout `i32`, session timeout `i32`, subscription `bytes`, assignment `bytes` |
//! | 3 | [`CoordinatorRecord::GroupTombstone`] | group `string` |
//!
//! Decoding checks every length against the bytes that remain, rejects unknown types and
//! versions, invalid UTF-8 and trailing bytes, and never allocates more than the input's size.

use bytes::{BufMut, Bytes};

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The input ended inside a field.
    #[error("record truncated while reading {0}")]
    Truncated(&'static str),
    /// The type byte names no record type.
    #[error("unknown coordinator record type {0}")]
    UnknownType(u8),
    /// The version byte is not one this code reads.
    #[error("unsupported version {version} of coordinator record type {record_type}")]
    UnsupportedVersion {
        /// The record type.
        record_type: u8,
        /// The version found.
        version: u8,
    },
    /// A string field is not UTF-8.
    #[error("field {0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// A length or count field holds a value that cannot be right.
    #[error("invalid length {length} for {field}")]
    InvalidLength {
        /// The field.
        field: &'static str,
        /// The value found.
        length: i64,
    },
    /// Bytes are left after the record's last field.
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
    /// A field holds a value too large for this format (when encoding).
    #[error("field {0} is too large to encode")]
    TooLarge(&'static str),
}

/// One member as stored in a [`CoordinatorRecord::GroupMetadata`] record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// The member id.
    pub member_id: String,
    /// The static member's `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// The client id of its JoinGroup.
    pub client_id: String,
    /// The client host of its JoinGroup.
    pub client_host: String,
    /// Its rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// Its session timeout.
    pub session_timeout_ms: i32,
    /// Its metadata for the group's selected protocol.
    pub subscription: Bytes,
    /// The assignment the leader gave it.
    pub assignment: Bytes,
}

/// A state change that must survive a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoordinatorRecord {
    /// A committed offset.
    OffsetCommit {
        /// The group.
        group_id: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The committed offset.
        offset: i64,
        /// The committed leader epoch, -1 if none.
        leader_epoch: i32,
        /// The commit's metadata string (`""` if the client sent null).
        metadata: String,
        /// When the offset was committed (ms since the epoch).
        commit_timestamp: i64,
        /// When it expires, if the commit asked for a retention time (OffsetCommit v2-v4).
        expire_timestamp: Option<i64>,
    },
    /// A committed offset was deleted (OffsetDelete, DeleteGroups or expiration).
    OffsetTombstone {
        /// The group.
        group_id: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// A group's metadata after a completed rebalance (or after it became empty).
    GroupMetadata {
        /// The group.
        group_id: String,
        /// The protocol type (`consumer`, `connect`, ...), if the group has had members.
        protocol_type: Option<String>,
        /// The generation.
        generation_id: i32,
        /// The selected protocol (assignor), if the group has members.
        protocol_name: Option<String>,
        /// The leader's member id, if the group has members.
        leader: Option<String>,
        /// When the group entered its current state (ms since the epoch).
        current_state_timestamp: i64,
        /// The members with their assignments.
        members: Vec<MemberRecord>,
    },
    /// The group was deleted.
    GroupTombstone {
        /// The group.
        group_id: String,
    },
}

const TYPE_OFFSET_COMMIT: u8 = 0;
const TYPE_OFFSET_TOMBSTONE: u8 = 1;
const TYPE_GROUP_METADATA: u8 = 2;
const TYPE_GROUP_TOMBSTONE: u8 = 3;
const VERSION: u8 = 0;

impl CoordinatorRecord {
    /// The group the record belongs to.
    pub fn group_id(&self) -> &str {
        match self {
            CoordinatorRecord::OffsetCommit { group_id, .. }
            | CoordinatorRecord::OffsetTombstone { group_id, .. }
            | CoordinatorRecord::GroupMetadata { group_id, .. }
            | CoordinatorRecord::GroupTombstone { group_id } => group_id,
        }
    }

    /// Whether the record deletes its key (a tombstone).
    pub fn is_tombstone(&self) -> bool {
        matches!(
            self,
            CoordinatorRecord::OffsetTombstone { .. } | CoordinatorRecord::GroupTombstone { .. }
        )
    }

    /// The compaction key: records with equal keys replace each other, so a compacted log
    /// needs only the last record per key (and may drop a tombstone once it is old enough).
    /// Format: `0` (offset) + group + topic + partition, or `1` (group) + group, encoded as
    /// in the record body.
    pub fn key(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            CoordinatorRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                ..
            }
            | CoordinatorRecord::OffsetTombstone {
                group_id,
                topic,
                partition,
            } => {
                out.put_u8(0);
                put_key_str(&mut out, group_id);
                put_key_str(&mut out, topic);
                out.put_i32(*partition);
            }
            CoordinatorRecord::GroupMetadata { group_id, .. }
            | CoordinatorRecord::GroupTombstone { group_id } => {
                out.put_u8(1);
                put_key_str(&mut out, group_id);
            }
        }
        out
    }

    /// Encodes the record in the format described in the [module docs](crate::record).
    pub fn encode(&self) -> Result<Vec<u8>, RecordError> {
        let mut out = Vec::with_capacity(64);
        match self {
            CoordinatorRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                offset,
                leader_epoch,
                metadata,
                commit_timestamp,
                expire_timestamp,
            } => {
                out.put_u8(TYPE_OFFSET_COMMIT);
                out.put_u8(VERSION);
                put_str(&mut out, group_id, "group_id")?;
                put_str(&mut out, topic, "topic")?;
                out.put_i32(*partition);
                out.put_i64(*offset);
                out.put_i32(*leader_epoch);
                put_str(&mut out, metadata, "metadata")?;
                out.put_i64(*commit_timestamp);
                out.put_i64(expire_timestamp.unwrap_or(-1));
            }
            CoordinatorRecord::OffsetTombstone {
                group_id,
                topic,
                partition,
            } => {
                out.put_u8(TYPE_OFFSET_TOMBSTONE);
                out.put_u8(VERSION);
                put_str(&mut out, group_id, "group_id")?;
                put_str(&mut out, topic, "topic")?;
                out.put_i32(*partition);
            }
            CoordinatorRecord::GroupMetadata {
                group_id,
                protocol_type,
                generation_id,
                protocol_name,
                leader,
                current_state_timestamp,
                members,
            } => {
                out.put_u8(TYPE_GROUP_METADATA);
                out.put_u8(VERSION);
                put_str(&mut out, group_id, "group_id")?;
                put_nullable_str(&mut out, protocol_type.as_deref(), "protocol_type")?;
                out.put_i32(*generation_id);
                put_nullable_str(&mut out, protocol_name.as_deref(), "protocol_name")?;
                put_nullable_str(&mut out, leader.as_deref(), "leader")?;
                out.put_i64(*current_state_timestamp);
                let count =
                    u32::try_from(members.len()).map_err(|_| RecordError::TooLarge("members"))?;
                out.put_u32(count);
                for m in members {
                    put_str(&mut out, &m.member_id, "member_id")?;
                    put_nullable_str(
                        &mut out,
                        m.group_instance_id.as_deref(),
                        "group_instance_id",
                    )?;
                    put_str(&mut out, &m.client_id, "client_id")?;
                    put_str(&mut out, &m.client_host, "client_host")?;
                    out.put_i32(m.rebalance_timeout_ms);
                    out.put_i32(m.session_timeout_ms);
                    put_bytes(&mut out, &m.subscription, "subscription")?;
                    put_bytes(&mut out, &m.assignment, "assignment")?;
                }
            }
            CoordinatorRecord::GroupTombstone { group_id } => {
                out.put_u8(TYPE_GROUP_TOMBSTONE);
                out.put_u8(VERSION);
                put_str(&mut out, group_id, "group_id")?;
            }
        }
        Ok(out)
    }

    /// Decodes one record, which must fill `input` exactly.
    pub fn decode(input: &[u8]) -> Result<CoordinatorRecord, RecordError> {
        let mut r = Reader { buf: input };
        let record_type = r.u8("type")?;
        let version = r.u8("version")?;
        if record_type > TYPE_GROUP_TOMBSTONE {
            return Err(RecordError::UnknownType(record_type));
        }
        if version != VERSION {
            return Err(RecordError::UnsupportedVersion {
                record_type,
                version,
            });
        }
        let record = match record_type {
            TYPE_OFFSET_COMMIT => {
                let group_id = r.string("group_id")?;
                let topic = r.string("topic")?;
                let partition = r.i32("partition")?;
                let offset = r.i64("offset")?;
                let leader_epoch = r.i32("leader_epoch")?;
                let metadata = r.string("metadata")?;
                let commit_timestamp = r.i64("commit_timestamp")?;
                let expire = r.i64("expire_timestamp")?;
                CoordinatorRecord::OffsetCommit {
                    group_id,
                    topic,
                    partition,
                    offset,
                    leader_epoch,
                    metadata,
                    commit_timestamp,
                    expire_timestamp: (expire >= 0).then_some(expire),
                }
            }
            TYPE_OFFSET_TOMBSTONE => CoordinatorRecord::OffsetTombstone {
                group_id: r.string("group_id")?,
                topic: r.string("topic")?,
                partition: r.i32("partition")?,
            },
            TYPE_GROUP_METADATA => {
                let group_id = r.string("group_id")?;
                let protocol_type = r.nullable_string("protocol_type")?;
                let generation_id = r.i32("generation_id")?;
                let protocol_name = r.nullable_string("protocol_name")?;
                let leader = r.nullable_string("leader")?;
                let current_state_timestamp = r.i64("current_state_timestamp")?;
                let count = r.u32("members")?;
                // The smallest member takes 2+2+2+2+4+4+4+4 = 24 bytes: bound the count by
                // what remains before allocating.
                if u64::from(count) * 24 > r.buf.len() as u64 {
                    return Err(RecordError::InvalidLength {
                        field: "members",
                        length: i64::from(count),
                    });
                }
                let mut members = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    members.push(MemberRecord {
                        member_id: r.string("member_id")?,
                        group_instance_id: r.nullable_string("group_instance_id")?,
                        client_id: r.string("client_id")?,
                        client_host: r.string("client_host")?,
                        rebalance_timeout_ms: r.i32("rebalance_timeout_ms")?,
                        session_timeout_ms: r.i32("session_timeout_ms")?,
                        subscription: r.bytes("subscription")?,
                        assignment: r.bytes("assignment")?,
                    });
                }
                CoordinatorRecord::GroupMetadata {
                    group_id,
                    protocol_type,
                    generation_id,
                    protocol_name,
                    leader,
                    current_state_timestamp,
                    members,
                }
            }
            _ => CoordinatorRecord::GroupTombstone {
                group_id: r.string("group_id")?,
            },
        };
        if !r.buf.is_empty() {
            return Err(RecordError::TrailingBytes(r.buf.len()));
        }
        Ok(record)
    }
}

fn put_key_str(out: &mut Vec<u8>, s: &str) {
    // Keys are only compared, never decoded: a u32 length cannot overflow for any String.
    out.put_u32(s.len() as u32);
    out.put_slice(s.as_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str, field: &'static str) -> Result<(), RecordError> {
    let len = u16::try_from(s.len()).map_err(|_| RecordError::TooLarge(field))?;
    out.put_u16(len);
    out.put_slice(s.as_bytes());
    Ok(())
}

fn put_nullable_str(
    out: &mut Vec<u8>,
    s: Option<&str>,
    field: &'static str,
) -> Result<(), RecordError> {
    match s {
        None => out.put_i16(-1),
        Some(s) => {
            let len = i16::try_from(s.len()).map_err(|_| RecordError::TooLarge(field))?;
            out.put_i16(len);
            out.put_slice(s.as_bytes());
        }
    }
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8], field: &'static str) -> Result<(), RecordError> {
    let len = u32::try_from(b.len()).map_err(|_| RecordError::TooLarge(field))?;
    out.put_u32(len);
    out.put_slice(b);
    Ok(())
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordError> {
        if self.buf.len() < n {
            return Err(RecordError::Truncated(field));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, field)?);
        Ok(a)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, RecordError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, RecordError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, RecordError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, RecordError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    fn utf8(&mut self, len: usize, field: &'static str) -> Result<String, RecordError> {
        let raw = self.take(len, field)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| RecordError::InvalidUtf8(field))
    }

    fn string(&mut self, field: &'static str) -> Result<String, RecordError> {
        let len = u16::from_be_bytes(self.array(field)?);
        self.utf8(usize::from(len), field)
    }

    fn nullable_string(&mut self, field: &'static str) -> Result<Option<String>, RecordError> {
        let len = i16::from_be_bytes(self.array(field)?);
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| RecordError::InvalidLength {
            field,
            length: i64::from(len),
        })?;
        self.utf8(len, field).map(Some)
    }

    fn bytes(&mut self, field: &'static str) -> Result<Bytes, RecordError> {
        let len = self.u32(field)?;
        let len = usize::try_from(len).map_err(|_| RecordError::InvalidLength {
            field,
            length: i64::from(len),
        })?;
        Ok(Bytes::copy_from_slice(self.take(len, field)?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn samples() -> Vec<CoordinatorRecord> {
        vec![
            CoordinatorRecord::OffsetCommit {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 3,
                offset: 42,
                leader_epoch: 7,
                metadata: "meta".into(),
                commit_timestamp: 1_000,
                expire_timestamp: Some(2_000),
            },
            CoordinatorRecord::OffsetTombstone {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 3,
            },
            CoordinatorRecord::GroupMetadata {
                group_id: "g".into(),
                protocol_type: Some("consumer".into()),
                generation_id: 5,
                protocol_name: Some("range".into()),
                leader: Some("c-1".into()),
                current_state_timestamp: 99,
                members: vec![MemberRecord {
                    member_id: "c-1".into(),
                    group_instance_id: Some("i".into()),
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300_000,
                    session_timeout_ms: 45_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                }],
            },
            CoordinatorRecord::GroupMetadata {
                group_id: "empty".into(),
                protocol_type: None,
                generation_id: 0,
                protocol_name: None,
                leader: None,
                current_state_timestamp: 0,
                members: vec![],
            },
            CoordinatorRecord::GroupTombstone {
                group_id: "g".into(),
            },
        ]
    }

    #[test]
    fn round_trip() {
        for rec in samples() {
            let bytes = rec.encode().unwrap();
            assert_eq!(CoordinatorRecord::decode(&bytes).unwrap(), rec);
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for rec in samples() {
            let bytes = rec.encode().unwrap();
            for n in 0..bytes.len() {
                assert!(
                    CoordinatorRecord::decode(&bytes[..n]).is_err(),
                    "{rec:?} cut at {n}"
                );
            }
        }
    }

    #[test]
    fn trailing_unknown_and_hostile_input_rejected() {
        let mut bytes = samples()[0].encode().unwrap();
        bytes.push(0);
        assert_eq!(
            CoordinatorRecord::decode(&bytes),
            Err(RecordError::TrailingBytes(1))
        );
        assert_eq!(
            CoordinatorRecord::decode(&[9, 0]),
            Err(RecordError::UnknownType(9))
        );
        assert_eq!(
            CoordinatorRecord::decode(&[0, 1]),
            Err(RecordError::UnsupportedVersion {
                record_type: 0,
                version: 1
            })
        );
        // A group record claiming 2^32-1 members in a few bytes.
        let mut hostile = vec![
            2, 0, 0, 1, b'g', 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
        ];
        hostile.extend_from_slice(&[0; 8]);
        hostile.extend_from_slice(&[0xff; 4]);
        assert!(matches!(
            CoordinatorRecord::decode(&hostile),
            Err(RecordError::InvalidLength { .. })
        ));
        // Invalid UTF-8 in a string, negative nullable length.
        assert_eq!(
            CoordinatorRecord::decode(&[3, 0, 0, 1, 0xff]),
            Err(RecordError::InvalidUtf8("group_id"))
        );
        assert!(matches!(
            CoordinatorRecord::decode(&[2, 0, 0, 1, b'g', 0xff, 0xfe]),
            Err(RecordError::InvalidLength { .. })
        ));
        // Pseudo-random garbage never panics.
        let mut x: u64 = 0x1234_5678;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let data: Vec<u8> = (0..len)
                .map(|i| (x.rotate_left(i as u32 * 7) & 0x3) as u8)
                .collect();
            let _ = CoordinatorRecord::decode(&data);
        }
    }

    #[test]
    fn keys_group_offsets_and_groups() {
        let s = samples();
        assert_eq!(s[0].key(), s[1].key());
        assert_eq!(s[2].key(), s[4].key());
        assert_ne!(s[0].key(), s[2].key());
        assert!(s[1].is_tombstone() && s[4].is_tombstone() && !s[0].is_tombstone());
    }
}
