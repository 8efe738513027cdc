//! `cargo xtask cluster up|down|status`: a local cluster of brokers on 127.0.0.1.
//!
//! Each node is a broker and a member of the metadata quorum (`process.roles=broker,controller`,
//! Kafka's combined mode), with its own folder under the cluster directory (default
//! `target/cluster`): `node<N>/server.properties`, `node<N>/data`, `node<N>/broker.log` and
//! `node<N>/broker.pid`. Node N (from 1) serves clients on `base_port + N - 1` and the quorum on
//! `base_port + 100 + N - 1`. The files are plain, so a node can be stopped with `kill` and started
//! again by hand with `broker --config node<N>/server.properties`.

use std::fmt::Write as _;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The shape of a local cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Number of nodes.
    pub nodes: u16,
    /// Client port of node 1; node N listens on `base_port + N - 1`.
    pub base_port: u16,
    /// Where the nodes' folders are.
    pub dir: PathBuf,
    /// The cluster id every node is formatted with (Kafka's `kafka-storage format -t`).
    pub cluster_id: String,
}

/// How far controller ports are from client ports.
const CONTROLLER_PORT_OFFSET: u16 = 100;

impl Layout {
    fn check(&self) -> Result<(), String> {
        if self.nodes == 0 || self.nodes > 9 {
            return Err(format!("--nodes {} is outside 1..=9", self.nodes));
        }
        if u32::from(self.base_port) + 2 * u32::from(CONTROLLER_PORT_OFFSET) + u32::from(self.nodes)
            > u32::from(u16::MAX)
        {
            return Err(format!("--base-port {} leaves no room", self.base_port));
        }
        Ok(())
    }

    /// Node `n`'s client port.
    pub fn client_port(&self, n: u16) -> u16 {
        self.base_port + n - 1
    }

    /// Node `n`'s controller (quorum) port.
    pub fn controller_port(&self, n: u16) -> u16 {
        self.base_port + CONTROLLER_PORT_OFFSET + n - 1
    }

    /// Node `n`'s Prometheus port.
    pub fn prometheus_port(&self, n: u16) -> u16 {
        self.base_port + 2 * CONTROLLER_PORT_OFFSET + n - 1
    }

    /// Node `n`'s folder.
    pub fn node_dir(&self, n: u16) -> PathBuf {
        self.dir.join(format!("node{n}"))
    }

    /// `controller.quorum.voters`: every node, `id@host:port`.
    pub fn voters(&self) -> String {
        (1..=self.nodes)
            .map(|n| format!("{n}@127.0.0.1:{}", self.controller_port(n)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The bootstrap servers a client uses.
    pub fn bootstrap(&self) -> String {
        (1..=self.nodes)
            .map(|n| format!("127.0.0.1:{}", self.client_port(n)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node `n`'s server.properties.
    pub fn node_config(&self, n: u16) -> String {
        let data = self.node_dir(n).join("data");
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Node {n} of a local {}-node cluster, written by `cargo xtask cluster up`.",
            self.nodes
        );
        let _ = writeln!(out, "node.id={n}");
        let _ = writeln!(out, "cluster.id={}", self.cluster_id);
        let _ = writeln!(out, "process.roles=broker,controller");
        let _ = writeln!(
            out,
            "listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
            self.client_port(n),
            self.controller_port(n)
        );
        let _ = writeln!(
            out,
            "advertised.listeners=PLAINTEXT://127.0.0.1:{}",
            self.client_port(n)
        );
        let _ = writeln!(out, "controller.listener.names=CONTROLLER");
        let _ = writeln!(
            out,
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        );
        let _ = writeln!(out, "controller.quorum.voters={}", self.voters());
        let _ = writeln!(out, "log.dirs={}", data.display());
        let _ = writeln!(
            out,
            "prometheus.listener=127.0.0.1:{}",
            self.prometheus_port(n)
        );
        out
    }
}

/// The cluster's id, kept in `dir/cluster.id`: made once (22 base64url characters of random
/// bytes, Kafka's form) so every node and every later `up` use the same one.
pub fn cluster_id(dir: &Path) -> String {
    let path = dir.join("cluster.id");
    if let Ok(id) = fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return id.to_string();
        }
    }
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut id = String::new();
    for b in bytes {
        bits = (bits << 8) | u32::from(b);
        nbits += 8;
        while nbits >= 6 {
            nbits -= 6;
            id.push(char::from(ALPHABET[((bits >> nbits) & 63) as usize]));
        }
    }
    if nbits > 0 {
        id.push(char::from(ALPHABET[((bits << (6 - nbits)) & 63) as usize]));
    }
    let _ = fs::create_dir_all(dir);
    let _ = fs::write(&path, format!("{id}\n"));
    id
}

/// `up`: writes each node's files, starts the nodes that are not running, waits for their ports.
pub fn up(root: &Path, layout: &Layout, release: bool) -> Result<(), String> {
    layout.check()?;
    let binary = build_broker(root, release)?;
    for n in 1..=layout.nodes {
        let dir = layout.node_dir(n);
        fs::create_dir_all(dir.join("data"))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        if let Some(pid) = running_pid(&dir) {
            eprintln!("node {n}: already running (pid {pid})");
            continue;
        }
        for port in [
            layout.client_port(n),
            layout.controller_port(n),
            layout.prometheus_port(n),
        ] {
            if port_open(port) {
                return Err(format!(
                    "port {port} of node {n} is taken by another process; pick --base-port"
                ));
            }
        }
        let config = dir.join("server.properties");
        fs::write(&config, layout.node_config(n))
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let log = fs::File::create(dir.join("broker.log"))
            .map_err(|e| format!("cannot create broker.log: {e}"))?;
        let err = log
            .try_clone()
            .map_err(|e| format!("cannot share broker.log: {e}"))?;
        let child = Command::new(&binary)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        fs::write(dir.join("broker.pid"), format!("{}\n", child.id()))
            .map_err(|e| format!("cannot write broker.pid: {e}"))?;
        eprintln!("node {n}: started (pid {})", child.id());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for n in 1..=layout.nodes {
        while !port_open(layout.client_port(n)) {
            if Instant::now() > deadline || running_pid(&layout.node_dir(n)).is_none() {
                return Err(format!(
                    "node {n} did not open port {}; see {}",
                    layout.client_port(n),
                    layout.node_dir(n).join("broker.log").display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    println!("bootstrap servers: {}", layout.bootstrap());
    Ok(())
}

/// `down`: SIGTERM to every node (controlled shutdown), SIGKILL after `grace`.
pub fn down(layout: &Layout, grace: Duration, clean: bool) -> Result<(), String> {
    let nodes = existing_nodes(&layout.dir);
    for &n in &nodes {
        if let Some(pid) = running_pid(&layout.node_dir(n)) {
            signal(pid, "TERM")?;
        }
    }
    let deadline = Instant::now() + grace;
    for &n in &nodes {
        let dir = layout.node_dir(n);
        while let Some(pid) = running_pid(&dir) {
            if Instant::now() > deadline {
                eprintln!("node {n}: still running after {grace:?}; killing");
                signal(pid, "KILL")?;
                std::thread::sleep(Duration::from_millis(100));
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = fs::remove_file(dir.join("broker.pid"));
        eprintln!("node {n}: stopped");
    }
    if clean && layout.dir.exists() {
        fs::remove_dir_all(&layout.dir)
            .map_err(|e| format!("cannot remove {}: {e}", layout.dir.display()))?;
    }
    Ok(())
}

/// `status`: a line per node folder found: pid, ports and whether they answer.
pub fn status(layout: &Layout) -> Result<(), String> {
    let nodes = existing_nodes(&layout.dir);
    if nodes.is_empty() {
        println!("no cluster in {}", layout.dir.display());
        return Ok(());
    }
    println!("node  pid      client  controller  state");
    for n in nodes {
        let pid = running_pid(&layout.node_dir(n));
        let (client, controller) = (layout.client_port(n), layout.controller_port(n));
        let state = match (pid, port_open(client), port_open(controller)) {
            (None, _, _) => "stopped",
            (Some(_), true, true) => "serving",
            (Some(_), _, _) => "starting",
        };
        let pid = pid.map_or("-".to_string(), |p| p.to_string());
        println!("{n:<5} {pid:<8} {client:<7} {controller:<11} {state}");
    }
    Ok(())
}

fn existing_nodes(dir: &Path) -> Vec<u16> {
    let mut nodes: Vec<u16> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("node")?.parse().ok())
        .collect();
    nodes.sort_unstable();
    nodes
}

/// The pid in `dir/broker.pid` if that process still runs (and is not a zombie).
fn running_pid(dir: &Path) -> Option<u32> {
    let pid: u32 = fs::read_to_string(dir.join("broker.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state is the first field after the parenthesised command name.
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    (state != "Z" && state != "X").then_some(pid)
}

fn signal(pid: u32, name: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -{name} {pid} failed"))
    }
}

fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

fn build_broker(root: &Path, release: bool) -> Result<PathBuf, String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "-p", "broker"]).current_dir(root);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the broker failed".into());
    }
    let target = crate::release::target_directory(root)?;
    Ok(target
        .join(if release { "release" } else { "debug" })
        .join("broker"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_nodes_get_their_own_ports_folders_and_one_voter_list() {
        let layout = Layout {
            nodes: 3,
            base_port: 19092,
            dir: PathBuf::from("/tmp/c"),
            cluster_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        };
        assert_eq!(
            layout.voters(),
            "1@127.0.0.1:19192,2@127.0.0.1:19193,3@127.0.0.1:19194"
        );
        assert_eq!(
            layout.bootstrap(),
            "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
        );
        let two = layout.node_config(2);
        assert!(two.contains("node.id=2\n"));
        assert!(two.contains("process.roles=broker,controller\n"));
        assert!(
            two.contains("listeners=PLAINTEXT://127.0.0.1:19093,CONTROLLER://127.0.0.1:19193\n")
        );
        assert!(two.contains("advertised.listeners=PLAINTEXT://127.0.0.1:19093\n"));
        assert!(two.contains("controller.quorum.voters=1@127.0.0.1:19192,"));
        assert!(two.contains("log.dirs=/tmp/c/node2/data\n"));
        assert!(two.contains("cluster.id=AAAAAAAAAAAAAAAAAAAAAA\n"));
        assert!(two.contains("prometheus.listener=127.0.0.1:19293\n"));
    }

    #[test]
    fn impossible_layouts_are_refused() {
        let mut layout = Layout {
            nodes: 0,
            base_port: 19092,
            dir: PathBuf::from("/tmp/c"),
            cluster_id: String::new(),
        };
        assert!(layout.check().is_err());
        layout.nodes = 3;
        layout.base_port = 65500;
        assert!(layout.check().is_err());
    }
}
