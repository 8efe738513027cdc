//! The small metadata files in a partition directory. Each is written to a `.tmp` file,
//! fsynced and renamed over the old one, so a crash leaves the old or the new version.
//!
//! | file | format |
//! |---|---|
//! | `partition.metadata` | Kafka's: `version: 0` and `topic_id: <base64 uuid>` lines |
//! | `topic.config` | ours: the topic's config overrides, `key=value` lines (`#` comments) |
//! | `offsets.checkpoint` | ours: `version: 0`, `log_start_offset: N`, `recovery_point: N` |
//! | `leader-epoch-checkpoint` | Kafka's: `0`, the entry count, then `epoch startOffset` lines |
//! | `%020d.snapshot` | ours (text, not Kafka's binary format): producer state as of that offset, `version: 0` then one `pid epoch last_update_ms first_seq last_seq first_offset last_offset timestamp` line per retained batch |

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::Path;

use kafka_protocol::Uuid;

use crate::error::{Error, Result};
use crate::producer::{BatchMetadata, ProducerStateManager};
use crate::segment::write_file_atomic;

pub(crate) const PARTITION_METADATA: &str = "partition.metadata";
pub(crate) const TOPIC_CONFIG: &str = "topic.config";
pub(crate) const OFFSETS_CHECKPOINT: &str = "offsets.checkpoint";
pub(crate) const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
pub(crate) const SNAPSHOT_SUFFIX: &str = ".snapshot";

/// Metadata files are small; anything bigger is not ours.
const MAX_METADATA_FILE: u64 = 16 * 1024 * 1024;

fn read_text(path: &Path) -> Result<Option<String>> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_METADATA_FILE => {
            return Err(Error::Corrupt(format!(
                "{} is {} bytes, too large for a metadata file",
                path.display(),
                m.len()
            )))
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    match std::fs::read(path) {
        Ok(b) => String::from_utf8(b)
            .map(Some)
            .map_err(|_| Error::Corrupt(format!("{} is not UTF-8", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn corrupt(path: &Path, what: &str) -> Error {
    Error::Corrupt(format!("{}: {what}", path.display()))
}

/// `key: value` lines.
fn parse_colon_lines(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

/// A random (version 4) UUID whose base64 form does not start with `-`, as Kafka's
/// `Uuid.randomUuid`. The bits come from std's randomly keyed SipHash, seeded by the OS.
pub(crate) fn random_uuid() -> Uuid {
    loop {
        let state = std::collections::hash_map::RandomState::new();
        let mut h1 = state.build_hasher();
        h1.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let msb = h1.finish();
        let mut h2 = state.build_hasher();
        h2.write_u64(msb);
        h2.write_u32(std::process::id());
        let lsb = h2.finish();
        let msb = (msb & !0xf000) | 0x4000;
        let lsb = (lsb & !(0xc000_0000_0000_0000)) | 0x8000_0000_0000_0000;
        let id = Uuid::from_u64_pair(msb, lsb);
        if id != Uuid::ZERO && !id.to_string().starts_with('-') && (msb, lsb) != (0, 1) {
            return id;
        }
    }
}

/// Parses Kafka's URL-safe base64 UUID (22 characters, no padding).
pub(crate) fn parse_uuid(s: &str) -> Option<Uuid> {
    let s = s.trim().as_bytes();
    if s.len() != 22 {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = [0u8; 16];
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut i = 0;
    for &c in s {
        bits = (bits << 6) | val(c)?;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            if let Some(slot) = out.get_mut(i) {
                *slot = (bits >> nbits) as u8;
            }
            i += 1;
            bits &= (1 << nbits) - 1;
        }
    }
    (i == 16).then_some(Uuid(out))
}

/// Reads `partition.metadata`.
pub(crate) fn read_partition_metadata(dir: &Path) -> Result<Option<Uuid>> {
    let path = dir.join(PARTITION_METADATA);
    let Some(text) = read_text(&path)? else {
        return Ok(None);
    };
    let fields = parse_colon_lines(&text);
    if fields.get("version") != Some(&"0") {
        return Err(corrupt(&path, "unknown version"));
    }
    let id = fields
        .get("topic_id")
        .and_then(|s| parse_uuid(s))
        .ok_or_else(|| corrupt(&path, "bad topic_id"))?;
    Ok(Some(id))
}

/// Writes `partition.metadata`.
pub(crate) fn write_partition_metadata(dir: &Path, topic_id: Uuid) -> Result<()> {
    let text = format!("version: 0\ntopic_id: {topic_id}\n");
    write_file_atomic(&dir.join(PARTITION_METADATA), text.as_bytes(), true)?;
    Ok(())
}

/// Reads `topic.config` (empty if missing).
pub(crate) fn read_topic_config(dir: &Path) -> Result<BTreeMap<String, String>> {
    let path = dir.join(TOPIC_CONFIG);
    let Some(text) = read_text(&path)? else {
        return Ok(BTreeMap::new());
    };
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| corrupt(&path, "a line is not key=value"))?;
        m.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(m)
}

/// Writes `topic.config`.
pub(crate) fn write_topic_config(dir: &Path, overrides: &BTreeMap<String, String>) -> Result<()> {
    let mut text =
        String::from("# Topic config overrides (key=value), written by kafka-storage.\n");
    for (k, v) in overrides {
        if k.contains(['\n', '\r', '=']) || v.contains(['\n', '\r']) {
            return Err(Error::Config(format!("invalid config entry {k:?}={v:?}")));
        }
        text.push_str(k);
        text.push('=');
        text.push_str(v);
        text.push('\n');
    }
    write_file_atomic(&dir.join(TOPIC_CONFIG), text.as_bytes(), true)?;
    Ok(())
}

/// The partition's `offsets.checkpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetsCheckpoint {
    pub(crate) log_start_offset: i64,
    pub(crate) recovery_point: i64,
}

pub(crate) fn read_offsets_checkpoint(dir: &Path) -> Result<Option<OffsetsCheckpoint>> {
    let path = dir.join(OFFSETS_CHECKPOINT);
    let Some(text) = read_text(&path)? else {
        return Ok(None);
    };
    let fields = parse_colon_lines(&text);
    let num = |k: &str| -> Result<i64> {
        fields
            .get(k)
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| corrupt(&path, &format!("bad {k}")))
    };
    if fields.get("version") != Some(&"0") {
        return Err(corrupt(&path, "unknown version"));
    }
    Ok(Some(OffsetsCheckpoint {
        log_start_offset: num("log_start_offset")?,
        recovery_point: num("recovery_point")?,
    }))
}

pub(crate) fn write_offsets_checkpoint(dir: &Path, c: OffsetsCheckpoint) -> Result<()> {
    let text = format!(
        "version: 0\nlog_start_offset: {}\nrecovery_point: {}\n",
        c.log_start_offset, c.recovery_point
    );
    write_file_atomic(&dir.join(OFFSETS_CHECKPOINT), text.as_bytes(), true)?;
    Ok(())
}

/// Reads `leader-epoch-checkpoint`: `(epoch, start offset)` entries.
pub(crate) fn read_leader_epochs(dir: &Path) -> Result<Vec<(i32, i64)>> {
    let path = dir.join(LEADER_EPOCH_CHECKPOINT);
    let Some(text) = read_text(&path)? else {
        return Ok(Vec::new());
    };
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("0") {
        return Err(corrupt(&path, "unknown version"));
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| corrupt(&path, "bad entry count"))?;
    let mut out = Vec::new();
    for line in lines {
        let mut it = line.split_whitespace();
        let (Some(e), Some(o), None) = (it.next(), it.next(), it.next()) else {
            return Err(corrupt(&path, "bad entry"));
        };
        let (Ok(e), Ok(o)) = (e.parse::<i32>(), o.parse::<i64>()) else {
            return Err(corrupt(&path, "bad entry"));
        };
        out.push((e, o));
    }
    if out.len() != count {
        return Err(corrupt(&path, "entry count does not match"));
    }
    Ok(out)
}

pub(crate) fn write_leader_epochs(dir: &Path, entries: &[(i32, i64)]) -> Result<()> {
    let mut text = format!("0\n{}\n", entries.len());
    for (e, o) in entries {
        text.push_str(&format!("{e} {o}\n"));
    }
    write_file_atomic(&dir.join(LEADER_EPOCH_CHECKPOINT), text.as_bytes(), true)?;
    Ok(())
}

/// Writes a producer state snapshot as of `offset`.
pub(crate) fn write_producer_snapshot(
    dir: &Path,
    offset: i64,
    state: &ProducerStateManager,
) -> Result<()> {
    let mut text = String::from("version: 0\n");
    for (pid, e) in &state.producers {
        for b in &e.batches {
            text.push_str(&format!(
                "{pid} {} {} {} {} {} {} {}\n",
                e.producer_epoch,
                e.last_update_ms,
                b.first_seq,
                b.last_seq,
                b.first_offset,
                b.last_offset,
                b.timestamp
            ));
        }
    }
    let path = dir.join(crate::segment::file_name(offset, SNAPSHOT_SUFFIX));
    write_file_atomic(&path, text.as_bytes(), false)?;
    Ok(())
}

/// Reads a producer state snapshot.
pub(crate) fn read_producer_snapshot(path: &Path) -> Result<ProducerStateManager> {
    let text = read_text(path)?.ok_or_else(|| corrupt(path, "missing"))?;
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("version: 0") {
        return Err(corrupt(path, "unknown version"));
    }
    let mut state = ProducerStateManager::default();
    for line in lines {
        let f: Vec<i64> = line
            .split_whitespace()
            .map(str::parse::<i64>)
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| corrupt(path, "bad line"))?;
        let [pid, epoch, last_update_ms, first_seq, last_seq, first_offset, last_offset, timestamp] =
            f[..]
        else {
            return Err(corrupt(path, "bad line"));
        };
        let (Ok(epoch), Ok(first_seq), Ok(last_seq)) = (
            i16::try_from(epoch),
            i32::try_from(first_seq),
            i32::try_from(last_seq),
        ) else {
            return Err(corrupt(path, "bad line"));
        };
        state.update(
            pid,
            epoch,
            BatchMetadata {
                first_seq,
                last_seq,
                first_offset,
                last_offset,
                timestamp,
            },
            last_update_ms,
        );
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn uuids_round_trip_through_base64() {
        for _ in 0..100 {
            let id = random_uuid();
            let s = id.to_string();
            assert_eq!(s.len(), 22);
            assert!(!s.starts_with('-'));
            assert_eq!(parse_uuid(&s), Some(id));
        }
        assert_eq!(parse_uuid("AAAAAAAAAAAAAAAAAAAAAA"), Some(Uuid::ZERO));
        assert_eq!(parse_uuid("short"), None);
        assert_eq!(parse_uuid("!AAAAAAAAAAAAAAAAAAAAA"), None);
    }
}
