//! DescribeCluster: the cluster's id, controller and brokers.

use std::sync::Arc;

use kafka_protocol::messages::DescribeClusterRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};

/// Serves DescribeCluster.
#[derive(Debug)]
pub(crate) struct DescribeCluster;

impl ApiHandler for DescribeCluster {
    type Request = DescribeClusterRequest;
    const KEY: ApiKey = ApiKey::DescribeCluster;
    const VERSIONS: VersionRange = VersionRange::new(0, 2);

    fn handle(
        state: &Arc<BrokerState>,
        context: &RequestContext,
        body: DescribeClusterRequest,
        responder: Responder,
    ) {
        responder.respond(super::metadata::describe_cluster(state, context, &body));
    }
}
