//! `KafkaApis`: the broker's request handler and its API table, as Kafka's `KafkaApis.scala`.
//!
//! Each API has its own module and a handler implementing `ApiHandler`: its key, the versions
//! it serves (Kafka 4.1's range) and `handle(context, body, responder)`. [`advertised_apis`]
//! derives what ApiVersions advertises from those handlers, capped at what the codec can encode,
//! and the broker hands it to `SocketServer` and the SASL authenticator as data. The dispatch is
//! an exhaustive `match` on the request body: an API added to the codec does not compile until
//! it is listed here. Handlers that wait (fetch long-poll, rebalances) keep only the responder.

mod alter_configs;
mod api_versions;
mod broker_configs;
mod controller;
mod create_partitions;
mod create_topics;
mod delayed_produce;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod errors;
mod fetch;
mod fetch_purgatory;
mod find_coordinator;
mod groups;
mod incremental_alter_configs;
mod init_producer_id;
mod list_offsets;
mod metadata;
mod not_served;
mod offset_for_leader_epoch;
mod offsets;
mod produce;
mod producer_state;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod topics;

pub(crate) use groups::{offsets_topic_configs, OFFSETS_TOPIC};

use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use kafka_network::AdvertisedApis;
use kafka_protocol::messages::RequestKind;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, RequestHandler, Responder};
use kafka_storage::LogManager;

use crate::cluster::channel::ControllerChannel;
use crate::cluster::{ClusterConfig, MetadataCache, MetadataQuorum};
use crate::config::BrokerConfig;
use crate::metadata::{MetaProperties, Topics};

pub use api_versions::response as api_versions_response;
pub use delayed_produce::ProducePurgatory;
pub use fetch_purgatory::FetchPurgatory;
pub use groups::GroupService;
pub use producer_state::ProducerIdManager;

/// One API the broker serves.
pub(crate) trait ApiHandler {
    /// The request body.
    type Request;
    /// The API.
    const KEY: ApiKey;
    /// The versions served: Apache Kafka 4.1's range. What is advertised is this range capped
    /// at what the codec can encode ([`advertised_apis`]).
    const VERSIONS: VersionRange;
    /// Serves one request; `responder` must be used exactly once, now or later.
    fn handle(
        state: &Arc<BrokerState>,
        context: &RequestContext,
        body: Self::Request,
        responder: Responder,
    );
}

/// `H`'s advertised range: its served versions capped at the codec's.
const fn advertised<H: ApiHandler>() -> (ApiKey, VersionRange) {
    let valid = H::KEY.valid_versions();
    let max = if H::VERSIONS.max < valid.max {
        H::VERSIONS.max
    } else {
        valid.max
    };
    (H::KEY, VersionRange::new(H::VERSIONS.min, max))
}

/// The API table: every advertised handler, in API-key order, with its advertised range.
const TABLE: [(ApiKey, VersionRange); 36] = [
    advertised::<produce::Produce>(),
    advertised::<fetch::Fetch>(),
    advertised::<list_offsets::ListOffsets>(),
    advertised::<metadata::Metadata>(),
    advertised::<groups::offset_commit::OffsetCommit>(),
    advertised::<groups::offset_fetch::OffsetFetch>(),
    advertised::<find_coordinator::FindCoordinator>(),
    advertised::<groups::join_group::JoinGroup>(),
    advertised::<groups::heartbeat::Heartbeat>(),
    advertised::<groups::leave_group::LeaveGroup>(),
    advertised::<groups::sync_group::SyncGroup>(),
    advertised::<groups::describe_groups::DescribeGroups>(),
    advertised::<groups::list_groups::ListGroups>(),
    advertised::<not_served::SaslHandshake>(),
    advertised::<api_versions::ApiVersions>(),
    advertised::<create_topics::CreateTopics>(),
    advertised::<delete_topics::DeleteTopics>(),
    advertised::<delete_records::DeleteRecords>(),
    advertised::<init_producer_id::InitProducerId>(),
    advertised::<offset_for_leader_epoch::OffsetForLeaderEpoch>(),
    advertised::<not_served::AddPartitionsToTxn>(),
    advertised::<not_served::AddOffsetsToTxn>(),
    advertised::<not_served::EndTxn>(),
    advertised::<not_served::TxnOffsetCommit>(),
    advertised::<not_served::DescribeAcls>(),
    advertised::<not_served::CreateAcls>(),
    advertised::<not_served::DeleteAcls>(),
    advertised::<describe_configs::DescribeConfigs>(),
    advertised::<alter_configs::AlterConfigs>(),
    advertised::<not_served::SaslAuthenticate>(),
    advertised::<create_partitions::CreatePartitions>(),
    advertised::<groups::delete_groups::DeleteGroups>(),
    advertised::<incremental_alter_configs::IncrementalAlterConfigs>(),
    advertised::<groups::offset_delete::OffsetDelete>(),
    advertised::<controller::DescribeQuorum>(),
    advertised::<describe_cluster::DescribeCluster>(),
];

/// What the broker advertises in ApiVersions, from its API table; handed to `SocketServer`
/// (which refuses anything else) and to the SASL authenticator.
pub fn advertised_apis() -> &'static AdvertisedApis {
    static APIS: OnceLock<AdvertisedApis> = OnceLock::new();
    APIS.get_or_init(|| AdvertisedApis::new(TABLE))
}

/// What a controller listener serves: the quorum's messages, the brokers' registration and
/// heartbeats, producer-id blocks, DescribeQuorum, and the metadata changes brokers forward
/// (Kafka's `ControllerApis`).
const CONTROLLER_TABLE: [(ApiKey, VersionRange); 13] = [
    advertised::<create_topics::CreateTopics>(),
    advertised::<delete_topics::DeleteTopics>(),
    advertised::<api_versions::ApiVersions>(),
    advertised::<describe_configs::DescribeConfigs>(),
    advertised::<alter_configs::AlterConfigs>(),
    advertised::<create_partitions::CreatePartitions>(),
    advertised::<incremental_alter_configs::IncrementalAlterConfigs>(),
    advertised::<controller::DescribeQuorum>(),
    advertised::<controller::BrokerRegistration>(),
    advertised::<controller::BrokerHeartbeat>(),
    advertised::<controller::UnregisterBroker>(),
    advertised::<controller::AllocateProducerIds>(),
    advertised::<controller::RaftMessage>(),
];

/// What a controller listener advertises (the controller's API table).
pub fn controller_apis() -> &'static AdvertisedApis {
    static APIS: OnceLock<AdvertisedApis> = OnceLock::new();
    APIS.get_or_init(|| AdvertisedApis::new(CONTROLLER_TABLE))
}

/// Serves `body` with its API's handler. Exhaustive on purpose: no catch-all arm.
pub(crate) fn dispatch(
    state: &Arc<BrokerState>,
    context: &RequestContext,
    body: RequestKind,
    responder: Responder,
) {
    use RequestKind as R;
    let (s, c) = (state, context);
    match body {
        R::Produce(r) => produce::Produce::handle(s, c, r, responder),
        R::Fetch(r) => fetch::Fetch::handle(s, c, r, responder),
        R::ListOffsets(r) => list_offsets::ListOffsets::handle(s, c, r, responder),
        R::Metadata(r) => metadata::Metadata::handle(s, c, r, responder),
        R::OffsetCommit(r) => groups::offset_commit::OffsetCommit::handle(s, c, r, responder),
        R::OffsetFetch(r) => groups::offset_fetch::OffsetFetch::handle(s, c, r, responder),
        R::FindCoordinator(r) => {
            find_coordinator::FindCoordinator::handle(s, c, r, responder);
        }
        R::JoinGroup(r) => groups::join_group::JoinGroup::handle(s, c, r, responder),
        R::Heartbeat(r) => groups::heartbeat::Heartbeat::handle(s, c, r, responder),
        R::LeaveGroup(r) => groups::leave_group::LeaveGroup::handle(s, c, r, responder),
        R::SyncGroup(r) => groups::sync_group::SyncGroup::handle(s, c, r, responder),
        R::DescribeGroups(r) => {
            groups::describe_groups::DescribeGroups::handle(s, c, r, responder);
        }
        R::ListGroups(r) => groups::list_groups::ListGroups::handle(s, c, r, responder),
        R::SaslHandshake(r) => not_served::SaslHandshake::handle(s, c, r, responder),
        R::ApiVersions(r) => api_versions::ApiVersions::handle(s, c, r, responder),
        R::CreateTopics(r) => create_topics::CreateTopics::handle(s, c, r, responder),
        R::DeleteTopics(r) => delete_topics::DeleteTopics::handle(s, c, r, responder),
        R::DeleteRecords(r) => delete_records::DeleteRecords::handle(s, c, r, responder),
        R::InitProducerId(r) => init_producer_id::InitProducerId::handle(s, c, r, responder),
        R::OffsetForLeaderEpoch(r) => {
            offset_for_leader_epoch::OffsetForLeaderEpoch::handle(s, c, r, responder);
        }
        // Transactions and ACLs are advertised but not served yet: each answers with the error
        // Kafka gives when the service is unavailable.
        R::AddPartitionsToTxn(r) => not_served::AddPartitionsToTxn::handle(s, c, r, responder),
        R::AddOffsetsToTxn(r) => not_served::AddOffsetsToTxn::handle(s, c, r, responder),
        R::EndTxn(r) => not_served::EndTxn::handle(s, c, r, responder),
        R::TxnOffsetCommit(r) => not_served::TxnOffsetCommit::handle(s, c, r, responder),
        R::DescribeAcls(r) => not_served::DescribeAcls::handle(s, c, r, responder),
        R::CreateAcls(r) => not_served::CreateAcls::handle(s, c, r, responder),
        R::DeleteAcls(r) => not_served::DeleteAcls::handle(s, c, r, responder),
        R::DescribeConfigs(r) => {
            describe_configs::DescribeConfigs::handle(s, c, r, responder);
        }
        R::AlterConfigs(r) => alter_configs::AlterConfigs::handle(s, c, r, responder),
        R::SaslAuthenticate(r) => not_served::SaslAuthenticate::handle(s, c, r, responder),
        R::CreatePartitions(r) => {
            create_partitions::CreatePartitions::handle(s, c, r, responder);
        }
        R::DeleteGroups(r) => groups::delete_groups::DeleteGroups::handle(s, c, r, responder),
        R::IncrementalAlterConfigs(r) => {
            incremental_alter_configs::IncrementalAlterConfigs::handle(s, c, r, responder);
        }
        R::OffsetDelete(r) => groups::offset_delete::OffsetDelete::handle(s, c, r, responder),
        R::DescribeCluster(r) => {
            describe_cluster::DescribeCluster::handle(s, c, r, responder);
        }
        // Controller APIs: only controller listeners advertise them (SocketServer refuses them
        // elsewhere before dispatch).
        R::BrokerRegistration(r) => controller::BrokerRegistration::handle(s, c, r, responder),
        R::BrokerHeartbeat(r) => controller::BrokerHeartbeat::handle(s, c, r, responder),
        R::UnregisterBroker(r) => controller::UnregisterBroker::handle(s, c, r, responder),
        R::DescribeQuorum(r) => controller::DescribeQuorum::handle(s, c, r, responder),
        R::AllocateProducerIds(r) => controller::AllocateProducerIds::handle(s, c, r, responder),
        R::RaftMessage(r) => controller::RaftMessage::handle(s, c, r, responder),
    }
}

/// Milliseconds since the epoch, as Kafka's timestamps.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Where a listener tells clients to connect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Listener name.
    pub listener: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: i32,
}

/// Everything the APIs share.
#[derive(Debug)]
pub struct BrokerState {
    /// Configuration as at start-up (static with the dynamic values of then); what changes
    /// at run time is read from `dynamic`.
    pub config: BrokerConfig,
    /// Dynamic broker configs: the configuration now, and the means to change it.
    pub dynamic: crate::dynamic::DynamicBrokerConfig,
    /// Identity.
    pub meta: MetaProperties,
    /// Topics, as the metadata image has them.
    pub topics: Topics,
    /// The replayed metadata log.
    pub metadata: Arc<MetadataCache>,
    /// This node's voter in the metadata quorum (and the active controller while it leads).
    pub quorum: Arc<MetadataQuorum>,
    /// The way to the active controller, wherever it runs.
    pub(crate) controller: Arc<ControllerChannel>,
    /// This broker's epoch from its registration (-1 until registered).
    pub broker_epoch: Arc<std::sync::atomic::AtomicI64>,
    /// The cluster settings.
    pub cluster: ClusterConfig,
    /// The log.
    pub logs: Arc<LogManager>,
    /// Advertised endpoints per listener, as configured.
    pub configured_endpoints: Vec<Endpoint>,
    /// The same with ports resolved once the listeners are bound (port 0 in tests).
    pub bound_endpoints: std::sync::OnceLock<Vec<Endpoint>>,
    /// Producer ids (the producer state itself is each log's).
    pub producers: ProducerIdManager,
    /// Parked fetches waiting for data.
    pub purgatory: Arc<FetchPurgatory>,
    /// Produce responses waiting for their records to be durable.
    pub delayed_produce: Arc<ProducePurgatory>,
    /// Fetch sessions.
    pub fetch_sessions: fetch::FetchSessionCache,
    /// Consumer groups.
    pub groups: GroupService,
}

impl BrokerState {
    /// The log of `tp` if this broker leads it, with the partition's leader epoch; checks the
    /// client's `current_leader_epoch` (-1: not checked) as Kafka does.
    pub(crate) fn leader_log(
        &self,
        tp: &kafka_storage::TopicPartition,
        current_leader_epoch: i32,
    ) -> Result<(Arc<kafka_storage::Log>, i32), kafka_protocol::ErrorCode> {
        use kafka_protocol::ErrorCode;
        let image = self.metadata.image();
        let Some(partition) = image.partition(&tp.topic, tp.partition) else {
            return Err(ErrorCode::UnknownTopicOrPartition);
        };
        if partition.leader != self.meta.node_id {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if current_leader_epoch >= 0 {
            if current_leader_epoch > partition.leader_epoch {
                return Err(ErrorCode::UnknownLeaderEpoch);
            }
            if current_leader_epoch < partition.leader_epoch {
                return Err(ErrorCode::FencedLeaderEpoch);
            }
        }
        // Led here but not created yet: the publisher is about to; the client retries.
        let log = self
            .logs
            .get_log(tp)
            .ok_or(ErrorCode::NotLeaderOrFollower)?;
        Ok((log, partition.leader_epoch))
    }

    /// The endpoints to advertise.
    pub fn endpoints(&self) -> &[Endpoint] {
        self.bound_endpoints
            .get()
            .unwrap_or(&self.configured_endpoints)
    }
}

/// The request handler.
#[derive(Debug)]
pub struct KafkaApis {
    state: Arc<BrokerState>,
}

impl KafkaApis {
    /// APIs over `state`.
    pub fn new(state: Arc<BrokerState>) -> Self {
        KafkaApis { state }
    }
}

impl RequestHandler for KafkaApis {
    fn handle(&self, context: RequestContext, body: RequestKind, responder: Responder) {
        dispatch(&self.state, &context, body, responder);
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    /// The APIs only a controller listener serves (the quorum's and the brokers' own).
    const CONTROLLER_ONLY: [ApiKey; 5] = [
        ApiKey::BrokerRegistration,
        ApiKey::BrokerHeartbeat,
        ApiKey::UnregisterBroker,
        ApiKey::AllocateProducerIds,
        ApiKey::RaftMessage,
    ];

    #[test]
    fn the_table_lists_every_api_once_within_the_codec() {
        let apis = advertised_apis();
        let controller = controller_apis();
        assert_eq!(
            apis.iter().count(),
            ApiKey::ALL.len() - CONTROLLER_ONLY.len()
        );
        for key in CONTROLLER_ONLY {
            assert!(
                apis.range(key).is_none(),
                "{key:?} is not advertised to clients"
            );
            assert!(
                controller.range(key).is_some(),
                "{key:?} on controller listeners"
            );
        }
        for key in ApiKey::ALL
            .into_iter()
            .filter(|k| !CONTROLLER_ONLY.contains(k))
        {
            let adv = apis.range(key).unwrap_or_else(|| panic!("{key:?} missing"));
            let valid = key.valid_versions();
            assert!(adv.min <= adv.max, "{key:?}");
            assert!(
                valid.contains(adv.min) && valid.contains(adv.max),
                "{key:?} advertises {adv:?} beyond {valid:?}"
            );
        }
        let keys: Vec<i16> = apis.iter().map(|(k, _)| k.id()).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn the_ranges_that_bite_clients() {
        let apis = advertised_apis();
        let r = |k| apis.range(k).unwrap();
        assert_eq!(r(ApiKey::Produce), VersionRange::new(0, 11));
        assert_eq!(r(ApiKey::Fetch), VersionRange::new(4, 17));
        assert_eq!(r(ApiKey::Metadata), VersionRange::new(0, 12));
        assert_eq!(r(ApiKey::ListOffsets), VersionRange::new(1, 10));
        assert_eq!(r(ApiKey::ApiVersions), VersionRange::new(0, 4));
        assert_eq!(r(ApiKey::DescribeCluster), VersionRange::new(0, 1));
        assert_eq!(r(ApiKey::TxnOffsetCommit), VersionRange::new(0, 4));
    }
}
