//! Request and response types of `/v1/chat/completions`, in OpenAI's wire format.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Author of a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System prompt.
    System,
    /// The human (or simulated user).
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its text. `None` is sent as `null` (an assistant message that only calls tools).
    pub content: Option<String>,
    /// Tool calls of an assistant message (omitted from the request when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message: the id of the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Message {
        Message { role: Role::System, content: Some(content.into()), tool_calls: Vec::new(), tool_call_id: None }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Message {
        Message { role: Role::User, content: Some(content.into()), tool_calls: Vec::new(), tool_call_id: None }
    }
    /// An assistant message with optional text and tool calls.
    pub fn assistant(content: Option<String>, tool_calls: Vec<ToolCall>) -> Message {
        Message { role: Role::Assistant, content, tool_calls, tool_call_id: None }
    }
    /// The result of tool call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Message {
        Message { role: Role::Tool, content: Some(content.into()), tool_calls: Vec::new(), tool_call_id: Some(tool_call_id.into()) }
    }
}

/// A function call made by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Call id, pairing the call with its tool message.
    pub id: String,
    /// Always `"function"`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// The function and its arguments.
    pub function: FunctionCall,
}

fn function_kind() -> String {
    "function".into()
}

impl ToolCall {
    /// A function call with the given id, name and JSON arguments text.
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: impl Into<String>) -> ToolCall {
        ToolCall { id: id.into(), kind: function_kind(), function: FunctionCall { name: name.into(), arguments: arguments.into() } }
    }
}

/// The function part of a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Function name.
    pub name: String,
    /// JSON text of the arguments object, as the model wrote it.
    pub arguments: String,
}

/// A tool the model may call (`{"type": "function", "function": {...}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Always `"function"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function's schema.
    pub function: FunctionDef,
}

/// A function's name, description and JSON-Schema parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    /// Function name.
    pub name: String,
    /// What it does (shown to the model).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// JSON-Schema object of the arguments.
    pub parameters: Value,
}

impl Tool {
    /// A function tool.
    pub fn function(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Tool {
        Tool { kind: function_kind(), function: FunctionDef { name: name.into(), description: description.into(), parameters } }
    }
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides (`"auto"`).
    Auto,
    /// No tool call (`"none"`).
    None,
    /// At least one tool call (`"required"`).
    Required,
    /// This function (`{"type": "function", "function": {"name": ...}}`).
    Function(String),
}

impl Serialize for ToolChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ToolChoice::Auto => s.serialize_str("auto"),
            ToolChoice::None => s.serialize_str("none"),
            ToolChoice::Required => s.serialize_str("required"),
            ToolChoice::Function(name) => serde_json::json!({"type": "function", "function": {"name": name}}).serialize(s),
        }
    }
}

/// One chat completion request. `model` falls back to the client's configured model.
///
/// Every sampling field left `None` is omitted, so the server's default applies.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChatRequest {
    /// Model name at the endpoint; `None` = the client's [`crate::LlmConfig::model`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Tools the model may call (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Tool choice (only sent with tools).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Seed, for backends that support reproducible sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Number of choices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Maximum generated tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Stop sequences (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Return per-token log-probabilities.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub logprobs: bool,
    /// Alternatives per position (needs `logprobs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// Backend-specific fields merged into the body (e.g. vLLM's `"return_token_ids": true`);
    /// they may not override the fields above.
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, Value>,
}

impl ChatRequest {
    /// A request with these messages and every other field unset.
    pub fn new(messages: Vec<Message>) -> ChatRequest {
        ChatRequest { messages, ..ChatRequest::default() }
    }
}

/// One generated token with its log-probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    /// The token's text.
    pub token: String,
    /// Its log-probability.
    pub logprob: f64,
    /// Its id in the model's vocabulary, where the backend returns it (llama.cpp's `id`, vLLM's
    /// `token_id:N` tokens with `return_tokens_as_token_ids`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// UTF-8 bytes of the token, where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Vec<u8>>,
    /// The most likely alternatives at this position (`top_logprobs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<TopLogprob>,
}

/// An alternative token at one position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    /// The token's text.
    pub token: String,
    /// Its log-probability.
    pub logprob: f64,
    /// Its id, where the backend returns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
}

/// One generated answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Position in `choices`.
    pub index: u32,
    /// The generated text (after removing leniently parsed tool calls, see `tool_calls_from_text`).
    pub content: Option<String>,
    /// Reasoning text, where the backend separates it (`reasoning_content`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Tool calls: structured ones from the server, or ones parsed from the text.
    pub tool_calls: Vec<ToolCall>,
    /// Whether `tool_calls` were recovered from the text by [`crate::lenient`].
    pub tool_calls_from_text: bool,
    /// The text exactly as generated (before lenient parsing changed `content`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_content: Option<String>,
    /// `stop`, `length`, `tool_calls`, … as the server gave it.
    pub finish_reason: Option<String>,
    /// Per-token log-probabilities, when requested and returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<TokenLogprob>>,
    /// Ids of the generated tokens, where the backend returns them (vLLM's `token_ids`, or the ids
    /// in `logprobs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ids: Option<Vec<u32>>,
    /// OpenAI's `refusal` text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

impl Choice {
    /// The assistant message this choice represents, ready to append to the conversation.
    pub fn message(&self) -> Message {
        Message::assistant(self.content.clone(), self.tool_calls.clone())
    }

    fn is_empty(&self) -> bool {
        self.tool_calls.is_empty() && self.content.as_deref().is_none_or(|c| c.trim().is_empty())
    }
}

/// Token accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub completion_tokens: u32,
    /// Their sum (as reported).
    pub total_tokens: u32,
}

/// A chat completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The server's completion id.
    pub id: Option<String>,
    /// The model that answered.
    pub model: Option<String>,
    /// At least one choice (an empty list is a [`crate::LlmError::Malformed`]).
    pub choices: Vec<Choice>,
    /// Token usage, where reported.
    pub usage: Option<Usage>,
}

impl ChatResponse {
    /// The first choice (a response from [`crate::LlmClient`] always has one).
    pub fn first(&self) -> Option<&Choice> {
        self.choices.first()
    }

    pub(crate) fn all_empty(&self) -> bool {
        self.choices.iter().all(Choice::is_empty)
    }
}
