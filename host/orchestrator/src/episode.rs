//! One episode: τ²'s half-duplex `Orchestrator` (`initialize`, `step`, `_check_termination`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use eigenbox_tau2::{Message, MultiToolMessage, Nullable, ParticipantMessage, Requestor, Task, TerminationReason, ToolMessage};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::env::{EnvFailure, Environment, GateDecision, ToolGate, ToolResult};
use crate::participant::{agent_sees, has_text, user_sees, Agent, ParticipantError, UserSim};

/// τ²'s `DEFAULT_FIRST_AGENT_MESSAGE`.
pub const GREETING: &str = "Hi! How can I help you today?";

/// Limits and options of an episode.
#[derive(Clone)]
pub struct EpisodeConfig {
    /// Steps before `max_steps` (τ²'s CLI default: 200).
    pub max_steps: u32,
    /// Tool errors before `too_many_errors` (default 10).
    pub max_errors: u32,
    /// Wall-clock limit (`timeout`); `None`: none.
    pub timeout: Option<Duration>,
    /// Seed handed to the agent and the user.
    pub seed: Option<u64>,
    /// τ²'s `validate_communication`: a message with both text and tool calls, or with neither,
    /// ends the episode with `agent_error` / `user_error`. Off by default, as in the reference
    /// (where an empty message still fails, in `validate()`).
    pub validate_communication: bool,
    /// A hook around every tool call (policy / audit).
    pub gate: Option<Arc<dyn ToolGate>>,
}

impl Default for EpisodeConfig {
    fn default() -> Self {
        EpisodeConfig { max_steps: 200, max_errors: 10, timeout: None, seed: None, validate_communication: false, gate: None }
    }
}

impl std::fmt::Debug for EpisodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpisodeConfig")
            .field("max_steps", &self.max_steps)
            .field("max_errors", &self.max_errors)
            .field("timeout", &self.timeout)
            .field("seed", &self.seed)
            .field("validate_communication", &self.validate_communication)
            .field("gate", &self.gate.is_some())
            .finish()
    }
}

/// A finished episode (τ²'s `SimulationRun`, before scoring).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// The task.
    pub task_id: String,
    /// Why it ended.
    pub termination_reason: TerminationReason,
    /// The trajectory in τ²'s message format (with `turn_idx`), what the evaluator consumes.
    pub messages: Vec<Message>,
    /// Steps taken.
    pub steps: u32,
    /// Tool errors seen.
    pub num_errors: u32,
    /// Wall time, seconds.
    pub duration: f64,
    /// The seed.
    pub seed: Option<u64>,
    /// What went wrong, for `agent_error`, `user_error`, `infrastructure_error` and
    /// `context_window_exceeded`.
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Agent,
    User,
    Env,
}

struct Loop<'a, A: ?Sized, U: ?Sized, E: ?Sized> {
    task: &'a Task,
    agent: &'a mut A,
    user: &'a mut U,
    env: &'a mut E,
    config: &'a EpisodeConfig,
    trajectory: Vec<Message>,
    message: Message,
    from: Role,
    to: Role,
    steps: u32,
    errors: u32,
    done: bool,
    reason: Option<TerminationReason>,
    error: Option<String>,
    started: Instant,
}

fn participant_failure(role: Role, e: ParticipantError) -> (TerminationReason, String) {
    let reason = match (&e, role) {
        (ParticipantError::Infrastructure(_), _) => TerminationReason::InfrastructureError,
        (ParticipantError::ContextWindow(_), _) => TerminationReason::ContextWindowExceeded,
        (ParticipantError::Invalid(_), Role::User) => TerminationReason::UserError,
        (ParticipantError::Invalid(_), _) => TerminationReason::AgentError,
    };
    let who = if role == Role::User { "user" } else { "agent" };
    (reason, format!("{who}: {e}"))
}

/// Run one episode of `task`: initialise `env`, greet, alternate agent / user / environment
/// until a stop, a limit, or a failure, and return the trajectory. The environment's own
/// failures (sandbox traps, an initial state that cannot be set up) end the episode with
/// `infrastructure_error`; nothing here panics on any participant's output.
pub async fn run_episode<A: Agent + ?Sized, U: UserSim + ?Sized, E: Environment + ?Sized>(
    task: &Task,
    agent: &mut A,
    user: &mut U,
    env: &mut E,
    config: &EpisodeConfig,
) -> Episode {
    let started = Instant::now();
    let finish = |messages: Vec<Message>, reason, steps, errors, error| Episode {
        task_id: task.id.clone(),
        termination_reason: reason,
        messages: number(messages),
        steps,
        num_errors: errors,
        duration: started.elapsed().as_secs_f64(),
        seed: config.seed,
        error,
    };
    if let Err(e) = env.initialise(task).await {
        return finish(Vec::new(), TerminationReason::InfrastructureError, 0, 0, Some(e.to_string()));
    }
    let history: Vec<Message> = task
        .initial_state
        .get()
        .and_then(|s| s.message_history.get().cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|mut m| {
            if let Some(x) = extra_mut(&mut m) {
                x.remove("turn_idx");
            }
            m
        })
        .collect();
    let mut lp = match Loop::start(task, agent, user, env, config, history, started) {
        Ok(lp) => lp,
        Err(e) => return finish(Vec::new(), TerminationReason::UnexpectedError, 0, 0, Some(e)),
    };
    while !lp.done {
        lp.step().await;
        lp.check_termination();
    }
    let reason = lp.reason.unwrap_or(TerminationReason::UnexpectedError);
    finish(lp.trajectory, reason, lp.steps, lp.errors, lp.error)
}

fn extra_mut(m: &mut Message) -> Option<&mut Map<String, Value>> {
    match m {
        Message::System(s) => Some(&mut s.extra),
        Message::Assistant(p) | Message::User(p) => Some(&mut p.extra),
        Message::Tool(t) => Some(&mut t.extra),
        Message::MultiTool(t) => Some(&mut t.extra),
    }
}

fn number(mut messages: Vec<Message>) -> Vec<Message> {
    for (i, m) in messages.iter_mut().enumerate() {
        if let Some(x) = extra_mut(m) {
            x.insert("turn_idx".into(), Value::from(i));
        }
    }
    messages
}

/// The calls of a message belong to the side that sent it (τ²'s user simulator relabels its
/// model's calls as `user`; an agent's calls default to `assistant`).
fn label(mut m: ParticipantMessage, requestor: Requestor) -> ParticipantMessage {
    if let Some(calls) = m.tool_calls.get_mut() {
        for c in calls {
            c.requestor = Some(requestor);
        }
    }
    m
}

fn text_message(text: &str) -> ParticipantMessage {
    ParticipantMessage { content: Nullable::Value(text.to_string()), tool_calls: Nullable::Null, extra: Map::new() }
}

impl<'a, A: Agent + ?Sized, U: UserSim + ?Sized, E: Environment + ?Sized> Loop<'a, A, U, E> {
    fn start(
        task: &'a Task,
        agent: &'a mut A,
        user: &'a mut U,
        env: &'a mut E,
        config: &'a EpisodeConfig,
        history: Vec<Message>,
        started: Instant,
    ) -> Result<Self, String> {
        let seed = config.seed;
        let greeting = Message::Assistant(text_message(GREETING));
        let mut lp = Loop {
            task,
            agent,
            user,
            env,
            config,
            trajectory: Vec::new(),
            message: greeting.clone(),
            from: Role::Agent,
            to: Role::User,
            steps: 0,
            errors: 0,
            done: false,
            reason: None,
            error: None,
            started,
        };
        let Some(last) = history.last().cloned() else {
            lp.user.init(&[], seed);
            lp.agent.init(std::slice::from_ref(&greeting), seed);
            lp.trajectory.push(greeting);
            return Ok(lp);
        };
        let n = history.len();
        let agent_part = |upto: usize| history[..upto].iter().filter(|m| agent_sees(m)).cloned().collect::<Vec<_>>();
        let user_part = |upto: usize| history[..upto].iter().filter(|m| user_sees(m)).cloned().collect::<Vec<_>>();
        match &last {
            Message::Assistant(a) => {
                lp.from = Role::Agent;
                lp.to = if a.is_tool_call() { Role::Env } else { Role::User };
                lp.agent.init(&agent_part(n), seed);
                lp.user.init(&user_part(n - 1), seed);
                if lp.agent.is_stop(a) {
                    lp.done = true;
                    lp.reason = Some(TerminationReason::AgentStop);
                }
            }
            Message::User(u) => {
                lp.from = Role::User;
                lp.to = if u.is_tool_call() { Role::Env } else { Role::Agent };
                lp.user.init(&user_part(n), seed);
                lp.agent.init(&agent_part(n - 1), seed);
                if lp.user.is_stop(u) {
                    lp.done = true;
                    lp.reason = Some(TerminationReason::UserStop);
                }
            }
            Message::Tool(t) => {
                lp.from = Role::Env;
                if t.requestor() == Requestor::Assistant {
                    lp.to = Role::Agent;
                    lp.agent.init(&agent_part(n - 1), seed);
                    lp.user.init(&user_part(n), seed);
                } else {
                    lp.to = Role::User;
                    lp.agent.init(&agent_part(n), seed);
                    lp.user.init(&user_part(n - 1), seed);
                }
            }
            other => {
                return Err(format!(
                    "the task's message history must end with an assistant, user or tool message, not a {}",
                    other.type_name()
                ))
            }
        }
        lp.message = last;
        lp.trajectory = history;
        Ok(lp)
    }

    fn fail(&mut self, reason: TerminationReason, error: String) {
        self.done = true;
        self.reason = Some(reason);
        self.error = Some(error);
    }

    /// τ²'s `_check_communication_error` for the message just sent.
    fn check_communication(&mut self, role: Role, m: &ParticipantMessage) -> bool {
        let tool = m.is_tool_call();
        let text = has_text(m);
        let problem = if !tool && !text {
            Some("sent an empty message")
        } else if self.config.validate_communication && tool && text {
            Some("sent both text content and tool calls")
        } else {
            None
        };
        if let Some(p) = problem {
            let (reason, who) = if role == Role::User { (TerminationReason::UserError, "user") } else { (TerminationReason::AgentError, "agent") };
            self.fail(reason, format!("{who} {p}"));
            return false;
        }
        true
    }

    async fn step(&mut self) {
        match (self.from, self.to) {
            (Role::Agent | Role::Env, Role::User) => {
                let m = match self.user.next(&self.message).await {
                    Ok(m) => label(m, Requestor::User),
                    Err(e) => {
                        let (r, text) = participant_failure(Role::User, e);
                        return self.fail(r, text);
                    }
                };
                if !self.check_communication(Role::User, &m) {
                    return;
                }
                if self.user.is_stop(&m) {
                    self.done = true;
                    self.reason = Some(TerminationReason::UserStop);
                }
                if let (Some(g), Some(text)) = (&self.config.gate, m.content.get()) {
                    g.user_message(&self.task.id, text);
                }
                self.to = if m.is_tool_call() { Role::Env } else { Role::Agent };
                self.from = Role::User;
                self.message = Message::User(m);
                self.trajectory.push(self.message.clone());
            }
            (Role::User | Role::Env, Role::Agent) => {
                let m = match self.agent.next(&self.message).await {
                    Ok(m) => label(m, Requestor::Assistant),
                    Err(e) => {
                        let (r, text) = participant_failure(Role::Agent, e);
                        return self.fail(r, text);
                    }
                };
                if !self.check_communication(Role::Agent, &m) {
                    return;
                }
                if self.agent.is_stop(&m) {
                    self.done = true;
                    self.reason = Some(TerminationReason::AgentStop);
                }
                self.to = if m.is_tool_call() { Role::Env } else { Role::User };
                self.from = Role::Agent;
                self.message = Message::Assistant(m);
                self.trajectory.push(self.message.clone());
            }
            (Role::Agent | Role::User, Role::Env) => {
                let requestor = if self.from == Role::User { Requestor::User } else { Requestor::Assistant };
                let calls = match &self.message {
                    Message::Assistant(p) | Message::User(p) => p.tool_calls.get().cloned().unwrap_or_default(),
                    _ => Vec::new(),
                };
                if calls.is_empty() {
                    let (r, who) = if requestor == Requestor::User { (TerminationReason::UserError, "user") } else { (TerminationReason::AgentError, "agent") };
                    return self.fail(r, format!("{who} sent a tool-call message with no tool calls"));
                }
                let mut results = Vec::with_capacity(calls.len());
                for mut call in calls {
                    // The requestor is the side that made the call, whatever the message says.
                    call.requestor = Some(requestor);
                    let result = match self.config.gate.as_ref().map(|g| g.before(&self.task.id, &call)) {
                        Some(GateDecision::Deny(why)) => ToolResult { content: format!("Error: {why}"), error: true },
                        _ => match self.env.call_tool(&call).await {
                            Ok(r) => {
                                if let Some(g) = &self.config.gate {
                                    g.after(&self.task.id, &call, &r);
                                }
                                r
                            }
                            Err(e) => {
                                let text = match e {
                                    EnvFailure::Sandbox(s) | EnvFailure::Init(s) => s,
                                };
                                return self.fail(TerminationReason::InfrastructureError, format!("tool `{}`: {text}", call.name));
                            }
                        },
                    };
                    if result.error {
                        self.errors += 1;
                    }
                    results.push(ToolMessage {
                        id: call.id.clone(),
                        content: Nullable::Value(result.content),
                        requestor: Some(requestor),
                        error: Some(result.error),
                        extra: Map::new(),
                    });
                }
                self.trajectory.extend(results.iter().cloned().map(Message::Tool));
                self.message = if results.len() > 1 {
                    Message::MultiTool(MultiToolMessage { tool_messages: results, extra: Map::new() })
                } else {
                    match results.pop() {
                        Some(t) => Message::Tool(t),
                        None => return self.fail(TerminationReason::UnexpectedError, "no tool results".into()),
                    }
                };
                self.to = self.from;
                self.from = Role::Env;
            }
            (from, to) => {
                return self.fail(TerminationReason::UnexpectedError, format!("invalid role combination: {from:?} -> {to:?}"));
            }
        }
        self.steps += 1;
    }

    /// τ²'s `_check_termination` (not while a tool call waits for the environment).
    fn check_termination(&mut self) {
        if self.to == Role::Env || self.error.is_some() {
            return;
        }
        if self.steps >= self.config.max_steps {
            self.done = true;
            self.reason = Some(TerminationReason::MaxSteps);
        }
        if self.errors >= self.config.max_errors {
            self.done = true;
            self.reason = Some(TerminationReason::TooManyErrors);
        }
        if let Some(t) = self.config.timeout {
            if !self.done && self.started.elapsed() >= t {
                self.done = true;
                self.reason = Some(TerminationReason::Timeout);
            }
        }
    }
}
