//! Model configuration: HF `config.json` parsing, a tiny test config, parameter counts.

use crate::ModelError;
use serde_json::Value;

/// Supported decoder-only architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// Llama (also SmolLM2, Llama 3.x): no biases, tied or untied head.
    Llama,
    /// Qwen2 / Qwen2.5: bias on q/k/v projections.
    Qwen2,
    /// Qwen3 (dense): RMSNorm on q and k per head, no biases.
    Qwen3,
}

impl Arch {
    /// Parses an HF `model_type` / GGUF `general.architecture`.
    pub fn parse(name: &str) -> Result<Self, ModelError> {
        match name {
            "llama" | "smollm" | "smollm2" => Ok(Arch::Llama),
            "qwen2" => Ok(Arch::Qwen2),
            "qwen3" => Ok(Arch::Qwen3),
            other => Err(ModelError::UnsupportedArch(other.to_string())),
        }
    }
    /// The HF `model_type` / GGUF architecture name.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
        }
    }
}

/// RoPE frequency scaling (HF `rope_scaling`).
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// `rope_type: "linear"`: every inverse frequency divided by `factor`.
    Linear { factor: f64 },
    /// `rope_type: "llama3"` (Llama 3.1+): wavelength-dependent scaling.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: i64,
    },
    /// Per-frequency divisors (llama.cpp's `rope_freqs.weight`, length `head_dim / 2`).
    FreqFactors(Vec<f64>),
}

/// Everything needed to build a [`crate::Transformer`].
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub arch: Arch,
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_layers: i64,
    pub num_heads: i64,
    pub num_kv_heads: i64,
    pub head_dim: i64,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: Option<RopeScaling>,
    pub tie_word_embeddings: bool,
    /// Bias on the q/k/v projections (always true for Qwen2; for Llama also on `o_proj`).
    pub attention_bias: bool,
    /// Per-head RMSNorm on q and k before RoPE (Qwen3).
    pub qk_norm: bool,
    pub max_position_embeddings: i64,
    pub bos_token_id: Option<i64>,
    pub eos_token_ids: Vec<i64>,
}

fn get_i64(v: &Value, key: &str) -> Result<Option<i64>, ModelError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_i64()
            .or_else(|| x.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| ModelError::config(key, format!("expected an integer, got {x}"))),
    }
}

fn req_i64(v: &Value, key: &str) -> Result<i64, ModelError> {
    get_i64(v, key)?.ok_or_else(|| ModelError::config(key, "missing"))
}

fn get_f64(v: &Value, key: &str) -> Result<Option<f64>, ModelError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_f64()
            .map(Some)
            .ok_or_else(|| ModelError::config(key, format!("expected a number, got {x}"))),
    }
}

fn get_bool(v: &Value, key: &str) -> Result<Option<bool>, ModelError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_bool()
            .map(Some)
            .ok_or_else(|| ModelError::config(key, format!("expected a bool, got {x}"))),
    }
}

/// Parses an HF `rope_scaling` / `rope_parameters` object. `None` for default RoPE.
pub(crate) fn parse_rope_scaling(
    rs: &Value,
    field: &str,
) -> Result<Option<RopeScaling>, ModelError> {
    if rs.is_null() {
        return Ok(None);
    }
    let ty = rs
        .get("rope_type")
        .or_else(|| rs.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let factor = || -> Result<f64, ModelError> {
        get_f64(rs, "factor")?
            .ok_or_else(|| ModelError::config(format!("{field}.factor"), "missing"))
    };
    match ty {
        "default" | "none" => Ok(None),
        "linear" => Ok(Some(RopeScaling::Linear { factor: factor()? })),
        "llama3" => Ok(Some(RopeScaling::Llama3 {
            factor: factor()?,
            low_freq_factor: get_f64(rs, "low_freq_factor")?.unwrap_or(1.0),
            high_freq_factor: get_f64(rs, "high_freq_factor")?.unwrap_or(4.0),
            original_max_position_embeddings: get_i64(rs, "original_max_position_embeddings")?
                .unwrap_or(8192),
        })),
        other => Err(ModelError::config(
            format!("{field}.rope_type"),
            format!("unsupported RoPE scaling `{other}` (supported: default, linear, llama3)"),
        )),
    }
}

impl ModelConfig {
    /// Parses an HF `config.json` (`model_type` llama, qwen2 or qwen3). Handles both the
    /// transformers 4 layout (`rope_theta`, `rope_scaling`) and the 5 layout (`rope_parameters`).
    pub fn from_hf_json(text: &str) -> Result<Self, ModelError> {
        let v: Value = serde_json::from_str(text).map_err(|source| ModelError::Json {
            what: "config.json".into(),
            source,
        })?;
        // Multimodal wrappers keep the LM config in `text_config`.
        let v = match v.get("text_config") {
            Some(t) if t.is_object() && v.get("hidden_size").is_none() => t.clone(),
            _ => v,
        };
        let model_type = v
            .get("model_type")
            .and_then(Value::as_str)
            .ok_or_else(|| ModelError::config("model_type", "missing"))?;
        let arch = Arch::parse(model_type)?;
        let hidden_size = req_i64(&v, "hidden_size")?;
        let num_heads = req_i64(&v, "num_attention_heads")?;
        let num_kv_heads = get_i64(&v, "num_key_value_heads")?.unwrap_or(num_heads);
        let head_dim = match get_i64(&v, "head_dim")? {
            Some(d) => d,
            None => {
                if num_heads <= 0 || hidden_size % num_heads != 0 {
                    return Err(ModelError::config(
                        "head_dim",
                        "missing and hidden_size is not divisible by num_attention_heads",
                    ));
                }
                hidden_size / num_heads
            }
        };
        let rope_params = v.get("rope_parameters").filter(|x| x.is_object());
        let rope_theta = match get_f64(&v, "rope_theta")? {
            Some(t) => t,
            None => match rope_params {
                Some(rp) => get_f64(rp, "rope_theta")?.unwrap_or(10000.0),
                None => 10000.0,
            },
        };
        let rope_scaling = match v.get("rope_scaling") {
            Some(rs) if !rs.is_null() => parse_rope_scaling(rs, "rope_scaling")?,
            _ => match rope_params {
                Some(rp) => parse_rope_scaling(rp, "rope_parameters")?,
                None => None,
            },
        };
        if get_bool(&v, "mlp_bias")? == Some(true) {
            return Err(ModelError::config(
                "mlp_bias",
                "MLP biases are not supported",
            ));
        }
        let attention_bias = match arch {
            Arch::Qwen2 => true,
            _ => get_bool(&v, "attention_bias")?.unwrap_or(false),
        };
        let eos_token_ids = match v.get("eos_token_id") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_i64().ok_or_else(|| {
                        ModelError::config("eos_token_id", format!("expected integers, got {x}"))
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(x) => vec![x.as_i64().ok_or_else(|| {
                ModelError::config("eos_token_id", format!("expected an integer, got {x}"))
            })?],
        };
        let cfg = ModelConfig {
            arch,
            vocab_size: req_i64(&v, "vocab_size")?,
            hidden_size,
            intermediate_size: req_i64(&v, "intermediate_size")?,
            num_layers: req_i64(&v, "num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: get_f64(&v, "rms_norm_eps")?.unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            tie_word_embeddings: get_bool(&v, "tie_word_embeddings")?.unwrap_or(false),
            attention_bias,
            qk_norm: arch == Arch::Qwen3,
            max_position_embeddings: get_i64(&v, "max_position_embeddings")?.unwrap_or(2048),
            bos_token_id: get_i64(&v, "bos_token_id")?,
            eos_token_ids,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// A small model for tests: hidden 64, 2 layers, 4 heads (2 KV heads, GQA), head_dim 16,
    /// intermediate 128. Llama gets an untied `lm_head`, Qwen2/Qwen3 tie it; Qwen2 has q/k/v
    /// biases and Qwen3 q/k norms, as in the real architectures.
    pub fn tiny(arch: Arch, vocab_size: i64) -> Self {
        ModelConfig {
            arch,
            vocab_size,
            hidden_size: 64,
            intermediate_size: 128,
            num_layers: 2,
            num_heads: 4,
            num_kv_heads: 2,
            head_dim: 16,
            rms_norm_eps: 1e-6,
            rope_theta: 10000.0,
            rope_scaling: None,
            tie_word_embeddings: arch != Arch::Llama,
            attention_bias: arch == Arch::Qwen2,
            qk_norm: arch == Arch::Qwen3,
            max_position_embeddings: 512,
            bos_token_id: None,
            eos_token_ids: vec![],
        }
    }

    /// Checks the dimensions are consistent.
    pub fn validate(&self) -> Result<(), ModelError> {
        let pos = |field: &str, x: i64| {
            if x <= 0 {
                Err(ModelError::config(
                    field,
                    format!("must be positive, got {x}"),
                ))
            } else {
                Ok(())
            }
        };
        pos("vocab_size", self.vocab_size)?;
        pos("hidden_size", self.hidden_size)?;
        pos("intermediate_size", self.intermediate_size)?;
        pos("num_hidden_layers", self.num_layers)?;
        pos("num_attention_heads", self.num_heads)?;
        pos("num_key_value_heads", self.num_kv_heads)?;
        pos("head_dim", self.head_dim)?;
        if self.num_heads % self.num_kv_heads != 0 {
            return Err(ModelError::config(
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads {}",
                    self.num_kv_heads, self.num_heads
                ),
            ));
        }
        if self.head_dim % 2 != 0 {
            return Err(ModelError::config(
                "head_dim",
                format!("must be even for RoPE, got {}", self.head_dim),
            ));
        }
        if let Some(RopeScaling::FreqFactors(f)) = &self.rope_scaling {
            if f.len() as i64 != self.head_dim / 2 {
                return Err(ModelError::config(
                    "rope_freqs",
                    format!(
                        "{} factors, expected head_dim/2 = {}",
                        f.len(),
                        self.head_dim / 2
                    ),
                ));
            }
        }
        if self.rope_theta.is_nan() || self.rope_theta <= 0.0 {
            return Err(ModelError::config(
                "rope_theta",
                format!("must be positive, got {}", self.rope_theta),
            ));
        }
        Ok(())
    }

    /// Number of parameters (embedding, layers, final norm and, if untied, `lm_head`).
    pub fn num_parameters(&self) -> i64 {
        let (h, d, i) = (self.hidden_size, self.head_dim, self.intermediate_size);
        let q = self.num_heads * d;
        let kv = self.num_kv_heads * d;
        let mut layer = h * q + 2 * h * kv + q * h + 3 * h * i + 2 * h;
        if self.attention_bias {
            layer += q + 2 * kv;
            if self.arch == Arch::Llama {
                layer += h;
            }
        }
        if self.qk_norm {
            layer += 2 * d;
        }
        let head = if self.tie_word_embeddings {
            0
        } else {
            self.vocab_size * h
        };
        self.vocab_size * h + self.num_layers * layer + h + head
    }

    /// Inverse RoPE frequencies (length `head_dim / 2`), with the configured scaling applied,
    /// as HF computes them (`1 / theta^(2i/d)`).
    pub fn inv_freq(&self) -> Vec<f64> {
        let d = self.head_dim as f64;
        let base: Vec<f64> = (0..self.head_dim / 2)
            .map(|i| 1.0 / self.rope_theta.powf((2 * i) as f64 / d))
            .collect();
        match &self.rope_scaling {
            None => base,
            Some(RopeScaling::Linear { factor }) => base.iter().map(|f| f / factor).collect(),
            Some(RopeScaling::FreqFactors(ff)) => base.iter().zip(ff).map(|(f, s)| f / s).collect(),
            Some(RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            }) => {
                let old = *original_max_position_embeddings as f64;
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                base.iter()
                    .map(|&f| {
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (old / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_smollm2_style_config() {
        let text = r#"{"architectures":["LlamaForCausalLM"],"bos_token_id":1,"eos_token_id":2,
            "hidden_size":576,"intermediate_size":1536,"max_position_embeddings":8192,"model_type":"llama",
            "num_attention_heads":9,"num_hidden_layers":30,"num_key_value_heads":3,"rms_norm_eps":1e-05,
            "rope_scaling":null,"rope_theta":100000,"tie_word_embeddings":true,"vocab_size":49152}"#;
        let c = ModelConfig::from_hf_json(text).unwrap();
        assert_eq!(c.arch, Arch::Llama);
        assert_eq!(c.head_dim, 64);
        assert_eq!(c.num_kv_heads, 3);
        assert!(c.tie_word_embeddings);
        assert_eq!(c.rope_theta, 100000.0);
        assert_eq!(c.eos_token_ids, vec![2]);
        // SmolLM2-135M has 134,515,008 parameters.
        assert_eq!(c.num_parameters(), 134_515_008);
    }

    #[test]
    fn parses_qwen_and_llama3_configs() {
        let q3 = r#"{"model_type":"qwen3","vocab_size":151936,"hidden_size":1024,"intermediate_size":3072,
            "num_hidden_layers":28,"num_attention_heads":16,"num_key_value_heads":8,"head_dim":128,
            "rms_norm_eps":1e-6,"rope_theta":1000000,"tie_word_embeddings":true,"eos_token_id":151645,
            "max_position_embeddings":40960,"attention_bias":false}"#;
        let c = ModelConfig::from_hf_json(q3).unwrap();
        assert_eq!(c.arch, Arch::Qwen3);
        assert!(c.qk_norm && !c.attention_bias);
        assert_eq!(c.head_dim, 128);
        // Qwen3-0.6B: 596,049,920 parameters (tied).
        assert_eq!(c.num_parameters(), 596_049_920);
        let q2 = r#"{"model_type":"qwen2","vocab_size":151936,"hidden_size":896,"intermediate_size":4864,
            "num_hidden_layers":24,"num_attention_heads":14,"num_key_value_heads":2,"rms_norm_eps":1e-6,
            "rope_theta":1000000.0,"tie_word_embeddings":true,"eos_token_id":151645}"#;
        let c = ModelConfig::from_hf_json(q2).unwrap();
        assert!(c.attention_bias);
        // Qwen2.5-0.5B: 494,032,768 parameters.
        assert_eq!(c.num_parameters(), 494_032_768);
        let l3 = r#"{"model_type":"llama","vocab_size":128256,"hidden_size":2048,"intermediate_size":8192,
            "num_hidden_layers":16,"num_attention_heads":32,"num_key_value_heads":8,"rms_norm_eps":1e-5,
            "rope_theta":500000.0,"tie_word_embeddings":true,"eos_token_id":[128001,128008,128009],
            "rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
            "original_max_position_embeddings":8192,"rope_type":"llama3"}}"#;
        let c = ModelConfig::from_hf_json(l3).unwrap();
        assert_eq!(c.eos_token_ids, vec![128001, 128008, 128009]);
        assert!(matches!(c.rope_scaling, Some(RopeScaling::Llama3 { .. })));
        // Llama-3.2-1B: 1,235,814,400 parameters.
        assert_eq!(c.num_parameters(), 1_235_814_400);
        let f = c.inv_freq();
        assert_eq!(f[0], 1.0); // high frequencies unchanged
        let unscaled = 1.0 / 500000f64.powf(62.0 / 64.0);
        assert!((f[31] - unscaled / 32.0).abs() < 1e-15); // low frequencies divided by factor
    }

    #[test]
    fn config_errors_name_the_field() {
        let e =
            ModelConfig::from_hf_json(r#"{"model_type":"llama","hidden_size":64}"#).unwrap_err();
        assert!(e.to_string().contains("num_attention_heads"), "{e}");
        let e = ModelConfig::from_hf_json(r#"{"model_type":"gpt_neox"}"#).unwrap_err();
        assert!(e.to_string().contains("gpt_neox"), "{e}");
        let e = ModelConfig::from_hf_json("{").unwrap_err();
        assert!(e.to_string().contains("config.json"), "{e}");
        let bad = r#"{"model_type":"llama","vocab_size":10,"hidden_size":64,"intermediate_size":8,
            "num_hidden_layers":1,"num_attention_heads":4,"num_key_value_heads":3}"#;
        let e = ModelConfig::from_hf_json(bad).unwrap_err();
        assert!(e.to_string().contains("num_key_value_heads"), "{e}");
    }
}
