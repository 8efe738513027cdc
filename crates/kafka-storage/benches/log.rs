//! Log benchmarks: appending 1,000-record batches of 100-byte records (validation, offset
//! assignment, one write to the page cache), the same with an fsync per append, and reading
//! file regions (index lookup and batch-header scan; no record data is copied).
//!
//! Run with `cargo bench -p kafka-storage --bench log` (add `-- --quick` for a short run).

// Bench code is test code: a failed `expect` means a broken fixture.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_protocol::records::RecordBatchBuilder;
use kafka_storage::{Log, LogConfig, LogManager, TopicPartition};

const NOW: i64 = 1_700_000_000_000;
const VALUE_SIZE: usize = 100;

fn batch(records: usize) -> Bytes {
    let mut b = RecordBatchBuilder::with_capacity(records * (VALUE_SIZE + 16));
    let value = [b'v'; VALUE_SIZE];
    for i in 0..records {
        b.append(NOW + i as i64, None, Some(&value))
            .expect("append");
    }
    b.build().expect("build")
}

struct Fixture {
    dir: PathBuf,
    manager: LogManager,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir =
            std::env::temp_dir().join(format!("kafka-storage-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let manager = LogManager::open(std::slice::from_ref(&dir), LogConfig::default())
            .expect("open log manager");
        Fixture { dir, manager }
    }

    fn log(&self, topic: &str, overrides: &[(&str, &str)]) -> Arc<Log> {
        let overrides: BTreeMap<String, String> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.manager
            .create_log(&TopicPartition::new(topic, 0), overrides)
            .expect("create log")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.manager.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Keeps the bench's disk use bounded: drop everything but the active segment.
fn trim(log: &Log) {
    if log.size_in_bytes() > 256 << 20 {
        log.delete_records_before(log.log_end_offset())
            .expect("delete records");
    }
}

fn bench_append(c: &mut Criterion) {
    let fx = Fixture::new("append");
    let records = batch(1000);
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Bytes(records.len() as u64));

    let log = fx.log("append", &[("segment.bytes", "67108864")]);
    group.bench_function("1000x100B", |b| {
        b.iter(|| {
            let info = log.append(records.clone(), NOW, 0, true).expect("append");
            trim(&log);
            black_box(info)
        });
    });

    let log = fx.log(
        "append-fsync",
        &[("segment.bytes", "67108864"), ("flush.messages", "1")],
    );
    group.sample_size(20);
    group.bench_function("1000x100B fsync each", |b| {
        b.iter(|| {
            let info = log.append(records.clone(), NOW, 0, true).expect("append");
            trim(&log);
            black_box(info)
        });
    });
    group.finish();
}

fn bench_read(c: &mut Criterion) {
    let fx = Fixture::new("read");
    let mut group = c.benchmark_group("read");

    // Large batches: a 1 MiB fetch is ~10 batches.
    let log = fx.log("read-large", &[]);
    let records = batch(1000);
    for _ in 0..200 {
        log.append(records.clone(), NOW, 0, true).expect("append");
    }
    let leo = log.log_end_offset();
    group.throughput(Throughput::Bytes(1 << 20));
    let mut offset = 0;
    group.bench_function("1MiB region, 1000-record batches", |b| {
        b.iter(|| {
            let info = log.read(offset, 1 << 20, None, true).expect("read");
            offset = if info.next_offset >= leo {
                0
            } else {
                offset + 7_919
            } % leo;
            black_box(info.bytes)
        });
    });

    // Small batches: a 1 MiB fetch spans ~6,000 batches; the index skips most headers.
    let log = fx.log("read-small", &[]);
    let small = batch(1);
    for _ in 0..60_000 {
        log.append(small.clone(), NOW, 0, true).expect("append");
    }
    let leo = log.log_end_offset();
    let mut offset = 0;
    group.bench_function("1MiB region, 1-record batches", |b| {
        b.iter(|| {
            let info = log.read(offset, 1 << 20, None, true).expect("read");
            offset = (offset + 9_973) % (leo - 7_000);
            black_box(info.bytes)
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_append, bench_read
}
criterion_main!(benches);
