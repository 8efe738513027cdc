//! A scripted fake broker for failure tests: it speaks enough of the protocol for a client
//! to connect (ApiVersions, Metadata, InitProducerId, FindCoordinator) and then misbehaves
//! as the test asks (never answering Produce).

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiVersionsResponse, InitProducerIdResponse, MetadataResponse, RequestKind, ResponseKind,
};
use kafka_protocol::{ApiKey, Decodable, Encodable, RequestHeader, ResponseHeader, Uuid};

/// A fake broker on 127.0.0.1 with one topic.
pub struct FakeBroker {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Produce requests received (and never answered).
    pub produce_requests: Arc<AtomicUsize>,
    handle: Option<thread::JoinHandle<()>>,
}

impl FakeBroker {
    /// Serves `topic` with `partitions` partitions, all led by node 0 (this broker).
    pub fn start(topic: &str, partitions: i32) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let produce_requests = Arc::new(AtomicUsize::new(0));
        let topic = topic.to_string();
        let handle = {
            let stop = Arc::clone(&stop);
            let produce_requests = Arc::clone(&produce_requests);
            thread::spawn(move || {
                let mut conns = Vec::new();
                while !stop.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let topic = topic.clone();
                            let stop = Arc::clone(&stop);
                            let produce_requests = Arc::clone(&produce_requests);
                            conns.push(thread::spawn(move || {
                                serve(stream, port, &topic, partitions, &stop, &produce_requests)
                            }));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
                for c in conns {
                    let _ = c.join();
                }
            })
        };
        FakeBroker {
            port,
            stop,
            produce_requests,
            handle: Some(handle),
        }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
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

fn serve(
    mut stream: TcpStream,
    port: u16,
    topic: &str,
    partitions: i32,
    stop: &AtomicBool,
    produce_requests: &AtomicUsize,
) {
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
                            let r = k.supported_versions();
                            ApiVersion::default()
                                .with_api_key(k.id())
                                .with_min_version(r.min)
                                .with_max_version(r.max)
                        })
                        .collect(),
                ),
            ),
            RequestKind::Metadata(_) => ResponseKind::Metadata(
                MetadataResponse::default()
                    .with_brokers(vec![MetadataResponseBroker::default()
                        .with_node_id(0)
                        .with_host("127.0.0.1".into())
                        .with_port(i32::from(port))])
                    .with_cluster_id(Some("fake".into()))
                    .with_controller_id(0)
                    .with_topics(vec![MetadataResponseTopic::default()
                        .with_name(Some(topic.to_string()))
                        .with_topic_id(Uuid([7; 16]))
                        .with_partitions(
                            (0..partitions)
                                .map(|p| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_leader_id(0)
                                        .with_leader_epoch(0)
                                        .with_replica_nodes(vec![0])
                                        .with_isr_nodes(vec![0])
                                })
                                .collect(),
                        )]),
            ),
            RequestKind::InitProducerId(_) => ResponseKind::InitProducerId(
                InitProducerIdResponse::default()
                    .with_producer_id(1000)
                    .with_producer_epoch(0),
            ),
            RequestKind::Produce(_) => {
                produce_requests.fetch_add(1, Ordering::AcqRel);
                continue;
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
