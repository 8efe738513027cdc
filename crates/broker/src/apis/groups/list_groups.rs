//! ListGroups: the groups this coordinator knows.

use std::sync::Arc;

use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse, ResponseKind};
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
        let version = responder.api_version();
        // Every coordinator this broker runs; one still loading makes the answer
        // COORDINATOR_LOAD_IN_PROGRESS, as Kafka answers while any partition loads.
        let mut merged = ListGroupsResponse::default();
        for r in state
            .groups
            .each_loaded(|coordinator| coordinator.list_groups(version, &body))
        {
            if r.error_code != 0 {
                merged.error_code = r.error_code;
            }
            merged.groups.extend(r.groups);
        }
        responder.respond(ResponseKind::ListGroups(merged));
    }
}
