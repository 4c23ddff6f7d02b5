//! The bits of Python semantics the retail tools lean on when they get raw, unvalidated
//! arguments (the reference calls tool functions with the model's JSON as keyword arguments).

use eigenbox_sdk::{pyjson, ToolError, Value};

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

/// `repr(f)` of a float.
pub fn float_repr(f: f64) -> String {
    pyjson::float_repr(f)
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// `a == b` (1 == 1.0 == True).
pub fn py_eq(a: &Value, b: &Value) -> bool {
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
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

/// `iter(v)`: list items, a string's characters, a dict's keys.
pub fn iterate(v: &Value) -> Result<Vec<Value>, ToolError> {
    match v {
        Value::Array(a) => Ok(a.clone()),
        Value::String(s) => Ok(s.chars().map(|c| Value::String(c.to_string())).collect()),
        Value::Object(m) => Ok(m.keys().map(|k| Value::String(k.clone())).collect()),
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

/// `key in some_dict` / `some_dict[key]` for a `Dict[str, ...]`.
pub fn dict_key(v: &Value) -> Result<Option<&str>, ToolError> {
    match v {
        Value::String(s) => Ok(Some(s)),
        Value::Array(_) | Value::Object(_) => {
            Err(ToolError::failed(format!("unhashable type: '{}'", type_name(v))))
        }
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

/// `sorted(v)` of an iterable whose items are strings (the only case the tools reach).
pub fn sorted_strs(v: &Value) -> Result<Vec<String>, ToolError> {
    let items = iterate(v)?;
    let mut out = Vec::with_capacity(items.len());
    for x in &items {
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

/// `round(x, 2)` of a float (correctly rounded, ties to even on the exact binary value).
pub fn round2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.2}").parse().unwrap_or(x)
}

/// A Python number that may be an `int` or a `float` (`diff_price = 0` then `+= float`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// `int`
    Int(i64),
    /// `float`
    Float(f64),
}

impl Num {
    /// As a float.
    pub fn f(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
    /// `self + x` for a float `x`.
    pub fn add(self, x: f64) -> Num {
        Num::Float(self.f() + x)
    }
    /// `round(self, 2)`.
    pub fn round2(self) -> Num {
        match self {
            Num::Int(i) => Num::Int(i),
            Num::Float(f) => Num::Float(round2(f)),
        }
    }
    /// JSON value with Python's int / float distinction.
    pub fn to_value(self) -> Value {
        match self {
            Num::Int(i) => Value::from(i),
            Num::Float(f) => serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null),
        }
    }
}
