"""Broker configuration as Kafka operates it: dynamic broker configs changed live through
(Incremental)AlterConfigs, shown with their source by DescribeConfigs and kept across a
restart; max.connections enforced once lowered; a listener's TLS certificate rotated while a
client stays connected; start-up refused for an unhonoured security key; misspelt keys warned
about with the closest key; JSON logs without colour codes."""

import json
import os
import socket
import ssl
import struct
import subprocess
import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   ConfigSource)
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource as KpConfigResource
from kafka.admin import ConfigResourceType

from conftest import BROKER_BIN, Broker
from helpers import RawConnection, _str, create_topic

pytestmark = pytest.mark.timeout(180)

BROKER = ConfigResource.Type.BROKER


def incremental(admin, name, key, value, op=AlterConfigOpType.SET):
    res = ConfigResource(BROKER, name, incremental_configs=[
        ConfigEntry(key, value, incremental_operation=op)])
    return list(admin.incremental_alter_configs([res]).values())[0].result(timeout=30)


def set_cluster_default(b, key, value):
    """IncrementalAlterConfigs v0 SET on the BROKER resource "": (error code, message)."""
    body = (struct.pack(">i", 1) + struct.pack(">b", 4) + _str("") + struct.pack(">i", 1)
            + _str(key) + struct.pack(">b", 0) + _str(value) + struct.pack(">?", False))
    with RawConnection(b.bootstrap) as conn:
        r = conn.request(44, 0, body)
    r.take(">i")
    [answer] = r.array(lambda r: (r.take(">h"), r.string(), r.take(">b"), r.string()))
    return answer[0], answer[1]


def describe(admin, rtype, name):
    return list(admin.describe_configs([ConfigResource(rtype, name)]).values())[0].result(timeout=30)


def test_a_dynamic_log_default_applies_to_new_topics_and_survives_a_restart(broker_factory, topic_name):
    b = broker_factory()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    # The cluster-wide default (resource name "", kafka-configs --entity-default): both Python
    # clients refuse an empty broker name, so it is sent on the wire.
    assert set_cluster_default(b, "log.retention.ms", "4321000")[0] == 0
    entry = describe(admin, BROKER, "1")["log.retention.ms"]
    assert entry.value == "4321000"
    assert entry.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    create_topic(b, topic_name, partitions=1)
    t = describe(admin, ConfigResource.Type.TOPIC, topic_name)["retention.ms"]
    assert t.value == "4321000"
    # A per-broker value wins over the cluster default.
    incremental(admin, "1", "log.segment.bytes", "2000000")
    assert describe(admin, BROKER, "1")["log.segment.bytes"].source == \
        ConfigSource.DYNAMIC_BROKER_CONFIG.value
    del admin

    b.stop()
    b.start()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    configs = describe(admin, BROKER, "1")
    assert configs["log.retention.ms"].value == "4321000"
    assert configs["log.segment.bytes"].value == "2000000"
    assert configs["log.dirs"].is_read_only
    create_topic(b, topic_name + "-after", partitions=1)
    t = describe(admin, ConfigResource.Type.TOPIC, topic_name + "-after")
    assert t["retention.ms"].value == "4321000"
    assert t["segment.bytes"].value == "2000000"


def test_read_only_keys_and_other_brokers_are_refused(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    with pytest.raises(KafkaException) as e:
        incremental(admin, "1", "log.dirs", "/elsewhere")
    assert e.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert "log.dirs" in e.value.args[0].str()
    with pytest.raises(KafkaException) as e:
        incremental(admin, "1", "max.connections", "many")
    assert e.value.args[0].code() == KafkaError.INVALID_CONFIG
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    try:
        # kafka-python reads the broker's configs back with their sources.
        res = client.describe_configs([KpConfigResource(ConfigResourceType.BROKER, "1")])
        assert res
    finally:
        client.close()


def api_versions_answered(port, timeout):
    """Whether a new connection gets an ApiVersions answer within `timeout` seconds; the socket
    is returned open when it did (None otherwise, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(timeout)
    body = struct.pack(">hhi", 18, 0, 1) + struct.pack(">h", 3) + b"e2e"
    try:
        s.sendall(struct.pack(">i", len(body)) + body)
        head = s.recv(4)
        if len(head) == 4:
            return s
    except (socket.timeout, ConnectionError):
        pass
    s.close()
    return None


def test_max_connections_lowered_live_is_enforced(broker_factory):
    b = broker_factory()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    incremental(admin, "1", "max.connections", "3")
    assert describe(admin, BROKER, "1")["max.connections"].value == "3"
    del admin
    time.sleep(1.0)  # the admin client's connection is released
    held = []
    deadline = time.time() + 20
    while len(held) < 3 and time.time() < deadline:
        s = api_versions_answered(b.port, 5)
        if s is not None:
            held.append(s)
    assert len(held) == 3
    assert api_versions_answered(b.port, 2) is None, "a fourth connection waits"
    held.pop().close()
    time.sleep(0.5)
    s = api_versions_answered(b.port, 10)
    assert s is not None, "a freed slot lets the next one in"
    held.append(s)
    for s in held:
        s.close()


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_keystore(d, ca, cn, name):
    with open(os.path.join(d, f"{name}.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={cn}", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.cnf", cwd=d)
    path = os.path.join(d, f"{name}-keystore.pem")
    with open(path, "w") as out:
        for part in (f"{name}.key", f"{name}.pem"):
            with open(os.path.join(d, part)) as f:
                out.write(f.read())
    return path


def peer_cn(tls_sock):
    cert = tls_sock.getpeercert()
    return dict(x[0] for x in cert["subject"])["commonName"]


def test_tls_certificate_rotated_live_while_a_client_stays_connected(tmp_path):
    d = str(tmp_path)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=e2e-ca", cwd=d)
    first = make_keystore(d, "ca", "first", "first")
    second = make_keystore(d, "ca", "second", "second")
    b = Broker(overrides={
        "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
        "listener.name.ssl.ssl.keystore.location": first,
    })
    try:
        b.start()
        ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
        port = b.listeners["SSL"]

        def connect():
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            return ctx.wrap_socket(raw, server_hostname="localhost")

        old = connect()
        assert peer_cn(old) == "first"

        def api_versions(sock, correlation):
            body = struct.pack(">hhi", 18, 0, correlation) + struct.pack(">h", 3) + b"e2e"
            sock.sendall(struct.pack(">i", len(body)) + body)
            size = struct.unpack(">i", sock.recv(4))[0]
            data = b""
            while len(data) < size:
                data += sock.recv(size - len(data))
            assert struct.unpack_from(">i", data)[0] == correlation

        api_versions(old, 1)
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        incremental(admin, "1", "listener.name.ssl.ssl.keystore.location", second)
        new = connect()
        assert peer_cn(new) == "second", "a new connection sees the new certificate"
        api_versions(new, 1)
        api_versions(old, 2)  # the old connection is still served
        assert peer_cn(old) == "first"
        # A bad key store is refused and changes nothing.
        bad = os.path.join(d, "bad.pem")
        with open(bad, "w") as f:
            f.write("not a key store\n")
        with pytest.raises(KafkaException) as e:
            incremental(admin, "1", "listener.name.ssl.ssl.keystore.location", bad)
        assert e.value.args[0].code() == KafkaError.INVALID_CONFIG
        assert peer_cn(connect()) == "second"
        old.close()
        new.close()
        # The rotated certificate is the one served after a restart.
        del admin
        b.stop()
        b.start()
        port = b.listeners["SSL"]
        assert peer_cn(connect()) == "second"
    finally:
        b.cleanup()


def run_broker(tmp_path, *overrides, timeout=20, env=None):
    args = [BROKER_BIN, "--data-dir", str(tmp_path / "data"), "-o", "listeners=PLAINTEXT://127.0.0.1:0",
            "-o", "prometheus.listener="]
    for o in overrides:
        args += ["-o", o]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, **(env or {})))


def test_start_up_refused_when_an_authorizer_is_configured(tmp_path):
    p = run_broker(tmp_path, "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer")
    out, _ = p.communicate(timeout=30)
    assert p.returncode != 0
    assert "authorizer.class.name" in out, out
    assert "listening on" not in out


def read_until(p, needle, timeout=20):
    lines = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            break
    return lines


def test_a_misspelt_key_warns_with_the_closest_key_and_logs_have_no_colour(tmp_path):
    p = run_broker(tmp_path, "log.retension.hours=1")
    try:
        lines = read_until(p, "cluster id")
    finally:
        p.terminate()
        p.wait(20)
    out = "".join(lines)
    assert "did you mean log.retention.hours" in out, out
    assert "\x1b[" not in out, "no ANSI colours when not writing to a terminal"


def test_json_logs(tmp_path):
    p = run_broker(tmp_path, "log.retension.hours=1", env={"BROKER_LOG_FORMAT": "json"})
    try:
        lines = read_until(p, "cluster id")
    finally:
        p.terminate()
        p.wait(20)
    records = [json.loads(line) for line in lines if line.startswith("{")]
    warn = [r for r in records if r["level"] == "WARN" and r["fields"].get("key") == "log.retension.hours"]
    assert warn and warn[0]["fields"]["did_you_mean"] == "log.retention.hours", lines
