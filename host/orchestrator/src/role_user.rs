//! A user simulator that is a role component (e.g. `plugins/user-sim`, τ²'s user simulator):
//! the host keeps the user's view of the dialogue and hands it to the component each turn; the
//! component reaches its model only through the host's capability-gated `llm` import.
//!
//! With [`UserSimConfig::logprobs`] set, the component asks its model for token log-probabilities
//! and the user message of each step keeps the tokens of that step's last model call, as the host
//! received them (`RoleInstance::last_step_tokens`), under `logprobs` (see [`crate::llm_agent`]).

use std::sync::Arc;

use eigenbox_runtime::{DomainInstance, LlmBackend, LoadedComponent, RoleInstance, StepInput};
use eigenbox_tau2::{Message, ParticipantMessage, Requestor, Task};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::llm_agent::{attach_tokens, backend_error, from_wit_message, to_wit_messages, SamplingConfig};
use crate::participant::{has_text, ParticipantError, UserSim};
use crate::BoxFuture;

/// The step configuration the user-simulator component takes (`plugins/user-sim`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserSimConfig {
    /// `str(task.user_scenario)`.
    pub instructions: String,
    /// Logical model name.
    pub model: String,
    /// The task's `user_tools` filter.
    pub user_tools: Option<Vec<String>>,
    /// Temperature.
    pub temperature: Option<f64>,
    /// Nucleus mass.
    pub top_p: Option<f64>,
    /// Completion cap.
    pub max_tokens: Option<u32>,
    /// Seed (set from the episode's seed).
    pub seed: Option<u64>,
    /// Token log-probabilities with this many alternatives (left out of the step configuration
    /// when `None`, so components that predate it still accept the configuration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<u32>,
}

impl UserSimConfig {
    /// The configuration for `task` (its user scenario and user-tool filter) with `model`.
    pub fn for_task(task: &Task, model: impl Into<String>, sampling: SamplingConfig) -> UserSimConfig {
        UserSimConfig {
            instructions: task.user_scenario.to_string(),
            model: model.into(),
            user_tools: task.user_tools.get().cloned(),
            temperature: sampling.temperature,
            top_p: sampling.top_p,
            max_tokens: sampling.max_tokens,
            seed: None,
            logprobs: sampling.logprobs,
        }
    }
}

/// A [`UserSim`] backed by a role component.
pub struct RoleUser {
    role: RoleInstance,
    config: UserSimConfig,
    history: Vec<Message>,
}

impl RoleUser {
    /// An instance of `component` for one episode: `llm` serves its model calls; `domain` (the
    /// episode's domain instance and its name) lets it list the user's tools.
    pub async fn new(
        component: Arc<LoadedComponent>,
        config: UserSimConfig,
        llm: Arc<dyn LlmBackend>,
        domain: Option<(&str, Arc<Mutex<DomainInstance>>)>,
    ) -> Result<RoleUser, eigenbox_runtime::CallError> {
        let mut role = RoleInstance::new(component).await?;
        role.attach_llm(llm);
        if let Some((name, d)) = domain {
            role.attach_domain(name, d);
        }
        Ok(RoleUser { role, config, history: Vec::new() })
    }

    /// The role instance (for its access log, or to attach a policy gate).
    pub fn role(&mut self) -> &mut RoleInstance {
        &mut self.role
    }
}

impl UserSim for RoleUser {
    fn init(&mut self, history: &[Message], seed: Option<u64>) {
        self.history = history.to_vec();
        self.config.seed = seed;
    }

    fn next<'a>(&'a mut self, incoming: &'a Message) -> BoxFuture<'a, Result<ParticipantMessage, ParticipantError>> {
        Box::pin(async move {
            // τ²'s user state: tool results always, other messages when they say something.
            match incoming {
                Message::MultiTool(mt) => self.history.extend(mt.tool_messages.iter().cloned().map(Message::Tool)),
                Message::Tool(_) => self.history.push(incoming.clone()),
                Message::Assistant(p) | Message::User(p) if has_text(p) || p.is_tool_call() => self.history.push(incoming.clone()),
                _ => {}
            }
            let config = serde_json::to_string(&self.config).map_err(|e| ParticipantError::Invalid(format!("config: {e}")))?;
            let input = StepInput { config, history: to_wit_messages(&self.history) };
            let out = match self.role.step(input).await {
                Ok(Ok(out)) => out,
                Ok(Err(e)) => {
                    return Err(match e.strip_prefix("llm-backend: ") {
                        Some(text) => backend_error(text.to_string()),
                        None => ParticipantError::Invalid(e),
                    })
                }
                Err(e) => return Err(ParticipantError::Infrastructure(format!("user-simulator component: {e}"))),
            };
            let mut m = from_wit_message(&out.message, Requestor::User)?;
            attach_tokens(&mut m, self.role.last_step_tokens());
            self.history.push(Message::User(m.clone()));
            Ok(m)
        })
    }
}
