//! Conformance against the τ² golden vectors in `shared/golden/mock/`.

use super::*;
use eigenbox_sdk::testing::{self, tau2, SdkEnv};
use eigenbox_sdk::{EnvCall, EpisodeInit, Runtime};
use std::path::PathBuf;

fn golden_dir() -> Option<PathBuf> {
    testing::golden_dir(env!("CARGO_MANIFEST_DIR"), "mock")
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Tool schemas, initial hashes, every replay (task initial state, calls, hashes, env
/// assertions) and every probe, through the host's conformance engine. The adapter also
/// snapshots and restores the state after every call and checks it round-trips exactly.
#[test]
fn golden_conformance() {
    let Some(dir) = golden_dir() else { return };
    let report = tau2::run_conformance(&dir, &data_dir(), SdkEnv::<Mock>::round_trip_factory()).expect("golden vectors");
    println!("{report}");
    assert_eq!(report.failed(), 0, "{report}");
    assert!(report.passed() >= 55, "too few checks ran:\n{report}");
}

/// The conformance test can fail: a golden file with one response changed is reported.
#[test]
fn golden_conformance_reports_a_broken_vector() {
    let Some(dir) = golden_dir() else { return };
    let tmp = std::env::temp_dir().join(format!("eigenbox-mock-golden-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    for f in ["tools.json", "replays.jsonl", "probes.jsonl", "evals.jsonl"] {
        if dir.join(f).is_file() {
            std::fs::copy(dir.join(f), tmp.join(f)).expect("copy golden file");
        }
    }
    let probes = std::fs::read_to_string(tmp.join("probes.jsonl")).expect("probes");
    let want = r#""response": "[{\"user_id\": \"user_1\", \"name\": \"Test User\""#;
    assert!(probes.contains(want), "probe to break not found");
    std::fs::write(tmp.join("probes.jsonl"), probes.replacen(want, r#""response": "[{\"user_id\": \"user_9\", \"name\": \"Test User\""#, 1))
        .expect("write");
    let report = tau2::run_conformance(&tmp, &data_dir(), SdkEnv::<Mock>::factory()).expect("golden vectors");
    std::fs::remove_dir_all(&tmp).ok();
    println!("{report}");
    assert_eq!(report.failed(), 1, "{report}");
    let f = report.failures().next().expect("one failure");
    assert_eq!((f.category, f.id.as_str()), (tau2::Category::Probes, "mock-probe-0003"));
    assert!(f.problems[0].contains("response differs"), "{f}");
}

#[test]
fn tool_kinds() {
    let specs = Runtime::<Mock>::new().tools();
    let kinds: Vec<(&str, ToolKind, bool)> = specs.iter().map(|s| (s.name.as_str(), s.kind, s.mutates_state)).collect();
    assert_eq!(
        kinds,
        vec![
            ("create_task", ToolKind::Write, true),
            ("get_users", ToolKind::Read, false),
            ("update_task_status", ToolKind::Write, true),
            ("transfer_to_human_agents", ToolKind::Generic, false),
            ("check_notifications", ToolKind::Read, false),
            ("dismiss_notification", ToolKind::Write, true),
        ]
    );
}

#[test]
fn arguments_follow_python_semantics() {
    let mut rt = Runtime::<Mock>::new();
    let e = rt.call_tool(Requestor::Assistant, "create_task", "{}").unwrap_err();
    assert_eq!(e.message, "MockTools.create_task() missing 2 required positional arguments: 'user_id' and 'title'");
    assert_eq!(e.kind, eigenbox_sdk::ToolErrorKind::InvalidArguments);
    let e = rt.call_tool(Requestor::Assistant, "create_task", "[1]").unwrap_err();
    assert_eq!(e.kind, eigenbox_sdk::ToolErrorKind::InvalidArguments);
    let e = rt.call_tool(Requestor::Assistant, "create_task", "not json").unwrap_err();
    assert_eq!(e.kind, eigenbox_sdk::ToolErrorKind::InvalidArguments);
    let e = rt.call_tool(Requestor::Assistant, "update_task_status", r#"{"task_id": [1], "status": "x"}"#).unwrap_err();
    assert_eq!(e.message, "unhashable type: 'list'");
    let e = rt.call_tool(Requestor::Assistant, "create_task", r#"{"user_id": null, "title": "t"}"#).unwrap_err();
    assert_eq!(e.message, "User None not found");
    // update_task_status stores any status, as the reference does.
    let out = rt.call_tool(Requestor::Assistant, "update_task_status", r#"{"task_id": "task_1", "status": 1.0}"#).unwrap();
    assert_eq!(out, r#"{"task_id": "task_1", "title": "Test task", "description": "A test task", "status": 1.0}"#);
    let e = rt.call_tool(Requestor::User, "get_users", "{}").unwrap_err();
    assert_eq!(e.kind, eigenbox_sdk::ToolErrorKind::UnknownTool);
    let e = rt
        .env_function(&EnvCall { side: Side::Assistant, name: "nope".into(), arguments: "{}".into() })
        .unwrap_err();
    assert_eq!(e.message, "'MockTools' object has no attribute 'nope'");
}

#[test]
fn reset_errors_leave_initial_state() {
    let mut rt = Runtime::<Mock>::new();
    let init = EpisodeInit {
        agent_data: None,
        user_data: None,
        actions: vec![EnvCall { side: Side::Assistant, name: "create_task".into(), arguments: r#"{"user_id": "nobody", "title": "x"}"#.into() }],
    };
    let e = rt.reset(&init).unwrap_err();
    assert!(e.contains("User nobody not found"), "{e}");
    assert_eq!(
        rt.state_hash(Side::Assistant).as_deref(),
        Some("107f83a70b7bf4f616e283b0b0b8451346fe7681173398d4498a1ec15c5fdfc6")
    );
    assert!(rt.restore(b"garbage").is_err());
    let bad = EpisodeInit { agent_data: Some(r#"{"tasks": {"t": {"bogus": 1}}}"#.into()), ..Default::default() };
    assert!(rt.reset(&bad).is_err());
}
