"""Crash torture (issue 18): a broker with `log.flush.interval.messages=1` under idempotent
acks=all producers and a committing consumer group, killed with SIGKILL at seeded random moments
and restarted, cycle after cycle; with `--corrupt`, files are damaged between cycles.

After every kill, with the broker down, the segment files are read directly (an independent
decoder: kafka-python's, with the C crc32c): every complete batch has a valid CRC, offsets are
dense, and only the last segment of a partition may end in a torn (incomplete) batch. After the
restart the whole topic is read back through Fetch with CRC checks and compared with what the
producers were told: every acknowledged record is present exactly once, at the offset it was
acknowledged at, and the group's committed offset of each partition is the last acknowledged
commit or one attempted after it.

`--corrupt` damages, between kill and restart, one of (seeded choice):
- the tail of a partition's active segment (records in the cut bytes are reported as
  destroyed-by-test, not lost: they were removed by the test, after acknowledgement);
- an offset or time index (truncated or overwritten with garbage);
- a checkpoint file overwritten with garbage or emptied: the recovery point
  (`offsets.checkpoint`), a producer snapshot, `leader-epoch-checkpoint`, the broker's
  `producer-ids.checkpoint`, or the group log's (`__consumer_offsets-0`) checkpoints and index.
Recovery must repair or rebuild: nothing else may be lost, nothing served corrupt.

Run with `cargo xtask torture [--cycles N] [--seed S] [--corrupt]`, or directly:
`python tests/e2e/torture.py --broker-bin target/debug/broker --cycles 10`. Prints a report and
exits non-zero if anything acknowledged was lost or duplicated, or a check failed.
"""

import argparse
import glob
import json
import os
import random
import shutil
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from kafka.record.default_records import DefaultRecordBatch  # noqa: E402
from kafka.record.util import calc_crc32c  # noqa: E402

import conftest  # noqa: E402
from conftest import Broker  # noqa: E402

TOPIC = "torture"
GROUP = "torture-group"
OFFSETS_DIR = "__consumer_offsets-0"
BROKER_SETTINGS = {
    "log.flush.interval.messages": "1",
    "group.initial.rebalance.delay.ms": "0",
    # Small segments, so that rolls, sealed segments and their indexes are part of every run.
    "log.segment.bytes": "262144",
}


class CheckFailed(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Reading segment files


def read_segment(path):
    """(batches, torn_bytes) of a segment file: each batch as (pos, end, base_offset,
    last_offset, crc_ok, values); torn_bytes counts what follows the last complete batch."""
    with open(path, "rb") as f:
        data = f.read()
    batches = []
    pos = 0
    while pos + 12 <= len(data):
        base_offset, length = struct.unpack_from(">qi", data, pos)
        if length < 49 or pos + 12 + length > len(data):
            break
        raw = data[pos:pos + 12 + length]
        stored_crc = struct.unpack_from(">I", raw, 17)[0]
        crc_ok = raw[16] == 2 and calc_crc32c(memoryview(raw)[21:]) == stored_crc
        values = []
        last_offset = base_offset + struct.unpack_from(">i", raw, 23)[0]
        if crc_ok:
            batch = DefaultRecordBatch(raw)
            if not batch.is_control_batch:
                values = [r.value for r in batch]
        batches.append((pos, pos + 12 + length, base_offset, last_offset, crc_ok, values))
        pos += 12 + length
    return batches, len(data) - pos


def partition_dirs(data_dir):
    out = {}
    for d in glob.glob(os.path.join(data_dir, f"{TOPIC}-*")):
        out[int(d.rsplit("-", 1)[1])] = d
    return out


def scan_disk(data_dir, partitions):
    """Checks the topic's segment files with the broker down. Returns
    ({partition: [(base_offset, last_offset, end, values, segment_path)]}, torn_bytes, problems)."""
    problems = []
    torn = 0
    layout = {}
    dirs = partition_dirs(data_dir)
    for p in range(partitions):
        d = dirs.get(p)
        if d is None:
            problems.append(f"partition {p}: no directory")
            continue
        segs = sorted(glob.glob(os.path.join(d, "*.log")))
        expected_next = None
        batches_out = []
        for i, seg in enumerate(segs):
            batches, tail = read_segment(seg)
            if tail and i + 1 < len(segs):
                problems.append(f"{seg}: {tail} torn bytes in a sealed segment")
            torn += tail
            for pos, end, base, last, crc_ok, values in batches:
                if not crc_ok:
                    problems.append(f"{seg}@{pos}: batch {base}..{last} fails its CRC")
                if expected_next is not None and base != expected_next:
                    problems.append(f"{seg}@{pos}: batch starts at {base}, expected {expected_next}")
                expected_next = last + 1
                batches_out.append((base, last, end, values, seg))
        layout[p] = batches_out
    return layout, torn, problems


# ---------------------------------------------------------------------------------------------
# Load: idempotent producers and a committing consumer group


class Load:
    def __init__(self, bootstrap, partitions, producers, seed, rate):
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.n_producers = producers
        self.seed = seed
        self.rate = rate
        # Guards the commit log only. Delivery callbacks take no lock: they can run inside any
        # call into a producer, including its destruction, which may come at any moment; they
        # append to lists (atomic in CPython) that the driver folds in with `acked()`.
        self.lock = threading.Lock()
        self.retired = []
        self.deliveries = []  # (value, partition, offset), in delivery order
        self._acked = {}  # value -> (partition, offset), the latest acknowledgement
        self._folded = 0
        self.failures = []  # error names of failed deliveries
        self.fatal_errors = 0
        self.produced = [0] * producers
        # partition -> [(offset, status)], status in "pending", "ok", "err"
        self.commits = {p: [] for p in range(partitions)}
        self.commit_pause = threading.Event()
        self.stop = threading.Event()
        self.threads = []
        self.errors = []

    def start(self):
        for i in range(self.n_producers):
            self.threads.append(threading.Thread(target=self._guard(self._produce, i), daemon=True))
        self.threads.append(threading.Thread(target=self._guard(self._consume), daemon=True))
        for t in self.threads:
            t.start()

    def _guard(self, fn, *args):
        def run():
            try:
                fn(*args)
            except Exception as e:  # reported by the driver
                self.errors.append(f"{fn.__name__}{args}: {e!r}")
                print(f"load thread {fn.__name__}{args} failed: {e!r}", flush=True)
        return run

    def _new_producer(self):
        return Producer({
            "bootstrap.servers": self.bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 120000,
            "queue.buffering.max.messages": 2000,
            "reconnect.backoff.max.ms": 200,
            "log_level": 0,
        })

    def _produce(self, idx):
        rng = random.Random(self.seed * 1000 + idx)
        producer = self._new_producer()
        fatal = []
        n = 0

        def on_delivery(err, msg):
            if err is None:
                self.deliveries.append((msg.value(), msg.partition(), msg.offset()))
            else:
                self.failures.append(err.name())
                if err.fatal():
                    fatal.append(err)

        def is_fatal(e):
            err = e.args[0] if e.args else None
            return isinstance(err, KafkaError) and (err.fatal() or err.code() == KafkaError._FATAL)

        while not self.stop.is_set():
            try:
                if fatal:
                    # An idempotent producer that hit a fatal error (OUT_OF_ORDER_SEQUENCE_NUMBER
                    # after the test cut records from under it) is replaced: its acknowledged
                    # records stay checked; a new producer id carries on.
                    self.fatal_errors += 1
                    fatal.clear()
                    # Kept, so that it is not destroyed (and its callbacks run) at a random moment.
                    self.retired.append(producer)
                    producer = self._new_producer()
                value = f"p{idx}-{n:09d}-".encode() + b"x" * rng.randint(10, 200)
                try:
                    producer.produce(TOPIC, value, f"k{rng.randint(0, 999)}".encode(), on_delivery=on_delivery)
                    n += 1
                    self.produced[idx] += 1
                except BufferError:
                    producer.poll(0.05)
                producer.poll(0)
            except KafkaException as e:
                # A fatal error surfaces from any call once it has happened.
                if not is_fatal(e):
                    raise
                fatal.append(e.args[0])
                continue
            if self.rate and n % 20 == 0:
                # Paced, so that reading the whole topic back after each cycle stays cheap.
                time.sleep(20.0 / self.rate)
        try:
            left = producer.flush(60)
        except KafkaException as e:
            if not is_fatal(e):
                raise
            left = 0
        if left:
            self.errors.append(f"producer {idx}: {left} records not delivered within 60 s of the end")
        for old in self.retired:
            try:
                old.flush(0)
            except KafkaException:
                pass

    def _consume(self):
        c = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": GROUP,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000,
            "reconnect.backoff.max.ms": 200,
            "log_level": 0,
        })
        c.subscribe([TOPIC])
        position = {}
        last_commit = time.time()
        try:
            while not self.stop.is_set():
                m = c.poll(0.1)
                if m is not None and m.error() is None:
                    position[m.partition()] = m.offset() + 1
                if self.commit_pause.is_set() or time.time() - last_commit < 0.3 or not position:
                    continue
                last_commit = time.time()
                snapshot = dict(position)
                with self.lock:
                    slots = {p: len(self.commits[p]) for p in snapshot}
                    for p, o in snapshot.items():
                        self.commits[p].append([o, "pending"])
                try:
                    c.commit(offsets=[TopicPartition(TOPIC, p, o) for p, o in snapshot.items()], asynchronous=False)
                    status = "ok"
                except KafkaException:
                    status = "err"
                with self.lock:
                    for p, i in slots.items():
                        self.commits[p][i][1] = status
        finally:
            c.close()

    def acked(self):
        """{value: (partition, offset)} of every acknowledged record (driver thread only)."""
        n = len(self.deliveries)
        for i in range(self._folded, n):
            v, p, o = self.deliveries[i]
            self._acked[v] = (p, o)
        self._folded = n
        return self._acked

    def finish(self, timeout=90):
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
        if any(t.is_alive() for t in self.threads):
            self.errors.append("a load thread did not finish")


def committed_offsets(bootstrap, partitions):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(TOPIC, p) for p in range(partitions)], timeout=30)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def read_topic(bootstrap, partitions, timeout=120):
    """{partition: [(offset, value)]} of the whole topic up to the high watermarks taken first,
    read through Fetch with CRC checks."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "torture-verifier", "enable.auto.commit": False,
                  "check.crcs": True, "enable.partition.eof": False, "fetch.max.bytes": 16 << 20})
    try:
        hws = {p: c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=30)[1] for p in range(partitions)}
        c.assign([TopicPartition(TOPIC, p, 0) for p in range(partitions) if hws[p] > 0])
        out = {p: [] for p in range(partitions)}
        remaining = {p for p in range(partitions) if hws[p] > 0}
        deadline = time.time() + timeout
        while remaining and time.time() < deadline:
            for m in c.consume(10000, 0.5):
                if m.error() is not None:
                    raise CheckFailed(f"fetch error: {m.error()}")
                p = m.partition()
                if m.offset() < hws[p]:
                    out[p].append((m.offset(), m.value()))
                if m.offset() + 1 >= hws[p]:
                    remaining.discard(p)
        if remaining:
            raise CheckFailed(f"could not read partitions {sorted(remaining)} up to {hws} in {timeout}s")
        return hws, out
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------
# Corruption


def garbage(rng, n):
    return bytes(rng.getrandbits(8) for _ in range(n))


def corrupt(rng, data_dir, partitions, layout):
    """Damages one file; returns (description, destroyed values, whether committed offsets
    may have been destroyed)."""
    dirs = partition_dirs(data_dir)
    kind = rng.choice(["tail", "tail", "index", "checkpoint", "checkpoint", "group", "group-tail"])
    if kind == "group-tail":
        segs = sorted(glob.glob(os.path.join(data_dir, OFFSETS_DIR, "*.log")))
        size = os.path.getsize(segs[-1]) if segs else 0
        if size == 0:
            return "group-tail: the group log is empty, nothing cut", set(), False
        cut = rng.randint(1, min(size, 1024))
        with open(segs[-1], "r+b") as f:
            f.truncate(size - cut)
        return f"group-tail: cut {cut} of {size} bytes of {os.path.relpath(segs[-1], data_dir)}", set(), True
    if kind == "tail":
        p = rng.randrange(partitions)
        segs = sorted(glob.glob(os.path.join(dirs[p], "*.log")))
        seg = segs[-1]
        size = os.path.getsize(seg)
        if size == 0:
            return f"tail: {seg} empty, nothing cut", set(), False
        cut = rng.randint(1, min(size, 4096))
        new_size = size - cut
        with open(seg, "r+b") as f:
            f.truncate(new_size)
        destroyed = set()
        for _base, _last, end, values, path in layout.get(p, []):
            if path == seg and end > new_size:
                destroyed.update(values)
        return f"tail: cut {cut} of {size} bytes of {os.path.relpath(seg, data_dir)}", destroyed, False
    if kind == "index":
        p = rng.randrange(partitions)
        files = sorted(glob.glob(os.path.join(dirs[p], "*.index")) + glob.glob(os.path.join(dirs[p], "*.timeindex")))
        if not files:
            return f"index: partition {p} has no index file yet", set(), False
        return _damage(rng, data_dir, rng.choice(files)), set(), False
    if kind == "checkpoint":
        p = rng.randrange(partitions)
        files = [os.path.join(dirs[p], "offsets.checkpoint"), os.path.join(dirs[p], "leader-epoch-checkpoint"),
                 os.path.join(data_dir, "producer-ids.checkpoint")]
        files += glob.glob(os.path.join(dirs[p], "*.snapshot"))
        files = [f for f in files if os.path.exists(f)]
        return _damage(rng, data_dir, rng.choice(files), whole=True), set(), False
    d = os.path.join(data_dir, OFFSETS_DIR)
    files = [os.path.join(d, n) for n in ("offsets.checkpoint", "leader-epoch-checkpoint")]
    files += glob.glob(os.path.join(d, "*.index")) + glob.glob(os.path.join(d, "*.timeindex"))
    files = [f for f in files if os.path.exists(f)]
    if not files:
        return "group: no group-log file to damage", set(), False
    return _damage(rng, data_dir, rng.choice(files), whole=True), set(), False


def _damage(rng, data_dir, path, whole=False):
    size = os.path.getsize(path)
    how = rng.choice(["garbage", "truncate", "empty"] if whole else ["garbage", "truncate"])
    name = os.path.relpath(path, data_dir)
    if how == "empty":
        open(path, "wb").close()
        return f"emptied {name}"
    if how == "truncate":
        n = rng.randint(0, max(size - 1, 0))
        with open(path, "r+b") as f:
            f.truncate(n)
        return f"truncated {name} from {size} to {n} bytes"
    if whole or size == 0:
        with open(path, "wb") as f:
            f.write(garbage(rng, rng.randint(1, 64)))
        return f"overwrote {name} with garbage"
    at = rng.randrange(size)
    n = rng.randint(1, min(64, size - at))
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(garbage(rng, n))
    return f"wrote {n} garbage bytes at {at} of {name}"


# ---------------------------------------------------------------------------------------------
# The driver


def run(broker_bin, cycles, seed, corrupt_files=False, partitions=4, producers=3, rate=300, min_run=0.5,
        max_run=3.0, data_dir=None, log=print):
    conftest.BROKER_BIN = broker_bin
    rng = random.Random(seed)
    own = data_dir is None
    data_dir = data_dir or tempfile.mkdtemp(prefix="torture-")
    broker = Broker(data_dir=data_dir, overrides=BROKER_SETTINGS)
    report = {"seed": seed, "corrupt": corrupt_files, "cycles": 0, "acknowledged": 0, "lost": 0,
              "duplicated": 0, "misplaced": 0, "destroyed_by_corruption": 0, "torn_bytes_recovered": 0,
              "corruptions": [], "problems": [], "commit_checks": 0}
    destroyed = set()
    # partition -> number of commit events when the test cut the group log: commits before it
    # may be gone until one made after the cut is acknowledged.
    commits_cut_at = {}
    load = None
    try:
        broker.start()
        admin = AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 0})
        admin.create_topics([NewTopic(TOPIC, partitions, 1)], operation_timeout=10)[TOPIC].result(timeout=30)
        del admin
        load = Load(broker.bootstrap, partitions, producers, seed, rate)
        load.start()
        for cycle in range(1, cycles + 1):
            time.sleep(rng.uniform(min_run, max_run))
            broker.kill()
            load.commit_pause.set()
            # Responses already in the clients' socket buffers are still delivered.
            time.sleep(0.5)
            acked_at_kill = dict(load.acked())
            with load.lock:
                last_ok = {}
                for p, events in load.commits.items():
                    oks = [i for i, (_o, s) in enumerate(events) if s == "ok"]
                    last_ok[p] = oks[-1] if oks else None
            layout, torn, problems = scan_disk(data_dir, partitions)
            report["torn_bytes_recovered"] += torn
            problems = [f"cycle {cycle}, on disk after kill: {x}" for x in problems]
            if corrupt_files:
                what, gone, commits_cut = corrupt(rng, data_dir, partitions, layout)
                if commits_cut:
                    with load.lock:
                        commits_cut_at = {p: len(events) for p, events in load.commits.items()}
                destroyed |= gone
                report["corruptions"].append(f"cycle {cycle}: {what} ({len(gone)} records in the cut)")
            broker.proc = None
            broker.start()
            try:
                hws, got = read_topic(broker.bootstrap, partitions)
            except CheckFailed as e:
                report["problems"] += problems + [f"cycle {cycle}: {e}"]
                break
            committed = committed_offsets(broker.bootstrap, partitions)
            load.commit_pause.clear()
            problems += check(cycle, hws, got, acked_at_kill, load, destroyed, report)
            with load.lock:
                for p in range(partitions):
                    report["commit_checks"] += 1
                    events = load.commits[p]
                    k = last_ok[p]
                    if p in commits_cut_at and (k is None or k < commits_cut_at[p]):
                        # The test cut the group log and no commit since has been acknowledged:
                        # any offset ever committed may be the latest one left, or none; never
                        # one that was not committed.
                        report["commit_checks_relaxed"] = report.get("commit_checks_relaxed", 0) + 1
                        k = None
                    allowed = {o for o, _s in events[k:]} if k is not None else {o for o, _s in events} | {-1001}
                    if committed.get(p) not in allowed:
                        problems.append(f"cycle {cycle}: partition {p} committed offset {committed.get(p)}, "
                                        f"acknowledged commits allow {sorted(allowed)[:10]}")
            report["cycles"] = cycle
            report["problems"] += problems
            acked_n = len(load.acked())
            log(f"cycle {cycle}/{cycles}: {sum(hws.values())} records stored, {acked_n} acknowledged, "
                f"{torn} torn bytes at the kill, {len(problems)} problems"
                + (f"; {report['corruptions'][-1]}" if corrupt_files else ""))
            for x in problems[:10]:
                log("  " + x)
            if problems:
                break
        # The final check, once the producers have drained.
        load.finish()
        load.errors and report["problems"].extend(load.errors)
        hws, got = read_topic(broker.bootstrap, partitions)
        final_acked = dict(load.acked())
        report["problems"] += check("final", hws, got, final_acked, load, destroyed, report, final=True)
        report["acknowledged"] = len(final_acked)
        report["produced"] = sum(load.produced)
        report["delivery_errors"] = len(load.failures)
        names = {}
        for name in load.failures:
            names[name] = names.get(name, 0) + 1
        report["delivery_error_names"] = names
        report["fatal_producer_errors"] = load.fatal_errors
        with load.lock:
            statuses = [s for events in load.commits.values() for _o, s in events]
        report["commits"] = {s: statuses.count(s) for s in ("ok", "err", "pending")}
        report["stored"] = sum(hws.values())
        if broker.stop() != 0:
            report["problems"].append("broker did not exit cleanly on SIGTERM")
        return report
    except Exception as e:
        # A broker that does not come back up (or a check that cannot run) is a finding too:
        # reported with the data directory kept, like any other problem.
        report["problems"].append(f"cycle {report['cycles'] + 1}: {type(e).__name__}: {e}")
        report["problems"].append("broker output: " + "".join(broker.output[-3:]).strip())
        return report
    finally:
        if load is not None:
            load.stop.set()
        broker.kill()
        if own and not report["problems"]:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            report["data_dir"] = data_dir
            with open(os.path.join(data_dir, "broker-output.log"), "w") as f:
                f.writelines(broker.output)


def check(cycle, hws, got, acked, load, destroyed, report, final=False):
    """Compares the topic as read with what was acknowledged; updates the report's counters on
    the final check (the per-cycle checks count problems)."""
    problems = []
    where = {}
    dups = 0
    for p, records in got.items():
        offsets = [o for o, _v in records]
        if offsets != list(range(hws[p])):
            missing = sorted(set(range(hws[p])) - set(offsets))[:5]
            problems.append(f"cycle {cycle}: partition {p} offsets not dense up to {hws[p]} (missing {missing})")
        for o, v in records:
            if v in where:
                dups += 1
                problems.append(f"cycle {cycle}: {v[:16]!r} stored twice: {where[v]} and {(p, o)}")
            where[v] = (p, o)
    lost = misplaced = gone = 0
    for v, (p, o) in acked.items():
        if o >= hws[p] and not final and v not in destroyed:
            # Acknowledged by the broker before the kill, so it must be below the high watermark.
            lost += 1
            problems.append(f"cycle {cycle}: acknowledged {v[:16]!r} at {p}/{o} is past the high watermark {hws[p]}")
            continue
        at = where.get(v)
        if at is None:
            if v in destroyed:
                gone += 1
            else:
                lost += 1
                problems.append(f"cycle {cycle}: acknowledged {v[:16]!r} at {p}/{o} is missing")
        elif at != (p, o):
            misplaced += 1
            problems.append(f"cycle {cycle}: acknowledged {v[:16]!r} at {p}/{o} is stored at {at}")
    if final:
        report["lost"] = lost
        report["duplicated"] = dups
        report["misplaced"] = misplaced
        report["destroyed_by_corruption"] = gone
    else:
        report["lost"] = max(report["lost"], lost)
        report["duplicated"] = max(report["duplicated"], dups)
    return problems[:50]


def main(argv=None):
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--broker-bin", default=os.environ.get("BROKER_BIN", os.path.join(root, "target", "debug", "broker")))
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--corrupt", action="store_true")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--producers", type=int, default=3)
    ap.add_argument("--rate", type=int, default=300, help="records per second per producer, at most (0: unpaced)")
    ap.add_argument("--min-run", type=float, default=0.5, help="shortest time between restart and kill (s)")
    ap.add_argument("--max-run", type=float, default=3.0, help="longest time between restart and kill (s)")
    ap.add_argument("--report", help="write the report as JSON here")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"torture: seed {seed}, {args.cycles} cycles{', corrupting files' if args.corrupt else ''}", flush=True)
    started = time.time()
    report = run(args.broker_bin, args.cycles, seed, args.corrupt, args.partitions, args.producers,
                 args.rate, args.min_run, args.max_run, log=lambda s: print(s, flush=True))
    report["seconds"] = round(time.time() - started, 1)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=2)
    print(summary(report), flush=True)
    return 1 if report["problems"] or report["lost"] or report["duplicated"] or report["misplaced"] else 0


def summary(r):
    lines = [
        f"torture report (seed {r['seed']}{', --corrupt' if r['corrupt'] else ''}): {r['cycles']} cycles in "
        f"{r.get('seconds', '?')} s",
        f"  records produced {r.get('produced', '?')}, acknowledged {r['acknowledged']}, stored {r.get('stored', '?')}",
        f"  lost {r['lost']}, duplicated {r['duplicated']}, misplaced {r['misplaced']}, "
        f"destroyed-by-corruption {r['destroyed_by_corruption']}",
        f"  torn bytes found after kills {r['torn_bytes_recovered']}, committed-offset checks {r['commit_checks']} "
        f"({r.get('commit_checks_relaxed', 0)} relaxed after a cut of the group log; commits {r.get('commits')}), "
        f"delivery errors {r.get('delivery_errors', '?')} {r.get('delivery_error_names', '')}, fatal producer errors {r.get('fatal_producer_errors', '?')}",
    ]
    lines += [f"  {c}" for c in r["corruptions"]]
    if r["problems"]:
        lines.append(f"  PROBLEMS ({len(r['problems'])}), data kept in {r.get('data_dir')}:")
        lines += [f"    {p}" for p in r["problems"][:30]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
