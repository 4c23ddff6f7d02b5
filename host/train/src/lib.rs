//! End-to-end training for eigenbox (`eigenbox train sft|grpo`): the embedded model being
//! trained plays τ²'s agent in episodes over WASM domains, the evaluator scores them, and the
//! learner updates the same weights.
//!
//! * [`EmbeddedModel`] ([`load_model`]: GGUF or HF directory): weights, tokenizer, chat
//!   template; the learner's `CausalLm` and the sampler at once.
//! * [`EmbeddedAgent`]: an orchestrator `Agent` on the embedded model that keeps the dialogue as
//!   one token sequence (template-encoded turns, generated ids verbatim with their sampling log
//!   probabilities and a trained mask), so the learner never re-tokenises.
//! * [`EmbeddedBackend`]: the embedded model as the runtime's `LlmBackend`, for the
//!   user-simulator role.
//! * [`EpisodeRollouts`]: the learner's `RolloutSource` over τ² episodes scored by
//!   [`eigenbox_orchestrator::WasmScorer`].
//! * [`session`]: the `sft` / `grpo` training loops with checkpoints, metrics and a sled store
//!   under the output directory ([`train_sft`], [`train_grpo`], [`TrainOutput`]).
//! * [`write_model_files`]: makes a learner checkpoint directory a loadable model directory.

pub mod agent;
pub mod backend;
pub mod model;
pub mod rollout;
pub mod session;
pub mod testing;

pub use agent::{agent_tools_json, chat_messages, AgentConfig, EmbeddedAgent, ModelSampler, Sampler};
pub use backend::{BackendDefaults, EmbeddedBackend};
pub use model::{default_model_path, hf_config_json, load_model, write_model_files, EmbeddedModel, LoadedModel, TEMPLATE_FILE};
pub use rollout::{EpisodeRollouts, FnUsers, RoleUsers, RolloutRecord, UserFactory};
pub use session::{train_grpo, train_sft, CheckpointRecord, GrpoSummary, RunOptions, SftSummary, TrainOutput};
