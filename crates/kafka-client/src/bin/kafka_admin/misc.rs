//! `cluster`, `offsets` (kafka-get-offsets), `delete-records` (kafka-delete-records), and
//! `quotas` and `users`, whose APIs this client does not speak yet.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::{Args as ClapArgs, Subcommand};
use kafka_client::admin::OffsetSpec;
use kafka_client::TopicPartition;
use serde_json::json;

use crate::output::{emit, opt_cell, Table};
use crate::{parse, Ctx, Failure};

#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCmd {
    /// Cluster id, controller and brokers.
    Describe,
}

#[derive(Debug, Subcommand)]
pub(crate) enum QuotasCmd {
    /// Show client quotas (DescribeClientQuotas).
    Describe {
        /// users, clients or ips.
        #[arg(long = "entity-type")]
        entity_type: Option<String>,
        /// The entity's name.
        #[arg(long = "entity-name")]
        entity_name: Option<String>,
    },
    /// Set or remove client quotas (AlterClientQuotas).
    Alter {
        /// users, clients or ips.
        #[arg(long = "entity-type")]
        entity_type: String,
        /// The entity's name (or --entity-default).
        #[arg(long = "entity-name")]
        entity_name: Option<String>,
        /// The default quota of the entity type.
        #[arg(long = "entity-default")]
        entity_default: bool,
        /// Quotas to set, e.g. producer_byte_rate=1024,consumer_byte_rate=2048.
        #[arg(long = "add-config")]
        add_config: Vec<String>,
        /// Quotas to remove.
        #[arg(long = "delete-config")]
        delete_config: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCmd {
    /// Show a user's SCRAM mechanisms (DescribeUserScramCredentials).
    Describe {
        /// The users (all when none is given).
        #[arg(long = "user")]
        users: Vec<String>,
    },
    /// Add or remove SCRAM credentials (AlterUserScramCredentials).
    Alter {
        /// The user.
        #[arg(long)]
        user: String,
        /// e.g. SCRAM-SHA-256=[iterations=8192,password=secret].
        #[arg(long = "add-config")]
        add_config: Vec<String>,
        /// e.g. SCRAM-SHA-256.
        #[arg(long = "delete-config")]
        delete_config: Vec<String>,
    },
}

#[derive(Debug, ClapArgs)]
pub(crate) struct OffsetsArgs {
    /// The topics (repeatable or comma separated); all non-internal ones when none.
    #[arg(long = "topic", value_delimiter = ',')]
    topics: Vec<String>,
    /// Only these partitions (0,1,5-7).
    #[arg(long)]
    partitions: Option<String>,
    /// earliest (-2), latest (-1, the default), milliseconds since the epoch, or
    /// `YYYY-MM-DDTHH:mm:SS[.sss][zone]`.
    #[arg(long, default_value = "latest", allow_hyphen_values = true)]
    time: String,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct DeleteRecordsArgs {
    /// Kafka's JSON file: {"partitions": [{"topic": "t", "partition": 0, "offset": 5}]}.
    #[arg(long = "offset-json-file", conflicts_with_all = ["topic", "partition", "offset"])]
    offset_json_file: Option<PathBuf>,
    /// The topic.
    #[arg(long, requires = "offset")]
    topic: Option<String>,
    /// Only these partitions (0,1,5-7); all of the topic's without.
    #[arg(long)]
    partition: Option<String>,
    /// Delete the records before this offset (-1: all, up to the high watermark).
    #[arg(long, allow_hyphen_values = true)]
    offset: Option<i64>,
}

/// The answer for the APIs this tool cannot send yet: the protocol crate has no
/// DescribeClientQuotas/AlterClientQuotas (48, 49) or DescribeUserScramCredentials/
/// AlterUserScramCredentials (50, 51) messages.
fn not_spoken(what: &str, apis: &str) -> Failure {
    Failure::Unsupported(format!(
        "{what}: {apis}: not implemented by this tool's protocol codec yet (and this broker \
         does not offer them either)"
    ))
}

pub(crate) fn quotas(_ctx: &mut Ctx, cmd: QuotasCmd) -> Result<(), Failure> {
    match cmd {
        QuotasCmd::Describe { .. } => Err(not_spoken(
            "quotas describe",
            "DescribeClientQuotas (API key 48)",
        )),
        QuotasCmd::Alter {
            add_config,
            delete_config,
            ..
        } => {
            crate::configs::alter_ops(&add_config, &delete_config).map_err(Failure::Usage)?;
            Err(not_spoken("quotas alter", "AlterClientQuotas (API key 49)"))
        }
    }
}

pub(crate) fn users(_ctx: &mut Ctx, cmd: UsersCmd) -> Result<(), Failure> {
    match cmd {
        UsersCmd::Describe { .. } => Err(not_spoken(
            "users describe",
            "DescribeUserScramCredentials (API key 50)",
        )),
        UsersCmd::Alter {
            add_config,
            delete_config,
            ..
        } => {
            crate::configs::alter_ops(&add_config, &delete_config).map_err(Failure::Usage)?;
            Err(not_spoken(
                "users alter",
                "AlterUserScramCredentials (API key 51)",
            ))
        }
    }
}

pub(crate) fn cluster(ctx: &mut Ctx, cmd: ClusterCmd) -> Result<(), Failure> {
    match cmd {
        ClusterCmd::Describe => {
            let c = ctx.admin.describe_cluster(ctx.timeout)?;
            let mut table = Table::new(&["ID", "HOST", "PORT", "RACK", "CONTROLLER"]);
            let controller = c.controller.as_ref().map(|n| n.id);
            for n in &c.nodes {
                table.row(vec![
                    n.id.to_string(),
                    n.host.clone(),
                    n.port.to_string(),
                    opt_cell(n.rack.clone()),
                    (Some(n.id) == controller).to_string(),
                ]);
            }
            let doc = json!({
                "cluster_id": c.cluster_id,
                "controller": controller,
                "brokers": c.nodes.iter().map(|n| json!({
                    "id": n.id, "host": n.host, "port": n.port, "rack": n.rack,
                })).collect::<Vec<_>>(),
            });
            emit(ctx.format, &doc, || {
                format!(
                    "Cluster ID: {}\nController: {}\n{}",
                    c.cluster_id.as_deref().unwrap_or("-"),
                    opt_cell(controller),
                    table.render()
                )
            });
            Ok(())
        }
    }
}

/// Every partition of `topics` (all non-internal topics when empty), limited to `only`.
fn partitions_of(
    ctx: &mut Ctx,
    topics: &[String],
    only: Option<&[i32]>,
) -> Result<Vec<TopicPartition>, Failure> {
    let names = if topics.is_empty() {
        ctx.admin.list_topics(false, ctx.timeout)?
    } else {
        topics.to_vec()
    };
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for d in ctx.admin.describe_topics(&refs, ctx.timeout)? {
        for p in &d.partitions {
            seen.insert(p.partition);
            if only.is_none_or(|o| o.contains(&p.partition)) {
                out.push(TopicPartition::new(d.name.as_str(), p.partition));
            }
        }
    }
    if let Some(missing) = only.and_then(|o| o.iter().find(|p| !seen.contains(p))) {
        return Err(Failure::Usage(format!(
            "partition {missing} does not exist"
        )));
    }
    Ok(out)
}

pub(crate) fn offsets(ctx: &mut Ctx, a: OffsetsArgs) -> Result<(), Failure> {
    let spec = parse::offset_spec(&a.time).map_err(Failure::Usage)?;
    let only = a
        .partitions
        .as_deref()
        .map(parse::partitions)
        .transpose()
        .map_err(Failure::Usage)?;
    let parts = partitions_of(ctx, &a.topics, only.as_deref())?;
    let asked: Vec<(TopicPartition, OffsetSpec)> =
        parts.iter().map(|tp| (tp.clone(), spec)).collect();
    let found = if asked.is_empty() {
        Default::default()
    } else {
        ctx.admin.list_offsets(&asked, ctx.timeout)?
    };
    let mut table = Table::new(&["TOPIC", "PARTITION", "OFFSET"]);
    let mut doc = Vec::new();
    for tp in &parts {
        // -1 for a time after the last record, as kafka-get-offsets prints it.
        let o = found.get(tp).copied().unwrap_or(-1);
        table.row(vec![
            tp.topic.to_string(),
            tp.partition.to_string(),
            o.to_string(),
        ]);
        doc.push(json!({"topic": &*tp.topic, "partition": tp.partition, "offset": o}));
    }
    emit(ctx.format, &json!(doc), || table.render());
    Ok(())
}

pub(crate) fn delete_records(ctx: &mut Ctx, a: DeleteRecordsArgs) -> Result<(), Failure> {
    let before: Vec<(TopicPartition, i64)> =
        match (&a.offset_json_file, &a.topic, a.offset) {
            (Some(path), _, _) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
                parse::delete_records_file(&text)
                    .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?
            }
            (None, Some(topic), Some(offset)) => {
                if offset < -1 {
                    return Err(Failure::Usage("--offset must be -1 or more".into()));
                }
                let only = a
                    .partition
                    .as_deref()
                    .map(parse::partitions)
                    .transpose()
                    .map_err(Failure::Usage)?;
                partitions_of(ctx, std::slice::from_ref(topic), only.as_deref())?
                    .into_iter()
                    .map(|tp| (tp, offset))
                    .collect()
            }
            _ => return Err(Failure::Usage(
                "give --offset-json-file, or --topic with --offset (and optionally --partition)"
                    .into(),
            )),
        };
    let results = ctx.admin.delete_records(&before, ctx.timeout)?;
    let mut table = Table::new(&["TOPIC", "PARTITION", "LOW-WATERMARK"]);
    let mut doc = Vec::new();
    for (tp, r) in results {
        match r {
            Ok(low) => {
                table.row(vec![
                    tp.topic.to_string(),
                    tp.partition.to_string(),
                    low.to_string(),
                ]);
                doc.push(
                    json!({"topic": &*tp.topic, "partition": tp.partition, "low_watermark": low}),
                );
            }
            Err(e) => ctx.item_failed(&format!("deleting records of {tp}"), &e),
        }
    }
    emit(ctx.format, &json!(doc), || table.render());
    Ok(())
}
