//! This project's `broker` binary for client tests: each test starts its own (port 0, a
//! temporary data directory, killed on drop); the binary is built first if it is missing.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use kafka_client::config::Properties;
use kafka_client::Admin;

const START_TIMEOUT: Duration = Duration::from_secs(30);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `<target dir>/debug/broker`, built with `cargo build -p broker` when it is not there.
fn broker_binary() -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let root = workspace_root();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        }
        None => root.join("target"),
    };
    let bin = target.join("debug").join("broker");
    let _one_build_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !bin.exists() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "broker"])
            .current_dir(&root)
            .status()
            .expect("run cargo build -p broker");
        assert!(status.success(), "cargo build -p broker failed");
        assert!(bin.exists(), "{} missing after the build", bin.display());
    }
    bin
}

/// A broker process; killed and its data removed on drop.
pub struct Broker {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl Broker {
    pub fn start() -> Broker {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kafka-client-test-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Port 0 and the port the broker prints: no window in which another process could
        // take a port chosen beforehand.
        let mut child = Command::new(broker_binary())
            .arg("--data-dir")
            .arg(&dir)
            .args([
                "--override",
                "listeners=PLAINTEXT://127.0.0.1:0",
                "--override",
                "prometheus.listener=",
                "--override",
                "num.network.threads=1",
                "--override",
                "num.io.threads=2",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the broker");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keeps reading to the end so that the broker never blocks on a full pipe.
            for line in BufReader::new(stdout)
                .lines()
                .map_while(std::io::Result::ok)
            {
                if let Some(rest) = line.split("listening on PLAINTEXT://").nth(1) {
                    let port = rest
                        .trim()
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse::<u16>().ok());
                    if let Some(port) = port {
                        let _ = tx.send(port);
                    }
                }
            }
        });
        let mut broker = Broker {
            child,
            dir,
            port: 0,
        };
        broker.port = match rx.recv_timeout(START_TIMEOUT) {
            Ok(port) => port,
            Err(_) => panic!("the broker did not report its port in {START_TIMEOUT:?}"),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", broker.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "port {} does not accept",
                broker.port
            );
            if let Some(status) = broker.child.try_wait().unwrap() {
                panic!("the broker exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        broker
    }

    pub fn admin(&self) -> Admin {
        let props = Properties::new()
            .with("bootstrap.servers", format!("127.0.0.1:{}", self.port))
            .with("client.id", "admin-test")
            .with("request.timeout.ms", "10000");
        Admin::new(&props).unwrap()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Broker {
    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}
