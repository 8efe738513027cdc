//! Who the peer is: the principal Kafka's default principal builder derives from a
//! certificate (`ssl.principal.mapping.rules=DEFAULT`, the only rule supported).

use rustls_pki_types::CertificateDer;
use x509_parser::asn1_rs::{Any, Class, Tag, ToDer};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Error, Result};
use crate::principal::KafkaPrincipal;

/// Refuses `ssl.principal.mapping.rules` other than `DEFAULT` (or unset): a rule we would
/// ignore would name peers differently from what the operator configured.
pub(super) fn check_principal_mapping_rules(get: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    if let Some(rules) = get("ssl.principal.mapping.rules") {
        if !rules.trim().is_empty() && rules.trim() != "DEFAULT" {
            return Err(Error::Config(
                "ssl.principal.mapping.rules is not supported (only DEFAULT)".to_string(),
            ));
        }
    }
    Ok(())
}

/// The principal of a peer that presented `chain` (end-entity certificate first): `User:` and
/// the subject as [`certificate_subject`] formats it, `User:ANONYMOUS` without a certificate
/// or when its subject cannot be read.
pub(super) fn peer_principal(chain: Option<&[CertificateDer<'_>]>) -> KafkaPrincipal {
    match chain.and_then(|chain| chain.first()) {
        None => KafkaPrincipal::anonymous(),
        Some(cert) => match certificate_subject(cert) {
            Ok(name) => KafkaPrincipal::user(name),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the peer certificate's subject; principal is ANONYMOUS");
                KafkaPrincipal::anonymous()
            }
        },
    }
}

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
