//! The evaluator vs the Python reference's, same machine, same run: every golden evaluator
//! record (`../shared/golden/<domain>/evals.jsonl`) re-scored, rewards per second.
//!
//! eigenbox scores through the domains' WASM plugins, set up as a serving host runs them
//! (pooled instance slots, the domain's initial state frozen once), twice: as a run uses it (one evaluator
//! per domain, so each task's gold environment is built once and its hashes reused by the
//! task's other trajectories) and with that cache off (both environments built for every
//! trajectory, as the reference does). Where the time goes (environment reset, tool replay,
//! DB hashes, ...) is measured by timing every call the evaluator makes into the domain.
//!
//! Run: `scripts/build.sh && cargo bench -p eigenbox-tests --bench eval [-- domain ...]`. The
//! Python side runs through `../shared/tau2/reference-env.sh` (skipped, with a notice, where
//! it is absent).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use std::sync::Arc;

use eigenbox_episode::{EnvError, WasmDomainEnv};
use eigenbox_eval::{read_golden_evals, EvalConfig, Evaluator};
use eigenbox_runtime::{InstancePool, LoadedComponent, Runtime, RuntimeConfig};
use eigenbox_tau2::{DomainEnv, EpisodeInit, Message, Requestor, Task, TaskSet, TaskVersion, TerminationReason, ToolSpec};
use eigenbox_tests::{domain_plugin, workspace_root};
use serde_json::Value;

/// Time spent per kind of domain call.
type Timings = Rc<RefCell<BTreeMap<&'static str, (usize, Duration)>>>;

/// A [`DomainEnv`] that times every call into the domain.
struct Timed {
    env: WasmDomainEnv,
    t: Timings,
}

impl Timed {
    fn time<R>(&mut self, what: &'static str, f: impl FnOnce(&mut WasmDomainEnv) -> R) -> R {
        let start = Instant::now();
        let r = f(&mut self.env);
        let mut t = self.t.borrow_mut();
        let e = t.entry(what).or_default();
        e.0 += 1;
        e.1 += start.elapsed();
        r
    }
}

impl DomainEnv for Timed {
    type Error = EnvError;
    fn reset(&mut self, init: &EpisodeInit) -> Result<(), EnvError> {
        self.time("reset", |e| e.reset(init))
    }
    fn tools(&mut self) -> Result<Vec<ToolSpec>, EnvError> {
        self.time("tools", |e| e.tools())
    }
    fn call_tool(&mut self, r: Requestor, name: &str, args: &Value) -> Result<(String, bool), EnvError> {
        self.time("call_tool", |e| e.call_tool(r, name, args))
    }
    fn env_function(&mut self, side: Requestor, name: &str, args: &Value) -> Result<Value, EnvError> {
        self.time("env_function", |e| e.env_function(side, name, args))
    }
    fn state_hash(&mut self, side: Requestor) -> Result<Option<String>, EnvError> {
        self.time("state_hash", |e| e.state_hash(side))
    }
    fn is_mutating(&mut self, name: &str) -> Result<Option<bool>, EnvError> {
        self.time("is_mutating", |e| e.is_mutating(name))
    }
    fn call_tool_unsynced(&mut self, r: Requestor, name: &str, args: &Value) -> Result<Option<(String, bool)>, EnvError> {
        self.time("call_tool_unsynced", |e| e.call_tool_unsynced(r, name, args))
    }
}

struct Case {
    task: Task,
    messages: Vec<Message>,
    termination: TerminationReason,
    expected: Value,
}

fn cases(domain: &str) -> Option<Vec<Case>> {
    let path = workspace_root().join("../shared/golden").join(domain).join("evals.jsonl");
    let path = if path.is_file() { path } else { workspace_root().join("plugins").join(domain).join("data/golden/evals.jsonl") };
    if !path.is_file() {
        return None;
    }
    let data = workspace_root().join("plugins").join(domain).join("data");
    let mut sets = HashMap::new();
    let mut out = Vec::new();
    for g in read_golden_evals(&path).expect("golden evals") {
        if g.record.generation_error.is_some() {
            continue;
        }
        let version = TaskVersion::parse(g.record.version.as_deref().unwrap_or("v1.0")).expect("version");
        let set = sets.entry(version).or_insert_with(|| TaskSet::load(&data, version, None).expect("tasks"));
        out.push(Case {
            task: set.get(&g.record.task_id).expect("task").clone(),
            messages: g.record.messages().expect("trajectory"),
            termination: g.record.termination().expect("termination").expect("known termination"),
            expected: g.expected,
        });
    }
    Some(out)
}

struct Ours {
    per_s: f64,
    reproduced: usize,
    timings: BTreeMap<&'static str, (usize, Duration)>,
    total: Duration,
}

/// The domain as a serving host runs it: pooled instance slots and the initial state frozen
/// once, so every environment the evaluator makes is a new instance of that state. Returns the
/// component and the one-time cost of the freeze.
fn serving_component(rt: &tokio::runtime::Runtime, host: &Runtime, domain: &str) -> (Arc<LoadedComponent>, Duration) {
    let original = domain_plugin(host, domain);
    let t = Instant::now();
    let empty = eigenbox_runtime::EpisodeInit { agent_data: None, user_data: None, actions: Vec::new() };
    let frozen = rt.block_on(original.freeze(empty)).expect("freeze the initial state");
    (frozen.component().clone(), t.elapsed())
}

fn ours(rt: &tokio::runtime::Runtime, comp: &Arc<LoadedComponent>, cases: &[Case], config: EvalConfig, rounds: usize) -> Ours {
    let timings: Timings = Rc::default();
    let handle = rt.handle().clone();
    let mut reproduced = 0;
    let mut total = Duration::ZERO;
    for round in 0..rounds {
        // A new evaluator per round: nothing cached from an earlier round.
        let t = timings.clone();
        let c = comp.clone();
        let h = handle.clone();
        let mut ev = Evaluator::new(move || Ok::<_, EnvError>(Timed { env: WasmDomainEnv::new(&h, c.clone())?, t: t.clone() })).with_config(config);
        for case in cases {
            let start = Instant::now();
            let e = ev.evaluate(&case.task, &case.messages, case.termination).expect("evaluation");
            total += start.elapsed();
            if round == 0 && e.reward_info.to_json() == case.expected {
                reproduced += 1;
            }
        }
    }
    let timings = timings.borrow().clone();
    Ours { per_s: (cases.len() * rounds) as f64 / total.as_secs_f64().max(1e-9), reproduced, timings, total }
}

fn reference(domains: &[&str]) -> Vec<Value> {
    let script = workspace_root().join("../shared/tau2/reference-env.sh");
    if !script.is_file() {
        println!("(Python reference not found at {}; eigenbox numbers only)", script.display());
        return Vec::new();
    }
    let golden = workspace_root().join("../shared/golden");
    let data = workspace_root().join("../shared/tau2/data");
    let out = Command::new(&script)
        .arg("python")
        .arg(workspace_root().join("tests/benches/tau2_eval_reference.py"))
        .arg(&golden)
        .arg(&data)
        .args(domains)
        .current_dir(workspace_root())
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("rewards_per_s").is_some())
            .collect(),
        Ok(o) => {
            println!("(Python reference failed: {})", String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or(""));
            Vec::new()
        }
        Err(e) => {
            println!("(cannot run the Python reference: {e})");
            Vec::new()
        }
    }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let wanted: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let all: Vec<(&str, Vec<Case>)> = ["mock", "airline", "retail", "telecom"]
        .into_iter()
        .filter(|d| wanted.is_empty() || wanted.iter().any(|w| w == d))
        .filter(|d| workspace_root().join(format!("target/wasm32-wasip2/release/eigenbox_plugin_{d}.wasm")).is_file())
        .filter_map(|d| cases(d).map(|c| (d, c)))
        .collect();
    let names: Vec<&str> = all.iter().map(|(d, _)| *d).collect();
    let refs = reference(&names);
    let host = Runtime::new(RuntimeConfig { pool: Some(InstancePool::default()), ..RuntimeConfig::default() }).expect("runtime");
    println!(
        "{:<8} {:>7} {:>10} | {:>12} {:>12} {:>12} | {:>9} {:>9}",
        "domain", "records", "reproduced", "rewards/s", "no cache", "reference", "ratio", "no cache"
    );
    let mut breakdowns = Vec::new();
    let mut freezes = Vec::new();
    for (d, cases) in &all {
        let rounds = if *d == "mock" { 20 } else { 1 };
        let (comp, freeze) = serving_component(&rt, &host, d);
        freezes.push(format!("{d} {:.2} s", freeze.as_secs_f64()));
        let warm = ours(&rt, &comp, cases, EvalConfig::default(), rounds);
        let cold = ours(&rt, &comp, cases, EvalConfig { cache_gold: false, ..EvalConfig::default() }, rounds);
        let r = refs.iter().find(|r| r["domain"] == *d).and_then(|r| r["rewards_per_s"].as_f64());
        let ratio = |x: f64| r.map(|r| format!("{:.1}x", x / r)).unwrap_or_else(|| "-".into());
        println!(
            "{:<8} {:>7} {:>10} | {:>12.1} {:>12.1} {:>12} | {:>9} {:>9}",
            d,
            cases.len(),
            format!("{}/{}", warm.reproduced, cases.len()),
            warm.per_s,
            cold.per_s,
            r.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into()),
            ratio(warm.per_s),
            ratio(cold.per_s),
        );
        breakdowns.push((d.to_string(), cold));
    }
    println!("\nwhere the time goes without the gold cache (share of evaluation time; calls; mean per call):");
    for (d, o) in breakdowns {
        let parts: Vec<String> = o
            .timings
            .iter()
            .filter(|(_, (n, _))| *n > 0)
            .map(|(k, (n, t))| {
                format!("{k} {:.0}% ({n}, {:.3} ms)", 100.0 * t.as_secs_f64() / o.total.as_secs_f64().max(1e-9), t.as_secs_f64() * 1e3 / *n as f64)
            })
            .collect();
        println!("  {d:<8} {}", parts.join(", "));
    }
    println!("one-time freeze of each domain's initial state (not in the rates): {}", freezes.join(", "));
    println!("goal: rewards/s >= 20x the reference (telecom's reproduced count excludes db_checks that need a domain call without sync)");
}
