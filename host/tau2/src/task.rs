//! τ² tasks (`tau2.data_model.tasks`), task files and splits.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::message::{Message, Requestor};
use crate::Nullable;

/// Structured user instructions (`StructuredUserInstructions`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StructuredUserInstructions {
    /// Domain name.
    pub domain: String,
    /// Why the user calls.
    pub reason_for_call: String,
    /// What the user knows.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub known_info: Nullable<String>,
    /// What the user does not know.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub unknown_info: Nullable<String>,
    /// Instructions for the user simulator.
    pub task_instructions: String,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn indent(text: &str, prefix: &str) -> String {
    // Python's textwrap.indent: prefix every line that is not whitespace-only.
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if !line.trim().is_empty() {
            out.push_str(prefix);
        }
        out.push_str(line);
    }
    out
}

impl fmt::Display for StructuredUserInstructions {
    /// Same text as the reference's `__str__`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = vec![format!("Domain: {}", self.domain)];
        lines.push(format!("Reason for call:\n{}", indent(&self.reason_for_call, "\t")));
        if let Some(k) = self.known_info.get() {
            lines.push(format!("Known info:\n{}", indent(k, "\t")));
        }
        if let Some(u) = self.unknown_info.get() {
            lines.push(format!("Unknown info:\n{}", indent(u, "\t")));
        }
        lines.push(format!("Task instructions:\n{}", indent(&self.task_instructions, "\t")));
        f.write_str(&lines.join("\n"))
    }
}

/// User instructions: a plain string or structured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum UserInstructions {
    /// Free text (mock domain).
    Text(String),
    /// Structured (airline, retail, telecom).
    Structured(StructuredUserInstructions),
}

impl fmt::Display for UserInstructions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserInstructions::Text(s) => f.write_str(s),
            UserInstructions::Structured(s) => s.fmt(f),
        }
    }
}

/// What the user simulator gets (`UserScenario`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserScenario {
    /// General persona.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub persona: Nullable<String>,
    /// Situation-specific instructions.
    pub instructions: UserInstructions,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Display for UserScenario {
    /// Same text as the reference's `__str__`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = Vec::new();
        if let Some(p) = self.persona.get() {
            lines.push("Persona:".to_string());
            lines.push(indent(p, "\t"));
        }
        lines.push("Instructions:".to_string());
        lines.push(indent(&self.instructions.to_string(), "\t"));
        f.write_str(&lines.join("\n"))
    }
}

/// Task description (`Description`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Description {
    /// What the scenario tests.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub purpose: Nullable<String>,
    /// Relevant policy excerpt.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub relevant_policies: Nullable<String>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub notes: Nullable<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A reference action (`Action`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Unique id within the task.
    pub action_id: String,
    /// Requestor; absent means `assistant`. Use [`Action::requestor`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requestor: Option<Requestor>,
    /// Tool name.
    pub name: String,
    /// Keyword arguments.
    pub arguments: Map<String, Value>,
    /// Free-text info.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub info: Nullable<String>,
    /// Arguments compared by the action check (`None` = all).
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub compare_args: Nullable<Vec<String>>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Action {
    /// The requestor, defaulting to `assistant`.
    pub fn requestor(&self) -> Requestor {
        self.requestor.unwrap_or_default()
    }
}

/// A function call on one side's environment (`EnvFunctionCall`): initialization actions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvFunctionCall {
    /// Which side's toolkit.
    pub env_type: Requestor,
    /// Function name (a tool or a helper such as `set_data_usage`).
    pub func_name: String,
    /// Keyword arguments.
    pub arguments: Map<String, Value>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An assertion on one side's environment (`EnvAssertion`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvAssertion {
    /// Which side's toolkit.
    pub env_type: Requestor,
    /// Assertion function name.
    pub func_name: String,
    /// Keyword arguments.
    pub arguments: Map<String, Value>,
    /// Expected return value; absent means `true`. Use [`EnvAssertion::assert_value`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assert_value: Option<bool>,
    /// Message shown when the assertion fails.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub message: Nullable<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EnvAssertion {
    /// Expected value, defaulting to `true`.
    pub fn assert_value(&self) -> bool {
        self.assert_value.unwrap_or(true)
    }
    /// The call part.
    pub fn call(&self) -> EnvFunctionCall {
        EnvFunctionCall {
            env_type: self.env_type,
            func_name: self.func_name.clone(),
            arguments: self.arguments.clone(),
            extra: Map::new(),
        }
    }
}

/// Reward components (`RewardType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RewardType {
    /// Database end state.
    #[serde(rename = "DB")]
    Db,
    /// Environment assertions.
    #[serde(rename = "ENV_ASSERTION")]
    EnvAssertion,
    /// LLM-judged natural-language assertions.
    #[serde(rename = "NL_ASSERTION")]
    NlAssertion,
    /// Reference actions matched by tool calls.
    #[serde(rename = "ACTION")]
    Action,
    /// Required information communicated.
    #[serde(rename = "COMMUNICATE")]
    Communicate,
}

/// Evaluation criteria (`EvaluationCriteria`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct EvaluationCriteria {
    /// Reference trajectory.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub actions: Nullable<Vec<Action>>,
    /// Assertions on the final environment.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub env_assertions: Nullable<Vec<EnvAssertion>>,
    /// Strings the agent must say.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub communicate_info: Nullable<Vec<String>>,
    /// LLM-judged assertions.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub nl_assertions: Nullable<Vec<String>>,
    /// Reward basis as written; absent means `[DB, COMMUNICATE]`. Use
    /// [`EvaluationCriteria::reward_basis`].
    #[serde(default, rename = "reward_basis", skip_serializing_if = "Option::is_none")]
    pub reward_basis_raw: Option<Vec<RewardType>>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EvaluationCriteria {
    /// The reward basis, defaulting to `[DB, COMMUNICATE]` like the reference.
    pub fn reward_basis(&self) -> Vec<RewardType> {
        self.reward_basis_raw
            .clone()
            .unwrap_or_else(|| vec![RewardType::Db, RewardType::Communicate])
    }
}

/// Data deep-merged into the initial databases (`InitializationData`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct InitializationData {
    /// Merged into the agent DB.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub agent_data: Nullable<Map<String, Value>>,
    /// Merged into the user DB.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub user_data: Nullable<Map<String, Value>>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Initial state of a task (`InitialState`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct InitialState {
    /// DB updates.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub initialization_data: Nullable<InitializationData>,
    /// Functions run after the data is merged.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub initialization_actions: Nullable<Vec<EnvFunctionCall>>,
    /// Messages already exchanged; its tool calls are replayed.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub message_history: Nullable<Vec<Message>>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An issue note on a task (`TaskIssue`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskIssue {
    /// Issue id.
    pub id: String,
    /// Short summary.
    pub title: String,
    /// Other fields (`description`, `status`, `created_at`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One τ² task (`Task`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Task id.
    pub id: String,
    /// Description for the evaluator.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub description: Nullable<Description>,
    /// What the user simulator gets.
    pub user_scenario: UserScenario,
    /// Ticket for solo mode.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub ticket: Nullable<String>,
    /// Initial state.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub initial_state: Nullable<InitialState>,
    /// Evaluation criteria.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub evaluation_criteria: Nullable<EvaluationCriteria>,
    /// Issue notes.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub issues: Nullable<Vec<TaskIssue>>,
    /// Knowledge documents (banking domain).
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub required_documents: Nullable<Vec<String>>,
    /// User tools available to the simulator (None = all).
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub user_tools: Nullable<Vec<String>>,
    /// Unknown fields (e.g. airline's `annotations`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Which task file of a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskVersion {
    /// `tasks.json` (`v1.0`; telecom's `tasks.json` is itself v0.2.0).
    V1_0,
    /// `tasks.v0.2.0.json`, falling back to `tasks.json` where absent.
    V0_2_0,
}

impl TaskVersion {
    /// Parses `v1.0` / `v0.2.0` (with or without the `v`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim_start_matches('v') {
            "1.0" => Some(TaskVersion::V1_0),
            "0.2.0" => Some(TaskVersion::V0_2_0),
            _ => None,
        }
    }
    /// `v1.0` / `v0.2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskVersion::V1_0 => "v1.0",
            TaskVersion::V0_2_0 => "v0.2.0",
        }
    }
    /// Candidate file names, in order of preference.
    pub fn file_names(self) -> &'static [&'static str] {
        match self {
            TaskVersion::V1_0 => &["tasks.json"],
            TaskVersion::V0_2_0 => &["tasks.v0.2.0.json", "tasks.json"],
        }
    }
}

impl fmt::Display for TaskVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors loading tasks and splits.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// No task file for the version.
    #[error("no task file for {version} in {dir} (looked for {looked_for})")]
    MissingTaskFile {
        /// Domain data directory.
        dir: PathBuf,
        /// Requested version.
        version: TaskVersion,
        /// File names tried.
        looked_for: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file is not valid JSON of the expected shape.
    #[error("{path}: invalid {what} at line {line}, column {column}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What was expected (`task file`, `split file`).
        what: &'static str,
        /// Line.
        line: usize,
        /// Column.
        column: usize,
        /// Cause.
        source: serde_json::Error,
    },
    /// A split was requested but the domain has no split file.
    #[error("split `{split}` requested but no split file exists (looked for {looked_for})")]
    NoSplitFile {
        /// Requested split.
        split: String,
        /// Paths tried.
        looked_for: String,
    },
    /// Unknown split name.
    #[error("invalid task split name: `{split}` (in {path}); valid splits are: {}", valid.join(", "))]
    UnknownSplit {
        /// Requested split.
        split: String,
        /// The split file.
        path: PathBuf,
        /// Valid split names, in file order.
        valid: Vec<String>,
    },
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &'static str) -> Result<T, TaskError> {
    let text = std::fs::read_to_string(path).map_err(|source| TaskError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| TaskError::Json {
        path: path.to_path_buf(),
        what,
        line: source.line(),
        column: source.column(),
        source,
    })
}

/// The shape of a task file: a list, or an object with a `tasks` list (accepted by telecom's loader).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TaskFile {
    /// `[task, ...]`.
    List(Vec<Task>),
    /// `{"tasks": [task, ...], ...}`.
    Object {
        /// The tasks.
        tasks: Vec<Task>,
        /// Other keys.
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
}

impl TaskFile {
    /// The tasks.
    pub fn tasks(&self) -> &[Task] {
        match self {
            TaskFile::List(t) => t,
            TaskFile::Object { tasks, .. } => tasks,
        }
    }
    /// Consumes into the tasks.
    pub fn into_tasks(self) -> Vec<Task> {
        match self {
            TaskFile::List(t) => t,
            TaskFile::Object { tasks, .. } => tasks,
        }
    }
}

#[derive(Deserialize)]
struct TaskFileObject {
    tasks: Vec<Task>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// Reads a task file (a list of tasks, or an object with a `tasks` list).
pub fn load_task_file(path: &Path) -> Result<TaskFile, TaskError> {
    let text = std::fs::read_to_string(path).map_err(|source| TaskError::Io { path: path.to_path_buf(), source })?;
    let json_err = |source: serde_json::Error| TaskError::Json {
        path: path.to_path_buf(),
        what: "task file",
        line: source.line(),
        column: source.column(),
        source,
    };
    // Dispatch on the first character so serde reports line and column (an untagged enum
    // would not).
    if text.trim_start().starts_with('{') {
        let o: TaskFileObject = serde_json::from_str(&text).map_err(json_err)?;
        Ok(TaskFile::Object { tasks: o.tasks, extra: o.extra })
    } else {
        serde_json::from_str::<Vec<Task>>(&text).map(TaskFile::List).map_err(json_err)
    }
}

/// Reads a split file (`{"name": ["id", ...], ...}`), keeping file order.
pub fn load_split_file(path: &Path) -> Result<Vec<(String, Vec<String>)>, TaskError> {
    let raw: Map<String, Value> = read_json(path, "split file")?;
    let mut out = Vec::with_capacity(raw.len());
    for (name, ids) in raw {
        let ids: Vec<String> = serde_json::from_value(ids).map_err(|source| TaskError::Json {
            path: path.to_path_buf(),
            what: "split file (each split must be a list of task ids)",
            line: 0,
            column: 0,
            source,
        })?;
        out.push((name, ids));
    }
    Ok(out)
}

/// The split file the reference pairs with a task file: `split_{stem}.json` next to it.
pub fn split_path_for(task_file: &Path) -> PathBuf {
    let stem = task_file.file_stem().and_then(|s| s.to_str()).unwrap_or("tasks");
    task_file.with_file_name(format!("split_{stem}.json"))
}

/// Tasks of one domain and version, optionally filtered by a split.
#[derive(Clone, Debug)]
pub struct TaskSet {
    /// The task file read.
    pub path: PathBuf,
    /// The version requested.
    pub version: TaskVersion,
    /// The split applied, if any.
    pub split: Option<String>,
    /// The tasks, in file order (filtered by the split if one was given).
    pub tasks: Vec<Task>,
    /// Ids listed in the split that the task file does not contain (the reference drops them
    /// silently; e.g. telecom's `small` and most of `full`).
    pub missing_ids: Vec<String>,
    /// The split file used, if any.
    pub split_path: Option<PathBuf>,
}

/// Named splits, in file order: `(name, task ids)`.
pub type Splits = Vec<(String, Vec<String>)>;

impl TaskSet {
    /// Loads `dir/tasks.json` (v1.0) or `dir/tasks.v0.2.0.json` (v0.2.0, falling back to
    /// `tasks.json`), then filters by `split` using `split_{stem}.json` (falling back to
    /// `split_tasks.json`), keeping task-file order like the reference.
    pub fn load(dir: &Path, version: TaskVersion, split: Option<&str>) -> Result<Self, TaskError> {
        let path = version
            .file_names()
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| TaskError::MissingTaskFile {
                dir: dir.to_path_buf(),
                version,
                looked_for: version.file_names().join(", "),
            })?;
        let tasks = load_task_file(&path)?.into_tasks();
        let mut set = TaskSet { path, version, split: None, tasks, missing_ids: Vec::new(), split_path: None };
        if let Some(name) = split {
            set.apply_split(name)?;
        }
        Ok(set)
    }

    /// Split files tried for this task file, in order.
    pub fn split_candidates(&self) -> Vec<PathBuf> {
        let mut c = vec![split_path_for(&self.path)];
        let fallback = self.path.with_file_name("split_tasks.json");
        if !c.contains(&fallback) {
            c.push(fallback);
        }
        c
    }

    /// The split definitions for this task file (the split file and its named id lists), or
    /// `None` if there is no split file.
    pub fn splits(&self) -> Result<Option<(PathBuf, Splits)>, TaskError> {
        match self.split_candidates().into_iter().find(|p| p.is_file()) {
            Some(p) => {
                let s = load_split_file(&p)?;
                Ok(Some((p, s)))
            }
            None => Ok(None),
        }
    }

    fn apply_split(&mut self, name: &str) -> Result<(), TaskError> {
        let (path, splits) = self.splits()?.ok_or_else(|| TaskError::NoSplitFile {
            split: name.to_string(),
            looked_for: self.split_candidates().iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        })?;
        let Some((_, ids)) = splits.iter().find(|(n, _)| n == name) else {
            return Err(TaskError::UnknownSplit {
                split: name.to_string(),
                path,
                valid: splits.into_iter().map(|(n, _)| n).collect(),
            });
        };
        let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        let present: std::collections::HashSet<&str> = self.tasks.iter().map(|t| t.id.as_str()).collect();
        self.missing_ids = ids.iter().filter(|i| !present.contains(i.as_str())).cloned().collect();
        self.tasks.retain(|t| wanted.contains(t.id.as_str()));
        self.split = Some(name.to_string());
        self.split_path = Some(path);
        Ok(())
    }

    /// Finds a task by id.
    pub fn get(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether there are no tasks.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}
