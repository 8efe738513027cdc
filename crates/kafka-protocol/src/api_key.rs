//! The API-key table: what the codec knows and what a broker advertises.
//!
//! [`ApiKey`] itself is generated with the codec's ranges (`valid_versions`) and first flexible
//! versions. The advertised ranges are policy, not definition, so they live here: Apache Kafka
//! 4.1's ranges (KIP-896 raised many minimums) capped at the newest version the definitions
//! describe, because a broker must never advertise a version it cannot decode.

use crate::message::VersionRange;
pub use crate::messages::ApiKey;

impl ApiKey {
    /// The versions a broker advertises in ApiVersions.
    ///
    /// Produce is advertised from v0 although only v3+ is accepted ([`ApiKey::min_accepted_version`]):
    /// librdkafka before 2.x (Debian's kcat among them) enables gzip/snappy/lz4 only when Produce
    /// v0 is inside the advertised range, so Kafka 4.0 kept advertising it (KAFKA-18659).
    pub const fn supported_versions(self) -> VersionRange {
        let (min, max_41) = match self {
            ApiKey::Produce => (0, 13),
            ApiKey::Fetch => (4, 18),
            ApiKey::ListOffsets => (1, 10),
            ApiKey::Metadata => (0, 13),
            ApiKey::OffsetCommit => (2, 9),
            ApiKey::OffsetFetch => (1, 9),
            ApiKey::FindCoordinator => (0, 6),
            ApiKey::JoinGroup => (0, 9),
            ApiKey::Heartbeat => (0, 4),
            ApiKey::LeaveGroup => (0, 5),
            ApiKey::SyncGroup => (0, 5),
            ApiKey::DescribeGroups => (0, 6),
            ApiKey::ListGroups => (0, 5),
            ApiKey::SaslHandshake => (0, 1),
            ApiKey::ApiVersions => (0, 4),
            ApiKey::CreateTopics => (2, 7),
            ApiKey::DeleteTopics => (1, 6),
            ApiKey::DeleteRecords => (0, 2),
            ApiKey::InitProducerId => (0, 5),
            ApiKey::OffsetForLeaderEpoch => (2, 4),
            ApiKey::AddPartitionsToTxn => (0, 5),
            ApiKey::AddOffsetsToTxn => (0, 4),
            ApiKey::EndTxn => (0, 5),
            ApiKey::TxnOffsetCommit => (0, 5),
            ApiKey::DescribeAcls => (1, 3),
            ApiKey::CreateAcls => (1, 3),
            ApiKey::DeleteAcls => (1, 3),
            ApiKey::DescribeConfigs => (1, 4),
            ApiKey::AlterConfigs => (0, 2),
            ApiKey::SaslAuthenticate => (0, 2),
            ApiKey::CreatePartitions => (0, 3),
            ApiKey::DeleteGroups => (0, 2),
            ApiKey::IncrementalAlterConfigs => (0, 1),
            ApiKey::OffsetDelete => (0, 0),
            ApiKey::DescribeCluster => (0, 2),
        };
        let valid = self.valid_versions();
        let max = if max_41 < valid.max {
            max_41
        } else {
            valid.max
        };
        VersionRange::new(min, max)
    }

    /// The oldest version a broker accepts. Equal to the advertised minimum except for Produce,
    /// whose v0–v2 are advertised but answered with UNSUPPORTED_VERSION.
    pub const fn min_accepted_version(self) -> i16 {
        match self {
            ApiKey::Produce => 3,
            _ => self.supported_versions().min,
        }
    }

    /// Whether a broker advertises `version` of this API.
    pub const fn is_supported(self, version: i16) -> bool {
        self.supported_versions().contains(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_ranges_are_decodable() {
        for key in ApiKey::ALL {
            let adv = key.supported_versions();
            let valid = key.valid_versions();
            assert!(adv.min <= adv.max, "{key:?}");
            assert!(
                valid.contains(adv.min) && valid.contains(adv.max),
                "{key:?} advertises {adv:?} beyond {valid:?}"
            );
            assert!(adv.contains(key.min_accepted_version()), "{key:?}");
        }
    }

    #[test]
    fn the_ranges_that_bite_clients() {
        assert_eq!(
            ApiKey::Produce.supported_versions(),
            VersionRange::new(0, 11)
        );
        assert_eq!(ApiKey::Produce.min_accepted_version(), 3);
        assert_eq!(ApiKey::Fetch.supported_versions(), VersionRange::new(4, 17));
        assert_eq!(
            ApiKey::Metadata.supported_versions(),
            VersionRange::new(0, 12)
        );
        assert_eq!(
            ApiKey::ListOffsets.supported_versions(),
            VersionRange::new(1, 10)
        );
        assert_eq!(
            ApiKey::ApiVersions.supported_versions(),
            VersionRange::new(0, 4)
        );
        assert_eq!(
            ApiKey::DescribeCluster.supported_versions(),
            VersionRange::new(0, 1)
        );
        assert_eq!(
            ApiKey::TxnOffsetCommit.supported_versions(),
            VersionRange::new(0, 4)
        );
    }

    #[test]
    fn ids_round_trip() {
        for key in ApiKey::ALL {
            assert_eq!(ApiKey::from_id(key.id()), Some(key));
        }
        assert_eq!(ApiKey::ALL.len(), 35);
        assert_eq!(ApiKey::from_id(-1), None);
        assert_eq!(ApiKey::from_id(1000), None);
        assert_eq!(ApiKey::Produce.id(), 0);
        assert_eq!(ApiKey::DescribeCluster.id(), 60);
    }
}
