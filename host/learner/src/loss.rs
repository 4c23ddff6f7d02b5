//! Loss functions: shifted next-token cross-entropy with a loss mask, per-token log
//! probabilities, masked entropy and the clipped GRPO surrogate with an optional k3 KL term.
//!
//! Conventions: `ids` is `[B, T]` int64 (right-padded), `logits` is `[B, T, V]`, and a mask
//! `[B, T]` marks the tokens to *predict*: `mask[b, t] = 1` trains the prediction of `ids[b, t]`
//! from `ids[b, ..t]`, so `mask[b, 0]` is ignored. Shifted quantities are `[B, T-1]` and
//! position `j` refers to token `t = j + 1`.

use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

use crate::error::{LearnerError, Result};

fn compute_kind(t: &Tensor) -> Kind {
    if t.kind() == Kind::Double {
        Kind::Double
    } else {
        Kind::Float
    }
}

/// Log probability (fp32, or f64 for f64 logits) of each next token: `[B, T-1]` where entry
/// `j` is `log p(ids[:, j+1] | ids[:, ..=j])`.
pub fn token_logprobs(logits: &Tensor, ids: &Tensor) -> Result<Tensor> {
    let (b, t, v) = logits.size3()?;
    let (bi, ti) = ids.size2()?;
    if (b, t) != (bi, ti) || t < 2 {
        return Err(LearnerError::Batch(format!(
            "logits [{b}, {t}, {v}] do not match ids [{bi}, {ti}] (need T >= 2)"
        )));
    }
    let kind = compute_kind(logits);
    let lg = logits.narrow(1, 0, t - 1).to_kind(kind).reshape([-1, v]);
    let tgt = ids.narrow(1, 1, t - 1).reshape([-1]);
    let nll = lg.f_cross_entropy_loss::<Tensor>(&tgt, None, Reduction::None, -100, 0.0)?;
    Ok(nll.neg().reshape([b, t - 1]))
}

/// The shifted mask `[B, T-1]` in the kind of `like`.
pub fn shifted_mask(mask: &Tensor, like: Kind) -> Tensor {
    let t = mask.size()[1];
    mask.narrow(1, 1, t - 1).to_kind(like)
}

/// Sum over trained tokens of the next-token negative log likelihood, and the number of
/// trained tokens. Divide by a token count (of the whole accumulated batch) for the mean.
pub fn masked_nll_sum(logits: &Tensor, ids: &Tensor, mask: &Tensor) -> Result<(Tensor, f64)> {
    let lp = token_logprobs(logits, ids)?;
    let m = shifted_mask(mask, lp.kind());
    let n = m.sum(lp.kind()).double_value(&[]);
    Ok(((lp * &m).sum(m.kind()).neg(), n))
}

/// Mean masked cross-entropy (0 when no token is trained).
pub fn masked_ce(logits: &Tensor, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let (s, n) = masked_nll_sum(logits, ids, mask)?;
    Ok(s / n.max(1.0))
}

/// Mean entropy (nats) of the next-token distributions at trained positions, computed without
/// gradient, in row chunks so a large vocabulary does not need a second full-size buffer.
pub fn masked_entropy(logits: &Tensor, mask: &Tensor) -> Result<f64> {
    tch::no_grad(|| {
        let (b, t, v) = logits.size3()?;
        let lg = logits.narrow(1, 0, t - 1).reshape([-1, v]);
        let m = shifted_mask(mask, Kind::Float).reshape([-1]);
        let rows = b * (t - 1);
        let chunk = (1 << 26) / v.max(1);
        let chunk = chunk.max(1);
        let mut total = 0.0;
        let mut start = 0;
        while start < rows {
            let len = chunk.min(rows - start);
            let x = lg.narrow(0, start, len).to_kind(Kind::Float);
            let logp = x.log_softmax(-1, Kind::Float);
            let h = (logp.exp() * &logp)
                .sum_dim_intlist(-1, false, Kind::Float)
                .neg();
            total += (h * m.narrow(0, start, len))
                .sum(Kind::Float)
                .double_value(&[]);
            start += len;
        }
        let n = m.sum(Kind::Float).double_value(&[]);
        Ok(if n > 0.0 { total / n } else { 0.0 })
    })
}

/// How per-token GRPO losses are averaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossAgg {
    /// Sum over all trained tokens of the batch divided by their number (DAPO-style).
    Token,
    /// Mean over each sequence's trained tokens, then mean over sequences (original GRPO).
    Sequence,
}

/// Parameters of the clipped surrogate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipConfig {
    /// Lower clip: ratios below `1 - clip_low` are clipped for negative advantages.
    pub clip_low: f64,
    /// Upper clip: ratios above `1 + clip_high` are clipped for positive advantages.
    pub clip_high: f64,
    /// Coefficient of the k3 KL estimator to the reference policy (0 disables it).
    pub kl_coef: f64,
}

/// Per-token terms of the GRPO objective.
pub struct GrpoTerms {
    /// Per-token loss `[B, T-1]` (to be masked and aggregated): `-min(r A, clip(r) A) + β k3`.
    pub per_token: Tensor,
    /// 1 where the clipped branch is active (gradient zero), `[B, T-1]`, no gradient.
    pub clipped: Tensor,
    /// k3 estimate per token (zeros without a reference), no gradient.
    pub kl: Tensor,
    /// Probability ratio per token, no gradient.
    pub ratio: Tensor,
}

/// Per-token clipped surrogate. `new_lp`, `old_lp`, `ref_lp`: `[B, T-1]` log probabilities
/// (new with gradient); `adv`: `[B]` advantages, applied to every token of the sequence.
pub fn grpo_terms(
    new_lp: &Tensor,
    old_lp: &Tensor,
    adv: &Tensor,
    ref_lp: Option<&Tensor>,
    cfg: &ClipConfig,
) -> Result<GrpoTerms> {
    if new_lp.size() != old_lp.size() || adv.size() != [new_lp.size()[0]] {
        return Err(LearnerError::Batch(format!(
            "GRPO shapes: new {:?}, old {:?}, advantages {:?}",
            new_lp.size(),
            old_lp.size(),
            adv.size()
        )));
    }
    let kind = new_lp.kind();
    let a = adv.to_kind(kind).unsqueeze(1);
    let ratio = (new_lp - old_lp.to_kind(kind)).exp();
    let unclipped = &ratio * &a;
    let clipped_ratio = ratio.clamp(1.0 - cfg.clip_low, 1.0 + cfg.clip_high);
    let clipped_obj = &clipped_ratio * &a;
    let obj = unclipped.minimum(&clipped_obj);
    let mut per_token = obj.neg();
    let clipped = tch::no_grad(|| unclipped.gt_tensor(&clipped_obj).to_kind(kind));
    let kl = match ref_lp {
        Some(r) if cfg.kl_coef != 0.0 => {
            let d = r.to_kind(kind) - new_lp;
            let k3 = d.exp() - &d - 1.0;
            per_token = per_token + &k3 * cfg.kl_coef;
            k3.detach()
        }
        Some(r) => tch::no_grad(|| {
            let d = r.to_kind(kind) - new_lp;
            d.exp() - &d - 1.0
        }),
        None => new_lp.zeros_like().detach(),
    };
    Ok(GrpoTerms {
        per_token,
        clipped,
        kl,
        ratio: ratio.detach(),
    })
}

/// Aggregates masked per-token losses. `Token`: sum / `norm` (the batch's trained-token count);
/// `Sequence`: Σ_seq (Σ_tok / n_tok(seq)) / `norm` (the batch's sequence count). Use the
/// counts of the whole accumulated batch so micro-batches add up to the full-batch loss.
pub fn aggregate(per_token: &Tensor, mask: &Tensor, agg: LossAgg, norm: f64) -> Tensor {
    let masked = per_token * mask;
    match agg {
        LossAgg::Token => masked.sum(per_token.kind()) / norm.max(1.0),
        LossAgg::Sequence => {
            let per_seq = masked.sum_dim_intlist(-1, false, per_token.kind());
            let n = mask
                .sum_dim_intlist(-1, false, per_token.kind())
                .clamp_min(1.0);
            (per_seq / n).sum(per_token.kind()) / norm.max(1.0)
        }
    }
}

/// Group-relative advantages: `(r - mean) / (std + eps)` with the sample standard deviation
/// (n-1; 0 for a group of one).
pub fn group_advantages(rewards: &[f64], eps: f64) -> Vec<f64> {
    let n = rewards.len() as f64;
    if rewards.is_empty() {
        return vec![];
    }
    let mean = rewards.iter().sum::<f64>() / n;
    let var = if rewards.len() > 1 {
        rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    let std = var.sqrt();
    rewards.iter().map(|r| (r - mean) / (std + eps)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advantages_are_normalised() {
        let a = group_advantages(&[1.0, 0.0, 0.0, 1.0], 0.0);
        let std = (4.0f64 * 0.25 / 3.0).sqrt();
        assert!((a[0] - 0.5 / std).abs() < 1e-12);
        assert!((a[1] + 0.5 / std).abs() < 1e-12);
        assert_eq!(group_advantages(&[0.3, 0.3], 1e-6), vec![0.0, 0.0]);
    }
}
