//! ListGroups: the groups this coordinator knows.

use std::sync::Arc;

use kafka_protocol::messages::{ListGroupsRequest, ResponseKind};
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use crate::apis::{ApiHandler, BrokerState};

/// Serves ListGroups.
#[derive(Debug)]
pub(crate) struct ListGroups;

impl ApiHandler for ListGroups {
    type Request = ListGroupsRequest;
    const KEY: ApiKey = ApiKey::ListGroups;
    const VERSIONS: VersionRange = VersionRange::new(0, 5);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: ListGroupsRequest,
        responder: Responder,
    ) {
        state.groups.serve(responder, |coordinator, _now, version| {
            ResponseKind::ListGroups(coordinator.list_groups(version, &body))
        });
    }
}
