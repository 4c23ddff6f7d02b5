//! One negative test per capability: without a grant the guest is refused at load or gets a
//! typed denial at the call; with the grant the same guest works (so the test can fail).

use std::io::ErrorKind;
use std::net::TcpListener;
use std::sync::Arc;

use eigenbox_manifest::ManifestError;
use eigenbox_runtime::{
    CallError, ChatRequest, ChatResponse, DomainInstance, GeneratedToken, LlmBackend, LoadError, Message, MessageRole, Requestor, RoleInstance, StepInput,
    TokenAlternative,
};
use eigenbox_tests::{guest_wasm, hostile, manifest, mock_domain, runtime, ROLE};

async fn call(d: &mut DomainInstance, tool: &str, args: &str) -> Result<String, CallError> {
    d.call_tool(Requestor::Assistant, tool, args).await.map(|r| r.unwrap_or_else(|e| format!("tool-error: {}", e.message)))
}

const GRANT_ALL: &str = r#"
[[component]]
id = "test:hostile"
[component.capabilities]
clock = true
random = true
env = ["EIGENBOX_TEST_SECRET"]
"#;

#[tokio::test]
async fn clock_is_denied_without_a_grant() {
    let mut d = DomainInstance::new(hostile("", "", "")).await.unwrap();
    let err = call(&mut d, "clock", "{}").await.unwrap_err();
    assert_eq!(err, CallError::CapabilityDenied { component: "test:hostile".into(), capability: "clock".into() });
    let mut d = DomainInstance::new(hostile(GRANT_ALL, "clock = true", "")).await.unwrap();
    assert!(call(&mut d, "clock", "{}").await.unwrap().contains("SystemTime"));
}

#[tokio::test]
async fn random_is_denied_without_a_grant() {
    let mut d = DomainInstance::new(hostile("", "", "")).await.unwrap();
    let err = call(&mut d, "random", "{}").await.unwrap_err();
    assert_eq!(err, CallError::CapabilityDenied { component: "test:hostile".into(), capability: "random".into() });
    let mut d = DomainInstance::new(hostile(GRANT_ALL, "random = true", "")).await.unwrap();
    let a = call(&mut d, "random", "{}").await.unwrap();
    let b = call(&mut d, "random", "{}").await.unwrap();
    assert!(a.parse::<u64>().is_ok(), "{a}");
    assert_ne!(a, b, "granted randomness should not repeat");
}

#[tokio::test]
async fn the_insecure_seed_is_fixed_without_a_grant() {
    // std's HashMap works in an ungranted guest, but gets no entropy: same hash every time.
    let mut a = DomainInstance::new(hostile("", "", "")).await.unwrap();
    let mut b = DomainInstance::new(hostile("", "", "")).await.unwrap();
    let x = call(&mut a, "seed", "{}").await.unwrap();
    assert_eq!(x, call(&mut b, "seed", "{}").await.unwrap());
    let mut g = DomainInstance::new(hostile(GRANT_ALL, "random = true", "")).await.unwrap();
    let mut h = DomainInstance::new(hostile(GRANT_ALL, "random = true", "")).await.unwrap();
    assert_ne!(call(&mut g, "seed", "{}").await.unwrap(), call(&mut h, "seed", "{}").await.unwrap());
}

#[tokio::test]
async fn environment_variables_are_invisible_without_a_grant() {
    std::env::set_var("EIGENBOX_TEST_SECRET", "hunter2");
    let mut d = DomainInstance::new(hostile("", "", "")).await.unwrap();
    assert_eq!(call(&mut d, "env", "{}").await.unwrap(), "no-env");
    let mut d = DomainInstance::new(hostile(GRANT_ALL, "env = [\"EIGENBOX_TEST_SECRET\"]", "")).await.unwrap();
    assert_eq!(call(&mut d, "env", "{}").await.unwrap(), "leaked:hunter2");
}

#[tokio::test]
async fn files_are_unreachable_without_a_grant() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    let args = format!("{{\"path\": \"{}\"}}", secret.display());
    let mut d = DomainInstance::new(hostile("", "", "")).await.unwrap();
    let out = call(&mut d, "file", &args).await.unwrap();
    assert!(out.starts_with("no-file"), "{out}");
    let grant = format!("[[component]]\nid = \"test:hostile\"\n[component.capabilities]\nfilesystem = [{{ path = \"{}\" }}]\n", dir.path().display());
    let req = format!("filesystem = [{{ path = \"{}\" }}]", dir.path().display());
    let mut d = DomainInstance::new(hostile(&grant, &req, "")).await.unwrap();
    assert_eq!(call(&mut d, "file", &args).await.unwrap(), "leaked:top secret");
}

#[tokio::test]
async fn network_is_unreachable_without_a_grant() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut d = DomainInstance::new(hostile("", "", "")).await.unwrap();
    let out = call(&mut d, "net", &format!("{{\"addr\": \"{addr}\"}}")).await.unwrap();
    assert!(out.starts_with("no-net"), "{out}");
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the guest reached the host's socket: {other:?}"),
    }
}

#[test]
fn requesting_an_ungranted_capability_is_refused_at_load_by_name() {
    let wasm = guest_wasm("eigenbox_guest_hostile");
    for (req, name) in [
        ("clock = true", "clock"),
        ("random = true", "random"),
        ("env = [\"HOME\"]", "env:HOME"),
        ("network = [\"127.0.0.1:80\"]", "network:127.0.0.1:80"),
        ("filesystem = [{ path = \"/etc\" }]", "filesystem:/etc"),
        ("llm = [\"*\"]", "llm"),
        ("tools = [\"mock/*\"]", "tools:mock/*"),
    ] {
        let m = manifest("test:hostile", eigenbox_tests::DOMAIN, &wasm, req, "");
        let err = runtime("").load(m, &wasm).unwrap_err();
        match &err {
            LoadError::Manifest(ManifestError::Refused { denials, .. }) => {
                assert_eq!(denials.len(), 1, "{err}");
                assert_eq!(denials[0].capability, name);
                assert!(err.to_string().contains(name));
            }
            other => panic!("expected a refusal naming {name}, got {other}"),
        }
    }
}

#[test]
fn a_second_grant_path_is_refused() {
    // 1. A manifest cannot carry grants.
    let wasm = guest_wasm("eigenbox_guest_hostile");
    let text = format!(
        "id = \"test:hostile\"\nversion = \"0.1.0\"\nworld = \"{}\"\nwasm = \"x.wasm\"\nsha256 = \"{}\"\n[grants]\nclock = true\n",
        eigenbox_tests::DOMAIN,
        eigenbox_manifest::sha256_hex(&wasm)
    );
    let err = eigenbox_manifest::Manifest::from_toml_str(&text).unwrap_err().to_string();
    assert!(err.contains("grants come from the operator"), "{err}");
    // 2. A grants file placed inside the plugin directory is not read.
    let plugins = tempfile::tempdir().unwrap();
    let inside = plugins.path().join("evil").join("grants.toml");
    std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
    std::fs::write(&inside, "[[component]]\nid = \"test:hostile\"\n[component.capabilities]\nclock = true\n").unwrap();
    let err = eigenbox_manifest::Grants::load_for_host(&inside, plugins.path()).unwrap_err().to_string();
    assert!(err.contains("inside the plugin directory"), "{err}");
    // ... while the same file outside is accepted.
    let outside = tempfile::tempdir().unwrap();
    let ok = outside.path().join("grants.toml");
    std::fs::copy(&inside, &ok).unwrap();
    assert!(eigenbox_manifest::Grants::load_for_host(&ok, plugins.path()).unwrap().entry("test:hostile").is_some());
    // 3. A checker can never be granted anything.
    let checker = guest_wasm("eigenbox_guest_wrong_world");
    let m = manifest("test:checker", eigenbox_tests::CHECKER, &checker, "clock = true", "");
    let err = runtime("[[component]]\nid = \"test:checker\"\n[component.capabilities]\nclock = true\n").load(m, &checker).unwrap_err().to_string();
    assert!(err.contains("checker world admits none"), "{err}");
}

struct Scripted;

impl LlmBackend for Scripted {
    fn chat<'a>(&'a self, request: ChatRequest) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<ChatResponse, String>> + Send + 'a>> {
        Box::pin(async move {
            // With logprobs asked for: the two tokens of `echo <model>`, each with `top` alternatives.
            let tokens = match request.logprobs {
                None => vec![],
                Some(top) => [("echo", 7, -0.5), (" small", 42, -1.25)]
                    .into_iter()
                    .map(|(t, id, lp)| GeneratedToken {
                        token: t.into(),
                        id: Some(id),
                        logprob: lp,
                        top: (0..top).map(|k| TokenAlternative { token: format!("alt{k}"), id: None, logprob: -3.0 }).collect(),
                    })
                    .collect(),
            };
            Ok(ChatResponse {
                message: Message { role: MessageRole::Assistant, content: Some(format!("echo {}", request.model)), tool_calls: vec![], tool_call_id: None, error: false },
                prompt_tokens: 1,
                completion_tokens: 2,
                tokens,
            })
        })
    }
}

async fn probe(grants: &str, caps: &str, config: &str) -> (String, Vec<eigenbox_runtime::AccessRecord>) {
    let rt = runtime(grants);
    let wasm = guest_wasm("eigenbox_guest_probe_role");
    let role = rt.load(manifest("test:probe", ROLE, &wasm, caps, ""), &wasm).unwrap();
    let mock = mock_domain(&rt);
    let domain = Arc::new(tokio::sync::Mutex::new(DomainInstance::new(mock).await.unwrap()));
    let mut r = RoleInstance::new(role).await.unwrap();
    r.attach_domain("mock", domain);
    r.attach_llm(Arc::new(Scripted));
    let out = r.step(StepInput { config: config.into(), history: vec![] }).await.unwrap().unwrap();
    (out.message.content.unwrap_or_default(), r.access_log())
}

#[tokio::test]
async fn a_role_calls_only_granted_tools() {
    let grants = "[[component]]\nid = \"test:probe\"\n[component.capabilities]\ntools = [\"mock/get_users\"]\n";
    let (out, log) = probe(grants, "tools = [\"mock/get_users\"]", "tool get_users {}\ntool create_task {\"user_id\": \"user_1\", \"title\": \"x\"}\ntools").await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("tool get_users: ok [{\"user_id\": \"user_1\""), "{out}");
    assert_eq!(lines[1], "tool create_task: denied `test:probe` is not granted tool `mock/create_task`");
    assert_eq!(lines[2], "tools: get_users");
    assert_eq!(log.iter().map(|r| (r.target.as_str(), r.allowed)).collect::<Vec<_>>(), [("mock/get_users", true), ("mock/create_task", false)]);
}

#[tokio::test]
async fn a_role_without_an_llm_grant_is_denied() {
    let (out, log) = probe("", "", "llm small").await;
    assert_eq!(out, "llm small: denied `test:probe` has no `llm` grant for model `small`");
    assert!(!log[0].allowed);
    let grants = "[[component]]\nid = \"test:probe\"\n[component.capabilities]\nllm = [\"small\"]\n";
    let (out, _) = probe(grants, "llm = [\"small\"]", "llm small\nllm big").await;
    assert_eq!(out, "llm small: ok echo small\nllm big: denied `test:probe` has no `llm` grant for model `big`");
}

#[tokio::test]
async fn a_role_asking_for_logprobs_receives_the_tokens_and_the_host_keeps_them() {
    let grants = "[[component]]\nid = \"test:probe\"\n[component.capabilities]\nllm = [\"small\"]\n";
    let rt = runtime(grants);
    let wasm = guest_wasm("eigenbox_guest_probe_role");
    let role = rt.load(manifest("test:probe", ROLE, &wasm, "llm = [\"small\"]", ""), &wasm).unwrap();
    let mut r = RoleInstance::new(role).await.unwrap();
    r.attach_llm(Arc::new(Scripted));
    // The guest sees the tokens in its chat-response: ids, logprobs, alternatives.
    let out = r.step(StepInput { config: "llm small logprobs=2".into(), history: vec![] }).await.unwrap().unwrap();
    assert_eq!(out.message.content.unwrap(), "llm small: ok echo small [tokens echo#7@-0.5/2| small#42@-1.25/2]");
    // The host kept them for the step (what the orchestrator records on the user's message).
    let kept: Vec<(String, Option<u32>, f64, usize)> = r.last_step_tokens().iter().map(|t| (t.token.clone(), t.id, t.logprob, t.top.len())).collect();
    assert_eq!(kept, [("echo".to_string(), Some(7), -0.5, 2), (" small".to_string(), Some(42), -1.25, 2)]);
    // A step whose call does not ask gets none, and none are left over from the step before.
    let out = r.step(StepInput { config: "llm small".into(), history: vec![] }).await.unwrap().unwrap();
    assert_eq!(out.message.content.unwrap(), "llm small: ok echo small");
    assert!(r.last_step_tokens().is_empty());
    // Of several calls in one step, the last one's tokens are kept.
    r.step(StepInput { config: "llm small logprobs=1\nllm small".into(), history: vec![] }).await.unwrap().unwrap();
    assert!(r.last_step_tokens().is_empty());
    r.step(StepInput { config: "llm small\nllm small logprobs=0".into(), history: vec![] }).await.unwrap().unwrap();
    assert_eq!(r.last_step_tokens().len(), 2);
    assert!(r.last_step_tokens().iter().all(|t| t.top.is_empty()));
}

struct Slow;

impl LlmBackend for Slow {
    fn chat<'a>(&'a self, request: ChatRequest) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<ChatResponse, String>> + Send + 'a>> {
        Box::pin(async move {
            tokio::time::sleep(std::time::Duration::from_millis(600)).await;
            Scripted.chat(request).await
        })
    }
}

#[tokio::test]
async fn time_waiting_on_the_llm_does_not_count_against_the_role_deadline() {
    // The role's deadline is 300 ms of its own time; the LLM takes 600 ms per call.
    let grants = "[[component]]\nid = \"test:probe\"\n[component.capabilities]\nllm = [\"small\"]\n";
    let rt = runtime(grants);
    let wasm = guest_wasm("eigenbox_guest_probe_role");
    let role = rt.load(manifest("test:probe", ROLE, &wasm, "llm = [\"small\"]", "timeout_ms = 300"), &wasm).unwrap();
    let mut r = RoleInstance::new(role).await.unwrap();
    r.attach_llm(Arc::new(Slow));
    let out = r.step(StepInput { config: "llm small\nllm small".into(), history: vec![] }).await.unwrap().unwrap();
    assert_eq!(out.message.content.unwrap(), "llm small: ok echo small\nllm small: ok echo small");
}
