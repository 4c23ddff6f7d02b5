//! Host overhead of the episode loop: airline's golden gold trajectories replayed through
//! `run_episode` (replay agent and user, no model) against the same tool calls made directly on a
//! fresh domain instance, in the same run. Prints time per episode, the loop's overhead per step,
//! and the ratio. Needs `scripts/build.sh` (dist/plugins).

use std::path::Path;
use std::time::{Duration, Instant};

use eigenbox_orchestrator::{run_episode, Environment, EpisodeConfig, ReplayAgent, ReplayUser, WasmEnv};
use eigenbox_runtime::{Runtime, RuntimeConfig};
use eigenbox_tau2::{Message, Task, TaskSet, TaskVersion};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("dist/plugins/airline");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio");
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let airline = runtime.load_manifest_file(&dir.join("eigenbox.toml")).expect("airline plugin (run scripts/build.sh)");
    let tasks = TaskSet::load(&dir.join("data"), TaskVersion::V1_0, None).expect("tasks");
    let golden = {
        let shared = root.join("../shared/golden/airline/evals.jsonl");
        if shared.is_file() { shared } else { dir.join("data/golden/evals.jsonl") }
    };
    let records = eigenbox_eval::read_golden_evals(&golden).expect("golden");
    let cases: Vec<(Task, Vec<Message>)> = records
        .iter()
        .filter(|g| g.record.variant == "gold" && g.record.generation_error.is_none())
        .filter_map(|g| Some((tasks.get(&g.record.task_id)?.clone(), g.record.messages().ok()?)))
        .collect();
    let calls: usize = cases
        .iter()
        .map(|(_, m)| m.iter().filter_map(|m| if let Message::Assistant(p) = m { p.tool_calls.get().map(Vec::len) } else { None }).sum::<usize>())
        .sum();

    let direct = || {
        rt.block_on(async {
            for (task, messages) in &cases {
                let mut env = WasmEnv::new(airline.clone()).await.expect("env");
                env.initialise(task).await.expect("init");
                for m in messages {
                    if let Message::Assistant(p) = m {
                        for c in p.tool_calls.get().into_iter().flatten() {
                            let _ = env.call_tool(c).await.expect("call");
                        }
                    }
                }
            }
        })
    };
    let mut steps = 0u64;
    let mut looped = || {
        rt.block_on(async {
            steps = 0;
            for (task, messages) in &cases {
                let mut env = WasmEnv::new(airline.clone()).await.expect("env");
                let e = run_episode(task, &mut ReplayAgent::new(messages), &mut ReplayUser::new(messages), &mut env, &EpisodeConfig::default()).await;
                steps += u64::from(e.steps);
            }
        })
    };
    // Warm up both, then alternate to share the machine's noise.
    direct();
    looped();
    let (mut t_direct, mut t_loop) = (Duration::ZERO, Duration::ZERO);
    let rounds = 5;
    for _ in 0..rounds {
        let t = Instant::now();
        direct();
        t_direct += t.elapsed();
        let t = Instant::now();
        looped();
        t_loop += t.elapsed();
    }
    let n = (cases.len() * rounds) as f64;
    let per_direct = t_direct.as_secs_f64() / n;
    let per_loop = t_loop.as_secs_f64() / n;
    let overhead_per_step = (t_loop.as_secs_f64() - t_direct.as_secs_f64()) / (steps as f64 * rounds as f64);
    println!("airline gold trajectories: {} episodes, {calls} tool calls, {steps} loop steps", cases.len());
    println!("direct tool calls (baseline): {:>9.1} µs/episode", per_direct * 1e6);
    println!("run_episode (replay agent/user): {:>6.1} µs/episode", per_loop * 1e6);
    println!("loop overhead: {:.2} µs/step; ratio run_episode / direct = {:.3}", overhead_per_step * 1e6, per_loop / per_direct);
}
