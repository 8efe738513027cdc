//! DeleteGroups: deletes empty groups.

use std::sync::Arc;

use kafka_protocol::messages::{DeleteGroupsRequest, ResponseKind};
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use crate::apis::{ApiHandler, BrokerState};

/// Serves DeleteGroups.
#[derive(Debug)]
pub(crate) struct DeleteGroups;

impl ApiHandler for DeleteGroups {
    type Request = DeleteGroupsRequest;
    const KEY: ApiKey = ApiKey::DeleteGroups;
    const VERSIONS: VersionRange = VersionRange::new(0, 2);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: DeleteGroupsRequest,
        responder: Responder,
    ) {
        state.groups.serve(responder, |coordinator, now, version| {
            ResponseKind::DeleteGroups(coordinator.delete_groups(now, version, &body))
        });
    }
}
