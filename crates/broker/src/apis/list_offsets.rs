//! ListOffsets: offsets by timestamp (and the earliest, latest, max-timestamp specials).

use std::sync::Arc;

use kafka_protocol::messages::ListOffsetsRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};

/// Serves ListOffsets.
#[derive(Debug)]
pub(crate) struct ListOffsets;

impl ApiHandler for ListOffsets {
    type Request = ListOffsetsRequest;
    const KEY: ApiKey = ApiKey::ListOffsets;
    const VERSIONS: VersionRange = VersionRange::new(1, 10);

    fn handle(
        state: &Arc<BrokerState>,
        context: &RequestContext,
        body: ListOffsetsRequest,
        responder: Responder,
    ) {
        responder.respond(super::offsets::list_offsets(state, context, &body));
    }
}
