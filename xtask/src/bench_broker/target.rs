//! Starting and stopping the broker under test (ours, or a peer started by a shell command), and
//! reading its CPU time and memory from `/proc`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::parse::{cpu_ticks, parent_pid, status_kib};

/// The environment variables a `--peer` command is given.
pub const PEER_PORT_VAR: &str = "BENCH_PORT";
pub const PEER_DATA_DIR_VAR: &str = "BENCH_DATA_DIR";
/// "1" when the scenario wants every message fsynced before it is acknowledged
/// (`log.flush.interval.messages=1`), else "0".
pub const PEER_FLUSH_VAR: &str = "BENCH_FLUSH_EVERY_MESSAGE";

/// A broker the benchmark can start.
#[derive(Debug, Clone)]
pub enum Target {
    /// This workspace's release broker.
    Ours { binary: PathBuf },
    /// Another broker started with `sh -c CMD`.
    Peer { command: String },
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Target::Ours { .. } => "broker",
            Target::Peer { .. } => "peer",
        }
    }

    /// Starts the broker on a free port with an empty `data_dir`, `overrides` (broker config
    /// keys) applied, and waits until it accepts connections.
    pub fn start(
        &self,
        data_dir: &Path,
        overrides: &[(&str, String)],
        log: &Path,
    ) -> Result<Running, String> {
        let _ = fs::remove_dir_all(data_dir);
        fs::create_dir_all(data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let port = free_port()?;
        let mut cmd = match self {
            Target::Ours { binary } => {
                let mut cmd = Command::new(binary);
                cmd.arg("--data-dir").arg(data_dir);
                let mut settings = vec![
                    ("listeners", format!("PLAINTEXT://127.0.0.1:{port}")),
                    ("prometheus.listener", "127.0.0.1:0".to_string()),
                ];
                settings.extend(overrides.iter().map(|(k, v)| (*k, v.clone())));
                for (k, v) in settings {
                    cmd.arg("--override").arg(format!("{k}={v}"));
                }
                cmd
            }
            Target::Peer { command } => {
                let flush = overrides
                    .iter()
                    .any(|(k, v)| *k == "log.flush.interval.messages" && v == "1");
                let mut cmd = Command::new("sh");
                cmd.arg("-c")
                    .arg(command)
                    .env(PEER_PORT_VAR, port.to_string())
                    .env(PEER_DATA_DIR_VAR, data_dir)
                    .env(PEER_FLUSH_VAR, if flush { "1" } else { "0" });
                cmd
            }
        };
        // Its own process group, so that stopping it stops whatever a peer command started.
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let exec = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the {}: {e}", self.name()))?;
        let (tx, rx) = mpsc::channel();
        // Both streams go to the log; our broker's "listening on PLAINTEXT" line marks the moment
        // it listens (a peer's port is polled instead).
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            let log = log.to_path_buf();
            std::thread::spawn(move || {
                let mut out = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .ok();
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if line.contains("listening on PLAINTEXT://") {
                        let _ = tx.send(Instant::now());
                    }
                    if let Some(out) = out.as_mut() {
                        use std::io::Write;
                        let _ = writeln!(out, "{line}");
                    }
                }
            });
        }
        let deadline = exec + Duration::from_secs(60);
        let mut listening = None;
        loop {
            if let Ok(at) = rx.try_recv() {
                listening = Some(at);
            }
            if port_open(port) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "the {} exited ({status}) before listening; see {}",
                    self.name(),
                    log.display()
                ));
            }
            if Instant::now() > deadline {
                kill_group(child.id(), "KILL");
                let _ = child.wait();
                return Err(format!(
                    "the {} did not listen on {port} within 60 s; see {}",
                    self.name(),
                    log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let accepting = Instant::now();
        let listening = listening
            .or_else(|| rx.try_recv().ok())
            .unwrap_or(accepting);
        Ok(Running {
            child,
            port,
            exec,
            listening_after: listening.saturating_duration_since(exec),
        })
    }
}

/// A started broker.
#[derive(Debug)]
pub struct Running {
    child: Child,
    pub port: u16,
    /// When it was exec'd.
    pub exec: Instant,
    /// From exec to its listening line (ours) or to its port accepting (a peer).
    pub listening_after: Duration,
}

/// CPU time and memory of the broker's processes at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub cpu_ticks: u64,
    /// VmHWM summed over the processes.
    pub peak_rss_kib: u64,
    /// VmRSS summed over the processes.
    pub rss_kib: u64,
}

impl Running {
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's processes: the one started and its descendants (a peer command may fork).
    fn pids(&self) -> Vec<u32> {
        let root = self.child.id();
        let all: Vec<(u32, u32)> = fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let pid: u32 = e.file_name().to_str()?.parse().ok()?;
                let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                Some((pid, parent_pid(&stat)?))
            })
            .collect();
        let mut tree = vec![root];
        let mut i = 0;
        while i < tree.len() {
            let parent = tree[i];
            tree.extend(all.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
            i += 1;
        }
        tree
    }

    pub fn usage(&self) -> Usage {
        let mut usage = Usage {
            cpu_ticks: 0,
            peak_rss_kib: 0,
            rss_kib: 0,
        };
        for pid in self.pids() {
            if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) {
                usage.cpu_ticks += cpu_ticks(&stat).unwrap_or(0);
            }
            if let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) {
                usage.peak_rss_kib += status_kib(&status, "VmHWM").unwrap_or(0);
                usage.rss_kib += status_kib(&status, "VmRSS").unwrap_or(0);
            }
        }
        usage
    }

    /// SIGTERM to the process group, SIGKILL after 20 s.
    pub fn stop(mut self) {
        let pid = self.child.id();
        kill_group(pid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // Whatever else the peer command left in its group goes too.
                kill_group(pid, "KILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("    did not stop on SIGTERM within 20 s; killing");
        kill_group(pid, "KILL");
        let _ = self.child.wait();
    }
}

/// Signals the process group led by `pid` (the broker was started as its leader).
fn kill_group(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pid}"))
        .stderr(Stdio::null())
        .status();
}

/// A port nothing listens on now (bound and released; a race with other programs is possible
/// but harmless on a benchmark machine).
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

pub fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`; 100 on Linux).
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}
