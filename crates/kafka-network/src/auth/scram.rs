//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks them.
//!
//! The hash plumbing is the `sasl` crate's: its
//! [`ScramProvider`](sasl::common::scram::ScramProvider) trait, its SHA-256 provider, and
//! [`Sha512`] (defined beside [`ScramMechanism`], re-exported here), which plugs SHA-512 into
//! the same trait. The client side of the exchange
//! is the crate's `sasl::client::mechanisms::Scram`, wrapped with the checks Kafka's
//! `ScramSaslClient` makes (server nonce extends the client's, iteration count within Kafka's
//! bounds, `e=` server errors).
//!
//! The server side is a small state machine of our own built on the crate's primitives
//! (`ScramProvider::{hash, hmac}`, `generate_nonce`), because the crate's server mechanism
//! (`sasl::server::mechanisms::Scram`, sasl 0.5.2) cannot serve Kafka's clients:
//!
//! - it rejects the GS2 header `n,,` that every Kafka client sends (Java, librdkafka): with
//!   channel binding unsupported it accepts only `y,,`;
//! - its provider must hand over the *salted password*, which is password-equivalent for SCRAM;
//!   Kafka (and RFC 5802) store only `StoredKey` and `ServerKey`, and so do we;
//! - it compares the client proof with `!=`, not in constant time;
//! - it neither decodes `=2C`/`=3D` in user names, nor checks the authorization id, the
//!   channel-binding echo or the nonce of the client's final message.
//!
//! Kafka's flavour: iterations between 4096 and 16384, the `tokenauth` extension (delegation
//! tokens) refused since this crate has no tokens, other extensions ignored, an unknown user
//! refused at the first message (as Kafka does, rather than with a simulated challenge).

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sasl::common::scram::{generate_nonce, Sha256};
use sasl::common::{ChannelBinding, Password};
use subtle::ConstantTimeEq;

use crate::auth::credentials::{CredentialStore, ScramCredential};
use crate::auth::mechanism::{ClientMechanism, ServerMechanism, ServerRejection, ServerStep};
use crate::error::{Error, Result};

// The hash types have their home below the exchange (credentials hash with them too); these
// are their public paths.
pub use crate::auth::mechanism::ScramMechanism;
pub use crate::auth::scram_hash::{Pbkdf2Sha512, Sha512};

/// Escapes a user name for a SCRAM message (`,` → `=2C`, `=` → `=3D`).
pub fn encode_saslname(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

/// Reverses [`encode_saslname`]; fails on an empty name or an `=` not followed by `2C`/`3D`.
pub fn decode_saslname(saslname: &str) -> std::result::Result<String, String> {
    if saslname.is_empty() {
        return Err("empty user name".into());
    }
    let mut out = String::with_capacity(saslname.len());
    let mut rest = saslname;
    while let Some(pos) = rest.find('=') {
        out.push_str(rest.get(..pos).unwrap_or_default());
        let after = rest.get(pos + 1..).unwrap_or_default();
        if let Some(r) = after.strip_prefix("2C") {
            out.push(',');
            rest = r;
        } else if let Some(r) = after.strip_prefix("3D") {
            out.push('=');
            rest = r;
        } else {
            return Err("invalid escape in user name".into());
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// `attr=value` extensions: the key alphabetic, the value non-empty.
fn parse_extensions<'a>(
    attrs: impl Iterator<Item = &'a str>,
) -> std::result::Result<Vec<(&'a str, &'a str)>, String> {
    attrs
        .map(|attr| match attr.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphabetic()) && !v.is_empty() =>
            {
                Ok((k, v))
            }
            _ => Err(format!("invalid extension {attr:?}")),
        })
        .collect()
}

/// A nonce: printable ASCII except `,`, non-empty.
fn check_nonce(nonce: &str) -> std::result::Result<(), String> {
    if !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
    {
        Ok(())
    } else {
        Err("invalid nonce".into())
    }
}

/// `client-first-message` (RFC 5802 §7).
#[derive(Debug, PartialEq, Eq)]
struct ClientFirst<'a> {
    /// `gs2-header`, e.g. `n,,`, echoed base64-encoded in the final message.
    gs2_header: &'a str,
    /// The authorization id of the GS2 header, if any.
    authzid: Option<String>,
    /// `client-first-message-bare`, part of the AuthMessage.
    bare: &'a str,
    /// The decoded user name.
    username: String,
    /// The client nonce.
    nonce: &'a str,
    /// Extensions after the nonce (Kafka's `tokenauth=true`).
    extensions: Vec<(&'a str, &'a str)>,
}

impl<'a> ClientFirst<'a> {
    fn parse(message: &'a str) -> std::result::Result<Self, String> {
        let (cbind, rest) = message.split_once(',').ok_or("missing GS2 header")?;
        match cbind {
            "n" | "y" => {}
            c if c.starts_with("p=") => return Err("channel binding is not supported".into()),
            _ => return Err("invalid GS2 channel-binding flag".into()),
        }
        let (authz, bare) = rest.split_once(',').ok_or("missing GS2 header")?;
        let authzid = if authz.is_empty() {
            None
        } else {
            let name = authz.strip_prefix("a=").ok_or("invalid authorization id")?;
            Some(decode_saslname(name)?)
        };
        let gs2_header = message
            .get(..cbind.len() + authz.len() + 2)
            .ok_or("invalid GS2 header")?;
        let mut attrs = bare.split(',');
        let name_attr = attrs.next().unwrap_or_default();
        if name_attr.starts_with("m=") {
            return Err("mandatory extensions are not supported".into());
        }
        let username = decode_saslname(name_attr.strip_prefix("n=").ok_or("missing user name")?)?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or("missing nonce")?;
        check_nonce(nonce)?;
        let extensions = parse_extensions(attrs)?;
        Ok(ClientFirst {
            gs2_header,
            authzid,
            bare,
            username,
            nonce,
            extensions,
        })
    }
}

/// `client-final-message`.
#[derive(Debug, PartialEq, Eq)]
struct ClientFinal<'a> {
    /// `client-final-message-without-proof`, part of the AuthMessage.
    without_proof: &'a str,
    /// The base64 channel-binding echo (`c=`).
    channel_binding: &'a str,
    /// The combined nonce (`r=`).
    nonce: &'a str,
    /// The base64 proof (`p=`).
    proof: &'a str,
}

impl<'a> ClientFinal<'a> {
    fn parse(message: &'a str) -> std::result::Result<Self, String> {
        let (without_proof, proof) = message.rsplit_once(",p=").ok_or("missing proof")?;
        if proof.is_empty() || proof.contains(',') {
            return Err("invalid proof".into());
        }
        let mut attrs = without_proof.split(',');
        let channel_binding = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or("missing channel binding")?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or("missing nonce")?;
        check_nonce(nonce)?;
        parse_extensions(attrs)?;
        Ok(ClientFinal {
            without_proof,
            channel_binding,
            nonce,
            proof,
        })
    }
}

/// `server-first-message`.
#[derive(Debug, PartialEq, Eq)]
struct ServerFirst<'a> {
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

impl<'a> ServerFirst<'a> {
    fn parse(message: &'a str) -> std::result::Result<Self, String> {
        let mut attrs = message.split(',');
        let nonce_attr = attrs.next().unwrap_or_default();
        if nonce_attr.starts_with("m=") {
            return Err("mandatory extensions are not supported".into());
        }
        let nonce = nonce_attr.strip_prefix("r=").ok_or("missing nonce")?;
        check_nonce(nonce)?;
        let salt = attrs
            .next()
            .and_then(|a| a.strip_prefix("s="))
            .ok_or("missing salt")?;
        let salt = BASE64.decode(salt).map_err(|_| "invalid salt")?;
        let iterations = attrs
            .next()
            .and_then(|a| a.strip_prefix("i="))
            .ok_or("missing iteration count")?;
        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err("invalid iteration count".into());
        }
        let iterations = iterations.parse().map_err(|_| "invalid iteration count")?;
        parse_extensions(attrs)?;
        Ok(ServerFirst {
            nonce,
            salt,
            iterations,
        })
    }
}

/// What the server keeps between the client's first and final messages.
#[derive(Debug)]
struct FirstRound {
    username: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    credential: ScramCredential,
}

#[derive(Debug)]
enum ServerState {
    AwaitClientFirst,
    AwaitClientFinal(Box<FirstRound>),
    Done,
}

/// The server side of a SCRAM exchange (Kafka's `ScramSaslServer`).
pub(crate) struct ScramServer {
    mechanism: ScramMechanism,
    store: Arc<dyn CredentialStore>,
    state: ServerState,
    /// Fixed server nonce for byte-exact tests; random otherwise.
    fixed_nonce: Option<String>,
}

impl fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramServer")
            .field("mechanism", &self.mechanism)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

fn internal(message: impl Into<String>) -> ServerRejection {
    ServerRejection::Internal(message.into())
}

impl ScramServer {
    pub(crate) fn new(mechanism: ScramMechanism, store: Arc<dyn CredentialStore>) -> Self {
        ScramServer {
            mechanism,
            store,
            state: ServerState::AwaitClientFirst,
            fixed_nonce: None,
        }
    }

    #[cfg(test)]
    fn with_server_nonce(mut self, nonce: &str) -> Self {
        self.fixed_nonce = Some(nonce.to_owned());
        self
    }

    fn client_first(
        &self,
        token: &[u8],
    ) -> std::result::Result<(FirstRound, Vec<u8>), ServerRejection> {
        let message = std::str::from_utf8(token)
            .map_err(|_| internal("Invalid SCRAM client first message format: not UTF-8"))?;
        let first = ClientFirst::parse(message)
            .map_err(|e| internal(format!("Invalid SCRAM client first message format: {e}")))?;
        if first
            .extensions
            .iter()
            .any(|(k, v)| *k == "tokenauth" && v.eq_ignore_ascii_case("true"))
        {
            return Err(internal(
                "Token Authentication failed: delegation tokens are not supported",
            ));
        }
        let credential = self
            .store
            .scram_credential(self.mechanism, &first.username)
            .ok_or_else(|| internal("Authentication failed: Invalid user credentials"))?;
        if first
            .authzid
            .as_ref()
            .is_some_and(|authzid| !authzid.is_empty() && *authzid != first.username)
        {
            return Err(ServerRejection::Client(
                "Authentication failed: Client requested an authorization id that is different from username"
                    .into(),
            ));
        }
        if credential.iterations < ScramMechanism::MIN_ITERATIONS {
            return Err(internal(format!(
                "Iterations {} is less than the minimum {} for {}",
                credential.iterations,
                ScramMechanism::MIN_ITERATIONS,
                self.mechanism
            )));
        }
        if credential.stored_key.len() != self.mechanism.key_len()
            || credential.server_key.len() != self.mechanism.key_len()
        {
            return Err(internal(
                "Authentication failed: Credentials could not be obtained",
            ));
        }
        let server_nonce = match &self.fixed_nonce {
            Some(n) => n.clone(),
            None => {
                generate_nonce().map_err(|e| internal(format!("cannot generate a nonce: {e}")))?
            }
        };
        let nonce = format!("{}{}", first.nonce, server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        let reply = server_first.clone().into_bytes();
        Ok((
            FirstRound {
                username: first.username,
                gs2_header: first.gs2_header.to_owned(),
                client_first_bare: first.bare.to_owned(),
                server_first,
                nonce,
                credential,
            },
            reply,
        ))
    }

    fn client_final(
        &self,
        round: &FirstRound,
        token: &[u8],
    ) -> std::result::Result<Vec<u8>, ServerRejection> {
        let message = std::str::from_utf8(token)
            .map_err(|_| internal("Invalid SCRAM client final message format: not UTF-8"))?;
        let fin = ClientFinal::parse(message)
            .map_err(|e| internal(format!("Invalid SCRAM client final message format: {e}")))?;
        let channel_binding = BASE64
            .decode(fin.channel_binding)
            .map_err(|_| internal("Invalid SCRAM client final message format: channel binding"))?;
        if channel_binding != round.gs2_header.as_bytes() {
            return Err(internal(
                "Invalid channel binding in the final client message.",
            ));
        }
        if fin.nonce != round.nonce {
            return Err(internal(
                "Invalid client nonce in the final client message.",
            ));
        }
        let proof = BASE64
            .decode(fin.proof)
            .map_err(|_| internal("Invalid SCRAM client final message format: proof"))?;
        let auth_message = format!(
            "{},{},{}",
            round.client_first_bare, round.server_first, fin.without_proof
        );
        let credential = &round.credential;
        let client_signature = self
            .mechanism
            .hmac(&credential.stored_key, auth_message.as_bytes())
            .map_err(|e| internal(e.to_string()))?;
        if proof.len() != client_signature.len() {
            return Err(internal("Invalid client credentials"));
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        let computed_stored_key = self.mechanism.hash(&client_key);
        if !bool::from(
            computed_stored_key
                .as_slice()
                .ct_eq(credential.stored_key.as_slice()),
        ) {
            return Err(internal("Invalid client credentials"));
        }
        let server_signature = self
            .mechanism
            .hmac(&credential.server_key, auth_message.as_bytes())
            .map_err(|e| internal(e.to_string()))?;
        Ok(format!("v={}", BASE64.encode(server_signature)).into_bytes())
    }
}

impl ServerMechanism for ScramServer {
    fn evaluate(&mut self, token: &[u8]) -> std::result::Result<ServerStep, ServerRejection> {
        match std::mem::replace(&mut self.state, ServerState::Done) {
            ServerState::AwaitClientFirst => {
                let (round, reply) = self.client_first(token)?;
                self.state = ServerState::AwaitClientFinal(Box::new(round));
                Ok(ServerStep::Continue(reply))
            }
            ServerState::AwaitClientFinal(round) => {
                let reply = self.client_final(&round, token)?;
                Ok(ServerStep::Complete {
                    response: reply,
                    username: round.username,
                })
            }
            ServerState::Done => Err(internal("Unexpected SCRAM token after the exchange ended")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    Initial,
    SentFirst,
    SentFinal,
    Complete,
}

/// The client side of a SCRAM exchange: the `sasl` crate's client mechanism with Kafka's
/// checks around it.
pub(crate) struct ScramClient {
    mechanism: ScramMechanism,
    inner: Box<dyn sasl::client::Mechanism + Send>,
    client_nonce: String,
    state: ClientState,
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    pub(crate) fn new(mechanism: ScramMechanism, username: &str, password: &str) -> Result<Self> {
        if username.is_empty() {
            return Err(Error::Config("SCRAM needs a user name".into()));
        }
        let name = encode_saslname(username);
        let password = Password::Plain(password.to_owned());
        let rng_error =
            |e: sasl::Error| Error::Authentication(format!("cannot create a SCRAM client: {e:?}"));
        let inner: Box<dyn sasl::client::Mechanism + Send> = match mechanism {
            ScramMechanism::Sha256 => Box::new(
                sasl::client::mechanisms::Scram::<Sha256>::new(
                    name,
                    password,
                    ChannelBinding::None,
                )
                .map_err(rng_error)?,
            ),
            ScramMechanism::Sha512 => Box::new(
                sasl::client::mechanisms::Scram::<Sha512>::new(
                    name,
                    password,
                    ChannelBinding::None,
                )
                .map_err(rng_error)?,
            ),
        };
        Ok(ScramClient {
            mechanism,
            inner,
            client_nonce: String::new(),
            state: ClientState::Initial,
        })
    }

    fn fail(&self, message: impl fmt::Display) -> Error {
        Error::Authentication(format!("{}: {message}", self.mechanism))
    }
}

impl ClientMechanism for ScramClient {
    fn initial(&mut self) -> Result<Vec<u8>> {
        if self.state != ClientState::Initial {
            return Err(Error::IllegalSaslState(
                "SCRAM exchange already started".into(),
            ));
        }
        let token = self.inner.initial();
        // "n,,n=<name>,r=<nonce>": the name is escaped, so it holds no comma.
        let nonce = std::str::from_utf8(&token)
            .ok()
            .and_then(|m| m.split(',').find_map(|a| a.strip_prefix("r=")))
            .ok_or_else(|| self.fail("cannot read the client nonce"))?;
        self.client_nonce = nonce.to_owned();
        self.state = ClientState::SentFirst;
        Ok(token)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>> {
        let text =
            std::str::from_utf8(challenge).map_err(|_| self.fail("server message is not UTF-8"))?;
        match self.state {
            ClientState::SentFirst => {
                let first = ServerFirst::parse(text).map_err(|e| {
                    self.fail(format!("Invalid SCRAM server first message format: {e}"))
                })?;
                if !first.nonce.starts_with(&self.client_nonce)
                    || first.nonce.len() == self.client_nonce.len()
                {
                    return Err(self.fail("Invalid server nonce: does not start with client nonce"));
                }
                if first.iterations < ScramMechanism::MIN_ITERATIONS {
                    return Err(self.fail(format!(
                        "Requested iterations {} is less than the minimum {}",
                        first.iterations,
                        ScramMechanism::MIN_ITERATIONS
                    )));
                }
                if first.iterations > ScramMechanism::MAX_ITERATIONS {
                    return Err(self.fail(format!(
                        "Requested iterations {} is more than the maximum {}",
                        first.iterations,
                        ScramMechanism::MAX_ITERATIONS
                    )));
                }
                let reply = self
                    .inner
                    .response(challenge)
                    .map_err(|e| self.fail(format!("cannot answer the server: {e}")))?;
                self.state = ClientState::SentFinal;
                Ok(Some(reply))
            }
            ClientState::SentFinal => {
                if let Some(error) = text.strip_prefix("e=") {
                    return Err(Error::Authentication(format!(
                        "Sasl authentication using {} failed with error: {error}",
                        self.mechanism
                    )));
                }
                self.inner
                    .success(challenge)
                    .map_err(|_| self.fail("Invalid server signature in server final message"))?;
                self.state = ClientState::Complete;
                Ok(None)
            }
            ClientState::Initial | ClientState::Complete => Err(Error::IllegalSaslState(format!(
                "unexpected {} server message in state {:?}",
                self.mechanism, self.state
            ))),
        }
    }

    fn is_complete(&self) -> bool {
        self.state == ClientState::Complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::credentials::InMemoryCredentialStore;

    // RFC 7677 §3.
    const RFC7677_CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const RFC7677_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const RFC7677_SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const RFC7677_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const RFC7677_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc7677_store() -> Arc<dyn CredentialStore> {
        let store = InMemoryCredentialStore::new();
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let credential =
            ScramCredential::from_password_with_salt(ScramMechanism::Sha256, "pencil", &salt, 4096)
                .unwrap();
        store
            .set_credential("user", ScramMechanism::Sha256, credential)
            .unwrap();
        Arc::new(store)
    }

    fn rfc7677_server() -> ScramServer {
        ScramServer::new(ScramMechanism::Sha256, rfc7677_store())
            .with_server_nonce(RFC7677_SERVER_NONCE)
    }

    #[test]
    fn server_matches_rfc7677_byte_for_byte() {
        let mut server = rfc7677_server();
        match server.evaluate(RFC7677_CLIENT_FIRST.as_bytes()).unwrap() {
            ServerStep::Continue(reply) => assert_eq!(reply, RFC7677_SERVER_FIRST.as_bytes()),
            other => panic!("{other:?}"),
        }
        match server.evaluate(RFC7677_CLIENT_FINAL.as_bytes()).unwrap() {
            ServerStep::Complete { response, username } => {
                assert_eq!(response, RFC7677_SERVER_FINAL.as_bytes());
                assert_eq!(username, "user");
            }
            other => panic!("{other:?}"),
        }
        // Nothing more is accepted.
        assert!(server.evaluate(b"x").is_err());
    }

    #[test]
    fn server_rejects_a_wrong_proof_without_telling_the_client() {
        let mut server = rfc7677_server();
        server.evaluate(RFC7677_CLIENT_FIRST.as_bytes()).unwrap();
        let bad = RFC7677_CLIENT_FINAL.replace("p=dHzb", "p=dHzc");
        assert_eq!(
            server.evaluate(bad.as_bytes()).unwrap_err(),
            ServerRejection::Internal("Invalid client credentials".into())
        );
        // A proof of the wrong length.
        let mut server = rfc7677_server();
        server.evaluate(RFC7677_CLIENT_FIRST.as_bytes()).unwrap();
        let short = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA";
        assert!(matches!(
            server.evaluate(short.as_bytes()),
            Err(ServerRejection::Internal(_))
        ));
    }

    #[test]
    fn server_checks_nonce_and_channel_binding_echo() {
        let mut server = rfc7677_server();
        server.evaluate(RFC7677_CLIENT_FIRST.as_bytes()).unwrap();
        let other_nonce = RFC7677_CLIENT_FINAL.replace("k0,p=", "k1,p=");
        assert_eq!(
            server.evaluate(other_nonce.as_bytes()).unwrap_err(),
            internal("Invalid client nonce in the final client message.")
        );
        let mut server = rfc7677_server();
        server.evaluate(RFC7677_CLIENT_FIRST.as_bytes()).unwrap();
        let other_cb = RFC7677_CLIENT_FINAL.replace("c=biws", "c=eSws");
        assert_eq!(
            server.evaluate(other_cb.as_bytes()).unwrap_err(),
            internal("Invalid channel binding in the final client message.")
        );
    }

    #[test]
    fn server_refuses_unknown_users_tokens_and_foreign_authzids() {
        let mut server = rfc7677_server();
        assert_eq!(
            server.evaluate(b"n,,n=nobody,r=abc").unwrap_err(),
            internal("Authentication failed: Invalid user credentials")
        );
        let mut server = rfc7677_server();
        assert!(matches!(
            server.evaluate(b"n,,n=user,r=abc,tokenauth=true").unwrap_err(),
            ServerRejection::Internal(m) if m.contains("Token")
        ));
        let mut server = rfc7677_server();
        assert_eq!(
            server.evaluate(b"n,a=admin,n=user,r=abc").unwrap_err(),
            ServerRejection::Client(
                "Authentication failed: Client requested an authorization id that is different from username".into()
            )
        );
        // The same authzid as the user, and unknown extensions, are fine.
        let mut server = rfc7677_server();
        assert!(matches!(
            server.evaluate(b"n,a=user,n=user,r=abc,foo=bar").unwrap(),
            ServerStep::Continue(_)
        ));
    }

    #[test]
    fn server_rejects_malformed_first_messages() {
        for message in [
            &b""[..],
            b"n",
            b"n,",
            b"n,,",
            b"p=tls-unique,,n=user,r=abc",
            b"x,,n=user,r=abc",
            b"n,,m=ext,n=user,r=abc",
            b"n,,n=user",
            b"n,,n=user,r=",
            b"n,,n=,r=abc",
            b"n,,n=us=er,r=abc",
            b"n,,r=abc,n=user",
            b"n,,n=user,r=abc,=x",
            b"n,,n=user,r=a\x7fc",
            b"n,,n=\xff,r=abc",
            b"n,b,n=user,r=abc",
        ] {
            let mut server = rfc7677_server();
            assert!(
                matches!(server.evaluate(message), Err(ServerRejection::Internal(_))),
                "{:?}",
                String::from_utf8_lossy(message)
            );
        }
    }

    #[test]
    fn saslnames_escape_and_unescape() {
        assert_eq!(encode_saslname("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(decode_saslname("a=2Cb=3Dc").unwrap(), "a,b=c");
        assert_eq!(decode_saslname("=3D=2C").unwrap(), "=,");
        assert!(decode_saslname("a=").is_err());
        assert!(decode_saslname("a=2").is_err());
        assert!(decode_saslname("a=41").is_err());
        assert!(decode_saslname("").is_err());
    }

    #[test]
    fn escaped_user_names_authenticate() {
        let store = InMemoryCredentialStore::new();
        store.add_user("a,b=c", "pw").unwrap();
        let store: Arc<dyn CredentialStore> = Arc::new(store);
        for mechanism in ScramMechanism::ALL {
            let mut client = ScramClient::new(mechanism, "a,b=c", "pw").unwrap();
            let mut server = ScramServer::new(mechanism, store.clone());
            let first = client.initial().unwrap();
            assert!(first.starts_with(b"n,,n=a=2Cb=3Dc,r="));
            let ServerStep::Continue(challenge) = server.evaluate(&first).unwrap() else {
                panic!("expected a challenge")
            };
            let fin = client.respond(&challenge).unwrap().unwrap();
            let ServerStep::Complete { response, username } = server.evaluate(&fin).unwrap() else {
                panic!("expected completion")
            };
            assert_eq!(username, "a,b=c");
            assert_eq!(client.respond(&response).unwrap(), None);
            assert!(client.is_complete());
        }
    }

    /// SCRAM-SHA-512 computed independently (Python's hashlib/hmac) for user "user",
    /// password "pencil", the RFC 7677 nonces and salt.
    #[test]
    fn sha512_exchange_matches_an_independent_computation() {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let store = InMemoryCredentialStore::new();
        let credential =
            ScramCredential::from_password_with_salt(ScramMechanism::Sha512, "pencil", &salt, 4096)
                .unwrap();
        store
            .set_credential("user", ScramMechanism::Sha512, credential)
            .unwrap();
        let mut server = ScramServer::new(ScramMechanism::Sha512, Arc::new(store))
            .with_server_nonce(RFC7677_SERVER_NONCE);
        let ServerStep::Continue(first) = server.evaluate(RFC7677_CLIENT_FIRST.as_bytes()).unwrap()
        else {
            panic!("expected a challenge")
        };
        assert_eq!(first, RFC7677_SERVER_FIRST.as_bytes());
        let client_final = format!(
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p={}",
            SHA512_PROOF
        );
        let ServerStep::Complete { response, .. } =
            server.evaluate(client_final.as_bytes()).unwrap()
        else {
            panic!("expected completion")
        };
        assert_eq!(response, format!("v={SHA512_SERVER_SIGNATURE}").as_bytes());
    }

    const SHA512_PROOF: &str =
        "gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ==";
    const SHA512_SERVER_SIGNATURE: &str =
        "ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw==";

    #[test]
    fn client_checks_the_server_first_message() {
        let mut client = ScramClient::new(ScramMechanism::Sha256, "user", "pencil").unwrap();
        client.initial().unwrap();
        let err = client
            .respond(b"r=someoneelse,s=QSXCR+Q6sek8bf92,i=4096")
            .unwrap_err();
        assert!(err.to_string().contains("Invalid server nonce"), "{err}");

        let mut client = ScramClient::new(ScramMechanism::Sha256, "user", "pencil").unwrap();
        let first = client.initial().unwrap();
        let nonce = String::from_utf8(first)
            .unwrap()
            .rsplit_once("r=")
            .unwrap()
            .1
            .to_owned();
        let low = format!("r={nonce}x,s=QSXCR+Q6sek8bf92,i=1000");
        assert!(client
            .respond(low.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("minimum"));

        let mut client = ScramClient::new(ScramMechanism::Sha256, "user", "pencil").unwrap();
        let first = client.initial().unwrap();
        let nonce = String::from_utf8(first)
            .unwrap()
            .rsplit_once("r=")
            .unwrap()
            .1
            .to_owned();
        let high = format!("r={nonce}x,s=QSXCR+Q6sek8bf92,i=4000000000");
        assert!(client
            .respond(high.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("maximum"));

        let mut client = ScramClient::new(ScramMechanism::Sha256, "user", "pencil").unwrap();
        let first = client.initial().unwrap();
        let nonce = String::from_utf8(first)
            .unwrap()
            .rsplit_once("r=")
            .unwrap()
            .1
            .to_owned();
        let same = format!("r={nonce},s=QSXCR+Q6sek8bf92,i=4096");
        assert!(client.respond(same.as_bytes()).is_err());
        for garbage in [&b""[..], b"\xff", b"r=", b"s=abc", b"m=x,r=abc"] {
            let mut client = ScramClient::new(ScramMechanism::Sha256, "user", "pencil").unwrap();
            client.initial().unwrap();
            assert!(client.respond(garbage).is_err());
        }
    }

    #[test]
    fn client_reports_server_errors_and_bad_signatures() {
        let store = rfc7677_store();
        let run_to_final = || {
            let mut client = ScramClient::new(ScramMechanism::Sha256, "user", "pencil").unwrap();
            let mut server = ScramServer::new(ScramMechanism::Sha256, store.clone());
            let ServerStep::Continue(challenge) =
                server.evaluate(&client.initial().unwrap()).unwrap()
            else {
                panic!("expected a challenge")
            };
            client.respond(&challenge).unwrap().unwrap();
            client
        };
        let mut client = run_to_final();
        let err = client.respond(b"e=invalid-proof").unwrap_err();
        assert_eq!(
            err.to_string(),
            "authentication failed: Sasl authentication using SCRAM-SHA-256 failed with error: invalid-proof"
        );
        let mut client = run_to_final();
        let err = client
            .respond(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert!(
            err.to_string().contains("Invalid server signature"),
            "{err}"
        );
        assert!(!client.is_complete());
    }
}
