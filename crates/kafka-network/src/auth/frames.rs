//! Encoding and decoding the Kafka requests and responses of the SASL exchange.

use bytes::{Bytes, BytesMut};
use kafka_protocol::{ApiKey, Decodable, Encodable, RequestHeader, ResponseHeader};

use crate::error::{Error, Result};

/// A response frame: the header version `api_key`/`version` uses, then `body`.
pub(crate) fn encode_response<M: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> Result<Bytes> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let mut buf = BytesMut::new();
    header.encode(&mut buf, api_key.response_header_version(version))?;
    body.encode(&mut buf, version)?;
    Ok(buf.freeze())
}

/// A request frame.
pub(crate) fn encode_request<M: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &M,
) -> Result<Bytes> {
    let header = RequestHeader::default()
        .with_request_api_key(api_key.id())
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(client_id.map(str::to_owned));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, api_key.request_header_version(version))?;
    body.encode(&mut buf, version)?;
    Ok(buf.freeze())
}

/// Decodes a response to the request `api_key`/`version` sent with `correlation_id`.
pub(crate) fn decode_response<M: Decodable>(
    mut frame: Bytes,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
) -> Result<M> {
    let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))?;
    if header.correlation_id != correlation_id {
        return Err(Error::IllegalSaslState(format!(
            "correlation id {} of the {api_key:?} response does not match the request's {correlation_id}",
            header.correlation_id
        )));
    }
    Ok(M::decode(&mut frame, version)?)
}
