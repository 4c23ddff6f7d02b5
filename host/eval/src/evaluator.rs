//! The evaluator: τ²-bench's `evaluate_simulation` over a [`DomainEnv`].

use std::collections::{HashMap, HashSet};
use std::fmt;

use eigenbox_tau2::{
    actions_from_messages, plan_episode, py_json_eq, replay_history, Action, DomainEnv, EpisodePlan, EvaluationCriteria,
    InitError, Message, PlanError, Requestor, RewardType, Task, TerminationReason, ToolCall, ToolKind,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::judge::{Judge, JudgeError};
use crate::reward::{
    note, ActionCheck, CommunicateCheck, DbCheck, EnvAssertionCheck, NlAssertionCheck, RewardBreakdown, RewardInfo,
};

/// Which criteria are scored (the reference's `EvaluationType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationType {
    /// DB check and env assertions only.
    Env,
    /// Communicate checks only.
    Communicate,
    /// Action checks only.
    Action,
    /// Everything in the task's reward basis (the reference's default, and how the golden
    /// rewards were recorded).
    #[default]
    All,
    /// NL assertions only.
    NlAssertions,
    /// Like `All`, and the NL assertions are graded even when not in the basis.
    AllWithNlAssertions,
    /// DB, env assertions, actions and communicate multiplied whatever the basis says.
    AllIgnoreBasis,
    /// `AllIgnoreBasis` plus NL assertions.
    AllWithNlAssertionsIgnoreBasis,
}

/// Evaluator settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Which criteria are scored.
    pub evaluation_type: EvaluationType,
    /// Replaying the trajectory, a mutating tool call whose output differs from the recorded
    /// one is an error (the reference's `strict_replay`, on by default). Off: the difference
    /// is logged and the replay goes on (for re-scoring trajectories recorded by older tools).
    pub strict_replay: bool,
    /// Keep the gold environment's DB hashes per task (they depend only on the task), so
    /// several trajectories of one task build the gold environment once.
    pub cache_gold: bool,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig { evaluation_type: EvaluationType::All, strict_replay: true, cache_gold: true }
    }
}

/// Which environment an error happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Initial state + the trajectory's tool calls.
    Predicted,
    /// Initial state + the task's reference actions.
    Gold,
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Which::Predicted => "predicted environment",
            Which::Gold => "gold environment",
        })
    }
}

/// Why an evaluation could not produce a reward. Each of these makes the reference's
/// evaluator raise too; none of them is turned into a reward of 0.
#[derive(Debug, thiserror::Error)]
pub enum EvalError<E: fmt::Display> {
    /// The domain implementation failed (trap, transport, ...).
    #[error("{which}: domain failure during {during}: {error}")]
    Domain {
        /// Which environment.
        which: Which,
        /// What was being done.
        during: String,
        /// The failure.
        error: E,
    },
    /// The task's initial state or the trajectory could not be replayed (unpaired tool
    /// messages, a replayed write answering differently than recorded, ...).
    #[error("{which}: {error}")]
    Replay {
        /// Which environment.
        which: Which,
        /// What went wrong.
        error: InitError<E>,
    },
    /// The trajectory's tool calls and tool messages do not pair up.
    #[error("trajectory: {0}")]
    Trajectory(#[from] PlanError),
    /// An env assertion's function failed (unknown function, bad arguments, ...).
    #[error("env assertion #{index} `{func_name}` ({side}) failed: {message}")]
    EnvAssertion {
        /// Position in `env_assertions`.
        index: usize,
        /// Function.
        func_name: String,
        /// Side.
        side: Requestor,
        /// The failure.
        message: String,
    },
    /// An env assertion's function returned something other than a bool.
    #[error("env assertion #{index}: function {func_name} returned {returned} instead of bool")]
    AssertionNotBool {
        /// Position in `env_assertions`.
        index: usize,
        /// Function.
        func_name: String,
        /// What it returned.
        returned: Value,
    },
    /// The judge failed.
    #[error("NL assertions: {0}")]
    Judge(#[from] JudgeError),
}

/// What became of a task's NL assertions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NlStatus {
    /// Not needed by this evaluation (not in the reward basis and not forced).
    NotRequested,
    /// Graded (or trivially met: the task has none).
    Evaluated,
    /// Needed, but no judge is configured: they were not graded. When `in_reward` is true
    /// the reward cannot be computed and [`Evaluation::reward`] is `None`.
    NotEvaluated {
        /// The assertions left ungraded.
        assertions: Vec<String>,
        /// Whether they are part of the reward basis.
        in_reward: bool,
    },
}

/// The result of one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The reference's `reward_info`. When the NL assertions could not be graded,
    /// `reward_info.reward` is the product of the other components only, `nl_assertions` is
    /// null and `info.nl` says why; use [`Evaluation::reward`].
    pub reward_info: RewardInfo,
    /// What became of the NL assertions.
    pub nl: NlStatus,
    /// Remarks about how the evaluation was done (e.g. an approximation the domain forced).
    pub notes: Vec<String>,
}

impl Evaluation {
    /// The reward, or `None` when it needs NL assertions that no judge graded.
    pub fn reward(&self) -> Option<f64> {
        match self.nl {
            NlStatus::NotEvaluated { in_reward: true, .. } => None,
            _ => Some(self.reward_info.reward),
        }
    }

    fn plain(reward_info: RewardInfo) -> Self {
        Evaluation { reward_info, nl: NlStatus::NotRequested, notes: Vec::new() }
    }
}

/// The note recorded when the domain cannot run the gold environment's reference actions
/// without its post-call sync.
pub const UNSYNCED_FALLBACK_NOTE: &str = "gold environment: this domain implementation cannot run a tool without its \
post-call sync_tools (DomainEnv::call_tool_unsynced), so the reference actions ran through call_tool; exact only \
where the domain's sync_tools changes nothing";

/// Agent and user DB hashes.
type SideHashes = (Option<String>, Option<String>);

#[derive(Clone, Debug)]
struct GoldHashes {
    agent: Option<String>,
    user: Option<String>,
    synced_fallback: bool,
}

/// Outcome of the NL part.
enum NlOutcome {
    Info(Box<RewardInfo>),
    NotEvaluated(Vec<String>),
}

/// Scores trajectories of one domain like τ²-bench's `evaluate_simulation`.
///
/// `factory` makes a fresh environment of the domain (any state; the evaluator resets it).
/// The evaluator keeps the domain's tool kinds and, with [`EvalConfig::cache_gold`], the
/// gold environment's hashes per task, so reuse one evaluator for many trajectories of a
/// domain.
pub struct Evaluator<F> {
    factory: F,
    config: EvalConfig,
    judge: Option<Box<dyn Judge + Send>>,
    tool_types: Option<HashMap<String, ToolKind>>,
    gold: HashMap<String, GoldHashes>,
}

impl<F> fmt::Debug for Evaluator<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evaluator")
            .field("config", &self.config)
            .field("judge", &self.judge.is_some())
            .field("cached_gold_states", &self.gold.len())
            .finish()
    }
}

fn is_action_message(m: &Message) -> Option<&[ToolCall]> {
    match m {
        Message::Assistant(p) | Message::User(p) => p.tool_calls.get().map(Vec::as_slice),
        _ => None,
    }
}

/// `Action.compare_with_tool_call`: same name, and the compared arguments equal (Python
/// equality). `compare_args = None` compares the tool call's own arguments (so arguments the
/// call left out are not compared); an empty list compares names only.
pub fn action_matches(action: &Action, call: &ToolCall) -> bool {
    if action.name != call.name {
        return false;
    }
    let keys: HashSet<&str> = match action.compare_args.get() {
        None => call.arguments.keys().map(String::as_str).collect(),
        Some(list) => list.iter().map(String::as_str).collect(),
    };
    if keys.is_empty() {
        return true;
    }
    let pick = |m: &Map<String, Value>| -> Value {
        Value::Object(m.iter().filter(|(k, _)| keys.contains(k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect())
    };
    py_json_eq(&pick(&call.arguments), &pick(&action.arguments))
}

/// Python's `str.isspace` for one character (Unicode whitespace plus the separators
/// U+001C..U+001F).
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The reference's COMMUNICATE rule for one piece of information: some assistant message with
/// non-blank text contains it, case-insensitively, once commas are removed from the message.
pub fn communicate_check(trajectory: &[Message], info: &str) -> CommunicateCheck {
    let wanted = info.to_lowercase();
    let found = trajectory.iter().find_map(|m| match m {
        Message::Assistant(p) => {
            let text = p.content.get()?;
            if !text.chars().any(|c| !py_space(c)) {
                return None;
            }
            text.to_lowercase().replace(',', "").contains(&wanted).then_some(text)
        }
        _ => None,
    });
    match found {
        Some(text) => CommunicateCheck {
            info: info.to_string(),
            met: true,
            justification: format!("Information '{info}' communicated in the message:\n '{text}'"),
        },
        None => CommunicateCheck {
            info: info.to_string(),
            met: false,
            justification: format!("Information '{info}' not communicated."),
        },
    }
}

fn domain_err<X: fmt::Display>(which: Which, during: &str) -> impl FnOnce(X) -> EvalError<X> + '_ {
    move |error| EvalError::Domain { which, during: during.to_string(), error }
}

fn reward_of(ok: bool) -> f64 {
    if ok {
        1.0
    } else {
        0.0
    }
}

impl<E, F> Evaluator<F>
where
    E: DomainEnv,
    F: FnMut() -> Result<E, E::Error>,
{
    /// An evaluator with the default settings (evaluation type ALL, strict replay, gold cache)
    /// and no judge.
    pub fn new(factory: F) -> Self {
        Evaluator { factory, config: EvalConfig::default(), judge: None, tool_types: None, gold: HashMap::new() }
    }

    /// Other settings.
    pub fn with_config(mut self, config: EvalConfig) -> Self {
        self.config = config;
        self
    }

    /// Grade NL assertions with this judge.
    pub fn with_judge(mut self, judge: Box<dyn Judge + Send>) -> Self {
        self.judge = Some(judge);
        self
    }

    /// The settings.
    pub fn config(&self) -> &EvalConfig {
        &self.config
    }

    /// Scores one trajectory of `task` (which must include the task's message history, if it
    /// has one, as the reference's does) that ended for `termination`.
    pub fn evaluate(
        &mut self,
        task: &Task,
        trajectory: &[Message],
        termination: TerminationReason,
    ) -> Result<Evaluation, EvalError<E::Error>> {
        if !termination.is_normal_stop() {
            let mut info = RewardInfo::new(0.0);
            info.reward_basis = None;
            info.info = Some(note(format!("Simulation terminated prematurely. Termination reason: {termination}")));
            return Ok(Evaluation::plain(info));
        }
        let Some(criteria) = task.evaluation_criteria.get() else {
            let mut info = RewardInfo::new(1.0);
            info.reward_basis = None;
            info.info = Some(note("No evaluation criteria"));
            return Ok(Evaluation::plain(info));
        };
        let mut notes = Vec::new();
        let basis = criteria.reward_basis();
        match self.config.evaluation_type {
            EvaluationType::Env => {
                let info = self.env_reward(task, criteria, trajectory, &mut notes)?;
                Ok(Evaluation { reward_info: info, nl: NlStatus::NotRequested, notes })
            }
            EvaluationType::Action => {
                let info = self.action_reward(criteria, trajectory)?;
                Ok(Evaluation { reward_info: info, nl: NlStatus::NotRequested, notes })
            }
            EvaluationType::Communicate => {
                Ok(Evaluation { reward_info: communicate_reward(criteria, trajectory), nl: NlStatus::NotRequested, notes })
            }
            EvaluationType::NlAssertions => match self.nl_reward(criteria, trajectory)? {
                NlOutcome::Info(info) => Ok(Evaluation { reward_info: *info, nl: NlStatus::Evaluated, notes }),
                NlOutcome::NotEvaluated(assertions) => {
                    let mut info = RewardInfo::new(1.0);
                    info.info = Some(not_evaluated_note(&assertions));
                    Ok(Evaluation { reward_info: info, nl: NlStatus::NotEvaluated { assertions, in_reward: true }, notes })
                }
            },
            t @ (EvaluationType::All | EvaluationType::AllWithNlAssertions) => {
                let env = self.env_reward(task, criteria, trajectory, &mut notes)?;
                let action = self.action_reward(criteria, trajectory)?;
                let communicate = communicate_reward(criteria, trajectory);
                let needs_nl = basis.contains(&RewardType::NlAssertion);
                let nl = if t == EvaluationType::AllWithNlAssertions || needs_nl {
                    Some(self.nl_reward(criteria, trajectory)?)
                } else {
                    None
                };
                let in_basis = |k: RewardType| basis.contains(&k);
                Ok(combine(env, action, communicate, nl, Some(basis.clone()), &in_basis, notes))
            }
            t @ (EvaluationType::AllIgnoreBasis | EvaluationType::AllWithNlAssertionsIgnoreBasis) => {
                let env = self.env_reward(task, criteria, trajectory, &mut notes)?;
                let action = self.action_reward(criteria, trajectory)?;
                let communicate = communicate_reward(criteria, trajectory);
                let nl = if t == EvaluationType::AllWithNlAssertionsIgnoreBasis {
                    Some(self.nl_reward(criteria, trajectory)?)
                } else {
                    None
                };
                let mut basis = vec![RewardType::Db, RewardType::EnvAssertion, RewardType::Action, RewardType::Communicate];
                if nl.is_some() {
                    basis.push(RewardType::NlAssertion);
                }
                let has_nl = nl.is_some();
                Ok(combine(env, action, communicate, nl, Some(basis), &|k| k != RewardType::NlAssertion || has_nl, notes))
            }
        }
    }

    fn fresh(&mut self, which: Which, plan: &EpisodePlan) -> Result<E, EvalError<E::Error>> {
        let mut env = (self.factory)().map_err(domain_err(which, "creating the environment"))?;
        env.reset(&plan.init).map_err(domain_err(which, "reset to the task's initial state"))?;
        Ok(env)
    }

    fn hashes(env: &mut E, which: Which) -> Result<SideHashes, EvalError<E::Error>> {
        let a = env.state_hash(Requestor::Assistant).map_err(domain_err(which, "hashing the agent DB"))?;
        let u = env.state_hash(Requestor::User).map_err(domain_err(which, "hashing the user DB"))?;
        Ok((a, u))
    }

    fn gold_hashes(&mut self, task: &Task, plan: &EpisodePlan, actions: &[Action]) -> Result<GoldHashes, EvalError<E::Error>> {
        let key = if self.config.cache_gold {
            // The gold state depends on the initial state and the reference actions only.
            let key = serde_json::to_string(&(&task.initial_state, actions, self.config.strict_replay)).ok();
            if let Some(hit) = key.as_ref().and_then(|k| self.gold.get(k)) {
                return Ok(hit.clone());
            }
            key
        } else {
            None
        };
        let mut env = self.fresh(Which::Gold, plan)?;
        replay_history(&mut env, &plan.replay, self.config.strict_replay)
            .map_err(|error| EvalError::Replay { which: Which::Gold, error })?;
        let mut synced_fallback = false;
        for action in actions {
            let args = Value::Object(action.arguments.clone());
            let during = || format!("reference action `{}` ({})", action.name, action.action_id);
            let unsynced = env
                .call_tool_unsynced(action.requestor(), &action.name, &args)
                .map_err(|e| EvalError::Domain { which: Which::Gold, during: during(), error: e })?;
            let (content, is_error) = match unsynced {
                Some(r) => r,
                None => {
                    synced_fallback = true;
                    env.call_tool(action.requestor(), &action.name, &args)
                        .map_err(|e| EvalError::Domain { which: Which::Gold, during: during(), error: e })?
                }
            };
            if is_error {
                // The reference logs and goes on.
                tracing::debug!(task = %task.id, action = %action.name, "error in golden action: {content}");
            }
        }
        let (agent, user) = Self::hashes(&mut env, Which::Gold)?;
        let g = GoldHashes { agent, user, synced_fallback };
        if let Some(k) = key {
            self.gold.insert(k, g.clone());
        }
        Ok(g)
    }

    /// `EnvironmentEvaluator.calculate_reward`.
    fn env_reward(
        &mut self,
        task: &Task,
        criteria: &EvaluationCriteria,
        trajectory: &[Message],
        notes: &mut Vec<String>,
    ) -> Result<RewardInfo, EvalError<E::Error>> {
        let actions = criteria.actions.get();
        let assertions = criteria.env_assertions.get();
        if actions.is_none() && assertions.is_none() {
            let mut info = RewardInfo::new(1.0);
            info.db_check = Some(DbCheck { db_match: true, db_reward: 1.0 });
            info.info = Some(note("No expected actions or env assertions"));
            return Ok(info);
        }
        let plan = plan_episode(task).map_err(|e| EvalError::Replay { which: Which::Gold, error: InitError::Plan(e) })?;
        let steps = actions_from_messages(trajectory)?;
        let mut predicted = self.fresh(Which::Predicted, &plan)?;
        replay_history(&mut predicted, &steps, self.config.strict_replay)
            .map_err(|error| EvalError::Replay { which: Which::Predicted, error })?;

        let gold = self.gold_hashes(task, &plan, actions.map(Vec::as_slice).unwrap_or(&[]))?;
        if gold.synced_fallback && !notes.iter().any(|n| n == UNSYNCED_FALLBACK_NOTE) {
            notes.push(UNSYNCED_FALLBACK_NOTE.to_string());
        }
        let (agent, user) = Self::hashes(&mut predicted, Which::Predicted)?;
        let db_match = agent == gold.agent && user == gold.user;
        let db_reward = reward_of(db_match);

        let mut checks = Vec::new();
        let mut assertion_reward = 1.0;
        for (index, a) in assertions.map(Vec::as_slice).unwrap_or(&[]).iter().enumerate() {
            let returned = predicted
                .env_function(a.env_type, &a.func_name, &Value::Object(a.arguments.clone()))
                .map_err(|e| EvalError::EnvAssertion { index, func_name: a.func_name.clone(), side: a.env_type, message: e.to_string() })?;
            let Value::Bool(b) = returned else {
                return Err(EvalError::AssertionNotBool { index, func_name: a.func_name.clone(), returned });
            };
            let met = b == a.assert_value();
            let reward = reward_of(met);
            assertion_reward *= reward;
            checks.push(EnvAssertionCheck { env_assertion: a.clone(), met, reward });
        }

        let basis = criteria.reward_basis();
        let mut reward = 1.0;
        let mut breakdown = RewardBreakdown::new();
        if basis.contains(&RewardType::Db) {
            breakdown.insert(RewardType::Db, db_reward);
            reward *= db_reward;
        }
        if basis.contains(&RewardType::EnvAssertion) {
            breakdown.insert(RewardType::EnvAssertion, assertion_reward);
            reward *= assertion_reward;
        }
        let mut info = RewardInfo::new(reward);
        info.db_check = Some(DbCheck { db_match, db_reward });
        info.env_assertions = Some(checks);
        info.reward_basis = Some(basis);
        info.reward_breakdown = Some(breakdown);
        Ok(info)
    }

    /// Tool name → kind, listed once per evaluator. Agent tools first, then user tools (which
    /// win on a name clash, as in the reference's dict update); a tool of unknown kind is left
    /// out (`tool_type: null`).
    fn tool_types(&mut self) -> Result<&HashMap<String, ToolKind>, EvalError<E::Error>> {
        let map = match self.tool_types.take() {
            Some(m) => m,
            None => {
                let mut env = (self.factory)().map_err(domain_err(Which::Predicted, "creating the environment"))?;
                let tools = env.tools().map_err(domain_err(Which::Predicted, "listing the tools"))?;
                let mut map = HashMap::new();
                for side in [Requestor::Assistant, Requestor::User] {
                    for t in tools.iter().filter(|t| t.requestor == side) {
                        match t.kind {
                            Some(k) => map.insert(t.name.clone(), k),
                            None => map.remove(&t.name),
                        };
                    }
                }
                map
            }
        };
        Ok(self.tool_types.insert(map))
    }

    /// `ActionEvaluator.calculate_reward`.
    fn action_reward(&mut self, criteria: &EvaluationCriteria, trajectory: &[Message]) -> Result<RewardInfo, EvalError<E::Error>> {
        let golden = match criteria.actions.get() {
            Some(a) if !a.is_empty() => a,
            _ => {
                let mut info = RewardInfo::new(1.0);
                info.info = Some(note("No actions to evaluate"));
                info.reward_breakdown = Some(RewardBreakdown::of(RewardType::Action, 1.0));
                return Ok(info);
            }
        };
        let calls: Vec<&ToolCall> = trajectory.iter().filter_map(is_action_message).flatten().collect();
        let kinds = self.tool_types()?;
        let checks: Vec<ActionCheck> = golden
            .iter()
            .map(|a| {
                let action_match = calls.iter().any(|c| action_matches(a, c));
                ActionCheck {
                    action: a.clone(),
                    action_match,
                    action_reward: reward_of(action_match),
                    tool_type: kinds.get(&a.name).copied(),
                }
            })
            .collect();
        let reward = reward_of(checks.iter().all(|c| c.action_match));
        let mut info = RewardInfo::new(reward);
        info.action_checks = Some(checks);
        info.reward_breakdown = Some(RewardBreakdown::of(RewardType::Action, reward));
        Ok(info)
    }

    /// `NLAssertionsEvaluator.calculate_reward`, through the configured judge.
    fn nl_reward(&mut self, criteria: &EvaluationCriteria, trajectory: &[Message]) -> Result<NlOutcome, EvalError<E::Error>> {
        let assertions = match criteria.nl_assertions.get() {
            Some(a) if !a.is_empty() => a,
            _ => {
                let mut info = RewardInfo::new(1.0);
                info.nl_assertions = Some(Vec::new());
                info.info = Some(note("No nl_assertions to evaluate"));
                info.reward_breakdown = Some(RewardBreakdown::of(RewardType::NlAssertion, 1.0));
                return Ok(NlOutcome::Info(Box::new(info)));
            }
        };
        let Some(judge) = self.judge.as_mut() else { return Ok(NlOutcome::NotEvaluated(assertions.clone())) };
        let checks: Vec<NlAssertionCheck> = judge.judge(trajectory, assertions)?;
        let reward = reward_of(checks.iter().all(|c| c.met));
        let mut info = RewardInfo::new(reward);
        info.nl_assertions = Some(checks);
        info.reward_breakdown = Some(RewardBreakdown::of(RewardType::NlAssertion, reward));
        Ok(NlOutcome::Info(Box::new(info)))
    }
}

fn not_evaluated_note(assertions: &[String]) -> Value {
    let mut m = Map::new();
    m.insert("note".into(), Value::String("NL assertions not evaluated: no judge configured".into()));
    m.insert("not_evaluated".into(), Value::Array(assertions.iter().cloned().map(Value::String).collect()));
    Value::Object(m)
}

/// `CommunicateEvaluator.calculate_reward`.
fn communicate_reward(criteria: &EvaluationCriteria, trajectory: &[Message]) -> RewardInfo {
    let wanted = match criteria.communicate_info.get() {
        Some(w) if !w.is_empty() => w,
        _ => {
            let mut info = RewardInfo::new(1.0);
            info.info = Some(note("No communicate_info to evaluate"));
            info.reward_breakdown = Some(RewardBreakdown::of(RewardType::Communicate, 1.0));
            return info;
        }
    };
    let checks: Vec<CommunicateCheck> = wanted.iter().map(|w| communicate_check(trajectory, w)).collect();
    let reward = reward_of(checks.iter().all(|c| c.met));
    let mut info = RewardInfo::new(reward);
    info.communicate_checks = Some(checks);
    info.reward_breakdown = Some(RewardBreakdown::of(RewardType::Communicate, reward));
    info
}

/// The combination step of `evaluate_simulation` for ALL-style evaluation types.
fn combine(
    env: RewardInfo,
    action: RewardInfo,
    communicate: RewardInfo,
    nl: Option<NlOutcome>,
    reward_basis: Option<Vec<RewardType>>,
    counts: &dyn Fn(RewardType) -> bool,
    notes: Vec<String>,
) -> Evaluation {
    let mut reward = 1.0;
    let mut breakdown = RewardBreakdown::new();
    let mut take = |part: &RewardInfo, breakdown: &mut RewardBreakdown| {
        if let Some(b) = &part.reward_breakdown {
            breakdown.update(b);
        }
        reward *= part.reward;
    };
    if counts(RewardType::Db) || counts(RewardType::EnvAssertion) {
        take(&env, &mut breakdown);
    }
    if counts(RewardType::Action) {
        take(&action, &mut breakdown);
    }
    let mut status = NlStatus::NotRequested;
    let (nl_checks, nl_info) = match &nl {
        None => (None, Value::Null),
        Some(NlOutcome::Info(i)) => {
            status = NlStatus::Evaluated;
            if counts(RewardType::NlAssertion) {
                take(i, &mut breakdown);
            }
            (i.nl_assertions.clone(), i.info.clone().unwrap_or(Value::Null))
        }
        Some(NlOutcome::NotEvaluated(a)) => {
            status = NlStatus::NotEvaluated { assertions: a.clone(), in_reward: counts(RewardType::NlAssertion) };
            (None, not_evaluated_note(a))
        }
    };
    if counts(RewardType::Communicate) {
        take(&communicate, &mut breakdown);
    }
    let mut info = Map::new();
    info.insert("env".into(), env.info.clone().unwrap_or(Value::Null));
    info.insert("nl".into(), nl_info);
    info.insert("communicate".into(), communicate.info.clone().unwrap_or(Value::Null));
    info.insert("action".into(), action.info.clone().unwrap_or(Value::Null));
    let reward_info = RewardInfo {
        reward,
        db_check: env.db_check,
        env_assertions: env.env_assertions,
        action_checks: action.action_checks,
        nl_assertions: nl_checks,
        communicate_checks: communicate.communicate_checks,
        reward_basis,
        reward_breakdown: Some(breakdown),
        info: Some(Value::Object(info)),
    };
    Evaluation { reward_info, nl: status, notes }
}
