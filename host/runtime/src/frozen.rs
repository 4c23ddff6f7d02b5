//! Frozen domain states: a domain put into some state once, then baked into a new component whose
//! data segments hold that state, so every new instance *starts* in it.
//!
//! A fork of a big state (τ²'s airline DB is ~7 MB of JSON) through `snapshot` → new instance →
//! `restore` costs as much as moving the state (hundreds of ms). A fresh instance costs ~20 µs
//! whatever the size of its memory image, because wasmtime maps the module's initial memory
//! copy-on-write. Freezing uses [wizer](wasmtime_wizer) to turn a state into such an image:
//!
//! 1. wizer instruments the *original* component (an extra export that reads every core
//!    instance's memories and globals);
//! 2. the instrumented component is instantiated in an ordinary store of this component (same
//!    linker, grants, limits, fuel and deadline), and the domain is put into the wanted state
//!    through its own exports (`reset(init)`; an episode's history replayed, `reset` plus its
//!    journal of state-changing calls, checked against the episode's DB hashes; or
//!    `restore(snapshot)`, see [`FreezeMethod`]);
//! 3. wizer reads all memories and globals back and rewrites the original component with them
//!    as data segments / global initialisers;
//! 4. the result is compiled, checked against the domain world with the same import checks as
//!    the original, and linked with the same linker; its [`LoadedComponent`] keeps the original's
//!    manifest, grants and limits and records both hashes ([`FrozenInfo`]).
//!
//! A freeze is refused when the state refers to host resources (a WASI stream the guest opened,
//! e.g. by printing, and keeps a handle to): such handles would dangle in every new instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eigenbox_manifest::{sha256_hex, World};
use wasmtime::component::{Component, ComponentExportIndex, Instance, InstancePre, WasmList};
use wasmtime::Store;
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use crate::bindings::domain::DomainPlugin;
use crate::bindings::{DbSide, EnvCall, EpisodeInit, Requestor};
use crate::component::{check_world, LoadedComponent, ToolKinds};
use crate::domain::JournalEntry;
use crate::error::CallError;
use crate::host::{linker_for, HostState};
use crate::{arm, classify, new_store};

/// Where a frozen component came from.
#[derive(Debug, Clone)]
pub struct FrozenInfo {
    /// The (unfrozen) component that was frozen.
    pub(crate) origin: Arc<LoadedComponent>,
    /// sha256 of the frozen component's bytes (the original's hash stays [`LoadedComponent::sha256`]).
    pub frozen_sha256: String,
    /// Size of the frozen component, bytes.
    pub frozen_bytes: usize,
    /// What the freeze cost.
    pub stats: FreezeStats,
    /// How the state was brought about in the instance that was frozen.
    pub method: FreezeMethod,
    /// How to bring a fresh instance of the original into this state again (absent for a
    /// state restored from a snapshot): a state derived from this one is frozen by replaying
    /// this recipe plus its own journal.
    pub(crate) recipe: Option<Recipe>,
    /// Whether the domain sealed its heap before the freeze (a domain built with the SDK does,
    /// `eigenbox_sdk::heap`): its episodes then allocate above the image and leave the image's
    /// heap unwritten, so a pooled slot with [`crate::InstancePool::reset_dirty_pages_only`]
    /// resets only the few pages an episode wrote.
    pub heap_sealed: bool,
}

/// How a frozen state was brought about before its memory was read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeMethod {
    /// `reset(init)` on a fresh instance ([`LoadedComponent::freeze`](crate::LoadedComponent::freeze)).
    Reset,
    /// The episode's own history replayed on a fresh instance: its `reset(init)` (if any) and
    /// every journaled state-changing call ([`crate::DomainInstance::freeze`]). The result was
    /// checked against the episode's DB hashes.
    Replay {
        /// Journaled calls replayed after the reset.
        calls: usize,
    },
    /// `restore(snapshot)` on a fresh instance: a fresh instance holds the initial state and the
    /// restored one side by side while decoding, so the frozen memory is larger (τ² airline:
    /// ≈ 32 MiB against ≈ 22 MiB replayed).
    Restore,
    /// A checker runtime with its interpreter warmed.
    WarmChecker,
}

/// A replayable way to a state: `reset(init)` (`None`: a fresh instance as it comes), then the
/// journaled calls in order.
#[derive(Debug, Clone)]
pub(crate) struct Recipe {
    pub(crate) init: Option<EpisodeInit>,
    pub(crate) journal: Vec<JournalEntry>,
}

impl FrozenInfo {
    /// sha256 of the original wasm (as in its manifest).
    pub fn original_sha256(&self) -> &str {
        &self.origin.sha256
    }
}

/// Time spent in each step of a freeze.
#[derive(Debug, Clone, Copy, Default)]
pub struct FreezeStats {
    /// Instrumenting the original (wizer) and, the first time only, compiling the instrumented component.
    pub instrument: Duration,
    /// Instantiating and putting the domain into the wanted state (`reset` / `restore`).
    pub setup: Duration,
    /// Reading memories and globals back and writing the new component (wizer).
    pub snapshot: Duration,
    /// Compiling, checking and linking the frozen component.
    pub compile: Duration,
    /// The whole freeze.
    pub total: Duration,
}

/// A frozen domain state: instances made from it ([`crate::DomainInstance::from_frozen`]) start
/// directly in the state it was frozen in. Cheap to share.
pub struct FrozenState {
    pub(crate) loaded: Arc<LoadedComponent>,
    pub(crate) mutating: Option<ToolKinds>,
}

impl std::fmt::Debug for FrozenState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let info = self.info();
        f.debug_struct("FrozenState")
            .field("id", &self.loaded.manifest.id)
            .field("original_sha256", &info.original_sha256())
            .field("frozen_sha256", &info.frozen_sha256)
            .field("frozen_bytes", &info.frozen_bytes)
            .finish()
    }
}

impl FrozenState {
    /// The frozen component (same manifest, grants and limits as the original).
    pub fn component(&self) -> &Arc<LoadedComponent> {
        &self.loaded
    }

    /// Provenance and cost of the freeze.
    pub fn info(&self) -> &FrozenInfo {
        self.loaded.frozen.as_ref().expect("a FrozenState always holds a frozen component")
    }
}

/// How the domain is brought into the state to freeze.
#[derive(Clone, Copy)]
pub(crate) enum Setup<'a> {
    Reset(&'a EpisodeInit),
    Restore(&'a [u8]),
    /// Replay a recipe; the result must have these DB hashes (agent, user), or the freeze
    /// fails with [`CallError::Freeze`].
    Replay(&'a Recipe, &'a [Option<String>; 2]),
    /// A checker runtime: `info()` is called, which warms the interpreter (its builtins), so
    /// every check starts with them built.
    WarmChecker,
}

/// Cached per original component: the compiled, linked instrumented component (instrumentation
/// is deterministic, so it is compiled once and reused by every later freeze).
pub(crate) type InstrumentedPre = InstancePre<HostState>;

fn freeze_err(loaded: &LoadedComponent, what: impl std::fmt::Display) -> CallError {
    CallError::Freeze(format!("`{}`: {what}", loaded.manifest.id))
}

/// Freeze `loaded` (or, for an already frozen component, its origin) in the state `setup` gives.
pub(crate) async fn freeze(loaded: &Arc<LoadedComponent>, setup: Setup<'_>) -> Result<Arc<FrozenState>, CallError> {
    let origin = match &loaded.frozen {
        Some(info) => info.origin.clone(),
        None => loaded.clone(),
    };
    let checker = matches!(setup, Setup::WarmChecker);
    if (origin.world != World::Domain && !checker) || (checker && origin.world != World::CheckerRuntime) {
        return Err(freeze_err(&origin, format!("is a {} component; only domains and checker runtimes can be frozen", origin.world)));
    }
    let wasm = origin.wasm.clone().ok_or_else(|| freeze_err(&origin, "the original wasm bytes are not available"))?;
    let started = Instant::now();
    let mut stats = FreezeStats::default();

    // 1. Instrument (and compile the instrumented component once per origin).
    let t = Instant::now();
    let wizer = Wizer::new();
    let (cx, instrumented) = wizer.instrument_component(&wasm).map_err(|e| freeze_err(&origin, format!("wizer cannot instrument the component: {e:#}")))?;
    let pre = match origin.instrumented.get() {
        Some(pre) => pre.clone(),
        None => {
            let engine = origin.runtime.engine();
            let component = Component::new(engine, &instrumented).map_err(|e| freeze_err(&origin, format!("instrumented component does not compile: {e:#}")))?;
            let linker = linker_for(engine, origin.world, &origin.granted).map_err(|e| freeze_err(&origin, format!("{e:#}")))?;
            let pre = linker.instantiate_pre(&component).map_err(|e| freeze_err(&origin, format!("instrumented component does not link: {e:#}")))?;
            origin.instrumented.get_or_init(|| pre).clone()
        }
    };
    drop(instrumented);
    stats.instrument = t.elapsed();

    // 2. Instantiate under the component's own limits and bring it into the wanted state.
    let t = Instant::now();
    let mut store = new_store(origin.runtime.engine(), &origin);
    arm(&mut store, &origin);
    let instance = pre.instantiate_async(&mut store).await.map_err(|e| classify(e, &store, &origin))?;
    let (mutating, heap_sealed) = if checker {
        let bindings = crate::bindings::checker_runtime::CheckerRuntime::new(&mut store, &instance).map_err(|e| freeze_err(&origin, format!("{e:#}")))?;
        arm(&mut store, &origin);
        bindings.eigenbox_checker_runtime().call_info(&mut store).await.map_err(|e| classify(e, &store, &origin))?;
        (None, false)
    } else {
        let (kinds, sealed) = setup_domain(&origin, &mut store, &instance, setup).await?;
        (Some(kinds), sealed)
    };
    // Handles to host resources (WASI streams, ...) live in the store's resource table, which a
    // snapshot of linear memory cannot carry over: refuse rather than bake in dangling handles.
    if !store.data().table_is_empty() {
        let printed = !store.data().stdout.contents().is_empty() || !store.data().stderr.contents().is_empty();
        return Err(freeze_err(
            &origin,
            format!(
                "the domain holds host resources after setting up the state{}; a frozen state cannot refer to host resources",
                if printed { " (it printed to stdout/stderr, which opens WASI streams the guest keeps)" } else { "" }
            ),
        ));
    }
    stats.setup = t.elapsed();

    // 3. Read every memory and global back; wizer rewrites the original with them.
    let t = Instant::now();
    arm(&mut store, &origin);
    let mut access = Access { store: &mut store, instance, error: None, origin: &origin };
    let snapshot = wizer.snapshot_component(&cx, &mut access).await;
    if let Some(err) = access.error.take() {
        return Err(err);
    }
    let frozen_wasm = snapshot.map_err(|e| freeze_err(&origin, format!("wizer snapshot failed: {e:#}")))?;
    drop(store);
    stats.snapshot = t.elapsed();

    // 4. Compile, check and link the frozen component exactly like a loaded one.
    let t = Instant::now();
    let engine = origin.runtime.engine();
    let component = Component::new(engine, &frozen_wasm).map_err(|e| freeze_err(&origin, format!("frozen component does not compile: {e:#}")))?;
    let (imports, exports) = check_world(engine, &component, &origin.manifest, origin.world).map_err(|e| freeze_err(&origin, format!("frozen component: {e}")))?;
    if imports != origin.imports || exports != origin.exports {
        return Err(freeze_err(&origin, "the frozen component's imports or exports differ from the original's"));
    }
    let linker = linker_for(engine, origin.world, &origin.granted).map_err(|e| freeze_err(&origin, format!("{e:#}")))?;
    let pre = linker.instantiate_pre(&component).map_err(|e| freeze_err(&origin, format!("frozen component does not link: {e:#}")))?;
    stats.compile = t.elapsed();
    stats.total = started.elapsed();

    let (method, recipe) = match setup {
        Setup::Reset(init) => (FreezeMethod::Reset, Some(Recipe { init: Some(init.clone()), journal: Vec::new() })),
        Setup::Replay(r, _) => (FreezeMethod::Replay { calls: r.journal.len() }, Some(r.clone())),
        Setup::Restore(_) => (FreezeMethod::Restore, None),
        Setup::WarmChecker => (FreezeMethod::WarmChecker, None),
    };
    let info = FrozenInfo { origin: origin.clone(), frozen_sha256: sha256_hex(&frozen_wasm), frozen_bytes: frozen_wasm.len(), stats, method, recipe, heap_sealed };
    tracing::debug!(component = %origin.manifest.id, original = %origin.sha256, frozen = %info.frozen_sha256, bytes = info.frozen_bytes, ?stats, "domain state frozen");
    let loaded = LoadedComponent {
        manifest: origin.manifest.clone(),
        granted: origin.granted.clone(),
        sha256: origin.sha256.clone(),
        world: origin.world,
        pre,
        imports,
        exports,
        runtime: origin.runtime.clone(),
        wasm: None,
        frozen: Some(info),
        instrumented: Default::default(),
        // Which tools write was read during the freeze: episodes of the frozen component
        // never need to ask.
        tool_kinds: match &mutating {
            Some(m) => std::sync::OnceLock::from(m.clone()),
            None => std::sync::OnceLock::new(),
        },
    };
    Ok(Arc::new(FrozenState { loaded: Arc::new(loaded), mutating }))
}

/// Bring a domain into the state to freeze, warm it and let it seal its heap; returns which
/// tools write and whether the heap was sealed.
async fn setup_domain(origin: &Arc<LoadedComponent>, store: &mut Store<HostState>, instance: &Instance, setup: Setup<'_>) -> Result<(ToolKinds, bool), CallError> {
    let bindings = DomainPlugin::new(&mut *store, instance).map_err(|e| freeze_err(origin, format!("{e:#}")))?;
    arm(&mut *store, origin);
    let api = bindings.eigenbox_domain_domain();
    let (outcome, expect) = match setup {
        Setup::Reset(init) => (api.call_reset(&mut *store, init).await, None),
        Setup::Restore(bytes) => (api.call_restore(&mut *store, bytes).await, None),
        Setup::Replay(recipe, hashes) => (replay(origin, store, api, recipe).await, Some(hashes)),
        Setup::WarmChecker => return Err(freeze_err(origin, "not a checker runtime")),
    };
    match outcome {
        Err(e) => return Err(classify(e, &*store, origin)),
        Ok(Err(msg)) => return Err(freeze_err(origin, format!("the domain refused the state to freeze: {msg}"))),
        Ok(Ok(())) => {}
    }
    // Warm what a fresh instance would otherwise compute on first use, so every instance made
    // from the frozen state starts with it: the state text (a domain may cache it in memory,
    // as the SDK's tables do per row; `restore` drops such caches; the host hashes
    // `state-json` itself, so the guest's own hash is not warmed) and, host-side, which tools
    // write.
    for (k, side) in [DbSide::Assistant, DbSide::User].into_iter().enumerate() {
        arm(&mut *store, origin);
        let text = api.call_state_json(&mut *store, side).await.map_err(|e| classify(e, &*store, origin))?;
        if let Some(want) = expect {
            let got = text.map(|t| sha256_hex(t.as_bytes()));
            if got != want[k] {
                return Err(freeze_err(
                    origin,
                    format!("replaying the episode did not reproduce its {side:?} DB (hash {got:?}, expected {:?}); the domain is not deterministic", want[k]),
                ));
            }
        }
    }
    arm(&mut *store, origin);
    let tools = api.call_tools(&mut *store).await.map_err(|e| classify(e, &*store, origin))?;
    // Last, right before the memory is read back: let the guest seal its heap (the SDK's
    // reserved environment function; see `eigenbox_sdk::heap`), so every episode of the frozen
    // state allocates above the image and leaves the image's heap unwritten. A domain that
    // does not know the name answers with a tool error, which changes nothing.
    arm(&mut *store, origin);
    let seal = EnvCall { side: DbSide::Assistant, name: SEAL_ENV_FUNCTION.into(), arguments: "{}".into() };
    let sealed = api.call_env_function(&mut *store, &seal).await.map_err(|e| classify(e, &*store, origin))?;
    let sealed = matches!(sealed.as_deref(), Ok("true"));
    tracing::debug!(component = %origin.manifest.id, sealed, "heap sealed before the freeze");
    Ok((ToolKinds::new(tools.iter().map(|t| (matches!(t.requestor, Requestor::User), t.name.as_str(), t.mutates_state))), sealed))
}

/// The environment function a domain built with the SDK answers by sealing its heap
/// (`eigenbox_sdk::heap::SEAL`).
pub(crate) const SEAL_ENV_FUNCTION: &str = "eigenbox:seal";

/// `reset(init)` (if the recipe has one), then every journaled call, as
/// [`crate::DomainInstance`] replays its journal onto a replacement instance: the calls' own
/// results (tool errors included) are not the point, a trap is.
async fn replay(
    origin: &Arc<LoadedComponent>,
    store: &mut Store<HostState>,
    api: &crate::bindings::domain::exports::eigenbox::domain::domain::Guest,
    recipe: &Recipe,
) -> wasmtime::Result<Result<(), String>> {
    if let Some(init) = &recipe.init {
        arm(&mut *store, origin);
        if let Err(msg) = api.call_reset(&mut *store, init).await? {
            return Ok(Err(msg));
        }
    }
    for entry in &recipe.journal {
        arm(&mut *store, origin);
        entry.replay(api, &mut *store).await?;
    }
    Ok(Ok(()))
}

/// wizer's view of the instrumented instance: calls its accessor exports. wizer's trait cannot
/// fail, so a failed call is recorded (and answered with an empty value) and reported afterwards.
struct Access<'a> {
    store: &'a mut Store<HostState>,
    instance: Instance,
    error: Option<CallError>,
    origin: &'a LoadedComponent,
}

impl Access<'_> {
    fn fail(&mut self, err: CallError) {
        self.error.get_or_insert(err);
    }

    fn lookup(&mut self, instance: &str, func: &str) -> Option<ComponentExportIndex> {
        let outer = self.instance.get_export_index(&mut *self.store, None, instance)?;
        self.instance.get_export_index(&mut *self.store, Some(&outer), func)
    }

    async fn call<R>(&mut self, instance: &str, func: &str) -> Option<R>
    where
        R: wasmtime::component::Lift + wasmtime::component::ComponentType + Send + Sync + 'static,
    {
        if self.error.is_some() {
            return None;
        }
        let Some(index) = self.lookup(instance, func) else {
            let err = freeze_err(self.origin, format!("wizer accessor `{instance}#{func}` not found"));
            self.fail(err);
            return None;
        };
        let f = match self.instance.get_typed_func::<(), (R,)>(&mut *self.store, index) {
            Ok(f) => f,
            Err(e) => {
                let err = freeze_err(self.origin, format!("wizer accessor `{func}`: {e:#}"));
                self.fail(err);
                return None;
            }
        };
        match f.call_async(&mut *self.store, ()).await {
            Ok((r,)) => Some(r),
            Err(e) => {
                let err = classify(e, self.store, self.origin);
                self.fail(err);
                None
            }
        }
    }
}

impl ComponentInstanceState for Access<'_> {
    async fn call_func_ret_list_u8(&mut self, instance: &str, func: &str, contents: impl FnOnce(&[u8]) + Send) {
        match self.call::<WasmList<u8>>(instance, func).await {
            Some(list) => contents(list.as_le_slice(&*self.store)),
            None => contents(&[]),
        }
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func).await.unwrap_or(0)
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func).await.unwrap_or(0)
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call::<f32>(instance, func).await.map(f32::to_bits).unwrap_or(0)
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call::<f64>(instance, func).await.map(f64::to_bits).unwrap_or(0)
    }
}
