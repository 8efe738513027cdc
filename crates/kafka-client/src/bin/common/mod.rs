//! Pieces shared by the command-line tools: client properties from the command line and
//! files, logging set-up, latency percentiles and a throughput throttle (Kafka's
//! `ThroughputThrottler`).

#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use kafka_client::config::Properties;

/// Builds client properties: `--*.config` file first, then `key=value` overrides, then
/// `--bootstrap-server`.
pub fn properties(
    file: Option<&std::path::Path>,
    overrides: &[String],
    bootstrap: Option<&str>,
) -> Result<Properties, String> {
    let mut props = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Properties::parse(&text).map_err(|e| e.to_string())?
        }
        None => Properties::new(),
    };
    for kv in overrides {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got {kv}"))?;
        props.set(k.trim(), v.trim());
    }
    if let Some(b) = bootstrap {
        props.set("bootstrap.servers", b);
    }
    if props.get("bootstrap.servers").is_none() {
        return Err("bootstrap.servers is required (--bootstrap-server)".into());
    }
    Ok(props)
}

/// Logs to stderr at the level in `RUST_LOG` (default warn).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Latencies in microseconds, kept in full (one u32 per record, as Java samples them).
#[derive(Debug, Default)]
pub struct Latencies {
    samples: Vec<u32>,
    max_samples: usize,
    seen: u64,
    total_us: u128,
    max_us: u32,
}

impl Latencies {
    /// Keeps at most `max_samples` samples (every n-th record beyond that, as Java does).
    pub fn new(expected: u64, max_samples: usize) -> Self {
        Latencies {
            samples: Vec::with_capacity(
                max_samples.min(usize::try_from(expected).unwrap_or(max_samples)),
            ),
            max_samples,
            ..Latencies::default()
        }
    }

    pub fn record(&mut self, latency: Duration) {
        let us = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        self.seen += 1;
        self.total_us += u128::from(us);
        self.max_us = self.max_us.max(us);
        if self.samples.len() < self.max_samples {
            self.samples.push(us);
        } else {
            // Reservoir sampling keeps the percentiles unbiased past the cap.
            let r = (pseudo_random() % self.seen) as usize;
            if let Some(slot) = self.samples.get_mut(r) {
                *slot = us;
            }
        }
    }

    pub fn count(&self) -> u64 {
        self.seen
    }

    pub fn avg_ms(&self) -> f64 {
        if self.seen == 0 {
            return 0.0;
        }
        self.total_us as f64 / self.seen as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        f64::from(self.max_us) / 1000.0
    }

    /// The given percentiles (0-1) in ms.
    pub fn percentiles_ms(&mut self, ps: &[f64]) -> Vec<f64> {
        self.samples.sort_unstable();
        ps.iter()
            .map(|p| {
                if self.samples.is_empty() {
                    return 0.0;
                }
                let idx = ((self.samples.len() as f64 * p) as usize).min(self.samples.len() - 1);
                self.samples
                    .get(idx)
                    .map_or(0.0, |v| f64::from(*v) / 1000.0)
            })
            .collect()
    }
}

fn pseudo_random() -> u64 {
    use std::cell::Cell;
    thread_local!(static STATE: Cell<u64> = const { Cell::new(0x9e37_79b9_7f4a_7c15) });
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    })
}

/// Holds a loop to `target_per_sec` (negative: unlimited), Kafka's `ThroughputThrottler`.
#[derive(Debug)]
pub struct Throttler {
    target_per_sec: f64,
    start: Instant,
}

impl Throttler {
    pub fn new(target_per_sec: f64, start: Instant) -> Self {
        Throttler {
            target_per_sec,
            start,
        }
    }

    /// Sleeps if `sent` items since start are ahead of the target rate.
    pub fn throttle(&self, sent: u64) {
        if self.target_per_sec <= 0.0 {
            return;
        }
        let due = Duration::from_secs_f64(sent as f64 / self.target_per_sec);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}
