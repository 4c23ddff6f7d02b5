//! The `evals` conformance category over a small native domain and a hand-written golden file.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::Kv;
use eigenbox_eval::check_evals;
use eigenbox_tau2::{Category, ConformanceError, Counts, DomainReport};
use serde_json::json;

const TASKS: &str = r#"[{"id": "set_x", "user_scenario": {"instructions": "x"},
  "evaluation_criteria": {"actions": [{"action_id": "a", "name": "set", "arguments": {"key": "x", "value": 1}}]}}]"#;

fn trajectory(with_write: bool) -> serde_json::Value {
    let mut t = vec![json!({"role": "assistant", "content": "Hi! How can I help you today?"})];
    if with_write {
        t.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c", "name": "set", "arguments": {"key": "x", "value": 1}, "requestor": "assistant"}]}));
        t.push(json!({"role": "tool", "content": "{\"ok\": true}", "tool_call_id": "c", "requestor": "assistant", "error": false}));
    }
    t.push(json!({"role": "user", "content": "Thanks! ###STOP###"}));
    json!(t)
}

/// The reference's reward_info for the gold trajectory of `set_x` (same shape as the mock
/// domain's golden records).
fn gold_reward_info() -> serde_json::Value {
    json!({"reward": 1.0, "db_check": {"db_match": true, "db_reward": 1.0}, "env_assertions": [],
           "action_checks": [{"action": {"action_id": "a", "requestor": "assistant", "name": "set", "arguments": {"key": "x", "value": 1},
                                         "info": null, "compare_args": null},
                              "action_match": true, "action_reward": 1.0, "tool_type": "write"}],
           "nl_assertions": null, "communicate_checks": null, "reward_basis": ["DB", "COMMUNICATE"],
           "reward_breakdown": {"DB": 1.0, "COMMUNICATE": 1.0},
           "info": {"env": null, "nl": null, "communicate": {"note": "No communicate_info to evaluate"}, "action": null}})
}

fn run(lines: &[serde_json::Value]) -> Result<DomainReport, ConformanceError> {
    let dir = tempfile::tempdir().unwrap();
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(dir.path().join("evals.jsonl"), text.join("\n")).unwrap();
    std::fs::write(dir.path().join("tasks.json"), TASKS).unwrap();
    let made = Rc::new(Cell::new(0));
    let mut report = DomainReport { domain: "kv".into(), ..Default::default() };
    check_evals(dir.path(), dir.path(), || Ok::<_, String>(Kv::new(true, made.clone())), &mut report)?;
    Ok(report)
}

fn record(variant: &str, termination: &str, with_write: bool, reward_info: serde_json::Value) -> serde_json::Value {
    json!({"domain": "kv", "task_id": "set_x", "variant": variant, "termination_reason": termination,
           "trajectory": trajectory(with_write), "reward_info": reward_info, "version": "v1.0"})
}

#[test]
fn matching_records_pass_and_differences_are_listed() {
    let mut wrong = gold_reward_info();
    wrong["info"]["env"] = json!({"note": "x"});
    let lines = vec![
        record("gold", "user_stop", true, gold_reward_info()),
        // Same expectation, but the trajectory lacks the write.
        record("drop_last_write", "user_stop", false, gold_reward_info()),
        record("odd_info", "user_stop", true, wrong),
        record("bad_reason", "stopped", true, gold_reward_info()),
        json!({"domain": "kv", "task_id": "set_x", "variant": "x", "generation_error": "ValueError: boom", "version": "v1.0"}),
        json!({"domain": "kv", "task_id": "nope", "variant": "gold", "termination_reason": "user_stop", "trajectory": [], "version": "v1.0"}),
        json!({"domain": "kv", "task_id": "set_x", "variant": "gold", "termination_reason": "user_stop", "trajectory": [], "version": "v9"}),
    ];
    let report = run(&lines).unwrap();
    assert_eq!(report.counts(Category::Evals), Counts { passed: 1, failed: 5, skipped: 1 });
    let problems = |id: &str| report.failures.iter().find(|f| f.id == id).map(|f| f.problems.clone()).unwrap_or_default();
    let dropped = problems("v1.0/set_x/drop_last_write");
    assert_eq!(dropped[0], "reward_info differs (reward: expected 1.0, got 0.0)");
    assert!(dropped.contains(&"$.reward: expected 1.0, got 0.0".to_string()), "{dropped:?}");
    assert!(dropped.contains(&"$.db_check.db_match: expected true, got false".to_string()), "{dropped:?}");
    assert!(dropped.contains(&"$.action_checks[0].action_match: expected true, got false".to_string()), "{dropped:?}");
    assert_eq!(problems("v1.0/set_x/odd_info")[1], r#"$.info.env: expected {"note":"x"}, got null"#);
    assert!(problems("v1.0/set_x/bad_reason")[0].contains("unknown termination reason `stopped`"));
    assert!(problems("v1.0/nope/gold")[0].contains("task `nope` not found"));
    assert!(problems("v9/set_x/gold")[0].contains("unknown task version `v9`"));
    assert!(report.notes[0].contains("reference generation error: ValueError: boom"), "{:?}", report.notes);
}

#[test]
fn the_category_prints_in_the_table() {
    let mut r = eigenbox_tau2::Report::default();
    r.domains.push(run(&[record("gold", "user_stop", true, gold_reward_info())]).unwrap());
    let text = r.to_string();
    assert!(text.contains("evals"), "{text}");
    assert!(text.ends_with("1 passed, 0 failed"), "{text}");
}

#[test]
fn a_malformed_golden_file_stops_the_run_naming_the_line() {
    let err = run(&[record("gold", "user_stop", true, gold_reward_info()), json!({"task_id": 3})]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("evals.jsonl:2"), "{text}");
}

#[test]
fn no_evals_file_checks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut report = DomainReport::default();
    let made = Rc::new(Cell::new(0));
    check_evals(dir.path(), dir.path(), || Ok::<_, String>(Kv::new(true, made.clone())), &mut report).unwrap();
    assert!(report.counts.is_empty());
    assert_eq!(made.get(), 0);
}
