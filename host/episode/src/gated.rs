//! [`GatedEnv`]: any [`DomainEnv`] with every tool call passed through the policy gate
//! ([`eigenbox_gate::EpisodeGate`]) and audited.
//!
//! A denied call never reaches the domain: the caller gets the tool message
//! `Error: denied by policy rule `<id>`: <reason>` (flagged as an error, as the reference flags
//! tool errors), the state is unchanged and the episode goes on. An allowed call runs and its
//! outcome (ok, tool error, or the sandbox failure) is appended to the audit log.

use std::sync::Arc;

use eigenbox_audit::Outcome;
use eigenbox_gate::{Actor, EpisodeGate, Stats};
use eigenbox_tau2::{DomainEnv, Requestor};
use serde_json::Value;

/// A [`DomainEnv`] whose tool calls go through an [`EpisodeGate`].
pub struct GatedEnv<E> {
    inner: E,
    gate: Arc<EpisodeGate>,
    domain: String,
    assistant: Actor,
    user: Actor,
}

impl<E: DomainEnv> GatedEnv<E> {
    /// Gate `inner` (an episode of `domain`); tool calls are made by `assistant` and `user`.
    pub fn new(inner: E, gate: Arc<EpisodeGate>, domain: &str, assistant: Actor, user: Actor) -> Self {
        GatedEnv { inner, gate, domain: domain.to_string(), assistant, user }
    }

    /// The gated environment.
    pub fn inner(&mut self) -> &mut E {
        &mut self.inner
    }

    /// The environment back, ungated.
    pub fn into_inner(self) -> E {
        self.inner
    }

    /// The episode's gate.
    pub fn gate(&self) -> &Arc<EpisodeGate> {
        &self.gate
    }

    fn actor(&self, r: Requestor) -> (&Actor, &'static str) {
        match r {
            Requestor::User => (&self.user, "user"),
            _ => (&self.assistant, "assistant"),
        }
    }

    fn gated_call(
        &mut self,
        requestor: Requestor,
        name: &str,
        arguments: &Value,
        call: impl FnOnce(&mut E) -> Result<(String, bool), E::Error>,
    ) -> Result<(String, bool), E::Error> {
        // An unknown tool is a read as far as the policy is concerned; the domain answers it.
        let write = self.inner.is_mutating(name)?.unwrap_or(false);
        let args = arguments.to_string();
        let (actor, side) = self.actor(requestor);
        let permit = match self.gate.before_tool(actor, side, &self.domain, name, write, &args) {
            Ok(p) => p,
            Err(denied) => return Ok((format!("Error: {}", denied.message()), true)),
        };
        let r = call(&mut self.inner);
        let (outcome, text) = match &r {
            Ok((text, false)) => (Outcome::Ok, Some(text.as_str())),
            Ok((text, true)) => (Outcome::ToolError, Some(text.as_str())),
            Err(_) => (Outcome::Error, None),
        };
        if let Err(e) = self.gate.after_tool(permit, outcome, text, Stats::default()) {
            tracing::error!(domain = %self.domain, tool = name, "audit record not written: {e}");
        }
        r
    }
}

impl<E: DomainEnv> DomainEnv for GatedEnv<E> {
    type Error = E::Error;

    fn reset(&mut self, init: &eigenbox_tau2::EpisodeInit) -> Result<(), Self::Error> {
        self.inner.reset(init)
    }

    fn tools(&mut self) -> Result<Vec<eigenbox_tau2::ToolSpec>, Self::Error> {
        self.inner.tools()
    }

    fn call_tool(&mut self, requestor: Requestor, name: &str, arguments: &Value) -> Result<(String, bool), Self::Error> {
        self.gated_call(requestor, name, arguments, |e| e.call_tool(requestor, name, arguments))
    }

    /// Not gated: this is how an evaluator rebuilds a task's gold environment from its
    /// reference actions, the host's own work rather than an agent's access.
    fn call_tool_unsynced(&mut self, requestor: Requestor, name: &str, arguments: &Value) -> Result<Option<(String, bool)>, Self::Error> {
        self.inner.call_tool_unsynced(requestor, name, arguments)
    }

    /// Environment functions are the host's own set-up and assertions, not an agent's access:
    /// they are not gated.
    fn env_function(&mut self, side: Requestor, name: &str, arguments: &Value) -> Result<Value, Self::Error> {
        self.inner.env_function(side, name, arguments)
    }

    fn state_hash(&mut self, side: Requestor) -> Result<Option<String>, Self::Error> {
        self.inner.state_hash(side)
    }

    fn is_mutating(&mut self, name: &str) -> Result<Option<bool>, Self::Error> {
        self.inner.is_mutating(name)
    }
}
