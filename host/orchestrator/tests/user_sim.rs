//! The user-simulator role component (`plugins/user-sim`, built for wasm32-wasip2 by
//! `scripts/build.sh`) driven by the orchestrator with a scripted LLM backend: the prompt it
//! sends, the role flip, stop tokens, telecom user tool calls, backend failures.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use eigenbox_orchestrator::{run_episode, Environment, EpisodeConfig, ReplayAgent, RoleUser, SamplingConfig, UserSimConfig, WasmEnv, GREETING};
use eigenbox_runtime::manifest::{sha256_hex, Grants, Manifest};
use eigenbox_runtime::{ChatRequest, ChatResponse, LlmBackend, LoadedComponent, Message as WitMessage, MessageRole, Runtime, RuntimeConfig};
use eigenbox_tau2::{Message, Requestor, TaskSet, TaskVersion, TerminationReason};
use serde_json::json;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const GUIDELINES: &str = include_str!("../../../plugins/user-sim/data/simulation_guidelines.md");
const GUIDELINES_TOOLS: &str = include_str!("../../../plugins/user-sim/data/simulation_guidelines_tools.md");

fn runtime() -> Runtime {
    let grants = Grants::from_toml_str("[[component]]\nid = \"eigenbox:user-sim\"\n[component.capabilities]\nllm = [\"*\"]\ntools = [\"*/*\"]\n").expect("grants");
    Runtime::new(RuntimeConfig { grants, ..RuntimeConfig::default() }).expect("runtime")
}

fn user_sim(rt: &Runtime) -> Arc<LoadedComponent> {
    let wasm_path = root().join("target/wasm32-wasip2/release/eigenbox_plugin_user_sim.wasm");
    let wasm = std::fs::read(&wasm_path).unwrap_or_else(|e| panic!("{}: {e}; build the guests first with scripts/build.sh", wasm_path.display()));
    let template = std::fs::read_to_string(root().join("plugins/user-sim/eigenbox.toml")).expect("manifest template");
    let text = template.replace("sha256 = \"\"", &format!("sha256 = \"{}\"", sha256_hex(&wasm)));
    let manifest = Manifest::from_toml_str(&text).expect("manifest");
    rt.load(manifest, &wasm).expect("the user simulator loads under its grants")
}

fn domain(rt: &Runtime, name: &str) -> (Arc<LoadedComponent>, PathBuf) {
    let dir = root().join("dist/plugins").join(name);
    (rt.load_manifest_file(&dir.join("eigenbox.toml")).expect("domain"), dir.join("data"))
}

/// Answers from a script and records the requests.
struct Scripted {
    replies: Mutex<Vec<WitMessage>>,
    requests: Mutex<Vec<ChatRequest>>,
}

impl Scripted {
    fn new(replies: Vec<WitMessage>) -> Arc<Scripted> {
        Arc::new(Scripted { replies: Mutex::new(replies), requests: Mutex::new(vec![]) })
    }
}

impl LlmBackend for Scripted {
    fn chat<'a>(&'a self, request: ChatRequest) -> Pin<Box<dyn Future<Output = Result<ChatResponse, String>> + Send + 'a>> {
        Box::pin(async move {
            let request_logprobs = request.logprobs;
            self.requests.lock().unwrap().push(request);
            let mut r = self.replies.lock().unwrap();
            if r.is_empty() {
                return Err("HTTP 503 from http://127.0.0.1:1/v1/chat/completions".into());
            }
            let message = r.remove(0);
            // Asked for logprobs: one token per character of the text, id = its code point.
            let tokens = match request_logprobs {
                None => vec![],
                Some(_) => message
                    .content
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .map(|c| eigenbox_runtime::GeneratedToken { token: c.to_string(), id: Some(u32::from(c)), logprob: -0.5, top: vec![] })
                    .collect(),
            };
            Ok(ChatResponse { message, prompt_tokens: 5, completion_tokens: 3, tokens })
        })
    }
}

fn say(t: &str) -> WitMessage {
    WitMessage { role: MessageRole::Assistant, content: Some(t.into()), tool_calls: vec![], tool_call_id: None, error: false }
}

fn agent_dialogue(texts: &[&str]) -> Vec<Message> {
    let mut v = vec![json!({"role": "assistant", "content": GREETING})];
    v.extend(texts.iter().map(|t| json!({"role": "assistant", "content": t})));
    serde_json::from_value(serde_json::Value::Array(v)).expect("messages")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_simulator_sends_the_references_prompt_and_stops_on_its_token() {
    let rt = runtime();
    let sim = user_sim(&rt);
    let (mock, data) = domain(&rt, "mock");
    let tasks = TaskSet::load(&data, TaskVersion::V1_0, None).expect("tasks");
    let task = tasks.get("create_task_1").expect("task");
    let mut env = WasmEnv::new(mock).await.expect("env");
    let user_tools: Vec<String> = env.tools().await.expect("tools").into_iter().filter(|t| t.requestor == Requestor::User).map(|t| t.name).collect();
    let llm = Scripted::new(vec![say("I need a new task called Important Meeting."), say("Great, thanks! ###STOP###")]);
    let config = UserSimConfig::for_task(task, "user-model", SamplingConfig { temperature: Some(0.0), ..Default::default() });
    let mut user = RoleUser::new(sim, config, llm.clone(), Some(("mock", env.shared()))).await.expect("role");
    let mut agent = ReplayAgent::new(&agent_dialogue(&["Sure, what should the task be called?"]));
    let cfg = EpisodeConfig { seed: Some(3), ..EpisodeConfig::default() };
    let e = run_episode(task, &mut agent, &mut user, &mut env, &cfg).await;
    assert_eq!(e.termination_reason, TerminationReason::UserStop, "{:?}", e.error);
    let contents: Vec<_> = e.messages.iter().map(|m| (m.role(), m.content().unwrap_or(""))).collect();
    assert_eq!(
        contents,
        [
            ("assistant", GREETING),
            ("user", "I need a new task called Important Meeting."),
            ("assistant", "Sure, what should the task be called?"),
            ("user", "Great, thanks! ###STOP###"),
        ]
    );
    let reqs = llm.requests.lock().unwrap();
    assert_eq!(reqs.len(), 2);
    let r = &reqs[1];
    assert_eq!(r.model, "user-model");
    assert_eq!((r.sampling.temperature, r.sampling.seed), (Some(0.0), Some(3)));
    // The reference's system prompt: guidelines (with tools when the user has some), scenario.
    let guidelines = if user_tools.is_empty() { GUIDELINES } else { GUIDELINES_TOOLS };
    let want = format!("{guidelines}\n\n<scenario>\n{}\n</scenario>", task.user_scenario);
    assert_eq!(r.messages[0].content.as_deref(), Some(want.as_str()));
    assert_eq!(r.messages[0].role, MessageRole::System);
    // Roles flipped: the agent speaks as `user`, the simulated user's own turns are `assistant`.
    let flipped: Vec<(MessageRole, &str)> = r.messages[1..].iter().map(|m| (m.role, m.content.as_deref().unwrap_or(""))).collect();
    assert_eq!(
        flipped,
        [
            (MessageRole::User, GREETING),
            (MessageRole::Assistant, "I need a new task called Important Meeting."),
            (MessageRole::User, "Sure, what should the task be called?"),
        ]
    );
    let offered: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(offered, user_tools.iter().map(String::as_str).collect::<Vec<_>>());
    drop(reqs);
    // Everything went through the host's llm import, and was allowed.
    let log = user.role().access_log();
    assert_eq!(log.iter().filter(|a| a.action == "llm" && a.allowed && a.outcome == "ok").count(), 2, "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_simulators_turns_keep_the_tokens_of_its_model_call() {
    let rt = runtime();
    let sim = user_sim(&rt);
    let (mock, data) = domain(&rt, "mock");
    let tasks = TaskSet::load(&data, TaskVersion::V1_0, None).expect("tasks");
    let task = tasks.get("create_task_1").expect("task");
    let mut env = WasmEnv::new(mock).await.expect("env");
    let llm = Scripted::new(vec![say("Hi."), say("Bye ###STOP###")]);
    let config = UserSimConfig::for_task(task, "user-model", SamplingConfig { logprobs: Some(0), ..Default::default() });
    let mut user = RoleUser::new(sim, config, llm.clone(), Some(("mock", env.shared()))).await.expect("role");
    let mut agent = ReplayAgent::new(&agent_dialogue(&["Sure."]));
    let e = run_episode(task, &mut agent, &mut user, &mut env, &EpisodeConfig::default()).await;
    assert_eq!(e.termination_reason, TerminationReason::UserStop, "{:?}", e.error);
    // The component asked (through the host's llm import) for logprobs ...
    assert!(llm.requests.lock().unwrap().iter().all(|r| r.logprobs == Some(0)));
    // ... and each of its turns keeps the tokens the host received for it.
    let users: Vec<Vec<(String, Option<u32>)>> = e
        .messages
        .iter()
        .filter_map(|m| if let Message::User(p) = m { eigenbox_orchestrator::message_logprobs(p) } else { None })
        .map(|lp| lp.into_iter().map(|t| (t.token, t.id)).collect())
        .collect();
    assert_eq!(users.len(), 2, "{:?}", e.messages);
    assert_eq!(users[0], [("H".to_string(), Some(72)), ("i".to_string(), Some(105)), (".".to_string(), Some(46))]);
    assert_eq!(users[1].iter().map(|(t, _)| t.as_str()).collect::<String>(), "Bye ###STOP###");
    // The replayed agent's turns have none.
    let v = serde_json::to_value(&e.messages).unwrap();
    assert!(v.as_array().unwrap().iter().filter(|m| m["role"] == "assistant").all(|m| m.get("logprobs").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_telecom_user_calls_its_own_phone_tools() {
    let rt = runtime();
    let sim = user_sim(&rt);
    let (telecom, data) = domain(&rt, "telecom");
    let tasks = TaskSet::load(&data, TaskVersion::V1_0, None).expect("tasks");
    // A task without a message history, so the dialogue starts with the greeting.
    let task = tasks
        .tasks
        .iter()
        .find(|t| t.initial_state.get().and_then(|s| s.message_history.get()).is_none_or(|h| h.is_empty()))
        .expect("a telecom task without history");
    let mut env = WasmEnv::new(telecom).await.expect("env");
    let call = eigenbox_runtime::ToolCall { id: "u0".into(), name: "check_status_bar".into(), arguments: "{}".into(), requestor: eigenbox_runtime::Requestor::Assistant };
    let llm = Scripted::new(vec![
        WitMessage { role: MessageRole::Assistant, content: None, tool_calls: vec![call], tool_call_id: None, error: false },
        say("My phone shows no data. ###STOP###"),
    ]);
    let config = UserSimConfig::for_task(task, "user-model", SamplingConfig::default());
    let mut user = RoleUser::new(sim, config, llm.clone(), Some(("telecom", env.shared()))).await.expect("role");
    let mut agent = ReplayAgent::new(&agent_dialogue(&[]));
    let e = run_episode(task, &mut agent, &mut user, &mut env, &EpisodeConfig::default()).await;
    assert_eq!(e.termination_reason, TerminationReason::UserStop, "{:?}", e.error);
    let v = serde_json::to_value(&e.messages).expect("json");
    let n = v.as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(n, 4, "{v}");
    assert_eq!(v[1]["tool_calls"][0]["name"], json!("check_status_bar"));
    assert_eq!(v[1]["tool_calls"][0]["requestor"], json!("user"));
    assert_eq!(v[2]["requestor"], json!("user"));
    assert_eq!(v[2]["error"], json!(false));
    let status = v[2]["content"].as_str().unwrap_or("");
    assert!(status.contains("Status Bar"), "{status}");
    let reqs = llm.requests.lock().unwrap();
    // The phone tools were offered, with the tools variant of the guidelines.
    assert!(reqs[0].tools.iter().any(|t| t.name == "check_status_bar"), "{:?}", reqs[0].tools.iter().map(|t| &t.name).collect::<Vec<_>>());
    assert!(reqs[0].messages[0].content.as_deref().is_some_and(|c| c.starts_with(GUIDELINES_TOOLS)));
    // The second request carries the user's call (as the model's own) and the tool's answer.
    let second: Vec<MessageRole> = reqs[1].messages.iter().map(|m| m.role).collect();
    assert_eq!(second, [MessageRole::System, MessageRole::User, MessageRole::Assistant, MessageRole::Tool]);
    assert_eq!(reqs[1].messages[2].tool_calls[0].name, "check_status_bar");
    assert_eq!(reqs[1].messages[3].tool_call_id.as_deref(), Some("u0"));
    assert_eq!(reqs[1].messages[3].content.as_deref(), Some(status));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_model_backend_is_an_infrastructure_error() {
    let rt = runtime();
    let sim = user_sim(&rt);
    let (mock, data) = domain(&rt, "mock");
    let tasks = TaskSet::load(&data, TaskVersion::V1_0, None).expect("tasks");
    let task = tasks.get("create_task_1").expect("task");
    let mut env = WasmEnv::new(mock).await.expect("env");
    let mut user = RoleUser::new(sim, UserSimConfig::for_task(task, "m", SamplingConfig::default()), Scripted::new(vec![]), None).await.expect("role");
    let e = run_episode(task, &mut ReplayAgent::new(&agent_dialogue(&[])), &mut user, &mut env, &EpisodeConfig::default()).await;
    assert_eq!(e.termination_reason, TerminationReason::InfrastructureError);
    assert!(e.error.as_deref().is_some_and(|t| t.contains("HTTP 503")), "{:?}", e.error);
    // A model that answers nothing usable is the user's error.
    let mut env = WasmEnv::new(domain(&rt, "mock").0).await.expect("env");
    let mut user = RoleUser::new(user_sim(&rt), UserSimConfig::for_task(task, "m", SamplingConfig::default()), Scripted::new(vec![say("  ")]), None).await.expect("role");
    let e = run_episode(task, &mut ReplayAgent::new(&agent_dialogue(&[])), &mut user, &mut env, &EpisodeConfig::default()).await;
    assert_eq!(e.termination_reason, TerminationReason::UserError);
}
