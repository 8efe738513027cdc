//! What the socket server needs from the broker's configuration, with Kafka's defaults.
//!
//! The broker owns the table of `server.properties` keys and parses them; this crate takes the
//! typed values.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use kafka_network::transport::SecurityProtocol;

use crate::error::{Error, Result};

/// One listener: `NAME://host:port` with its security protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// The listener name (`PLAINTEXT`, `INTERNAL`, ...).
    pub name: String,
    /// The host to bind; empty binds all interfaces.
    pub host: String,
    /// The port; 0 picks a free one.
    pub port: u16,
    /// The security protocol (from `listener.security.protocol.map`, or the name itself).
    pub security_protocol: SecurityProtocol,
}

impl ListenerConfig {
    /// Parses a `listeners` value: comma-separated `NAME://host:port`, with the protocol map.
    pub fn parse_list(
        listeners: &str,
        protocol_map: &HashMap<String, SecurityProtocol>,
    ) -> Result<Vec<Self>> {
        let mut out: Vec<ListenerConfig> = Vec::new();
        for item in listeners
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (name, rest) = item.split_once("://").ok_or_else(|| {
                Error::Config(format!("listener {item:?} is not NAME://host:port"))
            })?;
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| Error::Config(format!("listener {item:?} has no port")))?;
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port: u16 = port
                .parse()
                .map_err(|_| Error::Config(format!("listener {item:?} has an invalid port")))?;
            let name = name.to_ascii_uppercase();
            let security_protocol = match protocol_map.get(&name) {
                Some(p) => *p,
                None => SecurityProtocol::from_name(&name).ok_or_else(|| {
                    Error::Config(format!(
                        "listener {name} has no entry in listener.security.protocol.map"
                    ))
                })?,
            };
            if out.iter().any(|l| l.name == name) {
                return Err(Error::Config(format!("listener {name} is defined twice")));
            }
            out.push(ListenerConfig {
                name,
                host,
                port,
                security_protocol,
            });
        }
        if out.is_empty() {
            return Err(Error::Config("no listeners".into()));
        }
        Ok(out)
    }
}

/// The socket server's settings (Kafka's `SocketServerConfigs` and friends).
#[derive(Debug, Clone)]
pub struct SocketServerConfig {
    /// `listeners`.
    pub listeners: Vec<ListenerConfig>,
    /// `num.network.threads`: Processors per listener.
    pub num_network_threads: usize,
    /// `num.io.threads`: request handlers.
    pub num_io_threads: usize,
    /// `queued.max.requests`: the request queue's bound.
    pub queued_max_requests: usize,
    /// `queued.max.request.bytes`: the receive memory pool; `None` is unbounded (-1).
    pub queued_max_request_bytes: Option<usize>,
    /// `socket.send.buffer.bytes` (`None` = OS default, -1).
    pub socket_send_buffer_bytes: Option<usize>,
    /// `socket.receive.buffer.bytes` (`None` = OS default, -1).
    pub socket_receive_buffer_bytes: Option<usize>,
    /// `socket.request.max.bytes`.
    pub socket_request_max_bytes: usize,
    /// `socket.listen.backlog.size`.
    pub socket_listen_backlog_size: i32,
    /// `connections.max.idle.ms`.
    pub connections_max_idle: Option<Duration>,
    /// `max.connections` (broker-wide).
    pub max_connections: usize,
    /// `max.connections` per listener (`listener.name.NAME.max.connections`).
    pub max_connections_per_listener: HashMap<String, usize>,
    /// `max.connections.per.ip`.
    pub max_connections_per_ip: usize,
    /// `max.connections.per.ip.overrides`.
    pub max_connections_per_ip_overrides: HashMap<IpAddr, usize>,
    /// `max.connection.creation.rate` per second, broker-wide (`None` = unlimited).
    pub max_connection_creation_rate: Option<u32>,
    /// How long shutdown waits for in-flight responses to go out.
    pub shutdown_grace: Duration,
}

impl Default for SocketServerConfig {
    fn default() -> Self {
        SocketServerConfig {
            listeners: vec![ListenerConfig {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9092,
                security_protocol: SecurityProtocol::Plaintext,
            }],
            num_network_threads: 3,
            num_io_threads: 8,
            queued_max_requests: 500,
            queued_max_request_bytes: None,
            socket_send_buffer_bytes: Some(102_400),
            socket_receive_buffer_bytes: Some(102_400),
            socket_request_max_bytes: 104_857_600,
            socket_listen_backlog_size: 50,
            connections_max_idle: Some(Duration::from_millis(600_000)),
            max_connections: i32::MAX as usize,
            max_connections_per_listener: HashMap::new(),
            max_connections_per_ip: i32::MAX as usize,
            max_connections_per_ip_overrides: HashMap::new(),
            max_connection_creation_rate: None,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Parses `max.connections.per.ip.overrides`: `host:count,host:count`.
pub fn parse_ip_overrides(value: &str) -> Result<HashMap<IpAddr, usize>> {
    let mut out = HashMap::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (host, count) = item
            .rsplit_once(':')
            .ok_or_else(|| Error::Config(format!("override {item:?} is not host:count")))?;
        let ip: IpAddr = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| {
                Error::Config(format!("override {item:?}: {host:?} is not an IP address"))
            })?;
        let count = count
            .parse()
            .map_err(|_| Error::Config(format!("override {item:?}: invalid count")))?;
        out.insert(ip, count);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_parse_with_and_without_a_protocol_map() {
        let mut map = HashMap::new();
        map.insert("INTERNAL".to_string(), SecurityProtocol::SaslSsl);
        let l = ListenerConfig::parse_list("PLAINTEXT://127.0.0.1:9092, INTERNAL://[::1]:0", &map)
            .unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].security_protocol, SecurityProtocol::Plaintext);
        assert_eq!(l[1].host, "::1");
        assert_eq!(l[1].port, 0);
        assert_eq!(l[1].security_protocol, SecurityProtocol::SaslSsl);
        assert!(ListenerConfig::parse_list("FOO://h:1", &HashMap::new()).is_err());
        assert!(ListenerConfig::parse_list("PLAINTEXT://h", &HashMap::new()).is_err());
        assert!(
            ListenerConfig::parse_list("PLAINTEXT://a:1,PLAINTEXT://b:2", &HashMap::new()).is_err()
        );
    }

    #[test]
    fn ip_overrides_parse() {
        let o = parse_ip_overrides("127.0.0.1:5, ::1:7").unwrap();
        assert_eq!(o[&"127.0.0.1".parse::<IpAddr>().unwrap()], 5);
        assert_eq!(o[&"::1".parse::<IpAddr>().unwrap()], 7);
        assert!(parse_ip_overrides("nohost").is_err());
    }
}
