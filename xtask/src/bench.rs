//! `cargo xtask bench`: the criterion benches (protocol codec and record batches, the storage
//! log) with short warm-up and measurement times, then the broker network load test
//! (`kafka-server`'s `loadgen` example at 1 and 100 connections), and a summary of the numbers
//! in `target/bench-summary.md`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `program args` in `root`, echoing its stdout (stderr is inherited) and returning it.
fn capture(root: &Path, program: &str, args: &[&str]) -> Result<String, String> {
    eprintln!("==> {program} {}", args.join(" "));
    let exe = if program.contains('/') {
        root.join(program).into_os_string()
    } else {
        program.into()
    };
    let mut child = Command::new(exe)
        .args(args)
        .current_dir(root)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut out = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("reading {program} output: {e}"))?;
            println!("{line}");
            out.push_str(&line);
            out.push('\n');
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for {program}: {e}"))?;
    if status.success() {
        Ok(out)
    } else {
        Err(format!("{program} {} failed ({status})", args.join(" ")))
    }
}

/// The result lines of criterion's output: each benchmark id with its `time:` (and `thrpt:`)
/// lines, whether criterion printed the id on the same line or the line before.
pub fn criterion_results(output: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut last_id: Option<&str> = None;
    for line in output.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(pos) = t.find("time:") {
            let id = t[..pos].trim();
            let value = t[pos..].trim();
            if !id.is_empty() {
                out.push(format!("- `{id}` {value}"));
            } else if let Some(id) = last_id.take() {
                out.push(format!("- `{id}` {value}"));
            } else if value.contains('%') {
                out.push(format!("  change vs the previous run: {value}"));
            } else {
                out.push(format!("  {value}"));
            }
        } else if t.starts_with("thrpt:") && !t.contains('%') {
            out.push(format!("  {t}"));
        } else if !line.starts_with(' ')
            && !t.starts_with("Benchmarking")
            && !t.starts_with("Found")
            && !t.starts_with("change:")
            && !t.contains("outliers")
        {
            last_id = Some(t);
        }
    }
    out
}

pub fn run(root: &Path) -> Result<(), String> {
    let manifest = fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| format!("reading Cargo.toml: {e}"))?;
    let version = crate::release::workspace_version(&manifest)?;
    // `kafka-protocol` alone is ambiguous: the protocol-diff test depends on the crates.io crate
    // of the same name.
    let protocol = format!("kafka-protocol@{version}");
    let criterion_args = ["--warm-up-time", "1", "--measurement-time", "3"];
    let benches: [(&str, &str); 3] = [
        (&protocol, "codec"),
        (&protocol, "records"),
        ("kafka-storage", "log"),
    ];
    let mut summary = String::from("# Benchmark summary\n\nWritten by `cargo xtask bench`.\n");
    for (package, bench) in benches {
        let mut args = vec!["bench", "-p", package, "--bench", bench, "--"];
        args.extend(criterion_args);
        let out = capture(root, "cargo", &args)?;
        summary.push_str(&format!("\n## {package} `{bench}`\n\n"));
        for line in criterion_results(&out) {
            summary.push_str(&line);
            summary.push('\n');
        }
    }
    capture(
        root,
        "cargo",
        &["build", "--release", "-p", "kafka-server", "--examples"],
    )?;
    let loadgen = capture(
        root,
        "target/release/examples/loadgen",
        &["--connections", "1,100", "--duration-secs", "5"],
    )?;
    summary.push_str(
        "\n## Broker network load test (`loadgen --connections 1,100 --duration-secs 5`)\n\n```\n",
    );
    summary.push_str(&loadgen);
    summary.push_str("```\n");
    let path = root.join("target").join("bench-summary.md");
    fs::write(&path, &summary).map_err(|e| format!("writing {}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criterion_lines_are_summarised() {
        let out = "\
Benchmarking decode/produce: Warming up for 1.0000 s
decode/produce          time:   [1.0 µs 1.1 µs 1.2 µs]
                        thrpt:  [800 MiB/s 810 MiB/s 820 MiB/s]
Found 3 outliers among 100 measurements (3.00%)
a/very/long/benchmark/identifier/that/wraps
                        time:   [2.0 µs 2.1 µs 2.2 µs]
";
        assert_eq!(
            criterion_results(out),
            vec![
                "- `decode/produce` time:   [1.0 µs 1.1 µs 1.2 µs]",
                "  thrpt:  [800 MiB/s 810 MiB/s 820 MiB/s]",
                "- `a/very/long/benchmark/identifier/that/wraps` time:   [2.0 µs 2.1 µs 2.2 µs]",
            ]
        );
    }
}
