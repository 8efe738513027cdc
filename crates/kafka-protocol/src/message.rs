//! The codec traits every generated message implements.

use bytes::Bytes;

use crate::api_key::ApiKey;
use crate::error::Result;
use crate::primitives::Sink;

/// An inclusive range of versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// The oldest version.
    pub min: i16,
    /// The newest version.
    pub max: i16,
}

impl VersionRange {
    /// A range from `min` to `max`, both included.
    pub const fn new(min: i16, max: i16) -> Self {
        VersionRange { min, max }
    }

    /// Whether `version` lies in the range.
    pub const fn contains(&self, version: i16) -> bool {
        version >= self.min && version <= self.max
    }

    /// The overlap of two ranges, if any: what two peers can both speak.
    pub fn intersect(&self, other: &VersionRange) -> Option<VersionRange> {
        let min = self.min.max(other.min);
        let max = self.max.min(other.max);
        (min <= max).then_some(VersionRange { min, max })
    }
}

/// Writing a value at an explicit version.
pub trait Encodable {
    /// Writes `self` as `version` into `buf`. Fails, writing nothing useful, if a field holds
    /// a value that `version` cannot carry.
    fn encode<B: Sink>(&self, buf: &mut B, version: i16) -> Result<()>;

    /// The number of bytes [`Encodable::encode`] writes at `version`.
    fn compute_size(&self, version: i16) -> Result<usize>;
}

/// Reading a value at an explicit version.
pub trait Decodable: Sized {
    /// Reads a value of `version` from the front of `buf`, advancing it. Byte and record
    /// fields share `buf`'s allocation.
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self>;
}

/// A top-level message: a request or response body, a header, or a data record.
pub trait Message: Encodable + Decodable + Default {
    /// The message's name, as in Kafka's definitions.
    const NAME: &'static str;
    /// The versions this codec reads and writes.
    const VERSIONS: VersionRange;
    /// The first flexible (KIP-482) version, if any.
    const FIRST_FLEXIBLE_VERSION: Option<i16>;
}

/// A request body, tied to its API key and response type.
pub trait Request: Message {
    /// The API this request belongs to.
    const KEY: ApiKey;
    /// The body that answers it.
    type Response: Message;
}
