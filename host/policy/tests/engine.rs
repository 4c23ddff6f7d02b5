//! The engine against the shipped policies and against broken ones.

use std::path::{Path, PathBuf};

use eigenbox_policy::{Action, Context, Engine, EpisodeBudget, PolicyError, Principal, Request, Resource};
use serde_json::{json, Value};

fn config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/policy")
}

fn strict() -> Engine {
    Engine::load(&[config().join("examples/strict.cedar")], None).unwrap()
}

fn component(world: &str) -> Principal {
    Principal::Component {
        id: "acme:sim".into(),
        sha256: "ab".repeat(32),
        world: world.into(),
        version: "0.1.0".into(),
        wit: format!("eigenbox:{world}/{world}-plugin@0.1.0"),
        roles: vec!["user-simulator".into()],
    }
}

struct Ask<'a> {
    engine: &'a Engine,
    principal: Principal,
    user: Option<&'a str>,
    budget: EpisodeBudget,
}

impl<'a> Ask<'a> {
    fn agent(engine: &'a Engine) -> Ask<'a> {
        Ask { engine, principal: Principal::agent("assistant", ["assistant"]), user: Some("mia_li_3668"), budget: EpisodeBudget::new() }
    }
    fn tool(&self, action: Action, tool: &str, args: Value) -> eigenbox_policy::Decision {
        let (d, t) = tool.split_once('/').unwrap();
        let r = Resource::tool(d, t);
        let mut c = Context::episode("ep-1");
        c.user = self.user;
        c.requestor = Some("assistant");
        c.args = Some(&args);
        c.counters = self.budget.counters(Some(tool));
        c.confirmed = self.budget.confirmed();
        self.engine.decide(&Request { principal: &self.principal, action, resource: &r, context: c }).unwrap()
    }
}

#[test]
fn default_policy_reproduces_todays_behaviour() {
    let e = Engine::load(&[config().join("default.cedar")], None).unwrap();
    let a = Ask::agent(&e);
    for (action, tool) in [(Action::ToolRead, "airline/get_user_details"), (Action::ToolWrite, "airline/send_certificate")] {
        let d = a.tool(action, tool, json!({"user_id": "someone_else", "amount": 100000}));
        assert!(d.allow, "{d:?}");
        assert_eq!(d.rules, ["agents-use-episode-tools"]);
    }
    let role = component("role");
    for (action, resource) in [(Action::ToolWrite, Resource::tool("mock", "create_task")), (Action::Llm, Resource::Model("small".into())), (Action::Capability, Resource::Capability("network:example.com:443".into()))] {
        let d = e.decide(&Request { principal: &role, action, resource: &resource, context: Context::episode("ep") }).unwrap();
        assert!(d.allow, "{d:?}");
        assert_eq!(d.rules, ["components-within-grants"]);
        assert_eq!(d.policy_hash, e.policy_hash());
    }
}

#[test]
fn nothing_permitted_is_denied_by_default() {
    let e = Engine::from_sources(None, &[("only-reads.cedar", "@id(\"reads\") permit(principal, action == Eigenbox::Action::\"tool-read\", resource);")]).unwrap();
    let a = Ask::agent(&e);
    assert!(a.tool(Action::ToolRead, "mock/get_users", json!({})).allow);
    let d = a.tool(Action::ToolWrite, "mock/create_task", json!({}));
    assert!(!d.allow);
    assert!(d.rules.is_empty());
    assert_eq!(d.rule(), "default-deny");
    assert!(d.reason.contains("no rule permits it (default deny)"), "{}", d.reason);
    assert!(d.reason.contains("tool-write `mock/create_task` by `assistant`"), "{}", d.reason);
}

#[test]
fn writes_must_name_the_authenticated_user() {
    let e = strict();
    let mut a = Ask::agent(&e);
    a.budget.note_user_message("yes");
    assert!(a.tool(Action::ToolWrite, "airline/update_reservation_flights", json!({"reservation_id": "X1"})).allow, "no user_id argument: the rule does not apply");
    let ok = a.tool(Action::ToolWrite, "airline/send_certificate", json!({"user_id": "mia_li_3668", "amount": 100}));
    assert!(ok.allow, "{ok:?}");
    let d = a.tool(Action::ToolWrite, "airline/send_certificate", json!({"user_id": "someone_else", "amount": 100}));
    assert!(!d.allow);
    assert_eq!(d.rules, ["writes-only-for-authenticated-user"]);
    assert!(d.reason.contains("may only act on the episode's authenticated user"), "{}", d.reason);
    a.user = None;
    let d = a.tool(Action::ToolWrite, "airline/send_certificate", json!({"user_id": "mia_li_3668", "amount": 100}));
    assert_eq!(d.rules, ["writes-only-for-authenticated-user"], "no authenticated user: no write may name one");
    // A read may name anyone.
    assert!(a.tool(Action::ToolRead, "airline/get_user_details", json!({"user_id": "someone_else"})).allow);
}

#[test]
fn amounts_above_the_limit_are_denied_and_exact() {
    let e = strict();
    let mut a = Ask::agent(&e);
    a.budget.note_user_message("yes");
    let at = |amount: Value| a.tool(Action::ToolWrite, "airline/send_certificate", json!({"user_id": "mia_li_3668", "amount": amount}));
    assert!(at(json!(500)).allow);
    assert!(at(json!(499.99)).allow);
    assert!(at(json!(500.0)).allow);
    let d = at(json!(500.01));
    assert!(!d.allow);
    assert_eq!(d.rules, ["amount-limit"]);
    assert!(!at(json!(100000)).allow);
    // More precision than Cedar's decimals cannot be rounded under the limit.
    let e2 = e.decide(&Request {
        principal: &a.principal,
        action: Action::ToolWrite,
        resource: &Resource::tool("airline", "send_certificate"),
        context: Context { args: Some(&json!({"amount": 500.00001})), ..Context::episode("ep") },
    });
    assert!(matches!(e2, Err(PolicyError::Request(ref m)) if m.contains("amount")), "{e2:?}");
}

#[test]
fn a_rule_that_cannot_be_evaluated_denies_fail_closed() {
    let e = strict();
    let mut a = Ask::agent(&e);
    a.budget.note_user_message("yes");
    // `amount` as a string: the forbid's `.greaterThan` errors; Cedar alone would ignore that
    // forbid and allow.
    let d = a.tool(Action::ToolWrite, "airline/send_certificate", json!({"user_id": "mia_li_3668", "amount": "99999"}));
    assert!(!d.allow, "{d:?}");
    assert_eq!(d.rules, ["amount-limit"]);
    assert!(d.reason.contains("fail closed"), "{}", d.reason);
}

#[test]
fn writes_need_confirmation_which_each_write_uses_up() {
    let e = strict();
    let mut a = Ask::agent(&e);
    let args = json!({"task_id": "task_1", "status": "completed"});
    let d = a.tool(Action::ToolWrite, "mock/update_task_status", args.clone());
    assert!(!d.allow);
    assert_eq!(d.rules, ["write-needs-confirmation"]);
    assert!(d.reason.contains("explicit user confirmation"), "{}", d.reason);
    a.budget.note_user_message("Yes, please go ahead.");
    assert!(a.tool(Action::ToolWrite, "mock/update_task_status", args.clone()).allow);
    a.budget.record_tool("mock/update_task_status", true);
    assert_eq!(a.tool(Action::ToolWrite, "mock/update_task_status", args.clone()).rules, ["write-needs-confirmation"]);
    // Reads never need it.
    assert!(a.tool(Action::ToolRead, "mock/get_users", json!({})).allow);
}

#[test]
fn budgets_and_rate_limits_count_per_episode() {
    let e = strict();
    let mut a = Ask::agent(&e);
    for i in 0..10 {
        assert!(a.tool(Action::ToolRead, "mock/get_users", json!({})).allow, "call {i}");
        a.budget.record_tool("mock/get_users", false);
    }
    assert_eq!(a.tool(Action::ToolRead, "mock/get_users", json!({})).rules, ["same-tool-rate-limit"]);
    for i in 0..30 {
        let tool = format!("mock/tool_{}", i % 5);
        assert!(a.tool(Action::ToolRead, &tool, json!({})).allow, "call {i}");
        a.budget.record_tool(&tool, false);
    }
    let d = a.tool(Action::ToolRead, "mock/another", json!({}));
    assert_eq!(d.rules, ["tool-call-budget"]);
    // A new episode starts from zero.
    let b = Ask::agent(&e);
    assert!(b.tool(Action::ToolRead, "mock/get_users", json!({})).allow);

    let mut budget = EpisodeBudget::new();
    let llm = |budget: &EpisodeBudget| {
        let c = Context { counters: budget.counters(None), ..Context::episode("ep") };
        e.decide(&Request { principal: &a.principal, action: Action::Llm, resource: &Resource::Model("gpt".into()), context: c }).unwrap()
    };
    assert!(llm(&budget).allow);
    budget.record_tokens(199_999);
    assert!(llm(&budget).allow);
    budget.record_tokens(1);
    assert_eq!(llm(&budget).rules, ["llm-token-budget"]);
}

#[test]
fn roles_read_only_and_no_network_capability() {
    let e = strict();
    let role = component("role");
    let ask = |action, resource: &Resource| e.decide(&Request { principal: &role, action, resource, context: Context::episode("ep") }).unwrap();
    assert!(ask(Action::ToolRead, &Resource::tool("mock", "get_users")).allow);
    assert!(!ask(Action::ToolWrite, &Resource::tool("mock", "create_task")).allow);
    assert!(ask(Action::Llm, &Resource::Model("small".into())).allow);
    assert!(ask(Action::Capability, &Resource::Capability("clock".into())).allow);
    let d = ask(Action::Capability, &Resource::Capability("network:example.com:443".into()));
    assert_eq!(d.rules, ["no-network"]);
    // A domain component is not a role: no tool rule permits it.
    let domain = component("domain");
    let d = e.decide(&Request { principal: &domain, action: Action::ToolRead, resource: &Resource::tool("mock", "get_users"), context: Context::episode("ep") }).unwrap();
    assert!(!d.allow);
}

#[test]
fn roles_and_sha256_can_be_named_in_rules() {
    let e = Engine::from_sources(
        None,
        &[(
            "pins.cedar",
            &format!("@id(\"pinned-simulator\")\npermit(principal in Eigenbox::Role::\"user-simulator\", action == Eigenbox::Action::\"llm\", resource == Eigenbox::Model::\"small\")\nwhen {{ principal has sha256 && principal.sha256 == \"{}\" }};", "ab".repeat(32)),
        )],
    )
    .unwrap();
    let p = component("role");
    let ask = |p: &Principal, m: &str| e.decide(&Request { principal: p, action: Action::Llm, resource: &Resource::Model(m.into()), context: Context::episode("ep") }).unwrap().allow;
    assert!(ask(&p, "small"));
    assert!(!ask(&p, "big"));
    let mut other = p.clone();
    if let Principal::Component { sha256, .. } = &mut other {
        *sha256 = "cd".repeat(32);
    }
    assert!(!ask(&other, "small"), "another build of the same component is not pinned");
}

#[test]
fn syntax_errors_name_file_line_and_column() {
    let src = "@id(\"a\")\npermit(principal, action, resource);\n\n@id(\"b\")\npermit(principal, action, resource) when { context.args. == 1 };\n";
    let err = Engine::from_sources(None, &[("bad.cedar", src)]).unwrap_err();
    let problems = err.problems();
    assert_eq!(problems.len(), 1, "{err}");
    let loc = problems[0].location.clone().unwrap();
    assert_eq!((loc.file.as_str(), loc.line, loc.column), ("bad.cedar", 5, 58), "{err}");
    assert!(err.to_string().starts_with("policy syntax error: bad.cedar:5:58: "), "{err}");
}

#[test]
fn schema_violations_name_rule_line_and_column() {
    let src = "@id(\"ok\")\npermit(principal, action == Eigenbox::Action::\"tool-read\", resource);\n\n@id(\"typo\")\nforbid(principal, action == Eigenbox::Action::\"tool-write\", resource)\n  when { context.args has user_id && context.args.userid == \"x\" };\n";
    let err = Engine::from_sources(None, &[("typo.cedar", src)]).unwrap_err();
    let PolicyError::Invalid(problems) = &err else { panic!("{err}") };
    let p = &problems[0];
    let loc = p.location.clone().unwrap();
    assert_eq!((loc.line, loc.column), (6, 38), "{err}");
    assert!(p.message.contains("rule `typo`"), "{err}");
    assert!(p.message.contains("userid"), "{err}");

    let err = Engine::from_sources(None, &[("a.cedar", "permit(principal, action == Eigenbox::Action::\"tool-delete\", resource);")]).unwrap_err();
    assert!(matches!(err, PolicyError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("tool-delete"), "{err}");
    // Unguarded access to an optional attribute is refused: `has` must come first.
    let err = Engine::from_sources(None, &[("b.cedar", "permit(principal, action == Eigenbox::Action::\"tool-write\", resource) when { context.args.user_id == \"x\" };")]).unwrap_err();
    assert!(err.to_string().contains("user_id"), "{err}");
}

#[test]
fn duplicate_ids_and_missing_files_are_refused() {
    let p = "@id(\"same\") permit(principal, action, resource);";
    let err = Engine::from_sources(None, &[("one.cedar", p), ("two.cedar", p)]).unwrap_err();
    assert!(err.to_string().contains("rule id `same` is used twice (in one.cedar and two.cedar)"), "{err}");
    let err = Engine::load(&[PathBuf::from("/nonexistent/policy.cedar")], None).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/policy.cedar"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let err = Engine::load(&[dir.path().to_path_buf()], None).unwrap_err();
    assert!(matches!(err, PolicyError::NoPolicies(_)), "{err}");
}

#[test]
fn a_custom_schema_declares_more_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let schema = eigenbox_policy::SCHEMA.replace("\"status\"?: String,", "\"status\"?: String,\n    \"cabin\"?: String,");
    std::fs::write(dir.path().join("eigenbox.cedarschema"), &schema).unwrap();
    let rule = "@id(\"no-first-class\") @reason(\"no first class\")\nforbid(principal, action in Eigenbox::Action::\"tool\", resource) when { context.args has cabin && context.args.cabin == \"first\" };\n@id(\"all\") permit(principal, action, resource);\n";
    std::fs::write(dir.path().join("cabin.cedar"), rule).unwrap();
    // With the built-in schema, `cabin` is unknown.
    let err = Engine::from_sources(None, &[("cabin.cedar", rule)]).unwrap_err();
    assert!(err.to_string().contains("cabin"), "{err}");
    // The directory's schema is picked up.
    let e = Engine::load(&[dir.path().to_path_buf()], None).unwrap();
    let a = Ask::agent(&e);
    assert_eq!(a.tool(Action::ToolRead, "airline/search", json!({"cabin": "first"})).rules, ["no-first-class"]);
    assert!(a.tool(Action::ToolRead, "airline/search", json!({"cabin": "economy"})).allow);
    // A broken schema is located too.
    std::fs::write(dir.path().join("eigenbox.cedarschema"), "namespace Eigenbox {\n  entity Role;\n  entity = ;\n}\n").unwrap();
    let err = Engine::load(&[dir.path().to_path_buf()], None).unwrap_err();
    let p = err.problems();
    assert_eq!(p[0].location.as_ref().map(|l| l.line), Some(3), "{err}");
}

#[test]
fn the_policy_hash_covers_every_byte() {
    let a = Engine::from_sources(None, &[("p.cedar", "permit(principal, action, resource);")]).unwrap();
    let b = Engine::from_sources(None, &[("p.cedar", "permit(principal, action, resource); ")]).unwrap();
    let c = Engine::from_sources(None, &[("q.cedar", "permit(principal, action, resource);")]).unwrap();
    assert_eq!(a.policy_hash().len(), 64);
    assert_ne!(a.policy_hash(), b.policy_hash());
    assert_ne!(a.policy_hash(), c.policy_hash());
    assert_eq!(a.policy_hash(), Engine::from_sources(None, &[("p.cedar", "permit(principal, action, resource);")]).unwrap().policy_hash());
    // Unnamed rules get `<file>#<n>` ids.
    assert_eq!(a.rules()[0].id, "p.cedar#1");
}

#[test]
fn arguments_that_are_not_an_object_are_denied() {
    let e = strict();
    let p = Principal::agent("assistant", ["assistant"]);
    let args = json!([1, 2]);
    let r = Request { principal: &p, action: Action::ToolWrite, resource: &Resource::tool("mock", "create_task"), context: Context { args: Some(&args), ..Context::episode("ep") } };
    assert!(matches!(e.decide(&r), Err(PolicyError::Request(_))));
    let d = e.decide_or_deny(&r);
    assert!(!d.allow);
    assert!(d.reason.contains("must be a JSON object"), "{}", d.reason);
    // Where no rule reads arguments (strict reads), the tool gets to answer them itself.
    let r = Request { principal: &p, action: Action::ToolRead, resource: &Resource::tool("mock", "get_users"), context: Context { args: Some(&args), ..Context::episode("ep") } };
    assert!(e.decide(&r).unwrap().allow);
}
