//! CreatePartitions: adds partitions to topics.

use std::sync::Arc;

use kafka_protocol::messages::CreatePartitionsRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};

/// Serves CreatePartitions.
#[derive(Debug)]
pub(crate) struct CreatePartitions;

impl ApiHandler for CreatePartitions {
    type Request = CreatePartitionsRequest;
    const KEY: ApiKey = ApiKey::CreatePartitions;
    const VERSIONS: VersionRange = VersionRange::new(0, 3);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: CreatePartitionsRequest,
        responder: Responder,
    ) {
        responder.respond(super::topics::create_partitions(state, &body));
    }
}
