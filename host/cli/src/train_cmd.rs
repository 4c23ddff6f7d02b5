//! `eigenbox train sft|grpo`: training the embedded model (default SmolLM2-135M-Instruct, on
//! CUDA when available, else CPU).
//!
//! * `sft`: dialogues (JSONL of `{"messages": [...], "tools": [...]}`) rendered with the model's
//!   chat template, loss on the agent's (or the user's) tokens.
//! * `grpo`: τ² episodes of a domain's training tasks with the model as the agent (the user
//!   simulator on the frozen base model, or an OpenAI-compatible endpoint), scored by τ²'s
//!   evaluator over the WASM domain; G episodes per task form a group; groups whose rewards are
//!   all equal are filtered.
//!
//! Checkpoints, metrics and (GRPO) every rollout episode go to `--out` (see
//! `eigenbox_train::session`); each checkpoint directory is also a model directory for
//! `--model`, and `--resume` continues from the latest one.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use eigenbox_learner::data::{load_dialogues_jsonl, ModelEncoder, TrainRole};
use eigenbox_learner::grpo::GrpoConfig;
use eigenbox_learner::optim::LrSchedule;
use eigenbox_learner::sft::SftConfig;
use eigenbox_orchestrator::{EpisodeConfig, SamplingConfig};
use eigenbox_runtime::LlmBackend;
use eigenbox_train::{
    default_model_path, load_model, train_grpo, train_sft, AgentConfig, BackendDefaults, EmbeddedBackend, EpisodeRollouts, LoadedModel, RoleUsers,
    RunOptions, TrainOutput,
};
use serde_json::json;
use tch::{Device, Kind};

use super::{parse_version, Global, Host};

#[derive(Args)]
pub struct TrainArgs {
    #[command(subcommand)]
    cmd: TrainCmd,
}

#[derive(Subcommand)]
enum TrainCmd {
    /// Supervised fine-tuning on dialogues (JSONL of {"messages": [...], "tools": [...]}).
    Sft(Box<SftArgs>),
    /// GRPO on τ² episodes of a domain: the model is the agent, rewards from τ²'s evaluator.
    Grpo(Box<GrpoArgs>),
}

#[derive(Args)]
struct ModelOpts {
    /// The model: a GGUF file or an HF directory (config.json, safetensors, tokenizer.json; an
    /// `eigenbox train` checkpoint is one). Default: $EIGENBOX_LLAMA_MODEL, else SmolLM2-135M-Instruct
    /// Q4_1 from scripts/install-llama-server.sh.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Where to train.
    #[arg(long, value_enum, default_value_t = DeviceOpt::Auto)]
    device: DeviceOpt,
    /// Keep the weights in bf16 (AdamW keeps fp32 masters); recommended on CUDA.
    #[arg(long)]
    bf16: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceOpt {
    /// CUDA when available, else CPU.
    Auto,
    Cpu,
    Cuda,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleOpt {
    /// Loss on the assistant's tokens.
    Agent,
    /// Loss on the user's tokens (the user-simulator model).
    User,
}

#[derive(Args)]
struct SftArgs {
    /// Dialogues, one JSON object per line.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    model: ModelOpts,
    /// Whose tokens are trained.
    #[arg(long, value_enum, default_value_t = RoleOpt::Agent)]
    role: RoleOpt,
    /// Optimizer steps (in total, when resuming).
    #[arg(long, default_value_t = 100)]
    steps: u64,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-5)]
    lr: f64,
    /// Final learning rate of the cosine schedule (default: lr / 10).
    #[arg(long)]
    min_lr: Option<f64>,
    /// Warmup steps.
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    /// Dialogues per micro-batch.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Micro-batches per optimizer step.
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// Tokens per dialogue (longer ones are truncated).
    #[arg(long, default_value_t = 4096)]
    max_len: usize,
    /// Seed (data order).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Save a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 100)]
    save_every: u64,
    /// Output directory (checkpoints, metrics, store).
    #[arg(long)]
    out: PathBuf,
    /// Continue from the latest checkpoint in --out.
    #[arg(long)]
    resume: bool,
}

#[derive(Args)]
struct GrpoArgs {
    /// Domain plugin name.
    #[arg(long)]
    domain: String,
    #[command(flatten)]
    model: ModelOpts,
    /// The user simulator's model: `embedded` (the frozen base model, in-process) or an
    /// endpoint (`http://host:port/v1#model`, or a model name served at --endpoint).
    #[arg(long, default_value = "embedded")]
    user: String,
    /// Endpoint for a user model given by name.
    #[arg(long, env = "EIGENBOX_LLM_URL", default_value = "http://127.0.0.1:8000/v1")]
    endpoint: String,
    /// Environment variable holding the endpoint's API key.
    #[arg(long)]
    api_key_env: Option<String>,
    /// The user-simulator role plugin.
    #[arg(long, default_value = "user-sim")]
    user_plugin: String,
    /// Task split to train on; default `train`, or every task when the domain has no such split.
    #[arg(long)]
    split: Option<String>,
    /// Task set version.
    #[arg(long, default_value = "v1.0")]
    version: String,
    /// Only these tasks (repeatable).
    #[arg(long = "task")]
    tasks: Vec<String>,
    /// Episodes per task (G).
    #[arg(long, default_value_t = 4)]
    group: usize,
    /// Groups kept per optimizer step.
    #[arg(long, default_value_t = 2)]
    tasks_per_step: usize,
    /// Groups sampled per step at most, filtered ones included (default 4 × --tasks-per-step).
    #[arg(long)]
    max_groups: Option<usize>,
    /// Keep groups whose rewards are all equal (no dynamic filtering).
    #[arg(long)]
    no_filter: bool,
    /// Trainer steps (in total, when resuming).
    #[arg(long, default_value_t = 10)]
    steps: u64,
    /// Learning rate (constant).
    #[arg(long, default_value_t = 1e-6)]
    lr: f64,
    /// Trajectories per forward/backward.
    #[arg(long, default_value_t = 1)]
    micro_batch: usize,
    /// Agent reply length cap.
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Agent sampling temperature (1: on-policy log probabilities).
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Context length of an episode (default: the model's).
    #[arg(long)]
    max_context: Option<usize>,
    /// Steps per episode.
    #[arg(long, default_value_t = 30)]
    max_steps: u32,
    /// Tool errors per episode.
    #[arg(long, default_value_t = 10)]
    max_errors: u32,
    /// User-simulator temperature.
    #[arg(long, default_value_t = 0.0)]
    user_temperature: f64,
    /// User-simulator reply length cap.
    #[arg(long, default_value_t = 128)]
    user_max_tokens: u32,
    /// Seed (task draws, episode seeds).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Save a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 1)]
    save_every: u64,
    /// Output directory (checkpoints, metrics, store).
    #[arg(long)]
    out: PathBuf,
    /// Continue from the latest checkpoint in --out.
    #[arg(long)]
    resume: bool,
}

pub fn run(g: &Global, args: TrainArgs) -> Result<ExitCode> {
    match args.cmd {
        TrainCmd::Sft(a) => sft(*a),
        TrainCmd::Grpo(a) => grpo(g, *a),
    }
}

fn device(opt: DeviceOpt) -> Result<Device> {
    Ok(match opt {
        DeviceOpt::Auto => eigenbox_model::best_device(),
        DeviceOpt::Cpu => Device::Cpu,
        DeviceOpt::Cuda => {
            if !eigenbox_model::load_cuda_backend() || !tch::Cuda::is_available() {
                bail!("--device cuda: CUDA is not available");
            }
            Device::Cuda(0)
        }
    })
}

fn load(opts: &ModelOpts) -> Result<LoadedModel> {
    let path = opts.model.clone().unwrap_or_else(default_model_path);
    let dev = device(opts.device)?;
    let kind = if opts.bf16 { Kind::BFloat16 } else { Kind::Float };
    let loaded = load_model(&path, dev, kind)?;
    eprintln!(
        "model {} ({} parameters, {}) on {dev:?}",
        path.display(),
        loaded.model.config().num_parameters(),
        loaded.model.config().arch.name()
    );
    Ok(loaded)
}

fn sft(args: SftArgs) -> Result<ExitCode> {
    let loaded = load(&args.model)?;
    let encoder = ModelEncoder { tokenizer: loaded.model.tokenizer.clone(), template: loaded.model.template.clone() };
    let role = match args.role {
        RoleOpt::Agent => TrainRole::Agent,
        RoleOpt::User => TrainRole::UserSimulator,
    };
    let data = load_dialogues_jsonl(&args.data, &encoder, role, args.max_len).with_context(|| format!("reading {}", args.data.display()))?;
    if data.examples.is_empty() {
        bail!("{}: no dialogue has tokens of the trained role", args.data.display());
    }
    eprintln!(
        "{} dialogue(s) from {} ({} without trained tokens skipped, {} truncated to {} tokens)",
        data.examples.len(),
        args.data.display(),
        data.skipped_untrained,
        data.truncated,
        args.max_len
    );
    let config = SftConfig {
        micro_batch_size: args.batch.max(1),
        grad_accum_steps: args.grad_accum.max(1),
        schedule: LrSchedule { peak_lr: args.lr, min_lr: args.min_lr.unwrap_or(args.lr / 10.0), warmup_steps: args.warmup, total_steps: args.steps.max(1) },
        seed: args.seed,
        ..SftConfig::default()
    };
    let out = TrainOutput::open(&args.out)?;
    let opts = RunOptions {
        steps: args.steps,
        save_every: args.save_every,
        resume: args.resume,
        params: json!({
            "data": args.data, "model": loaded.source, "role": format!("{role:?}"), "steps": args.steps, "lr": args.lr,
            "batch": args.batch, "grad_accum": args.grad_accum, "max_len": args.max_len, "seed": args.seed,
        }),
    };
    let s = train_sft(&loaded, &data.examples, &out, config, &opts)?;
    println!(
        "sft {}: steps {}..{}, loss {:.4} -> {:.4}; checkpoint {}",
        s.run,
        s.start_step,
        args.steps,
        s.loss_before,
        s.loss_after,
        s.checkpoint.as_ref().map(|c| c.dir.display().to_string()).unwrap_or_else(|| "(none)".into())
    );
    Ok(ExitCode::SUCCESS)
}

fn grpo(g: &Global, args: GrpoArgs) -> Result<ExitCode> {
    if args.group < 2 {
        bail!("--group must be at least 2 (advantages are relative to the group)");
    }
    let host = Host::new(g)?;
    let domain = host.frozen_domain(&args.domain)?;
    let data = host.plugins.data_dir(&args.domain);
    let version = parse_version(&args.version)?;
    let split = args.split.clone().unwrap_or_else(|| "train".into());
    let set = match eigenbox_tau2::TaskSet::load(&data, version, Some(&split)) {
        Ok(s) => s,
        Err(e) if args.split.is_none() => {
            tracing::warn!("no `train` split ({e}); training on every task");
            eprintln!("domain `{}` has no `train` split; training on every task", args.domain);
            eigenbox_tau2::TaskSet::load(&data, version, None)?
        }
        Err(e) => return Err(e.into()),
    };
    let mut tasks = set.tasks.clone();
    if !args.tasks.is_empty() {
        for id in &args.tasks {
            if set.get(id).is_none() {
                bail!("no task `{id}` in {}", set.path.display());
            }
        }
        tasks.retain(|t| args.tasks.contains(&t.id));
    }
    let policy_path = data.join("policy.md");
    let policy = std::fs::read_to_string(&policy_path).with_context(|| format!("reading the domain policy {}", policy_path.display()))?;
    let sim = host.runtime.load_manifest_file(&host.plugins.manifest_path(&args.user_plugin)?)?;
    if sim.world() != eigenbox_runtime::manifest::World::Role {
        bail!("plugin `{}` is a {} component, not a role", args.user_plugin, sim.world());
    }
    host.register(&sim)?;

    let loaded = load(&args.model)?;
    let (user_llm, user_desc): (Arc<dyn LlmBackend>, String) = if args.user == "embedded" {
        // The user simulator runs on a frozen copy of the base model.
        let frozen = load(&args.model)?;
        let defaults = BackendDefaults { max_tokens: args.user_max_tokens as usize, max_context: args.max_context, ..BackendDefaults::default() };
        (Arc::new(EmbeddedBackend::new(Arc::new(frozen.model), defaults)), format!("embedded:{}", frozen.source.display()))
    } else {
        let (llm, url, model) = crate::run_cmd::connect(&args.user, &args.endpoint, args.api_key_env.clone(), serde_json::Map::new())?;
        (llm, format!("{url}#{model}"))
    };
    let users = Arc::new(RoleUsers {
        component: sim.clone(),
        llm: user_llm,
        model: "user".into(),
        sampling: SamplingConfig { temperature: Some(args.user_temperature), max_tokens: Some(args.user_max_tokens), ..Default::default() },
        domain: args.domain.clone(),
    });
    let agent = AgentConfig { max_new_tokens: args.max_new_tokens, temperature: args.temperature, top_p: 1.0, max_context: args.max_context };
    let mut source = EpisodeRollouts::new(host.rt.handle().clone(), domain.clone(), tasks.clone(), policy, users, agent)?;
    source.episode = EpisodeConfig { max_steps: args.max_steps, max_errors: args.max_errors, ..EpisodeConfig::default() };
    let config = GrpoConfig {
        group_size: args.group,
        groups_per_step: args.tasks_per_step.max(1),
        max_groups_sampled: args.max_groups.unwrap_or(4 * args.tasks_per_step.max(1)),
        dynamic_filtering: !args.no_filter,
        micro_batch_size: args.micro_batch.max(1),
        schedule: LrSchedule::constant(args.lr),
        seed: args.seed,
        ..GrpoConfig::default()
    };
    let out = TrainOutput::open(&args.out)?;
    eprintln!(
        "grpo on {} task(s) of `{}` ({} x {} episodes per step, user {user_desc}); output in {}",
        tasks.len(),
        args.domain,
        config.groups_per_step,
        config.group_size,
        args.out.display()
    );
    let opts = RunOptions {
        steps: args.steps,
        save_every: args.save_every,
        resume: args.resume,
        params: json!({
            "domain": args.domain, "domain_sha256": domain.sha256(), "split": split, "tasks": tasks.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
            "model": loaded.source, "user": user_desc, "user_plugin_sha256": sim.sha256(), "group": args.group,
            "tasks_per_step": args.tasks_per_step, "steps": args.steps, "lr": args.lr, "max_new_tokens": args.max_new_tokens,
            "temperature": args.temperature, "max_context": args.max_context, "max_steps": args.max_steps, "seed": args.seed,
        }),
    };
    let s = train_grpo(&loaded, &mut source, &out, config, &opts)?;
    let rewards: Vec<String> = s.steps.iter().map(|st| format!("{:.3}", st.reward_mean)).collect();
    let skipped = s.steps.iter().filter(|st| st.skipped).count();
    println!(
        "grpo {}: steps {}..{} (mean reward per step: {}; {skipped} step(s) skipped, every group filtered); checkpoint {}",
        s.run,
        s.start_step,
        s.start_step + s.steps.len() as u64,
        if rewards.is_empty() { "-".into() } else { rewards.join(" ") },
        s.checkpoint.as_ref().map(|c| c.dir.display().to_string()).unwrap_or_else(|| "(none)".into())
    );
    Ok(ExitCode::SUCCESS)
}
