use std::fmt;
use std::path::PathBuf;

use eigenbox_manifest::ManifestError;

/// Errors loading a component: its manifest, its bytes, its grants, its WIT world.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Manifest, grants or hash problem.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly component this engine can compile.
    #[error("`{component}` is not a valid WebAssembly component: {message}")]
    InvalidComponent {
        /// Component id or file.
        component: String,
        /// What wasmtime said.
        message: String,
    },
    /// The component does not implement the world its manifest declares.
    #[error("`{component}` does not implement `{world}`: {detail}")]
    WorldMismatch {
        /// Component id.
        component: String,
        /// The declared world.
        world: String,
        /// The missing or mismatched item, by name.
        detail: String,
    },
    /// The component imports something the host does not provide to its world.
    #[error("`{component}` imports `{import}`, which the host does not provide to `{world}` components{hint}")]
    UnsupportedImport {
        /// Component id.
        component: String,
        /// The declared world.
        world: String,
        /// The import name.
        import: String,
        /// Extra explanation.
        hint: String,
    },
    /// The component cannot even be instantiated under its limits and grants (e.g. it needs
    /// more core instances or table elements than its caps allow).
    #[error("`{component}` cannot be instantiated under its limits: {message}")]
    Uninstantiable {
        /// Component id.
        component: String,
        /// What wasmtime said.
        message: String,
    },
    /// A configuration problem of the host itself.
    #[error("runtime configuration: {0}")]
    Config(String),
}

/// How one call into a component failed. The component's host and other episodes are not
/// affected; the instance that failed is replaced by a fresh one on its next use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The guest ran out of fuel (instruction budget per call).
    #[error("out of fuel (budget {fuel} per call)")]
    OutOfFuel {
        /// The budget.
        fuel: u64,
    },
    /// The guest ran past its wall-clock deadline.
    #[error("timed out after {timeout_ms} ms")]
    Timeout {
        /// The deadline.
        timeout_ms: u64,
    },
    /// The guest tried to grow memory or tables past its cap.
    #[error("out of memory (cap {limit_bytes} bytes)")]
    OutOfMemory {
        /// The memory cap.
        limit_bytes: u64,
    },
    /// The guest overflowed its stack (e.g. unbounded recursion).
    #[error("stack overflow")]
    StackOverflow,
    /// The guest used a capability it was not granted.
    #[error("capability denied: `{capability}` was not granted to `{component}`")]
    CapabilityDenied {
        /// Component id.
        component: String,
        /// The capability (`clock`, `random`, ...).
        capability: String,
    },
    /// The guest returned more data than its output cap.
    #[error("output too large: {bytes} bytes (cap {limit_bytes})")]
    OutputTooLarge {
        /// Size returned.
        bytes: u64,
        /// The cap.
        limit_bytes: u64,
    },
    /// Any other trap (panic, unreachable, bad memory access, exit).
    #[error("trap: {message}")]
    Trap {
        /// Trap description, with the guest's stderr tail when it printed one.
        message: String,
    },
    /// The guest answered, but with something the host cannot use.
    #[error("bad guest answer: {0}")]
    BadAnswer(String),
    /// Instantiation of a fresh instance failed.
    #[error("instantiation failed: {0}")]
    Instantiate(String),
    /// A domain state could not be frozen ([`crate::LoadedComponent::freeze`]).
    #[error("freeze failed: {0}")]
    Freeze(String),
}

impl CallError {
    /// A short, stable label for logs and audit records.
    pub fn outcome_label(&self) -> &'static str {
        match self {
            CallError::OutOfFuel { .. } => "out-of-fuel",
            CallError::Timeout { .. } => "timeout",
            CallError::OutOfMemory { .. } => "out-of-memory",
            CallError::StackOverflow => "stack-overflow",
            CallError::CapabilityDenied { .. } => "denied",
            CallError::OutputTooLarge { .. } => "output-too-large",
            CallError::Trap { .. } => "trap",
            CallError::BadAnswer(_) => "bad-answer",
            CallError::Instantiate(_) => "instantiate-failed",
            CallError::Freeze(_) => "freeze-failed",
        }
    }
}

/// Marker error a denied WASI import raises inside the store; recognised by [`crate::classify`].
#[derive(Debug, Clone)]
pub(crate) struct Denied {
    pub capability: String,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "capability `{}` not granted", self.capability)
    }
}

impl std::error::Error for Denied {}
