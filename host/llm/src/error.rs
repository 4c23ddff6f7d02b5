//! Typed errors of the client.

use std::time::Duration;

/// How much of a response body an error quotes.
pub const BODY_EXCERPT_CHARS: usize = 400;

/// Why a chat completion failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The client's configuration is unusable (bad URL, unset API-key variable, …).
    #[error("LLM client configuration: {0}")]
    Config(String),
    /// The request could not be built (e.g. a tool's parameters are not JSON).
    #[error("invalid chat request: {0}")]
    InvalidRequest(String),
    /// The server answered with a non-success status (after retries, where it was retryable).
    #[error("{url} answered HTTP {status} after {attempts} attempt(s): {body}")]
    Http {
        /// The endpoint.
        url: String,
        /// HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
        /// Attempts made.
        attempts: u32,
    },
    /// No complete response within the configured timeout (after retries).
    #[error("{url} did not answer within {timeout:?} ({attempts} attempt(s))")]
    Timeout {
        /// The endpoint.
        url: String,
        /// The per-request timeout.
        timeout: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The connection failed or broke (after retries).
    #[error("cannot reach {url} ({attempts} attempt(s)): {message}")]
    Connection {
        /// The endpoint.
        url: String,
        /// The transport's description.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The server answered 2xx with something that is not a chat completion.
    #[error("malformed chat completion from {url}: {what}; body starts: {body}")]
    Malformed {
        /// The endpoint.
        url: String,
        /// What was wrong or missing (e.g. "`choices[0].message` is missing").
        what: String,
        /// The start of the response body.
        body: String,
    },
    /// The model refused (OpenAI's `message.refusal`) and produced nothing else.
    #[error("the model refused: {0}")]
    Refusal(String),
    /// Every choice came back with neither text nor tool calls.
    #[error("the model returned an empty message (finish_reason {finish_reason:?})")]
    EmptyChoice {
        /// The first choice's finish reason, if the server gave one.
        finish_reason: Option<String>,
    },
}

impl LlmError {
    /// Whether a retry may help (used for the retry decision and by callers that retry whole turns).
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::Http { status, .. } => is_retryable_status(*status),
            LlmError::Timeout { .. } | LlmError::Connection { .. } => true,
            _ => false,
        }
    }
}

/// 429, 408 and every 5xx: the statuses the client retries.
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || status == 408 || (500..=599).contains(&status)
}

/// The first [`BODY_EXCERPT_CHARS`] characters of a body, lossily decoded, with an ellipsis when cut.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(BODY_EXCERPT_CHARS).collect();
    if text.chars().nth(BODY_EXCERPT_CHARS).is_some() {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty)");
    }
    out
}
