//! A small slice of pydantic v2 (lax mode): field validation into [`LineError`]s and
//! `str(ValidationError)` formatting, byte for byte (pydantic 2.14 error URLs).

use super::{parse_float, type_name};
use crate::args::small_get;
use crate::{pyjson, Map, ToolError, Value};

/// pydantic version in the error URLs (the reference vectors were recorded with 2.14).
const PYDANTIC_DOCS: &str = "https://errors.pydantic.dev/2.14/v/";

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

/// pydantic's input_value truncation: a repr of more than 50 bytes shows its first 25 and last
/// 24 bytes (the cut moved off any split character).
pub fn truncate(s: &str) -> String {
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

/// One line error's text: `loc`, message, `[type=..., input_value=..., input_type=...]` and the
/// docs link, the way `str(ValidationError)` shows it.
pub fn format_line(e: &LineError) -> String {
    format!(
        "{}\n  {} [type={}, input_value={}, input_type={}]\n    For further information visit {PYDANTIC_DOCS}{}",
        e.loc,
        e.msg,
        e.typ,
        truncate(&pyjson::py_repr(&e.input)),
        type_name(&e.input),
        e.typ
    )
}

/// `str(ValidationError)` for model `title`.
pub fn format_errors(title: &str, errs: &[LineError]) -> String {
    let n = errs.len();
    let mut out = format!("{n} validation error{} for {title}", if n == 1 { "" } else { "s" });
    for e in errs {
        out.push('\n');
        out.push_str(&format_line(e));
    }
    out
}

/// Where a value sits in the input (`passengers.0.first_name`), built only for an error: a
/// `String`, or a field `name` of the model at `prefix` (`("passengers.0", "first_name")`,
/// `("", "amount")`).
pub enum Loc<'a> {
    /// A location already written out.
    Owned(String),
    /// Field `.1` of the model at `.0` (empty at the top).
    Field(&'a str, &'a str),
}

impl Loc<'_> {
    fn into_string(self) -> String {
        match self {
            Loc::Owned(s) => s,
            Loc::Field(prefix, name) => join(prefix, name),
        }
    }
}

impl From<String> for Loc<'_> {
    fn from(s: String) -> Self {
        Loc::Owned(s)
    }
}

impl<'a> From<&'a str> for Loc<'a> {
    /// A top-level field.
    fn from(name: &'a str) -> Self {
        Loc::Field("", name)
    }
}

impl<'a> From<(&'a str, &'a str)> for Loc<'a> {
    fn from((prefix, name): (&'a str, &'a str)) -> Self {
        Loc::Field(prefix, name)
    }
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
    fn err<'l>(&mut self, loc: impl Into<Loc<'l>>, msg: &str, typ: &'static str, input: &Value) {
        self.errs.push(LineError { loc: loc.into().into_string(), msg: msg.to_string(), typ, input: input.clone() });
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
        let v = small_get(data, name);
        if v.is_none() {
            self.err(Loc::Field(prefix, name), "Field required", "missing", &Value::Object(data.clone()));
        }
        v
    }

    /// `str` field (lax: only `str`).
    pub fn str_<'l>(&mut self, loc: impl Into<Loc<'l>>, v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.err(loc, "Input should be a valid string", "string_type", v);
                None
            }
        }
    }

    /// `int` field (lax: bools, integral floats and numeric strings convert).
    pub fn int<'l>(&mut self, loc: impl Into<Loc<'l>>, v: &Value) -> Option<i64> {
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
    pub fn float<'l>(&mut self, loc: impl Into<Loc<'l>>, v: &Value) -> Option<f64> {
        match v {
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Number(n) => n.as_f64(),
            Value::String(s) => match parse_float(s.trim()) {
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
    pub fn literal<'l>(&mut self, loc: impl Into<Loc<'l>>, v: &Value, allowed: &[&str]) -> Option<String> {
        if let Value::String(s) = v {
            if allowed.contains(&s.as_str()) {
                return Some(s.clone());
            }
        }
        let q: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
        let expected = match q.as_slice() {
            [init @ .., last] if !init.is_empty() => format!("{} or {last}", init.join(", ")),
            _ => q.concat(),
        };
        self.err(loc, &format!("Input should be {expected}"), "literal_error", v);
        None
    }

    /// A nested model: a dict validated by `f`, else `model_type`.
    pub fn model<'l, T>(
        &mut self,
        loc: impl Into<Loc<'l>>,
        v: &Value,
        class: &str,
        f: impl FnOnce(&mut Self, &str, &Map<String, Value>) -> Option<T>,
    ) -> Option<T> {
        let loc = loc.into();
        match v {
            Value::Object(m) => f(self, &loc.into_string(), m),
            _ => {
                self.err(loc, &format!("Input should be a valid dictionary or instance of {class}"), "model_type", v);
                None
            }
        }
    }

    /// A `List[...]` field.
    pub fn list<'l, T>(&mut self, loc: impl Into<Loc<'l>>, v: &Value, mut item: impl FnMut(&mut Self, String, &Value) -> Option<T>) -> Option<Vec<T>> {
        // Every item's location starts with the list's: written out once.
        let loc = loc.into().into_string();
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
