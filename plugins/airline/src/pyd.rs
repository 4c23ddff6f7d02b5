//! A small slice of pydantic v2 (lax mode) and of Python's value semantics: what the airline
//! tools need to reproduce the reference's validation errors and `TypeError`s byte for byte.

use eigenbox_sdk::pyjson;
use eigenbox_sdk::{Map, ToolError, Value};

/// pydantic version in the error URLs (the reference vectors were recorded with 2.14).
const PYDANTIC_DOCS: &str = "https://errors.pydantic.dev/2.14/v/";

/// Python's `type(v).__name__`.
pub fn py_type(v: &Value) -> &'static str {
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

/// One pydantic line error.
#[derive(Debug, Clone)]
pub struct LineError {
    /// Dotted location (`passengers.0.first_name`).
    pub loc: String,
    /// Message.
    pub msg: String,
    /// Error type (`string_type`).
    pub typ: &'static str,
    /// The offending input.
    pub input: Value,
}

/// pydantic's input_value truncation: more than 50 bytes show the first 25 and last 24.
fn truncate(s: &str) -> String {
    if s.len() <= 50 {
        return s.to_string();
    }
    let mut a = 25;
    while !s.is_char_boundary(a) {
        a -= 1;
    }
    let mut b = s.len() - 24;
    while !s.is_char_boundary(b) {
        b += 1;
    }
    format!("{}...{}", &s[..a], &s[b..])
}

/// `str(ValidationError)`.
pub fn format_errors(title: &str, errs: &[LineError]) -> String {
    let n = errs.len();
    let mut out = format!("{n} validation error{} for {title}", if n == 1 { "" } else { "s" });
    for e in errs {
        out.push('\n');
        out.push_str(&e.loc);
        out.push_str("\n  ");
        out.push_str(&e.msg);
        out.push_str(&format!(
            " [type={}, input_value={}, input_type={}]",
            e.typ,
            truncate(&pyjson::py_repr(&e.input)),
            py_type(&e.input)
        ));
        out.push_str(&format!("\n    For further information visit {PYDANTIC_DOCS}{}", e.typ));
    }
    out
}

/// Collects line errors while validating one model.
#[derive(Default)]
pub struct Validator {
    /// Errors so far.
    pub errs: Vec<LineError>,
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl Validator {
    fn err(&mut self, loc: String, msg: &str, typ: &'static str, input: &Value) {
        self.errs.push(LineError { loc, msg: msg.to_string(), typ, input: input.clone() });
    }

    /// Into a `ToolError` for model `title` if anything failed.
    pub fn finish(self, title: &str) -> Result<(), ToolError> {
        if self.errs.is_empty() {
            Ok(())
        } else {
            Err(ToolError::failed(format_errors(title, &self.errs)))
        }
    }

    /// A required field of a model built from `data` (a dict): `Field required` if absent.
    pub fn field<'a>(&mut self, prefix: &str, data: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
        let v = data.get(name);
        if v.is_none() {
            self.err(join(prefix, name), "Field required", "missing", &Value::Object(data.clone()));
        }
        v
    }

    /// `str` field (lax: only `str`).
    pub fn str_(&mut self, loc: String, v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.err(loc, "Input should be a valid string", "string_type", v);
                None
            }
        }
    }

    /// `int` field (lax: bools, integral floats and numeric strings convert).
    pub fn int(&mut self, loc: String, v: &Value) -> Option<i64> {
        match v {
            Value::Bool(b) => Some(*b as i64),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    return Some(i);
                }
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() < 9.2e18 {
                    Some(f as i64)
                } else if !f.is_finite() {
                    self.err(loc, "Input should be a finite number", "finite_number", v);
                    None
                } else if f.fract() != 0.0 {
                    self.err(loc, "Input should be a valid integer, got a number with a fractional part", "int_from_float", v);
                    None
                } else {
                    // Python ints are unbounded; this slice stops at i64.
                    self.err(loc, "Input should be a valid integer", "int_type", v);
                    None
                }
            }
            Value::String(s) => {
                let t = s.trim();
                let t2 = strip_decimal_zeros(t);
                match t2.replace('_', "").parse::<i64>() {
                    Ok(i) if !t2.starts_with('_') && !t2.ends_with('_') && !t2.contains("__") => Some(i),
                    _ => {
                        self.err(loc, "Input should be a valid integer, unable to parse string as an integer", "int_parsing", v);
                        None
                    }
                }
            }
            _ => {
                self.err(loc, "Input should be a valid integer", "int_type", v);
                None
            }
        }
    }

    /// `float` field (lax: ints, bools and numeric strings convert).
    pub fn float(&mut self, loc: String, v: &Value) -> Option<f64> {
        match v {
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Number(n) => n.as_f64(),
            Value::String(s) => match parse_py_float(s.trim()) {
                Some(f) => Some(f),
                None => {
                    self.err(loc, "Input should be a valid number, unable to parse string as a number", "float_parsing", v);
                    None
                }
            },
            _ => {
                self.err(loc, "Input should be a valid number", "float_type", v);
                None
            }
        }
    }

    /// `Literal[...]` of strings.
    pub fn literal(&mut self, loc: String, v: &Value, allowed: &[&str]) -> Option<String> {
        if let Value::String(s) = v {
            if allowed.contains(&s.as_str()) {
                return Some(s.clone());
            }
        }
        let q: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
        let expected = match q.len() {
            1 => q[0].clone(),
            _ => format!("{} or {}", q[..q.len() - 1].join(", "), q[q.len() - 1]),
        };
        self.err(loc, &format!("Input should be {expected}"), "literal_error", v);
        None
    }

    /// A nested model: a dict validated by `f`, else `model_type`.
    pub fn model<T>(
        &mut self,
        loc: String,
        v: &Value,
        class: &str,
        f: impl FnOnce(&mut Self, &str, &Map<String, Value>) -> Option<T>,
    ) -> Option<T> {
        match v {
            Value::Object(m) => f(self, &loc, m),
            _ => {
                self.err(loc, &format!("Input should be a valid dictionary or instance of {class}"), "model_type", v);
                None
            }
        }
    }

    /// A `List[...]` field.
    pub fn list<T>(&mut self, loc: String, v: &Value, mut item: impl FnMut(&mut Self, String, &Value) -> Option<T>) -> Option<Vec<T>> {
        match v {
            Value::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                let mut ok = true;
                for (i, x) in a.iter().enumerate() {
                    match item(self, format!("{loc}.{i}"), x) {
                        Some(t) => out.push(t),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            _ => {
                self.err(loc, "Input should be a valid list", "list_type", v);
                None
            }
        }
    }
}

fn strip_decimal_zeros(s: &str) -> &str {
    if let Some((a, b)) = s.split_once('.') {
        if b.chars().all(|c| c == '0') && !a.is_empty() {
            return a;
        }
    }
    s
}

/// Python's `float(str)` (enough of it: decimal literals, inf, nan, underscores between digits).
pub fn parse_py_float(s: &str) -> Option<f64> {
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

/// Python's `iter(v)` for a JSON value: list items, dict keys, string characters; other
/// types raise `TypeError: '<type>' object is not iterable`.
pub fn py_iter(v: &Value) -> Result<Vec<Value>, ToolError> {
    match v {
        Value::Array(a) => Ok(a.clone()),
        Value::Object(m) => Ok(m.keys().map(|k| Value::String(k.clone())).collect()),
        Value::String(s) => Ok(s.chars().map(|c| Value::String(c.to_string())).collect()),
        other => Err(ToolError::failed(format!("'{}' object is not iterable", py_type(other)))),
    }
}

/// Python's `len(v)` for an iterable JSON value.
pub fn py_len(v: &Value) -> Result<usize, ToolError> {
    match v {
        Value::Array(a) => Ok(a.len()),
        Value::Object(m) => Ok(m.len()),
        Value::String(s) => Ok(s.chars().count()),
        other => Err(ToolError::failed(format!("object of type '{}' has no len()", py_type(other)))),
    }
}

/// A Python number (`int` or `float`; bools count as ints).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// int
    I(i64),
    /// float
    F(f64),
}

impl Num {
    /// The value as a Python number, or `None` for non-numbers.
    pub fn of(v: &Value) -> Option<Num> {
        match v {
            Value::Bool(b) => Some(Num::I(*b as i64)),
            Value::Number(n) => match n.as_i64() {
                Some(i) if !n.is_f64() => Some(Num::I(i)),
                _ => n.as_f64().map(Num::F),
            },
            _ => None,
        }
    }
    /// As f64.
    pub fn f(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
    /// `a - b`.
    pub fn sub(self, b: Num) -> Num {
        match (self, b) {
            (Num::I(x), Num::I(y)) => Num::I(x - y),
            _ => Num::F(self.f() - b.f()),
        }
    }
    /// `a + b`.
    pub fn add(self, b: Num) -> Num {
        match (self, b) {
            (Num::I(x), Num::I(y)) => Num::I(x + y),
            _ => Num::F(self.f() + b.f()),
        }
    }
    /// `a * b`.
    pub fn mul(self, b: Num) -> Num {
        match (self, b) {
            (Num::I(x), Num::I(y)) => Num::I(x * y),
            _ => Num::F(self.f() * b.f()),
        }
    }
    /// `a > b`.
    pub fn gt(self, b: Num) -> bool {
        match (self, b) {
            (Num::I(x), Num::I(y)) => x > y,
            _ => self.f() > b.f(),
        }
    }
    /// `a != 0`.
    pub fn nonzero(self) -> bool {
        self.f() != 0.0
    }
    /// As a JSON value.
    pub fn value(self) -> Value {
        match self {
            Num::I(i) => Value::from(i),
            Num::F(f) => serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null),
        }
    }
    /// Python `str()`.
    pub fn py_str(self) -> String {
        match self {
            Num::I(i) => i.to_string(),
            Num::F(f) => pyjson::float_repr(f),
        }
    }
}

/// Python `a - b` on JSON values (`TypeError` text for unsupported operands).
pub fn py_sub(a: &Value, b: &Value) -> Result<Num, ToolError> {
    match (Num::of(a), Num::of(b)) {
        (Some(x), Some(y)) => Ok(x.sub(y)),
        _ => Err(ToolError::failed(format!(
            "unsupported operand type(s) for -: '{}' and '{}'",
            py_type(a),
            py_type(b)
        ))),
    }
}

/// Python `==` between two JSON-ish values (1 == 1.0 == True).
pub fn py_eq(a: &Value, b: &Value) -> bool {
    match (Num::of(a), Num::of(b)) {
        (Some(x), Some(y)) => x.f() == y.f(),
        _ => a == b,
    }
}
