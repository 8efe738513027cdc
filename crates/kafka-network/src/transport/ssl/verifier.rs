//! Certificate verification: the client-certificate verifier a server uses under
//! `ssl.client.auth`, and the server-certificate verifier a client uses, with or without host
//! name checks (`ssl.endpoint.identification.algorithm`).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::{Error, Result};

/// Verifies client certificates against `roots` (`ssl.client.auth=required`); with
/// `allow_unauthenticated` a client may also present none (`requested`).
pub(super) fn client_cert_verifier(
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    allow_unauthenticated: bool,
) -> Result<Arc<dyn ClientCertVerifier>> {
    let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
    if allow_unauthenticated {
        verifier = verifier.allow_unauthenticated();
    }
    verifier
        .build()
        .map_err(|e| Error::Config(format!("invalid client certificate verifier: {e}")))
}

/// How a client verifies the server's certificate.
pub(super) enum ServerCertVerification {
    /// Chain and host name (`https`), rustls' own verifier.
    WebPki(Arc<WebPkiServerVerifier>),
    /// Chain only (identification disabled).
    ChainOnly(Arc<dyn ServerCertVerifier>),
}

/// The server-certificate verifier trusting `roots`, checking the host name too when
/// `check_host_name` (`ssl.endpoint.identification.algorithm=https`).
pub(super) fn server_cert_verifier(
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    check_host_name: bool,
) -> Result<ServerCertVerification> {
    let webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| Error::Config(format!("invalid server certificate verifier: {e}")))?;
    Ok(if check_host_name {
        ServerCertVerification::WebPki(webpki)
    } else {
        ServerCertVerification::ChainOnly(Arc::new(ChainOnlyVerifier {
            webpki,
            roots,
            provider,
        }))
    })
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
