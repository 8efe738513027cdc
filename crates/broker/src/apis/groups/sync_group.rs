//! SyncGroup: hands out assignments, parked until the leader sends them.

use std::sync::Arc;

use kafka_protocol::messages::SyncGroupRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use crate::apis::{ApiHandler, BrokerState};

/// Serves SyncGroup.
#[derive(Debug)]
pub(crate) struct SyncGroup;

impl ApiHandler for SyncGroup {
    type Request = SyncGroupRequest;
    const KEY: ApiKey = ApiKey::SyncGroup;
    const VERSIONS: VersionRange = VersionRange::new(0, 5);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: SyncGroupRequest,
        responder: Responder,
    ) {
        state.groups.sync_group(&body, responder);
    }
}
