//! DescribeConfigs: topic and broker configs.

use std::sync::Arc;

use kafka_protocol::messages::DescribeConfigsRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};

/// Serves DescribeConfigs.
#[derive(Debug)]
pub(crate) struct DescribeConfigs;

impl ApiHandler for DescribeConfigs {
    type Request = DescribeConfigsRequest;
    const KEY: ApiKey = ApiKey::DescribeConfigs;
    const VERSIONS: VersionRange = VersionRange::new(1, 4);

    fn handle(
        state: &Arc<BrokerState>,
        context: &RequestContext,
        body: DescribeConfigsRequest,
        responder: Responder,
    ) {
        responder.respond(super::topics::describe_configs(state, context, &body));
    }
}
