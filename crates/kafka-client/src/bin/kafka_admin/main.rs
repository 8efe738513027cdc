//! `kafka-admin`: Kafka's administration tools (`kafka-topics`, `kafka-configs`,
//! `kafka-consumer-groups`, `kafka-acls`, `kafka-get-offsets`, `kafka-delete-records`, ...)
//! as one binary that speaks only Kafka's APIs, so it works against this broker and any
//! Kafka cluster without a JVM.
//!
//! Human tables by default; `--output json` prints one JSON document for scripts. The exit
//! code says what failed: 0 ok, 1 the broker refused (an error
//! code for the request or any item), 2 usage, 3 connection, authentication or timeout,
//! 4 unsupported by the broker or by this tool.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kafka_client::{Admin, Error as ClientError};
use kafka_protocol::ErrorCode;

mod acls;
mod configs;
mod groups;
mod misc;
mod output;
mod parse;
mod props;
mod topics;

use output::Format;

/// Everything fine.
pub(crate) const EXIT_OK: u8 = 0;
/// The broker answered with an error (for the request or for one of its items).
pub(crate) const EXIT_FAILED: u8 = 1;
/// Bad arguments or client configuration (clap uses 2 for usage errors too).
pub(crate) const EXIT_USAGE: u8 = 2;
/// The cluster could not be reached or authentication failed, or no answer came in time.
pub(crate) const EXIT_CONNECTION: u8 = 3;
/// The broker (or this tool) does not support what was asked.
pub(crate) const EXIT_UNSUPPORTED: u8 = 4;

#[derive(Debug, Parser)]
#[command(
    name = "kafka-admin",
    version,
    about = "Administer a Kafka cluster: topics, configs, consumer groups, ACLs, offsets, records.",
    after_help = "Exit codes: 0 ok, 1 the broker refused (an error for the request or an item), \
                  2 usage or configuration, 3 connection/authentication/timeout, 4 unsupported."
)]
pub(crate) struct Args {
    /// host:port of one or more brokers (bootstrap.servers), comma separated.
    #[arg(long = "bootstrap-server", global = true)]
    bootstrap_server: Option<String>,
    /// Client properties file (security.protocol, sasl.*, ssl.*; librdkafka's
    /// ssl.ca.location, ssl.certificate.location, ssl.key.location and sasl.mechanisms too).
    #[arg(long = "command-config", global = true)]
    command_config: Option<PathBuf>,
    /// A client property key=value, overriding the file (repeatable).
    #[arg(long = "command-property", short = 'X', global = true)]
    command_property: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    output: Format,
    /// How long each admin call may take, in milliseconds.
    #[arg(long = "timeout-ms", default_value_t = 30_000, global = true)]
    timeout_ms: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List, describe, create, delete topics and add partitions (kafka-topics).
    #[command(subcommand)]
    Topics(topics::TopicsCmd),
    /// Describe and alter topic and broker configurations (kafka-configs).
    #[command(subcommand)]
    Configs(configs::ConfigsCmd),
    /// List, describe (with lag), reset offsets of and delete consumer groups
    /// (kafka-consumer-groups).
    #[command(subcommand)]
    Groups(groups::GroupsCmd),
    /// List, create and delete ACLs (kafka-acls).
    #[command(subcommand)]
    Acls(acls::AclsCmd),
    /// Describe and alter client quotas (kafka-client-quotas).
    #[command(subcommand)]
    Quotas(misc::QuotasCmd),
    /// Describe and alter SCRAM credentials (kafka-configs --entity-type users).
    #[command(subcommand)]
    Users(misc::UsersCmd),
    /// The cluster id, controller and brokers (kafka-cluster / kafka-metadata).
    #[command(subcommand)]
    Cluster(misc::ClusterCmd),
    /// Earliest, latest or by-time offsets of partitions (kafka-get-offsets).
    Offsets(misc::OffsetsArgs),
    /// Delete records before an offset (kafka-delete-records).
    DeleteRecords(misc::DeleteRecordsArgs),
}

/// Why the tool stops.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// Bad arguments or configuration.
    #[error("{0}")]
    Usage(String),
    /// An admin call failed as a whole.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The broker refused something; the details were printed as they came.
    #[error("{0}")]
    Refused(String),
    /// Not supported by the broker or by this tool.
    #[error("{0}")]
    Unsupported(String),
    /// Failures of single items were reported already; the code is that of the first.
    #[error("{count} of the items failed")]
    Items {
        /// How many failed.
        count: usize,
        /// The exit code of the first failure.
        code: u8,
    },
}

impl Failure {
    /// The process exit code for this failure.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => EXIT_USAGE,
            Failure::Client(e) => client_exit_code(e),
            Failure::Refused(_) => EXIT_FAILED,
            Failure::Unsupported(_) => EXIT_UNSUPPORTED,
            Failure::Items { code, .. } => *code,
        }
    }
}

/// The exit code of a client error: what the broker refused, what could not be reached or
/// authenticated, what it does not support, what was misconfigured.
pub(crate) fn client_exit_code(e: &ClientError) -> u8 {
    match e {
        ClientError::Kafka { code, .. } => match code {
            ErrorCode::SaslAuthenticationFailed
            | ErrorCode::IllegalSaslState
            | ErrorCode::UnsupportedSaslMechanism => EXIT_CONNECTION,
            ErrorCode::UnsupportedVersion => EXIT_UNSUPPORTED,
            _ => EXIT_FAILED,
        },
        ClientError::Network(_)
        | ClientError::Disconnected { .. }
        | ClientError::Timeout(_)
        | ClientError::Authentication(_) => EXIT_CONNECTION,
        ClientError::Config(_) => EXIT_USAGE,
        ClientError::UnsupportedVersion(_) => EXIT_UNSUPPORTED,
        _ => EXIT_FAILED,
    }
}

/// What every command works with.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) admin: Admin,
    pub(crate) format: Format,
    pub(crate) timeout: Option<Duration>,
    failed: usize,
    first_code: u8,
}

impl Ctx {
    /// Reports one item's failure on stderr; the command goes on with the others and the
    /// tool exits with the first failure's code.
    pub(crate) fn item_failed(&mut self, what: &str, e: &ClientError) {
        eprintln!("Error: {what}: {e}");
        if self.failed == 0 {
            self.first_code = client_exit_code(e);
        }
        self.failed += 1;
    }

    /// The outcome of a command whose items were reported one by one.
    pub(crate) fn finish(&self) -> Result<(), Failure> {
        if self.failed == 0 {
            Ok(())
        } else {
            Err(Failure::Items {
                count: self.failed,
                code: self.first_code,
            })
        }
    }
}

fn run(args: Args) -> Result<(), Failure> {
    let props = props::load(
        args.command_config.as_deref(),
        &args.command_property,
        args.bootstrap_server.as_deref(),
    )
    .map_err(Failure::Usage)?;
    let admin = Admin::new(&props).map_err(|e| match e {
        ClientError::Config(m) => Failure::Usage(format!("invalid client configuration: {m}")),
        e => Failure::Client(e),
    })?;
    let mut ctx = Ctx {
        admin,
        format: args.output,
        timeout: Some(Duration::from_millis(args.timeout_ms)),
        failed: 0,
        first_code: EXIT_OK,
    };
    let result = match args.command {
        Command::Topics(c) => topics::run(&mut ctx, c),
        Command::Configs(c) => configs::run(&mut ctx, c),
        Command::Groups(c) => groups::run(&mut ctx, c),
        Command::Acls(c) => acls::run(&mut ctx, c),
        Command::Quotas(c) => misc::quotas(&mut ctx, c),
        Command::Users(c) => misc::users(&mut ctx, c),
        Command::Cluster(c) => misc::cluster(&mut ctx, c),
        Command::Offsets(a) => misc::offsets(&mut ctx, a),
        Command::DeleteRecords(a) => misc::delete_records(&mut ctx, a),
    };
    ctx.admin.close();
    result.and_then(|()| ctx.finish())
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(f) => {
            if !matches!(f, Failure::Items { .. }) {
                eprintln!("Error: {f}");
            }
            ExitCode::from(f.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn exit_codes_say_what_failed() {
        let kafka = |c| ClientError::kafka(c);
        assert_eq!(
            client_exit_code(&kafka(ErrorCode::TopicAlreadyExists)),
            EXIT_FAILED
        );
        assert_eq!(
            client_exit_code(&kafka(ErrorCode::SecurityDisabled)),
            EXIT_FAILED
        );
        assert_eq!(
            client_exit_code(&kafka(ErrorCode::SaslAuthenticationFailed)),
            EXIT_CONNECTION
        );
        assert_eq!(
            client_exit_code(&ClientError::Timeout("x".into())),
            EXIT_CONNECTION
        );
        assert_eq!(
            client_exit_code(&ClientError::Authentication("x".into())),
            EXIT_CONNECTION
        );
        assert_eq!(
            client_exit_code(&ClientError::UnsupportedVersion("x".into())),
            EXIT_UNSUPPORTED
        );
        assert_eq!(Failure::Usage("x".into()).exit_code(), EXIT_USAGE);
        assert_eq!(Failure::Items { count: 2, code: 3 }.exit_code(), 3);
    }

    #[test]
    fn reset_offsets_parses_like_kafkas_tool() {
        let a = Args::try_parse_from([
            "kafka-admin",
            "--bootstrap-server",
            "h:1",
            "groups",
            "reset-offsets",
            "--group",
            "g",
            "--topic",
            "t:0,1",
            "--to-earliest",
            "--execute",
        ])
        .unwrap();
        assert!(matches!(a.command, Command::Groups(_)));
        // One reset target at a time.
        assert!(Args::try_parse_from([
            "kafka-admin",
            "groups",
            "reset-offsets",
            "--group",
            "g",
            "--all-topics",
            "--to-earliest",
            "--to-latest",
        ])
        .is_err());
        assert!(Args::try_parse_from([
            "kafka-admin",
            "groups",
            "reset-offsets",
            "--group",
            "g",
            "--all-topics",
            "--to-earliest",
            "--dry-run",
            "--execute",
        ])
        .is_err());
    }
}
