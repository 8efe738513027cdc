"""Idempotent producers: confluent-kafka and kafka-python with idempotence on write every message
exactly once, in order per partition; and the broker's duplicate detection and sequence checks
seen on the wire (a retried batch is not appended twice, a sequence gap is refused)."""

from kafka import KafkaProducer

from helpers import (RawConnection, build_batch, consume_confluent, consume_kafka_python, create_topic,
                     high_watermarks, log_batches, parse_batch_values, produce_confluent, segment_files)

COUNT = 5000
PARTITIONS = 3

NONE, OUT_OF_ORDER_SEQUENCE_NUMBER, DUPLICATE_SEQUENCE_NUMBER = 0, 45, 46


def message(i):
    return f"key-{i % 53}".encode(), f"idem-{i}".encode(), [("i", str(i).encode())]


def check_exactly_once_in_order(records):
    """records: (partition, offset, value) as read back."""
    values = [v for _p, _o, v in records]
    assert len(values) == len(set(values)), "duplicates in the log"
    assert sorted(int(v.split(b"-")[1]) for v in values) == list(range(COUNT)), "messages missing"
    for p in range(PARTITIONS):
        part = sorted((o, int(v.split(b"-")[1])) for pp, o, v in records if pp == p)
        offsets = [o for o, _ in part]
        assert offsets == list(range(len(offsets))), f"partition {p}: offsets not contiguous from 0"
        indexes = [i for _, i in part]
        assert indexes == sorted(indexes), f"partition {p} out of production order"


def check_batches_carry_producer_state(broker, topic):
    for p in range(PARTITIONS):
        batches = [b for f in segment_files(broker.data_dir, topic, p) for b in log_batches(f)]
        assert batches
        pids = {b["producer_id"] for b in batches}
        assert len(pids) == 1 and min(pids) >= 0, f"partition {p}: producer ids {pids}"
        # Sequences are contiguous from 0: nothing appended twice, nothing skipped.
        seq = 0
        for b in batches:
            assert b["base_sequence"] == seq, f"partition {p}: batch at {b['base_offset']} has sequence {b['base_sequence']}, expected {seq}"
            seq += b["record_count"]


def test_confluent_idempotent_producer_writes_each_message_once_in_order(broker, topic_name):
    create_topic(broker, topic_name, PARTITIONS)
    reports = produce_confluent(broker, topic_name, [message(i) for i in range(COUNT)],
                                **{"enable.idempotence": True, "acks": "all", "linger.ms": 5})
    got = consume_kafka_python(broker, topic_name, COUNT, timeout=60)
    records = [(r.partition, r.offset, r.value) for r in got]
    check_exactly_once_in_order(records)
    # Each record is where its delivery report said.
    assert {(p, o): v for p, o, _k, v, _h in reports} == {(p, o): v for p, o, v in records}
    assert sum(high_watermarks(broker, topic_name, PARTITIONS)) == COUNT
    check_batches_carry_producer_state(broker, topic_name)


def test_kafka_python_idempotent_producer_writes_each_message_once_in_order(broker, topic_name):
    create_topic(broker, topic_name, PARTITIONS)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True, acks="all", linger_ms=5,
                      request_timeout_ms=30000, max_block_ms=30000)
    try:
        futures = []
        for i in range(COUNT):
            k, v, h = message(i)
            futures.append(p.send(topic_name, key=k, value=v, headers=h))
        p.flush(60)
        for f in futures:
            f.get(timeout=30)
    finally:
        p.close(timeout=10)
    got = consume_confluent(broker, topic_name, PARTITIONS, COUNT, timeout=60)
    records = [(m.partition(), m.offset(), m.value()) for m in got]
    check_exactly_once_in_order(records)
    check_batches_carry_producer_state(broker, topic_name)


def test_broker_drops_a_retried_batch_and_refuses_a_sequence_gap(broker, topic_name):
    create_topic(broker, topic_name, 1)
    with RawConnection(broker.bootstrap, timeout=30) as conn:
        error, pid, epoch = conn.init_producer_id()
        assert error == NONE and pid >= 0 and epoch >= 0

        first = build_batch([b"a0", b"a1", b"a2"], pid, epoch, 0)
        assert conn.produce(topic_name, 0, first) == (NONE, 0)
        # The same batch again, as a producer retrying after a lost response would send it:
        # acknowledged (Kafka answers with the original batch's offset) but not appended.
        error, offset = conn.produce(topic_name, 0, first)
        assert error in (NONE, DUPLICATE_SEQUENCE_NUMBER), f"retried batch answered with error {error}"
        if error == NONE:
            assert offset == 0, f"retried batch acknowledged at offset {offset}, not the original 0"

        assert conn.produce(topic_name, 0, build_batch([b"b3", b"b4"], pid, epoch, 3)) == (NONE, 3)
        # A gap in the sequence (5 expected) is refused.
        error, _ = conn.produce(topic_name, 0, build_batch([b"gap"], pid, epoch, 9))
        assert error == OUT_OF_ORDER_SEQUENCE_NUMBER, f"sequence gap answered with error {error}"
        # The producer can go on from where it really was.
        assert conn.produce(topic_name, 0, build_batch([b"c5"], pid, epoch, 5)) == (NONE, 5)

        error, hw, records = conn.fetch_result(conn.send_fetch(topic_name, 0, 0, max_wait_ms=0))
        assert (error, hw) == (NONE, 6)
        assert parse_batch_values(records) == [b"a0", b"a1", b"a2", b"b3", b"b4", b"c5"]
        # The connection is still usable: errors were answered, not punished by a disconnect.
        assert conn.api_versions() == NONE
