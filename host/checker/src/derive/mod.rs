//! Offline derivation of checker programs from τ² tasks.
//!
//! [`derive_checker`] turns one τ² [`Task`] into a self-contained Starlark checker program that
//! gives τ²-bench's verdict (`is_successful`: reward == 1.0) for a finished episode of that task,
//! without a model and without the domain: everything the reward needs is computed here, once,
//! and embedded in the program as data.
//!
//! # The checker convention
//!
//! The program defines `def check(task, trajectory, initial, final)` and nothing else that the
//! host calls; it uses no `load()`, no I/O and only the standard Starlark builtins
//! (`Dialect::Standard`, `Globals::standard()`). Recursion and `while` are not used.
//!
//! * `task`: the task JSON as a dict. **Reserved key**: the host must add
//!   `task["_eigenbox"] = {"termination_reason": "<τ² TerminationReason>"}` (`user_stop`,
//!   `agent_stop`, `max_steps`, ...; see [`TERMINATION_KEY`]). The WIT `check-input` has no field
//!   for it, and the task JSON is the one free-form input. Without it the program `fail()`s (an
//!   error, "checker could not decide"), never a silent verdict. If `task["id"]` is present it
//!   must be the id the program was derived for.
//! * `trajectory`: list of message dicts in τ² shape: `role` (`assistant`, `user`, `tool`,
//!   `system`), `content` (str or None), `tool_calls` (list of `{id, name, arguments (dict),
//!   requestor}` or None), tool results with `tool_call_id`, `error`.
//! * `initial`, `final`: `{"agent": <DB JSON as dicts or None>, "user": <... or None>}`.
//!   `initial` is the state the dialogue starts from: the domain's DBs after the task's
//!   `initial_state` (initialization data and actions, then the message-history tool calls).
//!   `final` is the state at the end of the episode.
//! * Returns `{"passed": bool, "score": float or None, "reasons": [str]}`.
//!
//! # Reward semantics (τ²'s `evaluate_simulation`, evaluation type ALL, as `eigenbox-eval`)
//!
//! * **Termination gating**: only `user_stop` / `agent_stop` are scored; otherwise
//!   `passed = False`, `score = 0.0`.
//! * No `evaluation_criteria`: passed, score 1.0.
//! * **DB** (when `DB` is in the reward basis and the task has actions or env assertions):
//!   the final state must equal the gold state (initial + the reference actions, run through the
//!   domain by the deriver). The program embeds the *expected changes*: the canonical structural
//!   diff initial → gold ([`state_diff`]), one entry per changed leaf path with its old and new
//!   value. At check time it computes the same canonical diff initial → final and requires the
//!   two to be equal. **Soundness**: the diff is injective in its second argument (applying
//!   `diff(a, b)` to `a` gives back `b`), so, for the `initial` the deriver used,
//!   `diff(initial, final) == diff(initial, gold)` ⇔ `final == gold`, i.e. exactly τ²'s DB-hash
//!   comparison (the hash is over key-sorted JSON, so key order never matters). Old values are
//!   part of each entry, so a host that passes a different `initial` is caught wherever the
//!   changes are (an `initial` that differs only elsewhere is treated as the base the changes
//!   apply to). One residual difference: Starlark compares `1 == 1.0` as equal where the hash
//!   would not; τ² DB fields have fixed types, so an int/float swap of the same value in one
//!   field cannot come from the domains' tools. A DB the deriver saw must be present at check
//!   time (`fail()` otherwise).
//! * **Env assertions**: the domain's assertion functions (mock and telecom, see
//!   [`SUPPORTED_ASSERTIONS`]) translated to Starlark over the final DB JSON, with the reference's
//!   error cases (`fail()`, as the reference raises). A task using another function is rejected
//!   at derivation ([`DeriveError::UnsupportedAssertion`]).
//! * **ACTION**: each reference action must match some tool call of an assistant or user
//!   message: same name, compared arguments equal under Python equality (`compare_args` null:
//!   the call's own argument names; empty: names only).
//! * **COMMUNICATE**: each info string, lower-cased, is a substring of some non-blank assistant
//!   message's content, lower-cased with commas removed.
//! * **Reward basis**: the product of the components in `reward_basis` (default `DB`,
//!   `COMMUNICATE`); all components are computed (so errors surface as in the evaluator) and the
//!   ones outside the basis are reported as such.
//! * **NL assertions** (no judge offline): when `NL_ASSERTION` is in the basis and the task has
//!   some, they are reported "not evaluated" and excluded, as `eigenbox-eval` does without a
//!   judge: `passed` is the product of the other components, `score` is `None` (the reward cannot
//!   be computed).
//!
//! # Use
//!
//! ```no_run
//! # use eigenbox_checker::derive::{derive_checker, DomainCtx, StateEnv};
//! # fn demo<E: StateEnv, F: FnMut() -> Result<E, E::Error>>(task: &eigenbox_tau2::Task, factory: F) -> Result<(), Box<dyn std::error::Error>> {
//! let mut ctx = DomainCtx::new("airline", factory);
//! let checker = derive_checker(task, &mut ctx)?;
//! std::fs::write(checker.file_name(), &checker.source)?;
//! # Ok(()) }
//! ```
//!
//! [`derive_task_set`] derives a whole task set (what `eigenbox checker derive <domain>` runs).
//! With the `native-eval` feature, `native::NativeChecker` evaluates a program natively (the
//! interpreter the sandboxed `checker-starlark` component embeds), for tests. The feature is
//! off by default on purpose: the `starlark` crate turns on serde_json's `arbitrary_precision`,
//! and cargo unifies that feature into every crate of the same build, which breaks
//! deserialisation of numbers inside internally tagged enums (e.g. the retail domain's
//! `payment_methods` no longer load natively). Never enable it in a build that also runs
//! domains natively.

mod assertions;
mod diff;
mod emit;
#[cfg(feature = "native-eval")]
pub mod native;
mod program;
mod states;

use std::path::Path;

use eigenbox_tau2::{RewardType, Task, TaskSet};
use serde::Serialize;

pub use assertions::SUPPORTED_ASSERTIONS;
pub use diff::{apply_changes, state_diff, Change, PathElem};
pub use states::{DomainCtx, Sides, StateEnv, TaskStates, WithStateJson};

/// The reserved key of the `task` dict under which the host passes episode facts
/// (`{"termination_reason": ...}`).
pub const TERMINATION_KEY: &str = "_eigenbox";

/// Version of the derivation scheme, written into every program's header.
pub const DERIVE_VERSION: u32 = 1;

/// Why a checker could not be derived.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    /// The domain failed while computing the task's initial or gold state.
    #[error("task `{task}`: domain failure during {during}: {message}")]
    Domain {
        /// Task id.
        task: String,
        /// What was being done.
        during: String,
        /// The failure.
        message: String,
    },
    /// The domain's state is not JSON.
    #[error("task `{task}`: {side} state is not JSON: {message}")]
    StateJson {
        /// Task id.
        task: String,
        /// `agent` or `user`.
        side: &'static str,
        /// Parser message.
        message: String,
    },
    /// An env assertion uses a function with no Starlark translation.
    #[error("task `{task}`: env assertion #{index} `{func_name}` ({side}) has no Starlark translation for domain `{domain}`")]
    UnsupportedAssertion {
        /// Task id.
        task: String,
        /// Domain.
        domain: String,
        /// Position in `env_assertions`.
        index: usize,
        /// Function.
        func_name: String,
        /// Side.
        side: String,
    },
    /// An env assertion's arguments do not fit the function (the reference would raise a
    /// `TypeError` on every evaluation).
    #[error("task `{task}`: env assertion #{index} `{func_name}`: {message}")]
    AssertionArguments {
        /// Task id.
        task: String,
        /// Position in `env_assertions`.
        index: usize,
        /// Function.
        func_name: String,
        /// What is wrong.
        message: String,
    },
}

/// What a derived program checks (for listings and reports).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeriveSummary {
    /// The reward basis (τ² names).
    pub reward_basis: Vec<String>,
    /// Whether the task has evaluation criteria at all.
    pub has_criteria: bool,
    /// Expected agent-DB changes embedded (`None`: no DB check embedded).
    pub agent_changes: Option<usize>,
    /// Expected user-DB changes embedded.
    pub user_changes: Option<usize>,
    /// Env assertions translated.
    pub env_assertions: usize,
    /// Reference actions checked.
    pub actions: usize,
    /// Communicate infos checked.
    pub communicate: usize,
    /// NL assertions that will be reported as not evaluated (in the basis only).
    pub nl_not_evaluated: usize,
}

/// A derived checker program.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DerivedChecker {
    /// The task it was derived for.
    pub task_id: String,
    /// The domain.
    pub domain: String,
    /// The Starlark source.
    pub source: String,
    /// What it checks.
    pub summary: DeriveSummary,
}

impl DerivedChecker {
    /// A file name for the program: the task id with every character outside
    /// `[A-Za-z0-9._-]` replaced by `_`, plus `.star`.
    pub fn file_name(&self) -> String {
        let safe: String =
            self.task_id.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
        format!("{safe}.star")
    }
}

/// Derives the checker program of `task` in the domain of `ctx` (which computes the initial
/// and gold states when the DB check needs them).
pub fn derive_checker<E, F>(task: &Task, ctx: &mut DomainCtx<F>) -> Result<DerivedChecker, DeriveError>
where
    E: StateEnv,
    F: FnMut() -> Result<E, E::Error>,
{
    let plan = program::plan(task, ctx.domain())?;
    let states = if plan.needs_db { Some(ctx.states(task, true)?) } else { None };
    let (source, summary) = program::render(task, ctx.domain(), &plan, states.as_ref());
    Ok(DerivedChecker { task_id: task.id.clone(), domain: ctx.domain().to_string(), source, summary })
}

/// The result of [`derive_task_set`].
#[derive(Debug, Default)]
pub struct DeriveSetReport {
    /// Programs derived, in task order.
    pub checkers: Vec<DerivedChecker>,
    /// Tasks that could not be derived, with why.
    pub failures: Vec<(String, DeriveError)>,
}

impl DeriveSetReport {
    /// Writes every program to `<dir>/<file_name>` (creating `dir`), returns how many.
    pub fn write_to_dir(&self, dir: &Path) -> std::io::Result<usize> {
        std::fs::create_dir_all(dir)?;
        for c in &self.checkers {
            std::fs::write(dir.join(c.file_name()), &c.source)?;
        }
        Ok(self.checkers.len())
    }
}

/// Derives the checkers of every task of `tasks` (e.g. `TaskSet::load(data, version, split)`),
/// going on past failures. `progress` is called after each task with (done, total).
pub fn derive_task_set<E, F>(
    tasks: &TaskSet,
    ctx: &mut DomainCtx<F>,
    mut progress: impl FnMut(usize, usize),
) -> DeriveSetReport
where
    E: StateEnv,
    F: FnMut() -> Result<E, E::Error>,
{
    let mut report = DeriveSetReport::default();
    let all: Vec<&Task> = tasks.tasks.iter().collect();
    let total = all.len();
    for (i, task) in all.into_iter().enumerate() {
        match derive_checker(task, ctx) {
            Ok(c) => report.checkers.push(c),
            Err(e) => report.failures.push((task.id.clone(), e)),
        }
        progress(i + 1, total);
    }
    report
}

fn basis_name(r: &RewardType) -> String {
    match serde_json::to_value(r) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{r:?}"),
    }
}
