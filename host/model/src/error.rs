//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong at this crate's boundary (files, configs, tensors, templates).
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON config (config.json, tokenizer.json, index) is not valid JSON or has wrong types.
    #[error("invalid JSON in {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A config field is missing or has an unusable value.
    #[error("config field `{field}`: {msg}")]
    Config { field: String, msg: String },
    /// The architecture (HF `model_type` or GGUF `general.architecture`) is not supported.
    #[error("unsupported architecture `{0}` (supported: llama, qwen2, qwen3)")]
    UnsupportedArch(String),
    /// A checkpoint lacks tensors the model needs.
    #[error("{source_name}: missing tensor(s): {}", names.join(", "))]
    MissingTensors {
        source_name: String,
        names: Vec<String>,
    },
    /// A checkpoint has tensors the model does not know.
    #[error("{source_name}: unexpected tensor(s): {}", names.join(", "))]
    UnexpectedTensors {
        source_name: String,
        names: Vec<String>,
    },
    /// A checkpoint tensor's shape does not match the model's.
    #[error("{source_name}: tensor `{name}` has shape {got:?}, the model expects {expected:?}")]
    ShapeMismatch {
        source_name: String,
        name: String,
        got: Vec<i64>,
        expected: Vec<i64>,
    },
    /// A checkpoint tensor has a dtype this crate cannot convert.
    #[error("{source_name}: tensor `{name}` has unsupported dtype {dtype}")]
    UnsupportedDtype {
        source_name: String,
        name: String,
        dtype: String,
    },
    /// A safetensors file is malformed.
    #[error("safetensors {path}: {msg}")]
    Safetensors { path: PathBuf, msg: String },
    /// A GGUF file is malformed or truncated.
    #[error("GGUF {path}: {msg}")]
    Gguf { path: String, msg: String },
    /// A GGUF tensor uses a ggml type this crate does not dequantize.
    #[error("GGUF tensor `{name}` has ggml type {type_name} ({type_id}); supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0")]
    UnsupportedGgmlType {
        name: String,
        type_id: u32,
        type_name: String,
    },
    /// Tokenizer construction, encoding or decoding failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A chat dialogue cannot be rendered (e.g. an unknown role).
    #[error("chat template: {0}")]
    Template(String),
    /// Bad arguments to generation or another API call.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An error from libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn config(field: impl Into<String>, msg: impl Into<String>) -> Self {
        ModelError::Config {
            field: field.into(),
            msg: msg.into(),
        }
    }
}
