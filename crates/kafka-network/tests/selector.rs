//! Loopback tests of the Selector: frame assembly across partial reads, many frames in one
//! write, bad sizes, resets, idle expiry, muting and a full memory pool. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_network::{
    ChannelMuteEvent, ConnectionId, DisconnectReason, MemoryPool, NetworkSend, Selector,
    SelectorConfig,
};

const DEADLINE: Duration = Duration::from_secs(10);

struct Server {
    listener: TcpListener,
    selector: Selector,
    next: usize,
}

impl Server {
    fn new(config: SelectorConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Server {
            listener,
            selector: Selector::new(config).unwrap(),
            next: 0,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// Accepts one pending connection, returning its id.
    fn accept(&mut self) -> ConnectionId {
        let start = Instant::now();
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(true).unwrap();
                    self.next += 1;
                    return self
                        .selector
                        .register(mio::net::TcpStream::from_std(s))
                        .unwrap();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(start.elapsed() < DEADLINE, "no connection to accept");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Polls until `n` receives arrived (returned) or the deadline passes.
    fn receive(&mut self, n: usize) -> Vec<(ConnectionId, Bytes)> {
        let mut got = Vec::new();
        let start = Instant::now();
        while got.len() < n && start.elapsed() < DEADLINE {
            self.selector.poll(Some(Duration::from_millis(20))).unwrap();
            got.extend(self.selector.completed_receives());
        }
        got
    }

    fn wait_disconnect(&mut self) -> Vec<(ConnectionId, DisconnectReason)> {
        let start = Instant::now();
        loop {
            self.selector.poll(Some(Duration::from_millis(20))).unwrap();
            let d: Vec<_> = self.selector.disconnected().collect();
            if !d.is_empty() {
                return d;
            }
            assert!(start.elapsed() < DEADLINE, "no disconnection");
        }
    }
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

#[test]
fn frames_written_one_byte_at_a_time() {
    let mut server = Server::new(SelectorConfig::default());
    let mut c = client(server.addr());
    let id = server.accept();
    let wire = frame(b"partial frames are reassembled");
    for b in &wire {
        c.write_all(std::slice::from_ref(b)).unwrap();
        server
            .selector
            .poll(Some(Duration::from_millis(1)))
            .unwrap();
        if let Some((rid, payload)) = server.selector.completed_receives().next() {
            assert_eq!(rid, id);
            assert_eq!(&payload[..], b"partial frames are reassembled");
            return;
        }
    }
    let got = server.receive(1);
    assert_eq!(&got[0].1[..], b"partial frames are reassembled");
}

#[test]
fn many_frames_in_one_write_arrive_one_per_poll_in_order() {
    let mut server = Server::new(SelectorConfig::default());
    let mut c = client(server.addr());
    server.accept();
    let mut wire = Vec::new();
    for i in 0..50u32 {
        wire.extend(frame(&i.to_be_bytes()));
    }
    c.write_all(&wire).unwrap();
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < 50 && start.elapsed() < DEADLINE {
        server
            .selector
            .poll(Some(Duration::from_millis(20)))
            .unwrap();
        let batch: Vec<_> = server.selector.completed_receives().collect();
        assert!(batch.len() <= 1, "at most one receive per channel per poll");
        got.extend(batch);
    }
    let values: Vec<u32> = got
        .iter()
        .map(|(_, p)| u32::from_be_bytes(p[..4].try_into().unwrap()))
        .collect();
    assert_eq!(values, (0..50).collect::<Vec<_>>());
}

#[test]
fn oversize_and_negative_sizes_close_only_that_channel() {
    let config = SelectorConfig {
        max_receive_size: 1024,
        ..SelectorConfig::default()
    };
    let mut server = Server::new(config);
    let mut good = client(server.addr());
    let good_id = server.accept();
    let mut big = client(server.addr());
    let big_id = server.accept();
    let mut neg = client(server.addr());
    let neg_id = server.accept();
    big.write_all(&2048i32.to_be_bytes()).unwrap();
    neg.write_all(&(-5i32).to_be_bytes()).unwrap();
    let mut closed = Vec::new();
    let start = Instant::now();
    while closed.len() < 2 && start.elapsed() < DEADLINE {
        server
            .selector
            .poll(Some(Duration::from_millis(20)))
            .unwrap();
        closed.extend(server.selector.disconnected());
    }
    closed.sort_by_key(|c| c.0);
    assert_eq!(closed.len(), 2);
    assert_eq!(closed[0].0, big_id);
    assert!(
        matches!(&closed[0].1, DisconnectReason::Error(m) if m.contains("exceeds")),
        "{closed:?}"
    );
    assert_eq!(closed[1].0, neg_id);
    assert!(matches!(&closed[1].1, DisconnectReason::Error(m) if m.contains("negative")));
    good.write_all(&frame(b"still here")).unwrap();
    let got = server.receive(1);
    assert_eq!(got[0].0, good_id);
    assert_eq!(&got[0].1[..], b"still here");
}

#[test]
fn peer_reset_mid_frame_is_a_disconnection() {
    let mut server = Server::new(SelectorConfig::default());
    let mut c = client(server.addr());
    let id = server.accept();
    c.write_all(&[0, 0, 0, 100, 1, 2, 3]).unwrap();
    server
        .selector
        .poll(Some(Duration::from_millis(20)))
        .unwrap();
    drop(c);
    let d = server.wait_disconnect();
    assert_eq!(d, vec![(id, DisconnectReason::PeerClosed)]);
    assert_eq!(server.selector.num_channels(), 0);
}

#[test]
fn idle_channels_expire() {
    let config = SelectorConfig {
        connections_max_idle: Some(Duration::from_millis(100)),
        ..SelectorConfig::default()
    };
    let mut server = Server::new(config);
    let _c = client(server.addr());
    let id = server.accept();
    let start = Instant::now();
    let d = server.wait_disconnect();
    assert_eq!(d, vec![(id, DisconnectReason::Idle)]);
    assert!(start.elapsed() >= Duration::from_millis(100));
}

#[test]
fn a_muted_channel_is_not_read_until_unmuted() {
    let mut server = Server::new(SelectorConfig::default());
    let mut c = client(server.addr());
    let id = server.accept();
    c.write_all(&frame(b"one")).unwrap();
    let got = server.receive(1);
    assert_eq!(&got[0].1[..], b"one");
    server.selector.mute(id).unwrap();
    assert!(server
        .selector
        .mute_event(id, ChannelMuteEvent::RequestReceived)
        .unwrap());
    c.write_all(&frame(b"two")).unwrap();
    for _ in 0..10 {
        server
            .selector
            .poll(Some(Duration::from_millis(10)))
            .unwrap();
        assert_eq!(
            server.selector.completed_receives().count(),
            0,
            "read while muted"
        );
    }
    assert!(
        !server.selector.unmute(id).unwrap(),
        "response pending keeps it muted"
    );
    // Answer, then unmute: the waiting frame is read although no new data arrives.
    server
        .selector
        .send(
            id,
            NetworkSend::from_payload(Bytes::from_static(b"answer")).unwrap(),
        )
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        server
            .selector
            .poll(Some(Duration::from_millis(10)))
            .unwrap();
        if server.selector.completed_sends().count() == 1 {
            break;
        }
    }
    assert!(server
        .selector
        .mute_event(id, ChannelMuteEvent::ResponseSent)
        .unwrap());
    assert!(server.selector.unmute(id).unwrap());
    let got = server.receive(1);
    assert_eq!(&got[0].1[..], b"two");
    let mut answer = [0u8; 10];
    std::io::Read::read_exact(&mut c, &mut answer).unwrap();
    assert_eq!(&answer, b"\0\0\0\x06answer");
}

#[test]
fn a_full_memory_pool_holds_receives_until_memory_returns() {
    let pool = MemoryPool::bounded(64);
    let config = SelectorConfig {
        memory_pool: pool.clone(),
        ..SelectorConfig::default()
    };
    let mut server = Server::new(config);
    let mut c = client(server.addr());
    server.accept();
    c.write_all(&frame(&[1u8; 100])).unwrap();
    let first = server.receive(1);
    assert_eq!(
        first[0].1.len(),
        100,
        "non-strict pool: one large request still fits"
    );
    assert!(pool.is_out_of_memory());
    c.write_all(&frame(b"waits")).unwrap();
    for _ in 0..10 {
        server
            .selector
            .poll(Some(Duration::from_millis(10)))
            .unwrap();
        assert_eq!(
            server.selector.completed_receives().count(),
            0,
            "read with no memory"
        );
    }
    drop(first);
    let got = server.receive(1);
    assert_eq!(&got[0].1[..], b"waits");
}

#[test]
fn selector_to_selector_request_and_response() {
    let mut server = Server::new(SelectorConfig::default());
    let mut client_sel = Selector::new(SelectorConfig::default()).unwrap();
    let node = client_sel.connect(server.addr(), "localhost").unwrap();
    let sid = server.accept();
    let start = Instant::now();
    let mut connected = false;
    while !connected && start.elapsed() < DEADLINE {
        client_sel.poll(Some(Duration::from_millis(10))).unwrap();
        connected = client_sel.connected().any(|id| id == node);
    }
    assert!(connected);
    let payload = Bytes::from(vec![42u8; 3 << 20]);
    client_sel
        .send(node, NetworkSend::from_payload(payload.clone()).unwrap())
        .unwrap();
    let mut got = None;
    let start = Instant::now();
    while got.is_none() && start.elapsed() < DEADLINE {
        client_sel.poll(Some(Duration::from_millis(1))).unwrap();
        server
            .selector
            .poll(Some(Duration::from_millis(1)))
            .unwrap();
        got = server.selector.completed_receives().next();
    }
    let (rid, req) = got.expect("request arrives");
    assert_eq!(rid, sid);
    assert_eq!(req, payload);
    server
        .selector
        .send(
            sid,
            NetworkSend::from_payload(Bytes::from_static(b"ok")).unwrap(),
        )
        .unwrap();
    let mut resp = None;
    let start = Instant::now();
    while resp.is_none() && start.elapsed() < DEADLINE {
        server
            .selector
            .poll(Some(Duration::from_millis(1)))
            .unwrap();
        client_sel.poll(Some(Duration::from_millis(1))).unwrap();
        resp = client_sel.completed_receives().next();
    }
    assert_eq!(&resp.expect("response arrives").1[..], b"ok");
}

#[test]
fn connecting_to_a_closed_port_fails() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut sel = Selector::new(SelectorConfig::default()).unwrap();
    let n = sel.connect(port, "localhost").unwrap();
    let start = Instant::now();
    loop {
        sel.poll(Some(Duration::from_millis(10))).unwrap();
        let d: Vec<_> = sel.disconnected().collect();
        if let Some((id, reason)) = d.into_iter().next() {
            assert_eq!(id, n);
            assert!(
                matches!(reason, DisconnectReason::ConnectFailed(_)),
                "{reason:?}"
            );
            break;
        }
        assert!(start.elapsed() < DEADLINE);
    }
}

#[test]
fn a_waker_interrupts_poll() {
    let mut sel = Selector::new(SelectorConfig {
        connections_max_idle: None,
        ..SelectorConfig::default()
    })
    .unwrap();
    let waker = sel.waker();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        waker.wake().unwrap();
    });
    let start = Instant::now();
    sel.poll(Some(Duration::from_secs(20))).unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    t.join().unwrap();
}

#[test]
fn file_regions_go_out_with_sendfile_on_plaintext() {
    use kafka_network::{FileRegion, SendPart};
    use std::sync::Arc;
    let path = std::env::temp_dir().join(format!("kafka-network-sendfile-{}", std::process::id()));
    let content: Vec<u8> = (0..(3 << 20)).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let file = Arc::new(std::fs::File::open(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    let mut server = Server::new(SelectorConfig::default());
    let mut c = client(server.addr());
    let id = server.accept();
    let region = FileRegion {
        file,
        position: 1000,
        len: content.len() - 2000,
    };
    let send = NetworkSend::frame(vec![
        SendPart::Bytes(Bytes::from_static(b"hdr")),
        SendPart::File(region),
        SendPart::Bytes(Bytes::from_static(b"end")),
    ])
    .unwrap();
    server.selector.send(id, send).unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut len = [0u8; 4];
        std::io::Read::read_exact(&mut c, &mut len).unwrap();
        got.resize(u32::from_be_bytes(len) as usize, 0);
        std::io::Read::read_exact(&mut c, &mut got).unwrap();
        got
    });
    let start = Instant::now();
    let mut done = false;
    while !done && start.elapsed() < DEADLINE {
        server
            .selector
            .poll(Some(Duration::from_millis(5)))
            .unwrap();
        done = server.selector.completed_sends().count() == 1;
    }
    assert!(done, "send did not complete");
    let got = reader.join().unwrap();
    assert_eq!(&got[..3], b"hdr");
    assert_eq!(&got[3..got.len() - 3], &content[1000..content.len() - 1000]);
    assert_eq!(&got[got.len() - 3..], b"end");
    // sendfile: not one record byte was read into user space.
    assert_eq!(server.selector.file_bytes_copied(), 0);
}
