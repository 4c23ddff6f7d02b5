//! Native libtorch learner for eigenbox: SFT of the agent and the user-simulator model, then
//! GRPO with group-relative advantages and dynamic filtering, after EigenData
//! (arXiv 2601.22607). No WASM: rollouts come in as token ids, per-token behaviour log
//! probabilities and a trained-token mask through [`grpo::RolloutSource`].
//!
//! * [`optim`]: AdamW over flat per-dtype buffers (the variables are re-pointed at views of
//!   one buffer; checkpointable moments, fp32 masters for bf16 weights; a step is a fused
//!   gradient-norm reduction, one host sync and ~10 elementwise kernels), warmup + cosine
//!   schedule, global gradient-norm clipping.
//! * [`loss`]: shifted masked cross-entropy, per-token log probabilities, entropy, the clipped
//!   GRPO surrogate (`clip_low` / `clip_high`, optional k3 KL), token/sequence averaging.
//! * [`data`]: `{ids, loss_mask}` examples, JSONL dialogue loading, right-padded batches.
//! * [`sft`], [`grpo`]: the trainers; [`checkpoint`]: safetensors save/resume;
//!   [`metrics`]: JSONL metrics and an SVG plot.
//! * [`head`]: the LM head and loss in row chunks ([`TrainableLm`]), so the `[tokens, vocab]`
//!   logits of a batch never exist in full.
//! * [`presets`]: named model shapes (Qwen2.5-0.5B/1.5B, Qwen3-0.6B, Llama-3.2-1B, tiny) as
//!   [`eigenbox_model::ModelConfig`]s, for the `learner-bench` binary ([`bench`]).
//!
//! The trainers are generic over [`TrainableLm`] (an [`eigenbox_model::CausalLm`] that can
//! also give its final hidden states and head weight; implemented for
//! [`eigenbox_model::Transformer`]) and take the `nn::VarStore` holding its weights.
//!
//! ```no_run
//! use eigenbox_learner::checkpoint::model_config_json;
//! use eigenbox_learner::grpo::{GrpoConfig, GrpoTrainer, LocalRollouts, ModelGenerator};
//! use eigenbox_learner::metrics::MetricsLog;
//! use eigenbox_learner::optim::LrSchedule;
//! use eigenbox_learner::Rng;
//! use eigenbox_model::{Arch, ModelConfig, SamplingParams, Transformer};
//! use tch::{nn::VarStore, Device};
//!
//! # fn main() -> Result<(), eigenbox_learner::LearnerError> {
//! let vs = VarStore::new(Device::cuda_if_available());
//! let cfg = ModelConfig::tiny(Arch::Qwen2, 16);
//! let model = Transformer::new(&vs.root(), &cfg).expect("model");
//! // Task: prompt [10, d]; reward 1 when the first generated token is (d + 1) mod 10.
//! let mut source = LocalRollouts {
//!     prompts: |rng: &mut Rng| {
//!         let d = rng.below(10) as i64;
//!         (format!("d{d}"), vec![10, d])
//!     },
//!     generator: ModelGenerator {
//!         params: SamplingParams { max_new_tokens: 1, ..SamplingParams::default() },
//!     },
//!     reward: |p: &[i64], c: &[i64]| f64::from(c.first() == Some(&((p[1] + 1) % 10))),
//! };
//! let gcfg = GrpoConfig { schedule: LrSchedule::constant(1e-2), ..GrpoConfig::default() };
//! let mut trainer = GrpoTrainer::new(&vs, gcfg)?;
//! let mut log = MetricsLog::open(std::path::Path::new("grpo.jsonl"))?;
//! let stats = trainer.train(&model, None, &mut source, 30, Some(&mut log))?;
//! println!("reward {:.3}", stats.last().map_or(0.0, |s| s.reward_mean));
//! log.write_svg(std::path::Path::new("grpo.svg"), &["reward_mean", "filtered_frac", "clip_frac"])?;
//! trainer.save(std::path::Path::new("ckpt"), &vs, &model_config_json(&cfg))?;
//! # Ok(()) }
//! ```
//!
//! Precision: on CUDA, convert the VarStore to bf16 (`vs.bfloat16()`); [`optim::AdamW`] then
//! keeps fp32 master weights and moments. `tch::autocast` (config flag `autocast`) uses
//! libtorch's default CUDA autocast dtype, fp16, which tch 0.24 cannot change, and there is no
//! loss scaling, so bf16 weights are the recommended mixed-precision mode.

// Range checks are written `!(x > 0.0)` on purpose so NaN is rejected too; tensor updates are
// written `x = x + y` on purpose, since an in-place `+=` would overwrite autograd inputs.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::assign_op_pattern)]

pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod grpo;
pub mod head;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod presets;
pub mod rng;
pub mod sft;

pub use error::{LearnerError, Result};
pub use head::TrainableLm;

/// Runs `f` under `tch::autocast` only when asked (calling `tch::autocast(false, ..)` still
/// toggles libtorch's deprecated global switch and floods stderr with warnings).
pub(crate) fn maybe_autocast<T>(on: bool, f: impl FnOnce() -> T) -> T {
    if on {
        tch::autocast(true, f)
    } else {
        f()
    }
}
pub use rng::Rng;
