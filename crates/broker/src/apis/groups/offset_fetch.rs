//! OffsetFetch: committed offsets.

use std::sync::Arc;

use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, ResponseKind};
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
        let version = responder.api_version();
        if version < 8 {
            state.groups.serve(
                &body.group_id,
                responder,
                |coordinator, _now, version| coordinator.offset_fetch(version, &body),
                ResponseKind::OffsetFetch,
            );
            return;
        }
        // v8+ asks about several groups, each answered by its own coordinator.
        let mut merged = OffsetFetchResponse::default();
        for group in &body.groups {
            let one = OffsetFetchRequest::default()
                .with_groups(vec![group.clone()])
                .with_require_stable(body.require_stable);
            let answer = state.groups.compute(
                &group.group_id,
                version,
                |coordinator, _now, version| coordinator.offset_fetch(version, &one),
                ResponseKind::OffsetFetch,
            );
            if let ResponseKind::OffsetFetch(r) = answer {
                merged.groups.extend(r.groups);
            }
        }
        responder.respond(ResponseKind::OffsetFetch(merged));
    }
}
