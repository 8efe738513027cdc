//! `cargo xtask ci`: the one command CI and the README run.

use std::path::Path;
use std::process::Command;

fn step(root: &Path, name: &str, program: &str, args: &[&str]) -> Result<(), String> {
    step_env(root, name, program, args, &[])
}

fn step_env(
    root: &Path,
    name: &str,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(), String> {
    eprintln!("==> {name}: {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .map_err(|e| format!("{name}: cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

pub fn run(root: &Path, install: bool) -> Result<(), String> {
    if install {
        // Nothing outside cargo is needed yet; end-to-end tests with kcat and the Python
        // clients install them here when they arrive.
    }
    step(root, "fmt", "cargo", &["fmt", "--all", "--", "--check"])?;
    step(
        root,
        "clippy",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    crate::codegen::run(root, None, true)?;
    step(
        root,
        "test",
        "cargo",
        &["test", "--workspace", "--all-targets"],
    )?;
    step(root, "doctest", "cargo", &["test", "--workspace", "--doc"])?;
    step_env(
        root,
        "doc",
        "cargo",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    Ok(())
}
