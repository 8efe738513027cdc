//! `cargo xtask ci`: the one command CI and the README run.
//!
//! It installs what the end-to-end tests need on a fresh machine (Debian's `kcat` and
//! `prometheus`; the Python clients `confluent-kafka` and `kafka-python` with `pytest` in a
//! virtualenv under `target/`),
//! then checks formatting, clippy, the generated code and the docs, runs every Rust test, and
//! runs the end-to-end tests in `tests/e2e` against the `broker` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Python packages of the end-to-end tests, pinned so CI runs what was tested.
const PYTHON_PACKAGES: &[&str] = &[
    "confluent-kafka==2.16.1",
    "kafka-python==3.0.12",
    "pytest==9.2.0",
    "pytest-timeout==2.4.0",
    // kafka-python decompresses snappy, lz4 and zstd through these.
    "python-snappy==0.7.3",
    "cramjam==2.14.0",
    "lz4==4.4.5",
    "zstandard==0.25.0",
];

fn step(root: &Path, name: &str, program: &str, args: &[&str]) -> Result<(), String> {
    step_env(root, name, program, args, &[])
}

fn step_env(
    root: &Path,
    name: &str,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(), String> {
    eprintln!("==> {name}: {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .map_err(|e| format!("{name}: cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn venv(root: &Path) -> PathBuf {
    root.join("target").join("e2e-venv")
}

/// Installs a Debian package with apt-get (through sudo unless root).
fn apt_install(root: &Path, package: &str) -> Result<(), String> {
    let sudo = if have("id")
        && Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false)
    {
        ""
    } else {
        "sudo "
    };
    step(
        root,
        &format!("install {package}"),
        "sh",
        &["-c", &format!("{sudo}apt-get update -qq && DEBIAN_FRONTEND=noninteractive {sudo}apt-get install -y -qq {package}")],
    )
}

/// Installs kcat, Prometheus (for the scrape test of `deploy/prometheus.yml`) and the Python
/// clients if missing.
pub fn install(root: &Path) -> Result<(), String> {
    if !have("kcat") && !have("kafkacat") {
        apt_install(root, "kcat")?;
    }
    if !have("prometheus") {
        apt_install(root, "prometheus")?;
    }
    let venv = venv(root);
    let python = venv.join("bin").join("python");
    if !python.exists() {
        step(
            root,
            "python venv",
            "python3",
            &["-m", "venv", &venv.display().to_string()],
        )?;
    }
    let mut args = vec!["-m", "pip", "install", "-q", "--disable-pip-version-check"];
    args.extend(PYTHON_PACKAGES);
    step(root, "python clients", &python.display().to_string(), &args)
}

pub fn run(root: &Path, install_deps: bool) -> Result<(), String> {
    if install_deps {
        install(root)?;
    }
    step(root, "fmt", "cargo", &["fmt", "--all", "--", "--check"])?;
    step(
        root,
        "clippy",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    crate::codegen::run(root, None, true)?;
    #[cfg(feature = "docs")]
    crate::docs::run(root, true)?;
    step(
        root,
        "test",
        "cargo",
        &["test", "--workspace", "--all-targets"],
    )?;
    step(root, "doctest", "cargo", &["test", "--workspace", "--doc"])?;
    step_env(
        root,
        "doc",
        "cargo",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    e2e(root)
}

/// Runs the end-to-end tests against a freshly built broker and client tools.
pub fn e2e(root: &Path) -> Result<(), String> {
    step(
        root,
        "build broker and client tools",
        "cargo",
        &["build", "-p", "broker", "-p", "kafka-client"],
    )?;
    let python = venv(root).join("bin").join("python");
    let broker = root.join("target").join("debug").join("broker");
    step_env(
        root,
        "e2e",
        &python.display().to_string(),
        &[
            "-m",
            "pytest",
            "tests/e2e",
            "-q",
            "-p",
            "no:cacheprovider",
            "--timeout=300",
        ],
        &[("BROKER_BIN", &broker.display().to_string())],
    )
}
