//! The gate around a mock-domain episode, as an orchestrator drives it: τ²'s mock tools, the
//! strict example policy, every call audited and the audit log verified offline.

use std::path::Path;
use std::sync::Arc;

use eigenbox_audit::{export, verify_export, AuditConfig, AuditLog, Filter, LogKey, Outcome};
use eigenbox_gate::{Actor, EpisodeInfo, Gate, Stats};
use eigenbox_policy::Engine;

fn policy(name: &str) -> Arc<Engine> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/policy");
    Arc::new(Engine::load(&[root.join(name)], None).unwrap())
}

/// A stand-in for the mock domain's tools (their τ² behaviour is tested in the runtime; here
/// what matters is which calls reach them).
fn mock_tool(name: &str, args: &serde_json::Value) -> Result<String, String> {
    match name {
        "get_users" => Ok("[{\"user_id\": \"user_1\"}]".into()),
        "create_task" => match args.get("user_id").and_then(|u| u.as_str()) {
            Some("user_1") => Ok("{\"task_id\": \"task_2\"}".into()),
            Some(u) => Err(format!("User {u} not found")),
            None => Err("missing user_id".into()),
        },
        "update_task_status" => Ok("{\"status\": \"completed\"}".into()),
        _ => Err(format!("Tool '{name}' not found.")),
    }
}

struct Run {
    gate: Arc<Gate>,
    _dir: tempfile::TempDir,
    log: Arc<AuditLog>,
    public: eigenbox_audit::PublicKey,
}

fn run(policy_file: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    let key = LogKey::create(&dir.path().join("audit.key")).unwrap();
    let public = key.public();
    let log = Arc::new(AuditLog::open(&db, Some(key), AuditConfig::default()).unwrap());
    Run { gate: Arc::new(Gate::new(policy(policy_file), Some(log.clone()))), _dir: dir, log, public }
}

/// One agent turn: ask the gate, call the tool if allowed, report back. Returns the tool
/// message the agent would see.
fn call(ep: &eigenbox_gate::EpisodeGate, agent: &Actor, tool: &str, write: bool, args: &str) -> String {
    match ep.before_tool(agent, "assistant", "mock", tool, write, args) {
        Err(denied) => format!("Error: {}", denied.message()),
        Ok(permit) => {
            let parsed: serde_json::Value = serde_json::from_str(args).unwrap();
            let r = mock_tool(tool, &parsed);
            let (outcome, text) = match &r {
                Ok(t) => (Outcome::Ok, t.clone()),
                Err(e) => (Outcome::ToolError, format!("Error: {e}")),
            };
            ep.after_tool(permit, outcome, Some(&text), Stats { fuel: Some(1000), memory_bytes: Some(1 << 20) }).unwrap();
            text
        }
    }
}

#[test]
fn an_episode_under_the_strict_policy() {
    let r = run("examples/strict.cedar");
    let ep = r.gate.episode(EpisodeInfo { run: Some("run-1".into()), episode: "ep-1".into(), user: Some("user_1".into()) });
    let agent = Actor::agent("assistant", "assistant");

    assert_eq!(call(&ep, &agent, "get_users", false, "{}"), "[{\"user_id\": \"user_1\"}]");
    let denied = call(&ep, &agent, "create_task", true, r#"{"user_id": "user_1", "title": "Meet"}"#);
    assert!(denied.starts_with("Error: denied by policy rule `write-needs-confirmation`"), "{denied}");
    ep.note_user_message("yes");
    let other = call(&ep, &agent, "create_task", true, r#"{"user_id": "user_9", "title": "Meet"}"#);
    assert!(other.contains("`writes-only-for-authenticated-user`"), "{other}");
    assert!(ep.note_user_message("Yes, go ahead"));
    assert_eq!(call(&ep, &agent, "create_task", true, r#"{"user_id": "user_1", "title": "Meet"}"#), "{\"task_id\": \"task_2\"}");
    // The confirmation was used up by that write.
    assert!(call(&ep, &agent, "update_task_status", true, r#"{"task_id": "task_2", "status": "completed"}"#).contains("write-needs-confirmation"));
    let c = ep.counters();
    assert_eq!((c.tool_calls, c.write_calls, c.denied), (2, 1, 3));
    ep.finish().unwrap();

    let records: Vec<_> = r.log.iter(0).collect::<Result<_, _>>().unwrap();
    let summary: Vec<(String, bool, &str, String)> = records.iter().map(|x| (x.target.clone(), x.decision.allow, x.outcome.as_str(), x.decision.rules.join(","))).collect();
    assert_eq!(
        summary,
        vec![
            ("mock/get_users".to_string(), true, "ok", "agents-read".to_string()),
            ("mock/create_task".to_string(), false, "denied", "write-needs-confirmation".to_string()),
            ("mock/create_task".to_string(), false, "denied", "writes-only-for-authenticated-user".to_string()),
            ("mock/create_task".to_string(), true, "ok", "agents-write".to_string()),
            ("mock/update_task_status".to_string(), false, "denied", "write-needs-confirmation".to_string()),
        ]
    );
    for x in &records {
        assert_eq!(x.episode.as_deref(), Some("ep-1"));
        assert_eq!(x.run.as_deref(), Some("run-1"));
        assert_eq!(x.actor.component, "assistant");
        assert_eq!(x.decision.policy_hash, r.gate.engine().policy_hash());
        assert!(x.args_sha256.is_some());
    }
    assert_eq!(records[3].result_sha256.as_deref(), Some(eigenbox_audit::sha256_hex(b"{\"task_id\": \"task_2\"}").as_str()));
    assert_eq!((records[3].fuel, records[1].fuel), (Some(1000), None));

    let mut out = Vec::new();
    export(&r.log, &Filter::default(), &mut out).unwrap();
    assert_eq!(verify_export(&mut out.as_slice(), &r.public, None).unwrap().entries, 5);
}

#[test]
fn the_default_policy_lets_everything_through_and_audits_it() {
    let r = run("default.cedar");
    let ep = r.gate.episode(EpisodeInfo { run: None, episode: "ep-2".into(), user: None });
    let agent = Actor::agent("assistant", "assistant");
    assert_eq!(call(&ep, &agent, "create_task", true, r#"{"user_id": "user_9", "title": "x"}"#), "Error: User user_9 not found");
    // Arguments that are not JSON reach the tool (the default policy never reads them).
    assert!(ep.before_tool(&agent, "assistant", "mock", "create_task", true, "{not json").is_ok());
    ep.finish().unwrap();
    let records: Vec<_> = r.log.iter(0).collect::<Result<_, _>>().unwrap();
    assert_eq!(records[0].outcome, Outcome::ToolError);
    assert_eq!(records[1].outcome, Outcome::Pending, "a permit dropped unfinished is audited as pending");
    assert_eq!(records[1].args.as_deref(), Some("{not json"));
}

#[test]
fn budgets_deny_and_the_episode_goes_on() {
    let r = run("examples/strict.cedar");
    let ep = r.gate.episode(EpisodeInfo { run: None, episode: "ep-3".into(), user: Some("user_1".into()) });
    let agent = Actor::agent("assistant", "assistant");
    for _ in 0..10 {
        assert!(!call(&ep, &agent, "get_users", false, "{}").starts_with("Error"));
    }
    let d = call(&ep, &agent, "get_users", false, "{}");
    assert!(d.contains("same-tool-rate-limit"), "{d}");
    // Not JSON under a policy that reads arguments: refused, fail closed.
    let d = ep.before_tool(&agent, "assistant", "mock", "create_task", true, "{oops").unwrap_err();
    assert!(d.message().contains("must be a JSON object"), "{}", d.message());
    // Another episode has its own counters.
    let ep2 = r.gate.episode(EpisodeInfo { run: None, episode: "ep-4".into(), user: None });
    assert!(!call(&ep2, &agent, "get_users", false, "{}").starts_with("Error"));
    // LLM token budget.
    let p = ep2.before_llm(&agent, "small", Some(100)).unwrap();
    ep2.after_llm(p, Outcome::Ok, 200_000, Some("hi")).unwrap();
    let d = ep2.before_llm(&agent, "small", Some(100)).unwrap_err();
    assert_eq!(d.rule(), "llm-token-budget");
}

#[test]
fn capabilities_at_load_are_decided_and_audited() {
    let r = run("examples/strict.cedar");
    let m = eigenbox_manifest::Manifest::from_toml_str(&format!(
        "id = \"acme:net\"\nversion = \"1.0.0\"\nworld = \"eigenbox:role/role-plugin@0.1.0\"\nwasm = \"x.wasm\"\nsha256 = \"{}\"\n[capabilities]\nclock = true\nnetwork = [\"example.com:443\"]\nllm = [\"*\"]\n",
        "a".repeat(64)
    ))
    .unwrap();
    let denials = r.gate.check_load(&m, &"a".repeat(64)).unwrap_err();
    assert_eq!(denials.len(), 1);
    assert_eq!(denials[0].0, "network:example.com:443");
    assert_eq!(denials[0].1.rule(), "no-network");
    let records: Vec<_> = r.log.iter(0).collect::<Result<_, _>>().unwrap();
    let caps: Vec<(&str, bool)> = records.iter().map(|x| (x.target.as_str(), x.decision.allow)).collect();
    assert_eq!(caps, [("clock", true), ("network:example.com:443", false), ("llm", true)]);
    assert_eq!(records[0].actor.sha256.as_deref(), Some("a".repeat(64).as_str()));
    assert_eq!(records[0].actor.wit.as_deref(), Some("eigenbox:role/role-plugin@0.1.0"));
}
