//! [`RaftNode`]: one member of the metadata quorum as pure logic around raft's `RawNode`.
//!
//! # Contract
//!
//! The node owns no thread, socket or clock. Its owner:
//!
//! - calls [`RaftNode::tick`] every [`TICK_INTERVAL`] (elections and heartbeats count ticks);
//! - feeds every raft message a peer sent with [`RaftNode::step`];
//! - proposes records with [`RaftNode::propose`] (the leader only) and remembers the returned
//!   [`Proposed`] index and term;
//! - after any of these, calls [`RaftNode::handle_ready`], which persists (and fsyncs) what
//!   raft's `Ready` asks for *before* returning the messages that depend on it, and returns an
//!   [`Output`]: messages to send, a snapshot to install, committed entries to apply (in that
//!   order), and the leadership if it changed. A proposal `(index, term)` succeeded if an
//!   entry with that index and term is committed; it was lost if [`Output::applied`] reached
//!   its index with an entry of another term;
//! - from time to time gives the state machine's snapshot at an applied index with
//!   [`RaftNode::snapshot`]: the log before it is dropped, and followers too far behind are
//!   sent the snapshot.
//!
//! The state machine is rebuilt from the log at every start: the first output after
//! [`RaftNode::open`] carries the stored snapshot (if any) to install, then every committed
//! entry after it.
//!
//! Errors while persisting, and panics inside the raft library (which it raises when an
//! invariant breaks, e.g. on a message no honest peer sends), poison the node: every later
//! call fails with [`Error::Poisoned`] and the owner should restart it from disk.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, EntryType, Message, MessageType};
use raft::{RawNode, SnapshotStatus, StateRole};

use crate::error::{Error, Result};
use crate::logging::raft_logger;
use crate::storage::DiskStorage;

/// How often the owner must call [`RaftNode::tick`]. With the default ticks an election
/// starts after 1 to 2 s without a leader, and leaders send heartbeats every 200 ms.
pub const TICK_INTERVAL: Duration = Duration::from_millis(100);

/// A node's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RaftConfig {
    /// This node's id (`node.id`); not 0.
    pub node_id: u64,
    /// The voters' ids (from `controller.quorum.voters`); must contain `node_id`. Used to
    /// bootstrap the first start; later starts use the configuration stored on disk.
    pub voters: Vec<u64>,
    /// The directory holding the log, hard state and snapshot.
    pub dir: PathBuf,
    /// Ticks without a leader before a follower campaigns (randomised up to twice this).
    pub election_tick: usize,
    /// Ticks between a leader's heartbeats.
    pub heartbeat_tick: usize,
    /// The most entry bytes in one append message.
    pub max_size_per_msg: u64,
    /// The most append messages in flight to one follower.
    pub max_inflight_msgs: usize,
    /// Ask for votes in a pre-election first, so a node cut off and rejoining does not
    /// disturb a healthy leader with a higher term.
    pub pre_vote: bool,
    /// A leader that has not heard from a quorum for an election timeout steps down.
    pub check_quorum: bool,
}

impl RaftConfig {
    /// Kafka-like defaults: an election timeout of 10 ticks (1 s), heartbeats every 2 ticks,
    /// 1 MiB append messages, 256 in flight, pre-vote and check-quorum on.
    pub fn new(node_id: u64, voters: Vec<u64>, dir: impl Into<PathBuf>) -> Self {
        RaftConfig {
            node_id,
            voters,
            dir: dir.into(),
            election_tick: 10,
            heartbeat_tick: 2,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 256,
            pre_vote: true,
            check_quorum: true,
        }
    }
}

/// A node's role in the quorum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Checking, without raising its term, whether an election could be won.
    PreCandidate,
    /// Campaigning.
    Candidate,
    /// The leader: the active controller.
    Leader,
}

impl From<StateRole> for Role {
    fn from(r: StateRole) -> Self {
        match r {
            StateRole::Follower => Role::Follower,
            StateRole::PreCandidate => Role::PreCandidate,
            StateRole::Candidate => Role::Candidate,
            StateRole::Leader => Role::Leader,
        }
    }
}

/// Who leads, as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderState {
    /// The leader's id, if one is known.
    pub leader: Option<u64>,
    /// The current term (Kafka's leader epoch).
    pub term: u64,
    /// This node's own role.
    pub role: Role,
}

/// Where an accepted proposal will land if it commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Proposed {
    /// The log index.
    pub index: u64,
    /// The leader's term when proposed.
    pub term: u64,
}

/// A committed entry to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The log index.
    pub index: u64,
    /// The term it was written in.
    pub term: u64,
    /// What was proposed.
    pub data: Bytes,
}

/// A snapshot of the state machine to install in place of everything applied so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotData {
    /// The last index the snapshot covers.
    pub index: u64,
    /// That entry's term.
    pub term: u64,
    /// The state machine's bytes, as given to [`RaftNode::snapshot`] on some node.
    pub data: Bytes,
}

/// One raft message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// The receiving node's id.
    pub to: u64,
    /// It carries a snapshot: report the send's outcome with [`RaftNode::report_snapshot`].
    pub snapshot: bool,
    /// The encoded message (the body of a raft frame).
    pub data: Bytes,
}

/// What one [`RaftNode::handle_ready`] produced. Apply in field order: send `messages`,
/// install `restore` if set, then apply `committed`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Output {
    /// Messages to send; they may be sent in any order and dropped (raft retries).
    pub messages: Vec<Outbound>,
    /// A snapshot that replaces the state machine's state.
    pub restore: Option<SnapshotData>,
    /// Entries committed since the last output, in log order. Leaders' empty no-op entries
    /// are left out.
    pub committed: Vec<Committed>,
    /// Every entry up to this index has now been handed out (committed or left out).
    pub applied: u64,
    /// The leadership, when it changed since the last output.
    pub leader_change: Option<LeaderState>,
}

/// One voter's replication state, as this node knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoterStatus {
    /// The voter's id.
    pub id: u64,
    /// The highest index known to be in its log: the leader tracks this for every voter; a
    /// follower knows only its own.
    pub match_index: Option<u64>,
    /// Ticks since this node last received a message from it (0 for itself); `None` if
    /// never since start. Multiply by [`TICK_INTERVAL`] for Kafka's last-fetch time.
    pub ticks_since_contact: Option<u64>,
}

/// What DescribeQuorum reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumStatus {
    /// This node's id.
    pub node_id: u64,
    /// The leader, if known.
    pub leader: Option<u64>,
    /// The current term (Kafka's leader epoch).
    pub term: u64,
    /// The commit index (Kafka's high watermark).
    pub commit_index: u64,
    /// The voters in id order.
    pub voters: Vec<VoterStatus>,
}

/// A decoded raft message, as it arrived from a peer.
#[derive(Clone, Debug)]
pub struct RaftMessage(pub(crate) Message);

impl RaftMessage {
    /// Decodes a message's bytes (the body of a raft frame).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(RaftMessage(Message::parse_from_bytes(bytes)?))
    }

    /// The sender's id.
    pub fn from(&self) -> u64 {
        self.0.from
    }

    /// The receiver's id.
    pub fn to(&self) -> u64 {
        self.0.to
    }

    /// The message's term.
    pub fn term(&self) -> u64 {
        self.0.term
    }
}

/// A metadata quorum member: see the module documentation for the contract.
pub struct RaftNode {
    raw: RawNode<DiskStorage>,
    id: u64,
    voters: Vec<u64>,
    ticks: u64,
    last_contact: HashMap<u64, u64>,
    reported: Option<LeaderState>,
    restore: Option<SnapshotData>,
    poisoned: Option<String>,
}

impl std::fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("id", &self.id)
            .field("voters", &self.voters)
            .field("leader", &self.leader())
            .field("term", &self.raw.raft.term)
            .field("role", &self.role())
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic in the raft library".to_string()
    }
}

/// Message kinds a node generates for itself, never accepted from the network. Proposals
/// are refused too: followers here never forward them (see [`RaftNode::propose`]).
fn local_only(t: MessageType) -> bool {
    matches!(
        t,
        MessageType::MsgHup
            | MessageType::MsgBeat
            | MessageType::MsgUnreachable
            | MessageType::MsgSnapStatus
            | MessageType::MsgCheckQuorum
            | MessageType::MsgPropose
    )
}

impl RaftNode {
    /// Opens the node's storage in `config.dir`. The first start bootstraps the voter set
    /// from the configuration; later starts recover term, vote, log and snapshot from disk.
    pub fn open(config: RaftConfig) -> Result<Self> {
        let mut voters = config.voters.clone();
        voters.sort_unstable();
        voters.dedup();
        if config.node_id == 0 {
            return Err(Error::InvalidConfig("node id 0 is reserved".into()));
        }
        if voters.contains(&0) || voters.len() != config.voters.len() {
            return Err(Error::InvalidConfig(
                "voter ids must be distinct and not 0".into(),
            ));
        }
        if !voters.contains(&config.node_id) {
            return Err(Error::InvalidConfig(format!(
                "node {} is not among the voters {voters:?}",
                config.node_id
            )));
        }
        let mut store = DiskStorage::open(&config.dir)?;
        if store.is_initialized() {
            let mut stored = store.conf_state().voters.clone();
            stored.sort_unstable();
            if stored != voters {
                tracing::warn!(
                    configured = ?voters, stored = ?stored,
                    "controller.quorum.voters differs from the voter set stored on disk; using the stored one"
                );
            }
            voters = stored;
        } else {
            store.set_conf_state(ConfState {
                voters: voters.clone(),
                ..ConfState::default()
            })?;
            store.sync()?;
        }
        let snap = store.latest_snapshot().get_metadata();
        let restore = (snap.index > 0).then(|| SnapshotData {
            index: snap.index,
            term: snap.term,
            data: store.latest_snapshot().data.clone(),
        });
        let rc = raft::Config {
            id: config.node_id,
            election_tick: config.election_tick,
            heartbeat_tick: config.heartbeat_tick,
            // The state machine lives in memory: it restores the snapshot, then re-applies.
            applied: snap.index,
            max_size_per_msg: config.max_size_per_msg,
            max_inflight_msgs: config.max_inflight_msgs,
            check_quorum: config.check_quorum,
            pre_vote: config.pre_vote,
            ..raft::Config::default()
        };
        rc.validate()
            .map_err(|e| Error::InvalidConfig(e.to_string()))?;
        let raw = RawNode::new(&rc, store, &raft_logger(config.node_id))?;
        Ok(RaftNode {
            raw,
            id: config.node_id,
            voters,
            ticks: 0,
            last_contact: HashMap::new(),
            reported: None,
            restore,
            poisoned: None,
        })
    }

    /// Runs `f` on the raw node; a panic inside poisons the node.
    fn guarded<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if let Some(p) = &self.poisoned {
            return Err(Error::Poisoned(p.clone()));
        }
        let r = catch_unwind(AssertUnwindSafe(|| f(&mut *self)));
        match r {
            Ok(v) => v,
            Err(p) => {
                let text = panic_text(p);
                tracing::error!(node = self.id, error = %text, "raft node poisoned by a panic");
                self.poisoned = Some(text.clone());
                Err(Error::Poisoned(text))
            }
        }
    }

    /// Advances the logical clock by one tick.
    pub fn tick(&mut self) -> Result<()> {
        self.guarded(|n| {
            n.raw.tick();
            n.ticks += 1;
            Ok(())
        })
    }

    /// Steps a message received from a peer (its encoded bytes).
    pub fn step(&mut self, bytes: &[u8]) -> Result<()> {
        self.step_message(RaftMessage::decode(bytes)?)
    }

    /// Steps an already decoded message.
    pub fn step_message(&mut self, msg: RaftMessage) -> Result<()> {
        let m = msg.0;
        let refuse = |reason| Error::RefusedMessage {
            from: m.from,
            to: m.to,
            kind: format!("{:?}", m.get_msg_type()),
            reason,
        };
        if m.to != self.id {
            return Err(refuse("addressed to another node"));
        }
        if !self.voters.contains(&m.from) || m.from == self.id {
            return Err(refuse("sender is not a peer voter"));
        }
        if local_only(m.get_msg_type()) {
            return Err(refuse("message kind not accepted from the network"));
        }
        let from = m.from;
        let ticks = self.ticks;
        self.last_contact.insert(from, ticks);
        self.guarded(|n| match n.raw.step(m) {
            Ok(()) => Ok(()),
            Err(raft::Error::StepPeerNotFound) => Err(Error::RefusedMessage {
                from,
                to: n.id,
                kind: "response".into(),
                reason: "sender has no progress here",
            }),
            Err(e) => Err(e.into()),
        })
    }

    /// Proposes `data` for the log. Only the leader accepts proposals (followers do not
    /// forward them, so a caller always knows where its proposal went).
    pub fn propose(&mut self, data: Bytes) -> Result<Proposed> {
        if data.is_empty() {
            return Err(Error::EmptyProposal);
        }
        self.guarded(|n| {
            let not_leader = Error::NotLeader {
                leader: n.leader().filter(|l| *l != n.id),
            };
            if n.raw.raft.state != StateRole::Leader {
                return Err(not_leader);
            }
            match n.raw.propose(Vec::new(), data.to_vec()) {
                Ok(()) => Ok(Proposed {
                    index: n.raw.raft.raft_log.last_index(),
                    term: n.raw.raft.term,
                }),
                // A leadership transfer in progress, or the uncommitted log is full.
                Err(raft::Error::ProposalDropped) => Err(not_leader),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Whether [`Self::handle_ready`] has anything to do (besides a pending restore).
    pub fn has_ready(&self) -> bool {
        self.poisoned.is_none() && (self.restore.is_some() || self.raw.has_ready())
    }

    /// Persists and collects everything raft has ready (see the module documentation).
    pub fn handle_ready(&mut self) -> Result<Output> {
        self.guarded(|n| {
            let r = n.handle_ready_inner();
            if let Err(e) = &r {
                // The ready was taken but not advanced: raft's view and the disk may
                // disagree, so the node must be restarted from disk.
                n.poisoned = Some(e.to_string());
            }
            r
        })
    }

    fn handle_ready_inner(&mut self) -> Result<Output> {
        let mut out = Output {
            restore: self.restore.take(),
            ..Output::default()
        };
        if self.raw.has_ready() {
            let mut rd = self.raw.ready();
            // A leader sends appends while it persists its own copy (raft thesis 10.2.1).
            collect_messages(rd.take_messages(), &mut out)?;
            if !rd.snapshot().is_empty() {
                let snap = rd.snapshot().clone();
                let meta = snap.get_metadata();
                out.restore = Some(SnapshotData {
                    index: meta.index,
                    term: meta.term,
                    data: snap.data.clone(),
                });
                out.committed.clear();
                out.applied = meta.index;
                let mut voters = meta.get_conf_state().voters.clone();
                voters.sort_unstable();
                self.voters = voters;
                self.raw.mut_store().apply_snapshot(snap)?;
            }
            collect_committed(rd.take_committed_entries(), &mut out);
            let store = self.raw.mut_store();
            store.append(rd.entries())?;
            if let Some(hs) = rd.hs() {
                store.set_hard_state(hs.clone())?;
            }
            if rd.must_sync() {
                store.sync()?;
            }
            // Votes and appends answered only now that what they promise is on disk.
            collect_messages(rd.take_persisted_messages(), &mut out)?;
            let mut light = self.raw.advance(rd);
            if let Some(commit) = light.commit_index() {
                // The commit index needs no fsync: raft recovers it from the quorum.
                self.raw.mut_store().set_commit(commit)?;
            }
            collect_messages(light.take_messages(), &mut out)?;
            collect_committed(light.take_committed_entries(), &mut out);
            self.raw.advance_apply();
        }
        out.applied = out.applied.max(self.raw.raft.raft_log.applied);
        let now = self.leader_state();
        if self.reported != Some(now) {
            tracing::info!(
                node = self.id, leader = ?now.leader, term = now.term, role = ?now.role,
                "metadata quorum leadership changed"
            );
            self.reported = Some(now);
            out.leader_change = Some(now);
        }
        Ok(out)
    }

    /// Keeps `data`, the state machine's state after applying every entry up to `index`,
    /// as the latest snapshot and drops the log it covers. `index` must have been applied
    /// (handed out in an [`Output`]).
    pub fn snapshot(&mut self, index: u64, data: Bytes) -> Result<()> {
        if let Some(p) = &self.poisoned {
            return Err(Error::Poisoned(p.clone()));
        }
        if index > self.raw.raft.raft_log.applied {
            return Err(Error::SnapshotIndex {
                index,
                reason: "not applied yet",
            });
        }
        self.raw.mut_store().create_snapshot(index, data)
    }

    /// Asks the leader to hand leadership to `to` (for a controller's controlled shutdown).
    /// The outcome shows as a leader change in a later [`Output`].
    pub fn transfer_leader(&mut self, to: u64) -> Result<()> {
        self.guarded(|n| {
            n.raw.transfer_leader(to);
            Ok(())
        })
    }

    /// Starts an election now instead of waiting for the election timeout.
    pub fn campaign(&mut self) -> Result<()> {
        self.guarded(|n| Ok(n.raw.campaign()?))
    }

    /// Tells raft that the last message to `to` could not be sent.
    pub fn report_unreachable(&mut self, to: u64) -> Result<()> {
        self.guarded(|n| {
            n.raw.report_unreachable(to);
            Ok(())
        })
    }

    /// Tells raft whether a snapshot message to `to` was sent: until then the leader sends
    /// that follower nothing else, and after a failure it retries.
    pub fn report_snapshot(&mut self, to: u64, sent: bool) -> Result<()> {
        let status = if sent {
            SnapshotStatus::Finish
        } else {
            SnapshotStatus::Failure
        };
        self.guarded(|n| {
            n.raw.report_snapshot(to, status);
            Ok(())
        })
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The voters' ids, sorted.
    pub fn voters(&self) -> &[u64] {
        &self.voters
    }

    /// The leader, if known.
    pub fn leader(&self) -> Option<u64> {
        match self.raw.raft.leader_id {
            raft::INVALID_ID => None,
            id => Some(id),
        }
    }

    /// This node's role.
    pub fn role(&self) -> Role {
        self.raw.raft.state.into()
    }

    /// Whether this node is the leader.
    pub fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    /// The leader, term and role together.
    pub fn leader_state(&self) -> LeaderState {
        LeaderState {
            leader: self.leader(),
            term: self.term(),
            role: self.role(),
        }
    }

    /// The commit index (Kafka's high watermark).
    pub fn commit_index(&self) -> u64 {
        self.raw.raft.raft_log.committed
    }

    /// The last index handed out for applying.
    pub fn applied_index(&self) -> u64 {
        self.raw.raft.raft_log.applied
    }

    /// The index of the last entry in the log.
    pub fn last_index(&self) -> u64 {
        self.raw.raft.raft_log.last_index()
    }

    /// The latest snapshot's index (0 if none).
    pub fn snapshot_index(&self) -> u64 {
        self.raw.store().latest_snapshot().get_metadata().index
    }

    /// Whether a panic or a persistence failure stopped the node.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// The quorum's state for DescribeQuorum.
    pub fn status(&self) -> QuorumStatus {
        let status = self.raw.status();
        let voters = self
            .voters
            .iter()
            .map(|&id| {
                let match_index = if id == self.id {
                    Some(self.last_index())
                } else {
                    status.progress.and_then(|p| p.get(id)).map(|pr| pr.matched)
                };
                let ticks_since_contact = if id == self.id {
                    Some(0)
                } else {
                    self.last_contact
                        .get(&id)
                        .map(|t| self.ticks.saturating_sub(*t))
                };
                VoterStatus {
                    id,
                    match_index,
                    ticks_since_contact,
                }
            })
            .collect();
        QuorumStatus {
            node_id: self.id,
            leader: self.leader(),
            term: self.term(),
            commit_index: self.commit_index(),
            voters,
        }
    }
}

fn collect_messages(msgs: Vec<Message>, out: &mut Output) -> Result<()> {
    for m in msgs {
        out.messages.push(Outbound {
            to: m.to,
            snapshot: m.get_msg_type() == MessageType::MsgSnapshot,
            data: Bytes::from(m.write_to_bytes()?),
        });
    }
    Ok(())
}

fn collect_committed(entries: Vec<Entry>, out: &mut Output) {
    for e in entries {
        out.applied = out.applied.max(e.index);
        match e.get_entry_type() {
            EntryType::EntryNormal if !e.data.is_empty() => out.committed.push(Committed {
                index: e.index,
                term: e.term,
                data: e.data,
            }),
            EntryType::EntryNormal => {}
            // The voter set is static (controller.quorum.voters) and nobody proposes changes.
            EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                tracing::warn!(
                    index = e.index,
                    "ignoring a raft configuration change entry"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::TempDir;

    fn message(t: MessageType, from: u64, to: u64, term: u64) -> Message {
        let mut m = Message::default();
        m.set_msg_type(t);
        m.from = from;
        m.to = to;
        m.term = term;
        m
    }

    fn bytes(m: &Message) -> Vec<u8> {
        m.write_to_bytes().unwrap()
    }

    #[test]
    fn messages_no_peer_may_send_are_refused() {
        let dir = TempDir::new("refuse");
        let mut n = RaftNode::open(RaftConfig::new(1, vec![1, 2, 3], &dir.0)).unwrap();
        for (m, why) in [
            (
                message(MessageType::MsgHeartbeat, 2, 3, 1),
                "another node's",
            ),
            (message(MessageType::MsgHeartbeat, 9, 1, 1), "a non-voter's"),
            (message(MessageType::MsgHeartbeat, 1, 1, 1), "its own"),
            (message(MessageType::MsgHup, 2, 1, 1), "a local kind"),
            (
                message(MessageType::MsgPropose, 2, 1, 1),
                "a forwarded proposal",
            ),
        ] {
            assert!(
                matches!(n.step(&bytes(&m)), Err(Error::RefusedMessage { .. })),
                "{why} message stepped"
            );
        }
        assert!(matches!(n.step(&[0xff; 7]), Err(Error::Decode(_))));
        assert!(!n.is_poisoned());
    }

    #[test]
    fn a_panic_in_raft_poisons_the_node_instead_of_the_process() {
        let dir = TempDir::new("poison");
        let mut n = RaftNode::open(RaftConfig::new(1, vec![1, 2, 3], &dir.0)).unwrap();
        // A heartbeat committing entries the follower does not have: raft-rs treats this
        // broken invariant as fatal.
        let mut m = message(MessageType::MsgHeartbeat, 2, 1, 5);
        m.commit = 100;
        assert!(matches!(n.step(&bytes(&m)), Err(Error::Poisoned(_))));
        assert!(n.is_poisoned());
        assert!(matches!(n.tick(), Err(Error::Poisoned(_))));
        assert!(matches!(n.handle_ready(), Err(Error::Poisoned(_))));
        // Its disk is intact: a restart works.
        drop(n);
        let mut n = RaftNode::open(RaftConfig::new(1, vec![1, 2, 3], &dir.0)).unwrap();
        assert!(n.handle_ready().is_ok());
    }

    #[test]
    fn configuration_is_validated() {
        let dir = TempDir::new("config");
        for (id, voters) in [
            (0, vec![0, 1]),
            (4, vec![1, 2, 3]),
            (1, vec![1, 1, 2]),
            (1, vec![]),
        ] {
            assert!(
                matches!(
                    RaftNode::open(RaftConfig::new(id, voters.clone(), &dir.0)),
                    Err(Error::InvalidConfig(_))
                ),
                "{id} {voters:?}"
            );
        }
    }

    #[test]
    fn a_single_voter_elects_itself_and_commits() {
        let dir = TempDir::new("single");
        let mut n = RaftNode::open(RaftConfig::new(7, vec![7], &dir.0)).unwrap();
        let mut leader = None;
        for _ in 0..30 {
            n.tick().unwrap();
            let out = n.handle_ready().unwrap();
            if let Some(l) = out.leader_change {
                leader = l.leader;
            }
        }
        assert_eq!(leader, Some(7));
        let p = n.propose(Bytes::from_static(b"one")).unwrap();
        let out = n.handle_ready().unwrap();
        assert_eq!(
            out.committed,
            vec![Committed {
                index: p.index,
                term: p.term,
                data: Bytes::from_static(b"one")
            }]
        );
        assert_eq!(out.applied, p.index);
        assert!(out.messages.is_empty());
    }
}
