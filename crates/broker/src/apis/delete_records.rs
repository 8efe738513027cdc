//! DeleteRecords: moves log start offsets forward.

use std::sync::Arc;

use kafka_protocol::messages::DeleteRecordsRequest;
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{ApiHandler, BrokerState};

/// Serves DeleteRecords.
#[derive(Debug)]
pub(crate) struct DeleteRecords;

impl ApiHandler for DeleteRecords {
    type Request = DeleteRecordsRequest;
    const KEY: ApiKey = ApiKey::DeleteRecords;
    const VERSIONS: VersionRange = VersionRange::new(0, 2);

    fn handle(
        state: &Arc<BrokerState>,
        _context: &RequestContext,
        body: DeleteRecordsRequest,
        responder: Responder,
    ) {
        responder.respond(super::topics::delete_records(state, &body));
    }
}
