"""Unknown topics: with auto.create.topics.enable=false a produce fails with a clean error within
a bound (no hang) and creates nothing; with auto-create on (the default) it creates the topic."""

import time

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError, UnknownTopicOrPartitionError

from conftest import kcat
from helpers import RawConnection, build_batch, create_topic, produce_confluent

UNKNOWN_TOPIC_OR_PARTITION, MESSAGE_TOO_LARGE = 3, 10


@pytest.fixture
def no_auto_create(broker_factory):
    return broker_factory(overrides={"auto.create.topics.enable": "false"})


def assert_topic_absent(b, topic):
    md = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(topic=topic, timeout=10)
    t = md.topics.get(topic)
    assert t is not None and t.error is not None and t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, \
        f"metadata for {topic}: {t and t.error}"
    assert topic not in AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=10).topics


def test_confluent_produce_to_unknown_topic_fails_cleanly(no_auto_create, topic_name):
    b = no_auto_create
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "message.timeout.ms": 5000,
                  # librdkafka waits this long before believing a topic does not exist (default 30 s)
                  "topic.metadata.propagation.max.ms": 1000})
    errors = []
    start = time.time()
    p.produce(topic_name, b"v", b"k", on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(20) == 0, "no delivery report: the produce hung"
    elapsed = time.time() - start
    assert len(errors) == 1 and errors[0] is not None, "produce to an unknown topic succeeded with auto-create off"
    assert errors[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC), errors[0]
    assert elapsed < 10, f"the error took {elapsed:.1f}s"
    assert_topic_absent(b, topic_name)


def test_kafka_python_produce_to_unknown_topic_fails_cleanly(no_auto_create, topic_name):
    b = no_auto_create
    p = KafkaProducer(bootstrap_servers=b.bootstrap, max_block_ms=3000, request_timeout_ms=10000)
    try:
        start = time.time()
        with pytest.raises((KafkaTimeoutError, UnknownTopicOrPartitionError)):
            p.send(topic_name, key=b"k", value=b"v").get(timeout=10)
        elapsed = time.time() - start
        assert elapsed < 10, f"the error took {elapsed:.1f}s"
    finally:
        p.close(timeout=5)
    assert_topic_absent(b, topic_name)


def test_kcat_produce_to_unknown_topic_fails_cleanly(no_auto_create, topic_name):
    b = no_auto_create
    start = time.time()
    with pytest.raises(RuntimeError) as e:
        kcat("-b", b.bootstrap, "-P", "-t", topic_name, "-X", "message.timeout.ms=5000",
             "-X", "topic.metadata.propagation.max.ms=1000", input=b"v\n", timeout=30)
    assert time.time() - start < 15
    assert "Unknown topic" in str(e.value) or "UNKNOWN_TOPIC" in str(e.value), str(e.value)
    assert_topic_absent(b, topic_name)


def test_raw_produce_to_unknown_topic_gets_the_error_code(no_auto_create, topic_name):
    b = no_auto_create
    with RawConnection(b.bootstrap, timeout=15) as conn:
        error, _ = conn.produce(topic_name, 0, build_batch([b"v"]))
        assert error == UNKNOWN_TOPIC_OR_PARTITION
        error, _hw, _records = conn.fetch_result(conn.send_fetch(topic_name, 0, 0, max_wait_ms=0))
        assert error == UNKNOWN_TOPIC_OR_PARTITION
        assert conn.api_versions() == 0  # answered, connection kept
    assert_topic_absent(b, topic_name)


def test_produce_error_responses_carry_no_offset(no_auto_create, topic_name):
    """Kafka answers a refused partition with base_offset -1 (INVALID_OFFSET), never a real offset."""
    b = no_auto_create
    create_topic(b, topic_name, 1)
    with RawConnection(b.bootstrap, timeout=15) as conn:
        assert conn.produce(topic_name + "-unknown", 0, build_batch([b"v"])) == (UNKNOWN_TOPIC_OR_PARTITION, -1)
        assert conn.produce(topic_name, 5, build_batch([b"v"])) == (UNKNOWN_TOPIC_OR_PARTITION, -1)
        assert conn.produce(topic_name, 0, build_batch([b"x" * 1_100_000])) == (MESSAGE_TOO_LARGE, -1)


def test_produce_to_a_new_topic_auto_creates_it(broker, topic_name):
    reports = produce_confluent(broker, topic_name, [(b"k", f"v{i}".encode(), []) for i in range(10)],
                                timeout=30, **{"message.timeout.ms": 20000})
    assert [off for _p, off, *_ in reports] == list(range(10))
    md = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(topic=topic_name, timeout=10)
    assert md.topics[topic_name].error is None
    assert len(md.topics[topic_name].partitions) == 1  # num.partitions
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic_name, "-o", "beginning", "-e", "-q", "-f", "%s\n")
    assert out.decode().splitlines() == [f"v{i}" for i in range(10)]
