//! TLS transport tests: certificates made at test time with rcgen; handshakes over real
//! loopback sockets (mio, polled with timeouts) and over an in-memory pipe with chosen chunk
//! sizes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_network::transport::{
    certificate_subject, ClientAuth, EndpointIdentification, SslClientConfig,
    SslClientConfigBuilder, SslServerConfig, SslServerConfigBuilder, SslTransportLayer, TlsVersion,
};
use kafka_network::{Error, KafkaPrincipal, TransportLayer};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate it signed,
/// and an unrelated CA.
struct Pki {
    ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
    other_ca_pem: String,
    other_client_cert_pem: String,
    other_client_key_pem: String,
}

fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate signed by `issuer`: (certificate PEM, key PEM, certificate DER).
fn make_leaf(
    issuer: &CertifiedIssuer<'_, KeyPair>,
    sans: &[&str],
    subject: &[(DnType, DnValue)],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = DistinguishedName::new();
    for (kind, value) in subject {
        params.distinguished_name.push(kind.clone(), value.clone());
    }
    params.extended_key_usages = vec![usage];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = params.signed_by(&key, &**issuer).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

fn pki() -> Pki {
    let ca = make_ca("Test CA");
    let other = make_ca("Other CA");
    let (server_cert_pem, server_key_pem, _) = make_leaf(
        &ca,
        &["localhost", "127.0.0.1"],
        &[(DnType::CommonName, "localhost".into())],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let client_subject = [
        (DnType::CountryName, DnValue::from("US")),
        (DnType::OrganizationName, DnValue::from("Example")),
        (DnType::CommonName, DnValue::from("client")),
    ];
    let (client_cert_pem, client_key_pem, _) = make_leaf(
        &ca,
        &[],
        &client_subject,
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (other_client_cert_pem, other_client_key_pem, _) = make_leaf(
        &other,
        &[],
        &client_subject,
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    Pki {
        ca_pem: ca.pem(),
        server_cert_pem,
        server_key_pem,
        client_cert_pem,
        client_key_pem,
        other_ca_pem: other.pem(),
        other_client_cert_pem,
        other_client_key_pem,
    }
}

impl Pki {
    fn server(&self) -> SslServerConfigBuilder {
        SslServerConfig::builder()
            .keystore_pem(self.server_cert_pem.clone(), self.server_key_pem.clone())
    }

    fn server_with_client_auth(&self, auth: ClientAuth) -> SslServerConfigBuilder {
        self.server()
            .truststore_pem(self.ca_pem.clone())
            .client_auth(auth)
    }

    fn client(&self) -> SslClientConfigBuilder {
        SslClientConfig::builder().truststore_pem(self.ca_pem.clone())
    }

    fn client_with_cert(&self) -> SslClientConfigBuilder {
        self.client()
            .keystore_pem(self.client_cert_pem.clone(), self.client_key_pem.clone())
    }
}

static TEMP_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A file in the temp directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "kafka-network-tls-{}-{}-{name}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u8)
                .wrapping_mul(31)
                .wrapping_add((i >> 9) as u8)
                .wrapping_add(seed)
        })
        .collect()
}

fn is_would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// The rustls error inside an I/O error from the transport, if any.
fn tls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

// ---------------------------------------------------------------------------------------------
// An in-memory pipe with chosen chunk sizes
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct PipeBuf {
    data: VecDeque<u8>,
    closed: bool,
}

/// One end of a bidirectional pipe: reads and writes move at most `chunk` bytes per call;
/// a direction holds at most `capacity` bytes (then writes would block).
#[derive(Debug)]
struct PipeEnd {
    rx: Arc<Mutex<PipeBuf>>,
    tx: Arc<Mutex<PipeBuf>>,
    chunk: usize,
    capacity: usize,
}

fn pipe(chunk: usize, capacity: usize) -> (PipeEnd, PipeEnd) {
    let a = Arc::new(Mutex::new(PipeBuf::default()));
    let b = Arc::new(Mutex::new(PipeBuf::default()));
    (
        PipeEnd {
            rx: a.clone(),
            tx: b.clone(),
            chunk,
            capacity,
        },
        PipeEnd {
            rx: b,
            tx: a,
            chunk,
            capacity,
        },
    )
}

impl PipeEnd {
    /// Bytes waiting to be read at this end.
    fn incoming(&self) -> usize {
        self.rx.lock().unwrap().data.len()
    }

    /// Closes the outgoing direction: the peer reads end of stream once it has drained it.
    fn close_write(&self) {
        self.tx.lock().unwrap().closed = true;
    }
}

impl Read for PipeEnd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut rx = self.rx.lock().unwrap();
        if rx.data.is_empty() {
            return if rx.closed {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(self.chunk).min(rx.data.len());
        for (slot, byte) in buf.iter_mut().zip(rx.data.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl Write for PipeEnd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut tx = self.tx.lock().unwrap();
        if tx.closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let space = self.capacity.saturating_sub(tx.data.len());
        if space == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.chunk).min(space);
        tx.data.extend(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type PipeTls = SslTransportLayer<PipeEnd>;

fn pipe_pair(
    server: &SslServerConfig,
    client: &SslClientConfig,
    server_name: &str,
    chunk: usize,
    capacity: usize,
) -> (PipeTls, PipeTls) {
    let (client_end, server_end) = pipe(chunk, capacity);
    (
        SslTransportLayer::client(client_end, client, server_name).unwrap(),
        SslTransportLayer::server(server_end, server).unwrap(),
    )
}

// ---------------------------------------------------------------------------------------------
// Loopback sockets
// ---------------------------------------------------------------------------------------------

const CLIENT: Token = Token(1);
const SERVER: Token = Token(2);

type TcpTls = SslTransportLayer<TcpStream>;

/// A connected pair of TLS transports over loopback, registered with a poll.
struct Loopback {
    poll: Poll,
    events: Events,
    client: TcpTls,
    server: TcpTls,
}

impl Loopback {
    fn new(server: &SslServerConfig, client: &SslClientConfig, server_name: &str) -> Loopback {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let client_stream = TcpStream::connect(addr).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let server_stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if is_would_block(&e) => {
                    assert!(Instant::now() < deadline, "accept timed out");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("accept failed: {e}"),
            }
        };
        let poll = Poll::new().unwrap();
        let mut client = SslTransportLayer::client(client_stream, client, server_name).unwrap();
        let mut server = SslTransportLayer::server(server_stream, server).unwrap();
        poll.registry()
            .register(
                client.stream_mut(),
                CLIENT,
                Interest::READABLE | Interest::WRITABLE,
            )
            .unwrap();
        poll.registry()
            .register(
                server.stream_mut(),
                SERVER,
                Interest::READABLE | Interest::WRITABLE,
            )
            .unwrap();
        Loopback {
            poll,
            events: Events::with_capacity(16),
            client,
            server,
        }
    }

    fn handshake(&mut self) -> (Option<io::Error>, Option<io::Error>) {
        let Loopback {
            poll,
            events,
            client,
            server,
        } = self;
        drive_handshake(client, server, || {
            poll.poll(events, Some(Duration::from_millis(10))).unwrap();
        })
    }

    fn exchange(&mut self, client_to_server: &[u8], server_to_client: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let Loopback {
            poll,
            events,
            client,
            server,
        } = self;
        exchange(client, server, client_to_server, server_to_client, || {
            poll.poll(events, Some(Duration::from_millis(10))).unwrap();
        })
    }

    fn wait(&mut self, timeout: Duration) {
        self.poll.poll(&mut self.events, Some(timeout)).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Driving two ends
// ---------------------------------------------------------------------------------------------

const DEADLINE: Duration = Duration::from_secs(10);

/// Steps both handshakes until both are ready or have failed; after the first failure the
/// other side gets a second to notice. Returns each side's error.
fn drive_handshake<S: Read + Write + std::fmt::Debug>(
    client: &mut SslTransportLayer<S>,
    server: &mut SslTransportLayer<S>,
    mut wait: impl FnMut(),
) -> (Option<io::Error>, Option<io::Error>) {
    let deadline = Instant::now() + DEADLINE;
    let mut grace: Option<Instant> = None;
    let (mut client_error, mut server_error) = (None, None);
    loop {
        for (side, error) in [
            (&mut *client, &mut client_error),
            (&mut *server, &mut server_error),
        ] {
            if error.is_some() {
                continue;
            }
            if !side.ready() {
                *error = side.handshake().err();
            } else {
                // A ready side reads, as a selector would: post-handshake messages (session
                // tickets) may be what its peer waits to flush before it is ready.
                match side.read(&mut [0u8; 64]) {
                    Ok(n) => {
                        panic!("unexpected {n} bytes of application data during the handshake")
                    }
                    Err(e) if is_would_block(&e) => {}
                    Err(e) => *error = Some(e),
                }
            }
        }
        let client_done = client_error.is_some() || client.ready();
        let server_done = server_error.is_some() || server.ready();
        if client_done && server_done {
            return (client_error, server_error);
        }
        if client_error.is_some() || server_error.is_some() {
            let until = *grace.get_or_insert_with(|| Instant::now() + Duration::from_secs(1));
            if Instant::now() > until {
                return (client_error, server_error);
            }
        }
        assert!(
            Instant::now() < deadline,
            "handshake timed out: {client:?} {server:?}"
        );
        wait();
    }
}

/// Writes what the transport takes and flushes; returns bytes accepted.
fn pump_out<S: Read + Write>(t: &mut SslTransportLayer<S>, data: &[u8], sent: &mut usize) {
    while *sent < data.len() {
        match t.write(&data[*sent..]) {
            Ok(n) => *sent += n,
            Err(e) if is_would_block(&e) => break,
            Err(e) => panic!("write failed: {e}"),
        }
    }
    t.flush_pending().unwrap();
}

/// Reads everything available; panics on end of stream.
fn pump_in<S: Read + Write>(t: &mut SslTransportLayer<S>, into: &mut Vec<u8>, buf: &mut [u8]) {
    loop {
        match t.read(buf) {
            Ok(0) => panic!("unexpected end of stream"),
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e) if is_would_block(&e) => break,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// Sends both payloads at once, each side reading while it writes; returns what the server
/// and the client received.
fn exchange<S: Read + Write>(
    client: &mut SslTransportLayer<S>,
    server: &mut SslTransportLayer<S>,
    client_to_server: &[u8],
    server_to_client: &[u8],
    mut wait: impl FnMut(),
) -> (Vec<u8>, Vec<u8>) {
    let deadline = Instant::now() + DEADLINE;
    let (mut client_sent, mut server_sent) = (0, 0);
    let (mut server_got, mut client_got) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        pump_out(client, client_to_server, &mut client_sent);
        pump_out(server, server_to_client, &mut server_sent);
        pump_in(server, &mut server_got, &mut buf);
        pump_in(client, &mut client_got, &mut buf);
        if server_got.len() >= client_to_server.len()
            && client_got.len() >= server_to_client.len()
            && !client.has_pending_writes()
            && !server.has_pending_writes()
        {
            return (server_got, client_got);
        }
        assert!(Instant::now() < deadline, "exchange timed out");
        wait();
    }
}

fn assert_same(got: &[u8], expected: &[u8], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    if let Some(i) = got.iter().zip(expected).position(|(a, b)| a != b) {
        panic!("{what}: first difference at byte {i}");
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn handshake_and_echo_over_loopback() {
    let pki = pki();
    let mut net = Loopback::new(
        &pki.server().build().unwrap(),
        &pki.client().build().unwrap(),
        "localhost",
    );
    assert!(!net.client.ready());
    assert!(
        net.client.handshake_interest().is_writable(),
        "the ClientHello waits to be written"
    );
    let (client_error, server_error) = net.handshake();
    assert!(client_error.is_none(), "client: {client_error:?}");
    assert!(server_error.is_none(), "server: {server_error:?}");
    assert!(net.client.ready() && net.server.ready());
    assert_eq!(net.client.protocol_version(), Some(TlsVersion::Tls13));
    assert_eq!(net.server.protocol_version(), Some(TlsVersion::Tls13));
    assert!(net.client.cipher_suite().unwrap().starts_with("TLS_"));
    // No client certificate: the server sees ANONYMOUS; the client sees the server's subject.
    assert_eq!(
        TransportLayer::peer_principal(&net.server),
        KafkaPrincipal::anonymous()
    );
    assert_eq!(net.client.peer_principal().to_string(), "User:CN=localhost");

    let (server_got, client_got) = net.exchange(b"ping from client", b"pong from server");
    assert_eq!(server_got, b"ping from client");
    assert_eq!(client_got, b"pong from server");
}

#[test]
fn handshake_and_transfer_over_pipe_with_small_chunks() {
    let pki = pki();
    let request = pattern(40_000, 1);
    let response = pattern(40_000, 2);
    for version in TlsVersion::ALL {
        for (chunk, capacity) in [(1, 1), (1, 1 << 20), (7, 13)] {
            let server = pki.server().enabled_protocols(&[version]).build().unwrap();
            let (mut client, mut server) = pipe_pair(
                &server,
                &pki.client().build().unwrap(),
                "localhost",
                chunk,
                capacity,
            );
            let (client_error, server_error) = drive_handshake(&mut client, &mut server, || {});
            assert!(
                client_error.is_none() && server_error.is_none(),
                "{client_error:?} {server_error:?}"
            );
            assert_eq!(client.protocol_version(), Some(version));
            let (server_got, client_got) =
                exchange(&mut client, &mut server, &request, &response, || {});
            assert_same(
                &server_got,
                &request,
                &format!("{version} chunk {chunk}: request"),
            );
            assert_same(
                &client_got,
                &response,
                &format!("{version} chunk {chunk}: response"),
            );
        }
    }
}

#[test]
fn large_payloads_both_ways_over_loopback() {
    let pki = pki();
    let mut net = Loopback::new(
        &pki.server().build().unwrap(),
        &pki.client().build().unwrap(),
        "localhost",
    );
    let (client_error, server_error) = net.handshake();
    assert!(
        client_error.is_none() && server_error.is_none(),
        "{client_error:?} {server_error:?}"
    );
    let request = pattern(4 << 20, 3);
    let response = pattern(4 << 20, 4);
    let (server_got, client_got) = net.exchange(&request, &response);
    assert_same(&server_got, &request, "request");
    assert_same(&client_got, &response, "response");
}

#[test]
fn large_payloads_over_pipe_with_backpressure() {
    let pki = pki();
    let (mut client, mut server) = pipe_pair(
        &pki.server().build().unwrap(),
        &pki.client().build().unwrap(),
        "localhost",
        1000,
        3000,
    );
    let (client_error, server_error) = drive_handshake(&mut client, &mut server, || {});
    assert!(client_error.is_none() && server_error.is_none());
    let request = pattern(1 << 20, 5);
    let response = pattern(1 << 20, 6);
    let (server_got, client_got) = exchange(&mut client, &mut server, &request, &response, || {});
    assert_same(&server_got, &request, "request");
    assert_same(&client_got, &response, "response");
}

#[test]
fn partial_socket_writes_lose_nothing() {
    let pki = pki();
    let (mut client, mut server) = pipe_pair(
        &pki.server().build().unwrap(),
        &pki.client().build().unwrap(),
        "localhost",
        1 << 16,
        1 << 20,
    );
    let (client_error, server_error) = drive_handshake(&mut client, &mut server, || {});
    assert!(client_error.is_none() && server_error.is_none());
    // Shrink the client's outgoing room to 100 bytes: a 10 kB write is accepted whole but
    // mostly stays pending.
    client.stream_mut().capacity = 100;
    let data = pattern(10_000, 7);
    let accepted = client.write(&data).unwrap();
    assert_eq!(accepted, data.len());
    assert!(client.has_pending_writes());
    assert!(!client.flush_pending().unwrap());
    // While bytes are pending, nothing more is accepted.
    assert!(is_would_block(&client.write(b"more").unwrap_err()));
    client.stream_mut().capacity = 1 << 20;
    assert!(client.flush_pending().unwrap());
    assert!(!client.has_pending_writes());
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    pump_in(&mut server, &mut got, &mut buf);
    assert_same(&got, &data, "payload");
}

#[test]
fn wrong_ca_is_rejected_by_the_client() {
    let pki = pki();
    let client = SslClientConfig::builder()
        .truststore_pem(pki.other_ca_pem.clone())
        .build()
        .unwrap();
    let mut net = Loopback::new(&pki.server().build().unwrap(), &client, "localhost");
    let (client_error, server_error) = net.handshake();
    let client_error = client_error.expect("the client must refuse the server's certificate");
    assert_eq!(client_error.kind(), io::ErrorKind::InvalidData);
    assert!(
        matches!(
            tls_error(&client_error),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{client_error:?}"
    );
    assert!(!net.client.ready());
    // The client's alert reaches the server.
    let server_error = server_error.expect("the server must see the failed handshake");
    assert!(
        matches!(
            tls_error(&server_error),
            Some(rustls::Error::AlertReceived(_))
        ),
        "{server_error:?}"
    );
}

#[test]
fn host_name_is_verified_unless_endpoint_identification_is_disabled() {
    let pki = pki();
    let server = pki.server().build().unwrap();

    let mut net = Loopback::new(&server, &pki.client().build().unwrap(), "kafka.example.com");
    let (client_error, _) = net.handshake();
    let client_error = client_error.expect("wrong host name must be refused");
    assert!(
        matches!(
            tls_error(&client_error),
            Some(rustls::Error::InvalidCertificate(_))
        ),
        "{client_error:?}"
    );

    // The IP address is in the certificate's subject alternative names.
    let mut net = Loopback::new(&server, &pki.client().build().unwrap(), "127.0.0.1");
    let (client_error, server_error) = net.handshake();
    assert!(
        client_error.is_none() && server_error.is_none(),
        "{client_error:?} {server_error:?}"
    );

    let no_hostname = pki
        .client()
        .endpoint_identification(EndpointIdentification::Disabled)
        .build()
        .unwrap();
    let mut net = Loopback::new(&server, &no_hostname, "kafka.example.com");
    let (client_error, server_error) = net.handshake();
    assert!(
        client_error.is_none() && server_error.is_none(),
        "{client_error:?} {server_error:?}"
    );
    let (server_got, _) = net.exchange(b"hello", b"");
    assert_eq!(server_got, b"hello");

    // The chain is still verified.
    let no_hostname_wrong_ca = SslClientConfig::builder()
        .truststore_pem(pki.other_ca_pem.clone())
        .endpoint_identification(EndpointIdentification::Disabled)
        .build()
        .unwrap();
    let mut net = Loopback::new(&server, &no_hostname_wrong_ca, "kafka.example.com");
    let (client_error, _) = net.handshake();
    let client_error = client_error.expect("an unknown CA must still be refused");
    assert!(
        matches!(
            tls_error(&client_error),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{client_error:?}"
    );
}

/// Reads on the client until it fails (the server's alert) or the deadline passes.
fn client_read_error(net: &mut Loopback) -> io::Error {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 256];
    loop {
        match net.client.read(&mut buf) {
            Ok(0) => panic!("expected a TLS alert, got end of stream"),
            Ok(_) => panic!("expected a TLS alert, got data"),
            Err(e) if is_would_block(&e) => {}
            Err(e) => return e,
        }
        assert!(
            Instant::now() < deadline,
            "the client never saw the server's alert"
        );
        net.wait(Duration::from_millis(10));
    }
}

#[test]
fn required_client_certificate_missing_fails_the_handshake() {
    let pki = pki();
    for version in TlsVersion::ALL {
        let server = pki
            .server_with_client_auth(ClientAuth::Required)
            .enabled_protocols(&[version])
            .build()
            .unwrap();
        let mut net = Loopback::new(&server, &pki.client().build().unwrap(), "localhost");
        let (client_error, server_error) = net.handshake();
        let server_error =
            server_error.expect("the server must refuse a client without a certificate");
        assert!(
            matches!(
                tls_error(&server_error),
                Some(rustls::Error::NoCertificatesPresented | rustls::Error::PeerIncompatible(_))
            ),
            "{version}: {server_error:?}"
        );
        assert!(!net.server.ready());
        // Under TLS 1.3 the client finishes its side before the server checks its (absent)
        // certificate, and learns of the refusal from the alert that follows.
        let client_error = match client_error {
            Some(e) => e,
            None => {
                assert_eq!(
                    version,
                    TlsVersion::Tls13,
                    "a TLS 1.2 client must fail in the handshake"
                );
                client_read_error(&mut net)
            }
        };
        assert!(
            matches!(
                tls_error(&client_error),
                Some(rustls::Error::AlertReceived(_))
            ),
            "{client_error:?}"
        );
    }
}

#[test]
fn client_certificate_from_another_ca_is_refused() {
    let pki = pki();
    let server = pki
        .server_with_client_auth(ClientAuth::Required)
        .build()
        .unwrap();
    let client = pki
        .client()
        .keystore_pem(
            pki.other_client_cert_pem.clone(),
            pki.other_client_key_pem.clone(),
        )
        .build()
        .unwrap();
    let mut net = Loopback::new(&server, &client, "localhost");
    let (_, server_error) = net.handshake();
    let server_error = server_error.expect("the server must refuse an unknown issuer");
    assert!(
        matches!(
            tls_error(&server_error),
            Some(rustls::Error::InvalidCertificate(_))
        ),
        "{server_error:?}"
    );
}

#[test]
fn client_certificate_gives_the_principal() {
    let pki = pki();
    for auth in [ClientAuth::Required, ClientAuth::Requested] {
        let server = pki.server_with_client_auth(auth).build().unwrap();
        let mut net = Loopback::new(
            &server,
            &pki.client_with_cert().build().unwrap(),
            "localhost",
        );
        let (client_error, server_error) = net.handshake();
        assert!(
            client_error.is_none() && server_error.is_none(),
            "{client_error:?} {server_error:?}"
        );
        // The subject is encoded C, O, CN; Kafka (X500Principal.getName()) prints it reversed.
        let principal = TransportLayer::peer_principal(&net.server);
        assert_eq!(principal, KafkaPrincipal::user("CN=client,O=Example,C=US"));
        assert_eq!(principal.to_string(), "User:CN=client,O=Example,C=US");
        assert_eq!(net.server.peer_certificates().map(<[_]>::len), Some(1));
    }

    // Requested but not given: accepted, anonymous.
    let server = pki
        .server_with_client_auth(ClientAuth::Requested)
        .build()
        .unwrap();
    let mut net = Loopback::new(&server, &pki.client().build().unwrap(), "localhost");
    let (client_error, server_error) = net.handshake();
    assert!(
        client_error.is_none() && server_error.is_none(),
        "{client_error:?} {server_error:?}"
    );
    assert_eq!(net.server.peer_principal(), KafkaPrincipal::anonymous());
    let (server_got, _) = net.exchange(b"anonymous hello", b"");
    assert_eq!(server_got, b"anonymous hello");
}

#[test]
fn tls12_only_and_tls13_only() {
    let pki = pki();
    // TLS 1.2-only server, default client: TLS 1.2.
    let server12 = pki
        .server()
        .enabled_protocols(&[TlsVersion::Tls12])
        .build()
        .unwrap();
    let mut net = Loopback::new(
        &server12,
        &pki.client_with_cert().build().unwrap(),
        "localhost",
    );
    let (client_error, server_error) = net.handshake();
    assert!(
        client_error.is_none() && server_error.is_none(),
        "{client_error:?} {server_error:?}"
    );
    assert_eq!(net.client.protocol_version(), Some(TlsVersion::Tls12));
    assert_eq!(net.server.protocol_version(), Some(TlsVersion::Tls12));
    let request = pattern(1 << 20, 8);
    let response = pattern(1 << 20, 9);
    let (server_got, client_got) = net.exchange(&request, &response);
    assert_same(&server_got, &request, "TLS 1.2 request");
    assert_same(&client_got, &response, "TLS 1.2 response");

    // TLS 1.3-only client, default server: TLS 1.3.
    let client13 = pki
        .client()
        .enabled_protocols(&[TlsVersion::Tls13])
        .build()
        .unwrap();
    let mut net = Loopback::new(&pki.server().build().unwrap(), &client13, "localhost");
    let (client_error, server_error) = net.handshake();
    assert!(
        client_error.is_none() && server_error.is_none(),
        "{client_error:?} {server_error:?}"
    );
    assert_eq!(net.server.protocol_version(), Some(TlsVersion::Tls13));

    // TLS 1.2-only client against a TLS 1.3-only server: no common version.
    let server13 = pki
        .server()
        .enabled_protocols(&[TlsVersion::Tls13])
        .build()
        .unwrap();
    let client12 = pki
        .client()
        .enabled_protocols(&[TlsVersion::Tls12])
        .build()
        .unwrap();
    let mut net = Loopback::new(&server13, &client12, "localhost");
    let (client_error, server_error) = net.handshake();
    let server_error = server_error.expect("no common protocol version");
    assert!(
        matches!(
            tls_error(&server_error),
            Some(rustls::Error::PeerIncompatible(_))
        ),
        "{server_error:?}"
    );
    let client_error = client_error.expect("the client must see the refusal");
    assert!(
        matches!(
            tls_error(&client_error),
            Some(rustls::Error::AlertReceived(_))
        ),
        "{client_error:?}"
    );
}

#[test]
fn cipher_suites_can_be_restricted() {
    let pki = pki();
    let server = pki
        .server()
        .cipher_suites(["TLS_CHACHA20_POLY1305_SHA256"])
        .build()
        .unwrap();
    let mut net = Loopback::new(&server, &pki.client().build().unwrap(), "localhost");
    let (client_error, server_error) = net.handshake();
    assert!(
        client_error.is_none() && server_error.is_none(),
        "{client_error:?} {server_error:?}"
    );
    assert_eq!(
        net.client.cipher_suite().as_deref(),
        Some("TLS_CHACHA20_POLY1305_SHA256")
    );
    assert!(matches!(
        pki.server()
            .cipher_suites(["TLS_RSA_WITH_RC4_128_MD5"])
            .build(),
        Err(Error::Config(_))
    ));
}

#[test]
fn buffered_decrypted_data_is_delivered_without_new_readiness() {
    let pki = pki();
    let mut net = Loopback::new(
        &pki.server().build().unwrap(),
        &pki.client().build().unwrap(),
        "localhost",
    );
    let (client_error, server_error) = net.handshake();
    assert!(client_error.is_none() && server_error.is_none());
    // Let the session tickets the server sends after the handshake arrive and be consumed.
    net.wait(Duration::from_millis(50));
    let mut buf = [0u8; 10];
    assert!(is_would_block(&net.client.read(&mut buf).unwrap_err()));
    assert!(!net.client.has_buffered_read());

    // Three records in one go.
    let messages: Vec<Vec<u8>> = (0..3u8).map(|i| vec![b'a' + i; 100]).collect();
    for message in &messages {
        assert_eq!(net.server.write(message).unwrap(), message.len());
    }
    assert!(net.server.flush_pending().unwrap());
    // Wait until all three records are on the client's socket: 3 x (100 bytes + 22 bytes of
    // TLS 1.3 record overhead).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut peek = [0u8; 1024];
    loop {
        match net.client.stream().peek(&mut peek) {
            Ok(n) if n >= 3 * 122 => break,
            Ok(_) => {}
            Err(e) if is_would_block(&e) => {}
            Err(e) => panic!("peek failed: {e}"),
        }
        assert!(Instant::now() < deadline, "the records never arrived");
        std::thread::sleep(Duration::from_millis(1));
    }
    // Drain the events of the segments that arrived meanwhile.
    net.poll
        .poll(&mut net.events, Some(Duration::ZERO))
        .unwrap();

    // One small read takes everything off the socket; the rest stays in the transport.
    let n = net.client.read(&mut buf).unwrap();
    assert_eq!(n, buf.len());
    assert!(
        net.client.has_buffered_read(),
        "decrypted data waits in the transport"
    );
    assert!(TransportLayer::has_buffered_read(&net.client));

    // No new readiness will come for it...
    net.poll
        .poll(&mut net.events, Some(Duration::from_millis(100)))
        .unwrap();
    assert!(
        !net.events
            .iter()
            .any(|e| e.token() == CLIENT && e.is_readable()),
        "the socket was drained by the first read"
    );
    // ...and yet all of it is there.
    let mut got = buf[..n].to_vec();
    while net.client.has_buffered_read() {
        let n = net.client.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, messages.concat());
    assert!(is_would_block(&net.client.read(&mut buf).unwrap_err()));
}

#[test]
fn buffered_data_over_pipe_needs_no_new_input() {
    let pki = pki();
    let (mut client, mut server) = pipe_pair(
        &pki.server().build().unwrap(),
        &pki.client().build().unwrap(),
        "localhost",
        1 << 16,
        1 << 20,
    );
    let (client_error, server_error) = drive_handshake(&mut client, &mut server, || {});
    assert!(client_error.is_none() && server_error.is_none());
    let mut buf = [0u8; 7];
    let _ = client.read(&mut buf); // consume the session tickets
    let payload = pattern(50_000, 10); // several TLS records
    let mut sent = 0;
    pump_out(&mut server, &payload, &mut sent);
    assert_eq!(sent, payload.len());

    // A read never fails while the transport says data is buffered.
    let mut got = Vec::new();
    let n = client.read(&mut buf).unwrap();
    got.extend_from_slice(&buf[..n]);
    while client.has_buffered_read() {
        let n = client.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    // It stops reporting data only when what is left is on the pipe, which would produce
    // readiness.
    if got.len() < payload.len() {
        assert!(client.stream().incoming() > 0);
    }
    pump_in(&mut client, &mut got, &mut [0u8; 1000]);
    assert_same(&got, &payload, "payload");
}

#[test]
fn last_handshake_flight_carrying_application_data() {
    let pki = pki();
    for version in TlsVersion::ALL {
        let server = pki.server().enabled_protocols(&[version]).build().unwrap();
        let (mut client, mut server) = pipe_pair(
            &server,
            &pki.client().build().unwrap(),
            "localhost",
            1 << 16,
            1 << 20,
        );
        // Step by hand: whoever finishes first writes at once, so its data travels with (or
        // right behind) its last handshake flight and reaches the other side in one read.
        let mut first: Option<&str> = None;
        for _ in 0..10 {
            client.handshake().unwrap();
            if client.ready() && !server.ready() && first.is_none() {
                assert_eq!(client.write(b"early request").unwrap(), 13);
                first = Some("client");
            }
            server.handshake().unwrap();
            if server.ready() && !client.ready() && first.is_none() {
                assert_eq!(server.write(b"early response").unwrap(), 14);
                first = Some("server");
            }
            if client.ready() && server.ready() {
                break;
            }
        }
        assert!(client.ready() && server.ready(), "{version}");
        let (receiver, expected): (&mut PipeTls, &[u8]) = match first {
            Some("client") => (&mut server, b"early request"),
            Some("server") => (&mut client, b"early response"),
            _ => panic!("{version}: nobody finished first"),
        };
        assert_eq!(
            receiver.stream().incoming(),
            0,
            "{version}: everything was read with the last flight"
        );
        assert!(
            receiver.has_buffered_read(),
            "{version}: the data waits without new input"
        );
        let mut buf = [0u8; 64];
        let n = receiver.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], expected, "{version}");
    }
}

#[test]
fn close_notify_is_seen_as_end_of_stream() {
    let pki = pki();
    let mut net = Loopback::new(
        &pki.server().build().unwrap(),
        &pki.client().build().unwrap(),
        "localhost",
    );
    let (client_error, server_error) = net.handshake();
    assert!(client_error.is_none() && server_error.is_none());
    assert_eq!(net.client.write(b"last words").unwrap(), 10);
    TransportLayer::close(&mut net.client);
    assert!(net.client.write(b"more").is_err(), "no writes after close");

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match net.server.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if is_would_block(&e) => {}
            Err(e) => panic!("read failed: {e}"),
        }
        assert!(Instant::now() < deadline, "no end of stream");
        net.wait(Duration::from_millis(10));
    }
    assert_eq!(got, b"last words");
    assert!(
        !net.server.has_buffered_read(),
        "end of stream is reported once"
    );
}

#[test]
fn close_notify_behind_data_over_pipe() {
    let pki = pki();
    let (mut client, mut server) = pipe_pair(
        &pki.server().build().unwrap(),
        &pki.client().build().unwrap(),
        "localhost",
        1 << 16,
        1 << 20,
    );
    let (client_error, server_error) = drive_handshake(&mut client, &mut server, || {});
    assert!(client_error.is_none() && server_error.is_none());
    assert_eq!(server.write(b"bye").unwrap(), 3);
    server.send_close_notify();
    assert!(!server.has_pending_writes());

    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    loop {
        let n = client.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.len() == 3 {
            // The close_notify came in the same read: nothing is left on the pipe, yet the
            // end of stream is waiting to be reported.
            assert_eq!(client.stream().incoming(), 0);
            assert!(client.has_buffered_read());
        }
    }
    assert_eq!(got, b"bye");
    assert!(!client.has_buffered_read());
}

#[test]
fn peer_closing_without_close_notify_is_end_of_stream() {
    let pki = pki();
    let (mut client, mut server) = pipe_pair(
        &pki.server().build().unwrap(),
        &pki.client().build().unwrap(),
        "localhost",
        1 << 16,
        1 << 20,
    );
    let (client_error, server_error) = drive_handshake(&mut client, &mut server, || {});
    assert!(client_error.is_none() && server_error.is_none());
    let _ = client.read(&mut [0u8; 16]); // session tickets
    server.stream().close_write();
    assert_eq!(client.read(&mut [0u8; 16]).unwrap(), 0);
}

#[test]
fn peer_closing_during_the_handshake_is_an_error() {
    let pki = pki();
    let (mut client, server) = pipe_pair(
        &pki.server().build().unwrap(),
        &pki.client().build().unwrap(),
        "localhost",
        1 << 16,
        1 << 20,
    );
    client.handshake().unwrap();
    server.stream().close_write();
    let error = client.handshake().unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    assert!(!client.ready());
}

#[test]
fn transfer_from_sends_a_file_region() {
    let pki = pki();
    let contents = pattern(300_000, 11);
    let file = TempFile::new("region.bin", &contents);
    let handle = File::open(&file.0).unwrap();
    let (position, count) = (12_345u64, 200_000usize);

    let mut net = Loopback::new(
        &pki.server().build().unwrap(),
        &pki.client().build().unwrap(),
        "localhost",
    );
    let (client_error, server_error) = net.handshake();
    assert!(client_error.is_none() && server_error.is_none());

    let deadline = Instant::now() + DEADLINE;
    let mut sent = 0usize;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while sent < count || TransportLayer::has_pending_writes(&net.server) || got.len() < count {
        while sent < count {
            match TransportLayer::transfer_from(
                &mut net.server,
                &handle,
                position + sent as u64,
                count - sent,
            ) {
                Ok(0) => panic!("unexpected end of file"),
                Ok(n) => sent += n,
                Err(e) if is_would_block(&e) => break,
                Err(e) => panic!("transfer failed: {e}"),
            }
        }
        TransportLayer::flush_pending(&mut net.server).unwrap();
        pump_in(&mut net.client, &mut got, &mut buf);
        assert!(Instant::now() < deadline, "transfer timed out");
        if got.len() < count {
            net.wait(Duration::from_millis(10));
        }
    }
    assert_same(
        &got,
        &contents[position as usize..position as usize + count],
        "file region",
    );

    // At the end of the file there is nothing to send.
    assert_eq!(
        net.server
            .transfer_from(&handle, contents.len() as u64, 100)
            .unwrap(),
        0
    );
}

#[test]
fn reads_and_writes_before_the_handshake_are_refused() {
    let pki = pki();
    let (mut client, _server) = pipe_pair(
        &pki.server().build().unwrap(),
        &pki.client().build().unwrap(),
        "localhost",
        1 << 16,
        1 << 20,
    );
    assert_eq!(
        client.read(&mut [0u8; 4]).unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    assert_eq!(
        client.write(b"x").unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    assert!(!client.has_buffered_read());
}

#[test]
fn config_errors() {
    let pki = pki();
    let config_err = |r: Result<SslServerConfig, Error>| matches!(r, Err(Error::Config(_)));
    assert!(
        config_err(SslServerConfig::builder().build()),
        "no key store"
    );
    assert!(config_err(
        SslServerConfig::builder()
            .keystore_pem("garbage", pki.server_key_pem.clone())
            .build()
    ));
    assert!(config_err(
        SslServerConfig::builder()
            .keystore_pem(pki.server_cert_pem.clone(), "garbage")
            .build()
    ));
    assert!(config_err(
        SslServerConfig::builder()
            .keystore_pem(
                pki.server_cert_pem.clone(),
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
            )
            .build()
    ));
    // A key that does not belong to the certificate.
    assert!(config_err(
        SslServerConfig::builder()
            .keystore_pem(pki.server_cert_pem.clone(), pki.client_key_pem.clone())
            .build()
    ));
    assert!(config_err(
        SslServerConfig::builder()
            .keystore_pem_file("/nonexistent/kafka-network/keystore.pem")
            .build()
    ));
    assert!(
        config_err(pki.server().client_auth(ClientAuth::Required).build()),
        "client auth without a trust store"
    );
    assert!(config_err(pki.server().enabled_protocols(&[]).build()));
    assert!(
        matches!(SslClientConfig::builder().build(), Err(Error::Config(_))),
        "no trust store"
    );
    assert!(matches!(
        SslClientConfig::builder().truststore_pem("not pem").build(),
        Err(Error::Config(_))
    ));

    assert!(matches!(
        TlsVersion::from_name("TLSv1.1"),
        Err(Error::Config(_))
    ));
    assert!(matches!(TlsVersion::parse_list("TLSv1.2, TLSv1.3"), Ok(v) if v == TlsVersion::ALL));
    assert!(matches!(
        ClientAuth::from_name("sometimes"),
        Err(Error::Config(_))
    ));
    assert_eq!(
        ClientAuth::from_name("REQUIRED").unwrap(),
        ClientAuth::Required
    );
    assert_eq!(
        EndpointIdentification::from_name("").unwrap(),
        EndpointIdentification::Disabled
    );
    assert!(matches!(
        EndpointIdentification::from_name("ldap"),
        Err(Error::Config(_))
    ));

    let client = pki.client().build().unwrap();
    assert!(matches!(
        SslTransportLayer::client(pipe(1, 1).0, &client, "not a host name!"),
        Err(Error::Config(_))
    ));

    let props = |pairs: &[(&str, &str)]| {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key: &str| map.get(key).cloned()
    };
    assert!(matches!(
        SslServerConfigBuilder::from_properties(props(&[("ssl.keystore.type", "JKS")])),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        SslServerConfigBuilder::from_properties(props(&[(
            "ssl.principal.mapping.rules",
            "RULE:^CN=(.*?)$/$1/"
        )])),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        SslServerConfigBuilder::from_properties(props(&[("ssl.enabled.protocols", "TLSv1")])),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        SslClientConfigBuilder::from_properties(props(&[("ssl.keystore.key", "x")])),
        Err(Error::Config(_))
    ));
}

#[test]
fn configs_from_kafka_properties() {
    let pki = pki();
    let keystore = TempFile::new(
        "server.pem",
        format!("{}{}", pki.server_key_pem, pki.server_cert_pem).as_bytes(),
    );
    let truststore = TempFile::new("ca.pem", pki.ca_pem.as_bytes());
    let server_props: HashMap<&str, String> = [
        ("ssl.keystore.type", "PEM".to_string()),
        ("ssl.keystore.location", keystore.0.display().to_string()),
        ("ssl.truststore.type", "PEM".to_string()),
        (
            "ssl.truststore.location",
            truststore.0.display().to_string(),
        ),
        ("ssl.client.auth", "required".to_string()),
        ("ssl.enabled.protocols", "TLSv1.3".to_string()),
        ("ssl.principal.mapping.rules", "DEFAULT".to_string()),
    ]
    .into_iter()
    .collect();
    let server = SslServerConfigBuilder::from_properties(|k| server_props.get(k).cloned())
        .unwrap()
        .build()
        .unwrap();

    let client_props: HashMap<&str, String> = [
        ("ssl.keystore.type", "PEM".to_string()),
        (
            "ssl.keystore.certificate.chain",
            pki.client_cert_pem.clone(),
        ),
        ("ssl.keystore.key", pki.client_key_pem.clone()),
        ("ssl.truststore.certificates", pki.ca_pem.clone()),
        ("ssl.endpoint.identification.algorithm", String::new()),
    ]
    .into_iter()
    .collect();
    let client = SslClientConfigBuilder::from_properties(|k| client_props.get(k).cloned())
        .unwrap()
        .build()
        .unwrap();

    let mut net = Loopback::new(&server, &client, "broker.internal");
    let (client_error, server_error) = net.handshake();
    assert!(
        client_error.is_none() && server_error.is_none(),
        "{client_error:?} {server_error:?}"
    );
    assert_eq!(net.server.protocol_version(), Some(TlsVersion::Tls13));
    assert_eq!(
        net.server.peer_principal().to_string(),
        "User:CN=client,O=Example,C=US"
    );
}

#[test]
fn subject_names_are_formatted_like_java() {
    let ca = make_ca("Test CA");
    let email = "ops@example.com";
    let subject = [
        (DnType::CountryName, DnValue::from("US")),
        (DnType::OrganizationName, DnValue::from("Example, Inc.")),
        (
            DnType::OrganizationalUnitName,
            DnValue::from("a+b=c <d>;\"e\"\\"),
        ),
        (DnType::CommonName, DnValue::from(" #padded ")),
        (
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            DnValue::Ia5String(Ia5String::try_from(email).unwrap()),
        ),
    ];
    let (_, _, der) = make_leaf(&ca, &[], &subject, ExtendedKeyUsagePurpose::ClientAuth);
    let hex: String = email.bytes().map(|b| format!("{b:02x}")).collect();
    let expected = format!(
        "1.2.840.113549.1.9.1=#16{:02x}{hex},CN=\\ \\#padded\\ ,OU=a\\+b\\=c \\<d\\>\\;\\\"e\\\"\\\\,O=Example\\, Inc.,C=US",
        email.len()
    );
    assert_eq!(certificate_subject(&der).unwrap(), expected);
    assert!(matches!(
        certificate_subject(b"not a certificate"),
        Err(Error::Tls(_))
    ));
}

#[test]
fn file_parts_are_read_into_the_tls_stream_and_counted() {
    use kafka_network::{FileRegion, NetworkSend, SendPart};
    let pki = pki();
    let mut net = Loopback::new(
        &pki.server().build().unwrap(),
        &pki.client().build().unwrap(),
        "localhost",
    );
    let (client_error, server_error) = net.handshake();
    assert!(
        client_error.is_none() && server_error.is_none(),
        "{client_error:?} {server_error:?}"
    );
    let content = pattern(200_000, 3);
    let temp = TempFile::new("file-part", &content);
    let region = FileRegion {
        file: Arc::new(File::open(&temp.0).unwrap()),
        position: 10,
        len: content.len() - 20,
    };
    let mut send = NetworkSend::frame(vec![
        SendPart::Bytes(bytes::Bytes::from_static(b"hdr")),
        SendPart::File(region),
    ])
    .unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let start = Instant::now();
    while got.len() < send.size() {
        assert!(start.elapsed() < DEADLINE, "transfer timed out");
        send.write_to(&mut net.server).unwrap();
        pump_in(&mut net.client, &mut got, &mut buf);
        net.wait(Duration::from_millis(5));
    }
    assert!(send.completed(&net.server));
    assert_eq!(&got[4..7], b"hdr");
    assert_same(&got[7..], &content[10..content.len() - 10], "file part");
    // TLS cannot use sendfile: every file byte went through memory, and is counted.
    assert_eq!(send.file_bytes_copied(), (content.len() - 20) as u64);
}

#[test]
fn a_reloaded_key_store_serves_new_handshakes_while_old_connections_keep_working() {
    let pki = pki();
    let server = pki.server().build().unwrap();
    let client = pki.client().build().unwrap();
    let mut old = Loopback::new(&server, &client, "localhost");
    let (c, s) = old.handshake();
    assert!(c.is_none() && s.is_none(), "{c:?} {s:?}");
    let first = server.current_certificate().unwrap();

    // A second certificate from the same CA: the operator's renewed one.
    let ca = make_ca("Test CA 2");
    let (cert, key, der) = make_leaf(
        &ca,
        &["localhost"],
        &[(DnType::CommonName, "renewed".into())],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    server
        .reload_keystore(&SslServerConfig::builder().keystore_pem(cert, key))
        .unwrap();
    assert_eq!(server.current_certificate().unwrap().as_ref(), &der[..]);
    assert_ne!(first.as_ref(), &der[..]);

    // The established connection still carries data.
    let (server_got, client_got) = old.exchange(b"still there", b"yes");
    assert_eq!(server_got, b"still there");
    assert_eq!(client_got, b"yes");

    // A new connection is handed the renewed certificate (trusted through its own CA).
    let renewed_client = SslClientConfig::builder()
        .truststore_pem(ca.pem())
        .build()
        .unwrap();
    let mut new = Loopback::new(&server, &renewed_client, "localhost");
    let (c, s) = new.handshake();
    assert!(c.is_none() && s.is_none(), "{c:?} {s:?}");
    assert_eq!(new.client.peer_principal().to_string(), "User:CN=renewed");

    // A key store whose key does not match its certificate is refused; nothing changes.
    let (other_cert, _, _) = make_leaf(
        &ca,
        &["localhost"],
        &[(DnType::CommonName, "mismatch".into())],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let bad = SslServerConfig::builder().keystore_pem(other_cert, pki.server_key_pem.clone());
    assert!(server.reload_keystore(&bad).is_err());
    assert_eq!(server.current_certificate().unwrap().as_ref(), &der[..]);
}
