//! τ²'s `LLMAgent`: system prompt = instructions + domain policy, tools = the domain's agent
//! tools, one chat completion per turn through any [`LlmBackend`]; and the message mapping
//! between τ² messages and the WIT messages backends take.
//!
//! With [`SamplingConfig::logprobs`] set, every generated message (the agent's, and the user
//! simulator's through [`crate::RoleUser`]) keeps its generation under `logprobs` in τ²'s message
//! format, in OpenAI's shape plus token ids: `{"content": [{"token": "Hi", "id": 31, "logprob":
//! -0.25, "top_logprobs": [{"token": "Hi", "id": 31, "logprob": -0.25}, …]}, …]}` (`id` where the
//! backend returns it, `top_logprobs` where asked). Messages of backends that return none have no
//! such field, so trajectories recorded without it read the same. [`message_logprobs`] reads it.

use std::sync::Arc;

use eigenbox_runtime::bindings::role::eigenbox::role::llm::{Sampling, ToolDef};
use eigenbox_runtime::{
    ChatRequest, ChatResponse, GeneratedToken, LlmBackend, Message as WitMessage, MessageRole, Requestor as WitRequestor, ToolCall as WitToolCall,
};
use eigenbox_tau2::{Message, Nullable, ParticipantMessage, Requestor, ToolCall, ToolSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::participant::{Agent, ParticipantError};
use crate::BoxFuture;

/// τ²'s `AGENT_INSTRUCTION`.
pub const AGENT_INSTRUCTION: &str = "You are a customer service agent that helps the user according to the <policy> provided below.
In each turn you can either:
- Send a message to the user.
- Make a tool call.
You cannot do both at the same time.

Try to be helpful and always follow the policy. Always make sure you generate valid JSON only.";

/// τ²'s `LLMAgent.system_prompt`.
pub fn agent_system_prompt(domain_policy: &str) -> String {
    format!("<instructions>\n{AGENT_INSTRUCTION}\n</instructions>\n<policy>\n{domain_policy}\n</policy>")
}

/// Sampling settings of a participant (`None`: the backend's default).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SamplingConfig {
    /// Temperature.
    pub temperature: Option<f64>,
    /// Nucleus mass.
    pub top_p: Option<f64>,
    /// Completion token cap.
    pub max_tokens: Option<u32>,
    /// Ask for each generated token's log-probability (and id, where the backend returns it)
    /// with this many alternatives per position (0: none), kept on the generated message under
    /// `logprobs`; `None`: do not ask.
    pub logprobs: Option<u32>,
}

/// Key of a generated message's tokens in τ²'s message format (`extra["logprobs"]`).
pub const LOGPROBS_KEY: &str = "logprobs";

/// One generated token as a trajectory keeps it (an item of OpenAI's `logprobs.content`, with
/// llama.cpp's `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    /// The token's text.
    pub token: String,
    /// Its id in the model's vocabulary, where the backend returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// Its log-probability.
    pub logprob: f64,
    /// The most likely alternatives at its position, where asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_logprobs: Vec<TopLogprob>,
}

/// An alternative at one position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    /// The token's text.
    pub token: String,
    /// Its id, where the backend returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// Its log-probability.
    pub logprob: f64,
}

#[derive(Serialize, Deserialize)]
struct Logprobs {
    content: Vec<TokenLogprob>,
}

/// Keep `tokens` on `m` under [`LOGPROBS_KEY`] (nothing when there are none).
pub fn attach_tokens(m: &mut ParticipantMessage, tokens: &[GeneratedToken]) {
    if tokens.is_empty() {
        return;
    }
    let content = tokens
        .iter()
        .map(|t| TokenLogprob {
            token: t.token.clone(),
            id: t.id,
            logprob: t.logprob,
            top_logprobs: t.top.iter().map(|a| TopLogprob { token: a.token.clone(), id: a.id, logprob: a.logprob }).collect(),
        })
        .collect();
    match serde_json::to_value(Logprobs { content }) {
        Ok(v) => {
            m.extra.insert(LOGPROBS_KEY.into(), v);
        }
        // Plain strings and numbers always serialise; a failure would be a serde_json bug.
        Err(e) => tracing::warn!(error = %e, "the generated tokens could not be kept on the message"),
    }
}

/// The tokens a generated message keeps (see [`attach_tokens`]); `None` when it has none, or
/// what it has under [`LOGPROBS_KEY`] is not in that shape.
pub fn message_logprobs(m: &ParticipantMessage) -> Option<Vec<TokenLogprob>> {
    let v = m.extra.get(LOGPROBS_KEY)?;
    serde_json::from_value::<Logprobs>(v.clone()).ok().map(|l| l.content)
}

/// The WIT form of a domain tool.
pub fn tool_def(t: &ToolSpec) -> ToolDef {
    ToolDef { name: t.name.clone(), description: t.description.clone(), parameters: t.parameters.to_string() }
}

fn wit_call(c: &ToolCall) -> WitToolCall {
    WitToolCall {
        id: c.id.clone(),
        name: c.name.clone(),
        arguments: Value::Object(c.arguments.clone()).to_string(),
        requestor: if c.requestor() == Requestor::User { WitRequestor::User } else { WitRequestor::Assistant },
    }
}

fn wit(role: MessageRole, content: Option<String>, tool_calls: Vec<WitToolCall>, tool_call_id: Option<String>, error: bool) -> WitMessage {
    WitMessage { role, content, tool_calls, tool_call_id, error }
}

/// τ² messages in the WIT form (`to_litellm_messages`): text or tool calls, tool results (a
/// multi-tool message becomes one message per result).
pub fn to_wit_messages(messages: &[Message]) -> Vec<WitMessage> {
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        match m {
            Message::System(s) => out.push(wit(MessageRole::System, s.content.get().cloned(), vec![], None, false)),
            Message::User(p) | Message::Assistant(p) => out.push(wit(
                if m.role() == "user" { MessageRole::User } else { MessageRole::Assistant },
                p.content.get().cloned(),
                p.tool_calls.get().map(|c| c.iter().map(wit_call).collect()).unwrap_or_default(),
                None,
                false,
            )),
            Message::Tool(t) => out.push(wit(MessageRole::Tool, t.content.get().cloned(), vec![], Some(t.id.clone()), t.is_error())),
            Message::MultiTool(mt) => {
                for t in &mt.tool_messages {
                    out.push(wit(MessageRole::Tool, t.content.get().cloned(), vec![], Some(t.id.clone()), t.is_error()));
                }
            }
        }
    }
    out
}

/// A model's answer as a τ² participant message: text, or tool calls (arguments parsed as a JSON
/// object) labelled with `requestor`; token counts kept under `usage`, generated tokens (when
/// the answer has them) under `logprobs`.
pub fn from_wit_response(r: &ChatResponse, requestor: Requestor) -> Result<ParticipantMessage, ParticipantError> {
    let mut m = from_wit_message(&r.message, requestor)?;
    m.extra.insert(
        "usage".into(),
        serde_json::json!({"prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens}),
    );
    attach_tokens(&mut m, &r.tokens);
    Ok(m)
}

/// A WIT message as a τ² participant message: text, or tool calls (arguments parsed as a JSON
/// object) labelled with `requestor`.
pub fn from_wit_message(message: &WitMessage, requestor: Requestor) -> Result<ParticipantMessage, ParticipantError> {
    let mut calls = Vec::with_capacity(message.tool_calls.len());
    for c in &message.tool_calls {
        let arguments = match serde_json::from_str::<Value>(if c.arguments.trim().is_empty() { "{}" } else { &c.arguments }) {
            Ok(Value::Object(m)) => m,
            Ok(other) => {
                return Err(ParticipantError::Invalid(format!("tool call `{}`: arguments must be a JSON object, got {other}", c.name)))
            }
            Err(e) => return Err(ParticipantError::Invalid(format!("tool call `{}`: arguments are not JSON ({e}): {}", c.name, c.arguments))),
        };
        calls.push(ToolCall { id: c.id.clone(), name: c.name.clone(), arguments, requestor: Some(requestor), extra: Map::new() });
    }
    Ok(ParticipantMessage {
        content: match &message.content {
            Some(c) => Nullable::Value(c.clone()),
            None => Nullable::Null,
        },
        tool_calls: if calls.is_empty() { Nullable::Null } else { Nullable::Value(calls) },
        extra: Map::new(),
    })
}

/// Classify a backend error text.
pub fn backend_error(text: String) -> ParticipantError {
    let lower = text.to_ascii_lowercase();
    if lower.contains("context length") || lower.contains("context window") || lower.contains("maximum context") {
        ParticipantError::ContextWindow(text)
    } else {
        ParticipantError::Infrastructure(text)
    }
}

/// τ²'s `LLMAgent` over an [`LlmBackend`].
pub struct LlmAgent {
    backend: Arc<dyn LlmBackend>,
    model: String,
    system: String,
    tools: Vec<ToolDef>,
    sampling: SamplingConfig,
    seed: Option<u64>,
    messages: Vec<Message>,
}

impl LlmAgent {
    /// An agent for a domain: `policy` is the domain's policy text, `tools` its tool schemas
    /// (only the agent's are offered), `model` the logical model name.
    pub fn new(backend: Arc<dyn LlmBackend>, model: impl Into<String>, policy: &str, tools: &[ToolSpec], sampling: SamplingConfig) -> LlmAgent {
        LlmAgent {
            backend,
            model: model.into(),
            system: agent_system_prompt(policy),
            tools: tools.iter().filter(|t| t.requestor == Requestor::Assistant).map(tool_def).collect(),
            sampling,
            seed: None,
            messages: Vec::new(),
        }
    }

    /// The system prompt sent with every request.
    pub fn system_prompt(&self) -> &str {
        &self.system
    }

    fn request(&self) -> ChatRequest {
        let mut messages = vec![wit(MessageRole::System, Some(self.system.clone()), vec![], None, false)];
        messages.extend(to_wit_messages(&self.messages));
        ChatRequest {
            model: self.model.clone(),
            messages,
            tools: self.tools.clone(),
            sampling: Sampling {
                temperature: self.sampling.temperature,
                top_p: self.sampling.top_p,
                max_tokens: self.sampling.max_tokens,
                seed: self.seed,
            },
            logprobs: self.sampling.logprobs,
        }
    }
}

impl Agent for LlmAgent {
    fn init(&mut self, history: &[Message], seed: Option<u64>) {
        self.messages = history.to_vec();
        self.seed = seed;
    }

    fn next<'a>(&'a mut self, incoming: &'a Message) -> BoxFuture<'a, Result<ParticipantMessage, ParticipantError>> {
        Box::pin(async move {
            self.messages.push(incoming.clone());
            let response = self.backend.chat(self.request()).await.map_err(backend_error)?;
            let m = from_wit_response(&response, Requestor::Assistant)?;
            self.messages.push(Message::Assistant(m.clone()));
            Ok(m)
        })
    }
}
