//! This machine's limits, measured in the same run as the broker so that each result can be read
//! as a fraction of what the hardware allows: loopback TCP bandwidth, sequential write bandwidth
//! and fsync latency of the data directory, memcpy and CRC-32C speed.

use std::fs::{self, File, OpenOptions};
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Instant;

use super::parse::{percentiles, Percentiles};

const MIB: usize = 1 << 20;

/// What [`measure`] found. Bandwidths are in MB/s (10^6 bytes per second, as
/// `rdkafka_performance` reports them).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub loopback_mb_s: f64,
    /// Sequential writes into the page cache of the disk data directory, without fsync.
    pub disk_buffered_write_mb_s: f64,
    /// The same writes followed by one fsync: what the device sustains.
    pub disk_durable_write_mb_s: f64,
    /// 4 KiB append plus `fdatasync`, on the disk data directory, in microseconds.
    pub fsync: Option<Percentiles>,
    /// Sequential writes into the tmpfs data directory, when there is one.
    pub tmpfs_write_mb_s: Option<f64>,
    pub memcpy_mb_s: f64,
    pub crc32c_mb_s: f64,
}

impl Limits {
    /// The CPU cost a produce cannot go below: the kernel copies the bytes out of the socket and
    /// into the page cache, and the broker checks the batch CRC once, in CPU-seconds per GB.
    pub fn produce_floor_cpu_s_per_gb(&self) -> f64 {
        2.0 * 1000.0 / self.memcpy_mb_s + 1000.0 / self.crc32c_mb_s
    }
}

/// How much each probe moves; `--quick` keeps each under a second or so.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub loopback_bytes: usize,
    pub write_bytes: usize,
    pub fsyncs: usize,
    pub memory_bytes: usize,
}

impl Sizes {
    pub fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                loopback_bytes: 2048 * MIB,
                write_bytes: 512 * MIB,
                fsyncs: 100,
                memory_bytes: 2048 * MIB,
            }
        } else {
            Sizes {
                loopback_bytes: 16384 * MIB,
                write_bytes: 4096 * MIB,
                fsyncs: 1000,
                memory_bytes: 16384 * MIB,
            }
        }
    }
}

pub fn measure(sizes: Sizes, disk_dir: &Path, tmpfs_dir: Option<&Path>) -> Result<Limits, String> {
    eprintln!("==> machine limits");
    let loopback_mb_s = loopback(sizes.loopback_bytes)?;
    let (disk_buffered_write_mb_s, disk_durable_write_mb_s) =
        sequential_write(disk_dir, sizes.write_bytes)?;
    let fsync = fsync_latency(disk_dir, sizes.fsyncs)?;
    let tmpfs_write_mb_s = match tmpfs_dir {
        Some(dir) => Some(sequential_write(dir, sizes.write_bytes)?.0),
        None => None,
    };
    let limits = Limits {
        loopback_mb_s,
        disk_buffered_write_mb_s,
        disk_durable_write_mb_s,
        fsync,
        tmpfs_write_mb_s,
        memcpy_mb_s: memcpy(sizes.memory_bytes),
        crc32c_mb_s: crc32c(sizes.memory_bytes),
    };
    eprintln!("    {limits:?}");
    Ok(limits)
}

fn mb_per_s(bytes: usize, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds.max(1e-9)
}

/// One sender thread writing 1 MiB buffers to a receiver over 127.0.0.1.
fn loopback(bytes: usize) -> Result<f64, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("loopback listener: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("loopback address: {e}"))?;
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        let mut stream = TcpStream::connect(addr)?;
        let buf = vec![0x5au8; MIB];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(buf.len());
            stream.write_all(&buf[..n])?;
            left -= n;
        }
        Ok(())
    });
    let (mut stream, _) = listener
        .accept()
        .map_err(|e| format!("loopback accept: {e}"))?;
    let mut buf = vec![0u8; MIB];
    let start = Instant::now();
    let mut got = 0;
    while got < bytes {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(format!("loopback read: {e}")),
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    sender
        .join()
        .map_err(|_| "loopback sender panicked".to_string())?
        .map_err(|e| format!("loopback send: {e}"))?;
    Ok(mb_per_s(got, seconds))
}

/// Writes `bytes` in 1 MiB chunks to a new file in `dir`: the rate of the writes alone
/// (buffered), and of the writes plus an fsync (durable). The file is removed.
fn sequential_write(dir: &Path, bytes: usize) -> Result<(f64, f64), String> {
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let path = dir.join("bench-write-probe");
    let result = (|| {
        let mut file = File::create(&path)?;
        let buf = vec![0xa5u8; MIB];
        let start = Instant::now();
        let mut left = bytes;
        while left > 0 {
            let n = left.min(buf.len());
            file.write_all(&buf[..n])?;
            left -= n;
        }
        let buffered = start.elapsed().as_secs_f64();
        file.sync_all()?;
        let durable = start.elapsed().as_secs_f64();
        Ok::<_, std::io::Error>((mb_per_s(bytes, buffered), mb_per_s(bytes, durable)))
    })();
    let _ = fs::remove_file(&path);
    result.map_err(|e| format!("writing {}: {e}", path.display()))
}

/// `count` appends of 4 KiB, each followed by `fdatasync`, in microseconds.
fn fsync_latency(dir: &Path, count: usize) -> Result<Option<Percentiles>, String> {
    let path = dir.join("bench-fsync-probe");
    let result = (|| {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        let buf = [0x3cu8; 4096];
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            let start = Instant::now();
            file.write_all(&buf)?;
            file.sync_data()?;
            samples.push(start.elapsed().as_micros() as u64);
        }
        Ok::<_, std::io::Error>(percentiles(samples))
    })();
    let _ = fs::remove_file(&path);
    result.map_err(|e| format!("fsync probe {}: {e}", path.display()))
}

/// Copies a 64 MiB buffer into another until `bytes` were copied: larger than the caches, like
/// the broker's copies of request data.
fn memcpy(bytes: usize) -> f64 {
    let src = vec![0x11u8; 64 * MIB];
    let mut dst = vec![0u8; 64 * MIB];
    let rounds = (bytes / src.len()).max(1);
    let start = Instant::now();
    for _ in 0..rounds {
        dst.copy_from_slice(black_box(&src));
        black_box(&mut dst);
    }
    mb_per_s(rounds * src.len(), start.elapsed().as_secs_f64())
}

/// CRC-32C (the record batch checksum, with the same crate the broker uses) over a 64 MiB
/// buffer until `bytes` were checked.
fn crc32c(bytes: usize) -> f64 {
    let buf: Vec<u8> = (0..64 * MIB).map(|i| i as u8).collect();
    let rounds = (bytes / buf.len()).max(1);
    let start = Instant::now();
    let mut crc = 0;
    for _ in 0..rounds {
        crc = crc32c::crc32c_append(crc, black_box(&buf));
    }
    black_box(crc);
    mb_per_s(rounds * buf.len(), start.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_produce_floor_is_two_copies_and_one_crc() {
        let limits = Limits {
            loopback_mb_s: 1.0,
            disk_buffered_write_mb_s: 1.0,
            disk_durable_write_mb_s: 1.0,
            fsync: None,
            tmpfs_write_mb_s: None,
            memcpy_mb_s: 10_000.0,
            crc32c_mb_s: 20_000.0,
        };
        assert!((limits.produce_floor_cpu_s_per_gb() - 0.25).abs() < 1e-9);
    }

    #[test]
    fn small_probes_run() {
        let dir = std::env::temp_dir().join(format!("xtask-machine-{}", std::process::id()));
        let sizes = Sizes {
            loopback_bytes: 4 * MIB,
            write_bytes: 2 * MIB,
            fsyncs: 3,
            memory_bytes: MIB,
        };
        let limits = measure(sizes, &dir, None).unwrap();
        assert!(limits.loopback_mb_s > 0.0);
        assert!(limits.disk_buffered_write_mb_s >= limits.disk_durable_write_mb_s);
        assert_eq!(limits.fsync.unwrap().count, 3);
        assert!(limits.memcpy_mb_s > 0.0 && limits.crc32c_mb_s > 0.0);
        let _ = fs::remove_dir_all(dir);
    }
}
