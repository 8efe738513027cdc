//! The controller's APIs, served on controller listeners (Kafka's `ControllerApis`): the
//! quorum's raft messages, broker registration and heartbeats, producer-id blocks and
//! DescribeQuorum. The first four run on this node's controller, which answers NOT_CONTROLLER
//! unless it is the active one (the sender then asks the leader).

use std::sync::Arc;

use kafka_protocol::messages::describe_quorum_response::{
    Node as QuorumNode, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AllocateProducerIdsResponse, BrokerHeartbeatRequest,
    BrokerHeartbeatResponse, BrokerRegistrationRequest, BrokerRegistrationResponse,
    DescribeQuorumRequest, DescribeQuorumResponse, RaftMessageRequest, RaftMessageResponse,
    RequestKind, ResponseKind, UnregisterBrokerRequest, UnregisterBrokerResponse,
};
use kafka_protocol::{ApiKey, ErrorCode, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};
use crate::cluster::channel::run_locally;

/// Runs a controller request here; an error becomes `error(code)`, the API's answer with it.
fn on_this_controller(
    state: &BrokerState,
    request: RequestKind,
    responder: Responder,
    error: fn(ErrorCode) -> ResponseKind,
) {
    run_locally(
        &state.quorum,
        request,
        Box::new(move |answer| {
            responder.respond(match answer {
                Ok(r) => r,
                Err(code) => error(code),
            })
        }),
    );
}

macro_rules! controller_api {
    ($(#[$doc:meta])* $name:ident, $req:ident, $resp:ident, ($min:expr, $max:expr)) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub(crate) struct $name;

        impl ApiHandler for $name {
            type Request = $req;
            const KEY: ApiKey = ApiKey::$name;
            const VERSIONS: VersionRange = VersionRange::new($min, $max);

            fn handle(
                state: &Arc<BrokerState>,
                _context: &RequestContext,
                body: $req,
                responder: Responder,
            ) {
                on_this_controller(state, RequestKind::$name(body), responder, |code| {
                    ResponseKind::$name($resp::default().with_error_code(code.code()))
                });
            }
        }
    };
}

controller_api!(
    /// BrokerRegistration: a broker (re)joins the cluster.
    BrokerRegistration, BrokerRegistrationRequest, BrokerRegistrationResponse, (0, 4)
);
controller_api!(
    /// BrokerHeartbeat: a broker's liveness, catch-up and controlled shutdown.
    BrokerHeartbeat, BrokerHeartbeatRequest, BrokerHeartbeatResponse, (0, 1)
);
controller_api!(
    /// UnregisterBroker: a broker removed from the cluster for good.
    UnregisterBroker, UnregisterBrokerRequest, UnregisterBrokerResponse, (0, 0)
);
controller_api!(
    /// AllocateProducerIds: a block of producer ids for a broker.
    AllocateProducerIds, AllocateProducerIdsRequest, AllocateProducerIdsResponse, (0, 0)
);

/// RaftMessage: a peer's message for this node's raft (this project's own API).
#[derive(Debug)]
pub(crate) struct RaftMessage;

impl ApiHandler for RaftMessage {
    type Request = RaftMessageRequest;
    const KEY: ApiKey = ApiKey::RaftMessage;
    const VERSIONS: VersionRange = VersionRange::new(0, 0);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: RaftMessageRequest,
        responder: Responder,
    ) {
        let code = if body.cluster_id != state.meta.cluster_id {
            ErrorCode::InconsistentClusterId
        } else {
            match kafka_raft::wire::raft_message_of(&body) {
                // A full inbox drops it; raft resends.
                Ok(message) => {
                    state.quorum.step(message);
                    ErrorCode::None
                }
                Err(e) => {
                    tracing::debug!(error = %e, "an unreadable raft message");
                    ErrorCode::InvalidRequest
                }
            }
        };
        responder.respond(ResponseKind::RaftMessage(
            RaftMessageResponse::default().with_error_code(code.code()),
        ));
    }
}

/// The metadata log's name in DescribeQuorum.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// DescribeQuorum: the metadata quorum's leader, epoch, high watermark and voters.
#[derive(Debug)]
pub(crate) struct DescribeQuorum;

impl ApiHandler for DescribeQuorum {
    type Request = DescribeQuorumRequest;
    const KEY: ApiKey = ApiKey::DescribeQuorum;
    const VERSIONS: VersionRange = VersionRange::new(0, 2);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        _body: DescribeQuorumRequest,
        responder: Responder,
    ) {
        responder.respond(ResponseKind::DescribeQuorum(describe_quorum(state)));
    }
}

pub(crate) fn describe_quorum(state: &BrokerState) -> DescribeQuorumResponse {
    let Some(status) = state.quorum.status() else {
        return DescribeQuorumResponse::default().with_error_code(ErrorCode::NotController.code());
    };
    let tick_ms = kafka_raft::TICK_INTERVAL.as_millis() as i64;
    let now = super::now_ms();
    let voters = status
        .voters
        .iter()
        .map(|v| {
            let last = v
                .ticks_since_contact
                .map_or(-1, |t| now - (t as i64) * tick_ms);
            ReplicaState::default()
                .with_replica_id(i32::try_from(v.id).unwrap_or(-1))
                .with_log_end_offset(v.match_index.map_or(-1, |m| m as i64))
                .with_last_fetch_timestamp(last)
                .with_last_caught_up_timestamp(last)
        })
        .collect();
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(status.leader.map_or(-1, |l| i32::try_from(l).unwrap_or(-1)))
        .with_leader_epoch(i32::try_from(status.term).unwrap_or(i32::MAX))
        .with_high_watermark(status.commit_index as i64)
        .with_current_voters(voters);
    let nodes = state
        .cluster
        .voters
        .iter()
        .filter(|v| !v.host.is_empty())
        .map(|v| {
            QuorumNode::default()
                .with_node_id(i32::try_from(v.id).unwrap_or(-1))
                .with_listeners(vec![
                    kafka_protocol::messages::describe_quorum_response::Listener::default()
                        .with_name(
                            state
                                .cluster
                                .controller_listeners
                                .first()
                                .cloned()
                                .unwrap_or_default(),
                        )
                        .with_host(v.host.clone())
                        .with_port(v.port),
                ])
        })
        .collect();
    DescribeQuorumResponse::default()
        .with_topics(vec![TopicData::default()
            .with_topic_name(METADATA_TOPIC.into())
            .with_partitions(vec![partition])])
        .with_nodes(nodes)
}
