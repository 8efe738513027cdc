//! DeleteGroups: deletes empty groups.

use std::sync::Arc;

use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, ResponseKind};
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
        let version = responder.api_version();
        let mut merged = DeleteGroupsResponse::default();
        for group in &body.groups_names {
            let one = DeleteGroupsRequest::default().with_groups_names(vec![group.clone()]);
            let answer = state.groups.compute(
                group,
                version,
                |coordinator, now, version| coordinator.delete_groups(now, version, &one),
                ResponseKind::DeleteGroups,
            );
            if let ResponseKind::DeleteGroups(r) = answer {
                merged.results.extend(r.results);
            }
        }
        responder.respond(ResponseKind::DeleteGroups(merged));
    }
}
