"""What fsync-before-acknowledgement costs: produce throughput with and without
`log.flush.interval.messages=1`, several producers at acks=all, and the broker's CPU per GB.

Not a test: a measurement (the numbers depend on the disk). For each setting it starts a fresh
broker (BROKER_BIN, build both with `cargo build --release -p broker -p kafka-client`) with its
data directory under DATA_ROOT (default: the system temp folder, so on disk unless that is a
tmpfs), creates one topic with PARTITIONS partitions, runs PRODUCERS `producer-perf` processes
at once (acks=all, RECORDS records of SIZE bytes each), and prints the aggregate records/s,
MB/s, the broker's CPU-seconds per GB and its fsync count from the Prometheus endpoint, then
the ratio of the flushed to the unflushed throughput.

    BROKER_BIN=target/release/broker PERF_BIN=target/release/producer-perf \\
        target/e2e-venv/bin/python tests/perf/group_commit.py

A second section measures fetch: one `consumer-perf` reads everything back, and the broker's
CPU per GB fetched is printed.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from conftest import Broker  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PERF_BIN = os.environ.get("PERF_BIN", os.path.join(ROOT, "target", "release", "producer-perf"))
CONSUMER_BIN = os.environ.get("CONSUMER_BIN", os.path.join(os.path.dirname(PERF_BIN), "consumer-perf"))
PRODUCERS = int(os.environ.get("PRODUCERS", "8"))
RECORDS = int(os.environ.get("RECORDS", "100000"))
SIZE = int(os.environ.get("SIZE", "1024"))
PARTITIONS = int(os.environ.get("PARTITIONS", "8"))
DATA_ROOT = os.environ.get("DATA_ROOT", tempfile.gettempdir())


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fsyncs(broker):
    """The broker's fsync count from its Prometheus endpoint, if it exports one."""
    try:
        text = urllib.request.urlopen(broker.metrics_url, timeout=5).read().decode()
    except OSError:
        return None
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith("kafka_log_flush") and "count" in line.split(" ")[0]:
            total += float(line.rsplit(" ", 1)[1])
            found = True
    return total if found else None


def produce(overrides, label):
    data_dir = tempfile.mkdtemp(prefix="group-commit-", dir=DATA_ROOT)
    b = Broker(data_dir=data_dir, overrides=dict(overrides)).start()
    try:
        topic = f"gc-{int(time.time() * 1000)}"
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
        cpu0 = cpu_seconds(b.proc.pid)
        f0 = fsyncs(b)
        t0 = time.time()
        procs = [
            subprocess.Popen(
                [PERF_BIN, "--topic", topic, "--num-records", str(RECORDS), "--record-size", str(SIZE),
                 "--json", "--producer-props", f"bootstrap.servers={b.bootstrap}", "acks=all",
                 "linger.ms=5", "batch.size=65536"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(PRODUCERS)
        ]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=600)
            if p.returncode != 0:
                raise RuntimeError(f"producer-perf failed: {err}")
            results.append(json.loads(out.strip().splitlines()[-1]))
        seconds = time.time() - t0
        cpu = cpu_seconds(b.proc.pid) - cpu0
        f1 = fsyncs(b)
        records = sum(r["records"] for r in results)
        gb = records * SIZE / 1e9
        p99 = max(r["p99_ms"] for r in results)
        flushes = "" if f0 is None or f1 is None else f", {f1 - f0:,.0f} fsyncs"
        print(f"{label}: {records / seconds:,.0f} records/s, {gb * 1000 / seconds:,.1f} MB/s, "
              f"p99 {p99:.1f} ms, broker {cpu:.2f} CPU-s = {cpu / gb:.2f} CPU-s/GB{flushes}")
        fetch_cpu = None
        if os.path.exists(CONSUMER_BIN):
            cpu0 = cpu_seconds(b.proc.pid)
            t0 = time.time()
            subprocess.run(
                [CONSUMER_BIN, "--topic", topic, "--messages", str(records), "--bootstrap-server",
                 b.bootstrap],
                check=True, timeout=600, stdout=subprocess.DEVNULL)
            fetch_s = time.time() - t0
            fetch_cpu = cpu_seconds(b.proc.pid) - cpu0
            print(f"{label} fetch: {gb * 1000 / fetch_s:,.1f} MB/s, broker {fetch_cpu:.2f} CPU-s = "
                  f"{fetch_cpu / gb:.2f} CPU-s/GB")
        return records / seconds
    finally:
        b.cleanup()
        subprocess.run(["rm", "-rf", data_dir])


def disk_bandwidth(chunk=4 << 20, total=512 << 20):
    """This machine's limit for durable appends: MB/s of sequential writes to DATA_ROOT with an
    fdatasync after every `chunk` (what a group commit of `chunk` bytes costs at best)."""
    fd, path = tempfile.mkstemp(prefix="disk-bw-", dir=DATA_ROOT)
    buf = b"x" * chunk
    try:
        t0 = time.time()
        for _ in range(total // chunk):
            os.write(fd, buf)
            os.fdatasync(fd)
        return total / 1e6 / (time.time() - t0)
    finally:
        os.close(fd)
        os.unlink(path)


def main():
    base = produce({}, "no flush policy")
    flushed = produce({"log.flush.interval.messages": "1"}, "log.flush.interval.messages=1")
    disk = disk_bandwidth()
    print(f"flushed / unflushed throughput: {flushed / base:.2f}")
    print(f"disk: sequential writes with an fdatasync per 4 MiB {disk:,.1f} MB/s; flushed produce "
          f"at {flushed * SIZE / 1e6 / disk:.2f} of it")


if __name__ == "__main__":
    main()
