//! Data models: `data_model.py` (agent DB) and `user_data_model.py` (the simulated phone).

use eigenbox_sdk::prelude::*;
use serde::{Deserializer, Serializer};

/// A `datetime.datetime` field: `str(dt)` renders it with a space (`2025-01-15 10:30:00`).
#[derive(Clone, Debug, PartialEq)]
pub struct DateTime(pub String);
impl Serialize for DateTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for DateTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(DateTime(if s.len() > 10 { s.replacen('T', " ", 1) } else { s }))
    }
}

fn pending_activation() -> String {
    "Pending Activation".into()
}
fn draft() -> String {
    "Draft".into()
}
fn pending_verification() -> String {
    "Pending Verification".into()
}
fn start_date() -> DateTime {
    // `DEFAULT_START_DATE` is a `date` default on a `datetime` field (not validated).
    DateTime("2025-01-01".into())
}

/// `Address`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub street: String,
    pub city: String,
    pub state: String,
    pub zip_code: String,
}

/// `Plan`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub plan_id: String,
    pub name: String,
    pub data_limit_gb: f64,
    pub price_per_month: f64,
    pub data_refueling_price_per_gb: f64,
}

/// `Device`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    pub device_id: String,
    pub device_type: String,
    pub model: String,
    #[serde(default)]
    pub imei: Option<String>,
    pub is_esim_capable: bool,
    #[serde(default)]
    pub activated: bool,
    #[serde(default)]
    pub activation_date: Option<DateTime>,
    #[serde(default)]
    pub last_esim_transfer_date: Option<DateTime>,
}

/// `Line`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub line_id: String,
    pub phone_number: String,
    #[serde(default = "pending_activation")]
    pub status: String,
    pub plan_id: String,
    #[serde(default)]
    pub device_id: Option<String>,
    #[serde(default)]
    pub data_used_gb: f64,
    #[serde(default)]
    pub data_refueling_gb: f64,
    #[serde(default)]
    pub roaming_enabled: bool,
    #[serde(default)]
    pub contract_end_date: Option<String>,
    #[serde(default)]
    pub last_plan_change_date: Option<String>,
    #[serde(default)]
    pub last_sim_replacement_date: Option<String>,
    #[serde(default)]
    pub suspension_start_date: Option<String>,
}

/// `LineItem`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItem {
    pub description: String,
    pub amount: f64,
    pub date: String,
    pub item_type: String,
}

/// `Bill`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bill {
    pub bill_id: String,
    pub customer_id: String,
    pub period_start: String,
    pub period_end: String,
    pub issue_date: String,
    pub total_due: f64,
    pub due_date: String,
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    #[serde(default = "draft")]
    pub status: String,
}

/// `PaymentMethod`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethod {
    pub method_type: String,
    pub account_number_last_4: String,
    pub expiration_date: String,
}

/// `Customer`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    pub customer_id: String,
    pub full_name: String,
    pub date_of_birth: String,
    pub email: String,
    pub phone_number: String,
    pub address: Address,
    #[serde(default = "pending_verification")]
    pub account_status: String,
    #[serde(default)]
    pub payment_methods: Vec<PaymentMethod>,
    #[serde(default)]
    pub line_ids: Vec<String>,
    #[serde(default)]
    pub bill_ids: Vec<String>,
    #[serde(default = "start_date")]
    pub created_at: DateTime,
    #[serde(default)]
    pub last_extension_date: Option<String>,
    #[serde(default)]
    pub goodwill_credit_used_this_year: f64,
}

/// `TelecomDB`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelecomDb {
    #[serde(default)]
    pub plans: Vec<Plan>,
    #[serde(default)]
    pub customers: Vec<Customer>,
    #[serde(default)]
    pub lines: Vec<Line>,
    #[serde(default)]
    pub bills: Vec<Bill>,
    #[serde(default)]
    pub devices: Vec<Device>,
}

// ------------------------------------------------------------------ user side

fn s_internet() -> String {
    "internet".into()
}
fn s_mms() -> Option<String> {
    Some("mms".into())
}
fn s_mmsc() -> Option<String> {
    Some("http://mms.carrier.com/mms/wapenc".into())
}
fn s_unknown() -> String {
    "unknown".into()
}
fn s_active() -> String {
    "active".into()
}
fn s_good() -> String {
    "good".into()
}
fn s_5g() -> String {
    "5G".into()
}
fn s_connected() -> String {
    "connected".into()
}
fn s_none() -> String {
    "none".into()
}
fn v_pref() -> Value {
    Value::String("4g_5g_preferred".into())
}
fn yes() -> bool {
    true
}
fn eighty() -> i64 {
    80
}

/// `APNSettings`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnSettings {
    #[serde(default = "s_internet")]
    pub apn_name: String,
    #[serde(default)]
    pub reset_at_reboot: bool,
    #[serde(default = "s_mms")]
    pub mms_apn: Option<String>,
    #[serde(default = "s_mmsc")]
    pub mmsc_url: Option<String>,
    #[serde(default)]
    pub mms_proxy: Option<String>,
    #[serde(default)]
    pub mms_port: Option<i64>,
}
impl Default for ApnSettings {
    fn default() -> Self {
        ApnSettings {
            apn_name: s_internet(),
            reset_at_reboot: false,
            mms_apn: s_mms(),
            mmsc_url: s_mmsc(),
            mms_proxy: None,
            mms_port: None,
        }
    }
}

/// The `active_apn_settings` slot: a model, or whatever `set_apn_settings` assigned raw.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Apn {
    /// `APNSettings`.
    Model(ApnSettings),
    /// A non-dict value assigned without validation.
    Raw(Value),
}
impl Default for Apn {
    fn default() -> Self {
        Apn::Model(ApnSettings::default())
    }
}

/// `VpnDetails`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpnDetails {
    #[serde(default)]
    pub server_address: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default = "s_unknown")]
    pub server_performance: String,
}

/// `AppPermissions`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPermissions {
    #[serde(default)]
    pub sms: bool,
    #[serde(default)]
    pub storage: bool,
    #[serde(default)]
    pub phone: bool,
    #[serde(default)]
    pub network: bool,
}
impl AppPermissions {
    /// `model_dump().items()` in field order.
    pub fn items(&self) -> [(&'static str, bool); 4] {
        [("sms", self.sms), ("storage", self.storage), ("phone", self.phone), ("network", self.network)]
    }
    /// `setattr(perms, name, v)` for a tracked permission.
    pub fn set(&mut self, name: &str, v: bool) -> bool {
        match name {
            "sms" => self.sms = v,
            "storage" => self.storage = v,
            "phone" => self.phone = v,
            "network" => self.network = v,
            _ => return false,
        }
        true
    }
}

/// `AppStatus`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppStatus {
    pub app_name: String,
    #[serde(default)]
    pub permissions: AppPermissions,
}

fn default_apps() -> OrderedMap<String, AppStatus> {
    let mut m = OrderedMap::default();
    m.insert(
        "messaging".into(),
        AppStatus {
            app_name: "messaging".into(),
            permissions: AppPermissions { sms: true, storage: true, phone: true, network: false },
        },
    );
    m.insert(
        "browser".into(),
        AppStatus {
            app_name: "browser".into(),
            permissions: AppPermissions { sms: false, storage: true, phone: false, network: true },
        },
    );
    m
}

/// `MockPhoneAttributes`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    #[serde(default = "s_active")]
    pub sim_card_status: String,
    #[serde(default)]
    pub sim_card_missing: bool,
    #[serde(default)]
    pub airplane_mode: bool,
    #[serde(default = "s_good")]
    pub network_signal_strength: String,
    #[serde(default = "s_5g")]
    pub network_technology_connected: String,
    #[serde(default = "s_connected")]
    pub network_connection_status: String,
    #[serde(default = "eighty")]
    pub battery_level: i64,
    #[serde(default = "yes")]
    pub data_enabled: bool,
    #[serde(default)]
    pub roaming_enabled: bool,
    /// Raw: `set_network_mode_preference` assigns non-strings unvalidated.
    #[serde(default = "v_pref")]
    pub network_mode_preference: Value,
    #[serde(default)]
    pub active_apn_settings: Apn,
    #[serde(default)]
    pub wifi_enabled: bool,
    #[serde(default)]
    pub wifi_connected: bool,
    #[serde(default)]
    pub wifi_ssid: Option<String>,
    #[serde(default = "s_none")]
    pub wifi_signal_strength: String,
    #[serde(default)]
    pub wifi_calling_enabled: bool,
    #[serde(default)]
    pub wifi_calling_mms_over_wifi: bool,
    #[serde(default)]
    pub data_saver_mode: bool,
    #[serde(default)]
    pub vpn_enabled_setting: bool,
    #[serde(default)]
    pub vpn_connected: bool,
    #[serde(default)]
    pub vpn_details: Option<VpnDetails>,
    #[serde(default = "default_apps")]
    pub app_statuses: OrderedMap<String, AppStatus>,
}

/// `PaymentRequest`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub bill_id: String,
    pub amount_due: f64,
    #[serde(default)]
    pub paid: bool,
}

fn default_signal() -> OrderedMap<String, String> {
    let mut m = OrderedMap::default();
    for (k, v) in [("2G", "poor"), ("3G", "fair"), ("4G", "good"), ("5G", "excellent")] {
        m.insert(k.to_string(), v.to_string());
    }
    m
}

/// `UserSurroundings`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Surroundings {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub is_abroad: bool,
    #[serde(default)]
    pub roaming_allowed: bool,
    #[serde(default = "default_signal")]
    pub signal_strength: OrderedMap<String, String>,
    #[serde(default)]
    pub mobile_data_usage_exceeded: bool,
    #[serde(default = "yes")]
    pub line_active: bool,
    #[serde(default)]
    pub payment_request: Option<PaymentRequest>,
}

fn default_phone() -> Phone {
    serde_json::from_str("{}").expect("phone defaults")
}
fn default_surroundings() -> Surroundings {
    serde_json::from_str("{}").expect("surroundings defaults")
}

/// `TelecomUserDB`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelecomUserDb {
    #[serde(default = "default_phone")]
    pub device: Phone,
    #[serde(default = "default_surroundings")]
    pub surroundings: Surroundings,
}
