//! Conformance against the τ² golden vectors in `shared/golden/retail/`.

use super::*;
use eigenbox_sdk::testing::{self, requestor, respond, tau2, SdkEnv};
use eigenbox_sdk::Runtime;
use std::path::PathBuf;

fn golden_dir() -> Option<PathBuf> {
    testing::golden_dir(env!("CARGO_MANIFEST_DIR"), "retail")
}

/// Tool schemas, initial hashes, every replay (task initial state, calls, hashes, env
/// assertions) and every probe, through the host's conformance engine. The adapter also
/// snapshots and restores the state after every call and checks it round-trips exactly.
#[test]
fn golden_conformance() {
    let Some(dir) = golden_dir() else { return };
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    let report = tau2::run_conformance(&dir, &data, SdkEnv::<Retail>::round_trip_factory()).expect("golden vectors");
    println!("{report}");
    assert_eq!(report.failed(), 0, "{report}");
    assert!(report.passed() >= 280, "too few checks ran:\n{report}");
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
fn mutating_tools() {
    let specs = Runtime::<Retail>::new().tools();
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
