//! OffsetDelete: deletes committed offsets of an empty group.

use std::sync::Arc;

use kafka_protocol::messages::{OffsetDeleteRequest, ResponseKind};
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use crate::apis::{ApiHandler, BrokerState};

/// Serves OffsetDelete.
#[derive(Debug)]
pub(crate) struct OffsetDelete;

impl ApiHandler for OffsetDelete {
    type Request = OffsetDeleteRequest;
    const KEY: ApiKey = ApiKey::OffsetDelete;
    const VERSIONS: VersionRange = VersionRange::new(0, 0);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: OffsetDeleteRequest,
        responder: Responder,
    ) {
        state.groups.serve(
            &body.group_id,
            responder,
            |coordinator, now, version| coordinator.offset_delete(now, version, &body),
            ResponseKind::OffsetDelete,
        );
    }
}
