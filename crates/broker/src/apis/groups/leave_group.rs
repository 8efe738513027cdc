//! LeaveGroup: members leave their group.

use std::sync::Arc;

use kafka_protocol::messages::{LeaveGroupRequest, ResponseKind};
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use crate::apis::{ApiHandler, BrokerState};

/// Serves LeaveGroup.
#[derive(Debug)]
pub(crate) struct LeaveGroup;

impl ApiHandler for LeaveGroup {
    type Request = LeaveGroupRequest;
    const KEY: ApiKey = ApiKey::LeaveGroup;
    const VERSIONS: VersionRange = VersionRange::new(0, 5);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: LeaveGroupRequest,
        responder: Responder,
    ) {
        state.groups.serve(
            &body.group_id,
            responder,
            |coordinator, now, version| coordinator.leave_group(now, version, &body),
            ResponseKind::LeaveGroup,
        );
    }
}
