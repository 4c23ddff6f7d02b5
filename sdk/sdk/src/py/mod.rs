//! Python value semantics for domains that, like τ²'s reference tools, receive the model's raw
//! JSON as keyword arguments and must fail with CPython's exception texts byte for byte.
//!
//! - this module: `type(v).__name__`, `iter`, `len`, `==`, `count`, hashability of dict keys,
//!   `round(x, 2)` and a small `int`/`float` number type;
//! - [`calc`]: the `calculate` tool (`str(round(float(eval(expression)), 2))`);
//! - [`pydantic`]: pydantic v2 (lax mode) validation and `str(ValidationError)` formatting.
//!
//! Everything here returns an error value on bad input; nothing panics.

pub mod calc;
pub mod pydantic;

use crate::{pyjson, ToolError, Value};

/// `type(v).__name__`.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// `str(v)`.
pub fn py_str(v: &Value) -> String {
    pyjson::py_str(v)
}

/// `repr(f)` (= `str(f)`) of a float.
pub fn float_repr(f: f64) -> String {
    pyjson::float_repr(f)
}

/// `a == b` (`1 == 1.0 == True`; lists and dicts compare element-wise).
pub fn py_eq(a: &Value, b: &Value) -> bool {
    match (Num::of(a), Num::of(b)) {
        (Some(x), Some(y)) => x.f() == y.f(),
        (None, None) => match (a, b) {
            (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q)),
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, p)| y.get(k).is_some_and(|q| py_eq(p, q)))
            }
            _ => a == b,
        },
        _ => false,
    }
}

/// `s == v` for a `str` on the left.
pub fn str_eq(s: &str, v: &Value) -> bool {
    v.as_str() == Some(s)
}

/// `iter(v)`: list items (borrowed, not copied), a dict's keys, a string's characters; other
/// types raise `TypeError: '<type>' object is not iterable`.
pub fn iterate(v: &Value) -> Result<std::borrow::Cow<'_, [Value]>, ToolError> {
    use std::borrow::Cow;
    match v {
        Value::Array(a) => Ok(Cow::Borrowed(a)),
        Value::String(s) => Ok(Cow::Owned(s.chars().map(|c| Value::String(c.to_string())).collect())),
        Value::Object(m) => Ok(Cow::Owned(m.keys().map(|k| Value::String(k.clone())).collect())),
        other => Err(ToolError::failed(format!("'{}' object is not iterable", type_name(other)))),
    }
}

/// `len(v)`.
pub fn len(v: &Value) -> Result<usize, ToolError> {
    match v {
        Value::Array(a) => Ok(a.len()),
        Value::String(s) => Ok(s.chars().count()),
        Value::Object(m) => Ok(m.len()),
        other => Err(ToolError::failed(format!("object of type '{}' has no len()", type_name(other)))),
    }
}

/// `container.count(x)` (list or str).
pub fn count(container: &Value, x: &Value) -> Result<usize, ToolError> {
    match container {
        Value::Array(a) => Ok(a.iter().filter(|y| py_eq(y, x)).count()),
        Value::String(s) => match x {
            Value::String(sub) if sub.is_empty() => Ok(s.chars().count() + 1),
            Value::String(sub) => Ok(s.matches(sub.as_str()).count()),
            other => Err(ToolError::failed(format!("must be str, not {}", type_name(other)))),
        },
        other => Err(ToolError::failed(format!("'{}' object has no attribute 'count'", type_name(other)))),
    }
}

/// `list_of_str.count(x)`.
pub fn count_str(items: &[&str], x: &Value) -> usize {
    match x.as_str() {
        Some(s) => items.iter().filter(|y| **y == s).count(),
        None => 0,
    }
}

/// `key in some_dict` / `some_dict[key]` for a `Dict[str, ...]`: `Ok(Some(key))` for a string,
/// `Ok(None)` for a hashable non-string (never found), `unhashable type` for a list or dict.
pub fn dict_key(v: &Value) -> Result<Option<&str>, ToolError> {
    match v {
        Value::String(s) => Ok(Some(s)),
        Value::Array(_) | Value::Object(_) => Err(ToolError::failed(format!("unhashable type: '{}'", type_name(v)))),
        _ => Ok(None),
    }
}

/// `v.lower()`.
pub fn lower(v: &Value) -> Result<String, ToolError> {
    match v {
        Value::String(s) => Ok(s.to_lowercase()),
        other => Err(ToolError::failed(format!("'{}' object has no attribute 'lower'", type_name(other)))),
    }
}

/// `sorted(v)` of an iterable whose items are strings (a lone non-string item sorts fine and
/// comes back as its `str()`; with more items the comparison raises `TypeError`).
pub fn sorted_strs(v: &Value) -> Result<Vec<String>, ToolError> {
    let items = iterate(v)?;
    let mut out = Vec::with_capacity(items.len());
    for x in items.iter() {
        match x {
            Value::String(s) => out.push(s.clone()),
            other => {
                if items.len() > 1 {
                    return Err(ToolError::failed(format!(
                        "'<' not supported between instances of '{}' and 'str'",
                        type_name(other)
                    )));
                }
                out.push(py_str(other));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `round(x, 2)` of a float (correctly rounded: ties to even on the exact binary value).
pub fn round2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.2}").parse().unwrap_or(x)
}

/// A Python number: `int` or `float` (bools count as ints). `int` arithmetic that leaves `i64`
/// continues in floating point rather than wrapping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// `int`
    Int(i64),
    /// `float`
    Float(f64),
}

impl Num {
    /// The value as a Python number, or `None` for non-numbers.
    pub fn of(v: &Value) -> Option<Num> {
        match v {
            Value::Bool(b) => Some(Num::Int(*b as i64)),
            Value::Number(n) => match n.as_i64() {
                Some(i) if !n.is_f64() => Some(Num::Int(i)),
                _ => n.as_f64().map(Num::Float),
            },
            _ => None,
        }
    }
    /// As a float.
    pub fn f(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
    fn int_op(self, b: Num, i: fn(i64, i64) -> Option<i64>, f: fn(f64, f64) -> f64) -> Num {
        match (self, b) {
            (Num::Int(x), Num::Int(y)) => i(x, y).map(Num::Int).unwrap_or_else(|| Num::Float(f(x as f64, y as f64))),
            _ => Num::Float(f(self.f(), b.f())),
        }
    }
    /// `a > b`.
    pub fn gt(self, b: Num) -> bool {
        match (self, b) {
            (Num::Int(x), Num::Int(y)) => x > y,
            _ => self.f() > b.f(),
        }
    }
    /// `a != 0`.
    pub fn nonzero(self) -> bool {
        self.f() != 0.0
    }
    /// `round(self, 2)` (an `int` stays an `int`).
    pub fn round2(self) -> Num {
        match self {
            Num::Int(i) => Num::Int(i),
            Num::Float(f) => Num::Float(round2(f)),
        }
    }
    /// As a JSON value with Python's int / float distinction (a non-finite float is `null`).
    pub fn value(self) -> Value {
        match self {
            Num::Int(i) => Value::from(i),
            Num::Float(f) => serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null),
        }
    }
    /// `str(self)`.
    pub fn py_str(self) -> String {
        match self {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => pyjson::float_repr(f),
        }
    }
}

/// Python `a + b` on numbers: int + int stays int (float once it overflows i64).
impl std::ops::Add for Num {
    type Output = Num;
    fn add(self, b: Num) -> Num {
        self.int_op(b, i64::checked_add, |x, y| x + y)
    }
}

/// Python `a - b` on numbers.
impl std::ops::Sub for Num {
    type Output = Num;
    fn sub(self, b: Num) -> Num {
        self.int_op(b, i64::checked_sub, |x, y| x - y)
    }
}

/// Python `a * b` on numbers.
impl std::ops::Mul for Num {
    type Output = Num;
    fn mul(self, b: Num) -> Num {
        self.int_op(b, i64::checked_mul, |x, y| x * y)
    }
}

/// `a - b` on JSON values (`TypeError` text for unsupported operands).
pub fn py_sub(a: &Value, b: &Value) -> Result<Num, ToolError> {
    match (Num::of(a), Num::of(b)) {
        (Some(x), Some(y)) => Ok(x - y),
        _ => Err(ToolError::failed(format!(
            "unsupported operand type(s) for -: '{}' and '{}'",
            type_name(a),
            type_name(b)
        ))),
    }
}

/// `float(s)` of a string (decimal literals, `inf`/`infinity`/`nan`, underscores between
/// digits); `None` where Python raises `ValueError`.
pub fn parse_float(s: &str) -> Option<f64> {
    let l = s.to_ascii_lowercase();
    let body = l.trim_start_matches(['+', '-']);
    if l.len() - body.len() > 1 {
        return None;
    }
    match body {
        "inf" | "infinity" => return Some(if l.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY }),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if body.is_empty() || !body.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-' | '_')) {
        return None;
    }
    if body.contains("__") || body.starts_with('_') || body.ends_with('_') {
        return None;
    }
    l.replace('_', "").parse::<f64>().ok()
}
