//! DescribeGroups: groups' state and members.

use std::sync::Arc;

use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, ResponseKind};
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use crate::apis::{ApiHandler, BrokerState};

/// Serves DescribeGroups.
#[derive(Debug)]
pub(crate) struct DescribeGroups;

impl ApiHandler for DescribeGroups {
    type Request = DescribeGroupsRequest;
    const KEY: ApiKey = ApiKey::DescribeGroups;
    const VERSIONS: VersionRange = VersionRange::new(0, 6);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: DescribeGroupsRequest,
        responder: Responder,
    ) {
        let version = responder.api_version();
        let mut merged = DescribeGroupsResponse::default();
        for group in &body.groups {
            let one = DescribeGroupsRequest::default()
                .with_groups(vec![group.clone()])
                .with_include_authorized_operations(body.include_authorized_operations);
            let answer = state.groups.compute(
                group,
                version,
                |coordinator, _now, version| coordinator.describe_groups(version, &one),
                ResponseKind::DescribeGroups,
            );
            if let ResponseKind::DescribeGroups(r) = answer {
                merged.groups.extend(r.groups);
            }
        }
        responder.respond(ResponseKind::DescribeGroups(merged));
    }
}
