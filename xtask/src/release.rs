//! `cargo xtask release <version>` and `cargo xtask dist`.
//!
//! `release` sets `[workspace.package] version` in the root `Cargo.toml` (the one place every
//! crate takes its version from; unchanged when it already is `<version>`), refuses to go on
//! unless `CHANGELOG.md` has a `## [<version>]` entry, then does what `dist` does: builds the
//! release `broker` binary and assembles `dist/broker-<version>-<target>.tar.gz` holding the
//! binary, `deploy/server.properties`, `deploy/broker.service`, `README.md`, `CHANGELOG.md` and a
//! `SHA256SUMS` of those, and writes `dist/SHA256SUMS` for the tarball.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Files shipped next to the binary, relative to the workspace root, and their names inside.
const SHIPPED: &[(&str, &str)] = &[
    ("deploy/server.properties", "server.properties"),
    ("deploy/broker.service", "broker.service"),
    ("README.md", "README.md"),
    ("CHANGELOG.md", "CHANGELOG.md"),
];

/// Accepts `MAJOR.MINOR.PATCH` with an optional `-pre` part of `[0-9A-Za-z.-]`.
pub fn valid_version(v: &str) -> bool {
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v, None),
    };
    let parts: Vec<_> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && pre.is_none_or(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        })
}

/// The `version = "..."` line of the `[workspace.package]` table: (line index, version).
fn workspace_version_line(manifest: &str) -> Result<(usize, String), String> {
    let mut in_table = false;
    for (i, line) in manifest.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_table = t == "[workspace.package]";
            continue;
        }
        if in_table {
            if let Some(rest) = t.strip_prefix("version") {
                let rest = rest.trim_start();
                if let Some(value) = rest.strip_prefix('=') {
                    let value = value.trim();
                    if let Some(v) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                        return Ok((i, v.to_string()));
                    }
                    return Err(format!("unexpected version line: {line}"));
                }
            }
        }
    }
    Err("no `version` in [workspace.package] of Cargo.toml".into())
}

/// The workspace version in the root manifest text.
pub fn workspace_version(manifest: &str) -> Result<String, String> {
    workspace_version_line(manifest).map(|(_, v)| v)
}

/// `manifest` with its workspace version set to `version`; `None` if it already is.
pub fn bump(manifest: &str, version: &str) -> Result<Option<String>, String> {
    let (index, current) = workspace_version_line(manifest)?;
    if current == version {
        return Ok(None);
    }
    let mut out = String::with_capacity(manifest.len() + 8);
    for (i, line) in manifest.split_inclusive('\n').enumerate() {
        if i == index {
            let newline = if line.ends_with('\n') { "\n" } else { "" };
            out.push_str(&format!("version = \"{version}\"{newline}"));
        } else {
            out.push_str(line);
        }
    }
    Ok(Some(out))
}

/// Whether the changelog has a `## [<version>]` heading.
pub fn changelog_has(changelog: &str, version: &str) -> bool {
    let heading = format!("## [{version}]");
    changelog.lines().any(|l| {
        l.trim_end() == heading
            || l.strip_prefix(&heading)
                .is_some_and(|rest| rest.starts_with(' '))
    })
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

fn sha256_file(path: &Path) -> Result<String, String> {
    let mut f = fs::File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// `sha256sum`'s format: `<hex>  <name>` lines.
fn sums_file(dir: &Path, names: &[&str]) -> Result<String, String> {
    let mut out = String::new();
    for name in names {
        out.push_str(&format!("{}  {name}\n", sha256_file(&dir.join(name))?));
    }
    Ok(out)
}

/// The host target triple, from `rustc -vV`.
fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| "rustc -vV printed no host triple".into())
}

/// Where cargo puts build outputs, as cargo itself says (`CARGO_TARGET_DIR`,
/// `build.target-dir` in a config file, or `target/`).
pub(crate) fn target_directory(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run {cargo} metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    target_directory_of(&out.stdout)
}

/// `target_directory` from `cargo metadata` output.
fn target_directory_of(metadata: &[u8]) -> Result<PathBuf, String> {
    let value: serde_json::Value =
        serde_json::from_slice(metadata).map_err(|e| format!("cargo metadata: {e}"))?;
    value
        .get("target_directory")
        .and_then(|v| v.as_str())
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata gave no target_directory".into())
}

fn run(root: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("==> {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{program} {} failed ({status})", args.join(" ")))
    }
}

/// `cargo xtask release <version>`.
pub fn release(root: &Path, version: &str) -> Result<(), String> {
    if !valid_version(version) {
        return Err(format!(
            "{version:?} is not a version (MAJOR.MINOR.PATCH[-PRE])"
        ));
    }
    let changelog = read(&root.join("CHANGELOG.md"))?;
    if !changelog_has(&changelog, version) {
        return Err(format!(
            "CHANGELOG.md has no `## [{version}]` entry: add one (keep-a-changelog form) first"
        ));
    }
    let manifest_path = root.join("Cargo.toml");
    let manifest = read(&manifest_path)?;
    match bump(&manifest, version)? {
        Some(new) => {
            fs::write(&manifest_path, new)
                .map_err(|e| format!("writing {}: {e}", manifest_path.display()))?;
            eprintln!(
                "version {} -> {version} in Cargo.toml [workspace.package]",
                workspace_version(&manifest)?
            );
        }
        None => eprintln!("version is already {version}"),
    }
    dist(root).map(|tarball| eprintln!("released {}", tarball.display()))
}

/// `cargo xtask dist`: the tarball of the current workspace version. Returns its path.
pub fn dist(root: &Path) -> Result<PathBuf, String> {
    let version = workspace_version(&read(&root.join("Cargo.toml"))?)?;
    for (src, _) in SHIPPED {
        if !root.join(src).is_file() {
            return Err(format!("{src} is missing"));
        }
    }
    let triple = host_triple()?;
    run(root, "cargo", &["build", "--release", "-p", "broker"])?;
    let binary = target_directory(root)?.join("release").join("broker");

    let name = format!("broker-{version}-{triple}");
    let dist = root.join("dist");
    let stage = dist.join(&name);
    if stage.exists() {
        fs::remove_dir_all(&stage).map_err(|e| format!("removing {}: {e}", stage.display()))?;
    }
    fs::create_dir_all(&stage).map_err(|e| format!("creating {}: {e}", stage.display()))?;
    let copy = |from: &Path, to: &str| {
        fs::copy(from, stage.join(to))
            .map(|_| ())
            .map_err(|e| format!("copying {}: {e}", from.display()))
    };
    copy(&binary, "broker")?;
    let mut names = vec!["broker"];
    for (src, to) in SHIPPED {
        copy(&root.join(src), to)?;
        names.push(to);
    }
    let inner = sums_file(&stage, &names)?;
    fs::write(stage.join("SHA256SUMS"), inner).map_err(|e| format!("writing SHA256SUMS: {e}"))?;

    let tarball = format!("{name}.tar.gz");
    let dist_str = dist.display().to_string();
    run(
        root,
        "tar",
        &[
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-C",
            &dist_str,
            "-czf",
            &dist.join(&tarball).display().to_string(),
            &name,
        ],
    )?;
    fs::remove_dir_all(&stage).map_err(|e| format!("removing {}: {e}", stage.display()))?;
    let sums = sums_file(&dist, &[&tarball])?;
    fs::write(dist.join("SHA256SUMS"), &sums).map_err(|e| format!("writing SHA256SUMS: {e}"))?;
    let size = fs::metadata(dist.join(&tarball))
        .map(|m| m.len())
        .unwrap_or(0);
    eprintln!(
        "dist/{tarball} ({size} bytes)\ndist/SHA256SUMS: {}",
        sums.trim_end()
    );
    Ok(dist.join(tarball))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_directory_is_read_from_cargo_metadata() {
        let json = br#"{"packages":[],"target_directory":"/elsewhere/target","version":1}"#;
        assert_eq!(
            target_directory_of(json).unwrap(),
            PathBuf::from("/elsewhere/target")
        );
        assert!(target_directory_of(b"{}").is_err());
    }

    const MANIFEST: &str = "[workspace]\nmembers = [\"a\"]\n\n[workspace.package]\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace.dependencies]\nx = { version = \"1\" }\n";

    #[test]
    fn bump_changes_only_the_workspace_version() {
        let new = bump(MANIFEST, "0.2.0").unwrap().unwrap();
        assert_eq!(new, MANIFEST.replace("0.1.0", "0.2.0"));
        assert_eq!(workspace_version(&new).unwrap(), "0.2.0");
        assert!(new.contains("x = { version = \"1\" }"));
    }

    #[test]
    fn bump_to_the_current_version_is_a_no_op() {
        assert_eq!(bump(MANIFEST, "0.1.0").unwrap(), None);
    }

    #[test]
    fn the_real_manifest_has_a_workspace_version() {
        let text = fs::read_to_string(crate::workspace_root().join("Cargo.toml")).unwrap();
        assert!(valid_version(&workspace_version(&text).unwrap()));
    }

    #[test]
    fn versions_are_checked() {
        assert!(valid_version("0.1.0"));
        assert!(valid_version("1.20.3-rc.1"));
        assert!(!valid_version("0.1"));
        assert!(!valid_version("v0.1.0"));
        assert!(!valid_version("0.1.0-"));
        assert!(!valid_version("0.1.x"));
    }

    #[test]
    fn changelog_entries_are_found() {
        let log = "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2026-11-25\n";
        assert!(changelog_has(log, "0.1.0"));
        assert!(changelog_has(log, "Unreleased"));
        assert!(!changelog_has(log, "0.1.1"));
        assert!(!changelog_has("## [0.1.0x]\n", "0.1.0"));
    }

    #[test]
    fn sums_are_sha256sum_format() {
        let dir = std::env::temp_dir().join(format!("xtask-sums-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("a"), b"abc").unwrap();
        let s = sums_file(&dir, &["a"]).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            s,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a\n"
        );
    }

    #[test]
    fn the_changelog_has_the_current_version() {
        let root = crate::workspace_root();
        let v = workspace_version(&fs::read_to_string(root.join("Cargo.toml")).unwrap()).unwrap();
        assert!(changelog_has(
            &fs::read_to_string(root.join("CHANGELOG.md")).unwrap(),
            &v
        ));
    }
}
