//! τ²-bench's user simulator (`tau2.user.user_simulator.UserSimulator`) as an eigenbox role
//! component (world `eigenbox:role/role-plugin@0.1.0`).
//!
//! Each `step` gets the user's side of the dialogue so far (`history`: the agent's text
//! messages as `assistant`, the user's own messages as `user`, results of the user's tool calls
//! as `tool`) and a JSON `config`:
//!
//! ```json
//! {"instructions": "<str(task.user_scenario)>", "model": "user-model",
//!  "user_tools": null, "temperature": 0.0, "top_p": null, "max_tokens": null, "seed": 1}
//! ```
//!
//! `"logprobs": n` (optional) asks the model for token log-probabilities with `n` alternatives;
//! the host keeps what comes back with the user message (the component passes the text on).
//!
//! It builds the reference's system prompt (the global simulation guidelines, the variant with
//! tools when the user has tools, then `<scenario>…</scenario>`), flips the roles (the model
//! plays the user, so the user's messages are its own `assistant` messages), asks the model
//! through the host's `llm` import, and returns the answer as a `user` message whose tool calls
//! are the user's. `done` is τ²'s `is_stop`: a text reply containing `###STOP###`,
//! `###TRANSFER###` or `###OUT-OF-SCOPE###`. The user's tools (telecom's phone) are listed
//! through the host's `tools` import (`user_tools` filters them by name, as the task's
//! `user_tools` does); the orchestrator runs the calls.
//!
//! Errors are strings prefixed with their kind: `llm-backend: …`, `llm-denied: …`,
//! `llm-budget: …`, `config: …`, `history: …`.

use serde::Deserialize;

/// τ²'s `simulation_guidelines.md`.
pub const GUIDELINES: &str = include_str!("../data/simulation_guidelines.md");
/// τ²'s `simulation_guidelines_tools.md`.
pub const GUIDELINES_TOOLS: &str = include_str!("../data/simulation_guidelines_tools.md");

/// The stop tokens.
pub const STOP_TOKENS: [&str; 3] = ["###STOP###", "###TRANSFER###", "###OUT-OF-SCOPE###"];

/// The step configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `str(task.user_scenario)`.
    pub instructions: String,
    /// Logical model name (must be granted).
    pub model: String,
    /// Only these user tools (τ²'s task `user_tools`); `null`: all of them.
    #[serde(default)]
    pub user_tools: Option<Vec<String>>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus mass.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Completion cap.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Seed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Ask for token log-probabilities with this many alternatives per position.
    #[serde(default)]
    pub logprobs: Option<u32>,
}

/// τ²'s `UserSimulator.system_prompt` (no persona configuration).
pub fn system_prompt(instructions: &str, with_tools: bool) -> String {
    let guidelines = if with_tools { GUIDELINES_TOOLS } else { GUIDELINES };
    let guidelines = guidelines.replace("<PERSONA_GUIDELINES>", "");
    format!("{guidelines}\n\n<scenario>\n{instructions}\n</scenario>")
}

/// τ²'s `UserSimulator.is_stop` on a text reply.
pub fn is_stop(content: Option<&str>, has_tool_calls: bool) -> bool {
    !has_tool_calls && content.is_some_and(|c| STOP_TOKENS.iter().any(|t| c.contains(t)))
}

#[cfg(target_arch = "wasm32")]
mod guest {
    wit_bindgen::generate!({
        path: ["../../wit/types", "../../wit/role"],
        world: "eigenbox:role/role-plugin@0.1.0",
        generate_all,
    });

    use eigenbox::role::llm::{self, ChatRequest, LlmError, Sampling, ToolDef};
    use eigenbox::role::tools;
    use eigenbox::types::types::{Message, Requestor, Role, ToolCall};
    use exports::eigenbox::role::role::{Guest, StepInput, StepOutput};

    use super::{is_stop, system_prompt, Config};

    /// τ²'s `UserState.flip_roles`.
    fn flip(history: &[Message]) -> Result<Vec<Message>, String> {
        let mut out = Vec::with_capacity(history.len());
        for (i, m) in history.iter().enumerate() {
            let mut m = m.clone();
            match m.role {
                Role::User => m.role = Role::Assistant,
                Role::Assistant if m.tool_calls.is_empty() => m.role = Role::User,
                Role::Assistant => return Err(format!("history: message {i}: the agent's tool calls are not part of the user's view")),
                Role::Tool => {}
                Role::System => return Err(format!("history: message {i}: system messages are not part of the user's view")),
            }
            out.push(m);
        }
        Ok(out)
    }

    struct UserSim;

    impl Guest for UserSim {
        fn step(input: StepInput) -> Result<StepOutput, String> {
            let cfg: Config = serde_json::from_str(&input.config).map_err(|e| format!("config: {e}"))?;
            let tools: Vec<ToolDef> = tools::list_tools(Requestor::User)
                .into_iter()
                .filter(|t| cfg.user_tools.as_ref().is_none_or(|only| only.iter().any(|n| *n == t.name)))
                .map(|t| ToolDef { name: t.name, description: t.description, parameters: t.parameters })
                .collect();
            let mut messages = vec![Message {
                role: Role::System,
                content: Some(system_prompt(&cfg.instructions, !tools.is_empty())),
                tool_calls: vec![],
                tool_call_id: None,
                error: false,
            }];
            messages.extend(flip(&input.history)?);
            let request = ChatRequest {
                model: cfg.model.clone(),
                messages,
                tools,
                sampling: Sampling { temperature: cfg.temperature, top_p: cfg.top_p, max_tokens: cfg.max_tokens, seed: cfg.seed },
                logprobs: cfg.logprobs,
            };
            let reply = llm::chat(&request).map_err(|e| match e {
                LlmError::Backend(t) => format!("llm-backend: {t}"),
                LlmError::Denied(t) => format!("llm-denied: {t}"),
                LlmError::BudgetExhausted(t) => format!("llm-budget: {t}"),
            })?;
            let m = reply.message;
            let tool_calls: Vec<ToolCall> =
                m.tool_calls.into_iter().map(|c| ToolCall { id: c.id, name: c.name, arguments: c.arguments, requestor: Requestor::User }).collect();
            let done = is_stop(m.content.as_deref(), !tool_calls.is_empty());
            Ok(StepOutput { message: Message { role: Role::User, content: m.content, tool_calls, tool_call_id: None, error: false }, done })
        }
    }

    export!(UserSim);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_is_the_references() {
        let p = system_prompt("Persona:\n\tcalm\nInstructions:\n\tcancel", false);
        assert!(p.starts_with("# User Simulation Guidelines\nYou are playing the role of a customer"));
        assert!(p.ends_with(".\n\n\n<scenario>\nPersona:\n\tcalm\nInstructions:\n\tcancel\n</scenario>"), "{p}");
        assert!(system_prompt("x", true).contains("tool"));
        assert_ne!(system_prompt("x", true), system_prompt("x", false));
    }

    #[test]
    fn stop_tokens_end_text_replies_only() {
        assert!(is_stop(Some("ok ###STOP###"), false));
        assert!(is_stop(Some("###TRANSFER###"), false));
        assert!(is_stop(Some("###OUT-OF-SCOPE###"), false));
        assert!(!is_stop(Some("###STOP###"), true));
        assert!(!is_stop(Some("stop"), false));
        assert!(!is_stop(None, false));
    }

    #[test]
    fn config_refuses_unknown_keys() {
        let c: Config = serde_json::from_str(r#"{"instructions": "i", "model": "m"}"#).unwrap();
        assert_eq!((c.model.as_str(), c.user_tools, c.logprobs), ("m", None, None));
        let c: Config = serde_json::from_str(r#"{"instructions": "i", "model": "m", "logprobs": 2}"#).unwrap();
        assert_eq!(c.logprobs, Some(2));
        assert!(serde_json::from_str::<Config>(r#"{"instructions": "i", "model": "m", "temp": 1}"#).is_err());
    }
}
