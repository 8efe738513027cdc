//! `groups`: kafka-consumer-groups' list, describe (offsets, log end offsets, lag, members),
//! reset-offsets (dry run unless `--execute`) and delete.

use std::collections::{BTreeMap, BTreeSet};

use clap::{ArgGroup, Subcommand};
use kafka_client::admin::{GroupDescription, OffsetSpec};
use kafka_client::TopicPartition;
use serde_json::{json, Value};

use crate::output::{emit, opt_cell, opt_json, Table};
use crate::{parse, Ctx, Failure};

#[derive(Debug, Subcommand)]
pub(crate) enum GroupsCmd {
    /// Every group with its protocol type and state.
    List,
    /// Each partition's committed offset, log end offset, lag and member.
    Describe {
        /// The groups (repeatable or comma separated).
        #[arg(
            long = "group",
            value_delimiter = ',',
            required_unless_present = "all_groups"
        )]
        groups: Vec<String>,
        /// Every group the cluster knows.
        #[arg(long = "all-groups")]
        all_groups: bool,
    },
    /// Move a group's committed offsets; prints the plan, and commits it with --execute.
    #[command(group(ArgGroup::new("target").required(true).args(
        ["to_earliest", "to_latest", "to_offset", "shift_by", "to_datetime"])))]
    #[command(group(ArgGroup::new("scope").required(true).args(["topics", "all_topics"])))]
    ResetOffsets {
        /// The group (it must have no active members to --execute).
        #[arg(long)]
        group: String,
        /// A topic, or topic:0,1,2 for some of its partitions (repeatable).
        #[arg(long = "topic")]
        topics: Vec<String>,
        /// Every topic the group has committed offsets for.
        #[arg(long = "all-topics")]
        all_topics: bool,
        /// To each partition's log start offset.
        #[arg(long = "to-earliest")]
        to_earliest: bool,
        /// To each partition's log end offset.
        #[arg(long = "to-latest")]
        to_latest: bool,
        /// To this offset (kept within the log's start and end).
        #[arg(long = "to-offset")]
        to_offset: Option<i64>,
        /// By this many (negative: back) from the committed offset, within the log.
        #[arg(long = "shift-by", allow_hyphen_values = true)]
        shift_by: Option<i64>,
        /// To the first offset at or after YYYY-MM-DDTHH:mm:SS.sss (UTC unless a zone such
        /// as Z or +02:00 follows).
        #[arg(long = "to-datetime")]
        to_datetime: Option<String>,
        /// Only print the new offsets (the default).
        #[arg(long = "dry-run", conflicts_with = "execute")]
        dry_run: bool,
        /// Commit the new offsets.
        #[arg(long)]
        execute: bool,
    },
    /// Delete groups (they must have no active members).
    Delete {
        /// The groups (repeatable or comma separated).
        #[arg(long = "group", value_delimiter = ',', required = true)]
        groups: Vec<String>,
    },
}

/// Where reset-offsets moves each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResetTo {
    Earliest,
    Latest,
    Offset(i64),
    ShiftBy(i64),
    Datetime(i64),
}

/// The new offset of each partition, as Kafka's tool computes it: explicit offsets and
/// shifts are kept within [log start, log end]; a time after the last record means the log
/// end. `at_time` holds the ListOffsets answers for `Datetime` (-1: none at or after it).
pub(crate) fn reset_plan(
    to: ResetTo,
    partitions: &[TopicPartition],
    committed: &BTreeMap<TopicPartition, i64>,
    earliest: &BTreeMap<TopicPartition, i64>,
    latest: &BTreeMap<TopicPartition, i64>,
    at_time: &BTreeMap<TopicPartition, i64>,
) -> Vec<(TopicPartition, Result<i64, String>)> {
    partitions
        .iter()
        .map(|tp| {
            let (Some(&lo), Some(&hi)) = (earliest.get(tp), latest.get(tp)) else {
                return (tp.clone(), Err(format!("{tp}: no log start or end offset")));
            };
            let clamp = |o: i64| o.clamp(lo, hi.max(lo));
            let new = match to {
                ResetTo::Earliest => Ok(lo),
                ResetTo::Latest => Ok(hi),
                ResetTo::Offset(o) => Ok(clamp(o)),
                ResetTo::ShiftBy(n) => committed
                    .get(tp)
                    .map(|c| clamp(c.saturating_add(n)))
                    .ok_or_else(|| format!("{tp}: no committed offset to shift from")),
                ResetTo::Datetime(_) => match at_time.get(tp) {
                    Some(&o) if o >= 0 => Ok(clamp(o)),
                    _ => Ok(hi),
                },
            };
            (tp.clone(), new)
        })
        .collect()
}

/// One row of `describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LagRow {
    pub(crate) tp: TopicPartition,
    pub(crate) current: Option<i64>,
    pub(crate) log_end: Option<i64>,
    pub(crate) member: Option<(String, String, String)>,
}

impl LagRow {
    /// Log end minus committed offset, when both are known (never negative).
    pub(crate) fn lag(&self) -> Option<i64> {
        match (self.current, self.log_end) {
            (Some(c), Some(e)) => Some((e - c).max(0)),
            _ => None,
        }
    }
}

/// The rows of a group: every partition it has committed or has assigned, sorted.
pub(crate) fn lag_rows(
    group: &GroupDescription,
    committed: &BTreeMap<TopicPartition, i64>,
    log_end: &BTreeMap<TopicPartition, i64>,
) -> Vec<LagRow> {
    let mut owner: BTreeMap<&TopicPartition, (String, String, String)> = BTreeMap::new();
    for m in &group.members {
        for tp in &m.assignment {
            owner.insert(
                tp,
                (m.member_id.clone(), m.host.clone(), m.client_id.clone()),
            );
        }
    }
    let all: BTreeSet<&TopicPartition> = committed.keys().chain(owner.keys().copied()).collect();
    all.into_iter()
        .map(|tp| LagRow {
            tp: tp.clone(),
            current: committed.get(tp).copied(),
            log_end: log_end.get(tp).copied(),
            member: owner.get(tp).cloned(),
        })
        .collect()
}

pub(crate) fn run(ctx: &mut Ctx, cmd: GroupsCmd) -> Result<(), Failure> {
    match cmd {
        GroupsCmd::List => {
            let groups = ctx.admin.list_groups(ctx.timeout)?;
            let mut table = Table::new(&["GROUP", "TYPE", "STATE"]);
            for g in &groups {
                table.row(vec![
                    g.group_id.clone(),
                    if g.protocol_type.is_empty() {
                        "-".into()
                    } else {
                        g.protocol_type.clone()
                    },
                    opt_cell(g.state.clone()),
                ]);
            }
            let doc: Vec<Value> = groups
                .iter()
                .map(|g| json!({"group": g.group_id, "protocol_type": g.protocol_type, "state": g.state}))
                .collect();
            emit(ctx.format, &json!(doc), || table.render());
            Ok(())
        }
        GroupsCmd::Describe { groups, all_groups } => {
            let ids = if all_groups {
                ctx.admin
                    .list_groups(ctx.timeout)?
                    .into_iter()
                    .map(|g| g.group_id)
                    .collect()
            } else {
                groups
            };
            describe(ctx, &ids)
        }
        GroupsCmd::ResetOffsets {
            group,
            topics,
            all_topics,
            to_earliest,
            to_latest,
            to_offset,
            shift_by,
            to_datetime,
            dry_run: _,
            execute,
        } => {
            let to = if to_earliest {
                ResetTo::Earliest
            } else if to_latest {
                ResetTo::Latest
            } else if let Some(o) = to_offset {
                ResetTo::Offset(o)
            } else if let Some(n) = shift_by {
                ResetTo::ShiftBy(n)
            } else if let Some(d) = to_datetime {
                ResetTo::Datetime(parse::datetime_ms(&d).map_err(Failure::Usage)?)
            } else {
                return Err(Failure::Usage("say where to: --to-earliest, --to-latest, --to-offset, --shift-by or --to-datetime".into()));
            };
            reset(ctx, &group, &topics, all_topics, to, execute)
        }
        GroupsCmd::Delete { groups } => {
            let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
            let results = ctx.admin.delete_groups(&refs, ctx.timeout)?;
            let mut deleted = Vec::new();
            for (g, r) in results {
                match r {
                    Ok(()) => deleted.push(g),
                    Err(e) => ctx.item_failed(&format!("deleting group '{g}'"), &e),
                }
            }
            emit(ctx.format, &json!({"deleted": deleted}), || {
                deleted
                    .iter()
                    .map(|g| format!("Deleted group '{g}'.\n"))
                    .collect()
            });
            Ok(())
        }
    }
}

fn describe(ctx: &mut Ctx, ids: &[String]) -> Result<(), Failure> {
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let descriptions = ctx.admin.describe_groups(&refs, ctx.timeout)?;
    let mut docs = Vec::new();
    let mut text = String::new();
    for d in &descriptions {
        let committed = match ctx
            .admin
            .list_consumer_group_offsets(&d.group_id, ctx.timeout)
        {
            Ok(c) => c,
            Err(e) => {
                ctx.item_failed(&format!("offsets of group '{}'", d.group_id), &e);
                continue;
            }
        };
        if d.state == "Dead" && committed.is_empty() && d.members.is_empty() {
            ctx.item_failed(
                &format!("group '{}'", d.group_id),
                &kafka_client::Error::kafka_with_message(
                    kafka_protocol::ErrorCode::GroupIdNotFound,
                    Some(format!("Consumer group '{}' does not exist.", d.group_id)),
                ),
            );
            continue;
        }
        let rows0 = lag_rows(d, &committed, &BTreeMap::new());
        let specs: Vec<(TopicPartition, OffsetSpec)> = rows0
            .iter()
            .map(|r| (r.tp.clone(), OffsetSpec::Latest))
            .collect();
        let log_end = if specs.is_empty() {
            BTreeMap::new()
        } else {
            match ctx.admin.list_offsets(&specs, ctx.timeout) {
                Ok(ends) => ends,
                Err(e) => {
                    eprintln!(
                        "Warning: group '{}': log end offsets unknown: {e}",
                        d.group_id
                    );
                    BTreeMap::new()
                }
            }
        };
        let rows = lag_rows(d, &committed, &log_end);
        if d.members.is_empty() {
            text.push_str(&format!(
                "\nConsumer group '{}' has no active members.\n",
                d.group_id
            ));
        }
        text.push('\n');
        let mut table = Table::new(&[
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
        ]);
        for r in &rows {
            let (m, h, c) = r
                .member
                .clone()
                .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
            table.row(vec![
                d.group_id.clone(),
                r.tp.topic.to_string(),
                r.tp.partition.to_string(),
                opt_cell(r.current),
                opt_cell(r.log_end),
                opt_cell(r.lag()),
                m,
                h,
                c,
            ]);
        }
        text.push_str(&table.render());
        docs.push(json!({
            "group": d.group_id,
            "state": d.state,
            "protocol_type": d.protocol_type,
            "protocol": d.protocol,
            "coordinator": d.coordinator,
            "members": d.members.iter().map(|m| json!({
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "client_id": m.client_id,
                "host": m.host,
                "assignment": m.assignment.iter().map(|tp| json!({"topic": &*tp.topic, "partition": tp.partition})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "partitions": rows.iter().map(|r| json!({
                "topic": &*r.tp.topic,
                "partition": r.tp.partition,
                "current_offset": opt_json(r.current),
                "log_end_offset": opt_json(r.log_end),
                "lag": opt_json(r.lag()),
                "consumer_id": r.member.as_ref().map(|m| m.0.clone()),
                "host": r.member.as_ref().map(|m| m.1.clone()),
                "client_id": r.member.as_ref().map(|m| m.2.clone()),
            })).collect::<Vec<_>>(),
        }));
    }
    emit(ctx.format, &json!(docs), || text);
    Ok(())
}

/// The partitions reset-offsets acts on: the named ones, every partition of a named topic,
/// or every partition the group has committed.
fn scope(
    ctx: &mut Ctx,
    topics: &[String],
    all_topics: bool,
    committed: &BTreeMap<TopicPartition, i64>,
) -> Result<Vec<TopicPartition>, Failure> {
    if all_topics {
        return Ok(committed.keys().cloned().collect());
    }
    let mut out = BTreeSet::new();
    let mut whole = Vec::new();
    for t in topics {
        match parse::topic_scope(t).map_err(Failure::Usage)? {
            (topic, Some(ps)) => out.extend(
                ps.into_iter()
                    .map(|p| TopicPartition::new(topic.as_str(), p)),
            ),
            (topic, None) => whole.push(topic),
        }
    }
    if !whole.is_empty() {
        let refs: Vec<&str> = whole.iter().map(String::as_str).collect();
        for d in ctx.admin.describe_topics(&refs, ctx.timeout)? {
            out.extend(
                d.partitions
                    .iter()
                    .map(|p| TopicPartition::new(d.name.as_str(), p.partition)),
            );
        }
    }
    Ok(out.into_iter().collect())
}

fn reset(
    ctx: &mut Ctx,
    group: &str,
    topics: &[String],
    all_topics: bool,
    to: ResetTo,
    execute: bool,
) -> Result<(), Failure> {
    let committed = ctx.admin.list_consumer_group_offsets(group, ctx.timeout)?;
    let partitions = scope(ctx, topics, all_topics, &committed)?;
    if partitions.is_empty() {
        return Err(Failure::Usage(format!(
            "group '{group}': no partitions to reset"
        )));
    }
    let spec = |s: OffsetSpec| {
        partitions
            .iter()
            .map(|tp| (tp.clone(), s))
            .collect::<Vec<_>>()
    };
    let earliest = ctx
        .admin
        .list_offsets(&spec(OffsetSpec::Earliest), ctx.timeout)?;
    let latest = ctx
        .admin
        .list_offsets(&spec(OffsetSpec::Latest), ctx.timeout)?;
    let at_time = match to {
        ResetTo::Datetime(ms) => ctx
            .admin
            .list_offsets(&spec(OffsetSpec::Timestamp(ms)), ctx.timeout)?,
        _ => BTreeMap::new(),
    };
    let plan = reset_plan(to, &partitions, &committed, &earliest, &latest, &at_time);
    let mut new_offsets = Vec::new();
    for (tp, r) in &plan {
        match r {
            Ok(o) => new_offsets.push((tp.clone(), *o)),
            Err(m) => ctx.item_failed(
                &format!("group '{group}'"),
                &kafka_client::Error::Other(m.clone()),
            ),
        }
    }
    if execute {
        // As Kafka's tool: offsets of a group with members would be overwritten by its next
        // commit, and the coordinator refuses commits from outside an active group anyway.
        let state = ctx
            .admin
            .describe_groups(&[group], ctx.timeout)?
            .into_iter()
            .next()
            .map(|d| d.state)
            .unwrap_or_default();
        if state != "Empty" && state != "Dead" {
            return Err(Failure::Refused(format!(
                "Assignments can only be reset if the group '{group}' is inactive, but the current state is {state}."
            )));
        }
        let results = ctx
            .admin
            .alter_consumer_group_offsets(group, &new_offsets, ctx.timeout)?;
        let failed: BTreeSet<TopicPartition> = results
            .iter()
            .filter_map(|(tp, r)| r.as_ref().err().map(|e| (tp, e)))
            .map(|(tp, e)| {
                ctx.item_failed(&format!("group '{group}' {tp}"), e);
                tp.clone()
            })
            .collect();
        new_offsets.retain(|(tp, _)| !failed.contains(tp));
    }
    let mut table = Table::new(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]);
    for (tp, o) in &new_offsets {
        table.row(vec![
            group.to_string(),
            tp.topic.to_string(),
            tp.partition.to_string(),
            o.to_string(),
        ]);
    }
    let doc = json!({
        "group": group,
        "executed": execute,
        "partitions": new_offsets.iter().map(|(tp, o)| json!({
            "topic": &*tp.topic,
            "partition": tp.partition,
            "previous_offset": opt_json(committed.get(tp).copied()),
            "new_offset": o,
        })).collect::<Vec<_>>(),
    });
    emit(ctx.format, &doc, || {
        let note = if execute {
            ""
        } else {
            "(dry run: nothing committed; add --execute to commit)\n"
        };
        format!("{}{note}", table.render())
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_client::admin::MemberDescription;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn map(v: &[(i32, i64)]) -> BTreeMap<TopicPartition, i64> {
        v.iter().map(|(p, o)| (tp(*p), *o)).collect()
    }

    #[test]
    fn reset_plans_stay_within_the_log() {
        let parts = [tp(0), tp(1)];
        let committed = map(&[(0, 5)]);
        let lo = map(&[(0, 2), (1, 0)]);
        let hi = map(&[(0, 10), (1, 4)]);
        let none = BTreeMap::new();
        let plan = |to, at: &BTreeMap<_, _>| {
            reset_plan(to, &parts, &committed, &lo, &hi, at)
                .into_iter()
                .map(|(_, r)| r.ok())
                .collect::<Vec<_>>()
        };
        assert_eq!(plan(ResetTo::Earliest, &none), [Some(2), Some(0)]);
        assert_eq!(plan(ResetTo::Latest, &none), [Some(10), Some(4)]);
        assert_eq!(plan(ResetTo::Offset(7), &none), [Some(7), Some(4)]);
        assert_eq!(plan(ResetTo::Offset(-5), &none), [Some(2), Some(0)]);
        assert_eq!(plan(ResetTo::ShiftBy(-4), &none), [Some(2), None]);
        assert_eq!(plan(ResetTo::ShiftBy(100), &none), [Some(10), None]);
        assert_eq!(
            plan(ResetTo::Datetime(1), &map(&[(0, 3), (1, -1)])),
            [Some(3), Some(4)]
        );
        let missing = reset_plan(ResetTo::Earliest, &[tp(9)], &committed, &lo, &hi, &none);
        assert!(missing[0].1.is_err());
    }

    #[test]
    fn lag_rows_join_offsets_and_members() {
        let group = GroupDescription {
            group_id: "g".into(),
            state: "Stable".into(),
            protocol_type: "consumer".into(),
            protocol: "range".into(),
            members: vec![MemberDescription {
                member_id: "m-1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                host: "/127.0.0.1".into(),
                assignment: vec![tp(1)],
            }],
            coordinator: 0,
        };
        let rows = lag_rows(&group, &map(&[(0, 3), (1, 8)]), &map(&[(0, 10), (1, 8)]));
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].current, rows[0].log_end, rows[0].lag()),
            (Some(3), Some(10), Some(7))
        );
        assert_eq!(rows[0].member, None);
        assert_eq!(rows[1].lag(), Some(0));
        assert_eq!(rows[1].member.as_ref().map(|m| m.0.as_str()), Some("m-1"));
        // Assigned but never committed: no current offset, no lag.
        let rows = lag_rows(&group, &BTreeMap::new(), &map(&[(1, 8)]));
        assert_eq!((rows[0].current, rows[0].lag()), (None, None));
    }
}
