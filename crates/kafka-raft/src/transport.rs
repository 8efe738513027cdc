//! [`PeerTransport`]: raft messages to the other voters over plain blocking TCP, one thread
//! and one connection per peer.
//!
//! Each peer has a bounded queue; [`PeerTransport::send`] never blocks and drops the message
//! when the queue is full (raft resends what matters). The peer's thread connects lazily,
//! writes queued messages in batches as raft frames (see [`crate::wire`]), reads one
//! acknowledgement per frame, and on any failure drops the connection and what is queued,
//! reports the peer unreachable, and reconnects with exponential backoff. Outcomes raft needs
//! (unreachable peers, snapshot messages sent or lost) come back on
//! [`PeerTransport::reports`] for the owner to feed to [`crate::RaftNode::report_unreachable`]
//! and [`crate::RaftNode::report_snapshot`].

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::BytesMut;
use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::error::{Error, Result};
use crate::node::Outbound;
use crate::wire::{decode_raft_message_response, encode_raft_message_request, Voter};

/// The transport's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportConfig {
    /// This node's id (skipped among the voters, and named in the client id).
    pub node_id: u64,
    /// The cluster id every message carries (receivers refuse another cluster's).
    pub cluster_id: String,
    /// Messages queued per peer before new ones are dropped.
    pub queue_capacity: usize,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// How long a write or an acknowledgement may take before the connection is dropped.
    pub io_timeout: Duration,
    /// The first wait before reconnecting (Kafka's `reconnect.backoff.ms`).
    pub backoff: Duration,
    /// The longest wait before reconnecting (Kafka's `reconnect.backoff.max.ms`).
    pub backoff_max: Duration,
}

impl TransportConfig {
    /// Defaults: 1024 queued messages, 1 s to connect, 5 s per write or ack, backoff from
    /// 50 ms to 1 s.
    pub fn new(node_id: u64) -> Self {
        TransportConfig {
            node_id,
            cluster_id: String::new(),
            queue_capacity: 1024,
            connect_timeout: Duration::from_secs(1),
            io_timeout: Duration::from_secs(5),
            backoff: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
        }
    }
}

/// What a peer thread tells the owner, to pass on to the raft node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerReport {
    /// Messages to this peer could not be delivered.
    Unreachable(u64),
    /// A snapshot message to this peer was delivered.
    SnapshotSent(u64),
    /// A snapshot message to this peer was dropped.
    SnapshotFailed(u64),
}

/// The most frames written before their acknowledgements are read.
const BATCH: usize = 64;
/// The largest acknowledgement frame accepted (they are a few bytes).
const MAX_ACK_BYTES: usize = 64 * 1024;

struct Peer {
    tx: Sender<Outbound>,
    stream: Arc<Mutex<Option<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

/// Connections to the other voters; see the module documentation.
pub struct PeerTransport {
    peers: HashMap<u64, Peer>,
    reports_tx: Sender<PeerReport>,
    reports: Receiver<PeerReport>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for PeerTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<_> = self.peers.keys().collect();
        ids.sort_unstable();
        f.debug_struct("PeerTransport")
            .field("peers", &ids)
            .finish_non_exhaustive()
    }
}

impl PeerTransport {
    /// Starts one thread per voter other than `config.node_id`.
    pub fn start(config: TransportConfig, voters: &[Voter]) -> Result<Self> {
        let (reports_tx, reports) = unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let mut peers = HashMap::new();
        for v in voters.iter().filter(|v| v.id != config.node_id) {
            let (tx, rx) = bounded(config.queue_capacity.max(1));
            let stream = Arc::new(Mutex::new(None));
            let worker = Worker {
                config: config.clone(),
                peer: v.clone(),
                rx,
                reports: reports_tx.clone(),
                stream: Arc::clone(&stream),
                stop: Arc::clone(&stop),
                correlation_id: 0,
                buf: BytesMut::new(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("raft-peer-{}", v.id))
                .spawn(move || worker.run())
                .map_err(|e| Error::io("spawn a peer thread", "", e))?;
            peers.insert(
                v.id,
                Peer {
                    tx,
                    stream,
                    thread: Some(thread),
                },
            );
        }
        Ok(PeerTransport {
            peers,
            reports_tx,
            reports,
            stop,
        })
    }

    /// Queues a message for its peer without blocking; returns false if it was dropped (an
    /// unknown peer or a full queue). A dropped snapshot is reported as failed.
    pub fn send(&self, msg: Outbound) -> bool {
        let (to, snapshot) = (msg.to, msg.snapshot);
        let Some(peer) = self.peers.get(&to) else {
            tracing::debug!(to, "raft message for an unknown peer dropped");
            return false;
        };
        match peer.tx.try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                if snapshot {
                    let _ = self.reports_tx.send(PeerReport::SnapshotFailed(to));
                }
                let _ = self.reports_tx.send(PeerReport::Unreachable(to));
                false
            }
        }
    }

    /// Outcomes to feed back into the raft node.
    pub fn reports(&self) -> &Receiver<PeerReport> {
        &self.reports
    }

    /// Stops every peer thread (closing their connections) and waits for them.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let mut threads = Vec::new();
        for (_, mut peer) in self.peers.drain() {
            drop(peer.tx);
            if let Ok(guard) = peer.stream.lock() {
                if let Some(s) = guard.as_ref() {
                    let _ = s.shutdown(Shutdown::Both);
                }
            }
            threads.extend(peer.thread.take());
        }
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for PeerTransport {
    fn drop(&mut self) {
        self.stop_all();
    }
}

struct Worker {
    config: TransportConfig,
    peer: Voter,
    rx: Receiver<Outbound>,
    reports: Sender<PeerReport>,
    stream: Arc<Mutex<Option<TcpStream>>>,
    stop: Arc<AtomicBool>,
    correlation_id: i32,
    buf: BytesMut,
}

impl Worker {
    fn run(mut self) {
        let mut backoff = self.config.backoff;
        // Wait for something to send before connecting.
        let Ok(mut first) = self.rx.recv() else {
            return;
        };
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            match self.connect() {
                Ok(stream) => {
                    backoff = self.config.backoff;
                    match self.serve(stream, first) {
                        Some(next) => first = next,
                        None => return,
                    }
                }
                Err(e) => {
                    tracing::debug!(peer = self.peer.id, error = %e, "raft peer connect failed");
                    self.fail(&first);
                    // Wait out the backoff, dropping what arrives meanwhile (it would be stale).
                    let deadline = std::time::Instant::now() + backoff;
                    loop {
                        let left = deadline.saturating_duration_since(std::time::Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        match self.rx.recv_timeout(left) {
                            Ok(m) => self.fail(&m),
                            Err(RecvTimeoutError::Timeout) => break,
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                    backoff = (backoff * 2).min(self.config.backoff_max);
                    first = match self.rx.recv() {
                        Ok(m) => m,
                        Err(_) => return,
                    };
                }
            }
        }
    }

    fn fail(&self, msg: &Outbound) {
        if msg.snapshot {
            let _ = self.reports.send(PeerReport::SnapshotFailed(msg.to));
        }
        let _ = self.reports.send(PeerReport::Unreachable(msg.to));
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        let addrs = (self.peer.host.as_str(), self.peer.port).to_socket_addrs()?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.config.connect_timeout) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    s.set_read_timeout(Some(self.config.io_timeout))?;
                    s.set_write_timeout(Some(self.config.io_timeout))?;
                    if let Ok(mut guard) = self.stream.lock() {
                        *guard = Some(s.try_clone()?);
                    }
                    tracing::debug!(peer = self.peer.id, %addr, "raft peer connected");
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address for the peer")
        }))
    }

    /// Sends until the queue closes (None) or the connection fails (Some(the next message
    /// to try after reconnecting)).
    fn serve(&mut self, mut stream: TcpStream, first: Outbound) -> Option<Outbound> {
        let mut batch = vec![first];
        loop {
            while batch.len() < BATCH {
                match self.rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            if let Err(e) = self.exchange(&mut stream, &batch) {
                tracing::debug!(peer = self.peer.id, error = %e, "raft peer connection failed");
                for m in &batch {
                    self.fail(m);
                }
                let _ = stream.shutdown(Shutdown::Both);
                if let Ok(mut guard) = self.stream.lock() {
                    *guard = None;
                }
                // Stale messages queued while the connection died are dropped too.
                while let Ok(m) = self.rx.try_recv() {
                    self.fail(&m);
                }
                return self.rx.recv().ok();
            }
            for m in batch.drain(..) {
                if m.snapshot {
                    let _ = self.reports.send(PeerReport::SnapshotSent(m.to));
                }
            }
            match self.rx.recv() {
                Ok(m) => batch.push(m),
                Err(_) => return None,
            }
        }
    }

    /// Writes the batch's frames and reads their acknowledgements.
    fn exchange(&mut self, stream: &mut TcpStream, batch: &[Outbound]) -> Result<()> {
        let client_id = format!("raft-{}", self.config.node_id);
        self.buf.clear();
        let first_id = self.correlation_id;
        for m in batch {
            encode_raft_message_request(
                self.correlation_id,
                &client_id,
                &self.config.cluster_id,
                &m.data,
                &mut self.buf,
            )?;
            self.correlation_id = self.correlation_id.wrapping_add(1);
        }
        let io = |e| {
            Error::io(
                "send to raft peer",
                format!("{}:{}", self.peer.host, self.peer.port),
                e,
            )
        };
        stream.write_all(&self.buf).map_err(io)?;
        for i in 0..batch.len() {
            let mut len = [0u8; 4];
            stream.read_exact(&mut len).map_err(io)?;
            let len = i32::from_be_bytes(len);
            let len = usize::try_from(len)
                .ok()
                .filter(|l| *l <= MAX_ACK_BYTES)
                .ok_or_else(|| Error::Frame(format!("acknowledgement length {len}")))?;
            let mut frame = vec![0u8; len];
            stream.read_exact(&mut frame).map_err(io)?;
            let (cid, code) = decode_raft_message_response(frame.into())?;
            let expected = first_id.wrapping_add(i as i32);
            if cid != expected {
                return Err(Error::Frame(format!(
                    "acknowledgement for {cid}, expected {expected}"
                )));
            }
            if code != 0 {
                tracing::debug!(peer = self.peer.id, code, "raft peer refused a message");
            }
        }
        Ok(())
    }
}
