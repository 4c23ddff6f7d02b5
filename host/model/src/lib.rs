//! Decoder-only transformers (Llama, Qwen2, Qwen3) on libtorch via `tch`.
//!
//! * [`ModelConfig`]: from an HF `config.json` ([`ModelConfig::from_hf_json`]), from GGUF
//!   metadata ([`GgufFile::model_config`]) or [`ModelConfig::tiny`] for tests.
//! * [`Transformer`]: RMSNorm, RoPE (theta; linear, llama3 and per-frequency scaling), GQA
//!   through fused `scaled_dot_product_attention` (`enable_gqa`, causal), SwiGLU, tied
//!   embeddings, Qwen2 q/k/v bias, Qwen3 q/k norm; f32 or bf16 (whatever the `VarStore` holds).
//!   Variables carry the HF names, so HF safetensors load in ([`load_hf_dir`],
//!   [`load_safetensors`]) and `VarStore::save("model.safetensors")` writes an HF checkpoint.
//!   [`CausalLm::forward`] gives logits; [`Transformer::hidden_states`] + [`Transformer::logits`]
//!   let a trainer compute the head and loss in chunks.
//! * GGUF ([`load_gguf`], [`GgufFile`]): v2/v3, F32/F16/BF16/Q4_0/Q4_1/Q8_0 dequantised,
//!   llama.cpp names mapped to HF names, llama's q/k permutation undone.
//! * [`generate`]: batched KV-cache sampling (greedy / temperature / top-p, stop ids and
//!   sequences, seeded per row), returning token ids and logprobs.
//! * [`Tokenizer`] (HF `tokenizer.json` or the GGUF vocabulary) and chat templates with tools
//!   ([`ChatTemplate`], [`encode_dialogue`] with per-token [`TokenRole`]s for loss masks,
//!   [`render_prompt`], [`parse_tool_calls`]).
//!
//! On a GPU, call [`best_device`] (or [`load_cuda_backend`]) before any other CUDA query: tch
//! binaries do not load libtorch's CUDA backend by themselves.
//!
//! ```no_run
//! use eigenbox_model::{generate, Arch, CausalLm, ModelConfig, SamplingParams, Transformer};
//! use tch::{nn::VarStore, Kind, Tensor};
//!
//! let vs = VarStore::new(eigenbox_model::best_device());
//! let model = Transformer::new(&vs.root(), &ModelConfig::tiny(Arch::Qwen3, 128)).unwrap();
//! // Training-style forward: logits [B, T, V] for right-padded ids [B, T].
//! let ids = Tensor::from_slice(&[1i64, 2, 3, 4]).view([1, 4]).to_device(model.device());
//! let logits = model.forward(&ids);
//! assert_eq!(logits.size(), [1, 4, 128]);
//! // Sampling with a KV cache.
//! let params = SamplingParams { temperature: 0.7, top_p: 0.95, max_new_tokens: 16, stop_token_ids: vec![0],
//!                               stop_sequences: vec![], seed: 42 };
//! let outs = generate(&model, &[vec![1, 2, 3], vec![5]], &params).unwrap();
//! println!("{:?} {:?} {:?}", outs[0].tokens, outs[0].logprobs, outs[0].finish);
//! ```
//!
//! A real model, its tokenizer and a tool dialogue:
//!
//! ```no_run
//! use eigenbox_model::*;
//! use serde_json::json;
//! use tch::Kind;
//!
//! # fn main() -> Result<(), ModelError> {
//! let (_vs, model, gguf) = load_gguf("SmolLM2-135M-Instruct.Q4_1.gguf", best_device(), Kind::Float)?;
//! let tok = Tokenizer::from_gguf(&gguf)?;
//! let template = ChatTemplate::smollm2();
//! let tools = vec![json!({"type": "function", "function": {"name": "get_weather",
//!     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}})];
//! let messages = vec![ChatMessage::user("Weather in Paris?")];
//! let prompt = encode_prompt(&tok, &template, &messages, &tools)?;
//! let params = SamplingParams { temperature: 0.0, top_p: 1.0, max_new_tokens: 64,
//!     stop_token_ids: tok.eos_token_ids.clone(), stop_sequences: vec![], seed: 0 };
//! let out = generate(&model, &[prompt], &params)?;
//! let (text, calls) = parse_tool_calls(&tok.decode(&out[0].tokens, true)?);
//! // SFT data: ids plus who produced each token.
//! let mut dialogue = messages.clone();
//! dialogue.push(ChatMessage::assistant_tool_calls(Some(text).filter(|t| !t.is_empty()), calls));
//! let enc = encode_dialogue(&tok, &template, &dialogue, &tools)?;
//! let loss_mask = enc.mask(TokenRole::Assistant);
//! # let _ = loss_mask; Ok(()) }
//! ```

mod chat;
mod config;
mod device;
mod error;
mod generate;
mod gguf;
mod hf;
mod tokenizer;
mod transformer;

pub use chat::{
    encode_dialogue, encode_prompt, parse_tool_calls, py_json, py_json_indent, render_prompt,
    ChatMessage, ChatTemplate, EncodedDialogue, FunctionCall, TokenRole, ToolCall,
};
pub use config::{Arch, ModelConfig, RopeScaling};
pub use device::{best_device, load_cuda_backend};
pub use error::ModelError;
pub use generate::{generate, sample_logits, FinishReason, Generation, SamplingParams};
pub use gguf::{
    dequantize, ggml_type_name, hf_name as gguf_to_hf_name, load_gguf, load_gguf_into, GgufFile,
    GgufTensorInfo, GgufValue,
};
pub use hf::{load_hf_dir, load_safetensors, safetensors_files};
pub use tokenizer::{ByteSpan, Tokenizer};
pub use transformer::{KvCache, Transformer};

use tch::Tensor;

/// A causal language model the learner trains and samples from.
pub trait CausalLm {
    /// Logits `[B, T, vocab]` (float, the model's dtype) for token ids `[B, T]` (int64,
    /// right-padded), with causal attention and positions `0..T`.
    fn forward(&self, input_ids: &Tensor) -> Tensor;
    /// Vocabulary size (last dimension of the logits).
    fn vocab_size(&self) -> i64;
}
