//! Tool arguments: the [`ToolArgs`] trait (derived), schema pieces and Python call semantics.

use crate::runtime::{ToolError, ToolErrorKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Keyword arguments of one tool or environment function. Derive it with
/// `#[derive(ToolArgs)]`; see the `eigenbox-sdk-macros` docs for the attributes.
pub trait ToolArgs: Sized {
    /// Tool / function name (default: snake_case of the struct name without `Args`).
    const NAME: &'static str;
    /// Tool description (default: the struct's doc comment).
    const DESCRIPTION: &'static str;
    /// Parameter names, in declaration order.
    const FIELDS: &'static [&'static str];
    /// Parameters without a default, in declaration order.
    const REQUIRED: &'static [&'static str];
    /// The `function.parameters` JSON schema, pydantic style.
    fn parameters() -> Value;
    /// Bind the keyword arguments with Python call semantics; `class` is the toolkit class
    /// name used in Python's error messages (`MockTools.create_task() ...`).
    fn from_kwargs(class: &str, kwargs: &Map<String, Value>) -> Result<Self, ToolError>;
    /// [`ToolArgs::from_kwargs`] from keyword arguments the caller no longer needs: the derive
    /// moves loose ([`PyValue`]) arguments out of the map instead of copying them, which is
    /// what a tool call uses.
    fn from_kwargs_owned(class: &str, kwargs: Map<String, Value>) -> Result<Self, ToolError> {
        Self::from_kwargs(class, &kwargs)
    }
}

/// The JSON-schema fragment of an argument type (`{"type": "string"}`, ...).
pub trait ArgSchema {
    /// Schema keys for this type (without title / description / default).
    fn arg_schema() -> Map<String, Value>;
}

fn ty(t: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".to_string(), Value::String(t.to_string()));
    m
}

macro_rules! schema_ty {
    ($t:literal: $($ty:ty),*) => {$(
        impl ArgSchema for $ty {
            fn arg_schema() -> Map<String, Value> { ty($t) }
        }
    )*};
}
schema_ty!("string": String, char);
schema_ty!("integer": i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);
schema_ty!("number": f32, f64);
schema_ty!("boolean": bool);

impl<T: ArgSchema> ArgSchema for Option<T> {
    fn arg_schema() -> Map<String, Value> {
        T::arg_schema()
    }
}
impl<T: ArgSchema> ArgSchema for Vec<T> {
    fn arg_schema() -> Map<String, Value> {
        let mut m = ty("array");
        m.insert("items".to_string(), Value::Object(T::arg_schema()));
        m
    }
}
impl<T: ArgSchema> ArgSchema for std::collections::BTreeMap<String, T> {
    fn arg_schema() -> Map<String, Value> {
        let mut m = ty("object");
        m.insert("additionalProperties".to_string(), Value::Object(T::arg_schema()));
        m
    }
}
impl ArgSchema for Value {
    fn arg_schema() -> Map<String, Value> {
        Map::new()
    }
}
/// A loose argument is declared to the model as a string (τ²'s arguments are almost all
/// `str`); override with `#[arg(type = "...")]` or `#[arg(schema = "...")]`.
impl ArgSchema for PyValue {
    fn arg_schema() -> Map<String, Value> {
        ty("string")
    }
}

/// A loosely typed argument: whatever JSON the caller sent, as Python would have received it
/// (the reference never validates argument types). `Display` is Python's `str()`, so
/// `format!("User {} not found", v)` prints `User 1e+18 not found` for the number `1e18`.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PyValue(pub Value);

impl PyValue {
    /// The string, if the value is one.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_str()
    }
    /// The underlying JSON value.
    pub fn value(&self) -> &Value {
        &self.0
    }
    /// Take the underlying JSON value.
    pub fn into_value(self) -> Value {
        self.0
    }
    /// Python's `type(v).__name__` (`str`, `int`, `float`, `bool`, `NoneType`, `list`, `dict`).
    pub fn py_type(&self) -> &'static str {
        crate::py::type_name(&self.0)
    }
    /// Use the value as a key of a `Dict[str, ...]` the way `key in d` / `d[key]` would:
    /// `Ok(Some(s))` for a string, `Ok(None)` for another hashable value (never found),
    /// `Err` (`unhashable type: 'list'`) for lists and dicts, as Python raises `TypeError`.
    pub fn dict_key(&self) -> Result<Option<&str>, ToolError> {
        match &self.0 {
            Value::String(s) => Ok(Some(s)),
            Value::Array(_) | Value::Object(_) => Err(ToolError::failed(format!(
                "unhashable type: '{}'",
                self.py_type()
            ))),
            _ => Ok(None),
        }
    }
    /// Python's `repr()` of the value.
    pub fn py_repr(&self) -> String {
        eigenbox_pyjson::py_repr(&self.0)
    }
}

impl fmt::Display for PyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&eigenbox_pyjson::py_str(&self.0))
    }
}

impl From<Value> for PyValue {
    fn from(v: Value) -> Self {
        PyValue(v)
    }
}
impl From<&str> for PyValue {
    fn from(v: &str) -> Self {
        PyValue(Value::String(v.to_string()))
    }
}
impl PartialEq<str> for PyValue {
    fn eq(&self, other: &str) -> bool {
        self.0.as_str() == Some(other)
    }
}
impl PartialEq<&str> for PyValue {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == Some(*other)
    }
}

fn quote_list(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        2 => format!("{} and {}", q[0], q[1]),
        _ => format!("{}, and {}", q[..q.len() - 1].join(", "), q[q.len() - 1]),
    }
}

/// Maps this small (keyword arguments, a model's dict) are searched by a scan: cheaper than
/// hashing the key (`serde_json`'s map hashes with SipHash).
const SMALL_MAP: usize = 8;

/// `m.get(name)`, by a scan when `m` is small.
pub(crate) fn small_get<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if m.len() <= SMALL_MAP {
        m.iter().find_map(|(k, v)| (k == name).then_some(v))
    } else {
        m.get(name)
    }
}

/// `m.get_mut(name)`, by a scan when `m` is small.
fn small_get_mut<'a>(m: &'a mut Map<String, Value>, name: &str) -> Option<&'a mut Value> {
    if m.len() <= SMALL_MAP {
        m.iter_mut().find_map(|(k, v)| (k == name).then_some(v))
    } else {
        m.get_mut(name)
    }
}

/// Python's binding checks for `Class.func(**kwargs)`: the first unexpected keyword, then all
/// missing required arguments.
pub fn check_kwargs(
    class: &str,
    func: &str,
    kwargs: &Map<String, Value>,
    fields: &[&str],
    required: &[&str],
) -> Result<(), ToolError> {
    for k in kwargs.keys() {
        if !fields.contains(&k.as_str()) {
            return Err(ToolError::new(
                ToolErrorKind::InvalidArguments,
                format!("{class}.{func}() got an unexpected keyword argument '{k}'"),
            ));
        }
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| small_get(kwargs, r).is_none())
        .collect();
    if !missing.is_empty() {
        let plural = if missing.len() == 1 { "argument" } else { "arguments" };
        return Err(ToolError::new(
            ToolErrorKind::InvalidArguments,
            format!(
                "{class}.{func}() missing {} required positional {plural}: {}",
                missing.len(),
                quote_list(&missing)
            ),
        ));
    }
    Ok(())
}

/// Bind one argument: the caller's value, else the JSON default.
pub fn take_arg<T: DeserializeOwned>(
    class: &str,
    func: &str,
    kwargs: &Map<String, Value>,
    name: &str,
    default: Option<&str>,
) -> Result<T, ToolError> {
    let parsed;
    let v = match (small_get(kwargs, name), default) {
        (Some(v), _) => v,
        (None, Some(d)) => {
            parsed = serde_json::from_str(d).unwrap_or(Value::Null);
            &parsed
        }
        (None, None) => {
            return Err(ToolError::new(
                ToolErrorKind::InvalidArguments,
                format!("{class}.{func}() missing 1 required positional argument: '{name}'"),
            ))
        }
    };
    // Straight from the borrowed value (no copy first); the error text is only built when
    // the value does not bind.
    T::deserialize(v).map_err(|e| {
        let shown = eigenbox_pyjson::py_repr(v);
        let tname = crate::py::type_name(v);
        ToolError::new(
            ToolErrorKind::InvalidArguments,
            format!("{class}.{func}() argument '{name}' has an invalid value {shown} ({tname}): {e}"),
        )
    })
}

/// [`take_arg`] for a loose argument ([`PyValue`]), moved out of the map: any JSON binds, so
/// only a missing argument without a default fails.
pub fn take_py_value(
    class: &str,
    func: &str,
    kwargs: &mut Map<String, Value>,
    name: &str,
    default: Option<&str>,
) -> Result<PyValue, ToolError> {
    match small_get_mut(kwargs, name) {
        Some(v) => Ok(PyValue(std::mem::take(v))),
        None => take_arg(class, func, kwargs, name, default),
    }
}

/// Parse JSON text embedded by the derive (a `schema`, `default` or `defs` attribute).
pub fn schema_from_text(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| Value::String(format!("invalid JSON in attribute: {e}")))
}

/// Key order of the reference's schemas: keys sorted at every level except inside a
/// `properties` object, which keeps declaration order.
pub fn canonical_schema(v: Value) -> Value {
    canon(v, false)
}

fn canon(v: Value, keep_order: bool) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            if !keep_order {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            let mut out = Map::new();
            for (k, x) in entries {
                let child_keep = !keep_order && k == "properties";
                out.insert(k, canon(x, child_keep));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(|x| canon(x, false)).collect()),
        other => other,
    }
}
