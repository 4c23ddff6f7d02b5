//! `eigenbox`: the command-line host.
//!
//! ```text
//! eigenbox plugin inspect dist/plugins/mock/eigenbox_plugin_mock.wasm
//! eigenbox tools mock
//! eigenbox call mock create_task '{"user_id": "user_1", "title": "Hi"}'
//! eigenbox replay mock
//! eigenbox conformance ../shared/golden
//! ```

mod audit_cmd;
mod checker_cmd;
mod gated;
mod policy_cmd;
mod run_cmd;
mod report_cmd;
mod score_cmd;
mod train_cmd;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use eigenbox_episode::{replay_task, EnvError, PluginDir, WasmDomainEnv};
use eigenbox_manifest::{sha256_hex, Grants, Manifest};
use eigenbox_runtime::{DbSide, DomainInstance, LoadedComponent, Requestor, Runtime, RuntimeConfig};
use eigenbox_store::Store;
use eigenbox_tau2::{TaskSet, TaskVersion};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(name = "eigenbox", version, about = "WebAssembly-sandboxed host for tool-using agent domains, checkers and roles")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Global {
    /// Directory of packaged plugins (`<dir>/<name>/eigenbox.toml`).
    #[arg(long, global = true, env = "EIGENBOX_PLUGINS", default_value = "dist/plugins")]
    plugins: PathBuf,
    /// The operator's grants file (absent file = nothing granted).
    #[arg(long, global = true, env = "EIGENBOX_GRANTS", default_value = "config/grants.toml")]
    grants: PathBuf,
    /// The sled store (component registry, runs).
    #[arg(long, global = true, env = "EIGENBOX_STORE", default_value = ".eigenbox/store")]
    store: PathBuf,
    /// Cache of compiled components (owner-only; a component is compiled once, not at every
    /// command). Default: `$EIGENBOX_CACHE/wasmtime`, else `~/.cache/eigenbox/wasmtime`.
    #[arg(long, global = true, env = "EIGENBOX_COMPILE_CACHE")]
    compile_cache: Option<PathBuf>,
    /// Compile every component at load (no on-disk cache).
    #[arg(long, global = true)]
    no_compile_cache: bool,
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

impl Global {
    /// Where compiled components are cached (`None`: off, or no home directory to put it in).
    /// A directory given with `--compile-cache` must be usable; the default one is skipped,
    /// with a warning, when it is not (a read-only home must not stop every command).
    fn compile_cache(&self) -> Result<Option<PathBuf>> {
        if self.no_compile_cache {
            return Ok(None);
        }
        if let Some(dir) = &self.compile_cache {
            return Ok(Some(eigenbox_runtime::prepare_compile_cache(dir)?));
        }
        let base = std::env::var_os("EIGENBOX_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("eigenbox")));
        let Some(base) = base else { return Ok(None) };
        match eigenbox_runtime::prepare_compile_cache(&base.join("wasmtime")) {
            Ok(dir) => Ok(Some(dir)),
            Err(e) => {
                tracing::warn!("{e}; compiling components at every load");
                Ok(None)
            }
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Work with plugin components.
    #[command(subcommand)]
    Plugin(PluginCmd),
    /// List a domain's tools (OpenAI function format).
    Tools {
        /// Domain plugin name.
        domain: String,
        /// Which tools.
        #[arg(long, value_enum, default_value_t = Side::All)]
        requestor: Side,
    },
    /// Call one tool of a domain on a fresh episode and print the tool message.
    Call {
        /// Domain plugin name.
        domain: String,
        /// Tool name.
        tool: String,
        /// Arguments, a JSON object.
        #[arg(default_value = "{}")]
        arguments: String,
        /// Who calls.
        #[arg(long, value_enum, default_value_t = Who::Assistant)]
        requestor: Who,
        /// Start from this task's initial state instead of the domain's.
        #[arg(long)]
        task: Option<String>,
        /// Task set version for --task.
        #[arg(long, default_value = "v1.0")]
        version: String,
        #[command(flatten)]
        policy: gated::PolicyOpts,
    },
    /// List a domain's tasks.
    Tasks {
        /// Domain plugin name.
        domain: String,
        /// Only this split (e.g. train, test, base).
        #[arg(long)]
        split: Option<String>,
        /// Task set version (v1.0 = tasks.json, v0.2.0 = tasks.v0.2.0.json).
        #[arg(long, default_value = "v1.0")]
        version: String,
        /// Task data directory (default: the plugin's data/).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Replay tasks' reference actions in the domain and check the final DB hashes.
    Replay {
        /// Domain plugin name.
        domain: String,
        /// Only this task (default: all tasks of the version).
        #[arg(long)]
        task: Option<String>,
        /// Task set version.
        #[arg(long, default_value = "v1.0")]
        version: String,
        /// Expected hashes: a golden `replays.jsonl` (default: the plugin's data/golden/replays.jsonl plus data/recorded/replays.jsonl).
        #[arg(long)]
        expected: Option<PathBuf>,
    },
    /// Check domains against golden vectors (a directory of `<domain>/{tools.json,replays.jsonl,probes.jsonl,evals.jsonl}`).
    Conformance {
        /// The golden directory.
        dir: PathBuf,
        /// Task data root (`<data>/<domain>/tasks.json`); default: each plugin's data/.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Only this domain.
        #[arg(long)]
        domain: Option<String>,
    },
    /// List recorded runs.
    Runs,
    /// Check policy files (Cedar) against eigenbox's schema.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCmd),
    /// The tamper-evident audit log: show, export, verify, prove, consistency, pubkey.
    Audit(audit_cmd::AuditArgs),
    /// Run τ² episodes (LLM agent ↔ user-simulator role ↔ domain), score them, store and export the results; a re-run resumes.
    Run(Box<run_cmd::RunArgs>),
    /// Re-score the episodes of an `eigenbox run` results file with this build's evaluator.
    Score(score_cmd::ScoreArgs),
    /// Write an HTML report of an `eigenbox run` results file (pass^k curve, failure breakdown, per-task trials).
    Report(report_cmd::ReportArgs),
    /// Model-written checkers in the sandboxed Starlark runtime: run, lint, replay, list.
    Checker(checker_cmd::CheckerArgs),
    /// Train the embedded model: `sft` on dialogues, `grpo` on τ² episodes of a domain (checkpoints, metrics and a store under --out).
    Train(train_cmd::TrainArgs),
}

#[derive(Subcommand)]
enum PluginCmd {
    /// Show a component's world, imports, exports, manifest, hash, and requested vs granted capabilities.
    Inspect {
        /// A .wasm file, a manifest (.toml), or a plugin directory.
        path: PathBuf,
        /// The manifest, if not next to the wasm as eigenbox.toml.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Package a built component: copy the wasm, fill in its sha256, copy the manifest's data/.
    Package {
        /// The built .wasm.
        wasm: PathBuf,
        /// The plugin's manifest template.
        #[arg(long)]
        manifest: PathBuf,
        /// Output plugin directory root (creates `<out>/<name>/`).
        #[arg(long, default_value = "dist/plugins")]
        out: PathBuf,
    },
    /// Components registered in the store.
    List,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Side {
    Assistant,
    User,
    All,
}

#[derive(Clone, Copy, ValueEnum)]
enum Who {
    Assistant,
    User,
}

impl From<Who> for Requestor {
    fn from(w: Who) -> Requestor {
        match w {
            Who::Assistant => Requestor::Assistant,
            Who::User => Requestor::User,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = match cli.global.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

struct Host {
    rt: tokio::runtime::Runtime,
    runtime: Runtime,
    plugins: PluginDir,
    store: Store,
}

impl Host {
    fn new(g: &Global) -> Result<Host> {
        Host::with_pool(g, eigenbox_runtime::InstancePool { max_instances: 256, ..Default::default() })
    }

    /// A host whose instance slots are `pool` (checkers: `InstancePool::for_checkers`).
    fn with_pool(g: &Global, pool: eigenbox_runtime::InstancePool) -> Result<Host> {
        let grants = load_grants(&g.grants, &g.plugins)?;
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
        // Pooled instance slots make the many short episodes of replays and runs cheap; fall
        // back to per-instance memory where the pool's address space cannot be reserved.
        let compile_cache = g.compile_cache()?;
        let runtime = match Runtime::new(RuntimeConfig { grants: grants.clone(), pool: Some(pool), compile_cache: compile_cache.clone(), ..RuntimeConfig::default() }) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("instance pool unavailable ({e}); using per-instance memory");
                Runtime::new(RuntimeConfig { grants, compile_cache, ..RuntimeConfig::default() })?
            }
        };
        if let Some(parent) = g.store.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let store = Store::open(&g.store)?;
        Ok(Host { rt, runtime, plugins: PluginDir::new(&g.plugins), store })
    }

    fn domain(&self, name: &str) -> Result<Arc<LoadedComponent>> {
        let loaded = self.plugins.load_domain(&self.runtime, name)?;
        self.register(&loaded)?;
        Ok(loaded)
    }

    /// The domain frozen in its initial state: every episode then starts from a copy of that
    /// state (tens of µs) with a sealed heap, which the pool's dirty-page reset needs to be fast
    /// (an unsealed episode writes all over its memory). For commands that start many episodes.
    /// A domain that cannot be frozen (it keeps a host resource, or its state does not survive
    /// the round trip) runs unfrozen, with a warning: slower, but the same answers.
    fn frozen_domain(&self, name: &str) -> Result<Arc<LoadedComponent>> {
        let loaded = self.domain(name)?;
        let init = eigenbox_runtime::EpisodeInit { agent_data: None, user_data: None, actions: Vec::new() };
        match self.rt.block_on(loaded.freeze(init)) {
            Ok(frozen) => Ok(frozen.component().clone()),
            Err(e) => {
                tracing::warn!(domain = name, "cannot freeze the initial state ({e}); running unfrozen");
                eprintln!("note: cannot freeze the initial state of `{name}` ({e}); running it unfrozen (slower)");
                Ok(loaded)
            }
        }
    }

    fn register(&self, loaded: &LoadedComponent) -> Result<()> {
        if let Some(bytes) = loaded.wasm_bytes() {
            self.store.register(loaded.manifest(), bytes)?;
        }
        Ok(())
    }
}

/// The grants file decides; a missing file grants nothing; one inside the plugin directory is refused.
fn load_grants(path: &Path, plugins: &Path) -> Result<Grants> {
    if !path.exists() {
        tracing::info!(path = %path.display(), "no grants file: nothing is granted");
    }
    Ok(Grants::load_for_host(path, plugins)?)
}

fn parse_version(v: &str) -> Result<TaskVersion> {
    TaskVersion::parse(v).with_context(|| format!("unknown task set version `{v}` (use v1.0 or v0.2.0)"))
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_string());
    pb
}

fn run(cli: Cli) -> Result<ExitCode> {
    let g = &cli.global;
    match cli.cmd {
        Cmd::Checker(args) => {
            // Checks write little of the interpreter's large image: slots reset only the pages
            // a check wrote. `derive` runs domains, which rewrite megabytes: the default pool.
            let host = if args.runs_domains() { Host::new(g)? } else { Host::with_pool(g, eigenbox_runtime::InstancePool::for_checkers())? };
            checker_cmd::run(args, &host.runtime, &host.rt, &g.plugins, &host.store)
        }
        Cmd::Plugin(PluginCmd::Package { wasm, manifest, out }) => package(&wasm, &manifest, &out),
        Cmd::Plugin(PluginCmd::Inspect { path, manifest }) => inspect(g, &path, manifest.as_deref()),
        Cmd::Plugin(PluginCmd::List) => {
            let store = Store::open(&g.store)?;
            for c in store.components()? {
                println!("{}  {} {}  {} bytes  first seen {}", c.sha256, c.id, c.version, c.size, c.first_seen);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Tools { domain, requestor } => {
            let host = Host::new(g)?;
            let loaded = host.domain(&domain)?;
            let tools = host.rt.block_on(async {
                let mut d = DomainInstance::new(loaded).await?;
                d.tools().await
            })?;
            let render = |want: Requestor| -> Vec<Value> {
                tools
                    .iter()
                    .filter(|t| t.requestor == want)
                    .map(|t| {
                        let params: Value = serde_json::from_str(&t.parameters).unwrap_or(Value::String(t.parameters.clone()));
                        json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": params}})
                    })
                    .collect()
            };
            let out = match requestor {
                Side::Assistant => json!(render(Requestor::Assistant)),
                Side::User => json!(render(Requestor::User)),
                Side::All => json!({"domain": domain, "agent_tools": render(Requestor::Assistant), "user_tools": render(Requestor::User)}),
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Call { domain, tool, arguments, requestor, task, version, policy } => {
            let host = Host::new(g)?;
            let loaded = host.domain(&domain)?;
            let gate = gated::gate(&policy, &host.store)?;
            let mut env = WasmDomainEnv::new(host.rt.handle(), loaded)?;
            if let Some(task_id) = task {
                let set = TaskSet::load(&host.plugins.data_dir(&domain), parse_version(&version)?, None)?;
                let task = set.get(&task_id).with_context(|| format!("no task `{task_id}` in {}", set.path.display()))?;
                eigenbox_tau2::initialise_episode(&mut env, Some(task), true).map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            let (text, error) = match &gate {
                Some(gate) => {
                    let (assistant, user) = gated::actors();
                    let episode = gated::episode(gate, &policy, None, format!("call-{}", std::process::id()));
                    let mut gated_env = eigenbox_episode::GatedEnv::new(env, episode, &domain, assistant, user);
                    let args: Value = serde_json::from_str(&arguments).with_context(|| format!("arguments are not JSON: {arguments}"))?;
                    let who = match requestor {
                        Who::User => eigenbox_tau2::Requestor::User,
                        Who::Assistant => eigenbox_tau2::Requestor::Assistant,
                    };
                    let r = eigenbox_tau2::DomainEnv::call_tool(&mut gated_env, who, &tool, &args)?;
                    gate.commit()?;
                    env = gated_env.into_inner();
                    r
                }
                None => match host.rt.block_on(env.instance().call_tool(requestor.into(), &tool, &arguments))? {
                    Ok(t) => (t, false),
                    Err(e) => (format!("Error: {}", e.message), true),
                },
            };
            let agent = host.rt.block_on(env.instance().state_hash(DbSide::Assistant))?;
            let user = host.rt.block_on(env.instance().state_hash(DbSide::User))?;
            println!("{text}");
            eprintln!("error: {error}  agent db: {}  user db: {}", agent.as_deref().unwrap_or("-"), user.as_deref().unwrap_or("-"));
            Ok(if error { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Cmd::Tasks { domain, split, version, data } => {
            let dir = data.unwrap_or_else(|| PluginDir::new(&g.plugins).data_dir(&domain));
            let set = TaskSet::load(&dir, parse_version(&version)?, split.as_deref())?;
            for t in &set.tasks {
                let n = t.evaluation_criteria.get().and_then(|c| c.actions.get()).map(|a| a.len()).unwrap_or(0);
                println!("{}\t{} reference action(s)", t.id, n);
            }
            eprintln!("{} task(s) from {}{}", set.tasks.len(), set.path.display(), split.map(|s| format!(", split `{s}`")).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Replay { domain, task, version, expected } => replay(g, &domain, task.as_deref(), &version, expected),
        Cmd::Conformance { dir, data, domain } => conformance(g, &dir, data.as_deref(), domain.as_deref()),
        Cmd::Policy(cmd) => policy_cmd::run(cmd),
        Cmd::Audit(args) => audit_cmd::run(args, &g.store),
        Cmd::Run(args) => run_cmd::run(g, *args),
        Cmd::Score(args) => score_cmd::run(g, args),
        Cmd::Report(args) => report_cmd::run(args),
        Cmd::Train(args) => train_cmd::run(g, args),
        Cmd::Runs => {
            let store = Store::open(&g.store)?;
            for r in store.runs()? {
                println!("{}  {:<12} {:<8} {}  {}", r.id, r.kind, r.status, r.params, r.summary);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn package(wasm: &Path, manifest_path: &Path, out: &Path) -> Result<ExitCode> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let text = std::fs::read_to_string(manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    // The template may carry an empty or stale sha256; fill it in, then validate as a whole.
    let mut value: toml::Table = text.parse().with_context(|| format!("parsing {}", manifest_path.display()))?;
    value.insert("sha256".into(), toml::Value::String(sha256_hex(&bytes)));
    let file_name = wasm.file_name().and_then(|n| n.to_str()).context("wasm path has no file name")?.to_string();
    value.insert("wasm".into(), toml::Value::String(file_name.clone()));
    let manifest = Manifest::from_toml_str(&toml::to_string(&value)?)?;
    let dir = out.join(manifest.short_name());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(&file_name), &bytes)?;
    std::fs::write(dir.join("eigenbox.toml"), manifest.to_toml_string())?;
    let data = manifest_path.parent().unwrap_or(Path::new(".")).join("data");
    if data.is_dir() {
        copy_dir(&data, &dir.join("data"))?;
    }
    println!("{} {} -> {} (sha256 {})", manifest.id, manifest.version, dir.display(), manifest.sha256);
    Ok(ExitCode::SUCCESS)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn inspect(g: &Global, path: &Path, manifest: Option<&Path>) -> Result<ExitCode> {
    let manifest_path = match manifest {
        Some(m) => m.to_path_buf(),
        None if path.is_dir() => path.join("eigenbox.toml"),
        None if path.extension().is_some_and(|e| e == "toml") => path.to_path_buf(),
        None => path.parent().unwrap_or(Path::new(".")).join("eigenbox.toml"),
    };
    let m = Manifest::from_file(&manifest_path)?;
    let wasm_path = if path.extension().is_some_and(|e| e == "wasm") { path.to_path_buf() } else { manifest_path.parent().unwrap_or(Path::new(".")).join(&m.wasm) };
    let bytes = std::fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    let grants = load_grants(&g.grants, &g.plugins)?;
    let runtime = Runtime::new(RuntimeConfig { grants, ..RuntimeConfig::default() })?;
    let loaded = runtime.load(m, &bytes)?;
    let i = loaded.inspect();
    println!("component  {} {}", i.id, i.version);
    println!("file       {} ({} bytes)", wasm_path.display(), bytes.len());
    println!("sha256     {} (matches manifest)", i.sha256);
    println!("world      {}", i.world);
    println!("imports    {}", i.imports.join("\n           "));
    println!("exports    {}", i.exports.join("\n           "));
    println!("requested  {}", serde_json::to_string(&i.requested)?);
    println!("granted    {}", serde_json::to_string(&i.granted.capabilities)?);
    let l = &i.granted.limits;
    println!(
        "limits     fuel {} · memory {} MiB · timeout {} ms · output {} KiB · instances {} · tables {} × {} elements",
        l.fuel,
        l.memory_bytes / (1024 * 1024),
        l.timeout_ms,
        l.output_bytes / 1024,
        l.instances,
        l.tables,
        l.table_elements
    );
    Ok(ExitCode::SUCCESS)
}

fn replay(g: &Global, domain: &str, task: Option<&str>, version: &str, expected: Option<PathBuf>) -> Result<ExitCode> {
    let host = Host::new(g)?;
    let loaded = host.frozen_domain(domain)?;
    let version = parse_version(version)?;
    let set = TaskSet::load(&host.plugins.data_dir(domain), version, None)?;
    let tasks: Vec<_> = match task {
        Some(id) => vec![set.get(id).with_context(|| format!("no task `{id}` in {}", set.path.display()))?.clone()],
        None => set.tasks.clone(),
    };
    // Expected hashes: the file given, else the plugin's public golden replays plus the ones
    // recorded from the reference for the tasks the public set leaves out (`data/recorded`).
    let expected_paths = match expected {
        Some(p) if !p.is_file() => bail!("--expected {}: no such file", p.display()),
        Some(p) => vec![p],
        None => ["golden", "recorded"].iter().map(|d| host.plugins.data_dir(domain).join(d).join("replays.jsonl")).collect(),
    };
    let mut golden = Vec::new();
    for p in expected_paths.iter().filter(|p| p.is_file()) {
        golden.extend(eigenbox_tau2::read_replays(p)?);
    }
    let run = host.store.create_run("replay", json!({"domain": domain, "version": version.to_string(), "task": task, "component": loaded.sha256()}))?;
    let pb = progress(tasks.len() as u64, "replay");
    let (mut matched, mut mismatched, mut unknown) = (0, 0, 0);
    let mut lines = Vec::new();
    for t in &tasks {
        pb.set_message(t.id.clone());
        let outcome = replay_task(host.rt.handle(), loaded.clone(), t)?;
        let want = golden.iter().find(|r| r.task_id == t.id && r.version == version.to_string());
        let got = outcome.final_agent_hash.clone().unwrap_or_default();
        let verdict = match want.and_then(|w| w.final_agent_db_hash.clone()) {
            Some(w) if w == got && want.and_then(|w| w.final_user_db_hash.clone()) == outcome.final_user_hash => {
                matched += 1;
                "matches expected".to_string()
            }
            Some(w) => {
                mismatched += 1;
                format!("MISMATCH (expected {w})")
            }
            None => {
                unknown += 1;
                "no expected hash".to_string()
            }
        };
        lines.push(format!("{:<48} {} call(s)  final agent db {}  {}", t.id, outcome.calls.len(), got, verdict));
        pb.inc(1);
    }
    pb.finish_and_clear();
    for l in &lines {
        println!("{l}");
    }
    println!("{matched} matched, {mismatched} mismatched, {unknown} without an expected hash ({} task(s), domain {domain} {version})", tasks.len());
    let ok = mismatched == 0;
    host.store.finish_run(&run, if ok { "ok" } else { "failed" }, json!({"matched": matched, "mismatched": mismatched, "unknown": unknown}))?;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn conformance(g: &Global, dir: &Path, data: Option<&Path>, only: Option<&str>) -> Result<ExitCode> {
    let host = Host::new(g)?;
    let mut domains: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("tools.json").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| only.is_none_or(|o| o == n))
        .collect();
    domains.sort();
    if domains.is_empty() {
        bail!("no domain folders with tools.json under {}", dir.display());
    }
    let run = host.store.create_run("conformance", json!({"dir": dir.display().to_string(), "domains": domains}))?;
    let pb = progress(domains.len() as u64, "conformance");
    let mut report = eigenbox_tau2::Report::default();
    for d in &domains {
        pb.set_message(d.clone());
        let loaded: Result<Arc<LoadedComponent>, String> = host.frozen_domain(d).map_err(|e| format!("{e:#}"));
        let tasks_dir = data.map(|p| p.join(d)).unwrap_or_else(|| host.plugins.data_dir(d));
        let handle = host.rt.handle().clone();
        let factory = || -> Result<WasmDomainEnv, EnvError> {
            let l = loaded.clone().map_err(EnvError::Domain)?;
            Ok(WasmDomainEnv::new(&handle, l)?)
        };
        let mut r = eigenbox_tau2::run_conformance(&dir.join(d), &tasks_dir, factory)?;
        // The `evals` category: the evaluator against `evals.jsonl`, where present.
        if let Some(domain_report) = r.domains.last_mut() {
            eigenbox_eval::check_evals(&dir.join(d), &tasks_dir, factory, domain_report)?;
        }
        report.merge(r);
        pb.inc(1);
    }
    pb.finish_and_clear();
    println!("{report}");
    let (passed, failed) = (report.passed(), report.failed());
    host.store.finish_run(&run, if failed == 0 { "ok" } else { "failed" }, json!({"passed": passed, "failed": failed}))?;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

