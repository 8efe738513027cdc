//! Raft messages on the wire, in Kafka's framing, and `controller.quorum.voters`.
//!
//! A raft message travels as a Kafka request on the controller listener:
//!
//! ```text
//! length: int32                      (of everything after it)
//! request header v2                  api key RAFT_MESSAGE_API_KEY, api version 0,
//!                                    correlation id, client id "raft-<node id>", no tags
//! body: RaftMessageRequest v0        ClusterId (compact string), Message (compact bytes:
//!                                    raft's eraftpb.Message in protobuf), no tags
//! ```
//!
//! The answer is an acknowledgement that the receiver took the message, not that raft
//! acted on it (raft's own responses travel as requests the other way):
//!
//! ```text
//! length: int32
//! response header v1                 correlation id, no tags
//! body: RaftMessageResponse v0       ErrorCode int16 (0, or why the frame was refused), no tags
//! ```
//!
//! Both bodies are this project's own API, defined in Kafka's schema language
//! (`xtask/definitions/RaftMessage*.json`) and generated into `kafka-protocol` with Kafka's own
//! messages, so the broker's socket server parses them like any request.
//! [`RAFT_MESSAGE_API_KEY`] is 10000: Kafka's own keys stop in the low hundreds, so no real
//! client or broker sends it and a Kafka broker that receives it refuses it as unknown.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RaftMessageRequest, RaftMessageResponse};
use kafka_protocol::{Decodable, Encodable, RequestHeader, ResponseHeader};

use crate::error::{Error, Result};
use crate::node::RaftMessage;

/// The private API key of a raft message request (far outside Kafka's range).
pub const RAFT_MESSAGE_API_KEY: i16 = 10000;
/// The only version of the raft message request.
pub const RAFT_MESSAGE_API_VERSION: i16 = 0;
/// The request header version raft frames use (flexible: header v2).
pub const RAFT_REQUEST_HEADER_VERSION: i16 = 2;
/// The response header version raft acknowledgements use.
pub const RAFT_RESPONSE_HEADER_VERSION: i16 = 1;
/// The largest raft frame accepted or sent (snapshots of the metadata log travel whole).
pub const MAX_RAFT_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// Appends a whole request frame (length, header, body) carrying `message` of cluster
/// `cluster_id` to `out`.
pub fn encode_raft_message_request(
    correlation_id: i32,
    client_id: &str,
    cluster_id: &str,
    message: &Bytes,
    out: &mut BytesMut,
) -> Result<()> {
    let header = RequestHeader::default()
        .with_request_api_key(RAFT_MESSAGE_API_KEY)
        .with_request_api_version(RAFT_MESSAGE_API_VERSION)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(client_id.to_string()));
    let body = RaftMessageRequest::default()
        .with_cluster_id(cluster_id.to_string())
        .with_message(message.clone());
    let size = header.compute_size(RAFT_REQUEST_HEADER_VERSION)?
        + body.compute_size(RAFT_MESSAGE_API_VERSION)?;
    if size > MAX_RAFT_FRAME_BYTES {
        return Err(Error::Frame(format!(
            "a {size}-byte frame exceeds the {MAX_RAFT_FRAME_BYTES}-byte limit"
        )));
    }
    out.reserve(4 + size);
    // Bounded by MAX_RAFT_FRAME_BYTES above, so it fits an i32.
    out.put_i32(size as i32);
    header.encode(out, RAFT_REQUEST_HEADER_VERSION)?;
    body.encode(out, RAFT_MESSAGE_API_VERSION)?;
    Ok(())
}

/// The raft message a request carries (for a server that decoded the request already).
pub fn raft_message_of(request: &RaftMessageRequest) -> Result<RaftMessage> {
    RaftMessage::decode(&request.message)
}

/// Decodes the body of a raft message request (what follows the request header): its cluster
/// id and message.
pub fn decode_raft_message_request(body: &[u8]) -> Result<(String, RaftMessage)> {
    let mut buf = Bytes::copy_from_slice(body);
    let request = RaftMessageRequest::decode(&mut buf, RAFT_MESSAGE_API_VERSION)?;
    let message = raft_message_of(&request)?;
    Ok((request.cluster_id, message))
}

/// Decodes a whole request frame without its length prefix: the header (which must be a
/// raft message's), the cluster id and the message. For acceptors that do not parse headers
/// themselves.
pub fn decode_raft_message_frame(frame: Bytes) -> Result<(RequestHeader, String, RaftMessage)> {
    let mut buf = frame;
    if buf.len() < 4 {
        return Err(Error::Frame(
            "frame shorter than an api key and version".into(),
        ));
    }
    let key = i16::from_be_bytes([buf[0], buf[1]]);
    let version = i16::from_be_bytes([buf[2], buf[3]]);
    if key != RAFT_MESSAGE_API_KEY || version != RAFT_MESSAGE_API_VERSION {
        return Err(Error::Frame(format!(
            "api key {key} version {version} is not a raft message"
        )));
    }
    let header = RequestHeader::decode(&mut buf, RAFT_REQUEST_HEADER_VERSION)?;
    let (cluster_id, msg) = decode_raft_message_request(&buf)?;
    Ok((header, cluster_id, msg))
}

/// Appends a whole acknowledgement frame (length, header, body) to `out`.
pub fn encode_raft_message_response(
    correlation_id: i32,
    error_code: i16,
    out: &mut BytesMut,
) -> Result<()> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let body = RaftMessageResponse::default().with_error_code(error_code);
    let size = header.compute_size(RAFT_RESPONSE_HEADER_VERSION)?
        + body.compute_size(RAFT_MESSAGE_API_VERSION)?;
    out.reserve(4 + size);
    out.put_i32(size as i32);
    header.encode(out, RAFT_RESPONSE_HEADER_VERSION)?;
    body.encode(out, RAFT_MESSAGE_API_VERSION)?;
    Ok(())
}

/// Decodes an acknowledgement frame without its length prefix: (correlation id, error code).
pub fn decode_raft_message_response(frame: Bytes) -> Result<(i32, i16)> {
    let mut buf = frame;
    let header = ResponseHeader::decode(&mut buf, RAFT_RESPONSE_HEADER_VERSION)?;
    let body = RaftMessageResponse::decode(&mut buf, RAFT_MESSAGE_API_VERSION)?;
    Ok((header.correlation_id, body.error_code))
}

/// One entry of `controller.quorum.voters`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Voter {
    /// The voter's node id.
    pub id: u64,
    /// The host of its controller listener.
    pub host: String,
    /// The port of its controller listener.
    pub port: u16,
}

/// Parses `controller.quorum.voters` in Kafka's syntax: `id@host:port` entries separated by
/// commas (`1@localhost:9093,2@[::1]:9093`). Ids must be distinct; IPv6 hosts go in brackets.
pub fn parse_voters(value: &str) -> Result<Vec<Voter>> {
    let bad = |entry: &str, reason| Error::InvalidVoters {
        entry: entry.to_string(),
        reason,
    };
    if value.trim().is_empty() {
        return Err(bad(value, "no voters"));
    }
    let mut voters: Vec<Voter> = Vec::new();
    for raw in value.split(',') {
        let entry = raw.trim();
        let (id, addr) = entry
            .split_once('@')
            .ok_or_else(|| bad(entry, "expected id@host:port"))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| bad(entry, "the id is not a non-negative integer"))?;
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| bad(entry, "expected host:port after @"))?;
        let host = match host.strip_prefix('[') {
            Some(inner) => inner
                .strip_suffix(']')
                .ok_or_else(|| bad(entry, "unclosed [ in the host"))?,
            None if host.contains(':') => {
                return Err(bad(entry, "an IPv6 host must be in brackets"));
            }
            None => host,
        };
        if host.is_empty() {
            return Err(bad(entry, "empty host"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| bad(entry, "the port is not a number from 0 to 65535"))?;
        if voters.iter().any(|v| v.id == id) {
            return Err(bad(entry, "duplicate voter id"));
        }
        voters.push(Voter {
            id,
            host: host.to_string(),
            port,
        });
    }
    Ok(voters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protobuf::Message as _;
    use raft::eraftpb::{Message, MessageType};

    #[test]
    fn voters_parse_in_kafkas_syntax() {
        let v = parse_voters("1@localhost:9093, 2@10.0.0.2:9094,3@[::1]:9095").unwrap();
        assert_eq!(
            v,
            vec![
                Voter {
                    id: 1,
                    host: "localhost".into(),
                    port: 9093
                },
                Voter {
                    id: 2,
                    host: "10.0.0.2".into(),
                    port: 9094
                },
                Voter {
                    id: 3,
                    host: "::1".into(),
                    port: 9095
                },
            ]
        );
    }

    #[test]
    fn bad_voters_are_typed_errors() {
        for bad in [
            "",
            "1localhost:9093",
            "x@localhost:9093",
            "-1@localhost:9093",
            "1@localhost",
            "1@localhost:99999",
            "1@:9093",
            "1@::1:9093",
            "1@[::1:9093",
            "1@a:1,1@b:2",
            "1@a:1,",
        ] {
            assert!(
                matches!(parse_voters(bad), Err(Error::InvalidVoters { .. })),
                "{bad:?} parsed"
            );
        }
    }

    #[test]
    fn request_frames_round_trip() {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgHeartbeat);
        m.from = 1;
        m.to = 2;
        m.term = 7;
        let body = m.write_to_bytes().unwrap();
        let mut out = BytesMut::new();
        encode_raft_message_request(42, "raft-1", "c1", &Bytes::from(body), &mut out).unwrap();
        let len = i32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize;
        assert_eq!(len, out.len() - 4);
        let frame = out.freeze().slice(4..);
        let (header, cluster, msg) = decode_raft_message_frame(frame).unwrap();
        assert_eq!(header.correlation_id, 42);
        assert_eq!(cluster, "c1");
        assert_eq!(header.client_id.as_deref(), Some("raft-1"));
        assert_eq!((msg.from(), msg.to(), msg.term()), (1, 2, 7));
    }

    #[test]
    fn the_key_is_the_generated_apis() {
        assert_eq!(
            kafka_protocol::ApiKey::from_id(RAFT_MESSAGE_API_KEY),
            Some(kafka_protocol::ApiKey::RaftMessage)
        );
        assert_eq!(
            kafka_protocol::ApiKey::RaftMessage.request_header_version(RAFT_MESSAGE_API_VERSION),
            RAFT_REQUEST_HEADER_VERSION
        );
        assert_eq!(
            kafka_protocol::ApiKey::RaftMessage.response_header_version(RAFT_MESSAGE_API_VERSION),
            RAFT_RESPONSE_HEADER_VERSION
        );
    }

    #[test]
    fn response_frames_round_trip() {
        let mut out = BytesMut::new();
        encode_raft_message_response(9, 0, &mut out).unwrap();
        let frame = out.freeze().slice(4..);
        assert_eq!(decode_raft_message_response(frame).unwrap(), (9, 0));
    }

    #[test]
    fn hostile_frames_are_errors_not_panics() {
        assert!(decode_raft_message_frame(Bytes::from_static(&[0x27])).is_err());
        assert!(decode_raft_message_frame(Bytes::from_static(&[0, 1, 0, 0, 0, 0])).is_err());
        // Right key, truncated header.
        assert!(decode_raft_message_frame(Bytes::from_static(&[0x27, 0x10, 0, 0, 0])).is_err());
        // Right header, garbage body.
        let mut out = BytesMut::new();
        let garbage = Bytes::from_static(&[0xff, 0xff, 0xff]);
        encode_raft_message_request(1, "x", "c", &garbage, &mut out).unwrap();
        assert!(decode_raft_message_frame(out.freeze().slice(4..)).is_err());
        assert!(decode_raft_message_response(Bytes::from_static(&[0, 0])).is_err());
        for n in 0..64u8 {
            let junk: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37).wrapping_add(n)).collect();
            let _ = decode_raft_message_request(&junk);
        }
    }
}
