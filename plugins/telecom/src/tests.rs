//! Conformance against the τ² golden vectors in `shared/golden/telecom/`.

use super::*;
use eigenbox_sdk::{pyjson, EnvCall, EpisodeInit, Runtime};
use std::path::PathBuf;

fn golden_dir() -> Option<PathBuf> {
    // The reference's vectors in ../shared when present, else the copy shipped with the plugin.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [root.join("../../../shared/golden/telecom"), root.join("data/golden")]
        .into_iter()
        .find(|d| d.join("tools.json").is_file())
        .or_else(|| {
            println!("NOTICE: no golden vectors for telecom found; golden conformance skipped");
            None
        })
}

fn jsonl(path: PathBuf) -> Vec<Value> {
    let text = std::fs::read_to_string(&path).expect("read golden");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("golden json"))
        .collect()
}

fn req(s: &Value) -> Requestor {
    match s.as_str() {
        Some("user") => Requestor::User,
        _ => Requestor::Assistant,
    }
}

/// (response, error) the way τ² writes the tool message.
fn respond(rt: &mut Runtime<Telecom>, r: Requestor, name: &str, args: &Value) -> (String, bool) {
    match rt.call_tool(r, name, &args.to_string()) {
        Ok(s) => (s, false),
        Err(e) => (format!("Error: {}", e.message), true),
    }
}

/// Compare one recorded call; `Err` describes the first mismatch.
fn check_call(rt: &mut Runtime<Telecom>, c: &Value, ctx: &str) -> Result<(), String> {
    let name = c["name"].as_str().expect("name");
    let (resp, err) = respond(rt, req(&c["requestor"]), name, &c["arguments"]);
    let want = c["response"].as_str().expect("response");
    if resp != want {
        return Err(format!("{ctx}: response\n  got:  {resp}\n  want: {want}"));
    }
    if err != c["error"].as_bool().expect("error") {
        return Err(format!("{ctx}: error flag"));
    }
    let ah = rt.state_hash(Side::Assistant);
    if ah.as_deref() != c["agent_db_hash_after"].as_str() {
        return Err(format!("{ctx}: agent hash {ah:?} != {}", c["agent_db_hash_after"]));
    }
    if rt.state_hash(Side::User).as_deref() != c["user_db_hash_after"].as_str() {
        return Err(format!("{ctx}: user hash\n{}", rt.state_json(Side::User).unwrap_or_default()));
    }
    Ok(())
}

#[test]
fn tools_json_matches() {
    let Some(dir) = golden_dir() else { return };
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("tools.json")).expect("tools.json"))
        .expect("tools.json json");
    let rt = Runtime::<Telecom>::new();
    assert_eq!(rt.state_hash(Side::Assistant).as_deref(), golden["initial_agent_db_hash"].as_str());
    assert_eq!(rt.state_hash(Side::User).as_deref(), golden["initial_user_db_hash"].as_str());
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
    let writes: Vec<&str> = specs.iter().filter(|s| s.mutates_state).map(|s| s.name.as_str()).collect();
    assert_eq!(
        writes,
        vec![
            "suspend_line", "resume_line", "send_payment_request", "enable_roaming", "disable_roaming", "refuel_data",
            "set_network_mode_preference", "toggle_airplane_mode", "reseat_sim_card", "toggle_data", "toggle_roaming",
            "toggle_data_saver_mode", "set_apn_settings", "reset_apn_settings", "toggle_wifi", "toggle_wifi_calling",
            "connect_vpn", "disconnect_vpn", "grant_app_permission", "reboot_device", "make_payment",
        ]
    );
}

#[test]
fn probes() {
    let Some(dir) = golden_dir() else { return };
    let probes = jsonl(dir.join("probes.jsonl"));
    assert!(!probes.is_empty());
    let mut fails = Vec::new();
    let mut n = 0;
    for p in &probes {
        if p.get("generation_error").is_some() {
            continue;
        }
        n += 1;
        let mut rt = Runtime::<Telecom>::new();
        if let Err(e) = check_call(&mut rt, p, p["id"].as_str().unwrap_or("?")) {
            fails.push(e);
        }
    }
    println!("probes: {}/{} match", n - fails.len(), n);
    assert!(fails.is_empty(), "{} probe(s) differ:\n{}", fails.len(), fails.join("\n"));
}

fn load_tasks(version: &str) -> Vec<Value> {
    // Telecom's `tasks.json` is itself the v0.2.0 file.
    let _ = version;
    let text = include_str!("../data/tasks.json");
    serde_json::from_str(text).expect("tasks json")
}

/// Apply a task's `initial_state` the way `Environment.set_state` does.
fn apply_initial_state(rt: &mut Runtime<Telecom>, st: &Value) {
    if st.is_null() {
        return;
    }
    let data = &st["initialization_data"];
    let opt = |v: &Value| if v.is_null() { None } else { Some(v.to_string()) };
    let actions = st["initialization_actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| EnvCall {
                    side: req(&x["env_type"]),
                    name: x["func_name"].as_str().unwrap_or("").to_string(),
                    arguments: x["arguments"].to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let init = EpisodeInit { agent_data: opt(&data["agent_data"]), user_data: opt(&data["user_data"]), actions };
    rt.reset(&init).expect("reset");
    // message_history: replay mutating tool calls.
    for m in st["message_history"].as_array().cloned().unwrap_or_default() {
        for tc in m["tool_calls"].as_array().cloned().unwrap_or_default() {
            let name = tc["name"].as_str().unwrap_or("");
            let r = if tc["requestor"].is_null() { req(&m["role"]) } else { req(&tc["requestor"]) };
            if rt.is_mutating(r, name) == Some(true) {
                respond(rt, r, name, &tc["arguments"]);
            }
        }
    }
}

#[test]
fn replays() {
    let Some(dir) = golden_dir() else { return };
    let replays = jsonl(dir.join("replays.jsonl"));
    assert!(!replays.is_empty());
    let mut fails = Vec::new();
    let mut n = 0;
    for r in &replays {
        if r.get("generation_error").is_some() {
            continue;
        }
        n += 1;
        let version = r["version"].as_str().unwrap_or("v1.0");
        let task_id = r["task_id"].as_str().expect("task_id");
        let ctx = format!("{version}/{task_id}");
        let tasks = load_tasks(version);
        let task = tasks.iter().find(|t| t["id"] == task_id).unwrap_or_else(|| panic!("{ctx}: task not found"));
        let mut rt = Runtime::<Telecom>::new();
        apply_initial_state(&mut rt, &task["initial_state"]);
        let res = (|| -> Result<(), String> {
            if rt.state_hash(Side::Assistant).as_deref() != r["initial_agent_db_hash"].as_str() {
                return Err(format!("{ctx}: initial agent hash"));
            }
            if rt.state_hash(Side::User).as_deref() != r["initial_user_db_hash"].as_str() {
                return Err(format!("{ctx}: initial user hash\n{}", rt.state_json(Side::User).unwrap_or_default()));
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
                    side: req(&asn["env_type"]),
                    name: asn["func_name"].as_str().unwrap_or("").into(),
                    arguments: asn["arguments"].to_string(),
                };
                let got = rt.env_function(&call).map_err(|e| format!("{ctx}: env function: {}", e.message))?;
                let val: Value = serde_json::from_str(&got).expect("env result json");
                if (val == asn["assert_value"]) != a["met"].as_bool().unwrap_or(false) {
                    return Err(format!("{ctx}: assertion {}", call.name));
                }
            }
            // Snapshot / restore round-trips exactly.
            let final_snap = rt.snapshot();
            let fa = rt.state_json(Side::Assistant);
            rt.restore(&snap).map_err(|e| format!("{ctx}: restore: {e}"))?;
            if rt.state_hash(Side::Assistant).as_deref() != r["initial_agent_db_hash"].as_str() {
                return Err(format!("{ctx}: restored hash"));
            }
            rt.restore(&final_snap).map_err(|e| format!("{ctx}: restore final: {e}"))?;
            if rt.state_json(Side::Assistant) != fa || rt.snapshot() != final_snap {
                return Err(format!("{ctx}: snapshot not stable"));
            }
            Ok(())
        })();
        if let Err(e) = res {
            fails.push(e);
        }
    }
    println!("replays: {}/{} match", n - fails.len(), n);
    assert!(fails.is_empty(), "{} replay(s) differ:\n{}", fails.len(), fails.join("\n"));
}


/// Reference behaviours the golden vectors do not reach, checked against the Python source.
#[test]
fn quirks() {
    let mut rt = Runtime::<Telecom>::new();
    let call = |rt: &mut Runtime<Telecom>, r, n: &str, a: &str| match rt.call_tool(r, n, a) {
        Ok(s) => s,
        Err(e) => format!("Error: {}", e.message),
    };
    // get_data_usage: top-level floats go through `_process` (str), the date via isoformat.
    assert_eq!(
        call(&mut rt, Requestor::Assistant, "get_data_usage", r#"{"customer_id": "C1001", "line_id": "L1002"}"#),
        r#"{"line_id": "L1002", "data_used_gb": "4.8", "data_limit_gb": "15.0", "data_refueling_gb": "0.0", "cycle_end_date": "2025-02-28"}"#
            .replace("4.8", &{
                let d = &rt.domain().unwrap().db;
                pyjson::float_repr(d.lines.iter().find(|l| l.line_id == "L1002").unwrap().data_used_gb)
            })
    );
    // An int refuel amount keeps its int spelling in the messages.
    let out = call(&mut rt, Requestor::Assistant, "refuel_data", r#"{"customer_id": "C1001", "line_id": "L1002", "gb_amount": 2}"#);
    assert!(out.starts_with(r#"{"message": "Successfully added 2 GB of data for line L1002 for $4.00""#), "{out}");
    assert_eq!(
        call(&mut rt, Requestor::Assistant, "refuel_data", r#"{"customer_id": "C1001", "line_id": "L1002", "gb_amount": "2"}"#),
        "Error: '<=' not supported between instances of 'str' and 'int'"
    );
    // A non-str mode is stored unvalidated, then `.value` fails.
    assert_eq!(
        call(&mut rt, Requestor::User, "set_network_mode_preference", r#"{"mode": 123}"#),
        "Error: 'int' object has no attribute 'value'"
    );
    assert_eq!(
        call(&mut rt, Requestor::User, "check_network_mode_preference", "{}"),
        "Error: 'int' object has no attribute 'value'"
    );
    // break_vpn then check_vpn_status shows the model_dump repr.
    rt.env_function(&EnvCall { side: Side::User, name: "break_vpn".into(), arguments: "{}".into() }).unwrap();
    assert_eq!(
        call(&mut rt, Requestor::User, "check_vpn_status", "{}"),
        "VPN is ON and connected. Details: {'server_address': '192.168.1.1', 'protocol': 'OpenVPN', 'server_performance': <PerformanceLevel.POOR: 'poor'>}"
    );
}
