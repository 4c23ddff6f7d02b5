//! `--policy` on the commands that make agent tool calls (`call`, `replay`): every call then
//! passes the policy gate and is written to the store's audit log.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use eigenbox_audit::{AuditConfig, AuditLog, LogKey};
use eigenbox_gate::{Actor, EpisodeGate, EpisodeInfo, Gate};
use eigenbox_policy::Engine;
use eigenbox_store::Store;

/// Policy options of a command that makes tool calls.
#[derive(Args, Debug, Clone, Default)]
pub struct PolicyOpts {
    /// Decide every tool call with these Cedar policy files (and audit it in the store);
    /// without it, only the grants apply.
    #[arg(long = "policy", value_name = "FILE")]
    pub policy: Vec<PathBuf>,
    /// The episode's authenticated user, for rules that read `context.user`.
    #[arg(long = "as-user", value_name = "USER_ID", requires = "policy")]
    pub user: Option<String>,
    /// Start the episode with the user's explicit confirmation given (for rules that need one).
    #[arg(long, requires = "policy")]
    pub confirmed: bool,
}

/// The gate for these options, `None` without `--policy`. The audit log lives in the store,
/// signed with `<store>/audit.key` when it exists (`eigenbox audit init` creates it).
pub fn gate(opts: &PolicyOpts, store: &Store) -> Result<Option<Arc<Gate>>> {
    if opts.policy.is_empty() {
        return Ok(None);
    }
    let engine = Engine::load(&opts.policy, None)?;
    let key_path = store.path().join("audit.key");
    let key = if key_path.exists() { Some(LogKey::load(&key_path).with_context(|| format!("loading {}", key_path.display()))?) } else { None };
    let log = AuditLog::open(store.db(), key, AuditConfig::default())?;
    Ok(Some(Arc::new(Gate::new(Arc::new(engine), Some(Arc::new(log))))))
}

/// One episode of `gate`, with the options' user and confirmation.
pub fn episode(gate: &Arc<Gate>, opts: &PolicyOpts, run: Option<String>, episode: String) -> Arc<EpisodeGate> {
    let e = gate.episode(EpisodeInfo { run, episode, user: opts.user.clone() });
    if opts.confirmed {
        e.set_confirmed(true);
    }
    e
}

/// The actors of a CLI-driven episode.
pub fn actors() -> (Actor, Actor) {
    (Actor::agent("cli", "assistant"), Actor::agent("cli-user", "user"))
}
