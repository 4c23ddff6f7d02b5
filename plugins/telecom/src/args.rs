//! Tool argument structs, generated from the reference schemas (`tools.json`).
#![allow(missing_docs)]

use eigenbox_sdk::prelude::*;

#[derive(ToolArgs)]
#[tool(name = "get_customer_by_phone", description = "Finds a customer by their primary contact or line phone number.")]
pub struct GetCustomerByPhone {
    #[arg(type = "string", description = "The phone number to search for.")]
    pub phone_number: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "get_customer_by_id", description = "Retrieves a customer directly by their unique ID.")]
pub struct GetCustomerById {
    #[arg(type = "string", description = "The unique identifier of the customer.")]
    pub customer_id: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "get_customer_by_name", description = "Searches for customers by name and DOB. May return multiple matches if names are similar,\n\nDOB helps disambiguate.")]
pub struct GetCustomerByName {
    #[arg(type = "string", description = "The full name of the customer.")]
    pub full_name: PyValue,
    #[arg(type = "string", description = "Date of birth for verification, in the format YYYY-MM-DD.")]
    pub dob: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "get_details_by_id", description = "Retrieves the details for a given ID.\n\nThe ID must be a valid ID for a Customer, Line, Device, Bill, or Plan.")]
pub struct GetDetailsById {
    #[arg(type = "string", description = "The ID of the object to retrieve.")]
    pub id: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "suspend_line", description = "Suspends a specific line (max 6 months).\n\nChecks: Line status must be Active.\nLogic: Sets line status to Suspended, records suspension_start_date.")]
pub struct SuspendLine {
    #[arg(type = "string", description = "ID of the customer who owns the line.")]
    pub customer_id: PyValue,
    #[arg(type = "string", description = "ID of the line to suspend.")]
    pub line_id: PyValue,
    #[arg(type = "string", description = "Reason for suspension.")]
    pub reason: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "resume_line", description = "Resumes a suspended line.\n\nChecks: Line status must be Suspended or Pending Activation.\nLogic: Sets line status to Active, clears suspension_start_date.")]
pub struct ResumeLine {
    #[arg(type = "string", description = "ID of the customer who owns the line.")]
    pub customer_id: PyValue,
    #[arg(type = "string", description = "ID of the line to resume.")]
    pub line_id: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "get_bills_for_customer", description = "Retrieves a list of the customer's bills, most recent first.")]
pub struct GetBillsForCustomer {
    #[arg(type = "string", description = "ID of the customer.")]
    pub customer_id: PyValue,
    #[arg(type = "integer", description = "Maximum number of bills to return.", default = "12")]
    pub limit: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "send_payment_request", description = "Sends a payment request to the customer for a specific bill.\n\nChecks:\n    - Customer exists\n    - Bill exists and belongs to the customer\n    - No other bills are already awaiting payment for this customer\nLogic: Sets bill status to AWAITING_PAYMENT and notifies customer.\nWarning: This method does not check if the bill is already PAID.\nAlways check the bill status before calling this method.")]
pub struct SendPaymentRequest {
    #[arg(type = "string", description = "ID of the customer who owns the bill.")]
    pub customer_id: PyValue,
    #[arg(type = "string", description = "ID of the bill to send payment request for.")]
    pub bill_id: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "get_data_usage", description = "Retrieves current billing cycle data usage for a line, including data\n\nrefueling amount, data limit, and cycle end date.")]
pub struct GetDataUsage {
    #[arg(type = "string", description = "ID of the customer who owns the line.")]
    pub customer_id: PyValue,
    #[arg(type = "string", description = "ID of the line to check usage for.")]
    pub line_id: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "enable_roaming", description = "Enables international roaming on a line.")]
pub struct EnableRoaming {
    #[arg(type = "string", description = "ID of the customer who owns the line.")]
    pub customer_id: PyValue,
    #[arg(type = "string", description = "ID of the line to enable roaming for.")]
    pub line_id: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "disable_roaming", description = "Disables international roaming on a line.")]
pub struct DisableRoaming {
    #[arg(type = "string", description = "ID of the customer who owns the line.")]
    pub customer_id: PyValue,
    #[arg(type = "string", description = "ID of the line to disable roaming for.")]
    pub line_id: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "transfer_to_human_agents", description = "Transfer the user to a human agent, with a summary of the user's issue.\n\nOnly transfer if\n -  the user explicitly asks for a human agent\n -  given the policy and the available tools, you cannot solve the user's issue.")]
pub struct TransferToHumanAgents {
    #[arg(type = "string", description = "A summary of the user's issue.")]
    pub summary: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "refuel_data", description = "Refuels data for a specific line, adding to the customer's bill.\n\nChecks: Line status must be Active, Customer owns the line.\nLogic: Adds data to the line and charges customer based on the plan's refueling rate.")]
pub struct RefuelData {
    #[arg(type = "string", description = "ID of the customer who owns the line.")]
    pub customer_id: PyValue,
    #[arg(type = "string", description = "ID of the line to refuel data for.")]
    pub line_id: PyValue,
    #[arg(type = "number", description = "Amount of data to add in gigabytes.")]
    pub gb_amount: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "check_status_bar", description = "Shows what icons are currently visible in your phone's status bar (the area at the top of the screen). Displays network signal strength, mobile data status (enabled, disabled, data saver), Wi-Fi status, and battery level.")]
pub struct CheckStatusBar {
}

#[derive(ToolArgs)]
#[tool(name = "check_network_status", description = "Checks your phone's connection status to cellular networks and Wi-Fi. Shows airplane mode status, signal strength, network type, whether mobile data is enabled, and whether data roaming is enabled.")]
pub struct CheckNetworkStatus {
}

#[derive(ToolArgs)]
#[tool(name = "check_network_mode_preference", description = "Shows the current network mode preference.")]
pub struct CheckNetworkModePreference {
}

#[derive(ToolArgs)]
#[tool(name = "set_network_mode_preference", description = "Changes the type of cellular network your phone prefers to connect to (e.g., 5G, LTE/4G, 3G). Higher-speed networks (LTE/5G) provide faster data but may use more battery.", defs = "{\"NetworkModePreference\": {\"enum\": [\"4g_5g_preferred\", \"4g_only\", \"3g_only\", \"2g_only\"], \"title\": \"NetworkModePreference\", \"type\": \"string\"}}")]
pub struct SetNetworkModePreference {
    #[arg(schema = "{\"anyOf\": [{\"$ref\": \"#/$defs/NetworkModePreference\"}, {\"type\": \"string\"}], \"title\": \"Mode\"}")]
    pub mode: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "run_speed_test", description = "Measures your current internet connection speed (download speed). Provides information about connection quality and what activities it can support.")]
pub struct RunSpeedTest {
}

#[derive(ToolArgs)]
#[tool(name = "toggle_airplane_mode", description = "Toggles Airplane Mode ON or OFF. When ON, it disconnects all wireless communications including cellular, Wi-Fi, and Bluetooth.\n\nReturns the new state of airplane_mode.")]
pub struct ToggleAirplaneMode {
}

#[derive(ToolArgs)]
#[tool(name = "check_sim_status", description = "Checks if your SIM card is working correctly and displays its current status. Shows if the SIM is active, missing, or locked with a PIN or PUK code.")]
pub struct CheckSimStatus {
}

#[derive(ToolArgs)]
#[tool(name = "reseat_sim_card", description = "Simulates removing and reinserting your SIM card. This can help resolve recognition issues.")]
pub struct ReseatSimCard {
}

#[derive(ToolArgs)]
#[tool(name = "toggle_data", description = "Toggles your phone's mobile data connection ON or OFF. Controls whether your phone can use cellular data for internet access when Wi-Fi is unavailable.\n\nReturns the new data connection status.")]
pub struct ToggleData {
}

#[derive(ToolArgs)]
#[tool(name = "toggle_roaming", description = "Toggles Data Roaming ON or OFF. When ON, your phone can use data networks in areas outside your carrier's coverage.\n\nReturns the new data roaming status.")]
pub struct ToggleRoaming {
}

#[derive(ToolArgs)]
#[tool(name = "check_data_restriction_status", description = "Checks if your phone has any data-limiting features active. Shows if Data Saver mode is on.")]
pub struct CheckDataRestrictionStatus {
}

#[derive(ToolArgs)]
#[tool(name = "toggle_data_saver_mode", description = "Toggles Data Saver mode ON or OFF. When ON, it reduces data usage, which may affect data speed.\n\nReturns the new data saver mode status.")]
pub struct ToggleDataSaverMode {
}

#[derive(ToolArgs)]
#[tool(name = "check_apn_settings", description = "Checks the technical APN settings your phone uses to connect to your carrier's mobile data network. Shows current APN name and MMSC URL for picture messaging.")]
pub struct CheckApnSettings {
}

#[derive(ToolArgs)]
#[tool(name = "set_apn_settings", description = "Sets the APN settings for the phone.", defs = "{\"APNNames\": {\"enum\": [\"internet\", \"broken\"], \"title\": \"APNNames\", \"type\": \"string\"}, \"APNSettings\": {\"additionalProperties\": false, \"description\": \"Represents the configuration for a single Access Point Name (APN).\", \"properties\": {\"apn_name\": {\"$ref\": \"#/$defs/APNNames\", \"default\": \"internet\", \"description\": \"The name identifier for the APN connection.\"}, \"reset_at_reboot\": {\"default\": false, \"description\": \"Whether the APN settings will be reset at the next reboot.\", \"title\": \"Reset At Reboot\", \"type\": \"boolean\"}, \"mms_apn\": {\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"null\"}], \"default\": \"mms\", \"description\": \"Specific APN name used for MMS traffic, if different from general data.\", \"title\": \"Mms Apn\"}, \"mmsc_url\": {\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"null\"}], \"default\": \"http://mms.carrier.com/mms/wapenc\", \"description\": \"The URL of the Multimedia Messaging Service Center (MMSC). Crucial for MMS.\", \"title\": \"Mmsc Url\"}, \"mms_proxy\": {\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"null\"}], \"default\": null, \"description\": \"The proxy server address required for MMS traffic on some networks.\", \"title\": \"Mms Proxy\"}, \"mms_port\": {\"anyOf\": [{\"type\": \"integer\"}, {\"type\": \"null\"}], \"default\": null, \"description\": \"The proxy server port required for MMS traffic on some networks.\", \"title\": \"Mms Port\"}}, \"title\": \"APNSettings\", \"type\": \"object\"}}")]
pub struct SetApnSettings {
    #[arg(schema = "{\"anyOf\": [{\"$ref\": \"#/$defs/APNSettings\"}, {\"additionalProperties\": true, \"type\": \"object\"}], \"title\": \"Apn Settings\"}")]
    pub apn_settings: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "reset_apn_settings", description = "Resets your APN settings to the default settings.")]
pub struct ResetApnSettings {
}

#[derive(ToolArgs)]
#[tool(name = "check_wifi_status", description = "Checks your Wi-Fi connection status. Shows if Wi-Fi is turned on, which network you're connected to (if any), and the signal strength.")]
pub struct CheckWifiStatus {
}

#[derive(ToolArgs)]
#[tool(name = "toggle_wifi", description = "Toggles your phone's Wi-Fi radio ON or OFF. Controls whether your phone can discover and connect to wireless networks for internet access.\n\nReturns the new Wi-Fi status.")]
pub struct ToggleWifi {
}

#[derive(ToolArgs)]
#[tool(name = "check_wifi_calling_status", description = "Checks if Wi-Fi Calling is enabled on your device. This feature allows you to make and receive calls over a Wi-Fi network instead of using the cellular network.")]
pub struct CheckWifiCallingStatus {
}

#[derive(ToolArgs)]
#[tool(name = "toggle_wifi_calling", description = "Toggles Wi-Fi Calling ON or OFF. This feature allows you to make and receive calls over Wi-Fi instead of the cellular network, which can help in areas with weak cellular signal.\n\nReturns the new Wi-Fi Calling status.")]
pub struct ToggleWifiCalling {
}

#[derive(ToolArgs)]
#[tool(name = "check_vpn_status", description = "Checks if you're using a VPN (Virtual Private Network) connection. Shows if a VPN is active, connected, and displays any available connection details.")]
pub struct CheckVpnStatus {
}

#[derive(ToolArgs)]
#[tool(name = "connect_vpn", description = "Connects to your VPN (Virtual Private Network).")]
pub struct ConnectVpn {
}

#[derive(ToolArgs)]
#[tool(name = "disconnect_vpn", description = "Disconnects any active VPN (Virtual Private Network) connection. Stops routing your internet traffic through a VPN server, which might affect connection speed or access to content.")]
pub struct DisconnectVpn {
}

#[derive(ToolArgs)]
#[tool(name = "check_installed_apps", description = "Returns the name of all installed apps on the phone.")]
pub struct CheckInstalledApps {
}

#[derive(ToolArgs)]
#[tool(name = "check_app_status", description = "Checks detailed information about a specific app. Shows its permissions and background data usage settings.")]
pub struct CheckAppStatus {
    #[arg(type = "string")]
    pub app_name: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "check_app_permissions", description = "Checks what permissions a specific app currently has. Shows if the app has access to features like storage, camera, location, etc.")]
pub struct CheckAppPermissions {
    #[arg(type = "string")]
    pub app_name: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "grant_app_permission", description = "Gives a specific permission to an app (like access to storage, camera, or location). Required for some app functions to work properly.")]
pub struct GrantAppPermission {
    #[arg(type = "string", description = "The name of the app to grant the permission to.")]
    pub app_name: PyValue,
    #[arg(type = "string", description = "The permission to grant, should be lowercase.")]
    pub permission: PyValue,
}

#[derive(ToolArgs)]
#[tool(name = "can_send_mms", description = "Checks if the default messaging app can send MMS messages.")]
pub struct CanSendMms {
}

#[derive(ToolArgs)]
#[tool(name = "reboot_device", description = "Restarts your phone completely. This can help resolve many temporary software glitches by refreshing all running services and connections.")]
pub struct RebootDevice {
}

#[derive(ToolArgs)]
#[tool(name = "check_payment_request", description = "Checks if the agent has sent you a payment request.")]
pub struct CheckPaymentRequest {
}

#[derive(ToolArgs)]
#[tool(name = "make_payment", description = "Makes a payment for the bill that the agent has sent you.")]
pub struct MakePayment {
}
