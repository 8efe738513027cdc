//! The client's response path on raw bytes. The first 4 bytes are the API key and version of
//! the request the client sent (a client knows them from its in-flight request, not from the
//! response); the rest is the response frame: `ResponseHeader` at the version that API version
//! uses, then `ResponseKind::decode`.
//!
//! Every input must give `Ok` or `Err`, never a panic. A body that decodes must survive
//! re-encoding unchanged.

#![no_main]

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::ResponseKind;
use kafka_protocol::{ApiKey, Decodable, ResponseHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = Bytes::copy_from_slice(data);
    if buf.remaining() < 4 {
        return;
    }
    let key = buf.get_i16();
    let version = buf.get_i16();
    let Some(api) = ApiKey::from_id(key) else {
        return;
    };
    let header_version = api.response_header_version(version);
    if ResponseHeader::decode(&mut buf, header_version).is_err() {
        return;
    }
    let Ok(body) = ResponseKind::decode(api, &mut buf, version) else {
        return;
    };
    assert_eq!(body.api_key(), api);

    let mut out = BytesMut::new();
    body.encode(&mut out, version)
        .unwrap_or_else(|e| panic!("{api:?} v{version}: a decoded body does not encode: {e}"));
    assert_eq!(
        body.compute_size(version).ok(),
        Some(out.len()),
        "{api:?} v{version}: compute_size"
    );
    let mut again = out.freeze();
    let decoded = ResponseKind::decode(api, &mut again, version)
        .unwrap_or_else(|e| panic!("{api:?} v{version}: a re-encoded body does not decode: {e}"));
    assert!(
        again.is_empty(),
        "{api:?} v{version}: bytes left after re-decoding"
    );
    assert_eq!(
        decoded, body,
        "{api:?} v{version}: re-encoding changed the body"
    );
});
