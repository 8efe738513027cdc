//! A closed-loop ApiVersions load generator for the `api_versions_server` example.
//!
//! For each connection count N of `--connections` it starts a fresh server process, opens N
//! loopback connections from a few client threads (non-blocking mio sockets, connected in
//! batches so the listen backlog is never overrun), lets every connection send one ApiVersions
//! v3 request at a time (the next as soon as the response is in), warms up, measures for
//! `--duration-secs`, and reports requests/s, latency percentiles and the server's peak RSS.
//!
//! ```sh
//! cargo build --release -p kafka-server --examples
//! target/release/examples/loadgen --connections 1,100,5000 --duration-secs 10
//! ```
//!
//! Everything is bounded: setup has a deadline, each phase runs for a fixed time, latencies go
//! into a fixed-size log-linear histogram (at most 0.1 % relative error), and the server is
//! stopped (stdin closed, then killed after a timeout) whatever happens.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use clap::Parser;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::{ApiKey, Decodable, Encodable, RequestHeader};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, BoxError>;

/// The ApiVersions version every request uses (flexible: request header v2).
const API_VERSION: i16 = 3;
/// Where the correlation id sits in a request frame: size (4), api key (2), api version (2).
const CORRELATION_OFFSET: usize = 8;
/// File descriptors the load generator needs besides its sockets (stdio, pipes, epoll, ...).
const FD_MARGIN: u64 = 64;

#[derive(Debug, Parser)]
#[command(about = "Closed-loop ApiVersions load against the api_versions_server example")]
struct Args {
    /// Connection counts to test, each against a fresh server process.
    #[arg(long, value_delimiter = ',', default_value = "1,100,5000")]
    connections: Vec<usize>,
    /// Length of the measured window of each run.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Load applied after every connection is up and before measuring.
    #[arg(long, default_value_t = 3)]
    warmup_secs: u64,
    /// The server binary (default: `api_versions_server` next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Client threads, each with its own mio Poll (never more than the connections).
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// The server's `num.network.threads`.
    #[arg(long, default_value_t = 3)]
    network_threads: usize,
    /// The server's `num.io.threads`.
    #[arg(long, default_value_t = 8)]
    io_threads: usize,
    /// The server's `socket.listen.backlog.size`.
    #[arg(long, default_value_t = 1024)]
    backlog: i32,
    /// Connections opened at once (across all client threads, at most `--backlog`); the next
    /// batch starts when every connection of the previous one has completed a round trip.
    #[arg(long, default_value_t = 256)]
    connect_batch: usize,
    /// Deadline for opening all connections of a run.
    #[arg(long, default_value_t = 120)]
    setup_timeout_secs: u64,
}

// ---------------------------------------------------------------------------------------------
// Latency histogram
// ---------------------------------------------------------------------------------------------

/// A log-linear histogram of nanoseconds: exact below 2 * SUB, then SUB buckets per power of
/// two (relative error below 1 / SUB). Fixed size, so recording never allocates.
#[derive(Debug, Clone)]
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

const SUB_BITS: u32 = 10;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = (2 * SUB + (63 - SUB_BITS as u64) * SUB) as usize;

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < 2 * SUB {
            v as usize
        } else {
            let msb = 63 - v.leading_zeros();
            let shift = msb - SUB_BITS;
            let top = v >> shift;
            (2 * SUB + u64::from(shift - 1) * SUB + (top - SUB)) as usize
        }
    }

    /// The smallest and largest value of bucket `i`.
    fn range(i: usize) -> (u64, u64) {
        let i = i as u64;
        if i < 2 * SUB {
            (i, i)
        } else {
            let k = i - 2 * SUB;
            let shift = k / SUB + 1;
            let top = k % SUB + SUB;
            let hi = ((u128::from(top) + 1) << shift) - 1;
            (top << shift, u64::try_from(hi).unwrap_or(u64::MAX))
        }
    }

    fn record(&mut self, nanos: u64) {
        self.counts[Self::index(nanos)] += 1;
        self.total += 1;
        self.min = self.min.min(nanos);
        self.max = self.max.max(nanos);
        self.sum += u128::from(nanos);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// The value at quantile `q` (0..=1): the midpoint of its bucket, within [min, max].
    fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = Self::range(i);
                return (lo + (hi - lo) / 2).clamp(self.min, self.max);
            }
        }
        self.max
    }

    fn mean(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            (self.sum / u128::from(self.total)) as u64
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

/// The server child: stopped by closing its stdin, killed if it does not exit in time.
struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
}

impl ServerProcess {
    fn spawn(bin: &Path, args: &Args) -> Result<Self> {
        let mut child = Command::new(bin)
            .args(["--port", "0"])
            .args(["--network-threads", &args.network_threads.to_string()])
            .args(["--io-threads", &args.io_threads.to_string()])
            .args(["--backlog", &args.backlog.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let (tx, rx) = crossbeam_channel::bounded::<String>(1);
        // Reads the address line, then drains stdout until the server exits.
        std::thread::Builder::new()
            .name("server-stdout".into())
            .spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                if let Some(Ok(line)) = lines.next() {
                    let _ = tx.send(line);
                }
                for _ in lines {}
            })?;
        let mut server = ServerProcess {
            child,
            stdin,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "the server did not print `listening on ADDR` within 10 s")?;
        server.addr = line
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected first line from the server: {line:?}"))?
            .trim()
            .parse()
            .map_err(|e| format!("bad address in {line:?}: {e}"))?;
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes stdin, waits up to 15 s for a graceful exit, then kills.
    fn stop(&mut self) -> Option<ExitStatus> {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    eprintln!("server did not exit in 15 s; killing it");
                    let _ = self.child.kill();
                    return self.child.wait().ok();
                }
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// /proc helpers
// ---------------------------------------------------------------------------------------------

/// A `kB` field of `/proc/<pid>/status` (`VmHWM`, `VmRSS`, `Threads`), as a number.
fn proc_status(pid: &str, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// utime + stime of a process, in clock ticks.
fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The soft and hard `RLIMIT_NOFILE` from `/proc/self/limits`.
fn open_files_limit() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let parse = |s: Option<&str>| -> Option<u64> {
        match s? {
            "unlimited" => Some(u64::MAX),
            n => n.parse().ok(),
        }
    };
    Some((parse(fields.next())?, parse(fields.next())?))
}

// ---------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------

/// Run phases, shared by the main thread and the client threads.
const WARMING: u8 = 0;
const MEASURING: u8 = 1;
const STOPPING: u8 = 2;

#[derive(Debug)]
struct Shared {
    phase: AtomicU8,
    /// Connections that have completed their first round trip.
    ready: AtomicUsize,
}

/// An ApiVersions v3 request frame (size prefix included) with correlation id 0.
fn request_frame() -> Result<Vec<u8>> {
    let build = |correlation_id: i32| -> Result<Vec<u8>> {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::ApiVersions.id())
            .with_request_api_version(API_VERSION)
            .with_correlation_id(correlation_id)
            .with_client_id(Some("loadgen".into()));
        let body = ApiVersionsRequest::default()
            .with_client_software_name("kafka-rs-loadgen".into())
            .with_client_software_version("0.1.0".into());
        let mut buf = BytesMut::new();
        header.encode(
            &mut buf,
            ApiKey::ApiVersions.request_header_version(API_VERSION),
        )?;
        body.encode(&mut buf, API_VERSION)?;
        let mut frame = i32::try_from(buf.len())?.to_be_bytes().to_vec();
        frame.extend_from_slice(&buf);
        Ok(frame)
    };
    // The correlation id is patched in place per request: check where it is.
    let probe = build(0x0A0B_0C0D)?;
    if probe[CORRELATION_OFFSET..CORRELATION_OFFSET + 4] != [0x0A, 0x0B, 0x0C, 0x0D] {
        return Err("the correlation id is not where the request header should put it".into());
    }
    build(0)
}

struct Conn {
    stream: TcpStream,
    connected: bool,
    frame: Vec<u8>,
    written: usize,
    inbuf: Vec<u8>,
    correlation_id: i32,
    sent_at: Instant,
    /// Sent while measuring: its latency counts if it also completes while measuring.
    measured: bool,
    round_trips: u64,
}

impl Conn {
    fn open(addr: SocketAddr, frame: &[u8]) -> io::Result<Self> {
        Ok(Conn {
            stream: TcpStream::connect(addr)?,
            connected: false,
            frame: frame.to_vec(),
            // Nothing to write until `start_request`.
            written: frame.len(),
            inbuf: Vec::with_capacity(1024),
            correlation_id: 0,
            sent_at: Instant::now(),
            measured: false,
            round_trips: 0,
        })
    }

    /// Writes what is left of the current request.
    fn flush(&mut self) -> io::Result<()> {
        while self.connected && self.written < self.frame.len() {
            match self.stream.write(&self.frame[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn start_request(&mut self, now: Instant, measured: bool) -> io::Result<()> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        self.frame[CORRELATION_OFFSET..CORRELATION_OFFSET + 4]
            .copy_from_slice(&self.correlation_id.to_be_bytes());
        self.written = 0;
        self.sent_at = now;
        self.measured = measured;
        self.flush()
    }

    /// A writable event: completes the connect, then writes.
    fn on_writable(&mut self) -> io::Result<()> {
        if !self.connected {
            if let Some(e) = self.stream.take_error()? {
                return Err(e);
            }
            match self.stream.peer_addr() {
                Ok(_) => {
                    self.connected = true;
                    self.stream.set_nodelay(true)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        self.flush()
    }

    /// Reads until WouldBlock; returns the payload (after the size) of a complete response.
    fn on_readable(&mut self) -> io::Result<Option<Bytes>> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ))
                }
                Ok(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.inbuf.len() < 4 {
            return Ok(None);
        }
        let size = i32::from_be_bytes([self.inbuf[0], self.inbuf[1], self.inbuf[2], self.inbuf[3]]);
        let size = usize::try_from(size)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative frame size"))?;
        if self.inbuf.len() < 4 + size {
            return Ok(None);
        }
        if self.inbuf.len() > 4 + size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bytes after the response to the only request in flight",
            ));
        }
        let payload = Bytes::copy_from_slice(&self.inbuf[4..]);
        self.inbuf.clear();
        Ok(Some(payload))
    }
}

/// Checks a response payload: response header v0 (correlation id), then error_code first.
fn check_response(payload: &[u8], correlation_id: i32) -> io::Result<()> {
    if payload.len() < 6 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "short response"));
    }
    let got = i32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
    if got != correlation_id {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("correlation id {got}, expected {correlation_id}"),
        ));
    }
    let error = i16::from_be_bytes([payload[4], payload[5]]);
    if error != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("ApiVersions error code {error}"),
        ));
    }
    Ok(())
}

#[derive(Debug)]
struct WorkerResult {
    latencies: Histogram,
    /// Responses completed while measuring.
    completed_measuring: u64,
    /// Responses completed in the whole run.
    completed_total: u64,
    /// Connections lost after setup.
    errors: u64,
    first_error: Option<String>,
    /// From the first response, fully decoded: (API keys advertised, ApiVersions max version).
    advertised: Option<(usize, i16)>,
}

struct Worker {
    addr: SocketAddr,
    connections: usize,
    batch: usize,
    frame: Vec<u8>,
    shared: Arc<Shared>,
    setup_deadline: Instant,
}

impl Worker {
    fn run(self) -> Result<WorkerResult> {
        let mut poll = Poll::new()?;
        let mut events = Events::with_capacity(1024);
        let mut conns: Vec<Option<Conn>> = Vec::with_capacity(self.connections);
        let mut ready_local = 0usize;
        let mut result = WorkerResult {
            latencies: Histogram::new(),
            completed_measuring: 0,
            completed_total: 0,
            errors: 0,
            first_error: None,
            advertised: None,
        };
        loop {
            let phase = self.shared.phase.load(Ordering::Acquire);
            if phase == STOPPING {
                break;
            }
            let setting_up = conns.len() < self.connections || ready_local < conns.len();
            if setting_up && Instant::now() > self.setup_deadline {
                return Err(format!(
                    "setup deadline passed with {ready_local} of {} connections ready",
                    self.connections
                )
                .into());
            }
            // Open the next batch once the previous one has been served.
            if ready_local == conns.len() && conns.len() < self.connections {
                let n = self.batch.min(self.connections - conns.len());
                for _ in 0..n {
                    let token = Token(conns.len());
                    let mut conn = Conn::open(self.addr, &self.frame)
                        .map_err(|e| format!("connect {}: {e}", self.addr))?;
                    poll.registry().register(
                        &mut conn.stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    conns.push(Some(conn));
                }
            }
            if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(50))) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e.into());
            }
            for event in &events {
                let i = event.token().0;
                let Some(conn) = conns.get_mut(i).and_then(Option::as_mut) else {
                    continue;
                };
                let was_connected = conn.connected;
                let outcome = self.on_event(conn, event, phase, &mut result);
                match outcome {
                    Ok(done) => {
                        if !was_connected && conn.connected && conn.round_trips == 0 {
                            // Just connected: the first request goes out now.
                            if let Err(e) = conn.start_request(Instant::now(), false) {
                                return Err(format!("first write: {e}").into());
                            }
                        }
                        if done && conn.round_trips == 1 {
                            ready_local += 1;
                            self.shared.ready.fetch_add(1, Ordering::AcqRel);
                        }
                    }
                    Err(e) => {
                        if conn.round_trips == 0 || setting_up {
                            return Err(format!("connection {i} during setup: {e}").into());
                        }
                        result.errors += 1;
                        result.first_error.get_or_insert_with(|| e.to_string());
                        if let Some(mut dead) = conns[i].take() {
                            let _ = poll.registry().deregister(&mut dead.stream);
                        }
                    }
                }
            }
        }
        Ok(result)
    }

    /// Handles one event; returns whether a response completed.
    fn on_event(
        &self,
        conn: &mut Conn,
        event: &mio::event::Event,
        phase: u8,
        result: &mut WorkerResult,
    ) -> io::Result<bool> {
        if event.is_writable() || event.is_error() {
            conn.on_writable()?;
        }
        if !(event.is_readable() || event.is_read_closed() || event.is_error()) {
            return Ok(false);
        }
        let Some(payload) = conn.on_readable()? else {
            return Ok(false);
        };
        let now = Instant::now();
        check_response(&payload, conn.correlation_id)?;
        if result.advertised.is_none() {
            let mut body = payload.slice(4..);
            let decoded = ApiVersionsResponse::decode(&mut body, API_VERSION)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let own = decoded
                .api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions.id())
                .map_or(-1, |k| k.max_version);
            result.advertised = Some((decoded.api_keys.len(), own));
        }
        conn.round_trips += 1;
        result.completed_total += 1;
        // Only the current phase decides; a request started before measuring is not timed.
        let measuring = self.shared.phase.load(Ordering::Acquire) == MEASURING;
        if measuring {
            result.completed_measuring += 1;
            if conn.measured {
                let nanos = now.saturating_duration_since(conn.sent_at).as_nanos();
                result
                    .latencies
                    .record(u64::try_from(nanos).unwrap_or(u64::MAX));
            }
        }
        if phase != STOPPING {
            conn.start_request(now, measuring)?;
        }
        Ok(true)
    }
}

// ---------------------------------------------------------------------------------------------
// A run
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct RunReport {
    connections: usize,
    setup: Duration,
    window: Duration,
    completed: u64,
    latencies: Histogram,
    errors: u64,
    first_error: Option<String>,
    advertised: Option<(usize, i16)>,
    rss_start_kb: Option<u64>,
    rss_kb: Option<u64>,
    hwm_kb: Option<u64>,
    server_threads: Option<u64>,
    server_cpu: Option<f64>,
    loadgen_cpu: Option<f64>,
    load_before: String,
    load_after: String,
    exit: Option<ExitStatus>,
}

impl RunReport {
    fn rate(&self) -> f64 {
        self.completed as f64 / self.window.as_secs_f64()
    }
}

fn ms(nanos: u64) -> String {
    format!("{:.3}", nanos as f64 / 1e6)
}

fn mib(kb: Option<u64>) -> String {
    kb.map_or_else(|| "?".into(), |kb| format!("{:.1}", kb as f64 / 1024.0))
}

fn run(args: &Args, server_bin: &Path, connections: usize, frame: &[u8]) -> Result<RunReport> {
    let load_before = loadavg();
    let mut server = ServerProcess::spawn(server_bin, args)?;
    let pid = server.pid().to_string();
    let rss_start_kb = proc_status(&pid, "VmRSS");
    eprintln!(
        "-- {connections} connection(s): server pid {pid} on {}, RSS at start {} MiB",
        server.addr,
        mib(rss_start_kb)
    );

    let shared = Arc::new(Shared {
        phase: AtomicU8::new(WARMING),
        ready: AtomicUsize::new(0),
    });
    let threads = args.client_threads.clamp(1, connections.max(1));
    // Never more connects in flight than the listen backlog holds: beyond it the kernel drops
    // SYNs and the client retransmits them only after a second.
    let batch = args
        .connect_batch
        .min(usize::try_from(args.backlog).unwrap_or(1))
        .max(1);
    let per_batch = (batch / threads).max(1);
    let started = Instant::now();
    let setup_deadline = started + Duration::from_secs(args.setup_timeout_secs);
    let mut workers: Vec<JoinHandle<Result<WorkerResult>>> = Vec::new();
    for t in 0..threads {
        let share = connections / threads + usize::from(t < connections % threads);
        let worker = Worker {
            addr: server.addr,
            connections: share,
            batch: per_batch,
            frame: frame.to_vec(),
            shared: Arc::clone(&shared),
            setup_deadline,
        };
        workers.push(
            std::thread::Builder::new()
                .name(format!("loadgen-{t}"))
                .spawn(move || worker.run())?,
        );
    }

    let stop_and_join = |workers: Vec<JoinHandle<Result<WorkerResult>>>| {
        shared.phase.store(STOPPING, Ordering::Release);
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("a client thread panicked".into()))
            })
            .collect::<Vec<_>>()
    };

    // Setup: wait for every connection's first round trip (or a client thread's failure).
    while shared.ready.load(Ordering::Acquire) < connections {
        if workers.iter().any(JoinHandle::is_finished) || Instant::now() > setup_deadline {
            let results = stop_and_join(workers);
            let err = results
                .into_iter()
                .find_map(std::result::Result::err)
                .map_or_else(|| "setup timed out".to_string(), |e| e.to_string());
            return Err(format!("{connections} connections: {err}").into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let setup = started.elapsed();
    eprintln!(
        "   {connections} connection(s) up in {:.2} s; warming up for {} s",
        setup.as_secs_f64(),
        args.warmup_secs
    );
    std::thread::sleep(Duration::from_secs(args.warmup_secs));

    let ticks_before = proc_cpu_ticks(server.pid());
    let own_ticks_before = proc_cpu_ticks(std::process::id());
    let measure_start = Instant::now();
    shared.phase.store(MEASURING, Ordering::Release);
    std::thread::sleep(Duration::from_secs(args.duration_secs));
    shared.phase.store(STOPPING, Ordering::Release);
    let window = measure_start.elapsed();
    let ticks_after = proc_cpu_ticks(server.pid());
    let own_ticks_after = proc_cpu_ticks(std::process::id());
    // Read memory while every connection is still open.
    let rss_kb = proc_status(&pid, "VmRSS");
    let hwm_kb = proc_status(&pid, "VmHWM");
    let server_threads = proc_status(&pid, "Threads");
    let load_after = loadavg();

    let mut latencies = Histogram::new();
    let mut completed = 0;
    let mut errors = 0;
    let mut first_error = None;
    let mut advertised = None;
    for r in stop_and_join(workers) {
        let r = r?;
        latencies.merge(&r.latencies);
        completed += r.completed_measuring;
        errors += r.errors;
        first_error = first_error.or(r.first_error);
        advertised = advertised.or(r.advertised);
    }
    let exit = server.stop();
    let hz = clock_ticks_per_second() as f64;
    let cpu = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / hz / window.as_secs_f64()),
        _ => None,
    };
    let server_cpu = cpu(ticks_before, ticks_after);
    let loadgen_cpu = cpu(own_ticks_before, own_ticks_after);
    Ok(RunReport {
        connections,
        setup,
        window,
        completed,
        latencies,
        errors,
        first_error,
        advertised,
        rss_start_kb,
        rss_kb,
        hwm_kb,
        server_threads,
        server_cpu,
        loadgen_cpu,
        load_before,
        load_after,
        exit,
    })
}

fn print_report(r: &RunReport) {
    let h = &r.latencies;
    println!("connections:        {}", r.connections);
    println!("  setup:            {:.2} s", r.setup.as_secs_f64());
    println!(
        "  requests:         {} in {:.2} s = {:.0} requests/s",
        r.completed,
        r.window.as_secs_f64(),
        r.rate()
    );
    println!(
        "  latency (ms):     p50 {}  p99 {}  p99.9 {}  min {}  mean {}  max {}  ({} samples)",
        ms(h.quantile(0.50)),
        ms(h.quantile(0.99)),
        ms(h.quantile(0.999)),
        ms(if h.total == 0 { 0 } else { h.min }),
        ms(h.mean()),
        ms(h.max),
        h.total
    );
    println!(
        "  server memory:    peak RSS (VmHWM) {} MiB, RSS at end {} MiB, RSS at start {} MiB, {} threads",
        mib(r.hwm_kb),
        mib(r.rss_kb),
        mib(r.rss_start_kb),
        r.server_threads.map_or_else(|| "?".into(), |t| t.to_string())
    );
    let pct = |c: Option<f64>| c.map_or_else(|| "?".into(), |c| format!("{:.0} %", c * 100.0));
    println!(
        "  CPU (of one core): server {}, loadgen {}",
        pct(r.server_cpu),
        pct(r.loadgen_cpu)
    );
    println!(
        "  load average:     {} before, {} after",
        r.load_before, r.load_after
    );
    if let Some((keys, max)) = r.advertised {
        println!("  advertised:       {keys} API keys (ApiVersions up to v{max})");
    }
    if r.errors > 0 {
        println!(
            "  errors:           {} connection(s) lost, first: {}",
            r.errors,
            r.first_error.as_deref().unwrap_or("?")
        );
    }
    if let Some(status) = r.exit {
        if !status.success() {
            println!("  server exit:      {status}");
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.connections.is_empty() || args.connections.contains(&0) {
        return Err("--connections needs counts above zero".into());
    }
    let server_bin = match &args.server_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("api_versions_server"),
    };
    if !server_bin.is_file() {
        return Err(format!(
            "no server binary at {} (build it with `cargo build --release -p kafka-server --examples`, or pass --server-bin)",
            server_bin.display()
        )
        .into());
    }

    // Both processes (the server inherits our limits) need a descriptor per connection.
    let most = args.connections.iter().copied().max().unwrap_or(0) as u64;
    match open_files_limit() {
        Some((soft, hard)) if soft < most + FD_MARGIN => {
            let need = most + FD_MARGIN;
            let how = if hard >= need {
                format!("run `ulimit -n {need}` (or up to the hard limit {hard}) first")
            } else {
                format!(
                    "the hard limit {hard} is too low as well: raise it (as root: \
                     /etc/security/limits.conf, `prlimit`, or the container's nofile limit), \
                     or test fewer connections"
                )
            };
            return Err(format!(
                "{most} connections need at least {need} open files but the soft limit is \
                 {soft}; {how}"
            )
            .into());
        }
        Some(_) => {}
        None => eprintln!("cannot read /proc/self/limits; not checking the open-files limit"),
    }

    let frame = request_frame()?;
    eprintln!(
        "loadgen: server {}, {} client thread(s), server network/io threads {}/{}, backlog {}, \
         warm-up {} s, window {} s, {} CPU(s)",
        server_bin.display(),
        args.client_threads,
        args.network_threads,
        args.io_threads,
        args.backlog,
        args.warmup_secs,
        args.duration_secs,
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    let mut reports = Vec::new();
    for &n in &args.connections {
        let report = run(&args, &server_bin, n, &frame)?;
        print_report(&report);
        reports.push(report);
    }

    println!();
    let pct = |c: Option<f64>| c.map_or_else(|| "?".into(), |c| format!("{:.0} %", c * 100.0));
    println!(
        "| connections | requests/s | p50 ms | p99 ms | p99.9 ms | server peak RSS MiB | \
         server CPU | loadgen CPU | load avg after |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &reports {
        let h = &r.latencies;
        println!(
            "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
            r.connections,
            r.rate(),
            ms(h.quantile(0.50)),
            ms(h.quantile(0.99)),
            ms(h.quantile(0.999)),
            mib(r.hwm_kb),
            pct(r.server_cpu),
            pct(r.loadgen_cpu),
            r.load_after
        );
    }
    eprintln!(
        "loadgen's own peak RSS: {} MiB",
        mib(proc_status("self", "VmHWM"))
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn histogram_buckets_round_trip() {
        for v in [0u64, 1, 2047, 2048, 2049, 123_456, 1 << 40, u64::MAX] {
            let (lo, hi) = Histogram::range(Histogram::index(v));
            assert!(lo <= v && v <= hi, "{v} not in [{lo}, {hi}]");
            assert!((hi - lo) as f64 <= (v as f64) / 1000.0 + 1.0);
        }
        let mut h = Histogram::new();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.001);
        assert_eq!(h.quantile(1.0), 1_000_000);
    }
}
