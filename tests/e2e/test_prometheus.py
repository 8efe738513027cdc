"""The Prometheus endpoint serves request metrics, named as the JMX exporter names Kafka's
RequestMetrics MBeans, for the APIs the clients used."""

import re
import time
import urllib.request

from helpers import RawConnection, consume_confluent, create_topic, produce_confluent

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(b, timeout=10):
    """{(name, frozenset(labels)): value} and the raw text of one GET of the metrics URL."""
    assert b.metrics_url, "the broker did not print its metrics address"
    with urllib.request.urlopen(b.metrics_url, timeout=timeout) as r:
        assert r.status == 200
        assert r.headers.get("Content-Type", "").startswith("text/plain")
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, f"not Prometheus text format: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples, text


def total(samples, name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_request_metrics_for_the_apis_used(broker_factory, topic_name):
    b = broker_factory()
    create_topic(b, topic_name, 1)
    produce_confluent(b, topic_name, [(b"k", f"v{i}".encode(), []) for i in range(100)])
    assert len(consume_confluent(b, topic_name, 1, 100, timeout=30)) == 100
    # A long-poll fetch with no data: its total time includes the wait.
    with RawConnection(b.bootstrap, timeout=15) as conn:
        conn.fetch_result(conn.send_fetch(topic_name, 0, 100, max_wait_ms=1000))

    samples, text = scrape(b)
    for api in ("Produce", "Fetch", "Metadata", "ApiVersions", "CreateTopics"):
        assert f'kafka_network_requestmetrics_requests_total{{request="{api}"' in text, api
        assert total(samples, "kafka_network_requestmetrics_requests_total", request=api) >= 1, api
        assert total(samples, "kafka_network_requestmetrics_totaltimems_count", request=api) >= 1, api
        assert f'kafka_network_requestmetrics_totaltimems{{request="{api}"' in text, api
    # Every request of a version is counted under that version label.
    produce_versions = {dict(ls).get("version") for (n, ls) in samples
                        if n == "kafka_network_requestmetrics_requests_total" and ("request", "Produce") in ls}
    assert produce_versions and all(v and v.isdigit() for v in produce_versions)
    # The parked fetch shows in the Fetch total time (the largest observation is at least ~1 s).
    assert samples[("kafka_network_requestmetrics_totaltimems", frozenset({("request", "Fetch"), ("quantile", "1")}))] >= 900

    # Counters move with traffic.
    before = total(samples, "kafka_network_requestmetrics_requests_total", request="Produce")
    produce_confluent(b, topic_name, [(b"k", b"more", [])], **{"linger.ms": 0})
    deadline = time.time() + 10
    while True:
        samples, _ = scrape(b)
        after = total(samples, "kafka_network_requestmetrics_requests_total", request="Produce")
        if after > before or time.time() > deadline:
            break
        time.sleep(0.2)
    assert after > before
