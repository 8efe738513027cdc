"""Topic configs validated as Kafka validates them: CreateTopics and AlterConfigs refuse
unknown keys, wrong types and out-of-range values with INVALID_CONFIG naming the key, and
CreateTopics / CreatePartitions honour validate_only (nothing created, the answer as if)."""

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic
from kafka import KafkaAdminClient
from kafka.admin import NewTopic as KpNewTopic
from kafka.errors import InvalidConfigurationError

from helpers import create_topic

pytestmark = pytest.mark.timeout(120)

BAD = [
    ("no.such.config", "1"),
    ("retention.ms", "soon"),
    ("segment.bytes", "10"),
    ("cleanup.policy", "shred"),
    ("min.insync.replicas", "0"),
]


_ADMINS = {}


def admin(b):
    # One client per broker, kept alive: a dropped AdminClient fails its pending futures.
    if b.bootstrap not in _ADMINS:
        _ADMINS[b.bootstrap] = AdminClient({"bootstrap.servers": b.bootstrap})
    return _ADMINS[b.bootstrap]


def topics(b):
    return admin(b).list_topics(timeout=10).topics


@pytest.mark.parametrize("key,value", BAD)
def test_create_topics_refuses_invalid_configs_naming_the_key(broker, topic_name, key, value):
    for validate_only in (False, True):
        fut = admin(broker).create_topics([NewTopic(topic_name, 1, 1, config={key: value})],
                                          validate_only=validate_only, operation_timeout=10)
        with pytest.raises(KafkaException) as e:
            fut[topic_name].result(timeout=30)
        err = e.value.args[0]
        assert err.code() == KafkaError.INVALID_CONFIG, err
        assert key in err.str(), err.str()
    assert topic_name not in topics(broker)


def test_create_topics_validate_only_creates_nothing(broker, topic_name):
    fut = admin(broker).create_topics([NewTopic(topic_name, 4, 1, config={"retention.ms": "60000"})],
                                      validate_only=True, operation_timeout=10)
    assert fut[topic_name].result(timeout=30) is None
    assert topic_name not in topics(broker)
    # The real thing then succeeds, and a second validate_only says it exists.
    create_topic(broker, topic_name, partitions=4, config={"retention.ms": "60000"})
    fut = admin(broker).create_topics([NewTopic(topic_name, 4, 1)], validate_only=True)
    with pytest.raises(KafkaException) as e:
        fut[topic_name].result(timeout=30)
    assert e.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS


def test_create_partitions_validate_only_adds_none(broker, topic_name):
    create_topic(broker, topic_name, partitions=2)
    fut = admin(broker).create_partitions([NewPartitions(topic_name, 5)], validate_only=True)
    assert fut[topic_name].result(timeout=30) is None
    assert len(topics(broker)[topic_name].partitions) == 2
    fut = admin(broker).create_partitions([NewPartitions(topic_name, 5)])
    fut[topic_name].result(timeout=30)
    assert len(topics(broker)[topic_name].partitions) == 5


def test_alter_configs_validates_like_create(broker, topic_name):
    create_topic(broker, topic_name, partitions=1)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name, set_config={"retention.ms": "soon"})
    fut = admin(broker).alter_configs([res])
    with pytest.raises(KafkaException) as e:
        list(fut.values())[0].result(timeout=30)
    assert e.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert "retention.ms" in e.value.args[0].str()
    # validate_only: accepted, not applied.
    res = ConfigResource(ConfigResource.Type.TOPIC, topic_name, set_config={"retention.ms": "1234"})
    list(admin(broker).alter_configs([res], validate_only=True).values())[0].result(timeout=30)
    described = list(admin(broker).describe_configs(
        [ConfigResource(ConfigResource.Type.TOPIC, topic_name)]).values())[0].result(timeout=30)
    assert described["retention.ms"].value != "1234"


def test_kafka_python_create_topics_sees_invalid_config(broker, topic_name):
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    try:
        with pytest.raises(InvalidConfigurationError):
            client.create_topics([KpNewTopic(topic_name, 1, 1, topic_configs={"retention.ms": "soon"})])
        client.create_topics([KpNewTopic(topic_name, 1, 1)], validate_only=True)
    finally:
        client.close()
    assert topic_name not in topics(broker)
