//! Small models for tests (here and in the CLI's): a byte-level tokenizer with ChatML's special
//! tokens and a tiny random transformer over it. Not for training anything real.

use eigenbox_model::{Arch, ChatTemplate, ModelConfig, Tokenizer, Transformer};
use tch::{nn::VarStore, Device};

use crate::model::{EmbeddedModel, LoadedModel};

/// Vocabulary of [`byte_tokenizer`]: 256 bytes, `<|im_start|>` (256), `<|im_end|>` (257).
pub const BYTE_VOCAB: i64 = 258;

/// A byte-level BPE tokenizer without merges (id = byte) plus ChatML's two special tokens.
pub fn byte_tokenizer() -> Tokenizer {
    let mut bs: Vec<u32> = (33..=126).chain(161..=172).chain(174..=255).collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    let mut vocab = serde_json::Map::new();
    for (b, c) in bs.iter().zip(&cs) {
        vocab.insert(char::from_u32(*c).expect("byte char").to_string(), serde_json::json!(*b));
    }
    let special = |id: i64, s: &str| serde_json::json!({"id": id, "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true});
    let bl = serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    let tj = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [special(256, "<|im_start|>"), special(257, "<|im_end|>")],
        "normalizer": null, "pre_tokenizer": bl, "post_processor": null, "decoder": bl,
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": []}
    });
    Tokenizer::from_json(&tj.to_string()).expect("byte-level tokenizer")
}

/// `ModelConfig::tiny` over [`byte_tokenizer`] with a 16k context.
pub fn tiny_config() -> ModelConfig {
    ModelConfig { max_position_embeddings: 16384, ..ModelConfig::tiny(Arch::Qwen2, BYTE_VOCAB) }
}

/// A tiny random model (seeded) on the CPU with the byte tokenizer and ChatML (no default
/// system prompt).
pub fn tiny_model(seed: i64) -> LoadedModel {
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let model = Transformer::new(&vs.root(), &tiny_config()).expect("tiny model");
    LoadedModel { vs, model: EmbeddedModel::new(model, byte_tokenizer(), ChatTemplate::ChatMl { default_system: None }), source: "tiny".into() }
}
