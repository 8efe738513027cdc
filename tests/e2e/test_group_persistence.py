"""A group log that cannot be written: offset commits answer an error, never success, and
nothing is acknowledged that was not stored (issue 12, part 5).

The broker's data directory is a small tmpfs that the test fills up. Mounting needs root (or
CAP_SYS_ADMIN); without it the test is skipped.
"""

import errno
import os
import shutil
import subprocess
import tempfile
import time

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from kafka import KafkaAdminClient
from kafka import TopicPartition as KTopicPartition
from kafka import errors as Errors
from kafka.structs import OffsetAndMetadata

from conftest import Broker


@pytest.fixture
def small_disk():
    mnt = tempfile.mkdtemp(prefix="e2e-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        pytest.skip(f"cannot mount a tmpfs for a small data directory: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)
        shutil.rmtree(mnt, ignore_errors=True)


def fill(path):
    """Writes `path` until the filesystem is full."""
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
    # Whatever room a partial chunk left goes too.
    with open(path + ".tail", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 64)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e


def consumer(bootstrap, group):
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "socket.timeout.ms": 10000,
    })


def committed(bootstrap, group, topic):
    c = consumer(bootstrap, group)
    try:
        return [tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(2)], timeout=20)]
    finally:
        c.close()


def test_offset_commit_on_a_full_disk_fails_and_is_not_acknowledged(small_disk, topic_name):
    data = os.path.join(small_disk, "data")
    os.mkdir(data)
    b = Broker(data_dir=data)
    group = f"g-{topic_name}"
    try:
        b.start()
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
        from kafka.admin import NewTopic
        admin.create_topics([NewTopic(topic_name, num_partitions=2, replication_factor=1)])
        admin.close()
        # Metadata makes each commit larger than a page: tmpfs could otherwise take a small
        # one into the segment's last, already allocated page of a "full" disk.
        meta = "m" * 3000
        tps = lambda offset: [TopicPartition(topic_name, p, offset + p, metadata=meta) for p in range(2)]

        c = consumer(b.bootstrap, group)
        c.commit(offsets=tps(5), asynchronous=False)
        assert committed(b.bootstrap, group, topic_name) == [5, 6]

        # The disk fills up: a commit cannot be stored and must not be acknowledged.
        filler = os.path.join(small_disk, "filler")
        fill(filler)
        started = time.time()
        with pytest.raises(KafkaException) as failed:
            c.commit(offsets=tps(10), asynchronous=False)
        print("commit on a full disk:", failed.value, f"after {time.time() - started:.1f}s")
        assert committed(b.bootstrap, group, topic_name) == [5, 6], "an unstored commit is visible"

        # kafka-python's admin commits (OffsetCommit from another client) fail the same way
        # and read the same offsets back.
        admin = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=10000)
        results = admin.alter_group_offsets(group, {
            KTopicPartition(topic_name, p): OffsetAndMetadata(30 + p, meta, -1) for p in range(2)
        })
        print("kafka-python alter_group_offsets on a full disk:", results)
        assert all(err is not Errors.NoError for err in results.values()), results
        assert all(err is Errors.NotCoordinatorError for err in results.values()), results
        listed = admin.list_group_offsets(group)[group]
        admin.close()
        assert sorted(o.offset for o in listed.values()) == [5, 6]

        # Space returns: commits work again without a restart.
        os.remove(filler)
        os.remove(filler + ".tail")
        c.commit(offsets=tps(20), asynchronous=False)
        c.close()
        assert committed(b.bootstrap, group, topic_name) == [20, 21]

        # After a restart the offsets are exactly the last acknowledged ones.
        assert b.stop() == 0
        b.start()
        assert committed(b.bootstrap, group, topic_name) == [20, 21]
        out = "".join(b.output)
        assert "persisting coordinator records failed" in out, out[-3000:]
    finally:
        b.kill()
