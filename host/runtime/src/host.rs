//! Per-store host state: WASI context built from grants, resource limiter, captured stdio.

use std::net::SocketAddr;
use std::sync::Arc;

use eigenbox_manifest::{Granted, World};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{Deterministic, FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::error::Denied;
use crate::role::RoleCtx;

/// Bytes of guest stdout/stderr kept per store (the rest is dropped).
const STDIO_CAPTURE_BYTES: usize = 64 * 1024;

/// Wraps [`StoreLimits`] and remembers whether a limit was hit, so a failed call can be
/// classified as out-of-memory rather than a generic trap.
pub(crate) struct Limiter {
    inner: StoreLimits,
    pub(crate) hit_memory: bool,
    /// Largest linear memory granted so far, bytes.
    pub(crate) peak_memory: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let r = self.inner.memory_growing(current, desired, maximum);
        if matches!(r, Ok(true)) {
            self.peak_memory = self.peak_memory.max(desired);
        } else {
            self.hit_memory = true;
        }
        r
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let r = self.inner.table_growing(current, desired, maximum);
        if !matches!(r, Ok(true)) {
            self.hit_memory = true;
        }
        r
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// Everything a store carries.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) stdout: MemoryOutputPipe,
    /// Set by a denied import just before it traps.
    pub(crate) denied: Option<Denied>,
    /// Role-only context (llm / tools imports).
    pub(crate) role: Option<RoleCtx>,
    /// When the current call into the guest started.
    pub(crate) call_started: std::time::Instant,
    /// Time the current call spent waiting on host imports (LLM, domain tools); it does not
    /// count against the guest's deadline.
    pub(crate) host_wait: std::time::Duration,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl HostState {
    pub(crate) fn new(granted: &Granted, world: World) -> HostState {
        let caps = &granted.capabilities;
        let stdout = MemoryOutputPipe::new(STDIO_CAPTURE_BYTES);
        let stderr = MemoryOutputPipe::new(STDIO_CAPTURE_BYTES);
        let mut b = WasiCtxBuilder::new();
        b.stdout(stdout.clone()).stderr(stderr.clone());
        // Environment: only the granted variables, with the host's values.
        for var in &caps.env {
            if let Ok(v) = std::env::var(var) {
                b.env(var, v);
            }
        }
        // Filesystem: only the granted directories (a missing directory is skipped; loading
        // checked the grant, not the host's disk).
        for dir in &caps.filesystem {
            let perms = if dir.write { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
            let guest = dir.path.to_string_lossy().to_string();
            if let Err(e) = b.preopened_dir(&dir.path, &guest, perms) {
                tracing::warn!(component = %granted.component, dir = %dir.path.display(), "granted directory not mapped: {e}");
            }
        }
        // Randomness: `wasi:random/random` (entropy) traps unless granted (see `GATED`). The
        // *insecure* interfaces exist so that std's HashMap and serde_json's IndexMap work; an
        // ungranted component gets a fixed seed and a fixed byte stream from them, so no entropy
        // reaches it and it stays deterministic.
        if !caps.random || world.is_checker() {
            b.insecure_random_seed(0x6569_6765_6e62_6f78_0000_0000_0000_0001);
            b.insecure_random(Deterministic::new(DETERMINISTIC_BYTES.to_vec()));
        }
        // Network: deny every address unless it is in the grant.
        let allowed: Arc<Vec<String>> = Arc::new(caps.network.clone());
        let any_network = !allowed.is_empty();
        b.allow_ip_name_lookup(false).allow_tcp(any_network).allow_udp(false);
        b.socket_addr_check(move |addr: SocketAddr, _use| {
            let allowed = allowed.clone();
            Box::pin(async move { network_allowed(&allowed, addr) })
        });
        let limits = &granted.limits;
        let inner = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX))
            .instances(limits.instances as usize)
            .tables(limits.tables as usize)
            .table_elements(usize::try_from(limits.table_elements).unwrap_or(usize::MAX))
            .memories(limits.instances as usize)
            .trap_on_grow_failure(true)
            .build();
        HostState {
            wasi: b.build(),
            table: ResourceTable::new(),
            limiter: Limiter { inner, hit_memory: false, peak_memory: 0 },
            call_started: std::time::Instant::now(),
            host_wait: std::time::Duration::ZERO,
            stderr,
            stdout,
            denied: None,
            role: None,
        }
    }

    /// Whether no host resource (WASI stream, ...) is held in this store's resource table.
    pub(crate) fn table_is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The last bytes the guest wrote to stderr (lossy UTF-8).
    pub fn stderr_tail(&self, max: usize) -> String {
        tail(&self.stderr.contents(), max)
    }

    /// The last bytes the guest wrote to stdout (lossy UTF-8).
    pub fn stdout_tail(&self, max: usize) -> String {
        tail(&self.stdout.contents(), max)
    }
}

fn tail(bytes: &[u8], max: usize) -> String {
    let start = bytes.len().saturating_sub(max);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

fn network_allowed(allowed: &[String], addr: SocketAddr) -> bool {
    let ip = addr.ip().to_string();
    let port = addr.port().to_string();
    allowed.iter().any(|g| match g.rsplit_once(':') {
        Some((h, p)) => (p == port || p == "*") && (h == "*" || h == ip || h.trim_matches(['[', ']']) == ip),
        None => false,
    })
}

/// The fixed stream an ungranted component reads from `wasi:random/insecure`.
const DETERMINISTIC_BYTES: [u8; 16] = [0x9e, 0x37, 0x79, 0xb9, 0x7f, 0x4a, 0x7c, 0x15, 0xf3, 0x9c, 0xc0, 0x60, 0x5c, 0xed, 0xc8, 0x34];

/// WASI interfaces gated by a capability, with the functions to stub when it is not granted.
const GATED: &[(&str, &str, &[&str])] = &[
    ("clock", "wasi:clocks/wall-clock@0.2.12", &["now", "resolution"]),
    ("clock", "wasi:clocks/monotonic-clock@0.2.12", &["now", "resolution", "subscribe-instant", "subscribe-duration"]),
    ("random", "wasi:random/random@0.2.12", &["get-random-bytes", "get-random-u64"]),
];

/// Build the linker for one component: WASI with its ambient authority removed except for
/// what was granted, plus the world's own host interfaces.
pub(crate) fn linker_for(engine: &wasmtime::Engine, world: World, granted: &Granted) -> wasmtime::Result<Linker<HostState>> {
    let mut linker: Linker<HostState> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    linker.allow_shadowing(true);
    let caps = &granted.capabilities;
    for (cap, iface, funcs) in GATED {
        let granted_here = match *cap {
            "clock" => caps.clock && !world.is_checker(),
            "random" => caps.random && !world.is_checker(),
            _ => false,
        };
        if granted_here {
            continue;
        }
        let mut inst = linker.instance(iface)?;
        for f in *funcs {
            let capability = cap.to_string();
            inst.func_new(f, move |mut store, _ty, _params, _results| {
                let denied = Denied { capability: capability.clone() };
                store.data_mut().denied = Some(denied.clone());
                Err(wasmtime::Error::new(denied))
            })?;
        }
    }
    linker.allow_shadowing(false);
    // The shared types package is a types-only instance; give it an (empty) definition.
    linker.instance("eigenbox:types/types@0.1.0")?;
    if world == World::Role {
        crate::role::add_role_imports(&mut linker)?;
    }
    Ok(linker)
}

/// Is `import` something the host provides to `world` components?
pub(crate) fn import_supported(world: World, import: &str) -> bool {
    let unversioned = import.split('@').next().unwrap_or(import);
    if unversioned.starts_with("wasi:io/")
        || unversioned.starts_with("wasi:cli/")
        || unversioned.starts_with("wasi:clocks/")
        || unversioned.starts_with("wasi:random/")
        || unversioned.starts_with("wasi:filesystem/")
        || unversioned.starts_with("wasi:sockets/")
    {
        return import.contains("@0.2.");
    }
    match world {
        World::Role => import == "eigenbox:role/llm@0.1.0" || import == "eigenbox:role/tools@0.1.0" || import == "eigenbox:types/types@0.1.0",
        World::Domain | World::Checker => import == "eigenbox:types/types@0.1.0",
        // The checker runtime's contract uses no shared types: it imports nothing of eigenbox's.
        World::CheckerRuntime => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_grants_match_exact_destinations() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(network_allowed(&["127.0.0.1:8080".into()], a));
        assert!(network_allowed(&["*:8080".into()], a));
        assert!(!network_allowed(&["127.0.0.1:8081".into()], a));
        assert!(!network_allowed(&[], a));
    }

    #[test]
    fn imports_by_world() {
        assert!(import_supported(World::Role, "eigenbox:role/llm@0.1.0"));
        assert!(!import_supported(World::Domain, "eigenbox:role/llm@0.1.0"));
        assert!(import_supported(World::Domain, "wasi:cli/stderr@0.2.3"));
        assert!(!import_supported(World::Domain, "wasi:http/outgoing-handler@0.2.3"));
        assert!(!import_supported(World::Checker, "wasi:cli/stderr@0.3.0"));
    }
}
