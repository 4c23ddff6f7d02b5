//! [`PolicyGate`]: the host's policy gate and audit log ([`eigenbox_gate`]) as an episode's
//! [`ToolGate`]: every agent and user tool call is decided by the policy and audited, and the
//! user's messages count towards "explicit confirmation" rules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use eigenbox_audit::Outcome;
use eigenbox_gate::{Actor, EpisodeGate, Permit, Stats};
use eigenbox_tau2::{Requestor, ToolCall, ToolSpec};

use crate::env::{GateDecision, ToolGate, ToolResult};

/// One episode's policy gate, for [`crate::EpisodeConfig::gate`].
pub struct PolicyGate {
    episode: Arc<EpisodeGate>,
    domain: String,
    /// Which tools write, by requestor and name (from the domain's tool specs).
    writes: HashMap<(bool, String), bool>,
    assistant: Actor,
    user: Actor,
    /// Permits of allowed calls in flight, by call id (and name, for calls without an id).
    permits: Mutex<HashMap<(String, String), Permit>>,
}

impl PolicyGate {
    /// Gate an episode of `domain` whose tools are `tools`, acting as `assistant` and `user`.
    pub fn new(episode: Arc<EpisodeGate>, domain: &str, tools: &[ToolSpec], assistant: Actor, user: Actor) -> PolicyGate {
        let writes = tools.iter().map(|t| ((t.requestor == Requestor::User, t.name.clone()), t.mutates_state.unwrap_or(false))).collect();
        PolicyGate { episode, domain: domain.to_string(), writes, assistant, user, permits: Mutex::new(HashMap::new()) }
    }

    fn permits(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Permit>> {
        self.permits.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ToolGate for PolicyGate {
    fn before(&self, _task_id: &str, call: &ToolCall) -> GateDecision {
        let user = call.requestor() == Requestor::User;
        let (actor, side) = if user { (&self.user, "user") } else { (&self.assistant, "assistant") };
        // An unknown tool is a read for the policy; the domain answers it with its own error.
        let write = self.writes.get(&(user, call.name.clone())).copied().unwrap_or(false);
        let args = serde_json::Value::Object(call.arguments.clone()).to_string();
        match self.episode.before_tool(actor, side, &self.domain, &call.name, write, &args) {
            Ok(permit) => {
                self.permits().insert((call.id.clone(), call.name.clone()), permit);
                GateDecision::Allow
            }
            Err(denied) => GateDecision::Deny(denied.message()),
        }
    }

    fn after(&self, _task_id: &str, call: &ToolCall, result: &ToolResult) {
        let Some(permit) = self.permits().remove(&(call.id.clone(), call.name.clone())) else { return };
        let outcome = if result.error { Outcome::ToolError } else { Outcome::Ok };
        if let Err(e) = self.episode.after_tool(permit, outcome, Some(&result.content), Stats::default()) {
            tracing::error!(domain = %self.domain, tool = %call.name, "audit record not written: {e}");
        }
    }

    fn user_message(&self, _task_id: &str, text: &str) {
        self.episode.note_user_message(text);
    }
}
