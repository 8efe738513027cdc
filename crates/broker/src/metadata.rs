//! What the broker knows about itself and its topics: its identity (`meta.properties`), and
//! [`Topics`], the topics of the replayed metadata log as the request handlers read them.
//!
//! [`TopicRegistry`] is the file (`topics.metadata`) in which versions before the metadata log
//! kept their topics; it is read once, to migrate a data directory.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use kafka_protocol::Uuid;

use crate::error::{Error, Result};

/// A topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Its name.
    pub name: String,
    /// Its id (KIP-516).
    pub id: Uuid,
    /// Number of partitions.
    pub partitions: i32,
    /// Config overrides (topic-level keys).
    pub configs: BTreeMap<String, String>,
}

/// The broker's identity from `meta.properties`.
#[derive(Debug, Clone)]
pub struct MetaProperties {
    /// The cluster id (base64 UUID).
    pub cluster_id: String,
    /// This broker's id.
    pub node_id: i32,
}

/// Reads `meta.properties` from `dir`, or writes a new one with a generated cluster id.
pub fn load_or_create_meta(
    dir: &Path,
    node_id: i32,
    cluster_id: Option<&str>,
) -> Result<MetaProperties> {
    let path = dir.join("meta.properties");
    if let Ok(text) = fs::read_to_string(&path) {
        let props = crate::config::parse_properties(&text).map_err(|e| Error::Metadata {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let stored_cluster = props
            .get("cluster.id")
            .cloned()
            .ok_or_else(|| Error::Metadata {
                path: path.display().to_string(),
                reason: "no cluster.id".into(),
            })?;
        let stored_node: i32 = props
            .get("node.id")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Metadata {
                path: path.display().to_string(),
                reason: "no node.id".into(),
            })?;
        if stored_node != node_id {
            return Err(Error::Config(format!(
                "node.id {node_id} does not match {stored_node} in {}",
                path.display()
            )));
        }
        if let Some(c) = cluster_id {
            if c != stored_cluster {
                return Err(Error::Config(format!(
                    "cluster.id {c} does not match {stored_cluster} in {}",
                    path.display()
                )));
            }
        }
        return Ok(MetaProperties {
            cluster_id: stored_cluster,
            node_id,
        });
    }
    let cluster_id = match cluster_id {
        Some(c) => c.to_string(),
        None => random_uuid().to_string(),
    };
    let text = format!("#Written by the broker on first start.\nversion=1\nnode.id={node_id}\ncluster.id={cluster_id}\n");
    write_atomically(&path, text.as_bytes())?;
    Ok(MetaProperties {
        cluster_id,
        node_id,
    })
}

/// A random (version 4) UUID that is not one of Kafka's reserved ones.
pub fn random_uuid() -> Uuid {
    loop {
        let mut b = [0u8; 16];
        if getrandom::getrandom(&mut b).is_err() {
            // No randomness from the OS: fall back to time and address entropy.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            b = (t ^ u128::from(std::process::id()).rotate_left(64)).to_le_bytes();
        }
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let id = Uuid(b);
        // Kafka reserves the zero UUID and ids whose string starts with '-'.
        if id != Uuid::ZERO && !id.to_string().starts_with('-') {
            return id;
        }
    }
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The topics of the metadata image, in the shape the request handlers use.
#[derive(Debug)]
pub struct Topics {
    cache: std::sync::Arc<crate::cluster::MetadataCache>,
}

impl Topics {
    /// A view over `cache`.
    pub fn new(cache: std::sync::Arc<crate::cluster::MetadataCache>) -> Self {
        Topics { cache }
    }

    fn info(image: &kafka_metadata::MetadataImage, t: &kafka_metadata::TopicImage) -> TopicInfo {
        TopicInfo {
            name: t.name.clone(),
            id: t.id,
            partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
            configs: image.topic_configs(&t.name).cloned().unwrap_or_default(),
        }
    }

    /// A topic by name.
    pub fn get(&self, name: &str) -> Option<TopicInfo> {
        let image = self.cache.image();
        image.topic_by_name(name).map(|t| Self::info(&image, t))
    }

    /// A topic by id.
    pub fn get_by_id(&self, id: &Uuid) -> Option<TopicInfo> {
        let image = self.cache.image();
        image.topic_by_id(*id).map(|t| Self::info(&image, t))
    }

    /// Every topic, by name.
    pub fn all(&self) -> Vec<TopicInfo> {
        let image = self.cache.image();
        let mut all: Vec<TopicInfo> = image.topics().map(|t| Self::info(&image, t)).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

/// The topics of a data directory written before the metadata log (read to migrate it).
#[derive(Debug)]
pub struct TopicRegistry {
    path: PathBuf,
    topics: RwLock<BTreeMap<String, TopicInfo>>,
}

fn parse_uuid(s: &str) -> Option<Uuid> {
    if s.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(Uuid(b))
}

fn hex(id: &Uuid) -> String {
    id.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

impl TopicRegistry {
    /// Loads the registry in `dir` (empty if the file does not exist yet).
    ///
    /// Format: one topic per line, `name<TAB>id-hex<TAB>partitions<TAB>key=value,...` with
    /// config values percent-encoded for `,`, `=`, `%` and control characters.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("topics.metadata");
        let mut topics = BTreeMap::new();
        if let Ok(text) = fs::read_to_string(&path) {
            for (n, line) in text.lines().enumerate() {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let bad = |reason: &str| Error::Metadata {
                    path: path.display().to_string(),
                    reason: format!("line {}: {reason}", n + 1),
                };
                let mut parts = line.split('\t');
                let name = parts.next().ok_or_else(|| bad("no name"))?.to_string();
                let id = parts
                    .next()
                    .and_then(parse_uuid)
                    .ok_or_else(|| bad("bad id"))?;
                let partitions: i32 = parts
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| bad("bad partition count"))?;
                let mut configs = BTreeMap::new();
                for kv in parts
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .filter(|s| !s.is_empty())
                {
                    let (k, v) = kv.split_once('=').ok_or_else(|| bad("bad config"))?;
                    configs.insert(unescape(k), unescape(v));
                }
                topics.insert(
                    name.clone(),
                    TopicInfo {
                        name,
                        id,
                        partitions,
                        configs,
                    },
                );
            }
        }
        Ok(TopicRegistry {
            path,
            topics: RwLock::new(topics),
        })
    }

    fn save(&self, topics: &BTreeMap<String, TopicInfo>) -> Result<()> {
        let mut text = String::from("# name\tid\tpartitions\tconfigs\n");
        for t in topics.values() {
            let configs: Vec<String> = t
                .configs
                .iter()
                .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
                .collect();
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\n",
                t.name,
                hex(&t.id),
                t.partitions,
                configs.join(",")
            ));
        }
        write_atomically(&self.path, text.as_bytes())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, TopicInfo>> {
        self.topics.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A topic by name.
    pub fn get(&self, name: &str) -> Option<TopicInfo> {
        self.read().get(name).cloned()
    }

    /// A topic by id.
    pub fn get_by_id(&self, id: &Uuid) -> Option<TopicInfo> {
        self.read().values().find(|t| &t.id == id).cloned()
    }

    /// Every topic.
    pub fn all(&self) -> Vec<TopicInfo> {
        self.read().values().cloned().collect()
    }

    /// Applies `change` to the topics and persists the result; the change's error aborts it.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, TopicInfo>) -> Result<T>,
    ) -> Result<T> {
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let mut next = topics.clone();
        let out = change(&mut next)?;
        self.save(&next)?;
        *topics = next;
        Ok(out)
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ',' | '=' | '%' | '\t' | '\n' | '\r' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Kafka's rule for topic names: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return Err(format!(
            "Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(format!(
            "Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("broker-meta-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn registry_survives_reload_with_odd_config_values() {
        let d = tmp("registry");
        let r = TopicRegistry::load(&d).unwrap();
        let mut configs = BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), "compact,delete".to_string());
        configs.insert("x".to_string(), "a=b%c".to_string());
        let info = TopicInfo {
            name: "t1".into(),
            id: random_uuid(),
            partitions: 3,
            configs,
        };
        r.update(|t| {
            t.insert("t1".into(), info.clone());
            Ok(())
        })
        .unwrap();
        let again = TopicRegistry::load(&d).unwrap();
        assert_eq!(again.get("t1"), Some(info.clone()));
        assert_eq!(
            again.get_by_id(&info.id).map(|t| t.name),
            Some("t1".to_string())
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn meta_properties_are_created_then_checked() {
        let d = tmp("meta");
        let m = load_or_create_meta(&d, 1, None).unwrap();
        let again = load_or_create_meta(&d, 1, None).unwrap();
        assert_eq!(m.cluster_id, again.cluster_id);
        assert!(load_or_create_meta(&d, 2, None).is_err());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn topic_names_follow_kafkas_rule() {
        assert!(validate_topic_name("orders.v1_x-y").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a b").is_err());
        assert!(validate_topic_name(&"a".repeat(250)).is_err());
    }
}
