//! Episodes over WASM domain components.
//!
//! * [`PluginDir`] finds packaged plugins (`<dir>/<name>/eigenbox.toml`) and loads them through
//!   the [`Runtime`], so every load goes through hash, grant and world checks.
//! * [`WasmDomainEnv`] adapts a [`DomainInstance`] to the τ² [`DomainEnv`] trait, so the
//!   conformance engine and episode initialisation of `eigenbox-tau2` run against real components.
//! * [`replay_task`] puts a domain into a task's initial state and replays its reference actions,
//!   the main job of `eigenbox replay`.
//!
//! ```no_run
//! use eigenbox_episode::{PluginDir, replay_task};
//! use eigenbox_runtime::{Runtime, RuntimeConfig};
//! let rt = tokio::runtime::Runtime::new()?;
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let plugins = PluginDir::new("dist/plugins");
//! let mock = plugins.load_domain(&runtime, "mock")?;
//! let tasks = eigenbox_tau2::TaskSet::load(&plugins.data_dir("mock"), eigenbox_tau2::TaskVersion::V1_0, None)?;
//! let task = tasks.get("create_task_1").unwrap();
//! let outcome = replay_task(rt.handle(), mock, task)?;
//! println!("{}", outcome.final_agent_hash.unwrap_or_default());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod gated;
pub use gated::GatedEnv;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eigenbox_runtime::{CallError, DbSide, DomainInstance, EnvCall, LoadError, LoadedComponent, Requestor as WitRequestor, Runtime};
use eigenbox_tau2::{DomainEnv, InitError, Requestor, Task, ToolKind, ToolSpec};
use serde::Serialize;
use serde_json::Value;
use tokio::runtime::Handle;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum EpisodeError {
    /// No plugin of that name in the plugin directory.
    #[error("no domain plugin `{name}` in {dir} (expected {dir}/{name}/eigenbox.toml; build and package it with scripts/build.sh){available}")]
    NoSuchPlugin {
        /// The name asked for.
        name: String,
        /// The directory searched.
        dir: PathBuf,
        /// Names that do exist.
        available: String,
    },
    /// Loading failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The sandbox failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The task could not be set up.
    #[error("cannot initialise task `{task}`: {message}")]
    Init {
        /// Task id.
        task: String,
        /// Why.
        message: String,
    },
}

/// A directory of packaged plugins: `<root>/<name>/eigenbox.toml` (+ wasm, + optional `data/`).
#[derive(Debug, Clone)]
pub struct PluginDir {
    root: PathBuf,
}

impl PluginDir {
    /// Plugins under `root`.
    pub fn new(root: impl Into<PathBuf>) -> PluginDir {
        PluginDir { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Names of the packaged plugins.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.root)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().join("eigenbox.toml").is_file())
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The manifest path of a plugin.
    pub fn manifest_path(&self, name: &str) -> Result<PathBuf, EpisodeError> {
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let p = self.root.join(name).join("eigenbox.toml");
        if !valid || !p.is_file() {
            let names = self.names();
            let available = if names.is_empty() { " (the directory has no plugins)".to_string() } else { format!(" (available: {})", names.join(", ")) };
            return Err(EpisodeError::NoSuchPlugin { name: name.into(), dir: self.root.clone(), available });
        }
        Ok(p)
    }

    /// The data directory shipped with a plugin (tasks, splits, policy).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.root.join(name).join("data")
    }

    /// Load a domain plugin by name.
    pub fn load_domain(&self, runtime: &Runtime, name: &str) -> Result<Arc<LoadedComponent>, EpisodeError> {
        let loaded = runtime.load_manifest_file(&self.manifest_path(name)?)?;
        if loaded.world() != eigenbox_manifest::World::Domain {
            return Err(EpisodeError::Load(LoadError::WorldMismatch {
                component: loaded.id().into(),
                world: eigenbox_manifest::World::Domain.wit_name().into(),
                detail: format!("plugin `{name}` is a {} component", loaded.world()),
            }));
        }
        Ok(loaded)
    }
}

/// The runtime's (WIT) requestor for a τ² requestor.
pub fn wit_req(r: Requestor) -> WitRequestor {
    match r {
        Requestor::User => WitRequestor::User,
        _ => WitRequestor::Assistant,
    }
}

fn wit_side(r: Requestor) -> DbSide {
    match r {
        Requestor::User => DbSide::User,
        _ => DbSide::Assistant,
    }
}

/// A [`DomainInstance`] driven synchronously, for the τ² conformance engine.
pub struct WasmDomainEnv {
    handle: Handle,
    inst: DomainInstance,
}

impl WasmDomainEnv {
    /// A fresh episode of `component`. Must not be called from inside the tokio runtime.
    pub fn new(handle: &Handle, component: Arc<LoadedComponent>) -> Result<WasmDomainEnv, CallError> {
        let inst = handle.block_on(DomainInstance::new(component))?;
        Ok(WasmDomainEnv { handle: handle.clone(), inst })
    }

    /// The underlying instance.
    pub fn instance(&mut self) -> &mut DomainInstance {
        &mut self.inst
    }
}

/// Failure of a WASM domain seen through [`DomainEnv`].
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// The sandbox failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The domain refused the request (reset data, env function).
    #[error("{0}")]
    Domain(String),
}

impl DomainEnv for WasmDomainEnv {
    type Error = EnvError;

    fn reset(&mut self, init: &eigenbox_tau2::EpisodeInit) -> Result<(), EnvError> {
        let w = init.to_wire();
        let actions = w.actions.into_iter().map(|(side, name, arguments)| EnvCall { side: wit_side(side), name, arguments }).collect();
        let wit = eigenbox_runtime::EpisodeInit { agent_data: w.agent_data, user_data: w.user_data, actions };
        self.handle.block_on(self.inst.reset(wit))?.map_err(EnvError::Domain)
    }

    fn tools(&mut self) -> Result<Vec<ToolSpec>, EnvError> {
        let tools = self.handle.block_on(self.inst.tools())?;
        tools.into_iter().map(|t| tool_spec_from_wit(t).map_err(EnvError::Domain)).collect()
    }


    fn call_tool(&mut self, requestor: Requestor, name: &str, arguments: &Value) -> Result<(String, bool), EnvError> {
        let args = arguments.to_string();
        match self.handle.block_on(self.inst.call_tool(wit_req(requestor), name, &args))? {
            Ok(text) => Ok((text, false)),
            Err(e) => Ok((format!("Error: {}", e.message), true)),
        }
    }

    fn call_tool_unsynced(&mut self, requestor: Requestor, name: &str, arguments: &Value) -> Result<Option<(String, bool)>, EnvError> {
        let args = arguments.to_string();
        Ok(Some(match self.handle.block_on(self.inst.call_tool_unsynced(wit_req(requestor), name, &args))? {
            Ok(text) => (text, false),
            Err(e) => (format!("Error: {}", e.message), true),
        }))
    }

    fn env_function(&mut self, side: Requestor, name: &str, arguments: &Value) -> Result<Value, EnvError> {
        let call = EnvCall { side: wit_side(side), name: name.into(), arguments: arguments.to_string() };
        match self.handle.block_on(self.inst.env_function(call))? {
            Ok(text) => serde_json::from_str(&text).map_err(|e| EnvError::Domain(format!("env function `{name}` returned non-JSON `{text}`: {e}"))),
            Err(e) => Err(EnvError::Domain(format!("env function `{name}` failed: {}", e.message))),
        }
    }

    fn state_hash(&mut self, side: Requestor) -> Result<Option<String>, EnvError> {
        Ok(self.handle.block_on(self.inst.state_hash(wit_side(side)))?)
    }

    fn is_mutating(&mut self, name: &str) -> Result<Option<bool>, EnvError> {
        let a = self.handle.block_on(self.inst.is_mutating(WitRequestor::Assistant, name))?;
        if a.is_some() {
            return Ok(a);
        }
        Ok(self.handle.block_on(self.inst.is_mutating(WitRequestor::User, name))?)
    }
}

/// A tool as the WIT describes it, as the τ² data model does (the schema parsed from its JSON
/// text); an error names a tool whose schema is not JSON.
pub fn tool_spec_from_wit(t: eigenbox_runtime::ToolSpec) -> Result<ToolSpec, String> {
    let parameters: Value =
        serde_json::from_str(&t.parameters).map_err(|e| format!("tool `{}` has a parameters schema that is not JSON: {e}", t.name))?;
    Ok(ToolSpec {
        name: t.name,
        description: t.description,
        parameters,
        requestor: if t.requestor == WitRequestor::User { Requestor::User } else { Requestor::Assistant },
        kind: Some(match t.kind {
            eigenbox_runtime::ToolKind::Read => ToolKind::Read,
            eigenbox_runtime::ToolKind::Write => ToolKind::Write,
            eigenbox_runtime::ToolKind::Think => ToolKind::Think,
            eigenbox_runtime::ToolKind::Generic => ToolKind::Generic,
        }),
        mutates_state: Some(t.mutates_state),
    })
}

/// One executed reference action.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayedCall {
    /// Tool name.
    pub name: String,
    /// Who called it.
    pub requestor: Requestor,
    /// The arguments.
    pub arguments: Value,
    /// The tool message content.
    pub response: String,
    /// Whether the tool reported an error.
    pub error: bool,
    /// Agent DB hash after the call.
    pub agent_hash: Option<String>,
}

/// The result of [`replay_task`].
#[derive(Debug, Clone, Serialize)]
pub struct ReplayOutcome {
    /// Task id.
    pub task_id: String,
    /// Agent DB hash after initialisation.
    pub initial_agent_hash: Option<String>,
    /// User DB hash after initialisation.
    pub initial_user_hash: Option<String>,
    /// Each reference action.
    pub calls: Vec<ReplayedCall>,
    /// Agent DB hash at the end.
    pub final_agent_hash: Option<String>,
    /// User DB hash at the end.
    pub final_user_hash: Option<String>,
}

/// Initialise a fresh episode for `task` and run its reference actions
/// (`evaluation_criteria.actions`) in order. Must not be called from inside the tokio runtime.
pub fn replay_task(handle: &Handle, component: Arc<LoadedComponent>, task: &Task) -> Result<ReplayOutcome, EpisodeError> {
    let mut env = WasmDomainEnv::new(handle, component)?;
    eigenbox_tau2::initialise_episode(&mut env, Some(task), true).map_err(|e| init_error(&task.id, e))?;
    let initial_agent_hash = env.state_hash(Requestor::Assistant).map_err(|e| env_error(&task.id, e))?;
    let initial_user_hash = env.state_hash(Requestor::User).map_err(|e| env_error(&task.id, e))?;
    let mut calls = Vec::new();
    let actions = task.evaluation_criteria.get().map(|c| c.actions.get().cloned().unwrap_or_default()).unwrap_or_default();
    for action in actions {
        let args = Value::Object(action.arguments.clone());
        let (response, error) = env.call_tool(action.requestor(), &action.name, &args).map_err(|e| env_error(&task.id, e))?;
        let agent_hash = env.state_hash(Requestor::Assistant).map_err(|e| env_error(&task.id, e))?;
        calls.push(ReplayedCall { name: action.name.clone(), requestor: action.requestor(), arguments: args, response, error, agent_hash });
    }
    Ok(ReplayOutcome {
        task_id: task.id.clone(),
        initial_agent_hash,
        initial_user_hash,
        calls,
        final_agent_hash: env.state_hash(Requestor::Assistant).map_err(|e| env_error(&task.id, e))?,
        final_user_hash: env.state_hash(Requestor::User).map_err(|e| env_error(&task.id, e))?,
    })
}

fn init_error(task: &str, e: InitError<EnvError>) -> EpisodeError {
    match e {
        InitError::Domain { source: EnvError::Call(c), .. } => EpisodeError::Call(c),
        other => EpisodeError::Init { task: task.into(), message: other.to_string() },
    }
}

fn env_error(task: &str, e: EnvError) -> EpisodeError {
    match e {
        EnvError::Call(c) => EpisodeError::Call(c),
        EnvError::Domain(m) => EpisodeError::Init { task: task.into(), message: m },
    }
}
