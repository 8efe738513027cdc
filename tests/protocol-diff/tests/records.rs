//! Differential test of magic v2 record batches against tychedelia's `kafka-protocol` crate
//! (`theirs`), for every compression codec (none, gzip, snappy, lz4, zstd).
//!
//! - Ours → theirs: a batch built by our `RecordBatchBuilder` decodes in theirs to the same
//!   header fields and records (offsets, timestamps, sequences, keys, values, headers in
//!   order), consuming every byte; their re-encoding of those records is byte-identical to
//!   ours where the codec output is deterministic and equal (see [`same_bytes`]).
//! - Theirs → ours: a batch built by their `RecordBatchEncoder` validates (CRC) and decodes in
//!   ours to the same header fields and records; rebuilding it with our builder gives their
//!   bytes back, under the same condition.
//!
//! Where the two encoders legitimately write different bytes, the decoded contents are still
//! compared in full:
//!
//! - Compression: the compressed stream depends on the compressor and its settings. gzip and
//!   snappy use the same libraries with the same settings on both sides (flate2 at level 6;
//!   snap's raw encoder in xerial-framed 32 KiB chunks) and come out byte-identical; that is
//!   asserted, since it also pins the framing (gzip header, xerial header, chunking). lz4
//!   differs (theirs: the C `lz4` library at level 4, frames with a content checksum; ours:
//!   `lz4_flex`, no checksum, as Kafka's Java `KafkaLZ4BlockOutputStream` writes them), and
//!   so does zstd (both level 3 over the same libzstd, but theirs uses the `zstd` 0.13 crate,
//!   whose streaming encoder leaves the frame content size out, and ours 0.14, which records
//!   it for inputs under 128 KiB: one more header byte). For those two only the decoded
//!   contents are compared.
//! - `baseTimestamp`: ours is the first record's timestamp (Kafka's `MemoryRecordsBuilder`),
//!   theirs the smallest. Records out of timestamp order therefore give different (both
//!   valid) headers; byte equality is only asserted for records in timestamp order.
//!
//! Known limits of theirs, where only what theirs can express is compared:
//!
//! - Their encoder always writes create-time batches (it ignores `timestamp_type`), and their
//!   decoder gives each record of a log-append-time batch `baseTimestamp + delta` instead of
//!   the batch's `maxTimestamp` as Kafka's `DefaultRecordBatch` does. For our log-append-time
//!   batches we check their timestamp type and that their timestamps are base + stored delta.
//! - Their per-record `sequence` is `baseSequence + offsetDelta` with i32 wrapping, also when
//!   the batch has no sequence (-1); Kafka (and ours) give -1 there and wrap to 0 after
//!   `i32::MAX`. Sequences are compared with Kafka's rule applied to their batch info.
//! - Their record headers are an `IndexMap`, so a record cannot carry the same header key
//!   twice (Kafka allows it); the generated records use distinct keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, EndTransactionMarker, RecordBatch, RecordBatchBuilder, RecordBatches,
    TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};
use kafka_protocol::testing::TestRng;
use theirs::indexmap::IndexMap;
use theirs::protocol::StrBytes;
use theirs::records as t;

/// Batches per codec and direction.
const CASES: u64 = 40;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn their_codec(c: Compression) -> t::Compression {
    match c {
        Compression::None => t::Compression::None,
        Compression::Gzip => t::Compression::Gzip,
        Compression::Snappy => t::Compression::Snappy,
        Compression::Lz4 => t::Compression::Lz4,
        Compression::Zstd => t::Compression::Zstd,
    }
}

/// Whether both encoders write the same bytes for this codec (see the module comment).
fn same_bytes(c: Compression) -> bool {
    matches!(
        c,
        Compression::None | Compression::Gzip | Compression::Snappy
    )
}

/// Kafka's `DefaultRecordBatch.incrementSequence`.
fn kafka_sequence(base_sequence: i32, offset_delta: i32) -> i32 {
    if base_sequence == NO_SEQUENCE {
        NO_SEQUENCE
    } else if base_sequence > i32::MAX - offset_delta {
        offset_delta - (i32::MAX - base_sequence) - 1
    } else {
        base_sequence + offset_delta
    }
}

/// One record as both sides can express it.
#[derive(Debug, Clone, PartialEq)]
struct Rec {
    offset: i64,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<Bytes>)>,
}

/// The batch header fields both sides can express.
#[derive(Debug, Clone, PartialEq)]
struct Batch {
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    records: Vec<Rec>,
}

fn gen_bytes(rng: &mut TestRng) -> Option<Bytes> {
    match rng.gen_below(10) {
        0 => None,
        1 => Some(Bytes::new()),
        // Large and compressible: several lz4 (64 KiB) and snappy (32 KiB) blocks.
        2 if rng.gen_ratio(1, 8) => {
            let n = 40_000 + rng.gen_below(100_000) as usize;
            Some(Bytes::from(
                (0..n).map(|i| (i / 7 % 13) as u8).collect::<Vec<u8>>(),
            ))
        }
        // Over 63 bytes: two-byte varint lengths.
        3 => Some(Bytes::from(
            (0..64 + rng.gen_below(300))
                .map(|_| rng.gen_u64() as u8)
                .collect::<Vec<u8>>(),
        )),
        _ => Some(rng.gen_bytes()),
    }
}

/// A random batch. `ordered`: timestamps never decrease (so both encoders pick the same
/// `baseTimestamp`).
fn gen_batch(rng: &mut TestRng, ordered: bool) -> Batch {
    let idempotent = rng.gen_bool();
    let base_offset = rng.gen_below(1 << 40) as i64;
    let n = 1 + rng.gen_below(20) as usize;
    let mut offset = base_offset;
    let mut timestamp = 1_600_000_000_000 + rng.gen_below(1 << 30) as i64;
    let mut records = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 {
            // Gaps, as compaction leaves them; now and then a big one (multi-byte deltas).
            offset += 1 + if rng.gen_ratio(1, 5) {
                rng.gen_below(100_000) as i64
            } else {
                0
            };
            timestamp = if ordered {
                timestamp + rng.gen_below(3_000_000) as i64
            } else {
                (timestamp + rng.gen_below(3_000_000) as i64 - 1_500_000).max(0)
            };
        }
        let headers = (0..rng.gen_below(4))
            .map(|h| (format!("h{h}-{}", rng.gen_string()), gen_bytes(rng)))
            .collect();
        records.push(Rec {
            offset,
            timestamp,
            key: gen_bytes(rng),
            value: gen_bytes(rng),
            headers,
        });
    }
    Batch {
        base_offset,
        partition_leader_epoch: if rng.gen_bool() {
            rng.gen_below(1 << 20) as i32
        } else {
            NO_PARTITION_LEADER_EPOCH
        },
        producer_id: if idempotent {
            rng.gen_below(1 << 50) as i64
        } else {
            NO_PRODUCER_ID
        },
        producer_epoch: if idempotent {
            rng.gen_below(1 << 15) as i16
        } else {
            NO_PRODUCER_EPOCH
        },
        base_sequence: if idempotent {
            // Away from i32::MAX: theirs wraps sequences differently (module comment).
            rng.gen_below(1 << 30) as i32
        } else {
            NO_SEQUENCE
        },
        transactional: idempotent && rng.gen_bool(),
        records,
    }
}

fn ours_build(b: &Batch, codec: Compression) -> Bytes {
    let mut builder = RecordBatchBuilder::new()
        .with_base_offset(b.base_offset)
        .with_partition_leader_epoch(b.partition_leader_epoch)
        .with_producer(b.producer_id, b.producer_epoch, b.base_sequence)
        .with_transactional(b.transactional)
        .with_compression(codec);
    for r in &b.records {
        let headers: Vec<(&str, Option<&[u8]>)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        builder
            .append_with_offset(
                r.offset,
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
                &headers,
            )
            .unwrap();
    }
    builder.build().unwrap()
}

fn their_records(b: &Batch, control: bool, delete_horizon: bool) -> Vec<t::Record> {
    b.records
        .iter()
        .map(|r| t::Record {
            transactional: b.transactional,
            control,
            delete_horizon,
            partition_leader_epoch: b.partition_leader_epoch,
            producer_id: b.producer_id,
            producer_epoch: b.producer_epoch,
            timestamp_type: t::TimestampType::Creation,
            offset: r.offset,
            // Theirs derives baseSequence from the first record and splits the batch where
            // `offset - sequence` changes, so every record carries base + offset delta.
            sequence: b
                .base_sequence
                .wrapping_add((r.offset - b.base_offset) as i32),
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                .collect::<IndexMap<_, _>>(),
        })
        .collect()
}

fn theirs_build(records: &[t::Record], codec: Compression) -> Bytes {
    let mut buf = BytesMut::new();
    t::RecordBatchEncoder::encode(
        &mut buf,
        records,
        &t::RecordEncodeOptions {
            version: 2,
            compression: their_codec(codec),
        },
    )
    .unwrap();
    buf.freeze()
}

/// Their decoding of one batch, consuming all of `bytes`.
fn theirs_decode(bytes: &Bytes) -> (t::BatchDecodeInfo, t::RecordSet) {
    let infos = t::RecordBatchDecoder::decode_batch_info(&mut bytes.clone()).unwrap();
    assert_eq!(infos.len(), 1, "theirs sees one batch");
    let mut buf = bytes.clone();
    let set = t::RecordBatchDecoder::decode(&mut buf).unwrap();
    assert!(buf.is_empty(), "theirs left {} bytes", buf.len());
    (infos.into_iter().next().unwrap(), set)
}

/// Our decoding of one batch, validated, consuming all of `bytes`.
fn ours_decode(bytes: &Bytes) -> (RecordBatch, Vec<kafka_protocol::records::Record>) {
    let batches: Vec<RecordBatch> = RecordBatches::new(bytes.clone())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.len(), 1, "ours sees one batch");
    let batch = batches.into_iter().next().unwrap();
    assert_eq!(batch.size_in_bytes(), bytes.len());
    batch.validate().unwrap();
    let records = batch
        .records()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (batch, records)
}

fn their_headers(r: &t::Record) -> Vec<(String, Option<Bytes>)> {
    r.headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn our_headers(r: &kafka_protocol::records::Record) -> Vec<(String, Option<Bytes>)> {
    r.headers
        .iter()
        .map(|h| (h.key_str().unwrap().to_string(), h.value))
        .collect()
}

/// Their decoding of a batch equals what we built it from.
fn check_theirs_read(b: &Batch, codec: Compression, info: &t::BatchDecodeInfo, set: &t::RecordSet) {
    let base_timestamp = b.records[0].timestamp;
    assert_eq!(set.version, 2);
    assert_eq!(set.compression, their_codec(codec));
    assert_eq!(info.compression, their_codec(codec));
    assert_eq!(info.record_count as usize, b.records.len());
    assert_eq!(info.min_offset, b.base_offset);
    assert_eq!(info.min_timestamp, base_timestamp);
    assert_eq!(info.partition_leader_epoch, b.partition_leader_epoch);
    assert_eq!(info.producer_id, b.producer_id);
    assert_eq!(info.producer_epoch, b.producer_epoch);
    assert_eq!(info.base_sequence, b.base_sequence);
    assert_eq!(info.transactional, b.transactional);
    assert!(!info.control && !info.delete_horizon);
    assert_eq!(info.timestamp_type, t::TimestampType::Creation);
    assert_eq!(set.records.len(), b.records.len());
    for (r, theirs) in b.records.iter().zip(&set.records) {
        let delta = (r.offset - b.base_offset) as i32;
        let got = Rec {
            offset: theirs.offset,
            timestamp: theirs.timestamp,
            key: theirs.key.clone(),
            value: theirs.value.clone(),
            headers: their_headers(theirs),
        };
        same(&got, r, || format!("their record at offset {}", r.offset));
        if b.base_sequence != NO_SEQUENCE {
            assert_eq!(theirs.sequence, kafka_sequence(b.base_sequence, delta));
        }
        assert_eq!(theirs.transactional, b.transactional);
        assert_eq!(theirs.partition_leader_epoch, b.partition_leader_epoch);
        assert_eq!(theirs.producer_id, b.producer_id);
        assert_eq!(theirs.producer_epoch, b.producer_epoch);
    }
}

/// Our decoding of a batch equals what they built it from (`base_timestamp`: theirs writes
/// the smallest timestamp).
fn check_ours_read(
    b: &Batch,
    codec: Compression,
    batch: &RecordBatch,
    records: &[kafka_protocol::records::Record],
) {
    let min_ts = b.records.iter().map(|r| r.timestamp).min().unwrap();
    let max_ts = b.records.iter().map(|r| r.timestamp).max().unwrap();
    let last = b.records.last().unwrap().offset;
    assert_eq!(batch.magic(), 2);
    assert_eq!(batch.compression().unwrap(), codec);
    assert_eq!(batch.base_offset(), b.base_offset);
    assert_eq!(batch.last_offset(), last);
    assert_eq!(batch.last_offset_delta() as i64, last - b.base_offset);
    assert_eq!(batch.partition_leader_epoch(), b.partition_leader_epoch);
    assert_eq!(batch.producer_id(), b.producer_id);
    assert_eq!(batch.producer_epoch(), b.producer_epoch);
    assert_eq!(batch.base_sequence(), b.base_sequence);
    assert_eq!(batch.is_transactional(), b.transactional);
    assert!(!batch.is_control_batch());
    assert!(!batch.has_delete_horizon());
    assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
    assert_eq!(batch.base_timestamp(), min_ts);
    assert_eq!(batch.max_timestamp(), max_ts);
    assert_eq!(batch.records_count() as usize, b.records.len());
    assert_eq!(records.len(), b.records.len());
    for (r, ours) in b.records.iter().zip(records) {
        let got = Rec {
            offset: ours.offset,
            timestamp: ours.timestamp,
            key: ours.key.clone(),
            value: ours.value.clone(),
            headers: our_headers(ours),
        };
        same(&got, r, || format!("our record at offset {}", r.offset));
        let delta = (r.offset - b.base_offset) as i32;
        assert_eq!(ours.offset_delta, delta);
        assert_eq!(ours.sequence, kafka_sequence(b.base_sequence, delta));
    }
}

/// `assert_eq!` with the values' `Debug` cut short (records can be 100 KiB).
fn same<T: PartialEq + std::fmt::Debug>(got: &T, want: &T, what: impl Fn() -> String) {
    if got != want {
        let cut = |v: &T| {
            let s = format!("{v:?}");
            s.chars().take(3_000).collect::<String>()
        };
        panic!(
            "{}: differs\n  got:  {}\n  want: {}",
            what(),
            cut(got),
            cut(want)
        );
    }
}

/// Bytes of keys, values and headers in a batch.
fn payload(b: &Batch) -> usize {
    let len = |x: &Option<Bytes>| x.as_ref().map_or(0, Bytes::len);
    b.records
        .iter()
        .map(|r| {
            len(&r.key)
                + len(&r.value)
                + r.headers
                    .iter()
                    .map(|(k, v)| k.len() + len(v))
                    .sum::<usize>()
        })
        .sum()
}

/// A count per codec, for the report.
fn summary(counts: &[usize; 5]) -> String {
    CODECS
        .iter()
        .zip(counts)
        .map(|(c, n)| format!("{c} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

#[test]
fn our_batches_read_in_theirs() {
    let mut identical = [0usize; 5];
    // Batches over 64 KiB of keys and values: several lz4 and snappy blocks.
    let mut large = [0usize; 5];
    for (ci, codec) in CODECS.into_iter().enumerate() {
        for seed in 0..CASES {
            let ordered = seed % 4 != 3;
            let b = gen_batch(&mut TestRng::new(seed * 31 + ci as u64), ordered);
            large[ci] += usize::from(payload(&b) > 64 * 1024);
            let ours = ours_build(&b, codec);
            let (info, set) = theirs_decode(&ours);
            check_theirs_read(&b, codec, &info, &set);

            // Their re-encoding of the records they read.
            let again = theirs_build(&set.records, codec);
            let (info2, set2) = theirs_decode(&again);
            // Out of timestamp order, theirs picks a different (smallest) baseTimestamp.
            if ordered {
                same(&info2, &info, || format!("{codec} seed {seed}: batch info"));
            }
            same(&set2, &set, || format!("{codec} seed {seed}: records"));
            if ordered && same_bytes(codec) {
                assert!(
                    again == ours,
                    "{codec} seed {seed}: their re-encoding differs from our batch at byte {} \
                     (lengths {} vs {})",
                    first_difference(&again, &ours),
                    again.len(),
                    ours.len()
                );
                identical[ci] += 1;
            }
        }
    }
    println!(
        "ours → theirs: {CASES} batches per codec read back field for field; byte-identical \
         re-encodings: {}",
        summary(&identical)
    );
    println!("  of which over 64 KiB: {}", summary(&large));
    assert!(
        large.iter().all(|n| *n > 0),
        "no large batch for some codec"
    );
}

#[test]
fn their_batches_read_in_ours() {
    let mut identical = [0usize; 5];
    // Batches over 64 KiB of keys and values: several lz4 and snappy blocks.
    let mut large = [0usize; 5];
    for (ci, codec) in CODECS.into_iter().enumerate() {
        for seed in 0..CASES {
            let ordered = seed % 4 != 3;
            let b = gen_batch(
                &mut TestRng::new(1_000_000 + seed * 31 + ci as u64),
                ordered,
            );
            large[ci] += usize::from(payload(&b) > 64 * 1024);
            let theirs = theirs_build(&their_records(&b, false, false), codec);
            let (batch, records) = ours_decode(&theirs);
            check_ours_read(&b, codec, &batch, &records);

            // Our rebuild of the records we read.
            let mut builder = RecordBatchBuilder::new()
                .with_base_offset(batch.base_offset())
                .with_partition_leader_epoch(batch.partition_leader_epoch())
                .with_producer(
                    batch.producer_id(),
                    batch.producer_epoch(),
                    batch.base_sequence(),
                )
                .with_transactional(batch.is_transactional())
                .with_compression(codec);
            for r in &records {
                builder.append_record(r).unwrap();
            }
            let again = builder.build().unwrap();
            let (batch2, records2) = ours_decode(&again);
            // Out of timestamp order our base timestamp (the first record's) differs from
            // theirs (the smallest), and with it the stored deltas; the records must not.
            let contents = |rs: &[kafka_protocol::records::Record]| -> Vec<(Rec, i32)> {
                rs.iter()
                    .map(|r| {
                        let rec = Rec {
                            offset: r.offset,
                            timestamp: r.timestamp,
                            key: r.key.clone(),
                            value: r.value.clone(),
                            headers: our_headers(r),
                        };
                        (rec, r.sequence)
                    })
                    .collect()
            };
            same(&contents(&records2), &contents(&records), || {
                format!("{codec} seed {seed}: our rebuild")
            });
            if ordered {
                assert_eq!(batch2.base_timestamp(), batch.base_timestamp());
                if same_bytes(codec) {
                    assert!(
                        again == theirs,
                        "{codec} seed {seed}: our rebuild differs from their batch at byte {} \
                         (lengths {} vs {})",
                        first_difference(&again, &theirs),
                        again.len(),
                        theirs.len()
                    );
                    identical[ci] += 1;
                }
            }
        }
    }
    println!(
        "theirs → ours: {CASES} batches per codec read back field for field; byte-identical \
         rebuilds: {}",
        summary(&identical)
    );
    println!("  of which over 64 KiB: {}", summary(&large));
    assert!(
        large.iter().all(|n| *n > 0),
        "no large batch for some codec"
    );
}

/// Several of our batches back to back, as in a Produce request or a Fetch response.
#[test]
fn concatenated_batches() {
    let mut wire = BytesMut::new();
    let mut expected = Vec::new();
    for (i, codec) in CODECS.into_iter().enumerate() {
        let b = gen_batch(&mut TestRng::new(77 + i as u64), true);
        wire.extend_from_slice(&ours_build(&b, codec));
        expected.push((codec, b));
    }
    let sets = t::RecordBatchDecoder::decode_all(&mut wire.freeze()).unwrap();
    assert_eq!(sets.len(), expected.len());
    for ((codec, b), set) in expected.iter().zip(&sets) {
        assert_eq!(set.compression, their_codec(*codec));
        let got: Vec<i64> = set.records.iter().map(|r| r.offset).collect();
        let want: Vec<i64> = b.records.iter().map(|r| r.offset).collect();
        assert_eq!(got, want);
    }
}

/// Our empty batch (a valid batch with no records) reads in theirs as no records.
#[test]
fn empty_batch() {
    for codec in CODECS {
        let ours = RecordBatchBuilder::new()
            .with_base_offset(42)
            .with_compression(codec)
            .build()
            .unwrap();
        let (info, set) = theirs_decode(&ours);
        assert_eq!(info.record_count, 0);
        assert_eq!(info.min_offset, 42);
        assert!(set.records.is_empty(), "{codec}");
    }
}

/// Log-append time: ours sets attribute bit 3 and `maxTimestamp`; theirs reads the type, and
/// (unlike Kafka) keeps `baseTimestamp + delta` as each record's timestamp, which we check
/// against our stored deltas. Ours gives every record the log-append time, as Kafka does.
#[test]
fn log_append_time() {
    for codec in CODECS {
        let b = gen_batch(&mut TestRng::new(5), true);
        let mut builder = RecordBatchBuilder::new()
            .with_base_offset(b.base_offset)
            .with_compression(codec)
            .with_log_append_time(1_750_000_000_000);
        for r in &b.records {
            builder
                .append_with_offset(r.offset, r.timestamp, r.key.as_deref(), None, &[])
                .unwrap();
        }
        let bytes = builder.build().unwrap();
        let (info, set) = theirs_decode(&bytes);
        assert_eq!(info.timestamp_type, t::TimestampType::LogAppend);
        let (batch, ours) = ours_decode(&bytes);
        assert_eq!(batch.max_timestamp(), 1_750_000_000_000);
        for (o, th) in ours.iter().zip(&set.records) {
            assert_eq!(o.timestamp, 1_750_000_000_000);
            assert_eq!(th.timestamp, batch.base_timestamp() + o.timestamp_delta);
            assert_eq!(th.timestamp_type, t::TimestampType::LogAppend);
            assert_eq!(th.offset, o.offset);
            assert_eq!(th.key, o.key);
        }
    }
}

/// End-transaction markers: ours built → theirs reads a transactional control batch with the
/// marker's key and value; theirs built → ours parses the marker. Uncompressed, as Kafka
/// writes markers, so the bytes must be equal too.
#[test]
fn control_batches() {
    for (committed, epoch) in [(true, 7), (false, 123_456)] {
        let marker = EndTransactionMarker {
            committed,
            coordinator_epoch: epoch,
        };
        let ours = marker
            .build_batch(1_000, 1_700_000_000_000, 5, 4_242, 3)
            .unwrap();
        let (info, set) = theirs_decode(&ours);
        assert!(info.control && info.transactional);
        assert_eq!(info.base_sequence, NO_SEQUENCE);
        assert_eq!(set.records.len(), 1);
        let r = &set.records[0];
        assert_eq!(r.key.as_deref(), Some(&marker.encode_key()[..]));
        assert_eq!(r.value.as_deref(), Some(&marker.encode_value()[..]));

        let batch = Batch {
            base_offset: 1_000,
            partition_leader_epoch: 5,
            producer_id: 4_242,
            producer_epoch: 3,
            base_sequence: NO_SEQUENCE,
            transactional: true,
            records: vec![Rec {
                offset: 1_000,
                timestamp: 1_700_000_000_000,
                key: Some(Bytes::copy_from_slice(&marker.encode_key())),
                value: Some(Bytes::copy_from_slice(&marker.encode_value())),
                headers: Vec::new(),
            }],
        };
        let theirs = theirs_build(&their_records(&batch, true, false), Compression::None);
        let (b, records) = ours_decode(&theirs);
        assert!(b.is_control_batch() && b.is_transactional());
        assert_eq!(
            EndTransactionMarker::from_record(&records[0]).unwrap(),
            marker
        );
        assert_eq!(theirs, ours, "marker batches differ");
    }
}

/// Theirs can set the delete-horizon flag (bit 6), which compaction writes and our builder
/// does not; ours reads it, with `baseTimestamp` as the horizon.
#[test]
fn delete_horizon_from_theirs() {
    let b = gen_batch(&mut TestRng::new(9), true);
    let theirs = theirs_build(&their_records(&b, false, true), Compression::None);
    let (batch, records) = ours_decode(&theirs);
    assert!(batch.has_delete_horizon());
    assert_eq!(batch.delete_horizon_ms(), Some(b.records[0].timestamp));
    assert_eq!(records.len(), b.records.len());
}
