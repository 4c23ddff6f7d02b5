//! `eigenbox run` end to end against a fake OpenAI-compatible server: episodes with the LLM agent
//! and the user-simulator role, results stored and exported, resume after a re-run and after a
//! kill.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use eigenbox_tests::workspace_root;
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Env {
    dir: tempfile::TempDir,
}

const GRANTS: &str = "[[component]]\nid = \"eigenbox:user-sim\"\n[component.capabilities]\nllm = [\"*\"]\ntools = [\"*/*\"]\n";

impl Env {
    fn new() -> Env {
        let env = Env { dir: tempfile::tempdir().unwrap() };
        let w = workspace_root().join("target/wasm32-wasip2/release");
        for (wasm, manifest) in [("eigenbox_plugin_mock.wasm", "plugins/mock/eigenbox.toml"), ("eigenbox_plugin_user_sim.wasm", "plugins/user-sim/eigenbox.toml")] {
            let o = env.command(&[
                "plugin",
                "package",
                w.join(wasm).to_str().unwrap(),
                "--manifest",
                workspace_root().join(manifest).to_str().unwrap(),
                "--out",
                env.plugins().to_str().unwrap(),
            ])
            .output()
            .unwrap();
            assert!(o.status.success(), "package failed: {}", String::from_utf8_lossy(&o.stderr));
        }
        std::fs::write(env.dir.path().join("grants.toml"), GRANTS).unwrap();
        env
    }
    fn plugins(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }
    fn out(&self) -> PathBuf {
        self.dir.path().join("results.json")
    }
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_eigenbox"));
        c.args(args)
            .env("EIGENBOX_PLUGINS", self.plugins())
            .env("EIGENBOX_GRANTS", self.dir.path().join("grants.toml"))
            .env("EIGENBOX_STORE", self.dir.path().join("store"))
            .env_remove("RUST_LOG");
        c
    }
    fn run(&self, server: &str, tasks: &[&str], trials: u32, concurrency: u32) -> Command {
        let agent = format!("{server}/v1#agent-model");
        let user = format!("{server}/v1#user-model");
        let (trials, concurrency, out) = (trials.to_string(), concurrency.to_string(), self.out());
        let mut args = vec!["run", "--domain", "mock", "--agent", &agent, "--user", &user, "--trials", &trials, "--concurrency", &concurrency];
        for t in tasks {
            args.extend(["--task", t]);
        }
        args.extend(["--out", out.to_str().unwrap()]);
        self.command(&args)
    }
}

fn completion(content: &str) -> Value {
    json!({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
}

async fn server(delay: Duration) -> MockServer {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("Thanks, that is all. ###STOP###")).set_delay(delay))
        .mount(&s)
        .await;
    s
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn results(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

async fn requests(s: &MockServer) -> usize {
    s.received_requests().await.map(|r| r.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stores_exports_and_resumes() {
    let env = Env::new();
    let s = server(Duration::ZERO).await;
    let o = env.run(&s.uri(), &["create_task_1", "update_task_1"], 2, 2).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("4 episode(s) (4 run now, 0 resumed)"), "{}", text(&o));
    // One user-simulator call per episode (the user stops at once); the agent never speaks.
    assert_eq!(requests(&s).await, 4);
    let r = results(&env.out());
    let eps = r["episodes"].as_array().unwrap();
    assert_eq!(eps.len(), 4);
    for e in eps {
        assert_eq!(e["episode"]["termination_reason"], json!("user_stop"), "{e}");
        let m = &e["episode"]["messages"];
        assert_eq!(m[0]["content"], json!("Hi! How can I help you today?"));
        assert_eq!(m[1]["role"], json!("user"));
        assert_eq!(m[1]["content"], json!("Thanks, that is all. ###STOP###"));
        // Scored: the reference actions were never taken, so the DB check fails.
        assert_eq!(e["reward"], json!(0.0), "{e}");
        assert_eq!(e["evaluation"]["reward_info"]["db_check"]["db_match"], json!(false));
    }
    assert_eq!(r["metrics"]["pass_hat_ks"]["1"], json!(0.0));

    // `eigenbox score` re-scores the file with this build: nothing changes ...
    let o = env.command(&["score", env.out().to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("4 episode(s) re-scored, 0 reward(s) changed"), "{}", text(&o));
    // ... unless the file's rewards were not the evaluator's.
    let mut forged = results(&env.out());
    forged["episodes"][0]["reward"] = json!(1.0);
    std::fs::write(env.out(), serde_json::to_vec(&forged).unwrap()).unwrap();
    let o = env.command(&["score", env.out().to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 reward(s) changed"), "{}", text(&o));
    assert_eq!(results(&env.out())["episodes"][0]["reward"], json!(0.0));
    // `eigenbox report`: the HTML report of the file.
    let html_path = env.dir.path().join("report.html");
    let o = env.command(&["report", env.out().to_str().unwrap(), "--out", html_path.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("<svg") && html.contains("pass^1 = 0.000"), "no pass^k curve");
    // Every episode failed the DB check and ended with the user's stop: both breakdowns say so.
    assert!(html.contains("<td>DB</td><td>4</td>"), "{html}");
    assert!(html.contains("<td>user_stop</td><td>4</td>"), "{html}");
    assert!(html.contains("create_task_1") && html.contains("update_task_1"));
    let not_results = env.dir.path().join("other.json");
    std::fs::write(&not_results, "{\"a\": 1}").unwrap();
    for cmd in ["score", "report"] {
        let o = env.command(&[cmd, not_results.to_str().unwrap()]).output().unwrap();
        assert!(!o.status.success());
        assert!(text(&o).contains("not a results file"), "{cmd}: {}", text(&o));
    }
    // The request the user simulator sent: the reference's prompt, the greeting as the user's turn.
    let req: Value = serde_json::from_slice(&s.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(req["model"], json!("user-model"));
    assert!(req["messages"][0]["content"].as_str().unwrap().starts_with("# User Simulation Guidelines"), "{req}");
    assert_eq!(req["messages"][1], json!({"role": "user", "content": "Hi! How can I help you today?"}));

    // Same parameters, one more trial: only the new trials run.
    let o = env.run(&s.uri(), &["create_task_1", "update_task_1"], 3, 2).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("6 episode(s) (2 run now, 4 resumed)"), "{}", text(&o));
    assert_eq!(requests(&s).await, 6);
    assert_eq!(results(&env.out())["episodes"].as_array().unwrap().len(), 6);

    // A bad task id is a clear error.
    let o = env.run(&s.uri(), &["no_such_task"], 1, 1).output().unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("no task `no_such_task`"), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_continues_from_its_finished_episodes() {
    let env = Env::new();
    let s = server(Duration::from_millis(300)).await;
    let tasks = ["create_task_1", "update_task_1", "update_task_with_message_history"];
    let mut child = env.run(&s.uri(), &tasks, 2, 1).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while requests(&s).await < 4 {
        assert!(started.elapsed() < Duration::from_secs(120), "the run made no progress");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let before = requests(&s).await;
    assert!(before < 6, "the run finished before the kill");

    let o = env.run(&s.uri(), &tasks, 2, 1).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let resumed: usize = out.split(" run now, ").nth(1).and_then(|t| t.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{out}"));
    assert!(resumed >= 1, "nothing was kept from the killed run: {out}");
    assert!(out.contains(&format!("6 episode(s) ({} run now, {resumed} resumed)", 6 - resumed)), "{out}");
    // Only the episodes not finished before the kill asked the model again.
    assert_eq!(requests(&s).await - before, 6 - resumed);
    assert_eq!(results(&env.out())["episodes"].as_array().unwrap().len(), 6);
}

/// A completion of `content` with per-token logprobs and llama.cpp-style token ids (one token per
/// word, id = 1000 + position, one alternative each).
fn completion_with_logprobs(content: &str, first_id: u32) -> Value {
    let mut words: Vec<String> = content.split_inclusive(' ').map(str::to_string).collect();
    if words.is_empty() {
        words.push(String::new());
    }
    let tokens: Vec<Value> = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let id = first_id + i as u32;
            json!({"id": id, "token": w, "logprob": -0.25 * (i as f64 + 1.0), "bytes": w.as_bytes(),
                   "top_logprobs": [{"id": id, "token": w, "logprob": -0.25 * (i as f64 + 1.0)}]})
        })
        .collect();
    let mut c = completion(content);
    c["choices"][0]["logprobs"] = json!({"content": tokens});
    c["usage"]["completion_tokens"] = json!(words.len());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_logprobs_the_trajectories_keep_token_ids_and_logprobs() {
    let env = Env::new();
    let s = MockServer::start().await;
    let reply = |model: &str, body: Value| {
        Mock::given(method("POST")).and(path("/v1/chat/completions")).and(body_partial_json(json!({"model": model}))).respond_with(ResponseTemplate::new(200).set_body_json(body))
    };
    // The user asks once, the agent answers, the user stops.
    reply("user-model", completion_with_logprobs("I need a task.", 5000)).up_to_n_times(1).with_priority(1).mount(&s).await;
    reply("user-model", completion_with_logprobs("Thanks. ###STOP###", 6000)).with_priority(2).mount(&s).await;
    reply("agent-model", completion_with_logprobs("Sure, it is done.", 1000)).mount(&s).await;
    let agent = format!("{}/v1#agent-model", s.uri());
    let user = format!("{}/v1#user-model", s.uri());
    let out = env.out();
    let args = [
        "run", "--domain", "mock", "--agent", &agent, "--user", &user, "--task", "create_task_1", "--logprobs", "1",
        "--request-extra", r#"{"return_token_ids": true}"#, "--out", out.to_str().unwrap(),
    ];
    let o = env.command(&args).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // Every request asked for them (and carried the backend-specific field).
    let bodies: Vec<Value> = s.received_requests().await.unwrap().iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    assert_eq!(bodies.len(), 3);
    for b in &bodies {
        assert_eq!((b["logprobs"].clone(), b["top_logprobs"].clone(), b["return_token_ids"].clone()), (json!(true), json!(1), json!(true)), "{b}");
    }
    let check = |r: &Value| {
        let m = &r["episodes"][0]["episode"]["messages"];
        let roles: Vec<&str> = m.as_array().unwrap().iter().map(|x| x["role"].as_str().unwrap_or("")).collect();
        assert_eq!(roles, ["assistant", "user", "assistant", "user"], "{m}");
        assert!(m[0].get("logprobs").is_none(), "the greeting is not generated: {}", m[0]);
        // The agent's turn: its tokens, ids and logprobs, in order, spelling its text.
        let agent = m[2]["logprobs"]["content"].as_array().unwrap_or_else(|| panic!("no logprobs on the agent's turn: {}", m[2]));
        let ids: Vec<u64> = agent.iter().filter_map(|t| t["id"].as_u64()).collect();
        assert_eq!(ids, [1000, 1001, 1002, 1003]);
        assert_eq!(agent.iter().filter_map(|t| t["token"].as_str()).collect::<String>(), "Sure, it is done.");
        assert_eq!(agent[1]["logprob"], json!(-0.5));
        assert_eq!(agent[0]["top_logprobs"], json!([{"token": "Sure, ", "id": 1000, "logprob": -0.25}]));
        // The simulated user's turns, through the role's mediated llm call.
        assert_eq!(m[1]["logprobs"]["content"][0]["id"], json!(5000), "{}", m[1]);
        assert_eq!(m[3]["logprobs"]["content"][1]["id"], json!(6001), "{}", m[3]);
    };
    let r = results(&out);
    assert_eq!(r["params"]["logprobs"], json!(1));
    check(&r);
    // Stored in sled: a re-run resumes the episode and exports the same trajectory.
    let o = env.command(&args).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 episode(s) (0 run now, 1 resumed)"), "{}", text(&o));
    assert_eq!(s.received_requests().await.unwrap().len(), 3);
    check(&results(&out));
}
