//! Host overhead per episode step, against a real local model server and against a
//! zero-latency canned backend.
//!
//! Episodes of the mock domain's tasks run as `eigenbox run --logprobs --policy default.cedar`
//! runs them: the LLM agent (`LlmAgent`), the user-simulator role component (`plugins/user-sim`,
//! its model reached only through the host's mediated `llm` import, its tools listed through the
//! `tools` import), the mock domain in WASM, the policy gate with an audit log around every tool
//! and role LLM call, token logprobs kept on every generated message, and each finished episode
//! serialised to JSON.
//!
//! Every participant turn and tool call is timed from the end of the previous one (the first from
//! the first turn's start); the time the backend calls took within it is subtracted, and what is
//! left is the host's: orchestration, WASM (role steps, tool listing, tool calls), mediation,
//! policy and audit. Per-episode set-up (instances, initial state) and finish (JSON) are reported
//! separately. Backend time includes the HTTP client's own work (encoding the request, parsing
//! the response; see `host/llm/benches/client.rs` for its overhead alone).
//!
//! * **canned**: a backend answering instantly from a script (with 24 tokens of logprobs per
//!   answer), so all of a step's time is the host's.
//! * **llama-server**: llama.cpp's server with SmolLM2-135M-Instruct, as the LLM client's
//!   integration test finds it (`scripts/install-llama-server.sh`; `EIGENBOX_LLAMA_SERVER`,
//!   `EIGENBOX_LLAMA_MODEL`); skipped with a message when it is not installed.
//!
//! Needs the guests built (`scripts/build.sh`: mock, user-sim). Environment: `EIGENBOX_BENCH_CANNED`
//! (canned episodes, default 200), `EIGENBOX_BENCH_REAL` (llama-server episodes, default 10).

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eigenbox_audit::{AuditConfig, AuditLog};
use eigenbox_gate::{Actor, EpisodeInfo, Gate};
use eigenbox_llm::{LlmClient, LlmConfig};
use eigenbox_orchestrator::{
    run_episode, Agent, BoxFuture, EnvFailure, Environment, EpisodeConfig, LlmAgent, ParticipantError, PolicyGate, RoleUser, SamplingConfig,
    ToolResult, UserSim, UserSimConfig, WasmEnv,
};
use eigenbox_runtime::manifest::{sha256_hex, Grants, Manifest};
use eigenbox_runtime::{
    ChatRequest, ChatResponse, GeneratedToken, LlmBackend, LoadedComponent, Message as WitMessage, MessageRole, Requestor as WitRequestor, Runtime,
    RuntimeConfig, TokenAlternative, ToolCall as WitToolCall,
};
use eigenbox_tau2::{Message, ParticipantMessage, Task, TaskSet, TaskVersion, ToolCall, ToolSpec};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(rt: &Runtime, plugin_dir: &str, wasm: &str) -> Arc<LoadedComponent> {
    let wasm_path = root().join("target/wasm32-wasip2/release").join(wasm);
    let bytes = std::fs::read(&wasm_path).unwrap_or_else(|e| panic!("{}: {e}; build the guests first (scripts/build.sh)", wasm_path.display()));
    let template = std::fs::read_to_string(root().join(plugin_dir).join("eigenbox.toml")).expect("manifest template");
    let text = template.replace("sha256 = \"\"", &format!("sha256 = \"{}\"", sha256_hex(&bytes)));
    rt.load(Manifest::from_toml_str(&text).expect("manifest"), &bytes).unwrap_or_else(|e| panic!("{wasm}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Step clock: marks at the start of the first turn and the end of every turn and tool call, with
// the backend time accumulated so far.

#[derive(Default)]
struct Clock {
    backend_ns: AtomicU64,
    marks: Mutex<Marks>,
}

#[derive(Default)]
struct Marks {
    first: Option<(Instant, u64)>,
    ends: Vec<(Instant, u64)>,
}

impl Clock {
    fn backend(&self) -> u64 {
        self.backend_ns.load(Ordering::Relaxed)
    }
    fn enter(&self) {
        let mut m = self.marks.lock().unwrap_or_else(|p| p.into_inner());
        if m.first.is_none() {
            m.first = Some((Instant::now(), self.backend()));
        }
    }
    fn exit(&self) {
        let b = self.backend();
        self.marks.lock().unwrap_or_else(|p| p.into_inner()).ends.push((Instant::now(), b));
    }
    /// Per step: (host ns, backend ns); and the first turn's start.
    fn take(&self) -> (Vec<(u64, u64)>, Option<Instant>) {
        let m = std::mem::take(&mut *self.marks.lock().unwrap_or_else(|p| p.into_inner()));
        let Some(mut prev) = m.first else { return (Vec::new(), None) };
        let first = prev.0;
        let mut steps = Vec::with_capacity(m.ends.len());
        for end in m.ends {
            let wall = end.0.duration_since(prev.0).as_nanos() as u64;
            let backend = end.1.saturating_sub(prev.1);
            steps.push((wall.saturating_sub(backend), backend));
            prev = end;
        }
        (steps, Some(first))
    }
}

struct Timed {
    inner: Arc<dyn LlmBackend>,
    clock: Arc<Clock>,
}

impl LlmBackend for Timed {
    fn chat<'a>(&'a self, request: ChatRequest) -> Pin<Box<dyn Future<Output = Result<ChatResponse, String>> + Send + 'a>> {
        Box::pin(async move {
            let t = Instant::now();
            let r = self.inner.chat(request).await;
            self.clock.backend_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            r
        })
    }
}

struct Marked<T> {
    inner: T,
    clock: Arc<Clock>,
}

impl<A: Agent> Agent for Marked<A> {
    fn init(&mut self, history: &[Message], seed: Option<u64>) {
        self.inner.init(history, seed)
    }
    fn next<'a>(&'a mut self, incoming: &'a Message) -> BoxFuture<'a, Result<ParticipantMessage, ParticipantError>> {
        Box::pin(async move {
            self.clock.enter();
            let r = self.inner.next(incoming).await;
            self.clock.exit();
            r
        })
    }
    fn is_stop(&self, m: &ParticipantMessage) -> bool {
        self.inner.is_stop(m)
    }
}

impl<U: UserSim> UserSim for Marked<U> {
    fn init(&mut self, history: &[Message], seed: Option<u64>) {
        self.inner.init(history, seed)
    }
    fn next<'a>(&'a mut self, incoming: &'a Message) -> BoxFuture<'a, Result<ParticipantMessage, ParticipantError>> {
        Box::pin(async move {
            self.clock.enter();
            let r = self.inner.next(incoming).await;
            self.clock.exit();
            r
        })
    }
    fn is_stop(&self, m: &ParticipantMessage) -> bool {
        self.inner.is_stop(m)
    }
}

impl<E: Environment> Environment for Marked<E> {
    fn initialise<'a>(&'a mut self, task: &'a Task) -> BoxFuture<'a, Result<(), EnvFailure>> {
        self.inner.initialise(task)
    }
    fn tools(&mut self) -> BoxFuture<'_, Result<Vec<ToolSpec>, EnvFailure>> {
        self.inner.tools()
    }
    fn call_tool<'a>(&'a mut self, call: &'a ToolCall) -> BoxFuture<'a, Result<ToolResult, EnvFailure>> {
        Box::pin(async move {
            self.clock.enter();
            let r = self.inner.call_tool(call).await;
            self.clock.exit();
            r
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The canned backend: a scripted dialogue, answered at once, with logprobs.

struct Canned {
    calls: Mutex<HashMap<String, usize>>,
}

fn canned_tokens(text: &str, top: u32) -> Vec<GeneratedToken> {
    (0..24u32)
        .map(|i| GeneratedToken {
            token: text.chars().nth(i as usize).map(String::from).unwrap_or_default(),
            id: Some(1000 + i),
            logprob: -0.01 * f64::from(i),
            top: (0..top).map(|k| TokenAlternative { token: format!("t{k}"), id: Some(k), logprob: -2.0 }).collect(),
        })
        .collect()
}

impl LlmBackend for Canned {
    fn chat<'a>(&'a self, request: ChatRequest) -> Pin<Box<dyn Future<Output = Result<ChatResponse, String>> + Send + 'a>> {
        let n = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            let n = calls.entry(request.model.clone()).or_default();
            *n += 1;
            *n
        };
        let say = |t: &str| WitMessage { role: MessageRole::Assistant, content: Some(t.into()), tool_calls: vec![], tool_call_id: None, error: false };
        let call = |id: &str, name: &str, args: &str| WitMessage {
            role: MessageRole::Assistant,
            content: None,
            tool_calls: vec![WitToolCall { id: id.into(), name: name.into(), arguments: args.into(), requestor: WitRequestor::Assistant }],
            tool_call_id: None,
            error: false,
        };
        let message = if request.model == "user" {
            match n {
                1 => say("Hi, I need a new task for user_1."),
                2 => say("Call it Important Meeting, please."),
                _ => say("Great, thanks! ###STOP###"),
            }
        } else {
            match n {
                1 => call("c1", "get_users", "{}"),
                2 => say("Sure. What should the task be called?"),
                3 => call("c2", "create_task", r#"{"user_id": "user_1", "title": "Important Meeting"}"#),
                _ => say("Done: the task Important Meeting was created."),
            }
        };
        let tokens = request.logprobs.map(|top| canned_tokens(message.content.as_deref().unwrap_or("call"), top)).unwrap_or_default();
        Box::pin(async move { Ok(ChatResponse { message, prompt_tokens: 100, completion_tokens: 24, tokens }) })
    }
}

// ---------------------------------------------------------------------------------------------
// llama-server, found as host/llm/tests/llama_server.rs finds it.

fn installed() -> Option<(PathBuf, PathBuf)> {
    let cache = std::env::var_os("EIGENBOX_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/eigenbox")))
        .unwrap_or_else(|| PathBuf::from(".cache/eigenbox"));
    let mut vars: HashMap<String, String> = std::fs::read_to_string(cache.join("llama-server.env"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    for key in ["EIGENBOX_LLAMA_SERVER", "EIGENBOX_LLAMA_MODEL"] {
        if let Ok(v) = std::env::var(key) {
            vars.insert(key.to_string(), v);
        }
    }
    let server = PathBuf::from(vars.get("EIGENBOX_LLAMA_SERVER")?);
    let model = PathBuf::from(vars.get("EIGENBOX_LLAMA_MODEL")?);
    (server.is_file() && model.is_file()).then_some((server, model))
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(server: &Path, model: &Path) -> Result<Server, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).map_err(|e| format!("no free port: {e}"))?;
    let child = Command::new(server)
        .arg("-m")
        .arg(model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "-c", "8192", "-np", "1", "-t", "2", "--poll", "0", "--no-webui"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", server.display()))?;
    let mut s = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(Some(status)) = s.child.try_wait() {
            return Err(format!("llama-server exited with {status}"));
        }
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = c.write_all(b"GET /health HTTP/1.0\r\n\r\n");
            let mut buf = [0u8; 32];
            if c.read(&mut buf).is_ok_and(|n| buf[..n].starts_with(b"HTTP/1.1 200")) {
                return Ok(s);
            }
        }
        if Instant::now() > deadline {
            s.child.kill().ok();
            return Err("llama-server was not healthy within 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------------------------------------

struct Setup {
    mock: Arc<LoadedComponent>,
    sim: Arc<LoadedComponent>,
    tasks: Vec<Task>,
    policy_text: String,
    tools: Vec<ToolSpec>,
    gate: Arc<Gate>,
}

#[derive(Default)]
struct Stats {
    steps: Vec<(u64, u64)>,
    setup_ns: Vec<u64>,
    finish_ns: Vec<u64>,
    episodes: usize,
    with_logprobs: usize,
    generated: usize,
}

async fn run(setup: &Setup, backend: impl Fn() -> Arc<dyn LlmBackend>, episodes: usize, sampling: SamplingConfig, max_steps: u32) -> Stats {
    let mut stats = Stats::default();
    for i in 0..episodes {
        let task = &setup.tasks[i % setup.tasks.len()];
        let clock = Arc::new(Clock::default());
        let llm: Arc<dyn LlmBackend> = Arc::new(Timed { inner: backend(), clock: clock.clone() });
        let started = Instant::now();
        let env = WasmEnv::new(setup.mock.clone()).await.expect("env");
        let episode_gate = setup.gate.episode(EpisodeInfo { run: Some("bench".into()), episode: format!("{}/{i}", task.id), user: None });
        let mut user = RoleUser::new(setup.sim.clone(), UserSimConfig::for_task(task, "user", sampling), llm.clone(), Some(("mock", env.shared())))
            .await
            .expect("user simulator");
        user.role().attach_gate(episode_gate.clone(), Some("user-simulator"));
        let pg = PolicyGate::new(episode_gate, "mock", &setup.tools, Actor::agent("bench", "assistant"), Actor::agent("bench-user", "user"));
        let config = EpisodeConfig { max_steps, seed: Some(300 + i as u64), gate: Some(Arc::new(pg)), ..EpisodeConfig::default() };
        let mut agent = Marked { inner: LlmAgent::new(llm.clone(), "agent", &setup.policy_text, &setup.tools, sampling), clock: clock.clone() };
        let mut user = Marked { inner: user, clock: clock.clone() };
        let mut env = Marked { inner: env, clock: clock.clone() };
        let e = run_episode(task, &mut agent, &mut user, &mut env, &config).await;
        let ended = Instant::now();
        let json = serde_json::to_vec(&e).expect("json");
        std::hint::black_box(&json);
        let finish = ended.elapsed().as_nanos() as u64;
        let (steps, first) = clock.take();
        if let Some(first) = first {
            stats.setup_ns.push(first.duration_since(started).as_nanos() as u64);
        }
        stats.finish_ns.push(finish);
        stats.steps.extend(steps);
        stats.episodes += 1;
        for m in &e.messages {
            if let Message::Assistant(p) | Message::User(p) = m {
                if p.extra.contains_key("usage") || p.extra.contains_key("logprobs") {
                    stats.generated += 1;
                }
                if eigenbox_orchestrator::message_logprobs(p).is_some() {
                    stats.with_logprobs += 1;
                }
            }
        }
        if std::env::var_os("EIGENBOX_BENCH_VERBOSE").is_some() {
            eprintln!("  episode {i} ({}): {} steps, {} in {:.1} s", task.id, e.steps, e.termination_reason.as_str(), started.elapsed().as_secs_f64());
        }
        if e.error.is_some() {
            eprintln!("  episode {} ended {}: {:?}", task.id, e.termination_reason.as_str(), e.error);
        }
    }
    stats
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(ns: u64) -> String {
    format!("{:.1} µs", ns as f64 / 1e3)
}

fn report(name: &str, s: &Stats) {
    let mut host: Vec<u64> = s.steps.iter().map(|x| x.0).collect();
    host.sort_unstable();
    let total_host: u64 = host.iter().sum();
    let total_backend: u64 = s.steps.iter().map(|x| x.1).sum();
    let mut setup = s.setup_ns.clone();
    setup.sort_unstable();
    let mut finish = s.finish_ns.clone();
    finish.sort_unstable();
    println!(
        "{name}: {} episodes, {} steps, {} generated messages ({} with logprobs)",
        s.episodes,
        s.steps.len(),
        s.generated,
        s.with_logprobs
    );
    println!(
        "  host per step: p50 {}, p99 {}, mean {}, max {}",
        us(pct(&host, 0.5)),
        us(pct(&host, 0.99)),
        us(total_host / host.len().max(1) as u64),
        us(host.last().copied().unwrap_or(0))
    );
    let backend_steps: Vec<u64> = s.steps.iter().filter(|x| x.1 > 0).map(|x| x.1).collect();
    if total_backend > 0 {
        let mut b = backend_steps.clone();
        b.sort_unstable();
        println!(
            "  backend per model step: p50 {:.1} ms, p99 {:.1} ms; host / backend time = {:.5} ({:.3}%)",
            pct(&b, 0.5) as f64 / 1e6,
            pct(&b, 0.99) as f64 / 1e6,
            total_host as f64 / total_backend as f64,
            100.0 * total_host as f64 / total_backend as f64
        );
    }
    println!("  per episode: set-up p50 {}, JSON p50 {}", us(pct(&setup, 0.5)), us(pct(&finish, 0.5)));
}

fn main() {
    let canned_n: usize = std::env::var("EIGENBOX_BENCH_CANNED").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let real_n: usize = std::env::var("EIGENBOX_BENCH_REAL").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio");
    let grants = Grants::from_toml_str("[[component]]\nid = \"eigenbox:user-sim\"\n[component.capabilities]\nllm = [\"*\"]\ntools = [\"*/*\"]\n").expect("grants");
    let runtime = Runtime::new(RuntimeConfig { grants, ..RuntimeConfig::default() }).expect("runtime");
    let mock = load(&runtime, "plugins/mock", "eigenbox_plugin_mock.wasm");
    let sim = load(&runtime, "plugins/user-sim", "eigenbox_plugin_user_sim.wasm");
    let data = root().join("plugins/mock/data");
    let set = TaskSet::load(&data, TaskVersion::V1_0, None).expect("tasks");
    let policy_text = std::fs::read_to_string(data.join("policy.md")).expect("policy");
    let tools = rt.block_on(async { WasmEnv::new(mock.clone()).await.expect("env").tools().await.expect("tools") });
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled::open(dir.path().join("audit")).expect("sled");
    let audit = Arc::new(AuditLog::open(&db, None, AuditConfig::default()).expect("audit"));
    let engine = eigenbox_policy::Engine::load(&[root().join("config/policy/default.cedar")], None).expect("policy");
    let gate = Arc::new(Gate::new(Arc::new(engine), Some(audit)));
    // Tasks that start from the greeting (no message history to replay), so episodes are alike.
    let tasks: Vec<Task> =
        set.tasks.iter().filter(|t| t.initial_state.get().and_then(|s| s.message_history.get()).is_none_or(|h| h.is_empty())).cloned().collect();
    let setup = Setup { mock, sim, tasks, policy_text, tools, gate };
    let sampling = SamplingConfig { temperature: Some(0.0), max_tokens: Some(48), logprobs: Some(1), ..SamplingConfig::default() };

    println!("machine: {} logical CPUs; tokio 1 worker; policy gate (default.cedar) + audit log on; logprobs on", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    // Warm-up, then the measured canned run.
    let canned = || -> Arc<dyn LlmBackend> { Arc::new(Canned { calls: Mutex::new(HashMap::new()) }) };
    rt.block_on(run(&setup, canned, 10, sampling, 30));
    let s = rt.block_on(run(&setup, canned, canned_n, sampling, 30));
    report("canned backend (zero latency)", &s);

    let Some((server, model)) = installed() else {
        println!("llama-server: skipped (not installed; run scripts/install-llama-server.sh)");
        return;
    };
    let server = match start_server(&server, &model) {
        Ok(s) => s,
        Err(e) => {
            println!("llama-server: skipped ({e})");
            return;
        }
    };
    let client = LlmClient::new(LlmConfig { timeout: Duration::from_secs(300), max_retries: 1, ..LlmConfig::new(format!("http://127.0.0.1:{}/v1", server.port), "smollm2-135m") })
        .expect("client");
    let real = || -> Arc<dyn LlmBackend> { Arc::new(client.clone()) };
    rt.block_on(run(&setup, real, 1, sampling, 12));
    let s = rt.block_on(run(&setup, real, real_n, sampling, 12));
    report("llama-server (SmolLM2-135M-Instruct Q4_1, 2 threads)", &s);
}
