//! Readers for the golden conformance vectors (`/work/shared/golden/<domain>/`):
//! `tools.json`, `replays.jsonl`, `probes.jsonl`, `evals.jsonl`.

use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::message::{Message, ParticipantMessage, Requestor, SystemMessage, ToolCall, ToolMessage};
use crate::Nullable;
use crate::task::{Action, EnvAssertion, RewardType};

/// Errors reading golden files.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Malformed content. `line` is 1-based (the record's line for `.jsonl` files).
    #[error("{path}:{line}:{column}: malformed {what}: {source}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was being read.
        what: &'static str,
        /// Cause.
        source: serde_json::Error,
    },
}

/// `tools.json`: tool schemas and initial hashes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GoldenTools {
    /// Domain name.
    pub domain: String,
    /// Agent tools, OpenAI function schemas, in order.
    pub agent_tools: Vec<Value>,
    /// User tools, in order.
    #[serde(default)]
    pub user_tools: Vec<Value>,
    /// Hash of the initial agent DB.
    pub initial_agent_db_hash: Option<String>,
    /// Hash of the initial user DB (null where there is none).
    pub initial_user_db_hash: Option<String>,
    /// A generation error of the reference, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_error: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One reference action as executed in a replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Tool name.
    pub name: String,
    /// Requestor.
    pub requestor: Requestor,
    /// Arguments.
    pub arguments: Value,
    /// Exact tool-message content.
    pub response: String,
    /// Whether the call failed.
    pub error: bool,
    /// Agent DB hash after the call.
    pub agent_db_hash_after: Option<String>,
    /// User DB hash after the call.
    pub user_db_hash_after: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One env assertion with its outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssertionRecord {
    /// The assertion.
    pub assertion: EnvAssertion,
    /// Whether it held.
    pub met: bool,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A line of `replays.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayRecord {
    /// Domain name.
    pub domain: String,
    /// `v1.0` or `v0.2.0`.
    pub version: String,
    /// Task id.
    pub task_id: String,
    /// Split the task was drawn from (`none` for mock).
    #[serde(default)]
    pub split: Option<String>,
    /// Agent DB hash after the initial state.
    #[serde(default)]
    pub initial_agent_db_hash: Option<String>,
    /// User DB hash after the initial state.
    #[serde(default)]
    pub initial_user_db_hash: Option<String>,
    /// The reference actions, executed in order.
    #[serde(default)]
    pub calls: Vec<CallRecord>,
    /// Final agent DB hash.
    #[serde(default)]
    pub final_agent_db_hash: Option<String>,
    /// Final user DB hash.
    #[serde(default)]
    pub final_user_db_hash: Option<String>,
    /// Env assertions with outcomes.
    #[serde(default)]
    pub env_assertions: Vec<AssertionRecord>,
    /// Set when the reference raised while producing the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_error: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A line of `probes.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    /// Probe id.
    pub id: String,
    /// `valid`, `bad_value`, `missing`, `extra`, `unknown_tool`, `wrong_requestor`.
    pub kind: String,
    /// `public` (others exist privately).
    #[serde(default)]
    pub visibility: Option<String>,
    /// Tool name.
    pub name: String,
    /// Requestor.
    pub requestor: Requestor,
    /// Arguments (usually an object; kept as any JSON).
    pub arguments: Value,
    /// Exact tool-message content.
    #[serde(default)]
    pub response: String,
    /// Whether the call failed.
    #[serde(default)]
    pub error: bool,
    /// Agent DB hash after.
    #[serde(default)]
    pub agent_db_hash_after: Option<String>,
    /// User DB hash after.
    #[serde(default)]
    pub user_db_hash_after: Option<String>,
    /// Set when the reference raised while producing the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_error: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A trajectory message as written in `evals.jsonl` (WIT-style: tool messages carry
/// `tool_call_id`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryMessage {
    /// `system`, `assistant`, `user`, `tool`.
    pub role: String,
    /// Text content.
    #[serde(default)]
    pub content: Option<String>,
    /// Tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// For tool messages: the call answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For tool messages: the requestor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requestor: Option<Requestor>,
    /// For tool messages: error flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<bool>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a [`TrajectoryMessage`] cannot be turned into a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrajectoryError {
    /// A `tool` message without `tool_call_id`.
    #[error("message {index}: tool message without `tool_call_id`")]
    MissingToolCallId {
        /// Index in the trajectory.
        index: usize,
    },
    /// A `tool` message carrying `tool_calls`, or a system message carrying tool-message fields.
    #[error("message {index}: a `{role}` message cannot have `{field}`")]
    MisplacedField {
        /// Index in the trajectory.
        index: usize,
        /// Its role.
        role: String,
        /// The field.
        field: &'static str,
    },
    /// Unknown role.
    #[error("message {index}: unknown role `{role}` (expected system, assistant, user or tool)")]
    UnknownRole {
        /// Index in the trajectory.
        index: usize,
        /// The role found.
        role: String,
    },
}

impl TrajectoryMessage {
    /// The τ² [`Message`] this stands for (`tool_call_id` becomes the tool message's `id`;
    /// unknown fields are kept). `index` only labels errors.
    pub fn to_message(&self, index: usize) -> Result<Message, TrajectoryError> {
        let misplaced = |field| TrajectoryError::MisplacedField { index, role: self.role.clone(), field };
        let content: Nullable<String> = self.content.clone().into();
        match self.role.as_str() {
            "assistant" | "user" => {
                if self.tool_call_id.is_some() {
                    return Err(misplaced("tool_call_id"));
                }
                let mut extra = self.extra.clone();
                if let Some(r) = self.requestor {
                    extra.insert("requestor".into(), Value::String(r.as_str().into()));
                }
                if let Some(e) = self.error {
                    extra.insert("error".into(), Value::Bool(e));
                }
                let m = ParticipantMessage { content, tool_calls: self.tool_calls.clone().into(), extra };
                Ok(if self.role == "assistant" { Message::Assistant(m) } else { Message::User(m) })
            }
            "tool" => {
                if self.tool_calls.is_some() {
                    return Err(misplaced("tool_calls"));
                }
                let id = self.tool_call_id.clone().ok_or(TrajectoryError::MissingToolCallId { index })?;
                Ok(Message::Tool(ToolMessage { id, content, requestor: self.requestor, error: self.error, extra: self.extra.clone() }))
            }
            "system" => {
                if self.tool_calls.is_some() {
                    return Err(misplaced("tool_calls"));
                }
                if self.tool_call_id.is_some() {
                    return Err(misplaced("tool_call_id"));
                }
                Ok(Message::System(SystemMessage { content, extra: self.extra.clone() }))
            }
            other => Err(TrajectoryError::UnknownRole { index, role: other.to_string() }),
        }
    }

    /// The trajectory message for a τ² [`Message`] (the inverse of
    /// [`TrajectoryMessage::to_message`]). A [`Message::MultiTool`] becomes one message per
    /// tool message.
    pub fn from_message(m: &Message) -> Vec<TrajectoryMessage> {
        let plain = |role: &str, content: &Nullable<String>, extra: &Map<String, Value>| TrajectoryMessage {
            role: role.to_string(),
            content: content.get().cloned(),
            tool_calls: None,
            tool_call_id: None,
            requestor: None,
            error: None,
            extra: extra.clone(),
        };
        match m {
            Message::System(s) => vec![plain("system", &s.content, &s.extra)],
            Message::Assistant(p) | Message::User(p) => {
                let mut t = plain(m.role(), &p.content, &p.extra);
                t.tool_calls = p.tool_calls.get().cloned();
                if let Some(Value::String(r)) = t.extra.shift_remove("requestor") {
                    t.requestor = match r.as_str() {
                        "user" => Some(Requestor::User),
                        "assistant" => Some(Requestor::Assistant),
                        _ => {
                            t.extra.insert("requestor".into(), Value::String(r));
                            None
                        }
                    };
                }
                if let Some(Value::Bool(e)) = t.extra.get("error").cloned() {
                    t.extra.shift_remove("error");
                    t.error = Some(e);
                }
                vec![t]
            }
            Message::Tool(tm) => vec![tool_to_trajectory(tm)],
            Message::MultiTool(mt) => mt.tool_messages.iter().map(tool_to_trajectory).collect(),
        }
    }
}

fn tool_to_trajectory(tm: &ToolMessage) -> TrajectoryMessage {
    TrajectoryMessage {
        role: "tool".into(),
        content: tm.content.get().cloned(),
        tool_calls: None,
        tool_call_id: Some(tm.id.clone()),
        requestor: tm.requestor,
        error: tm.error,
        extra: tm.extra.clone(),
    }
}

/// Converts a whole trajectory (see [`TrajectoryMessage::to_message`]).
pub fn trajectory_messages(trajectory: &[TrajectoryMessage]) -> Result<Vec<Message>, TrajectoryError> {
    trajectory.iter().enumerate().map(|(i, m)| m.to_message(i)).collect()
}

/// `db_check` of a reward info.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbCheck {
    /// Whether the DBs matched.
    pub db_match: bool,
    /// 1.0 or 0.0.
    pub db_reward: f64,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One env assertion check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvAssertionCheck {
    /// The assertion.
    pub env_assertion: EnvAssertion,
    /// Whether it held.
    pub met: bool,
    /// Its reward.
    pub reward: f64,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One action check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionCheck {
    /// The action.
    pub action: Action,
    /// Whether a tool call matched.
    pub action_match: bool,
    /// Its reward.
    pub action_reward: f64,
    /// `read`, `write`, ... (if recorded).
    #[serde(default)]
    pub tool_type: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The reference evaluator's `RewardInfo`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewardInfo {
    /// Final reward.
    pub reward: f64,
    /// DB check.
    #[serde(default)]
    pub db_check: Option<DbCheck>,
    /// Env assertion checks.
    #[serde(default)]
    pub env_assertions: Option<Vec<EnvAssertionCheck>>,
    /// Action checks.
    #[serde(default)]
    pub action_checks: Option<Vec<ActionCheck>>,
    /// NL assertion checks (as recorded).
    #[serde(default)]
    pub nl_assertions: Option<Value>,
    /// Communicate checks (as recorded).
    #[serde(default)]
    pub communicate_checks: Option<Value>,
    /// Reward basis.
    #[serde(default)]
    pub reward_basis: Option<Vec<RewardType>>,
    /// Per-component rewards.
    #[serde(default)]
    pub reward_breakdown: Option<Map<String, Value>>,
    /// Free-form info.
    #[serde(default)]
    pub info: Option<Value>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A line of `evals.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Domain name.
    pub domain: String,
    /// Task id.
    pub task_id: String,
    /// `v1.0` or `v0.2.0`.
    #[serde(default)]
    pub version: Option<String>,
    /// Split.
    #[serde(default)]
    pub split: Option<String>,
    /// `gold`, `drop_last_write`, `alter_arg`, `max_steps`, `no_communicate`.
    pub variant: String,
    /// E.g. `user_stop`, `max_steps`.
    #[serde(default)]
    pub termination_reason: Option<String>,
    /// The dialogue.
    #[serde(default)]
    pub trajectory: Vec<TrajectoryMessage>,
    /// The evaluator's result.
    #[serde(default)]
    pub reward_info: Option<RewardInfo>,
    /// Set when the reference raised while producing the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_error: Option<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EvalRecord {
    /// The trajectory as τ² messages.
    pub fn messages(&self) -> Result<Vec<Message>, TrajectoryError> {
        trajectory_messages(&self.trajectory)
    }

    /// The termination reason, parsed (`None` when the record has none).
    pub fn termination(&self) -> Option<Result<crate::TerminationReason, crate::simulation::UnknownTerminationReason>> {
        self.termination_reason.as_deref().map(str::parse)
    }
}

fn read(path: &Path) -> Result<String, GoldenError> {
    std::fs::read_to_string(path).map_err(|source| GoldenError::Io { path: path.to_path_buf(), source })
}

/// Reads `tools.json`.
pub fn read_tools(path: &Path) -> Result<GoldenTools, GoldenError> {
    let text = read(path)?;
    serde_json::from_str(&text).map_err(|source| GoldenError::Malformed {
        path: path.to_path_buf(),
        line: source.line(),
        column: source.column(),
        what: "tools.json",
        source,
    })
}

/// Reads a JSON-lines file of `T` (blank lines skipped); errors name the file and line.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, GoldenError> {
    let text = read(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rec = serde_json::from_str(line).map_err(|source| GoldenError::Malformed {
            path: path.to_path_buf(),
            line: i + 1,
            column: source.column(),
            what: std::any::type_name::<T>().rsplit("::").next().unwrap_or("record"),
            source,
        })?;
        out.push(rec);
    }
    Ok(out)
}

/// Reads `replays.jsonl`.
pub fn read_replays(path: &Path) -> Result<Vec<ReplayRecord>, GoldenError> {
    read_jsonl(path)
}

/// Reads `probes.jsonl`.
pub fn read_probes(path: &Path) -> Result<Vec<ProbeRecord>, GoldenError> {
    read_jsonl(path)
}

/// Reads `evals.jsonl`.
pub fn read_evals(path: &Path) -> Result<Vec<EvalRecord>, GoldenError> {
    read_jsonl(path)
}

/// All golden files of one domain folder. `replays`, `probes`, `evals` are empty when the
/// file is absent; `tools.json` is required.
#[derive(Clone, Debug)]
pub struct GoldenDomain {
    /// The folder.
    pub dir: PathBuf,
    /// `tools.json`.
    pub tools: GoldenTools,
    /// `replays.jsonl`.
    pub replays: Vec<ReplayRecord>,
    /// `probes.jsonl`.
    pub probes: Vec<ProbeRecord>,
}

impl GoldenDomain {
    /// Reads `tools.json`, `replays.jsonl` and `probes.jsonl` of a domain folder
    /// (`evals.jsonl` is read separately with [`read_evals`]).
    pub fn load(dir: &Path) -> Result<Self, GoldenError> {
        let tools = read_tools(&dir.join("tools.json"))?;
        let opt = |name: &str| -> Option<PathBuf> { Some(dir.join(name)).filter(|p| p.exists()) };
        let replays = match opt("replays.jsonl") {
            Some(p) => read_replays(&p)?,
            None => Vec::new(),
        };
        let probes = match opt("probes.jsonl") {
            Some(p) => read_probes(&p)?,
            None => Vec::new(),
        };
        Ok(GoldenDomain { dir: dir.to_path_buf(), tools, replays, probes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Vec<TrajectoryMessage> {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn trajectory_messages_become_tau2_messages_and_back() {
        let t = parse(
            r#"[{"role": "assistant", "content": "Hi!"},
                {"role": "user", "content": null, "tool_calls": [{"id": "c0", "name": "toggle_data", "arguments": {}, "requestor": "user"}]},
                {"role": "tool", "content": "ok", "tool_call_id": "c0", "requestor": "user", "error": false},
                {"role": "system", "content": "s", "turn_idx": 3}]"#,
        );
        let m = trajectory_messages(&t).unwrap();
        let Message::User(u) = &m[1] else { panic!("{:?}", m[1]) };
        assert!(u.is_tool_call());
        assert_eq!(u.tool_calls.get().unwrap()[0].requestor(), Requestor::User);
        let Message::Tool(tm) = &m[2] else { panic!("{:?}", m[2]) };
        assert_eq!((tm.id.as_str(), tm.requestor(), tm.is_error()), ("c0", Requestor::User, false));
        assert_eq!(m[3].content(), Some("s"));
        let back: Vec<TrajectoryMessage> = m.iter().flat_map(TrajectoryMessage::from_message).collect();
        assert_eq!(back, t);
    }

    #[test]
    fn malformed_trajectory_messages_are_named() {
        let e = trajectory_messages(&parse(r#"[{"role": "user", "content": "x"}, {"role": "tool", "content": "x"}]"#)).unwrap_err();
        assert_eq!(e, TrajectoryError::MissingToolCallId { index: 1 });
        let e = trajectory_messages(&parse(r#"[{"role": "robot", "content": "x"}]"#)).unwrap_err();
        assert!(e.to_string().contains("unknown role `robot`"), "{e}");
        let e = trajectory_messages(&parse(r#"[{"role": "tool", "tool_call_id": "a", "tool_calls": []}]"#)).unwrap_err();
        assert!(e.to_string().contains("cannot have `tool_calls`"), "{e}");
    }
}
