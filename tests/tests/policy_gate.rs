//! The policy gate and the audit log around a real role component (tests/guests/probe-role)
//! calling the mock domain through the host's `tools` and `llm` imports, and around loads.

use std::sync::Arc;

use eigenbox_audit::{AuditConfig, AuditLog, LogKey, Outcome};
use eigenbox_gate::{EpisodeInfo, Gate};
use eigenbox_policy::Engine;
use eigenbox_runtime::{ChatRequest, ChatResponse, DomainInstance, LlmBackend, Message, MessageRole, RoleInstance, Runtime, RuntimeConfig, StepInput};
use eigenbox_tests::{guest_wasm, manifest, mock_domain, workspace_root, ROLE};

struct Echo;

impl LlmBackend for Echo {
    fn chat<'a>(&'a self, request: ChatRequest) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<ChatResponse, String>> + Send + 'a>> {
        Box::pin(async move {
            Ok(ChatResponse {
                message: Message { role: MessageRole::Assistant, content: Some(format!("echo {}", request.model)), tool_calls: vec![], tool_call_id: None, error: false },
                prompt_tokens: 10,
                completion_tokens: 5,
                tokens: vec![],
            })
        })
    }
}

const GRANTS: &str = "[[component]]\nid = \"test:probe\"\n[component.capabilities]\ntools = [\"mock/*\"]\nllm = [\"small\"]\nnetwork = [\"example.com:443\"]\n";

struct Host {
    rt: Runtime,
    gate: Arc<Gate>,
    log: Arc<AuditLog>,
    public: eigenbox_audit::PublicKey,
    _dir: tempfile::TempDir,
}

fn host(policy: &str) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    let key = LogKey::create(&dir.path().join("audit.key")).unwrap();
    let public = key.public();
    let log = Arc::new(AuditLog::open(&db, Some(key), AuditConfig::default()).unwrap());
    let engine = Engine::load(&[workspace_root().join("config/policy").join(policy)], None).unwrap();
    let gate = Arc::new(Gate::new(Arc::new(engine), Some(log.clone())));
    let grants = eigenbox_manifest::Grants::from_toml_str(GRANTS).unwrap();
    let rt = Runtime::new(RuntimeConfig { grants, gate: Some(gate.clone()), ..RuntimeConfig::default() }).unwrap();
    Host { rt, gate, log, public, _dir: dir }
}

async fn step(h: &Host, caps: &str, config: &str) -> String {
    let wasm = guest_wasm("eigenbox_guest_probe_role");
    let role = h.rt.load(manifest("test:probe", ROLE, &wasm, caps, ""), &wasm).unwrap();
    let domain = Arc::new(tokio::sync::Mutex::new(DomainInstance::new(mock_domain(&h.rt)).await.unwrap()));
    let mut r = RoleInstance::new(role).await.unwrap();
    r.attach_domain("mock", domain);
    r.attach_llm(Arc::new(Echo));
    r.attach_gate(h.gate.episode(EpisodeInfo { run: Some("run-7".into()), episode: "ep-1".into(), user: Some("user_1".into()) }), Some("user-simulator"));
    let out = r.step(StepInput { config: config.into(), history: vec![] }).await.unwrap().unwrap();
    h.gate.commit().unwrap();
    out.message.content.unwrap_or_default()
}

const CONFIG: &str = "tool get_users {}\ntool create_task {\"user_id\": \"user_1\", \"title\": \"x\"}\nllm small";

#[tokio::test]
async fn the_strict_policy_keeps_roles_read_only_and_audits_every_call() {
    let h = host("examples/strict.cedar");
    let out = step(&h, "tools = [\"mock/*\"]\nllm = [\"small\"]", CONFIG).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("tool get_users: ok [{\"user_id\": \"user_1\""), "{out}");
    // The grants allow the write; the policy does not, and the guest sees a typed denial naming the rule.
    assert_eq!(lines[1], "tool create_task: denied denied by policy rule `default-deny`: denied tool-write `mock/create_task` by `test:probe`: no rule permits it (default deny)");
    assert_eq!(lines[2], "llm small: ok echo small");

    let records: Vec<_> = h.log.iter(0).collect::<Result<_, _>>().unwrap();
    let rows: Vec<(&str, &str, bool, &str)> = records.iter().map(|r| (r.action.as_str(), r.target.as_str(), r.decision.allow, r.outcome.as_str())).collect();
    assert_eq!(
        rows,
        [
            ("capability", "llm:small", true, "ok"),
            ("capability", "tools:mock/*", true, "ok"),
            ("tool", "mock/get_users", true, "ok"),
            ("tool", "mock/create_task", false, "denied"),
            ("llm", "small", true, "ok"),
        ]
    );
    let get_users = &records[2];
    assert_eq!(get_users.actor.component, "test:probe");
    assert_eq!(get_users.actor.sha256.as_deref(), Some(eigenbox_manifest::sha256_hex(&guest_wasm("eigenbox_guest_probe_role")).as_str()));
    assert_eq!(get_users.actor.wit.as_deref(), Some(ROLE));
    assert_eq!(get_users.actor.role.as_deref(), Some("user-simulator"));
    assert_eq!((get_users.episode.as_deref(), get_users.run.as_deref()), (Some("ep-1"), Some("run-7")));
    assert_eq!(get_users.decision.rules, ["roles-read-only"]);
    assert_eq!(get_users.decision.policy_hash, h.gate.engine().policy_hash());
    assert!(get_users.fuel.is_some_and(|f| f > 0) && get_users.memory_bytes.is_some_and(|m| m > 0) && get_users.result_sha256.is_some());
    assert_eq!(get_users.args.as_deref(), Some("{}"));
    assert_eq!(records[3].decision.rules, Vec::<String>::new());

    let mut out = Vec::new();
    eigenbox_audit::export(&h.log, &eigenbox_audit::Filter::default(), &mut out).unwrap();
    assert_eq!(eigenbox_audit::verify_export(&mut out.as_slice(), &h.public, None).unwrap().entries, 5);
}

#[tokio::test]
async fn the_default_policy_keeps_todays_behaviour() {
    let h = host("default.cedar");
    let out = step(&h, "tools = [\"mock/*\"]\nllm = [\"small\"]", CONFIG).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("tool get_users: ok"), "{out}");
    assert!(lines[1].starts_with("tool create_task: ok"), "{out}");
    assert_eq!(lines[2], "llm small: ok echo small");
    let outcomes: Vec<Outcome> = h.log.iter(0).map(|r| r.unwrap().outcome).collect();
    assert_eq!(outcomes, [Outcome::Ok; 5]);
}

#[tokio::test]
async fn a_capability_the_policy_refuses_refuses_the_load() {
    let h = host("examples/strict.cedar");
    let wasm = guest_wasm("eigenbox_guest_probe_role");
    let err = h.rt.load(manifest("test:probe", ROLE, &wasm, "network = [\"example.com:443\"]", ""), &wasm).unwrap_err().to_string();
    assert!(err.contains("capability `network:example.com:443` is refused by policy rule `no-network`"), "{err}");
    h.gate.commit().unwrap();
    let last = h.log.get(h.log.committed() - 1).unwrap().unwrap();
    assert_eq!((last.target.as_str(), last.outcome), ("network:example.com:443", Outcome::Denied));
    // The same component without the network loads.
    assert!(h.rt.load(manifest("test:probe", ROLE, &wasm, "llm = [\"small\"]", ""), &wasm).is_ok());
    let _ = mock_domain(&h.rt);
}
