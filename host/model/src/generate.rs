//! Batched sampling with a KV cache.

use crate::{ModelError, Transformer};
use tch::{Device, Kind, Tensor};

/// Sampling settings for [`generate`].
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature; `0` means greedy (argmax).
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of most likely tokens whose probability (under
    /// the temperature-scaled distribution) reaches `top_p`; `>= 1` disables it.
    pub top_p: f64,
    /// Upper bound on generated tokens per prompt.
    pub max_new_tokens: usize,
    /// Generation of a row stops after it samples one of these (the token is kept in the output).
    pub stop_token_ids: Vec<i64>,
    /// Generation of a row stops once its generated tokens end with one of these sequences
    /// (the sequence is kept in the output). Empty sequences are ignored.
    pub stop_sequences: Vec<Vec<i64>>,
    /// Seed of the sampler. Row `i` of a call draws from its own stream derived from
    /// `(seed, i)`, so results do not depend on batch composition or device.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_p: 1.0,
            max_new_tokens: 256,
            stop_token_ids: vec![],
            stop_sequences: vec![],
            seed: 0,
        }
    }
}

/// Why a row stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// A stop token or stop sequence was generated.
    Stop,
    /// `max_new_tokens` was reached.
    Length,
}

/// One prompt's continuation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Generated token ids (without the prompt; including a final stop token / sequence).
    pub tokens: Vec<i64>,
    /// For each token, its log-probability under the full-vocabulary distribution
    /// `log_softmax(logits / temperature)` (with `temperature = 0` read as 1, i.e. the model's
    /// own distribution), computed in f32, *before* top-p truncation and renormalisation.
    pub logprobs: Vec<f32>,
    /// Why generation ended.
    pub finish: FinishReason,
}

/// splitmix64: a small, well-mixed, reproducible generator (one stream per row).
struct Rng(u64);

impl Rng {
    fn new(seed: u64, row: u64) -> Self {
        let mut r = Rng(seed ^ row.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Picks one token per row from last-position logits `[b, V]` with `params`' temperature and
/// top-p, using `uniforms[i]` (in [0, 1)) as row i's random draw; returns the tokens and their
/// logprobs (see [`Generation::logprobs`]). [`generate`] calls this once per step.
pub fn sample_logits(
    logits: &Tensor,
    params: &SamplingParams,
    uniforms: &[f64],
) -> (Vec<i64>, Vec<f32>) {
    tch::no_grad(|| sample(logits, params, uniforms))
}

fn sample(logits: &Tensor, params: &SamplingParams, uniforms: &[f64]) -> (Vec<i64>, Vec<f32>) {
    let logits = logits.to_kind(Kind::Float);
    let (tokens, logp) = if params.temperature <= 0.0 {
        let logp = logits.log_softmax(-1, Kind::Float);
        (logits.argmax(-1, false), logp)
    } else {
        let logp = (&logits / params.temperature).log_softmax(-1, Kind::Float);
        let probs = logp.exp();
        let (probs, order) = if params.top_p < 1.0 {
            // Sort in f32 (fast), accumulate in f64.
            let (sorted, idx) = probs.sort(-1, true);
            let sorted = sorted.to_kind(Kind::Double);
            let before = sorted.cumsum(-1, Kind::Double) - &sorted;
            // Drop tokens once the mass before them reaches top_p (the first is always kept).
            let keep = before.lt(params.top_p.max(0.0)).logical_or(&before.eq(0.0));
            (sorted * keep.to_kind(Kind::Double), Some(idx))
        } else {
            (probs.to_kind(Kind::Double), None)
        };
        let cum = probs.cumsum(-1, Kind::Double);
        let v = cum.size()[1];
        let total = cum.narrow(1, v - 1, 1);
        let u = Tensor::from_slice(uniforms)
            .to_device(cum.device())
            .unsqueeze(1)
            * total;
        let j = cum
            .le_tensor(&u)
            .sum_dim_intlist(1, true, Kind::Int64)
            .clamp_max(v - 1);
        let tok = match order {
            Some(idx) => idx.gather(1, &j, false),
            None => j,
        };
        (tok.squeeze_dim(1), logp)
    };
    let lp = logp.gather(1, &tokens.unsqueeze(1), false).squeeze_dim(1);
    let tokens = tokens.to_device(Device::Cpu);
    let lp = lp.to_device(Device::Cpu);
    let n = tokens.size()[0];
    let mut tv = vec![0i64; n as usize];
    let mut lv = vec![0f32; n as usize];
    tokens.copy_data(&mut tv, n as usize);
    lp.copy_data(&mut lv, n as usize);
    (tv, lv)
}

/// Samples continuations of `prompts` (token ids, any lengths) with one batched forward per
/// step and a KV cache. Prompts are left-padded to a common length; padded keys are masked
/// out and each row's positions start at 0 at its first real token, so a row's result does
/// not depend on the rest of the batch (up to floating-point noise). Finished rows are
/// dropped from the batch. Runs under `no_grad`.
pub fn generate(
    model: &Transformer,
    prompts: &[Vec<i64>],
    params: &SamplingParams,
) -> Result<Vec<Generation>, ModelError> {
    let vocab = model.config().vocab_size;
    for (i, p) in prompts.iter().enumerate() {
        if p.is_empty() {
            return Err(ModelError::InvalidArgument(format!("prompt {i} is empty")));
        }
        if let Some(t) = p.iter().find(|&&t| t < 0 || t >= vocab) {
            return Err(ModelError::InvalidArgument(format!(
                "prompt {i} has token id {t} outside the vocabulary (size {vocab})"
            )));
        }
    }
    if params.top_p.is_nan() || params.top_p <= 0.0 {
        return Err(ModelError::InvalidArgument(format!(
            "top_p must be > 0, got {}",
            params.top_p
        )));
    }
    if !params.temperature.is_finite() || params.temperature < 0.0 {
        return Err(ModelError::InvalidArgument(format!(
            "temperature must be finite and >= 0, got {}",
            params.temperature
        )));
    }
    let mut out: Vec<Generation> = prompts
        .iter()
        .map(|_| Generation {
            tokens: vec![],
            logprobs: vec![],
            finish: FinishReason::Length,
        })
        .collect();
    if prompts.is_empty() || params.max_new_tokens == 0 {
        return Ok(out);
    }
    tch::no_grad(|| generate_inner(model, prompts, params, &mut out))?;
    Ok(out)
}

fn generate_inner(
    model: &Transformer,
    prompts: &[Vec<i64>],
    params: &SamplingParams,
    out: &mut [Generation],
) -> Result<(), ModelError> {
    let dev = model.device();
    let b = prompts.len() as i64;
    let plen = prompts.iter().map(Vec::len).max().unwrap_or(0) as i64;
    let total = plen + params.max_new_tokens as i64;
    let mut ids = vec![0i64; (b * plen) as usize];
    let mut pos = vec![0i64; (b * plen) as usize];
    let mut valid = vec![false; (b * total) as usize];
    for (r, p) in prompts.iter().enumerate() {
        let pad = plen as usize - p.len();
        for (j, &t) in p.iter().enumerate() {
            ids[r * plen as usize + pad + j] = t;
            pos[r * plen as usize + pad + j] = j as i64;
        }
        for j in pad..total as usize {
            valid[r * total as usize + j] = true;
        }
    }
    let ids = Tensor::from_slice(&ids).view([b, plen]).to_device(dev);
    let pos_t = Tensor::from_slice(&pos).view([b, plen]).to_device(dev);
    // Key validity per row over the whole (prompt + generated) span.
    let mut key_valid = Tensor::from_slice(&valid).view([b, total]).to_device(dev);
    let causal = Tensor::ones([plen, plen], (Kind::Bool, dev)).tril(0);
    let eye = Tensor::eye(plen, (Kind::Bool, dev));
    // Padding queries attend to themselves only, so no softmax row is empty.
    let mask = key_valid
        .narrow(1, 0, plen)
        .unsqueeze(1)
        .logical_and(&causal.unsqueeze(0))
        .logical_or(&eye.unsqueeze(0));
    let mut cache = model.new_cache(b, total);
    let logits = model.forward_cached(&ids, &pos_t, &mask, &mut cache)?;
    let mut last = logits.select(1, plen - 1);

    let mut rngs: Vec<Rng> = (0..prompts.len())
        .map(|i| Rng::new(params.seed, i as u64))
        .collect();
    let mut next_pos: Vec<i64> = prompts.iter().map(|p| p.len() as i64).collect();
    let mut active: Vec<usize> = (0..prompts.len()).collect();
    for step in 0..params.max_new_tokens {
        let uniforms: Vec<f64> = if params.temperature > 0.0 {
            active.iter().map(|&r| rngs[r].next_f64()).collect()
        } else {
            vec![0.0; active.len()]
        };
        let (toks, lps) = sample(&last, params, &uniforms);
        let mut keep = Vec::with_capacity(active.len());
        for (k, &r) in active.iter().enumerate() {
            let g = &mut out[r];
            g.tokens.push(toks[k]);
            g.logprobs.push(lps[k]);
            let stopped = params.stop_token_ids.contains(&toks[k])
                || params
                    .stop_sequences
                    .iter()
                    .any(|s| !s.is_empty() && g.tokens.ends_with(s));
            if stopped {
                g.finish = FinishReason::Stop;
            } else if g.tokens.len() >= params.max_new_tokens {
                g.finish = FinishReason::Length;
            } else {
                keep.push(k);
            }
        }
        if keep.is_empty() || step + 1 == params.max_new_tokens {
            break;
        }
        let next_ids: Vec<i64> = keep.iter().map(|&k| toks[k]).collect();
        let positions: Vec<i64> = keep.iter().map(|&k| next_pos[active[k]]).collect();
        if keep.len() != active.len() {
            let rows = Tensor::from_slice(&keep.iter().map(|&k| k as i64).collect::<Vec<_>>())
                .to_device(dev);
            cache.select_rows(&rows);
            key_valid = key_valid.index_select(0, &rows);
        }
        active = keep.iter().map(|&k| active[k]).collect();
        for &r in &active {
            next_pos[r] += 1;
        }
        let nb = active.len() as i64;
        let ids = Tensor::from_slice(&next_ids).view([nb, 1]).to_device(dev);
        let pos = Tensor::from_slice(&positions).view([nb, 1]).to_device(dev);
        let mask = key_valid.narrow(1, 0, cache.len() + 1).unsqueeze(1);
        let logits = model.forward_cached(&ids, &pos, &mask, &mut cache)?;
        last = logits.select(1, 0);
    }
    Ok(())
}
