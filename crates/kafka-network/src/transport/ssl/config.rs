//! Building rustls configurations from Kafka's `ssl.*` settings: key and trust stores (PEM
//! only), `ssl.client.auth`, `ssl.endpoint.identification.algorithm`, protocol versions and
//! cipher suites. What a built configuration verifies lives in [`super::verifier`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::principal::check_principal_mapping_rules;
use super::verifier::{client_cert_verifier, server_cert_verifier, ServerCertVerification};
use crate::error::{Error, Result};

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

    pub(super) fn from_rustls(version: ProtocolVersion) -> Option<Self> {
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
pub(super) fn iana_suite_name(suite: rustls::CipherSuite) -> Option<String> {
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
///
/// Built by [`SslServerConfigBuilder::build`], its certificate can be replaced while it is in
/// use ([`SslServerConfig::reload_keystore`]): rustls asks for the certificate at each
/// handshake, so new connections see the new one and established ones keep theirs, which is
/// how Kafka rotates a listener's key store without a restart.
#[derive(Debug, Clone)]
pub struct SslServerConfig {
    pub(super) inner: Arc<rustls::ServerConfig>,
    /// The swappable certificate, when built from a key store here (not [`Self::from_rustls`]).
    cert: Option<Arc<SwappableCert>>,
}

/// The certificate rustls hands out at each handshake, replaceable under a lock held only for
/// an `Arc` clone.
#[derive(Debug)]
struct SwappableCert {
    current: std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>,
    provider: Arc<CryptoProvider>,
}

impl SwappableCert {
    fn certified_key(
        provider: &CryptoProvider,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Arc<rustls::sign::CertifiedKey>> {
        rustls::sign::CertifiedKey::from_der(chain, key, provider)
            .map(Arc::new)
            .map_err(|e| Error::Config(format!("invalid key store: {e}")))
    }
}

impl rustls::server::ResolvesServerCert for SwappableCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        // A poisoned lock still holds a complete `Arc`: the swap is one assignment.
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

impl SslServerConfig {
    /// Starts a builder.
    pub fn builder() -> SslServerConfigBuilder {
        SslServerConfigBuilder::new()
    }

    /// Wraps a rustls configuration built by hand.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> Self {
        SslServerConfig {
            inner: config,
            cert: None,
        }
    }

    /// Replaces the certificate and key with `builder`'s key store, for connections accepted
    /// from now on; established connections keep the certificate they were handshaken with.
    /// Only the key store is taken from `builder` (protocols, cipher suites and client
    /// authentication stay as built). On error nothing changes.
    pub fn reload_keystore(&self, builder: &SslServerConfigBuilder) -> Result<()> {
        let cert = self.cert.as_ref().ok_or_else(|| {
            Error::Config("this TLS configuration was not built from a key store".into())
        })?;
        let (chain, key) = builder.keystore()?.load()?;
        let next = SwappableCert::certified_key(&cert.provider, chain, key)?;
        *cert.current.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }

    /// The DER end-entity certificate served to new connections, if known here.
    pub fn current_certificate(&self) -> Option<CertificateDer<'static>> {
        let cert = self.cert.as_ref()?;
        let current = cert.current.read().unwrap_or_else(|e| e.into_inner());
        current.cert.first().cloned()
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
/// `ssl.principal.mapping.rules` other than `DEFAULT` (see [`SslTransportLayer::peer_principal`](super::SslTransportLayer::peer_principal)).
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
        check_principal_mapping_rules(get)?;
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

    /// The key store, or the error naming the keys that give one.
    fn keystore(&self) -> Result<&KeyStore> {
        self.keystore.as_ref().ok_or_else(|| {
            Error::Config(
                "a TLS listener needs a key store (ssl.keystore.location, or \
                 ssl.keystore.certificate.chain and ssl.keystore.key)"
                    .to_string(),
            )
        })
    }

    /// Loads the key and trust stores and builds the configuration.
    pub fn build(&self) -> Result<SslServerConfig> {
        let (chain, key) = self.keystore()?.load()?;
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
                let allow_unauthenticated = self.client_auth == ClientAuth::Requested;
                builder.with_client_cert_verifier(client_cert_verifier(
                    roots,
                    provider.clone(),
                    allow_unauthenticated,
                )?)
            }
        };
        let cert = Arc::new(SwappableCert {
            current: std::sync::RwLock::new(SwappableCert::certified_key(&provider, chain, key)?),
            provider,
        });
        let config = builder.with_cert_resolver(cert.clone());
        Ok(SslServerConfig {
            inner: Arc::new(config),
            cert: Some(cert),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Client configuration
// ---------------------------------------------------------------------------------------------

/// A built client-side TLS configuration, cheap to clone and shared by every connection.
#[derive(Debug, Clone)]
pub struct SslClientConfig {
    pub(super) inner: Arc<rustls::ClientConfig>,
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
        let builder = match server_cert_verifier(
            roots,
            provider,
            self.endpoint_identification == EndpointIdentification::Https,
        )? {
            ServerCertVerification::WebPki(webpki) => builder.with_webpki_verifier(webpki),
            ServerCertVerification::ChainOnly(chain_only) => builder
                .dangerous()
                .with_custom_certificate_verifier(chain_only),
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
