//! Starlark literals for JSON data embedded in derived programs.

use std::fmt::Write;

use serde_json::Value;

use super::diff::{Change, PathElem};

/// A Starlark string literal (double-quoted; non-ASCII kept as UTF-8, control characters as
/// `\xHH`).
pub(crate) fn str_lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Starlark float literal that reads back as exactly `f` (JSON has no NaN or infinities).
fn float_lit(f: f64) -> String {
    // Rust's Debug form is the shortest round-trip form: `100.0`, `0.1`, `1e18`, `1e-7`.
    let s = format!("{f:?}");
    if s.contains(['.', 'e', 'E']) || !f.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}

/// A Starlark literal for a JSON value (objects keep their key order).
pub(crate) fn lit(v: &Value) -> String {
    let mut out = String::new();
    push_lit(&mut out, v);
    out
}

fn push_lit(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else {
                out.push_str(&float_lit(n.as_f64().unwrap_or(0.0)));
            }
        }
        Value::String(s) => out.push_str(&str_lit(s)),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_lit(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&str_lit(k));
                out.push_str(": ");
                push_lit(out, x);
            }
            out.push('}');
        }
    }
}

/// A path as a Starlark tuple (`("users", "u1", 0)`; one element gets its trailing comma).
fn path_lit(path: &[PathElem]) -> String {
    let parts: Vec<String> = path
        .iter()
        .map(|e| match e {
            PathElem::Key(k) => str_lit(k),
            PathElem::Index(i) => i.to_string(),
        })
        .collect();
    match parts.len() {
        0 => "()".into(),
        1 => format!("({},)", parts[0]),
        _ => format!("({})", parts.join(", ")),
    }
}

/// The expected changes of one DB as the dict the prelude's `_diff` returns:
/// `{path: [has_old, old, has_new, new]}`, one entry per line.
pub(crate) fn changes_lit(changes: &[Change], indent: &str) -> String {
    if changes.is_empty() {
        return "{}".into();
    }
    let mut out = String::from("{\n");
    for c in changes {
        let side = |v: &Option<Value>| match v {
            Some(x) => format!("True, {}", lit(x)),
            None => "False, None".into(),
        };
        let _ = writeln!(out, "{indent}    {}: [{}, {}],", path_lit(&c.path), side(&c.old), side(&c.new));
    }
    out.push_str(indent);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literals() {
        assert_eq!(lit(&json!({"a": [1, 2.5, 100.0, 1e18, null, true, "x\"\n\u{1}é"]})), "{\"a\": [1, 2.5, 100.0, 1e18, None, True, \"x\\\"\\n\\x01é\"]}");
        assert_eq!(path_lit(&[PathElem::Key("a".into())]), "(\"a\",)");
    }
}
