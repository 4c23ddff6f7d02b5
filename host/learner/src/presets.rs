//! Named model shapes for the benchmark and tests, as [`eigenbox_model::ModelConfig`] values
//! (randomly initialised [`eigenbox_model::Transformer`]s of these shapes have the FLOP and
//! memory profile of the real checkpoints).

use eigenbox_model::{Arch, ModelConfig};

use crate::error::{LearnerError, Result};

/// The preset names [`preset`] accepts.
pub const PRESETS: &[&str] = &["tiny", "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen3-0.6b", "llama-3.2-1b"];

/// A named shape: `tiny` (Qwen2-shaped, vocab 512, width 64, 2 layers), `qwen2.5-0.5b`,
/// `qwen2.5-1.5b`, `qwen3-0.6b`, `llama-3.2-1b` (the HF configs' dimensions, RoPE theta and
/// norm epsilon; Llama 3.2's RoPE scaling is left out, it does not change the cost).
pub fn preset(name: &str) -> Result<ModelConfig> {
    let qwen2 = |hidden: i64, layers: i64, heads: i64, kv_heads: i64, inter: i64| ModelConfig {
        arch: Arch::Qwen2,
        vocab_size: 151_936,
        hidden_size: hidden,
        intermediate_size: inter,
        num_layers: layers,
        num_heads: heads,
        num_kv_heads: kv_heads,
        head_dim: hidden / heads,
        rms_norm_eps: 1e-6,
        rope_theta: 1_000_000.0,
        rope_scaling: None,
        tie_word_embeddings: true,
        attention_bias: true,
        qk_norm: false,
        max_position_embeddings: 32_768,
        bos_token_id: None,
        eos_token_ids: vec![151_645],
    };
    Ok(match name {
        "tiny" => ModelConfig::tiny(Arch::Qwen2, 512),
        "qwen2.5-0.5b" => qwen2(896, 24, 14, 2, 4864),
        "qwen2.5-1.5b" => qwen2(1536, 28, 12, 2, 8960),
        "qwen3-0.6b" => ModelConfig {
            arch: Arch::Qwen3,
            head_dim: 128,
            attention_bias: false,
            qk_norm: true,
            max_position_embeddings: 40_960,
            ..qwen2(1024, 28, 16, 8, 3072)
        },
        "llama-3.2-1b" => ModelConfig {
            arch: Arch::Llama,
            vocab_size: 128_256,
            hidden_size: 2048,
            intermediate_size: 8192,
            num_layers: 16,
            num_heads: 32,
            num_kv_heads: 8,
            head_dim: 64,
            rms_norm_eps: 1e-5,
            rope_theta: 500_000.0,
            rope_scaling: None,
            tie_word_embeddings: true,
            attention_bias: false,
            qk_norm: false,
            max_position_embeddings: 131_072,
            bos_token_id: Some(128_000),
            eos_token_ids: vec![128_001, 128_008, 128_009],
        },
        other => {
            return Err(LearnerError::Config(format!(
                "unknown preset {other:?} ({})",
                PRESETS.join(", ")
            )))
        }
    })
}

/// Parameters that take part in matrix products per token: all but the input embedding table,
/// with the LM head counted even when tied (for FLOP estimates).
pub fn num_matmul_parameters(cfg: &ModelConfig) -> i64 {
    let emb = cfg.vocab_size * cfg.hidden_size;
    let head_extra = if cfg.tie_word_embeddings { emb } else { 0 };
    cfg.num_parameters() - emb + head_extra
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_published_sizes() {
        // HF parameter counts of the real checkpoints.
        assert_eq!(preset("qwen2.5-0.5b").unwrap().num_parameters(), 494_032_768);
        assert_eq!(preset("qwen2.5-1.5b").unwrap().num_parameters(), 1_543_714_304);
        assert_eq!(preset("qwen3-0.6b").unwrap().num_parameters(), 596_049_920);
        assert_eq!(preset("llama-3.2-1b").unwrap().num_parameters(), 1_235_814_400);
        for name in PRESETS {
            preset(name).unwrap().validate().unwrap();
        }
        assert!(matches!(preset("gpt2"), Err(LearnerError::Config(_))));
        let t = preset("tiny").unwrap();
        assert_eq!(num_matmul_parameters(&t), t.num_parameters());
    }
}
