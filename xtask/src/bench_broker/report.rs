//! The results of `cargo xtask bench broker`: metrics per scenario and broker, and their rendering
//! as `target/bench/broker.md` and `target/bench/broker.json`.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::machine::Limits;
use super::parse::{LoadSummary, Percentiles};

/// One measured number.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The JSON key.
    pub key: String,
    /// The row label in the Markdown table.
    pub label: String,
    pub value: f64,
    pub unit: String,
    pub lower_is_better: bool,
    /// The value against this machine's limit: the ratio and what it is a ratio of.
    pub vs_machine: Option<(f64, String)>,
}

impl Metric {
    pub fn plain(key: &str, label: &str, value: f64, unit: &str) -> Metric {
        Metric {
            key: key.into(),
            label: label.into(),
            value,
            unit: unit.into(),
            lower_is_better: false,
            vs_machine: None,
        }
    }

    pub fn lower(mut self) -> Metric {
        self.lower_is_better = true;
        self
    }

    fn against(mut self, limit: f64, what: String) -> Metric {
        if limit > 0.0 {
            self.vs_machine = Some((self.value / limit, what));
        }
        self
    }
}

/// One broker's result in one scenario.
#[derive(Debug)]
pub struct Outcome {
    /// `broker` or `peer`.
    pub target: String,
    pub result: Result<Vec<Metric>, String>,
}

#[derive(Debug)]
pub struct ScenarioReport {
    pub name: String,
    pub description: String,
    pub outcomes: Vec<Outcome>,
}

/// How the run was made, for the report's header.
#[derive(Debug, Clone)]
pub struct Context {
    pub quick: bool,
    pub peer: Option<String>,
    pub memory_dir: String,
    pub disk_dir: String,
    pub command: String,
}

/// The throughput metrics of a load run: rates, the broker's CPU per GB against the produce
/// floor, and its peak RSS.
pub fn throughput(
    s: &LoadSummary,
    cpu_seconds: f64,
    peak_rss_kib: u64,
    limits: &Limits,
) -> Vec<Metric> {
    let seconds = s.elapsed_ms as f64 / 1000.0;
    let gb = s.bytes as f64 / 1e9;
    let floor = limits.produce_floor_cpu_s_per_gb();
    vec![
        Metric::plain(
            "msgs_per_s",
            "msgs/s",
            s.messages as f64 / seconds.max(1e-9),
            "",
        ),
        Metric::plain(
            "mb_per_s",
            "MB/s",
            s.bytes as f64 / 1e6 / seconds.max(1e-9),
            "MB/s",
        ),
        Metric::plain(
            "cpu_s_per_gb",
            "broker CPU-s per GB",
            cpu_seconds / gb.max(1e-12),
            "s/GB",
        )
        .lower()
        .against(
            floor,
            format!("× the produce floor ({floor:.3}: 2 copies + 1 CRC)"),
        ),
        Metric::plain("cpu_seconds", "broker CPU-s", cpu_seconds, "s").lower(),
        Metric::plain(
            "peak_rss_mib",
            "peak RSS (MiB)",
            peak_rss_kib as f64 / 1024.0,
            "MiB",
        )
        .lower(),
        Metric::plain("messages", "messages", s.messages as f64, ""),
        Metric::plain("seconds", "seconds", seconds, "s"),
    ]
}

/// Sets the MB/s metric's comparison with a bandwidth of the machine.
pub fn compare_mb_s(metrics: &mut [Metric], limit_mb_s: f64, what: &str) {
    for m in metrics.iter_mut().filter(|m| m.key == "mb_per_s") {
        *m = m
            .clone()
            .against(limit_mb_s, format!("of {what} ({limit_mb_s:.0} MB/s)"));
    }
}

/// Latency percentiles; `suffix` tells runs apart (`_light`: at [`super::LIGHT_RATE`]).
pub fn latency_metrics(p: &Percentiles, suffix: &str) -> Vec<Metric> {
    let at = if suffix.is_empty() {
        String::new()
    } else {
        format!(" at {} msgs/s", super::LIGHT_RATE)
    };
    [("p50", p.p50), ("p99", p.p99), ("p999", p.p999)]
        .into_iter()
        .map(|(q, v)| {
            let label = format!("latency {}{at} (µs)", if q == "p999" { "p99.9" } else { q });
            Metric::plain(&format!("latency_{q}_us{suffix}"), &label, v, "µs").lower()
        })
        .chain([Metric::plain(
            &format!("latency_samples{suffix}"),
            &format!("latency samples{at}"),
            p.count as f64,
            "",
        )])
        .collect()
}

/// One of the targets the performance issue (13) sets, checked against this run.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    pub what: &'static str,
    /// What was measured, in the goal's terms; `None` when its scenarios did not run.
    pub measured: Option<f64>,
    pub target: String,
    pub met: Option<bool>,
}

/// The value of `key` in `target`'s result of `scenario`.
fn value(reports: &[ScenarioReport], scenario: &str, target: &str, key: &str) -> Option<f64> {
    reports
        .iter()
        .find(|r| r.name == scenario)?
        .outcomes
        .iter()
        .find(|o| o.target == target)?
        .result
        .as_ref()
        .ok()?
        .iter()
        .find(|m| m.key == key)
        .map(|m| m.value)
}

/// The goals for the broker, each with what this run measured.
pub fn goals(reports: &[ScenarioReport], limits: &Limits) -> Vec<Goal> {
    let ours = |scenario: &str, key: &str| value(reports, scenario, "broker", key);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let at_most = |what, measured: Option<f64>, limit: f64, unit: &str| Goal {
        what,
        measured,
        target: format!("≤ {}{unit}", number(limit)),
        met: measured.map(|m| m <= limit),
    };
    let at_least = |what, measured: Option<f64>, limit: f64, unit: &str| Goal {
        what,
        measured,
        target: format!("≥ {}{unit}", number(limit)),
        met: measured.map(|m| m >= limit),
    };
    vec![
        at_most(
            "produce 1 KiB, acks=all, tmpfs: broker CPU-s per GB",
            ours("produce-1k-acksall-p1-x1", "cpu_s_per_gb"),
            0.3,
            "",
        ),
        at_least(
            "produce 1 KiB, acks=all, tmpfs: MB/s ÷ the peer's",
            ratio(
                ours("produce-1k-acksall-p1-x1", "mb_per_s"),
                value(reports, "produce-1k-acksall-p1-x1", "peer", "mb_per_s"),
            ),
            1.5,
            "×",
        ),
        at_most(
            "produce 100 B, acks=1, tmpfs: broker CPU-s per GB",
            ours("produce-100b-acks1-p1-x1", "cpu_s_per_gb"),
            0.3,
            "",
        ),
        at_most(
            "consume 1 KiB from the page cache: broker CPU-s per GB",
            ours("consume-1k", "cpu_s_per_gb"),
            0.1,
            "",
        ),
        at_least(
            "sustained produce to disk: MB/s ÷ the disk's buffered write rate",
            ours("sustained-disk", "mb_per_s").map(|m| m / limits.disk_buffered_write_mb_s),
            0.8,
            "",
        ),
        at_most(
            "sustained produce to disk: CPU-s per GB ÷ the same produce on tmpfs",
            ratio(
                ours("sustained-disk", "cpu_s_per_gb"),
                ours("produce-1k-acks1-p1-x1", "cpu_s_per_gb"),
            ),
            1.5,
            "×",
        ),
        at_least(
            "fsync before every acknowledgement, 8 producers: MB/s ÷ without",
            ratio(
                ours("flush-1k-acksall-p1-x8", "mb_per_s"),
                ours("produce-1k-acksall-p1-x8-disk", "mb_per_s"),
            ),
            0.8,
            "",
        ),
        at_most(
            "produce latency p99 at 50 % of peak (µs)",
            ours("latency-1k", "latency_p99_us"),
            1000.0,
            " µs",
        ),
    ]
}

/// A number with as many digits as are worth reading.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        let rounded = v.round() as i64;
        // Thousands separated by a thin space-free comma for readability of large rates.
        let digits = rounded.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if rounded < 0 {
            out.insert(0, '-');
        }
        out
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// The few numbers of a result worth a progress line.
pub fn one_line(metrics: &[Metric]) -> String {
    metrics
        .iter()
        .filter(|m| {
            !matches!(
                m.key.as_str(),
                "messages" | "seconds" | "cpu_seconds" | "latency_samples"
            )
        })
        .map(|m| format!("{} {}", m.label, number(m.value)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn limits_rows(l: &Limits) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        (
            "loopback TCP, one connection",
            format!("{} MB/s", number(l.loopback_mb_s)),
        ),
        (
            "disk data directory, sequential buffered write",
            format!("{} MB/s", number(l.disk_buffered_write_mb_s)),
        ),
        (
            "disk data directory, sequential write + fsync",
            format!("{} MB/s", number(l.disk_durable_write_mb_s)),
        ),
    ];
    if let Some(f) = &l.fsync {
        rows.push((
            "disk data directory, 4 KiB append + fdatasync",
            format!(
                "p50 {} µs, p99 {} µs ({} samples)",
                number(f.p50),
                number(f.p99),
                f.count
            ),
        ));
    }
    if let Some(t) = l.tmpfs_write_mb_s {
        rows.push(("tmpfs, sequential write", format!("{} MB/s", number(t))));
    }
    rows.push((
        "memcpy (64 MiB buffers)",
        format!("{} MB/s", number(l.memcpy_mb_s)),
    ));
    rows.push((
        "CRC-32C (crc32c crate)",
        format!("{} MB/s", number(l.crc32c_mb_s)),
    ));
    rows.push((
        "produce floor: 2 copies + 1 CRC",
        format!("{} CPU-s per GB", number(l.produce_floor_cpu_s_per_gb())),
    ));
    rows
}

pub fn markdown(ctx: &Context, limits: &Limits, reports: &[ScenarioReport]) -> String {
    let mut out = String::from("# Broker benchmark\n\n");
    let _ =
        writeln!(
        out,
        "Written by `cargo xtask {}`{}. Load generator: `rdkafka_performance` (librdkafka 2.12.1, \
         from the `rdkafka-sys` crate), `linger.ms=5` and `batch.size=1000000` unless said \
         otherwise. Every scenario starts a fresh broker; CPU is the broker's utime+stime from \
         `/proc` over the measured run (all processes of a peer), peak RSS its VmHWM. Memory log \
         directory: {}; disk data directory: `{}`.\n",
        ctx.command,
        if ctx.quick { " (quick: small sizes, noisy)" } else { "" },
        ctx.memory_dir,
        ctx.disk_dir,
    );
    if let Some(peer) = &ctx.peer {
        let _ = writeln!(out, "Peer: `{peer}`.\n");
    }
    out.push_str("## Machine limits (measured in this run)\n\n| limit | value |\n| --- | --- |\n");
    for (k, v) in limits_rows(limits) {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    out.push_str("\n## Summary\n\n");
    let has_peer = ctx.peer.is_some();
    if has_peer {
        out.push_str("| scenario | msgs/s | MB/s | CPU-s per GB | peak RSS (MiB) | peer MB/s | peer CPU-s per GB |\n");
        out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    } else {
        out.push_str("| scenario | msgs/s | MB/s | CPU-s per GB | peak RSS (MiB) |\n");
        out.push_str("| --- | ---: | ---: | ---: | ---: |\n");
    }
    for r in reports {
        let cell = |target: &str, key: &str| {
            value(reports, &r.name, target, key).map_or("-".to_string(), number)
        };
        if value(reports, &r.name, "broker", "mb_per_s").is_none()
            && value(reports, &r.name, "peer", "mb_per_s").is_none()
        {
            continue;
        }
        let _ = write!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            r.name,
            cell("broker", "msgs_per_s"),
            cell("broker", "mb_per_s"),
            cell("broker", "cpu_s_per_gb"),
            cell("broker", "peak_rss_mib"),
        );
        if has_peer {
            let _ = write!(
                out,
                " {} | {} |",
                cell("peer", "mb_per_s"),
                cell("peer", "cpu_s_per_gb")
            );
        }
        out.push('\n');
    }
    out.push_str("\n## Goals of issue 13\n\n| goal | measured | target | met |\n| --- | ---: | --- | --- |\n");
    for g in goals(reports, limits) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            g.what,
            g.measured.map_or("-".to_string(), number),
            g.target,
            match g.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not measured",
            }
        );
    }
    for r in reports {
        let _ = writeln!(out, "\n## `{}`\n\n{}.\n", r.name, r.description);
        for o in &r.outcomes {
            if let Err(e) = &o.result {
                let _ = writeln!(
                    out,
                    "- {}: **failed**: {}\n",
                    o.target,
                    e.replace('\n', " ")
                );
            }
        }
        let ours = r.outcomes.first().and_then(|o| o.result.as_ref().ok());
        let peer = r.outcomes.get(1);
        let Some(rows) = ours.or_else(|| peer.and_then(|p| p.result.as_ref().ok())) else {
            continue;
        };
        let peer_metrics = peer.and_then(|p| p.result.as_ref().ok());
        if peer.is_some() {
            out.push_str("| metric | broker | peer | broker ÷ peer | broker vs the machine |\n");
            out.push_str("| --- | ---: | ---: | ---: | --- |\n");
        } else {
            out.push_str("| metric | broker | broker vs the machine |\n| --- | ---: | --- |\n");
        }
        for m in rows {
            let mine = ours.and_then(|v| v.iter().find(|x| x.key == m.key));
            let theirs = peer_metrics.and_then(|v| v.iter().find(|x| x.key == m.key));
            let cell = |x: Option<&Metric>| x.map_or("-".to_string(), |x| number(x.value));
            let vs = mine
                .and_then(|x| x.vs_machine.as_ref())
                .map_or(String::new(), |(ratio, what)| {
                    format!("{} {what}", number(*ratio))
                });
            if peer.is_some() {
                let ratio = match (mine, theirs) {
                    (Some(a), Some(b)) if b.value != 0.0 => number(a.value / b.value),
                    _ => "-".into(),
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {ratio} | {vs} |",
                    m.label,
                    cell(mine),
                    cell(theirs)
                );
            } else {
                let _ = writeln!(out, "| {} | {} | {vs} |", m.label, cell(mine));
            }
        }
    }
    out
}

fn limits_json(l: &Limits) -> Value {
    json!({
        "loopback_mb_s": l.loopback_mb_s,
        "disk_buffered_write_mb_s": l.disk_buffered_write_mb_s,
        "disk_durable_write_mb_s": l.disk_durable_write_mb_s,
        "fsync_us": l.fsync.map(|f| json!({"count": f.count, "p50": f.p50, "p99": f.p99, "p999": f.p999})),
        "tmpfs_write_mb_s": l.tmpfs_write_mb_s,
        "memcpy_mb_s": l.memcpy_mb_s,
        "crc32c_mb_s": l.crc32c_mb_s,
        "produce_floor_cpu_s_per_gb": l.produce_floor_cpu_s_per_gb(),
    })
}

pub fn json(ctx: &Context, limits: &Limits, reports: &[ScenarioReport]) -> Value {
    let scenarios: Vec<Value> = reports
        .iter()
        .map(|r| {
            let mut results = serde_json::Map::new();
            for o in &r.outcomes {
                let v = match &o.result {
                    Ok(metrics) => {
                        let mut m = serde_json::Map::new();
                        for x in metrics {
                            m.insert(x.key.clone(), json!(x.value));
                            if let Some((ratio, _)) = &x.vs_machine {
                                m.insert(format!("{}_vs_machine", x.key), json!(ratio));
                            }
                        }
                        Value::Object(m)
                    }
                    Err(e) => json!({ "error": e }),
                };
                results.insert(o.target.clone(), v);
            }
            json!({ "name": r.name, "description": r.description, "results": results })
        })
        .collect();
    json!({
        "command": ctx.command,
        "quick": ctx.quick,
        "peer": ctx.peer,
        "memory_dir": ctx.memory_dir,
        "disk_dir": ctx.disk_dir,
        "machine": limits_json(limits),
        "goals": goals(reports, limits)
            .into_iter()
            .map(|g| json!({ "goal": g.what, "measured": g.measured, "target": g.target, "met": g.met }))
            .collect::<Vec<_>>(),
        "scenarios": scenarios,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            loopback_mb_s: 4000.0,
            disk_buffered_write_mb_s: 1500.0,
            disk_durable_write_mb_s: 500.0,
            fsync: Some(Percentiles {
                count: 10,
                p50: 800.0,
                p99: 2000.0,
                p999: 2500.0,
            }),
            tmpfs_write_mb_s: Some(3000.0),
            memcpy_mb_s: 10_000.0,
            crc32c_mb_s: 20_000.0,
        }
    }

    fn summary() -> LoadSummary {
        LoadSummary {
            messages: 1_000_000,
            bytes: 1_024_000_000,
            elapsed_ms: 2000,
            failed: 0,
        }
    }

    fn ctx(peer: Option<&str>) -> Context {
        Context {
            quick: true,
            peer: peer.map(String::from),
            memory_dir: "tmpfs (/dev/shm)".into(),
            disk_dir: "target/bench/data".into(),
            command: "bench broker --quick".into(),
        }
    }

    #[test]
    fn throughput_metrics_and_their_fractions() {
        let mut m = throughput(&summary(), 0.512, 51_200, &limits());
        compare_mb_s(&mut m, 4000.0, "loopback TCP");
        let get = |k: &str| m.iter().find(|x| x.key == k).unwrap();
        assert_eq!(get("msgs_per_s").value, 500_000.0);
        assert_eq!(get("mb_per_s").value, 512.0);
        assert_eq!(get("mb_per_s").vs_machine.as_ref().unwrap().0, 0.128);
        assert!((get("cpu_s_per_gb").value - 0.5).abs() < 1e-9);
        assert!((get("cpu_s_per_gb").vs_machine.as_ref().unwrap().0 - 2.0).abs() < 1e-9);
        assert_eq!(get("peak_rss_mib").value, 50.0);
    }

    #[test]
    fn latency_rows_of_both_loads() {
        let p = Percentiles {
            count: 5,
            p50: 1.0,
            p99: 2.0,
            p999: 3.0,
        };
        let keys: Vec<String> = latency_metrics(&p, "_light")
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(
            keys,
            [
                "latency_p50_us_light",
                "latency_p99_us_light",
                "latency_p999_us_light",
                "latency_samples_light"
            ]
        );
        let labels: Vec<String> = latency_metrics(&p, "")
            .into_iter()
            .map(|m| m.label)
            .collect();
        assert_eq!(labels[2], "latency p99.9 (µs)");
        assert_eq!(
            latency_metrics(&p, "_light")[1].label,
            "latency p99 at 1000 msgs/s (µs)"
        );
    }

    #[test]
    fn numbers_are_rounded_for_reading() {
        assert_eq!(number(1_234_567.4), "1,234,567");
        assert_eq!(number(-1234.0), "-1,234");
        assert_eq!(number(512.0), "512");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(0.256), "0.26");
        assert_eq!(number(0.00123), "0.0012");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(f64::NAN), "-");
    }

    fn reports(with_peer: bool) -> Vec<ScenarioReport> {
        let mut ours = throughput(&summary(), 0.512, 51_200, &limits());
        compare_mb_s(&mut ours, 4000.0, "loopback TCP");
        let mut outcomes = vec![Outcome {
            target: "broker".into(),
            result: Ok(ours),
        }];
        if with_peer {
            let slower = LoadSummary {
                elapsed_ms: 4000,
                ..summary()
            };
            outcomes.push(Outcome {
                target: "peer".into(),
                result: Ok(throughput(&slower, 1.024, 102_400, &limits())),
            });
        }
        vec![
            ScenarioReport {
                name: "produce-1k".into(),
                description: "produce 1 KiB records".into(),
                outcomes,
            },
            ScenarioReport {
                name: "idle-10k".into(),
                description: "idle connections".into(),
                outcomes: vec![Outcome {
                    target: "broker".into(),
                    result: Err("the broker exited\nbadly".into()),
                }],
            },
        ]
    }

    #[test]
    fn markdown_alone() {
        let md = markdown(&ctx(None), &limits(), &reports(false));
        assert!(md.starts_with("# Broker benchmark\n"));
        assert!(md.contains("`cargo xtask bench broker --quick` (quick"));
        assert!(md.contains("| loopback TCP, one connection | 4,000 MB/s |"));
        assert!(md.contains("| produce floor: 2 copies + 1 CRC | 0.25 CPU-s per GB |"));
        assert!(md.contains("## `produce-1k`\n\nproduce 1 KiB records.\n"));
        assert!(md.contains("| metric | broker | broker vs the machine |"));
        assert!(
            md.contains("| MB/s | 512 | 0.13 of loopback TCP (4000 MB/s) |"),
            "{md}"
        );
        assert!(md.contains("| broker CPU-s per GB | 0.50 | 2.00 × the produce floor"));
        assert!(md.contains("- broker: **failed**: the broker exited badly"));
        assert!(!md.contains("Peer:"));
    }

    #[test]
    fn markdown_side_by_side() {
        let md = markdown(&ctx(Some("tansu broker")), &limits(), &reports(true));
        assert!(md.contains("Peer: `tansu broker`."));
        assert!(md.contains("| metric | broker | peer | broker ÷ peer | broker vs the machine |"));
        assert!(
            md.contains("| MB/s | 512 | 256 | 2.00 | 0.13 of loopback TCP"),
            "{md}"
        );
        assert!(
            md.contains("| broker CPU-s per GB | 0.50 | 1.00 | 0.50 |"),
            "{md}"
        );
    }

    #[test]
    fn goals_are_checked_where_their_scenarios_ran() {
        let mut reports = reports(true);
        reports[0].name = "produce-1k-acksall-p1-x1".into();
        let g = goals(&reports, &limits());
        assert_eq!(g.len(), 8);
        // 0.5 CPU-s per GB against a goal of 0.3.
        assert_eq!((g[0].measured, g[0].met), (Some(0.5), Some(false)));
        assert_eq!(g[0].target, "≤ 0.30");
        assert_eq!(g[1].target, "≥ 1.50×");
        // Twice the peer's throughput against 1.5.
        assert_eq!((g[1].measured, g[1].met), (Some(2.0), Some(true)));
        assert_eq!((g[3].measured, g[3].met), (None, None));
        let md = markdown(&ctx(Some("p")), &limits(), &reports);
        assert!(
            md.contains(
                "| produce 1 KiB, acks=all, tmpfs: broker CPU-s per GB | 0.50 | ≤ 0.30 | **no** |"
            ),
            "{md}"
        );
        assert!(md.contains("| consume 1 KiB from the page cache: broker CPU-s per GB | - | ≤ 0.10 | not measured |"));
        assert!(
            md.contains(
                "| `produce-1k-acksall-p1-x1` | 500,000 | 512 | 0.50 | 50.0 | 256 | 1.00 |"
            ),
            "{md}"
        );
        assert!(!md.contains("| `idle-10k` |"));
        let v = json(&ctx(None), &limits(), &reports);
        assert_eq!(v["goals"][1]["met"], true);
        assert_eq!(v["goals"][3]["measured"], Value::Null);
    }

    #[test]
    fn json_keeps_every_number_and_error() {
        let v = json(&ctx(Some("peer-cmd")), &limits(), &reports(true));
        assert_eq!(v["quick"], true);
        assert_eq!(v["peer"], "peer-cmd");
        assert_eq!(v["machine"]["loopback_mb_s"], 4000.0);
        assert_eq!(v["machine"]["fsync_us"]["p99"], 2000.0);
        let s = &v["scenarios"][0];
        assert_eq!(s["name"], "produce-1k");
        assert_eq!(s["results"]["broker"]["mb_per_s"], 512.0);
        assert_eq!(s["results"]["broker"]["mb_per_s_vs_machine"], 0.128);
        assert_eq!(s["results"]["peer"]["mb_per_s"], 256.0);
        assert_eq!(
            v["scenarios"][1]["results"]["broker"]["error"],
            "the broker exited\nbadly"
        );
    }
}
