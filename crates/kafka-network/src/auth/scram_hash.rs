//! SHA-512 for the `sasl` crate's SCRAM providers: the crate ships `Sha1` and `Sha256`, Kafka
//! also speaks `SCRAM-SHA-512`. A leaf: both the credential store (deriving keys) and the
//! exchange (proofs and signatures) hash through it, via
//! [`ScramMechanism`](crate::auth::ScramMechanism).

use std::fmt;

use hmac::digest::InvalidLength;
use hmac::{Hmac, Mac};
use sasl::common::scram::{DeriveError, ScramProvider};
use sasl::common::Password;
use sasl::secret::{Pbkdf2Secret, Secret};
use sha2::Digest;

/// SHA-512 for the `sasl` crate's SCRAM: what `SCRAM-SHA-512` needs beside the crate's own
/// `Sha1` and `Sha256` providers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha512;

impl ScramProvider for Sha512 {
    type Secret = Pbkdf2Sha512;

    fn name() -> &'static str {
        "SHA-512"
    }

    fn hash(data: &[u8]) -> Vec<u8> {
        sha2::Sha512::digest(data).to_vec()
    }

    fn hmac(data: &[u8], key: &[u8]) -> Result<Vec<u8>, InvalidLength> {
        let mut mac = <Hmac<sha2::Sha512> as Mac>::new_from_slice(key)?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().to_vec())
    }

    fn derive(password: &Password, salt: &[u8], iterations: u32) -> Result<Vec<u8>, DeriveError> {
        match password {
            Password::Plain(plain) => {
                let mut salted = vec![0u8; 64];
                pbkdf2::pbkdf2::<Hmac<sha2::Sha512>>(
                    plain.as_bytes(),
                    salt,
                    iterations,
                    &mut salted,
                )
                .map_err(|_| DeriveError::InvalidLength)?;
                Ok(salted)
            }
            Password::Pbkdf2 {
                method,
                salt: own_salt,
                iterations: own_iterations,
                data,
            } => {
                if method != Self::name() {
                    Err(DeriveError::IncompatibleHashingMethod(
                        method.clone(),
                        Self::name().to_string(),
                    ))
                } else if own_salt.as_slice() != salt {
                    Err(DeriveError::IncorrectSalt)
                } else if *own_iterations != iterations {
                    Err(DeriveError::IncompatibleIterationCount(
                        *own_iterations,
                        iterations,
                    ))
                } else {
                    Ok(data.clone())
                }
            }
        }
    }
}

/// A SCRAM-SHA-512 salted password, the secret type of [`Sha512`] in the `sasl` crate's
/// provider traits (the counterpart of its `Pbkdf2Sha256`).
#[derive(Clone, PartialEq, Eq)]
pub struct Pbkdf2Sha512 {
    /// The salt.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
    /// The salted password (password-equivalent: keep it secret).
    pub digest: Vec<u8>,
}

impl fmt::Debug for Pbkdf2Sha512 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pbkdf2Sha512")
            .field("salt_len", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl Secret for Pbkdf2Sha512 {}

impl Pbkdf2Secret for Pbkdf2Sha512 {
    fn salt(&self) -> &[u8] {
        &self.salt
    }
    fn iterations(&self) -> u32 {
        self.iterations
    }
    fn digest(&self) -> &[u8] {
        &self.digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_provider_matches_known_pbkdf2_and_hmac_vectors() {
        // PBKDF2-HMAC-SHA512, P="password", S="salt", c=1 (widely published vector).
        let derived = Sha512::derive(&Password::Plain("password".into()), b"salt", 1).unwrap();
        assert_eq!(hex(&derived), PBKDF2_SHA512_C1);
        // RFC 4231 test case 2: HMAC-SHA-512(key "Jefe", "what do ya want for nothing?").
        let mac = Sha512::hmac(b"what do ya want for nothing?", b"Jefe").unwrap();
        assert_eq!(hex(&mac), RFC4231_CASE2_SHA512);
        assert_eq!(Sha512::hash(b"").len(), 64);
        // Pre-derived passwords are accepted only for the same method, salt and count.
        let pre = Password::Pbkdf2 {
            method: "SHA-512".into(),
            salt: b"salt".to_vec(),
            iterations: 1,
            data: derived.clone(),
        };
        assert_eq!(Sha512::derive(&pre, b"salt", 1).unwrap(), derived);
        assert!(Sha512::derive(&pre, b"pepper", 1).is_err());
        assert!(Sha512::derive(&pre, b"salt", 2).is_err());
    }

    const PBKDF2_SHA512_C1: &str = "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce";
    const RFC4231_CASE2_SHA512: &str = "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
