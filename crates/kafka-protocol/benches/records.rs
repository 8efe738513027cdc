//! Record batch benchmarks: framing (cost per batch, independent of record count), framing +
//! CRC validation, record iteration and building, for none, lz4 and zstd.
//!
//! Run with `cargo bench -p kafka-protocol --bench records` (add `-- --quick` for a short run).

// Bench code is test code (as clippy.toml allows in tests): a failed `expect` means a broken
// fixture, and aborting the run is the right outcome.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_protocol::records::{Compression, RecordBatch, RecordBatchBuilder, RecordBatches};

const VALUE_SIZE: usize = 100;
const CODECS: [Compression; 3] = [Compression::None, Compression::Lz4, Compression::Zstd];

/// Semi-compressible 100-byte values, like small JSON events.
fn values(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let s = format!(
                "{{\"id\":{i},\"user\":\"user-{}\",\"event\":\"click\",\"page\":\"/p/{}\"}}",
                i % 97,
                i % 13
            );
            let mut v = s.into_bytes();
            v.resize(VALUE_SIZE, b' ');
            v
        })
        .collect()
}

fn build(codec: Compression, values: &[Vec<u8>]) -> Bytes {
    let mut b = RecordBatchBuilder::with_capacity(values.len() * (VALUE_SIZE + 32))
        .with_compression(codec)
        .with_producer(1, 0, 0);
    for (i, v) in values.iter().enumerate() {
        let key = (i as u32).to_be_bytes();
        b.append(1_700_000_000_000 + i as i64, Some(&key), Some(v))
            .expect("append");
    }
    b.build().expect("build")
}

fn framing(c: &mut Criterion) {
    let mut group = c.benchmark_group("records/frame_only");
    for n in [10, 1000] {
        let batch = build(Compression::None, &values(n));
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{n}_records")),
            &batch,
            |b, batch| {
                b.iter(|| {
                    let mut frames = RecordBatches::new(black_box(batch.clone()));
                    let batch = frames.next().expect("one").expect("valid");
                    black_box(batch.base_offset())
                })
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("records/frame_and_validate");
    let values = values(1000);
    for codec in CODECS {
        let batch = build(codec, &values);
        group.throughput(Throughput::Bytes(batch.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(codec), &batch, |b, batch| {
            b.iter(|| {
                for batch in RecordBatches::new(black_box(batch.clone())) {
                    batch.expect("framed").validate().expect("valid");
                }
            })
        });
    }
    group.finish();
}

fn iterate(c: &mut Criterion) {
    let mut group = c.benchmark_group("records/iterate_1000x100B");
    let values = values(1000);
    group.throughput(Throughput::Elements(1000));
    for codec in CODECS {
        let batch = RecordBatch::new(build(codec, &values)).expect("batch");
        group.bench_with_input(BenchmarkId::from_parameter(codec), &batch, |b, batch| {
            b.iter(|| {
                let mut total = 0usize;
                for r in batch.records().expect("records") {
                    let r = r.expect("record");
                    total += r.value.map_or(0, |v| v.len());
                }
                black_box(total)
            })
        });
        group.bench_with_input(BenchmarkId::new("borrowed", codec), &batch, |b, batch| {
            b.iter(|| {
                let records = batch.records().expect("records");
                let mut total = 0usize;
                for r in records.refs() {
                    let r = r.expect("record");
                    total += r.value.map_or(0, <[u8]>::len);
                }
                black_box(total)
            })
        });
    }
    group.finish();
}

fn building(c: &mut Criterion) {
    let mut group = c.benchmark_group("records/build_1000x100B");
    let values = values(1000);
    group.throughput(Throughput::Elements(1000));
    for codec in CODECS {
        group.bench_with_input(BenchmarkId::from_parameter(codec), &values, |b, values| {
            b.iter(|| black_box(build(codec, values)))
        });
    }
    group.finish();
}

criterion_group!(benches, framing, iterate, building);
criterion_main!(benches);
