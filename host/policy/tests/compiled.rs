//! Differential test of the compiled fast path against Cedar's own evaluator: on thousands of
//! generated requests, every answer the fast path gives equals Cedar's (allow, deciding rules,
//! reason), and the fast path does answer most of them.

// `*g.pick(..)` pins the element type for inference (clippy suggests dropping it; rustc then fails).
#![allow(clippy::explicit_auto_deref)]

use std::path::Path;

use eigenbox_policy::{Action, Context, Counters, Engine, Principal, Request, Resource};
use serde_json::{json, Value};

fn config(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/policy").join(rel)
}

/// Rules using every construct the fast path compiles.
const WIDE: &str = r#"
@id("readers") permit (principal in Eigenbox::Role::"reader", action == Eigenbox::Action::"tool-read", resource in Eigenbox::Domain::"airline");
@id("agents-any-tool") permit (principal is Eigenbox::Agent, action in Eigenbox::Action::"tool", resource is Eigenbox::Tool)
  when { principal in [Eigenbox::Role::"assistant", Eigenbox::Role::"admin"] && resource.domain != "retail" };
@id("exact-tool") permit (principal == Eigenbox::Agent::"ops", action, resource == Eigenbox::Tool::"retail/get_order_details");
@id("components") permit (principal is Eigenbox::Component in Eigenbox::Role::"domain", action, resource)
  when { principal.world == "domain" && (if principal has version then principal.version != "0.0.0" else false) };
@id("llm-small") permit (principal, action == Eigenbox::Action::"llm", resource)
  when { context has max_tokens && context.max_tokens <= 4096 && context.counters.llm_calls < 5 };
@id("caps") permit (principal, action == Eigenbox::Action::"capability", resource)
  when { resource.kind == "clock" || (context has detail && ["HOME", "LANG"].contains(context.detail)) };
@id("own-user") @reason("own user only") forbid (principal, action == Eigenbox::Action::"tool-write", resource)
  when { context.args has user_id } unless { context has user && context.args.user_id == context.user };
@id("amount") @reason("too much") forbid (principal, action in Eigenbox::Action::"tool", resource)
  when { context.args has amount && (context.args.amount.greaterThanOrEqual(decimal("100.5")) || context.args.amount.lessThan(decimal("-1.0"))) };
@id("status") forbid (principal, action == Eigenbox::Action::"tool-write", resource)
  when { context.args has status && context.args.status == "cancelled" && !context.confirmed };
@id("user-side") forbid (principal, action == Eigenbox::Action::"tool-read", resource)
  when { context.requestor == "user" && context.counters.this_tool_calls > 3 };
@id("run-bound") forbid (principal, action in Eigenbox::Action::"tool", resource)
  when { context has run && context.run == "blocked-run" && action in Eigenbox::Action::"tool" && action != Eigenbox::Action::"tool-read" };
"#;

struct Gen(fastrand::Rng);

impl Gen {
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.0.usize(..xs.len())]
    }

    fn principal(&mut self) -> Principal {
        let roles: Vec<String> = ["assistant", "user", "admin", "reader", "role", "domain"].iter().filter(|_| self.0.u8(..4) == 0).map(|s| s.to_string()).collect();
        if self.0.bool() {
            Principal::Agent { name: self.pick(&["assistant", "user", "ops"]).to_string(), roles }
        } else {
            Principal::Component {
                id: self.pick(&["eigenbox:airline", "acme:notes", "eigenbox:user-sim"]).to_string(),
                sha256: "ab".repeat(32),
                world: self.pick(&["domain", "checker", "role"]).to_string(),
                version: self.pick(&["0.1.0", "0.0.0"]).to_string(),
                wit: "eigenbox:domain/domain-plugin@0.1.0".into(),
                roles,
            }
        }
    }

    fn number(&mut self) -> Value {
        match self.0.u8(..6) {
            0 => json!(self.0.i64(-5..200)),
            1 => json!(self.0.i64(-5000..20000) as f64 / 100.0),
            2 => json!(100.5),
            3 => json!(1.234567),
            4 => json!(1e300),
            _ => json!(u64::MAX),
        }
    }

    fn args(&mut self) -> Value {
        if self.0.u8(..20) == 0 {
            return json!(["not", "an", "object"]);
        }
        let mut m = serde_json::Map::new();
        if self.0.bool() {
            m.insert("user_id".into(), match self.0.u8(..5) {
                0 => json!(7),
                1 => Value::Null,
                _ => json!(self.pick(&["mia_li_3668", "noah_2", ""]).to_string()),
            });
        }
        if self.0.bool() {
            let n = if self.0.u8(..6) == 0 { json!("12") } else { self.number() };
            m.insert("amount".into(), n);
        }
        if self.0.bool() {
            m.insert("status".into(), json!(self.pick(&["cancelled", "pending"]).to_string()));
        }
        if self.0.bool() {
            m.insert("extra".into(), json!({"nested": [1, 2.5, null, "x"]}));
        }
        Value::Object(m)
    }
}

fn check(engine: &Engine, name: &str, seed: u64, n: usize, has_forbids: bool) {
    let mut g = Gen(fastrand::Rng::with_seed(seed));
    let mut fast = 0usize;
    let mut allows = 0usize;
    let mut denies_by_rule = 0usize;
    for i in 0..n {
        let principal = g.principal();
        let (action, resource) = match g.0.u8(..4) {
            0 => (Action::ToolRead, Resource::tool(*g.pick(&["airline", "retail"]), *g.pick(&["get_user_details", "get_order_details"]))),
            1 => (Action::ToolWrite, Resource::tool(*g.pick(&["airline", "retail"]), *g.pick(&["send_certificate", "cancel_reservation"]))),
            2 => (Action::Llm, Resource::Model(g.pick(&["smollm2", "big"]).to_string())),
            _ => (Action::Capability, Resource::Capability(g.pick(&["clock", "env:HOME", "env:SECRET", "network:example.org:443", "llm"]).to_string())),
        };
        if action == Action::Capability && matches!(principal, Principal::Agent { .. }) {
            continue;
        }
        let args = g.args();
        let counters = Counters {
            tool_calls: g.0.u64(..50),
            write_calls: g.0.u64(..12),
            this_tool_calls: g.0.u64(..12),
            llm_calls: g.0.u64(..8),
            llm_tokens: g.0.u64(..250_000),
            denied: g.0.u64(..3),
            elapsed_ms: g.0.u64(..10_000),
        };
        let context = Context {
            episode: "ep-1",
            run: if g.0.bool() { Some(*g.pick(&["run-1", "blocked-run"])) } else { None },
            user: if g.0.bool() { Some(*g.pick(&["mia_li_3668", "noah_2"])) } else { None },
            requestor: if g.0.u8(..3) == 0 { None } else { Some(*g.pick(&["assistant", "user"])) },
            args: if g.0.u8(..8) == 0 { None } else { Some(&args) },
            counters,
            confirmed: g.0.bool(),
            max_tokens: if g.0.bool() { Some(g.0.u64(..10_000)) } else { None },
        };
        let req = Request { principal: &principal, action, resource: &resource, context };
        let cedar = engine.decide_with_cedar(&req);
        if let Some(d) = engine.decide_compiled_only(&req) {
            fast += 1;
            let cedar = cedar.unwrap_or_else(|e| panic!("{name} #{i}: fast path answered {d:?} where Cedar refused the request: {e}\n{req:?}"));
            assert_eq!(d, cedar, "{name} #{i}: fast path and Cedar disagree on {req:?}");
            allows += usize::from(d.allow);
            denies_by_rule += usize::from(!d.allow && !d.rules.is_empty());
        }
        // `decide` is whichever answered: always Cedar's answer.
        match (engine.decide(&req), engine.decide_with_cedar(&req)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{name} #{i}: decide differs from Cedar on {req:?}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("{name} #{i}: decide {a:?} vs Cedar {b:?}"),
        }
    }
    println!("{name}: {n} requests, fast path answered {fast} ({allows} allow, {denies_by_rule} denied by a rule)");
    assert!(fast * 2 > n, "{name}: the fast path answered only {fast} of {n} requests");
    assert!(allows > 0, "{name}: no generated request was allowed");
    assert!(!has_forbids || denies_by_rule > 0, "{name}: no generated request was denied by a rule");
}

#[test]
fn shipped_policies_compile_and_agree_with_cedar() {
    let default = Engine::load(&[config("default.cedar")], None).expect("default policy");
    let strict = Engine::load(&[config("examples/strict.cedar")], None).expect("strict policy");
    for engine in [&default, &strict] {
        for action in [Action::ToolRead, Action::ToolWrite, Action::Llm] {
            assert!(engine.is_compiled(action, false), "{:?}: agent {action:?} rules are not compiled", engine.files());
        }
    }
    check(&default, "default.cedar", 1, 4000, false);
    check(&strict, "strict.cedar", 2, 4000, true);
}

#[test]
fn wide_policy_agrees_with_cedar() {
    let engine = Engine::from_sources(None, &[("wide.cedar", WIDE)]).expect("wide policy validates");
    for action in [Action::ToolRead, Action::ToolWrite, Action::Llm, Action::Capability] {
        assert!(engine.is_compiled(action, true), "component {action:?} rules are not compiled");
    }
    check(&engine, "wide.cedar", 3, 8000, true);
}

#[test]
fn constructs_outside_the_subset_fall_back_to_cedar() {
    let src = r#"@id("like") permit (principal, action == Eigenbox::Action::"tool-read", resource) when { resource.name like "get_*" };"#;
    let engine = Engine::from_sources(None, &[("like.cedar", src)]).expect("valid");
    assert!(!engine.is_compiled(Action::ToolRead, false));
    let agent = Principal::agent("assistant", ["assistant"]);
    let tool = Resource::tool("airline", "get_user_details");
    let req = Request { principal: &agent, action: Action::ToolRead, resource: &tool, context: Context::episode("e") };
    assert!(engine.decide_compiled_only(&req).is_none());
    let d = engine.decide(&req).expect("decides");
    assert!(d.allow && d.rules == ["like"], "{d:?}");
}

#[test]
fn evaluation_errors_are_left_to_cedar() {
    // `amount` as a string makes `.greaterThan` a type error: the fast path must not answer, and
    // the decision is Cedar's fail-closed deny naming the rule.
    let strict = Engine::load(&[config("examples/strict.cedar")], None).expect("strict policy");
    let agent = Principal::agent("assistant", ["assistant"]);
    let tool = Resource::tool("airline", "send_certificate");
    let args = json!({"user_id": "u1", "amount": "a lot"});
    let mut ctx = Context::episode("e");
    ctx.user = Some("u1");
    ctx.args = Some(&args);
    ctx.confirmed = true;
    let req = Request { principal: &agent, action: Action::ToolWrite, resource: &tool, context: ctx };
    assert!(strict.decide_compiled_only(&req).is_none());
    let d = strict.decide(&req).expect("decides");
    assert!(!d.allow && d.rules.contains(&"amount-limit".to_string()) && d.reason.contains("fail closed"), "{d:?}");
}
