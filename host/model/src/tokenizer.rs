//! Tokenizers: HF `tokenizer.json`, or rebuilt from a GGUF vocabulary (byte-level BPE).

use crate::gguf::{GgufFile, GgufValue};
use crate::ModelError;
use serde_json::{json, Map, Value};
use std::path::Path;

/// A byte range `[start, end)` in the encoded text.
pub type ByteSpan = (usize, usize);

/// A text tokenizer plus the model's special ids.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Beginning-of-sequence id, if the model has one.
    pub bos_token_id: Option<i64>,
    /// End-of-sequence / end-of-turn ids (stop tokens for generation).
    pub eos_token_ids: Vec<i64>,
    /// Whether the model expects a BOS token in front of every sequence
    /// (GGUF `tokenizer.ggml.add_bos_token`); [`Tokenizer::encode`] does not add it.
    pub add_bos: bool,
}

fn tok_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer(e.to_string())
}

// Pre-tokenizer regexes (llama.cpp `llama-vocab.cpp` / the HF tokenizer.json of each family).
const GPT2_RE: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
const LLAMA3_RE: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_RE: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn split(re: &str) -> Value {
    json!({"type": "Split", "pattern": {"Regex": re}, "behavior": "Isolated", "invert": false})
}

fn byte_level(use_regex: bool) -> Value {
    json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex})
}

impl Tokenizer {
    /// Loads an HF `tokenizer.json`. Special ids are not known from it alone: set
    /// `bos_token_id` / `eos_token_ids` from the model config.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", path.display())))?;
        tracing::info!(path = %path.display(), vocab = inner.get_vocab_size(true), "loaded tokenizer.json");
        Ok(Tokenizer {
            inner,
            bos_token_id: None,
            eos_token_ids: vec![],
            add_bos: false,
        })
    }

    /// A byte-level BPE tokenizer without merges (id = byte, 0..256) plus ChatML's two special
    /// tokens, `<|im_start|>` (256) and `<|im_end|>` (257): a 258-token vocabulary for tiny test
    /// and smoke-run models that need no download.
    pub fn byte_level_chatml() -> Result<Self, ModelError> {
        // GPT-2's byte-to-unicode map: printable bytes stand for themselves, the rest are
        // shifted above 255.
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
        let mut vocab = Map::new();
        for (b, c) in bs.iter().zip(&cs) {
            if let Some(ch) = char::from_u32(*c) {
                vocab.insert(ch.to_string(), json!(*b));
            }
        }
        let special = |id: i64, s: &str| json!({"id": id, "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true});
        let bl = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
        let tj = json!({
            "version": "1.0", "truncation": null, "padding": null,
            "added_tokens": [special(256, "<|im_start|>"), special(257, "<|im_end|>")],
            "normalizer": null, "pre_tokenizer": bl, "post_processor": null, "decoder": bl,
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                      "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": []}
        });
        Self::from_json(&tj.to_string())
    }

    /// Parses the contents of an HF `tokenizer.json`.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let inner: tokenizers::Tokenizer = text.parse().map_err(tok_err)?;
        Ok(Tokenizer {
            inner,
            bos_token_id: None,
            eos_token_ids: vec![],
            add_bos: false,
        })
    }

    /// Wraps an existing `tokenizers::Tokenizer`.
    pub fn from_tokenizer(inner: tokenizers::Tokenizer) -> Self {
        Tokenizer {
            inner,
            bos_token_id: None,
            eos_token_ids: vec![],
            add_bos: false,
        }
    }

    /// Rebuilds the tokenizer of a GGUF file with `tokenizer.ggml.model == "gpt2"` (byte-level
    /// BPE): `tokens`, `merges`, `token_type` (3 = control → special added token, 4 =
    /// user-defined → added token), the pre-tokenizer chosen by `tokenizer.ggml.pre`
    /// (smollm, gpt2, llama-bpe / llama3, qwen2; others fall back to GPT-2's), and the
    /// bos / eos / eot ids.
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self, ModelError> {
        let model = gguf
            .get("tokenizer.ggml.model")
            .and_then(GgufValue::as_str)
            .unwrap_or("(missing)");
        if model != "gpt2" {
            return Err(ModelError::Tokenizer(format!(
                "tokenizer.ggml.model `{model}` is not supported (only \"gpt2\" byte-level BPE)"
            )));
        }
        let strings = |key: &str| -> Result<Vec<String>, ModelError> {
            let arr = gguf.get(key).and_then(GgufValue::as_array).ok_or_else(|| {
                ModelError::Tokenizer(format!("GGUF metadata `{key}` is missing or not an array"))
            })?;
            arr.iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        ModelError::Tokenizer(format!("`{key}` has a non-string entry"))
                    })
                })
                .collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges")?;
        let types: Vec<i64> = match gguf
            .get("tokenizer.ggml.token_type")
            .and_then(GgufValue::as_array)
        {
            Some(a) => a.iter().map(|v| v.as_i64().unwrap_or(1)).collect(),
            None => vec![1; tokens.len()],
        };
        let pre = gguf
            .get("tokenizer.ggml.pre")
            .and_then(GgufValue::as_str)
            .unwrap_or("default");
        let pre_tokenizer = match pre {
            "smollm" => {
                json!({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level(true)]})
            }
            "llama-bpe" | "llama3" | "llama-v3" => {
                json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_RE), byte_level(false)]})
            }
            "qwen2" | "qwen35" => {
                json!({"type": "Sequence", "pretokenizers": [split(QWEN2_RE), byte_level(false)]})
            }
            "gpt2" | "default" => byte_level(true),
            other => {
                tracing::warn!(
                    pre = other,
                    "unknown tokenizer.ggml.pre; using the GPT-2 pre-tokenizer"
                );
                json!({"type": "Sequence", "pretokenizers": [split(GPT2_RE), byte_level(false)]})
            }
        };
        let mut vocab = Map::new();
        let mut added = vec![];
        for (id, tok) in tokens.iter().enumerate() {
            if !vocab.contains_key(tok) {
                vocab.insert(tok.clone(), json!(id));
            }
            let ty = types.get(id).copied().unwrap_or(1);
            if ty == 3 || ty == 4 {
                added.push(json!({"id": id, "content": tok, "single_word": false, "lstrip": false, "rstrip": false,
                                  "normalized": false, "special": ty == 3}));
            }
        }
        let ignore_merges = matches!(pre, "llama-bpe" | "llama3" | "llama-v3");
        let spec = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": null,
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                      "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                      "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges},
        });
        let inner: tokenizers::Tokenizer = spec
            .to_string()
            .parse()
            .map_err(|e| ModelError::Tokenizer(format!("building the GGUF tokenizer: {e}")))?;
        let id = |key: &str| gguf.get(key).and_then(GgufValue::as_i64);
        let mut eos = vec![];
        for key in [
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.eot_token_id",
            "tokenizer.ggml.eom_token_id",
        ] {
            if let Some(i) = id(key) {
                if !eos.contains(&i) {
                    eos.push(i);
                }
            }
        }
        tracing::info!(
            tokens = tokens.len(),
            merges = merges.len(),
            pre,
            "built tokenizer from GGUF"
        );
        Ok(Tokenizer {
            inner,
            bos_token_id: id("tokenizer.ggml.bos_token_id"),
            eos_token_ids: eos,
            add_bos: gguf
                .get("tokenizer.ggml.add_bos_token")
                .and_then(GgufValue::as_bool)
                .unwrap_or(false),
        })
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> i64 {
        self.inner.get_vocab_size(true) as i64
    }

    /// Token ids of `text` (special tokens written in the text, e.g. `<|im_start|>`, are
    /// recognised; no BOS is added).
    pub fn encode(&self, text: &str) -> Result<Vec<i64>, ModelError> {
        Ok(self.encode_with_offsets(text)?.0)
    }

    /// Token ids and each token's byte range in `text`.
    pub fn encode_with_offsets(&self, text: &str) -> Result<(Vec<i64>, Vec<ByteSpan>), ModelError> {
        let enc = self.inner.encode(text, false).map_err(tok_err)?;
        Ok((
            enc.get_ids().iter().map(|&i| i as i64).collect(),
            enc.get_offsets().to_vec(),
        ))
    }

    /// Text of `ids`; `skip_special_tokens` drops control tokens such as `<|im_end|>`.
    pub fn decode(&self, ids: &[i64], skip_special_tokens: bool) -> Result<String, ModelError> {
        let ids: Vec<u32> = ids
            .iter()
            .map(|&i| {
                u32::try_from(i)
                    .map_err(|_| ModelError::Tokenizer(format!("token id {i} is out of range")))
            })
            .collect::<Result<_, _>>()?;
        self.inner
            .decode(&ids, skip_special_tokens)
            .map_err(tok_err)
    }

    /// Id of a token string (e.g. `"<|im_end|>"`).
    pub fn token_id(&self, token: &str) -> Option<i64> {
        self.inner.token_to_id(token).map(|i| i as i64)
    }

    /// Token string of an id.
    pub fn id_to_token(&self, id: i64) -> Option<String> {
        u32::try_from(id)
            .ok()
            .and_then(|i| self.inner.id_to_token(i))
    }
}

#[cfg(test)]
mod tests {
    use super::Tokenizer;

    #[test]
    fn byte_level_chatml_maps_bytes_to_ids_and_knows_the_specials() {
        let t = Tokenizer::byte_level_chatml().unwrap();
        assert_eq!(t.vocab_size(), 258);
        let text = "Hé \n\t~";
        let ids = t.encode(text).unwrap();
        assert_eq!(ids, text.bytes().map(i64::from).collect::<Vec<_>>());
        assert_eq!(t.decode(&ids, false).unwrap(), text);
        assert_eq!(t.encode("<|im_start|>user<|im_end|>").unwrap(), [vec![256], "user".bytes().map(i64::from).collect(), vec![257]].concat());
    }
}
