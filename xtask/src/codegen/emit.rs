//! Turns a [`Spec`] into Rust source for `kafka-protocol`'s `messages` module.
//!
//! Every struct gets: the struct with one public field per definition field plus
//! `unknown_tagged_fields`, a `Default` with Kafka's defaults, `with_*` setters, and
//! `Encodable`/`Decodable` impls that test the version per field exactly as Kafka's generated
//! Java does (a field outside its versions must hold its default unless it is ignorable; null
//! only where the version allows it; tagged fields written only when they differ from their
//! default, in tag order, merged with unknown ones). Top-level messages add `Message` (and
//! `Request`) and reject versions outside `validVersions`. Behind the `testing` feature every
//! struct also gets a `Random` impl producing values valid at a given version.

use std::fmt::Write as _;

use super::model::{Field, Kind, Spec, StructDef, Ty, Versions};

pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn elem_type(ty: &Ty) -> String {
    match ty {
        Ty::Bool => "bool".into(),
        Ty::I8 => "i8".into(),
        Ty::I16 => "i16".into(),
        Ty::U16 => "u16".into(),
        Ty::I32 => "i32".into(),
        Ty::U32 => "u32".into(),
        Ty::I64 => "i64".into(),
        Ty::F64 => "f64".into(),
        Ty::Uuid => "Uuid".into(),
        Ty::String => "String".into(),
        Ty::Bytes => "Bytes".into(),
        Ty::Records => "Records".into(),
        Ty::Struct(s) => s.clone(),
        Ty::Array(inner) => format!("Vec<{}>", elem_type(inner)),
    }
}

fn field_type(f: &Field) -> String {
    let t = elem_type(&f.ty);
    if f.is_option() {
        format!("Option<{t}>")
    } else {
        t
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

fn default_expr(f: &Field) -> Result<String, String> {
    let d = f.default.as_deref();
    let is_null = d == Some("null");
    if is_null && !f.is_option() {
        return Err(format!(
            "field {} defaults to null but is never nullable",
            f.name
        ));
    }
    let inner = match &f.ty {
        Ty::Bool => match d {
            None | Some("false") => "false".to_string(),
            Some("true") => "true".to_string(),
            Some(o) => return Err(format!("bad bool default {o:?}")),
        },
        Ty::I8 | Ty::I16 | Ty::U16 | Ty::I32 | Ty::U32 | Ty::I64 => match d {
            None => "0".to_string(),
            Some(s) => parse_int(s)
                .ok_or_else(|| format!("bad int default {s:?} for {}", f.name))?
                .to_string(),
        },
        Ty::F64 => match d {
            None => "0.0".to_string(),
            Some(s) => {
                let v: f64 = s.parse().map_err(|_| format!("bad float default {s:?}"))?;
                format!("{v:?}")
            }
        },
        Ty::Uuid => "Uuid::ZERO".to_string(),
        Ty::String => match d {
            None | Some("") | Some("null") => "String::new()".to_string(),
            Some(s) => format!("String::from({s:?})"),
        },
        Ty::Bytes => "Bytes::new()".to_string(),
        Ty::Records => "Records::new()".to_string(),
        Ty::Struct(s) => format!("{s}::default()"),
        Ty::Array(_) => "Vec::new()".to_string(),
    };
    Ok(if f.is_option() {
        if is_null {
            "None".to_string()
        } else {
            format!("Some({inner})")
        }
    } else {
        inner
    })
}

/// A boolean expression: does `self.<field>` differ from its default?
fn differs_expr(f: &Field) -> Result<String, String> {
    let n = snake(&f.name);
    let d = default_expr(f)?;
    Ok(match (&f.ty, f.is_option(), d.as_str()) {
        (_, true, "None") => format!("self.{n}.is_some()"),
        (Ty::Array(_), true, _) => format!("self.{n}.as_ref().map_or(true, |v| !v.is_empty())"),
        (Ty::Array(_), false, _)
        | (Ty::String, false, "String::new()")
        | (Ty::Bytes | Ty::Records, false, _) => {
            format!("!self.{n}.is_empty()")
        }
        _ => format!("self.{n} != {d}"),
    })
}

/// Context for emitting code inside one struct's impls.
struct Ctx {
    /// Versions in which this struct's code can run.
    scope: Versions,
    /// Name used in errors: `Message` or `Message.Struct`.
    err_name: String,
}

impl Ctx {
    fn test(&self, v: &Versions) -> String {
        v.test("version", &self.scope)
    }

    fn compact(&self, f: &Field) -> String {
        match &f.flexible {
            Some(fv) => self.test(fv),
            None => "flexible".to_string(),
        }
    }
}

/// `&self.x` → `self.x` (for method calls); `v` stays `v`.
fn place(v: &str) -> &str {
    v.strip_prefix('&').unwrap_or(v)
}

/// The value behind a reference expression, for `Copy` types.
fn deref(v: &str) -> String {
    match v.strip_prefix('&') {
        Some(p) => p.to_string(),
        None => format!("*{v}"),
    }
}

/// Statements writing the non-null value `v` (a reference expression) of type `ty`.
fn write_value(ty: &Ty, v: &str, compact: &str) -> String {
    let (p, d) = (place(v), deref(v));
    match ty {
        Ty::Bool => format!("buf.put_u8(u8::from({d}));"),
        Ty::I8 => format!("buf.put_i8({d});"),
        Ty::I16 => format!("buf.put_i16({d});"),
        Ty::U16 => format!("buf.put_u16({d});"),
        Ty::I32 => format!("buf.put_i32({d});"),
        Ty::U32 => format!("buf.put_u32({d});"),
        Ty::I64 => format!("buf.put_i64({d});"),
        Ty::F64 => format!("buf.put_f64({d});"),
        Ty::Uuid => format!("buf.put_slice({p}.as_bytes());"),
        Ty::String => format!("put_nullable_string(buf, Some({p}.as_str()), {compact})?;"),
        Ty::Bytes => format!("put_nullable_bytes(buf, Some(&{p}[..]), {compact})?;"),
        Ty::Records => format!("put_nullable_records(buf, Some(&{p}), {compact})?;"),
        Ty::Struct(_) => format!("{p}.encode(buf, version)?;"),
        Ty::Array(inner) => format!(
            "put_array_len(buf, Some({p}.len()), {compact})?; for el in {p}.iter() {{ {} }}",
            write_value(inner, "el", compact)
        ),
    }
}

/// An expression giving the size of the non-null value `v` (a reference expression).
fn size_value(ty: &Ty, v: &str, compact: &str) -> String {
    let p = place(v);
    match ty {
        Ty::Bool | Ty::I8 => "1".into(),
        Ty::I16 | Ty::U16 => "2".into(),
        Ty::I32 | Ty::U32 => "4".into(),
        Ty::I64 | Ty::F64 => "8".into(),
        Ty::Uuid => "16".into(),
        Ty::String => format!("nullable_string_size(Some({p}.as_str()), {compact})"),
        Ty::Bytes => format!("nullable_bytes_size(Some(&{p}[..]), {compact})"),
        Ty::Records => format!("nullable_records_size(Some(&{p}), {compact})"),
        Ty::Struct(_) => format!("{p}.compute_size(version)?"),
        Ty::Array(inner) => {
            let fixed = match inner.as_ref() {
                Ty::Bool | Ty::I8 => Some(1),
                Ty::I16 | Ty::U16 => Some(2),
                Ty::I32 | Ty::U32 => Some(4),
                Ty::I64 | Ty::F64 => Some(8),
                Ty::Uuid => Some(16),
                _ => None,
            };
            match fixed {
                Some(n) => format!("array_len_size(Some({p}.len()), {compact}) + {p}.len() * {n}"),
                None => format!(
                    "{{ let mut s = array_len_size(Some({p}.len()), {compact}); for el in {p}.iter() {{ s += {}; }} s }}",
                    size_value(inner, "el", compact)
                ),
            }
        }
    }
}

fn null_write(ty: &Ty, compact: &str) -> String {
    match ty {
        Ty::String => format!("put_nullable_string(buf, None, {compact})?;"),
        Ty::Bytes => format!("put_nullable_bytes(buf, None, {compact})?;"),
        Ty::Records => format!("put_nullable_records(buf, None, {compact})?;"),
        Ty::Array(_) => format!("put_array_len(buf, None, {compact})?;"),
        Ty::Struct(_) => "buf.put_i8(-1);".into(),
        _ => "unreachable_null_for_primitive".into(),
    }
}

fn null_size(ty: &Ty, compact: &str) -> String {
    match ty {
        Ty::String => format!("nullable_string_size(None, {compact})"),
        Ty::Bytes => format!("nullable_bytes_size(None, {compact})"),
        Ty::Records => format!("nullable_records_size(None, {compact})"),
        Ty::Array(_) => format!("array_len_size(None, {compact})"),
        _ => "1".into(),
    }
}

/// Statements writing field `f` (whose value is `self.<name>`), known to be present.
fn write_field(ctx: &Ctx, f: &Field, compact: &str) -> String {
    let name = snake(&f.name);
    if !f.is_option() {
        let v = format!("&self.{name}");
        return write_value(&f.ty, &v, compact);
    }
    let nullable = ctx.test(&f.nullable);
    let some_write = if f.ty.is_struct() {
        let marker = if nullable == "false" {
            String::new()
        } else {
            format!("if {nullable} {{ buf.put_i8(1); }}")
        };
        format!("{marker} v.encode(buf, version)?;")
    } else {
        write_value(&f.ty, "v", compact)
    };
    let none_write = match nullable.as_str() {
        "false" => null_not_allowed(ctx, f),
        "true" => null_write(&f.ty, compact),
        t => format!(
            "if {t} {{ {} }} else {{ {} }}",
            null_write(&f.ty, compact),
            null_not_allowed(ctx, f)
        ),
    };
    format!("match &self.{name} {{ Some(v) => {{ {some_write} }} None => {{ {none_write} }} }}")
}

fn null_not_allowed(ctx: &Ctx, f: &Field) -> String {
    format!(
        "return Err(Error::NullNotAllowed {{ message: {:?}, field: {:?}, version }});",
        ctx.err_name, f.name
    )
}

/// An expression for the size of field `f`, known to be present.
fn size_field(ctx: &Ctx, f: &Field, compact: &str) -> String {
    let name = snake(&f.name);
    if !f.is_option() {
        return size_value(&f.ty, &format!("&self.{name}"), compact);
    }
    let nullable = ctx.test(&f.nullable);
    let some_size = if f.ty.is_struct() {
        let marker = if nullable == "false" {
            "0".to_string()
        } else {
            format!("usize::from({nullable})")
        };
        format!("{marker} + v.compute_size(version)?")
    } else {
        size_value(&f.ty, "v", compact)
    };
    format!(
        "match &self.{name} {{ Some(v) => {some_size}, None => {} }}",
        null_size(&f.ty, compact)
    )
}

/// An expression reading a non-null value of `ty` from `b`.
fn read_value(ty: &Ty, b: &str, compact: &str) -> String {
    match ty {
        Ty::Bool => format!("get_bool({b})?"),
        Ty::I8 => format!("get_i8({b})?"),
        Ty::I16 => format!("get_i16({b})?"),
        Ty::U16 => format!("get_u16({b})?"),
        Ty::I32 => format!("get_i32({b})?"),
        Ty::U32 => format!("get_u32({b})?"),
        Ty::I64 => format!("get_i64({b})?"),
        Ty::F64 => format!("get_f64({b})?"),
        Ty::Uuid => format!("get_uuid({b})?"),
        Ty::String => format!("get_string({b}, {compact})?"),
        Ty::Bytes => format!("get_bytes({b}, {compact})?"),
        Ty::Records => format!("get_records({b}, {compact})?"),
        Ty::Struct(s) => format!("{s}::decode({b}, version)?"),
        Ty::Array(inner) => format!(
            "{{ let n = get_array_len({b}, {compact})?.ok_or(Error::InvalidLength {{ what: \"non-nullable array\", length: -1 }})?; {} }}",
            read_elems(inner, b, compact)
        ),
    }
}

fn read_elems(inner: &Ty, b: &str, compact: &str) -> String {
    format!(
        "let mut items = Vec::<{}>::with_capacity(preallocation::<{}>(n)); for _ in 0..n {{ items.push({}); }} items",
        elem_type(inner),
        elem_type(inner),
        read_value(inner, b, compact)
    )
}

fn read_nullable(ty: &Ty, b: &str, compact: &str) -> String {
    match ty {
        Ty::String => format!("get_nullable_string({b}, {compact})?"),
        Ty::Bytes => format!("get_nullable_bytes({b}, {compact})?"),
        Ty::Records => format!("get_nullable_records({b}, {compact})?"),
        Ty::Struct(s) => {
            format!("if get_i8({b})? < 0 {{ None }} else {{ Some({s}::decode({b}, version)?) }}")
        }
        Ty::Array(inner) => format!(
            "match get_array_len({b}, {compact})? {{ None => None, Some(n) => Some({{ {} }}) }}",
            read_elems(inner, b, compact)
        ),
        _ => "unreachable_nullable_primitive".into(),
    }
}

fn read_field(ctx: &Ctx, f: &Field, b: &str, compact: &str) -> String {
    if !f.is_option() {
        return read_value(&f.ty, b, compact);
    }
    match ctx.test(&f.nullable).as_str() {
        "false" => format!("Some({})", read_value(&f.ty, b, compact)),
        "true" => read_nullable(&f.ty, b, compact),
        t => format!(
            "if {t} {{ {} }} else {{ Some({}) }}",
            read_nullable(&f.ty, b, compact),
            read_value(&f.ty, b, compact)
        ),
    }
}

fn doc_for_field(f: &Field) -> String {
    let mut d = format!(
        "`{}`: {}, versions {}",
        f.name,
        describe_type(&f.ty),
        f.versions
    );
    if !f.nullable.is_empty() {
        let _ = write!(d, ", nullable in {}", f.nullable);
    }
    if let Some(tag) = f.tag {
        let _ = write!(d, ", tagged (tag {tag}) in {}", f.tagged);
    }
    if let Some(def) = &f.default {
        let _ = write!(d, ", default {def}");
    }
    if f.ignorable {
        d.push_str(", ignorable");
    }
    d.push('.');
    d
}

fn describe_type(ty: &Ty) -> String {
    match ty {
        Ty::Array(inner) => format!("array of {}", describe_type(inner)),
        Ty::Struct(s) => format!("[`{s}`]"),
        Ty::Records => "records".into(),
        other => elem_type(other).to_lowercase(),
    }
}

fn emit_struct(out: &mut String, spec: &Spec, def: &StructDef, top: bool) -> Result<(), String> {
    let ctx = Ctx {
        scope: def.versions,
        err_name: if top {
            spec.name.clone()
        } else {
            format!("{}.{}", spec.name, def.name)
        },
    };
    let name = &def.name;
    let flexible_test = ctx.test(&spec.flexible);

    // The struct.
    if top {
        let what = match spec.kind {
            Kind::Request => "request body",
            Kind::Response => "response body",
            Kind::Header => "header",
            Kind::Data => "data record",
            Kind::Metadata => "metadata record",
        };
        let _ = writeln!(
            out,
            "/// The {name} {what}: valid versions {}, flexible versions {}.",
            spec.valid, spec.flexible
        );
    } else {
        let _ = writeln!(
            out,
            "/// `{name}`, part of [`{}`], in versions {}.",
            spec.name, def.versions
        );
    }
    out.push_str("#[derive(Debug, Clone, PartialEq)]\n#[non_exhaustive]\n");
    let _ = writeln!(out, "pub struct {name} {{");
    for f in &def.fields {
        let _ = writeln!(out, "    /// {}", doc_for_field(f));
        let _ = writeln!(out, "    pub {}: {},", snake(&f.name), field_type(f));
    }
    out.push_str("    /// Tagged fields this codec does not know, kept for re-encoding.\n");
    out.push_str("    pub unknown_tagged_fields: UnknownTaggedFields,\n}\n\n");

    // Default.
    let _ = writeln!(
        out,
        "impl Default for {name} {{\n    fn default() -> Self {{\n        {name} {{"
    );
    for f in &def.fields {
        let _ = writeln!(out, "            {}: {},", snake(&f.name), default_expr(f)?);
    }
    out.push_str(
        "            unknown_tagged_fields: UnknownTaggedFields::new(),\n        }\n    }\n}\n\n",
    );

    // Setters.
    let _ = writeln!(out, "impl {name} {{");
    for f in &def.fields {
        let n = snake(&f.name);
        let _ = writeln!(out, "    /// Sets `{n}`.");
        let _ = writeln!(
            out,
            "    pub fn with_{n}(mut self, value: {}) -> Self {{ self.{n} = value; self }}",
            field_type(f)
        );
    }
    out.push_str("    /// Sets the unknown tagged fields.\n");
    out.push_str("    pub fn with_unknown_tagged_fields(mut self, value: UnknownTaggedFields) -> Self { self.unknown_tagged_fields = value; self }\n");
    out.push_str("}\n\n");

    let version_check = if top {
        format!(
            "if !Self::VERSIONS.contains(version) {{ return Err(Error::UnsupportedVersion {{ message: {:?}, version }}); }}\n",
            spec.name
        )
    } else {
        String::new()
    };

    let mut tagged: Vec<&Field> = def.fields.iter().filter(|f| f.tag.is_some()).collect();
    tagged.sort_by_key(|f| f.tag);
    let untagged: Vec<&Field> = def.fields.iter().filter(|f| f.tag.is_none()).collect();

    // Encode.
    let mut enc = String::new();
    let mut size = String::new();
    enc.push_str(&version_check);
    size.push_str(&version_check);
    let _ = writeln!(enc, "let flexible = {flexible_test};");
    let _ = writeln!(
        size,
        "let flexible = {flexible_test};\nlet mut size = 0usize;"
    );
    for f in &untagged {
        let present = ctx.test(&f.versions);
        let compact = ctx.compact(f);
        let w = write_field(&ctx, f, &compact);
        let s = size_field(&ctx, f, &compact);
        let absent_check = if f.ignorable {
            String::new()
        } else {
            format!(
                "if {} {{ return Err(Error::FieldNotInVersion {{ message: {:?}, field: {:?}, version }}); }}",
                differs_expr(f)?,
                ctx.err_name,
                f.name
            )
        };
        match present.as_str() {
            "true" => {
                let _ = writeln!(enc, "{w}");
                let _ = writeln!(size, "size += {s};");
            }
            "false" => {
                let _ = writeln!(enc, "{absent_check}");
            }
            t if absent_check.is_empty() => {
                let _ = writeln!(enc, "if {t} {{ {w} }}");
                let _ = writeln!(size, "if {t} {{ size += {s}; }}");
            }
            t => {
                let _ = writeln!(enc, "if {t} {{ {w} }} else {{ {absent_check} }}");
                let _ = writeln!(size, "if {t} {{ size += {s}; }}");
            }
        }
    }
    // Tagged section.
    let mut enc_tagged = String::new();
    let mut size_tagged = String::new();
    enc_tagged.push_str("let mut num_tagged = self.unknown_tagged_fields.len();\n");
    size_tagged.push_str("let mut num_tagged = self.unknown_tagged_fields.len();\n");
    for f in &tagged {
        let present = ctx.test(&f.versions);
        let def_expr = differs_expr(f)?;
        let absent_check = if f.ignorable {
            String::new()
        } else {
            format!(
                "else if {def_expr} {{ return Err(Error::FieldNotInVersion {{ message: {:?}, field: {:?}, version }}); }}",
                ctx.err_name, f.name
            )
        };
        let _ = writeln!(
            enc_tagged,
            "if {present} {{ if {def_expr} {{ num_tagged += 1; }} }} {absent_check}"
        );
        let _ = writeln!(
            size_tagged,
            "if {present} && {def_expr} {{ num_tagged += 1; let field_size = {}; size += tagged_field_header_size({}, field_size) + field_size; }}",
            size_field(&ctx, f, "true"),
            f.tag.unwrap_or(0)
        );
    }
    enc_tagged.push_str("put_uvarint(buf, num_tagged as u32);\n");
    if !tagged.is_empty() {
        enc_tagged.push_str("let mut unknown = self.unknown_tagged_fields.iter().peekable();\n");
    }
    for f in &tagged {
        let present = ctx.test(&f.versions);
        let tag = f.tag.unwrap_or(0);
        let _ = writeln!(
            enc_tagged,
            "if {present} && {} {{ put_unknown_tagged_below(buf, &mut unknown, {tag}); put_uvarint(buf, {tag}); let field_size = {}; put_uvarint(buf, field_size as u32); {} }}",
            differs_expr(f)?,
            size_field(&ctx, f, "true"),
            write_field(&ctx, f, "true")
        );
    }
    if tagged.is_empty() {
        enc_tagged.push_str(
            "put_unknown_tagged_rest(buf, self.unknown_tagged_fields.iter().peekable());\n",
        );
    } else {
        enc_tagged.push_str("put_unknown_tagged_rest(buf, unknown);\n");
    }
    size_tagged.push_str("size += uvarint_size(num_tagged as u32) + unknown_tagged_fields_size(&self.unknown_tagged_fields);\n");
    let no_tags_check = format!(
        "if !self.unknown_tagged_fields.is_empty() {{ return Err(Error::FieldNotInVersion {{ message: {:?}, field: \"unknown_tagged_fields\", version }}); }}",
        ctx.err_name
    );
    match flexible_test.as_str() {
        "true" => {
            enc.push_str(&enc_tagged);
            size.push_str(&size_tagged);
        }
        "false" => {
            enc.push_str(&no_tags_check);
            enc.push('\n');
        }
        _ => {
            let _ = writeln!(
                enc,
                "if flexible {{ {enc_tagged} }} else {{ {no_tags_check} }}"
            );
            let _ = writeln!(size, "if flexible {{ {size_tagged} }}");
        }
    }
    enc.push_str("Ok(())\n");
    size.push_str("Ok(size)\n");

    // Decode.
    let mut dec = String::new();
    dec.push_str(&version_check);
    let _ = writeln!(dec, "let flexible = {flexible_test};");
    for f in &def.fields {
        let n = snake(&f.name);
        let def_expr = default_expr(f)?;
        if f.tag.is_some() {
            let _ = writeln!(dec, "let mut {n} = {def_expr};");
            continue;
        }
        let present = ctx.test(&f.versions);
        let compact = ctx.compact(f);
        let r = read_field(&ctx, f, "buf", &compact);
        match present.as_str() {
            "true" => {
                let _ = writeln!(dec, "let {n} = {r};");
            }
            "false" => {
                let _ = writeln!(dec, "let {n} = {def_expr};");
            }
            t => {
                let _ = writeln!(dec, "let {n} = if {t} {{ {r} }} else {{ {def_expr} }};");
            }
        }
    }
    dec.push_str("let mut unknown_tagged_fields = UnknownTaggedFields::new();\n");
    let mut arms = String::new();
    for f in &tagged {
        let n = snake(&f.name);
        let present = ctx.test(&f.versions);
        // As in Kafka, a known tag outside its field's versions is an error, not an unknown
        // tag: kept as unknown it would be written a second time next to the real field.
        let check = if present == "true" {
            String::new()
        } else {
            format!(
                "if !({present}) {{ return Err(Error::InvalidTag {{ message: {:?}, tag, version }}); }}",
                ctx.err_name
            )
        };
        let _ = writeln!(
            arms,
            "{} => {{ {check} {n} = {}; Ok(true) }}",
            f.tag.unwrap_or(0),
            read_field(&ctx, f, "field", "true")
        );
    }
    let tag_read = format!(
        "get_tagged_fields(buf, {:?}, &mut unknown_tagged_fields, |tag, field| {{ match tag {{ {arms} _ => Ok(false) }} }})?;",
        ctx.err_name
    );
    let tag_read = if tagged.is_empty() {
        format!(
            "get_tagged_fields(buf, {:?}, &mut unknown_tagged_fields, |_, _| Ok(false))?;",
            ctx.err_name
        )
    } else {
        tag_read
    };
    match flexible_test.as_str() {
        "true" => {
            let _ = writeln!(dec, "{tag_read}");
        }
        "false" => {}
        _ => {
            let _ = writeln!(dec, "if flexible {{ {tag_read} }}");
        }
    }
    let _ = write!(dec, "Ok({name} {{");
    for f in &def.fields {
        let _ = write!(dec, "{}, ", snake(&f.name));
    }
    dec.push_str("unknown_tagged_fields })\n");

    let _ = writeln!(
        out,
        "impl Encodable for {name} {{\n    fn encode<B: Sink>(&self, buf: &mut B, version: i16) -> Result<()> {{\n{enc}    }}\n\n    fn compute_size(&self, version: i16) -> Result<usize> {{\n{size}    }}\n}}\n"
    );
    let _ = writeln!(
        out,
        "impl Decodable for {name} {{\n    fn decode(buf: &mut Bytes, version: i16) -> Result<Self> {{\n{dec}    }}\n}}\n"
    );

    if top {
        let first_flexible = if spec.flexible.is_empty() {
            "None".to_string()
        } else {
            format!("Some({})", spec.flexible.min)
        };
        let _ = writeln!(
            out,
            "impl Message for {name} {{\n    const NAME: &'static str = {:?};\n    const VERSIONS: VersionRange = VersionRange::new({}, {});\n    const FIRST_FLEXIBLE_VERSION: Option<i16> = {first_flexible};\n}}\n",
            spec.name, spec.valid.min, spec.valid.max
        );
    }

    // Random values for tests.
    let mut rnd = String::new();
    let _ = writeln!(rnd, "let mut value = {name}::default();");
    for f in &def.fields {
        let n = snake(&f.name);
        let present = ctx.test(&f.versions);
        if present == "false" {
            continue;
        }
        let r = random_field(&ctx, f);
        if present == "true" {
            let _ = writeln!(rnd, "value.{n} = {r};");
        } else {
            let _ = writeln!(rnd, "if {present} {{ value.{n} = {r}; }}");
        }
    }
    match flexible_test.as_str() {
        "false" => {}
        t => {
            let _ = writeln!(
                rnd,
                "if {t} {{ value.unknown_tagged_fields = rng.unknown_tagged_fields(); }}"
            );
        }
    }
    rnd.push_str("value\n");
    let _ = writeln!(
        out,
        "#[cfg(feature = \"testing\")]\nimpl Random for {name} {{\n    fn random(rng: &mut TestRng, version: i16) -> Self {{\n{rnd}    }}\n}}\n"
    );
    Ok(())
}

fn random_value(ty: &Ty) -> String {
    match ty {
        Ty::Bool => "rng.gen_bool()".into(),
        Ty::I8 => "rng.gen_u64() as i8".into(),
        Ty::I16 => "rng.gen_u64() as i16".into(),
        Ty::U16 => "rng.gen_u64() as u16".into(),
        Ty::I32 => "rng.gen_u64() as i32".into(),
        Ty::U32 => "rng.gen_u64() as u32".into(),
        Ty::I64 => "rng.gen_u64() as i64".into(),
        Ty::F64 => "rng.gen_f64()".into(),
        Ty::Uuid => "rng.gen_uuid()".into(),
        Ty::String => "rng.gen_string()".into(),
        Ty::Bytes => "rng.gen_bytes()".into(),
        Ty::Records => "Records::from(rng.gen_bytes())".into(),
        Ty::Struct(s) => format!("{s}::random(rng, version)"),
        Ty::Array(inner) => format!(
            "{{ let n = rng.gen_len(); (0..n).map(|_| {}).collect() }}",
            random_value(inner)
        ),
    }
}

fn random_field(ctx: &Ctx, f: &Field) -> String {
    let v = random_value(&f.ty);
    if !f.is_option() {
        return v;
    }
    match ctx.test(&f.nullable).as_str() {
        "false" => format!("Some({v})"),
        t => format!("if {t} && rng.gen_ratio(1, 4) {{ None }} else {{ Some({v}) }}"),
    }
}

pub fn module_name(spec: &Spec) -> String {
    snake(&spec.name)
}

/// One generated file for one message, inside `kafka-protocol` (`krate` is `crate`) or in a
/// crate that uses it (`krate` is `kafka_protocol`).
pub fn emit_message(spec: &Spec, source: &str, krate: &str) -> Result<String, String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by `cargo xtask codegen` from {source}. Do not edit.\n"
    );
    let _ = writeln!(out, "//! {} ({}).", spec.name, describe_kind(spec));
    out.push_str(
        "\n#![allow(unused_mut, unused_variables, unused_imports, unused_parens, clippy::all)]\n\n",
    );
    out.push_str("use bytes::Bytes;\n\n");
    let _ = writeln!(out, "use {krate}::error::{{Error, Result}};");
    let _ = writeln!(
        out,
        "use {krate}::message::{{Decodable, Encodable, Message, VersionRange}};"
    );
    let _ = writeln!(out, "use {krate}::primitives::*;");
    let _ = writeln!(out, "use {krate}::records::Records;");
    let _ = writeln!(
        out,
        "#[cfg(feature = \"testing\")]\nuse {krate}::testing::{{Random, TestRng}};\n"
    );

    let top = StructDef {
        name: spec.name.clone(),
        versions: spec.valid,
        fields: spec.fields.clone(),
    };
    emit_struct(&mut out, spec, &top, true)?;
    for s in &spec.structs {
        emit_struct(&mut out, spec, s, false)?;
    }
    if let (Kind::Request, Some(_)) = (spec.kind, spec.api_key) {
        let api = api_name(spec);
        let _ = writeln!(
            out,
            "impl {krate}::message::Request for {} {{\n    const KEY: {krate}::ApiKey = {krate}::ApiKey::{api};\n    type Response = super::{}Response;\n}}",
            spec.name, api
        );
    }
    Ok(out)
}

fn describe_kind(spec: &Spec) -> String {
    match (spec.kind, spec.api_key) {
        (Kind::Request, Some(k)) => format!("request of API key {k}"),
        (Kind::Response, Some(k)) => format!("response of API key {k}"),
        (Kind::Header, _) => "a header".into(),
        (Kind::Metadata, Some(k)) => format!("metadata record type {k}"),
        _ => "a data record".into(),
    }
}

pub fn api_name(spec: &Spec) -> String {
    spec.name
        .strip_suffix("Request")
        .or_else(|| spec.name.strip_suffix("Response"))
        .unwrap_or(&spec.name)
        .to_string()
}

/// The `messages/mod.rs`: modules, re-exports, the API-key table, request/response enums.
pub fn emit_mod(specs: &[(Spec, String)], provenance: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by `cargo xtask codegen` from Kafka's {provenance}. Do not edit.\n"
    );
    out.push_str(
        "//! Request and response bodies, headers and data records, one module per message,\n",
    );
    out.push_str("//! generated from Kafka's JSON definitions by `cargo xtask codegen`.\n//!\n");
    out.push_str("//! [`ApiKey`] lists every API the codec knows; [`RequestKind`] and [`ResponseKind`] hold any\n");
    out.push_str("//! request or response body and dispatch decoding on an API key.\n\n");
    out.push_str("use bytes::Bytes;\n\n");
    out.push_str("use crate::error::Result;\n");
    out.push_str("use crate::message::{Decodable, Encodable, VersionRange};\n\n");
    for (spec, _) in specs {
        let m = module_name(spec);
        let _ = writeln!(out, "pub mod {m};");
    }
    out.push('\n');
    for (spec, _) in specs {
        let _ = writeln!(out, "pub use {}::{};", module_name(spec), spec.name);
    }
    out.push('\n');

    let mut apis: Vec<(&Spec, &Spec)> = Vec::new();
    for (req, _) in specs
        .iter()
        .filter(|(s, _)| s.kind == Kind::Request && s.api_key.is_some())
    {
        let resp_name = format!("{}Response", api_name(req));
        if let Some((resp, _)) = specs.iter().find(|(s, _)| s.name == resp_name) {
            apis.push((req, resp));
        }
    }
    apis.sort_by_key(|(r, _)| r.api_key);

    out.push_str(
        "/// Every API this codec reads and writes, with its Kafka API key as discriminant.\n",
    );
    out.push_str("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n#[repr(i16)]\n#[non_exhaustive]\npub enum ApiKey {\n");
    for (req, _) in &apis {
        let _ = writeln!(
            out,
            "    /// {} (key {}).",
            api_name(req),
            req.api_key.unwrap_or(-1)
        );
        let _ = writeln!(
            out,
            "    {} = {},",
            api_name(req),
            req.api_key.unwrap_or(-1)
        );
    }
    out.push_str("}\n\nimpl ApiKey {\n");
    let _ = writeln!(
        out,
        "    /// Every API key, in key order.\n    pub const ALL: [ApiKey; {}] = [",
        apis.len()
    );
    for (req, _) in &apis {
        let _ = writeln!(out, "        ApiKey::{},", api_name(req));
    }
    out.push_str("    ];\n\n");
    out.push_str("    /// The numeric key on the wire.\n    pub const fn id(self) -> i16 { self as i16 }\n\n");
    out.push_str("    /// The API for a numeric key, if the codec knows it.\n    pub const fn from_id(id: i16) -> Option<ApiKey> {\n        match id {\n");
    for (req, _) in &apis {
        let _ = writeln!(
            out,
            "            {} => Some(ApiKey::{}),",
            req.api_key.unwrap_or(-1),
            api_name(req)
        );
    }
    out.push_str("            _ => None,\n        }\n    }\n\n");
    out.push_str("    /// Kafka's name for the API.\n    pub const fn name(self) -> &'static str {\n        match self {\n");
    for (req, _) in &apis {
        let _ = writeln!(out, "            ApiKey::{0} => {0:?},", api_name(req));
    }
    out.push_str("        }\n    }\n\n");
    out.push_str("    /// The versions the codec can read and write (the definitions' `validVersions`).\n    pub const fn valid_versions(self) -> VersionRange {\n        match self {\n");
    for (req, resp) in &apis {
        let _ = writeln!(
            out,
            "            ApiKey::{} => VersionRange::new({}, {}),",
            api_name(req),
            req.valid.min.max(resp.valid.min),
            req.valid.max.min(resp.valid.max)
        );
    }
    out.push_str("        }\n    }\n\n");
    out.push_str("    /// The first flexible (KIP-482) version of the API, if it has one.\n    pub const fn first_flexible_version(self) -> Option<i16> {\n        match self {\n");
    for (req, _) in &apis {
        let ff = if req.flexible.is_empty() {
            "None".to_string()
        } else {
            format!("Some({})", req.flexible.min)
        };
        let _ = writeln!(out, "            ApiKey::{} => {ff},", api_name(req));
    }
    out.push_str("        }\n    }\n}\n\n");

    out.push_str("/// Calls `visitor.visit::<M>()` for every generated message: how tests, fuzz targets and\n");
    out.push_str("/// benches reach them all without a hand-kept list.\n");
    out.push_str("#[cfg(feature = \"testing\")]\npub fn visit_all<V: crate::testing::MessageVisitor>(visitor: &mut V) {\n");
    for (spec, _) in specs {
        let _ = writeln!(out, "    visitor.visit::<{}>();", spec.name);
    }
    out.push_str("}\n\n");

    for (kind, suffix, doc) in [
        ("RequestKind", "Request", "Any request body."),
        ("ResponseKind", "Response", "Any response body."),
    ] {
        // Requests are exhaustive so a broker's dispatch can be a `match` without a catch-all:
        // adding an API to the codec then fails to compile until the broker lists it.
        let attrs = if kind == "RequestKind" {
            ""
        } else {
            "#[non_exhaustive]\n"
        };
        let _ = writeln!(
            out,
            "/// {doc}\n#[derive(Debug, Clone, PartialEq)]\n{attrs}pub enum {kind} {{"
        );
        for (req, _) in &apis {
            let a = api_name(req);
            let _ = writeln!(
                out,
                "    /// A {a} {}.\n    {a}({a}{suffix}),",
                suffix.to_lowercase()
            );
        }
        out.push_str("}\n\n");
        let _ = writeln!(out, "impl {kind} {{");
        out.push_str("    /// The API the body belongs to.\n    pub fn api_key(&self) -> ApiKey {\n        match self {\n");
        for (req, _) in &apis {
            let _ = writeln!(
                out,
                "            {kind}::{0}(_) => ApiKey::{0},",
                api_name(req)
            );
        }
        out.push_str("        }\n    }\n\n");
        out.push_str("    /// Reads the body of `api_key` at `version`.\n    pub fn decode(api_key: ApiKey, buf: &mut Bytes, version: i16) -> Result<Self> {\n        Ok(match api_key {\n");
        for (req, _) in &apis {
            let _ = writeln!(
                out,
                "            ApiKey::{0} => {kind}::{0}({0}{suffix}::decode(buf, version)?),",
                api_name(req)
            );
        }
        out.push_str("        })\n    }\n\n");
        out.push_str("    /// Writes the body at `version`.\n    pub fn encode<B: crate::primitives::Sink>(&self, buf: &mut B, version: i16) -> Result<()> {\n        match self {\n");
        for (req, _) in &apis {
            let _ = writeln!(
                out,
                "            {kind}::{}(m) => m.encode(buf, version),",
                api_name(req)
            );
        }
        out.push_str("        }\n    }\n\n");
        out.push_str("    /// The size of the body at `version`.\n    pub fn compute_size(&self, version: i16) -> Result<usize> {\n        match self {\n");
        for (req, _) in &apis {
            let _ = writeln!(
                out,
                "            {kind}::{}(m) => m.compute_size(version),",
                api_name(req)
            );
        }
        out.push_str("        }\n    }\n");
        out.push_str("}\n\n");
        for (req, _) in &apis {
            let a = api_name(req);
            let _ = writeln!(out, "impl From<{a}{suffix}> for {kind} {{\n    fn from(m: {a}{suffix}) -> Self {{ {kind}::{a}(m) }}\n}}\n");
        }
    }
    out
}

/// The variant name of a metadata record: its name without the `Record` suffix.
pub fn record_variant(spec: &Spec) -> String {
    spec.name
        .strip_suffix("Record")
        .unwrap_or(&spec.name)
        .to_string()
}

/// The `records/generated/mod.rs` of `kafka-metadata`: modules, re-exports and the
/// `MetadataRecord` enum over every record type, dispatching on the record type.
pub fn emit_metadata_mod(specs: &[(Spec, String)], provenance: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by `cargo xtask codegen` from Kafka's {provenance}. Do not edit.\n"
    );
    out.push_str(
        "//! KRaft metadata records, one module per record type, generated from Kafka's JSON\n",
    );
    out.push_str(
        "//! definitions by `cargo xtask codegen`. [`MetadataRecord`] holds any of them.\n\n",
    );
    out.push_str("#![allow(clippy::all)]\n\n");
    out.push_str("use bytes::Bytes;\n\n");
    out.push_str("use kafka_protocol::error::Result;\n");
    out.push_str("use kafka_protocol::message::{Decodable, Encodable, VersionRange};\n\n");
    for (spec, _) in specs {
        let _ = writeln!(out, "pub mod {};", module_name(spec));
    }
    out.push('\n');
    for (spec, _) in specs {
        let _ = writeln!(out, "pub use {}::{};", module_name(spec), spec.name);
    }
    out.push('\n');
    let mut records: Vec<&Spec> = specs
        .iter()
        .map(|(s, _)| s)
        .filter(|s| s.kind == Kind::Metadata && s.api_key.is_some())
        .collect();
    records.sort_by_key(|s| s.api_key);

    out.push_str(
        "/// Any metadata record; the variant is the record type (Kafka's `MetadataRecordType`).\n",
    );
    out.push_str(
        "#[derive(Debug, Clone, PartialEq)]\n#[non_exhaustive]\npub enum MetadataRecord {\n",
    );
    for r in &records {
        let _ = writeln!(
            out,
            "    /// {} (type {}).\n    {}({}),",
            r.name,
            r.api_key.unwrap_or(-1),
            record_variant(r),
            r.name
        );
    }
    out.push_str("}\n\nimpl MetadataRecord {\n");
    out.push_str("    /// The record type (the definition's `apiKey`).\n    pub const fn record_type(&self) -> u16 {\n        match self {\n");
    for r in &records {
        let _ = writeln!(
            out,
            "            MetadataRecord::{}(_) => {},",
            record_variant(r),
            r.api_key.unwrap_or(-1)
        );
    }
    out.push_str("        }\n    }\n\n");
    out.push_str("    /// The versions of record type `record_type` the codec reads, `None` for a type it does not know.\n");
    out.push_str("    pub const fn valid_versions(record_type: u16) -> Option<VersionRange> {\n        match record_type {\n");
    for r in &records {
        let _ = writeln!(
            out,
            "            {} => Some(VersionRange::new({}, {})),",
            r.api_key.unwrap_or(-1),
            r.valid.min,
            r.valid.max
        );
    }
    out.push_str("            _ => None,\n        }\n    }\n\n");
    out.push_str("    /// The version written: the newest the definitions describe.\n    pub const fn write_version(&self) -> i16 {\n        match self {\n");
    for r in &records {
        let _ = writeln!(
            out,
            "            MetadataRecord::{}(_) => {},",
            record_variant(r),
            r.valid.max
        );
    }
    out.push_str("        }\n    }\n\n");
    out.push_str("    /// Kafka's name of the record type.\n    pub const fn name(&self) -> &'static str {\n        match self {\n");
    for r in &records {
        let _ = writeln!(
            out,
            "            MetadataRecord::{}(_) => {:?},",
            record_variant(r),
            r.name
        );
    }
    out.push_str("        }\n    }\n\n");
    out.push_str("    /// Reads the message of record type `record_type` at `version`; `None` for an unknown type.\n");
    out.push_str("    pub fn decode_message(record_type: u16, buf: &mut Bytes, version: i16) -> Option<Result<Self>> {\n        Some(match record_type {\n");
    for r in &records {
        let _ = writeln!(
            out,
            "            {} => {}::decode(buf, version).map(MetadataRecord::{}),",
            r.api_key.unwrap_or(-1),
            r.name,
            record_variant(r)
        );
    }
    out.push_str("            _ => return None,\n        })\n    }\n\n");
    out.push_str("    /// Writes the message at `version`.\n    pub fn encode_message<B: kafka_protocol::primitives::Sink>(&self, buf: &mut B, version: i16) -> Result<()> {\n        match self {\n");
    for r in &records {
        let _ = writeln!(
            out,
            "            MetadataRecord::{}(m) => m.encode(buf, version),",
            record_variant(r)
        );
    }
    out.push_str("        }\n    }\n\n");
    out.push_str("    /// The size of the message at `version`.\n    pub fn message_size(&self, version: i16) -> Result<usize> {\n        match self {\n");
    for r in &records {
        let _ = writeln!(
            out,
            "            MetadataRecord::{}(m) => m.compute_size(version),",
            record_variant(r)
        );
    }
    out.push_str("        }\n    }\n}\n\n");
    for r in &records {
        let _ = writeln!(
            out,
            "impl From<{0}> for MetadataRecord {{\n    fn from(m: {0}) -> Self {{ MetadataRecord::{1}(m) }}\n}}\n",
            r.name,
            record_variant(r)
        );
    }
    out.push_str(
        "/// A random record of type `record_type`, valid at `version` (feature `testing`).\n",
    );
    out.push_str("#[cfg(feature = \"testing\")]\npub fn random(record_type: u16, rng: &mut kafka_protocol::testing::TestRng, version: i16) -> Option<MetadataRecord> {\n    use kafka_protocol::testing::Random;\n    Some(match record_type {\n");
    for r in &records {
        let _ = writeln!(
            out,
            "        {} => MetadataRecord::{}({}::random(rng, version)),",
            r.api_key.unwrap_or(-1),
            record_variant(r),
            r.name
        );
    }
    out.push_str("        _ => return None,\n    })\n}\n\n");
    out.push_str("/// Calls `visitor.visit::<R>()` for every generated record, as `kafka_protocol::messages::visit_all`.\n");
    out.push_str("#[cfg(feature = \"testing\")]\npub fn visit_all<V: kafka_protocol::testing::MessageVisitor>(visitor: &mut V) {\n");
    for r in &records {
        let _ = writeln!(out, "    visitor.visit::<{}>();", r.name);
    }
    out.push_str("}\n");
    out
}
