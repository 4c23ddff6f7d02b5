//! Checkpoints: `model.safetensors` (the VarStore's tensors under their HF names),
//! `optimizer.safetensors` (AdamW moments and fp32 masters) and `trainer_state.json` (step, RNG,
//! schedule, configs, SHA-256 of both tensor files).
//!
//! Loading validates everything (format version, trainer kind, model config, checksums, names,
//! shapes, dtypes) before it copies a single tensor, and reports each problem as a typed
//! [`LearnerError`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tch::{nn::VarStore, Tensor};

use crate::error::{LearnerError, Result};
use crate::optim::{AdamW, AdamWConfig, LrSchedule};
use crate::rng::Rng;

/// Format version written and read by this build.
pub const FORMAT_VERSION: u32 = 1;
/// Model weights file name.
pub const MODEL_FILE: &str = "model.safetensors";
/// Optimizer state file name.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Trainer state file name.
pub const STATE_FILE: &str = "trainer_state.json";

/// The JSON sidecar of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// `"sft"` or `"grpo"`.
    pub trainer: String,
    /// Trainer steps taken.
    pub step: u64,
    /// AdamW steps taken (bias correction).
    pub optimizer_steps: u64,
    /// The trainer's RNG.
    pub rng: Rng,
    /// Learning-rate schedule.
    pub schedule: LrSchedule,
    /// AdamW hyperparameters.
    pub optimizer: AdamWConfig,
    /// The model's configuration (must match on resume).
    pub model_config: Value,
    /// The trainer's configuration (informational).
    pub trainer_config: Value,
    /// Trainer-specific state (e.g. data cursor).
    pub extra: Value,
    /// SHA-256 of the tensor files, filled in by [`save`].
    #[serde(default)]
    pub sha256: HashMap<String, String>,
}

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| LearnerError::io(path, e))?;
    let d = Sha256::digest(&bytes);
    Ok(d.iter().map(|b| format!("{b:02x}")).collect())
}

fn describe(t: &Tensor) -> String {
    format!("{:?} {:?}", t.size(), t.kind())
}

fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    let contiguous: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                t.detach().contiguous().to_device(tch::Device::Cpu),
            )
        })
        .collect();
    Tensor::write_safetensors(&contiguous, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| LearnerError::io(path, e))
}

/// Writes a checkpoint of `vs` and `opt` into `dir` (created if missing; files replaced
/// atomically one by one).
pub fn save(dir: &Path, vs: &VarStore, opt: &AdamW, state: &TrainerState) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| LearnerError::io(dir, e))?;
    let mut model: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    model.sort_by(|a, b| a.0.cmp(&b.0));
    let mp = dir.join(MODEL_FILE);
    let op = dir.join(OPTIMIZER_FILE);
    write_tensors(&mp, &model)?;
    write_tensors(&op, &opt.state_tensors())?;
    let mut state = state.clone();
    state.format_version = FORMAT_VERSION;
    state.optimizer_steps = opt.steps();
    state.sha256.insert(MODEL_FILE.into(), sha256_file(&mp)?);
    state
        .sha256
        .insert(OPTIMIZER_FILE.into(), sha256_file(&op)?);
    let sp = dir.join(STATE_FILE);
    let json = serde_json::to_string_pretty(&state)
        .map_err(|e| LearnerError::Config(format!("trainer state: {e}")))?;
    let tmp = sp.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(|e| LearnerError::io(&tmp, e))?;
    std::fs::rename(&tmp, &sp).map_err(|e| LearnerError::io(&sp, e))?;
    tracing::info!(dir = %dir.display(), step = state.step, "checkpoint saved");
    Ok(())
}

/// First differing field of two JSON values, as `(path, a, b)`.
pub fn first_json_diff(a: &Value, b: &Value, path: &str) -> Option<(String, String, String)> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => {
                        if let Some(d) = first_json_diff(u, v, &p) {
                            return Some(d);
                        }
                    }
                    (u, v) => {
                        return Some((
                            p,
                            u.map_or("<absent>".into(), |u| u.to_string()),
                            v.map_or("<absent>".into(), |v| v.to_string()),
                        ))
                    }
                }
            }
            None
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        _ if a == b => None,
        _ => Some((path.to_string(), a.to_string(), b.to_string())),
    }
}

/// Reads and checks `trainer_state.json` of `dir` against the expected trainer kind and model
/// configuration.
pub fn read_state(dir: &Path, trainer: &str, model_config: &Value) -> Result<TrainerState> {
    let sp = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&sp).map_err(|e| LearnerError::io(&sp, e))?;
    let raw: Value = serde_json::from_str(&text).map_err(|e| LearnerError::CorruptCheckpoint {
        path: sp.clone(),
        msg: format!("not JSON: {e}"),
    })?;
    let version = raw
        .get("format_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| LearnerError::CorruptCheckpoint {
            path: sp.clone(),
            msg: "missing format_version".into(),
        })?;
    if version != FORMAT_VERSION as u64 {
        return Err(LearnerError::CheckpointVersion {
            path: sp,
            found: version as u32,
            expected: FORMAT_VERSION,
        });
    }
    let state: TrainerState =
        serde_json::from_value(raw).map_err(|e| LearnerError::CorruptCheckpoint {
            path: sp.clone(),
            msg: e.to_string(),
        })?;
    if state.trainer != trainer {
        return Err(LearnerError::ConfigMismatch {
            field: "trainer".into(),
            checkpoint: state.trainer.clone(),
            current: trainer.into(),
        });
    }
    if let Some((field, c, m)) = first_json_diff(&state.model_config, model_config, "model_config")
    {
        return Err(LearnerError::ConfigMismatch {
            field,
            checkpoint: c,
            current: m,
        });
    }
    Ok(state)
}

fn read_checked(
    path: PathBuf,
    state: &TrainerState,
    file: &str,
) -> Result<HashMap<String, Tensor>> {
    if let Some(want) = state.sha256.get(file) {
        let got = sha256_file(&path)?;
        if &got != want {
            return Err(LearnerError::CorruptCheckpoint {
                path,
                msg: format!("SHA-256 {got} does not match {want} recorded in {STATE_FILE}"),
            });
        }
    }
    let tensors = Tensor::read_safetensors(&path).map_err(|e| LearnerError::CorruptCheckpoint {
        path: path.clone(),
        msg: e.to_string(),
    })?;
    Ok(tensors.into_iter().collect())
}

fn match_tensors(
    path: &Path,
    dest: &[(String, Tensor)],
    mut src: HashMap<String, Tensor>,
) -> Result<Vec<(Tensor, Tensor)>> {
    let mut pairs = Vec::with_capacity(dest.len());
    for (name, d) in dest {
        let s = src
            .remove(name)
            .ok_or_else(|| LearnerError::MissingTensor {
                path: path.to_path_buf(),
                name: name.clone(),
            })?;
        if s.size() != d.size() || s.kind() != d.kind() {
            return Err(LearnerError::TensorMismatch {
                name: name.clone(),
                expected: describe(d),
                found: describe(&s),
            });
        }
        pairs.push((d.shallow_clone(), s));
    }
    if let Some(name) = src.keys().min() {
        return Err(LearnerError::UnexpectedTensor {
            path: path.to_path_buf(),
            name: name.clone(),
        });
    }
    Ok(pairs)
}

/// Loads a checkpoint into `vs` and `opt`, returning its state. Nothing is modified unless
/// every check passes.
pub fn load(
    dir: &Path,
    vs: &VarStore,
    opt: &mut AdamW,
    trainer: &str,
    model_config: &Value,
) -> Result<TrainerState> {
    let state = read_state(dir, trainer, model_config)?;
    let mp = dir.join(MODEL_FILE);
    let op = dir.join(OPTIMIZER_FILE);
    let model = read_checked(mp.clone(), &state, MODEL_FILE)?;
    let optim = read_checked(op.clone(), &state, OPTIMIZER_FILE)?;
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mpairs = match_tensors(&mp, &vars, model)?;
    let opairs = match_tensors(&op, &opt.state_slots(), optim)?;
    tch::no_grad(|| {
        for (mut d, s) in mpairs.into_iter().chain(opairs) {
            d.f_copy_(&s)?;
        }
        Ok::<_, LearnerError>(())
    })?;
    opt.set_steps(state.optimizer_steps);
    tracing::info!(dir = %dir.display(), step = state.step, "checkpoint loaded");
    Ok(state)
}

/// The JSON fingerprint of an `eigenbox_model::ModelConfig` stored in checkpoints and
/// compared on resume.
pub fn model_config_json(cfg: &eigenbox_model::ModelConfig) -> Value {
    serde_json::json!({
        "arch": cfg.arch.name(),
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_layers": cfg.num_layers,
        "num_heads": cfg.num_heads,
        "num_kv_heads": cfg.num_kv_heads,
        "head_dim": cfg.head_dim,
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_scaling": format!("{:?}", cfg.rope_scaling),
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "attention_bias": cfg.attention_bias,
        "qk_norm": cfg.qk_norm,
    })
}
