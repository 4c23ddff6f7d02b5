//! The evaluator reproduces the rewards of the reference's golden evaluator records
//! (`../shared/golden/<domain>/evals.jsonl`), scoring through the domains' WASM plugins:
//! the full `reward_info` JSON is compared, key order and int/float included.

use std::collections::HashMap;
use std::path::PathBuf;

use eigenbox_episode::WasmDomainEnv;
use eigenbox_eval::{json_differences, read_golden_evals, record_id, Evaluator, UNSYNCED_FALLBACK_NOTE};
use eigenbox_tau2::{TaskSet, TaskVersion};
use eigenbox_tests::{domain_plugin, runtime, workspace_root};
use serde_json::Value;

/// The golden evals of a domain: the shared copy, else the one shipped with the plugin.
fn golden_evals(domain: &str) -> PathBuf {
    [workspace_root().join("../shared/golden").join(domain), workspace_root().join("plugins").join(domain).join("data/golden")]
        .into_iter()
        .map(|d| d.join("evals.jsonl"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no evals.jsonl for {domain} (looked in ../shared/golden/{domain} and plugins/{domain}/data/golden)"))
}

struct Outcome {
    reproduced: usize,
    skipped: usize,
    /// Records whose only difference is the DB check, scored while the domain could not run
    /// the gold environment's reference actions without its post-call sync.
    synced_db_check_only: usize,
    failures: Vec<String>,
}

/// Scores every record of `domain` through its WASM plugin. With `tolerate_synced_db_check`, a
/// record whose evaluation says the gold environment ran with sync (see
/// [`UNSYNCED_FALLBACK_NOTE`]) may differ in `db_check` alone; everything else, the reward
/// included, must still be identical.
fn reproduce(domain: &str, tolerate_synced_db_check: bool) -> Outcome {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let host = runtime("");
    let component = domain_plugin(&host, domain);
    let handle = rt.handle().clone();
    let mut evaluator = Evaluator::new(|| WasmDomainEnv::new(&handle, component.clone()).map_err(Into::into));
    let data = workspace_root().join("plugins").join(domain).join("data");
    let mut sets = HashMap::new();
    let mut out = Outcome { reproduced: 0, skipped: 0, synced_db_check_only: 0, failures: Vec::new() };
    for g in read_golden_evals(&golden_evals(domain)).unwrap() {
        let rec = &g.record;
        if rec.generation_error.is_some() {
            out.skipped += 1;
            continue;
        }
        let version = TaskVersion::parse(rec.version.as_deref().unwrap_or("v1.0")).unwrap();
        let tasks = sets.entry(version).or_insert_with(|| TaskSet::load(&data, version, None).unwrap());
        let task = tasks.get(&rec.task_id).unwrap_or_else(|| panic!("no task {}", rec.task_id));
        let termination = rec.termination().unwrap().unwrap();
        let evaluation = match evaluator.evaluate(task, &rec.messages().unwrap(), termination) {
            Ok(e) => e,
            Err(e) => {
                out.failures.push(format!("[{domain}] {}: evaluation failed: {e}", record_id(rec)));
                continue;
            }
        };
        let actual = evaluation.reward_info.to_json();
        let mut diffs = json_differences(&g.expected, &actual, 12);
        if !diffs.is_empty() && tolerate_synced_db_check && evaluation.notes.iter().any(|n| n == UNSYNCED_FALLBACK_NOTE) {
            let without_db_check = |v: &Value| {
                let mut v = v.clone();
                if let Some(o) = v.as_object_mut() {
                    o.shift_remove("db_check");
                }
                v
            };
            if json_differences(&without_db_check(&g.expected), &without_db_check(&actual), 12).is_empty() {
                out.synced_db_check_only += 1;
                diffs.clear();
            }
        }
        if diffs.is_empty() {
            out.reproduced += 1;
        } else {
            out.failures.push(format!("[{domain}] {}\n  - {}", record_id(rec), diffs.join("\n  - ")));
        }
    }
    out
}

fn assert_all_reproduced(domain: &str, at_least: usize) {
    let o = reproduce(domain, false);
    assert!(o.failures.is_empty(), "{} of {} records differ:\n{}", o.failures.len(), o.reproduced + o.failures.len(), o.failures.join("\n"));
    assert!(o.reproduced >= at_least, "only {} records reproduced ({} skipped)", o.reproduced, o.skipped);
}

#[test]
fn mock_rewards_match_the_reference() {
    assert_all_reproduced("mock", 45);
}

#[test]
fn airline_rewards_match_the_reference() {
    assert_all_reproduced("airline", 108);
}

#[test]
fn retail_rewards_match_the_reference() {
    assert_all_reproduced("retail", 134);
}

/// Exact for every telecom record: τ²'s gold environment runs the reference actions with
/// `make_tool_call`, which skips telecom's `sync_tools`; the domain export
/// `call-tool-unsynced` does the same (34 of the 121 `db_check`s depend on it).
#[test]
fn telecom_rewards_match_the_reference_exactly() {
    assert_all_reproduced("telecom", 121);
}

#[test]
fn telecom_rewards_and_all_checks_but_the_synced_db_check_match_the_reference() {
    let o = reproduce("telecom", true);
    assert!(o.failures.is_empty(), "{} records differ:\n{}", o.failures.len(), o.failures.join("\n"));
    assert!(o.reproduced >= 121, "only {} records reproduced ({} skipped)", o.reproduced, o.skipped);
    eprintln!("telecom: {} of {} records differ only in db_check (gold environment run with sync)", o.synced_db_check_only, o.reproduced);
}
