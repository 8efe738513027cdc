//! `Consumer`: the handle callers use, Kafka's `KafkaConsumer` (classic group protocol).
//!
//! Single-threaded like Java's: everything happens inside the caller's calls. `poll` keeps
//! the group membership alive (heartbeats, rebalances), fetches committed offsets and resets
//! positions, sends fetches ahead of what it returns (prefetch) and hands out records.
//! Heartbeats are only sent from inside the consumer's calls, so `poll` must be called more
//! often than `session.timeout.ms`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kafka_protocol::messages::{RequestKind, ResponseKind};
use kafka_protocol::ApiKey;

use crate::config::{ConsumerConfig, Properties};
use crate::consumer::assignor::assignors_from_config;
use crate::consumer::coordinator::{
    ConsumerCoordinator, ConsumerRebalanceListener, CoordinatorEvents, TAG_COORDINATOR,
};
use crate::consumer::fetch_session::FetchParams;
use crate::consumer::fetcher::{ConsumerRecord, Fetcher, TAG_FETCH, TAG_LIST_OFFSETS};
use crate::consumer::subscription::{FetchPosition, OffsetResetStrategy, SubscriptionState};
use crate::error::{Error, Result};
use crate::metadata::PartitionInfo;
use crate::network_client::{ClientResponse, NetworkClient};
use crate::offsets::{committed_offsets, offset_fetch_request};
use crate::types::{deadline_after, TopicPartition};

/// Called with the outcome of an asynchronous commit.
pub type CommitCallback = Box<dyn FnOnce(&Result<()>) + Send>;

/// The consumer's state, shared with its heartbeat thread.
pub(crate) struct ConsumerInner {
    config: ConsumerConfig,
    client: NetworkClient,
    subs: SubscriptionState,
    coordinator: Option<ConsumerCoordinator>,
    fetcher: Fetcher,
    next_auto_commit: Option<Instant>,
    async_commits: HashMap<u64, Option<CommitCallback>>,
    commit_results: HashMap<u64, Result<()>>,
    closed: bool,
    /// When the caller last called `poll` (for `max.poll.interval.ms`).
    last_poll: Instant,
}

impl std::fmt::Debug for ConsumerInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerInner")
            .field("client_id", &self.config.common.client_id)
            .field("group_id", &self.config.group_id)
            .field("coordinator", &self.coordinator)
            .field("assignment", &self.subs.assigned_partitions())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl ConsumerInner {
    /// A consumer's state from a checked configuration.
    pub(crate) fn from_config(config: ConsumerConfig) -> Result<Self> {
        let mut client = NetworkClient::new(&config.common)?;
        client.metadata_mut().set_allow_auto_topic_creation(true);
        let strategies = config.assignment_strategies.join(",");
        let assignors = assignors_from_config(&strategies)?;
        let coordinator = match &config.group_id {
            Some(group) => Some(ConsumerCoordinator::new(&config, group.clone(), assignors)?),
            None => None,
        };
        let reset = config.auto_offset_reset;
        let params = FetchParams {
            max_wait_ms: i32::try_from(config.fetch_max_wait.as_millis()).unwrap_or(i32::MAX),
            min_bytes: config.fetch_min_bytes,
            max_bytes: config.fetch_max_bytes,
            isolation_level: config.isolation_level,
            rack_id: config.common.client_rack.clone(),
        };
        let fetcher = Fetcher::new(
            params,
            config.max_partition_fetch_bytes,
            config.check_crcs,
            config.common.retry_backoff,
        );
        Ok(ConsumerInner {
            subs: SubscriptionState::new(reset),
            client,
            coordinator,
            fetcher,
            next_auto_commit: None,
            async_commits: HashMap::new(),
            commit_results: HashMap::new(),
            closed: false,
            last_poll: Instant::now(),
            config,
        })
    }

    fn check_open(&self) -> Result<()> {
        if self.closed {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Joins the group to consume `topics`; partitions are assigned by the group.
    pub(crate) fn subscribe<S: AsRef<str>>(&mut self, topics: &[S]) -> Result<()> {
        self.check_open()?;
        let coordinator = self.coordinator.as_ref().ok_or_else(|| {
            Error::Config("subscribe() needs group.id (use assign() without a group)".into())
        })?;
        let _ = coordinator;
        let topics: Vec<String> = topics.iter().map(|t| t.as_ref().to_string()).collect();
        if topics.is_empty() {
            self.unsubscribe();
            return Ok(());
        }
        self.subs.subscribe(topics.iter().cloned())?;
        let set: BTreeSet<String> = topics.into_iter().collect();
        self.client.metadata_mut().set_topics(set.iter().cloned());
        if let Some(c) = self.coordinator.as_mut() {
            c.set_subscription(set);
        }
        Ok(())
    }

    /// As [`subscribe`](Self::subscribe), with callbacks for partitions revoked and assigned.
    pub(crate) fn subscribe_with_listener<S: AsRef<str>>(
        &mut self,
        topics: &[S],
        listener: impl ConsumerRebalanceListener + 'static,
    ) -> Result<()> {
        self.subscribe(topics)?;
        if let Some(c) = self.coordinator.as_mut() {
            c.set_listener(Box::new(listener));
        }
        Ok(())
    }

    /// Consumes exactly `partitions`, without group management.
    pub(crate) fn assign(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.check_open()?;
        if partitions.is_empty() {
            self.unsubscribe();
            return Ok(());
        }
        self.subs.assign_from_user(partitions.iter().cloned())?;
        let topics: BTreeSet<String> = partitions.iter().map(|tp| tp.topic.to_string()).collect();
        self.client.metadata_mut().set_topics(topics);
        self.fetcher.clear_buffered(&self.subs);
        Ok(())
    }

    /// Stops consuming: leaves the group (after committing, with auto-commit) or drops the
    /// manual assignment.
    pub(crate) fn unsubscribe(&mut self) {
        let now = Instant::now();
        if let Some(mut c) = self.coordinator.take() {
            if self.config.enable_auto_commit && !c.owned().is_empty() {
                self.coordinator = Some(c);
                let _ = self.commit_sync_timeout(Some(self.config.default_api_timeout));
                c = match self.coordinator.take() {
                    Some(c) => c,
                    None => return,
                };
            }
            let mut events = CoordinatorEvents::default();
            c.revoke_all(&mut events);
            c.leave_group(&mut self.client, now);
            c.set_subscription(BTreeSet::new());
            self.coordinator = Some(c);
        }
        self.subs.unsubscribe();
        self.fetcher.clear_buffered(&self.subs);
    }

    /// The partitions assigned now.
    pub(crate) fn assignment(&self) -> Vec<TopicPartition> {
        self.subs.assigned_partitions()
    }

    /// The topics subscribed to.
    pub(crate) fn subscription(&self) -> Vec<String> {
        self.subs.subscription().iter().cloned().collect()
    }

    /// Waits up to `timeout` for records and returns them (at most `max.poll.records`).
    /// Also where group membership, commits and offset resets make progress.
    pub(crate) fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        self.check_open()?;
        let deadline = deadline_after(Instant::now(), timeout);
        self.last_poll = Instant::now();
        loop {
            let now = Instant::now();
            self.update_assignment_metadata(now);
            self.maybe_auto_commit(now);
            if let Some(e) = self.fetcher.take_error() {
                return Err(e);
            }
            if let Some(e) = self.client.last_authentication_error() {
                return Err(e);
            }
            let records = self
                .fetcher
                .collect(&mut self.subs, self.config.max_poll_records)?;
            if !records.is_empty() {
                // Prefetch: the next responses travel while the caller processes these.
                self.fetcher.send_fetches(&mut self.client, &self.subs, now);
                let _ = self.drive(Duration::ZERO);
                return Ok(records);
            }
            self.fetcher.send_fetches(&mut self.client, &self.subs, now);
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let mut wait = deadline - now;
            if let Some(c) = &self.coordinator {
                wait = wait.min(c.time_to_next_poll(now));
            }
            if let Some(t) = self.next_auto_commit {
                wait = wait.min(t.saturating_duration_since(now));
            }
            self.drive(wait.max(Duration::from_millis(1)))?;
        }
    }

    /// One network poll and dispatch of what came back.
    fn drive(&mut self, wait: Duration) -> Result<()> {
        let responses = self.client.poll(wait);
        let now = Instant::now();
        for response in responses {
            self.dispatch(response, now);
        }
        Ok(())
    }

    fn dispatch(&mut self, response: ClientResponse, now: Instant) {
        match response.tag & (0xff << 56) {
            TAG_COORDINATOR => {
                let Some(c) = self.coordinator.as_mut() else {
                    return;
                };
                let mut events = CoordinatorEvents::default();
                c.handle_response(&mut self.client, response, now, &mut events);
                self.apply_events(events, now);
            }
            TAG_FETCH => {
                self.fetcher
                    .handle_fetch_response(&mut self.client, &mut self.subs, response)
            }
            TAG_LIST_OFFSETS => {
                self.fetcher
                    .handle_list_offsets(&mut self.client, &mut self.subs, response, now)
            }
            _ => {}
        }
    }

    fn apply_events(&mut self, events: CoordinatorEvents, now: Instant) {
        if !events.revoked.is_empty() && self.config.enable_auto_commit {
            // The new owner starts from what is committed: commit what was consumed first.
            let consumed: BTreeMap<TopicPartition, i64> = self
                .subs
                .all_consumed()
                .into_iter()
                .filter(|(tp, _)| events.revoked.contains(tp))
                .map(|(tp, p)| (tp, p.offset))
                .collect();
            if !consumed.is_empty() {
                if let Some(c) = self.coordinator.as_mut() {
                    match c.send_commit(&mut self.client, &consumed, now) {
                        Ok(id) => {
                            self.async_commits.insert(id, None);
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "commit of revoked partitions not sent")
                        }
                    }
                }
            }
        }
        if let Some(assigned) = events.assigned {
            if let Err(e) = self.subs.assign_from_subscribed(assigned) {
                tracing::warn!(error = %e, "assignment does not match the subscription");
            }
            self.fetcher.clear_buffered(&self.subs);
        } else if !events.revoked.is_empty() {
            let kept: Vec<TopicPartition> = self
                .subs
                .assigned_partitions()
                .into_iter()
                .filter(|tp| !events.revoked.contains(tp))
                .collect();
            if self.subs.has_auto_assigned_partitions() {
                let _ = self.subs.assign_from_subscribed(kept);
            }
            self.fetcher.clear_buffered(&self.subs);
        }
        for (tp, offset) in events.committed {
            if !self.subs.partitions_needing_position().contains(&tp) {
                continue;
            }
            match offset {
                Some(o) => {
                    let _ = self.subs.seek(&tp, o);
                }
                None => {
                    let _ = self.subs.request_offset_reset(&tp);
                }
            }
        }
        for (id, result) in events.commits {
            if let Some(callback) = self.async_commits.remove(&id) {
                if let Err(e) = &result {
                    tracing::warn!(error = %e, "offset commit failed");
                }
                if let Some(cb) = callback {
                    cb(&result);
                }
            } else {
                self.commit_results.insert(id, result);
            }
        }
    }

    /// Group upkeep and positions: what Java's `updateAssignmentMetadataIfNeeded` does.
    fn update_assignment_metadata(&mut self, now: Instant) {
        let subscribed =
            self.subs.has_auto_assigned_partitions() || !self.subs.subscription().is_empty();
        if let Some(c) = self.coordinator.as_mut() {
            // Losses the heartbeat thread saw are reported here, on the caller's thread.
            let mut events = CoordinatorEvents::default();
            c.run_deferred_losses(&mut events);
            if !events.revoked.is_empty() {
                self.apply_events(events, now);
            }
        }
        if let Some(c) = self.coordinator.as_mut() {
            if subscribed && c.needs_revocation_before_join() {
                // Eager: commit, then give everything up before joining again.
                if self.config.enable_auto_commit {
                    let consumed = self.consumed_offsets();
                    if !consumed.is_empty() {
                        let _ = self
                            .commit_offsets_sync(&consumed, Some(self.config.default_api_timeout));
                    }
                }
                if let Some(c) = self.coordinator.as_mut() {
                    let mut events = CoordinatorEvents::default();
                    c.revoke_all(&mut events);
                    let _ = self.subs.assign_from_subscribed(Vec::new());
                    self.fetcher.clear_buffered(&self.subs);
                }
            }
        }
        let needs_committed = self.subs.partitions_needing_position();
        match self.coordinator.as_mut() {
            Some(c) => c.poll(&mut self.client, &needs_committed, subscribed, now),
            None => {
                // No group: nothing is committed; start where auto.offset.reset says.
                let _ = self.subs.reset_initializing_positions();
            }
        }
        self.fetcher
            .reset_offsets(&mut self.client, &mut self.subs, now);
    }

    fn consumed_offsets(&self) -> BTreeMap<TopicPartition, i64> {
        self.subs
            .all_consumed()
            .into_iter()
            .map(|(tp, p)| (tp, p.offset))
            .collect()
    }

    fn maybe_auto_commit(&mut self, now: Instant) {
        if !self.config.enable_auto_commit {
            return;
        }
        let Some(c) = self.coordinator.as_mut() else {
            return;
        };
        match self.next_auto_commit {
            None => {
                self.next_auto_commit = Some(now + self.config.auto_commit_interval);
            }
            Some(t) if t <= now => {
                self.next_auto_commit = Some(now + self.config.auto_commit_interval);
                if !c.is_stable() {
                    return;
                }
                let consumed: BTreeMap<TopicPartition, i64> = self
                    .subs
                    .all_consumed()
                    .into_iter()
                    .map(|(tp, p)| (tp, p.offset))
                    .collect();
                if consumed.is_empty() {
                    return;
                }
                match c.send_commit(&mut self.client, &consumed, now) {
                    Ok(id) => {
                        self.async_commits.insert(id, None);
                    }
                    Err(e) => tracing::debug!(error = %e, "auto-commit not sent"),
                }
            }
            Some(_) => {}
        }
    }

    /// Commits the positions of all assigned partitions and waits for the answer
    /// (retrying retriable errors within `default.api.timeout.ms`).
    pub(crate) fn commit_sync(&mut self) -> Result<()> {
        self.commit_sync_timeout(None)
    }

    fn commit_sync_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        let offsets = self.consumed_offsets();
        self.commit_offsets_sync(&offsets, timeout)
    }

    /// Commits `offsets` (the next offset to read in each partition) and waits.
    pub(crate) fn commit_offsets_sync(
        &mut self,
        offsets: &BTreeMap<TopicPartition, i64>,
        timeout: Option<Duration>,
    ) -> Result<()> {
        self.check_open()?;
        if offsets.is_empty() {
            return Ok(());
        }
        let deadline = deadline_after(
            Instant::now(),
            timeout.unwrap_or(self.config.default_api_timeout),
        );
        loop {
            let id = self.send_commit_when_ready(offsets, deadline)?;
            let result = loop {
                if let Some(r) = self.commit_results.remove(&id) {
                    break r;
                }
                let now = Instant::now();
                if now >= deadline {
                    return Err(Error::Timeout("offset commit not answered in time".into()));
                }
                self.drive((deadline - now).min(Duration::from_millis(100)))?;
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retriable() && Instant::now() < deadline => {
                    std::thread::sleep(self.config.common.retry_backoff);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn send_commit_when_ready(
        &mut self,
        offsets: &BTreeMap<TopicPartition, i64>,
        deadline: Instant,
    ) -> Result<u64> {
        loop {
            let now = Instant::now();
            let c = self
                .coordinator
                .as_mut()
                .ok_or_else(|| Error::Config("committing offsets needs group.id".into()))?;
            if let Some(node) = c.coordinator() {
                if self.client.ready(node, now) {
                    return c.send_commit(&mut self.client, offsets, now);
                }
            }
            if now >= deadline {
                return Err(Error::Timeout("group coordinator not available".into()));
            }
            let needs = Vec::new();
            let subscribed = !self.subs.subscription().is_empty();
            if let Some(c) = self.coordinator.as_mut() {
                c.poll(&mut self.client, &needs, subscribed, now);
            }
            self.drive((deadline - now).min(Duration::from_millis(50)))?;
        }
    }

    /// Commits the positions of all assigned partitions without waiting; `callback` (if any)
    /// runs inside a later `poll` or commit with the outcome.
    pub(crate) fn commit_async(&mut self, callback: Option<CommitCallback>) -> Result<()> {
        self.check_open()?;
        let offsets = self.consumed_offsets();
        if offsets.is_empty() {
            if let Some(cb) = callback {
                cb(&Ok(()));
            }
            return Ok(());
        }
        let now = Instant::now();
        let c = self
            .coordinator
            .as_mut()
            .ok_or_else(|| Error::Config("committing offsets needs group.id".into()))?;
        match c.send_commit(&mut self.client, &offsets, now) {
            Ok(id) => {
                self.async_commits.insert(id, callback);
                Ok(())
            }
            Err(e) => {
                if let Some(cb) = callback {
                    cb(&Err(e.clone()));
                }
                Err(e)
            }
        }
    }

    /// Moves the position of `tp` (assigned) to `offset`.
    pub(crate) fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.subs.seek(tp, offset)?;
        self.fetcher.clear_buffered(&self.subs);
        Ok(())
    }

    /// Moves the positions of `partitions` to their first offsets.
    pub(crate) fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.subs
                .request_offset_reset_with(tp, OffsetResetStrategy::Earliest)?;
        }
        self.fetcher.clear_buffered(&self.subs);
        Ok(())
    }

    /// Moves the positions of `partitions` to their log ends.
    pub(crate) fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.subs
                .request_offset_reset_with(tp, OffsetResetStrategy::Latest)?;
        }
        self.fetcher.clear_buffered(&self.subs);
        Ok(())
    }

    /// The offset of the next record `poll` returns from `tp`, finding it (committed offset
    /// or reset) if needed, within `default.api.timeout.ms`.
    pub(crate) fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        self.check_open()?;
        if !self.subs.is_assigned(tp) {
            return Err(Error::Other(format!(
                "{tp} is not assigned to this consumer"
            )));
        }
        let deadline = Instant::now() + self.config.default_api_timeout;
        loop {
            if let Some(FetchPosition { offset, .. }) = self.subs.position(tp) {
                return Ok(offset);
            }
            if let Some(e) = self.fetcher.take_error() {
                return Err(e);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout(format!(
                    "position of {tp} not known in time"
                )));
            }
            self.update_assignment_metadata(now);
            self.drive((deadline - now).min(Duration::from_millis(50)))?;
        }
    }

    /// The committed offsets of `partitions` (`None` where nothing is committed).
    pub(crate) fn committed(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
        self.check_open()?;
        let deadline = Instant::now() + self.config.default_api_timeout;
        let group = self
            .config
            .group_id
            .clone()
            .ok_or_else(|| Error::Config("committed() needs group.id".into()))?;
        let node = loop {
            let now = Instant::now();
            let c = self
                .coordinator
                .as_mut()
                .ok_or_else(|| Error::Config("committed() needs group.id".into()))?;
            if let Some(node) = c.coordinator() {
                break node;
            }
            if now >= deadline {
                return Err(Error::Timeout("group coordinator not found in time".into()));
            }
            let subscribed = !self.subs.subscription().is_empty();
            c.poll(&mut self.client, &[], subscribed, now);
            self.drive((deadline - now).min(Duration::from_millis(50)))?;
        };
        let response = self.client.send_and_receive(
            node,
            ApiKey::OffsetFetch,
            None,
            |v| {
                Ok(RequestKind::OffsetFetch(offset_fetch_request(
                    &group,
                    Some(partitions),
                    v,
                )?))
            },
            deadline,
        )?;
        let ResponseKind::OffsetFetch(r) = response else {
            return Err(Error::Other("unexpected answer to OffsetFetch".into()));
        };
        let mut out: BTreeMap<TopicPartition, Option<i64>> =
            partitions.iter().map(|tp| (tp.clone(), None)).collect();
        for c in committed_offsets(&r, &group)? {
            if c.error.is_error() {
                return Err(Error::kafka(c.error));
            }
            if let Some(slot) = out.get_mut(&c.tp) {
                *slot = (c.offset >= 0).then_some(c.offset);
            }
        }
        Ok(out)
    }

    /// The partitions of `topic`, from metadata (fetched within `default.api.timeout.ms`).
    pub(crate) fn partitions_for(&mut self, topic: &str) -> Result<Vec<PartitionInfo>> {
        self.check_open()?;
        let deadline = Instant::now() + self.config.default_api_timeout;
        self.client.metadata_mut().add_topics([topic]);
        loop {
            if let Some(t) = self.client.metadata().cluster().topics.get(topic) {
                if !t.error.is_error() && !t.partitions.is_empty() {
                    return Ok(t.partitions.clone());
                }
            }
            if let Some(code) = self.client.metadata().fatal_topic_error(topic) {
                return Err(Error::kafka(code));
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout(format!("no metadata for topic {topic}")));
            }
            let version = self.client.metadata().version();
            let _ = self.client.await_metadata_update(version, deadline);
        }
    }

    /// Stops fetching from `partitions` until resumed (they stay assigned).
    pub(crate) fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.subs.pause(tp)?;
        }
        self.fetcher.clear_buffered(&self.subs);
        Ok(())
    }

    /// Resumes fetching from `partitions`.
    pub(crate) fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.subs.resume(tp)?;
        }
        Ok(())
    }

    /// The group generation and member id, when in a group.
    pub(crate) fn group_metadata(&self) -> Option<(String, i32, String)> {
        self.coordinator.as_ref().map(|c| {
            (
                c.group_id().to_string(),
                c.generation(),
                c.member_id().to_string(),
            )
        })
    }

    /// Commits (with auto-commit), leaves the group and closes the connections.
    pub(crate) fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let mut result = Ok(());
        if self.config.enable_auto_commit
            && self.coordinator.as_ref().is_some_and(|c| c.is_stable())
        {
            result = self.commit_sync_timeout(Some(
                self.config.default_api_timeout.min(Duration::from_secs(10)),
            ));
        }
        let now = Instant::now();
        if let Some(c) = self.coordinator.as_mut() {
            let mut events = CoordinatorEvents::default();
            c.revoke_all(&mut events);
            c.leave_group(&mut self.client, now);
        }
        self.fetcher.close_sessions();
        // Give the LeaveGroup a moment to go out so the group rebalances at once.
        let deadline = Instant::now() + Duration::from_millis(500);
        while self.client.has_in_flight() && Instant::now() < deadline {
            let _ = self.client.poll(Duration::from_millis(20));
        }
        self.client.close();
        self.closed = true;
        result
    }

    /// One turn of the heartbeat thread, between the caller's polls: sends a due heartbeat,
    /// handles heartbeat answers and leaves every other answer in the network client for the
    /// caller's next poll; leaves
    /// the group when the caller has not polled within `max.poll.interval.ms`, as Java's
    /// heartbeat thread does.
    pub(crate) fn heartbeat_turn(&mut self) {
        if self.closed {
            return;
        }
        let now = Instant::now();
        let Some(c) = self.coordinator.as_mut() else {
            return;
        };
        if !c.is_stable() {
            return;
        }
        if now.saturating_duration_since(self.last_poll) > self.config.max_poll_interval {
            tracing::warn!(
                group = %c.group_id(),
                "poll() not called within max.poll.interval.ms; leaving the group"
            );
            c.leave_group(&mut self.client, now);
            c.defer_all_as_lost();
            return;
        }
        c.heartbeat_if_due(&mut self.client, now);
        self.client.wait_io(Duration::ZERO);
        while let Some(response) = self.client.take_response(|r| c.is_heartbeat(r)) {
            let mut events = CoordinatorEvents::default();
            // Heartbeat answers defer their listener calls to the caller's thread.
            c.handle_response(&mut self.client, response, now, &mut events);
        }
    }

    pub(crate) fn heartbeat_interval(&self) -> Duration {
        self.config.heartbeat_interval
    }

    pub(crate) fn has_group(&self) -> bool {
        self.coordinator.is_some()
    }
}

/// Reads records from Kafka, alone (`assign`) or as a member of a consumer group
/// (`subscribe`). One caller at a time (`&mut self`), as Java's `KafkaConsumer`; a background
/// thread keeps a group member's heartbeats going between `poll` calls, so the time a caller
/// spends on records is bounded by `max.poll.interval.ms`, not `session.timeout.ms`.
pub struct Consumer {
    inner: Arc<Mutex<ConsumerInner>>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    heartbeat: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// A consumer configured from Kafka's consumer keys (`bootstrap.servers` at least;
    /// `group.id` for `subscribe` and commits).
    pub fn new(props: &Properties) -> Result<Self> {
        Self::from_config(ConsumerConfig::from_properties(props)?)
    }

    /// A consumer from a checked configuration.
    pub fn from_config(config: ConsumerConfig) -> Result<Self> {
        let inner = ConsumerInner::from_config(config)?;
        let has_group = inner.has_group();
        let interval = inner.heartbeat_interval();
        let inner = Arc::new(Mutex::new(inner));
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let heartbeat = if has_group {
            let inner = Arc::clone(&inner);
            let stop = Arc::clone(&stop);
            // Wake often enough to heartbeat on time; a turn with nothing due is cheap.
            let tick = (interval / 4).clamp(Duration::from_millis(10), Duration::from_millis(500));
            Some(
                std::thread::Builder::new()
                    .name("kafka-coordinator-heartbeat-thread".into())
                    .spawn(move || heartbeat_loop(&inner, &stop, tick))
                    .map_err(|e| Error::Other(format!("cannot start the heartbeat thread: {e}")))?,
            )
        } else {
            None
        };
        Ok(Consumer {
            inner,
            stop,
            heartbeat,
        })
    }

    fn inner(&self) -> MutexGuard<'_, ConsumerInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joins the group to consume `topics`; partitions are assigned by the group.
    pub fn subscribe<S: AsRef<str>>(&mut self, topics: &[S]) -> Result<()> {
        self.inner().subscribe(topics)
    }

    /// As [`subscribe`](Self::subscribe), with callbacks for partitions revoked and assigned
    /// (called inside `poll`, on the caller's thread).
    pub fn subscribe_with_listener<S: AsRef<str>>(
        &mut self,
        topics: &[S],
        listener: impl ConsumerRebalanceListener + 'static,
    ) -> Result<()> {
        self.inner().subscribe_with_listener(topics, listener)
    }

    /// Consumes exactly `partitions`, without group management.
    pub fn assign(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.inner().assign(partitions)
    }

    /// Stops consuming: leaves the group (after committing, with auto-commit) or drops the
    /// manual assignment.
    pub fn unsubscribe(&mut self) {
        self.inner().unsubscribe();
    }

    /// The partitions assigned now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.inner().assignment()
    }

    /// The topics subscribed to.
    pub fn subscription(&self) -> Vec<String> {
        self.inner().subscription()
    }

    /// Waits up to `timeout` for records and returns them (at most `max.poll.records`).
    /// Also where group membership, commits and offset resets make progress, and where
    /// rebalance listeners and commit callbacks run.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        self.inner().poll(timeout)
    }

    /// Commits the positions of all assigned partitions and waits for the answer
    /// (retrying retriable errors within `default.api.timeout.ms`).
    pub fn commit_sync(&mut self) -> Result<()> {
        self.inner().commit_sync()
    }

    /// Commits `offsets` (the next offset to read in each partition) and waits.
    pub fn commit_offsets_sync(
        &mut self,
        offsets: &BTreeMap<TopicPartition, i64>,
        timeout: Option<Duration>,
    ) -> Result<()> {
        self.inner().commit_offsets_sync(offsets, timeout)
    }

    /// Commits the positions of all assigned partitions without waiting; `callback` (if any)
    /// runs inside a later `poll` or commit with the outcome.
    pub fn commit_async(&mut self, callback: Option<CommitCallback>) -> Result<()> {
        self.inner().commit_async(callback)
    }

    /// Moves the position of `tp` (assigned) to `offset`.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.inner().seek(tp, offset)
    }

    /// Moves the positions of `partitions` to their first offsets.
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.inner().seek_to_beginning(partitions)
    }

    /// Moves the positions of `partitions` to their log ends.
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.inner().seek_to_end(partitions)
    }

    /// The offset of the next record `poll` returns from `tp`, finding it (committed offset
    /// or reset) if needed, within `default.api.timeout.ms`.
    pub fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        self.inner().position(tp)
    }

    /// The committed offsets of `partitions` (`None` where nothing is committed).
    pub fn committed(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
        self.inner().committed(partitions)
    }

    /// The partitions of `topic`, from metadata (fetched within `default.api.timeout.ms`).
    pub fn partitions_for(&mut self, topic: &str) -> Result<Vec<PartitionInfo>> {
        self.inner().partitions_for(topic)
    }

    /// Stops fetching from `partitions` until resumed (they stay assigned).
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.inner().pause(partitions)
    }

    /// Resumes fetching from `partitions`.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.inner().resume(partitions)
    }

    /// The group id, generation and member id, when in a group.
    pub fn group_metadata(&self) -> Option<(String, i32, String)> {
        self.inner().group_metadata()
    }

    /// Commits (with auto-commit), leaves the group and closes the connections.
    pub fn close(&mut self) -> Result<()> {
        self.stop_heartbeat();
        self.inner().close()
    }

    fn stop_heartbeat(&mut self) {
        {
            let (stopped, wake) = &*self.stop;
            *stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
            wake.notify_all();
        }
        if let Some(h) = self.heartbeat.take() {
            if h.join().is_err() {
                tracing::error!("the heartbeat thread panicked");
            }
        }
    }
}

fn heartbeat_loop(inner: &Mutex<ConsumerInner>, stop: &(Mutex<bool>, Condvar), tick: Duration) {
    let (stopped, wake) = stop;
    loop {
        {
            let guard = stopped.lock().unwrap_or_else(|e| e.into_inner());
            let (guard, _) = wake
                .wait_timeout(guard, tick)
                .unwrap_or_else(|e| e.into_inner());
            if *guard {
                return;
            }
        }
        // While the caller is inside a consumer call it heartbeats itself; do not wait for it.
        if let Ok(mut inner) = inner.try_lock() {
            inner.heartbeat_turn();
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::debug!(error = %e, "closing the consumer");
        }
    }
}
