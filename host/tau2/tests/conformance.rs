mod common;

use std::path::{Path, PathBuf};

use common::{Bugs, FakeMock};
use eigenbox_tau2::*;
use serde_json::{json, Value};

fn shared() -> Option<(PathBuf, PathBuf)> {
    let g = PathBuf::from("/work/shared/golden/mock");
    let d = PathBuf::from("/work/shared/tau2/data/mock");
    if g.is_dir() && d.is_dir() {
        Some((g, d))
    } else {
        eprintln!("NOTICE: /work/shared absent, skipping");
        None
    }
}

#[test]
fn fake_mock_passes_real_golden_vectors() {
    let Some((g, d)) = shared() else { return };
    let report = run_conformance(&g, &d, || Ok::<_, String>(FakeMock::new(Bugs::default()))).expect("run");
    println!("{report}");
    let r = &report.domains[0];
    assert_eq!(r.domain, "mock");
    assert_eq!(r.counts(Category::Tools).passed, 6);
    assert_eq!(r.counts(Category::InitialHashes).passed, 1);
    assert_eq!(r.counts(Category::Replays).passed + r.counts(Category::Replays).failed, 19);
    assert_eq!(r.counts(Category::Probes).passed + r.counts(Category::Probes).failed, 33);
    assert!(report.is_success(), "{report}");
    assert!(report.to_string().ends_with(&format!("{} passed, 0 failed", report.passed())));
}

#[test]
fn defects_are_reported_with_diffs() {
    let Some((g, d)) = shared() else { return };
    let bugs = Bugs { wrong_response: true, hash_ignores_status: true, wrong_schema: true };
    let report = run_conformance(&g, &d, || Ok::<_, String>(FakeMock::new(bugs))).expect("run");
    let text = report.to_string();
    println!("{text}");
    let r = &report.domains[0];
    assert_eq!(r.counts(Category::Tools).failed, 1);
    assert!(r.counts(Category::Replays).failed > 0);
    assert!(r.counts(Category::Probes).failed > 0);
    let schema = report.failures().find(|f| f.category == Category::Tools).expect("schema failure");
    assert!(schema.id.contains("get_users") && schema.problems[0].contains(".function.description"), "{schema}");
    let replay = report
        .failures()
        .find(|f| f.category == Category::Replays && f.id == "v1.0/update_task_1")
        .expect("replay failure");
    let all = replay.problems.join("\n");
    assert!(all.contains("response differs: first difference at char"), "{all}");
    assert!(all.contains("agent DB hash first diverged at call #0 `update_task_status`"), "{all}");
    // The message-history replay of a mutating call compares decoded JSON: a wrong
    // update_task_status does not affect create_task replays, so that task's init passes.
    assert!(text.ends_with(&format!("{} passed, {} failed", report.passed(), report.failed())));
    assert!(report.failed() > 0);
}

fn tool_json(t: &ToolSpec) -> Value {
    t.to_openai()
}

/// A synthetic golden folder written from the fake itself, then perturbed.
#[test]
fn synthetic_golden_pass_and_fail() {
    let tmp = tempfile::tempdir().expect("tmp");
    let g = tmp.path().join("golden");
    let d = tmp.path().join("data");
    std::fs::create_dir_all(&g).expect("mkdir");
    std::fs::create_dir_all(&d).expect("mkdir");
    let mut env = FakeMock::new(Bugs::default());
    let tools = env.tools().expect("tools");
    let h = |env: &mut FakeMock, s| env.state_hash(s).expect("hash");
    let tools_json = json!({
        "domain": "mock",
        "agent_tools": tools.iter().filter(|t| t.requestor == Requestor::Assistant).map(tool_json).collect::<Vec<_>>(),
        "user_tools": tools.iter().filter(|t| t.requestor == Requestor::User).map(tool_json).collect::<Vec<_>>(),
        "initial_agent_db_hash": h(&mut env, Requestor::Assistant),
        "initial_user_db_hash": h(&mut env, Requestor::User),
    });
    std::fs::write(g.join("tools.json"), tools_json.to_string()).expect("write");

    // A task with a message history (compact recorded JSON, as in the real files) and an
    // env assertion.
    let task = json!({"id": "t1", "user_scenario": {"instructions": "do it"},
        "initial_state": {"message_history": [
            {"role": "assistant", "tool_calls": [{"id": "c1", "name": "create_task", "arguments": {"user_id": "user_1", "title": "T"}}]},
            {"role": "tool", "id": "c1", "content": "{\"task_id\":\"task_2\",\"title\":\"T\",\"description\":null,\"status\":\"pending\"}"},
            {"role": "assistant", "tool_calls": [{"id": "c2", "name": "get_users", "arguments": {}}, {"id": "c3", "name": "hallucinated", "arguments": {}}]},
            {"role": "tool", "id": "c2", "content": "whatever: read-only tools are not replayed"},
            {"role": "tool", "id": "c3", "content": "Error: Tool 'hallucinated' not found.", "error": true}
        ]},
        "evaluation_criteria": {"actions": [{"action_id": "a", "name": "update_task_status", "arguments": {"task_id": "task_2", "status": "completed"}}],
            "env_assertions": [{"env_type": "assistant", "func_name": "assert_task_status", "arguments": {"task_id": "task_2", "expected_status": "completed"}}]}});
    std::fs::write(d.join("tasks.json"), json!([task]).to_string()).expect("write");
    let task: Task = serde_json::from_value(task).expect("task");

    let mut env = FakeMock::new(Bugs::default());
    let outcome = initialise_episode(&mut env, Some(&task), true).expect("init");
    assert_eq!((outcome.executed, outcome.skipped_read_only, outcome.skipped_unknown), (1, 1, 1));
    let init_a = h(&mut env, Requestor::Assistant);
    let init_u = h(&mut env, Requestor::User);
    let args = json!({"task_id": "task_2", "status": "completed"});
    let (resp, err) = env.call_tool(Requestor::Assistant, "update_task_status", &args).expect("call");
    let after_a = h(&mut env, Requestor::Assistant);
    let replay = json!({"domain": "mock", "version": "v0.2.0", "task_id": "t1", "split": "none",
        "initial_agent_db_hash": init_a, "initial_user_db_hash": init_u,
        "calls": [{"name": "update_task_status", "requestor": "assistant", "arguments": args, "response": resp, "error": err,
                   "agent_db_hash_after": after_a, "user_db_hash_after": init_u}],
        "final_agent_db_hash": after_a, "final_user_db_hash": init_u,
        "env_assertions": [{"assertion": {"env_type": "assistant", "func_name": "assert_task_status",
            "arguments": {"task_id": "task_2", "expected_status": "completed"}, "assert_value": true, "message": null}, "met": true}]});
    let mut bad = replay.clone();
    bad["task_id"] = json!("missing_task");
    let mut wrong = replay.clone();
    wrong["calls"][0]["response"] = json!(resp.replace("completed", "complete"));
    wrong["env_assertions"][0]["met"] = json!(false);
    let skipped = json!({"domain": "mock", "version": "v1.0", "task_id": "t1", "generation_error": "ValueError: x"});
    let lines = [replay, bad, wrong, skipped].iter().map(Value::to_string).collect::<Vec<_>>().join("\n");
    std::fs::write(g.join("replays.jsonl"), lines).expect("write");
    let probe = json!({"id": "p1", "kind": "unknown_tool", "name": "nope", "requestor": "user", "arguments": {},
        "response": "Error: Tool 'nope' not found.", "error": true,
        "agent_db_hash_after": tools_json["initial_agent_db_hash"], "user_db_hash_after": tools_json["initial_user_db_hash"]});
    let mut probe_bad = probe.clone();
    probe_bad["id"] = json!("p2");
    probe_bad["error"] = json!(false);
    std::fs::write(g.join("probes.jsonl"), format!("{probe}\n{probe_bad}\n")).expect("write");

    let report = run_conformance(&g, &d, || Ok::<_, String>(FakeMock::new(Bugs::default()))).expect("run");
    let text = report.to_string();
    println!("{text}");
    let r = &report.domains[0];
    assert_eq!(r.counts(Category::Replays), Counts { passed: 1, failed: 2, skipped: 1 });
    assert_eq!(r.counts(Category::Probes), Counts { passed: 1, failed: 1, skipped: 0 });
    assert_eq!(r.counts(Category::Tools), Counts { passed: 6, failed: 0, skipped: 0 });
    assert!(text.contains("task `missing_task` not found"), "{text}");
    assert!(text.contains("env assertion #0 agent.assert_task_status: met: expected false, got true"), "{text}");
    assert!(text.contains("error flag: expected false, got true"), "{text}");
    assert!(text.contains("tasks.v0.2.0.json absent"), "{text}");
    assert!(text.ends_with("9 passed, 3 failed"), "{text}");

    // Strict replay: a recorded response that the domain does not reproduce is an error.
    let mut t2 = task.clone();
    if let Some(Message::Tool(tm)) = t2.initial_state.get_mut().and_then(|s| s.message_history.get_mut()).and_then(|h| h.get_mut(1)) {
        tm.content = Nullable::Value("{\"task_id\": \"task_9\"}".into());
    }
    let mut env = FakeMock::new(Bugs::default());
    match initialise_episode(&mut env, Some(&t2), true) {
        Err(e @ InitError::ReplayMismatch(_)) => assert!(e.to_string().contains("create_task"), "{e}"),
        other => panic!("{other:?}"),
    }
    let lenient = initialise_episode(&mut env, Some(&t2), false).expect("lenient");
    assert_eq!(lenient.mismatches.len(), 1);

    // Missing golden folder → typed error naming the file.
    match run_conformance(Path::new("/nonexistent/golden"), &d, || Ok::<_, String>(FakeMock::new(Bugs::default()))) {
        Err(ConformanceError::Golden(GoldenError::Io { path, .. })) => assert!(path.ends_with("tools.json")),
        other => panic!("{:?}", other.map(|r| r.to_string())),
    }
}
