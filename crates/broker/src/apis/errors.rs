//! Error answers: the Kafka error code of each storage error, and the answer to APIs this broker
//! does not serve yet, with the error Kafka gives when the service is unavailable (transaction
//! APIs answer COORDINATOR_NOT_AVAILABLE, ACL APIs SECURITY_DISABLED as with no authorizer, SASL
//! APIs after authentication ILLEGAL_SASL_STATE) instead of closing the connection.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::ErrorCode;

/// The error code a produce, fetch or ListOffsets gets for a storage failure: the storage
/// crate's one mapping ([`kafka_storage::Error::error_code`]).
pub(crate) fn storage_error_code(e: &kafka_storage::Error) -> ErrorCode {
    e.error_code()
}

/// The answer to an API the broker does not serve.
pub(super) fn not_served(body: &RequestKind) -> ResponseKind {
    let coord = ErrorCode::CoordinatorNotAvailable.code();
    match body {
        RequestKind::AddPartitionsToTxn(_) => ResponseKind::AddPartitionsToTxn(
            AddPartitionsToTxnResponse::default().with_error_code(coord),
        ),
        RequestKind::AddOffsetsToTxn(_) => {
            ResponseKind::AddOffsetsToTxn(AddOffsetsToTxnResponse::default().with_error_code(coord))
        }
        RequestKind::EndTxn(_) => ResponseKind::EndTxn(
            EndTxnResponse::default()
                .with_error_code(coord)
                .with_producer_id(-1)
                .with_producer_epoch(-1),
        ),
        RequestKind::TxnOffsetCommit(r) => ResponseKind::TxnOffsetCommit(
            TxnOffsetCommitResponse::default().with_topics(
                r.topics
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
                                            .with_error_code(coord)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        ),
        RequestKind::DescribeAcls(_) => ResponseKind::DescribeAcls(
            DescribeAclsResponse::default()
                .with_error_code(ErrorCode::SecurityDisabled.code())
                .with_error_message(Some("No Authorizer is configured.".into())),
        ),
        RequestKind::CreateAcls(r) => {
            use kafka_protocol::messages::create_acls_response::AclCreationResult;
            ResponseKind::CreateAcls(
                CreateAclsResponse::default().with_results(
                    r.creations
                        .iter()
                        .map(|_| {
                            AclCreationResult::default()
                                .with_error_code(ErrorCode::SecurityDisabled.code())
                                .with_error_message(Some("No Authorizer is configured.".into()))
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::DeleteAcls(r) => {
            use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
            ResponseKind::DeleteAcls(
                DeleteAclsResponse::default().with_filter_results(
                    r.filters
                        .iter()
                        .map(|_| {
                            DeleteAclsFilterResult::default()
                                .with_error_code(ErrorCode::SecurityDisabled.code())
                                .with_error_message(Some("No Authorizer is configured.".into()))
                        })
                        .collect(),
                ),
            )
        }
        RequestKind::SaslHandshake(_) => ResponseKind::SaslHandshake(
            SaslHandshakeResponse::default().with_error_code(ErrorCode::IllegalSaslState.code()),
        ),
        RequestKind::SaslAuthenticate(_) => ResponseKind::SaslAuthenticate(
            SaslAuthenticateResponse::default()
                .with_error_code(ErrorCode::IllegalSaslState.code())
                .with_error_message(Some(
                    "Unexpected SaslAuthenticate request after authentication".into(),
                )),
        ),
        other => {
            // Every served API is dispatched before this point; an API added to the codec
            // but not to the dispatch gets an empty default response of its kind.
            tracing::warn!(api = other.api_key().name(), "no handler for API");
            ResponseKind::ApiVersions(
                ApiVersionsResponse::default()
                    .with_error_code(ErrorCode::UnsupportedVersion.code()),
            )
        }
    }
}
