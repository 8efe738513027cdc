#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The log end to end: appends and reads with real batches, rolling, indexes, retention,
//! restart and crash recovery, concurrency and group commit.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::FileRegion;
use kafka_protocol::records::{RecordBatch, RecordBatchBuilder, RecordBatches, TimestampType};
use kafka_protocol::ErrorCode;
use kafka_storage::{
    Error, FetchDataInfo, Log, LogConfig, LogManager, TopicPartition, CLEAN_SHUTDOWN_FILE,
};

// ---------------------------------------------------------------------------------------
// Helpers

/// A unique directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "kafka-storage-{name}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const NOW: i64 = 1_700_000_000_000;

/// A batch of `n` records with timestamps `ts, ts+1, ...` and values `"{tag}-{i}"`.
fn batch(n: usize, ts: i64, tag: &str) -> Bytes {
    let mut b = RecordBatchBuilder::new();
    for i in 0..n {
        let v = format!("{tag}-{i}");
        b.append(ts + i as i64, Some(b"key"), Some(v.as_bytes()))
            .unwrap();
    }
    b.build().unwrap()
}

/// A batch of one record with a value of `size` bytes.
fn sized_batch(size: usize, ts: i64) -> Bytes {
    let mut b = RecordBatchBuilder::new();
    b.append(ts, None, Some(&vec![b'x'; size])).unwrap();
    b.build().unwrap()
}

fn concat(parts: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    for p in parts {
        out.extend_from_slice(p);
    }
    out.freeze()
}

fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn tp(topic: &str) -> TopicPartition {
    TopicPartition::new(topic, 0)
}

fn open(dir: &TempDir) -> LogManager {
    LogManager::open(&[dir.path().to_path_buf()], LogConfig::default()).unwrap()
}

fn region_bytes(region: &FileRegion) -> Bytes {
    let mut buf = vec![0u8; region.len];
    region
        .file
        .read_exact_at(&mut buf, region.position)
        .unwrap();
    Bytes::from(buf)
}

/// Frames a read strictly into valid whole batches.
fn batches_of(info: &FetchDataInfo) -> Vec<RecordBatch> {
    let Some(region) = &info.records else {
        return Vec::new();
    };
    assert_eq!(region.len, info.bytes);
    RecordBatches::new(region_bytes(region))
        .map(|b| {
            let b = b.expect("whole batches");
            b.validate().expect("valid batch");
            b
        })
        .collect()
}

/// Every record value in the log from `from`, reading segment by segment.
fn read_all_values(log: &Log, from: i64) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut offset = from;
    while offset < log.log_end_offset() {
        let info = log.read(offset, 64 * 1024, None, true).unwrap();
        let batches = batches_of(&info);
        assert!(!batches.is_empty(), "no progress at {offset}");
        for b in batches {
            for r in b.records().unwrap() {
                let r = r.unwrap();
                if r.offset >= offset {
                    out.push((
                        r.offset,
                        String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
                    ));
                }
            }
        }
        offset = info.next_offset;
    }
    out
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// Appends and reads

#[test]
fn append_read_round_trip() {
    let dir = TempDir::new("roundtrip");
    let mgr = open(&dir);
    let log = mgr.create_log(&tp("t"), BTreeMap::new()).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    for i in 0..3 {
        let info = log
            .append(batch(2, NOW + i, &format!("b{i}")), NOW, 0, true)
            .unwrap();
        assert_eq!(info.first_offset, i * 2);
        assert_eq!(info.last_offset, i * 2 + 1);
        assert_eq!(info.num_messages, 2);
        assert_eq!(info.log_append_time, None);
        assert!(!info.flush_needed);
    }
    assert_eq!(log.log_end_offset(), 6);
    assert_eq!(log.high_watermark(), 6);
    let info = log.read(0, 1 << 20, None, false).unwrap();
    let batches = batches_of(&info);
    assert_eq!(batches.len(), 3);
    assert_eq!(info.next_offset, 6);
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(b.base_offset(), i as i64 * 2);
        assert_eq!(b.partition_leader_epoch(), 0);
    }
    let values = read_all_values(&log, 0);
    assert_eq!(values.len(), 6);
    assert_eq!(values[3], (3, "b1-1".to_string()));
    // Reading from inside a batch returns that whole batch.
    let info = log.read(3, 1 << 20, None, false).unwrap();
    assert_eq!(info.first_batch_offset, Some(2));
    // At the log end: nothing.
    let info = log.read(6, 1 << 20, None, true).unwrap();
    assert!(info.records.is_none());
    assert_eq!(info.next_offset, 6);
}

#[test]
fn offsets_assigned_across_batches_of_one_append() {
    let dir = TempDir::new("multibatch");
    let mgr = open(&dir);
    let log = mgr.create_log(&tp("t"), BTreeMap::new()).unwrap();
    let records = concat(&[
        batch(2, NOW, "a"),
        batch(3, NOW, "b"),
        batch(1, NOW + 5, "c"),
    ]);
    let info = log.append(records, NOW, 3, true).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (0, 5));
    assert_eq!(info.num_messages, 6);
    assert_eq!(info.max_timestamp, NOW + 5);
    assert_eq!(info.offset_of_max_timestamp, 5);
    let info = log.append(batch(1, NOW, "d"), NOW, 3, true).unwrap();
    assert_eq!(info.first_offset, 6);
    let batches = batches_of(&log.read(0, 1 << 20, None, false).unwrap());
    let bases: Vec<i64> = batches.iter().map(RecordBatch::base_offset).collect();
    assert_eq!(bases, [0, 2, 5, 6]);
    assert!(batches.iter().all(|b| b.partition_leader_epoch() == 3));
    let values: Vec<String> = read_all_values(&log, 0).into_iter().map(|v| v.1).collect();
    assert_eq!(values, ["a-0", "a-1", "b-0", "b-1", "b-2", "c-0", "d-0"]);
}

#[test]
fn empty_records_append_nothing() {
    let dir = TempDir::new("empty");
    let mgr = open(&dir);
    let log = mgr.create_log(&tp("t"), BTreeMap::new()).unwrap();
    let info = log.append(Bytes::new(), NOW, 0, true).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (-1, -1));
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn shared_buffers_are_copied_not_modified() {
    let dir = TempDir::new("shared");
    let mgr = open(&dir);
    let log = mgr.create_log(&tp("t"), BTreeMap::new()).unwrap();
    log.append(batch(1, NOW, "x"), NOW, 0, true).unwrap();
    let original = batch(1, NOW, "y");
    let keep = original.clone();
    log.append(original, NOW, 0, true).unwrap();
    // The caller's copy still says base offset 0.
    assert_eq!(RecordBatch::new(keep).unwrap().base_offset(), 0);
    assert_eq!(
        batches_of(&log.read(1, 1000, None, true).unwrap())[0].base_offset(),
        1
    );
}

#[test]
fn validation_errors_map_to_kafka_codes() {
    let dir = TempDir::new("validation");
    let mgr = open(&dir);
    let log = mgr
        .create_log(
            &tp("t"),
            config(&[("max.message.bytes", "500"), ("segment.bytes", "2000")]),
        )
        .unwrap();

    let err = log.append(sized_batch(600, NOW), NOW, 0, true).unwrap_err();
    assert!(matches!(err, Error::MessageTooLarge { .. }), "{err}");
    assert_eq!(err.error_code(), ErrorCode::MessageTooLarge);

    let many: Vec<Bytes> = (0..6).map(|_| sized_batch(400, NOW)).collect();
    let err = log.append(concat(&many), NOW, 0, true).unwrap_err();
    assert!(matches!(err, Error::RecordListTooLarge { .. }), "{err}");
    assert_eq!(err.error_code(), ErrorCode::RecordListTooLarge);

    let mut bad = BytesMut::from(&batch(1, NOW, "x")[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let err = log.append(bad.freeze(), NOW, 0, true).unwrap_err();
    assert!(matches!(err, Error::CorruptRecord(_)), "{err}");
    assert_eq!(err.error_code(), ErrorCode::CorruptMessage);

    let truncated = batch(1, NOW, "x").slice(..30);
    let err = log.append(truncated, NOW, 0, true).unwrap_err();
    assert_eq!(err.error_code(), ErrorCode::CorruptMessage);

    let mut control = RecordBatchBuilder::new().with_control(true);
    control
        .append(NOW, Some(b"\0\0\0\0"), Some(b"\0\0\0\0\0\0"))
        .unwrap();
    let err = log
        .append(control.build().unwrap(), NOW, 0, true)
        .unwrap_err();
    assert_eq!(err.error_code(), ErrorCode::InvalidRecord);

    let err = log
        .append(batch(1, NOW + 2 * 3_600_000, "future"), NOW, 0, true)
        .unwrap_err();
    assert_eq!(err.error_code(), ErrorCode::InvalidTimestamp);

    // Nothing was appended by any of them.
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_in_bytes(), 0);
}

#[test]
fn log_append_time_topics_stamp_the_broker_time() {
    let dir = TempDir::new("lat");
    let mgr = open(&dir);
    let log = mgr
        .create_log(
            &tp("t"),
            config(&[("message.timestamp.type", "LogAppendTime")]),
        )
        .unwrap();
    let info = log
        .append(concat(&[batch(2, 5, "a"), batch(1, 6, "b")]), NOW, 0, true)
        .unwrap();
    assert_eq!(info.log_append_time, Some(NOW));
    assert_eq!(info.max_timestamp, NOW);
    for b in batches_of(&log.read(0, 1 << 20, None, false).unwrap()) {
        assert_eq!(b.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(b.max_timestamp(), NOW);
        for r in b.records().unwrap() {
            assert_eq!(r.unwrap().timestamp, NOW);
        }
    }
}

#[test]
fn keep_offsets_when_not_assigning() {
    let dir = TempDir::new("keep");
    let mgr = open(&dir);
    let log = mgr.create_log(&tp("t"), BTreeMap::new()).unwrap();
    let mut b = RecordBatchBuilder::new().with_base_offset(10);
    b.append(NOW, None, Some(b"v")).unwrap();
    let info = log.append(b.build().unwrap(), NOW, 0, false).unwrap();
    assert_eq!((info.first_offset, log.log_end_offset()), (10, 11));
    let mut b = RecordBatchBuilder::new().with_base_offset(5);
    b.append(NOW, None, Some(b"v")).unwrap();
    let err = log.append(b.build().unwrap(), NOW, 0, false).unwrap_err();
    assert_eq!(err.error_code(), ErrorCode::InvalidRecord);
}

// ---------------------------------------------------------------------------------------
// Segments and indexes

#[test]
fn segments_roll_by_size() {
    let dir = TempDir::new("rollsize");
    let mgr = open(&dir);
    let log = mgr
        .create_log(&tp("t"), config(&[("segment.bytes", "1024")]))
        .unwrap();
    for i in 0..20 {
        log.append(batch(1, NOW, &format!("v{i}")), NOW, 0, true)
            .unwrap();
    }
    assert!(log.num_segments() > 1, "{}", log.num_segments());
    let bases = log.segment_base_offsets();
    assert_eq!(bases[0], 0);
    for f in segment_files(&log.dir()) {
        assert!(std::fs::metadata(&f).unwrap().len() <= 1024);
    }
    // A read never crosses a segment boundary; the next one continues.
    let info = log.read(0, 1 << 20, None, false).unwrap();
    assert_eq!(info.next_offset, bases[1]);
    let values = read_all_values(&log, 0);
    assert_eq!(values.len(), 20);
    assert_eq!(values[19], (19, "v19-0".to_string()));
}

#[test]
fn segments_roll_by_time() {
    let dir = TempDir::new("rolltime");
    let mgr = open(&dir);
    let log = mgr
        .create_log(&tp("t"), config(&[("segment.ms", "1000")]))
        .unwrap();
    log.append(batch(1, NOW, "a"), NOW, 0, true).unwrap();
    log.append(batch(1, NOW + 500, "b"), NOW + 500, 0, true)
        .unwrap();
    assert_eq!(log.num_segments(), 1);
    log.append(batch(1, NOW + 1500, "c"), NOW + 1500, 0, true)
        .unwrap();
    assert_eq!(log.segment_base_offsets(), [0, 2]);
}

#[test]
fn index_lookups_land_on_the_right_batch() {
    let dir = TempDir::new("index");
    let mgr = open(&dir);
    let log = mgr
        .create_log(
            &tp("t"),
            config(&[("index.interval.bytes", "200"), ("segment.bytes", "40000")]),
        )
        .unwrap();
    // 1,500 batches of 1-3 records: several segments, many index entries each.
    let mut bases = Vec::new();
    for i in 0..1500 {
        let n = 1 + i % 3;
        let info = log
            .append(batch(n, NOW + i as i64, &format!("{i}")), NOW, 0, true)
            .unwrap();
        bases.push((info.first_offset, info.last_offset));
    }
    assert!(log.num_segments() > 3);
    for &(first, last) in bases.iter().step_by(7) {
        for target in [first, last] {
            let info = log.read(target, 1, None, true).unwrap();
            let got = batches_of(&info);
            assert_eq!(got.len(), 1, "target {target}");
            assert_eq!(got[0].base_offset(), first, "target {target}");
            assert_eq!(got[0].last_offset(), last);
        }
    }
    // The same after a restart, with indexes loaded from disk.
    mgr.shutdown().unwrap();
    drop(log);
    drop(mgr);
    let mgr = open(&dir);
    let log = mgr.get_log(&tp("t")).unwrap();
    for &(first, last) in bases.iter().step_by(11) {
        let info = log.read(last, 1, None, true).unwrap();
        assert_eq!(batches_of(&info)[0].base_offset(), first);
    }
}

#[test]
fn max_bytes_and_min_one_message() {
    let dir = TempDir::new("maxbytes");
    let mgr = open(&dir);
    let log = mgr.create_log(&tp("t"), BTreeMap::new()).unwrap();
    for _ in 0..5 {
        log.append(sized_batch(200, NOW), NOW, 0, true).unwrap();
    }
    let size = batches_of(&log.read(0, 1 << 20, None, false).unwrap())[0].size_in_bytes();
    // Two and a half batches' worth: two whole batches.
    let info = log.read(0, size * 5 / 2, None, false).unwrap();
    assert_eq!(batches_of(&info).len(), 2);
    assert_eq!(info.bytes, 2 * size);
    assert_eq!(info.next_offset, 2);
    // Less than one batch: the first whole batch only with min_one_message.
    let info = log.read(1, 10, None, true).unwrap();
    assert_eq!(batches_of(&info).len(), 1);
    assert_eq!(info.bytes, size);
    let info = log.read(1, 10, None, false).unwrap();
    assert!(info.records.is_none());
    assert!(info.first_batch_too_large);
    // Zero bytes, min one message: still one batch.
    assert_eq!(batches_of(&log.read(0, 0, None, true).unwrap()).len(), 1);
    // A max offset (high watermark or LSO) bounds the read.
    let info = log.read(0, 1 << 20, Some(3), false).unwrap();
    assert_eq!(batches_of(&info).len(), 3);
    assert_eq!(info.next_offset, 3);
    let info = log.read(3, 1 << 20, Some(3), true).unwrap();
    assert!(info.records.is_none());
}

#[test]
fn offset_out_of_range() {
    let dir = TempDir::new("oor");
    let mgr = open(&dir);
    let log = mgr.create_log(&tp("t"), BTreeMap::new()).unwrap();
    log.append(batch(3, NOW, "a"), NOW, 0, true).unwrap();
    for bad in [-1, 4, 100] {
        let err = log.read(bad, 1000, None, true).unwrap_err();
        match err {
            Error::OffsetOutOfRange {
                requested,
                start,
                end,
            } => assert_eq!((requested, start, end), (bad, 0, 3)),
            e => panic!("{e}"),
        }
        assert_eq!(
            log.read(bad, 1000, None, true).unwrap_err().error_code(),
            ErrorCode::OffsetOutOfRange
        );
    }
    assert!(log.read(3, 1000, None, true).unwrap().records.is_none());
}

// ---------------------------------------------------------------------------------------
// Restart and recovery

#[test]
fn restart_preserves_data_offsets_and_configs() {
    let dir = TempDir::new("restart");
    let (topic_id, leo) = {
        let mgr = open(&dir);
        let log = mgr
            .create_log(&tp("t"), config(&[("segment.bytes", "2000")]))
            .unwrap();
        mgr.create_log(&TopicPartition::new("t", 1), BTreeMap::new())
            .unwrap();
        for i in 0..30 {
            log.append(batch(2, NOW, &format!("v{i}")), NOW, 0, true)
                .unwrap();
        }
        assert_eq!(log.delete_records_before(7).unwrap(), 7);
        mgr.update_config(
            "t",
            config(&[("retention.ms", "12345"), ("segment.bytes", "2000")]),
        )
        .unwrap();
        assert_eq!(log.config().retention_ms, Some(12345));
        assert_eq!(
            mgr.get_log(&TopicPartition::new("t", 1))
                .unwrap()
                .config()
                .retention_ms,
            Some(12345)
        );
        mgr.shutdown().unwrap();
        // After shutdown, appends fail but reads work.
        assert!(log.append(batch(1, NOW, "x"), NOW, 0, true).is_err());
        assert!(log.read(7, 100, None, true).unwrap().records.is_some());
        (mgr.topic_id("t").unwrap(), log.log_end_offset())
    };
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    let mgr = open(&dir);
    assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    assert_eq!(mgr.topics().get("t").unwrap(), &[0, 1]);
    assert_eq!(mgr.topic_id("t"), Some(topic_id));
    let log = mgr.get_log(&tp("t")).unwrap();
    assert_eq!(log.topic_id(), Some(topic_id));
    assert_eq!(log.log_end_offset(), leo);
    assert_eq!(log.log_start_offset(), 7);
    assert_eq!(log.config().retention_ms, Some(12345));
    assert_eq!(
        mgr.topic_config("t").unwrap().get("retention.ms").unwrap(),
        "12345"
    );
    let values = read_all_values(&log, 7);
    assert_eq!(values.first().unwrap().0, 7);
    assert_eq!(values.len() as i64, leo - 7);
    let info = log.append(batch(1, NOW, "after"), NOW, 0, true).unwrap();
    assert_eq!(info.first_offset, leo);
}

/// Writes `n` single-record batches, drops the manager without a clean shutdown, damages the
/// active segment with `damage`, reopens, and returns the log.
fn crash_and_damage(
    dir: &TempDir,
    n: usize,
    damage: impl FnOnce(&Path, u64),
) -> (LogManager, Arc<Log>, Vec<u64>) {
    let mut ends = Vec::new();
    {
        let mgr = open(dir);
        let log = mgr.create_log(&tp("t"), BTreeMap::new()).unwrap();
        for i in 0..n {
            log.append(batch(1, NOW, &format!("v{i}")), NOW, 0, true)
                .unwrap();
            ends.push(log.size_in_bytes());
        }
        // No shutdown: as after kill -9.
    }
    let files = segment_files(&dir.path().join("t-0"));
    let active = files.last().unwrap();
    let len = std::fs::metadata(active).unwrap().len();
    damage(active, len);
    assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    let mgr = open(dir);
    let log = mgr.get_log(&tp("t")).unwrap();
    (mgr, log, ends)
}

fn assert_recovered_to(log: &Log, good: i64) {
    assert_eq!(log.log_end_offset(), good);
    let values = read_all_values(log, 0);
    assert_eq!(values.len() as i64, good);
    for (i, (o, v)) in values.iter().enumerate() {
        assert_eq!(*o, i as i64);
        assert_eq!(v, &format!("v{i}-0"));
    }
    // Appends continue from the last good batch.
    let info = log.append(batch(1, NOW, "new"), NOW, 0, true).unwrap();
    assert_eq!(info.first_offset, good);
    let info = log.read(good, 1000, None, true).unwrap();
    assert_eq!(batches_of(&info).len(), 1);
}

#[test]
fn recovery_truncates_a_torn_last_batch() {
    let dir = TempDir::new("torn");
    let (_mgr, log, ends) = crash_and_damage(&dir, 10, |path, len| {
        let f = OpenOptions::new().write(true).open(path).unwrap();
        f.set_len(len - 5).unwrap();
    });
    assert_eq!(log.size_in_bytes(), ends[8]);
    assert_recovered_to(&log, 9);
}

#[test]
fn recovery_truncates_a_corrupt_last_batch() {
    let dir = TempDir::new("flip");
    let (_mgr, log, _) = crash_and_damage(&dir, 10, |path, len| {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, len - 3).unwrap();
        b[0] ^= 0x55;
        f.write_all_at(&b, len - 3).unwrap();
    });
    assert_recovered_to(&log, 9);
}

#[test]
fn recovery_truncates_appended_garbage() {
    let dir = TempDir::new("garbage");
    let (_mgr, log, ends) = crash_and_damage(&dir, 10, |path, len| {
        let f = OpenOptions::new().write(true).open(path).unwrap();
        f.write_all_at(&[0xab; 100], len).unwrap();
    });
    assert_eq!(log.size_in_bytes(), ends[9]);
    assert_recovered_to(&log, 10);
}

#[test]
fn recovery_truncates_a_corrupt_batch_in_the_middle() {
    let dir = TempDir::new("middle");
    let mut pos = 0;
    let (_mgr, log, _) = crash_and_damage(&dir, 10, |path, _| {
        // Flip a byte in the 5th batch's records.
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = f.read_at(&mut buf, 0).unwrap();
        let all = Bytes::copy_from_slice(&buf[..n]);
        for (i, b) in RecordBatches::new(all).enumerate() {
            let b = b.unwrap();
            if i == 4 {
                let at = pos + b.size_in_bytes() as u64 - 2;
                f.write_all_at(&[0xee], at).unwrap();
                break;
            }
            pos += b.size_in_bytes() as u64;
        }
    });
    assert_recovered_to(&log, 4);
}

#[test]
fn bad_index_files_are_rebuilt() {
    let dir = TempDir::new("badindex");
    {
        let mgr = open(&dir);
        let log = mgr
            .create_log(
                &tp("t"),
                config(&[("segment.bytes", "3000"), ("index.interval.bytes", "100")]),
            )
            .unwrap();
        for i in 0..100 {
            log.append(batch(1, NOW + i, &format!("v{i}")), NOW, 0, true)
                .unwrap();
        }
        mgr.shutdown().unwrap();
    }
    let pdir = dir.path().join("t-0");
    // Scramble one index (out of order entries) and cut another to a partial entry.
    std::fs::write(
        pdir.join("00000000000000000000.index"),
        [0, 0, 0, 9, 0, 0, 0, 200, 0, 0, 0, 1, 0, 0, 0, 100],
    )
    .unwrap();
    let idx = segment_files(&pdir)[1].with_extension("index");
    let len = std::fs::metadata(&idx).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&idx)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let mgr = open(&dir);
    let log = mgr.get_log(&tp("t")).unwrap();
    for i in (0..100).step_by(3) {
        let info = log.read(i, 1, None, true).unwrap();
        assert_eq!(batches_of(&info)[0].base_offset(), i);
    }
    assert_eq!(read_all_values(&log, 0).len(), 100);
}

// ---------------------------------------------------------------------------------------
// Retention, DeleteRecords, ListOffsets, epochs

#[test]
fn retention_by_time_deletes_old_segments_and_keeps_an_active_one() {
    let dir = TempDir::new("rettime");
    let mgr = open(&dir);
    let log = mgr
        .create_log(
            &tp("t"),
            config(&[("segment.bytes", "1000"), ("retention.ms", "60000")]),
        )
        .unwrap();
    // Old records, then recent ones.
    for i in 0..20 {
        log.append(sized_batch(100, NOW - 3_600_000 + i), NOW, 0, true)
            .unwrap();
    }
    for i in 0..5 {
        log.append(sized_batch(100, NOW + i), NOW, 0, true).unwrap();
    }
    let before = log.num_segments();
    assert!(before > 3);
    let deleted = mgr.run_retention(NOW + 1000);
    assert!(deleted > 0);
    assert!(log.num_segments() < before);
    assert!(log.log_start_offset() > 0 && log.log_start_offset() <= 20);
    assert_eq!(log.log_end_offset(), 25);
    let first_kept = read_all_values(&log, log.log_start_offset());
    assert!(first_kept.iter().any(|(o, _)| *o == 24));
    assert_eq!(segment_files(&log.dir()).len(), log.num_segments());

    // When everything expires, the active segment is rolled and deleted, and an empty
    // active segment remains at the log end.
    mgr.run_retention(NOW + 10_000_000);
    assert_eq!(log.num_segments(), 1);
    assert_eq!(log.log_start_offset(), 25);
    assert_eq!(log.log_end_offset(), 25);
    assert_eq!(log.segment_base_offsets(), [25]);
    assert!(log.read(25, 100, None, true).unwrap().records.is_none());
    let info = log.append(sized_batch(10, NOW), NOW, 0, true).unwrap();
    assert_eq!(info.first_offset, 25);
}

#[test]
fn retention_by_size() {
    let dir = TempDir::new("retsize");
    let mgr = open(&dir);
    let log = mgr
        .create_log(
            &tp("t"),
            config(&[
                ("segment.bytes", "1000"),
                ("retention.bytes", "2500"),
                ("retention.ms", "-1"),
            ]),
        )
        .unwrap();
    for i in 0..40 {
        log.append(sized_batch(100, NOW + i), NOW, 0, true).unwrap();
    }
    assert!(log.size_in_bytes() > 2500);
    mgr.run_retention(NOW);
    // As Kafka: a segment goes only if the log stays at or above the limit, so the log is
    // now less than its oldest segment over it.
    let size = log.size_in_bytes();
    let oldest = std::fs::metadata(&segment_files(&log.dir())[0])
        .unwrap()
        .len();
    assert!(size >= 2500 && size - oldest < 2500, "{size} {oldest}");
    assert!(log.num_segments() < 6);
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(log.log_start_offset(), log.segment_base_offsets()[0]);
    // Compacted topics are not deleted by retention.
    let log2 = mgr
        .create_log(
            &tp("c"),
            config(&[
                ("segment.bytes", "1000"),
                ("retention.bytes", "10"),
                ("cleanup.policy", "compact"),
            ]),
        )
        .unwrap();
    for i in 0..20 {
        log2.append(sized_batch(100, NOW + i), NOW, 0, true)
            .unwrap();
    }
    let n = log2.num_segments();
    mgr.run_retention(NOW);
    assert_eq!(log2.num_segments(), n);
}

#[test]
fn delete_records_before_moves_the_log_start() {
    let dir = TempDir::new("delrec");
    let mgr = open(&dir);
    let log = mgr
        .create_log(&tp("t"), config(&[("segment.bytes", "1000")]))
        .unwrap();
    for i in 0..30 {
        log.append(sized_batch(100, NOW + i), NOW, 0, true).unwrap();
    }
    let segments = log.num_segments();
    assert_eq!(log.delete_records_before(17).unwrap(), 17);
    assert!(log.num_segments() < segments);
    assert!(log.segment_base_offsets()[0] <= 17);
    assert!(matches!(
        log.read(16, 100, None, true),
        Err(Error::OffsetOutOfRange { start: 17, .. })
    ));
    let info = log.read(17, 100, None, true).unwrap();
    assert_eq!(batches_of(&info)[0].base_offset(), 17);
    // Never backwards, never past the high watermark.
    assert_eq!(log.delete_records_before(5).unwrap(), 17);
    assert!(matches!(
        log.delete_records_before(31),
        Err(Error::OffsetOutOfRange { .. })
    ));
    // Up to the high watermark: the active segment stays, empty of readable data.
    assert_eq!(log.delete_records_before(30).unwrap(), 30);
    assert!(log.read(30, 100, None, true).unwrap().records.is_none());
    // Persisted at once: survives a crash (no clean shutdown).
    drop(log);
    drop(mgr);
    let mgr = open(&dir);
    let log = mgr.get_log(&tp("t")).unwrap();
    assert_eq!(log.log_start_offset(), 30);
    assert_eq!(log.log_end_offset(), 30);
}

#[test]
fn list_offsets_by_timestamp() {
    let dir = TempDir::new("bytime");
    let mgr = open(&dir);
    let log = mgr
        .create_log(
            &tp("t"),
            config(&[("segment.bytes", "1500"), ("index.interval.bytes", "100")]),
        )
        .unwrap();
    assert_eq!(log.fetch_offset_by_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp_offset().unwrap(), None);
    // 50 batches of 4 records, timestamps 1000*i + (0..4), epochs 0 then 2.
    for i in 0..50i64 {
        let epoch = if i < 25 { 0 } else { 2 };
        log.append(batch(4, 1000 * i, "v"), 1000 * i, epoch, true)
            .unwrap();
    }
    assert!(log.num_segments() > 2);
    assert_eq!(log.fetch_offset_by_timestamp(0).unwrap(), Some((0, 0, 0)));
    assert_eq!(
        log.fetch_offset_by_timestamp(7002).unwrap(),
        Some((30, 7002, 0))
    );
    assert_eq!(
        log.fetch_offset_by_timestamp(7004).unwrap(),
        Some((32, 8000, 0))
    );
    assert_eq!(
        log.fetch_offset_by_timestamp(40_001).unwrap(),
        Some((161, 40_001, 2))
    );
    assert_eq!(log.fetch_offset_by_timestamp(49_004).unwrap(), None);
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((199, 49_003, 2)));
    assert_eq!(log.earliest_offset(), (0, 0));
    assert_eq!(log.latest_offset(), (200, 2));
    // Out-of-order create times: the max is found in its batch.
    let log = mgr.create_log(&tp("u"), BTreeMap::new()).unwrap();
    let mut b = RecordBatchBuilder::new();
    b.append(NOW, None, Some(b"a")).unwrap();
    b.append(NOW + 50, None, Some(b"b")).unwrap();
    b.append(NOW + 10, None, Some(b"c")).unwrap();
    log.append(b.build().unwrap(), NOW, 0, true).unwrap();
    log.append(batch(1, NOW + 20, "d"), NOW, 0, true).unwrap();
    assert_eq!(log.max_timestamp_offset().unwrap(), Some((1, NOW + 50, 0)));
    assert_eq!(
        log.fetch_offset_by_timestamp(NOW + 11).unwrap(),
        Some((1, NOW + 50, 0))
    );
    // After DeleteRecords, answers are at or above the log start.
    log.delete_records_before(2).unwrap();
    assert_eq!(
        log.fetch_offset_by_timestamp(NOW).unwrap(),
        Some((2, NOW + 10, 0))
    );
}

#[test]
fn leader_epochs() {
    let dir = TempDir::new("epochs");
    let mgr = open(&dir);
    let log = mgr.create_log(&tp("t"), BTreeMap::new()).unwrap();
    assert_eq!(log.latest_epoch(), None);
    assert_eq!(log.end_offset_for_epoch(0), (-1, -1));
    log.append(batch(5, NOW, "a"), NOW, 0, true).unwrap();
    log.append(batch(5, NOW, "b"), NOW, 3, true).unwrap();
    log.append(batch(5, NOW, "c"), NOW, 3, true).unwrap();
    assert_eq!(log.latest_epoch(), Some(3));
    assert_eq!(log.end_offset_for_epoch(0), (0, 5));
    assert_eq!(log.end_offset_for_epoch(2), (0, 5));
    assert_eq!(log.end_offset_for_epoch(3), (3, 15));
    assert_eq!(log.end_offset_for_epoch(4), (-1, -1));
    assert_eq!(log.epoch_for_offset(7), Some(3));
    drop(log);
    drop(mgr);
    let mgr = open(&dir);
    let log = mgr.get_log(&tp("t")).unwrap();
    assert_eq!(log.end_offset_for_epoch(0), (0, 5));
    assert_eq!(log.end_offset_for_epoch(3), (3, 15));
}

#[test]
fn producer_state_is_reported_and_recovered() {
    let dir = TempDir::new("producers");
    let idempotent = |pid: i64, epoch: i16, seq: i32, n: usize| {
        let mut b = RecordBatchBuilder::new().with_producer(pid, epoch, seq);
        for i in 0..n {
            b.append(NOW, None, Some(format!("{i}").as_bytes()))
                .unwrap();
        }
        b.build().unwrap()
    };
    {
        let mgr = open(&dir);
        let log = mgr
            .create_log(&tp("t"), config(&[("segment.bytes", "300")]))
            .unwrap();
        for i in 0..8 {
            let info = log
                .append(idempotent(7, 1, i * 3, 3), NOW, 0, true)
                .unwrap();
            assert_eq!(info.producer_batches.len(), 1);
            let p = info.producer_batches[0];
            assert_eq!((p.producer_id, p.producer_epoch), (7, 1));
            assert_eq!((p.base_sequence, p.last_sequence), (i * 3, i * 3 + 2));
            assert_eq!(p.first_offset, i64::from(i) * 3);
        }
        log.append(idempotent(9, 0, 0, 1), NOW, 0, true).unwrap();
        let info = log.append(batch(1, NOW, "plain"), NOW, 0, true).unwrap();
        assert!(info.producer_batches.is_empty());
        let state = log.producer_state(7).unwrap();
        assert_eq!(state.batches.len(), 5);
        assert_eq!(state.last_seq(), Some(23));
        assert_eq!(state.find_duplicate(21, 23).unwrap().first_offset, 21);
        assert!(log.num_segments() > 1);
        // Crash: state comes back from the roll snapshots plus the log tail.
    }
    let mgr = open(&dir);
    let log = mgr.get_log(&tp("t")).unwrap();
    let snap = log.producer_snapshot();
    assert_eq!(snap.len(), 2);
    let p7 = &snap[&7];
    assert_eq!(p7.producer_epoch, 1);
    assert_eq!(p7.batches.len(), 5);
    assert_eq!(p7.batches.back().unwrap().last_seq, 23);
    assert_eq!(p7.batches.front().unwrap().first_seq, 9);
    assert_eq!(snap[&9].last_seq(), Some(0));
    // And after a clean shutdown, from the shutdown snapshot.
    mgr.shutdown().unwrap();
    drop(log);
    drop(mgr);
    let mgr = open(&dir);
    assert_eq!(mgr.get_log(&tp("t")).unwrap().producer_snapshot(), snap);
}

// ---------------------------------------------------------------------------------------
// The manager

#[test]
fn log_dirs_are_locked() {
    let dir = TempDir::new("lock");
    let mgr = open(&dir);
    let err = LogManager::open(&[dir.path().to_path_buf()], LogConfig::default()).unwrap_err();
    assert!(matches!(err, Error::LogDirLocked(_)), "{err}");
    drop(mgr);
    open(&dir);
}

#[test]
fn create_delete_and_configs() {
    let a = TempDir::new("dirs-a");
    let b = TempDir::new("dirs-b");
    let mgr = LogManager::open(
        &[a.path().to_path_buf(), b.path().to_path_buf()],
        LogConfig::default(),
    )
    .unwrap();
    let t0 = mgr
        .create_log(&tp("t"), config(&[("retention.ms", "1000")]))
        .unwrap();
    let t1 = mgr
        .create_log(&TopicPartition::new("t", 1), BTreeMap::new())
        .unwrap();
    // Spread over the directories; the new partition inherits the topic's config and id.
    assert_ne!(t0.dir().parent(), t1.dir().parent());
    assert_eq!(t1.config().retention_ms, Some(1000));
    assert_eq!(t0.topic_id(), t1.topic_id());
    assert!(matches!(
        mgr.create_log(&tp("t"), BTreeMap::new()),
        Err(Error::LogExists(_))
    ));
    assert!(matches!(
        mgr.create_log(&tp("bad/name"), BTreeMap::new()),
        Err(Error::InvalidTopic(_))
    ));
    assert!(matches!(
        mgr.create_log(&tp("x"), config(&[("retention.ms", "soon")])),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        mgr.update_config("t", config(&[("no.such", "1")])),
        Err(Error::Config(_))
    ));
    assert_eq!(mgr.all_logs().len(), 2);

    t0.append(batch(3, NOW, "v"), NOW, 0, true).unwrap();
    let region = t0.read(0, 1000, None, true).unwrap().records.unwrap();
    mgr.delete_log(&tp("t")).unwrap();
    assert!(mgr.get_log(&tp("t")).is_none());
    assert!(!t0.dir().exists());
    assert!(t0.append(batch(1, NOW, "v"), NOW, 0, true).is_err());
    // A region handed out before the delete can still be sent.
    assert_eq!(RecordBatches::new(region_bytes(&region)).count(), 1);
    assert!(matches!(
        mgr.delete_log(&tp("t")),
        Err(Error::UnknownPartition(_))
    ));
    assert_eq!(mgr.topics().get("t").unwrap(), &[1]);
    // Recreated from scratch.
    let again = mgr.create_log(&tp("t"), BTreeMap::new()).unwrap();
    assert_eq!(again.log_end_offset(), 0);
    // A leftover -delete directory is removed at start-up.
    mgr.shutdown().unwrap();
    drop(mgr);
    std::fs::create_dir_all(
        a.path()
            .join("gone-0.0123456789abcdef0123456789abcdef-delete"),
    )
    .unwrap();
    let mgr = LogManager::open(
        &[a.path().to_path_buf(), b.path().to_path_buf()],
        LogConfig::default(),
    )
    .unwrap();
    assert!(!a
        .path()
        .join("gone-0.0123456789abcdef0123456789abcdef-delete")
        .exists());
    assert_eq!(mgr.all_logs().len(), 2);
}

// ---------------------------------------------------------------------------------------
// Concurrency and group commit

#[test]
fn concurrent_appends_and_reads_see_whole_batches() {
    let dir = TempDir::new("concurrent");
    let mgr = open(&dir);
    let log = mgr
        .create_log(
            &tp("t"),
            config(&[("segment.bytes", "20000"), ("index.interval.bytes", "500")]),
        )
        .unwrap();
    let writers = 4;
    let per_writer = 150;
    let done = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for w in 0..writers {
            let log = &log;
            let done = done.clone();
            s.spawn(move || {
                for i in 0..per_writer {
                    let n = 1 + (i % 4);
                    log.append(batch(n, NOW, &format!("w{w}-{i}")), NOW, 0, true)
                        .unwrap();
                }
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        for r in 0..2 {
            let log = &log;
            let done = done.clone();
            s.spawn(move || {
                let mut reads = 0u64;
                let mut offset = 0i64;
                loop {
                    let finished = done.load(Ordering::SeqCst) == writers;
                    let leo = log.log_end_offset();
                    if offset >= leo {
                        if finished {
                            break;
                        }
                        offset = if r == 0 { 0 } else { leo / 2 };
                        std::thread::yield_now();
                        continue;
                    }
                    let info = log.read(offset, 3000, None, true).unwrap();
                    let batches = batches_of(&info);
                    assert!(!batches.is_empty());
                    for b in &batches {
                        assert!(b.last_offset() < info.log_end_offset);
                        for rec in b.records().unwrap() {
                            rec.unwrap();
                        }
                    }
                    assert_eq!(batches.last().unwrap().next_offset(), info.next_offset);
                    offset = info.next_offset;
                    reads += 1;
                }
                assert!(reads > 0);
            });
        }
    });
    let values = read_all_values(&log, 0);
    let expected: usize = (0..per_writer).map(|i| 1 + i % 4).sum::<usize>() * writers;
    assert_eq!(values.len(), expected);
    for (i, (o, _)) in values.iter().enumerate() {
        assert_eq!(*o, i as i64);
    }
    for w in 0..writers {
        for i in 0..per_writer {
            let tag = format!("w{w}-{i}-0");
            assert!(values.iter().any(|(_, v)| *v == tag), "{tag}");
        }
    }
}

#[test]
fn flush_up_to_group_commits() {
    let dir = TempDir::new("groupcommit");
    let mgr = open(&dir);
    let log = mgr
        .create_log(&tp("t"), config(&[("flush.messages", "1")]))
        .unwrap();
    let notified = Arc::new(AtomicUsize::new(0));
    {
        let notified = notified.clone();
        // A slow listener keeps each flush round in flight a little, as a slow disk would.
        mgr.set_flush_listener(Arc::new(move |_, _| {
            notified.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }));
    }
    let threads = 8;
    let per_thread = 40;
    std::thread::scope(|s| {
        for t in 0..threads {
            let log = &log;
            s.spawn(move || {
                for i in 0..per_thread {
                    if i % 2 == 0 {
                        // append() itself waits for the covering fsync.
                        let info = log
                            .append(batch(1, NOW, &format!("{t}-{i}")), NOW, 0, true)
                            .unwrap();
                        assert!(info.flush_needed);
                        assert!(log.flushed_offset() > info.last_offset);
                    } else {
                        let info = log
                            .append_without_flush(batch(1, NOW, &format!("{t}-{i}")), NOW, 0, true)
                            .unwrap();
                        log.flush_up_to(info.last_offset + 1).unwrap();
                        assert!(log.flushed_offset() > info.last_offset);
                    }
                }
            });
        }
    });
    let appends = (threads * per_thread) as u64;
    assert_eq!(log.log_end_offset(), appends as i64);
    assert_eq!(log.flushed_offset(), log.log_end_offset());
    let fsyncs = log.fsync_count();
    assert!(
        fsyncs > 0 && fsyncs < appends,
        "{fsyncs} fsyncs for {appends} appends"
    );
    assert_eq!(notified.load(Ordering::SeqCst) as u64, fsyncs);
    assert_eq!(log.unflushed_messages(), 0);
}

#[test]
fn background_thread_runs_retention_and_stops() {
    let dir = TempDir::new("background");
    let mgr = Arc::new(open(&dir));
    let log = mgr
        .create_log(
            &tp("t"),
            config(&[("segment.bytes", "1000"), ("retention.ms", "1000")]),
        )
        .unwrap();
    for i in 0..20 {
        log.append(sized_batch(100, NOW - 100_000 + i), NOW, 0, true)
            .unwrap();
    }
    assert!(log.num_segments() > 1);
    let handle = mgr
        .spawn_background(kafka_storage::BackgroundConfig {
            retention_check_interval_ms: 10,
            flush_check_interval_ms: 5,
            checkpoint_interval_ms: 10,
            producer_id_expiration_ms: 86_400_000,
        })
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while log.num_segments() > 1 || log.flushed_offset() < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "retention did not run"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(log.log_start_offset(), 20);
    mgr.shutdown().unwrap();
    handle.join().unwrap();
}

#[test]
fn read_records_returns_memory_bounded_by_the_callers_limit() {
    let dir = TempDir::new("read-records");
    let mgr = open(&dir);
    let log = mgr.create_log(&tp("t"), BTreeMap::new()).unwrap();
    let small = batch(2, NOW, "s");
    let big = sized_batch(10_000, NOW);
    log.append(small.clone(), NOW, 0, true).unwrap();
    log.append(small.clone(), NOW, 0, true).unwrap();
    log.append(big.clone(), NOW, 0, true).unwrap();

    // The same whole batches as the region `read` returns, in memory.
    let (info, bytes) = log.read_records(0, 1 << 20, None).unwrap();
    assert_eq!(bytes, region_bytes(info.records.as_ref().unwrap()));
    assert_eq!(bytes.len(), 2 * small.len() + big.len());
    assert_eq!(info.next_offset, 5);

    // A limit between two batches: whole batches only, never more than the limit.
    let limit = small.len() + small.len() / 2;
    let (info, bytes) = log.read_records(0, limit, None).unwrap();
    assert_eq!(bytes.len(), small.len());
    assert_eq!(info.next_offset, 2);

    // A first batch over the limit is refused with its size, not read.
    match log.read_records(4, 1000, None) {
        Err(Error::MessageTooLarge { size, max }) => {
            assert_eq!((size, max), (big.len(), 1000));
        }
        other => panic!("{other:?}"),
    }

    // Below the bound offset nothing, at the log end nothing.
    let (info, bytes) = log.read_records(0, 1 << 20, Some(0)).unwrap();
    assert!(bytes.is_empty() && info.records.is_none());
    let (_, bytes) = log.read_records(5, 1 << 20, None).unwrap();
    assert!(bytes.is_empty());
}

#[test]
fn a_new_default_reaches_logs_without_overrides_and_spares_overrides() {
    let dir = TempDir::new("new-default");
    let mgr = open(&dir);
    let plain = mgr.create_log(&tp("plain"), BTreeMap::new()).unwrap();
    let pinned = mgr
        .create_log(&tp("pinned"), config(&[("retention.ms", "1000")]))
        .unwrap();
    let mut next = mgr.default_config();
    next.retention_ms = Some(42_000);
    next.segment_bytes = 5000;
    mgr.set_default_config(next);
    assert_eq!(plain.config().retention_ms, Some(42_000));
    assert_eq!(plain.config().segment_bytes, 5000);
    assert_eq!(pinned.config().retention_ms, Some(1000));
    assert_eq!(pinned.config().segment_bytes, 5000);
    let later = mgr.create_log(&tp("later"), BTreeMap::new()).unwrap();
    assert_eq!(later.config().retention_ms, Some(42_000));
    mgr.shutdown().unwrap();
}
