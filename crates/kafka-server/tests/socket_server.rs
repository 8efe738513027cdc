//! The socket server with a test handler (ApiVersions and an echo over SaslAuthenticate whose
//! first byte is a delay in milliseconds), driven by plain blocking clients. Every wait is
//! bounded; every server is shut down at the end of its test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, ProduceRequest, ProduceResponse, RequestKind,
    ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse,
};
use kafka_protocol::{
    ApiKey, Decodable, Encodable, ErrorCode, Message, RequestHeader, ResponseHeader, VersionRange,
};
use kafka_server::{
    AdvertisedApis, ListenerApis, RequestContext, RequestHandler, Responder, SocketServer,
    SocketServerConfig,
};

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct TestHandler {
    handled: AtomicUsize,
    /// While set, handlers block (to fill the request queue).
    gate: Mutex<Option<crossbeam_channel::Receiver<()>>>,
}

impl RequestHandler for TestHandler {
    fn handle(&self, _context: RequestContext, body: RequestKind, responder: Responder) {
        let gate = self.gate.lock().unwrap().clone();
        if let Some(g) = gate {
            let _ = g.recv_timeout(TIMEOUT);
        }
        self.handled.fetch_add(1, Ordering::SeqCst);
        match body {
            RequestKind::ApiVersions(_) => {
                responder.respond(ResponseKind::ApiVersions(ApiVersionsResponse::default()));
            }
            RequestKind::SaslAuthenticate(req) => {
                let delay = req.auth_bytes.first().copied().unwrap_or(0);
                let body = ResponseKind::SaslAuthenticate(
                    SaslAuthenticateResponse::default().with_auth_bytes(req.auth_bytes.clone()),
                );
                if delay == 0 {
                    responder.respond(body);
                } else {
                    // Answer later from elsewhere, as delayed operations do.
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(u64::from(delay)));
                        responder.respond(body);
                    });
                }
            }
            // Advertised but refused, as a broker refuses Produce v0-v2: an error per
            // partition, in a response.
            RequestKind::Produce(req) if responder.api_version() < 3 => {
                responder.respond(ResponseKind::Produce(produce_unsupported(&req)));
            }
            _ => responder.close(),
        }
    }
}

fn produce_unsupported(req: &ProduceRequest) -> ProduceResponse {
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    ProduceResponse::default().with_responses(
        req.topic_data
            .iter()
            .map(|t| {
                TopicProduceResponse::default()
                    .with_name(t.name.clone())
                    .with_partition_responses(
                        t.partition_data
                            .iter()
                            .map(|p| {
                                PartitionProduceResponse::default()
                                    .with_index(p.index)
                                    .with_error_code(ErrorCode::UnsupportedVersion.code())
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}

/// What the test handler serves, handed to the server as a broker hands its table.
fn apis() -> AdvertisedApis {
    AdvertisedApis::new([
        (ApiKey::Produce, VersionRange::new(0, 11)),
        (ApiKey::Fetch, VersionRange::new(4, 17)),
        (ApiKey::ApiVersions, VersionRange::new(0, 4)),
        (ApiKey::SaslAuthenticate, VersionRange::new(0, 2)),
    ])
}

fn start(config: SocketServerConfig, handler: Arc<TestHandler>) -> (SocketServer, SocketAddr) {
    let mut config = config;
    config.listeners[0].port = 0;
    let server = SocketServer::start(config, apis(), handler, HashMap::new()).unwrap();
    let addr = server.bound_address("PLAINTEXT").unwrap();
    (server, addr)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

fn frame<M: Encodable>(api: ApiKey, version: i16, correlation_id: i32, body: &M) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(api.id())
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some("test".into()));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, api.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let mut out = (buf.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&buf);
    out
}

fn echo(correlation_id: i32, payload: &[u8]) -> Vec<u8> {
    frame(
        ApiKey::SaslAuthenticate,
        2,
        correlation_id,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(payload)),
    )
}

fn read_frame(s: &mut TcpStream) -> std::io::Result<Bytes> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body)?;
    Ok(Bytes::from(body))
}

fn read_response<M: Message>(s: &mut TcpStream, api: ApiKey, version: i16) -> (i32, M) {
    let mut buf = read_frame(s).unwrap();
    let header = ResponseHeader::decode(&mut buf, api.response_header_version(version)).unwrap();
    (header.correlation_id, M::decode(&mut buf, version).unwrap())
}

fn assert_closed(s: &mut TcpStream) {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("connection still open: {other:?}"),
    }
}

#[test]
fn api_versions_round_trip() {
    let (server, addr) = start(SocketServerConfig::default(), Arc::default());
    let mut c = connect(addr);
    c.write_all(&frame(
        ApiKey::ApiVersions,
        3,
        7,
        &ApiVersionsRequest::default(),
    ))
    .unwrap();
    let (cid, _resp): (i32, ApiVersionsResponse) = read_response(&mut c, ApiKey::ApiVersions, 3);
    assert_eq!(cid, 7);
    server.shutdown();
}

#[test]
fn pipelined_requests_are_answered_in_order_though_handlers_finish_out_of_order() {
    let config = SocketServerConfig {
        num_io_threads: 4,
        ..SocketServerConfig::default()
    };
    let (server, addr) = start(config, Arc::default());
    let mut clients: Vec<TcpStream> = (0..8).map(|_| connect(addr)).collect();
    for c in &mut clients {
        let mut wire = Vec::new();
        for i in 0..20i32 {
            // Descending delays: later requests would finish first if they ran concurrently.
            wire.extend(echo(i, &[(20 - i) as u8, i as u8]));
        }
        c.write_all(&wire).unwrap();
    }
    for c in &mut clients {
        for i in 0..20i32 {
            let (cid, resp): (i32, SaslAuthenticateResponse) =
                read_response(c, ApiKey::SaslAuthenticate, 2);
            assert_eq!(cid, i, "responses out of order");
            assert_eq!(resp.auth_bytes[1], i as u8);
        }
    }
    server.shutdown();
}

#[test]
fn a_slow_reader_does_not_delay_other_connections() {
    let config = SocketServerConfig {
        num_network_threads: 1,
        ..SocketServerConfig::default()
    };
    let (server, addr) = start(config, Arc::default());
    let mut slow = connect(addr);
    // An 8 MiB response the slow client never reads: the Processor cannot finish writing it
    // and must go on serving the other connections it owns.
    slow.write_all(&echo(0, &vec![0u8; 8 << 20])).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut fast = connect(addr);
    let start = Instant::now();
    for i in 0..50 {
        fast.write_all(&echo(i, &[0, 1, 2])).unwrap();
        let (cid, _): (i32, SaslAuthenticateResponse) =
            read_response(&mut fast, ApiKey::SaslAuthenticate, 2);
        assert_eq!(cid, i);
    }
    assert!(start.elapsed() < TIMEOUT);
    drop(slow);
    server.shutdown();
}

#[test]
fn a_full_request_queue_pushes_back_instead_of_growing() {
    let handler = Arc::new(TestHandler::default());
    let (release, gate) = crossbeam_channel::unbounded();
    *handler.gate.lock().unwrap() = Some(gate);
    let config = SocketServerConfig {
        num_io_threads: 1,
        queued_max_requests: 2,
        ..SocketServerConfig::default()
    };
    let (server, addr) = start(config, Arc::clone(&handler));
    let mut clients: Vec<TcpStream> = (0..10).map(|_| connect(addr)).collect();
    for c in &mut clients {
        c.write_all(&echo(1, &[0])).unwrap();
    }
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        assert!(server.request_queue_len() <= 2, "queue grew past its bound");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(server.request_queue_len(), 2);
    *handler.gate.lock().unwrap() = None;
    for _ in 0..20 {
        let _ = release.send(());
    }
    for c in &mut clients {
        let (cid, _): (i32, SaslAuthenticateResponse) =
            read_response(c, ApiKey::SaslAuthenticate, 2);
        assert_eq!(cid, 1);
    }
    assert_eq!(handler.handled.load(Ordering::SeqCst), 10);
    server.shutdown();
}

#[test]
fn per_ip_quota_refuses_then_releases() {
    let config = SocketServerConfig {
        max_connections_per_ip: 2,
        ..SocketServerConfig::default()
    };
    let (server, addr) = start(config, Arc::default());
    let mut a = connect(addr);
    let mut b = connect(addr);
    for c in [&mut a, &mut b] {
        c.write_all(&echo(1, &[0])).unwrap();
        let _: (i32, SaslAuthenticateResponse) = read_response(c, ApiKey::SaslAuthenticate, 2);
    }
    let mut refused = connect(addr);
    assert_closed(&mut refused);
    assert_eq!(server.quotas().total(), 2);
    drop(a);
    let deadline = Instant::now() + TIMEOUT;
    while server.quotas().total() != 1 {
        assert!(Instant::now() < deadline, "slot not released");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut c = connect(addr);
    c.write_all(&echo(2, &[0])).unwrap();
    let (cid, _): (i32, SaslAuthenticateResponse) =
        read_response(&mut c, ApiKey::SaslAuthenticate, 2);
    assert_eq!(cid, 2);
    server.shutdown();
}

#[test]
fn idle_connections_are_closed() {
    let config = SocketServerConfig {
        connections_max_idle: Some(Duration::from_millis(200)),
        ..SocketServerConfig::default()
    };
    let (server, addr) = start(config, Arc::default());
    let mut c = connect(addr);
    assert_closed(&mut c);
    server.shutdown();
}

#[test]
fn unknown_api_keys_and_versions_close_only_that_connection() {
    let (server, addr) = start(SocketServerConfig::default(), Arc::default());
    let mut good = connect(addr);
    let mut bad_key = connect(addr);
    let mut wire = frame(ApiKey::ApiVersions, 3, 1, &ApiVersionsRequest::default());
    wire[4..6].copy_from_slice(&999i16.to_be_bytes());
    bad_key.write_all(&wire).unwrap();
    assert_closed(&mut bad_key);
    let mut bad_version = connect(addr);
    bad_version
        .write_all(&frame(
            ApiKey::Fetch,
            3,
            1,
            &kafka_protocol::messages::FetchRequest::default(),
        ))
        .unwrap();
    assert_closed(&mut bad_version);
    let mut garbage = connect(addr);
    garbage
        .write_all(&[0, 0, 0, 6, 0, 18, 0, 3, 0xff, 0xff])
        .unwrap();
    assert_closed(&mut garbage);
    good.write_all(&echo(5, &[0])).unwrap();
    let (cid, _): (i32, SaslAuthenticateResponse) =
        read_response(&mut good, ApiKey::SaslAuthenticate, 2);
    assert_eq!(cid, 5);
    server.shutdown();
}

#[test]
fn api_versions_newer_than_ours_gets_a_v0_unsupported_version_answer() {
    let (server, addr) = start(SocketServerConfig::default(), Arc::default());
    let mut c = connect(addr);
    let mut wire = frame(ApiKey::ApiVersions, 3, 42, &ApiVersionsRequest::default());
    wire[6..8].copy_from_slice(&99i16.to_be_bytes());
    c.write_all(&wire).unwrap();
    let (cid, resp): (i32, ApiVersionsResponse) = read_response(&mut c, ApiKey::ApiVersions, 0);
    assert_eq!(cid, 42);
    assert_eq!(resp.error_code, ErrorCode::UnsupportedVersion.code());
    let av = resp
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::ApiVersions.id())
        .unwrap();
    assert_eq!((av.min_version, av.max_version), (0, 4));
    server.shutdown();
}

#[test]
fn each_listener_serves_only_its_own_table() {
    let mut config = SocketServerConfig::default();
    config.listeners[0].port = 0;
    let mut controller = config.listeners[0].clone();
    controller.name = "CONTROLLER".into();
    config.listeners.push(controller);
    let only_versions = AdvertisedApis::new([(ApiKey::ApiVersions, VersionRange::new(0, 4))]);
    let tables = ListenerApis::new(apis()).with_listener("CONTROLLER", only_versions);
    let handler: Arc<TestHandler> = Arc::default();
    let server = SocketServer::start(config, tables, handler, HashMap::new()).unwrap();
    let client_addr = server.bound_address("PLAINTEXT").unwrap();
    let controller_addr = server.bound_address("CONTROLLER").unwrap();

    let mut refused = connect(controller_addr);
    refused.write_all(&echo(1, &[0])).unwrap();
    assert_closed(&mut refused);
    let mut versions = connect(controller_addr);
    versions
        .write_all(&frame(
            ApiKey::ApiVersions,
            3,
            2,
            &ApiVersionsRequest::default(),
        ))
        .unwrap();
    let (cid, _): (i32, ApiVersionsResponse) = read_response(&mut versions, ApiKey::ApiVersions, 3);
    assert_eq!(cid, 2);
    let mut served = connect(client_addr);
    served.write_all(&echo(3, &[0])).unwrap();
    let (cid, _): (i32, SaslAuthenticateResponse) =
        read_response(&mut served, ApiKey::SaslAuthenticate, 2);
    assert_eq!(cid, 3);
    server.shutdown();
}

#[test]
fn produce_v2_is_refused_in_a_response() {
    let (server, addr) = start(SocketServerConfig::default(), Arc::default());
    let mut c = connect(addr);
    let req = ProduceRequest::default().with_acks(1).with_topic_data(vec![
        kafka_protocol::messages::produce_request::TopicProduceData::default()
            .with_name("t".into())
            .with_partition_data(vec![
                kafka_protocol::messages::produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Default::default())),
            ]),
    ]);
    c.write_all(&frame(ApiKey::Produce, 2, 9, &req)).unwrap();
    let (cid, resp): (i32, ProduceResponse) = read_response(&mut c, ApiKey::Produce, 2);
    assert_eq!(cid, 9);
    assert_eq!(
        resp.responses[0].partition_responses[0].error_code,
        ErrorCode::UnsupportedVersion.code()
    );
    server.shutdown();
}

#[test]
fn shutdown_completes_with_clients_connected() {
    let (server, addr) = start(SocketServerConfig::default(), Arc::default());
    let clients: Vec<TcpStream> = (0..50).map(|_| connect(addr)).collect();
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    server.shutdown();
    assert!(start.elapsed() < TIMEOUT);
    for mut c in clients {
        assert_closed(&mut c);
    }
}
