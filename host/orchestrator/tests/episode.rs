//! The episode loop against a native in-memory domain and scripted participants (no network,
//! no WASM): every termination reason, tool-error counting, routing of user tool calls, the
//! message-history start, the gate hook, and the LLM agent's requests.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use eigenbox_orchestrator::{
    run_episode, Agent, BoxFuture, EnvFailure, Environment, EpisodeConfig, GateDecision, LlmAgent, ParticipantError, ReplayAgent,
    ReplayUser, SamplingConfig, ToolGate, ToolResult, UserSim, GREETING,
};
use eigenbox_runtime::{ChatRequest, ChatResponse, LlmBackend, Message as WitMessage, MessageRole, Requestor as WitRequestor, ToolCall as WitToolCall};
use eigenbox_tau2::{Message, Nullable, ParticipantMessage, Requestor, Task, TerminationReason, ToolCall, ToolKind, ToolSpec};
use serde_json::{json, Map, Value};

/// A key-value domain: agent tools `set`, `get`, `fail`; user tool `toggle`.
#[derive(Default)]
struct Kv {
    db: BTreeMap<String, Value>,
    light: bool,
    calls: Vec<(Requestor, String)>,
}

impl Environment for Kv {
    fn initialise<'a>(&'a mut self, _task: &'a Task) -> BoxFuture<'a, Result<(), EnvFailure>> {
        Box::pin(async move {
            self.db.clear();
            Ok(())
        })
    }
    fn tools(&mut self) -> BoxFuture<'_, Result<Vec<ToolSpec>, EnvFailure>> {
        let spec = |name: &str, requestor| ToolSpec {
            name: name.into(),
            description: format!("the {name} tool"),
            parameters: json!({"type": "object", "properties": {}}),
            requestor,
            kind: Some(ToolKind::Write),
            mutates_state: Some(true),
        };
        Box::pin(async move {
            Ok(vec![spec("set", Requestor::Assistant), spec("get", Requestor::Assistant), spec("fail", Requestor::Assistant), spec("toggle", Requestor::User)])
        })
    }
    fn call_tool<'a>(&'a mut self, call: &'a ToolCall) -> BoxFuture<'a, Result<ToolResult, EnvFailure>> {
        Box::pin(async move {
            self.calls.push((call.requestor(), call.name.clone()));
            let ok = |c: String| Ok(ToolResult { content: c, error: false });
            let args = &call.arguments;
            match (call.requestor(), call.name.as_str()) {
                (Requestor::Assistant, "set") => {
                    let k = args.get("key").and_then(Value::as_str).unwrap_or("").to_string();
                    self.db.insert(k, args.get("value").cloned().unwrap_or(Value::Null));
                    ok("ok".into())
                }
                (Requestor::Assistant, "get") => ok(self.db.get(args.get("key").and_then(Value::as_str).unwrap_or("")).cloned().unwrap_or(Value::Null).to_string()),
                (Requestor::User, "toggle") => {
                    self.light = !self.light;
                    ok(format!("light {}", if self.light { "on" } else { "off" }))
                }
                (Requestor::Assistant, "crash") => Err(EnvFailure::Sandbox("trap: unreachable".into())),
                (_, name) => Ok(ToolResult { content: format!("Error: Tool '{name}' not found."), error: true }),
            }
        })
    }
}

fn text(t: &str) -> ParticipantMessage {
    ParticipantMessage { content: Nullable::Value(t.into()), tool_calls: Nullable::Null, extra: Map::new() }
}

fn calls(cs: &[(&str, Value)]) -> ParticipantMessage {
    let tool_calls = cs
        .iter()
        .enumerate()
        .map(|(i, (n, a))| ToolCall { id: format!("call_{i}"), name: (*n).into(), arguments: a.as_object().cloned().unwrap_or_default(), requestor: None, extra: Map::new() })
        .collect();
    ParticipantMessage { content: Nullable::Null, tool_calls: Nullable::Value(tool_calls), extra: Map::new() }
}

/// An agent that answers with a fixed function of what it has seen so far.
struct FnAgent<F> {
    f: F,
    seen: Vec<Message>,
    stop_word: Option<&'static str>,
}

impl<F: FnMut(&[Message]) -> Result<ParticipantMessage, ParticipantError> + Send> Agent for FnAgent<F> {
    fn init(&mut self, history: &[Message], _seed: Option<u64>) {
        self.seen = history.to_vec();
    }
    fn next<'a>(&'a mut self, incoming: &'a Message) -> BoxFuture<'a, Result<ParticipantMessage, ParticipantError>> {
        self.seen.push(incoming.clone());
        let r = (self.f)(&self.seen);
        Box::pin(async move { r })
    }
    fn is_stop(&self, m: &ParticipantMessage) -> bool {
        match (self.stop_word, m.content.get()) {
            (Some(w), Some(c)) => c.contains(w),
            _ => false,
        }
    }
}

fn agent<F: FnMut(&[Message]) -> Result<ParticipantMessage, ParticipantError> + Send>(f: F) -> FnAgent<F> {
    FnAgent { f, seen: Vec::new(), stop_word: None }
}

/// A user that answers with a fixed function too.
struct FnUser<F> {
    f: F,
    seen: Vec<Message>,
}

impl<F: FnMut(&[Message]) -> Result<ParticipantMessage, ParticipantError> + Send> UserSim for FnUser<F> {
    fn init(&mut self, history: &[Message], _seed: Option<u64>) {
        self.seen = history.to_vec();
    }
    fn next<'a>(&'a mut self, incoming: &'a Message) -> BoxFuture<'a, Result<ParticipantMessage, ParticipantError>> {
        self.seen.push(incoming.clone());
        let r = (self.f)(&self.seen);
        Box::pin(async move { r })
    }
}

fn task() -> Task {
    serde_json::from_value(json!({"id": "t1", "user_scenario": {"instructions": "x"}})).unwrap()
}

fn config() -> EpisodeConfig {
    EpisodeConfig::default()
}

fn roles(e: &eigenbox_orchestrator::Episode) -> Vec<&'static str> {
    e.messages.iter().map(|m| m.role()).collect()
}

#[tokio::test]
async fn greeting_tool_call_and_user_stop() {
    let mut env = Kv::default();
    let mut a = agent(|seen| {
        Ok(match seen.last() {
            Some(Message::User(_)) if seen.len() == 2 => calls(&[("set", json!({"key": "r1", "value": 5}))]),
            Some(Message::Tool(t)) => text(&format!("stored: {}", t.content.get().cloned().unwrap_or_default())),
            _ => text("anything else?"),
        })
    });
    let mut u = ReplayUser::script(&["store 5 under r1", "thanks ###STOP###"]);
    let e = run_episode(&task(), &mut a, &mut u, &mut env, &config()).await;
    assert_eq!(e.termination_reason, TerminationReason::UserStop, "{e:?}");
    assert_eq!(roles(&e), ["assistant", "user", "assistant", "tool", "assistant", "user"]);
    assert_eq!(e.messages[0].content(), Some(GREETING));
    assert_eq!(e.messages[4].content(), Some("stored: ok"));
    assert_eq!(e.steps, 5);
    assert_eq!(env.db.get("r1"), Some(&json!(5)));
    // The agent saw the greeting first, then the user's message.
    assert_eq!(a.seen[0].content(), Some(GREETING));
    // turn_idx numbers the trajectory; the tool message names its requestor.
    let v = serde_json::to_value(&e.messages).unwrap();
    assert_eq!(v[5]["turn_idx"], json!(5));
    assert_eq!(v[3]["requestor"], json!("assistant"));
    assert_eq!(v[3]["id"], json!("call_0"));
    assert_eq!(v[3]["error"], json!(false));
}

#[tokio::test]
async fn every_stop_token_ends_with_user_stop_and_agent_stop_is_the_agents() {
    for token in ["###STOP###", "###TRANSFER###", "###OUT-OF-SCOPE###"] {
        let mut a = agent(|_| Ok(text("hello")));
        let mut u = ReplayUser::script(&["hi".to_string(), format!("ok {token}")]);
        let e = run_episode(&task(), &mut a, &mut u, &mut Kv::default(), &config()).await;
        assert_eq!(e.termination_reason, TerminationReason::UserStop, "{token}");
        assert_eq!(e.messages.len(), 4);
    }
    // A stop token from the agent means nothing unless the agent says it stops.
    let mut u = ReplayUser::script(&["hi", "hi", "###STOP###"]);
    let mut a = agent(|_| Ok(text("###STOP###")));
    let e = run_episode(&task(), &mut a, &mut u, &mut Kv::default(), &config()).await;
    assert_eq!(e.termination_reason, TerminationReason::UserStop);
    assert_eq!(e.messages.len(), 6);
    let mut a = FnAgent { f: |_: &[Message]| Ok(text("bye ###STOP###")), seen: Vec::new(), stop_word: Some("###STOP###") };
    let e = run_episode(&task(), &mut a, &mut ReplayUser::script(&["hi"]), &mut Kv::default(), &config()).await;
    assert_eq!(e.termination_reason, TerminationReason::AgentStop);
    assert_eq!(roles(&e), ["assistant", "user", "assistant"]);
    // A user tool call carrying a stop token is not a stop.
    let mut stop_call = calls(&[("toggle", json!({}))]);
    stop_call.content = Nullable::Value("###STOP###".into());
    let mut n = 0;
    let mut u = FnUser {
        f: move |_: &[Message]| {
            n += 1;
            Ok(if n == 1 { stop_call.clone() } else { text("###STOP###") })
        },
        seen: Vec::new(),
    };
    let e = run_episode(&task(), &mut agent(|_| Ok(text("x"))), &mut u, &mut Kv::default(), &config()).await;
    assert_eq!(roles(&e), ["assistant", "user", "tool", "user"]);
    assert_eq!(e.termination_reason, TerminationReason::UserStop);
}

#[tokio::test]
async fn max_steps_is_checked_only_when_no_tool_call_is_pending() {
    let mut cfg = config();
    cfg.max_steps = 5;
    let e = run_episode(&task(), &mut agent(|_| Ok(text("and?"))), &mut FnUser { f: |_: &[Message]| Ok(text("more")), seen: vec![] }, &mut Kv::default(), &cfg).await;
    assert_eq!(e.termination_reason, TerminationReason::MaxSteps);
    assert_eq!(e.steps, 5);
    assert_eq!(e.messages.len(), 6);

    // Step 2 is the agent's tool call: the check waits for the tool result (step 3).
    cfg.max_steps = 2;
    let mut a = agent(|seen| Ok(if matches!(seen.last(), Some(Message::User(_))) { calls(&[("get", json!({"key": "a"}))]) } else { text("done") }));
    let e = run_episode(&task(), &mut a, &mut ReplayUser::script(&["go", "go"]), &mut Kv::default(), &cfg).await;
    assert_eq!(e.termination_reason, TerminationReason::MaxSteps);
    assert_eq!(e.steps, 3);
    assert_eq!(roles(&e), ["assistant", "user", "assistant", "tool"]);
    // Reaching the limit with the user's stop message still counts as max_steps (as in τ²).
    let e = run_episode(&task(), &mut agent(|_| Ok(text("x"))), &mut ReplayUser::script(&["###STOP###"]), &mut Kv::default(), &EpisodeConfig { max_steps: 1, ..config() }).await;
    assert_eq!(e.termination_reason, TerminationReason::MaxSteps);
}

#[tokio::test]
async fn tool_errors_count_per_call_up_to_max_errors() {
    let mut cfg = config();
    cfg.max_errors = 5;
    // Two failing calls per message: after three messages the count (6) is past the limit.
    let mut env = Kv::default();
    let mut a = agent(|_| Ok(calls(&[("fail", json!({})), ("nope", json!({}))])));
    let e = run_episode(&task(), &mut a, &mut ReplayUser::script(&["go"]), &mut env, &cfg).await;
    assert_eq!(e.termination_reason, TerminationReason::TooManyErrors, "{e:?}");
    assert_eq!(e.num_errors, 6);
    // Multi-call results arrive as one multi-tool message; the trajectory holds single tool messages.
    assert!(a.seen.iter().any(|m| matches!(m, Message::MultiTool(mt) if mt.tool_messages.len() == 2)));
    assert_eq!(e.messages.iter().filter(|m| m.role() == "tool").count(), 6);
    let v = serde_json::to_value(&e.messages).unwrap();
    assert_eq!(v[3]["error"], json!(true));
    assert_eq!(v[3]["content"], json!("Error: Tool 'fail' not found."));
    // Successful calls do not count.
    let mut a = agent(|_| Ok(calls(&[("get", json!({"key": "x"}))])));
    let e = run_episode(&task(), &mut a, &mut ReplayUser::script(&["go"]), &mut Kv::default(), &EpisodeConfig { max_steps: 9, ..cfg }).await;
    assert_eq!((e.termination_reason, e.num_errors), (TerminationReason::MaxSteps, 0));
}

#[tokio::test]
async fn user_tool_calls_run_as_the_user_and_answer_the_user() {
    let mut env = Kv::default();
    let mut u = FnUser {
        f: |seen: &[Message]| {
            Ok(match seen.last() {
                Some(Message::Tool(t)) => text(&format!("my {} ###STOP###", t.content.get().cloned().unwrap_or_default())),
                _ => calls(&[("toggle", json!({}))]),
            })
        },
        seen: vec![],
    };
    let mut a = agent(|_| Ok(text("never asked")));
    let e = run_episode(&task(), &mut a, &mut u, &mut env, &config()).await;
    assert_eq!(roles(&e), ["assistant", "user", "tool", "user"]);
    assert_eq!(e.termination_reason, TerminationReason::UserStop);
    assert_eq!(env.calls, vec![(Requestor::User, "toggle".to_string())]);
    let v = serde_json::to_value(&e.messages).unwrap();
    assert_eq!(v[1]["tool_calls"][0]["requestor"], json!("user"));
    assert_eq!(v[2]["requestor"], json!("user"));
    assert_eq!(e.messages[3].content(), Some("my light on ###STOP###"));
    assert!(a.seen.len() == 1, "the agent never ran: {:?}", a.seen);
}

#[tokio::test]
async fn participant_and_environment_failures_have_their_own_reasons() {
    let bad = |e: ParticipantError| move |_: &[Message]| Err::<ParticipantMessage, _>(e.clone());
    let cases = [
        (ParticipantError::Invalid("no reply".into()), TerminationReason::AgentError),
        (ParticipantError::Infrastructure("503".into()), TerminationReason::InfrastructureError),
        (ParticipantError::ContextWindow("too long".into()), TerminationReason::ContextWindowExceeded),
    ];
    for (err, reason) in cases.clone() {
        let e = run_episode(&task(), &mut agent(bad(err.clone())), &mut ReplayUser::script(&["hi"]), &mut Kv::default(), &config()).await;
        assert_eq!(e.termination_reason, reason);
        assert!(e.error.as_deref().is_some_and(|t| t.starts_with("agent:")), "{:?}", e.error);
        assert_eq!(e.messages.len(), 2);
    }
    let e = run_episode(&task(), &mut agent(|_| Ok(text("x"))), &mut FnUser { f: bad(ParticipantError::Invalid("?".into())), seen: vec![] }, &mut Kv::default(), &config()).await;
    assert_eq!(e.termination_reason, TerminationReason::UserError);
    // A user whose recording ran out is a user error.
    let e = run_episode(&task(), &mut agent(|_| Ok(text("x"))), &mut ReplayUser::script(&["hi"]), &mut Kv::default(), &config()).await;
    assert_eq!(e.termination_reason, TerminationReason::UserError);
    // Empty messages (τ²'s validate()).
    let e = run_episode(&task(), &mut agent(|_| Ok(text("   "))), &mut ReplayUser::script(&["hi"]), &mut Kv::default(), &config()).await;
    assert_eq!(e.termination_reason, TerminationReason::AgentError);
    let e = run_episode(&task(), &mut agent(|_| Ok(calls(&[]))), &mut ReplayUser::script(&["hi"]), &mut Kv::default(), &config()).await;
    assert_eq!(e.termination_reason, TerminationReason::AgentError);
    // Text and tool calls together: allowed unless validate_communication is on.
    let mut mixed = calls(&[("get", json!({"key": "k"}))]);
    mixed.content = Nullable::Value("let me look".into());
    let m2 = mixed.clone();
    let e = run_episode(&task(), &mut agent(move |_| Ok(m2.clone())), &mut ReplayUser::script(&["hi"]), &mut Kv::default(), &EpisodeConfig { max_steps: 4, ..config() }).await;
    assert_eq!(e.termination_reason, TerminationReason::MaxSteps);
    let e = run_episode(&task(), &mut agent(move |_| Ok(mixed.clone())), &mut ReplayUser::script(&["hi"]), &mut Kv::default(), &EpisodeConfig { validate_communication: true, ..config() }).await;
    assert_eq!(e.termination_reason, TerminationReason::AgentError);
    // The sandbox failing mid-episode.
    let e = run_episode(&task(), &mut agent(|_| Ok(calls(&[("crash", json!({}))]))), &mut ReplayUser::script(&["hi"]), &mut Kv::default(), &config()).await;
    assert_eq!(e.termination_reason, TerminationReason::InfrastructureError);
    assert!(e.error.as_deref().is_some_and(|t| t.contains("unreachable")), "{:?}", e.error);
}

#[tokio::test]
async fn timeout_ends_the_episode() {
    let cfg = EpisodeConfig { timeout: Some(std::time::Duration::ZERO), ..config() };
    let e = run_episode(&task(), &mut agent(|_| Ok(text("x"))), &mut ReplayUser::script(&["hi", "hi"]), &mut Kv::default(), &cfg).await;
    assert_eq!(e.termination_reason, TerminationReason::Timeout);
    assert_eq!(e.steps, 1);
}

struct DenySet;
impl ToolGate for DenySet {
    fn before(&self, task_id: &str, call: &ToolCall) -> GateDecision {
        if call.name == "set" {
            GateDecision::Deny(format!("policy forbids `set` in {task_id}"))
        } else {
            GateDecision::Allow
        }
    }
}

#[tokio::test]
async fn a_gate_can_deny_a_tool_call_which_then_counts_as_an_error() {
    let mut env = Kv::default();
    let mut a = agent(|seen| Ok(if matches!(seen.last(), Some(Message::User(_))) { calls(&[("set", json!({"key": "k", "value": 1})), ("get", json!({"key": "k"}))]) } else { text("done") }));
    let cfg = EpisodeConfig { gate: Some(Arc::new(DenySet)), ..config() };
    let e = run_episode(&task(), &mut a, &mut ReplayUser::script(&["set it", "###STOP###"]), &mut env, &cfg).await;
    assert_eq!(e.termination_reason, TerminationReason::UserStop);
    assert_eq!(e.num_errors, 1);
    assert_eq!(e.messages[3].content(), Some("Error: policy forbids `set` in t1"));
    assert_eq!(e.messages[4].content(), Some("null"));
    assert!(env.db.is_empty());
    assert_eq!(env.calls, vec![(Requestor::Assistant, "get".to_string())]);
}

#[tokio::test]
async fn a_task_with_message_history_starts_where_the_history_ends() {
    let t: Task = serde_json::from_value(json!({"id": "h", "user_scenario": {"instructions": "x"},
        "initial_state": {"message_history": [
            {"role": "assistant", "content": "Hi! How can I help you today?", "turn_idx": 0},
            {"role": "user", "content": "set k please"}]}})).unwrap();
    let mut a = agent(|_| Ok(text("done")));
    let mut u = ReplayUser::script(&["never used", "###STOP###"]);
    let e = run_episode(&t, &mut a, &mut u, &mut Kv::default(), &config()).await;
    assert_eq!(roles(&e), ["assistant", "user", "assistant", "user"]);
    assert_eq!(e.messages[2].content(), Some("done"));
    // The replay user skips what it already said in the history.
    assert_eq!(e.messages[3].content(), Some("###STOP###"));
    // The agent started from the history minus the last message, then was handed that one.
    assert_eq!(a.seen.len(), 2);
    assert_eq!(a.seen[1].content(), Some("set k please"));
    // A history ending in the user's stop is over before it starts.
    let t: Task = serde_json::from_value(json!({"id": "s", "user_scenario": {"instructions": "x"},
        "initial_state": {"message_history": [{"role": "user", "content": "###STOP###"}]}})).unwrap();
    let e = run_episode(&t, &mut agent(|_| Ok(text("x"))), &mut ReplayUser::script(&["x"]), &mut Kv::default(), &config()).await;
    assert_eq!((e.termination_reason, e.steps, e.messages.len()), (TerminationReason::UserStop, 0, 1));
}

/// An LLM backend that answers from a script and records every request.
struct Scripted {
    replies: Mutex<Vec<WitMessage>>,
    requests: Mutex<Vec<ChatRequest>>,
}

impl LlmBackend for Scripted {
    fn chat<'a>(&'a self, request: ChatRequest) -> Pin<Box<dyn Future<Output = Result<ChatResponse, String>> + Send + 'a>> {
        Box::pin(async move {
            self.requests.lock().unwrap().push(request);
            let mut r = self.replies.lock().unwrap();
            if r.is_empty() {
                return Err("503 Service Unavailable".into());
            }
            Ok(ChatResponse { message: r.remove(0), prompt_tokens: 10, completion_tokens: 2, tokens: vec![] })
        })
    }
}

fn wit_text(t: &str) -> WitMessage {
    WitMessage { role: MessageRole::Assistant, content: Some(t.into()), tool_calls: vec![], tool_call_id: None, error: false }
}

#[tokio::test]
async fn llm_agent_sends_policy_tools_and_history_and_parses_calls() {
    let call = WitToolCall { id: "c1".into(), name: "set".into(), arguments: r#"{"key": "a", "value": 2}"#.into(), requestor: WitRequestor::Assistant };
    let backend = Arc::new(Scripted {
        replies: Mutex::new(vec![
            WitMessage { role: MessageRole::Assistant, content: None, tool_calls: vec![call], tool_call_id: None, error: false },
            wit_text("Stored."),
        ]),
        requests: Mutex::new(vec![]),
    });
    let mut env = Kv::default();
    let tools = env.tools().await.unwrap();
    let mut a = LlmAgent::new(backend.clone(), "agent-model", "Be nice.", &tools, SamplingConfig { temperature: Some(0.0), ..Default::default() });
    let cfg = EpisodeConfig { seed: Some(7), ..config() };
    let e = run_episode(&task(), &mut a, &mut ReplayUser::script(&["store 2", "###STOP###"]), &mut env, &cfg).await;
    assert_eq!(e.termination_reason, TerminationReason::UserStop, "{e:?}");
    assert_eq!(env.db.get("a"), Some(&json!(2)));
    let reqs = backend.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2);
    let r = &reqs[1];
    assert_eq!(r.model, "agent-model");
    assert_eq!((r.sampling.temperature, r.sampling.seed), (Some(0.0), Some(7)));
    let system = r.messages[0].content.clone().unwrap_or_default();
    assert!(system.starts_with("<instructions>\nYou are a customer service agent") && system.ends_with("<policy>\nBe nice.\n</policy>"), "{system}");
    // Only the agent's tools are offered.
    let names: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["set", "get", "fail"]);
    let roles: Vec<MessageRole> = r.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [MessageRole::System, MessageRole::Assistant, MessageRole::User, MessageRole::Assistant, MessageRole::Tool]);
    assert_eq!(r.messages[1].content.as_deref(), Some(GREETING));
    assert_eq!(r.messages[3].tool_calls[0].arguments, r#"{"key":"a","value":2}"#);
    assert_eq!(r.messages[4].tool_call_id.as_deref(), Some("c1"));
    assert_eq!(r.messages[4].content.as_deref(), Some("ok"));
    let v = serde_json::to_value(&e.messages).unwrap();
    assert_eq!(v[2]["usage"], json!({"prompt_tokens": 10, "completion_tokens": 2}));

    // Bad arguments from the model are the agent's error; a failing backend is infrastructure.
    let bad = WitToolCall { id: "c".into(), name: "set".into(), arguments: "[1]".into(), requestor: WitRequestor::Assistant };
    let backend = Arc::new(Scripted {
        replies: Mutex::new(vec![WitMessage { role: MessageRole::Assistant, content: None, tool_calls: vec![bad], tool_call_id: None, error: false }]),
        requests: Mutex::new(vec![]),
    });
    let mut a = LlmAgent::new(backend.clone(), "m", "p", &tools, SamplingConfig::default());
    let e = run_episode(&task(), &mut a, &mut ReplayUser::script(&["x"]), &mut Kv::default(), &config()).await;
    assert_eq!(e.termination_reason, TerminationReason::AgentError);
    assert!(e.error.as_deref().is_some_and(|t| t.contains("JSON object")), "{:?}", e.error);
    let mut a = LlmAgent::new(backend, "m", "p", &tools, SamplingConfig::default());
    let e = run_episode(&task(), &mut a, &mut ReplayUser::script(&["x"]), &mut Kv::default(), &config()).await;
    assert_eq!(e.termination_reason, TerminationReason::InfrastructureError);
}

/// Answers every request with one text message and, when asked for logprobs, its tokens.
struct WithTokens {
    requests: Mutex<Vec<ChatRequest>>,
}

impl LlmBackend for WithTokens {
    fn chat<'a>(&'a self, request: ChatRequest) -> Pin<Box<dyn Future<Output = Result<ChatResponse, String>> + Send + 'a>> {
        Box::pin(async move {
            let tokens = match request.logprobs {
                None => vec![],
                Some(top) => [("Sto", 101, -0.1), ("red", 102, -0.2), (".", 13, -0.05)]
                    .into_iter()
                    .map(|(t, id, lp)| eigenbox_runtime::GeneratedToken {
                        token: t.into(),
                        id: Some(id),
                        logprob: lp,
                        top: (0..top).map(|k| eigenbox_runtime::TokenAlternative { token: format!("a{k}"), id: Some(900 + k), logprob: -4.0 }).collect(),
                    })
                    .collect(),
            };
            self.requests.lock().unwrap().push(request);
            Ok(ChatResponse { message: wit_text("Stored."), prompt_tokens: 10, completion_tokens: 3, tokens })
        })
    }
}

#[tokio::test]
async fn llm_agent_keeps_token_ids_and_logprobs_on_its_messages_when_asked() {
    let backend = Arc::new(WithTokens { requests: Mutex::new(vec![]) });
    let mut env = Kv::default();
    let tools = env.tools().await.unwrap();
    let sampling = SamplingConfig { temperature: Some(0.0), logprobs: Some(1), ..Default::default() };
    let mut a = LlmAgent::new(backend.clone(), "agent-model", "Be nice.", &tools, sampling);
    let e = run_episode(&task(), &mut a, &mut ReplayUser::script(&["hello", "###STOP###"]), &mut env, &config()).await;
    assert_eq!(e.termination_reason, TerminationReason::UserStop, "{e:?}");
    assert_eq!(backend.requests.lock().unwrap()[0].logprobs, Some(1), "the request asks for logprobs");
    // The agent's generated turn has them; the greeting and the user's (replayed) turns do not.
    let with: Vec<(&str, bool)> = e
        .messages
        .iter()
        .map(|m| match m {
            Message::Assistant(p) | Message::User(p) => (m.role(), eigenbox_orchestrator::message_logprobs(p).is_some()),
            _ => (m.role(), false),
        })
        .collect();
    assert_eq!(with, [("assistant", false), ("user", false), ("assistant", true), ("user", false)]);
    // Through the JSON a results file holds, and back.
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(
        v["messages"][2]["logprobs"]["content"][0],
        json!({"token": "Sto", "id": 101, "logprob": -0.1, "top_logprobs": [{"token": "a0", "id": 900, "logprob": -4.0}]})
    );
    assert!(v["messages"][0].get("logprobs").is_none() && v["messages"][1].get("logprobs").is_none());
    let back: eigenbox_orchestrator::Episode = serde_json::from_value(v).unwrap();
    let Message::Assistant(p) = &back.messages[2] else { panic!("not the agent's turn: {:?}", back.messages[2]) };
    let lp = eigenbox_orchestrator::message_logprobs(p).unwrap();
    assert_eq!(lp.iter().map(|t| (t.token.as_str(), t.id)).collect::<Vec<_>>(), [("Sto", Some(101)), ("red", Some(102)), (".", Some(13))]);
    assert_eq!(lp.iter().map(|t| t.token.as_str()).collect::<String>(), "Stored.");

    // Not asked: the request says so and the trajectory has none.
    let backend = Arc::new(WithTokens { requests: Mutex::new(vec![]) });
    let mut a = LlmAgent::new(backend.clone(), "agent-model", "Be nice.", &tools, SamplingConfig::default());
    let e = run_episode(&task(), &mut a, &mut ReplayUser::script(&["hello", "###STOP###"]), &mut Kv::default(), &config()).await;
    assert_eq!(backend.requests.lock().unwrap()[0].logprobs, None);
    assert!(!serde_json::to_string(&e).unwrap().contains("logprobs"));
}

#[tokio::test]
async fn replay_agent_reproduces_a_recorded_dialogue() {
    let recorded: Vec<Message> = serde_json::from_value(json!([
        {"role": "assistant", "content": GREETING},
        {"role": "user", "content": "store 3"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c0", "name": "set", "arguments": {"key": "z", "value": 3}}]},
        {"role": "tool", "id": "c0", "content": "ok", "requestor": "assistant", "error": false},
        {"role": "assistant", "content": "Done."},
        {"role": "user", "content": "###STOP###"}
    ]))
    .unwrap();
    let mut env = Kv::default();
    let e = run_episode(&task(), &mut ReplayAgent::new(&recorded), &mut ReplayUser::new(&recorded), &mut env, &config()).await;
    assert_eq!(e.termination_reason, TerminationReason::UserStop);
    let strip = |ms: &[Message]| -> Vec<Value> {
        ms.iter()
            .map(|m| {
                let mut v = serde_json::to_value(m).unwrap();
                if let Some(o) = v.as_object_mut() {
                    o.remove("turn_idx");
                    o.remove("usage");
                    if o.get("tool_calls").is_some_and(Value::is_null) {
                        o.remove("tool_calls");
                    }
                    if let Some(Value::Array(cs)) = o.get_mut("tool_calls") {
                        for c in cs {
                            c.as_object_mut().map(|c| c.insert("requestor".into(), json!("assistant")));
                        }
                    }
                }
                v
            })
            .collect()
    };
    assert_eq!(strip(&e.messages), strip(&recorded));
    assert_eq!(env.db.get("z"), Some(&json!(3)));
}

/// The host's policy gate in the loop (`PolicyGate`, strict example policy): the agent's write
/// before the user said yes is denied with the rule's name and counts as a tool error; after
/// the user's "yes" the same write runs; every call is in the audit log.
#[tokio::test]
async fn the_policy_gate_waits_for_the_users_confirmation_and_audits_each_call() {
    use eigenbox_audit::{AuditConfig, AuditLog, Outcome};
    use eigenbox_gate::{Actor, EpisodeInfo, Gate};
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    let log = Arc::new(AuditLog::open(&db, None, AuditConfig::default()).unwrap());
    let policy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/policy/examples/strict.cedar");
    let engine = eigenbox_policy::Engine::load(&[policy], None).unwrap();
    let gate = Arc::new(Gate::new(Arc::new(engine), Some(log.clone())));
    let episode = gate.episode(EpisodeInfo { run: None, episode: "ep-1".into(), user: None });
    let mut env = Kv::default();
    let tools = env.tools().await.unwrap();
    let pg = eigenbox_orchestrator::PolicyGate::new(episode, "kv", &tools, Actor::agent("assistant", "assistant"), Actor::agent("user", "user"));
    let cfg = EpisodeConfig { gate: Some(Arc::new(pg)), ..config() };
    let mut a = agent(|seen| Ok(if matches!(seen.last(), Some(Message::User(_))) { calls(&[("set", json!({"key": "k", "value": 1}))]) } else { text("done") }));
    let e = run_episode(&task(), &mut a, &mut ReplayUser::script(&["set k to 1", "yes, go ahead", "###STOP###"]), &mut env, &cfg).await;
    assert_eq!(e.termination_reason, TerminationReason::UserStop);
    assert_eq!(e.num_errors, 1);
    let tool_texts: Vec<&str> = e.messages.iter().filter(|m| matches!(m, Message::Tool(_))).filter_map(|m| m.content()).collect();
    assert_eq!(tool_texts.len(), 2);
    assert!(tool_texts[0].starts_with("Error: denied by policy rule `write-needs-confirmation`"), "{}", tool_texts[0]);
    assert_eq!(tool_texts[1], "ok");
    assert_eq!(env.db.get("k"), Some(&json!(1)));
    gate.commit().unwrap();
    let rows: Vec<(String, Outcome)> = log.iter(0).map(|r| r.map(|r| (r.target, r.outcome))).collect::<Result<_, _>>().unwrap();
    assert_eq!(rows, vec![("kv/set".to_string(), Outcome::Denied), ("kv/set".to_string(), Outcome::Ok)]);
}
