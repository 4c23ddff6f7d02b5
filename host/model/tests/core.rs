//! Transformer forward, KV cache and generation on tiny random models (CPU).

use eigenbox_model::{
    generate, Arch, CausalLm, FinishReason, ModelConfig, SamplingParams, Transformer,
};
use tch::{nn::VarStore, Device, Kind, Tensor};

fn tiny(arch: Arch, seed: i64) -> (VarStore, Transformer) {
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    // Larger init than HF's 0.02 so logits are far from uniform and argmax is well separated.
    let cfg = ModelConfig::tiny(arch, 97);
    let m = Transformer::with_init(
        &vs.root(),
        &cfg,
        tch::nn::Init::Randn {
            mean: 0.0,
            stdev: 0.3,
        },
    )
    .unwrap();
    (vs, m)
}

fn greedy_uncached(m: &Transformer, prompt: &[i64], n: usize) -> Vec<i64> {
    let mut seq = prompt.to_vec();
    let mut out = vec![];
    tch::no_grad(|| {
        for _ in 0..n {
            let ids = Tensor::from_slice(&seq).view([1, -1]);
            let logits = m.forward(&ids);
            let t = logits
                .select(1, seq.len() as i64 - 1)
                .argmax(-1, false)
                .int64_value(&[0]);
            seq.push(t);
            out.push(t);
        }
    });
    out
}

fn greedy(n: usize) -> SamplingParams {
    SamplingParams {
        temperature: 0.0,
        top_p: 1.0,
        max_new_tokens: n,
        stop_token_ids: vec![],
        stop_sequences: vec![],
        seed: 0,
    }
}

#[test]
fn variable_names_are_hf_names() {
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Qwen3] {
        let (vs, m) = tiny(arch, 0);
        let vars = vs.variables();
        let n: i64 = vars.values().map(|t| t.numel() as i64).sum();
        assert_eq!(n, m.config().num_parameters(), "{arch:?}");
        assert!(vars.contains_key("model.embed_tokens.weight"));
        assert!(vars.contains_key("model.layers.1.self_attn.o_proj.weight"));
        assert!(vars.contains_key("model.layers.0.mlp.gate_proj.weight"));
        assert!(vars.contains_key("model.layers.0.post_attention_layernorm.weight"));
        assert!(vars.contains_key("model.norm.weight"));
        assert_eq!(vars.contains_key("lm_head.weight"), arch == Arch::Llama);
        assert_eq!(
            vars.contains_key("model.layers.0.self_attn.q_proj.bias"),
            arch == Arch::Qwen2
        );
        assert!(!vars.contains_key("model.layers.0.self_attn.o_proj.bias"));
        assert_eq!(
            vars.contains_key("model.layers.0.self_attn.k_norm.weight"),
            arch == Arch::Qwen3
        );
    }
}

#[test]
fn forward_shapes_causality_and_bf16() {
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Qwen3] {
        let (mut vs, m) = tiny(arch, 1);
        let ids = Tensor::from_slice(&[3i64, 7, 11, 13, 17, 19, 23, 29]).view([2, 4]);
        let a = m.forward(&ids);
        assert_eq!(a.size(), [2, 4, 97]);
        assert_eq!(a.kind(), Kind::Float);
        // Causal: changing the last token does not change earlier logits.
        let ids2 = Tensor::from_slice(&[3i64, 7, 11, 50, 17, 19, 23, 60]).view([2, 4]);
        let b = m.forward(&ids2);
        let d = (a.narrow(1, 0, 3) - b.narrow(1, 0, 3))
            .abs()
            .max()
            .double_value(&[]);
        assert!(d < 1e-5, "{arch:?}: {d}");
        // Gradients flow to every variable.
        let loss = a.log_softmax(-1, Kind::Float).mean(Kind::Float);
        loss.backward();
        for (name, v) in vs.variables() {
            assert!(v.grad().defined(), "{arch:?}: no grad for {name}");
        }
        // bf16 forward is close to f32.
        vs.bfloat16();
        let c = tch::no_grad(|| m.forward(&ids));
        assert_eq!(c.kind(), Kind::BFloat16);
        let d = (c.to_kind(Kind::Float) - a.detach())
            .abs()
            .max()
            .double_value(&[]);
        assert!(d < 0.25, "{arch:?}: bf16 vs f32 max diff {d}");
    }
}

#[test]
fn cached_greedy_equals_uncached_argmax() {
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Qwen3] {
        let (_vs, m) = tiny(arch, 2);
        let prompt = vec![5i64, 9, 2, 44, 17];
        let want = greedy_uncached(&m, &prompt, 20);
        let got = generate(&m, std::slice::from_ref(&prompt), &greedy(20)).unwrap();
        assert_eq!(got[0].tokens, want, "{arch:?}");
        assert_eq!(got[0].finish, FinishReason::Length);
        assert_eq!(got[0].logprobs.len(), 20);
        assert!(got[0].logprobs.iter().all(|l| *l <= 0.0 && l.is_finite()));
    }
}

#[test]
fn batched_equals_one_by_one() {
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Qwen3] {
        let (_vs, m) = tiny(arch, 3);
        let prompts = vec![
            vec![5i64, 9, 2, 44, 17, 3, 8],
            vec![1i64],
            vec![60i64, 61, 62],
        ];
        for params in [
            greedy(12),
            SamplingParams {
                temperature: 0.9,
                top_p: 0.8,
                max_new_tokens: 12,
                seed: 7,
                ..greedy(0)
            },
        ] {
            let batched = generate(&m, &prompts, &params).unwrap();
            for (i, p) in prompts.iter().enumerate() {
                // Row i uses the RNG stream of row i: call with dummy rows in front.
                let mut solo_prompts = vec![vec![1i64]; i];
                solo_prompts.push(p.clone());
                let solo_all = generate(&m, &solo_prompts, &params).unwrap();
                let solo = &solo_all[i];
                assert_eq!(
                    batched[i].tokens, solo.tokens,
                    "{arch:?} row {i} {params:?}"
                );
                for (a, b) in batched[i].logprobs.iter().zip(&solo.logprobs) {
                    assert!((a - b).abs() < 1e-4, "{arch:?} row {i}: {a} vs {b}");
                }
            }
            if params.temperature == 0.0 {
                for (i, p) in prompts.iter().enumerate() {
                    assert_eq!(
                        batched[i].tokens,
                        greedy_uncached(&m, p, 12),
                        "{arch:?} row {i}"
                    );
                }
            }
        }
    }
}

#[test]
fn sampling_is_seeded_and_logprobs_are_temperature_scaled() {
    let (_vs, m) = tiny(Arch::Qwen3, 4);
    let prompt = vec![vec![1i64, 2, 3]];
    let p = SamplingParams {
        temperature: 0.7,
        top_p: 1.0,
        max_new_tokens: 10,
        seed: 11,
        ..greedy(0)
    };
    let a = generate(&m, &prompt, &p).unwrap();
    let b = generate(&m, &prompt, &p).unwrap();
    assert_eq!(a, b);
    let c = generate(
        &m,
        &prompt,
        &SamplingParams {
            seed: 12,
            ..p.clone()
        },
    )
    .unwrap();
    assert_ne!(a[0].tokens, c[0].tokens);
    // Same prompt repeated in one batch: different streams per row.
    let g = generate(
        &m,
        &vec![prompt[0].clone(); 4],
        &SamplingParams {
            temperature: 1.5,
            ..p.clone()
        },
    )
    .unwrap();
    assert!(g.iter().any(|x| x.tokens != g[0].tokens));
    // Logprob of each sampled token = log_softmax(logits / T) of the full sequence so far.
    let mut seq = prompt[0].clone();
    for (t, lp) in a[0].tokens.iter().zip(&a[0].logprobs) {
        let logits = tch::no_grad(|| m.forward(&Tensor::from_slice(&seq).view([1, -1])));
        let want = (logits.select(1, seq.len() as i64 - 1) / 0.7)
            .log_softmax(-1, Kind::Float)
            .double_value(&[0, *t]);
        assert!((want - *lp as f64).abs() < 1e-4, "{want} vs {lp}");
        seq.push(*t);
    }
    // top_p tiny = greedy.
    let t = generate(
        &m,
        &prompt,
        &SamplingParams {
            top_p: 1e-9,
            ..p.clone()
        },
    )
    .unwrap();
    assert_eq!(
        t[0].tokens,
        generate(&m, &prompt, &greedy(10)).unwrap()[0].tokens
    );
}

#[test]
fn stop_tokens_and_sequences() {
    let (_vs, m) = tiny(Arch::Llama, 5);
    let prompt = vec![vec![4i64, 8, 15, 16, 23, 42]];
    let full = generate(&m, &prompt, &greedy(16)).unwrap().remove(0);
    let stop = full.tokens[5];
    let first = full.tokens.iter().position(|&t| t == stop).unwrap();
    let g = generate(
        &m,
        &prompt,
        &SamplingParams {
            stop_token_ids: vec![stop],
            ..greedy(16)
        },
    )
    .unwrap()
    .remove(0);
    assert_eq!(g.tokens, full.tokens[..=first].to_vec());
    assert_eq!(g.finish, FinishReason::Stop);
    let seq = full.tokens[3..5].to_vec();
    let g = generate(
        &m,
        &prompt,
        &SamplingParams {
            stop_sequences: vec![vec![], seq.clone()],
            ..greedy(16)
        },
    )
    .unwrap()
    .remove(0);
    assert!(g.tokens.ends_with(&seq));
    assert!(g.tokens.len() <= 5);
    assert_eq!(g.finish, FinishReason::Stop);
    assert_eq!(g.tokens[..], full.tokens[..g.tokens.len()]);
    // Mixed batch: one row stops early, the other runs to the limit and still matches solo.
    let prompts = vec![prompt[0].clone(), vec![70i64, 71]];
    let p = SamplingParams {
        stop_token_ids: vec![stop],
        ..greedy(16)
    };
    let both = generate(&m, &prompts, &p).unwrap();
    let solo = generate(&m, &prompts[1..], &p).unwrap();
    assert_eq!(both[1].tokens, solo[0].tokens);
    // Errors and edge cases.
    assert!(generate(&m, &[vec![]], &greedy(4)).is_err());
    assert!(generate(&m, &[vec![1000]], &greedy(4)).is_err());
    assert!(generate(&m, &prompt, &greedy(0)).unwrap()[0]
        .tokens
        .is_empty());
}

#[test]
fn hidden_states_and_cached_api() {
    let (_vs, m) = tiny(Arch::Qwen2, 6);
    let ids = Tensor::from_slice(&[3i64, 7, 11, 13, 17, 19]).view([2, 3]);
    let a = tch::no_grad(|| m.forward(&ids));
    let h = tch::no_grad(|| m.hidden_states(&ids));
    assert_eq!(h.size(), [2, 3, 64]);
    assert!(tch::no_grad(|| m.logits(&h)).allclose(&a, 1e-6, 1e-6, false));
    assert_eq!(m.lm_head_weight().size(), [97, 64]);
    // Explicit positions 0..T = forward.
    let pos = Tensor::arange(3, (Kind::Int64, Device::Cpu))
        .unsqueeze(0)
        .expand([2, 3], false);
    assert!(tch::no_grad(|| m.forward_with_positions(&ids, &pos)).allclose(&a, 1e-6, 1e-6, false));
    // forward_cached in two chunks = forward.
    let mut cache = m.new_cache(2, 8);
    let causal = |q: i64, k0: i64| {
        Tensor::ones([q, k0 + q], (Kind::Bool, Device::Cpu))
            .tril(k0)
            .unsqueeze(0)
            .expand([2, q, k0 + q], false)
    };
    let first = tch::no_grad(|| {
        m.forward_cached(
            &ids.narrow(1, 0, 2),
            &pos.narrow(1, 0, 2),
            &causal(2, 0),
            &mut cache,
        )
    })
    .unwrap();
    let second = tch::no_grad(|| {
        m.forward_cached(
            &ids.narrow(1, 2, 1),
            &pos.narrow(1, 2, 1),
            &causal(1, 2),
            &mut cache,
        )
    })
    .unwrap();
    assert_eq!(cache.len(), 3);
    let both = Tensor::cat(&[first, second], 1);
    assert!(both.allclose(&a, 1e-5, 1e-5, false));
    // Bad shapes are errors, not panics.
    assert!(m
        .forward_cached(&ids, &pos, &causal(3, 0), &mut m.new_cache(1, 8))
        .is_err());
    assert!(m
        .forward_cached(&ids, &pos, &causal(2, 0), &mut m.new_cache(2, 8))
        .is_err());
    assert!(m
        .forward_cached(&ids, &pos, &causal(3, 0), &mut m.new_cache(2, 2))
        .is_err());
}
