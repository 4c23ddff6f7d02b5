//! Conformance against the τ² golden vectors in `shared/golden/telecom/`.

use super::*;
use eigenbox_sdk::testing::{self, tau2, SdkEnv};
use eigenbox_sdk::{pyjson, EnvCall, Runtime};
use std::path::PathBuf;

fn golden_dir() -> Option<PathBuf> {
    testing::golden_dir(env!("CARGO_MANIFEST_DIR"), "telecom")
}

/// Tool schemas, initial hashes, every replay (task initial state, calls, hashes, env
/// assertions) and every probe, through the host's conformance engine. The adapter also
/// snapshots and restores the state after every call and checks it round-trips exactly.
#[test]
fn golden_conformance() {
    let Some(dir) = golden_dir() else { return };
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    let report = tau2::run_conformance(&dir, &data, SdkEnv::<Telecom>::round_trip_factory()).expect("golden vectors");
    println!("{report}");
    assert_eq!(report.failed(), 0, "{report}");
    assert!(report.passed() >= 200, "too few checks ran:\n{report}");
}

#[test]
fn mutating_tools() {
    let specs = Runtime::<Telecom>::new().tools();
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
