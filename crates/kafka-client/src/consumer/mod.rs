//! The consumer: group membership, assignment and fetching.

pub mod assignor;
mod client;
mod coordinator;
mod fetch_session;
mod fetcher;
mod subscription;

pub use fetch_session::{
    FetchMetadata, FetchParams, FetchRequestBuilder, FetchRequestData, FetchSessionHandler,
    IsolationLevel, PartitionData, FINAL_EPOCH, INITIAL_EPOCH, INVALID_SESSION_ID,
};
pub use subscription::{FetchPosition, OffsetResetStrategy, SubscriptionState, SubscriptionType};

pub use client::{CommitCallback, Consumer};
pub use coordinator::ConsumerRebalanceListener;
pub use fetcher::ConsumerRecord;
