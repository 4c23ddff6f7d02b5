//! What one audit record holds.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who made the access.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// Component id (`acme:sim`) or agent name (`assistant`).
    pub component: String,
    /// sha256 of the component's wasm (none for an agent).
    pub sha256: Option<String>,
    /// The WIT world it implements, with version (none for an agent).
    pub wit: Option<String>,
    /// The role it acted in (`user-simulator`, `assistant`, ...).
    pub role: Option<String>,
}

/// Kind of access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// A domain tool call.
    Tool,
    /// An LLM call.
    Llm,
    /// A capability decision at load.
    Capability,
    /// A checker program run (target `checker:<source sha256>`, args hash = input hash).
    Check,
}

impl ActionKind {
    /// `tool`, `llm`, `capability` or `check`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Tool => "tool",
            ActionKind::Llm => "llm",
            ActionKind::Capability => "capability",
            ActionKind::Check => "check",
        }
    }
}

/// The policy decision taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRecord {
    /// Allowed?
    pub allow: bool,
    /// The rules that decided.
    pub rules: Vec<String>,
    /// sha256 of the policy in force.
    pub policy_hash: String,
    /// Why, in words.
    pub reason: String,
}

/// How the access ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// It ran and succeeded.
    Ok,
    /// The tool ran and returned an error (unknown tool, bad arguments, a domain error).
    ToolError,
    /// The policy or the grants refused it; it never ran.
    Denied,
    /// The component trapped.
    Trap,
    /// The component ran past its deadline.
    Timeout,
    /// The component ran out of fuel.
    OutOfFuel,
    /// The component hit its memory cap.
    OutOfMemory,
    /// The LLM backend failed.
    BackendError,
    /// Any other failure (stack overflow, oversized output, instantiation failure, ...).
    Error,
    /// Allowed and started, but its end was not recorded (the episode ended first).
    Pending,
}

impl Outcome {
    /// From the runtime's `CallError::outcome_label` (and `ok`, `tool-error`, `denied`,
    /// `backend-error`).
    pub fn from_label(label: &str) -> Outcome {
        match label {
            "ok" => Outcome::Ok,
            "tool-error" => Outcome::ToolError,
            "denied" => Outcome::Denied,
            "trap" => Outcome::Trap,
            "timeout" => Outcome::Timeout,
            "out-of-fuel" => Outcome::OutOfFuel,
            "out-of-memory" => Outcome::OutOfMemory,
            "backend-error" => Outcome::BackendError,
            _ => Outcome::Error,
        }
    }

    /// The kebab-case label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ToolError => "tool-error",
            Outcome::Denied => "denied",
            Outcome::Trap => "trap",
            Outcome::Timeout => "timeout",
            Outcome::OutOfFuel => "out-of-fuel",
            Outcome::OutOfMemory => "out-of-memory",
            Outcome::BackendError => "backend-error",
            Outcome::Error => "error",
            Outcome::Pending => "pending",
        }
    }
}

/// One mediated access. Its canonical bytes (`serde_json` of this struct, fields in this
/// order) are the Merkle leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Position in the log, from 0 (set by [`crate::AuditLog::append`]).
    pub seq: u64,
    /// Unix milliseconds (set at append when 0).
    pub time_ms: u64,
    /// Run id, if any.
    pub run: Option<String>,
    /// Episode id, if any.
    pub episode: Option<String>,
    /// Who.
    pub actor: Actor,
    /// Tool, LLM or capability.
    pub action: ActionKind,
    /// `domain/tool`, the model, or the capability.
    pub target: String,
    /// sha256 of the arguments' text (kept under redaction).
    pub args_sha256: Option<String>,
    /// The arguments' text, unless redaction is configured.
    pub args: Option<String>,
    /// sha256 of the result's text, when there was one.
    pub result_sha256: Option<String>,
    /// The policy decision.
    pub decision: DecisionRecord,
    /// How it ended.
    pub outcome: Outcome,
    /// Fuel the component used, when it ran in one.
    pub fuel: Option<u64>,
    /// Wall time, microseconds.
    pub wall_us: Option<u64>,
    /// Peak linear memory of the component, bytes.
    pub memory_bytes: Option<u64>,
}

impl Record {
    /// A record with the given who/what/decision and everything else empty.
    pub fn new(actor: Actor, action: ActionKind, target: impl Into<String>, decision: DecisionRecord, outcome: Outcome) -> Record {
        Record {
            seq: 0,
            time_ms: 0,
            run: None,
            episode: None,
            actor,
            action,
            target: target.into(),
            args_sha256: None,
            args: None,
            result_sha256: None,
            decision,
            outcome,
            fuel: None,
            wall_us: None,
            memory_bytes: None,
        }
    }

    /// Set the arguments (their hash too).
    pub fn with_args(mut self, args: &str) -> Record {
        self.args_sha256 = Some(sha256_hex(args.as_bytes()));
        self.args = Some(args.to_string());
        self
    }

    /// Set the result's hash.
    pub fn with_result(mut self, result: &str) -> Record {
        self.result_sha256 = Some(sha256_hex(result.as_bytes()));
        self
    }

    /// The canonical bytes (the Merkle leaf data).
    pub fn canonical(&self) -> Vec<u8> {
        // Serializing plain structs, strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Lower-case hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
