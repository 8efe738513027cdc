"""`kafka-admin` (kafka-client's admin CLI) scripted end to end against the broker, with
records produced by kcat and consumed by a confluent-kafka group: topic creation and config
changes, the lag kcat's produce creates and that the group's catching up removes, offset
resets (dry run, then --execute) that the group reads again from, deleted records moving the
low watermark, and the exit codes scripts rely on. Every call has a timeout.

The binary is `KAFKA_ADMIN_BIN`, by default next to `BROKER_BIN`.
"""

import json
import os
import subprocess
import time

from confluent_kafka import Consumer

from conftest import BROKER_BIN, kcat
from test_security import pki, secure_broker  # noqa: F401 (fixtures)

ADMIN_BIN = os.environ.get("KAFKA_ADMIN_BIN", os.path.join(os.path.dirname(BROKER_BIN), "kafka-admin"))
CALL_TIMEOUT = 60


def admin(broker, *args, check=True, bootstrap=None):
    """Runs kafka-admin; returns (exit code, stdout, stderr)."""
    cmd = [ADMIN_BIN, "--bootstrap-server", bootstrap or broker.bootstrap, "--timeout-ms", "20000", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=CALL_TIMEOUT)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
    return res.returncode, res.stdout, res.stderr


def admin_json(broker, *args):
    _, out, _ = admin(broker, *args, "--output", "json")
    return json.loads(out)


def produce(broker, topic, partition, values):
    kcat("-P", "-b", broker.bootstrap, "-t", topic, "-p", str(partition),
         input="".join(f"{v}\n" for v in values).encode())


def consume(broker, group, topic, n, close=True, timeout=30):
    """Reads n records as a member of group, commits them, and closes (or returns) the consumer."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 10000})
    c.subscribe([topic])
    got = []
    deadline = time.time() + timeout
    while len(got) < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got.append((m.partition(), m.offset(), m.value()))
    assert len(got) == n, f"read {len(got)} of {n} records"
    c.commit(asynchronous=False)
    if close:
        c.close()
        return got, None
    return got, c


def lag_by_partition(broker, group):
    [g] = admin_json(broker, "groups", "describe", "--group", group)
    return g, {p["partition"]: p for p in g["partitions"]}


def test_admin_cli_end_to_end(broker, topic_name):
    group = f"g-{topic_name}"

    # A topic with an override, created and described by the tool.
    created = admin_json(broker, "topics", "create", "--topic", topic_name, "--partitions", "2",
                         "--replication-factor", "1", "--config", "retention.ms=3600000")
    assert created == [{"topic": topic_name, "created": True, "validated": False}]
    [desc] = admin_json(broker, "topics", "describe", "--topic", topic_name)
    assert desc["partition_count"] == 2 and desc["configs"] == {"retention.ms": "3600000"}
    assert topic_name in admin_json(broker, "topics", "list")

    # Its config altered, and read back.
    admin(broker, "configs", "alter", "--entity-type", "topics", "--entity-name", topic_name,
          "--add-config", "retention.ms=7200000,cleanup.policy=[delete]")
    [cfg] = admin_json(broker, "configs", "describe", "--topic", topic_name)
    values = {c["name"]: c["value"] for c in cfg["configs"]}
    assert values["retention.ms"] == "7200000" and values["cleanup.policy"] == "delete"
    admin(broker, "configs", "alter", "--topic", topic_name, "--delete-config", "cleanup.policy")
    [cfg] = admin_json(broker, "configs", "describe", "--topic", topic_name)
    assert [c["name"] for c in cfg["configs"]] == ["retention.ms"]

    # kcat produces; the group reads and commits everything: no lag.
    produce(broker, topic_name, 0, range(6))
    produce(broker, topic_name, 1, range(4))
    consume(broker, group, topic_name, 10)
    g, parts = lag_by_partition(broker, group)
    assert g["state"] == "Empty"
    assert {p: (v["current_offset"], v["log_end_offset"], v["lag"]) for p, v in parts.items()} == {
        0: (6, 6, 0), 1: (4, 4, 0)}

    # More from kcat: the lag is exactly what it produced.
    produce(broker, topic_name, 0, range(3))
    produce(broker, topic_name, 1, range(5))
    _, parts = lag_by_partition(broker, group)
    assert {p: v["lag"] for p, v in parts.items()} == {0: 3, 1: 5}
    _, table, _ = admin(broker, "groups", "describe", "--group", group)
    header = next(line.split() for line in table.splitlines() if "LAG" in line)
    assert header[:6] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"]

    # The group catches up (and is still a member while described): lag zero.
    _, consumer = consume(broker, group, topic_name, 8, close=False)
    try:
        g, parts = lag_by_partition(broker, group)
        assert {p: v["lag"] for p, v in parts.items()} == {0: 0, 1: 0}
        assert g["state"] == "Stable" and len(g["members"]) == 1
        assert all(v["consumer_id"] for v in parts.values())
        # Resetting an active group is refused (exit 1), as Kafka's tool does.
        code, _, err = admin(broker, "groups", "reset-offsets", "--group", group, "--all-topics",
                             "--to-earliest", "--execute", check=False)
        assert code == 1 and "inactive" in err
    finally:
        consumer.close()

    # Reset to earliest: a dry run changes nothing, --execute commits, the group reads again.
    plan = admin_json(broker, "groups", "reset-offsets", "--group", group, "--topic", topic_name,
                      "--to-earliest")
    assert plan["executed"] is False
    assert {p["partition"]: p["new_offset"] for p in plan["partitions"]} == {0: 0, 1: 0}
    _, parts = lag_by_partition(broker, group)
    assert {p: v["current_offset"] for p, v in parts.items()} == {0: 9, 1: 9}
    done = admin_json(broker, "groups", "reset-offsets", "--group", group, "--topic", topic_name,
                      "--to-earliest", "--execute")
    assert done["executed"] is True
    _, parts = lag_by_partition(broker, group)
    assert {p: (v["current_offset"], v["lag"]) for p, v in parts.items()} == {0: (0, 9), 1: (0, 9)}
    again, _ = consume(broker, group, topic_name, 18)
    assert sorted((p, o) for p, o, _ in again) == [(0, o) for o in range(9)] + [(1, o) for o in range(9)]

    # --shift-by moves back from the committed offsets.
    shifted = admin_json(broker, "groups", "reset-offsets", "--group", group, "--topic", f"{topic_name}:1",
                         "--shift-by", "-4", "--execute")
    assert [(p["partition"], p["new_offset"]) for p in shifted["partitions"]] == [(1, 5)]

    # Delete records: the low watermark moves, as the tool's offsets command shows.
    assert admin_json(broker, "offsets", "--topic", topic_name, "--time", "earliest") == [
        {"topic": topic_name, "partition": 0, "offset": 0}, {"topic": topic_name, "partition": 1, "offset": 0}]
    deleted = admin_json(broker, "delete-records", "--topic", topic_name, "--partition", "0", "--offset", "4")
    assert deleted == [{"topic": topic_name, "partition": 0, "low_watermark": 4}]
    earliest = admin_json(broker, "offsets", "--topic", topic_name, "--time", "earliest")
    assert {o["partition"]: o["offset"] for o in earliest} == {0: 4, 1: 0}
    latest = admin_json(broker, "offsets", "--topic", topic_name)
    assert {o["partition"]: o["offset"] for o in latest} == {0: 9, 1: 9}

    # The same through Kafka's JSON file format, -1 meaning everything.
    path = os.path.join(broker.data_dir, "delete.json")
    with open(path, "w") as f:
        json.dump({"version": 1, "partitions": [{"topic": topic_name, "partition": 1, "offset": -1}]}, f)
    deleted = admin_json(broker, "delete-records", "--offset-json-file", path)
    assert deleted == [{"topic": topic_name, "partition": 1, "low_watermark": 9}]

    # Cluster, groups list, topic delete.
    cluster = admin_json(broker, "cluster", "describe")
    assert cluster["cluster_id"] and [b["port"] for b in cluster["brokers"]] == [broker.port]
    assert any(g["group"] == group for g in admin_json(broker, "groups", "list"))
    admin(broker, "groups", "delete", "--group", group)
    admin(broker, "topics", "delete", "--topic", topic_name)
    assert topic_name not in admin_json(broker, "topics", "list")


def test_admin_cli_exit_codes(broker, topic_name):
    admin(broker, "topics", "create", "--topic", topic_name, "--partitions", "1")
    # 1: the broker refused.
    code, _, err = admin(broker, "topics", "create", "--topic", topic_name, check=False)
    assert code == 1 and "TOPIC_ALREADY_EXISTS" in err
    assert admin(broker, "topics", "create", "--topic", topic_name, "--if-not-exists")[0] == 0
    code, _, err = admin(broker, "acls", "list", check=False)
    assert code == 1 and "SECURITY_DISABLED" in err
    code, _, err = admin(broker, "acls", "create", "--topic", topic_name, "--principal", "User:a",
                         "--operation", "read", check=False)
    assert code == 1 and "SECURITY_DISABLED" in err
    code, _, err = admin(broker, "groups", "describe", "--group", f"none-{topic_name}", check=False)
    assert code == 1 and "does not exist" in err
    # 2: usage.
    code, _, _ = admin(broker, "groups", "reset-offsets", "--group", "g", "--all-topics", check=False)
    assert code == 2
    code, _, err = admin(broker, "configs", "alter", "--topic", topic_name, "--add-config", "novalue",
                         check=False)
    assert code == 2 and "key=value" in err
    # 3: nothing listens there.
    res = subprocess.run([ADMIN_BIN, "--bootstrap-server", "127.0.0.1:1", "--timeout-ms", "1500",
                          "topics", "list"], capture_output=True, text=True, timeout=CALL_TIMEOUT)
    assert res.returncode == 3, res.stderr
    # 4: not supported.
    code, _, err = admin(broker, "quotas", "describe", check=False)
    assert code == 4 and "DescribeClientQuotas" in err


def test_admin_cli_command_config_over_sasl_ssl(pki, secure_broker, topic_name, tmp_path):
    """--command-config with librdkafka's key spellings (the file kcat would use)."""

    def config(password):
        path = tmp_path / f"client-{password}.properties"
        path.write_text("\n".join([
            "security.protocol=SASL_SSL",
            "sasl.mechanisms=SCRAM-SHA-256",
            "sasl.username=alice",
            f"sasl.password={password}",
            f"ssl.ca.location={os.path.join(pki, 'ca.pem')}",
        ]) + "\n")
        return str(path)

    bootstrap = f"127.0.0.1:{secure_broker.listeners['SASL_SSL']}"
    good = config("alice-secret")
    admin(secure_broker, "--command-config", good, "topics", "create", "--topic", topic_name,
          "--partitions", "1", bootstrap=bootstrap)
    _, out, _ = admin(secure_broker, "--command-config", good, "--output", "json", "topics", "list",
                      bootstrap=bootstrap)
    assert topic_name in json.loads(out)
    # 3: authentication failed, said at once.
    start = time.time()
    code, _, err = admin(secure_broker, "--command-config", config("wrong"), "topics", "list",
                         bootstrap=bootstrap, check=False)
    assert code == 3 and "auth" in err.lower(), err
    assert time.time() - start < 15
