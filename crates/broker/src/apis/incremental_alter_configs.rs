//! IncrementalAlterConfigs: changes topic configs key by key.

use std::sync::Arc;

use kafka_protocol::messages::IncrementalAlterConfigsRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};

/// Serves IncrementalAlterConfigs.
#[derive(Debug)]
pub(crate) struct IncrementalAlterConfigs;

impl ApiHandler for IncrementalAlterConfigs {
    type Request = IncrementalAlterConfigsRequest;
    const KEY: ApiKey = ApiKey::IncrementalAlterConfigs;
    const VERSIONS: VersionRange = VersionRange::new(0, 1);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: IncrementalAlterConfigsRequest,
        responder: Responder,
    ) {
        responder.respond(super::topics::incremental_alter_configs(state, &body));
    }
}
