//! Kafka's message definitions, read into a model the emitter walks.
//!
//! The JSON files carry `//` line comments (Kafka's own parser strips them), so they are
//! removed before parsing. Only the keys the emitter needs are read; an unknown field type or
//! a malformed version string is an error naming the file, never a silent skip.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// An inclusive version range; `max == i16::MAX` stands for "N+".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub min: i16,
    pub max: i16,
}

impl Versions {
    pub const NONE: Versions = Versions { min: 1, max: 0 };

    pub fn parse(s: &str) -> Result<Versions, String> {
        let s = s.trim();
        if s == "none" {
            return Ok(Versions::NONE);
        }
        let num = |t: &str| {
            t.trim()
                .parse::<i16>()
                .map_err(|e| format!("bad version {s:?}: {e}"))
        };
        if let Some(min) = s.strip_suffix('+') {
            Ok(Versions {
                min: num(min)?,
                max: i16::MAX,
            })
        } else if let Some((a, b)) = s.split_once('-') {
            Ok(Versions {
                min: num(a)?,
                max: num(b)?,
            })
        } else {
            let v = num(s)?;
            Ok(Versions { min: v, max: v })
        }
    }

    pub fn is_empty(&self) -> bool {
        self.min > self.max
    }

    pub fn intersect(&self, other: &Versions) -> Versions {
        Versions {
            min: self.min.max(other.min),
            max: self.max.min(other.max),
        }
    }

    /// Does the range contain every version of `within`?
    pub fn covers(&self, within: &Versions) -> bool {
        within.is_empty() || (self.min <= within.min && self.max >= within.max)
    }

    /// A Rust boolean expression testing `version` against this range, simplified against
    /// `scope`, the versions in which the expression can be evaluated at all.
    pub fn test(&self, var: &str, scope: &Versions) -> String {
        let r = self.intersect(scope);
        if r.is_empty() {
            return "false".into();
        }
        let lo = r.min > scope.min;
        let hi = r.max < scope.max;
        match (lo, hi) {
            (false, false) => "true".into(),
            (true, false) => format!("{var} >= {}", r.min),
            (false, true) => format!("{var} <= {}", r.max),
            (true, true) if r.min == r.max => format!("{var} == {}", r.min),
            (true, true) => format!("({var} >= {} && {var} <= {})", r.min, r.max),
        }
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            write!(f, "none")
        } else if self.max == i16::MAX {
            write!(f, "{}+", self.min)
        } else if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Bool,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    F64,
    Uuid,
    String,
    Bytes,
    Records,
    Struct(String),
    Array(Box<Ty>),
}

impl Ty {
    fn parse(s: &str) -> Result<Ty, String> {
        if let Some(inner) = s.strip_prefix("[]") {
            return Ok(Ty::Array(Box::new(Ty::parse(inner)?)));
        }
        Ok(match s {
            "bool" => Ty::Bool,
            "int8" => Ty::I8,
            "int16" => Ty::I16,
            "uint16" => Ty::U16,
            "int32" => Ty::I32,
            "uint32" => Ty::U32,
            "int64" => Ty::I64,
            "float64" => Ty::F64,
            "uuid" => Ty::Uuid,
            "string" => Ty::String,
            "bytes" => Ty::Bytes,
            "records" => Ty::Records,
            s if s.chars().next().is_some_and(|c| c.is_ascii_uppercase()) => {
                Ty::Struct(s.to_string())
            }
            s => return Err(format!("unknown field type {s:?}")),
        })
    }

    pub fn is_struct(&self) -> bool {
        matches!(self, Ty::Struct(_))
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    pub versions: Versions,
    pub nullable: Versions,
    pub tagged: Versions,
    pub tag: Option<u32>,
    /// A field-level override of the message's flexible versions (RequestHeader's ClientId).
    pub flexible: Option<Versions>,
    pub ignorable: bool,
    pub default: Option<String>,
}

impl Field {
    pub fn is_option(&self) -> bool {
        !self.nullable.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: String,
    /// The versions in which the struct can appear.
    pub versions: Versions,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
    Header,
    Data,
    /// A KRaft metadata record (`"type": "metadata"`): `apiKey` is the record type.
    Metadata,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub kind: Kind,
    pub api_key: Option<i16>,
    pub valid: Versions,
    pub flexible: Versions,
    pub fields: Vec<Field>,
    /// Every struct used by the message, nested and common, by name, in definition order.
    pub structs: Vec<StructDef>,
}

pub fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("//") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn parse_field(
    v: &Value,
    structs: &mut BTreeMap<String, (usize, StructDef)>,
    scope: Versions,
) -> Result<Field, String> {
    let name = str_of(v, "name").ok_or("field without a name")?.to_string();
    let ty_s = str_of(v, "type").ok_or_else(|| format!("field {name} without a type"))?;
    let ty = Ty::parse(ty_s).map_err(|e| format!("field {name}: {e}"))?;
    let versions = Versions::parse(
        str_of(v, "versions").ok_or_else(|| format!("field {name} without versions"))?,
    )?;
    let nullable = match str_of(v, "nullableVersions") {
        Some(s) => Versions::parse(s)?,
        None => Versions::NONE,
    };
    let tagged = match str_of(v, "taggedVersions") {
        Some(s) => Versions::parse(s)?,
        None => Versions::NONE,
    };
    // Kafka's parser takes a tag written as a number or as a string of digits (RegisterBrokerRecord
    // has `"tag": "0"`).
    let tag = match v.get("tag") {
        None => None,
        Some(Value::String(t)) => Some(
            t.trim()
                .parse::<u32>()
                .map_err(|e| format!("field {name}: bad tag {t:?}: {e}"))?,
        ),
        Some(t) => Some(
            t.as_u64()
                .and_then(|t| u32::try_from(t).ok())
                .ok_or_else(|| format!("field {name}: bad tag {t}"))?,
        ),
    };
    if !tagged.is_empty() && tag.is_none() {
        return Err(format!("field {name} has taggedVersions but no tag"));
    }
    let flexible = str_of(v, "flexibleVersions")
        .map(Versions::parse)
        .transpose()?;
    let ignorable = v.get("ignorable").and_then(Value::as_bool).unwrap_or(false);
    let default = match v.get("default") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let field_scope = scope.intersect(&versions);
    if let Some(children) = v.get("fields").and_then(Value::as_array) {
        let sname = match &ty {
            Ty::Struct(s) => s.clone(),
            Ty::Array(inner) => match inner.as_ref() {
                Ty::Struct(s) => s.clone(),
                _ => return Err(format!("field {name} has child fields but type {ty_s}")),
            },
            _ => return Err(format!("field {name} has child fields but type {ty_s}")),
        };
        let mut fields = Vec::new();
        for c in children {
            fields.push(parse_field(c, structs, field_scope)?);
        }
        if structs.contains_key(&sname) {
            return Err(format!("struct {sname} is defined twice"));
        }
        let order = structs.len();
        structs.insert(
            sname.clone(),
            (
                order,
                StructDef {
                    name: sname,
                    versions: field_scope,
                    fields,
                },
            ),
        );
    }
    Ok(Field {
        name,
        ty,
        versions,
        nullable,
        tagged,
        tag,
        flexible,
        ignorable,
        default,
    })
}

pub fn parse_spec(text: &str) -> Result<Spec, String> {
    let v: Value =
        serde_json::from_str(&strip_comments(text)).map_err(|e| format!("invalid JSON: {e}"))?;
    let name = str_of(&v, "name").ok_or("no name")?.to_string();
    let kind = match str_of(&v, "type") {
        Some("request") => Kind::Request,
        Some("response") => Kind::Response,
        Some("header") => Kind::Header,
        Some("data") => Kind::Data,
        Some("metadata") => Kind::Metadata,
        other => return Err(format!("unknown message type {other:?}")),
    };
    let api_key = v.get("apiKey").and_then(Value::as_i64).map(|k| k as i16);
    let valid = Versions::parse(str_of(&v, "validVersions").ok_or("no validVersions")?)?;
    let flexible = Versions::parse(str_of(&v, "flexibleVersions").ok_or("no flexibleVersions")?)?;
    let mut structs = BTreeMap::new();
    let mut common = Vec::new();
    for c in v
        .get("commonStructs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let cname = str_of(c, "name")
            .ok_or("common struct without a name")?
            .to_string();
        let cvers = Versions::parse(str_of(c, "versions").unwrap_or("0+"))?.intersect(&valid);
        let mut fields = Vec::new();
        for f in c
            .get("fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            fields.push(parse_field(f, &mut structs, cvers)?);
        }
        common.push(StructDef {
            name: cname,
            versions: cvers,
            fields,
        });
    }
    let mut fields = Vec::new();
    for f in v
        .get("fields")
        .and_then(Value::as_array)
        .ok_or("no fields")?
    {
        fields.push(parse_field(f, &mut structs, valid)?);
    }
    let mut nested: Vec<(usize, StructDef)> = structs.into_values().collect();
    nested.sort_by_key(|(order, _)| *order);
    let mut all: Vec<StructDef> = nested.into_iter().map(|(_, s)| s).collect();
    for c in common {
        if all.iter().any(|s| s.name == c.name) {
            return Err(format!(
                "common struct {} clashes with a nested one",
                c.name
            ));
        }
        all.push(c);
    }
    let spec = Spec {
        name,
        kind,
        api_key,
        valid,
        flexible,
        fields,
        structs: all,
    };
    spec.check()?;
    Ok(spec)
}

impl Spec {
    fn check(&self) -> Result<(), String> {
        let mut all_fields: Vec<&Field> = self.fields.iter().collect();
        for s in &self.structs {
            all_fields.extend(s.fields.iter());
        }
        for f in all_fields {
            let mut t = &f.ty;
            if let Ty::Array(inner) = t {
                t = inner;
            }
            if let Ty::Struct(s) = t {
                if !self.structs.iter().any(|d| &d.name == s) {
                    return Err(format!("field {} uses undefined struct {s}", f.name));
                }
            }
            if !f.tagged.is_empty() && !self.flexible.covers(&f.tagged.intersect(&self.valid)) {
                return Err(format!(
                    "field {} is tagged outside flexible versions",
                    f.name
                ));
            }
            if !f.tagged.is_empty()
                && f.tagged.intersect(&self.valid) != f.versions.intersect(&self.valid)
            {
                return Err(format!(
                    "field {} is tagged in only some of its versions",
                    f.name
                ));
            }
        }
        Ok(())
    }
}
