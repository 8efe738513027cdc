"""Our Rust client (kafka-client) against the broker, checked by clients this project did not
write: records it produces are read byte-exact by confluent-kafka and kcat; records confluent
produces are read by it; it shares a consumer group with confluent-kafka; keyed records land
on the partitions Java's partitioner picks (kafka-python's murmur2 and librdkafka's
murmur2_random agree); a broker restart during production loses and duplicates nothing.

The client is driven through its command-line tools (`kafka-console`, `producer-perf`,
`consumer-perf`), built by the test command next to the broker.
"""

import base64
import json
import os
import random
import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.partitioner.default import murmur2

from conftest import BROKER_BIN, kcat

BIN_DIR = os.path.dirname(BROKER_BIN)
CONSOLE = os.path.join(BIN_DIR, "kafka-console")
PRODUCER_PERF = os.path.join(BIN_DIR, "producer-perf")
CONSUMER_PERF = os.path.join(BIN_DIR, "consumer-perf")


def b64(b):
    return None if b is None else base64.b64encode(b).decode()


def unb64(s):
    return None if s is None else base64.b64decode(s)


def create(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def random_records(n, seed):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        key = None if i % 7 == 0 else bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 24)))
        value = None if i % 11 == 0 else bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 400)))
        headers = [("seq", str(i).encode()), ("bin", bytes([0, 255, i % 256]))]
        if i % 5 == 0:
            headers.append(("nullable", None))
        out.append((key, value, headers))
    return out


def console_produce(bootstrap, topic, records, extra=(), timeout=120):
    lines = "".join(
        json.dumps({"key": b64(k), "value": b64(v), "headers": [[hk, b64(hv)] for hk, hv in h]}) + "\n"
        for k, v, h in records
    )
    args = [CONSOLE, "--bootstrap-server", bootstrap]
    for kv in extra:
        args += ["-X", kv]
    res = subprocess.run(args + ["produce", "--topic", topic], input=lines, capture_output=True,
                         text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr
    acks = [json.loads(l) for l in res.stdout.splitlines() if l.strip()]
    assert len(acks) == len(records)
    return acks


def console_consume(bootstrap, topic, count, group=None, timeout=120):
    args = [CONSOLE, "--bootstrap-server", bootstrap, "consume", "--topic", topic, "--from-beginning",
            "--max-messages", str(count), "--timeout-ms", "20000"]
    if group:
        args += ["--group", group]
    res = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr
    return [json.loads(l) for l in res.stdout.splitlines() if l.strip()]


def confluent_read_all(bootstrap, topic, count, timeout=60):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{topic}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = []
    deadline = time.time() + timeout
    try:
        while len(got) < count and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got.append(m)
    finally:
        c.close()
    assert len(got) == count, f"read {len(got)} of {count}"
    return got


def test_kafka_client_records_are_read_byte_exact_by_confluent(broker, topic_name):
    create(broker.bootstrap, topic_name, 3)
    records = random_records(3000, 1)
    acks = console_produce(broker.bootstrap, topic_name, records,
                           extra=["compression.type=lz4", "linger.ms=20"])
    # Every record was acknowledged with a distinct (partition, offset).
    placed = {(a["partition"], a["offset"]): i for i, a in enumerate(acks)}
    assert len(placed) == len(records)
    for m in confluent_read_all(broker.bootstrap, topic_name, len(records)):
        i = placed[(m.partition(), m.offset())]
        key, value, headers = records[i]
        assert m.key() == key
        assert m.value() == value
        assert [(k, v) for k, v in (m.headers() or [])] == headers


def test_kafka_client_records_are_read_by_kcat(broker, topic_name):
    create(broker.bootstrap, topic_name, 1)
    records = [(f"k-{i}".encode(), f"value-{i}".encode(), [("h", f"{i}".encode())]) for i in range(500)]
    console_produce(broker.bootstrap, topic_name, records)
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic_name, "-e", "-q", "-f", "%o\t%k\t%s\t%h\n")
    lines = out.decode().splitlines()
    assert len(lines) == 500
    for i, line in enumerate(lines):
        assert line == f"{i}\tk-{i}\tvalue-{i}\th={i}"


def test_confluent_records_are_read_by_kafka_client(broker, topic_name):
    create(broker.bootstrap, topic_name, 3)
    records = random_records(3000, 2)
    p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": "zstd", "linger.ms": 10})
    for k, v, h in records:
        p.produce(topic_name, key=k, value=v, headers=h)
    assert p.flush(30) == 0
    got = console_consume(broker.bootstrap, topic_name, len(records))
    assert len(got) == len(records)
    # Records are identified by their seq header; per partition, offsets are consecutive.
    seen = {}
    for r in got:
        headers = [(k, unb64(v)) for k, v in r["headers"]]
        seq = int(headers[0][1])
        assert seq not in seen
        seen[seq] = r
        key, value, want_headers = records[seq]
        assert unb64(r["key"]) == key
        assert unb64(r["value"]) == value
        assert headers == want_headers
    assert sorted(seen) == list(range(len(records)))
    by_partition = {}
    for r in got:
        by_partition.setdefault(r["partition"], []).append(r["offset"])
    for offsets in by_partition.values():
        assert offsets == list(range(len(offsets)))


def test_keyed_records_land_where_java_puts_them(broker, topic_name):
    partitions = 7
    create(broker.bootstrap, topic_name, partitions)
    keys = [f"user-{i}".encode() for i in range(300)] + [bytes([i, 255 - i, 128]) for i in range(100)]
    acks = console_produce(broker.bootstrap, topic_name, [(k, b"v", []) for k in keys])
    for key, ack in zip(keys, acks):
        # Java: Utils.toPositive(Utils.murmur2(key)) % numPartitions; kafka-python reimplements it.
        assert ack["partition"] == (murmur2(key) & 0x7FFFFFFF) % partitions, key
    # librdkafka's Java-compatible partitioner puts them in the same places.
    other = topic_name + "-rdkafka"
    create(broker.bootstrap, other, partitions)
    placed = {}
    p = Producer({"bootstrap.servers": broker.bootstrap, "partitioner": "murmur2_random"})
    for k in keys:
        p.produce(other, key=k, value=b"v", on_delivery=lambda err, m, k=k: placed.__setitem__(k, m.partition()))
    assert p.flush(30) == 0
    assert [placed[k] for k in keys] == [a["partition"] for a in acks]


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_group_shared_with_confluent_consumer(broker, topic_name, strategy):
    create(broker.bootstrap, topic_name, 4)
    group = f"shared-{topic_name}"
    ours = subprocess.Popen(
        [CONSOLE, "--bootstrap-server", broker.bootstrap, "-X", f"partition.assignment.strategy={strategy}",
         "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
         "consume", "--topic", topic_name, "--group", group, "--from-beginning", "--timeout-ms", "25000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(ours.stdout), daemon=True)
    reader.start()
    theirs = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                       "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                       "heartbeat.interval.ms": 500, "partition.assignment.strategy": strategy})
    theirs.subscribe([topic_name])
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    try:
        # Wait until both members hold partitions of a stable generation.
        deadline = time.time() + 40
        while time.time() < deadline:
            theirs.poll(0.2)
            desc = admin.describe_consumer_groups([group])[group].result(timeout=10)
            if (len(desc.members) == 2 and str(desc.state).endswith("STABLE")
                    and all(m.assignment.topic_partitions for m in desc.members)):
                break
        else:
            raise AssertionError(f"the group never had two members with partitions: {desc}")
        deadline = time.time() + 15
        while not theirs.assignment() and time.time() < deadline:
            theirs.poll(0.2)
        mine = sorted(p.partition for p in theirs.assignment())
        assert 0 < len(mine) < 4
        values = [f"m{i}".encode() for i in range(400)]
        p = Producer({"bootstrap.servers": broker.bootstrap})
        for i, v in enumerate(values):
            p.produce(topic_name, key=f"key-{i}".encode(), value=v)
        assert p.flush(30) == 0
        got_theirs = []
        deadline = time.time() + 30
        while time.time() < deadline and len(got_theirs) + len(lines) < len(values):
            m = theirs.poll(0.2)
            if m is not None and m.error() is None:
                got_theirs.append((m.partition(), m.value()))
        ours_records = [json.loads(l) for l in list(lines)]
        got_ours = [(r["partition"], unb64(r["value"])) for r in ours_records]
        assert len(got_theirs) + len(got_ours) == len(values)
        assert sorted(v for _, v in got_theirs + got_ours) == sorted(values)
        their_parts = {pt for pt, _ in got_theirs}
        our_parts = {pt for pt, _ in got_ours}
        assert their_parts.isdisjoint(our_parts)
        assert their_parts <= set(mine)
        assert our_parts and their_parts
        # When the confluent member leaves, ours takes over every partition.
        theirs.close()
        theirs = None
        before = len(lines)
        for i in range(100):
            p.produce(topic_name, key=f"late-{i}".encode(), value=f"late{i}".encode())
        assert p.flush(30) == 0
        deadline = time.time() + 40
        while time.time() < deadline and len(lines) - before < 100:
            time.sleep(0.2)
        late = [unb64(json.loads(l)["value"]) for l in list(lines)[before:]]
        late = [v for v in late if v.startswith(b"late")]
        # Our member committed before giving partitions up, so nothing of its own is read twice;
        # (records of the partitions it takes over may be, if confluent had not committed them).
        assert sorted(late) == sorted(f"late{i}".encode() for i in range(100))
    finally:
        if theirs is not None:
            theirs.close()
        ours.terminate()
        try:
            ours.wait(20)
        except subprocess.TimeoutExpired:
            ours.kill()
            ours.wait(10)


def test_broker_restart_during_production_loses_and_duplicates_nothing(broker_factory, topic_name):
    b = broker_factory()
    create(b.bootstrap, topic_name, 2)
    total = 3000
    proc = subprocess.Popen(
        [CONSOLE, "--bootstrap-server", b.bootstrap, "-X", "linger.ms=5", "-X", "retry.backoff.ms=50",
         "-X", "reconnect.backoff.ms=50", "-X", "delivery.timeout.ms=60000",
         "produce", "--topic", topic_name],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for i in range(total):
            proc.stdin.write(json.dumps({"value": b64(f"r{i}".encode())}) + "\n")
            if i % 100 == 99:
                proc.stdin.flush()
                time.sleep(0.02)
            if i == total // 2:
                proc.stdin.flush()
                time.sleep(0.2)
                b.stop()
                time.sleep(0.5)
                b.start()
        proc.stdin.flush()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    acks = [json.loads(l) for l in out.splitlines() if l.strip()]
    assert len(acks) == total and all("error" not in a for a in acks)
    assert len({(a["partition"], a["offset"]) for a in acks}) == total
    values = [m.value() for m in confluent_read_all(b.bootstrap, topic_name, total)]
    assert sorted(values) == sorted(f"r{i}".encode() for i in range(total))


def test_perf_tools_print_javas_summaries(broker, topic_name):
    create(broker.bootstrap, topic_name, 2)
    res = subprocess.run([PRODUCER_PERF, "--topic", topic_name, "--num-records", "2000", "--record-size", "1024",
                          "--throughput", "-1", "--producer-props", f"bootstrap.servers={broker.bootstrap}", "acks=all"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith("2000 records sent,") and "99.9th" in last, last
    res = subprocess.run([CONSUMER_PERF, "--topic", topic_name, "--messages", "2000",
                          "--bootstrap-server", broker.bootstrap, "--timeout", "20000"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    header, row = res.stdout.strip().splitlines()[-2:]
    assert header.startswith("start.time, end.time, data.consumed.in.MB")
    assert row.split(", ")[4] == "2000"
