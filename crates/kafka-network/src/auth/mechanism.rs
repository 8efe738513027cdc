//! The SASL mechanisms this crate speaks (with the hash of each SCRAM mechanism), and the
//! internal contract each mechanism's exchange meets on either side.
//!
//! The lowest of the `auth` modules: credentials, PLAIN and SCRAM build on it, it on none of
//! them.

use std::fmt;

use sasl::common::scram::{ScramProvider, Sha256};
use sasl::common::Password;

use crate::auth::scram_hash::Sha512;
use crate::error::{Error, Result};

/// A SASL mechanism, named as in `sasl.enabled.mechanisms` and `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616): username and password in one message.
    Plain,
    /// `SCRAM-SHA-256` (RFC 5802, RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512` (RFC 5802 with SHA-512, as Kafka defines it).
    ScramSha512,
}

impl SaslMechanism {
    /// Every mechanism, in the order Kafka documents them.
    pub const ALL: [SaslMechanism; 3] = [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ];

    /// The mechanism's name on the wire (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`).
    pub const fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism named `name` (exact, case-sensitive, as Kafka compares them).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The SCRAM hash of a SCRAM mechanism.
    pub const fn scram(self) -> Option<ScramMechanism> {
        match self {
            SaslMechanism::Plain => None,
            SaslMechanism::ScramSha256 => Some(ScramMechanism::Sha256),
            SaslMechanism::ScramSha512 => Some(ScramMechanism::Sha512),
        }
    }

    /// Parses a `sasl.enabled.mechanisms` value: names separated by commas, blanks around
    /// them ignored, duplicates dropped, order kept. Fails with [`Error::Config`] on an empty
    /// list or a mechanism this crate does not implement (GSSAPI, OAUTHBEARER).
    pub fn parse_list(value: &str) -> Result<Vec<SaslMechanism>> {
        let mut out = Vec::new();
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let mechanism = SaslMechanism::from_name(name).ok_or_else(|| {
                Error::Config(format!(
                    "SASL mechanism {name} is not supported (supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"
                ))
            })?;
            if !out.contains(&mechanism) {
                out.push(mechanism);
            }
        }
        if out.is_empty() {
            return Err(Error::Config("no SASL mechanisms are enabled".into()));
        }
        Ok(out)
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    /// `SCRAM-SHA-256`.
    Sha256,
    /// `SCRAM-SHA-512`.
    Sha512,
}

impl ScramMechanism {
    /// Both mechanisms.
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];
    /// The fewest PBKDF2 iterations Kafka accepts (`ScramMechanism.minIterations`).
    pub const MIN_ITERATIONS: u32 = 4096;
    /// The most PBKDF2 iterations Kafka accepts (`ScramMechanism.maxIterations`); a client
    /// refuses more, so a hostile server cannot make it spin.
    pub const MAX_ITERATIONS: u32 = 16384;
    /// The iteration count credentials are created with by default (Kafka's default too).
    pub const DEFAULT_ITERATIONS: u32 = 4096;

    /// The SASL mechanism name (`SCRAM-SHA-256`, `SCRAM-SHA-512`).
    pub const fn mechanism_name(self) -> &'static str {
        self.sasl_mechanism().name()
    }

    /// The mechanism named `name`.
    pub fn from_mechanism_name(name: &str) -> Option<Self> {
        SaslMechanism::from_name(name).and_then(SaslMechanism::scram)
    }

    /// The SASL mechanism.
    pub const fn sasl_mechanism(self) -> SaslMechanism {
        match self {
            ScramMechanism::Sha256 => SaslMechanism::ScramSha256,
            ScramMechanism::Sha512 => SaslMechanism::ScramSha512,
        }
    }

    /// The length of the hash, and so of `StoredKey`, `ServerKey` and proofs.
    pub const fn key_len(self) -> usize {
        match self {
            ScramMechanism::Sha256 => 32,
            ScramMechanism::Sha512 => 64,
        }
    }

    /// `SaltedPassword := Hi(password, salt, iterations)` (PBKDF2 with this hash).
    pub fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Result<Vec<u8>> {
        let password = Password::Plain(password.to_owned());
        match self {
            ScramMechanism::Sha256 => Sha256::derive(&password, salt, iterations),
            ScramMechanism::Sha512 => Sha512::derive(&password, salt, iterations),
        }
        .map_err(|e| {
            Error::Config(format!(
                "{}: key derivation failed: {e}",
                self.mechanism_name()
            ))
        })
    }

    /// `HMAC(key, data)` with this hash.
    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
        match self {
            ScramMechanism::Sha256 => Sha256::hmac(data, key),
            ScramMechanism::Sha512 => Sha512::hmac(data, key),
        }
        .map_err(|e| Error::Config(format!("{}: HMAC failed: {e}", self.mechanism_name())))
    }

    /// `H(data)` with this hash.
    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::hash(data),
            ScramMechanism::Sha512 => Sha512::hash(data),
        }
    }
}

impl fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mechanism_name())
    }
}

/// What a server-side mechanism makes of one client token.
#[derive(Debug)]
pub(crate) enum ServerStep {
    /// Send this challenge and wait for the client's next token.
    Continue(Vec<u8>),
    /// Authenticated as `username`; send `response` (possibly empty) as the last token.
    Complete {
        /// The final server token (SCRAM's server-final message; empty for PLAIN).
        response: Vec<u8>,
        /// The authenticated (and authorized) user name.
        username: String,
    },
}

/// Why a server-side mechanism refused the client, split as Kafka splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerRejection {
    /// Kafka's `SaslAuthenticationException`: the message is sent to the client as is.
    Client(String),
    /// Kafka's `SaslException`: the detail stays in the server's log, the client is told
    /// only that its credentials were invalid for the mechanism.
    Internal(String),
}

/// The server side of one mechanism's exchange: tokens in, challenges out.
pub(crate) trait ServerMechanism: Send + fmt::Debug {
    /// Evaluates the client's next token.
    fn evaluate(&mut self, token: &[u8]) -> std::result::Result<ServerStep, ServerRejection>;
}

/// The client side of one mechanism's exchange.
pub(crate) trait ClientMechanism: Send + fmt::Debug {
    /// The client's first token.
    fn initial(&mut self) -> Result<Vec<u8>>;

    /// Answers the server's token: `Some(token)` to send, or `None` when the exchange is
    /// complete on this side (the server's last token verified).
    fn respond(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>>;

    /// True once the exchange is complete on this side.
    fn is_complete(&self) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in SaslMechanism::ALL {
            assert_eq!(SaslMechanism::from_name(m.name()), Some(m));
            assert_eq!(m.to_string(), m.name());
        }
        assert_eq!(SaslMechanism::from_name("plain"), None);
        assert_eq!(SaslMechanism::from_name("GSSAPI"), None);
    }

    #[test]
    fn parses_enabled_mechanisms() {
        assert_eq!(
            SaslMechanism::parse_list(" SCRAM-SHA-512 ,PLAIN,, SCRAM-SHA-512").unwrap(),
            vec![SaslMechanism::ScramSha512, SaslMechanism::Plain]
        );
        assert!(matches!(
            SaslMechanism::parse_list("GSSAPI"),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            SaslMechanism::parse_list(" , "),
            Err(Error::Config(_))
        ));
    }
}
