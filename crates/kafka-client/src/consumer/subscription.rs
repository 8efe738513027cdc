//! What the consumer is assigned and where it stands in each partition (Java's
//! `SubscriptionState`, without pattern subscriptions and offset validation).
//!
//! The life of an assigned partition:
//!
//! 1. *Initializing*: just assigned, no position. The consumer fetches the group's committed
//!    offsets for [`SubscriptionState::partitions_needing_position`] and
//!    [`seek`](SubscriptionState::seek_position)s those that have one; then
//!    [`reset_initializing_positions`](SubscriptionState::reset_initializing_positions) marks
//!    the rest for a reset by `auto.offset.reset`.
//! 2. *Awaiting reset*: the consumer sends ListOffsets for
//!    [`partitions_needing_reset`](SubscriptionState::partitions_needing_reset) and applies the
//!    answer with [`maybe_seek_after_reset`](SubscriptionState::maybe_seek_after_reset).
//! 3. *Fetching*: it has a position; unless paused it is in
//!    [`fetchable_partitions`](SubscriptionState::fetchable_partitions), and the fetcher
//!    advances it with [`update_position`](SubscriptionState::update_position). An
//!    OFFSET_OUT_OF_RANGE answer sends it back to 2 through
//!    [`request_offset_reset`](SubscriptionState::request_offset_reset).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::fetch_session::IsolationLevel;
use crate::{Error, Result, TopicPartition};

/// What to do when a partition has no committed offset or its position is out of range
/// (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OffsetResetStrategy {
    /// Start from the log start offset.
    Earliest,
    /// Start from the log end offset: only new records. Kafka's default.
    #[default]
    Latest,
    /// Fail instead of guessing (Java's `NoOffsetForPartitionException`).
    None,
}

impl OffsetResetStrategy {
    /// Parses an `auto.offset.reset` value; case-insensitive, as in Java.
    pub fn from_config(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "earliest" => Ok(OffsetResetStrategy::Earliest),
            "latest" => Ok(OffsetResetStrategy::Latest),
            "none" => Ok(OffsetResetStrategy::None),
            _ => Err(Error::Config(format!(
                "auto.offset.reset: invalid value {value:?} (expected earliest, latest or none)"
            ))),
        }
    }

    /// The ListOffsets timestamp that looks the offset up: -2 (earliest) or -1 (latest);
    /// `None` for the strategy that does not look anything up.
    pub fn list_offsets_timestamp(self) -> Option<i64> {
        match self {
            OffsetResetStrategy::Earliest => Some(-2),
            OffsetResetStrategy::Latest => Some(-1),
            OffsetResetStrategy::None => None,
        }
    }
}

/// How the consumer got its partitions; the kinds are mutually exclusive, as in Java.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SubscriptionType {
    /// Neither subscribed nor assigned.
    #[default]
    None,
    /// Subscribed to topics: the group assigns partitions.
    AutoTopics,
    /// Partitions assigned by the application (`assign`), no group membership.
    UserAssigned,
}

/// The offset of the next record to fetch, and the leader epoch of the record before it
/// (committed with the offset so that a later reader can detect log truncation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FetchPosition {
    /// The next offset to fetch.
    pub offset: i64,
    /// The leader epoch of the last consumed record, when known.
    pub leader_epoch: Option<i32>,
}

impl FetchPosition {
    /// A position without a known epoch (e.g. an application's `seek`).
    pub fn new(offset: i64) -> Self {
        FetchPosition {
            offset,
            leader_epoch: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FetchState {
    Initializing,
    AwaitReset(OffsetResetStrategy),
    Fetching(FetchPosition),
}

#[derive(Debug, Clone)]
struct TopicPartitionState {
    state: FetchState,
    paused: bool,
    pending_revocation: bool,
    high_watermark: Option<i64>,
    last_stable_offset: Option<i64>,
    log_start_offset: Option<i64>,
    /// No new ListOffsets for a reset before this: one is in flight or just failed.
    next_reset_allowed: Option<Instant>,
}

impl TopicPartitionState {
    fn new() -> Self {
        TopicPartitionState {
            state: FetchState::Initializing,
            paused: false,
            pending_revocation: false,
            high_watermark: None,
            last_stable_offset: None,
            log_start_offset: None,
            next_reset_allowed: None,
        }
    }

    fn position(&self) -> Option<FetchPosition> {
        match self.state {
            FetchState::Fetching(p) => Some(p),
            _ => None,
        }
    }

    fn seek(&mut self, position: FetchPosition) {
        self.state = FetchState::Fetching(position);
        self.next_reset_allowed = None;
    }
}

/// The consumer's subscription, assignment and per-partition positions (Java's
/// `SubscriptionState`). Pure state: the network code asks it what to do and reports back.
#[derive(Debug, Clone)]
pub struct SubscriptionState {
    subscription_type: SubscriptionType,
    subscription: BTreeSet<String>,
    /// Topics subscribed by any group member; the leader needs their metadata to assign.
    group_subscription: BTreeSet<String>,
    assignment: BTreeMap<TopicPartition, TopicPartitionState>,
    default_reset_strategy: OffsetResetStrategy,
    assignment_id: u64,
}

impl SubscriptionState {
    /// An empty state; `default_reset_strategy` is `auto.offset.reset`.
    pub fn new(default_reset_strategy: OffsetResetStrategy) -> Self {
        SubscriptionState {
            subscription_type: SubscriptionType::None,
            subscription: BTreeSet::new(),
            group_subscription: BTreeSet::new(),
            assignment: BTreeMap::new(),
            default_reset_strategy,
            assignment_id: 0,
        }
    }

    /// `auto.offset.reset`.
    pub fn default_reset_strategy(&self) -> OffsetResetStrategy {
        self.default_reset_strategy
    }

    /// Whether out-of-range and missing offsets can be reset automatically (Java's
    /// `hasDefaultOffsetResetPolicy`); if not, the consumer surfaces them as errors.
    pub fn has_default_reset_strategy(&self) -> bool {
        self.default_reset_strategy != OffsetResetStrategy::None
    }

    /// How partitions are obtained.
    pub fn subscription_type(&self) -> SubscriptionType {
        self.subscription_type
    }

    /// Whether the group assigns the partitions (so the consumer must join it).
    pub fn has_auto_assigned_partitions(&self) -> bool {
        self.subscription_type == SubscriptionType::AutoTopics
    }

    /// The subscribed topics (empty unless subscribed).
    pub fn subscription(&self) -> &BTreeSet<String> {
        &self.subscription
    }

    /// Counts changes of the assignment, so a response to a request sent under an older
    /// assignment can be recognised and dropped.
    pub fn assignment_id(&self) -> u64 {
        self.assignment_id
    }

    fn require_type(&mut self, wanted: SubscriptionType) -> Result<()> {
        if self.subscription_type == SubscriptionType::None {
            self.subscription_type = wanted;
        }
        if self.subscription_type != wanted {
            return Err(Error::Other(
                "subscription to topics and manual assignment of partitions are mutually \
                 exclusive"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Subscribes to `topics`, replacing the previous subscription; the assignment changes
    /// only when the group rebalances. Subscribing to no topics is
    /// [`unsubscribe`](Self::unsubscribe), as in Java.
    ///
    /// Returns whether the subscription changed (then the consumer must rejoin). Fails if
    /// partitions were assigned manually.
    pub fn subscribe<I, S>(&mut self, topics: I) -> Result<bool>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        if topics.is_empty() {
            let changed = self.subscription_type != SubscriptionType::None;
            self.unsubscribe();
            return Ok(changed);
        }
        if let Some(bad) = topics.iter().find(|t| t.trim().is_empty()) {
            return Err(Error::Other(format!("invalid topic name {bad:?}")));
        }
        self.require_type(SubscriptionType::AutoTopics)?;
        let changed = self.subscription != topics;
        self.subscription = topics;
        Ok(changed)
    }

    /// Adds the topics other members subscribe to (the leader learns them from JoinGroup), so
    /// that metadata covers them. Returns whether new topics were added.
    pub fn group_subscribe<I, S>(&mut self, topics: I) -> Result<bool>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if !self.has_auto_assigned_partitions() {
            return Err(Error::Other(
                "group subscription requires a topic subscription".into(),
            ));
        }
        let before = self.group_subscription.len();
        self.group_subscription
            .extend(topics.into_iter().map(Into::into));
        Ok(self.group_subscription.len() != before)
    }

    /// Forgets the other members' topics (after a rebalance, or when no longer the leader).
    pub fn reset_group_subscription(&mut self) {
        self.group_subscription.clear();
    }

    /// The topics metadata must cover: the subscription and the group's topics when
    /// subscribed, the assigned partitions' topics when assigned manually.
    pub fn metadata_topics(&self) -> BTreeSet<String> {
        match self.subscription_type {
            SubscriptionType::AutoTopics => self
                .subscription
                .union(&self.group_subscription)
                .cloned()
                .collect(),
            SubscriptionType::UserAssigned => self
                .assignment
                .keys()
                .map(|tp| tp.topic.to_string())
                .collect(),
            SubscriptionType::None => BTreeSet::new(),
        }
    }

    /// Whether the subscription covers `topic`.
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        self.subscription.contains(topic)
    }

    /// Replaces the assignment, keeping the state (position, pause) of partitions that stay.
    fn set_assignment(&mut self, partitions: BTreeSet<TopicPartition>) -> bool {
        let mut old = std::mem::take(&mut self.assignment);
        let changed =
            old.len() != partitions.len() || partitions.iter().any(|tp| !old.contains_key(tp));
        self.assignment = partitions
            .into_iter()
            .map(|tp| {
                let state = old.remove(&tp).unwrap_or_else(TopicPartitionState::new);
                (tp, state)
            })
            .collect();
        if changed {
            self.assignment_id = self.assignment_id.wrapping_add(1);
        }
        changed
    }

    /// Assigns partitions chosen by the application (`KafkaConsumer.assign`); assigning none
    /// is [`unsubscribe`](Self::unsubscribe), as in Java. Returns whether the assignment
    /// changed. Fails if subscribed to topics.
    pub fn assign_from_user<I>(&mut self, partitions: I) -> Result<bool>
    where
        I: IntoIterator<Item = TopicPartition>,
    {
        let partitions: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        if partitions.is_empty() {
            let changed = !self.assignment.is_empty();
            self.unsubscribe();
            return Ok(changed);
        }
        if let Some(bad) = partitions.iter().find(|tp| tp.topic.trim().is_empty()) {
            return Err(Error::Other(format!(
                "invalid topic name in partition {bad}"
            )));
        }
        self.require_type(SubscriptionType::UserAssigned)?;
        Ok(self.set_assignment(partitions))
    }

    /// Whether every partition is of a subscribed topic; an assignment from the group that
    /// is not (the subscription changed while it was computed) calls for a rejoin instead of
    /// [`assign_from_subscribed`](Self::assign_from_subscribed).
    pub fn assignment_matches_subscription(&self, partitions: &[TopicPartition]) -> bool {
        partitions
            .iter()
            .all(|tp| self.subscription.contains(&*tp.topic))
    }

    /// Installs the group's assignment (all of it: for the cooperative protocol, what was
    /// kept plus what was added). Partitions kept keep their positions; new ones start
    /// initializing.
    ///
    /// Fails if not subscribed to topics or if a partition's topic is not subscribed.
    pub fn assign_from_subscribed<I>(&mut self, partitions: I) -> Result<()>
    where
        I: IntoIterator<Item = TopicPartition>,
    {
        if !self.has_auto_assigned_partitions() {
            return Err(Error::Other(
                "cannot install a group assignment without a topic subscription".into(),
            ));
        }
        let partitions: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        if let Some(tp) = partitions
            .iter()
            .find(|tp| !self.subscription.contains(&*tp.topic))
        {
            return Err(Error::Other(format!(
                "assigned partition {tp} is of a topic the consumer is not subscribed to"
            )));
        }
        self.set_assignment(partitions);
        Ok(())
    }

    /// Drops the subscription, the assignment and every position.
    pub fn unsubscribe(&mut self) {
        self.subscription.clear();
        self.group_subscription.clear();
        if !self.assignment.is_empty() {
            self.assignment.clear();
            self.assignment_id = self.assignment_id.wrapping_add(1);
        }
        self.subscription_type = SubscriptionType::None;
    }

    /// The assigned partitions, sorted.
    pub fn assigned_partitions(&self) -> Vec<TopicPartition> {
        self.assignment.keys().cloned().collect()
    }

    /// How many partitions are assigned.
    pub fn num_assigned_partitions(&self) -> usize {
        self.assignment.len()
    }

    /// Whether `tp` is assigned.
    pub fn is_assigned(&self, tp: &TopicPartition) -> bool {
        self.assignment.contains_key(tp)
    }

    fn state_mut(&mut self, tp: &TopicPartition) -> Result<&mut TopicPartitionState> {
        self.assignment
            .get_mut(tp)
            .ok_or_else(|| Error::Other(format!("no current assignment for partition {tp}")))
    }

    /// Sets the next offset to fetch (`KafkaConsumer.seek`); cancels a pending reset.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.seek_position(tp, FetchPosition::new(offset))
    }

    /// Sets the position with its epoch, e.g. from a committed offset.
    pub fn seek_position(&mut self, tp: &TopicPartition, position: FetchPosition) -> Result<()> {
        if position.offset < 0 {
            return Err(Error::Other(format!(
                "invalid offset {} for {tp}: offsets are not negative",
                position.offset
            )));
        }
        self.state_mut(tp)?.seek(position);
        Ok(())
    }

    /// The position of an assigned partition that has one.
    pub fn position(&self, tp: &TopicPartition) -> Option<FetchPosition> {
        self.assignment
            .get(tp)
            .and_then(TopicPartitionState::position)
    }

    /// Advances the position after records were returned to the application. Fails if the
    /// partition has no position (it was reset or unassigned while the fetch was in flight:
    /// the fetched data is stale and must be dropped).
    pub fn update_position(&mut self, tp: &TopicPartition, position: FetchPosition) -> Result<()> {
        let state = self.state_mut(tp)?;
        match state.state {
            FetchState::Fetching(_) => {
                state.state = FetchState::Fetching(position);
                Ok(())
            }
            _ => Err(Error::Other(format!(
                "cannot set the position of {tp}: it has no valid position"
            ))),
        }
    }

    /// Marks `tp` for a reset by `auto.offset.reset` (after OFFSET_OUT_OF_RANGE or
    /// `seekToBeginning`-like requests). Fails if it is not assigned or the strategy is
    /// `none`, which the consumer reports to the application instead.
    pub fn request_offset_reset(&mut self, tp: &TopicPartition) -> Result<()> {
        self.request_offset_reset_with(tp, self.default_reset_strategy)
    }

    /// Marks `tp` for a reset by `strategy` (`seekToBeginning` is `Earliest`, `seekToEnd`
    /// is `Latest`).
    pub fn request_offset_reset_with(
        &mut self,
        tp: &TopicPartition,
        strategy: OffsetResetStrategy,
    ) -> Result<()> {
        if strategy == OffsetResetStrategy::None {
            return Err(Error::Other(format!(
                "no offset reset policy (auto.offset.reset=none) for partition {tp}"
            )));
        }
        let state = self.state_mut(tp)?;
        state.state = FetchState::AwaitReset(strategy);
        state.next_reset_allowed = None;
        Ok(())
    }

    /// Marks every initializing partition (no committed offset was found) for a reset by
    /// `auto.offset.reset`. With `none` they stay initializing and the error names them
    /// (Java's `NoOffsetForPartitionException`).
    pub fn reset_initializing_positions(&mut self) -> Result<()> {
        let strategy = self.default_reset_strategy;
        let mut without_offset = Vec::new();
        for (tp, state) in &mut self.assignment {
            if state.state == FetchState::Initializing {
                if strategy == OffsetResetStrategy::None {
                    without_offset.push(tp.to_string());
                } else {
                    state.state = FetchState::AwaitReset(strategy);
                    state.next_reset_allowed = None;
                }
            }
        }
        if without_offset.is_empty() {
            Ok(())
        } else {
            Err(Error::Other(format!(
                "undefined offset with no reset policy (auto.offset.reset=none) for partitions: {}",
                without_offset.join(", ")
            )))
        }
    }

    /// Whether `tp` waits for a reset.
    pub fn is_offset_reset_needed(&self, tp: &TopicPartition) -> bool {
        self.reset_strategy(tp).is_some()
    }

    /// The reset `tp` waits for.
    pub fn reset_strategy(&self, tp: &TopicPartition) -> Option<OffsetResetStrategy> {
        match self.assignment.get(tp)?.state {
            FetchState::AwaitReset(strategy) => Some(strategy),
            _ => None,
        }
    }

    /// The partitions to send ListOffsets for now, with the strategy of each: those awaiting
    /// a reset whose last attempt is not still in flight or backing off.
    pub fn partitions_needing_reset(
        &self,
        now: Instant,
    ) -> Vec<(TopicPartition, OffsetResetStrategy)> {
        self.assignment
            .iter()
            .filter_map(|(tp, state)| match state.state {
                FetchState::AwaitReset(strategy)
                    if state.next_reset_allowed.is_none_or(|at| now >= at) =>
                {
                    Some((tp.clone(), strategy))
                }
                _ => None,
            })
            .collect()
    }

    /// Holds back new reset attempts for `partitions` until `at`: call it with
    /// `now + request.timeout.ms` when sending ListOffsets, and with `now + retry.backoff.ms`
    /// when it failed (Java's `setNextAllowedRetry` / `requestFailed`).
    pub fn set_next_allowed_retry(&mut self, partitions: &[TopicPartition], at: Instant) {
        for tp in partitions {
            if let Some(state) = self.assignment.get_mut(tp) {
                if matches!(state.state, FetchState::AwaitReset(_)) {
                    state.next_reset_allowed = Some(at);
                }
            }
        }
    }

    /// Applies a ListOffsets answer: sets the position only if `tp` is still assigned and
    /// still waits for the same reset (a seek or another reset meanwhile wins). Returns
    /// whether it was applied (Java's `maybeSeekUnvalidated`).
    pub fn maybe_seek_after_reset(
        &mut self,
        tp: &TopicPartition,
        position: FetchPosition,
        requested: OffsetResetStrategy,
    ) -> bool {
        match self.assignment.get_mut(tp) {
            Some(state) if state.state == FetchState::AwaitReset(requested) => {
                state.seek(position);
                true
            }
            _ => false,
        }
    }

    /// The partitions with no position and no reset pending: their committed offsets must be
    /// fetched (Java's `initializingPartitions`).
    pub fn partitions_needing_position(&self) -> Vec<TopicPartition> {
        self.assignment
            .iter()
            .filter(|(_, s)| s.state == FetchState::Initializing)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Whether every assigned partition has a position, so fetching can cover them all.
    pub fn has_all_fetch_positions(&self) -> bool {
        self.assignment.values().all(|s| s.position().is_some())
    }

    /// The partitions to fetch: assigned, with a position, not paused, not being revoked.
    pub fn fetchable_partitions(&self) -> Vec<TopicPartition> {
        self.assignment
            .iter()
            .filter(|(_, s)| s.position().is_some() && !s.paused && !s.pending_revocation)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Whether `tp` is fetchable (see [`fetchable_partitions`](Self::fetchable_partitions)).
    pub fn is_fetchable(&self, tp: &TopicPartition) -> bool {
        self.assignment
            .get(tp)
            .is_some_and(|s| s.position().is_some() && !s.paused && !s.pending_revocation)
    }

    /// Stops fetching `tp` until [`resume`](Self::resume); its position is kept.
    pub fn pause(&mut self, tp: &TopicPartition) -> Result<()> {
        self.state_mut(tp)?.paused = true;
        Ok(())
    }

    /// Fetches `tp` again after [`pause`](Self::pause).
    pub fn resume(&mut self, tp: &TopicPartition) -> Result<()> {
        self.state_mut(tp)?.paused = false;
        Ok(())
    }

    /// Whether `tp` is paused.
    pub fn is_paused(&self, tp: &TopicPartition) -> bool {
        self.assignment.get(tp).is_some_and(|s| s.paused)
    }

    /// The paused partitions.
    pub fn paused_partitions(&self) -> Vec<TopicPartition> {
        self.assignment
            .iter()
            .filter(|(_, s)| s.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Stops fetching partitions that a cooperative rebalance is about to revoke, while the
    /// revocation callback commits their offsets.
    pub fn mark_pending_revocation(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            if let Some(state) = self.assignment.get_mut(tp) {
                state.pending_revocation = true;
            }
        }
    }

    /// Records the high watermark from a fetch response.
    pub fn update_high_watermark(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(state) = self.assignment.get_mut(tp) {
            state.high_watermark = Some(offset);
        }
    }

    /// Records the last stable offset from a fetch response.
    pub fn update_last_stable_offset(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(state) = self.assignment.get_mut(tp) {
            state.last_stable_offset = Some(offset);
        }
    }

    /// Records the log start offset from a fetch response.
    pub fn update_log_start_offset(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(state) = self.assignment.get_mut(tp) {
            state.log_start_offset = Some(offset);
        }
    }

    /// The last high watermark seen for `tp`.
    pub fn high_watermark(&self, tp: &TopicPartition) -> Option<i64> {
        self.assignment.get(tp)?.high_watermark
    }

    /// The last stable offset seen for `tp`.
    pub fn last_stable_offset(&self, tp: &TopicPartition) -> Option<i64> {
        self.assignment.get(tp)?.last_stable_offset
    }

    /// The log start offset seen for `tp`.
    pub fn log_start_offset(&self, tp: &TopicPartition) -> Option<i64> {
        self.assignment.get(tp)?.log_start_offset
    }

    /// How far the position is behind the end the consumer may read to: the high watermark,
    /// or for `read_committed` the last stable offset (Java's `partitionLag`).
    pub fn lag(&self, tp: &TopicPartition, isolation_level: IsolationLevel) -> Option<i64> {
        let state = self.assignment.get(tp)?;
        let position = state.position()?;
        let end = match isolation_level {
            IsolationLevel::ReadUncommitted => state.high_watermark?,
            IsolationLevel::ReadCommitted => state.last_stable_offset?,
        };
        Some(end.saturating_sub(position.offset))
    }

    /// The positions to commit: every assigned partition that has one (Java's
    /// `allConsumed`).
    pub fn all_consumed(&self) -> BTreeMap<TopicPartition, FetchPosition> {
        self.assignment
            .iter()
            .filter_map(|(tp, s)| s.position().map(|p| (tp.clone(), p)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    fn subscribed(topics: &[&str]) -> SubscriptionState {
        let mut s = SubscriptionState::new(OffsetResetStrategy::Earliest);
        s.subscribe(topics.iter().copied()).unwrap();
        s
    }

    #[test]
    fn reset_strategy_from_config() {
        assert_eq!(
            OffsetResetStrategy::from_config("earliest").unwrap(),
            OffsetResetStrategy::Earliest
        );
        assert_eq!(
            OffsetResetStrategy::from_config("LATEST").unwrap(),
            OffsetResetStrategy::Latest
        );
        assert_eq!(
            OffsetResetStrategy::from_config("none").unwrap(),
            OffsetResetStrategy::None
        );
        assert!(matches!(
            OffsetResetStrategy::from_config("smallest"),
            Err(Error::Config(_))
        ));
        assert_eq!(
            OffsetResetStrategy::Earliest.list_offsets_timestamp(),
            Some(-2)
        );
        assert_eq!(
            OffsetResetStrategy::Latest.list_offsets_timestamp(),
            Some(-1)
        );
        assert_eq!(OffsetResetStrategy::None.list_offsets_timestamp(), None);
        assert_eq!(OffsetResetStrategy::default(), OffsetResetStrategy::Latest);
    }

    #[test]
    fn subscribe_and_assign_are_mutually_exclusive() {
        let mut s = subscribed(&["a"]);
        assert_eq!(s.subscription_type(), SubscriptionType::AutoTopics);
        assert!(s.assign_from_user([tp("a", 0)]).is_err());

        let mut u = SubscriptionState::new(OffsetResetStrategy::Latest);
        assert!(u.assign_from_user([tp("a", 0)]).unwrap());
        assert_eq!(u.subscription_type(), SubscriptionType::UserAssigned);
        assert!(u.subscribe(["a"]).is_err());

        s.unsubscribe();
        assert_eq!(s.subscription_type(), SubscriptionType::None);
        assert!(s.assign_from_user([tp("a", 0)]).is_ok());
    }

    #[test]
    fn subscribe_reports_changes_and_empty_means_unsubscribe() {
        let mut s = SubscriptionState::new(OffsetResetStrategy::Latest);
        assert!(s.subscribe(["b", "a"]).unwrap());
        assert!(!s.subscribe(["a", "b"]).unwrap());
        assert!(s.subscribe(["a"]).unwrap());
        assert!(s.is_subscribed_to("a"));
        assert!(!s.is_subscribed_to("b"));
        assert!(s.subscribe(Vec::<String>::new()).unwrap());
        assert_eq!(s.subscription_type(), SubscriptionType::None);
        assert!(s.subscribe([""]).is_err());
    }

    #[test]
    fn group_assignment_must_match_subscription() {
        let mut s = subscribed(&["a"]);
        assert!(s.assignment_matches_subscription(&[tp("a", 0)]));
        assert!(!s.assignment_matches_subscription(&[tp("b", 0)]));
        assert!(s.assign_from_subscribed([tp("b", 0)]).is_err());
        s.assign_from_subscribed([tp("a", 0), tp("a", 1)]).unwrap();
        assert_eq!(s.assigned_partitions(), vec![tp("a", 0), tp("a", 1)]);

        let mut u = SubscriptionState::new(OffsetResetStrategy::Latest);
        assert!(u.assign_from_subscribed([tp("a", 0)]).is_err());
    }

    #[test]
    fn reassignment_keeps_positions_of_kept_partitions() {
        let mut s = subscribed(&["a"]);
        s.assign_from_subscribed([tp("a", 0), tp("a", 1)]).unwrap();
        s.seek(&tp("a", 0), 42).unwrap();
        s.seek(&tp("a", 1), 7).unwrap();
        s.pause(&tp("a", 0)).unwrap();
        let id = s.assignment_id();

        s.assign_from_subscribed([tp("a", 0), tp("a", 2)]).unwrap();
        assert!(s.assignment_id() > id);
        assert_eq!(s.position(&tp("a", 0)), Some(FetchPosition::new(42)));
        assert!(s.is_paused(&tp("a", 0)));
        assert_eq!(s.position(&tp("a", 1)), None);
        assert!(!s.is_assigned(&tp("a", 1)));
        assert_eq!(s.partitions_needing_position(), vec![tp("a", 2)]);

        // The same assignment again is not a change.
        let id = s.assignment_id();
        s.assign_from_subscribed([tp("a", 2), tp("a", 0)]).unwrap();
        assert_eq!(s.assignment_id(), id);
    }

    #[test]
    fn user_assignment_keeps_positions_and_empty_unsubscribes() {
        let mut s = SubscriptionState::new(OffsetResetStrategy::Latest);
        s.assign_from_user([tp("x", 0)]).unwrap();
        s.seek(&tp("x", 0), 5).unwrap();
        assert!(s.assign_from_user([tp("x", 0), tp("y", 0)]).unwrap());
        assert_eq!(s.position(&tp("x", 0)), Some(FetchPosition::new(5)));
        assert_eq!(
            s.metadata_topics(),
            ["x", "y"].into_iter().map(String::from).collect()
        );
        assert!(!s.assign_from_user([tp("y", 0), tp("x", 0)]).unwrap());
        assert!(s.assign_from_user([]).unwrap());
        assert_eq!(s.subscription_type(), SubscriptionType::None);
        assert_eq!(s.num_assigned_partitions(), 0);
    }

    #[test]
    fn initializing_then_committed_offset_then_fetchable() {
        let mut s = subscribed(&["a"]);
        s.assign_from_subscribed([tp("a", 0), tp("a", 1)]).unwrap();
        assert_eq!(
            s.partitions_needing_position(),
            vec![tp("a", 0), tp("a", 1)]
        );
        assert!(s.fetchable_partitions().is_empty());
        assert!(!s.has_all_fetch_positions());

        // a-0 has a committed offset.
        s.seek_position(
            &tp("a", 0),
            FetchPosition {
                offset: 10,
                leader_epoch: Some(3),
            },
        )
        .unwrap();
        // a-1 has none: reset by auto.offset.reset.
        s.reset_initializing_positions().unwrap();
        assert!(s.partitions_needing_position().is_empty());
        assert_eq!(
            s.reset_strategy(&tp("a", 1)),
            Some(OffsetResetStrategy::Earliest)
        );
        assert_eq!(s.fetchable_partitions(), vec![tp("a", 0)]);

        let now = Instant::now();
        assert_eq!(
            s.partitions_needing_reset(now),
            vec![(tp("a", 1), OffsetResetStrategy::Earliest)]
        );
        assert!(s.maybe_seek_after_reset(
            &tp("a", 1),
            FetchPosition::new(0),
            OffsetResetStrategy::Earliest
        ));
        assert!(s.has_all_fetch_positions());
        assert_eq!(s.fetchable_partitions(), vec![tp("a", 0), tp("a", 1)]);
        assert_eq!(
            s.all_consumed(),
            BTreeMap::from([
                (
                    tp("a", 0),
                    FetchPosition {
                        offset: 10,
                        leader_epoch: Some(3)
                    }
                ),
                (tp("a", 1), FetchPosition::new(0)),
            ])
        );
    }

    #[test]
    fn reset_policy_none_fails_with_the_partitions() {
        let mut s = SubscriptionState::new(OffsetResetStrategy::None);
        assert!(!s.has_default_reset_strategy());
        s.assign_from_user([tp("a", 0), tp("a", 1)]).unwrap();
        s.seek(&tp("a", 0), 1).unwrap();
        let err = s.reset_initializing_positions().unwrap_err();
        assert!(err.to_string().contains("a-1"), "{err}");
        assert_eq!(s.partitions_needing_position(), vec![tp("a", 1)]);
        assert!(s.request_offset_reset(&tp("a", 0)).is_err());
        assert_eq!(s.position(&tp("a", 0)), Some(FetchPosition::new(1)));
        // An explicit strategy (seekToEnd) still works.
        s.request_offset_reset_with(&tp("a", 0), OffsetResetStrategy::Latest)
            .unwrap();
        assert_eq!(
            s.reset_strategy(&tp("a", 0)),
            Some(OffsetResetStrategy::Latest)
        );
    }

    #[test]
    fn out_of_range_reset_stops_fetching_until_answered() {
        let mut s = SubscriptionState::new(OffsetResetStrategy::Latest);
        s.assign_from_user([tp("a", 0)]).unwrap();
        s.seek(&tp("a", 0), 100).unwrap();
        s.request_offset_reset(&tp("a", 0)).unwrap();
        assert!(s.is_offset_reset_needed(&tp("a", 0)));
        assert_eq!(s.position(&tp("a", 0)), None);
        assert!(s.fetchable_partitions().is_empty());
        assert!(s.all_consumed().is_empty());
        // The fetcher must not move a partition that is being reset.
        assert!(s
            .update_position(&tp("a", 0), FetchPosition::new(101))
            .is_err());
    }

    #[test]
    fn reset_answers_are_dropped_when_overtaken() {
        let mut s = SubscriptionState::new(OffsetResetStrategy::Latest);
        s.assign_from_user([tp("a", 0)]).unwrap();
        s.request_offset_reset(&tp("a", 0)).unwrap();
        // A different reset was requested meanwhile.
        s.request_offset_reset_with(&tp("a", 0), OffsetResetStrategy::Earliest)
            .unwrap();
        assert!(!s.maybe_seek_after_reset(
            &tp("a", 0),
            FetchPosition::new(50),
            OffsetResetStrategy::Latest
        ));
        // The application seeked meanwhile.
        s.seek(&tp("a", 0), 9).unwrap();
        assert!(!s.maybe_seek_after_reset(
            &tp("a", 0),
            FetchPosition::new(0),
            OffsetResetStrategy::Earliest
        ));
        assert_eq!(s.position(&tp("a", 0)), Some(FetchPosition::new(9)));
        // Unassigned meanwhile.
        assert!(!s.maybe_seek_after_reset(
            &tp("b", 0),
            FetchPosition::new(0),
            OffsetResetStrategy::Latest
        ));
    }

    #[test]
    fn reset_retries_back_off() {
        let mut s = SubscriptionState::new(OffsetResetStrategy::Latest);
        s.assign_from_user([tp("a", 0), tp("a", 1)]).unwrap();
        s.reset_initializing_positions().unwrap();
        let now = Instant::now();
        s.set_next_allowed_retry(&[tp("a", 0)], now + Duration::from_millis(100));
        assert_eq!(
            s.partitions_needing_reset(now),
            vec![(tp("a", 1), OffsetResetStrategy::Latest)]
        );
        assert_eq!(
            s.partitions_needing_reset(now + Duration::from_millis(100))
                .len(),
            2
        );
        // A new reset request is not held back by the old attempt's backoff.
        s.request_offset_reset(&tp("a", 0)).unwrap();
        assert_eq!(s.partitions_needing_reset(now).len(), 2);
    }

    #[test]
    fn pause_resume_and_revocation() {
        let mut s = subscribed(&["a"]);
        s.assign_from_subscribed([tp("a", 0), tp("a", 1), tp("a", 2)])
            .unwrap();
        for p in 0..3 {
            s.seek(&tp("a", p), 0).unwrap();
        }
        s.pause(&tp("a", 1)).unwrap();
        assert!(s.is_paused(&tp("a", 1)));
        assert_eq!(s.paused_partitions(), vec![tp("a", 1)]);
        s.mark_pending_revocation(&[tp("a", 2)]);
        assert_eq!(s.fetchable_partitions(), vec![tp("a", 0)]);
        assert!(!s.is_fetchable(&tp("a", 2)));
        // Paused and revoking partitions still commit their positions.
        assert_eq!(s.all_consumed().len(), 3);
        s.resume(&tp("a", 1)).unwrap();
        assert_eq!(s.fetchable_partitions(), vec![tp("a", 0), tp("a", 1)]);
        assert!(s.pause(&tp("b", 0)).is_err());
        assert!(s.resume(&tp("b", 0)).is_err());
    }

    #[test]
    fn seek_and_position_errors() {
        let mut s = SubscriptionState::new(OffsetResetStrategy::Latest);
        assert!(s.seek(&tp("a", 0), 1).is_err());
        s.assign_from_user([tp("a", 0)]).unwrap();
        assert!(s.seek(&tp("a", 0), -1).is_err());
        s.seek(&tp("a", 0), 3).unwrap();
        s.update_position(
            &tp("a", 0),
            FetchPosition {
                offset: 8,
                leader_epoch: Some(1),
            },
        )
        .unwrap();
        assert_eq!(
            s.position(&tp("a", 0)),
            Some(FetchPosition {
                offset: 8,
                leader_epoch: Some(1)
            })
        );
        assert!(s
            .update_position(&tp("b", 0), FetchPosition::new(1))
            .is_err());
    }

    #[test]
    fn offsets_and_lag() {
        let mut s = SubscriptionState::new(OffsetResetStrategy::Latest);
        s.assign_from_user([tp("a", 0)]).unwrap();
        s.update_high_watermark(&tp("a", 0), 100);
        s.update_last_stable_offset(&tp("a", 0), 90);
        s.update_log_start_offset(&tp("a", 0), 5);
        s.update_high_watermark(&tp("b", 0), 1); // not assigned: ignored
        assert_eq!(s.high_watermark(&tp("a", 0)), Some(100));
        assert_eq!(s.last_stable_offset(&tp("a", 0)), Some(90));
        assert_eq!(s.log_start_offset(&tp("a", 0)), Some(5));
        assert_eq!(s.high_watermark(&tp("b", 0)), None);
        assert_eq!(s.lag(&tp("a", 0), IsolationLevel::ReadUncommitted), None);
        s.seek(&tp("a", 0), 40).unwrap();
        assert_eq!(
            s.lag(&tp("a", 0), IsolationLevel::ReadUncommitted),
            Some(60)
        );
        assert_eq!(s.lag(&tp("a", 0), IsolationLevel::ReadCommitted), Some(50));
    }

    #[test]
    fn group_subscription_extends_metadata_topics() {
        let mut s = subscribed(&["a"]);
        assert!(s.group_subscribe(["a", "b"]).unwrap());
        assert!(!s.group_subscribe(["b"]).unwrap());
        assert_eq!(
            s.metadata_topics(),
            ["a", "b"].into_iter().map(String::from).collect()
        );
        s.reset_group_subscription();
        assert_eq!(
            s.metadata_topics(),
            ["a"].into_iter().map(String::from).collect()
        );
        let mut u = SubscriptionState::new(OffsetResetStrategy::Latest);
        assert!(u.group_subscribe(["a"]).is_err());
    }

    #[test]
    fn unsubscribe_clears_everything() {
        let mut s = subscribed(&["a"]);
        s.assign_from_subscribed([tp("a", 0)]).unwrap();
        s.group_subscribe(["z"]).unwrap();
        let id = s.assignment_id();
        s.unsubscribe();
        assert!(s.assignment_id() > id);
        assert!(s.assigned_partitions().is_empty());
        assert!(s.subscription().is_empty());
        assert!(s.metadata_topics().is_empty());
    }
}
