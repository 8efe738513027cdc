"""Message size limits: a 1 MiB message round trip, and a batch over the broker's
message.max.bytes refused with MESSAGE_TOO_LARGE (not a hang, not a dropped connection)."""

import os
import time

import pytest
from confluent_kafka import KafkaError, Producer
from kafka import KafkaProducer
from kafka.errors import MessageSizeTooLargeError

from helpers import consume_confluent, consume_kafka_python, create_topic, produce_confluent

MIB = 1 << 20


def round_trip(broker, topic, size):
    value = os.urandom(size)  # incompressible
    reports = produce_confluent(broker, topic, [(b"big", value, [("n", b"1")])], timeout=60,
                                **{"message.max.bytes": 4 * MIB, "compression.type": "none"})
    assert reports[0][:2] == (0, 0)
    got = consume_confluent(broker, topic, 1, 1, timeout=60, **{"fetch.max.bytes": 4 * MIB,
                                                                 "receive.message.max.bytes": 8 * MIB})
    assert len(got) == 1
    assert (got[0].key(), got[0].value(), got[0].headers()) == (b"big", value, [("n", b"1")])
    got = consume_kafka_python(broker, topic, 1, timeout=60)
    assert [(r.key, r.value) for r in got] == [(b"big", value)]


def test_one_mib_message_round_trip(broker_factory, topic_name):
    # Kafka's default message.max.bytes (1048588) is 1 MiB plus 12 bytes: a 1 MiB value plus the
    # batch and record overhead does not fit, so this broker allows 2 MiB.
    b = broker_factory(overrides={"message.max.bytes": str(2 * MIB)})
    create_topic(b, topic_name, 1)
    round_trip(b, topic_name, MIB)


def test_largest_value_under_the_default_limit_round_trips(broker, topic_name):
    create_topic(broker, topic_name, 1)
    round_trip(broker, topic_name, 1_000_000)


@pytest.fixture
def small_limit_broker(broker_factory):
    return broker_factory(overrides={"message.max.bytes": "100000"})


def test_batch_over_message_max_bytes_is_refused_confluent(small_limit_broker, topic_name):
    b = small_limit_broker
    create_topic(b, topic_name, 1)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "message.max.bytes": MIB,
                  "compression.type": "none", "message.timeout.ms": 15000, "linger.ms": 0})
    reports = []
    start = time.time()
    p.produce(topic_name, os.urandom(200_000), b"k", on_delivery=lambda err, msg: reports.append(err))
    assert p.flush(30) == 0, "no delivery report: the produce hung"
    elapsed = time.time() - start
    assert len(reports) == 1 and reports[0] is not None, "a 200 KB batch was accepted by a 100000-byte broker"
    assert reports[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, reports[0]
    assert elapsed < 10, f"the refusal took {elapsed:.1f}s"
    # The broker answered and kept serving: a small message on the same producer goes through.
    reports.clear()
    p.produce(topic_name, b"small", b"k", on_delivery=lambda err, msg: reports.append((err, msg.offset())))
    assert p.flush(30) == 0
    assert reports == [(None, 0)]


def test_batch_over_message_max_bytes_is_refused_kafka_python(small_limit_broker, topic_name):
    b = small_limit_broker
    create_topic(b, topic_name, 1)
    conf = dict(bootstrap_servers=b.bootstrap, acks="all", max_request_size=MIB, request_timeout_ms=15000,
                max_block_ms=15000, compression_type=None)
    p = KafkaProducer(**conf)
    try:
        start = time.time()
        fut = p.send(topic_name, key=b"k", value=os.urandom(200_000))
        with pytest.raises(MessageSizeTooLargeError):
            fut.get(timeout=30)
        assert time.time() - start < 10
    finally:
        p.close(timeout=10)
    # kafka-python's idempotent producer (its default) treats the refusal as fatal for itself,
    # so the broker's continued service is checked with a new one.
    p = KafkaProducer(**conf)
    try:
        assert p.send(topic_name, key=b"k", value=b"small").get(timeout=30).offset == 0
    finally:
        p.close(timeout=10)
