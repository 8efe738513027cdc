"""A network partition between the nodes of a three-node cluster, made with network namespaces
and veth pairs this test creates (every address lives inside them): the minority side cannot
change metadata, the majority can, and after healing the minority catches up.

    ns "client" 10.77.0.100 ─┐
    ns "n1"     10.77.0.1   ─┤ veth ── bridge (in ns "br")
    ns "n2"     10.77.0.2   ─┤
    ns "n3"     10.77.0.3   ─┘

The partition is a pair of blackhole routes in n3 towards n1 and n2: node 3 can neither send to
nor answer them, while the client still reaches every node. Needs root (namespaces); CI runs
as root.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from conftest import Broker

SUBNET = "10.77.0"
CLIENT = f"{SUBNET}.100"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="network namespaces need root and iproute2",
)


def sh(*args):
    subprocess.run(args, check=True, capture_output=True, timeout=30)


class Namespaces:
    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.br = f"kbr-{tag}"
        self.nodes = {n: f"kn{n}-{tag}" for n in (1, 2, 3)}
        self.client = f"kcl-{tag}"
        self.created = []

    def __enter__(self):
        sh("ip", "netns", "add", self.br)
        self.created.append(self.br)
        sh("ip", "-n", self.br, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.br, "link", "set", "br0", "up")
        hosts = {**{ns: f"{SUBNET}.{n}" for n, ns in self.nodes.items()}, self.client: CLIENT}
        for i, (ns, addr) in enumerate(hosts.items()):
            sh("ip", "netns", "add", ns)
            self.created.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{i}",
               "netns", self.br)
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", self.br, "link", "set", f"p{i}", "master", "br0")
            sh("ip", "-n", self.br, "link", "set", f"p{i}", "up")
        return self

    def __exit__(self, *exc):
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)

    def _routes(self, action, ns, others):
        for o in others:
            sh("ip", "-n", ns, "route", action, "blackhole", f"{SUBNET}.{o}/32")

    def isolate(self, node, others):
        self._routes("add", self.nodes[node], others)

    def heal(self, node, others):
        self._routes("del", self.nodes[node], others)

    def client_sees_only(self, node, others):
        """The client reaches `node` alone (it stands on that side of the partition)."""
        self._routes("add", self.client, others)

    def client_sees_all(self, others):
        self._routes("del", self.client, others)

    def client_run(self, code, timeout=60):
        """Runs Python `code` in the client namespace; returns its JSON answer."""
        out = subprocess.run(
            ["ip", "netns", "exec", self.client, sys.executable, "-c", code],
            capture_output=True, text=True, timeout=timeout,
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        return json.loads(out.stdout.strip().splitlines()[-1])


def create_topic(ns, bootstrap, topic, timeout):
    """CreateTopics through the given nodes: None on success, else the error text."""
    code = f"""
import json
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({{"bootstrap.servers": "{bootstrap}"}})
try:
    a.create_topics([NewTopic("{topic}", 1, 1)], request_timeout={timeout})["{topic}"].result({timeout} + 5)
    print(json.dumps(None))
except Exception as e:
    print(json.dumps(str(e)))
"""
    return ns.client_run(code, timeout=timeout + 30)


def topics(ns, bootstrap):
    code = f"""
import json
from confluent_kafka.admin import AdminClient
md = AdminClient({{"bootstrap.servers": "{bootstrap}"}}).list_topics(timeout=10)
print(json.dumps(sorted(t for t in md.topics if not t.startswith("__"))))
"""
    return ns.client_run(code)


def live_brokers(ns, bootstrap):
    code = f"""
import json
from confluent_kafka.admin import AdminClient
try:
    md = AdminClient({{"bootstrap.servers": "{bootstrap}"}}).list_topics(timeout=10)
    print(json.dumps(sorted(md.brokers)))
except Exception as e:  # no broker registered yet: an empty answer
    print(json.dumps([]))
"""
    return ns.client_run(code)


def test_the_minority_side_of_a_partition_cannot_change_metadata():
    with Namespaces() as ns:
        cluster_id = uuid.uuid4().hex[:22]
        voters = ",".join(f"{n}@{SUBNET}.{n}:9093" for n in ns.nodes)
        brokers = {}
        try:
            for n, name in ns.nodes.items():
                addr = f"{SUBNET}.{n}"
                b = Broker(prefix=["ip", "netns", "exec", name], overrides={
                    "node.id": str(n),
                    "cluster.id": cluster_id,
                    "listeners": f"PLAINTEXT://{addr}:9092,CONTROLLER://{addr}:9093",
                    "advertised.listeners": f"PLAINTEXT://{addr}:9092",
                    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "controller.listener.names": "CONTROLLER",
                    "controller.quorum.voters": voters,
                    "prometheus.listener": "",
                    "broker.session.timeout.ms": "3000",
                    "broker.heartbeat.interval.ms": "500",
                })
                brokers[n] = b.start()
            everyone = ",".join(f"{SUBNET}.{n}:9092" for n in ns.nodes)
            deadline = time.time() + 60
            while (live := live_brokers(ns, everyone)) != [1, 2, 3]:
                assert time.time() < deadline, live
                time.sleep(0.5)
            assert create_topic(ns, everyone, "before", 30) is None

            # Cut node 3 off from 1 and 2 (whichever led the quorum).
            ns.isolate(3, [1, 2])
            # The majority elects (or keeps) a leader and changes metadata.
            deadline = time.time() + 30
            while (err := create_topic(ns, f"{SUBNET}.1:9092,{SUBNET}.2:9092", "majority", 5)) is not None:
                assert time.time() < deadline, err
            # The minority cannot: a client on its side finds no controller through node 3.
            ns.client_sees_only(3, [1, 2])
            err = create_topic(ns, f"{SUBNET}.3:9092", "minority", 8)
            assert err is not None
            assert "majority" not in topics(ns, f"{SUBNET}.3:9092")
            ns.client_sees_all([1, 2])
            assert "minority" not in topics(ns, f"{SUBNET}.1:9092")

            # Healed, node 3 catches up; what the minority asked for never happened.
            ns.heal(3, [1, 2])
            deadline = time.time() + 30
            while "majority" not in (seen := topics(ns, f"{SUBNET}.3:9092")):
                assert time.time() < deadline, seen
                time.sleep(0.5)
            assert "minority" not in seen and "before" in seen
        finally:
            for b in brokers.values():
                b.cleanup()
