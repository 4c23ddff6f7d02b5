//! Conformance against the τ² golden vectors in `shared/golden/retail/`.

use super::*;
use eigenbox_sdk::testing::{self, jsonl, requestor, respond};
use eigenbox_sdk::{pyjson, EnvCall, EpisodeInit, Runtime};
use std::path::PathBuf;

fn golden_dir() -> Option<PathBuf> {
    testing::golden_dir(env!("CARGO_MANIFEST_DIR"), "retail")
}

/// Compare one recorded call; `Err` describes the first mismatch.
fn check_call(rt: &mut Runtime<Retail>, c: &Value, ctx: &str) -> Result<(), String> {
    let name = c["name"].as_str().expect("name");
    let (resp, err) = respond(rt, requestor(&c["requestor"]), name, &c["arguments"]);
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
        return Err(format!("{ctx}: user hash"));
    }
    Ok(())
}

#[test]
fn tools_json_matches() {
    let Some(dir) = golden_dir() else { return };
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("tools.json")).expect("tools.json"))
        .expect("tools.json json");
    let rt = Runtime::<Retail>::new();
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
            "cancel_pending_order",
            "exchange_delivered_order_items",
            "modify_pending_order_address",
            "modify_pending_order_items",
            "modify_pending_order_payment",
            "modify_user_address",
            "return_delivered_order_items",
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
        let mut rt = Runtime::<Retail>::new();
        if let Err(e) = check_call(&mut rt, p, p["id"].as_str().unwrap_or("?")) {
            fails.push(e);
        }
    }
    println!("probes: {}/{} match", n - fails.len(), n);
    assert!(fails.is_empty(), "{} probe(s) differ:\n{}", fails.len(), fails.join("\n"));
}

fn load_tasks(version: &str) -> Vec<Value> {
    let text = match version {
        "v1.0" => include_str!("../data/tasks.json"),
        _ => include_str!("../data/tasks.v0.2.0.json"),
    };
    serde_json::from_str(text).expect("tasks json")
}

/// Apply a task's `initial_state` the way `Environment.set_state` does.
fn apply_initial_state(rt: &mut Runtime<Retail>, st: &Value) {
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
                    side: requestor(&x["env_type"]),
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
            if rt.is_mutating(Requestor::Assistant, name) == Some(true) {
                respond(rt, Requestor::Assistant, name, &tc["arguments"]);
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
        let mut rt = Runtime::<Retail>::new();
        apply_initial_state(&mut rt, &task["initial_state"]);
        let res = (|| -> Result<(), String> {
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

#[test]
fn python_rounding_and_calculate() {
    assert_eq!(py::round2(0.125), 0.12);
    assert_eq!(py::round2(0.375), 0.38);
    assert_eq!(py::round2(2.675), 2.67);
    assert_eq!(py::float_repr(py::round2(-0.001)), "-0.0");
    let mut rt = Runtime::<Retail>::new();
    let mut calc = |e: &str| match rt.call_tool(Requestor::Assistant, "calculate", &serde_json::json!({"expression": e}).to_string()) {
        Ok(s) => s,
        Err(e) => format!("Error: {}", e.message),
    };
    for (e, want) in [
        ("", "Error: invalid syntax (<string>, line 0)"),
        ("1 +", "Error: invalid syntax (<string>, line 1)"),
        ("(", "Error: '(' was never closed (<string>, line 1)"),
        ("1)", "Error: unmatched ')' (<string>, line 1)"),
        ("()", "Error: float() argument must be a string or a real number, not 'tuple'"),
        ("1/0", "Error: division by zero"),
        ("1.0/0", "Error: float division by zero"),
        ("1//0", "Error: integer division or modulo by zero"),
        ("1.0//0", "Error: float floor division by zero"),
        ("0**-1", "Error: 0.0 cannot be raised to a negative power"),
        ("(-8)**0.5", "Error: float() argument must be a string or a real number, not 'complex'"),
        ("01", "Error: leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers (<string>, line 1)"),
        ("00", "0.0"),
        ("01.5", "1.5"),
        ("1..2", "Error: invalid syntax (<string>, line 1)"),
        ("-7//2", "-4.0"),
        ("-7.5//2", "-4.0"),
        ("2/3*3", "2.0"),
        ("1.005*1000", "1005.0"),
        ("1e5", "Error: Invalid characters in expression"),
        ("1 + ()", "Error: unsupported operand type(s) for +: 'int' and 'tuple'"),
        ("-()", "Error: bad operand type for unary -: 'tuple'"),
        ("()*3", "Error: float() argument must be a string or a real number, not 'tuple'"),
        ("1 (2)", "Error: 'int' object is not callable"),
        ("10.0**400", "Error: (34, 'Numerical result out of range')"),
        ("9999999999999999999999 + 1", "1e+22"),
        ("  1+1", "2.0"),
        ("+-+1", "-1.0"),
        ("2**-1", "0.5"),
        ("1.2.3", "Error: invalid syntax (<string>, line 1)"),
        ("3131.1 + 4777.75 + 367.38", "8276.23"),
    ] {
        assert_eq!(calc(e), want, "calculate({e:?})");
    }
    for (v, want) in [
        (serde_json::json!(["1", "+"]), "Error: eval() arg 1 must be a string, bytes or code object"),
        (serde_json::json!([1]), "Error: 'in <string>' requires string as left operand, not int"),
        (serde_json::json!(true), "Error: 'bool' object is not iterable"),
        (serde_json::json!({}), "Error: eval() arg 1 must be a string, bytes or code object"),
    ] {
        let got = match rt.call_tool(Requestor::Assistant, "calculate", &serde_json::json!({"expression": v}).to_string()) {
            Ok(s) => s,
            Err(e) => format!("Error: {}", e.message),
        };
        assert_eq!(got, want);
    }
}

/// Extra single-call vectors recorded from the reference (`shared/tau2/reference-env.sh`) for
/// argument shapes and branches the public probes do not reach: pydantic errors from
/// `UserAddress(...)`, empty / string / dict `item_ids`, gift-card paths, the int `0` price
/// difference of an empty exchange, and `calculate` syntax errors.
#[test]
fn edge_probes() {
    let probes = testing::jsonl_str(include_str!("testdata/edge_probes.jsonl"));
    let mut fails = Vec::new();
    for p in &probes {
        let mut rt = Runtime::<Retail>::new();
        if let Err(e) = check_call(&mut rt, p, p["id"].as_str().unwrap_or("?")) {
            fails.push(e);
        }
    }
    println!("edge probes: {}/{} match", probes.len() - fails.len(), probes.len());
    assert!(fails.is_empty(), "{} edge probe(s) differ:\n{}", fails.len(), fails.join("\n"));
}
