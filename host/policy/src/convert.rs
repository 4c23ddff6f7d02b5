//! JSON arguments and host counters → a Cedar context.

use std::collections::{HashMap, HashSet};

use cedar_policy::{Context, RestrictedExpression};
use serde_json::Value;

use crate::{Action, PolicyError, Request};

/// Largest magnitude of a Cedar `decimal` (i64 with four decimal places).
const DECIMAL_MAX_INT: u64 = 922_337_203_685_477;

/// A JSON number as a Cedar decimal literal, exactly, or why not.
pub(crate) fn decimal_literal(n: &serde_json::Number) -> Result<String, String> {
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= DECIMAL_MAX_INT {
            return Ok(format!("{i}.0"));
        }
        return Err(format!("{i} is outside Cedar's decimal range"));
    }
    if n.as_u64().is_some() {
        return Err(format!("{n} is outside Cedar's decimal range"));
    }
    let f = n.as_f64().ok_or_else(|| format!("{n} is not a number Cedar can represent"))?;
    if !f.is_finite() || f.abs() >= DECIMAL_MAX_INT as f64 {
        return Err(format!("{n} is outside Cedar's decimal range"));
    }
    let scaled = (f * 10_000.0).round();
    // Exact only when four decimal places hold the value (so a limit cannot be slipped under by rounding).
    if (scaled / 10_000.0 - f).abs() > f.abs() * 1e-15 {
        return Err(format!("{n} has more than 4 decimal places (Cedar decimals have 4)"));
    }
    let s = scaled as i64;
    let (sign, abs) = if s < 0 { ("-", s.unsigned_abs()) } else { ("", s as u64) };
    Ok(format!("{sign}{}.{:04}", abs / 10_000, abs % 10_000))
}

/// Which parts of the context a set of rules can look at. Building Cedar values is most of the
/// cost of a decision, so the context a request gets holds only these (anything else cannot
/// change the answer).
#[derive(Debug, Default, Clone)]
pub(crate) struct Usage {
    /// `context` itself is used whole: pass everything.
    all: bool,
    /// Top-level attributes named (`context.user`, `context has user`).
    top: HashSet<String>,
    /// Top-level attributes used whole (`context.args == ...`).
    whole: HashSet<String>,
    /// Second-level attributes named, per top-level one (`context.args.amount`).
    sub: HashMap<String, HashSet<String>>,
}

impl Usage {
    /// Collect what the rules (as Cedar's JSON policy format) look at.
    pub(crate) fn of<'a>(policies: impl IntoIterator<Item = &'a cedar_policy::Policy>) -> Usage {
        let mut u = Usage::default();
        for p in policies {
            match p.to_json() {
                Ok(json) => u.walk(&json),
                Err(_) => u.all = true,
            }
        }
        u
    }

    fn is_context(v: &Value) -> bool {
        v.get("Var").and_then(Value::as_str) == Some("context")
    }

    /// `context.<a>` → `Some(a)`.
    fn context_attr(v: &Value) -> Option<&str> {
        let dot = v.get(".")?;
        if Self::is_context(dot.get("left")?) {
            dot.get("attr")?.as_str()
        } else {
            None
        }
    }

    fn walk(&mut self, v: &Value) {
        match v {
            Value::Object(m) => {
                for (k, inner) in m {
                    if k == "." || k == "has" {
                        if let (Some(left), Some(attr)) = (inner.get("left"), inner.get("attr")) {
                            // `attr` is a name, or a path for `has a.b`.
                            let path: Vec<&str> = match attr {
                                Value::String(s) => vec![s.as_str()],
                                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                                _ => Vec::new(),
                            };
                            if Self::is_context(left) {
                                if let Some(first) = path.first() {
                                    self.top.insert(first.to_string());
                                    match path.get(1) {
                                        Some(second) => {
                                            self.sub.entry(first.to_string()).or_default().insert(second.to_string());
                                        }
                                        // `context.x` reached here is used whole unless a parent
                                        // `.`/`has` took it apart (that branch does not recurse).
                                        None if k == "." => {
                                            self.whole.insert(first.to_string());
                                        }
                                        None => {}
                                    }
                                }
                                continue;
                            }
                            if let (Some(a), Some(first)) = (Self::context_attr(left), path.first()) {
                                self.top.insert(a.to_string());
                                self.sub.entry(a.to_string()).or_default().insert(first.to_string());
                                continue;
                            }
                            self.walk(left);
                            continue;
                        }
                    }
                    if k == "Var" && inner.as_str() == Some("context") {
                        self.all = true;
                    }
                    self.walk(inner);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| self.walk(i)),
            _ => {}
        }
    }

    fn wants(&self, top: &str) -> bool {
        self.all || self.top.contains(top)
    }

    /// `None`: every key; `Some(set)`: only these.
    fn keys(&self, top: &str) -> Option<Option<&HashSet<String>>> {
        if !self.wants(top) {
            return None;
        }
        if self.all || self.whole.contains(top) {
            return Some(None);
        }
        Some(self.sub.get(top))
    }
}

/// `decimal("<lit>")` as a restricted expression. `RestrictedExpression::new_decimal` parses
/// the name `decimal` with Cedar's full grammar on every call (most of a decision's cost when
/// arguments hold numbers); the name is parsed once here instead.
fn decimal(lit: String) -> RestrictedExpression {
    use ref_cast::RefCast;
    static NAME: std::sync::LazyLock<Option<cedar_policy_core::ast::Name>> = std::sync::LazyLock::new(|| cedar_policy_core::ast::Name::parse_unqualified_name("decimal").ok());
    match NAME.as_ref() {
        Some(name) => {
            let e = cedar_policy_core::ast::RestrictedExpr::call_extension_fn(name.clone(), [cedar_policy_core::ast::RestrictedExpr::val(lit)]);
            RestrictedExpression::ref_cast(&e).clone()
        }
        None => RestrictedExpression::new_decimal(lit),
    }
}

pub(crate) fn value(v: &Value, path: &str) -> Result<Option<RestrictedExpression>, PolicyError> {
    Ok(Some(match v {
        Value::Null => return Ok(None),
        Value::Bool(b) => RestrictedExpression::new_bool(*b),
        Value::String(s) => RestrictedExpression::new_string(s.clone()),
        Value::Number(n) => decimal(decimal_literal(n).map_err(|e| PolicyError::Request(format!("argument `{path}`: {e}")))?),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                if let Some(x) = value(item, &format!("{path}[{i}]"))? {
                    out.push(x);
                }
            }
            RestrictedExpression::new_set(out)
        }
        Value::Object(map) => record(map, path, None)?,
    }))
}

fn record(map: &serde_json::Map<String, Value>, path: &str, only: Option<&HashSet<String>>) -> Result<RestrictedExpression, PolicyError> {
    let mut pairs = Vec::with_capacity(map.len());
    for (k, v) in map {
        if only.is_some_and(|o| !o.contains(k)) {
            continue;
        }
        let sub = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
        if let Some(x) = value(v, &sub)? {
            pairs.push((k.clone(), x));
        }
    }
    RestrictedExpression::new_record(pairs).map_err(|e| PolicyError::Request(format!("arguments: {e}")))
}

fn long(v: u64) -> RestrictedExpression {
    RestrictedExpression::new_long(i64::try_from(v).unwrap_or(i64::MAX))
}

/// The Cedar context of a request, holding what `usage` says the rules can look at.
pub(crate) fn context(req: &Request<'_>, usage: &Usage) -> Result<Context, PolicyError> {
    let c = &req.context;
    let s = |v: &str| RestrictedExpression::new_string(v.to_string());
    let counters = || -> Result<RestrictedExpression, PolicyError> {
        let k = &c.counters;
        let only = usage.keys("counters").flatten();
        let all = [
            ("tool_calls", k.tool_calls),
            ("write_calls", k.write_calls),
            ("this_tool_calls", k.this_tool_calls),
            ("llm_calls", k.llm_calls),
            ("llm_tokens", k.llm_tokens),
            ("denied", k.denied),
            ("elapsed_ms", k.elapsed_ms),
        ];
        RestrictedExpression::new_record(all.into_iter().filter(|(n, _)| only.is_none_or(|o| o.contains(*n))).map(|(n, v)| (n.to_string(), long(v))))
            .map_err(|e| PolicyError::Internal(e.to_string()))
    };
    let mut pairs: Vec<(String, RestrictedExpression)> = Vec::with_capacity(8);
    match req.action {
        Action::ToolRead | Action::ToolWrite => {
            if usage.wants("episode") {
                pairs.push(("episode".into(), s(c.episode)));
            }
            if let (Some(r), true) = (c.run, usage.wants("run")) {
                pairs.push(("run".into(), s(r)));
            }
            if let (Some(u), true) = (c.user, usage.wants("user")) {
                pairs.push(("user".into(), s(u)));
            }
            if usage.wants("requestor") {
                pairs.push(("requestor".into(), s(c.requestor.unwrap_or("assistant"))));
            }
            // Arguments that are not an object are refused only when a rule would read them
            // (fail closed); otherwise the tool answers them itself.
            if let Some(only) = usage.keys("args") {
                let map = match c.args {
                    None => None,
                    Some(Value::Object(map)) => Some(map),
                    Some(other) => return Err(PolicyError::Request(format!("tool arguments must be a JSON object, got {}", kind(other)))),
                };
                let args = match map {
                    None => RestrictedExpression::new_record([]).map_err(|e| PolicyError::Internal(e.to_string()))?,
                    Some(map) => match only {
                        Some(keys) => record(map, "", Some(keys))?,
                        None => record(map, "", None)?,
                    },
                };
                pairs.push(("args".into(), args));
            }
            if usage.wants("counters") {
                pairs.push(("counters".into(), counters()?));
            }
            if usage.wants("confirmed") {
                pairs.push(("confirmed".into(), RestrictedExpression::new_bool(c.confirmed)));
            }
        }
        Action::Llm => {
            if usage.wants("episode") {
                pairs.push(("episode".into(), s(c.episode)));
            }
            if let (Some(r), true) = (c.run, usage.wants("run")) {
                pairs.push(("run".into(), s(r)));
            }
            if usage.wants("counters") {
                pairs.push(("counters".into(), counters()?));
            }
            if let (Some(m), true) = (c.max_tokens, usage.wants("max_tokens")) {
                pairs.push(("max_tokens".into(), long(m)));
            }
        }
        Action::Capability => {
            if let crate::Resource::Capability(cap) = req.resource {
                if let (Some((_, detail)), true) = (cap.split_once(':'), usage.wants("detail")) {
                    pairs.push(("detail".into(), s(detail)));
                }
            }
        }
    }
    Context::from_pairs(pairs).map_err(|e| PolicyError::Internal(e.to_string()))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::{decimal_literal, Usage};
    use std::str::FromStr;

    fn usage(src: &str) -> Usage {
        let set = cedar_policy::PolicySet::from_str(src).unwrap();
        Usage::of(set.policies())
    }

    #[test]
    fn usage_finds_what_rules_look_at() {
        let u = usage(r#"forbid(principal, action, resource) when { context.args has amount && context.args.amount.greaterThan(decimal("1.0")) && context has user.name && context.counters.tool_calls > 1 };"#);
        assert!(!u.all);
        assert!(u.wants("args") && u.wants("user") && u.wants("counters"));
        assert!(!u.wants("episode") && !u.wants("confirmed"));
        assert_eq!(u.keys("args"), Some(Some(&["amount".to_string()].into())));
        assert_eq!(u.keys("counters"), Some(Some(&["tool_calls".to_string()].into())));
        let u = usage(r#"permit(principal, action, resource) when { context.args == {} };"#);
        assert_eq!(u.keys("args"), Some(None), "args used whole: every key");
        let u = usage(r#"permit(principal, action, resource) when { context == {} };"#);
        assert!(u.all && u.wants("episode"));
        let u = usage(r#"permit(principal, action, resource);"#);
        assert!(!u.wants("args"));
    }

    fn d(s: &str) -> Result<String, String> {
        decimal_literal(&serde_json::from_str::<serde_json::Number>(s).unwrap())
    }

    #[test]
    fn numbers_become_exact_decimals_or_errors() {
        assert_eq!(d("500").unwrap(), "500.0");
        assert_eq!(d("-3").unwrap(), "-3.0");
        assert_eq!(d("499.99").unwrap(), "499.9900");
        assert_eq!(d("0.0001").unwrap(), "0.0001");
        assert_eq!(d("-12.5").unwrap(), "-12.5000");
        assert_eq!(d("1e2").unwrap(), "100.0000");
        assert!(d("0.00001").unwrap_err().contains("4 decimal places"));
        assert!(d("500.00001").unwrap_err().contains("4 decimal places"));
        assert!(d("1e300").unwrap_err().contains("range"));
        assert!(d("18446744073709551615").unwrap_err().contains("range"));
    }
}
