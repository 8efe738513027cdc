//! `topics`: kafka-topics' list, describe, create, delete and alter (add partitions).

use clap::Subcommand;
use kafka_client::admin::{ConfigResource, NewTopic};
use kafka_protocol::ErrorCode;
use serde_json::{json, Value};

use crate::output::{emit, Table};
use crate::{parse, Ctx, Failure};

#[derive(Debug, Subcommand)]
pub(crate) enum TopicsCmd {
    /// The names of all topics.
    List {
        /// Leave out internal topics (__consumer_offsets).
        #[arg(long = "exclude-internal")]
        exclude_internal: bool,
    },
    /// Partitions, leaders, replicas, in-sync replicas and config overrides.
    Describe {
        /// The topics (repeatable or comma separated); all when none is given.
        #[arg(long = "topic", value_delimiter = ',')]
        topics: Vec<String>,
        /// Leave out internal topics when describing all.
        #[arg(long = "exclude-internal")]
        exclude_internal: bool,
    },
    /// Create a topic.
    Create {
        /// The topic.
        #[arg(long)]
        topic: String,
        /// Partitions (default: the broker's num.partitions).
        #[arg(long)]
        partitions: Option<i32>,
        /// Replicas of each partition (default: the broker's default.replication.factor).
        #[arg(long = "replication-factor")]
        replication_factor: Option<i16>,
        /// A topic config override key=value (repeatable).
        #[arg(long = "config")]
        configs: Vec<String>,
        /// Succeed quietly when the topic exists.
        #[arg(long = "if-not-exists")]
        if_not_exists: bool,
        /// Only ask the broker whether it could be created.
        #[arg(long = "validate-only")]
        validate_only: bool,
    },
    /// Delete topics.
    Delete {
        /// The topics (repeatable or comma separated).
        #[arg(long = "topic", value_delimiter = ',', required = true)]
        topics: Vec<String>,
        /// Succeed quietly for topics that do not exist.
        #[arg(long = "if-exists")]
        if_exists: bool,
    },
    /// Raise a topic's partition count.
    Alter {
        /// The topic.
        #[arg(long)]
        topic: String,
        /// The new total number of partitions.
        #[arg(long)]
        partitions: i32,
        /// Only ask the broker whether it could be done.
        #[arg(long = "validate-only")]
        validate_only: bool,
    },
}

pub(crate) fn run(ctx: &mut Ctx, cmd: TopicsCmd) -> Result<(), Failure> {
    match cmd {
        TopicsCmd::List { exclude_internal } => {
            let names = ctx.admin.list_topics(!exclude_internal, ctx.timeout)?;
            emit(ctx.format, &json!(names), || {
                names.iter().map(|n| format!("{n}\n")).collect()
            });
            Ok(())
        }
        TopicsCmd::Describe {
            topics,
            exclude_internal,
        } => describe(ctx, topics, exclude_internal),
        TopicsCmd::Create {
            topic,
            partitions,
            replication_factor,
            configs,
            if_not_exists,
            validate_only,
        } => {
            let mut new = NewTopic::with_defaults(topic.as_str());
            new.num_partitions = partitions;
            new.replication_factor = replication_factor;
            for c in &configs {
                new.configs
                    .extend(parse::config_pairs(c).map_err(Failure::Usage)?);
            }
            let results = ctx
                .admin
                .create_topics(&[new], validate_only, ctx.timeout)?;
            let mut out = Vec::new();
            for (name, r) in results {
                match r {
                    Ok(()) => out.push(json!({"topic": name, "created": !validate_only, "validated": validate_only})),
                    Err(e) if if_not_exists && e.code() == Some(ErrorCode::TopicAlreadyExists) => {
                        out.push(json!({"topic": name, "created": false, "exists": true}));
                    }
                    Err(e) => ctx.item_failed(&format!("creating topic '{name}'"), &e),
                }
            }
            emit(ctx.format, &json!(out), || {
                out.iter()
                    .map(|v| {
                        let name = v["topic"].as_str().unwrap_or_default();
                        if v["exists"] == Value::Bool(true) {
                            format!("Topic {name} already exists.\n")
                        } else if validate_only {
                            format!("Topic {name} could be created (validated only).\n")
                        } else {
                            format!("Created topic {name}.\n")
                        }
                    })
                    .collect()
            });
            Ok(())
        }
        TopicsCmd::Delete { topics, if_exists } => {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            let results = ctx.admin.delete_topics(&names, ctx.timeout)?;
            let mut deleted = Vec::new();
            for (name, r) in results {
                match r {
                    Ok(()) => deleted.push(name),
                    Err(e) if if_exists && e.code() == Some(ErrorCode::UnknownTopicOrPartition) => {
                    }
                    Err(e) => ctx.item_failed(&format!("deleting topic '{name}'"), &e),
                }
            }
            emit(ctx.format, &json!({"deleted": deleted}), || {
                deleted
                    .iter()
                    .map(|n| format!("Deleted topic {n}.\n"))
                    .collect()
            });
            Ok(())
        }
        TopicsCmd::Alter {
            topic,
            partitions,
            validate_only,
        } => {
            let results = ctx.admin.create_partitions(
                &[(topic.as_str(), partitions)],
                validate_only,
                ctx.timeout,
            )?;
            let mut ok = Vec::new();
            for (name, r) in results {
                match r {
                    Ok(()) => ok.push(name),
                    Err(e) => ctx.item_failed(&format!("adding partitions to '{name}'"), &e),
                }
            }
            emit(
                ctx.format,
                &json!(ok.iter().map(|t| json!({"topic": t, "partitions": partitions, "validated_only": validate_only})).collect::<Vec<_>>()),
                || {
                    ok.iter()
                        .map(|t| format!("Topic {t} now has {partitions} partitions{}.\n", if validate_only { " (validated only)" } else { "" }))
                        .collect()
                },
            );
            Ok(())
        }
    }
}

fn describe(ctx: &mut Ctx, topics: Vec<String>, exclude_internal: bool) -> Result<(), Failure> {
    let names = if topics.is_empty() {
        ctx.admin.list_topics(!exclude_internal, ctx.timeout)?
    } else {
        topics
    };
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let descriptions = ctx.admin.describe_topics(&refs, ctx.timeout)?;
    // Overrides only, as kafka-topics prints them; a failure here does not hide the layout.
    let resources: Vec<ConfigResource> = names.iter().map(ConfigResource::topic).collect();
    let configs = match ctx.admin.describe_configs(&resources, ctx.timeout) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Warning: topic configs not described: {e}");
            Vec::new()
        }
    };
    let overrides = |topic: &str| -> Vec<(String, String)> {
        configs
            .iter()
            .find(|(r, _)| r.name == topic)
            .and_then(|(_, r)| r.as_ref().ok())
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| crate::configs::is_override(e))
                    .map(|e| {
                        (
                            e.name.clone(),
                            e.value.clone().unwrap_or_else(|| "<sensitive>".into()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut docs = Vec::new();
    let mut text = String::new();
    for d in &descriptions {
        let rf = d.partitions.first().map_or(0, |p| p.replicas.len());
        let cfg = overrides(&d.name);
        let cfg_text: Vec<String> = cfg.iter().map(|(k, v)| format!("{k}={v}")).collect();
        text.push_str(&format!(
            "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}\n",
            d.name,
            d.id,
            d.partitions.len(),
            rf,
            cfg_text.join(",")
        ));
        let mut table = Table::new(&["", "PARTITION", "LEADER", "REPLICAS", "ISR"]);
        let join = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        for p in &d.partitions {
            table.row(vec![
                String::new(),
                p.partition.to_string(),
                p.leader
                    .map_or_else(|| "none".to_string(), |l| l.to_string()),
                join(&p.replicas),
                join(&p.isr),
            ]);
        }
        text.push_str(&table.render());
        docs.push(json!({
            "topic": d.name,
            "topic_id": d.id.to_string(),
            "internal": d.internal,
            "partition_count": d.partitions.len(),
            "replication_factor": rf,
            "configs": cfg.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
            "partitions": d.partitions.iter().map(|p| json!({
                "partition": p.partition,
                "leader": p.leader,
                "replicas": p.replicas,
                "isr": p.isr,
            })).collect::<Vec<_>>(),
        }));
    }
    emit(ctx.format, &json!(docs), || text);
    Ok(())
}
