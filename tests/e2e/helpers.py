"""Helpers shared by the end-to-end tests: topic creation, producing and consuming with each
client, kcat output that survives binary payloads, a raw wire-protocol client for the checks no
client library exposes (long-poll timing, duplicate batches), and a reader of the on-disk log.

Every helper takes a timeout or deadline, so a broken broker fails a test instead of hanging it.
"""

import contextlib
import glob
import os
import shutil
import socket
import struct
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KpTopicPartition

from conftest import kcat


# ---------------------------------------------------------------------------------------------
# Topics, producing, consuming


def create_topic(broker, name, partitions=3, config=None, timeout=30):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    fut = admin.create_topics([NewTopic(name, partitions, 1, config=dict(config or {}))], operation_timeout=10)
    fut[name].result(timeout=timeout)


def produce_confluent(broker, topic, messages, timeout=60, **config):
    """Produces `messages` ((key, value, headers) tuples) and returns the delivery reports as
    (partition, offset, key, value, headers), in production order. Fails on any delivery error."""
    conf = {"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5, "message.timeout.ms": 30000}
    conf.update(config)
    p = Producer(conf)
    reports = [None] * len(messages)
    errors = []

    def on_delivery(i):
        def cb(err, msg):
            if err is not None:
                errors.append((i, err))
            else:
                reports[i] = (msg.partition(), msg.offset())
        return cb

    for i, (k, v, h) in enumerate(messages):
        while True:
            try:
                p.produce(topic, v, k, headers=h, on_delivery=on_delivery(i))
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                p.poll(0.1)
        p.poll(0)
    left = p.flush(timeout)
    assert left == 0, f"{left} messages not delivered within {timeout}s"
    assert errors == [], f"delivery errors: {errors[:5]}"
    return [(part, off, k, v, h) for (part, off), (k, v, h) in zip(reports, messages)]


def consume_kafka_python(broker, topic, expected, timeout=60, **config):
    """Reads `topic` from the beginning with kafka-python (assign, no group) until `expected`
    records have arrived or `timeout` has passed."""
    conf = dict(bootstrap_servers=broker.bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000,
                request_timeout_ms=30000)
    conf.update(config)
    c = KafkaConsumer(**conf)
    try:
        parts = c.partitions_for_topic(topic)
        assert parts, f"kafka-python sees no partitions for {topic}"
        c.assign([KpTopicPartition(topic, p) for p in sorted(parts)])
        c.seek_to_beginning()
        got = []
        deadline = time.time() + timeout
        while len(got) < expected and time.time() < deadline:
            for records in c.poll(timeout_ms=1000).values():
                got.extend(records)
        # A little longer, to see records that should not be there.
        for records in c.poll(timeout_ms=500).values():
            got.extend(records)
        return got
    finally:
        c.close()


def consume_confluent(broker, topic, partitions, expected, timeout=60, **config):
    """Reads partitions 0..partitions-1 of `topic` from offset 0 with confluent-kafka (assign)."""
    conf = {"bootstrap.servers": broker.bootstrap, "group.id": "e2e-unused", "enable.auto.commit": False,
            "check.crcs": True}
    conf.update(config)
    c = Consumer(conf)
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got = []
        deadline = time.time() + timeout
        while len(got) < expected and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got.append(m)
        while True:  # drain whatever else is there, briefly
            m = c.poll(0.5)
            if m is None:
                break
            assert m.error() is None, m.error()
            got.append(m)
        return got
    finally:
        c.close()


def high_watermarks(broker, topic, partitions, timeout=10):
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "e2e-unused", "enable.auto.commit": False})
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in range(partitions)]
    finally:
        c.close()


def kcat_consume(broker, topic, timeout=60):
    """Reads the whole topic with kcat and returns (partition, offset, key, value, headers) tuples.

    The format prefixes key and value with their lengths, so binary payloads parse exactly;
    headers come as kcat prints them (`n=v` CSV, which needs printable header values)."""
    fmt = "%p %o %K %S\n%k%s\n%h\n"
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", fmt, timeout=timeout)
    records = []
    pos = 0
    while pos < len(out):
        nl = out.index(b"\n", pos)
        part, off, klen, vlen = (int(x) for x in out[pos:nl].split(b" "))
        pos = nl + 1
        key = None if klen < 0 else out[pos:pos + klen]
        pos += max(klen, 0)
        value = None if vlen < 0 else out[pos:pos + vlen]
        pos += max(vlen, 0)
        assert out[pos:pos + 1] == b"\n", f"kcat output out of step at byte {pos}"
        pos += 1
        nl = out.index(b"\n", pos)
        headers = out[pos:nl]
        pos = nl + 1
        records.append((part, off, key, value, headers))
    return records


def kcat_headers(headers):
    """How kcat's %h prints a header list of printable (name, value) pairs."""
    return b",".join(k.encode() + b"=" + v for k, v in headers)


# ---------------------------------------------------------------------------------------------
# Data directories


@contextlib.contextmanager
def temp_data_dir():
    """A data directory that outlives broker restarts and is removed at the end.

    Brokers using it must be stopped or killed inside the `with` block."""
    d = tempfile.mkdtemp(prefix="e2e-restart-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def partition_dir(data_dir, topic, partition):
    path = os.path.join(data_dir, f"{topic}-{partition}")
    assert os.path.isdir(path), f"no partition directory {path}: {os.listdir(data_dir)}"
    return path


def segment_files(data_dir, topic, partition):
    return sorted(glob.glob(os.path.join(partition_dir(data_dir, topic, partition), "*.log")))


BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")  # through recordCount: 61 bytes
CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def log_batches(path):
    """The record batch headers of a segment file, as dicts (with `pos`, the batch's position)."""
    with open(path, "rb") as f:
        data = f.read()
    out = []
    pos = 0
    while pos + 12 <= len(data):
        base_offset, length = struct.unpack_from(">qi", data, pos)
        if length <= 0 or pos + 12 + length > len(data):
            break
        (base_offset, length, leader_epoch, magic, crc, attributes, last_offset_delta, first_ts, max_ts,
         producer_id, producer_epoch, base_sequence, record_count) = BATCH_HEADER.unpack_from(data, pos)
        out.append(dict(pos=pos, base_offset=base_offset, length=length, magic=magic, crc=crc,
                        attributes=attributes, codec=CODECS.get(attributes & 7, attributes & 7),
                        last_offset_delta=last_offset_delta, producer_id=producer_id,
                        producer_epoch=producer_epoch, base_sequence=base_sequence, record_count=record_count))
        pos += 12 + length
    return out


# ---------------------------------------------------------------------------------------------
# A raw wire-protocol client (non-flexible request versions only)


def _str(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _bytes(b):
    if b is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(b)) + b


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def bytes(self):
        n = self.take(">i")
        if n < 0:
            return None
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def array(self, item):
        n = self.take(">i")
        return None if n < 0 else [item(self) for _ in range(n)]


class RawConnection:
    """One connection speaking request header v1 / response header v0."""

    def __init__(self, bootstrap, timeout=30):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.settimeout(timeout)
        self.correlation = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, api_key, version, body):
        self.correlation += 1
        header = struct.pack(">hhi", api_key, version, self.correlation) + _str("e2e-raw")
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        return self.correlation

    def _read_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return bytes(buf)

    def receive(self, correlation):
        size = struct.unpack(">i", self._read_exact(4))[0]
        frame = self._read_exact(size)
        got = struct.unpack_from(">i", frame)[0]
        assert got == correlation, f"correlation id {got}, expected {correlation}"
        return Reader(frame[4:])

    def request(self, api_key, version, body):
        return self.receive(self.send(api_key, version, body))

    # -- the requests the tests use --

    def init_producer_id(self):
        """InitProducerId v0 without a transactional id: (error_code, producer_id, epoch)."""
        r = self.request(22, 0, _str(None) + struct.pack(">i", 60000))
        _throttle, error, pid, epoch = r.take(">i"), r.take(">h"), r.take(">q"), r.take(">h")
        return error, pid, epoch

    def produce(self, topic, partition, records, acks=-1, timeout_ms=10000):
        """Produce v3 of one batch: (error_code, base_offset)."""
        body = _str(None) + struct.pack(">hi", acks, timeout_ms) + struct.pack(">i", 1) + _str(topic)
        body += struct.pack(">i", 1) + struct.pack(">i", partition) + _bytes(records)
        r = self.request(0, 3, body)

        def part(r):
            return r.take(">i"), r.take(">h"), r.take(">q"), r.take(">q")

        topics = r.array(lambda r: (r.string(), r.array(part)))
        (_name, [(_idx, error, base_offset, _ts)]) = topics[0]
        return error, base_offset

    def send_fetch(self, topic, partition, offset, max_wait_ms, min_bytes=1, max_bytes=1 << 20):
        """Sends Fetch v4 (one partition) and returns its correlation id; see `fetch_result`."""
        body = struct.pack(">iiiib", -1, max_wait_ms, min_bytes, max_bytes, 0)
        body += struct.pack(">i", 1) + _str(topic) + struct.pack(">i", 1)
        body += struct.pack(">iqi", partition, offset, max_bytes)
        return self.send(1, 4, body)

    def fetch_result(self, correlation):
        """(error_code, high_watermark, records bytes) of a Fetch v4 sent by `send_fetch`."""
        r = self.receive(correlation)
        r.take(">i")

        def part(r):
            idx, error, hw, _lso = r.take(">i"), r.take(">h"), r.take(">q"), r.take(">q")
            r.array(lambda r: (r.take(">q"), r.take(">q")))
            return idx, error, hw, r.bytes()

        topics = r.array(lambda r: (r.string(), r.array(part)))
        (_name, [(_idx, error, hw, records)]) = topics[0]
        return error, hw, records or b""

    def find_coordinator(self, group):
        """FindCoordinator v1 for a group: (error_code, node_id, host, port)."""
        r = self.request(10, 1, _str(group) + struct.pack(">b", 0))
        r.take(">i")
        error = r.take(">h")
        r.string()
        return error, r.take(">i"), r.string(), r.take(">i")

    def api_versions(self):
        """ApiVersions v0: the error code."""
        r = self.request(18, 0, b"")
        return r.take(">h")


def build_batch(values, producer_id=-1, producer_epoch=-1, base_sequence=-1):
    """A magic v2 record batch (uncompressed) built by kafka-python's own record builder."""
    from kafka.record.default_records import DefaultRecordBatchBuilder

    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                  producer_id=producer_id, producer_epoch=producer_epoch,
                                  base_sequence=base_sequence, batch_size=1 << 20)
    now = int(time.time() * 1000)
    for offset, v in enumerate(values):
        assert b.append(offset, now, None, v, []) is not None
    return bytes(b.build())


def parse_batch_values(records):
    """The values of every record in fetched record bytes (kafka-python's reader)."""
    from kafka.record import MemoryRecords

    out = []
    mr = MemoryRecords(records)
    while mr.has_next():
        batch = mr.next_batch()
        if batch is None:
            break
        for rec in batch:
            out.append(rec.value)
    return out
