"""A cluster of three brokers, each a voter in the metadata quorum (combined nodes), started by
the test on free loopback ports: partitions spread over the nodes, clients we did not write
(confluent-kafka, kafka-python, kcat) reading and writing every partition, groups on several
coordinators, and kill -9 of a broker and of the active controller.

Replication is not there yet: every partition has one replica, so a dead broker's partitions
are offline (Metadata says so) until it returns with its data.
"""

import socket
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, TopicPartition

from conftest import Broker, kcat
from helpers import RawConnection, build_batch
from test_client import console_consume, console_produce

NOT_LEADER_OR_FOLLOWER = 6
# Short sessions so the tests see fencing in seconds, not Kafka's 9.
FAST = {"broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "500"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """Three combined broker+controller nodes with one cluster id and static voters."""

    def __init__(self, nodes=3):
        self.cluster_id = uuid.uuid4().hex[:22]
        self.client_ports = {n: free_port() for n in range(1, nodes + 1)}
        self.controller_ports = {n: free_port() for n in range(1, nodes + 1)}
        voters = ",".join(f"{n}@127.0.0.1:{p}" for n, p in self.controller_ports.items())
        self.brokers = {}
        for n in self.client_ports:
            overrides = {
                "node.id": str(n),
                "cluster.id": self.cluster_id,
                "listeners": f"PLAINTEXT://127.0.0.1:{self.client_ports[n]},"
                f"CONTROLLER://127.0.0.1:{self.controller_ports[n]}",
                "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.client_ports[n]}",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "controller.listener.names": "CONTROLLER",
                "controller.quorum.voters": voters,
                **FAST,
            }
            self.brokers[n] = Broker(overrides=overrides)
            self.brokers[n].port = self.client_ports[n]

    @property
    def bootstrap(self):
        return ",".join(f"127.0.0.1:{p}" for p in self.client_ports.values())

    def start(self):
        for b in self.brokers.values():
            b.start()
        self.wait_for_brokers(len(self.brokers))
        return self

    def admin(self, exclude=()):
        servers = ",".join(
            f"127.0.0.1:{p}" for n, p in self.client_ports.items() if n not in exclude
        )
        return AdminClient({"bootstrap.servers": servers})

    def metadata(self, exclude=()):
        return self.admin(exclude).list_topics(timeout=10)

    def wait_for_brokers(self, count, exclude=(), timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if len(self.metadata(exclude).brokers) == count:
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the cluster never listed {count} live brokers")

    def leaders(self, topic, exclude=()):
        md = self.metadata(exclude)
        return {p: pm.leader for p, pm in md.topics[topic].partitions.items()}

    def cleanup(self):
        for b in self.brokers.values():
            b.cleanup()


@pytest.fixture
def cluster():
    c = Cluster()
    try:
        yield c.start()
    finally:
        c.cleanup()


def create(cluster, topic, partitions, exclude=(), timeout=30):
    admin = cluster.admin(exclude)  # kept alive until its futures complete
    futures = admin.create_topics([NewTopic(topic, partitions, 1)], request_timeout=timeout)
    for f in futures.values():
        f.result(timeout + 5)


def produce_all(cluster, topic, count):
    p = Producer({"bootstrap.servers": cluster.bootstrap, "enable.idempotence": True, "acks": "all"})
    delivered = []
    for i in range(count):
        p.produce(topic, key=str(i), value=f"v{i}", on_delivery=lambda e, m: delivered.append(e))
    assert p.flush(60) == 0
    assert len(delivered) == count and all(e is None for e in delivered)


def test_a_topic_spreads_over_three_nodes_and_every_client_reads_and_writes_it(cluster):
    topic = f"orders-{uuid.uuid4().hex[:6]}"
    create(cluster, topic, 12)
    leaders = cluster.leaders(topic)
    per_node = {n: sum(1 for l in leaders.values() if l == n) for n in cluster.brokers}
    assert per_node == {1: 4, 2: 4, 3: 4}, per_node

    produce_all(cluster, topic, 1200)
    kcat("-b", cluster.bootstrap, "-P", "-t", topic, "-p", "5", input=b"from-kcat\n")

    # A group of three confluent consumers shares the twelve partitions and reads everything.
    group = f"g-{uuid.uuid4().hex[:6]}"
    seen, assigned, stop = [], {}, threading.Event()

    def member(i):
        c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                      "auto.offset.reset": "earliest",
                      "on_commit": lambda *a: None})
        c.subscribe([topic], on_assign=lambda c, parts: assigned.__setitem__(i, len(parts)))
        while not stop.is_set():
            m = c.poll(0.5)
            if m is not None and not m.error():
                seen.append(m.value())
        c.close()

    threads = [threading.Thread(target=member, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    deadline = time.time() + 90
    while len(seen) < 1201 and time.time() < deadline:
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(30)
    assert len(set(seen)) == 1201, len(set(seen))
    assert sorted(assigned) == [0, 1, 2] and sum(assigned.values()) == 12, assigned

    # kafka-python reads every partition from its leader.
    kp = KafkaConsumer(bootstrap_servers=cluster.bootstrap.split(","),
                       auto_offset_reset="earliest", consumer_timeout_ms=10000)
    kp.assign([TopicPartition(topic, p) for p in range(12)])
    got = [m.value for m in kp]
    kp.close()
    assert len(got) == 1201

    # Our own client (kafka-console) writes to and reads from every partition's leader too.
    records = [(f"k{i}".encode(), f"own-{i}".encode(), []) for i in range(60)]
    acks = console_produce(cluster.bootstrap, topic, records)
    assert {leaders[a["partition"]] for a in acks} == {1, 2, 3}, acks[:3]
    own = console_consume(cluster.bootstrap, topic, 1261, group=f"own-{uuid.uuid4().hex[:6]}")
    assert len(own) == 1261

    # Each broker serves only what it leads.
    for p, leader in leaders.items():
        other = next(n for n in cluster.brokers if n != leader)
        with RawConnection(f"127.0.0.1:{cluster.client_ports[other]}") as raw:
            error, _ = raw.produce(topic, p, build_batch([b"x"]))
            assert error == NOT_LEADER_OR_FOLLOWER, (p, leader, other, error)
            error, _, _ = raw.fetch_result(raw.send_fetch(topic, p, 0, 0))
            assert error == NOT_LEADER_OR_FOLLOWER, (p, leader, other, error)
        break

    # Groups land on the leaders of their __consumer_offsets partitions: all three nodes.
    coordinators = set()
    with RawConnection(f"127.0.0.1:{cluster.client_ports[1]}") as raw:
        for i in range(40):
            deadline = time.time() + 30
            while True:
                error, node, _host, _port = raw.find_coordinator(f"group-{i}")
                if error == 0 or time.time() > deadline:
                    break
                time.sleep(0.2)
            assert error == 0, error
            coordinators.add(node)
    assert coordinators == {1, 2, 3}, coordinators


def test_kill_9_of_a_broker_then_of_the_controller(cluster):
    topic = f"kill-{uuid.uuid4().hex[:6]}"
    create(cluster, topic, 6)
    produce_all(cluster, topic, 600)
    controller = cluster.metadata().controller_id
    victim = next(n for n in cluster.brokers if n != controller)
    victim_partitions = sorted(p for p, l in cluster.leaders(topic).items() if l == victim)
    assert victim_partitions

    # kill -9 of a broker: its (single-replica) partitions go offline, the others carry on.
    cluster.brokers[victim].kill()
    deadline = time.time() + 30
    while time.time() < deadline:
        md = cluster.metadata(exclude=(victim,))
        parts = md.topics[topic].partitions
        if victim not in md.brokers and all(parts[p].leader == -1 for p in victim_partitions):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the dead broker's partitions never went offline")
    assert all(str(parts[p].error) != "None" for p in victim_partitions)
    live = [p for p in parts if p not in victim_partitions]
    p = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})
    errors = []
    for part in live:
        p.produce(topic, value=b"while-down", partition=part, on_delivery=lambda e, m: errors.append(e))
    assert p.flush(30) == 0 and errors == [None] * len(live), errors

    # It comes back and resumes its partitions with their data.
    cluster.brokers[victim].start()
    deadline = time.time() + 30
    while time.time() < deadline:
        if all(l == victim for q, l in cluster.leaders(topic).items() if q in victim_partitions):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the broker did not resume its partitions")
    kp = KafkaConsumer(bootstrap_servers=cluster.bootstrap.split(","),
                       auto_offset_reset="earliest", consumer_timeout_ms=10000)
    kp.assign([TopicPartition(topic, q) for q in range(6)])
    assert len([m for m in kp]) == 600 + len(live)
    kp.close()

    # kill -9 of the active controller: another takes over and metadata changes work again.
    cluster.brokers[controller].kill()
    started = time.time()
    second = f"after-{uuid.uuid4().hex[:6]}"
    deadline = started + 30
    while True:
        try:
            create(cluster, second, 3, exclude=(controller,), timeout=3)
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    took = time.time() - started
    md = cluster.metadata(exclude=(controller,))
    assert md.controller_id not in (controller, -1), md.controller_id
    assert topic in md.topics and second in md.topics
    assert took < 15, took

    # The old controller returns as a follower; nothing was lost on any node.
    cluster.brokers[controller].start()
    cluster.wait_for_brokers(3)
    for n in cluster.brokers:
        only_n = tuple(m for m in cluster.brokers if m != n)
        deadline = time.time() + 30
        while True:
            md = cluster.metadata(exclude=only_n)
            if topic in md.topics and second in md.topics:
                break
            assert time.time() < deadline, (n, sorted(md.topics))
            time.sleep(0.2)


def test_a_rolling_restart_under_load_gives_clients_only_retriable_errors(cluster):
    """SIGTERM each node in turn (controlled shutdown: leaderships and the quorum's leadership
    move before the process exits) and start it again, while an idempotent producer writes:
    every record is delivered in the end, exactly once, and nothing fails for good."""
    topic = f"rolling-{uuid.uuid4().hex[:6]}"
    create(cluster, topic, 6)
    p = Producer({"bootstrap.servers": cluster.bootstrap, "enable.idempotence": True,
                  "acks": "all", "delivery.timeout.ms": 120000, "linger.ms": 5})
    failures, acked, stop = [], [], threading.Event()

    def report(err, msg):
        if err is None:
            acked.append(msg.value())
        else:
            failures.append(str(err))

    def load():
        i = 0
        while not stop.is_set():
            p.produce(topic, key=str(i), value=f"r{i}".encode(), on_delivery=report)
            p.poll(0)
            i += 1
            time.sleep(0.005)

    writer = threading.Thread(target=load)
    writer.start()
    try:
        for n in cluster.brokers:
            time.sleep(1)
            began = time.time()
            assert cluster.brokers[n].stop(timeout=60) == 0, f"node {n} did not stop cleanly"
            assert time.time() - began < 45
            cluster.brokers[n].start()
            cluster.wait_for_brokers(3)
        time.sleep(1)
    finally:
        stop.set()
        writer.join(30)
    assert p.flush(120) == 0
    assert failures == [], failures[:5]
    kp = KafkaConsumer(bootstrap_servers=cluster.bootstrap.split(","),
                       auto_offset_reset="earliest", consumer_timeout_ms=10000)
    kp.assign([TopicPartition(topic, q) for q in range(6)])
    stored = [m.value for m in kp]
    kp.close()
    assert len(stored) == len(acked) == len(set(stored)), (len(stored), len(acked))
    assert set(stored) == set(acked)
