//! Training runs with their output directory: checkpoints (the learner's format, plus
//! `config.json` / `tokenizer.json` so each one is also a model directory `--model` accepts),
//! metrics (JSONL + SVG) and a sled store that registers runs, per-step metrics, checkpoints and
//! (GRPO) every rollout episode with its evaluation.
//!
//! ```text
//! <out>/checkpoints/step-000010/   model.safetensors optimizer.safetensors trainer_state.json
//!                                  config.json tokenizer.json eigenbox_chat_template.json
//! <out>/metrics.jsonl, metrics.svg
//! <out>/store/                     sled: runs (eigenbox-store), trees `checkpoints`
//!                                  (`<trainer>/<step>`), `metrics` (`<trainer>/<step>`),
//!                                  `rollouts` (`<step>/<n>`)
//! ```

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use eigenbox_learner::checkpoint::model_config_json;
use eigenbox_learner::data::SftExample;
use eigenbox_learner::grpo::{GrpoConfig, GrpoStepStats, GrpoTrainer};
use eigenbox_learner::metrics::MetricsLog;
use eigenbox_learner::sft::{SftConfig, SftTrainer};
use eigenbox_store::Store;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::model::{write_model_files, LoadedModel};
use crate::rollout::EpisodeRollouts;

/// Sled tree of checkpoint records.
pub const CHECKPOINTS: &str = "checkpoints";
/// Sled tree of per-step metrics.
pub const METRICS: &str = "metrics";
/// Sled tree of rollout episodes.
pub const ROLLOUTS: &str = "rollouts";

/// A registered checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    /// `sft` or `grpo`.
    pub trainer: String,
    /// Trainer steps done.
    pub step: u64,
    /// Its directory.
    pub dir: PathBuf,
    /// The run that wrote it.
    pub run: String,
    /// SHA-256 of `model.safetensors` (from `trainer_state.json`).
    pub model_sha256: String,
    /// Unix seconds.
    pub created: u64,
    /// The step's metrics.
    pub metrics: Value,
}

/// A training output directory and its store.
pub struct TrainOutput {
    dir: PathBuf,
    store: Store,
}

fn key(trainer: &str, step: u64) -> String {
    format!("{trainer}/{step:010}")
}

impl TrainOutput {
    /// Opens (creating) `dir` and its store `dir/store`.
    pub fn open(dir: &Path) -> Result<TrainOutput> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let store = Store::open(&dir.join("store")).with_context(|| format!("opening the store in {}", dir.display()))?;
        Ok(TrainOutput { dir: dir.to_path_buf(), store })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Where the checkpoint of `step` goes.
    pub fn checkpoint_dir(&self, step: u64) -> PathBuf {
        self.dir.join("checkpoints").join(format!("step-{step:06}"))
    }

    /// Registered checkpoints of `trainer`, oldest first.
    pub fn checkpoints(&self, trainer: &str) -> Result<Vec<CheckpointRecord>> {
        let tree = self.store.db().open_tree(CHECKPOINTS)?;
        let mut out = vec![];
        for kv in tree.scan_prefix(format!("{trainer}/").as_bytes()) {
            let (_, v) = kv?;
            out.push(serde_json::from_slice(&v).context("unreadable checkpoint record")?);
        }
        Ok(out)
    }

    /// The newest checkpoint of `trainer`.
    pub fn latest_checkpoint(&self, trainer: &str) -> Result<Option<CheckpointRecord>> {
        Ok(self.checkpoints(trainer)?.pop())
    }

    /// Per-step metrics rows of `trainer`, in step order.
    pub fn metrics(&self, trainer: &str) -> Result<Vec<Value>> {
        let tree = self.store.db().open_tree(METRICS)?;
        let mut out = vec![];
        for kv in tree.scan_prefix(format!("{trainer}/").as_bytes()) {
            out.push(serde_json::from_slice(&kv?.1)?);
        }
        Ok(out)
    }

    /// Rollout episodes recorded (GRPO), in order.
    pub fn rollouts(&self) -> Result<Vec<Value>> {
        let tree = self.store.db().open_tree(ROLLOUTS)?;
        tree.iter().map(|kv| Ok(serde_json::from_slice(&kv?.1)?)).collect()
    }

    fn put(&self, tree: &str, key: &str, v: &impl Serialize) -> Result<()> {
        let t = self.store.db().open_tree(tree)?;
        t.insert(key.as_bytes(), serde_json::to_vec(v)?)?;
        t.flush()?;
        Ok(())
    }

    /// Saves `model`'s files next to a checkpoint the trainer wrote and registers it.
    fn register(&self, trainer: &str, step: u64, dir: &Path, run: &str, loaded: &LoadedModel, metrics: Value) -> Result<CheckpointRecord> {
        write_model_files(dir, &loaded.model)?;
        let state: Value = serde_json::from_slice(&std::fs::read(dir.join(eigenbox_learner::checkpoint::STATE_FILE))?)?;
        let model_sha256 = state["sha256"][eigenbox_learner::checkpoint::MODEL_FILE].as_str().unwrap_or_default().to_string();
        let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let rec = CheckpointRecord { trainer: trainer.into(), step, dir: dir.to_path_buf(), run: run.into(), model_sha256, created, metrics };
        self.put(CHECKPOINTS, &key(trainer, step), &rec)?;
        tracing::info!(dir = %dir.display(), step, "checkpoint registered");
        Ok(rec)
    }

    /// Where to start: the latest checkpoint when resuming (an error if there is none); a fresh
    /// start refuses a directory that already has checkpoints of `trainer`.
    fn start(&self, trainer: &str, resume: bool) -> Result<Option<CheckpointRecord>> {
        let latest = self.latest_checkpoint(trainer)?;
        match (resume, latest) {
            (true, None) => bail!("--resume: no {trainer} checkpoint registered in {}", self.dir.display()),
            (true, Some(c)) => Ok(Some(c)),
            (false, Some(c)) => bail!(
                "{} already has {trainer} checkpoints (latest: step {}); pass --resume to continue, or choose another --out",
                self.dir.display(),
                c.step
            ),
            (false, None) => Ok(None),
        }
    }
}

fn progress(len: u64, pos: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>6} [{elapsed_precise}] [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb.set_position(pos);
    pb
}

/// How long to train and when to save.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Total trainer steps (a resumed run continues up to this many).
    pub steps: u64,
    /// Save every this many steps (and always at the end).
    pub save_every: u64,
    /// Continue from the latest checkpoint in the output directory.
    pub resume: bool,
    /// Parameters recorded with the run.
    pub params: Value,
}

/// What a GRPO run did.
#[derive(Debug, Clone)]
pub struct GrpoSummary {
    /// The run id in the store.
    pub run: String,
    /// Step the run started from (0, or the resumed checkpoint's).
    pub start_step: u64,
    /// Stats of the steps taken now.
    pub steps: Vec<GrpoStepStats>,
    /// The last checkpoint.
    pub checkpoint: Option<CheckpointRecord>,
}

/// How the episodes of `records` ended, most frequent first: `user_error: user sent an empty
/// message ×4, max_steps ×1`.
fn episode_endings(records: &[crate::rollout::RolloutRecord]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for r in records {
        let e = &r.scored.episode;
        let what = match &e.error {
            Some(err) => format!("{}: {err}", e.termination_reason.as_str()),
            None => e.termination_reason.as_str().to_string(),
        };
        match counts.iter_mut().find(|(w, _)| *w == what) {
            Some((_, n)) => *n += 1,
            None => counts.push((what, 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts.iter().map(|(w, n)| format!("{w} ×{n}")).collect::<Vec<_>>().join(", ")
}

/// GRPO: rollouts from `source` with the model of `loaded`, updates of its weights,
/// checkpoints, metrics and rollout episodes into `out`.
pub fn train_grpo(loaded: &LoadedModel, source: &mut EpisodeRollouts, out: &TrainOutput, config: GrpoConfig, opts: &RunOptions) -> Result<GrpoSummary> {
    let mcfg = model_config_json(loaded.model.config());
    let config = GrpoConfig { progress: false, ..config };
    let start = out.start("grpo", opts.resume)?;
    let mut trainer = match &start {
        Some(c) => GrpoTrainer::resume(&loaded.vs, config, &c.dir, &mcfg).with_context(|| format!("resuming from {}", c.dir.display()))?,
        None => GrpoTrainer::new(&loaded.vs, config)?,
    };
    let start_step = trainer.step_count();
    let run = out.store.create_run(
        "train-grpo",
        json!({"params": opts.params, "resumed_from": start.as_ref().map(|c| c.dir.display().to_string()), "start_step": start_step}),
    )?;
    let mut log = MetricsLog::open(&out.dir.join("metrics.jsonl"))?;
    let pb = progress(opts.steps, start_step, "grpo");
    let (mut stats, mut checkpoint) = (vec![], None);
    let result = (|| -> Result<()> {
        while trainer.step_count() < opts.steps {
            let st = match trainer.step(&loaded.model, None, source) {
                Ok(st) => st,
                Err(eigenbox_learner::LearnerError::Rollout(msg)) if msg.contains("no trained tokens") => {
                    bail!("{msg}: no episode of the step reached an agent turn ({}); the policy has nothing to learn from (with an untrained or tiny model as the user simulator, point --user at a served model)", episode_endings(&source.take_records()))
                }
                Err(e) => return Err(e.into()),
            };
            let step = st.step;
            for (n, r) in source.take_records().into_iter().enumerate() {
                out.put(ROLLOUTS, &format!("{step:010}/{n:06}"), &json!({"run": run, "task_id": r.scored.episode.task_id, "record": r}))?;
            }
            let row = serde_json::to_value(&st)?;
            log.log(&st)?;
            out.put(METRICS, &key("grpo", step), &json!({"run": run, "stats": row}))?;
            pb.set_message(format!(
                "reward {:.3} | kept {}/{} | loss {:.4}{}",
                st.reward_mean,
                st.groups_kept,
                st.groups_sampled,
                st.loss,
                if st.skipped { " | skipped (all groups filtered)" } else { "" }
            ));
            pb.inc(1);
            tracing::info!(step, reward = st.reward_mean, filtered = st.groups_filtered, kept = st.groups_kept, loss = st.loss, "grpo step");
            if step % opts.save_every.max(1) == 0 || step >= opts.steps {
                let dir = out.checkpoint_dir(step);
                trainer.save(&dir, &loaded.vs, &mcfg)?;
                checkpoint = Some(out.register("grpo", step, &dir, &run, loaded, row)?);
            }
            stats.push(st);
        }
        Ok(())
    })();
    pb.finish_and_clear();
    log.write_svg(&out.dir.join("metrics.svg"), &["reward_mean", "filtered_frac", "loss", "clip_frac"]).ok();
    match &result {
        Ok(()) => out.store.finish_run(&run, "ok", json!({"steps": trainer.step_count(), "checkpoint": checkpoint.as_ref().map(|c| c.dir.display().to_string())}))?,
        Err(e) => out.store.finish_run(&run, "failed", json!({"error": format!("{e:#}"), "steps": trainer.step_count()}))?,
    }
    result?;
    Ok(GrpoSummary { run, start_step, steps: stats, checkpoint })
}

/// What an SFT run did.
#[derive(Debug, Clone)]
pub struct SftSummary {
    /// The run id in the store.
    pub run: String,
    /// Step the run started from.
    pub start_step: u64,
    /// Mean loss over the data before the run's first step.
    pub loss_before: f64,
    /// Mean loss over the data after its last step.
    pub loss_after: f64,
    /// The last checkpoint.
    pub checkpoint: Option<CheckpointRecord>,
}

/// SFT on `data` (examples with loss masks) of the model of `loaded`.
pub fn train_sft(loaded: &LoadedModel, data: &[SftExample], out: &TrainOutput, config: SftConfig, opts: &RunOptions) -> Result<SftSummary> {
    if data.is_empty() {
        bail!("no training examples");
    }
    let mcfg = model_config_json(loaded.model.config());
    let config = SftConfig { progress: false, ..config };
    let start = out.start("sft", opts.resume)?;
    let mut trainer = match &start {
        Some(c) => SftTrainer::resume(&loaded.vs, config, &c.dir, &mcfg).with_context(|| format!("resuming from {}", c.dir.display()))?,
        None => SftTrainer::new(&loaded.vs, config)?,
    };
    let start_step = trainer.step_count();
    let run = out.store.create_run(
        "train-sft",
        json!({"params": opts.params, "resumed_from": start.as_ref().map(|c| c.dir.display().to_string()), "start_step": start_step, "examples": data.len()}),
    )?;
    let loss_before = trainer.eval_loss(&loaded.model, data)?;
    let mut log = MetricsLog::open(&out.dir.join("metrics.jsonl"))?;
    let pb = progress(opts.steps, start_step, "sft");
    let mut checkpoint = None;
    let result = (|| -> Result<()> {
        while trainer.step_count() < opts.steps {
            let st = trainer.train_step(&loaded.model, data)?;
            let row = serde_json::to_value(&st)?;
            log.log(&st)?;
            out.put(METRICS, &key("sft", st.step), &json!({"run": run, "stats": row}))?;
            pb.set_message(format!("loss {:.4} | lr {:.2e}", st.loss, st.lr));
            pb.inc(1);
            tracing::info!(step = st.step, loss = st.loss, "sft step");
            if st.step % opts.save_every.max(1) == 0 || st.step >= opts.steps {
                let dir = out.checkpoint_dir(st.step);
                trainer.save(&dir, &loaded.vs, &mcfg)?;
                checkpoint = Some(out.register("sft", st.step, &dir, &run, loaded, row)?);
            }
        }
        Ok(())
    })();
    pb.finish_and_clear();
    log.write_svg(&out.dir.join("metrics.svg"), &["loss", "grad_norm"]).ok();
    let loss_after = match &result {
        Ok(()) => trainer.eval_loss(&loaded.model, data)?,
        Err(_) => f64::NAN,
    };
    match &result {
        Ok(()) => out.store.finish_run(
            &run,
            "ok",
            json!({"steps": trainer.step_count(), "loss_before": loss_before, "loss_after": loss_after,
                   "checkpoint": checkpoint.as_ref().map(|c| c.dir.display().to_string())}),
        )?,
        Err(e) => out.store.finish_run(&run, "failed", json!({"error": format!("{e:#}"), "steps": trainer.step_count()}))?,
    }
    result?;
    Ok(SftSummary { run, start_step, loss_before, loss_after, checkpoint })
}
