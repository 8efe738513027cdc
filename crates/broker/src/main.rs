//! The `broker` binary: `broker [--config FILE] [--override key=value]... [--data-dir DIR]`.
//!
//! With no arguments it serves PLAINTEXT on 127.0.0.1:9092 with data in `./kafka-data`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use broker::config::{parse_properties, reference_markdown};
use broker::{Broker, BrokerConfig};
use clap::Parser;

/// A Kafka-compatible broker.
#[derive(Debug, Parser)]
#[command(
    name = "broker",
    version,
    about,
    after_help = "Every server.properties key this broker honours: broker --describe-config"
)]
struct Cli {
    /// A server.properties file.
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Sets a key, overriding the file (repeatable): --override log.retention.hours=1
    #[arg(long = "override", short = 'o', value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// The log directory (sets log.dirs).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Prints every configuration key with its default and meaning, then exits.
    #[arg(long)]
    describe_config: bool,
    /// Prints SCRAM-SHA-256/512 credential lines for `sasl.credentials.file`, then exits.
    #[arg(long, value_name = "USER:PASSWORD")]
    scram_credential: Option<String>,
}

/// The log line format: `BROKER_LOG_FORMAT` wins over `log.format` in the configuration.
fn log_format(values: &BTreeMap<String, String>) -> Result<bool, String> {
    let chosen = std::env::var("BROKER_LOG_FORMAT")
        .ok()
        .or_else(|| values.get("log.format").cloned())
        .unwrap_or_else(|| "text".into());
    match chosen.trim() {
        "text" | "" => Ok(false),
        "json" => Ok(true),
        other => Err(format!("log.format: {other:?} is not text or json")),
    }
}

/// Logs to stderr: JSON lines, or text coloured only when stderr is a terminal (a file or
/// journald gets no escape codes).
fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().with_current_span(false).init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.describe_config {
        print!("{}", reference_markdown());
        return ExitCode::SUCCESS;
    }
    if let Some(spec) = &cli.scram_credential {
        let Some((user, password)) = spec.split_once(':') else {
            eprintln!("broker: --scram-credential takes USER:PASSWORD");
            return ExitCode::FAILURE;
        };
        return match kafka_network::auth::credential_lines(user, password, 4096) {
            Ok(lines) => {
                print!("{lines}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("broker: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // The configuration is read before logging starts, so that `log.format` can choose it;
    // errors until then go to stderr as plain text.
    let values = match read_values(&cli) {
        Ok(v) => v,
        Err(e) => {
            init_logging(false);
            eprintln!("broker: {e}");
            return ExitCode::FAILURE;
        }
    };
    match log_format(&values) {
        Ok(json) => init_logging(json),
        Err(e) => {
            init_logging(false);
            eprintln!("broker: {e}");
            return ExitCode::FAILURE;
        }
    }
    match run(values) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("broker: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The settings of `--config`, `--override` and `--data-dir`, in that order of precedence
/// (last wins).
fn read_values(cli: &Cli) -> broker::Result<BTreeMap<String, String>> {
    let mut values = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                broker::Error::Config(format!("cannot read {}: {e}", path.display()))
            })?;
            parse_properties(&text)?
        }
        None => Default::default(),
    };
    for o in &cli.overrides {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| broker::Error::Config(format!("--override {o:?} is not key=value")))?;
        values.insert(k.trim().to_string(), v.trim().to_string());
    }
    if let Some(dir) = &cli.data_dir {
        values.insert("log.dirs".to_string(), dir.display().to_string());
    }
    Ok(values)
}

fn run(values: BTreeMap<String, String>) -> broker::Result<()> {
    let config = BrokerConfig::new(values)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let broker = Broker::start(config.clone())?;
    let dirs: Vec<String> = config
        .log_dirs()
        .iter()
        .map(|d| {
            std::fs::canonicalize(d)
                .unwrap_or_else(|_| d.clone())
                .display()
                .to_string()
        })
        .collect();
    for (name, addr) in broker.bound_addresses() {
        println!(
            "broker {}: listening on {name}://{addr}",
            env!("CARGO_PKG_VERSION")
        );
    }
    println!("data in {}", dirs.join(", "));
    if let Some(addr) = broker.prometheus_address() {
        println!("metrics at http://{addr}/metrics");
    }
    println!("cluster id {}", broker.cluster_id());
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("broker: shutting down");
    broker.shutdown();
    Ok(())
}
