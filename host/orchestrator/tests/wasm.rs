//! Episodes over the real WASM domains (`dist/plugins`, built by `scripts/build.sh`): isolation
//! of concurrent episodes, and the replay agent reproducing the reference's rewards for the
//! golden gold trajectories.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eigenbox_orchestrator::{run_concurrently, run_episode, EpisodeConfig, ReplayAgent, ReplayUser, ScoredEpisode, WasmEnv, WasmScorer};
use eigenbox_runtime::{DbSide, LoadedComponent, Runtime, RuntimeConfig};
use eigenbox_tau2::{Message, TaskSet, TaskVersion, TerminationReason};
use serde_json::{json, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(domain: &str) -> (Arc<LoadedComponent>, PathBuf) {
    let dir = root().join("dist/plugins").join(domain);
    let manifest = dir.join("eigenbox.toml");
    assert!(manifest.is_file(), "{} is missing: run scripts/build.sh first", manifest.display());
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    (runtime.load_manifest_file(&manifest).expect("load"), dir.join("data"))
}

fn golden_evals(domain: &str, data: &Path) -> PathBuf {
    let shared = root().join("../shared/golden").join(domain).join("evals.jsonl");
    if shared.is_file() {
        shared
    } else {
        data.join("golden/evals.jsonl")
    }
}

fn create_task_dialogue(title: &str) -> Vec<Message> {
    serde_json::from_value(json!([
        {"role": "assistant", "content": "Hi! How can I help you today?"},
        {"role": "user", "content": "Create a task please."},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c0", "name": "create_task",
            "arguments": {"user_id": "user_1", "title": title}}]},
        {"role": "assistant", "content": "Done."},
        {"role": "user", "content": "###STOP###"}
    ]))
    .expect("dialogue")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_episodes_are_isolated() {
    let (mock, data) = load("mock");
    let tasks = TaskSet::load(&data, TaskVersion::V1_0, None).expect("tasks");
    let task = Arc::new(tasks.get("create_task_1").expect("task create_task_1").clone());
    // Eight episodes, four at a time, each creating a task: every one must get the same new id
    // (`task_2`: the first free one), which it could not if any state were shared.
    let jobs: Vec<usize> = (0..8).collect();
    let results = run_concurrently(
        jobs,
        4,
        |i| {
            let (mock, task) = (mock.clone(), task.clone());
            async move {
                let dialogue = create_task_dialogue(&format!("Meeting {i}"));
                let mut env = WasmEnv::new(mock).await.expect("env");
                let e = run_episode(&task, &mut ReplayAgent::new(&dialogue), &mut ReplayUser::new(&dialogue), &mut env, &EpisodeConfig::default()).await;
                let state = env.shared().lock().await.state_json(DbSide::Assistant).await.expect("state").unwrap_or_default();
                (i, e, state)
            }
        },
        |_| {},
    )
    .await;
    assert_eq!(results.len(), 8);
    for r in results {
        let (i, e, state) = r.expect("no panic");
        assert_eq!(e.termination_reason, TerminationReason::UserStop);
        let tool = serde_json::to_value(&e.messages[3]).expect("json");
        let created: Value = serde_json::from_str(tool["content"].as_str().unwrap_or("")).expect("tool output is JSON");
        assert_eq!(created["task_id"], json!("task_2"), "episode {i}: {created}");
        assert_eq!(created["title"], json!(format!("Meeting {i}")));
        // Only this episode's task is in this episode's DB.
        let own = format!("Meeting {i}");
        assert!(state.contains(&own), "episode {i}");
        for j in (0..8).filter(|j| *j != i) {
            assert!(!state.contains(&format!("Meeting {j}\"")), "episode {i} sees episode {j}'s write");
        }
    }
}

/// Whether a recorded trajectory follows the half-duplex turn order (some telecom and mock
/// golden trajectories are synthetic and do not: a user's text followed by the user's own
/// tool call, which no half-duplex loop can produce).
fn half_duplex(messages: &[Message]) -> bool {
    let mut expect = "user";
    let mut pending = 0usize;
    let mut caller = "";
    if messages.first().map(Message::role) != Some("assistant") {
        return false;
    }
    for m in &messages[1..] {
        match m {
            Message::Tool(_) => {
                if pending == 0 {
                    return false;
                }
                pending -= 1;
                if pending == 0 {
                    expect = caller;
                }
            }
            Message::Assistant(p) | Message::User(p) => {
                if pending > 0 || m.role() != expect {
                    return false;
                }
                match p.tool_calls.get() {
                    Some(calls) if !calls.is_empty() => {
                        pending = calls.len();
                        caller = m.role();
                    }
                    _ => expect = if m.role() == "user" { "assistant" } else { "user" },
                }
            }
            _ => return false,
        }
    }
    true
}

async fn replay_gold(domain: &str) -> (usize, usize) {
    let (component, data) = load(domain);
    let mut sets = std::collections::HashMap::new();
    let records = eigenbox_eval::read_golden_evals(&golden_evals(domain, &data)).expect("golden evals");
    let scorer = WasmScorer::new(component.clone());
    let (mut run, mut skipped) = (0, 0);
    for g in records.iter().filter(|g| g.record.variant == "gold" && g.record.generation_error.is_none()) {
        let version = TaskVersion::parse(g.record.version.as_deref().unwrap_or("v1.0")).expect("known task version");
        let tasks = sets.entry(version).or_insert_with(|| TaskSet::load(&data, version, None).expect("tasks"));
        let recorded = g.record.messages().expect("trajectory");
        let task = tasks.get(&g.record.task_id).expect("task");
        if !half_duplex(&recorded) {
            skipped += 1;
            continue;
        }
        let mut env = WasmEnv::new(component.clone()).await.expect("env");
        let episode = run_episode(task, &mut ReplayAgent::new(&recorded), &mut ReplayUser::new(&recorded), &mut env, &EpisodeConfig::default()).await;
        let id = &g.record.task_id;
        assert_eq!(episode.termination_reason, TerminationReason::UserStop, "{domain}/{id}: {:?}", episode.error);
        assert_eq!(episode.messages.len(), recorded.len(), "{domain}/{id}");
        // Every tool result is what the reference recorded.
        for (got, want) in episode.messages.iter().zip(&recorded) {
            if let (Message::Tool(g2), Message::Tool(w)) = (got, want) {
                let (a, b) = (g2.content.get().cloned().unwrap_or_default(), w.content.get().cloned().unwrap_or_default());
                assert!(
                    eigenbox_tau2::py_json_eq(&eigenbox_tau2::decode_or_string(&a), &eigenbox_tau2::decode_or_string(&b)),
                    "{domain}/{id}: tool output differs:\n got  {a}\n want {b}"
                );
                assert_eq!(g2.is_error(), w.is_error(), "{domain}/{id}");
            }
        }
        let scored = ScoredEpisode::score(&scorer, task, 0, episode).await;
        let want = g.expected["reward"].as_f64().expect("golden reward");
        assert_eq!(scored.reward, Some(want), "{domain}/{id}: {:?}", scored.eval_error);
        // The whole reward_info, not only the reward.
        let got = scored.evaluation.expect("evaluation").reward_info.to_json();
        let diffs = eigenbox_eval::json_differences(&g.expected, &got, 8);
        assert!(diffs.is_empty(), "{domain}/{id}: {diffs:?}");
        run += 1;
    }
    (run, skipped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_gold_trajectories_get_the_reference_rewards() {
    let mut total = 0;
    for (domain, at_least) in [("mock", 8), ("airline", 25), ("retail", 27), ("telecom", 2)] {
        let (run, skipped) = replay_gold(domain).await;
        eprintln!("{domain}: {run} gold trajectories replayed and scored, {skipped} skipped (not half-duplex)");
        assert!(run >= at_least, "{domain}: only {run} replayed");
        total += run;
    }
    assert!(total >= 60);
}
