//! Kafka's cluster keys: `process.roles`, `node.id`, `controller.quorum.voters`,
//! `controller.listener.names`, `broker.rack` and the controller's timings.

use std::path::PathBuf;

use kafka_metadata::ControllerConfig;
use kafka_raft::{parse_voters, Voter};

use crate::config::BrokerConfig;
use crate::error::{Error, Result};

/// What this process is (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Serves clients.
    pub broker: bool,
    /// Votes in the metadata quorum.
    pub controller: bool,
}

/// This node's cluster settings, validated.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `node.id`.
    pub node_id: i32,
    /// `process.roles`.
    pub roles: Roles,
    /// `controller.quorum.voters`; just this node when the key is not set (a cluster of one).
    pub voters: Vec<Voter>,
    /// `controller.listener.names`: the listeners that serve the quorum, not clients.
    pub controller_listeners: Vec<String>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// `broker.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: u64,
    /// Where the metadata log lives (`metadata.log.dir`, else the first log directory).
    pub metadata_dir: PathBuf,
    /// The controller's settings.
    pub controller: ControllerConfig,
}

impl ClusterConfig {
    /// Reads and checks the cluster keys of `config`.
    pub fn from_broker(config: &BrokerConfig) -> Result<Self> {
        let node_id = config.node_id();
        if node_id < 0 {
            return Err(Error::Config(format!("node.id {node_id} is negative")));
        }
        let roles = config.list("process.roles");
        let mut parsed = Roles {
            broker: false,
            controller: false,
        };
        for role in &roles {
            match role.as_str() {
                "broker" => parsed.broker = true,
                "controller" => parsed.controller = true,
                other => {
                    return Err(Error::Config(format!(
                        "process.roles: unknown role {other:?} (broker, controller)"
                    )))
                }
            }
        }
        if !(parsed.broker && parsed.controller) {
            // Separate broker and controller processes need brokers that follow the
            // metadata log without voting (KRaft's observers); until then every node votes.
            return Err(Error::Config(format!(
                "process.roles={}: only combined nodes (broker,controller) are supported so far",
                roles.join(",")
            )));
        }
        let voters = match config.get("controller.quorum.voters") {
            Some(v) if !v.trim().is_empty() => parse_voters(v)
                .map_err(|e| Error::Config(format!("controller.quorum.voters: {e}")))?,
            _ => vec![Voter {
                id: node_id as u64,
                host: String::new(),
                port: 0,
            }],
        };
        if !voters.iter().any(|v| v.id == node_id as u64) {
            return Err(Error::Config(format!(
                "node.id {node_id} is not in controller.quorum.voters; a controller must be a voter"
            )));
        }
        let controller_listeners: Vec<String> = config
            .list("controller.listener.names")
            .into_iter()
            .map(|n| n.to_ascii_uppercase())
            .collect();
        if voters.len() > 1 {
            let listeners = config.listeners()?;
            let Some(first) = controller_listeners.first() else {
                return Err(Error::Config(
                    "controller.listener.names must name the listener the quorum uses when controller.quorum.voters lists other nodes".into(),
                ));
            };
            if !listeners.iter().any(|l| &l.name == first) {
                return Err(Error::Config(format!(
                    "controller.listener.names names {first}, which is not in listeners"
                )));
            }
        }
        let int = |key: &str, default: i64| -> Result<i64> {
            match config.get(key) {
                None | Some("") => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| Error::Config(format!("{key}: {v:?} is not a number"))),
            }
        };
        let controller = ControllerConfig {
            session_timeout_ms: int("broker.session.timeout.ms", 9000)?.max(1),
            default_replication_factor: int("default.replication.factor", 1)?
                .clamp(1, i64::from(i16::MAX)) as i16,
            num_partitions: int("num.partitions", 1)?.clamp(1, i64::from(i32::MAX)) as i32,
            offsets_topic_num_partitions: int("offsets.topic.num.partitions", 50)?
                .clamp(1, i64::from(i32::MAX)) as i32,
            // One replica until followers replicate (the replication issue): a copy that no
            // follower keeps would be counted as in sync and lose data on fail-over. The key
            // itself refuses values above 1 (config.rs).
            offsets_topic_replication_factor: 1,
            ..ControllerConfig::default()
        };
        let metadata_dir = match config.get("metadata.log.dir") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => config
                .log_dirs()
                .first()
                .cloned()
                .ok_or_else(|| Error::Config("no log directory".into()))?,
        };
        Ok(ClusterConfig {
            node_id,
            roles: parsed,
            voters,
            controller_listeners,
            rack: config
                .get("broker.rack")
                .filter(|r| !r.is_empty())
                .map(String::from),
            heartbeat_interval_ms: int("broker.heartbeat.interval.ms", 2000)?.max(1) as u64,
            metadata_dir,
            controller,
        })
    }

    /// Whether this node is the whole quorum (the embedded default).
    pub fn is_single_voter(&self) -> bool {
        self.voters.len() == 1
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<ClusterConfig> {
        let mut values = BTreeMap::new();
        for (k, v) in pairs {
            values.insert((*k).to_string(), (*v).to_string());
        }
        ClusterConfig::from_broker(&BrokerConfig::new(values)?)
    }

    #[test]
    fn the_default_is_a_quorum_of_one() {
        let c = config(&[]).unwrap();
        assert!(c.roles.broker && c.roles.controller);
        assert!(c.is_single_voter());
        assert_eq!(c.voters[0].id, 1);
        assert_eq!(c.controller.session_timeout_ms, 9000);
        assert_eq!(c.controller.offsets_topic_num_partitions, 50);
    }

    #[test]
    fn three_voters_need_a_controller_listener_that_exists() {
        let voters = ("controller.quorum.voters", "1@h:9093,2@h:9094,3@h:9095");
        let listeners = (
            "listeners",
            "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
        );
        let map = (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        );
        assert!(
            config(&[voters, listeners, map]).is_err(),
            "no controller listener named"
        );
        assert!(config(&[
            voters,
            listeners,
            map,
            ("controller.listener.names", "OTHER")
        ])
        .is_err());
        let named = ("controller.listener.names", "CONTROLLER");
        let c = config(&[voters, listeners, map, named]).unwrap();
        assert_eq!(c.voters.len(), 3);
        assert_eq!(c.controller_listeners, vec!["CONTROLLER".to_string()]);
        assert!(
            config(&[voters, listeners, map, named, ("node.id", "4")]).is_err(),
            "not a voter"
        );
    }

    #[test]
    fn roles_are_checked() {
        assert!(config(&[("process.roles", "broker,dancer")]).is_err());
        let only = config(&[("process.roles", "broker")]).unwrap_err();
        assert!(only.to_string().contains("combined"), "{only}");
    }
}
