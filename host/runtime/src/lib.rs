//! The eigenbox host runtime: loads WebAssembly components, checks them against their WIT
//! world and the operator's grants, and runs them under per-call limits.
//!
//! * **Loading** ([`Runtime::load_manifest_file`]): the manifest is parsed, the wasm's sha256
//!   must match it, every requested capability must be granted (deny by default), the bytes
//!   must be a component that exports the declared world's interface with all its functions and
//!   imports nothing the host does not provide to that world.
//! * **Isolation**: each [`DomainInstance`], [`RoleInstance`] or [`CheckerInstance`] owns its own
//!   wasmtime `Store`, so episodes never share guest state.
//! * **Limits**, per call: fuel, a wall-clock deadline (epoch interruption), a linear-memory cap
//!   with trap-on-grow-failure, instance/table caps, and an output-size cap. Any trap becomes a
//!   typed [`CallError`]; the failed instance is discarded and the next call gets a fresh one
//!   (a domain's state is rolled back to before the failed call).
//! * **Ambient authority**: WASI is linked with no files, no network, no environment variables;
//!   clocks and entropy (`wasi:random/random`) trap with [`CallError::CapabilityDenied`] unless
//!   granted. The *insecure* random interfaces (which std's `HashMap` seeds itself from) return a
//!   fixed seed and byte stream to ungranted components: no entropy, fully deterministic.
//!   Checkers can never be granted anything.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use eigenbox_runtime::{Runtime, RuntimeConfig, DomainInstance, Requestor};
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let mock = runtime.load_manifest_file("dist/plugins/mock/eigenbox.toml".as_ref())?;
//! let mut episode = DomainInstance::new(mock.clone()).await?;
//! let reply = episode.call_tool(Requestor::Assistant, "get_users", "{}").await?;
//! println!("{reply:?}, db hash {:?}", episode.state_hash(eigenbox_runtime::DbSide::Assistant).await?);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

#[allow(missing_docs)]
pub mod bindings;
mod checker;
mod component;
mod domain;
mod error;
mod frozen;
mod host;
mod mediation;
mod role;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eigenbox_manifest::Grants;
use wasmtime::{Config, Engine, Store, Trap};

pub use bindings::{DbSide, DomainInfo, EnvCall, EpisodeInit, Message, MessageRole, Requestor, ToolCall, ToolError, ToolErrorKind, ToolKind, ToolSpec};
pub use checker::{CheckInput, CheckerInstance, FaultKind, InterpreterInstance, ProgramFault, ProgramInput, ProgramVerdict, RuntimeInfo, Verdict};
pub use component::{Inspection, LoadedComponent};
pub use domain::DomainInstance;
pub use eigenbox_manifest as manifest;
pub use error::{CallError, LoadError};
pub use frozen::{FreezeMethod, FreezeStats, FrozenInfo, FrozenState};
pub use host::HostState;
pub use role::{AccessRecord, ChatRequest, ChatResponse, GeneratedToken, LlmBackend, LlmError, RoleInstance, StepInput, StepOutput, TokenAlternative};

/// Host configuration.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The operator's grants. The default grants nothing.
    pub grants: Grants,
    /// Epoch tick: the granularity of wall-clock deadlines.
    pub epoch_tick: Duration,
    /// Maximum wasm stack per call, bytes.
    pub max_wasm_stack: usize,
    /// Pre-allocated instance slots (`None`: memory is mapped per instance).
    pub pool: Option<InstancePool>,
    /// The policy and audit log every capability at load is checked against and recorded in
    /// (`None`: the grants file alone decides, nothing is audited). Role imports use the
    /// episode gate attached to each role ([`RoleInstance::attach_gate`]).
    pub gate: Option<Arc<eigenbox_gate::Gate>>,
    /// A directory for wasmtime's on-disk cache of compiled components (`None`: compile at
    /// every load). Keyed by the wasm's hash and the compiler settings, so a changed component
    /// is compiled afresh. The directory is created owner-only (0700): whoever can write it can
    /// plant native code, so never point it at a shared location.
    pub compile_cache: Option<std::path::PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig { grants: Grants::default(), epoch_tick: Duration::from_millis(5), max_wasm_stack: 1 << 20, pool: None, gate: None, compile_cache: None }
    }
}

/// Creates (owner-only, 0700) or checks the directory for [`RuntimeConfig::compile_cache`] and
/// returns its absolute path. A directory others can write is refused: whoever can write it can
/// plant native code the host would run.
pub fn prepare_compile_cache(dir: &std::path::Path) -> Result<std::path::PathBuf, LoadError> {
    let err = |what: String| LoadError::Config(format!("compile cache {}: {what}", dir.display()));
    let dir = if dir.is_absolute() { dir.to_path_buf() } else { std::env::current_dir().map_err(|e| err(e.to_string()))?.join(dir) };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(|e| err(e.to_string()))?;
        let mode = std::fs::metadata(&dir).map_err(|e| err(e.to_string()))?.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(err(format!("is writable by others (mode {:o}); refusing to load native code from it", mode & 0o777)));
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(&dir).map_err(|e| err(e.to_string()))?;
    Ok(dir)
}

fn compile_cache(dir: &std::path::Path) -> Result<wasmtime::Cache, LoadError> {
    let dir = prepare_compile_cache(dir)?;
    let mut config = wasmtime::CacheConfig::new();
    config.with_directory(&dir);
    wasmtime::Cache::new(config).map_err(|e| LoadError::Config(format!("compile cache {}: {e:#}", dir.display())))
}

/// Pooled instance slots (wasmtime's pooling allocator), for hosts that start many short
/// episodes: a slot's memory is reset in place when its instance is dropped, and up to
/// `keep_resident_bytes` of it stay mapped, so the next episode in that slot does not
/// page-fault its way through the memory image again. A slot's memory is restored to the
/// component's image before reuse: nothing of an earlier episode is visible.
///
/// The reset is paid when the instance is dropped. By default only the pages the instance
/// wrote are copied back ([`reset_dirty_pages_only`](Self::reset_dirty_pages_only)); the
/// others stay as they are, and stay in the CPU's caches for the next episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstancePool {
    /// Component instances alive at once (episodes plus roles and checkers); one more is
    /// refused with [`CallError::Instantiate`].
    pub max_instances: u32,
    /// Largest linear memory of one instance; a component granted more is refused at load.
    pub max_memory_bytes: u64,
    /// Memory per slot kept resident across reuse.
    pub keep_resident_bytes: u64,
    /// Reset only the pages an instance wrote (Linux ≥ 6.7's `PAGEMAP_SCAN`; elsewhere this
    /// falls back to a full reset) instead of memset/memcpy over everything up to
    /// `keep_resident_bytes`.
    ///
    /// Right when an instance's writes stay in a few ranges: wasmtime tracks at most 32
    /// separate written ranges and unmaps the rest of the slot past them, which the next
    /// instance then page-faults back in. A checker touches a few hundred KiB of its 10 MiB
    /// interpreter image. A domain built with the SDK seals its heap when it is frozen
    /// ([`FrozenInfo::heap_sealed`]): its episodes allocate above the image and write no
    /// reference counts inside it, so they write a few ranges too (airline: an episode's
    /// create + drop 6 + 3 µs instead of 28 + 1 300 µs for a full copy of its 28 MiB, and
    /// 25–30 % more tool calls per second with the caches left warm; docs/benchmarks.md). An
    /// unsealed domain episode writes all over its image (allocator holes, shared rows) and is
    /// better served by `false` (airline unsealed: ~30 faults per call, 9k instead of 36k
    /// calls/s). One engine has one setting.
    pub reset_dirty_pages_only: bool,
}

impl InstancePool {
    /// The pool for a runtime that only runs checkers: 64 slots of 512 MiB, dirty pages only.
    pub fn for_checkers() -> InstancePool {
        InstancePool { max_instances: 64, max_memory_bytes: 512 << 20, keep_resident_bytes: 64 << 20, reset_dirty_pages_only: true }
    }

    /// Every slot reset by copying the whole image back (for components that write all over
    /// their image; see [`reset_dirty_pages_only`](Self::reset_dirty_pages_only)).
    pub fn full_reset() -> InstancePool {
        InstancePool { reset_dirty_pages_only: false, ..InstancePool::default() }
    }
}

impl Default for InstancePool {
    /// 64 slots of 1 GiB, 256 MiB kept resident, dirty pages only.
    fn default() -> Self {
        InstancePool { max_instances: 64, max_memory_bytes: 1 << 30, keep_resident_bytes: 256 << 20, reset_dirty_pages_only: true }
    }
}

struct Inner {
    engine: Engine,
    grants: Grants,
    pool: Option<InstancePool>,
    gate: Option<Arc<eigenbox_gate::Gate>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The host: one wasmtime engine, the operator's grants, and the epoch ticker that enforces
/// deadlines. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl Runtime {
    /// Create the engine and start the deadline ticker.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, LoadError> {
        let mut c = Config::new();
        c.wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(config.max_wasm_stack)
            .async_stack_size(config.max_wasm_stack + (1 << 20));
        // `EIGENBOX_PERFMAP=1`: write /tmp/perf-<pid>.map so `perf` names guest functions
        // (for plugin authors profiling their domain).
        if std::env::var_os("EIGENBOX_PERFMAP").is_some_and(|v| v == "1") {
            c.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let Some(dir) = &config.compile_cache {
            c.cache(Some(compile_cache(dir)?));
        }
        if let Some(pool) = &config.pool {
            let n = pool.max_instances.max(1);
            let mut p = wasmtime::PoolingAllocationConfig::default();
            // A Rust wasip2 component has a handful of core instances (the program plus
            // WASI adapter shims), each with at most a memory and a few tables.
            p.total_component_instances(n)
                .total_core_instances(n.saturating_mul(8))
                .total_memories(n.saturating_mul(2))
                .total_tables(n.saturating_mul(8))
                .max_memory_size(usize::try_from(pool.max_memory_bytes).unwrap_or(usize::MAX))
                .linear_memory_keep_resident(usize::try_from(pool.keep_resident_bytes).unwrap_or(usize::MAX))
                .table_keep_resident(1 << 20)
                .pagemap_scan(if pool.reset_dirty_pages_only { wasmtime::Enabled::Auto } else { wasmtime::Enabled::No });
            c.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(p));
        }
        let engine = Engine::new(&c).map_err(|e| LoadError::Config(format!("{e:#}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let tick = config.epoch_tick.max(Duration::from_millis(1));
        {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("eigenbox-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| LoadError::Config(format!("cannot start the epoch thread: {e}")))?;
        }
        Ok(Runtime { inner: Arc::new(Inner { engine, grants: config.grants, pool: config.pool, gate: config.gate, stop }) })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The instance pool, if configured.
    pub fn pool(&self) -> Option<&InstancePool> {
        self.inner.pool.as_ref()
    }

    /// The operator's grants.
    pub fn grants(&self) -> &Grants {
        &self.inner.grants
    }

    /// The policy gate, if the host has one.
    pub fn gate(&self) -> Option<&Arc<eigenbox_gate::Gate>> {
        self.inner.gate.as_ref()
    }
}

/// Resource use of the last call into a guest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Fuel consumed.
    pub fuel: u64,
    /// Wall time.
    pub wall: Duration,
    /// Peak linear memory of the instance so far, bytes.
    pub peak_memory: u64,
}

/// Set the per-call budget on a store.
pub(crate) fn arm(store: &mut Store<HostState>, loaded: &LoadedComponent) {
    let data = store.data_mut();
    data.limiter.hit_memory = false;
    data.denied = None;
    data.call_started = std::time::Instant::now();
    data.host_wait = Duration::ZERO;
    // Fuel is on (consume_fuel) for every store of this engine, so setting it cannot fail.
    let _ = store.set_fuel(loaded.granted.limits.fuel);
    // The deadline callback (see `new_store`) decides at every epoch tick.
    store.set_epoch_deadline(1);
}

/// Turn a failed call's error into a typed [`CallError`].
pub(crate) fn classify(err: wasmtime::Error, store: &Store<HostState>, loaded: &LoadedComponent) -> CallError {
    let limits = &loaded.granted.limits;
    if let Some(d) = store.data().denied.clone() {
        return CallError::CapabilityDenied { component: loaded.manifest.id.clone(), capability: d.capability };
    }
    if store.data().limiter.hit_memory {
        return CallError::OutOfMemory { limit_bytes: limits.memory_bytes };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => return CallError::OutOfFuel { fuel: limits.fuel },
        Some(Trap::Interrupt) => return CallError::Timeout { timeout_ms: limits.timeout_ms },
        Some(Trap::StackOverflow) => return CallError::StackOverflow,
        _ => {}
    }
    let mut message = format!("{err:#}");
    if let Some(t) = err.downcast_ref::<Trap>() {
        message = format!("{t}");
        if *t == Trap::MemoryOutOfBounds {
            message.push_str(" (in Rust and C guests this is often the shadow stack in linear memory overflowing from deep recursion)");
        }
    }
    if message.contains("exceeds the memory limit") || message.contains("forcing trap when growing memory") {
        return CallError::OutOfMemory { limit_bytes: limits.memory_bytes };
    }
    let stderr = store.data().stderr_tail(2048);
    if !stderr.trim().is_empty() {
        message.push_str("; guest stderr: ");
        message.push_str(stderr.trim());
    }
    CallError::Trap { message }
}

/// Reject an oversized string or byte answer.
pub(crate) fn check_output(len: usize, loaded: &LoadedComponent) -> Result<(), CallError> {
    let cap = loaded.granted.limits.output_bytes;
    if len as u64 > cap {
        return Err(CallError::OutputTooLarge { bytes: len as u64, limit_bytes: cap });
    }
    Ok(())
}

/// Create a store for a component with limits and grants applied.
///
/// Deadlines: every epoch tick the running guest reaches the callback below, which traps once
/// the guest's own time in this call (wall time minus time spent waiting on host imports such as
/// LLM requests) exceeds its `timeout_ms`, and otherwise yields to the async executor, so one busy
/// guest never starves the other episodes sharing a worker thread.
pub(crate) fn new_store(runtime: &Engine, loaded: &LoadedComponent) -> Store<HostState> {
    let mut store = Store::new(runtime, HostState::new(&loaded.granted, loaded.world));
    store.limiter(|s| &mut s.limiter);
    let timeout = Duration::from_millis(loaded.granted.limits.timeout_ms);
    store.epoch_deadline_callback(move |ctx| {
        let d = ctx.data();
        let used = d.call_started.elapsed().saturating_sub(d.host_wait);
        Ok(if used >= timeout { wasmtime::UpdateDeadline::Interrupt } else { wasmtime::UpdateDeadline::Yield(1) })
    });
    store
}
