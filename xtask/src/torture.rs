//! `cargo xtask torture`: the crash harness of issue 18.
//!
//! Builds the broker (debug, or `--release`) and runs `tests/e2e/torture.py` with the end-to-end
//! virtualenv's Python: idempotent acks=all producers and a committing consumer group against a
//! broker with `log.flush.interval.messages=1`, killed with SIGKILL at seeded random moments and
//! restarted, `--cycles` times; `--corrupt` also damages segment tails, indexes and checkpoint
//! files between cycles. The driver checks every acknowledged record (present exactly once,
//! offsets dense, CRCs valid on disk and through Fetch) and the committed offsets after each
//! cycle, prints a report, and fails on any loss. CI runs a short form as the pytest test
//! `tests/e2e/test_torture.py`.

use std::path::{Path, PathBuf};

/// What `cargo xtask torture` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Kill-and-restart cycles.
    pub cycles: u32,
    /// The seed of every random choice (kill moments, corruptions, record sizes); random if
    /// not given, and printed so that a failing run can be repeated.
    pub seed: Option<u64>,
    /// Damage files between cycles.
    pub corrupt: bool,
    /// Build and run the release broker.
    pub release: bool,
    /// Where to write the JSON report.
    pub report: Option<PathBuf>,
}

/// The driver's command line for `options`, with `broker` the binary to run.
pub fn driver_args(root: &Path, broker: &Path, options: &Options) -> Vec<String> {
    let mut args = vec![
        root.join("tests")
            .join("e2e")
            .join("torture.py")
            .display()
            .to_string(),
        "--broker-bin".into(),
        broker.display().to_string(),
        "--cycles".into(),
        options.cycles.to_string(),
    ];
    if let Some(seed) = options.seed {
        args.extend(["--seed".into(), seed.to_string()]);
    }
    if options.corrupt {
        args.push("--corrupt".into());
    }
    if let Some(report) = &options.report {
        args.extend(["--report".into(), report.display().to_string()]);
    }
    args
}

/// Builds the broker and runs the driver.
pub fn run(root: &Path, install_deps: bool, options: &Options) -> Result<(), String> {
    if install_deps {
        crate::ci::install(root)?;
    }
    let (profile, build): (&str, &[&str]) = if options.release {
        ("release", &["build", "--release", "-p", "broker"])
    } else {
        ("debug", &["build", "-p", "broker"])
    };
    crate::ci::step_env(root, "build broker", "cargo", build, &[])?;
    let broker = crate::ci::target_dir(root).join(profile).join("broker");
    let python = crate::ci::python(root);
    let args = driver_args(root, &broker, options);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    crate::ci::step_env(root, "torture", &python.display().to_string(), &args, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_gets_what_was_asked() {
        let options = Options {
            cycles: 7,
            seed: Some(42),
            corrupt: true,
            release: false,
            report: Some("r.json".into()),
        };
        let args = driver_args(
            Path::new("/w"),
            Path::new("/w/target/debug/broker"),
            &options,
        );
        assert_eq!(
            args,
            [
                "/w/tests/e2e/torture.py",
                "--broker-bin",
                "/w/target/debug/broker",
                "--cycles",
                "7",
                "--seed",
                "42",
                "--corrupt",
                "--report",
                "r.json"
            ]
        );
        let plain = Options {
            seed: None,
            corrupt: false,
            report: None,
            ..options
        };
        assert_eq!(
            driver_args(Path::new("/w"), Path::new("b"), &plain).len(),
            5
        );
    }
}
