"""Each compression codec written by confluent-kafka and read back byte-exact by kafka-python and
by kcat; the broker keeps the producer's compressed batches as they were sent."""

import random

import pytest

from helpers import (consume_kafka_python, create_topic, kcat_consume, kcat_headers, log_batches, produce_confluent,
                     segment_files)

CODECS = ["gzip", "snappy", "lz4", "zstd"]
COUNT = 2000
PARTITIONS = 3


def message(i, codec):
    rnd = random.Random(i)
    # Compressible text with some binary noise (every byte value occurs somewhere).
    value = f"value-{i}-{codec}-".encode() * 8 + bytes(rnd.randrange(256) for _ in range(16))
    return f"key-{i % 31}".encode(), value, [("h", str(i).encode()), ("codec", codec.encode())]


@pytest.fixture(scope="module")
def produced(broker):
    """One topic per codec, produced once: codec -> (topic, delivery reports)."""
    cache = {}

    def get(codec, topic):
        if codec not in cache:
            create_topic(broker, topic, PARTITIONS)
            msgs = [message(i, codec) for i in range(COUNT)]
            reports = produce_confluent(broker, topic, msgs, **{"compression.type": codec, "linger.ms": 20})
            cache[codec] = (topic, reports)
        return cache[codec]

    return get


def by_position(reports):
    return {(part, off): (k, v, h) for part, off, k, v, h in reports}


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_reads_compressed_batches_byte_exact(broker, produced, topic_name, codec):
    topic, reports = produced(codec, topic_name)
    got = consume_kafka_python(broker, topic, COUNT, timeout=60)
    assert len(got) == COUNT
    expected = by_position(reports)
    assert {(r.partition, r.offset) for r in got} == set(expected)
    for r in got:
        k, v, h = expected[(r.partition, r.offset)]
        assert (r.key, r.value, [(n, bytes(x)) for n, x in r.headers]) == (k, v, h)
    # In order per partition.
    for p in range(PARTITIONS):
        offsets = [r.offset for r in got if r.partition == p]
        assert offsets == sorted(offsets)


@pytest.mark.parametrize("codec", CODECS)
def test_kcat_reads_compressed_batches_byte_exact(broker, produced, topic_name, codec):
    topic, reports = produced(codec, topic_name)
    got = kcat_consume(broker, topic)
    assert len(got) == COUNT
    expected = by_position(reports)
    for part, off, key, value, headers in got:
        k, v, h = expected[(part, off)]
        assert (key, value, headers) == (k, v, kcat_headers(h))
    assert {(part, off) for part, off, *_ in got} == set(expected)


@pytest.mark.parametrize("codec", CODECS)
def test_broker_stores_the_producers_compressed_batches(broker, produced, topic_name, codec):
    topic, reports = produced(codec, topic_name)
    batches = [b for p in range(PARTITIONS) for f in segment_files(broker.data_dir, topic, p) for b in log_batches(f)]
    assert batches, "no batches on disk"
    assert {b["codec"] for b in batches} == {codec}
    assert {b["magic"] for b in batches} == {2}
    assert sum(b["record_count"] for b in batches) == COUNT
