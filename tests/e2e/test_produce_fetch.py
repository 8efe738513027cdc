"""Produce with one client, read back byte-exact with another."""

import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition

from conftest import kcat

COUNT = 10_000


def create(broker, name, partitions=3):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def message(i):
    return f"key-{i % 97}".encode(), f"value-{i}-".encode() * 3, [("h", f"{i}".encode()), ("n", None)]


def produce_confluent(broker, topic, count=COUNT, **extra):
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5, **extra})
    errors = []
    for i in range(count):
        k, v, h = message(i)
        p.produce(topic, v, k, headers=h, on_delivery=lambda err, msg: err and errors.append(err))
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    assert errors == []


def consume_kafka_python(broker, topic, expected, timeout=60):
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000,
                      request_timeout_ms=30000)
    parts = [KpTopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
    c.assign(parts)
    c.seek_to_beginning()
    got = []
    deadline = time.time() + timeout
    while len(got) < expected and time.time() < deadline:
        for records in c.poll(timeout_ms=1000).values():
            got.extend(records)
    c.close()
    return got


def consume_confluent(broker, topic, partitions, expected, timeout=60):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = []
    deadline = time.time() + timeout
    while len(got) < expected and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got.append(m)
    c.close()
    return got


def test_confluent_produces_kafka_python_reads_byte_exact_in_order(broker, topic_name):
    create(broker, topic_name)
    produce_confluent(broker, topic_name)
    got = consume_kafka_python(broker, topic_name, COUNT)
    assert len(got) == COUNT
    by_partition = {}
    for r in got:
        by_partition.setdefault(r.partition, []).append(r)
    expected = {}
    for i in range(COUNT):
        expected.setdefault(message(i)[0], []).append(i)
    for part, records in by_partition.items():
        offsets = [r.offset for r in records]
        assert offsets == sorted(offsets) and offsets == list(range(offsets[0], offsets[0] + len(offsets)))
        # Per key, values arrive in production order.
        seen = {}
        for r in records:
            seen.setdefault(r.key, []).append(int(dict(r.headers)["h"]))
        for key, indexes in seen.items():
            assert indexes == expected[key]
    for r in got:
        i = int(dict(r.headers)["h"])
        k, v, h = message(i)
        assert (r.key, r.value) == (k, v)
        assert r.headers == h


def test_kafka_python_produces_confluent_reads(broker, topic_name):
    create(broker, topic_name, partitions=2)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5)
    futures = [p.send(topic_name, key=message(i)[0], value=message(i)[1], headers=[("h", str(i).encode())]) for i in range(COUNT)]
    p.flush(60)
    for f in futures:
        f.get(timeout=30)
    p.close()
    got = consume_confluent(broker, topic_name, 2, COUNT)
    assert len(got) == COUNT
    assert sorted(int(dict(m.headers())["h"]) for m in got) == list(range(COUNT))
    for m in got:
        i = int(dict(m.headers())["h"])
        assert (m.key(), m.value()) == message(i)[:2]


def test_kcat_produces_confluent_reads(broker, topic_name):
    create(broker, topic_name, partitions=1)
    lines = b"".join(f"k{i}:v{i}\n".encode() for i in range(COUNT))
    kcat("-b", broker.bootstrap, "-P", "-t", topic_name, "-K:", "-H", "origin=kcat", "-X", "acks=all", input=lines)
    got = consume_confluent(broker, topic_name, 1, COUNT)
    assert [(m.key(), m.value(), m.offset()) for m in got] == [
        (f"k{i}".encode(), f"v{i}".encode(), i) for i in range(COUNT)
    ]
    assert all(m.headers() == [("origin", b"kcat")] for m in got)


def test_kcat_consumes_what_kcat_produced(broker, topic_name):
    create(broker, topic_name, partitions=1)
    lines = b"".join(f"k{i}:v{i}\n".encode() for i in range(1000))
    kcat("-b", broker.bootstrap, "-P", "-t", topic_name, "-K:", input=lines)
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic_name, "-o", "beginning", "-e", "-f", "%k=%s@%o\n")
    assert out.decode().splitlines() == [f"k{i}=v{i}@{i}" for i in range(1000)]
