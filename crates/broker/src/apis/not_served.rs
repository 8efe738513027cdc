//! APIs advertised but not served yet, each answering with the error Kafka gives when the
//! service is unavailable instead of closing the connection: transaction APIs
//! COORDINATOR_NOT_AVAILABLE, ACL APIs SECURITY_DISABLED (as with no authorizer), and the SASL
//! APIs, which only the authenticator serves, ILLEGAL_SASL_STATE once a connection is past it.
//! The controller's APIs (BrokerRegistration, BrokerHeartbeat, UnregisterBroker,
//! DescribeQuorum) are neither advertised nor served, so `SocketServer` refuses them before
//! they get here; their handlers answer NOT_CONTROLLER only so the dispatch stays exhaustive.

use std::sync::Arc;

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest,
    DeleteAclsResponse, DescribeAclsRequest, DescribeAclsResponse, EndTxnRequest, EndTxnResponse,
    ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_protocol::messages::{
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerRegistrationRequest,
    BrokerRegistrationResponse, DescribeQuorumRequest, DescribeQuorumResponse,
    UnregisterBrokerRequest, UnregisterBrokerResponse,
};
use kafka_protocol::{ApiKey, ErrorCode, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};

const NO_AUTHORIZER: &str = "No Authorizer is configured.";

/// Declares a handler answering every request of its API with `answer(body)`.
macro_rules! not_served {
    ($(#[$doc:meta])* $name:ident, $req:ty, ($min:expr, $max:expr), |$body:ident| $answer:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub(crate) struct $name;

        impl ApiHandler for $name {
            type Request = $req;
            const KEY: ApiKey = ApiKey::$name;
            const VERSIONS: VersionRange = VersionRange::new($min, $max);

            fn handle(
                _state: &Arc<BrokerState>,
                _context: &RequestContext,
                $body: $req,
                responder: Responder,
            ) {
                responder.respond(ResponseKind::$name($answer));
            }
        }
    };
}

fn coordinator_not_available() -> i16 {
    ErrorCode::CoordinatorNotAvailable.code()
}

not_served!(
    /// AddPartitionsToTxn: no transaction coordinator yet.
    AddPartitionsToTxn, AddPartitionsToTxnRequest, (0, 5),
    |_body| AddPartitionsToTxnResponse::default().with_error_code(coordinator_not_available())
);

not_served!(
    /// AddOffsetsToTxn: no transaction coordinator yet.
    AddOffsetsToTxn, AddOffsetsToTxnRequest, (0, 4),
    |_body| AddOffsetsToTxnResponse::default().with_error_code(coordinator_not_available())
);

not_served!(
    /// EndTxn: no transaction coordinator yet.
    EndTxn, EndTxnRequest, (0, 5),
    |_body| EndTxnResponse::default()
        .with_error_code(coordinator_not_available())
        .with_producer_id(-1)
        .with_producer_epoch(-1)
);

not_served!(
    /// TxnOffsetCommit: no transaction coordinator yet; every partition gets the error.
    TxnOffsetCommit, TxnOffsetCommitRequest, (0, 5),
    |body| TxnOffsetCommitResponse::default().with_topics(
        body.topics
            .iter()
            .map(|t| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(coordinator_not_available())
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
);

not_served!(
    /// DescribeAcls: no authorizer.
    DescribeAcls, DescribeAclsRequest, (1, 3),
    |_body| DescribeAclsResponse::default()
        .with_error_code(ErrorCode::SecurityDisabled.code())
        .with_error_message(Some(NO_AUTHORIZER.into()))
);

not_served!(
    /// CreateAcls: no authorizer; every creation gets the error.
    CreateAcls, CreateAclsRequest, (1, 3),
    |body| CreateAclsResponse::default().with_results(
        body.creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(ErrorCode::SecurityDisabled.code())
                    .with_error_message(Some(NO_AUTHORIZER.into()))
            })
            .collect(),
    )
);

not_served!(
    /// DeleteAcls: no authorizer; every filter gets the error.
    DeleteAcls, DeleteAclsRequest, (1, 3),
    |body| DeleteAclsResponse::default().with_filter_results(
        body.filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(ErrorCode::SecurityDisabled.code())
                    .with_error_message(Some(NO_AUTHORIZER.into()))
            })
            .collect(),
    )
);

not_served!(
    /// SaslHandshake after authentication (or on a listener without SASL).
    SaslHandshake, SaslHandshakeRequest, (0, 1),
    |_body| SaslHandshakeResponse::default().with_error_code(ErrorCode::IllegalSaslState.code())
);

not_served!(
    /// SaslAuthenticate after authentication (or on a listener without SASL).
    SaslAuthenticate, SaslAuthenticateRequest, (0, 2),
    |_body| SaslAuthenticateResponse::default()
        .with_error_code(ErrorCode::IllegalSaslState.code())
        .with_error_message(Some(
            "Unexpected SaslAuthenticate request after authentication".into(),
        ))
);

fn not_controller() -> i16 {
    ErrorCode::NotController.code()
}

not_served!(
    /// BrokerRegistration: a controller API, not advertised by the broker.
    BrokerRegistration, BrokerRegistrationRequest, (0, 4),
    |_body| BrokerRegistrationResponse::default().with_error_code(not_controller())
);

not_served!(
    /// BrokerHeartbeat: a controller API, not advertised by the broker.
    BrokerHeartbeat, BrokerHeartbeatRequest, (0, 1),
    |_body| BrokerHeartbeatResponse::default().with_error_code(not_controller())
);

not_served!(
    /// UnregisterBroker: a controller API, not advertised by the broker.
    UnregisterBroker, UnregisterBrokerRequest, (0, 0),
    |_body| UnregisterBrokerResponse::default().with_error_code(not_controller())
);

not_served!(
    /// DescribeQuorum: the quorum's API, not advertised by the broker.
    DescribeQuorum, DescribeQuorumRequest, (0, 2),
    |_body| DescribeQuorumResponse::default().with_error_code(not_controller())
);
