//! The TLS transport: rustls driven by socket readiness, as Kafka's `SslTransportLayer` drives
//! an `SSLEngine`.
//!
//! [`SslTransportLayer`] owns a non-blocking byte stream and a rustls connection. Everything
//! rustls needs to put on the wire stays in rustls' outgoing buffer until the socket takes it
//! (a partial socket write loses nothing); everything read from the socket goes through a
//! read buffer of ours into rustls, so one `read(2)` can bring in many TLS records. Decrypted
//! bytes the caller has not read yet, and encrypted bytes read but not yet decrypted, produce
//! no new socket readiness: [`SslTransportLayer::has_buffered_read`] reports them, so the
//! selector keeps reading that channel without waiting for an event.
//!
//! The layer is generic over the stream so tests drive it through an in-memory pipe with any
//! chunk size; the [`TransportLayer`] implementation is for streams that are also mio sources
//! and file descriptors (a `mio::net::TcpStream` in practice).
//!
//! Configuration follows Kafka's `ssl.*` keys for PEM key and trust stores:
//! [`SslServerConfigBuilder`] and [`SslClientConfigBuilder`] (or their `from_properties`).

use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mio::Interest;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    ClientConnection, Connection, DigitallySignedStruct, ProtocolVersion, RootCertStore,
    ServerConnection, SignatureScheme, SupportedProtocolVersion,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use x509_parser::asn1_rs::{Any, Class, Tag, ToDer};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::TransportLayer;
use crate::error::{Error, Result};
use crate::principal::KafkaPrincipal;

/// Size of the buffer encrypted bytes are read into from the socket: room for two full TLS
/// records, so one `read(2)` usually brings in several.
const NET_READ_BUFFER_SIZE: usize = 32 * 1024;

/// Largest slice of a file [`SslTransportLayer::transfer_from`] reads and encrypts per call.
const TRANSFER_CHUNK_SIZE: usize = 32 * 1024;

// ---------------------------------------------------------------------------------------------
// Settings in Kafka's terms
// ---------------------------------------------------------------------------------------------

/// A TLS protocol version, named as Kafka's `ssl.enabled.protocols` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TlsVersion {
    /// `TLSv1.2`.
    Tls12,
    /// `TLSv1.3`.
    Tls13,
}

impl TlsVersion {
    /// Every supported version, Kafka's default for `ssl.enabled.protocols`.
    pub const ALL: [TlsVersion; 2] = [TlsVersion::Tls12, TlsVersion::Tls13];

    /// Kafka's (and Java's) name: `TLSv1.2` or `TLSv1.3`.
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }

    /// Parses `TLSv1.2` or `TLSv1.3` (case-insensitively). Older protocols (`TLSv1`,
    /// `TLSv1.1`, `SSLv3`) are refused: rustls does not implement them.
    pub fn from_name(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "tlsv1.2" => Ok(TlsVersion::Tls12),
            "tlsv1.3" => Ok(TlsVersion::Tls13),
            "tlsv1" | "tlsv1.0" | "tlsv1.1" | "sslv3" | "sslv2" | "sslv2hello" => {
                Err(Error::Config(format!(
                    "TLS protocol {name} is not supported; use TLSv1.2 or TLSv1.3"
                )))
            }
            _ => Err(Error::Config(format!("unknown TLS protocol {name:?}"))),
        }
    }

    /// Parses a comma-separated list, as in `ssl.enabled.protocols=TLSv1.2,TLSv1.3`.
    pub fn parse_list(value: &str) -> Result<Vec<Self>> {
        let mut versions = Vec::new();
        for name in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let version = Self::from_name(name)?;
            if !versions.contains(&version) {
                versions.push(version);
            }
        }
        if versions.is_empty() {
            return Err(Error::Config("ssl.enabled.protocols is empty".to_string()));
        }
        Ok(versions)
    }

    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }

    fn from_rustls(version: ProtocolVersion) -> Option<Self> {
        match version {
            ProtocolVersion::TLSv1_2 => Some(TlsVersion::Tls12),
            ProtocolVersion::TLSv1_3 => Some(TlsVersion::Tls13),
            _ => None,
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a TLS listener asks clients for a certificate (Kafka's `ssl.client.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClientAuth {
    /// `none` (Kafka's default): no client certificate is asked for.
    #[default]
    None,
    /// `requested`: a client certificate is asked for; a client without one is still
    /// accepted (as `User:ANONYMOUS`), a client with an invalid one is refused.
    Requested,
    /// `required`: a client without a valid certificate is refused.
    Required,
}

impl ClientAuth {
    /// Kafka's name: `none`, `requested` or `required`.
    pub fn name(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::Requested => "requested",
            ClientAuth::Required => "required",
        }
    }

    /// Parses Kafka's name, case-insensitively.
    pub fn from_name(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(ClientAuth::None),
            "requested" => Ok(ClientAuth::Requested),
            "required" => Ok(ClientAuth::Required),
            _ => Err(Error::Config(format!(
                "invalid ssl.client.auth {name:?}: expected none, requested or required"
            ))),
        }
    }
}

/// Whether a client checks that the server's certificate names the host it connected to
/// (Kafka's `ssl.endpoint.identification.algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EndpointIdentification {
    /// `https` (Kafka's default): the certificate must name the host (DNS name or IP address
    /// in its subject alternative names).
    #[default]
    Https,
    /// The empty string: the host name is not checked. The certificate chain is still
    /// verified against the trust store.
    Disabled,
}

impl EndpointIdentification {
    /// Parses Kafka's value: `https` (case-insensitively) or the empty string.
    pub fn from_name(name: &str) -> Result<Self> {
        let name = name.trim();
        if name.is_empty() {
            Ok(EndpointIdentification::Disabled)
        } else if name.eq_ignore_ascii_case("https") {
            Ok(EndpointIdentification::Https)
        } else {
            Err(Error::Config(format!(
                "invalid ssl.endpoint.identification.algorithm {name:?}: expected https or empty"
            )))
        }
    }
}

/// Where PEM text comes from: a file (`*.location`) or the value itself.
#[derive(Clone)]
enum PemSource {
    File(PathBuf),
    Bytes(Vec<u8>),
}

impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File(path) => f.debug_tuple("File").field(path).finish(),
            // May hold a private key: never print it.
            PemSource::Bytes(bytes) => write!(f, "Bytes(<{} bytes>)", bytes.len()),
        }
    }
}

impl PemSource {
    fn load(&self, what: &str) -> Result<Vec<u8>> {
        match self {
            PemSource::File(path) => std::fs::read(path)
                .map_err(|e| Error::Config(format!("cannot read {what} {}: {e}", path.display()))),
            PemSource::Bytes(bytes) => Ok(bytes.clone()),
        }
    }
}

/// A certificate chain and its private key (a PEM key store).
#[derive(Debug, Clone)]
struct KeyStore {
    chain: PemSource,
    key: PemSource,
}

impl KeyStore {
    fn load(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        let chain_pem = self.chain.load("key store certificate chain")?;
        let chain = parse_certificates(&chain_pem, "key store certificate chain")?;
        let key_pem = self.key.load("key store private key")?;
        let key = parse_private_key(&key_pem)?;
        Ok((chain, key))
    }
}

fn parse_certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("invalid PEM in {what}: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "no certificate found in {what} (only PEM is supported: -----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(certs)
}

fn parse_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => Ok(key),
        Err(rustls_pki_types::pem::Error::NoItemsFound) => {
            if contains(pem, b"ENCRYPTED PRIVATE KEY") || contains(pem, b"Proc-Type: 4,ENCRYPTED") {
                Err(Error::Config(
                    "encrypted private keys (ssl.key.password) are not supported; \
                     provide an unencrypted PKCS#8, PKCS#1 or SEC1 PEM key"
                        .to_string(),
                ))
            } else {
                Err(Error::Config(
                    "no private key found in the key store (only PEM is supported: \
                     -----BEGIN PRIVATE KEY-----)"
                        .to_string(),
                ))
            }
        }
        Err(e) => Err(Error::Config(format!("invalid PEM private key: {e}"))),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn load_roots(source: &PemSource) -> Result<RootCertStore> {
    let pem = source.load("trust store")?;
    let certs = parse_certificates(&pem, "trust store")?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| Error::Config(format!("invalid trust store certificate: {e}")))?;
    }
    Ok(roots)
}

/// The crypto provider (ring), restricted to the named cipher suites if any are given.
fn provider(cipher_suites: &[String]) -> Result<Arc<CryptoProvider>> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !cipher_suites.is_empty() {
        let mut chosen = Vec::new();
        for name in cipher_suites {
            let found = provider.cipher_suites.iter().find(|suite| {
                iana_suite_name(suite.suite()).is_some_and(|n| n.eq_ignore_ascii_case(name))
            });
            match found {
                Some(suite) => chosen.push(*suite),
                None => {
                    return Err(Error::Config(format!(
                        "unsupported cipher suite {name:?} in ssl.cipher.suites"
                    )))
                }
            }
        }
        provider.cipher_suites = chosen;
    }
    Ok(Arc::new(provider))
}

/// The IANA (and Java) name of a suite: rustls prefixes TLS 1.3 suites with `TLS13_`.
fn iana_suite_name(suite: rustls::CipherSuite) -> Option<String> {
    let name = suite.as_str()?;
    Some(match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_string(),
    })
}

fn rustls_versions(versions: &[TlsVersion]) -> Result<Vec<&'static SupportedProtocolVersion>> {
    if versions.is_empty() {
        return Err(Error::Config("no TLS protocol version enabled".to_string()));
    }
    Ok(versions.iter().map(|v| v.rustls()).collect())
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads the PEM key-store keys shared by both sides.
fn keystore_from_properties(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<KeyStore>> {
    let non_empty = |key: &str| get(key).filter(|v| !v.trim().is_empty());
    if let Some(kind) = non_empty("ssl.keystore.type") {
        if !kind.trim().eq_ignore_ascii_case("PEM") {
            return Err(Error::Config(format!(
                "ssl.keystore.type={kind} is not supported; only PEM key stores are"
            )));
        }
    }
    let location = non_empty("ssl.keystore.location");
    let chain = non_empty("ssl.keystore.certificate.chain");
    let key = non_empty("ssl.keystore.key");
    match (location, chain, key) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(Error::Config(
            "set either ssl.keystore.location or ssl.keystore.certificate.chain and ssl.keystore.key, not both"
                .to_string(),
        )),
        (Some(path), None, None) => {
            let path = PathBuf::from(path);
            Ok(Some(KeyStore { chain: PemSource::File(path.clone()), key: PemSource::File(path) }))
        }
        (None, Some(chain), Some(key)) => Ok(Some(KeyStore {
            chain: PemSource::Bytes(chain.into_bytes()),
            key: PemSource::Bytes(key.into_bytes()),
        })),
        (None, Some(_), None) | (None, None, Some(_)) => Err(Error::Config(
            "ssl.keystore.certificate.chain and ssl.keystore.key must be set together".to_string(),
        )),
        (None, None, None) => Ok(None),
    }
}

/// Reads the PEM trust-store keys shared by both sides.
fn truststore_from_properties(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<PemSource>> {
    let non_empty = |key: &str| get(key).filter(|v| !v.trim().is_empty());
    if let Some(kind) = non_empty("ssl.truststore.type") {
        if !kind.trim().eq_ignore_ascii_case("PEM") {
            return Err(Error::Config(format!(
                "ssl.truststore.type={kind} is not supported; only PEM trust stores are"
            )));
        }
    }
    match (
        non_empty("ssl.truststore.location"),
        non_empty("ssl.truststore.certificates"),
    ) {
        (Some(_), Some(_)) => Err(Error::Config(
            "set either ssl.truststore.location or ssl.truststore.certificates, not both"
                .to_string(),
        )),
        (Some(path), None) => Ok(Some(PemSource::File(PathBuf::from(path)))),
        (None, Some(pem)) => Ok(Some(PemSource::Bytes(pem.into_bytes()))),
        (None, None) => Ok(None),
    }
}

fn common_from_properties(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<TlsVersion>, Vec<String>)> {
    let protocols = match get("ssl.enabled.protocols").filter(|v| !v.trim().is_empty()) {
        Some(value) => TlsVersion::parse_list(&value)?,
        None => TlsVersion::ALL.to_vec(),
    };
    let suites = get("ssl.cipher.suites")
        .map(|v| split_list(&v))
        .unwrap_or_default();
    Ok((protocols, suites))
}

// ---------------------------------------------------------------------------------------------
// Server configuration
// ---------------------------------------------------------------------------------------------

/// A built server-side TLS configuration, cheap to clone and shared by every connection of
/// a listener.
#[derive(Debug, Clone)]
pub struct SslServerConfig {
    inner: Arc<rustls::ServerConfig>,
}

impl SslServerConfig {
    /// Starts a builder.
    pub fn builder() -> SslServerConfigBuilder {
        SslServerConfigBuilder::new()
    }

    /// Wraps a rustls configuration built by hand.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> Self {
        SslServerConfig { inner: config }
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> &Arc<rustls::ServerConfig> {
        &self.inner
    }
}

/// Builds an [`SslServerConfig`] with the semantics of Kafka's broker-side `ssl.*` keys,
/// for PEM key and trust stores (`ssl.keystore.type=PEM`, `ssl.truststore.type=PEM`).
///
/// Defaults are Kafka's: `ssl.client.auth=none`, `ssl.enabled.protocols=TLSv1.2,TLSv1.3`,
/// the provider's default cipher suites.
///
/// Not implemented: encrypted private keys (`ssl.key.password`), JKS/PKCS12 stores, and
/// `ssl.principal.mapping.rules` other than `DEFAULT` (see [`SslTransportLayer::peer_principal`]).
#[derive(Debug, Clone)]
pub struct SslServerConfigBuilder {
    keystore: Option<KeyStore>,
    truststore: Option<PemSource>,
    client_auth: ClientAuth,
    protocols: Vec<TlsVersion>,
    cipher_suites: Vec<String>,
}

impl Default for SslServerConfigBuilder {
    fn default() -> Self {
        SslServerConfigBuilder {
            keystore: None,
            truststore: None,
            client_auth: ClientAuth::None,
            protocols: TlsVersion::ALL.to_vec(),
            cipher_suites: Vec::new(),
        }
    }
}

impl SslServerConfigBuilder {
    /// A builder with Kafka's defaults and no key store yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `ssl.keystore.location` with `ssl.keystore.type=PEM`: one file holding the private key
    /// and the certificate chain (server certificate first).
    pub fn keystore_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_path_buf();
        self.keystore = Some(KeyStore {
            chain: PemSource::File(path.clone()),
            key: PemSource::File(path),
        });
        self
    }

    /// The certificate chain and the private key in two PEM files.
    pub fn keystore_pem_files(mut self, chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        self.keystore = Some(KeyStore {
            chain: PemSource::File(chain.as_ref().to_path_buf()),
            key: PemSource::File(key.as_ref().to_path_buf()),
        });
        self
    }

    /// `ssl.keystore.certificate.chain` and `ssl.keystore.key`: PEM text given directly.
    pub fn keystore_pem(
        mut self,
        certificate_chain: impl Into<Vec<u8>>,
        private_key: impl Into<Vec<u8>>,
    ) -> Self {
        self.keystore = Some(KeyStore {
            chain: PemSource::Bytes(certificate_chain.into()),
            key: PemSource::Bytes(private_key.into()),
        });
        self
    }

    /// `ssl.truststore.location` with `ssl.truststore.type=PEM`: the CA certificates client
    /// certificates are verified against.
    pub fn truststore_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        self.truststore = Some(PemSource::File(path.as_ref().to_path_buf()));
        self
    }

    /// `ssl.truststore.certificates`: PEM CA certificates given directly.
    pub fn truststore_pem(mut self, certificates: impl Into<Vec<u8>>) -> Self {
        self.truststore = Some(PemSource::Bytes(certificates.into()));
        self
    }

    /// `ssl.client.auth`. `requested` and `required` need a trust store.
    pub fn client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// `ssl.enabled.protocols`.
    pub fn enabled_protocols(mut self, protocols: &[TlsVersion]) -> Self {
        self.protocols = protocols.to_vec();
        self
    }

    /// `ssl.cipher.suites`, by IANA name (e.g. `TLS_AES_128_GCM_SHA256`,
    /// `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`); empty means the provider's defaults.
    pub fn cipher_suites<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.cipher_suites = names.into_iter().map(Into::into).collect();
        self
    }

    /// A builder from Kafka's broker keys: `ssl.keystore.type` (PEM only),
    /// `ssl.keystore.location` or `ssl.keystore.certificate.chain` + `ssl.keystore.key`,
    /// `ssl.truststore.type` (PEM only), `ssl.truststore.location` or
    /// `ssl.truststore.certificates`, `ssl.client.auth`, `ssl.enabled.protocols`,
    /// `ssl.cipher.suites` and `ssl.principal.mapping.rules` (only `DEFAULT`). `get` returns
    /// a key's value if set. `ssl.protocol`, passwords and `ssl.key.password` are ignored
    /// (keys must not be encrypted).
    pub fn from_properties(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get: &dyn Fn(&str) -> Option<String> = &get;
        if let Some(rules) = get("ssl.principal.mapping.rules") {
            if !rules.trim().is_empty() && rules.trim() != "DEFAULT" {
                return Err(Error::Config(
                    "ssl.principal.mapping.rules is not supported (only DEFAULT)".to_string(),
                ));
            }
        }
        let (protocols, cipher_suites) = common_from_properties(get)?;
        let client_auth = match get("ssl.client.auth").filter(|v| !v.trim().is_empty()) {
            Some(value) => ClientAuth::from_name(&value)?,
            None => ClientAuth::None,
        };
        Ok(SslServerConfigBuilder {
            keystore: keystore_from_properties(get)?,
            truststore: truststore_from_properties(get)?,
            client_auth,
            protocols,
            cipher_suites,
        })
    }

    /// Loads the key and trust stores and builds the configuration.
    pub fn build(&self) -> Result<SslServerConfig> {
        let keystore = self.keystore.as_ref().ok_or_else(|| {
            Error::Config(
                "a TLS listener needs a key store (ssl.keystore.location, or \
                 ssl.keystore.certificate.chain and ssl.keystore.key)"
                    .to_string(),
            )
        })?;
        let (chain, key) = keystore.load()?;
        let provider = provider(&self.cipher_suites)?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&rustls_versions(&self.protocols)?)
            .map_err(|e| {
                Error::Config(format!("TLS protocols and cipher suites do not match: {e}"))
            })?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Requested | ClientAuth::Required => {
                let truststore = self.truststore.as_ref().ok_or_else(|| {
                    Error::Config(format!(
                        "ssl.client.auth={} needs a trust store (ssl.truststore.location)",
                        self.client_auth.name()
                    ))
                })?;
                let roots = Arc::new(load_roots(truststore)?);
                let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
                if self.client_auth == ClientAuth::Requested {
                    verifier = verifier.allow_unauthenticated();
                }
                let verifier = verifier.build().map_err(|e| {
                    Error::Config(format!("invalid client certificate verifier: {e}"))
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| Error::Config(format!("invalid key store: {e}")))?;
        Ok(SslServerConfig {
            inner: Arc::new(config),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Client configuration
// ---------------------------------------------------------------------------------------------

/// A built client-side TLS configuration, cheap to clone and shared by every connection.
#[derive(Debug, Clone)]
pub struct SslClientConfig {
    inner: Arc<rustls::ClientConfig>,
}

impl SslClientConfig {
    /// Starts a builder.
    pub fn builder() -> SslClientConfigBuilder {
        SslClientConfigBuilder::new()
    }

    /// Wraps a rustls configuration built by hand.
    pub fn from_rustls(config: Arc<rustls::ClientConfig>) -> Self {
        SslClientConfig { inner: config }
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> &Arc<rustls::ClientConfig> {
        &self.inner
    }
}

/// Builds an [`SslClientConfig`] with the semantics of Kafka's client-side `ssl.*` keys, for
/// PEM stores.
///
/// A trust store is required: unlike Java, the system's CA certificates are not used.
/// Defaults are Kafka's: `ssl.endpoint.identification.algorithm=https`,
/// `ssl.enabled.protocols=TLSv1.2,TLSv1.3`, no client certificate.
#[derive(Debug, Clone)]
pub struct SslClientConfigBuilder {
    keystore: Option<KeyStore>,
    truststore: Option<PemSource>,
    endpoint_identification: EndpointIdentification,
    protocols: Vec<TlsVersion>,
    cipher_suites: Vec<String>,
}

impl Default for SslClientConfigBuilder {
    fn default() -> Self {
        SslClientConfigBuilder {
            keystore: None,
            truststore: None,
            endpoint_identification: EndpointIdentification::Https,
            protocols: TlsVersion::ALL.to_vec(),
            cipher_suites: Vec::new(),
        }
    }
}

impl SslClientConfigBuilder {
    /// A builder with Kafka's defaults and no trust store yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `ssl.truststore.location` (PEM): the CA certificates the server is verified against.
    pub fn truststore_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        self.truststore = Some(PemSource::File(path.as_ref().to_path_buf()));
        self
    }

    /// `ssl.truststore.certificates`: PEM CA certificates given directly.
    pub fn truststore_pem(mut self, certificates: impl Into<Vec<u8>>) -> Self {
        self.truststore = Some(PemSource::Bytes(certificates.into()));
        self
    }

    /// `ssl.keystore.location` (PEM): the client certificate chain and key in one file, for
    /// listeners with `ssl.client.auth` set.
    pub fn keystore_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_path_buf();
        self.keystore = Some(KeyStore {
            chain: PemSource::File(path.clone()),
            key: PemSource::File(path),
        });
        self
    }

    /// The client certificate chain and key in two PEM files.
    pub fn keystore_pem_files(mut self, chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        self.keystore = Some(KeyStore {
            chain: PemSource::File(chain.as_ref().to_path_buf()),
            key: PemSource::File(key.as_ref().to_path_buf()),
        });
        self
    }

    /// `ssl.keystore.certificate.chain` and `ssl.keystore.key`: PEM text given directly.
    pub fn keystore_pem(
        mut self,
        certificate_chain: impl Into<Vec<u8>>,
        private_key: impl Into<Vec<u8>>,
    ) -> Self {
        self.keystore = Some(KeyStore {
            chain: PemSource::Bytes(certificate_chain.into()),
            key: PemSource::Bytes(private_key.into()),
        });
        self
    }

    /// `ssl.endpoint.identification.algorithm`.
    pub fn endpoint_identification(
        mut self,
        endpoint_identification: EndpointIdentification,
    ) -> Self {
        self.endpoint_identification = endpoint_identification;
        self
    }

    /// `ssl.enabled.protocols`.
    pub fn enabled_protocols(mut self, protocols: &[TlsVersion]) -> Self {
        self.protocols = protocols.to_vec();
        self
    }

    /// `ssl.cipher.suites`, by IANA name; empty means the provider's defaults.
    pub fn cipher_suites<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.cipher_suites = names.into_iter().map(Into::into).collect();
        self
    }

    /// A builder from Kafka's client keys: `ssl.truststore.type` (PEM only),
    /// `ssl.truststore.location` or `ssl.truststore.certificates`, `ssl.keystore.type`
    /// (PEM only), `ssl.keystore.location` or `ssl.keystore.certificate.chain` +
    /// `ssl.keystore.key`, `ssl.endpoint.identification.algorithm` (unset means `https`),
    /// `ssl.enabled.protocols` and `ssl.cipher.suites`.
    pub fn from_properties(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get: &dyn Fn(&str) -> Option<String> = &get;
        let (protocols, cipher_suites) = common_from_properties(get)?;
        let endpoint_identification = match get("ssl.endpoint.identification.algorithm") {
            Some(value) => EndpointIdentification::from_name(&value)?,
            None => EndpointIdentification::Https,
        };
        Ok(SslClientConfigBuilder {
            keystore: keystore_from_properties(get)?,
            truststore: truststore_from_properties(get)?,
            endpoint_identification,
            protocols,
            cipher_suites,
        })
    }

    /// Loads the stores and builds the configuration.
    pub fn build(&self) -> Result<SslClientConfig> {
        let truststore = self.truststore.as_ref().ok_or_else(|| {
            Error::Config(
                "a TLS client needs a trust store (ssl.truststore.location or \
                 ssl.truststore.certificates); system CA certificates are not used"
                    .to_string(),
            )
        })?;
        let roots = Arc::new(load_roots(truststore)?);
        let provider = provider(&self.cipher_suites)?;
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&rustls_versions(&self.protocols)?)
            .map_err(|e| {
                Error::Config(format!("TLS protocols and cipher suites do not match: {e}"))
            })?;
        let webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| Error::Config(format!("invalid server certificate verifier: {e}")))?;
        let builder = match self.endpoint_identification {
            EndpointIdentification::Https => builder.with_webpki_verifier(webpki),
            EndpointIdentification::Disabled => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnlyVerifier {
                    webpki,
                    roots,
                    provider,
                })),
        };
        let config = match &self.keystore {
            None => builder.with_no_client_auth(),
            Some(keystore) => {
                let (chain, key) = keystore.load()?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| Error::Config(format!("invalid key store: {e}")))?
            }
        };
        Ok(SslClientConfig {
            inner: Arc::new(config),
        })
    }
}

/// Verifies the server's chain against the trust store but not the host name
/// (`ssl.endpoint.identification.algorithm=` empty).
#[derive(Debug)]
struct ChainOnlyVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

// ---------------------------------------------------------------------------------------------
// Principal from a certificate
// ---------------------------------------------------------------------------------------------

/// The subject of a DER certificate as Java's `X500Principal.getName()` prints it (RFC 2253):
/// the relative distinguished names in reverse order of their encoding, e.g.
/// `CN=client,O=Example,C=US`; multi-valued RDNs joined with `+`; the keywords CN, C, L, ST,
/// O, OU, STREET, DC and UID; any other attribute as its dotted OID with the value's DER in
/// hex (`1.2.840.113549.1.9.1=#16...` for an e-mail address); `,=+<>#;"\` escaped with a
/// backslash, as are leading and trailing spaces.
///
/// This is the name Kafka's default principal builder gives a client certificate
/// (`ssl.principal.mapping.rules=DEFAULT`).
pub fn certificate_subject(certificate_der: &[u8]) -> Result<String> {
    let (_, cert) = X509Certificate::from_der(certificate_der)
        .map_err(|e| Error::Tls(format!("cannot parse certificate: {e}")))?;
    let mut out = String::new();
    let rdns: Vec<_> = cert.subject().iter().collect();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attribute) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = attribute.attr_type().to_id_string();
            format_attribute(&mut out, &oid, attribute.attr_value())?;
        }
    }
    Ok(out)
}

/// Java's RFC 2253 keywords (`AVAKeyword` entries marked RFC 2253 compliant).
fn rfc2253_keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn format_attribute(out: &mut String, oid: &str, value: &Any<'_>) -> Result<()> {
    let is_string = value.class() == Class::Universal
        && matches!(
            value.tag(),
            Tag::PrintableString
                | Tag::T61String
                | Tag::Ia5String
                | Tag::GeneralString
                | Tag::BmpString
                | Tag::Utf8String
        );
    match rfc2253_keyword(oid) {
        Some(keyword) if is_string => {
            out.push_str(keyword);
            out.push('=');
            // Java decodes every directory string's bytes as UTF-8 here.
            escape_rfc2253(out, &String::from_utf8_lossy(value.data));
        }
        keyword => {
            out.push_str(keyword.unwrap_or(oid));
            out.push_str("=#");
            let der = value.to_der_vec().map_err(|e| {
                Error::Tls(format!("cannot encode certificate subject attribute: {e}"))
            })?;
            for byte in der {
                out.push_str(&format!("{byte:02x}"));
            }
        }
    }
    Ok(())
}

fn escape_rfc2253(out: &mut String, value: &str) {
    const ESCAPEES: &str = ",=+<>#;\"\\";
    let mut escaped: Vec<char> = Vec::with_capacity(value.len());
    for c in value.chars() {
        if ESCAPEES.contains(c) {
            escaped.push('\\');
            escaped.push(c);
        } else if c == '\0' {
            escaped.extend(['\\', '0', '0']);
        } else {
            escaped.push(c);
        }
    }
    let is_space = |c: &char| *c == ' ' || *c == '\r';
    let lead = escaped.iter().take_while(|c| is_space(c)).count();
    let trail = escaped.iter().rev().take_while(|c| is_space(c)).count();
    let len = escaped.len();
    for (i, c) in escaped.into_iter().enumerate() {
        if i < lead || i >= len - trail {
            out.push('\\');
        }
        out.push(c);
    }
}

// ---------------------------------------------------------------------------------------------
// The transport
// ---------------------------------------------------------------------------------------------

/// What one attempt to bring in encrypted bytes achieved.
enum Pump {
    /// Bytes went into rustls (and were processed).
    Fed,
    /// The socket is at end of stream and everything read has been processed.
    Eof,
}

/// A TLS connection over a non-blocking stream, server or client side.
///
/// The handshake is driven by [`SslTransportLayer::handshake`] whenever the socket is ready
/// for [`SslTransportLayer::handshake_interest`]; it keeps reading while its own output
/// waits, so two peers with full buffers cannot deadlock. Once [`SslTransportLayer::ready`]
/// (handshake complete and its last flight on the socket), reads and writes carry
/// application data.
///
/// Buffering, which the selector must know about:
///
/// - Encrypted bytes rustls must send stay in rustls until the socket takes them: a partial
///   socket write loses nothing. [`SslTransportLayer::has_pending_writes`] reports them and
///   [`SslTransportLayer::flush_pending`] pushes them; writes are refused (`WouldBlock`)
///   while any are pending, which bounds memory to one write's worth (64 KiB).
/// - One socket read brings in up to 32 KiB, often several TLS records; rustls hands back
///   one record's worth at a time. What is left (decrypted or not), and an end of stream not
///   yet returned, produce no new socket readiness: [`SslTransportLayer::has_buffered_read`]
///   says so, and the selector must keep reading the channel (without waiting for an event)
///   while it is true, including right after the handshake completes, since the peer's first
///   request may have arrived with its last handshake flight.
/// - Post-handshake messages (TLS 1.3 session tickets, key updates) are handled inside
///   `read`; an answer the socket does not take is reported as a pending write.
///
/// The stream is generic so tests can drive the layer through an in-memory pipe; the
/// [`TransportLayer`] implementation needs a mio source with a file descriptor
/// (`mio::net::TcpStream`).
pub struct SslTransportLayer<S = mio::net::TcpStream> {
    stream: S,
    conn: Connection,
    /// Encrypted bytes read from the socket, `net_in[net_start..net_end]` not yet given to rustls.
    net_in: Vec<u8>,
    net_start: usize,
    net_end: usize,
    /// The socket returned end of stream.
    socket_eof: bool,
    /// Decrypted bytes waiting in rustls.
    plaintext_buffered: usize,
    /// The peer's close_notify was received.
    peer_closed: bool,
    /// `read` has returned end of stream.
    eof_reported: bool,
    handshake_complete: bool,
    close_notify_sent: bool,
    principal: KafkaPrincipal,
    transfer_buf: Vec<u8>,
}

impl<S: fmt::Debug> fmt::Debug for SslTransportLayer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SslTransportLayer")
            .field("stream", &self.stream)
            .field("side", &self.side_name())
            .field("handshake_complete", &self.handshake_complete)
            .field("protocol", &self.conn.protocol_version())
            .field("encrypted_buffered", &(self.net_end - self.net_start))
            .field("plaintext_buffered", &self.plaintext_buffered)
            .field("pending_writes", &self.conn.wants_write())
            .field("principal", &self.principal)
            .finish()
    }
}

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

fn tls_io_error(error: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl<S> SslTransportLayer<S> {
    fn side_name(&self) -> &'static str {
        match self.conn {
            Connection::Client(_) => "client",
            Connection::Server(_) => "server",
        }
    }
}

impl<S: Read + Write> SslTransportLayer<S> {
    /// The server side of a connection accepted on `stream`.
    pub fn server(stream: S, config: &SslServerConfig) -> Result<Self> {
        let conn =
            ServerConnection::new(config.inner.clone()).map_err(|e| Error::Tls(e.to_string()))?;
        Ok(Self::with_connection(stream, Connection::Server(conn)))
    }

    /// The client side of a connection to `server_name` (a host name or an IP address: the
    /// name sent for SNI and, with `ssl.endpoint.identification.algorithm=https`, checked
    /// against the server's certificate).
    pub fn client(stream: S, config: &SslClientConfig, server_name: &str) -> Result<Self> {
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|e| Error::Config(format!("invalid TLS server name {server_name:?}: {e}")))?;
        let conn = ClientConnection::new(config.inner.clone(), name)
            .map_err(|e| Error::Tls(e.to_string()))?;
        Ok(Self::with_connection(stream, Connection::Client(conn)))
    }

    fn with_connection(stream: S, conn: Connection) -> Self {
        SslTransportLayer {
            stream,
            conn,
            net_in: Vec::new(),
            net_start: 0,
            net_end: 0,
            socket_eof: false,
            plaintext_buffered: 0,
            peer_closed: false,
            eof_reported: false,
            handshake_complete: false,
            close_notify_sent: false,
            principal: KafkaPrincipal::anonymous(),
            transfer_buf: Vec::new(),
        }
    }

    /// The underlying stream.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// The underlying stream, e.g. to register it with a poll. Reading or writing it directly
    /// corrupts the TLS session.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// True once the handshake has completed and its last flight is on the socket.
    pub fn ready(&self) -> bool {
        self.handshake_complete
    }

    /// The negotiated protocol version, once known.
    pub fn protocol_version(&self) -> Option<TlsVersion> {
        self.conn
            .protocol_version()
            .and_then(TlsVersion::from_rustls)
    }

    /// The negotiated cipher suite's IANA name, once known.
    pub fn cipher_suite(&self) -> Option<String> {
        self.conn
            .negotiated_cipher_suite()
            .and_then(|s| iana_suite_name(s.suite()))
    }

    /// The peer's certificate chain (end entity first), if it presented one.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    /// Advances the handshake as far as the socket allows. `Ok` whether or not it finished
    /// (see [`SslTransportLayer::ready`]); `Err` if it failed (a TLS alert has then been
    /// queued and, if the socket allowed, sent; the error wraps the `rustls::Error`), or if
    /// the peer closed the connection during the handshake (`UnexpectedEof`).
    pub fn handshake(&mut self) -> io::Result<()> {
        if self.handshake_complete {
            return Ok(());
        }
        loop {
            let flushed = self.flush_tls()?;
            if !self.conn.is_handshaking() {
                // Ready only once the last flight is on the socket.
                if flushed {
                    self.complete_handshake();
                }
                return Ok(());
            }
            // Keep reading even while our output waits: if both peers stopped reading until
            // their writes went through, full buffers on both sides would deadlock.
            match self.pump_in() {
                Ok(Pump::Fed) => {}
                Ok(Pump::Eof) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed by peer during the TLS handshake",
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    fn complete_handshake(&mut self) {
        self.handshake_complete = true;
        self.principal = match self
            .conn
            .peer_certificates()
            .and_then(|chain| chain.first())
        {
            None => KafkaPrincipal::anonymous(),
            Some(cert) => match certificate_subject(cert) {
                Ok(name) => KafkaPrincipal::user(name),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the peer certificate's subject; principal is ANONYMOUS");
                    KafkaPrincipal::anonymous()
                }
            },
        };
        tracing::debug!(
            side = self.side_name(),
            protocol = ?self.conn.protocol_version(),
            cipher_suite = ?self.conn.negotiated_cipher_suite().map(|s| s.suite()),
            principal = %self.principal,
            "TLS handshake complete"
        );
    }

    /// What the handshake waits for: readable while the handshake expects more from the
    /// peer, plus writable while rustls has bytes the socket did not take (only writable
    /// once our last flight is all that is left).
    pub fn handshake_interest(&self) -> Interest {
        match (self.conn.wants_write(), self.conn.is_handshaking()) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (true, false) => Interest::WRITABLE,
            (false, _) => Interest::READABLE,
        }
    }

    /// Reads decrypted application data. `Ok(0)` is end of stream: the peer's close_notify,
    /// or the socket closed without one (a truncation Kafka's framing detects anyway).
    /// `WouldBlock` when no decrypted byte is available and the socket has no more.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.handshake_complete {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "TLS handshake not complete",
            ));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.conn.reader().read(buf) {
                Ok(0) => {
                    self.eof_reported = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.plaintext_buffered = self.plaintext_buffered.saturating_sub(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.eof_reported = true;
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
            self.plaintext_buffered = 0;
            // Nothing decrypted is waiting: bring in more (or learn of end of stream; the
            // reader then reports it on the next turn).
            self.pump_in()?;
            // Post-handshake messages (a TLS 1.3 key update) may need an answer.
            if self.conn.wants_write() {
                let _ = self.flush_tls();
            }
        }
    }

    /// Moves encrypted bytes into rustls: from our read buffer, refilled from the socket
    /// when empty. `WouldBlock` when the socket has nothing.
    fn pump_in(&mut self) -> io::Result<Pump> {
        if self.net_start == self.net_end {
            if self.socket_eof {
                return Ok(Pump::Eof);
            }
            if self.net_in.is_empty() {
                self.net_in = vec![0; NET_READ_BUFFER_SIZE];
            }
            self.net_start = 0;
            self.net_end = 0;
            let n = loop {
                match self.stream.read(&mut self.net_in) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                self.socket_eof = true;
                // Tell rustls, so that its reader distinguishes a clean close from truncation.
                self.conn.read_tls(&mut io::empty())?;
                self.process()?;
                return Ok(Pump::Eof);
            }
            self.net_end = n;
        }
        let mut encrypted = &self.net_in[self.net_start..self.net_end];
        let n = self.conn.read_tls(&mut encrypted)?;
        if n == 0 {
            if self.peer_closed {
                // rustls takes nothing more after close_notify: what follows is ignored.
                self.net_start = self.net_end;
                return Ok(Pump::Eof);
            }
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS layer accepted no input",
            ));
        }
        self.net_start += n;
        self.process()?;
        Ok(Pump::Fed)
    }

    fn process(&mut self) -> io::Result<()> {
        match self.conn.process_new_packets() {
            Ok(state) => {
                self.plaintext_buffered = state.plaintext_bytes_to_read();
                self.peer_closed = state.peer_has_closed();
                Ok(())
            }
            Err(error) => {
                // rustls has queued an alert for the peer: send it if the socket allows.
                let _ = self.flush_tls();
                Err(tls_io_error(error))
            }
        }
    }

    /// Writes rustls' pending TLS bytes; true when none remain.
    fn flush_tls(&mut self) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.stream) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn check_writable(&self) -> io::Result<()> {
        if !self.handshake_complete {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "TLS handshake not complete",
            ));
        }
        if self.close_notify_sent {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "TLS connection closed",
            ));
        }
        Ok(())
    }

    /// Encrypts application data. Returns how many bytes were accepted (at most rustls'
    /// outgoing buffer limit, 64 KiB, per call); accepted bytes are either on the socket or
    /// pending (see [`SslTransportLayer::has_pending_writes`]). `WouldBlock` while earlier
    /// encrypted bytes are still pending, so memory stays bounded.
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.check_writable()?;
        if bufs.iter().all(|b| b.is_empty()) {
            return Ok(0);
        }
        if !self.flush_tls()? {
            return Err(would_block());
        }
        let accepted = self.conn.writer().write_vectored(bufs)?;
        if accepted == 0 {
            return Err(would_block());
        }
        self.flush_tls()?;
        Ok(accepted)
    }

    /// Encrypts application data from one buffer; see [`SslTransportLayer::write_vectored`].
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    /// Sends up to `count` bytes of `file` from `position`: reads at most 32 KiB with
    /// `pread`, encrypts them and writes what the socket takes (TLS cannot use `sendfile`).
    /// Returns the bytes accepted, `Ok(0)` at the end of the file, `WouldBlock` while earlier
    /// encrypted bytes are pending.
    pub fn transfer_from(&mut self, file: &File, position: u64, count: usize) -> io::Result<usize> {
        self.check_writable()?;
        if count == 0 {
            return Ok(0);
        }
        if !self.flush_tls()? {
            return Err(would_block());
        }
        let chunk = count.min(TRANSFER_CHUNK_SIZE);
        if self.transfer_buf.len() < chunk {
            self.transfer_buf.resize(chunk, 0);
        }
        let n = loop {
            match file.read_at(&mut self.transfer_buf[..chunk], position) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(0);
        }
        let accepted = self.conn.writer().write(&self.transfer_buf[..n])?;
        if accepted == 0 {
            return Err(would_block());
        }
        self.flush_tls()?;
        Ok(accepted)
    }

    /// Whether data is waiting that produces no new socket readiness: decrypted bytes not
    /// yet read, encrypted bytes read from the socket but not yet decrypted, or an end of
    /// stream (close_notify or socket EOF) not yet returned by `read`.
    pub fn has_buffered_read(&self) -> bool {
        self.handshake_complete
            && !self.eof_reported
            && (self.plaintext_buffered > 0
                || self.net_start < self.net_end
                || self.peer_closed
                || self.socket_eof)
    }

    /// Whether encrypted bytes wait for the socket.
    pub fn has_pending_writes(&self) -> bool {
        self.conn.wants_write()
    }

    /// Writes pending encrypted bytes; true when none remain.
    pub fn flush_pending(&mut self) -> io::Result<bool> {
        self.flush_tls()
    }

    /// The peer's principal: with a verified client certificate (or, on the client side, the
    /// server's certificate), `User:` and its subject as [`certificate_subject`] formats it,
    /// which is what Kafka's default principal builder produces; `User:ANONYMOUS` otherwise.
    ///
    /// `ssl.principal.mapping.rules` is not implemented: the name is always the one its
    /// `DEFAULT` rule gives.
    pub fn peer_principal(&self) -> KafkaPrincipal {
        self.principal.clone()
    }

    /// Queues a close_notify alert and writes what the socket takes (best effort). Further
    /// writes fail; reads still drain what the peer sent.
    pub fn send_close_notify(&mut self) {
        if !self.close_notify_sent {
            self.conn.send_close_notify();
            self.close_notify_sent = true;
        }
        let _ = self.flush_tls();
    }
}

impl<S> TransportLayer for SslTransportLayer<S>
where
    S: Read + Write + AsFd + mio::event::Source + Send + fmt::Debug + 'static,
{
    fn ready(&self) -> bool {
        SslTransportLayer::ready(self)
    }

    fn handshake(&mut self) -> io::Result<()> {
        SslTransportLayer::handshake(self)
    }

    fn handshake_interest(&self) -> Interest {
        SslTransportLayer::handshake_interest(self)
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        SslTransportLayer::read(self, buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        SslTransportLayer::write_vectored(self, bufs)
    }

    fn transfer_from(&mut self, file: &File, position: u64, count: usize) -> io::Result<usize> {
        SslTransportLayer::transfer_from(self, file, position, count)
    }

    fn has_buffered_read(&self) -> bool {
        SslTransportLayer::has_buffered_read(self)
    }

    fn has_pending_writes(&self) -> bool {
        SslTransportLayer::has_pending_writes(self)
    }

    fn flush_pending(&mut self) -> io::Result<bool> {
        SslTransportLayer::flush_pending(self)
    }

    fn peer_principal(&self) -> KafkaPrincipal {
        SslTransportLayer::peer_principal(self)
    }

    /// Sends close_notify (best effort: whatever the socket takes now), then shuts the
    /// socket down in both directions.
    fn close(&mut self) {
        self.send_close_notify();
        let _ = socket2::SockRef::from(&self.stream).shutdown(std::net::Shutdown::Both);
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        &mut self.stream
    }

    fn tcp_stream(&self) -> Option<&mio::net::TcpStream> {
        (&self.stream as &dyn std::any::Any).downcast_ref::<mio::net::TcpStream>()
    }
}
