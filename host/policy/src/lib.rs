//! Policy decisions for every access the eigenbox host mediates, in [Cedar](https://www.cedarpolicy.com)
//! (`cedar-policy` 4.14, Apache-2.0).
//!
//! The host asks one question before each mediated access — a role's or an agent's tool call,
//! an LLM call, a capability a component requests at load — and gets a [`Decision`]: allow or
//! deny, the rules that decided, the hash of the policy that was in force, and a reason a
//! person (or the agent, as a tool error) can read.
//!
//! * **Files an operator reviews.** Policies are `.cedar` files; the schema they are validated
//!   against is built in ([`SCHEMA`], printed by `eigenbox policy schema`) or a `.cedarschema`
//!   file the operator ships next to them. Every policy is validated (strict mode) when it is
//!   loaded; a parse or type error is a [`PolicyError`] naming the file, line and column.
//! * **Rules have names.** `@id("write-needs-confirmation")` names a rule; denials and audit
//!   records carry it. An optional `@reason("...")` is shown to whoever was denied.
//! * **Default deny.** With no permitting rule the answer is deny. A rule that cannot be
//!   evaluated on a request (an argument of the wrong type, say) makes the answer deny too
//!   (fail closed), naming the rule.
//! * **Context.** The host passes the episode id, the authenticated user, the tool's arguments
//!   (JSON, converted to Cedar values: numbers become `decimal`), per-episode counters kept in an
//!   [`EpisodeBudget`] (tool calls, writes, LLM tokens, ...) and whether the user explicitly
//!   confirmed since the last write.
//!
//! No wasmtime here: the engine is usable by the CLI (`eigenbox policy check`), by auditors and
//! by any host that mediates tool calls (see the `eigenbox-gate` crate).
//!
//! ```
//! use eigenbox_policy::{Action, Context, Engine, Principal, Request, Resource};
//! use serde_json::json;
//!
//! let engine = Engine::from_sources(None, &[("rules.cedar", r#"
//!     @id("agents-may-read")
//!     permit(principal is Eigenbox::Agent, action == Eigenbox::Action::"tool-read", resource);
//!
//!     @id("own-account-writes")
//!     permit(principal is Eigenbox::Agent, action == Eigenbox::Action::"tool-write", resource)
//!     when { context has user && context.args has user_id && context.args.user_id == context.user };
//!
//!     @id("amount-limit") @reason("amounts of 500 or more need a human")
//!     forbid(principal, action in Eigenbox::Action::"tool", resource)
//!     when { context.args has amount && context.args.amount.greaterThanOrEqual(decimal("500.0")) };
//! "#)])?;
//!
//! let agent = Principal::agent("assistant", ["assistant"]);
//! let tool = Resource::tool("airline", "send_certificate");
//! let args = json!({"user_id": "mia_li_3668", "amount": 750});
//! let mut ctx = Context::episode("ep-1");
//! ctx.user = Some("mia_li_3668");
//! ctx.args = Some(&args);
//! let d = engine.decide(&Request { principal: &agent, action: Action::ToolWrite, resource: &tool, context: ctx })?;
//! assert!(!d.allow);
//! assert_eq!(d.rules, ["amount-limit"]);
//! assert!(d.reason.contains("need a human"));
//! # Ok::<(), eigenbox_policy::PolicyError>(())
//! ```

#![warn(missing_docs)]

mod budget;
mod compiled;
mod convert;
mod error;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use cedar_policy::{Authorizer, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId, PolicySet, RestrictedExpression, Schema, ValidationMode, Validator};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use budget::{is_explicit_confirmation, Counters, EpisodeBudget};
pub use error::{Location, PolicyError, Problem};

/// The built-in Cedar schema (`eigenbox policy schema` prints it).
pub const SCHEMA: &str = include_str!("eigenbox.cedarschema");

/// Stack Cedar needs left (above its own 100 KiB check) before a decision runs in place.
const STACK_RED_ZONE: usize = 256 * 1024;
/// Stack of the segment a decision runs on when there is less.
const STACK_SEGMENT: usize = 1024 * 1024;

/// The Cedar version this crate evaluates policies with.
pub const CEDAR_VERSION: &str = "cedar-policy 4.14.1";

/// What is being asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// A tool that only reads (or thinks): `Eigenbox::Action::"tool-read"`.
    ToolRead,
    /// A tool that may change state: `Eigenbox::Action::"tool-write"`.
    ToolWrite,
    /// A chat completion: `Eigenbox::Action::"llm"`.
    Llm,
    /// A capability requested at load: `Eigenbox::Action::"capability"`.
    Capability,
}

impl Action {
    /// The Cedar action id.
    pub fn cedar_id(self) -> &'static str {
        match self {
            Action::ToolRead => "tool-read",
            Action::ToolWrite => "tool-write",
            Action::Llm => "llm",
            Action::Capability => "capability",
        }
    }
}

/// Who asks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A WASM component (`Eigenbox::Component::"<id>"`).
    Component {
        /// Manifest id, `namespace:name`.
        id: String,
        /// sha256 of its wasm.
        sha256: String,
        /// `domain`, `checker` or `role`.
        world: String,
        /// Its version.
        version: String,
        /// The WIT world it implements.
        wit: String,
        /// Roles it acts in (`Eigenbox::Role` parents). The world name is always one of them.
        roles: Vec<String>,
    },
    /// An agent in an episode (`Eigenbox::Agent::"<name>"`).
    Agent {
        /// Its name.
        name: String,
        /// Roles it acts in (`Eigenbox::Role` parents).
        roles: Vec<String>,
    },
}

impl Principal {
    /// An agent in some roles.
    pub fn agent<I: IntoIterator<Item = S>, S: Into<String>>(name: &str, roles: I) -> Principal {
        Principal::Agent { name: name.to_string(), roles: roles.into_iter().map(Into::into).collect() }
    }

    /// A short label for logs and audit records: the component id or agent name.
    pub fn label(&self) -> &str {
        match self {
            Principal::Component { id, .. } => id,
            Principal::Agent { name, .. } => name,
        }
    }
}

/// What it is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// A domain tool: `Eigenbox::Tool::"domain/name"` in `Eigenbox::Domain::"domain"`.
    Tool {
        /// Domain name.
        domain: String,
        /// Tool name.
        name: String,
    },
    /// A model: `Eigenbox::Model::"name"`.
    Model(String),
    /// A capability, in manifest syntax (`clock`, `env:HOME`, `tools:airline/*`, ...).
    Capability(String),
}

impl Resource {
    /// A domain tool.
    pub fn tool(domain: &str, name: &str) -> Resource {
        Resource::Tool { domain: domain.to_string(), name: name.to_string() }
    }

    /// `domain/tool`, the model name, or the capability.
    pub fn target(&self) -> String {
        match self {
            Resource::Tool { domain, name } => format!("{domain}/{name}"),
            Resource::Model(m) => m.clone(),
            Resource::Capability(c) => c.clone(),
        }
    }
}

/// What the host tells the policy about one request. Fields that do not apply to the action
/// are left out of the Cedar context.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// Episode id (tool and llm).
    pub episode: &'a str,
    /// Run id, if the episode belongs to one.
    pub run: Option<&'a str>,
    /// The episode's authenticated user.
    pub user: Option<&'a str>,
    /// `assistant` or `user`: which of τ²-bench's tool sets the call is made from.
    pub requestor: Option<&'a str>,
    /// The tool call's arguments (a JSON object).
    pub args: Option<&'a serde_json::Value>,
    /// Counters before this request.
    pub counters: Counters,
    /// Whether the user explicitly confirmed since the last write.
    pub confirmed: bool,
    /// Tokens an LLM request asks for, when it says.
    pub max_tokens: Option<u64>,
}

impl<'a> Context<'a> {
    /// A context for `episode` with everything else empty.
    pub fn episode(episode: &'a str) -> Context<'a> {
        Context { episode, ..Context::default() }
    }
}

/// One question to the engine.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who asks.
    pub principal: &'a Principal,
    /// For what.
    pub action: Action,
    /// On what.
    pub resource: &'a Resource,
    /// With what context.
    pub context: Context<'a>,
}

/// The engine's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Allowed?
    pub allow: bool,
    /// The rules that decided (permits for an allow; forbids, or the erroring rules, for a
    /// deny; empty for a default deny).
    pub rules: Vec<String>,
    /// sha256 of the policy in force (schema and every policy file).
    pub policy_hash: String,
    /// Why, in words.
    pub reason: String,
}

impl Decision {
    /// The first deciding rule, or `default-deny` when nothing permitted the request.
    pub fn rule(&self) -> &str {
        self.rules.first().map(String::as_str).unwrap_or(if self.allow { "allow" } else { "default-deny" })
    }
}

/// What a rule is, for reasons and `eigenbox policy check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Its `@id`, or `<file>#<n>` (the n-th policy in the file) without one.
    pub id: String,
    /// `permit` or `forbid`.
    pub effect: String,
    /// Its `@reason`, if any.
    pub reason: Option<String>,
    /// The file it came from.
    pub file: String,
}

type EntityCache = HashMap<Principal, HashMap<Resource, Arc<Entities>>>;

struct Types {
    component: EntityTypeName,
    agent: EntityTypeName,
    role: EntityTypeName,
    tool: EntityTypeName,
    domain: EntityTypeName,
    model: EntityTypeName,
    capability: EntityTypeName,
    actions: [EntityUid; 4],
}

impl Types {
    fn new() -> Result<Types, PolicyError> {
        let t = |s: &str| EntityTypeName::from_str(s).map_err(|e| PolicyError::Internal(format!("entity type {s}: {e}")));
        let action = |s: &str| -> Result<EntityUid, PolicyError> { Ok(EntityUid::from_type_name_and_id(t("Eigenbox::Action")?, EntityId::new(s))) };
        Ok(Types {
            component: t("Eigenbox::Component")?,
            agent: t("Eigenbox::Agent")?,
            role: t("Eigenbox::Role")?,
            tool: t("Eigenbox::Tool")?,
            domain: t("Eigenbox::Domain")?,
            model: t("Eigenbox::Model")?,
            capability: t("Eigenbox::Capability")?,
            actions: [action("tool-read")?, action("tool-write")?, action("llm")?, action("capability")?],
        })
    }

    fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    }

    fn action(&self, a: Action) -> &EntityUid {
        &self.actions[action_index(a)]
    }

    fn principal_uid(&self, p: &Principal) -> EntityUid {
        match p {
            Principal::Component { id, .. } => Self::uid(&self.component, id),
            Principal::Agent { name, .. } => Self::uid(&self.agent, name),
        }
    }

    fn resource_uid(&self, r: &Resource) -> EntityUid {
        match r {
            Resource::Tool { domain, name } => Self::uid(&self.tool, &format!("{domain}/{name}")),
            Resource::Model(m) => Self::uid(&self.model, m),
            Resource::Capability(c) => Self::uid(&self.capability, c),
        }
    }
}

fn action_index(a: Action) -> usize {
    match a {
        Action::ToolRead => 0,
        Action::ToolWrite => 1,
        Action::Llm => 2,
        Action::Capability => 3,
    }
}

/// Split the rules by the actions and principal types their scopes can match.
type Slices = [[(PolicySet, convert::Usage, Option<compiled::Compiled>); 2]; 4];

fn slice(set: &PolicySet, schema: &Schema, t: &Types) -> Result<Slices, PolicyError> {
    let actions = Entities::from_entities([], Some(schema)).map_err(|e| PolicyError::Internal(format!("schema actions: {e}")))?;
    let mut out: Slices = Default::default();
    // Each action's ancestors in the schema's action hierarchy (itself included), for the
    // compiled fast path's `action in ...`.
    let ancestors: [HashSet<String>; 4] = std::array::from_fn(|i| {
        let action = &t.actions[i];
        actions.iter().map(|e| e.uid()).filter(|g| g == action || actions.is_ancestor_of(g, action)).map(|g| g.id().unescaped().to_string()).collect()
    });
    for (ai, action) in t.actions.iter().enumerate() {
        for (pi, ptype) in [&t.agent, &t.component].into_iter().enumerate() {
            for p in set.policies() {
                let action_ok = match p.action_constraint() {
                    cedar_policy::ActionConstraint::Any => true,
                    cedar_policy::ActionConstraint::Eq(a) => &a == action,
                    cedar_policy::ActionConstraint::In(groups) => groups.iter().any(|g| g == action || actions.is_ancestor_of(g, action)),
                };
                let principal_ok = match p.principal_constraint() {
                    cedar_policy::PrincipalConstraint::Any | cedar_policy::PrincipalConstraint::In(_) => true,
                    cedar_policy::PrincipalConstraint::Eq(uid) => uid.type_name() == ptype,
                    cedar_policy::PrincipalConstraint::Is(ty) | cedar_policy::PrincipalConstraint::IsIn(ty, _) => &ty == ptype,
                };
                if action_ok && principal_ok {
                    out[ai][pi].0.add(p.clone()).map_err(|e| PolicyError::Internal(e.to_string()))?;
                }
            }
            out[ai][pi].1 = convert::Usage::of(out[ai][pi].0.policies());
            let rules: Option<Vec<(String, serde_json::Value)>> = out[ai][pi].0.policies().map(|p| p.to_json().ok().map(|j| (p.id().to_string(), j))).collect();
            out[ai][pi].2 = rules.and_then(|r| compiled::Compiled::new(&r, ancestors.clone()));
        }
    }
    Ok(out)
}

/// A loaded, validated policy: ask it with [`Engine::decide`]. Cheap to share (`Arc`), safe to
/// call from many threads.
pub struct Engine {
    schema: Schema,
    policies: PolicySet,
    /// The rules whose scope can match, per action and principal kind (component = index 1):
    /// Cedar evaluates every rule it is given, so each request gets only its slice.
    slices: Slices,
    /// Entity type names as strings, for the compiled fast path.
    type_names: compiled::TypeNames,
    rules: HashMap<PolicyId, RuleInfo>,
    hash: String,
    files: Vec<String>,
    types: Types,
    authorizer: Authorizer,
    entities: RwLock<EntityCache>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("files", &self.files).field("rules", &self.rules.len()).field("hash", &self.hash).finish()
    }
}

impl Engine {
    /// Load policies from files and directories (every `*.cedar` directly inside a directory,
    /// in name order). The schema is `schema` when given, else a single `*.cedarschema` file
    /// found in a given directory, else the built-in [`SCHEMA`].
    pub fn load(paths: &[PathBuf], schema: Option<&Path>) -> Result<Engine, PolicyError> {
        let mut files: Vec<PathBuf> = Vec::new();
        let mut found_schemas: Vec<PathBuf> = Vec::new();
        for p in paths {
            if p.is_dir() {
                let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                    .map_err(|source| PolicyError::Io { path: p.clone(), source })?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.is_file())
                    .collect();
                inside.sort();
                for f in inside {
                    match f.extension().and_then(|e| e.to_str()) {
                        Some("cedar") => files.push(f),
                        Some("cedarschema") => found_schemas.push(f),
                        _ => {}
                    }
                }
            } else if p.exists() {
                files.push(p.clone());
            } else {
                return Err(PolicyError::Io { path: p.clone(), source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory") });
            }
        }
        if files.is_empty() {
            return Err(PolicyError::NoPolicies(paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")));
        }
        let schema_file = match (schema, found_schemas.len()) {
            (Some(s), _) => Some(s.to_path_buf()),
            (None, 0) => None,
            (None, 1) => found_schemas.pop(),
            (None, _) => return Err(PolicyError::Schema(Problem::plain("(policy directory)", format!("more than one .cedarschema file: {}", found_schemas.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "))))),
        };
        let read = |p: &Path| std::fs::read_to_string(p).map_err(|source| PolicyError::Io { path: p.to_path_buf(), source });
        let schema_text = match &schema_file {
            Some(f) => Some((f.display().to_string(), read(f)?)),
            None => None,
        };
        let mut sources = Vec::new();
        for f in &files {
            sources.push((f.display().to_string(), read(f)?));
        }
        let refs: Vec<(&str, &str)> = sources.iter().map(|(n, s)| (n.as_str(), s.as_str())).collect();
        Engine::from_sources(schema_text.as_ref().map(|(n, s)| (n.as_str(), s.as_str())), &refs)
    }

    /// Build an engine from in-memory sources: an optional `(name, schema text)` (default: the
    /// built-in [`SCHEMA`]) and `(name, policy text)` pairs.
    pub fn from_sources(schema: Option<(&str, &str)>, policies: &[(&str, &str)]) -> Result<Engine, PolicyError> {
        let (schema_name, schema_src) = schema.unwrap_or(("(built-in schema)", SCHEMA));
        let (schema, _warnings) = Schema::from_cedarschema_str(schema_src).map_err(|e| PolicyError::Schema(Problem::from_diagnostic(schema_name, schema_src, &e)))?;
        let mut set = PolicySet::new();
        let mut rules = HashMap::new();
        let mut by_id: BTreeMap<String, String> = BTreeMap::new();
        let mut origin: HashMap<PolicyId, (String, String)> = HashMap::new();
        let mut hasher = Sha256::new();
        hasher.update(b"eigenbox-policy/1\0");
        hasher.update(schema_src.as_bytes());
        for (name, src) in policies {
            hasher.update(b"\0");
            hasher.update(name.as_bytes());
            hasher.update(b"\0");
            hasher.update(src.as_bytes());
            let parsed = PolicySet::from_str(src).map_err(|e| PolicyError::Parse(Problem::from_diagnostic(name, src, &e)))?;
            if parsed.templates().next().is_some() {
                return Err(PolicyError::Parse(Problem::plain(name, "policy templates (?principal / ?resource) are not supported; write the rule out".into())));
            }
            let mut list: Vec<_> = parsed.policies().collect();
            // `PolicySet::from_str` names policies policy0, policy1, ... in file order.
            list.sort_by_key(|p| p.id().to_string().trim_start_matches("policy").parse::<usize>().unwrap_or(usize::MAX));
            for (n, p) in list.into_iter().enumerate() {
                let id = p.annotation("id").map(str::to_string).unwrap_or_else(|| format!("{name}#{}", n + 1));
                if let Some(first) = by_id.insert(id.clone(), name.to_string()) {
                    return Err(PolicyError::DuplicateId { id, first, second: name.to_string() });
                }
                let pid = PolicyId::new(&id);
                let effect = match p.effect() {
                    cedar_policy::Effect::Permit => "permit",
                    cedar_policy::Effect::Forbid => "forbid",
                };
                rules.insert(pid.clone(), RuleInfo { id: id.clone(), effect: effect.into(), reason: p.annotation("reason").map(str::to_string), file: name.to_string() });
                origin.insert(pid.clone(), (name.to_string(), src.to_string()));
                set.add(p.new_id(pid)).map_err(|e| PolicyError::Internal(format!("adding rule `{id}`: {e}")))?;
            }
        }
        let validator = Validator::new(schema.clone());
        let result = validator.validate(&set, ValidationMode::Strict);
        let problems: Vec<Problem> = result
            .validation_errors()
            .map(|e| {
                let (file, src) = origin.get(e.policy_id()).cloned().unwrap_or_else(|| ("(unknown file)".into(), String::new()));
                let mut p = Problem::from_diagnostic(&file, &src, e);
                p.message = format!("rule `{}`: {}", e.policy_id(), p.message);
                if p.message.contains("in context for Eigenbox::Action::") && p.message.contains("not found") {
                    let hint = "each action has its own context (docs/policy-and-audit.md); limit the rule's scope, e.g. `action in Eigenbox::Action::\"tool\"`";
                    p.help = Some(match p.help.take() {
                        Some(h) => format!("{h}; {hint}"),
                        None => hint.to_string(),
                    });
                }
                p
            })
            .collect();
        // A rule that can never apply (`context.args has undeclared && ...` types to false) is
        // almost surely a mistake, and for a forbid a silent hole: refuse it.
        let impossible = result.validation_warnings().filter_map(|w| match w {
            cedar_policy::ValidationWarning::ImpossiblePolicy(_) => {
                let (file, src) = origin.get(w.policy_id()).cloned().unwrap_or_else(|| ("(unknown file)".into(), String::new()));
                let mut p = Problem::from_diagnostic(&file, &src, w);
                p.message = format!("rule `{}` can never apply (does it test an attribute the schema does not declare?): {}", w.policy_id(), p.message);
                Some(p)
            }
            _ => None,
        });
        let problems: Vec<Problem> = problems.into_iter().chain(impossible).collect();
        if !problems.is_empty() {
            return Err(PolicyError::Invalid(problems));
        }
        let types = Types::new()?;
        let slices = slice(&set, &schema, &types)?;
        let type_names = compiled::TypeNames {
            component: types.component.to_string(),
            agent: types.agent.to_string(),
            role: types.role.to_string(),
            tool: types.tool.to_string(),
            domain: types.domain.to_string(),
            model: types.model.to_string(),
            capability: types.capability.to_string(),
            action: types.actions[0].type_name().to_string(),
        };
        Ok(Engine {
            schema,
            slices,
            type_names,
            policies: set,
            rules,
            hash: hex::encode(hasher.finalize()),
            files: policies.iter().map(|(n, _)| n.to_string()).collect(),
            types,
            authorizer: Authorizer::new(),
            entities: RwLock::new(HashMap::new()),
        })
    }

    /// sha256 (hex) over the schema and every policy file: the policy version audit records carry.
    pub fn policy_hash(&self) -> &str {
        &self.hash
    }

    /// The whole validated Cedar policy set (rule ids as in [`Engine::rules`]).
    pub fn cedar_policies(&self) -> &PolicySet {
        &self.policies
    }

    /// The policy files, as given.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Every rule, sorted by id.
    pub fn rules(&self) -> Vec<RuleInfo> {
        let mut v: Vec<RuleInfo> = self.rules.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    fn entities(&self, p: &Principal, r: &Resource) -> Result<Arc<Entities>, PolicyError> {
        if let Ok(cache) = self.entities.read() {
            if let Some(e) = cache.get(p).and_then(|m| m.get(r)) {
                return Ok(e.clone());
            }
        }
        let t = &self.types;
        let s = |v: &str| RestrictedExpression::new_string(v.to_string());
        let mut list: Vec<Entity> = Vec::new();
        let bad = |e: String| PolicyError::Request(format!("building entities for {} / {}: {e}", p.label(), r.target()));
        let role_parents = |roles: &[String], list: &mut Vec<Entity>| -> HashSet<EntityUid> {
            roles
                .iter()
                .map(|r| {
                    let uid = Types::uid(&t.role, r);
                    list.push(Entity::with_uid(uid.clone()));
                    uid
                })
                .collect()
        };
        match p {
            Principal::Component { id, sha256, world, version, wit, roles } => {
                let mut all = roles.clone();
                if !all.contains(world) {
                    all.push(world.clone());
                }
                let parents = role_parents(&all, &mut list);
                let attrs = HashMap::from([("sha256".to_string(), s(sha256)), ("world".to_string(), s(world)), ("version".to_string(), s(version)), ("wit".to_string(), s(wit))]);
                list.push(Entity::new(Types::uid(&t.component, id), attrs, parents).map_err(|e| bad(e.to_string()))?);
            }
            Principal::Agent { name, roles } => {
                let parents = role_parents(roles, &mut list);
                list.push(Entity::new_no_attrs(Types::uid(&t.agent, name), parents));
            }
        }
        match r {
            Resource::Tool { domain, name } => {
                let d = Types::uid(&t.domain, domain);
                list.push(Entity::with_uid(d.clone()));
                let attrs = HashMap::from([("domain".to_string(), s(domain)), ("name".to_string(), s(name))]);
                list.push(Entity::new(t.resource_uid(r), attrs, HashSet::from([d])).map_err(|e| bad(e.to_string()))?);
            }
            Resource::Model(_) => list.push(Entity::with_uid(t.resource_uid(r))),
            Resource::Capability(c) => {
                let kind = c.split_once(':').map(|(k, _)| k).unwrap_or(c);
                let attrs = HashMap::from([("kind".to_string(), s(kind))]);
                list.push(Entity::new(t.resource_uid(r), attrs, HashSet::new()).map_err(|e| bad(e.to_string()))?);
            }
        }
        // Dedup (a role named like the world, say) before Cedar sees duplicates.
        let mut seen = HashSet::new();
        list.retain(|e| seen.insert(e.uid()));
        let entities = Arc::new(Entities::from_entities(list, Some(&self.schema)).map_err(|e| bad(e.to_string()))?);
        if let Ok(mut cache) = self.entities.write() {
            cache.entry(p.clone()).or_default().insert(r.clone(), entities.clone());
        }
        Ok(entities)
    }

    /// Decide one request. `Err` only when the request itself cannot be put to Cedar (an
    /// argument that is not a JSON object, a number Cedar cannot represent exactly); callers
    /// treat that as a deny.
    pub fn decide(&self, req: &Request<'_>) -> Result<Decision, PolicyError> {
        // Cedar refuses to evaluate when `stacker` reports less than its required stack. On a
        // stack stacker cannot measure (a wasmtime fiber running a guest's host import, where
        // it reads ~0) run on a fresh segment it can; on ordinary threads this costs nothing.
        stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || self.decide_here(req))
    }

    fn decide_here(&self, req: &Request<'_>) -> Result<Decision, PolicyError> {
        let (_, _, fast) = &self.slices[action_index(req.action)][usize::from(matches!(req.principal, Principal::Component { .. }))];
        if let Some(fast) = fast {
            // Anything the fast path cannot decide exactly (an error, say) goes to Cedar.
            if let Ok((allow, rules)) = fast.decide(req, &self.type_names) {
                return Ok(self.decision(req, allow, rules));
            }
        }
        self.decide_cedar(req)
    }

    /// Decide one request with Cedar's evaluator only, bypassing the compiled fast path. The
    /// answer is the same as [`Engine::decide`]'s (a differential test holds the two together);
    /// this exists for that test, for benchmarks, and for auditors who want Cedar's own verdict.
    pub fn decide_with_cedar(&self, req: &Request<'_>) -> Result<Decision, PolicyError> {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || self.decide_cedar(req))
    }

    /// The compiled fast path's answer alone: `None` when this request's rules are not
    /// compiled or the fast path hands the request to Cedar (for the differential test).
    #[doc(hidden)]
    pub fn decide_compiled_only(&self, req: &Request<'_>) -> Option<Decision> {
        let (_, _, fast) = &self.slices[action_index(req.action)][usize::from(matches!(req.principal, Principal::Component { .. }))];
        let (allow, rules) = fast.as_ref()?.decide(req, &self.type_names).ok()?;
        Some(self.decision(req, allow, rules))
    }

    /// Whether rules for this action and principal kind run on the compiled fast path.
    pub fn is_compiled(&self, action: Action, component: bool) -> bool {
        self.slices[action_index(action)][usize::from(component)].2.is_some()
    }

    fn decide_cedar(&self, req: &Request<'_>) -> Result<Decision, PolicyError> {
        let (slice, usage, _) = &self.slices[action_index(req.action)][usize::from(matches!(req.principal, Principal::Component { .. }))];
        let entities = self.entities(req.principal, req.resource)?;
        let context = convert::context(req, usage)?;
        let t = &self.types;
        let cedar_req = cedar_policy::Request::new(t.principal_uid(req.principal), t.action(req.action).clone(), t.resource_uid(req.resource), context, None)
            .map_err(|e| PolicyError::Request(e.to_string()))?;
        let resp = self.authorizer.is_authorized(&cedar_req, slice, &entities);
        let what = || format!("{} `{}` by `{}`", req.action.cedar_id(), req.resource.target(), req.principal.label());
        let name = |id: &PolicyId| self.rules.get(id).map(|r| r.id.clone()).unwrap_or_else(|| id.to_string());
        let failing = |e: &cedar_policy::AuthorizationError| match e {
            cedar_policy::AuthorizationError::PolicyEvaluationError(pe) => name(pe.policy_id()),
        };
        let errors: Vec<String> = resp.diagnostics().errors().map(|e| format!("rule `{}`: {e}", failing(e))).collect();
        if !errors.is_empty() {
            let rules: Vec<String> = resp.diagnostics().errors().map(failing).collect();
            return Ok(Decision {
                allow: false,
                rules,
                policy_hash: self.hash.clone(),
                reason: format!("denied {} (fail closed): {}", what(), errors.join("; ")),
            });
        }
        let rules: Vec<String> = resp.diagnostics().reason().map(name).collect();
        Ok(self.decision(req, resp.decision() == cedar_policy::Decision::Allow, rules))
    }

    /// The decision for an evaluation without errors: `rules` are the satisfied permits (allow)
    /// or forbids (deny).
    fn decision(&self, req: &Request<'_>, allow: bool, mut rules: Vec<String>) -> Decision {
        rules.sort();
        let what = || format!("{} `{}` by `{}`", req.action.cedar_id(), req.resource.target(), req.principal.label());
        let reason = if allow {
            format!("allowed {} by rule {}", what(), rules.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", "))
        } else if rules.is_empty() {
            format!("denied {}: no rule permits it (default deny)", what())
        } else {
            let why: Vec<String> = rules
                .iter()
                .map(|r| match self.rules.get(&PolicyId::new(r)).and_then(|i| i.reason.clone()) {
                    Some(text) => format!("rule `{r}`: {text}"),
                    None => format!("rule `{r}`"),
                })
                .collect();
            format!("denied {} by {}", what(), why.join("; "))
        };
        Decision { allow, rules, policy_hash: self.hash.clone(), reason }
    }

    /// Like [`Engine::decide`], but a request that cannot be evaluated is a deny naming why.
    pub fn decide_or_deny(&self, req: &Request<'_>) -> Decision {
        self.decide(req).unwrap_or_else(|e| Decision {
            allow: false,
            rules: vec!["invalid-request".into()],
            policy_hash: self.hash.clone(),
            reason: format!("denied {} `{}` by `{}`: {e}", req.action.cedar_id(), req.resource.target(), req.principal.label()),
        })
    }
}
