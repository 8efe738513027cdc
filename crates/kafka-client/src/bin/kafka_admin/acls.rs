//! `acls`: kafka-acls' list, create and delete. Brokers without an authorizer (this one
//! today) answer SECURITY_DISABLED, which is printed as such with exit code 1.

use clap::{Args as ClapArgs, Subcommand};
use kafka_client::admin::{
    AclBinding, AclBindingFilter, AclOperation, AclPatternType, AclPermissionType, AclResourceType,
};
use kafka_protocol::ErrorCode;
use serde_json::{json, Value};

use crate::output::{emit, Table};
use crate::{Ctx, Failure};

/// The resource an ACL is about, and who may do what.
#[derive(Debug, Clone, Default, ClapArgs)]
pub(crate) struct AclArgs {
    /// Resource type: topic, group, cluster, transactional-id, delegation-token, user
    /// (any, in list and delete).
    #[arg(long = "resource-type")]
    resource_type: Option<String>,
    /// Resource name (`*` for all).
    #[arg(long = "resource-name")]
    resource_name: Option<String>,
    /// Shortcut for --resource-type topic --resource-name TOPIC.
    #[arg(long, conflicts_with_all = ["resource_type", "group", "cluster"])]
    topic: Option<String>,
    /// Shortcut for --resource-type group --resource-name GROUP.
    #[arg(long, conflicts_with_all = ["resource_type", "cluster"])]
    group: Option<String>,
    /// Shortcut for --resource-type cluster --resource-name kafka-cluster.
    #[arg(long, conflicts_with = "resource_type")]
    cluster: bool,
    /// literal or prefixed (also any or match in list and delete).
    #[arg(long = "resource-pattern-type")]
    pattern_type: Option<String>,
    /// The principal, e.g. User:alice.
    #[arg(long)]
    principal: Option<String>,
    /// The host (`*`: any; the default in create).
    #[arg(long)]
    host: Option<String>,
    /// Operations (repeatable or comma separated): read, write, create, delete, alter,
    /// describe, cluster-action, describe-configs, alter-configs, idempotent-write, all.
    #[arg(long = "operation", value_delimiter = ',')]
    operations: Vec<String>,
    /// allow (the default in create) or deny.
    #[arg(long)]
    permission: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AclsCmd {
    /// The ACLs matching the options (all without options).
    List(AclArgs),
    /// Add ACLs: one per operation.
    Create(AclArgs),
    /// Remove the ACLs matching the options.
    Delete(AclArgs),
}

fn parsed<T>(what: &str, v: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, String> {
    parse(v).ok_or_else(|| format!("unknown {what} '{v}'"))
}

impl AclArgs {
    fn resource(&self) -> Result<(Option<AclResourceType>, Option<String>), String> {
        if let Some(t) = &self.topic {
            return Ok((Some(AclResourceType::Topic), Some(t.clone())));
        }
        if let Some(g) = &self.group {
            return Ok((Some(AclResourceType::Group), Some(g.clone())));
        }
        if self.cluster {
            return Ok((Some(AclResourceType::Cluster), Some("kafka-cluster".into())));
        }
        let kind = self
            .resource_type
            .as_deref()
            .map(|t| parsed("resource type", t, AclResourceType::parse))
            .transpose()?;
        Ok((kind, self.resource_name.clone()))
    }

    fn operations(&self) -> Result<Vec<AclOperation>, String> {
        self.operations
            .iter()
            .map(|o| parsed("operation", o, AclOperation::parse))
            .collect()
    }

    fn pattern(&self) -> Result<Option<AclPatternType>, String> {
        self.pattern_type
            .as_deref()
            .map(|p| parsed("pattern type", p, AclPatternType::parse))
            .transpose()
    }

    fn permission(&self) -> Result<Option<AclPermissionType>, String> {
        self.permission
            .as_deref()
            .map(|p| parsed("permission", p, AclPermissionType::parse))
            .transpose()
    }

    /// The bindings `create` adds: one per operation, every field concrete.
    pub(crate) fn bindings(&self) -> Result<Vec<AclBinding>, String> {
        let (kind, name) = self.resource()?;
        let kind = kind
            .filter(|k| *k != AclResourceType::Any)
            .ok_or("create needs a resource: --topic, --group, --cluster or --resource-type")?;
        let name = name.ok_or("create needs --resource-name")?;
        let pattern = self.pattern()?.unwrap_or(AclPatternType::Literal);
        if !matches!(pattern, AclPatternType::Literal | AclPatternType::Prefixed) {
            return Err("create takes --resource-pattern-type literal or prefixed".into());
        }
        let principal = self
            .principal
            .clone()
            .ok_or("create needs --principal (e.g. User:alice)")?;
        let permission = self.permission()?.unwrap_or(AclPermissionType::Allow);
        if permission == AclPermissionType::Any {
            return Err("create takes --permission allow or deny".into());
        }
        let ops = self.operations()?;
        if ops.is_empty() || ops.contains(&AclOperation::Any) {
            return Err("create needs --operation (not any)".into());
        }
        Ok(ops
            .into_iter()
            .map(|operation| AclBinding {
                resource_type: kind,
                resource_name: name.clone(),
                pattern_type: pattern,
                principal: principal.clone(),
                host: self.host.clone().unwrap_or_else(|| "*".into()),
                operation,
                permission,
            })
            .collect())
    }

    /// The filters `list` and `delete` use: one per operation (one for any without).
    pub(crate) fn filters(&self) -> Result<Vec<AclBindingFilter>, String> {
        let (kind, name) = self.resource()?;
        let base = AclBindingFilter {
            resource_type: kind.unwrap_or(AclResourceType::Any),
            resource_name: name,
            pattern_type: self.pattern()?.unwrap_or(AclPatternType::Any),
            principal: self.principal.clone(),
            host: self.host.clone(),
            operation: AclOperation::Any,
            permission: self.permission()?.unwrap_or(AclPermissionType::Any),
        };
        let ops = self.operations()?;
        if ops.is_empty() {
            return Ok(vec![base]);
        }
        Ok(ops
            .into_iter()
            .map(|operation| AclBindingFilter {
                operation,
                ..base.clone()
            })
            .collect())
    }
}

fn acl_json(a: &AclBinding) -> Value {
    json!({
        "resource_type": a.resource_type.name(),
        "resource_name": a.resource_name,
        "pattern_type": a.pattern_type.name(),
        "principal": a.principal,
        "host": a.host,
        "operation": a.operation.name(),
        "permission": a.permission.name(),
    })
}

fn acl_table(acls: &[AclBinding]) -> String {
    let mut t = Table::new(&[
        "RESOURCE-TYPE",
        "NAME",
        "PATTERN",
        "PRINCIPAL",
        "HOST",
        "OPERATION",
        "PERMISSION",
    ]);
    for a in acls {
        t.row(vec![
            a.resource_type.to_string(),
            a.resource_name.clone(),
            a.pattern_type.to_string(),
            a.principal.clone(),
            a.host.clone(),
            a.operation.to_string(),
            a.permission.to_string(),
        ]);
    }
    t.render()
}

/// A clearer word for the answer of brokers without an authorizer.
fn explain(e: kafka_client::Error) -> Failure {
    if e.code() == Some(ErrorCode::SecurityDisabled) {
        Failure::Refused(format!(
            "{e} (the broker has no authorizer configured, so it keeps no ACLs)"
        ))
    } else {
        Failure::Client(e)
    }
}

pub(crate) fn run(ctx: &mut Ctx, cmd: AclsCmd) -> Result<(), Failure> {
    match cmd {
        AclsCmd::List(a) => {
            let mut all = Vec::new();
            for f in a.filters().map_err(Failure::Usage)? {
                all.extend(ctx.admin.describe_acls(&f, ctx.timeout).map_err(explain)?);
            }
            all.sort();
            all.dedup();
            emit(
                ctx.format,
                &json!(all.iter().map(acl_json).collect::<Vec<_>>()),
                || acl_table(&all),
            );
            Ok(())
        }
        AclsCmd::Create(a) => {
            let bindings = a.bindings().map_err(Failure::Usage)?;
            let results = ctx.admin.create_acls(&bindings, ctx.timeout)?;
            let mut created = Vec::new();
            let mut first_disabled = None;
            for (acl, r) in results {
                match r {
                    Ok(()) => created.push(acl),
                    Err(e)
                        if e.code() == Some(ErrorCode::SecurityDisabled)
                            && first_disabled.is_none() =>
                    {
                        first_disabled = Some(e);
                    }
                    Err(e) => ctx.item_failed(&format!("creating {acl}"), &e),
                }
            }
            if let Some(e) = first_disabled {
                return Err(explain(e));
            }
            emit(
                ctx.format,
                &json!(created.iter().map(acl_json).collect::<Vec<_>>()),
                || format!("Created ACLs:\n{}", acl_table(&created)),
            );
            Ok(())
        }
        AclsCmd::Delete(a) => {
            let filters = a.filters().map_err(Failure::Usage)?;
            let results = ctx.admin.delete_acls(&filters, ctx.timeout)?;
            let mut deleted = Vec::new();
            for (f, r) in results {
                match r {
                    Ok(acls) => deleted.extend(acls),
                    Err(e) if e.code() == Some(ErrorCode::SecurityDisabled) => {
                        return Err(explain(e))
                    }
                    Err(e) => ctx.item_failed(&format!("deleting {f}"), &e),
                }
            }
            emit(
                ctx.format,
                &json!(deleted.iter().map(acl_json).collect::<Vec<_>>()),
                || format!("Deleted ACLs:\n{}", acl_table(&deleted)),
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_makes_one_binding_per_operation() {
        let a = AclArgs {
            topic: Some("t".into()),
            principal: Some("User:alice".into()),
            operations: vec!["read".into(), "Describe".into()],
            ..AclArgs::default()
        };
        let b = a.bindings().unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].resource_type, AclResourceType::Topic);
        assert_eq!(
            (b[0].host.as_str(), b[0].permission),
            ("*", AclPermissionType::Allow)
        );
        assert_eq!(b[1].operation, AclOperation::Describe);
        assert!(AclArgs {
            principal: None,
            ..a.clone()
        }
        .bindings()
        .is_err());
        assert!(AclArgs {
            operations: vec!["fly".into()],
            ..a.clone()
        }
        .bindings()
        .is_err());
        assert!(AclArgs {
            pattern_type: Some("match".into()),
            ..a
        }
        .bindings()
        .is_err());
    }

    #[test]
    fn filters_default_to_any() {
        let f = AclArgs::default().filters().unwrap();
        assert_eq!(f, [AclBindingFilter::any()]);
        let f = AclArgs {
            cluster: true,
            operations: vec!["alter".into()],
            ..AclArgs::default()
        }
        .filters()
        .unwrap();
        assert_eq!(f[0].resource_name.as_deref(), Some("kafka-cluster"));
        assert_eq!(f[0].operation, AclOperation::Alter);
    }
}
