//! Client appends ([`Log::append_as_leader`]): validation once under the append lock, the
//! producer-state checks, the Kafka codes they answer with, and group commit through the
//! manager's flusher thread.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{RecordBatchBuilder, RecordBatches};
use kafka_protocol::ErrorCode;

use crate::{BackgroundConfig, DurabilityListener, Error, LogConfig, LogManager, TopicPartition};

const NOW: i64 = 1_700_000_000_000;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "kafka-storage-unit-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn manager(dir: &TempDir) -> Arc<LogManager> {
    Arc::new(LogManager::open(std::slice::from_ref(&dir.0), LogConfig::default()).unwrap())
}

fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

fn overrides(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// An idempotent batch of `n` records from producer `pid`, `epoch`, starting at `seq`.
fn idem(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    let mut b = RecordBatchBuilder::new().with_producer(pid, epoch, seq);
    for i in 0..n {
        b.append(NOW, None, Some(format!("{pid}-{seq}-{i}").as_bytes()))
            .unwrap();
    }
    b.build().unwrap()
}

fn plain(n: usize) -> Bytes {
    let mut b = RecordBatchBuilder::new();
    for i in 0..n {
        b.append(NOW, None, Some(format!("v{i}").as_bytes()))
            .unwrap();
    }
    b.build().unwrap()
}

fn concat(parts: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    for p in parts {
        out.extend_from_slice(p);
    }
    out.freeze()
}

fn code(e: &Error) -> i16 {
    e.error_code().code()
}

#[test]
fn idempotent_duplicates_gaps_and_fenced_epochs() {
    let dir = TempDir::new("idem");
    let mgr = manager(&dir);
    let log = mgr.create_log(&tp(), BTreeMap::new()).unwrap();
    let info = log.append_as_leader(idem(7, 1, 0, 3), 0, NOW).unwrap();
    assert_eq!(
        (info.first_offset, info.last_offset, info.duplicate),
        (0, 2, false)
    );
    log.append_as_leader(plain(2), 0, NOW).unwrap();
    let info = log.append_as_leader(idem(7, 1, 3, 2), 0, NOW).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (5, 6));

    // A retry of either retained batch: its original offsets, nothing appended.
    for (seq, n, first, last) in [(0, 3, 0, 2), (3, 2, 5, 6)] {
        let dup = log.append_as_leader(idem(7, 1, seq, n), 0, NOW).unwrap();
        assert!(dup.duplicate);
        assert_eq!((dup.first_offset, dup.last_offset), (first, last));
        assert_eq!(dup.num_messages, 0);
    }
    assert_eq!(log.log_end_offset(), 7);

    // A gap: OUT_OF_ORDER_SEQUENCE_NUMBER (45), nothing appended.
    let e = log.append_as_leader(idem(7, 1, 9, 1), 0, NOW).unwrap_err();
    assert!(
        matches!(
            e,
            Error::OutOfOrderSequence {
                expected: 5,
                got: 9,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(code(&e), 45);
    // An older epoch: INVALID_PRODUCER_EPOCH (47), as Kafka answers a produce from a zombie.
    let e = log.append_as_leader(idem(7, 0, 5, 1), 0, NOW).unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidProducerEpoch {
                epoch: 0,
                current: 1,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(code(&e), 47);
    // A new epoch must start at 0.
    let e = log.append_as_leader(idem(7, 2, 5, 1), 0, NOW).unwrap_err();
    assert_eq!(code(&e), 45);
    assert_eq!(log.log_end_offset(), 7);
    let info = log.append_as_leader(idem(7, 2, 0, 1), 0, NOW).unwrap();
    assert_eq!(info.first_offset, 7);
    // The old epoch's batches are no longer duplicates: fenced.
    let e = log.append_as_leader(idem(7, 1, 3, 2), 0, NOW).unwrap_err();
    assert_eq!(code(&e), 47);
    // A producer the log does not know takes any sequence (Kafka since KIP-360).
    log.append_as_leader(idem(8, 0, 42, 1), 0, NOW).unwrap();
    assert_eq!(log.log_end_offset(), 9);
    // State is the log's: a restart keeps the duplicate answer.
    drop(log);
    mgr.shutdown().unwrap();
    drop(mgr);
    let mgr = manager(&dir);
    let log = mgr.get_log(&tp()).unwrap();
    let dup = log.append_as_leader(idem(7, 2, 0, 1), 0, NOW).unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.first_offset, 7);
}

#[test]
fn several_batches_of_a_producer_in_one_request() {
    let dir = TempDir::new("multi");
    let mgr = manager(&dir);
    let log = mgr.create_log(&tp(), BTreeMap::new()).unwrap();
    log.append_as_leader(idem(7, 0, 0, 2), 0, NOW).unwrap();
    let info = log
        .append_as_leader(
            concat(&[idem(7, 0, 2, 2), plain(1), idem(7, 0, 4, 3)]),
            0,
            NOW,
        )
        .unwrap();
    assert_eq!((info.first_offset, info.last_offset), (2, 7));
    assert_eq!(log.producer_state(7).unwrap().last_seq(), Some(6));
    // A gap in the second batch refuses the whole request.
    let e = log
        .append_as_leader(concat(&[idem(7, 0, 7, 1), idem(7, 0, 9, 1)]), 0, NOW)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::OutOfOrderSequence {
                expected: 8,
                got: 9,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(log.log_end_offset(), 8);
    // A request holding a retried batch is answered as that duplicate (Kafka).
    let dup = log
        .append_as_leader(concat(&[idem(7, 0, 4, 3), idem(7, 0, 7, 1)]), 0, NOW)
        .unwrap();
    assert!(dup.duplicate);
    assert_eq!((dup.first_offset, dup.last_offset), (5, 7));
    assert_eq!(log.log_end_offset(), 8);
}

#[test]
fn corrupt_and_oversized_batches_answer_kafka_codes() {
    let dir = TempDir::new("corrupt");
    let mgr = manager(&dir);
    let log = mgr
        .create_log(&tp(), overrides(&[("max.message.bytes", "200")]))
        .unwrap();
    let mut bad = BytesMut::from(&idem(7, 0, 0, 2)[..]);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let e = log.append_as_leader(bad.freeze(), 0, NOW).unwrap_err();
    assert_eq!(code(&e), ErrorCode::CorruptMessage.code());
    assert_eq!(code(&e), 2);
    let e = log.append_as_leader(plain(40), 0, NOW).unwrap_err();
    assert_eq!(code(&e), 10, "{e}");
    // Nothing of a refused request reaches the producer state.
    assert!(log.producer_state(7).is_none());
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn log_append_time_stamps_offsets_and_time_in_one_copy() {
    let dir = TempDir::new("lat");
    let mgr = manager(&dir);
    let log = mgr
        .create_log(
            &tp(),
            overrides(&[("message.timestamp.type", "LogAppendTime")]),
        )
        .unwrap();
    log.append_as_leader(plain(1), 0, NOW).unwrap();
    let info = log
        .append_as_leader(concat(&[plain(2), idem(3, 0, 0, 2)]), 0, NOW + 5)
        .unwrap();
    assert_eq!((info.first_offset, info.last_offset), (1, 4));
    assert_eq!(info.log_append_time, Some(NOW + 5));
    let read = log.read(1, 1 << 20, None, false).unwrap();
    let region = read.records.unwrap();
    let mut buf = vec![0u8; region.len];
    std::os::unix::fs::FileExt::read_exact_at(&*region.file, &mut buf, region.position).unwrap();
    let batches: Vec<_> = RecordBatches::new(Bytes::from(buf))
        .map(|b| b.unwrap())
        .collect();
    assert_eq!(batches.len(), 2);
    for (b, base) in batches.iter().zip([1, 3]) {
        b.validate().unwrap();
        assert_eq!(b.base_offset(), base);
        assert_eq!(b.max_timestamp(), NOW + 5);
    }
    // A duplicate on a LogAppendTime topic answers the original's append time.
    let dup = log.append_as_leader(idem(3, 0, 0, 2), 0, NOW + 9).unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.log_append_time, Some(NOW + 5));
}

/// Wakes appenders when their offsets are durable, as the broker's DelayedProduce does.
#[derive(Default)]
struct Waiters {
    flushed: Mutex<i64>,
    failed: AtomicBool,
    rounds: AtomicUsize,
    wake: Condvar,
}

impl DurabilityListener for Waiters {
    fn flushed(&self, _tp: &TopicPartition, flushed_offset: i64) {
        self.rounds.fetch_add(1, Ordering::SeqCst);
        let mut f = self.flushed.lock().unwrap();
        *f = (*f).max(flushed_offset);
        self.wake.notify_all();
    }

    fn flush_failed(&self, _tp: &TopicPartition, _error: &Error) {
        self.failed.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }
}

impl Waiters {
    /// Waits until `offset` is durable; `false` if a flush failed first.
    fn wait_for(&self, offset: i64) -> bool {
        let mut f = self.flushed.lock().unwrap();
        loop {
            if *f > offset {
                return true;
            }
            if self.failed.load(Ordering::SeqCst) {
                return false;
            }
            f = self
                .wake
                .wait_timeout(f, Duration::from_secs(10))
                .unwrap()
                .0;
        }
    }
}

#[test]
fn group_commit_on_the_flusher_thread() {
    let dir = TempDir::new("flusher");
    let mgr = manager(&dir);
    let log = mgr
        .create_log(&tp(), overrides(&[("flush.messages", "1")]))
        .unwrap();
    let waiters = Arc::new(Waiters::default());
    mgr.on_flushed(waiters.clone());
    let background = mgr.spawn_background(BackgroundConfig::default()).unwrap();
    let threads = 8;
    let per_thread = 50;
    let woken_early = AtomicUsize::new(0);
    let max_in_flight = AtomicI64::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    let info = log.append_as_leader(plain(1), 0, NOW).unwrap();
                    assert!(info.flush_needed);
                    // Returned before its fsync, unless a round happened to cover it already.
                    max_in_flight.fetch_max(
                        log.log_end_offset() - log.flushed_offset(),
                        Ordering::SeqCst,
                    );
                    assert!(waiters.wait_for(info.last_offset));
                    if log.flushed_offset() <= info.last_offset {
                        woken_early.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let appends = (threads * per_thread) as u64;
    assert_eq!(log.log_end_offset(), appends as i64);
    assert_eq!(woken_early.load(Ordering::SeqCst), 0);
    let fsyncs = log.fsync_count();
    assert!(fsyncs < appends, "{fsyncs} fsyncs for {appends} appends");
    assert_eq!(waiters.rounds.load(Ordering::SeqCst) as u64, fsyncs);
    assert!(max_in_flight.load(Ordering::SeqCst) >= 1);
    mgr.stop_background();
    background.join().unwrap();
    assert_eq!(log.flushed_offset(), log.log_end_offset());
}

#[test]
fn without_a_flush_policy_nothing_waits() {
    let dir = TempDir::new("nopolicy");
    let mgr = manager(&dir);
    let log = mgr.create_log(&tp(), BTreeMap::new()).unwrap();
    let background = mgr.spawn_background(BackgroundConfig::default()).unwrap();
    let info = log.append_as_leader(plain(3), 0, NOW).unwrap();
    assert!(!info.flush_needed);
    assert_eq!(log.fsync_count(), 0);
    mgr.stop_background();
    background.join().unwrap();
}

#[test]
fn a_failed_fsync_is_reported_and_takes_the_log_offline() {
    let dir = TempDir::new("fsyncfail");
    let mgr = manager(&dir);
    let log = mgr
        .create_log(&tp(), overrides(&[("flush.messages", "1")]))
        .unwrap();
    let waiters = Arc::new(Waiters::default());
    mgr.on_flushed(waiters.clone());
    let background = mgr.spawn_background(BackgroundConfig::default()).unwrap();
    let ok = log.append_as_leader(plain(1), 0, NOW).unwrap();
    assert!(waiters.wait_for(ok.last_offset));
    log.fail_fsync.store(true, Ordering::SeqCst);
    let info = log.append_as_leader(plain(1), 0, NOW).unwrap();
    assert!(info.flush_needed);
    assert!(
        !waiters.wait_for(info.last_offset),
        "a failed fsync must not count as durable"
    );
    assert!(log.is_offline());
    assert!(log.flushed_offset() <= info.last_offset);
    // Even if fsync would succeed again, nothing more is acknowledged as durable.
    log.fail_fsync.store(false, Ordering::SeqCst);
    let e = log.append_as_leader(plain(1), 0, NOW).unwrap_err();
    assert_eq!(code(&e), ErrorCode::KafkaStorageError.code());
    assert!(log.flush().is_err());
    assert!(log.flushed_offset() <= info.last_offset);
    mgr.stop_background();
    background.join().unwrap();
}
