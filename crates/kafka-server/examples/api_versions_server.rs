//! A `SocketServer` that answers ApiVersions with a broker-sized list of ranges (every API the
//! codec knows, at its codec range: the broker's own table lives in the broker crate) and
//! closes the connection on anything else: the target of the `loadgen` example.
//!
//! ```sh
//! cargo run --release -p kafka-server --example api_versions_server -- --port 9092
//! ```
//!
//! It prints `listening on ADDR` on stdout once bound, serves until its stdin reaches EOF
//! (so a parent process controls its life by holding the pipe; Ctrl-D in a terminal), then
//! shuts down gracefully and prints a few of its Prometheus metrics on stderr.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use crossbeam_channel::RecvTimeoutError;
use kafka_protocol::messages::{ApiVersionsResponse, RequestKind, ResponseKind};
use kafka_protocol::ApiKey;
use kafka_server::{
    AdvertisedApis, RequestContext, RequestHandler, Responder, SocketServer, SocketServerConfig,
};
use metrics_exporter_prometheus::PrometheusBuilder;

#[derive(Debug, Parser)]
#[command(about = "An ApiVersions-only SocketServer; runs until stdin reaches EOF")]
struct Args {
    /// Host to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// `num.network.threads`: Processors for the listener.
    #[arg(long, default_value_t = 3)]
    network_threads: usize,
    /// `num.io.threads`: request handler threads.
    #[arg(long, default_value_t = 8)]
    io_threads: usize,
    /// `socket.listen.backlog.size` (Kafka's default is 50; the kernel caps it at somaxconn).
    #[arg(long, default_value_t = 50)]
    backlog: i32,
    /// `queued.max.requests`.
    #[arg(long, default_value_t = 500)]
    queued_max_requests: usize,
    /// How often the Prometheus recorder's upkeep runs. Without the exporter's HTTP listener
    /// nothing else drains its histograms, which otherwise keep every sample (about 8 per
    /// request) until the next render.
    #[arg(long, default_value_t = 250)]
    metrics_upkeep_ms: u64,
}

/// Answers ApiVersions (at the request's version, which the Processor has already checked
/// against the supported range) and closes the connection on anything else.
struct ApiVersionsOnly {
    /// Built once; `respond` encodes it at each request's version.
    versions: ResponseKind,
}

impl RequestHandler for ApiVersionsOnly {
    fn handle(&self, _context: RequestContext, body: RequestKind, responder: Responder) {
        match body {
            RequestKind::ApiVersions(_) => responder.respond(self.versions.clone()),
            _ => responder.close(),
        }
    }
}

/// The metric names (from the crate's catalogue) worth showing after a load test.
fn interesting(name: &str) -> bool {
    name.ends_with("requests_total")
        || name.ends_with("idlepercent")
        || name.ends_with("connection_creation_total")
        || name.ends_with("connection_close_total")
        || name.ends_with("connections_rejected_total")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let (stop_upkeep, upkeep_stopped) = crossbeam_channel::bounded::<()>(0);
    let upkeep = {
        let prometheus = prometheus.clone();
        let every = Duration::from_millis(args.metrics_upkeep_ms.max(1));
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = upkeep_stopped.recv_timeout(every) {
                    prometheus.run_upkeep();
                }
            })?
    };

    let mut config = SocketServerConfig::default();
    config.listeners[0].host = args.host.clone();
    config.listeners[0].port = args.port;
    config.num_network_threads = args.network_threads;
    config.num_io_threads = args.io_threads;
    config.socket_listen_backlog_size = args.backlog;
    config.queued_max_requests = args.queued_max_requests;
    let listener = config.listeners[0].name.clone();

    let apis = AdvertisedApis::new(ApiKey::ALL.into_iter().map(|k| (k, k.valid_versions())));
    let handler = Arc::new(ApiVersionsOnly {
        versions: ResponseKind::ApiVersions(
            ApiVersionsResponse::default().with_api_keys(apis.entries()),
        ),
    });
    let server = SocketServer::start(config, apis, handler, HashMap::new())?;
    let addr = server
        .bound_address(&listener)
        .ok_or("the listener has no bound address")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {addr}")?;
        out.flush()?;
    }

    // Serve until the parent closes our stdin (or the terminal sends EOF).
    let mut sink = [0u8; 256];
    let mut stdin = std::io::stdin().lock();
    loop {
        match stdin.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    server.shutdown();
    drop(stop_upkeep);
    let _ = upkeep.join();

    let names: Vec<&str> = kafka_server::metrics::METRICS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| interesting(name))
        .collect();
    let rendered = prometheus.render();
    let mut err = std::io::stderr().lock();
    for line in rendered.lines() {
        if !line.starts_with('#') && names.iter().any(|n| line.starts_with(n)) {
            writeln!(err, "[server metrics] {line}")?;
        }
    }
    Ok(())
}
