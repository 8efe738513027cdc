//! Three `RaftLoop`s over real TCP on 127.0.0.1: `PeerTransport` out, a tiny acceptor that
//! decodes raft frames in (standing in for the controller listener's `SocketServer`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod util;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_raft::wire::{
    decode_raft_message_frame, encode_raft_message_response, MAX_RAFT_FRAME_BYTES,
};
use kafka_raft::{
    parse_voters, LeaderState, PeerTransport, Proposed, RaftConfig, RaftHandle, RaftLoop,
    RaftLoopConfig, RaftNode, Role, StateMachine, TransportConfig,
};
use util::TempDir;

#[derive(Default)]
struct Shared {
    applied: Vec<String>,
    leader: Option<LeaderState>,
}

struct Sm(Arc<Mutex<Shared>>);

impl StateMachine for Sm {
    fn apply(&mut self, _index: u64, _term: u64, data: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .applied
            .push(String::from_utf8(data.to_vec()).unwrap());
    }
    fn snapshot(&mut self) -> Bytes {
        Bytes::from(self.0.lock().unwrap().applied.join("\n"))
    }
    fn restore(&mut self, _index: u64, data: &[u8]) {
        let text = String::from_utf8(data.to_vec()).unwrap();
        self.0.lock().unwrap().applied = text.lines().map(str::to_string).collect();
    }
    fn on_leader_change(&mut self, state: LeaderState) {
        self.0.lock().unwrap().leader = Some(state);
    }
}

/// Reads raft frames from one connection, hands them to the loop, acknowledges each.
fn serve_connection(mut stream: TcpStream, handle: RaftHandle, stop: Arc<AtomicBool>) {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut out = BytesMut::new();
    loop {
        let mut len = [0u8; 4];
        match stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                continue;
            }
            Err(_) => return,
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let len = i32::from_be_bytes(len);
        let Some(len) = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_RAFT_FRAME_BYTES)
        else {
            return;
        };
        let mut frame = vec![0u8; len];
        // A frame started is finished: wait through read timeouts.
        let mut got = 0;
        while got < len {
            match stream.read(&mut frame[got..]) {
                Ok(0) => return,
                Ok(n) => got += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return,
            }
        }
        let Ok((header, _cluster, msg)) = decode_raft_message_frame(Bytes::from(frame)) else {
            return;
        };
        handle.step(msg);
        out.clear();
        encode_raft_message_response(header.correlation_id, 0, &mut out).unwrap();
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

struct Member {
    id: u64,
    raft: Option<RaftLoop>,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Member {
    fn handle(&self) -> RaftHandle {
        self.raft.as_ref().unwrap().handle()
    }

    fn kill(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.raft.take() {
            r.shutdown();
        }
        if let Some(a) = self.acceptor.take() {
            a.join().unwrap();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

fn start_member(id: u64, listener: TcpListener, voters: &str, dir: &TempDir) -> Member {
    let voters = parse_voters(voters).unwrap();
    let ids: Vec<u64> = voters.iter().map(|v| v.id).collect();
    let node = RaftNode::open(RaftConfig::new(id, ids, dir.node(id))).unwrap();
    let transport = PeerTransport::start(TransportConfig::new(id), &voters).unwrap();
    let shared = Arc::new(Mutex::new(Shared::default()));
    let raft = RaftLoop::spawn(
        node,
        transport,
        Sm(Arc::clone(&shared)),
        RaftLoopConfig::default(),
    )
    .unwrap();
    let handle = raft.handle();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    listener.set_nonblocking(true).unwrap();
    let acceptor = std::thread::spawn(move || {
        let mut conns = Vec::new();
        while !stop2.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    let (h, st) = (handle.clone(), Arc::clone(&stop2));
                    conns.push(std::thread::spawn(move || serve_connection(s, h, st)));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => break,
            }
        }
        drop(listener);
        for c in conns {
            let _ = c.join();
        }
    });
    Member {
        id,
        raft: Some(raft),
        shared,
        stop,
        acceptor: Some(acceptor),
    }
}

fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

/// The member all live members agree leads, once they do.
fn wait_leader(members: &[Member]) -> u64 {
    let mut leader = 0;
    wait_for("a leader", Duration::from_secs(20), || {
        let live: Vec<&Member> = members.iter().filter(|m| m.raft.is_some()).collect();
        let statuses: Vec<_> = live.iter().map(|m| m.handle().status().unwrap()).collect();
        let Some(l) = statuses[0].leader else {
            return false;
        };
        let agreed = statuses
            .iter()
            .all(|s| s.leader == Some(l) && s.term == statuses[0].term);
        let is_live = live.iter().any(|m| m.id == l);
        leader = l;
        agreed && is_live
    });
    leader
}

fn propose(m: &Member, data: &str) -> Result<Proposed, kafka_raft::Error> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    m.handle().propose(
        Bytes::from(data.to_string()),
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

#[test]
fn three_nodes_over_tcp_elect_a_leader_commit_and_fail_over() {
    let dir = TempDir::new("tcp");
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let voters = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{}@127.0.0.1:{}", i + 1, l.local_addr().unwrap().port()))
        .collect::<Vec<_>>()
        .join(",");
    let mut members: Vec<Member> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, l)| start_member(i as u64 + 1, l, &voters, &dir))
        .collect();

    let leader = wait_leader(&members);
    let lm = &members[leader as usize - 1];
    for i in 0..5 {
        let p = propose(lm, &format!("m{i}")).unwrap();
        assert!(p.index > 0);
    }
    let follower = members.iter().find(|m| m.id != leader).unwrap();
    assert!(matches!(
        propose(follower, "refused"),
        Err(kafka_raft::Error::NotLeader { leader: Some(l) }) if l == leader
    ));
    let expected: Vec<String> = (0..5).map(|i| format!("m{i}")).collect();
    wait_for("every member to apply", Duration::from_secs(10), || {
        members
            .iter()
            .all(|m| m.shared.lock().unwrap().applied == expected)
    });
    let ls = members[leader as usize - 1].shared.lock().unwrap().leader;
    assert_eq!(ls.map(|l| l.role), Some(Role::Leader));

    // DescribeQuorum from the leader: every voter soon matched and heard from recently
    // (the followers' acknowledgements may still be in flight when they have applied).
    wait_for(
        "the leader to see every voter matched",
        Duration::from_secs(5),
        || {
            let status = members[leader as usize - 1].handle().status().unwrap();
            assert_eq!(status.voters.len(), 3);
            status.voters.iter().all(|v| {
                v.match_index == Some(status.commit_index)
                    && v.ticks_since_contact.is_some_and(|t| t <= 5)
            })
        },
    );

    // The leader dies: the other two elect a new one and go on committing.
    let old_addr = format!(
        "127.0.0.1:{}",
        parse_voters(&voters).unwrap()[leader as usize - 1].port
    );
    members[leader as usize - 1].kill();
    let new = wait_leader(&members);
    assert_ne!(new, leader);
    propose(&members[new as usize - 1], "after failover").unwrap();
    wait_for("the survivors to apply", Duration::from_secs(10), || {
        members
            .iter()
            .filter(|m| m.raft.is_some())
            .all(|m| m.shared.lock().unwrap().applied.len() == 6)
    });

    // It comes back on the same address with its directory: peers reconnect, it recovers
    // from disk and catches up with what it missed.
    let listener = TcpListener::bind(&old_addr).unwrap();
    members[leader as usize - 1] = start_member(leader, listener, &voters, &dir);
    wait_for(
        "the old leader to catch up",
        Duration::from_secs(20),
        || {
            members[leader as usize - 1]
                .shared
                .lock()
                .unwrap()
                .applied
                .len()
                == 6
        },
    );
    assert_eq!(
        wait_leader(&members),
        new,
        "a rejoining node disturbed the leader"
    );
}
