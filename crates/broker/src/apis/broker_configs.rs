//! The BROKER resource of DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: this
//! broker's configuration with where each value comes from, and dynamic changes
//! ([`crate::dynamic`]).

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::ErrorCode;

use super::BrokerState;
use crate::config::{resolve, ConfigKey, Support, Type, Update, KEYS};
use crate::dynamic::{AlterError, Scope};

/// Kafka's config sources.
pub(super) const SOURCE_DYNAMIC_BROKER: i8 = 2;
pub(super) const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
pub(super) const SOURCE_STATIC_BROKER: i8 = 4;
pub(super) const SOURCE_DEFAULT: i8 = 5;

/// Kafka's config types.
fn config_type(kind: Type) -> i8 {
    match kind {
        Type::Bool => 1,
        Type::String => 2,
        Type::Int => 3,
        Type::Long => 5,
        Type::List => 7,
        Type::Password => 9,
    }
}

/// Keys that set the same thing, most precise first (Kafka's synonyms).
fn synonyms(key: &str) -> &[&'static str] {
    const RETENTION: &[&str] = &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ];
    const ROLL: &[&str] = &["log.roll.ms", "log.roll.hours"];
    match key {
        "log.retention.ms" => RETENTION,
        "log.roll.ms" => ROLL,
        _ => &[],
    }
}

/// Where `key` (or a synonym) is set, in precedence order: (name, source, raw value). Empty
/// when only defaults apply.
pub(super) fn broker_sources(state: &BrokerState, key: &str) -> Vec<(String, i8, String)> {
    let dynamic = state.dynamic.dynamic();
    let own = dynamic.scope(Scope::Broker(state.dynamic.node_id()));
    let static_values = state.dynamic.static_config().values();
    let names: Vec<&str> = match synonyms(key) {
        [] => vec![key],
        names => names.to_vec(),
    };
    let mut out = Vec::new();
    for (source, values) in [
        (SOURCE_DYNAMIC_BROKER, &own),
        (SOURCE_DYNAMIC_DEFAULT_BROKER, &dynamic.cluster_default),
        (SOURCE_STATIC_BROKER, static_values),
    ] {
        for name in &names {
            if let Some(v) = values.get(*name) {
                out.push((name.to_string(), source, v.clone()));
            }
        }
    }
    out
}

fn entry(
    def: &ConfigKey,
    name: &str,
    value: Option<String>,
    source: i8,
    synonyms: Vec<DescribeConfigsSynonym>,
    documentation: bool,
) -> DescribeConfigsResourceResult {
    let sensitive = def.kind == Type::Password;
    DescribeConfigsResourceResult::default()
        .with_name(name.to_string())
        .with_value(if sensitive { None } else { value })
        .with_read_only(def.update == Update::ReadOnly)
        .with_config_source(source)
        .with_is_sensitive(sensitive)
        .with_config_type(config_type(def.kind))
        .with_synonyms(synonyms)
        .with_documentation(documentation.then(|| def.doc.to_string()))
}

fn synonym(
    name: &str,
    value: Option<String>,
    source: i8,
    sensitive: bool,
) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(name.to_string())
        .with_value(if sensitive { None } else { value })
        .with_source(source)
}

/// DescribeConfigs of a BROKER resource: every key with its effective value and source for
/// this broker's id; only the cluster-wide dynamic values for the default resource (""), as
/// Kafka answers.
pub(super) fn describe(
    state: &BrokerState,
    result: DescribeConfigsResult,
    keys: Option<&[String]>,
    include_synonyms: bool,
    include_documentation: bool,
) -> DescribeConfigsResult {
    let scope = match state.dynamic.scope_of(&result.resource_name) {
        Ok(s) => s,
        Err((code, msg)) => {
            return result
                .with_error_code(code.code())
                .with_error_message(Some(msg))
        }
    };
    let wanted = |name: &str| keys.is_none_or(|k| k.iter().any(|x| x == name));
    let mut configs = Vec::new();
    if scope == Scope::ClusterDefault {
        for (name, value) in state.dynamic.dynamic().cluster_default {
            let Some(def) = resolve(&name) else { continue };
            if !wanted(&name) {
                continue;
            }
            let syn = if include_synonyms {
                vec![synonym(
                    &name,
                    Some(value.clone()),
                    SOURCE_DYNAMIC_DEFAULT_BROKER,
                    def.kind == Type::Password,
                )]
            } else {
                Vec::new()
            };
            configs.push(entry(
                def,
                &name,
                Some(value),
                SOURCE_DYNAMIC_DEFAULT_BROKER,
                syn,
                include_documentation,
            ));
        }
        return result.with_configs(configs);
    }
    let current = state.dynamic.current();
    let describe_one = |def: &ConfigKey, name: &str| {
        let set = broker_sources(state, name);
        let sensitive = def.kind == Type::Password;
        // The entry's own key decides its source; a synonym set elsewhere shows in synonyms.
        let source = set
            .iter()
            .find(|(n, _, _)| n == name)
            .map_or(SOURCE_DEFAULT, |(_, s, _)| *s);
        let syn = if include_synonyms {
            let mut syn: Vec<DescribeConfigsSynonym> = set
                .iter()
                .map(|(n, s, v)| synonym(n, Some(v.clone()), *s, sensitive))
                .collect();
            if let Some(d) = def.default {
                syn.push(synonym(
                    name,
                    Some(d.to_string()),
                    SOURCE_DEFAULT,
                    sensitive,
                ));
            }
            syn
        } else {
            Vec::new()
        };
        let value = current
            .values()
            .get(name)
            .cloned()
            .or_else(|| def.default.map(String::from));
        entry(def, name, value, source, syn, include_documentation)
    };
    for def in KEYS.iter().filter(|k| k.support == Support::Honoured) {
        if wanted(def.name) {
            configs.push(describe_one(def, def.name));
        }
    }
    // Per-listener keys that are set, as Kafka lists them.
    for name in current.values().keys() {
        if crate::config::split_listener_key(name).is_none() || !wanted(name) {
            continue;
        }
        if let Some(def) = resolve(name) {
            configs.push(describe_one(def, name));
        }
    }
    result.with_configs(configs)
}

/// AlterConfigs (replace every dynamic value of the scope) or IncrementalAlterConfigs (edit)
/// on a BROKER resource.
pub(super) fn alter(
    state: &BrokerState,
    resource_name: &str,
    validate_only: bool,
    edit: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, AlterError>,
) -> Result<(), AlterError> {
    let scope = state.dynamic.scope_of(resource_name)?;
    let outcome = state.dynamic.alter(scope, validate_only, edit);
    match &outcome {
        Ok(()) if !validate_only => {
            tracing::info!(resource = %resource_name, "dynamic broker configs changed")
        }
        Err((code, msg)) if *code != ErrorCode::None => {
            tracing::info!(resource = %resource_name, error = %msg, "dynamic broker config change refused")
        }
        _ => {}
    }
    outcome
}
