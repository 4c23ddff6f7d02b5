//! [`EmbeddedBackend`]: the embedded model as the runtime's `LlmBackend`, so a role component
//! (the user simulator) can run on it. The request is rendered with the model's chat template
//! (its tools included), sampled, and the reply parsed into text / tool calls; with `logprobs`
//! asked, the response carries the generated token ids and log probabilities.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use eigenbox_model::{encode_prompt, SamplingParams};
use eigenbox_runtime::{ChatRequest, ChatResponse, LlmBackend};
use serde_json::{json, Value};

use crate::agent::{chat_message, generated_tokens, reply_calls, wit_reply};
use crate::model::EmbeddedModel;

/// Defaults for what a request leaves unset.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendDefaults {
    /// Temperature.
    pub temperature: f64,
    /// Nucleus mass.
    pub top_p: f64,
    /// Reply length cap (a request's `max-tokens` may lower it, not raise it).
    pub max_tokens: usize,
    /// Context length; `None`: the model's.
    pub max_context: Option<usize>,
}

impl Default for BackendDefaults {
    fn default() -> Self {
        BackendDefaults { temperature: 0.0, top_p: 1.0, max_tokens: 256, max_context: None }
    }
}

/// The embedded model behind the `llm` import of role components.
pub struct EmbeddedBackend {
    model: Arc<EmbeddedModel>,
    defaults: BackendDefaults,
}

impl EmbeddedBackend {
    /// A backend over `model` (shared; generation takes its lock).
    pub fn new(model: Arc<EmbeddedModel>, defaults: BackendDefaults) -> EmbeddedBackend {
        EmbeddedBackend { model, defaults }
    }

    /// One chat completion, synchronously.
    pub fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, String> {
        let m = &*self.model;
        let messages: Vec<_> = request.messages.iter().map(chat_message).collect();
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let params: Value = serde_json::from_str(&t.parameters).unwrap_or(Value::String(t.parameters.clone()));
                json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": params}})
            })
            .collect();
        let prompt = encode_prompt(&m.tokenizer, &m.template, &messages, &tools).map_err(|e| format!("chat template: {e}"))?;
        let max_context = self.defaults.max_context.unwrap_or(m.config().max_position_embeddings.max(1) as usize);
        if prompt.len() >= max_context {
            return Err(format!("the prompt ({} tokens) exceeds the model's context length ({max_context})", prompt.len()));
        }
        let cap = request.sampling.max_tokens.map_or(self.defaults.max_tokens, |t| (t as usize).min(self.defaults.max_tokens));
        let params = SamplingParams {
            temperature: request.sampling.temperature.unwrap_or(self.defaults.temperature),
            top_p: request.sampling.top_p.unwrap_or(self.defaults.top_p),
            max_new_tokens: cap.min(max_context - prompt.len()),
            stop_token_ids: m.stop_ids().to_vec(),
            stop_sequences: vec![],
            seed: request.sampling.seed.unwrap_or(0),
        };
        let g = m.generate(&prompt, &params).map_err(|e| format!("generation: {e:#}"))?;
        let text = m.tokenizer.decode(&g.tokens, true).map_err(|e| format!("tokenizer: {e}"))?;
        let (content, calls) = reply_calls(&text, "call_");
        Ok(ChatResponse {
            message: wit_reply(&content, &calls),
            prompt_tokens: prompt.len() as u32,
            completion_tokens: g.tokens.len() as u32,
            tokens: if request.logprobs.is_some() { generated_tokens(m, &g) } else { vec![] },
        })
    }
}

impl LlmBackend for EmbeddedBackend {
    fn chat<'a>(&'a self, request: ChatRequest) -> Pin<Box<dyn Future<Output = Result<ChatResponse, String>> + Send + 'a>> {
        let out = self.complete(&request);
        Box::pin(async move { out })
    }
}
