//! Simulation outcomes (`tau2.data_model.simulation`): why an episode ended.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a simulation ended (`TerminationReason`), serialised as the reference's value
/// (`user_stop`, `max_steps`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminationReason {
    /// The user simulator ended the dialogue (`###STOP###`, `###TRANSFER###`, `###OUT-OF-SCOPE###`).
    UserStop,
    /// The agent ended the dialogue.
    AgentStop,
    /// The step limit was reached.
    MaxSteps,
    /// The time limit was reached.
    Timeout,
    /// Too many tool errors.
    TooManyErrors,
    /// The agent failed (e.g. an unusable model reply).
    AgentError,
    /// The user simulator failed.
    UserError,
    /// The episode never really ran (API disconnect, ...); excluded from metrics.
    InfrastructureError,
    /// The model's context window was exceeded.
    ContextWindowExceeded,
    /// Anything else.
    UnexpectedError,
}

impl TerminationReason {
    /// Every reason, in the reference's declaration order.
    pub const ALL: [TerminationReason; 10] = [
        TerminationReason::UserStop,
        TerminationReason::AgentStop,
        TerminationReason::MaxSteps,
        TerminationReason::Timeout,
        TerminationReason::TooManyErrors,
        TerminationReason::AgentError,
        TerminationReason::UserError,
        TerminationReason::InfrastructureError,
        TerminationReason::ContextWindowExceeded,
        TerminationReason::UnexpectedError,
    ];

    /// The reference's value string.
    pub fn as_str(self) -> &'static str {
        match self {
            TerminationReason::UserStop => "user_stop",
            TerminationReason::AgentStop => "agent_stop",
            TerminationReason::MaxSteps => "max_steps",
            TerminationReason::Timeout => "timeout",
            TerminationReason::TooManyErrors => "too_many_errors",
            TerminationReason::AgentError => "agent_error",
            TerminationReason::UserError => "user_error",
            TerminationReason::InfrastructureError => "infrastructure_error",
            TerminationReason::ContextWindowExceeded => "context_window_exceeded",
            TerminationReason::UnexpectedError => "unexpected_error",
        }
    }

    /// Whether the dialogue ended normally (user or agent stop): the only reasons the
    /// reference's evaluator scores; every other reason gets reward 0.
    pub fn is_normal_stop(self) -> bool {
        matches!(self, TerminationReason::UserStop | TerminationReason::AgentStop)
    }
}

impl fmt::Display for TerminationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown termination reason string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown termination reason `{0}` (expected one of: {list})", list = TerminationReason::ALL.map(|r| r.as_str()).join(", "))]
pub struct UnknownTerminationReason(pub String);

impl FromStr for TerminationReason {
    type Err = UnknownTerminationReason;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TerminationReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownTerminationReason(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_strings_and_serde() {
        for r in TerminationReason::ALL {
            assert_eq!(r.as_str().parse::<TerminationReason>(), Ok(r));
            assert_eq!(serde_json::to_value(r).ok(), Some(serde_json::Value::String(r.as_str().into())));
        }
        let e = "stopped".parse::<TerminationReason>().unwrap_err();
        assert!(e.to_string().contains("`stopped`") && e.to_string().contains("user_stop"), "{e}");
    }

    #[test]
    fn only_user_and_agent_stop_are_normal() {
        let normal: Vec<_> = TerminationReason::ALL.into_iter().filter(|r| r.is_normal_stop()).collect();
        assert_eq!(normal, vec![TerminationReason::UserStop, TerminationReason::AgentStop]);
    }
}
