//! Agent roles: components that import the host's capability-gated `llm` and `tools`.
//!
//! Every import call is checked against the component's grants; with an episode gate attached
//! ([`RoleInstance::attach_gate`]) it is also put to the policy and audited, and a denial
//! reaches the guest as a typed `denied` error naming the rule.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::Store;

use crate::bindings::role::eigenbox::role::{llm, tools};
use crate::bindings::role::RolePlugin;
use crate::bindings::{Requestor, ToolError, ToolErrorKind, ToolSpec};
use eigenbox_audit::Outcome;
use eigenbox_gate::{Actor, EpisodeGate, Stats};
use crate::component::LoadedComponent;
use crate::domain::DomainInstance;
use crate::error::CallError;
use crate::host::HostState;
use crate::{arm, classify, new_store};

pub use crate::bindings::role::exports::eigenbox::role::role::{StepInput, StepOutput};
pub use llm::{ChatRequest, ChatResponse, GeneratedToken, LlmError, TokenAlternative};

/// Where a role's `llm` calls go (an OpenAI-compatible endpoint, an embedded model, a script).
pub trait LlmBackend: Send + Sync {
    /// Run one chat completion. The error text reaches the guest as `llm-error::backend`.
    fn chat<'a>(&'a self, request: ChatRequest) -> Pin<Box<dyn Future<Output = Result<ChatResponse, String>> + Send + 'a>>;
}

/// One access a role made through the host, with the decision taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessRecord {
    /// `tool` or `llm`.
    pub action: String,
    /// `domain/tool` or the model name.
    pub target: String,
    /// Whether the host let it through.
    pub allowed: bool,
    /// `ok`, `tool-error`, `denied`, `backend-error`, or a sandbox failure label.
    pub outcome: String,
}

/// Host-side context of a role store.
pub(crate) struct RoleCtx {
    component: Arc<LoadedComponent>,
    domain: Option<(String, Arc<tokio::sync::Mutex<DomainInstance>>)>,
    llm: Option<Arc<dyn LlmBackend>>,
    log: Vec<AccessRecord>,
    gate: Option<(Arc<EpisodeGate>, Actor)>,
    /// The generated tokens of the current step's last `llm` call (none if it failed).
    tokens: Vec<GeneratedToken>,
}

impl RoleCtx {
    fn record(&mut self, action: &str, target: String, allowed: bool, outcome: &str) {
        self.log.push(AccessRecord { action: action.into(), target, allowed, outcome: outcome.into() });
    }
}

pub(crate) fn add_role_imports(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    llm::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    tools::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

/// An audit write that failed: the call already happened, so it is reported, not undone.
fn audited(r: Result<(), eigenbox_audit::AuditError>) {
    if let Err(e) = r {
        tracing::error!(error = %e, "audit record could not be written");
    }
}

fn no_role() -> String {
    "this store is not a role store".to_string()
}

impl llm::Host for HostState {
    async fn chat(&mut self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let model = request.model.clone();
        let backend = {
            let Some(ctx) = self.role.as_mut() else { return Err(LlmError::Denied(no_role())) };
            if !ctx.component.granted.may_use_llm(&model) {
                ctx.record("llm", model.clone(), false, "denied");
                return Err(LlmError::Denied(format!("`{}` has no `llm` grant for model `{model}`", ctx.component.manifest.id)));
            }
            let permit = match &ctx.gate {
                Some((gate, actor)) => match gate.before_llm(actor, &model, request.sampling.max_tokens.map(u64::from)) {
                    Ok(p) => Some((gate.clone(), p)),
                    Err(denied) => {
                        ctx.record("llm", model.clone(), false, "denied");
                        return Err(LlmError::Denied(denied.message()));
                    }
                },
                None => None,
            };
            let Some(backend) = ctx.llm.clone() else {
                ctx.record("llm", model.clone(), true, "backend-error");
                if let Some((gate, p)) = permit {
                    audited(gate.after_llm(p, Outcome::BackendError, 0, None));
                }
                return Err(LlmError::Backend("no LLM backend is configured for this episode".into()));
            };
            (backend, permit)
        };
        let (backend, permit) = backend;
        let waited = Instant::now();
        let result = backend.chat(request).await;
        self.host_wait += waited.elapsed();
        let ctx = self.role.as_mut().ok_or_else(|| LlmError::Denied(no_role()))?;
        match result {
            Ok(r) => {
                ctx.record("llm", model, true, "ok");
                if !r.tokens.is_empty() {
                    tracing::trace!(component = %ctx.component.manifest.id, tokens = r.tokens.len(), "llm answer with token log-probabilities");
                }
                ctx.tokens = r.tokens.clone();
                if let Some((gate, p)) = permit {
                    let tokens = u64::from(r.prompt_tokens) + u64::from(r.completion_tokens);
                    audited(gate.after_llm(p, Outcome::Ok, tokens, Some(r.message.content.as_deref().unwrap_or(""))));
                }
                Ok(r)
            }
            Err(e) => {
                ctx.tokens.clear();
                ctx.record("llm", model, true, "backend-error");
                if let Some((gate, p)) = permit {
                    audited(gate.after_llm(p, Outcome::BackendError, 0, Some(&e)));
                }
                Err(LlmError::Backend(e))
            }
        }
    }
}

impl tools::Host for HostState {
    async fn list_tools(&mut self, requestor: Requestor) -> Vec<ToolSpec> {
        let (domain, inst, granted) = {
            let Some(ctx) = self.role.as_ref() else { return Vec::new() };
            let Some((domain, inst)) = ctx.domain.clone() else { return Vec::new() };
            (domain, inst, ctx.component.granted.clone())
        };
        let waited = Instant::now();
        let tools = inst.lock().await.tools().await.unwrap_or_default();
        self.host_wait += waited.elapsed();
        tools.into_iter().filter(|t| t.requestor == requestor && granted.may_call_tool(&domain, &t.name)).collect()
    }

    async fn call(&mut self, requestor: Requestor, name: String, arguments: String) -> Result<String, ToolError> {
        let inst = {
            let Some(ctx) = self.role.as_mut() else {
                return Err(ToolError { kind: ToolErrorKind::Denied, message: no_role() });
            };
            let Some((domain, inst)) = ctx.domain.clone() else {
                ctx.record("tool", name.clone(), false, "denied");
                return Err(ToolError { kind: ToolErrorKind::Denied, message: "no domain is attached to this role".into() });
            };
            let target = format!("{domain}/{name}");
            if !ctx.component.granted.may_call_tool(&domain, &name) {
                let message = format!("`{}` is not granted tool `{target}`", ctx.component.manifest.id);
                ctx.record("tool", target, false, "denied");
                return Err(ToolError { kind: ToolErrorKind::Denied, message });
            }
            (inst, target, domain, ctx.gate.clone())
        };
        let (inst, target, domain, gate) = (inst.0, inst.1, inst.2, inst.3);
        let waited = Instant::now();
        let mut guard = inst.lock().await;
        let permit = match &gate {
            Some((gate, actor)) => {
                // A tool whose kind cannot be learnt is treated as a write (the stricter case).
                let write = guard.is_mutating(requestor, &name).await.map(|m| m.unwrap_or(false)).unwrap_or(true);
                let who = match requestor {
                    Requestor::Assistant => "assistant",
                    Requestor::User => "user",
                };
                match gate.before_tool(actor, who, &domain, &name, write, &arguments) {
                    Ok(p) => Some((gate.clone(), p)),
                    Err(denied) => {
                        drop(guard);
                        self.host_wait += waited.elapsed();
                        if let Some(ctx) = self.role.as_mut() {
                            ctx.record("tool", target, false, "denied");
                        }
                        return Err(ToolError { kind: ToolErrorKind::Denied, message: denied.message() });
                    }
                }
            }
            None => None,
        };
        let result = guard.call_tool(requestor, &name, &arguments).await;
        let last = guard.last_call();
        drop(guard);
        self.host_wait += waited.elapsed();
        if let Some((gate, p)) = permit {
            let stats = Stats { fuel: Some(last.fuel), memory_bytes: Some(last.peak_memory) };
            let (outcome, text) = match &result {
                Ok(Ok(t)) => (Outcome::Ok, Some(t.as_str())),
                Ok(Err(e)) => (Outcome::ToolError, Some(e.message.as_str())),
                Err(e) => (crate::mediation::outcome(e), None),
            };
            audited(gate.after_tool(p, outcome, text, stats));
        }
        let ctx = self.role.as_mut().ok_or_else(|| ToolError { kind: ToolErrorKind::Denied, message: no_role() })?;
        match result {
            Ok(Ok(text)) => {
                ctx.record("tool", target, true, "ok");
                Ok(text)
            }
            Ok(Err(e)) => {
                ctx.record("tool", target, true, "tool-error");
                Err(e)
            }
            Err(e) => {
                ctx.record("tool", target, true, e.outcome_label());
                Err(ToolError { kind: ToolErrorKind::Failed, message: format!("the domain failed: {e}") })
            }
        }
    }
}

/// A role component instance, attached to (at most) one episode's domain and one LLM backend.
pub struct RoleInstance {
    loaded: Arc<LoadedComponent>,
    store: Option<(Store<HostState>, RolePlugin)>,
    domain: Option<(String, Arc<tokio::sync::Mutex<DomainInstance>>)>,
    llm: Option<Arc<dyn LlmBackend>>,
    log: Vec<AccessRecord>,
    gate: Option<(Arc<EpisodeGate>, Actor)>,
    tokens: Vec<GeneratedToken>,
}

impl RoleInstance {
    /// A role instance with no domain and no LLM attached yet.
    pub async fn new(loaded: Arc<LoadedComponent>) -> Result<RoleInstance, CallError> {
        if loaded.world != eigenbox_manifest::World::Role {
            return Err(CallError::Instantiate(format!("`{}` is a {} component, not a role", loaded.manifest.id, loaded.world)));
        }
        let mut r = RoleInstance { loaded, store: None, domain: None, llm: None, log: Vec::new(), gate: None, tokens: Vec::new() };
        r.ensure_live().await?;
        Ok(r)
    }

    /// Attach the episode's domain (`name` is the domain name used in tool grants).
    pub fn attach_domain(&mut self, name: &str, domain: Arc<tokio::sync::Mutex<DomainInstance>>) {
        self.domain = Some((name.to_string(), domain));
        if let Some((s, _)) = self.store.as_mut() {
            if let Some(ctx) = s.data_mut().role.as_mut() {
                ctx.domain = self.domain.clone();
            }
        }
    }

    /// Attach an LLM backend.
    pub fn attach_llm(&mut self, llm: Arc<dyn LlmBackend>) {
        self.llm = Some(llm);
        if let Some((s, _)) = self.store.as_mut() {
            if let Some(ctx) = s.data_mut().role.as_mut() {
                ctx.llm = self.llm.clone();
            }
        }
    }

    /// Put every `tools` and `llm` call of this role to the episode's policy gate and audit
    /// it, as a component acting in `role` (e.g. `user-simulator`; used by policies as
    /// `principal in Eigenbox::Role::"user-simulator"`). The grants still apply first.
    pub fn attach_gate(&mut self, episode: Arc<EpisodeGate>, role: Option<&str>) {
        self.gate = Some((episode, crate::mediation::actor(&self.loaded, role)));
        if let Some((s, _)) = self.store.as_mut() {
            if let Some(ctx) = s.data_mut().role.as_mut() {
                ctx.gate = self.gate.clone();
            }
        }
    }

    /// Every access the role made through the host, allowed or denied.
    pub fn access_log(&self) -> Vec<AccessRecord> {
        let mut all = self.log.clone();
        if let Some((s, _)) = &self.store {
            if let Some(ctx) = &s.data().role {
                all.extend(ctx.log.iter().cloned());
            }
        }
        all
    }

    /// The generated tokens (text, id where the backend gives it, log-probability, alternatives)
    /// of the last `llm` call the last [`RoleInstance::step`] made, as the host received them
    /// from the backend; empty when that step made no call, its request did not ask for
    /// `logprobs`, or the backend returned none. A role whose output message is its model's
    /// answer (the user simulator) thereby gets its generation recorded without having to, or
    /// being able to, report it itself.
    pub fn last_step_tokens(&self) -> &[GeneratedToken] {
        &self.tokens
    }

    async fn ensure_live(&mut self) -> Result<(), CallError> {
        if self.store.is_some() {
            return Ok(());
        }
        let mut store = new_store(self.loaded.runtime.engine(), &self.loaded);
        store.data_mut().role = Some(RoleCtx {
            component: self.loaded.clone(),
            domain: self.domain.clone(),
            llm: self.llm.clone(),
            log: Vec::new(),
            gate: self.gate.clone(),
            tokens: Vec::new(),
        });
        arm(&mut store, &self.loaded);
        let instance = self.loaded.pre.instantiate_async(&mut store).await.map_err(|e| CallError::Instantiate(format!("{e:#}")))?;
        let bindings = RolePlugin::new(&mut store, &instance).map_err(|e| CallError::Instantiate(format!("{e:#}")))?;
        self.store = Some((store, bindings));
        Ok(())
    }

    /// Run one step of the role.
    ///
    /// The deadline covers the guest's own time in the step; time spent waiting on host calls
    /// (LLM round trips, domain tools) is not counted (the LLM client has its own timeouts).
    pub async fn step(&mut self, input: StepInput) -> Result<Result<StepOutput, String>, CallError> {
        self.ensure_live().await?;
        self.tokens.clear();
        let started = Instant::now();
        let Some((store, bindings)) = self.store.as_mut() else { return Err(CallError::Instantiate("no live instance".into())) };
        arm(store, &self.loaded);
        if let Some(ctx) = store.data_mut().role.as_mut() {
            ctx.tokens.clear();
        }
        let r = bindings.eigenbox_role_role().call_step(&mut *store, &input).await;
        tracing::debug!(component = %self.loaded.manifest.id, elapsed_ms = started.elapsed().as_millis() as u64, "role step");
        if let Some(ctx) = store.data_mut().role.as_mut() {
            self.tokens = std::mem::take(&mut ctx.tokens);
        }
        match r {
            Ok(v) => Ok(v),
            Err(e) => {
                let err = classify(e, store, &self.loaded);
                if let Some(ctx) = &store.data().role {
                    self.log.extend(ctx.log.iter().cloned());
                }
                self.store = None;
                Err(err)
            }
        }
    }
}
