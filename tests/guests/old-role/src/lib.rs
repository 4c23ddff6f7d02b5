//! A role component built against `eigenbox:role@0.1.0` as it was before `chat-request` gained
//! `logprobs` and `chat-response` gained `tokens`: the host must refuse it at load, saying it was
//! built against an older revision of the WIT, instead of failing at its first model call.

wit_bindgen::generate!({
    inline: r#"
        package eigenbox:role@0.1.0;

        interface llm {
            use eigenbox:types/types@0.1.0.{message};
            record tool-def { name: string, description: string, parameters: string }
            record sampling { temperature: option<f64>, top-p: option<f64>, max-tokens: option<u32>, seed: option<u64> }
            record chat-request { model: string, messages: list<message>, tools: list<tool-def>, sampling: sampling }
            record chat-response { message: message, prompt-tokens: u32, completion-tokens: u32 }
            variant llm-error { denied(string), backend(string), budget-exhausted(string) }
            chat: func(request: chat-request) -> result<chat-response, llm-error>;
        }

        interface role {
            use eigenbox:types/types@0.1.0.{message};
            record step-input { config: string, history: list<message> }
            record step-output { message: message, done: bool }
            step: func(input: step-input) -> result<step-output, string>;
        }

        world role-plugin {
            import llm;
            export role;
        }
    "#,
    path: "../../../wit/types",
    world: "eigenbox:role/role-plugin@0.1.0",
    generate_all,
});

use eigenbox::role::llm::{self, ChatRequest, Sampling};
use eigenbox::types::types::{Message, Role};
use exports::eigenbox::role::role::{Guest, StepInput, StepOutput};

struct Old;

impl Guest for Old {
    fn step(input: StepInput) -> Result<StepOutput, String> {
        let req = ChatRequest {
            model: input.config,
            messages: input.history,
            tools: vec![],
            sampling: Sampling { temperature: None, top_p: None, max_tokens: None, seed: None },
        };
        let r = llm::chat(&req).map_err(|_| "llm failed".to_string())?;
        Ok(StepOutput { message: Message { role: Role::User, ..r.message }, done: true })
    }
}

export!(Old);
