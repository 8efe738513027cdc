//! OffsetCommit: commits offsets, persisted before the answer.

use std::sync::Arc;

use kafka_protocol::messages::{OffsetCommitRequest, ResponseKind};
use kafka_protocol::{ApiKey, VersionRange};
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
        body: OffsetCommitRequest,
        responder: Responder,
    ) {
        state.groups.serve(
            &body.group_id,
            responder,
            |coordinator, now, version| coordinator.offset_commit(now, version, &body),
            ResponseKind::OffsetCommit,
        );
    }
}
