//! `cargo xtask`: this workspace's chores, one place for what CI and releases run.
//!
//! - `ci`: formatting check, clippy with warnings denied, the codegen check and every test.
//! - `codegen [--check] [INPUT]`: regenerate `kafka-protocol`'s messages from Kafka's JSON
//!   definitions (default input `../shared/kafka-message-definitions`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ci;
mod codegen;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "Workspace chores: ci, codegen")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run everything CI checks: fmt, clippy, codegen --check, all tests.
    Ci {
        /// Skip installing test prerequisites (packages, Python clients).
        #[arg(long)]
        no_install: bool,
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
        /// Folder of Kafka's message definitions.
        input: Option<PathBuf>,
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
        Cmd::Ci { no_install } => ci::run(&root, !no_install),
        Cmd::Codegen { check, input } => codegen::run(&root, input, check),
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
