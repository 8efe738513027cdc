use super::*;
use raft::Storage as _;

pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "kafka-raft-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        data: bytes::Bytes::from(format!("e{index}t{term}")),
        ..Entry::default()
    }
}

fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range.map(|i| entry(i, term)).collect()
}

fn hs(term: u64, vote: u64, commit: u64) -> HardState {
    HardState {
        term,
        vote,
        commit,
        ..HardState::default()
    }
}

fn voters(v: &[u64]) -> ConfState {
    ConfState {
        voters: v.to_vec(),
        ..ConfState::default()
    }
}

fn terms(s: &DiskStorage) -> Vec<(u64, u64)> {
    s.stored_entries(0, u64::MAX)
        .iter()
        .map(|e| (e.index, e.term))
        .collect()
}

fn ctx() -> GetEntriesContext {
    GetEntriesContext::empty(false)
}

#[test]
fn state_survives_a_restart() {
    let dir = TempDir::new("restart");
    {
        let mut s = DiskStorage::open(&dir.0).unwrap();
        assert!(!s.is_initialized());
        assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (1, 0));
        s.set_conf_state(voters(&[1, 2, 3])).unwrap();
        s.append(&entries(1..=5, 1)).unwrap();
        s.set_hard_state(hs(1, 2, 3)).unwrap();
        s.sync().unwrap();
    }
    let s = DiskStorage::open(&dir.0).unwrap();
    assert!(s.is_initialized());
    assert_eq!(s.conf_state().voters, vec![1, 2, 3]);
    assert_eq!(*s.hard_state(), hs(1, 2, 3));
    assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (1, 5));
    let got = s.entries(2, 5, None, ctx()).unwrap();
    assert_eq!(got, entries(2..=4, 1));
    assert_eq!(s.term(5).unwrap(), 1);
    assert_eq!(s.term(0).unwrap(), 0);
}

#[test]
fn a_torn_tail_is_truncated() {
    let dir = TempDir::new("torn");
    {
        let mut s = DiskStorage::open(&dir.0).unwrap();
        s.set_conf_state(voters(&[1])).unwrap();
        s.append(&entries(1..=4, 1)).unwrap();
        s.sync().unwrap();
    }
    let wal = dir.0.join(WAL_FILE);
    let len = fs::metadata(&wal).unwrap().len();
    // Cut into the last entry's frame, as a crash mid-write would.
    let f = OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);
    {
        let mut s = DiskStorage::open(&dir.0).unwrap();
        assert_eq!(terms(&s), vec![(1, 1), (2, 1), (3, 1)]);
        // The log goes on from the truncation point.
        s.append(&entries(4..=6, 2)).unwrap();
        s.sync().unwrap();
    }
    // A torn tail of garbage (a frame whose checksum fails, nothing after it) too.
    let mut f = OpenOptions::new().append(true).open(&wal).unwrap();
    f.write_all(&[0, 0, 0, 4, 1, 2, 3, 4, 2, 9, 9, 9]).unwrap();
    drop(f);
    let s = DiskStorage::open(&dir.0).unwrap();
    assert_eq!(s.last_index().unwrap(), 6);
    assert_eq!(s.term(6).unwrap(), 2);
}

#[test]
fn damage_before_the_tail_is_a_typed_error() {
    let dir = TempDir::new("corrupt");
    {
        let mut s = DiskStorage::open(&dir.0).unwrap();
        s.set_conf_state(voters(&[1])).unwrap();
        s.append(&entries(1..=4, 1)).unwrap();
        s.sync().unwrap();
    }
    let wal = dir.0.join(WAL_FILE);
    let mut data = fs::read(&wal).unwrap();
    // Flip a byte inside the third entry's body: a damaged length field could pass for a
    // torn write, but a failing checksum with a good frame after it cannot.
    let mut last = Vec::new();
    put_frame(&mut last, Kind::Entry, &entry(4, 1)).unwrap();
    let at = data.len() - last.len() - 2;
    data[at] ^= 0xff;
    fs::write(&wal, &data).unwrap();
    assert!(matches!(
        DiskStorage::open(&dir.0),
        Err(Error::Corrupt { .. })
    ));
}

#[test]
fn a_conflicting_suffix_is_replaced() {
    let dir = TempDir::new("conflict");
    {
        let mut s = DiskStorage::open(&dir.0).unwrap();
        s.set_conf_state(voters(&[1, 2, 3])).unwrap();
        s.append(&entries(1..=5, 1)).unwrap();
        s.append(&entries(3..=4, 2)).unwrap();
        assert_eq!(terms(&s), vec![(1, 1), (2, 1), (3, 2), (4, 2)]);
        // A hole is refused.
        assert!(matches!(
            s.append(&entries(7..=8, 2)),
            Err(Error::NonContiguousAppend { got: 7, .. })
        ));
        s.sync().unwrap();
    }
    let s = DiskStorage::open(&dir.0).unwrap();
    assert_eq!(terms(&s), vec![(1, 1), (2, 1), (3, 2), (4, 2)]);
    assert_eq!(s.stored_entries(3, 4)[0].data, bytes::Bytes::from("e3t2"));
}

#[test]
fn a_snapshot_compacts_the_log() {
    let dir = TempDir::new("compact");
    {
        let mut s = DiskStorage::open(&dir.0).unwrap();
        s.set_conf_state(voters(&[1, 2, 3])).unwrap();
        s.append(&entries(1..=10, 1)).unwrap();
        s.set_hard_state(hs(1, 1, 8)).unwrap();
        s.sync().unwrap();
        assert!(matches!(
            s.create_snapshot(9, "state".into()),
            Err(Error::SnapshotIndex { .. })
        ));
        s.create_snapshot(6, "state@6".into()).unwrap();
        assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (7, 10));
        assert_eq!(s.term(6).unwrap(), 1);
        assert_eq!(s.term(5), Err(raft::Error::Store(StorageError::Compacted)));
        assert_eq!(
            s.entries(5, 8, None, ctx()),
            Err(raft::Error::Store(StorageError::Compacted))
        );
        let snap = s.snapshot(0, 2).unwrap();
        assert_eq!(snap.get_metadata().index, 6);
        assert_eq!(snap.get_metadata().get_conf_state().voters, vec![1, 2, 3]);
        assert_eq!(&snap.data[..], b"state@6");
        assert!(s.create_snapshot(6, "again".into()).is_err());
    }
    let s = DiskStorage::open(&dir.0).unwrap();
    assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (7, 10));
    assert_eq!(&s.latest_snapshot().data[..], b"state@6");
    assert_eq!(s.hard_state().commit, 8);
    assert_eq!(s.stored_entries(0, 100).len(), 4);
}

#[test]
fn an_installed_snapshot_replaces_the_log() {
    let dir = TempDir::new("install");
    {
        let mut s = DiskStorage::open(&dir.0).unwrap();
        s.set_conf_state(voters(&[1, 2, 3])).unwrap();
        s.append(&entries(1..=5, 1)).unwrap();
        s.set_hard_state(hs(1, 1, 2)).unwrap();
        s.sync().unwrap();
        let mut snap = Snapshot {
            data: "leader state".into(),
            ..Snapshot::default()
        };
        snap.mut_metadata().index = 20;
        snap.mut_metadata().term = 3;
        snap.mut_metadata().set_conf_state(voters(&[1, 2, 3]));
        s.apply_snapshot(snap).unwrap();
        assert_eq!(
            (s.first_index().unwrap(), s.last_index().unwrap()),
            (21, 20)
        );
        assert_eq!(s.hard_state().commit, 20);
        assert_eq!(s.hard_state().term, 3);
        s.append(&entries(21..=22, 3)).unwrap();
        s.sync().unwrap();
    }
    let s = DiskStorage::open(&dir.0).unwrap();
    assert_eq!(terms(&s), vec![(21, 3), (22, 3)]);
    assert_eq!(s.term(20).unwrap(), 3);
    assert_eq!(&s.latest_snapshot().data[..], b"leader state");
}

/// Writes a snapshot file without rewriting the WAL: a crash between the two steps.
fn write_snapshot_only(dir: &Path, index: u64, term: u64) {
    let mut snap = Snapshot {
        data: "crash".into(),
        ..Snapshot::default()
    };
    snap.mut_metadata().index = index;
    snap.mut_metadata().term = term;
    snap.mut_metadata().set_conf_state(voters(&[1, 2, 3]));
    let mut framed = Vec::new();
    put_frame(&mut framed, Kind::Snapshot, &snap).unwrap();
    replace_file(dir, SNAPSHOT_TMP, SNAPSHOT_FILE, &framed).unwrap();
}

#[test]
fn a_crash_between_snapshot_and_wal_rewrite_recovers() {
    // Our own snapshot (compaction): the WAL's entries match it, so the tail is kept.
    let dir = TempDir::new("crash-compact");
    {
        let mut s = DiskStorage::open(&dir.0).unwrap();
        s.set_conf_state(voters(&[1, 2, 3])).unwrap();
        s.append(&entries(1..=10, 1)).unwrap();
        s.set_hard_state(hs(1, 1, 10)).unwrap();
        s.sync().unwrap();
    }
    write_snapshot_only(&dir.0, 6, 1);
    let s = DiskStorage::open(&dir.0).unwrap();
    assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (7, 10));
    drop(s);
    // An installed snapshot of another history: the old entries go.
    let dir = TempDir::new("crash-install");
    {
        let mut s = DiskStorage::open(&dir.0).unwrap();
        s.set_conf_state(voters(&[1, 2, 3])).unwrap();
        s.append(&entries(1..=10, 1)).unwrap();
        s.set_hard_state(hs(1, 1, 3)).unwrap();
        s.sync().unwrap();
    }
    write_snapshot_only(&dir.0, 8, 4);
    let s = DiskStorage::open(&dir.0).unwrap();
    assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (9, 8));
    assert_eq!(s.hard_state().commit, 8);
    assert_eq!(s.hard_state().term, 4);
}

#[test]
fn storage_reads_out_of_range_are_errors_not_panics() {
    let dir = TempDir::new("range");
    let mut s = DiskStorage::open(&dir.0).unwrap();
    s.set_conf_state(voters(&[1])).unwrap();
    s.append(&entries(1..=3, 1)).unwrap();
    assert!(s.entries(2, 10, None, ctx()).is_err());
    assert!(s.entries(3, 2, None, ctx()).is_err());
    assert!(s.term(4).is_err());
    assert_eq!(
        s.snapshot(0, 2),
        Err(raft::Error::Store(
            StorageError::SnapshotTemporarilyUnavailable
        ))
    );
    // max_size keeps at least one entry.
    assert_eq!(s.entries(1, 4, Some(1), ctx()).unwrap().len(), 1);
}

#[test]
fn hostile_files_never_panic() {
    let dir = TempDir::new("hostile");
    fs::create_dir_all(&dir.0).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    // A valid WAL to mutate, so that many cases get past the checksum of the first frames.
    let mut valid = Vec::new();
    put_frame(&mut valid, Kind::Base, &SnapshotMetadata::default()).unwrap();
    put_frame(&mut valid, Kind::ConfState, &voters(&[1, 2])).unwrap();
    for e in entries(1..=3, 1) {
        put_frame(&mut valid, Kind::Entry, &e).unwrap();
    }
    for case in 0..400 {
        let _ = fs::remove_file(dir.0.join(SNAPSHOT_FILE));
        let mut data = if case % 2 == 0 {
            valid.clone()
        } else {
            (0..(next() % 200)).map(|_| next() as u8).collect()
        };
        if !data.is_empty() {
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % data.len();
                data[at] = next() as u8;
            }
            data.truncate((next() as usize) % (data.len() + 1));
        }
        fs::write(dir.0.join(WAL_FILE), &data).unwrap();
        if case % 5 == 0 {
            fs::write(dir.0.join(SNAPSHOT_FILE), &data).unwrap();
        }
        // Any outcome but a panic.
        let _ = DiskStorage::open(&dir.0);
    }
    // A valid frame with a body that is not the protobuf it claims to be.
    let mut bad = Vec::new();
    put_frame(&mut bad, Kind::Base, &SnapshotMetadata::default()).unwrap();
    let start = bad.len();
    bad.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, Kind::Entry as u8, 0xff, 0xff, 0xff]);
    let crc = crc32c::crc32c(&bad[start + 8..]);
    bad[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
    bad.extend_from_slice(&valid[..]);
    fs::write(dir.0.join(WAL_FILE), &bad).unwrap();
    let _ = fs::remove_file(dir.0.join(SNAPSHOT_FILE));
    assert!(matches!(
        DiskStorage::open(&dir.0),
        Err(Error::Corrupt { .. })
    ));
}

#[test]
fn absurd_indexes_in_files_are_corruption() {
    let dir = TempDir::new("absurd");
    fs::create_dir_all(&dir.0).unwrap();
    let mut wal = Vec::new();
    let base = SnapshotMetadata {
        index: u64::MAX,
        term: 1,
        ..SnapshotMetadata::default()
    };
    put_frame(&mut wal, Kind::Base, &base).unwrap();
    put_frame(&mut wal, Kind::Entry, &entry(u64::MAX, 1)).unwrap();
    put_frame(&mut wal, Kind::Entry, &entry(3, 1)).unwrap();
    fs::write(dir.0.join(WAL_FILE), &wal).unwrap();
    assert!(matches!(
        DiskStorage::open(&dir.0),
        Err(Error::Corrupt { .. })
    ));

    fs::remove_file(dir.0.join(WAL_FILE)).unwrap();
    write_snapshot_only(&dir.0, u64::MAX, 1);
    assert!(matches!(
        DiskStorage::open(&dir.0),
        Err(Error::Corrupt { .. })
    ));

    // An entry far past the base is a hole, not an overflow.
    fs::remove_file(dir.0.join(SNAPSHOT_FILE)).unwrap();
    let mut wal = Vec::new();
    put_frame(&mut wal, Kind::Base, &SnapshotMetadata::default()).unwrap();
    put_frame(&mut wal, Kind::Entry, &entry(1, 1)).unwrap();
    put_frame(&mut wal, Kind::Entry, &entry(u64::MAX - 1, 1)).unwrap();
    put_frame(&mut wal, Kind::Entry, &entry(2, 1)).unwrap();
    fs::write(dir.0.join(WAL_FILE), &wal).unwrap();
    assert!(matches!(
        DiskStorage::open(&dir.0),
        Err(Error::Corrupt { .. })
    ));
}
