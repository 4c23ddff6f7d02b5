//! Typed errors of the learner.

use std::path::PathBuf;

/// Everything the learner can fail with. Input problems (files, configs, checkpoints, rollouts)
/// are reported here and never panic.
#[derive(Debug, thiserror::Error)]
pub enum LearnerError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A libtorch call failed.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// A configuration value is out of range or inconsistent.
    #[error("invalid config: {0}")]
    Config(String),
    /// A line of a JSONL data file is not a valid record.
    #[error("{path}:{line}: {msg}")]
    Data {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// A batch or example is malformed (lengths disagree, empty, token out of range).
    #[error("invalid batch: {0}")]
    Batch(String),
    /// A rollout group is malformed or the rollout source failed.
    #[error("rollout: {0}")]
    Rollout(String),
    /// A checkpoint file cannot be parsed (truncated, not safetensors, bad JSON).
    #[error("corrupt checkpoint {path}: {msg}")]
    CorruptCheckpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The checkpoint's format version is not one this build reads.
    #[error("checkpoint {path}: unsupported format version {found} (this build reads {expected})")]
    CheckpointVersion {
        /// The state file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Version this build writes and reads.
        expected: u32,
    },
    /// A tensor in the checkpoint has another shape or dtype than the model's.
    #[error("checkpoint tensor {name}: {found} in the checkpoint, the model has {expected}")]
    TensorMismatch {
        /// Tensor name.
        name: String,
        /// What the model has (shape and dtype).
        expected: String,
        /// What the checkpoint holds.
        found: String,
    },
    /// The model has a tensor the checkpoint lacks.
    #[error("checkpoint {path} lacks tensor {name}")]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// Tensor name.
        name: String,
    },
    /// The checkpoint holds a tensor the model does not have.
    #[error("checkpoint {path} has tensor {name}, which the model does not have")]
    UnexpectedTensor {
        /// The file.
        path: PathBuf,
        /// Tensor name.
        name: String,
    },
    /// The checkpoint was written for another model or trainer configuration.
    #[error(
        "checkpoint config mismatch at {field}: checkpoint has {checkpoint}, current is {current}"
    )]
    ConfigMismatch {
        /// JSON path of the first differing field.
        field: String,
        /// Value in the checkpoint.
        checkpoint: String,
        /// Current value.
        current: String,
    },
    /// The loss or gradient norm became NaN or infinite.
    #[error("non-finite {what} ({value}) at step {step}")]
    NonFinite {
        /// Which quantity.
        what: &'static str,
        /// Its value.
        value: f64,
        /// Optimizer step.
        step: u64,
    },
}

impl LearnerError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LearnerError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of the learner.
pub type Result<T, E = LearnerError> = std::result::Result<T, E>;
