//! Heartbeat: keeps a member in its group.

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, ResponseKind};
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use crate::apis::{ApiHandler, BrokerState};

/// Serves Heartbeat.
#[derive(Debug)]
pub(crate) struct Heartbeat;

impl ApiHandler for Heartbeat {
    type Request = HeartbeatRequest;
    const KEY: ApiKey = ApiKey::Heartbeat;
    const VERSIONS: VersionRange = VersionRange::new(0, 4);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: HeartbeatRequest,
        responder: Responder,
    ) {
        state.groups.serve(
            &body.group_id,
            responder,
            |coordinator, now, version| coordinator.heartbeat(now, version, &body),
            ResponseKind::Heartbeat,
        );
    }
}
