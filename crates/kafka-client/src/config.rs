//! Client configuration: Kafka's Java client keys, defined once.
//!
//! [`KEYS`] is the single table of every key the clients honour, with its default, the clients
//! it applies to and its documentation; the parser and the perf tools' `--help` read it. A
//! [`Properties`] holds what the user set (`key=value` pairs, as a Java `Properties`); the
//! typed configs ([`CommonConfig`], [`ProducerConfig`], [`ConsumerConfig`]) are read from it and
//! fail on values that do not parse. Keys the table does not know are logged and ignored, as
//! Kafka's clients do ("supplied but isn't a known config").

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_network::auth::{SaslClientConfig, SaslMechanism};
use kafka_network::transport::{SslClientConfig, SslClientConfigBuilder};
use kafka_protocol::records::Compression;

use crate::consumer::{IsolationLevel, OffsetResetStrategy};
use crate::error::{Error, Result};

/// Which clients a key applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every client (connections, metadata, security).
    Common,
    /// The producer.
    Producer,
    /// The consumer.
    Consumer,
    /// The admin client.
    Admin,
}

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// The key, as Kafka's Java client spells it.
    pub name: &'static str,
    /// The default value as text; `None` when there is none.
    pub default: Option<&'static str>,
    /// Which clients read it.
    pub scope: Scope,
    /// What it does.
    pub doc: &'static str,
}

const fn key(
    name: &'static str,
    default: Option<&'static str>,
    scope: Scope,
    doc: &'static str,
) -> ConfigKey {
    ConfigKey {
        name,
        default,
        scope,
        doc,
    }
}

use Scope::{Admin, Common, Consumer, Producer};

/// Every key the clients honour. Defaults are those of Kafka 4.x's Java client.
pub const KEYS: &[ConfigKey] = &[
    key("bootstrap.servers", None, Common, "host:port pairs used to discover the cluster, comma separated."),
    key("client.id", Some(""), Common, "Sent in every request header; shows up in broker logs and quotas."),
    key("client.rack", Some(""), Common, "The rack this client runs in (FetchRequest rack id)."),
    key("security.protocol", Some("PLAINTEXT"), Common, "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."),
    key("request.timeout.ms", Some("30000"), Common, "How long to wait for a response before failing the request (and closing the connection)."),
    key("reconnect.backoff.ms", Some("50"), Common, "First wait before reconnecting to a node after a failed connection."),
    key("reconnect.backoff.max.ms", Some("1000"), Common, "Upper bound of the exponential reconnect backoff (with 20% jitter)."),
    key("retry.backoff.ms", Some("100"), Common, "First wait before retrying a failed request."),
    key("retry.backoff.max.ms", Some("1000"), Common, "Upper bound of the exponential retry backoff (with 20% jitter)."),
    key("socket.connection.setup.timeout.ms", Some("10000"), Common, "How long a connection (TCP, TLS, SASL, ApiVersions) may take to become ready."),
    key("metadata.max.age.ms", Some("300000"), Common, "Refresh metadata at least this often, even without errors."),
    key("connections.max.idle.ms", Some("540000"), Common, "Close connections idle for longer than this."),
    key("max.in.flight.requests.per.connection", Some("5"), Common, "Requests sent to one node and not yet answered, at most."),
    key("receive.message.max.bytes", Some("104857600"), Common, "Largest response frame accepted (a bound against hostile or broken peers)."),
    key("sasl.mechanism", Some("GSSAPI"), Common, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (GSSAPI and OAUTHBEARER are not supported)."),
    key("sasl.jaas.config", None, Common, "Java's login module line: username=\"...\" password=\"...\" are read from it."),
    key("sasl.username", None, Common, "SASL user name (librdkafka's key; alternative to sasl.jaas.config)."),
    key("sasl.password", None, Common, "SASL password (librdkafka's key; alternative to sasl.jaas.config)."),
    key("ssl.truststore.type", Some("PEM"), Common, "Only PEM is supported."),
    key("ssl.truststore.location", None, Common, "PEM file with the CA certificates the brokers are verified against."),
    key("ssl.truststore.certificates", None, Common, "PEM CA certificates given inline."),
    key("ssl.keystore.type", Some("PEM"), Common, "Only PEM is supported."),
    key("ssl.keystore.location", None, Common, "PEM file with the client certificate chain and key (for ssl.client.auth)."),
    key("ssl.keystore.certificate.chain", None, Common, "PEM client certificate chain given inline."),
    key("ssl.keystore.key", None, Common, "PEM client private key given inline."),
    key("ssl.endpoint.identification.algorithm", Some("https"), Common, "https verifies the broker's host name; empty disables it."),
    key("ssl.enabled.protocols", Some("TLSv1.2,TLSv1.3"), Common, "TLS versions offered."),
    key("ssl.cipher.suites", Some(""), Common, "Cipher suites offered (IANA names); empty means the defaults."),
    key("default.api.timeout.ms", Some("60000"), Consumer, "Time limit of consumer and admin calls that do not take one."),
    // Producer
    key("acks", Some("all"), Producer, "0: no response; 1: the leader wrote it; all (-1): every in-sync replica has it."),
    key("batch.size", Some("16384"), Producer, "Target size of a partition's batch in bytes."),
    key("linger.ms", Some("5"), Producer, "How long a batch waits for more records before it is sent."),
    key("buffer.memory", Some("33554432"), Producer, "Bytes of records waiting to be sent; send() blocks when they are used up."),
    key("max.block.ms", Some("60000"), Producer, "How long send() may block (buffer memory, metadata) before failing."),
    key("delivery.timeout.ms", Some("120000"), Producer, "Upper bound on reporting a record's success or failure after send()."),
    key("retries", Some("2147483647"), Producer, "How many times a failed batch is retried (within delivery.timeout.ms)."),
    key("enable.idempotence", Some("true"), Producer, "Exactly-once per partition: producer id and sequence numbers, safe retries."),
    key("compression.type", Some("none"), Producer, "none, gzip, snappy, lz4 or zstd."),
    key("compression.gzip.level", Some("-1"), Producer, "gzip level (1-9, -1 default)."),
    key("compression.lz4.level", Some("9"), Producer, "lz4 level (accepted for compatibility; the codec has one level)."),
    key("compression.zstd.level", Some("3"), Producer, "zstd level."),
    key("max.request.size", Some("1048576"), Producer, "Largest Produce request (and record) the producer sends."),
    key("partitioner.ignore.keys", Some("false"), Producer, "Partition keyed records stickily like null keys."),
    key("transactional.id", None, Producer, "Transactions are not supported; setting it is an error."),
    // Consumer
    key("group.id", None, Consumer, "The consumer group; required for subscribe() and commits."),
    key("group.instance.id", None, Consumer, "Static membership id (KIP-345)."),
    key("group.protocol", Some("classic"), Consumer, "Only the classic group protocol is supported."),
    key("session.timeout.ms", Some("45000"), Consumer, "The group coordinator removes a member silent for this long."),
    key("heartbeat.interval.ms", Some("3000"), Consumer, "How often the member heartbeats."),
    key("max.poll.interval.ms", Some("300000"), Consumer, "Longest time between poll() calls before the member leaves the group (the rebalance timeout)."),
    key("auto.offset.reset", Some("latest"), Consumer, "earliest, latest or none: where to start without a committed offset."),
    key("enable.auto.commit", Some("true"), Consumer, "Commit consumed positions every auto.commit.interval.ms from poll()."),
    key("auto.commit.interval.ms", Some("5000"), Consumer, "How often positions are auto-committed."),
    key("fetch.min.bytes", Some("1"), Consumer, "The broker waits for this many bytes (or fetch.max.wait.ms)."),
    key("fetch.max.bytes", Some("52428800"), Consumer, "Upper bound of one fetch response."),
    key("fetch.max.wait.ms", Some("500"), Consumer, "How long the broker may hold a fetch for fetch.min.bytes."),
    key("max.partition.fetch.bytes", Some("1048576"), Consumer, "Upper bound of one partition's data in a fetch response."),
    key("max.poll.records", Some("500"), Consumer, "Most records one poll() returns."),
    key("partition.assignment.strategy", Some("range,cooperative-sticky"), Consumer, "Assignors offered to the group, by preference: range, roundrobin, cooperative-sticky."),
    key("isolation.level", Some("read_uncommitted"), Consumer, "read_uncommitted or read_committed."),
    key("check.crcs", Some("true"), Consumer, "Verify the CRC of fetched batches."),
    key("admin.request.retries", Some("5"), Admin, "How often the admin client retries a retriable failure."),
];

/// The key's entry in [`KEYS`].
pub fn config_key(name: &str) -> Option<&'static ConfigKey> {
    KEYS.iter().find(|k| k.name == name)
}

/// Keys and values the user set, as a Java `Properties`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    values: BTreeMap<String, String>,
}

impl Properties {
    /// No keys set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value` (builder style).
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.values.insert(key.into(), value.into());
        self
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.values.remove(key)
    }

    /// Reads `key=value` lines (`#` and `!` comments, blank lines ignored), as a properties file.
    pub fn parse(text: &str) -> Result<Self> {
        let mut props = Properties::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .or_else(|| line.split_once(':'))
                .ok_or_else(|| Error::Config(format!("line {}: expected key=value", n + 1)))?;
            props.set(k.trim(), v.trim());
        }
        Ok(props)
    }

    /// The value the user set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Every key and value set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Logs keys no client knows, once per client built.
    fn warn_unknown(&self, scopes: &[Scope]) {
        for k in self.values.keys() {
            match config_key(k) {
                None => tracing::warn!(key = %k, "supplied but isn't a known config"),
                Some(def) if !scopes.contains(&def.scope) && def.scope != Common => {
                    tracing::debug!(key = %k, "ignored by this client");
                }
                Some(_) => {}
            }
        }
    }

    /// The value set or the table's default.
    fn value(&self, key: &str) -> Option<&str> {
        self.get(key)
            .or_else(|| config_key(key).and_then(|k| k.default))
    }

    fn string(&self, key: &str) -> Option<String> {
        self.value(key).map(str::to_string)
    }

    fn parse_num<T: std::str::FromStr>(&self, key: &str) -> Result<T> {
        let raw = self
            .value(key)
            .ok_or_else(|| Error::Config(format!("{key} is required")))?;
        raw.trim()
            .parse()
            .map_err(|_| Error::Config(format!("{key}={raw} is not a valid number")))
    }

    /// A duration in ms. Java accepts up to `Long.MAX_VALUE`; beyond ten years every
    /// setting means "never", and capping keeps `now + setting` from overflowing.
    fn ms(&self, key: &str) -> Result<Duration> {
        const NEVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
        let v: i64 = self.parse_num(key)?;
        u64::try_from(v)
            .map(|ms| Duration::from_millis(ms).min(NEVER))
            .map_err(|_| Error::Config(format!("{key} must not be negative")))
    }

    fn size(&self, key: &str) -> Result<usize> {
        let v: i64 = self.parse_num(key)?;
        usize::try_from(v).map_err(|_| Error::Config(format!("{key} must not be negative")))
    }

    fn bool(&self, key: &str) -> Result<bool> {
        match self.value(key).map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            other => Err(Error::Config(format!(
                "{key}={} is not true or false",
                other.unwrap_or_default()
            ))),
        }
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut props = Properties::new();
        for (k, v) in iter {
            props.set(k, v);
        }
        props
    }
}

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL over plaintext.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    fn from_name(name: &str) -> Result<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
            "SSL" => Ok(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
            other => Err(Error::Config(format!("unknown security.protocol {other}"))),
        }
    }

    fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// A `host:port` from `bootstrap.servers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

fn parse_bootstrap(value: &str) -> Result<Vec<HostPort>> {
    let mut out = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        // Listener-style entries (PLAINTEXT://host:port) are accepted as Kafka's tools do.
        let entry = entry.rsplit("://").next().unwrap_or(entry);
        let (host, port) = entry
            .rsplit_once(':')
            .ok_or_else(|| Error::Config(format!("bootstrap.servers entry {entry} has no port")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port
            .parse()
            .map_err(|_| Error::Config(format!("bootstrap.servers entry {entry}: bad port")))?;
        out.push(HostPort {
            host: host.to_string(),
            port,
        });
    }
    if out.is_empty() {
        return Err(Error::Config("bootstrap.servers is required".into()));
    }
    Ok(out)
}

/// What every client needs: where the cluster is, how to connect, how long to wait.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: Vec<HostPort>,
    /// `client.id`.
    pub client_id: String,
    /// `client.rack`.
    pub client_rack: String,
    /// `security.protocol`.
    pub security_protocol: SecurityProtocol,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `reconnect.backoff.ms`.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`.
    pub reconnect_backoff_max: Duration,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
    /// `socket.connection.setup.timeout.ms`.
    pub connection_setup_timeout: Duration,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Duration,
    /// `connections.max.idle.ms`.
    pub connections_max_idle: Duration,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: usize,
    /// `receive.message.max.bytes`.
    pub max_receive_size: usize,
    /// The TLS side, for SSL and SASL_SSL.
    pub ssl: Option<std::sync::Arc<SslClientConfig>>,
    /// The SASL side, for SASL_PLAINTEXT and SASL_SSL.
    pub sasl: Option<SaslClientConfig>,
}

/// Reads `username="..."` and `password="..."` from a JAAS login module line.
fn jaas_option(jaas: &str, name: &str) -> Option<String> {
    let mut rest = jaas;
    while let Some(pos) = rest.find(name) {
        let before_ok = pos == 0
            || rest[..pos]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_whitespace());
        let after = rest[pos + name.len()..].trim_start();
        if before_ok {
            if let Some(value) = after.strip_prefix('=') {
                let value = value.trim_start();
                if let Some(quoted) = value.strip_prefix('"') {
                    return quoted.find('"').map(|end| quoted[..end].to_string());
                }
                let end = value
                    .find(|c: char| c.is_whitespace() || c == ';')
                    .unwrap_or(value.len());
                return Some(value[..end].to_string());
            }
        }
        rest = &rest[pos + name.len()..];
    }
    None
}

impl CommonConfig {
    /// Reads the common keys.
    pub fn from_properties(props: &Properties) -> Result<Self> {
        let bootstrap = props
            .get("bootstrap.servers")
            .ok_or_else(|| Error::Config("bootstrap.servers is required".into()))?;
        let security_protocol =
            SecurityProtocol::from_name(props.value("security.protocol").unwrap_or("PLAINTEXT"))?;
        let client_id = props.string("client.id").unwrap_or_default();
        let ssl = if security_protocol.uses_tls() {
            let builder =
                SslClientConfigBuilder::from_properties(|k| props.get(k).map(str::to_string))
                    .map_err(|e| Error::Config(e.to_string()))?;
            Some(std::sync::Arc::new(
                builder.build().map_err(|e| Error::Config(e.to_string()))?,
            ))
        } else {
            None
        };
        let sasl = if security_protocol.uses_sasl() {
            let mechanism_name = props.value("sasl.mechanism").unwrap_or("GSSAPI");
            let mechanism = SaslMechanism::from_name(mechanism_name).ok_or_else(|| {
                Error::Config(format!("sasl.mechanism {mechanism_name} is not supported"))
            })?;
            let jaas = props.get("sasl.jaas.config").unwrap_or("");
            let username = props
                .get("sasl.username")
                .map(str::to_string)
                .or_else(|| jaas_option(jaas, "username"))
                .ok_or_else(|| {
                    Error::Config("SASL needs sasl.username or sasl.jaas.config".into())
                })?;
            let password = props
                .get("sasl.password")
                .map(str::to_string)
                .or_else(|| jaas_option(jaas, "password"))
                .ok_or_else(|| {
                    Error::Config("SASL needs sasl.password or sasl.jaas.config".into())
                })?;
            Some(
                SaslClientConfig::new(mechanism, username, password)
                    .with_client_id(Some(client_id.clone())),
            )
        } else {
            None
        };
        let max_in_flight = props.size("max.in.flight.requests.per.connection")?;
        if max_in_flight == 0 {
            return Err(Error::Config(
                "max.in.flight.requests.per.connection must be at least 1".into(),
            ));
        }
        Ok(CommonConfig {
            bootstrap_servers: parse_bootstrap(bootstrap)?,
            client_id,
            client_rack: props.string("client.rack").unwrap_or_default(),
            security_protocol,
            request_timeout: props.ms("request.timeout.ms")?,
            reconnect_backoff: props.ms("reconnect.backoff.ms")?,
            reconnect_backoff_max: props.ms("reconnect.backoff.max.ms")?,
            retry_backoff: props.ms("retry.backoff.ms")?,
            retry_backoff_max: props.ms("retry.backoff.max.ms")?,
            connection_setup_timeout: props.ms("socket.connection.setup.timeout.ms")?,
            metadata_max_age: props.ms("metadata.max.age.ms")?,
            connections_max_idle: props.ms("connections.max.idle.ms")?,
            max_in_flight,
            max_receive_size: props.size("receive.message.max.bytes")?,
            ssl,
            sasl,
        })
    }
}

/// `acks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// No response (`acks=0`).
    None,
    /// The leader's write (`acks=1`).
    Leader,
    /// Every in-sync replica (`acks=all`, `-1`).
    All,
}

impl Acks {
    /// The value of the Produce request's `acks` field.
    pub fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// The producer's keys.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Connections, metadata, security.
    pub common: CommonConfig,
    /// `acks`.
    pub acks: Acks,
    /// `batch.size`.
    pub batch_size: usize,
    /// `linger.ms`.
    pub linger: Duration,
    /// `buffer.memory`.
    pub buffer_memory: usize,
    /// `max.block.ms`.
    pub max_block: Duration,
    /// `delivery.timeout.ms`.
    pub delivery_timeout: Duration,
    /// `retries`.
    pub retries: u32,
    /// `enable.idempotence`.
    pub idempotence: bool,
    /// `compression.type`.
    pub compression: Compression,
    /// The level for the codec, from `compression.<codec>.level`.
    pub compression_level: Option<i32>,
    /// `max.request.size`.
    pub max_request_size: usize,
    /// `partitioner.ignore.keys`.
    pub partitioner_ignore_keys: bool,
}

impl ProducerConfig {
    /// Reads and checks the producer's keys, as Java's `ProducerConfig` does.
    pub fn from_properties(props: &Properties) -> Result<Self> {
        props.warn_unknown(&[Producer]);
        if props.get("transactional.id").is_some_and(|v| !v.is_empty()) {
            return Err(Error::Config(
                "transactional.id is set, but transactions are not supported by this client".into(),
            ));
        }
        let common = CommonConfig::from_properties(props)?;
        let acks = match props.value("acks").unwrap_or("all").trim() {
            "0" => Acks::None,
            "1" => Acks::Leader,
            "all" | "-1" => Acks::All,
            other => {
                return Err(Error::Config(format!(
                    "acks={other} is not 0, 1, all or -1"
                )))
            }
        };
        let compression = match props.value("compression.type").unwrap_or("none").trim() {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            other => return Err(Error::Config(format!("unknown compression.type {other}"))),
        };
        let compression_level = match compression {
            Compression::Gzip => {
                Some(props.parse_num::<i32>("compression.gzip.level")?).filter(|l| *l >= 0)
            }
            Compression::Zstd => Some(props.parse_num::<i32>("compression.zstd.level")?),
            _ => None,
        };
        let retries: i64 = props.parse_num("retries")?;
        let explicit_idempotence = props.get("enable.idempotence").is_some();
        let mut idempotence = props.bool("enable.idempotence")?;
        let incompatible = acks != Acks::All || retries == 0 || common.max_in_flight > 5;
        if idempotence && incompatible {
            if explicit_idempotence {
                return Err(Error::Config(
                    "enable.idempotence=true needs acks=all, retries > 0 and \
                     max.in.flight.requests.per.connection <= 5"
                        .into(),
                ));
            }
            // Java: idempotence is on by default only when the other settings allow it.
            idempotence = false;
        }
        let batch_size = props.size("batch.size")?.max(1);
        let delivery_timeout = props.ms("delivery.timeout.ms")?;
        let linger = props.ms("linger.ms")?;
        if delivery_timeout < linger + common.request_timeout {
            return Err(Error::Config(
                "delivery.timeout.ms should be equal to or larger than linger.ms + request.timeout.ms"
                    .into(),
            ));
        }
        Ok(ProducerConfig {
            acks,
            batch_size,
            linger,
            buffer_memory: props.size("buffer.memory")?,
            max_block: props.ms("max.block.ms")?,
            delivery_timeout,
            retries: u32::try_from(retries.max(0)).unwrap_or(u32::MAX),
            idempotence,
            compression,
            compression_level,
            max_request_size: props.size("max.request.size")?,
            partitioner_ignore_keys: props.bool("partitioner.ignore.keys")?,
            common,
        })
    }
}

/// The consumer's keys.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Connections, metadata, security.
    pub common: CommonConfig,
    /// `group.id`.
    pub group_id: Option<String>,
    /// `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`.
    pub max_poll_interval: Duration,
    /// `auto.offset.reset`.
    pub auto_offset_reset: OffsetResetStrategy,
    /// `enable.auto.commit`.
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval: Duration,
    /// `fetch.min.bytes`.
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`.
    pub fetch_max_bytes: i32,
    /// `fetch.max.wait.ms`.
    pub fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes`.
    pub max_partition_fetch_bytes: i32,
    /// `max.poll.records`.
    pub max_poll_records: usize,
    /// `partition.assignment.strategy`, by preference.
    pub assignment_strategies: Vec<String>,
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
    /// `check.crcs`.
    pub check_crcs: bool,
    /// `default.api.timeout.ms`.
    pub default_api_timeout: Duration,
}

fn i32_key(props: &Properties, key: &str) -> Result<i32> {
    let v: i64 = props.parse_num(key)?;
    i32::try_from(v).map_err(|_| Error::Config(format!("{key}={v} is out of range")))
}

impl ConsumerConfig {
    /// Reads and checks the consumer's keys.
    pub fn from_properties(props: &Properties) -> Result<Self> {
        props.warn_unknown(&[Consumer]);
        let common = CommonConfig::from_properties(props)?;
        if let Some(p) = props.get("group.protocol") {
            if !p.eq_ignore_ascii_case("classic") {
                return Err(Error::Config(format!(
                    "group.protocol={p} is not supported; only classic is"
                )));
            }
        }
        let auto_offset_reset =
            OffsetResetStrategy::from_config(props.value("auto.offset.reset").unwrap_or("latest"))?;
        let isolation_level = IsolationLevel::from_config(
            props.value("isolation.level").unwrap_or("read_uncommitted"),
        )?;
        let assignment_strategies: Vec<String> = props
            .value("partition.assignment.strategy")
            .unwrap_or("range")
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if assignment_strategies.is_empty() {
            return Err(Error::Config(
                "partition.assignment.strategy names no assignor".into(),
            ));
        }
        let session_timeout = props.ms("session.timeout.ms")?;
        let heartbeat_interval = props.ms("heartbeat.interval.ms")?;
        if heartbeat_interval >= session_timeout {
            return Err(Error::Config(
                "heartbeat.interval.ms must be lower than session.timeout.ms".into(),
            ));
        }
        Ok(ConsumerConfig {
            group_id: props
                .get("group.id")
                .filter(|g| !g.is_empty())
                .map(str::to_string),
            group_instance_id: props
                .get("group.instance.id")
                .filter(|g| !g.is_empty())
                .map(str::to_string),
            session_timeout,
            heartbeat_interval,
            max_poll_interval: props.ms("max.poll.interval.ms")?,
            auto_offset_reset,
            enable_auto_commit: props.bool("enable.auto.commit")?,
            auto_commit_interval: props.ms("auto.commit.interval.ms")?,
            fetch_min_bytes: i32_key(props, "fetch.min.bytes")?,
            fetch_max_bytes: i32_key(props, "fetch.max.bytes")?,
            fetch_max_wait: props.ms("fetch.max.wait.ms")?,
            max_partition_fetch_bytes: i32_key(props, "max.partition.fetch.bytes")?,
            max_poll_records: props.size("max.poll.records")?.max(1),
            assignment_strategies,
            isolation_level,
            check_crcs: props.bool("check.crcs")?,
            default_api_timeout: props.ms("default.api.timeout.ms")?,
            common,
        })
    }
}

/// The admin client's keys.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Connections, metadata, security.
    pub common: CommonConfig,
    /// `default.api.timeout.ms`.
    pub default_api_timeout: Duration,
    /// `admin.request.retries`.
    pub retries: u32,
}

impl AdminConfig {
    /// Reads the admin client's keys.
    pub fn from_properties(props: &Properties) -> Result<Self> {
        props.warn_unknown(&[Admin, Consumer]);
        Ok(AdminConfig {
            common: CommonConfig::from_properties(props)?,
            default_api_timeout: props.ms("default.api.timeout.ms")?,
            retries: props.parse_num("admin.request.retries")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_javas() {
        let props = Properties::new().with("bootstrap.servers", "a:9092,PLAINTEXT://b:9093");
        let p = ProducerConfig::from_properties(&props).unwrap();
        assert_eq!(p.acks, Acks::All);
        assert!(p.idempotence);
        assert_eq!(p.batch_size, 16384);
        assert_eq!(p.linger, Duration::from_millis(5));
        assert_eq!(p.common.bootstrap_servers.len(), 2);
        assert_eq!(p.common.bootstrap_servers[1].port, 9093);
        let c = ConsumerConfig::from_properties(&props).unwrap();
        assert_eq!(c.auto_offset_reset, OffsetResetStrategy::Latest);
        assert_eq!(c.assignment_strategies, ["range", "cooperative-sticky"]);
    }

    #[test]
    fn idempotence_off_by_default_when_acks_is_one_but_refused_explicitly() {
        let props = Properties::new()
            .with("bootstrap.servers", "a:1")
            .with("acks", "1");
        assert!(!ProducerConfig::from_properties(&props).unwrap().idempotence);
        let props = props.with("enable.idempotence", "true");
        assert!(ProducerConfig::from_properties(&props).is_err());
    }

    #[test]
    fn bad_values_are_errors() {
        let base = Properties::new().with("bootstrap.servers", "a:1");
        for (k, v) in [
            ("acks", "2"),
            ("linger.ms", "x"),
            ("compression.type", "brotli"),
            ("security.protocol", "TLS"),
            ("batch.size", "-1"),
        ] {
            assert!(
                ProducerConfig::from_properties(&base.clone().with(k, v)).is_err(),
                "{k}={v}"
            );
        }
        assert!(ProducerConfig::from_properties(&Properties::new()).is_err());
        assert!(CommonConfig::from_properties(
            &Properties::new().with("bootstrap.servers", "nohost")
        )
        .is_err());
    }

    #[test]
    fn jaas_line_gives_credentials() {
        let jaas = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="s3 cret";"#;
        assert_eq!(jaas_option(jaas, "username").as_deref(), Some("alice"));
        assert_eq!(jaas_option(jaas, "password").as_deref(), Some("s3 cret"));
        let props = Properties::new()
            .with("bootstrap.servers", "a:1")
            .with("security.protocol", "SASL_PLAINTEXT")
            .with("sasl.mechanism", "SCRAM-SHA-256")
            .with("sasl.jaas.config", jaas);
        let c = CommonConfig::from_properties(&props).unwrap();
        assert_eq!(c.sasl.unwrap().username(), "alice");
    }

    #[test]
    fn properties_file_syntax() {
        let p = Properties::parse("# c\nacks = all\n\nbootstrap.servers=h:1\n").unwrap();
        assert_eq!(p.get("acks"), Some("all"));
        assert!(Properties::parse("novalue").is_err());
    }

    #[test]
    fn every_key_is_unique() {
        let mut names: Vec<_> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KEYS.len());
    }
}
