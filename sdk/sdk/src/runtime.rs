//! The target-independent domain machinery: [`Domain`], [`Toolkit`] and [`Runtime`].

use crate::args::ToolArgs;
use serde::Serialize;
use serde_json::{Map, Value};

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
#[derive(Clone, Debug)]
pub struct EnvCall {
    /// Toolkit side.
    pub side: Side,
    /// Function name.
    pub name: String,
    /// JSON text of the keyword arguments.
    pub arguments: String,
}

/// Episode set-up (`initial_state` minus the message history).
#[derive(Clone, Debug, Default)]
pub struct EpisodeInit {
    /// JSON deep-merged into the agent DB.
    pub agent_data: Option<String>,
    /// JSON deep-merged into the user DB.
    pub user_data: Option<String>,
    /// Functions run afterwards, in order.
    pub actions: Vec<EnvCall>,
}

type Handler<D> = Box<dyn Fn(&mut D, &str, &Map<String, Value>) -> Result<Value, ToolError>>;

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

fn handler<D, A, R, E, F>(f: F) -> Handler<D>
where
    A: ToolArgs,
    R: Serialize,
    E: Into<ToolError>,
    F: Fn(&mut D, A) -> Result<R, E> + 'static,
{
    Box::new(move |d: &mut D, class: &str, kwargs: &Map<String, Value>| {
        let args = A::from_kwargs(class, kwargs)?;
        let r = f(d, args).map_err(Into::into)?;
        serde_json::to_value(&r).map_err(|e| ToolError::failed(format!("could not serialize the result: {e}")))
    })
}

impl<D: 'static> Toolkit<D> {
    /// A toolkit with the Python class name used in error messages (`MockTools`).
    pub fn new(class: &'static str, requestor: Requestor) -> Self {
        Toolkit { class, requestor, tools: Vec::new(), env_fns: Vec::new() }
    }

    /// Register a tool (`@is_tool(kind)`); `mutates_state` defaults to `kind == Write`.
    /// The name, description and schema come from `A: ToolArgs`.
    pub fn tool<A, R, E, F>(mut self, kind: ToolKind, f: F) -> Self
    where
        A: ToolArgs,
        R: Serialize,
        E: Into<ToolError>,
        F: Fn(&mut D, A) -> Result<R, E> + 'static,
    {
        self.tools.push(ToolEntry {
            name: A::NAME,
            description: A::DESCRIPTION,
            parameters: A::parameters,
            kind,
            mutates: kind == ToolKind::Write,
            handler: handler(f),
        });
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
pub trait Domain: Sized + 'static {
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
pub struct Runtime<D: Domain> {
    state: Result<D, String>,
    alias: Alias,
    kits: Vec<Toolkit<D>>,
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

/// Snapshot layout (JSON): the DB values and the alias flag.
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
        Runtime { state: D::initial_state(), alias: Alias::None, kits: D::toolkits() }
    }

    /// The domain state (or why it failed to initialize).
    pub fn domain(&self) -> Result<&D, String> {
        self.state.as_ref().map_err(|e| format!("domain failed to initialize: {e}"))
    }

    /// Mutable domain state.
    pub fn domain_mut(&mut self) -> Result<&mut D, String> {
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
        for (ki, kit) in self.kits.iter().enumerate() {
            if kit.requestor != requestor {
                continue;
            }
            if let Some(ti) = kit.tools.iter().position(|t| t.name == name) {
                return Some((ki, ti));
            }
        }
        None
    }

    /// Raw result of a tool call as JSON (a string result stays a JSON string).
    pub fn call_tool_value(&mut self, requestor: Requestor, name: &str, arguments: &str) -> Result<Value, ToolError> {
        let Some((ki, ti)) = self.find_tool(requestor, name) else {
            return Err(ToolError::new(ToolErrorKind::UnknownTool, format!("Tool '{name}' not found.")));
        };
        let kwargs = parse_kwargs(arguments)?;
        let kit = &self.kits[ki];
        let state = self.state.as_mut().map_err(|e| ToolError::failed(format!("domain failed to initialize: {e}")))?;
        (kit.tools[ti].handler)(state, kit.class, &kwargs)
    }

    /// Execute one tool call and render the tool message content like the reference:
    /// a string result verbatim, anything else as `json.dumps(..., default=str)`.
    pub fn call_tool(&mut self, requestor: Requestor, name: &str, arguments: &str) -> Result<String, ToolError> {
        let v = self.call_tool_value(requestor, name, arguments)?;
        Ok(match v {
            Value::String(s) => s,
            other => eigenbox_pyjson::dumps(&other),
        })
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
        h(state, kit.class, &kwargs)
    }

    /// [`Runtime::env_function_value`] as JSON text (`true` / `false` for assertions).
    pub fn env_function(&mut self, call: &EnvCall) -> Result<String, ToolError> {
        self.env_function_value(call.side, &call.name, &call.arguments)
            .map(|v| eigenbox_pyjson::dumps(&v))
    }

    fn db_value(&self, side: Side) -> Option<Result<Value, String>> {
        let d = match self.domain() {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        let has_user = D::info().has_user_db;
        let effective = match (side, self.alias) {
            (Side::User, _) if !has_user => return None,
            (Side::User, Alias::UserIsAgent) => Side::Assistant,
            (Side::Assistant, Alias::AgentIsUser) => Side::User,
            (s, _) => s,
        };
        match effective {
            Side::Assistant => Some(d.agent_db()),
            Side::User => d.user_db(),
        }
    }

    /// `json.dumps(db.model_dump(), sort_keys=True, default=str)` of one side's DB.
    pub fn state_json(&self, side: Side) -> Option<String> {
        match self.db_value(side)? {
            Ok(v) => Some(eigenbox_pyjson::dumps_sorted(&v)),
            Err(e) => Some(eigenbox_pyjson::dumps(&Value::String(format!("<state unavailable: {e}>")))),
        }
    }

    /// sha256 hex of [`Runtime::state_json`].
    pub fn state_hash(&self, side: Side) -> Option<String> {
        self.state_json(side).map(|s| eigenbox_pyjson::sha256_hex(&s))
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
    pub fn reset(&mut self, init: &EpisodeInit) -> Result<(), String> {
        self.state = D::initial_state();
        self.alias = Alias::None;
        self.domain()?;
        let r = self.apply_init(init);
        if r.is_err() {
            self.state = D::initial_state();
            self.alias = Alias::None;
        }
        r
    }

    /// Opaque snapshot of all state (JSON of both DBs and the alias flag).
    pub fn snapshot(&self) -> Vec<u8> {
        let agent = self.domain().and_then(|d| d.agent_db()).unwrap_or(Value::Null);
        let user = self.domain().ok().and_then(|d| d.user_db()).and_then(|r| r.ok());
        let s = Snapshot { v: 1, alias: self.alias, agent, user };
        serde_json::to_vec(&s).unwrap_or_default()
    }

    /// Replace all state with a snapshot taken by [`Runtime::snapshot`]. On error the state
    /// is unchanged.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let s: Snapshot = serde_json::from_slice(bytes).map_err(|e| format!("invalid snapshot: {e}"))?;
        if s.v != 1 {
            return Err(format!("unsupported snapshot version {}", s.v));
        }
        let mut fresh = D::initial_state().map_err(|e| format!("domain failed to initialize: {e}"))?;
        fresh.set_agent_db(s.agent).map_err(|e| format!("invalid snapshot: {e}"))?;
        if let Some(u) = s.user {
            fresh.set_user_db(u).map_err(|e| format!("invalid snapshot: {e}"))?;
        }
        self.state = Ok(fresh);
        self.alias = s.alias;
        Ok(())
    }
}
