//! `cargo xtask`: this workspace's chores, one place for what CI and releases run.
//!
//! - `ci [--definitions DIR]`: formatting check, clippy with warnings denied, the codegen check
//!   (skipped, with a line saying why, when Kafka's definitions are not found) and every test.
//! - `codegen [--check] [INPUT]`: regenerate `kafka-protocol`'s messages from Kafka's JSON
//!   definitions (INPUT, else `$KAFKA_MESSAGE_DEFINITIONS`, else a default folder beside the
//!   checkout; see `codegen::locate`).
//! - `docs [--check]`: regenerate `docs/configuration.md` and `docs/metrics.md` from the code.
//! - `release <version>`: bump the workspace version, check the changelog, build the tarball.
//! - `dist`: build the tarball of the current version.
//! - `bench`: run the criterion benches and the network load test, summarised in
//!   `target/bench-summary.md`.
//! - `torture [--cycles N] [--seed S] [--corrupt] [--release]`: the crash harness (SIGKILL
//!   cycles under idempotent producers and a consumer group, optionally corrupting files), see
//!   `docs/reliability.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench;
mod ci;
mod codegen;
#[cfg(feature = "docs")]
mod docs;
mod release;
mod torture;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "xtask",
    about = "Workspace chores: ci, e2e, codegen, docs, release, dist, bench, torture"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run everything CI checks: fmt, clippy, codegen --check, docs --check, all tests.
    Ci {
        /// Skip installing test prerequisites (packages, Python clients).
        #[arg(long)]
        no_install: bool,
        /// Folder of Kafka's message definitions for the codegen check (else
        /// `$KAFKA_MESSAGE_DEFINITIONS`, else the default folder; without any, the check is
        /// skipped).
        #[arg(long)]
        definitions: Option<PathBuf>,
    },
    /// Install the end-to-end test clients and run the end-to-end tests only.
    E2e {
        /// Skip installing test prerequisites.
        #[arg(long)]
        no_install: bool,
    },
    /// Generate the message codecs from Kafka's JSON definitions.
    Codegen {
        /// Fail if the committed code differs from what would be generated.
        #[arg(long)]
        check: bool,
        /// Folder of Kafka's message definitions (else `$KAFKA_MESSAGE_DEFINITIONS`, else the
        /// default folder).
        input: Option<PathBuf>,
    },
    /// Regenerate docs/configuration.md and docs/metrics.md from the code.
    Docs {
        /// Fail if the committed references differ from what would be generated.
        #[arg(long)]
        check: bool,
    },
    /// Set the workspace version, check CHANGELOG.md, build `dist/broker-<version>-<target>.tar.gz`.
    Release {
        /// The version, MAJOR.MINOR.PATCH[-PRE].
        version: String,
    },
    /// Build `dist/broker-<version>-<target>.tar.gz` of the current version.
    Dist,
    /// Run the criterion benches and the network load test; summary in target/bench-summary.md.
    Bench,
    /// Kill the broker with SIGKILL under load, restart it, check that nothing acknowledged
    /// was lost or duplicated; repeat.
    Torture {
        /// Kill-and-restart cycles.
        #[arg(long, default_value_t = 100)]
        cycles: u32,
        /// Seed of every random choice (random and printed if not given).
        #[arg(long)]
        seed: Option<u64>,
        /// Also truncate segment tails, damage indexes and overwrite checkpoint files between
        /// cycles.
        #[arg(long)]
        corrupt: bool,
        /// Build and run the release broker (default: debug).
        #[arg(long)]
        release: bool,
        /// Write the report as JSON to this file.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Skip installing test prerequisites.
        #[arg(long)]
        no_install: bool,
    },
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    let result = match cli.command {
        Cmd::Ci {
            no_install,
            definitions,
        } => ci::run(&root, !no_install, definitions),
        Cmd::Codegen { check, input } => codegen::run(&root, input, check),
        #[cfg(feature = "docs")]
        Cmd::Docs { check } => docs::run(&root, check),
        #[cfg(not(feature = "docs"))]
        Cmd::Docs { .. } => Err("built without the `docs` feature".to_string()),
        Cmd::Release { version } => release::release(&root, &version),
        Cmd::Dist => release::dist(&root).map(|_| ()),
        Cmd::Bench => bench::run(&root),
        Cmd::Torture {
            cycles,
            seed,
            corrupt,
            release,
            report,
            no_install,
        } => torture::run(
            &root,
            !no_install,
            &torture::Options {
                cycles,
                seed,
                corrupt,
                release,
                report,
            },
        ),
        Cmd::E2e { no_install } => (if no_install {
            Ok(())
        } else {
            ci::install(&root)
        })
        .and_then(|_| ci::e2e(&root)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
