//! Scoring finished episodes with `eigenbox-eval`, and running many episodes at once.

use std::future::Future;
use std::sync::{Arc, Mutex};

use eigenbox_episode::{EnvError, WasmDomainEnv};
use eigenbox_eval::{EvalConfig, Evaluation, Evaluator};
use eigenbox_runtime::LoadedComponent;
use eigenbox_tau2::Task;
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use crate::episode::Episode;

type Factory = Box<dyn FnMut() -> Result<WasmDomainEnv, EnvError> + Send>;

/// τ²'s evaluator over a WASM domain, shareable between concurrent episodes (evaluations run
/// one at a time on tokio's blocking pool; gold states are cached per task).
#[derive(Clone)]
pub struct WasmScorer {
    evaluator: Arc<Mutex<Evaluator<Factory>>>,
}

impl WasmScorer {
    /// A scorer for `component`'s domain with the reference's default settings (evaluation
    /// type ALL, strict replay). Call from inside the tokio runtime.
    pub fn new(component: Arc<LoadedComponent>) -> WasmScorer {
        WasmScorer::with_config(component, EvalConfig::default())
    }

    /// A scorer with explicit settings.
    pub fn with_config(component: Arc<LoadedComponent>, config: EvalConfig) -> WasmScorer {
        let handle = Handle::current();
        let factory: Factory = Box::new(move || WasmDomainEnv::new(&handle, component.clone()).map_err(EnvError::Call));
        WasmScorer { evaluator: Arc::new(Mutex::new(Evaluator::new(factory).with_config(config))) }
    }

    /// Score `episode` of `task` (the trajectory must be the full one, history included).
    pub async fn score(&self, task: &Task, episode: &Episode) -> Result<Evaluation, String> {
        let evaluator = self.evaluator.clone();
        let task = task.clone();
        let messages = episode.messages.clone();
        let reason = episode.termination_reason;
        tokio::task::spawn_blocking(move || {
            let mut ev = evaluator.lock().map_err(|_| "the evaluator panicked in an earlier evaluation".to_string())?;
            ev.evaluate(&task, &messages, reason).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("evaluation task failed: {e}"))?
    }
}

/// An episode with its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredEpisode {
    /// Trial number (0-based).
    pub trial: u32,
    /// The episode.
    pub episode: Episode,
    /// The reward, when it could be computed (`None`: evaluation failed, or NL assertions with
    /// no judge).
    pub reward: Option<f64>,
    /// The evaluator's full result.
    pub evaluation: Option<Evaluation>,
    /// Why there is no evaluation.
    pub eval_error: Option<String>,
}

impl ScoredEpisode {
    /// Score `episode` with `scorer`.
    pub async fn score(scorer: &WasmScorer, task: &Task, trial: u32, episode: Episode) -> ScoredEpisode {
        match scorer.score(task, &episode).await {
            Ok(e) => ScoredEpisode { trial, reward: e.reward(), evaluation: Some(e), eval_error: None, episode },
            Err(err) => ScoredEpisode { trial, episode, reward: None, evaluation: None, eval_error: Some(err) },
        }
    }
}

/// Run `f(job)` for every job, at most `limit` at a time (each on its own tokio task), calling
/// `on_done` as each finishes; returns the results in job order. A job whose task panicked is
/// reported as `Err` with the panic text.
pub async fn run_concurrently<J, T, F, Fut>(jobs: Vec<J>, limit: usize, f: F, mut on_done: impl FnMut(&T)) -> Vec<Result<T, String>>
where
    F: Fn(J) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let sem = Arc::new(Semaphore::new(limit.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let n = jobs.len();
    for (i, job) in jobs.into_iter().enumerate() {
        let fut = f(job);
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, fut.await)
        });
    }
    let mut out: Vec<Option<Result<T, String>>> = (0..n).map(|_| None).collect();
    let mut panics = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok((i, t)) => {
                on_done(&t);
                out[i] = Some(Ok(t));
            }
            Err(e) => panics.push(e.to_string()),
        }
    }
    let mut panics = panics.into_iter();
    out.into_iter().map(|o| o.unwrap_or_else(|| Err(panics.next().unwrap_or_else(|| "job did not finish".into())))).collect()
}
