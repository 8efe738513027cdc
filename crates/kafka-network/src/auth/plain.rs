//! PLAIN (RFC 4616): `authzid NUL authcid NUL passwd` in one client message.
//!
//! Both sides use the `sasl` crate's PLAIN mechanisms. The server first checks what the crate
//! does not and Kafka's `PlainSaslServer` does: exactly three fields, a user name and a
//! password present, and an authorization id that is empty or the user name itself.

use std::fmt;
use std::sync::Arc;

use sasl::common::Identity;
use sasl::server::{Mechanism as _, Response, Validator, ValidatorError};

use crate::auth::credentials::CredentialStore;
use crate::auth::mechanism::{ClientMechanism, ServerMechanism, ServerRejection, ServerStep};
use crate::error::{Error, Result};

/// What Kafka tells a client whose user name or password is wrong.
pub const INVALID_USERNAME_OR_PASSWORD: &str =
    "Authentication failed: Invalid username or password";

/// What Kafka tells a client that asked to act as another user.
pub const AUTHZID_MISMATCH: &str =
    "Authentication failed: Client requested an authorization id that is different from username";

/// The crate's PLAIN validator, backed by our credential store.
struct StoreValidator(Arc<dyn CredentialStore>);

impl Validator<sasl::secret::Plain> for StoreValidator {
    fn validate(
        &self,
        identity: &Identity,
        value: &sasl::secret::Plain,
    ) -> Result<(), ValidatorError> {
        match identity {
            Identity::Username(username) if self.0.verify_plain(username, &value.0) => Ok(()),
            _ => Err(ValidatorError::AuthenticationFailed),
        }
    }
}

/// The server side of PLAIN.
pub(crate) struct PlainServer {
    inner: sasl::server::mechanisms::Plain<StoreValidator>,
    done: bool,
}

impl fmt::Debug for PlainServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainServer")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl PlainServer {
    pub(crate) fn new(store: Arc<dyn CredentialStore>) -> Self {
        PlainServer {
            inner: sasl::server::mechanisms::Plain::new(StoreValidator(store)),
            done: false,
        }
    }
}

impl ServerMechanism for PlainServer {
    fn evaluate(&mut self, token: &[u8]) -> std::result::Result<ServerStep, ServerRejection> {
        if std::mem::replace(&mut self.done, true) {
            return Err(ServerRejection::Internal(
                "Unexpected PLAIN token after the exchange ended".into(),
            ));
        }
        let fields: Vec<&[u8]> = token.split(|&b| b == 0).collect();
        let &[authzid, username, password] = fields.as_slice() else {
            return Err(ServerRejection::Internal(format!(
                "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
                fields.len()
            )));
        };
        let (Ok(authzid), Ok(_), Ok(_)) = (
            std::str::from_utf8(authzid),
            std::str::from_utf8(username),
            std::str::from_utf8(password),
        ) else {
            return Err(ServerRejection::Internal(
                "Invalid SASL/PLAIN response: not UTF-8".into(),
            ));
        };
        if username.is_empty() {
            return Err(ServerRejection::Internal(
                "Authentication failed: username not specified".into(),
            ));
        }
        if password.is_empty() {
            return Err(ServerRejection::Internal(
                "Authentication failed: password not specified".into(),
            ));
        }
        let identity = match self.inner.respond(token) {
            Ok(Response::Success(identity, _)) => identity,
            Ok(Response::Proceed(_)) | Err(_) => {
                return Err(ServerRejection::Client(INVALID_USERNAME_OR_PASSWORD.into()));
            }
        };
        let Identity::Username(username) = identity else {
            return Err(ServerRejection::Client(INVALID_USERNAME_OR_PASSWORD.into()));
        };
        if !authzid.is_empty() && authzid != username {
            return Err(ServerRejection::Client(AUTHZID_MISMATCH.into()));
        }
        Ok(ServerStep::Complete {
            response: Vec::new(),
            username,
        })
    }
}

/// The client side of PLAIN: one message, complete once sent.
pub(crate) struct PlainClient {
    inner: sasl::client::mechanisms::Plain,
    sent: bool,
}

impl fmt::Debug for PlainClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainClient")
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl PlainClient {
    pub(crate) fn new(username: &str, password: &str) -> Result<Self> {
        if username.is_empty() || password.is_empty() {
            return Err(Error::Config(
                "PLAIN needs a user name and a password".into(),
            ));
        }
        if username.contains('\0') || password.contains('\0') {
            return Err(Error::Config(
                "PLAIN user names and passwords cannot contain NUL".into(),
            ));
        }
        Ok(PlainClient {
            inner: sasl::client::mechanisms::Plain::new(username, password),
            sent: false,
        })
    }
}

impl ClientMechanism for PlainClient {
    fn initial(&mut self) -> Result<Vec<u8>> {
        if std::mem::replace(&mut self.sent, true) {
            return Err(Error::IllegalSaslState("PLAIN message already sent".into()));
        }
        Ok(sasl::client::Mechanism::initial(&mut self.inner))
    }

    fn respond(&mut self, _challenge: &[u8]) -> Result<Option<Vec<u8>>> {
        // Like Kafka's client, ignore what the server sends once the exchange is complete.
        Ok(None)
    }

    fn is_complete(&self) -> bool {
        self.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::credentials::InMemoryCredentialStore;

    fn server() -> PlainServer {
        let store = InMemoryCredentialStore::new();
        store.add_user("alice", "alice-secret").unwrap();
        PlainServer::new(Arc::new(store))
    }

    fn evaluate(token: &[u8]) -> std::result::Result<ServerStep, ServerRejection> {
        server().evaluate(token)
    }

    #[test]
    fn accepts_the_right_password() {
        for token in [&b"\0alice\0alice-secret"[..], b"alice\0alice\0alice-secret"] {
            match evaluate(token).unwrap() {
                ServerStep::Complete { response, username } => {
                    assert!(response.is_empty());
                    assert_eq!(username, "alice");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn refuses_with_kafkas_messages() {
        let client = |m: &str| Err(ServerRejection::Client(m.to_string()));
        assert_eq!(
            evaluate(b"\0alice\0wrong").map(|_| ()),
            client(INVALID_USERNAME_OR_PASSWORD)
        );
        assert_eq!(
            evaluate(b"\0bob\0alice-secret").map(|_| ()),
            client(INVALID_USERNAME_OR_PASSWORD)
        );
        assert_eq!(
            evaluate(b"admin\0alice\0alice-secret").map(|_| ()),
            client(AUTHZID_MISMATCH)
        );
        for token in [
            &b""[..],
            b"alice",
            b"\0alice",
            b"\0alice\0",
            b"\0\0alice-secret",
            b"\0alice\0alice-secret\0",
            b"\0al\xffice\0alice-secret",
        ] {
            assert!(
                matches!(evaluate(token), Err(ServerRejection::Internal(_))),
                "{token:?}"
            );
        }
    }

    #[test]
    fn one_token_only() {
        let mut server = server();
        server.evaluate(b"\0alice\0alice-secret").unwrap();
        assert!(server.evaluate(b"\0alice\0alice-secret").is_err());
    }

    #[test]
    fn client_sends_rfc4616_bytes() {
        let mut client = PlainClient::new("alice", "alice-secret").unwrap();
        assert!(!client.is_complete());
        assert_eq!(client.initial().unwrap(), b"\0alice\0alice-secret");
        assert!(client.is_complete());
        assert_eq!(client.respond(b"").unwrap(), None);
        assert!(client.initial().is_err());
        assert!(PlainClient::new("", "x").is_err());
        assert!(PlainClient::new("a\0b", "x").is_err());
    }
}
