//! [`RaftLoop`]: a thread that drives one [`RaftNode`] with a [`PeerTransport`] and applies
//! what commits to a [`StateMachine`].
//!
//! The thread waits on three things: its inbox (peers' messages, proposals, leadership
//! transfers, status queries, all sent through a [`RaftHandle`]), a ticker every
//! [`TICK_INTERVAL`], and the transport's reports. After each, it handles the node's ready
//! output: sends messages, installs a snapshot, applies committed entries, completes the
//! proposals they decide, reports a leadership change, and snapshots the state machine
//! every [`RaftLoopConfig::snapshot_every`] applied entries.

use std::collections::BTreeMap;
use std::thread::JoinHandle;

use bytes::Bytes;
use crossbeam_channel::{bounded, select, tick, Receiver, Sender, TrySendError};

use crate::error::{Error, Result};
use crate::node::TICK_INTERVAL;
use crate::node::{LeaderState, Output, Proposed, QuorumStatus, RaftMessage, RaftNode};
use crate::transport::{PeerReport, PeerTransport};

/// What the metadata log is applied to.
pub trait StateMachine: Send + 'static {
    /// Applies the committed entry at `index` (entries arrive in log order, each once per
    /// process lifetime; a restart replays them after [`StateMachine::restore`]).
    fn apply(&mut self, index: u64, term: u64, data: &[u8]);
    /// The state after the last applied entry, in a form [`StateMachine::restore`] reads.
    fn snapshot(&mut self) -> Bytes;
    /// Replaces the whole state with a snapshot covering every entry up to `index`.
    fn restore(&mut self, index: u64, data: &[u8]);
    /// Called after the entries of the same output were applied when the leader, the term
    /// or this node's role changed.
    fn on_leader_change(&mut self, state: LeaderState) {
        let _ = state;
    }
}

/// Completes a proposal: the index and term it committed at, or why it did not.
/// [`Error::NotLeader`]: it reached a non-leader, or leadership changed and another entry
/// took its place; [`Error::Timeout`]: its fate is unknown; [`Error::Stopped`]: the loop ended.
pub type ProposalCallback = Box<dyn FnOnce(Result<Proposed>) + Send>;

/// The loop's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RaftLoopConfig {
    /// Applied entries between state machine snapshots (0: never snapshot).
    pub snapshot_every: u64,
    /// Ticks after which a proposal not yet decided completes with [`Error::Timeout`].
    pub proposal_timeout_ticks: u64,
    /// Inputs queued before peers' messages are dropped.
    pub inbox_capacity: usize,
}

impl Default for RaftLoopConfig {
    /// A snapshot every 10000 entries, proposals time out after 50 ticks (5 s), 4096 inputs.
    fn default() -> Self {
        RaftLoopConfig {
            snapshot_every: 10_000,
            proposal_timeout_ticks: 50,
            inbox_capacity: 4096,
        }
    }
}

enum Input {
    Message(RaftMessage),
    Propose(Bytes, ProposalCallback),
    TransferLeader(u64),
    Status(Sender<QuorumStatus>),
    Shutdown,
}

/// A cheap, cloneable way to talk to a running [`RaftLoop`].
#[derive(Clone)]
pub struct RaftHandle {
    tx: Sender<Input>,
}

impl std::fmt::Debug for RaftHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftHandle").finish_non_exhaustive()
    }
}

impl RaftHandle {
    /// Hands a peer's message to the loop without blocking; false if it was dropped (inbox
    /// full or loop stopped: raft resends).
    pub fn step(&self, msg: RaftMessage) -> bool {
        match self.tx.try_send(Input::Message(msg)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Proposes `data`; `done` is called on the loop's thread once its fate is known. Waits
    /// while the loop's inbox is full.
    pub fn propose(&self, data: Bytes, done: ProposalCallback) {
        if let Err(e) = self.tx.send(Input::Propose(data, done)) {
            if let Input::Propose(_, done) = e.into_inner() {
                done(Err(Error::Stopped));
            }
        }
    }

    /// Proposes `data` without waiting; gives `done` back, uncalled, when the loop's inbox is
    /// full or the loop stopped. For callers that must not block while holding a lock the loop
    /// itself takes while applying.
    pub fn try_propose(
        &self,
        data: Bytes,
        done: ProposalCallback,
    ) -> std::result::Result<(), ProposalCallback> {
        let refused = match self.tx.try_send(Input::Propose(data, done)) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(input)) | Err(TrySendError::Disconnected(input)) => input,
        };
        match refused {
            Input::Propose(_, done) => Err(done),
            // A channel hands back exactly the value it refused: the proposal above.
            _ => Ok(()),
        }
    }

    /// Asks the node, if it leads, to hand leadership to `to`.
    pub fn transfer_leader(&self, to: u64) {
        let _ = self.tx.send(Input::TransferLeader(to));
    }

    /// The quorum's status (None if the loop stopped).
    pub fn status(&self) -> Option<QuorumStatus> {
        let (tx, rx) = bounded(1);
        self.tx.send(Input::Status(tx)).ok()?;
        rx.recv().ok()
    }
}

/// The driver thread; see the module documentation.
pub struct RaftLoop {
    handle: RaftHandle,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RaftLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftLoop").finish_non_exhaustive()
    }
}

impl RaftLoop {
    /// Starts the thread. It stops on [`RaftLoop::shutdown`], when every handle and the loop
    /// are dropped, or when the node is poisoned (then pending proposals fail).
    pub fn spawn<S: StateMachine>(
        node: RaftNode,
        transport: PeerTransport,
        state_machine: S,
        config: RaftLoopConfig,
    ) -> Result<Self> {
        let (tx, rx) = bounded(config.inbox_capacity.max(1));
        let name = format!("raft-{}", node.id());
        let mut driver = Driver {
            node,
            transport,
            sm: state_machine,
            config,
            pending: BTreeMap::new(),
            ticks: 0,
        };
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || driver.run(rx))
            .map_err(|e| Error::io("spawn the raft thread", "", e))?;
        Ok(RaftLoop {
            handle: RaftHandle { tx },
            thread: Some(thread),
        })
    }

    /// A handle for the server's request handlers.
    pub fn handle(&self) -> RaftHandle {
        self.handle.clone()
    }

    /// Stops the thread and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.handle.tx.send(Input::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RaftLoop {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Pending {
    term: u64,
    deadline: u64,
    done: ProposalCallback,
}

struct Driver<S> {
    node: RaftNode,
    transport: PeerTransport,
    sm: S,
    config: RaftLoopConfig,
    pending: BTreeMap<u64, Pending>,
    ticks: u64,
}

impl<S: StateMachine> Driver<S> {
    fn run(&mut self, rx: Receiver<Input>) {
        let ticker = tick(TICK_INTERVAL);
        let reports = self.transport.reports().clone();
        // The first output restores the stored snapshot and replays the log.
        let mut running = self.ready();
        while running {
            select! {
                recv(rx) -> input => {
                    let Ok(input) = input else { break };
                    if !self.input(input) {
                        break;
                    }
                    // Take what else is queued before writing, so one fsync covers it.
                    let mut more = 0;
                    while more < 256 {
                        let Ok(input) = rx.try_recv() else { break };
                        if !self.input(input) {
                            running = false;
                            break;
                        }
                        more += 1;
                    }
                }
                recv(ticker) -> _ => {
                    if let Err(e) = self.node.tick() {
                        tracing::error!(error = %e, "raft tick failed");
                    }
                    self.ticks += 1;
                    self.expire();
                }
                recv(reports) -> report => {
                    let r = match report {
                        Ok(PeerReport::Unreachable(id)) => self.node.report_unreachable(id),
                        Ok(PeerReport::SnapshotSent(id)) => self.node.report_snapshot(id, true),
                        Ok(PeerReport::SnapshotFailed(id)) => self.node.report_snapshot(id, false),
                        Err(_) => Ok(()),
                    };
                    if let Err(e) = r {
                        tracing::error!(error = %e, "raft report failed");
                    }
                }
            }
            running = running && self.ready();
        }
        for (_, p) in std::mem::take(&mut self.pending) {
            (p.done)(Err(Error::Stopped));
        }
    }

    /// Handles one input; false to stop.
    fn input(&mut self, input: Input) -> bool {
        match input {
            Input::Message(m) => {
                if let Err(e) = self.node.step_message(m) {
                    tracing::debug!(error = %e, "raft message not stepped");
                }
            }
            Input::Propose(data, done) => match self.node.propose(data) {
                Ok(p) => {
                    let deadline = self.ticks + self.config.proposal_timeout_ticks;
                    self.pending.insert(
                        p.index,
                        Pending {
                            term: p.term,
                            deadline,
                            done,
                        },
                    );
                }
                Err(e) => done(Err(e)),
            },
            Input::TransferLeader(to) => {
                if let Err(e) = self.node.transfer_leader(to) {
                    tracing::warn!(error = %e, to, "raft leadership transfer failed");
                }
            }
            Input::Status(tx) => {
                let _ = tx.send(self.node.status());
            }
            Input::Shutdown => return false,
        }
        true
    }

    fn expire(&mut self) {
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= self.ticks)
            .map(|(i, _)| *i)
            .collect();
        for index in expired {
            if let Some(p) = self.pending.remove(&index) {
                (p.done)(Err(Error::Timeout { index }));
            }
        }
    }

    /// Handles the node's output until it has none; false if the node is poisoned.
    fn ready(&mut self) -> bool {
        loop {
            match self.node.handle_ready() {
                Ok(out) => self.apply(out),
                Err(e) => {
                    tracing::error!(error = %e, "raft node stopped");
                    return !self.node.is_poisoned();
                }
            }
            if !self.node.has_ready() {
                return true;
            }
        }
    }

    fn apply(&mut self, out: Output) {
        for m in out.messages {
            self.transport.send(m);
        }
        if let Some(s) = out.restore {
            self.sm.restore(s.index, &s.data);
        }
        for c in out.committed {
            self.sm.apply(c.index, c.term, &c.data);
            if let Some(p) = self.pending.remove(&c.index) {
                let r = if p.term == c.term {
                    Ok(Proposed {
                        index: c.index,
                        term: c.term,
                    })
                } else {
                    Err(Error::NotLeader {
                        leader: self.node.leader(),
                    })
                };
                (p.done)(r);
            }
        }
        // Whatever is still pending at or below the applied index was replaced.
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > out.applied {
                break;
            }
            let p = entry.remove();
            (p.done)(Err(Error::NotLeader {
                leader: self.node.leader(),
            }));
        }
        if let Some(l) = out.leader_change {
            self.sm.on_leader_change(l);
        }
        let applied = self.node.applied_index();
        if self.config.snapshot_every > 0
            && applied.saturating_sub(self.node.snapshot_index()) >= self.config.snapshot_every
        {
            let data = self.sm.snapshot();
            if let Err(e) = self.node.snapshot(applied, data) {
                tracing::warn!(error = %e, index = applied, "raft snapshot failed");
            }
        }
    }
}
