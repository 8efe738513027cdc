//! OffsetFetch: committed offsets.

use std::sync::Arc;

use kafka_protocol::messages::{OffsetFetchRequest, ResponseKind};
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use crate::apis::{ApiHandler, BrokerState};

/// Serves OffsetFetch.
#[derive(Debug)]
pub(crate) struct OffsetFetch;

impl ApiHandler for OffsetFetch {
    type Request = OffsetFetchRequest;
    const KEY: ApiKey = ApiKey::OffsetFetch;
    const VERSIONS: VersionRange = VersionRange::new(1, 9);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: OffsetFetchRequest,
        responder: Responder,
    ) {
        state.groups.serve(responder, |coordinator, _now, version| {
            ResponseKind::OffsetFetch(coordinator.offset_fetch(version, &body))
        });
    }
}
