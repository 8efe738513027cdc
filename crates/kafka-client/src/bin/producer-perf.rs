//! `producer-perf`: Kafka's `kafka-producer-perf-test` for this client.
//!
//! Sends `--num-records` records of `--record-size` bytes (or lines of a payload file) as fast
//! as allowed by `--throughput` (records/s, -1 unlimited) and prints, every 5 s and at the
//! end, records/s, MB/s and the latency from `send` to acknowledgement: avg, max, p50, p95,
//! p99 and p99.9, in Java's format. Producer settings come from `--producer-props k=v ...`
//! and `--producer.config FILE`.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use kafka_client::producer::{Producer, ProducerRecord};

#[path = "common/mod.rs"]
mod common;

#[derive(Debug, Parser)]
#[command(
    name = "producer-perf",
    about = "Producer throughput and latency test (kafka-producer-perf-test)."
)]
struct Args {
    /// Topic to produce to.
    #[arg(long)]
    topic: String,
    /// Number of records to send.
    #[arg(long = "num-records")]
    num_records: u64,
    /// Size of each record's value in bytes.
    #[arg(long = "record-size", default_value_t = 1024)]
    record_size: usize,
    /// Records per second at most; -1 for no limit.
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true)]
    throughput: f64,
    /// Producer properties, key=value.
    #[arg(long = "producer-props", num_args = 1..)]
    producer_props: Vec<String>,
    /// A producer properties file.
    #[arg(long = "producer.config")]
    producer_config: Option<std::path::PathBuf>,
    /// Shorthand for bootstrap.servers.
    #[arg(long = "bootstrap-server")]
    bootstrap_server: Option<String>,
    /// Print one JSON summary line at the end instead of Java's text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Default)]
struct Window {
    count: u64,
    bytes: u64,
    total_latency_us: u128,
    max_latency_us: u128,
}

fn main() -> ExitCode {
    common::init_logging();
    let args = Args::parse();
    let props = match common::properties(
        args.producer_config.as_deref(),
        &args.producer_props,
        args.bootstrap_server.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("producer-perf: {e}");
            return ExitCode::from(2);
        }
    };
    let producer = match Producer::new(&props) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("producer-perf: {e}");
            return ExitCode::from(2);
        }
    };
    // Random-looking but fixed payload: compressible data would flatter codecs.
    let mut payload = vec![0u8; args.record_size];
    let mut x: u32 = 0x1234_5678;
    for b in &mut payload {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = b'A' + (x % 26) as u8;
    }
    let payload = Bytes::from(payload);
    let topic: Arc<str> = Arc::from(args.topic.as_str());

    let latencies = Arc::new(Mutex::new(common::Latencies::new(
        args.num_records,
        500_000,
    )));
    let window = Arc::new(Mutex::new(Window::default()));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let throttler = common::Throttler::new(args.throughput, start);
    let mut last_report = start;
    for i in 0..args.num_records {
        throttler.throttle(i);
        let record = ProducerRecord::new(Arc::clone(&topic)).value(payload.clone());
        let sent_at = Instant::now();
        let cb_latencies = Arc::clone(&latencies);
        let cb_window = Arc::clone(&window);
        let cb_errors = Arc::clone(&errors);
        let size = args.record_size as u64;
        let result = producer.send_with_callback(record, move |result| {
            let (latencies, window, errors) = (cb_latencies, cb_window, cb_errors);
            let latency = sent_at.elapsed();
            if let Err(e) = result {
                if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("producer-perf: send failed: {e}");
                }
                return;
            }
            latencies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record(latency);
            let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
            w.count += 1;
            w.bytes += size;
            w.total_latency_us += latency.as_micros();
            w.max_latency_us = w.max_latency_us.max(latency.as_micros());
        });
        if let Err(e) = result {
            eprintln!("producer-perf: {e}");
            errors.fetch_add(1, Ordering::Relaxed);
        }
        if !args.json && last_report.elapsed() >= Duration::from_secs(5) {
            let elapsed = last_report.elapsed().as_secs_f64();
            let w = std::mem::take(&mut *window.lock().unwrap_or_else(|e| e.into_inner()));
            if w.count > 0 {
                println!(
                    "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
                    w.count,
                    w.count as f64 / elapsed,
                    w.bytes as f64 / elapsed / (1024.0 * 1024.0),
                    w.total_latency_us as f64 / w.count as f64 / 1000.0,
                    w.max_latency_us as f64 / 1000.0
                );
            }
            last_report = Instant::now();
        }
    }
    producer.flush();
    let elapsed = start.elapsed().as_secs_f64();
    producer.close();
    let mut l = latencies.lock().unwrap_or_else(|e| e.into_inner());
    let ok = l.count();
    let p = l.percentiles_ms(&[0.5, 0.95, 0.99, 0.999]);
    let records_per_sec = ok as f64 / elapsed;
    let mb_per_sec = ok as f64 * args.record_size as f64 / elapsed / (1024.0 * 1024.0);
    let failed = errors.load(Ordering::Relaxed);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "records": ok, "failed": failed, "seconds": elapsed,
                "records_per_sec": records_per_sec, "mb_per_sec": mb_per_sec,
                "avg_ms": l.avg_ms(), "max_ms": l.max_ms(),
                "p50_ms": p[0], "p95_ms": p[1], "p99_ms": p[2], "p999_ms": p[3],
            })
        );
    } else {
        println!(
            "{ok} records sent, {records_per_sec:.1} records/sec ({mb_per_sec:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {:.0} ms 50th, {:.0} ms 95th, {:.0} ms 99th, {:.0} ms 99.9th.",
            l.avg_ms(),
            l.max_ms(),
            p[0],
            p[1],
            p[2],
            p[3]
        );
    }
    if failed > 0 {
        eprintln!("producer-perf: {failed} record(s) failed");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
