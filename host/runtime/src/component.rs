//! Loading a component: manifest → hash → grants → compile → world check → linker.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use eigenbox_manifest::{decide, sha256_hex, Granted, Manifest, World};
use serde::Serialize;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre};

use crate::bindings::EpisodeInit;
use crate::error::{CallError, LoadError};
use crate::frozen::{FrozenInfo, FrozenState, InstrumentedPre, Setup};
use crate::host::{import_supported, linker_for, HostState};
use crate::Runtime;

/// Functions each world's export interface must have.
fn required_exports(world: World) -> &'static [&'static str] {
    match world {
        World::Domain => &["info", "tools", "reset", "call-tool", "env-function", "state-json", "state-hash", "snapshot", "restore"],
        World::Checker => &["check"],
        World::Role => &["step"],
        World::CheckerRuntime => &["lint", "check", "info"],
    }
}

/// A compiled, validated component with its grants, ready to instantiate many times.
pub struct LoadedComponent {
    pub(crate) manifest: Manifest,
    pub(crate) granted: Granted,
    pub(crate) sha256: String,
    pub(crate) world: World,
    pub(crate) pre: InstancePre<HostState>,
    pub(crate) imports: Vec<String>,
    pub(crate) exports: Vec<String>,
    pub(crate) runtime: Runtime,
    /// The original wasm bytes (kept to freeze states from); `None` for a frozen component.
    pub(crate) wasm: Option<Arc<[u8]>>,
    /// Set on a frozen component: where it came from.
    pub(crate) frozen: Option<FrozenInfo>,
    /// The wizer-instrumented original, compiled and linked on the first freeze.
    pub(crate) instrumented: OnceLock<InstrumentedPre>,
    /// Which tools mutate state, learnt from the first `tools()` of any instance (a
    /// component's tool list is fixed), so new episodes don't ask again.
    pub(crate) tool_kinds: OnceLock<ToolKinds>,
}

/// Which of a domain's tools change state, per side: shared by every episode of a component
/// (cloning is a reference count) and looked up by `&str`, so a tool call allocates nothing
/// to ask.
#[derive(Clone, Debug, Default)]
pub(crate) struct ToolKinds(Arc<[std::collections::HashMap<String, bool>; 2]>);

impl ToolKinds {
    /// From `(is a user tool, name, mutates state)` triples; a repeated name keeps the last.
    pub(crate) fn new<'a>(tools: impl IntoIterator<Item = (bool, &'a str, bool)>) -> ToolKinds {
        let mut sides: [std::collections::HashMap<String, bool>; 2] = Default::default();
        for (user, name, mutates) in tools {
            sides[usize::from(user)].insert(name.to_string(), mutates);
        }
        ToolKinds(Arc::new(sides))
    }

    /// Whether `name` changes state on that side; `None` if there is no such tool.
    pub(crate) fn get(&self, user: bool, name: &str) -> Option<bool> {
        self.0[usize::from(user)].get(name).copied()
    }
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("LoadedComponent");
        d.field("id", &self.manifest.id).field("sha256", &self.sha256);
        if let Some(info) = &self.frozen {
            d.field("frozen_sha256", &info.frozen_sha256);
        }
        d.finish()
    }
}

/// What `eigenbox plugin inspect` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// Component id.
    pub id: String,
    /// Version.
    pub version: String,
    /// The world it implements.
    pub world: String,
    /// sha256 of the wasm.
    pub sha256: String,
    /// Imports, by name.
    pub imports: Vec<String>,
    /// Exports, by name (interface functions as `interface#func`).
    pub exports: Vec<String>,
    /// Capabilities the manifest requests.
    pub requested: eigenbox_manifest::Capabilities,
    /// What it runs with after the operator's grants.
    pub granted: Granted,
}

impl LoadedComponent {
    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// What the operator granted.
    pub fn granted(&self) -> &Granted {
        &self.granted
    }
    /// sha256 of the wasm bytes (for a frozen component: of the original's, as in its manifest;
    /// The wasm bytes this component was loaded from (`None` for a frozen component, whose
    /// provenance is in [`LoadedComponent::frozen`]).
    pub fn wasm_bytes(&self) -> Option<&[u8]> {
        self.wasm.as_deref()
    }
    /// the frozen bytes' hash is in [`LoadedComponent::frozen`]).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
    /// For a frozen component ([`LoadedComponent::freeze`]): its provenance; `None` otherwise.
    pub fn frozen(&self) -> Option<&FrozenInfo> {
        self.frozen.as_ref()
    }
    /// Whether fresh instances of this component start in a frozen state rather than the
    /// domain's initial one.
    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }
    /// Freeze the domain in the state `reset(init)` gives: instances made from the result
    /// ([`crate::DomainInstance::from_frozen`]) start in that state without running anything.
    /// The setup runs under this component's limits; the frozen component keeps its manifest,
    /// grants and limits. Freezing an already frozen component starts from its original.
    pub async fn freeze(self: &Arc<Self>, init: EpisodeInit) -> Result<Arc<FrozenState>, CallError> {
        crate::frozen::freeze(self, Setup::Reset(&init)).await
    }
    /// Freeze the domain in the state `restore(snapshot)` gives (see [`LoadedComponent::freeze`]).
    pub async fn freeze_snapshot(self: &Arc<Self>, snapshot: &[u8]) -> Result<Arc<FrozenState>, CallError> {
        crate::frozen::freeze(self, Setup::Restore(snapshot)).await
    }
    /// The same compiled component under other limits, without compiling it again (a checker
    /// host runs one interpreter under per-run limits). The limits are decided against the
    /// operator's grants exactly as at load; capabilities are unchanged.
    pub fn with_limits(&self, limits: eigenbox_manifest::Limits) -> Result<Arc<LoadedComponent>, LoadError> {
        let mut manifest = self.manifest.clone();
        manifest.limits = limits;
        let granted = decide(&manifest, self.runtime.grants())?;
        if let Some(pool) = self.runtime.pool() {
            if granted.limits.memory_bytes > pool.max_memory_bytes {
                return Err(LoadError::Uninstantiable {
                    component: manifest.id.clone(),
                    message: format!("{} MiB of memory asked, the instance pool slots hold {} MiB", granted.limits.memory_bytes >> 20, pool.max_memory_bytes >> 20),
                });
            }
        }
        Ok(Arc::new(LoadedComponent {
            manifest,
            granted,
            sha256: self.sha256.clone(),
            world: self.world,
            pre: self.pre.clone(),
            imports: self.imports.clone(),
            exports: self.exports.clone(),
            runtime: self.runtime.clone(),
            wasm: self.wasm.clone(),
            frozen: self.frozen.clone(),
            instrumented: OnceLock::new(),
            tool_kinds: OnceLock::new(),
        }))
    }
    /// The runtime (engine, grants) this component was loaded into.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }
    /// Freeze a checker runtime after it has built its interpreter state (its `info()` warms
    /// it): checks on the result start with the builtins already in memory, instead of building
    /// them in every fresh instance. Same manifest, grants, limits and original sha256.
    pub async fn freeze_checker(self: &Arc<Self>) -> Result<Arc<FrozenState>, CallError> {
        crate::frozen::freeze(self, Setup::WarmChecker).await
    }
    /// The world.
    pub fn world(&self) -> World {
        self.world
    }
    /// Component id.
    pub fn id(&self) -> &str {
        &self.manifest.id
    }
    /// Summary for display.
    pub fn inspect(&self) -> Inspection {
        Inspection {
            id: self.manifest.id.clone(),
            version: self.manifest.version.to_string(),
            world: self.world.wit_name().to_string(),
            sha256: self.sha256.clone(),
            imports: self.imports.clone(),
            exports: self.exports.clone(),
            requested: self.manifest.capabilities.clone(),
            granted: self.granted.clone(),
        }
    }
}

impl Runtime {
    /// Load a component from its manifest file; the wasm path is relative to the manifest.
    pub fn load_manifest_file(&self, manifest_path: &Path) -> Result<Arc<LoadedComponent>, LoadError> {
        let manifest = Manifest::from_file(manifest_path)?;
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        let wasm_path = dir.join(&manifest.wasm);
        let bytes = std::fs::read(&wasm_path).map_err(|source| LoadError::Io { path: wasm_path.clone(), source })?;
        self.load(manifest, &bytes)
    }

    /// Load a component from a manifest and wasm bytes.
    pub fn load(&self, manifest: Manifest, wasm: &[u8]) -> Result<Arc<LoadedComponent>, LoadError> {
        manifest.validate()?;
        manifest.verify_hash(wasm)?;
        let world = manifest.world();
        if world.is_checker() && !manifest.capabilities.is_empty() {
            return Err(LoadError::Manifest(eigenbox_manifest::ManifestError::Refused {
                component: manifest.id.clone(),
                denials: vec![eigenbox_manifest::Denial {
                    capability: "capabilities".into(),
                    reason: "are requested, but the checker world admits none (checkers are pure functions)".into(),
                }],
            }));
        }
        let granted = decide(&manifest, self.grants())?;
        if let Some(pool) = self.pool() {
            if granted.limits.memory_bytes > pool.max_memory_bytes {
                return Err(LoadError::Uninstantiable {
                    component: manifest.id.clone(),
                    message: format!(
                        "it is granted {} MiB of memory but the host's instance pool slots hold {} MiB; lower `limits.memory_mib` or enlarge the pool",
                        granted.limits.memory_bytes >> 20,
                        pool.max_memory_bytes >> 20
                    ),
                });
            }
        }
        let sha256 = sha256_hex(wasm);
        crate::mediation::check_load(self, &manifest, &sha256)?;
        let component = compile(self.engine(), &manifest.id, wasm)?;
        let (imports, exports) = check_world(self.engine(), &component, &manifest, world)?;
        let linker = linker_for(self.engine(), world, &granted).map_err(|e| LoadError::Config(format!("{e:#}")))?;
        let mismatch = |e: wasmtime::Error| LoadError::WorldMismatch {
            component: manifest.id.clone(),
            world: world.wit_name().into(),
            detail: link_mismatch_detail(world, &format!("{e:#}")),
        };
        let pre = linker.instantiate_pre(&component).map_err(mismatch)?;
        let loaded = LoadedComponent {
            manifest,
            granted,
            sha256,
            world,
            pre,
            imports,
            exports,
            runtime: self.clone(),
            wasm: Some(Arc::from(wasm)),
            frozen: None,
            instrumented: OnceLock::new(),
            tool_kinds: OnceLock::new(),
        };
        typecheck_exports(&loaded)?;
        tracing::debug!(component = %loaded.manifest.id, sha256 = %loaded.sha256, world = %world, "component loaded");
        Ok(Arc::new(loaded))
    }
}

/// The text of a failed link, with a hint when a role's `llm` import has other types than the
/// host's: the component was built against another revision of `eigenbox:role` (before
/// `chat-request.logprobs` and `chat-response.tokens` were added, for one).
pub(crate) fn link_mismatch_detail(world: World, error: &str) -> String {
    if world == World::Role && error.contains("eigenbox:role/llm") {
        return format!(
            "it was built against an older (or otherwise different) revision of the `eigenbox:role` WIT than this host's: \
             its `llm` import does not match the host's (this host's `chat-request` has `logprobs` and its `chat-response` \
             has `tokens`); rebuild it against this eigenbox's wit/ ({error})"
        );
    }
    error.to_string()
}

/// Type-check every export against the world by instantiating once in a throwaway store, so a
/// component built against another version of the WIT is refused at load, naming the function,
/// rather than failing at its first episode.
pub(crate) fn typecheck_exports(loaded: &LoadedComponent) -> Result<(), LoadError> {
    let mismatch = |detail: String| LoadError::WorldMismatch {
        component: loaded.manifest.id.clone(),
        world: loaded.world.wit_name().into(),
        detail,
    };
    futures_executor::block_on(async {
        let mut store = crate::new_store(loaded.runtime.engine(), loaded);
        crate::arm(&mut store, loaded);
        let instance = loaded.pre.instantiate_async(&mut store).await.map_err(|e| LoadError::Uninstantiable {
            component: loaded.manifest.id.clone(),
            message: format!("{e:#}"),
        })?;
        let checked = match loaded.world {
            World::Domain => crate::bindings::domain::DomainPlugin::new(&mut store, &instance).map(drop),
            World::Checker => crate::bindings::checker::CheckerPlugin::new(&mut store, &instance).map(drop),
            World::Role => crate::bindings::role::RolePlugin::new(&mut store, &instance).map(drop),
            World::CheckerRuntime => crate::bindings::checker_runtime::CheckerRuntime::new(&mut store, &instance).map(drop),
        };
        checked.map_err(|e| mismatch(name_mismatch(&mut store, &instance, loaded.world).unwrap_or_else(|| format!("{e:#}"))))
    })
}

/// Find the first export whose type differs from the world's, for a readable error.
fn name_mismatch(store: &mut wasmtime::Store<HostState>, instance: &wasmtime::component::Instance, world: World) -> Option<String> {
    use crate::bindings::{DbSide, DomainInfo, EnvCall, EpisodeInit, Requestor, ToolError, ToolSpec};
    use crate::checker::{CheckInput, Verdict};
    use crate::role::{StepInput, StepOutput};
    let iface = world.export_interface();
    let idx = instance.get_export_index(&mut *store, None, iface)?;
    macro_rules! check {
        ($name:literal, $p:ty, $r:ty) => {
            match instance.get_export_index(&mut *store, Some(&idx), $name) {
                None => return Some(format!("missing export `{iface}#{}`", $name)),
                Some(f) => {
                    if let Err(e) = instance.get_typed_func::<$p, $r>(&mut *store, &f) {
                        return Some(format!("export `{iface}#{}` has the wrong type: {e:#}", $name));
                    }
                }
            }
        };
    }
    match world {
        World::Domain => {
            check!("info", (), (DomainInfo,));
            check!("tools", (), (Vec<ToolSpec>,));
            check!("reset", (EpisodeInit,), (Result<(), String>,));
            check!("call-tool", (Requestor, String, String), (Result<String, ToolError>,));
            check!("env-function", (EnvCall,), (Result<String, ToolError>,));
            check!("state-json", (DbSide,), (Option<String>,));
            check!("state-hash", (DbSide,), (Option<String>,));
            check!("snapshot", (), (Vec<u8>,));
            check!("restore", (Vec<u8>,), (Result<(), String>,));
        }
        World::Checker => check!("check", (CheckInput,), (Result<Verdict, String>,)),
        World::Role => check!("step", (StepInput,), (Result<StepOutput, String>,)),
        World::CheckerRuntime => {
            use crate::checker::{ProgramFault, ProgramInput, ProgramVerdict, RuntimeInfo};
            check!("lint", (String,), (Result<Vec<ProgramFault>, ProgramFault>,));
            check!("check", (String, ProgramInput), (Result<ProgramVerdict, ProgramFault>,));
            check!("info", (), (RuntimeInfo,));
        }
    }
    None
}

fn compile(engine: &wasmtime::Engine, id: &str, wasm: &[u8]) -> Result<Component, LoadError> {
    if wasm.len() >= 8 && &wasm[0..4] == b"\0asm" && wasm[4..8] == [1, 0, 0, 0] {
        return Err(LoadError::InvalidComponent {
            component: id.into(),
            message: "this is a core WebAssembly module, not a component (build for wasm32-wasip2 with wit-bindgen, or wrap it with `wasm-tools component new`)".into(),
        });
    }
    Component::new(engine, wasm).map_err(|e| LoadError::InvalidComponent { component: id.into(), message: format!("{e:#}") })
}

pub(crate) fn check_world(
    engine: &wasmtime::Engine,
    component: &Component,
    manifest: &Manifest,
    world: World,
) -> Result<(Vec<String>, Vec<String>), LoadError> {
    let ty = component.component_type();
    let mut imports = Vec::new();
    for (name, _) in ty.imports(engine) {
        if !import_supported(world, name) {
            let hint = if name.starts_with("eigenbox:role/") {
                " (only role components get the `llm` and `tools` imports)".to_string()
            } else if name.starts_with("wasi:") {
                " (only WASI 0.2 cli, io, clocks, random, filesystem and sockets are linked, each gated by grants)".to_string()
            } else {
                String::new()
            };
            return Err(LoadError::UnsupportedImport {
                component: manifest.id.clone(),
                world: world.wit_name().into(),
                import: name.to_string(),
                hint,
            });
        }
        imports.push(name.to_string());
    }
    let mut exports = Vec::new();
    let want = world.export_interface();
    let mut found = false;
    for (name, item) in ty.exports(engine) {
        if name == want {
            found = true;
            let ComponentItem::ComponentInstance(inst) = item.ty else {
                return Err(LoadError::WorldMismatch {
                    component: manifest.id.clone(),
                    world: world.wit_name().into(),
                    detail: format!("export `{want}` is not an interface instance"),
                });
            };
            let funcs: Vec<String> = inst.exports(engine).map(|(n, _)| n.to_string()).collect();
            for f in required_exports(world) {
                if !funcs.iter().any(|g| g == f) {
                    return Err(LoadError::WorldMismatch {
                        component: manifest.id.clone(),
                        world: world.wit_name().into(),
                        detail: format!("missing export `{want}#{f}`"),
                    });
                }
            }
            exports.extend(funcs.into_iter().map(|f| format!("{name}#{f}")));
        } else {
            exports.push(name.to_string());
        }
    }
    if !found {
        let other: Vec<&str> = World::ALL.iter().filter(|w| **w != world).map(|w| w.export_interface()).collect();
        let actually = exports.iter().find(|e| other.contains(&e.split('#').next().unwrap_or(""))).cloned();
        let detail = match actually {
            Some(e) => format!("missing export `{want}` (it exports `{}` instead: wrong world in the manifest?)", e.split('#').next().unwrap_or(&e)),
            None => format!("missing export `{want}` (exports: {})", if exports.is_empty() { "none".into() } else { exports.join(", ") }),
        };
        return Err(LoadError::WorldMismatch { component: manifest.id.clone(), world: world.wit_name().into(), detail });
    }
    Ok((imports, exports))
}
