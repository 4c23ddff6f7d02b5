//! Episode initialisation: what the host must do to put a fresh domain into a task's initial
//! state (the reference's `Environment.set_state`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::message::{Message, Requestor, ToolCall, ToolMessage};
use crate::task::{EnvFunctionCall, Task};

/// Episode set-up handed to [`crate::DomainEnv::reset`]: `initial_state` minus the message
/// history. The default value means "no task": just the domain's initial databases.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct EpisodeInit {
    /// `initialization_data.agent_data` (deep-merged into the agent DB).
    pub agent_data: Option<Value>,
    /// `initialization_data.user_data` (deep-merged into the user DB).
    pub user_data: Option<Value>,
    /// `initialization_actions`, run in order after the data is merged.
    pub actions: Vec<EnvFunctionCall>,
}

impl EpisodeInit {
    /// No task: the domain's initial state.
    pub fn empty() -> Self {
        Self::default()
    }
}

/// One (tool call, recorded tool message) pair from a message history.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayStep {
    /// Index in `message_history` of the message that made the call.
    pub call_message_index: usize,
    /// Index in `message_history` of the tool message.
    pub tool_message_index: usize,
    /// The call (its `requestor` decides which toolkit runs it).
    pub call: ToolCall,
    /// What the reference recorded.
    pub expected: ToolMessage,
}

/// Everything the host needs to initialise an episode for a task.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct EpisodePlan {
    /// Data and actions for `reset`.
    pub init: EpisodeInit,
    /// Tool calls from `message_history`, paired with their recorded results, in order.
    /// Apply with [`replay_history`] (which skips unknown and non-mutating tools).
    pub replay: Vec<ReplayStep>,
}

/// Why a message history cannot be paired (mirrors `get_actions_from_messages`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// A tool message that does not directly follow a tool call.
    #[error("message {index}: tool message not expected; tool messages should always follow a tool call")]
    UnexpectedToolMessage {
        /// Index in the history.
        index: usize,
    },
    /// The history ended before every call of a message got its tool message.
    #[error("message {call_message_index}: tool message expected for call `{call_id}`, got none (history ended)")]
    MissingToolMessage {
        /// The message holding the calls.
        call_message_index: usize,
        /// The unanswered call.
        call_id: String,
    },
    /// The message after a tool call is not a (single) tool message.
    #[error("message {index}: tool message expected for call `{call_id}`, got {got}")]
    NotAToolMessage {
        /// Index in the history.
        index: usize,
        /// The call it should answer.
        call_id: String,
        /// The message type found (e.g. `AssistantMessage`, `MultiToolMessage`).
        got: &'static str,
    },
    /// The tool message answers another call.
    #[error("message {index}: tool call id mismatch: got {call_id} and {message_id}")]
    IdMismatch {
        /// Index of the tool message.
        index: usize,
        /// The call's id.
        call_id: String,
        /// The tool message's id.
        message_id: String,
    },
}

/// Pairs tool calls with tool messages exactly like the reference's
/// `get_actions_from_messages`: every call of an assistant/user message that has `tool_calls`
/// (even an empty list) must be followed, in order, by a tool message with the same id; a tool
/// message anywhere else is an error. System messages, plain text messages and (top-level)
/// multi-tool messages are skipped.
pub fn actions_from_messages(messages: &[Message]) -> Result<Vec<ReplayStep>, PlanError> {
    let mut steps = Vec::new();
    let mut i = 0;
    while i < messages.len() {
        let index = i;
        let message = &messages[i];
        i += 1;
        match message {
            Message::Tool(_) => return Err(PlanError::UnexpectedToolMessage { index }),
            Message::Assistant(m) | Message::User(m) => {
                let Some(calls) = m.tool_calls.get() else { continue };
                for tc in calls {
                    let Some(next) = messages.get(i) else {
                        return Err(PlanError::MissingToolMessage { call_message_index: index, call_id: tc.id.clone() });
                    };
                    let tm_index = i;
                    i += 1;
                    let Message::Tool(tm) = next else {
                        return Err(PlanError::NotAToolMessage { index: tm_index, call_id: tc.id.clone(), got: next.type_name() });
                    };
                    if tc.id != tm.id {
                        return Err(PlanError::IdMismatch { index: tm_index, call_id: tc.id.clone(), message_id: tm.id.clone() });
                    }
                    steps.push(ReplayStep {
                        call_message_index: index,
                        tool_message_index: tm_index,
                        call: tc.clone(),
                        expected: tm.clone(),
                    });
                }
            }
            Message::System(_) | Message::MultiTool(_) => {}
        }
    }
    Ok(steps)
}

/// Builds the episode plan of a task: data, actions and the message-history pairs.
pub fn plan_episode(task: &Task) -> Result<EpisodePlan, PlanError> {
    let Some(state) = task.initial_state.get() else { return Ok(EpisodePlan::default()) };
    let (agent_data, user_data) = match state.initialization_data.get() {
        Some(d) => (
            d.agent_data.get().map(|m| Value::Object(m.clone())),
            d.user_data.get().map(|m| Value::Object(m.clone())),
        ),
        None => (None, None),
    };
    let actions = state.initialization_actions.get().cloned().unwrap_or_default();
    let replay = match state.message_history.get() {
        Some(h) => actions_from_messages(h)?,
        None => Vec::new(),
    };
    Ok(EpisodePlan { init: EpisodeInit { agent_data, user_data, actions }, replay })
}

/// Python's `json.loads(s)` falling back to the string itself on a decode error, as the
/// reference does before comparing replayed and recorded tool output.
pub fn decode_or_string(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}

fn num_eq(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

fn as_py_number(v: &Value) -> Option<Value> {
    // In Python, bool is an int: True == 1 == 1.0.
    match v {
        Value::Bool(b) => Some(Value::from(u8::from(*b))),
        Value::Number(_) => Some(v.clone()),
        _ => None,
    }
}

/// Python `==` on decoded JSON: key order ignored, `1 == 1.0`, `True == 1`.
pub fn py_json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_json_eq(v, w)))
        }
        _ => match (as_py_number(a), as_py_number(b)) {
            (Some(Value::Number(x)), Some(Value::Number(y))) => num_eq(&x, &y),
            _ => false,
        },
    }
}

/// Order-sensitive JSON equality (object key order included), for tool schemas.
pub fn json_eq_ordered(a: &Value, b: &Value) -> bool {
    json_diff_ordered(a, b).is_none()
}

/// The first difference between two JSON values, key order included, as `path: detail`;
/// `None` if identical.
pub fn json_diff_ordered(expected: &Value, actual: &Value) -> Option<String> {
    fn walk(e: &Value, a: &Value, path: &mut String) -> Option<String> {
        match (e, a) {
            (Value::Object(x), Value::Object(y)) => {
                let xk: Vec<&String> = x.keys().collect();
                let yk: Vec<&String> = y.keys().collect();
                if xk != yk {
                    let at = if path.is_empty() { "$" } else { path.as_str() };
                    return Some(format!("{at}: keys differ: expected {xk:?}, got {yk:?}"));
                }
                for (k, v) in x {
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    if let Some(d) = y.get(k).and_then(|w| walk(v, w, path)) {
                        return Some(d);
                    }
                    path.truncate(len);
                }
                None
            }
            (Value::Array(x), Value::Array(y)) => {
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    if let Some(d) = walk(v, w, path) {
                        return Some(d);
                    }
                    path.truncate(len);
                }
                if x.len() != y.len() {
                    let at = if path.is_empty() { "$" } else { path.as_str() };
                    return Some(format!("{at}: expected {} items, got {}", x.len(), y.len()));
                }
                None
            }
            _ if e == a => None,
            _ => {
                let at = if path.is_empty() { "$" } else { path.as_str() };
                Some(format!("{at}: expected {}, got {}", short(&e.to_string()), short(&a.to_string())))
            }
        }
    }
    walk(expected, actual, &mut String::new())
}

fn short(s: &str) -> String {
    const MAX: usize = 160;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// A replayed call whose response differs from the recorded one (after JSON-decoding both).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayMismatch {
    /// The step.
    pub step: ReplayStep,
    /// What the domain returned.
    pub actual: String,
    /// Whether the domain flagged an error.
    pub actual_error: bool,
}

/// What [`replay_history`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayOutcome {
    /// Steps executed (mutating tools).
    pub executed: usize,
    /// Steps skipped because the tool does not exist.
    pub skipped_unknown: usize,
    /// Steps skipped because the tool does not mutate state.
    pub skipped_read_only: usize,
    /// Mismatches tolerated in lenient mode (always empty in strict mode).
    pub mismatches: Vec<ReplayMismatch>,
}

/// Why an episode could not be initialised.
#[derive(Debug, thiserror::Error)]
pub enum InitError<E: std::fmt::Display> {
    /// The message history cannot be paired.
    #[error("invalid message history: {0}")]
    Plan(#[from] PlanError),
    /// The domain failed (reset, a tool call, ...).
    #[error("domain error during {during}: {source}")]
    Domain {
        /// What was being done.
        during: String,
        /// Domain error.
        source: E,
    },
    /// Strict mode: a replayed mutating call returned something else than recorded.
    #[error("replayed tool call `{}` (message {}) returned different content than recorded:\n  expected: {}\n  actual:   {}\n  {}",
        .0.step.call.name, .0.step.tool_message_index,
        .0.step.expected.content.get().map(String::as_str).unwrap_or("<none>"), .0.actual,
        crate::diff::string_diff(.0.step.expected.content.get().map(String::as_str).unwrap_or(""), &.0.actual))]
    ReplayMismatch(Box<ReplayMismatch>),
    /// A recorded tool message has no content (the reference would crash in `json.loads(None)`).
    #[error("message {index}: recorded tool message for `{name}` has no content")]
    MissingRecordedContent {
        /// Index of the tool message.
        index: usize,
        /// Tool name.
        name: String,
    },
}

/// Replays a message history the way `set_state` does: tools the domain does not know are
/// skipped (a hallucinated tool changed nothing), non-mutating tools are skipped, mutating
/// tools are called and their output compared with the recorded one after JSON-decoding both
/// (Python equality). `strict` turns a mismatch into an error; otherwise it is collected.
pub fn replay_history<E: crate::DomainEnv>(
    env: &mut E,
    steps: &[ReplayStep],
    strict: bool,
) -> Result<ReplayOutcome, InitError<E::Error>> {
    let mut out = ReplayOutcome::default();
    for step in steps {
        let name = &step.call.name;
        let mutating = env
            .is_mutating(name)
            .map_err(|source| InitError::Domain { during: format!("is_mutating({name})"), source })?;
        match mutating {
            None => {
                out.skipped_unknown += 1;
                continue;
            }
            Some(false) => {
                out.skipped_read_only += 1;
                continue;
            }
            Some(true) => {}
        }
        let args = Value::Object(step.call.arguments.clone());
        let (content, is_error) = env
            .call_tool(step.call.requestor(), name, &args)
            .map_err(|source| InitError::Domain { during: format!("replay of {name}"), source })?;
        out.executed += 1;
        let Some(expected) = step.expected.content.get() else {
            return Err(InitError::MissingRecordedContent { index: step.tool_message_index, name: name.clone() });
        };
        if !py_json_eq(&decode_or_string(&content), &decode_or_string(expected)) {
            let mm = ReplayMismatch { step: step.clone(), actual: content, actual_error: is_error };
            if strict {
                return Err(InitError::ReplayMismatch(Box::new(mm)));
            }
            out.mismatches.push(mm);
        }
    }
    Ok(out)
}

/// Puts `env` into the initial state of `task` (or the domain's initial state for `None`):
/// `reset` with data and actions, then the message-history replay.
pub fn initialise_episode<E: crate::DomainEnv>(
    env: &mut E,
    task: Option<&Task>,
    strict: bool,
) -> Result<ReplayOutcome, InitError<E::Error>> {
    let plan = match task {
        Some(t) => plan_episode(t)?,
        None => EpisodePlan::default(),
    };
    env.reset(&plan.init).map_err(|source| InitError::Domain { during: "reset".into(), source })?;
    replay_history(env, &plan.replay, strict)
}

/// An [`EpisodeInit`] as the domain interfaces carry it: JSON text for the data and for each
/// action's arguments (WIT `episode-init`, the SDK's `EpisodeInit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireInit {
    /// `agent_data` as JSON text.
    pub agent_data: Option<String>,
    /// `user_data` as JSON text.
    pub user_data: Option<String>,
    /// `(side, function name, JSON arguments)` of each initialization action, in order.
    pub actions: Vec<(Requestor, String, String)>,
}

impl EpisodeInit {
    /// The wire form (JSON text) every domain interface takes.
    pub fn to_wire(&self) -> WireInit {
        let text = |v: &Option<Value>| v.as_ref().map(Value::to_string);
        WireInit {
            agent_data: text(&self.agent_data),
            user_data: text(&self.user_data),
            actions: self
                .actions
                .iter()
                .map(|a| (a.env_type, a.func_name.clone(), Value::Object(a.arguments.clone()).to_string()))
                .collect(),
        }
    }
}
