//! Configuration structs whose doc comments are kept as strings ([`documented!`]), so that
//! `agora node --print-config` prints every field with its documentation as TOML comments
//! ([`commented_toml`]) from the one place the field is declared.

use serde::Serialize;
use std::fmt::Write;

/// One field of a [`Documented`] struct.
pub struct FieldDoc {
    pub name: &'static str,
    /// The lines of its doc comment.
    pub doc: &'static [&'static str],
    /// The fields of its type, empty for a plain value.
    pub nested: fn() -> Vec<FieldDoc>,
}

/// A type whose fields have documentation; plain values have no fields.
pub trait Documented {
    fn fields() -> Vec<FieldDoc> {
        Vec::new()
    }
}

impl Documented for bool {}
impl Documented for u16 {}
impl Documented for u32 {}
impl Documented for u64 {}
impl Documented for usize {}
impl Documented for String {}
impl<T> Documented for Option<T> {}

/// Declares a struct (all fields `pub`, documented with `///` only) and its [`Documented`]
/// implementation.
macro_rules! documented {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[doc = $doc:literal])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl $crate::config::doc::Documented for $name {
            fn fields() -> Vec<$crate::config::doc::FieldDoc> {
                vec![$($crate::config::doc::FieldDoc {
                    name: stringify!($field),
                    doc: &[$($doc),*],
                    nested: <$ty as $crate::config::doc::Documented>::fields,
                }),*]
            }
        }
    };
}
pub(crate) use documented;

/// `value` as TOML, each field preceded by its documentation as comments, after `header`
/// (comment lines too). A field left unset (`None`) is printed commented out.
pub fn commented_toml<T: Serialize + Documented>(
    value: &T,
    header: &str,
) -> Result<String, toml::ser::Error> {
    let table = toml::Table::try_from(value)?;
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    write_table(&mut out, "", &table, &T::fields());
    Ok(out)
}

fn write_doc(out: &mut String, doc: &[&str]) {
    out.push('\n');
    for line in doc {
        let _ = writeln!(out, "#{line}");
    }
}

fn write_table(out: &mut String, path: &str, table: &toml::Table, fields: &[FieldDoc]) {
    let (plain, nested): (Vec<_>, Vec<_>) = fields
        .iter()
        .map(|f| (f, (f.nested)()))
        .partition(|(_, inner)| inner.is_empty());
    for (field, _) in plain {
        write_doc(out, field.doc);
        let _ = match table.get(field.name) {
            Some(value) => writeln!(out, "{} = {value}", field.name),
            None => writeln!(out, "# {} is unset", field.name),
        };
    }
    for (field, inner) in nested {
        let path = if path.is_empty() {
            field.name.to_string()
        } else {
            format!("{path}.{}", field.name)
        };
        write_doc(out, field.doc);
        let _ = writeln!(out, "[{path}]");
        if let Some(toml::Value::Table(sub)) = table.get(field.name) {
            write_table(out, &path, sub, &inner);
        }
    }
}
