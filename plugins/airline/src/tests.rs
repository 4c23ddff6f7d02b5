//! Conformance against the τ² golden vectors in `shared/golden/airline/`.

use super::*;
use eigenbox_sdk::testing::{self, jsonl, respond, tau2, SdkEnv};
use eigenbox_sdk::Runtime;
use std::path::PathBuf;

fn golden_dir() -> Option<PathBuf> {
    testing::golden_dir(env!("CARGO_MANIFEST_DIR"), "airline")
}

/// Tool schemas, initial hashes, every replay (task initial state, calls, hashes, env
/// assertions) and every probe, through the host's conformance engine. The adapter also
/// snapshots and restores the state after every call and checks it round-trips exactly.
#[test]
fn golden_conformance() {
    let Some(dir) = golden_dir() else { return };
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    let report = tau2::run_conformance(&dir, &data, SdkEnv::<Airline>::round_trip_factory()).expect("golden vectors");
    println!("{report}");
    assert_eq!(report.failed(), 0, "{report}");
    assert!(report.passed() >= 190, "too few checks ran:\n{report}");
}

#[test]
fn tool_kinds() {
    let specs = Runtime::<Airline>::new().tools();
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

/// The route index finds exactly what a scan of every row finds, for every origin and
/// destination (and wildcard, and a non-string code), and a table that grew past its index is
/// scanned row by row.
#[test]
fn route_index_searches_like_a_row_scan() {
    let indexed = Airline::initial_state().expect("db");
    let mut scanned = indexed.clone();
    scanned.db.routes = Routes::default();
    let mut ends: Vec<Value> = AIRPORTS.iter().map(|(c, _)| Value::from(*c)).collect();
    ends.extend([Value::Null, Value::from(5), Value::from("XXX")]);
    let mut found = 0;
    for date in ["2024-05-01", "2024-05-16", "2024-05-30"] {
        let date = Value::from(date);
        for o in &ends {
            for d in ends.iter().chain([&Value::Null]) {
                let a = indexed.search_direct(&date, Some(o), Some(d), None).map(|r| serde_json::to_string(&r).unwrap_or_default());
                let b = scanned.search_direct(&date, Some(o), Some(d), None).map(|r| serde_json::to_string(&r).unwrap_or_default());
                assert_eq!(a.as_ref().ok(), b.as_ref().ok(), "{o} -> {d} on {date}");
                found += a.map(|t| t.matches("flight_number").count()).unwrap_or(0);
            }
        }
    }
    assert!(found > 100, "the searches found only {found} flights");
    // A flight added after the index was built is still found.
    let mut grown = indexed.clone();
    let mut f = grown.db.flights.get("HAT001").expect("HAT001").clone();
    f.flight_number = "HAT999".into();
    f.origin = "ZZZ".into();
    grown.db.flights.insert("HAT999".into(), f);
    let r = grown.search_direct(&Value::from("2024-05-16"), Some(&Value::from("ZZZ")), None, None).expect("search");
    assert_eq!(r.iter().map(|x| x.flight_number.as_str()).collect::<Vec<_>>(), ["HAT999"]);
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
