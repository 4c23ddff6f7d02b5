//! Recovering tool calls that a (small) model wrote as JSON in its text.
//!
//! Servers return structured `tool_calls` only when their chat template's parser recognises the
//! model's output. Small models often write the call as plain text instead. The client applies
//! [`parse_tool_calls`] only when the request offered tools and the response has no structured
//! calls; it recognises, in this order:
//!
//! 1. `<tool_call>…</tool_call>` tags (Qwen / Hermes templates; SmolLM2 writes a JSON *array*
//!    inside them; a missing closing tag at the end of the text is accepted);
//! 2. Markdown fences, `` ```json … ``` `` or bare `` ``` … ``` `` (a block that is entirely a call);
//! 3. a bare JSON object or array anywhere in the text.
//!
//! A call is `{"name": …, "arguments": …}` (also `"parameters"`, or the OpenAI shape
//! `{"type": "function", "function": {…}}`, or `{"tool_calls": [...]}`); the arguments may be an
//! object or a string holding a JSON object, and are normalised to compact JSON text. Only names of
//! offered tools count: JSON that happens to have a `name` (a user profile, say) is left as text.
//!
//! ```
//! use eigenbox_llm::lenient::parse_tool_calls;
//! let text = "Sure.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
//! let found = parse_tool_calls(text, &["get_weather"]).expect("a call");
//! assert_eq!(found.calls[0].function.name, "get_weather");
//! assert_eq!(found.calls[0].function.arguments, r#"{"city":"Paris"}"#);
//! assert_eq!(found.remaining.as_deref(), Some("Sure."));
//! ```

use serde_json::Value;

use crate::types::ToolCall;

/// Tool calls recovered from a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The calls, in the order written.
    pub calls: Vec<ToolCall>,
    /// The text with the calls removed (trimmed; `None` when nothing else was written).
    pub remaining: Option<String>,
}

/// A fresh OpenAI-style call id (`call_` + 24 alphanumerics).
pub fn new_call_id() -> String {
    let mut id = String::with_capacity(29);
    id.push_str("call_");
    for _ in 0..24 {
        id.push(fastrand::alphanumeric());
    }
    id
}

/// Find tool calls written as JSON in `text`; `tools` are the names the request offered (an
/// empty slice accepts any name). `None` when there is no recognisable call.
pub fn parse_tool_calls(text: &str, tools: &[&str]) -> Option<Recovered> {
    for finder in [tagged_spans, fenced_spans, bare_spans] {
        let spans = finder(text, tools);
        if !spans.is_empty() {
            return Some(assemble(text, spans));
        }
    }
    None
}

/// A byte range of the text and the calls it holds.
type Span = (usize, usize, Vec<(String, String)>);

fn assemble(text: &str, spans: Vec<Span>) -> Recovered {
    let mut remaining = String::new();
    let mut at = 0;
    let mut calls = Vec::new();
    for (start, end, found) in spans {
        remaining.push_str(&text[at..start]);
        at = end;
        calls.extend(found.into_iter().map(|(name, args)| ToolCall::new(new_call_id(), name, args)));
    }
    remaining.push_str(&text[at..]);
    let remaining = remaining.trim();
    Recovered { calls, remaining: (!remaining.is_empty()).then(|| remaining.to_string()) }
}

const OPEN_TAG: &str = "<tool_call>";
const CLOSE_TAG: &str = "</tool_call>";

fn tagged_spans(text: &str, tools: &[&str]) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(rel) = text[from..].find(OPEN_TAG) {
        let start = from + rel;
        let inner_start = start + OPEN_TAG.len();
        let (inner_end, end) = match text[inner_start..].find(CLOSE_TAG) {
            Some(r) => (inner_start + r, inner_start + r + CLOSE_TAG.len()),
            None => (text.len(), text.len()),
        };
        let inner = strip_fence(text[inner_start..inner_end].trim());
        if let Some(calls) = serde_json::from_str::<Value>(inner).ok().and_then(|v| as_calls(&v, tools)) {
            spans.push((start, end, calls));
        }
        from = end.max(inner_start);
    }
    spans
}

/// The inside of a fence, if `s` is exactly one fenced block.
fn strip_fence(s: &str) -> &str {
    let Some(rest) = s.strip_prefix("```") else { return s };
    let Some(body) = rest.strip_suffix("```") else { return s };
    let body = body.strip_prefix("json").unwrap_or(body);
    body.trim()
}

fn fenced_spans(text: &str, tools: &[&str]) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(rel) = text[from..].find("```") {
        let start = from + rel;
        let after_ticks = start + 3;
        // The info string runs to the end of the line.
        let body_start = match text[after_ticks..].find('\n') {
            Some(nl) => after_ticks + nl + 1,
            None => break,
        };
        let Some(close_rel) = text[body_start..].find("```") else { break };
        let body_end = body_start + close_rel;
        let end = body_end + 3;
        // Whatever the info string says (`json`, nothing, or a wrong label), a block that is
        // entirely a call to an offered tool is one.
        if let Some(calls) = serde_json::from_str::<Value>(text[body_start..body_end].trim()).ok().and_then(|v| as_calls(&v, tools)) {
            spans.push((start, end, calls));
        }
        from = end;
    }
    spans
}

fn bare_spans(text: &str, tools: &[&str]) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut pos = 0;
    while let Some(rel) = text[pos..].find(['{', '[']) {
        let start = pos + rel;
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => {
                let end = start + stream.byte_offset();
                if let Some(calls) = as_calls(&value, tools) {
                    spans.push((start, end, calls));
                    pos = end;
                } else if value.is_object() {
                    // An object that is not a call: its insides are not calls either.
                    pos = end;
                } else {
                    pos = start + 1;
                }
            }
            _ => pos = start + 1,
        }
    }
    spans
}

/// The calls a JSON value holds, or `None` if it is not (entirely) tool calls.
fn as_calls(value: &Value, tools: &[&str]) -> Option<Vec<(String, String)>> {
    match value {
        Value::Array(items) if !items.is_empty() => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.extend(as_calls(item, tools)?);
            }
            Some(out)
        }
        Value::Object(obj) => {
            if let Some(Value::Array(calls)) = obj.get("tool_calls") {
                return as_calls(&Value::Array(calls.clone()), tools);
            }
            if let Some(f @ Value::Object(_)) = obj.get("function") {
                return as_calls(f, tools);
            }
            let name = obj.get("name")?.as_str()?;
            if name.is_empty() || (!tools.is_empty() && !tools.contains(&name)) {
                return None;
            }
            let args = match obj.get("arguments").or_else(|| obj.get("parameters")) {
                None | Some(Value::Null) => "{}".to_string(),
                Some(a @ Value::Object(_)) => a.to_string(),
                Some(Value::String(s)) if s.trim().is_empty() => "{}".to_string(),
                Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                    Ok(a @ Value::Object(_)) => a.to_string(),
                    _ => return None,
                },
                Some(_) => return None,
            };
            Some(vec![(name.to_string(), args)])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(text: &str, tools: &[&str]) -> Vec<(String, String)> {
        parse_tool_calls(text, tools).map(|r| r.calls.into_iter().map(|c| (c.function.name, c.function.arguments)).collect()).unwrap_or_default()
    }

    fn one(name: &str, args: &str) -> Vec<(String, String)> {
        vec![(name.to_string(), args.to_string())]
    }

    const TOOLS: &[&str] = &["get_weather", "book"];

    #[test]
    fn hermes_tags_with_object_and_string_arguments() {
        let t = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Oslo\\\"}\"}\n</tool_call>";
        assert_eq!(calls(t, TOOLS), one("get_weather", r#"{"city":"Oslo"}"#));
        let t = "<tool_call>{\"name\": \"book\", \"arguments\": {\"id\": 3}}</tool_call>\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {}}</tool_call>";
        assert_eq!(calls(t, TOOLS), vec![("book".into(), r#"{"id":3}"#.into()), ("get_weather".into(), "{}".into())]);
    }

    #[test]
    fn smollm2_array_in_tags_and_unclosed_tag() {
        let t = "<tool_call>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}]</tool_call>";
        assert_eq!(calls(t, TOOLS), one("get_weather", r#"{"city":"Rome"}"#));
        let t = "<tool_call>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}]";
        assert_eq!(calls(t, TOOLS), one("get_weather", r#"{"city":"Rome"}"#));
    }

    #[test]
    fn json_fences() {
        let t = "I will check.\n```json\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Lima\"}}\n```\nOne moment.";
        let r = parse_tool_calls(t, TOOLS).expect("a call");
        assert_eq!(r.calls[0].function.arguments, r#"{"city":"Lima"}"#);
        assert_eq!(r.remaining.as_deref(), Some("I will check.\n\nOne moment."));
        let t = "```\n[{\"type\": \"function\", \"function\": {\"name\": \"book\", \"arguments\": \"{}\"}}]\n```";
        assert_eq!(calls(t, TOOLS), one("book", "{}"));
        // A mislabelled fence holding a JSON call still counts; code in a fence does not.
        let r = parse_tool_calls("```python\n{\"name\": \"book\", \"arguments\": {}}\n```", TOOLS).expect("a call");
        assert_eq!((r.calls.len(), r.remaining), (1, None));
        assert!(calls("```python\nbook(id=3)\n```", TOOLS).is_empty());
    }

    #[test]
    fn bare_objects() {
        let t = "Calling now: {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Kyiv\"}} done";
        let r = parse_tool_calls(t, TOOLS).expect("a call");
        assert_eq!(r.calls.len(), 1);
        assert_eq!(r.remaining.as_deref(), Some("Calling now:  done"));
        assert_eq!(calls(r#"{"tool_calls": [{"function": {"name": "book", "arguments": {"x": [1, 2]}}}]}"#, TOOLS), one("book", r#"{"x":[1,2]}"#));
        let r = parse_tool_calls(r#"{"name": "book"}"#, TOOLS).expect("a call");
        assert_eq!((r.calls[0].function.arguments.as_str(), r.remaining), ("{}", None));
        assert!(r.calls[0].id.starts_with("call_") && r.calls[0].id.len() == 29);
    }

    #[test]
    fn not_calls() {
        // Unknown tool names, profiles with a `name`, broken arguments, prose.
        assert!(calls(r#"{"name": "delete_everything", "arguments": {}}"#, TOOLS).is_empty());
        assert!(calls(r#"Your profile: {"name": "Ann Lee", "email": "a@b.c"}"#, TOOLS).is_empty());
        assert!(calls(r#"{"name": "book", "arguments": "not json"}"#, TOOLS).is_empty());
        assert!(calls(r#"{"name": "book", "arguments": 5}"#, TOOLS).is_empty());
        assert!(calls("The weather is nice {today}.", TOOLS).is_empty());
        assert!(calls("[1, 2, 3]", TOOLS).is_empty());
        assert!(calls("<tool_call>nonsense</tool_call>", TOOLS).is_empty());
        // An object wrapping a call-shaped object is not read as a call.
        assert!(calls(r#"{"example": {"name": "book", "arguments": {}}}"#, TOOLS).is_empty());
        // With no tool list, any name counts.
        assert_eq!(calls(r#"{"name": "anything", "arguments": {}}"#, &[]), one("anything", "{}"));
    }
}
