//! The gate every mediated access passes: it asks the policy ([`eigenbox_policy::Engine`]),
//! keeps the episode's counters ([`eigenbox_policy::EpisodeBudget`]) and appends one audit
//! record ([`eigenbox_audit::Record`]) per access, allowed or denied.
//!
//! Used by the runtime for a role's `tools`/`llm` imports and for capability decisions at load,
//! and by an episode orchestrator around each agent tool call:
//!
//! ```
//! use std::sync::Arc;
//! use eigenbox_gate::{Actor, EpisodeInfo, Gate, Stats};
//! use eigenbox_policy::Engine;
//!
//! let engine = Engine::load(&["../../config/policy/examples/strict.cedar".into()], None)?;
//! let gate = Arc::new(Gate::new(Arc::new(engine), None));
//! let episode = gate.episode(EpisodeInfo { run: None, episode: "ep-1".into(), user: Some("user_1".into()) });
//! let agent = Actor::agent("assistant", "assistant");
//!
//! // A write before the user said "yes": denied, naming the rule; the episode goes on.
//! let denied = episode.before_tool(&agent, "assistant", "mock", "create_task", true, r#"{"user_id": "user_1", "title": "x"}"#).unwrap_err();
//! assert_eq!(denied.rule(), "write-needs-confirmation");
//!
//! episode.note_user_message("Yes, please.");
//! let permit = episode.before_tool(&agent, "assistant", "mock", "create_task", true, r#"{"user_id": "user_1", "title": "x"}"#).unwrap();
//! // ... run the tool ...
//! episode.after_tool(permit, eigenbox_audit::Outcome::Ok, Some("{\"task_id\": \"task_2\"}"), Stats::default());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Denials are values ([`Denied`]), never panics: the caller turns one into the typed error its
//! caller sees (a `denied` tool error naming the rule, an `llm-error::denied`, a load refusal).
//! Audit failures never turn an allowed call into a crash either: [`EpisodeGate::after_tool`]
//! reports them, and the runtime logs them.

#![warn(missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eigenbox_audit::{ActionKind, AuditError, AuditLog, DecisionRecord, Outcome, Record};
use eigenbox_policy::{Action, Context, Counters, Decision, Engine, EpisodeBudget, Principal, Request, Resource};

/// Who is asking: the policy's principal and the audit record's actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The policy principal.
    pub principal: Principal,
    /// What audit records say about it.
    pub audit: eigenbox_audit::Actor,
}

impl Actor {
    /// An agent of an episode (`Eigenbox::Agent::"name"` in `Eigenbox::Role::"role"`).
    pub fn agent(name: &str, role: &str) -> Actor {
        Actor {
            principal: Principal::agent(name, [role]),
            audit: eigenbox_audit::Actor { component: name.to_string(), sha256: None, wit: None, role: Some(role.to_string()) },
        }
    }

    /// A component, from what the host knows after loading it. `role` is the role it acts in,
    /// if any; its world (`domain`, `checker`, `role`) is always one of its roles.
    pub fn component(id: &str, sha256: &str, world: eigenbox_manifest::World, version: &str, role: Option<&str>) -> Actor {
        let world_name = match world {
            eigenbox_manifest::World::Domain => "domain",
            eigenbox_manifest::World::Checker | eigenbox_manifest::World::CheckerRuntime => "checker",
            eigenbox_manifest::World::Role => "role",
        };
        Actor {
            principal: Principal::Component {
                id: id.to_string(),
                sha256: sha256.to_string(),
                world: world_name.to_string(),
                version: version.to_string(),
                wit: world.wit_name().to_string(),
                roles: role.map(|r| vec![r.to_string()]).unwrap_or_default(),
            },
            audit: eigenbox_audit::Actor { component: id.to_string(), sha256: Some(sha256.to_string()), wit: Some(world.wit_name().to_string()), role: role.map(str::to_string) },
        }
    }
}

/// A request the policy refused. Show [`Denied::message`] to whoever asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct Denied {
    /// The decision, with the rules and the reason.
    pub decision: Decision,
}

impl Denied {
    /// The deciding rule (`default-deny` when nothing permitted the request).
    pub fn rule(&self) -> &str {
        self.decision.rule()
    }

    /// `denied by policy rule `<id>`: <reason>`.
    pub fn message(&self) -> String {
        format!("denied by policy rule `{}`: {}", self.rule(), self.decision.reason)
    }
}

/// Resource use of the access, when it ran in a component.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Fuel consumed.
    pub fuel: Option<u64>,
    /// Peak linear memory, bytes.
    pub memory_bytes: Option<u64>,
}

/// Who the episode is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpisodeInfo {
    /// Run id, if the episode belongs to one.
    pub run: Option<String>,
    /// Episode id.
    pub episode: String,
    /// The authenticated user, when the episode has one.
    pub user: Option<String>,
}

/// The host's gate: one policy, one (optional) audit log. Share it as `Arc<Gate>`.
#[derive(Debug)]
pub struct Gate {
    engine: Arc<Engine>,
    audit: Option<Arc<AuditLog>>,
}

fn decision_record(d: &Decision) -> DecisionRecord {
    DecisionRecord { allow: d.allow, rules: d.rules.clone(), policy_hash: d.policy_hash.clone(), reason: d.reason.clone() }
}

impl Gate {
    /// A gate over a policy and, optionally, an audit log.
    pub fn new(engine: Arc<Engine>, audit: Option<Arc<AuditLog>>) -> Gate {
        Gate { engine, audit }
    }

    /// The policy.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The audit log, if any.
    pub fn audit(&self) -> Option<&Arc<AuditLog>> {
        self.audit.as_ref()
    }

    /// Start an episode: its own counters, its own confirmation flag.
    pub fn episode(self: &Arc<Self>, info: EpisodeInfo) -> Arc<EpisodeGate> {
        Arc::new(EpisodeGate { gate: self.clone(), info, budget: Mutex::new(EpisodeBudget::new()) })
    }

    fn append(&self, record: Record) -> Result<(), AuditError> {
        match &self.audit {
            Some(log) => log.append(record).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Make every buffered audit record durable (acknowledged).
    pub fn commit(&self) -> Result<(), AuditError> {
        match &self.audit {
            Some(log) => log.commit().map(|_| ()),
            None => Ok(()),
        }
    }

    /// Ask about one capability a component requests at load (`clock`, `env:HOME`,
    /// `tools:airline/*`, ...), and audit the answer.
    pub fn check_capability(&self, actor: &Actor, capability: &str) -> Result<Decision, Denied> {
        let resource = Resource::Capability(capability.to_string());
        let d = self.engine.decide_or_deny(&Request { principal: &actor.principal, action: Action::Capability, resource: &resource, context: Context::default() });
        let outcome = if d.allow { Outcome::Ok } else { Outcome::Denied };
        // A load decision that cannot be audited is still a decision; the error surfaces at commit.
        let _ = self.append(Record::new(actor.audit.clone(), ActionKind::Capability, capability, decision_record(&d), outcome));
        if d.allow {
            Ok(d)
        } else {
            Err(Denied { decision: d })
        }
    }

    /// Ask about every capability a manifest requests; the first refusal per capability is
    /// returned with its capability string. Commits the audit records.
    pub fn check_load(&self, manifest: &eigenbox_manifest::Manifest, sha256: &str) -> Result<(), Vec<(String, Denied)>> {
        let actor = Actor::component(&manifest.id, sha256, manifest.world(), &manifest.version.to_string(), None);
        let denials: Vec<(String, Denied)> = requested_capabilities(&manifest.capabilities).into_iter().filter_map(|c| self.check_capability(&actor, &c).err().map(|d| (c, d))).collect();
        let _ = self.commit();
        if denials.is_empty() {
            Ok(())
        } else {
            Err(denials)
        }
    }
}

/// The capabilities a manifest requests, in manifest syntax: `clock`, `random`, `env:NAME`,
/// `filesystem:/path` (`filesystem-write:/path` when writable), `network:host:port`, `llm` /
/// `llm:model`, `tools:domain/tool`.
pub fn requested_capabilities(c: &eigenbox_manifest::Capabilities) -> Vec<String> {
    let mut out = Vec::new();
    if c.clock {
        out.push("clock".to_string());
    }
    if c.random {
        out.push("random".to_string());
    }
    out.extend(c.env.iter().map(|v| format!("env:{v}")));
    out.extend(c.filesystem.iter().map(|d| format!("{}:{}", if d.write { "filesystem-write" } else { "filesystem" }, d.path.display())));
    out.extend(c.network.iter().map(|n| format!("network:{n}")));
    out.extend(c.llm.iter().map(|m| if m == "*" { "llm".to_string() } else { format!("llm:{m}") }));
    out.extend(c.tools.iter().map(|t| format!("tools:{t}")));
    out
}

/// One allowed access in flight: hand it back to [`EpisodeGate::after_tool`] /
/// [`EpisodeGate::after_llm`] when it ends. Dropped without that, it is audited as `pending`.
#[derive(Debug)]
pub struct Permit {
    record: Option<Record>,
    started: Instant,
    gate: Arc<Gate>,
    /// The decision that let it through.
    pub decision: Decision,
}

impl Permit {
    fn finish(mut self, outcome: Outcome, result: Option<&str>, stats: Stats) -> Result<(), AuditError> {
        let Some(mut r) = self.record.take() else { return Ok(()) };
        r.outcome = outcome;
        if let Some(text) = result {
            r = r.with_result(text);
        }
        r.wall_us = Some(u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX));
        r.fuel = stats.fuel;
        r.memory_bytes = stats.memory_bytes;
        self.gate.append(r)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(mut r) = self.record.take() {
            r.wall_us = Some(u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX));
            let _ = self.gate.append(r);
        }
    }
}

/// The gate of one episode. Shared (`Arc`) by everything acting in the episode.
#[derive(Debug)]
pub struct EpisodeGate {
    gate: Arc<Gate>,
    info: EpisodeInfo,
    budget: Mutex<EpisodeBudget>,
}

impl EpisodeGate {
    fn budget(&self) -> std::sync::MutexGuard<'_, EpisodeBudget> {
        self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The episode.
    pub fn info(&self) -> &EpisodeInfo {
        &self.info
    }

    /// The counters now.
    pub fn counters(&self) -> Counters {
        self.budget().counters(None)
    }

    /// Look at a user message for an explicit confirmation (see
    /// [`eigenbox_policy::is_explicit_confirmation`]); returns whether the user has confirmed.
    pub fn note_user_message(&self, text: &str) -> bool {
        self.budget().note_user_message(text)
    }

    /// Set the confirmation flag directly.
    pub fn set_confirmed(&self, yes: bool) {
        self.budget().set_confirmed(yes)
    }

    fn record(&self, actor: &Actor, action: ActionKind, target: String, d: &Decision, outcome: Outcome) -> Record {
        let mut r = Record::new(actor.audit.clone(), action, target, decision_record(d), outcome);
        r.run = self.info.run.clone();
        r.episode = Some(self.info.episode.clone());
        r
    }

    /// Before a tool call: may `actor` call `domain/tool` (a write when `write`) with these
    /// arguments (JSON text)? Allowed: a [`Permit`] to finish with [`EpisodeGate::after_tool`].
    /// Denied: the refusal, already audited.
    pub fn before_tool(&self, actor: &Actor, requestor: &str, domain: &str, tool: &str, write: bool, args: &str) -> Result<Permit, Denied> {
        let resource = Resource::tool(domain, tool);
        let target = resource.target();
        let parsed: Option<serde_json::Value> = serde_json::from_str(args).ok();
        // Arguments that are not JSON reach a policy that reads them as a string, which it
        // refuses (fail closed); a policy that never reads arguments lets the tool answer.
        let fallback = serde_json::Value::String(args.to_string());
        let mut budget = self.budget();
        let context = Context {
            episode: &self.info.episode,
            run: self.info.run.as_deref(),
            user: self.info.user.as_deref(),
            requestor: Some(requestor),
            args: Some(parsed.as_ref().unwrap_or(&fallback)),
            counters: budget.counters(Some(&target)),
            confirmed: budget.confirmed(),
            max_tokens: None,
        };
        let action = if write { Action::ToolWrite } else { Action::ToolRead };
        let d = self.gate.engine.decide_or_deny(&Request { principal: &actor.principal, action, resource: &resource, context });
        if !d.allow {
            budget.record_denied();
            drop(budget);
            let _ = self.gate.append(self.record(actor, ActionKind::Tool, target, &d, Outcome::Denied).with_args(args));
            return Err(Denied { decision: d });
        }
        budget.record_tool(&target, write);
        drop(budget);
        let record = self.record(actor, ActionKind::Tool, target, &d, Outcome::Pending).with_args(args);
        Ok(Permit { record: Some(record), started: Instant::now(), gate: self.gate.clone(), decision: d })
    }

    /// After an allowed tool call: how it ended, its result text (hashed), its resource use.
    pub fn after_tool(&self, permit: Permit, outcome: Outcome, result: Option<&str>, stats: Stats) -> Result<(), AuditError> {
        permit.finish(outcome, result, stats)
    }

    /// Before an LLM call to `model` (asking for up to `max_tokens`, when it says).
    pub fn before_llm(&self, actor: &Actor, model: &str, max_tokens: Option<u64>) -> Result<Permit, Denied> {
        let resource = Resource::Model(model.to_string());
        let mut budget = self.budget();
        let context = Context { episode: &self.info.episode, run: self.info.run.as_deref(), counters: budget.counters(None), max_tokens, ..Context::default() };
        let d = self.gate.engine.decide_or_deny(&Request { principal: &actor.principal, action: Action::Llm, resource: &resource, context });
        if !d.allow {
            budget.record_denied();
            drop(budget);
            let _ = self.gate.append(self.record(actor, ActionKind::Llm, model.to_string(), &d, Outcome::Denied));
            return Err(Denied { decision: d });
        }
        budget.record_llm();
        drop(budget);
        let record = self.record(actor, ActionKind::Llm, model.to_string(), &d, Outcome::Pending);
        Ok(Permit { record: Some(record), started: Instant::now(), gate: self.gate.clone(), decision: d })
    }

    /// After an allowed LLM call: how it ended and the tokens it used (counted against the
    /// episode's token budget).
    pub fn after_llm(&self, permit: Permit, outcome: Outcome, tokens: u64, result: Option<&str>) -> Result<(), AuditError> {
        self.budget().record_tokens(tokens);
        permit.finish(outcome, result, Stats::default())
    }

    /// The episode is over: make its audit records durable.
    pub fn finish(&self) -> Result<(), AuditError> {
        self.gate.commit()
    }

    /// Time since the episode started.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.budget().counters(None).elapsed_ms)
    }
}
