//! TOML text to [`Config`]. serde stops at the first error, so when the whole-document pass fails, a second pass
//! deserializes every section and every array entry on its own and reports each one that is wrong.

use serde::de::DeserializeOwned;

use super::acl::AccessList;
use super::error::SyntaxError;
use super::model::{
    Config, Control, CryptoMap, Engine, Interface, Isakmp, IsakmpKey, IsakmpPolicy, Metrics, Neighbor, Pki, Route,
    TransformSet,
};

pub(super) fn parse(text: &str) -> Result<Config, Vec<SyntaxError>> {
    let first = match whole(text) {
        Ok(config) => return Ok(config),
        Err(e) => e,
    };
    let mut errors = each_section(text);
    // The whole-document error carries the exact line and serde's full message: it wins over its twin.
    match errors.iter_mut().find(|e| e.path == first.path) {
        Some(twin) => *twin = first,
        None => errors.insert(0, first),
    }
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    Err(errors)
}

fn whole(text: &str) -> Result<Config, SyntaxError> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        SyntaxError {
            path: if path == "." { String::new() } else { path },
            line: inner.span().map(|s| line_of(text, s.start)),
            message: message(&inner),
        }
    })
}

/// Only the message: toml's own Display quotes the source line, which may hold a key.
fn message(e: &toml::de::Error) -> String {
    e.message().trim().replace('\n', "; ")
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Errors of every section and array entry deserialized separately; empty if the text is not TOML at all.
pub(super) fn each_section(text: &str) -> Vec<SyntaxError> {
    let Ok(root) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in root {
        let mut s = Section { text, key: &key, out: &mut out };
        match key.as_str() {
            "engine" => s.one::<Engine>(None, value),
            "isakmp" => s.one::<Isakmp>(None, value),
            "pki" => s.one::<Pki>(None, value),
            "metrics" => s.one::<Metrics>(None, value),
            "control" => s.one::<Control>(None, value),
            "interface" => s.each::<Interface>(value),
            "neighbor" => s.each::<Neighbor>(value),
            "route" => s.each::<Route>(value),
            "isakmp_policy" => s.each::<IsakmpPolicy>(value),
            "isakmp_key" => s.each::<IsakmpKey>(value),
            "transform_set" => s.each::<TransformSet>(value),
            "access_list" => s.each::<AccessList>(value),
            "crypto_map" => s.each::<CryptoMap>(value),
            _ => out.push(SyntaxError {
                line: header_line(text, &key, None),
                message: format!("unknown field `{key}`"),
                path: key,
            }),
        }
    }
    out
}

struct Section<'a> {
    text: &'a str,
    key: &'a str,
    out: &'a mut Vec<SyntaxError>,
}

impl Section<'_> {
    fn one<T: DeserializeOwned>(&mut self, index: Option<usize>, value: toml::Value) {
        let Err(e) = serde_path_to_error::deserialize::<_, T>(value) else {
            return;
        };
        let inner = e.path().to_string();
        let item = match index {
            Some(i) => format!("{}[{i}]", self.key),
            None => self.key.to_owned(),
        };
        let path = if inner == "." { item } else { format!("{item}.{inner}") };
        let field = inner.split(['.', '[']).next().filter(|f| !f.is_empty());
        let line = field_line(self.text, self.key, index, field);
        self.out.push(SyntaxError { path, line, message: message(&e.into_inner()) });
    }

    fn each<T: DeserializeOwned>(&mut self, value: toml::Value) {
        match value {
            toml::Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    self.one::<T>(Some(i), item);
                }
            }
            other => self.one::<Vec<T>>(None, other),
        }
    }
}

/// Line of `[key]`, or of the `index`-th `[[key]]`, if written as a header (not inline).
fn header_line(text: &str, key: &str, index: Option<usize>) -> Option<usize> {
    let header = match index {
        Some(_) => format!("[[{key}]]"),
        None => format!("[{key}]"),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with(&header))
        .nth(index.unwrap_or(0))
        .map(|(n, _)| n + 1)
}

/// Line of `field = ...` inside the item's header block, else the header's line.
fn field_line(text: &str, key: &str, index: Option<usize>, field: Option<&str>) -> Option<usize> {
    let header = header_line(text, key, index)?;
    let Some(field) = field else {
        return Some(header);
    };
    let found =
        text.lines().enumerate().skip(header).take_while(|(_, l)| !l.trim_start().starts_with('[')).find(|(_, l)| {
            let l = l.trim_start();
            l.strip_prefix(field).is_some_and(|rest| rest.trim_start().starts_with('='))
        });
    Some(found.map_or(header, |(n, _)| n + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFERENCE: &str = include_str!("../../../deploy/examples/espgate.toml");

    #[test]
    fn second_pass_accepts_every_section_the_model_has() {
        assert!(whole(REFERENCE).is_ok());
        assert_eq!(each_section(REFERENCE), vec![]);
    }

    #[test]
    fn lines_of_headers_and_fields() {
        let text =
            "[engine]\nworkers = [1]\n\n[[interface]]\nname = \"a\"\n[[interface]]\nname = \"b\"\naddress = \"x\"\n";
        assert_eq!(header_line(text, "engine", None), Some(1));
        assert_eq!(header_line(text, "interface", Some(1)), Some(6));
        assert_eq!(field_line(text, "interface", Some(1), Some("address")), Some(8));
        assert_eq!(field_line(text, "interface", Some(0), Some("address")), Some(4));
        assert_eq!(field_line(text, "engine", None, Some("workers")), Some(2));
        assert_eq!(header_line(text, "route", Some(0)), None);
    }
}
