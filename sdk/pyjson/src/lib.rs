//! Python-compatible rendering of [`serde_json::Value`]s.
//!
//! τ²-bench hashes its databases with
//! `sha256(json.dumps(db.model_dump(), sort_keys=True, default=str))` and renders tool
//! responses with `json.dumps(obj, default=str)`. This crate reproduces both byte for byte
//! (separators `", "` / `": "`, `ensure_ascii=True`, Python float `repr`), plus Python's
//! `str()` of the equivalent Python object (used for error messages such as
//! `User 1e+18 not found`).
//!
//! [`to_json`], [`to_json_sorted`] and [`hash_sorted`] render any `Serialize` type the same
//! way without building a `Value` first (what `dumps_sorted(&to_value(t))` gives, byte for
//! byte), which is how guests hash large typed databases.
//!
//! It has no wasm-specific code and is used both by guests (wasm32-wasip2) and the host.
//!
//! ```
//! use serde_json::json;
//! let v = json!({"b": 1.0, "a": ["é", null, 1e16]});
//! assert_eq!(eigenbox_pyjson::dumps(&v), r#"{"b": 1.0, "a": ["\u00e9", null, 1e+16]}"#);
//! assert_eq!(eigenbox_pyjson::dumps_sorted(&v), r#"{"a": ["\u00e9", null, 1e+16], "b": 1.0}"#);
//! assert_eq!(eigenbox_pyjson::py_str(&json!(1e18)), "1e+18");
//! assert_eq!(eigenbox_pyjson::py_str(&json!({"a": [null, "x"]})), "{'a': [None, 'x']}");
//! assert_eq!(eigenbox_pyjson::hash_value(&json!({})).len(), 64);
//! ```

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::Write as _;

mod ser;
pub use ser::{hash_sorted, in_sorted_render, push_json_str, to_json, to_json_sorted, Error, JsonWriter, RawJson};

/// `json.dumps(v, default=str)`: insertion order kept.
pub fn dumps(v: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, v, false);
    out
}

/// `json.dumps(v, sort_keys=True, default=str)`: keys sorted at every level.
pub fn dumps_sorted(v: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, v, true);
    out
}

/// Lower-case hex sha256 of the UTF-8 bytes of `s`.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Lower-case hex sha256 of `b`.
pub fn sha256_hex_bytes(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// τ²'s DB hash: `sha256_hex(dumps_sorted(v))`.
pub fn hash_value(v: &Value) -> String {
    sha256_hex(&dumps_sorted(v))
}

fn write_json(out: &mut String, v: &Value, sort: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n, true),
        Value::String(s) => write_json_str(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(out, x, sort);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            let mut first = true;
            for (k, x) in entries(m, sort) {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                write_json_str(out, k);
                out.push_str(": ");
                write_json(out, x, sort);
            }
            out.push('}');
        }
    }
}

fn entries(m: &Map<String, Value>, sort: bool) -> Vec<(&String, &Value)> {
    let mut v: Vec<(&String, &Value)> = m.iter().collect();
    if sort {
        // Python sorts str keys by code point; Rust's str ordering (UTF-8 bytes) is the same.
        v.sort_by(|a, b| a.0.cmp(b.0));
    }
    v
}

fn write_number(out: &mut String, n: &Number, json: bool) {
    if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(f) = n.as_f64() {
        if json {
            out.push_str(&json_float(f));
        } else {
            out.push_str(&float_repr(f));
        }
    } else {
        let _ = write!(out, "{n}");
    }
}

/// A float as `json.dumps` writes it (`Infinity`, `-Infinity`, `NaN` for non-finite).
pub fn json_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        float_repr(f)
    }
}

/// Python's `repr(float)`: shortest round-trip digits; scientific notation when the
/// decimal exponent is < -4 or >= 16 (`1e+16`, `1e-05`), else fixed with at least one
/// fractional digit (`100.0`, `0.0001`). `inf`, `-inf`, `nan` for non-finite values.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let mut out = Vec::with_capacity(24);
    push_float_repr(&mut out, f);
    String::from_utf8(out).unwrap_or_default()
}

/// A fixed buffer for `{:e}` output (at most 17 digits, sign, point, exponent).
struct SciBuf {
    b: [u8; 48],
    n: usize,
}
impl std::fmt::Write for SciBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.n + s.len();
        if end > self.b.len() {
            return Err(std::fmt::Error);
        }
        self.b[self.n..end].copy_from_slice(s.as_bytes());
        self.n = end;
        Ok(())
    }
}

/// Append Python's `repr` of a finite float.
pub(crate) fn push_float_repr(out: &mut Vec<u8>, f: f64) {
    if f == 0.0 {
        out.extend_from_slice(if f.is_sign_negative() { b"-0.0" } else { b"0.0" });
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-5", "1e16".
    let mut buf = SciBuf { b: [0; 48], n: 0 };
    if write!(buf, "{:e}", f).is_err() {
        let _ = write!(out, "{f}");
        return;
    }
    let e = &buf.b[..buf.n];
    let (neg, rest) = match e.split_first() {
        Some((b'-', r)) => (true, r),
        _ => (false, e),
    };
    let epos = rest.iter().position(|c| *c == b'e').unwrap_or(rest.len());
    let (mant, exp_txt) = (&rest[..epos], rest.get(epos + 1..).unwrap_or(&[]));
    let exp: i32 = std::str::from_utf8(exp_txt).ok().and_then(|x| x.parse().ok()).unwrap_or(0);
    let mut digits = [0u8; 32];
    let mut nd = 0;
    for c in mant.iter().filter(|c| **c != b'.').take(digits.len()) {
        digits[nd] = *c;
        nd += 1;
    }
    let digits = &digits[..nd.max(1)];
    // value = 0.d1d2... * 10^decpt
    let decpt = exp + 1;
    if neg {
        out.push(b'-');
    }
    if decpt <= -4 || decpt > 16 {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let x = decpt - 1;
        let _ = write!(out, "e{}{:02}", if x < 0 { '-' } else { '+' }, x.abs());
    } else if decpt <= 0 {
        out.extend_from_slice(b"0.");
        for _ in 0..(-decpt) {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
    } else {
        let d = decpt as usize;
        if digits.len() <= d {
            out.extend_from_slice(digits);
            for _ in digits.len()..d {
                out.push(b'0');
            }
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(&digits[..d]);
            out.push(b'.');
            out.extend_from_slice(&digits[d..]);
        }
    }
}

/// A string as `json.dumps(..., ensure_ascii=True)` writes it, quotes included.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_json_str(&mut out, s);
    out
}

fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", u);
                }
            }
        }
    }
    out.push('"');
}

/// Python's `str()` of the Python object equivalent to `v` (`None`, `True`, `1e+18`,
/// strings unquoted at top level, containers in `repr` form with single quotes).
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        _ => py_repr(v),
    }
}

/// Python's `repr()` of the Python object equivalent to `v`.
pub fn py_repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, v);
    out
}

fn write_repr(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => write_number(out, n, false),
        Value::String(s) => out.push_str(&py_str_repr(s)),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&py_str_repr(k));
                out.push_str(": ");
                write_repr(out, x);
            }
            out.push('}');
        }
    }
}

/// Python's `repr(str)`: single quotes unless the text contains `'` and no `"`.
pub fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let u = c as u32;
                if u < 0x100 {
                    let _ = write!(out, "\\x{:02x}", u);
                } else if u < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", u);
                } else {
                    let _ = write!(out, "\\U{:08x}", u);
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Approximation of Python's `str.isprintable()` for one character: not printable are
/// the categories Cc, Cf, Cs, Co, Cn (approximated), Zl, Zp and Zs other than space.
fn is_printable(c: char) -> bool {
    let u = c as u32;
    if u < 0x20 || (0x7f..=0xa0).contains(&u) || u == 0xad {
        return false;
    }
    if u < 0x7f {
        return true;
    }
    !matches!(u,
        0x0600..=0x0605 | 0x061c | 0x06dd | 0x070f | 0x08e2 | 0x1680 | 0x180e
        | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x2064 | 0x2066..=0x206f
        | 0x3000 | 0xd800..=0xf8ff | 0xfeff | 0xfff0..=0xfffb | 0xfffe | 0xffff
        | 0x110bd | 0x110cd | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a
        | 0xe0000..=0xe0fff | 0xf0000..=0x10ffff)
}

#[cfg(test)]
mod tests;
