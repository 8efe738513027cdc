//! `configs`: kafka-configs' describe and alter for topics, brokers, the cluster-wide broker
//! default and broker loggers.

use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use kafka_client::admin::{
    AlterConfigOp, ConfigEntry, ConfigResource, ConfigResourceType, ConfigSource,
};
use serde_json::json;

use crate::output::{emit, Table};
use crate::{parse, Ctx, Failure};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EntityType {
    /// Topics.
    Topics,
    /// Brokers (a broker id, or --entity-default for the cluster-wide default).
    Brokers,
    /// A broker's loggers.
    BrokerLoggers,
}

/// Which resource: kafka-configs' `--entity-type/--entity-name/--entity-default` or the
/// shortcuts `--topic`, `--broker`, `--broker-defaults`.
#[derive(Debug, ClapArgs)]
pub(crate) struct Entity {
    /// The kind of resource.
    #[arg(long = "entity-type", value_enum)]
    entity_type: Option<EntityType>,
    /// The topic name or broker id.
    #[arg(long = "entity-name")]
    entity_name: Option<String>,
    /// The cluster-wide default of broker configs (resource name "").
    #[arg(long = "entity-default")]
    entity_default: bool,
    /// Shortcut for --entity-type topics --entity-name TOPIC.
    #[arg(long, conflicts_with_all = ["entity_type", "broker", "broker_defaults"])]
    topic: Option<String>,
    /// Shortcut for --entity-type brokers --entity-name ID.
    #[arg(long, conflicts_with_all = ["entity_type", "broker_defaults"])]
    broker: Option<String>,
    /// Shortcut for --entity-type brokers --entity-default.
    #[arg(long = "broker-defaults", conflicts_with = "entity_type")]
    broker_defaults: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigsCmd {
    /// Show configuration (overrides only, unless --all).
    Describe {
        #[command(flatten)]
        entity: Entity,
        /// Every key with its value and source, not only the overrides.
        #[arg(long)]
        all: bool,
    },
    /// Set and remove configuration keys (IncrementalAlterConfigs).
    Alter {
        #[command(flatten)]
        entity: Entity,
        /// key=value pairs to set, comma separated; `k=[a,b]` for list values.
        #[arg(long = "add-config")]
        add_config: Vec<String>,
        /// Keys whose override to remove, comma separated.
        #[arg(long = "delete-config")]
        delete_config: Vec<String>,
        /// Only ask the broker whether the change is valid.
        #[arg(long = "validate-only")]
        validate_only: bool,
    },
}

/// The resources an entity selection names; `None` for "every one of the kind" (describe
/// without a name).
fn resources(e: &Entity) -> Result<Option<(ConfigResourceType, Option<String>)>, String> {
    if let Some(t) = &e.topic {
        return Ok(Some((ConfigResourceType::Topic, Some(t.clone()))));
    }
    if let Some(b) = &e.broker {
        return Ok(Some((ConfigResourceType::Broker, Some(b.clone()))));
    }
    if e.broker_defaults {
        return Ok(Some((ConfigResourceType::Broker, Some(String::new()))));
    }
    let Some(kind) = e.entity_type else {
        return Ok(None);
    };
    let kind = match kind {
        EntityType::Topics => ConfigResourceType::Topic,
        EntityType::Brokers => ConfigResourceType::Broker,
        EntityType::BrokerLoggers => ConfigResourceType::BrokerLogger,
    };
    match (&e.entity_name, e.entity_default) {
        (Some(_), true) => Err("--entity-name and --entity-default exclude each other".into()),
        (Some(n), false) => Ok(Some((kind, Some(n.clone())))),
        (None, true) if kind == ConfigResourceType::Broker => Ok(Some((kind, Some(String::new())))),
        (None, true) => Err("--entity-default applies to brokers only".into()),
        (None, false) => Ok(Some((kind, None))),
    }
}

/// Whether an entry is an override of the resource (what kafka-configs describes by default).
pub(crate) fn is_override(e: &ConfigEntry) -> bool {
    match e.source {
        ConfigSource::DynamicTopicConfig
        | ConfigSource::DynamicBrokerConfig
        | ConfigSource::DynamicDefaultBrokerConfig
        | ConfigSource::DynamicBrokerLoggerConfig => true,
        ConfigSource::Unknown => !e.is_default,
        ConfigSource::StaticBrokerConfig | ConfigSource::DefaultConfig => false,
    }
}

fn source_name(s: ConfigSource) -> &'static str {
    match s {
        ConfigSource::DynamicTopicConfig => "DYNAMIC_TOPIC_CONFIG",
        ConfigSource::DynamicBrokerConfig => "DYNAMIC_BROKER_CONFIG",
        ConfigSource::DynamicDefaultBrokerConfig => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        ConfigSource::StaticBrokerConfig => "STATIC_BROKER_CONFIG",
        ConfigSource::DefaultConfig => "DEFAULT_CONFIG",
        ConfigSource::DynamicBrokerLoggerConfig => "DYNAMIC_BROKER_LOGGER_CONFIG",
        ConfigSource::Unknown => "UNKNOWN",
    }
}

/// `--add-config` and `--delete-config` as alter operations.
pub(crate) fn alter_ops(add: &[String], delete: &[String]) -> Result<Vec<AlterConfigOp>, String> {
    let mut ops = Vec::new();
    for a in add {
        for (k, v) in parse::config_pairs(a)? {
            ops.push(AlterConfigOp::set(k, v));
        }
    }
    for d in delete {
        for k in parse::names(d) {
            ops.push(AlterConfigOp::delete(k));
        }
    }
    if ops.is_empty() {
        return Err("nothing to change: give --add-config and/or --delete-config".into());
    }
    Ok(ops)
}

fn label(r: &ConfigResource) -> String {
    match r.kind {
        ConfigResourceType::Broker if r.name.is_empty() => "default broker".to_string(),
        _ => r.to_string(),
    }
}

pub(crate) fn run(ctx: &mut Ctx, cmd: ConfigsCmd) -> Result<(), Failure> {
    match cmd {
        ConfigsCmd::Describe { entity, all } => {
            let (kind, name) = resources(&entity)
                .map_err(Failure::Usage)?
                .ok_or_else(|| Failure::Usage("say which entity: --entity-type/--entity-name, --topic, --broker or --broker-defaults".into()))?;
            let targets: Vec<ConfigResource> = match name {
                Some(n) => vec![ConfigResource { kind, name: n }],
                None => match kind {
                    ConfigResourceType::Topic => ctx
                        .admin
                        .list_topics(false, ctx.timeout)?
                        .into_iter()
                        .map(ConfigResource::topic)
                        .collect(),
                    _ => ctx
                        .admin
                        .describe_cluster(ctx.timeout)?
                        .nodes
                        .iter()
                        .map(|n| ConfigResource {
                            kind,
                            name: n.id.to_string(),
                        })
                        .collect(),
                },
            };
            let results = ctx.admin.describe_configs(&targets, ctx.timeout)?;
            let mut docs = Vec::new();
            let mut text = String::new();
            for (res, r) in results {
                let entries = match r {
                    Ok(entries) => entries,
                    Err(e) => {
                        ctx.item_failed(&format!("describing {}", label(&res)), &e);
                        continue;
                    }
                };
                let shown: Vec<&ConfigEntry> =
                    entries.iter().filter(|e| all || is_override(e)).collect();
                let mut table = Table::new(&["NAME", "VALUE", "SOURCE", "READ-ONLY", "SENSITIVE"]);
                for e in &shown {
                    table.row(vec![
                        e.name.clone(),
                        e.value.clone().unwrap_or_else(|| {
                            if e.sensitive {
                                "<sensitive>".into()
                            } else {
                                "null".into()
                            }
                        }),
                        source_name(e.source).to_string(),
                        e.read_only.to_string(),
                        e.sensitive.to_string(),
                    ]);
                }
                let what = if all { "All" } else { "Dynamic" };
                text.push_str(&format!("{what} configs for {} are:\n", label(&res)));
                if !table.is_empty() {
                    text.push_str(&table.render());
                }
                docs.push(json!({
                    "entity_type": match res.kind {
                        ConfigResourceType::Topic => "topics",
                        ConfigResourceType::Broker => "brokers",
                        ConfigResourceType::BrokerLogger => "broker-loggers",
                    },
                    "entity_name": res.name,
                    "configs": shown.iter().map(|e| json!({
                        "name": e.name,
                        "value": e.value,
                        "source": source_name(e.source),
                        "is_default": e.is_default,
                        "read_only": e.read_only,
                        "sensitive": e.sensitive,
                    })).collect::<Vec<_>>(),
                }));
            }
            emit(ctx.format, &json!(docs), || text);
            Ok(())
        }
        ConfigsCmd::Alter {
            entity,
            add_config,
            delete_config,
            validate_only,
        } => {
            let (kind, name) = resources(&entity).map_err(Failure::Usage)?.ok_or_else(|| {
                Failure::Usage("say which entity: --entity-type with --entity-name or --entity-default, --topic, --broker or --broker-defaults".into())
            })?;
            let name = name.ok_or_else(|| {
                Failure::Usage("alter needs --entity-name (or --entity-default for brokers)".into())
            })?;
            let ops = alter_ops(&add_config, &delete_config).map_err(Failure::Usage)?;
            let res = ConfigResource { kind, name };
            let results = ctx.admin.incremental_alter_configs(
                &[(res.clone(), ops)],
                validate_only,
                ctx.timeout,
            )?;
            let mut done = Vec::new();
            for (r, result) in results {
                match result {
                    Ok(()) => done.push(r),
                    Err(e) => ctx.item_failed(&format!("altering {}", label(&r)), &e),
                }
            }
            emit(
                ctx.format,
                &json!(done.iter().map(|r| json!({"entity_name": r.name, "altered": !validate_only, "validated": true})).collect::<Vec<_>>()),
                || {
                    done.iter()
                        .map(|r| {
                            if validate_only {
                                format!("Validated the changes to {} (nothing altered).\n", label(r))
                            } else {
                                format!("Completed updating config for {}.\n", label(r))
                            }
                        })
                        .collect()
                },
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity() -> Entity {
        Entity {
            entity_type: None,
            entity_name: None,
            entity_default: false,
            topic: None,
            broker: None,
            broker_defaults: false,
        }
    }

    #[test]
    fn entities_name_resources() {
        let e = Entity {
            topic: Some("t".into()),
            ..entity()
        };
        assert_eq!(
            resources(&e).unwrap(),
            Some((ConfigResourceType::Topic, Some("t".into())))
        );
        let e = Entity {
            entity_type: Some(EntityType::Brokers),
            entity_default: true,
            ..entity()
        };
        assert_eq!(
            resources(&e).unwrap(),
            Some((ConfigResourceType::Broker, Some(String::new())))
        );
        let e = Entity {
            entity_type: Some(EntityType::Topics),
            entity_default: true,
            ..entity()
        };
        assert!(resources(&e).is_err());
        assert_eq!(resources(&entity()).unwrap(), None);
    }

    #[test]
    fn alter_ops_from_kafka_configs_syntax() {
        let ops = alter_ops(
            &["retention.ms=1000,cleanup.policy=[compact,delete]".into()],
            &["segment.ms, x".into()],
        )
        .unwrap();
        assert_eq!(
            ops,
            [
                AlterConfigOp::set("retention.ms", "1000"),
                AlterConfigOp::set("cleanup.policy", "compact,delete"),
                AlterConfigOp::delete("segment.ms"),
                AlterConfigOp::delete("x"),
            ]
        );
        assert!(alter_ops(&[], &[]).is_err());
    }

    #[test]
    fn overrides_are_the_dynamic_entries() {
        let entry = |source, is_default| ConfigEntry {
            name: "k".into(),
            value: Some("v".into()),
            source,
            is_default,
            read_only: false,
            sensitive: false,
        };
        assert!(is_override(&entry(ConfigSource::DynamicTopicConfig, false)));
        assert!(!is_override(&entry(ConfigSource::DefaultConfig, true)));
        assert!(!is_override(&entry(
            ConfigSource::StaticBrokerConfig,
            false
        )));
        assert!(is_override(&entry(ConfigSource::Unknown, false)));
    }
}
