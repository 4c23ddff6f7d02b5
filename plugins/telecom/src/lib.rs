//! τ²-bench's `telecom` domain (customers, lines, bills on the agent side; a simulated phone
//! and the user's surroundings on the user side) as an eigenbox plugin. Reference:
//! `tau2/src/domains/telecom/{tools,user_tools,data_model,user_data_model,environment}.py`.
//!
//! `TelecomEnvironment.sync_tools` (line status, roaming, data usage and payment requests
//! copied from the agent DB into the user's surroundings) runs after every successful tool
//! call and environment function, as in the reference.
#![allow(missing_docs)]

pub mod args;
pub mod model;

use args::*;
use eigenbox_sdk::prelude::*;
use eigenbox_sdk::pyjson;
use model::*;

const TODAY: &str = "2025-02-25";

/// `server_performance` of the VPN that `connect_vpn` connects to. The reference assigns the
/// class attribute `TelecomUserTools.default_vpn_details` itself (no copy), and `break_vpn`
/// mutates it to `POOR`, so once any task has run `break_vpn` in a process every later
/// `connect_vpn` yields a poor VPN. The golden vectors were recorded in such a process
/// (`connect_vpn` probes on a fresh environment hash with `poor`), so that is what we keep.
pub const VPN_DEFAULT_PERFORMANCE: &str = "poor";

/// The telecom domain's state.
#[derive(Clone)]
pub struct Telecom {
    /// Agent-side DB.
    pub db: TelecomDb,
    /// User-side DB (the phone and the surroundings).
    pub user_db: TelecomUserDb,
}

// ------------------------------------------------------------ python helpers

fn py_type(v: &Value) -> &'static str {
    PyValue(v.clone()).py_type()
}
fn s(v: &Value) -> String {
    pyjson::py_str(v)
}
fn frepr(f: f64) -> String {
    pyjson::float_repr(f)
}
fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}
/// `a == b` with Python's numeric equality (True == 1 == 1.0).
fn py_eq(a: &Value, b: &Value) -> bool {
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a == b,
        _ => false,
    }
}
fn bool_eq(b: bool, v: &Value) -> bool {
    py_eq(&Value::Bool(b), v)
}
fn str_is(v: &Value, s: &str) -> bool {
    v.as_str() == Some(s)
}
/// `round(x, 2)`.
fn round2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.2}").parse().unwrap_or(x)
}
fn no_attr(v: &Value, attr: &str) -> ToolError {
    ToolError::failed(format!("'{}' object has no attribute '{attr}'", py_type(v)))
}
/// `x <op> 0` for a raw value (TypeError for non-numbers).
fn cmp_num(v: &Value, op: &str) -> Result<f64, ToolError> {
    num(v).ok_or_else(|| {
        ToolError::failed(format!("'{op}' not supported between instances of '{}' and 'int'", py_type(v)))
    })
}

fn perf_repr(p: &str) -> String {
    let name = match p {
        "unknown" => "UNKNOWN",
        "poor" => "POOR",
        "fair" => "FAIR",
        "good" => "GOOD",
        "excellent" => "EXCELLENT",
        other => return pyjson::py_str_repr(other),
    };
    format!("<PerformanceLevel.{name}: '{p}'>")
}
fn opt_repr(o: &Option<String>) -> String {
    match o {
        Some(x) => pyjson::py_str_repr(x),
        None => "None".into(),
    }
}

// ---------------------------------------------------------------- agent side

impl Telecom {
    fn customer_idx(&self, id: &Value) -> Result<usize, ToolError> {
        self.db
            .customers
            .iter()
            .position(|c| str_is(id, &c.customer_id))
            .ok_or_else(|| format!("Customer with ID {} not found", s(id)).into())
    }
    fn line_idx(&self, id: &Value) -> Result<usize, ToolError> {
        self.db
            .lines
            .iter()
            .position(|l| str_is(id, &l.line_id))
            .ok_or_else(|| format!("Line with ID {} not found", s(id)).into())
    }
    fn plan(&self, id: &str) -> Result<&Plan, ToolError> {
        self.db.plans.iter().find(|p| p.plan_id == id).ok_or_else(|| format!("Plan with ID {id} not found").into())
    }
    fn bill_idx(&self, id: &Value) -> Result<usize, ToolError> {
        self.db
            .bills
            .iter()
            .position(|b| str_is(id, &b.bill_id))
            .ok_or_else(|| format!("Bill with ID {} not found", s(id)).into())
    }
    fn device_idx(&self, id: &Value) -> Result<usize, ToolError> {
        self.db
            .devices
            .iter()
            .position(|b| str_is(id, &b.device_id))
            .ok_or_else(|| format!("Device with ID {} not found", s(id)).into())
    }
    fn target_line(&self, cid: &Value, lid: &Value) -> Result<usize, ToolError> {
        let c = &self.db.customers[self.customer_idx(cid)?];
        if !c.line_ids.iter().any(|l| str_is(lid, l)) {
            return Err(format!("Line {} not found for customer {}", s(lid), s(cid)).into());
        }
        self.line_idx(lid)
    }
    fn customer_by_phone_idx(&self, phone: &Value) -> Result<usize, ToolError> {
        for (i, c) in self.db.customers.iter().enumerate() {
            if str_is(phone, &c.phone_number) {
                return Ok(i);
            }
            for lid in &c.line_ids {
                let l = &self.db.lines[self.line_idx(&Value::String(lid.clone()))?];
                if str_is(phone, &l.phone_number) {
                    return Ok(i);
                }
            }
        }
        Err(format!("Customer with phone number {} not found", s(phone)).into())
    }
    fn bills_awaiting_payment(&self, ci: usize) -> Result<Vec<usize>, ToolError> {
        let mut out = Vec::new();
        for bid in &self.db.customers[ci].bill_ids {
            // `bill_idx` for a string id, without building a `Value` (this runs in every sync).
            let bi = self
                .db
                .bills
                .iter()
                .position(|b| b.bill_id == *bid)
                .ok_or_else(|| ToolError::failed(format!("Bill with ID {bid} not found")))?;
            if self.db.bills[bi].status == "Awaiting Payment" {
                out.push(bi);
            }
        }
        Ok(out)
    }

    fn get_customer_by_phone(&mut self, a: GetCustomerByPhone) -> Result<Customer, ToolError> {
        let i = self.customer_by_phone_idx(a.phone_number.value())?;
        Ok(self.db.customers[i].clone())
    }
    fn get_customer_by_id(&mut self, a: GetCustomerById) -> Result<Customer, ToolError> {
        let i = self.customer_idx(a.customer_id.value())?;
        Ok(self.db.customers[i].clone())
    }
    fn get_customer_by_name(&mut self, a: GetCustomerByName) -> Result<Vec<Customer>, ToolError> {
        let mut out = Vec::new();
        for c in &self.db.customers {
            let Some(name) = a.full_name.as_str() else {
                return Err(no_attr(a.full_name.value(), "lower"));
            };
            if c.full_name.to_lowercase() == name.to_lowercase() && str_is(a.dob.value(), &c.date_of_birth) {
                out.push(c.clone());
            }
        }
        Ok(out)
    }
    fn get_details_by_id(&mut self, a: GetDetailsById) -> Result<Value, ToolError> {
        let id = a.id.value();
        let Some(st) = id.as_str() else { return Err(no_attr(id, "startswith")) };
        let v = if st.starts_with('L') {
            to_value(&self.db.lines[self.line_idx(id)?])
        } else if st.starts_with('D') {
            to_value(&self.db.devices[self.device_idx(id)?])
        } else if st.starts_with('B') {
            to_value(&self.db.bills[self.bill_idx(id)?])
        } else if st.starts_with('C') {
            to_value(&self.db.customers[self.customer_idx(id)?])
        } else if st.starts_with('P') {
            to_value(self.plan(st)?)
        } else {
            return Err(format!("Unknown ID format or type: {st}").into());
        };
        v.map_err(ToolError::failed)
    }
    fn suspend_line(&mut self, a: SuspendLine) -> Result<Value, ToolError> {
        let li = self.target_line(a.customer_id.value(), a.line_id.value())?;
        let line = &mut self.db.lines[li];
        if line.status != "Active" {
            return Err("Line must be active to suspend".into());
        }
        line.status = "Suspended".into();
        line.suspension_start_date = Some(TODAY.into());
        Ok(serde_json::json!({
            "message": "Line suspended successfully. $5/month holding fee will apply.",
            "line": to_value(&*line)?,
        }))
    }
    fn resume_line(&mut self, a: ResumeLine) -> Result<Value, ToolError> {
        let li = self.target_line(a.customer_id.value(), a.line_id.value())?;
        let line = &mut self.db.lines[li];
        if line.status != "Suspended" && line.status != "Pending Activation" {
            return Err("Line must be suspended to resume".into());
        }
        line.status = "Active".into();
        line.suspension_start_date = None;
        Ok(serde_json::json!({"message": "Line resumed successfully", "line": to_value(&*line)?}))
    }
    fn get_bills_for_customer(&mut self, a: GetBillsForCustomer) -> Result<Vec<Bill>, ToolError> {
        let ci = self.customer_idx(a.customer_id.value())?;
        let mut bills = Vec::new();
        for bid in &self.db.customers[ci].bill_ids {
            bills.push(self.db.bills[self.bill_idx(&Value::String(bid.clone()))?].clone());
        }
        bills.sort_by(|x, y| y.issue_date.cmp(&x.issue_date));
        let n = bills.len() as i64;
        let end = match a.limit.value() {
            Value::Null => n,
            Value::Bool(b) => *b as i64,
            Value::Number(x) if x.is_i64() || x.is_u64() => {
                let k = x.as_i64().unwrap_or(i64::MAX);
                if k >= 0 {
                    k.min(n)
                } else {
                    (n + k).max(0)
                }
            }
            _ => return Err("slice indices must be integers or None or have an __index__ method".into()),
        };
        bills.truncate(end as usize);
        Ok(bills)
    }
    fn send_payment_request(&mut self, a: SendPaymentRequest) -> Result<String, ToolError> {
        let ci = self.customer_idx(a.customer_id.value())?;
        if !self.bills_awaiting_payment(ci)?.is_empty() {
            return Err("A bill is already awaiting payment for this customer".into());
        }
        if !self.db.customers[ci].bill_ids.iter().any(|b| str_is(a.bill_id.value(), b)) {
            return Err(format!("Bill {} not found for customer {}", a.bill_id, a.customer_id).into());
        }
        let bi = self.bill_idx(a.bill_id.value())?;
        self.db.bills[bi].status = "Awaiting Payment".into();
        Ok(format!("Payment request sent to the customer for bill {}", self.db.bills[bi].bill_id))
    }
    fn apply_one_time_charge(&mut self, ci: usize, amount: f64, description: String) -> Result<(), ToolError> {
        let mut draft = None;
        for bid in &self.db.customers[ci].bill_ids {
            let bi = self.bill_idx(&Value::String(bid.clone()))?;
            if self.db.bills[bi].status == "Draft" {
                draft = Some(bi);
                break;
            }
        }
        let bi = match draft {
            Some(b) => b,
            None => {
                // The reference names it `B{uuid4().hex[:8]}`; eigenbox is deterministic.
                let new_id = format!("B{:08x}", 0x5eed_0000u32 + self.db.bills.len() as u32);
                let customer_id = self.db.customers[ci].customer_id.clone();
                self.db.bills.push(Bill {
                    bill_id: new_id.clone(),
                    customer_id,
                    period_start: "2025-03-01".into(),
                    period_end: "2025-03-31".into(),
                    issue_date: "2025-03-01".into(),
                    total_due: 0.0,
                    due_date: "2025-03-15".into(),
                    line_items: Vec::new(),
                    status: "Draft".into(),
                });
                self.db.customers[ci].bill_ids.push(new_id);
                self.db.bills.len() - 1
            }
        };
        let bill = &mut self.db.bills[bi];
        bill.line_items.push(LineItem {
            description,
            amount,
            date: TODAY.into(),
            item_type: if amount < 0.0 { "Credit" } else { "Charge" }.into(),
        });
        bill.total_due += amount;
        Ok(())
    }
    fn get_data_usage(&mut self, a: GetDataUsage) -> Result<Value, ToolError> {
        let li = self.target_line(a.customer_id.value(), a.line_id.value())?;
        let line = &self.db.lines[li];
        let plan = self.plan(&line.plan_id)?;
        Ok(serde_json::json!({
            "line_id": a.line_id.value(),
            "data_used_gb": frepr(line.data_used_gb),
            "data_limit_gb": frepr(plan.data_limit_gb),
            "data_refueling_gb": frepr(line.data_refueling_gb),
            "cycle_end_date": "2025-02-28",
        }))
    }
    fn enable_roaming(&mut self, a: EnableRoaming) -> Result<String, ToolError> {
        let li = self.target_line(a.customer_id.value(), a.line_id.value())?;
        let line = &mut self.db.lines[li];
        if line.roaming_enabled {
            return Ok("Roaming was already enabled".into());
        }
        line.roaming_enabled = true;
        Ok("Roaming enabled successfully".into())
    }
    fn disable_roaming(&mut self, a: DisableRoaming) -> Result<String, ToolError> {
        let li = self.target_line(a.customer_id.value(), a.line_id.value())?;
        let line = &mut self.db.lines[li];
        if !line.roaming_enabled {
            return Ok("Roaming was already disabled".into());
        }
        line.roaming_enabled = false;
        Ok("Roaming disabled successfully".into())
    }
    fn transfer_to_human_agents(&mut self, _: TransferToHumanAgents) -> Result<String, ToolError> {
        Ok("Transfer successful".into())
    }
    fn refuel_data(&mut self, a: RefuelData) -> Result<Value, ToolError> {
        let li = self.target_line(a.customer_id.value(), a.line_id.value())?;
        let gb = cmp_num(a.gb_amount.value(), "<=")?;
        if gb <= 0.0 {
            return Err("Refuel amount must be positive".into());
        }
        let price = self.plan(&self.db.lines[li].plan_id.clone())?.data_refueling_price_per_gb;
        let charge = gb * price;
        self.db.lines[li].data_refueling_gb += gb;
        let ci = self.customer_idx(a.customer_id.value())?;
        self.apply_one_time_charge(ci, charge, format!("Data refueling: {} GB at ${}/GB", a.gb_amount, frepr(price)))?;
        Ok(serde_json::json!({
            "message": format!("Successfully added {} GB of data for line {} for ${:.2}", a.gb_amount, a.line_id, charge),
            "new_data_refueling_gb": frepr(self.db.lines[li].data_refueling_gb),
            "charge": frepr(charge),
        }))
    }

    // --- environment functions (agent side)
    fn set_data_usage(&mut self, a: SetDataUsage) -> Result<String, ToolError> {
        let li = self.target_line(a.customer_id.value(), a.line_id.value())?;
        self.db.lines[li].data_used_gb = num(a.data_used_gb.value()).unwrap_or(0.0);
        Ok(format!("Data usage set to {} GB for line {}", a.data_used_gb, a.line_id))
    }
    fn suspend_line_for_overdue_bill(&mut self, a: SuspendLineForOverdueBill) -> Result<String, ToolError> {
        let li = self.line_idx(a.line_id.value())?;
        if self.db.lines[li].status != "Active" {
            return Err("Line must be active to suspend for unpaid bill".into());
        }
        let amount = self.plan(&self.db.lines[li].plan_id.clone())?.price_per_month;
        let description = format!("Charge for line {}", self.db.lines[li].line_id);
        if amount <= 0.0 {
            return Err("Amount must be positive for overdue bill".into());
        }
        let ci = self.customer_idx(a.customer_id.value())?;
        for bid in &self.db.customers[ci].bill_ids {
            let bi = self.bill_idx(&Value::String(bid.clone()))?;
            if self.db.bills[bi].status == "Overdue" {
                return Err("Customer already has an overdue bill".into());
            }
        }
        let Some(new_id) = a.new_bill_id.as_str().map(str::to_string) else {
            return Err("1 validation error for Bill\nbill_id\n  Input should be a valid string".into());
        };
        let customer_id = self.db.customers[ci].customer_id.clone();
        self.db.bills.push(Bill {
            bill_id: new_id.clone(),
            customer_id,
            period_start: "2025-01-01".into(),
            period_end: "2025-01-31".into(),
            issue_date: "2025-01-01".into(),
            total_due: amount,
            due_date: "2025-01-15".into(),
            line_items: vec![LineItem { description, amount, date: TODAY.into(), item_type: "Charge".into() }],
            status: "Overdue".into(),
        });
        self.db.customers[ci].bill_ids.push(new_id);
        let line = &mut self.db.lines[li];
        line.status = "Suspended".into();
        line.suspension_start_date = Some(TODAY.into());
        let ended = truthy(a.contract_ended.value());
        if ended {
            line.contract_end_date = Some("2025-01-31".into());
        }
        Ok(format!(
            "Line {} suspended for unpaid bill {}. Contract ended: {}",
            a.line_id, a.new_bill_id, a.contract_ended
        ))
    }
    fn assert_data_refueling_amount(&mut self, a: AssertDataRefuelingAmount) -> Result<bool, ToolError> {
        let li = self.target_line(a.customer_id.value(), a.line_id.value())?;
        let e = num(a.expected_amount.value()).ok_or_else(|| {
            ToolError::failed(format!("unsupported operand type(s) for -: 'float' and '{}'", py_type(a.expected_amount.value())))
        })?;
        Ok((self.db.lines[li].data_refueling_gb - e).abs() < 1e-6)
    }
    fn assert_line_status(&mut self, a: AssertLineStatus) -> Result<bool, ToolError> {
        let li = self.target_line(a.customer_id.value(), a.line_id.value())?;
        Ok(str_is(a.expected_status.value(), &self.db.lines[li].status))
    }
    fn assert_overdue_bill_exists(&mut self, a: AssertOverdueBillExists) -> Result<bool, ToolError> {
        let ci = self.customer_idx(a.customer_id.value())?;
        if !self.db.customers[ci].bill_ids.iter().any(|b| str_is(a.overdue_bill_id.value(), b)) {
            return Err(format!("Overdue bill {} not found", a.overdue_bill_id).into());
        }
        let bi = self.bill_idx(a.overdue_bill_id.value())?;
        if self.db.bills[bi].status != "Overdue" {
            return Err(format!("Overdue bill {} is not overdue", a.overdue_bill_id).into());
        }
        Ok(true)
    }
    fn assert_no_overdue_bill(&mut self, a: AssertNoOverdueBill) -> Result<bool, ToolError> {
        match self.bill_idx(a.overdue_bill_id.value()) {
            Ok(bi) => Ok(self.db.bills[bi].status == "Paid"),
            Err(_) => Ok(true),
        }
    }

    /// `TelecomEnvironment.sync_tools` (the SDK runs it through [`Domain::sync_tools`]).
    fn sync_state(&mut self) -> Result<(), ToolError> {
        let Some(phone) = self.user_db.surroundings.phone_number.as_deref() else { return Ok(()) };
        let line = self
            .db
            .lines
            .iter()
            .find(|l| l.phone_number == phone)
            .ok_or_else(|| ToolError::failed(format!("Line with phone number {phone} not found")))?;
        // Read what the sync needs from the line (runs after every call: no copy of the row).
        let (active, roaming, used, refueled) = (line.status == "Active", line.roaming_enabled, line.data_used_gb, line.data_refueling_gb);
        let plan_id = line.plan_id.clone();
        let pv = Value::String(phone.to_string());
        let sur = &mut self.user_db.surroundings;
        sur.line_active = active;
        sur.roaming_allowed = roaming;
        // The plan is looked up after the two flags are set, as the reference does.
        let limit = self.plan(&plan_id)?.data_limit_gb;
        self.user_db.surroundings.mobile_data_usage_exceeded = used >= limit + refueled;
        if let Some(pr) = self.user_db.surroundings.payment_request.clone() {
            if pr.paid {
                let bi = self.bill_idx(&Value::String(pr.bill_id.clone()))?;
                self.db.bills[bi].status = "Paid".into();
                self.user_db.surroundings.payment_request = None;
            }
        }
        if self.user_db.surroundings.payment_request.is_none() {
            let ci = self.customer_by_phone_idx(&pv)?;
            let bills = self.bills_awaiting_payment(ci)?;
            if let Some(&bi) = bills.first() {
                let b = &self.db.bills[bi];
                self.user_db.surroundings.payment_request =
                    Some(PaymentRequest { bill_id: b.bill_id.clone(), amount_due: b.total_due, paid: false });
            }
        }
        Ok(())
    }
}

mod user;

impl Domain for Telecom {
    fn info() -> DomainInfo {
        DomainInfo::new("telecom", env!("CARGO_PKG_VERSION"), &policy()).with_user_db()
    }

    fn initial_state() -> Result<Self, String> {
        let mut t = Telecom {
            db: serde_json::from_str(eigenbox_sdk::include_json!("data/db.json")).map_err(|e| format!("db.json: {e}"))?,
            user_db: serde_json::from_str(eigenbox_sdk::include_json!("data/user_db.json"))
                .map_err(|e| format!("user_db.json: {e}"))?,
        };
        t.sync_state().map_err(|e| e.message)?;
        Ok(t)
    }

    fn toolkits() -> Vec<Toolkit<Self>> {
        use ToolKind::*;
        vec![
            Toolkit::new("TelecomTools", Requestor::Assistant)
                .tool(Read, Self::get_customer_by_phone)
                .tool(Read, Self::get_customer_by_id)
                .tool(Read, Self::get_customer_by_name)
                .tool(Read, Self::get_details_by_id)
                .tool(Write, Self::suspend_line)
                .tool(Write, Self::resume_line)
                .tool(Read, Self::get_bills_for_customer)
                .tool(Write, Self::send_payment_request)
                .tool(Read, Self::get_data_usage)
                .tool(Write, Self::enable_roaming)
                .tool(Write, Self::disable_roaming)
                .tool(Generic, Self::transfer_to_human_agents)
                .tool(Write, Self::refuel_data)
                .env_fn(Self::set_data_usage)
                .env_fn(Self::suspend_line_for_overdue_bill)
                .env_fn(Self::assert_data_refueling_amount)
                .env_fn(Self::assert_line_status)
                .env_fn(Self::assert_overdue_bill_exists)
                .env_fn(Self::assert_no_overdue_bill),
            user::toolkit(),
        ]
    }

    fn sync_tools(&mut self) -> Result<(), ToolError> {
        self.sync_state()
    }

    eigenbox_sdk::db_fields!(agent: db: TelecomDb, user: user_db: TelecomUserDb);
}

/// `get_environment(policy_type="manual")`'s policy text.
pub fn policy() -> String {
    format!(
        "<main_policy>\n{}\n</main_policy>\n<tech_support_policy>\n{}\n</tech_support_policy>",
        include_str!("../data/main_policy.md"),
        include_str!("../data/tech_support_manual.md")
    )
}

// ------------------------------------------------------ env function arguments

macro_rules! env_args {
    ($($name:ident { $($f:ident $(= $d:literal)?),* })*) => {$(
        #[derive(ToolArgs)]
        pub struct $name { $( $(#[arg(default = $d)])? pub $f: PyValue, )* }
    )*};
}
env_args! {
    SetDataUsage { customer_id, line_id, data_used_gb }
    SuspendLineForOverdueBill { customer_id, line_id, new_bill_id, contract_ended }
    AssertDataRefuelingAmount { customer_id, line_id, expected_amount }
    AssertLineStatus { customer_id, line_id, expected_status }
    AssertOverdueBillExists { customer_id, overdue_bill_id }
    AssertNoOverdueBill { overdue_bill_id }
    SetUserInfo { name, phone_number }
    SetUserLocation { abroad }
    TurnAirplaneModeOn {}
    TurnAirplaneModeOff {}
    UnseatSimCard {}
    LockSimCard { mode }
    TurnDataOn {}
    TurnDataOff {}
    TurnRoamingOn {}
    TurnRoamingOff {}
    TurnDataSaverModeOn {}
    TurnDataSaverModeOff {}
    BreakApnSettings {}
    BreakApnMmsSetting {}
    SetWifiCalling { enabled, mms_over_wifi = "null" }
    BreakVpn {}
    RemoveAppPermission { app_name, permission }
    SimulateNetworkSearch {}
    AssertAirplaneModeStatus { expected_status }
    AssertServiceStatus { expected_status }
    AssertMobileDataStatus { expected_status }
    AssertMobileRoamingStatus { expected_status }
    AssertMobileDataSaverModeStatus { expected_status }
    AssertInternetSpeed { expected_speed, expected_desc = "null" }
    AssertInternetNotExcellent {}
    AssertCanSendMms { expected_status }
    AssertMobileDataUsageExceeded { expected_status }
}

eigenbox_sdk::export_domain!(Telecom);

#[cfg(test)]
mod tests;
