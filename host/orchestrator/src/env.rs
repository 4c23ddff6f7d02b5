//! The domain side of an episode: [`Environment`] (τ²'s `Environment.set_state`,
//! `get_response`), [`WasmEnv`] over a sandboxed [`DomainInstance`], and the [`ToolGate`] hook
//! around every tool call.

use std::sync::Arc;

use eigenbox_episode::wit_req;
use eigenbox_runtime::{DomainInstance, EnvCall, LoadedComponent};
use eigenbox_tau2::{decode_or_string, plan_episode, py_json_eq, Requestor, Task, ToolCall, ToolSpec};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::BoxFuture;

/// A failure of the environment itself (not a tool's own error, which is a tool message with
/// `error: true`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvFailure {
    /// The sandbox failed (trap, out of fuel, timeout, ...).
    #[error("domain sandbox failure: {0}")]
    Sandbox(String),
    /// The task's initial state could not be set up.
    #[error("cannot set up the task's initial state: {0}")]
    Init(String),
}

/// A tool result: τ²'s `ToolMessage` content and error flag.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The tool message text (`Error: …` when the tool failed).
    pub content: String,
    /// Whether the tool failed (counted against `max_errors`).
    pub error: bool,
}

/// The domain of one episode. Each episode owns its own environment: nothing is shared.
pub trait Environment: Send {
    /// Put the domain into `task`'s initial state: its initialization data and actions, then the
    /// tool calls of its message history (checked against the recorded results).
    fn initialise<'a>(&'a mut self, task: &'a Task) -> BoxFuture<'a, Result<(), EnvFailure>>;

    /// The domain's tool schemas (both sides).
    fn tools(&mut self) -> BoxFuture<'_, Result<Vec<ToolSpec>, EnvFailure>>;

    /// Run one tool call as its requestor (τ²'s `get_response`, with the post-call sync).
    fn call_tool<'a>(&'a mut self, call: &'a ToolCall) -> BoxFuture<'a, Result<ToolResult, EnvFailure>>;
}

/// What a [`ToolGate`] decided about one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateDecision {
    /// Run it.
    Allow,
    /// Do not run it; the requestor gets a tool error with this text (`Error: <text>`), which
    /// counts as a tool error.
    Deny(String),
}

/// A hook around every tool call of an episode (agent and user): where a policy / audit gate
/// plugs in. `before` decides; `after` sees what happened to an allowed call.
pub trait ToolGate: Send + Sync {
    /// Decide on `call` before it runs.
    fn before(&self, task_id: &str, call: &ToolCall) -> GateDecision;
    /// Observe the outcome of an allowed call.
    fn after(&self, _task_id: &str, _call: &ToolCall, _result: &ToolResult) {}
    /// A message the user sent (for rules that need the user's explicit confirmation).
    fn user_message(&self, _task_id: &str, _text: &str) {}
}

fn sandbox(e: impl std::fmt::Display) -> EnvFailure {
    EnvFailure::Sandbox(e.to_string())
}

/// A WASM domain component as an episode's [`Environment`]. The instance is shared behind a
/// mutex only so that a user-simulator role of the same episode can call the user's tools
/// ([`WasmEnv::shared`]); two `WasmEnv`s never share an instance.
pub struct WasmEnv {
    domain: Arc<Mutex<DomainInstance>>,
}

impl WasmEnv {
    /// A fresh episode (its own wasmtime store) of `component`.
    pub async fn new(component: Arc<LoadedComponent>) -> Result<WasmEnv, EnvFailure> {
        let inst = DomainInstance::new(component).await.map_err(sandbox)?;
        Ok(WasmEnv { domain: Arc::new(Mutex::new(inst)) })
    }

    /// The instance, for attaching to a role ([`eigenbox_runtime::RoleInstance::attach_domain`]).
    pub fn shared(&self) -> Arc<Mutex<DomainInstance>> {
        self.domain.clone()
    }
}

fn tool_from_wit(t: eigenbox_runtime::ToolSpec) -> Result<ToolSpec, EnvFailure> {
    eigenbox_episode::tool_spec_from_wit(t).map_err(EnvFailure::Sandbox)
}

impl Environment for WasmEnv {
    fn initialise<'a>(&'a mut self, task: &'a Task) -> BoxFuture<'a, Result<(), EnvFailure>> {
        Box::pin(async move {
            let plan = plan_episode(task).map_err(|e| EnvFailure::Init(e.to_string()))?;
            let w = plan.init.to_wire();
            let actions = w
                .actions
                .into_iter()
                .map(|(side, name, arguments)| EnvCall {
                    side: if side == Requestor::User { eigenbox_runtime::DbSide::User } else { eigenbox_runtime::DbSide::Assistant },
                    name,
                    arguments,
                })
                .collect();
            let init = eigenbox_runtime::EpisodeInit { agent_data: w.agent_data, user_data: w.user_data, actions };
            let mut d = self.domain.lock().await;
            d.reset(init).await.map_err(sandbox)?.map_err(EnvFailure::Init)?;
            // The message history's tool calls: mutating ones re-run, their output checked
            // against the recording (τ²'s `set_state`).
            for step in &plan.replay {
                let req = wit_req(step.call.requestor());
                let name = &step.call.name;
                match d.is_mutating(req, name).await.map_err(sandbox)? {
                    Some(true) => {}
                    _ => continue,
                }
                let args = Value::Object(step.call.arguments.clone()).to_string();
                let content = match d.call_tool(req, name, &args).await.map_err(sandbox)? {
                    Ok(t) => t,
                    Err(e) => format!("Error: {}", e.message),
                };
                let expected = step.expected.content.get().cloned().unwrap_or_default();
                if !py_json_eq(&decode_or_string(&content), &decode_or_string(&expected)) {
                    return Err(EnvFailure::Init(format!(
                        "message history: replaying `{name}` (message {}) gave `{content}`, the history recorded `{expected}`",
                        step.call_message_index
                    )));
                }
            }
            Ok(())
        })
    }

    fn tools(&mut self) -> BoxFuture<'_, Result<Vec<ToolSpec>, EnvFailure>> {
        Box::pin(async move {
            let tools = self.domain.lock().await.tools().await.map_err(sandbox)?;
            tools.into_iter().map(tool_from_wit).collect()
        })
    }

    fn call_tool<'a>(&'a mut self, call: &'a ToolCall) -> BoxFuture<'a, Result<ToolResult, EnvFailure>> {
        Box::pin(async move {
            let args = Value::Object(call.arguments.clone()).to_string();
            let r = self.domain.lock().await.call_tool(wit_req(call.requestor()), &call.name, &args).await.map_err(sandbox)?;
            Ok(match r {
                Ok(content) => ToolResult { content, error: false },
                Err(e) => ToolResult { content: format!("Error: {}", e.message), error: true },
            })
        })
    }
}
