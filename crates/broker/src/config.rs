//! The broker's configuration: one table of keys (name, type, default, documentation), from
//! which parsing, validation, `broker --describe-config` and the generated reference are all
//! derived. Keys and defaults are Kafka's `server.properties` ones, except where noted in a key's
//! documentation (the listener binds 127.0.0.1 and data goes to `./kafka-data` so that a
//! first run needs nothing).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kafka_network::transport::SecurityProtocol;
use kafka_server::config::parse_ip_overrides;
use kafka_server::{ListenerConfig, SocketServerConfig};
use kafka_storage::LogConfig;

use crate::error::{Error, Result};

/// A value's type, for validation and documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// A 32-bit integer.
    Int,
    /// A 64-bit integer.
    Long,
    /// `true` or `false`.
    Bool,
    /// Free text.
    String,
    /// A comma-separated list.
    List,
    /// A secret: never printed.
    Password,
}

impl Type {
    /// Kafka's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            Type::Int => "int",
            Type::Long => "long",
            Type::Bool => "boolean",
            Type::String => "string",
            Type::List => "list",
            Type::Password => "password",
        }
    }
}

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// The key as in `server.properties`.
    pub name: &'static str,
    /// Its type.
    pub kind: Type,
    /// The default, `None` for "not set".
    pub default: Option<&'static str>,
    /// What it does.
    pub doc: &'static str,
}

const fn key(
    name: &'static str,
    kind: Type,
    default: Option<&'static str>,
    doc: &'static str,
) -> ConfigKey {
    ConfigKey {
        name,
        kind,
        default,
        doc,
    }
}

/// Every broker key this broker honours.
pub const KEYS: &[ConfigKey] = &[
    key("node.id", Type::Int, Some("1"), "The id of this broker in cluster metadata."),
    key("cluster.id", Type::String, None, "The cluster id; generated on first start and kept in meta.properties when not set."),
    key("listeners", Type::List, Some("PLAINTEXT://127.0.0.1:9092"), "Listeners as NAME://host:port. Kafka's default binds all interfaces; this broker binds 127.0.0.1 unless told otherwise."),
    key("advertised.listeners", Type::List, None, "Listeners given to clients in metadata, when different from `listeners`."),
    key("listener.security.protocol.map", Type::List, Some("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"), "Security protocol of each listener name."),
    key("num.network.threads", Type::Int, Some("3"), "Processor threads per listener."),
    key("num.io.threads", Type::Int, Some("8"), "Request handler threads."),
    key("queued.max.requests", Type::Int, Some("500"), "Requests queued for the handlers before the network threads stop reading."),
    key("queued.max.request.bytes", Type::Long, Some("-1"), "Memory for received requests; -1 is unbounded."),
    key("socket.send.buffer.bytes", Type::Int, Some("102400"), "SO_SNDBUF of accepted sockets; -1 for the OS default."),
    key("socket.receive.buffer.bytes", Type::Int, Some("102400"), "SO_RCVBUF of accepted sockets; -1 for the OS default."),
    key("socket.request.max.bytes", Type::Int, Some("104857600"), "The largest request accepted."),
    key("socket.listen.backlog.size", Type::Int, Some("50"), "The listen backlog of each listener."),
    key("connections.max.idle.ms", Type::Long, Some("600000"), "Idle connections are closed after this long."),
    key("max.connections", Type::Int, Some("2147483647"), "Connections the broker accepts in total."),
    key("max.connections.per.ip", Type::Int, Some("2147483647"), "Connections accepted from one IP address."),
    key("max.connections.per.ip.overrides", Type::String, Some(""), "Per-IP limits as ip:count,ip:count."),
    key("max.connection.creation.rate", Type::Int, Some("2147483647"), "New connections accepted per second."),
    key("log.dirs", Type::List, None, "Directories holding the log; `log.dir` is used when not set."),
    key("log.dir", Type::String, Some("kafka-data"), "The log directory when `log.dirs` is not set. Kafka's default is /tmp/kafka-logs; this broker uses ./kafka-data."),
    key("num.partitions", Type::Int, Some("1"), "Partitions of auto-created topics."),
    key("default.replication.factor", Type::Int, Some("1"), "Replication factor of auto-created topics (this broker has one replica)."),
    key("auto.create.topics.enable", Type::Bool, Some("true"), "Create unknown topics on metadata requests and produce."),
    key("delete.topic.enable", Type::Bool, Some("true"), "Allow DeleteTopics."),
    key("log.segment.bytes", Type::Int, Some("1073741824"), "Segment size before rolling."),
    key("log.roll.hours", Type::Int, Some("168"), "Segment age before rolling."),
    key("log.roll.ms", Type::Long, None, "Segment age before rolling, in ms (overrides hours)."),
    key("log.retention.hours", Type::Int, Some("168"), "How long segments are kept."),
    key("log.retention.minutes", Type::Int, None, "How long segments are kept, in minutes (overrides hours)."),
    key("log.retention.ms", Type::Long, None, "How long segments are kept, in ms (overrides minutes); -1 keeps them forever."),
    key("log.retention.bytes", Type::Long, Some("-1"), "Size a partition may grow to before old segments are deleted; -1 is unlimited."),
    key("log.retention.check.interval.ms", Type::Long, Some("300000"), "How often retention runs."),
    key("log.flush.interval.messages", Type::Long, Some("9223372036854775807"), "Messages appended before an fsync; 1 makes every acknowledged acks=all write durable. The fsync runs on the log manager's flusher thread (one fsync covers every append since the last); the produce response waits for it, and answers `KAFKA_STORAGE_ERROR` if it fails."),
    key("log.flush.interval.ms", Type::Long, None, "Time a message may stay unflushed."),
    key("log.index.interval.bytes", Type::Int, Some("4096"), "Bytes between offset index entries."),
    key("log.message.timestamp.type", Type::String, Some("CreateTime"), "CreateTime or LogAppendTime."),
    key("message.max.bytes", Type::Int, Some("1048588"), "The largest record batch accepted."),
    key("group.initial.rebalance.delay.ms", Type::Int, Some("3000"), "Delay of the first rebalance of an empty group."),
    key("group.min.session.timeout.ms", Type::Int, Some("6000"), "Smallest session timeout a member may ask for."),
    key("group.max.session.timeout.ms", Type::Int, Some("1800000"), "Largest session timeout a member may ask for."),
    key("offsets.topic.num.partitions", Type::Int, Some("50"), "Partitions of `__consumer_offsets`, created on the first FindCoordinator for a group; an existing topic keeps its count."),
    key("offsets.retention.minutes", Type::Int, Some("10080"), "How long committed offsets of empty groups are kept."),
    key("ssl.keystore.location", Type::String, None, "PEM file with the listener's private key and certificate chain."),
    key("ssl.keystore.type", Type::String, Some("PEM"), "Key store type; only PEM is supported."),
    key("ssl.key.password", Type::Password, None, "Password of an encrypted key (not supported: use an unencrypted PEM key)."),
    key("ssl.truststore.location", Type::String, None, "PEM file of CA certificates trusted for client certificates."),
    key("ssl.truststore.type", Type::String, Some("PEM"), "Trust store type; only PEM is supported."),
    key("ssl.client.auth", Type::String, Some("none"), "none, requested or required."),
    key("ssl.enabled.protocols", Type::List, Some("TLSv1.2,TLSv1.3"), "TLS versions accepted."),
    key("ssl.cipher.suites", Type::List, None, "Cipher suites accepted (IANA names); all safe ones when not set."),
    key("ssl.endpoint.identification.algorithm", Type::String, Some("https"), "Host name verification for client connections."),
    key("ssl.principal.mapping.rules", Type::String, Some("DEFAULT"), "Only DEFAULT is supported."),
    key("sasl.enabled.mechanisms", Type::List, Some("PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"), "SASL mechanisms offered. Kafka's default is GSSAPI, which this broker does not implement."),
    key("sasl.credentials.file", Type::String, None, "File of SCRAM credentials (username mechanism salt stored_key server_key iterations); PLAIN is checked against them."),
    key("connections.max.reauth.ms", Type::Long, Some("0"), "Session lifetime of SASL connections; 0 never expires them."),
    key("prometheus.listener", Type::String, Some("127.0.0.1:9404"), "Address of the Prometheus metrics endpoint (/metrics); empty disables it."),
];

/// Looks up a key's definition.
pub fn definition(name: &str) -> Option<&'static ConfigKey> {
    KEYS.iter().find(|k| k.name == name)
}

/// Parses `server.properties` text: `key=value` or `key: value` lines, `#`/`!` comments,
/// `\` line continuations.
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut pending = String::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        if let Some(stripped) = line.strip_suffix('\\') {
            pending.push_str(stripped);
            continue;
        }
        pending.push_str(line);
        let entry = std::mem::take(&mut pending);
        let split = entry
            .find(['=', ':'])
            .ok_or_else(|| Error::Config(format!("line {}: expected key=value", n + 1)))?;
        let (k, v) = entry.split_at(split);
        out.insert(k.trim().to_string(), v[1..].trim().to_string());
    }
    Ok(out)
}

/// The broker's configuration, validated.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    values: BTreeMap<String, String>,
}

impl BrokerConfig {
    /// Validates `values` against [`KEYS`]; unknown keys are kept and logged, as Kafka does.
    pub fn new(values: BTreeMap<String, String>) -> Result<Self> {
        for (k, v) in &values {
            match definition(k) {
                // Per-listener settings (`listener.name.sasl_ssl.ssl.keystore.location`).
                None if k.starts_with("listener.name.") => {}
                None => tracing::warn!(key = %k, "unknown configuration key (ignored)"),
                Some(def) => validate(def, v)?,
            }
        }
        let cfg = BrokerConfig { values };
        cfg.socket_server()?;
        cfg.log_config()?;
        Ok(cfg)
    }

    /// The raw value of `name`, or its default.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .or_else(|| definition(name).and_then(|d| d.default))
    }

    /// Whether `name` was set explicitly.
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    fn long(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::Config(format!("{name}: {v:?} is not a number"))),
        }
    }

    fn long_or(&self, name: &str, fallback: i64) -> Result<i64> {
        Ok(self.long(name)?.unwrap_or(fallback))
    }

    /// A boolean value.
    pub fn bool(&self, name: &str) -> bool {
        self.get(name) == Some("true")
    }

    /// A list value.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `node.id`.
    pub fn node_id(&self) -> i32 {
        self.long_or("node.id", 1).unwrap_or(1) as i32
    }

    /// The log directories.
    pub fn log_dirs(&self) -> Vec<PathBuf> {
        let dirs = self.list("log.dirs");
        if dirs.is_empty() {
            vec![PathBuf::from(self.get("log.dir").unwrap_or("kafka-data"))]
        } else {
            dirs.into_iter().map(PathBuf::from).collect()
        }
    }

    /// `listener.security.protocol.map`.
    pub fn protocol_map(&self) -> Result<HashMap<String, SecurityProtocol>> {
        let mut map = HashMap::new();
        for item in self.list("listener.security.protocol.map") {
            let (name, proto) = item.split_once(':').ok_or_else(|| {
                Error::Config(format!(
                    "listener.security.protocol.map: {item:?} is not NAME:PROTOCOL"
                ))
            })?;
            let proto = SecurityProtocol::from_name(proto).ok_or_else(|| {
                Error::Config(format!(
                    "listener.security.protocol.map: unknown protocol {proto:?}"
                ))
            })?;
            map.insert(name.trim().to_ascii_uppercase(), proto);
        }
        Ok(map)
    }

    /// `listeners`.
    pub fn listeners(&self) -> Result<Vec<ListenerConfig>> {
        Ok(ListenerConfig::parse_list(
            self.get("listeners").unwrap_or(""),
            &self.protocol_map()?,
        )?)
    }

    /// `advertised.listeners`, falling back to `listeners`.
    pub fn advertised_listeners(&self) -> Result<Vec<ListenerConfig>> {
        match self.get("advertised.listeners") {
            Some(v) if !v.trim().is_empty() => {
                Ok(ListenerConfig::parse_list(v, &self.protocol_map()?)?)
            }
            _ => self.listeners(),
        }
    }

    /// The socket server's settings.
    pub fn socket_server(&self) -> Result<SocketServerConfig> {
        let opt_size = |v: i64| if v < 0 { None } else { Some(v as usize) };
        let max_rate = self.long_or("max.connection.creation.rate", i64::from(i32::MAX))?;
        Ok(SocketServerConfig {
            listeners: self.listeners()?,
            num_network_threads: self.long_or("num.network.threads", 3)?.max(1) as usize,
            num_io_threads: self.long_or("num.io.threads", 8)?.max(1) as usize,
            queued_max_requests: self.long_or("queued.max.requests", 500)?.max(1) as usize,
            queued_max_request_bytes: opt_size(self.long_or("queued.max.request.bytes", -1)?),
            socket_send_buffer_bytes: opt_size(self.long_or("socket.send.buffer.bytes", 102_400)?),
            socket_receive_buffer_bytes: opt_size(
                self.long_or("socket.receive.buffer.bytes", 102_400)?,
            ),
            socket_request_max_bytes: self
                .long_or("socket.request.max.bytes", 104_857_600)?
                .max(1) as usize,
            socket_listen_backlog_size: self
                .long_or("socket.listen.backlog.size", 50)?
                .clamp(1, i64::from(i32::MAX)) as i32,
            connections_max_idle: match self.long_or("connections.max.idle.ms", 600_000)? {
                v if v < 0 => None,
                v => Some(Duration::from_millis(v as u64)),
            },
            max_connections: self.long_or("max.connections", i64::from(i32::MAX))?.max(0) as usize,
            max_connections_per_listener: HashMap::new(),
            max_connections_per_ip: self
                .long_or("max.connections.per.ip", i64::from(i32::MAX))?
                .max(0) as usize,
            max_connections_per_ip_overrides: parse_ip_overrides(
                self.get("max.connections.per.ip.overrides").unwrap_or(""),
            )?,
            max_connection_creation_rate: if max_rate >= i64::from(i32::MAX) {
                None
            } else {
                Some(max_rate.max(0) as u32)
            },
            shutdown_grace: Duration::from_secs(5),
        })
    }

    /// The default log configuration of every topic.
    pub fn log_config(&self) -> Result<LogConfig> {
        let hour = 3_600_000i64;
        let retention_ms = match (
            self.long("log.retention.ms")?,
            self.long("log.retention.minutes")?,
        ) {
            (Some(ms), _) => ms,
            (None, Some(min)) => min * 60_000,
            (None, None) => self.long_or("log.retention.hours", 168)? * hour,
        };
        let roll_ms = match self.long("log.roll.ms")? {
            Some(ms) => ms,
            None => self.long_or("log.roll.hours", 168)? * hour,
        };
        let retention_bytes = self.long_or("log.retention.bytes", -1)?;
        let flush_messages = self.long_or("log.flush.interval.messages", i64::MAX)?;
        let timestamp_type = match self
            .get("log.message.timestamp.type")
            .unwrap_or("CreateTime")
        {
            "CreateTime" => kafka_protocol::records::TimestampType::CreateTime,
            "LogAppendTime" => kafka_protocol::records::TimestampType::LogAppendTime,
            other => {
                return Err(Error::Config(format!(
                    "log.message.timestamp.type: {other:?}"
                )))
            }
        };
        Ok(LogConfig {
            segment_bytes: self.long_or("log.segment.bytes", 1 << 30)?.max(1) as u64,
            segment_ms: (roll_ms > 0).then_some(roll_ms as u64),
            retention_ms: (retention_ms >= 0).then_some(retention_ms),
            retention_bytes: (retention_bytes >= 0).then_some(retention_bytes as u64),
            flush_interval_messages: (flush_messages < i64::MAX && flush_messages > 0)
                .then_some(flush_messages as u64),
            flush_interval_ms: self
                .long("log.flush.interval.ms")?
                .filter(|v| *v >= 0)
                .map(|v| v as u64),
            index_interval_bytes: self.long_or("log.index.interval.bytes", 4096)?.max(1) as u64,
            max_message_bytes: self.long_or("message.max.bytes", 1_048_588)?.max(0) as usize,
            message_timestamp_type: timestamp_type,
            ..LogConfig::default()
        })
    }

    /// The Prometheus endpoint's address, if enabled.
    pub fn prometheus_listener(&self) -> Result<Option<SocketAddr>> {
        match self.get("prometheus.listener") {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::Config(format!("prometheus.listener: {v:?} is not host:port"))),
        }
    }

    /// Every key with its effective value (passwords hidden), for logging at start-up.
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        KEYS.iter()
            .map(|k| {
                let v = match (k.kind, self.get(k.name)) {
                    (Type::Password, Some(_)) => "[hidden]".to_string(),
                    (_, Some(v)) => v.to_string(),
                    (_, None) => "null".to_string(),
                };
                (k.name, v)
            })
            .collect()
    }

    /// The raw values set explicitly.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }
}

fn validate(def: &ConfigKey, value: &str) -> Result<()> {
    let bad = |what: &str| {
        Err(Error::Config(format!(
            "{}: {value:?} is not {what}",
            def.name
        )))
    };
    match def.kind {
        Type::Int if value.parse::<i32>().is_err() => bad("an int"),
        Type::Long if value.parse::<i64>().is_err() => bad("a long"),
        Type::Bool if value != "true" && value != "false" => bad("true or false"),
        _ => Ok(()),
    }
}

/// The reference table of every key, as Markdown (for `broker --describe-config` and docs).
pub fn reference_markdown() -> String {
    let mut out = String::from("| key | type | default | description |\n|---|---|---|---|\n");
    for k in KEYS {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            k.name,
            k.kind.name(),
            k.default
                .map_or("(not set)".to_string(), |d| if d.is_empty() {
                    "\"\"".into()
                } else {
                    format!("`{d}`")
                }),
            k.doc
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_parse_like_java() {
        let p = parse_properties("# comment\n! also\nlisteners=PLAINTEXT://127.0.0.1:0\nlog.dirs : /a,\\\n  /b\n\nnum.io.threads=2\n").unwrap();
        assert_eq!(p["listeners"], "PLAINTEXT://127.0.0.1:0");
        assert_eq!(p["log.dirs"], "/a,/b");
        assert_eq!(p["num.io.threads"], "2");
    }

    #[test]
    fn defaults_are_kafkas() {
        let c = BrokerConfig::new(BTreeMap::new()).unwrap();
        let s = c.socket_server().unwrap();
        assert_eq!(s.num_network_threads, 3);
        assert_eq!(s.num_io_threads, 8);
        assert_eq!(s.queued_max_requests, 500);
        assert_eq!(s.socket_request_max_bytes, 104_857_600);
        assert_eq!(s.listeners[0].port, 9092);
        let l = c.log_config().unwrap();
        assert_eq!(l.segment_bytes, 1 << 30);
        assert_eq!(l.retention_ms, Some(168 * 3_600_000));
        assert_eq!(l.max_message_bytes, 1_048_588);
        assert_eq!(l.flush_interval_messages, None);
        assert!(c.bool("auto.create.topics.enable"));
    }

    #[test]
    fn overrides_win_and_bad_values_are_refused() {
        let mut v = BTreeMap::new();
        v.insert("log.retention.minutes".to_string(), "5".to_string());
        v.insert("log.flush.interval.messages".to_string(), "1".to_string());
        let c = BrokerConfig::new(v).unwrap();
        assert_eq!(c.log_config().unwrap().retention_ms, Some(300_000));
        assert_eq!(c.log_config().unwrap().flush_interval_messages, Some(1));
        let mut v = BTreeMap::new();
        v.insert("num.io.threads".to_string(), "many".to_string());
        assert!(BrokerConfig::new(v).is_err());
    }

    #[test]
    fn every_key_is_documented_once() {
        let mut names: Vec<_> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
        assert!(KEYS.iter().all(|k| !k.doc.is_empty()));
    }
}
