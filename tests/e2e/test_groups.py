"""Consumer groups with real clients: partitions split and rebalanced, committed offsets kept
across consumer and broker restarts, kcat -G, group listing and description."""

import os
import tempfile
import shutil
import subprocess
import threading
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer

from conftest import kcat


def create(bootstrap, name, partitions=3):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def produce(bootstrap, topic, values):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for v in values:
        p.produce(topic, v)
    assert p.flush(30) == 0


def group_consumer(bootstrap, group, topic, **extra):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "enable.auto.commit": False, **extra})
    c.subscribe([topic])
    return c


def wait_for_assignment(consumers, expected_total, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for c in consumers:
            c.poll(0.2)
        parts = [sorted(p.partition for p in c.assignment()) for c in consumers]
        if sum(len(p) for p in parts) == expected_total and all(parts):
            return parts
    raise AssertionError(f"no full assignment: {[c.assignment() for c in consumers]}")


def test_two_consumers_split_partitions_and_a_third_rebalances(broker, topic_name):
    create(broker.bootstrap, topic_name)
    group = f"g-{topic_name}"
    a = group_consumer(broker.bootstrap, group, topic_name)
    b = group_consumer(broker.bootstrap, group, topic_name)
    try:
        parts = wait_for_assignment([a, b], 3)
        assert sorted(parts[0] + parts[1]) == [0, 1, 2]
        c = group_consumer(broker.bootstrap, group, topic_name)
        try:
            parts = wait_for_assignment([a, b, c], 3)
            assert sorted(sum(parts, [])) == [0, 1, 2] and all(len(p) == 1 for p in parts)
        finally:
            c.close()
        parts = wait_for_assignment([a, b], 3)
        assert sorted(parts[0] + parts[1]) == [0, 1, 2]
    finally:
        a.close()
        b.close()


def test_committed_offsets_survive_consumer_and_broker_restart(broker_factory, topic_name):
    data = tempfile.mkdtemp(prefix="e2e-groups-")
    try:
        b = broker_factory(data_dir=data)
        create(b.bootstrap, topic_name, 1)
        produce(b.bootstrap, topic_name, [f"m{i}".encode() for i in range(100)])
        group = f"g-{topic_name}"
        c = group_consumer(b.bootstrap, group, topic_name)
        got = []
        deadline = time.time() + 30
        while len(got) < 60 and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m)
        last = got[59]
        c.commit(message=last, asynchronous=False)
        c.close()
        b.stop()
        b2 = broker_factory(data_dir=data)
        c = group_consumer(b2.bootstrap, group, topic_name)
        first = None
        deadline = time.time() + 30
        while first is None and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                first = m
        c.close()
        assert first is not None and first.value() == b"m60", first and first.value()
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_kafka_python_group_consumer_reads_everything(broker, topic_name):
    create(broker.bootstrap, topic_name, 2)
    produce(broker.bootstrap, topic_name, [f"v{i}".encode() for i in range(500)])
    c = KafkaConsumer(topic_name, bootstrap_servers=broker.bootstrap, group_id=f"kp-{topic_name}",
                      auto_offset_reset="earliest", consumer_timeout_ms=5000, enable_auto_commit=True,
                      request_timeout_ms=30000)
    got = [r.value for r in c]
    c.close()
    assert sorted(got) == sorted(f"v{i}".encode() for i in range(500))


def test_kcat_consumes_as_a_group_member(broker, topic_name):
    create(broker.bootstrap, topic_name, 1)
    produce(broker.bootstrap, topic_name, [f"x{i}".encode() for i in range(20)])
    exe = shutil.which("kcat")
    proc = subprocess.Popen([exe, "-b", broker.bootstrap, "-G", f"k-{topic_name}", "-o", "beginning", "-f", "%s\n",
                             topic_name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines = []

    def read():
        for line in proc.stdout:
            lines.append(line.strip())
            if len(lines) == 20:
                break

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(30)
    proc.terminate()
    proc.wait(10)
    assert lines == [f"x{i}".encode() for i in range(20)]


def test_groups_are_listed_and_described(broker, topic_name):
    create(broker.bootstrap, topic_name, 1)
    group = f"d-{topic_name}"
    c = group_consumer(broker.bootstrap, group, topic_name)
    try:
        wait_for_assignment([c], 1)
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        listed = admin.list_consumer_groups().result(timeout=30)
        assert group in [g.group_id for g in listed.valid]
        described = admin.describe_consumer_groups([group])[group].result(timeout=30)
        assert str(described.state).endswith("STABLE")
        assert len(described.members) == 1
    finally:
        c.close()


CHILD_CONSUMER = """
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "auto.offset.reset": "earliest",
              "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
c.subscribe([sys.argv[3]])
start = time.time()
while time.time() - start < 120:
    c.poll(0.2)
    if c.assignment():
        print("assigned", flush=True)
"""


def test_a_killed_consumer_loses_its_partitions_after_the_session_timeout(broker, topic_name):
    import sys
    create(broker.bootstrap, topic_name)
    group = f"kill-{topic_name}"
    child = subprocess.Popen([sys.executable, "-c", CHILD_CONSUMER, broker.bootstrap, group, topic_name],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    a = group_consumer(broker.bootstrap, group, topic_name)
    try:
        deadline = time.time() + 40
        while time.time() < deadline:
            a.poll(0.2)
            if a.assignment() and len(a.assignment()) < 3:
                break
        assert 0 < len(a.assignment()) < 3, "the child never took partitions"
        child.kill()
        child.wait(10)
        killed_at = time.time()
        while time.time() - killed_at < 40 and len(a.assignment()) < 3:
            a.poll(0.2)
        assert sorted(p.partition for p in a.assignment()) == [0, 1, 2]
        # No LeaveGroup was sent: the move waits for the 6 s session timeout.
        assert time.time() - killed_at >= 4
    finally:
        child.kill()
        a.close()


def test_cooperative_sticky_rebalancing(broker, topic_name):
    create(broker.bootstrap, topic_name, 4)
    group = f"coop-{topic_name}"
    cfg = {"partition.assignment.strategy": "cooperative-sticky"}
    a = group_consumer(broker.bootstrap, group, topic_name, **cfg)
    try:
        parts = wait_for_assignment([a], 4)
        assert parts == [[0, 1, 2, 3]]
        b = group_consumer(broker.bootstrap, group, topic_name, **cfg)
        try:
            parts = wait_for_assignment([a, b], 4)
            assert sorted(parts[0] + parts[1]) == [0, 1, 2, 3] and len(parts[0]) == 2 == len(parts[1])
        finally:
            b.close()
        parts = wait_for_assignment([a], 4)
        assert parts == [[0, 1, 2, 3]]
    finally:
        a.close()


def test_kafka_python_admin_lists_and_describes_groups(broker, topic_name):
    from kafka.admin import KafkaAdminClient
    create(broker.bootstrap, topic_name, 1)
    group = f"kpa-{topic_name}"
    c = group_consumer(broker.bootstrap, group, topic_name)
    try:
        wait_for_assignment([c], 1)
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000)
        try:
            listed = admin.list_groups()
            ids = [g["group_id"] if isinstance(g, dict) else g[0] for g in listed]
            assert group in ids
            described = admin.describe_groups([group])[group]
            assert described["group_state"] == "Stable"
            assert len(described["members"]) == 1
        finally:
            admin.close()
    finally:
        c.close()
