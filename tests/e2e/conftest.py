"""End-to-end tests: the real `broker` binary driven by clients this project did not write
(kcat, confluent-kafka, kafka-python).

Each broker runs on free ports (port 0) with its own data directory and is stopped at the end
of the test that started it. Every wait has a timeout, so a failure cannot hang CI.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BROKER_BIN = os.environ.get("BROKER_BIN", os.path.join(ROOT, "target", "debug", "broker"))
START_TIMEOUT = 30


class Broker:
    """A broker process."""

    def __init__(self, data_dir=None, overrides=None, prefix=None):
        # `prefix` runs the broker under another command (e.g. `ip netns exec NS`).
        self.prefix = list(prefix or [])
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="e2e-broker-")
        self.overrides = dict(overrides or {})
        self.proc = None
        self.port = None
        self.metrics_url = None
        self.listeners = {}
        self.output = []

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        args = self.prefix + [BROKER_BIN, "--data-dir", self.data_dir]
        settings = {
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port or 0}",
            "prometheus.listener": "127.0.0.1:0",
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        settings.update(self.overrides)
        for k, v in settings.items():
            args += ["--override", f"{k}={v}"]
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        deadline = time.time() + START_TIMEOUT
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self.output.append(line)
                m = re.search(r"listening on (\w+)://[\d.]+:(\d+)", line)
                if m:
                    self.listeners[m.group(1)] = int(m.group(2))
                    if m.group(1) == "PLAINTEXT":
                        self.port = int(m.group(2))
                m = re.search(r"metrics at (http://\S+)", line)
                if m:
                    self.metrics_url = m.group(1)
                if line.startswith("cluster id"):
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.time() > deadline:
                break
        if not ready.is_set():
            self.kill()
            raise RuntimeError("broker did not start:\n" + "".join(self.output[-50:]))
        return self

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise RuntimeError("broker did not stop on SIGTERM")
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def cleanup(self):
        self.kill()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture
def broker_factory():
    started = []

    def make(**kwargs):
        b = Broker(**kwargs)
        started.append(b)
        return b.start()

    yield make
    for b in started:
        b.cleanup()


@pytest.fixture(scope="module")
def broker():
    b = Broker()
    try:
        b.start()
        yield b
    finally:
        b.cleanup()


@pytest.fixture
def topic_name(request):
    return f"{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")


def kcat(*args, input=None, timeout=60):
    """Runs kcat and returns its stdout."""
    exe = shutil.which("kcat") or shutil.which("kafkacat")
    if exe is None:
        pytest.fail("kcat is not installed (cargo xtask ci installs it)")
    res = subprocess.run([exe, *args], input=input, capture_output=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"kcat {' '.join(args)} failed ({res.returncode}): {res.stderr.decode(errors='replace')}")
    return res.stdout
