//! The HTTP client: one endpoint, retries with backoff, a concurrency limit.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::config::{LlmConfig, Secret};
use crate::error::{excerpt, is_retryable_status, LlmError};
use crate::types::{ChatRequest, ChatResponse, ToolChoice};
use crate::{lenient, wire};

/// Fields of [`ChatRequest`] that `extra` may not override.
const RESERVED: &[&str] =
    &["model", "messages", "tools", "tool_choice", "temperature", "top_p", "seed", "n", "max_tokens", "stop", "logprobs", "top_logprobs"];

/// A client of one OpenAI-compatible endpoint. Cheap to clone; clones share the connection pool
/// and the concurrency limit.
#[derive(Clone, Debug)]
pub struct LlmClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    url: String,
    config: LlmConfig,
    api_key: Option<Secret>,
    permits: Semaphore,
}

/// How one attempt ended, before the retry decision.
enum Attempt {
    Answer { status: u16, headers: HeaderMap, body: Vec<u8> },
    Failed(LlmError),
}

impl LlmClient {
    /// Build a client. Fails if the base URL is not http(s), the model is empty, or the API-key
    /// variable is named but unset.
    pub fn new(config: LlmConfig) -> Result<LlmClient, LlmError> {
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(LlmError::Config(format!("base_url `{}` must start with http:// or https://", config.base_url)));
        }
        let url = format!("{base}/chat/completions");
        reqwest::Url::parse(&url).map_err(|e| LlmError::Config(format!("base_url `{}` is not a URL: {e}", config.base_url)))?;
        if config.model.trim().is_empty() {
            return Err(LlmError::Config("model is empty".into()));
        }
        if let Some(key) = config.extra_body.keys().find(|k| RESERVED.contains(&k.as_str())) {
            return Err(LlmError::Config(format!("extra_body may not set `{key}`; it is a standard request field")));
        }
        if config.max_concurrency == 0 {
            return Err(LlmError::Config("max_concurrency must be at least 1".into()));
        }
        let api_key = match &config.api_key_env {
            None => None,
            Some(var) => match std::env::var(var) {
                Ok(key) if !key.trim().is_empty() => Some(Secret(key.trim().to_string())),
                Ok(_) => return Err(LlmError::Config(format!("environment variable {var} (api_key_env) is empty"))),
                Err(_) => return Err(LlmError::Config(format!("environment variable {var} (api_key_env) is not set"))),
            },
        };
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build the HTTP client: {e}")))?;
        let permits = Semaphore::new(config.max_concurrency);
        Ok(LlmClient { inner: Arc::new(Inner { http, url, config, api_key, permits }) })
    }

    /// The configuration the client was built from.
    pub fn config(&self) -> &LlmConfig {
        &self.inner.config
    }

    /// The URL requests go to (`{base_url}/chat/completions`).
    pub fn endpoint(&self) -> &str {
        &self.inner.url
    }

    /// Run one chat completion, retrying transient failures.
    pub async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = self.encode(request)?;
        let cfg = &self.inner.config;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let started = Instant::now();
            let attempt = self.attempt(&body, attempts).await;
            let (error, retry_after) = match attempt {
                Attempt::Answer { status, body: bytes, .. } if (200..300).contains(&status) => {
                    tracing::debug!(url = %self.inner.url, attempts, status, elapsed_ms = started.elapsed().as_millis() as u64, "chat completion");
                    let decoded = self.decode(request, &bytes);
                    if let Err(e) = &decoded {
                        tracing::warn!(url = %self.inner.url, error = %e, "unusable chat completion");
                    }
                    return decoded;
                }
                Attempt::Answer { status, headers, body: bytes } => {
                    let retry_after = if is_retryable_status(status) { retry_after(&headers, cfg.retry_after_max) } else { None };
                    (LlmError::Http { url: self.inner.url.clone(), status, body: excerpt(&bytes), attempts }, retry_after)
                }
                Attempt::Failed(e) => (e, None),
            };
            if !error.is_transient() || attempts > cfg.max_retries {
                return Err(error);
            }
            let delay = retry_after.unwrap_or_else(|| backoff(cfg.backoff_initial, cfg.backoff_max, attempts));
            tracing::warn!(url = %self.inner.url, attempt = attempts, error = %error, delay_ms = delay.as_millis() as u64, "retrying chat completion");
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, body: &[u8], attempts: u32) -> Attempt {
        let inner = &self.inner;
        // The semaphore is never closed, so acquiring only waits.
        let Ok(_permit) = inner.permits.acquire().await else {
            return Attempt::Failed(LlmError::Config("the client's concurrency limiter was closed".into()));
        };
        let mut req = inner.http.post(&inner.url).header(CONTENT_TYPE, "application/json").body(body.to_vec());
        if let Some(Secret(key)) = &inner.api_key {
            match HeaderValue::from_str(&format!("Bearer {key}")) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    req = req.header(AUTHORIZATION, v);
                }
                Err(_) => return Attempt::Failed(LlmError::Config("the API key holds characters not allowed in an HTTP header".into())),
            }
        }
        let result = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>(Attempt::Answer { status, headers, body: body.to_vec() })
        }
        .await;
        match result {
            Ok(a) => a,
            Err(e) if e.is_timeout() => Attempt::Failed(LlmError::Timeout { url: inner.url.clone(), timeout: inner.config.timeout, attempts }),
            Err(e) => Attempt::Failed(LlmError::Connection { url: inner.url.clone(), message: error_chain(&e), attempts }),
        }
    }

    /// The JSON body this client sends for `request` (the configured model filled in). Public so
    /// that callers can log or store the exact request, and for the overhead benchmark.
    pub fn encode(&self, request: &ChatRequest) -> Result<Vec<u8>, LlmError> {
        if request.messages.is_empty() {
            return Err(LlmError::InvalidRequest("no messages".into()));
        }
        if let Some(key) = request.extra.keys().find(|k| RESERVED.contains(&k.as_str())) {
            return Err(LlmError::InvalidRequest(format!("`extra` may not set `{key}`; use the request's own field")));
        }
        if let Some(ToolChoice::Function(name)) = &request.tool_choice {
            if !request.tools.iter().any(|t| &t.function.name == name) {
                return Err(LlmError::InvalidRequest(format!("tool_choice names `{name}`, which is not among the request's tools")));
            }
        }
        if request.tool_choice.is_some() && request.tools.is_empty() {
            return Err(LlmError::InvalidRequest("tool_choice is set but the request has no tools".into()));
        }
        if request.top_logprobs.is_some() && !request.logprobs {
            return Err(LlmError::InvalidRequest("top_logprobs needs logprobs".into()));
        }
        #[derive(Serialize)]
        struct WithModel<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            model: Option<&'a str>,
            #[serde(flatten)]
            request: &'a ChatRequest,
            #[serde(flatten)]
            configured: serde_json::Map<String, serde_json::Value>,
        }
        // The configuration's extra fields, where the request does not set them itself.
        let configured: serde_json::Map<String, serde_json::Value> =
            self.inner.config.extra_body.iter().filter(|(k, _)| !request.extra.contains_key(*k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        let model = if request.model.is_some() { None } else { Some(self.inner.config.model.as_str()) };
        let encoded = serde_json::to_vec(&WithModel { model, request, configured });
        encoded.map_err(|e| LlmError::InvalidRequest(format!("cannot serialise the request: {e}")))
    }

    /// Parse a 2xx body for `request`: validate it, apply the lenient tool-call parser where it
    /// applies, and refuse an answer with nothing in it.
    pub fn decode(&self, request: &ChatRequest, body: &[u8]) -> Result<ChatResponse, LlmError> {
        let mut response =
            wire::parse_response(body).map_err(|what| LlmError::Malformed { url: self.inner.url.clone(), what, body: excerpt(body) })?;
        let lenient = self.inner.config.lenient_tool_calls && !request.tools.is_empty() && request.tool_choice != Some(ToolChoice::None);
        if lenient {
            let names: Vec<&str> = request.tools.iter().map(|t| t.function.name.as_str()).collect();
            for choice in &mut response.choices {
                if !choice.tool_calls.is_empty() {
                    continue;
                }
                let Some(found) = choice.content.as_deref().and_then(|text| lenient::parse_tool_calls(text, &names)) else { continue };
                choice.raw_content = choice.content.take();
                choice.content = found.remaining;
                choice.tool_calls = found.calls;
                choice.tool_calls_from_text = true;
            }
        }
        if response.all_empty() {
            let first = response.choices.first();
            if let Some(refusal) = first.and_then(|c| c.refusal.clone()) {
                return Err(LlmError::Refusal(refusal));
            }
            return Err(LlmError::EmptyChoice { finish_reason: first.and_then(|c| c.finish_reason.clone()) });
        }
        Ok(response)
    }
}

/// Exponential backoff with jitter: the `retry`-th retry waits a random time in
/// `[d/2, d]`, `d = min(max, initial · 2^(retry-1))`.
pub(crate) fn backoff(initial: Duration, max: Duration, retry: u32) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(20));
    let d = initial.saturating_mul(factor).min(max);
    let half = d / 2;
    half + half.mul_f64(fastrand::f64())
}

/// The wait a 429/503 asks for: `retry-after-ms`, or `Retry-After` as seconds or an HTTP date;
/// capped at `max`.
pub(crate) fn retry_after(headers: &HeaderMap, max: Duration) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let wait = if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Duration::try_from_secs_f64(ms / 1000.0).ok()?
    } else {
        let v = text(RETRY_AFTER.as_str())?;
        match v.parse::<f64>() {
            Ok(secs) => Duration::try_from_secs_f64(secs).ok()?,
            Err(_) => {
                let at = httpdate::parse_http_date(v).ok()?;
                at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO)
            }
        }
    };
    Some(wait.min(max))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let (i, m) = (Duration::from_millis(100), Duration::from_secs(1));
        for _ in 0..50 {
            let b1 = backoff(i, m, 1);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100), "{b1:?}");
            let b3 = backoff(i, m, 3);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400), "{b3:?}");
            let b9 = backoff(i, m, 9);
            assert!(b9 >= Duration::from_millis(500) && b9 <= m, "{b9:?}");
        }
        assert!(backoff(i, m, u32::MAX) <= m);
    }

    #[test]
    fn retry_after_forms() {
        let max = Duration::from_secs(60);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, max), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h, max), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("3600"));
        assert_eq!(retry_after(&h, max), Some(max));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap_or(HeaderValue::from_static("x")));
        let d = retry_after(&h, max).unwrap_or_default();
        assert!(d > Duration::from_secs(27) && d <= Duration::from_secs(30), "{d:?}");
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h, max), Some(Duration::ZERO));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h, max), Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, max), None);
    }
}
