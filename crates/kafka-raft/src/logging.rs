//! A `slog` drain that forwards the raft library's log lines to `tracing`, so that they go
//! wherever the broker's subscriber sends everything else (and nowhere when none is set).

use std::fmt::{self, Write as _};

use slog::{Drain, Key, Level, OwnedKVList, Record, Serializer, KV};

/// Forwards slog records as `tracing` events of target `raft`, fields flattened into the
/// message (`key=value ...`). Formats nothing for a level `tracing` has disabled.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TracingDrain;

struct KvText(String);

impl Serializer for KvText {
    fn emit_arguments(&mut self, key: Key, val: &fmt::Arguments<'_>) -> slog::Result {
        // Writing into a String cannot fail.
        let _ = write!(self.0, " {key}={val}");
        Ok(())
    }
}

fn render(record: &Record<'_>, values: &OwnedKVList) -> String {
    let mut kv = KvText(record.msg().to_string());
    let _ = record.kv().serialize(record, &mut kv);
    let _ = values.serialize(record, &mut kv);
    kv.0
}

impl Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        match record.level() {
            Level::Critical | Level::Error => {
                if tracing::enabled!(target: "raft", tracing::Level::ERROR) {
                    tracing::error!(target: "raft", "{}", render(record, values));
                }
            }
            Level::Warning => {
                if tracing::enabled!(target: "raft", tracing::Level::WARN) {
                    tracing::warn!(target: "raft", "{}", render(record, values));
                }
            }
            // raft-rs narrates every election step at info; the node logs role changes itself
            // (kafka_raft::node), so raft's own narration is debug here.
            Level::Info => {
                if tracing::enabled!(target: "raft", tracing::Level::DEBUG) {
                    tracing::debug!(target: "raft", "{}", render(record, values));
                }
            }
            Level::Debug => {
                if tracing::enabled!(target: "raft", tracing::Level::DEBUG) {
                    tracing::debug!(target: "raft", "{}", render(record, values));
                }
            }
            Level::Trace => {
                if tracing::enabled!(target: "raft", tracing::Level::TRACE) {
                    tracing::trace!(target: "raft", "{}", render(record, values));
                }
            }
        }
        Ok(())
    }
}

/// The logger handed to the raft library, tagged with this node's id.
pub(crate) fn raft_logger(node_id: u64) -> slog::Logger {
    slog::Logger::root(TracingDrain, slog::o!("raft_id" => node_id))
}
