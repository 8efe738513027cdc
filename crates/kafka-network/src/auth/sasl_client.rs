//! The client's side of SASL (Kafka's `SaslClientAuthenticator`).
//!
//! Like Kafka's client authenticator it first sends an ApiVersions v0 request (v0 because a
//! broker treats a request it cannot parse as a GSSAPI token) and uses the broker's answer to
//! choose the SaslHandshake and SaslAuthenticate versions; this can be turned off with
//! [`SaslClientConfig::with_api_versions_request`], and the handshake is then v1 with
//! SaslAuthenticate v2. It then sends SaslHandshake with its mechanism and exchanges the
//! mechanism's tokens: inside SaslAuthenticate requests after handshake v1, raw after
//! handshake v0 (a broker that advertises no SaslAuthenticate). A refusal from the broker
//! becomes [`Error::Authentication`] with the broker's message,
//! [`Error::UnsupportedSaslMechanism`] or [`Error::IllegalSaslState`], reported as
//! [`AuthStep::failure`].
//!
//! The broker's ApiVersions response is kept ([`SaslClientAuthenticator::api_versions_response`])
//! so the network client need not ask again.

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::{ApiKey, ErrorCode};

use crate::auth::frames::{decode_response, encode_request};
use crate::auth::mechanism::{ClientMechanism, SaslMechanism};
use crate::auth::plain::PlainClient;
use crate::auth::scram::ScramClient;
use crate::auth::{AuthStep, Authenticator};
use crate::error::{Error, Result};
use crate::principal::KafkaPrincipal;

/// A client's SASL settings (`sasl.mechanism` and the user's credentials).
#[derive(Clone)]
pub struct SaslClientConfig {
    mechanism: SaslMechanism,
    username: String,
    password: String,
    client_id: Option<String>,
    send_api_versions: bool,
}

impl fmt::Debug for SaslClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslClientConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("client_id", &self.client_id)
            .field("send_api_versions", &self.send_api_versions)
            .finish_non_exhaustive()
    }
}

impl SaslClientConfig {
    /// Authenticates as `username` with `password` using `mechanism`; sends ApiVersions
    /// first; no client id.
    pub fn new(
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        SaslClientConfig {
            mechanism,
            username: username.into(),
            password: password.into(),
            client_id: None,
            send_api_versions: true,
        }
    }

    /// The `client.id` put in the request headers.
    pub fn with_client_id(mut self, client_id: Option<String>) -> Self {
        self.client_id = client_id;
        self
    }

    /// Whether to send ApiVersions before the handshake (default true, as Kafka's client).
    pub fn with_api_versions_request(mut self, send: bool) -> Self {
        self.send_api_versions = send;
        self
    }

    /// The mechanism.
    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotStarted,
    AwaitApiVersions {
        correlation_id: i32,
    },
    AwaitHandshake {
        correlation_id: i32,
    },
    /// Waiting for the server's next token; `correlation_id` is set when it comes in a
    /// SaslAuthenticate response.
    AwaitToken {
        correlation_id: Option<i32>,
    },
    Complete,
    Failed,
}

/// The client side of a SASL connection. Pure logic: frames and the time in, frames out.
#[derive(Debug)]
pub struct SaslClientAuthenticator {
    config: SaslClientConfig,
    exchange: Box<dyn ClientMechanism>,
    state: State,
    next_correlation_id: i32,
    handshake_version: i16,
    /// `None`: tokens travel raw (after handshake v0).
    authenticate_version: Option<i16>,
    api_versions: Option<ApiVersionsResponse>,
    session_lifetime_ms: i64,
    session_expiration: Option<Instant>,
    reauthentication_time: Option<Instant>,
}

impl SaslClientAuthenticator {
    /// A client authenticator for one connection. Fails with [`Error::Config`] if the
    /// credentials cannot be used with the mechanism (empty user name, NUL in PLAIN).
    pub fn new(config: SaslClientConfig) -> Result<Self> {
        let exchange: Box<dyn ClientMechanism> = match config.mechanism.scram() {
            Some(scram) => Box::new(ScramClient::new(scram, &config.username, &config.password)?),
            None => Box::new(PlainClient::new(&config.username, &config.password)?),
        };
        let authenticate_max = ApiKey::SaslAuthenticate.valid_versions().max;
        Ok(SaslClientAuthenticator {
            config,
            exchange,
            state: State::NotStarted,
            next_correlation_id: 0,
            handshake_version: 1,
            authenticate_version: Some(authenticate_max),
            api_versions: None,
            session_lifetime_ms: 0,
            session_expiration: None,
            reauthentication_time: None,
        })
    }

    /// The broker's ApiVersions response, once received.
    pub fn api_versions_response(&self) -> Option<&ApiVersionsResponse> {
        self.api_versions.as_ref()
    }

    /// The SaslHandshake version in use.
    pub fn handshake_version(&self) -> i16 {
        self.handshake_version
    }

    /// The SaslAuthenticate version in use, or `None` when tokens travel raw.
    pub fn authenticate_version(&self) -> Option<i16> {
        self.authenticate_version
    }

    /// The session lifetime the broker granted (KIP-368), if it set one.
    pub fn session_lifetime(&self) -> Option<Duration> {
        u64::try_from(self.session_lifetime_ms)
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
    }

    /// When to re-authenticate: like Kafka's client, at a random point between 85% and 95% of
    /// the session lifetime, so that many connections do not re-authenticate at once.
    pub fn reauthentication_time(&self) -> Option<Instant> {
        self.reauthentication_time
    }

    fn correlation_id(&mut self) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        id
    }

    fn request<M: kafka_protocol::Encodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &M,
    ) -> Result<(Bytes, i32)> {
        let correlation_id = self.correlation_id();
        let frame = encode_request(
            api_key,
            version,
            correlation_id,
            self.config.client_id.as_deref(),
            body,
        )?;
        Ok((frame, correlation_id))
    }

    fn send_handshake(&mut self) -> Result<Vec<Bytes>> {
        let body = SaslHandshakeRequest::default()
            .with_mechanism(self.config.mechanism.name().to_string());
        let (frame, correlation_id) =
            self.request(ApiKey::SaslHandshake, self.handshake_version, &body)?;
        self.state = State::AwaitHandshake { correlation_id };
        Ok(vec![frame])
    }

    fn send_token(&mut self, token: Vec<u8>) -> Result<Vec<Bytes>> {
        match self.authenticate_version {
            Some(version) => {
                let body = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
                let (frame, correlation_id) =
                    self.request(ApiKey::SaslAuthenticate, version, &body)?;
                self.state = State::AwaitToken {
                    correlation_id: Some(correlation_id),
                };
                Ok(vec![frame])
            }
            None => {
                self.state = State::AwaitToken {
                    correlation_id: None,
                };
                Ok(vec![Bytes::from(token)])
            }
        }
    }

    fn on_api_versions(&mut self, frame: Bytes, correlation_id: i32) -> Result<Vec<Bytes>> {
        let response: ApiVersionsResponse =
            decode_response(frame, ApiKey::ApiVersions, 0, correlation_id)?;
        if response.error_code != 0 {
            return Err(Error::IllegalSaslState(format!(
                "ApiVersions request failed with {}",
                ErrorCode::from_code(response.error_code).name()
            )));
        }
        let range_of = |key: ApiKey| {
            response
                .api_keys
                .iter()
                .find(|k| k.api_key == key.id())
                .map(|k| (k.min_version, k.max_version))
        };
        let ours = ApiKey::SaslHandshake.valid_versions();
        let (min, max) = range_of(ApiKey::SaslHandshake).ok_or_else(|| {
            Error::IllegalSaslState("the broker does not support SaslHandshake".into())
        })?;
        let version = max.min(ours.max);
        if version < min.max(ours.min) {
            return Err(Error::IllegalSaslState(format!(
                "no common SaslHandshake version (broker {min}..={max}, client {}..={})",
                ours.min, ours.max
            )));
        }
        self.handshake_version = version;
        self.authenticate_version = if version >= 1 {
            let ours = ApiKey::SaslAuthenticate.valid_versions();
            Some(match range_of(ApiKey::SaslAuthenticate) {
                Some((_, max)) => max.clamp(ours.min, ours.max),
                None => ours.min,
            })
        } else {
            None
        };
        self.api_versions = Some(response);
        self.send_handshake()
    }

    fn on_handshake(&mut self, frame: Bytes, correlation_id: i32) -> Result<Vec<Bytes>> {
        let response: SaslHandshakeResponse = decode_response(
            frame,
            ApiKey::SaslHandshake,
            self.handshake_version,
            correlation_id,
        )?;
        let mechanism = self.config.mechanism;
        match ErrorCode::from_code(response.error_code) {
            ErrorCode::None => {}
            ErrorCode::UnsupportedSaslMechanism => {
                return Err(Error::UnsupportedSaslMechanism(format!(
                    "{mechanism} (not enabled in the broker, enabled mechanisms are {:?})",
                    response.mechanisms
                )));
            }
            ErrorCode::IllegalSaslState => {
                return Err(Error::IllegalSaslState(format!(
                    "Unexpected handshake request with client mechanism {mechanism}, enabled mechanisms are {:?}",
                    response.mechanisms
                )));
            }
            other => {
                return Err(Error::IllegalSaslState(format!(
                    "Unknown error code {}, client mechanism is {mechanism}, enabled mechanisms are {:?}",
                    other.name(),
                    response.mechanisms
                )));
            }
        }
        if self.handshake_version == 0 {
            self.authenticate_version = None;
        }
        let token = self.exchange.initial()?;
        self.send_token(token)
    }

    fn on_token(
        &mut self,
        frame: Bytes,
        correlation_id: Option<i32>,
        now: Instant,
    ) -> Result<Vec<Bytes>> {
        let token = match (correlation_id, self.authenticate_version) {
            (Some(correlation_id), Some(version)) => {
                let response: SaslAuthenticateResponse =
                    decode_response(frame, ApiKey::SaslAuthenticate, version, correlation_id)?;
                let code = ErrorCode::from_code(response.error_code);
                if code != ErrorCode::None {
                    let message = response
                        .error_message
                        .unwrap_or_else(|| code.message().to_string());
                    return Err(match code {
                        ErrorCode::IllegalSaslState => Error::IllegalSaslState(message),
                        ErrorCode::SaslAuthenticationFailed => Error::Authentication(message),
                        other => Error::Authentication(format!("{}: {message}", other.name())),
                    });
                }
                if response.session_lifetime_ms > 0 {
                    self.session_lifetime_ms = response.session_lifetime_ms;
                }
                response.auth_bytes
            }
            _ => frame,
        };
        if self.exchange.is_complete() {
            self.finish(now);
            return Ok(Vec::new());
        }
        match self.exchange.respond(&token)? {
            Some(next) => self.send_token(next),
            None => {
                self.finish(now);
                Ok(Vec::new())
            }
        }
    }

    fn finish(&mut self, now: Instant) {
        self.state = State::Complete;
        let Some(lifetime) = self.session_lifetime() else {
            return;
        };
        self.session_expiration = now.checked_add(lifetime);
        let mut random = [0u8; 2];
        let jitter = match getrandom::getrandom(&mut random) {
            Ok(()) => f64::from(u16::from_be_bytes(random)) / f64::from(u16::MAX),
            Err(_) => 0.5,
        };
        self.reauthentication_time = now.checked_add(lifetime.mul_f64(0.85 + 0.10 * jitter));
    }
}

impl Authenticator for SaslClientAuthenticator {
    fn start(&mut self, _now: Instant) -> Result<Vec<Bytes>> {
        if self.state != State::NotStarted {
            return Err(Error::IllegalSaslState(
                "SASL client already started".into(),
            ));
        }
        if self.config.send_api_versions {
            let (frame, correlation_id) =
                self.request(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())?;
            self.state = State::AwaitApiVersions { correlation_id };
            Ok(vec![frame])
        } else {
            self.send_handshake()
        }
    }

    fn handle_receive(&mut self, frame: Bytes, now: Instant) -> Result<AuthStep> {
        let result = match std::mem::replace(&mut self.state, State::Failed) {
            State::AwaitApiVersions { correlation_id } => {
                self.on_api_versions(frame, correlation_id)
            }
            State::AwaitHandshake { correlation_id } => self.on_handshake(frame, correlation_id),
            State::AwaitToken { correlation_id } => self.on_token(frame, correlation_id, now),
            state @ (State::NotStarted | State::Complete) => {
                self.state = state;
                return Err(Error::IllegalSaslState(format!(
                    "unexpected frame from the broker in SASL state {state:?}"
                )));
            }
            State::Failed => {
                return Err(Error::IllegalSaslState(
                    "SASL authentication has already failed".into(),
                ));
            }
        };
        match result {
            Ok(sends) => Ok(AuthStep::send(sends)),
            Err(error) => {
                self.state = State::Failed;
                Ok(AuthStep {
                    sends: Vec::new(),
                    failure: Some(error),
                })
            }
        }
    }

    fn complete(&self) -> bool {
        self.state == State::Complete
    }

    fn principal(&self) -> Option<KafkaPrincipal> {
        self.complete()
            .then(|| KafkaPrincipal::user(self.config.username.clone()))
    }

    fn session_expiration(&self) -> Option<Instant> {
        self.session_expiration
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::frames::encode_response;

    fn now() -> Instant {
        Instant::now()
    }

    #[test]
    fn sends_api_versions_v0_then_the_handshake() {
        let config = SaslClientConfig::new(SaslMechanism::Plain, "alice", "alice-secret")
            .with_client_id(Some("c".into()));
        let mut client = SaslClientAuthenticator::new(config).unwrap();
        let sends = client.start(now()).unwrap();
        // ApiVersions v0, header v1, correlation 0, client id "c", empty body.
        assert_eq!(
            sends,
            vec![Bytes::from_static(&[0, 18, 0, 0, 0, 0, 0, 0, 0, 1, b'c'])]
        );
        assert!(client.start(now()).is_err());

        let versions = ApiVersionsResponse::default().with_api_keys(
            crate::AdvertisedApis::new(ApiKey::ALL.into_iter().map(|k| (k, k.valid_versions())))
                .entries(),
        );
        let reply = encode_response(ApiKey::ApiVersions, 0, 0, &versions).unwrap();
        let step = client.handle_receive(reply, now()).unwrap();
        assert!(step.failure.is_none());
        // SaslHandshake v1, correlation 1, mechanism PLAIN.
        assert_eq!(
            step.sends,
            vec![Bytes::from_static(&[
                0, 17, 0, 1, 0, 0, 0, 1, 0, 1, b'c', 0, 5, b'P', b'L', b'A', b'I', b'N'
            ])]
        );
        assert_eq!(client.handshake_version(), 1);
        assert_eq!(client.authenticate_version(), Some(2));
        assert_eq!(client.api_versions_response(), Some(&versions));

        let handshake = SaslHandshakeResponse::default().with_mechanisms(vec!["PLAIN".into()]);
        let step = client
            .handle_receive(
                encode_response(ApiKey::SaslHandshake, 1, 1, &handshake).unwrap(),
                now(),
            )
            .unwrap();
        // SaslAuthenticate v2, header v2, correlation 2, compact bytes.
        let mut expected = vec![0, 36, 0, 2, 0, 0, 0, 2, 0, 1, b'c', 0, 20];
        expected.extend_from_slice(b"\0alice\0alice-secret");
        expected.push(0);
        assert_eq!(step.sends, vec![Bytes::from(expected)]);
        assert!(!client.complete());

        let t = now();
        let done = SaslAuthenticateResponse::default().with_session_lifetime_ms(10_000);
        let step = client
            .handle_receive(
                encode_response(ApiKey::SaslAuthenticate, 2, 2, &done).unwrap(),
                t,
            )
            .unwrap();
        assert!(step.sends.is_empty() && step.failure.is_none());
        assert!(client.complete());
        assert_eq!(client.principal(), Some(KafkaPrincipal::user("alice")));
        assert_eq!(client.session_lifetime(), Some(Duration::from_secs(10)));
        assert_eq!(
            client.session_expiration(),
            Some(t + Duration::from_secs(10))
        );
        let reauth = client.reauthentication_time().unwrap();
        assert!(
            reauth >= t + Duration::from_millis(8_500)
                && reauth <= t + Duration::from_millis(9_500)
        );
        assert!(client.handle_receive(Bytes::new(), t).is_err());
    }

    #[test]
    fn reports_the_brokers_error_message() {
        let config = SaslClientConfig::new(SaslMechanism::Plain, "alice", "x")
            .with_api_versions_request(false);
        let mut client = SaslClientAuthenticator::new(config).unwrap();
        assert_eq!(client.start(now()).unwrap().len(), 1);
        let handshake = SaslHandshakeResponse::default();
        client
            .handle_receive(
                encode_response(ApiKey::SaslHandshake, 1, 0, &handshake).unwrap(),
                now(),
            )
            .unwrap();
        let refused = SaslAuthenticateResponse::default()
            .with_error_code(58)
            .with_error_message(Some(
                "Authentication failed: Invalid username or password".into(),
            ));
        let step = client
            .handle_receive(
                encode_response(ApiKey::SaslAuthenticate, 2, 1, &refused).unwrap(),
                now(),
            )
            .unwrap();
        assert!(matches!(
            step.failure,
            Some(Error::Authentication(m)) if m == "Authentication failed: Invalid username or password"
        ));
        assert!(!client.complete());
    }

    #[test]
    fn rejects_mismatched_or_garbled_responses() {
        let config = SaslClientConfig::new(SaslMechanism::ScramSha256, "alice", "x");
        for reply in [
            Bytes::new(),
            Bytes::from_static(&[0, 0, 0, 9, 0, 0, 0, 0, 0, 0]), // wrong correlation id
            Bytes::from_static(&[0, 0, 0, 0, 0, 35, 0, 0, 0, 0]), // UNSUPPORTED_VERSION
            Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), // no SaslHandshake
            Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]), // huge array
        ] {
            let mut client = SaslClientAuthenticator::new(config.clone()).unwrap();
            client.start(now()).unwrap();
            let step = client.handle_receive(reply.clone(), now()).unwrap();
            assert!(step.sends.is_empty(), "{reply:?}");
            assert!(step.failure.is_some(), "{reply:?}");
        }
    }

    #[test]
    fn handshake_v0_brokers_get_raw_tokens() {
        let config = SaslClientConfig::new(SaslMechanism::Plain, "alice", "alice-secret");
        let mut client = SaslClientAuthenticator::new(config).unwrap();
        client.start(now()).unwrap();
        let versions = ApiVersionsResponse::default().with_api_keys(vec![
            kafka_protocol::messages::api_versions_response::ApiVersion::default()
                .with_api_key(17)
                .with_min_version(0)
                .with_max_version(0),
        ]);
        let step = client
            .handle_receive(
                encode_response(ApiKey::ApiVersions, 0, 0, &versions).unwrap(),
                now(),
            )
            .unwrap();
        assert_eq!(step.sends[0][..4], [0, 17, 0, 0]);
        let step = client
            .handle_receive(
                encode_response(
                    ApiKey::SaslHandshake,
                    0,
                    1,
                    &SaslHandshakeResponse::default(),
                )
                .unwrap(),
                now(),
            )
            .unwrap();
        assert_eq!(
            step.sends,
            vec![Bytes::from_static(b"\0alice\0alice-secret")]
        );
        assert_eq!(client.authenticate_version(), None);
        let step = client.handle_receive(Bytes::new(), now()).unwrap();
        assert!(step.sends.is_empty() && step.failure.is_none());
        assert!(client.complete());
    }

    #[test]
    fn debug_output_hides_the_password() {
        let config = SaslClientConfig::new(SaslMechanism::Plain, "alice", "hunter2");
        assert!(!format!("{config:?}").contains("hunter2"));
        let client = SaslClientAuthenticator::new(config).unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
    }
}
