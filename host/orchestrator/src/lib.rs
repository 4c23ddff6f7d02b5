//! τ²-bench episodes for eigenbox: the half-duplex agent ↔ user ↔ domain loop of τ²'s
//! `Orchestrator`, over tokio.
//!
//! * [`run_episode`]: greeting (`"Hi! How can I help you today?"`), agent turns whose tool calls
//!   run in the episode's domain ([`Environment`], [`WasmEnv`]), user turns (telecom users call
//!   their own tools), the stop tokens `###STOP###`, `###TRANSFER###`, `###OUT-OF-SCOPE###`,
//!   `max_steps` (200) and `max_errors` (10) checked as the reference does, its termination
//!   reasons, and a trajectory in τ²'s message format.
//! * Participants are traits: [`Agent`] ([`LlmAgent`] over any `LlmBackend`, [`ReplayAgent`]) and
//!   [`UserSim`] ([`ReplayUser`], or [`RoleUser`]: a role component such as `plugins/user-sim`,
//!   τ²'s user simulator, which reaches its model only through the host's `llm` import).
//! * [`WasmScorer`] scores an episode with `eigenbox-eval` (τ²'s rewards); [`run_concurrently`]
//!   runs many episodes with a limit, each with its own domain instance.
//! * [`ToolGate`] is the hook around every tool call where a policy / audit gate plugs in.
//! * With [`SamplingConfig::logprobs`], generated agent and user messages keep their tokens (ids
//!   and log-probabilities, where the backend returns them) under `logprobs` ([`message_logprobs`]).
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use eigenbox_orchestrator::{run_episode, EpisodeConfig, ReplayAgent, ReplayUser, WasmEnv, WasmScorer};
//! use eigenbox_runtime::{Runtime, RuntimeConfig};
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let mock = runtime.load_manifest_file("dist/plugins/mock/eigenbox.toml".as_ref())?;
//! let tasks = eigenbox_tau2::TaskSet::load("dist/plugins/mock/data".as_ref(), eigenbox_tau2::TaskVersion::V1_0, None)?;
//! let task = tasks.get("create_task_1").ok_or("no such task")?;
//! let recorded: Vec<eigenbox_tau2::Message> = serde_json::from_str(r#"[
//!   {"role": "assistant", "content": "Hi! How can I help you today?"},
//!   {"role": "user", "content": "Create a task 'Important Meeting' for user_1."},
//!   {"role": "assistant", "tool_calls": [{"id": "c0", "name": "create_task",
//!       "arguments": {"user_id": "user_1", "title": "Important Meeting"}}]},
//!   {"role": "assistant", "content": "Done."},
//!   {"role": "user", "content": "Thanks! ###STOP###"}]"#)?;
//! let mut env = WasmEnv::new(mock.clone()).await?;
//! let episode = run_episode(task, &mut ReplayAgent::new(&recorded), &mut ReplayUser::new(&recorded), &mut env,
//!     &EpisodeConfig::default()).await;
//! let evaluation = WasmScorer::new(mock).score(task, &episode).await?;
//! println!("{} after {} steps: reward {:?}", episode.termination_reason, episode.steps, evaluation.reward());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

use std::future::Future;
use std::pin::Pin;

pub mod env;
pub mod episode;
pub mod llm_agent;
pub mod participant;
pub mod policy_gate;
pub mod replay;
pub mod role_user;
pub mod score;

/// A boxed, sendable future (what the participant and environment traits return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub use env::{EnvFailure, Environment, GateDecision, ToolGate, ToolResult, WasmEnv};
pub use episode::{run_episode, Episode, EpisodeConfig, GREETING};
pub use llm_agent::{agent_system_prompt, message_logprobs, LlmAgent, SamplingConfig, TokenLogprob, TopLogprob, AGENT_INSTRUCTION, LOGPROBS_KEY};
pub use policy_gate::PolicyGate;
pub use participant::{user_says_stop, Agent, ParticipantError, UserSim, OUT_OF_SCOPE, STOP, TRANSFER};
pub use replay::{ReplayAgent, ReplayUser};
pub use role_user::{RoleUser, UserSimConfig};
pub use score::{run_concurrently, ScoredEpisode, WasmScorer};
