//! Scripted fake brokers: they speak enough of the protocol for a client to connect
//! (ApiVersions, Metadata, InitProducerId) and then answer Produce as the test asks: never
//! (timeouts, full buffers), or as a cluster of several brokers where each partition has a
//! leader that the test can move (routing, NOT_LEADER_OR_FOLLOWER).

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod broker;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiVersionsResponse, InitProducerIdResponse, MetadataResponse, ProduceResponse, RequestKind,
    ResponseKind,
};
use kafka_protocol::records::{RecordBatch, Records};
use kafka_protocol::ErrorCode;
use kafka_protocol::{ApiKey, Decodable, Encodable, RequestHeader, ResponseHeader, Uuid};
use std::collections::HashMap;
use std::sync::Mutex;

/// What the fake brokers share: who leads which partition and what was written where.
#[derive(Debug, Default)]
pub struct ClusterState {
    pub topic: String,
    /// Leader node id of each partition.
    pub leaders: Vec<i32>,
    /// Port of each node id.
    pub ports: Vec<u16>,
    /// Whether Produce is answered (otherwise swallowed).
    pub answer_produce: bool,
    /// Records written per partition, with the node that took them.
    pub written: HashMap<i32, Vec<(i32, i32)>>,
    /// Produce requests received per node.
    pub produce_requests: HashMap<i32, usize>,
    /// Partitions answered with NOT_LEADER_OR_FOLLOWER, per node.
    pub not_leader_answers: HashMap<i32, usize>,
    /// Whether idempotent batches must carry the next sequence of their producer and epoch
    /// (otherwise OUT_OF_ORDER_SEQUENCE_NUMBER), as a real broker checks.
    pub check_sequences: bool,
    /// The next sequence expected per (producer id, epoch, partition).
    pub expected_sequence: HashMap<(i64, i16, i32), i32>,
    /// InitProducerId requests: the producer id and epoch each one carried.
    pub init_requests: Vec<(i64, i16)>,
    /// Batches written: (partition, producer epoch, base sequence, records).
    pub batches: Vec<(i32, i16, i32, i32)>,
    next_offset: HashMap<i32, i64>,
}

/// Several fake brokers on 127.0.0.1 sharing one [`ClusterState`].
pub struct FakeCluster {
    pub state: Arc<Mutex<ClusterState>>,
    stop: Arc<AtomicBool>,
    handles: Vec<thread::JoinHandle<()>>,
}

impl FakeCluster {
    /// `nodes` brokers serving `topic` with the given partition leaders.
    pub fn start(nodes: usize, topic: &str, leaders: Vec<i32>, answer_produce: bool) -> Self {
        let listeners: Vec<TcpListener> = (0..nodes)
            .map(|_| {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                l.set_nonblocking(true).unwrap();
                l
            })
            .collect();
        let state = Arc::new(Mutex::new(ClusterState {
            topic: topic.to_string(),
            leaders,
            ports: listeners
                .iter()
                .map(|l| l.local_addr().unwrap().port())
                .collect(),
            answer_produce,
            ..ClusterState::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let handles = listeners
            .into_iter()
            .enumerate()
            .map(|(id, listener)| {
                let state = Arc::clone(&state);
                let stop = Arc::clone(&stop);
                thread::spawn(move || {
                    let mut conns = Vec::new();
                    while !stop.load(Ordering::Acquire) {
                        match listener.accept() {
                            Ok((stream, _)) => {
                                let state = Arc::clone(&state);
                                let stop = Arc::clone(&stop);
                                conns.push(thread::spawn(move || {
                                    serve(stream, id as i32, &state, &stop)
                                }));
                            }
                            Err(_) => thread::sleep(Duration::from_millis(5)),
                        }
                    }
                    for c in conns {
                        let _ = c.join();
                    }
                })
            })
            .collect();
        FakeCluster {
            state,
            stop,
            handles,
        }
    }

    /// `host:port` of every node.
    pub fn bootstrap(&self) -> String {
        let state = self.state.lock().unwrap();
        state
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// One fake broker whose Produce requests are never answered.
pub struct FakeBroker {
    pub port: u16,
    cluster: FakeCluster,
}

impl FakeBroker {
    /// Serves `topic` with `partitions` partitions, all led by node 0 (this broker).
    pub fn start(topic: &str, partitions: i32) -> Self {
        let cluster = FakeCluster::start(1, topic, vec![0; partitions as usize], false);
        let port = cluster.state.lock().unwrap().ports[0];
        FakeBroker { port, cluster }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Produce requests received (and never answered) so far.
    pub fn produce_count(&self) -> usize {
        self.cluster
            .state
            .lock()
            .unwrap()
            .produce_requests
            .values()
            .sum()
    }
}

fn read_frame(stream: &mut TcpStream, stop: &AtomicBool) -> Option<Bytes> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        if stop.load(Ordering::Acquire) {
            return None;
        }
        match stream.read(&mut len[got..]) {
            Ok(0) => return None,
            Ok(n) => got += n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(_) => return None,
        }
    }
    let size = i32::from_be_bytes(len) as usize;
    let mut buf = vec![0u8; size];
    let mut got = 0;
    while got < size {
        match stream.read(&mut buf[got..]) {
            Ok(0) => return None,
            Ok(n) => got += n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                if stop.load(Ordering::Acquire) {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    Some(Bytes::from(buf))
}

fn metadata(state: &ClusterState) -> MetadataResponse {
    MetadataResponse::default()
        .with_brokers(
            state
                .ports
                .iter()
                .enumerate()
                .map(|(id, port)| {
                    MetadataResponseBroker::default()
                        .with_node_id(id as i32)
                        .with_host("127.0.0.1".into())
                        .with_port(i32::from(*port))
                })
                .collect(),
        )
        .with_cluster_id(Some("fake".into()))
        .with_controller_id(0)
        .with_topics(vec![MetadataResponseTopic::default()
            .with_name(Some(state.topic.clone()))
            .with_topic_id(Uuid([7; 16]))
            .with_partitions(
                state
                    .leaders
                    .iter()
                    .enumerate()
                    .map(|(p, leader)| {
                        MetadataResponsePartition::default()
                            .with_partition_index(p as i32)
                            .with_leader_id(*leader)
                            .with_leader_epoch(0)
                            .with_replica_nodes(vec![*leader])
                            .with_isr_nodes(vec![*leader])
                    })
                    .collect(),
            )])
}

fn serve(mut stream: TcpStream, id: i32, state: &Mutex<ClusterState>, stop: &AtomicBool) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    while let Some(mut frame) = read_frame(&mut stream, stop) {
        let (key, version) = kafka_protocol::header::peek_api_key_and_version(&frame).unwrap();
        let api = ApiKey::from_id(key).unwrap();
        let header =
            RequestHeader::decode(&mut frame, api.request_header_version(version)).unwrap();
        let body = RequestKind::decode(api, &mut frame, version).unwrap();
        let response = match body {
            RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(
                ApiVersionsResponse::default().with_api_keys(
                    ApiKey::ALL
                        .iter()
                        .map(|k| {
                            let r = k.valid_versions();
                            ApiVersion::default()
                                .with_api_key(k.id())
                                .with_min_version(r.min)
                                .with_max_version(r.max)
                        })
                        .collect(),
                ),
            ),
            RequestKind::Metadata(_) => ResponseKind::Metadata(metadata(&state.lock().unwrap())),
            RequestKind::InitProducerId(request) => {
                let mut state = state.lock().unwrap();
                state
                    .init_requests
                    .push((request.producer_id, request.producer_epoch));
                // KIP-360: a producer that names its id and epoch gets the next epoch.
                let epoch = if request.producer_id >= 0 {
                    request.producer_epoch + 1
                } else {
                    0
                };
                ResponseKind::InitProducerId(
                    InitProducerIdResponse::default()
                        .with_producer_id(1000)
                        .with_producer_epoch(epoch),
                )
            }
            RequestKind::Produce(request) => {
                let mut state = state.lock().unwrap();
                *state.produce_requests.entry(id).or_default() += 1;
                if !state.answer_produce {
                    continue;
                }
                let mut topics = Vec::new();
                for t in &request.topic_data {
                    let mut partitions = Vec::new();
                    for p in &t.partition_data {
                        let leader = state.leaders.get(p.index as usize).copied();
                        let mut answer = PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_log_append_time_ms(-1);
                        let batch = p
                            .records
                            .clone()
                            .and_then(Records::into_bytes)
                            .map(|r| RecordBatch::new(r).unwrap());
                        let in_order = match &batch {
                            Some(b) if state.check_sequences && b.producer_id() >= 0 => {
                                let key = (b.producer_id(), b.producer_epoch(), p.index);
                                let expected =
                                    state.expected_sequence.get(&key).copied().unwrap_or(0);
                                if b.base_sequence() == expected {
                                    state
                                        .expected_sequence
                                        .insert(key, expected + b.records_count());
                                    true
                                } else {
                                    false
                                }
                            }
                            _ => true,
                        };
                        if leader == Some(id) && !in_order {
                            answer = answer
                                .with_error_code(ErrorCode::OutOfOrderSequenceNumber.code())
                                .with_base_offset(-1);
                        } else if leader == Some(id) {
                            let count = batch.as_ref().map_or(0, RecordBatch::records_count);
                            if let Some(b) = &batch {
                                state.batches.push((
                                    p.index,
                                    b.producer_epoch(),
                                    b.base_sequence(),
                                    count,
                                ));
                            }
                            let next = state.next_offset.entry(p.index).or_default();
                            let base = *next;
                            *next += i64::from(count);
                            state.written.entry(p.index).or_default().push((id, count));
                            answer = answer.with_base_offset(base);
                        } else {
                            *state.not_leader_answers.entry(id).or_default() += 1;
                            answer = answer
                                .with_error_code(ErrorCode::NotLeaderOrFollower.code())
                                .with_base_offset(-1);
                        }
                        partitions.push(answer);
                    }
                    topics.push(
                        TopicProduceResponse::default()
                            .with_name(t.name.clone())
                            .with_partition_responses(partitions),
                    );
                }
                ResponseKind::Produce(ProduceResponse::default().with_responses(topics))
            }
            _ => continue,
        };
        let header_version = if api == ApiKey::ApiVersions {
            0
        } else {
            api.response_header_version(version)
        };
        let mut out = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut out, header_version)
            .unwrap();
        response.encode(&mut out, version).unwrap();
        let mut framed = (out.len() as i32).to_be_bytes().to_vec();
        framed.extend_from_slice(&out);
        if stream.write_all(&framed).is_err() {
            return;
        }
    }
}
