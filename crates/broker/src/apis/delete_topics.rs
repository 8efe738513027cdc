//! DeleteTopics: deletes topics by name or id.

use std::sync::Arc;

use kafka_protocol::messages::DeleteTopicsRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};

/// Serves DeleteTopics.
#[derive(Debug)]
pub(crate) struct DeleteTopics;

impl ApiHandler for DeleteTopics {
    type Request = DeleteTopicsRequest;
    const KEY: ApiKey = ApiKey::DeleteTopics;
    const VERSIONS: VersionRange = VersionRange::new(1, 6);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: DeleteTopicsRequest,
        responder: Responder,
    ) {
        responder.respond(super::topics::delete_topics(state, &body));
    }
}
