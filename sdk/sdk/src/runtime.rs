//! The target-independent domain machinery: [`Domain`], [`Toolkit`] and [`Runtime`].

use crate::args::ToolArgs;
use crate::binary;
use crate::table::Cached;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::cell::RefCell;

/// Who issues a tool call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requestor {
    /// The agent.
    Assistant,
    /// The simulated user.
    User,
}

/// Which database (and which toolkit) an operation addresses.
pub type Side = Requestor;

/// τ²'s `ToolType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolKind {
    /// Reads state.
    Read,
    /// Changes state.
    Write,
    /// Pure reasoning.
    Think,
    /// Anything else.
    Generic,
}

/// Failure category (mirrors the WIT `tool-error-kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolErrorKind {
    /// No such tool for the requestor.
    UnknownTool,
    /// Arguments did not bind (missing, unexpected, wrong type, not a JSON object).
    InvalidArguments,
    /// The tool rejected the request (the domain's own error).
    Failed,
    /// Refused by policy.
    Denied,
}

/// A failed call; the host writes `Error: {message}` into the tool message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolError {
    /// Category.
    pub kind: ToolErrorKind,
    /// Text after `Error: `, byte-exact with the reference's exception message.
    pub message: String,
}

impl ToolError {
    /// An error of any kind.
    pub fn new(kind: ToolErrorKind, message: impl Into<String>) -> Self {
        ToolError { kind, message: message.into() }
    }
    /// The domain's own error (Python's `raise ValueError(message)`).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ToolErrorKind::Failed, message)
    }
}
impl From<String> for ToolError {
    fn from(m: String) -> Self {
        ToolError::failed(m)
    }
}
impl From<&str> for ToolError {
    fn from(m: &str) -> Self {
        ToolError::failed(m)
    }
}
impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Static description of a domain.
#[derive(Clone, Debug)]
pub struct DomainInfo {
    /// Short name (`mock`).
    pub name: String,
    /// Semver version.
    pub version: String,
    /// Agent policy (markdown), usually `include_str!("../data/policy.md")`.
    pub policy: String,
    /// Whether the domain has a user-side database.
    pub has_user_db: bool,
}
impl DomainInfo {
    /// Info for a domain without a user database.
    pub fn new(name: &str, version: &str, policy: &str) -> Self {
        DomainInfo { name: name.into(), version: version.into(), policy: policy.into(), has_user_db: false }
    }
    /// Mark the domain as having a user database.
    pub fn with_user_db(mut self) -> Self {
        self.has_user_db = true;
        self
    }
}

/// One tool as listed to the host.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// Description shown to the model.
    pub description: String,
    /// JSON text of the parameters schema.
    pub parameters: String,
    /// Kind.
    pub kind: ToolKind,
    /// Whether replay re-executes it.
    pub mutates_state: bool,
    /// Who may call it.
    pub requestor: Requestor,
}

/// An environment function call (initialization action or assertion).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvCall {
    /// Toolkit side.
    pub side: Side,
    /// Function name.
    pub name: String,
    /// JSON text of the keyword arguments.
    pub arguments: String,
}

/// Episode set-up (`initial_state` minus the message history).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EpisodeInit {
    /// JSON deep-merged into the agent DB.
    pub agent_data: Option<String>,
    /// JSON deep-merged into the user DB.
    pub user_data: Option<String>,
    /// Functions run afterwards, in order.
    pub actions: Vec<EnvCall>,
}

/// What a tool call is rendered for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// The tool message content: `json.dumps(result, default=str)`, a string result verbatim.
    Text,
    /// The result as a JSON value (environment functions).
    Value,
}

/// A rendered result.
enum Out {
    Text(String),
    Value(Value),
}

type Handler<D> = Box<dyn Fn(&mut D, &str, Map<String, Value>, Want) -> Result<Out, ToolError>>;

struct ToolEntry<D> {
    name: &'static str,
    description: &'static str,
    parameters: fn() -> Value,
    kind: ToolKind,
    mutates: bool,
    handler: Handler<D>,
}

struct EnvEntry<D> {
    name: &'static str,
    handler: Handler<D>,
}

/// One toolkit class (τ²'s `ToolKitBase` subclass): its tools and non-tool env functions.
pub struct Toolkit<D> {
    class: &'static str,
    requestor: Requestor,
    tools: Vec<ToolEntry<D>>,
    env_fns: Vec<EnvEntry<D>>,
}

/// A result that serializes as a JSON string (a `String`, `&str`, `Some(string)`...): the
/// string itself, without rendering and un-escaping it; `Err` for anything else.
struct StrProbe;

/// Not a string.
#[derive(Debug)]
struct NotStr;

impl std::fmt::Display for NotStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a string")
    }
}
impl std::error::Error for NotStr {}
impl serde::ser::Error for NotStr {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotStr
    }
}

macro_rules! not_str {
    ($($f:ident($($t:ty),*);)*) => {$(
        fn $f(self, $(_: $t),*) -> Result<String, NotStr> {
            Err(NotStr)
        }
    )*};
}

impl Serializer for StrProbe {
    type Ok = String;
    type Error = NotStr;
    type SerializeSeq = serde::ser::Impossible<String, NotStr>;
    type SerializeTuple = serde::ser::Impossible<String, NotStr>;
    type SerializeTupleStruct = serde::ser::Impossible<String, NotStr>;
    type SerializeTupleVariant = serde::ser::Impossible<String, NotStr>;
    type SerializeMap = serde::ser::Impossible<String, NotStr>;
    type SerializeStruct = serde::ser::Impossible<String, NotStr>;
    type SerializeStructVariant = serde::ser::Impossible<String, NotStr>;
    fn serialize_str(self, v: &str) -> Result<String, NotStr> {
        Ok(v.to_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<String, NotStr> {
        v.serialize(self)
    }
    not_str! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32); serialize_i64(i64);
        serialize_i128(i128); serialize_u8(u8); serialize_u16(u16); serialize_u32(u32); serialize_u64(u64);
        serialize_u128(u128); serialize_f32(f32); serialize_f64(f64); serialize_char(char);
        serialize_bytes(&[u8]); serialize_none(); serialize_unit(); serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, _: &T) -> Result<String, NotStr> {
        Err(NotStr)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(self, _: &'static str, _: u32, _: &'static str, _: &T) -> Result<String, NotStr> {
        Err(NotStr)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotStr> {
        Err(NotStr)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotStr> {
        Err(NotStr)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, NotStr> {
        Err(NotStr)
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeTupleVariant, NotStr> {
        Err(NotStr)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotStr> {
        Err(NotStr)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotStr> {
        Err(NotStr)
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeStructVariant, NotStr> {
        Err(NotStr)
    }
}

/// A tool result as the tool message content: a string verbatim, anything else as
/// `json.dumps(result, default=str)`, straight to the reference's text (no `Value` in
/// between). `Err` is the tool's error message when the result cannot be rendered.
pub(crate) fn render_text<R: Serialize + ?Sized>(r: &R) -> Result<String, String> {
    let failed = |e: &dyn std::fmt::Display| format!("could not serialize the result: {e}");
    // A string result is the content itself, not its JSON.
    if let Ok(s) = r.serialize(StrProbe) {
        return Ok(s);
    }
    let text = eigenbox_pyjson::to_json(r).map_err(|e| failed(&e))?;
    if text.starts_with('"') {
        return serde_json::from_str::<String>(&text).map_err(|e| failed(&e));
    }
    Ok(text)
}

/// Render a tool's result for `want`.
fn render<R: Serialize + ?Sized>(r: &R, want: Want) -> Result<Out, ToolError> {
    match want {
        Want::Value => serde_json::to_value(r)
            .map(Out::Value)
            .map_err(|e| ToolError::failed(format!("could not serialize the result: {e}"))),
        Want::Text => render_text(r).map(Out::Text).map_err(ToolError::failed),
    }
}

fn handler<D, A, R, E, F>(f: F) -> Handler<D>
where
    A: ToolArgs,
    R: Serialize,
    E: Into<ToolError>,
    F: Fn(&mut D, A) -> Result<R, E> + 'static,
{
    Box::new(move |d: &mut D, class: &str, kwargs: Map<String, Value>, want: Want| {
        let args = A::from_kwargs_owned(class, kwargs)?;
        let r = f(d, args).map_err(Into::into)?;
        render(&r, want)
    })
}

fn handler_cached<D, A, R, E, F>(f: F) -> Handler<D>
where
    A: ToolArgs,
    R: Serialize,
    E: Into<ToolError>,
    F: for<'a> Fn(&'a mut D, A) -> Result<Cached<'a, R>, E> + 'static,
{
    Box::new(move |d: &mut D, class: &str, kwargs: Map<String, Value>, want: Want| {
        let args = A::from_kwargs_owned(class, kwargs)?;
        let c = f(d, args).map_err(Into::into)?;
        match (want, c.text) {
            (Want::Text, Some(text)) => Ok(Out::Text(text.to_string())),
            _ => render(c.row, want),
        }
    })
}

fn handler_ref<D, A, R, E, F>(f: F) -> Handler<D>
where
    A: ToolArgs,
    R: Serialize + ?Sized,
    E: Into<ToolError>,
    F: for<'a> Fn(&'a mut D, A) -> Result<&'a R, E> + 'static,
{
    Box::new(move |d: &mut D, class: &str, kwargs: Map<String, Value>, want: Want| {
        let args = A::from_kwargs_owned(class, kwargs)?;
        let r = f(d, args).map_err(Into::into)?;
        render(r, want)
    })
}

impl<D: 'static> Toolkit<D> {
    /// A toolkit with the Python class name used in error messages (`MockTools`).
    pub fn new(class: &'static str, requestor: Requestor) -> Self {
        Toolkit { class, requestor, tools: Vec::new(), env_fns: Vec::new() }
    }

    /// Register a tool (`@is_tool(kind)`); `mutates_state` defaults to `kind == Write`.
    /// The name, description and schema come from `A: ToolArgs`.
    pub fn tool<A, R, E, F>(self, kind: ToolKind, f: F) -> Self
    where
        A: ToolArgs,
        R: Serialize,
        E: Into<ToolError>,
        F: Fn(&mut D, A) -> Result<R, E> + 'static,
    {
        self.push::<A>(kind, handler(f))
    }

    /// [`Toolkit::tool`] for a tool that returns a reference into the domain's state (a
    /// row it looked up or just changed): the result is rendered from the reference, with
    /// no copy of the row first. Rendered exactly like an owned result of the same type.
    pub fn tool_ref<A, R, E, F>(self, kind: ToolKind, f: F) -> Self
    where
        A: ToolArgs,
        R: Serialize + ?Sized,
        E: Into<ToolError>,
        F: for<'a> Fn(&'a mut D, A) -> Result<&'a R, E> + 'static,
    {
        self.push::<A>(kind, handler_ref(f))
    }

    /// [`Toolkit::tool_ref`] for a tool that returns a row of a [`crate::Table`] unchanged,
    /// looked up with [`crate::Table::get_cached`]: the tool message is the row's cached
    /// text (byte-identical to rendering the row), so the call copies text instead of
    /// rendering the row.
    pub fn tool_cached<A, R, E, F>(self, kind: ToolKind, f: F) -> Self
    where
        A: ToolArgs,
        R: Serialize,
        E: Into<ToolError>,
        F: for<'a> Fn(&'a mut D, A) -> Result<Cached<'a, R>, E> + 'static,
    {
        self.push::<A>(kind, handler_cached(f))
    }

    fn push<A: ToolArgs>(mut self, kind: ToolKind, handler: Handler<D>) -> Self {
        self.tools.push(ToolEntry { name: A::NAME, description: A::DESCRIPTION, parameters: A::parameters, kind, mutates: kind == ToolKind::Write, handler });
        self
    }

    /// Override `mutates_state` of the tool registered last.
    pub fn mutates(mut self, mutates_state: bool) -> Self {
        if let Some(t) = self.tools.last_mut() {
            t.mutates = mutates_state;
        }
        self
    }

    /// Register a non-tool environment function (initialization action or assertion
    /// helper such as `assert_task_status`), called by [`Runtime::env_function`]. Tools are
    /// environment functions too and need no separate registration.
    pub fn env_fn<A, R, E, F>(mut self, f: F) -> Self
    where
        A: ToolArgs,
        R: Serialize,
        E: Into<ToolError>,
        F: Fn(&mut D, A) -> Result<R, E> + 'static,
    {
        self.env_fns.push(EnvEntry { name: A::NAME, handler: handler(f) });
        self
    }

    /// The toolkit's class name.
    pub fn class(&self) -> &'static str {
        self.class
    }
    /// Who may call its tools.
    pub fn requestor(&self) -> Requestor {
        self.requestor
    }
}

/// A domain: state plus its toolkits. See the crate docs for a complete example.
///
/// `Clone` is how [`Runtime::reset`] starts an episode: it clones a pristine copy of
/// [`Domain::initial_state`] instead of parsing the data again. Keep DB tables in
/// [`crate::Table`]s so the clone shares rows (copy-on-write) instead of copying them.
pub trait Domain: Clone + Sized + 'static {
    /// Name, version, policy, whether there is a user DB.
    fn info() -> DomainInfo;
    /// Fresh initial state (typically parsed from `include_str!("../data/db.json")`).
    fn initial_state() -> Result<Self, String>;
    /// Toolkits: the assistant toolkit first, then the user toolkit (if any). Tools are
    /// listed in registration order.
    fn toolkits() -> Vec<Toolkit<Self>>;
    /// The agent DB as JSON (`model_dump()`): struct field order, typed numbers.
    fn agent_db(&self) -> Result<Value, String>;
    /// Replace the agent DB from JSON, validating it (pydantic `model_validate`).
    fn set_agent_db(&mut self, v: Value) -> Result<(), String>;
    /// The user DB as JSON, if the domain has one.
    fn user_db(&self) -> Option<Result<Value, String>> {
        None
    }
    /// Replace the user DB from JSON.
    fn set_user_db(&mut self, _v: Value) -> Result<(), String> {
        Err("'NoneType' object has no attribute 'update_db'".to_string())
    }

    /// Write the agent DB to a serde serializer. [`Runtime::state_hash`],
    /// [`Runtime::state_json`] and [`Runtime::snapshot`] use it, so overriding it with
    /// `self.db.serialize(s)` skips the intermediate JSON value (a large DB hashes tens of
    /// times faster). It must describe the same data as [`Domain::agent_db`], which the
    /// default goes through.
    fn serialize_agent_db<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.agent_db() {
            Ok(v) => v.serialize(s),
            Err(e) => Err(serde::ser::Error::custom(e)),
        }
    }
    /// [`Domain::serialize_agent_db`] for the user DB (`None` without one); override with
    /// `Some(self.user_db.serialize(s))`.
    fn serialize_user_db<S: Serializer>(&self, s: S) -> Option<Result<S::Ok, S::Error>> {
        self.user_db().map(|r| match r {
            Ok(v) => v.serialize(s),
            Err(e) => Err(serde::ser::Error::custom(e)),
        })
    }
    /// τ²'s `Environment.sync_tools`: bring agent-side and user-side state back in line
    /// after something changed one of them (telecom mirrors the line's status onto the
    /// phone). [`Runtime`] runs it after every successful tool call (not after
    /// [`Runtime::call_tool_unsynced`]), after every environment function, and at the end
    /// of every reset. An error after a tool call becomes that call's error.
    fn sync_tools(&mut self) -> Result<(), ToolError> {
        Ok(())
    }

    /// Replace the agent DB from a serde deserializer ([`Runtime::restore`] uses it); the
    /// default reads a JSON value and calls [`Domain::set_agent_db`]. Override with
    /// `self.db = MyDb::deserialize(d)?; Ok(())`, validating as `set_agent_db` does.
    fn deserialize_agent_db<'de, De: Deserializer<'de>>(&mut self, d: De) -> Result<(), De::Error> {
        let v = Value::deserialize(d)?;
        self.set_agent_db(v).map_err(serde::de::Error::custom)
    }
    /// [`Domain::deserialize_agent_db`] for the user DB.
    fn deserialize_user_db<'de, De: Deserializer<'de>>(&mut self, d: De) -> Result<(), De::Error> {
        let v = Value::deserialize(d)?;
        self.set_user_db(v).map_err(serde::de::Error::custom)
    }
}

/// The reference's DB aliasing after `initialization_data` (τ²'s `Environment.set_state`
/// re-points the other toolkit's `db` at the freshly merged one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Alias {
    /// Two separate databases.
    None,
    /// `agent_data` was applied: the user toolkit's DB *is* the agent DB.
    UserIsAgent,
    /// Only `user_data` was applied: the agent toolkit's DB *is* the user DB.
    AgentIsUser,
}

/// A domain instance plus its toolkits: implements every WIT export in plain Rust.
///
/// DB hashes and the snapshot are cached until something may have changed the state: any
/// tool call or environment function, [`Runtime::reset`], [`Runtime::restore`] or
/// [`Runtime::domain_mut`].
pub struct Runtime<D: Domain> {
    state: Result<D, String>,
    /// [`Domain::initial_state`], parsed once: every reset and restore starts from a clone.
    pristine: Result<D, String>,
    alias: Alias,
    kits: Vec<Toolkit<D>>,
    /// Tool positions by requestor (assistant, user) and name, the first of a name winning:
    /// what [`Runtime::find_tool`] looks up on every call.
    tool_index: [rustc_hash::FxHashMap<&'static str, (usize, usize)>; 2],
    cache: RefCell<Cache>,
}

fn side_index(r: Requestor) -> usize {
    match r {
        Requestor::Assistant => 0,
        Requestor::User => 1,
    }
}

/// [`Runtime::tool_index`] for `kits`.
fn index_tools<D>(kits: &[Toolkit<D>]) -> [rustc_hash::FxHashMap<&'static str, (usize, usize)>; 2] {
    let mut index: [rustc_hash::FxHashMap<&'static str, (usize, usize)>; 2] = Default::default();
    for (ki, kit) in kits.iter().enumerate() {
        for (ti, t) in kit.tools.iter().enumerate() {
            index[side_index(kit.requestor)].entry(t.name).or_insert((ki, ti));
        }
    }
    index
}

/// What [`Runtime`] remembers about the current state.
#[derive(Default)]
struct Cache {
    /// `state_hash` of the agent (0) and user (1) DB, by the DB actually addressed.
    hash: [Option<String>; 2],
    /// The last snapshot taken or restored.
    snapshot: Option<Vec<u8>>,
    /// The `init` of the last successful [`Runtime::reset`], while nothing has touched the
    /// state since: a reset with the same `init` would produce exactly this state, so it is
    /// skipped. That makes a fresh episode of a frozen state (frozen right after a reset)
    /// touch almost no memory, where cloning the tables would touch every row.
    clean_after: Option<EpisodeInit>,
}

/// addict's `Dict.update`: recursive merge of objects; anything else is replaced.
pub fn deep_merge(base: &mut Value, update: Value) {
    match (base, update) {
        (Value::Object(b), Value::Object(u)) => {
            for (k, v) in u {
                match b.get_mut(&k) {
                    Some(slot @ Value::Object(_)) if v.is_object() => deep_merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, u) => *b = u,
    }
}

/// τ²'s `Environment.to_json_str._process` for a raw (non-model) result: ints, floats and
/// bools inside plain lists/dicts become their Python `str()`. Return `py_process(v)` from
/// a tool that returns a plain Python dict/list of scalars in the reference.
pub fn py_process(v: Value) -> Value {
    match v {
        Value::Bool(_) | Value::Number(_) => Value::String(eigenbox_pyjson::py_str(&v)),
        Value::Array(a) => Value::Array(a.into_iter().map(py_process).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, x)| (k, py_process(x))).collect()),
        other => other,
    }
}

fn parse_kwargs(arguments: &str) -> Result<Map<String, Value>, ToolError> {
    let v: Value = serde_json::from_str(arguments).map_err(|e| {
        ToolError::new(ToolErrorKind::InvalidArguments, format!("arguments are not valid JSON: {e}"))
    })?;
    match v {
        Value::Object(m) => Ok(m),
        other => Err(ToolError::new(
            ToolErrorKind::InvalidArguments,
            format!(
                "arguments must be a JSON object of keyword arguments, got {}",
                crate::PyValue(other).py_type()
            ),
        )),
    }
}

/// Snapshot header: magic and format version.
const SNAPSHOT_MAGIC: &[u8; 5] = b"EBXS\x02";

/// Legacy snapshot layout (version 1, JSON): the DB values and the alias flag.
#[derive(Serialize, serde::Deserialize)]
struct Snapshot {
    v: u32,
    alias: Alias,
    agent: Value,
    user: Option<Value>,
}

impl<D: Domain> Default for Runtime<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D: Domain> Runtime<D> {
    /// A runtime holding the domain's initial state.
    pub fn new() -> Self {
        let pristine = D::initial_state();
        let kits = D::toolkits();
        Runtime { state: pristine.clone(), pristine, alias: Alias::None, tool_index: index_tools(&kits), kits, cache: RefCell::default() }
    }

    /// Forget the cached hashes and snapshot, and that the state is a clean reset: it may change.
    fn touch(&mut self) {
        *self.cache.get_mut() = Cache::default();
    }

    /// The domain state (or why it failed to initialize).
    pub fn domain(&self) -> Result<&D, String> {
        self.state.as_ref().map_err(|e| format!("domain failed to initialize: {e}"))
    }

    /// Mutable domain state (drops the cached hashes and snapshot).
    pub fn domain_mut(&mut self) -> Result<&mut D, String> {
        self.touch();
        self.state.as_mut().map_err(|e| format!("domain failed to initialize: {e}"))
    }

    /// Current DB aliasing.
    pub fn alias(&self) -> Alias {
        self.alias
    }

    /// Every tool, assistant toolkit(s) first, each in registration order.
    pub fn tools(&self) -> Vec<ToolSpec> {
        let mut out = Vec::new();
        for want in [Requestor::Assistant, Requestor::User] {
            for kit in self.kits.iter().filter(|k| k.requestor == want) {
                for t in &kit.tools {
                    out.push(ToolSpec {
                        name: t.name.to_string(),
                        description: t.description.to_string(),
                        parameters: eigenbox_pyjson::dumps(&(t.parameters)()),
                        kind: t.kind,
                        mutates_state: t.mutates,
                        requestor: kit.requestor,
                    });
                }
            }
        }
        out
    }

    fn find_tool(&self, requestor: Requestor, name: &str) -> Option<(usize, usize)> {
        self.tool_index[side_index(requestor)].get(name).copied()
    }

    /// Raw result of a tool call as JSON (a string result stays a JSON string), without
    /// [`Domain::sync_tools`] (τ²'s `make_tool_call`).
    pub fn call_tool_value(&mut self, requestor: Requestor, name: &str, arguments: &str) -> Result<Value, ToolError> {
        match self.dispatch(requestor, name, arguments, Want::Value)? {
            Out::Value(v) => Ok(v),
            Out::Text(t) => Ok(Value::String(t)),
        }
    }

    fn dispatch(&mut self, requestor: Requestor, name: &str, arguments: &str, want: Want) -> Result<Out, ToolError> {
        let Some((ki, ti)) = self.find_tool(requestor, name) else {
            // τ²'s `Environment`: a side without any toolkit says so; otherwise the toolkit
            // says it has no such tool.
            if !self.kits.iter().any(|k| k.requestor == requestor) {
                let which = if requestor == Requestor::User { "User tools" } else { "Tools" };
                return Err(ToolError::new(ToolErrorKind::UnknownTool, format!("{which} not available")));
            }
            return Err(ToolError::new(ToolErrorKind::UnknownTool, format!("Tool '{name}' not found.")));
        };
        let kwargs = parse_kwargs(arguments)?;
        // Any tool may change state: `mutates_state` is what replay re-executes, not a
        // guarantee (a tool registered with `.mutates(false)` may still write).
        self.touch();
        let kit = &self.kits[ki];
        let state = self.state.as_mut().map_err(|e| ToolError::failed(format!("domain failed to initialize: {e}")))?;
        (kit.tools[ti].handler)(state, kit.class, kwargs, want)
    }

    /// Execute one tool call and render the tool message content like the reference:
    /// a string result verbatim, anything else as `json.dumps(..., default=str)`; then
    /// [`Domain::sync_tools`] (τ²'s `get_response`).
    pub fn call_tool(&mut self, requestor: Requestor, name: &str, arguments: &str) -> Result<String, ToolError> {
        let text = self.call_tool_unsynced(requestor, name, arguments)?;
        self.sync()?;
        Ok(text)
    }

    fn sync(&mut self) -> Result<(), ToolError> {
        self.touch();
        let state = self.state.as_mut().map_err(|e| ToolError::failed(format!("domain failed to initialize: {e}")))?;
        state.sync_tools()
    }

    /// [`Runtime::call_tool`] without [`Domain::sync_tools`] (τ²'s `make_tool_call`, which
    /// an evaluator's gold environment uses).
    pub fn call_tool_unsynced(&mut self, requestor: Requestor, name: &str, arguments: &str) -> Result<String, ToolError> {
        match self.dispatch(requestor, name, arguments, Want::Text)? {
            Out::Text(t) => Ok(t),
            Out::Value(Value::String(s)) => Ok(s),
            Out::Value(v) => Ok(eigenbox_pyjson::dumps(&v)),
        }
    }

    /// Whether `name` is a tool of `requestor` that replay must re-execute.
    pub fn is_mutating(&self, requestor: Requestor, name: &str) -> Option<bool> {
        self.find_tool(requestor, name).map(|(k, t)| self.kits[k].tools[t].mutates)
    }

    /// Run an environment function (non-tool helper or tool) on one side's toolkit and
    /// return its result as JSON.
    pub fn env_function_value(&mut self, side: Side, name: &str, arguments: &str) -> Result<Value, ToolError> {
        let kwargs = parse_kwargs(arguments)?;
        let Some(ki) = self.kits.iter().position(|k| k.requestor == side) else {
            return Err(ToolError::new(
                ToolErrorKind::UnknownTool,
                format!("'NoneType' object has no attribute '{name}'"),
            ));
        };
        let kit = &self.kits[ki];
        let h = kit
            .env_fns
            .iter()
            .find(|e| e.name == name)
            .map(|e| &e.handler)
            .or_else(|| kit.tools.iter().find(|t| t.name == name).map(|t| &t.handler));
        let Some(h) = h else {
            return Err(ToolError::new(
                ToolErrorKind::UnknownTool,
                format!("'{}' object has no attribute '{name}'", kit.class),
            ));
        };
        let state = self.state.as_mut().map_err(|e| ToolError::failed(format!("domain failed to initialize: {e}")))?;
        // Environment functions (assertions included) may change anything: `touch()`, inlined
        // because `h` borrows `self.kits`.
        *self.cache.get_mut() = Cache::default();
        let v = match h(state, kit.class, kwargs, Want::Value)? {
            Out::Value(v) => v,
            Out::Text(t) => Value::String(t),
        };
        // `run_env_function_call` syncs after the function.
        self.sync()?;
        Ok(v)
    }

    /// [`Runtime::env_function_value`] as JSON text (`true` / `false` for assertions).
    pub fn env_function(&mut self, call: &EnvCall) -> Result<String, ToolError> {
        self.env_function_value(call.side, &call.name, &call.arguments)
            .map(|v| eigenbox_pyjson::dumps(&v))
    }

    /// The DB that `side` addresses after aliasing, `None` if there is no such DB.
    fn effective(&self, side: Side) -> Option<Side> {
        let has_user = D::info().has_user_db;
        match (side, self.alias) {
            (Side::User, _) if !has_user => None,
            (Side::User, Alias::UserIsAgent) => Some(Side::Assistant),
            (Side::Assistant, Alias::AgentIsUser) => Some(Side::User),
            (s, _) => Some(s),
        }
    }

    /// Write one side's DB as sorted Python JSON into `w`, which is first given room for the
    /// whole text: a measuring pass (cheap once the tables' row texts are cached) counts it,
    /// so the megabytes of a large DB's text are allocated once instead of by doubling, whose
    /// discarded smaller buffers would stay in linear memory (and in every frozen image and
    /// slot reset) for good.
    fn write_db(&self, side: Side, w: &mut eigenbox_pyjson::JsonWriter) -> Option<Result<Side, String>> {
        let mut probe = eigenbox_pyjson::JsonWriter::sorted();
        let (measured, tables) = crate::table::measure_sorted(|| self.write_db_into(side, &mut probe));
        match measured {
            // No table was met, so nothing was left out: the measuring pass wrote the text
            // (a DB without `Table`s is rendered once, not twice).
            Some(Ok(eff)) if tables == 0 => {
                *w = probe;
                return Some(Ok(eff));
            }
            Some(Ok(_)) => w.reserve(probe.as_bytes().len() + tables),
            _ => {}
        }
        drop(probe);
        self.write_db_into(side, w)
    }

    fn write_db_into(&self, side: Side, w: &mut eigenbox_pyjson::JsonWriter) -> Option<Result<Side, String>> {
        let d = match self.domain() {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        let eff = self.effective(side)?;
        let r = w.render_with(|w| match eff {
            Side::Assistant => Some(d.serialize_agent_db(&mut *w)),
            Side::User => d.serialize_user_db(&mut *w),
        })?;
        Some(r.map(|()| eff).map_err(|e| e.0))
    }

    fn unavailable(e: &str) -> String {
        eigenbox_pyjson::dumps(&Value::String(format!("<state unavailable: {e}>")))
    }

    /// `json.dumps(db.model_dump(), sort_keys=True, default=str)` of one side's DB.
    pub fn state_json(&self, side: Side) -> Option<String> {
        let mut w = eigenbox_pyjson::JsonWriter::sorted();
        Some(match self.write_db(side, &mut w)? {
            Ok(_) => w.into_string(),
            Err(e) => Self::unavailable(&e),
        })
    }

    /// sha256 hex of [`Runtime::state_json`], cached until the state may change.
    pub fn state_hash(&self, side: Side) -> Option<String> {
        if self.domain().is_ok() {
            let eff = self.effective(side)?;
            if let Some(h) = &self.cache.borrow().hash[eff as usize] {
                return Some(h.clone());
            }
        }
        let mut w = eigenbox_pyjson::JsonWriter::sorted();
        Some(match self.write_db(side, &mut w)? {
            Ok(eff) => {
                let h = eigenbox_pyjson::sha256_hex_bytes(w.as_bytes());
                self.cache.borrow_mut().hash[eff as usize] = Some(h.clone());
                h
            }
            Err(e) => eigenbox_pyjson::sha256_hex(&Self::unavailable(&e)),
        })
    }

    fn merge_into(&mut self, side: Side, data: &str) -> Result<(), String> {
        let update: Value = serde_json::from_str(data).map_err(|e| format!("{side:?} data is not valid JSON: {e}"))?;
        let d = self.domain_mut()?;
        let mut cur = match side {
            Side::Assistant => d.agent_db()?,
            Side::User => match d.user_db() {
                Some(v) => v?,
                None => return Err("'NoneType' object has no attribute 'update_db'".to_string()),
            },
        };
        deep_merge(&mut cur, update);
        match side {
            Side::Assistant => d.set_agent_db(cur),
            Side::User => d.set_user_db(cur),
        }
    }

    fn apply_init(&mut self, init: &EpisodeInit) -> Result<(), String> {
        let has_user = D::info().has_user_db;
        if let Some(a) = &init.agent_data {
            self.merge_into(Side::Assistant, a).map_err(|e| format!("agent_data: {e}"))?;
            if has_user {
                self.alias = Alias::UserIsAgent;
            }
        }
        if let Some(u) = &init.user_data {
            if !has_user {
                return Err("user_data: 'NoneType' object has no attribute 'update_db'".to_string());
            }
            if self.alias == Alias::UserIsAgent {
                self.merge_into(Side::Assistant, u).map_err(|e| format!("user_data: {e}"))?;
            } else {
                self.merge_into(Side::User, u).map_err(|e| format!("user_data: {e}"))?;
                self.alias = Alias::AgentIsUser;
            }
        }
        for (i, a) in init.actions.iter().enumerate() {
            self.env_function_value(a.side, &a.name, &a.arguments)
                .map_err(|e| format!("initialization action {i} ({}): {}", a.name, e.message))?;
        }
        Ok(())
    }

    /// Fresh initial state, then `init` (data merge as the reference's addict update plus
    /// re-validation, then the actions). On error the state is the initial one.
    ///
    /// Skipped when the last successful reset had the same `init` and nothing (a tool call,
    /// environment function, restore or [`Runtime::domain_mut`]) has touched the state since:
    /// the result would be the state as it is.
    pub fn reset(&mut self, init: &EpisodeInit) -> Result<(), String> {
        if self.cache.get_mut().clean_after.as_ref() == Some(init) {
            return Ok(());
        }
        self.touch();
        self.state = self.pristine.clone();
        self.alias = Alias::None;
        self.domain()?;
        // `set_state` ends with `sync_tools()`.
        let r = self.apply_init(init).and_then(|()| self.sync().map_err(|e| format!("sync_tools: {}", e.message)));
        if r.is_err() {
            self.touch();
            self.state = self.pristine.clone();
            self.alias = Alias::None;
        } else {
            self.cache.get_mut().clean_after = Some(init.clone());
        }
        r
    }

    /// Opaque snapshot of all state: both DBs in a compact binary encoding and the alias
    /// flag. Cached until the state may change, so snapshotting an unchanged state again
    /// (or a state just restored) is a copy.
    pub fn snapshot(&self) -> Vec<u8> {
        if let Some(s) = &self.cache.borrow().snapshot {
            return s.clone();
        }
        let s = self.encode_snapshot();
        self.cache.borrow_mut().snapshot = Some(s.clone());
        s
    }

    fn encode_snapshot(&self) -> Vec<u8> {
        let mut e = binary::Encoder { out: Vec::new() };
        e.out.extend_from_slice(SNAPSHOT_MAGIC);
        e.out.push(self.alias as u8);
        let at = e.out.len();
        let ok = self.domain().map(|d| d.serialize_agent_db(&mut e).is_ok()).unwrap_or(false);
        if !ok {
            // As before: an unavailable DB is stored as null (and fails to restore).
            e.out.truncate(at);
            e.out.push(0);
        }
        let at = e.out.len();
        e.out.push(1);
        let ok = match self.domain() {
            Ok(d) => matches!(d.serialize_user_db(&mut e), Some(Ok(()))),
            Err(_) => false,
        };
        if !ok {
            e.out.truncate(at);
            e.out.push(0);
        }
        e.out
    }

    /// Replace all state with a snapshot taken by [`Runtime::snapshot`]. On error the state
    /// is unchanged.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.restore_owned(bytes.to_vec())
    }

    /// [`Runtime::restore`] taking the bytes (kept as the cached snapshot).
    pub fn restore_owned(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        if bytes.first() == Some(&b'{') {
            return self.restore_json(&bytes);
        }
        let (fresh, alias) = self.decode_snapshot(&bytes).map_err(|e| format!("invalid snapshot: {e}"))?;
        self.touch();
        self.state = Ok(fresh);
        self.alias = alias;
        self.cache.get_mut().snapshot = Some(bytes);
        Ok(())
    }

    fn decode_snapshot(&self, bytes: &[u8]) -> Result<(D, Alias), String> {
        let mut d = binary::Decoder::new(bytes);
        if d.take(SNAPSHOT_MAGIC.len()).map_err(|e| e.0)? != SNAPSHOT_MAGIC {
            return Err("not a snapshot of this format".to_string());
        }
        let alias = match d.byte().map_err(|e| e.0)? {
            0 => Alias::None,
            1 => Alias::UserIsAgent,
            2 => Alias::AgentIsUser,
            a => return Err(format!("invalid alias {a}")),
        };
        let mut fresh = self.pristine.clone().map_err(|e| format!("domain failed to initialize: {e}"))?;
        fresh.deserialize_agent_db(&mut d).map_err(|e| e.0)?;
        match d.byte().map_err(|e| e.0)? {
            0 => {}
            1 => fresh.deserialize_user_db(&mut d).map_err(|e| e.0)?,
            f => return Err(format!("invalid user flag {f}")),
        }
        if !d.rest().is_empty() {
            return Err("trailing bytes".to_string());
        }
        Ok((fresh, alias))
    }

    /// Version 1 snapshots (JSON), as earlier builds wrote them.
    fn restore_json(&mut self, bytes: &[u8]) -> Result<(), String> {
        let s: Snapshot = serde_json::from_slice(bytes).map_err(|e| format!("invalid snapshot: {e}"))?;
        if s.v != 1 {
            return Err(format!("unsupported snapshot version {}", s.v));
        }
        let mut fresh = self.pristine.clone().map_err(|e| format!("domain failed to initialize: {e}"))?;
        fresh.set_agent_db(s.agent).map_err(|e| format!("invalid snapshot: {e}"))?;
        if let Some(u) = s.user {
            fresh.set_user_db(u).map_err(|e| format!("invalid snapshot: {e}"))?;
        }
        self.touch();
        self.state = Ok(fresh);
        self.alias = s.alias;
        Ok(())
    }
}
