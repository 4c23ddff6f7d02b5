//! Conformance against the τ² golden vectors in `shared/golden/mock/`.

use super::*;
use eigenbox_sdk::testing::{self, jsonl, requestor, respond};
use eigenbox_sdk::{pyjson, EnvCall, EpisodeInit, Runtime};
use std::path::PathBuf;

fn golden_dir() -> Option<PathBuf> {
    testing::golden_dir(env!("CARGO_MANIFEST_DIR"), "mock")
}

fn check_call(rt: &mut Runtime<Mock>, c: &Value, ctx: &str) {
    let name = c["name"].as_str().expect("name");
    let (resp, err) = respond(rt, requestor(&c["requestor"]), name, &c["arguments"]);
    assert_eq!(resp, c["response"].as_str().expect("response"), "{ctx}: response");
    assert_eq!(err, c["error"].as_bool().expect("error"), "{ctx}: error flag");
    assert_eq!(rt.state_hash(Side::Assistant).as_deref(), c["agent_db_hash_after"].as_str(), "{ctx}: agent hash");
    assert_eq!(rt.state_hash(Side::User).as_deref(), c["user_db_hash_after"].as_str(), "{ctx}: user hash");
}

#[test]
fn tools_json_matches() {
    let Some(dir) = golden_dir() else { return };
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("tools.json")).expect("tools.json"))
        .expect("tools.json json");
    let rt = Runtime::<Mock>::new();
    let specs = rt.tools();
    let mut agent = Vec::new();
    let mut user = Vec::new();
    for s in &specs {
        let params: Value = serde_json::from_str(&s.parameters).expect("parameters json");
        let f = serde_json::json!({"type": "function", "function": {
            "name": s.name, "description": s.description, "parameters": params}});
        match s.requestor {
            Requestor::Assistant => agent.push(f),
            Requestor::User => user.push(f),
        }
    }
    // Compare as Python-dumped text so key order counts too.
    assert_eq!(pyjson::dumps(&Value::Array(agent)), pyjson::dumps(&golden["agent_tools"]));
    assert_eq!(pyjson::dumps(&Value::Array(user)), pyjson::dumps(&golden["user_tools"]));
    assert_eq!(rt.state_hash(Side::Assistant).as_deref(), golden["initial_agent_db_hash"].as_str());
    assert_eq!(rt.state_hash(Side::User).as_deref(), golden["initial_user_db_hash"].as_str());
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
fn probes() {
    let Some(dir) = golden_dir() else { return };
    let probes = jsonl(dir.join("probes.jsonl"));
    assert!(!probes.is_empty());
    for p in &probes {
        if p.get("generation_error").is_some() {
            continue;
        }
        let mut rt = Runtime::<Mock>::new();
        check_call(&mut rt, p, p["id"].as_str().unwrap_or("?"));
    }
}

fn load_tasks(version: &str) -> Vec<Value> {
    let text = match version {
        "v1.0" => include_str!("../data/tasks.json"),
        _ => include_str!("../data/tasks.v0.2.0.json"),
    };
    serde_json::from_str(text).expect("tasks json")
}

fn side_of(v: &Value) -> Side {
    requestor(v)
}

/// Apply a task's `initial_state` the way `Environment.set_state` does.
fn apply_initial_state(rt: &mut Runtime<Mock>, st: &Value) {
    let data = &st["initialization_data"];
    let opt = |v: &Value| if v.is_null() { None } else { Some(v.to_string()) };
    let actions = st["initialization_actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| EnvCall {
                    side: side_of(&x["env_type"]),
                    name: x["func_name"].as_str().unwrap_or("").to_string(),
                    arguments: x["arguments"].to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let init = EpisodeInit { agent_data: opt(&data["agent_data"]), user_data: opt(&data["user_data"]), actions };
    rt.reset(&init).expect("reset");
    // message_history: replay mutating tool calls (unknown tools are no-ops).
    let msgs = st["message_history"].as_array().cloned().unwrap_or_default();
    let mut expected: std::collections::BTreeMap<String, String> = Default::default();
    for m in &msgs {
        if m["role"] == "tool" {
            expected.insert(m["id"].as_str().unwrap_or("").into(), m["content"].as_str().unwrap_or("").into());
        }
    }
    for m in &msgs {
        for tc in m["tool_calls"].as_array().cloned().unwrap_or_default() {
            let name = tc["name"].as_str().unwrap_or("");
            let r = if tc["requestor"].is_null() { Requestor::Assistant } else { requestor(&tc["requestor"]) };
            let mutating = rt.is_mutating(Requestor::Assistant, name).or(rt.is_mutating(Requestor::User, name));
            match mutating {
                None | Some(false) => continue,
                Some(true) => {}
            }
            let (resp, _) = respond(rt, r, name, &tc["arguments"]);
            let want = expected.get(tc["id"].as_str().unwrap_or("")).cloned().unwrap_or_default();
            let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::String(s.to_string()));
            assert_eq!(parse(&resp), parse(&want), "replayed {name}");
        }
    }
}

#[test]
fn replays() {
    let Some(dir) = golden_dir() else { return };
    let replays = jsonl(dir.join("replays.jsonl"));
    assert!(!replays.is_empty());
    for r in &replays {
        if r.get("generation_error").is_some() {
            continue;
        }
        let version = r["version"].as_str().unwrap_or("v1.0");
        let task_id = r["task_id"].as_str().expect("task_id");
        let ctx = format!("{version}/{task_id}");
        let tasks = load_tasks(version);
        let task = tasks.iter().find(|t| t["id"] == task_id).unwrap_or_else(|| panic!("{ctx}: task not found"));
        let mut rt = Runtime::<Mock>::new();
        apply_initial_state(&mut rt, &task["initial_state"]);
        assert_eq!(rt.state_hash(Side::Assistant).as_deref(), r["initial_agent_db_hash"].as_str(), "{ctx}: initial agent");
        assert_eq!(rt.state_hash(Side::User).as_deref(), r["initial_user_db_hash"].as_str(), "{ctx}: initial user");
        // Snapshot / restore must round-trip exactly at any point.
        let snap = rt.snapshot();
        for (i, c) in r["calls"].as_array().cloned().unwrap_or_default().iter().enumerate() {
            check_call(&mut rt, c, &format!("{ctx} call {i}"));
        }
        assert_eq!(rt.state_hash(Side::Assistant).as_deref(), r["final_agent_db_hash"].as_str(), "{ctx}: final agent");
        assert_eq!(rt.state_hash(Side::User).as_deref(), r["final_user_db_hash"].as_str(), "{ctx}: final user");
        for a in r["env_assertions"].as_array().cloned().unwrap_or_default() {
            let asn = &a["assertion"];
            let call = EnvCall {
                side: side_of(&asn["env_type"]),
                name: asn["func_name"].as_str().unwrap_or("").into(),
                arguments: asn["arguments"].to_string(),
            };
            let got = rt.env_function(&call).expect("env function");
            let val: Value = serde_json::from_str(&got).expect("env result json");
            assert_eq!(val == asn["assert_value"], a["met"].as_bool().unwrap_or(false), "{ctx}: assertion {}", call.name);
        }
        let final_snap = rt.snapshot();
        let (fa, fu) = (rt.state_json(Side::Assistant), rt.state_json(Side::User));
        rt.restore(&snap).expect("restore");
        assert_eq!(rt.state_hash(Side::Assistant).as_deref(), r["initial_agent_db_hash"].as_str(), "{ctx}: restored");
        assert_eq!(rt.state_hash(Side::User).as_deref(), r["initial_user_db_hash"].as_str(), "{ctx}: restored user");
        rt.restore(&final_snap).expect("restore final");
        assert_eq!(rt.state_json(Side::Assistant), fa);
        assert_eq!(rt.state_json(Side::User), fu);
        assert_eq!(rt.snapshot(), final_snap, "{ctx}: snapshot bytes stable");
    }
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
