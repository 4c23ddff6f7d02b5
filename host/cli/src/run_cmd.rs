//! `eigenbox run`: τ² episodes of a domain's tasks with an LLM agent and the user-simulator role,
//! scored like τ²-bench, stored in the sled store as they finish (a re-run resumes), exported as
//! JSON.
//!
//! `--logprobs [N]` asks both models for token log-probabilities (N alternatives per position,
//! default 0): every generated agent and user message then keeps its tokens, with their ids where
//! the server returns them, under `logprobs` (`{"content": [{"token", "id", "logprob",
//! "top_logprobs"}]}`), in the store and the exported JSON. Off by default: evaluation runs do not
//! need them and they add about 60 bytes per generated token to every result. llama-server
//! returns token ids by itself; for vLLM add `--request-extra '{"return_token_ids": true}'`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use eigenbox_eval::{Metrics, Trial};
use eigenbox_llm::{LlmClient, LlmConfig};
use eigenbox_orchestrator::{
    run_concurrently, run_episode, Environment, Episode, EpisodeConfig, LlmAgent, RoleUser, SamplingConfig, ScoredEpisode, UserSimConfig,
    WasmEnv, WasmScorer,
};
use eigenbox_runtime::LlmBackend;
use eigenbox_tau2::{Task, TerminationReason};
use serde_json::json;

use super::{parse_version, progress, Global, Host};

/// Sled tree holding finished episodes, keyed `<run key>/<task id>/<trial>`.
const EPISODES: &str = "episodes";

#[derive(Args)]
pub struct RunArgs {
    /// Domain plugin name.
    #[arg(long)]
    domain: String,
    /// The agent's model: an endpoint (`http://host:port/v1#model`; without `#model` the
    /// server's `default`) or a model name served at --endpoint.
    #[arg(long)]
    agent: String,
    /// The user simulator's model, same forms as --agent.
    #[arg(long)]
    user: String,
    /// Endpoint for models given by name.
    #[arg(long, env = "EIGENBOX_LLM_URL", default_value = "http://127.0.0.1:8000/v1")]
    endpoint: String,
    /// Environment variable holding the endpoint's API key.
    #[arg(long)]
    api_key_env: Option<String>,
    /// Task split (e.g. test, train, base); default: every task.
    #[arg(long)]
    split: Option<String>,
    /// Task set version.
    #[arg(long, default_value = "v1.0")]
    version: String,
    /// Only these tasks (repeatable).
    #[arg(long = "task")]
    tasks: Vec<String>,
    /// Trials per task.
    #[arg(long, default_value_t = 1)]
    trials: u32,
    /// Episodes at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Steps per episode.
    #[arg(long, default_value_t = 200)]
    max_steps: u32,
    /// Tool errors per episode.
    #[arg(long, default_value_t = 10)]
    max_errors: u32,
    /// Agent sampling temperature.
    #[arg(long, default_value_t = 0.0)]
    agent_temperature: f64,
    /// User-simulator sampling temperature.
    #[arg(long, default_value_t = 0.0)]
    user_temperature: f64,
    /// Completion token cap per model call (agent and user).
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Keep each generated message's tokens with their log-probabilities (and ids, where the
    /// server returns them); the value is how many alternatives per position (default 0).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "0")]
    logprobs: Option<u32>,
    /// JSON object of backend-specific fields added to every model request (e.g.
    /// '{"return_token_ids": true}' for token ids from vLLM).
    #[arg(long, value_name = "JSON")]
    request_extra: Option<String>,
    /// Base seed; trial t uses seed + t.
    #[arg(long, default_value_t = 300)]
    seed: u64,
    /// The user-simulator role plugin.
    #[arg(long, default_value = "user-sim")]
    user_plugin: String,
    /// Where to write the results (default `.eigenbox/results/<run key>.json`).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    gate: crate::gated::PolicyOpts,
}

/// `(base URL, model)` of an `--agent` / `--user` value.
fn endpoint(value: &str, default_url: &str) -> Result<(String, String)> {
    if value.trim().is_empty() {
        bail!("a model or endpoint is required");
    }
    if value.contains("://") {
        Ok(match value.split_once('#') {
            Some((url, model)) if !model.is_empty() => (url.to_string(), model.to_string()),
            Some((url, _)) => (url.to_string(), "default".to_string()),
            None => (value.to_string(), "default".to_string()),
        })
    } else {
        Ok((default_url.to_string(), value.to_string()))
    }
}

fn client(value: &str, args: &RunArgs) -> Result<(Arc<dyn LlmBackend>, String, String)> {
    connect(value, &args.endpoint, args.api_key_env.clone(), request_extra(args)?)
}

/// An OpenAI-compatible client for a model value (`http://host:port/v1#model`, or a model name
/// served at `default_url`): the backend, its base URL and the model name. Shared by `eigenbox
/// run` and `eigenbox train grpo --user`.
pub(crate) fn connect(
    value: &str,
    default_url: &str,
    api_key_env: Option<String>,
    extra_body: serde_json::Map<String, serde_json::Value>,
) -> Result<(Arc<dyn LlmBackend>, String, String)> {
    let (url, model) = endpoint(value, default_url)?;
    let mut config = LlmConfig::new(url.clone(), model.clone());
    config.api_key_env = api_key_env;
    config.extra_body = extra_body;
    let c = LlmClient::new(config).with_context(|| format!("LLM endpoint {url}"))?;
    Ok((Arc::new(c), url, model))
}

/// `--request-extra` as a JSON object (empty when not given).
fn request_extra(args: &RunArgs) -> Result<serde_json::Map<String, serde_json::Value>> {
    let Some(text) = &args.request_extra else { return Ok(serde_json::Map::new()) };
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(other) => bail!("--request-extra must be a JSON object, got {other}"),
        Err(e) => bail!("--request-extra is not JSON: {e}"),
    }
}

fn failed(task: &Task, seed: u64, error: String) -> Episode {
    Episode {
        task_id: task.id.clone(),
        termination_reason: TerminationReason::InfrastructureError,
        messages: Vec::new(),
        steps: 0,
        num_errors: 0,
        duration: 0.0,
        seed: Some(seed),
        error: Some(error),
    }
}

fn pass1(done: &[(String, Option<f64>, TerminationReason)]) -> String {
    let counted: Vec<f64> =
        done.iter().filter(|(_, _, t)| *t != TerminationReason::InfrastructureError).filter_map(|(_, r, _)| *r).collect();
    if counted.is_empty() {
        return "pass^1 -".into();
    }
    let ok = counted.iter().filter(|r| eigenbox_eval::is_successful(**r)).count();
    format!("pass^1 {:.3}", ok as f64 / counted.len() as f64)
}

pub fn run(g: &Global, args: RunArgs) -> Result<ExitCode> {
    let host = Host::new(g)?;
    let domain = host.domain(&args.domain)?;
    let data = host.plugins.data_dir(&args.domain);
    let version = parse_version(&args.version)?;
    let set = eigenbox_tau2::TaskSet::load(&data, version, args.split.as_deref())?;
    let mut tasks: Vec<Task> = set.tasks.clone();
    if !args.tasks.is_empty() {
        for id in &args.tasks {
            if set.get(id).is_none() {
                bail!("no task `{id}` in {}", set.path.display());
            }
        }
        tasks.retain(|t| args.tasks.contains(&t.id));
    }
    if tasks.is_empty() {
        bail!("no tasks to run ({}{})", set.path.display(), args.split.as_deref().map(|s| format!(", split `{s}`")).unwrap_or_default());
    }
    if args.trials == 0 {
        bail!("--trials must be at least 1");
    }
    let policy_path = data.join("policy.md");
    let policy = std::fs::read_to_string(&policy_path).with_context(|| format!("reading the domain policy {}", policy_path.display()))?;
    let sim = host.runtime.load_manifest_file(&host.plugins.manifest_path(&args.user_plugin)?)?;
    if sim.world() != eigenbox_runtime::manifest::World::Role {
        bail!("plugin `{}` is a {} component, not a role", args.user_plugin, sim.world());
    }
    host.register(&sim)?;
    let (agent_llm, agent_url, agent_model) = client(&args.agent, &args)?;
    let (user_llm, user_url, user_model) = client(&args.user, &args)?;

    // Everything that changes what an episode is; the same parameters resume the same run.
    let params = json!({
        "domain": args.domain, "domain_sha256": domain.sha256(), "version": args.version, "split": args.split,
        "agent": {"url": agent_url, "model": agent_model, "temperature": args.agent_temperature},
        "user": {"url": user_url, "model": user_model, "temperature": args.user_temperature, "plugin_sha256": sim.sha256()},
        "max_steps": args.max_steps, "max_errors": args.max_errors, "seed": args.seed, "max_tokens": args.max_tokens,
    });
    // Added only when used, so runs recorded before these options keep their keys (and resume).
    let mut params = params;
    if let Some(n) = args.logprobs {
        params["logprobs"] = json!(n);
    }
    if let Some(extra) = args.request_extra.as_ref().and_then(|_| request_extra(&args).ok()) {
        params["request_extra"] = serde_json::Value::Object(extra);
    }
    let key = eigenbox_manifest::sha256_hex(params.to_string().as_bytes())[..16].to_string();
    let tree = host.store.db().open_tree(EPISODES)?;
    let mut done: Vec<(String, Option<f64>, TerminationReason)> = Vec::new();
    let mut jobs = Vec::new();
    for task in &tasks {
        for trial in 0..args.trials {
            let k = format!("{key}/{}/{trial}", task.id);
            let previous: Option<ScoredEpisode> = tree.get(k.as_bytes())?.and_then(|v| serde_json::from_slice(&v).ok());
            match previous {
                // Infrastructure errors are re-run, as τ²'s runner does.
                Some(s) if s.episode.termination_reason != TerminationReason::InfrastructureError => {
                    done.push((task.id.clone(), s.reward, s.episode.termination_reason))
                }
                _ => jobs.push((Arc::new(task.clone()), trial)),
            }
        }
    }
    let resumed = done.len();
    let run_id = host.store.create_run("run", json!({"key": key, "params": params, "trials": args.trials, "tasks": tasks.len()}))?;
    eprintln!("run {run_id} (key {key}): {} episode(s), {resumed} already done", tasks.len() * args.trials as usize);
    let pb = progress((tasks.len() * args.trials as usize) as u64, "episodes");
    pb.set_position(resumed as u64);
    pb.set_message(pass1(&done));

    // Freeze the domain's initial state once: every episode (and every gold environment the
    // scorer builds) then starts from a copy-on-write image instead of parsing the domain's data.
    let original_sha = domain.sha256().to_string();
    let domain = host
        .rt
        .block_on(domain.freeze(eigenbox_runtime::EpisodeInit { agent_data: None, user_data: None, actions: Vec::new() }))
        .map(|f| f.component().clone())
        .with_context(|| format!("freezing the initial state of `{}`", args.domain))?;
    debug_assert_eq!(domain.sha256(), original_sha);
    let tools = host.rt.block_on(async { WasmEnv::new(domain.clone()).await?.tools().await })?;
    // `--policy`: every agent and user tool call of every episode is decided and audited.
    let gate = crate::gated::gate(&args.gate, &host.store)?;
    let gate_opts = args.gate.clone();
    let config = EpisodeConfig { max_steps: args.max_steps, max_errors: args.max_errors, ..EpisodeConfig::default() };
    let agent_sampling = SamplingConfig { temperature: Some(args.agent_temperature), max_tokens: args.max_tokens, logprobs: args.logprobs, ..Default::default() };
    let user_sampling = SamplingConfig { temperature: Some(args.user_temperature), max_tokens: args.max_tokens, logprobs: args.logprobs, ..Default::default() };
    let mut store_errors = Vec::new();
    host.rt.block_on(async {
        let scorer = WasmScorer::new(domain.clone());
        let ctx = Arc::new((domain.clone(), sim.clone(), agent_llm, user_llm, policy, tools, config, scorer, args.domain.clone(), agent_model, user_model));
        run_concurrently(
            jobs,
            args.concurrency,
            |(task, trial)| {
                let ctx = ctx.clone();
                let seed = args.seed + u64::from(trial);
                let gated = gate.as_ref().map(|g| {
                    let episode = crate::gated::episode(g, &gate_opts, Some(run_id.clone()), format!("{}/{trial}", task.id));
                    let (assistant, user) = crate::gated::actors();
                    let pg: Arc<dyn eigenbox_orchestrator::ToolGate> = Arc::new(eigenbox_orchestrator::PolicyGate::new(episode, &args.domain, &ctx.5, assistant, user));
                    pg
                });
                async move {
                    let (domain, sim, agent_llm, user_llm, policy, tools, config, scorer, name, agent_model, user_model) = &*ctx;
                    let episode = async {
                        let mut env = WasmEnv::new(domain.clone()).await.map_err(|e| e.to_string())?;
                        let mut agent = LlmAgent::new(agent_llm.clone(), agent_model.clone(), policy, tools, agent_sampling);
                        let user_config = UserSimConfig::for_task(&task, user_model.clone(), user_sampling);
                        let mut user = RoleUser::new(sim.clone(), user_config, user_llm.clone(), Some((name.as_str(), env.shared())))
                            .await
                            .map_err(|e| format!("user simulator: {e}"))?;
                        let config = EpisodeConfig { seed: Some(seed), gate: gated, ..config.clone() };
                        Ok::<_, String>(run_episode(&task, &mut agent, &mut user, &mut env, &config).await)
                    }
                    .await
                    .unwrap_or_else(|e| failed(&task, seed, e));
                    ScoredEpisode::score(scorer, &task, trial, episode).await
                }
            },
            |s: &ScoredEpisode| {
                let k = format!("{key}/{}/{}", s.episode.task_id, s.trial);
                let stored = serde_json::to_vec(s).map_err(anyhow::Error::from).and_then(|v| {
                    tree.insert(k.as_bytes(), v)?;
                    tree.flush()?;
                    Ok(())
                });
                if let Err(e) = stored {
                    store_errors.push(format!("{k}: {e:#}"));
                }
                done.push((s.episode.task_id.clone(), s.reward, s.episode.termination_reason));
                pb.inc(1);
                pb.set_message(pass1(&done));
            },
        )
        .await
    });
    pb.finish_and_clear();
    if let Some(g) = &gate {
        g.commit().context("committing the audit log")?;
    }
    if !store_errors.is_empty() {
        bail!("could not store {} episode(s): {}", store_errors.len(), store_errors.join("; "));
    }

    // Export everything of this run (resumed episodes included).
    let mut episodes: Vec<ScoredEpisode> = Vec::new();
    for task in &tasks {
        for trial in 0..args.trials {
            let k = format!("{key}/{}/{trial}", task.id);
            if let Some(v) = tree.get(k.as_bytes())? {
                episodes.push(serde_json::from_slice(&v).with_context(|| format!("stored episode {k} is unreadable"))?);
            }
        }
    }
    let trials: Vec<Trial> =
        episodes.iter().map(|s| Trial { task_id: s.episode.task_id.clone(), reward: s.reward, termination: s.episode.termination_reason }).collect();
    let metrics = Metrics::compute(&trials);
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(format!(".eigenbox/results/{key}.json")));
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let doc = json!({"run": run_id, "key": key, "params": params, "metrics": metrics, "episodes": episodes});
    std::fs::write(&out, serde_json::to_vec_pretty(&doc)?).with_context(|| format!("writing {}", out.display()))?;
    let pass: Vec<String> = metrics.pass_hat_ks.iter().map(|(k, v)| format!("pass^{k} {v:.3}")).collect();
    let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
    for s in &episodes {
        *reasons.entry(s.episode.termination_reason.as_str()).or_default() += 1;
    }
    println!(
        "{} episode(s) ({} run now, {resumed} resumed): avg reward {:.3}, {}; terminations {}; results in {}",
        episodes.len(),
        episodes.len().saturating_sub(resumed),
        metrics.avg_reward,
        if pass.is_empty() { "pass^k -".to_string() } else { pass.join(", ") },
        reasons.iter().map(|(r, n)| format!("{r} {n}")).collect::<Vec<_>>().join(", "),
        out.display()
    );
    host.store.finish_run(&run_id, "ok", json!({"metrics": metrics, "out": out.display().to_string()}))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn agent_values_are_urls_or_model_names() {
        assert_eq!(endpoint("http://h:1/v1#qwen", "http://d/v1").unwrap(), ("http://h:1/v1".into(), "qwen".into()));
        assert_eq!(endpoint("http://h:1/v1", "http://d/v1").unwrap(), ("http://h:1/v1".into(), "default".into()));
        assert_eq!(endpoint("qwen", "http://d/v1").unwrap(), ("http://d/v1".into(), "qwen".into()));
        assert!(endpoint(" ", "http://d/v1").is_err());
    }
}
