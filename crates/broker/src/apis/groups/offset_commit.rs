//! OffsetCommit: commits offsets, persisted before the answer. Partitions that do not exist
//! are answered UNKNOWN_TOPIC_OR_PARTITION here, before the coordinator sees the request, as
//! Kafka's `KafkaApis.handleOffsetCommitRequest` checks its metadata cache first.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, ResponseKind};
use kafka_protocol::{ApiKey, ErrorCode, VersionRange};
use kafka_server::{RequestContext, Responder};

use crate::apis::{ApiHandler, BrokerState};

/// Serves OffsetCommit.
#[derive(Debug)]
pub(crate) struct OffsetCommit;

impl ApiHandler for OffsetCommit {
    type Request = OffsetCommitRequest;
    const KEY: ApiKey = ApiKey::OffsetCommit;
    const VERSIONS: VersionRange = VersionRange::new(2, 9);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        mut body: OffsetCommitRequest,
        responder: Responder,
    ) {
        // (topic, partitions) that do not exist, taken out of the request.
        let mut unknown: Vec<(String, Vec<i32>)> = Vec::new();
        for t in &mut body.topics {
            let count = super::partition_count(state, &t.name);
            let before = t.partitions.len();
            let mut missing = Vec::new();
            t.partitions.retain(|p| {
                let exists = p.partition_index >= 0 && p.partition_index < count;
                if !exists {
                    missing.push(p.partition_index);
                }
                exists
            });
            if t.partitions.len() != before {
                unknown.push((t.name.clone(), missing));
            }
        }
        body.topics.retain(|t| !t.partitions.is_empty());
        if unknown.is_empty() {
            state.groups.serve(
                &body.group_id,
                responder,
                |coordinator, now, version| coordinator.offset_commit(now, version, &body),
                ResponseKind::OffsetCommit,
            );
            return;
        }
        // Nothing left for the coordinator: answered without touching the group (a group that
        // does not exist is not created), as Kafka does.
        let mut response = if body.topics.is_empty() {
            OffsetCommitResponse::default()
        } else {
            let version = responder.api_version();
            match state.groups.compute(
                &body.group_id,
                version,
                |coordinator, now, version| coordinator.offset_commit(now, version, &body),
                ResponseKind::OffsetCommit,
            ) {
                ResponseKind::OffsetCommit(r) => r,
                other => {
                    responder.respond(other);
                    return;
                }
            }
        };
        for (name, partitions) in unknown {
            let answers = partitions.into_iter().map(|p| {
                OffsetCommitResponsePartition::default()
                    .with_partition_index(p)
                    .with_error_code(ErrorCode::UnknownTopicOrPartition.code())
            });
            match response.topics.iter_mut().find(|t| t.name == name) {
                Some(t) => t.partitions.extend(answers),
                None => response.topics.push(
                    OffsetCommitResponseTopic::default()
                        .with_name(name)
                        .with_partitions(answers.collect()),
                ),
            }
        }
        responder.respond(ResponseKind::OffsetCommit(response));
    }
}
