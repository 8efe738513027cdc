"""Our client's perf tools beside confluent-kafka (librdkafka) against the same broker.

Not a test: a measurement. Starts the release broker, then for acks=1 and acks=all produces
COUNT records of SIZE bytes with `producer-perf` and with confluent-kafka (same batch and linger
settings, latency from send to delivery report), and reads them back with `consumer-perf` and
with a confluent consumer. Prints one markdown table with records/s, MB/s, latency percentiles
and the broker's CPU seconds per run.

    cargo build --release -p broker -p kafka-client
    target/e2e-venv/bin/python tests/perf/client_compare.py [COUNT] [SIZE]
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
os.environ.setdefault("BROKER_BIN", os.path.join(ROOT, "target", "release", "broker"))

from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from conftest import Broker  # noqa: E402

BIN = os.path.join(ROOT, "target", "release")
BATCH_SIZE = 65536
LINGER_MS = 5


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create(bootstrap, topic, partitions=3):
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive the result
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def ours_produce(bootstrap, topic, count, size, acks, rate=-1):
    res = subprocess.run(
        [os.path.join(BIN, "producer-perf"), "--topic", topic, "--num-records", str(count), "--record-size",
         str(size), "--throughput", str(rate), "--json", "--producer-props", f"bootstrap.servers={bootstrap}", f"acks={acks}",
         f"batch.size={BATCH_SIZE}", f"linger.ms={LINGER_MS}"],
        capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout.strip().splitlines()[-1])
    return {"rec_s": r["records_per_sec"], "mb_s": r["mb_per_sec"], "avg": r["avg_ms"], "p50": r["p50_ms"],
            "p95": r["p95_ms"], "p99": r["p99_ms"], "p999": r["p999_ms"]}


def confluent_produce(bootstrap, topic, count, size, acks, rate=-1):
    value = os.urandom(size)
    p = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": LINGER_MS,
                  "batch.size": BATCH_SIZE, "queue.buffering.max.messages": 1_000_000,
                  "enable.idempotence": acks == "all"})
    latencies = []

    def report(err, msg, start):
        if err is None:
            latencies.append((time.perf_counter() - start) * 1000)

    t0 = time.perf_counter()
    for i in range(count):
        if rate > 0:
            due = t0 + i / rate
            while time.perf_counter() < due:
                p.poll(0)
        start = time.perf_counter()
        while True:
            try:
                p.produce(topic, value, on_delivery=lambda err, msg, s=start: report(err, msg, s))
                break
            except BufferError:
                p.poll(0.001)
        p.poll(0)
    assert p.flush(300) == 0
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {"rec_s": count / elapsed, "mb_s": count * size / elapsed / 2**20,
            "avg": sum(latencies) / max(1, len(latencies)), "p50": percentile(latencies, 0.5),
            "p95": percentile(latencies, 0.95), "p99": percentile(latencies, 0.99),
            "p999": percentile(latencies, 0.999)}


def ours_consume(bootstrap, topic, count):
    res = subprocess.run(
        [os.path.join(BIN, "consumer-perf"), "--topic", topic, "--messages", str(count), "--bootstrap-server",
         bootstrap, "--json", "--timeout", "20000"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout.strip().splitlines()[-1])
    return {"rec_s": r["fetch_records_per_sec"], "mb_s": r["fetch_mb_per_sec"]}


def confluent_consume(bootstrap, topic, count):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"perf-{topic}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    got = 0
    size = 0
    start = None
    deadline = time.time() + 300
    while got < count and time.time() < deadline:
        for m in c.consume(10000, 1.0):
            if m.error():
                continue
            if start is None:
                start = time.perf_counter()  # after the group is joined, as consumer-perf's fetch rate
            got += 1
            size += len(m.value())
    elapsed = time.perf_counter() - start
    c.close()
    assert got >= count
    return {"rec_s": got / elapsed, "mb_s": size / elapsed / 2**20}


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    b = Broker()
    b.start()
    rows = []
    try:
        for acks in ("1", "all"):
            for client, produce, consume in (("kafka-client", ours_produce, ours_consume),
                                             ("confluent-kafka", confluent_produce, confluent_consume)):
                topic = f"cmp-{client}-{acks}-{int(time.time() * 1000)}"
                create(b.bootstrap, topic)
                cpu0 = cpu_seconds(b.proc.pid)
                p = produce(b.bootstrap, topic, count, size, acks)
                cpu1 = cpu_seconds(b.proc.pid)
                c = consume(b.bootstrap, topic, count)
                cpu2 = cpu_seconds(b.proc.pid)
                rows.append((client, acks, p, c, cpu1 - cpu0, cpu2 - cpu1))
        # Latency without queueing: both clients held to the same rate, acks=all.
        rate = 20_000
        capped = []
        for client, produce in (("kafka-client", ours_produce), ("confluent-kafka", confluent_produce)):
            topic = f"rate-{client}-{int(time.time() * 1000)}"
            create(b.bootstrap, topic)
            capped.append((client, produce(b.bootstrap, topic, rate * 5, size, "all", rate)))
    finally:
        b.cleanup()
    gb = count * size / 1e9
    print(f"{count} records of {size} B, 3 partitions, batch.size={BATCH_SIZE}, linger.ms={LINGER_MS}; "
          f"consume rate excludes the group join")
    print("| client | acks | produce rec/s | MB/s | avg ms | p50 | p95 | p99 | p99.9 | broker CPU s/GB | "
          "consume rec/s | MB/s | broker CPU s/GB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for client, acks, p, c, pcpu, ccpu in rows:
        print(f"| {client} | {acks} | {p['rec_s']:,.0f} | {p['mb_s']:.1f} | {p['avg']:.2f} | {p['p50']:.2f} | "
              f"{p['p95']:.2f} | {p['p99']:.2f} | {p['p999']:.2f} | {pcpu / gb:.2f} | {c['rec_s']:,.0f} | "
              f"{c['mb_s']:.1f} | {ccpu / gb:.2f} |")
    print()
    print(f"acks=all held at {rate} records/s ({rate * size / 2**20:.1f} MB/s) for 5 s:")
    print("| client | rec/s | avg ms | p50 | p95 | p99 | p99.9 |")
    print("|---|---|---|---|---|---|---|")
    for client, p in capped:
        print(f"| {client} | {p['rec_s']:,.0f} | {p['avg']:.2f} | {p['p50']:.2f} | {p['p95']:.2f} | "
              f"{p['p99']:.2f} | {p['p999']:.2f} |")


if __name__ == "__main__":
    main()
