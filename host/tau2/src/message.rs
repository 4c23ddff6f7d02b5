//! τ² dialogue messages (`tau2.data_model.message`) as they appear in task files
//! (`initial_state.message_history`).

use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Nullable;

/// Who issues a tool call (`ToolRequestor`); also names a side (agent or user DB/toolkit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Requestor {
    /// The agent (τ²'s `"assistant"`).
    #[default]
    Assistant,
    /// The simulated user.
    User,
}

impl Requestor {
    /// `"assistant"` or `"user"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Requestor::Assistant => "assistant",
            Requestor::User => "user",
        }
    }
}

impl std::fmt::Display for Requestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tool call (`ToolCall`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id (defaults to `""` in the reference).
    #[serde(default)]
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Keyword arguments (a JSON object).
    pub arguments: Map<String, Value>,
    /// Requestor; absent means `assistant`. Use [`ToolCall::requestor`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requestor: Option<Requestor>,
    /// Unknown fields, kept for lossless re-serialisation.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ToolCall {
    /// The requestor, defaulting to `assistant` like the reference.
    pub fn requestor(&self) -> Requestor {
        self.requestor.unwrap_or_default()
    }
}

/// A system message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct SystemMessage {
    /// Text content.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub content: Nullable<String>,
    /// Other fields (`turn_idx`, `timestamp`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An assistant or user message (`AssistantMessage` / `UserMessage`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct ParticipantMessage {
    /// Text content.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub content: Nullable<String>,
    /// Tool calls. The reference treats a message as a tool call when this is not `None`,
    /// even if the list is empty.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub tool_calls: Nullable<Vec<ToolCall>>,
    /// Other fields (`turn_idx`, `timestamp`, `cost`, `usage`, audio fields, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ParticipantMessage {
    /// Python's `is_tool_call()`: `tool_calls is not None`.
    pub fn is_tool_call(&self) -> bool {
        self.tool_calls.is_some()
    }
}

/// A tool result (`ToolMessage`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolMessage {
    /// Id of the call this answers.
    pub id: String,
    /// The tool output (the exact tool-message string).
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub content: Nullable<String>,
    /// Requestor; absent means `assistant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requestor: Option<Requestor>,
    /// Whether the call failed; absent means `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<bool>,
    /// Other fields (`turn_idx`, `timestamp`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ToolMessage {
    /// The requestor, defaulting to `assistant`.
    pub fn requestor(&self) -> Requestor {
        self.requestor.unwrap_or_default()
    }
    /// The error flag, defaulting to `false`.
    pub fn is_error(&self) -> bool {
        self.error.unwrap_or(false)
    }
}

/// Several tool results in one message (`MultiToolMessage`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiToolMessage {
    /// The tool messages.
    pub tool_messages: Vec<ToolMessage>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One message, discriminated by `role` (`system`, `assistant`, `user`, `tool`).
/// A `tool` message carrying `tool_messages` and no `id` is a [`MultiToolMessage`].
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// `role: system`.
    System(SystemMessage),
    /// `role: assistant`.
    Assistant(ParticipantMessage),
    /// `role: user`.
    User(ParticipantMessage),
    /// `role: tool`.
    Tool(ToolMessage),
    /// `role: tool` with `tool_messages`.
    MultiTool(MultiToolMessage),
}

impl Message {
    /// The role string.
    pub fn role(&self) -> &'static str {
        match self {
            Message::System(_) => "system",
            Message::Assistant(_) => "assistant",
            Message::User(_) => "user",
            Message::Tool(_) | Message::MultiTool(_) => "tool",
        }
    }
    /// Type name as the reference would print it (used in error messages).
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::System(_) => "SystemMessage",
            Message::Assistant(_) => "AssistantMessage",
            Message::User(_) => "UserMessage",
            Message::Tool(_) => "ToolMessage",
            Message::MultiTool(_) => "MultiToolMessage",
        }
    }
    /// Text content, if any.
    pub fn content(&self) -> Option<&str> {
        match self {
            Message::System(m) => m.content.get().map(String::as_str),
            Message::Assistant(m) | Message::User(m) => m.content.get().map(String::as_str),
            Message::Tool(m) => m.content.get().map(String::as_str),
            Message::MultiTool(_) => None,
        }
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let body = match self {
            Message::System(m) => serde_json::to_value(m),
            Message::Assistant(m) | Message::User(m) => serde_json::to_value(m),
            Message::Tool(m) => serde_json::to_value(m),
            Message::MultiTool(m) => serde_json::to_value(m),
        }
        .map_err(serde::ser::Error::custom)?;
        let mut out = Map::new();
        out.insert("role".into(), Value::String(self.role().into()));
        if let Value::Object(fields) = body {
            for (k, v) in fields {
                out.insert(k, v);
            }
        }
        out.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(d)?;
        let role = match map.shift_remove("role") {
            Some(Value::String(r)) => r,
            Some(other) => return Err(D::Error::custom(format!("message role must be a string, got {other}"))),
            None => return Err(D::Error::custom("message without a `role`")),
        };
        let v = Value::Object(map);
        let m = match role.as_str() {
            "system" => Message::System(serde_json::from_value(v).map_err(D::Error::custom)?),
            "assistant" => Message::Assistant(serde_json::from_value(v).map_err(D::Error::custom)?),
            "user" => Message::User(serde_json::from_value(v).map_err(D::Error::custom)?),
            "tool" => {
                let multi = v.get("tool_messages").is_some() && v.get("id").is_none();
                if multi {
                    Message::MultiTool(serde_json::from_value(v).map_err(D::Error::custom)?)
                } else {
                    Message::Tool(serde_json::from_value(v).map_err(D::Error::custom)?)
                }
            }
            other => {
                return Err(D::Error::custom(format!(
                    "unknown message role `{other}` (expected system, assistant, user or tool)"
                )))
            }
        };
        Ok(m)
    }
}
