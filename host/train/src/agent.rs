//! [`EmbeddedAgent`]: τ²'s LLM agent on the embedded model, keeping the dialogue as one running
//! token sequence so the learner gets exactly the ids the model saw and produced.
//!
//! # Token bookkeeping
//!
//! The agent keeps the dialogue as chat messages and their canonical rendering `C` (the chat
//! template, no generation prompt). Every turn:
//!
//! 1. the incoming messages (user text, tool results) are appended and the dialogue is rendered
//!    with the generation prompt; the text past `C` (the new turns and the assistant header) is
//!    tokenised and appended, untrained;
//! 2. the model samples a reply from the token sequence so far; its ids are appended
//!    **verbatim** with their sampling log probabilities, trained (mask 1);
//! 3. the decoded reply is parsed ([`parse_tool_calls`]) into text / tool calls for the episode
//!    loop and appended as an assistant message; `C` becomes the rendering of the dialogue with
//!    it, and the template's end of turn after the reply (ChatML: `<|im_end|>` if the model did
//!    not emit it itself, then `\n`) is appended, untrained.
//!
//! Pieces are tokenised separately; with special-token turn markers (ChatML, Llama 3) this is
//! the same as tokenising the whole text, so where the model's reply is exactly the template's
//! rendering of the parsed message, the sequence equals the tokenisation of the rendered final
//! dialogue (tested). Where it is not (free-form text, a truncated reply), the sequence still
//! holds what the model really saw and produced, which is what the learner needs; the next
//! prompt continues from it, not from a re-rendering.
//!
//! # Unusable output
//!
//! A reply without a well-formed tool call is a plain text reply, as τ²'s LLM agent gets from
//! litellm when the model writes no tool call: `<tool_call>` blocks that do not parse, or whose
//! arguments are not a JSON object, stay in the text. An empty reply is returned as empty text,
//! which the episode loop ends as `agent_error` (τ²'s validation). The prompt reaching the
//! context length is [`ParticipantError::ContextWindow`] (`context_window_exceeded`); so is a
//! reply cut by the context length (a reply cut by `max_new_tokens` is kept, as an API's
//! `max_tokens` would).

use std::sync::Arc;

use eigenbox_learner::grpo::Trajectory;
use eigenbox_model::{parse_tool_calls, render_prompt, ChatMessage, FinishReason, Generation, SamplingParams, ToolCall as ModelToolCall};
use eigenbox_orchestrator::llm_agent::{agent_system_prompt, attach_tokens, from_wit_message, to_wit_messages};
use eigenbox_orchestrator::{Agent, BoxFuture, ParticipantError};
use eigenbox_runtime::{GeneratedToken, Message as WitMessage, MessageRole, Requestor as WitRequestor, ToolCall as WitToolCall};
use eigenbox_tau2::{Message, ParticipantMessage, Requestor, ToolSpec};
use serde_json::{json, Value};

use crate::model::EmbeddedModel;

/// Sampling settings of the embedded agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// Tokens per reply.
    pub max_new_tokens: usize,
    /// Temperature (1 for on-policy GRPO log probabilities).
    pub temperature: f64,
    /// Nucleus mass (1 for on-policy log probabilities).
    pub top_p: f64,
    /// Context length (prompt + reply); `None`: the model's `max_position_embeddings`.
    pub max_context: Option<usize>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig { max_new_tokens: 256, temperature: 1.0, top_p: 1.0, max_context: None }
    }
}

/// How a reply is sampled from the model. [`ModelSampler`] (the model itself) in production;
/// tests substitute scripted replies.
pub trait Sampler: Send + Sync {
    /// One reply to `prompt`.
    fn sample(&self, model: &EmbeddedModel, prompt: &[i64], params: &SamplingParams) -> anyhow::Result<Generation>;
}

/// Samples from the model ([`EmbeddedModel::generate`]).
pub struct ModelSampler;

impl Sampler for ModelSampler {
    fn sample(&self, model: &EmbeddedModel, prompt: &[i64], params: &SamplingParams) -> anyhow::Result<Generation> {
        model.generate(prompt, params)
    }
}

/// OpenAI function-format tool schemas of the agent's tools.
pub fn agent_tools_json(tools: &[ToolSpec]) -> Vec<Value> {
    tools
        .iter()
        .filter(|t| t.requestor == Requestor::Assistant)
        .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
        .collect()
}

/// A WIT message as a model chat message.
pub fn chat_message(m: &WitMessage) -> ChatMessage {
    let role = match m.role {
        MessageRole::System => "system",
        MessageRole::User => "user",
        MessageRole::Assistant => "assistant",
        MessageRole::Tool => "tool",
    };
    ChatMessage {
        role: role.into(),
        content: m.content.clone(),
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| ModelToolCall {
                id: c.id.clone(),
                kind: "function".into(),
                function: eigenbox_model::FunctionCall { name: c.name.clone(), arguments: c.arguments.clone() },
            })
            .collect(),
        tool_call_id: m.tool_call_id.clone(),
        name: None,
    }
}

/// τ² messages as model chat messages (through their WIT form, as the LLM agent sends them).
pub fn chat_messages(messages: &[Message]) -> Vec<ChatMessage> {
    to_wit_messages(messages).iter().map(chat_message).collect()
}

/// A parsed reply: text and tool calls whose arguments are JSON objects; `None` when a call's
/// arguments are not an object (the reply is then plain text).
pub(crate) fn reply_calls(text: &str, id_prefix: &str) -> (String, Vec<ModelToolCall>) {
    let (content, calls) = parse_tool_calls(text);
    let objects = calls.iter().all(|c| matches!(c.arguments_json(), Ok(Value::Object(_))));
    if calls.is_empty() || !objects {
        return (text.trim().to_string(), vec![]);
    }
    let calls = calls
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            c.id = format!("{id_prefix}{i}");
            c
        })
        .collect();
    (content, calls)
}

/// The WIT form of a reply.
pub(crate) fn wit_reply(content: &str, calls: &[ModelToolCall]) -> WitMessage {
    WitMessage {
        role: MessageRole::Assistant,
        content: if calls.is_empty() || !content.is_empty() { Some(content.to_string()) } else { None },
        tool_calls: calls
            .iter()
            .map(|c| WitToolCall { id: c.id.clone(), name: c.function.name.clone(), arguments: c.function.arguments.clone(), requestor: WitRequestor::Assistant })
            .collect(),
        tool_call_id: None,
        error: false,
    }
}

/// Generated tokens in the runtime's form (text, id, log probability).
pub(crate) fn generated_tokens(model: &EmbeddedModel, g: &Generation) -> Vec<GeneratedToken> {
    g.tokens
        .iter()
        .zip(&g.logprobs)
        .map(|(&id, &lp)| GeneratedToken {
            token: model.tokenizer.decode(&[id], false).unwrap_or_default(),
            id: u32::try_from(id).ok(),
            logprob: f64::from(lp),
            top: vec![],
        })
        .collect()
}

/// τ²'s LLM agent on the embedded model (see the module docs).
pub struct EmbeddedAgent<'m> {
    model: &'m EmbeddedModel,
    sampler: Arc<dyn Sampler>,
    config: AgentConfig,
    tools: Vec<Value>,
    system: ChatMessage,
    messages: Vec<ChatMessage>,
    /// Canonical rendering of `messages` (no generation prompt).
    canonical: String,
    ids: Vec<i64>,
    logprobs: Vec<f32>,
    trained: Vec<bool>,
    seed: u64,
    turns: u64,
    error: Option<String>,
}

impl<'m> EmbeddedAgent<'m> {
    /// An agent for a domain: `policy` is the domain policy (the system prompt is τ²'s agent
    /// instructions + policy), `tools` its tool schemas (only the agent's are offered).
    pub fn new(model: &'m EmbeddedModel, policy: &str, tools: &[ToolSpec], config: AgentConfig) -> EmbeddedAgent<'m> {
        Self::with_sampler(model, Arc::new(ModelSampler), ChatMessage::system(agent_system_prompt(policy)), agent_tools_json(tools), config)
    }

    /// An agent with an explicit system message, OpenAI-format tools and sampler.
    pub fn with_sampler(model: &'m EmbeddedModel, sampler: Arc<dyn Sampler>, system: ChatMessage, tools: Vec<Value>, config: AgentConfig) -> EmbeddedAgent<'m> {
        let mut a = EmbeddedAgent {
            model,
            sampler,
            config,
            tools,
            system,
            messages: vec![],
            canonical: String::new(),
            ids: vec![],
            logprobs: vec![],
            trained: vec![],
            seed: 0,
            turns: 0,
            error: None,
        };
        a.reset(&[]);
        a
    }

    fn max_context(&self) -> usize {
        self.config.max_context.unwrap_or(self.model.config().max_position_embeddings.max(1) as usize)
    }

    /// Back to the system prompt, then `history` (untrained).
    fn reset(&mut self, history: &[ChatMessage]) {
        self.messages = vec![self.system.clone()];
        self.messages.extend_from_slice(history);
        self.canonical.clear();
        self.ids.clear();
        self.logprobs.clear();
        self.trained.clear();
        self.turns = 0;
        self.error = None;
        match render_prompt(&self.model.template, &self.messages, &self.tools, false) {
            Ok(text) => {
                if let Err(e) = self.push_text(&text) {
                    self.error = Some(e);
                }
                self.canonical = text;
            }
            Err(e) => self.error = Some(format!("chat template: {e}")),
        }
    }

    fn push_text(&mut self, text: &str) -> Result<(), String> {
        if text.is_empty() {
            return Ok(());
        }
        let ids = self.model.tokenizer.encode(text).map_err(|e| format!("tokenizer: {e}"))?;
        self.logprobs.extend(std::iter::repeat_n(0.0, ids.len()));
        self.trained.extend(std::iter::repeat_n(false, ids.len()));
        self.ids.extend(ids);
        Ok(())
    }

    /// The text the template adds past the canonical rendering so far.
    fn delta(&self, rendered: &str) -> Result<String, ParticipantError> {
        rendered.strip_prefix(self.canonical.as_str()).map(str::to_string).ok_or_else(|| {
            ParticipantError::Infrastructure("the chat template re-rendered earlier turns differently; cannot extend the token sequence".into())
        })
    }

    /// The token ids so far (prompt turns, generated replies, template scaffolding).
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    /// Sampling log probabilities, aligned with [`Self::ids`] (0 on untrained tokens).
    pub fn logprobs(&self) -> &[f32] {
        &self.logprobs
    }

    /// Which tokens the model generated (the trained mask), aligned with [`Self::ids`].
    pub fn trained_mask(&self) -> &[bool] {
        &self.trained
    }

    /// The dialogue as the agent sees it (system prompt first, replies as parsed).
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    /// The OpenAI-format tools offered.
    pub fn tools(&self) -> &[Value] {
        &self.tools
    }

    /// The finished `(ids, old_logprobs, trained_mask)` as a learner trajectory with `reward`.
    pub fn trajectory(&self, reward: f64) -> Trajectory {
        Trajectory { ids: self.ids.clone(), old_logprobs: self.logprobs.clone(), trained: self.trained.clone(), reward }
    }

    fn turn(&mut self, incoming: &Message) -> Result<ParticipantMessage, ParticipantError> {
        if let Some(e) = &self.error {
            return Err(ParticipantError::Infrastructure(e.clone()));
        }
        self.messages.extend(chat_messages(std::slice::from_ref(incoming)));
        let prompt = render_prompt(&self.model.template, &self.messages, &self.tools, true)
            .map_err(|e| ParticipantError::Infrastructure(format!("chat template: {e}")))?;
        let delta = self.delta(&prompt)?;
        self.push_text(&delta).map_err(ParticipantError::Infrastructure)?;
        let max_context = self.max_context();
        if self.ids.len() >= max_context {
            return Err(ParticipantError::ContextWindow(format!("the prompt has {} tokens; the context length is {max_context}", self.ids.len())));
        }
        let budget = self.config.max_new_tokens.min(max_context - self.ids.len());
        let params = SamplingParams {
            temperature: self.config.temperature,
            top_p: self.config.top_p,
            max_new_tokens: budget,
            stop_token_ids: self.model.stop_ids().to_vec(),
            stop_sequences: vec![],
            seed: self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(self.turns),
        };
        let g = self.sampler.sample(self.model, &self.ids, &params).map_err(|e| ParticipantError::Infrastructure(format!("generation: {e:#}")))?;
        if g.tokens.len() != g.logprobs.len() {
            return Err(ParticipantError::Infrastructure(format!("{} tokens but {} log probabilities", g.tokens.len(), g.logprobs.len())));
        }
        self.ids.extend_from_slice(&g.tokens);
        self.logprobs.extend_from_slice(&g.logprobs);
        self.trained.extend(std::iter::repeat_n(true, g.tokens.len()));
        if g.finish == FinishReason::Length && budget < self.config.max_new_tokens {
            return Err(ParticipantError::ContextWindow(format!("the reply reached the context length ({max_context} tokens)")));
        }
        let raw = self.model.tokenizer.decode(&g.tokens, false).map_err(|e| ParticipantError::Infrastructure(format!("tokenizer: {e}")))?;
        let text = self.model.tokenizer.decode(&g.tokens, true).map_err(|e| ParticipantError::Infrastructure(format!("tokenizer: {e}")))?;
        let (content, calls) = reply_calls(&text, &format!("call_{}_", self.turns));
        self.turns += 1;
        let reply = if calls.is_empty() {
            ChatMessage::assistant(content.clone())
        } else {
            ChatMessage::assistant_tool_calls(Some(content.clone()).filter(|c| !c.is_empty()), calls.clone())
        };
        self.messages.push(reply);
        let rendered = render_prompt(&self.model.template, &self.messages, &self.tools, false)
            .map_err(|e| ParticipantError::Infrastructure(format!("chat template: {e}")))?;
        // The template's end of the assistant turn after the reply: its end-of-turn token (unless
        // the model emitted it) and whatever follows that token in the rendering.
        let stops = self.model.template.stop_strings();
        let end = stops[0];
        let tail = rendered.rfind(end).map(|i| &rendered[i + end.len()..]).unwrap_or("");
        let mut closing = String::new();
        if !stops.iter().any(|s| raw.ends_with(s)) {
            closing.push_str(end);
        }
        closing.push_str(tail);
        self.push_text(&closing).map_err(ParticipantError::Infrastructure)?;
        self.canonical = rendered;
        let mut m = from_wit_message(&wit_reply(&content, &calls), Requestor::Assistant)?;
        attach_tokens(&mut m, &generated_tokens(self.model, &g));
        Ok(m)
    }
}

impl Agent for EmbeddedAgent<'_> {
    fn init(&mut self, history: &[Message], seed: Option<u64>) {
        self.seed = seed.unwrap_or(0);
        let history = chat_messages(history);
        self.reset(&history);
    }

    fn next<'a>(&'a mut self, incoming: &'a Message) -> BoxFuture<'a, Result<ParticipantMessage, ParticipantError>> {
        // Generation is synchronous (the model is a local, serialised resource).
        let out = self.turn(incoming);
        Box::pin(async move { out })
    }
}
