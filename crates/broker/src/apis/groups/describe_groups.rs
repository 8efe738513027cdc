//! DescribeGroups: groups' state and members.

use std::sync::Arc;

use kafka_protocol::messages::{DescribeGroupsRequest, ResponseKind};
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
        state.groups.serve(responder, |coordinator, _now, version| {
            ResponseKind::DescribeGroups(coordinator.describe_groups(version, &body))
        });
    }
}
