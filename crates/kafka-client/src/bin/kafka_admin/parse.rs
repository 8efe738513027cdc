//! Parsing of the arguments Kafka's tools take in their own syntax: `--add-config` lists,
//! `topic:partitions` scopes, datetimes, `--time` values and the delete-records JSON file.

use kafka_client::admin::OffsetSpec;
use kafka_client::TopicPartition;
use serde_json::Value;

/// `k1=v1,k2=[a,b],k3=v3` as kafka-configs reads it: commas inside `[...]` belong to the
/// value (a list), and the brackets are dropped.
pub(crate) fn config_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '[' => {
                depth += 1;
                current.push(c);
            }
            ']' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ']' in '{text}'"))?;
                current.push(c);
            }
            ',' if depth == 0 => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced '[' in '{text}'"));
    }
    items.push(current);
    let mut out = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got '{item}'"))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("empty key in '{item}'"));
        }
        let v = v.trim();
        let v = v
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .unwrap_or(v);
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// `a,b,c` (blank items dropped).
pub(crate) fn names(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `0,1,5-7` as partition indexes.
pub(crate) fn partitions(text: &str) -> Result<Vec<i32>, String> {
    let mut out = Vec::new();
    for item in names(text) {
        let bad = || format!("'{item}' is not a partition or a range of them (0,1,5-7)");
        match item.split_once('-') {
            Some((a, b)) => {
                let a: i32 = a.trim().parse().map_err(|_| bad())?;
                let b: i32 = b.trim().parse().map_err(|_| bad())?;
                if a < 0 || b < a || b - a > 100_000 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => {
                let p: i32 = item.parse().map_err(|_| bad())?;
                if p < 0 {
                    return Err(bad());
                }
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// `topic` or `topic:0,1,2` (kafka-consumer-groups' `--topic`): the topic and the
/// partitions named, if any.
pub(crate) fn topic_scope(text: &str) -> Result<(String, Option<Vec<i32>>), String> {
    match text.split_once(':') {
        Some((t, ps)) if !t.is_empty() => Ok((t.to_string(), Some(partitions(ps)?))),
        Some(_) => Err(format!("'{text}': the topic name is missing")),
        None if text.is_empty() => Err("empty topic name".into()),
        None => Ok((text.to_string(), None)),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn number(s: &str, what: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64, String> {
    let n: i64 = s
        .parse()
        .ok()
        .filter(|_| s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty())
        .ok_or_else(|| format!("bad {what} '{s}'"))?;
    if !range.contains(&n) {
        return Err(format!("{what} {n} out of range"));
    }
    Ok(n)
}

/// `YYYY-MM-DDTHH:mm:SS[.sss][Z|±HH:MM|±HHMM]` (kafka-consumer-groups' `--to-datetime`, with
/// seconds optional) as milliseconds since the epoch. Without a zone the time is UTC (Kafka's
/// tool takes the JVM's zone; a tool without one cannot know which is meant, so it is said
/// in the docs).
pub(crate) fn datetime_ms(text: &str) -> Result<i64, String> {
    let bad = |why: String| format!("'{text}' is not YYYY-MM-DDTHH:mm:SS[.sss][zone]: {why}");
    let (date, time) = text
        .split_once(['T', ' '])
        .ok_or_else(|| bad("no 'T' between date and time".into()))?;
    let mut d = date.splitn(3, '-');
    let (y, mo, da) = match (d.next(), d.next(), d.next()) {
        (Some(y), Some(m), Some(d)) => (y, m, d),
        _ => return Err(bad("the date needs year, month and day".into())),
    };
    let y = number(y, "year", 1970..=9999).map_err(bad)?;
    let mo = number(mo, "month", 1..=12).map_err(bad)?;
    let da = number(da, "day", 1..=31).map_err(bad)?;
    let (clock, offset_min) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, zone) = time.split_at(i);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("zone '{zone}' is not ±HH:MM")));
        }
        let h = number(&digits[..2], "zone hours", 0..=18).map_err(bad)?;
        let m = number(&digits[2..], "zone minutes", 0..=59).map_err(bad)?;
        (c, sign * (h * 60 + m))
    } else {
        (time, 0)
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut t = hms.split(':');
    let h = number(t.next().unwrap_or(""), "hour", 0..=23).map_err(bad)?;
    let mi = number(t.next().unwrap_or(""), "minute", 0..=59).map_err(bad)?;
    let s = match t.next() {
        Some(s) => number(s, "second", 0..=60).map_err(bad)?,
        None => 0,
    };
    if t.next().is_some() {
        return Err(bad("too many ':'".into()));
    }
    let ms = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain("00".chars()).take(3).collect();
        number(&digits, "milliseconds", 0..=999).map_err(bad)?
    };
    let days = days_from_civil(y, mo, da);
    Ok(((days * 24 + h) * 60 + mi - offset_min) * 60_000 + s * 1000 + ms)
}

/// `--time` of `offsets`: `earliest`/`-2`, `latest`/`-1`, milliseconds since the epoch or
/// a datetime.
pub(crate) fn offset_spec(text: &str) -> Result<OffsetSpec, String> {
    match text.trim() {
        "earliest" | "-2" => Ok(OffsetSpec::Earliest),
        "latest" | "-1" => Ok(OffsetSpec::Latest),
        t => match t.parse::<i64>() {
            Ok(ms) if ms >= 0 => Ok(OffsetSpec::Timestamp(ms)),
            Ok(_) => Err(format!(
                "--time {t}: use -1 (latest), -2 (earliest) or a time"
            )),
            Err(_) => datetime_ms(t).map(OffsetSpec::Timestamp),
        },
    }
}

/// Kafka's delete-records file: `{"partitions": [{"topic": "t", "partition": 0, "offset":
/// 5}], "version": 1}` (offset -1: the high watermark).
pub(crate) fn delete_records_file(text: &str) -> Result<Vec<(TopicPartition, i64)>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = v
        .get("partitions")
        .and_then(Value::as_array)
        .ok_or("expected {\"partitions\": [...]}")?;
    let mut out = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let topic = p
            .get("topic")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("partitions[{i}]: \"topic\" missing"))?;
        let partition = p
            .get("partition")
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("partitions[{i}]: \"partition\" missing or invalid"))?;
        let offset = p
            .get("offset")
            .and_then(Value::as_i64)
            .filter(|n| *n >= -1)
            .ok_or_else(|| format!("partitions[{i}]: \"offset\" missing or invalid"))?;
        out.push((TopicPartition::new(topic, partition), offset));
    }
    if out.is_empty() {
        return Err("no partitions in the file".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_config_lists_keep_commas_inside_brackets() {
        assert_eq!(
            config_pairs("retention.ms=1000, cleanup.policy=[compact,delete],a=b=c").unwrap(),
            [
                ("retention.ms".to_string(), "1000".to_string()),
                ("cleanup.policy".into(), "compact,delete".into()),
                ("a".into(), "b=c".into()),
            ]
        );
        assert!(config_pairs("a").is_err());
        assert!(config_pairs("a=[1,2").is_err());
        assert!(config_pairs("=1").is_err());
        assert!(config_pairs("").unwrap().is_empty());
    }

    #[test]
    fn partition_lists_and_scopes() {
        assert_eq!(partitions("0, 2,4-6").unwrap(), [0, 2, 4, 5, 6]);
        assert!(partitions("x").is_err());
        assert!(partitions("3-1").is_err());
        assert!(partitions("0-2000000").is_err());
        assert_eq!(topic_scope("t").unwrap(), ("t".into(), None));
        assert_eq!(
            topic_scope("t:1,2").unwrap(),
            ("t".into(), Some(vec![1, 2]))
        );
        assert!(topic_scope(":1").is_err());
    }

    #[test]
    fn datetimes_are_utc_unless_zoned() {
        assert_eq!(datetime_ms("1970-01-01T00:00:00.000").unwrap(), 0);
        assert_eq!(
            datetime_ms("2024-02-29T12:34:56.789Z").unwrap(),
            1_709_210_096_789
        );
        assert_eq!(
            datetime_ms("2024-02-29T14:34:56.789+02:00").unwrap(),
            1_709_210_096_789
        );
        assert_eq!(
            datetime_ms("2024-02-29T07:34:56.789-0500").unwrap(),
            1_709_210_096_789
        );
        assert_eq!(datetime_ms("2024-02-29T12:34").unwrap(), 1_709_210_040_000);
        assert_eq!(
            datetime_ms("2024-02-29T12:34:56.7").unwrap(),
            1_709_210_096_700
        );
        for bad in [
            "2024-02-29",
            "2024-13-01T00:00",
            "2024-01-01T25:00",
            "x",
            "2024-01-01T00:00+5",
        ] {
            assert!(datetime_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_specs() {
        assert_eq!(offset_spec("earliest").unwrap(), OffsetSpec::Earliest);
        assert_eq!(offset_spec("-1").unwrap(), OffsetSpec::Latest);
        assert_eq!(offset_spec("1000").unwrap(), OffsetSpec::Timestamp(1000));
        assert_eq!(
            offset_spec("1970-01-01T00:00:01Z").unwrap(),
            OffsetSpec::Timestamp(1000)
        );
        assert!(offset_spec("-3").is_err());
    }

    #[test]
    fn delete_records_files_as_kafka_writes_them() {
        let parsed = delete_records_file(
            r#"{"partitions":[{"topic":"t","partition":1,"offset":5},{"topic":"t","partition":0,"offset":-1}],"version":1}"#,
        )
        .unwrap();
        assert_eq!(
            parsed,
            [
                (TopicPartition::new("t", 1), 5),
                (TopicPartition::new("t", 0), -1)
            ]
        );
        for bad in [
            "[]",
            r#"{"partitions":[]}"#,
            r#"{"partitions":[{"topic":"t","partition":-1,"offset":0}]}"#,
            r#"{"partitions":[{"topic":"t","partition":0,"offset":-2}]}"#,
            r#"{"partitions":[{"partition":0,"offset":1}]}"#,
        ] {
            assert!(delete_records_file(bad).is_err(), "{bad}");
        }
    }
}
