//! The mock domain, loaded through the runtime as a WASM component, reproduces the reference's
//! golden vectors exactly; and the conformance engine does notice a wrong vector.

use eigenbox_episode::WasmDomainEnv;
use eigenbox_runtime::{DbSide, DomainInstance, Requestor};
use eigenbox_tests::{mock_domain, mock_golden_dir, runtime, workspace_root};

fn conformance(golden: &std::path::Path) -> eigenbox_tau2::Report {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let host = runtime("");
    let mock = mock_domain(&host);
    let handle = rt.handle().clone();
    eigenbox_tau2::run_conformance(golden, &workspace_root().join("plugins/mock/data"), || WasmDomainEnv::new(&handle, mock.clone()).map_err(Into::into))
        .unwrap()
}

#[test]
fn mock_matches_every_golden_vector() {
    let report = conformance(&mock_golden_dir());
    assert_eq!(report.failed(), 0, "{report}");
    // tools (6) + initial hashes + 19 replays + 33 probes
    assert!(report.passed() >= 50, "{report}");
}

#[test]
fn a_wrong_vector_is_reported_with_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["tools.json", "replays.jsonl", "probes.jsonl"] {
        let text = std::fs::read_to_string(mock_golden_dir().join(f)).unwrap();
        let text = if f == "probes.jsonl" { text.replacen("Error: Task task_2 not found", "Error: Task task_2 is missing", 1) } else { text };
        std::fs::write(dir.path().join(f), text).unwrap();
    }
    let report = conformance(dir.path());
    assert_eq!(report.failed(), 1, "{report}");
    let text = report.to_string();
    assert!(text.contains("is missing"), "{text}");
    assert!(text.ends_with(&format!("{} passed, 1 failed\n", report.passed())) || text.contains(&format!("{} passed, 1 failed", report.passed())), "{text}");
}

#[tokio::test]
async fn bad_arguments_get_reference_errors_and_change_nothing() {
    let host = runtime("");
    let mut d = DomainInstance::new(mock_domain(&host)).await.unwrap();
    let before = d.state_hash(DbSide::Assistant).await.unwrap();
    for (tool, args, expect) in [
        ("create_task", r#"{"user_id": "user_1"}"#, "MockTools.create_task() missing 1 required positional argument: 'title'"),
        ("create_task", r#"{"user_id": "user_1", "title": "t", "x": 1}"#, "MockTools.create_task() got an unexpected keyword argument 'x'"),
        ("create_task", r#"{"user_id": 1e18, "title": "t"}"#, "User 1e+18 not found"),
        ("create_task", r#"{"user_id": "ユーザー", "title": "t"}"#, "User ユーザー not found"),
        ("no_such_tool", "{}", "Tool 'no_such_tool' not found."),
    ] {
        let e = d.call_tool(Requestor::Assistant, tool, args).await.unwrap().unwrap_err();
        assert_eq!(e.message, expect, "{tool} {args}");
    }
    for args in ["not json", "[1, 2]", "", "{\"user_id\": "] {
        let e = d.call_tool(Requestor::Assistant, "create_task", args).await.unwrap().unwrap_err();
        assert!(!e.message.is_empty(), "malformed arguments {args:?} need a clear error");
    }
    assert_eq!(d.state_hash(DbSide::Assistant).await.unwrap(), before);
    // A good call still works afterwards and changes the state.
    let ok = d.call_tool(Requestor::Assistant, "create_task", r#"{"user_id": "user_1", "title": "Important Meeting"}"#).await.unwrap().unwrap();
    assert_eq!(ok, r#"{"task_id": "task_2", "title": "Important Meeting", "description": null, "status": "pending"}"#);
    assert_ne!(d.state_hash(DbSide::Assistant).await.unwrap(), before);
}

#[tokio::test]
async fn snapshot_fork_and_restore_round_trip() {
    let host = runtime("");
    let mut a = DomainInstance::new(mock_domain(&host)).await.unwrap();
    a.call_tool(Requestor::Assistant, "create_task", r#"{"user_id": "user_1", "title": "A"}"#).await.unwrap().unwrap();
    let h = a.state_hash(DbSide::Assistant).await.unwrap();
    let mut b = a.fork().await.unwrap();
    assert_eq!(b.state_hash(DbSide::Assistant).await.unwrap(), h);
    b.call_tool(Requestor::Assistant, "update_task_status", r#"{"task_id": "task_2", "status": "completed"}"#).await.unwrap().unwrap();
    assert_ne!(b.state_hash(DbSide::Assistant).await.unwrap(), h);
    assert_eq!(a.state_hash(DbSide::Assistant).await.unwrap(), h);
    assert!(a.restore(b"garbage").await.unwrap().is_err());
    assert_eq!(a.state_hash(DbSide::Assistant).await.unwrap(), h);
}
