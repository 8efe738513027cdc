//! The crate's error type.
//!
//! Every failure to decode bytes from the network or to encode a value at a version is one
//! variant of [`Error`], with enough context to log. Kafka's own wire error codes (what goes
//! into a response's `error_code` field) are a different thing: see [`crate::ErrorCode`].

/// An error decoding or encoding Kafka protocol data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a value was complete.
    #[error("unexpected end of input: needed {needed} more bytes, {remaining} remain")]
    UnexpectedEof {
        /// Bytes the value needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A variable-length integer ran past its maximum width.
    #[error("variable-length integer is longer than {max_bytes} bytes")]
    VarintTooLong {
        /// The widest legal encoding.
        max_bytes: usize,
    },
    /// A length prefix is negative where only null (-1) is allowed, or null where the field is
    /// not nullable at this version.
    #[error("invalid length {length} for {what}")]
    InvalidLength {
        /// What was being read.
        what: &'static str,
        /// The length as read.
        length: i64,
    },
    /// A length prefix claims more bytes or elements than the input holds. Checked before any
    /// allocation, so hostile input cannot make us reserve memory it did not send.
    #[error("{what} of length {length} exceeds the {remaining} bytes remaining")]
    LengthExceedsInput {
        /// What was being read.
        what: &'static str,
        /// The length as read.
        length: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A `records` field holding a file region was encoded into a byte buffer, which cannot
    /// take it without reading the file; encode into a [`crate::records::PartsWriter`].
    #[error("a {len}-byte file region cannot be encoded into a byte buffer")]
    FileRegionInBuffer {
        /// The region's length.
        len: usize,
    },
    /// A string is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A boolean byte other than 0 or 1.
    #[error("invalid boolean byte {0}")]
    InvalidBool(u8),
    /// The version is outside the message's valid range.
    #[error("{message} does not support version {version}")]
    UnsupportedVersion {
        /// The message's name.
        message: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// An API key this crate does not know.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// A tagged field's value did not use exactly the bytes its size prefix gave it.
    #[error("tagged field {tag} of {message}: size {size} does not match its content")]
    TaggedFieldSize {
        /// The message's name.
        message: &'static str,
        /// The field's tag.
        tag: u32,
        /// The size the prefix declared.
        size: usize,
    },
    /// A known tag appeared at a version whose field does not exist yet.
    #[error("tag {tag} is not valid for {message} version {version}")]
    InvalidTag {
        /// The message's name.
        message: &'static str,
        /// The tag.
        tag: u32,
        /// The version being decoded.
        version: i16,
    },
    /// A message left bytes unread where the frame should have ended.
    #[error("{remaining} trailing bytes after {message}")]
    TrailingBytes {
        /// The message's name.
        message: &'static str,
        /// Bytes left over.
        remaining: usize,
    },
    /// A field holds a value other than its default at a version that cannot carry it.
    #[error("{message}.{field} cannot be encoded at version {version} with a non-default value")]
    FieldNotInVersion {
        /// The message's name.
        message: &'static str,
        /// The field's name.
        field: &'static str,
        /// The version being encoded.
        version: i16,
    },
    /// A null value in a field that is not nullable at this version.
    #[error("{message}.{field} is null, which version {version} does not allow")]
    NullNotAllowed {
        /// The message's name.
        message: &'static str,
        /// The field's name.
        field: &'static str,
        /// The version being encoded.
        version: i16,
    },
    /// A string, byte array or array too long for its length prefix.
    #[error("{what} of length {length} is too long for its encoding")]
    TooLong {
        /// What was being written.
        what: &'static str,
        /// Its length.
        length: usize,
    },
    /// A record batch is malformed (see the message).
    #[error("corrupt record batch: {0}")]
    CorruptBatch(&'static str),
    /// A record batch's stored CRC does not match its content.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The CRC in the batch header.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// A record batch uses a magic byte other than 2.
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// A compression codec id this crate does not know.
    #[error("unknown compression codec {0}")]
    UnknownCompression(u8),
    /// Compressing or decompressing a batch failed.
    #[error("{codec} {op} failed: {message}")]
    Compression {
        /// The codec's name.
        codec: &'static str,
        /// `"compression"` or `"decompression"`.
        op: &'static str,
        /// The codec's own message.
        message: String,
    },
    /// Decompressed data would exceed the limit the caller set.
    #[error("decompressed batch exceeds the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A record batch is larger than the limit the caller set (checked from its
    /// `batchLength` before the rest of it is read).
    #[error("record batch of {size} bytes exceeds the limit of {max} bytes")]
    RecordBatchTooLarge {
        /// The batch's size, `batchLength + 12`.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A record cannot be appended to a batch (offset or timestamp out of range), or a control
    /// record's key or value is malformed.
    #[error("invalid record: {0}")]
    InvalidRecord(&'static str),
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
