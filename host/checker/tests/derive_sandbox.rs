//! Derived checkers through the sandboxed runtime (the `checker-starlark` interpreter
//! component under wasmtime): every golden record's derived program, on the fixtures that
//! `derive_golden` (phase 1) wrote, must pass exactly when the reference's reward is 1.0.
//!
//! Needs the fixtures (`cargo test --release -p eigenbox-checker --test derive_golden` first;
//! `EIGENBOX_DERIVE_FIXTURES` to point elsewhere) and the interpreter component
//! (`EIGENBOX_CHECKER_WASM`, else `target/wasm32-wasip2/release/eigenbox_checker_starlark.wasm`);
//! without either it prints a notice and passes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use eigenbox_checker::derive::{apply_changes, Change, PathElem};
use eigenbox_checker::{CheckInput, Checker, CheckerLimits, Outcome};
use eigenbox_runtime::{Runtime, RuntimeConfig};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    match std::env::var_os("EIGENBOX_DERIVE_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("derive-golden"),
    }
}

fn wasm_path() -> PathBuf {
    std::env::var_os("EIGENBOX_CHECKER_WASM").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/release/eigenbox_checker_starlark.wasm")
    })
}

fn changes(v: &Value) -> Vec<Change> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|c| Change {
                    path: c["path"]
                        .as_array()
                        .map(|p| {
                            p.iter()
                                .map(|e| match e {
                                    Value::String(s) => PathElem::Key(s.clone()),
                                    n => PathElem::Index(n.as_u64().unwrap_or(u64::MAX) as usize),
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    old: c.get("old").cloned(),
                    new: c.get("new").cloned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn derived_checkers_agree_with_golden_rewards_in_the_sandbox() {
    let dir = fixture_dir();
    let wasm = match std::fs::read(wasm_path()) {
        Ok(w) => w,
        Err(e) => {
            println!("NOTICE: {}: {e}; sandbox agreement skipped", wasm_path().display());
            return;
        }
    };
    if !dir.join("mock.jsonl").is_file() {
        println!("NOTICE: no fixtures in {}; run the derive_golden test first; sandbox agreement skipped", dir.display());
        return;
    }
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    // The airline and retail DBs are megabytes of JSON, given twice (initial and final).
    // The built-in grant ceilings (an operator raises them in the grants file).
    let limits = CheckerLimits { fuel: 10_000_000_000, timeout_ms: 30_000, memory_mib: 512, output_kib: 1024 };
    let checker = Checker::load(&runtime, &wasm, limits).expect("interpreter loads");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let mut state_cache: HashMap<String, String> = HashMap::new();
    let mut state = |key: &Value| -> Option<String> {
        let k = key.as_str()?;
        Some(
            state_cache
                .entry(k.to_string())
                .or_insert_with(|| std::fs::read_to_string(dir.join("states").join(format!("{k}.json"))).expect("state"))
                .clone(),
        )
    };
    println!();
    println!("{:<8} {:>7} {:>7} {:>7} {:>10} {:>12} {:>12}", "domain", "records", "agree", "%", "wall/rec", "fuel/rec", "peak mem");
    let (mut all, mut all_agree) = (0, 0);
    let mut failures = Vec::new();
    let mut linted = std::collections::HashSet::new();
    for d in ["mock", "airline", "retail", "telecom"] {
        let text = std::fs::read_to_string(dir.join(format!("{d}.jsonl"))).expect("fixtures");
        let (mut n, mut agree, mut wall, mut fuel, mut peak) = (0usize, 0usize, Duration::ZERO, 0u64, 0u64);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let f: Value = serde_json::from_str(line).expect("fixture");
            let id = f["id"].as_str().unwrap_or("?").to_string();
            let expected = f["reward"].as_f64() == Some(1.0);
            let ia = state(&f["initial"]["agent"]);
            let iu = state(&f["initial"]["user"]);
            let fin = |init: &Option<String>, side: &str| -> Option<String> {
                if !f["final_present"][side].as_bool().unwrap_or(false) {
                    return None;
                }
                let base: Value = init.as_deref().map(|t| serde_json::from_str(t).expect("state json")).unwrap_or(Value::Null);
                apply_changes(&base, &changes(&f["final_changes"][side])).map(|v| v.to_string())
            };
            let input = CheckInput {
                task: f["task"].to_string(),
                trajectory: f["trajectory"].to_string(),
                final_agent_state: fin(&ia, "agent"),
                final_user_state: fin(&iu, "user"),
                initial_agent_state: ia,
                initial_user_state: iu,
            };
            let source = f["source"].as_str().expect("source");
            // Every derived program passes `eigenbox checker lint` (once per distinct program).
            if linted.insert(eigenbox_manifest::sha256_hex(source.as_bytes())) {
                if let Err(e) = rt.block_on(checker.lint(source)) {
                    failures.push(format!("{d} {id}: the derived program fails lint: {e}"));
                }
            }
            let run = rt.block_on(checker.check(source, &input));
            n += 1;
            wall += Duration::from_micros(run.stats.wall_us);
            fuel += run.stats.fuel;
            peak = peak.max(run.stats.peak_memory);
            match &run.outcome {
                Outcome::Verdict(v) if v.passed == expected => agree += 1,
                Outcome::Verdict(v) => failures.push(format!("{d} {id}: passed={} but reward {}: {:?}", v.passed, f["reward"], v.reasons)),
                Outcome::Error { error } => failures.push(format!("{d} {id}: checker error: {error:?}")),
            }
        }
        all += n;
        all_agree += agree;
        println!(
            "{:<8} {:>7} {:>7} {:>6.1}% {:>8.1}ms {:>12} {:>9.1}MiB",
            d,
            n,
            agree,
            100.0 * agree as f64 / n.max(1) as f64,
            wall.as_secs_f64() * 1e3 / n.max(1) as f64,
            fuel / n.max(1) as u64,
            peak as f64 / (1 << 20) as f64
        );
    }
    println!("total    {all:>7} {all_agree:>7}");
    for f in failures.iter().take(20) {
        println!("FAIL {f}");
    }
    assert!(failures.is_empty(), "{} disagreements or errors", failures.len());
    assert_eq!(all, 408);
}
