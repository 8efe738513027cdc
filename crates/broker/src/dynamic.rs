//! Dynamic broker configs, as Kafka's `DynamicBrokerConfig`: keys changed at run time through
//! AlterConfigs and IncrementalAlterConfigs on the BROKER resource, for this broker (its id)
//! or cluster-wide (the empty name), applied live and kept across restarts.
//!
//! Precedence is Kafka's: this broker's dynamic value, then the cluster-wide dynamic default,
//! then `server.properties` (static), then the key's default. What may change and where is the
//! key table's update mode ([`crate::config::Update`]). Applied live: the log defaults (topics
//! without overrides follow them at once, new topics start from them), the connection limits,
//! and each TLS listener's key store (new connections get the new certificate, open ones keep
//! theirs).
//!
//! The values are kept by a [`DynamicConfigStore`]: one JSON file in the first log directory,
//! rewritten atomically. It is a small type on purpose: with the cluster work these records
//! move into the metadata log, and only the store changes.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use kafka_network::transport::{SslServerConfig, SslServerConfigBuilder};
use kafka_protocol::ErrorCode;
use kafka_server::ConnectionQuotas;
use kafka_storage::LogManager;

use crate::config::{closest_key, resolve, split_listener_key, validate, BrokerConfig, Update};
use crate::error::{Error, Result};

/// The store's file name in the first log directory.
pub const DYNAMIC_CONFIG_FILE: &str = "dynamic-broker-configs.json";

/// The largest store file read back: far more than any real set of keys, so a corrupt or
/// foreign file cannot make start-up allocate without bound.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// Where a dynamic value applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every broker of the cluster (resource name "").
    ClusterDefault,
    /// One broker (resource name: its id).
    Broker(i32),
}

/// The dynamic values: the cluster-wide defaults and each broker's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicConfigs {
    /// Cluster-wide defaults.
    pub cluster_default: BTreeMap<String, String>,
    /// Per-broker values, by broker id.
    pub brokers: BTreeMap<i32, BTreeMap<String, String>>,
}

impl DynamicConfigs {
    /// The values of `scope` (empty if none).
    pub fn scope(&self, scope: Scope) -> BTreeMap<String, String> {
        match scope {
            Scope::ClusterDefault => self.cluster_default.clone(),
            Scope::Broker(id) => self.brokers.get(&id).cloned().unwrap_or_default(),
        }
    }

    fn set_scope(&mut self, scope: Scope, values: BTreeMap<String, String>) {
        match scope {
            Scope::ClusterDefault => self.cluster_default = values,
            Scope::Broker(id) if values.is_empty() => {
                self.brokers.remove(&id);
            }
            Scope::Broker(id) => {
                self.brokers.insert(id, values);
            }
        }
    }
}

/// Keeps [`DynamicConfigs`] durably: a JSON file written to a temporary name, fsynced,
/// renamed over the old one and the directory fsynced, so a crash leaves the old or the new
/// file whole, never a mix.
#[derive(Debug)]
pub struct DynamicConfigStore {
    path: PathBuf,
}

impl DynamicConfigStore {
    /// The store in `dir`.
    pub fn new(dir: &Path) -> Self {
        DynamicConfigStore {
            path: dir.join(DYNAMIC_CONFIG_FILE),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored values; none if the file does not exist.
    pub fn load(&self) -> Result<DynamicConfigs> {
        let corrupt = |reason: String| Error::Metadata {
            path: self.path.display().to_string(),
            reason,
        };
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DynamicConfigs::default())
            }
            Err(e) => return Err(e.into()),
        };
        let len = file.metadata()?.len();
        if len > MAX_FILE_BYTES {
            return Err(corrupt(format!("{len} bytes, more than {MAX_FILE_BYTES}")));
        }
        let value: serde_json::Value = serde_json::from_reader(std::io::BufReader::new(file))
            .map_err(|e| corrupt(e.to_string()))?;
        let map = |v: Option<&serde_json::Value>| -> Result<BTreeMap<String, String>> {
            let mut out = BTreeMap::new();
            let Some(v) = v else { return Ok(out) };
            let obj = v
                .as_object()
                .ok_or_else(|| corrupt("a scope is not an object".into()))?;
            for (k, v) in obj {
                let v = v
                    .as_str()
                    .ok_or_else(|| corrupt(format!("{k}: not a string")))?;
                out.insert(k.clone(), v.to_string());
            }
            Ok(out)
        };
        let mut configs = DynamicConfigs {
            cluster_default: map(value.get("cluster_default"))?,
            brokers: BTreeMap::new(),
        };
        if let Some(brokers) = value.get("brokers") {
            let obj = brokers
                .as_object()
                .ok_or_else(|| corrupt("brokers is not an object".into()))?;
            for (id, v) in obj {
                let id: i32 = id
                    .parse()
                    .map_err(|_| corrupt(format!("broker id {id:?} is not a number")))?;
                configs.brokers.insert(id, map(Some(v))?);
            }
        }
        Ok(configs)
    }

    /// Replaces the stored values with `configs`, durably.
    pub fn save(&self, configs: &DynamicConfigs) -> Result<()> {
        let brokers: serde_json::Map<String, serde_json::Value> = configs
            .brokers
            .iter()
            .map(|(id, m)| (id.to_string(), serde_json::json!(m)))
            .collect();
        let doc = serde_json::json!({
            "version": 1,
            "cluster_default": configs.cluster_default,
            "brokers": brokers,
        });
        let text = serde_json::to_vec_pretty(&doc)
            .map_err(|e| Error::Config(format!("encoding dynamic configs: {e}")))?;
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            // Inline key material may be among the values: readable by the broker's user only.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// What a change is applied to, known once the broker's parts run.
#[derive(Debug)]
struct Targets {
    quotas: Arc<ConnectionQuotas>,
    /// Each TLS listener's configuration, by listener name (upper case).
    tls: HashMap<String, SslServerConfig>,
}

/// An AlterConfigs failure: the error code and message Kafka would give.
pub type AlterError = (ErrorCode, String);

/// The broker's configuration as it is now: static plus dynamic, and the means to change it.
#[derive(Debug)]
pub struct DynamicBrokerConfig {
    node_id: i32,
    static_config: BrokerConfig,
    store: DynamicConfigStore,
    /// The dynamic values; its lock also serializes changes.
    dynamic: Mutex<DynamicConfigs>,
    current: RwLock<Arc<BrokerConfig>>,
    logs: OnceLock<Arc<LogManager>>,
    targets: OnceLock<Targets>,
}

fn merge(
    static_config: &BrokerConfig,
    dynamic: &DynamicConfigs,
    node_id: i32,
) -> BTreeMap<String, String> {
    let mut values = static_config.values().clone();
    values.extend(dynamic.cluster_default.clone());
    if let Some(own) = dynamic.brokers.get(&node_id) {
        values.extend(own.clone());
    }
    values
}

/// Checks that `key` may be set dynamically in `scope` to `value`, with Kafka's messages.
fn check_key(scope: Scope, key: &str, value: &str) -> std::result::Result<(), AlterError> {
    let invalid = |m: String| Err((ErrorCode::InvalidConfig, m));
    let Some(def) = resolve(key) else {
        return invalid(match closest_key(key) {
            Some(near) => format!("Unknown broker config {key} (did you mean {near}?)"),
            None => format!("Unknown broker config {key}"),
        });
    };
    if def.update == Update::ReadOnly {
        return invalid(format!(
            "Cannot update these configs dynamically: Set({key})"
        ));
    }
    if def.is_security() && split_listener_key(key).is_none() {
        return invalid(format!(
            "These security configs can be dynamically updated only per-listener using the \
             listener prefix: Set({key}); use listener.name.<listener>.{key}"
        ));
    }
    if def.update == Update::PerBroker && scope == Scope::ClusterDefault {
        return invalid(format!(
            "Cannot update these configs at default cluster level, broker id must be \
             specified: Set({key})"
        ));
    }
    validate(def, value).map_err(|e| (ErrorCode::InvalidConfig, format!("{key}: {e}")))
}

/// The value of `key` for `listener`, with Kafka's per-listener prefix first.
pub(crate) fn listener_value(config: &BrokerConfig, listener: &str, key: &str) -> Option<String> {
    let prefixed = format!("listener.name.{}.{key}", listener.to_ascii_lowercase());
    config
        .values()
        .get(&prefixed)
        .cloned()
        .or_else(|| config.get(key).map(String::from))
        .filter(|v| !v.is_empty())
}

/// The key-store keys, whose change reloads a listener's certificate.
const KEYSTORE_KEYS: &[&str] = &[
    "ssl.keystore.location",
    "ssl.keystore.type",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
];

fn keystore_values(config: &BrokerConfig, listener: &str) -> Vec<Option<String>> {
    KEYSTORE_KEYS
        .iter()
        .map(|k| listener_value(config, listener, k))
        .collect()
}

impl DynamicBrokerConfig {
    /// The static configuration with the dynamic values stored in `dir`. A stored value that
    /// is no longer valid is skipped with a warning (as Kafka skips it), so that a restart
    /// never fails on what was accepted before.
    pub fn load(static_config: BrokerConfig, dir: &Path) -> Result<Self> {
        let node_id = static_config.node_id();
        let store = DynamicConfigStore::new(dir);
        let mut dynamic = store.load()?;
        for scope in [Scope::ClusterDefault, Scope::Broker(node_id)] {
            let mut values = dynamic.scope(scope);
            values.retain(|k, v| match check_key(scope, k, v) {
                Ok(()) => true,
                Err((_, why)) => {
                    tracing::warn!(key = %k, %why, "ignoring a stored dynamic config");
                    false
                }
            });
            dynamic.set_scope(scope, values);
        }
        let current = match BrokerConfig::checked(merge(&static_config, &dynamic, node_id)) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "the stored dynamic configs do not combine with the static ones; ignoring them");
                dynamic = DynamicConfigs::default();
                static_config.clone()
            }
        };
        if dynamic != DynamicConfigs::default() {
            tracing::info!(file = %store.path().display(), "applying dynamic broker configs");
        }
        Ok(DynamicBrokerConfig {
            node_id,
            static_config,
            store,
            dynamic: Mutex::new(dynamic),
            current: RwLock::new(Arc::new(current)),
            logs: OnceLock::new(),
            targets: OnceLock::new(),
        })
    }

    /// The effective configuration now.
    pub fn current(&self) -> Arc<BrokerConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The static configuration (`server.properties` and `--override`).
    pub fn static_config(&self) -> &BrokerConfig {
        &self.static_config
    }

    /// The dynamic values.
    pub fn dynamic(&self) -> DynamicConfigs {
        self.lock().clone()
    }

    /// This broker's id.
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    fn lock(&self) -> MutexGuard<'_, DynamicConfigs> {
        self.dynamic.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Log defaults go to `logs` from now on.
    pub fn attach_logs(&self, logs: Arc<LogManager>) {
        let _ = self.logs.set(logs);
    }

    /// Connection limits go to `quotas`, key stores to `tls` (by listener name) from now on.
    pub fn attach_server(
        &self,
        quotas: Arc<ConnectionQuotas>,
        tls: HashMap<String, SslServerConfig>,
    ) {
        let _ = self.targets.set(Targets { quotas, tls });
    }

    /// The scope of a BROKER resource name, or Kafka's INVALID_REQUEST for another broker.
    pub fn scope_of(&self, resource_name: &str) -> std::result::Result<Scope, AlterError> {
        if resource_name.is_empty() {
            return Ok(Scope::ClusterDefault);
        }
        match resource_name.parse::<i32>() {
            Ok(id) if id == self.node_id => Ok(Scope::Broker(id)),
            _ => Err((
                ErrorCode::InvalidRequest,
                format!(
                    "Unexpected broker id, expected {} or empty string, but received {resource_name}",
                    self.node_id
                ),
            )),
        }
    }

    /// Changes `scope`'s values to what `edit` makes of them: each changed key is checked
    /// (known, dynamic in that scope, typed), the result must combine with the rest of the
    /// configuration and load (key stores), then, unless `validate_only`, it is stored
    /// durably and applied.
    pub fn alter(
        &self,
        scope: Scope,
        validate_only: bool,
        edit: impl FnOnce(
            &BTreeMap<String, String>,
        ) -> std::result::Result<BTreeMap<String, String>, AlterError>,
    ) -> std::result::Result<(), AlterError> {
        let mut dynamic = self.lock();
        let before = dynamic.scope(scope);
        let after = edit(&before)?;
        for (k, v) in &after {
            if before.get(k) != Some(v) {
                check_key(scope, k, v)?;
            }
        }
        let mut next = dynamic.clone();
        next.set_scope(scope, after);
        let candidate = BrokerConfig::checked(merge(&self.static_config, &next, self.node_id))
            .map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
        let current = self.current();
        let mut reload = Vec::new();
        if let Some(targets) = self.targets.get() {
            for name in targets.tls.keys() {
                if keystore_values(&current, name) != keystore_values(&candidate, name) {
                    let builder = SslServerConfigBuilder::from_properties(|k| {
                        listener_value(&candidate, name, k)
                    })
                    .map_err(|e| (ErrorCode::InvalidConfig, format!("listener {name}: {e}")))?;
                    // Loads and checks the key store without touching the running listener.
                    builder
                        .build()
                        .map_err(|e| (ErrorCode::InvalidConfig, format!("listener {name}: {e}")))?;
                    reload.push((name.clone(), builder));
                }
            }
        }
        if validate_only {
            return Ok(());
        }
        self.store.save(&next).map_err(|e| {
            (
                ErrorCode::KafkaStorageError,
                format!("storing dynamic configs: {e}"),
            )
        })?;
        *dynamic = next;
        self.apply(&candidate, &reload);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(candidate);
        Ok(())
    }

    fn apply(&self, config: &BrokerConfig, reload: &[(String, SslServerConfigBuilder)]) {
        if let Some(logs) = self.logs.get() {
            match config.log_config() {
                Ok(c) if c != logs.default_config() => {
                    tracing::info!("applying new log defaults");
                    logs.set_default_config(c);
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "new log defaults not applied"),
            }
        }
        if let Some(targets) = self.targets.get() {
            match config.socket_server() {
                Ok(s) => targets.quotas.update(&s),
                Err(e) => tracing::error!(error = %e, "new connection limits not applied"),
            }
            for (name, builder) in reload {
                if let Some(tls) = targets.tls.get(name) {
                    match tls.reload_keystore(builder) {
                        Ok(()) => tracing::info!(listener = %name, "reloaded the key store"),
                        Err(e) => {
                            tracing::error!(listener = %name, error = %e, "key store not reloaded")
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("broker-dyn-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn config(pairs: &[(&str, &str)]) -> BrokerConfig {
        BrokerConfig::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
    }

    type Edit<'a> = Box<
        dyn FnOnce(
                &BTreeMap<String, String>,
            ) -> std::result::Result<BTreeMap<String, String>, AlterError>
            + 'a,
    >;

    fn set<'a>(pairs: &'a [(&'a str, &'a str)]) -> Edit<'a> {
        Box::new(move |old| {
            let mut m = old.clone();
            for (k, v) in pairs {
                m.insert(k.to_string(), v.to_string());
            }
            Ok(m)
        })
    }

    #[test]
    fn the_store_round_trips_and_a_missing_file_is_empty() {
        let dir = temp_dir("store");
        let store = DynamicConfigStore::new(&dir);
        assert_eq!(store.load().unwrap(), DynamicConfigs::default());
        let mut c = DynamicConfigs::default();
        c.cluster_default
            .insert("log.retention.ms".into(), "1000".into());
        c.brokers
            .entry(1)
            .or_default()
            .insert("max.connections".into(), "5".into());
        store.save(&c).unwrap();
        assert_eq!(store.load().unwrap(), c);
        std::fs::write(store.path(), b"{not json").unwrap();
        assert!(matches!(store.load(), Err(Error::Metadata { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn precedence_is_broker_then_default_then_static_and_it_survives_a_reload() {
        let dir = temp_dir("precedence");
        let d = DynamicBrokerConfig::load(config(&[("log.retention.ms", "1")]), &dir).unwrap();
        assert_eq!(d.current().get("log.retention.ms"), Some("1"));
        d.alter(
            Scope::ClusterDefault,
            false,
            set(&[("log.retention.ms", "2")]),
        )
        .unwrap();
        assert_eq!(d.current().get("log.retention.ms"), Some("2"));
        d.alter(Scope::Broker(1), false, set(&[("log.retention.ms", "3")]))
            .unwrap();
        assert_eq!(d.current().get("log.retention.ms"), Some("3"));
        drop(d);
        let d = DynamicBrokerConfig::load(config(&[("log.retention.ms", "1")]), &dir).unwrap();
        assert_eq!(d.current().get("log.retention.ms"), Some("3"));
        d.alter(Scope::Broker(1), false, |_| Ok(BTreeMap::new()))
            .unwrap();
        assert_eq!(d.current().get("log.retention.ms"), Some("2"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refusals_name_the_key_as_kafka_does() {
        let dir = temp_dir("refusals");
        let d = DynamicBrokerConfig::load(config(&[]), &dir).unwrap();
        let err = |scope, k: &str, v: &str| d.alter(scope, false, set(&[(k, v)])).unwrap_err();
        let (code, msg) = err(Scope::Broker(1), "log.dirs", "/x");
        assert_eq!(code, ErrorCode::InvalidConfig);
        assert!(
            msg.contains("Cannot update these configs dynamically") && msg.contains("log.dirs")
        );
        let (_, msg) = err(Scope::Broker(1), "ssl.keystore.location", "/x.pem");
        assert!(msg.contains("per-listener"), "{msg}");
        let (_, msg) = err(
            Scope::ClusterDefault,
            "listener.name.ssl.ssl.keystore.location",
            "/x.pem",
        );
        assert!(msg.contains("broker id must be specified"), "{msg}");
        let (_, msg) = err(Scope::Broker(1), "max.connections", "many");
        assert!(msg.contains("max.connections"), "{msg}");
        let (_, msg) = err(Scope::Broker(1), "log.retension.ms", "1");
        assert!(msg.contains("log.retention.ms"), "{msg}");
        assert_eq!(d.scope_of("7").unwrap_err().0, ErrorCode::InvalidRequest);
        // validate_only changes nothing and writes nothing.
        d.alter(Scope::Broker(1), true, set(&[("max.connections", "5")]))
            .unwrap();
        assert_eq!(d.current().get("max.connections"), Some("2147483647"));
        assert!(!DynamicConfigStore::new(&dir).path().exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
