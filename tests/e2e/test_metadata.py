"""Metadata, topic listing and topic administration with each client."""

import json

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from kafka.admin import KafkaAdminClient, NewTopic as KpNewTopic

from conftest import kcat


def test_kcat_lists_the_broker_and_topics(broker, topic_name):
    kcat("-b", broker.bootstrap, "-P", "-t", topic_name, input=b"hello\n")
    meta = json.loads(kcat("-b", broker.bootstrap, "-L", "-J"))
    assert [b["id"] for b in meta["brokers"]] == [1]
    assert topic_name in [t["topic"] for t in meta["topics"]]


def test_confluent_admin_creates_and_describes_a_topic(broker, topic_name):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.create_topics([NewTopic(topic_name, num_partitions=3, replication_factor=1)], operation_timeout=10)
    futures[topic_name].result(timeout=30)
    md = admin.list_topics(timeout=10)
    assert len(md.topics[topic_name].partitions) == 3
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
    configs = admin.describe_configs([res])[res].result(timeout=30)
    assert configs["retention.ms"].value == str(7 * 24 * 3600 * 1000)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name, set_config={"retention.ms": "3600000"})
    admin.alter_configs([res])[res].result(timeout=30)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
    assert admin.describe_configs([res])[res].result(timeout=30)["retention.ms"].value == "3600000"


def test_kafka_python_admin_creates_and_lists_a_topic(broker, topic_name):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000)
    try:
        admin.create_topics([KpNewTopic(topic_name, num_partitions=3, replication_factor=1)])
        assert topic_name in admin.list_topics()
        described = admin.describe_topics([topic_name])
        assert len(described[0]["partitions"]) == 3
    finally:
        admin.close()


def test_creating_an_existing_topic_fails_cleanly(broker, topic_name):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic_name, 1, 1)])[topic_name].result(timeout=30)
    try:
        admin.create_topics([NewTopic(topic_name, 1, 1)])[topic_name].result(timeout=30)
        raise AssertionError("second create succeeded")
    except Exception as e:  # confluent_kafka.KafkaException
        assert "TOPIC_ALREADY_EXISTS" in str(e) or "already exists" in str(e)
