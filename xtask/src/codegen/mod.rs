//! `cargo xtask codegen`: Kafka's JSON message definitions to `kafka-protocol`'s `messages`,
//! and Kafka's metadata record definitions to `kafka-metadata`'s `records::generated`.
//!
//! The definitions are Apache Kafka's own files ([`KAFKA_DEFINITIONS_DIR`] in the
//! apache/kafka repository, at [`KAFKA_COMMIT`] for the committed code). They are input data,
//! never committed here: [`locate`] finds them from a path argument, the
//! `KAFKA_MESSAGE_DEFINITIONS` environment variable or a default folder beside the checkout.
//! Each generated file's header names the commit and the SHA-256 of its input, so anyone can
//! tell which definitions produced it. `--check` regenerates in memory and fails if any
//! committed file differs, is missing or is extra.
//!
//! The metadata records (KRaft's `__cluster_metadata`, [`KAFKA_RECORDS_DIR`] in apache/kafka) are
//! found the same way ([`locate_records`], `KAFKA_RECORD_DEFINITIONS`, a default
//! `kafka-record-definitions` folder) and read from its `metadata/` subfolder: every
//! `*.json` there is generated, so a record type Kafka adds appears with the next regeneration.

mod emit;
mod model;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use model::{parse_spec, Spec};

/// The APIs in scope (the protocol scope of `docs/protocol.md`): each contributes its request
/// and response definitions.
pub const APIS: &[&str] = &[
    "Produce",
    "Fetch",
    "ListOffsets",
    "Metadata",
    "OffsetCommit",
    "OffsetFetch",
    "FindCoordinator",
    "JoinGroup",
    "Heartbeat",
    "LeaveGroup",
    "SyncGroup",
    "DescribeGroups",
    "ListGroups",
    "SaslHandshake",
    "ApiVersions",
    "CreateTopics",
    "DeleteTopics",
    "DeleteRecords",
    "InitProducerId",
    "OffsetForLeaderEpoch",
    "AddPartitionsToTxn",
    "AddOffsetsToTxn",
    "EndTxn",
    "TxnOffsetCommit",
    "DescribeAcls",
    "CreateAcls",
    "DeleteAcls",
    "DescribeConfigs",
    "AlterConfigs",
    "SaslAuthenticate",
    "CreatePartitions",
    "DeleteGroups",
    "IncrementalAlterConfigs",
    "OffsetDelete",
    "DescribeCluster",
    // KRaft's broker-to-controller APIs and the quorum's own: the controller serves them, the
    // broker does not advertise them.
    "BrokerRegistration",
    "BrokerHeartbeat",
    "UnregisterBroker",
    "DescribeQuorum",
    "AllocateProducerIds",
];

/// Definitions that are not API bodies but that the broker and clients need.
pub const OTHERS: &[&str] = &[
    "RequestHeader",
    "ResponseHeader",
    "ConsumerProtocolSubscription",
    "ConsumerProtocolAssignment",
];

/// Where Apache Kafka keeps the definitions, inside its repository.
pub const KAFKA_DEFINITIONS_DIR: &str = "clients/src/main/resources/common/message";

/// The apache/kafka commit the committed code was generated from (2024-10-25, the 4.0
/// development line). Change it when regenerating from other definitions.
pub const KAFKA_COMMIT: &str = "1eb7644";

/// The environment variable naming the definitions folder.
pub const DEFINITIONS_ENV: &str = "KAFKA_MESSAGE_DEFINITIONS";

/// Where Apache Kafka keeps the metadata record definitions, inside its repository.
pub const KAFKA_RECORDS_DIR: &str = "metadata/src/main/resources/common/metadata";

/// The environment variable naming the record definitions folder (the folder holding
/// `metadata/`, as `../shared/kafka-record-definitions`).
pub const RECORD_DEFINITIONS_ENV: &str = "KAFKA_RECORD_DEFINITIONS";

/// The default record definitions folder, beside [`default_input`].
pub fn default_records_input(root: &Path) -> PathBuf {
    root.join("..")
        .join("shared")
        .join("kafka-record-definitions")
}

/// The record definitions folder to use, chosen as [`locate`] chooses the message definitions:
/// `argument`, else `env` (the value of [`RECORD_DEFINITIONS_ENV`]), else the default folder.
pub fn locate_records(
    root: &Path,
    argument: Option<PathBuf>,
    env: Option<std::ffi::OsString>,
) -> Result<(PathBuf, Origin), String> {
    let (path, origin) = match (argument, env.filter(|v| !v.is_empty())) {
        (Some(p), _) => (p, Origin::Argument),
        (None, Some(v)) => (PathBuf::from(v), Origin::Environment),
        (None, None) => (default_records_input(root), Origin::Default),
    };
    if path
        .join("metadata")
        .join("RegisterBrokerRecord.json")
        .is_file()
    {
        return Ok((path, origin));
    }
    let tried = match origin {
        Origin::Argument => format!("the folder given ({})", path.display()),
        Origin::Environment => format!("${RECORD_DEFINITIONS_ENV} ({})", path.display()),
        Origin::Default => format!(
            "no path given, ${RECORD_DEFINITIONS_ENV} unset, and the default folder ({}) absent",
            path.display()
        ),
    };
    Err(format!(
        "Kafka's metadata record definitions were not found: {tried}. They are the JSON files in \
         `{KAFKA_RECORDS_DIR}` of https://github.com/apache/kafka (commit {KAFKA_COMMIT}); put \
         them in a `metadata/` folder and pass its parent with --records or set \
         {RECORD_DEFINITIONS_ENV}"
    ))
}

/// The folder tried when neither an argument nor [`DEFINITIONS_ENV`] names one: a
/// `kafka-message-definitions` folder in `shared/` beside the checkout, where this project's
/// development machines keep it.
pub fn default_input(root: &Path) -> PathBuf {
    root.join("..")
        .join("shared")
        .join("kafka-message-definitions")
}

/// How the definitions folder was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Given on the command line.
    Argument,
    /// From [`DEFINITIONS_ENV`].
    Environment,
    /// [`default_input`].
    Default,
}

/// The definitions folder to use: `argument`, else `env` (the value of [`DEFINITIONS_ENV`]),
/// else the default folder; `Err` says what was looked for when none holds the definitions.
pub fn locate(
    root: &Path,
    argument: Option<PathBuf>,
    env: Option<std::ffi::OsString>,
) -> Result<(PathBuf, Origin), String> {
    let (path, origin) = match (argument, env.filter(|v| !v.is_empty())) {
        (Some(p), _) => (p, Origin::Argument),
        (None, Some(v)) => (PathBuf::from(v), Origin::Environment),
        (None, None) => (default_input(root), Origin::Default),
    };
    // One file every generation needs tells a definitions folder from any other folder.
    if path.join("ProduceRequest.json").is_file() {
        return Ok((path, origin));
    }
    let tried = match origin {
        Origin::Argument => format!("the folder given ({})", path.display()),
        Origin::Environment => format!("${DEFINITIONS_ENV} ({})", path.display()),
        Origin::Default => format!(
            "no path argument, ${DEFINITIONS_ENV} unset, and the default folder ({}) absent",
            path.display()
        ),
    };
    Err(format!(
        "Kafka's message definitions were not found: {tried}. They are the JSON files in \
         `{KAFKA_DEFINITIONS_DIR}` of https://github.com/apache/kafka (the committed code was \
         generated at commit {KAFKA_COMMIT}); check that commit out and pass the folder as an \
         argument or set {DEFINITIONS_ENV}"
    ))
}

/// Lowercase hex SHA-256 of `data`.
fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn output_dir(root: &Path) -> PathBuf {
    root.join("crates/kafka-protocol/src/messages")
}

fn records_output_dir(root: &Path) -> PathBuf {
    root.join("crates/kafka-metadata/src/records/generated")
}

fn rustfmt(source: &str) -> Result<String, String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt has no stdin")?;
    let input = source.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt failed: {e}"))?;
    writer
        .join()
        .map_err(|_| "rustfmt writer panicked".to_string())?
        .map_err(|e| format!("writing to rustfmt: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "rustfmt rejected generated code:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("rustfmt output: {e}"))
}

/// This project's own APIs (the metadata quorum's messages between controllers), defined in
/// Kafka's schema language in [`PRIVATE_DEFINITIONS_DIR`] and generated with Kafka's.
pub const PRIVATE_APIS: &[&str] = &["RaftMessage"];

/// Where [`PRIVATE_APIS`] are defined, relative to the workspace root.
pub const PRIVATE_DEFINITIONS_DIR: &str = "xtask/definitions";

/// Generates every file, keyed by file name: Kafka's definitions from `input`, this project's
/// own from `private`.
pub fn generate(input: &Path, private: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut names: Vec<String> = Vec::new();
    for api in APIS {
        names.push(format!("{api}Request"));
        names.push(format!("{api}Response"));
    }
    names.extend(OTHERS.iter().map(|s| s.to_string()));
    let mut own: Vec<String> = Vec::new();
    for api in PRIVATE_APIS {
        own.push(format!("{api}Request"));
        own.push(format!("{api}Response"));
    }

    let mut specs: Vec<(Spec, String)> = Vec::new();
    // Digests of every input, by file name, for the headers and the combined digest.
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    let mut own_digests: BTreeMap<String, String> = BTreeMap::new();
    let sources = names
        .iter()
        .map(|n| (n, input, false))
        .chain(own.iter().map(|n| (n, private, true)));
    for (name, dir, is_own) in sources {
        let file = format!("{name}.json");
        let path = dir.join(&file);
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let spec = parse_spec(&text).map_err(|e| format!("{file}: {e}"))?;
        if &spec.name != name {
            return Err(format!("{file} defines {} instead of {name}", spec.name));
        }
        if is_own {
            own_digests.insert(file.clone(), sha256_hex(text.as_bytes()));
        } else {
            digests.insert(file.clone(), sha256_hex(text.as_bytes()));
        }
        specs.push((spec, file));
    }
    specs.sort_by(|a, b| a.0.name.cmp(&b.0.name));

    let mut files = BTreeMap::new();
    for (spec, file) in &specs {
        let source = match (digests.get(file), own_digests.get(file)) {
            (Some(digest), _) => {
                format!("Kafka's {file} (apache/kafka {KAFKA_COMMIT}, sha256 {digest})")
            }
            (None, Some(digest)) => {
                format!("{PRIVATE_DEFINITIONS_DIR}/{file} (this repository, sha256 {digest})")
            }
            (None, None) => file.clone(),
        };
        let src = emit::emit_message(spec, &source, "crate").map_err(|e| format!("{file}: {e}"))?;
        files.insert(format!("{}.rs", emit::module_name(spec)), rustfmt(&src)?);
    }
    // The combined digest covers the file names and their digests, in name order.
    let listing: String = digests
        .iter()
        .map(|(file, digest)| format!("{digest}  {file}\n"))
        .collect();
    let own_listing: String = own_digests
        .iter()
        .map(|(file, digest)| format!("{digest}  {file}\n"))
        .collect();
    let provenance = format!(
        "{} message definitions (apache/kafka {KAFKA_COMMIT}, sha256 of their sha256sum listing {}) and {} of this repository's ({PRIVATE_DEFINITIONS_DIR}, {})",
        digests.len(),
        sha256_hex(listing.as_bytes()),
        own_digests.len(),
        sha256_hex(own_listing.as_bytes())
    );
    files.insert(
        "mod.rs".to_string(),
        rustfmt(&emit::emit_mod(&specs, &provenance))?,
    );
    Ok(files)
}

/// Generates every metadata record file from `input/metadata/*.json`, keyed by file name.
pub fn generate_records(input: &Path) -> Result<BTreeMap<String, String>, String> {
    let dir = input.join("metadata");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let mut specs: Vec<(Spec, String)> = Vec::new();
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    let mut types: BTreeMap<i16, String> = BTreeMap::new();
    for file in names {
        let path = dir.join(&file);
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let spec = parse_spec(&text).map_err(|e| format!("{file}: {e}"))?;
        if spec.kind != model::Kind::Metadata {
            return Err(format!("{file} is not a metadata record"));
        }
        let key = spec
            .api_key
            .ok_or_else(|| format!("{file}: a metadata record without an apiKey"))?;
        if let Some(other) = types.insert(key, spec.name.clone()) {
            return Err(format!("{file}: record type {key} is also {other}"));
        }
        if Some(spec.name.as_str()) != file.strip_suffix(".json") {
            return Err(format!("{file} defines {}", spec.name));
        }
        digests.insert(file.clone(), sha256_hex(text.as_bytes()));
        specs.push((spec, file));
    }
    specs.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let mut files = BTreeMap::new();
    for (spec, file) in &specs {
        let digest = digests.get(file).map(String::as_str).unwrap_or_default();
        let source =
            format!("Kafka's metadata/{file} (apache/kafka {KAFKA_COMMIT}, sha256 {digest})");
        let src = emit::emit_message(spec, &source, "kafka_protocol")
            .map_err(|e| format!("{file}: {e}"))?;
        files.insert(format!("{}.rs", emit::module_name(spec)), rustfmt(&src)?);
    }
    let listing: String = digests
        .iter()
        .map(|(file, digest)| format!("{digest}  {file}\n"))
        .collect();
    let provenance = format!(
        "{} metadata record definitions (apache/kafka {KAFKA_COMMIT}, sha256 of their sha256sum listing {})",
        digests.len(),
        sha256_hex(listing.as_bytes())
    );
    files.insert(
        "mod.rs".to_string(),
        rustfmt(&emit::emit_metadata_mod(&specs, &provenance))?,
    );
    Ok(files)
}

/// Writes the generated files, or with `check` compares them with what is committed: the
/// message codecs from `input` and the metadata records from `records`.
pub fn run(
    root: &Path,
    input: Option<PathBuf>,
    records: Option<PathBuf>,
    check: bool,
) -> Result<(), String> {
    let (input, _) = locate(root, input, std::env::var_os(DEFINITIONS_ENV))?;
    let (records, _) = locate_records(root, records, std::env::var_os(RECORD_DEFINITIONS_ENV))?;
    run_with(root, &input, check)?;
    run_records_with(root, &records, check)
}

/// The metadata records half of [`run`], with the record definitions already located.
pub fn run_records_with(root: &Path, input: &Path, check: bool) -> Result<(), String> {
    write_or_check(&records_output_dir(root), generate_records(input)?, check)
}

/// The message half of [`run`], with a definitions folder already located.
pub fn run_with(root: &Path, input: &Path, check: bool) -> Result<(), String> {
    write_or_check(
        &output_dir(root),
        generate(input, &root.join(PRIVATE_DEFINITIONS_DIR))?,
        check,
    )
}

fn write_or_check(out: &Path, files: BTreeMap<String, String>, check: bool) -> Result<(), String> {
    let existing: Vec<String> = match fs::read_dir(out) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".rs"))
            .collect(),
        Err(_) => Vec::new(),
    };
    if check {
        let mut stale = Vec::new();
        for (name, content) in &files {
            match fs::read_to_string(out.join(name)) {
                Ok(old) if &old == content => {}
                Ok(_) => stale.push(format!("{name} differs")),
                Err(_) => stale.push(format!("{name} is missing")),
            }
        }
        for name in &existing {
            if !files.contains_key(name) {
                stale.push(format!("{name} is not generated"));
            }
        }
        if stale.is_empty() {
            println!(
                "codegen: {} files in {} up to date",
                files.len(),
                out.display()
            );
            return Ok(());
        }
        return Err(format!(
            "generated code is stale ({}); run `cargo xtask codegen`",
            stale.join(", ")
        ));
    }
    fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for name in &existing {
        if !files.contains_key(name) {
            fs::remove_file(out.join(name)).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    for (name, content) in &files {
        fs::write(out.join(name), content).map_err(|e| format!("{name}: {e}"))?;
    }
    println!("codegen: wrote {} files to {}", files.len(), out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::emit::snake;
    use super::model::Versions;
    use super::{locate, Origin};
    use std::path::{Path, PathBuf};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn definitions_are_located_by_argument_then_environment() {
        let defs = temp_dir("defs");
        std::fs::write(defs.join("ProduceRequest.json"), "{}").unwrap();
        let root = temp_dir("root");
        let arg = locate(&root, Some(defs.clone()), Some("/nowhere".into())).unwrap();
        assert_eq!(arg, (defs.clone(), Origin::Argument));
        let env = locate(&root, None, Some(defs.clone().into_os_string())).unwrap();
        assert_eq!(env, (defs.clone(), Origin::Environment));
        std::fs::remove_dir_all(&defs).unwrap();
    }

    #[test]
    fn missing_definitions_say_where_kafka_keeps_them() {
        let root = temp_dir("bare");
        let err = locate(&root, None, None).unwrap_err();
        assert!(
            err.contains("clients/src/main/resources/common/message"),
            "{err}"
        );
        assert!(err.contains(super::KAFKA_COMMIT), "{err}");
        assert!(err.contains("KAFKA_MESSAGE_DEFINITIONS"), "{err}");
        let err = locate(Path::new("/"), Some("/nowhere".into()), None).unwrap_err();
        assert!(err.contains("/nowhere"), "{err}");
    }

    #[test]
    fn record_definitions_are_located_like_message_definitions() {
        let defs = temp_dir("records");
        std::fs::create_dir_all(defs.join("metadata")).unwrap();
        std::fs::write(defs.join("metadata/RegisterBrokerRecord.json"), "{}").unwrap();
        let root = temp_dir("records-root");
        let arg = super::locate_records(&root, Some(defs.clone()), Some("/nowhere".into()));
        assert_eq!(arg.unwrap(), (defs.clone(), Origin::Argument));
        let env = super::locate_records(&root, None, Some(defs.clone().into_os_string()));
        assert_eq!(env.unwrap(), (defs.clone(), Origin::Environment));
        let err = super::locate_records(&root, None, None).unwrap_err();
        assert!(err.contains("KAFKA_RECORD_DEFINITIONS"), "{err}");
        assert!(err.contains(super::KAFKA_RECORDS_DIR), "{err}");
        std::fs::remove_dir_all(&defs).unwrap();
    }

    #[test]
    fn snake_case_names() {
        assert_eq!(snake("ThrottleTimeMs"), "throttle_time_ms");
        assert_eq!(snake("ApiKey"), "api_key");
        assert_eq!(snake("ISRChange"), "isr_change");
        assert_eq!(snake("Topics"), "topics");
    }

    #[test]
    fn version_tests_simplify_against_scope() {
        let scope = Versions::parse("0-9").unwrap();
        assert_eq!(Versions::parse("0+").unwrap().test("v", &scope), "true");
        assert_eq!(Versions::parse("3+").unwrap().test("v", &scope), "v >= 3");
        assert_eq!(Versions::parse("0-2").unwrap().test("v", &scope), "v <= 2");
        assert_eq!(
            Versions::parse("4-6").unwrap().test("v", &scope),
            "(v >= 4 && v <= 6)"
        );
        assert_eq!(Versions::parse("none").unwrap().test("v", &scope), "false");
        assert_eq!(Versions::parse("10+").unwrap().test("v", &scope), "false");
    }
}
