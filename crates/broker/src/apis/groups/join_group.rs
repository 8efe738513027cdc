//! JoinGroup: joins a member to its group, parked until the rebalance completes.

use std::sync::Arc;

use kafka_protocol::messages::JoinGroupRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use crate::apis::{ApiHandler, BrokerState};

/// Serves JoinGroup.
#[derive(Debug)]
pub(crate) struct JoinGroup;

impl ApiHandler for JoinGroup {
    type Request = JoinGroupRequest;
    const KEY: ApiKey = ApiKey::JoinGroup;
    const VERSIONS: VersionRange = VersionRange::new(0, 9);

    fn handle(
        state: &Arc<BrokerState>,
        context: &RequestContext,
        body: JoinGroupRequest,
        responder: Responder,
    ) {
        state.groups.join_group(context, &body, responder);
    }
}
