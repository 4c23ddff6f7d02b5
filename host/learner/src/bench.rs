//! The benchmark behind the `learner-bench` binary: an SFT step (forward + backward + AdamW), a GRPO step
//! (forward for new log probabilities against given old ones, clipped loss, backward, AdamW)
//! and batched KV-cache generation, on a randomly initialised Llama/Qwen-shaped model.
//!
//! MFU = achieved FLOP/s / peak dense bf16 FLOP/s, with training FLOPs per step
//!   6 · N_mm · tokens + 6 · L · H · d_head · T · tokens
//! (N_mm: parameters in matrix products = all but the input embedding, LM head counted even when
//! tied; the attention term is the causal half of PaLM's 12 · L · H · d_head · T per token) and
//! generation FLOPs 2 · N_mm per generated token (attention over the cache not counted).
//!
//! The model is [`eigenbox_model::Transformer`] with a [`crate::presets`] shape, bf16 weights
//! with fp32 AdamW masters and moments. On CUDA the default micro-batch is the largest power of
//! two (up to 32 sequences) whose estimated footprint fits in `--mem-budget-gb` (default 70 GB,
//! or 85% of the GPU's memory if less: 8 × 2048 tokens for Qwen2.5-0.5B, 4 × 2048 for 1.5B), and
//! a step holds at least 16 sequences (gradient accumulation over micro-batches otherwise,
//! which amortises the optimizer step over 32k tokens). A step that runs out of memory is
//! retried with half the micro-batch. GPU memory in use (nvidia-smi) is reported per mode.
//!
//! `learner-bench --preset qwen2.5-0.5b --out result.json` (CUDA)
//! `learner-bench --preset qwen2.5-1.5b --batch 8 --micro-batch 4 --seq 2048`
//! `learner-bench --preset tiny --device cpu` (smoke test)

use std::path::PathBuf;
use std::time::Instant;

use crate::data::Batch;
use crate::grpo::{GrpoConfig, GrpoTrainer, RolloutGroup, Trajectory};
use crate::loss::token_logprobs;
use crate::optim::{AdamWConfig, LrSchedule};
use crate::presets::{num_matmul_parameters, preset};
use crate::sft::{SftConfig, SftTrainer};
use crate::LearnerError;
use clap::Parser;
use eigenbox_model::{generate, CausalLm, ModelConfig, SamplingParams, Transformer};
use serde_json::json;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// Command-line options of `learner-bench`.
#[derive(Parser, Debug, Clone)]
#[command(about = "Benchmark SFT / GRPO steps and generation (tokens/s, MFU)")]
pub struct Args {
    /// tiny, qwen2.5-0.5b, qwen2.5-1.5b, qwen3-0.6b, llama-3.2-1b
    #[arg(long, default_value = "qwen2.5-0.5b")]
    pub preset: String,
    /// Sequences per optimizer step (default: max(16, micro-batch) on CUDA, 4 for tiny / CPU).
    #[arg(long)]
    pub batch: Option<i64>,
    /// Tokens per sequence (default 2048; 128 for tiny).
    #[arg(long)]
    pub seq: Option<i64>,
    /// Sequences per forward/backward (gradient accumulation when smaller than the batch);
    /// default on CUDA: the largest power of two up to 32 that fits `--mem-budget-gb`;
    /// elsewhere the batch.
    #[arg(long)]
    pub micro_batch: Option<i64>,
    /// GPU memory the default micro-batch may use (GB; capped at 85% of the GPU's memory).
    #[arg(long, default_value_t = 70.0)]
    pub mem_budget_gb: f64,
    /// Untimed iterations first.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed iterations.
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Generation batch (default 64; 4 for tiny).
    #[arg(long)]
    pub gen_batch: Option<i64>,
    /// Generation prompt length (default 128; 16 for tiny).
    #[arg(long)]
    pub gen_prompt: Option<i64>,
    /// New tokens per generated row (default 256; 16 for tiny).
    #[arg(long)]
    pub gen_new: Option<usize>,
    /// Peak dense bf16 TFLOP/s for MFU (default from the GPU name: H100/H200 SXM 989).
    #[arg(long)]
    pub peak_tflops: Option<f64>,
    /// auto, cpu, cuda
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// bf16 (bf16 weights, fp32 AdamW masters and moments) or fp32
    #[arg(long, default_value = "bf16")]
    pub dtype: String,
    /// Comma-separated subset of sft,grpo,gen
    #[arg(long, default_value = "sft,grpo,gen")]
    pub modes: String,
    /// Write the JSON result here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

fn gpu_name() -> Option<String> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name", "--format=csv,noheader"])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .to_string();
    (!s.is_empty()).then_some(s)
}

fn default_peak(name: Option<&str>, cuda: bool) -> (Option<f64>, String) {
    let Some(n) = name else {
        return if cuda {
            (
                Some(989.0),
                "unknown GPU, assumed H100 SXM dense bf16".into(),
            )
        } else {
            (None, "CPU: no peak (pass --peak-tflops)".into())
        };
    };
    let u = n.to_uppercase();
    let v = if u.contains("H200") || (u.contains("H100") && !u.contains("PCIE")) {
        989.0
    } else if u.contains("H100") {
        756.0
    } else if u.contains("B200") {
        2250.0
    } else if u.contains("A100") {
        312.0
    } else if u.contains("L40S") {
        362.0
    } else if u.contains("4090") {
        165.0
    } else {
        989.0
    };
    (Some(v), format!("dense bf16 peak for {n}"))
}

/// (total, used) memory of GPU 0 in MiB from nvidia-smi.
fn gpu_memory_mib() -> Option<(f64, f64)> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=memory.total,memory.used", "--format=csv,noheader,nounits", "-i", "0"])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.lines().next()?.split(',').map(|x| x.trim().parse::<f64>().ok());
    Some((it.next()??, it.next()??))
}

/// Rough training footprint (bytes) of `micro` sequences of `seq` tokens: bf16 weights and
/// gradients, fp32 masters, moments and update scratch (20 B/parameter), plus 15% allocator
/// slack on the activations saved for backward (about 9·hidden + 4·intermediate bf16 values per
/// token and layer; 51.5 KB measured against 55 KB estimated for the 0.5B layer shape) and on
/// the chunked head's buffers (16 B per logit of a chunk), plus 1 GB for the CUDA context.
pub fn estimate_train_bytes(cfg: &ModelConfig, micro: i64, seq: i64) -> f64 {
    let params = cfg.num_parameters() as f64;
    let per_token = (cfg.num_layers * (9 * cfg.hidden_size + 4 * cfg.intermediate_size)) as f64 * 2.0;
    let head = crate::head::CHUNK_ELEMENTS.min(micro * seq * cfg.vocab_size) as f64 * 16.0;
    params * 20.0 + (per_token * (micro * seq) as f64 + head) * 1.15 + 1e9
}

/// The largest power of two up to 32 sequences whose [`estimate_train_bytes`] fits `budget`.
pub fn default_micro_batch(cfg: &ModelConfig, seq: i64, budget: f64) -> i64 {
    let mut m = 32;
    while m > 1 && estimate_train_bytes(cfg, m, seq) > budget {
        m /= 2;
    }
    m
}

fn is_oom(msg: &str) -> bool {
    let m = msg.to_lowercase();
    m.contains("out of memory") || m.contains("outofmemory")
}

/// Runs `f`, turning a panic into an error message (tch panics on CUDA OOM in infallible ops).
fn catch<T>(f: impl FnOnce() -> Result<T, LearnerError>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())),
    }
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Runs the benchmark, prints a summary and returns (and writes, with `--out`) the JSON result.
pub fn run(args: Args) -> Result<serde_json::Value, LearnerError> {
    let cuda = tch::Cuda::is_available();
    println!(
        "tch::Cuda::is_available() = {cuda}, device_count = {}, cudnn = {}",
        tch::Cuda::device_count(),
        tch::Cuda::cudnn_is_available()
    );
    let device = match args.device.as_str() {
        "auto" => Device::cuda_if_available(),
        "cpu" => Device::Cpu,
        "cuda" if cuda => Device::Cuda(0),
        "cuda" => {
            return Err(LearnerError::Config(
                "--device cuda but CUDA is not available (see build.rs / LD_LIBRARY_PATH)".into(),
            ))
        }
        d => return Err(LearnerError::Config(format!("unknown --device {d}"))),
    };
    let tiny = args.preset == "tiny";
    let mut mc = preset(&args.preset)?;
    let seq = args.seq.unwrap_or(if tiny { 128 } else { 2048 });
    let gen_batch = args.gen_batch.unwrap_or(if tiny { 4 } else { 64 });
    let gen_prompt = args.gen_prompt.unwrap_or(if tiny { 16 } else { 128 });
    let gen_new = args.gen_new.unwrap_or(if tiny { 16 } else { 256 });
    mc.max_position_embeddings = mc.max_position_embeddings.max(seq).max(gen_prompt + gen_new as i64);
    let gpu_mem = if device.is_cuda() { gpu_memory_mib() } else { None };
    let (batch, micro) = match (args.batch, args.micro_batch) {
        (b, Some(m)) => {
            let b = b.unwrap_or(m);
            (b, m.clamp(1, b))
        }
        (Some(b), None) if !device.is_cuda() || tiny => (b, b),
        (None, None) if !device.is_cuda() || tiny => (4, 4),
        (b, None) => {
            let total_gb = gpu_mem.map_or(80.0, |(t, _)| t * 1.048_576e-3);
            let m = default_micro_batch(&mc, seq, args.mem_budget_gb.min(0.85 * total_gb) * 1e9);
            match b {
                Some(b) => {
                    let mut m = m.min(b).max(1);
                    while b % m != 0 {
                        m -= 1;
                    }
                    (b, m)
                }
                None => (m.max(16), m),
            }
        }
    };
    if batch % micro != 0 {
        return Err(LearnerError::Config(format!(
            "--batch {batch} must be a multiple of the micro-batch {micro}"
        )));
    }
    let kind = match args.dtype.as_str() {
        "bf16" => Kind::BFloat16,
        "fp32" => Kind::Float,
        d => {
            return Err(LearnerError::Config(format!(
                "unknown --dtype {d} (bf16, fp32)"
            )))
        }
    };
    let name = if device.is_cuda() { gpu_name() } else { None };
    let (peak, peak_note) = match args.peak_tflops {
        Some(p) => (Some(p), "from --peak-tflops".to_string()),
        None if device.is_cuda() => default_peak(name.as_deref(), true),
        None => default_peak(None, false),
    };
    println!("device {device:?} ({}), preset {}, dtype {:?}, batch {batch} x seq {seq} (micro-batch {micro}, estimated {:.1} GB)", name.as_deref().unwrap_or("-"), args.preset, kind, estimate_train_bytes(&mc, micro, seq) / 1e9);

    tch::manual_seed(args.seed as i64);
    let mut vs = VarStore::new(device);
    let model = Transformer::new(&vs.root(), &mc)
        .map_err(|e| LearnerError::Config(format!("model: {e}")))?;
    if kind != Kind::Float {
        vs.set_kind(kind);
    }
    let n_params: i64 = vs.variables().values().map(|t| t.numel() as i64).sum();
    let n_mm = num_matmul_parameters(&mc);
    println!(
        "parameters {n_params} ({:.3} B), matmul parameters {n_mm}",
        n_params as f64 / 1e9
    );
    println!("FLOPs: train 6*N_mm*tokens + 6*L*H*d_head*T*tokens (causal attention), generation 2*N_mm per token; peak {} TFLOP/s ({peak_note})", peak.map_or("n/a".into(), |p| p.to_string()));
    let attn_per_token = 6.0 * (mc.num_layers * mc.num_heads * mc.head_dim) as f64 * seq as f64;
    let train_flops_per_token = 6.0 * n_mm as f64 + attn_per_token;
    let modes: Vec<&str> = args.modes.split(',').map(str::trim).collect();
    let mut result = json!({
        "preset": args.preset, "device": format!("{device:?}"), "gpu_name": name,
        "cuda_available": cuda, "cuda_device_count": tch::Cuda::device_count(), "dtype": args.dtype,
        "parameters": n_params, "matmul_parameters": n_mm, "batch": batch, "seq": seq, "micro_batch": micro,
        "warmup": args.warmup, "iters": args.iters, "gpu_memory_total_mib": gpu_mem.map(|m| m.0), "estimated_train_bytes": estimate_train_bytes(&mc, micro, seq), "peak_tflops": peak, "peak_note": peak_note,
        "flops_formula": "train: 6*N_mm*tokens + 6*L*H*d_head*T*tokens (causal attention); generation: 2*N_mm per generated token",
    });
    let mfu = |flops_per_s: f64| peak.map(|p| flops_per_s / (p * 1e12));
    let tokens = (batch * seq) as f64;
    let sched = LrSchedule::constant(1e-5);
    let make_batches = |micro: i64| -> Vec<Batch> {
        (0..batch / micro)
            .map(|_| {
                let ids = Tensor::randint(mc.vocab_size, [micro, seq], (Kind::Int64, device));
                let mask = Tensor::ones([micro, seq], (Kind::Float, device));
                Batch {
                    ids,
                    mask,
                    trained_tokens: (micro * (seq - 1)) as usize,
                    tokens: (micro * seq) as usize,
                }
            })
            .collect()
    };

    if modes.contains(&"sft") {
        let cfg = SftConfig {
            micro_batch_size: micro as usize,
            grad_accum_steps: (batch / micro) as usize,
            max_grad_norm: Some(1.0),
            optimizer: AdamWConfig::default(),
            schedule: sched.clone(),
            progress: false,
            ..SftConfig::default()
        };
        let run_sft = |micro: i64| -> Result<(Vec<f64>, f64), LearnerError> {
            let cfg = SftConfig {
                micro_batch_size: micro as usize,
                grad_accum_steps: (batch / micro) as usize,
                ..cfg.clone()
            };
            let mut tr = SftTrainer::new(&vs, cfg)?;
            let batches = make_batches(micro);
            let mut times = vec![];
            let mut last_loss = f64::NAN;
            for i in 0..args.warmup + args.iters {
                sync(device);
                let t0 = Instant::now();
                let st = tr.step_batches(&model, &batches)?;
                sync(device);
                if i >= args.warmup {
                    times.push(t0.elapsed().as_secs_f64());
                }
                last_loss = st.loss;
            }
            Ok((times, last_loss))
        };
        let (mut times, last_loss, used_micro) = with_oom_retry("SFT", micro, run_sft)?;
        // Where the time goes, one micro-batch at a time (synchronised around each part).
        let breakdown = catch(|| {
            let b = make_batches(used_micro).remove(0);
            let timed = |f: &dyn Fn() -> Result<(), LearnerError>| -> Result<f64, LearnerError> {
                f()?;
                sync(device);
                let t0 = Instant::now();
                f()?;
                sync(device);
                Ok(t0.elapsed().as_secs_f64())
            };
            let fwd = timed(&|| {
                let _ = tch::no_grad(|| model.hidden_states(&b.ids));
                Ok(())
            })?;
            let body = timed(&|| {
                let h = model.hidden_states(&b.ids);
                (&h * h.detach()).sum(Kind::Float).f_backward()?;
                Ok(())
            })?;
            let full = timed(&|| {
                let _ = crate::sft::masked_nll(&model, &b, false, b.trained_tokens as f64, true)?;
                Ok(())
            })?;
            Ok((fwd, body, full))
        });
        let (fwd, body, full) = breakdown.unwrap_or((f64::NAN, f64::NAN, f64::NAN));
        let s = median(&mut times);
        let tps = tokens / s;
        let fl = train_flops_per_token * tokens / s;
        println!(
            "SFT  step {:.4} s | {:.0} tokens/s | {:.1} TFLOP/s | MFU {} | loss {:.3}",
            s,
            tps,
            fl / 1e12,
            fmt_mfu(mfu(fl)),
            last_loss
        );
        let n_micro = (batch / used_micro) as f64;
        println!(
            "SFT  per micro-batch of {used_micro}: forward (no grad, no head) {:.4} s | forward+backward without head {:.4} s | with chunked head+loss {:.4} s; step - {n_micro} x that = {:.4} s (optimizer, syncs, accumulation)",
            fwd, body, full, s - n_micro * full
        );
        let mem = gpu_memory_mib().map(|m| m.1);
        if let Some(m) = mem {
            println!("SFT  GPU memory in use (nvidia-smi, incl. the caching allocator's reserve): {m:.0} MiB");
        }
        result["sft"] = json!({"step_s": s, "step_s_all": times, "tokens_per_s": tps, "tflops": fl / 1e12, "mfu": mfu(fl), "loss": last_loss, "micro_batch": used_micro, "breakdown_s": {"forward_no_grad": fwd, "forward_backward_no_head": body, "forward_backward_with_head": full, "rest_of_step": s - n_micro * full}, "gpu_memory_used_mib": mem});
    }

    if modes.contains(&"grpo") {
        let g = batch.clamp(2, 8) as usize;
        let groups_n = ((batch as usize) / g).max(1);
        let cfg = GrpoConfig {
            group_size: g,
            groups_per_step: groups_n,
            max_groups_sampled: groups_n,
            micro_batch_size: micro as usize,
            schedule: sched.clone(),
            progress: false,
            compute_entropy: true,
            ..GrpoConfig::default()
        };
        // Old log probabilities from the current policy (a rollout would have produced them).
        let ids = Tensor::randint(
            mc.vocab_size,
            [(groups_n * g) as i64, seq],
            (Kind::Int64, Device::Cpu),
        );
        let old: Vec<Vec<f32>> = tch::no_grad(|| -> Result<_, LearnerError> {
            let mut rows = vec![];
            for r in 0..(groups_n * g) as i64 {
                let x = ids.narrow(0, r, 1).to_device(device);
                let lp = token_logprobs(&model.forward(&x), &x)?.to_device(Device::Cpu);
                let mut v: Vec<f32> = vec![0.0];
                v.extend(Vec::<f32>::try_from(&lp.squeeze_dim(0))?);
                rows.push(v);
            }
            Ok(rows)
        })?;
        let idv: Vec<Vec<i64>> = Vec::try_from(&ids)?;
        let prompt = (seq / 4) as usize;
        let groups: Vec<RolloutGroup> = (0..groups_n)
            .map(|k| RolloutGroup {
                task_id: format!("t{k}"),
                trajectories: (0..g)
                    .map(|j| {
                        let r = k * g + j;
                        Trajectory {
                            ids: idv[r].clone(),
                            old_logprobs: old[r].clone(),
                            trained: (0..seq as usize).map(|t| t >= prompt).collect(),
                            reward: (j % 2) as f64,
                        }
                    })
                    .collect(),
            })
            .collect();
        let run_grpo = |micro: i64| -> Result<_, LearnerError> {
            let cfg = GrpoConfig {
                micro_batch_size: micro as usize,
                ..cfg.clone()
            };
            let mut tr = GrpoTrainer::new(&vs, cfg)?;
            let mut times = vec![];
            let mut last = None;
            let mut first = None;
            for i in 0..args.warmup + args.iters {
                sync(device);
                let t0 = Instant::now();
                let st = tr.update(&model, None, &groups)?;
                if first.is_none() {
                    // On-policy check: the first update sees ratio ~1 and nothing clipped (later
                    // iterations reuse the same batch, so their ratios drift by design).
                    first = Some((st.ratio_mean, st.clip_frac));
                }
                sync(device);
                if i >= args.warmup {
                    times.push(t0.elapsed().as_secs_f64());
                }
                last = Some(st);
            }
            Ok((times, (last, first)))
        };
        let (mut times, (last, first), used_micro) = with_oom_retry("GRPO", micro, run_grpo)?;
        let s = median(&mut times);
        let tps = tokens / s;
        let st = last.unwrap_or_default();
        // The chunked head runs only on trained rows (the prompt quarter is skipped), so those
        // rows' LM-head FLOPs are not counted.
        let head_params = (mc.vocab_size * mc.hidden_size) as f64;
        let untrained = (tokens - st.trained_tokens as f64).max(0.0);
        let fl = (train_flops_per_token * tokens - 6.0 * head_params * untrained) / s;
        let (r0, c0) = first.unwrap_or((f64::NAN, f64::NAN));
        println!("GRPO step {:.4} s | {:.0} tokens/s | {:.1} TFLOP/s | MFU {} | first update: ratio {:.4} clip_frac {:.4} | entropy {:.3}", s, tps, fl / 1e12, fmt_mfu(mfu(fl)), r0, c0, st.entropy);
        let mem = gpu_memory_mib().map(|m| m.1);
        if let Some(m) = mem {
            println!("GRPO GPU memory in use (nvidia-smi, incl. the caching allocator's reserve): {m:.0} MiB");
        }
        result["grpo"] = json!({"micro_batch": used_micro, "gpu_memory_used_mib": mem, "step_s": s, "step_s_all": times, "tokens_per_s": tps, "tflops": fl / 1e12, "mfu": mfu(fl), "group_size": g, "groups": groups_n, "trained_tokens": st.trained_tokens, "first_update_ratio_mean": r0, "first_update_clip_frac": c0, "last_clip_frac": st.clip_frac, "entropy": st.entropy});
    }

    if modes.contains(&"gen") {
        let prompts: Vec<Vec<i64>> = Vec::try_from(&Tensor::randint(
            mc.vocab_size,
            [gen_batch, gen_prompt],
            (Kind::Int64, Device::Cpu),
        ))?;
        let gen = |n: usize, seed: u64| -> Result<usize, LearnerError> {
            let p = SamplingParams {
                temperature: 1.0,
                top_p: 1.0,
                max_new_tokens: n,
                stop_token_ids: vec![],
                stop_sequences: vec![],
                seed,
            };
            Ok(generate(&model, &prompts, &p)
                .map_err(|e| LearnerError::Config(format!("generate: {e}")))?
                .iter()
                .map(|g| g.tokens.len())
                .sum())
        };
        for i in 0..args.warmup.max(1) {
            gen(gen_new.min(8), i as u64)?;
        }
        let mut times = vec![];
        let mut produced = 0;
        for i in 0..args.iters.clamp(1, 3) {
            sync(device);
            let t0 = Instant::now();
            produced = gen(gen_new, 100 + i as u64)?;
            sync(device);
            times.push(t0.elapsed().as_secs_f64());
        }
        let s = median(&mut times);
        let tps = produced as f64 / s;
        let fl = 2.0 * n_mm as f64 * tps;
        println!("GEN  {gen_batch} x ({gen_prompt} prompt + {gen_new} new) in {:.3} s | {:.0} generated tokens/s | MFU {}", s, tps, fmt_mfu(mfu(fl)));
        result["generation"] = json!({"batch": gen_batch, "prompt_len": gen_prompt, "new_tokens": gen_new, "seconds": s, "generated_tokens": produced, "tokens_per_s": tps, "mfu": mfu(fl)});
    }

    let text = serde_json::to_string_pretty(&result).unwrap_or_default();
    if let Some(out) = &args.out {
        std::fs::write(out, &text).map_err(|e| LearnerError::Io {
            path: out.clone(),
            source: e,
        })?;
        println!("wrote {}", out.display());
    } else {
        println!("{text}");
    }
    Ok(result)
}

/// Runs `f(micro)`, halving the micro-batch after an out-of-memory failure.
fn with_oom_retry<T>(
    what: &str,
    mut micro: i64,
    f: impl Fn(i64) -> Result<(Vec<f64>, T), LearnerError>,
) -> Result<(Vec<f64>, T, i64), LearnerError> {
    loop {
        match catch(|| f(micro)) {
            Ok((times, v)) => return Ok((times, v, micro)),
            Err(msg) if is_oom(&msg) && micro > 1 => {
                println!("{what}: out of memory at micro-batch {micro}, retrying with {}", micro / 2);
                micro /= 2;
            }
            Err(msg) => return Err(LearnerError::Config(format!("{what}: {msg}"))),
        }
    }
}

fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn fmt_mfu(m: Option<f64>) -> String {
    m.map_or("n/a".into(), |m| format!("{:.1}%", m * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_micro_batches_fit_70_gb() {
        let m = |name: &str| default_micro_batch(&preset(name).unwrap(), 2048, 70e9);
        assert_eq!(m("qwen2.5-0.5b"), 8);
        assert_eq!(m("qwen2.5-1.5b"), 4);
        let e = estimate_train_bytes(&preset("qwen2.5-1.5b").unwrap(), 4, 2048);
        assert!(e > 60e9 && e < 70e9, "{e}");
    }
}
