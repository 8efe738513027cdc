"""The files in deploy/ work as shipped: the broker starts with the example server.properties and
serves kcat, and a real Prometheus started with deploy/prometheus.yml scrapes the broker and
answers queries for the request-rate series.

Only what must differ on a test machine is overridden: listener ports (free ones), the data
directory (a temp dir) and the metrics address. `DEPLOY_BROKER_BIN` points the tests at another
binary, e.g. one unpacked from a release tarball (default: BROKER_BIN, as the other tests).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import pytest

from conftest import BROKER_BIN, ROOT, START_TIMEOUT, kcat

DEPLOY = os.path.join(ROOT, "deploy")
BINARY = os.environ.get("DEPLOY_BROKER_BIN", BROKER_BIN)
PROMETHEUS_TIMEOUT = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ConfiguredBroker:
    """The broker started with deploy/server.properties and test overrides."""

    def __init__(self):
        self.data_dir = tempfile.mkdtemp(prefix="e2e-deploy-")
        self.output = []
        self.port = None
        self.metrics_url = None
        port = free_port()
        args = [BINARY, "--config", os.path.join(DEPLOY, "server.properties")]
        for k, v in {
            "listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "log.dirs": self.data_dir,
            "prometheus.listener": "127.0.0.1:0",
        }.items():
            args += ["--override", f"{k}={v}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self.output.append(line)
                m = re.search(r"listening on PLAINTEXT://[\d.]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                m = re.search(r"metrics at (http://\S+)", line)
                if m:
                    self.metrics_url = m.group(1)
                if line.startswith("cluster id"):
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.time() + START_TIMEOUT
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.time() > deadline:
                break
        if not ready.is_set():
            self.cleanup()
            raise RuntimeError("broker did not start with deploy/server.properties:\n" + "".join(self.output[-50:]))

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture
def deployed_broker():
    b = ConfiguredBroker()
    try:
        yield b
    finally:
        b.cleanup()


def test_broker_starts_with_the_example_config_and_serves_kcat(deployed_broker):
    b = deployed_broker
    assert b.metrics_url, "the broker did not print its metrics address"
    out = kcat("-b", b.bootstrap, "-L").decode()
    assert f"broker 1 at 127.0.0.1:{b.port}" in out, out
    kcat("-b", b.bootstrap, "-P", "-t", "deploy-check", input=b"hello\n")
    got = kcat("-b", b.bootstrap, "-C", "-t", "deploy-check", "-o", "beginning", "-e", "-q")
    assert got == b"hello\n"
    # Every key of the example is one the broker honours: no "unknown key" warnings.
    assert not [line for line in b.output if "unknown" in line.lower()], "".join(b.output)


def prometheus_query(base, query, timeout=5):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scrapes_the_broker_with_the_shipped_config(deployed_broker):
    exe = shutil.which("prometheus")
    if exe is None:
        pytest.fail("prometheus is not installed (cargo xtask ci installs Debian's prometheus)")
    b = deployed_broker
    metrics_addr = urllib.parse.urlsplit(b.metrics_url).netloc
    with open(os.path.join(DEPLOY, "prometheus.yml")) as f:
        config = f.read()
    # The shipped config targets the broker's default metrics address; point it at this broker.
    assert "127.0.0.1:9404" in config
    config = config.replace("127.0.0.1:9404", metrics_addr)

    # Traffic, so that request series exist: kcat sends ApiVersions and Metadata.
    kcat("-b", b.bootstrap, "-L")

    work = tempfile.mkdtemp(prefix="e2e-prometheus-")
    config_path = os.path.join(work, "prometheus.yml")
    with open(config_path, "w") as f:
        f.write(config)
    port = free_port()
    log = open(os.path.join(work, "prometheus.log"), "w+")
    proc = subprocess.Popen(
        [exe, f"--config.file={config_path}", f"--storage.tsdb.path={os.path.join(work, 'data')}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + PROMETHEUS_TIMEOUT
        result = []
        last_error = None
        while time.time() < deadline:
            if proc.poll() is not None:
                break
            try:
                result = prometheus_query(base, "kafka_network_requestmetrics_requests_total")
                if result:
                    break
            except OSError as e:  # not listening yet
                last_error = e
            time.sleep(1)
        if not result:
            log.seek(0)
            pytest.fail(f"Prometheus returned no request series in {PROMETHEUS_TIMEOUT}s "
                        f"(last error {last_error}); its log:\n{log.read()[-5000:]}")
        requests = {s["metric"].get("request") for s in result}
        assert requests & {"ApiVersions", "Metadata"}, result
        for s in result:
            assert s["metric"]["job"] == "kafka-broker", s
            assert s["metric"]["instance"] == metrics_addr, s
            assert s["metric"]["cluster"] == "kafka-rs", s
        up = prometheus_query(base, 'up{job="kafka-broker"}')
        assert [s["value"][1] for s in up] == ["1"], up
        # The summaries the dashboard plots are there too.
        p99 = prometheus_query(base, 'kafka_network_requestmetrics_totaltimems{quantile="0.99"}')
        assert p99, "no totaltimems p99 series"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def test_dashboard_and_unit_use_real_names():
    """The Grafana dashboard queries only metrics the broker exports (docs/metrics.md, generated
    from the code), and the systemd unit carries its hardening."""
    with open(os.path.join(ROOT, "docs", "metrics.md")) as f:
        documented = set(re.findall(r"^\| `(\w+)` \|", f.read(), re.M))
    with open(os.path.join(DEPLOY, "grafana-dashboard.json")) as f:
        dashboard = json.load(f)
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"\b(kafka_\w+)", target["expr"]))
    assert used
    unknown = {n for n in used if n not in documented and re.sub(r"_(sum|count)$", "", n) not in documented}
    assert not unknown, unknown
    with open(os.path.join(DEPLOY, "broker.service")) as f:
        unit = f.read()
    for line in ("User=broker", "LimitNOFILE=100000", "ProtectSystem=strict", "NoNewPrivileges=true",
                 "PrivateTmp=true", "ReadWritePaths=/var/lib/broker"):
        assert re.search(rf"^{re.escape(line)}$", unit, re.M), line
    with open(os.path.join(DEPLOY, "server.properties")) as f:
        assert re.search(r"^log\.dirs=/var/lib/broker$", f.read(), re.M)
