//! GRPO end to end on the mock domain (WASM) with a tiny random model and a scripted user: the
//! agent's replies are scripted per episode (a correct `create_task` call, or a refusal) so a
//! group has mixed rewards, which must come from τ²'s evaluator over the WASM domain; a group
//! of equal rewards is filtered; the update runs; checkpoints, metrics and every rollout land in
//! the store; `resume` continues from the checkpoint.

use std::sync::{Arc, Mutex};

use eigenbox_learner::grpo::GrpoConfig;
use eigenbox_learner::optim::LrSchedule;
use eigenbox_model::{FinishReason, Generation, SamplingParams};
use eigenbox_orchestrator::{ReplayUser, ScoredEpisode, UserSim, WasmScorer};
use eigenbox_runtime::{Runtime, RuntimeConfig};
use eigenbox_tau2::{Task, TaskSet, TaskVersion};
use eigenbox_train::testing::tiny_model;
use eigenbox_train::{load_model, train_grpo, AgentConfig, EmbeddedModel, EpisodeRollouts, FnUsers, RunOptions, Sampler, TrainOutput};
use serde_json::{json, Value};

const CALL: &str = "<tool_call>\n{\"name\": \"create_task\", \"arguments\": {\"user_id\": \"user_1\", \"title\": \"Important Meeting\"}}\n</tool_call>";

/// Per episode (in order): `true` = call create_task then confirm, `false` = refuse. The first
/// turn of an episode is recognised by its prompt (the greeting is the only earlier assistant
/// turn). Log probabilities are the model's own (teacher-forced), so the update is on-policy.
struct PerEpisode {
    plan: Vec<bool>,
    state: Mutex<(usize, usize)>,
}

impl Sampler for PerEpisode {
    fn sample(&self, model: &EmbeddedModel, prompt: &[i64], _params: &SamplingParams) -> anyhow::Result<Generation> {
        let text = model.tokenizer.decode(prompt, false)?;
        let mut st = self.state.lock().unwrap();
        if text.matches("<|im_start|>assistant").count() == 2 {
            st.0 += 1;
            st.1 = 0;
        } else {
            st.1 += 1;
        }
        let ok = self.plan[st.0 - 1];
        let reply = match (ok, st.1) {
            (true, 0) => CALL,
            (true, _) => "Done: the task is created.",
            (false, _) => "Sorry, I cannot do that.",
        };
        let tokens = model.tokenizer.encode(&format!("{reply}<|im_end|>"))?;
        let logprobs = model.score(prompt, &tokens)?;
        Ok(Generation { tokens, logprobs, finish: FinishReason::Stop })
    }
}

fn setup(rt: &tokio::runtime::Runtime, plan: Vec<bool>) -> (EpisodeRollouts, Task, Arc<eigenbox_runtime::LoadedComponent>) {
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let mock = eigenbox_tests::mock_domain(&runtime);
    let data = eigenbox_tests::workspace_root().join("plugins/mock/data");
    let set = TaskSet::load(&data, TaskVersion::V1_0, None).unwrap();
    let task = set.get("create_task_1").unwrap().clone();
    let policy = std::fs::read_to_string(data.join("policy.md")).unwrap();
    let users = Arc::new(FnUsers(|_t: &Task, _seed: u64| {
        Box::new(ReplayUser::script(&["Please create a task titled 'Important Meeting' for user_1.", "Thanks! ###STOP###"])) as Box<dyn UserSim>
    }));
    let source = EpisodeRollouts::new(rt.handle().clone(), mock.clone(), vec![task.clone()], policy, users, AgentConfig::default())
        .unwrap()
        .with_sampler(Arc::new(PerEpisode { plan, state: Mutex::new((0, 0)) }));
    (source, task, mock)
}

fn config() -> GrpoConfig {
    GrpoConfig {
        group_size: 2,
        groups_per_step: 1,
        max_groups_sampled: 2,
        micro_batch_size: 2,
        schedule: LrSchedule::constant(1e-3),
        seed: 5,
        ..GrpoConfig::default()
    }
}

#[test]
fn grpo_step_on_mock_with_store_and_resume() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = TrainOutput::open(dir.path()).unwrap();
    // Step 1: group 1 all refusals (filtered), group 2 one success one refusal (kept).
    let (mut source, task, mock) = setup(&rt, vec![false, false, true, false]);
    let loaded = tiny_model(11);
    let opts = RunOptions { steps: 1, save_every: 1, resume: false, params: json!({"test": true}) };
    let before: Vec<f32> = Vec::try_from(&loaded.vs.variables()["model.embed_tokens.weight"].flatten(0, -1)).unwrap();
    let s = train_grpo(&loaded, &mut source, &out, config(), &opts).unwrap();
    assert_eq!((s.start_step, s.steps.len()), (0, 1));
    let st = &s.steps[0];
    assert_eq!((st.groups_sampled, st.groups_filtered, st.groups_kept, st.skipped), (2, 1, 1, false), "{st:?}");
    assert!((st.reward_mean - 0.25).abs() < 1e-9, "mean reward over the 4 episodes: {}", st.reward_mean);
    assert!((st.reward_mean_kept - 0.5).abs() < 1e-9);
    assert!(st.loss.is_finite() && st.trained_tokens > 0);
    assert!((st.ratio_mean - 1.0).abs() < 1e-3, "on-policy ratio {}", st.ratio_mean);
    let after: Vec<f32> = Vec::try_from(&loaded.vs.variables()["model.embed_tokens.weight"].flatten(0, -1)).unwrap();
    assert_ne!(before, after, "the update changed no weight");

    // Every rollout is in the store, and its reward is τ²'s evaluator's over the WASM domain.
    let rollouts = out.rollouts().unwrap();
    assert_eq!(rollouts.len(), 4);
    let rewards: Vec<f64> = rollouts.iter().map(|r| r["record"]["reward"].as_f64().unwrap()).collect();
    assert_eq!(rewards, vec![0.0, 0.0, 1.0, 0.0]);
    let scorer = rt.block_on(async { WasmScorer::new(mock.clone()) });
    for r in &rollouts {
        let scored: ScoredEpisode = serde_json::from_value(r["record"]["scored"].clone()).unwrap();
        assert_eq!(scored.reward, r["record"]["reward"].as_f64());
        let again = rt.block_on(scorer.score(&task, &scored.episode)).unwrap();
        assert_eq!(again.reward(), scored.reward, "re-scoring the stored episode gives another reward");
    }
    let success: ScoredEpisode = serde_json::from_value(rollouts[2]["record"]["scored"].clone()).unwrap();
    let text = serde_json::to_string(&success.episode.messages).unwrap();
    assert!(text.contains("create_task") && text.contains("Important Meeting"), "{text}");
    assert_eq!(success.episode.termination_reason.as_str(), "user_stop");

    // Metrics and the checkpoint are registered; the checkpoint is a loadable model directory
    // holding the trained weights.
    let metrics = out.metrics("grpo").unwrap();
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0]["stats"]["groups_filtered"], json!(1));
    let ck = out.latest_checkpoint("grpo").unwrap().expect("a checkpoint");
    assert_eq!(ck.step, 1);
    for f in ["model.safetensors", "optimizer.safetensors", "trainer_state.json", "config.json", "tokenizer.json"] {
        assert!(ck.dir.join(f).is_file(), "{f} missing in {}", ck.dir.display());
    }
    assert_eq!(ck.model_sha256.len(), 64);
    let reloaded = load_model(&ck.dir, tch::Device::Cpu, tch::Kind::Float).unwrap();
    let w: Vec<f32> = Vec::try_from(&reloaded.vs.variables()["model.embed_tokens.weight"].flatten(0, -1)).unwrap();
    assert_eq!(w, after);
    let runs = out.store().runs().unwrap();
    assert_eq!((runs.len(), runs[0].kind.as_str(), runs[0].status.as_str()), (1, "train-grpo", "ok"));

    // A fresh start refuses an output directory with checkpoints.
    let (mut source2, _, _) = setup(&rt, vec![true, false]);
    let err = train_grpo(&tiny_model(12), &mut source2, &out, config(), &opts).unwrap_err();
    assert!(format!("{err:#}").contains("--resume"), "{err:#}");

    // Resume: a differently initialised model continues from the checkpoint's weights to step 2.
    let (mut source3, _, _) = setup(&rt, vec![true, false, true, false]);
    let fresh = tiny_model(13);
    let init: Vec<f32> = Vec::try_from(&fresh.vs.variables()["model.embed_tokens.weight"].flatten(0, -1)).unwrap();
    let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(max_diff(&init, &after) > 1e-2, "the fresh model must differ from the checkpoint");
    let s2 = train_grpo(&fresh, &mut source3, &out, config(), &RunOptions { steps: 2, resume: true, ..opts.clone() }).unwrap();
    assert_eq!((s2.start_step, s2.steps.len(), s2.steps[0].step), (1, 1, 2));
    assert!(!s2.steps[0].skipped);
    // One AdamW step at lr 1e-3 away from the checkpoint, not from the fresh initialisation.
    let resumed: Vec<f32> = Vec::try_from(&fresh.vs.variables()["model.embed_tokens.weight"].flatten(0, -1)).unwrap();
    assert!(max_diff(&resumed, &after) < 3e-3, "the resumed run did not start from the checkpoint: {}", max_diff(&resumed, &after));
    let cks = out.checkpoints("grpo").unwrap();
    assert_eq!(cks.iter().map(|c| c.step).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(out.metrics("grpo").unwrap().len(), 2);
    let runs = out.store().runs().unwrap();
    let last: &Value = &runs.last().unwrap().params;
    assert_eq!(last["start_step"], json!(1));
    assert_eq!(runs.iter().filter(|r| r.status == "ok").count(), 2);
    let lines = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2);
}
