//! The coordinator's configuration: Kafka's `group.*` and `offsets.*` broker keys.

/// Kafka's `group.*` / `offsets.*` settings that the classic group coordinator honours, with
/// Kafka's defaults (see [`CoordinatorConfig::default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorConfig {
    /// `group.min.session.timeout.ms` (6000): a JoinGroup with a smaller session timeout gets
    /// `INVALID_SESSION_TIMEOUT`.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (1800000): a JoinGroup with a larger session timeout
    /// gets `INVALID_SESSION_TIMEOUT`.
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms` (3000): how long the first rebalance of an empty
    /// group waits for more members, extended while members keep joining.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size` (unlimited): joins beyond it get `GROUP_MAX_SIZE_REACHED`.
    pub group_max_size: usize,
    /// `offsets.retention.minutes` (10080 = 7 days): how long committed offsets of an empty
    /// group (or of a group without a protocol) are kept.
    pub offsets_retention_minutes: i64,
    /// `offsets.retention.check.interval.ms` (600000): how often expired offsets are removed.
    pub offsets_retention_check_interval_ms: i64,
    /// `offset.metadata.max.bytes` (4096): a commit whose metadata is longer gets
    /// `OFFSET_METADATA_TOO_LARGE` for that partition.
    pub offset_metadata_max_bytes: usize,
    /// Kafka's `GroupCoordinator.NewMemberJoinTimeoutMs` (300000, not configurable in Kafka):
    /// how long a new member may wait in a rebalance before it is dropped.
    pub new_member_join_timeout_ms: i32,
    /// The seed of the generator behind the UUIDs in member ids. Give it fresh randomness
    /// (e.g. from the OS) at start-up; tests give it a constant.
    pub member_id_seed: u64,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_max_size: usize::MAX,
            offsets_retention_minutes: 10_080,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
            new_member_join_timeout_ms: 300_000,
            member_id_seed: 0x005e_ed0f_6b7c_8d9e,
        }
    }
}

impl CoordinatorConfig {
    /// `offsets.retention.minutes` in milliseconds.
    pub fn offsets_retention_ms(&self) -> i64 {
        self.offsets_retention_minutes.saturating_mul(60_000)
    }
}
