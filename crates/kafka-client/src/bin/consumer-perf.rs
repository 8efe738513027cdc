//! `consumer-perf`: Kafka's `kafka-consumer-perf-test` for this client.
//!
//! Subscribes a consumer group to `--topic` from the earliest offset, reads `--messages`
//! records (or until `--timeout` ms pass without any) and prints Java's columns: start and end
//! time, MB consumed, MB/s, records, records/s, the time spent joining the group and the fetch
//! time and rates without it.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use kafka_client::consumer::{Consumer, ConsumerRebalanceListener};
use kafka_client::TopicPartition;

#[path = "common/mod.rs"]
mod common;

#[derive(Debug, Parser)]
#[command(
    name = "consumer-perf",
    about = "Consumer throughput test (kafka-consumer-perf-test)."
)]
struct Args {
    /// Topic to consume.
    #[arg(long)]
    topic: String,
    /// Number of records to read.
    #[arg(long)]
    messages: u64,
    /// Shorthand for bootstrap.servers.
    #[arg(long = "bootstrap-server")]
    bootstrap_server: Option<String>,
    /// Consumer group id (default: a fresh `perf-consumer-<n>` group).
    #[arg(long)]
    group: Option<String>,
    /// Give up after this many ms without a record.
    #[arg(long, default_value_t = 10_000)]
    timeout: u64,
    /// A consumer properties file.
    #[arg(long = "consumer.config")]
    consumer_config: Option<std::path::PathBuf>,
    /// Consumer properties, key=value.
    #[arg(long = "consumer-props", num_args = 1..)]
    consumer_props: Vec<String>,
    /// Start at the log end instead of the beginning.
    #[arg(long = "from-latest")]
    from_latest: bool,
    /// Print one JSON summary line instead of Java's columns.
    #[arg(long)]
    json: bool,
}

/// Notes when the first assignment arrives, for the rebalance time.
struct JoinTimer {
    joined: std::sync::Arc<std::sync::Mutex<Option<Instant>>>,
}

impl ConsumerRebalanceListener for JoinTimer {
    fn on_partitions_assigned(&mut self, _partitions: &[TopicPartition]) {
        let mut j = self.joined.lock().unwrap_or_else(|e| e.into_inner());
        if j.is_none() {
            *j = Some(Instant::now());
        }
    }
}

fn now_text() -> String {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms}")
}

fn main() -> ExitCode {
    common::init_logging();
    let args = Args::parse();
    let mut props = match common::properties(
        args.consumer_config.as_deref(),
        &args.consumer_props,
        args.bootstrap_server.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("consumer-perf: {e}");
            return ExitCode::from(2);
        }
    };
    let group = args.group.clone().unwrap_or_else(|| {
        let n = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("perf-consumer-{n}")
    });
    props.set("group.id", group);
    props.set(
        "auto.offset.reset",
        if args.from_latest {
            "latest"
        } else {
            "earliest"
        },
    );
    if props.get("enable.auto.commit").is_none() {
        props.set("enable.auto.commit", "true");
    }
    let mut consumer = match Consumer::new(&props) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("consumer-perf: {e}");
            return ExitCode::from(2);
        }
    };
    let joined = std::sync::Arc::new(std::sync::Mutex::new(None));
    if let Err(e) = consumer.subscribe_with_listener(
        &[args.topic.as_str()],
        JoinTimer {
            joined: std::sync::Arc::clone(&joined),
        },
    ) {
        eprintln!("consumer-perf: {e}");
        return ExitCode::from(2);
    }
    let start_text = now_text();
    let start = Instant::now();
    let mut records = 0u64;
    let mut bytes = 0u64;
    let mut last_record = Instant::now();
    let timeout = Duration::from_millis(args.timeout);
    while records < args.messages && last_record.elapsed() < timeout {
        match consumer.poll(Duration::from_millis(100)) {
            Ok(batch) => {
                if !batch.is_empty() {
                    last_record = Instant::now();
                }
                for r in &batch {
                    records += 1;
                    bytes += r.value.as_ref().map_or(0, |v| v.len() as u64)
                        + r.key.as_ref().map_or(0, |k| k.len() as u64);
                }
            }
            Err(e) => {
                eprintln!("consumer-perf: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let elapsed = start.elapsed();
    let end_text = now_text();
    let _ = consumer.close();
    let joined_at = *joined.lock().unwrap_or_else(|e| e.into_inner());
    let rebalance = joined_at.map_or(Duration::ZERO, |j| j.saturating_duration_since(start));
    let fetch = elapsed.saturating_sub(rebalance);
    let mb = bytes as f64 / (1024.0 * 1024.0);
    let secs = elapsed.as_secs_f64().max(1e-9);
    let fetch_secs = fetch.as_secs_f64().max(1e-9);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "records": records, "mb": mb, "seconds": secs,
                "mb_per_sec": mb / secs, "records_per_sec": records as f64 / secs,
                "rebalance_ms": rebalance.as_millis() as u64, "fetch_ms": fetch.as_millis() as u64,
                "fetch_mb_per_sec": mb / fetch_secs, "fetch_records_per_sec": records as f64 / fetch_secs,
            })
        );
    } else {
        println!("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec");
        println!(
            "{start_text}, {end_text}, {mb:.4}, {:.4}, {records}, {:.4}, {}, {}, {:.4}, {:.4}",
            mb / secs,
            records as f64 / secs,
            rebalance.as_millis(),
            fetch.as_millis(),
            mb / fetch_secs,
            records as f64 / fetch_secs
        );
    }
    if records < args.messages {
        eprintln!(
            "consumer-perf: only {records} of {} records within the timeout",
            args.messages
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
