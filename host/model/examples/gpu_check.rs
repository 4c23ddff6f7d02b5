//! Device checks and a training-throughput benchmark, for a CUDA machine (runs on CPU too,
//! with the benchmark shrunk):
//!
//! ```sh
//! cargo run --release -p eigenbox-model --example gpu_check            # checks + benchmark
//! cargo run --release -p eigenbox-model --example gpu_check -- checks  # checks only
//! ```
//!
//! Checks on the device: cached greedy generation = uncached argmax decoding, batched = one by
//! one (f32 and bf16), device logits = CPU logits (f32). Benchmark: bf16 forward + backward of
//! a next-token cross-entropy on random tokens for SmolLM2-360M / Qwen2.5-0.5B / Qwen3-0.6B
//! shaped models, reported as tokens/s and MFU (against 989 TFLOP/s dense bf16, H100/H200 SXM),
//! and batched sampling throughput.

use eigenbox_model::{
    best_device, generate, sample_logits, Arch, CausalLm, ModelConfig, SamplingParams, Transformer,
};
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};

fn sync(d: Device) {
    if let Device::Cuda(i) = d {
        tch::Cuda::synchronize(i as i64);
    }
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

fn uncached(m: &Transformer, prompt: &[i64], n: usize) -> Vec<i64> {
    let mut seq = prompt.to_vec();
    tch::no_grad(|| {
        for _ in 0..n {
            let ids = Tensor::from_slice(&seq).view([1, -1]).to_device(m.device());
            let t = m
                .forward(&ids)
                .select(1, seq.len() as i64 - 1)
                .argmax(-1, false)
                .int64_value(&[0]);
            seq.push(t);
        }
    });
    seq[prompt.len()..].to_vec()
}

fn checks(dev: Device) -> bool {
    let mut ok = true;
    let prompts = vec![
        vec![5i64, 9, 2, 44, 17, 3, 8],
        vec![1i64],
        vec![60i64, 61, 62],
    ];
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Qwen3] {
        for kind in [Kind::Float, Kind::BFloat16] {
            tch::manual_seed(3);
            let mut vs = VarStore::new(dev);
            let m = Transformer::with_init(
                &vs.root(),
                &ModelConfig::tiny(arch, 97),
                tch::nn::Init::Randn {
                    mean: 0.0,
                    stdev: 0.3,
                },
            )
            .unwrap();
            if kind != Kind::Float {
                vs.set_kind(kind);
            }
            let batched = generate(&m, &prompts, &greedy(16)).unwrap();
            let (mut same_solo, mut same_uncached) = (0, 0);
            for (i, p) in prompts.iter().enumerate() {
                let solo = generate(&m, std::slice::from_ref(p), &greedy(16)).unwrap();
                same_solo += (solo[0].tokens == batched[i].tokens) as usize;
                same_uncached += (uncached(&m, p, 16) == batched[i].tokens) as usize;
            }
            let pass = kind != Kind::Float || (same_solo == 3 && same_uncached == 3);
            ok &= pass;
            println!(
                "check {arch:?} {kind:?} on {dev:?}: batched==solo {same_solo}/3, cached==uncached {same_uncached}/3 {}",
                if pass { "ok" } else { "FAIL" }
            );
        }
        // Device vs CPU logits, f32.
        tch::manual_seed(4);
        let vs_cpu = VarStore::new(Device::Cpu);
        let m_cpu = Transformer::new(&vs_cpu.root(), &ModelConfig::tiny(arch, 97)).unwrap();
        let mut vs_dev = VarStore::new(dev);
        let m_dev = Transformer::new(&vs_dev.root(), &ModelConfig::tiny(arch, 97)).unwrap();
        vs_dev.copy(&vs_cpu).unwrap();
        let ids = Tensor::randint(97, [2, 33], (Kind::Int64, Device::Cpu));
        let a = tch::no_grad(|| m_cpu.forward(&ids));
        let b = tch::no_grad(|| m_dev.forward(&ids.to_device(dev))).to_device(Device::Cpu);
        let d = (a - b).abs().max().double_value(&[]);
        let pass = d < 1e-3;
        ok &= pass;
        println!(
            "check {arch:?} device-vs-cpu f32 logits max|diff| {d:.2e} {}",
            if pass { "ok" } else { "FAIL" }
        );
    }
    ok
}

fn bench_cfg(name: &str) -> ModelConfig {
    let base = |arch| ModelConfig::tiny(arch, 1);
    match name {
        "smollm2-360m" => ModelConfig {
            vocab_size: 49152,
            hidden_size: 960,
            intermediate_size: 2560,
            num_layers: 32,
            num_heads: 15,
            num_kv_heads: 5,
            head_dim: 64,
            rope_theta: 100000.0,
            tie_word_embeddings: true,
            max_position_embeddings: 8192,
            ..base(Arch::Llama)
        },
        "qwen2.5-0.5b" => ModelConfig {
            vocab_size: 151936,
            hidden_size: 896,
            intermediate_size: 4864,
            num_layers: 24,
            num_heads: 14,
            num_kv_heads: 2,
            head_dim: 64,
            rope_theta: 1e6,
            tie_word_embeddings: true,
            max_position_embeddings: 32768,
            ..base(Arch::Qwen2)
        },
        "qwen3-0.6b" => ModelConfig {
            vocab_size: 151936,
            hidden_size: 1024,
            intermediate_size: 3072,
            num_layers: 28,
            num_heads: 16,
            num_kv_heads: 8,
            head_dim: 128,
            rope_theta: 1e6,
            tie_word_embeddings: true,
            max_position_embeddings: 40960,
            ..base(Arch::Qwen3)
        },
        _ => panic!("unknown bench config {name}"),
    }
}

fn bench(dev: Device, name: &str, b: i64, t: i64, steps: usize) {
    let cfg = bench_cfg(name);
    tch::manual_seed(0);
    let mut vs = VarStore::new(dev);
    let m = Transformer::new(&vs.root(), &cfg).unwrap();
    vs.bfloat16();
    let ids = Tensor::randint(cfg.vocab_size, [b, t + 1], (Kind::Int64, dev));
    let inp = ids.narrow(1, 0, t);
    let tgt = ids.narrow(1, 1, t).reshape([-1]);
    let vars: Vec<Tensor> = vs.trainable_variables();
    let step = || {
        for v in &vars {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let logits = m.forward(&inp);
        let loss = logits
            .reshape([-1, cfg.vocab_size])
            .to_kind(Kind::Float)
            .cross_entropy_for_logits(&tgt);
        loss.backward();
    };
    // Variant: LM head + loss in 4 chunks over the hidden states (what a trainer can do with
    // Transformer::hidden_states / logits to avoid materialising all logits in f32).
    #[allow(clippy::assign_op_pattern)]
    let step_chunked = || {
        for v in &vars {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let h = m.hidden_states(&inp).reshape([b * t, cfg.hidden_size]);
        let n = b * t / 4;
        let mut total = Tensor::zeros([], (Kind::Float, dev));
        for c in 0..4 {
            let logits = m.logits(&h.narrow(0, c * n, n)).to_kind(Kind::Float);
            total = total
                + logits.cross_entropy_loss::<Tensor>(
                    &tgt.narrow(0, c * n, n),
                    None,
                    tch::Reduction::Sum,
                    -100,
                    0.0,
                );
        }
        (total / (b * t) as f64).backward();
    };
    step_chunked();
    sync(dev);
    let t0 = Instant::now();
    for _ in 0..steps {
        step_chunked();
    }
    sync(dev);
    println!(
        "bench {name} bf16 fwd+bwd, chunked head+CE: {:.1} ms/step",
        t0.elapsed().as_secs_f64() * 1e3 / steps as f64
    );
    for _ in 0..2 {
        step();
    }
    sync(dev);
    let t0 = Instant::now();
    for _ in 0..steps {
        step();
    }
    sync(dev);
    let dt = t0.elapsed().as_secs_f64() / steps as f64;
    let tokens = (b * t) as f64;
    // Matmul parameters (all but the embedding lookup; the tied head counts as a matmul).
    let n_mm = (cfg.num_parameters()
        - if cfg.tie_word_embeddings {
            0
        } else {
            cfg.vocab_size * cfg.hidden_size
        }) as f64;
    let attn = 6.0 * cfg.num_layers as f64 * (cfg.num_heads * cfg.head_dim) as f64 * t as f64; // causal: half of 12·L·d·T
    let flops = (6.0 * n_mm + attn) * tokens;
    let mfu = flops / dt / 989e12;
    println!(
        "bench {name} bf16 fwd+bwd B={b} T={t}: {:.1} ms/step, {:.0} tok/s, {:.1} TFLOP/s, MFU {:.1}% (6N+attn, N={:.0}M)",
        dt * 1e3,
        tokens / dt,
        flops / dt / 1e12,
        mfu * 100.0,
        n_mm / 1e6
    );
    // Forward only (no grad), for reference.
    let _ = tch::no_grad(|| m.forward(&inp));
    sync(dev);
    let t0 = Instant::now();
    tch::no_grad(|| {
        for _ in 0..steps {
            let _ = m.forward(&inp);
        }
    });
    sync(dev);
    let df = t0.elapsed().as_secs_f64() / steps as f64;
    println!("bench {name} bf16 forward-only: {:.1} ms/step", df * 1e3);
    // Sampling throughput.
    for nb in if dev == Device::Cpu {
        vec![2i64]
    } else {
        vec![64, 256]
    } {
        let new = if dev == Device::Cpu { 8 } else { 128 };
        let prompts: Vec<Vec<i64>> = (0..nb)
            .map(|i| {
                (0..(64 + i % 7))
                    .map(|j| (i * 131 + j * 17) % cfg.vocab_size)
                    .collect()
            })
            .collect();
        let p = SamplingParams {
            temperature: 1.0,
            top_p: 0.95,
            max_new_tokens: new as usize,
            seed: 1,
            ..greedy(0)
        };
        let _ = generate(
            &m,
            &prompts[..2],
            &SamplingParams {
                max_new_tokens: 4,
                ..p.clone()
            },
        )
        .unwrap();
        sync(dev);
        let t0 = Instant::now();
        let g = generate(&m, &prompts, &p).unwrap();
        sync(dev);
        let dg = t0.elapsed().as_secs_f64();
        let n: usize = g.iter().map(|x| x.tokens.len()).sum();
        println!("bench {name} bf16 generate: {nb} prompts x {new} new tokens (top-p 0.95): {:.2} s, {:.0} tok/s", dg, n as f64 / dg);
    }
}

/// SDPA alone, fwd+bwd: native GQA (`enable_gqa`) vs expanded KV heads.
fn bench_attention(dev: Device) {
    let (b, nh, nkv, t, d) = (8i64, 14i64, 2i64, 2048i64, 64i64);
    let opts = (Kind::BFloat16, dev);
    let q = Tensor::randn([b, nh, t, d], opts).set_requires_grad(true);
    let k = Tensor::randn([b, nkv, t, d], opts).set_requires_grad(true);
    let v = Tensor::randn([b, nkv, t, d], opts).set_requires_grad(true);
    for gqa in [true, false] {
        let run = || {
            let (kk, vv) = if gqa {
                (k.shallow_clone(), v.shallow_clone())
            } else {
                (
                    k.repeat_interleave_self_int(nh / nkv, 1, None),
                    v.repeat_interleave_self_int(nh / nkv, 1, None),
                )
            };
            let o = Tensor::scaled_dot_product_attention::<Tensor>(
                &q, &kk, &vv, None, 0.0, true, None, gqa,
            );
            o.sum(Kind::Float).backward();
        };
        run();
        sync(dev);
        let t0 = Instant::now();
        for _ in 0..10 {
            run();
        }
        sync(dev);
        println!(
            "bench sdpa causal B={b} H={nh}/{nkv} T={t} d={d} fwd+bwd, enable_gqa={gqa}: {:.2} ms",
            t0.elapsed().as_secs_f64() * 100.0
        );
    }
}

/// Where a decode step's time goes: the cached forward, the sampler, host<->device copies.
fn profile_decode(dev: Device, name: &str, nb: i64) {
    let cfg = bench_cfg(name);
    tch::manual_seed(0);
    let mut vs = VarStore::new(dev);
    let m = Transformer::new(&vs.root(), &cfg).unwrap();
    vs.bfloat16();
    let plen = 64;
    let steps = 32;
    let time = |label: &str, f: &mut dyn FnMut()| {
        f();
        sync(dev);
        let t0 = Instant::now();
        for _ in 0..steps {
            f();
        }
        sync(dev);
        println!(
            "profile {name} B={nb} {label}: {:.2} ms",
            t0.elapsed().as_secs_f64() * 1e3 / steps as f64
        );
    };
    tch::no_grad(|| {
        let ids = Tensor::randint(cfg.vocab_size, [nb, plen], (Kind::Int64, dev));
        let pos = Tensor::arange(plen, (Kind::Int64, dev))
            .unsqueeze(0)
            .expand([nb, plen], false);
        let mask = Tensor::ones([plen, plen], (Kind::Bool, dev))
            .tril(0)
            .unsqueeze(0)
            .expand([nb, plen, plen], false);
        let mut cache = m.new_cache(nb, plen + steps as i64 + 8);
        let logits = m.forward_cached(&ids, &pos, &mask, &mut cache).unwrap();
        let last = logits.select(1, plen - 1);
        let one = Tensor::randint(cfg.vocab_size, [nb, 1], (Kind::Int64, dev));
        let step = |cache: &mut eigenbox_model::KvCache| {
            let l = cache.len();
            let p = Tensor::full([nb, 1], l, (Kind::Int64, dev));
            let mk = Tensor::ones([nb, 1, l + 1], (Kind::Bool, dev));
            m.forward_cached(&one, &p, &mk, cache).unwrap()
        };
        // Time the cached forward without syncing per step (append 32 + 1 warm-up positions).
        time("forward_cached step (no host sync)", &mut || {
            if cache.len() < cache.capacity() {
                let _ = step(&mut cache);
            }
        });
        let u = vec![0.5f64; nb as usize];
        let p_top = SamplingParams {
            temperature: 1.0,
            top_p: 0.95,
            max_new_tokens: 1,
            ..greedy(1)
        };
        let p_t = SamplingParams {
            temperature: 1.0,
            top_p: 1.0,
            max_new_tokens: 1,
            ..greedy(1)
        };
        time("sample top-p 0.95 (incl. D2H)", &mut || {
            let _ = sample_logits(&last, &p_top, &u);
        });
        time("sample no top-p (incl. D2H)", &mut || {
            let _ = sample_logits(&last, &p_t, &u);
        });
        time("sample greedy (incl. D2H)", &mut || {
            let _ = sample_logits(&last, &greedy(1), &u);
        });
        // Raw SDPA at decode shapes: a new key length every call vs a fixed one.
        let (nh, d) = (cfg.num_heads, cfg.head_dim);
        let q = Tensor::randn([nb, nh, 1, d], (Kind::BFloat16, dev));
        let kv = Tensor::randn([nb, nh, 512, d], (Kind::BFloat16, dev));
        let mut l = 64i64;
        time(
            "raw SDPA x24, float mask, key length +1 per call",
            &mut || {
                l += 1;
                let k = kv.narrow(2, 0, l);
                let mk = Tensor::zeros([nb, 1, 1, l], (Kind::BFloat16, dev));
                for _ in 0..24 {
                    let _ = Tensor::scaled_dot_product_attention(
                        &q,
                        &k,
                        &k,
                        Some(&mk),
                        0.0,
                        false,
                        None,
                        false,
                    );
                }
            },
        );
        time(
            "raw SDPA x24, float mask, fixed key length 192",
            &mut || {
                let k = kv.narrow(2, 0, 192);
                let mk = Tensor::zeros([nb, 1, 1, 192], (Kind::BFloat16, dev));
                for _ in 0..24 {
                    let _ = Tensor::scaled_dot_product_attention(
                        &q,
                        &k,
                        &k,
                        Some(&mk),
                        0.0,
                        false,
                        None,
                        false,
                    );
                }
            },
        );
        let host: Vec<i64> = (0..nb).collect();
        time("H2D + D2H of [B] ids", &mut || {
            let t = Tensor::from_slice(&host).to_device(dev);
            let _ = t.to_device(Device::Cpu);
        });
    });
}

fn main() {
    let dev = best_device();
    if std::env::args().any(|a| a == "profile") {
        for nb in [64, 256] {
            profile_decode(dev, "qwen2.5-0.5b", nb);
        }
        if std::env::args().any(|a| a == "checks") {
            std::process::exit(if checks(dev) { 0 } else { 1 });
        }
        return;
    }
    println!(
        "device: {dev:?} (cudnn: {})",
        tch::Cuda::cudnn_is_available()
    );
    let only_checks = std::env::args().any(|a| a == "checks");
    let ok = checks(dev);
    if !only_checks {
        let cpu = dev == Device::Cpu;
        let configs: Vec<String> = std::env::args().skip(1).filter(|a| a != "checks").collect();
        let configs = if configs.is_empty() {
            vec![
                "smollm2-360m".into(),
                "qwen2.5-0.5b".into(),
                "qwen3-0.6b".into(),
            ]
        } else {
            configs
        };
        if !cpu {
            bench_attention(dev);
        }
        for c in &configs {
            let (b, t, steps) = if cpu { (1, 64, 1) } else { (8, 2048, 5) };
            bench(dev, c, b, t, steps);
            if cpu {
                break;
            }
        }
    }
    if !ok {
        std::process::exit(1);
    }
}
