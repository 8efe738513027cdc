//! ACL bindings and filters (Java's `org.apache.kafka.common.acl` and `.resource`), with the
//! wire codes of DescribeAcls, CreateAcls and DeleteAcls and Kafka's names for them.

use std::fmt;

/// Declares an enum of wire codes with Kafka's upper-case names (parsed case-insensitively,
/// `-` and `_` alike, as Kafka's `fromString` does).
macro_rules! coded {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal, $text:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in wire-code order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The code on the wire.
            pub fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)*
                }
            }

            /// The value with wire code `code`, if it is one of these.
            pub fn from_code(code: i8) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)*
                    _ => None,
                }
            }

            /// Kafka's name, e.g. `TOPIC`.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The value named `s` (any case; `-` for `_`).
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.trim().replace('-', "_");
                Self::ALL.iter().copied().find(|v| v.name().eq_ignore_ascii_case(&s))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

coded! {
    /// What an ACL protects (Java's `ResourceType`).
    AclResourceType {
        /// Matches every type (filters only).
        Any = 1, "ANY";
        /// A topic.
        Topic = 2, "TOPIC";
        /// A consumer group.
        Group = 3, "GROUP";
        /// The cluster.
        Cluster = 4, "CLUSTER";
        /// A transactional id.
        TransactionalId = 5, "TRANSACTIONAL_ID";
        /// A delegation token.
        DelegationToken = 6, "DELEGATION_TOKEN";
        /// A user (KIP-373).
        User = 7, "USER";
    }
}

coded! {
    /// How an ACL's resource name matches (Java's `PatternType`).
    AclPatternType {
        /// Matches every pattern type (filters only).
        Any = 1, "ANY";
        /// Matches what would apply to the name: literal, `*` and prefixes (filters only).
        Match = 2, "MATCH";
        /// The name exactly (or `*`: every name).
        Literal = 3, "LITERAL";
        /// Every name starting with it.
        Prefixed = 4, "PREFIXED";
    }
}

coded! {
    /// What an ACL allows or denies (Java's `AclOperation`).
    AclOperation {
        /// Matches every operation (filters only).
        Any = 1, "ANY";
        /// Every operation.
        All = 2, "ALL";
        /// Read.
        Read = 3, "READ";
        /// Write.
        Write = 4, "WRITE";
        /// Create.
        Create = 5, "CREATE";
        /// Delete.
        Delete = 6, "DELETE";
        /// Alter.
        Alter = 7, "ALTER";
        /// Describe.
        Describe = 8, "DESCRIBE";
        /// Inter-broker actions.
        ClusterAction = 9, "CLUSTER_ACTION";
        /// Describe configurations.
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        /// Alter configurations.
        AlterConfigs = 11, "ALTER_CONFIGS";
        /// Idempotent produce.
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        /// Create delegation tokens.
        CreateTokens = 13, "CREATE_TOKENS";
        /// Describe delegation tokens.
        DescribeTokens = 14, "DESCRIBE_TOKENS";
    }
}

coded! {
    /// Whether an ACL allows or denies (Java's `AclPermissionType`).
    AclPermissionType {
        /// Matches both (filters only).
        Any = 1, "ANY";
        /// Denies.
        Deny = 2, "DENY";
        /// Allows.
        Allow = 3, "ALLOW";
    }
}

/// One ACL (Java's `AclBinding`): `principal` from `host` may (or may not) do `operation` on
/// the resources `resource_type`/`pattern_type`/`resource_name` describe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    /// What kind of resource.
    pub resource_type: AclResourceType,
    /// The resource's name (`*` for all; `kafka-cluster` for the cluster).
    pub resource_name: String,
    /// How the name matches.
    pub pattern_type: AclPatternType,
    /// Who, e.g. `User:alice` (`User:*` for everyone).
    pub principal: String,
    /// From where (`*` for anywhere).
    pub host: String,
    /// What.
    pub operation: AclOperation,
    /// Allow or deny.
    pub permission: AclPermissionType,
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({} {} {}: {} {} {} from {})",
            self.resource_type,
            self.pattern_type,
            self.resource_name,
            self.principal,
            self.permission,
            self.operation,
            self.host
        )
    }
}

/// Which ACLs to describe or delete (Java's `AclBindingFilter`); `None` fields and the
/// `Any` values match everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclBindingFilter {
    /// Resource type (`Any` for all).
    pub resource_type: AclResourceType,
    /// Resource name.
    pub resource_name: Option<String>,
    /// Pattern type (`Any` for all, `Match` for what applies to `resource_name`).
    pub pattern_type: AclPatternType,
    /// Principal.
    pub principal: Option<String>,
    /// Host.
    pub host: Option<String>,
    /// Operation (`Any` for all).
    pub operation: AclOperation,
    /// Permission (`Any` for both).
    pub permission: AclPermissionType,
}

impl AclBindingFilter {
    /// Matches every ACL.
    pub fn any() -> Self {
        AclBindingFilter {
            resource_type: AclResourceType::Any,
            resource_name: None,
            pattern_type: AclPatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermissionType::Any,
        }
    }
}

impl fmt::Display for AclBindingFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "<any>".into());
        write!(
            f,
            "(filter {} {} {}: {} {} {} from {})",
            self.resource_type,
            self.pattern_type,
            opt(&self.resource_name),
            opt(&self.principal),
            self.permission,
            self.operation,
            opt(&self.host)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for t in AclResourceType::ALL {
            assert_eq!(AclResourceType::from_code(t.code()), Some(*t));
            assert_eq!(AclResourceType::parse(&t.name().to_lowercase()), Some(*t));
        }
        assert_eq!(
            AclOperation::parse("describe-configs"),
            Some(AclOperation::DescribeConfigs)
        );
        assert_eq!(AclOperation::from_code(0), None);
        assert_eq!(
            AclPermissionType::parse("Allow"),
            Some(AclPermissionType::Allow)
        );
        assert_eq!(
            AclPatternType::parse("prefixed").map(AclPatternType::code),
            Some(4)
        );
        assert_eq!(AclResourceType::parse("nope"), None);
    }
}
