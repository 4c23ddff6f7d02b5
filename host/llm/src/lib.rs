//! An OpenAI-compatible chat-completions client for eigenbox's agents, user simulators and
//! judges. Works against vLLM, SGLang, llama.cpp's `llama-server` and OpenAI itself.
//!
//! * Requests: messages (system / user / assistant with tool calls / tool results), function
//!   tools, `tool_choice`, `temperature`, `top_p`, `seed`, `n`, `max_tokens`, `stop`, `logprobs`
//!   / `top_logprobs`, plus backend-specific `extra` fields.
//! * Responses: every choice's text, tool calls, finish reason, per-token logprobs (with token
//!   ids where the backend returns them), and usage. A body that is not a chat completion is a
//!   [`LlmError::Malformed`] saying what is missing; an answer with nothing in it is
//!   [`LlmError::EmptyChoice`] or [`LlmError::Refusal`].
//! * Transport: a per-attempt timeout, retries with exponential backoff and jitter on
//!   408/429/5xx, timeouts and connection errors (a `Retry-After` / `retry-after-ms` header is
//!   honoured), and a concurrency limit shared by a client's clones. The API key is read from the
//!   environment variable the configuration names, and never logged.
//! * Small models: when the request offered tools and the server returned no structured calls,
//!   tool calls written as JSON in the text are recovered ([`lenient`]).
//! * With the cargo feature `runtime`, [`LlmClient`] and [`runtime::Router`] implement
//!   `eigenbox_runtime::LlmBackend`, so role components reach endpoints through them.
//!
//! ```no_run
//! use eigenbox_llm::{ChatRequest, LlmClient, LlmConfig, Message, Tool};
//! # async fn demo() -> Result<(), eigenbox_llm::LlmError> {
//! let client = LlmClient::new(LlmConfig::new("http://127.0.0.1:8000/v1", "Qwen/Qwen3-8B"))?;
//! let mut request = ChatRequest::new(vec![
//!     Message::system("You are a helpful agent."),
//!     Message::user("What's the weather in Paris?"),
//! ]);
//! request.tools = vec![Tool::function(
//!     "get_weather",
//!     "Current weather of a city",
//!     serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
//! )];
//! request.temperature = Some(0.0);
//! request.logprobs = true;
//! let response = client.chat(&request).await?;
//! if let Some(choice) = response.first() {
//!     for call in &choice.tool_calls {
//!         println!("{}({})", call.function.name, call.function.arguments);
//!     }
//! }
//! # Ok(()) }
//! ```

mod client;
mod config;
mod error;
pub mod lenient;
#[cfg(feature = "runtime")]
pub mod runtime;
mod types;
mod wire;

pub use client::LlmClient;
pub use config::LlmConfig;
pub use error::{is_retryable_status, LlmError, BODY_EXCERPT_CHARS};
pub use types::{
    ChatRequest, ChatResponse, Choice, FunctionCall, FunctionDef, Message, Role, TokenLogprob, Tool, ToolCall, ToolChoice, TopLogprob, Usage,
};
