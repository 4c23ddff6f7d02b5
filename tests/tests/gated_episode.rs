//! An agent's tool calls in an episode pass the policy gate (`eigenbox_episode::GatedEnv`
//! around the real mock domain component): under the strict example policy a write before the
//! user confirmed is refused with a tool error naming the rule, the state is unchanged and the
//! episode goes on; after a confirmation the same write runs; both are in the audit log.

use std::sync::Arc;

use eigenbox_audit::{AuditConfig, AuditLog, LogKey, Outcome};
use eigenbox_episode::{GatedEnv, WasmDomainEnv};
use eigenbox_gate::{Actor, EpisodeInfo, Gate};
use eigenbox_policy::Engine;
use eigenbox_tau2::{DomainEnv, Requestor};
use eigenbox_tests::{mock_domain, runtime, workspace_root};
use serde_json::json;

#[test]
fn writes_wait_for_confirmation_and_every_call_is_audited() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    let key = LogKey::create(&dir.path().join("audit.key")).unwrap();
    let public = key.public();
    let log = Arc::new(AuditLog::open(&db, Some(key), AuditConfig::default()).unwrap());
    let engine = Engine::load(&[workspace_root().join("config/policy/examples/strict.cedar")], None).unwrap();
    let gate = Arc::new(Gate::new(Arc::new(engine), Some(log.clone())));
    let episode = gate.episode(EpisodeInfo { run: Some("run-1".into()), episode: "ep-1".into(), user: Some("user_1".into()) });

    let host = runtime("");
    let inner = WasmDomainEnv::new(rt.handle(), mock_domain(&host)).unwrap();
    let mut env = GatedEnv::new(inner, episode.clone(), "mock", Actor::agent("assistant", "assistant"), Actor::agent("user", "user"));
    let before = env.state_hash(Requestor::Assistant).unwrap();
    let write = json!({"user_id": "user_1", "title": "Buy milk"});

    let (text, error) = env.call_tool(Requestor::Assistant, "create_task", &write).unwrap();
    assert!(error, "{text}");
    assert!(text.starts_with("Error: denied by policy rule `write-needs-confirmation`"), "{text}");
    assert_eq!(env.state_hash(Requestor::Assistant).unwrap(), before, "a denied write must not reach the domain");

    // Reads go through; the episode is not disturbed by the denial.
    let (text, error) = env.call_tool(Requestor::Assistant, "get_users", &json!({})).unwrap();
    assert!(!error && text.contains("user_1"), "{text}");

    assert!(episode.note_user_message("Yes, please go ahead."));
    let (text, error) = env.call_tool(Requestor::Assistant, "create_task", &write).unwrap();
    assert!(!error, "{text}");
    assert_ne!(env.state_hash(Requestor::Assistant).unwrap(), before);

    gate.commit().unwrap();
    let rows: Vec<(String, bool, Outcome)> = log.iter(0).map(|r| r.map(|r| (r.target, r.decision.allow, r.outcome))).collect::<Result<_, _>>().unwrap();
    assert_eq!(
        rows,
        vec![
            ("mock/create_task".to_string(), false, Outcome::Denied),
            ("mock/get_users".to_string(), true, Outcome::Ok),
            ("mock/create_task".to_string(), true, Outcome::Ok),
        ]
    );
    assert_eq!(log.check(Some(&public)).unwrap(), 3);
}
