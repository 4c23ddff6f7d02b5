//! The evaluator's result, `RewardInfo`, serialising exactly like the reference's
//! `reward_info.model_dump(mode="json")`: same keys, same order, `null` for absent parts, every
//! pydantic default written out (an action's `requestor`, `info`, `compare_args`; an env
//! assertion's `assert_value`, `message`).

use std::fmt;

use eigenbox_tau2::{Action, EnvAssertion, RewardType, ToolKind};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// `DBCheck`: whether the predicted environment's DBs hash like the gold environment's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbCheck {
    /// Agent and user DB hashes both matched.
    pub db_match: bool,
    /// 1.0 or 0.0.
    pub db_reward: f64,
}

/// `EnvAssertionCheck`: one env assertion run on the predicted environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvAssertionCheck {
    /// The assertion (written with all its fields, defaults included).
    #[serde(serialize_with = "dump_env_assertion")]
    pub env_assertion: EnvAssertion,
    /// Whether the function returned the asserted value.
    pub met: bool,
    /// 1.0 or 0.0.
    pub reward: f64,
}

/// `ActionCheck`: whether a reference action was matched by some tool call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionCheck {
    /// The reference action (written with all its fields, defaults included).
    #[serde(serialize_with = "dump_action")]
    pub action: Action,
    /// Whether a tool call of the trajectory matched it.
    pub action_match: bool,
    /// 1.0 or 0.0.
    pub action_reward: f64,
    /// The tool's kind in the domain (`null` when the domain has no such tool).
    pub tool_type: Option<ToolKind>,
}

/// `NLAssertionCheck`: one natural-language assertion as a judge graded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NlAssertionCheck {
    /// The assertion (as the judge repeated it).
    pub nl_assertion: String,
    /// Whether the judge found it met.
    pub met: bool,
    /// The judge's reasoning.
    pub justification: String,
}

/// `CommunicateCheck`: whether the agent said a required piece of information.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommunicateCheck {
    /// The required information.
    pub info: String,
    /// Whether some agent message contained it.
    pub met: bool,
    /// Which message, or that none did.
    pub justification: String,
}

/// `reward_breakdown`: per-component rewards in insertion order (a Python dict), serialised
/// as a JSON object keyed by the reward type (`"DB"`, `"ACTION"`, ...).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RewardBreakdown(Vec<(RewardType, f64)>);

impl RewardBreakdown {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }
    /// One component.
    pub fn of(kind: RewardType, reward: f64) -> Self {
        RewardBreakdown(vec![(kind, reward)])
    }
    /// `d[kind] = reward`: replaces the value in place, or appends.
    pub fn insert(&mut self, kind: RewardType, reward: f64) {
        match self.0.iter_mut().find(|(k, _)| *k == kind) {
            Some(slot) => slot.1 = reward,
            None => self.0.push((kind, reward)),
        }
    }
    /// `d.update(other)`.
    pub fn update(&mut self, other: &RewardBreakdown) {
        for (k, v) in &other.0 {
            self.insert(*k, *v);
        }
    }
    /// The reward of one component.
    pub fn get(&self, kind: RewardType) -> Option<f64> {
        self.0.iter().find(|(k, _)| *k == kind).map(|(_, v)| *v)
    }
    /// The components in order.
    pub fn iter(&self) -> impl Iterator<Item = (RewardType, f64)> + '_ {
        self.0.iter().copied()
    }
    /// Number of components.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for RewardBreakdown {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for RewardBreakdown {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RewardBreakdown;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of reward type to reward")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<RewardBreakdown, A::Error> {
                let mut out = RewardBreakdown::new();
                while let Some((k, v)) = a.next_entry::<RewardType, f64>()? {
                    out.insert(k, v);
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// The reference's `RewardInfo`. Build one with [`RewardInfo::new`] (the pydantic defaults:
/// everything `None` except `reward_basis = [DB]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewardInfo {
    /// The reward.
    pub reward: f64,
    /// DB check.
    pub db_check: Option<DbCheck>,
    /// Env assertion checks.
    pub env_assertions: Option<Vec<EnvAssertionCheck>>,
    /// Action checks.
    pub action_checks: Option<Vec<ActionCheck>>,
    /// NL assertion checks.
    pub nl_assertions: Option<Vec<NlAssertionCheck>>,
    /// Communicate checks.
    pub communicate_checks: Option<Vec<CommunicateCheck>>,
    /// The components that make up the reward.
    pub reward_basis: Option<Vec<RewardType>>,
    /// Per-component rewards.
    pub reward_breakdown: Option<RewardBreakdown>,
    /// Free-form notes (`{"note": ...}`, or per evaluator in a combined evaluation).
    pub info: Option<Value>,
}

impl RewardInfo {
    /// `RewardInfo(reward=reward)` with the reference's defaults.
    pub fn new(reward: f64) -> Self {
        RewardInfo {
            reward,
            db_check: None,
            env_assertions: None,
            action_checks: None,
            nl_assertions: None,
            communicate_checks: None,
            reward_basis: Some(vec![RewardType::Db]),
            reward_breakdown: None,
            info: None,
        }
    }

    /// The JSON value the reference writes (`model_dump(mode="json")`).
    pub fn to_json(&self) -> Value {
        // Serialising these types cannot fail: every map key is a string and every float is
        // finite or written as null.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// `{"note": text}`.
pub(crate) fn note(text: impl Into<String>) -> Value {
    let mut m = Map::new();
    m.insert("note".into(), Value::String(text.into()));
    Value::Object(m)
}

/// `Action.model_dump()`: every field, defaults included, in declaration order.
pub fn action_dump(a: &Action) -> Value {
    let mut m = Map::new();
    m.insert("action_id".into(), Value::String(a.action_id.clone()));
    m.insert("requestor".into(), Value::String(a.requestor().as_str().into()));
    m.insert("name".into(), Value::String(a.name.clone()));
    m.insert("arguments".into(), Value::Object(a.arguments.clone()));
    m.insert("info".into(), a.info.get().map(|s| Value::String(s.clone())).unwrap_or(Value::Null));
    m.insert(
        "compare_args".into(),
        a.compare_args
            .get()
            .map(|l| Value::Array(l.iter().map(|s| Value::String(s.clone())).collect()))
            .unwrap_or(Value::Null),
    );
    Value::Object(m)
}

/// `EnvAssertion.model_dump()`: every field, defaults included, in declaration order.
pub fn env_assertion_dump(a: &EnvAssertion) -> Value {
    let mut m = Map::new();
    m.insert("env_type".into(), Value::String(a.env_type.as_str().into()));
    m.insert("func_name".into(), Value::String(a.func_name.clone()));
    m.insert("arguments".into(), Value::Object(a.arguments.clone()));
    m.insert("assert_value".into(), Value::Bool(a.assert_value()));
    m.insert("message".into(), a.message.get().map(|s| Value::String(s.clone())).unwrap_or(Value::Null));
    Value::Object(m)
}

fn dump_action<S: Serializer>(a: &Action, s: S) -> Result<S::Ok, S::Error> {
    action_dump(a).serialize(s)
}

fn dump_env_assertion<S: Serializer>(a: &EnvAssertion, s: S) -> Result<S::Ok, S::Error> {
    env_assertion_dump(a).serialize(s)
}

/// Every difference between an expected and an actual JSON value (key order and the
/// int/float distinction included), one `path: detail` line each, at most `limit` lines.
pub fn json_differences(expected: &Value, actual: &Value, limit: usize) -> Vec<String> {
    fn short(v: &Value) -> String {
        let s = v.to_string();
        if s.chars().count() <= 200 {
            s
        } else {
            format!("{}…", s.chars().take(200).collect::<String>())
        }
    }
    fn walk(e: &Value, a: &Value, path: &str, out: &mut Vec<String>, limit: usize) {
        if out.len() >= limit {
            return;
        }
        let at = path;
        match (e, a) {
            (Value::Object(x), Value::Object(y)) => {
                for (k, v) in x {
                    match y.get(k) {
                        Some(w) => walk(v, w, &format!("{path}.{k}"), out, limit),
                        None => out.push(format!("{at}.{k}: missing (expected {})", short(v))),
                    }
                }
                for (k, w) in y {
                    if !x.contains_key(k) {
                        out.push(format!("{at}.{k}: unexpected (got {})", short(w)));
                    }
                }
                let xk: Vec<&String> = x.keys().filter(|k| y.contains_key(*k)).collect();
                let yk: Vec<&String> = y.keys().filter(|k| x.contains_key(*k)).collect();
                if xk != yk {
                    out.push(format!("{at}: key order differs: expected {xk:?}, got {yk:?}"));
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    walk(v, w, &format!("{path}[{i}]"), out, limit);
                }
                if x.len() != y.len() {
                    out.push(format!("{at}: expected {} items, got {}", x.len(), y.len()));
                }
            }
            _ if e == a => {}
            _ => out.push(format!("{at}: expected {}, got {}", short(e), short(a))),
        }
        out.truncate(limit);
    }
    let mut out = Vec::new();
    walk(expected, actual, "$", &mut out, limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pydantic_defaults_are_written_out() {
        let a: Action = serde_json::from_value(json!({"action_id": "a1", "name": "f", "arguments": {"x": 1.0, "b": 2}})).unwrap();
        assert_eq!(
            serde_json::to_string(&action_dump(&a)).unwrap(),
            r#"{"action_id":"a1","requestor":"assistant","name":"f","arguments":{"x":1.0,"b":2},"info":null,"compare_args":null}"#
        );
        let e: EnvAssertion = serde_json::from_value(json!({"env_type": "user", "func_name": "g", "arguments": {}})).unwrap();
        assert_eq!(
            serde_json::to_string(&env_assertion_dump(&e)).unwrap(),
            r#"{"env_type":"user","func_name":"g","arguments":{},"assert_value":true,"message":null}"#
        );
    }

    #[test]
    fn reward_info_round_trips_and_keeps_breakdown_order() {
        let text = r#"{"reward":0.0,"db_check":{"db_match":false,"db_reward":0.0},"env_assertions":[],"action_checks":[{"action":{"action_id":"a","requestor":"user","name":"n","arguments":{},"info":null,"compare_args":["x"]},"action_match":false,"action_reward":0.0,"tool_type":"write"}],"nl_assertions":null,"communicate_checks":null,"reward_basis":["DB","COMMUNICATE"],"reward_breakdown":{"DB":0.0,"COMMUNICATE":1.0},"info":{"env":null,"nl":null}}"#;
        let r: RewardInfo = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), text);
        let mut b = RewardBreakdown::of(RewardType::Communicate, 0.0);
        b.update(&RewardBreakdown::of(RewardType::Db, 1.0));
        b.insert(RewardType::Communicate, 1.0);
        assert_eq!(serde_json::to_string(&b).unwrap(), r#"{"COMMUNICATE":1.0,"DB":1.0}"#);
    }

    #[test]
    fn defaults_match_the_reference_model() {
        assert_eq!(
            RewardInfo::new(1.0).to_json(),
            json!({"reward": 1.0, "db_check": null, "env_assertions": null, "action_checks": null, "nl_assertions": null,
                   "communicate_checks": null, "reward_basis": ["DB"], "reward_breakdown": null, "info": null})
        );
    }

    #[test]
    fn differences_name_paths_types_and_order() {
        let e = json!({"a": 1.0, "b": [1, 2], "c": {"x": 1, "y": 2}});
        let a = json!({"a": 1, "b": [1], "c": {"y": 2, "x": 1}, "d": null});
        let d = json_differences(&e, &a, 10);
        assert!(d.contains(&"$.a: expected 1.0, got 1".to_string()), "{d:?}");
        assert!(d.contains(&"$.b: expected 2 items, got 1".to_string()), "{d:?}");
        assert!(d.iter().any(|l| l.starts_with("$.c: key order differs")), "{d:?}");
        assert!(d.contains(&"$.d: unexpected (got null)".to_string()), "{d:?}");
        assert!(json_differences(&e, &e, 10).is_empty());
        assert_eq!(json_differences(&e, &a, 2).len(), 2);
    }
}
