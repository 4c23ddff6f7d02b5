//! HF checkpoints: `config.json` + `model.safetensors` or sharded
//! `model.safetensors.index.json` + shards.

use crate::{ModelConfig, ModelError, Transformer};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn kind_of(d: Dtype) -> Option<Kind> {
    Some(match d {
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F64 => Kind::Double,
        _ => return None,
    })
}

/// Names HF checkpoints carry that the model does not need (rotary buffers).
fn ignorable(name: &str) -> bool {
    name.ends_with("rotary_emb.inv_freq")
}

/// The safetensors files of an HF model directory: the shards named by
/// `model.safetensors.index.json` if present, else `model.safetensors`.
pub fn safetensors_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| ModelError::io(&index, e))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| ModelError::Json {
                what: index.display().to_string(),
                source,
            })?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| {
                ModelError::config(
                    "weight_map",
                    format!("missing or not an object in {}", index.display()),
                )
            })?;
        let mut files = BTreeSet::new();
        for (k, f) in map {
            let f = f
                .as_str()
                .ok_or_else(|| ModelError::config(format!("weight_map.{k}"), "not a string"))?;
            if f.contains('/') || f.contains('\\') || f.contains("..") {
                return Err(ModelError::config(
                    format!("weight_map.{k}"),
                    format!("shard name `{f}` is not a plain file name"),
                ));
            }
            files.insert(f.to_string());
        }
        return Ok(files.into_iter().map(|f| dir.join(f)).collect());
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    Err(ModelError::io(
        single,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "neither model.safetensors nor model.safetensors.index.json exists",
        ),
    ))
}

/// Loads safetensors files into the variables of `vs` (converting dtype and device). Every
/// variable must be present exactly once across the files; unknown tensors are an error
/// (except rotary buffers, and `lm_head.weight` when the model ties it to the embedding).
pub fn load_safetensors(vs: &VarStore, files: &[PathBuf]) -> Result<(), ModelError> {
    let vars = vs.variables();
    let mut seen = HashSet::new();
    let mut unexpected = vec![];
    let source = files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    for path in files {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| ModelError::Safetensors {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        let mut n = 0usize;
        for (name, view) in st.tensors() {
            let Some(var) = vars.get(&name) else {
                let tied_head =
                    name == "lm_head.weight" && vars.contains_key("model.embed_tokens.weight");
                if !ignorable(&name) && !tied_head {
                    unexpected.push(name);
                }
                continue;
            };
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            if shape != var.size() {
                return Err(ModelError::ShapeMismatch {
                    source_name: path.display().to_string(),
                    name,
                    got: shape,
                    expected: var.size(),
                });
            }
            let kind = kind_of(view.dtype()).ok_or_else(|| ModelError::UnsupportedDtype {
                source_name: path.display().to_string(),
                name: name.clone(),
                dtype: format!("{:?}", view.dtype()),
            })?;
            let src = Tensor::f_from_data_size(view.data(), &shape, kind)?;
            tch::no_grad(|| -> Result<(), ModelError> {
                let mut var = var.shallow_clone();
                var.f_copy_(&src.to_kind(var.kind()).to_device(var.device()))?;
                Ok(())
            })?;
            seen.insert(name);
            n += 1;
        }
        tracing::debug!(path = %path.display(), tensors = n, "loaded safetensors shard");
    }
    if !unexpected.is_empty() {
        unexpected.sort();
        return Err(ModelError::UnexpectedTensors {
            source_name: source,
            names: unexpected,
        });
    }
    let mut missing: Vec<String> = vars
        .keys()
        .filter(|k| !seen.contains(*k))
        .cloned()
        .collect();
    if !missing.is_empty() {
        missing.sort();
        return Err(ModelError::MissingTensors {
            source_name: source,
            names: missing,
        });
    }
    Ok(())
}

/// Loads an HF model directory (`config.json` + safetensors) onto `device` in `kind`.
pub fn load_hf_dir(
    dir: impl AsRef<Path>,
    device: Device,
    kind: Kind,
) -> Result<(VarStore, Transformer), ModelError> {
    let dir = dir.as_ref();
    let cfg_path = dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| ModelError::io(&cfg_path, e))?;
    let cfg = ModelConfig::from_hf_json(&text)?;
    let files = safetensors_files(dir)?;
    let mut vs = VarStore::new(device);
    let model = Transformer::with_init(&vs.root(), &cfg, tch::nn::Init::Const(0.0))?;
    if kind != Kind::Float {
        vs.set_kind(kind);
    }
    load_safetensors(&vs, &files)?;
    tracing::info!(dir = %dir.display(), arch = cfg.arch.name(), shards = files.len(), params = cfg.num_parameters(), ?device, ?kind, "loaded HF model");
    Ok((vs, model))
}
