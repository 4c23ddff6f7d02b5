//! The LM head and the loss in row chunks: the `[tokens, vocab]` logits of the whole batch
//! never exist, and the loss gradient is computed per chunk by hand (softmax − one-hot, scaled
//! by ∂loss/∂log p), then pushed into autograd through the final hidden states and the head
//! weight with one backward pass.
//!
//! Per chunk of `c` rows: the logits GEMM `[c, H] × [H, V]` in the model dtype, one fp32
//! `log_softmax`, its `exp` (the probabilities, reused for the entropy metric and the
//! gradient), and the two gradient GEMMs (`∂h = g W`, `∂W += gᵀ h`). Rows whose loss weight
//! is zero (untrained tokens, padding) are skipped before the head.

use eigenbox_model::{CausalLm, Transformer};
use tch::{Kind, Tensor};

use crate::error::{LearnerError, Result};

/// What the trainers need from a model beyond [`CausalLm`]: its final hidden states and
/// LM-head weight, so they run the head and the loss in chunks. Implemented for every
/// `'static` [`CausalLm`] (and `dyn CausalLm`); only [`eigenbox_model::Transformer`] answers
/// `Some`, every other model is trained through [`CausalLm::forward`] and full logits.
///
/// `eigenbox_model::CausalLm` has no such method yet; with `fn hidden_states(&self, ids) ->
/// Option<Tensor>` and `fn lm_head_weight(&self) -> Option<Tensor>` there (defaults `None`),
/// wrappers such as a mutex-guarded `Transformer` could opt in and this trait would go.
pub trait TrainableLm: CausalLm {
    /// `(hidden [B, T, H] after the final norm, head weight [V, H])` for ids `[B, T]`, with
    /// `logits = hidden · weightᵀ` (no bias); `None` when the model cannot give them.
    fn hidden_and_head(&self, input_ids: &Tensor) -> Option<(Tensor, Tensor)>;
}

impl<T: CausalLm + 'static> TrainableLm for T {
    fn hidden_and_head(&self, input_ids: &Tensor) -> Option<(Tensor, Tensor)> {
        let m = (self as &dyn std::any::Any).downcast_ref::<Transformer>()?;
        Some((m.hidden_states(input_ids), m.lm_head_weight().shallow_clone()))
    }
}

impl TrainableLm for dyn CausalLm + '_ {
    fn hidden_and_head(&self, _input_ids: &Tensor) -> Option<(Tensor, Tensor)> {
        None
    }
}

/// Logit elements per chunk (fp32 log-softmax and probabilities: 2 × 4 bytes each, so about
/// 4 GiB of transient buffers plus the model-dtype logits and gradient).
pub const CHUNK_ELEMENTS: i64 = 1 << 29;

thread_local! {
    static CHUNK_OVERRIDE: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
}

/// Overrides [`CHUNK_ELEMENTS`] on the calling thread (tests use it to force several chunks);
/// `None` restores the default.
pub fn set_chunk_elements(n: Option<i64>) {
    CHUNK_OVERRIDE.with(|c| c.set(n));
}

/// Rows per chunk for a vocabulary of `v`.
pub fn chunk_rows(v: i64) -> i64 {
    let elems = CHUNK_OVERRIDE.with(|c| c.get()).unwrap_or(CHUNK_ELEMENTS);
    let r = (elems / v.max(1)).max(1);
    if r >= 128 {
        r / 64 * 64
    } else {
        r
    }
}

/// What a chunk hands to the loss callback.
pub(crate) struct Chunk<'a> {
    /// First row (index into the selected rows).
    pub start: i64,
    /// Rows.
    pub len: i64,
    /// Log probability of each row's target, fp32 `[len]`, no gradient.
    pub logprobs: &'a Tensor,
    /// Entropy of each row's distribution (nats, fp32 `[len]`) when asked for.
    pub entropy: Option<&'a Tensor>,
}

/// Runs the head over `rows` of `hidden` and calls `loss` per chunk; `loss` returns
/// `∂L/∂logprob` for the chunk's rows (`[len]`, any float kind) or `None` for no gradient.
/// With gradients, finishes with one backward pass into the model (through `hidden` and
/// `head`). `rows`: int64 indices into `hidden` viewed as `[B·T, H]`; `targets`: `[rows]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn head_pass(
    hidden: &Tensor,
    head: &Tensor,
    rows: &Tensor,
    targets: &Tensor,
    entropy: bool,
    grad: bool,
    autocast: bool,
    mut loss: impl FnMut(Chunk<'_>) -> Result<Option<Tensor>>,
) -> Result<()> {
    let hsz = *hidden.size().last().unwrap_or(&0);
    let (v, hw) = head.size2()?;
    if hw != hsz {
        return Err(LearnerError::Batch(format!(
            "hidden size {hsz} does not match the head {:?}",
            head.size()
        )));
    }
    let h_all = hidden.reshape([-1, hsz]).f_index_select(0, rows)?;
    let n = h_all.size()[0];
    let h_det = h_all.detach();
    let w_det = head.detach();
    let want_grad = grad && (hidden.requires_grad() || head.requires_grad());
    // Softmax precision: fp32, or f64 for an f64 model.
    let ck = if w_det.kind() == Kind::Double { Kind::Double } else { Kind::Float };
    let step = chunk_rows(v);
    let mut gh_parts: Vec<Tensor> = Vec::new();
    let mut gw: Option<Tensor> = None;
    let mut start = 0;
    while start < n {
        let len = step.min(n - start);
        let h = h_det.narrow(0, start, len);
        let tgt = targets.narrow(0, start, len).unsqueeze(1);
        let logits = crate::maybe_autocast(autocast, || h.linear::<Tensor>(&w_det, None));
        let lk = logits.kind();
        let lsm = logits.f_log_softmax(-1, ck)?;
        drop(logits);
        let lp = lsm.f_gather(1, &tgt, false)?.squeeze_dim(1);
        let mut p = lsm.f_exp()?;
        let ent = if entropy {
            Some((&p * &lsm).f_sum_dim_intlist(-1, false, ck)?.f_neg()?)
        } else {
            None
        };
        drop(lsm);
        let g_lp = loss(Chunk {
            start,
            len,
            logprobs: &lp,
            entropy: ent.as_ref(),
        })?;
        if want_grad && g_lp.is_none() {
            // No gradient from this chunk's rows (keeps `gh_parts` aligned with the rows).
            gh_parts.push(Tensor::f_zeros([len, hsz], (h.kind(), h.device()))?);
        }
        if let (true, Some(g_lp)) = (want_grad, g_lp) {
            // ∂L/∂logits = ∂L/∂lp · (onehot − p) = (p − onehot) · (−∂L/∂lp).
            let ones = Tensor::f_full([len, 1], -1.0, (ck, p.device()))?;
            let _ = p.f_scatter_add_(1, &tgt, &ones)?;
            let scale = g_lp.f_to_kind(ck)?.f_neg()?.unsqueeze(1);
            // The gradient in the logits' dtype, written by the scaling kernel directly.
            let g = Tensor::f_empty([len, v], (lk, p.device()))?;
            let _ = p.f_mul_out(&g, &scale)?;
            drop(p);
            let (gh, gw_c) = crate::maybe_autocast(autocast, || {
                (g.matmul(&w_det), g.tr().matmul(&h))
            });
            gh_parts.push(gh);
            gw = Some(match gw.take() {
                None if n <= step => gw_c,
                None => gw_c.f_to_kind(ck)?,
                Some(mut acc) => {
                    let _ = acc.f_add_(&gw_c)?;
                    acc
                }
            });
        }
        start += len;
    }
    if let (true, Some(gw)) = (want_grad, gw) {
        let gh = if gh_parts.len() == 1 {
            gh_parts.remove(0)
        } else {
            Tensor::f_cat(&gh_parts, 0)?
        };
        // d/dh (h · gh) = gh and d/dW (W · gW) = gW exactly: one backward through the model.
        let mut surrogate = (&h_all * &gh).f_sum(Kind::Float)?;
        if head.requires_grad() {
            surrogate = surrogate + (head * &gw).f_sum(Kind::Float)?;
        }
        surrogate.f_backward()?;
    }
    Ok(())
}

/// Rows of the hidden states `[B·T, H]` that predict a trained token (`mask[b, t+1] != 0`:
/// row `b·T + t`) and their targets `ids[b, t+1]`.
pub(crate) struct Rows {
    /// int64 row indices.
    pub rows: Tensor,
    /// int64 target ids.
    pub targets: Tensor,
    /// Number of rows.
    pub count: i64,
}

impl Rows {
    /// The trained rows of a right-padded batch (one host sync, before the forward).
    pub fn trained(ids: &Tensor, mask: &Tensor) -> Result<Self> {
        let (_, t) = ids.size2()?;
        let m = Self::pad_last(&mask.narrow(1, 1, t - 1).ne(0.0))?;
        let rows = m.reshape([-1]).f_nonzero()?.reshape([-1]);
        let count = rows.size()[0];
        let tgt = Self::pad_last(&ids.narrow(1, 1, t - 1))?.reshape([-1]);
        let targets = tgt.f_index_select(0, &rows)?;
        Ok(Rows { rows, targets, count })
    }

    /// `[B, T]` from `[B, T-1]` (shifted quantities) by a zero last column.
    fn pad_last(x: &Tensor) -> Result<Tensor> {
        let (b, _) = x.size2()?;
        let z = Tensor::f_zeros([b, 1], (x.kind(), x.device()))?;
        Ok(Tensor::f_cat(&[x.shallow_clone(), z], 1)?)
    }

    /// Values of a shifted `[B, T-1]` tensor at the rows, `[count]`.
    pub fn select(&self, shifted: &Tensor) -> Result<Tensor> {
        Ok(Self::pad_last(shifted)?.reshape([-1]).f_index_select(0, &self.rows)?)
    }
}
