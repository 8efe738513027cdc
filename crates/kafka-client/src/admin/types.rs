//! The values admin calls take and return, named as in Kafka's `org.apache.kafka.clients.admin`.

use std::fmt;

use kafka_protocol::Uuid;

use crate::metadata::{Node, PartitionInfo};
use crate::types::{NodeId, TopicPartition};

/// A topic to create (Java's `NewTopic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// The topic's name.
    pub name: String,
    /// How many partitions; `None` lets the broker use `num.partitions` (CreateTopics v4+).
    pub num_partitions: Option<i32>,
    /// How many replicas of each partition; `None` lets the broker use
    /// `default.replication.factor` (CreateTopics v4+).
    pub replication_factor: Option<i16>,
    /// Topic-level configuration overrides (`retention.ms`, `cleanup.policy`, ...).
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `num_partitions` partitions of `replication_factor` replicas each.
    pub fn new(name: impl Into<String>, num_partitions: i32, replication_factor: i16) -> Self {
        NewTopic {
            name: name.into(),
            num_partitions: Some(num_partitions),
            replication_factor: Some(replication_factor),
            configs: Vec::new(),
        }
    }

    /// A topic with the broker's default partition count and replication factor.
    pub fn with_defaults(name: impl Into<String>) -> Self {
        NewTopic {
            name: name.into(),
            num_partitions: None,
            replication_factor: None,
            configs: Vec::new(),
        }
    }

    /// Adds a topic-level configuration override (builder style).
    #[must_use]
    pub fn with_config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((name.into(), value.into()));
        self
    }
}

/// A topic as a Metadata response describes it (Java's `TopicDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// The topic's name.
    pub name: String,
    /// Its id (zero from brokers older than Metadata v10).
    pub id: Uuid,
    /// Whether it is internal (`__consumer_offsets`).
    pub internal: bool,
    /// Its partitions, by index.
    pub partitions: Vec<PartitionInfo>,
}

/// The cluster as DescribeCluster (or Metadata) describes it (Java's
/// `DescribeClusterResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id, when the broker reports one.
    pub cluster_id: Option<String>,
    /// The controller Kafka clients see (any broker in KRaft clusters, which forward to the
    /// real controller), if known.
    pub controller: Option<Node>,
    /// Every broker, by id.
    pub nodes: Vec<Node>,
}

/// What kind of thing a configuration belongs to (Java's `ConfigResource.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResourceType {
    /// A topic; the name is the topic's.
    Topic,
    /// A broker; the name is its id, or empty for the cluster-wide default.
    Broker,
    /// A broker's log4j loggers; the name is the broker's id.
    BrokerLogger,
}

impl ConfigResourceType {
    /// The code on the wire.
    pub fn code(self) -> i8 {
        match self {
            ConfigResourceType::Topic => 2,
            ConfigResourceType::Broker => 4,
            ConfigResourceType::BrokerLogger => 8,
        }
    }

    /// The type with wire code `code`, if it is one of these.
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            2 => Some(ConfigResourceType::Topic),
            4 => Some(ConfigResourceType::Broker),
            8 => Some(ConfigResourceType::BrokerLogger),
            _ => None,
        }
    }
}

/// A topic or broker whose configuration is described or altered (Java's `ConfigResource`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigResource {
    /// Topic, broker or broker logger.
    pub kind: ConfigResourceType,
    /// The topic's name or the broker's id.
    pub name: String,
}

impl ConfigResource {
    /// The configuration of topic `name`.
    pub fn topic(name: impl Into<String>) -> Self {
        ConfigResource {
            kind: ConfigResourceType::Topic,
            name: name.into(),
        }
    }

    /// The configuration of broker `id`.
    pub fn broker(id: NodeId) -> Self {
        ConfigResource {
            kind: ConfigResourceType::Broker,
            name: id.to_string(),
        }
    }

    /// The broker a request about this resource must go to: broker and broker-logger
    /// resources are answered only by the broker they name; `None` means any broker.
    pub(crate) fn target_broker(&self) -> Option<Result<NodeId, String>> {
        match self.kind {
            ConfigResourceType::Topic => None,
            ConfigResourceType::Broker if self.name.is_empty() => None,
            ConfigResourceType::Broker | ConfigResourceType::BrokerLogger => Some(
                self.name
                    .parse()
                    .map_err(|_| format!("{self}: the name must be a broker id")),
            ),
        }
    }
}

impl fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ConfigResourceType::Topic => "topic",
            ConfigResourceType::Broker => "broker",
            ConfigResourceType::BrokerLogger => "broker logger",
        };
        write!(f, "{kind} '{}'", self.name)
    }
}

/// Where a configuration value comes from (Java's `ConfigEntry.ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    /// A topic's own override.
    DynamicTopicConfig,
    /// A broker's dynamic override.
    DynamicBrokerConfig,
    /// The cluster-wide dynamic default of a broker setting.
    DynamicDefaultBrokerConfig,
    /// `server.properties` (or a command-line override).
    StaticBrokerConfig,
    /// The built-in default.
    DefaultConfig,
    /// A broker logger's level.
    DynamicBrokerLoggerConfig,
    /// Not reported (DescribeConfigs v0) or a code this client does not know.
    Unknown,
}

impl ConfigSource {
    /// The source with wire code `code`.
    pub fn from_code(code: i8) -> Self {
        match code {
            1 => ConfigSource::DynamicTopicConfig,
            2 => ConfigSource::DynamicBrokerConfig,
            3 => ConfigSource::DynamicDefaultBrokerConfig,
            4 => ConfigSource::StaticBrokerConfig,
            5 => ConfigSource::DefaultConfig,
            6 => ConfigSource::DynamicBrokerLoggerConfig,
            _ => ConfigSource::Unknown,
        }
    }
}

/// One configuration key of a resource (Java's `ConfigEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The key, e.g. `retention.ms`.
    pub name: String,
    /// The value; `None` for sensitive values, which brokers never send.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether the value is the built-in default.
    pub is_default: bool,
    /// Whether it cannot be altered at run time.
    pub read_only: bool,
    /// Whether it is a password or key.
    pub sensitive: bool,
}

/// How [`AlterConfigOp`] changes a key (Java's `AlterConfigOp.OpType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlterConfigOpType {
    /// Sets the key to the value.
    Set,
    /// Removes the override, returning the key to its default.
    Delete,
    /// Adds the value's items to a list-valued key.
    Append,
    /// Removes the value's items from a list-valued key.
    Subtract,
}

impl AlterConfigOpType {
    /// The code on the wire.
    pub fn code(self) -> i8 {
        match self {
            AlterConfigOpType::Set => 0,
            AlterConfigOpType::Delete => 1,
            AlterConfigOpType::Append => 2,
            AlterConfigOpType::Subtract => 3,
        }
    }
}

/// One change to one key of a resource (Java's `AlterConfigOp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigOp {
    /// The key.
    pub name: String,
    /// The value (`None` for [`AlterConfigOpType::Delete`]).
    pub value: Option<String>,
    /// What to do.
    pub op: AlterConfigOpType,
}

impl AlterConfigOp {
    /// Sets `name` to `value`.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp {
            name: name.into(),
            value: Some(value.into()),
            op: AlterConfigOpType::Set,
        }
    }

    /// Removes the override of `name`.
    pub fn delete(name: impl Into<String>) -> Self {
        AlterConfigOp {
            name: name.into(),
            value: None,
            op: AlterConfigOpType::Delete,
        }
    }

    /// Adds the comma-separated `items` to list-valued `name`.
    pub fn append(name: impl Into<String>, items: impl Into<String>) -> Self {
        AlterConfigOp {
            name: name.into(),
            value: Some(items.into()),
            op: AlterConfigOpType::Append,
        }
    }

    /// Removes the comma-separated `items` from list-valued `name`.
    pub fn subtract(name: impl Into<String>, items: impl Into<String>) -> Self {
        AlterConfigOp {
            name: name.into(),
            value: Some(items.into()),
            op: AlterConfigOpType::Subtract,
        }
    }
}

/// A group as ListGroups reports it (Java's `GroupListing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group's id.
    pub group_id: String,
    /// `consumer` for consumer groups, `connect` for Connect workers, empty for groups that
    /// only commit offsets.
    pub protocol_type: String,
    /// `Stable`, `Empty`, ...; `None` from brokers older than ListGroups v4.
    pub state: Option<String>,
}

/// A member of a group (Java's `MemberDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The id the coordinator gave the member.
    pub member_id: String,
    /// Its static membership id (`group.instance.id`), if any.
    pub group_instance_id: Option<String>,
    /// Its `client.id`.
    pub client_id: String,
    /// The host it connects from.
    pub host: String,
    /// The partitions assigned to it (consumer groups only; empty otherwise or when the
    /// assignment cannot be decoded).
    pub assignment: Vec<TopicPartition>,
}

/// A group as DescribeGroups describes it (Java's `ConsumerGroupDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group's id.
    pub group_id: String,
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty` or `Dead` (a group that
    /// does not exist is `Dead`).
    pub state: String,
    /// `consumer` for consumer groups.
    pub protocol_type: String,
    /// The chosen protocol: for consumer groups the assignor (`range`, ...).
    pub protocol: String,
    /// The members.
    pub members: Vec<MemberDescription>,
    /// The group's coordinator.
    pub coordinator: NodeId,
}

/// Which offset [`Admin::list_offsets`](super::Admin::list_offsets) asks for (Java's
/// `OffsetSpec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (the next offset to be written).
    Latest,
    /// The first offset whose timestamp is at least this (milliseconds since the epoch).
    Timestamp(i64),
}

impl OffsetSpec {
    /// The timestamp ListOffsets carries for it.
    pub(crate) fn wire_timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}
