//! Conformance against the τ² golden vectors in `shared/golden/airline/`.

use super::*;
use eigenbox_sdk::testing::{self, jsonl, requestor, respond};
use eigenbox_sdk::{pyjson, EnvCall, EpisodeInit, Runtime};
use std::path::PathBuf;

fn golden_dir() -> Option<PathBuf> {
    testing::golden_dir(env!("CARGO_MANIFEST_DIR"), "airline")
}

fn check_call(rt: &mut Runtime<Airline>, c: &Value, ctx: &str) -> Result<(), String> {
    let name = c["name"].as_str().expect("name");
    let (resp, err) = respond(rt, requestor(&c["requestor"]), name, &c["arguments"]);
    let want = c["response"].as_str().expect("response");
    if resp != want {
        return Err(format!("{ctx} ({name}): response\n  got:  {}\n  want: {}", clip(&resp), clip(want)));
    }
    if err != c["error"].as_bool().expect("error") {
        return Err(format!("{ctx}: error flag"));
    }
    if rt.state_hash(Side::Assistant).as_deref() != c["agent_db_hash_after"].as_str() {
        return Err(format!("{ctx} ({name}): agent hash after"));
    }
    if rt.state_hash(Side::User).as_deref() != c["user_db_hash_after"].as_str() {
        return Err(format!("{ctx}: user hash after"));
    }
    Ok(())
}

fn clip(s: &str) -> String {
    if s.len() > 600 {
        let mut e = 600;
        while !s.is_char_boundary(e) {
            e -= 1;
        }
        format!("{}...", &s[..e])
    } else {
        s.to_string()
    }
}

#[test]
fn tools_json_matches() {
    let Some(dir) = golden_dir() else { return };
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("tools.json")).expect("tools.json"))
        .expect("tools.json json");
    let rt = Runtime::<Airline>::new();
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
    let (ga, gu) = (golden["agent_tools"].as_array().expect("agent_tools"), golden["user_tools"].as_array());
    for (i, (a, g)) in agent.iter().zip(ga).enumerate() {
        assert_eq!(pyjson::dumps(a), pyjson::dumps(g), "agent tool {i}");
    }
    assert_eq!(pyjson::dumps(&Value::Array(agent)), pyjson::dumps(&golden["agent_tools"]));
    assert_eq!(user.len(), gu.map(Vec::len).unwrap_or(0));
    assert_eq!(rt.state_hash(Side::Assistant).as_deref(), golden["initial_agent_db_hash"].as_str());
    assert_eq!(rt.state_hash(Side::User), None);
    assert!(golden["initial_user_db_hash"].is_null());
    let kinds: Vec<(&str, ToolKind, bool)> = specs.iter().map(|s| (s.name.as_str(), s.kind, s.mutates_state)).collect();
    assert_eq!(
        kinds,
        vec![
            ("book_reservation", ToolKind::Write, true),
            ("calculate", ToolKind::Generic, false),
            ("cancel_reservation", ToolKind::Write, true),
            ("get_reservation_details", ToolKind::Read, false),
            ("get_user_details", ToolKind::Read, false),
            ("list_all_airports", ToolKind::Read, false),
            ("search_direct_flight", ToolKind::Read, false),
            ("search_onestop_flight", ToolKind::Read, false),
            ("send_certificate", ToolKind::Write, true),
            ("transfer_to_human_agents", ToolKind::Generic, false),
            ("update_reservation_baggages", ToolKind::Write, true),
            ("update_reservation_flights", ToolKind::Write, true),
            ("update_reservation_passengers", ToolKind::Write, true),
            ("get_flight_status", ToolKind::Read, false),
        ]
    );
}

#[test]
fn probes() {
    let Some(dir) = golden_dir() else { return };
    let probes = jsonl(dir.join("probes.jsonl"));
    assert!(!probes.is_empty());
    // One fresh runtime, reset to the initial state by restoring its snapshot (parsing the
    // 7 MB db.json per probe would dominate the test time).
    let mut rt = Runtime::<Airline>::new();
    let fresh = rt.snapshot();
    let mut failures = Vec::new();
    let mut passed = 0;
    for p in &probes {
        if p.get("generation_error").is_some() {
            continue;
        }
        rt.restore(&fresh).expect("restore");
        match check_call(&mut rt, p, p["id"].as_str().unwrap_or("?")) {
            Ok(()) => passed += 1,
            Err(e) => failures.push(e),
        }
    }
    println!("probes: {passed} passed, {} failed", failures.len());
    assert!(failures.is_empty(), "{} probe(s) failed:\n{}", failures.len(), failures.join("\n"));
}

fn load_tasks(version: &str) -> Vec<Value> {
    let text = match version {
        "v1.0" => include_str!("../data/tasks.json"),
        _ => include_str!("../data/tasks.v0.2.0.json"),
    };
    serde_json::from_str(text).expect("tasks json")
}

/// Apply a task's `initial_state` the way `Environment.set_state` does.
fn apply_initial_state(rt: &mut Runtime<Airline>, st: &Value) {
    if st.is_null() {
        rt.reset(&EpisodeInit::default()).expect("reset");
        return;
    }
    let data = &st["initialization_data"];
    let opt = |v: &Value| if v.is_null() { None } else { Some(v.to_string()) };
    let actions = st["initialization_actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| EnvCall {
                    side: requestor(&x["env_type"]),
                    name: x["func_name"].as_str().unwrap_or("").to_string(),
                    arguments: x["arguments"].to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let init = EpisodeInit { agent_data: opt(&data["agent_data"]), user_data: opt(&data["user_data"]), actions };
    rt.reset(&init).expect("reset");
    let msgs = st["message_history"].as_array().cloned().unwrap_or_default();
    for m in &msgs {
        for tc in m["tool_calls"].as_array().cloned().unwrap_or_default() {
            let name = tc["name"].as_str().unwrap_or("");
            let r = if tc["requestor"].is_null() { Requestor::Assistant } else { requestor(&tc["requestor"]) };
            if rt.is_mutating(r, name) == Some(true) {
                let _ = respond(rt, r, name, &tc["arguments"]);
            }
        }
    }
}

#[test]
fn replays() {
    let Some(dir) = golden_dir() else { return };
    let replays = jsonl(dir.join("replays.jsonl"));
    assert!(!replays.is_empty());
    let tasks_v1 = load_tasks("v1.0");
    let tasks_v2 = load_tasks("v0.2.0");
    let mut rt = Runtime::<Airline>::new();
    let mut failures = Vec::new();
    let mut passed = 0;
    for r in &replays {
        if r.get("generation_error").is_some() {
            continue;
        }
        let version = r["version"].as_str().unwrap_or("v1.0");
        let task_id = r["task_id"].as_str().expect("task_id");
        let ctx = format!("{version}/{task_id}");
        let tasks = if version == "v1.0" { &tasks_v1 } else { &tasks_v2 };
        let task = tasks.iter().find(|t| t["id"] == task_id).unwrap_or_else(|| panic!("{ctx}: task not found"));
        let res = (|| -> Result<(), String> {
            apply_initial_state(&mut rt, &task["initial_state"]);
            if rt.state_hash(Side::Assistant).as_deref() != r["initial_agent_db_hash"].as_str() {
                return Err(format!("{ctx}: initial agent hash"));
            }
            let snap = rt.snapshot();
            for (i, c) in r["calls"].as_array().cloned().unwrap_or_default().iter().enumerate() {
                check_call(&mut rt, c, &format!("{ctx} call {i}"))?;
            }
            if rt.state_hash(Side::Assistant).as_deref() != r["final_agent_db_hash"].as_str() {
                return Err(format!("{ctx}: final agent hash"));
            }
            if rt.state_hash(Side::User).as_deref() != r["final_user_db_hash"].as_str() {
                return Err(format!("{ctx}: final user hash"));
            }
            for a in r["env_assertions"].as_array().cloned().unwrap_or_default() {
                let asn = &a["assertion"];
                let call = EnvCall {
                    side: requestor(&asn["env_type"]),
                    name: asn["func_name"].as_str().unwrap_or("").into(),
                    arguments: asn["arguments"].to_string(),
                };
                let got = rt.env_function(&call).map_err(|e| format!("{ctx}: env function: {}", e.message))?;
                let val: Value = serde_json::from_str(&got).map_err(|e| e.to_string())?;
                if (val == asn["assert_value"]) != a["met"].as_bool().unwrap_or(false) {
                    return Err(format!("{ctx}: assertion {}", call.name));
                }
            }
            // Snapshot / restore round-trips exactly.
            let final_snap = rt.snapshot();
            let fa = rt.state_json(Side::Assistant);
            rt.restore(&snap).map_err(|e| e.to_string())?;
            if rt.state_hash(Side::Assistant).as_deref() != r["initial_agent_db_hash"].as_str() {
                return Err(format!("{ctx}: restored hash"));
            }
            rt.restore(&final_snap).map_err(|e| e.to_string())?;
            if rt.state_json(Side::Assistant) != fa {
                return Err(format!("{ctx}: restored final state"));
            }
            Ok(())
        })();
        match res {
            Ok(()) => passed += 1,
            Err(e) => failures.push(e),
        }
    }
    println!("replays: {passed} passed, {} failed", failures.len());
    assert!(failures.is_empty(), "{} replay(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn works_without_shared_data() {
    let mut rt = Runtime::<Airline>::new();
    assert!(rt.domain().is_ok());
    let out = rt.call_tool(Requestor::Assistant, "calculate", r#"{"expression": "2 * ((350 - 122) + (499 - 127))"}"#);
    assert_eq!(out.unwrap(), "1200.0");
    let e = rt.call_tool(Requestor::Assistant, "calculate", r#"{"expression": 1e18}"#).unwrap_err();
    assert_eq!(e.message, "'float' object is not iterable");
    let e = rt.call_tool(Requestor::Assistant, "get_user_details", r#"{"user_id": true}"#).unwrap_err();
    assert_eq!(e.message, "User True not found");
}

/// Differential check against records produced by the Python reference (a JSONL file of
/// `{name, arguments, response, error, hash}` on the initial DB, path in `AIRLINE_DIFF`).
/// Development aid: `AIRLINE_DIFF=/path cargo test --release -- --ignored differential`.
#[test]
#[ignore]
fn differential() {
    let Ok(path) = std::env::var("AIRLINE_DIFF") else { return };
    let mut rt = Runtime::<Airline>::new();
    let fresh = rt.snapshot();
    let (mut ok, mut bad) = (0, Vec::new());
    for c in jsonl(PathBuf::from(path)) {
        rt.restore(&fresh).expect("restore");
        let name = c["name"].as_str().unwrap_or("");
        let (resp, err) = respond(&mut rt, Requestor::Assistant, name, &c["arguments"]);
        let want = c["response"].as_str().unwrap_or("").replace("errors.pydantic.dev/2.13/", "errors.pydantic.dev/2.14/");
        let hash_ok = rt.state_hash(Side::Assistant).as_deref() == c["hash"].as_str();
        if resp == want && err == c["error"].as_bool().unwrap_or(false) && hash_ok {
            ok += 1;
        } else {
            bad.push(format!(
                "{name} {}\n  got:  {} (hash ok: {hash_ok})\n  want: {}",
                c["arguments"],
                clip(&resp),
                clip(&want)
            ));
        }
    }
    println!("differential: {ok} matched, {} differ", bad.len());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
