//! Client configuration.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where and how to reach one OpenAI-compatible endpoint.
///
/// Deserialisable (e.g. from a TOML `[llm.agent]` table); every field but `base_url` and `model`
/// has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// The API root including the version, e.g. `http://127.0.0.1:8000/v1` (vLLM, SGLang,
    /// llama-server) or `https://api.openai.com/v1`; the client posts to `{base_url}/chat/completions`.
    pub base_url: String,
    /// Model name sent in requests that do not name one.
    pub model: String,
    /// Name of the environment variable holding the API key (sent as a bearer token). The key is
    /// read once, when the client is built, and never logged. `None`: no `Authorization` header.
    pub api_key_env: Option<String>,
    /// Limit on one attempt, from sending the request to reading the whole body.
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// Limit on establishing a connection.
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
    /// Retries after the first attempt, for 408/429/5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// First backoff delay; doubled per retry, with jitter.
    #[serde(with = "secs")]
    pub backoff_initial: Duration,
    /// Largest backoff delay.
    #[serde(with = "secs")]
    pub backoff_max: Duration,
    /// Largest wait a `Retry-After` header may impose (longer ones are capped to this).
    #[serde(with = "secs")]
    pub retry_after_max: Duration,
    /// Requests in flight at once through this client (its clones share the limit).
    pub max_concurrency: usize,
    /// Recover tool calls written as JSON in the text (see [`crate::lenient`]) when the request
    /// had tools and the response has no structured calls.
    pub lenient_tool_calls: bool,
    /// Backend-specific fields added to every request's body unless the request's own `extra`
    /// sets them (e.g. vLLM's `{"return_token_ids": true}`, so answers asked for logprobs carry
    /// token ids, which llama-server always returns). The standard fields may not be set here.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra_body: serde_json::Map<String, serde_json::Value>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            base_url: String::new(),
            model: String::new(),
            api_key_env: None,
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            max_retries: 4,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            retry_after_max: Duration::from_secs(120),
            max_concurrency: 64,
            lenient_tool_calls: true,
            extra_body: serde_json::Map::new(),
        }
    }
}

impl LlmConfig {
    /// A configuration for `model` at `base_url`, with every other field at its default.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> LlmConfig {
        LlmConfig { base_url: base_url.into(), model: model.into(), ..LlmConfig::default() }
    }
}

/// Durations as (fractional) seconds in configuration files.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(|e| serde::de::Error::custom(format!("{v} is not a duration in seconds: {e}")))
    }
}

/// An API key: never printed.
#[derive(Clone)]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}
