"""Durability across restarts: a clean restart keeps every topic, config and message; a kill -9
during an acks=all produce with log.flush.interval.messages=1 loses no acknowledged message;
recovery truncates a torn or corrupt tail and never serves it."""

import os
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource

from helpers import (RawConnection, build_batch, consume_confluent, create_topic, high_watermarks, log_batches,
                     parse_batch_values, produce_confluent, segment_files, temp_data_dir)

FLUSH_EVERY_MESSAGE = {"log.flush.interval.messages": "1"}
NONE = 0


def cluster_id(b):
    lines = [line for line in b.output if line.startswith("cluster id")]
    assert lines, "no cluster id line"
    return lines[0].split()[-1]


def message(topic, i):
    return f"key-{i % 17}".encode(), f"{topic}-value-{i}".encode(), [("i", str(i).encode())]


def read_all(b, topic, partitions, timeout=60):
    """{(partition, offset): (key, value, headers)} of the whole topic, read up to the high watermarks."""
    hws = high_watermarks(b, topic, partitions)
    got = consume_confluent(b, topic, partitions, sum(hws), timeout=timeout)
    out = {}
    for m in got:
        assert (m.partition(), m.offset()) not in out, f"offset {m.partition()}/{m.offset()} read twice"
        out[(m.partition(), m.offset())] = (m.key(), m.value(), m.headers() or [])
    assert len(out) == sum(hws), f"read {len(out)} records, high watermarks {hws}"
    for p, hw in enumerate(hws):
        assert sorted(o for pp, o in out if pp == p) == list(range(hw)), f"partition {p} has offset gaps"
    return out


def test_clean_restart_keeps_topics_configs_and_messages(broker_factory, topic_name):
    other = topic_name + "-other"
    with temp_data_dir() as d:
        b1 = broker_factory(data_dir=d)
        create_topic(b1, topic_name, 3)
        create_topic(b1, other, 1, config={"retention.ms": "3600000"})
        reports = produce_confluent(b1, topic_name, [message(topic_name, i) for i in range(3000)])
        reports += produce_confluent(b1, other, [message(other, i) for i in range(100)])
        before = cluster_id(b1)
        assert b1.stop() == 0, "broker did not exit cleanly on SIGTERM:\n" + "".join(b1.output[-20:])

        b2 = broker_factory(data_dir=d)
        try:
            assert cluster_id(b2) == before
            admin = AdminClient({"bootstrap.servers": b2.bootstrap})
            md = admin.list_topics(timeout=10)
            assert md.cluster_id == before
            assert len(md.topics[topic_name].partitions) == 3
            assert len(md.topics[other].partitions) == 1
            res = ConfigResource(ConfigResource.Type.TOPIC, other)
            assert admin.describe_configs([res])[res].result(timeout=30)["retention.ms"].value == "3600000"

            got = read_all(b2, topic_name, 3)
            got.update({(other, p, o): v for (p, o), v in read_all(b2, other, 1).items()})
            expected = {}
            for part, off, k, v, h in reports:
                pos = (part, off) if v.startswith(topic_name.encode() + b"-value") else (other, part, off)
                expected[pos] = (k, v, h)
            assert got == expected

            # The log ends where it ended: new messages continue the offsets.
            hws = high_watermarks(b2, topic_name, 3)
            more = produce_confluent(b2, topic_name, [message(topic_name, i) for i in range(3000, 3300)])
            for part, off, *_ in more:
                assert off >= hws[part]
            assert sum(high_watermarks(b2, topic_name, 3)) == 3300
        finally:
            b2.stop()


def test_kill_9_during_produce_loses_no_acknowledged_message(broker_factory, topic_name):
    with temp_data_dir() as d:
        b1 = broker_factory(data_dir=d, overrides=FLUSH_EVERY_MESSAGE)
        create_topic(b1, topic_name, 3)
        acked = []  # (partition, offset, value)
        failed = []
        stop = threading.Event()
        producer_error = []

        def produce():
            try:
                p = Producer({"bootstrap.servers": b1.bootstrap, "acks": "all", "linger.ms": 2,
                              "message.timeout.ms": 5000, "socket.timeout.ms": 5000})

                def cb(err, msg):
                    if err is None:
                        acked.append((msg.partition(), msg.offset(), msg.value()))
                    else:
                        failed.append(err)

                i = 0
                while not stop.is_set():
                    try:
                        p.produce(topic_name, f"kill-{i:08d}-".encode() + b"x" * 80, f"k{i % 29}".encode(), on_delivery=cb)
                        i += 1
                    except BufferError:
                        pass
                    p.poll(0.001 if i % 50 == 0 else 0)
                p.flush(20)
            except Exception as e:  # reported by the main thread
                producer_error.append(e)

        t = threading.Thread(target=produce, daemon=True)
        t.start()
        deadline = time.time() + 60
        while len(acked) < 3000 and time.time() < deadline and t.is_alive():
            time.sleep(0.05)
        n_at_kill = len(acked)
        b1.kill()
        time.sleep(1.0)  # the producer keeps trying against the dead broker
        stop.set()
        t.join(40)
        assert not t.is_alive(), "producer thread did not finish"
        assert producer_error == []
        assert n_at_kill >= 100, f"only {n_at_kill} messages acknowledged in 60s before the kill"

        b2 = broker_factory(data_dir=d, overrides=FLUSH_EVERY_MESSAGE)
        try:
            got = read_all(b2, topic_name, 3)
            for part, off, value in acked:
                assert (part, off) in got, f"acknowledged {value[:14]!r} at {part}/{off} is missing after kill -9"
                assert got[(part, off)][1] == value, f"{part}/{off} holds {got[(part, off)][1][:14]!r}, acknowledged {value[:14]!r}"
            values = [v for _k, v, _h in got.values()]
            assert len(values) == len(set(values)), "a message is in the log twice"
            assert all(v.startswith(b"kill-") for v in values)
            # Recovered logs take new writes at their end.
            hws = high_watermarks(b2, topic_name, 3)
            more = produce_confluent(b2, topic_name, [(b"k", b"after", [])])
            assert more[0][1] == hws[more[0][0]]
        finally:
            b2.stop()


def test_recovery_truncates_a_torn_or_corrupt_tail(broker_factory, topic_name):
    with temp_data_dir() as d:
        b1 = broker_factory(data_dir=d, overrides=FLUSH_EVERY_MESSAGE)
        create_topic(b1, topic_name, 2)
        values = {p: [f"p{p}-{i}".encode() for i in range(100)] for p in range(2)}
        with RawConnection(b1.bootstrap, timeout=30) as conn:
            for p in range(2):
                for i in range(0, 100, 10):
                    assert conn.produce(topic_name, p, build_batch(values[p][i:i + 10])) == (NONE, i)
        b1.kill()

        # Partition 0: a torn write, the first 40 bytes of a batch after the last full one.
        (seg0,) = segment_files(d, topic_name, 0)
        valid_end = os.path.getsize(seg0)
        torn = bytearray(build_batch([b"torn"] * 5))
        torn[0:8] = (100).to_bytes(8, "big")
        with open(seg0, "ab") as f:
            f.write(bytes(torn[:40]))
        # Partition 1: the last batch's last byte flipped, so its CRC no longer matches.
        (seg1,) = segment_files(d, topic_name, 1)
        last = log_batches(seg1)[-1]
        assert last["base_offset"] == 90
        with open(seg1, "r+b") as f:
            end = last["pos"] + 12 + last["length"] - 1
            f.seek(end)
            byte = f.read(1)
            f.seek(end)
            f.write(bytes([byte[0] ^ 0xFF]))

        b2 = broker_factory(data_dir=d, overrides=FLUSH_EVERY_MESSAGE)
        try:
            with RawConnection(b2.bootstrap, timeout=30) as conn:
                error, hw, records = conn.fetch_result(conn.send_fetch(topic_name, 0, 0, 0))
                assert (error, hw) == (NONE, 100), "partition 0 after a torn tail"
                assert parse_batch_values(records) == values[0]
                error, hw, records = conn.fetch_result(conn.send_fetch(topic_name, 1, 0, 0))
                assert (error, hw) == (NONE, 90), "partition 1 after a corrupt last batch"
                assert parse_batch_values(records) == values[1][:90]
                # Writes continue at the recovered ends, and read back whole.
                assert conn.produce(topic_name, 0, build_batch([b"after-0"])) == (NONE, 100)
                assert conn.produce(topic_name, 1, build_batch([b"after-1"])) == (NONE, 90)
                error, hw, records = conn.fetch_result(conn.send_fetch(topic_name, 0, 100, 0))
                assert (error, hw, parse_batch_values(records)) == (NONE, 101, [b"after-0"])
                error, hw, records = conn.fetch_result(conn.send_fetch(topic_name, 1, 90, 0))
                assert (error, hw, parse_batch_values(records)) == (NONE, 91, [b"after-1"])
            # The torn bytes are gone from the segment, not just skipped.
            batches = log_batches(seg0)
            assert batches[-1]["base_offset"] == 100
            assert os.path.getsize(seg0) == batches[-1]["pos"] + 12 + batches[-1]["length"]
            assert batches[-1]["pos"] == valid_end
        finally:
            b2.stop()


def test_duplicate_detection_and_producer_ids_survive_kill_9(broker_factory, topic_name):
    with temp_data_dir() as d:
        b1 = broker_factory(data_dir=d, overrides=FLUSH_EVERY_MESSAGE)
        create_topic(b1, topic_name, 1)
        with RawConnection(b1.bootstrap, timeout=30) as conn:
            error, pid, epoch = conn.init_producer_id()
            assert error == NONE
            for i in range(5):
                last = build_batch([f"m{i}".encode()], pid, epoch, i)
                assert conn.produce(topic_name, 0, last) == (NONE, i)
        b1.kill()

        b2 = broker_factory(data_dir=d, overrides=FLUSH_EVERY_MESSAGE)
        try:
            with RawConnection(b2.bootstrap, timeout=30) as conn:
                # The producer retries its last batch against the restarted broker: not appended again.
                error, offset = conn.produce(topic_name, 0, last)
                assert error in (NONE, 46), f"retried batch after restart answered with error {error}"
                if error == NONE:
                    assert offset == 4
                assert conn.produce(topic_name, 0, build_batch([b"m5"], pid, epoch, 5)) == (NONE, 5)
                error, hw, records = conn.fetch_result(conn.send_fetch(topic_name, 0, 0, 0))
                assert (error, hw) == (NONE, 6)
                assert parse_batch_values(records) == [f"m{i}".encode() for i in range(6)]
                # A new producer never gets an id handed out before the restart.
                error, pid2, _ = conn.init_producer_id()
                assert error == NONE and pid2 != pid
        finally:
            b2.stop()
