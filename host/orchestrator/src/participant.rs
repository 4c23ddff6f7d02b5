//! The two sides of a dialogue: [`Agent`] and [`UserSim`] (τ²'s `HalfDuplexAgent` /
//! `HalfDuplexUser`), the stop tokens, and the message checks the loop applies.

use eigenbox_tau2::{Message, ParticipantMessage};

use crate::BoxFuture;

/// The user simulator ends the dialogue.
pub const STOP: &str = "###STOP###";
/// The user simulator is transferred to a human.
pub const TRANSFER: &str = "###TRANSFER###";
/// The user simulator's request is out of scope.
pub const OUT_OF_SCOPE: &str = "###OUT-OF-SCOPE###";

/// τ²'s `UserSimulator.is_stop`: a text message (not a tool call) containing one of the stop
/// tokens.
pub fn user_says_stop(m: &ParticipantMessage) -> bool {
    if m.is_tool_call() {
        return false;
    }
    match m.content.get() {
        Some(c) => c.contains(STOP) || c.contains(TRANSFER) || c.contains(OUT_OF_SCOPE),
        None => false,
    }
}

/// τ²'s `has_content`: text that is not only whitespace.
pub fn has_text(m: &ParticipantMessage) -> bool {
    m.content.get().is_some_and(|c| !c.trim().is_empty())
}

/// Why a participant could not produce its next message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParticipantError {
    /// The participant produced something unusable (an empty reply, tool arguments that are not a
    /// JSON object, a recorded trajectory that ran out, ...). Ends the episode with
    /// `agent_error` / `user_error`.
    #[error("invalid output: {0}")]
    Invalid(String),
    /// Its backend failed (endpoint unreachable after retries, sandbox trap, ...). Ends the
    /// episode with `infrastructure_error` (what τ²'s runner records once its retries are spent);
    /// such episodes are left out of the metrics and re-run on resume.
    #[error("infrastructure failure: {0}")]
    Infrastructure(String),
    /// The model's context window was exceeded: `context_window_exceeded`.
    #[error("context window exceeded: {0}")]
    ContextWindow(String),
}

/// The agent (τ²'s `HalfDuplexAgent`): answers the user's and the tools' messages with either text
/// for the user or tool calls for the domain.
pub trait Agent: Send {
    /// `get_init_state` (+ `set_seed`): the history the agent starts from (the greeting, or the
    /// task's message history restricted to what the agent sees).
    fn init(&mut self, history: &[Message], seed: Option<u64>);

    /// The next message, answering `incoming` (a user message, a tool message, or a
    /// multi-tool message).
    fn next<'a>(&'a mut self, incoming: &'a Message) -> BoxFuture<'a, Result<ParticipantMessage, ParticipantError>>;

    /// Whether `m` ends the dialogue (`agent_stop`). τ²'s `LLMAgent` never stops by itself.
    fn is_stop(&self, _m: &ParticipantMessage) -> bool {
        false
    }
}

/// The user simulator (τ²'s `HalfDuplexUser`): answers the agent's text (and the results of its
/// own tool calls, for telecom users) with text or tool calls.
pub trait UserSim: Send {
    /// `get_init_state` (+ `set_seed`).
    fn init(&mut self, history: &[Message], seed: Option<u64>);

    /// The next message, answering `incoming` (an assistant text message or the results of the
    /// user's own tool calls).
    fn next<'a>(&'a mut self, incoming: &'a Message) -> BoxFuture<'a, Result<ParticipantMessage, ParticipantError>>;

    /// Whether `m` ends the dialogue (`user_stop`); by default τ²'s stop tokens.
    fn is_stop(&self, m: &ParticipantMessage) -> bool {
        user_says_stop(m)
    }
}

impl<T: Agent + ?Sized> Agent for Box<T> {
    fn init(&mut self, history: &[Message], seed: Option<u64>) {
        (**self).init(history, seed)
    }
    fn next<'a>(&'a mut self, incoming: &'a Message) -> BoxFuture<'a, Result<ParticipantMessage, ParticipantError>> {
        (**self).next(incoming)
    }
    fn is_stop(&self, m: &ParticipantMessage) -> bool {
        (**self).is_stop(m)
    }
}

impl<T: UserSim + ?Sized> UserSim for Box<T> {
    fn init(&mut self, history: &[Message], seed: Option<u64>) {
        (**self).init(history, seed)
    }
    fn next<'a>(&'a mut self, incoming: &'a Message) -> BoxFuture<'a, Result<ParticipantMessage, ParticipantError>> {
        (**self).next(incoming)
    }
    fn is_stop(&self, m: &ParticipantMessage) -> bool {
        (**self).is_stop(m)
    }
}

/// τ²'s `is_valid_agent_history_message`.
pub fn agent_sees(m: &Message) -> bool {
    match m {
        Message::Assistant(_) => true,
        Message::User(u) => !u.is_tool_call(),
        Message::Tool(t) => t.requestor() == eigenbox_tau2::Requestor::Assistant,
        _ => false,
    }
}

/// τ²'s `is_valid_user_history_message`.
pub fn user_sees(m: &Message) -> bool {
    match m {
        Message::User(_) => true,
        Message::Assistant(a) => !a.is_tool_call(),
        Message::Tool(t) => t.requestor() == eigenbox_tau2::Requestor::User,
        _ => false,
    }
}
