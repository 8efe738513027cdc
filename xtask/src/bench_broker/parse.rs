//! The pure parts of the broker benchmark: reading `rdkafka_performance`'s summary lines,
//! `/proc/<pid>/stat` and `/proc/<pid>/status`, and latency percentiles.

/// What one `rdkafka_performance` run reported in its last summary line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadSummary {
    /// Messages delivered (producer) or consumed (consumer).
    pub messages: u64,
    /// Payload bytes delivered or consumed.
    pub bytes: u64,
    /// The run's own elapsed time, in milliseconds.
    pub elapsed_ms: u64,
    /// Messages that failed delivery (producer only).
    pub failed: u64,
}

/// The last summary line of `rdkafka_performance -P` or `-C` output. The tool prints the summary
/// at every display interval too; the last one is the final count.
///
/// Producer: `% 1000 messages produced (1024000 bytes), 1000 delivered (offset 999, 0 failed) in
/// 12ms: ...`. Consumer: `% 1000 messages (1024000 bytes) consumed in 12ms: ...`.
pub fn load_summary(output: &str) -> Option<LoadSummary> {
    output.lines().rev().find_map(summary_line)
}

fn summary_line(line: &str) -> Option<LoadSummary> {
    let rest = line.trim().strip_prefix("% ")?;
    if rest.contains(" messages produced (") {
        // The producer's bytes count what was handed to the client; the delivered count is what
        // the broker acknowledged, so bytes are scaled to it (all messages have one size).
        let (produced, rest) = number_before(rest, " messages produced (")?;
        let (bytes, rest) = number_before(rest, " bytes), ")?;
        let (delivered, rest) = number_before(rest, " delivered (offset ")?;
        let rest = rest.split_once(", ")?.1;
        let (failed, rest) = number_before(rest, " failed) in ")?;
        let (elapsed_ms, _) = number_before(rest, "ms")?;
        let bytes = bytes
            .checked_mul(delivered)?
            .checked_div(produced)
            .unwrap_or(0);
        Some(LoadSummary {
            messages: delivered,
            bytes,
            elapsed_ms,
            failed,
        })
    } else if rest.contains(" bytes) consumed in ") {
        let (messages, rest) = number_before(rest, " messages (")?;
        let (bytes, rest) = number_before(rest, " bytes) consumed in ")?;
        let (elapsed_ms, _) = number_before(rest, "ms")?;
        Some(LoadSummary {
            messages,
            bytes,
            elapsed_ms,
            failed: 0,
        })
    } else {
        None
    }
}

/// The unsigned number that `s` starts with, up to `sep`, and what follows `sep`.
fn number_before<'a>(s: &'a str, sep: &str) -> Option<(u64, &'a str)> {
    let (n, rest) = s.split_once(sep)?;
    Some((n.trim().parse().ok()?, rest))
}

/// Sums several producers' summaries: their counts add up, and the elapsed time is the longest
/// (they run side by side).
pub fn combine(summaries: &[LoadSummary]) -> Option<LoadSummary> {
    let first = summaries.first()?;
    Some(summaries[1..].iter().fold(*first, |acc, s| LoadSummary {
        messages: acc.messages + s.messages,
        bytes: acc.bytes + s.bytes,
        elapsed_ms: acc.elapsed_ms.max(s.elapsed_ms),
        failed: acc.failed + s.failed,
    }))
}

/// User plus system CPU time, in clock ticks, from the text of `/proc/<pid>/stat`. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = stat.rsplit_once(')')?.1;
    let mut fields = after.split_whitespace();
    // After the name: state(3) ppid(4) ... utime(14) stime(15); `nth` counts from field 3.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The parent pid from the text of `/proc/<pid>/stat`.
pub fn parent_pid(stat: &str) -> Option<u32> {
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A `kB` field of `/proc/<pid>/status` (`VmHWM`, `VmRSS`), in KiB.
pub fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// p50, p99 and p99.9 of a set of samples, in the samples' unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

/// Percentiles by the nearest-rank method (the smallest sample at or above the rank).
pub fn percentiles(mut samples: Vec<u64>) -> Option<Percentiles> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let rank = (q * samples.len() as f64).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1] as f64
    };
    Some(Percentiles {
        count: samples.len(),
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
    })
}

/// The latencies (microseconds, one per line) that `rdkafka_performance -l -A FILE` wrote.
/// Lines that are not numbers (a torn last line) are skipped.
pub fn latency_samples(text: &str) -> Vec<u64> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCER: &str = "\
% Sending 1000000 messages of size 1024 bytes
% 524288 messages produced (536870912 bytes), 520000 delivered (offset 519999, 0 failed) in 1000ms: 520000 msgs/s and 532.48 MB/s, 0 produce failures, 4288 in queue, no compression
% 1000000 messages produced (1024000000 bytes), 1000000 delivered (offset 999999, 2 failed) in 1530ms: 653594 msgs/s and 669.28 MB/s, 0 produce failures, 0 in queue, no compression
";

    #[test]
    fn the_last_producer_summary_wins() {
        assert_eq!(
            load_summary(PRODUCER),
            Some(LoadSummary {
                messages: 1_000_000,
                bytes: 1_024_000_000,
                elapsed_ms: 1530,
                failed: 2,
            })
        );
    }

    #[test]
    fn producer_bytes_follow_what_was_delivered() {
        let line = "% 100 messages produced (10000 bytes), 50 delivered (offset 49, 50 failed) \
                    in 10ms: 5000 msgs/s and 0.50 MB/s, 0 produce failures, 0 in queue, none";
        let s = load_summary(line).unwrap();
        assert_eq!((s.messages, s.bytes, s.failed), (50, 5000, 50));
    }

    #[test]
    fn consumer_summary_with_latency_suffix() {
        let out = "% 2000 messages (2048000 bytes) consumed in 40ms: 50000 msgs/s (51.20 MB/s), \
                   latency curr/avg/lo/hi 0.10/0.20/0.05/1.00ms\n";
        assert_eq!(
            load_summary(out),
            Some(LoadSummary {
                messages: 2000,
                bytes: 2_048_000,
                elapsed_ms: 40,
                failed: 0,
            })
        );
    }

    #[test]
    fn no_summary_in_other_output() {
        assert_eq!(
            load_summary("% Sending 10 messages of size 1 bytes\n"),
            None
        );
        assert_eq!(load_summary("% x messages produced (y bytes), ..."), None);
        assert_eq!(load_summary(""), None);
    }

    #[test]
    fn producers_side_by_side_add_up() {
        let a = LoadSummary {
            messages: 10,
            bytes: 100,
            elapsed_ms: 5,
            failed: 1,
        };
        let b = LoadSummary {
            messages: 20,
            bytes: 200,
            elapsed_ms: 7,
            failed: 0,
        };
        assert_eq!(
            combine(&[a, b]),
            Some(LoadSummary {
                messages: 30,
                bytes: 300,
                elapsed_ms: 7,
                failed: 1,
            })
        );
        assert_eq!(combine(&[]), None);
    }

    #[test]
    fn proc_stat_with_a_hostile_command_name() {
        let stat = "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 9 0 \
                    100 1000000 500 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(parent_pid(stat), Some(1));
        assert_eq!(cpu_ticks("garbage"), None);
        assert_eq!(cpu_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn proc_status_fields() {
        let status = "Name:\tbroker\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(51200));
        assert_eq!(status_kib(status, "VmRSS"), Some(40960));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let p = percentiles((1..=1000).collect()).unwrap();
        assert_eq!((p.count, p.p50, p.p99, p.p999), (1000, 500.0, 990.0, 999.0));
        let one = percentiles(vec![7]).unwrap();
        assert_eq!((one.p50, one.p99, one.p999), (7.0, 7.0, 7.0));
        assert_eq!(percentiles(Vec::new()), None);
    }

    #[test]
    fn latency_file_lines() {
        assert_eq!(latency_samples("12\n 30 \nx\n\n7"), vec![12, 30, 7]);
    }
}
