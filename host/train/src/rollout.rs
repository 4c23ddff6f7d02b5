//! τ² episodes as GRPO rollouts: [`EpisodeRollouts`] implements the learner's
//! [`RolloutSource`] for the [`EmbeddedModel`] being trained. Each group is one task of the
//! training tasks, drawn with the request's seed (so a resumed trainer, whose RNG is
//! checkpointed, draws the same tasks): G episodes with the current weights (the agent samples
//! from the very `policy` the trainer passes in, under `no_grad`), each scored by τ²'s
//! evaluator over the WASM domain ([`WasmScorer`]); the reward is τ²'s reward (0 where the
//! evaluator gives none, e.g. NL assertions without a judge, or the evaluation failed).
//!
//! Episodes run one after another on the given tokio runtime (the model is one serialised
//! resource; the domain, user role and scorer are async).

use std::sync::Arc;

use eigenbox_learner::grpo::{RolloutGroup, RolloutRequest, RolloutSource};
use eigenbox_learner::{LearnerError, Rng};
use eigenbox_orchestrator::{
    run_episode, BoxFuture, Episode, EpisodeConfig, RoleUser, SamplingConfig, ScoredEpisode, UserSim, UserSimConfig, WasmEnv, WasmScorer,
};
use eigenbox_runtime::{LlmBackend, LoadedComponent};
use eigenbox_tau2::{Task, TerminationReason, ToolSpec};
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use crate::agent::{AgentConfig, EmbeddedAgent, ModelSampler, Sampler};
use crate::model::EmbeddedModel;

/// Makes the user simulator of one episode.
pub trait UserFactory: Send + Sync {
    /// A user for `task` in the episode whose domain is `env`.
    fn make<'a>(&'a self, task: &'a Task, env: &'a WasmEnv, seed: u64) -> BoxFuture<'a, Result<Box<dyn UserSim>, String>>;
}

/// Users from a plain function (scripted users in tests).
pub struct FnUsers<F>(pub F);

impl<F: Fn(&Task, u64) -> Box<dyn UserSim> + Send + Sync> UserFactory for FnUsers<F> {
    fn make<'a>(&'a self, task: &'a Task, _env: &'a WasmEnv, seed: u64) -> BoxFuture<'a, Result<Box<dyn UserSim>, String>> {
        let u = (self.0)(task, seed);
        Box::pin(async move { Ok(u) })
    }
}

/// τ²'s user simulator as a role component (`plugins/user-sim`) on any `LlmBackend` (the
/// embedded frozen model, [`crate::EmbeddedBackend`], or an OpenAI-compatible endpoint).
pub struct RoleUsers {
    /// The role component.
    pub component: Arc<LoadedComponent>,
    /// Its model.
    pub llm: Arc<dyn LlmBackend>,
    /// Logical model name.
    pub model: String,
    /// Sampling.
    pub sampling: SamplingConfig,
    /// The domain's name (for the user's own tools).
    pub domain: String,
}

impl UserFactory for RoleUsers {
    fn make<'a>(&'a self, task: &'a Task, env: &'a WasmEnv, _seed: u64) -> BoxFuture<'a, Result<Box<dyn UserSim>, String>> {
        Box::pin(async move {
            let config = UserSimConfig::for_task(task, self.model.clone(), self.sampling);
            let u = RoleUser::new(self.component.clone(), config, self.llm.clone(), Some((self.domain.as_str(), env.shared())))
                .await
                .map_err(|e| format!("user simulator: {e}"))?;
            Ok(Box::new(u) as Box<dyn UserSim>)
        })
    }
}

/// One finished rollout episode (kept for the store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutRecord {
    /// Trainer step it was sampled for.
    pub step: u64,
    /// Its place in the group.
    pub index: usize,
    /// Episode seed.
    pub seed: u64,
    /// The reward the trajectory got.
    pub reward: f64,
    /// Tokens in the trajectory.
    pub tokens: usize,
    /// Trained (generated) tokens.
    pub trained_tokens: usize,
    /// The episode with τ²'s evaluation.
    pub scored: ScoredEpisode,
}

/// The episodes of a domain's tasks as GRPO rollout groups.
pub struct EpisodeRollouts {
    rt: Handle,
    domain: Arc<LoadedComponent>,
    tasks: Vec<Task>,
    policy_text: String,
    tools: Vec<ToolSpec>,
    users: Arc<dyn UserFactory>,
    scorer: WasmScorer,
    /// Episode limits (`seed` is set per episode).
    pub episode: EpisodeConfig,
    /// Agent sampling.
    pub agent: AgentConfig,
    sampler: Arc<dyn Sampler>,
    records: Vec<RolloutRecord>,
}

impl EpisodeRollouts {
    /// Rollouts of `tasks` in `domain` (whose policy text is `policy`). Call it outside
    /// the runtime (it blocks on `rt`); episodes and scoring then run on `rt`.
    pub fn new(rt: Handle, domain: Arc<LoadedComponent>, tasks: Vec<Task>, policy: String, users: Arc<dyn UserFactory>, agent: AgentConfig) -> anyhow::Result<Self> {
        if tasks.is_empty() {
            anyhow::bail!("no tasks to train on");
        }
        let tools = rt.block_on(async {
            use eigenbox_orchestrator::Environment;
            WasmEnv::new(domain.clone()).await?.tools().await
        })?;
        let scorer = {
            let _guard = rt.enter();
            WasmScorer::new(domain.clone())
        };
        let episode = EpisodeConfig { max_steps: 30, ..EpisodeConfig::default() };
        Ok(EpisodeRollouts { rt, domain, tasks, policy_text: policy, tools, users, scorer, episode, agent, sampler: Arc::new(ModelSampler), records: vec![] })
    }

    /// Replace how the agent samples (tests).
    pub fn with_sampler(mut self, sampler: Arc<dyn Sampler>) -> Self {
        self.sampler = sampler;
        self
    }

    /// The training tasks.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// The episodes finished since the last call.
    pub fn take_records(&mut self) -> Vec<RolloutRecord> {
        std::mem::take(&mut self.records)
    }

    /// One episode of `task` with the policy, scored: the trajectory's pieces and the episode.
    pub fn episode(&self, policy: &EmbeddedModel, task: &Task, seed: u64, index: usize) -> (eigenbox_learner::grpo::Trajectory, ScoredEpisode) {
        self.rt.block_on(async {
            let mut agent = EmbeddedAgent::with_sampler(
                policy,
                self.sampler.clone(),
                eigenbox_model::ChatMessage::system(eigenbox_orchestrator::agent_system_prompt(&self.policy_text)),
                crate::agent::agent_tools_json(&self.tools),
                self.agent.clone(),
            );
            let episode = async {
                let mut env = WasmEnv::new(self.domain.clone()).await.map_err(|e| e.to_string())?;
                let mut user = self.users.make(task, &env, seed).await?;
                let config = EpisodeConfig { seed: Some(seed), ..self.episode.clone() };
                Ok::<_, String>(run_episode(task, &mut agent, &mut *user, &mut env, &config).await)
            }
            .await
            .unwrap_or_else(|e| Episode {
                task_id: task.id.clone(),
                termination_reason: TerminationReason::InfrastructureError,
                messages: vec![],
                steps: 0,
                num_errors: 0,
                duration: 0.0,
                seed: Some(seed),
                error: Some(e),
            });
            let scored = ScoredEpisode::score(&self.scorer, task, index as u32, episode).await;
            if let Some(e) = &scored.eval_error {
                tracing::warn!(task = %task.id, error = %e, "evaluation failed; reward 0");
            }
            if let Some(e) = &scored.episode.error {
                tracing::debug!(task = %task.id, reason = %scored.episode.termination_reason.as_str(), error = %e, "episode error");
            }
            (agent.trajectory(scored.reward.unwrap_or(0.0)), scored)
        })
    }
}

impl RolloutSource<EmbeddedModel> for EpisodeRollouts {
    fn next_group(&mut self, policy: &EmbeddedModel, req: &RolloutRequest) -> Result<RolloutGroup, LearnerError> {
        let mut rng = Rng::new(req.seed);
        let task = self.tasks[rng.below(self.tasks.len() as u64) as usize].clone();
        let mut trajectories = Vec::with_capacity(req.group_size);
        for index in 0..req.group_size {
            let seed = rng.next_u64() >> 1;
            let (t, scored) = self.episode(policy, &task, seed, index);
            tracing::info!(
                task = %task.id, index, reward = t.reward, reason = scored.episode.termination_reason.as_str(),
                tokens = t.ids.len(), "rollout episode"
            );
            let trained_tokens = t.trained.iter().filter(|m| **m).count();
            self.records.push(RolloutRecord { step: req.step, index, seed, reward: t.reward, tokens: t.ids.len(), trained_tokens, scored });
            trajectories.push(t);
        }
        Ok(RolloutGroup { task_id: task.id.clone(), trajectories })
    }
}
