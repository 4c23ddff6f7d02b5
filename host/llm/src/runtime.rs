//! The runtime's [`LlmBackend`] over this client (cargo feature `runtime`): how a role
//! component's `eigenbox:role/llm.chat` reaches an endpoint.
//!
//! * [`LlmClient`] serves every logical model name with its own configured model.
//! * [`Router`] maps logical model names (what the role asks for, and what its `llm` grant
//!   names) to clients, with an optional fallback.
//!
//! Mapping: WIT messages become OpenAI messages (a tool message's `error` flag has no OpenAI
//! counterpart and is dropped: its text already says `Error: …`); each tool's `parameters` text
//! must be a JSON object; `sampling` fills temperature / top_p / max_tokens / seed. The answer is
//! the first choice, as an assistant message whose tool calls carry `requestor::assistant` (the
//! model is the assistant of its own conversation; a user-simulator role re-labels what it sends
//! on), with the usage's token counts (0 where the backend reports none). Errors reach the guest
//! as `llm-error::backend` with the client error's text.
//!
//! Logprobs: a request with `logprobs: some(n)` asks the endpoint for `logprobs: true` and
//! `top_logprobs: max(n, 1)` (llama-server returns no logprobs at all for 0, and picks 20 when it
//! is left out), and keeps `n` alternatives per token; the answer's `tokens` are the first choice's per-token
//! log-probabilities with their token ids where the server gives them: llama-server puts an `id`
//! on every token; vLLM gives ids with `return_token_ids` (a `token_ids` list, matched to the
//! tokens by position) or `return_tokens_as_token_ids` (tokens spelt `token_id:N`), which an
//! operator sets in [`crate::LlmConfig::extra_body`]. A server that returns no logprobs yields
//! no tokens (not an error).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use eigenbox_runtime::bindings::role::eigenbox::role::llm::ToolDef;
use eigenbox_runtime::{
    ChatRequest as WitRequest, ChatResponse as WitResponse, GeneratedToken, LlmBackend, Message as WitMessage, MessageRole, Requestor, TokenAlternative,
};

use crate::client::LlmClient;
use crate::error::LlmError;
use crate::types::{ChatRequest, ChatResponse, Choice, Message, Role, Tool, ToolCall};

/// Map a role's WIT request onto an OpenAI request (model left to the client).
pub fn request_from_wit(request: &WitRequest) -> Result<ChatRequest, LlmError> {
    let messages = request.messages.iter().map(message_from_wit).collect();
    let tools = request.tools.iter().map(tool_from_wit).collect::<Result<Vec<_>, _>>()?;
    let s = &request.sampling;
    Ok(ChatRequest {
        messages,
        tools,
        temperature: s.temperature,
        top_p: s.top_p,
        max_tokens: s.max_tokens,
        seed: s.seed,
        logprobs: request.logprobs.is_some(),
        top_logprobs: request.logprobs.map(|n| n.max(1)),
        ..ChatRequest::default()
    })
}

fn message_from_wit(m: &WitMessage) -> Message {
    let role = match m.role {
        MessageRole::System => Role::System,
        MessageRole::User => Role::User,
        MessageRole::Assistant => Role::Assistant,
        MessageRole::Tool => Role::Tool,
    };
    let content = match role {
        // A tool result always has text in OpenAI's format.
        Role::Tool => Some(m.content.clone().unwrap_or_default()),
        _ => m.content.clone(),
    };
    Message {
        role,
        content,
        tool_calls: m.tool_calls.iter().map(|c| ToolCall::new(c.id.clone(), c.name.clone(), c.arguments.clone())).collect(),
        tool_call_id: m.tool_call_id.clone(),
    }
}

fn tool_from_wit(t: &ToolDef) -> Result<Tool, LlmError> {
    let parameters: serde_json::Value =
        serde_json::from_str(&t.parameters).map_err(|e| LlmError::InvalidRequest(format!("tool `{}`: parameters are not JSON: {e}", t.name)))?;
    if !parameters.is_object() {
        return Err(LlmError::InvalidRequest(format!("tool `{}`: parameters must be a JSON-Schema object", t.name)));
    }
    Ok(Tool::function(t.name.clone(), t.description.clone(), parameters))
}

/// Map a response onto the WIT answer (its first choice).
pub fn response_to_wit(response: &ChatResponse) -> Result<WitResponse, LlmError> {
    let choice = response.first().ok_or(LlmError::EmptyChoice { finish_reason: None })?;
    let usage = response.usage.unwrap_or_default();
    Ok(WitResponse {
        message: WitMessage {
            role: MessageRole::Assistant,
            content: choice.content.clone(),
            tool_calls: choice
                .tool_calls
                .iter()
                .map(|c| eigenbox_runtime::ToolCall {
                    id: c.id.clone(),
                    name: c.function.name.clone(),
                    arguments: c.function.arguments.clone(),
                    requestor: Requestor::Assistant,
                })
                .collect(),
            tool_call_id: None,
            error: false,
        },
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        tokens: tokens_to_wit(choice),
    })
}

/// A choice's per-token log-probabilities as WIT tokens. Ids come from the tokens themselves or,
/// failing that, from the choice's `token_ids` when it has one id per token.
pub fn tokens_to_wit(choice: &Choice) -> Vec<GeneratedToken> {
    let Some(lp) = &choice.logprobs else { return Vec::new() };
    let ids = choice.token_ids.as_ref().filter(|ids| ids.len() == lp.len());
    if choice.token_ids.is_some() && ids.is_none() {
        tracing::debug!(tokens = lp.len(), token_ids = choice.token_ids.as_ref().map_or(0, Vec::len), "token_ids do not match the logprobs one to one; ignored");
    }
    lp.iter()
        .enumerate()
        .map(|(i, t)| GeneratedToken {
            token: t.token.clone(),
            id: t.id.or_else(|| ids.and_then(|ids| ids.get(i).copied())),
            logprob: t.logprob,
            top: t.top.iter().map(|a| TokenAlternative { token: a.token.clone(), id: a.id, logprob: a.logprob }).collect(),
        })
        .collect()
}

async fn serve(client: &LlmClient, request: WitRequest) -> Result<WitResponse, String> {
    let req = request_from_wit(&request).map_err(|e| e.to_string())?;
    let resp = client.chat(&req).await.map_err(|e| e.to_string())?;
    let mut answer = response_to_wit(&resp).map_err(|e| e.to_string())?;
    if let Some(n) = request.logprobs {
        for t in &mut answer.tokens {
            t.top.truncate(n as usize);
        }
    }
    Ok(answer)
}

impl LlmBackend for LlmClient {
    fn chat<'a>(&'a self, request: WitRequest) -> Pin<Box<dyn Future<Output = Result<WitResponse, String>> + Send + 'a>> {
        Box::pin(serve(self, request))
    }
}

/// Logical model names → clients.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: BTreeMap<String, LlmClient>,
    fallback: Option<LlmClient>,
}

impl Router {
    /// A router with no routes.
    pub fn new() -> Router {
        Router::default()
    }

    /// Serve logical model `name` with `client`.
    pub fn route(mut self, name: impl Into<String>, client: LlmClient) -> Router {
        self.routes.insert(name.into(), client);
        self
    }

    /// Serve every other name with `client`.
    pub fn fallback(mut self, client: LlmClient) -> Router {
        self.fallback = Some(client);
        self
    }

    /// The client for logical model `name`.
    pub fn client_for(&self, name: &str) -> Option<&LlmClient> {
        self.routes.get(name).or(self.fallback.as_ref())
    }
}

impl LlmBackend for Router {
    fn chat<'a>(&'a self, request: WitRequest) -> Pin<Box<dyn Future<Output = Result<WitResponse, String>> + Send + 'a>> {
        Box::pin(async move {
            let Some(client) = self.client_for(&request.model) else {
                let known: Vec<&str> = self.routes.keys().map(String::as_str).collect();
                return Err(format!("no endpoint is configured for model `{}` (configured: {})", request.model, known.join(", ")));
            };
            serve(client, request).await
        })
    }
}
