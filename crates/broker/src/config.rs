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

/// How a key may change while the broker runs: Kafka's "update mode".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// Only at start-up (`server.properties` and `--override`).
    ReadOnly,
    /// Per broker, through AlterConfigs on this broker's id (a listener's key store).
    /// Security keys among them change only with the `listener.name.<listener>.` prefix.
    PerBroker,
    /// Per broker or cluster-wide, through AlterConfigs on the broker id or on the default
    /// resource (the empty name).
    ClusterWide,
}

impl Update {
    /// Kafka's name for the mode, as its documentation prints it.
    pub fn name(self) -> &'static str {
        match self {
            Update::ReadOnly => "read-only",
            Update::PerBroker => "per-broker",
            Update::ClusterWide => "cluster-wide",
        }
    }
}

/// Whether the broker does what a key asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Honoured.
    Honoured,
    /// A Kafka key that matters for security or durability and is not implemented: start-up
    /// fails when it is set to anything but one of these values (fail closed), rather than
    /// run without the protection the operator asked for.
    Refused(&'static [&'static str]),
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
    /// Whether and where it can change at run time.
    pub update: Update,
    /// Whether it is honoured.
    pub support: Support,
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
        update: Update::ReadOnly,
        support: Support::Honoured,
    }
}

/// A Kafka key this broker does not implement and refuses to start with unless its value is
/// one of `allowed` (see [`Support::Refused`]).
const fn refused(
    name: &'static str,
    kind: Type,
    allowed: &'static [&'static str],
    doc: &'static str,
) -> ConfigKey {
    ConfigKey {
        name,
        kind,
        default: None,
        doc,
        update: Update::ReadOnly,
        support: Support::Refused(allowed),
    }
}

impl ConfigKey {
    /// The key changes at run time, per broker or cluster-wide.
    const fn dynamic(mut self) -> Self {
        self.update = Update::ClusterWide;
        self
    }

    /// The key changes at run time, per broker only.
    const fn per_broker(mut self) -> Self {
        self.update = Update::PerBroker;
        self
    }

    /// Whether the key is a TLS or SASL setting, which Kafka changes at run time only with a
    /// listener prefix.
    pub fn is_security(&self) -> bool {
        self.name.starts_with("ssl.") || self.name.starts_with("sasl.")
    }
}

/// Every broker key: those this broker honours (with the ones it can change at run time) and
/// the Kafka keys it refuses to start with. The one source of truth: parsing, validation,
/// dynamic updates, DescribeConfigs, `broker --describe-config` and docs/configuration.md
/// all derive from it.
#[rustfmt::skip]
pub const KEYS: &[ConfigKey] = &[
    key("node.id", Type::Int, Some("1"), "The id of this node in the cluster (as broker and as metadata-quorum voter)."),
    key("process.roles", Type::List, Some("broker,controller"), "What this process is: `broker,controller` (a node that serves clients and votes in the metadata quorum, Kafka's combined mode). Separate `broker` or `controller` processes are not supported yet and stop start-up."),
    key("controller.quorum.voters", Type::List, None, "The metadata quorum as `id@host:port,...` (each voter's controller listener). Not set: this node is a quorum of one, its own controller."),
    key("controller.listener.names", Type::List, None, "The listeners that serve the metadata quorum and brokers' registrations instead of clients; required when `controller.quorum.voters` names other nodes. Controller listeners are plaintext inside the cluster's network for now."),
    key("metadata.log.dir", Type::String, None, "Where the metadata log (`__cluster_metadata-0`) lives; the first of `log.dirs` when not set."),
    key("broker.rack", Type::String, None, "This broker's rack: replica placement spreads a partition's replicas over racks."),
    key("broker.session.timeout.ms", Type::Int, Some("9000"), "A broker not heard from for this long is fenced by the active controller and its partitions get new leaders."),
    key("broker.heartbeat.interval.ms", Type::Int, Some("2000"), "How often a broker heartbeats to the active controller."),
    key("cluster.id", Type::String, None, "The cluster id; generated on first start and kept in meta.properties when not set."),
    key("listeners", Type::List, Some("PLAINTEXT://127.0.0.1:9092"), "Listeners as NAME://host:port. Kafka's default binds all interfaces; this broker binds 127.0.0.1 unless told otherwise."),
    key("advertised.listeners", Type::List, None, "Listeners given to clients in metadata, when different from `listeners`."),
    key("listener.security.protocol.map", Type::List, Some("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"), "Security protocol of each listener name."),
    key("num.network.threads", Type::Int, Some("3"), "Processor threads per listener. Read-only here (Kafka resizes the pool live): change it with a restart."),
    key("num.io.threads", Type::Int, Some("8"), "Request handler threads. Read-only here (Kafka resizes the pool live): change it with a restart."),
    key("queued.max.requests", Type::Int, Some("500"), "Requests queued for the handlers before the network threads stop reading."),
    key("queued.max.request.bytes", Type::Long, Some("-1"), "Memory for received requests; -1 is unbounded."),
    key("socket.send.buffer.bytes", Type::Int, Some("102400"), "SO_SNDBUF of accepted sockets; -1 for the OS default."),
    key("socket.receive.buffer.bytes", Type::Int, Some("102400"), "SO_RCVBUF of accepted sockets; -1 for the OS default."),
    key("socket.request.max.bytes", Type::Int, Some("104857600"), "The largest request accepted."),
    key("socket.listen.backlog.size", Type::Int, Some("50"), "The listen backlog of each listener."),
    key("connections.max.idle.ms", Type::Long, Some("600000"), "Idle connections are closed after this long."),
    key("max.connections", Type::Int, Some("2147483647"), "Connections the broker accepts in total; once reached, new connections wait in the listen backlog. Lowering it closes no open connection.").dynamic(),
    key("max.connections.per.ip", Type::Int, Some("2147483647"), "Connections accepted from one IP address; more are closed at once.").dynamic(),
    key("max.connections.per.ip.overrides", Type::String, Some(""), "Per-IP limits as ip:count,ip:count.").dynamic(),
    key("max.connection.creation.rate", Type::Int, Some("2147483647"), "New connections accepted per second.").dynamic(),
    key("log.dirs", Type::List, None, "Directories holding the log; `log.dir` is used when not set. Dynamic broker configs are kept in the first one (`dynamic-broker-configs.json`)."),
    key("log.dir", Type::String, Some("kafka-data"), "The log directory when `log.dirs` is not set. Kafka's default is /tmp/kafka-logs; this broker uses ./kafka-data."),
    key("num.partitions", Type::Int, Some("1"), "Partitions of auto-created topics."),
    refused("default.replication.factor", Type::Int, &["1"], "Replication factor of auto-created topics. This broker keeps one replica: a value above 1 stops start-up rather than create topics with fewer copies than asked."),
    key("auto.create.topics.enable", Type::Bool, Some("true"), "Create unknown topics on metadata requests and produce."),
    key("delete.topic.enable", Type::Bool, Some("true"), "Allow DeleteTopics."),
    key("log.segment.bytes", Type::Int, Some("1073741824"), "Segment size before rolling.").dynamic(),
    key("log.roll.hours", Type::Int, Some("168"), "Segment age before rolling.").dynamic(),
    key("log.roll.ms", Type::Long, None, "Segment age before rolling, in ms (overrides hours).").dynamic(),
    key("log.retention.hours", Type::Int, Some("168"), "How long segments are kept.").dynamic(),
    key("log.retention.minutes", Type::Int, None, "How long segments are kept, in minutes (overrides hours).").dynamic(),
    key("log.retention.ms", Type::Long, None, "How long segments are kept, in ms (overrides minutes); -1 keeps them forever.").dynamic(),
    key("log.retention.bytes", Type::Long, Some("-1"), "Size a partition may grow to before old segments are deleted; -1 is unlimited.").dynamic(),
    key("log.retention.check.interval.ms", Type::Long, Some("300000"), "How often retention runs."),
    key("log.cleanup.policy", Type::List, Some("delete"), "delete, compact or both. Compaction is not implemented: a compact topic is kept whole (never cleaned, never deleted by retention).").dynamic(),
    key("log.flush.interval.messages", Type::Long, Some("9223372036854775807"), "Messages appended before an fsync; 1 makes every acknowledged acks=all write durable. The fsync runs on the log manager's flusher thread (one fsync covers every append since the last); the produce response waits for it, and answers `KAFKA_STORAGE_ERROR` if it fails.").dynamic(),
    key("log.flush.interval.ms", Type::Long, None, "Time a message may stay unflushed.").dynamic(),
    key("log.index.interval.bytes", Type::Int, Some("4096"), "Bytes between offset index entries.").dynamic(),
    key("log.message.timestamp.type", Type::String, Some("CreateTime"), "CreateTime or LogAppendTime.").dynamic(),
    key("message.max.bytes", Type::Int, Some("1048588"), "The largest record batch accepted.").dynamic(),
    refused("min.insync.replicas", Type::Int, &["1"], "Replicas that must acknowledge an acks=all write. This broker keeps one replica: a value above 1 stops start-up rather than acknowledge writes with fewer copies than asked."),
    refused("offsets.topic.replication.factor", Type::Int, &["1"], "Replication factor of `__consumer_offsets`. One replica here: a value above 1 stops start-up (set 1, as Kafka's single-node example does)."),
    refused("transaction.state.log.replication.factor", Type::Int, &["1"], "Replication factor of the transaction log. One replica here: a value above 1 stops start-up."),
    refused("transaction.state.log.min.isr", Type::Int, &["1"], "Minimum in-sync replicas of the transaction log. One replica here: a value above 1 stops start-up."),
    key("group.initial.rebalance.delay.ms", Type::Int, Some("3000"), "Delay of the first rebalance of an empty group."),
    key("group.min.session.timeout.ms", Type::Int, Some("6000"), "Smallest session timeout a member may ask for."),
    key("group.max.session.timeout.ms", Type::Int, Some("1800000"), "Largest session timeout a member may ask for."),
    key("offsets.topic.num.partitions", Type::Int, Some("50"), "Partitions of `__consumer_offsets`, created on the first FindCoordinator for a group; an existing topic keeps its count."),
    key("offsets.retention.minutes", Type::Int, Some("10080"), "How long committed offsets of empty groups are kept."),
    key("ssl.keystore.location", Type::String, None, "PEM file with the listener's private key and certificate chain. Changes at run time with the listener prefix (`listener.name.<listener>.ssl.keystore.location`): new connections get the new certificate, open ones keep theirs.").per_broker(),
    key("ssl.keystore.type", Type::String, Some("PEM"), "Key store type; only PEM is supported.").per_broker(),
    key("ssl.keystore.certificate.chain", Type::Password, None, "The listener's PEM certificate chain given inline (with `ssl.keystore.key`), instead of `ssl.keystore.location`.").per_broker(),
    key("ssl.keystore.key", Type::Password, None, "The listener's unencrypted PEM private key given inline (with `ssl.keystore.certificate.chain`).").per_broker(),
    key("ssl.key.password", Type::Password, None, "Password of an encrypted key (not supported: use an unencrypted PEM key)."),
    key("ssl.truststore.location", Type::String, None, "PEM file of CA certificates trusted for client certificates."),
    key("ssl.truststore.type", Type::String, Some("PEM"), "Trust store type; only PEM is supported."),
    key("ssl.truststore.certificates", Type::Password, None, "PEM CA certificates given inline, instead of `ssl.truststore.location`."),
    key("ssl.client.auth", Type::String, Some("none"), "none, requested or required."),
    key("ssl.enabled.protocols", Type::List, Some("TLSv1.2,TLSv1.3"), "TLS versions accepted."),
    key("ssl.cipher.suites", Type::List, None, "Cipher suites accepted (IANA names); all safe ones when not set."),
    key("ssl.endpoint.identification.algorithm", Type::String, Some("https"), "Host name verification for client connections."),
    key("ssl.principal.mapping.rules", Type::String, Some("DEFAULT"), "Only DEFAULT is supported."),
    key("sasl.enabled.mechanisms", Type::List, Some("PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"), "SASL mechanisms offered. Kafka's default is GSSAPI, which this broker does not implement."),
    key("sasl.credentials.file", Type::String, None, "File of SCRAM credentials (username mechanism salt stored_key server_key iterations); PLAIN is checked against them."),
    key("connections.max.reauth.ms", Type::Long, Some("0"), "Session lifetime of SASL connections; 0 never expires them."),
    refused("authorizer.class.name", Type::String, &[""], "ACL authorization is not implemented: setting an authorizer stops start-up rather than serve every client unauthorized."),
    refused("super.users", Type::List, &[""], "Only meaningful with an authorizer, which is not implemented: setting it stops start-up."),
    refused("allow.everyone.if.no.acl.found", Type::Bool, &[], "Only meaningful with an authorizer, which is not implemented: setting it stops start-up."),
    refused("principal.builder.class", Type::String, &[""], "Custom principal builders are not supported (principals are User:<TLS subject> or User:<SASL name>): setting one stops start-up."),
    key("log.format", Type::String, Some("text"), "`text` (colours only when stderr is a terminal) or `json` (one JSON object per line, for log shippers). The `BROKER_LOG_FORMAT` environment variable wins over it. Not a Kafka key (Kafka configures log4j)."),
    key("prometheus.listener", Type::String, Some("127.0.0.1:9404"), "Address of the Prometheus metrics endpoint (/metrics); empty disables it."),
];

/// Looks up a key's definition.
pub fn definition(name: &str) -> Option<&'static ConfigKey> {
    KEYS.iter().find(|k| k.name == name)
}

/// Kafka's per-listener prefix: `listener.name.<listener>.<key>`.
const LISTENER_PREFIX: &str = "listener.name.";

/// A per-listener key split into (listener, lower-case as Kafka writes it; key).
pub fn split_listener_key(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(LISTENER_PREFIX)?;
    let (listener, key) = rest.split_once('.')?;
    (!listener.is_empty() && !key.is_empty()).then_some((listener, key))
}

/// The definition of `name`, or of the key it prefixes with `listener.name.<listener>.`.
pub fn resolve(name: &str) -> Option<&'static ConfigKey> {
    definition(name).or_else(|| split_listener_key(name).and_then(|(_, k)| definition(k)))
}

/// The known key closest to a misspelt one, if any is close enough to be a likely typo
/// (a per-listener key keeps its prefix).
pub fn closest_key(name: &str) -> Option<String> {
    let (prefix, bare) = match split_listener_key(name) {
        Some((_, k)) => name.split_at(name.len() - k.len()),
        None => ("", name),
    };
    KEYS.iter()
        .map(|k| (strsim::levenshtein(bare, k.name), k.name))
        .filter(|(d, k)| *d <= (k.len() / 4).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| format!("{prefix}{k}"))
}

/// Parses `server.properties` text as Java's `Properties.load` does (`key=value`,
/// `key:value`, `key value`, `#`/`!` comments, `\` line continuations, `\uXXXX` and escaped
/// separators), with values trimmed as Kafka's config parser trims them.
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, String>> {
    let parsed = java_properties::read(text.as_bytes()).map_err(|e| {
        Error::Config(match e.line_number() {
            Some(n) => format!("line {n}: {e}"),
            None => e.to_string(),
        })
    })?;
    Ok(parsed
        .into_iter()
        .map(|(k, v)| (k, v.trim().to_string()))
        .collect())
}

/// The broker's configuration, validated.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    values: BTreeMap<String, String>,
}

impl BrokerConfig {
    /// Validates `values` against [`KEYS`]. A key set to a value the broker would not honour
    /// ([`Support::Refused`]) is an error naming it; unknown keys are kept and logged with the
    /// closest known key, as Kafka logs them.
    pub fn new(values: BTreeMap<String, String>) -> Result<Self> {
        let mut refused = Vec::new();
        for (k, v) in &values {
            match resolve(k) {
                None => match closest_key(k) {
                    Some(near) => tracing::warn!(key = %k, did_you_mean = %near,
                        "unknown configuration key (ignored); did you mean {near}?"),
                    None => tracing::warn!(key = %k, "unknown configuration key (ignored)"),
                },
                Some(def) => {
                    if let Support::Refused(allowed) = def.support {
                        if !allowed.contains(&v.trim()) {
                            refused.push(k.clone());
                            continue;
                        }
                    }
                    validate(def, v)?;
                }
            }
        }
        if !refused.is_empty() {
            return Err(Error::Unhonoured { keys: refused });
        }
        Self::checked(values)
    }

    /// `values` already validated key by key: checks only that they combine (listeners,
    /// socket server, log defaults). Used for the merge of static and dynamic configs.
    pub(crate) fn checked(values: BTreeMap<String, String>) -> Result<Self> {
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

/// Checks `value` against `def`'s type.
pub(crate) fn validate(def: &ConfigKey, value: &str) -> Result<()> {
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

/// The reference of every key, as Markdown (for `broker --describe-config` and docs): the
/// honoured keys with how each may change at run time, then the keys that stop start-up.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "| key | type | default | update mode | description |\n|---|---|---|---|---|\n",
    );
    for k in KEYS.iter().filter(|k| k.support == Support::Honoured) {
        let update = match (k.update, k.is_security()) {
            (Update::ReadOnly, _) => "read-only".to_string(),
            (u, true) => format!("{} (with `listener.name.<l>.`)", u.name()),
            (u, false) => u.name().to_string(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {update} | {} |\n",
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
    out.push_str(
        "\n## Keys that stop start-up (fail closed)\n\n\
         Kafka keys that matter for security or durability and that this broker does not \
         implement. Set to anything but the values listed, the broker refuses to start and names \
         them, rather than run without what they ask for. Any other key it does not know is \
         logged as a warning naming the closest known key, and ignored.\n\n\
         | key | type | accepted values | why |\n|---|---|---|---|\n",
    );
    for k in KEYS {
        if let Support::Refused(allowed) = k.support {
            let accepted = if allowed.is_empty() {
                "(none: unset it)".to_string()
            } else {
                allowed
                    .iter()
                    .map(|v| {
                        if v.is_empty() {
                            "\"\"".to_string()
                        } else {
                            format!("`{v}`")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push_str(&format!(
                "| `{}` | {} | {accepted} | {} |\n",
                k.name,
                k.kind.name(),
                k.doc
            ));
        }
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
    fn properties_parse_java_escapes_and_separators() {
        let text = "a.key value with spaces\n\
                    b.key:colon\n\
                    c\\=key=escaped separator\n\
                    d.key = caf\\u00e9\n\
                    e.key=line one \\\n    continued\n\
                    # comment = no\n\
                    ! bang comment\n\
                    f.key=tab\\tand\\\\slash\n";
        let p = parse_properties(text).unwrap();
        assert_eq!(p["a.key"], "value with spaces");
        assert_eq!(p["b.key"], "colon");
        assert_eq!(p["c=key"], "escaped separator");
        assert_eq!(p["d.key"], "caf\u{e9}");
        assert_eq!(p["e.key"], "line one continued");
        assert_eq!(p["f.key"], "tab\tand\\slash");
        assert_eq!(p.len(), 6);
    }

    #[test]
    fn unhonoured_security_and_durability_keys_stop_start_up() {
        let cfg = |pairs: &[(&str, &str)]| {
            BrokerConfig::new(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let err = cfg(&[
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("super.users", "User:admin"),
        ])
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("authorizer.class.name") && msg.contains("super.users"),
            "{msg}"
        );
        assert!(matches!(err, Error::Unhonoured { .. }));
        assert!(cfg(&[("min.insync.replicas", "2")]).is_err());
        assert!(cfg(&[("default.replication.factor", "3")]).is_err());
        // The values that ask for nothing this broker lacks are fine.
        cfg(&[
            ("min.insync.replicas", "1"),
            ("offsets.topic.replication.factor", "1"),
            ("authorizer.class.name", ""),
        ])
        .unwrap();
    }

    #[test]
    fn misspelt_keys_find_their_closest_known_key() {
        assert_eq!(
            closest_key("log.retension.hours").as_deref(),
            Some("log.retention.hours")
        );
        assert_eq!(
            closest_key("num.io.thread").as_deref(),
            Some("num.io.threads")
        );
        assert_eq!(
            closest_key("listener.name.ssl.ssl.keystore.locaton").as_deref(),
            Some("listener.name.ssl.ssl.keystore.location")
        );
        assert_eq!(closest_key("zookeeper.connect"), None);
        // Unknown keys still start (with a warning), as in Kafka.
        let mut v = BTreeMap::new();
        v.insert("log.retension.hours".to_string(), "1".to_string());
        BrokerConfig::new(v).unwrap();
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
