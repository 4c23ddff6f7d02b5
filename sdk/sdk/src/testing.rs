//! Helpers for a plugin's golden-vector tests (feature `testing`; enable it only in the
//! plugin's `[dev-dependencies]` so it never reaches the wasm component).
//!
//! These are test code: they panic with a message on unreadable or malformed vectors.

use crate::{Domain, Requestor, Runtime, Value};
use std::path::{Path, PathBuf};

/// The golden-vector directory of `domain`: the reference's vectors in
/// `<workspace>/../shared/golden/<domain>` when present, else the copy shipped with the plugin in
/// `<manifest_dir>/data/golden`; `None` (with a notice on stdout) when neither has `tools.json`.
/// Call it as `golden_dir(env!("CARGO_MANIFEST_DIR"), "retail")`.
pub fn golden_dir(manifest_dir: &str, domain: &str) -> Option<PathBuf> {
    let root = PathBuf::from(manifest_dir);
    [root.join("../../../shared/golden").join(domain), root.join("data/golden")]
        .into_iter()
        .find(|d| d.join("tools.json").is_file())
        .or_else(|| {
            println!("NOTICE: no golden vectors for {domain} found; golden conformance skipped");
            None
        })
}

/// The non-blank lines of a JSON-lines file, parsed.
pub fn jsonl(path: impl AsRef<Path>) -> Vec<Value> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    jsonl_str(&text)
}

/// The non-blank lines of JSON-lines text, parsed.
pub fn jsonl_str(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line ({e}): {l}")))
        .collect()
}

/// A recorded `requestor` / `env_type` (`"user"`, else the assistant).
pub fn requestor(s: &Value) -> Requestor {
    match s.as_str() {
        Some("user") => Requestor::User,
        _ => Requestor::Assistant,
    }
}

/// (response, error) the way τ² writes the tool message: the result, or `Error: <message>`.
pub fn respond<D: Domain>(rt: &mut Runtime<D>, r: Requestor, name: &str, args: &Value) -> (String, bool) {
    match rt.call_tool(r, name, &args.to_string()) {
        Ok(s) => (s, false),
        Err(e) => (format!("Error: {}", e.message), true),
    }
}

/// The `eigenbox_tau2` conformance engine, re-exported for plugin tests.
pub use eigenbox_tau2 as tau2;

use crate::{EnvCall, EpisodeInit, ToolKind};
use eigenbox_tau2::DomainEnv;
use std::cell::RefCell;
use std::rc::Rc;

/// Runtimes handed back by dropped [`SdkEnv`]s, and the snapshot of the initial state.
struct Pool<D: Domain> {
    fresh: Vec<u8>,
    free: Vec<Runtime<D>>,
}

/// [`eigenbox_tau2::DomainEnv`] over an in-process [`Runtime`]: the same adapter the host's
/// `WasmDomainEnv` is over a component, so [`eigenbox_tau2::run_conformance`] checks a plugin
/// natively. Make environments with [`SdkEnv::factory`] (or [`SdkEnv::round_trip_factory`]).
pub struct SdkEnv<D: Domain> {
    rt: Option<Runtime<D>>,
    pool: Rc<RefCell<Pool<D>>>,
    round_trip: bool,
}

impl<D: Domain> SdkEnv<D> {
    /// A factory for `run_conformance`. Runtimes are recycled between environments and put
    /// back into the initial state by restoring its snapshot (parsing a large `db.json` per
    /// probe would dominate the test time); every check starts with `reset` anyway.
    pub fn factory() -> impl FnMut() -> Result<SdkEnv<D>, String> {
        Self::make_factory(false)
    }

    /// [`SdkEnv::factory`], and after every call of a mutating tool the adapter snapshots the
    /// state, restores the snapshot and checks that both DB hashes and the re-encoded snapshot
    /// bytes are unchanged; a difference is reported as a domain failure of that call. The replay
    /// then goes on from the restored state, so the later responses and hashes check it too.
    pub fn round_trip_factory() -> impl FnMut() -> Result<SdkEnv<D>, String> {
        Self::make_factory(true)
    }

    fn make_factory(round_trip: bool) -> impl FnMut() -> Result<SdkEnv<D>, String> {
        let mut pool: Option<Rc<RefCell<Pool<D>>>> = None;
        move || {
            let pool = match &pool {
                Some(p) => p.clone(),
                None => {
                    let rt = Runtime::<D>::new();
                    rt.domain()?;
                    let p = Rc::new(RefCell::new(Pool { fresh: rt.snapshot(), free: vec![rt] }));
                    pool = Some(p.clone());
                    p
                }
            };
            let recycled = pool.borrow_mut().free.pop();
            let rt = match recycled {
                Some(mut rt) => {
                    let fresh = pool.borrow().fresh.clone();
                    rt.restore_owned(fresh)?;
                    rt
                }
                None => Runtime::new(),
            };
            Ok(SdkEnv { rt: Some(rt), pool, round_trip })
        }
    }

    /// The runtime.
    pub fn runtime(&mut self) -> &mut Runtime<D> {
        self.rt.as_mut().expect("runtime present until drop")
    }

    fn round_trip_check(&mut self, name: &str) -> Result<(), String> {
        let rt = self.runtime();
        let snap = rt.snapshot();
        let sides = [Requestor::Assistant, Requestor::User];
        let before: Vec<_> = sides.iter().map(|&s| rt.state_hash(s)).collect();
        rt.restore(&snap).map_err(|e| format!("after `{name}`: snapshot does not restore: {e}"))?;
        // Drop the cached snapshot and hashes so both are computed from the restored state.
        rt.domain_mut()?;
        let after: Vec<_> = sides.iter().map(|&s| rt.state_hash(s)).collect();
        if before != after {
            return Err(format!("after `{name}`: state differs after snapshot/restore"));
        }
        if rt.snapshot() != snap {
            return Err(format!("after `{name}`: snapshot bytes not stable across restore"));
        }
        Ok(())
    }
}

impl<D: Domain> Drop for SdkEnv<D> {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            self.pool.borrow_mut().free.push(rt);
        }
    }
}

fn sdk_side(r: eigenbox_tau2::Requestor) -> Requestor {
    match r {
        eigenbox_tau2::Requestor::User => Requestor::User,
        eigenbox_tau2::Requestor::Assistant => Requestor::Assistant,
    }
}

impl<D: Domain> DomainEnv for SdkEnv<D> {
    type Error = String;

    fn reset(&mut self, init: &eigenbox_tau2::EpisodeInit) -> Result<(), String> {
        if init == &eigenbox_tau2::EpisodeInit::empty() {
            let fresh = self.pool.borrow().fresh.clone();
            return self.runtime().restore_owned(fresh);
        }
        let w = init.to_wire();
        let actions = w.actions.into_iter().map(|(side, name, arguments)| EnvCall { side: sdk_side(side), name, arguments }).collect();
        self.runtime().reset(&EpisodeInit { agent_data: w.agent_data, user_data: w.user_data, actions })
    }

    fn tools(&mut self) -> Result<Vec<eigenbox_tau2::ToolSpec>, String> {
        self.runtime()
            .tools()
            .into_iter()
            .map(|t| {
                let parameters: Value = serde_json::from_str(&t.parameters)
                    .map_err(|e| format!("tool `{}` has a parameters schema that is not JSON: {e}", t.name))?;
                Ok(eigenbox_tau2::ToolSpec {
                    name: t.name,
                    description: t.description,
                    parameters,
                    requestor: match t.requestor {
                        Requestor::User => eigenbox_tau2::Requestor::User,
                        Requestor::Assistant => eigenbox_tau2::Requestor::Assistant,
                    },
                    kind: Some(match t.kind {
                        ToolKind::Read => eigenbox_tau2::ToolKind::Read,
                        ToolKind::Write => eigenbox_tau2::ToolKind::Write,
                        ToolKind::Think => eigenbox_tau2::ToolKind::Think,
                        ToolKind::Generic => eigenbox_tau2::ToolKind::Generic,
                    }),
                    mutates_state: Some(t.mutates_state),
                })
            })
            .collect()
    }

    fn call_tool(&mut self, requestor: eigenbox_tau2::Requestor, name: &str, arguments: &Value) -> Result<(String, bool), String> {
        let out = respond(self.runtime(), sdk_side(requestor), name, arguments);
        let r = sdk_side(requestor);
        if self.round_trip && self.runtime().is_mutating(r, name) == Some(true) {
            self.round_trip_check(name)?;
        }
        Ok(out)
    }

    fn call_tool_unsynced(&mut self, requestor: eigenbox_tau2::Requestor, name: &str, arguments: &Value) -> Result<Option<(String, bool)>, String> {
        Ok(Some(match self.runtime().call_tool_unsynced(sdk_side(requestor), name, &arguments.to_string()) {
            Ok(s) => (s, false),
            Err(e) => (format!("Error: {}", e.message), true),
        }))
    }

    fn env_function(&mut self, side: eigenbox_tau2::Requestor, name: &str, arguments: &Value) -> Result<Value, String> {
        let call = EnvCall { side: sdk_side(side), name: name.into(), arguments: arguments.to_string() };
        match self.runtime().env_function(&call) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| format!("env function `{name}` returned non-JSON `{text}`: {e}")),
            Err(e) => Err(format!("env function `{name}` failed: {}", e.message)),
        }
    }

    fn state_hash(&mut self, side: eigenbox_tau2::Requestor) -> Result<Option<String>, String> {
        Ok(self.runtime().state_hash(sdk_side(side)))
    }

    fn is_mutating(&mut self, name: &str) -> Result<Option<bool>, String> {
        let rt = self.runtime();
        Ok(rt.is_mutating(Requestor::Assistant, name).or(rt.is_mutating(Requestor::User, name)))
    }
}
