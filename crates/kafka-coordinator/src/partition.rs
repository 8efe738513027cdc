//! Which `__consumer_offsets` partition holds a group: Kafka's `partitionFor`.

/// The partition of `__consumer_offsets` (of `partitions` partitions) that holds `group_id`:
/// `Utils.abs(groupId.hashCode()) % partitions` as Kafka computes it, with Java's
/// `String.hashCode` over UTF-16 code units, so a group lands on the same partition here as on
/// a Kafka broker (tools that compute it, and data moved between the two, agree).
pub fn offsets_partition_for(group_id: &str, partitions: i32) -> i32 {
    if partitions <= 0 {
        return 0;
    }
    let hash = group_id.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    // Kafka's Utils.abs maps i32::MIN to 0 rather than overflowing.
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Java's well-known `String.hashCode` values.
    #[test]
    fn matches_javas_string_hash() {
        // "".hashCode() == 0; "a".hashCode() == 97; "ab".hashCode() == 3105.
        assert_eq!(offsets_partition_for("", 50), 0);
        assert_eq!(offsets_partition_for("a", 50), 97 % 50);
        assert_eq!(offsets_partition_for("ab", 50), 3105 % 50);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE: Utils.abs gives 0.
        assert_eq!(offsets_partition_for("polygenelubricants", 50), 0);
        // "Aa" and "BB" collide at 2112.
        assert_eq!(offsets_partition_for("Aa", 50), 2112 % 50);
        assert_eq!(offsets_partition_for("BB", 50), 2112 % 50);
        // Overflow wraps: a long id hashes negative, and abs comes before the modulo.
        let long = "x".repeat(40);
        let h = long
            .bytes()
            .fold(0i32, |h, b| h.wrapping_mul(31).wrapping_add(i32::from(b)));
        assert_eq!(offsets_partition_for(&long, 50), h.abs() % 50);
        // A character outside the BMP counts as two UTF-16 units, as in Java.
        let h = (0xD83Di32).wrapping_mul(31).wrapping_add(0xDE00);
        assert_eq!(offsets_partition_for("\u{1F600}", 50), h.abs() % 50);
        assert_eq!(offsets_partition_for("anything", 1), 0);
        // "hello".hashCode() == 99162322, "group".hashCode() == 98629247 in Java.
        assert_eq!(offsets_partition_for("hello", 1_000_000_000), 99_162_322);
        assert_eq!(offsets_partition_for("group", 50), 98_629_247 % 50);
        assert_eq!(
            offsets_partition_for("\u{1F600}", 1_000_000_000),
            0xD83D * 31 + 0xDE00
        );
        for g in ["console-consumer-12345", "my-group", "", "ßü"] {
            assert!((0..50).contains(&offsets_partition_for(g, 50)));
        }
    }
}
