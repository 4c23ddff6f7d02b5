//! The decoder-only transformer (Llama / Qwen2 / Qwen3) and its KV cache.

use crate::{Arch, CausalLm, ModelConfig, ModelError};
use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

#[derive(Debug)]
struct Linear {
    w: Tensor,
    b: Option<Tensor>,
}

impl Linear {
    fn new(p: nn::Path, out: i64, inp: i64, bias: bool, init: Init) -> Self {
        let w = p.var("weight", &[out, inp], init);
        let b = if bias {
            Some(p.var("bias", &[out], Init::Const(0.0)))
        } else {
            None
        };
        Linear { w, b }
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.w, self.b.as_ref())
    }
}

#[derive(Debug)]
struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    input_norm: Tensor,
    post_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// A decoder-only transformer whose variables live in a [`tch::nn::VarStore`] under the HF
/// names (`model.embed_tokens.weight`, `model.layers.{i}.self_attn.q_proj.weight`, …,
/// `lm_head.weight` unless tied), so HF safetensors load straight in and
/// `VarStore::save("model.safetensors")` writes an HF-compatible checkpoint.
#[derive(Debug)]
pub struct Transformer {
    cfg: ModelConfig,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: Tensor,
    /// Inverse RoPE frequencies, f32 `[head_dim / 2]` on the model's device (not a variable).
    inv_freq: Tensor,
    device: Device,
}

/// Per-layer key/value cache for incremental decoding: `[B, kv_heads, capacity, head_dim]`
/// preallocated tensors, of which the first `len()` positions are filled.
#[derive(Debug)]
pub struct KvCache {
    k: Vec<Tensor>,
    v: Vec<Tensor>,
    len: i64,
    capacity: i64,
}

impl KvCache {
    /// Number of cached positions.
    pub fn len(&self) -> i64 {
        self.len
    }
    /// True when nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Positions the cache can hold.
    pub fn capacity(&self) -> i64 {
        self.capacity
    }
    /// Batch size.
    pub fn batch_size(&self) -> i64 {
        self.k.first().map(|t| t.size()[0]).unwrap_or(0)
    }
    /// Keeps only the given batch rows (int64 indices on the cache's device), e.g. to drop
    /// finished sequences during generation.
    pub fn select_rows(&mut self, rows: &Tensor) {
        for t in self.k.iter_mut().chain(self.v.iter_mut()) {
            *t = t.index_select(0, rows);
        }
    }
}

/// Attention length granularity of the cached path (see `Transformer::run`).
const ATTN_BUCKET: i64 = 64;

fn rotate_half(x: &Tensor) -> Tensor {
    let half = x.size()[x.dim() - 1] / 2;
    let x1 = x.narrow(-1, 0, half);
    let x2 = x.narrow(-1, half, half);
    Tensor::cat(&[x2.neg(), x1], -1)
}

impl Transformer {
    /// Creates the variables under `p` (use `vs.root()`), randomly initialised like HF
    /// (normal(0, 0.02) weights, unit norms, zero biases). Load weights afterwards with
    /// [`crate::load_safetensors`] / [`crate::load_gguf_into`] or `VarStore::load`.
    pub fn new(p: &nn::Path, cfg: &ModelConfig) -> Result<Self, ModelError> {
        Self::with_init(
            p,
            cfg,
            Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        )
    }

    /// Like [`Transformer::new`] with the weight initialisation given (loaders use zeros).
    pub fn with_init(p: &nn::Path, cfg: &ModelConfig, init: Init) -> Result<Self, ModelError> {
        cfg.validate()?;
        let (h, d) = (cfg.hidden_size, cfg.head_dim);
        let model = p.sub("model");
        let embed = model
            .sub("embed_tokens")
            .var("weight", &[cfg.vocab_size, h], init);
        let ones = Init::Const(1.0);
        let mut layers = Vec::with_capacity(cfg.num_layers as usize);
        for i in 0..cfg.num_layers {
            let lp = model.sub("layers").sub(i);
            let at = lp.sub("self_attn");
            let mlp = lp.sub("mlp");
            let qkv_bias = cfg.attention_bias;
            let o_bias = cfg.attention_bias && cfg.arch == Arch::Llama;
            layers.push(Layer {
                q: Linear::new(at.sub("q_proj"), cfg.num_heads * d, h, qkv_bias, init),
                k: Linear::new(at.sub("k_proj"), cfg.num_kv_heads * d, h, qkv_bias, init),
                v: Linear::new(at.sub("v_proj"), cfg.num_kv_heads * d, h, qkv_bias, init),
                o: Linear::new(at.sub("o_proj"), h, cfg.num_heads * d, o_bias, init),
                q_norm: cfg
                    .qk_norm
                    .then(|| at.sub("q_norm").var("weight", &[d], ones)),
                k_norm: cfg
                    .qk_norm
                    .then(|| at.sub("k_norm").var("weight", &[d], ones)),
                input_norm: lp.sub("input_layernorm").var("weight", &[h], ones),
                post_norm: lp.sub("post_attention_layernorm").var("weight", &[h], ones),
                gate: Linear::new(mlp.sub("gate_proj"), cfg.intermediate_size, h, false, init),
                up: Linear::new(mlp.sub("up_proj"), cfg.intermediate_size, h, false, init),
                down: Linear::new(mlp.sub("down_proj"), h, cfg.intermediate_size, false, init),
            });
        }
        let norm = model.sub("norm").var("weight", &[h], ones);
        let lm_head = if cfg.tie_word_embeddings {
            embed.shallow_clone()
        } else {
            p.sub("lm_head").var("weight", &[cfg.vocab_size, h], init)
        };
        let device = p.device();
        let inv: Vec<f32> = cfg.inv_freq().iter().map(|&f| f as f32).collect();
        let inv_freq = Tensor::from_slice(&inv).to_device(device);
        Ok(Transformer {
            cfg: cfg.clone(),
            embed,
            layers,
            norm,
            lm_head,
            inv_freq,
            device,
        })
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The device the variables live on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The floating-point kind of the weights (follows `VarStore::bfloat16()` etc.).
    pub fn kind(&self) -> Kind {
        self.embed.kind()
    }

    /// An empty KV cache for `batch` sequences of up to `capacity` positions.
    pub fn new_cache(&self, batch: i64, capacity: i64) -> KvCache {
        let shape = [batch, self.cfg.num_kv_heads, capacity, self.cfg.head_dim];
        let opts = (self.kind(), self.device);
        let n = self.layers.len();
        KvCache {
            k: (0..n).map(|_| Tensor::zeros(shape, opts)).collect(),
            v: (0..n).map(|_| Tensor::zeros(shape, opts)).collect(),
            len: 0,
            capacity,
        }
    }

    fn rms(&self, x: &Tensor, w: &Tensor) -> Tensor {
        // at::rms_norm: computes in float, casts back to the input dtype, then scales by the
        // weight (the same order as HF's LlamaRMSNorm).
        let n = x.size()[x.dim() - 1];
        x.rms_norm([n], Some(w), self.cfg.rms_norm_eps)
    }

    /// cos/sin `[B, 1, T, head_dim]` in `kind` for int64 positions `[B, T]`, computed in f32 as HF does.
    fn rope(&self, positions: &Tensor, kind: Kind) -> (Tensor, Tensor) {
        let freqs = positions.to_kind(Kind::Float).unsqueeze(-1) * self.inv_freq.view([1, 1, -1]);
        let emb = Tensor::cat(&[&freqs, &freqs], -1).unsqueeze(1);
        (emb.cos().to_kind(kind), emb.sin().to_kind(kind))
    }

    /// Runs the stack up to the final norm. `cache` = (cache, bool mask `[B, T, len+T]`, true = attend) for the
    /// cached path; without it, causal attention over the T input positions.
    #[allow(clippy::assign_op_pattern)] // `+=` is in-place `add_` in tch: autograd needs the out-of-place add
    fn run(
        &self,
        input_ids: &Tensor,
        positions: &Tensor,
        mut cache: Option<(&mut KvCache, &Tensor)>,
    ) -> Tensor {
        let (b, t) = input_ids.size2().expect("input_ids must be [B, T]");
        let cfg = &self.cfg;
        let (nh, nkv, d) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);
        let gqa = nh != nkv;
        let mut x = Tensor::embedding(&self.embed, input_ids, -1, false, false);
        let kind = x.kind();
        let (cos, sin) = self.rope(positions, kind);
        let start = cache.as_ref().map(|(c, _)| c.len).unwrap_or(0);
        // Additive float mask [B, 1, Tq, Tk] built once (SDPA would convert a bool mask per layer).
        // The cached path attends over the cache rounded up to a multiple of ATTN_BUCKET
        // positions (unfilled ones masked out), so attention shapes change only every
        // ATTN_BUCKET steps: fused attention backends plan per shape, and a new shape every
        // decode step costs far more than the few masked keys.
        let att_len = cache.as_ref().map(|(c, _)| {
            ((start + t + ATTN_BUCKET - 1) / ATTN_BUCKET * ATTN_BUCKET).min(c.capacity)
        });
        let mask = cache.as_ref().map(|(_, m)| {
            let (mb, mq, mk) = m.size3().expect("mask is [B, T, L]");
            let full = att_len.unwrap_or(mk);
            let m = if full > mk {
                Tensor::cat(
                    &[
                        m.shallow_clone(),
                        Tensor::zeros([mb, mq, full - mk], (Kind::Bool, m.device())),
                    ],
                    -1,
                )
            } else {
                m.shallow_clone()
            };
            Tensor::zeros([mb, mq, full], (kind, m.device()))
                .masked_fill(&m.logical_not(), f64::NEG_INFINITY)
                .unsqueeze(1)
        });
        for (li, layer) in self.layers.iter().enumerate() {
            let hn = self.rms(&x, &layer.input_norm);
            let mut q = layer.q.forward(&hn).view([b, t, nh, d]);
            let mut k = layer.k.forward(&hn).view([b, t, nkv, d]);
            let v = layer.v.forward(&hn).view([b, t, nkv, d]).transpose(1, 2);
            if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                q = self.rms(&q, qn);
                k = self.rms(&k, kn);
            }
            let q = q.transpose(1, 2);
            let k = k.transpose(1, 2);
            let q = &q * &cos + rotate_half(&q) * &sin;
            let k = &k * &cos + rotate_half(&k) * &sin;
            let attn = match cache.as_mut() {
                None => Tensor::scaled_dot_product_attention::<Tensor>(
                    &q, &k, &v, None, 0.0, true, None, gqa,
                ),
                Some((c, _)) => {
                    c.k[li].narrow(2, start, t).copy_(&k);
                    c.v[li].narrow(2, start, t).copy_(&v);
                    let l = att_len.unwrap_or(start + t);
                    let mut kall = c.k[li].narrow(2, 0, l);
                    let mut vall = c.v[li].narrow(2, 0, l);
                    if gqa {
                        // Expand KV heads so the masked SDPA can use the fused kernels
                        // (expand + reshape: unlike repeat_interleave, no device sync).
                        let rep = nh / nkv;
                        kall = kall
                            .unsqueeze(2)
                            .expand([b, nkv, rep, l, d], false)
                            .reshape([b, nh, l, d]);
                        vall = vall
                            .unsqueeze(2)
                            .expand([b, nkv, rep, l, d], false)
                            .reshape([b, nh, l, d]);
                    }
                    Tensor::scaled_dot_product_attention(
                        &q,
                        &kall,
                        &vall,
                        mask.as_ref(),
                        0.0,
                        false,
                        None,
                        false,
                    )
                }
            };
            let attn = attn.transpose(1, 2).reshape([b, t, nh * d]);
            // Not `+=`: tch maps it to the in-place `add_`, which breaks autograd here.
            x = x + layer.o.forward(&attn);
            let hn = self.rms(&x, &layer.post_norm);
            let m = layer
                .down
                .forward(&(layer.gate.forward(&hn).silu() * layer.up.forward(&hn)));
            x = x + m;
        }
        if let Some((c, _)) = cache {
            c.len = start + t;
        }
        self.rms(&x, &self.norm)
    }

    /// Final hidden states `[B, T, hidden]` (after the last norm) for right-padded ids
    /// `[B, T]`, positions `0..T`: [`CausalLm::forward`] without the vocabulary projection, so
    /// a trainer can compute the LM head and the loss in chunks ([`Transformer::logits`]).
    pub fn hidden_states(&self, input_ids: &Tensor) -> Tensor {
        let (b, t) = input_ids.size2().expect("input_ids must be [B, T]");
        let pos = Tensor::arange(t, (Kind::Int64, input_ids.device()))
            .unsqueeze(0)
            .expand([b, t], false);
        self.run(input_ids, &pos, None)
    }

    /// Logits for hidden states `[.., hidden]` (the LM head, tied or not).
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        hidden.linear::<Tensor>(&self.lm_head, None)
    }

    /// The LM head weight `[vocab, hidden]` (the embedding when tied).
    pub fn lm_head_weight(&self) -> &Tensor {
        &self.lm_head
    }

    /// Logits `[B, T, V]` with causal attention and explicit int64 positions `[B, T]`
    /// (no padding mask: rows are independent, position ids may differ per row).
    pub fn forward_with_positions(&self, input_ids: &Tensor, positions: &Tensor) -> Tensor {
        self.logits(&self.run(input_ids, positions, None))
    }

    /// Cached forward for generation. `input_ids`, `positions`: int64 `[B, T]`;
    /// `attn_mask`: bool `[B, T, cache.len() + T]` (true = may attend) over the cached keys
    /// followed by the new ones. Appends the new keys/values to `cache` and returns logits
    /// `[B, T, V]`. Every query row must be allowed at least one key.
    pub fn forward_cached(
        &self,
        input_ids: &Tensor,
        positions: &Tensor,
        attn_mask: &Tensor,
        cache: &mut KvCache,
    ) -> Result<Tensor, ModelError> {
        let (b, t) = input_ids.size2().map_err(|_| {
            ModelError::InvalidArgument(format!(
                "input_ids must be [B, T], got {:?}",
                input_ids.size()
            ))
        })?;
        if positions.size() != [b, t] {
            return Err(ModelError::InvalidArgument(format!(
                "positions {:?} != input_ids {:?}",
                positions.size(),
                [b, t]
            )));
        }
        if cache.batch_size() != b || cache.len + t > cache.capacity {
            return Err(ModelError::InvalidArgument(format!(
                "cache holds batch {} with {}/{} positions; cannot append [{b}, {t}]",
                cache.batch_size(),
                cache.len,
                cache.capacity
            )));
        }
        if attn_mask.size() != [b, t, cache.len + t] {
            return Err(ModelError::InvalidArgument(format!(
                "attn_mask {:?} != [{b}, {t}, {}]",
                attn_mask.size(),
                cache.len + t
            )));
        }
        let mask = attn_mask.to_kind(Kind::Bool);
        Ok(self.logits(&self.run(input_ids, positions, Some((cache, &mask)))))
    }
}

impl CausalLm for Transformer {
    fn forward(&self, input_ids: &Tensor) -> Tensor {
        let (b, t) = input_ids.size2().expect("input_ids must be [B, T]");
        let pos = Tensor::arange(t, (Kind::Int64, input_ids.device()))
            .unsqueeze(0)
            .expand([b, t], false);
        self.logits(&self.run(input_ids, &pos, None))
    }
    fn vocab_size(&self) -> i64 {
        self.cfg.vocab_size
    }
}
