//! [`DiskStorage`]: raft's log, hard state, configuration and latest snapshot, durable in one
//! directory (Kafka's `__cluster_metadata-0/`).
//!
//! # Files
//!
//! - `raft.wal`: an append-only write-ahead log of framed records. It opens with a `Base`
//!   record naming the snapshot (index, term) it continues from, then carries log entries,
//!   hard states and configurations in the order they were written. Replay is logical: an
//!   entry at index `i` replaces every entry from `i` on (raft's truncation of a conflicting
//!   suffix), the last hard state and configuration win. Superseded records stay in the file
//!   until it is rewritten (after a snapshot, or when they pile up).
//! - `snapshot`: the latest snapshot (metadata and the state machine's data) as one framed
//!   record, replaced atomically (written to `snapshot.tmp`, fsync'd, renamed, directory
//!   fsync'd).
//!
//! Every frame is `length: u32 BE` (of what follows the checksum), `crc32c: u32 BE` (of what
//! follows it), `kind: u8`, then a protobuf body (raft's own `eraftpb` messages). On open, a
//! frame that runs past the end of the file or fails its checksum as the file's last frame is
//! a torn write: the file is truncated there. A bad frame with data after it, an undecodable
//! body, or a hole in the log is corruption and a typed error.
//!
//! # Durability
//!
//! [`DiskStorage::append`], [`DiskStorage::set_hard_state`] and
//! [`DiskStorage::set_conf_state`] write without syncing; [`DiskStorage::sync`] makes them
//! durable with one `fdatasync`. [`crate::RaftNode`] syncs before it hands out any message
//! that depends on what was written, as raft's `Ready` protocol requires.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, StorageError};

use crate::error::{Error, Result};

const WAL_FILE: &str = "raft.wal";
const WAL_TMP: &str = "raft.wal.tmp";
const SNAPSHOT_FILE: &str = "snapshot";
const SNAPSHOT_TMP: &str = "snapshot.tmp";

/// Bytes before a frame's body: length, checksum, kind.
const FRAME_HEADER: usize = 9;

/// Indexes and terms beyond this are refused as corrupt: no log gets near it, and the
/// arithmetic on them (`index + 1`) must not overflow.
const MAX_INDEX: u64 = u64::MAX / 4;

/// How many superseded hard-state records the WAL may collect before it is rewritten.
const REWRITE_AFTER_SUPERSEDED: u64 = 16_384;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Base = 1,
    Entry = 2,
    HardState = 3,
    ConfState = 4,
    Snapshot = 5,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Base,
            2 => Kind::Entry,
            3 => Kind::HardState,
            4 => Kind::ConfState,
            5 => Kind::Snapshot,
            _ => return None,
        })
    }
}

/// Appends one frame around a protobuf message to `buf`.
fn put_frame(buf: &mut Vec<u8>, kind: Kind, msg: &dyn protobuf::Message) -> Result<()> {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; FRAME_HEADER]);
    buf[start + 8] = kind as u8;
    msg.write_to_vec(buf)?;
    let body_len = buf.len() - start - 8;
    let len = u32::try_from(body_len)
        .map_err(|_| Error::Frame(format!("record of {body_len} bytes is larger than 4 GiB")))?;
    let crc = crc32c::crc32c(&buf[start + 8..]);
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// One frame read from a file.
enum Frame<'a> {
    /// A whole, checksummed frame; `next` is the offset after it.
    Ok {
        kind: u8,
        body: &'a [u8],
        next: usize,
    },
    /// The file ends inside this frame, or its checksum fails and nothing follows it.
    Torn,
    /// Its checksum fails and more data follows: not a torn write.
    Bad,
}

fn read_frame(data: &[u8], at: usize) -> Frame<'_> {
    let Some(header) = data.get(at..at + 8) else {
        return Frame::Torn;
    };
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let Some(end) = (at + 8).checked_add(len) else {
        return Frame::Torn;
    };
    let Some(payload) = data.get(at + 8..end) else {
        return Frame::Torn;
    };
    if len == 0 || crc32c::crc32c(payload) != crc {
        return if end == data.len() {
            Frame::Torn
        } else {
            Frame::Bad
        };
    }
    Frame::Ok {
        kind: payload[0],
        body: &payload[1..],
        next: end,
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Writes `bytes` to `tmp`, fsyncs it, renames it over `dst` and fsyncs the directory.
fn replace_file(dir: &Path, tmp: &str, dst: &str, bytes: &[u8]) -> Result<()> {
    let tmp_path = dir.join(tmp);
    let mut f = File::create(&tmp_path).map_err(|e| Error::io("create", &tmp_path, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("write", &tmp_path, e))?;
    f.sync_all().map_err(|e| Error::io("fsync", &tmp_path, e))?;
    drop(f);
    let dst_path = dir.join(dst);
    fs::rename(&tmp_path, &dst_path).map_err(|e| Error::io("rename", &dst_path, e))?;
    sync_dir(dir)
}

fn corrupt(path: &Path, offset: usize, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason: reason.into(),
    }
}

/// Raft's durable state in one directory; see the module documentation for the format.
///
/// Entries since the last snapshot are also kept in memory: the metadata log is compacted by
/// snapshots and stays small, and raft reads recent entries constantly.
#[derive(Debug)]
pub struct DiskStorage {
    dir: PathBuf,
    wal: File,
    hard_state: HardState,
    conf_state: ConfState,
    /// The latest snapshot; its metadata is the log's base (index 0, term 0 when none).
    snapshot: Snapshot,
    /// Entries `snapshot.index + 1 ..= last_index`, contiguous.
    entries: Vec<Entry>,
    /// Records written since the last sync.
    dirty: bool,
    /// Hard-state and configuration records written since the WAL was last rewritten.
    superseded: u64,
    /// Scratch space for framing records.
    buf: Vec<u8>,
}

impl DiskStorage {
    /// Opens (creating if needed) the storage in `dir`, recovering what was durable: a torn
    /// tail of the WAL is truncated away, corruption is an error.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        for tmp in [WAL_TMP, SNAPSHOT_TMP] {
            let p = dir.join(tmp);
            if p.exists() {
                fs::remove_file(&p).map_err(|e| Error::io("remove", &p, e))?;
            }
        }
        let snapshot = Self::read_snapshot(&dir)?;
        let wal_path = dir.join(WAL_FILE);
        let data = match fs::read(&wal_path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("read", &wal_path, e)),
        };
        let snap_meta = snapshot.get_metadata();
        if snap_meta.index > MAX_INDEX || snap_meta.term > MAX_INDEX {
            return Err(corrupt(
                &dir.join(SNAPSHOT_FILE),
                0,
                "index or term out of range",
            ));
        }
        let mut hard_state = HardState::default();
        let mut conf_state = snap_meta.get_conf_state().clone();
        let mut entries: Vec<Entry> = Vec::new();
        let mut base: Option<(u64, u64)> = None;
        let mut at = 0;
        let mut valid_len = data.len();
        while at < data.len() {
            let (kind, body, next) = match read_frame(&data, at) {
                Frame::Ok { kind, body, next } => (kind, body, next),
                Frame::Torn => {
                    tracing::warn!(path = %wal_path.display(), offset = at, "truncating a torn tail of the raft WAL");
                    valid_len = at;
                    break;
                }
                Frame::Bad => return Err(corrupt(&wal_path, at, "checksum mismatch")),
            };
            let decode_err = |e: protobuf::ProtobufError| corrupt(&wal_path, at, e.to_string());
            match Kind::from_u8(kind) {
                Some(Kind::Base) => {
                    let m = SnapshotMetadata::parse_from_bytes(body).map_err(decode_err)?;
                    if at != 0 {
                        return Err(corrupt(&wal_path, at, "base record not at the start"));
                    }
                    if m.index > MAX_INDEX || m.term > MAX_INDEX {
                        return Err(corrupt(&wal_path, at, "base index or term out of range"));
                    }
                    base = Some((m.index, m.term));
                }
                Some(Kind::Entry) => {
                    let e = Entry::parse_from_bytes(body).map_err(decode_err)?;
                    if e.index > MAX_INDEX || e.term > MAX_INDEX {
                        return Err(corrupt(&wal_path, at, "entry index or term out of range"));
                    }
                    let (bi, _) =
                        base.ok_or_else(|| corrupt(&wal_path, at, "entry before base"))?;
                    if e.index <= bi {
                        return Err(corrupt(&wal_path, at, "entry at or below the WAL's base"));
                    }
                    let first = entries.first().map_or(bi + 1, |f| f.index);
                    let last = entries.last().map_or(bi, |l| l.index);
                    if e.index > last + 1 {
                        return Err(corrupt(&wal_path, at, "hole in the log"));
                    }
                    entries.truncate((e.index - first) as usize);
                    entries.push(e);
                }
                Some(Kind::HardState) => {
                    hard_state = HardState::parse_from_bytes(body).map_err(decode_err)?;
                }
                Some(Kind::ConfState) => {
                    conf_state = ConfState::parse_from_bytes(body).map_err(decode_err)?;
                }
                Some(Kind::Snapshot) | None => {
                    return Err(corrupt(
                        &wal_path,
                        at,
                        format!("unexpected record kind {kind}"),
                    ));
                }
            }
            at = next;
        }
        // The snapshot file is replaced before the WAL is rewritten on top of it. If the
        // process died between the two, the WAL still continues an older base: keep its
        // entries past the snapshot only if the WAL holds the snapshot's own entry (same
        // index and term, so the same history); otherwise they predate an installed snapshot.
        let wal_matches_snapshot = match base {
            Some((i, t)) => i == snap_meta.index && t == snap_meta.term,
            None => entries.is_empty(),
        };
        let term_at_snapshot = entries
            .iter()
            .find(|e| e.index == snap_meta.index)
            .map(|e| e.term);
        let keep_tail = wal_matches_snapshot || term_at_snapshot == Some(snap_meta.term);
        if keep_tail {
            entries.retain(|e| e.index > snap_meta.index);
        } else {
            entries.clear();
        }
        if let Some(first) = entries.first() {
            if first.index != snap_meta.index + 1 {
                return Err(corrupt(&wal_path, 0, "log does not continue the snapshot"));
            }
        }
        if hard_state.commit < snap_meta.index {
            hard_state.commit = snap_meta.index;
        }
        if hard_state.term < snap_meta.term {
            hard_state.term = snap_meta.term;
        }
        let last = entries.last().map_or(snap_meta.index, |e| e.index);
        if hard_state.commit > last {
            // The commit index is written without an fsync of its own; raft learns it
            // again from the leader, so an index past what survived is only lowered.
            tracing::warn!(
                commit = hard_state.commit,
                last,
                "raft commit index beyond the recovered log; lowered"
            );
            hard_state.commit = last;
        }
        let wal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&wal_path)
            .map_err(|e| Error::io("open", &wal_path, e))?;
        let mut s = DiskStorage {
            dir,
            wal,
            hard_state,
            conf_state,
            snapshot,
            entries,
            dirty: false,
            superseded: 0,
            buf: Vec::new(),
        };
        if !wal_matches_snapshot || valid_len != data.len() || data.is_empty() {
            // A torn tail, a WAL that is new or continues an older base: write a clean one.
            s.rewrite_wal()?;
        }
        Ok(s)
    }

    fn read_snapshot(dir: &Path) -> Result<Snapshot> {
        let path = dir.join(SNAPSHOT_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Snapshot::default()),
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        // The file is replaced atomically, so any damage at all is corruption.
        match read_frame(&data, 0) {
            Frame::Ok { kind, body, next } if next == data.len() => {
                if Kind::from_u8(kind) != Some(Kind::Snapshot) {
                    return Err(corrupt(&path, 0, format!("unexpected record kind {kind}")));
                }
                let bytes = bytes::Bytes::copy_from_slice(body);
                Snapshot::parse_from_carllerche_bytes(&bytes)
                    .map_err(|e| corrupt(&path, 0, e.to_string()))
            }
            Frame::Ok { next, .. } => Err(corrupt(&path, next, "trailing bytes")),
            Frame::Torn | Frame::Bad => Err(corrupt(&path, 0, "checksum mismatch or short file")),
        }
    }

    /// Writes a fresh WAL holding exactly the current state, then swaps it in.
    fn rewrite_wal(&mut self) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let base = SnapshotMetadata {
            index: self.snapshot.get_metadata().index,
            term: self.snapshot.get_metadata().term,
            ..SnapshotMetadata::default()
        };
        let r = (|| {
            put_frame(&mut buf, Kind::Base, &base)?;
            put_frame(&mut buf, Kind::HardState, &self.hard_state)?;
            put_frame(&mut buf, Kind::ConfState, &self.conf_state)?;
            for e in &self.entries {
                put_frame(&mut buf, Kind::Entry, e)?;
            }
            replace_file(&self.dir, WAL_TMP, WAL_FILE, &buf)
        })();
        buf.clear();
        self.buf = buf;
        r?;
        let path = self.dir.join(WAL_FILE);
        self.wal = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        self.dirty = false;
        self.superseded = 0;
        Ok(())
    }

    fn write_buf(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = self.wal.write_all(&self.buf);
        self.buf.clear();
        self.dirty = true;
        r.map_err(|e| Error::io("write", self.dir.join(WAL_FILE), e))
    }

    /// Whether the storage holds a configuration (it was bootstrapped or received one).
    pub fn is_initialized(&self) -> bool {
        self.conf_state != ConfState::default()
    }

    /// The directory the storage lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current hard state (term, vote, commit).
    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    /// The current configuration (the voter set).
    pub fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    /// The latest snapshot (empty, index 0, when there is none).
    pub fn latest_snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    fn first(&self) -> u64 {
        self.snapshot.get_metadata().index + 1
    }

    fn last(&self) -> u64 {
        self.entries
            .last()
            .map_or(self.snapshot.get_metadata().index, |e| e.index)
    }

    /// Appends entries, replacing any existing suffix from the first new index on (raft's
    /// truncation of a conflicting suffix). Not durable until [`Self::sync`].
    pub fn append(&mut self, entries: &[Entry]) -> Result<()> {
        let Some(head) = entries.first() else {
            return Ok(());
        };
        let (first, last) = (self.first(), self.last());
        // Entries already covered by the snapshot are committed and equal; skip them.
        let skip = first.saturating_sub(head.index) as usize;
        let Some(entries) = entries.get(skip..).filter(|e| !e.is_empty()) else {
            return Ok(());
        };
        let start = entries[0].index;
        if start > last + 1 || entries.windows(2).any(|w| w[1].index != w[0].index + 1) {
            return Err(Error::NonContiguousAppend {
                got: start,
                first,
                last,
            });
        }
        self.entries.truncate((start - first) as usize);
        self.buf.clear();
        for e in entries {
            put_frame(&mut self.buf, Kind::Entry, e)?;
        }
        self.entries.extend_from_slice(entries);
        self.write_buf()
    }

    /// Records a new hard state. Not durable until [`Self::sync`].
    pub fn set_hard_state(&mut self, hs: HardState) -> Result<()> {
        if hs == self.hard_state {
            return Ok(());
        }
        self.buf.clear();
        put_frame(&mut self.buf, Kind::HardState, &hs)?;
        self.hard_state = hs;
        self.superseded += 1;
        self.write_buf()
    }

    /// Records the commit index alone (raft reports it after the rest of a ready).
    pub fn set_commit(&mut self, commit: u64) -> Result<()> {
        let mut hs = self.hard_state.clone();
        hs.commit = commit;
        self.set_hard_state(hs)
    }

    /// Records a new configuration. Not durable until [`Self::sync`].
    pub fn set_conf_state(&mut self, cs: ConfState) -> Result<()> {
        self.buf.clear();
        put_frame(&mut self.buf, Kind::ConfState, &cs)?;
        self.conf_state = cs;
        self.superseded += 1;
        self.write_buf()
    }

    /// Makes everything written so far durable (one `fdatasync`), compacting the WAL first
    /// when superseded records have piled up.
    pub fn sync(&mut self) -> Result<()> {
        if self.superseded >= REWRITE_AFTER_SUPERSEDED {
            return self.rewrite_wal();
        }
        if self.dirty {
            self.wal
                .sync_data()
                .map_err(|e| Error::io("fsync", self.dir.join(WAL_FILE), e))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Installs a snapshot received from the leader: it replaces the whole log, the commit
    /// index moves to it, its configuration becomes ours. Durable on return.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<()> {
        let meta = snapshot.get_metadata();
        if meta.index < self.snapshot.get_metadata().index {
            return Err(Error::SnapshotIndex {
                index: meta.index,
                reason: "older than the snapshot already held",
            });
        }
        let mut framed = Vec::new();
        put_frame(&mut framed, Kind::Snapshot, &snapshot)?;
        replace_file(&self.dir, SNAPSHOT_TMP, SNAPSHOT_FILE, &framed)?;
        self.hard_state.commit = meta.index;
        self.hard_state.term = self.hard_state.term.max(meta.term);
        self.conf_state = meta.get_conf_state().clone();
        self.entries.clear();
        self.snapshot = snapshot;
        self.rewrite_wal()
    }

    /// Keeps `data`, the state machine's snapshot at the committed (and applied) `index`, as
    /// the latest snapshot, and drops the entries it covers. Durable on return.
    pub fn create_snapshot(&mut self, index: u64, data: bytes::Bytes) -> Result<()> {
        let snap_index = self.snapshot.get_metadata().index;
        if index <= snap_index {
            return Err(Error::SnapshotIndex {
                index,
                reason: "not past the latest snapshot",
            });
        }
        if index > self.hard_state.commit {
            return Err(Error::SnapshotIndex {
                index,
                reason: "beyond the commit index",
            });
        }
        let term = self.entry_term(index).ok_or(Error::SnapshotIndex {
            index,
            reason: "not in the log",
        })?;
        let mut snapshot = Snapshot {
            data,
            ..Snapshot::default()
        };
        let meta = snapshot.mut_metadata();
        meta.index = index;
        meta.term = term;
        meta.set_conf_state(self.conf_state.clone());
        let mut framed = Vec::new();
        put_frame(&mut framed, Kind::Snapshot, &snapshot)?;
        replace_file(&self.dir, SNAPSHOT_TMP, SNAPSHOT_FILE, &framed)?;
        let drop = (index - snap_index) as usize;
        self.entries.drain(..drop.min(self.entries.len()));
        self.snapshot = snapshot;
        self.rewrite_wal()
    }

    fn entry_term(&self, index: u64) -> Option<u64> {
        let meta = self.snapshot.get_metadata();
        if index == meta.index {
            return Some(meta.term);
        }
        let first = self.first();
        if index < first {
            return None;
        }
        self.entries.get((index - first) as usize).map(|e| e.term)
    }

    /// The stored entries in `[low, high)`, for tests and tools.
    pub fn stored_entries(&self, low: u64, high: u64) -> Vec<Entry> {
        let first = self.first();
        let lo = low.max(first).saturating_sub(first) as usize;
        let hi = (high.saturating_sub(first) as usize).min(self.entries.len());
        self.entries
            .get(lo..hi)
            .map(<[Entry]>::to_vec)
            .unwrap_or_default()
    }
}

impl raft::Storage for DiskStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let first = self.first();
        if low < first {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let lo = (low - first) as usize;
        let hi = (high - first) as usize;
        let mut out = self
            .entries
            .get(lo..hi)
            .map(<[Entry]>::to_vec)
            .ok_or(raft::Error::Store(StorageError::Unavailable))?;
        raft::util::limit_size(&mut out, max_size.into());
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx < self.snapshot.get_metadata().index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        self.entry_term(idx)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.snapshot.get_metadata().index < request_index
            || self.snapshot.get_metadata().index == 0
        {
            // Nothing to send yet: the state machine has not taken a snapshot that far.
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(self.snapshot.clone())
    }
}

#[cfg(test)]
pub(crate) mod tests;
