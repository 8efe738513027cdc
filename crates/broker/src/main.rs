//! The `broker` binary.
//!
//! Today it only reports its version and the protocol it speaks; the broker issue puts
//! `KafkaApis`, the log and the group coordinator behind `kafka-server` here.

use clap::Parser;

/// A Kafka-compatible broker.
#[derive(Debug, Parser)]
#[command(name = "broker", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    println!(
        "broker {}: the wire protocol codec is in place ({} APIs); serving is not implemented yet",
        env!("CARGO_PKG_VERSION"),
        kafka_protocol::ApiKey::ALL.len()
    );
}
