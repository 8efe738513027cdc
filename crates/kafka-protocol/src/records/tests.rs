//! Tests across the records module: byte-exact vectors, round trips per codec, in-place
//! patching, corrupt input and property tests that nothing panics.

// Declared `#[cfg(test)] mod tests;` in mod.rs: everything here is test code.
#[cfg(test)]
use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

use super::batch::{write_header, HeaderFields};
use super::*;
use crate::error::Error;

const ALL_CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn fix_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn collect(batch: &RecordBatch) -> Vec<Record> {
    batch
        .records()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// A batch of `n` records with a mix of null and present keys, values and headers.
fn sample_batch(compression: Compression, n: usize) -> Bytes {
    let mut b = RecordBatchBuilder::new()
        .with_compression(compression)
        .with_base_offset(1000)
        .with_producer(77, 3, 10);
    for i in 0..n {
        let key = format!("key-{i}");
        let value = format!("value-{i}-{}", "x".repeat(i % 50));
        let key = (i % 5 != 0).then_some(key.as_bytes());
        let value = (i % 7 != 0).then_some(value.as_bytes());
        let i_str = i.to_string();
        let headers: Vec<(&str, Option<&[u8]>)> = match i % 3 {
            0 => vec![],
            1 => vec![("trace", Some(i_str.as_bytes()))],
            _ => vec![("a", None), ("ünï", Some(b""))],
        };
        b.append_with_headers(1_700_000_000_000 + i as i64, key, value, &headers)
            .unwrap();
    }
    b.build().unwrap()
}

fn check_sample(batch: &RecordBatch, n: usize) {
    let records = collect(batch);
    assert_eq!(records.len(), n);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.offset, 1000 + i as i64);
        assert_eq!(r.offset_delta, i as i32);
        assert_eq!(r.timestamp, 1_700_000_000_000 + i as i64);
        assert_eq!(r.sequence, 10 + i as i32);
        let key = format!("key-{i}");
        let value = format!("value-{i}-{}", "x".repeat(i % 50));
        assert_eq!(r.key.as_deref(), (i % 5 != 0).then_some(key.as_bytes()));
        assert_eq!(r.value.as_deref(), (i % 7 != 0).then_some(value.as_bytes()));
        let headers: Vec<Header> = r.headers.iter().collect();
        match i % 3 {
            0 => assert!(r.headers.is_empty()),
            1 => {
                assert_eq!(headers.len(), 1);
                assert_eq!(headers[0].key_str(), Ok("trace"));
                assert_eq!(headers[0].value.as_deref(), Some(i.to_string().as_bytes()));
            }
            _ => {
                assert_eq!(
                    headers,
                    vec![
                        Header::new(&b"a"[..], None),
                        Header::new("ünï".as_bytes(), Some(Bytes::new()))
                    ]
                );
            }
        }
    }
}

#[test]
fn crc32c_known_answer() {
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn batch_bytes_are_exact() {
    let mut b = RecordBatchBuilder::new()
        .with_base_offset(0x0102_0304_0506_0708)
        .with_partition_leader_epoch(5)
        .with_producer(0x1122_3344_5566_7788, 0x99, 0x0a0b_0c0d)
        .with_transactional(true);
    b.append(1000, Some(b"k"), Some(b"v")).unwrap();
    b.append_with_headers(1005, None, Some(b"ab"), &[("h", None)])
        .unwrap();
    let bytes = b.build().unwrap();

    let mut expected = BytesMut::new();
    expected.put_i64(0x0102_0304_0506_0708); // baseOffset
    expected.put_i32(70); // batchLength: 61 + 9 + 12 bytes, minus the 12 before this field's end
    expected.put_i32(5); // partitionLeaderEpoch
    expected.put_i8(2); // magic
    expected.put_u32(0); // crc, filled in below
    expected.put_i16(0x0010); // attributes: transactional, create time, no compression
    expected.put_i32(1); // lastOffsetDelta
    expected.put_i64(1000); // baseTimestamp
    expected.put_i64(1005); // maxTimestamp
    expected.put_i64(0x1122_3344_5566_7788); // producerId
    expected.put_i16(0x99); // producerEpoch
    expected.put_i32(0x0a0b_0c0d); // baseSequence
    expected.put_i32(2); // records count
    assert_eq!(expected.len(), RECORD_BATCH_OVERHEAD);
    // Record 0: length 8 (zigzag 0x10), attributes 0, timestampDelta 0, offsetDelta 0,
    // key length 1 (0x02) "k", value length 1 (0x02) "v", 0 headers.
    expected.put_slice(&[0x10, 0x00, 0x00, 0x00, 0x02, b'k', 0x02, b'v', 0x00]);
    // Record 1: length 11 (0x16), attributes 0, timestampDelta 5 (0x0a), offsetDelta 1 (0x02),
    // null key (-1 = 0x01), value length 2 (0x04) "ab", 1 header (0x02): key length 1 "h",
    // null value.
    expected.put_slice(&[
        0x16, 0x00, 0x0a, 0x02, 0x01, 0x04, b'a', b'b', 0x02, 0x02, b'h', 0x01,
    ]);
    assert_eq!(expected.len(), 82);
    let batch_length = 70;
    let crc = crc32c::crc32c(&expected[21..]);
    expected[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(&bytes[..], &expected[..]);

    let batch = RecordBatch::new(bytes).unwrap();
    batch.validate().unwrap();
    assert_eq!(batch.base_offset(), 0x0102_0304_0506_0708);
    assert_eq!(batch.batch_length(), batch_length);
    assert_eq!(batch.partition_leader_epoch(), 5);
    assert_eq!(batch.magic(), 2);
    assert_eq!(batch.crc(), crc);
    assert_eq!(batch.compression(), Ok(Compression::None));
    assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
    assert!(batch.is_transactional());
    assert!(!batch.is_control_batch());
    assert_eq!(batch.delete_horizon_ms(), None);
    assert_eq!(batch.last_offset_delta(), 1);
    assert_eq!(batch.last_offset(), 0x0102_0304_0506_0709);
    assert_eq!(batch.next_offset(), 0x0102_0304_0506_070a);
    assert_eq!(batch.base_timestamp(), 1000);
    assert_eq!(batch.max_timestamp(), 1005);
    assert_eq!(batch.producer_id(), 0x1122_3344_5566_7788);
    assert_eq!(batch.producer_epoch(), 0x99);
    assert_eq!(batch.base_sequence(), 0x0a0b_0c0d);
    assert_eq!(batch.last_sequence(), 0x0a0b_0c0e);
    assert_eq!(batch.records_count(), 2);
    assert!(format!("{batch:?}").contains("records_count: 2"));

    let records = collect(&batch);
    assert_eq!(records[0].size_in_bytes, 9);
    assert_eq!(records[1].size_in_bytes, 12);
    assert_eq!(records[1].timestamp, 1005);
    assert_eq!(records[1].timestamp_delta, 5);
    assert_eq!(records[1].key, None);
    assert_eq!(records[1].headers.len(), 1);
}

/// Batches encoded by an independent implementation (the byte vectors in IBM/sarama's
/// `record_test.go`): one record, key [1,2,3,4], value [5,6,7], one header [8,9,10] =>
/// [11,12], timestamp delta 5 ms, with each codec's stored CRC.
#[test]
fn decodes_batches_from_another_implementation() {
    fn vector(batch_length: u8, crc: [u8; 4], codec: u8, records: &[u8]) -> Bytes {
        let mut v = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, batch_length, 0, 0, 0, 0, 2];
        v.extend_from_slice(&crc);
        v.extend_from_slice(&[0, codec, 0, 0, 0, 0]);
        v.extend_from_slice(&[0, 0, 1, 88, 141, 205, 89, 56]); // base timestamp
        v.extend_from_slice(&[0; 8 + 8 + 2 + 4]); // max timestamp, producer id/epoch, sequence
        v.extend_from_slice(&[0, 0, 0, 1]); // one record
        v.extend_from_slice(records);
        v.into()
    }
    let record = [
        40, 0, 10, 0, 8, 1, 2, 3, 4, 6, 5, 6, 7, 2, 6, 8, 9, 10, 4, 11, 12,
    ];
    let gzip = [
        31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 0, 21, 0, 234, 255, 40, 0, 10, 0, 8, 1, 2, 3, 4, 6,
        5, 6, 7, 2, 6, 8, 9, 10, 4, 11, 12, 3, 0, 173, 201, 88, 103, 21, 0, 0, 0,
    ];
    // A raw snappy block, as Go and C clients write it.
    let snappy = [
        21, 80, 40, 0, 10, 0, 8, 1, 2, 3, 4, 6, 5, 6, 7, 2, 6, 8, 9, 10, 4, 11, 12,
    ];
    // An LZ4 frame with 4 MiB blocks, a content checksum and one uncompressed block.
    let lz4 = [
        4, 34, 77, 24, 100, 112, 185, 21, 0, 0, 128, 40, 0, 10, 0, 8, 1, 2, 3, 4, 6, 5, 6, 7, 2, 6,
        8, 9, 10, 4, 11, 12, 0, 0, 0, 0, 12, 59, 239, 146,
    ];
    let cases = [
        (
            vector(70, [84, 121, 97, 253], 0, &record),
            Compression::None,
        ),
        (vector(95, [231, 74, 206, 165], 1, &gzip), Compression::Gzip),
        (
            vector(72, [21, 0, 159, 97], 2, &snappy),
            Compression::Snappy,
        ),
        (vector(89, [169, 74, 119, 197], 3, &lz4), Compression::Lz4),
    ];
    for (bytes, codec) in cases {
        let batch = RecordBatch::new(bytes).unwrap();
        batch.validate().unwrap();
        assert_eq!(batch.compression(), Ok(codec));
        assert_eq!(batch.base_timestamp(), 1_479_847_795_000);
        let records = collect(&batch);
        assert_eq!(records.len(), 1, "{codec}");
        let r = &records[0];
        assert_eq!(r.timestamp, 1_479_847_795_005);
        assert_eq!(r.offset, 0);
        assert_eq!(r.key.as_deref(), Some(&[1, 2, 3, 4][..]));
        assert_eq!(r.value.as_deref(), Some(&[5, 6, 7][..]));
        let headers: Vec<Header> = r.headers.iter().collect();
        assert_eq!(
            headers,
            [Header::new(
                &[8, 9, 10][..],
                Some(Bytes::from_static(&[11, 12]))
            )]
        );
        assert_eq!(r.size_in_bytes, 21);
    }
    // Our encoder writes the same record bytes (bytes 8, 9, 10 are the UTF-8 "\x08\t\n"),
    // except the timestamp delta: like Java's, our base timestamp is the first record's.
    let mut b = RecordBatchBuilder::new();
    b.append_with_headers(
        1_479_847_795_005,
        Some(&[1, 2, 3, 4]),
        Some(&[5, 6, 7]),
        &[("\u{8}\t\n", Some(&[11, 12]))],
    )
    .unwrap();
    let ours = RecordBatch::new(b.build().unwrap()).unwrap();
    let mut expected = record;
    expected[2] = 0; // timestamp delta 0
    assert_eq!(&ours.records_bytes()[..], &expected[..]);
    assert_eq!(ours.base_timestamp(), 1_479_847_795_005);
}

#[test]
fn round_trip_every_codec() {
    for codec in ALL_CODECS {
        for n in [1, 2, 1000] {
            let bytes = sample_batch(codec, n);
            let batch = RecordBatch::new(bytes).unwrap();
            batch.validate().unwrap();
            assert_eq!(batch.compression(), Ok(codec));
            assert_eq!(batch.records_count(), n as i32);
            assert_eq!(batch.last_offset_delta(), n as i32 - 1);
            assert_eq!(batch.base_timestamp(), 1_700_000_000_000);
            assert_eq!(batch.max_timestamp(), 1_700_000_000_000 + n as i64 - 1);
            assert_eq!(batch.producer_id(), 77);
            assert_eq!(batch.producer_epoch(), 3);
            check_sample(&batch, n);
        }
    }
}

#[test]
fn borrowed_records_match_owned_ones() {
    for codec in [Compression::None, Compression::Snappy] {
        let batch = RecordBatch::new(sample_batch(codec, 200)).unwrap();
        let mut records = batch.records().unwrap();
        records.next().unwrap().unwrap(); // refs start where the iterator is
        let refs: Vec<RecordRef<'_>> = records.refs().collect::<Result<_, _>>().unwrap();
        let owned: Vec<Record> = records.clone().collect::<Result<_, _>>().unwrap();
        assert_eq!(refs.len(), 199);
        for (r, o) in refs.iter().zip(&owned) {
            assert_eq!(
                (r.offset, r.timestamp, r.sequence),
                (o.offset, o.timestamp, o.sequence)
            );
            assert_eq!(
                (r.offset_delta, r.timestamp_delta),
                (o.offset_delta, o.timestamp_delta)
            );
            assert_eq!(r.key, o.key.as_deref());
            assert_eq!(r.value, o.value.as_deref());
            assert_eq!(r.size_in_bytes, o.size_in_bytes);
            assert_eq!(r.header_count, o.headers.len());
            let a: Vec<_> = r.headers().collect();
            let b: Vec<_> = o.headers.iter().collect();
            assert_eq!(a.len(), b.len());
            for ((k, v), h) in a.iter().zip(&b) {
                assert_eq!(*k, &h.key[..]);
                assert_eq!(*v, h.value.as_deref());
            }
        }
    }
    // The same checks: a count mismatch is an error here too.
    let plain = RecordBatch::new(sample_batch(Compression::None, 5)).unwrap();
    let b = with_records(&plain.records_bytes(), 6);
    let records = b.records().unwrap();
    let out: Vec<_> = records.refs().collect();
    assert_eq!(out.len(), 6);
    assert!(out[5].is_err());
}

#[test]
fn compression_shrinks_repetitive_batches() {
    let plain = sample_batch(Compression::None, 1000).len();
    for codec in &ALL_CODECS[1..] {
        let compressed = sample_batch(*codec, 1000).len();
        assert!(compressed * 2 < plain, "{codec}: {compressed} vs {plain}");
    }
}

#[test]
fn uncompressed_records_share_the_batch_buffer() {
    let bytes = sample_batch(Compression::None, 10);
    let range = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
    let batch = RecordBatch::new(bytes).unwrap();
    for r in collect(&batch) {
        if let Some(v) = &r.value {
            assert!(range.contains(&(v.as_ptr() as usize)));
        }
    }
}

/// Builds a batch whose records section is `records`, with the given compression id, as
/// another client would.
fn batch_with_raw_records(codec_id: i16, count: i32, records: &[u8]) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_bytes(0, RECORD_BATCH_OVERHEAD);
    buf.put_slice(records);
    write_header(
        &mut buf,
        &HeaderFields {
            base_offset: 0,
            partition_leader_epoch: -1,
            attributes: codec_id,
            last_offset_delta: count - 1,
            base_timestamp: 10,
            max_timestamp: 10,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: count,
        },
    )
    .unwrap();
    buf.freeze()
}

#[test]
fn raw_and_xerial_snappy_are_both_decoded() {
    let plain = RecordBatch::new(sample_batch(Compression::None, 300)).unwrap();
    let records = plain.records_bytes();

    // librdkafka style: one raw snappy block.
    let raw = snap::raw::Encoder::new().compress_vec(&records).unwrap();
    assert_ne!(raw[0], 0x82);
    let batch = RecordBatch::new(batch_with_raw_records(2, 300, &raw)).unwrap();
    batch.validate().unwrap();
    let same_uncompressed = RecordBatch::new(batch_with_raw_records(0, 300, &records)).unwrap();
    assert_eq!(collect(&batch), collect(&same_uncompressed));
    assert_eq!(collect(&batch).len(), 300);

    // Java style: xerial framing, as we write it.
    let xerial = RecordBatch::new(sample_batch(Compression::Snappy, 300)).unwrap();
    assert_eq!(&xerial.records_bytes()[..8], b"\x82SNAPPY\x00");
    check_sample(&xerial, 300);
}

#[test]
fn set_base_offset_keeps_crc_and_records() {
    for codec in ALL_CODECS {
        let bytes = sample_batch(codec, 50);
        let before = RecordBatch::new(bytes.clone()).unwrap();
        let mut buf = BytesMut::from(&bytes[..]);
        set_base_offset(&mut buf, 5_000_000).unwrap();
        set_partition_leader_epoch(&mut buf, 42).unwrap();
        assert_eq!(&buf[16..], &bytes[16..], "only the first 16 bytes change");
        let after = RecordBatch::new(buf.freeze()).unwrap();
        after.validate().unwrap();
        assert_eq!(after.crc(), before.crc());
        assert_eq!(after.base_offset(), 5_000_000);
        assert_eq!(after.partition_leader_epoch(), 42);
        let (a, b) = (collect(&after), collect(&before));
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.offset, y.offset - 1000 + 5_000_000);
            assert_eq!(
                (&x.key, &x.value, &x.headers),
                (&y.key, &y.value, &y.headers)
            );
        }
    }
    // Too short or not v2: errors.
    assert!(matches!(
        set_base_offset(&mut [0u8; 20], 1),
        Err(Error::UnexpectedEof {
            needed: 61,
            remaining: 20
        })
    ));
    let mut v1 = BytesMut::from(&sample_batch(Compression::None, 1)[..]);
    v1[16] = 1;
    assert_eq!(
        set_partition_leader_epoch(&mut v1, 1),
        Err(Error::UnsupportedMagic(1))
    );
}

#[test]
fn record_batch_mut_patches_in_place() {
    let batch = RecordBatch::new(sample_batch(Compression::Zstd, 20)).unwrap();
    let ptr = batch.as_bytes().as_ptr();
    let mut batch = batch.try_into_mut().unwrap();
    assert_eq!(batch.as_slice().as_ptr(), ptr, "no copy");
    batch.set_last_offset(119);
    assert_eq!(batch.base_offset(), 100);
    batch.set_partition_leader_epoch(7);
    assert_eq!(batch.partition_leader_epoch(), 7);
    batch.set_max_timestamp(TimestampType::LogAppendTime, 42);
    let batch = batch.freeze();
    batch.validate().unwrap();
    assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(batch.compression(), Ok(Compression::Zstd));
    let records = collect(&batch);
    assert!(records.iter().all(|r| r.timestamp == 42));
    assert_eq!(records.last().map(|r| r.offset), Some(119));

    // A shared buffer cannot be made mutable without a copy.
    let shared = RecordBatch::new(sample_batch(Compression::None, 1)).unwrap();
    let _other = shared.clone();
    assert!(shared.try_into_mut().is_err());
    assert!(RecordBatchMut::new(BytesMut::from(&b"short"[..])).is_err());
    let mut m =
        RecordBatchMut::new(BytesMut::from(&sample_batch(Compression::None, 2)[..])).unwrap();
    m.set_base_offset(9);
    assert_eq!(
        RecordBatch::new(m.into_inner().freeze())
            .unwrap()
            .base_offset(),
        9
    );
}

#[test]
fn log_append_time_and_control_batches() {
    let mut b = RecordBatchBuilder::new()
        .with_log_append_time(99)
        .with_control(true);
    b.append(5, None, None).unwrap();
    b.append(7, None, None).unwrap();
    let batch = RecordBatch::new(b.build().unwrap()).unwrap();
    assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
    assert!(batch.is_control_batch());
    assert_eq!(batch.max_timestamp(), 99);
    assert_eq!(batch.base_timestamp(), 5);
    assert!(collect(&batch).iter().all(|r| r.timestamp == 99));
    assert_eq!(batch.attributes(), 0x28);
}

#[test]
fn delete_horizon_attribute() {
    let mut buf = BytesMut::from(&sample_batch(Compression::None, 3)[..]);
    buf[22] |= 0x40;
    fix_crc(&mut buf);
    let batch = RecordBatch::new(buf.freeze()).unwrap();
    batch.validate().unwrap();
    assert!(batch.has_delete_horizon());
    assert_eq!(batch.delete_horizon_ms(), Some(1_700_000_000_000));
}

#[test]
fn empty_builder_builds_an_empty_batch() {
    let bytes = RecordBatchBuilder::new()
        .with_base_offset(5)
        .build()
        .unwrap();
    assert_eq!(bytes.len(), RECORD_BATCH_OVERHEAD);
    let batch = RecordBatch::new(bytes).unwrap();
    batch.validate().unwrap();
    assert_eq!(batch.records_count(), 0);
    assert_eq!(batch.base_timestamp(), NO_TIMESTAMP);
    assert!(collect(&batch).is_empty());
}

#[test]
fn builder_rejects_bad_appends() {
    let mut b = RecordBatchBuilder::new().with_base_offset(10);
    assert!(matches!(
        b.append(-2, None, None),
        Err(Error::InvalidRecord(_))
    ));
    assert!(matches!(
        b.append_with_offset(9, 0, None, None, &[]),
        Err(Error::InvalidRecord(_))
    ));
    assert!(matches!(
        b.append_with_offset(10 + i64::from(i32::MAX) + 1, 0, None, None, &[]),
        Err(Error::InvalidRecord(_))
    ));
    b.append_with_offset(12, 0, None, None, &[]).unwrap();
    assert!(matches!(
        b.append_with_offset(12, 0, None, None, &[]),
        Err(Error::InvalidRecord(_))
    ));
    assert_eq!(b.append(NO_TIMESTAMP, None, None).unwrap(), 13);
    assert_eq!(b.num_records(), 2);
    assert!(!b.is_empty());
    assert_eq!(b.next_offset(), 14);
    // A gap: lastOffsetDelta 3 with 2 records, as after compaction.
    let batch = RecordBatch::new(b.build().unwrap()).unwrap();
    batch.validate().unwrap();
    assert_eq!(batch.last_offset_delta(), 3);
    let offsets: Vec<i64> = collect(&batch).iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [12, 13]);
}

#[test]
fn append_record_copies_records() {
    let source = RecordBatch::new(sample_batch(Compression::Lz4, 100)).unwrap();
    let mut b = RecordBatchBuilder::new()
        .with_base_offset(1000)
        .with_producer(77, 3, 10)
        .with_compression(Compression::Gzip);
    for r in source.records().unwrap() {
        b.append_record(&r.unwrap()).unwrap();
    }
    let copy = RecordBatch::new(b.build().unwrap()).unwrap();
    copy.validate().unwrap();
    check_sample(&copy, 100);
}

#[test]
fn end_transaction_markers() {
    for marker in [
        EndTransactionMarker::commit(17),
        EndTransactionMarker::abort(-1),
    ] {
        let bytes = marker.build_batch(500, 1234, 3, 88, 2).unwrap();
        let batch = RecordBatch::new(bytes).unwrap();
        batch.validate().unwrap();
        assert!(batch.is_control_batch());
        assert!(batch.is_transactional());
        assert_eq!(batch.base_sequence(), NO_SEQUENCE);
        assert_eq!((batch.producer_id(), batch.producer_epoch()), (88, 2));
        assert_eq!(batch.partition_leader_epoch(), 3);
        let records = collect(&batch);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].offset, 500);
        assert_eq!(records[0].timestamp, 1234);
        assert_eq!(EndTransactionMarker::from_record(&records[0]), Ok(marker));
        assert_eq!(
            ControlRecordType::parse_key(records[0].key.as_deref().unwrap()),
            Ok(marker.control_type())
        );
    }
    // Byte layout: key version 0, type 1; value version 0, epoch 17.
    let m = EndTransactionMarker::commit(17);
    assert_eq!(m.encode_key(), [0, 0, 0, 1]);
    assert_eq!(m.encode_value(), [0, 0, 0, 0, 0, 17]);
    // Newer versions with extra bytes are read as version 0, as Kafka does.
    assert_eq!(
        EndTransactionMarker::parse(&[0, 1, 0, 0, 9], &[0, 3, 0, 0, 0, 5, 1, 2]),
        Ok(EndTransactionMarker::abort(5))
    );
    assert!(EndTransactionMarker::parse(&[0, 0, 0], &[0; 6]).is_err());
    assert!(EndTransactionMarker::parse(&[0, 0, 0, 1], &[0; 5]).is_err());
    assert!(EndTransactionMarker::parse(&[0xff, 0xff, 0, 1], &[0; 6]).is_err());
    assert!(EndTransactionMarker::parse(&[0, 0, 0, 1], &[0xff, 0xff, 0, 0, 0, 0]).is_err());
    assert!(EndTransactionMarker::parse(&[0, 0, 0, 2], &[0; 6]).is_err());
    assert_eq!(
        ControlRecordType::parse_key(&[0, 0, 0, 99]),
        Ok(ControlRecordType::Unknown(99))
    );
    for id in 0..8 {
        assert_eq!(ControlRecordType::from_id(id).id(), id);
    }
}

#[test]
fn flipped_bytes_fail_the_crc() {
    for codec in [Compression::None, Compression::Zstd] {
        let bytes = sample_batch(codec, 10);
        for i in 21..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..]);
            buf[i] ^= 0x01;
            let batch = RecordBatch::new(buf.freeze()).unwrap();
            assert!(
                matches!(batch.validate(), Err(Error::CrcMismatch { .. })),
                "{codec} byte {i}"
            );
        }
        // A flipped CRC byte too.
        let mut buf = BytesMut::from(&bytes[..]);
        buf[18] ^= 0x80;
        let batch = RecordBatch::new(buf.freeze()).unwrap();
        assert!(matches!(batch.validate(), Err(Error::CrcMismatch { .. })));
    }
}

#[test]
fn wrong_magic_and_truncation() {
    let bytes = sample_batch(Compression::None, 5);
    let mut buf = BytesMut::from(&bytes[..]);
    buf[16] = 1;
    assert_eq!(
        RecordBatch::new(buf.clone().freeze()),
        Err(Error::UnsupportedMagic(1))
    );
    assert!(matches!(
        RecordBatches::new(buf.freeze()).next(),
        Some(Err(Error::UnsupportedMagic(1)))
    ));

    for cut in [0, 1, 11, 12, 20, 60, 61, bytes.len() - 1] {
        let short = bytes.slice(..cut);
        assert!(RecordBatch::new(short.clone()).is_err(), "cut {cut}");
        let mut frames = RecordBatches::new(short.clone());
        if cut == 0 {
            assert!(frames.next().is_none());
        } else {
            assert!(
                matches!(frames.next(), Some(Err(Error::UnexpectedEof { remaining, .. })) if remaining == cut),
                "cut {cut}"
            );
            assert!(frames.next().is_none());
            assert_eq!(frames.partial_tail(), None);
        }
        // Allowing a partial tail: no batch, no error, the tail is returned.
        let mut frames = RecordBatches::new(short.clone()).allow_partial_tail();
        assert!(frames.next().is_none());
        assert_eq!(frames.partial_tail().cloned(), (cut > 0).then_some(short));
    }
    // batchLength one more than the bytes present.
    let mut buf = BytesMut::from(&bytes[..]);
    buf.put_u8(0);
    assert!(matches!(
        RecordBatch::new(buf.freeze()),
        Err(Error::CorruptBatch(_))
    ));
}

#[test]
fn framing_splits_batches_and_stops_at_a_partial_tail() {
    let a = sample_batch(Compression::None, 3);
    let b = sample_batch(Compression::Lz4, 500);
    let c = sample_batch(Compression::Gzip, 1);
    let all: Bytes = [&a[..], &b[..], &c[..], &c[..30]].concat().into();

    let mut frames = RecordBatches::new(all.clone()).allow_partial_tail();
    let sizes: Vec<usize> = frames
        .by_ref()
        .map(|f| f.unwrap().size_in_bytes())
        .collect();
    assert_eq!(sizes, [a.len(), b.len(), c.len()]);
    assert_eq!(frames.partial_tail().map(Bytes::len), Some(30));
    assert_eq!(frames.remaining().len(), 30);

    let strict: Vec<_> = RecordBatches::new(all.clone()).collect();
    assert_eq!(strict.len(), 4);
    assert!(matches!(
        strict[3],
        Err(Error::UnexpectedEof { needed, remaining: 30 }) if needed == c.len()
    ));

    let whole = all.slice(..all.len() - 30);
    let mut frames = RecordBatches::new(whole);
    assert_eq!(frames.by_ref().count(), 3);
    assert_eq!(frames.partial_tail(), None);

    // Each batch is a slice of the input, not a copy.
    let first = RecordBatches::new(all.clone()).next().unwrap().unwrap();
    assert_eq!(first.as_bytes().as_ptr(), all.as_ptr());

    assert_eq!(next_batch_size(&all, usize::MAX), Ok(Some(a.len())));
    assert_eq!(next_batch_size(&all[..40], usize::MAX), Ok(None));
    assert_eq!(next_batch_size(&all[..5], usize::MAX), Ok(None));
}

#[test]
fn framing_length_errors() {
    let mut buf = BytesMut::new();
    buf.put_i64(0);
    buf.put_i32(-5);
    buf.put_bytes(0, 100);
    assert_eq!(
        RecordBatches::new(buf.freeze()).next(),
        Some(Err(Error::InvalidLength {
            what: "record batch",
            length: -5
        }))
    );

    let mut buf = BytesMut::new();
    buf.put_i64(0);
    buf.put_i32(48); // smaller than a header
    buf.put_bytes(0, 100);
    assert!(matches!(
        RecordBatches::new(buf.freeze()).next(),
        Some(Err(Error::InvalidLength { length: 48, .. }))
    ));

    // A huge batchLength on a short buffer: too large, found from 12 bytes.
    let mut buf = BytesMut::new();
    buf.put_i64(0);
    buf.put_i32(i32::MAX);
    let mut frames = RecordBatches::new(buf.freeze()).with_max_batch_size(1 << 20);
    assert_eq!(
        frames.next(),
        Some(Err(Error::RecordBatchTooLarge {
            size: i32::MAX as usize + 12,
            max: 1 << 20
        }))
    );
    assert_eq!(frames.next(), None);
    assert_eq!(frames.partial_tail(), None);

    let batch = sample_batch(Compression::None, 10);
    let mut frames = RecordBatches::new(batch.clone()).with_max_batch_size(batch.len() - 1);
    assert!(matches!(
        frames.next(),
        Some(Err(Error::RecordBatchTooLarge { .. }))
    ));
    let mut frames = RecordBatches::new(batch.clone()).with_max_batch_size(batch.len());
    assert!(frames.next().unwrap().is_ok());
}

/// Re-frames `records` (uncompressed) with the given count and a correct CRC.
fn with_records(records: &[u8], count: i32) -> RecordBatch {
    RecordBatch::new(batch_with_raw_records(0, count, records)).unwrap()
}

#[test]
fn record_count_must_match_records() {
    let batch = RecordBatch::new(sample_batch(Compression::None, 5)).unwrap();
    let records = batch.records_bytes();

    // Header says 6, 5 present.
    let b = with_records(&records, 6);
    b.validate().unwrap();
    let out: Vec<_> = b.records().unwrap().collect();
    assert_eq!(out.len(), 6);
    assert!(out[..5].iter().all(Result::is_ok));
    assert!(matches!(out[5], Err(Error::CorruptBatch(_))));

    // Header says 4, 5 present.
    let b = with_records(&records, 4);
    let out: Vec<_> = b.records().unwrap().collect();
    assert_eq!(out.len(), 5);
    assert!(matches!(out[4], Err(Error::CorruptBatch(_))));

    // Negative count.
    let b = with_records(&records, -1);
    assert!(matches!(b.validate(), Err(Error::CorruptBatch(_))));
    assert!(b.records().is_err());

    // A count far beyond what the bytes hold is caught by validate without reading records.
    let b = with_records(&records, 1_000_000);
    assert!(matches!(b.validate(), Err(Error::CorruptBatch(_))));
    assert_eq!(
        b.records().unwrap().take(10).filter(Result::is_err).count(),
        1
    );

    // Same for a compressed batch.
    let z = RecordBatch::new(sample_batch(Compression::Zstd, 5)).unwrap();
    let mut buf = BytesMut::from(&z.as_bytes()[..]);
    buf[57..61].copy_from_slice(&7i32.to_be_bytes());
    buf[23..27].copy_from_slice(&6i32.to_be_bytes());
    fix_crc(&mut buf);
    let z = RecordBatch::new(buf.freeze()).unwrap();
    z.validate().unwrap();
    let out: Vec<_> = z.records().unwrap().collect();
    assert_eq!(out.len(), 6);
    assert!(out[5].is_err());
}

#[test]
fn validate_checks_header_counts() {
    let bytes = sample_batch(Compression::None, 5);
    let patch = |at: usize, v: i32| {
        let mut buf = BytesMut::from(&bytes[..]);
        buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
        fix_crc(&mut buf);
        RecordBatch::new(buf.freeze()).unwrap()
    };
    assert!(matches!(
        patch(23, -1).validate(),
        Err(Error::CorruptBatch(_))
    ));
    assert!(matches!(
        patch(23, 3).validate(),
        Err(Error::CorruptBatch(_))
    ));
    patch(23, 10).validate().unwrap(); // gaps are fine

    let mut buf = BytesMut::from(&bytes[..]);
    buf[0..8].copy_from_slice(&i64::MAX.to_be_bytes());
    assert!(matches!(
        RecordBatch::new(buf.freeze()).unwrap().validate(),
        Err(Error::CorruptBatch(_))
    ));

    let mut buf = BytesMut::from(&bytes[..]);
    buf[22] |= 0x07; // codec 7
    fix_crc(&mut buf);
    let b = RecordBatch::new(buf.freeze()).unwrap();
    assert_eq!(b.validate(), Err(Error::UnknownCompression(7)));
    assert_eq!(b.records().err(), Some(Error::UnknownCompression(7)));
}

#[test]
fn hostile_record_lengths_are_errors() {
    let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();
    // Record length claims 2^30 bytes.
    let mut r = Vec::new();
    crate::primitives::put_varint(&mut r, 1 << 30);
    r.extend_from_slice(&[0; 10]);
    cases.push((r, "huge record length"));
    // Negative record length.
    cases.push((vec![0x03, 0, 0, 0, 0, 0, 0], "negative record length"));
    // Key length -2.
    cases.push((vec![0x0c, 0, 0, 0, 0x03, 0, 0, 0], "key length -2"));
    // Key length 2^30 inside a small record.
    let mut r = vec![0x10, 0, 0, 0];
    crate::primitives::put_varint(&mut r, 1 << 30);
    r.extend_from_slice(&[0; 4]);
    cases.push((r, "huge key length"));
    // Header count i32::MAX.
    let mut r = vec![0x10, 0, 0, 0, 1, 1];
    crate::primitives::put_varint(&mut r, i32::MAX);
    r.push(0);
    cases.push((r, "huge header count"));
    // Negative header count.
    cases.push((vec![0x0c, 0, 0, 0, 1, 1, 3], "negative header count"));
    // Null header key.
    cases.push((vec![0x0e, 0, 0, 0, 1, 1, 2, 1, 1], "null header key"));
    // Record length shorter than its fields.
    cases.push((vec![0x08, 0, 0, 0, 1, 1, 0, 0], "record length too short"));
    // Record length longer than its fields.
    cases.push((vec![0x0e, 0, 0, 0, 1, 1, 0, 0], "record length too long"));
    // Over-long varint.
    cases.push((vec![0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], "overlong varint"));
    for (records, what) in cases {
        let b = with_records(&records, 1);
        let out: Vec<_> = b.records().unwrap().collect();
        assert_eq!(out.len(), 1, "{what}");
        assert!(out[0].is_err(), "{what}: {:?}", out[0]);
    }
}

#[test]
fn decompression_bombs_are_stopped() {
    let mut b = RecordBatchBuilder::new().with_compression(Compression::Zstd);
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..8 {
        b.append(0, None, Some(&zeros)).unwrap();
    }
    let batch = RecordBatch::new(b.build().unwrap()).unwrap();
    assert!(batch.size_in_bytes() < 4096);
    assert_eq!(
        batch.records_with_limit(1 << 20).err(),
        Some(Error::DecompressedTooLarge { limit: 1 << 20 })
    );
    assert_eq!(batch.records_with_limit(16 << 20).unwrap().count(), 8);
}

fn mutate(bytes: &[u8], edits: &[(usize, u8)], cut: Option<usize>, fix: bool) -> Bytes {
    let mut buf = bytes.to_vec();
    for (at, v) in edits {
        if !buf.is_empty() {
            let i = at % buf.len();
            buf[i] = *v;
        }
    }
    if fix && buf.len() >= RECORD_BATCH_OVERHEAD {
        fix_crc(&mut buf);
    }
    if let Some(cut) = cut {
        buf.truncate(cut % (buf.len() + 1));
    }
    buf.into()
}

/// Runs every reader over `input`; the property is that none of them panics.
fn exercise(input: Bytes) {
    for partial in [false, true] {
        let mut frames = RecordBatches::new(input.clone()).with_max_batch_size(1 << 24);
        if partial {
            frames = frames.allow_partial_tail();
        }
        for batch in frames.by_ref().take(64) {
            let Ok(batch) = batch else { continue };
            let _ = batch.validate();
            let _ = format!("{batch:?}");
            let _ = (
                batch.last_offset(),
                batch.next_offset(),
                batch.last_sequence(),
            );
            if let Ok(records) = batch.records_with_limit(1 << 20) {
                for r in records.refs().take(10_000).flatten() {
                    let _ = r.headers().count();
                }
                for r in records.take(10_000).flatten() {
                    let _ = r.headers.iter().count();
                    let _ = EndTransactionMarker::from_record(&r);
                }
            }
        }
        let _ = frames.partial_tail();
    }
    if let Ok(batch) = RecordBatch::new(input.clone()) {
        let _ = batch.validate();
        if let Ok(records) = batch.records_with_limit(1 << 20) {
            let _ = records.take(10_000).count();
        }
    }
    let _ = next_batch_size(&input, 1 << 24);
    let mut buf = input.to_vec();
    let _ = set_base_offset(&mut buf, 1);
}

fn codec_strategy() -> impl Strategy<Value = Compression> {
    prop::sample::select(ALL_CODECS.to_vec())
}

proptest! {
    // 256 cases by default; set PROPTEST_CASES for a longer run.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        exercise(bytes.into());
    }

    #[test]
    fn random_header_with_random_records_never_panic(
        codec in 0u8..8,
        count in any::<i32>(),
        records in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let b = batch_with_raw_records(i16::from(codec), count, &records);
        exercise(b);
    }

    #[test]
    fn mutated_batches_never_panic(
        codec in codec_strategy(),
        n in 1usize..40,
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<usize>()),
        fix in any::<bool>(),
    ) {
        let bytes = sample_batch(codec, n);
        let mutated = mutate(&bytes, &edits, cut, fix);
        exercise(mutated.clone());
        // And the same after a valid batch, as in a buffer of several.
        exercise([&bytes[..], &mutated[..]].concat().into());
    }

    #[test]
    fn arbitrary_records_round_trip(
        codec in codec_strategy(),
        base_offset in 0i64..i64::MAX / 2,
        records in prop::collection::vec(
            (
                0i64..i64::MAX / 4,
                prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
                prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
                prop::collection::vec(("[a-z]{0,8}", prop::option::of(prop::collection::vec(any::<u8>(), 0..20))), 0..3),
            ),
            0..30,
        ),
    ) {
        let mut b = RecordBatchBuilder::new().with_compression(codec).with_base_offset(base_offset);
        for (ts, key, value, headers) in &records {
            let headers: Vec<(&str, Option<&[u8]>)> =
                headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
            b.append_with_headers(*ts, key.as_deref(), value.as_deref(), &headers).unwrap();
        }
        let batch = RecordBatch::new(b.build().unwrap()).unwrap();
        batch.validate().unwrap();
        let decoded = collect(&batch);
        prop_assert_eq!(decoded.len(), records.len());
        for (i, (r, (ts, key, value, headers))) in decoded.iter().zip(&records).enumerate() {
            prop_assert_eq!(r.offset, base_offset + i as i64);
            prop_assert_eq!(r.timestamp, *ts);
            prop_assert_eq!(r.key.as_deref(), key.as_deref());
            prop_assert_eq!(r.value.as_deref(), value.as_deref());
            let got: Vec<(Bytes, Option<Bytes>)> = r.headers.iter().map(|h| (h.key, h.value)).collect();
            let want: Vec<(Bytes, Option<Bytes>)> = headers
                .iter()
                .map(|(k, v)| (Bytes::copy_from_slice(k.as_bytes()), v.clone().map(Bytes::from)))
                .collect();
            prop_assert_eq!(got, want);
        }
        if let Some(max) = records.iter().map(|r| r.0).max() {
            prop_assert_eq!(batch.max_timestamp(), max);
        }
    }
}
