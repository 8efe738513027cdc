//! `kafka-console`: a console producer and consumer speaking JSON lines, for scripts and the
//! end-to-end tests.
//!
//! `produce` reads one JSON object per line from stdin:
//! `{"key": <base64|null>, "value": <base64|null>, "headers": [[name, <base64|null>], ...],
//! "partition": <n>, "timestamp": <ms>}` (every field optional), sends it and, after all
//! are acknowledged, prints one line per record: `{"partition": p, "offset": o}` in input
//! order. `consume` prints every record it reads as one such JSON line (with "topic",
//! "partition", "offset", "timestamp") until `--max-messages` or `--timeout-ms` without data.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use kafka_client::consumer::Consumer;
use kafka_client::producer::{Producer, ProducerRecord};
use kafka_client::TopicPartition;
use serde_json::{json, Value};

#[path = "common/mod.rs"]
mod common;

#[derive(Debug, Parser)]
#[command(
    name = "kafka-console",
    about = "Console producer and consumer (JSON lines)."
)]
struct Args {
    /// bootstrap.servers.
    #[arg(long = "bootstrap-server", global = true)]
    bootstrap_server: Option<String>,
    /// Client properties, key=value (repeatable).
    #[arg(long = "property", short = 'X', global = true)]
    properties: Vec<String>,
    /// A client properties file.
    #[arg(long = "config", global = true)]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send JSON-line records from stdin.
    Produce {
        /// Topic.
        #[arg(long)]
        topic: String,
    },
    /// Print records as JSON lines.
    Consume {
        /// Topics (comma separated) to subscribe to with --group, or one topic to read.
        #[arg(long)]
        topic: String,
        /// Consumer group; without it, every partition of the topic is assigned.
        #[arg(long)]
        group: Option<String>,
        /// Start at the earliest offset when nothing is committed.
        #[arg(long = "from-beginning")]
        from_beginning: bool,
        /// Stop after this many records.
        #[arg(long = "max-messages")]
        max_messages: Option<u64>,
        /// Stop after this long without records.
        #[arg(long = "timeout-ms", default_value_t = 10_000)]
        timeout_ms: u64,
        /// Commit synchronously after each poll (instead of auto-commit).
        #[arg(long = "commit-sync")]
        commit_sync: bool,
    },
}

fn b64_field(v: &Value, name: &str) -> Result<Option<Bytes>, String> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => B64
            .decode(s)
            .map(|b| Some(Bytes::from(b)))
            .map_err(|e| format!("{name}: bad base64: {e}")),
        Some(other) => Err(format!("{name}: expected base64 text, got {other}")),
    }
}

fn encode(b: &Option<Bytes>) -> Value {
    b.as_ref()
        .map_or(Value::Null, |b| Value::String(B64.encode(b)))
}

fn produce(props: kafka_client::config::Properties, topic: &str) -> Result<(), String> {
    let producer = Producer::new(&props).map_err(|e| e.to_string())?;
    let mut futures = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| format!("bad JSON line: {e}"))?;
        let mut record = ProducerRecord::new(topic);
        record.key = b64_field(&v, "key")?;
        record.value = b64_field(&v, "value")?;
        if let Some(p) = v.get("partition").and_then(Value::as_i64) {
            record.partition = Some(i32::try_from(p).map_err(|_| "partition out of range")?);
        }
        record.timestamp = v.get("timestamp").and_then(Value::as_i64);
        if let Some(Value::Array(headers)) = v.get("headers") {
            for h in headers {
                let name = h
                    .get(0)
                    .and_then(Value::as_str)
                    .ok_or("header name missing")?;
                let value = match h.get(1) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(Bytes::from(
                        B64.decode(s).map_err(|e| format!("header value: {e}"))?,
                    )),
                    Some(_) => return Err("header value must be base64 or null".into()),
                };
                record.headers.push((name.to_string(), value));
            }
        }
        futures.push(producer.send(record).map_err(|e| e.to_string())?);
    }
    producer.flush();
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for f in futures {
        match f.wait() {
            Ok(m) => {
                let _ = writeln!(
                    out,
                    "{}",
                    json!({"partition": m.topic_partition.partition, "offset": m.offset})
                );
            }
            Err(e) => {
                failed += 1;
                let _ = writeln!(out, "{}", json!({"error": e.to_string()}));
            }
        }
    }
    producer.close();
    if failed > 0 {
        return Err(format!("{failed} record(s) failed"));
    }
    Ok(())
}

fn consume(
    mut props: kafka_client::config::Properties,
    topic: &str,
    group: Option<String>,
    from_beginning: bool,
    max_messages: Option<u64>,
    timeout: Duration,
    commit_sync: bool,
) -> Result<(), String> {
    if from_beginning {
        props.set("auto.offset.reset", "earliest");
    }
    if commit_sync {
        props.set("enable.auto.commit", "false");
    }
    let grouped = group.is_some();
    if let Some(g) = &group {
        props.set("group.id", g.as_str());
    }
    let mut consumer = Consumer::new(&props).map_err(|e| e.to_string())?;
    if grouped {
        let topics: Vec<&str> = topic.split(',').collect();
        consumer.subscribe(&topics).map_err(|e| e.to_string())?;
    } else {
        let partitions: Vec<TopicPartition> = consumer
            .partitions_for(topic)
            .map_err(|e| e.to_string())?
            .iter()
            .map(|p| TopicPartition::new(topic, p.partition))
            .collect();
        consumer.assign(&partitions).map_err(|e| e.to_string())?;
    }
    let mut out = std::io::stdout().lock();
    let mut count = 0u64;
    let mut last = Instant::now();
    while max_messages.is_none_or(|m| count < m) && last.elapsed() < timeout {
        let records = consumer
            .poll(Duration::from_millis(100))
            .map_err(|e| e.to_string())?;
        if records.is_empty() {
            continue;
        }
        last = Instant::now();
        for r in &records {
            if max_messages.is_some_and(|m| count >= m) {
                break;
            }
            count += 1;
            let headers: Vec<Value> = r
                .headers
                .iter()
                .map(|(k, v)| json!([k, encode(v)]))
                .collect();
            let _ = writeln!(
                out,
                "{}",
                json!({
                    "topic": &*r.topic, "partition": r.partition, "offset": r.offset,
                    "timestamp": r.timestamp, "key": encode(&r.key), "value": encode(&r.value),
                    "headers": headers,
                })
            );
        }
        let _ = out.flush();
        if commit_sync && grouped {
            consumer.commit_sync().map_err(|e| e.to_string())?;
        }
    }
    consumer.close().map_err(|e| e.to_string())?;
    Ok(())
}

fn main() -> ExitCode {
    common::init_logging();
    let args = Args::parse();
    let props = match common::properties(
        args.config.as_deref(),
        &args.properties,
        args.bootstrap_server.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("kafka-console: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match args.command {
        Command::Produce { topic } => produce(props, &topic),
        Command::Consume {
            topic,
            group,
            from_beginning,
            max_messages,
            timeout_ms,
            commit_sync,
        } => consume(
            props,
            &topic,
            group,
            from_beginning,
            max_messages,
            Duration::from_millis(timeout_ms),
            commit_sync,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafka-console: {e}");
            ExitCode::from(1)
        }
    }
}
