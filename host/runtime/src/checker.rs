//! Checkers: pure components from an episode to a verdict.

use std::sync::Arc;

use wasmtime::Store;

use crate::bindings::checker::CheckerPlugin;
use crate::component::LoadedComponent;
use crate::error::CallError;
use crate::host::HostState;
use crate::{arm, classify, new_store};

pub use crate::bindings::checker::exports::eigenbox::checker::checker::{CheckInput, Verdict};

/// A checker instance. Every [`CheckerInstance::check`] runs in a fresh store, so no verdict can
/// depend on an earlier one.
pub struct CheckerInstance {
    loaded: Arc<LoadedComponent>,
}

impl CheckerInstance {
    /// Wrap a loaded checker component.
    pub fn new(loaded: Arc<LoadedComponent>) -> Result<CheckerInstance, CallError> {
        if loaded.world != eigenbox_manifest::World::Checker {
            return Err(CallError::Instantiate(format!("`{}` is a {} component, not a checker", loaded.manifest.id, loaded.world)));
        }
        Ok(CheckerInstance { loaded })
    }

    /// Judge one episode. `Ok(Err(_))` is the checker saying it cannot decide.
    pub async fn check(&self, input: &CheckInput) -> Result<Result<Verdict, String>, CallError> {
        let mut store: Store<HostState> = new_store(self.loaded.runtime.engine(), &self.loaded);
        arm(&mut store, &self.loaded);
        let instance = match self.loaded.pre.instantiate_async(&mut store).await {
            Ok(i) => i,
            Err(e) => return Err(classify(e, &store, &self.loaded)),
        };
        let bindings = CheckerPlugin::new(&mut store, &instance).map_err(|e| CallError::Instantiate(format!("{e:#}")))?;
        match bindings.eigenbox_checker_checker().call_check(&mut store, input).await {
            Ok(v) => {
                if let Ok(verdict) = &v {
                    let size: usize = verdict.reasons.iter().map(String::len).sum();
                    crate::check_output(size, &self.loaded)?;
                }
                Ok(v)
            }
            Err(e) => Err(classify(e, &store, &self.loaded)),
        }
    }
}

pub use crate::bindings::checker_runtime::exports::eigenbox::checker::runtime::{
    CheckInput as ProgramInput, Fault as ProgramFault, FaultKind, RuntimeInfo, Verdict as ProgramVerdict,
};

/// A checker *runtime* (`eigenbox:checker/checker-runtime@0.2.0`): an interpreter component that
/// runs checker programs given to it as source text. Every call runs in a fresh store under the
/// component's limits (fuel, deadline, memory cap, output cap), so no verdict can depend on an
/// earlier one and a hostile program costs at most one store.
pub struct InterpreterInstance {
    loaded: Arc<LoadedComponent>,
}

impl InterpreterInstance {
    /// Wrap a loaded checker-runtime component.
    pub fn new(loaded: Arc<LoadedComponent>) -> Result<InterpreterInstance, CallError> {
        if loaded.world != eigenbox_manifest::World::CheckerRuntime {
            return Err(CallError::Instantiate(format!("`{}` is a {} component, not a checker runtime", loaded.manifest.id, loaded.world)));
        }
        Ok(InterpreterInstance { loaded })
    }

    /// The component.
    pub fn component(&self) -> &Arc<LoadedComponent> {
        &self.loaded
    }

    /// A fresh store with the budget armed, and the instance's bindings.
    async fn start(&self) -> Result<(Store<HostState>, crate::bindings::checker_runtime::CheckerRuntime), (CallError, Store<HostState>)> {
        let mut store: Store<HostState> = new_store(self.loaded.runtime.engine(), &self.loaded);
        arm(&mut store, &self.loaded);
        let instance = match self.loaded.pre.instantiate_async(&mut store).await {
            Ok(i) => i,
            Err(e) => {
                let e = classify(e, &store, &self.loaded);
                return Err((e, store));
            }
        };
        match crate::bindings::checker_runtime::CheckerRuntime::new(&mut store, &instance) {
            Ok(b) => Ok((store, b)),
            Err(e) => Err((CallError::Instantiate(format!("{e:#}")), store)),
        }
    }

    fn stats(&self, store: &Store<HostState>, started: std::time::Instant) -> crate::CallStats {
        crate::CallStats {
            fuel: self.loaded.granted.limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
            wall: started.elapsed(),
            peak_memory: store.data().limiter.peak_memory as u64,
        }
    }

    /// Run `program` on one episode. `Ok(Err(fault))` is the program failing to produce a
    /// verdict (syntax error, exception, bad return); `Err` is the sandbox stopping it (fuel,
    /// deadline, memory, output cap, trap).
    pub async fn check(&self, program: &str, input: &ProgramInput) -> (Result<Result<ProgramVerdict, ProgramFault>, CallError>, crate::CallStats) {
        let started = std::time::Instant::now();
        let (mut store, b) = match self.start().await {
            Ok(x) => x,
            Err((e, store)) => return (Err(e), self.stats(&store, started)),
        };
        let r = b.eigenbox_checker_runtime().call_check(&mut store, program, input).await;
        let stats = self.stats(&store, started);
        let r = r.map_err(|e| classify(e, &store, &self.loaded)).and_then(|v| {
            let size = match &v {
                Ok(verdict) => verdict.reasons.iter().map(String::len).sum::<usize>() + verdict.output.len(),
                Err(fault) => fault.message.len(),
            };
            crate::check_output(size, &self.loaded)?;
            Ok(v)
        });
        (r, stats)
    }

    /// Parse and statically check `program` without running `check`: warnings, or the fault.
    pub async fn lint(&self, program: &str) -> (Result<Result<Vec<ProgramFault>, ProgramFault>, CallError>, crate::CallStats) {
        let started = std::time::Instant::now();
        let (mut store, b) = match self.start().await {
            Ok(x) => x,
            Err((e, store)) => return (Err(e), self.stats(&store, started)),
        };
        let r = b.eigenbox_checker_runtime().call_lint(&mut store, program).await;
        let stats = self.stats(&store, started);
        let r = r.map_err(|e| classify(e, &store, &self.loaded)).and_then(|v| {
            let size = match &v {
                Ok(w) => w.iter().map(|f| f.message.len()).sum::<usize>(),
                Err(fault) => fault.message.len(),
            };
            crate::check_output(size, &self.loaded)?;
            Ok(v)
        });
        (r, stats)
    }

    /// The language and interpreter the component implements.
    pub async fn info(&self) -> Result<RuntimeInfo, CallError> {
        let (mut store, b) = self.start().await.map_err(|(e, _)| e)?;
        let info = b.eigenbox_checker_runtime().call_info(&mut store).await.map_err(|e| classify(e, &store, &self.loaded))?;
        crate::check_output(info.language.len() + info.interpreter.len(), &self.loaded)?;
        Ok(info)
    }
}
