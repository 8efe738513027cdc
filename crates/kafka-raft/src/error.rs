//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the metadata quorum's consensus layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation on the raft directory failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`"open"`, `"fsync"`, ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file in the raft directory is damaged beyond a torn tail (a record that fails its
    /// checksum with valid data after it, a record that does not decode, a gap in the log).
    #[error("corrupt raft file {} at byte {offset}: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Where in the file the damage was found.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Entries handed to the storage would leave a hole in the log or rewrite compacted ones.
    #[error("log append at index {got} does not follow the log (first {first}, last {last})")]
    NonContiguousAppend {
        /// The first index of the appended entries.
        got: u64,
        /// The storage's first index.
        first: u64,
        /// The storage's last index.
        last: u64,
    },
    /// A snapshot was asked for at an index the log cannot give one for.
    #[error("cannot snapshot at index {index}: {reason}")]
    SnapshotIndex {
        /// The requested index.
        index: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A raft message (from a peer or a stored record) failed to decode.
    #[error("undecodable raft message: {0}")]
    Decode(#[from] protobuf::ProtobufError),
    /// A message arrived that this node must not step (addressed to another node, from a
    /// node outside the voter set, or of a kind only the local node may generate).
    #[error("refused raft message {kind} from {from} to {to}: {reason}")]
    RefusedMessage {
        /// The sender named in the message.
        from: u64,
        /// The receiver named in the message.
        to: u64,
        /// The raft message type.
        kind: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A proposal reached a node that is not the leader (or is handing leadership over).
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        /// The leader this node knows of, if any.
        leader: Option<u64>,
    },
    /// A proposal's outcome was not known in time (it may still commit).
    #[error("proposal at index {index} undecided in time")]
    Timeout {
        /// The index the proposal was written at.
        index: u64,
    },
    /// The raft loop has stopped.
    #[error("the raft loop has stopped")]
    Stopped,
    /// An empty proposal was refused: empty entries are the leaders' own no-ops.
    #[error("empty proposals are reserved for the leader's no-op entries")]
    EmptyProposal,
    /// The raft library refused an operation.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    /// The raft library panicked while handling input (an invariant broken by a message or
    /// by storage); the node refuses all further work and should be restarted from disk.
    #[error("raft node poisoned: {0}")]
    Poisoned(String),
    /// The node's configuration is invalid.
    #[error("invalid raft configuration: {0}")]
    InvalidConfig(String),
    /// `controller.quorum.voters` does not parse.
    #[error("invalid controller.quorum.voters entry {entry:?}: {reason}")]
    InvalidVoters {
        /// The offending entry (or the whole value when it is empty).
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A raft frame on the wire is malformed.
    #[error("malformed raft frame: {0}")]
    Frame(String),
    /// A raft frame's header did not decode.
    #[error("raft frame header: {0}")]
    Protocol(#[from] kafka_protocol::Error),
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
