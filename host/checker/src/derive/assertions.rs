//! Env assertions translated to Starlark over the final DB JSON.
//!
//! Each translation follows the reference's Python (`tau2/domains/<domain>/{tools,user_tools}.py`)
//! and eigenbox's plugin ports of it, including where they raise (`fail()` here: the evaluator
//! cannot score such an episode either). Telecom's speed test is a pure function of four device
//! fields; its table is computed here with the plugin's arithmetic and rounding.

use std::fmt::Write;

/// `(domain, side, function)` for every assertion function with a translation.
pub const SUPPORTED_ASSERTIONS: &[(&str, &str, &str)] = &[
    ("mock", "assistant", "assert_task_status"),
    ("mock", "assistant", "assert_number_of_tasks"),
    ("mock", "user", "assert_notification_status"),
    ("telecom", "assistant", "assert_data_refueling_amount"),
    ("telecom", "assistant", "assert_line_status"),
    ("telecom", "assistant", "assert_overdue_bill_exists"),
    ("telecom", "assistant", "assert_no_overdue_bill"),
    ("telecom", "user", "assert_airplane_mode_status"),
    ("telecom", "user", "assert_service_status"),
    ("telecom", "user", "assert_mobile_data_status"),
    ("telecom", "user", "assert_mobile_roaming_status"),
    ("telecom", "user", "assert_mobile_data_saver_mode_status"),
    ("telecom", "user", "assert_internet_speed"),
    ("telecom", "user", "assert_internet_not_excellent"),
    ("telecom", "user", "assert_can_send_mms"),
    ("telecom", "user", "assert_mobile_data_usage_exceeded"),
];

/// Parameters of a function: (required, optional).
pub(crate) fn params(func: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match func {
        "assert_task_status" => (&["task_id", "expected_status"], &[]),
        "assert_number_of_tasks" => (&["user_id", "expected_number"], &[]),
        "assert_notification_status" => (&["notification_id", "expected_status"], &[]),
        "assert_data_refueling_amount" => (&["customer_id", "line_id", "expected_amount"], &[]),
        "assert_line_status" => (&["customer_id", "line_id", "expected_status"], &[]),
        "assert_overdue_bill_exists" => (&["customer_id", "overdue_bill_id"], &[]),
        "assert_no_overdue_bill" => (&["overdue_bill_id"], &[]),
        "assert_internet_speed" => (&["expected_speed"], &["expected_desc"]),
        "assert_internet_not_excellent" => (&[], &[]),
        _ => (&["expected_status"], &[]),
    }
}

/// Whether `(domain, side, func)` has a translation.
pub(crate) fn supported(domain: &str, side: &str, func: &str) -> bool {
    SUPPORTED_ASSERTIONS.iter().any(|&(d, s, f)| d == domain && s == side && f == func)
}

const MOCK: &str = r#"
def _a_assert_task_status(db, args):
    tasks = db["tasks"]
    k = args["task_id"]
    if k not in tasks:
        fail("Task %s not found" % (k,))
    return _py_eq(tasks[k]["status"], args["expected_status"])

def _a_assert_number_of_tasks(db, args):
    users = db["users"]
    k = args["user_id"]
    if k not in users:
        fail("User %s not found" % (k,))
    return _py_eq(len(users[k]["tasks"]), args["expected_number"])

def _a_assert_notification_status(db, args):
    notes = db["notifications"]
    k = args["notification_id"]
    if k not in notes:
        fail("Notification %s not found" % (k,))
    return _py_eq(notes[k]["status"], args["expected_status"])
"#;

const TELECOM: &str = r#"
def _tc_customer(db, cid):
    for c in db["customers"]:
        if type(cid) == "string" and c["customer_id"] == cid:
            return c
    fail("Customer with ID %s not found" % (cid,))

def _tc_line(db, lid):
    for l in db["lines"]:
        if type(lid) == "string" and l["line_id"] == lid:
            return l
    fail("Line with ID %s not found" % (lid,))

def _tc_bill(db, bid):
    for b in db["bills"]:
        if type(bid) == "string" and b["bill_id"] == bid:
            return b
    return None

def _tc_target_line(db, cid, lid):
    c = _tc_customer(db, cid)
    if type(lid) != "string" or lid not in c["line_ids"]:
        fail("Line %s not found for customer %s" % (lid, cid))
    return _tc_line(db, lid)

def _tc_num(v, what):
    if type(v) == "bool":
        return 1.0 if v else 0.0
    if type(v) == "int" or type(v) == "float":
        return float(v)
    fail(what)

def _tc_data_working(u):
    d = u["device"]
    s = u["surroundings"]
    if d["airplane_mode"] or d["network_signal_strength"] == "none":
        return False
    if d["network_connection_status"] == "no_service":
        return False
    if s["is_abroad"] and (not d["roaming_enabled"] or not s["roaming_allowed"]):
        return False
    if not d["data_enabled"]:
        return False
    return not s["mobile_data_usage_exceeded"]

def _tc_speed(u):
    if not _tc_data_working(u):
        return (None, "No Connection")
    d = u["device"]
    vpn = d["vpn_details"]
    vpn_poor = bool(d["vpn_connected"]) and vpn != None and type(vpn) == "dict" and vpn.get("server_performance") == "poor"
    key = "%s|%s|%s|%s" % (d["network_technology_connected"], d["network_signal_strength"], vpn_poor, bool(d["data_saver_mode"]))
    return _TC_SPEED.get(key, (0.0, "Very Poor"))

def _tc_can_send_mms(u):
    if not _tc_data_working(u):
        return False
    d = u["device"]
    if d["network_technology_connected"] == "2G":
        return False
    if d["wifi_calling_enabled"] and d["wifi_calling_mms_over_wifi"]:
        return False
    apn = d["active_apn_settings"]
    if type(apn) != "dict":
        fail("'%s' object has no attribute 'mmsc_url'" % type(apn))
    if apn.get("mmsc_url") == None:
        return False
    apps = d["app_statuses"]
    if "messaging" not in apps:
        return False
    p = apps["messaging"]["permissions"]
    return bool(p["storage"] and p["sms"])

def _a_assert_data_refueling_amount(db, args):
    line = _tc_target_line(db, args["customer_id"], args["line_id"])
    e = _tc_num(args["expected_amount"], "unsupported operand type(s) for -: 'float' and '%s'" % type(args["expected_amount"]))
    diff = line["data_refueling_gb"] - e
    if diff < 0:
        diff = -diff
    return diff < 1e-6

def _a_assert_line_status(db, args):
    line = _tc_target_line(db, args["customer_id"], args["line_id"])
    return type(args["expected_status"]) == "string" and line["status"] == args["expected_status"]

def _a_assert_overdue_bill_exists(db, args):
    c = _tc_customer(db, args["customer_id"])
    bid = args["overdue_bill_id"]
    if type(bid) != "string" or bid not in c["bill_ids"]:
        fail("Overdue bill %s not found" % (bid,))
    b = _tc_bill(db, bid)
    if b == None:
        fail("Bill with ID %s not found" % (bid,))
    if b["status"] != "Overdue":
        fail("Overdue bill %s is not overdue" % (bid,))
    return True

def _a_assert_no_overdue_bill(db, args):
    b = _tc_bill(db, args["overdue_bill_id"])
    if b == None:
        return True
    return b["status"] == "Paid"

def _a_assert_airplane_mode_status(u, args):
    return _py_eq(u["device"]["airplane_mode"], args["expected_status"])

def _a_assert_service_status(u, args):
    v = args["expected_status"]
    if type(v) != "string" or v not in ["connected", "searching", "no_service", "emergency_only"]:
        fail("%r is not a valid NetworkStatus" % (v,))
    return u["device"]["network_connection_status"] == v

def _a_assert_mobile_data_status(u, args):
    return _py_eq(_tc_data_working(u), args["expected_status"])

def _a_assert_mobile_roaming_status(u, args):
    return _py_eq(u["device"]["roaming_enabled"], args["expected_status"])

def _a_assert_mobile_data_saver_mode_status(u, args):
    return _py_eq(u["device"]["data_saver_mode"], args["expected_status"])

def _a_assert_internet_speed(u, args):
    speed, desc = _tc_speed(u)
    if speed == None:
        speed = 0.0
    e = args["expected_speed"]
    e = _tc_num(e, "'>=' not supported between instances of 'float' and '%s'" % type(e))
    ed = args.get("expected_desc")
    if ed == None:
        return speed >= e
    if type(ed) != "string":
        fail("'%s' object has no attribute 'lower'" % type(ed))
    return speed >= e and desc.lower() == ed.lower()

def _a_assert_internet_not_excellent(u, args):
    return _tc_speed(u)[1] != "Excellent"

def _a_assert_can_send_mms(u, args):
    return _py_eq(_tc_can_send_mms(u), args["expected_status"])

def _a_assert_mobile_data_usage_exceeded(u, args):
    return _py_eq(u["surroundings"]["mobile_data_usage_exceeded"], args["expected_status"])
"#;

/// `round(x, 2)` as the telecom plugin computes it.
fn round2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.2}").parse().unwrap_or(x)
}

/// The speed-test table: `"tech|signal|vpn_poor|saver"` → `(speed, description)`, for every
/// known technology and signal (anything else is speed 0.0, "Very Poor").
fn speed_table() -> String {
    let techs = [("2G", 0.1, 0.4), ("3G", 1.0, 5.0), ("4G", 10.0, 100.0), ("5G", 50.0, 500.0)];
    let signals = [("poor", 0.2), ("fair", 0.5), ("good", 0.8), ("excellent", 1.0)];
    let mut out = String::from("_TC_SPEED = {\n");
    for (tech, lo, hi) in techs {
        for (sig, sf) in signals {
            for vpn_poor in [false, true] {
                for saver in [false, true] {
                    let mut base: f64 = if vpn_poor { 0.1 } else { 1.0 };
                    if saver {
                        base *= 0.2;
                    }
                    let speed = round2((lo + hi) / 2.0 * sf * base);
                    let desc = if speed < 1.0 {
                        "Very Poor"
                    } else if speed < 5.0 {
                        "Poor"
                    } else if speed < 25.0 {
                        "Fair"
                    } else if speed < 100.0 {
                        "Good"
                    } else {
                        "Excellent"
                    };
                    let py_bool = |b: bool| if b { "True" } else { "False" };
                    let _ = writeln!(
                        out,
                        "    \"{tech}|{sig}|{}|{}\": ({}, \"{desc}\"),",
                        py_bool(vpn_poor),
                        py_bool(saver),
                        super::emit::lit(&serde_json::json!(speed))
                    );
                }
            }
        }
    }
    out.push_str("}\n");
    out
}

/// The helper definitions a program needs for the functions it uses (`domain` selects the
/// set), and the dispatch table `_ASSERT_FUNCS`.
pub(crate) fn helpers(domain: &str, used: &[String]) -> String {
    if used.is_empty() {
        return "_ASSERT_FUNCS = {}\n".into();
    }
    let mut out = String::new();
    match domain {
        "mock" => out.push_str(MOCK),
        "telecom" => {
            out.push_str(&speed_table());
            out.push_str(TELECOM);
        }
        _ => {}
    }
    out.push_str("\n_ASSERT_FUNCS = {\n");
    for f in used {
        let _ = writeln!(out, "    \"{f}\": _a_{f},");
    }
    out.push_str("}\n");
    out
}
