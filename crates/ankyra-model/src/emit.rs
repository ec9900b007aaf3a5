//! Writes records back as YAML for people. Plain data only, so a small
//! emitter is enough and its output always parses back to the same record.

use serde::Serialize;
use serde_json::Value;

/// Serializes any plain value as block-style YAML.
pub fn to_yaml<T: Serialize>(value: &T) -> String {
    let v = serde_json::to_value(value).unwrap_or(Value::Null);
    let mut out = String::new();
    emit(&v, 0, &mut out);
    out
}

fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.parse::<f64>().is_ok()
        || matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~"
        )
        || s.starts_with(|c: char| !(c.is_ascii_alphanumeric() || c == '/' || c == '.'))
        || s.ends_with(' ')
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(":\t")
        || s.contains(" #")
        || s.chars().any(|c| {
            c.is_control()
                || matches!(
                    c,
                    '\'' | '"'
                        | '{'
                        | '}'
                        | '['
                        | ']'
                        | ','
                        | '&'
                        | '*'
                        | '!'
                        | '|'
                        | '>'
                        | '%'
                        | '@'
                        | '`'
                )
        })
}

/// A scalar as YAML text.
pub fn scalar(s: &str) -> String {
    if needs_quotes(s) {
        serde_json::to_string(s).unwrap_or_default()
    } else {
        s.to_string()
    }
}

fn emit(v: &Value, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                out.push_str(&pad);
                out.push_str(&scalar(k));
                out.push(':');
                inline_or_block(val, indent, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                inline_or_block(item, indent, out);
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar_of(other));
            out.push('\n');
        }
    }
}

fn inline_or_block(val: &Value, indent: usize, out: &mut String) {
    match val {
        Value::Object(m) if m.is_empty() => out.push_str(" {}\n"),
        Value::Array(a) if a.is_empty() => out.push_str(" []\n"),
        Value::Object(_) | Value::Array(_) => {
            out.push('\n');
            emit(val, indent + 1, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar_of(other));
            out.push('\n');
        }
    }
}

fn scalar_of(v: &Value) -> String {
    match v {
        Value::String(s) => scalar(s),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}
