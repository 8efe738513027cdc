//! FindCoordinator: this broker coordinates every group; transactions are not served.

use std::sync::Arc;

use kafka_protocol::messages::FindCoordinatorRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};

/// Serves FindCoordinator.
#[derive(Debug)]
pub(crate) struct FindCoordinator;

impl ApiHandler for FindCoordinator {
    type Request = FindCoordinatorRequest;
    const KEY: ApiKey = ApiKey::FindCoordinator;
    const VERSIONS: VersionRange = VersionRange::new(0, 6);

    fn handle(
        state: &Arc<BrokerState>,
        context: &RequestContext,
        body: FindCoordinatorRequest,
        responder: Responder,
    ) {
        responder.respond(super::groups::find_coordinator(state, context, &body));
    }
}
