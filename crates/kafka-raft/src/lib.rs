//! The metadata quorum's consensus (Kafka's `raft` module, KRaft's role) on tikv's `raft`
//! crate, the Raft engine TiKV runs in production.
//!
//! - [`DiskStorage`]: raft's log, hard state, configuration and latest snapshot in one
//!   directory (`__cluster_metadata-0/`), CRC-framed, fsync'd, recovered on open.
//! - [`RaftNode`]: one quorum member as pure logic, no threads, sockets or clock: ticks,
//!   peers' messages and proposals go in, [`Output`]s (messages to send, snapshots and
//!   committed entries to apply, leadership changes) come out. Its module documentation
//!   states the contract.
//! - [`wire`]: raft messages as Kafka requests (private API key [`RAFT_MESSAGE_API_KEY`]),
//!   their acknowledgements, and `controller.quorum.voters` ([`parse_voters`]).
//! - [`PeerTransport`]: one blocking TCP connection and thread per peer, bounded queues.
//! - [`RaftLoop`]: an optional driver thread that owns a node and a transport and calls a
//!   [`StateMachine`].
//!
//! The raft library logs through `slog`; its lines are forwarded to `tracing` (target
//! `raft`), never printed by themselves.

mod driver;
mod error;
mod logging;
mod node;
mod storage;
mod transport;
pub mod wire;

pub use driver::{ProposalCallback, RaftHandle, RaftLoop, RaftLoopConfig, StateMachine};
pub use error::{Error, Result};
pub use node::{
    Committed, LeaderState, Outbound, Output, Proposed, QuorumStatus, RaftConfig, RaftMessage,
    RaftNode, Role, SnapshotData, VoterStatus, TICK_INTERVAL,
};
pub use storage::DiskStorage;
pub use transport::{PeerReport, PeerTransport, TransportConfig};
pub use wire::{parse_voters, Voter, RAFT_MESSAGE_API_KEY};
