//! `cargo xtask bench broker`: the broker side by side with this machine's limits, and with a peer
//! broker when one is given (`--peer CMD`).
//!
//! Builds the release broker and `rdkafka_performance` (see [`loadgen`]), measures the machine
//! ([`machine`]), then runs each scenario against a fresh broker: messages/s, MB/s, broker
//! CPU-seconds per GB (utime+stime of its processes from `/proc`), peak RSS (VmHWM) and, for the
//! latency scenario, p50/p99/p99.9. Writes `target/bench/broker.md` and `target/bench/broker.json`.
//! Too slow and noisy for CI: run it by hand.

mod loadgen;
mod machine;
mod parse;
mod report;
mod target;

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kafka_client::admin::{Admin, NewTopic};
use kafka_client::config::Properties;
use kafka_client::producer::{Producer, ProducerRecord};

use machine::Limits;
use parse::LoadSummary;
use report::{Metric, Outcome, ScenarioReport};
use target::{Running, Target, Usage};

const KIB: usize = 1024;

/// The rate of the latency scenario's light-load run, messages per second.
const LIGHT_RATE: u64 = 1000;

/// The command-line options of `cargo xtask bench broker`.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Small sizes and short runs (a few minutes in all); the numbers are noisier.
    #[arg(long)]
    pub quick: bool,
    /// Also run every scenario against a broker started with `sh -c CMD`. It is given
    /// BENCH_PORT (the PLAINTEXT port on 127.0.0.1 to listen on), BENCH_DATA_DIR (an empty
    /// folder for its data) and BENCH_FLUSH_EVERY_MESSAGE (1 when the scenario wants an fsync
    /// before every acknowledgement).
    #[arg(long, value_name = "CMD")]
    pub peer: Option<String>,
    /// Run only these scenarios (a name, or the start of names: `produce` selects every produce
    /// scenario). Repeatable. Default: all.
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,
    /// Gigabytes written by the sustained produce to disk (default 20, 1 with --quick).
    #[arg(long, value_name = "GB")]
    pub sustained_gb: Option<f64>,
}

/// What a scenario does.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Produce {
        size: usize,
        acks: i32,
        partitions: i32,
        producers: u32,
        /// `log.flush.interval.messages=1`.
        flush: bool,
        /// The log on the disk data directory rather than tmpfs.
        disk: bool,
        bytes: u64,
    },
    /// Produce unmeasured, then consume it all from the page cache.
    Consume { size: usize, bytes: u64 },
    /// The peak rate, then latencies at half of it.
    Latency { size: usize, seconds: u64 },
    /// Connections that only stay open.
    Idle { connections: usize, seconds: u64 },
    /// Exec to listening, and to the first produce answered, `runs` times.
    ColdStart { runs: usize },
}

#[derive(Debug, Clone, PartialEq)]
struct Scenario {
    name: String,
    description: String,
    kind: Kind,
}

fn size_name(size: usize) -> String {
    if size % KIB == 0 {
        format!("{}k", size / KIB)
    } else {
        format!("{size}b")
    }
}

/// Every scenario, in the order they run.
fn scenarios(quick: bool, sustained_gb: f64) -> Vec<Scenario> {
    let produce_bytes: u64 = if quick { 300_000_000 } else { 3_000_000_000 };
    let mut out = Vec::new();
    for size in [100, KIB] {
        for acks in [1, -1] {
            for partitions in [1, 16] {
                for producers in [1, 8] {
                    let acks_name = if acks == 1 { "acks1" } else { "acksall" };
                    out.push(Scenario {
                        name: format!(
                            "produce-{}-{acks_name}-p{partitions}-x{producers}",
                            size_name(size)
                        ),
                        description: format!(
                            "produce {size} B records, acks={}, {partitions} partition(s), \
                             {producers} producer(s), log on tmpfs",
                            if acks == 1 { "1" } else { "all" }
                        ),
                        kind: Kind::Produce {
                            size,
                            acks,
                            partitions,
                            producers,
                            flush: false,
                            disk: false,
                            bytes: produce_bytes,
                        },
                    });
                }
            }
        }
    }
    for (flush, name) in [
        (false, "produce-1k-acksall-p1-x8-disk"),
        (true, "flush-1k-acksall-p1-x8"),
    ] {
        out.push(Scenario {
            name: name.into(),
            description: format!(
                "produce 1 KiB records, acks=all, 8 producers, log on the disk{}",
                if flush {
                    ", log.flush.interval.messages=1 (fsync before every acknowledgement)"
                } else {
                    " (the baseline of the flush scenario)"
                }
            ),
            kind: Kind::Produce {
                size: KIB,
                acks: -1,
                partitions: 1,
                producers: 8,
                flush,
                disk: true,
                bytes: produce_bytes / 2,
            },
        });
    }
    out.push(Scenario {
        name: "consume-1k".into(),
        description: "consume 1 KiB records of one partition from the page cache (tmpfs)".into(),
        kind: Kind::Consume {
            size: KIB,
            bytes: produce_bytes * 2,
        },
    });
    out.push(Scenario {
        name: "latency-1k".into(),
        description: "produce 1 KiB records, acks=all, linger.ms=0, at 50 % of the peak rate \
                      measured just before; latency from send to acknowledgement"
            .into(),
        kind: Kind::Latency {
            size: KIB,
            seconds: if quick { 5 } else { 30 },
        },
    });
    out.push(Scenario {
        name: "sustained-disk".into(),
        description: format!(
            "produce {sustained_gb} GB of 1 KiB records, acks=1, to the disk data directory"
        ),
        kind: Kind::Produce {
            size: KIB,
            acks: 1,
            partitions: 1,
            producers: 1,
            flush: false,
            disk: true,
            bytes: (sustained_gb * 1e9) as u64,
        },
    });
    out.push(Scenario {
        name: "idle-10k".into(),
        description: "10,000 connections opened and left idle: memory and CPU while idle".into(),
        kind: Kind::Idle {
            connections: 10_000,
            seconds: if quick { 5 } else { 30 },
        },
    });
    out.push(Scenario {
        name: "cold-start".into(),
        description: "exec to the listening line (a peer: to its port accepting), and to the \
                      first produce answered (a new topic, acks=all)"
            .into(),
        kind: Kind::ColdStart {
            runs: if quick { 3 } else { 10 },
        },
    });
    out
}

/// The scenarios `wanted` names (exactly or by prefix); all when empty.
fn select(all: Vec<Scenario>, wanted: &[String]) -> Result<Vec<Scenario>, String> {
    if wanted.is_empty() {
        return Ok(all);
    }
    for w in wanted {
        if !all.iter().any(|s| s.name.starts_with(w.as_str())) {
            let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
            return Err(format!(
                "no scenario is named {w:?}; they are: {}",
                names.join(", ")
            ));
        }
    }
    Ok(all
        .into_iter()
        .filter(|s| wanted.iter().any(|w| s.name.starts_with(w.as_str())))
        .collect())
}

/// Where a scenario's broker keeps its log.
struct Dirs {
    bench: PathBuf,
    /// On tmpfs when the machine has /dev/shm, else under target/.
    memory: PathBuf,
    memory_is_tmpfs: bool,
    disk: PathBuf,
}

fn dirs(target: &Path) -> Dirs {
    let bench = target.join("bench");
    let disk = bench.join("data");
    let shm = Path::new("/dev/shm");
    let memory = shm.join(format!("kafka-bench-{}", std::process::id()));
    let memory_is_tmpfs = shm.is_dir() && fs::create_dir_all(&memory).is_ok();
    Dirs {
        memory: if memory_is_tmpfs {
            memory
        } else {
            disk.join("memory")
        },
        memory_is_tmpfs,
        disk,
        bench,
    }
}

pub fn run(root: &Path, options: Options) -> Result<(), String> {
    let sustained_gb = options
        .sustained_gb
        .unwrap_or(if options.quick { 1.0 } else { 20.0 });
    if !(sustained_gb > 0.0 && sustained_gb <= 1000.0) {
        return Err(format!(
            "--sustained-gb {sustained_gb} is outside (0, 1000]"
        ));
    }
    let selected = select(scenarios(options.quick, sustained_gb), &options.scenarios)?;
    let target_dir = crate::release::target_directory(root)?;
    let dirs = dirs(&target_dir);
    fs::create_dir_all(&dirs.disk).map_err(|e| format!("creating {}: {e}", dirs.disk.display()))?;
    let result = run_in(root, &options, &selected, &dirs, &target_dir);
    if dirs.memory_is_tmpfs {
        let _ = fs::remove_dir_all(&dirs.memory);
    }
    result
}

fn run_in(
    root: &Path,
    options: &Options,
    selected: &[Scenario],
    dirs: &Dirs,
    target_dir: &Path,
) -> Result<(), String> {
    let broker = build_broker(root, target_dir)?;
    let generator = loadgen::build(&dirs.bench)?;
    let limits = machine::measure(
        machine::Sizes::new(options.quick),
        &dirs.disk,
        dirs.memory_is_tmpfs.then_some(dirs.memory.as_path()),
    )?;
    let mut targets = vec![Target::Ours { binary: broker }];
    if let Some(command) = &options.peer {
        targets.push(Target::Peer {
            command: command.clone(),
        });
    }
    let bench = Bench {
        generator,
        limits: limits.clone(),
        dirs,
        ticks_per_second: target::clock_ticks_per_second() as f64,
    };
    let mut reports = Vec::new();
    for scenario in selected {
        eprintln!("==> {}: {}", scenario.name, scenario.description);
        let mut outcomes = Vec::new();
        for t in &targets {
            let result = bench.scenario(t, scenario);
            match &result {
                Ok(metrics) => eprintln!("    {}: {}", t.name(), report::one_line(metrics)),
                Err(e) => eprintln!("    {}: FAILED: {e}", t.name()),
            }
            outcomes.push(Outcome {
                target: t.name().to_string(),
                result,
            });
        }
        reports.push(ScenarioReport {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
            outcomes,
        });
    }
    let context = report::Context {
        quick: options.quick,
        peer: options.peer.clone(),
        memory_dir: if dirs.memory_is_tmpfs {
            "tmpfs (/dev/shm)".into()
        } else {
            dirs.memory.display().to_string()
        },
        disk_dir: dirs.disk.display().to_string(),
        command: std::env::args().skip(1).collect::<Vec<_>>().join(" "),
    };
    let md = report::markdown(&context, &limits, &reports);
    let json = report::json(&context, &limits, &reports);
    let md_path = dirs.bench.join("broker.md");
    let json_path = dirs.bench.join("broker.json");
    fs::write(&md_path, md).map_err(|e| format!("writing {}: {e}", md_path.display()))?;
    fs::write(&json_path, format!("{json:#}\n"))
        .map_err(|e| format!("writing {}: {e}", json_path.display()))?;
    eprintln!("wrote {} and {}", md_path.display(), json_path.display());
    let failed = reports
        .iter()
        .flat_map(|r| &r.outcomes)
        .filter(|o| o.result.is_err())
        .count();
    if failed > 0 {
        Err(format!("{failed} scenario run(s) failed; see the report"))
    } else {
        Ok(())
    }
}

fn build_broker(root: &Path, target_dir: &Path) -> Result<PathBuf, String> {
    eprintln!("==> cargo build --release -p broker");
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "-p", "broker"])
            .current_dir(root)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building the release broker failed".into());
    }
    Ok(target_dir.join("release").join("broker"))
}

struct Bench<'a> {
    generator: PathBuf,
    limits: Limits,
    dirs: &'a Dirs,
    ticks_per_second: f64,
}

/// A broker started for one scenario: stopped and its data removed when dropped out of scope
/// through [`Session::end`].
struct Session {
    running: Option<Running>,
    data: PathBuf,
}

impl Session {
    fn running(&self) -> &Running {
        self.running.as_ref().expect("running until ended")
    }

    fn end(mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
        }
        let _ = fs::remove_dir_all(&self.data);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop();
            let _ = fs::remove_dir_all(&self.data);
        }
    }
}

impl Bench<'_> {
    fn start(&self, t: &Target, name: &str, disk: bool, flush: bool) -> Result<Session, String> {
        let base = if disk {
            &self.dirs.disk
        } else {
            &self.dirs.memory
        };
        let data = base.join(format!("{}-{name}", t.name()));
        let mut overrides = vec![
            ("num.network.threads", "2".to_string()),
            ("num.io.threads", "2".to_string()),
        ];
        if flush {
            overrides.push(("log.flush.interval.messages", "1".to_string()));
        }
        let log = self.dirs.bench.join(format!("{}-{name}.log", t.name()));
        let _ = fs::remove_file(&log);
        let running = t.start(&data, &overrides, &log)?;
        Ok(Session {
            running: Some(running),
            data,
        })
    }

    fn scenario(&self, t: &Target, s: &Scenario) -> Result<Vec<Metric>, String> {
        match s.kind {
            Kind::Produce {
                size,
                acks,
                partitions,
                producers,
                flush,
                disk,
                bytes,
            } => {
                let session = self.start(t, &s.name, disk, flush)?;
                let count = (bytes / size as u64).max(u64::from(producers));
                let metrics = self.produce(
                    session.running(),
                    &s.name,
                    size,
                    acks,
                    partitions,
                    producers,
                    count,
                    disk,
                    flush,
                );
                session.end();
                metrics
            }
            Kind::Consume { size, bytes } => {
                let session = self.start(t, &s.name, false, false)?;
                let metrics = self.consume(session.running(), size, bytes / size as u64);
                session.end();
                metrics
            }
            Kind::Latency { size, seconds } => {
                let session = self.start(t, &s.name, false, false)?;
                let metrics = self.latency(session.running(), &s.name, size, seconds);
                session.end();
                metrics
            }
            Kind::Idle {
                connections,
                seconds,
            } => {
                let session = self.start(t, &s.name, false, false)?;
                let metrics = self.idle(session.running(), connections, seconds);
                session.end();
                metrics
            }
            Kind::ColdStart { runs } => self.cold_start(t, &s.name, runs),
        }
    }

    fn cpu_seconds(&self, before: Usage, after: Usage) -> f64 {
        after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / self.ticks_per_second
    }

    /// Runs `runs` side by side and returns their combined summary.
    fn load(&self, runs: &[loadgen::Run]) -> Result<LoadSummary, String> {
        let children = runs
            .iter()
            .map(|r| r.spawn(&self.generator))
            .collect::<Result<Vec<_>, _>>()?;
        let mut summaries = Vec::new();
        let mut first_error = None;
        for child in children {
            match loadgen::finish(child) {
                Ok(out) => match parse::load_summary(&out) {
                    Some(s) => summaries.push(s),
                    None => {
                        first_error.get_or_insert_with(|| {
                            "rdkafka_performance printed no summary".to_string()
                        });
                    }
                },
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let total = parse::combine(&summaries).ok_or("no load generator ran")?;
        if total.failed > 0 {
            return Err(format!("{} messages failed delivery", total.failed));
        }
        Ok(total)
    }

    fn producer_run(
        &self,
        r: &Running,
        topic: &str,
        size: usize,
        acks: i32,
        count: u64,
    ) -> loadgen::Run {
        loadgen::Run {
            produce: true,
            bootstrap: r.bootstrap(),
            topic: topic.to_string(),
            size,
            count,
            acks,
            rate: None,
            latency_file: None,
            linger_ms: 5,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn produce(
        &self,
        r: &Running,
        topic: &str,
        size: usize,
        acks: i32,
        partitions: i32,
        producers: u32,
        count: u64,
        disk: bool,
        flush: bool,
    ) -> Result<Vec<Metric>, String> {
        create_topic(r, topic, partitions)?;
        let per_producer = count / u64::from(producers);
        let runs: Vec<loadgen::Run> = (0..producers)
            .map(|_| self.producer_run(r, topic, size, acks, per_producer))
            .collect();
        let before = r.usage();
        let summary = self.load(&runs)?;
        let after = r.usage();
        let cpu = self.cpu_seconds(before, after);
        let mut metrics = report::throughput(&summary, cpu, after.peak_rss_kib, &self.limits);
        let (limit, what) = if flush {
            (
                self.limits.disk_durable_write_mb_s,
                "the disk's durable write rate",
            )
        } else if disk {
            (
                self.limits.disk_buffered_write_mb_s,
                "the disk's buffered write rate",
            )
        } else {
            (self.limits.loopback_mb_s, "loopback TCP")
        };
        report::compare_mb_s(&mut metrics, limit, what);
        Ok(metrics)
    }

    fn consume(&self, r: &Running, size: usize, count: u64) -> Result<Vec<Metric>, String> {
        let topic = "consume";
        create_topic(r, topic, 1)?;
        self.load(&[self.producer_run(r, topic, size, 1, count)])?;
        let before = r.usage();
        let summary = self.load(&[loadgen::Run {
            produce: false,
            ..self.producer_run(r, topic, size, 1, count)
        }])?;
        let after = r.usage();
        let cpu = self.cpu_seconds(before, after);
        let mut metrics = report::throughput(&summary, cpu, after.peak_rss_kib, &self.limits);
        report::compare_mb_s(&mut metrics, self.limits.loopback_mb_s, "loopback TCP");
        Ok(metrics)
    }

    fn latency(
        &self,
        r: &Running,
        topic: &str,
        size: usize,
        seconds: u64,
    ) -> Result<Vec<Metric>, String> {
        create_topic(r, topic, 1)?;
        // The peak with the same settings (latency mode copies each payload and stamps it with
        // the time), over about a second's worth of records.
        let mut probe = self.producer_run(r, topic, size, -1, 200_000);
        probe.linger_ms = 0;
        probe.latency_file = Some(PathBuf::from("/dev/null"));
        let peak = self.load(&[probe.clone()])?;
        let peak_rate = peak.messages * 1000 / peak.elapsed_ms.max(1);
        let file = self.dirs.bench.join(format!("latency-{}.txt", r.port));
        // rdkafka_performance's rate limiter sleeps its interval after each message's own work,
        // so it falls short of the rate asked: the rate asked is raised until what it reaches is
        // within 10 % of the target. (Above 10^6/s its interval rounds to 0: no limit at all.)
        let target = (peak_rate / 2).max(1);
        let mut asked = target;
        let mut tries = 0;
        let (summary, latency, before, after) = loop {
            tries += 1;
            let _ = fs::remove_file(&file);
            let run = loadgen::Run {
                count: target * seconds,
                rate: Some(asked),
                latency_file: Some(file.clone()),
                ..probe.clone()
            };
            let before = r.usage();
            let summary = self.load(&[run])?;
            let after = r.usage();
            let samples = fs::read_to_string(&file)
                .map(|t| parse::latency_samples(&t))
                .unwrap_or_default();
            let _ = fs::remove_file(&file);
            let latency =
                parse::percentiles(samples).ok_or("rdkafka_performance wrote no latencies")?;
            let achieved = (summary.messages * 1000 / summary.elapsed_ms.max(1)).max(1);
            if achieved * 10 >= target * 9 || tries == 4 || asked >= 900_000 {
                break (summary, latency, before, after);
            }
            eprintln!("    {achieved} msgs/s with {asked} asked, {target} wanted: asking more");
            asked = (asked * target / achieved).clamp(asked + 1, 900_000);
        };
        let cpu = self.cpu_seconds(before, after);
        let mut metrics = report::throughput(&summary, cpu, after.peak_rss_kib, &self.limits);
        metrics.insert(
            0,
            Metric::plain(
                "peak_msgs_per_s",
                "peak msgs/s (linger.ms=0)",
                peak_rate as f64,
                "",
            ),
        );
        let achieved = summary.messages as f64 * 1000.0 / summary.elapsed_ms.max(1) as f64;
        metrics.insert(
            1,
            Metric::plain(
                "achieved_of_peak",
                "achieved rate ÷ peak (0.5 wanted)",
                achieved / peak_rate.max(1) as f64,
                "",
            ),
        );
        metrics.extend(report::latency_metrics(&latency, ""));
        // The same at a light load, where the broker's own latency shows without queueing.
        let light = loadgen::Run {
            count: LIGHT_RATE * seconds,
            rate: Some(LIGHT_RATE),
            latency_file: Some(file.clone()),
            ..probe
        };
        let _ = fs::remove_file(&file);
        self.load(&[light])?;
        let samples = fs::read_to_string(&file)
            .map(|t| parse::latency_samples(&t))
            .unwrap_or_default();
        let _ = fs::remove_file(&file);
        let light = parse::percentiles(samples).ok_or("rdkafka_performance wrote no latencies")?;
        metrics.extend(report::latency_metrics(&light, "_light"));
        Ok(metrics)
    }

    fn idle(&self, r: &Running, connections: usize, seconds: u64) -> Result<Vec<Metric>, String> {
        std::thread::sleep(Duration::from_millis(500));
        let before = r.usage();
        let addr = SocketAddr::from(([127, 0, 0, 1], r.port));
        let mut open = Vec::with_capacity(connections);
        let mut refused = 0usize;
        for _ in 0..connections {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Ok(s) => open.push(s),
                Err(_) => refused += 1,
            }
        }
        // Time for the broker to accept and register the last ones.
        std::thread::sleep(Duration::from_secs(2));
        let connected = r.usage();
        std::thread::sleep(Duration::from_secs(seconds));
        let after = r.usage();
        let opened = open.len();
        drop(open);
        let rss_growth = connected.rss_kib.saturating_sub(before.rss_kib) as f64;
        let idle_cpu = self.cpu_seconds(connected, after);
        Ok(vec![
            Metric::plain("connections", "connections open", opened as f64, ""),
            Metric::plain(
                "failed_connections",
                "connections that failed",
                refused as f64,
                "",
            ),
            Metric::plain(
                "rss_before_mib",
                "RSS before (MiB)",
                before.rss_kib as f64 / 1024.0,
                "MiB",
            )
            .lower(),
            Metric::plain(
                "rss_connected_mib",
                "RSS with the connections (MiB)",
                connected.rss_kib as f64 / 1024.0,
                "MiB",
            )
            .lower(),
            Metric::plain(
                "kib_per_connection",
                "RSS per connection (KiB)",
                rss_growth / opened.max(1) as f64,
                "KiB",
            )
            .lower(),
            Metric::plain(
                "idle_cpu_percent",
                &format!("CPU while idle, {seconds} s (% of a core)"),
                100.0 * idle_cpu / seconds.max(1) as f64,
                "%",
            )
            .lower(),
            Metric::plain(
                "peak_rss_mib",
                "peak RSS (MiB)",
                after.peak_rss_kib as f64 / 1024.0,
                "MiB",
            )
            .lower(),
        ])
    }

    fn cold_start(&self, t: &Target, name: &str, runs: usize) -> Result<Vec<Metric>, String> {
        let mut listening = Vec::new();
        let mut first_produce = Vec::new();
        let mut rss = Vec::new();
        for i in 0..runs {
            let session = self.start(t, &format!("{name}-{i}"), false, false)?;
            let r = session.running();
            let answered = first_produce_answered(r);
            let usage = r.usage();
            let exec = r.exec;
            listening.push(r.listening_after.as_secs_f64() * 1000.0);
            session.end();
            first_produce.push(answered?.saturating_duration_since(exec).as_secs_f64() * 1000.0);
            rss.push(usage.peak_rss_kib as f64 / 1024.0);
        }
        first_produce.sort_by(f64::total_cmp);
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(0.0)
        };
        Ok(vec![
            Metric::plain(
                "listening_ms",
                &format!("exec to listening, median of {runs} (ms)"),
                median(&mut listening),
                "ms",
            )
            .lower(),
            Metric::plain(
                "first_produce_ms",
                &format!("exec to first produce answered, median of {runs} (ms)"),
                median(&mut first_produce),
                "ms",
            )
            .lower(),
            // The first produce waits on the client's retries when the broker has not finished
            // starting: the spread says how often that happened.
            Metric::plain(
                "first_produce_min_ms",
                "exec to first produce answered, fastest (ms)",
                first_produce.first().copied().unwrap_or(0.0),
                "ms",
            )
            .lower(),
            Metric::plain(
                "first_produce_max_ms",
                "exec to first produce answered, slowest (ms)",
                first_produce.last().copied().unwrap_or(0.0),
                "ms",
            )
            .lower(),
            Metric::plain(
                "peak_rss_mib",
                "peak RSS after the first produce (MiB)",
                median(&mut rss),
                "MiB",
            )
            .lower(),
        ])
    }
}

/// How long a just-started broker may take to accept a topic or a record (it may listen before
/// it has registered itself).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Creates `topic` with `partitions` partitions and one replica, retrying while the broker is not
/// ready yet.
fn create_topic(r: &Running, topic: &str, partitions: i32) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match try_create_topic(r, topic, partitions) {
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            other => return other,
        }
    }
}

fn try_create_topic(r: &Running, topic: &str, partitions: i32) -> Result<(), String> {
    let admin = Admin::new(&Properties::new().with("bootstrap.servers", r.bootstrap()))
        .map_err(|e| format!("admin client: {e}"))?;
    let result = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, 1)],
            false,
            Some(Duration::from_secs(10)),
        )
        .map_err(|e| format!("creating topic {topic}: {e}"));
    admin.close();
    for (name, r) in result? {
        match r {
            // An earlier try that timed out on our side may have created it.
            Err(e) if e.to_string().contains("TOPIC_ALREADY_EXISTS") => {}
            Err(e) => return Err(format!("creating topic {name}: {e}")),
            Ok(()) => {}
        }
    }
    Ok(())
}

/// When the first record sent to a new topic (auto-created) was acknowledged with acks=all. A
/// client that fails (the broker not ready yet) is replaced by a new one, as an application
/// would retry.
fn first_produce_answered(r: &Running) -> Result<Instant, String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match try_first_produce(r) {
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            other => return other,
        }
    }
}

fn try_first_produce(r: &Running) -> Result<Instant, String> {
    let props = Properties::new()
        .with("bootstrap.servers", r.bootstrap())
        .with("acks", "all")
        .with("enable.idempotence", "false")
        .with("linger.ms", "0")
        .with("retry.backoff.ms", "5")
        .with("reconnect.backoff.ms", "5");
    let producer = Producer::new(&props).map_err(|e| format!("producer: {e}"))?;
    let sent = producer
        .send(ProducerRecord::new("cold-start").value("first"))
        .map_err(|e| format!("sending the first record: {e}"))
        .and_then(|f| f.wait().map_err(|e| format!("the first record: {e}")));
    let at = Instant::now();
    producer.close();
    sent.map(|_| at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_of_the_issue_is_there_once() {
        let all = scenarios(true, 1.0);
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        // 2 sizes x 2 acks x 2 partition counts x 2 producer counts.
        assert_eq!(
            names
                .iter()
                .filter(|n| n.starts_with("produce-") && !n.ends_with("-disk"))
                .count(),
            16
        );
        for name in [
            "produce-100b-acks1-p1-x1",
            "produce-1k-acksall-p16-x8",
            "flush-1k-acksall-p1-x8",
            "consume-1k",
            "latency-1k",
            "sustained-disk",
            "idle-10k",
            "cold-start",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        let sustained = all.iter().find(|s| s.name == "sustained-disk").unwrap();
        assert!(matches!(
            sustained.kind,
            Kind::Produce {
                bytes: 1_000_000_000,
                disk: true,
                ..
            }
        ));
    }

    #[test]
    fn scenarios_are_selected_by_name_or_prefix() {
        let all = scenarios(true, 1.0);
        let picked = select(
            all.clone(),
            &["produce-1k-acks1".into(), "cold-start".into()],
        )
        .unwrap();
        let names: Vec<&str> = picked.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), 5);
        assert!(names.contains(&"cold-start"));
        assert_eq!(select(all.clone(), &[]).unwrap().len(), all.len());
        assert!(select(all, &["nope".into()])
            .unwrap_err()
            .contains("cold-start"));
    }
}
