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

use kafka_metadata::MetadataImage;

use super::{topics, BrokerState};
use crate::metadata::validate_topic_name;

/// Kafka's value for "authorized operations were not requested".
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// The topic's metadata as `image` has it: each partition's leader, epoch, replicas, ISR and
/// the replicas that are offline (fenced or gone); a partition without a leader answers
/// LEADER_NOT_AVAILABLE, as Kafka does.
pub(super) fn topic_metadata(
    image: &MetadataImage,
    topic: &kafka_metadata::TopicImage,
) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|(&p, reg)| {
            let offline: Vec<i32> = reg
                .replicas
                .iter()
                .copied()
                .filter(|r| image.broker(*r).is_none_or(|b| b.fenced))
                .collect();
            let mut out = MetadataResponsePartition::default()
                .with_partition_index(p)
                .with_leader_id(reg.leader)
                .with_leader_epoch(reg.leader_epoch)
                .with_replica_nodes(reg.replicas.clone())
                .with_isr_nodes(reg.isr.clone())
                .with_offline_replicas(offline);
            if reg.leader < 0 {
                out = out.with_error_code(ErrorCode::LeaderNotAvailable.code());
            }
            out
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic.name.clone()))
        .with_topic_id(topic.id)
        .with_is_internal(topic.name == super::OFFSETS_TOPIC)
        .with_partitions(partitions)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

/// The live brokers that have listener `listener`, as (id, host, port, rack).
fn live_brokers(image: &MetadataImage, listener: &str) -> Vec<(i32, String, i32, Option<String>)> {
    image
        .live_brokers()
        .filter_map(|b| {
            let e = b.endpoint(listener)?;
            Some((b.id, e.host.clone(), i32::from(e.port), b.rack.clone()))
        })
        .collect()
}

/// The controller id clients are told: the active controller when it is a live broker
/// (combined nodes), else any live broker, as KRaft brokers answer (clients cannot reach
/// controllers, they only need a broker to send controller-bound requests to).
fn controller_id(state: &BrokerState, image: &MetadataImage) -> i32 {
    let live: Vec<i32> = image.live_brokers().map(|b| b.id).collect();
    match state.quorum.leader() {
        Some(l) if live.contains(&l) => l,
        _ => live.first().copied().unwrap_or(-1),
    }
}

pub(super) fn metadata(
    state: &BrokerState,
    request: &RequestContext,
    req: &MetadataRequest,
) -> ResponseKind {
    let version = request.api_version;
    let mut image = state.metadata.image();
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let requested: Option<Vec<(Option<String>, kafka_protocol::Uuid)>> = match &req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(t.iter().map(|t| (t.name.clone(), t.topic_id)).collect()),
    };
    let auto_create = state.config.bool("auto.create.topics.enable")
        && (version < 4 || req.allow_auto_topic_creation);
    // Auto-creation first (through the controller), then one image for the whole answer.
    let mut failed: Vec<String> = Vec::new();
    if let (true, Some(list)) = (auto_create, &requested) {
        let mut created = false;
        for (name, _) in list {
            let Some(n) = name else { continue };
            if image.topic_by_name(n).is_some() || validate_topic_name(n).is_err() {
                continue;
            }
            match topics::create_topic(state, n, None, Default::default()) {
                Ok(_) => created = true,
                // Made meanwhile by another request: the fresh image has it.
                Err((ErrorCode::TopicAlreadyExists, _)) => created = true,
                Err((code, msg)) => {
                    tracing::info!(topic = %n, ?code, %msg, "auto-creating topic failed");
                    failed.push(n.clone());
                }
            }
        }
        if created {
            image = state.metadata.image();
        }
    }
    let topics = match requested {
        None => image.topics().map(|t| topic_metadata(&image, t)).collect(),
        Some(list) => list
            .into_iter()
            .map(|(name, id)| {
                let found = match &name {
                    Some(n) => image.topic_by_name(n),
                    None => image.topic_by_id(id),
                };
                match (found, name) {
                    (Some(t), _) => topic_metadata(&image, t),
                    (None, Some(n)) => {
                        let code = if validate_topic_name(&n).is_err() {
                            ErrorCode::InvalidTopicException
                        } else if auto_create && !failed.contains(&n) {
                            // Being created: the client asks again.
                            ErrorCode::LeaderNotAvailable
                        } else {
                            ErrorCode::UnknownTopicOrPartition
                        };
                        MetadataResponseTopic::default()
                            .with_name(Some(n))
                            .with_error_code(code.code())
                    }
                    (None, None) => MetadataResponseTopic::default()
                        .with_topic_id(id)
                        .with_error_code(ErrorCode::UnknownTopicId.code()),
                }
            })
            .collect(),
    };
    let brokers = live_brokers(&image, &request.listener)
        .into_iter()
        .map(|(id, host, port, rack)| {
            MetadataResponseBroker::default()
                .with_node_id(id)
                .with_host(host)
                .with_port(port)
                .with_rack(rack)
        })
        .collect();
    ResponseKind::Metadata(
        MetadataResponse::default()
            .with_brokers(brokers)
            .with_cluster_id(Some(state.meta.cluster_id.clone()))
            .with_controller_id(controller_id(state, &image))
            .with_topics(topics)
            .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED),
    )
}

pub(super) fn describe_cluster(
    state: &BrokerState,
    request: &RequestContext,
    _req: &DescribeClusterRequest,
) -> ResponseKind {
    let image = state.metadata.image();
    let brokers = live_brokers(&image, &request.listener)
        .into_iter()
        .map(|(id, host, port, rack)| {
            DescribeClusterBroker::default()
                .with_broker_id(id)
                .with_host(host)
                .with_port(port)
                .with_rack(rack)
        })
        .collect();
    ResponseKind::DescribeCluster(
        DescribeClusterResponse::default()
            .with_cluster_id(state.meta.cluster_id.clone())
            .with_controller_id(controller_id(state, &image))
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
