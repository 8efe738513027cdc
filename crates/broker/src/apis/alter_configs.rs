//! AlterConfigs: replaces topic configs.

use std::sync::Arc;

use kafka_protocol::messages::AlterConfigsRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};

/// Serves AlterConfigs.
#[derive(Debug)]
pub(crate) struct AlterConfigs;

impl ApiHandler for AlterConfigs {
    type Request = AlterConfigsRequest;
    const KEY: ApiKey = ApiKey::AlterConfigs;
    const VERSIONS: VersionRange = VersionRange::new(0, 2);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: AlterConfigsRequest,
        responder: Responder,
    ) {
        responder.respond(super::topics::alter_configs(state, &body));
    }
}
