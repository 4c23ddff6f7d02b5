//! A native evaluator for the common subset of Cedar, used as a fast path in front of Cedar.
//!
//! Cedar's own evaluator costs about 1.5 µs per applicable rule, most of it building
//! interpreter values for the context and allocating while it walks expressions. Most rules
//! operators write are scope checks plus a few comparisons on the context, so each slice of
//! rules (see `slice` in lib.rs) is also compiled, when every construct in it is one this module
//! understands, from Cedar's JSON policy form into a small expression tree evaluated directly
//! against the [`Request`] (no context record is built).
//!
//! Soundness rules:
//! * a slice with any construct not listed below is not compiled: Cedar decides it;
//! * any evaluation error (a missing attribute, a type mismatch, an argument number Cedar could
//!   not represent) abandons the fast path for that request: Cedar decides it again and
//!   produces its own diagnostics, so fail-closed denials read exactly as before;
//! * otherwise the result (allow, and the set of rules that decided) is Cedar's by
//!   construction; a differential test (`tests/compiled.rs`) checks that on thousands of
//!   generated requests against every shipped policy.
//!
//! Supported: literals (bool, long, string, entity), `principal`/`action`/`resource`/`context`,
//! `.attr` and `has attr` on records and entities, `!`, `&&`, `||` (short-circuit),
//! `==`/`!=` (any values, Cedar's structural equality), `<`, `<=`, `>`, `>=` on longs,
//! `in` (entity or set of entities), `is`, `if then else`, set literals, `.contains`,
//! `decimal("..")` on a literal and decimal comparisons (`lessThan`, `greaterThanOrEqual`, ...).

use std::collections::HashSet;

use serde_json::Value as Json;

use crate::{Action, Principal, Request, Resource};

/// Why evaluation left the fast path (the caller asks Cedar instead).
#[derive(Debug)]
pub(crate) struct Fallback;

type R<T> = Result<T, Fallback>;

/// An entity reference: type name and id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Uid {
    ty: String,
    id: String,
}

impl Uid {
    fn from_json(v: &Json) -> Option<Uid> {
        let v = v.get("__entity").unwrap_or(v);
        Some(Uid { ty: v.get("type")?.as_str()?.to_string(), id: v.get("id")?.as_str()?.to_string() })
    }
}

/// A compiled expression.
#[derive(Debug)]
enum Expr {
    Bool(bool),
    Long(i64),
    Str(String),
    Entity(Uid),
    /// A decimal literal, scaled by 10⁴.
    Decimal(i64),
    Var(Var),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Eq(Box<Expr>, Box<Expr>),
    Ne(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    DecCmp(CmpOp, Box<Expr>, Box<Expr>),
    Attr(Box<Expr>, String),
    Has(Box<Expr>, String),
    In(Box<Expr>, Box<Expr>),
    Is(Box<Expr>, String, Option<Box<Expr>>),
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    Set(Vec<Expr>),
    Contains(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy)]
enum Var {
    Principal,
    Action,
    Resource,
    Context,
}

#[derive(Debug, Clone, Copy)]
enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn apply(self, a: i64, b: i64) -> bool {
        match self {
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

/// A scope constraint on the principal or resource.
#[derive(Debug)]
enum Scope {
    Any,
    Eq(Uid),
    In(Uid),
    Is(String),
    IsIn(String, Uid),
}

/// One compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    /// The rule's id as the engine reports it.
    pub(crate) id: String,
    permit: bool,
    principal: Scope,
    resource: Scope,
    /// `when` bodies as-is, `unless` bodies negated, in source order.
    conditions: Vec<Expr>,
}

/// A compiled slice of rules.
#[derive(Debug)]
pub(crate) struct Compiled {
    rules: Vec<Rule>,
    /// Ancestors (in the schema's action hierarchy, itself included) of each action, by index.
    action_ancestors: [HashSet<String>; 4],
}

/// A parsed decimal literal in Cedar's `decimal` syntax (1 to 4 fraction digits), scaled by 10⁴.
fn parse_decimal(s: &str) -> Option<i64> {
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = rest.split_once('.')?;
    if int.is_empty() || frac.is_empty() || frac.len() > 4 || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int: i64 = int.parse().ok()?;
    let mut f: i64 = frac.parse().ok()?;
    for _ in frac.len()..4 {
        f *= 10;
    }
    let v = int.checked_mul(10_000)?.checked_add(f)?;
    Some(if neg { -v } else { v })
}

fn compile_scope(v: &Json) -> Option<Scope> {
    let op = v.get("op")?.as_str()?;
    Some(match op {
        "All" => Scope::Any,
        "==" => Scope::Eq(Uid::from_json(v.get("entity")?)?),
        "in" => Scope::In(Uid::from_json(v.get("entity")?)?),
        "is" => {
            let ty = v.get("entity_type")?.as_str()?.to_string();
            match v.get("in") {
                None => Scope::Is(ty),
                Some(inner) => Scope::IsIn(ty, Uid::from_json(inner.get("entity")?)?),
            }
        }
        _ => return None,
    })
}

fn bin(v: &Json) -> Option<(Expr, Expr)> {
    Some((compile_expr(v.get("left")?)?, compile_expr(v.get("right")?)?))
}

fn boxed((a, b): (Expr, Expr)) -> (Box<Expr>, Box<Expr>) {
    (Box::new(a), Box::new(b))
}

fn compile_expr(v: &Json) -> Option<Expr> {
    let obj = v.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    let (k, inner) = obj.iter().next()?;
    Some(match k.as_str() {
        "Value" => match inner {
            Json::Bool(b) => Expr::Bool(*b),
            Json::Number(n) => Expr::Long(n.as_i64()?),
            Json::String(s) => Expr::Str(s.clone()),
            Json::Object(_) => Expr::Entity(Uid::from_json(inner)?),
            _ => return None,
        },
        "Var" => Expr::Var(match inner.as_str()? {
            "principal" => Var::Principal,
            "action" => Var::Action,
            "resource" => Var::Resource,
            "context" => Var::Context,
            _ => return None,
        }),
        "!" => Expr::Not(Box::new(compile_expr(inner.get("arg")?)?)),
        "&&" => {
            let (a, b) = boxed(bin(inner)?);
            Expr::And(a, b)
        }
        "||" => {
            let (a, b) = boxed(bin(inner)?);
            Expr::Or(a, b)
        }
        "==" => {
            let (a, b) = boxed(bin(inner)?);
            Expr::Eq(a, b)
        }
        "!=" => {
            let (a, b) = boxed(bin(inner)?);
            Expr::Ne(a, b)
        }
        "<" | "<=" | ">" | ">=" => {
            let op = match k.as_str() {
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                _ => CmpOp::Ge,
            };
            let (a, b) = boxed(bin(inner)?);
            Expr::Cmp(op, a, b)
        }
        "in" => {
            let (a, b) = boxed(bin(inner)?);
            Expr::In(a, b)
        }
        "contains" => {
            let (a, b) = boxed(bin(inner)?);
            Expr::Contains(a, b)
        }
        "." | "has" => {
            let left = Box::new(compile_expr(inner.get("left")?)?);
            let attr = inner.get("attr")?.as_str()?.to_string();
            if k == "." {
                Expr::Attr(left, attr)
            } else {
                Expr::Has(left, attr)
            }
        }
        "is" => {
            let left = Box::new(compile_expr(inner.get("left")?)?);
            let ty = inner.get("entity_type")?.as_str()?.to_string();
            let within = match inner.get("in") {
                None => None,
                Some(e) => Some(Box::new(compile_expr(e)?)),
            };
            Expr::Is(left, ty, within)
        }
        "if-then-else" => Expr::If(Box::new(compile_expr(inner.get("if")?)?), Box::new(compile_expr(inner.get("then")?)?), Box::new(compile_expr(inner.get("else")?)?)),
        "Set" => Expr::Set(inner.as_array()?.iter().map(compile_expr).collect::<Option<Vec<_>>>()?),
        "decimal" => {
            let args = inner.as_array()?;
            match args.as_slice() {
                [Json::Object(o)] if o.len() == 1 => Expr::Decimal(parse_decimal(o.get("Value")?.as_str()?)?),
                _ => return None,
            }
        }
        "lessThan" | "lessThanOrEqual" | "greaterThan" | "greaterThanOrEqual" => {
            let op = match k.as_str() {
                "lessThan" => CmpOp::Lt,
                "lessThanOrEqual" => CmpOp::Le,
                "greaterThan" => CmpOp::Gt,
                _ => CmpOp::Ge,
            };
            match inner.as_array()?.as_slice() {
                [a, b] => Expr::DecCmp(op, Box::new(compile_expr(a)?), Box::new(compile_expr(b)?)),
                _ => return None,
            }
        }
        _ => return None,
    })
}

fn compile_rule(id: &str, json: &Json) -> Option<Rule> {
    let permit = match json.get("effect")?.as_str()? {
        "permit" => true,
        "forbid" => false,
        _ => return None,
    };
    let mut conditions = Vec::new();
    for c in json.get("conditions")?.as_array()? {
        let body = compile_expr(c.get("body")?)?;
        conditions.push(match c.get("kind")?.as_str()? {
            "when" => body,
            "unless" => Expr::Not(Box::new(body)),
            _ => return None,
        });
    }
    Some(Rule { id: id.to_string(), permit, principal: compile_scope(json.get("principal")?)?, resource: compile_scope(json.get("resource")?)?, conditions })
}

impl Compiled {
    /// Compile rules `(engine id, Cedar JSON)`; `None` when any is outside the subset.
    pub(crate) fn new(rules: &[(String, Json)], action_ancestors: [HashSet<String>; 4]) -> Option<Compiled> {
        let rules = rules.iter().map(|(id, json)| compile_rule(id, json)).collect::<Option<Vec<_>>>()?;
        Some(Compiled { rules, action_ancestors })
    }

    /// `(allow, deciding rule ids)` exactly as Cedar would answer, or [`Fallback`].
    pub(crate) fn decide(&self, req: &Request<'_>, ty: &TypeNames) -> R<(bool, Vec<String>)> {
        let env = Env { req, ty, action_ancestors: &self.action_ancestors };
        let mut permits = Vec::new();
        let mut forbids = Vec::new();
        for rule in &self.rules {
            if env.satisfied(rule)? {
                if rule.permit {
                    permits.push(rule.id.clone());
                } else {
                    forbids.push(rule.id.clone());
                }
            }
        }
        Ok(if !forbids.is_empty() {
            (false, forbids)
        } else if !permits.is_empty() {
            (true, permits)
        } else {
            (false, Vec::new())
        })
    }
}

/// Entity type names as strings (`Eigenbox::Agent`, ...).
#[derive(Debug)]
pub(crate) struct TypeNames {
    pub(crate) component: String,
    pub(crate) agent: String,
    pub(crate) role: String,
    pub(crate) tool: String,
    pub(crate) domain: String,
    pub(crate) model: String,
    pub(crate) capability: String,
    pub(crate) action: String,
}

/// A runtime value. Borrowed from the request where it can be.
#[derive(Debug, Clone)]
enum Val<'a> {
    Bool(bool),
    Long(i64),
    Str(&'a str),
    Dec(i64),
    Entity(Ent<'a>),
    /// A JSON object from the tool arguments (null members are absent, as in Cedar's context).
    Args(&'a serde_json::Map<String, Json>),
    /// A JSON array from the tool arguments.
    ArgList(&'a [Json]),
    Counters,
    Context,
    Set(Vec<Val<'a>>),
}

/// An entity value: which one.
#[derive(Debug, Clone)]
enum Ent<'a> {
    Principal,
    Resource,
    Action,
    /// Any other entity (a literal, or a role / domain reached by name).
    Other(&'a Uid),
}

struct Env<'a> {
    req: &'a Request<'a>,
    ty: &'a TypeNames,
    action_ancestors: &'a [HashSet<String>; 4],
}

impl<'a> Env<'a> {
    fn action_id(&self) -> &'static str {
        self.req.action.cedar_id()
    }

    /// `(type, id)` of an entity value.
    fn uid(&self, e: &Ent<'a>) -> (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>) {
        use std::borrow::Cow::{Borrowed, Owned};
        match e {
            Ent::Principal => match self.req.principal {
                Principal::Component { id, .. } => (Borrowed(self.ty.component.as_str()), Borrowed(id.as_str())),
                Principal::Agent { name, .. } => (Borrowed(self.ty.agent.as_str()), Borrowed(name.as_str())),
            },
            Ent::Resource => match self.req.resource {
                Resource::Tool { domain, name } => (Borrowed(self.ty.tool.as_str()), Owned(format!("{domain}/{name}"))),
                Resource::Model(m) => (Borrowed(self.ty.model.as_str()), Borrowed(m.as_str())),
                Resource::Capability(c) => (Borrowed(self.ty.capability.as_str()), Borrowed(c.as_str())),
            },
            Ent::Action => (Borrowed(self.ty.action.as_str()), Borrowed(self.action_id())),
            Ent::Other(u) => (Borrowed(u.ty.as_str()), Borrowed(u.id.as_str())),
        }
    }

    fn same_entity(&self, a: &Ent<'a>, b: &Ent<'a>) -> bool {
        self.uid(a) == self.uid(b)
    }

    /// Is entity `e` equal to, or a descendant of, `anc`?
    fn entity_in(&self, e: &Ent<'a>, anc: &Ent<'a>) -> bool {
        if self.same_entity(e, anc) {
            return true;
        }
        let (aty, aid) = self.uid(anc);
        match e {
            Ent::Principal => {
                if aty != self.ty.role {
                    return false;
                }
                match self.req.principal {
                    Principal::Component { roles, world, .. } => world == aid.as_ref() || roles.iter().any(|r| r == aid.as_ref()),
                    Principal::Agent { roles, .. } => roles.iter().any(|r| r == aid.as_ref()),
                }
            }
            Ent::Resource => match self.req.resource {
                Resource::Tool { domain, .. } => aty == self.ty.domain && domain == aid.as_ref(),
                _ => false,
            },
            Ent::Action => aty == self.ty.action && self.action_ancestors[crate::action_index(self.req.action)].contains(aid.as_ref()),
            // Literal entities have no parents in the request's entity store.
            Ent::Other(_) => false,
        }
    }

    fn scope_ok(&self, who: Ent<'a>, s: &'a Scope) -> bool {
        match s {
            Scope::Any => true,
            Scope::Eq(u) => self.same_entity(&who, &Ent::Other(u)),
            Scope::In(u) => self.entity_in(&who, &Ent::Other(u)),
            Scope::Is(t) => self.uid(&who).0 == t.as_str(),
            Scope::IsIn(t, u) => self.uid(&who).0 == t.as_str() && self.entity_in(&who, &Ent::Other(u)),
        }
    }

    fn satisfied(&self, rule: &'a Rule) -> R<bool> {
        if !self.scope_ok(Ent::Principal, &rule.principal) || !self.scope_ok(Ent::Resource, &rule.resource) {
            return Ok(false);
        }
        for c in &rule.conditions {
            if !self.boolean(c)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn boolean(&self, e: &'a Expr) -> R<bool> {
        match self.eval(e)? {
            Val::Bool(b) => Ok(b),
            _ => Err(Fallback),
        }
    }

    fn long(&self, e: &'a Expr) -> R<i64> {
        match self.eval(e)? {
            Val::Long(v) => Ok(v),
            _ => Err(Fallback),
        }
    }

    fn dec(&self, e: &'a Expr) -> R<i64> {
        match self.eval(e)? {
            Val::Dec(v) => Ok(v),
            _ => Err(Fallback),
        }
    }

    /// A JSON argument as a value (`None` for null: absent, as in the Cedar context).
    fn json(&self, v: &'a Json) -> R<Option<Val<'a>>> {
        Ok(Some(match v {
            Json::Null => return Ok(None),
            Json::Bool(b) => Val::Bool(*b),
            Json::String(s) => Val::Str(s),
            Json::Number(n) => match crate::convert::decimal_literal(n).ok().and_then(|l| parse_decimal(&l)) {
                Some(d) => Val::Dec(d),
                // Cedar's path reports this as a request error; let it.
                None => return Err(Fallback),
            },
            Json::Array(a) => Val::ArgList(a),
            Json::Object(m) => Val::Args(m),
        }))
    }

    /// `context.<name>` (None: absent).
    fn context_attr(&self, name: &str) -> R<Option<Val<'a>>> {
        let c = &self.req.context;
        let tool = matches!(self.req.action, Action::ToolRead | Action::ToolWrite);
        Ok(match (name, self.req.action) {
            ("episode", Action::ToolRead | Action::ToolWrite | Action::Llm) => Some(Val::Str(c.episode)),
            ("run", Action::ToolRead | Action::ToolWrite | Action::Llm) => c.run.map(Val::Str),
            ("counters", Action::ToolRead | Action::ToolWrite | Action::Llm) => Some(Val::Counters),
            ("user", _) if tool => c.user.map(Val::Str),
            ("requestor", _) if tool => Some(Val::Str(c.requestor.unwrap_or("assistant"))),
            ("confirmed", _) if tool => Some(Val::Bool(c.confirmed)),
            ("args", _) if tool => match c.args {
                None => Some(Val::Args(empty_map())),
                Some(Json::Object(m)) => Some(Val::Args(m)),
                // Cedar's path refuses non-object arguments with a request error.
                Some(_) => return Err(Fallback),
            },
            ("max_tokens", Action::Llm) => c.max_tokens.map(|m| Val::Long(i64::try_from(m).unwrap_or(i64::MAX))),
            ("detail", Action::Capability) => match self.req.resource {
                Resource::Capability(cap) => cap.split_once(':').map(|(_, d)| Val::Str(d)),
                _ => None,
            },
            _ => None,
        })
    }

    fn counter(&self, name: &str) -> Option<Val<'a>> {
        let k = &self.req.context.counters;
        let v = match name {
            "tool_calls" => k.tool_calls,
            "write_calls" => k.write_calls,
            "this_tool_calls" => k.this_tool_calls,
            "llm_calls" => k.llm_calls,
            "llm_tokens" => k.llm_tokens,
            "denied" => k.denied,
            "elapsed_ms" => k.elapsed_ms,
            _ => return None,
        };
        Some(Val::Long(i64::try_from(v).unwrap_or(i64::MAX)))
    }

    /// `<value>.<name>` (None: absent; Err: not a record or entity with attributes).
    fn attr(&self, of: Val<'a>, name: &str) -> R<Option<Val<'a>>> {
        match of {
            Val::Context => self.context_attr(name),
            Val::Counters => Ok(self.counter(name)),
            Val::Args(m) => match m.get(name) {
                Some(v) => self.json(v),
                None => Ok(None),
            },
            Val::Entity(Ent::Principal) => Ok(match self.req.principal {
                Principal::Component { sha256, world, version, wit, .. } => match name {
                    "sha256" => Some(Val::Str(sha256)),
                    "world" => Some(Val::Str(world)),
                    "version" => Some(Val::Str(version)),
                    "wit" => Some(Val::Str(wit)),
                    _ => None,
                },
                Principal::Agent { .. } => None,
            }),
            Val::Entity(Ent::Resource) => Ok(match self.req.resource {
                Resource::Tool { domain, name: tool } => match name {
                    "domain" => Some(Val::Str(domain)),
                    "name" => Some(Val::Str(tool)),
                    _ => None,
                },
                Resource::Capability(c) => match name {
                    "kind" => Some(Val::Str(c.split_once(':').map(|(k, _)| k).unwrap_or(c))),
                    _ => None,
                },
                Resource::Model(_) => None,
            }),
            // Attributes of other entities (roles, domains, literals) are never set by the host.
            Val::Entity(_) => Ok(None),
            _ => Err(Fallback),
        }
    }

    fn eval(&self, e: &'a Expr) -> R<Val<'a>> {
        Ok(match e {
            Expr::Bool(b) => Val::Bool(*b),
            Expr::Long(v) => Val::Long(*v),
            Expr::Str(s) => Val::Str(s),
            Expr::Decimal(d) => Val::Dec(*d),
            Expr::Entity(u) => Val::Entity(Ent::Other(u)),
            Expr::Var(Var::Principal) => Val::Entity(Ent::Principal),
            Expr::Var(Var::Resource) => Val::Entity(Ent::Resource),
            Expr::Var(Var::Action) => Val::Entity(Ent::Action),
            Expr::Var(Var::Context) => Val::Context,
            Expr::Not(a) => Val::Bool(!self.boolean(a)?),
            Expr::And(a, b) => Val::Bool(self.boolean(a)? && self.boolean(b)?),
            Expr::Or(a, b) => Val::Bool(self.boolean(a)? || self.boolean(b)?),
            Expr::Eq(a, b) => Val::Bool(self.equal(&self.eval(a)?, &self.eval(b)?)?),
            Expr::Ne(a, b) => Val::Bool(!self.equal(&self.eval(a)?, &self.eval(b)?)?),
            Expr::Cmp(op, a, b) => {
                let x = self.long(a)?;
                Val::Bool(op.apply(x, self.long(b)?))
            }
            Expr::DecCmp(op, a, b) => {
                let x = self.dec(a)?;
                Val::Bool(op.apply(x, self.dec(b)?))
            }
            Expr::Attr(of, name) => {
                let v = self.eval(of)?;
                self.attr(v, name)?.ok_or(Fallback)?
            }
            Expr::Has(of, name) => {
                let v = self.eval(of)?;
                Val::Bool(self.attr(v, name)?.is_some())
            }
            Expr::In(a, b) => {
                let Val::Entity(x) = self.eval(a)? else { return Err(Fallback) };
                match self.eval(b)? {
                    Val::Entity(y) => Val::Bool(self.entity_in(&x, &y)),
                    Val::Set(items) => {
                        let mut found = false;
                        for item in &items {
                            let Val::Entity(y) = item else { return Err(Fallback) };
                            found |= self.entity_in(&x, y);
                        }
                        Val::Bool(found)
                    }
                    _ => return Err(Fallback),
                }
            }
            Expr::Is(a, ty, within) => {
                let Val::Entity(x) = self.eval(a)? else { return Err(Fallback) };
                let is = self.uid(&x).0 == ty.as_str();
                match within {
                    None => Val::Bool(is),
                    Some(w) if !is => {
                        // Cedar evaluates `is T in e` as `is T && in e`: short-circuit.
                        let _ = w;
                        Val::Bool(false)
                    }
                    Some(w) => {
                        let Val::Entity(y) = self.eval(w)? else { return Err(Fallback) };
                        Val::Bool(self.entity_in(&x, &y))
                    }
                }
            }
            Expr::If(c, t, f) => {
                if self.boolean(c)? {
                    self.eval(t)?
                } else {
                    self.eval(f)?
                }
            }
            Expr::Set(items) => Val::Set(items.iter().map(|i| self.eval(i)).collect::<R<Vec<_>>>()?),
            Expr::Contains(s, x) => {
                let set = self.eval(s)?;
                let needle = self.eval(x)?;
                match set {
                    Val::Set(items) => {
                        let mut found = false;
                        for i in &items {
                            found |= self.equal(i, &needle)?;
                        }
                        Val::Bool(found)
                    }
                    Val::ArgList(items) => {
                        let mut found = false;
                        for i in items {
                            if let Some(v) = self.json(i)? {
                                found |= self.equal(&v, &needle)?;
                            }
                        }
                        Val::Bool(found)
                    }
                    _ => return Err(Fallback),
                }
            }
        })
    }

    /// Cedar's `==`: values of different types are unequal (not an error). Records and sets
    /// from arguments are compared by Cedar only (fallback), which keeps this small.
    fn equal(&self, a: &Val<'a>, b: &Val<'a>) -> R<bool> {
        Ok(match (a, b) {
            (Val::Bool(x), Val::Bool(y)) => x == y,
            (Val::Long(x), Val::Long(y)) => x == y,
            (Val::Dec(x), Val::Dec(y)) => x == y,
            (Val::Str(x), Val::Str(y)) => x == y,
            (Val::Entity(x), Val::Entity(y)) => self.same_entity(x, y),
            (Val::Args(_) | Val::ArgList(_) | Val::Set(_) | Val::Counters | Val::Context, _) | (_, Val::Args(_) | Val::ArgList(_) | Val::Set(_) | Val::Counters | Val::Context) => return Err(Fallback),
            _ => false,
        })
    }
}

fn empty_map() -> &'static serde_json::Map<String, Json> {
    static EMPTY: std::sync::LazyLock<serde_json::Map<String, Json>> = std::sync::LazyLock::new(serde_json::Map::new);
    &EMPTY
}

#[cfg(test)]
mod tests {
    use super::parse_decimal;

    #[test]
    fn decimals_parse_like_cedar() {
        assert_eq!(parse_decimal("500.0"), Some(5_000_000));
        assert_eq!(parse_decimal("-1.2345"), Some(-12_345));
        assert_eq!(parse_decimal("0.05"), Some(500));
        assert_eq!(parse_decimal("1.23456"), None);
        assert_eq!(parse_decimal("1"), None);
        assert_eq!(parse_decimal(".5"), None);
        assert_eq!(parse_decimal("922337203685477.5807"), Some(i64::MAX));
        assert_eq!(parse_decimal("922337203685478.0"), None);
    }
}
