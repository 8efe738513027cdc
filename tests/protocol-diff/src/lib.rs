//! Differential tests of our `kafka-protocol` codec against an independent implementation,
//! tychedelia's `kafka-protocol` crate from crates.io (a dev-dependency renamed `theirs`,
//! since both packages share a name). This library is empty; the tests live in `tests/`:
//!
//! - `messages.rs`: for every API × version both codecs define (and the headers and consumer
//!   protocol messages), values encoded by one decode in the other to the same fields and
//!   re-encode to identical bytes; also cross-version encoding, large values, corrupted
//!   frames and header versions. Known, explained differences are listed in the file.
//! - `records.rs`: magic v2 record batches for every compression codec, built by one side and
//!   read by the other.
//!
//! Run them with `cargo test -p protocol-diff -- --nocapture` to see what was compared.
