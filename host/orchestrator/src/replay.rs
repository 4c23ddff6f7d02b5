//! Participants that re-run a recorded trajectory ([`ReplayAgent`], [`ReplayUser`]): for
//! re-scoring saved results and for checking the loop against recorded dialogues.

use eigenbox_tau2::{Message, ParticipantMessage};
use serde_json::Map;

use crate::participant::{Agent, ParticipantError, UserSim};
use crate::BoxFuture;

fn strip(mut m: ParticipantMessage) -> ParticipantMessage {
    // Bookkeeping of the recording; the loop numbers its own messages.
    m.extra.remove("turn_idx");
    m.extra.remove("timestamp");
    m
}

/// Re-emits a recorded trajectory's assistant messages in order, whatever it is told. The
/// messages already in the starting history (the greeting, the task's history) are skipped.
#[derive(Debug, Clone)]
pub struct ReplayAgent {
    recorded: Vec<ParticipantMessage>,
    next: usize,
}

impl ReplayAgent {
    /// Replays the assistant messages of `trajectory`.
    pub fn new(trajectory: &[Message]) -> ReplayAgent {
        let recorded = trajectory
            .iter()
            .filter_map(|m| match m {
                Message::Assistant(p) => Some(strip(p.clone())),
                _ => None,
            })
            .collect();
        ReplayAgent { recorded, next: 0 }
    }
}

impl Agent for ReplayAgent {
    fn init(&mut self, history: &[Message], _seed: Option<u64>) {
        self.next = history.iter().filter(|m| matches!(m, Message::Assistant(_))).count();
    }

    fn next<'a>(&'a mut self, _incoming: &'a Message) -> BoxFuture<'a, Result<ParticipantMessage, ParticipantError>> {
        Box::pin(async move {
            let m = self.recorded.get(self.next).cloned().ok_or_else(|| {
                ParticipantError::Invalid(format!("the recorded trajectory has no assistant message #{} left to replay", self.next + 1))
            })?;
            self.next += 1;
            Ok(m)
        })
    }
}

/// Re-emits a recorded trajectory's user messages in order.
#[derive(Debug, Clone)]
pub struct ReplayUser {
    recorded: Vec<ParticipantMessage>,
    next: usize,
}

impl ReplayUser {
    /// Replays the user messages of `trajectory`.
    pub fn new(trajectory: &[Message]) -> ReplayUser {
        let recorded = trajectory
            .iter()
            .filter_map(|m| match m {
                Message::User(p) => Some(strip(p.clone())),
                _ => None,
            })
            .collect();
        ReplayUser { recorded, next: 0 }
    }

    /// A user who says the given texts in order.
    pub fn script<S: AsRef<str>>(texts: &[S]) -> ReplayUser {
        let recorded = texts
            .iter()
            .map(|t| ParticipantMessage {
                content: eigenbox_tau2::Nullable::Value(t.as_ref().to_string()),
                tool_calls: eigenbox_tau2::Nullable::Null,
                extra: Map::new(),
            })
            .collect();
        ReplayUser { recorded, next: 0 }
    }
}

impl UserSim for ReplayUser {
    fn init(&mut self, history: &[Message], _seed: Option<u64>) {
        self.next = history.iter().filter(|m| matches!(m, Message::User(_))).count();
    }

    fn next<'a>(&'a mut self, _incoming: &'a Message) -> BoxFuture<'a, Result<ParticipantMessage, ParticipantError>> {
        Box::pin(async move {
            let m = self.recorded.get(self.next).cloned().ok_or_else(|| {
                ParticipantError::Invalid(format!("the recorded trajectory has no user message #{} left to replay", self.next + 1))
            })?;
            self.next += 1;
            Ok(m)
        })
    }
}
