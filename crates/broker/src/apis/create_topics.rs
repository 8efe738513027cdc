//! CreateTopics: creates topics (and validates only, when asked).

use std::sync::Arc;

use kafka_protocol::messages::CreateTopicsRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};

/// Serves CreateTopics.
#[derive(Debug)]
pub(crate) struct CreateTopics;

impl ApiHandler for CreateTopics {
    type Request = CreateTopicsRequest;
    const KEY: ApiKey = ApiKey::CreateTopics;
    const VERSIONS: VersionRange = VersionRange::new(2, 7);

    fn handle(
        state: &Arc<BrokerState>,
        context: &RequestContext,
        body: CreateTopicsRequest,
        responder: Responder,
    ) {
        responder.respond(super::topics::create_topics(state, context, &body));
    }
}
