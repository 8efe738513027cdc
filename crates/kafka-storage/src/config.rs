//! Per-log configuration (Kafka's `LogConfig`): broker defaults from `server.properties`
//! keys, topic-level overrides, and the background task intervals.
//!
//! Each key is defined once, in [`TOPIC_CONFIGS`], with its broker-level synonym and Kafka's
//! default; parsing in both directions and the effective values for DescribeConfigs derive
//! from it.

use std::collections::BTreeMap;

use kafka_protocol::records::TimestampType;

use crate::error::{Error, Result};

/// Java's `Long.MAX_VALUE`, which Kafka uses for "never".
const LONG_MAX: i64 = i64::MAX;

/// One topic-level config key that the log implements.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigKey {
    /// The topic-level name (`segment.bytes`).
    pub name: &'static str,
    /// The broker-level synonym in `server.properties` (`log.segment.bytes`).
    pub broker_name: &'static str,
    /// Kafka's default, as a string.
    pub default: &'static str,
}

/// The topic configs the log implements, with their broker synonyms and Kafka's defaults.
pub const TOPIC_CONFIGS: &[TopicConfigKey] = &[
    TopicConfigKey {
        name: "segment.bytes",
        broker_name: "log.segment.bytes",
        default: "1073741824",
    },
    TopicConfigKey {
        name: "segment.ms",
        broker_name: "log.roll.ms",
        default: "604800000",
    },
    TopicConfigKey {
        name: "retention.ms",
        broker_name: "log.retention.ms",
        default: "604800000",
    },
    TopicConfigKey {
        name: "retention.bytes",
        broker_name: "log.retention.bytes",
        default: "-1",
    },
    TopicConfigKey {
        name: "flush.messages",
        broker_name: "log.flush.interval.messages",
        default: "9223372036854775807",
    },
    TopicConfigKey {
        name: "flush.ms",
        broker_name: "log.flush.interval.ms",
        default: "9223372036854775807",
    },
    TopicConfigKey {
        name: "index.interval.bytes",
        broker_name: "log.index.interval.bytes",
        default: "4096",
    },
    TopicConfigKey {
        name: "segment.index.bytes",
        broker_name: "log.index.size.max.bytes",
        default: "10485760",
    },
    TopicConfigKey {
        name: "max.message.bytes",
        broker_name: "message.max.bytes",
        default: "1048588",
    },
    TopicConfigKey {
        name: "message.timestamp.type",
        broker_name: "log.message.timestamp.type",
        default: "CreateTime",
    },
    TopicConfigKey {
        name: "message.timestamp.before.max.ms",
        broker_name: "log.message.timestamp.before.max.ms",
        default: "9223372036854775807",
    },
    TopicConfigKey {
        name: "message.timestamp.after.max.ms",
        broker_name: "log.message.timestamp.after.max.ms",
        default: "3600000",
    },
    TopicConfigKey {
        name: "cleanup.policy",
        broker_name: "log.cleanup.policy",
        default: "delete",
    },
];

/// Kafka topic configs that are accepted and stored (so clients and tools that set them
/// work) but have no effect on this single-broker log.
pub const ACCEPTED_TOPIC_CONFIGS: &[&str] = &[
    "compression.type",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "remote.storage.enable",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "segment.jitter.ms",
    "unclean.leader.election.enable",
];

/// The configuration of one partition's log. [`Default`] is Kafka's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes` / `log.segment.bytes`: roll when the active segment would exceed this.
    pub segment_bytes: u64,
    /// `segment.ms` / `log.roll.ms` (or `log.roll.hours`): roll a segment this old. `None`:
    /// never by time.
    pub segment_ms: Option<u64>,
    /// `retention.ms` / `log.retention.{ms,minutes,hours}`; `None` (-1): unlimited.
    pub retention_ms: Option<i64>,
    /// `retention.bytes` / `log.retention.bytes`; `None` (-1): unlimited.
    pub retention_bytes: Option<u64>,
    /// `flush.messages` / `log.flush.interval.messages`: fsync after this many messages;
    /// `None` (`Long.MAX_VALUE`): leave it to the OS.
    pub flush_interval_messages: Option<u64>,
    /// `flush.ms` / `log.flush.interval.ms`: fsync data older than this (checked by the
    /// background task); `None` (`Long.MAX_VALUE`): never by time.
    pub flush_interval_ms: Option<u64>,
    /// `index.interval.bytes` / `log.index.interval.bytes`: bytes between offset index entries.
    pub index_interval_bytes: u64,
    /// `segment.index.bytes` / `log.index.size.max.bytes`: an index this large rolls the
    /// segment.
    pub segment_index_bytes: u64,
    /// `max.message.bytes` / `message.max.bytes`: the largest batch accepted.
    pub max_message_bytes: usize,
    /// `message.timestamp.type` / `log.message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: how far in the past a create-time timestamp may be;
    /// `None`: unlimited.
    pub message_timestamp_before_max_ms: Option<i64>,
    /// `message.timestamp.after.max.ms`: how far in the future a create-time timestamp may be
    /// (Kafka 4.0's default: one hour); `None`: unlimited.
    pub message_timestamp_after_max_ms: Option<i64>,
    /// `cleanup.policy` / `log.cleanup.policy`: `delete` (compaction is not implemented; a
    /// `compact` topic is stored and never cleaned, nor deleted by retention).
    pub cleanup_policy: String,
    /// Other Kafka topic configs that were set ([`ACCEPTED_TOPIC_CONFIGS`]), kept as given.
    pub other: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: Some(7 * 24 * 60 * 60 * 1000),
            retention_ms: Some(7 * 24 * 60 * 60 * 1000),
            retention_bytes: None,
            flush_interval_messages: None,
            flush_interval_ms: None,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            max_message_bytes: 1024 * 1024 + 12,
            message_timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max_ms: None,
            message_timestamp_after_max_ms: Some(60 * 60 * 1000),
            cleanup_policy: "delete".to_string(),
            other: BTreeMap::new(),
        }
    }
}

fn config_err(key: &str, value: &str, why: &str) -> Error {
    Error::Config(format!("invalid value {value:?} for {key}: {why}"))
}

fn parse_i64(key: &str, value: &str) -> Result<i64> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| config_err(key, value, "not an integer"))
}

fn parse_range(key: &str, value: &str, min: i64, max: i64) -> Result<i64> {
    let v = parse_i64(key, value)?;
    if v < min || v > max {
        return Err(config_err(
            key,
            value,
            &format!("must be in [{min}, {max}]"),
        ));
    }
    Ok(v)
}

/// `Long.MAX_VALUE` means "never".
fn parse_long_or_never(key: &str, value: &str, min: i64) -> Result<Option<u64>> {
    let v = parse_range(key, value, min, LONG_MAX)?;
    Ok(if v == LONG_MAX {
        None
    } else {
        u64::try_from(v).ok()
    })
}

/// -1 means unlimited.
fn parse_unlimited(key: &str, value: &str) -> Result<Option<i64>> {
    let v = parse_range(key, value, -1, LONG_MAX)?;
    Ok((v >= 0).then_some(v))
}

fn parse_timestamp_type(key: &str, value: &str) -> Result<TimestampType> {
    match value.trim() {
        "CreateTime" => Ok(TimestampType::CreateTime),
        "LogAppendTime" => Ok(TimestampType::LogAppendTime),
        _ => Err(config_err(
            key,
            value,
            "must be CreateTime or LogAppendTime",
        )),
    }
}

fn parse_cleanup_policy(key: &str, value: &str) -> Result<String> {
    let parts: Vec<&str> = value.split(',').map(str::trim).collect();
    if parts.is_empty() || parts.iter().any(|p| !matches!(*p, "delete" | "compact")) {
        return Err(config_err(key, value, "must be delete, compact or both"));
    }
    Ok(parts.join(","))
}

/// The type and range Kafka gives the keys stored without effect, so that a value Kafka
/// would refuse is refused here too.
fn check_accepted(key: &str, value: &str) -> Result<()> {
    let v = value.trim();
    let i32_max = i64::from(i32::MAX);
    match key {
        "compression.type" => match v {
            "uncompressed" | "zstd" | "lz4" | "snappy" | "gzip" | "producer" => Ok(()),
            _ => Err(config_err(
                key,
                value,
                "must be one of uncompressed, zstd, lz4, snappy, gzip, producer",
            )),
        },
        "compression.gzip.level" => parse_range(key, v, -1, 9).map(drop),
        "compression.lz4.level" => parse_range(key, v, 1, 17).map(drop),
        "compression.zstd.level" => parse_range(key, v, -131_072, 22).map(drop),
        "min.insync.replicas" => parse_range(key, v, 1, i32_max).map(drop),
        "delete.retention.ms" | "file.delete.delay.ms" | "max.compaction.lag.ms" => {
            parse_range(key, v, 1, LONG_MAX).map(drop)
        }
        "min.compaction.lag.ms" | "segment.jitter.ms" => parse_range(key, v, 0, LONG_MAX).map(drop),
        "local.retention.bytes" | "local.retention.ms" => {
            parse_range(key, v, -2, LONG_MAX).map(drop)
        }
        "min.cleanable.dirty.ratio" => match v.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(()),
            _ => Err(config_err(key, value, "must be a number in [0, 1]")),
        },
        "preallocate"
        | "remote.storage.enable"
        | "remote.log.copy.disable"
        | "remote.log.delete.on.disable"
        | "unclean.leader.election.enable" => match v {
            "true" | "false" => Ok(()),
            _ => Err(config_err(key, value, "must be true or false")),
        },
        _ => Ok(()),
    }
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_usize(v: i64) -> usize {
    usize::try_from(v).unwrap_or(0)
}

impl LogConfig {
    /// Sets one topic-level key (validated as Kafka does). Unknown keys are an error; keys
    /// in [`ACCEPTED_TOPIC_CONFIGS`] are stored in [`LogConfig::other`].
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let i32_max = i64::from(i32::MAX);
        match key {
            "segment.bytes" => self.segment_bytes = to_u64(parse_range(key, value, 14, i32_max)?),
            "segment.ms" => self.segment_ms = parse_long_or_never(key, value, 1)?,
            "retention.ms" => self.retention_ms = parse_unlimited(key, value)?,
            "retention.bytes" => self.retention_bytes = parse_unlimited(key, value)?.map(to_u64),
            "flush.messages" => self.flush_interval_messages = parse_long_or_never(key, value, 1)?,
            "flush.ms" => self.flush_interval_ms = parse_long_or_never(key, value, 0)?,
            "index.interval.bytes" => {
                self.index_interval_bytes = to_u64(parse_range(key, value, 0, i32_max)?)
            }
            "segment.index.bytes" => {
                self.segment_index_bytes = to_u64(parse_range(key, value, 4, i32_max)?)
            }
            "max.message.bytes" => {
                self.max_message_bytes = to_usize(parse_range(key, value, 0, i32_max)?)
            }
            "message.timestamp.type" => {
                self.message_timestamp_type = parse_timestamp_type(key, value)?
            }
            "message.timestamp.before.max.ms" => {
                let v = parse_range(key, value, 0, LONG_MAX)?;
                self.message_timestamp_before_max_ms = (v != LONG_MAX).then_some(v);
            }
            "message.timestamp.after.max.ms" => {
                let v = parse_range(key, value, 0, LONG_MAX)?;
                self.message_timestamp_after_max_ms = (v != LONG_MAX).then_some(v);
            }
            "cleanup.policy" => self.cleanup_policy = parse_cleanup_policy(key, value)?,
            _ if ACCEPTED_TOPIC_CONFIGS.contains(&key) => {
                check_accepted(key, value)?;
                self.other.insert(key.to_string(), value.trim().to_string());
            }
            _ => return Err(Error::Config(format!("unknown topic config {key:?}"))),
        }
        Ok(())
    }

    /// `base` with topic-level overrides applied (`segment.bytes`, `segment.ms`,
    /// `retention.ms`, `retention.bytes`, `flush.messages`, `flush.ms`, `max.message.bytes`,
    /// `message.timestamp.type`, `cleanup.policy`, `index.interval.bytes`, ...; see
    /// [`TOPIC_CONFIGS`] and [`ACCEPTED_TOPIC_CONFIGS`]).
    pub fn from_topic_configs(
        base: &LogConfig,
        overrides: &BTreeMap<String, String>,
    ) -> Result<LogConfig> {
        let mut config = base.clone();
        for (key, value) in overrides {
            config.set(key, value)?;
        }
        Ok(config)
    }

    /// Checks that every key is a topic config and every value valid, as AlterConfigs'
    /// `validate_only` needs.
    pub fn validate_topic_configs(overrides: &BTreeMap<String, String>) -> Result<()> {
        LogConfig::from_topic_configs(&LogConfig::default(), overrides).map(|_| ())
    }

    /// The broker-wide default from `server.properties` keys (`log.segment.bytes`,
    /// `log.roll.ms`/`log.roll.hours`, `log.retention.ms`/`.minutes`/`.hours`,
    /// `log.retention.bytes`, `log.flush.interval.messages`, `log.flush.interval.ms`
    /// (falling back to `log.flush.scheduler.interval.ms`), `log.index.interval.bytes`,
    /// `log.index.size.max.bytes`, `message.max.bytes`, `log.message.timestamp.type`,
    /// `log.message.timestamp.{before,after}.max.ms`, `log.cleanup.policy`). Other keys are
    /// ignored: they belong to other parts of the broker.
    pub fn from_broker_configs(props: &BTreeMap<String, String>) -> Result<LogConfig> {
        let mut config = LogConfig::default();
        let get = |k: &str| props.get(k).map(String::as_str);
        // Lower-priority synonyms first, so the more precise key wins (as Kafka does).
        if let Some(v) = get("log.roll.hours") {
            let hours = parse_range("log.roll.hours", v, 1, i64::from(i32::MAX))?;
            config.segment_ms = Some(to_u64(hours.saturating_mul(3_600_000)));
        }
        let mut retention_ms = None;
        if let Some(v) = get("log.retention.hours") {
            let h = parse_range("log.retention.hours", v, -1, i64::from(i32::MAX))?;
            retention_ms = Some(if h < 0 {
                -1
            } else {
                h.saturating_mul(3_600_000)
            });
        }
        if let Some(v) = get("log.retention.minutes") {
            let m = parse_range("log.retention.minutes", v, -1, i64::from(i32::MAX))?;
            retention_ms = Some(if m < 0 { -1 } else { m.saturating_mul(60_000) });
        }
        if let Some(ms) = retention_ms {
            config.set("retention.ms", &ms.to_string())?;
        }
        if let Some(v) = get("log.flush.scheduler.interval.ms") {
            config.set("flush.ms", v)?;
        }
        for key in TOPIC_CONFIGS {
            if let Some(v) = get(key.broker_name) {
                config.set(key.name, v).map_err(|e| match e {
                    Error::Config(m) => Error::Config(m.replace(key.name, key.broker_name)),
                    other => other,
                })?;
            }
        }
        Ok(config)
    }

    /// The effective value of every key in [`TOPIC_CONFIGS`] (plus those in
    /// [`LogConfig::other`]), as Kafka prints them, for DescribeConfigs.
    pub fn to_topic_configs(&self) -> BTreeMap<String, String> {
        fn never<T: ToString>(v: Option<T>) -> String {
            v.map_or_else(|| LONG_MAX.to_string(), |v| v.to_string())
        }
        fn unlimited<T: ToString>(v: Option<T>) -> String {
            v.map_or_else(|| "-1".to_string(), |v| v.to_string())
        }
        let mut m = self.other.clone();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("segment.bytes", self.segment_bytes.to_string());
        put("segment.ms", never(self.segment_ms));
        put("retention.ms", unlimited(self.retention_ms));
        put("retention.bytes", unlimited(self.retention_bytes));
        put("flush.messages", never(self.flush_interval_messages));
        put("flush.ms", never(self.flush_interval_ms));
        put(
            "index.interval.bytes",
            self.index_interval_bytes.to_string(),
        );
        put("segment.index.bytes", self.segment_index_bytes.to_string());
        put("max.message.bytes", self.max_message_bytes.to_string());
        put(
            "message.timestamp.type",
            self.message_timestamp_type.name().to_string(),
        );
        put(
            "message.timestamp.before.max.ms",
            never(self.message_timestamp_before_max_ms),
        );
        put(
            "message.timestamp.after.max.ms",
            never(self.message_timestamp_after_max_ms),
        );
        put("cleanup.policy", self.cleanup_policy.clone());
        m
    }

    /// Whether retention may delete segments (`cleanup.policy` includes `delete`).
    pub fn deletes(&self) -> bool {
        self.cleanup_policy.split(',').any(|p| p == "delete")
    }
}

/// Intervals of [`LogManager::spawn_background`](crate::LogManager::spawn_background).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackgroundConfig {
    /// `log.retention.check.interval.ms` (300000): how often retention runs.
    pub retention_check_interval_ms: u64,
    /// How often logs are checked for `flush.ms` and for rolled segments not yet flushed
    /// (Kafka's `log.flush.scheduler.interval.ms`, whose default of "never" leaves rolled
    /// segments to a separate task; here one check does both). 1000 by default.
    pub flush_check_interval_ms: u64,
    /// `log.flush.offset.checkpoint.interval.ms` (60000): how often each partition's recovery
    /// point and log start offset are written to its checkpoint file.
    pub checkpoint_interval_ms: u64,
    /// `producer.id.expiration.ms` (86400000): producer state idle this long is dropped.
    pub producer_id_expiration_ms: i64,
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        BackgroundConfig {
            retention_check_interval_ms: 300_000,
            flush_check_interval_ms: 1_000,
            checkpoint_interval_ms: 60_000,
            producer_id_expiration_ms: 86_400_000,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_kafka() {
        let c = LogConfig::default();
        assert_eq!(c.segment_bytes, 1 << 30);
        assert_eq!(c.retention_ms, Some(604_800_000));
        assert_eq!(c.max_message_bytes, 1_048_588);
        let described = c.to_topic_configs();
        for key in TOPIC_CONFIGS {
            assert_eq!(
                described.get(key.name).map(String::as_str),
                Some(key.default)
            );
        }
    }

    #[test]
    fn keys_without_effect_are_still_typed_as_kafka_types_them() {
        let base = LogConfig::default();
        for (k, v) in [
            ("min.insync.replicas", "0"),
            ("min.insync.replicas", "two"),
            ("compression.type", "brotli"),
            ("preallocate", "yes"),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("delete.retention.ms", "soon"),
        ] {
            let err = LogConfig::from_topic_configs(&base, &map(&[(k, v)])).unwrap_err();
            assert!(err.to_string().contains(k), "{k}={v}: {err}");
        }
        for (k, v) in [
            ("compression.type", "zstd"),
            ("preallocate", "true"),
            ("min.cleanable.dirty.ratio", "0.3"),
            ("local.retention.ms", "-2"),
        ] {
            LogConfig::from_topic_configs(&base, &map(&[(k, v)])).unwrap();
        }
    }

    #[test]
    fn topic_overrides() {
        let base = LogConfig::default();
        let c = LogConfig::from_topic_configs(
            &base,
            &map(&[
                ("segment.bytes", "1000"),
                ("retention.ms", "-1"),
                ("retention.bytes", "5000"),
                ("flush.messages", "1"),
                ("message.timestamp.type", "LogAppendTime"),
                ("min.insync.replicas", "2"),
            ]),
        )
        .unwrap();
        assert_eq!(c.segment_bytes, 1000);
        assert_eq!(c.retention_ms, None);
        assert_eq!(c.retention_bytes, Some(5000));
        assert_eq!(c.flush_interval_messages, Some(1));
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(c.other.get("min.insync.replicas").unwrap(), "2");
        for bad in [
            ("segment.bytes", "10"),
            ("retention.ms", "-2"),
            ("flush.messages", "0"),
            ("message.timestamp.type", "Now"),
            ("no.such.key", "1"),
            ("cleanup.policy", "shred"),
        ] {
            assert!(matches!(
                LogConfig::from_topic_configs(&base, &map(&[bad])),
                Err(Error::Config(_))
            ));
        }
    }

    #[test]
    fn broker_keys_and_synonyms() {
        let c = LogConfig::from_broker_configs(&map(&[
            ("log.retention.hours", "1"),
            ("log.roll.hours", "2"),
            ("log.segment.bytes", "4096"),
            ("log.flush.interval.messages", "1"),
            ("message.max.bytes", "2000000"),
            ("num.network.threads", "3"),
        ]))
        .unwrap();
        assert_eq!(c.retention_ms, Some(3_600_000));
        assert_eq!(c.segment_ms, Some(7_200_000));
        assert_eq!(c.segment_bytes, 4096);
        assert_eq!(c.flush_interval_messages, Some(1));
        assert_eq!(c.max_message_bytes, 2_000_000);
        let c = LogConfig::from_broker_configs(&map(&[
            ("log.retention.hours", "1"),
            ("log.retention.ms", "5"),
        ]))
        .unwrap();
        assert_eq!(c.retention_ms, Some(5));
        assert!(LogConfig::from_broker_configs(&map(&[("log.segment.bytes", "x")])).is_err());
    }
}
