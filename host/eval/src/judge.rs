//! NL assertions: the [`Judge`] an evaluation consults when a task's reward needs them, and the
//! reference's judge prompt and reply format ([`reference_judge_prompt`],
//! [`parse_judge_reply`]) so that an LLM-backed judge grades exactly like τ²-bench's
//! `NLAssertionsEvaluator`. Without a judge, NL assertions are reported as not evaluated.

use eigenbox_tau2::Message;
use serde_json::Value;

use crate::reward::NlAssertionCheck;

/// The reference's judge model (`DEFAULT_LLM_NL_ASSERTIONS`).
pub const REFERENCE_JUDGE_MODEL: &str = "gpt-4.1-2025-04-14";
/// The reference's judge sampling temperature.
pub const REFERENCE_JUDGE_TEMPERATURE: f64 = 0.0;

/// Why a judge could not grade.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JudgeError {
    /// The model could not be reached or answered with an error.
    #[error("judge model call failed: {0}")]
    Call(String),
    /// The reply is not the JSON the prompt asks for.
    #[error("judge reply is unusable: {reason}; reply: {reply}")]
    BadReply {
        /// What is wrong.
        reason: String,
        /// The reply (possibly shortened).
        reply: String,
    },
}

/// Grades natural-language assertions against a trajectory.
pub trait Judge {
    /// One check per graded assertion, as the reference's evaluator returns them.
    fn judge(&mut self, trajectory: &[Message], nl_assertions: &[String]) -> Result<Vec<NlAssertionCheck>, JudgeError>;
}

/// The two messages the reference sends to its judge model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JudgePrompt {
    /// System message.
    pub system: String,
    /// User message.
    pub user: String,
}

const SYSTEM_PROMPT: &str = "\n        TASK\n        - You will be given a list of expected outcomes and a conversation that was collected during a test case run.\n        - The conversation is between an agent and a customer.\n        - Your job is to evaluate whether the agent satisfies each of the expected outcomes.\n        - Grade each expected outcome individually.\n\n        FORMAT\n        - Your response should be a JSON object with the following fields:\n        - `reasoning`: a short explanation for your classification\n        - `metExpectation`: `true` if the agent satisfies the expected outcomes, `false` otherwise\n        - `expectedOutcome`: repeat the expectation from the input that you are grading\n        \n        Example response structure:\n        {\n            \"results\": [\n                {\n                    \"expectedOutcome\": \"<one of the expected outcomes from the input>\",\n                    \"reasoning\": \"<reasoning trace>\",\n                    \"metExpectation\": <false or true>,\n                }\n            ]\n        }\n        ";

/// The reference's judge prompt, byte for byte: the conversation as `role: content` lines
/// (`None` for no content) and the assertions as a Python list.
pub fn reference_judge_prompt(trajectory: &[Message], nl_assertions: &[String]) -> JudgePrompt {
    let conversation: Vec<String> =
        trajectory.iter().map(|m| format!("{}: {}", m.role(), m.content().unwrap_or("None"))).collect();
    let list: Vec<String> = nl_assertions.iter().map(|s| eigenbox_pyjson::py_str_repr(s)).collect();
    let user = format!(
        "\n        conversation:\n        {}\n        \n        expectedOutcomes:\n        [{}]\n        ",
        conversation.join("\n"),
        list.join(", ")
    );
    JudgePrompt { system: SYSTEM_PROMPT.to_string(), user }
}

fn bad(reason: impl Into<String>, reply: &str) -> JudgeError {
    const MAX: usize = 500;
    let reply = if reply.chars().count() > MAX { format!("{}…", reply.chars().take(MAX).collect::<String>()) } else { reply.to_string() };
    JudgeError::BadReply { reason: reason.into(), reply }
}

/// pydantic's lax `bool`: booleans, 0/1, and its accepted strings.
fn lax_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Some(false),
            Some(1.0) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
            "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
            _ => None,
        },
        _ => None,
    }
}

/// Reads the judge's reply like the reference: a JSON object whose `results` (absent = none)
/// lists `{expectedOutcome, metExpectation, reasoning}`.
pub fn parse_judge_reply(reply: &str) -> Result<Vec<NlAssertionCheck>, JudgeError> {
    let v: Value = serde_json::from_str(reply).map_err(|e| bad(format!("not JSON ({e})"), reply))?;
    let Value::Object(top) = v else { return Err(bad("not a JSON object", reply)) };
    let results = match top.get("results") {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad("`results` is not a list", reply)),
    };
    results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let field = |name: &str| r.get(name).ok_or_else(|| bad(format!("results[{i}] has no `{name}`"), reply));
            let text = |name: &str| -> Result<String, JudgeError> {
                field(name)?.as_str().map(str::to_string).ok_or_else(|| bad(format!("results[{i}].{name} is not a string"), reply))
            };
            let met = lax_bool(field("metExpectation")?).ok_or_else(|| bad(format!("results[{i}].metExpectation is not a boolean"), reply))?;
            Ok(NlAssertionCheck { nl_assertion: text("expectedOutcome")?, met, justification: text("reasoning")? })
        })
        .collect()
}

/// A [`Judge`] from a function that sends the reference prompt to a model and returns its
/// reply text (e.g. a chat-completions call with [`REFERENCE_JUDGE_MODEL`] at temperature 0).
pub struct PromptJudge<F>(pub F);

impl<F> Judge for PromptJudge<F>
where
    F: FnMut(&JudgePrompt) -> Result<String, String>,
{
    fn judge(&mut self, trajectory: &[Message], nl_assertions: &[String]) -> Result<Vec<NlAssertionCheck>, JudgeError> {
        let prompt = reference_judge_prompt(trajectory, nl_assertions);
        let reply = (self.0)(&prompt).map_err(JudgeError::Call)?;
        parse_judge_reply(&reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eigenbox_tau2::{ParticipantMessage, ToolMessage};

    #[test]
    fn the_prompt_is_the_references() {
        let traj = vec![
            Message::Assistant(ParticipantMessage { content: Some("Hi!".to_string()).into(), ..Default::default() }),
            Message::User(ParticipantMessage::default()),
            Message::Tool(ToolMessage { id: "c".into(), content: Some("ok".to_string()).into(), requestor: None, error: None, extra: Default::default() }),
        ];
        let p = reference_judge_prompt(&traj, &["It's done".to_string(), "says \"hi\"".to_string()]);
        assert_eq!(
            p.user,
            "\n        conversation:\n        assistant: Hi!\nuser: None\ntool: ok\n        \n        expectedOutcomes:\n        [\"It's done\", 'says \"hi\"']\n        "
        );
        assert!(p.system.starts_with("\n        TASK\n") && p.system.ends_with("}\n        "));
    }

    #[test]
    fn replies_are_read_like_the_reference() {
        let r = parse_judge_reply(r#"{"results": [{"expectedOutcome": "A", "reasoning": "why", "metExpectation": true}, {"expectedOutcome": "B", "reasoning": "", "metExpectation": "false"}]}"#).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].nl_assertion.as_str(), r[0].met, r[0].justification.as_str()), ("A", true, "why"));
        assert!(!r[1].met);
        assert_eq!(parse_judge_reply("{}").unwrap(), vec![]);
        for bad in ["not json", "[]", r#"{"results": {}}"#, r#"{"results": [{"expectedOutcome": "A", "reasoning": "r"}]}"#, r#"{"results": [{"expectedOutcome": "A", "reasoning": "r", "metExpectation": "maybe"}]}"#] {
            let e = parse_judge_reply(bad).unwrap_err();
            assert!(matches!(e, JudgeError::BadReply { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn a_prompt_judge_sends_the_prompt_and_parses_the_reply() {
        let mut seen = Vec::new();
        let mut j = PromptJudge(|p: &JudgePrompt| {
            seen.push(p.user.clone());
            Ok(r#"{"results": [{"expectedOutcome": "A", "reasoning": "r", "metExpectation": false}]}"#.to_string())
        });
        let checks = j.judge(&[], &["A".to_string()]).unwrap();
        assert!(!checks[0].met);
        let mut failing = PromptJudge(|_: &JudgePrompt| Err("HTTP 500".to_string()));
        assert_eq!(failing.judge(&[], &["A".to_string()]).unwrap_err(), JudgeError::Call("HTTP 500".into()));
        let _ = j;
        assert_eq!(seen.len(), 1);
    }
}
