//! The embedded model: weights, tokenizer and chat template, shared between the learner (which
//! trains it) and the agent / user-simulator backend (which sample from it).
//!
//! [`EmbeddedModel`] keeps the [`Transformer`] behind a mutex: tch tensors are `Send` but not
//! `Sync`, while the orchestrator's participants must be `Send` (so `&EmbeddedModel` must be),
//! and an `LlmBackend` must be `Send + Sync`. The learner borrows the same value as its
//! `CausalLm` (forward takes the lock for the graph-building call only), so the policy the
//! episodes sample from is always the weights being trained: no copies, no weight syncing.
//! Generation runs under `no_grad` (`eigenbox_model::generate` does).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::{bail, Context, Result};
use eigenbox_model::{
    generate, CausalLm, ChatTemplate, GgufValue, Generation, ModelConfig, RopeScaling, SamplingParams, Tokenizer, Transformer,
};
use serde_json::{json, Value};
use tch::{nn::VarStore, Device, Kind, Tensor};

/// A model, its tokenizer and its chat template.
pub struct EmbeddedModel {
    model: Mutex<Transformer>,
    /// The tokenizer (its `eos_token_ids` are stop tokens).
    pub tokenizer: Tokenizer,
    /// The chat format.
    pub template: ChatTemplate,
    config: ModelConfig,
    stop_ids: Vec<i64>,
}

impl EmbeddedModel {
    /// Wraps a model. Stop tokens: the tokenizer's EOS ids, the model config's, and the
    /// template's end-of-turn tokens.
    pub fn new(model: Transformer, tokenizer: Tokenizer, template: ChatTemplate) -> EmbeddedModel {
        let config = model.config().clone();
        let mut stop_ids: Vec<i64> = tokenizer.eos_token_ids.clone();
        stop_ids.extend(config.eos_token_ids.iter().copied());
        stop_ids.extend(template.stop_strings().iter().filter_map(|s| tokenizer.token_id(s)));
        stop_ids.sort_unstable();
        stop_ids.dedup();
        EmbeddedModel { model: Mutex::new(model), tokenizer, template, config, stop_ids }
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Token ids that end a generation.
    pub fn stop_ids(&self) -> &[i64] {
        &self.stop_ids
    }

    /// The transformer (locked).
    pub fn lock(&self) -> MutexGuard<'_, Transformer> {
        // A panic while generating leaves the weights intact: keep using them.
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Samples one continuation of `prompt` (under `no_grad`).
    pub fn generate(&self, prompt: &[i64], params: &SamplingParams) -> Result<Generation> {
        let m = self.lock();
        let mut out = generate(&m, &[prompt.to_vec()], params)?;
        out.pop().context("the generator returned nothing")
    }

    /// Log probabilities of `continuation` after `prompt` under the current weights (teacher
    /// forcing, `no_grad`): `log p(continuation[i] | prompt, continuation[..i])`.
    pub fn score(&self, prompt: &[i64], continuation: &[i64]) -> Result<Vec<f32>> {
        if prompt.is_empty() {
            bail!("empty prompt");
        }
        if continuation.is_empty() {
            return Ok(vec![]);
        }
        let m = self.lock();
        let mut ids = prompt.to_vec();
        ids.extend_from_slice(continuation);
        let n = ids.len() as i64;
        let lp = tch::no_grad(|| {
            let input = Tensor::from_slice(&ids).view([1, n]).to_device(m.device());
            let logits = m.forward(&input).to_kind(Kind::Float).log_softmax(-1, Kind::Float);
            let p = prompt.len() as i64;
            let rows = logits.narrow(1, p - 1, continuation.len() as i64).squeeze_dim(0);
            let idx = Tensor::from_slice(continuation).to_device(m.device()).unsqueeze(1);
            rows.gather(1, &idx, false).squeeze_dim(1).to_device(Device::Cpu)
        });
        Ok(Vec::<f32>::try_from(&lp)?)
    }
}

impl CausalLm for EmbeddedModel {
    fn forward(&self, input_ids: &Tensor) -> Tensor {
        self.lock().forward(input_ids)
    }
    fn vocab_size(&self) -> i64 {
        self.config.vocab_size
    }
}

/// A model loaded for training: the `VarStore` holding its weights (what the learner optimises
/// and checkpoints) and the model itself.
pub struct LoadedModel {
    /// The variables.
    pub vs: VarStore,
    /// Model, tokenizer, template.
    pub model: EmbeddedModel,
    /// Where it came from.
    pub source: PathBuf,
}

/// The default embedded model: `$EIGENBOX_LLAMA_MODEL`, else SmolLM2-135M-Instruct Q4_1 in the
/// eigenbox cache (`$EIGENBOX_CACHE`, else `~/.cache/eigenbox`), where
/// `scripts/install-llama-server.sh` puts it.
pub fn default_model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("EIGENBOX_LLAMA_MODEL").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("EIGENBOX_CACHE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/eigenbox"));
    cache.join("models/smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// File (next to `config.json`) naming the chat template of a model directory this crate wrote.
pub const TEMPLATE_FILE: &str = "eigenbox_chat_template.json";

fn template_json(t: &ChatTemplate) -> Value {
    match t {
        ChatTemplate::ChatMl { default_system } => json!({"format": "chatml", "default_system": default_system}),
        ChatTemplate::Llama3 { date } => json!({"format": "llama3", "date": date}),
    }
}

fn template_from_json(v: &Value) -> Result<ChatTemplate> {
    match v.get("format").and_then(Value::as_str) {
        Some("chatml") => Ok(ChatTemplate::ChatMl { default_system: v.get("default_system").and_then(Value::as_str).map(str::to_string) }),
        Some("llama3") => Ok(ChatTemplate::Llama3 { date: v.get("date").and_then(Value::as_str).unwrap_or("26 Jul 2024").to_string() }),
        other => bail!("unknown chat template format {other:?}"),
    }
}

/// The chat template of an HF model directory: [`TEMPLATE_FILE`], else a guess from
/// `tokenizer_config.json`'s `chat_template`, else ChatML without a default system prompt.
fn dir_template(dir: &Path) -> Result<ChatTemplate> {
    let ours = dir.join(TEMPLATE_FILE);
    if ours.is_file() {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&ours)?).with_context(|| format!("{}", ours.display()))?;
        return template_from_json(&v);
    }
    let tc = dir.join("tokenizer_config.json");
    if let Ok(text) = std::fs::read_to_string(&tc) {
        if let Some(t) = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("chat_template").and_then(Value::as_str).and_then(ChatTemplate::guess))
        {
            return Ok(t);
        }
    }
    tracing::warn!(dir = %dir.display(), "no chat template found; using ChatML");
    Ok(ChatTemplate::ChatMl { default_system: None })
}

/// Loads a model for training or sampling: a GGUF file (dequantised; tokenizer and template
/// from its metadata) or an HF directory (`config.json`, safetensors, `tokenizer.json`; a
/// checkpoint written by `eigenbox train` is one).
pub fn load_model(path: &Path, device: Device, kind: Kind) -> Result<LoadedModel> {
    if path.is_dir() {
        let (vs, model) = eigenbox_model::load_hf_dir(path, device, kind).with_context(|| format!("loading the model directory {}", path.display()))?;
        let mut tokenizer = Tokenizer::from_file(path.join("tokenizer.json"))?;
        tokenizer.eos_token_ids = model.config().eos_token_ids.clone();
        tokenizer.bos_token_id = model.config().bos_token_id;
        let template = dir_template(path)?;
        return Ok(LoadedModel { vs, model: EmbeddedModel::new(model, tokenizer, template), source: path.to_path_buf() });
    }
    if !path.is_file() {
        bail!(
            "no model at {} (give --model <file.gguf | HF directory>, or run scripts/install-llama-server.sh for the default SmolLM2)",
            path.display()
        );
    }
    let (vs, model, gguf) = eigenbox_model::load_gguf(path, device, kind).with_context(|| format!("loading {}", path.display()))?;
    let tokenizer = Tokenizer::from_gguf(&gguf)?;
    let template = gguf
        .get("tokenizer.chat_template")
        .and_then(GgufValue::as_str)
        .and_then(ChatTemplate::guess)
        .unwrap_or_else(ChatTemplate::smollm2);
    Ok(LoadedModel { vs, model: EmbeddedModel::new(model, tokenizer, template), source: path.to_path_buf() })
}

/// An HF `config.json` for `cfg` (what `ModelConfig::from_hf_json` reads back).
pub fn hf_config_json(cfg: &ModelConfig) -> Result<Value> {
    let rope_scaling = match &cfg.rope_scaling {
        None => Value::Null,
        Some(RopeScaling::Linear { factor }) => json!({"rope_type": "linear", "factor": factor}),
        Some(RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings }) => json!({
            "rope_type": "llama3", "factor": factor, "low_freq_factor": low_freq_factor,
            "high_freq_factor": high_freq_factor, "original_max_position_embeddings": original_max_position_embeddings
        }),
        Some(other) => bail!("RoPE scaling {other:?} cannot be written to config.json"),
    };
    Ok(json!({
        "model_type": cfg.arch.name(),
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "num_key_value_heads": cfg.num_kv_heads,
        "head_dim": cfg.head_dim,
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_scaling": rope_scaling,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "attention_bias": cfg.attention_bias,
        "max_position_embeddings": cfg.max_position_embeddings,
        "bos_token_id": cfg.bos_token_id,
        "eos_token_id": cfg.eos_token_ids,
    }))
}

/// Makes a checkpoint directory (which holds `model.safetensors`) a loadable HF model
/// directory: writes `config.json`, `tokenizer.json` and [`TEMPLATE_FILE`].
pub fn write_model_files(dir: &Path, model: &EmbeddedModel) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut cfg = hf_config_json(model.config())?;
    // Stop ids the tokenizer knew (GGUF eos / eot) travel in config.json's eos_token_id.
    let mut eos = model.tokenizer.eos_token_ids.clone();
    eos.extend(model.config().eos_token_ids.iter().copied());
    eos.sort_unstable();
    eos.dedup();
    cfg["eos_token_id"] = json!(eos);
    if cfg["bos_token_id"].is_null() {
        cfg["bos_token_id"] = json!(model.tokenizer.bos_token_id);
    }
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&cfg)?)?;
    model
        .tokenizer
        .inner()
        .save(dir.join("tokenizer.json"), false)
        .map_err(|e| anyhow::anyhow!("writing tokenizer.json: {e}"))?;
    std::fs::write(dir.join(TEMPLATE_FILE), serde_json::to_vec_pretty(&template_json(&model.template))?)?;
    Ok(())
}
