//! Turning a response body into a [`ChatResponse`], saying exactly what is wrong when it is not one.
//!
//! The body is deserialised into lenient wire structs (every field optional, unknown fields
//! ignored), then checked and converted, naming the JSON path of anything missing. A body whose
//! types are wrong is deserialised a second time through `serde_path_to_error` to name the path
//! (errors are rare, so the happy path pays nothing for it). The backends differ in details:
//! `arguments` as a string (OpenAI, vLLM, llama.cpp) or an object (some proxies), `content` as a
//! string or a list of text parts, token ids in `logprobs[].id` (llama.cpp), as `token_id:N`
//! token strings (vLLM with `return_tokens_as_token_ids`) or in `choices[].token_ids` (vLLM with
//! `return_token_ids`).

use serde::Deserialize;
use serde_json::Value;

use crate::types::{ChatResponse, Choice, TokenLogprob, ToolCall, TopLogprob, Usage};

/// What is wrong with a body, as a sentence naming the JSON path.
pub(crate) type WireError = String;

/// A JSON path, formatted only when an error needs it.
#[derive(Clone, Copy)]
enum P<'a> {
    Key(Option<&'a P<'a>>, &'static str),
    Idx(&'a P<'a>, usize),
}

impl<'a> P<'a> {
    fn key(&'a self, k: &'static str) -> P<'a> {
        P::Key(Some(self), k)
    }
    fn idx(&'a self, i: usize) -> P<'a> {
        P::Idx(self, i)
    }
}

impl std::fmt::Display for P<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            P::Key(None, k) => f.write_str(k),
            P::Key(Some(parent), k) => write!(f, "{parent}.{k}"),
            P::Idx(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

fn missing(path: &P) -> WireError {
    format!("`{path}` is missing")
}

#[derive(Deserialize)]
struct WResponse {
    id: Option<String>,
    model: Option<String>,
    choices: Option<Vec<WChoice>>,
    usage: Option<WUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WUsage {
    prompt_tokens: Option<u32>,
    completion_tokens: Option<u32>,
    total_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct WChoice {
    index: Option<u32>,
    message: Option<WMessage>,
    text: Option<serde::de::IgnoredAny>,
    finish_reason: Option<String>,
    logprobs: Option<WLogprobs>,
    token_ids: Option<Vec<u32>>,
}

#[derive(Deserialize)]
struct WMessage {
    content: Option<Value>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    tool_calls: Option<Vec<WToolCall>>,
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct WToolCall {
    id: Option<String>,
    function: Option<WFunction>,
}

#[derive(Deserialize)]
struct WFunction {
    name: Option<String>,
    arguments: Option<Value>,
}

#[derive(Deserialize)]
struct WLogprobs {
    content: Option<Vec<WToken>>,
}

#[derive(Deserialize)]
struct WToken {
    token: Option<String>,
    logprob: Option<f64>,
    id: Option<u32>,
    bytes: Option<Vec<u8>>,
    top_logprobs: Option<Vec<WTop>>,
}

#[derive(Deserialize)]
struct WTop {
    token: Option<String>,
    logprob: Option<f64>,
    id: Option<u32>,
}

/// Parse a 2xx body of `/v1/chat/completions`.
pub(crate) fn parse_response(body: &[u8]) -> Result<ChatResponse, WireError> {
    // Derived structs also accept a JSON array (fields by position): refuse anything but an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<Value>(body) {
            Ok(v) => format!("the body is {}, expected a JSON object", describe(&v)),
            Err(e) => format!("the body is not JSON ({e})"),
        });
    }
    let wire: WResponse = match serde_json::from_slice(body) {
        Ok(w) => w,
        Err(e) => return Err(explain(body, e)),
    };
    let choices = match wire.choices {
        Some(c) => c,
        None => {
            if let Some(err) = wire.error {
                let msg = err.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| err.to_string());
                return Err(format!("`choices` is missing; the body is an error object: {msg}"));
            }
            return Err("`choices` is missing".into());
        }
    };
    if choices.is_empty() {
        return Err("`choices` is empty".into());
    }
    let cpath = P::Key(None, "choices");
    let choices = choices.into_iter().enumerate().map(|(i, c)| choice(&cpath.idx(i), i, c)).collect::<Result<Vec<_>, _>>()?;
    let usage = wire.usage.map(|u| Usage {
        prompt_tokens: u.prompt_tokens.unwrap_or(0),
        completion_tokens: u.completion_tokens.unwrap_or(0),
        total_tokens: u.total_tokens.unwrap_or(0),
    });
    Ok(ChatResponse { id: wire.id, model: wire.model, choices, usage })
}

/// Say where a body that failed to deserialise went wrong.
fn explain(body: &[u8], first: serde_json::Error) -> WireError {
    if first.is_syntax() || first.is_eof() {
        return format!("the body is not JSON ({first})");
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, WResponse>(&mut de) {
        Err(e) if e.path().iter().next().is_some() => format!("`{}`: {}", e.path(), e.inner()),
        _ => format!("the body is not a chat completion ({first})"),
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn choice(path: &P, i: usize, c: WChoice) -> Result<Choice, WireError> {
    let mpath = path.key("message");
    let Some(message) = c.message else {
        if c.text.is_some() {
            return Err(format!("`{mpath}` is missing (the choice has `text`: a /v1/completions answer?)"));
        }
        return Err(missing(&mpath));
    };
    let content = match message.content {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                match part.get("text").and_then(Value::as_str) {
                    Some(t) => text.push_str(t),
                    None => return Err(format!("`{}` has no `text`", mpath.key("content").idx(j))),
                }
            }
            Some(text)
        }
        Some(other) => return Err(format!("`{}` is {}, expected a string", mpath.key("content"), describe(&other))),
    };
    let tpath = mpath.key("tool_calls");
    let tool_calls = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(j, call)| tool_call(&tpath.idx(j), call))
        .collect::<Result<Vec<_>, _>>()?;
    let lp = path.key("logprobs");
    let lpath = lp.key("content");
    let logprobs = match c.logprobs.and_then(|l| l.content) {
        None => None,
        Some(items) => Some(items.into_iter().enumerate().map(|(k, t)| token(&lpath.idx(k), t)).collect::<Result<Vec<_>, _>>()?),
    };
    let token_ids = c.token_ids.or_else(|| logprobs.as_ref().and_then(|lp| lp.iter().map(|t| t.id).collect::<Option<Vec<u32>>>()));
    Ok(Choice {
        index: c.index.unwrap_or(i as u32),
        content,
        reasoning: message.reasoning_content.or(message.reasoning),
        tool_calls,
        tool_calls_from_text: false,
        raw_content: None,
        finish_reason: c.finish_reason,
        logprobs,
        token_ids,
        refusal: message.refusal,
    })
}

fn tool_call(path: &P, call: WToolCall) -> Result<ToolCall, WireError> {
    let fpath = path.key("function");
    let function = call.function.ok_or_else(|| missing(&fpath))?;
    let name = function.name.ok_or_else(|| missing(&fpath.key("name")))?;
    if name.is_empty() {
        return Err(format!("`{}` is empty", fpath.key("name")));
    }
    let arguments = match function.arguments {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(s)) => s,
        Some(obj @ Value::Object(_)) => obj.to_string(),
        Some(other) => return Err(format!("`{}` is {}, expected a JSON string or object", fpath.key("arguments"), describe(&other))),
    };
    let id = match call.id {
        Some(id) if !id.is_empty() => id,
        _ => crate::lenient::new_call_id(),
    };
    Ok(ToolCall::new(id, name, arguments))
}

/// vLLM writes token ids as `token_id:N` tokens when asked to.
fn vllm_token_id(token: &str) -> Option<u32> {
    token.strip_prefix("token_id:").and_then(|n| n.parse().ok())
}

fn token(path: &P, t: WToken) -> Result<TokenLogprob, WireError> {
    let token = t.token.ok_or_else(|| missing(&path.key("token")))?;
    let logprob = t.logprob.ok_or_else(|| missing(&path.key("logprob")))?;
    let id = t.id.or_else(|| vllm_token_id(&token));
    let tpath = path.key("top_logprobs");
    let top = t
        .top_logprobs
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(k, a)| {
            let apath = tpath.idx(k);
            let token = a.token.ok_or_else(|| missing(&apath.key("token")))?;
            let logprob = a.logprob.ok_or_else(|| missing(&apath.key("logprob")))?;
            Ok(TopLogprob { id: a.id.or_else(|| vllm_token_id(&token)), token, logprob })
        })
        .collect::<Result<_, WireError>>()?;
    Ok(TokenLogprob { token, logprob, id, bytes: t.bytes, top })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        match parse_response(body.as_bytes()) {
            Ok(r) => panic!("expected an error, got {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn says_what_is_missing() {
        assert_eq!(err("{}"), "`choices` is missing");
        assert_eq!(err(r#"{"choices": []}"#), "`choices` is empty");
        assert_eq!(err(r#"{"choices": [{"index": 0}]}"#), "`choices[0].message` is missing");
        assert!(err(r#"{"choices": [{"text": "hi"}]}"#).contains("/v1/completions"));
        assert_eq!(
            err(r#"{"choices": [{"message": {"content": "x", "tool_calls": [{"id": "a", "function": {"arguments": "{}"}}]}}]}"#),
            "`choices[0].message.tool_calls[0].function.name` is missing"
        );
        assert_eq!(err(r#"{"choices": [{"message": {"content": 3}}]}"#), "`choices[0].message.content` is a number, expected a string");
        assert_eq!(
            err(r#"{"choices": [{"message": {"content": "x"}, "logprobs": {"content": [{"token": "a", "logprob": "high"}]}}]}"#),
            "`choices[0].logprobs.content[0].logprob`: invalid type: string \"high\", expected f64 at line 1 column 100"
        );
        assert_eq!(err(r#"{"choices": {"0": {}}}"#), "`choices`: invalid type: map, expected a sequence at line 1 column 12");
        assert_eq!(err(r#"{"choices": [{"message": {"content": null}, "token_ids": [-1]}]}"#).split(':').next(), Some("`choices[0].token_ids[0]`"));
        assert!(err(r#"{"error": {"message": "model not loaded"}}"#).contains("model not loaded"));
        assert_eq!(err("[1]"), "the body is an array, expected a JSON object");
        assert_eq!(err(r#"["id", "model", []]"#), "the body is an array, expected a JSON object");
        assert_eq!(err(r#""text""#), "the body is a string, expected a JSON object");
        assert!(err("{\"choices\": [").starts_with("the body is not JSON"));
        assert_eq!(
            err(r#"{"choices": [{"message": {"content": "x"}, "logprobs": {"content": [{"token": "x"}]}}]}"#),
            "`choices[0].logprobs.content[0].logprob` is missing"
        );
    }

    #[test]
    fn reads_backend_variants() {
        let r = parse_response(
            br#"{"id": "c1", "model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls",
                 "message": {"role": "assistant", "content": null,
                   "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]},
                 "logprobs": {"content": [{"token": "token_id:42", "logprob": -0.5, "top_logprobs": [{"token": "token_id:7", "logprob": -1.0}]}]}}],
                 "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let c = &r.choices[0];
        assert_eq!(c.tool_calls, vec![ToolCall::new("call_1", "f", r#"{"a":1}"#)]);
        assert_eq!(c.content, None);
        let lp = c.logprobs.as_ref().map(|l| (l[0].id, l[0].top[0].id));
        assert_eq!(lp, Some((Some(42), Some(7))));
        assert_eq!(c.token_ids, Some(vec![42]));
        assert_eq!(r.usage, Some(Usage { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 }));

        let r = parse_response(
            br#"{"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                 "token_ids": [5, 6], "logprobs": {"content": [{"id": 9, "token": "a", "logprob": -0.1, "bytes": [97]}]}}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.choices[0].content.as_deref(), Some("ab"));
        assert_eq!(r.choices[0].token_ids, Some(vec![5, 6]));
        assert_eq!(r.choices[0].logprobs.as_ref().map(|l| (l[0].id, l[0].bytes.clone())), Some((Some(9), Some(vec![97]))));
    }
}
