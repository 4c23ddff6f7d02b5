//! Initial and gold states of a task, computed through the domain exactly as `eigenbox-eval`'s
//! evaluator builds its gold environment.

use std::fmt;

use eigenbox_tau2::{actions_from_messages, plan_episode, replay_history, DomainEnv, Message, Requestor, Task};
use serde_json::Value;

use super::DeriveError;

/// A [`DomainEnv`] that can also hand out the canonical JSON of its databases (the WIT
/// `state-json`). Implement it over `eigenbox_episode::WasmDomainEnv` with
/// `instance().state_json(..)`, or over the SDK's in-process `SdkEnv` with
/// `runtime().state_json(..)`.
pub trait StateEnv: DomainEnv {
    /// Canonical JSON of one side's database, `None` where the domain has none.
    fn state_json(&mut self, side: Requestor) -> Result<Option<String>, Self::Error>;
}

/// Both databases of a state, parsed (`None` where the domain has no such DB).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sides {
    /// The agent DB.
    pub agent: Option<Value>,
    /// The user DB.
    pub user: Option<Value>,
}

/// A task's states.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskStates {
    /// After the task's `initial_state` (data, initialization actions, message history).
    pub initial: Sides,
    /// `initial` + the reference actions (run without the post-call sync, like the
    /// evaluator's gold environment); `None` when not asked for.
    pub gold: Option<Sides>,
}

/// The domain a task set belongs to: its name (which selects the env-assertion translations)
/// and a factory of fresh environments.
pub struct DomainCtx<F> {
    domain: String,
    factory: F,
}

impl<F> fmt::Debug for DomainCtx<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainCtx").field("domain", &self.domain).finish()
    }
}

fn domain_err<X: fmt::Display>(task: &Task, during: impl Into<String>) -> impl FnOnce(X) -> DeriveError {
    let task = task.id.clone();
    let during = during.into();
    move |e| DeriveError::Domain { task, during, message: e.to_string() }
}

impl<E, F> DomainCtx<F>
where
    E: StateEnv,
    F: FnMut() -> Result<E, E::Error>,
{
    /// A context for `domain` (`mock`, `airline`, `retail`, `telecom`, ...).
    pub fn new(domain: impl Into<String>, factory: F) -> Self {
        DomainCtx { domain: domain.into(), factory }
    }

    /// The domain name.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// A fresh environment in `task`'s initial state.
    pub fn initial_env(&mut self, task: &Task) -> Result<E, DeriveError> {
        let plan = plan_episode(task).map_err(domain_err(task, "planning the initial state"))?;
        let mut env = (self.factory)().map_err(domain_err(task, "creating the environment"))?;
        env.reset(&plan.init).map_err(domain_err(task, "reset to the task's initial state"))?;
        replay_history(&mut env, &plan.replay, true).map_err(domain_err(task, "replaying the message history"))?;
        Ok(env)
    }

    /// The state a recorded trajectory leaves (the evaluator's predicted environment: the
    /// task's `initial_state` data and actions, then every tool call of `trajectory`, which
    /// includes the message history, replayed; read-only and unknown tools skipped).
    pub fn replayed_state(&mut self, task: &Task, trajectory: &[Message]) -> Result<Sides, DeriveError> {
        let plan = plan_episode(task).map_err(domain_err(task, "planning the initial state"))?;
        let steps = actions_from_messages(trajectory).map_err(domain_err(task, "pairing the trajectory's tool calls"))?;
        let mut env = (self.factory)().map_err(domain_err(task, "creating the environment"))?;
        env.reset(&plan.init).map_err(domain_err(task, "reset to the task's initial state"))?;
        replay_history(&mut env, &steps, true).map_err(domain_err(task, "replaying the trajectory"))?;
        read_sides(&mut env, task)
    }

    /// The task's initial state and, with `with_gold`, its gold state.
    pub fn states(&mut self, task: &Task, with_gold: bool) -> Result<TaskStates, DeriveError> {
        let mut env = self.initial_env(task)?;
        let initial = read_sides(&mut env, task)?;
        if !with_gold {
            return Ok(TaskStates { initial, gold: None });
        }
        let actions = task
            .evaluation_criteria
            .get()
            .and_then(|c| c.actions.get())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for action in actions {
            let args = Value::Object(action.arguments.clone());
            let during = format!("reference action `{}` ({})", action.name, action.action_id);
            let unsynced = env.call_tool_unsynced(action.requestor(), &action.name, &args).map_err(domain_err(task, during.clone()))?;
            if unsynced.is_none() {
                // Same fallback as the evaluator (exact where the domain's sync changes nothing).
                env.call_tool(action.requestor(), &action.name, &args).map_err(domain_err(task, during))?;
            }
        }
        let gold = read_sides(&mut env, task)?;
        Ok(TaskStates { initial, gold: Some(gold) })
    }
}

/// Reads and parses both DBs of `env`.
pub(crate) fn read_sides<E: StateEnv>(env: &mut E, task: &Task) -> Result<Sides, DeriveError> {
    let mut read = |side: Requestor, name: &'static str| -> Result<Option<Value>, DeriveError> {
        let text = env.state_json(side).map_err(domain_err(task, format!("reading the {name} state")))?;
        text.map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| DeriveError::StateJson { task: task.id.clone(), side: name, message: e.to_string() })
    };
    Ok(Sides { agent: read(Requestor::Assistant, "agent")?, user: read(Requestor::User, "user")? })
}

/// Gives any [`DomainEnv`] a [`StateEnv`] through a function, e.g. over
/// `eigenbox_episode::WasmDomainEnv`:
/// `WithStateJson::new(env, |e, side| Ok(handle.block_on(e.instance().state_json(wit_side(side)))?))`.
pub struct WithStateJson<E: DomainEnv, G> {
    /// The environment.
    pub env: E,
    state_json: G,
}

impl<E: DomainEnv, G> WithStateJson<E, G>
where
    G: FnMut(&mut E, Requestor) -> Result<Option<String>, E::Error>,
{
    /// Wraps `env`; `state_json` reads one side's canonical DB JSON.
    pub fn new(env: E, state_json: G) -> Self {
        WithStateJson { env, state_json }
    }
}

impl<E: DomainEnv, G> DomainEnv for WithStateJson<E, G> {
    type Error = E::Error;
    fn reset(&mut self, init: &eigenbox_tau2::EpisodeInit) -> Result<(), E::Error> {
        self.env.reset(init)
    }
    fn tools(&mut self) -> Result<Vec<eigenbox_tau2::ToolSpec>, E::Error> {
        self.env.tools()
    }
    fn call_tool(&mut self, r: Requestor, name: &str, args: &Value) -> Result<(String, bool), E::Error> {
        self.env.call_tool(r, name, args)
    }
    fn call_tool_unsynced(&mut self, r: Requestor, name: &str, args: &Value) -> Result<Option<(String, bool)>, E::Error> {
        self.env.call_tool_unsynced(r, name, args)
    }
    fn env_function(&mut self, side: Requestor, name: &str, args: &Value) -> Result<Value, E::Error> {
        self.env.env_function(side, name, args)
    }
    fn state_hash(&mut self, side: Requestor) -> Result<Option<String>, E::Error> {
        self.env.state_hash(side)
    }
    fn is_mutating(&mut self, name: &str) -> Result<Option<bool>, E::Error> {
        self.env.is_mutating(name)
    }
}

impl<E: DomainEnv, G> StateEnv for WithStateJson<E, G>
where
    G: FnMut(&mut E, Requestor) -> Result<Option<String>, E::Error>,
{
    fn state_json(&mut self, side: Requestor) -> Result<Option<String>, E::Error> {
        (self.state_json)(&mut self.env, side)
    }
}
