//! The broker's side of SASL (Kafka's `SaslServerAuthenticator`).
//!
//! States, as Kafka has them:
//!
//! 1. **Handshake or versions.** The first frames may be ApiVersions requests (answered with
//!    the broker's ApiVersions response, which the broker supplies through
//!    [`SaslServerConfig::with_api_versions`]) and must end with a SaslHandshake (v0 or v1).
//!    An ApiVersions of a version the broker does not support is answered in v0 with
//!    `UNSUPPORTED_VERSION` and the ApiVersions range, and the client may try again; one
//!    whose v3+ client software name or version is malformed gets `INVALID_REQUEST`. After a
//!    good ApiVersions only SaslHandshake is accepted. Any other request (Metadata, Produce…)
//!    is `ILLEGAL_SASL_STATE`: nothing is sent and the connection closes. A first frame that
//!    is not a Kafka request at all (Kafka would try it as a GSSAPI token) closes it too.
//! 2. **Handshake.** An enabled mechanism is answered with `NONE` and the enabled list; any
//!    other with `UNSUPPORTED_SASL_MECHANISM` and the list, then the connection closes.
//! 3. **Authenticate.** After handshake v1, SaslAuthenticate requests (v0–v2) carry the
//!    mechanism's tokens and each gets a SaslAuthenticateResponse. A refused client gets
//!    `SASL_AUTHENTICATION_FAILED` (58) with Kafka's message — the mechanism's own when Kafka
//!    shows it (PLAIN: "Authentication failed: Invalid username or password"), otherwise
//!    "Authentication failed during authentication due to invalid credentials with SASL
//!    mechanism M" — and the connection closes once the response is sent. After handshake v0
//!    the tokens travel raw (frames without a Kafka header) both ways, and a refusal just
//!    closes the connection, as in Kafka.
//! 4. **Complete**, with `session_lifetime_ms` reported in SaslAuthenticate v1+ when
//!    `connections.max.reauth.ms` is positive (KIP-368); [`Authenticator::session_expiration`]
//!    is then the end of the session.
//!
//! A failure is reported as [`AuthStep::failure`] with the frames Kafka sends first (possibly
//! none). `Err` from [`Authenticator::handle_receive`] means the authenticator was misused
//! (called after it finished); the channel closes either way.
//!
//! Re-authentication (a SaslHandshake on an authenticated connection) is not handled here yet.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::header::peek_api_key_and_version;
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::{ApiKey, Decodable, ErrorCode, RequestHeader};

use crate::api_versions::AdvertisedApis;
use crate::auth::credentials::CredentialStore;
use crate::auth::frames::encode_response;
use crate::auth::mechanism::{SaslMechanism, ServerMechanism, ServerRejection, ServerStep};
use crate::auth::plain::PlainServer;
use crate::auth::scram::ScramServer;
use crate::auth::{AuthStep, Authenticator};
use crate::error::{Error, Result};
use crate::principal::KafkaPrincipal;

/// Kafka's default `sasl.server.max.receive.size`: the largest frame a server should accept
/// from a client that has not authenticated yet (the channel applies it).
pub const DEFAULT_SASL_SERVER_MAX_RECEIVE_SIZE: usize = 524_288;

/// Gives the ApiVersions response for a request version (Kafka's `apiVersionSupplier`).
pub type ApiVersionsSupplier = Arc<dyn Fn(i16) -> ApiVersionsResponse + Send + Sync>;

/// What every SASL connection of a listener shares.
#[derive(Clone)]
pub struct SaslServerConfig {
    enabled_mechanisms: Vec<SaslMechanism>,
    credentials: Arc<dyn CredentialStore>,
    connections_max_reauth_ms: u64,
    apis: AdvertisedApis,
    api_versions: ApiVersionsSupplier,
}

impl fmt::Debug for SaslServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslServerConfig")
            .field("enabled_mechanisms", &self.enabled_mechanisms)
            .field("credentials", &self.credentials)
            .field("connections_max_reauth_ms", &self.connections_max_reauth_ms)
            .finish_non_exhaustive()
    }
}

impl SaslServerConfig {
    /// `sasl.enabled.mechanisms` (duplicates dropped, order kept) checked against
    /// `credentials`; no re-authentication limit (`connections.max.reauth.ms=0`); `apis`, the
    /// broker's advertised versions, decide which ApiVersions, SaslHandshake and
    /// SaslAuthenticate versions are accepted, and ApiVersions is answered with exactly those
    /// ranges unless [`SaslServerConfig::with_api_versions`] says otherwise. Fails with
    /// [`Error::Config`] if no mechanism is enabled.
    pub fn new(
        enabled_mechanisms: Vec<SaslMechanism>,
        credentials: Arc<dyn CredentialStore>,
        apis: AdvertisedApis,
    ) -> Result<Self> {
        let mut mechanisms: Vec<SaslMechanism> = Vec::new();
        for mechanism in enabled_mechanisms {
            if !mechanisms.contains(&mechanism) {
                mechanisms.push(mechanism);
            }
        }
        if mechanisms.is_empty() {
            return Err(Error::Config("no SASL mechanisms are enabled".into()));
        }
        let default = ApiVersionsResponse::default().with_api_keys(apis.entries());
        Ok(SaslServerConfig {
            enabled_mechanisms: mechanisms,
            credentials,
            connections_max_reauth_ms: 0,
            apis,
            api_versions: Arc::new(move |_| default.clone()),
        })
    }

    /// `connections.max.reauth.ms`: the session lifetime granted on success; 0 for none.
    pub fn with_connections_max_reauth_ms(mut self, ms: u64) -> Self {
        self.connections_max_reauth_ms = ms;
        self
    }

    /// Answers ApiVersions with what `supplier` gives for the request's version (the broker
    /// passes the same answer it gives after authentication).
    pub fn with_api_versions(
        mut self,
        supplier: impl Fn(i16) -> ApiVersionsResponse + Send + Sync + 'static,
    ) -> Self {
        self.api_versions = Arc::new(supplier);
        self
    }

    /// Answers every ApiVersions with `response`.
    pub fn with_api_versions_response(self, response: ApiVersionsResponse) -> Self {
        self.with_api_versions(move |_| response.clone())
    }

    /// The enabled mechanisms, in the order the handshake lists them.
    pub fn enabled_mechanisms(&self) -> &[SaslMechanism] {
        &self.enabled_mechanisms
    }

    /// `connections.max.reauth.ms` (0: sessions do not expire).
    pub fn connections_max_reauth_ms(&self) -> u64 {
        self.connections_max_reauth_ms
    }

    /// The credential store.
    pub fn credentials(&self) -> &Arc<dyn CredentialStore> {
        &self.credentials
    }

    fn mechanism_names(&self) -> Vec<String> {
        self.enabled_mechanisms
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    }

    fn exchange(&self, mechanism: SaslMechanism) -> Box<dyn ServerMechanism> {
        match mechanism.scram() {
            Some(scram) => Box::new(ScramServer::new(scram, self.credentials.clone())),
            None => Box::new(PlainServer::new(self.credentials.clone())),
        }
    }
}

enum State {
    /// Expecting ApiVersions or SaslHandshake; `first` until a Kafka header has been seen.
    HandshakeOrVersions {
        first: bool,
    },
    /// A good ApiVersions was answered: only SaslHandshake now.
    Handshake,
    /// Exchanging tokens, inside SaslAuthenticate (`kafka_headers`) or raw.
    Authenticate {
        exchange: Box<dyn ServerMechanism>,
        kafka_headers: bool,
    },
    Complete,
    Failed,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::HandshakeOrVersions { first } => f
                .debug_struct("HandshakeOrVersions")
                .field("first", first)
                .finish(),
            State::Handshake => f.write_str("Handshake"),
            State::Authenticate {
                exchange,
                kafka_headers,
            } => f
                .debug_struct("Authenticate")
                .field("exchange", exchange)
                .field("kafka_headers", kafka_headers)
                .finish(),
            State::Complete => f.write_str("Complete"),
            State::Failed => f.write_str("Failed"),
        }
    }
}

/// The server side of a SASL connection. Pure logic: frames and the time in, frames out.
#[derive(Debug)]
pub struct SaslServerAuthenticator {
    config: Arc<SaslServerConfig>,
    state: State,
    mechanism: Option<SaslMechanism>,
    principal: Option<KafkaPrincipal>,
    session_expiration: Option<Instant>,
    client_supports_reauthentication: bool,
    client_software: Option<(String, String)>,
}

/// A failure that sends nothing first.
fn silent(error: Error) -> AuthStep {
    AuthStep {
        sends: Vec::new(),
        failure: Some(error),
    }
}

impl SaslServerAuthenticator {
    /// A fresh authenticator for one accepted connection.
    pub fn new(config: Arc<SaslServerConfig>) -> Self {
        SaslServerAuthenticator {
            config,
            state: State::HandshakeOrVersions { first: true },
            mechanism: None,
            principal: None,
            session_expiration: None,
            client_supports_reauthentication: false,
            client_software: None,
        }
    }

    /// The mechanism the client chose in its handshake.
    pub fn mechanism(&self) -> Option<SaslMechanism> {
        self.mechanism
    }

    /// Whether the client sent SaslAuthenticate v1+, and so can re-authenticate (KIP-368).
    pub fn client_supports_reauthentication(&self) -> bool {
        self.client_supports_reauthentication
    }

    /// The client software name and version from an ApiVersions v3+ request, if one came.
    pub fn client_software(&self) -> Option<(&str, &str)> {
        self.client_software
            .as_ref()
            .map(|(name, version)| (name.as_str(), version.as_str()))
    }

    fn handle_handshake_phase(
        &mut self,
        frame: Bytes,
        first: bool,
        after_api_versions: bool,
    ) -> Result<AuthStep> {
        let not_kafka = |detail: String| {
            if first {
                Error::UnsupportedSaslMechanism(format!(
                    "(first packet is not a Kafka request and GSSAPI is not supported: {detail})"
                ))
            } else {
                Error::IllegalSaslState(format!("invalid request during SASL handshake: {detail}"))
            }
        };
        let (key, version) =
            peek_api_key_and_version(&frame).map_err(|e| not_kafka(e.to_string()))?;
        let api_key =
            ApiKey::from_id(key).ok_or_else(|| not_kafka(format!("unknown API key {key}")))?;
        let mut body = frame;
        let header = RequestHeader::decode(&mut body, api_key.request_header_version(version))
            .map_err(|e| not_kafka(e.to_string()))?;
        match api_key {
            ApiKey::ApiVersions if !after_api_versions => self.handle_api_versions(&header, body),
            ApiKey::ApiVersions => Err(Error::IllegalSaslState(
                "Unexpected ApiVersions request received during SASL authentication state HANDSHAKE_REQUEST".into(),
            )),
            ApiKey::SaslHandshake => self.handle_handshake(&header, body),
            other => Err(Error::IllegalSaslState(format!(
                "Unexpected Kafka request of type {other:?} during SASL handshake."
            ))),
        }
    }

    fn handle_api_versions(&mut self, header: &RequestHeader, mut body: Bytes) -> Result<AuthStep> {
        let version = header.request_api_version;
        let correlation_id = header.correlation_id;
        if !self.config.apis.is_advertised(ApiKey::ApiVersions, version) {
            let response = ApiVersionsResponse::default()
                .with_error_code(ErrorCode::UnsupportedVersion.code())
                .with_api_keys(
                    self.config
                        .apis
                        .entry(ApiKey::ApiVersions)
                        .into_iter()
                        .collect(),
                );
            let frame = encode_response(ApiKey::ApiVersions, 0, correlation_id, &response)?;
            self.state = State::HandshakeOrVersions { first: false };
            return Ok(AuthStep::send(vec![frame]));
        }
        let request = ApiVersionsRequest::decode(&mut body, version)?;
        if version >= 3
            && !(valid_software_field(&request.client_software_name)
                && valid_software_field(&request.client_software_version))
        {
            let response =
                ApiVersionsResponse::default().with_error_code(ErrorCode::InvalidRequest.code());
            let frame = encode_response(ApiKey::ApiVersions, version, correlation_id, &response)?;
            self.state = State::HandshakeOrVersions { first: false };
            return Ok(AuthStep::send(vec![frame]));
        }
        if version >= 3 {
            self.client_software = Some((
                request.client_software_name,
                request.client_software_version,
            ));
        }
        let response = (self.config.api_versions)(version);
        let frame = encode_response(ApiKey::ApiVersions, version, correlation_id, &response)?;
        self.state = State::Handshake;
        Ok(AuthStep::send(vec![frame]))
    }

    fn handle_handshake(&mut self, header: &RequestHeader, mut body: Bytes) -> Result<AuthStep> {
        let version = header.request_api_version;
        if !self
            .config
            .apis
            .is_advertised(ApiKey::SaslHandshake, version)
        {
            return Err(kafka_protocol::Error::UnsupportedVersion {
                message: "SaslHandshakeRequest",
                version,
            }
            .into());
        }
        let request = SaslHandshakeRequest::decode(&mut body, version)?;
        let mechanism = SaslMechanism::from_name(&request.mechanism)
            .filter(|m| self.config.enabled_mechanisms.contains(m));
        let error = if mechanism.is_some() {
            ErrorCode::None
        } else {
            ErrorCode::UnsupportedSaslMechanism
        };
        let response = SaslHandshakeResponse::default()
            .with_error_code(error.code())
            .with_mechanisms(self.config.mechanism_names());
        let frame = encode_response(
            ApiKey::SaslHandshake,
            version,
            header.correlation_id,
            &response,
        )?;
        let Some(mechanism) = mechanism else {
            return Ok(AuthStep {
                sends: vec![frame],
                failure: Some(Error::UnsupportedSaslMechanism(request.mechanism)),
            });
        };
        self.mechanism = Some(mechanism);
        self.state = State::Authenticate {
            exchange: self.config.exchange(mechanism),
            kafka_headers: version >= 1,
        };
        Ok(AuthStep::send(vec![frame]))
    }

    fn handle_authenticate_request(
        &mut self,
        mut exchange: Box<dyn ServerMechanism>,
        frame: Bytes,
        now: Instant,
    ) -> Result<AuthStep> {
        let (key, version) = peek_api_key_and_version(&frame)?;
        let api_key = ApiKey::from_id(key).ok_or(kafka_protocol::Error::UnknownApiKey(key))?;
        let mut body = frame;
        let header = RequestHeader::decode(&mut body, api_key.request_header_version(version))?;
        if api_key != ApiKey::SaslAuthenticate {
            let error = Error::IllegalSaslState(format!(
                "Unexpected Kafka request of type {api_key:?} during SASL authentication."
            ));
            // Kafka answers with the request's own error response; we can build it for the
            // two other SASL-phase APIs, and close silently otherwise.
            let sends = illegal_state_response(&self.config.apis, api_key, &header, body)
                .into_iter()
                .collect();
            return Ok(AuthStep {
                sends,
                failure: Some(error),
            });
        }
        if !self
            .config
            .apis
            .is_advertised(ApiKey::SaslAuthenticate, version)
        {
            return Err(kafka_protocol::Error::UnsupportedVersion {
                message: "SaslAuthenticateRequest",
                version,
            }
            .into());
        }
        let request = SaslAuthenticateRequest::decode(&mut body, version)?;
        if version > 0 {
            self.client_supports_reauthentication = true;
        }
        let correlation_id = header.correlation_id;
        match exchange.evaluate(&request.auth_bytes) {
            Ok(ServerStep::Continue(challenge)) => {
                let response =
                    SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(challenge));
                let frame =
                    encode_response(ApiKey::SaslAuthenticate, version, correlation_id, &response)?;
                self.state = State::Authenticate {
                    exchange,
                    kafka_headers: true,
                };
                Ok(AuthStep::send(vec![frame]))
            }
            Ok(ServerStep::Complete { response, username }) => {
                let lifetime_ms = self.finish(username, now);
                let response = SaslAuthenticateResponse::default()
                    .with_auth_bytes(Bytes::from(response))
                    .with_session_lifetime_ms(lifetime_ms);
                let frame =
                    encode_response(ApiKey::SaslAuthenticate, version, correlation_id, &response)?;
                Ok(AuthStep::send(vec![frame]))
            }
            Err(rejection) => {
                let message = self.client_message(rejection);
                let response = SaslAuthenticateResponse::default()
                    .with_error_code(ErrorCode::SaslAuthenticationFailed.code())
                    .with_error_message(Some(message.clone()));
                let frame =
                    encode_response(ApiKey::SaslAuthenticate, version, correlation_id, &response)?;
                Ok(AuthStep {
                    sends: vec![frame],
                    failure: Some(Error::Authentication(message)),
                })
            }
        }
    }

    fn handle_raw_token(
        &mut self,
        mut exchange: Box<dyn ServerMechanism>,
        frame: Bytes,
        now: Instant,
    ) -> Result<AuthStep> {
        match exchange.evaluate(&frame) {
            Ok(ServerStep::Continue(challenge)) => {
                self.state = State::Authenticate {
                    exchange,
                    kafka_headers: false,
                };
                Ok(AuthStep::send(vec![Bytes::from(challenge)]))
            }
            Ok(ServerStep::Complete { response, username }) => {
                self.finish(username, now);
                // Kafka sends the last token even when it is empty (PLAIN).
                Ok(AuthStep::send(vec![Bytes::from(response)]))
            }
            Err(rejection) => Err(Error::Authentication(self.client_message(rejection))),
        }
    }

    /// Records success and returns the session lifetime to report.
    fn finish(&mut self, username: String, now: Instant) -> i64 {
        self.principal = Some(KafkaPrincipal::user(username));
        self.state = State::Complete;
        let ms = self.config.connections_max_reauth_ms;
        if ms == 0 {
            return 0;
        }
        self.session_expiration = now.checked_add(Duration::from_millis(ms));
        i64::try_from(ms).unwrap_or(i64::MAX)
    }

    fn client_message(&self, rejection: ServerRejection) -> String {
        match rejection {
            ServerRejection::Client(message) => message,
            ServerRejection::Internal(detail) => {
                let mechanism = self.mechanism.map(SaslMechanism::name).unwrap_or("unknown");
                tracing::debug!(%mechanism, %detail, "SASL authentication failed");
                format!(
                    "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
                )
            }
        }
    }
}

/// The `ILLEGAL_SASL_STATE` response to an ApiVersions or SaslHandshake request that came
/// while tokens were expected, if the request parses.
fn illegal_state_response(
    apis: &AdvertisedApis,
    api_key: ApiKey,
    header: &RequestHeader,
    mut body: Bytes,
) -> Option<Bytes> {
    let version = header.request_api_version;
    let code = ErrorCode::IllegalSaslState.code();
    if !apis.is_advertised(api_key, version) {
        return None;
    }
    match api_key {
        ApiKey::ApiVersions => {
            ApiVersionsRequest::decode(&mut body, version).ok()?;
            let response = ApiVersionsResponse::default().with_error_code(code);
            encode_response(api_key, version, header.correlation_id, &response).ok()
        }
        ApiKey::SaslHandshake => {
            SaslHandshakeRequest::decode(&mut body, version).ok()?;
            let response = SaslHandshakeResponse::default().with_error_code(code);
            encode_response(api_key, version, header.correlation_id, &response).ok()
        }
        _ => None,
    }
}

/// Kafka's check of ApiVersions v3+ client software names and versions:
/// `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn valid_software_field(value: &str) -> bool {
    let bytes = value.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
        }
        _ => false,
    }
}

impl Authenticator for SaslServerAuthenticator {
    fn start(&mut self, _now: Instant) -> Result<Vec<Bytes>> {
        Ok(Vec::new())
    }

    fn max_receive_size(&self) -> Option<usize> {
        Some(DEFAULT_SASL_SERVER_MAX_RECEIVE_SIZE)
    }

    fn handle_receive(&mut self, frame: Bytes, now: Instant) -> Result<AuthStep> {
        let result = match std::mem::replace(&mut self.state, State::Failed) {
            State::HandshakeOrVersions { first } => {
                self.handle_handshake_phase(frame, first, false)
            }
            State::Handshake => self.handle_handshake_phase(frame, false, true),
            State::Authenticate {
                exchange,
                kafka_headers: true,
            } => self.handle_authenticate_request(exchange, frame, now),
            State::Authenticate {
                exchange,
                kafka_headers: false,
            } => self.handle_raw_token(exchange, frame, now),
            State::Complete => {
                self.state = State::Complete;
                return Err(Error::IllegalSaslState(
                    "SASL authentication is already complete".into(),
                ));
            }
            State::Failed => {
                return Err(Error::IllegalSaslState(
                    "SASL authentication has already failed".into(),
                ));
            }
        };
        let step = result.unwrap_or_else(silent);
        if step.failure.is_some() {
            if let Some(error) = &step.failure {
                tracing::debug!(%error, "SASL server authentication failed");
            }
            self.state = State::Failed;
        }
        Ok(step)
    }

    fn complete(&self) -> bool {
        matches!(self.state, State::Complete)
    }

    fn principal(&self) -> Option<KafkaPrincipal> {
        if self.complete() {
            self.principal.clone()
        } else {
            None
        }
    }

    fn session_expiration(&self) -> Option<Instant> {
        self.session_expiration
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::credentials::InMemoryCredentialStore;
    use kafka_protocol::Encodable;

    /// What a broker hands down: here every API with its codec range.
    fn apis() -> AdvertisedApis {
        AdvertisedApis::new(ApiKey::ALL.into_iter().map(|k| (k, k.valid_versions())))
    }

    fn default_api_versions_response() -> ApiVersionsResponse {
        ApiVersionsResponse::default().with_api_keys(apis().entries())
    }

    fn config(mechanisms: &[SaslMechanism]) -> Arc<SaslServerConfig> {
        let store = InMemoryCredentialStore::new();
        store.add_user("alice", "alice-secret").unwrap();
        Arc::new(SaslServerConfig::new(mechanisms.to_vec(), Arc::new(store), apis()).unwrap())
    }

    fn new_server() -> SaslServerAuthenticator {
        SaslServerAuthenticator::new(config(&[SaslMechanism::Plain, SaslMechanism::ScramSha256]))
    }

    fn request<M: Encodable>(key: ApiKey, version: i16, correlation_id: i32, body: &M) -> Bytes {
        crate::auth::frames::encode_request(key, version, correlation_id, Some("c"), body).unwrap()
    }

    fn now() -> Instant {
        Instant::now()
    }

    #[test]
    fn handshake_v1_bytes() {
        let mut server = new_server();
        assert!(server.start(now()).unwrap().is_empty());
        // SaslHandshake v1: key 17, version 1, correlation 7, client id "c", mechanism "PLAIN".
        let frame = Bytes::from_static(&[
            0, 17, 0, 1, 0, 0, 0, 7, 0, 1, b'c', 0, 5, b'P', b'L', b'A', b'I', b'N',
        ]);
        let step = server.handle_receive(frame, now()).unwrap();
        assert!(step.failure.is_none());
        let mut expected = vec![0, 0, 0, 7, 0, 0, 0, 0, 0, 2, 0, 5];
        expected.extend_from_slice(b"PLAIN");
        expected.extend_from_slice(&[0, 13]);
        expected.extend_from_slice(b"SCRAM-SHA-256");
        assert_eq!(step.sends, vec![Bytes::from(expected)]);
        assert_eq!(server.mechanism(), Some(SaslMechanism::Plain));

        // SaslAuthenticate v2 (flexible): header v2, compact bytes.
        let token = b"\0alice\0alice-secret";
        let mut frame = vec![0, 36, 0, 2, 0, 0, 0, 8, 0, 1, b'c', 0];
        frame.push(token.len() as u8 + 1);
        frame.extend_from_slice(token);
        frame.push(0);
        let t = now();
        let step = server.handle_receive(Bytes::from(frame), t).unwrap();
        assert!(step.failure.is_none());
        // Header v1 (correlation id, no tags), error 0, empty message (1: Kafka's default is
        // "", not null), empty bytes (1), session lifetime 0, no tags.
        assert_eq!(
            step.sends,
            vec![Bytes::from_static(&[
                0, 0, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ])]
        );
        assert!(server.complete());
        assert_eq!(server.principal(), Some(KafkaPrincipal::user("alice")));
        assert_eq!(server.session_expiration(), None);
        assert!(server.client_supports_reauthentication());
        assert!(server.handle_receive(Bytes::new(), t).is_err());
    }

    #[test]
    fn wrong_password_bytes() {
        let mut server = new_server();
        let handshake = SaslHandshakeRequest::default().with_mechanism("PLAIN".into());
        server
            .handle_receive(request(ApiKey::SaslHandshake, 1, 1, &handshake), now())
            .unwrap();
        let auth = SaslAuthenticateRequest::default()
            .with_auth_bytes(Bytes::from_static(b"\0alice\0nope"));
        let step = server
            .handle_receive(request(ApiKey::SaslAuthenticate, 1, 2, &auth), now())
            .unwrap();
        let message = "Authentication failed: Invalid username or password";
        assert!(matches!(&step.failure, Some(Error::Authentication(m)) if m == message));
        // v1: header v0, error 58, message, empty bytes, lifetime 0.
        let mut expected = vec![0, 0, 0, 2, 0, 58, 0, message.len() as u8];
        expected.extend_from_slice(message.as_bytes());
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(step.sends, vec![Bytes::from(expected)]);
        assert!(!server.complete());
        assert!(server.handle_receive(Bytes::new(), now()).is_err());
    }

    #[test]
    fn unsupported_api_versions_is_answered_in_v0() {
        let mut server = new_server();
        // ApiVersions v9 (flexible header v2), correlation 3, no body we could read.
        let frame = Bytes::from_static(&[0, 18, 0, 9, 0, 0, 0, 3, 0, 1, b'c', 0, 0xde, 0xad]);
        let step = server.handle_receive(frame, now()).unwrap();
        assert!(step.failure.is_none());
        let range = apis().range(ApiKey::ApiVersions).unwrap();
        let expected: Vec<u8> = [
            &[0, 0, 0, 3, 0, 35, 0, 0, 0, 1, 0, 18][..],
            &range.min.to_be_bytes(),
            &range.max.to_be_bytes(),
        ]
        .concat();
        assert_eq!(step.sends, vec![Bytes::from(expected)]);
        // The client may try again with a version the broker knows.
        let step = server
            .handle_receive(
                request(ApiKey::ApiVersions, 0, 4, &ApiVersionsRequest::default()),
                now(),
            )
            .unwrap();
        assert!(step.failure.is_none());
        let response: ApiVersionsResponse =
            crate::auth::frames::decode_response(step.sends[0].clone(), ApiKey::ApiVersions, 0, 4)
                .unwrap();
        assert_eq!(response, default_api_versions_response());
    }

    #[test]
    fn invalid_client_software_gets_invalid_request() {
        let mut server = new_server();
        let body = ApiVersionsRequest::default()
            .with_client_software_name("bad name".into())
            .with_client_software_version("1.0".into());
        let step = server
            .handle_receive(request(ApiKey::ApiVersions, 3, 1, &body), now())
            .unwrap();
        assert!(step.failure.is_none());
        let response: ApiVersionsResponse =
            crate::auth::frames::decode_response(step.sends[0].clone(), ApiKey::ApiVersions, 3, 1)
                .unwrap();
        assert_eq!(response.error_code, ErrorCode::InvalidRequest.code());
        assert!(response.api_keys.is_empty());

        let body = body.with_client_software_name("kafka-python".into());
        let step = server
            .handle_receive(request(ApiKey::ApiVersions, 3, 2, &body), now())
            .unwrap();
        assert!(step.failure.is_none());
        assert_eq!(server.client_software(), Some(("kafka-python", "1.0")));
        // A second ApiVersions after a good one is illegal.
        let step = server
            .handle_receive(request(ApiKey::ApiVersions, 3, 3, &body), now())
            .unwrap();
        assert!(step.sends.is_empty());
        assert!(matches!(step.failure, Some(Error::IllegalSaslState(_))));
    }

    #[test]
    fn software_field_pattern() {
        for ok in ["a", "librdkafka", "2.3.0", "apache-kafka-java", "a.b-c9"] {
            assert!(valid_software_field(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", ".", "a b", "a_b", "é"] {
            assert!(!valid_software_field(bad), "{bad}");
        }
    }

    #[test]
    fn unsupported_mechanism_is_answered_then_fails() {
        let mut server = SaslServerAuthenticator::new(config(&[SaslMechanism::ScramSha512]));
        let handshake = SaslHandshakeRequest::default().with_mechanism("PLAIN".into());
        let step = server
            .handle_receive(request(ApiKey::SaslHandshake, 1, 5, &handshake), now())
            .unwrap();
        assert!(matches!(&step.failure, Some(Error::UnsupportedSaslMechanism(m)) if m == "PLAIN"));
        let mut expected = vec![0, 0, 0, 5, 0, 33, 0, 0, 0, 1, 0, 13];
        expected.extend_from_slice(b"SCRAM-SHA-512");
        assert_eq!(step.sends, vec![Bytes::from(expected)]);
    }

    #[test]
    fn other_requests_before_authentication_close_silently() {
        // Metadata v1 (key 3), header v1, empty topic array.
        let metadata = Bytes::from_static(&[0, 3, 0, 1, 0, 0, 0, 1, 0, 1, b'c', 0, 0, 0, 0]);
        let mut server = new_server();
        let step = server.handle_receive(metadata.clone(), now()).unwrap();
        assert!(step.sends.is_empty());
        assert!(
            matches!(&step.failure, Some(Error::IllegalSaslState(m)) if m.contains("Metadata"))
        );

        // After the handshake too.
        let mut server = new_server();
        let handshake = SaslHandshakeRequest::default().with_mechanism("PLAIN".into());
        server
            .handle_receive(request(ApiKey::SaslHandshake, 1, 1, &handshake), now())
            .unwrap();
        let step = server.handle_receive(metadata, now()).unwrap();
        assert!(step.sends.is_empty());
        assert!(matches!(step.failure, Some(Error::IllegalSaslState(_))));

        // A second handshake during authentication gets ILLEGAL_SASL_STATE in its response.
        let mut server = new_server();
        server
            .handle_receive(request(ApiKey::SaslHandshake, 1, 1, &handshake), now())
            .unwrap();
        let step = server
            .handle_receive(request(ApiKey::SaslHandshake, 1, 2, &handshake), now())
            .unwrap();
        assert_eq!(
            step.sends,
            vec![Bytes::from_static(&[0, 0, 0, 2, 0, 34, 0, 0, 0, 0])]
        );
        assert!(matches!(step.failure, Some(Error::IllegalSaslState(_))));
    }

    #[test]
    fn garbage_first_frames_fail_without_a_response() {
        for frame in [
            &b""[..],
            b"\x00",
            b"\x60\x82\x01\x00",                         // a GSSAPI token's start
            b"\x7f\xff\x00\x00\x00\x00\x00\x01",         // unknown API key
            b"\x00\x11\x00\x01\x00\x00",                 // truncated header
            b"\x00\x11\x00\x05\x00\x00\x00\x01\xff\xff", // handshake v5
            b"\x00\x11\x00\x01\x00\x00\x00\x01\xff\xff\x00\x09P", // truncated mechanism
        ] {
            let mut server = new_server();
            let step = server
                .handle_receive(Bytes::from_static(frame), now())
                .unwrap();
            assert!(step.sends.is_empty(), "{frame:?}");
            assert!(step.failure.is_some(), "{frame:?}");
            assert!(!server.complete());
        }
    }

    #[test]
    fn session_lifetime_is_reported_and_kept() {
        let store = InMemoryCredentialStore::new();
        store.add_user("alice", "alice-secret").unwrap();
        let config = SaslServerConfig::new(vec![SaslMechanism::Plain], Arc::new(store), apis())
            .unwrap()
            .with_connections_max_reauth_ms(60_000);
        let mut server = SaslServerAuthenticator::new(Arc::new(config));
        let handshake = SaslHandshakeRequest::default().with_mechanism("PLAIN".into());
        server
            .handle_receive(request(ApiKey::SaslHandshake, 1, 1, &handshake), now())
            .unwrap();
        let auth = SaslAuthenticateRequest::default()
            .with_auth_bytes(Bytes::from_static(b"\0alice\0alice-secret"));
        let t = now();
        let step = server
            .handle_receive(request(ApiKey::SaslAuthenticate, 1, 2, &auth), t)
            .unwrap();
        let response: SaslAuthenticateResponse = crate::auth::frames::decode_response(
            step.sends[0].clone(),
            ApiKey::SaslAuthenticate,
            1,
            2,
        )
        .unwrap();
        assert_eq!(response.session_lifetime_ms, 60_000);
        assert_eq!(
            server.session_expiration(),
            Some(t + Duration::from_secs(60))
        );
    }

    #[test]
    fn config_needs_a_mechanism() {
        let store: Arc<dyn CredentialStore> = Arc::new(InMemoryCredentialStore::new());
        assert!(matches!(
            SaslServerConfig::new(vec![], store.clone(), apis()),
            Err(Error::Config(_))
        ));
        let config = SaslServerConfig::new(
            vec![
                SaslMechanism::Plain,
                SaslMechanism::Plain,
                SaslMechanism::ScramSha512,
            ],
            store,
            apis(),
        )
        .unwrap();
        assert_eq!(
            config.enabled_mechanisms(),
            &[SaslMechanism::Plain, SaslMechanism::ScramSha512]
        );
    }
}
