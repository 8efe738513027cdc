//! The load generator: `rdkafka_performance`, built from the librdkafka source that the
//! `rdkafka-sys` crate ships (fetched by cargo into its registry; nothing is committed), with
//! librdkafka's own configure and make, into `target/bench/librdkafka`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The `rdkafka-sys` release whose librdkafka is the load generator (librdkafka 2.12.1).
const RDKAFKA_SYS: &str = "=4.10.0";

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(cmd: &mut Command, what: &str, log: &Path) -> Result<(), String> {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot share {}: {e}", log.display()))?;
    let status = cmd
        .stdout(out)
        .stderr(err)
        .status()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status}); see {}", log.display()))
    }
}

/// The librdkafka source folder inside the `rdkafka-sys` crate, fetched through cargo with a
/// throw-away manifest under `bench_dir/fetch`.
fn librdkafka_source(bench_dir: &Path, log: &Path) -> Result<PathBuf, String> {
    let fetch = bench_dir.join("fetch");
    fs::create_dir_all(fetch.join("src"))
        .map_err(|e| format!("creating {}: {e}", fetch.display()))?;
    let manifest = fetch.join("Cargo.toml");
    fs::write(
        &manifest,
        format!(
            "# Written by `cargo xtask bench broker` to fetch librdkafka's source.\n\
             [package]\nname = \"bench-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[dependencies]\n\
             rdkafka-sys = {{ version = \"{RDKAFKA_SYS}\", default-features = false }}\n\n\
             [workspace]\n"
        ),
    )
    .and_then(|_| fs::write(fetch.join("src/lib.rs"), ""))
    .map_err(|e| format!("writing {}: {e}", manifest.display()))?;
    run(
        cargo().arg("fetch").arg("--manifest-path").arg(&manifest),
        "cargo fetch (rdkafka-sys)",
        log,
    )?;
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    let crate_manifest = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "rdkafka-sys")
        .and_then(|p| p["manifest_path"].as_str())
        .ok_or("cargo metadata does not list rdkafka-sys")?;
    let source = Path::new(crate_manifest)
        .parent()
        .ok_or("rdkafka-sys has no folder")?
        .join("librdkafka");
    if source.join("configure").is_file() {
        Ok(source)
    } else {
        Err(format!("{} holds no librdkafka source", source.display()))
    }
}

/// Builds `rdkafka_performance` unless it is there already; returns its path.
pub fn build(bench_dir: &Path) -> Result<PathBuf, String> {
    let tree = bench_dir.join("librdkafka");
    let binary = tree.join("examples").join("rdkafka_performance");
    if binary.is_file() {
        return Ok(binary);
    }
    eprintln!("==> building rdkafka_performance (librdkafka {RDKAFKA_SYS} of rdkafka-sys)");
    fs::create_dir_all(bench_dir).map_err(|e| format!("creating {}: {e}", bench_dir.display()))?;
    let log = bench_dir.join("librdkafka-build.log");
    let _ = fs::remove_file(&log);
    let source = librdkafka_source(bench_dir, &log)?;
    // A copy: configure and make write into the tree, and the registry's copy stays pristine.
    let _ = fs::remove_dir_all(&tree);
    run(
        Command::new("cp").arg("-R").arg(&source).arg(&tree),
        "copying librdkafka",
        &log,
    )?;
    // Only what a plaintext load generator needs: no TLS, SASL, zstd or curl to find.
    run(
        Command::new("./configure").current_dir(&tree).args([
            "--disable-ssl",
            "--disable-gssapi",
            "--disable-sasl",
            "--disable-zstd",
            "--disable-curl",
            "--disable-lz4-ext",
            "--disable-regex-ext",
            "--enable-static",
        ]),
        "librdkafka configure",
        &log,
    )?;
    run(
        Command::new("make")
            .current_dir(&tree)
            .args(["-j2", "libs"]),
        "make libs",
        &log,
    )?;
    run(
        Command::new("make")
            .current_dir(tree.join("examples"))
            .arg("rdkafka_performance"),
        "make rdkafka_performance",
        &log,
    )?;
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!("make did not produce {}", binary.display()))
    }
}

/// One `rdkafka_performance` invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub produce: bool,
    pub bootstrap: String,
    pub topic: String,
    pub size: usize,
    pub count: u64,
    /// `-1` for all, `1` for the leader only.
    pub acks: i32,
    /// Messages per second (`-r`); `None` as fast as possible.
    pub rate: Option<u64>,
    /// Where `-l -A` writes per-message latencies (microseconds).
    pub latency_file: Option<PathBuf>,
    pub linger_ms: u32,
}

impl Run {
    /// The command line, without the program.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            if self.produce { "-P" } else { "-C" }.into(),
            "-t".into(),
            self.topic.clone(),
            "-b".into(),
            self.bootstrap.clone(),
            "-c".into(),
            self.count.to_string(),
            // The summary once a second, and no per-interval table.
            "-i".into(),
            "1000".into(),
        ];
        if self.produce {
            a.extend([
                "-s".into(),
                self.size.to_string(),
                "-a".into(),
                self.acks.to_string(),
                "-X".into(),
                format!("linger.ms={}", self.linger_ms),
                "-X".into(),
                "batch.size=1000000".into(),
                "-X".into(),
                "queue.buffering.max.kbytes=1048576".into(),
                "-X".into(),
                "queue.buffering.max.messages=2000000".into(),
            ]);
            if let Some(rate) = self.rate {
                a.extend(["-r".into(), rate.to_string()]);
            }
        } else {
            a.extend([
                "-p".into(),
                "0".into(),
                "-o".into(),
                "beginning".into(),
                "-X".into(),
                "fetch.max.bytes=52428800".into(),
                "-X".into(),
                "fetch.message.max.bytes=1048576".into(),
            ]);
        }
        if let Some(file) = &self.latency_file {
            a.extend(["-l".into(), "-A".into(), file.display().to_string()]);
        }
        a
    }

    pub fn spawn(&self, binary: &Path) -> Result<Child, String> {
        Command::new(binary)
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))
    }
}

/// Waits for a load generator; its stdout, or an error with the end of its output.
pub fn finish(child: Child) -> Result<String, String> {
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for rdkafka_performance: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
        let tail = tail[tail.len().saturating_sub(10)..].join("\n");
        Err(format!(
            "rdkafka_performance failed ({}):\n{tail}",
            out.status
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_and_consumer_command_lines() {
        let mut run = Run {
            produce: true,
            bootstrap: "127.0.0.1:9092".into(),
            topic: "t".into(),
            size: 1024,
            count: 10,
            acks: -1,
            rate: Some(500),
            latency_file: Some(PathBuf::from("/tmp/lat")),
            linger_ms: 5,
        };
        let args = run.args().join(" ");
        assert!(args.starts_with("-P -t t -b 127.0.0.1:9092 -c 10 "));
        assert!(args.contains(" -s 1024 -a -1 -X linger.ms=5 -X batch.size=1000000 "));
        assert!(args.ends_with(" -r 500 -l -A /tmp/lat"));
        run.produce = false;
        run.latency_file = None;
        let args = run.args().join(" ");
        assert!(args.starts_with("-C -t t "));
        assert!(args.contains(" -p 0 -o beginning "));
        assert!(!args.contains("-s 1024"));
    }
}
