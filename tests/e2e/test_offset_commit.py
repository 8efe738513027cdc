"""OffsetCommit for a topic or partition that does not exist: Kafka answers
UNKNOWN_TOPIC_OR_PARTITION for that partition (and commits the partitions that exist), through
a consumer's commit and the admin clients' alter-group-offsets."""

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient
from kafka import TopicPartition as KpTopicPartition
from kafka.errors import UnknownTopicOrPartitionError
from kafka.structs import OffsetAndMetadata

from helpers import create_topic

pytestmark = pytest.mark.timeout(120)


def test_confluent_commit_to_a_missing_topic_fails_for_that_partition(broker, topic_name):
    create_topic(broker, topic_name, partitions=1)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"g-{topic_name}",
                  "enable.auto.commit": False})
    try:
        missing = f"{topic_name}-missing"
        offsets = [TopicPartition(topic_name, 0, 5), TopicPartition(topic_name, 3, 5), TopicPartition(missing, 0, 5)]
        try:
            result = c.commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            # librdkafka raises when any partition failed; the partitions are in the error's args.
            assert e.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, e
            result = None
        if result is not None:
            errors = {(tp.topic, tp.partition): tp.error for tp in result}
            assert errors[(topic_name, 0)] is None
            assert errors[(topic_name, 3)].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            assert errors[(missing, 0)].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
        committed = c.committed([TopicPartition(topic_name, 0)], timeout=10)
        assert committed[0].offset == 5, "the partition that exists is committed"
    finally:
        c.close()


def test_confluent_admin_alter_offsets_of_a_missing_topic(broker, topic_name):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    group = f"g-admin-{topic_name}"
    futures = admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(f"{topic_name}-missing", 0, 7)])])
    try:
        result = futures[group].result(timeout=30)
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, e
        return
    # librdkafka reports partition-level errors on the partitions it returns.
    [tp] = result.topic_partitions
    assert tp.error is not None and tp.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, tp


def test_kafka_python_alter_group_offsets_answers_per_partition(broker, topic_name):
    create_topic(broker, topic_name, partitions=2)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    try:
        result = admin.alter_group_offsets(f"g-kp-{topic_name}", {
            KpTopicPartition(topic_name, 1): OffsetAndMetadata(3, "", -1),
            KpTopicPartition(topic_name, 2): OffsetAndMetadata(3, "", -1),
            KpTopicPartition(f"{topic_name}-missing", 0): OffsetAndMetadata(3, "", -1),
        })
        by_tp = {(tp.topic, tp.partition): err for tp, err in result.items()}
        assert by_tp[(topic_name, 1)].errno == 0, by_tp
        assert by_tp[(topic_name, 2)] is UnknownTopicOrPartitionError, by_tp
        assert by_tp[(f"{topic_name}-missing", 0)] is UnknownTopicOrPartitionError, by_tp
    finally:
        admin.close()
