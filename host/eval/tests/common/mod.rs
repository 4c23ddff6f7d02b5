//! A small native domain for exercising the evaluator: a key-value agent DB, a user DB with a
//! `mirror` field that a post-call sync copies from the agent's `status` key (like telecom's
//! `sync_tools`), and a few env functions.
#![allow(dead_code)]

use std::cell::Cell;
use std::rc::Rc;

use eigenbox_tau2::{DomainEnv, EpisodeInit, Message, Requestor, Task, ToolKind, ToolSpec};
use serde_json::{json, Map, Value};

#[derive(Clone, Debug)]
pub struct Kv {
    pub agent: Map<String, Value>,
    pub user: Map<String, Value>,
    /// Whether `call_tool_unsynced` is implemented.
    pub unsynced: bool,
    /// Counts environments made (shared with the factory).
    pub made: Rc<Cell<usize>>,
    /// Every (tool, synced?) call, for inspection.
    pub log: Vec<(String, bool)>,
}

impl Kv {
    pub fn new(unsynced: bool, made: Rc<Cell<usize>>) -> Kv {
        made.set(made.get() + 1);
        let mut k = Kv { agent: Map::new(), user: Map::new(), unsynced, made, log: Vec::new() };
        k.reset(&EpisodeInit::empty()).unwrap();
        k
    }

    fn sync(&mut self) {
        let status = self.agent.get("status").cloned().unwrap_or(Value::Null);
        self.user.insert("mirror".into(), status);
    }

    fn raw(&mut self, requestor: Requestor, name: &str, args: &Value) -> (String, bool) {
        let s = |v: &Value| v.as_str().map(str::to_string);
        match (requestor, name) {
            (Requestor::Assistant, "set") => match (s(&args["key"]), args.get("value")) {
                (Some(k), Some(v)) => {
                    self.agent.insert(k, v.clone());
                    (json!({"ok": true}).to_string(), false)
                }
                _ => ("Error: key and value required".into(), true),
            },
            (Requestor::Assistant, "get") => match s(&args["key"]) {
                Some(k) => (self.agent.get(&k).cloned().unwrap_or(Value::Null).to_string(), false),
                None => ("Error: key required".into(), true),
            },
            (Requestor::Assistant, "fail") => ("Error: always fails".into(), true),
            (Requestor::User, "toggle") => {
                let on = self.user.get("light").and_then(Value::as_bool).unwrap_or(false);
                self.user.insert("light".into(), Value::Bool(!on));
                (format!("light is now {}", if on { "off" } else { "on" }), false)
            }
            (_, other) => (format!("Error: Tool '{other}' not found."), true),
        }
    }
}

impl DomainEnv for Kv {
    type Error = String;

    fn reset(&mut self, init: &EpisodeInit) -> Result<(), String> {
        self.agent = json!({"status": "new"}).as_object().cloned().unwrap_or_default();
        self.user = Map::new();
        if let Some(Value::Object(d)) = &init.agent_data {
            for (k, v) in d {
                self.agent.insert(k.clone(), v.clone());
            }
        }
        for a in &init.actions {
            self.env_function(a.env_type, &a.func_name, &Value::Object(a.arguments.clone()))?;
        }
        self.sync();
        Ok(())
    }

    fn tools(&mut self) -> Result<Vec<ToolSpec>, String> {
        let t = |name: &str, requestor, kind| ToolSpec {
            name: name.into(),
            description: String::new(),
            parameters: json!({}),
            requestor,
            kind: Some(kind),
            mutates_state: Some(kind == ToolKind::Write),
        };
        Ok(vec![
            t("set", Requestor::Assistant, ToolKind::Write),
            t("get", Requestor::Assistant, ToolKind::Read),
            t("fail", Requestor::Assistant, ToolKind::Write),
            t("toggle", Requestor::User, ToolKind::Write),
        ])
    }

    fn call_tool(&mut self, requestor: Requestor, name: &str, arguments: &Value) -> Result<(String, bool), String> {
        if name == "trap" {
            return Err("the sandbox trapped".into());
        }
        self.log.push((name.to_string(), true));
        let r = self.raw(requestor, name, arguments);
        if !r.1 {
            self.sync();
        }
        Ok(r)
    }

    fn call_tool_unsynced(&mut self, requestor: Requestor, name: &str, arguments: &Value) -> Result<Option<(String, bool)>, String> {
        if !self.unsynced {
            return Ok(None);
        }
        self.log.push((name.to_string(), false));
        Ok(Some(self.raw(requestor, name, arguments)))
    }

    fn env_function(&mut self, side: Requestor, name: &str, arguments: &Value) -> Result<Value, String> {
        match (side, name) {
            (Requestor::Assistant, "assert_value") => {
                let k = arguments["key"].as_str().ok_or("key required")?;
                Ok(Value::Bool(self.agent.get(k) == arguments.get("value")))
            }
            (Requestor::Assistant, "count") => Ok(json!(self.agent.len())),
            (Requestor::Assistant, "set_status") => {
                self.agent.insert("status".into(), arguments["status"].clone());
                Ok(Value::Null)
            }
            (Requestor::User, "assert_light") => Ok(Value::Bool(self.user.get("light") == Some(&Value::Bool(true)))),
            _ => Err(format!("'KvTools' object has no attribute '{name}'")),
        }
    }

    fn state_hash(&mut self, side: Requestor) -> Result<Option<String>, String> {
        Ok(Some(match side {
            Requestor::Assistant => eigenbox_pyjson::hash_value(&Value::Object(self.agent.clone())),
            Requestor::User => eigenbox_pyjson::hash_value(&Value::Object(self.user.clone())),
        }))
    }

    fn is_mutating(&mut self, name: &str) -> Result<Option<bool>, String> {
        Ok(match name {
            "set" | "fail" | "toggle" => Some(true),
            "get" => Some(false),
            _ => None,
        })
    }
}

/// A task from JSON (only `evaluation_criteria` and `initial_state` matter).
pub fn task(criteria: Value) -> Task {
    serde_json::from_value(json!({"id": "t", "user_scenario": {"instructions": "x"}, "evaluation_criteria": criteria}))
        .expect("task JSON")
}

/// Messages from JSON.
pub fn msgs(v: Value) -> Vec<Message> {
    serde_json::from_value(v).expect("messages JSON")
}

/// An assistant tool call and its recorded answer.
pub fn call(id: &str, name: &str, args: Value, response: &str) -> Vec<Value> {
    vec![
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": id, "name": name, "arguments": args}]}),
        json!({"role": "tool", "id": id, "content": response}),
    ]
}

/// Greeting, the given middle, then the user's stop.
pub fn dialogue(middle: Vec<Value>) -> Vec<Message> {
    let mut all = vec![json!({"role": "assistant", "content": "Hi! How can I help you today?"}), json!({"role": "user", "content": "Please help."})];
    all.extend(middle);
    all.push(json!({"role": "user", "content": "Thanks! ###STOP###"}));
    msgs(Value::Array(all))
}
