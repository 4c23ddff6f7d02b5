//! τ²-bench data model and conformance logic for eigenbox.
//!
//! This crate knows nothing about WebAssembly: the host implements [`DomainEnv`] over a
//! domain plugin and hands it to the functions here.
//!
//! * [`task`]: τ² tasks ([`Task`]) and task files of both formats (`tasks.json` = v1.0,
//!   `tasks.v0.2.0.json`), splits ([`TaskSet::load`]). Unknown fields are kept in `extra`
//!   maps and absent-vs-`null` is remembered ([`Nullable`]), so re-serialising loses nothing.
//! * [`message`]: dialogue messages ([`Message`], [`ToolCall`], [`ToolMessage`]).
//! * [`episode`]: what the host does to put a fresh domain into a task's initial state
//!   ([`plan_episode`], [`initialise_episode`]), with the reference's message-history pairing
//!   and replay rules.
//! * [`golden`]: readers for the golden vectors (`tools.json`, `replays.jsonl`,
//!   `probes.jsonl`, `evals.jsonl`).
//! * [`conformance`]: [`run_conformance`] checks a domain against the golden vectors and
//!   returns a printable [`Report`].
//! * [`simulation`]: why an episode ended ([`TerminationReason`]).
//!
//! # Example
//!
//! ```no_run
//! use eigenbox_tau2::{run_conformance, DomainEnv, EpisodeInit, Requestor, TaskSet, TaskVersion, ToolSpec};
//! use serde_json::Value;
//! use std::path::Path;
//!
//! /// A host-side adapter over one domain instance (here a stub).
//! struct MyEnv;
//! impl DomainEnv for MyEnv {
//!     type Error = String;
//!     fn reset(&mut self, _init: &EpisodeInit) -> Result<(), String> { Ok(()) }
//!     fn tools(&mut self) -> Result<Vec<ToolSpec>, String> { Ok(vec![]) }
//!     fn call_tool(&mut self, _r: Requestor, name: &str, _a: &Value) -> Result<(String, bool), String> {
//!         Ok((format!("Error: Tool '{name}' not found."), true))
//!     }
//!     fn env_function(&mut self, _s: Requestor, _n: &str, _a: &Value) -> Result<Value, String> { Ok(Value::Bool(true)) }
//!     fn state_hash(&mut self, _s: Requestor) -> Result<Option<String>, String> { Ok(None) }
//!     fn is_mutating(&mut self, _n: &str) -> Result<Option<bool>, String> { Ok(None) }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Load the training split of airline's v1.0 tasks.
//! let tasks = TaskSet::load(Path::new("/work/shared/tau2/data/airline"), TaskVersion::V1_0, Some("train"))?;
//! println!("{} tasks", tasks.len());
//!
//! // Check a domain implementation against the golden vectors.
//! let report = run_conformance(
//!     Path::new("/work/shared/golden/mock"),
//!     Path::new("/work/shared/tau2/data/mock"),
//!     || Ok::<_, String>(MyEnv),
//! )?;
//! println!("{report}"); // table, failures with diffs, then "N passed, M failed"
//! assert!(!report.is_success());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod conformance;
pub mod diff;
pub mod episode;
pub mod golden;
pub mod message;
mod nullable;
pub mod simulation;
pub mod task;

pub use conformance::{
    check_probe, check_replay, check_tools, run_conformance, run_conformance_all, Category, ConformanceError,
    Counts, DomainEnv, DomainReport, Failure, Report, ToolKind, ToolSpec,
};
pub use diff::string_diff;
pub use episode::{
    actions_from_messages, decode_or_string, initialise_episode, json_diff_ordered, json_eq_ordered, plan_episode,
    py_json_eq, replay_history, EpisodeInit, EpisodePlan, InitError, PlanError, ReplayMismatch, ReplayOutcome,
    ReplayStep, WireInit,
};
pub use golden::{
    read_evals, read_probes, read_replays, read_tools, trajectory_messages, AssertionRecord, CallRecord, EvalRecord,
    GoldenDomain, GoldenError, GoldenTools, ProbeRecord, ReplayRecord, RewardInfo, TrajectoryError, TrajectoryMessage,
};
pub use message::{Message, MultiToolMessage, ParticipantMessage, Requestor, SystemMessage, ToolCall, ToolMessage};
pub use nullable::Nullable;
pub use simulation::{TerminationReason, UnknownTerminationReason};
pub use task::{
    load_split_file, load_task_file, Action, Description, EnvAssertion, EnvFunctionCall, EvaluationCriteria,
    InitialState, InitializationData, RewardType, StructuredUserInstructions, Task, TaskError, TaskFile, TaskIssue,
    TaskSet, TaskVersion, UserInstructions, UserScenario,
};
