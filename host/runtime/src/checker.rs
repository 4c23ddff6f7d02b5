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
