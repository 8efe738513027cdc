//! Kafka's wire error codes.
//!
//! Every Kafka response carries one or more `error_code` fields: an `i16` from the table that
//! Apache Kafka keeps in `org.apache.kafka.common.protocol.Errors`. [`ErrorCode`] is that table
//! as a Rust enum, complete up to Apache Kafka 4.1 (the highest code is
//! `SHARE_SESSION_LIMIT_REACHED`, 133).
//!
//! This is a different thing from [`crate::Error`]: that type says why *we* could not decode or
//! encode some bytes, while an [`ErrorCode`] is a value that travels inside a well-formed message
//! and says why the broker refused (or partly refused) a request.
//!
//! A code that is not in the table (a newer broker, or a peer that makes codes up) decodes to
//! [`ErrorCode::Unknown`], which keeps the raw value, so it is sent on unchanged.
//!
//! ```
//! use kafka_protocol::ErrorCode;
//!
//! let code = ErrorCode::from_code(6);
//! assert_eq!(code, ErrorCode::NotLeaderOrFollower);
//! assert_eq!(code.name(), "NOT_LEADER_OR_FOLLOWER");
//! assert!(code.is_retriable());
//! assert_eq!(ErrorCode::from_code(9999), ErrorCode::Unknown(9999));
//! assert_eq!(ErrorCode::from_code(9999).code(), 9999);
//! ```

use std::fmt;

/// Generates [`ErrorCode`] and its lookups from one table, so each code is written once.
///
/// Each row is `(Variant, code, "KAFKA_NAME", retriable, "message")`, optionally preceded by
/// attributes for the variant (`#[default]` marks `None`). `retriable` is `true` when
/// Kafka's exception for the code extends `RetriableException` (this includes the
/// `InvalidMetadataException` family).
macro_rules! error_codes {
    ($(
        $(#[$meta:meta])*
        ($variant:ident, $code:literal, $name:literal, $retriable:literal, $msg:literal)
    ),* $(,)?) => {
        /// One of Kafka's wire error codes (see the [module docs](self)).
        ///
        /// Build one from the wire with [`ErrorCode::from_code`] (or `From<i16>`), which never
        /// fails: a code not in the table becomes [`ErrorCode::Unknown`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $name, "` (", stringify!($code), "): ", $msg)]
                $(#[$meta])*
                $variant,
            )*
            /// A code that is not in this table. It keeps the raw value so that it round-trips.
            ///
            /// [`ErrorCode::from_code`] only produces it for codes the table does not define;
            /// building `Unknown` with a known code by hand gives a value that is not equal to the
            /// named variant.
            Unknown(i16),
        }

        impl ErrorCode {
            /// Every named code in the table, in code order (`Unknown` is not included).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The `i16` that goes on the wire.
            #[must_use]
            pub const fn code(self) -> i16 {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// The code for a wire value. Total: a value not in the table gives
            /// [`ErrorCode::Unknown`] with that value.
            #[must_use]
            pub const fn from_code(code: i16) -> ErrorCode {
                match code {
                    $($code => ErrorCode::$variant,)*
                    other => ErrorCode::Unknown(other),
                }
            }

            /// Kafka's name for the code, e.g. `"UNKNOWN_TOPIC_OR_PARTITION"`.
            ///
            /// [`ErrorCode::Unknown`] gives `"UNKNOWN_ERROR_CODE"` (not a Kafka name).
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Unknown(_) => "UNKNOWN_ERROR_CODE",
                }
            }

            /// A short description of the code (Kafka's default message, sometimes shortened).
            #[must_use]
            pub const fn message(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $msg,)*
                    ErrorCode::Unknown(_) => "The error code is not one this implementation knows.",
                }
            }

            /// Whether Kafka's clients treat the code as retriable (its exception extends
            /// `RetriableException`). [`ErrorCode::Unknown`] is not retriable: Kafka's clients
            /// read an unknown code as `UNKNOWN_SERVER_ERROR`.
            #[must_use]
            pub const fn is_retriable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retriable,)*
                    ErrorCode::Unknown(_) => false,
                }
            }
        }
    };
}

error_codes! {
    (UnknownServerError, -1, "UNKNOWN_SERVER_ERROR", false,
        "The server experienced an unexpected error when processing the request."),
    #[default]
    (None, 0, "NONE", false, "No error. This is the `Default`."),
    (OffsetOutOfRange, 1, "OFFSET_OUT_OF_RANGE", false,
        "The requested offset is not within the range of offsets maintained by the server."),
    (CorruptMessage, 2, "CORRUPT_MESSAGE", true,
        "The message failed its CRC check, exceeds the valid size, has a null key for a compacted \
         topic, or is otherwise corrupt."),
    (UnknownTopicOrPartition, 3, "UNKNOWN_TOPIC_OR_PARTITION", true,
        "This server does not host this topic-partition."),
    (InvalidFetchSize, 4, "INVALID_FETCH_SIZE", false, "The requested fetch size is invalid."),
    (LeaderNotAvailable, 5, "LEADER_NOT_AVAILABLE", true,
        "There is no leader for this topic-partition: a leadership election is in progress."),
    (NotLeaderOrFollower, 6, "NOT_LEADER_OR_FOLLOWER", true,
        "This broker is not the leader of the topic-partition (or, for requests to any replica, \
         not a replica of it)."),
    (RequestTimedOut, 7, "REQUEST_TIMED_OUT", true, "The request timed out."),
    (BrokerNotAvailable, 8, "BROKER_NOT_AVAILABLE", false, "The broker is not available."),
    (ReplicaNotAvailable, 9, "REPLICA_NOT_AVAILABLE", true,
        "The replica is not available for the requested topic-partition."),
    (MessageTooLarge, 10, "MESSAGE_TOO_LARGE", false,
        "The request included a message larger than the max message size the server will accept."),
    (StaleControllerEpoch, 11, "STALE_CONTROLLER_EPOCH", false,
        "The controller moved to another broker."),
    (OffsetMetadataTooLarge, 12, "OFFSET_METADATA_TOO_LARGE", false,
        "The metadata field of the offset request was too large."),
    (NetworkException, 13, "NETWORK_EXCEPTION", true,
        "The server disconnected before a response was received."),
    (CoordinatorLoadInProgress, 14, "COORDINATOR_LOAD_IN_PROGRESS", true,
        "The coordinator is loading and hence can't process requests."),
    (CoordinatorNotAvailable, 15, "COORDINATOR_NOT_AVAILABLE", true,
        "The coordinator is not available."),
    (NotCoordinator, 16, "NOT_COORDINATOR", true, "This is not the correct coordinator."),
    (InvalidTopicException, 17, "INVALID_TOPIC_EXCEPTION", false,
        "The request attempted to perform an operation on an invalid topic."),
    (RecordListTooLarge, 18, "RECORD_LIST_TOO_LARGE", false,
        "The request included a message batch larger than the configured segment size on the \
         server."),
    (NotEnoughReplicas, 19, "NOT_ENOUGH_REPLICAS", true,
        "Messages are rejected since there are fewer in-sync replicas than required."),
    (NotEnoughReplicasAfterAppend, 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true,
        "Messages are written to the log, but to fewer in-sync replicas than required."),
    (InvalidRequiredAcks, 21, "INVALID_REQUIRED_ACKS", false,
        "Produce request specified an invalid value for required acks."),
    (IllegalGeneration, 22, "ILLEGAL_GENERATION", false,
        "Specified group generation id is not valid."),
    (InconsistentGroupProtocol, 23, "INCONSISTENT_GROUP_PROTOCOL", false,
        "The member's protocols are incompatible with those of existing members, or its protocol \
         type or list is empty."),
    (InvalidGroupId, 24, "INVALID_GROUP_ID", false, "The group id is invalid."),
    (UnknownMemberId, 25, "UNKNOWN_MEMBER_ID", false,
        "The coordinator is not aware of this member."),
    (InvalidSessionTimeout, 26, "INVALID_SESSION_TIMEOUT", false,
        "The session timeout is not within the range allowed by the broker."),
    (RebalanceInProgress, 27, "REBALANCE_IN_PROGRESS", false,
        "The group is rebalancing, so a rejoin is needed."),
    (InvalidCommitOffsetSize, 28, "INVALID_COMMIT_OFFSET_SIZE", false,
        "The committing offset data size is not valid."),
    (TopicAuthorizationFailed, 29, "TOPIC_AUTHORIZATION_FAILED", false,
        "Topic authorization failed."),
    (GroupAuthorizationFailed, 30, "GROUP_AUTHORIZATION_FAILED", false,
        "Group authorization failed."),
    (ClusterAuthorizationFailed, 31, "CLUSTER_AUTHORIZATION_FAILED", false,
        "Cluster authorization failed."),
    (InvalidTimestamp, 32, "INVALID_TIMESTAMP", false,
        "The timestamp of the message is out of acceptable range."),
    (UnsupportedSaslMechanism, 33, "UNSUPPORTED_SASL_MECHANISM", false,
        "The broker does not support the requested SASL mechanism."),
    (IllegalSaslState, 34, "ILLEGAL_SASL_STATE", false,
        "Request is not valid given the current SASL state."),
    (UnsupportedVersion, 35, "UNSUPPORTED_VERSION", false, "The version of API is not supported."),
    (TopicAlreadyExists, 36, "TOPIC_ALREADY_EXISTS", false, "Topic with this name already exists."),
    (InvalidPartitions, 37, "INVALID_PARTITIONS", false, "Number of partitions is below 1."),
    (InvalidReplicationFactor, 38, "INVALID_REPLICATION_FACTOR", false,
        "Replication factor is below 1 or larger than the number of available brokers."),
    (InvalidReplicaAssignment, 39, "INVALID_REPLICA_ASSIGNMENT", false,
        "Replica assignment is invalid."),
    (InvalidConfig, 40, "INVALID_CONFIG", false, "Configuration is invalid."),
    (NotController, 41, "NOT_CONTROLLER", true,
        "This is not the correct controller for this cluster."),
    (InvalidRequest, 42, "INVALID_REQUEST", false,
        "The request was malformed or sent to an incompatible broker; see the broker logs."),
    (UnsupportedForMessageFormat, 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false,
        "The message format version on the broker does not support the request."),
    (PolicyViolation, 44, "POLICY_VIOLATION", false,
        "Request parameters do not satisfy the configured policy."),
    (OutOfOrderSequenceNumber, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false,
        "The broker received an out of order sequence number."),
    (DuplicateSequenceNumber, 46, "DUPLICATE_SEQUENCE_NUMBER", false,
        "The broker received a duplicate sequence number."),
    (InvalidProducerEpoch, 47, "INVALID_PRODUCER_EPOCH", false,
        "Producer attempted to produce with an old epoch."),
    (InvalidTxnState, 48, "INVALID_TXN_STATE", false,
        "The producer attempted a transactional operation in an invalid state."),
    (InvalidProducerIdMapping, 49, "INVALID_PRODUCER_ID_MAPPING", false,
        "The producer id is not currently assigned to the producer's transactional id."),
    (InvalidTransactionTimeout, 50, "INVALID_TRANSACTION_TIMEOUT", false,
        "The transaction timeout is larger than the broker's transaction.max.timeout.ms."),
    (ConcurrentTransactions, 51, "CONCURRENT_TRANSACTIONS", true,
        "Another operation on the same transaction is still in progress."),
    (TransactionCoordinatorFenced, 52, "TRANSACTION_COORDINATOR_FENCED", false,
        "The transaction coordinator sending a WriteTxnMarker is no longer the current coordinator \
         for the producer."),
    (TransactionalIdAuthorizationFailed, 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false,
        "Transactional Id authorization failed."),
    (SecurityDisabled, 54, "SECURITY_DISABLED", false, "Security features are disabled."),
    (OperationNotAttempted, 55, "OPERATION_NOT_ATTEMPTED", false,
        "The broker did not attempt this operation because another operation in the batch failed."),
    (KafkaStorageError, 56, "KAFKA_STORAGE_ERROR", true,
        "Disk error when trying to access log file on the disk."),
    (LogDirNotFound, 57, "LOG_DIR_NOT_FOUND", false,
        "The user-specified log directory is not found in the broker config."),
    (SaslAuthenticationFailed, 58, "SASL_AUTHENTICATION_FAILED", false,
        "SASL Authentication failed."),
    (UnknownProducerId, 59, "UNKNOWN_PRODUCER_ID", false,
        "The broker could not locate the producer metadata for this producer id."),
    (ReassignmentInProgress, 60, "REASSIGNMENT_IN_PROGRESS", false,
        "A partition reassignment is in progress."),
    (DelegationTokenAuthDisabled, 61, "DELEGATION_TOKEN_AUTH_DISABLED", false,
        "Delegation Token feature is not enabled."),
    (DelegationTokenNotFound, 62, "DELEGATION_TOKEN_NOT_FOUND", false,
        "Delegation Token is not found on server."),
    (DelegationTokenOwnerMismatch, 63, "DELEGATION_TOKEN_OWNER_MISMATCH", false,
        "Specified Principal is not valid Owner/Renewer."),
    (DelegationTokenRequestNotAllowed, 64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", false,
        "Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels or on \
         delegation-token-authenticated channels."),
    (DelegationTokenAuthorizationFailed, 65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", false,
        "Delegation Token authorization failed."),
    (DelegationTokenExpired, 66, "DELEGATION_TOKEN_EXPIRED", false, "Delegation Token is expired."),
    (InvalidPrincipalType, 67, "INVALID_PRINCIPAL_TYPE", false,
        "Supplied principalType is not supported."),
    (NonEmptyGroup, 68, "NON_EMPTY_GROUP", false, "The group is not empty."),
    (GroupIdNotFound, 69, "GROUP_ID_NOT_FOUND", false, "The group id does not exist."),
    (FetchSessionIdNotFound, 70, "FETCH_SESSION_ID_NOT_FOUND", true,
        "The fetch session ID was not found."),
    (InvalidFetchSessionEpoch, 71, "INVALID_FETCH_SESSION_EPOCH", true,
        "The fetch session epoch is invalid."),
    (ListenerNotFound, 72, "LISTENER_NOT_FOUND", true,
        "The leader broker has no listener matching the one the metadata request was processed on."),
    (TopicDeletionDisabled, 73, "TOPIC_DELETION_DISABLED", false, "Topic deletion is disabled."),
    (FencedLeaderEpoch, 74, "FENCED_LEADER_EPOCH", true,
        "The leader epoch in the request is older than the epoch on the broker."),
    (UnknownLeaderEpoch, 75, "UNKNOWN_LEADER_EPOCH", true,
        "The leader epoch in the request is newer than the epoch on the broker."),
    (UnsupportedCompressionType, 76, "UNSUPPORTED_COMPRESSION_TYPE", false,
        "The requesting client does not support the compression type of the partition."),
    (StaleBrokerEpoch, 77, "STALE_BROKER_EPOCH", false, "Broker epoch has changed."),
    (OffsetNotAvailable, 78, "OFFSET_NOT_AVAILABLE", true,
        "The leader high watermark has not caught up after a recent leader election, so offsets \
         cannot be guaranteed to be monotonically increasing."),
    (MemberIdRequired, 79, "MEMBER_ID_REQUIRED", false,
        "The group member needs a valid member id before entering a consumer group."),
    (PreferredLeaderNotAvailable, 80, "PREFERRED_LEADER_NOT_AVAILABLE", true,
        "The preferred leader was not available."),
    (GroupMaxSizeReached, 81, "GROUP_MAX_SIZE_REACHED", false,
        "The group has reached its maximum size."),
    (FencedInstanceId, 82, "FENCED_INSTANCE_ID", false,
        "Another consumer with the same group.instance.id has registered with a different \
         member.id."),
    (EligibleLeadersNotAvailable, 83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", true,
        "Eligible topic partition leaders are not available."),
    (ElectionNotNeeded, 84, "ELECTION_NOT_NEEDED", true,
        "Leader election not needed for topic partition."),
    (NoReassignmentInProgress, 85, "NO_REASSIGNMENT_IN_PROGRESS", false,
        "No partition reassignment is in progress."),
    (GroupSubscribedToTopic, 86, "GROUP_SUBSCRIBED_TO_TOPIC", false,
        "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed \
         to it."),
    (InvalidRecord, 87, "INVALID_RECORD", false,
        "This record has failed the validation on the broker and is rejected."),
    (UnstableOffsetCommit, 88, "UNSTABLE_OFFSET_COMMIT", true,
        "There are unstable offsets that need to be cleared."),
    (ThrottlingQuotaExceeded, 89, "THROTTLING_QUOTA_EXCEEDED", true,
        "The throttling quota has been exceeded."),
    (ProducerFenced, 90, "PRODUCER_FENCED", false,
        "A newer producer with the same transactionalId fences the current one."),
    (ResourceNotFound, 91, "RESOURCE_NOT_FOUND", false,
        "A request referred to a resource that does not exist."),
    (DuplicateResource, 92, "DUPLICATE_RESOURCE", false,
        "A request referred to the same resource twice."),
    (UnacceptableCredential, 93, "UNACCEPTABLE_CREDENTIAL", false,
        "Requested credential would not meet criteria for acceptability."),
    (InconsistentVoterSet, 94, "INCONSISTENT_VOTER_SET", false,
        "The sender or recipient of a voter-only request is not one of the expected voters."),
    (InvalidUpdateVersion, 95, "INVALID_UPDATE_VERSION", false,
        "The given update version was invalid."),
    (FeatureUpdateFailed, 96, "FEATURE_UPDATE_FAILED", false,
        "Unable to update finalized features due to an unexpected server error."),
    (PrincipalDeserializationFailure, 97, "PRINCIPAL_DESERIALIZATION_FAILURE", false,
        "Request principal deserialization failed during forwarding."),
    (SnapshotNotFound, 98, "SNAPSHOT_NOT_FOUND", false, "Requested snapshot was not found."),
    (PositionOutOfRange, 99, "POSITION_OUT_OF_RANGE", false,
        "Requested position is negative or not less than the size of the snapshot."),
    (UnknownTopicId, 100, "UNKNOWN_TOPIC_ID", true, "This server does not host this topic ID."),
    (DuplicateBrokerRegistration, 101, "DUPLICATE_BROKER_REGISTRATION", false,
        "This broker ID is already in use."),
    (BrokerIdNotRegistered, 102, "BROKER_ID_NOT_REGISTERED", false,
        "The given broker ID was not registered."),
    (InconsistentTopicId, 103, "INCONSISTENT_TOPIC_ID", true,
        "The log's topic ID did not match the topic ID in the request."),
    (InconsistentClusterId, 104, "INCONSISTENT_CLUSTER_ID", false,
        "The clusterId in the request does not match that found on the server."),
    (TransactionalIdNotFound, 105, "TRANSACTIONAL_ID_NOT_FOUND", false,
        "The transactionalId could not be found."),
    (FetchSessionTopicIdError, 106, "FETCH_SESSION_TOPIC_ID_ERROR", true,
        "The fetch session encountered inconsistent topic ID usage."),
    (IneligibleReplica, 107, "INELIGIBLE_REPLICA", false,
        "The new ISR contains at least one ineligible replica."),
    (NewLeaderElected, 108, "NEW_LEADER_ELECTED", false,
        "The AlterPartition request updated the partition state but the leader has changed."),
    (OffsetMovedToTieredStorage, 109, "OFFSET_MOVED_TO_TIERED_STORAGE", false,
        "The requested offset is moved to tiered storage."),
    (FencedMemberEpoch, 110, "FENCED_MEMBER_EPOCH", false,
        "The member epoch is fenced by the group coordinator; the member must abandon its \
         partitions and rejoin."),
    (UnreleasedInstanceId, 111, "UNRELEASED_INSTANCE_ID", false,
        "The instance ID is still used by another member of the group, which must leave first."),
    (UnsupportedAssignor, 112, "UNSUPPORTED_ASSIGNOR", false,
        "The assignor or its version range is not supported by the consumer group."),
    (StaleMemberEpoch, 113, "STALE_MEMBER_EPOCH", false,
        "The member epoch is stale; the member must retry after receiving its updated epoch."),
    (MismatchedEndpointType, 114, "MISMATCHED_ENDPOINT_TYPE", false,
        "The request was sent to an endpoint of the wrong type."),
    (UnsupportedEndpointType, 115, "UNSUPPORTED_ENDPOINT_TYPE", false,
        "This endpoint type is not supported yet."),
    (UnknownControllerId, 116, "UNKNOWN_CONTROLLER_ID", false, "This controller ID is not known."),
    (UnknownSubscriptionId, 117, "UNKNOWN_SUBSCRIPTION_ID", false,
        "The push telemetry request has an invalid or outdated subscription ID."),
    (TelemetryTooLarge, 118, "TELEMETRY_TOO_LARGE", false,
        "The push telemetry request is larger than the maximum size the broker will accept."),
    (InvalidRegistration, 119, "INVALID_REGISTRATION", false,
        "The controller has considered the broker registration to be invalid."),
    (TransactionAbortable, 120, "TRANSACTION_ABORTABLE", false,
        "The transaction hit an error; the client can abort it to keep using the transactional ID."),
    (InvalidRecordState, 121, "INVALID_RECORD_STATE", false,
        "The record state is invalid; the acknowledgement of delivery could not be completed."),
    (ShareSessionNotFound, 122, "SHARE_SESSION_NOT_FOUND", true,
        "The share session was not found."),
    (InvalidShareSessionEpoch, 123, "INVALID_SHARE_SESSION_EPOCH", true,
        "The share session epoch is invalid."),
    (FencedStateEpoch, 124, "FENCED_STATE_EPOCH", false,
        "The share coordinator rejected the request because the share-group state epoch did not \
         match."),
    (InvalidVoterKey, 125, "INVALID_VOTER_KEY", false,
        "The voter key doesn't match the receiving replica's key."),
    (DuplicateVoter, 126, "DUPLICATE_VOTER", false,
        "The voter is already part of the set of voters."),
    (VoterNotFound, 127, "VOTER_NOT_FOUND", false, "The voter is not part of the set of voters."),
    (InvalidRegularExpression, 128, "INVALID_REGULAR_EXPRESSION", false,
        "The regular expression is not valid."),
    (RebootstrapRequired, 129, "REBOOTSTRAP_REQUIRED", false,
        "Client metadata is stale; the client should rebootstrap to obtain new metadata."),
    (StreamsInvalidTopology, 130, "STREAMS_INVALID_TOPOLOGY", false,
        "The supplied topology is invalid."),
    (StreamsInvalidTopologyEpoch, 131, "STREAMS_INVALID_TOPOLOGY_EPOCH", false,
        "The supplied topology epoch is invalid."),
    (StreamsTopologyFenced, 132, "STREAMS_TOPOLOGY_FENCED", false,
        "The supplied topology epoch is outdated."),
    (ShareSessionLimitReached, 133, "SHARE_SESSION_LIMIT_REACHED", true,
        "The limit of share sessions has been reached."),
}

impl ErrorCode {
    /// Whether this is an error, i.e. anything but [`ErrorCode::None`].
    #[must_use]
    pub const fn is_error(self) -> bool {
        !matches!(self, ErrorCode::None)
    }

    /// Whether the code is in the table (not [`ErrorCode::Unknown`]).
    #[must_use]
    pub const fn is_known(self) -> bool {
        !matches!(self, ErrorCode::Unknown(_))
    }
}

impl fmt::Display for ErrorCode {
    /// Kafka's name, e.g. `UNKNOWN_TOPIC_OR_PARTITION`; an unknown code shows its value too,
    /// e.g. `UNKNOWN_ERROR_CODE(999)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Unknown(code) => write!(f, "{}({code})", self.name()),
            _ => f.write_str(self.name()),
        }
    }
}

impl From<ErrorCode> for i16 {
    fn from(code: ErrorCode) -> i16 {
        code.code()
    }
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> ErrorCode {
        ErrorCode::from_code(code)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::ErrorCode;

    #[test]
    fn every_code_round_trips() {
        for &error in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(error.code()), error, "{error:?}");
            assert_eq!(ErrorCode::from(i16::from(error)), error, "{error:?}");
            assert!(error.is_known());
        }
    }

    #[test]
    fn codes_and_names_are_unique() {
        let codes: HashSet<i16> = ErrorCode::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        let names: HashSet<&str> = ErrorCode::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn table_is_contiguous_from_minus_one_to_highest() {
        let highest = ErrorCode::ShareSessionLimitReached.code();
        assert_eq!(highest, 133);
        for code in -1..=highest {
            assert!(ErrorCode::from_code(code).is_known(), "code {code} missing");
        }
        assert_eq!(
            ErrorCode::ALL.len(),
            usize::try_from(highest + 2).unwrap_or(0)
        );
        assert!(ErrorCode::ALL.windows(2).all(|w| w[0].code() < w[1].code()));
    }

    #[test]
    fn names_match_variants_in_upper_snake_case() {
        for &error in ErrorCode::ALL {
            let camel: String = error
                .name()
                .split('_')
                .map(|word| {
                    let lower = word.to_ascii_lowercase();
                    let mut chars = lower.chars();
                    chars.next().map_or_else(String::new, |first| {
                        first.to_ascii_uppercase().to_string() + chars.as_str()
                    })
                })
                .collect();
            assert_eq!(format!("{error:?}"), camel);
            assert!(!error.message().is_empty());
        }
    }

    #[test]
    fn spot_checks() {
        let cases = [
            (ErrorCode::UnknownServerError, -1, "UNKNOWN_SERVER_ERROR"),
            (ErrorCode::None, 0, "NONE"),
            (
                ErrorCode::UnknownTopicOrPartition,
                3,
                "UNKNOWN_TOPIC_OR_PARTITION",
            ),
            (ErrorCode::NotLeaderOrFollower, 6, "NOT_LEADER_OR_FOLLOWER"),
            (
                ErrorCode::CoordinatorLoadInProgress,
                14,
                "COORDINATOR_LOAD_IN_PROGRESS",
            ),
            (ErrorCode::RebalanceInProgress, 27, "REBALANCE_IN_PROGRESS"),
            (
                ErrorCode::UnsupportedSaslMechanism,
                33,
                "UNSUPPORTED_SASL_MECHANISM",
            ),
            (ErrorCode::IllegalSaslState, 34, "ILLEGAL_SASL_STATE"),
            (ErrorCode::UnsupportedVersion, 35, "UNSUPPORTED_VERSION"),
            (
                ErrorCode::SaslAuthenticationFailed,
                58,
                "SASL_AUTHENTICATION_FAILED",
            ),
            (ErrorCode::FencedInstanceId, 82, "FENCED_INSTANCE_ID"),
            (ErrorCode::UnknownTopicId, 100, "UNKNOWN_TOPIC_ID"),
            (ErrorCode::InconsistentTopicId, 103, "INCONSISTENT_TOPIC_ID"),
            (ErrorCode::InvalidRecordState, 121, "INVALID_RECORD_STATE"),
            (
                ErrorCode::ShareSessionNotFound,
                122,
                "SHARE_SESSION_NOT_FOUND",
            ),
            (
                ErrorCode::InvalidRegularExpression,
                128,
                "INVALID_REGULAR_EXPRESSION",
            ),
            (ErrorCode::RebootstrapRequired, 129, "REBOOTSTRAP_REQUIRED"),
            (
                ErrorCode::StreamsInvalidTopology,
                130,
                "STREAMS_INVALID_TOPOLOGY",
            ),
        ];
        for (error, code, name) in cases {
            assert_eq!(error.code(), code, "{name}");
            assert_eq!(ErrorCode::from_code(code), error, "{name}");
            assert_eq!(error.name(), name);
            assert_eq!(error.to_string(), name);
        }
    }

    #[test]
    fn retriable_flags() {
        let retriable = [
            ErrorCode::NotLeaderOrFollower,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::LeaderNotAvailable,
            ErrorCode::CoordinatorLoadInProgress,
            ErrorCode::NotCoordinator,
            ErrorCode::NotController,
            ErrorCode::ConcurrentTransactions,
            ErrorCode::KafkaStorageError,
            ErrorCode::UnknownTopicId,
            ErrorCode::ShareSessionLimitReached,
        ];
        for error in retriable {
            assert!(error.is_retriable(), "{error}");
        }
        let fatal = [
            ErrorCode::None,
            ErrorCode::UnknownServerError,
            ErrorCode::TopicAuthorizationFailed,
            ErrorCode::BrokerNotAvailable,
            ErrorCode::RebalanceInProgress,
            ErrorCode::UnsupportedVersion,
            ErrorCode::SaslAuthenticationFailed,
            ErrorCode::TransactionAbortable,
            ErrorCode::Unknown(999),
        ];
        for error in fatal {
            assert!(!error.is_retriable(), "{error}");
        }
    }

    #[test]
    fn unknown_codes_round_trip_unchanged() {
        for code in [i16::MIN, -2, 134, 999, i16::MAX] {
            let error = ErrorCode::from_code(code);
            assert_eq!(error, ErrorCode::Unknown(code));
            assert_eq!(error.code(), code);
            assert_eq!(i16::from(error), code);
            assert!(error.is_error());
            assert!(!error.is_known());
            assert_eq!(error.to_string(), format!("UNKNOWN_ERROR_CODE({code})"));
        }
    }

    #[test]
    fn none_is_default_and_not_an_error() {
        assert_eq!(ErrorCode::default(), ErrorCode::None);
        assert!(!ErrorCode::None.is_error());
        assert!(ErrorCode::UnknownServerError.is_error());
        assert_eq!(
            ErrorCode::ALL.iter().filter(|e| !e.is_error()).count(),
            1,
            "only NONE is not an error"
        );
    }
}
