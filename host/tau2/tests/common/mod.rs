//! A small in-Rust imitation of τ²'s mock domain, for exercising the engine.
#![allow(dead_code)]

use eigenbox_tau2::{DomainEnv, EpisodeInit, Requestor, ToolKind, ToolSpec};
use serde_json::{json, Map, Value};

const AGENT_TOOLS: &str = r##"[{"name": "create_task", "description": "Create a new task for a user.", "parameters": {"properties": {"user_id": {"description": "The ID of the user creating the task", "title": "User Id", "type": "string"}, "title": {"description": "The title of the task", "title": "Title", "type": "string"}, "description": {"default": null, "description": "Optional description of the task", "title": "Description", "type": "string"}}, "required": ["user_id", "title"], "title": "parameters", "type": "object"}}, {"name": "get_users", "description": "Get all users in the database.", "parameters": {"properties": {}, "title": "parameters", "type": "object"}}, {"name": "update_task_status", "description": "Update the status of a task.", "parameters": {"properties": {"task_id": {"description": "The ID of the task to update", "title": "Task Id", "type": "string"}, "status": {"description": "The new status of the task", "enum": ["pending", "completed"], "title": "Status", "type": "string"}}, "required": ["task_id", "status"], "title": "parameters", "type": "object"}}, {"name": "transfer_to_human_agents", "description": "Transfer the user to a human agent, with a summary of the user's issue.\n\nOnly transfer if\n -  the user explicitly asks for a human agent\n -  given the policy and the available tools, you cannot solve the user's issue.", "parameters": {"properties": {"summary": {"description": "A summary of the user's issue.", "title": "Summary", "type": "string"}}, "required": ["summary"], "title": "parameters", "type": "object"}}]"##;
const USER_TOOLS: &str = r##"[{"name": "check_notifications", "description": "Check all notifications in the user's inbox.", "parameters": {"properties": {}, "title": "parameters", "type": "object"}}, {"name": "dismiss_notification", "description": "Dismiss (mark as read) a notification.", "parameters": {"properties": {"notification_id": {"description": "The ID of the notification to dismiss.", "title": "Notification Id", "type": "string"}}, "required": ["notification_id"], "title": "parameters", "type": "object"}}]"##;

/// Deliberate defects.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bugs {
    /// `update_task_status` answers with a wrong status text.
    pub wrong_response: bool,
    /// The agent hash ignores task statuses (so it diverges after update_task_status).
    pub hash_ignores_status: bool,
    /// The description of `get_users` differs.
    pub wrong_schema: bool,
}

pub struct FakeMock {
    pub agent: Value,
    pub user: Value,
    pub bugs: Bugs,
    /// The reference's `set_state` re-points `user_tools.db` at the agent DB after merging
    /// `agent_data` (and vice versa for `user_data`), so both sides then hash the same DB.
    pub alias: Option<Requestor>,
}

pub fn initial_agent_db() -> Value {
    json!({"tasks": {"task_1": {"task_id": "task_1", "title": "Test task", "description": "A test task", "status": "pending"}},
           "users": {"user_1": {"user_id": "user_1", "name": "Test User", "tasks": ["task_1"]}}})
}

pub fn initial_user_db() -> Value {
    json!({"notifications": {"notif_1": {"notification_id": "notif_1", "message": "Task 'Test task' has been assigned to you.", "status": "unread", "task_id": "task_1"}}})
}

impl FakeMock {
    pub fn new(bugs: Bugs) -> Self {
        FakeMock { agent: initial_agent_db(), user: initial_user_db(), bugs, alias: None }
    }
}

fn py_str(v: &Value) -> String {
    eigenbox_pyjson::py_str(v)
}

/// Python `json.dumps(v, sort_keys=sort)`.
pub fn py_dumps(v: &Value, sort: bool) -> String {
    if sort {
        eigenbox_pyjson::dumps_sorted(v)
    } else {
        eigenbox_pyjson::dumps(v)
    }
}

fn sha(v: &Value) -> String {
    eigenbox_pyjson::hash_value(v)
}

/// addict-style deep merge.
fn merge(base: &mut Value, update: &Value) {
    match (base, update) {
        (Value::Object(b), Value::Object(u)) => {
            for (k, v) in u {
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, u) => *b = u.clone(),
    }
}

struct Sig {
    class: &'static str,
    name: &'static str,
    params: &'static [&'static str],
    required: usize,
}

const SIGS: &[(Requestor, Sig, bool)] = &[
    (Requestor::Assistant, Sig { class: "MockTools", name: "create_task", params: &["user_id", "title", "description"], required: 2 }, true),
    (Requestor::Assistant, Sig { class: "MockTools", name: "get_users", params: &[], required: 0 }, false),
    (Requestor::Assistant, Sig { class: "MockTools", name: "update_task_status", params: &["task_id", "status"], required: 2 }, true),
    (Requestor::Assistant, Sig { class: "MockTools", name: "transfer_to_human_agents", params: &["summary"], required: 1 }, false),
    (Requestor::User, Sig { class: "MockUserTools", name: "check_notifications", params: &[], required: 0 }, false),
    (Requestor::User, Sig { class: "MockUserTools", name: "dismiss_notification", params: &["notification_id"], required: 1 }, true),
];

fn check_args(sig: &Sig, args: &Map<String, Value>) -> Result<(), String> {
    for k in args.keys() {
        if !sig.params.contains(&k.as_str()) {
            return Err(format!("{}.{}() got an unexpected keyword argument '{k}'", sig.class, sig.name));
        }
    }
    let missing: Vec<String> =
        sig.params[..sig.required].iter().filter(|p| !args.contains_key(**p)).map(|p| format!("'{p}'")).collect();
    match missing.len() {
        0 => Ok(()),
        1 => Err(format!("{}.{}() missing 1 required positional argument: {}", sig.class, sig.name, missing[0])),
        n => {
            let (last, rest) = missing.split_last().expect("n > 1");
            Err(format!("{}.{}() missing {n} required positional arguments: {} and {last}", sig.class, sig.name, rest.join(", ")))
        }
    }
}

impl FakeMock {
    fn run(&mut self, name: &str, args: &Map<String, Value>) -> Result<Value, String> {
        let arg = |k: &str| args.get(k).cloned().unwrap_or(Value::Null);
        match name {
            "create_task" => {
                let uid = arg("user_id");
                let key = uid.as_str().map(str::to_string).unwrap_or_default();
                if uid.as_str().is_none() || self.agent["users"].get(&key).is_none() {
                    return Err(format!("User {} not found", py_str(&uid)));
                }
                let n = self.agent["tasks"].as_object().map_or(0, |m| m.len()) + 1;
                let id = format!("task_{n}");
                let task = json!({"task_id": id, "title": arg("title"), "description": arg("description"), "status": "pending"});
                self.agent["tasks"][id.as_str()] = task.clone();
                if let Some(list) = self.agent["users"][key.as_str()]["tasks"].as_array_mut() {
                    list.push(Value::String(id));
                }
                Ok(task)
            }
            "get_users" => Ok(Value::Array(self.agent["users"].as_object().map(|m| m.values().cloned().collect()).unwrap_or_default())),
            "update_task_status" => {
                let tid = arg("task_id");
                let key = tid.as_str().unwrap_or_default().to_string();
                if tid.as_str().is_none() || self.agent["tasks"].get(&key).is_none() {
                    return Err(format!("Task {} not found", py_str(&tid)));
                }
                self.agent["tasks"][key.as_str()]["status"] = arg("status");
                let mut t = self.agent["tasks"][key.as_str()].clone();
                if self.bugs.wrong_response {
                    t["status"] = json!("done");
                }
                Ok(t)
            }
            "transfer_to_human_agents" => Ok(Value::String("Transfer successful".into())),
            "check_notifications" => Ok(Value::Array(self.user["notifications"].as_object().map(|m| m.values().cloned().collect()).unwrap_or_default())),
            "dismiss_notification" => {
                let nid = arg("notification_id");
                let key = nid.as_str().unwrap_or_default().to_string();
                if nid.as_str().is_none() || self.user["notifications"].get(&key).is_none() {
                    return Err(format!("Notification {} not found", py_str(&nid)));
                }
                self.user["notifications"][key.as_str()]["status"] = json!("read");
                Ok(Value::String(format!("Notification {key} dismissed")))
            }
            _ => Err(format!("Tool '{name}' not found.")),
        }
    }

    fn helper(&mut self, side: Requestor, name: &str, args: &Map<String, Value>) -> Result<Value, String> {
        let s = |k: &str| args.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        match (side, name) {
            (Requestor::Assistant, "assert_task_status") => {
                let t = self.agent["tasks"].get(s("task_id")).ok_or(format!("Task {} not found", s("task_id")))?;
                Ok(Value::Bool(t["status"] == args["expected_status"]))
            }
            (Requestor::Assistant, "assert_number_of_tasks") => {
                let u = self.agent["users"].get(s("user_id")).ok_or(format!("User {} not found", s("user_id")))?;
                let n = u["tasks"].as_array().map_or(0, |a| a.len()) as u64;
                Ok(Value::Bool(args.get("expected_number").and_then(Value::as_u64) == Some(n)))
            }
            (Requestor::User, "add_notification") => {
                let n = json!({"notification_id": s("notification_id"), "message": s("message"), "status": "unread",
                               "task_id": args.get("task_id").cloned().unwrap_or(Value::Null)});
                self.user["notifications"][s("notification_id").as_str()] = n.clone();
                Ok(n)
            }
            (Requestor::User, "assert_notification_status") => {
                let n = self.user["notifications"].get(s("notification_id")).ok_or(format!("Notification {} not found", s("notification_id")))?;
                Ok(Value::Bool(n["status"] == args["expected_status"]))
            }
            _ => {
                let sig = SIGS.iter().find(|(r, sig, _)| *r == side && sig.name == name);
                match sig {
                    Some(_) => self.run(name, args),
                    None => Err(format!("no function {name} on {side}")),
                }
            }
        }
    }
}

impl DomainEnv for FakeMock {
    type Error = String;

    fn reset(&mut self, init: &EpisodeInit) -> Result<(), String> {
        self.agent = initial_agent_db();
        self.user = initial_user_db();
        self.alias = None;
        if let Some(d) = &init.agent_data {
            merge(&mut self.agent, d);
            self.alias = Some(Requestor::Assistant);
        }
        if let Some(d) = &init.user_data {
            merge(&mut self.user, d);
            self.alias = Some(Requestor::User);
        }
        for a in &init.actions {
            self.helper(a.env_type, &a.func_name, &a.arguments)?;
        }
        Ok(())
    }

    fn tools(&mut self) -> Result<Vec<ToolSpec>, String> {
        let mut out = Vec::new();
        for (req, src) in [(Requestor::Assistant, AGENT_TOOLS), (Requestor::User, USER_TOOLS)] {
            let list: Vec<Value> = serde_json::from_str(src).map_err(|e| e.to_string())?;
            for f in list {
                let name = f["name"].as_str().unwrap_or_default().to_string();
                let mut description = f["description"].as_str().unwrap_or_default().to_string();
                if self.bugs.wrong_schema && name == "get_users" {
                    description = "Get every user.".into();
                }
                let mutating = SIGS.iter().find(|(_, s, _)| s.name == name).map(|(_, _, m)| *m);
                out.push(ToolSpec {
                    name,
                    description,
                    parameters: f["parameters"].clone(),
                    requestor: req,
                    kind: Some(if mutating == Some(true) { ToolKind::Write } else { ToolKind::Read }),
                    mutates_state: mutating,
                });
            }
        }
        Ok(out)
    }

    fn call_tool(&mut self, requestor: Requestor, name: &str, arguments: &Value) -> Result<(String, bool), String> {
        let empty = Map::new();
        let args = arguments.as_object().unwrap_or(&empty);
        let Some((_, sig, _)) = SIGS.iter().find(|(r, s, _)| *r == requestor && s.name == name) else {
            return Ok((format!("Error: Tool '{name}' not found."), true));
        };
        if let Err(e) = check_args(sig, args) {
            return Ok((format!("Error: {e}"), true));
        }
        match self.run(name, args) {
            Ok(Value::String(s)) => Ok((s, false)),
            Ok(v) => Ok((py_dumps(&v, false), false)),
            Err(e) => Ok((format!("Error: {e}"), true)),
        }
    }

    fn env_function(&mut self, side: Requestor, name: &str, arguments: &Value) -> Result<Value, String> {
        let empty = Map::new();
        self.helper(side, name, arguments.as_object().unwrap_or(&empty))
    }

    fn state_hash(&mut self, side: Requestor) -> Result<Option<String>, String> {
        let side = self.alias.unwrap_or(side);
        Ok(Some(match side {
            Requestor::Assistant => {
                let mut db = self.agent.clone();
                if self.bugs.hash_ignores_status {
                    if let Some(tasks) = db["tasks"].as_object_mut() {
                        for t in tasks.values_mut() {
                            t["status"] = json!("pending");
                        }
                    }
                }
                sha(&db)
            }
            Requestor::User => sha(&self.user),
        }))
    }

    fn is_mutating(&mut self, name: &str) -> Result<Option<bool>, String> {
        Ok(SIGS.iter().find(|(_, s, _)| s.name == name).map(|(_, _, m)| *m))
    }
}
