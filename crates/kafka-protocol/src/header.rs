//! Request and response headers, and which header version each API version uses.
//!
//! The headers themselves are generated from Kafka's `RequestHeader.json` and
//! `ResponseHeader.json` like every other message. Request header v0 is only ever used by
//! ControlledShutdown v0 (outside our scope), v1 by non-flexible versions and v2 by flexible
//! ones; response header v0 by non-flexible versions and v1 by flexible ones, except that
//! ApiVersions always answers with v0 so that a client that does not yet know the broker's
//! versions can read it (see [`ApiKey::response_header_version`]).

pub use crate::messages::request_header::RequestHeader;
pub use crate::messages::response_header::ResponseHeader;

use bytes::{Buf, Bytes};

use crate::api_key::ApiKey;
use crate::error::{Error, Result};

/// The API key and version at the front of a request, read without consuming anything: what a
/// server needs to pick the header version before decoding the rest.
pub fn peek_api_key_and_version(frame: &Bytes) -> Result<(i16, i16)> {
    if frame.remaining() < 4 {
        return Err(Error::UnexpectedEof {
            needed: 4,
            remaining: frame.remaining(),
        });
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    Ok((key, version))
}

impl ApiKey {
    /// The request header version used by `version` of this API.
    pub fn request_header_version(self, version: i16) -> i16 {
        if self.is_flexible(version) {
            2
        } else {
            1
        }
    }

    /// The response header version used by `version` of this API. ApiVersions always uses v0.
    pub fn response_header_version(self, version: i16) -> i16 {
        if self != ApiKey::ApiVersions && self.is_flexible(version) {
            1
        } else {
            0
        }
    }

    /// Whether `version` of this API is flexible (KIP-482).
    pub fn is_flexible(self, version: i16) -> bool {
        self.first_flexible_version().is_some_and(|f| version >= f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decodable, Encodable};
    use bytes::BytesMut;

    #[test]
    fn header_versions_follow_flexibility() {
        assert_eq!(ApiKey::Metadata.request_header_version(8), 1);
        assert_eq!(ApiKey::Metadata.request_header_version(9), 2);
        assert_eq!(ApiKey::Metadata.response_header_version(8), 0);
        assert_eq!(ApiKey::Metadata.response_header_version(9), 1);
        assert_eq!(ApiKey::ApiVersions.request_header_version(3), 2);
        assert_eq!(ApiKey::ApiVersions.response_header_version(3), 0);
        assert_eq!(ApiKey::ApiVersions.response_header_version(4), 0);
        assert_eq!(ApiKey::SaslHandshake.request_header_version(1), 1);
    }

    #[test]
    fn request_header_v2_keeps_a_classic_client_id() {
        // v2 is flexible but ClientId keeps its i16 length so old brokers can read it.
        let h = RequestHeader::default()
            .with_request_api_key(18)
            .with_request_api_version(3)
            .with_correlation_id(1)
            .with_client_id(Some("ab".into()));
        let mut b = BytesMut::new();
        h.encode(&mut b, 2).unwrap();
        assert_eq!(&b[..], &[0, 18, 0, 3, 0, 0, 0, 1, 0, 2, b'a', b'b', 0]);
        assert_eq!(b.len(), h.compute_size(2).unwrap());
        let mut r = b.freeze();
        assert_eq!(peek_api_key_and_version(&r).unwrap(), (18, 3));
        assert_eq!(RequestHeader::decode(&mut r, 2).unwrap(), h);
        // v1: the same without the tag section; a null client id is -1.
        let h = h.with_client_id(None);
        let mut b = BytesMut::new();
        h.encode(&mut b, 1).unwrap();
        assert_eq!(&b[..], &[0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff]);
    }

    #[test]
    fn response_header_bytes() {
        let h = ResponseHeader::default().with_correlation_id(258);
        let mut b = BytesMut::new();
        h.encode(&mut b, 0).unwrap();
        assert_eq!(&b[..], &[0, 0, 1, 2]);
        let mut b = BytesMut::new();
        h.encode(&mut b, 1).unwrap();
        assert_eq!(&b[..], &[0, 0, 1, 2, 0]);
    }
}
