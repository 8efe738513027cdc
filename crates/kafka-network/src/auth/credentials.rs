//! Where SASL credentials come from: the [`CredentialStore`] trait, an in-memory store and a
//! store loaded from a file.
//!
//! Only SCRAM credentials are stored, never passwords: per user and mechanism the salt, the
//! iteration count, `StoredKey = H(HMAC(SaltedPassword, "Client Key"))` and
//! `ServerKey = HMAC(SaltedPassword, "Server Key")`, as Kafka keeps them (RFC 5802 §3). Neither
//! key lets someone log in as the user; `StoredKey` only lets the server check a proof.
//!
//! PLAIN is checked against the same records: the password is salted and hashed with the
//! user's SCRAM-SHA-512 parameters (SCRAM-SHA-256 if the user has none) and the resulting
//! `StoredKey` compared in constant time. (Kafka's own PLAIN reads clear-text passwords from
//! its JAAS file; we deliberately do not.) A user who should log in with PLAIN therefore needs
//! at least one SCRAM record.
//!
//! # Credential file format
//!
//! UTF-8 text, one credential per line, six fields separated by blanks (spaces or tabs):
//!
//! ```text
//! # username  mechanism      salt (base64)  stored_key (base64)  server_key (base64)  iterations
//! alice       SCRAM-SHA-256  <salt>         <stored_key>         <server_key>         4096
//! alice       SCRAM-SHA-512  <salt>         <stored_key>         <server_key>         4096
//! ```
//!
//! - Blank lines and lines whose first non-blank character is `#` are ignored.
//! - `username` is taken literally; it cannot contain blanks or start with `#`.
//! - `mechanism` is `SCRAM-SHA-256` or `SCRAM-SHA-512`.
//! - `salt`, `stored_key` and `server_key` are standard base64 with padding; the keys are 32
//!   bytes for SHA-256 and 64 for SHA-512; the salt is not empty.
//! - `iterations` is a decimal between 4096 and 16384 (Kafka's bounds).
//! - A (username, mechanism) pair appears at most once.
//!
//! Any violation rejects the whole file with [`Error::Config`] naming the line. Lines for a new
//! user are produced by [`credential_lines`] (what the admin tooling calls with a password).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::auth::mechanism::ScramMechanism;
use crate::error::{Error, Result};

/// The length of salts this module generates.
pub const SALT_LEN: usize = 32;

/// A user's SCRAM credential for one mechanism (Kafka's `ScramCredential`).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The salt.
    pub salt: Vec<u8>,
    /// `H(ClientKey)`: checks the client's proof.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`: signs the server's final message.
    pub server_key: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
}

impl fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredential")
            .field("salt_len", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredential {
    /// The credential for `password` with a fresh random salt of [`SALT_LEN`] bytes.
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &str,
        iterations: u32,
    ) -> Result<Self> {
        let mut salt = vec![0u8; SALT_LEN];
        getrandom::getrandom(&mut salt).map_err(|e| {
            Error::Io(std::io::Error::other(format!(
                "cannot generate a salt: {e}"
            )))
        })?;
        Self::from_password_with_salt(mechanism, password, &salt, iterations)
    }

    /// The credential for `password` with the given salt (deterministic: for tests and for
    /// tooling that must reproduce a credential).
    pub fn from_password_with_salt(
        mechanism: ScramMechanism,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<Self> {
        check_iterations(iterations)?;
        if salt.is_empty() {
            return Err(Error::Config("SCRAM salt must not be empty".into()));
        }
        let salted = mechanism.salted_password(password, salt, iterations)?;
        let client_key = mechanism.hmac(&salted, b"Client Key")?;
        let server_key = mechanism.hmac(&salted, b"Server Key")?;
        Ok(ScramCredential {
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key,
            iterations,
        })
    }

    /// Whether `password` is the password this credential was made from (constant-time
    /// comparison of the derived `StoredKey`).
    pub fn verify_password(&self, mechanism: ScramMechanism, password: &str) -> bool {
        let Ok(salted) = mechanism.salted_password(password, &self.salt, self.iterations) else {
            return false;
        };
        let Ok(client_key) = mechanism.hmac(&salted, b"Client Key") else {
            return false;
        };
        let stored_key = mechanism.hash(&client_key);
        bool::from(stored_key.as_slice().ct_eq(self.stored_key.as_slice()))
    }

    /// Checks the shape a stored credential must have for `mechanism`.
    pub fn validate(&self, mechanism: ScramMechanism) -> Result<()> {
        check_iterations(self.iterations)?;
        if self.salt.is_empty() {
            return Err(Error::Config("SCRAM salt must not be empty".into()));
        }
        let len = mechanism.key_len();
        if self.stored_key.len() != len || self.server_key.len() != len {
            return Err(Error::Config(format!(
                "{mechanism} keys must be {len} bytes long"
            )));
        }
        Ok(())
    }
}

fn check_iterations(iterations: u32) -> Result<()> {
    if (ScramMechanism::MIN_ITERATIONS..=ScramMechanism::MAX_ITERATIONS).contains(&iterations) {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "SCRAM iterations must be between {} and {}, not {iterations}",
            ScramMechanism::MIN_ITERATIONS,
            ScramMechanism::MAX_ITERATIONS
        )))
    }
}

/// Where the server authenticators look credentials up. Shared by every connection of a
/// listener, so implementations are `Send + Sync`.
pub trait CredentialStore: Send + Sync + fmt::Debug {
    /// The SCRAM credential of `username` for `mechanism`, if the user has one.
    fn scram_credential(
        &self,
        mechanism: ScramMechanism,
        username: &str,
    ) -> Option<ScramCredential>;

    /// Whether `password` is `username`'s password, for PLAIN. The default checks it against
    /// the user's SCRAM-SHA-512 credential, else the SCRAM-SHA-256 one; for an unknown user it
    /// still derives a key, so that the time taken does not tell which users exist.
    fn verify_plain(&self, username: &str, password: &str) -> bool {
        for mechanism in [ScramMechanism::Sha512, ScramMechanism::Sha256] {
            if let Some(credential) = self.scram_credential(mechanism, username) {
                return credential.verify_password(mechanism, password);
            }
        }
        let decoy = ScramCredential {
            salt: vec![0u8; SALT_LEN],
            stored_key: vec![0u8; ScramMechanism::Sha512.key_len()],
            server_key: Vec::new(),
            iterations: ScramMechanism::DEFAULT_ITERATIONS,
        };
        let _ = std::hint::black_box(decoy.verify_password(ScramMechanism::Sha512, password));
        false
    }
}

type UserMap = BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>;

/// Credentials held in memory; users can be added and removed while connections use it.
#[derive(Debug, Default)]
pub struct InMemoryCredentialStore {
    users: RwLock<UserMap>,
}

impl InMemoryCredentialStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) `username` with SCRAM-SHA-256 and SCRAM-SHA-512 credentials for
    /// `password`: random salts, [`ScramMechanism::DEFAULT_ITERATIONS`] iterations. The user
    /// can then log in with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.
    pub fn add_user(&self, username: &str, password: &str) -> Result<()> {
        self.add_user_with_iterations(username, password, ScramMechanism::DEFAULT_ITERATIONS)
    }

    /// [`InMemoryCredentialStore::add_user`] with a chosen iteration count (4096..=16384).
    pub fn add_user_with_iterations(
        &self,
        username: &str,
        password: &str,
        iterations: u32,
    ) -> Result<()> {
        check_username(username)?;
        let mut credentials = BTreeMap::new();
        for mechanism in ScramMechanism::ALL {
            credentials.insert(
                mechanism,
                ScramCredential::from_password(mechanism, password, iterations)?,
            );
        }
        self.write().insert(username.to_owned(), credentials);
        Ok(())
    }

    /// Sets `username`'s credential for `mechanism`, after checking its shape.
    pub fn set_credential(
        &self,
        username: &str,
        mechanism: ScramMechanism,
        credential: ScramCredential,
    ) -> Result<()> {
        check_username(username)?;
        credential.validate(mechanism)?;
        self.write()
            .entry(username.to_owned())
            .or_default()
            .insert(mechanism, credential);
        Ok(())
    }

    /// Removes `username`'s credential for `mechanism`; true if there was one.
    pub fn remove_credential(&self, username: &str, mechanism: ScramMechanism) -> bool {
        let mut users = self.write();
        let Some(credentials) = users.get_mut(username) else {
            return false;
        };
        let removed = credentials.remove(&mechanism).is_some();
        if credentials.is_empty() {
            users.remove(username);
        }
        removed
    }

    /// Removes `username` altogether; true if the user existed.
    pub fn remove_user(&self, username: &str) -> bool {
        self.write().remove(username).is_some()
    }

    /// The users with at least one credential, in order.
    pub fn usernames(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// The store's content as a credential file (see the [module docs](self)). Fails if a
    /// user name cannot be written in the format (blanks, leading `#`).
    pub fn to_credential_file(&self) -> Result<String> {
        let mut out = String::new();
        for (username, credentials) in self.read().iter() {
            for (mechanism, credential) in credentials {
                out.push_str(&format_credential_line(username, *mechanism, credential)?);
                out.push('\n');
            }
        }
        Ok(out)
    }

    fn replace_all(&self, users: UserMap) {
        *self.write() = users;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, UserMap> {
        self.users
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, UserMap> {
        self.users
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl CredentialStore for InMemoryCredentialStore {
    fn scram_credential(
        &self,
        mechanism: ScramMechanism,
        username: &str,
    ) -> Option<ScramCredential> {
        self.read().get(username)?.get(&mechanism).cloned()
    }
}

fn check_username(username: &str) -> Result<()> {
    if username.is_empty() {
        return Err(Error::Config("user name must not be empty".into()));
    }
    Ok(())
}

/// Credentials loaded from a file in the format of the [module docs](self).
#[derive(Debug)]
pub struct FileCredentialStore {
    path: PathBuf,
    store: InMemoryCredentialStore,
}

impl FileCredentialStore {
    /// Reads and checks the file at `path`.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let users = read_file(&path)?;
        let store = InMemoryCredentialStore::new();
        store.replace_all(users);
        Ok(FileCredentialStore { path, store })
    }

    /// Reads the file again and, if it is valid, replaces every credential at once; on error
    /// the credentials in use stay as they were.
    pub fn reload(&self) -> Result<()> {
        let users = read_file(&self.path)?;
        self.store.replace_all(users);
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The users with at least one credential, in order.
    pub fn usernames(&self) -> Vec<String> {
        self.store.usernames()
    }
}

impl CredentialStore for FileCredentialStore {
    fn scram_credential(
        &self,
        mechanism: ScramMechanism,
        username: &str,
    ) -> Option<ScramCredential> {
        self.store.scram_credential(mechanism, username)
    }
}

fn read_file(path: &Path) -> Result<UserMap> {
    let text = fs::read_to_string(path).map_err(|e| {
        Error::Config(format!(
            "cannot read credential file {}: {e}",
            path.display()
        ))
    })?;
    parse_lines(&text).map_err(|e| match e {
        Error::Config(message) => Error::Config(format!("{}:{message}", path.display())),
        other => other,
    })
}

/// Parses credential-file text (the [module docs](self) give the format) into a store.
pub fn parse_credential_file(text: &str) -> Result<InMemoryCredentialStore> {
    let store = InMemoryCredentialStore::new();
    store.replace_all(parse_lines(text)?);
    Ok(store)
}

fn parse_lines(text: &str) -> Result<UserMap> {
    let mut users = UserMap::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let content = line.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let (username, mechanism, credential) =
            parse_line(content).map_err(|e| Error::Config(format!("{number}: {e}")))?;
        let previous = users
            .entry(username.to_owned())
            .or_default()
            .insert(mechanism, credential);
        if previous.is_some() {
            return Err(Error::Config(format!(
                "{number}: duplicate {mechanism} credential for user {username}"
            )));
        }
    }
    Ok(users)
}

fn parse_line(line: &str) -> std::result::Result<(&str, ScramMechanism, ScramCredential), String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let &[username, mechanism, salt, stored_key, server_key, iterations] = fields.as_slice() else {
        return Err(format!(
            "expected 6 fields (username mechanism salt stored_key server_key iterations), found {}",
            fields.len()
        ));
    };
    let mechanism = ScramMechanism::from_mechanism_name(mechanism)
        .ok_or_else(|| format!("unknown mechanism {mechanism} (SCRAM-SHA-256 or SCRAM-SHA-512)"))?;
    let decode = |what: &str, value: &str| {
        BASE64
            .decode(value)
            .map_err(|e| format!("{what} is not valid base64: {e}"))
    };
    let iterations = iterations
        .parse::<u32>()
        .map_err(|_| format!("iterations {iterations:?} is not a number"))?;
    let credential = ScramCredential {
        salt: decode("salt", salt)?,
        stored_key: decode("stored_key", stored_key)?,
        server_key: decode("server_key", server_key)?,
        iterations,
    };
    credential.validate(mechanism).map_err(|e| match e {
        Error::Config(message) => message,
        other => other.to_string(),
    })?;
    Ok((username, mechanism, credential))
}

/// One credential-file line (without the newline) for `username`'s `credential`.
pub fn format_credential_line(
    username: &str,
    mechanism: ScramMechanism,
    credential: &ScramCredential,
) -> Result<String> {
    check_username(username)?;
    if username.chars().any(char::is_whitespace) || username.starts_with('#') {
        return Err(Error::Config(format!(
            "user name {username:?} cannot be written to a credential file (blanks or leading #)"
        )));
    }
    credential.validate(mechanism)?;
    Ok(format!(
        "{username} {mechanism} {} {} {} {}",
        BASE64.encode(&credential.salt),
        BASE64.encode(&credential.stored_key),
        BASE64.encode(&credential.server_key),
        credential.iterations
    ))
}

/// The credential-file lines for a new user: one SCRAM-SHA-256 and one SCRAM-SHA-512 line,
/// each with a fresh random salt, each ending with a newline. This is what the admin tooling
/// appends to the file; the password itself is not written anywhere.
pub fn credential_lines(username: &str, password: &str, iterations: u32) -> Result<String> {
    let mut out = String::new();
    for mechanism in ScramMechanism::ALL {
        let credential = ScramCredential::from_password(mechanism, password, iterations)?;
        out.push_str(&format_credential_line(username, mechanism, &credential)?);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_verify_their_password_only() {
        for mechanism in ScramMechanism::ALL {
            let c = ScramCredential::from_password(mechanism, "secret", 4096).unwrap();
            assert_eq!(c.salt.len(), SALT_LEN);
            assert_eq!(c.stored_key.len(), mechanism.key_len());
            assert_eq!(c.server_key.len(), mechanism.key_len());
            assert!(c.verify_password(mechanism, "secret"));
            assert!(!c.verify_password(mechanism, "Secret"));
            assert!(!c.verify_password(mechanism, ""));
            // Two credentials for one password differ (random salt).
            let d = ScramCredential::from_password(mechanism, "secret", 4096).unwrap();
            assert_ne!(c.salt, d.salt);
            assert_ne!(c.stored_key, d.stored_key);
        }
        assert!(ScramCredential::from_password(ScramMechanism::Sha256, "x", 4095).is_err());
        assert!(ScramCredential::from_password(ScramMechanism::Sha256, "x", 16385).is_err());
        assert!(
            ScramCredential::from_password_with_salt(ScramMechanism::Sha256, "x", b"", 4096)
                .is_err()
        );
    }

    #[test]
    fn debug_output_hides_keys() {
        let c =
            ScramCredential::from_password_with_salt(ScramMechanism::Sha256, "pw", b"salt", 4096)
                .unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("iterations: 4096"), "{shown}");
        assert!(!shown.contains("stored_key"), "{shown}");
    }

    #[test]
    fn in_memory_store_serves_scram_and_plain() {
        let store = InMemoryCredentialStore::new();
        store.add_user("alice", "alice-secret").unwrap();
        for mechanism in ScramMechanism::ALL {
            assert!(store.scram_credential(mechanism, "alice").is_some());
            assert!(store.scram_credential(mechanism, "bob").is_none());
        }
        assert!(store.verify_plain("alice", "alice-secret"));
        assert!(!store.verify_plain("alice", "wrong"));
        assert!(!store.verify_plain("bob", "alice-secret"));
        assert!(store.add_user("", "x").is_err());

        // PLAIN falls back to SCRAM-SHA-256 when the user has no SHA-512 record.
        assert!(store.remove_credential("alice", ScramMechanism::Sha512));
        assert!(store.verify_plain("alice", "alice-secret"));
        assert!(store.remove_credential("alice", ScramMechanism::Sha256));
        assert!(!store.verify_plain("alice", "alice-secret"));
        assert!(store.usernames().is_empty());
        assert!(!store.remove_user("alice"));
    }

    #[test]
    fn set_credential_checks_the_shape() {
        let store = InMemoryCredentialStore::new();
        let c = ScramCredential::from_password(ScramMechanism::Sha256, "pw", 4096).unwrap();
        assert!(store
            .set_credential("u", ScramMechanism::Sha512, c.clone())
            .is_err());
        store
            .set_credential("u", ScramMechanism::Sha256, c)
            .unwrap();
        assert_eq!(store.usernames(), vec!["u".to_string()]);
    }

    #[test]
    fn credential_lines_round_trip_through_the_parser() {
        let lines = credential_lines("alice", "alice-secret", 4096).unwrap();
        assert_eq!(lines.lines().count(), 2);
        assert!(!lines.contains("alice-secret"));
        let text = format!("# users\n\n{lines}   # indented comment\n");
        let store = parse_credential_file(&text).unwrap();
        assert!(store.verify_plain("alice", "alice-secret"));
        for mechanism in ScramMechanism::ALL {
            assert!(store
                .scram_credential(mechanism, "alice")
                .unwrap()
                .verify_password(mechanism, "alice-secret"));
        }
        assert_eq!(
            parse_credential_file(&store.to_credential_file().unwrap())
                .unwrap()
                .usernames(),
            vec!["alice"]
        );
    }

    #[test]
    fn a_fixed_line_parses_to_known_keys() {
        let c = ScramCredential::from_password_with_salt(
            ScramMechanism::Sha256,
            "pencil",
            b"salt",
            4096,
        )
        .unwrap();
        let line = format_credential_line("user", ScramMechanism::Sha256, &c).unwrap();
        assert!(line.starts_with("user SCRAM-SHA-256 c2FsdA== "), "{line}");
        assert!(line.ends_with(" 4096"), "{line}");
        let store = parse_credential_file(&line).unwrap();
        assert_eq!(
            store.scram_credential(ScramMechanism::Sha256, "user"),
            Some(c)
        );
    }

    #[test]
    fn bad_files_are_rejected_with_the_line_number() {
        let good = credential_lines("alice", "pw", 4096).unwrap();
        let first = good.lines().next().unwrap().to_owned();
        let replace_field = |i: usize, value: &str| {
            let mut f: Vec<&str> = first.split(' ').collect();
            f[i] = value;
            f.join(" ")
        };
        let cases = [
            "alice SCRAM-SHA-256".to_string(),
            replace_field(1, "PLAIN"),
            replace_field(2, "not*base64"),
            replace_field(2, ""),
            replace_field(3, "c2FsdA=="),
            replace_field(4, "c2FsdA=="),
            replace_field(5, "1000"),
            replace_field(5, "x"),
            format!("{first} extra"),
            format!("{first}\n{first}"),
        ];
        for (i, case) in cases.iter().enumerate() {
            let text = format!("# header\n{case}\n");
            match parse_credential_file(&text) {
                Err(Error::Config(message)) => {
                    assert!(
                        message.starts_with('2') || message.starts_with('3'),
                        "case {i}: {message}"
                    )
                }
                other => panic!("case {i} {case:?}: {other:?}"),
            }
        }
        assert!(format_credential_line(
            "a b",
            ScramMechanism::Sha256,
            &ScramCredential::from_password(ScramMechanism::Sha256, "x", 4096).unwrap()
        )
        .is_err());
        assert!(format_credential_line(
            "#a",
            ScramMechanism::Sha256,
            &ScramCredential::from_password(ScramMechanism::Sha256, "x", 4096).unwrap()
        )
        .is_err());
    }

    #[test]
    fn file_store_loads_and_reloads() {
        let dir = std::env::temp_dir().join(format!("kafka-network-creds-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.txt");
        fs::write(&path, credential_lines("alice", "a", 4096).unwrap()).unwrap();
        let store = FileCredentialStore::load(&path).unwrap();
        assert!(store.verify_plain("alice", "a"));
        assert!(!store.verify_plain("bob", "b"));

        fs::write(&path, credential_lines("bob", "b", 4096).unwrap()).unwrap();
        store.reload().unwrap();
        assert!(store.verify_plain("bob", "b"));
        assert!(!store.verify_plain("alice", "a"));

        // A broken file leaves the loaded credentials in place.
        fs::write(&path, "bob SCRAM-SHA-256 x\n").unwrap();
        match store.reload() {
            Err(Error::Config(message)) => assert!(message.contains("users.txt:1"), "{message}"),
            other => panic!("{other:?}"),
        }
        assert!(store.verify_plain("bob", "b"));
        assert!(FileCredentialStore::load(dir.join("missing.txt")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
