//! Kafka's `LogManager`: the log directories and every partition's log in them.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kafka_protocol::Uuid;
use tracing::{info, warn};

use crate::checkpoint;
use crate::config::{BackgroundConfig, LogConfig};
use crate::durability::{Durability, DurabilityListener, FlushListener};
use crate::error::{Error, Result};
use crate::log::{sync_dir, wall_clock_ms, LoadOptions, Log};
use crate::topic_partition::is_valid_topic_name;
use crate::TopicPartition;

/// Flusher threads: logs due for a group-commit fsync are flushed by this many threads at
/// once, so one partition's fsync does not hold up the others' (concurrent fsyncs on one
/// file system also share its journal commits).
const FLUSHER_THREADS: usize = 4;

/// The lock file in each log directory.
pub const LOCK_FILE: &str = ".lock";
/// The marker written after a clean shutdown; its presence at start-up skips recovery.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

#[derive(Debug)]
struct LogDir {
    path: PathBuf,
    /// Holds the `flock` for as long as the manager lives.
    _lock: File,
}

/// The logs of every partition in a set of log directories (Kafka's `LogManager`).
pub struct LogManager {
    dirs: Vec<LogDir>,
    paths: Vec<PathBuf>,
    default_config: RwLock<LogConfig>,
    logs: RwLock<BTreeMap<TopicPartition, Arc<Log>>>,
    /// Serializes create, delete and config changes.
    admin: Mutex<()>,
    topic_configs: RwLock<BTreeMap<String, BTreeMap<String, String>>>,
    durability: Arc<Durability>,
    stop: Mutex<bool>,
    stop_cv: Condvar,
    shut_down: AtomicBool,
}

impl std::fmt::Debug for LogManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogManager")
            .field(
                "dirs",
                &self.dirs.iter().map(|d| &d.path).collect::<Vec<_>>(),
            )
            .field("logs", &read_lock(&self.logs).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read_lock<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_lock<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock_dir(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.join(LOCK_FILE))?;
    if !crate::sys::try_lock_exclusive(&file)? {
        return Err(Error::LogDirLocked(path.to_path_buf()));
    }
    Ok(file)
}

impl LogManager {
    /// Opens the log directories (creating them), locks each through its `.lock` file, and
    /// loads every partition directory in them. Without a `.kafka_cleanshutdown` marker in a
    /// directory, its logs are recovered from their recovery points (see the crate docs); the
    /// marker is removed once the directory is loaded. Directories left by an interrupted
    /// delete (`*-delete`) are removed.
    pub fn open(log_dirs: &[PathBuf], default_config: LogConfig) -> Result<LogManager> {
        if log_dirs.is_empty() {
            return Err(Error::Config("no log directories given".into()));
        }
        let now_ms = wall_clock_ms();
        let durability = Arc::new(Durability::default());
        let mut dirs = Vec::new();
        let mut logs = BTreeMap::new();
        let mut topic_configs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for path in log_dirs {
            std::fs::create_dir_all(path)?;
            let lock = lock_dir(path)?;
            let marker = path.join(CLEAN_SHUTDOWN_FILE);
            let clean = marker.exists();
            let started = Instant::now();
            let mut loaded = 0usize;
            for entry in std::fs::read_dir(path)? {
                let entry = entry?;
                if !entry.file_type()?.is_dir() {
                    continue;
                }
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let dir = entry.path();
                if name.ends_with("-delete") {
                    info!(dir = %dir.display(), "removing a partially deleted log");
                    if let Err(e) = std::fs::remove_dir_all(&dir) {
                        warn!(dir = %dir.display(), error = %e, "could not remove deleted log");
                    }
                    continue;
                }
                let Some(tp) = TopicPartition::parse_dir_name(name) else {
                    continue;
                };
                let overrides = checkpoint::read_topic_config(&dir).unwrap_or_else(|e| {
                    warn!(partition = %tp, error = %e, "unreadable topic config: using defaults");
                    BTreeMap::new()
                });
                let config = LogConfig::from_topic_configs(&default_config, &overrides)
                    .unwrap_or_else(|e| {
                        warn!(partition = %tp, error = %e, "invalid topic config: using defaults");
                        default_config.clone()
                    });
                let log = Log::open(
                    &dir,
                    tp.clone(),
                    config,
                    LoadOptions {
                        had_clean_shutdown: clean,
                        now_ms,
                        durability: Arc::clone(&durability),
                    },
                )?;
                if logs.contains_key(&tp) {
                    return Err(Error::Corrupt(format!(
                        "duplicate log directories for {tp}, one in {}",
                        dir.display()
                    )));
                }
                topic_configs.entry(tp.topic.clone()).or_insert(overrides);
                logs.insert(tp, Arc::new(log));
                loaded += 1;
            }
            if clean {
                std::fs::remove_file(&marker)?;
                sync_dir(path);
            }
            info!(dir = %path.display(), logs = loaded, clean_shutdown = clean,
                elapsed_ms = started.elapsed().as_millis() as u64, "loaded log directory");
            dirs.push(LogDir {
                path: path.clone(),
                _lock: lock,
            });
        }
        Ok(LogManager {
            paths: dirs.iter().map(|d: &LogDir| d.path.clone()).collect(),
            dirs,
            default_config: RwLock::new(default_config),
            logs: RwLock::new(logs),
            admin: Mutex::new(()),
            topic_configs: RwLock::new(topic_configs),
            durability,
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
            shut_down: AtomicBool::new(false),
        })
    }

    /// The log directories.
    pub fn log_dirs(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The broker-wide default config.
    pub fn default_config(&self) -> LogConfig {
        read_lock(&self.default_config).clone()
    }

    /// Replaces the broker-wide default (Kafka's dynamic `log.*` broker configs): every log is
    /// reconfigured at once with the new default under its topic's overrides, and logs created
    /// later start from it. A topic whose overrides no longer combine with the new default
    /// keeps its current config (logged); nothing is written to disk here, the caller keeps
    /// the default it came from.
    pub fn set_default_config(&self, default_config: LogConfig) {
        let _admin = lock(&self.admin);
        *write_lock(&self.default_config) = default_config.clone();
        let logs: Vec<(TopicPartition, Arc<Log>)> = read_lock(&self.logs)
            .iter()
            .map(|(tp, l)| (tp.clone(), Arc::clone(l)))
            .collect();
        let overrides = read_lock(&self.topic_configs).clone();
        for (tp, log) in logs {
            let empty = BTreeMap::new();
            let topic_overrides = overrides.get(&tp.topic).unwrap_or(&empty);
            match LogConfig::from_topic_configs(&default_config, topic_overrides) {
                Ok(config) => log.set_config(config),
                Err(e) => warn!(partition = %tp, error = %e, "keeping the old config"),
            }
        }
    }

    /// A topic's effective config: the default with its overrides.
    pub fn effective_config(&self, topic: &str) -> Option<LogConfig> {
        let overrides = self.topic_config(topic)?;
        LogConfig::from_topic_configs(&self.default_config(), &overrides).ok()
    }

    /// Creates a partition's log (error [`Error::LogExists`] if it has one). A new topic gets
    /// a random topic id; a new partition of an existing topic gets the topic's id, and its
    /// config overrides extended by `overrides`.
    pub fn create_log(
        &self,
        tp: &TopicPartition,
        overrides: BTreeMap<String, String>,
    ) -> Result<Arc<Log>> {
        self.create(tp, None, overrides)
    }

    /// As [`LogManager::create_log`], with the topic id given.
    pub fn create_log_with_topic_id(
        &self,
        tp: &TopicPartition,
        topic_id: Uuid,
        overrides: BTreeMap<String, String>,
    ) -> Result<Arc<Log>> {
        self.create(tp, Some(topic_id), overrides)
    }

    fn create(
        &self,
        tp: &TopicPartition,
        topic_id: Option<Uuid>,
        overrides: BTreeMap<String, String>,
    ) -> Result<Arc<Log>> {
        let _admin = lock(&self.admin);
        if self.shut_down.load(Ordering::Acquire) {
            return Err(Error::LogDeleted(tp.clone()));
        }
        if !is_valid_topic_name(&tp.topic) {
            return Err(Error::InvalidTopic(format!(
                "{:?} is not a valid topic name",
                tp.topic
            )));
        }
        if tp.partition < 0 {
            return Err(Error::InvalidTopic(format!(
                "partition {} is negative",
                tp.partition
            )));
        }
        if read_lock(&self.logs).contains_key(tp) {
            return Err(Error::LogExists(tp.clone()));
        }
        let mut merged = read_lock(&self.topic_configs)
            .get(&tp.topic)
            .cloned()
            .unwrap_or_default();
        merged.extend(overrides);
        let config = LogConfig::from_topic_configs(&self.default_config(), &merged)?;
        let topic_id = topic_id
            .or_else(|| self.topic_id(&tp.topic))
            .unwrap_or_else(checkpoint::random_uuid);
        let dir = self.next_log_dir().join(tp.dir_name());
        if dir.exists() {
            return Err(Error::LogExists(tp.clone()));
        }
        let log = Arc::new(Log::create(
            &dir,
            tp.clone(),
            topic_id,
            &merged,
            config,
            wall_clock_ms(),
            Arc::clone(&self.durability),
        )?);
        write_lock(&self.logs).insert(tp.clone(), log.clone());
        write_lock(&self.topic_configs).insert(tp.topic.clone(), merged);
        info!(partition = %tp, dir = %dir.display(), "created log");
        Ok(log)
    }

    /// The directory with the fewest partitions (Kafka's `nextLogDirs`).
    fn next_log_dir(&self) -> PathBuf {
        let logs = read_lock(&self.logs);
        self.dirs
            .iter()
            .min_by_key(|d| {
                logs.values()
                    .filter(|l| l.dir().parent() == Some(&d.path))
                    .count()
            })
            .map_or_else(PathBuf::new, |d| d.path.clone())
    }

    /// A partition's log.
    pub fn get_log(&self, tp: &TopicPartition) -> Option<Arc<Log>> {
        read_lock(&self.logs).get(tp).cloned()
    }

    /// Every log, ordered by partition.
    pub fn all_logs(&self) -> Vec<(TopicPartition, Arc<Log>)> {
        read_lock(&self.logs)
            .iter()
            .map(|(tp, l)| (tp.clone(), l.clone()))
            .collect()
    }

    /// The topics and their partition indexes, in order.
    pub fn topics(&self) -> BTreeMap<String, Vec<i32>> {
        let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for tp in read_lock(&self.logs).keys() {
            out.entry(tp.topic.clone()).or_default().push(tp.partition);
        }
        out
    }

    /// A topic's id (from its partitions' `partition.metadata`).
    pub fn topic_id(&self, topic: &str) -> Option<Uuid> {
        read_lock(&self.logs)
            .range(TopicPartition::new(topic, i32::MIN)..=TopicPartition::new(topic, i32::MAX))
            .find_map(|(_, l)| l.topic_id())
    }

    fn topic_logs(&self, topic: &str) -> Vec<Arc<Log>> {
        read_lock(&self.logs)
            .range(TopicPartition::new(topic, i32::MIN)..=TopicPartition::new(topic, i32::MAX))
            .map(|(_, l)| l.clone())
            .collect()
    }

    /// Deletes a partition's log: it stops taking appends, its directory is renamed to
    /// `topic-partition.<id>-delete` and removed. File regions already handed out stay
    /// readable until dropped.
    pub fn delete_log(&self, tp: &TopicPartition) -> Result<()> {
        let _admin = lock(&self.admin);
        let log = write_lock(&self.logs)
            .remove(tp)
            .ok_or_else(|| Error::UnknownPartition(tp.clone()))?;
        log.mark_deleted();
        if self.topic_logs(&tp.topic).is_empty() {
            write_lock(&self.topic_configs).remove(&tp.topic);
        }
        let dir = log.dir();
        let unique: String = checkpoint::random_uuid()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let renamed = dir.with_file_name(format!("{}.{unique}-delete", tp.dir_name()));
        std::fs::rename(&dir, &renamed)?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent);
        }
        if let Err(e) = std::fs::remove_dir_all(&renamed) {
            warn!(dir = %renamed.display(), error = %e, "could not remove deleted log; retrying at the next start");
        }
        info!(partition = %tp, "deleted log");
        Ok(())
    }

    /// Replaces a topic's config overrides (AlterConfigs; for IncrementalAlterConfigs, merge
    /// into [`LogManager::topic_config`] first): validated, written to every partition's
    /// `topic.config`, and applied to every partition's log at once.
    pub fn update_config(&self, topic: &str, overrides: BTreeMap<String, String>) -> Result<()> {
        let _admin = lock(&self.admin);
        let config = LogConfig::from_topic_configs(&self.default_config(), &overrides)?;
        let logs = self.topic_logs(topic);
        if logs.is_empty() {
            return Err(Error::UnknownPartition(TopicPartition::new(topic, -1)));
        }
        for log in &logs {
            checkpoint::write_topic_config(&log.dir(), &overrides)?;
        }
        for log in &logs {
            log.set_config(config.clone());
        }
        write_lock(&self.topic_configs).insert(topic.to_string(), overrides);
        Ok(())
    }

    /// A topic's config overrides (empty if it has none), `None` if the topic has no
    /// partitions here.
    pub fn topic_config(&self, topic: &str) -> Option<BTreeMap<String, String>> {
        read_lock(&self.topic_configs).get(topic).cloned()
    }

    /// Runs retention on every log ([`Log::delete_old_segments`]); returns the number of
    /// segments deleted. Errors are logged per partition.
    pub fn run_retention(&self, now_ms: i64) -> usize {
        let mut deleted = 0;
        for (tp, log) in self.all_logs() {
            match log.delete_old_segments(now_ms) {
                Ok(n) => deleted += n,
                Err(e) => warn!(partition = %tp, error = %e, "retention failed"),
            }
        }
        deleted
    }

    /// Fsyncs every log; the first error, after trying them all.
    pub fn flush_all(&self) -> Result<()> {
        let mut first = None;
        for (tp, log) in self.all_logs() {
            if let Err(e) = log.flush() {
                warn!(partition = %tp, error = %e, "flush failed");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Writes every log's `offsets.checkpoint` (recovery point and log start offset) where
    /// it changed.
    pub fn checkpoint(&self) -> Result<()> {
        let mut first = None;
        for (tp, log) in self.all_logs() {
            if let Err(e) = log.write_checkpoint() {
                warn!(partition = %tp, error = %e, "checkpoint failed");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Adds a listener told about every fsync round of every log (present and future).
    pub fn set_flush_listener(&self, listener: FlushListener) {
        self.durability.add_closure(listener);
    }

    /// Adds a listener told about every fsync round of every log (present and future), and
    /// about every failed one: how the broker completes produce requests waiting for
    /// durability (see [`Log::append_as_leader`]).
    pub fn on_flushed(&self, listener: Arc<dyn DurabilityListener>) {
        self.durability.add_listener(listener);
    }

    /// Starts the background thread: retention every `retention_check_interval_ms`
    /// (with producer-id expiration), the flush check (rolled segments, `flush.ms`) every
    /// `flush_check_interval_ms`, and checkpoints every `checkpoint_interval_ms`; and with it
    /// the flusher threads, which group-commit the appends [`Log::append_as_leader`] asks to
    /// be durable (one fsync per log covers every append since its last; different logs are
    /// flushed concurrently). All run until
    /// [`LogManager::stop_background`] or [`LogManager::shutdown`]; the handle joins both.
    pub fn spawn_background(self: &Arc<Self>, config: BackgroundConfig) -> Result<JoinHandle<()>> {
        let manager = Arc::clone(self);
        *lock(&self.stop) = false;
        // Appends queue their flushes from now on; before the thread runs they wait in the
        // queue.
        self.durability.start_flusher();
        let spawned = std::thread::Builder::new()
            .name("kafka-log-manager".into())
            .spawn(move || {
                std::thread::scope(|s| {
                    let mut started = 0;
                    for i in 0..FLUSHER_THREADS {
                        let flusher = std::thread::Builder::new()
                            .name(format!("kafka-log-flusher-{i}"))
                            .spawn_scoped(s, || manager.flusher_loop());
                        match flusher {
                            Ok(_) => started += 1,
                            Err(e) => warn!(error = %e, "could not start a flusher thread"),
                        }
                    }
                    if started == 0 {
                        warn!("no flusher thread: appenders flush for themselves");
                        manager.durability.stop_flusher();
                        manager.flusher_loop();
                    }
                    manager.background_loop(&config);
                    manager.durability.stop_flusher();
                });
            });
        match spawned {
            Ok(handle) => Ok(handle),
            Err(e) => {
                self.durability.stop_flusher();
                self.flusher_loop();
                Err(e.into())
            }
        }
    }

    /// A flusher thread: one fsync round per queued log, until stopped with nothing left
    /// (after a stop, it only drains the queue).
    fn flusher_loop(&self) {
        while let Some(tp) = self.durability.take_due() {
            if let Some(log) = self.get_log(&tp) {
                log.flush_scheduled();
            }
        }
    }

    fn background_loop(&self, config: &BackgroundConfig) {
        let ms = |v: u64| Duration::from_millis(v.max(1));
        let start = Instant::now();
        let mut next_retention = start + ms(config.retention_check_interval_ms);
        let mut next_flush = start + ms(config.flush_check_interval_ms);
        let mut next_checkpoint = start + ms(config.checkpoint_interval_ms);
        loop {
            let due = next_retention.min(next_flush).min(next_checkpoint);
            {
                let mut stop = lock(&self.stop);
                while !*stop {
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    stop = self
                        .stop_cv
                        .wait_timeout(stop, due - now)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                if *stop {
                    return;
                }
            }
            let now = Instant::now();
            let now_ms = wall_clock_ms();
            if now >= next_flush {
                for (tp, log) in self.all_logs() {
                    if let Err(e) = log.flush_if_due(now_ms) {
                        warn!(partition = %tp, error = %e, "scheduled flush failed");
                    }
                }
                next_flush = now + ms(config.flush_check_interval_ms);
            }
            if now >= next_retention {
                let deleted = self.run_retention(now_ms);
                if deleted > 0 {
                    info!(segments = deleted, "retention deleted segments");
                }
                for (_, log) in self.all_logs() {
                    log.expire_producers(now_ms, config.producer_id_expiration_ms);
                }
                next_retention = now + ms(config.retention_check_interval_ms);
            }
            if now >= next_checkpoint {
                let _ = self.checkpoint();
                next_checkpoint = now + ms(config.checkpoint_interval_ms);
            }
        }
    }

    /// Tells the background and flusher threads to stop (they finish the task in hand first;
    /// the flusher flushes what is queued). Appends then flush for themselves.
    pub fn stop_background(&self) {
        *lock(&self.stop) = true;
        self.stop_cv.notify_all();
        self.durability.stop_flusher();
    }

    /// Shuts down cleanly: stops the background thread, closes every log (no more appends;
    /// everything fsynced; indexes, producer snapshots and checkpoints written) and, if all
    /// of a directory's logs closed cleanly, writes its `.kafka_cleanshutdown` marker so the
    /// next start skips recovery. Reads keep working; a second call does nothing.
    pub fn shutdown(&self) -> Result<()> {
        self.stop_background();
        let _admin = lock(&self.admin);
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut failed_dirs: Vec<PathBuf> = Vec::new();
        let mut first = None;
        for (tp, log) in self.all_logs() {
            if let Err(e) = log.close() {
                warn!(partition = %tp, error = %e, "log did not close cleanly");
                if let Some(parent) = log.dir().parent() {
                    failed_dirs.push(parent.to_path_buf());
                }
                first.get_or_insert(e);
            }
        }
        for d in &self.dirs {
            if failed_dirs.contains(&d.path) {
                continue;
            }
            let marker = d.path.join(CLEAN_SHUTDOWN_FILE);
            let written = File::create(&marker).and_then(|f| f.sync_all());
            if let Err(e) = written {
                warn!(dir = %d.path.display(), error = %e, "could not write the clean shutdown marker");
                first.get_or_insert(e.into());
            }
            sync_dir(&d.path);
        }
        info!("log manager shut down");
        first.map_or(Ok(()), Err)
    }
}
