//! A role component that attempts every host import named in its step config and reports what
//! happened, one line per attempt: `tool <name>: ok <text>` / `tool <name>: denied <why>` /
//! `llm <model>: ok <text>` / `llm <model>: denied <why>`; with logprobs asked for, the answer's
//! tokens follow the text as ` [tokens <token>#<id>@<logprob>|…]`.
//!
//! Config (the step input's `config`): lines `tool <name> <json-args>`, `llm <model>`, or
//! `llm <model> logprobs=<n>`.

wit_bindgen::generate!({
    path: ["../../../wit/types", "../../../wit/role"],
    world: "eigenbox:role/role-plugin@0.1.0",
    generate_all,
});

use eigenbox::role::llm::{self, ChatRequest, LlmError, Sampling};
use eigenbox::role::tools;
use eigenbox::types::types::{Message, Requestor, Role, ToolErrorKind};
use exports::eigenbox::role::role::{Guest, StepInput, StepOutput};

struct Probe;

impl Guest for Probe {
    fn step(input: StepInput) -> Result<StepOutput, String> {
        let mut out = Vec::new();
        for line in input.config.lines() {
            let mut parts = line.splitn(3, ' ');
            match (parts.next(), parts.next()) {
                (Some("tool"), Some(name)) => {
                    let args = parts.next().unwrap_or("{}");
                    out.push(match tools::call(Requestor::Assistant, name, args) {
                        Ok(text) => format!("tool {name}: ok {text}"),
                        Err(e) if e.kind == ToolErrorKind::Denied => format!("tool {name}: denied {}", e.message),
                        Err(e) => format!("tool {name}: error {}", e.message),
                    });
                }
                (Some("llm"), Some(model)) => {
                    let logprobs = parts.next().and_then(|o| o.strip_prefix("logprobs=")).and_then(|n| n.parse().ok());
                    let req = ChatRequest {
                        model: model.to_string(),
                        messages: input.history.clone(),
                        tools: vec![],
                        sampling: Sampling { temperature: None, top_p: None, max_tokens: Some(8), seed: Some(1) },
                        logprobs,
                    };
                    out.push(match llm::chat(&req) {
                        Ok(r) if r.tokens.is_empty() => format!("llm {model}: ok {}", r.message.content.unwrap_or_default()),
                        Ok(r) => {
                            let tokens: Vec<String> = r
                                .tokens
                                .iter()
                                .map(|t| format!("{}#{}@{}/{}", t.token, t.id.map(|i| i.to_string()).unwrap_or_else(|| "-".into()), t.logprob, t.top.len()))
                                .collect();
                            format!("llm {model}: ok {} [tokens {}]", r.message.content.unwrap_or_default(), tokens.join("|"))
                        }
                        Err(LlmError::Denied(why)) => format!("llm {model}: denied {why}"),
                        Err(LlmError::Backend(why)) => format!("llm {model}: backend {why}"),
                        Err(LlmError::BudgetExhausted(why)) => format!("llm {model}: budget {why}"),
                    });
                }
                (Some("tools"), _) => {
                    let names: Vec<String> = tools::list_tools(Requestor::Assistant).into_iter().map(|t| t.name).collect();
                    out.push(format!("tools: {}", names.join(",")));
                }
                _ => return Err(format!("bad config line `{line}`")),
            }
        }
        Ok(StepOutput {
            message: Message { role: Role::User, content: Some(out.join("\n")), tool_calls: vec![], tool_call_id: None, error: false },
            done: true,
        })
    }
}

export!(Probe);
