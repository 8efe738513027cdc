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
    // kafka-python's CRC-32C in C: the crash torture checks every batch on disk with it.
    "crc32c==2.9.post0",
];

fn step(root: &Path, name: &str, program: &str, args: &[&str]) -> Result<(), String> {
    step_env(root, name, program, args, &[])
}

pub(crate) fn step_env(
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

/// The end-to-end virtualenv's Python.
pub(crate) fn python(root: &Path) -> PathBuf {
    venv(root).join("bin").join("python")
}

/// Cargo's target directory, as cargo says (`target/` if it cannot be asked).
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    crate::release::target_directory(root).unwrap_or_else(|_| root.join("target"))
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

/// One step of `cargo xtask ci`, planned before anything runs so that what will run (and what
/// will be skipped, and why) is known and testable up front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Install the test prerequisites.
    Install,
    /// Run a cargo command.
    Cargo {
        /// Step name.
        name: &'static str,
        /// Arguments to `cargo`.
        args: Vec<&'static str>,
        /// Extra environment.
        env: Vec<(&'static str, &'static str)>,
    },
    /// Check the generated protocol code against the definitions in this folder.
    Codegen(PathBuf),
    /// Check the generated metadata records against the record definitions in this folder.
    RecordCodegen(PathBuf),
    /// Check the generated docs.
    Docs,
    /// Run the end-to-end tests.
    E2e,
    /// A step that cannot run here, with the reason.
    Skipped {
        /// Step name.
        name: &'static str,
        /// Why, in one line.
        reason: String,
    },
}

impl Step {
    /// The step's name as printed.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Install => "install",
            Step::Cargo { name, .. } | Step::Skipped { name, .. } => name,
            Step::Codegen(_) => "codegen",
            Step::RecordCodegen(_) => "codegen-records",
            Step::Docs => "docs",
            Step::E2e => "e2e",
        }
    }
}

fn cargo(name: &'static str, args: &[&'static str]) -> Step {
    Step::Cargo {
        name,
        args: args.to_vec(),
        env: Vec::new(),
    }
}

/// The steps of a CI run. `definitions` is where Kafka's message definitions were found
/// (`Err` explains why they were not: the codegen check is then skipped, everything else runs);
/// `records` the same for the metadata record definitions and their check.
pub fn plan(
    install_deps: bool,
    definitions: Result<PathBuf, String>,
    records: Result<PathBuf, String>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    if install_deps {
        steps.push(Step::Install);
    }
    steps.push(cargo("fmt", &["fmt", "--all", "--", "--check"]));
    steps.push(cargo(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ));
    steps.push(match definitions {
        Ok(dir) => Step::Codegen(dir),
        Err(reason) => Step::Skipped {
            name: "codegen",
            reason,
        },
    });
    steps.push(match records {
        Ok(dir) => Step::RecordCodegen(dir),
        Err(reason) => Step::Skipped {
            name: "codegen-records",
            reason,
        },
    });
    if cfg!(feature = "docs") {
        steps.push(Step::Docs);
    }
    steps.push(cargo("test", &["test", "--workspace", "--all-targets"]));
    steps.push(cargo("doctest", &["test", "--workspace", "--doc"]));
    steps.push(Step::Cargo {
        name: "doc",
        args: vec!["doc", "--workspace", "--no-deps"],
        env: vec![("RUSTDOCFLAGS", "-D warnings")],
    });
    steps.push(Step::E2e);
    steps
}

/// Plans and runs CI: `definitions` and `records` are the folders given on the command line, if
/// any.
pub fn run(
    root: &Path,
    install_deps: bool,
    definitions: Option<PathBuf>,
    records: Option<PathBuf>,
) -> Result<(), String> {
    let located = crate::codegen::locate(
        root,
        definitions,
        std::env::var_os(crate::codegen::DEFINITIONS_ENV),
    )
    .map(|(dir, _)| dir);
    let records = crate::codegen::locate_records(
        root,
        records,
        std::env::var_os(crate::codegen::RECORD_DEFINITIONS_ENV),
    )
    .map(|(dir, _)| dir);
    for step in plan(install_deps, located, records) {
        let name = step.name();
        match step {
            Step::Install => install(root)?,
            Step::Cargo { name, args, env } => step_env(root, name, "cargo", &args, &env)?,
            Step::Codegen(dir) => crate::codegen::run_with(root, &dir, true)?,
            Step::RecordCodegen(dir) => crate::codegen::run_records_with(root, &dir, true)?,
            #[cfg(feature = "docs")]
            Step::Docs => crate::docs::run(root, true)?,
            #[cfg(not(feature = "docs"))]
            Step::Docs => {}
            Step::E2e => e2e(root)?,
            Step::Skipped { reason, .. } => {
                eprintln!("==> {name}: skipped: {}", reason.replace('\n', " "))
            }
        }
    }
    Ok(())
}

/// Runs the end-to-end tests against a freshly built broker and client tools.
pub fn e2e(root: &Path) -> Result<(), String> {
    step(
        root,
        "build broker and client tools",
        "cargo",
        &["build", "-p", "broker", "-p", "kafka-client"],
    )?;
    let python = python(root);
    let broker = target_dir(root).join("debug").join("broker");
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

#[cfg(test)]
mod tests {
    use super::{plan, Step};

    #[test]
    fn without_definitions_only_the_codegen_check_is_skipped() {
        let with = plan(true, Ok("defs".into()), Ok("records".into()));
        let without = plan(true, Err("not found".into()), Ok("records".into()));
        assert_eq!(with.len(), without.len());
        let names = |steps: &[Step]| steps.iter().map(Step::name).collect::<Vec<_>>();
        assert_eq!(names(&with), names(&without));
        for (a, b) in with.iter().zip(&without) {
            match (a, b) {
                (Step::Codegen(dir), Step::Skipped { name, reason }) => {
                    assert_eq!(dir.to_str(), Some("defs"));
                    assert_eq!(*name, "codegen");
                    assert_eq!(reason, "not found");
                }
                _ => assert_eq!(a, b, "only the codegen step differs"),
            }
        }
        for expected in ["install", "fmt", "clippy", "test", "doctest", "doc", "e2e"] {
            assert!(names(&without).contains(&expected), "{expected} is planned");
        }
        assert_eq!(
            without
                .iter()
                .filter(|s| matches!(s, Step::Skipped { .. }))
                .count(),
            1
        );
    }

    #[test]
    fn without_record_definitions_only_the_record_check_is_skipped() {
        let with = plan(true, Ok("defs".into()), Ok("records".into()));
        let without = plan(true, Ok("defs".into()), Err("no records".into()));
        assert_eq!(with.len(), without.len());
        for (a, b) in with.iter().zip(&without) {
            match (a, b) {
                (Step::RecordCodegen(dir), Step::Skipped { name, reason }) => {
                    assert_eq!(dir.to_str(), Some("records"));
                    assert_eq!(*name, "codegen-records");
                    assert_eq!(reason, "no records");
                }
                _ => assert_eq!(a, b, "only the record codegen step differs"),
            }
        }
        assert!(with.iter().any(|s| matches!(s, Step::Codegen(_))));
    }
}
