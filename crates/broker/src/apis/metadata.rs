//! Metadata and DescribeCluster.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    DescribeClusterRequest, DescribeClusterResponse, MetadataRequest, MetadataResponse,
    ResponseKind,
};
use kafka_protocol::ErrorCode;
use kafka_server::RequestContext;

use super::{topics, BrokerState};
use crate::metadata::{validate_topic_name, TopicInfo};

/// Kafka's value for "authorized operations were not requested".
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

fn endpoint_for<'a>(state: &'a BrokerState, listener: &str) -> Option<&'a super::Endpoint> {
    let endpoints = state.endpoints();
    endpoints
        .iter()
        .find(|e| e.listener == listener)
        .or_else(|| endpoints.first())
}

pub(super) fn topic_metadata(
    state: &BrokerState,
    topic: &TopicInfo,
    version: i16,
) -> MetadataResponseTopic {
    let node = state.meta.node_id;
    let partitions = (0..topic.partitions)
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    let _ = version;
    MetadataResponseTopic::default()
        .with_name(Some(topic.name.clone()))
        .with_topic_id(topic.id)
        .with_is_internal(topic.name.starts_with("__"))
        .with_partitions(partitions)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

pub(super) fn metadata(
    state: &BrokerState,
    request: &RequestContext,
    req: &MetadataRequest,
) -> ResponseKind {
    let version = request.api_version;
    let node = state.meta.node_id;
    let brokers = endpoint_for(state, &request.listener)
        .map(|e| {
            vec![MetadataResponseBroker::default()
                .with_node_id(node)
                .with_host(e.host.clone())
                .with_port(e.port)]
        })
        .unwrap_or_default();
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let requested: Option<Vec<(Option<String>, kafka_protocol::Uuid)>> = match &req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(t.iter().map(|t| (t.name.clone(), t.topic_id)).collect()),
    };
    let auto_create = state.config.bool("auto.create.topics.enable")
        && (version < 4 || req.allow_auto_topic_creation);
    let topics = match requested {
        None => state
            .topics
            .all()
            .iter()
            .map(|t| topic_metadata(state, t, version))
            .collect(),
        Some(list) => list
            .into_iter()
            .map(|(name, id)| {
                let found = match &name {
                    Some(n) => state.topics.get(n),
                    None => state.topics.get_by_id(&id),
                };
                match (found, name) {
                    (Some(t), _) => topic_metadata(state, &t, version),
                    (None, Some(n)) => {
                        if let Err(_msg) = validate_topic_name(&n) {
                            return MetadataResponseTopic::default()
                                .with_name(Some(n))
                                .with_error_code(ErrorCode::InvalidTopicException.code());
                        }
                        if auto_create {
                            match topics::create_topic(state, &n, None, Default::default()) {
                                Ok(t) => return topic_metadata(state, &t, version),
                                Err((code, msg)) => {
                                    tracing::info!(topic = %n, ?code, %msg, "auto-creating topic failed");
                                    if code == ErrorCode::TopicAlreadyExists {
                                        if let Some(t) = state.topics.get(&n) {
                                            return topic_metadata(state, &t, version);
                                        }
                                    }
                                }
                            }
                        }
                        MetadataResponseTopic::default()
                            .with_name(Some(n))
                            .with_error_code(ErrorCode::UnknownTopicOrPartition.code())
                    }
                    (None, None) => MetadataResponseTopic::default()
                        .with_topic_id(id)
                        .with_error_code(ErrorCode::UnknownTopicId.code()),
                }
            })
            .collect(),
    };
    ResponseKind::Metadata(
        MetadataResponse::default()
            .with_brokers(brokers)
            .with_cluster_id(Some(state.meta.cluster_id.clone()))
            .with_controller_id(node)
            .with_topics(topics)
            .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED),
    )
}

pub(super) fn describe_cluster(state: &BrokerState, _req: &DescribeClusterRequest) -> ResponseKind {
    let node = state.meta.node_id;
    let brokers = state
        .endpoints()
        .first()
        .map(|e| {
            vec![DescribeClusterBroker::default()
                .with_broker_id(node)
                .with_host(e.host.clone())
                .with_port(e.port)]
        })
        .unwrap_or_default();
    ResponseKind::DescribeCluster(
        DescribeClusterResponse::default()
            .with_cluster_id(state.meta.cluster_id.clone())
            .with_controller_id(node)
            .with_brokers(brokers)
            .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED),
    )
}

/// Serves Metadata.
#[derive(Debug)]
pub(crate) struct Metadata;

impl super::ApiHandler for Metadata {
    type Request = MetadataRequest;
    const KEY: kafka_protocol::ApiKey = kafka_protocol::ApiKey::Metadata;
    const VERSIONS: kafka_protocol::VersionRange = kafka_protocol::VersionRange::new(0, 13);

    fn handle(
        state: &std::sync::Arc<BrokerState>,
        context: &RequestContext,
        body: MetadataRequest,
        responder: kafka_server::Responder,
    ) {
        responder.respond(metadata(state, context, &body));
    }
}
