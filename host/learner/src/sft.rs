//! Supervised fine-tuning with a loss mask (agent: assistant tokens; user simulator: user
//! tokens), gradient accumulation, clipping and the warmup + cosine schedule.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tch::{nn::VarStore, Device, Kind, Tensor};

use crate::checkpoint::{self, TrainerState, FORMAT_VERSION};
use crate::data::{collate, Batch, SftExample};
use crate::error::{LearnerError, Result};
use crate::head::{head_pass, Rows, TrainableLm};
use crate::loss::{shifted_mask, token_logprobs};
use crate::metrics::{run_steps, MetricsLog};
use crate::optim::{AdamW, AdamWConfig, LrSchedule};
use crate::rng::Rng;

/// SFT hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SftConfig {
    /// Examples per forward/backward.
    pub micro_batch_size: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum_steps: usize,
    /// Global gradient-norm clip (None: no clipping).
    pub max_grad_norm: Option<f64>,
    /// AdamW hyperparameters.
    pub optimizer: AdamWConfig,
    /// Learning-rate schedule.
    pub schedule: LrSchedule,
    /// Padding token id (masked out of the loss).
    pub pad_id: i64,
    /// Seed of the data order.
    pub seed: u64,
    /// Run the forward under `tch::autocast` on CUDA (libtorch's CUDA autocast dtype, fp16 by
    /// default). For bf16, convert the VarStore to bf16 instead: AdamW keeps fp32 masters.
    pub autocast: bool,
    /// Show a progress bar in [`SftTrainer::train`].
    pub progress: bool,
}

impl Default for SftConfig {
    fn default() -> Self {
        SftConfig {
            micro_batch_size: 8,
            grad_accum_steps: 1,
            max_grad_norm: Some(1.0),
            optimizer: AdamWConfig::default(),
            schedule: LrSchedule {
                peak_lr: 1e-5,
                min_lr: 1e-6,
                warmup_steps: 10,
                total_steps: 1000,
            },
            pad_id: 0,
            seed: 0,
            autocast: false,
            progress: true,
        }
    }
}

impl SftConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        if self.micro_batch_size == 0 || self.grad_accum_steps == 0 {
            return Err(LearnerError::Config(
                "micro_batch_size and grad_accum_steps must be > 0".into(),
            ));
        }
        if let Some(c) = self.max_grad_norm {
            if !(c > 0.0) {
                return Err(LearnerError::Config(format!(
                    "max_grad_norm must be > 0, got {c}"
                )));
            }
        }
        self.optimizer.validate()?;
        self.schedule.validate()
    }
}

/// What one SFT step did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SftStepStats {
    /// Step number (1-based, after the step).
    pub step: u64,
    /// Mean masked cross-entropy over the step's trained tokens.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Clip factor applied.
    pub clip_coef: f64,
    /// Non-padding tokens processed.
    pub tokens: usize,
    /// Trained tokens.
    pub trained_tokens: usize,
    /// Wall time of the step.
    pub seconds: f64,
    /// Tokens per second.
    pub tokens_per_s: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Cursor {
    epoch: u64,
    pos: usize,
}

/// The SFT trainer: owns the optimizer, schedule, data cursor and RNG.
pub struct SftTrainer {
    cfg: SftConfig,
    opt: AdamW,
    rng: Rng,
    step: u64,
    cursor: Cursor,
    device: Device,
}

impl SftTrainer {
    /// A trainer over the trainable variables of `vs`.
    pub fn new(vs: &VarStore, cfg: SftConfig) -> Result<Self> {
        cfg.validate()?;
        let opt = AdamW::new(vs, cfg.optimizer.clone())?;
        Ok(SftTrainer {
            rng: Rng::new(cfg.seed),
            cfg,
            opt,
            step: 0,
            cursor: Cursor::default(),
            device: vs.device(),
        })
    }

    /// Steps taken.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The configuration.
    pub fn config(&self) -> &SftConfig {
        &self.cfg
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &AdamW {
        &self.opt
    }

    fn epoch_order(&self, n: usize, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        Rng::new(self.cfg.seed ^ epoch.wrapping_mul(0xA24B_AED4_963E_E407)).shuffle(&mut order);
        order
    }

    fn next_examples<'a>(&mut self, data: &'a [SftExample], count: usize) -> Vec<&'a SftExample> {
        let mut out = Vec::with_capacity(count);
        let mut order = self.epoch_order(data.len(), self.cursor.epoch);
        while out.len() < count {
            if self.cursor.pos >= data.len() {
                self.cursor.epoch += 1;
                self.cursor.pos = 0;
                order = self.epoch_order(data.len(), self.cursor.epoch);
            }
            out.push(&data[order[self.cursor.pos]]);
            self.cursor.pos += 1;
        }
        out
    }

    /// One optimizer step over already collated micro-batches (gradient accumulation over
    /// them; the loss is the mean over all their trained tokens).
    pub fn step_batches<M: TrainableLm + ?Sized>(
        &mut self,
        model: &M,
        batches: &[Batch],
    ) -> Result<SftStepStats> {
        let t0 = Instant::now();
        let trained: usize = batches.iter().map(|b| b.trained_tokens).sum();
        let tokens: usize = batches.iter().map(|b| b.tokens).sum();
        if trained == 0 {
            return Err(LearnerError::Batch(
                "no trained tokens in the step's batches".into(),
            ));
        }
        self.opt.zero_grad();
        let mut acc = Tensor::zeros([], (Kind::Double, self.device));
        for b in batches {
            let l = masked_nll(model, b, self.cfg.autocast, trained as f64, true)?;
            acc = acc + l.to_kind(Kind::Double);
        }
        // The one host sync of the step besides the optimizer's gradient norm.
        let loss = acc.double_value(&[]);
        if !loss.is_finite() {
            return Err(LearnerError::NonFinite {
                what: "SFT loss",
                value: loss,
                step: self.step,
            });
        }
        let lr = self.cfg.schedule.lr_at(self.step);
        let st = self.opt.step(lr, self.cfg.max_grad_norm)?;
        self.step += 1;
        let seconds = t0.elapsed().as_secs_f64();
        Ok(SftStepStats {
            step: self.step,
            loss,
            lr,
            grad_norm: st.grad_norm,
            clip_coef: st.clip_coef,
            tokens,
            trained_tokens: trained,
            seconds,
            tokens_per_s: tokens as f64 / seconds.max(1e-9),
        })
    }

    /// One optimizer step on the next `micro_batch_size × grad_accum_steps` examples of `data`
    /// (shuffled per epoch, deterministically from the seed).
    pub fn train_step<M: TrainableLm + ?Sized>(
        &mut self,
        model: &M,
        data: &[SftExample],
    ) -> Result<SftStepStats> {
        if data.is_empty() {
            return Err(LearnerError::Batch("no SFT examples".into()));
        }
        let mbs = self.cfg.micro_batch_size;
        let picked = self.next_examples(data, mbs * self.cfg.grad_accum_steps);
        let batches = picked
            .chunks(mbs)
            .map(|c| collate(c, self.cfg.pad_id, model.vocab_size(), self.device))
            .collect::<Result<Vec<_>>>()?;
        self.step_batches(model, &batches)
    }

    /// `steps` optimizer steps with a progress bar (loss, tokens/s), logging each to `log`.
    pub fn train<M: TrainableLm + ?Sized>(
        &mut self,
        model: &M,
        data: &[SftExample],
        steps: u64,
        log: Option<&mut MetricsLog>,
    ) -> Result<Vec<SftStepStats>> {
        let progress = self.cfg.progress;
        let out = run_steps(
            steps,
            progress,
            log,
            || {
                let st = self.train_step(model, data)?;
                tracing::debug!(
                    step = st.step,
                    loss = st.loss,
                    grad_norm = st.grad_norm,
                    tokens_per_s = st.tokens_per_s,
                    "sft step"
                );
                Ok(st)
            },
            |st| format!("loss {:.4} | {:.0} tok/s | lr {:.2e}", st.loss, st.tokens_per_s, st.lr),
        )?;
        if let Some(last) = out.last() {
            tracing::info!(step = last.step, loss = last.loss, "sft done");
        }
        Ok(out)
    }

    /// Mean masked cross-entropy over `data` (no gradient).
    pub fn eval_loss<M: TrainableLm + ?Sized>(&self, model: &M, data: &[SftExample]) -> Result<f64> {
        tch::no_grad(|| {
            let (mut sum, mut n) = (0.0, 0.0);
            for chunk in data.chunks(self.cfg.micro_batch_size) {
                let refs: Vec<&SftExample> = chunk.iter().collect();
                let b = collate(&refs, self.cfg.pad_id, model.vocab_size(), self.device)?;
                sum += masked_nll(model, &b, self.cfg.autocast, 1.0, false)?.double_value(&[]);
                n += b.trained_tokens as f64;
            }
            Ok(sum / n.max(1.0))
        })
    }

    /// Saves a checkpoint (see [`crate::checkpoint`]). `model_config` is checked on resume.
    pub fn save(&self, dir: &Path, vs: &VarStore, model_config: &Value) -> Result<()> {
        let state = TrainerState {
            format_version: FORMAT_VERSION,
            trainer: "sft".into(),
            step: self.step,
            optimizer_steps: self.opt.steps(),
            rng: self.rng.clone(),
            schedule: self.cfg.schedule.clone(),
            optimizer: self.cfg.optimizer.clone(),
            model_config: model_config.clone(),
            trainer_config: serde_json::to_value(&self.cfg).unwrap_or(Value::Null),
            extra: serde_json::to_value(&self.cursor).unwrap_or(Value::Null),
            sha256: Default::default(),
        };
        checkpoint::save(dir, vs, &self.opt, &state)
    }

    /// A trainer resumed from `dir`: weights into `vs`, optimizer, step, data cursor and RNG.
    pub fn resume(vs: &VarStore, cfg: SftConfig, dir: &Path, model_config: &Value) -> Result<Self> {
        let mut t = SftTrainer::new(vs, cfg)?;
        let state = checkpoint::load(dir, vs, &mut t.opt, "sft", model_config)?;
        t.step = state.step;
        t.rng = state.rng;
        t.cursor =
            serde_json::from_value(state.extra).map_err(|e| LearnerError::CorruptCheckpoint {
                path: dir.join(checkpoint::STATE_FILE),
                msg: format!("extra: {e}"),
            })?;
        Ok(t)
    }
}

/// Σ over the batch's trained tokens of the next-token NLL, divided by `norm`, as a 0-dim
/// tensor (no host sync). With `grad`, also runs the backward pass. Uses the chunked head
/// when the model offers it ([`TrainableLm`]), else full logits.
pub(crate) fn masked_nll<M: TrainableLm + ?Sized>(
    model: &M,
    b: &Batch,
    autocast: bool,
    norm: f64,
    grad: bool,
) -> Result<Tensor> {
    let dev = b.ids.device();
    let rows = Rows::trained(&b.ids, &b.mask)?;
    if rows.count == 0 {
        return Ok(Tensor::zeros([], (Kind::Float, dev)));
    }
    match crate::maybe_autocast(autocast, || model.hidden_and_head(&b.ids)) {
        Some((hidden, head)) => {
            // Mask values at the rows (1 for boolean masks), pre-divided by the norm.
            let w = rows.select(&shifted_mask(&b.mask, Kind::Float))? / norm;
            let mut acc = Tensor::zeros([], (Kind::Float, dev));
            head_pass(&hidden, &head, &rows.rows, &rows.targets, false, grad, autocast, |c| {
                let wc = w.narrow(0, c.start, c.len);
                acc = &acc - (c.logprobs * &wc).sum(Kind::Float);
                Ok(Some(wc.neg()))
            })?;
            Ok(acc)
        }
        None => {
            let logits = crate::maybe_autocast(autocast, || model.forward(&b.ids));
            let lp = token_logprobs(&logits, &b.ids)?;
            let m = shifted_mask(&b.mask, lp.kind());
            let l = (lp * m).sum(Kind::Float).neg() / norm;
            if grad {
                l.f_backward()?;
            }
            Ok(l.detach())
        }
    }
}
