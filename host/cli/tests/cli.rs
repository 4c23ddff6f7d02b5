//! The `eigenbox` binary end to end, on a plugin directory packaged in a temp dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eigenbox_tests::{mock_golden_dir, workspace_root};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env { dir: tempfile::tempdir().unwrap() };
        let wasm = workspace_root().join("target/wasm32-wasip2/release/eigenbox_plugin_mock.wasm");
        let out = env.run(&["plugin", "package", wasm.to_str().unwrap(), "--manifest", workspace_root().join("plugins/mock/eigenbox.toml").to_str().unwrap(), "--out", env.plugins().to_str().unwrap()]);
        assert!(out.status.success(), "package failed: {}", String::from_utf8_lossy(&out.stderr));
        env
    }
    fn plugins(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }
    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &self.dir.path().join("grants.toml"), &self.dir.path().join("store"))
    }
    fn run_with(&self, args: &[&str], grants: &Path, store: &Path) -> Output {
        let bin = env!("CARGO_BIN_EXE_eigenbox");
        Command::new(bin)
            .args(args)
            .env("EIGENBOX_PLUGINS", self.plugins())
            .env("EIGENBOX_GRANTS", grants)
            .env("EIGENBOX_STORE", store)
            .env_remove("RUST_LOG")
            .output()
            .unwrap_or_else(|e| panic!("{bin}: {e}"))
    }
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn inspect_call_and_replay() {
    let env = Env::new();
    let o = env.run(&["plugin", "inspect", env.plugins().join("mock").to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("world      eigenbox:domain/domain-plugin@0.1.0"), "{out}");
    assert!(out.contains("(matches manifest)"), "{out}");
    assert!(out.contains("eigenbox:domain/domain@0.1.0#call-tool"), "{out}");

    let o = env.run(&["call", "mock", "get_users"]);
    assert!(o.status.success());
    assert_eq!(text(&o).0, "[{\"user_id\": \"user_1\", \"name\": \"Test User\", \"tasks\": [\"task_1\"]}]\n");

    let o = env.run(&["call", "mock", "nope", "{}"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o).0, "Error: Tool 'nope' not found.\n");

    let o = env.run(&["call", "mock", "create_task", "{\"user_id\": "]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).0.starts_with("Error: "), "malformed JSON needs a clear error");

    let o = env.run(&["replay", "mock"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("10 matched, 0 mismatched"), "{out}");
    // Expected hashes named explicitly must exist (not silently "no expected hash").
    let o = env.run(&["replay", "mock", "--expected", "/no/such/replays.jsonl"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--expected /no/such/replays.jsonl: no such file"), "{}", text(&o).1);

    let o = env.run(&["runs"]);
    assert!(text(&o).0.contains("run-000001  replay"), "{}", text(&o).0);
    let o = env.run(&["plugin", "list"]);
    assert!(text(&o).0.contains("eigenbox:mock 0.1.0"), "{}", text(&o).0);
}

#[test]
fn conformance_reports_a_table_and_a_final_line() {
    let env = Env::new();
    let golden = tempfile::tempdir().unwrap();
    std::fs::create_dir(golden.path().join("mock")).unwrap();
    for f in ["tools.json", "replays.jsonl", "probes.jsonl"] {
        std::fs::copy(mock_golden_dir().join(f), golden.path().join("mock").join(f)).unwrap();
    }
    let o = env.run(&["conformance", golden.path().to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("mock"), "{out}");
    assert!(out.trim_end().ends_with(" passed, 0 failed"), "{out}");
}

#[test]
fn conformance_checks_evaluator_rewards_when_evals_are_present() {
    let env = Env::new();
    let golden = tempfile::tempdir().unwrap();
    let mock = golden.path().join("mock");
    std::fs::create_dir(&mock).unwrap();
    std::fs::copy(mock_golden_dir().join("tools.json"), mock.join("tools.json")).unwrap();
    std::fs::copy(mock_golden_dir().join("evals.jsonl"), mock.join("evals.jsonl")).unwrap();
    let o = env.run(&["conformance", golden.path().to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    let row = out.lines().find(|l| l.starts_with("mock") && l.contains(" evals ")).unwrap_or_else(|| panic!("no evals row: {out}"));
    let counts: Vec<&str> = row.split_whitespace().skip(2).collect();
    assert_eq!(counts, ["45", "0", "1"], "{out}");

    // A reward the evaluator does not reproduce is a failure with the difference.
    let evals = std::fs::read_to_string(mock.join("evals.jsonl")).unwrap();
    let first = evals.lines().next().unwrap().replacen("\"reward\": 1.0", "\"reward\": 0.5", 1);
    std::fs::write(mock.join("evals.jsonl"), first).unwrap();
    let o = env.run(&["conformance", golden.path().to_str().unwrap()]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("$.reward: expected 0.5, got 1.0"), "{out}");
}

#[test]
fn tampered_ungranted_and_misplaced_grants_are_refused() {
    let env = Env::new();
    let mock = env.plugins().join("mock");
    // A manifest that now asks for the clock, which config does not grant.
    let manifest = std::fs::read_to_string(mock.join("eigenbox.toml")).unwrap();
    std::fs::write(mock.join("eigenbox.toml"), manifest.replace("clock = false", "clock = true")).unwrap();
    let o = env.run(&["tools", "mock"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("capability `clock` is requested but not granted"), "{}", text(&o).1);
    std::fs::write(mock.join("eigenbox.toml"), &manifest).unwrap();

    // Tampered wasm.
    let wasm = mock.join("eigenbox_plugin_mock.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    let n = bytes.len() - 10;
    bytes[n] ^= 0xff;
    std::fs::write(&wasm, &bytes).unwrap();
    let o = env.run(&["call", "mock", "get_users"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("tampered or stale build"), "{}", text(&o).1);

    // A grants file inside the plugin directory.
    let inside = env.plugins().join("grants.toml");
    std::fs::write(&inside, "").unwrap();
    let o = env.run_with(&["tools", "mock"], &inside, &env.dir.path().join("store"));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("inside the plugin directory"), "{}", text(&o).1);
}

#[test]
fn a_corrupt_or_foreign_store_is_a_clear_error() {
    let env = Env::new();
    let bogus = env.dir.path().join("not-a-store");
    std::fs::create_dir(&bogus).unwrap();
    std::fs::write(bogus.join("hello.txt"), "x").unwrap();
    let o = env.run_with(&["call", "mock", "get_users"], &env.dir.path().join("grants.toml"), &bogus);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("is not an eigenbox store"), "{}", text(&o).1);
    assert!(!text(&o).1.contains("panicked"));
}

/// `call --policy`: the call passes the policy gate and lands in the store's audit log.
#[test]
fn calls_under_a_policy_are_decided_and_audited() {
    let env = Env::new();
    let strict = workspace_root().join("config/policy/examples/strict.cedar");
    let strict = strict.to_str().unwrap();
    let write = "{\"user_id\": \"user_1\", \"title\": \"x\"}";
    let o = env.run(&["audit", "init"]);
    assert!(o.status.success(), "{}", text(&o).1);

    let o = env.run(&["call", "mock", "create_task", write, "--policy", strict, "--as-user", "user_1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o).1);
    assert!(text(&o).0.starts_with("Error: denied by policy rule `write-needs-confirmation`"), "{}", text(&o).0);

    let o = env.run(&["call", "mock", "create_task", write, "--policy", strict, "--as-user", "user_2", "--confirmed"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).0.starts_with("Error: denied by policy rule `writes-only-for-authenticated-user`"), "{}", text(&o).0);

    let o = env.run(&["call", "mock", "create_task", write, "--policy", strict, "--as-user", "user_1", "--confirmed"]);
    assert!(o.status.success(), "{}{}", text(&o).0, text(&o).1);
    assert!(text(&o).0.contains("task_2"), "{}", text(&o).0);

    // Without --policy, --as-user is refused rather than silently ignored.
    let o = env.run(&["call", "mock", "get_users", "{}", "--as-user", "user_1"]);
    assert_eq!(o.status.code(), Some(2));

    let o = env.run(&["audit", "show"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("mock/create_task")).collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].contains("write-needs-confirmation") && lines[2].contains("ok"), "{out}");
    let o = env.run(&["audit", "check"]);
    assert!(o.status.success(), "{}{}", text(&o).0, text(&o).1);
}

/// `checker derive | lint | run | list | replay` on the mock domain with the Starlark interpreter;
/// the compile cache makes every command after the first skip compiling it.
#[test]
fn checkers_are_derived_linted_run_recorded_and_replayed() {
    let env = Env::new();
    let interp = workspace_root().join("target/wasm32-wasip2/release/eigenbox_checker_starlark.wasm");
    let cache = env.dir.path().join("cache");
    let (interp, cache) = (interp.to_str().unwrap(), cache.to_str().unwrap());
    let ck = |args: &[&str]| env.run(&[&["--compile-cache", cache, "checker", "--interpreter", interp][..], args].concat());

    // Derive one program per mock task; each passes lint.
    let out = env.dir.path().join("derived");
    let o = ck(&["derive", "mock", "--out", out.to_str().unwrap(), "--lint"]);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let n = index["checkers"].as_array().unwrap().len();
    let tasks: serde_json::Value = serde_json::from_slice(&std::fs::read(workspace_root().join("plugins/mock/data/tasks.json")).unwrap()).unwrap();
    assert_eq!(n, tasks.as_array().unwrap().len());
    assert!(stdout.contains(&format!("{n} checker(s) derived")) && stdout.contains(", 0 failed lint"), "{stdout}");
    let first = out.join(index["checkers"][0]["file"].as_str().unwrap());
    assert!(std::fs::read_to_string(&first).unwrap().contains("def check(task, trajectory, initial, final):"));
    let o = ck(&["lint", first.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).0.contains("ok: "), "{:?}", text(&o));

    // Run: the termination reason reaches the program; pass 0, fail 1, checker error 3.
    let program = env.dir.path().join("stop.star");
    std::fs::write(&program, "def check(task, trajectory, initial, final):\n    return {\"passed\": task[\"_eigenbox\"][\"termination_reason\"] == \"user_stop\", \"reasons\": [task[\"id\"]]}\n").unwrap();
    let bundle = env.dir.path().join("episode.json");
    std::fs::write(&bundle, r#"{"task": {"id": "t-1"}, "trajectory": [{"role": "user", "content": "hi"}]}"#).unwrap();
    let (p, b) = (program.to_str().unwrap(), bundle.to_str().unwrap());
    let o = ck(&["run", p, b, "--termination-reason", "user_stop"]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).0.contains("- t-1") && text(&o).0.contains("recorded chk-000001"), "{:?}", text(&o));
    let o = ck(&["run", p, b, "--termination-reason", "max_steps"]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let o = ck(&["run", p, b]);
    assert_eq!(o.status.code(), Some(3), "{:?}", text(&o));
    assert!(text(&o).0.contains("_eigenbox"), "{:?}", text(&o));
    let o = ck(&["list"]);
    assert_eq!(text(&o).0.lines().filter(|l| l.starts_with("chk-")).count(), 3, "{:?}", text(&o));
    let o = ck(&["replay", "chk-000002"]);
    assert!(o.status.success() && text(&o).0.contains("reproduced"), "{:?}", text(&o));
}

/// The default compile cache is skipped with a warning where it cannot be made; one given with
/// `--compile-cache` must be usable (a directory others can write is refused).
#[test]
fn an_unusable_compile_cache_is_skipped_by_default_and_refused_when_asked_for() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let not_a_dir = env.dir.path().join("file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_eigenbox"))
        .args(["tools", "mock"])
        .env("EIGENBOX_PLUGINS", env.plugins())
        .env("EIGENBOX_GRANTS", env.dir.path().join("grants.toml"))
        .env("EIGENBOX_STORE", env.dir.path().join("store"))
        .env("EIGENBOX_CACHE", &not_a_dir)
        .env_remove("EIGENBOX_COMPILE_CACHE")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("create_task") && stderr.contains("compiling components at every load"), "{stdout}\n{stderr}");
    let shared = env.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = env.run(&["--compile-cache", shared.to_str().unwrap(), "tools", "mock"]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    assert!(text(&o).1.contains("writable by others"), "{:?}", text(&o));
}
