use std::path::{Path, PathBuf};

use eigenbox_tau2::*;
use serde_json::{json, Value};

fn data_root() -> Option<PathBuf> {
    let p = PathBuf::from("/work/shared/tau2/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("NOTICE: /work/shared/tau2/data absent, skipping");
        None
    }
}

#[test]
fn every_task_file_loads_and_round_trips() {
    let Some(root) = data_root() else { return };
    let mut seen = 0;
    for domain in ["mock", "airline", "retail", "telecom"] {
        let dir = root.join(domain);
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if !(name.starts_with("tasks") && name.ends_with(".json")) {
                continue;
            }
            let original: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
            let file = load_task_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!file.tasks().is_empty(), "{name}");
            let back = serde_json::to_value(&file).expect("serialize");
            // Equal as JSON values (key order is not information; hand-written files do not
            // always follow the model's field order).
            if original != back {
                panic!("{} does not round-trip: {:?}", path.display(), json_diff_ordered(&original, &back));
            }
            // Plans build for every task.
            for t in file.tasks() {
                plan_episode(t).unwrap_or_else(|e| panic!("{name} {}: {e}", t.id));
            }
            seen += 1;
        }
    }
    assert!(seen >= 9, "only {seen} task files");
}

#[test]
fn split_counts() {
    let Some(root) = data_root() else { return };
    let count = |d: &str, v: TaskVersion, s: Option<&str>| TaskSet::load(&root.join(d), v, s).map(|t| t.len()).unwrap_or_else(|e| panic!("{e}"));
    for v in [TaskVersion::V1_0, TaskVersion::V0_2_0] {
        assert_eq!(count("airline", v, None), 50);
        assert_eq!(count("airline", v, Some("train")), 30);
        assert_eq!(count("airline", v, Some("test")), 20);
        assert_eq!(count("airline", v, Some("base")), 50);
        assert_eq!(count("retail", v, Some("train")), 74);
        assert_eq!(count("retail", v, Some("test")), 40);
        assert_eq!(count("retail", v, Some("base")), 114);
        assert_eq!(count("telecom", v, Some("train")), 74);
        assert_eq!(count("telecom", v, Some("test")), 40);
        assert_eq!(count("telecom", v, Some("base")), 114);
        assert_eq!(count("telecom", v, Some("full")), 114);
        assert_eq!(count("telecom", v, Some("small")), 0);
    }
    assert_eq!(count("mock", TaskVersion::V1_0, Some("base")), 10);
    assert_eq!(count("mock", TaskVersion::V0_2_0, Some("base")), 9);
    let full = TaskSet::load(&root.join("telecom"), TaskVersion::V1_0, Some("full")).expect("full");
    assert_eq!(full.missing_ids.len(), 2285 - 114);
    // Order is task-file order.
    let train = TaskSet::load(&root.join("airline"), TaskVersion::V1_0, Some("train")).expect("train");
    let all = TaskSet::load(&root.join("airline"), TaskVersion::V1_0, None).expect("all");
    let pos: Vec<usize> = train.tasks.iter().map(|t| all.tasks.iter().position(|x| x.id == t.id).expect("present")).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn task_fields_are_typed() {
    let Some(root) = data_root() else { return };
    let mock = TaskSet::load(&root.join("mock"), TaskVersion::V1_0, None).expect("mock");
    let t = mock.get("update_task_with_message_history").expect("task");
    let plan = plan_episode(t).expect("plan");
    assert_eq!(plan.replay.len(), 1);
    assert_eq!(plan.replay[0].call.name, "create_task");
    assert_eq!(plan.replay[0].call.requestor(), Requestor::Assistant);
    assert_eq!(plan.replay[0].tool_message_index, 2);
    let t = mock.get("update_task_with_initialization_data").expect("task");
    let plan = plan_episode(t).expect("plan");
    assert!(plan.init.agent_data.is_some() && plan.init.user_data.is_none());
    assert!(matches!(t.user_scenario.instructions, UserInstructions::Text(_)));
    let criteria = mock.get("create_task_1").and_then(|t| t.evaluation_criteria.get()).expect("criteria");
    assert_eq!(criteria.reward_basis(), vec![RewardType::Db, RewardType::Communicate]);

    let telecom = TaskSet::load(&root.join("telecom"), TaskVersion::V0_2_0, Some("train")).expect("telecom");
    assert_eq!(telecom.path.file_name().and_then(|n| n.to_str()), Some("tasks.v0.2.0.json"));
    let t = &telecom.tasks[0];
    let plan = plan_episode(t).expect("plan");
    assert!(!plan.init.actions.is_empty());
    let UserInstructions::Structured(s) = &t.user_scenario.instructions else { panic!("structured") };
    assert!(t.user_scenario.to_string().contains(&format!("Domain: {}", s.domain)));
    let ea = t.evaluation_criteria.get().and_then(|c| c.env_assertions.get()).expect("assertions");
    assert!(!ea.is_empty());
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn typed_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let d = tmp.path();
    match TaskSet::load(d, TaskVersion::V1_0, None) {
        Err(TaskError::MissingTaskFile { .. }) => {}
        other => panic!("{other:?}"),
    }
    write(d, "tasks.json", r#"[{"id": "a", "user_scenario": {"instructions": "x"}}, {"id": "b", "user_scenario": {"instructions": "y"}}]"#);
    // v0.2.0 falls back to tasks.json
    assert_eq!(TaskSet::load(d, TaskVersion::V0_2_0, None).expect("fallback").len(), 2);
    match TaskSet::load(d, TaskVersion::V1_0, Some("train")) {
        Err(e @ TaskError::NoSplitFile { .. }) => assert!(e.to_string().contains("split_tasks.json")),
        other => panic!("{other:?}"),
    }
    write(d, "split_tasks.json", r#"{"train": ["a"], "test": ["b", "zz"]}"#);
    let s = TaskSet::load(d, TaskVersion::V1_0, Some("test")).expect("split");
    assert_eq!(s.len(), 1);
    assert_eq!(s.missing_ids, vec!["zz".to_string()]);
    match TaskSet::load(d, TaskVersion::V1_0, Some("nope")) {
        Err(e @ TaskError::UnknownSplit { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("nope") && msg.contains("train, test"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    write(d, "tasks.v0.2.0.json", "[{\"id\": \"a\",\n \"user_scenario\": 5}]");
    match TaskSet::load(d, TaskVersion::V0_2_0, None) {
        Err(e @ TaskError::Json { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("tasks.v0.2.0.json") && msg.contains("line 2"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

fn msgs(v: Value) -> Vec<Message> {
    serde_json::from_value(v).expect("messages")
}

#[test]
fn history_pairing_rules() {
    let call = |id: &str| json!({"role": "assistant", "tool_calls": [{"id": id, "name": "create_task", "arguments": {}}]});
    let tool = |id: &str| json!({"role": "tool", "id": id, "content": "{}"});
    let ok = msgs(json!([{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}, call("1"), tool("1"),
        {"role": "assistant", "content": "done", "tool_calls": []},
        {"role": "user", "tool_calls": [{"id": "2", "name": "toggle", "arguments": {}, "requestor": "user"}, {"id": "3", "name": "x", "arguments": {"a": 1}}]},
        tool("2"), tool("3")]));
    let steps = actions_from_messages(&ok).expect("ok");
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[1].call.requestor(), Requestor::User);
    assert_eq!((steps[2].call_message_index, steps[2].tool_message_index), (5, 7));

    assert_eq!(actions_from_messages(&msgs(json!([tool("1")]))), Err(PlanError::UnexpectedToolMessage { index: 0 }));
    assert_eq!(
        actions_from_messages(&msgs(json!([call("1")]))),
        Err(PlanError::MissingToolMessage { call_message_index: 0, call_id: "1".into() })
    );
    assert_eq!(
        actions_from_messages(&msgs(json!([call("1"), {"role": "user", "content": "x"}]))),
        Err(PlanError::NotAToolMessage { index: 1, call_id: "1".into(), got: "UserMessage" })
    );
    assert_eq!(
        actions_from_messages(&msgs(json!([call("1"), tool("2")]))),
        Err(PlanError::IdMismatch { index: 1, call_id: "1".into(), message_id: "2".into() })
    );
    assert_eq!(
        actions_from_messages(&msgs(json!([call("1"), {"role": "tool", "tool_messages": [tool("1")]}]))),
        Err(PlanError::NotAToolMessage { index: 1, call_id: "1".into(), got: "MultiToolMessage" })
    );
    // A stray tool message after a completed pair.
    assert_eq!(actions_from_messages(&msgs(json!([call("1"), tool("1"), tool("1")]))), Err(PlanError::UnexpectedToolMessage { index: 2 }));
    assert!(serde_json::from_value::<Vec<Message>>(json!([{"role": "robot"}])).is_err());
}

#[test]
fn python_equality() {
    assert!(py_json_eq(&json!({"a": 1, "b": [true]}), &json!({"b": [1.0], "a": 1.0})));
    assert!(!py_json_eq(&json!({"a": 1}), &json!({"a": "1"})));
    assert!(!py_json_eq(&json!([1, 2]), &json!([2, 1])));
    assert!(py_json_eq(&decode_or_string("{\"x\":1}"), &decode_or_string("{\"x\": 1}")));
    assert!(py_json_eq(&decode_or_string("Transfer successful"), &json!("Transfer successful")));
}

#[test]
fn golden_readers() {
    let golden = PathBuf::from("/work/shared/golden");
    if golden.is_dir() {
        for d in ["mock", "airline", "retail", "telecom"] {
            let g = GoldenDomain::load(&golden.join(d)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(g.tools.domain, d);
            assert!(!g.replays.is_empty() && !g.probes.is_empty());
            let evals = read_evals(&golden.join(d).join("evals.jsonl")).unwrap_or_else(|e| panic!("{e}"));
            assert!(!evals.is_empty());
            if d == "mock" {
                assert_eq!(evals.iter().filter(|e| e.generation_error.is_some()).count(), 1);
            }
        }
    } else {
        eprintln!("NOTICE: /work/shared/golden absent, skipping the real-file part");
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let p = write(tmp.path(), "probes.jsonl", "{\"id\": \"p1\", \"kind\": \"valid\", \"name\": \"x\", \"requestor\": \"assistant\", \"arguments\": {}, \"response\": \"r\", \"error\": false, \"agent_db_hash_after\": null, \"user_db_hash_after\": null}\n\n{\"id\": \"p2\", \"kind\": \"valid\"\n");
    match read_probes(&p) {
        Err(e @ GoldenError::Malformed { line: 3, .. }) => assert!(e.to_string().contains("probes.jsonl:3"), "{e}"),
        other => panic!("{other:?}"),
    }
    let p = write(tmp.path(), "replays.jsonl", "{\"domain\": \"mock\", \"version\": \"v1.0\", \"task_id\": \"t\", \"generation_error\": \"ValueError: boom\"}\n");
    let r = read_replays(&p).expect("generation_error record");
    assert_eq!(r[0].generation_error.as_deref(), Some("ValueError: boom"));
    match read_tools(&tmp.path().join("tools.json")) {
        Err(GoldenError::Io { path, .. }) => assert!(path.ends_with("tools.json")),
        other => panic!("{other:?}"),
    }
}
