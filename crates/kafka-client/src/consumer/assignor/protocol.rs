//! The consumer protocol's group metadata: what a member puts in its JoinGroup protocol
//! metadata ([`Subscription`]) and what the leader hands out through SyncGroup
//! ([`Assignment`]), each as an `int16` version followed by the body (Kafka's
//! `ConsumerProtocol`).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::{
    self as wire_assignment, ConsumerProtocolAssignment,
};
use kafka_protocol::messages::consumer_protocol_subscription::{
    self as wire_subscription, ConsumerProtocolSubscription,
};
use kafka_protocol::primitives::get_i16;
use kafka_protocol::{Decodable, Message};

use crate::{Result, TopicPartition};

/// The version this client writes: what Java 3.x and later write, so a mixed group sees the
/// owned partitions, generation and rack of every member.
pub const CONSUMER_PROTOCOL_VERSION: i16 = 3;

/// The `protocol_type` of a consumer group in JoinGroup.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// One member's subscription, as sent in its JoinGroup protocol metadata (Java's
/// `ConsumerPartitionAssignor.Subscription`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// The topics the member wants partitions of.
    pub topics: Vec<String>,
    /// Assignor-specific data (for cooperative-sticky, the member's generation).
    pub user_data: Option<Bytes>,
    /// The partitions the member owns now; the cooperative protocol and sticky assignors
    /// depend on it (version 1+).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which the member got `owned_partitions`, so that claims from a
    /// member that missed a rebalance lose against current ones (version 2+). `None` is
    /// written as -1.
    pub generation_id: Option<i32>,
    /// The member's `client.rack`, for rack-aware assignment (version 3+).
    pub rack_id: Option<String>,
}

/// What the leader assigns one member, as carried in SyncGroup (Java's
/// `ConsumerPartitionAssignor.Assignment`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// The partitions the member now owns.
    pub partitions: Vec<TopicPartition>,
    /// Assignor-specific data.
    pub user_data: Option<Bytes>,
}

/// Clamps a version read from a peer as Java does: newer versions may only append fields, so
/// they are read with the newest layout we know and their extra bytes are left unread.
fn readable_version<M: Message>(version: i16) -> Result<i16> {
    if version < M::VERSIONS.min {
        return Err(kafka_protocol::Error::UnsupportedVersion {
            message: M::NAME,
            version,
        }
        .into());
    }
    Ok(version.min(M::VERSIONS.max))
}

fn version_prefixed<M: Message>(message: &M, version: i16) -> Result<Bytes> {
    let mut buf = BytesMut::with_capacity(2 + message.compute_size(version)?);
    buf.put_i16(version);
    message.encode(&mut buf, version)?;
    Ok(buf.freeze())
}

/// Groups partitions by topic, in order of each topic's first appearance.
fn group_by_topic(partitions: &[TopicPartition]) -> Vec<(String, Vec<i32>)> {
    let mut groups: Vec<(String, Vec<i32>)> = Vec::new();
    for tp in partitions {
        match groups.iter_mut().find(|(t, _)| **t == *tp.topic) {
            Some((_, ps)) => ps.push(tp.partition),
            None => groups.push((tp.topic.to_string(), vec![tp.partition])),
        }
    }
    groups
}

fn expand(topic: &str, partitions: &[i32], out: &mut Vec<TopicPartition>) {
    let topic: std::sync::Arc<str> = topic.into();
    out.extend(
        partitions
            .iter()
            .map(|&p| TopicPartition::new(topic.clone(), p)),
    );
}

/// Serializes a subscription at [`CONSUMER_PROTOCOL_VERSION`], topics and owned partitions
/// sorted as Java writes them (so the same subscription always gives the same bytes, which
/// lets the coordinator see that a rejoining member's metadata did not change).
pub fn encode_subscription(subscription: &Subscription) -> Result<Bytes> {
    let mut topics = subscription.topics.clone();
    topics.sort();
    let mut owned = subscription.owned_partitions.clone();
    owned.sort();
    let owned_partitions = group_by_topic(&owned)
        .into_iter()
        .map(|(topic, partitions)| {
            wire_subscription::TopicPartition::default()
                .with_topic(topic)
                .with_partitions(partitions)
        })
        .collect();
    let message = ConsumerProtocolSubscription::default()
        .with_topics(topics)
        .with_user_data(subscription.user_data.clone())
        .with_owned_partitions(owned_partitions)
        .with_generation_id(subscription.generation_id.unwrap_or(-1))
        .with_rack_id(subscription.rack_id.clone());
    version_prefixed(&message, CONSUMER_PROTOCOL_VERSION)
}

/// Reads a subscription written by any consumer (this one, Java, librdkafka, ...), at any
/// version from 0 up, including versions newer than 3.
///
/// A negative generation and an empty rack read as `None`, as in Java.
pub fn decode_subscription(mut data: Bytes) -> Result<Subscription> {
    let version = readable_version::<ConsumerProtocolSubscription>(get_i16(&mut data)?)?;
    let message = ConsumerProtocolSubscription::decode(&mut data, version)?;
    let mut owned_partitions = Vec::new();
    for tp in &message.owned_partitions {
        expand(&tp.topic, &tp.partitions, &mut owned_partitions);
    }
    Ok(Subscription {
        topics: message.topics,
        user_data: message.user_data,
        owned_partitions,
        generation_id: (message.generation_id >= 0).then_some(message.generation_id),
        rack_id: message.rack_id.filter(|r| !r.is_empty()),
    })
}

/// Serializes an assignment at [`CONSUMER_PROTOCOL_VERSION`], partitions grouped by topic.
pub fn encode_assignment(assignment: &Assignment) -> Result<Bytes> {
    let assigned_partitions = group_by_topic(&assignment.partitions)
        .into_iter()
        .map(|(topic, partitions)| {
            wire_assignment::TopicPartition::default()
                .with_topic(topic)
                .with_partitions(partitions)
        })
        .collect();
    let message = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(assigned_partitions)
        .with_user_data(assignment.user_data.clone());
    version_prefixed(&message, CONSUMER_PROTOCOL_VERSION)
}

/// Reads an assignment at any version from 0 up (newer versions read as 3).
///
/// Empty input is an empty assignment: the group coordinator hands zero bytes to a member
/// the leader left out of its SyncGroup, and that member must then simply own nothing.
pub fn decode_assignment(mut data: Bytes) -> Result<Assignment> {
    if data.is_empty() {
        return Ok(Assignment::default());
    }
    let version = readable_version::<ConsumerProtocolAssignment>(get_i16(&mut data)?)?;
    let message = ConsumerProtocolAssignment::decode(&mut data, version)?;
    let mut partitions = Vec::new();
    for tp in &message.assigned_partitions {
        expand(&tp.topic, &tp.partitions, &mut partitions);
    }
    Ok(Assignment {
        partitions,
        user_data: message.user_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use proptest::prelude::*;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    /// Writes a v0 subscription by hand, the way a 0.10-era client does.
    fn v0_subscription(topics: &[&str], user_data: Option<&[u8]>) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(0);
        b.put_i32(topics.len() as i32);
        for t in topics {
            b.put_i16(t.len() as i16);
            b.put_slice(t.as_bytes());
        }
        match user_data {
            Some(d) => {
                b.put_i32(d.len() as i32);
                b.put_slice(d);
            }
            None => b.put_i32(-1),
        }
        b.freeze()
    }

    #[test]
    fn subscription_round_trips_at_v3() {
        let sub = Subscription {
            topics: vec!["b".into(), "a".into()],
            user_data: Some(Bytes::from_static(&[0, 0, 0, 7])),
            owned_partitions: vec![tp("b", 1), tp("a", 2), tp("a", 0)],
            generation_id: Some(7),
            rack_id: Some("rack-1".into()),
        };
        let bytes = encode_subscription(&sub).unwrap();
        assert_eq!(&bytes[..2], &[0, 3]);
        let back = decode_subscription(bytes).unwrap();
        assert_eq!(back.topics, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(
            back.owned_partitions,
            vec![tp("a", 0), tp("a", 2), tp("b", 1)]
        );
        assert_eq!(back.user_data, sub.user_data);
        assert_eq!(back.generation_id, Some(7));
        assert_eq!(back.rack_id.as_deref(), Some("rack-1"));
    }

    #[test]
    fn absent_generation_and_rack_read_as_none() {
        let sub = Subscription {
            topics: vec!["t".into()],
            rack_id: Some(String::new()),
            ..Subscription::default()
        };
        let back = decode_subscription(encode_subscription(&sub).unwrap()).unwrap();
        assert_eq!(back.generation_id, None);
        assert_eq!(back.rack_id, None);
        assert_eq!(back.user_data, None);
    }

    #[test]
    fn subscription_encoding_is_stable_under_reordering() {
        let a = Subscription {
            topics: vec!["x".into(), "y".into()],
            owned_partitions: vec![tp("y", 0), tp("x", 1)],
            ..Subscription::default()
        };
        let b = Subscription {
            topics: vec!["y".into(), "x".into()],
            owned_partitions: vec![tp("x", 1), tp("y", 0)],
            ..Subscription::default()
        };
        assert_eq!(
            encode_subscription(&a).unwrap(),
            encode_subscription(&b).unwrap()
        );
    }

    #[test]
    fn reads_v0_subscription() {
        let sub = decode_subscription(v0_subscription(&["t1", "t2"], Some(b"ud"))).unwrap();
        assert_eq!(sub.topics, vec!["t1".to_string(), "t2".to_string()]);
        assert_eq!(sub.user_data.as_deref(), Some(&b"ud"[..]));
        assert!(sub.owned_partitions.is_empty());
        assert_eq!(sub.generation_id, None);
    }

    #[test]
    fn reads_future_version_as_v3_ignoring_trailing_fields() {
        let sub = Subscription {
            topics: vec!["t".into()],
            owned_partitions: vec![tp("t", 3)],
            generation_id: Some(4),
            ..Subscription::default()
        };
        let mut bytes = BytesMut::from(&encode_subscription(&sub).unwrap()[..]);
        bytes[0..2].copy_from_slice(&9i16.to_be_bytes());
        bytes.put_slice(b"some field from the future");
        assert_eq!(decode_subscription(bytes.freeze()).unwrap(), sub);

        let asg = Assignment {
            partitions: vec![tp("t", 1)],
            user_data: None,
        };
        let mut bytes = BytesMut::from(&encode_assignment(&asg).unwrap()[..]);
        bytes[0..2].copy_from_slice(&i16::MAX.to_be_bytes());
        bytes.put_u8(0xff);
        assert_eq!(decode_assignment(bytes.freeze()).unwrap(), asg);
    }

    #[test]
    fn negative_version_is_an_error() {
        let mut b = BytesMut::new();
        b.put_i16(-1);
        b.put_i32(0);
        b.put_i32(-1);
        assert!(matches!(
            decode_subscription(b.clone().freeze()),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(
            decode_assignment(b.freeze()),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn truncated_input_is_an_error() {
        let sub = Subscription {
            topics: vec!["topic".into()],
            owned_partitions: vec![tp("topic", 0)],
            generation_id: Some(1),
            rack_id: Some("r".into()),
            ..Subscription::default()
        };
        let bytes = encode_subscription(&sub).unwrap();
        for len in 0..bytes.len() {
            assert!(
                decode_subscription(bytes.slice(..len)).is_err(),
                "len {len}"
            );
        }
        let asg = Assignment {
            partitions: vec![tp("topic", 0)],
            user_data: Some(Bytes::from_static(b"x")),
        };
        let bytes = encode_assignment(&asg).unwrap();
        // Zero bytes is the coordinator's "nothing for you"; every other prefix is broken.
        for len in 1..bytes.len() {
            assert!(decode_assignment(bytes.slice(..len)).is_err(), "len {len}");
        }
    }

    #[test]
    fn assignment_round_trips_grouped_by_topic() {
        let asg = Assignment {
            partitions: vec![tp("a", 0), tp("b", 0), tp("a", 1)],
            user_data: Some(Bytes::from_static(b"data")),
        };
        let bytes = encode_assignment(&asg).unwrap();
        assert_eq!(&bytes[..2], &[0, 3]);
        let back = decode_assignment(bytes).unwrap();
        assert_eq!(back.partitions, vec![tp("a", 0), tp("a", 1), tp("b", 0)]);
        assert_eq!(back.user_data, asg.user_data);
    }

    #[test]
    fn empty_assignment_bytes_mean_no_partitions() {
        assert_eq!(
            decode_assignment(Bytes::new()).unwrap(),
            Assignment::default()
        );
    }

    #[test]
    fn reads_v0_assignment() {
        let mut b = BytesMut::new();
        b.put_i16(0);
        b.put_i32(1);
        b.put_i16(1);
        b.put_slice(b"t");
        b.put_i32(2);
        b.put_i32(0);
        b.put_i32(5);
        b.put_i32(-1);
        let asg = decode_assignment(b.freeze()).unwrap();
        assert_eq!(asg.partitions, vec![tp("t", 0), tp("t", 5)]);
        assert_eq!(asg.user_data, None);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_subscription(Bytes::from(data.clone()));
            let _ = decode_assignment(Bytes::from(data));
        }

        #[test]
        fn random_bytes_after_a_valid_version_never_panic(
            version in -2i16..6,
            data in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut b = BytesMut::new();
            b.put_i16(version);
            b.put_slice(&data);
            let _ = decode_subscription(b.clone().freeze());
            let _ = decode_assignment(b.freeze());
        }

        #[test]
        fn subscriptions_round_trip(
            topics in proptest::collection::btree_set("[a-z]{1,5}", 0..5),
            owned in proptest::collection::btree_set(("[a-z]{1,3}", 0i32..8), 0..8),
            generation in proptest::option::of(0i32..1000),
            rack in proptest::option::of("[a-z]{1,4}"),
            user_data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
        ) {
            let sub = Subscription {
                topics: topics.into_iter().collect(),
                user_data: user_data.map(Bytes::from),
                owned_partitions: owned.into_iter().map(|(t, p)| tp(&t, p)).collect(),
                generation_id: generation,
                rack_id: rack,
            };
            prop_assert_eq!(decode_subscription(encode_subscription(&sub)?)?, sub);
        }
    }
}
