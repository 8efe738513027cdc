//! InitProducerId: producer ids for idempotent producers.

use std::sync::Arc;

use kafka_protocol::messages::InitProducerIdRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};

/// Serves InitProducerId.
#[derive(Debug)]
pub(crate) struct InitProducerId;

impl ApiHandler for InitProducerId {
    type Request = InitProducerIdRequest;
    const KEY: ApiKey = ApiKey::InitProducerId;
    const VERSIONS: VersionRange = VersionRange::new(0, 5);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: InitProducerIdRequest,
        responder: Responder,
    ) {
        responder.respond(super::produce::init_producer_id(state, &body));
    }
}
