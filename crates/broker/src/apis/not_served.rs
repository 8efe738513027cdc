//! APIs advertised but not served yet, each answering with the error Kafka gives when the
//! service is unavailable instead of closing the connection: transaction APIs
//! COORDINATOR_NOT_AVAILABLE, ACL APIs SECURITY_DISABLED (as with no authorizer), and the SASL
//! APIs, which only the authenticator serves, ILLEGAL_SASL_STATE once a connection is past it.

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

/// Serves TxnOffsetCommit: no transaction coordinator yet. Partitions that do not exist are
/// answered UNKNOWN_TOPIC_OR_PARTITION first, as Kafka checks its metadata before the
/// coordinator; the others get the coordinator's unavailability.
#[derive(Debug)]
pub(crate) struct TxnOffsetCommit;

impl ApiHandler for TxnOffsetCommit {
    type Request = TxnOffsetCommitRequest;
    const KEY: ApiKey = ApiKey::TxnOffsetCommit;
    const VERSIONS: VersionRange = VersionRange::new(0, 5);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: TxnOffsetCommitRequest,
        responder: Responder,
    ) {
        let topics = body
            .topics
            .iter()
            .map(|t| {
                let count = super::groups::partition_count(state, &t.name);
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                let exists = p.partition_index >= 0 && p.partition_index < count;
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(if exists {
                                        coordinator_not_available()
                                    } else {
                                        ErrorCode::UnknownTopicOrPartition.code()
                                    })
                            })
                            .collect(),
                    )
            })
            .collect();
        responder.respond(ResponseKind::TxnOffsetCommit(
            TxnOffsetCommitResponse::default().with_topics(topics),
        ));
    }
}

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
