//! τ² domains through eigenbox vs the Python reference, same machine, same run: replay every
//! v1.0 task's reference actions on a fresh episode and report tool calls per second (calls
//! only), the cost of a fresh episode in the task's initial state, of a fork from a frozen task
//! state, and of the first DB hash after the replay.
//!
//! eigenbox runs as a host serving many episodes would: pooled instance slots
//! ([`eigenbox_runtime::InstancePool`]) and the domain's initial state frozen once (its
//! one-time cost is printed), so a fresh episode is a new instance of the frozen state plus
//! the task's `initial_state`.
//!
//! Every round of replays runs twice: first as the reference's loop runs it (`tau2_reference.py`:
//! a fresh environment per task, then its calls, timed; no DB hash in between), which gives the
//! headline calls/s and ratio; then with a DB hash after every episode (the evaluator's
//! pattern), which gives the DB-hash time and a second calls/s ("hashed"). A DB hash renders
//! and copies the whole DB (3.4 MB for airline) and leaves the next episode's calls with cold
//! caches, so the hashed rate is the lower one; both are printed.
//!
//! Run: `scripts/build.sh && cargo bench -p eigenbox-tests --bench domains`. The Python side
//! runs through `../shared/tau2/reference-env.sh` (skipped, with a notice, where it is absent).
//!
//! For profiling: `EIGENBOX_BENCH_DOMAINS=airline` (comma-separated) picks domains,
//! `EIGENBOX_BENCH_NO_REF=1` skips the reference, `EIGENBOX_BENCH_ROUNDS=N` replays every task
//! N times in each of the two phases (default 5; each time on a fresh episode; calls/s is the
//! median round's, as a round of airline is only ≈ 4 ms of calls), `EIGENBOX_BENCH_DETAIL=1` prints per-tool call time, fuel and
//! minor page faults, the first call of each episode against the later ones, and each read-only
//! call repeated at once ("warm"). `EIGENBOX_BENCH_RESET` picks how episodes get their memory:
//! `default` (the default pool: only written pages reset), `dirty` (the same, explicitly),
//! `full` ([`InstancePool::full_reset`]: the whole image copied back), `keep=MiB` (the default
//! pool with that much kept resident per slot), `unpooled` (a copy-on-write mapping per
//! instance); see
//! docs/benchmarks.md for what each changes.
//! `EIGENBOX_BENCH_PRIME=1` makes a trivial call
//! (`transfer_to_human_agents`) on each fresh episode before its replay; `EIGENBOX_BENCH_PRIME=2`
//! makes two calls of an unknown tool before that one (a guest call that touches almost nothing:
//! the first against the second is what a call costs for being an instance's first). The last three change
//! what the headline numbers measure: for diagnosis only.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use eigenbox_episode::WasmDomainEnv;
use eigenbox_runtime::{DbSide, DomainInstance, EpisodeInit, FrozenState, InstancePool, Runtime, RuntimeConfig};
use eigenbox_tau2::{DomainEnv, TaskSet, TaskVersion};
use eigenbox_tests::{domain_plugin, workspace_root};
use serde_json::Value;

struct Ours {
    tasks: usize,
    calls: usize,
    /// Calls per second with episodes back to back, as the reference's loop runs them.
    calls_per_s: f64,
    /// The same with a DB hash after every episode (the evaluator's pattern).
    calls_per_s_hashed: f64,
    episode_p50: Duration,
    frozen_fork_p50: Duration,
    pooled_fork_p50: Duration,
    /// Dropping a pooled fork (its slot's reset).
    pooled_drop_p50: Duration,
    /// Dropping a per-instance-memory fork (unmapping it).
    frozen_drop_p50: Duration,
    hash_p50: Duration,
    freeze_initial: Duration,
    /// Linear memory of an episode after its DB hash, bytes.
    memory: u64,
    /// The same for a fork of the first frozen task state.
    task_memory: u64,
    /// Per tool: calls, total time, total fuel (every round).
    per_tool: BTreeMap<String, (usize, Duration, u64)>,
    /// Per tool: minor page faults (detail mode).
    faults: BTreeMap<String, u64>,
}

/// Minor page faults of this process so far (detail mode).
fn minflt() -> u64 {
    eigenbox_tests::minor_faults(false)
}

/// Count one timed call under `name`: calls, time, fuel.
fn tally(per_tool: &mut BTreeMap<String, (usize, Duration, u64)>, name: String, dt: Duration, fuel: u64) {
    let e = per_tool.entry(name).or_default();
    e.0 += 1;
    e.1 += dt;
    e.2 += fuel;
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// The pool `EIGENBOX_BENCH_RESET` asks for (see the crate docs); anything else is refused.
fn pool_from_env() -> Option<InstancePool> {
    let reset = std::env::var("EIGENBOX_BENCH_RESET").unwrap_or_default();
    let keep = |mib: &str| mib.parse::<u64>().ok().and_then(|m| m.checked_mul(1 << 20));
    match reset.as_str() {
        "" | "default" => Some(InstancePool::default()),
        "dirty" => Some(InstancePool { reset_dirty_pages_only: true, ..InstancePool::default() }),
        "full" => Some(InstancePool::full_reset()),
        "unpooled" => None,
        r => match r.strip_prefix("keep=").and_then(keep) {
            Some(bytes) => Some(InstancePool { keep_resident_bytes: bytes, ..InstancePool::default() }),
            None => panic!("EIGENBOX_BENCH_RESET=`{r}`: expected default, dirty, full, unpooled or keep=<MiB>"),
        },
    }
}

/// A fork from `state`: how long creating it took, and dropping it (for a pooled slot, its reset).
fn fork(rt: &tokio::runtime::Runtime, state: &FrozenState) -> (Duration, Duration) {
    let t = Instant::now();
    let e = rt.block_on(DomainInstance::from_frozen(state)).expect("fork");
    let created = t.elapsed();
    let t = Instant::now();
    drop(e);
    (created, t.elapsed())
}

fn ours(rt: &tokio::runtime::Runtime, domain: &str) -> Ours {
    let pool = pool_from_env();
    let host = Runtime::new(RuntimeConfig { pool, ..RuntimeConfig::default() }).expect("runtime");
    let original = domain_plugin(&host, domain);
    let t = Instant::now();
    let pristine = rt.block_on(original.freeze(EpisodeInit { agent_data: None, user_data: None, actions: Vec::new() })).expect("freeze the initial state");
    let freeze_initial = t.elapsed();
    // Linear memory of an episode of the frozen initial state after its DB hash: what every
    // slot reset copies back (see docs/benchmarks.md).
    let memory = {
        let mut e = rt.block_on(DomainInstance::from_frozen(&pristine)).expect("fork");
        rt.block_on(e.state_hash(DbSide::Assistant)).expect("hash");
        e.last_call().peak_memory
    };
    let comp = pristine.component().clone();
    // Forks of many different task states: per-instance memory maps each new image directly,
    // where a pooled slot must first be re-pointed at it.
    let unpooled = domain_plugin(&eigenbox_tests::runtime(""), domain);
    let set = TaskSet::load(&workspace_root().join("plugins").join(domain).join("data"), TaskVersion::V1_0, None).expect("tasks");
    let (mut calls, mut call_time) = (0usize, Duration::ZERO);
    let (mut episodes, mut forks, mut pooled_forks, mut pooled_drops, mut hashes) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut frozen_drops = Vec::new();
    let rounds = env_num("EIGENBOX_BENCH_ROUNDS", 5).max(1);
    let detail = std::env::var_os("EIGENBOX_BENCH_DETAIL").is_some();
    let mut faults: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_tool: BTreeMap<String, (usize, Duration, u64)> = BTreeMap::new();
    let mut round_times = Vec::new();
    let mut hashed_round_times = Vec::new();
    // Phase 0 runs the rounds as the reference's loop does (episode after episode, calls
    // timed); phase 1 runs them again with a DB hash after every episode, which is where the
    // hash times come from. A hash renders and copies the whole DB (3.4 MB for airline), which
    // leaves the next episode's calls with cold caches: phase 1's calls/s shows that cost.
    for phase in 0..2 {
        let hash_after = phase == 1;
        for _ in 0..rounds {
            let round_started = call_time;
            for task in &set.tasks {
                let t = Instant::now();
                let mut env = WasmDomainEnv::new(rt.handle(), comp.clone()).expect("episode");
                eigenbox_tau2::initialise_episode(&mut env, Some(task), true).expect("initial state");
                let started = t.elapsed();
                let actions = task.evaluation_criteria.get().and_then(|c| c.actions.get()).cloned().unwrap_or_default();
                if std::env::var_os("EIGENBOX_BENCH_PRIME").is_some_and(|v| v == "2") {
                    for name in ["* unknown tool 1", "* unknown tool 2"] {
                        let t = Instant::now();
                        let r = env.call_tool(eigenbox_tau2::Requestor::Assistant, "no_such_tool", &serde_json::json!({}));
                        let dt = t.elapsed();
                        tally(&mut per_tool, name.into(), dt, env.instance().last_call().fuel);
                        drop(r);
                    }
                }
                if std::env::var_os("EIGENBOX_BENCH_PRIME").is_some() {
                    let f0 = minflt();
                    let t = Instant::now();
                    let r = env.call_tool(eigenbox_tau2::Requestor::Assistant, "transfer_to_human_agents", &serde_json::json!({"summary": "x"}));
                    let dt = t.elapsed();
                    *faults.entry("* priming call".into()).or_default() += minflt() - f0;
                    tally(&mut per_tool, "* priming call".into(), dt, env.instance().last_call().fuel);
                    drop(r);
                }
                for (i, a) in actions.iter().enumerate() {
                    let args = Value::Object(a.arguments.clone());
                    let f0 = if detail { minflt() } else { 0 };
                    let t = Instant::now();
                    env.call_tool(a.requestor(), &a.name, &args).expect("call");
                    let dt = t.elapsed();
                    if detail {
                        let f = minflt() - f0;
                        *faults.entry(a.name.clone()).or_default() += f;
                        *faults.entry(if i == 0 { "* first call of an episode" } else { "* later calls" }.to_string()).or_default() += f;
                    }
                    call_time += dt;
                    calls += 1;
                    let fuel = env.instance().last_call().fuel;
                    tally(&mut per_tool, a.name.clone(), dt, fuel);
                    if detail {
                        tally(&mut per_tool, if i == 0 { "* first call of an episode" } else { "* later calls" }.to_string(), dt, fuel);
                    }
                    // Detail mode: the same read-only call again, warm (pages touched, caches filled).
                    if detail && !rt.block_on(env.instance().is_mutating(eigenbox_episode::wit_req(a.requestor()), &a.name)).expect("kind").unwrap_or(true) {
                        let f0 = minflt();
                        let t = Instant::now();
                        env.call_tool(a.requestor(), &a.name, &args).expect("call");
                        let dt = t.elapsed();
                        *faults.entry(format!("{} (warm)", a.name)).or_default() += minflt() - f0;
                        tally(&mut per_tool, format!("{} (warm)", a.name), dt, env.instance().last_call().fuel);
                    }
                }
                if hash_after && !actions.is_empty() {
                    let t = Instant::now();
                    rt.block_on(env.instance().state_hash(DbSide::Assistant)).expect("hash");
                    hashes.push(t.elapsed());
                }
                // Dropping the episode resets its pooled slot (the memory it wrote goes back to the
                // frozen image): part of what an episode costs.
                let t = Instant::now();
                drop(env);
                episodes.push(started + t.elapsed());
            }
            if hash_after { &mut hashed_round_times } else { &mut round_times }.push(call_time - round_started);
        }
    }
    // GRPO pattern: freeze a task's initial state once, fork each rollout from it. Measured
    // apart from the replay: a freeze (wizer, compile) between an episode's start and its
    // calls would evict the caches the calls then run in.
    let mut task_memory = 0;
    for task in set.tasks.iter().take(5) {
        let mut env = WasmDomainEnv::new(rt.handle(), comp.clone()).expect("episode");
        eigenbox_tau2::initialise_episode(&mut env, Some(task), true).expect("initial state");
        let snap = rt.block_on(env.instance().snapshot()).expect("snapshot");
        let frozen = rt.block_on(unpooled.freeze_snapshot(&snap)).expect("freeze");
        let pooled = rt.block_on(env.instance().freeze()).expect("freeze");
        if task_memory == 0 {
            let mut e = rt.block_on(DomainInstance::from_frozen(&pooled)).expect("fork");
            rt.block_on(e.state_hash(DbSide::Assistant)).expect("hash");
            task_memory = e.last_call().peak_memory;
        }
        // A group of rollouts forks one state several times in a row; each kind of fork is
        // timed in a group of its own (a pooled fork's drop copies the whole image back, which
        // would leave the caches cold for a per-instance fork timed right after it).
        for _ in 0..8 {
            let (created, dropped) = fork(rt, &frozen);
            forks.push(created);
            frozen_drops.push(dropped);
        }
        for _ in 0..8 {
            let (created, dropped) = fork(rt, &pooled);
            pooled_forks.push(created);
            pooled_drops.push(dropped);
        }
    }
    Ours {
        tasks: set.tasks.len(),
        calls: calls / (2 * rounds),
        // The median round: a round of airline is ≈ 4 ms of calls, so one scheduling hiccup
        // would move a total by tens of percent.
        calls_per_s: (calls / (2 * rounds)) as f64 / p50(round_times).as_secs_f64().max(1e-9),
        calls_per_s_hashed: (calls / (2 * rounds)) as f64 / p50(hashed_round_times).as_secs_f64().max(1e-9),
        episode_p50: p50(episodes),
        frozen_fork_p50: p50(forks),
        pooled_fork_p50: p50(pooled_forks),
        pooled_drop_p50: p50(pooled_drops),
        frozen_drop_p50: p50(frozen_drops),
        hash_p50: p50(hashes),
        freeze_initial,
        memory,
        task_memory,
        per_tool,
        faults,
    }
}

fn reference(domains: &[&str]) -> Vec<Value> {
    if std::env::var_os("EIGENBOX_BENCH_NO_REF").is_some() {
        return Vec::new();
    }
    let script = workspace_root().join("../shared/tau2/reference-env.sh");
    if !script.is_file() {
        println!("(Python reference not found at {}; eigenbox numbers only)", script.display());
        return Vec::new();
    }
    let out = Command::new(&script)
        .arg("python")
        .arg(workspace_root().join("tests/benches/tau2_reference.py"))
        .args(domains)
        .current_dir(workspace_root())
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect(),
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
    let domains: Vec<&str> = ["mock", "airline", "retail", "telecom"]
        .into_iter()
        .filter(|d| std::env::var("EIGENBOX_BENCH_DOMAINS").map(|l| l.split(',').any(|x| x == *d)).unwrap_or(true))
        .filter(|d| workspace_root().join(format!("target/wasm32-wasip2/release/eigenbox_plugin_{d}.wasm")).is_file() && Path::new(&workspace_root().join("plugins").join(d)).is_dir())
        .collect();
    let refs = reference(&domains);
    println!("{:<8} {:>6} {:>6} | {:>12} {:>12} {:>7} | {:>19} | {:>11} {:>11} {:>24} | {:>10} {:>10}", "domain", "tasks", "calls", "calls/s", "ref calls/s", "ratio", "hashed: calls/s, x", "episode", "ref episode", "frozen fork", "DB hash", "ref hash");
    println!("(calls/s: episodes back to back, as the reference's loop runs them; hashed: the same with a DB hash after every episode)");
    println!("(episode: start in the task's initial state, plus the drop that resets its pooled slot)");
    println!("(frozen fork: a new episode in a frozen task state + its drop; per-instance memory, pooled slots in brackets)");
    let mut frozen = Vec::new();
    for d in domains {
        let o = ours(&rt, d);
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        frozen.push(format!("{d} {:.2} s, {:.1} MiB (a frozen task state: {:.1} MiB)", o.freeze_initial.as_secs_f64(), mib(o.memory), mib(o.task_memory)));
        let r = refs.iter().find(|r| r["domain"] == d);
        let rf = |k: &str| r.and_then(|r| r[k].as_f64());
        let ms = |x: f64| format!("{:.3} ms", x * 1e3);
        println!(
            "{:<8} {:>6} {:>6} | {:>12.0} {:>12} {:>7} | {:>19} | {:>11} {:>11} {:>24} | {:>10} {:>10}",
            d,
            o.tasks,
            o.calls,
            o.calls_per_s,
            rf("calls_per_s").map(|x| format!("{x:.0}")).unwrap_or("-".into()),
            rf("calls_per_s").map(|x| format!("{:.1}x", o.calls_per_s / x)).unwrap_or("-".into()),
            format!("{:.0}, {}", o.calls_per_s_hashed, rf("calls_per_s").map(|x| format!("{:.1}x", o.calls_per_s_hashed / x)).unwrap_or("-".into())),
            ms(o.episode_p50.as_secs_f64()),
            rf("episode_p50_s").map(ms).unwrap_or("-".into()),
            format!("{:.0} + {:.0} ({:.0} + {:.0}) µs", o.frozen_fork_p50.as_secs_f64() * 1e6, o.frozen_drop_p50.as_secs_f64() * 1e6, o.pooled_fork_p50.as_secs_f64() * 1e6, o.pooled_drop_p50.as_secs_f64() * 1e6),
            ms(o.hash_p50.as_secs_f64()),
            rf("hash_p50_s").map(ms).unwrap_or("-".into()),
        );
        if std::env::var_os("EIGENBOX_BENCH_DETAIL").is_some() {
            for (name, (n, t, fuel)) in &o.per_tool {
                let pf = o.faults.get(name).copied().unwrap_or(0) as f64 / *n as f64;
                println!("    {name:<32} {n:>5} calls {:>9.2} µs/call {:>9} fuel/call {pf:>7.1} page faults/call", t.as_secs_f64() * 1e6 / *n as f64, fuel / *n as u64);
            }
        }
    }
    println!("goals (airline): calls/s >= 50x reference; fork <= 100 µs; DB hash <= 5 ms");
    println!("(eigenbox: pooled instances; each domain's initial state frozen once first, and an episode's linear memory after its DB hash: {})", frozen.join("; "));
}
