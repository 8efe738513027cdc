//! The client's view of the cluster: brokers, topics, partition leaders. Kafka's `Metadata`
//! and `Cluster`.
//!
//! Pure logic: the network client asks [`Metadata::time_to_next_update`] when to send a
//! Metadata request, builds it with [`Metadata::build_request`] and hands the response to
//! [`Metadata::update`]. Errors that show the view is stale (NOT_LEADER_OR_FOLLOWER,
//! UNKNOWN_TOPIC_OR_PARTITION, a broker disconnecting) call [`Metadata::request_update`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use kafka_protocol::messages::metadata_response::MetadataResponse;
use kafka_protocol::{ErrorCode, Uuid};

use crate::config::HostPort;
use crate::types::{deadline_after, NodeId, TopicPartition};

/// A broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The broker id (negative for a bootstrap server not yet identified).
    pub id: NodeId,
    /// Host to connect to.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
}

/// One partition as the last metadata response described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// The leader, if there is one.
    pub leader: Option<NodeId>,
    /// The leader's epoch (-1 unknown).
    pub leader_epoch: i32,
    /// All replicas.
    pub replicas: Vec<NodeId>,
    /// In-sync replicas.
    pub isr: Vec<NodeId>,
    /// The partition's error (e.g. LEADER_NOT_AVAILABLE).
    pub error: ErrorCode,
}

/// One topic as the last metadata response described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// The topic's id (zero before Metadata v10 or for unknown topics).
    pub id: Uuid,
    /// The topic's error (e.g. UNKNOWN_TOPIC_OR_PARTITION).
    pub error: ErrorCode,
    /// Whether it is internal (`__consumer_offsets`).
    pub internal: bool,
    /// Partitions by index.
    pub partitions: Vec<PartitionInfo>,
}

/// The cluster as known now.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// Brokers by id.
    pub nodes: HashMap<NodeId, Node>,
    /// Topics by name.
    pub topics: HashMap<Arc<str>, TopicInfo>,
    /// The controller, if known.
    pub controller: Option<NodeId>,
    /// The cluster id, if known.
    pub cluster_id: Option<String>,
    /// Derived once per update for the producer's per-record and per-drain lookups: the
    /// partitions each node leads, and each topic's partitions that have a leader.
    led_by: HashMap<NodeId, Vec<TopicPartition>>,
    available: HashMap<Arc<str>, Vec<i32>>,
}

impl Cluster {
    /// A cluster of the bootstrap servers only, numbered -1, -2, ... as Java does.
    pub fn bootstrap(servers: &[HostPort]) -> Self {
        let nodes = servers
            .iter()
            .enumerate()
            .map(|(i, hp)| {
                let id = -1 - i32::try_from(i).unwrap_or(i32::MAX - 1);
                (
                    id,
                    Node {
                        id,
                        host: hp.host.clone(),
                        port: hp.port,
                        rack: None,
                    },
                )
            })
            .collect();
        Cluster {
            nodes,
            ..Cluster::default()
        }
    }

    /// The leader of `tp`, if known.
    pub fn leader_for(&self, tp: &TopicPartition) -> Option<NodeId> {
        self.partition(tp).and_then(|p| p.leader)
    }

    /// The metadata of `tp`, if known.
    pub fn partition(&self, tp: &TopicPartition) -> Option<&PartitionInfo> {
        let topic = self.topics.get(&*tp.topic)?;
        let index = usize::try_from(tp.partition).ok()?;
        topic
            .partitions
            .get(index)
            .filter(|p| p.partition == tp.partition)
            .or_else(|| {
                topic
                    .partitions
                    .iter()
                    .find(|p| p.partition == tp.partition)
            })
    }

    /// How many partitions `topic` has, if it is known and has no error.
    pub fn partition_count(&self, topic: &str) -> Option<i32> {
        self.topics
            .get(topic)
            .filter(|t| !t.error.is_error())
            .and_then(|t| i32::try_from(t.partitions.len()).ok())
    }

    /// The partitions of `topic` that have a leader.
    pub fn available_partitions(&self, topic: &str) -> &[i32] {
        self.available.get(topic).map_or(&[], Vec::as_slice)
    }

    /// Every partition led by `node`.
    pub fn partitions_for_node(&self, node: NodeId) -> &[TopicPartition] {
        self.led_by.get(&node).map_or(&[], Vec::as_slice)
    }

    /// Fills the derived lookups from `topics`.
    fn index(&mut self) {
        self.led_by.clear();
        self.available.clear();
        for (name, topic) in &self.topics {
            let mut available = Vec::new();
            for p in &topic.partitions {
                if let Some(leader) = p.leader {
                    available.push(p.partition);
                    self.led_by.entry(leader).or_default().push(TopicPartition {
                        topic: Arc::clone(name),
                        partition: p.partition,
                    });
                }
            }
            self.available.insert(Arc::clone(name), available);
        }
    }

    /// The id of `topic`, if known.
    pub fn topic_id(&self, topic: &str) -> Option<Uuid> {
        self.topics
            .get(topic)
            .map(|t| t.id)
            .filter(|id| *id != Uuid::ZERO)
    }

    /// The name of the topic with `id`.
    pub fn topic_name(&self, id: Uuid) -> Option<Arc<str>> {
        self.topics
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(n, _)| Arc::clone(n))
    }

    /// The shared name of `topic` (one allocation per topic, however many partitions).
    pub fn topic_arc(&self, topic: &str) -> Option<Arc<str>> {
        self.topics.get_key_value(topic).map(|(k, _)| Arc::clone(k))
    }
}

/// The metadata cache and its refresh policy.
#[derive(Debug)]
pub struct Metadata {
    cluster: Cluster,
    bootstrap: Vec<HostPort>,
    topics: BTreeSet<String>,
    all_topics: bool,
    allow_auto_topic_creation: bool,
    refresh_backoff: Duration,
    max_age: Duration,
    last_refresh: Option<Instant>,
    last_successful_refresh: Option<Instant>,
    need_update: bool,
    /// A request is on its way; updates asked for meanwhile are not satisfied by its answer
    /// (it was built before them: a topic added now is not in it). Java's request versions.
    request_in_flight: bool,
    asked_during_request: bool,
    version: u64,
    /// Topics whose last answer was an error the caller should see (e.g. authorization).
    fatal_topic_errors: HashMap<String, ErrorCode>,
}

impl Metadata {
    /// A cache that knows only the bootstrap servers and wants an update at once.
    pub fn new(bootstrap: &[HostPort], refresh_backoff: Duration, max_age: Duration) -> Self {
        Metadata {
            cluster: Cluster::bootstrap(bootstrap),
            bootstrap: bootstrap.to_vec(),
            topics: BTreeSet::new(),
            all_topics: false,
            allow_auto_topic_creation: true,
            refresh_backoff,
            max_age,
            last_refresh: None,
            last_successful_refresh: None,
            need_update: true,
            request_in_flight: false,
            asked_during_request: false,
            version: 0,
            fatal_topic_errors: HashMap::new(),
        }
    }

    /// The cluster as last described.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Increases with every update: a caller waiting for fresh metadata compares versions.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether a real metadata response was received (not just the bootstrap list).
    pub fn is_bootstrapped(&self) -> bool {
        self.last_successful_refresh.is_some()
    }

    /// Whether Metadata requests ask the broker to create missing topics.
    pub fn set_allow_auto_topic_creation(&mut self, allow: bool) {
        self.allow_auto_topic_creation = allow;
    }

    /// Adds topics to keep metadata for; an unknown one asks for an update.
    pub fn add_topics<'a>(&mut self, topics: impl IntoIterator<Item = &'a str>) {
        for t in topics {
            if self.topics.insert(t.to_string()) && !self.cluster.topics.contains_key(t) {
                self.mark_stale();
            }
        }
    }

    /// Replaces the topics to keep metadata for.
    pub fn set_topics(&mut self, topics: impl IntoIterator<Item = String>) {
        let topics: BTreeSet<String> = topics.into_iter().collect();
        if topics != self.topics {
            self.topics = topics;
            self.mark_stale();
        }
    }

    /// Fetch metadata of every topic (pattern subscriptions, admin listings).
    pub fn set_all_topics(&mut self, all: bool) {
        if all != self.all_topics {
            self.all_topics = all;
            self.mark_stale();
        }
    }

    /// The topics metadata is kept for.
    pub fn topics(&self) -> &BTreeSet<String> {
        &self.topics
    }

    fn mark_stale(&mut self) {
        self.need_update = true;
        if self.request_in_flight {
            self.asked_during_request = true;
        }
    }

    /// Marks the view stale: the next poll sends a Metadata request (after the backoff).
    pub fn request_update(&mut self) {
        self.mark_stale();
    }

    /// Whether an update was requested and not yet received.
    pub fn update_requested(&self) -> bool {
        self.need_update
    }

    /// How long until a Metadata request is due: zero when one is needed now.
    pub fn time_to_next_update(&self, now: Instant) -> Duration {
        let Some(last) = self.last_refresh else {
            return Duration::ZERO;
        };
        let backoff_end = deadline_after(last, self.refresh_backoff);
        let due = if self.need_update {
            backoff_end
        } else {
            let age_end = self
                .last_successful_refresh
                .map_or(now, |t| deadline_after(t, self.max_age));
            age_end.max(backoff_end)
        };
        due.saturating_duration_since(now)
    }

    /// The request to send at `version`.
    pub fn build_request(&self, version: i16) -> MetadataRequest {
        let topics = if self.all_topics && version >= 1 {
            None
        } else {
            Some(
                self.topics
                    .iter()
                    .map(|t| MetadataRequestTopic::default().with_name(Some(t.clone())))
                    .collect(),
            )
        };
        MetadataRequest::default()
            .with_topics(topics)
            .with_allow_auto_topic_creation(self.allow_auto_topic_creation)
    }

    /// A request was sent or failed: no new one before the backoff.
    pub fn record_attempt(&mut self, now: Instant) {
        self.last_refresh = Some(now);
        self.request_in_flight = true;
        self.asked_during_request = false;
    }

    /// A Metadata request failed (disconnect, timeout): try again after the backoff.
    pub fn failed_update(&mut self, now: Instant) {
        self.last_refresh = Some(now);
        self.request_in_flight = false;
        self.asked_during_request = false;
        self.need_update = true;
    }

    /// Applies a response. Partitions keep their leader epochs monotonic: an answer from a
    /// broker that lags behind another does not move a leader back.
    pub fn update(&mut self, response: &MetadataResponse, now: Instant) {
        let mut cluster = Cluster {
            nodes: HashMap::new(),
            topics: HashMap::new(),
            controller: (response.controller_id >= 0).then_some(response.controller_id),
            cluster_id: response.cluster_id.clone(),
            ..Cluster::default()
        };
        for b in &response.brokers {
            let Ok(port) = u16::try_from(b.port) else {
                continue;
            };
            cluster.nodes.insert(
                b.node_id,
                Node {
                    id: b.node_id,
                    host: b.host.clone(),
                    port,
                    rack: b.rack.clone(),
                },
            );
        }
        let mut retry_soon = false;
        self.fatal_topic_errors.clear();
        for t in &response.topics {
            let Some(name) = t.name.as_deref() else {
                continue;
            };
            let error = ErrorCode::from(t.error_code);
            let name: Arc<str> = self
                .cluster
                .topic_arc(name)
                .unwrap_or_else(|| Arc::from(name));
            if error.is_error() {
                if error.is_retriable() {
                    retry_soon = true;
                } else {
                    self.fatal_topic_errors.insert(name.to_string(), error);
                }
            }
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .iter()
                .map(|p| {
                    let perror = ErrorCode::from(p.error_code);
                    if perror.is_error() {
                        retry_soon = true;
                    }
                    PartitionInfo {
                        partition: p.partition_index,
                        leader: (p.leader_id >= 0 && cluster.nodes.contains_key(&p.leader_id))
                            .then_some(p.leader_id),
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.clone(),
                        isr: p.isr_nodes.clone(),
                        error: perror,
                    }
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            if let Some(old) = self.cluster.topics.get(&name) {
                for p in &mut partitions {
                    if let Some(prev) = old.partitions.iter().find(|o| o.partition == p.partition) {
                        if prev.leader_epoch > p.leader_epoch && p.leader_epoch >= 0 {
                            *p = prev.clone();
                        }
                    }
                }
            }
            cluster.topics.insert(
                name,
                TopicInfo {
                    id: t.topic_id,
                    error,
                    internal: t.is_internal,
                    partitions,
                },
            );
        }
        if cluster.nodes.is_empty() {
            // An answer naming no broker would leave nothing to connect to.
            cluster.nodes = Cluster::bootstrap(&self.bootstrap).nodes;
            retry_soon = true;
        }
        cluster.index();
        self.cluster = cluster;
        self.last_refresh = Some(now);
        self.last_successful_refresh = Some(now);
        self.need_update = retry_soon || self.asked_during_request;
        self.request_in_flight = false;
        self.asked_during_request = false;
        self.version += 1;
    }

    /// A non-retriable error the last response gave for `topic` (e.g.
    /// TOPIC_AUTHORIZATION_FAILED, INVALID_TOPIC_EXCEPTION).
    pub fn fatal_topic_error(&self, topic: &str) -> Option<ErrorCode> {
        self.fatal_topic_errors.get(topic).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };

    fn bootstrap() -> Vec<HostPort> {
        vec![
            HostPort {
                host: "a".into(),
                port: 1,
            },
            HostPort {
                host: "b".into(),
                port: 2,
            },
        ]
    }

    fn response(leader: i32, epoch: i32) -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(1)
                    .with_host("h1".into())
                    .with_port(9001),
                MetadataResponseBroker::default()
                    .with_node_id(2)
                    .with_host("h2".into())
                    .with_port(9002),
            ])
            .with_controller_id(1)
            .with_topics(vec![MetadataResponseTopic::default()
                .with_name(Some("t".into()))
                .with_partitions(vec![
                    MetadataResponsePartition::default()
                        .with_partition_index(1)
                        .with_leader_id(2)
                        .with_leader_epoch(epoch),
                    MetadataResponsePartition::default()
                        .with_partition_index(0)
                        .with_leader_id(leader)
                        .with_leader_epoch(epoch),
                ])])
    }

    #[test]
    fn bootstrap_nodes_are_negative() {
        let m = Metadata::new(
            &bootstrap(),
            Duration::from_millis(100),
            Duration::from_secs(300),
        );
        let mut ids: Vec<_> = m.cluster().nodes.keys().copied().collect();
        ids.sort_unstable();
        assert_eq!(ids, [-2, -1]);
        assert_eq!(m.time_to_next_update(Instant::now()), Duration::ZERO);
    }

    #[test]
    fn routes_partitions_to_leaders_across_brokers() {
        let mut m = Metadata::new(
            &bootstrap(),
            Duration::from_millis(100),
            Duration::from_secs(300),
        );
        let now = Instant::now();
        m.update(&response(1, 5), now);
        let c = m.cluster();
        assert_eq!(c.leader_for(&TopicPartition::new("t", 0)), Some(1));
        assert_eq!(c.leader_for(&TopicPartition::new("t", 1)), Some(2));
        assert_eq!(c.partition_count("t"), Some(2));
        assert_eq!(c.partitions_for_node(2), vec![TopicPartition::new("t", 1)]);
        assert!(!m.update_requested());
        assert_eq!(
            m.time_to_next_update(now + Duration::from_secs(10)),
            Duration::from_secs(290)
        );
        m.request_update();
        assert_eq!(
            m.time_to_next_update(now + Duration::from_millis(40)),
            Duration::from_millis(60)
        );
    }

    #[test]
    fn a_topic_added_while_a_request_is_in_flight_is_asked_for_again() {
        let mut m = Metadata::new(&bootstrap(), Duration::ZERO, Duration::from_secs(300));
        let now = Instant::now();
        let _request = m.build_request(12);
        m.record_attempt(now);
        m.add_topics(["late"]);
        // The answer to the request built without "late" must not end the need for it.
        m.update(&response(1, 1), now);
        assert!(m.update_requested());
        assert_eq!(m.time_to_next_update(now), Duration::ZERO);
        m.record_attempt(now);
        m.update(&response(1, 1), now);
        assert!(!m.update_requested());
    }

    #[test]
    fn stale_leader_epoch_is_ignored() {
        let mut m = Metadata::new(&bootstrap(), Duration::ZERO, Duration::from_secs(300));
        let now = Instant::now();
        m.update(&response(1, 7), now);
        m.update(&response(2, 6), now);
        assert_eq!(
            m.cluster().leader_for(&TopicPartition::new("t", 0)),
            Some(1)
        );
        m.update(&response(2, 8), now);
        assert_eq!(
            m.cluster().leader_for(&TopicPartition::new("t", 0)),
            Some(2)
        );
    }

    #[test]
    fn leader_on_unknown_broker_is_no_leader_and_errors_ask_again() {
        let mut m = Metadata::new(&bootstrap(), Duration::ZERO, Duration::from_secs(300));
        let mut r = response(9, 1);
        r.topics.push(
            MetadataResponseTopic::default()
                .with_name(Some("missing".into()))
                .with_error_code(ErrorCode::UnknownTopicOrPartition.code()),
        );
        m.update(&r, Instant::now());
        assert_eq!(m.cluster().leader_for(&TopicPartition::new("t", 0)), None);
        assert!(m.update_requested());
        assert_eq!(m.fatal_topic_error("missing"), None);
    }
}
