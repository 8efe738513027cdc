//! `cargo xtask codegen`: Kafka's JSON message definitions to `kafka-protocol`'s `messages`.
//!
//! The definitions are input data read from a folder outside the project (by default
//! `../shared/kafka-message-definitions`); only the generated Rust is committed. `--check`
//! regenerates in memory and fails if any committed file differs, is missing or is extra.

mod emit;
mod model;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use model::{parse_spec, Spec};

/// The APIs in scope (see shared/design.md "Protocol scope"): each contributes its request and
/// response definitions.
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
];

/// Definitions that are not API bodies but that the broker and clients need.
pub const OTHERS: &[&str] = &[
    "RequestHeader",
    "ResponseHeader",
    "ConsumerProtocolSubscription",
    "ConsumerProtocolAssignment",
];

pub fn default_input(root: &Path) -> PathBuf {
    root.join("../shared/kafka-message-definitions")
}

fn output_dir(root: &Path) -> PathBuf {
    root.join("crates/kafka-protocol/src/messages")
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

/// Generates every file, keyed by file name.
pub fn generate(input: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut names: Vec<String> = Vec::new();
    for api in APIS {
        names.push(format!("{api}Request"));
        names.push(format!("{api}Response"));
    }
    names.extend(OTHERS.iter().map(|s| s.to_string()));

    let mut specs: Vec<(Spec, String)> = Vec::new();
    for name in &names {
        let file = format!("{name}.json");
        let path = input.join(&file);
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let spec = parse_spec(&text).map_err(|e| format!("{file}: {e}"))?;
        if &spec.name != name {
            return Err(format!("{file} defines {} instead of {name}", spec.name));
        }
        specs.push((spec, file));
    }
    specs.sort_by(|a, b| a.0.name.cmp(&b.0.name));

    let mut files = BTreeMap::new();
    for (spec, file) in &specs {
        let src = emit::emit_message(spec, file).map_err(|e| format!("{file}: {e}"))?;
        files.insert(format!("{}.rs", emit::module_name(spec)), rustfmt(&src)?);
    }
    files.insert("mod.rs".to_string(), rustfmt(&emit::emit_mod(&specs))?);
    Ok(files)
}

/// Writes the generated files, or with `check` compares them with what is committed.
pub fn run(root: &Path, input: Option<PathBuf>, check: bool) -> Result<(), String> {
    let input = input.unwrap_or_else(|| default_input(root));
    let files = generate(&input)?;
    let out = output_dir(root);
    let existing: Vec<String> = match fs::read_dir(&out) {
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
            println!("codegen: {} files up to date", files.len());
            return Ok(());
        }
        return Err(format!(
            "generated code is stale ({}); run `cargo xtask codegen`",
            stale.join(", ")
        ));
    }
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
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
