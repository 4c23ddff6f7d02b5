//! Small models for tests (here and in the CLI's): a byte-level tokenizer with ChatML's special
//! tokens and a tiny random transformer over it. Not for training anything real.

use eigenbox_model::{Arch, ChatTemplate, ModelConfig, Tokenizer, Transformer};
use tch::{nn::VarStore, Device};

use crate::model::{EmbeddedModel, LoadedModel};

/// Vocabulary of [`byte_tokenizer`]: 256 bytes, `<|im_start|>` (256), `<|im_end|>` (257).
pub const BYTE_VOCAB: i64 = 258;

/// A byte-level BPE tokenizer without merges (id = byte) plus ChatML's two special tokens
/// ([`Tokenizer::byte_level_chatml`]).
pub fn byte_tokenizer() -> Tokenizer {
    Tokenizer::byte_level_chatml().expect("byte-level tokenizer")
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
