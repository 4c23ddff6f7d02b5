//! τ²-bench's evaluator for eigenbox: turns a finished dialogue into the reward the reference
//! would give it, with the same `reward_info`, byte for byte once serialised.
//!
//! * **Termination gating**: only `user_stop` and `agent_stop` are scored; every other
//!   [`TerminationReason`] gets reward 0 with the reference's note.
//! * **DB check**: a predicted environment (the task's initial state, then the trajectory's
//!   tool calls replayed: unknown tools and read-only tools skipped, writes re-executed and
//!   checked against the recorded output) and a gold environment (the initial state, then the
//!   task's reference actions) must hash alike on both sides.
//! * **Env assertions** on the predicted environment, **ACTION** checks (name and compared
//!   arguments, [`action_matches`]), **COMMUNICATE** checks ([`communicate_check`]), the
//!   **reward-basis** product and breakdown.
//! * **NL assertions** through a [`Judge`] (e.g. [`PromptJudge`] over an LLM, with the
//!   reference's prompt); without one they are reported as not evaluated
//!   ([`NlStatus::NotEvaluated`], [`Evaluation::reward`] = `None`), never as 1 or 0.
//! * **pass^k** over trials ([`Metrics::compute`], [`pass_hat_k`]).
//! * **Conformance**: [`check_evals`] adds the `evals` category to a conformance report.
//!
//! Domains are driven through [`eigenbox_tau2::DomainEnv`], so the same code scores WASM
//! plugins (`eigenbox_episode::WasmDomainEnv`) and native implementations.
//!
//! # Example
//!
//! ```
//! use eigenbox_eval::{Evaluator, NlStatus};
//! use eigenbox_tau2::{DomainEnv, EpisodeInit, Message, Requestor, Task, TerminationReason, ToolKind, ToolSpec};
//! use serde_json::{json, Value};
//!
//! /// A one-counter domain: `add(n)` adds to it.
//! struct Counter(i64);
//! impl DomainEnv for Counter {
//!     type Error = String;
//!     fn reset(&mut self, _: &EpisodeInit) -> Result<(), String> { self.0 = 0; Ok(()) }
//!     fn tools(&mut self) -> Result<Vec<ToolSpec>, String> {
//!         Ok(vec![ToolSpec { name: "add".into(), description: String::new(), parameters: json!({}),
//!             requestor: Requestor::Assistant, kind: Some(ToolKind::Write), mutates_state: Some(true) }])
//!     }
//!     fn call_tool(&mut self, _: Requestor, name: &str, args: &Value) -> Result<(String, bool), String> {
//!         match (name, args["n"].as_i64()) {
//!             ("add", Some(n)) => { self.0 += n; Ok((self.0.to_string(), false)) }
//!             _ => Ok((format!("Error: Tool '{name}' not found."), true)),
//!         }
//!     }
//!     fn env_function(&mut self, _: Requestor, _: &str, _: &Value) -> Result<Value, String> { Err("none".into()) }
//!     fn state_hash(&mut self, side: Requestor) -> Result<Option<String>, String> {
//!         Ok((side == Requestor::Assistant).then(|| self.0.to_string()))
//!     }
//!     fn is_mutating(&mut self, name: &str) -> Result<Option<bool>, String> { Ok((name == "add").then_some(true)) }
//! }
//!
//! let task: Task = serde_json::from_value(json!({
//!     "id": "add_two", "user_scenario": {"instructions": "Ask to add 2."},
//!     "evaluation_criteria": {"actions": [{"action_id": "a", "name": "add", "arguments": {"n": 2}}],
//!                             "communicate_info": ["done"], "reward_basis": ["DB", "ACTION", "COMMUNICATE"]}
//! }))?;
//! let trajectory: Vec<Message> = serde_json::from_value(json!([
//!     {"role": "assistant", "content": "Hi! How can I help you today?"},
//!     {"role": "user", "content": "Add 2 please."},
//!     {"role": "assistant", "tool_calls": [{"id": "c0", "name": "add", "arguments": {"n": 2}}]},
//!     {"role": "tool", "id": "c0", "content": "2"},
//!     {"role": "assistant", "content": "Done, it is 2."},
//!     {"role": "user", "content": "###STOP###"}
//! ]))?;
//!
//! let mut evaluator = Evaluator::new(|| Ok::<_, String>(Counter(0)));
//! let e = evaluator.evaluate(&task, &trajectory, TerminationReason::UserStop)?;
//! assert_eq!(e.reward(), Some(1.0));
//! assert_eq!(e.nl, NlStatus::NotRequested);
//! assert_eq!(e.reward_info.to_json()["reward_breakdown"], json!({"DB": 1.0, "ACTION": 1.0, "COMMUNICATE": 1.0}));
//!
//! // Out of steps: reward 0, whatever happened.
//! let e = evaluator.evaluate(&task, &trajectory, TerminationReason::MaxSteps)?;
//! assert_eq!(e.reward_info.to_json()["info"]["note"], "Simulation terminated prematurely. Termination reason: max_steps");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod conformance;
pub mod evaluator;
pub mod judge;
pub mod metrics;
pub mod reward;

pub use conformance::{check_eval, check_evals, read_golden_evals, record_id, GoldenEval};
pub use eigenbox_tau2::TerminationReason;
pub use evaluator::{
    action_matches, communicate_check, EvalConfig, EvalError, Evaluation, EvaluationType, Evaluator, NlStatus, Which,
    UNSYNCED_FALLBACK_NOTE,
};
pub use judge::{
    parse_judge_reply, reference_judge_prompt, Judge, JudgeError, JudgePrompt, PromptJudge, REFERENCE_JUDGE_MODEL,
    REFERENCE_JUDGE_TEMPERATURE,
};
pub use metrics::{is_successful, pass_hat_k, Metrics, MetricsError, Trial};
pub use reward::{
    action_dump, env_assertion_dump, json_differences, ActionCheck, CommunicateCheck, DbCheck, EnvAssertionCheck,
    NlAssertionCheck, RewardBreakdown, RewardInfo,
};
