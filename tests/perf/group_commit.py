"""Group commit: produce throughput with and without `log.flush.interval.messages=1`.

Not a test: a measurement. Starts the broker given by BROKER_BIN (default
target/release/broker) twice, creates a topic of PARTITIONS partitions (1), runs PRODUCERS (8)
`producer-perf` processes at once, each sending RECORDS (50000) 1 KiB records with acks=all
and no throughput limit, and prints the summed records/s, the aggregate rate, the broker's
CPU seconds per GB produced and how busy the machine was.

    cargo build --release -p broker -p kafka-client --features kafka-client/tools
    /work/e2e-venv/bin/python tests/perf/group_commit.py
"""

import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
os.environ.setdefault("BROKER_BIN", os.path.join(TARGET, "release", "broker"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from conftest import Broker  # noqa: E402

PERF = os.path.join(TARGET, "release", "producer-perf")
PRODUCERS = int(os.environ.get("PRODUCERS", "8"))
RECORDS = int(os.environ.get("RECORDS", "50000"))
PARTITIONS = int(os.environ.get("PARTITIONS", "1"))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks():
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def run(overrides):
    data = tempfile.mkdtemp(prefix="group-commit-")
    b = Broker(data, overrides=overrides)
    b.start()
    try:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        for f in admin.create_topics([NewTopic("gc", PARTITIONS, 1)]).values():
            f.result(30)
        cpu0, ticks0, t0 = cpu_seconds(b.proc.pid), machine_ticks(), time.time()
        procs = [
            subprocess.Popen(
                [PERF, "--topic", "gc", "--num-records", str(RECORDS), "--record-size", "1024",
                 "--throughput", "-1", "--producer-props", f"bootstrap.servers={b.bootstrap}", "acks=all"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for _ in range(PRODUCERS)
        ]
        outs = [p.communicate()[0] for p in procs]
        wall = time.time() - t0
        cpu = cpu_seconds(b.proc.pid) - cpu0
        ticks = [a - z for a, z in zip(machine_ticks(), ticks0)]
        busy = 1 - (ticks[3] + ticks[4]) / sum(ticks)
        summed = 0.0
        for o in outs:
            last = [line for line in o.splitlines() if "records sent" in line][-1]
            summed += float(re.search(r"([\d.]+) records/sec", last).group(1))
        gb = PRODUCERS * RECORDS * 1024 / 1e9
        return summed, PRODUCERS * RECORDS / wall, cpu / gb, busy
    finally:
        b.stop()
        subprocess.run(["rm", "-rf", data])


def main():
    results = {}
    for name, overrides in [("no flush policy", {}),
                            ("log.flush.interval.messages=1", {"log.flush.interval.messages": "1"})]:
        summed, agg, cpu_gb, busy = run(overrides)
        results[name] = agg
        print(f"{name}: {summed:,.0f} records/s summed over producers; aggregate {agg:,.0f} records/s "
              f"({agg * 1024 / 1e6:.1f} MB/s); broker {cpu_gb:.1f} CPU-s/GB; machine {busy * 100:.0f}% busy")
    ratio = results["log.flush.interval.messages=1"] / results["no flush policy"]
    print(f"flush/no-flush throughput: {ratio * 100:.0f}%")


if __name__ == "__main__":
    main()
