//! `eigenbox checker run|lint|replay|list|derive`: model-written checkers in the sandboxed Starlark
//! runtime, and checkers derived offline from τ² tasks.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use eigenbox_audit::{AuditConfig, AuditLog, LogKey};
use eigenbox_checker::derive::TERMINATION_KEY;
use eigenbox_checker::{CheckInput, Checker, CheckerLimits, CheckerStore, Outcome};
use eigenbox_runtime::Runtime;
use eigenbox_store::Store;

/// `eigenbox checker ...`
#[derive(Args)]
pub struct CheckerArgs {
    #[command(subcommand)]
    cmd: CheckerCmd,
    /// The interpreter: a packaged plugin's manifest or directory, or a .wasm (default:
    /// `<plugins>/checker-starlark`).
    #[arg(long, global = true)]
    interpreter: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitOpts,
}

#[derive(Args, Clone, Copy)]
struct LimitOpts {
    /// Fuel per check (default: the interpreter manifest's, else 500M).
    #[arg(long, global = true)]
    fuel: Option<u64>,
    /// Deadline per check, ms.
    #[arg(long, global = true)]
    timeout_ms: Option<u64>,
    /// Memory cap, MiB.
    #[arg(long, global = true)]
    memory_mib: Option<u64>,
    /// Cap on reasons + printed output, KiB.
    #[arg(long, global = true)]
    output_kib: Option<u64>,
}

impl LimitOpts {
    fn any(&self) -> bool {
        self.fuel.is_some() || self.timeout_ms.is_some() || self.memory_mib.is_some() || self.output_kib.is_some()
    }
    fn over(&self, base: CheckerLimits) -> CheckerLimits {
        CheckerLimits {
            fuel: self.fuel.unwrap_or(base.fuel),
            timeout_ms: self.timeout_ms.unwrap_or(base.timeout_ms),
            memory_mib: self.memory_mib.unwrap_or(base.memory_mib),
            output_kib: self.output_kib.unwrap_or(base.output_kib),
        }
    }
}

#[derive(Subcommand)]
enum CheckerCmd {
    /// Run a checker on a trajectory; record the verdict (and audit it when `<store>/audit.key` exists).
    Run {
        /// The checker program (Starlark, defining `check(task, trajectory, initial, final)`).
        checker: PathBuf,
        /// The trajectory: a JSON array of messages, or a bundle object
        /// `{"task", "trajectory"|"messages", "initial": {"agent", "user"}, "final": {...}}`.
        trajectory: PathBuf,
        /// The task JSON (replaces the bundle's).
        #[arg(long)]
        task: Option<PathBuf>,
        /// Agent DB before the dialogue (JSON file; replaces the bundle's).
        #[arg(long)]
        initial: Option<PathBuf>,
        /// Agent DB after the dialogue.
        #[arg(long = "final")]
        final_: Option<PathBuf>,
        /// User DB before the dialogue (telecom).
        #[arg(long)]
        initial_user: Option<PathBuf>,
        /// User DB after the dialogue (telecom).
        #[arg(long)]
        final_user: Option<PathBuf>,
        /// Do not store the verdict.
        #[arg(long)]
        no_store: bool,
        /// The episode's τ² termination reason (`user_stop`, `agent_stop`, `max_steps`, ...),
        /// passed to the program as `task["_eigenbox"]["termination_reason"]` (what derived
        /// checkers read; the task must not carry `_eigenbox` already).
        #[arg(long)]
        termination_reason: Option<String>,
        /// Print the full record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Derive a checker program per τ² task from its evaluation criteria (no model): the
    /// expected DB changes (initial → gold through the domain plugin), env assertions, actions
    /// and communicated info. Writes `<out>/<task id>.star` and `<out>/index.json`.
    Derive {
        /// Domain plugin name (mock, airline, retail, telecom).
        domain: String,
        /// Directory to write the programs into.
        #[arg(long)]
        out: PathBuf,
        /// Task set version.
        #[arg(long, default_value = "v1.0")]
        version: String,
        /// Only tasks of this split (e.g. `train`, `test`).
        #[arg(long)]
        split: Option<String>,
        /// Only this task.
        #[arg(long)]
        task: Option<String>,
        /// Lint every derived program in the sandboxed interpreter as well.
        #[arg(long)]
        lint: bool,
    },
    /// Parse, statically check and load a checker without running `check`.
    Lint {
        /// The checker program.
        checker: PathBuf,
    },
    /// Re-run a stored verdict on its stored source and input; exit 1 unless it reproduces.
    Replay {
        /// Verdict id (`chk-000001`).
        id: String,
        /// Print the replay as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List stored verdicts.
    List,
}

impl CheckerArgs {
    /// Whether the command runs domain plugins (`derive`) rather than only checkers.
    pub fn runs_domains(&self) -> bool {
        matches!(self.cmd, CheckerCmd::Derive { .. })
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn load(args: &CheckerArgs, runtime: &Runtime, plugins: &Path) -> Result<Checker> {
    let path = args.interpreter.clone().unwrap_or_else(|| plugins.join("checker-starlark"));
    let path = if path.is_dir() { path.join("eigenbox.toml") } else { path };
    if path.extension().is_some_and(|e| e == "wasm") {
        let wasm = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(Checker::load(runtime, &wasm, args.limits.over(CheckerLimits::default()))?);
    }
    if !path.exists() {
        anyhow::bail!("no checker interpreter at {} (build and package it with scripts/build.sh, or pass --interpreter <wasm>)", path.display());
    }
    let limits = if args.limits.any() {
        let manifest = eigenbox_manifest::Manifest::from_file(&path)?;
        let m = manifest.limits;
        let d = CheckerLimits::default();
        let base = CheckerLimits {
            fuel: m.fuel.unwrap_or(d.fuel),
            timeout_ms: m.timeout_ms.unwrap_or(d.timeout_ms),
            memory_mib: m.memory_mib.unwrap_or(d.memory_mib),
            output_kib: m.output_kib.unwrap_or(d.output_kib),
        };
        Some(args.limits.over(base))
    } else {
        None
    };
    Ok(Checker::load_manifest_file(runtime, &path, limits)?)
}

fn audit_log(store: &Store) -> Result<Option<AuditLog>> {
    let key_path = store.path().join("audit.key");
    if !key_path.exists() {
        return Ok(None);
    }
    let key = LogKey::load(&key_path).with_context(|| format!("loading {}", key_path.display()))?;
    Ok(Some(AuditLog::open(store.db(), Some(key), AuditConfig::default())?))
}

fn print_outcome(outcome: &Outcome) {
    println!("{outcome}");
    if let Some(v) = outcome.verdict() {
        for r in &v.reasons {
            println!("  - {r}");
        }
        if !v.output.is_empty() {
            println!("output:");
            for line in v.output.lines() {
                println!("  | {line}");
            }
        }
    }
}

/// Exit codes: 0 pass, 1 fail, 3 checker error (2 is the host's own error).
fn code(outcome: &Outcome) -> ExitCode {
    match outcome.label() {
        "pass" => ExitCode::SUCCESS,
        "fail" => ExitCode::from(1),
        _ => ExitCode::from(3),
    }
}

/// `task` with `"_eigenbox": {"termination_reason": reason}` added as its first key, the rest of
/// the text kept byte for byte (key order and number forms are visible to programs).
fn with_termination_reason(task: &str, reason: &str) -> Result<String> {
    let parsed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(task).context("--termination-reason needs the task to be a JSON object")?;
    if parsed.contains_key(TERMINATION_KEY) {
        anyhow::bail!("the task already has `{TERMINATION_KEY}`; drop --termination-reason or that key");
    }
    let body = task.trim_start().strip_prefix('{').context("the task is not a JSON object")?;
    let facts = serde_json::json!({ "termination_reason": reason });
    let sep = if parsed.is_empty() { "" } else { ", " };
    Ok(format!("{{{}: {facts}{sep}{}", serde_json::Value::from(TERMINATION_KEY), if parsed.is_empty() { body.trim_start() } else { body }))
}

/// `eigenbox checker derive`.
#[allow(clippy::too_many_arguments)]
fn derive(
    runtime: &Runtime,
    rt: &tokio::runtime::Runtime,
    plugins: &Path,
    domain: &str,
    out: &Path,
    version: &str,
    split: Option<&str>,
    task: Option<&str>,
) -> Result<eigenbox_checker::derive::DeriveSetReport> {
    use eigenbox_checker::derive::{derive_task_set, DomainCtx, WithStateJson};
    use eigenbox_episode::{EnvError, PluginDir, WasmDomainEnv};
    use eigenbox_runtime::DbSide;
    use eigenbox_tau2::{Requestor, TaskSet, TaskVersion};

    let dir = PluginDir::new(plugins);
    let loaded = dir.load_domain(runtime, domain)?;
    let version = TaskVersion::parse(version).with_context(|| format!("unknown task set version `{version}` (use v1.0 or v0.2.0)"))?;
    let mut set = TaskSet::load(&dir.data_dir(domain), version, split)?;
    if let Some(id) = task {
        let one = set.get(id).with_context(|| format!("no task `{id}` in {}", set.path.display()))?.clone();
        set.tasks = vec![one];
    }
    let handle = rt.handle().clone();
    let factory = move || -> Result<_, EnvError> {
        let env = WasmDomainEnv::new(&handle, loaded.clone())?;
        let h = handle.clone();
        Ok(WithStateJson::new(env, move |e: &mut WasmDomainEnv, side: Requestor| {
            let side = if side == Requestor::User { DbSide::User } else { DbSide::Assistant };
            Ok(h.block_on(e.instance().state_json(side))?)
        }))
    };
    let mut ctx = DomainCtx::new(domain, factory);
    let pb = indicatif::ProgressBar::new(set.tasks.len() as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix("derive");
    let report = derive_task_set(&set, &mut ctx, |done, _| pb.set_position(done as u64));
    pb.finish_and_clear();
    report.write_to_dir(out).with_context(|| format!("writing into {}", out.display()))?;
    let index = serde_json::json!({
        "domain": domain,
        "version": version.to_string(),
        "split": split,
        "derive_version": eigenbox_checker::derive::DERIVE_VERSION,
        "checkers": report.checkers.iter().map(|c| serde_json::json!({"task_id": c.task_id, "file": c.file_name(), "summary": c.summary})).collect::<Vec<_>>(),
        "failures": report.failures.iter().map(|(id, e)| serde_json::json!({"task_id": id, "error": e.to_string()})).collect::<Vec<_>>(),
    });
    let index_path = out.join("index.json");
    std::fs::write(&index_path, serde_json::to_string_pretty(&index)?).with_context(|| format!("writing {}", index_path.display()))?;
    Ok(report)
}

/// Run `eigenbox checker ...`.
pub fn run(args: CheckerArgs, runtime: &Runtime, rt: &tokio::runtime::Runtime, plugins: &Path, store: &Store) -> Result<ExitCode> {
    match &args.cmd {
        CheckerCmd::Derive { domain, out, version, split, task, lint } => {
            let report = derive(runtime, rt, plugins, domain, out, version, split.as_deref(), task.as_deref())?;
            for (id, e) in &report.failures {
                println!("task {id}: not derived: {e}");
            }
            let mut lint_failures = 0usize;
            if *lint {
                let c = load(&args, runtime, plugins)?;
                for d in &report.checkers {
                    if let Err(e) = rt.block_on(c.lint(&d.source)) {
                        lint_failures += 1;
                        println!("{}: checker-error: {e}", out.join(d.file_name()).display());
                    }
                }
            }
            println!(
                "{} checker(s) derived into {}, {} task(s) not derived{}",
                report.checkers.len(),
                out.display(),
                report.failures.len(),
                if *lint { format!(", {lint_failures} failed lint") } else { String::new() }
            );
            Ok(if report.failures.is_empty() && lint_failures == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        CheckerCmd::List => {
            let cs = CheckerStore::open(store.db())?;
            for r in cs.list()? {
                println!(
                    "{}  {:<40}  checker {}  input {}  fuel {}",
                    r.id,
                    r.outcome.to_string(),
                    &r.provenance.checker_sha256[..12],
                    &r.provenance.input_sha256[..12],
                    r.stats.fuel
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        CheckerCmd::Lint { checker } => {
            let program = read(checker)?;
            let c = load(&args, runtime, plugins)?;
            match rt.block_on(c.lint(&program)) {
                Ok(report) => {
                    for w in &report.warnings {
                        println!("{}:{w}", checker.display());
                    }
                    println!("ok: {} ({} warning(s)), sha256 {}", checker.display(), report.warnings.len(), report.checker_sha256);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("{}: checker-error: {e}", checker.display());
                    Ok(ExitCode::from(3))
                }
            }
        }
        CheckerCmd::Run { checker, trajectory, task, initial, final_, initial_user, final_user, no_store, termination_reason, json } => {
            let program = read(checker)?;
            let mut input = CheckInput::from_bundle(&read(trajectory)?)?;
            if let Some(p) = task {
                input.task = read(p)?;
            }
            if let Some(reason) = termination_reason {
                input.task = with_termination_reason(&input.task, reason)?;
            }
            for (slot, path) in [
                (&mut input.initial_agent_state, initial),
                (&mut input.final_agent_state, final_),
                (&mut input.initial_user_state, initial_user),
                (&mut input.final_user_state, final_user),
            ] {
                if let Some(p) = path {
                    *slot = Some(read(p)?);
                }
            }
            let c = load(&args, runtime, plugins)?;
            if *no_store {
                let run = rt.block_on(c.check(&program, &input));
                if *json {
                    println!("{}", serde_json::to_string_pretty(&run)?);
                } else {
                    print_outcome(&run.outcome);
                    println!("checker {}  interpreter {}  input {}  fuel {}  {} µs", run.provenance.checker_sha256, run.provenance.interpreter_sha256, run.provenance.input_sha256, run.stats.fuel, run.stats.wall_us);
                }
                return Ok(code(&run.outcome));
            }
            let cs = CheckerStore::open(store.db())?;
            let log = audit_log(store)?;
            let record = rt.block_on(c.record(&cs, log.as_ref(), &program, &input))?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                print_outcome(&record.outcome);
                let p = &record.provenance;
                println!("recorded {}: checker {}  interpreter {}  input {}  fuel {}  {} µs{}", record.id, p.checker_sha256, p.interpreter_sha256, p.input_sha256, record.stats.fuel, record.stats.wall_us, record.audit_seq.map(|s| format!("  audit #{s}")).unwrap_or_default());
            }
            Ok(code(&record.outcome))
        }
        CheckerCmd::Replay { id, json } => {
            let cs = CheckerStore::open(store.db())?;
            let c = load(&args, runtime, plugins)?;
            let r = rt.block_on(c.replay(&cs, id))?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("original: {}", r.original.outcome);
                println!("replayed: {}", r.rerun.outcome);
                println!(
                    "{}: outcome {}, fuel {} ({} vs {}){}",
                    if r.reproduced() { "reproduced" } else { "NOT reproduced" },
                    if r.same_outcome { "identical" } else { "differs" },
                    if r.same_fuel { "identical" } else { "differs" },
                    r.original.stats.fuel,
                    r.rerun.stats.fuel,
                    if r.interpreter_changed { format!("; the interpreter changed ({} → {})", r.original.provenance.interpreter_sha256, r.rerun.provenance.interpreter_sha256) } else { String::new() }
                );
            }
            Ok(if r.reproduced() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_termination_reason;

    #[test]
    fn termination_reason_is_added_keeping_the_task_text() {
        assert_eq!(
            with_termination_reason(r#"  {"id": "7", "n": 1.50}"#, "user_stop").unwrap(),
            r#"{"_eigenbox": {"termination_reason":"user_stop"}, "id": "7", "n": 1.50}"#
        );
        assert_eq!(with_termination_reason("{ }", "max_steps").unwrap(), r#"{"_eigenbox": {"termination_reason":"max_steps"}}"#);
        let err = with_termination_reason(r#"{"_eigenbox": {}}"#, "user_stop").unwrap_err().to_string();
        assert!(err.contains("already has `_eigenbox`"), "{err}");
        assert!(with_termination_reason("[1]", "user_stop").is_err());
    }
}
