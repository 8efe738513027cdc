"""Produce and consume throughput of the broker measured with confluent-kafka (librdkafka).

Not a test: a measurement. Starts the broker given by BROKER_BIN (build it with
`cargo build --release -p broker`), produces COUNT messages of each size with acks=1 and
linger, consumes them back, and prints messages/s, MB/s and the broker's peak RSS.

    BROKER_BIN=target/release/broker target/e2e-venv/bin/python tests/perf/throughput.py
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from conftest import Broker  # noqa: E402


def rss(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmHWM", "VmRSS")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) / 1024
    return out


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def run(b, size, count, partitions=3):
    topic = f"perf-{size}-{int(time.time())}"
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    value = b"x" * size
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "1", "linger.ms": 10, "batch.size": 1_000_000,
                  "queue.buffering.max.messages": 1_000_000, "compression.type": "none"})
    cpu0 = cpu_seconds(b.proc.pid)
    t0 = time.time()
    for i in range(count):
        while True:
            try:
                p.produce(topic, value)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10000 == 0:
            p.poll(0)
    assert p.flush(120) == 0
    produce_s = time.time() - t0
    produce_cpu = cpu_seconds(b.proc.pid) - cpu0
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "perf", "enable.auto.commit": False,
                  "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760})
    c.assign([TopicPartition(topic, i, 0) for i in range(partitions)])
    got = 0
    cpu0 = cpu_seconds(b.proc.pid)
    t0 = time.time()
    while got < count and time.time() - t0 < 300:
        msgs = c.consume(10000, 1.0)
        got += sum(1 for m in msgs if m.error() is None)
    consume_s = time.time() - t0
    consume_cpu = cpu_seconds(b.proc.pid) - cpu0
    c.close()
    mb = count * size / 1e6
    print(f"{size:>5} B x {count}: produce {count / produce_s:,.0f} msg/s {mb / produce_s:,.1f} MB/s "
          f"(broker CPU {produce_cpu:.2f} s, {produce_cpu / (mb / 1000):.2f} s/GB); "
          f"consume {got / consume_s:,.0f} msg/s {mb / consume_s:,.1f} MB/s "
          f"(broker CPU {consume_cpu:.2f} s, {consume_cpu / (mb / 1000):.2f} s/GB)")


def main():
    b = Broker(overrides={"num.network.threads": "3", "num.io.threads": "8"}).start()
    try:
        run(b, 100, int(os.environ.get("COUNT_100", "1000000")))
        run(b, 1024, int(os.environ.get("COUNT_1K", "300000")))
        r = rss(b.proc.pid)
        print(f"broker RSS now {r['VmRSS']:.1f} MiB, peak {r['VmHWM']:.1f} MiB")
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
