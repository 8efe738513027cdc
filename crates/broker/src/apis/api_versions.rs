//! ApiVersions: the broker's API table, as [`super::advertised_apis`] derives it.

use std::sync::{Arc, OnceLock};

use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ResponseKind};
use kafka_protocol::{ApiKey, VersionRange};
use kafka_server::{RequestContext, Responder};

use super::{advertised_apis, ApiHandler, BrokerState};

/// The ApiVersions answer (the same for every version; the codec writes what each carries).
/// The SASL authenticator gives the same answer before authentication.
pub fn response() -> &'static ApiVersionsResponse {
    static RESPONSE: OnceLock<ApiVersionsResponse> = OnceLock::new();
    RESPONSE
        .get_or_init(|| ApiVersionsResponse::default().with_api_keys(advertised_apis().entries()))
}

/// The ApiVersions answer on a controller listener: the controller's table.
pub(super) fn controller_response() -> &'static ApiVersionsResponse {
    static RESPONSE: OnceLock<ApiVersionsResponse> = OnceLock::new();
    RESPONSE.get_or_init(|| {
        ApiVersionsResponse::default().with_api_keys(super::controller_apis().entries())
    })
}

/// Serves ApiVersions.
#[derive(Debug)]
pub(crate) struct ApiVersions;

impl ApiHandler for ApiVersions {
    type Request = ApiVersionsRequest;
    const KEY: ApiKey = ApiKey::ApiVersions;
    const VERSIONS: VersionRange = VersionRange::new(0, 4);

    fn handle(
        state: &Arc<BrokerState>,
        context: &RequestContext,
        _body: ApiVersionsRequest,
        responder: Responder,
    ) {
        let answer = if state
            .cluster
            .controller_listeners
            .iter()
            .any(|l| **l == *context.listener)
        {
            controller_response().clone()
        } else {
            response().clone()
        };
        responder.respond(ResponseKind::ApiVersions(answer));
    }
}
