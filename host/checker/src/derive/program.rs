//! The derived program: data constants from the task, the prelude, and `check`.

use std::fmt::Write;

use eigenbox_tau2::{Requestor, RewardType, Task};
use serde_json::{Map, Value};

use super::assertions;
use super::diff::state_diff;
use super::emit::{changes_lit, lit, str_lit};
use super::states::TaskStates;
use super::{basis_name, DeriveError, DeriveSummary, DERIVE_VERSION, TERMINATION_KEY};

/// What the task needs, decided before any domain work.
pub(crate) struct Plan {
    /// The DB check is scored and needs the gold state.
    pub needs_db: bool,
    /// Assertion functions used, in first-use order.
    pub used_assertions: Vec<String>,
}

fn side_name(r: Requestor) -> &'static str {
    match r {
        Requestor::User => "user",
        Requestor::Assistant => "assistant",
    }
}

/// Validates the task's env assertions against the translations and decides what to compute.
pub(crate) fn plan(task: &Task, domain: &str) -> Result<Plan, DeriveError> {
    let Some(c) = task.evaluation_criteria.get() else {
        return Ok(Plan { needs_db: false, used_assertions: Vec::new() });
    };
    let basis = c.reward_basis();
    let env_criteria = c.actions.get().is_some() || c.env_assertions.get().is_some();
    let mut used: Vec<String> = Vec::new();
    for (index, a) in c.env_assertions.get().map(Vec::as_slice).unwrap_or(&[]).iter().enumerate() {
        let side = side_name(a.env_type);
        if !assertions::supported(domain, side, &a.func_name) {
            return Err(DeriveError::UnsupportedAssertion {
                task: task.id.clone(),
                domain: domain.into(),
                index,
                func_name: a.func_name.clone(),
                side: side.into(),
            });
        }
        let (required, optional) = assertions::params(&a.func_name);
        let bad = |message: String| DeriveError::AssertionArguments {
            task: task.id.clone(),
            index,
            func_name: a.func_name.clone(),
            message,
        };
        for r in required {
            if !a.arguments.contains_key(*r) {
                return Err(bad(format!("missing required argument `{r}`")));
            }
        }
        for k in a.arguments.keys() {
            if !required.contains(&k.as_str()) && !optional.contains(&k.as_str()) {
                return Err(bad(format!("unexpected keyword argument `{k}`")));
            }
        }
        if !used.contains(&a.func_name) {
            used.push(a.func_name.clone());
        }
    }
    Ok(Plan { needs_db: env_criteria && basis.contains(&RewardType::Db), used_assertions: used })
}

/// The prelude: generic helpers every program carries.
const PRELUDE: &str = r#"
_NORMAL_STOPS = ["user_stop", "agent_stop"]
_STEPS = 100000000
_EXTRA_SPACE = [chr(0x1c), chr(0x1d), chr(0x1e), chr(0x1f)]

def _is_num(v):
    t = type(v)
    return t == "int" or t == "float" or t == "bool"

def _py_eq(a, b):
    # Python `==` on decoded JSON: True == 1 == 1.0, dict key order ignored.
    stack = [(a, b)]
    for _ in range(_STEPS):
        if not stack:
            return True
        x, y = stack.pop()
        tx = type(x)
        ty = type(y)
        if _is_num(x) and _is_num(y):
            if (int(x) if tx == "bool" else x) != (int(y) if ty == "bool" else y):
                return False
        elif tx != ty:
            return False
        elif tx == "dict":
            if len(x) != len(y):
                return False
            for k in x:
                if k not in y:
                    return False
                stack.append((x[k], y[k]))
        elif tx == "list":
            if len(x) != len(y):
                return False
            for i in range(len(x)):
                stack.append((x[i], y[i]))
        elif x != y:
            return False
    fail("value too large to compare")

def _diff(a, b):
    # The canonical diff a -> b: {path: [has_old, old, has_new, new]} (see eigenbox-checker derive::diff).
    out = {}
    stack = [((), a, b)]
    for _ in range(_STEPS):
        if not stack:
            return out
        path, x, y = stack.pop()
        if x == y:
            continue
        tx = type(x)
        ty = type(y)
        if tx == "dict" and ty == "dict":
            for k in x:
                if k in y:
                    stack.append((path + (k,), x[k], y[k]))
                else:
                    out[path + (k,)] = [True, x[k], False, None]
            for k in y:
                if k not in x:
                    out[path + (k,)] = [False, None, True, y[k]]
        elif tx == "list" and ty == "list":
            n = len(x)
            m = len(y)
            for i in range(max(n, m)):
                if i < n and i < m:
                    stack.append((path + (i,), x[i], y[i]))
                elif i < n:
                    out[path + (i,)] = [True, x[i], False, None]
                else:
                    out[path + (i,)] = [False, None, True, y[i]]
        else:
            out[path] = [True, x, True, y]
    fail("state too large to compare")

def _path_str(path):
    return "/".join([str(p) for p in path]) if path else "<root>"

def _state(states, which, side):
    if type(states) != "dict":
        fail("`%s` must be a dict {\"agent\": ..., \"user\": ...}, got %s" % (which, type(states)))
    return states.get(side)

def _db_check(initial, final):
    problems = []
    for side in ["agent", "user"]:
        a = _state(initial, "initial", side)
        b = _state(final, "final", side)
        if _DB_PRESENT[side] and (a == None or b == None):
            fail("the %s DB state is required (initial and final) for the DB check" % side)
        actual = _diff(a, b)
        expected = _DB_CHANGES[side]
        if actual == expected:
            continue
        for p in expected:
            if p not in actual:
                problems.append("%s %s: expected change not made" % (side, _path_str(p)))
            elif actual[p] != expected[p]:
                problems.append("%s %s: changed differently than expected" % (side, _path_str(p)))
        for p in actual:
            if p not in expected:
                problems.append("%s %s: unexpected change" % (side, _path_str(p)))
    return problems

def _blank(s):
    for c in _EXTRA_SPACE:
        s = s.replace(c, "")
    return s.strip() == ""

def _communicated(trajectory, info):
    wanted = info.lower()
    for m in trajectory:
        if type(m) != "dict" or m.get("role") != "assistant":
            continue
        c = m.get("content")
        if type(c) != "string" or _blank(c):
            continue
        if wanted in c.lower().replace(",", ""):
            return True
    return False

def _tool_calls(trajectory):
    calls = []
    for m in trajectory:
        if type(m) != "dict":
            fail("trajectory messages must be dicts, got %s" % type(m))
        if m.get("role") in ["assistant", "user"]:
            tcs = m.get("tool_calls")
            if tcs:
                for c in tcs:
                    if type(c) != "dict" or type(c.get("arguments")) != "dict":
                        fail("tool calls must be dicts with `arguments` as a dict")
                    calls.append(c)
    return calls

def _action_matches(action, call):
    if action["name"] != call.get("name"):
        return False
    args = call["arguments"]
    keys = action["compare_args"]
    if keys == None:
        keys = list(args.keys())
    if not keys:
        return True
    got = {k: args[k] for k in args if k in keys}
    want = {k: action["arguments"][k] for k in action["arguments"] if k in keys}
    return _py_eq(got, want)

def _termination(task):
    meta = task.get(_TERMINATION_KEY) if type(task) == "dict" else None
    reason = meta.get("termination_reason") if type(meta) == "dict" else None
    if type(reason) != "string":
        fail("task[%r][\"termination_reason\"] is required (the episode's τ² termination reason)" % _TERMINATION_KEY)
    return reason

def _fmt(x):
    return "%s" % x

def check(task, trajectory, initial, final):
    if type(task) == "dict" and type(task.get("id")) == "string" and task["id"] != _TASK_ID:
        fail("this checker was derived for task %r, not %r" % (_TASK_ID, task["id"]))
    if type(trajectory) != "list":
        fail("`trajectory` must be a list of messages")
    reason = _termination(task)
    if reason not in _NORMAL_STOPS:
        return {"passed": False, "score": 0.0, "reasons": ["Simulation terminated prematurely. Termination reason: " + reason]}
    if not _HAS_CRITERIA:
        return {"passed": True, "score": 1.0, "reasons": ["No evaluation criteria"]}
    reasons = []
    counted = {}

    # Environment: DB and env assertions.
    if not _ENV_CRITERIA:
        db_reward = 1.0
        env_assert_reward = 1.0
        reasons.append("ENV: no expected actions or env assertions")
    else:
        if not _DB_CHECKED:
            db_reward = 1.0
            reasons.append("DB: not in the reward basis, not checked")
        else:
            problems = _db_check(initial, final)
            db_reward = 1.0 if not problems else 0.0
            if problems:
                reasons.append("DB: final state differs from the gold state (%d difference(s))" % len(problems))
                reasons.extend(["DB:   " + p for p in problems[:10]])
            else:
                reasons.append("DB: final state matches the gold state")
        env_assert_reward = 1.0
        db_by_side = {"assistant": "agent", "user": "user"}
        for i, a in enumerate(_ENV_ASSERTIONS):
            db = _state(final, "final", db_by_side[a["side"]])
            if db == None:
                fail("env assertion %s needs the final %s DB" % (a["func"], db_by_side[a["side"]]))
            returned = _ASSERT_FUNCS[a["func"]](db, a["args"])
            if type(returned) != "bool":
                fail("env assertion %s returned %r instead of bool" % (a["func"], returned))
            met = returned == a["assert_value"]
            if not met:
                env_assert_reward = 0.0
            reasons.append("ENV_ASSERTION #%d %s(%s) == %s: %s" % (i, a["func"], a["args"], a["assert_value"], "met" if met else "NOT met"))
    if "DB" in _BASIS:
        counted["DB"] = db_reward
    if "ENV_ASSERTION" in _BASIS:
        counted["ENV_ASSERTION"] = env_assert_reward

    # Actions.
    if _ACTIONS:
        calls = _tool_calls(trajectory)
        action_reward = 1.0
        for a in _ACTIONS:
            matched = False
            for c in calls:
                if _action_matches(a, c):
                    matched = True
                    break
            if not matched:
                action_reward = 0.0
            reasons.append("ACTION %s %s: %s" % (a["action_id"], a["name"], "matched" if matched else "NOT matched"))
    else:
        action_reward = 1.0
    if "ACTION" in _BASIS:
        counted["ACTION"] = action_reward

    # Communicate.
    communicate_reward = 1.0
    for info in (_COMMUNICATE_INFO or []):
        met = _communicated(trajectory, info)
        if not met:
            communicate_reward = 0.0
        reasons.append("COMMUNICATE %r: %s" % (info, "communicated" if met else "NOT communicated"))
    if "COMMUNICATE" in _BASIS:
        counted["COMMUNICATE"] = communicate_reward

    # NL assertions: no judge offline.
    nl_pending = "NL_ASSERTION" in _BASIS and bool(_NL_ASSERTIONS)
    if nl_pending:
        for s in _NL_ASSERTIONS:
            reasons.append("NL_ASSERTION not evaluated (no judge; excluded from `passed`): %s" % s)

    reward = 1.0
    for k in _BASIS:
        if k in counted:
            reward = reward * counted[k]
    for k in ["DB", "ENV_ASSERTION", "ACTION", "COMMUNICATE"]:
        if k not in _BASIS:
            reasons.append("%s: not in the reward basis" % k)
    reasons.insert(0, "reward %s over basis %s%s" % (_fmt(reward), _BASIS, " (NL assertions not evaluated)" if nl_pending else ""))
    return {"passed": reward == 1.0, "score": None if nl_pending else reward, "reasons": reasons}
"#;

/// Renders the program for `task`.
pub(crate) fn render(task: &Task, domain: &str, plan: &Plan, states: Option<&TaskStates>) -> (String, DeriveSummary) {
    let mut out = String::new();
    let _ = writeln!(out, "# eigenbox checker derived from τ² task {} (domain {domain}); derive v{DERIVE_VERSION}.", str_lit(&task.id));
    out.push_str("# Generated offline from the task's evaluation criteria; τ² reward semantics. Do not edit.\n");
    out.push_str("# check(task, trajectory, initial, final) -> {\"passed\", \"score\", \"reasons\"};\n");
    let _ = writeln!(out, "# task[{}][\"termination_reason\"] must carry the episode's termination reason.\n", str_lit(TERMINATION_KEY));
    let _ = writeln!(out, "_TASK_ID = {}", str_lit(&task.id));
    let _ = writeln!(out, "_DOMAIN = {}", str_lit(domain));
    let _ = writeln!(out, "_TERMINATION_KEY = {}", str_lit(TERMINATION_KEY));

    let criteria = task.evaluation_criteria.get();
    let basis: Vec<String> = criteria.map(|c| c.reward_basis().iter().map(basis_name).collect()).unwrap_or_default();
    let mut summary = DeriveSummary {
        reward_basis: basis.clone(),
        has_criteria: criteria.is_some(),
        agent_changes: None,
        user_changes: None,
        env_assertions: 0,
        actions: 0,
        communicate: 0,
        nl_not_evaluated: 0,
    };
    let _ = writeln!(out, "_HAS_CRITERIA = {}", if criteria.is_some() { "True" } else { "False" });
    let _ = writeln!(out, "_BASIS = {}", lit(&Value::from(basis.clone())));
    let env_criteria = criteria.is_some_and(|c| c.actions.get().is_some() || c.env_assertions.get().is_some());
    let _ = writeln!(out, "_ENV_CRITERIA = {}", if env_criteria { "True" } else { "False" });

    // DB: expected changes initial -> gold.
    match states.and_then(|s| s.gold.as_ref().map(|g| (&s.initial, g))) {
        Some((initial, gold)) if plan.needs_db => {
            let null = Value::Null;
            let agent = state_diff(initial.agent.as_ref().unwrap_or(&null), gold.agent.as_ref().unwrap_or(&null));
            let user = state_diff(initial.user.as_ref().unwrap_or(&null), gold.user.as_ref().unwrap_or(&null));
            summary.agent_changes = Some(agent.len());
            summary.user_changes = Some(user.len());
            let present = |a: &Option<Value>, b: &Option<Value>| if a.is_some() || b.is_some() { "True" } else { "False" };
            let _ = writeln!(
                out,
                "_DB_PRESENT = {{\"agent\": {}, \"user\": {}}}",
                present(&initial.agent, &gold.agent),
                present(&initial.user, &gold.user)
            );
            let _ = writeln!(out, "_DB_CHECKED = True\n_DB_CHANGES = {{\n    \"agent\": {},\n    \"user\": {},\n}}", changes_lit(&agent, "    "), changes_lit(&user, "    "));
        }
        _ => {
            // Empty rather than None, so the whole-program type checker (`eigenbox checker
            // lint`) sees one type for the global.
            out.push_str("_DB_PRESENT = {\"agent\": False, \"user\": False}\n_DB_CHECKED = False\n_DB_CHANGES = {\"agent\": {}, \"user\": {}}\n");
        }
    }

    // Env assertions.
    let env_assertions: Vec<Value> = criteria
        .and_then(|c| c.env_assertions.get())
        .map(|v| {
            v.iter()
                .map(|a| {
                    let mut m = Map::new();
                    m.insert("side".into(), Value::from(side_name(a.env_type)));
                    m.insert("func".into(), Value::from(a.func_name.clone()));
                    m.insert("args".into(), Value::Object(a.arguments.clone()));
                    m.insert("assert_value".into(), Value::Bool(a.assert_value()));
                    Value::Object(m)
                })
                .collect()
        })
        .unwrap_or_default();
    summary.env_assertions = env_assertions.len();
    let _ = writeln!(out, "_ENV_ASSERTIONS = {}", list_lines(&env_assertions));

    // Actions.
    let actions: Vec<Value> = criteria
        .and_then(|c| c.actions.get())
        .map(|v| {
            v.iter()
                .map(|a| {
                    let mut m = Map::new();
                    m.insert("action_id".into(), Value::from(a.action_id.clone()));
                    m.insert("name".into(), Value::from(a.name.clone()));
                    m.insert("arguments".into(), Value::Object(a.arguments.clone()));
                    m.insert(
                        "compare_args".into(),
                        a.compare_args.get().map(|k| Value::from(k.clone())).unwrap_or(Value::Null),
                    );
                    Value::Object(m)
                })
                .collect()
        })
        .unwrap_or_default();
    summary.actions = actions.len();
    let _ = writeln!(out, "_ACTIONS = {}", list_lines(&actions));

    let communicate = criteria.and_then(|c| c.communicate_info.get()).cloned().unwrap_or_default();
    summary.communicate = communicate.len();
    let _ = writeln!(out, "_COMMUNICATE_INFO = {}", list_lines(&communicate.into_iter().map(Value::from).collect::<Vec<_>>()));
    let nl = criteria.and_then(|c| c.nl_assertions.get()).cloned().unwrap_or_default();
    if basis.iter().any(|b| b == "NL_ASSERTION") {
        summary.nl_not_evaluated = nl.len();
    }
    let _ = writeln!(out, "_NL_ASSERTIONS = {}", list_lines(&nl.into_iter().map(Value::from).collect::<Vec<_>>()));

    out.push_str(&assertions::helpers(domain, &plan.used_assertions));
    out.push_str(PRELUDE);
    (out, summary)
}

/// A list literal with one element per line.
fn list_lines(items: &[Value]) -> String {
    if items.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[\n");
    for v in items {
        let _ = writeln!(s, "    {},", lit(v));
    }
    s.push(']');
    s
}
