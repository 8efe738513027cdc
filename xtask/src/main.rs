//! `cargo xtask`: this workspace's chores, one place for what CI and releases run.
//!
//! - `ci [--definitions DIR]`: formatting check, clippy with warnings denied, the codegen check
//!   (skipped, with a line saying why, when Kafka's definitions are not found) and every test.
//! - `codegen [--check] [INPUT]`: regenerate `kafka-protocol`'s messages from Kafka's JSON
//!   definitions (INPUT, else `$KAFKA_MESSAGE_DEFINITIONS`, else a default folder beside the
//!   checkout; see `codegen::locate`), and `kafka-metadata`'s records from Kafka's metadata
//!   record definitions (`--records DIR`, else `$KAFKA_RECORD_DEFINITIONS`, else a default
//!   folder; see `codegen::locate_records`).
//! - `docs [--check]`: regenerate `docs/configuration.md` and `docs/metrics.md` from the code.
//! - `release <version>`: bump the workspace version, check the changelog, build the tarball.
//! - `dist`: build the tarball of the current version.
//! - `bench`: run the criterion benches and the network load test, summarised in
//!   `target/bench-summary.md`.
//! - `bench broker [--quick] [--peer CMD] [--scenario NAME...]`: the release broker under
//!   `rdkafka_performance` load, side by side with this machine's limits (and a peer broker);
//!   `target/bench/broker.md` and `.json` (see `bench_broker`).
//! - `cluster up|down|status`: a local cluster of brokers on 127.0.0.1 (see `cluster`).
//! - `torture [--cycles N] [--seed S] [--corrupt] [--release]`: the crash harness (SIGKILL
//!   cycles under idempotent producers and a consumer group, optionally corrupting files), see
//!   `docs/reliability.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench;
mod bench_broker;
mod ci;
mod cluster;
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
        /// Folder holding Kafka's `metadata/` record definitions for the record codegen check
        /// (else `$KAFKA_RECORD_DEFINITIONS`, else the default folder; without any, that check
        /// is skipped).
        #[arg(long)]
        records: Option<PathBuf>,
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
        /// Folder holding Kafka's `metadata/` record definitions (else
        /// `$KAFKA_RECORD_DEFINITIONS`, else the default folder).
        #[arg(long)]
        records: Option<PathBuf>,
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
    Bench {
        #[command(subcommand)]
        what: Option<BenchCmd>,
    },
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
    /// A local cluster of brokers on 127.0.0.1, each its own controller-quorum member.
    Cluster {
        #[command(subcommand)]
        action: ClusterCmd,
        /// Where the nodes' configs, data and logs go (default: `<target dir>/cluster`).
        #[arg(long, global = true)]
        dir: Option<PathBuf>,
        /// Client port of node 1; node N uses base+N-1, and base+100+N-1 for the quorum.
        #[arg(long, global = true, default_value_t = 19092)]
        base_port: u16,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// The release broker under rdkafka_performance load, with this machine's limits measured
    /// in the same run (and a peer broker side by side); target/bench/broker.md and .json.
    Broker(bench_broker::Options),
}

#[derive(Debug, Subcommand)]
enum ClusterCmd {
    /// Build the broker and start the nodes that are not running.
    Up {
        /// How many nodes.
        #[arg(long, default_value_t = 3)]
        nodes: u16,
        /// Use a release build.
        #[arg(long)]
        release: bool,
    },
    /// Stop every node (SIGTERM: controlled shutdown; SIGKILL after the grace period).
    Down {
        /// Seconds to wait before SIGKILL.
        #[arg(long, default_value_t = 30)]
        grace_secs: u64,
        /// Also remove the cluster's folder (configs, data, logs).
        #[arg(long)]
        clean: bool,
    },
    /// Show each node: pid, ports, whether it serves.
    Status,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn run_cluster(
    root: &Path,
    action: ClusterCmd,
    dir: Option<PathBuf>,
    base_port: u16,
) -> Result<(), String> {
    let dir = match dir {
        Some(d) => d,
        None => release::target_directory(root)?.join("cluster"),
    };
    // `down` and `status` only read the folder; `up` makes (or reuses) the cluster's id.
    let layout = |nodes, cluster_id| cluster::Layout {
        nodes,
        base_port,
        dir: dir.clone(),
        cluster_id,
    };
    match action {
        ClusterCmd::Up { nodes, release } => {
            cluster::up(root, &layout(nodes, cluster::cluster_id(&dir)), release)
        }
        ClusterCmd::Down { grace_secs, clean } => cluster::down(
            &layout(0, String::new()),
            std::time::Duration::from_secs(grace_secs),
            clean,
        ),
        ClusterCmd::Status => cluster::status(&layout(0, String::new())),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = workspace_root();
    let result = match cli.command {
        Cmd::Ci {
            no_install,
            definitions,
            records,
        } => ci::run(&root, !no_install, definitions, records),
        Cmd::Codegen {
            check,
            input,
            records,
        } => codegen::run(&root, input, records, check),
        #[cfg(feature = "docs")]
        Cmd::Docs { check } => docs::run(&root, check),
        #[cfg(not(feature = "docs"))]
        Cmd::Docs { .. } => Err("built without the `docs` feature".to_string()),
        Cmd::Release { version } => release::release(&root, &version),
        Cmd::Dist => release::dist(&root).map(|_| ()),
        Cmd::Bench { what: None } => bench::run(&root),
        Cmd::Bench {
            what: Some(BenchCmd::Broker(options)),
        } => bench_broker::run(&root, options),
        Cmd::Cluster {
            action,
            dir,
            base_port,
        } => run_cluster(&root, action, dir, base_port),
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
