//! Each rule of the evaluator against a small native domain (see `common`).

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::{call, dialogue, msgs, task, Kv};
use eigenbox_eval::{
    EvalConfig, EvalError, EvaluationType, Evaluator, Judge, JudgeError, NlAssertionCheck, NlStatus, Which,
    UNSYNCED_FALLBACK_NOTE,
};
use eigenbox_tau2::{Message, TerminationReason};
use serde_json::{json, Value};

type Factory = Box<dyn FnMut() -> Result<Kv, String>>;

fn evaluator_with(unsynced: bool, config: EvalConfig) -> (Evaluator<Factory>, Rc<Cell<usize>>) {
    let made = Rc::new(Cell::new(0));
    let m = made.clone();
    let f: Factory = Box::new(move || Ok(Kv::new(unsynced, m.clone())));
    (Evaluator::new(f).with_config(config), made)
}

fn evaluator() -> Evaluator<Factory> {
    evaluator_with(true, EvalConfig::default()).0
}

fn set(id: &str, key: &str, value: Value) -> Vec<Value> {
    call(id, "set", json!({"key": key, "value": value}), r#"{"ok": true}"#)
}

fn set_action(id: &str, key: &str, value: Value) -> Value {
    json!({"action_id": id, "name": "set", "arguments": {"key": key, "value": value}})
}

fn stop() -> TerminationReason {
    TerminationReason::UserStop
}

fn score(e: &mut Evaluator<Factory>, criteria: Value, trajectory: &[Message]) -> Value {
    e.evaluate(&task(criteria), trajectory, stop()).expect("evaluation").reward_info.to_json()
}

#[test]
fn only_user_and_agent_stops_are_scored() {
    let criteria = json!({"actions": [set_action("a", "x", json!(1))]});
    let t = task(criteria);
    let good = dialogue(set("c", "x", json!(1)));
    let mut e = evaluator();
    for reason in TerminationReason::ALL {
        let r = e.evaluate(&t, &good, reason).unwrap();
        if reason.is_normal_stop() {
            assert_eq!(r.reward(), Some(1.0), "{reason}");
        } else {
            assert_eq!(
                r.reward_info.to_json(),
                json!({"reward": 0.0, "db_check": null, "env_assertions": null, "action_checks": null, "nl_assertions": null,
                       "communicate_checks": null, "reward_basis": null, "reward_breakdown": null,
                       "info": {"note": format!("Simulation terminated prematurely. Termination reason: {reason}")}}),
                "{reason}"
            );
        }
    }
}

#[test]
fn a_task_without_criteria_scores_one_with_a_note() {
    let t: eigenbox_tau2::Task = serde_json::from_value(json!({"id": "t", "user_scenario": {"instructions": "x"}})).unwrap();
    let r = evaluator().evaluate(&t, &dialogue(vec![]), stop()).unwrap().reward_info.to_json();
    assert_eq!(r["reward"], json!(1.0));
    assert_eq!(r["reward_basis"], Value::Null);
    assert_eq!(r["info"], json!({"note": "No evaluation criteria"}));
}

#[test]
fn the_db_check_compares_the_replayed_trajectory_with_the_reference_actions() {
    let criteria = json!({"actions": [set_action("a", "x", json!(1)), {"action_id": "g", "name": "get", "arguments": {"key": "x"}}]});
    let mut e = evaluator();
    // Exactly the reference's writes, plus reads, a hallucinated tool and a failed write: match.
    let mut middle = call("r", "get", json!({"key": "x"}), "null");
    middle.extend(call("h", "no_such_tool", json!({}), "Error: Tool 'no_such_tool' not found."));
    middle.extend(call("f", "fail", json!({}), "Error: always fails"));
    middle.extend(set("c", "x", json!(1)));
    let r = score(&mut e, criteria.clone(), &dialogue(middle));
    assert_eq!(r["db_check"], json!({"db_match": true, "db_reward": 1.0}));
    assert_eq!(r["reward_breakdown"], json!({"DB": 1.0, "COMMUNICATE": 1.0}));
    // Missing write / other value: mismatch, reward 0.
    for traj in [dialogue(vec![]), dialogue(set("c", "x", json!(2)))] {
        let r = score(&mut e, criteria.clone(), &traj);
        assert_eq!(r["db_check"], json!({"db_match": false, "db_reward": 0.0}));
        assert_eq!(r["reward"], json!(0.0));
    }
}

#[test]
fn a_replayed_write_answering_differently_is_an_error_unless_lenient() {
    let criteria = json!({"actions": [set_action("a", "x", json!(1))]});
    let traj = dialogue(call("c", "set", json!({"key": "x", "value": 1}), r#"{"ok": false}"#));
    let err = evaluator().evaluate(&task(criteria.clone()), &traj, stop()).unwrap_err();
    assert!(matches!(err, EvalError::Replay { which: Which::Predicted, .. }), "{err}");
    assert!(err.to_string().contains("returned different content than recorded"), "{err}");
    let (mut lenient, _) = evaluator_with(true, EvalConfig { strict_replay: false, ..EvalConfig::default() });
    assert_eq!(lenient.evaluate(&task(criteria), &traj, stop()).unwrap().reward(), Some(1.0));
}

#[test]
fn unpaired_tool_messages_are_a_trajectory_error() {
    let criteria = json!({"actions": [set_action("a", "x", json!(1))]});
    let traj = msgs(json!([{"role": "assistant", "tool_calls": [{"id": "c", "name": "set", "arguments": {}}]}, {"role": "tool", "id": "other", "content": "x"}]));
    let err = evaluator().evaluate(&task(criteria), &traj, stop()).unwrap_err();
    assert!(matches!(err, EvalError::Trajectory(_)), "{err}");
    assert!(err.to_string().contains("tool call id mismatch"), "{err}");
}

#[test]
fn domain_failures_are_errors_not_rewards() {
    let criteria = json!({"actions": [{"action_id": "a", "name": "trap", "arguments": {}}]});
    let (mut e, _) = evaluator_with(false, EvalConfig::default());
    let err = e.evaluate(&task(criteria), &dialogue(vec![]), stop()).unwrap_err();
    assert!(matches!(err, EvalError::Domain { which: Which::Gold, .. }), "{err}");
    assert!(err.to_string().contains("the sandbox trapped"), "{err}");
}

#[test]
fn the_gold_environment_runs_reference_actions_without_sync_and_ignores_their_errors() {
    // Setting `status` changes what the sync mirrors into the user DB: the reference's gold
    // environment (make_tool_call, no sync) keeps the old mirror, so even the exact trajectory
    // does not match the gold DB hash; the reference records db_match = false here too.
    let criteria = json!({"actions": [{"action_id": "f", "name": "fail", "arguments": {}}, set_action("a", "status", json!("done"))],
                          "reward_basis": ["COMMUNICATE"]});
    let traj = dialogue(set("c", "status", json!("done")));
    let ev = evaluator().evaluate(&task(criteria.clone()), &traj, stop()).unwrap();
    assert_eq!(ev.reward_info.to_json()["db_check"], json!({"db_match": false, "db_reward": 0.0}));
    assert_eq!(ev.reward(), Some(1.0));
    assert!(ev.notes.is_empty(), "{:?}", ev.notes);
    // A domain that cannot run unsynced calls: call_tool, flagged in the notes.
    let (mut fallback, _) = evaluator_with(false, EvalConfig::default());
    let ev = fallback.evaluate(&task(criteria), &traj, stop()).unwrap();
    assert_eq!(ev.reward_info.to_json()["db_check"], json!({"db_match": true, "db_reward": 1.0}));
    assert_eq!(ev.notes, vec![UNSYNCED_FALLBACK_NOTE.to_string()]);
}

#[test]
fn the_gold_state_is_built_once_per_task() {
    let criteria = json!({"actions": [set_action("a", "x", json!(1))]});
    let trajs = [dialogue(set("c", "x", json!(1))), dialogue(vec![]), dialogue(set("c", "x", json!(3)))];
    let (mut cached, made_cached) = evaluator_with(true, EvalConfig::default());
    let (mut uncached, made_uncached) = evaluator_with(true, EvalConfig { cache_gold: false, ..EvalConfig::default() });
    for t in &trajs {
        let a = cached.evaluate(&task(criteria.clone()), t, stop()).unwrap();
        let b = uncached.evaluate(&task(criteria.clone()), t, stop()).unwrap();
        assert_eq!(a, b);
    }
    // 3 predicted + 1 gold + 1 for the tool kinds, against 3 + 3 + 1.
    assert_eq!((made_cached.get(), made_uncached.get()), (5, 7));
    // Another task (other reference actions) is not served from the cache.
    let other = json!({"actions": [set_action("a", "x", json!(3))]});
    assert_eq!(cached.evaluate(&task(other), &trajs[2], stop()).unwrap().reward(), Some(1.0));
}

#[test]
fn initial_state_and_actions_apply_to_both_environments() {
    let criteria = json!({"actions": [set_action("a", "x", json!(1))], "env_assertions": [
        {"env_type": "assistant", "func_name": "assert_value", "arguments": {"key": "status", "value": "from-init"}}],
        "reward_basis": ["DB", "ENV_ASSERTION"]});
    let mut t = task(criteria);
    t.initial_state = serde_json::from_value(json!({
        "initialization_data": {"agent_data": {"seed": 7}},
        "initialization_actions": [{"env_type": "assistant", "func_name": "set_status", "arguments": {"status": "from-init"}}]
    }))
    .unwrap();
    let r = evaluator().evaluate(&t, &dialogue(set("c", "x", json!(1))), stop()).unwrap().reward_info.to_json();
    assert_eq!(r["db_check"]["db_match"], json!(true));
    assert_eq!(r["env_assertions"][0]["met"], json!(true));
}

#[test]
fn env_assertions_run_on_the_predicted_environment() {
    let a = |key: &str, value: Value, assert_value: Option<bool>| {
        let mut v = json!({"env_type": "assistant", "func_name": "assert_value", "arguments": {"key": key, "value": value}});
        if let Some(b) = assert_value {
            v["assert_value"] = json!(b);
        }
        v
    };
    let criteria = json!({"env_assertions": [a("x", json!(1), None), a("x", json!(2), Some(false)), a("x", json!(2), None)],
                          "reward_basis": ["ENV_ASSERTION"]});
    let r = score(&mut evaluator(), criteria, &dialogue(set("c", "x", json!(1))));
    let met: Vec<&Value> = r["env_assertions"].as_array().unwrap().iter().map(|c| &c["met"]).collect();
    assert_eq!(met, vec![&json!(true), &json!(true), &json!(false)]);
    assert_eq!(r["env_assertions"][1]["env_assertion"]["assert_value"], json!(false));
    assert_eq!(r["env_assertions"][0]["env_assertion"]["message"], Value::Null);
    assert_eq!(r["reward_breakdown"], json!({"ENV_ASSERTION": 0.0}));
    // No reference actions but assertions: the DB check still runs (gold = initial state).
    assert_eq!(r["db_check"], json!({"db_match": false, "db_reward": 0.0}));
    assert_eq!(r["action_checks"], Value::Null);
    assert_eq!(r["info"]["action"], json!({"note": "No actions to evaluate"}));
}

#[test]
fn failing_or_non_boolean_assertion_functions_are_errors() {
    let mk = |f: &str| json!({"env_assertions": [{"env_type": "assistant", "func_name": f, "arguments": {}}]});
    let err = evaluator().evaluate(&task(mk("count")), &dialogue(vec![]), stop()).unwrap_err();
    assert!(matches!(&err, EvalError::AssertionNotBool { returned, .. } if returned == &json!(1)), "{err}");
    assert!(err.to_string().contains("returned 1 instead of bool"), "{err}");
    let err = evaluator().evaluate(&task(mk("nope")), &dialogue(vec![]), stop()).unwrap_err();
    assert!(matches!(err, EvalError::EnvAssertion { index: 0, .. }), "{err}");
    assert!(err.to_string().contains("has no attribute 'nope'"), "{err}");
}

#[test]
fn without_actions_or_assertions_the_db_check_is_trivially_met() {
    let r = score(&mut evaluator(), json!({"communicate_info": []}), &dialogue(set("c", "x", json!(5))));
    assert_eq!(r["db_check"], json!({"db_match": true, "db_reward": 1.0}));
    assert_eq!(r["env_assertions"], Value::Null);
    assert_eq!(
        r["info"],
        json!({"env": {"note": "No expected actions or env assertions"}, "nl": null,
               "communicate": {"note": "No communicate_info to evaluate"}, "action": {"note": "No actions to evaluate"}})
    );
}

#[test]
fn action_checks_compare_names_and_arguments_like_the_reference() {
    let action = |args: Value, compare: Value| {
        let mut a = json!({"action_id": "a", "name": "set", "arguments": args});
        if !compare.is_null() {
            a["compare_args"] = compare;
        }
        json!({"actions": [a], "reward_basis": ["ACTION"]})
    };
    let cases = [
        // compare_args absent: the call's own arguments are compared (a left-out one is not).
        (action(json!({"key": "x", "value": 1, "note": "n"}), Value::Null), json!({"key": "x", "value": 1}), true),
        // Python equality: 1 == 1.0.
        (action(json!({"key": "x", "value": 1}), Value::Null), json!({"key": "x", "value": 1.0}), true),
        (action(json!({"key": "x", "value": 1}), Value::Null), json!({"key": "x", "value": 2}), false),
        // An extra argument in the call is compared too.
        (action(json!({"key": "x", "value": 1}), Value::Null), json!({"key": "x", "value": 1, "extra": 0}), false),
        // compare_args: only those.
        (action(json!({"key": "x", "value": 1}), json!(["key"])), json!({"key": "x", "value": 9}), true),
        (action(json!({"key": "x", "value": 1}), json!(["key", "value"])), json!({"key": "x"}), false),
        // Empty compare_args: the name alone.
        (action(json!({"key": "x"}), json!([])), json!({"key": "zzz", "value": 0}), true),
    ];
    let mut e = evaluator_with(true, EvalConfig { evaluation_type: EvaluationType::Action, ..EvalConfig::default() }).0;
    for (criteria, args, expected) in cases {
        let traj = dialogue(call("c", "set", args.clone(), r#"{"ok": true}"#));
        let r = score(&mut e, criteria.clone(), &traj);
        assert_eq!(r["action_checks"][0]["action_match"], json!(expected), "{criteria} vs {args}");
        assert_eq!(r["reward"], json!(if expected { 1.0 } else { 0.0 }));
        // ACTION evaluation alone keeps the model's default basis.
        assert_eq!(r["reward_basis"], json!(["DB"]));
    }
}

#[test]
fn action_checks_see_user_tool_calls_and_report_tool_kinds() {
    let criteria = json!({"actions": [
        {"action_id": "u", "requestor": "user", "name": "toggle", "arguments": {}},
        {"action_id": "g", "name": "get", "arguments": {"key": "x"}},
        {"action_id": "h", "name": "hallucinated", "arguments": {}}], "reward_basis": ["ACTION"]});
    let traj = dialogue(vec![
        json!({"role": "user", "content": null, "tool_calls": [{"id": "c", "name": "toggle", "arguments": {}, "requestor": "user"}]}),
        json!({"role": "tool", "id": "c", "content": "light is now on", "requestor": "user"}),
    ]);
    let r = score(&mut evaluator(), criteria, &traj);
    let checks = r["action_checks"].as_array().unwrap();
    assert_eq!(checks.iter().map(|c| c["action_match"].clone()).collect::<Vec<_>>(), vec![json!(true), json!(false), json!(false)]);
    assert_eq!(checks.iter().map(|c| c["tool_type"].clone()).collect::<Vec<_>>(), vec![json!("write"), json!("read"), Value::Null]);
    assert_eq!(checks[0]["action"], json!({"action_id": "u", "requestor": "user", "name": "toggle", "arguments": {}, "info": null, "compare_args": null}));
    // The user's write reached the user DB of the predicted environment; the gold one has it too.
    assert_eq!(r["db_check"]["db_match"], json!(true));
}

#[test]
fn communicate_checks_follow_the_substring_rule() {
    let criteria = json!({"communicate_info": ["1,000", "Total: $12", "refund"], "reward_basis": ["COMMUNICATE"]});
    let traj = msgs(json!([
        {"role": "user", "content": "refund please"},
        {"role": "assistant", "content": "   "},
        {"role": "assistant", "content": "Your TOTAL: $1,2 today."},
        {"role": "assistant", "content": "It costs 1,000 dollars"}
    ]));
    let r = score(&mut evaluator(), criteria, &traj);
    assert_eq!(
        r["communicate_checks"],
        json!([
            // Commas are removed from messages, not from the required text.
            {"info": "1,000", "met": false, "justification": "Information '1,000' not communicated."},
            {"info": "Total: $12", "met": true, "justification": "Information 'Total: $12' communicated in the message:\n 'Your TOTAL: $1,2 today.'"},
            // Only assistant messages count.
            {"info": "refund", "met": false, "justification": "Information 'refund' not communicated."}
        ])
    );
    assert_eq!(r["reward"], json!(0.0));
    assert_eq!(r["reward_breakdown"], json!({"COMMUNICATE": 0.0}));
}

#[test]
fn the_reward_is_the_product_over_the_basis_in_the_references_order() {
    let criteria = json!({"actions": [set_action("a", "x", json!(1))], "communicate_info": ["done"],
                          "reward_basis": ["COMMUNICATE", "ACTION", "DB"]});
    let mut e = evaluator();
    let good = dialogue([set("c", "x", json!(1)), vec![json!({"role": "assistant", "content": "Done."})]].concat());
    let r = score(&mut e, criteria.clone(), &good);
    assert_eq!(r["reward"], json!(1.0));
    assert_eq!(r["reward_basis"], json!(["COMMUNICATE", "ACTION", "DB"]));
    assert_eq!(r["reward_breakdown"], json!({"DB": 1.0, "ACTION": 1.0, "COMMUNICATE": 1.0}));
    assert_eq!(serde_json::to_string(&r["reward_breakdown"]).unwrap(), r#"{"DB":1.0,"ACTION":1.0,"COMMUNICATE":1.0}"#);
    // Not communicated: only that component drops.
    let silent = dialogue(set("c", "x", json!(1)));
    let r = score(&mut e, criteria, &silent);
    assert_eq!(r["reward"], json!(0.0));
    assert_eq!(r["reward_breakdown"], json!({"DB": 1.0, "ACTION": 1.0, "COMMUNICATE": 0.0}));
    // Components outside the basis are reported but do not count.
    let r = score(&mut e, json!({"actions": [set_action("a", "x", json!(1))], "communicate_info": ["done"]}), &dialogue(vec![]));
    assert_eq!(r["reward_basis"], json!(["DB", "COMMUNICATE"]));
    assert_eq!(r["action_checks"][0]["action_match"], json!(false));
    assert_eq!(r["reward_breakdown"], json!({"DB": 0.0, "COMMUNICATE": 0.0}));
}

#[test]
fn ignore_basis_multiplies_everything() {
    let criteria = json!({"actions": [set_action("a", "x", json!(1))], "communicate_info": ["done"], "reward_basis": ["DB"]});
    let traj = dialogue(set("c", "x", json!(1)));
    let mut e = evaluator_with(true, EvalConfig { evaluation_type: EvaluationType::AllIgnoreBasis, ..EvalConfig::default() }).0;
    let r = score(&mut e, criteria.clone(), &traj);
    assert_eq!(r["reward"], json!(0.0));
    assert_eq!(r["reward_basis"], json!(["DB", "ENV_ASSERTION", "ACTION", "COMMUNICATE"]));
    assert_eq!(r["reward_breakdown"], json!({"DB": 1.0, "ACTION": 1.0, "COMMUNICATE": 0.0}));
    let mut env_only = evaluator_with(true, EvalConfig { evaluation_type: EvaluationType::Env, ..EvalConfig::default() }).0;
    let r = score(&mut env_only, criteria, &traj);
    assert_eq!((r["reward"].clone(), r["reward_basis"].clone(), r["info"].clone()), (json!(1.0), json!(["DB"]), Value::Null));
}

struct FixedJudge(Result<Vec<bool>, JudgeError>, Vec<Vec<String>>);

impl Judge for FixedJudge {
    fn judge(&mut self, _: &[Message], nl: &[String]) -> Result<Vec<NlAssertionCheck>, JudgeError> {
        self.1.push(nl.to_vec());
        let met = self.0.clone()?;
        Ok(nl.iter().zip(met).map(|(a, m)| NlAssertionCheck { nl_assertion: a.clone(), met: m, justification: "j".into() }).collect())
    }
}

#[test]
fn nl_assertions_without_a_judge_are_not_evaluated_never_scored() {
    let criteria = json!({"actions": [set_action("a", "x", json!(1))], "nl_assertions": ["polite", "brief"], "reward_basis": ["DB", "NL_ASSERTION"]});
    let traj = dialogue(set("c", "x", json!(1)));
    let ev = evaluator().evaluate(&task(criteria.clone()), &traj, stop()).unwrap();
    assert_eq!(ev.reward(), None);
    assert_eq!(ev.nl, NlStatus::NotEvaluated { assertions: vec!["polite".into(), "brief".into()], in_reward: true });
    let r = ev.reward_info.to_json();
    assert_eq!(r["nl_assertions"], Value::Null);
    assert_eq!(r["info"]["nl"]["note"], json!("NL assertions not evaluated: no judge configured"));
    assert_eq!(r["reward_breakdown"], json!({"DB": 1.0}));

    // With a judge: graded, and part of the product.
    for (verdicts, reward) in [(vec![true, true], 1.0), (vec![true, false], 0.0)] {
        let mut e = evaluator().with_judge(Box::new(FixedJudge(Ok(verdicts), Vec::new())));
        let ev = e.evaluate(&task(criteria.clone()), &traj, stop()).unwrap();
        assert_eq!((ev.reward(), &ev.nl), (Some(reward), &NlStatus::Evaluated));
        let r = ev.reward_info.to_json();
        assert_eq!(r["reward_breakdown"], json!({"DB": 1.0, "NL_ASSERTION": reward}));
        assert_eq!(r["nl_assertions"][1], json!({"nl_assertion": "brief", "met": reward == 1.0, "justification": "j"}));
    }
    // A failing judge is an error.
    let mut e = evaluator().with_judge(Box::new(FixedJudge(Err(JudgeError::Call("timeout".into())), Vec::new())));
    let err = e.evaluate(&task(criteria), &traj, stop()).unwrap_err();
    assert!(matches!(err, EvalError::Judge(_)), "{err}");
}

#[test]
fn forced_nl_grading_outside_the_basis_leaves_the_reward_alone() {
    let criteria = json!({"actions": [set_action("a", "x", json!(1))], "nl_assertions": ["polite"], "reward_basis": ["DB"]});
    let traj = dialogue(set("c", "x", json!(1)));
    // Default (ALL): not needed, not run.
    let ev = evaluator().evaluate(&task(criteria.clone()), &traj, stop()).unwrap();
    assert_eq!((ev.reward(), &ev.nl), (Some(1.0), &NlStatus::NotRequested));
    // ALL_WITH_NL_ASSERTIONS without a judge: reported, reward still defined.
    let cfg = EvalConfig { evaluation_type: EvaluationType::AllWithNlAssertions, ..EvalConfig::default() };
    let ev = evaluator_with(true, cfg).0.evaluate(&task(criteria.clone()), &traj, stop()).unwrap();
    assert_eq!(ev.reward(), Some(1.0));
    assert!(matches!(ev.nl, NlStatus::NotEvaluated { in_reward: false, .. }));
    // With a judge that fails the assertion: reported, not multiplied.
    let ev = evaluator_with(true, cfg).0.with_judge(Box::new(FixedJudge(Ok(vec![false]), Vec::new()))).evaluate(&task(criteria), &traj, stop()).unwrap();
    assert_eq!(ev.reward(), Some(1.0));
    assert_eq!(ev.reward_info.to_json()["nl_assertions"][0]["met"], json!(false));
    // A task with no NL assertions needs no judge.
    let ev = evaluator_with(true, cfg).0.evaluate(&task(json!({"reward_basis": ["NL_ASSERTION"]})), &traj, stop()).unwrap();
    assert_eq!((ev.reward(), &ev.nl), (Some(1.0), &NlStatus::Evaluated));
    assert_eq!(ev.reward_info.to_json()["nl_assertions"], json!([]));
}
