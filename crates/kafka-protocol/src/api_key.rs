//! The API-key table: what the codec can read and write.
//!
//! [`ApiKey`] is generated with the codec's ranges ([`ApiKey::valid_versions`]: every version
//! the definitions describe) and first flexible versions. Which versions a broker advertises or
//! a client prefers is policy, not definition, and lives with them (the broker's API table).

pub use crate::messages::ApiKey;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VersionRange;

    #[test]
    fn codec_ranges_that_bite_clients() {
        assert_eq!(ApiKey::Produce.valid_versions(), VersionRange::new(0, 11));
        assert_eq!(ApiKey::Fetch.valid_versions(), VersionRange::new(0, 17));
        assert_eq!(
            ApiKey::ApiVersions.valid_versions(),
            VersionRange::new(0, 4)
        );
    }

    #[test]
    fn ids_round_trip() {
        for key in ApiKey::ALL {
            assert_eq!(ApiKey::from_id(key.id()), Some(key));
        }
        // 35 client APIs, 5 of Kafka's controller/quorum APIs (BrokerRegistration,
        // BrokerHeartbeat, UnregisterBroker, DescribeQuorum, AllocateProducerIds) and this
        // project's own RaftMessage.
        assert_eq!(ApiKey::ALL.len(), 41);
        assert_eq!(ApiKey::RaftMessage.id(), 10000);
        assert_eq!(ApiKey::from_id(-1), None);
        assert_eq!(ApiKey::from_id(1000), None);
        assert_eq!(ApiKey::Produce.id(), 0);
        assert_eq!(ApiKey::DescribeCluster.id(), 60);
    }
}
