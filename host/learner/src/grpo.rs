//! GRPO as in EigenData (arXiv 2601.22607): groups of G rollouts per task, group-relative
//! advantages applied to every trained token, a PPO-style clipped ratio against the rollout's
//! own log probabilities, token- or sequence-level averaging, no KL by default (optional k3 KL
//! to a frozen reference), and dynamic filtering of groups whose rewards are all equal.
//!
//! Rollouts enter as token ids, per-token old log probabilities and a trained-token mask, so
//! the learner never re-tokenizes. A host plugs in its own episodes through [`RolloutSource`];
//! [`LocalRollouts`] samples from the policy itself and scores with a [`Reward`].

use std::path::Path;
use std::time::Instant;

use eigenbox_model::CausalLm;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tch::{nn::VarStore, Device, Kind, Tensor};

use crate::checkpoint::{self, TrainerState, FORMAT_VERSION};
use crate::data::collate_rows;
use crate::error::{LearnerError, Result};
use crate::head::{head_pass, Rows, TrainableLm};
use crate::loss::{
    aggregate, group_advantages, grpo_terms, masked_entropy, shifted_mask, token_logprobs,
    ClipConfig, LossAgg,
};
use crate::metrics::{run_steps, MetricsLog};
use crate::optim::{AdamW, AdamWConfig, LrSchedule};
use crate::rng::Rng;

/// One sampled continuation.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampled {
    /// Generated tokens (up to and including a stop token).
    pub tokens: Vec<i64>,
    /// Log probability of each generated token under the sampling distribution.
    pub logprobs: Vec<f32>,
}

/// One trajectory: the whole token sequence (prompt, turns, tool results, completions) with,
/// per token, the log probability the behaviour policy gave it and whether it is trained.
/// `old_logprobs[t]` is `log π_old(ids[t] | ids[..t])`; entries of untrained tokens are ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// Token ids.
    pub ids: Vec<i64>,
    /// Behaviour-policy log probabilities, aligned with `ids`.
    pub old_logprobs: Vec<f32>,
    /// Trained tokens (the policy's own tokens), aligned with `ids`; `trained[0]` must be false.
    pub trained: Vec<bool>,
    /// Scalar reward of the trajectory.
    pub reward: f64,
}

/// The G trajectories of one task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutGroup {
    /// Task identifier (for logs).
    pub task_id: String,
    /// The rollouts.
    pub trajectories: Vec<Trajectory>,
}

impl RolloutGroup {
    /// Rewards in order.
    pub fn rewards(&self) -> Vec<f64> {
        self.trajectories.iter().map(|t| t.reward).collect()
    }

    /// True when all rewards are equal (within `1e-9`): zero advantage everywhere.
    pub fn is_degenerate(&self) -> bool {
        let r = self.rewards();
        let (lo, hi) = r
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        r.is_empty() || hi - lo <= 1e-9
    }

    /// Checks lengths, masks, token range and finiteness.
    pub fn validate(&self, group_size: usize, vocab_size: i64) -> Result<()> {
        let err = |msg: String| {
            Err(LearnerError::Rollout(format!(
                "group {:?}: {msg}",
                self.task_id
            )))
        };
        if self.trajectories.len() != group_size {
            return err(format!(
                "{} trajectories, expected group size {group_size}",
                self.trajectories.len()
            ));
        }
        for (i, t) in self.trajectories.iter().enumerate() {
            if t.ids.len() != t.old_logprobs.len() || t.ids.len() != t.trained.len() {
                return err(format!(
                    "trajectory {i}: {} ids, {} logprobs, {} mask entries",
                    t.ids.len(),
                    t.old_logprobs.len(),
                    t.trained.len()
                ));
            }
            if t.trained.first() == Some(&true) {
                return err(format!("trajectory {i}: the first token cannot be trained"));
            }
            if let Some(bad) = t.ids.iter().find(|&&x| x < 0 || x >= vocab_size) {
                return err(format!(
                    "trajectory {i}: token {bad} outside 0..{vocab_size}"
                ));
            }
            if !t.reward.is_finite() {
                return err(format!("trajectory {i}: reward {}", t.reward));
            }
            if t.old_logprobs
                .iter()
                .zip(&t.trained)
                .any(|(l, m)| *m && !(l.is_finite() && *l <= 1e-4))
            {
                return err(format!("trajectory {i}: a trained token's old log probability is not a finite value <= 0"));
            }
        }
        Ok(())
    }
}

/// What the trainer asks a rollout source for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutRequest {
    /// Trainer step the group is for.
    pub step: u64,
    /// Trajectories wanted (G).
    pub group_size: usize,
    /// Seed for this group (drawn from the trainer's checkpointed RNG).
    pub seed: u64,
}

/// Produces groups of rollouts of one task each, scored. The orchestrator's episodes plug in
/// here; `policy` is the model being trained (sources with their own inference server can
/// ignore it, but must then serve the current weights).
pub trait RolloutSource<M: ?Sized> {
    /// One group of `req.group_size` trajectories of one task.
    fn next_group(&mut self, policy: &M, req: &RolloutRequest) -> Result<RolloutGroup>;
}

/// A verifiable reward on a completion.
pub trait Reward {
    /// Reward of `completion` (generated tokens) for `prompt`.
    fn score(&self, prompt: &[i64], completion: &[i64]) -> f64;
}

impl<F: Fn(&[i64], &[i64]) -> f64> Reward for F {
    fn score(&self, prompt: &[i64], completion: &[i64]) -> f64 {
        self(prompt, completion)
    }
}

/// Samples continuations from a policy (temperature 1 for on-policy log probabilities).
pub trait Generator<M: ?Sized> {
    /// One continuation per prompt.
    fn generate(&self, policy: &M, prompts: &[Vec<i64>], seed: u64) -> Result<Vec<Sampled>>;
}

impl<M: ?Sized, F: Fn(&M, &[Vec<i64>], u64) -> Result<Vec<Sampled>>> Generator<M> for F {
    fn generate(&self, policy: &M, prompts: &[Vec<i64>], seed: u64) -> Result<Vec<Sampled>> {
        self(policy, prompts, seed)
    }
}

/// [`Generator`] over `eigenbox_model::generate` (batched KV-cache sampling); the request's
/// seed replaces `params.seed`. Keep `temperature` 1 and `top_p` 1 for on-policy log
/// probabilities (the model crate reports them before top-p truncation).
#[derive(Clone, Debug)]
pub struct ModelGenerator {
    /// Sampling settings (stop tokens, maximum length, ...).
    pub params: eigenbox_model::SamplingParams,
}

impl Generator<eigenbox_model::Transformer> for ModelGenerator {
    fn generate(
        &self,
        policy: &eigenbox_model::Transformer,
        prompts: &[Vec<i64>],
        seed: u64,
    ) -> Result<Vec<Sampled>> {
        let params = eigenbox_model::SamplingParams {
            seed,
            ..self.params.clone()
        };
        let out = eigenbox_model::generate(policy, prompts, &params)
            .map_err(|e| LearnerError::Rollout(format!("generate: {e}")))?;
        Ok(out
            .into_iter()
            .map(|g| Sampled {
                tokens: g.tokens,
                logprobs: g.logprobs,
            })
            .collect())
    }
}

/// Single-turn rollouts sampled from the policy: `prompts` draws a task (id, prompt tokens)
/// from an RNG, `generator` samples G completions, `reward` scores each.
pub struct LocalRollouts<P, G, R> {
    /// Task sampler.
    pub prompts: P,
    /// Sampler.
    pub generator: G,
    /// Scorer.
    pub reward: R,
}

impl<M: ?Sized, P, G, R> RolloutSource<M> for LocalRollouts<P, G, R>
where
    P: FnMut(&mut Rng) -> (String, Vec<i64>),
    G: Generator<M>,
    R: Reward,
{
    fn next_group(&mut self, policy: &M, req: &RolloutRequest) -> Result<RolloutGroup> {
        let mut rng = Rng::new(req.seed);
        let (task_id, prompt) = (self.prompts)(&mut rng);
        let prompts = vec![prompt.clone(); req.group_size];
        let gens = self.generator.generate(policy, &prompts, rng.next_u64())?;
        if gens.len() != req.group_size {
            return Err(LearnerError::Rollout(format!(
                "generator returned {} of {} samples",
                gens.len(),
                req.group_size
            )));
        }
        let trajectories = gens
            .into_iter()
            .map(|g| {
                let reward = self.reward.score(&prompt, &g.tokens);
                let n = prompt.len();
                let mut ids = prompt.clone();
                ids.extend_from_slice(&g.tokens);
                let mut old_logprobs = vec![0.0; n];
                old_logprobs.extend_from_slice(&g.logprobs);
                let mut trained = vec![false; n];
                trained.extend(std::iter::repeat_n(true, g.tokens.len()));
                Trajectory {
                    ids,
                    old_logprobs,
                    trained,
                    reward,
                }
            })
            .collect();
        Ok(RolloutGroup {
            task_id,
            trajectories,
        })
    }
}

/// GRPO hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrpoConfig {
    /// Rollouts per task (G).
    pub group_size: usize,
    /// Groups kept per optimizer step.
    pub groups_per_step: usize,
    /// Upper bound on groups sampled per step (dynamic-filtering refills stop here).
    pub max_groups_sampled: usize,
    /// Drop groups whose rewards are all equal and sample replacements.
    pub dynamic_filtering: bool,
    /// Trajectories per forward/backward (gradient accumulation over the step's groups).
    pub micro_batch_size: usize,
    /// Clip range and KL coefficient (paper: ε = 0.4 both sides, no KL).
    pub clip: ClipConfig,
    /// Token- or sequence-level loss averaging.
    pub loss_agg: LossAgg,
    /// ε in `(R - mean) / (std + ε)`.
    pub adv_eps: f64,
    /// Multiplies every advantage (1; 0 is the no-signal ablation).
    pub advantage_scale: f64,
    /// Global gradient-norm clip.
    pub max_grad_norm: Option<f64>,
    /// AdamW hyperparameters.
    pub optimizer: AdamWConfig,
    /// Learning-rate schedule.
    pub schedule: LrSchedule,
    /// Padding token id.
    pub pad_id: i64,
    /// Seed of the trainer's RNG (rollout seeds).
    pub seed: u64,
    /// Forward under `tch::autocast` on CUDA (see [`crate::sft::SftConfig::autocast`]).
    pub autocast: bool,
    /// Compute the policy entropy metric (an extra pass over the logits, no gradient).
    pub compute_entropy: bool,
    /// Progress bar in [`GrpoTrainer::train`].
    pub progress: bool,
}

impl Default for GrpoConfig {
    fn default() -> Self {
        GrpoConfig {
            group_size: 8,
            groups_per_step: 8,
            max_groups_sampled: 32,
            dynamic_filtering: true,
            micro_batch_size: 8,
            clip: ClipConfig {
                clip_low: 0.4,
                clip_high: 0.4,
                kl_coef: 0.0,
            },
            loss_agg: LossAgg::Token,
            adv_eps: 1e-6,
            advantage_scale: 1.0,
            max_grad_norm: Some(1.0),
            optimizer: AdamWConfig::default(),
            schedule: LrSchedule {
                peak_lr: 1e-6,
                min_lr: 1e-6,
                warmup_steps: 0,
                total_steps: 1000,
            },
            pad_id: 0,
            seed: 0,
            autocast: false,
            compute_entropy: true,
            progress: true,
        }
    }
}

impl GrpoConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(LearnerError::Config(m));
        if self.group_size < 2 {
            return bad(format!(
                "group_size must be >= 2 for group-relative advantages, got {}",
                self.group_size
            ));
        }
        if self.groups_per_step == 0 || self.micro_batch_size == 0 {
            return bad("groups_per_step and micro_batch_size must be > 0".into());
        }
        if self.max_groups_sampled < self.groups_per_step {
            return bad(format!(
                "max_groups_sampled ({}) must be >= groups_per_step ({})",
                self.max_groups_sampled, self.groups_per_step
            ));
        }
        let c = &self.clip;
        let clip_ok = c.clip_low > 0.0 && c.clip_low < 1.0 && c.clip_high > 0.0;
        if !clip_ok {
            return bad(format!(
                "clip_low must lie in (0, 1) and clip_high be > 0, got {} / {}",
                c.clip_low, c.clip_high
            ));
        }
        if !(c.kl_coef >= 0.0) || !(self.adv_eps >= 0.0) || !self.advantage_scale.is_finite() {
            return bad("kl_coef and adv_eps must be >= 0, advantage_scale finite".into());
        }
        if let Some(g) = self.max_grad_norm {
            if !(g > 0.0) {
                return bad(format!("max_grad_norm must be > 0, got {g}"));
            }
        }
        self.optimizer.validate()?;
        self.schedule.validate()
    }
}

/// Metrics of one GRPO step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrpoStepStats {
    /// Step number (1-based, after the step).
    pub step: u64,
    /// Learning rate.
    pub lr: f64,
    /// Mean reward over every sampled trajectory (kept and filtered).
    pub reward_mean: f64,
    /// Mean reward over the kept groups.
    pub reward_mean_kept: f64,
    /// Groups sampled this step.
    pub groups_sampled: usize,
    /// Groups dropped by dynamic filtering.
    pub groups_filtered: usize,
    /// `groups_filtered / groups_sampled`.
    pub filtered_frac: f64,
    /// Groups kept and trained on.
    pub groups_kept: usize,
    /// True when `max_groups_sampled` ran out before `groups_per_step` were kept.
    pub refill_exhausted: bool,
    /// True when no group survived filtering (no optimizer step).
    pub skipped: bool,
    /// Loss value.
    pub loss: f64,
    /// Fraction of trained tokens whose clipped branch was active.
    pub clip_frac: f64,
    /// Mean policy entropy at trained tokens (nats; NaN when not computed).
    pub entropy: f64,
    /// Mean k3 KL to the reference (0 without one).
    pub kl: f64,
    /// Mean probability ratio at trained tokens.
    pub ratio_mean: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Trained tokens.
    pub trained_tokens: usize,
    /// All non-padding tokens.
    pub tokens: usize,
    /// Seconds spent collecting rollouts.
    pub rollout_s: f64,
    /// Seconds spent in the update.
    pub update_s: f64,
}

/// Metrics of [`GrpoTrainer::update`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateStats {
    /// Loss value.
    pub loss: f64,
    /// Clipped-token fraction.
    pub clip_frac: f64,
    /// Mean entropy (NaN when not computed).
    pub entropy: f64,
    /// Mean k3 KL.
    pub kl: f64,
    /// Mean ratio.
    pub ratio_mean: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Learning rate.
    pub lr: f64,
    /// Trained tokens.
    pub trained_tokens: usize,
    /// Non-padding tokens.
    pub tokens: usize,
}

/// The GRPO trainer.
pub struct GrpoTrainer {
    cfg: GrpoConfig,
    opt: AdamW,
    rng: Rng,
    step: u64,
    device: Device,
}

impl GrpoTrainer {
    /// A trainer over the trainable variables of `vs`.
    pub fn new(vs: &VarStore, cfg: GrpoConfig) -> Result<Self> {
        cfg.validate()?;
        let opt = AdamW::new(vs, cfg.optimizer.clone())?;
        Ok(GrpoTrainer {
            rng: Rng::new(cfg.seed),
            cfg,
            opt,
            step: 0,
            device: vs.device(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GrpoConfig {
        &self.cfg
    }

    /// Steps taken.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &AdamW {
        &self.opt
    }

    /// Samples groups until `groups_per_step` survive filtering or `max_groups_sampled` are
    /// spent. Returns (kept groups, sampled count, filtered count, mean reward of all samples).
    pub fn collect<M: CausalLm + ?Sized, S: RolloutSource<M> + ?Sized>(
        &mut self,
        policy: &M,
        source: &mut S,
    ) -> Result<(Vec<RolloutGroup>, usize, usize, f64)> {
        let (mut kept, mut sampled, mut filtered) = (Vec::new(), 0, 0);
        let (mut rsum, mut rn) = (0.0, 0usize);
        while kept.len() < self.cfg.groups_per_step && sampled < self.cfg.max_groups_sampled {
            let req = RolloutRequest {
                step: self.step,
                group_size: self.cfg.group_size,
                seed: self.rng.next_u64(),
            };
            let g = source.next_group(policy, &req)?;
            g.validate(self.cfg.group_size, policy.vocab_size())?;
            sampled += 1;
            rsum += g.rewards().iter().sum::<f64>();
            rn += g.trajectories.len();
            if self.cfg.dynamic_filtering && g.is_degenerate() {
                filtered += 1;
                tracing::trace!(task = %g.task_id, "group filtered: all rewards equal");
                continue;
            }
            kept.push(g);
        }
        Ok((kept, sampled, filtered, rsum / rn.max(1) as f64))
    }

    /// One policy update on `groups` (advantages computed per group). `reference`, when given,
    /// is the frozen model for the KL term/metric.
    pub fn update<M: TrainableLm + ?Sized>(
        &mut self,
        policy: &M,
        reference: Option<&dyn CausalLm>,
        groups: &[RolloutGroup],
    ) -> Result<UpdateStats> {
        let mut rows: Vec<(&Trajectory, f64)> = Vec::new();
        for g in groups {
            let adv = group_advantages(&g.rewards(), self.cfg.adv_eps);
            for (t, a) in g.trajectories.iter().zip(adv) {
                rows.push((t, a * self.cfg.advantage_scale));
            }
        }
        let trained: usize = rows
            .iter()
            .map(|(t, _)| t.trained.iter().skip(1).filter(|m| **m).count())
            .sum();
        let tokens: usize = rows.iter().map(|(t, _)| t.ids.len()).sum();
        if trained == 0 {
            return Err(LearnerError::Rollout(
                "no trained tokens in the step's groups".into(),
            ));
        }
        let norm = match self.cfg.loss_agg {
            LossAgg::Token => trained as f64,
            LossAgg::Sequence => rows
                .iter()
                .filter(|(t, _)| t.trained.iter().skip(1).any(|m| *m))
                .count() as f64,
        };
        self.opt.zero_grad();
        // Loss, clipped, kl, ratio and entropy sums stay on the device until the end of the
        // step (one host sync for all of them).
        let mut acc = Tensor::zeros([5], (Kind::Double, self.device));
        let vocab = policy.vocab_size();
        for chunk in rows.chunks(self.cfg.micro_batch_size) {
            let mrows: Vec<(&[i64], Vec<f32>)> = chunk
                .iter()
                .map(|(t, _)| {
                    (
                        t.ids.as_slice(),
                        t.trained
                            .iter()
                            .map(|&m| if m { 1.0 } else { 0.0 })
                            .collect(),
                    )
                })
                .collect();
            let batch = collate_rows(&mrows, self.cfg.pad_id, vocab, self.device)?;
            if batch.trained_tokens == 0 {
                continue;
            }
            let tlen = batch.ids.size()[1] as usize;
            let mut old = vec![0f32; chunk.len() * (tlen - 1)];
            for (i, (t, _)) in chunk.iter().enumerate() {
                for (j, &lp) in t.old_logprobs.iter().enumerate().skip(1) {
                    old[i * (tlen - 1) + j - 1] = if t.trained[j] { lp } else { 0.0 };
                }
            }
            let old = Tensor::from_slice(&old)
                .view([chunk.len() as i64, tlen as i64 - 1])
                .to_device(self.device);
            let adv: Vec<f32> = chunk.iter().map(|(_, a)| *a as f32).collect();
            let adv = Tensor::from_slice(&adv).to_device(self.device);
            let ref_lp = match reference {
                Some(r) => Some(tch::no_grad(|| -> Result<Tensor> {
                    // Row by row, so the reference's fp32 log-softmax is one sequence at a time.
                    let n = batch.ids.size()[0];
                    let parts = (0..n)
                        .map(|i| {
                            let x = batch.ids.narrow(0, i, 1);
                            let l = crate::maybe_autocast(self.cfg.autocast, || r.forward(&x));
                            token_logprobs(&l, &x)
                        })
                        .collect::<Result<Vec<_>>>()?;
                    Ok(Tensor::cat(&parts, 0))
                })?),
                None => None,
            };
            let mask = shifted_mask(&batch.mask, Kind::Float);
            // Per-token weight of the aggregated loss (see `aggregate`).
            let weight = match self.cfg.loss_agg {
                LossAgg::Token => &mask / norm.max(1.0),
                LossAgg::Sequence => {
                    let n = mask.sum_dim_intlist(-1, true, Kind::Float).clamp_min(1.0);
                    &mask / (n * norm.max(1.0))
                }
            };
            // Before the forward: finding the trained rows syncs with the device.
            let sel = Rows::trained(&batch.ids, &batch.mask)?;
            match crate::maybe_autocast(self.cfg.autocast, || policy.hidden_and_head(&batch.ids)) {
                Some((hidden, head)) => {
                    let old_r = sel.select(&old)?;
                    let adv_r = sel.select(&adv.unsqueeze(1).expand_as(&old))?;
                    let w_r = sel.select(&weight)?;
                    let ref_r = ref_lp.as_ref().map(|r| sel.select(r)).transpose()?;
                    let clip = self.cfg.clip;
                    head_pass(
                        &hidden,
                        &head,
                        &sel.rows,
                        &sel.targets,
                        self.cfg.compute_entropy,
                        true,
                        self.cfg.autocast,
                        |c| {
                            let part = |t: &Tensor| t.narrow(0, c.start, c.len).unsqueeze(1);
                            let lp = c.logprobs.detach().set_requires_grad(true);
                            let new_lp = lp.unsqueeze(1);
                            let refc = ref_r.as_ref().map(part);
                            let terms = grpo_terms(
                                &new_lp,
                                &part(&old_r),
                                &adv_r.narrow(0, c.start, c.len),
                                refc.as_ref(),
                                &clip,
                            )?;
                            let l = (&terms.per_token * part(&w_r)).sum(Kind::Float);
                            let g = Tensor::f_run_backward(&[&l], &[&lp], false, false)?;
                            let ent = c.entropy.map_or_else(
                                || Tensor::zeros([], (Kind::Float, lp.device())),
                                |e| e.sum(Kind::Float),
                            );
                            let sums = Tensor::stack(
                                &[
                                    l.detach(),
                                    terms.clipped.sum(Kind::Float),
                                    terms.kl.sum(Kind::Float),
                                    terms.ratio.sum(Kind::Float),
                                    ent,
                                ],
                                0,
                            );
                            acc = &acc + sums.to_kind(Kind::Double);
                            Ok(g.into_iter().next())
                        },
                    )?;
                }
                None => {
                    let logits =
                        crate::maybe_autocast(self.cfg.autocast, || policy.forward(&batch.ids));
                    let new_lp = token_logprobs(&logits, &batch.ids)?;
                    let terms = grpo_terms(&new_lp, &old, &adv, ref_lp.as_ref(), &self.cfg.clip)?;
                    let mask = shifted_mask(&batch.mask, new_lp.kind());
                    let l = aggregate(&terms.per_token, &mask, self.cfg.loss_agg, norm);
                    l.f_backward()?;
                    let msum = |t: &Tensor| (t * &mask).sum(Kind::Double);
                    let ent = if self.cfg.compute_entropy {
                        masked_entropy(&logits, &batch.mask)? * batch.trained_tokens as f64
                    } else {
                        0.0
                    };
                    let sums = Tensor::stack(
                        &[
                            l.detach().to_kind(Kind::Double),
                            msum(&terms.clipped),
                            msum(&terms.kl),
                            msum(&terms.ratio),
                            Tensor::from(ent).to_device(self.device),
                        ],
                        0,
                    );
                    acc = &acc + sums;
                }
            }
        }
        let sums: Vec<f64> = Vec::try_from(&acc.to_device(Device::Cpu))?;
        let (loss, clipped, kl, ratio, ent) = (sums[0], sums[1], sums[2], sums[3], sums[4]);
        if !loss.is_finite() {
            return Err(LearnerError::NonFinite {
                what: "GRPO loss",
                value: loss,
                step: self.step,
            });
        }
        let lr = self.cfg.schedule.lr_at(self.step);
        let st = self.opt.step(lr, self.cfg.max_grad_norm)?;
        let n = trained as f64;
        Ok(UpdateStats {
            loss,
            clip_frac: clipped / n,
            entropy: if self.cfg.compute_entropy {
                ent / n
            } else {
                f64::NAN
            },
            kl: kl / n,
            ratio_mean: ratio / n,
            grad_norm: st.grad_norm,
            lr,
            trained_tokens: trained,
            tokens,
        })
    }

    /// Collect (with dynamic filtering) then update. A step where every sampled group was
    /// filtered takes no optimizer step and reports `skipped`.
    pub fn step<M: TrainableLm + ?Sized, S: RolloutSource<M> + ?Sized>(
        &mut self,
        policy: &M,
        reference: Option<&dyn CausalLm>,
        source: &mut S,
    ) -> Result<GrpoStepStats> {
        let t0 = Instant::now();
        let (groups, sampled, filtered, reward_mean) = self.collect(policy, source)?;
        let rollout_s = t0.elapsed().as_secs_f64();
        let kept_rewards: Vec<f64> = groups.iter().flat_map(|g| g.rewards()).collect();
        let reward_mean_kept = if kept_rewards.is_empty() {
            f64::NAN
        } else {
            kept_rewards.iter().sum::<f64>() / kept_rewards.len() as f64
        };
        let refill_exhausted = groups.len() < self.cfg.groups_per_step;
        if refill_exhausted {
            tracing::warn!(
                step = self.step,
                kept = groups.len(),
                sampled,
                "dynamic filtering: sample budget spent before the batch was full"
            );
        }
        let t1 = Instant::now();
        let (up, skipped) = if groups.is_empty() {
            (
                UpdateStats {
                    entropy: f64::NAN,
                    lr: self.cfg.schedule.lr_at(self.step),
                    ..Default::default()
                },
                true,
            )
        } else {
            (self.update(policy, reference, &groups)?, false)
        };
        self.step += 1;
        Ok(GrpoStepStats {
            step: self.step,
            lr: up.lr,
            reward_mean,
            reward_mean_kept,
            groups_sampled: sampled,
            groups_filtered: filtered,
            filtered_frac: filtered as f64 / sampled.max(1) as f64,
            groups_kept: groups.len(),
            refill_exhausted,
            skipped,
            loss: up.loss,
            clip_frac: up.clip_frac,
            entropy: up.entropy,
            kl: up.kl,
            ratio_mean: up.ratio_mean,
            grad_norm: up.grad_norm,
            trained_tokens: up.trained_tokens,
            tokens: up.tokens,
            rollout_s,
            update_s: t1.elapsed().as_secs_f64(),
        })
    }

    /// `steps` steps with a progress bar, logging to `log`.
    pub fn train<M: TrainableLm + ?Sized, S: RolloutSource<M> + ?Sized>(
        &mut self,
        policy: &M,
        reference: Option<&dyn CausalLm>,
        source: &mut S,
        steps: u64,
        log: Option<&mut MetricsLog>,
    ) -> Result<Vec<GrpoStepStats>> {
        let progress = self.cfg.progress;
        run_steps(
            steps,
            progress,
            log,
            || {
                let st = self.step(policy, reference, source)?;
                tracing::debug!(
                    step = st.step,
                    reward = st.reward_mean,
                    filtered = st.filtered_frac,
                    clip = st.clip_frac,
                    grad_norm = st.grad_norm,
                    "grpo step"
                );
                Ok(st)
            },
            |st| {
                format!(
                    "reward {:.3} | filtered {:.2} | clip {:.3} | H {:.3}",
                    st.reward_mean, st.filtered_frac, st.clip_frac, st.entropy
                )
            },
        )
    }

    /// Saves a checkpoint (see [`crate::checkpoint`]).
    pub fn save(&self, dir: &Path, vs: &VarStore, model_config: &Value) -> Result<()> {
        let state = TrainerState {
            format_version: FORMAT_VERSION,
            trainer: "grpo".into(),
            step: self.step,
            optimizer_steps: self.opt.steps(),
            rng: self.rng.clone(),
            schedule: self.cfg.schedule.clone(),
            optimizer: self.cfg.optimizer.clone(),
            model_config: model_config.clone(),
            trainer_config: serde_json::to_value(&self.cfg).unwrap_or(Value::Null),
            extra: Value::Null,
            sha256: Default::default(),
        };
        checkpoint::save(dir, vs, &self.opt, &state)
    }

    /// A trainer resumed from `dir` (weights into `vs`, optimizer, step, RNG).
    pub fn resume(
        vs: &VarStore,
        cfg: GrpoConfig,
        dir: &Path,
        model_config: &Value,
    ) -> Result<Self> {
        let mut t = GrpoTrainer::new(vs, cfg)?;
        let state = checkpoint::load(dir, vs, &mut t.opt, "grpo", model_config)?;
        t.step = state.step;
        t.rng = state.rng;
        Ok(t)
    }
}
