//! Checker latency: the sandboxed Starlark runtime vs the same logic as a Python subprocess,
//! measured side by side in the same run (ratios, never absolute thresholds).
//!
//! ```text
//! cargo build --release --target wasm32-wasip2 -p eigenbox-checker-starlark
//! cargo bench -p eigenbox-checker --bench checker            # EIGENBOX_BENCH_N=2000 for more runs
//! ```
//!
//! Rows:
//! * `starlark/wasm` — one check = a fresh store + instance of the interpreter component
//!   (pooled instance slots), parse + load of the program, JSON → Starlark values, the call,
//!   the verdict back: exactly what [`eigenbox_checker::Checker::check`] does per episode.
//! * `python/subprocess` — `python3 -c <checker>` per check, input on stdin (the usual way to
//!   sandbox-less run a model-written checker: a process per check).
//! * `python/in-process` — a single long-lived python3 running the checker function in a loop
//!   (no isolation at all; a lower bound for the logic itself in CPython).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use eigenbox_checker::{CheckInput, Checker, CheckerLimits};
use eigenbox_runtime::{InstancePool, Runtime, RuntimeConfig};

/// The checker, in text that is Starlark and Python alike: the same source runs on both sides
/// (and is the program the other interpreters' guests are measured with).
const CHECKER: &str = include_str!("../../../tests/guests/checker-eval/programs/bench.py");

const PY_ONCE: &str = r#"
import json, sys
d = json.load(sys.stdin)
v = check(d["task"], d["trajectory"], {"agent": d["initial_agent_state"], "user": None}, {"agent": d["final_agent_state"], "user": None})
sys.stdout.write(json.dumps(v) + "\n")
"#;

const PY_LOOP: &str = r#"
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    v = check(json.loads(d["task"]), json.loads(d["trajectory"]), {"agent": json.loads(d["initial_agent_state"]), "user": None}, {"agent": json.loads(d["final_agent_state"]), "user": None})
    sys.stdout.write(json.dumps(v) + "\n")
    sys.stdout.flush()
"#;

/// A retail-sized episode: 30 orders, 24 messages, 6 tool calls.
fn input() -> CheckInput {
    let mut orders_before = serde_json::Map::new();
    let mut orders_after = serde_json::Map::new();
    for i in 0..30 {
        let id = format!("#W{i:07}");
        let item = serde_json::json!({"status": "pending", "items": [{"item_id": format!("{i}001"), "price": 10.5 * i as f64, "options": {"color": "blue", "size": "M"}}], "address": {"city": "Austin", "zip": "78701"}});
        orders_before.insert(id.clone(), item.clone());
        let mut after = item;
        if i < 3 {
            after["status"] = "cancelled".into();
        }
        orders_after.insert(id, after);
    }
    let mut messages = vec![serde_json::json!({"role": "user", "content": "Hi, I want to cancel three orders."})];
    for i in 0..3 {
        let id = format!("#W{i:07}");
        messages.push(serde_json::json!({"role": "assistant", "content": null, "tool_calls": [{"id": format!("g{i}"), "name": "get_order_details", "arguments": {"order_id": id}, "requestor": "assistant"}]}));
        messages.push(serde_json::json!({"role": "tool", "id": format!("g{i}"), "content": serde_json::to_string(&orders_before[&id]).unwrap_or_default(), "requestor": "assistant"}));
        messages.push(serde_json::json!({"role": "assistant", "content": format!("Order {id} is pending. Shall I cancel it?")}));
        messages.push(serde_json::json!({"role": "user", "content": "yes"}));
        messages.push(serde_json::json!({"role": "assistant", "content": null, "tool_calls": [{"id": format!("c{i}"), "name": "cancel_pending_order", "arguments": {"order_id": id, "reason": "no longer needed"}, "requestor": "assistant"}]}));
        messages.push(serde_json::json!({"role": "tool", "id": format!("c{i}"), "content": "{\"status\": \"cancelled\"}", "requestor": "assistant"}));
    }
    messages.push(serde_json::json!({"role": "assistant", "content": "All three orders are cancelled."}));
    CheckInput {
        task: serde_json::json!({"id": "retail_cancel_3", "cancel": ["#W0000000", "#W0000001", "#W0000002"]}).to_string(),
        trajectory: serde_json::Value::Array(messages).to_string(),
        initial_agent_state: Some(serde_json::json!({"orders": orders_before}).to_string()),
        final_agent_state: Some(serde_json::json!({"orders": orders_after}).to_string()),
        initial_user_state: None,
        final_user_state: None,
    }
}

struct Summary {
    p50: Duration,
    p99: Duration,
    mean: Duration,
    per_sec: f64,
}

fn summarize(mut d: Vec<Duration>, total: Duration) -> Summary {
    d.sort();
    let at = |q: f64| d[((d.len() as f64 - 1.0) * q).round() as usize];
    let mean = d.iter().sum::<Duration>() / d.len() as u32;
    Summary { p50: at(0.5), p99: at(0.99), mean, per_sec: d.len() as f64 / total.as_secs_f64() }
}

fn row(name: &str, n: usize, s: &Summary) {
    println!(
        "{name:<22} n={n:<6} p50 {:>9.1} µs   p99 {:>9.1} µs   mean {:>9.1} µs   {:>9.0} checks/s",
        s.p50.as_secs_f64() * 1e6,
        s.p99.as_secs_f64() * 1e6,
        s.mean.as_secs_f64() * 1e6,
        s.per_sec
    );
}

fn main() {
    let n: usize = std::env::var("EIGENBOX_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let wasm_path = std::env::var("EIGENBOX_CHECKER_WASM")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/wasm32-wasip2/release/eigenbox_checker_starlark.wasm").to_string());
    let wasm = match std::fs::read(&wasm_path) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{wasm_path}: {e}; build it with scripts/build.sh");
            return;
        }
    };
    let input = match std::env::var("EIGENBOX_BENCH_INPUT") {
        Ok(p) => CheckInput::from_bundle(&std::fs::read_to_string(&p).expect("bench input")).expect("bench input bundle"),
        Err(_) => input(),
    };
    let program: String = match std::env::var("EIGENBOX_BENCH_PROGRAM") {
        Ok(p) => std::fs::read_to_string(&p).expect("bench program"),
        Err(_) => CHECKER.to_string(),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
    let pool = InstancePool { max_instances: 16, max_memory_bytes: 64 << 20, ..InstancePool::for_checkers() };
    let runtime = Runtime::new(RuntimeConfig { pool: Some(pool), ..RuntimeConfig::default() })
        .or_else(|_| Runtime::new(RuntimeConfig::default()))
        .expect("runtime");
    let t = Instant::now();
    let checker = Checker::load(&runtime, &wasm, CheckerLimits::default()).expect("interpreter loads");
    let load = t.elapsed();
    println!("interpreter: {}", checker.interpreter());
    println!("checker bench: component {} KiB, load (compile + validate) {:.0} ms, input {} bytes", wasm.len() / 1024, load.as_secs_f64() * 1e3, input.task.len() + input.trajectory.len() + input.initial_agent_state.as_ref().map_or(0, String::len) * 2);

    // Sanity: both sides agree on the verdict.
    let first = rt.block_on(checker.check(&program, &input));
    let verdict = first.outcome.verdict().cloned().unwrap_or_else(|| panic!("checker failed: {}", first.outcome));
    println!("verdict: {} {:?}  fuel {}  peak memory {} KiB", first.outcome, verdict.reasons, first.stats.fuel, first.stats.peak_memory / 1024);

    // 1. Starlark in the WASM sandbox (fresh instance per check).
    for _ in 0..20 {
        let _ = rt.block_on(checker.check(&program, &input));
    }
    let mut lat = Vec::with_capacity(n);
    let t = Instant::now();
    for _ in 0..n {
        let s = Instant::now();
        let r = rt.block_on(checker.check(&program, &input));
        lat.push(s.elapsed());
        assert!(r.outcome.verdict().is_some());
    }
    let wasm_s = summarize(lat, t.elapsed());
    // A trivial program: the fixed cost of a check (instance + interpreter start + input).
    let trivial = match std::env::var("EIGENBOX_BENCH_TRIVIAL") {
        Ok(p) => std::fs::read_to_string(&p).expect("bench trivial program"),
        Err(_) => "def check(task, trajectory, initial, final):\n    return True\n".to_string(),
    };
    let mut lat = Vec::with_capacity(n);
    let t = Instant::now();
    for _ in 0..n {
        let s = Instant::now();
        let _ = rt.block_on(checker.check(&trivial, &input));
        lat.push(s.elapsed());
    }
    let trivial_s = summarize(lat, t.elapsed());

    // 2. Python subprocess per check.
    let bundle = serde_json::json!({
        "task": serde_json::from_str::<serde_json::Value>(&input.task).unwrap_or_default(),
        "trajectory": serde_json::from_str::<serde_json::Value>(&input.trajectory).unwrap_or_default(),
        "initial_agent_state": serde_json::from_str::<serde_json::Value>(input.initial_agent_state.as_deref().unwrap_or("null")).unwrap_or_default(),
        "final_agent_state": serde_json::from_str::<serde_json::Value>(input.final_agent_state.as_deref().unwrap_or("null")).unwrap_or_default(),
    })
    .to_string();
    let once = format!("{CHECKER}\n{PY_ONCE}");
    let py_n = (n / 10).clamp(20, 200);
    let mut lat = Vec::with_capacity(py_n);
    let mut py_ok = true;
    let t = Instant::now();
    for _ in 0..py_n {
        let s = Instant::now();
        let child = Command::new("python3").arg("-c").arg(&once).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn();
        let Ok(mut child) = child else {
            py_ok = false;
            break;
        };
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(bundle.as_bytes());
        }
        let out = child.wait_with_output().expect("python3 ran");
        lat.push(s.elapsed());
        assert!(out.status.success() && out.stdout.starts_with(b"{\"passed\""), "{}", String::from_utf8_lossy(&out.stdout));
    }
    let sub_s = py_ok.then(|| summarize(lat, t.elapsed()));

    // 3. One long-lived Python process (no isolation).
    let line = serde_json::to_string(&input).expect("input serializes");
    let loop_s = (|| {
        let mut child = Command::new("python3").arg("-c").arg(format!("{CHECKER}\n{PY_LOOP}")).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().ok()?;
        let mut stdin = child.stdin.take()?;
        let mut stdout = BufReader::new(child.stdout.take()?);
        let mut buf = String::new();
        let mut one = |stdin: &mut std::process::ChildStdin, buf: &mut String| -> Option<()> {
            stdin.write_all(line.as_bytes()).ok()?;
            stdin.write_all(b"\n").ok()?;
            stdin.flush().ok()?;
            buf.clear();
            stdout.read_line(buf).ok()?;
            buf.starts_with("{\"passed\"").then_some(())
        };
        for _ in 0..20 {
            one(&mut stdin, &mut buf)?;
        }
        let mut lat = Vec::with_capacity(n);
        let t = Instant::now();
        for _ in 0..n {
            let s = Instant::now();
            one(&mut stdin, &mut buf)?;
            lat.push(s.elapsed());
        }
        let total = t.elapsed();
        drop(stdin);
        let _ = child.wait();
        Some(summarize(lat, total))
    })();

    println!();
    let lang = checker.interpreter().split(' ').next().unwrap_or("checker").to_string();
    row(&format!("{lang}/wasm"), n, &wasm_s);
    row(&format!("{lang}/wasm trivial"), n, &trivial_s);
    if let Some(s) = &sub_s {
        row("python/subprocess", py_n, s);
    }
    if let Some(s) = &loop_s {
        row("python/in-process", n, s);
    }
    println!();
    if let Some(s) = &sub_s {
        println!(
            "ratio python-subprocess / {lang}-wasm: p50 {:.1}x, p99 {:.1}x, checks/s {:.1}x",
            s.p50.as_secs_f64() / wasm_s.p50.as_secs_f64(),
            s.p99.as_secs_f64() / wasm_s.p99.as_secs_f64(),
            wasm_s.per_sec / s.per_sec
        );
    } else {
        println!("python3 not found: no subprocess comparison");
    }
    if let Some(s) = &loop_s {
        println!(
            "ratio {lang}-wasm / python-in-process (unsandboxed): p50 {:.1}x, p99 {:.1}x",
            wasm_s.p50.as_secs_f64() / s.p50.as_secs_f64(),
            wasm_s.p99.as_secs_f64() / s.p99.as_secs_f64()
        );
    }
    println!("goal p99 ≤ 1 ms for {lang}/wasm: {}", if wasm_s.p99 <= Duration::from_millis(1) { "met" } else { "NOT met" });

    // Which Python a model is likely to write works here.
    if std::env::var_os("EIGENBOX_BENCH_PROGRAM").is_none() {
        println!();
        println!("python subset (each snippet inside `def check(...)`):");
        for (feature, snippet) in SUBSET {
            let program = format!("def check(task, trajectory, initial, final):\n    {}\n    return True\n", snippet.replace('\n', "\n    "));
            let r = rt.block_on(checker.check(&program, &input));
            match r.outcome.error() {
                None => println!("  works  {feature}"),
                Some(e) => println!("  NO     {feature}: {}", e.to_string().lines().next().unwrap_or("")),
            }
        }
    }
}

const SUBSET: &[(&str, &str)] = &[
    ("list/dict comprehensions", "x = [m['role'] for m in trajectory if m['role'] != 'tool']\ny = {k: v for k, v in final['agent'].items()}"),
    ("f-strings", "s = f\"{len(trajectory)} msgs, {task['id']!r}\""),
    ("% formatting", "s = '%s has %d items' % ('x', 3)"),
    ("str.format", "s = '{} and {}'.format(1, 2)"),
    ("slicing, negative index", "a = trajectory[-1]\nb = trajectory[1:3]\nc = 'abcdef'[::-1]"),
    ("str methods", "s = ' Hi '.strip().lower().replace('h', 'H').split('i')\nt = 'a,b'.startswith('a') and 'x'.join(['1', '2']) == '1x2'"),
    ("tuple unpacking", "a, b = 1, 2\nfor i, m in enumerate(trajectory):\n    pass"),
    ("lambda, sorted(key=)", "xs = sorted(trajectory, key = lambda m: m['role'])"),
    ("any/all/min/max/sum", "ok = any([True]) and all([True]) and min(1, 2) == 1 and max([1, 3]) == 3 and sum([1, 2]) == 3"),
    ("nested def, closures", "def f(x):\n    return x + len(trajectory)\ny = f(1)"),
    ("while loop", "i = 0\nwhile i < 3:\n    i += 1"),
    ("try/except", "try:\n    x = 1\nexcept Exception:\n    pass"),
    ("import", "import json"),
    ("class", "class A:\n    pass"),
    ("set literal", "s = {1, 2}"),
    ("set()", "s = set([1, 2])\nok = 1 in s"),
    ("is None", "ok = task.get('x') is None"),
    ("== None", "ok = task.get('x') == None"),
    ("generator expression", "ok = any(m['role'] == 'user' for m in trajectory)"),
    ("float/int mixing, round", "x = round(2.5) + 1.5 * 2 + 7 // 2 + 7 % 3"),
    ("isinstance", "ok = isinstance(task, dict)"),
    ("type()", "ok = type(task) == 'dict'"),
    ("json.decode / encode", "d = json.decode('{\"a\": 1}')\ns = json.encode(d)"),
    ("dict.get/items/keys/values", "v = [k for k in task.keys()] + [v for v in task.values()] + [i for i in task.items()]"),
    ("in / not in on dict and str", "ok = 'id' in task and 'zz' not in 'abc'"),
    ("chained comparison", "ok = 1 < 2 < 3"),
    ("ternary", "x = 1 if task else 2"),
    ("global mutation in function", "n = [0]\nn[0] += 1"),
    ("walrus", "if (n := len(trajectory)) > 1:\n    pass"),
    ("print", "print('hello', len(trajectory))"),
    ("str * int, list + list", "s = 'ab' * 3\nl = [1] + [2]"),
    ("dict union |", "d = {'a': 1} | {'b': 2}"),
    ("abs, int(), float(), str()", "x = abs(-1) + int('3') + float('1.5')\ns = str(1)"),
];
