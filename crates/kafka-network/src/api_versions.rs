//! What a broker advertises in ApiVersions, as data the broker hands down.
//!
//! The ranges are the broker's policy (its API table decides them); the network layer only
//! consults them: to refuse an API or version that is not advertised, to answer an ApiVersions
//! request newer than any advertised version, and to answer ApiVersions during SASL. Keeping
//! them as data means no layer below the broker has an opinion of its own about versions.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::{ApiKey, ErrorCode, VersionRange};

/// The advertised version range of each API, in the order the broker listed them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdvertisedApis {
    ranges: Vec<(ApiKey, VersionRange)>,
}

impl AdvertisedApis {
    /// Advertises `ranges`; a key listed twice keeps its first range.
    pub fn new(ranges: impl IntoIterator<Item = (ApiKey, VersionRange)>) -> Self {
        let mut out: Vec<(ApiKey, VersionRange)> = Vec::new();
        for (key, range) in ranges {
            if !out.iter().any(|(k, _)| *k == key) {
                out.push((key, range));
            }
        }
        AdvertisedApis { ranges: out }
    }

    /// The advertised range of `key`, if it is advertised.
    pub fn range(&self, key: ApiKey) -> Option<VersionRange> {
        self.ranges.iter().find(|(k, _)| *k == key).map(|(_, r)| *r)
    }

    /// Whether `version` of `key` is advertised.
    pub fn is_advertised(&self, key: ApiKey, version: i16) -> bool {
        self.range(key).is_some_and(|r| r.contains(version))
    }

    /// Every advertised API with its range, in order.
    pub fn iter(&self) -> impl Iterator<Item = (ApiKey, VersionRange)> + '_ {
        self.ranges.iter().copied()
    }

    /// The ApiVersions entry of `key`, if advertised.
    pub fn entry(&self, key: ApiKey) -> Option<ApiVersion> {
        self.range(key).map(|r| entry(key, r))
    }

    /// The ApiVersions entries of every advertised API, in order.
    pub fn entries(&self) -> Vec<ApiVersion> {
        self.ranges.iter().map(|(k, r)| entry(*k, *r)).collect()
    }

    /// The body answering an ApiVersions request newer than any advertised: v0,
    /// `UNSUPPORTED_VERSION` and every advertised range, so the client can pick a version.
    pub fn unsupported_version_response(&self) -> kafka_protocol::messages::ApiVersionsResponse {
        kafka_protocol::messages::ApiVersionsResponse::default()
            .with_error_code(ErrorCode::UnsupportedVersion.code())
            .with_api_keys(self.entries())
    }
}

fn entry(key: ApiKey, range: VersionRange) -> ApiVersion {
    ApiVersion::default()
        .with_api_key(key.id())
        .with_min_version(range.min)
        .with_max_version(range.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_follow_the_data() {
        let apis = AdvertisedApis::new([
            (ApiKey::Fetch, VersionRange::new(4, 17)),
            (ApiKey::ApiVersions, VersionRange::new(0, 4)),
            (ApiKey::Fetch, VersionRange::new(0, 1)),
        ]);
        assert_eq!(apis.range(ApiKey::Fetch), Some(VersionRange::new(4, 17)));
        assert!(!apis.is_advertised(ApiKey::Fetch, 3));
        assert!(apis.is_advertised(ApiKey::Fetch, 4));
        assert!(!apis.is_advertised(ApiKey::Produce, 9));
        let keys: Vec<i16> = apis.entries().iter().map(|e| e.api_key).collect();
        assert_eq!(keys, vec![1, 18]);
        let r = apis.unsupported_version_response();
        assert_eq!(r.error_code, ErrorCode::UnsupportedVersion.code());
        assert_eq!(r.api_keys.len(), 2);
    }
}
