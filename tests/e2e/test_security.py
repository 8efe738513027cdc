"""TLS and SASL listeners with real clients: SSL, SASL_PLAINTEXT and SASL_SSL with PLAIN and
SCRAM-SHA-256/512, wrong passwords refused. Certificates are made at test time with openssl."""

import os
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition

from conftest import BROKER_BIN


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=e2e-ca", cwd=d)
    with open(os.path.join(d, "san.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.cnf", cwd=d)
    with open(os.path.join(d, "keystore.pem"), "w") as out:
        for name in ("server.key", "server.pem"):
            with open(os.path.join(d, name)) as f:
                out.write(f.read())
    creds = subprocess.run([BROKER_BIN, "--scram-credential", "alice:alice-secret"], capture_output=True,
                           check=True, timeout=60).stdout
    with open(os.path.join(d, "credentials"), "wb") as f:
        f.write(creds)
    return d


@pytest.fixture(scope="module")
def secure_broker(pki, tmp_path_factory):
    from conftest import Broker
    b = Broker(overrides={
        "listeners": "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
        "ssl.keystore.location": os.path.join(pki, "keystore.pem"),
        "sasl.credentials.file": os.path.join(pki, "credentials"),
    })
    try:
        b.start()
        yield b
    finally:
        b.cleanup()


def client_config(b, pki, listener, mechanism=None, password="alice-secret"):
    cfg = {"bootstrap.servers": f"127.0.0.1:{b.listeners[listener]}", "security.protocol": listener}
    if "SSL" in listener:
        cfg["ssl.ca.location"] = os.path.join(pki, "ca.pem")
    if mechanism:
        cfg.update({"sasl.mechanism": mechanism, "sasl.username": "alice", "sasl.password": password})
    return cfg


def round_trip(cfg, topic, n=200):
    p = Producer({**cfg, "acks": "all"})
    for i in range(n):
        p.produce(topic, f"v{i}".encode(), f"k{i}".encode())
    assert p.flush(30) == 0
    c = Consumer({**cfg, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.time() + 30
    while len(got) < n and time.time() < deadline:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            got.append(m.value())
    c.close()
    assert got == [f"v{i}".encode() for i in range(n)]


@pytest.mark.parametrize("listener,mechanism", [
    ("SSL", None),
    ("SASL_PLAINTEXT", "PLAIN"),
    ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
    ("SASL_SSL", "SCRAM-SHA-512"),
    ("SASL_SSL", "PLAIN"),
])
def test_confluent_over_secure_listeners(secure_broker, pki, topic_name, listener, mechanism):
    round_trip(client_config(secure_broker, pki, listener, mechanism), topic_name)


def test_kafka_python_over_sasl_ssl(secure_broker, pki, topic_name):
    common = dict(bootstrap_servers=f"127.0.0.1:{secure_broker.listeners['SASL_SSL']}", security_protocol="SASL_SSL",
                  ssl_cafile=os.path.join(pki, "ca.pem"), sasl_mechanism="SCRAM-SHA-256",
                  sasl_plain_username="alice", sasl_plain_password="alice-secret", request_timeout_ms=30000)
    p = KafkaProducer(acks="all", **common)
    for i in range(100):
        p.send(topic_name, key=b"k", value=f"v{i}".encode())
    p.flush(30)
    p.close()
    c = KafkaConsumer(consumer_timeout_ms=3000, **common)
    c.assign([KpTopicPartition(topic_name, 0)])
    c.seek_to_beginning()
    got = [r.value for r in c]
    c.close()
    assert got == [f"v{i}".encode() for i in range(100)]


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_a_wrong_password_is_refused(secure_broker, pki, mechanism):
    admin = AdminClient(client_config(secure_broker, pki, "SASL_SSL", mechanism, password="wrong"))
    with pytest.raises(KafkaException) as e:
        admin.list_topics(timeout=10)
    assert "uthenticat" in str(e.value) or "Authentication" in str(e.value) or "_TRANSPORT" in str(e.value) or "TIMED_OUT" in str(e.value)


def console_config_args(b, pki, listener, mechanism=None, password="alice-secret"):
    """kafka-client settings (Java's keys) for one of the secure listeners."""
    args = ["--bootstrap-server", f"127.0.0.1:{b.listeners[listener]}", "-X", f"security.protocol={listener}"]
    if "SSL" in listener:
        args += ["-X", f"ssl.truststore.location={os.path.join(pki, 'ca.pem')}"]
    if mechanism:
        args += ["-X", f"sasl.mechanism={mechanism}",
                 "-X", f'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
                       f'username="alice" password="{password}";']
    return args


@pytest.mark.parametrize("listener,mechanism", [
    ("SSL", None),
    ("SASL_PLAINTEXT", "SCRAM-SHA-256"),
    ("SASL_SSL", "PLAIN"),
    ("SASL_SSL", "SCRAM-SHA-512"),
])
def test_kafka_client_over_secure_listeners(secure_broker, pki, topic_name, listener, mechanism):
    import base64
    import json
    console = os.path.join(os.path.dirname(BROKER_BIN), "kafka-console")
    args = console_config_args(secure_broker, pki, listener, mechanism)
    lines = "".join(json.dumps({"value": base64.b64encode(f"v{i}".encode()).decode()}) + "\n" for i in range(100))
    res = subprocess.run([console, *args, "produce", "--topic", topic_name], input=lines, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    res = subprocess.run([console, *args, "consume", "--topic", topic_name, "--group", f"g-{topic_name}",
                          "--from-beginning", "--max-messages", "100", "--timeout-ms", "20000"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    got = sorted(base64.b64decode(json.loads(l)["value"]) for l in res.stdout.splitlines())
    assert got == sorted(f"v{i}".encode() for i in range(100))


def test_kafka_client_reports_a_wrong_password_at_once(secure_broker, pki, topic_name):
    console = os.path.join(os.path.dirname(BROKER_BIN), "kafka-console")
    args = console_config_args(secure_broker, pki, "SASL_SSL", "SCRAM-SHA-512", password="wrong")
    start = time.time()
    res = subprocess.run([console, *args, "produce", "--topic", topic_name], input='{"value": null}\n',
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "authentication" in res.stderr.lower(), res.stderr
    assert time.time() - start < 20, "an authentication failure must not wait out max.block.ms"
