//! Kafka's cluster metadata (KRaft), as pure logic.
//!
//! placeholder
pub mod error;
pub mod records;

pub use error::{Error, Result};
pub use records::{decode_batch, encode_batch, MetadataRecord};
