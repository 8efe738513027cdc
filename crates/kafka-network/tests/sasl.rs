//! SASL authenticators end to end: a client authenticator against a server authenticator,
//! frames passed between them in memory, time simulated.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_network::auth::{
    Authenticator, CredentialStore, InMemoryCredentialStore, SaslClientAuthenticator,
    SaslClientConfig, SaslMechanism, SaslServerAuthenticator, SaslServerConfig,
};
use kafka_network::{AdvertisedApis, Error, KafkaPrincipal};
use kafka_protocol::messages::metadata_request::MetadataRequest;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, ProduceRequest};
use kafka_protocol::{ApiKey, Decodable, Encodable, ErrorCode, RequestHeader, ResponseHeader};
use proptest::prelude::*;

const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";

/// One store for every test: deriving SCRAM keys is slow in debug builds.
fn store() -> Arc<dyn CredentialStore> {
    static STORE: OnceLock<Arc<InMemoryCredentialStore>> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let store = InMemoryCredentialStore::new();
            store.add_user(USER, PASSWORD).unwrap();
            Arc::new(store)
        })
        .clone()
}

/// What a broker hands down: here every API with its codec range.
fn apis() -> AdvertisedApis {
    AdvertisedApis::new(ApiKey::ALL.into_iter().map(|k| (k, k.valid_versions())))
}

fn api_version_entry(key: ApiKey) -> kafka_protocol::messages::api_versions_response::ApiVersion {
    apis().entry(key).unwrap()
}

fn default_api_versions_response() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(apis().entries())
}

fn server_config(mechanisms: &[SaslMechanism]) -> SaslServerConfig {
    SaslServerConfig::new(mechanisms.to_vec(), store(), apis()).unwrap()
}

fn all_mechanisms() -> SaslServerConfig {
    server_config(&SaslMechanism::ALL)
}

fn client_config(mechanism: SaslMechanism, user: &str, password: &str) -> SaslClientConfig {
    SaslClientConfig::new(mechanism, user, password).with_client_id(Some("sasl-test".into()))
}

/// Who sent a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// A client and a server authenticator joined by two in-memory queues.
struct Pair {
    client: SaslClientAuthenticator,
    server: SaslServerAuthenticator,
    now: Instant,
    to_server: VecDeque<Bytes>,
    to_client: VecDeque<Bytes>,
    /// Every frame delivered, in order.
    log: Vec<(Side, Bytes)>,
    client_failure: Option<Error>,
    server_failure: Option<Error>,
}

impl Pair {
    fn new(client: SaslClientConfig, server: SaslServerConfig) -> Self {
        Pair {
            client: SaslClientAuthenticator::new(client).unwrap(),
            server: SaslServerAuthenticator::new(Arc::new(server)),
            now: Instant::now(),
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            log: Vec::new(),
            client_failure: None,
            server_failure: None,
        }
    }

    /// Delivers one frame; false when nothing is left to deliver. A side that failed has
    /// closed the connection: frames still queued for it are dropped, but what it sent before
    /// failing (Kafka's error response) still reaches the other side.
    fn step(&mut self) -> bool {
        if self.server_failure.is_none() && self.client_failure.is_none() {
            if let Some(frame) = self.to_server.pop_front() {
                self.log.push((Side::Client, frame.clone()));
                let step = self.server.handle_receive(frame, self.now).unwrap();
                self.to_client.extend(step.sends);
                self.server_failure = step.failure;
                return true;
            }
        }
        if self.client_failure.is_none() {
            if let Some(frame) = self.to_client.pop_front() {
                self.log.push((Side::Server, frame.clone()));
                let step = self.client.handle_receive(frame, self.now).unwrap();
                self.to_server.extend(step.sends);
                self.client_failure = step.failure;
                return true;
            }
        }
        false
    }

    /// Starts the client and delivers frames until none is left.
    fn drive(&mut self) -> &mut Self {
        let first = self.client.start(self.now).unwrap();
        self.to_server.extend(first);
        assert!(self.server.start(self.now).unwrap().is_empty());
        for _ in 0..32 {
            if !self.step() {
                return self;
            }
        }
        panic!("the exchange did not settle: {:?}", self.log);
    }

    fn assert_success(&self) {
        assert!(
            self.client_failure.is_none(),
            "client: {:?}",
            self.client_failure
        );
        assert!(
            self.server_failure.is_none(),
            "server: {:?}",
            self.server_failure
        );
        assert!(self.client.complete());
        assert!(self.server.complete());
        assert_eq!(self.server.principal(), Some(KafkaPrincipal::user(USER)));
        assert_eq!(self.server.principal().unwrap().to_string(), "User:alice");
        assert_eq!(self.client.principal(), Some(KafkaPrincipal::user(USER)));
    }

    fn api_keys_sent(&self) -> Vec<i16> {
        self.log
            .iter()
            .filter(|(from, _)| *from == Side::Client)
            .map(|(_, frame)| i16::from_be_bytes([frame[0], frame[1]]))
            .collect()
    }
}

fn request<M: Encodable>(key: ApiKey, version: i16, correlation_id: i32, body: &M) -> Bytes {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key.id())
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some("raw".into()))
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    buf.freeze()
}

fn decode_response<M: Decodable>(mut frame: Bytes, key: ApiKey, version: i16) -> (i32, M) {
    let header = ResponseHeader::decode(&mut frame, key.response_header_version(version)).unwrap();
    let body = M::decode(&mut frame, version).unwrap();
    assert!(frame.is_empty(), "trailing bytes");
    (header.correlation_id, body)
}

fn wrong_credentials_message(mechanism: SaslMechanism) -> String {
    match mechanism {
        SaslMechanism::Plain => "Authentication failed: Invalid username or password".to_string(),
        other => format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {other}"
        ),
    }
}

#[test]
fn each_mechanism_authenticates() {
    for mechanism in SaslMechanism::ALL {
        for send_api_versions in [true, false] {
            let client = client_config(mechanism, USER, PASSWORD)
                .with_api_versions_request(send_api_versions);
            let mut pair = Pair::new(client, all_mechanisms());
            pair.drive().assert_success();
            assert_eq!(pair.server.mechanism(), Some(mechanism));
            let mut expected = if send_api_versions { vec![18] } else { vec![] };
            expected.push(17);
            // PLAIN: one SaslAuthenticate; SCRAM: two.
            expected.extend(std::iter::repeat_n(
                36,
                if mechanism == SaslMechanism::Plain {
                    1
                } else {
                    2
                },
            ));
            assert_eq!(pair.api_keys_sent(), expected, "{mechanism}");
            assert_eq!(pair.client.handshake_version(), 1);
            assert_eq!(pair.client.authenticate_version(), Some(2));
            // No lifetime unless connections.max.reauth.ms is set.
            assert_eq!(pair.server.session_expiration(), None);
            assert_eq!(pair.client.session_lifetime(), None);
        }
    }
}

#[test]
fn wrong_password_is_refused_with_kafkas_message() {
    for mechanism in SaslMechanism::ALL {
        let mut pair = Pair::new(
            client_config(mechanism, USER, "not-the-password"),
            all_mechanisms(),
        );
        pair.drive();
        let expected = wrong_credentials_message(mechanism);
        assert!(
            matches!(&pair.server_failure, Some(Error::Authentication(m)) if *m == expected),
            "{mechanism}: {:?}",
            pair.server_failure
        );
        // The client got the SaslAuthenticateResponse with the same message.
        assert!(
            matches!(&pair.client_failure, Some(Error::Authentication(m)) if *m == expected),
            "{mechanism}: {:?}",
            pair.client_failure
        );
        assert!(!pair.client.complete() && !pair.server.complete());
        assert_eq!(pair.server.principal(), None);
        let (_, last) = pair.log.last().unwrap();
        let (_, response): (i32, kafka_protocol::messages::SaslAuthenticateResponse) =
            decode_response(last.clone(), ApiKey::SaslAuthenticate, 2);
        assert_eq!(
            response.error_code,
            ErrorCode::SaslAuthenticationFailed.code()
        );
        assert_eq!(response.error_message.as_deref(), Some(expected.as_str()));
    }
}

#[test]
fn unknown_user_is_refused() {
    for mechanism in SaslMechanism::ALL {
        let mut pair = Pair::new(
            client_config(mechanism, "mallory", PASSWORD),
            all_mechanisms(),
        );
        pair.drive();
        let expected = wrong_credentials_message(mechanism);
        assert!(
            matches!(&pair.server_failure, Some(Error::Authentication(m)) if *m == expected),
            "{mechanism}: {:?}",
            pair.server_failure
        );
        assert!(matches!(&pair.client_failure, Some(Error::Authentication(m)) if *m == expected));
        assert!(!pair.server.complete());
    }
}

#[test]
fn unsupported_mechanism_is_refused_after_the_handshake_response() {
    for (enabled, asked) in [
        (SaslMechanism::ScramSha512, SaslMechanism::Plain),
        (SaslMechanism::Plain, SaslMechanism::ScramSha256),
    ] {
        let mut pair = Pair::new(
            client_config(asked, USER, PASSWORD),
            server_config(&[enabled]),
        );
        pair.drive();
        assert!(
            matches!(&pair.server_failure, Some(Error::UnsupportedSaslMechanism(m)) if m == asked.name()),
            "{:?}",
            pair.server_failure
        );
        match &pair.client_failure {
            Some(Error::UnsupportedSaslMechanism(m)) => {
                assert!(
                    m.contains(asked.name()) && m.contains(enabled.name()),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        let (_, last) = pair.log.last().unwrap();
        let (_, response): (i32, kafka_protocol::messages::SaslHandshakeResponse) =
            decode_response(last.clone(), ApiKey::SaslHandshake, 1);
        assert_eq!(
            response.error_code,
            ErrorCode::UnsupportedSaslMechanism.code()
        );
        assert_eq!(response.mechanisms, vec![enabled.name().to_string()]);
    }
}

#[test]
fn application_requests_before_authentication_are_rejected() {
    let metadata = request(ApiKey::Metadata, 12, 1, &MetadataRequest::default());
    let produce = request(ApiKey::Produce, 9, 1, &ProduceRequest::default());
    let now = Instant::now();
    let handshake = |version| {
        request(
            ApiKey::SaslHandshake,
            version,
            0,
            &kafka_protocol::messages::SaslHandshakeRequest::default()
                .with_mechanism("PLAIN".into()),
        )
    };
    let api_versions = request(ApiKey::ApiVersions, 3, 0, &ApiVersionsRequest::default());
    // Before anything, after ApiVersions, after a v1 handshake, after a v0 handshake.
    let preludes: [Vec<Bytes>; 4] = [
        vec![],
        vec![api_versions],
        vec![handshake(1)],
        vec![handshake(0)],
    ];
    for prelude in preludes {
        for frame in [&metadata, &produce] {
            let mut server = SaslServerAuthenticator::new(Arc::new(all_mechanisms()));
            for f in &prelude {
                let step = server.handle_receive(f.clone(), now).unwrap();
                assert!(step.failure.is_none());
            }
            let step = server.handle_receive(frame.clone(), now).unwrap();
            assert!(step.sends.is_empty(), "nothing is answered");
            assert!(step.failure.is_some(), "the connection closes");
            assert!(!server.complete());
            assert_eq!(server.principal(), None);
            // And nothing more is accepted.
            assert!(server.handle_receive(frame.clone(), now).is_err());
        }
    }
    // Before anything, the error says why.
    let mut server = SaslServerAuthenticator::new(Arc::new(all_mechanisms()));
    let step = server.handle_receive(metadata, now).unwrap();
    assert!(matches!(
        step.failure,
        Some(Error::IllegalSaslState(m)) if m == "Unexpected Kafka request of type Metadata during SASL handshake."
    ));
}

/// A broker whose ApiVersions advertises SaslHandshake v0 only and no SaslAuthenticate, as
/// before Kafka 1.0: the client falls back to handshake v0 and raw tokens.
fn handshake_v0_server() -> SaslServerConfig {
    let versions = ApiVersionsResponse::default().with_api_keys(vec![
        api_version_entry(ApiKey::ApiVersions),
        kafka_protocol::messages::api_versions_response::ApiVersion::default()
            .with_api_key(ApiKey::SaslHandshake.id())
            .with_min_version(0)
            .with_max_version(0),
    ]);
    all_mechanisms().with_api_versions_response(versions)
}

#[test]
fn handshake_v0_exchanges_raw_tokens() {
    for mechanism in SaslMechanism::ALL {
        let mut pair = Pair::new(
            client_config(mechanism, USER, PASSWORD),
            handshake_v0_server(),
        );
        pair.drive().assert_success();
        assert_eq!(pair.client.handshake_version(), 0);
        assert_eq!(pair.client.authenticate_version(), None);
        // ApiVersions, SaslHandshake v0, then tokens without a Kafka header.
        let (from, handshake) = &pair.log[2];
        assert_eq!(*from, Side::Client);
        assert_eq!(handshake[..4], [0, 17, 0, 0]);
        let (from, first_token) = &pair.log[4];
        assert_eq!(*from, Side::Client);
        match mechanism {
            SaslMechanism::Plain => {
                assert_eq!(&first_token[..], b"\0alice\0alice-secret");
                // Kafka's server answers PLAIN with an empty token.
                assert_eq!(pair.log.len(), 6);
                assert!(pair.log[5].1.is_empty());
            }
            _ => {
                assert!(first_token.starts_with(b"n,,n=alice,r="), "{first_token:?}");
                assert!(pair.log[5].1.starts_with(b"r="));
                assert!(pair.log[6].1.starts_with(b"c=biws,r="));
                assert!(pair.log[7].1.starts_with(b"v="));
            }
        }
    }
}

#[test]
fn handshake_v0_failure_just_closes() {
    for mechanism in SaslMechanism::ALL {
        let mut pair = Pair::new(
            client_config(mechanism, USER, "wrong"),
            handshake_v0_server(),
        );
        pair.drive();
        assert!(
            matches!(pair.server_failure, Some(Error::Authentication(_))),
            "{mechanism}"
        );
        // No response: the client is left waiting until the connection closes.
        assert!(pair.client_failure.is_none());
        assert!(!pair.client.complete());
        assert_eq!(pair.log.last().unwrap().0, Side::Client);
    }
}

#[test]
fn api_versions_before_the_handshake() {
    let now = Instant::now();
    let custom = default_api_versions_response().with_throttle_time_ms(0);
    let supplied = custom.clone();
    let config = all_mechanisms().with_api_versions(move |_version| supplied.clone());
    let mut server = SaslServerAuthenticator::new(Arc::new(config.clone()));

    // An ApiVersions version the broker does not know: answered in v0 with UNSUPPORTED_VERSION
    // and the ApiVersions range; the client may try again.
    let mut unknown = BytesMut::new();
    unknown.extend_from_slice(&[0, 18, 0x7f, 0x00, 0, 0, 0, 42, 0xff, 0xff, 0, 1, 2, 3]);
    let step = server.handle_receive(unknown.freeze(), now).unwrap();
    assert!(step.failure.is_none());
    let (correlation_id, response): (i32, ApiVersionsResponse) =
        decode_response(step.sends[0].clone(), ApiKey::ApiVersions, 0);
    assert_eq!(correlation_id, 42);
    assert_eq!(response.error_code, ErrorCode::UnsupportedVersion.code());
    assert_eq!(
        response.api_keys,
        vec![api_version_entry(ApiKey::ApiVersions)]
    );

    // v3 (flexible body, response header still v0) with client software.
    let body = ApiVersionsRequest::default()
        .with_client_software_name("apache-kafka-java".into())
        .with_client_software_version("4.1.0".into());
    let step = server
        .handle_receive(request(ApiKey::ApiVersions, 3, 43, &body), now)
        .unwrap();
    assert!(step.failure.is_none());
    let frame = step.sends[0].clone();
    assert_eq!(frame[..4], [0, 0, 0, 43]);
    let (_, response): (i32, ApiVersionsResponse) = decode_response(frame, ApiKey::ApiVersions, 3);
    assert_eq!(response, custom);
    assert_eq!(
        server.client_software(),
        Some(("apache-kafka-java", "4.1.0"))
    );

    // Then the handshake and authentication go on as usual.
    let handshake =
        kafka_protocol::messages::SaslHandshakeRequest::default().with_mechanism("PLAIN".into());
    let step = server
        .handle_receive(request(ApiKey::SaslHandshake, 1, 44, &handshake), now)
        .unwrap();
    assert!(step.failure.is_none());
    let auth = kafka_protocol::messages::SaslAuthenticateRequest::default()
        .with_auth_bytes(Bytes::from_static(b"\0alice\0alice-secret"));
    let step = server
        .handle_receive(request(ApiKey::SaslAuthenticate, 2, 45, &auth), now)
        .unwrap();
    assert!(step.failure.is_none());
    assert!(server.complete());

    // The client authenticator keeps the broker's answer for the network client.
    let mut pair = Pair::new(
        client_config(SaslMechanism::ScramSha512, USER, PASSWORD),
        config,
    );
    pair.drive().assert_success();
    assert_eq!(pair.client.api_versions_response(), Some(&custom));
}

#[test]
fn session_lifetime_is_reported() {
    for mechanism in SaslMechanism::ALL {
        let config = all_mechanisms().with_connections_max_reauth_ms(30_000);
        let mut pair = Pair::new(client_config(mechanism, USER, PASSWORD), config);
        pair.drive().assert_success();
        let expiry = pair.now + Duration::from_secs(30);
        assert_eq!(pair.server.session_expiration(), Some(expiry));
        assert_eq!(
            pair.client.session_lifetime(),
            Some(Duration::from_secs(30))
        );
        assert_eq!(pair.client.session_expiration(), Some(expiry));
        let reauth = pair.client.reauthentication_time().unwrap();
        assert!(
            reauth >= pair.now + Duration::from_millis(25_500)
                && reauth <= pair.now + Duration::from_millis(28_500)
        );
        assert!(pair.server.client_supports_reauthentication());
    }
}

#[test]
fn saslauthenticate_v0_carries_no_lifetime_but_the_server_still_expires_the_session() {
    let mut versions = default_api_versions_response();
    for entry in &mut versions.api_keys {
        if entry.api_key == ApiKey::SaslAuthenticate.id() {
            entry.max_version = 0;
        }
    }
    let config = all_mechanisms()
        .with_connections_max_reauth_ms(5_000)
        .with_api_versions_response(versions);
    let mut pair = Pair::new(
        client_config(SaslMechanism::ScramSha256, USER, PASSWORD),
        config,
    );
    pair.drive().assert_success();
    assert_eq!(pair.client.authenticate_version(), Some(0));
    assert_eq!(pair.client.session_lifetime(), None);
    assert_eq!(
        pair.server.session_expiration(),
        Some(pair.now + Duration::from_secs(5))
    );
    assert!(!pair.server.client_supports_reauthentication());
}

/// A server authenticator brought to one of its states.
fn server_in_state(state: u8) -> SaslServerAuthenticator {
    let now = Instant::now();
    let mut server = SaslServerAuthenticator::new(Arc::new(all_mechanisms()));
    let handshake = |version, mechanism: &str| {
        request(
            ApiKey::SaslHandshake,
            version,
            0,
            &kafka_protocol::messages::SaslHandshakeRequest::default()
                .with_mechanism(mechanism.into()),
        )
    };
    let prelude = match state {
        0 => vec![],
        1 => vec![request(
            ApiKey::ApiVersions,
            0,
            0,
            &ApiVersionsRequest::default(),
        )],
        2 => vec![handshake(1, "SCRAM-SHA-256")],
        3 => vec![handshake(0, "SCRAM-SHA-512")],
        _ => vec![handshake(1, "PLAIN")],
    };
    for frame in prelude {
        assert!(server.handle_receive(frame, now).unwrap().failure.is_none());
    }
    server
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Hostile frames never panic the server: each one is answered, refused, or closes the
    /// connection.
    #[test]
    fn random_frames_never_panic_the_server(
        state in 0u8..5,
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..4),
    ) {
        let mut server = server_in_state(state);
        let now = Instant::now();
        for frame in frames {
            match server.handle_receive(Bytes::from(frame), now) {
                Ok(step) if step.failure.is_some() => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        prop_assert!(!server.complete() || server.principal().is_some());
    }

    /// Frames that start like a SaslAuthenticate request but carry random tokens.
    #[test]
    fn random_tokens_never_panic_the_server(
        state in 2u8..5,
        token in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut server = server_in_state(state);
        let frame = if state == 3 {
            Bytes::from(token)
        } else {
            let body = kafka_protocol::messages::SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token));
            request(ApiKey::SaslAuthenticate, 2, 1, &body)
        };
        let _ = server.handle_receive(frame, Instant::now());
    }

    /// Hostile brokers never panic the client either.
    #[test]
    fn random_responses_never_panic_the_client(
        mechanism in 0usize..3,
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..4),
    ) {
        let config = client_config(SaslMechanism::ALL[mechanism], USER, PASSWORD);
        let mut client = SaslClientAuthenticator::new(config).unwrap();
        let now = Instant::now();
        client.start(now).unwrap();
        for frame in frames {
            match client.handle_receive(Bytes::from(frame), now) {
                Ok(step) if step.failure.is_some() => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
}
