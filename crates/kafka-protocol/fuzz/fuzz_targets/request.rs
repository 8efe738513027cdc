//! The server's request path on raw bytes: a request frame (what follows the 4-byte size
//! prefix) is read as a Processor does: `peek_api_key_and_version`, `ApiKey::from_id`, the
//! header version, `RequestHeader::decode`, `RequestKind::decode`.
//!
//! Every input must give `Ok` or `Err`, never a panic. A body that decodes must also survive
//! re-encoding: `compute_size` equals the bytes `encode` writes, and decoding those bytes gives
//! the same value.

#![no_main]

use bytes::{Bytes, BytesMut};
use kafka_protocol::header::peek_api_key_and_version;
use kafka_protocol::messages::RequestKind;
use kafka_protocol::{ApiKey, Decodable, RequestHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    let Ok((key, version)) = peek_api_key_and_version(&frame) else {
        return;
    };
    let Some(api) = ApiKey::from_id(key) else {
        return;
    };
    let header_version = api.request_header_version(version);
    let mut buf = frame;
    let Ok(header) = RequestHeader::decode(&mut buf, header_version) else {
        return;
    };
    assert_eq!(
        (header.request_api_key, header.request_api_version),
        (key, version)
    );
    let Ok(body) = RequestKind::decode(api, &mut buf, version) else {
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
    let decoded = RequestKind::decode(api, &mut again, version)
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
