//! Who is on the other end of a channel.

use std::fmt;

/// A principal as Kafka names it: a type and a name, printed `User:alice`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KafkaPrincipal {
    /// The principal type; Kafka uses `User` for every built-in authenticator.
    pub principal_type: String,
    /// The name: a SASL username, a certificate's subject, or `ANONYMOUS`.
    pub name: String,
}

impl KafkaPrincipal {
    /// The principal type Kafka's built-in authenticators use.
    pub const USER_TYPE: &'static str = "User";

    /// A `User` principal.
    pub fn user(name: impl Into<String>) -> Self {
        KafkaPrincipal {
            principal_type: Self::USER_TYPE.to_string(),
            name: name.into(),
        }
    }

    /// `User:ANONYMOUS`, the principal of an unauthenticated plaintext or TLS connection.
    pub fn anonymous() -> Self {
        Self::user("ANONYMOUS")
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}
