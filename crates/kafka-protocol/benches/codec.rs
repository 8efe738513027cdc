//! Message codec benchmarks: a Produce request (v11, flexible) carrying one record batch of
//! 100-byte records, and a Fetch response (v16) carrying about 1 MiB of record batches across
//! four partitions.
//!
//! - `produce/decode_body`, `produce/decode_frame` (header and body as a server parses them)
//!   and `produce/decode_frame_and_batches` (plus framing the records field into batches) with
//!   10, 1,000 and 10,000 records: the records field is a `Bytes` slice of the input, so these
//!   take the same time whatever the record count. Nothing here reads a record.
//! - `produce/encode_body` with the same counts: encoding copies the records into the output,
//!   so it grows with their size (a memcpy).
//! - `fetch/decode` and `fetch/encode` of the 1 MiB response.
//!
//! Run with `cargo bench -p kafka-protocol --bench codec` (add
//! `-- --warm-up-time 1 --measurement-time 3` for a short run).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_protocol::header::peek_api_key_and_version;
use kafka_protocol::messages::fetch_response::{
    FetchResponse, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData,
};
use kafka_protocol::messages::produce_request::{
    PartitionProduceData, ProduceRequest, TopicProduceData,
};
use kafka_protocol::messages::RequestKind;
use kafka_protocol::records::{Compression, RecordBatchBuilder, RecordBatches, Records};
use kafka_protocol::{ApiKey, Decodable, Encodable, RequestHeader, Uuid};

const PRODUCE_VERSION: i16 = 11;
const FETCH_VERSION: i16 = 16;
const VALUE_SIZE: usize = 100;
const RECORD_COUNTS: [usize; 3] = [10, 1_000, 10_000];

/// One uncompressed batch of `n` records with 100-byte values and 8-byte keys.
fn batch(n: usize, base_offset: i64) -> Bytes {
    let mut b = RecordBatchBuilder::with_capacity(n * (VALUE_SIZE + 24))
        .with_compression(Compression::None)
        .with_base_offset(base_offset)
        .with_producer(4242, 0, base_offset as i32);
    let mut value = [b'x'; VALUE_SIZE];
    for i in 0..n {
        value[..8].copy_from_slice(&(i as u64).to_be_bytes());
        b.append(
            1_700_000_000_000 + i as i64,
            Some(&(i as u64).to_be_bytes()),
            Some(&value),
        )
        .unwrap();
    }
    b.build().unwrap()
}

fn produce_request(records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_transactional_id(None)
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name("bench-topic".into())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records.into()))])])
}

/// A Produce request frame (header and body, without the size prefix) as a client sends it.
fn produce_frame(body: &ProduceRequest) -> Bytes {
    let header_version = ApiKey::Produce.request_header_version(PRODUCE_VERSION);
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce.id())
        .with_request_api_version(PRODUCE_VERSION)
        .with_correlation_id(17)
        .with_client_id(Some("bench-producer".into()));
    let mut frame = BytesMut::new();
    header.encode(&mut frame, header_version).unwrap();
    body.encode(&mut frame, PRODUCE_VERSION).unwrap();
    frame.freeze()
}

/// What a server does with a request frame: header version from the API key and version,
/// header, then the body for that API.
fn parse_frame(frame: Bytes) -> (RequestHeader, RequestKind) {
    let (key, version) = peek_api_key_and_version(&frame).unwrap();
    let api = ApiKey::from_id(key).unwrap();
    let mut buf = frame;
    let header = RequestHeader::decode(&mut buf, api.request_header_version(version)).unwrap();
    let body = RequestKind::decode(api, &mut buf, version).unwrap();
    (header, body)
}

fn produce(c: &mut Criterion) {
    let mut group = c.benchmark_group("produce");
    for n in RECORD_COUNTS {
        let body = produce_request(batch(n, 0));
        let encoded = {
            let mut buf = BytesMut::new();
            body.encode(&mut buf, PRODUCE_VERSION).unwrap();
            buf.freeze()
        };
        let frame = produce_frame(&body);
        // One request per iteration: the time per request is what must not grow with n.
        group.throughput(Throughput::Elements(1));

        group.bench_with_input(
            BenchmarkId::new("decode_body", format!("{n}_records")),
            &encoded,
            |b, encoded| {
                b.iter(|| {
                    let mut input = black_box(encoded.clone());
                    ProduceRequest::decode(&mut input, PRODUCE_VERSION).unwrap()
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("decode_frame", format!("{n}_records")),
            &frame,
            |b, frame| b.iter(|| parse_frame(black_box(frame.clone()))),
        );
        group.bench_with_input(
            BenchmarkId::new("decode_frame_and_batches", format!("{n}_records")),
            &frame,
            |b, frame| {
                b.iter(|| {
                    let (_, body) = parse_frame(black_box(frame.clone()));
                    let RequestKind::Produce(produce) = body else {
                        panic!("not a Produce request");
                    };
                    let mut batches = 0;
                    for topic in &produce.topic_data {
                        for partition in &topic.partition_data {
                            let records = partition
                                .records
                                .clone()
                                .and_then(Records::into_bytes)
                                .unwrap_or_default();
                            for batch in RecordBatches::new(records) {
                                black_box(batch.unwrap().base_offset());
                                batches += 1;
                            }
                        }
                    }
                    batches
                })
            },
        );
        let mut out = BytesMut::with_capacity(encoded.len());
        group.bench_with_input(
            BenchmarkId::new("encode_body", format!("{n}_records")),
            &body,
            |b, body| {
                b.iter(|| {
                    out.clear();
                    black_box(body).encode(&mut out, PRODUCE_VERSION).unwrap();
                    out.len()
                })
            },
        );
    }
    group.finish();
}

/// A Fetch response with four partitions of one topic, each holding four batches of 600
/// 100-byte records (about 76 KiB each): about 1.2 MB of records in all.
fn fetch_response() -> FetchResponse {
    let partitions = (0..4)
        .map(|p| {
            let mut records = BytesMut::new();
            for b in 0..4 {
                records.extend_from_slice(&batch(600, b * 600));
            }
            PartitionData::default()
                .with_partition_index(p)
                .with_high_watermark(10_000)
                .with_last_stable_offset(10_000)
                .with_log_start_offset(0)
                .with_aborted_transactions(Some(Vec::new()))
                .with_preferred_read_replica(-1)
                .with_current_leader(
                    LeaderIdAndEpoch::default()
                        .with_leader_id(1)
                        .with_leader_epoch(5),
                )
                .with_records(Some(records.freeze().into()))
        })
        .collect();
    FetchResponse::default()
        .with_throttle_time_ms(0)
        .with_session_id(99)
        .with_responses(vec![FetchableTopicResponse::default()
            .with_topic_id(Uuid::from_u64_pair(0x1234, 0x5678))
            .with_partitions(partitions)])
}

fn fetch(c: &mut Criterion) {
    let response = fetch_response();
    let mut encoded = BytesMut::new();
    response.encode(&mut encoded, FETCH_VERSION).unwrap();
    let encoded = encoded.freeze();
    let mut group = c.benchmark_group("fetch");
    group.throughput(Throughput::Bytes(encoded.len() as u64));
    let id = format!("v{FETCH_VERSION}_{}_bytes", encoded.len());
    group.bench_with_input(BenchmarkId::new("decode", &id), &encoded, |b, encoded| {
        b.iter(|| {
            let mut input = black_box(encoded.clone());
            FetchResponse::decode(&mut input, FETCH_VERSION).unwrap()
        })
    });
    let mut out = BytesMut::with_capacity(encoded.len());
    group.bench_with_input(BenchmarkId::new("encode", &id), &response, |b, response| {
        b.iter(|| {
            out.clear();
            black_box(response).encode(&mut out, FETCH_VERSION).unwrap();
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, produce, fetch);
criterion_main!(benches);
