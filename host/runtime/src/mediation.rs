//! Policy mediation through `eigenbox-gate`: capability decisions at load, and the actors and
//! outcomes the role imports report (see `role.rs`).

use eigenbox_audit::Outcome;
use eigenbox_gate::Actor;
use eigenbox_manifest::{Denial, Manifest, ManifestError};

use crate::component::LoadedComponent;
use crate::error::{CallError, LoadError};
use crate::Runtime;

/// Ask the runtime's policy (if it has one) about every capability the manifest requests; a
/// refusal refuses the load, naming each capability and the rule.
pub(crate) fn check_load(runtime: &Runtime, manifest: &Manifest, sha256: &str) -> Result<(), LoadError> {
    let Some(gate) = runtime.gate() else { return Ok(()) };
    gate.check_load(manifest, sha256).map_err(|denials| {
        LoadError::Manifest(ManifestError::Refused {
            component: manifest.id.clone(),
            denials: denials
                .into_iter()
                .map(|(capability, d)| Denial { capability, reason: format!("is refused by policy rule `{}`: {}", d.rule(), d.decision.reason) })
                .collect(),
        })
    })
}

/// The component as a policy principal and audit actor.
pub(crate) fn actor(loaded: &LoadedComponent, role: Option<&str>) -> Actor {
    Actor::component(&loaded.manifest.id, &loaded.sha256, loaded.world, &loaded.manifest.version.to_string(), role)
}

/// The audit outcome of a failed call into a component.
pub(crate) fn outcome(e: &CallError) -> Outcome {
    Outcome::from_label(e.outcome_label())
}
