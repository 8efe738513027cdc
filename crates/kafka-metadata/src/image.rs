//! The replayed metadata state, as Kafka's `MetadataImage`: what every broker and controller
//! derives from the metadata log, and the queries the broker answers clients from.
//!
//! [`MetadataImage::apply`] replays one record; [`MetadataImage::to_records`] writes the image
//! back as the records of a snapshot, and [`MetadataImage::from_records`] reads one, so that
//! `from_records(to_records(image)) == image`. Record types not held yet (ACLs, SCRAM
//! credentials, quotas, delegation tokens, metadata transactions, controller registrations) are
//! accepted and ignored, as a broker of an older version skips what it does not use.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::Uuid;

use crate::error::{Error, Result};
use crate::records::{
    register_broker_record::{BrokerEndpoint, BrokerFeature},
    ConfigRecord, FeatureLevelRecord, MetadataRecord, PartitionRecord, ProducerIdsRecord,
    RegisterBrokerRecord, TopicRecord,
};

/// The name of the metadata version feature.
pub const METADATA_VERSION_FEATURE: &str = "metadata.version";

/// Kafka's `ConfigResource.Type` codes that carry configs in the metadata log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigResourceType {
    /// A topic (code 2).
    Topic,
    /// A broker (code 4); the name `""` is the cluster-wide default.
    Broker,
    /// Any other code, kept as read.
    Other(i8),
}

impl ConfigResourceType {
    /// The code on the wire.
    pub const fn code(self) -> i8 {
        match self {
            ConfigResourceType::Topic => 2,
            ConfigResourceType::Broker => 4,
            ConfigResourceType::Other(c) => c,
        }
    }

    /// The type of a code.
    pub const fn from_code(code: i8) -> Self {
        match code {
            2 => ConfigResourceType::Topic,
            4 => ConfigResourceType::Broker,
            c => ConfigResourceType::Other(c),
        }
    }
}

/// A resource that holds configs: a topic, a broker (by id as a string) or the cluster default
/// (a broker resource named `""`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigResource {
    /// Its type.
    pub resource_type: ConfigResourceType,
    /// Its name.
    pub name: String,
}

impl ConfigResource {
    /// A topic's configs.
    pub fn topic(name: &str) -> Self {
        ConfigResource {
            resource_type: ConfigResourceType::Topic,
            name: name.to_string(),
        }
    }

    /// One broker's configs.
    pub fn broker(id: i32) -> Self {
        ConfigResource {
            resource_type: ConfigResourceType::Broker,
            name: id.to_string(),
        }
    }

    /// The cluster-wide broker defaults.
    pub fn cluster_default() -> Self {
        ConfigResource {
            resource_type: ConfigResourceType::Broker,
            name: String::new(),
        }
    }
}

/// One listener of a broker, as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The listener name.
    pub name: String,
    /// The advertised host.
    pub host: String,
    /// The advertised port.
    pub port: u16,
    /// Kafka's `SecurityProtocol` id (0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL).
    pub security_protocol: i16,
}

/// A feature range a broker supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedFeature {
    /// The feature name.
    pub name: String,
    /// The lowest level supported.
    pub min: i16,
    /// The highest level supported.
    pub max: i16,
}

/// A registered broker (Kafka's `BrokerRegistration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    /// The broker id (`node.id`).
    pub id: i32,
    /// The id of the broker process that registered, new at every start.
    pub incarnation_id: Uuid,
    /// The epoch the controller gave this registration.
    pub epoch: i64,
    /// Its listeners, in registration order.
    pub endpoints: Vec<Endpoint>,
    /// The features it supports.
    pub features: Vec<SupportedFeature>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// Fenced brokers lead nothing and are not listed to clients.
    pub fenced: bool,
    /// Moving its leaderships away before it stops.
    pub in_controlled_shutdown: bool,
    /// Its log directories (KIP-858), as registered.
    pub log_dirs: Vec<Uuid>,
}

impl BrokerRegistration {
    /// The endpoint of listener `name`.
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// Whether it may lead partitions: unfenced and not shutting down.
    pub fn is_active(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }

    fn from_record(r: &RegisterBrokerRecord) -> Self {
        BrokerRegistration {
            id: r.broker_id,
            incarnation_id: r.incarnation_id,
            epoch: r.broker_epoch,
            endpoints: r
                .end_points
                .iter()
                .map(|e| Endpoint {
                    name: e.name.clone(),
                    host: e.host.clone(),
                    port: e.port,
                    security_protocol: e.security_protocol,
                })
                .collect(),
            features: r
                .features
                .iter()
                .map(|f| SupportedFeature {
                    name: f.name.clone(),
                    min: f.min_supported_version,
                    max: f.max_supported_version,
                })
                .collect(),
            rack: r.rack.clone(),
            fenced: r.fenced,
            in_controlled_shutdown: r.in_controlled_shutdown,
            log_dirs: r.log_dirs.clone(),
        }
    }

    /// The record that registers this broker as it is now.
    pub fn to_record(&self) -> RegisterBrokerRecord {
        RegisterBrokerRecord::default()
            .with_broker_id(self.id)
            .with_incarnation_id(self.incarnation_id)
            .with_broker_epoch(self.epoch)
            .with_end_points(
                self.endpoints
                    .iter()
                    .map(|e| {
                        BrokerEndpoint::default()
                            .with_name(e.name.clone())
                            .with_host(e.host.clone())
                            .with_port(e.port)
                            .with_security_protocol(e.security_protocol)
                    })
                    .collect(),
            )
            .with_features(
                self.features
                    .iter()
                    .map(|f| {
                        BrokerFeature::default()
                            .with_name(f.name.clone())
                            .with_min_supported_version(f.min)
                            .with_max_supported_version(f.max)
                    })
                    .collect(),
            )
            .with_rack(self.rack.clone())
            .with_fenced(self.fenced)
            .with_in_controlled_shutdown(self.in_controlled_shutdown)
            .with_log_dirs(self.log_dirs.clone())
    }
}

/// A partition's replicas and leadership (Kafka's `PartitionRegistration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRegistration {
    /// The replicas, in preferred order.
    pub replicas: Vec<i32>,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
    /// Replicas being removed by a reassignment (empty for now).
    pub removing_replicas: Vec<i32>,
    /// Replicas being added by a reassignment (empty for now).
    pub adding_replicas: Vec<i32>,
    /// The leader, or -1 when the partition is offline.
    pub leader: i32,
    /// 1 while recovering from an unclean election, else 0.
    pub leader_recovery_state: i8,
    /// Bumped at every leader change.
    pub leader_epoch: i32,
    /// Bumped at every change of the partition.
    pub partition_epoch: i32,
    /// The log directory of each replica (KIP-858), as recorded.
    pub directories: Vec<Uuid>,
}

impl PartitionRegistration {
    /// Whether the partition has a leader.
    pub fn is_online(&self) -> bool {
        self.leader >= 0
    }

    fn from_record(r: &PartitionRecord) -> Self {
        PartitionRegistration {
            replicas: r.replicas.clone(),
            isr: r.isr.clone(),
            removing_replicas: r.removing_replicas.clone(),
            adding_replicas: r.adding_replicas.clone(),
            leader: r.leader,
            leader_recovery_state: r.leader_recovery_state,
            leader_epoch: r.leader_epoch,
            partition_epoch: r.partition_epoch,
            directories: r.directories.clone(),
        }
    }

    /// The record that creates this partition as it is now.
    pub fn to_record(&self, topic_id: Uuid, partition: i32) -> PartitionRecord {
        PartitionRecord::default()
            .with_partition_id(partition)
            .with_topic_id(topic_id)
            .with_replicas(self.replicas.clone())
            .with_isr(self.isr.clone())
            .with_removing_replicas(self.removing_replicas.clone())
            .with_adding_replicas(self.adding_replicas.clone())
            .with_leader(self.leader)
            .with_leader_recovery_state(self.leader_recovery_state)
            .with_leader_epoch(self.leader_epoch)
            .with_partition_epoch(self.partition_epoch)
            .with_directories(self.directories.clone())
    }
}

/// A topic and its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    /// The name.
    pub name: String,
    /// The id.
    pub id: Uuid,
    /// Partitions by index.
    pub partitions: BTreeMap<i32, PartitionRegistration>,
}

/// Where in the metadata log an image stands: the raft index and term of the last batch applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Provenance {
    /// The raft index (Kafka's offset) of the last applied batch, -1 before any.
    pub offset: i64,
    /// The raft term (Kafka's epoch) of that batch.
    pub epoch: u64,
}

impl Provenance {
    /// Before any batch.
    pub const EMPTY: Provenance = Provenance {
        offset: -1,
        epoch: 0,
    };
}

/// The cluster metadata replayed from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataImage {
    cluster_id: String,
    provenance: Provenance,
    features: BTreeMap<String, i16>,
    brokers: BTreeMap<i32, BrokerRegistration>,
    topics: BTreeMap<Uuid, TopicImage>,
    topic_ids: HashMap<String, Uuid>,
    configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
    next_producer_id: i64,
}

impl MetadataImage {
    /// An empty image of cluster `cluster_id`. The cluster id is not in the log (Kafka keeps it
    /// in each node's `meta.properties` and checks it when a node joins), so it is given here.
    pub fn new(cluster_id: &str) -> Self {
        MetadataImage {
            cluster_id: cluster_id.to_string(),
            provenance: Provenance::EMPTY,
            features: BTreeMap::new(),
            brokers: BTreeMap::new(),
            topics: BTreeMap::new(),
            topic_ids: HashMap::new(),
            configs: BTreeMap::new(),
            next_producer_id: 0,
        }
    }

    /// The image a snapshot holds: `records` (as [`MetadataImage::to_records`] wrote them)
    /// replayed over an empty image, standing at `provenance`.
    pub fn from_records(
        cluster_id: &str,
        provenance: Provenance,
        records: &[MetadataRecord],
    ) -> Result<Self> {
        let mut image = MetadataImage::new(cluster_id);
        for r in records {
            image.apply(r)?;
        }
        image.provenance = provenance;
        Ok(image)
    }

    /// Replays one batch (one raft entry) committed at `provenance`. An error means the log
    /// holds a record this image cannot replay; the records before it stay applied (as Kafka,
    /// which raises a metadata fault rather than rolling back), so the caller should treat it
    /// as fatal for this image.
    pub fn apply_batch(
        &mut self,
        provenance: Provenance,
        records: &[MetadataRecord],
    ) -> Result<()> {
        for r in records {
            self.apply(r)?;
        }
        self.provenance = provenance;
        Ok(())
    }

    /// Replays one record.
    pub fn apply(&mut self, record: &MetadataRecord) -> Result<()> {
        self.check(record)?;
        match record {
            MetadataRecord::RegisterBroker(r) => {
                self.brokers
                    .insert(r.broker_id, BrokerRegistration::from_record(r));
            }
            MetadataRecord::UnregisterBroker(r) => {
                self.brokers.remove(&r.broker_id);
            }
            MetadataRecord::FenceBroker(r) => self.broker_mut(r.id, r.epoch)?.fenced = true,
            MetadataRecord::UnfenceBroker(r) => self.broker_mut(r.id, r.epoch)?.fenced = false,
            MetadataRecord::BrokerRegistrationChange(r) => {
                let b = self.broker_mut(r.broker_id, r.broker_epoch)?;
                match r.fenced {
                    1 => b.fenced = true,
                    -1 => b.fenced = false,
                    _ => {}
                }
                if r.in_controlled_shutdown == 1 {
                    b.in_controlled_shutdown = true;
                }
                if !r.log_dirs.is_empty() {
                    b.log_dirs = r.log_dirs.clone();
                }
            }
            MetadataRecord::Topic(r) => {
                self.topic_ids.insert(r.name.clone(), r.topic_id);
                self.topics.insert(
                    r.topic_id,
                    TopicImage {
                        name: r.name.clone(),
                        id: r.topic_id,
                        partitions: BTreeMap::new(),
                    },
                );
            }
            MetadataRecord::Partition(r) => {
                let topic = self
                    .topics
                    .get_mut(&r.topic_id)
                    .ok_or(Error::UnknownTopicId(r.topic_id))?;
                topic
                    .partitions
                    .insert(r.partition_id, PartitionRegistration::from_record(r));
            }
            MetadataRecord::PartitionChange(r) => {
                let p = self
                    .topics
                    .get_mut(&r.topic_id)
                    .ok_or(Error::UnknownTopicId(r.topic_id))?
                    .partitions
                    .get_mut(&r.partition_id)
                    .ok_or(Error::UnknownPartition {
                        topic_id: r.topic_id,
                        partition: r.partition_id,
                    })?;
                // As Kafka's PartitionRegistration.merge: a leader change bumps the leader
                // epoch, and every change bumps the partition epoch.
                if let Some(isr) = &r.isr {
                    p.isr = isr.clone();
                }
                if r.leader != NO_LEADER_CHANGE {
                    p.leader = r.leader;
                    p.leader_epoch = p.leader_epoch.saturating_add(1);
                }
                if let Some(replicas) = &r.replicas {
                    p.replicas = replicas.clone();
                }
                if let Some(v) = &r.removing_replicas {
                    p.removing_replicas = v.clone();
                }
                if let Some(v) = &r.adding_replicas {
                    p.adding_replicas = v.clone();
                }
                if r.leader_recovery_state >= 0 {
                    p.leader_recovery_state = r.leader_recovery_state;
                }
                if let Some(d) = &r.directories {
                    p.directories = d.clone();
                }
                p.partition_epoch = p.partition_epoch.saturating_add(1);
            }
            MetadataRecord::RemoveTopic(r) => {
                let topic = self
                    .topics
                    .remove(&r.topic_id)
                    .ok_or(Error::UnknownTopicId(r.topic_id))?;
                self.topic_ids.remove(&topic.name);
                // As Kafka's MetadataDelta: a deleted topic's configs go with it.
                self.configs.remove(&ConfigResource::topic(&topic.name));
            }
            MetadataRecord::Config(r) => {
                let resource = ConfigResource {
                    resource_type: ConfigResourceType::from_code(r.resource_type),
                    name: r.resource_name.clone(),
                };
                match &r.value {
                    Some(v) => {
                        self.configs
                            .entry(resource)
                            .or_default()
                            .insert(r.name.clone(), v.clone());
                    }
                    None => {
                        if let Some(map) = self.configs.get_mut(&resource) {
                            map.remove(&r.name);
                            if map.is_empty() {
                                self.configs.remove(&resource);
                            }
                        }
                    }
                }
            }
            MetadataRecord::FeatureLevel(r) => {
                if r.feature_level == 0 {
                    self.features.remove(&r.name);
                } else {
                    self.features.insert(r.name.clone(), r.feature_level);
                }
            }
            MetadataRecord::ProducerIds(r) => self.next_producer_id = r.next_producer_id,
            _ => {}
        }
        Ok(())
    }

    /// Refuses a record that would leave the image inconsistent, before anything changes.
    fn check(&self, record: &MetadataRecord) -> Result<()> {
        match record {
            MetadataRecord::Topic(r)
                if self.topic_ids.contains_key(&r.name)
                    || self.topics.contains_key(&r.topic_id) =>
            {
                Err(Error::DuplicateTopic {
                    name: r.name.clone(),
                    id: r.topic_id,
                })
            }
            MetadataRecord::Partition(r) if r.partition_id < 0 => {
                Err(Error::InvalidRecord("partition id"))
            }
            MetadataRecord::ProducerIds(r) if r.next_producer_id < self.next_producer_id => {
                Err(Error::InvalidRecord("producer id block going backwards"))
            }
            _ => Ok(()),
        }
    }

    fn broker_mut(&mut self, id: i32, epoch: i64) -> Result<&mut BrokerRegistration> {
        let b = self.brokers.get_mut(&id).ok_or(Error::UnknownBroker(id))?;
        if b.epoch != epoch {
            return Err(Error::BrokerEpochMismatch {
                broker: id,
                current: b.epoch,
                record: epoch,
            });
        }
        Ok(b)
    }

    /// The image as the records of a snapshot: features, brokers, topics with their partitions,
    /// configs, then the producer-id high-water mark.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        for (name, level) in &self.features {
            out.push(
                FeatureLevelRecord::default()
                    .with_name(name.clone())
                    .with_feature_level(*level)
                    .into(),
            );
        }
        for b in self.brokers.values() {
            out.push(b.to_record().into());
        }
        for t in self.topics.values() {
            out.push(
                TopicRecord::default()
                    .with_name(t.name.clone())
                    .with_topic_id(t.id)
                    .into(),
            );
            for (index, p) in &t.partitions {
                out.push(p.to_record(t.id, *index).into());
            }
        }
        for (resource, map) in &self.configs {
            for (name, value) in map {
                out.push(
                    ConfigRecord::default()
                        .with_resource_type(resource.resource_type.code())
                        .with_resource_name(resource.name.clone())
                        .with_name(name.clone())
                        .with_value(Some(value.clone()))
                        .into(),
                );
            }
        }
        if self.next_producer_id > 0 {
            out.push(
                ProducerIdsRecord::default()
                    .with_broker_id(-1)
                    .with_broker_epoch(-1)
                    .with_next_producer_id(self.next_producer_id)
                    .into(),
            );
        }
        out
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// Where in the log the image stands.
    pub fn provenance(&self) -> Provenance {
        self.provenance
    }

    /// Sets where in the log the image stands (after replaying a batch record by record).
    pub fn set_provenance(&mut self, provenance: Provenance) {
        self.provenance = provenance;
    }

    /// Finalized feature levels.
    pub fn features(&self) -> &BTreeMap<String, i16> {
        &self.features
    }

    /// The finalized `metadata.version`, 0 before bootstrap.
    pub fn metadata_version(&self) -> i16 {
        self.features
            .get(METADATA_VERSION_FEATURE)
            .copied()
            .unwrap_or(0)
    }

    /// Every registered broker, by id.
    pub fn brokers(&self) -> &BTreeMap<i32, BrokerRegistration> {
        &self.brokers
    }

    /// One broker.
    pub fn broker(&self, id: i32) -> Option<&BrokerRegistration> {
        self.brokers.get(&id)
    }

    /// Unfenced brokers, by id: the ones clients are told about.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> + '_ {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// The endpoint of each live broker on listener `listener`, by broker id (brokers without
    /// that listener are left out, as Kafka's Metadata response leaves them out).
    pub fn live_endpoints<'a>(
        &'a self,
        listener: &'a str,
    ) -> impl Iterator<Item = (&'a BrokerRegistration, &'a Endpoint)> + 'a {
        self.live_brokers()
            .filter_map(move |b| b.endpoint(listener).map(|e| (b, e)))
    }

    /// Every topic, by id.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> + '_ {
        self.topics.values()
    }

    /// The number of topics.
    pub fn topic_count(&self) -> usize {
        self.topics.len()
    }

    /// A topic by name.
    pub fn topic_by_name(&self, name: &str) -> Option<&TopicImage> {
        self.topic_ids.get(name).and_then(|id| self.topics.get(id))
    }

    /// A topic by id.
    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicImage> {
        self.topics.get(&id)
    }

    /// The partitions of topic `name`.
    pub fn partitions(&self, name: &str) -> Option<&BTreeMap<i32, PartitionRegistration>> {
        self.topic_by_name(name).map(|t| &t.partitions)
    }

    /// One partition.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionRegistration> {
        self.topic_by_name(topic)?.partitions.get(&partition)
    }

    /// Configs set on `resource` (defaults are the broker's to add).
    pub fn configs(&self, resource: &ConfigResource) -> Option<&BTreeMap<String, String>> {
        self.configs.get(resource)
    }

    /// Every resource with configs set.
    pub fn all_configs(&self) -> &BTreeMap<ConfigResource, BTreeMap<String, String>> {
        &self.configs
    }

    /// Configs set on topic `name`.
    pub fn topic_configs(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.configs.get(&ConfigResource::topic(name))
    }

    /// The first producer id of the next block the controller hands out.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    /// Partitions led by `broker`, as (topic id, partition).
    pub fn partitions_led_by(&self, broker: i32) -> impl Iterator<Item = (Uuid, i32)> + '_ {
        self.topics.values().flat_map(move |t| {
            t.partitions
                .iter()
                .filter(move |(_, p)| p.leader == broker)
                .map(move |(i, _)| (t.id, *i))
        })
    }
}

/// PartitionChangeRecord's `Leader` when the leader did not change.
pub const NO_LEADER_CHANGE: i32 = -2;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{
        BrokerRegistrationChangeRecord, FenceBrokerRecord, PartitionChangeRecord,
        RemoveTopicRecord, UnfenceBrokerRecord, UnregisterBrokerRecord,
    };

    fn topic_id() -> Uuid {
        Uuid::from_u64_pair(7, 7)
    }

    fn register(id: i32, epoch: i64) -> MetadataRecord {
        RegisterBrokerRecord::default()
            .with_broker_id(id)
            .with_broker_epoch(epoch)
            .with_incarnation_id(Uuid::from_u64_pair(1, id as u64))
            .with_rack(Some(format!("r{id}")))
            .with_end_points(vec![BrokerEndpoint::default()
                .with_name("PLAINTEXT".into())
                .with_host("h".into())
                .with_port(9000 + id as u16)])
            .with_fenced(true)
            .into()
    }

    fn sample() -> MetadataImage {
        let mut image = MetadataImage::new("c");
        let records: Vec<MetadataRecord> = vec![
            FeatureLevelRecord::default()
                .with_name(METADATA_VERSION_FEATURE.into())
                .with_feature_level(21)
                .into(),
            register(1, 10),
            register(2, 11),
            UnfenceBrokerRecord::default()
                .with_id(1)
                .with_epoch(10)
                .into(),
            BrokerRegistrationChangeRecord::default()
                .with_broker_id(2)
                .with_broker_epoch(11)
                .with_fenced(-1)
                .into(),
            TopicRecord::default()
                .with_name("t".into())
                .with_topic_id(topic_id())
                .into(),
            PartitionRecord::default()
                .with_topic_id(topic_id())
                .with_partition_id(0)
                .with_replicas(vec![1, 2])
                .with_isr(vec![1, 2])
                .with_leader(1)
                .with_leader_epoch(0)
                .with_partition_epoch(0)
                .into(),
            ConfigRecord::default()
                .with_resource_type(2)
                .with_resource_name("t".into())
                .with_name("retention.ms".into())
                .with_value(Some("1".into()))
                .into(),
            ConfigRecord::default()
                .with_resource_type(4)
                .with_resource_name(String::new())
                .with_name("num.io.threads".into())
                .with_value(Some("4".into()))
                .into(),
            ProducerIdsRecord::default()
                .with_broker_id(1)
                .with_broker_epoch(10)
                .with_next_producer_id(1000)
                .into(),
        ];
        image
            .apply_batch(
                Provenance {
                    offset: 5,
                    epoch: 2,
                },
                &records,
            )
            .unwrap();
        image
    }

    #[test]
    fn replay_builds_every_part_of_the_image() {
        let image = sample();
        assert_eq!(image.metadata_version(), 21);
        assert_eq!(
            image.provenance(),
            Provenance {
                offset: 5,
                epoch: 2
            }
        );
        assert_eq!(image.live_brokers().count(), 2);
        let endpoints: Vec<_> = image
            .live_endpoints("PLAINTEXT")
            .map(|(b, e)| (b.id, e.port))
            .collect();
        assert_eq!(endpoints, vec![(1, 9001), (2, 9002)]);
        assert_eq!(image.live_endpoints("SSL").count(), 0);
        assert_eq!(image.topic_by_id(topic_id()).unwrap().name, "t");
        assert_eq!(image.partition("t", 0).unwrap().leader, 1);
        assert_eq!(
            image
                .topic_configs("t")
                .unwrap()
                .get("retention.ms")
                .map(String::as_str),
            Some("1")
        );
        assert!(image.configs(&ConfigResource::cluster_default()).is_some());
        assert_eq!(image.next_producer_id(), 1000);
        assert_eq!(
            image.partitions_led_by(1).collect::<Vec<_>>(),
            vec![(topic_id(), 0)]
        );
    }

    #[test]
    fn partition_changes_bump_epochs_as_kafka() {
        let mut image = sample();
        image
            .apply(
                &PartitionChangeRecord::default()
                    .with_topic_id(topic_id())
                    .with_partition_id(0)
                    .with_isr(Some(vec![2]))
                    .into(),
            )
            .unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (1, 0, 1));
        assert_eq!(p.isr, vec![2]);
        image
            .apply(
                &PartitionChangeRecord::default()
                    .with_topic_id(topic_id())
                    .with_partition_id(0)
                    .with_leader(2)
                    .into(),
            )
            .unwrap();
        let p = image.partition("t", 0).unwrap();
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, 1, 2));
        assert!(matches!(
            image.apply(
                &PartitionChangeRecord::default()
                    .with_topic_id(topic_id())
                    .with_partition_id(9)
                    .into()
            ),
            Err(Error::UnknownPartition { partition: 9, .. })
        ));
    }

    #[test]
    fn fencing_unregistering_and_removing() {
        let mut image = sample();
        image
            .apply(
                &FenceBrokerRecord::default()
                    .with_id(2)
                    .with_epoch(11)
                    .into(),
            )
            .unwrap();
        assert!(image.broker(2).unwrap().fenced);
        assert_eq!(image.live_brokers().count(), 1);
        assert!(matches!(
            image.apply(&FenceBrokerRecord::default().with_id(2).with_epoch(3).into()),
            Err(Error::BrokerEpochMismatch { broker: 2, .. })
        ));
        assert!(matches!(
            image.apply(&UnfenceBrokerRecord::default().with_id(9).into()),
            Err(Error::UnknownBroker(9))
        ));
        image
            .apply(
                &BrokerRegistrationChangeRecord::default()
                    .with_broker_id(1)
                    .with_broker_epoch(10)
                    .with_in_controlled_shutdown(1)
                    .into(),
            )
            .unwrap();
        assert!(image.broker(1).unwrap().in_controlled_shutdown);
        assert!(!image.broker(1).unwrap().is_active());
        image
            .apply(
                &UnregisterBrokerRecord::default()
                    .with_broker_id(2)
                    .with_broker_epoch(11)
                    .into(),
            )
            .unwrap();
        assert!(image.broker(2).is_none());
        image
            .apply(
                &RemoveTopicRecord::default()
                    .with_topic_id(topic_id())
                    .into(),
            )
            .unwrap();
        assert!(image.topic_by_name("t").is_none());
        assert!(image.topic_configs("t").is_none());
        assert!(matches!(
            image.apply(
                &RemoveTopicRecord::default()
                    .with_topic_id(topic_id())
                    .into()
            ),
            Err(Error::UnknownTopicId(_))
        ));
    }

    #[test]
    fn duplicate_topics_and_backward_producer_ids_are_refused() {
        let mut image = sample();
        let dup = TopicRecord::default()
            .with_name("t".into())
            .with_topic_id(Uuid::from_u64_pair(9, 9));
        assert!(matches!(
            image.apply(&dup.into()),
            Err(Error::DuplicateTopic { .. })
        ));
        assert!(image
            .apply(
                &ProducerIdsRecord::default()
                    .with_next_producer_id(10)
                    .into()
            )
            .is_err());
        assert_eq!(image.next_producer_id(), 1000);
    }

    #[test]
    fn a_config_deletion_removes_the_key() {
        let mut image = sample();
        image
            .apply(
                &ConfigRecord::default()
                    .with_resource_type(2)
                    .with_resource_name("t".into())
                    .with_name("retention.ms".into())
                    .with_value(None)
                    .into(),
            )
            .unwrap();
        assert!(image.topic_configs("t").is_none());
    }

    #[test]
    fn snapshots_round_trip_exactly() {
        let image = sample();
        let records = image.to_records();
        let back = MetadataImage::from_records("c", image.provenance(), &records).unwrap();
        assert_eq!(back, image);
        // Through the wire too.
        let bytes = crate::records::encode_batch(&records).unwrap();
        let decoded = crate::records::decode_batch(&bytes).unwrap();
        assert_eq!(
            MetadataImage::from_records("c", image.provenance(), &decoded).unwrap(),
            image
        );
        let empty = MetadataImage::new("c");
        assert!(empty.to_records().is_empty());
    }
}
