//! The checker runtime against real programs: verdicts, typed errors for hostile checkers
//! (each contained, the host going on), lint, provenance, store, audit and replay determinism.
//!
//! Needs the interpreter component: `cargo build --release --target wasm32-wasip2 -p
//! eigenbox-checker-starlark` (scripts/build.sh does), or `EIGENBOX_CHECKER_WASM=<path>`.

use std::path::PathBuf;
use std::sync::OnceLock;

use eigenbox_checker::{CheckInput, Checker, CheckerError, CheckerLimits, CheckerStore, Outcome};
use eigenbox_runtime::{Runtime, RuntimeConfig};

fn wasm() -> &'static [u8] {
    static WASM: OnceLock<Vec<u8>> = OnceLock::new();
    WASM.get_or_init(|| {
        let path = std::env::var_os("EIGENBOX_CHECKER_WASM").map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/release/eigenbox_checker_starlark.wasm")
        });
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; build it with scripts/build.sh", path.display()))
    })
}

fn runtime() -> Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime")).clone()
}

/// One compiled interpreter for the whole test binary; per-test limits without recompiling.
fn checker(limits: CheckerLimits) -> Checker {
    static BASE: OnceLock<Checker> = OnceLock::new();
    let base = BASE.get_or_init(|| Checker::load(&runtime(), wasm(), CheckerLimits::default()).expect("interpreter loads"));
    base.with_limits(limits).expect("limits within the grants")
}

fn input() -> CheckInput {
    CheckInput {
        task: r##"{"id": "t1", "user_scenario": {"instructions": "cancel order #W1"}}"##.into(),
        trajectory: r##"[
            {"role": "user", "content": "please cancel #W1"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "name": "cancel_pending_order", "arguments": {"order_id": "#W1", "reason": "no longer needed"}, "requestor": "assistant"}]},
            {"role": "tool", "id": "c1", "content": "{\"status\": \"cancelled\"}", "requestor": "assistant"},
            {"role": "assistant", "content": "Done, #W1 is cancelled."}
        ]"##
        .into(),
        initial_agent_state: Some(r##"{"orders": {"#W1": {"status": "pending"}}}"##.into()),
        final_agent_state: Some(r##"{"orders": {"#W1": {"status": "cancelled"}}}"##.into()),
        initial_user_state: None,
        final_user_state: None,
    }
}

const GOOD: &str = r##"
def check(task, trajectory, initial, final):
    calls = [c for m in trajectory if m["role"] == "assistant" for c in (m.get("tool_calls") or [])]
    cancelled = final["agent"]["orders"]["#W1"]["status"] == "cancelled"
    was_pending = initial["agent"]["orders"]["#W1"]["status"] == "pending"
    called = any([c["name"] == "cancel_pending_order" and c["arguments"]["order_id"] == "#W1" for c in calls])
    reasons = [
        f"order #W1 cancelled: {cancelled}",
        f"cancel_pending_order called: {called}",
    ]
    print("calls:", len(calls))
    return {"passed": cancelled and called and was_pending, "score": 1.0 if cancelled else 0.0, "reasons": reasons}
"##;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio")
}

fn error_of(outcome: &Outcome) -> &CheckerError {
    outcome.error().unwrap_or_else(|| panic!("expected a checker error, got {outcome}"))
}

#[test]
fn a_checker_judges_and_reports_reasons_and_output() {
    let c = checker(CheckerLimits::default());
    let run = rt().block_on(c.check(GOOD, &input()));
    let v = run.outcome.verdict().unwrap_or_else(|| panic!("{}", run.outcome));
    assert!(v.passed, "{v:?}");
    assert_eq!(v.score, Some(1.0));
    assert_eq!(v.reasons, ["order #W1 cancelled: True", "cancel_pending_order called: True"]);
    assert_eq!(v.output, "calls: 1\n");
    assert_eq!(run.outcome.to_string(), "pass (score 1)");
    assert!(run.stats.fuel > 0);
    // A bare bool is a verdict too; False is `fail`, not an error.
    let run = rt().block_on(c.check("def check(task, trajectory, initial, final):\n    return len(trajectory) > 10\n", &input()));
    assert_eq!(run.outcome.label(), "fail");
    assert_eq!(run.outcome.reward(), Some(0.0));
    // Telecom-style user state is visible as initial["user"] / final["user"].
    let mut telecom = input();
    telecom.final_user_state = Some(r#"{"device": {"airplane_mode": false}}"#.into());
    let run = rt().block_on(c.check(
        "def check(task, trajectory, initial, final):\n    return initial['user'] == None and final['user']['device']['airplane_mode'] == False\n",
        &telecom,
    ));
    assert_eq!(run.outcome.label(), "pass", "{}", run.outcome);
}

#[test]
fn provenance_names_source_interpreter_and_input() {
    let c = checker(CheckerLimits::default());
    let run = rt().block_on(c.check(GOOD, &input()));
    let p = &run.provenance;
    assert_eq!(p.checker_sha256, eigenbox_manifest::sha256_hex(GOOD.as_bytes()));
    assert_eq!(p.interpreter_sha256, eigenbox_manifest::sha256_hex(wasm()));
    assert_eq!(p.input_sha256, input().sha256());
    assert!(p.interpreter.starts_with("starlark"), "{}", p.interpreter);
    // The input hash covers every field, and the exact bytes.
    let mut other = input();
    other.final_user_state = Some("{}".into());
    assert_ne!(other.sha256(), input().sha256());
    let mut reordered = input();
    reordered.task = r##"{"user_scenario": {"instructions": "cancel order #W1"}, "id": "t1"}"##.into();
    assert_ne!(reordered.sha256(), input().sha256());
}

#[test]
fn infinite_loop_runs_out_of_fuel_and_the_host_goes_on() {
    let c = checker(CheckerLimits { fuel: 50_000_000, timeout_ms: 30_000, ..CheckerLimits::default() });
    let looping = "def check(task, trajectory, initial, final):\n    n = 0\n    for i in range(1 << 30):\n        for j in range(1 << 30):\n            n += j\n    return True\n";
    let run = rt().block_on(c.check(looping, &input()));
    assert!(matches!(error_of(&run.outcome), CheckerError::OutOfFuel { fuel: 50_000_000 }), "{}", run.outcome);
    assert_eq!(run.outcome.label(), "checker-error");
    assert!(run.outcome.to_string().starts_with("checker-error: out of fuel"), "{}", run.outcome);
    assert_eq!(run.outcome.reward(), None);
    // The same checker host judges the next program normally.
    let run = rt().block_on(c.check(GOOD, &input()));
    assert_eq!(run.outcome.label(), "pass", "{}", run.outcome);
}

#[test]
fn infinite_loop_hits_the_deadline_when_fuel_is_plentiful() {
    let c = checker(CheckerLimits { fuel: 10_000_000_000, timeout_ms: 100, ..CheckerLimits::default() });
    let looping = "def check(task, trajectory, initial, final):\n    for i in range(1 << 30):\n        for j in range(1 << 30):\n            pass\n    return True\n";
    let run = rt().block_on(c.check(looping, &input()));
    assert!(matches!(error_of(&run.outcome), CheckerError::Timeout { timeout_ms: 100 }), "{}", run.outcome);
    assert!(run.stats.wall_us < 5_000_000, "{:?}", run.stats);
}

#[test]
fn recursion_bomb_is_contained() {
    let c = checker(CheckerLimits::default());
    let bomb = "def f(n):\n    return f(n + 1) + 1\n\ndef check(task, trajectory, initial, final):\n    return f(0) > 0\n";
    let run = rt().block_on(c.check(bomb, &input()));
    let e = error_of(&run.outcome);
    assert!(matches!(e, CheckerError::InterpreterLimit { .. } | CheckerError::StackOverflow), "{e:?}");
    assert!(e.is_limit());
    // Mutual recursion through a lambda too.
    let bomb = "g = lambda n: h(n)\ndef h(n):\n    return g(n)\ndef check(task, trajectory, initial, final):\n    return h(1)\n";
    let run = rt().block_on(c.check(bomb, &input()));
    assert!(error_of(&run.outcome).is_limit(), "{}", run.outcome);
}

#[test]
fn allocation_bomb_hits_the_memory_cap() {
    let c = checker(CheckerLimits { memory_mib: 32, ..CheckerLimits::default() });
    let bomb = "def check(task, trajectory, initial, final):\n    s = 'x'\n    for i in range(40):\n        s = s + s\n    return len(s) > 0\n";
    let run = rt().block_on(c.check(bomb, &input()));
    assert!(matches!(error_of(&run.outcome), CheckerError::OutOfMemory { limit_bytes } if *limit_bytes == 32 << 20), "{}", run.outcome);
    let bomb = "def check(task, trajectory, initial, final):\n    xs = [trajectory]\n    for i in range(40):\n        xs = xs + xs\n    return True\n";
    let run = rt().block_on(c.check(bomb, &input()));
    assert!(matches!(error_of(&run.outcome), CheckerError::OutOfMemory { .. }), "{}", run.outcome);
    let run = rt().block_on(c.check(GOOD, &input()));
    assert_eq!(run.outcome.label(), "pass", "{}", run.outcome);
}

#[test]
fn giant_output_is_refused() {
    let c = checker(CheckerLimits { output_kib: 64, fuel: 5_000_000_000, ..CheckerLimits::default() });
    let giant = "def check(task, trajectory, initial, final):\n    return {'passed': True, 'reasons': ['x' * 1000000]}\n";
    let run = rt().block_on(c.check(giant, &input()));
    assert!(matches!(error_of(&run.outcome), CheckerError::OutputTooLarge { limit_bytes: 65536, .. }), "{}", run.outcome);
    // Printing is captured and capped inside the interpreter (it never fills the host).
    let c = checker(CheckerLimits { fuel: 5_000_000_000, ..CheckerLimits::default() });
    let chatty = "def check(task, trajectory, initial, final):\n    for i in range(20000):\n        print('line', i)\n    return True\n";
    let run = rt().block_on(c.check(chatty, &input()));
    let v = run.outcome.verdict().unwrap_or_else(|| panic!("{}", run.outcome));
    assert!(v.output.len() <= 64 * 1024 + 64 && v.output.ends_with("[output truncated]\n"), "{}", v.output.len());
}

#[test]
fn modules_and_io_are_unreachable() {
    let c = checker(CheckerLimits::default());
    let cases = [
        ("load('os', 'system')\ndef check(task, trajectory, initial, final):\n    return True\n", "static-check"),
        ("import os\ndef check(task, trajectory, initial, final):\n    return True\n", "syntax"),
        ("def check(task, trajectory, initial, final):\n    return open('/etc/passwd') != None\n", "static-check"),
        ("def check(task, trajectory, initial, final):\n    return __import__('os')\n", "static-check"),
        ("def check(task, trajectory, initial, final):\n    return time.now() > 0\n", "static-check"),
        ("def check(task, trajectory, initial, final):\n    return random() > 0.5\n", "static-check"),
    ];
    for (program, label) in cases {
        let run = rt().block_on(c.check(program, &input()));
        let e = error_of(&run.outcome);
        assert_eq!(e.label(), label, "{program}: {e}");
    }
}

#[test]
fn exceptions_are_typed_with_positions() {
    let c = checker(CheckerLimits::default());
    let run = rt().block_on(c.check("def check(task, trajectory, initial, final):\n    fail('no verdict for you')\n", &input()));
    match error_of(&run.outcome) {
        CheckerError::Exception { message, position } => {
            assert!(message.contains("no verdict for you"), "{message}");
            assert_eq!(position.map(|p| p.line), Some(2));
        }
        e => panic!("{e:?}"),
    }
    for program in [
        "def check(task, trajectory, initial, final):\n    return task['missing']\n",
        "def check(task, trajectory, initial, final):\n    return 1 // 0\n",
        "def check(task, trajectory, initial, final):\n    return trajectory[99]\n",
        "def check(task, trajectory, initial, final):\n    return 'a' + 1\n",
    ] {
        let run = rt().block_on(c.check(program, &input()));
        assert_eq!(error_of(&run.outcome).label(), "exception", "{program}: {}", run.outcome);
    }
    let cases = [
        ("def check(task, trajectory, initial, final)\n    return True\n", "syntax"),
        ("def judge(task, trajectory, initial, final):\n    return True\n", "missing-entry"),
        ("check = 3\n", "missing-entry"),
        ("def check(task, trajectory, initial, final):\n    return 'yes'\n", "bad-return"),
        ("def check(task, trajectory, initial, final):\n    return {'passed': True, 'score': 2.0}\n", "bad-return"),
        ("def check(task, trajectory, initial, final):\n    return {'pased': True}\n", "bad-return"),
        ("def check(task, trajectory, initial, final):\n    return None\n", "bad-return"),
        ("def check(task):\n    return True\n", "exception"),
    ];
    for (program, label) in cases {
        let run = rt().block_on(c.check(program, &input()));
        assert_eq!(error_of(&run.outcome).label(), label, "{program}: {}", run.outcome);
    }
    let mut bad = input();
    bad.final_agent_state = Some("{not json".into());
    let run = rt().block_on(c.check(GOOD, &bad));
    assert_eq!(error_of(&run.outcome).label(), "bad-input");
}

#[test]
fn lint_checks_before_running() {
    let c = checker(CheckerLimits::default());
    let report = rt().block_on(c.lint(GOOD)).expect("lints clean");
    assert_eq!(report.checker_sha256, eigenbox_manifest::sha256_hex(GOOD.as_bytes()));
    let cases = [
        ("def check(task, trajectory, initial, final)\n    return True\n", "syntax", Some(1)),
        ("def check(task, trajectory, initial, final):\n    return undefined_name\n", "static-check", Some(2)),
        ("load('x.star', 'y')\n", "static-check", Some(1)),
        ("def check(task):\n    return True\n", "missing-entry", None),
        ("def helper():\n    pass\n", "missing-entry", None),
        ("def check(task, trajectory, initial, final):\n    x: int = 'a'\n    return True\n", "static-check", Some(2)),
        ("def check(task, trajectory, initial, final):\n    return len(task, 2)\n", "static-check", Some(2)),
    ];
    for (program, label, line) in cases {
        let e = rt().block_on(c.lint(program)).expect_err(program);
        assert_eq!(e.label(), label, "{program}: {e}");
        if let Some(line) = line {
            assert!(e.to_string().contains(&format!(" at {line}:")), "{program}: {e}");
        }
    }
    // Warnings do not stop a program.
    let report = rt().block_on(c.lint("def check(task, trajectory, initial, final):\n    unused = 1\n    return True\n")).expect("loads");
    assert!(report.warnings.iter().all(|w| w.position.is_some()), "{:?}", report.warnings);
}

#[test]
fn verdicts_are_stored_audited_and_replay_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled::open(dir.path().join("store")).expect("sled");
    let store = CheckerStore::open(&db).expect("store");
    let key = eigenbox_audit::LogKey::create(&dir.path().join("audit.key")).expect("key");
    let log = eigenbox_audit::AuditLog::open(&db, Some(key), eigenbox_audit::AuditConfig::default()).expect("log");
    let c = checker(CheckerLimits { fuel: 50_000_000, ..CheckerLimits::default() });
    let looping = "def check(task, trajectory, initial, final):\n    for i in range(1 << 30):\n        for j in range(1 << 30):\n            pass\n    return True\n";
    let rt = rt();
    let pass = rt.block_on(c.record(&store, Some(&log), GOOD, &input())).expect("recorded");
    let fuel = rt.block_on(c.record(&store, Some(&log), looping, &input())).expect("recorded");
    let boom = rt.block_on(c.record(&store, None, "def check(t, tr, i, f):\n    fail('x')\n", &input())).expect("recorded");
    assert_eq!((pass.id.as_str(), fuel.id.as_str(), boom.id.as_str()), ("chk-000001", "chk-000002", "chk-000003"));
    assert_eq!(pass.outcome.label(), "pass");
    assert_eq!(fuel.outcome.error().map(CheckerError::label), Some("out-of-fuel"));
    assert_eq!(store.list().expect("list").len(), 3);
    assert_eq!(store.source(&pass.provenance.checker_sha256).expect("source"), GOOD);
    assert_eq!(store.input(&pass.provenance.input_sha256).expect("input"), input());
    // The audit log has one `check` record per audited run, naming checker, interpreter and input.
    let a = log.get(pass.audit_seq.expect("audited")).expect("get").expect("record");
    assert_eq!(a.action, eigenbox_audit::ActionKind::Check);
    assert_eq!(a.target, format!("checker:{}", pass.provenance.checker_sha256));
    assert_eq!(a.actor.sha256.as_deref(), Some(pass.provenance.interpreter_sha256.as_str()));
    assert_eq!(a.args_sha256.as_deref(), Some(pass.provenance.input_sha256.as_str()));
    assert_eq!(a.run.as_deref(), Some("chk-000001"));
    let a = log.get(fuel.audit_seq.expect("audited")).expect("get").expect("record");
    assert_eq!(a.outcome, eigenbox_audit::Outcome::OutOfFuel);
    assert_eq!(boom.audit_seq, None);
    // Replays reproduce verdict and fuel exactly, errors included.
    for id in ["chk-000001", "chk-000002", "chk-000003"] {
        let r = rt.block_on(c.replay(&store, id)).expect("replays");
        assert!(r.reproduced() && r.same_fuel, "{id}: {:?} vs {:?}", r.original.outcome, r.rerun.outcome);
    }
    // Another interpreter configuration replays with the recorded limits.
    let other = checker(CheckerLimits::default());
    let r = rt.block_on(other.replay(&store, "chk-000002")).expect("replays");
    assert!(r.reproduced() && r.same_fuel, "{:?}", r.rerun.outcome);
    assert!(matches!(rt.block_on(c.replay(&store, "chk-999999")), Err(eigenbox_checker::CheckerHostError::NotFound(_))));
}

#[test]
fn input_bundles_keep_exact_json() {
    let b = CheckInput::from_bundle(
        r#"{"task": {"b": 1, "a": 2}, "messages": [{"role": "user", "content": "hi"}], "initial": {"agent": {"x": 1}, "user": null}, "final": {"agent": {"x": 2}}}"#,
    )
    .expect("bundle");
    assert_eq!(b.task, r#"{"b": 1, "a": 2}"#);
    assert_eq!(b.trajectory, r#"[{"role": "user", "content": "hi"}]"#);
    assert_eq!(b.initial_agent_state.as_deref(), Some(r#"{"x": 1}"#));
    assert_eq!(b.initial_user_state, None);
    assert_eq!(b.final_agent_state.as_deref(), Some(r#"{"x": 2}"#));
    let t = CheckInput::from_bundle("[]").expect("array");
    assert_eq!((t.task.as_str(), t.trajectory.as_str()), ("{}", "[]"));
    assert!(CheckInput::from_bundle(r#"{"trajectory": [], "extra": 1}"#).is_err());
    assert!(CheckInput::from_bundle(r#"{"task": {}}"#).is_err());
}

/// The inputs reach the program exactly as `json.decode` reads the same text (numbers of every
/// size and form, escapes, duplicate keys, key order, nesting), and they survive garbage
/// collections the program's own allocations trigger, at its top level and inside `check`.
#[test]
fn inputs_match_json_decode_and_survive_garbage_collection() {
    let doc = r#"{"n": [0, 1, -2, 3.5, 1e3, -0.0, 1.0, 12345678901234567890123, 18446744073709551615, -9223372036854775808, 0.1, 2.5e-8], "s": "caf\u00e9 \"q\" \\ \ud83d\ude00 ünï", "dup": {"a": 1, "b": 2, "a": 3}, "deep": [[[[{"x": [null, true, false, {}]}]]]], "order": {"z": 1, "y": 2, "x": 3}}"#;
    let task = serde_json::json!({"doc": serde_json::from_str::<serde_json::Value>(r#"{"k": 1}"#).unwrap(), "raw": doc}).to_string();
    // `raw` as text inside the task, and the same text as the initial agent state.
    let input = CheckInput {
        task,
        trajectory: "[]".into(),
        initial_agent_state: Some(doc.into()),
        final_agent_state: Some(doc.into()),
        initial_user_state: None,
        final_user_state: None,
    };
    let program = r#"
garbage = [[str(i) * 3 for i in range(50)] for _ in range(400)]

def check(task, trajectory, initial, final):
    junk = [{"k": [str(i)] * 20} for i in range(20000)]
    want = json.decode(task["raw"])
    got = initial["agent"]
    reasons = []
    for k in want:
        if got[k] != want[k]:
            reasons.append(k + ": " + repr(got[k]) + " != " + repr(want[k]))
    types = [type(x) for x in got["n"]]
    return {"passed": got == want and final["agent"] == want and list(got["order"].keys()) == ["z", "y", "x"] and initial["user"] == None and len(junk) == 20000, "reasons": reasons + [repr(types), repr(got["dup"])]}
"#;
    let run = rt().block_on(checker(CheckerLimits::default()).check(program, &input));
    let v = run.outcome.verdict().unwrap_or_else(|| panic!("{}", run.outcome));
    assert!(v.passed, "{:?}", v.reasons);
    assert_eq!(v.reasons[0], r#"["int", "int", "int", "float", "float", "float", "float", "float", "int", "int", "float", "float"]"#);
    assert_eq!(v.reasons[1], r#"{"a": 3, "b": 2}"#);
    // Not JSON: a typed bad-input error naming the input, not a trap.
    let bad = CheckInput::new(r#"{"a": [1, 2}"#, "[]");
    let run = rt().block_on(checker(CheckerLimits::default()).check("def check(task, trajectory, initial, final):\n    return True\n", &bad));
    let e = error_of(&run.outcome).to_string();
    assert!(e.contains("task is not valid JSON"), "{e}");
}

/// Where a check's fuel goes (printed; run with `--ignored --nocapture`).
#[test]
#[ignore]
fn fuel_profile() {
    let c = checker(CheckerLimits::default());
    let empty = CheckInput::new("{}", "[]");
    for (what, program) in [
        ("syntax error (no globals)", "def check(("),
        ("trivial", "def check(task, trajectory, initial, final):\n    return True\n"),
        ("GOOD", GOOD),
    ] {
        let r = rt().block_on(c.check(program, &empty));
        let r2 = rt().block_on(c.check(program, &input()));
        println!("{what:<28} fuel (empty input) {:>10}  (test input) {:>10}  {} µs", r.stats.fuel, r2.stats.fuel, r2.stats.wall_us);
    }
}
