//! OffsetForLeaderEpoch: the end offset of a leader epoch.

use std::sync::Arc;

use kafka_protocol::messages::OffsetForLeaderEpochRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};

/// Serves OffsetForLeaderEpoch.
#[derive(Debug)]
pub(crate) struct OffsetForLeaderEpoch;

impl ApiHandler for OffsetForLeaderEpoch {
    type Request = OffsetForLeaderEpochRequest;
    const KEY: ApiKey = ApiKey::OffsetForLeaderEpoch;
    const VERSIONS: VersionRange = VersionRange::new(2, 4);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: OffsetForLeaderEpochRequest,
        responder: Responder,
    ) {
        responder.respond(super::offsets::offset_for_leader_epoch(state, &body));
    }
}
