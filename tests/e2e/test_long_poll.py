"""Long-poll fetch: a Fetch with max.wait.ms waits that long when no data comes, returns as soon
as an append arrives, and parked fetches hold no handler thread.

Timing assertions only state the direction, with wide margins: "returned well before max wait"
(data arrived) or "did not return early" (no data)."""

import time

from confluent_kafka import Consumer, Producer, TopicPartition

from helpers import RawConnection, build_batch, create_topic, parse_batch_values

MAX_WAIT_MS = 3000
NONE = 0


def test_fetch_with_no_data_returns_empty_after_max_wait(broker, topic_name):
    create_topic(broker, topic_name, 1)
    with RawConnection(broker.bootstrap, timeout=30) as conn:
        start = time.time()
        error, hw, records = conn.fetch_result(conn.send_fetch(topic_name, 0, 0, MAX_WAIT_MS, min_bytes=1))
        elapsed = time.time() - start
    assert (error, hw, records) == (NONE, 0, b"")
    assert elapsed >= 0.8 * MAX_WAIT_MS / 1000, f"empty fetch returned after {elapsed:.2f}s, before max wait"
    assert elapsed < MAX_WAIT_MS / 1000 + 5, f"empty fetch took {elapsed:.2f}s"


def test_fetch_returns_as_soon_as_data_is_appended(broker, topic_name):
    create_topic(broker, topic_name, 1)
    with RawConnection(broker.bootstrap, timeout=30) as fetcher, RawConnection(broker.bootstrap, timeout=30) as producer:
        assert producer.api_versions() == NONE  # connected and served before the clock starts
        start = time.time()
        correlation = fetcher.send_fetch(topic_name, 0, 0, MAX_WAIT_MS, min_bytes=1)
        time.sleep(0.5)
        assert producer.produce(topic_name, 0, build_batch([b"wake up"]), acks=1) == (NONE, 0)
        error, hw, records = fetcher.fetch_result(correlation)
        elapsed = time.time() - start
    assert (error, hw) == (NONE, 1)
    assert parse_batch_values(records) == [b"wake up"]
    assert elapsed < 2.0, f"fetch answered {elapsed:.2f}s after it was sent (max wait {MAX_WAIT_MS} ms): not woken by the append"


def test_fetch_waits_for_min_bytes_until_max_wait(broker, topic_name):
    create_topic(broker, topic_name, 1)
    with RawConnection(broker.bootstrap, timeout=30) as conn:
        assert conn.produce(topic_name, 0, build_batch([b"small"]), acks=1) == (NONE, 0)
        start = time.time()
        error, hw, records = conn.fetch_result(conn.send_fetch(topic_name, 0, 0, 2000, min_bytes=1 << 20))
        elapsed = time.time() - start
    assert (error, hw) == (NONE, 1)
    assert parse_batch_values(records) == [b"small"]
    assert elapsed >= 1.5, f"fetch with min.bytes unmet returned after {elapsed:.2f}s, before max wait"
    assert elapsed < 2 + 5


def test_parked_fetches_do_not_hold_handler_threads(broker, topic_name):
    # The broker fixture runs num.io.threads=4: park twice as many fetches.
    create_topic(broker, topic_name, 1)
    fetchers = [RawConnection(broker.bootstrap, timeout=30) for _ in range(8)]
    try:
        with RawConnection(broker.bootstrap, timeout=30) as other:
            assert other.api_versions() == NONE
            start = time.time()
            correlations = [f.send_fetch(topic_name, 0, 0, MAX_WAIT_MS) for f in fetchers]
            time.sleep(0.5)
            t = time.time()
            assert other.api_versions() == NONE
            assert other.produce(topic_name, 0, build_batch([b"for everyone"]), acks=1) == (NONE, 0)
            served = time.time() - t
            results = [f.fetch_result(c) for f, c in zip(fetchers, correlations)]
            elapsed = time.time() - start
    finally:
        for f in fetchers:
            f.close()
    assert served < 1.5, f"with 8 fetches parked, ApiVersions + Produce took {served:.2f}s"
    for error, hw, records in results:
        assert (error, hw) == (NONE, 1)
        assert parse_batch_values(records) == [b"for everyone"]
    assert elapsed < 2.5, f"parked fetches answered after {elapsed:.2f}s (max wait {MAX_WAIT_MS} ms)"


def test_consumer_long_poll_idle_and_produce_latency(broker, topic_name):
    create_topic(broker, topic_name, 1)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "e2e-unused", "enable.auto.commit": False,
                  "fetch.wait.max.ms": MAX_WAIT_MS, "fetch.min.bytes": 1})
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "1", "linger.ms": 0, "message.timeout.ms": 10000})
    try:
        c.assign([TopicPartition(topic_name, 0, 0)])

        # Nothing produced: polling across more than one max wait yields nothing, and no error.
        deadline = time.time() + MAX_WAIT_MS / 1000 + 1.5
        while time.time() < deadline:
            m = c.poll(0.5)
            assert m is None, f"idle consumer got {m.error() or m.value()}"

        def receive(expected, timeout=10):
            deadline = time.time() + timeout
            while time.time() < deadline:
                m = c.poll(0.05)
                if m is None:
                    continue
                assert m.error() is None, m.error()
                assert m.value() == expected
                return time.time()
            raise AssertionError(f"{expected!r} not received within {timeout}s")

        latencies = []
        for i in range(3):
            time.sleep(1.0)  # the consumer's fetch is parked on the broker by now
            sent = time.time()
            p.produce(topic_name, f"m{i}".encode())
            p.poll(0)
            latencies.append(receive(f"m{i}".encode()) - sent)
        assert p.flush(10) == 0
        assert max(latencies) < 1.5, f"produce-to-consume latencies {latencies} with fetch.wait.max.ms={MAX_WAIT_MS}"
    finally:
        c.close()
