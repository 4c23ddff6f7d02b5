//! τ²-bench's `mock` domain (tasks and users; a notification inbox on the user side) as an
//! eigenbox plugin, written against `eigenbox-sdk`. Reference:
//! `tau2/src/domains/mock/{tools,user_tools,data_model,user_data_model}.py`.
//!
//! Reference quirks kept on purpose: arguments are not type-checked where Python does not
//! check them (`create_task(user_id=1e18)` answers `User 1e+18 not found`),
//! `update_task_status` stores any status, task ids are `task_{len(tasks)+1}`.
//!
//! ```
//! use eigenbox_plugin_mock::Mock;
//! use eigenbox_sdk::{Runtime, Requestor};
//! let mut rt = Runtime::<Mock>::new();
//! let out = rt.call_tool(Requestor::Assistant, "get_users", "{}").unwrap();
//! assert_eq!(out, r#"[{"user_id": "user_1", "name": "Test User", "tasks": ["task_1"]}]"#);
//! ```

use eigenbox_sdk::prelude::*;

/// A task (`Task` in `data_model.py`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Unique identifier for the task.
    pub task_id: String,
    /// Title of the task.
    pub title: String,
    /// Description of the task.
    #[serde(default)]
    pub description: Option<String>,
    /// Status (`pending` / `completed`; not validated on assignment, as in the reference).
    pub status: Value,
}

/// A user (`User` in `data_model.py`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Unique identifier for the user.
    pub user_id: String,
    /// The user's name.
    pub name: String,
    /// Task ids assigned to the user.
    pub tasks: Vec<String>,
}

/// `MockDB`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockDb {
    /// Tasks by id.
    pub tasks: Table<Task>,
    /// Users by id.
    pub users: Table<User>,
}

/// A notification (`Notification` in `user_data_model.py`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// Unique identifier for the notification.
    pub notification_id: String,
    /// The notification message.
    pub message: String,
    /// `unread` / `read`.
    #[serde(default = "unread")]
    pub status: Value,
    /// Associated task id, if any.
    #[serde(default)]
    pub task_id: Option<String>,
}

fn unread() -> Value {
    Value::String("unread".into())
}

/// `MockUserDB`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockUserDb {
    /// Notifications by id.
    #[serde(default)]
    pub notifications: Table<Notification>,
}

/// The mock domain's state.
#[derive(Clone)]
pub struct Mock {
    /// Agent-side DB.
    pub db: MockDb,
    /// User-side DB.
    pub user_db: MockUserDb,
}

// ---------------------------------------------------------------- agent tools

/// Create a new task for a user.
#[derive(ToolArgs)]
pub struct CreateTask {
    /// The ID of the user creating the task
    pub user_id: PyValue,
    /// The title of the task
    pub title: PyValue,
    /// Optional description of the task
    pub description: Option<PyValue>,
}

/// Get all users in the database.
#[derive(ToolArgs)]
pub struct GetUsers {}

/// Update the status of a task.
#[derive(ToolArgs)]
pub struct UpdateTaskStatus {
    /// The ID of the task to update
    pub task_id: PyValue,
    /// The new status of the task
    #[arg(values = ["pending", "completed"])]
    pub status: PyValue,
}

/// Transfer the user to a human agent, with a summary of the user's issue.
///
/// Only transfer if
///  -  the user explicitly asks for a human agent
///  -  given the policy and the available tools, you cannot solve the user's issue.
#[derive(ToolArgs)]
pub struct TransferToHumanAgents {
    /// A summary of the user's issue.
    pub summary: PyValue,
}

/// Check if the number of tasks for a user is as expected.
#[derive(ToolArgs)]
pub struct AssertNumberOfTasks {
    /// The ID of the user
    pub user_id: PyValue,
    /// The expected number of tasks
    #[arg(type = "integer")]
    pub expected_number: PyValue,
}

/// Check if the status of a task is as expected.
#[derive(ToolArgs)]
pub struct AssertTaskStatus {
    /// The ID of the task
    pub task_id: PyValue,
    /// The expected status
    pub expected_status: PyValue,
}

// ----------------------------------------------------------------- user tools

/// Check all notifications in the user's inbox.
#[derive(ToolArgs)]
pub struct CheckNotifications {}

/// Dismiss (mark as read) a notification.
#[derive(ToolArgs)]
pub struct DismissNotification {
    /// The ID of the notification to dismiss.
    pub notification_id: PyValue,
}

/// Add a notification to the user's inbox (used by initialization_actions).
#[derive(ToolArgs)]
pub struct AddNotification {
    /// Notification id
    pub notification_id: String,
    /// Message
    pub message: String,
    /// Associated task id
    pub task_id: Option<String>,
}

/// Check if a notification has the expected status (used by env_assertions).
#[derive(ToolArgs)]
pub struct AssertNotificationStatus {
    /// Notification id
    pub notification_id: PyValue,
    /// Expected status
    pub expected_status: PyValue,
}

/// Python `==` between an `int` (a length) and an arbitrary value.
fn py_eq_int(n: usize, v: &Value) -> bool {
    match v {
        Value::Number(x) => x.as_f64() == Some(n as f64),
        Value::Bool(b) => (*b as usize) == n,
        _ => false,
    }
}

/// Python `==` between two JSON-ish values (1 == 1.0 == True).
fn py_eq(a: &Value, b: &Value) -> bool {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

impl Mock {
    fn create_task(&mut self, a: CreateTask) -> Result<Task, ToolError> {
        let key = a.user_id.dict_key()?;
        let Some(uid) = key.filter(|k| self.db.users.contains_key(k)).map(str::to_string) else {
            return Err(format!("User {} not found", a.user_id).into());
        };
        let task_id = format!("task_{}", self.db.tasks.len() + 1);
        // `Task(...)`: pydantic validates `title: str` and `description: Optional[str]`.
        let mut v = eigenbox_sdk::py::pydantic::Validator::default();
        let title = v.str_("title", a.title.value());
        let description = match a.description.as_ref().map(PyValue::value) {
            None | Some(Value::Null) => Some(None),
            Some(d) => v.str_("description", d).map(Some),
        };
        v.finish("Task")?;
        let (Some(title), Some(description)) = (title, description) else {
            return Err("1 validation error for Task".into());
        };
        let task = Task { task_id: task_id.clone(), title, description, status: Value::String("pending".into()) };
        self.db.tasks.insert(task_id.clone(), task.clone());
        if let Some(u) = self.db.users.get_mut(&uid) {
            u.tasks.push(task_id);
        }
        Ok(task)
    }

    fn get_users(&mut self, _: GetUsers) -> Result<Vec<User>, ToolError> {
        Ok(self.db.users.values().cloned().collect())
    }

    fn update_task_status(&mut self, a: UpdateTaskStatus) -> Result<Task, ToolError> {
        let key = a.task_id.dict_key()?;
        match key.and_then(|k| self.db.tasks.get_mut(k)) {
            Some(t) => {
                t.status = a.status.into_value();
                Ok(t.clone())
            }
            None => Err(format!("Task {} not found", a.task_id).into()),
        }
    }

    fn transfer_to_human_agents(&mut self, _: TransferToHumanAgents) -> Result<String, ToolError> {
        Ok("Transfer successful".into())
    }

    fn assert_number_of_tasks(&mut self, a: AssertNumberOfTasks) -> Result<bool, ToolError> {
        let key = a.user_id.dict_key()?;
        match key.and_then(|k| self.db.users.get(k)) {
            Some(u) => Ok(py_eq_int(u.tasks.len(), a.expected_number.value())),
            None => Err(format!("User {} not found", a.user_id).into()),
        }
    }

    fn assert_task_status(&mut self, a: AssertTaskStatus) -> Result<bool, ToolError> {
        let key = a.task_id.dict_key()?;
        match key.and_then(|k| self.db.tasks.get(k)) {
            Some(t) => Ok(py_eq(&t.status, a.expected_status.value())),
            None => Err(format!("Task {} not found", a.task_id).into()),
        }
    }

    fn check_notifications(&mut self, _: CheckNotifications) -> Result<Vec<Notification>, ToolError> {
        Ok(self.user_db.notifications.values().cloned().collect())
    }

    fn dismiss_notification(&mut self, a: DismissNotification) -> Result<String, ToolError> {
        let key = a.notification_id.dict_key()?;
        match key.and_then(|k| self.user_db.notifications.get_mut(k)) {
            Some(n) => {
                n.status = Value::String("read".into());
                Ok(format!("Notification {} dismissed", a.notification_id))
            }
            None => Err(format!("Notification {} not found", a.notification_id).into()),
        }
    }

    fn add_notification(&mut self, a: AddNotification) -> Result<Notification, ToolError> {
        let n = Notification {
            notification_id: a.notification_id.clone(),
            message: a.message,
            status: unread(),
            task_id: a.task_id,
        };
        self.user_db.notifications.insert(a.notification_id, n.clone());
        Ok(n)
    }

    fn assert_notification_status(&mut self, a: AssertNotificationStatus) -> Result<bool, ToolError> {
        let key = a.notification_id.dict_key()?;
        match key.and_then(|k| self.user_db.notifications.get(k)) {
            Some(n) => Ok(py_eq(&n.status, a.expected_status.value())),
            None => Err(format!("Notification {} not found", a.notification_id).into()),
        }
    }
}

impl Domain for Mock {
    fn info() -> DomainInfo {
        DomainInfo::new("mock", env!("CARGO_PKG_VERSION"), include_str!("../data/policy.md")).with_user_db()
    }

    fn initial_state() -> Result<Self, String> {
        Ok(Mock {
            db: serde_json::from_str(eigenbox_sdk::include_json!("data/db.json")).map_err(|e| format!("db.json: {e}"))?,
            user_db: serde_json::from_str(eigenbox_sdk::include_json!("data/user_db.json"))
                .map_err(|e| format!("user_db.json: {e}"))?,
        })
    }

    fn toolkits() -> Vec<Toolkit<Self>> {
        vec![
            Toolkit::new("MockTools", Requestor::Assistant)
                .tool(ToolKind::Write, Self::create_task)
                .tool(ToolKind::Read, Self::get_users)
                .tool(ToolKind::Write, Self::update_task_status)
                .tool(ToolKind::Generic, Self::transfer_to_human_agents)
                .env_fn(Self::assert_number_of_tasks)
                .env_fn(Self::assert_task_status),
            Toolkit::new("MockUserTools", Requestor::User)
                .tool(ToolKind::Read, Self::check_notifications)
                .tool(ToolKind::Write, Self::dismiss_notification)
                .env_fn(Self::add_notification)
                .env_fn(Self::assert_notification_status),
        ]
    }

    eigenbox_sdk::db_fields!(agent: db: MockDb, user: user_db: MockUserDb);
}

eigenbox_sdk::export_domain!(Mock);

#[cfg(test)]
mod tests;
