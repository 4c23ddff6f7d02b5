//! The conformance engine: runs a domain implementation against the golden vectors of the
//! reference and reports every difference.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diff::string_diff;
use crate::episode::{initialise_episode, json_diff_ordered};
use crate::golden::{GoldenDomain, GoldenError, ProbeRecord, ReplayRecord};
use crate::message::Requestor;
use crate::task::{TaskSet, TaskVersion};

/// Conceptual kind of a tool (τ²'s `ToolType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolKind {
    /// Reads state.
    Read,
    /// Changes state.
    Write,
    /// Pure reasoning.
    Think,
    /// Anything else.
    Generic,
}

/// One tool as a domain declares it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// OpenAI `function.description`.
    pub description: String,
    /// OpenAI `function.parameters` (JSON Schema), key order significant.
    pub parameters: Value,
    /// Who may call it.
    pub requestor: Requestor,
    /// Kind, where known.
    #[serde(default)]
    pub kind: Option<ToolKind>,
    /// Whether it may change state, where known.
    #[serde(default)]
    pub mutates_state: Option<bool>,
}

impl ToolSpec {
    /// The OpenAI function schema the reference writes into `tools.json`:
    /// `{"type": "function", "function": {"name", "description", "parameters"}}`.
    pub fn to_openai(&self) -> Value {
        let mut function = serde_json::Map::new();
        function.insert("name".into(), Value::String(self.name.clone()));
        function.insert("description".into(), Value::String(self.description.clone()));
        function.insert("parameters".into(), self.parameters.clone());
        let mut out = serde_json::Map::new();
        out.insert("type".into(), Value::String("function".into()));
        out.insert("function".into(), Value::Object(function));
        Value::Object(out)
    }
}

/// What the conformance engine (and episode initialisation) needs from a domain.
/// The host implements it over a WASM domain instance; tests implement it in Rust.
pub trait DomainEnv {
    /// A failure of the implementation itself (trap, transport...), not a tool error.
    type Error: fmt::Display;
    /// Fresh episode: the domain's initial DBs, then `init`'s data and actions
    /// ([`crate::EpisodeInit::empty`] = no task).
    fn reset(&mut self, init: &crate::EpisodeInit) -> Result<(), Self::Error>;
    /// Every tool, assistant tools first, each in declaration order.
    fn tools(&mut self) -> Result<Vec<ToolSpec>, Self::Error>;
    /// `Ok((content, is_error))`; `content` is the exact tool-message string
    /// (`"Error: ..."` when `is_error`).
    fn call_tool(&mut self, requestor: Requestor, name: &str, arguments: &Value) -> Result<(String, bool), Self::Error>;
    /// Runs an environment function (initialization action or assertion helper) on one side.
    fn env_function(&mut self, side: Requestor, name: &str, arguments: &Value) -> Result<Value, Self::Error>;
    /// sha256 hex of the canonical DB JSON of one side, `None` where there is no such DB.
    fn state_hash(&mut self, side: Requestor) -> Result<Option<String>, Self::Error>;
    /// Whether a tool (of either side) mutates state; `None` = no such tool.
    fn is_mutating(&mut self, name: &str) -> Result<Option<bool>, Self::Error>;
    /// τ²'s `Environment.make_tool_call`: the tool alone, without the `sync_tools()` that
    /// [`DomainEnv::call_tool`] (τ²'s `get_response`) runs after a successful call. The
    /// evaluator's gold environment runs the task's reference actions this way, which matters
    /// for domains whose `sync_tools` does something (telecom). `Ok(None)`: this
    /// implementation cannot (the default); callers then use `call_tool` and say so.
    fn call_tool_unsynced(
        &mut self,
        requestor: Requestor,
        name: &str,
        arguments: &Value,
    ) -> Result<Option<(String, bool)>, Self::Error> {
        let _ = (requestor, name, arguments);
        Ok(None)
    }
}

/// What is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Category {
    /// Tool schemas (one check per tool position, agent and user).
    Tools,
    /// Initial DB hashes of the domain.
    InitialHashes,
    /// Task replays.
    Replays,
    /// Single-call probes.
    Probes,
    /// Evaluator rewards (`evals.jsonl`; checked by `eigenbox-eval`).
    Evals,
}

impl Category {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Tools => "tools",
            Category::InitialHashes => "initial_hashes",
            Category::Replays => "replays",
            Category::Probes => "probes",
            Category::Evals => "evals",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Pass/fail/skip counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Checks that matched.
    pub passed: usize,
    /// Checks that differed.
    pub failed: usize,
    /// Records skipped (the golden record carries a `generation_error`).
    pub skipped: usize,
}

/// One failed check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failure {
    /// Domain.
    pub domain: String,
    /// Category.
    pub category: Category,
    /// What failed: tool position, `version/task_id`, probe id.
    pub id: String,
    /// One line (or block) per difference, expected vs actual.
    pub problems: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[{}/{}] {}", self.domain, self.category, self.id)?;
        for p in &self.problems {
            let mut lines = p.lines();
            if let Some(first) = lines.next() {
                writeln!(f, "  - {first}")?;
            }
            for l in lines {
                writeln!(f, "    {l}")?;
            }
        }
        Ok(())
    }
}

/// Results for one domain.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DomainReport {
    /// Domain name.
    pub domain: String,
    /// Counts per category.
    pub counts: BTreeMap<Category, Counts>,
    /// Failures, in check order.
    pub failures: Vec<Failure>,
    /// Informational notes (skipped records, fallbacks).
    pub notes: Vec<String>,
}

impl DomainReport {
    /// Records one check: passed when `problems` is empty, otherwise a [`Failure`].
    pub fn record(&mut self, category: Category, id: String, problems: Vec<String>) {
        let c = self.counts.entry(category).or_default();
        if problems.is_empty() {
            c.passed += 1;
        } else {
            c.failed += 1;
            self.failures.push(Failure { domain: self.domain.clone(), category, id, problems });
        }
    }
    /// Records a skipped record, with a note saying why.
    pub fn skip(&mut self, category: Category, note: String) {
        self.counts.entry(category).or_default().skipped += 1;
        self.notes.push(note);
    }
    /// Counts of one category (zero if none ran).
    pub fn counts(&self, category: Category) -> Counts {
        self.counts.get(&category).copied().unwrap_or_default()
    }
}

/// A conformance report (one or more domains). `Display` prints the table, the failures and a
/// final line `N passed, M failed`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// Per-domain results.
    pub domains: Vec<DomainReport>,
}

impl Report {
    /// Total passed checks.
    pub fn passed(&self) -> usize {
        self.domains.iter().flat_map(|d| d.counts.values()).map(|c| c.passed).sum()
    }
    /// Total failed checks.
    pub fn failed(&self) -> usize {
        self.domains.iter().flat_map(|d| d.counts.values()).map(|c| c.failed).sum()
    }
    /// Total skipped records.
    pub fn skipped(&self) -> usize {
        self.domains.iter().flat_map(|d| d.counts.values()).map(|c| c.skipped).sum()
    }
    /// All failures.
    pub fn failures(&self) -> impl Iterator<Item = &Failure> {
        self.domains.iter().flat_map(|d| d.failures.iter())
    }
    /// Whether nothing failed.
    pub fn is_success(&self) -> bool {
        self.failed() == 0
    }
    /// Appends another report's domains.
    pub fn merge(&mut self, other: Report) {
        self.domains.extend(other.domains);
    }
    /// The final summary line.
    pub fn summary_line(&self) -> String {
        format!("{} passed, {} failed", self.passed(), self.failed())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<12} {:<16} {:>7} {:>7} {:>7}", "domain", "category", "passed", "failed", "skipped")?;
        for d in &self.domains {
            for (cat, c) in &d.counts {
                writeln!(f, "{:<12} {:<16} {:>7} {:>7} {:>7}", d.domain, cat.as_str(), c.passed, c.failed, c.skipped)?;
            }
        }
        let notes: Vec<&String> = self.domains.iter().flat_map(|d| d.notes.iter()).collect();
        if !notes.is_empty() {
            writeln!(f, "\nNotes:")?;
            for n in notes {
                writeln!(f, "  {n}")?;
            }
        }
        if !self.is_success() {
            writeln!(f, "\nFailures (first {FAILURES_SHOWN_PER_DOMAIN} per domain):")?;
            for d in &self.domains {
                for fl in d.failures.iter().take(FAILURES_SHOWN_PER_DOMAIN) {
                    write!(f, "{fl}")?;
                }
                if d.failures.len() > FAILURES_SHOWN_PER_DOMAIN {
                    writeln!(f, "[{}] ... and {} more failures", d.domain, d.failures.len() - FAILURES_SHOWN_PER_DOMAIN)?;
                }
            }
        }
        if self.skipped() > 0 {
            writeln!(f, "({} skipped)", self.skipped())?;
        }
        write!(f, "{}", self.summary_line())
    }
}

/// How many failures per domain the report prints (all are kept in [`DomainReport::failures`]).
pub const FAILURES_SHOWN_PER_DOMAIN: usize = 10;

/// Errors that stop a conformance run before any check.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// A golden file is missing or malformed.
    #[error(transparent)]
    Golden(#[from] GoldenError),
}

fn side_label(side: Requestor) -> &'static str {
    match side {
        Requestor::Assistant => "agent",
        Requestor::User => "user",
    }
}

fn show_hash(h: &Option<String>) -> String {
    match h {
        Some(s) => s.clone(),
        None => "null".into(),
    }
}

/// Compares a response string and error flag.
fn compare_response(label: &str, exp: &str, exp_err: bool, act: &str, act_err: bool, problems: &mut Vec<String>) {
    if exp != act {
        problems.push(format!(
            "{label}: response differs: {}\nexpected: {exp}\nactual:   {act}",
            string_diff(exp, act)
        ));
    }
    if exp_err != act_err {
        problems.push(format!("{label}: error flag: expected {exp_err}, got {act_err}"));
    }
}

/// Tracks hash checkpoints to report the first divergence per side.
#[derive(Default)]
struct HashTrail {
    first: HashMap<Requestor, String>,
    differing: HashMap<Requestor, usize>,
    total: usize,
}

impl HashTrail {
    fn check(&mut self, side: Requestor, at: &str, expected: &Option<String>, actual: &Option<String>) {
        if side == Requestor::Assistant {
            self.total += 1;
        }
        if expected != actual {
            *self.differing.entry(side).or_default() += 1;
            self.first.entry(side).or_insert_with(|| {
                format!(
                    "{} DB hash first diverged {at}: expected {}, got {}",
                    side_label(side),
                    show_hash(expected),
                    show_hash(actual)
                )
            });
        }
    }
    fn into_problems(mut self, problems: &mut Vec<String>) {
        for side in [Requestor::Assistant, Requestor::User] {
            if let Some(msg) = self.first.remove(&side) {
                let n = self.differing.get(&side).copied().unwrap_or(0);
                problems.push(format!("{msg} ({n} of {} checkpoints differ)", self.total));
            }
        }
    }
}

fn hashes<E: DomainEnv>(env: &mut E) -> Result<(Option<String>, Option<String>), String> {
    let a = env.state_hash(Requestor::Assistant).map_err(|e| format!("state_hash(agent) failed: {e}"))?;
    let u = env.state_hash(Requestor::User).map_err(|e| format!("state_hash(user) failed: {e}"))?;
    Ok((a, u))
}

/// Checks the tool schemas and the initial hashes.
pub fn check_tools<E: DomainEnv>(golden: &GoldenDomain, env: &mut E, report: &mut DomainReport) {
    let setup = env
        .reset(&crate::EpisodeInit::empty())
        .map_err(|e| format!("reset failed: {e}"))
        .and_then(|_| env.tools().map_err(|e| format!("tools() failed: {e}")));
    let tools = match setup {
        Ok(t) => t,
        Err(e) => {
            report.record(Category::Tools, "tools".into(), vec![e.clone()]);
            report.record(Category::InitialHashes, "initial hashes".into(), vec![e]);
            return;
        }
    };
    for (side, expected) in [(Requestor::Assistant, &golden.tools.agent_tools), (Requestor::User, &golden.tools.user_tools)] {
        let actual: Vec<Value> = tools.iter().filter(|t| t.requestor == side).map(ToolSpec::to_openai).collect();
        let list = if side == Requestor::Assistant { "agent_tools" } else { "user_tools" };
        for i in 0..expected.len().max(actual.len()) {
            let name_of = |v: Option<&Value>| {
                v.and_then(|v| v.pointer("/function/name")).and_then(Value::as_str).unwrap_or("?").to_string()
            };
            let id = format!("{list}[{i}] {}", name_of(expected.get(i).or(actual.get(i))));
            let problems = match (expected.get(i), actual.get(i)) {
                (Some(e), Some(a)) => json_diff_ordered(e, a).into_iter().collect(),
                (Some(_), None) => vec![format!("missing: expected tool `{}` at position {i}", name_of(expected.get(i)))],
                (None, Some(_)) => vec![format!("unexpected extra tool `{}` at position {i}", name_of(actual.get(i)))],
                (None, None) => vec![],
            };
            report.record(Category::Tools, id, problems);
        }
    }
    let mut problems = Vec::new();
    match hashes(env) {
        Ok((a, u)) => {
            if a != golden.tools.initial_agent_db_hash {
                problems.push(format!(
                    "initial agent DB hash: expected {}, got {}",
                    show_hash(&golden.tools.initial_agent_db_hash),
                    show_hash(&a)
                ));
            }
            if u != golden.tools.initial_user_db_hash {
                problems.push(format!(
                    "initial user DB hash: expected {}, got {}",
                    show_hash(&golden.tools.initial_user_db_hash),
                    show_hash(&u)
                ));
            }
        }
        Err(e) => problems.push(e),
    }
    report.record(Category::InitialHashes, "initial hashes".into(), problems);
}

/// Replays one golden record on `env` (which the caller created fresh) and returns the
/// differences.
pub fn check_replay<E: DomainEnv>(rec: &ReplayRecord, task: &crate::Task, env: &mut E) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = initialise_episode(env, Some(task), true) {
        problems.push(format!("applying the task's initial state failed: {e}"));
        return problems;
    }
    let mut trail = HashTrail::default();
    match hashes(env) {
        Ok((a, u)) => {
            trail.check(Requestor::Assistant, "after the initial state", &rec.initial_agent_db_hash, &a);
            trail.check(Requestor::User, "after the initial state", &rec.initial_user_db_hash, &u);
        }
        Err(e) => {
            problems.push(e);
            return problems;
        }
    }
    for (i, call) in rec.calls.iter().enumerate() {
        let label = format!("call #{i} `{}` ({})", call.name, call.requestor);
        match env.call_tool(call.requestor, &call.name, &call.arguments) {
            Ok((content, is_error)) => compare_response(&label, &call.response, call.error, &content, is_error, &mut problems),
            Err(e) => {
                problems.push(format!("{label}: domain failure: {e}"));
                trail.into_problems(&mut problems);
                return problems;
            }
        }
        match hashes(env) {
            Ok((a, u)) => {
                let at = format!("at {label}");
                trail.check(Requestor::Assistant, &at, &call.agent_db_hash_after, &a);
                trail.check(Requestor::User, &at, &call.user_db_hash_after, &u);
            }
            Err(e) => {
                problems.push(e);
                return problems;
            }
        }
    }
    match hashes(env) {
        Ok((a, u)) => {
            trail.check(Requestor::Assistant, "in the final state", &rec.final_agent_db_hash, &a);
            trail.check(Requestor::User, "in the final state", &rec.final_user_db_hash, &u);
        }
        Err(e) => problems.push(e),
    }
    trail.into_problems(&mut problems);
    for (i, ar) in rec.env_assertions.iter().enumerate() {
        let a = &ar.assertion;
        let label = format!("env assertion #{i} {}.{}", side_label(a.env_type), a.func_name);
        match env.env_function(a.env_type, &a.func_name, &Value::Object(a.arguments.clone())) {
            Ok(Value::Bool(b)) => {
                let met = b == a.assert_value();
                if met != ar.met {
                    problems.push(format!("{label}: met: expected {}, got {met} (function returned {b})", ar.met));
                }
            }
            Ok(other) => problems.push(format!("{label}: returned {other} instead of a bool")),
            Err(e) => problems.push(format!("{label}: failed: {e}")),
        }
    }
    problems
}

/// Runs one probe on `env` (which the caller created fresh) and returns the differences.
pub fn check_probe<E: DomainEnv>(rec: &ProbeRecord, env: &mut E) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = initialise_episode(env, None, true) {
        return vec![format!("reset failed: {e}")];
    }
    let label = format!("`{}` ({}, {})", rec.name, rec.requestor, rec.kind);
    match env.call_tool(rec.requestor, &rec.name, &rec.arguments) {
        Ok((content, is_error)) => compare_response(&label, &rec.response, rec.error, &content, is_error, &mut problems),
        Err(e) => {
            problems.push(format!("{label}: domain failure: {e}"));
            return problems;
        }
    }
    match hashes(env) {
        Ok((a, u)) => {
            if a != rec.agent_db_hash_after {
                problems.push(format!(
                    "agent DB hash after: expected {}, got {}",
                    show_hash(&rec.agent_db_hash_after),
                    show_hash(&a)
                ));
            }
            if u != rec.user_db_hash_after {
                problems.push(format!(
                    "user DB hash after: expected {}, got {}",
                    show_hash(&rec.user_db_hash_after),
                    show_hash(&u)
                ));
            }
        }
        Err(e) => problems.push(e),
    }
    problems
}

/// Runs every check of one golden domain folder against environments made by `factory`
/// (a fresh one for the tool check, each replay and each probe). `tasks_dir` is the domain's
/// τ² data folder (`tasks.json`, `tasks.v0.2.0.json`). Only missing or malformed golden files
/// abort the run; everything else becomes a failure in the report.
pub fn run_conformance<E, F>(golden_dir: &Path, tasks_dir: &Path, mut factory: F) -> Result<Report, ConformanceError>
where
    E: DomainEnv,
    F: FnMut() -> Result<E, E::Error>,
{
    let golden = GoldenDomain::load(golden_dir)?;
    let mut report = DomainReport { domain: golden.tools.domain.clone(), ..Default::default() };

    match factory() {
        Ok(mut env) => check_tools(&golden, &mut env, &mut report),
        Err(e) => {
            report.record(Category::Tools, "tools".into(), vec![format!("cannot create environment: {e}")]);
            report.record(Category::InitialHashes, "initial hashes".into(), vec![format!("cannot create environment: {e}")]);
        }
    }

    let mut task_sets: HashMap<TaskVersion, Result<TaskSet, String>> = HashMap::new();
    for rec in &golden.replays {
        let id = format!("{}/{}", rec.version, rec.task_id);
        if let Some(err) = &rec.generation_error {
            report.skip(Category::Replays, format!("replay {id}: skipped, reference generation error: {err}"));
            continue;
        }
        let Some(version) = TaskVersion::parse(&rec.version) else {
            report.record(Category::Replays, id, vec![format!("unknown task version `{}`", rec.version)]);
            continue;
        };
        let set = task_sets
            .entry(version)
            .or_insert_with(|| TaskSet::load(tasks_dir, version, None).map_err(|e| e.to_string()));
        let task = match set {
            Ok(s) => match s.get(&rec.task_id) {
                Some(t) => t,
                None => {
                    let msg = format!("task `{}` not found in {}", rec.task_id, s.path.display());
                    report.record(Category::Replays, id, vec![msg]);
                    continue;
                }
            },
            Err(e) => {
                let msg = format!("cannot load tasks: {e}");
                report.record(Category::Replays, id, vec![msg]);
                continue;
            }
        };
        let problems = match factory() {
            Ok(mut env) => check_replay(rec, task, &mut env),
            Err(e) => vec![format!("cannot create environment: {e}")],
        };
        report.record(Category::Replays, id, problems);
    }
    for (v, s) in &task_sets {
        if let Ok(s) = s {
            let expected = v.file_names()[0];
            if s.path.file_name().and_then(|n| n.to_str()) != Some(expected) {
                report.notes.push(format!("{v}: {expected} absent, used {}", s.path.display()));
            }
        }
    }

    for rec in &golden.probes {
        if let Some(err) = &rec.generation_error {
            report.skip(Category::Probes, format!("probe {}: skipped, reference generation error: {err}", rec.id));
            continue;
        }
        let problems = match factory() {
            Ok(mut env) => check_probe(rec, &mut env),
            Err(e) => vec![format!("cannot create environment: {e}")],
        };
        report.record(Category::Probes, rec.id.clone(), problems);
    }
    Ok(Report { domains: vec![report] })
}

/// Runs [`run_conformance`] for every domain folder under `golden_root` that has a matching
/// folder under `data_root` (`<golden_root>/<d>` against `<data_root>/<d>`), in name order.
/// `factory` receives the domain name.
pub fn run_conformance_all<E, F>(golden_root: &Path, data_root: &Path, mut factory: F) -> Result<Report, ConformanceError>
where
    E: DomainEnv,
    F: FnMut(&str) -> Result<E, E::Error>,
{
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(golden_root)
        .map_err(|source| GoldenError::Io { path: golden_root.to_path_buf(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("tools.json").is_file())
        .collect();
    dirs.sort();
    let mut report = Report::default();
    for dir in dirs {
        let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        let r = run_conformance(&dir, &data_root.join(&name), || factory(&name))?;
        report.merge(r);
    }
    Ok(report)
}
