//! A domain episode: one isolated instance of a domain component, with rollback on traps.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::Store;

use crate::bindings::domain::DomainPlugin;
use crate::bindings::{DbSide, DomainInfo, EnvCall, EpisodeInit, Requestor, ToolError, ToolSpec};
use crate::component::{LoadedComponent, ToolKinds};
use crate::error::CallError;
use crate::frozen::FrozenState;
use crate::host::HostState;
use crate::{arm, check_output, classify, new_store, CallStats};

/// After this many journaled writes, a snapshot becomes the new rollback base.
const JOURNAL_COMPACT_AT: usize = 64;

/// Where the state of a fresh instance comes from when the current one must be replaced.
#[derive(Clone)]
enum Base {
    /// A fresh instance as it comes (for a frozen component: the frozen state).
    Fresh,
    /// `reset(init)` on a fresh instance.
    Init(EpisodeInit),
    /// `restore(snapshot)` on a fresh instance.
    Snapshot(Arc<Vec<u8>>),
}

/// A journaled state change.
#[derive(Clone, Debug)]
pub(crate) enum JournalEntry {
    Tool { requestor: Requestor, name: String, arguments: String, synced: bool },
    Env(EnvCall),
}

impl JournalEntry {
    /// Make the call again (the store armed by the caller). Its own result, a tool error
    /// included, is not the point of a replay: only a trap is an error.
    pub(crate) async fn replay(&self, api: &crate::bindings::domain::exports::eigenbox::domain::domain::Guest, store: &mut Store<HostState>) -> wasmtime::Result<()> {
        match self {
            JournalEntry::Tool { requestor, name, arguments, synced: true } => drop(api.call_call_tool(store, *requestor, name, arguments).await?),
            JournalEntry::Tool { requestor, name, arguments, synced: false } => drop(api.call_call_tool_unsynced(store, *requestor, name, arguments).await?),
            JournalEntry::Env(call) => drop(api.call_env_function(store, call).await?),
        }
        Ok(())
    }
}

struct Live {
    store: Store<HostState>,
    bindings: DomainPlugin,
}

/// One episode's domain: its own store and instance, so no two episodes share state.
///
/// State changes are journaled (base + successful state-changing calls). When a call traps
/// (out of fuel, timeout, out of memory, panic), the instance is discarded; the next call
/// rebuilds one and replays the journal, so a trap in the middle of a write leaves the state
/// exactly as it was before that call.
pub struct DomainInstance {
    loaded: Arc<LoadedComponent>,
    live: Option<Live>,
    base: Base,
    journal: Vec<JournalEntry>,
    mutating: Option<ToolKinds>,
    last: CallStats,
    /// DB hashes (agent, user) computed since the last call that may have changed state.
    hashes: [Option<String>; 2],
}

macro_rules! guest_call {
    ($self:ident, |$b:ident, $s:ident| $body:expr) => {{
        $self.ensure_live().await?;
        raw_call!($self, |$b, $s| $body)
    }};
}

macro_rules! raw_call {
    ($self:ident, |$b:ident, $s:ident| $body:expr) => {{
        let started = Instant::now();
        let live = $self.live.as_mut().ok_or_else(|| CallError::Instantiate("no live instance".into()))?;
        arm(&mut live.store, &$self.loaded);
        let result = {
            let $b = live.bindings.eigenbox_domain_domain();
            let $s = &mut live.store;
            $body.await
        };
        let fuel_left = live.store.get_fuel().unwrap_or(0);
        $self.last = CallStats {
            fuel: $self.loaded.granted.limits.fuel.saturating_sub(fuel_left),
            wall: started.elapsed(),
            peak_memory: live.store.data().limiter.peak_memory as u64,
        };
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                let err = classify(e, &live.store, &$self.loaded);
                tracing::warn!(component = %$self.loaded.manifest.id, outcome = err.outcome_label(), "guest call failed: {err}");
                $self.live = None;
                Err(err)
            }
        }
    }};
}

fn side_key(r: Requestor) -> bool {
    matches!(r, Requestor::User)
}

impl DomainInstance {
    /// A fresh episode in the domain's initial state (for a frozen component, that means a
    /// `reset` of the frozen state; use [`DomainInstance::from_frozen`] to start in it).
    pub async fn new(loaded: Arc<LoadedComponent>) -> Result<DomainInstance, CallError> {
        Self::start(loaded, Base::Init(EpisodeInit { agent_data: None, user_data: None, actions: Vec::new() }), None).await
    }

    /// A fresh episode that starts directly in a frozen state: a new instance of the frozen
    /// component, with nothing run in it. A trap rolls back to the frozen state (plus the
    /// writes made since), like any other base.
    pub async fn from_frozen(frozen: &FrozenState) -> Result<DomainInstance, CallError> {
        Self::start(frozen.loaded.clone(), Base::Fresh, frozen.mutating.clone()).await
    }

    /// Freeze this episode's current state: instances made from the result start in it. See
    /// [`LoadedComponent::freeze`].
    ///
    /// Where the episode's history is known (a `reset` or the frozen state it started in, plus
    /// its journal of state-changing calls), a fresh instance of the original replays that
    /// history and must reach the same DB hashes ([`FreezeMethod::Replay`]); otherwise (a
    /// restored snapshot, a compacted journal) or if the replay does not reproduce the state,
    /// the state moves over as a snapshot ([`FreezeMethod::Restore`]). Replaying keeps the
    /// frozen memory at what the episode needs, where a restore holds the initial and the
    /// restored databases side by side while decoding.
    ///
    /// [`FreezeMethod::Replay`]: crate::FreezeMethod::Replay
    /// [`FreezeMethod::Restore`]: crate::FreezeMethod::Restore
    pub async fn freeze(&mut self) -> Result<Arc<FrozenState>, CallError> {
        if let Some(recipe) = self.recipe() {
            let want = [self.state_hash(DbSide::Assistant).await?, self.state_hash(DbSide::User).await?];
            match crate::frozen::freeze(&self.loaded, crate::frozen::Setup::Replay(&recipe, &want)).await {
                Ok(frozen) => return Ok(frozen),
                Err(e) => tracing::warn!(component = %self.loaded.manifest.id, "freezing by replay failed, freezing a snapshot instead: {e}"),
            }
        }
        let snap = self.snapshot().await?;
        crate::frozen::freeze(&self.loaded, crate::frozen::Setup::Restore(&snap)).await
    }

    /// How a fresh instance of the original component reaches this episode's state, if known.
    fn recipe(&self) -> Option<crate::frozen::Recipe> {
        let (init, mut journal) = match (&self.base, self.loaded.frozen.as_ref()) {
            (Base::Init(init), _) => (Some(init.clone()), Vec::new()),
            (Base::Fresh, None) => (None, Vec::new()),
            (Base::Fresh, Some(info)) => {
                let r = info.recipe.as_ref()?;
                (r.init.clone(), r.journal.clone())
            }
            (Base::Snapshot(_), _) => return None,
        };
        journal.extend(self.journal.iter().cloned());
        Some(crate::frozen::Recipe { init, journal })
    }

    async fn start(loaded: Arc<LoadedComponent>, base: Base, mutating: Option<ToolKinds>) -> Result<DomainInstance, CallError> {
        if loaded.world != eigenbox_manifest::World::Domain {
            return Err(CallError::Instantiate(format!("`{}` is a {} component, not a domain", loaded.manifest.id, loaded.world)));
        }
        let mut d = DomainInstance { loaded, live: None, base, journal: Vec::new(), mutating, last: CallStats::default(), hashes: [None, None] };
        d.ensure_live().await?;
        Ok(d)
    }

    /// The component this episode runs.
    pub fn component(&self) -> &Arc<LoadedComponent> {
        &self.loaded
    }

    /// Resource use of the last call.
    pub fn last_call(&self) -> CallStats {
        self.last
    }

    async fn instantiate(loaded: Arc<LoadedComponent>) -> Result<Live, CallError> {
        let mut store = new_store(loaded.runtime.engine(), &loaded);
        arm(&mut store, &loaded);
        let instance = loaded.pre.instantiate_async(&mut store).await.map_err(|e| match classify(e, &store, &loaded) {
            CallError::Trap { message } => CallError::Instantiate(message),
            other => other,
        })?;
        let bindings = DomainPlugin::new(&mut store, &instance).map_err(|e| CallError::Instantiate(format!("{e:#}")))?;
        Ok(Live { store, bindings })
    }

    /// Make sure an instance exists; a replaced one is brought back to the journaled state.
    async fn ensure_live(&mut self) -> Result<(), CallError> {
        if self.live.is_some() {
            return Ok(());
        }
        let live = Self::instantiate(self.loaded.clone()).await?;
        self.live = Some(live);
        let base = self.base.clone();
        let journal = std::mem::take(&mut self.journal);
        let restored: Result<(), CallError> = async {
            match &base {
                Base::Fresh => {}
                Base::Init(init) => {
                    // A fresh instance of an unfrozen component is in the initial state already;
                    // one of a frozen component is not.
                    let empty = init.agent_data.is_none() && init.user_data.is_none() && init.actions.is_empty();
                    if !empty || self.loaded.is_frozen() {
                        let init = init.clone();
                        raw_call!(self, |b, s| b.call_reset(s, &init))?.map_err(|e| CallError::BadAnswer(format!("reset failed while rebuilding: {e}")))?;
                    }
                }
                Base::Snapshot(bytes) => {
                    let bytes = bytes.clone();
                    raw_call!(self, |b, s| b.call_restore(s, &bytes))?.map_err(|e| CallError::BadAnswer(format!("restore failed while rebuilding: {e}")))?;
                }
            }
            for entry in &journal {
                raw_call!(self, |b, s| entry.replay(b, s))?;
            }
            Ok(())
        }
        .await;
        self.journal = journal;
        restored
    }

    /// Describe the domain.
    pub async fn info(&mut self) -> Result<DomainInfo, CallError> {
        let info = guest_call!(self, |b, s| b.call_info(s))?;
        check_output(info.policy.len() + info.name.len(), &self.loaded)?;
        Ok(info)
    }

    /// The domain's tools (assistant tools first).
    pub async fn tools(&mut self) -> Result<Vec<ToolSpec>, CallError> {
        let tools = guest_call!(self, |b, s| b.call_tools(s))?;
        check_output(tools.iter().map(|t| t.parameters.len() + t.description.len() + t.name.len()).sum(), &self.loaded)?;
        if self.mutating.is_none() {
            let kinds = ToolKinds::new(tools.iter().map(|t| (side_key(t.requestor), t.name.as_str(), t.mutates_state)));
            let _ = self.loaded.tool_kinds.set(kinds.clone());
            self.mutating = Some(kinds);
        }
        Ok(tools)
    }

    /// Whether `name` is a state-changing tool for `requestor`; `None` if there is no such tool.
    pub async fn is_mutating(&mut self, requestor: Requestor, name: &str) -> Result<Option<bool>, CallError> {
        if self.mutating.is_none() {
            match self.loaded.tool_kinds.get() {
                Some(kinds) => self.mutating = Some(kinds.clone()),
                None => drop(self.tools().await?),
            }
        }
        Ok(self.mutating.as_ref().and_then(|m| m.get(side_key(requestor), name)))
    }

    /// Start the episode over: initial databases plus `init`.
    pub async fn reset(&mut self, init: EpisodeInit) -> Result<Result<(), String>, CallError> {
        self.hashes = [None, None];
        let r = guest_call!(self, |b, s| b.call_reset(s, &init))?;
        self.base = Base::Init(if r.is_ok() { init } else { EpisodeInit { agent_data: None, user_data: None, actions: Vec::new() } });
        self.journal.clear();
        Ok(r)
    }

    /// Call a tool. `Ok(Err(_))` is the tool's own error (shown to the model as `Error: ...`);
    /// `Err(_)` is a sandbox failure.
    pub async fn call_tool(&mut self, requestor: Requestor, name: &str, arguments: &str) -> Result<Result<String, ToolError>, CallError> {
        self.tool(requestor, name, arguments, true).await
    }

    /// [`DomainInstance::call_tool`] without the domain's post-call synchronisation of agent
    /// and user state (τ²'s `make_tool_call`): how an evaluator rebuilds a gold environment.
    pub async fn call_tool_unsynced(&mut self, requestor: Requestor, name: &str, arguments: &str) -> Result<Result<String, ToolError>, CallError> {
        self.tool(requestor, name, arguments, false).await
    }

    async fn tool(&mut self, requestor: Requestor, name: &str, arguments: &str, synced: bool) -> Result<Result<String, ToolError>, CallError> {
        // Any tool may write (`mutates_state` only says what replay re-runs).
        self.hashes = [None, None];
        let r = guest_call!(self, |b, s| async {
            if synced {
                b.call_call_tool(s, requestor, name, arguments).await
            } else {
                b.call_call_tool_unsynced(s, requestor, name, arguments).await
            }
        })?;
        match &r {
            Ok(text) => check_output(text.len(), &self.loaded)?,
            Err(e) => check_output(e.message.len(), &self.loaded)?,
        }
        // `is_mutating` may ask the guest for its tools once; keep the stats of this call.
        let stats = self.last;
        let mutating = self.is_mutating(requestor, name).await?.unwrap_or(false);
        self.last = stats;
        if mutating {
            self.journal.push(JournalEntry::Tool { requestor, name: name.to_string(), arguments: arguments.to_string(), synced });
            self.compact().await?;
        }
        Ok(r)
    }

    /// Run an environment function (initialization action or assertion).
    pub async fn env_function(&mut self, call: EnvCall) -> Result<Result<String, ToolError>, CallError> {
        self.hashes = [None, None];
        let r = guest_call!(self, |b, s| b.call_env_function(s, &call))?;
        if let Ok(text) = &r {
            check_output(text.len(), &self.loaded)?;
        }
        // An env function may change state (initialization actions): journal it.
        self.journal.push(JournalEntry::Env(call));
        self.compact().await?;
        Ok(r)
    }

    async fn compact(&mut self) -> Result<(), CallError> {
        if self.journal.len() >= JOURNAL_COMPACT_AT {
            let snap = self.snapshot().await?;
            self.base = Base::Snapshot(Arc::new(snap));
            self.journal.clear();
        }
        Ok(())
    }

    /// Canonical JSON of one database.
    pub async fn state_json(&mut self, side: DbSide) -> Result<Option<String>, CallError> {
        let r = guest_call!(self, |b, s| b.call_state_json(s, side))?;
        if let Some(t) = &r {
            check_output(t.len(), &self.loaded)?;
        }
        Ok(r)
    }

    /// sha256 (lower-case hex) of one database's canonical JSON ([`DomainInstance::state_json`]),
    /// `None` where the domain has no such database.
    ///
    /// The host hashes the JSON itself, with native SHA-256 (SHA-NI where the CPU has it),
    /// rather than calling the guest's `state-hash`: for a large state (τ²'s airline DB is
    /// 3.4 MB of JSON) moving the text out and hashing it natively is several times faster
    /// than SHA-256 in wasm, and the hash is then by construction the hash of the JSON the
    /// host can show. The result is kept until the next call that may change state.
    pub async fn state_hash(&mut self, side: DbSide) -> Result<Option<String>, CallError> {
        let k = matches!(side, DbSide::User) as usize;
        if let Some(h) = &self.hashes[k] {
            return Ok(Some(h.clone()));
        }
        let h = self.state_json(side).await?.map(|j| eigenbox_manifest::sha256_hex(j.as_bytes()));
        self.hashes[k] = h.clone();
        Ok(h)
    }

    /// The guest's own `state-hash` export (which must equal [`DomainInstance::state_hash`]);
    /// for checking a plugin against its contract.
    pub async fn guest_state_hash(&mut self, side: DbSide) -> Result<Option<String>, CallError> {
        let r = guest_call!(self, |b, s| b.call_state_hash(s, side))?;
        if let Some(h) = &r {
            if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(CallError::BadAnswer(format!("state-hash returned `{}`, not a sha256 hex digest", h.chars().take(80).collect::<String>())));
            }
        }
        Ok(r)
    }

    /// Opaque snapshot of all state.
    pub async fn snapshot(&mut self) -> Result<Vec<u8>, CallError> {
        let r = guest_call!(self, |b, s| b.call_snapshot(s))?;
        check_output(r.len(), &self.loaded)?;
        Ok(r)
    }

    /// Replace all state with a snapshot.
    pub async fn restore(&mut self, snapshot: &[u8]) -> Result<Result<(), String>, CallError> {
        self.hashes = [None, None];
        let r = guest_call!(self, |b, s| b.call_restore(s, snapshot))?;
        if r.is_ok() {
            self.base = Base::Snapshot(Arc::new(snapshot.to_vec()));
            self.journal.clear();
        }
        Ok(r)
    }

    /// A new, independent episode with a copy of this one's state.
    pub async fn fork(&mut self) -> Result<DomainInstance, CallError> {
        let snap = self.snapshot().await?;
        // `restore` replaces all state, so the fresh instance need not be reset first.
        let mut other = Self::start(self.loaded.clone(), Base::Fresh, self.mutating.clone()).await?;
        other.restore(&snap).await?.map_err(|e| CallError::BadAnswer(format!("restore of own snapshot failed: {e}")))?;
        Ok(other)
    }

    /// Guest stderr captured so far (tail).
    pub fn guest_stderr(&self) -> String {
        self.live.as_ref().map(|l| l.store.data().stderr_tail(8192)).unwrap_or_default()
    }
}
