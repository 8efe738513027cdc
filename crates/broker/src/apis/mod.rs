//! `KafkaApis`: the broker's `RequestHandler`, one module per API area, as Kafka's
//! `KafkaApis.scala`.

mod delayed_produce;
mod errors;
mod fetch;
mod groups;
mod metadata;
mod offsets;
mod produce;
mod producer_state;
mod topics;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_server::{Request, RequestHandler, ResponseSender};
use kafka_storage::LogManager;

use crate::config::BrokerConfig;
use crate::metadata::{MetaProperties, TopicRegistry};

pub use delayed_produce::ProducePurgatory;
pub use fetch::FetchPurgatory;
pub use groups::GroupService;
pub use producer_state::ProducerIdManager;

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
    /// Configuration.
    pub config: BrokerConfig,
    /// Identity.
    pub meta: MetaProperties,
    /// Topics.
    pub topics: TopicRegistry,
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
    fn handle(&self, request: Request, responses: &ResponseSender) {
        let s = &self.state;
        let body: Option<ResponseKind> = match &request.body {
            RequestKind::ApiVersions(r) => Some(metadata::api_versions(&request, r)),
            RequestKind::Metadata(r) => Some(metadata::metadata(s, &request, r)),
            RequestKind::DescribeCluster(r) => Some(metadata::describe_cluster(s, r)),
            RequestKind::CreateTopics(r) => Some(topics::create_topics(s, &request, r)),
            RequestKind::DeleteTopics(r) => Some(topics::delete_topics(s, r)),
            RequestKind::CreatePartitions(r) => Some(topics::create_partitions(s, r)),
            RequestKind::DeleteRecords(r) => Some(topics::delete_records(s, r)),
            RequestKind::DescribeConfigs(r) => Some(topics::describe_configs(s, &request, r)),
            RequestKind::AlterConfigs(r) => Some(topics::alter_configs(s, r)),
            RequestKind::IncrementalAlterConfigs(r) => {
                Some(topics::incremental_alter_configs(s, r))
            }
            RequestKind::ListOffsets(r) => Some(offsets::list_offsets(s, &request, r)),
            RequestKind::OffsetForLeaderEpoch(r) => Some(offsets::offset_for_leader_epoch(s, r)),
            RequestKind::InitProducerId(r) => Some(produce::init_producer_id(s, r)),
            RequestKind::Produce(_) => {
                produce::produce(s, request, responses);
                return;
            }
            RequestKind::FindCoordinator(r) => Some(groups::find_coordinator(s, &request, r)),
            RequestKind::JoinGroup(_)
            | RequestKind::SyncGroup(_)
            | RequestKind::Heartbeat(_)
            | RequestKind::LeaveGroup(_)
            | RequestKind::DescribeGroups(_)
            | RequestKind::ListGroups(_)
            | RequestKind::DeleteGroups(_)
            | RequestKind::OffsetCommit(_)
            | RequestKind::OffsetFetch(_)
            | RequestKind::OffsetDelete(_) => {
                s.groups.handle(request, responses);
                return;
            }
            RequestKind::Fetch(_) => {
                fetch::fetch(s, request, responses);
                return;
            }
            other => Some(errors::not_served(other)),
        };
        let response = match body {
            Some(b) => request.respond(&b),
            None => return,
        };
        match response {
            Ok(r) => responses.send(r),
            Err(e) => {
                tracing::error!(api = request.api_key.name(), version = request.api_version, error = %e, "encoding the response failed; closing the connection");
                responses.send(request.close_connection());
            }
        }
    }
}
