//! Chat templates with tools (ChatML in the Qwen2.5 tool style, Llama 3.1 JSON tools), token
//! roles for loss masking, and a parser for the model's tool calls.
//!
//! # ChatML (SmolLM2, Qwen2.5, Qwen3)
//!
//! ```text
//! <|im_start|>system
//! {system}                                   ← default_system when the dialogue has none
//!
//! # Tools
//! …<tools>
//! {"type": "function", "function": {…}}      ← one line per tool (Python json.dumps style)
//! </tools>
//! …<|im_end|>
//! <|im_start|>user
//! {content}<|im_end|>
//! <|im_start|>assistant
//! {content}
//! <tool_call>
//! {"name": "f", "arguments": {…}}
//! </tool_call><|im_end|>
//! <|im_start|>user
//! <tool_response>
//! {tool result}
//! </tool_response><|im_end|>              ← consecutive tool results share one user turn (Qwen style)
//! ```
//!
//! # Llama 3.1
//!
//! The official Llama 3.1 template with `tools_in_user_message=false`: `<|begin_of_text|>`, a
//! system turn with `Environment: ipython` (when tools are given), the knowledge/today dates,
//! the tool list (`tojson(indent=4)`) and the system message; then
//! `<|start_header_id|>{role}<|end_header_id|>\n\n{content|trim}<|eot_id|>` per message. An
//! assistant tool call is `{"name": …, "parameters": …}` (its text content is dropped, as the
//! template does; several calls, which the template rejects, are rendered one per line); tool
//! results are `ipython` turns whose content is JSON-quoted, as the template's `tojson` does.
//!
//! # Token roles
//!
//! Every token gets a [`TokenRole`]: the message's own text (and, for system, user and
//! assistant messages, its end-of-turn token `<|im_end|>` / `<|eot_id|>`) has the message's
//! role; assistant tool-call text is `Assistant`; tool results are `Tool`; headers
//! (`<|im_start|>user\n`), the tool list, `<tool_response>` wrappers and newlines between turns
//! are `Template`.

use crate::{ModelError, Tokenizer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A tool call in the OpenAI shape: `{"id", "type": "function", "function": {"name", "arguments"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_string()
}

/// The function part of a [`ToolCall`]; `arguments` is JSON text (as in the OpenAI API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

impl ToolCall {
    /// A function call with JSON arguments.
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: &Value) -> Self {
        ToolCall {
            id: id.into(),
            kind: function_type(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.to_string(),
            },
        }
    }
    /// The arguments parsed as JSON (`Null` if empty).
    pub fn arguments_json(&self) -> Result<Value, ModelError> {
        if self.function.arguments.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&self.function.arguments).map_err(|e| {
            ModelError::Template(format!(
                "tool call `{}` has invalid JSON arguments: {e}",
                self.function.name
            ))
        })
    }
}

/// One chat message in the OpenAI shape (`role`: system, user, assistant or tool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    fn with(role: &str, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: Some(content.into()),
            ..Default::default()
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::with("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::with("user", content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::with("assistant", content)
    }
    /// An assistant turn with tool calls (and optional text).
    pub fn assistant_tool_calls(content: Option<String>, tool_calls: Vec<ToolCall>) -> Self {
        ChatMessage {
            role: "assistant".into(),
            content,
            tool_calls,
            ..Default::default()
        }
    }
    /// A tool result.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: "tool".into(),
            content: Some(content.into()),
            tool_call_id: Some(tool_call_id.into()),
            ..Default::default()
        }
    }
    fn text(&self) -> &str {
        self.content.as_deref().unwrap_or("")
    }
}

/// Who a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenRole {
    System,
    User,
    Assistant,
    Tool,
    /// Scaffolding of the template (headers, separators, tool list, wrappers).
    Template,
}

/// Token ids of a rendered dialogue with one role per token.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedDialogue {
    pub ids: Vec<i64>,
    pub roles: Vec<TokenRole>,
}

impl EncodedDialogue {
    /// 1 for tokens of `role`, else 0 (a loss mask).
    pub fn mask(&self, role: TokenRole) -> Vec<bool> {
        self.roles.iter().map(|&r| r == role).collect()
    }
}

/// A chat format.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\n…<|im_end|>\n`, tools in the Qwen2.5 style. `default_system` is
    /// rendered when the dialogue does not start with a system message.
    ChatMl { default_system: Option<String> },
    /// Llama 3.1 / 3.2 Instruct headers and JSON tool calls; `date` is the template's
    /// "Today Date" (its default when no clock is given is "26 Jul 2024").
    Llama3 { date: String },
}

impl ChatTemplate {
    /// SmolLM2-Instruct's template (its default system prompt).
    pub fn smollm2() -> Self {
        ChatTemplate::ChatMl {
            default_system: Some(
                "You are a helpful AI assistant named SmolLM, trained by Hugging Face".into(),
            ),
        }
    }
    /// Qwen2.5-Instruct's template (its default system prompt).
    pub fn qwen2_5() -> Self {
        ChatTemplate::ChatMl {
            default_system: Some(
                "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.".into(),
            ),
        }
    }
    /// Qwen3's template without reasoning blocks (no default system prompt).
    pub fn qwen3() -> Self {
        ChatTemplate::ChatMl {
            default_system: None,
        }
    }
    /// Llama 3.1 / 3.2 Instruct.
    pub fn llama3() -> Self {
        ChatTemplate::Llama3 {
            date: "26 Jul 2024".into(),
        }
    }
    /// Guesses the template from a Jinja chat template text (e.g. GGUF `tokenizer.chat_template`).
    pub fn guess(jinja: &str) -> Option<Self> {
        if jinja.contains("<|start_header_id|>") {
            Some(Self::llama3())
        } else if jinja.contains("<|im_start|>") {
            if jinja.contains("SmolLM") {
                Some(Self::smollm2())
            } else if jinja.contains("You are Qwen") {
                Some(Self::qwen2_5())
            } else {
                Some(Self::qwen3())
            }
        } else {
            None
        }
    }
    /// Token strings that end a turn (stop tokens for generation).
    pub fn stop_strings(&self) -> &'static [&'static str] {
        match self {
            ChatTemplate::ChatMl { .. } => &["<|im_end|>"],
            ChatTemplate::Llama3 { .. } => &["<|eot_id|>", "<|eom_id|>"],
        }
    }
}

/// Python `json.dumps(v, ensure_ascii=False)` (separators `", "` / `": "`), as Jinja's
/// `tojson` renders in HF chat templates.
pub fn py_json(v: &Value) -> String {
    let mut s = String::new();
    write_py_json(v, &mut s);
    s
}

fn write_py_json(v: &Value, out: &mut String) {
    match v {
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_py_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_py_json(x, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Python `json.dumps(v, ensure_ascii=False, indent=n)` (Jinja `tojson(indent=n)`).
pub fn py_json_indent(v: &Value, indent: usize) -> String {
    fn go(v: &Value, indent: usize, level: usize, out: &mut String) {
        let pad = |l: usize| " ".repeat(indent * l);
        match v {
            Value::Array(a) if !a.is_empty() => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    out.push_str(if i > 0 { ",\n" } else { "\n" });
                    out.push_str(&pad(level + 1));
                    go(x, indent, level + 1, out);
                }
                out.push('\n');
                out.push_str(&pad(level));
                out.push(']');
            }
            Value::Object(m) if !m.is_empty() => {
                out.push('{');
                for (i, (k, x)) in m.iter().enumerate() {
                    out.push_str(if i > 0 { ",\n" } else { "\n" });
                    out.push_str(&pad(level + 1));
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push_str(": ");
                    go(x, indent, level + 1, out);
                }
                out.push('\n');
                out.push_str(&pad(level));
                out.push('}');
            }
            other => out.push_str(&py_json(other)),
        }
    }
    let mut s = String::new();
    go(v, indent, 0, &mut s);
    s
}

/// Arguments as the templates render them: parsed JSON re-serialised Python-style, or the raw
/// text when it is not JSON.
fn args_text(tc: &ToolCall) -> String {
    match serde_json::from_str::<Value>(&tc.function.arguments) {
        Ok(v) => py_json(&v),
        Err(_) if tc.function.arguments.trim().is_empty() => "{}".to_string(),
        Err(_) => tc.function.arguments.clone(),
    }
}

struct Render {
    text: String,
    spans: Vec<(usize, usize, TokenRole)>,
}

impl Render {
    fn push(&mut self, s: &str, role: TokenRole) {
        if s.is_empty() {
            return;
        }
        let start = self.text.len();
        self.text.push_str(s);
        self.spans.push((start, self.text.len(), role));
    }
    fn role_at(&self, byte: usize) -> TokenRole {
        // Spans are sorted and contiguous: binary search for the one containing `byte`.
        let i = self.spans.partition_point(|&(_, end, _)| end <= byte);
        self.spans
            .get(i)
            .or(self.spans.last())
            .map(|s| s.2)
            .unwrap_or(TokenRole::Template)
    }
}

fn role_of(m: &ChatMessage, i: usize) -> Result<TokenRole, ModelError> {
    Ok(match m.role.as_str() {
        "system" => TokenRole::System,
        "user" => TokenRole::User,
        "assistant" => TokenRole::Assistant,
        "tool" | "ipython" => TokenRole::Tool,
        other => {
            return Err(ModelError::Template(format!(
                "message {i} has unknown role `{other}` (expected system, user, assistant or tool)"
            )))
        }
    })
}

const QWEN_TOOLS_HEAD: &str = "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>";
const QWEN_TOOLS_TAIL: &str = "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>";

fn render(
    template: &ChatTemplate,
    messages: &[ChatMessage],
    tools: &[Value],
    add_generation_prompt: bool,
) -> Result<Render, ModelError> {
    use TokenRole::*;
    let mut r = Render {
        text: String::new(),
        spans: vec![],
    };
    for (i, m) in messages.iter().enumerate() {
        role_of(m, i)?;
    }
    let (first_system, rest) = match messages.first() {
        Some(m) if m.role == "system" => (Some(m), &messages[1..]),
        _ => (None, messages),
    };
    match template {
        ChatTemplate::ChatMl { default_system } => {
            let (sys_text, sys_role) = match (first_system, default_system) {
                (Some(m), _) => (Some(m.text().to_string()), System),
                (None, Some(d)) => (Some(d.clone()), Template),
                (None, None) => (None, Template),
            };
            if !tools.is_empty() {
                r.push("<|im_start|>system\n", Template);
                if let Some(s) = &sys_text {
                    r.push(s, sys_role);
                    r.push("\n\n", Template);
                }
                r.push(QWEN_TOOLS_HEAD, Template);
                for t in tools {
                    r.push("\n", Template);
                    r.push(&py_json(t), Template);
                }
                r.push(QWEN_TOOLS_TAIL, Template);
                r.push("<|im_end|>", sys_role);
                r.push("\n", Template);
            } else if let Some(s) = &sys_text {
                r.push("<|im_start|>system\n", Template);
                r.push(s, sys_role);
                r.push("<|im_end|>", sys_role);
                r.push("\n", Template);
            }
            let mut k = 0;
            while k < rest.len() {
                let m = &rest[k];
                match m.role.as_str() {
                    "tool" | "ipython" => {
                        r.push("<|im_start|>user", Template);
                        while k < rest.len() && matches!(rest[k].role.as_str(), "tool" | "ipython")
                        {
                            r.push("\n<tool_response>\n", Template);
                            r.push(rest[k].text(), Tool);
                            r.push("\n</tool_response>", Template);
                            k += 1;
                        }
                        r.push("<|im_end|>\n", Template);
                        continue;
                    }
                    "assistant" => {
                        r.push("<|im_start|>assistant\n", Template);
                        if m.tool_calls.is_empty() {
                            r.push(m.text(), Assistant);
                        } else {
                            let mut body = m.text().to_string();
                            for (j, tc) in m.tool_calls.iter().enumerate() {
                                if j > 0 || !body.is_empty() {
                                    body.push('\n');
                                }
                                body.push_str(&format!(
                                    "<tool_call>\n{{\"name\": {}, \"arguments\": {}}}\n</tool_call>",
                                    Value::String(tc.function.name.clone()),
                                    args_text(tc)
                                ));
                            }
                            r.push(&body, Assistant);
                        }
                        r.push("<|im_end|>", Assistant);
                        r.push("\n", Template);
                    }
                    role => {
                        let tr = role_of(m, k)?;
                        r.push(&format!("<|im_start|>{role}\n"), Template);
                        r.push(m.text(), tr);
                        r.push("<|im_end|>", tr);
                        r.push("\n", Template);
                    }
                }
                k += 1;
            }
            if add_generation_prompt {
                r.push("<|im_start|>assistant\n", Template);
            }
        }
        ChatTemplate::Llama3 { date } => {
            r.push("<|begin_of_text|>", Template);
            let header = |r: &mut Render, role: &str| {
                r.push(
                    &format!("<|start_header_id|>{role}<|end_header_id|>\n\n"),
                    Template,
                )
            };
            header(&mut r, "system");
            let mut t = String::new();
            if !tools.is_empty() {
                t.push_str("Environment: ipython\n");
            }
            t.push_str(&format!(
                "Cutting Knowledge Date: December 2023\nToday Date: {date}\n\n"
            ));
            if !tools.is_empty() {
                t.push_str("You have access to the following functions. To call a function, please respond with JSON for a function call.Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n");
                for tool in tools {
                    t.push_str(&py_json_indent(tool, 4));
                    t.push_str("\n\n");
                }
            }
            r.push(&t, Template);
            let sys_role = if first_system.is_some() {
                System
            } else {
                Template
            };
            if let Some(m) = first_system {
                r.push(m.text().trim(), System);
            }
            r.push("<|eot_id|>", sys_role);
            for (k, m) in rest.iter().enumerate() {
                let tr = role_of(m, k)?;
                match m.role.as_str() {
                    "tool" | "ipython" => {
                        header(&mut r, "ipython");
                        // The official template pipes string contents through `tojson`
                        // (a Jinja string is `iterable`), so results appear JSON-quoted.
                        r.push(&py_json(&Value::String(m.text().to_string())), Tool);
                        r.push("<|eot_id|>", Template);
                    }
                    "assistant" if !m.tool_calls.is_empty() => {
                        header(&mut r, "assistant");
                        let calls: Vec<String> = m
                            .tool_calls
                            .iter()
                            .map(|tc| {
                                format!(
                                    "{{\"name\": {}, \"parameters\": {}}}",
                                    Value::String(tc.function.name.clone()),
                                    args_text(tc)
                                )
                            })
                            .collect();
                        r.push(&calls.join("\n"), Assistant);
                        r.push("<|eot_id|>", Assistant);
                    }
                    role => {
                        header(&mut r, role);
                        r.push(m.text().trim(), tr);
                        r.push("<|eot_id|>", tr);
                    }
                }
            }
            if add_generation_prompt {
                header(&mut r, "assistant");
            }
        }
    }
    Ok(r)
}

/// The text of a dialogue (what the model sees), optionally ending with the assistant header
/// so the model continues as the assistant.
pub fn render_prompt(
    template: &ChatTemplate,
    messages: &[ChatMessage],
    tools: &[Value],
    add_generation_prompt: bool,
) -> Result<String, ModelError> {
    Ok(render(template, messages, tools, add_generation_prompt)?.text)
}

/// Token ids of [`render_prompt`] for generation.
pub fn encode_prompt(
    tokenizer: &Tokenizer,
    template: &ChatTemplate,
    messages: &[ChatMessage],
    tools: &[Value],
) -> Result<Vec<i64>, ModelError> {
    tokenizer.encode(&render_prompt(template, messages, tools, true)?)
}

/// Tokenises a whole dialogue (no generation prompt) and labels each token with its
/// [`TokenRole`]. The ids are exactly those of tokenising the rendered text in one piece;
/// a token takes the role of the text its first byte comes from.
pub fn encode_dialogue(
    tokenizer: &Tokenizer,
    template: &ChatTemplate,
    messages: &[ChatMessage],
    tools: &[Value],
) -> Result<EncodedDialogue, ModelError> {
    let r = render(template, messages, tools, false)?;
    let (ids, offsets) = tokenizer.encode_with_offsets(&r.text)?;
    let mut roles = Vec::with_capacity(ids.len());
    let mut prev = TokenRole::Template;
    for &(s, e) in &offsets {
        let role = if e > s { r.role_at(s) } else { prev };
        roles.push(role);
        prev = role;
    }
    Ok(EncodedDialogue { ids, roles })
}

fn call_from_json(v: &Value, n: usize) -> Option<ToolCall> {
    let obj = v.as_object()?;
    let name = obj.get("name")?.as_str()?;
    let args = obj
        .get("arguments")
        .or_else(|| obj.get("parameters"))
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    let args = match args {
        // Some models emit the arguments as a JSON string.
        Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        a => a,
    };
    Some(ToolCall::new(format!("call_{n}"), name, &args))
}

/// Splits a model's reply into text and tool calls: `<tool_call>{json}</tool_call>` blocks
/// (a final unterminated block is accepted), or, when there are none, a reply that is just a
/// JSON object `{"name": …, "arguments"|"parameters": …}` (Llama 3 style, optionally after
/// `<|python_tag|>`). Blocks whose JSON does not parse stay in the text. Call ids are
/// `call_0`, `call_1`, ….
pub fn parse_tool_calls(text: &str) -> (String, Vec<ToolCall>) {
    const OPEN: &str = "<tool_call>";
    const CLOSE: &str = "</tool_call>";
    let mut calls = vec![];
    let mut content = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(OPEN) {
        content.push_str(&rest[..i]);
        let after = &rest[i + OPEN.len()..];
        let (inner, next) = match after.find(CLOSE) {
            Some(j) => (&after[..j], &after[j + CLOSE.len()..]),
            None => (after, ""),
        };
        match serde_json::from_str::<Value>(inner.trim())
            .ok()
            .and_then(|v| call_from_json(&v, calls.len()))
        {
            Some(c) => calls.push(c),
            None => content.push_str(&rest[i..rest.len() - next.len()]),
        }
        rest = next;
    }
    content.push_str(rest);
    if calls.is_empty() {
        let t = content.trim().trim_start_matches("<|python_tag|>").trim();
        if t.starts_with('{') {
            if let Some(c) = serde_json::from_str::<Value>(t)
                .ok()
                .and_then(|v| call_from_json(&v, 0))
            {
                return (String::new(), vec![c]);
            }
            // Several calls, one JSON object per line (how the Llama 3 template renders them).
            let lines: Vec<&str> = t.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let parsed: Vec<ToolCall> = lines
                .iter()
                .enumerate()
                .filter_map(|(i, l)| {
                    serde_json::from_str::<Value>(l)
                        .ok()
                        .and_then(|v| call_from_json(&v, i))
                })
                .collect();
            if parsed.len() == lines.len() && !parsed.is_empty() {
                return (String::new(), parsed);
            }
        }
    }
    (content.trim().to_string(), calls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_tool_calls() {
        let (c, calls) = parse_tool_calls("Let me check.\n<tool_call>\n{\"name\": \"get_order\", \"arguments\": {\"id\": \"#W1\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}");
        assert_eq!(c, "Let me check.");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].function.name, "get_order");
        assert_eq!(calls[0].arguments_json().unwrap(), json!({"id": "#W1"}));
        assert_eq!(calls[1].arguments_json().unwrap(), json!({"a": 1}));
        assert_eq!(calls[1].id, "call_1");
        let (c, calls) = parse_tool_calls("<tool_call>not json</tool_call> hi");
        assert_eq!(c, "<tool_call>not json</tool_call> hi");
        assert!(calls.is_empty());
        let (c, calls) =
            parse_tool_calls("<|python_tag|>{\"name\": \"x\", \"parameters\": {\"q\": [1, 2]}}");
        assert_eq!(c, "");
        assert_eq!(calls[0].arguments_json().unwrap(), json!({"q": [1, 2]}));
        let (c, calls) = parse_tool_calls("just text {\"name\": 1}");
        assert_eq!((c.as_str(), calls.len()), ("just text {\"name\": 1}", 0));
    }

    #[test]
    fn py_json_matches_python() {
        let v: Value =
            serde_json::from_str(r#"{"b": [1, 2.5, "é\n"], "a": {"x": null, "y": true}}"#).unwrap();
        assert_eq!(
            py_json(&v),
            r#"{"b": [1, 2.5, "é\n"], "a": {"x": null, "y": true}}"#
        );
    }

    fn dialogue() -> Vec<ChatMessage> {
        vec![
            ChatMessage::system("You are an airline agent."),
            ChatMessage::user("Cancel order #1."),
            ChatMessage::assistant_tool_calls(
                None,
                vec![ToolCall::new("c1", "cancel", &json!({"order_id": "#1"}))],
            ),
            ChatMessage::tool("c1", "{\"ok\": true}"),
            ChatMessage::tool("c2", "second"),
            ChatMessage::assistant("Done."),
        ]
    }

    #[test]
    fn chatml_renders_qwen_tool_style() {
        // Expected text checked against transformers' apply_chat_template with Qwen2.5's template.
        let tools = vec![
            json!({"type": "function", "function": {"name": "cancel", "parameters": {"type": "object"}}}),
        ];
        let text = render_prompt(&ChatTemplate::qwen2_5(), &dialogue(), &tools, true).unwrap();
        let want = "<|im_start|>system\nYou are an airline agent.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"cancel\", \"parameters\": {\"type\": \"object\"}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nCancel order #1.<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"cancel\", \"arguments\": {\"order_id\": \"#1\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"ok\": true}\n</tool_response>\n<tool_response>\nsecond\n</tool_response><|im_end|>\n<|im_start|>assistant\nDone.<|im_end|>\n<|im_start|>assistant\n";
        assert_eq!(text, want);
        // Without a system message SmolLM2's default system prompt is used.
        let t = render_prompt(
            &ChatTemplate::smollm2(),
            &[ChatMessage::user("Hi")],
            &[],
            true,
        )
        .unwrap();
        assert_eq!(t, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        let t = render_prompt(
            &ChatTemplate::qwen3(),
            &[ChatMessage::user("Hi")],
            &[],
            false,
        )
        .unwrap();
        assert_eq!(t, "<|im_start|>user\nHi<|im_end|>\n");
        assert!(render_prompt(
            &ChatTemplate::qwen3(),
            &[ChatMessage {
                role: "bot".into(),
                ..Default::default()
            }],
            &[],
            false
        )
        .is_err());
    }

    #[test]
    fn chatml_content_plus_several_calls_matches_hf() {
        // Expected text from transformers' apply_chat_template with Qwen2.5's Jinja template.
        let tools = vec![
            json!({"type": "function", "function": {"name": "cancel", "parameters": {"type": "object"}}}),
        ];
        let msgs = vec![
            ChatMessage::user("héllo"),
            ChatMessage::assistant_tool_calls(
                Some("Checking.".into()),
                vec![
                    ToolCall::new("", "a", &json!({"x": [1, 2.5, "é"]})),
                    ToolCall::new("", "b", &json!({})),
                ],
            ),
        ];
        let text = render_prompt(&ChatTemplate::qwen2_5(), &msgs, &tools, false).unwrap();
        let want = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"cancel\", \"parameters\": {\"type\": \"object\"}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nhéllo<|im_end|>\n<|im_start|>assistant\nChecking.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": [1, 2.5, \"é\"]}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call><|im_end|>\n";
        assert_eq!(text, want);
    }

    #[test]
    fn llama3_matches_hf_template() {
        // Expected texts from transformers' apply_chat_template with the official Llama 3.1
        // template (tools_in_user_message=False, date_string="26 Jul 2024").
        let tools = vec![
            json!({"type": "function", "function": {"name": "cancel", "parameters": {"type": "object",
            "properties": {"id": {"type": "string"}}, "required": ["id"]}}}),
        ];
        let msgs = vec![
            ChatMessage::system(" You are an airline agent.\n"),
            ChatMessage::user("Cancel order #1. "),
            ChatMessage::assistant_tool_calls(
                None,
                vec![ToolCall::new("c1", "cancel", &json!({"order_id": "#1"}))],
            ),
            ChatMessage::tool("c1", "{\"ok\": true, \"note\": \"é\"}"),
            ChatMessage::assistant("Done."),
        ];
        let t = ChatTemplate::llama3();
        assert_eq!(render_prompt(&t, &msgs, &tools, true).unwrap(), "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou have access to the following functions. To call a function, please respond with JSON for a function call.Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"cancel\",\n        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": {\n                \"id\": {\n                    \"type\": \"string\"\n                }\n            },\n            \"required\": [\n                \"id\"\n            ]\n        }\n    }\n}\n\nYou are an airline agent.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nCancel order #1.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"cancel\", \"parameters\": {\"order_id\": \"#1\"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n\"{\\\"ok\\\": true, \\\"note\\\": \\\"é\\\"}\"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nDone.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
        assert_eq!(render_prompt(&t, &msgs[1..2], &[], true).unwrap(), "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nCancel order #1.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
        // Several calls render one per line and parse back.
        let two = ChatMessage::assistant_tool_calls(
            None,
            vec![
                ToolCall::new("", "a", &json!({})),
                ToolCall::new("", "b", &json!({"x": 1})),
            ],
        );
        let text = render_prompt(&t, &[two], &[], false).unwrap();
        let body = text
            .rsplit("<|end_header_id|>\n\n")
            .next()
            .unwrap()
            .trim_end_matches("<|eot_id|>");
        let (c, calls) = parse_tool_calls(body);
        assert_eq!((c.as_str(), calls.len()), ("", 2));
        assert_eq!(calls[1].arguments_json().unwrap(), json!({"x": 1}));
    }
}
