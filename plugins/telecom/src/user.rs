//! `TelecomUserTools`: the simulated phone (`user_tools.py`).

use super::*;

const PREFS: [&str; 4] = ["4g_5g_preferred", "4g_only", "3g_only", "2g_only"];

fn on_off(b: bool) -> &'static str {
    if b {
        "ON"
    } else {
        "OFF"
    }
}
fn yes_no(b: bool) -> &'static str {
    if b {
        "Yes"
    } else {
        "No"
    }
}

impl Telecom {
    fn dev(&mut self) -> &mut Phone {
        &mut self.user_db.device
    }

    fn apn(&self, attr: &str) -> Result<&ApnSettings, ToolError> {
        match &self.user_db.device.active_apn_settings {
            Apn::Model(m) => Ok(m),
            Apn::Raw(v) => Err(no_attr(v, attr)),
        }
    }

    fn status_bar(&self) -> String {
        let d = &self.user_db.device;
        let mut ind: Vec<std::borrow::Cow<'_, str>> = Vec::with_capacity(6);
        if d.airplane_mode {
            ind.push("\u{2708}\u{fe0f} Airplane Mode".into());
        } else {
            ind.push(
                match d.network_signal_strength.as_str() {
                    "poor" => "📶¹ Poor",
                    "fair" => "📶² Fair",
                    "good" => "📶³ Good",
                    "excellent" => "📶⁴ Excellent",
                    _ => "📵 No Signal",
                }
                .into(),
            );
            if d.network_technology_connected != "none" {
                ind.push(d.network_technology_connected.as_str().into());
            }
            if d.data_enabled && d.network_technology_connected != "none" {
                ind.push("📱 Data Enabled".into());
                if d.data_saver_mode {
                    ind.push("🔽 Data Saver".into());
                }
            } else {
                ind.push("📵 Data Disabled".into());
            }
        }
        if d.wifi_enabled && d.wifi_connected {
            match d.wifi_ssid.as_deref() {
                Some(ssid) if !ssid.is_empty() => ind.push(format!("📡 Connected to {ssid}").into()),
                _ => ind.push("📡 Enabled".into()),
            }
        }
        if d.vpn_connected {
            ind.push("🔒 VPN Connected".into());
        }
        ind.push(format!("🔋 {}%", d.battery_level).into());
        ind.join(" | ")
    }
    fn with_bar(&self, msg: &str) -> String {
        format!("{msg}\nStatus Bar: {}", self.status_bar())
    }

    fn sim_status(&self) -> String {
        if self.user_db.device.sim_card_missing {
            "missing".into()
        } else {
            self.user_db.device.sim_card_status.clone()
        }
    }

    /// `simulate_network_search`.
    fn network_search(&mut self) -> Result<(), ToolError> {
        let sim = self.sim_status();
        let sig = |t: &str, sur: &Surroundings| sur.signal_strength.get(t).cloned().unwrap_or_else(|| "none".into());
        let line_active = self.user_db.surroundings.line_active;
        // Disjoint borrows of the user DB: the surroundings read, the device written.
        let sur = &self.user_db.surroundings;
        let d = &mut self.user_db.device;
        if sim == "active" {
            d.network_connection_status = "connected".into();
            let pref = d.network_mode_preference.as_str().unwrap_or("");
            let (tech, strength) = match pref {
                "4g_5g_preferred" => {
                    let five = sig("5G", sur);
                    if five == "none" {
                        ("4G", sig("4G", sur))
                    } else {
                        ("5G", five)
                    }
                }
                "3g_only" => ("3G", sig("3G", sur)),
                "2g_only" => ("2G", sig("2G", sur)),
                _ => ("4G", sig("4G", sur)),
            };
            d.network_technology_connected = tech.into();
            d.network_signal_strength = strength;
        } else {
            d.no_service();
        }
        if d.airplane_mode {
            d.no_service();
        }
        let broken = self.apn("apn_name")?.apn_name == "broken";
        let d = &mut self.user_db.device;
        if broken {
            d.no_service();
        }
        if !line_active {
            d.no_service();
        }
        Ok(())
    }

    fn mobile_data_working(&self) -> bool {
        let d = &self.user_db.device;
        let s = &self.user_db.surroundings;
        if d.airplane_mode || d.network_signal_strength == "none" {
            return false;
        }
        if d.network_connection_status == "no_service" {
            return false;
        }
        if s.is_abroad && (!d.roaming_enabled || !s.roaming_allowed) {
            return false;
        }
        if !d.data_enabled {
            return false;
        }
        !s.mobile_data_usage_exceeded
    }

    fn speed_test(&self) -> (Option<f64>, &'static str) {
        if !self.mobile_data_working() {
            return (None, "No Connection");
        }
        let d = &self.user_db.device;
        let mut base = if d.vpn_connected && d.vpn_details.as_ref().is_some_and(|v| v.server_performance == "poor") {
            0.1
        } else {
            1.0
        };
        if d.data_saver_mode {
            base *= 0.2;
        }
        let (lo, hi) = match d.network_technology_connected.as_str() {
            "2G" => (0.1, 0.4),
            "3G" => (1.0, 5.0),
            "4G" => (10.0, 100.0),
            "5G" => (50.0, 500.0),
            _ => (0.0, 0.0),
        };
        let sf = match d.network_signal_strength.as_str() {
            "poor" => 0.2,
            "fair" => 0.5,
            "good" => 0.8,
            "excellent" => 1.0,
            _ => 0.0,
        };
        let speed = round2((lo + hi) / 2.0 * sf * base);
        let desc = if speed < 1.0 {
            "Very Poor"
        } else if speed < 5.0 {
            "Poor"
        } else if speed < 25.0 {
            "Fair"
        } else if speed < 100.0 {
            "Good"
        } else {
            "Excellent"
        };
        (Some(speed), desc)
    }

    fn toggle_airplane(&mut self) -> Result<bool, ToolError> {
        let was_on = self.user_db.device.airplane_mode;
        let d = self.dev();
        d.airplane_mode = !was_on;
        if was_on {
            d.network_connection_status = "searching".into();
            if d.wifi_enabled {
                d.wifi_connected = false;
                d.wifi_ssid = None;
                d.wifi_signal_strength = "none".into();
            }
        } else {
            d.wifi_connected = false;
            d.wifi_ssid = None;
            d.wifi_signal_strength = "none".into();
            if d.vpn_connected {
                d.vpn_connected = false;
                d.vpn_details = None;
            }
        }
        self.network_search()?;
        Ok(self.user_db.device.airplane_mode)
    }

    fn toggle_data_(&mut self) -> Result<bool, ToolError> {
        let n = !self.user_db.device.data_enabled;
        self.dev().data_enabled = n;
        self.network_search()?;
        Ok(n)
    }
    fn toggle_roaming_(&mut self) -> Result<bool, ToolError> {
        let n = !self.user_db.device.roaming_enabled;
        self.dev().roaming_enabled = n;
        self.network_search()?;
        Ok(n)
    }
    fn toggle_saver(&mut self) -> bool {
        let n = !self.user_db.device.data_saver_mode;
        self.dev().data_saver_mode = n;
        n
    }

    fn can_send_mms_(&self) -> Result<bool, ToolError> {
        if !self.mobile_data_working() {
            return Ok(false);
        }
        let d = &self.user_db.device;
        if d.network_technology_connected == "2G" {
            return Ok(false);
        }
        if d.wifi_calling_enabled && d.wifi_calling_mms_over_wifi {
            return Ok(false);
        }
        if self.apn("mmsc_url")?.mmsc_url.is_none() {
            return Ok(false);
        }
        Ok(match d.app_statuses.get("messaging") {
            Some(m) => m.permissions.storage && m.permissions.sms,
            None => false,
        })
    }

    fn connect_vpn_(&mut self) -> Option<bool> {
        if self.user_db.device.vpn_connected {
            return None;
        }
        let perf = VPN_DEFAULT_PERFORMANCE;
        let d = self.dev();
        d.vpn_connected = true;
        d.vpn_details = Some(VpnDetails {
            server_address: Some("192.168.1.1".into()),
            protocol: Some("OpenVPN".into()),
            server_performance: perf.into(),
        });
        Some(true)
    }

    // ------------------------------------------------------------------ tools

    fn check_status_bar(&mut self, _: CheckStatusBar) -> Result<String, ToolError> {
        Ok(format!("Status Bar: {}", self.status_bar()))
    }
    fn check_network_status(&mut self, _: CheckNetworkStatus) -> Result<String, ToolError> {
        let d = &self.user_db.device;
        let mut lines = vec![
            format!("Airplane Mode: {}", on_off(d.airplane_mode)),
            format!("SIM Card Status: {}", self.sim_status()),
            format!("Cellular Connection: {}", d.network_connection_status),
            format!("Cellular Signal: {}", d.network_signal_strength),
            format!("Cellular Network Type: {}", d.network_technology_connected),
            format!("Mobile Data Enabled: {}", yes_no(d.data_enabled)),
            format!("Data Roaming Enabled: {}", yes_no(d.roaming_enabled)),
            format!("Wi-Fi Radio: {}", on_off(d.wifi_enabled)),
            format!("Wi-Fi Connected: {}", yes_no(d.wifi_connected)),
        ];
        if d.wifi_connected {
            lines.push(format!("Connected Wi-Fi Network: {}", d.wifi_ssid.as_deref().unwrap_or("None")));
        }
        Ok(lines.join("\n"))
    }
    fn check_network_mode_preference(&mut self, _: CheckNetworkModePreference) -> Result<String, ToolError> {
        let p = &self.user_db.device.network_mode_preference;
        match p.as_str() {
            Some(x) => Ok(format!("Network Mode Preference: {x}")),
            None => Err(no_attr(p, "value")),
        }
    }
    fn set_network_mode_preference(&mut self, a: SetNetworkModePreference) -> Result<String, ToolError> {
        match a.mode.as_str() {
            Some(m) if PREFS.contains(&m) => {
                self.dev().network_mode_preference = Value::String(m.into());
                self.network_search()?;
                Ok(self.with_bar(&format!("Preferred Network Mode set to: {m}")))
            }
            Some(m) => Ok(self.with_bar(&format!(
                "Failed to set network mode: '{m}' is not a valid option. Please use one of: {}",
                PREFS.join(", ")
            ))),
            None => {
                self.dev().network_mode_preference = a.mode.value().clone();
                self.network_search()?;
                Err(no_attr(a.mode.value(), "value"))
            }
        }
    }
    fn run_speed_test(&mut self, _: RunSpeedTest) -> Result<String, ToolError> {
        let (speed, desc) = self.speed_test();
        let Some(speed) = speed else { return Ok(format!("Speed test failed: {desc}.")) };
        let advice = match desc {
            "Very Poor" => "Connection is very slow. Basic web browsing might be difficult.",
            "Poor" => "Connection is slow. Web browsing may be sluggish, streaming difficult.",
            "Fair" => "Connection is okay for web browsing and some standard definition streaming.",
            "Good" => "Connection is good for most activities, including HD streaming.",
            "Excellent" => "Connection is very fast.",
            _ => "",
        };
        Ok(format!("Speed Test Result: {speed:.2} Mbps ({desc}). {advice}"))
    }
    fn toggle_airplane_mode(&mut self, _: ToggleAirplaneMode) -> Result<String, ToolError> {
        let n = self.toggle_airplane()?;
        Ok(self.with_bar(&format!("Airplane Mode is now {}.", on_off(n))))
    }
    fn check_sim_status(&mut self, _: CheckSimStatus) -> Result<String, ToolError> {
        Ok(match self.sim_status().as_str() {
            "active" => "Your SIM card is active and working.".into(),
            "missing" => "No SIM card detected in the phone.".into(),
            "locked_pin" => "The SIM card is locked with a PIN code.".into(),
            "locked_puk" => "The SIM card is locked with a PUK code.".into(),
            other => format!("Unknown SIM status: {other}"),
        })
    }
    fn reseat_sim_card(&mut self, _: ReseatSimCard) -> Result<String, ToolError> {
        self.dev().sim_card_missing = false;
        self.network_search()?;
        Ok(self.with_bar("SIM card re-seated successfully."))
    }
    fn toggle_data(&mut self, _: ToggleData) -> Result<String, ToolError> {
        let n = self.toggle_data_()?;
        Ok(self.with_bar(&format!("Mobile Data is now {}.", on_off(n))))
    }
    fn toggle_roaming(&mut self, _: ToggleRoaming) -> Result<String, ToolError> {
        let n = self.toggle_roaming_()?;
        Ok(self.with_bar(&format!("Data Roaming is now {}.", on_off(n))))
    }
    fn check_data_restriction_status(&mut self, _: CheckDataRestrictionStatus) -> Result<String, ToolError> {
        Ok(if self.user_db.device.data_saver_mode {
            "Data Saver mode is ON (limits data usage).".into()
        } else {
            "Data Saver mode is OFF.".into()
        })
    }
    fn toggle_data_saver_mode(&mut self, _: ToggleDataSaverMode) -> Result<String, ToolError> {
        let n = self.toggle_saver();
        Ok(self.with_bar(&format!("Data Saver Mode is now {}.", on_off(n))))
    }
    fn check_apn_settings(&mut self, _: CheckApnSettings) -> Result<String, ToolError> {
        let apn = self.apn("model_copy")?;
        let name = if apn.apn_name.is_empty() { "Not Set" } else { apn.apn_name.as_str() };
        let url = match apn.mmsc_url.as_deref() {
            Some(u) if !u.is_empty() => u,
            _ => "Not Set",
        };
        Ok(format!(
            "Current APN Name: {name}\nMMSC URL (for picture messages): {url}\n(These are technical settings, usually best left unchanged.)"
        ))
    }
    fn set_apn_settings(&mut self, a: SetApnSettings) -> Result<String, ToolError> {
        let v = a.apn_settings.into_value();
        match &v {
            Value::Object(_) => {
                let m: ApnSettings = serde_json::from_value(v.clone())
                    .map_err(|e| ToolError::failed(format!("1 validation error for APNSettings\n{e}")))?;
                if m.apn_name != "internet" && m.apn_name != "broken" {
                    return Err(ToolError::failed("1 validation error for APNSettings\napn_name"));
                }
                let name = m.apn_name.clone();
                self.dev().active_apn_settings = Apn::Model(m);
                self.network_search()?;
                Ok(self.with_bar(&format!("APN settings set to: {name}")))
            }
            _ => {
                self.dev().active_apn_settings = Apn::Raw(v.clone());
                Err(no_attr(&v, "apn_name"))
            }
        }
    }
    fn reset_apn_settings(&mut self, _: ResetApnSettings) -> Result<String, ToolError> {
        match &mut self.user_db.device.active_apn_settings {
            Apn::Model(m) => m.reset_at_reboot = true,
            Apn::Raw(v) => return Err(no_attr(v, "reset_at_reboot")),
        }
        self.network_search()?;
        Ok(self.with_bar("APN settings will reset at reboot."))
    }
    fn check_wifi_status(&mut self, _: CheckWifiStatus) -> Result<String, ToolError> {
        let d = &self.user_db.device;
        Ok(if !d.wifi_enabled {
            "Wi-Fi is turned OFF.".into()
        } else if d.wifi_connected {
            format!(
                "Wi-Fi is ON and connected to '{}'. Signal strength: {}.",
                d.wifi_ssid.as_deref().unwrap_or("None"),
                d.wifi_signal_strength
            )
        } else {
            "Wi-Fi is ON but not connected to any network.".into()
        })
    }
    fn toggle_wifi(&mut self, _: ToggleWifi) -> Result<String, ToolError> {
        if self.user_db.device.airplane_mode {
            return Ok(self.with_bar("Cannot change Wi-Fi settings while Airplane Mode is ON."));
        }
        let d = self.dev();
        let n = !d.wifi_enabled;
        d.wifi_enabled = n;
        if !n {
            d.wifi_connected = false;
            d.wifi_ssid = None;
            d.wifi_signal_strength = "none".into();
        }
        Ok(self.with_bar(&format!("Wi-Fi is now {}.", on_off(n))))
    }
    fn check_wifi_calling_status(&mut self, _: CheckWifiCallingStatus) -> Result<String, ToolError> {
        Ok(format!("Wi-Fi Calling is currently turned {}.", on_off(self.user_db.device.wifi_calling_enabled)))
    }
    fn toggle_wifi_calling(&mut self, _: ToggleWifiCalling) -> Result<String, ToolError> {
        let n = !self.user_db.device.wifi_calling_enabled;
        self.dev().wifi_calling_enabled = n;
        Ok(self.with_bar(&format!("Wi-Fi Calling is now {}.", on_off(n))))
    }
    fn check_vpn_status(&mut self, _: CheckVpnStatus) -> Result<String, ToolError> {
        let d = &self.user_db.device;
        Ok(if d.vpn_connected {
            match &d.vpn_details {
                Some(v) => format!(
                    "VPN is ON and connected. Details: {{'server_address': {}, 'protocol': {}, 'server_performance': {}}}",
                    opt_repr(&v.server_address),
                    opt_repr(&v.protocol),
                    perf_repr(&v.server_performance)
                ),
                None => "VPN is ON and connected (no specific details available).".into(),
            }
        } else if d.vpn_enabled_setting {
            "VPN is turned ON in settings, but currently not connected.".into()
        } else {
            "VPN is turned OFF.".into()
        })
    }
    fn connect_vpn(&mut self, _: ConnectVpn) -> Result<String, ToolError> {
        match self.connect_vpn_() {
            None => Ok("VPN already connected.".into()),
            Some(_) => Ok(self.with_bar("VPN connected successfully.")),
        }
    }
    fn disconnect_vpn(&mut self, _: DisconnectVpn) -> Result<String, ToolError> {
        let d = self.dev();
        let msg = if d.vpn_connected {
            d.vpn_connected = false;
            d.vpn_details = None;
            "VPN disconnected successfully."
        } else {
            "No active VPN connection to disconnect."
        };
        Ok(self.with_bar(msg))
    }
    fn check_installed_apps(&mut self, _: CheckInstalledApps) -> Result<String, ToolError> {
        let names: Vec<&str> = self.user_db.device.app_statuses.keys().map(String::as_str).collect();
        Ok(format!("The following apps are installed on the phone: {}", names.join(", ")))
    }
    fn check_app_status(&mut self, a: CheckAppStatus) -> Result<String, ToolError> {
        let key = a.app_name.dict_key()?;
        let Some(app) = key.and_then(|k| self.user_db.device.app_statuses.get(k)) else {
            return Ok(format!("App '{}' not found on this phone.", a.app_name));
        };
        let mut lines = vec![format!("Status for App: {}", a.app_name)];
        let allowed: Vec<&str> = app.permissions.items().into_iter().filter(|x| x.1).map(|x| x.0).collect();
        if allowed.is_empty() {
            lines.push(" - Permissions: None granted.".into());
        } else {
            lines.push(" - Permissions Granted:".into());
            for p in allowed {
                lines.push(format!("   - {p}"));
            }
        }
        Ok(lines.join("\n"))
    }
    fn check_app_permissions(&mut self, a: CheckAppPermissions) -> Result<String, ToolError> {
        let key = a.app_name.dict_key()?;
        let Some(app) = key.and_then(|k| self.user_db.device.app_statuses.get(k)) else {
            return Ok(format!("App '{}' not found on this phone.", a.app_name));
        };
        let allowed: Vec<&str> = app.permissions.items().into_iter().filter(|x| x.1).map(|x| x.0).collect();
        Ok(if allowed.is_empty() {
            format!("App '{}' currently has no permissions granted.", a.app_name)
        } else {
            format!("App '{}' has permission for: {}.", a.app_name, allowed.join(", "))
        })
    }
    fn grant_app_permission(&mut self, a: GrantAppPermission) -> Result<String, ToolError> {
        let key = a.app_name.dict_key()?.map(str::to_string);
        let Some(perm) = a.permission.as_str().map(str::to_lowercase) else {
            return Err(no_attr(a.permission.value(), "lower"));
        };
        let (ok, msg) = match key.and_then(|k| self.user_db.device.app_statuses.get_mut(&k)) {
            Some(app) => {
                if app.permissions.set(&perm, true) {
                    (true, format!("Permission '{perm}' granted to app '{}'.", a.app_name))
                } else {
                    (
                        false,
                        format!(
                            "Permission '{perm}' not tracked for app '{}', available permissions: ['sms', 'storage', 'phone', 'network']",
                            a.app_name
                        ),
                    )
                }
            }
            None => (false, format!("App '{}' not found. Cannot grant permission.", a.app_name)),
        };
        Ok(self.with_bar(&format!("{}{msg}", if ok { "Success. " } else { "Error. " })))
    }
    fn can_send_mms(&mut self, _: CanSendMms) -> Result<String, ToolError> {
        Ok(if self.can_send_mms_()? {
            "Your messaging app can send MMS messages.".into()
        } else {
            "Your messaging app cannot send MMS messages.".into()
        })
    }
    fn reboot_device(&mut self, _: RebootDevice) -> Result<String, ToolError> {
        let mut lines = Vec::new();
        if self.apn("reset_at_reboot")?.reset_at_reboot {
            lines.push("Resetting APN settings...");
            self.dev().active_apn_settings = Apn::default();
        }
        lines.push("Restarting network services...");
        self.dev().network_connection_status = "searching".into();
        self.network_search()?;
        Ok(self.with_bar(&lines.join("\n")))
    }
    fn check_payment_request(&mut self, _: CheckPaymentRequest) -> Result<String, ToolError> {
        Ok(match &self.user_db.surroundings.payment_request {
            None => "No payment request has been made.".into(),
            Some(p) => format!("You have a payment request for bill {} of {} USD.", p.bill_id, frepr(p.amount_due)),
        })
    }
    fn make_payment(&mut self, _: MakePayment) -> Result<String, ToolError> {
        Ok(match &mut self.user_db.surroundings.payment_request {
            None => "You do not have a payment request.".into(),
            Some(p) => {
                p.paid = true;
                format!("Payment of {} USD has been made for bill {}.", frepr(p.amount_due), p.bill_id)
            }
        })
    }

    // ------------------------------------------------- environment functions

    fn set_user_info(&mut self, a: SetUserInfo) -> Result<Value, ToolError> {
        self.user_db.surroundings.name = a.name.as_str().map(str::to_string);
        self.user_db.surroundings.phone_number = a.phone_number.as_str().map(str::to_string);
        Ok(Value::Null)
    }
    fn set_user_location(&mut self, a: SetUserLocation) -> Result<Value, ToolError> {
        self.user_db.surroundings.is_abroad = truthy(a.abroad.value());
        Ok(Value::Null)
    }
    fn turn_airplane_mode_on(&mut self, _: TurnAirplaneModeOn) -> Result<String, ToolError> {
        if !self.toggle_airplane()? {
            self.toggle_airplane()?;
        }
        Ok("Airplane Mode is now ON.".into())
    }
    fn turn_airplane_mode_off(&mut self, _: TurnAirplaneModeOff) -> Result<String, ToolError> {
        if self.toggle_airplane()? {
            self.toggle_airplane()?;
        }
        Ok("Airplane Mode is now OFF.".into())
    }
    fn unseat_sim_card(&mut self, _: UnseatSimCard) -> Result<String, ToolError> {
        self.dev().sim_card_missing = true;
        self.network_search()?;
        Ok("SIM card un-seated successfully.".into())
    }
    fn lock_sim_card(&mut self, a: LockSimCard) -> Result<String, ToolError> {
        match a.mode.as_str() {
            Some("pin") => self.dev().sim_card_status = "locked_pin".into(),
            Some("puk") => self.dev().sim_card_status = "locked_puk".into(),
            _ => {}
        }
        self.network_search()?;
        Ok(format!("SIM card locked successfully in {} mode.", a.mode))
    }
    fn turn_data_on(&mut self, _: TurnDataOn) -> Result<String, ToolError> {
        self.dev().data_enabled = true;
        Ok("Data connection restored.".into())
    }
    fn turn_data_off(&mut self, _: TurnDataOff) -> Result<String, ToolError> {
        if self.toggle_data_()? {
            self.toggle_data_()?;
        }
        Ok("Data connection broken.".into())
    }
    fn turn_roaming_on(&mut self, _: TurnRoamingOn) -> Result<String, ToolError> {
        if !self.toggle_roaming_()? {
            self.toggle_roaming_()?;
        }
        Ok("Data Roaming is now ON.".into())
    }
    fn turn_roaming_off(&mut self, _: TurnRoamingOff) -> Result<String, ToolError> {
        if self.toggle_roaming_()? {
            self.toggle_roaming_()?;
        }
        Ok("Data Roaming is now OFF.".into())
    }
    fn turn_data_saver_mode_on(&mut self, _: TurnDataSaverModeOn) -> Result<String, ToolError> {
        if !self.toggle_saver() {
            self.toggle_saver();
        }
        Ok("Data Saver Mode is now ON.".into())
    }
    fn turn_data_saver_mode_off(&mut self, _: TurnDataSaverModeOff) -> Result<String, ToolError> {
        if self.toggle_saver() {
            self.toggle_saver();
        }
        Ok("Data Saver Mode is now OFF.".into())
    }
    fn break_apn_settings(&mut self, _: BreakApnSettings) -> Result<String, ToolError> {
        match &mut self.user_db.device.active_apn_settings {
            Apn::Model(m) => m.apn_name = "broken".into(),
            Apn::Raw(v) => return Err(no_attr(v, "apn_name")),
        }
        self.network_search()?;
        Ok("APN settings broken. Please call reset_apn_settings() to fix.".into())
    }
    fn break_apn_mms_setting(&mut self, _: BreakApnMmsSetting) -> Result<String, ToolError> {
        match &mut self.user_db.device.active_apn_settings {
            Apn::Model(m) => m.mmsc_url = None,
            Apn::Raw(v) => return Err(no_attr(v, "mmsc_url")),
        }
        Ok("APN MMS setting broken. Please call reset_apn_settings() to fix.".into())
    }
    fn set_wifi_calling(&mut self, a: SetWifiCalling) -> Result<String, ToolError> {
        if !bool_eq(self.user_db.device.wifi_calling_enabled, a.enabled.value()) {
            let n = !self.user_db.device.wifi_calling_enabled;
            self.dev().wifi_calling_enabled = n;
        }
        let mut msg = format!("Wi-Fi Calling is now {}.", on_off(truthy(a.enabled.value())));
        if !a.mms_over_wifi.value().is_null() {
            let m = truthy(a.mms_over_wifi.value());
            self.dev().wifi_calling_mms_over_wifi = m;
            msg += &format!("\nMMS over Wi-Fi is now {}.", on_off(m));
        }
        Ok(msg)
    }
    fn break_vpn(&mut self, _: BreakVpn) -> Result<String, ToolError> {
        self.connect_vpn_();
        match &mut self.user_db.device.vpn_details {
            Some(v) => v.server_performance = "poor".into(),
            None => return Err("'NoneType' object has no attribute 'server_performance'".into()),
        }
        Ok("VPN connection broken.".into())
    }
    fn remove_app_permission(&mut self, a: RemoveAppPermission) -> Result<Value, ToolError> {
        let key = a.app_name.dict_key()?.map(str::to_string);
        let Some(perm) = a.permission.as_str().map(str::to_lowercase) else {
            return Err(no_attr(a.permission.value(), "lower"));
        };
        let r = match key.and_then(|k| self.user_db.device.app_statuses.get_mut(&k)) {
            Some(app) => {
                if app.permissions.set(&perm, false) {
                    (true, format!("Permission '{perm}' removed from app '{}'.", a.app_name))
                } else {
                    (false, format!("Permission '{perm}' not tracked for app '{}'.", a.app_name))
                }
            }
            None => (false, format!("App '{}' not found. Cannot remove permission.", a.app_name)),
        };
        Ok(serde_json::json!([r.0, r.1]))
    }
    fn simulate_network_search(&mut self, _: SimulateNetworkSearch) -> Result<Value, ToolError> {
        self.network_search()?;
        Ok(Value::Null)
    }

    fn assert_airplane_mode_status(&mut self, a: AssertAirplaneModeStatus) -> Result<bool, ToolError> {
        Ok(bool_eq(self.user_db.device.airplane_mode, a.expected_status.value()))
    }
    fn assert_service_status(&mut self, a: AssertServiceStatus) -> Result<bool, ToolError> {
        let v = a.expected_status.value();
        match v.as_str() {
            Some(x) if ["connected", "searching", "no_service", "emergency_only"].contains(&x) => {
                Ok(self.user_db.device.network_connection_status == x)
            }
            _ => Err(format!("{} is not a valid NetworkStatus", a.expected_status.py_repr()).into()),
        }
    }
    fn assert_mobile_data_status(&mut self, a: AssertMobileDataStatus) -> Result<bool, ToolError> {
        Ok(bool_eq(self.mobile_data_working(), a.expected_status.value()))
    }
    fn assert_mobile_roaming_status(&mut self, a: AssertMobileRoamingStatus) -> Result<bool, ToolError> {
        Ok(bool_eq(self.user_db.device.roaming_enabled, a.expected_status.value()))
    }
    fn assert_mobile_data_saver_mode_status(&mut self, a: AssertMobileDataSaverModeStatus) -> Result<bool, ToolError> {
        Ok(bool_eq(self.user_db.device.data_saver_mode, a.expected_status.value()))
    }
    fn assert_internet_speed(&mut self, a: AssertInternetSpeed) -> Result<bool, ToolError> {
        let (speed, desc) = self.speed_test();
        let speed = speed.unwrap_or(0.0);
        let e = num(a.expected_speed.value()).ok_or_else(|| {
            ToolError::failed(format!(
                "'>=' not supported between instances of 'float' and '{}'",
                py_type(a.expected_speed.value())
            ))
        })?;
        if a.expected_desc.value().is_null() {
            return Ok(speed >= e);
        }
        let Some(ed) = a.expected_desc.as_str() else {
            return Err(no_attr(a.expected_desc.value(), "lower"));
        };
        Ok(speed >= e && desc.to_lowercase() == ed.to_lowercase())
    }
    fn assert_internet_not_excellent(&mut self, _: AssertInternetNotExcellent) -> Result<bool, ToolError> {
        Ok(self.speed_test().1 != "Excellent")
    }
    fn assert_can_send_mms(&mut self, a: AssertCanSendMms) -> Result<bool, ToolError> {
        Ok(bool_eq(self.can_send_mms_()?, a.expected_status.value()))
    }
    fn assert_mobile_data_usage_exceeded(&mut self, a: AssertMobileDataUsageExceeded) -> Result<bool, ToolError> {
        Ok(bool_eq(self.user_db.surroundings.mobile_data_usage_exceeded, a.expected_status.value()))
    }
}

impl Phone {
    fn no_service(&mut self) {
        self.network_connection_status = "no_service".into();
        self.network_technology_connected = "none".into();
        self.network_signal_strength = "none".into();
    }
}

/// The user toolkit (`TelecomUserTools`).
pub fn toolkit() -> Toolkit<Telecom> {
    use ToolKind::*;
    type T = Telecom;
    Toolkit::new("TelecomUserTools", Requestor::User)
        .tool(Read, T::check_status_bar)
        .tool(Read, T::check_network_status)
        .tool(Read, T::check_network_mode_preference)
        .tool(Write, T::set_network_mode_preference)
        .tool(Read, T::run_speed_test)
        .tool(Write, T::toggle_airplane_mode)
        .tool(Read, T::check_sim_status)
        .tool(Write, T::reseat_sim_card)
        .tool(Write, T::toggle_data)
        .tool(Write, T::toggle_roaming)
        .tool(Read, T::check_data_restriction_status)
        .tool(Write, T::toggle_data_saver_mode)
        .tool(Read, T::check_apn_settings)
        .tool(Write, T::set_apn_settings)
        .tool(Write, T::reset_apn_settings)
        .tool(Read, T::check_wifi_status)
        .tool(Write, T::toggle_wifi)
        .tool(Read, T::check_wifi_calling_status)
        .tool(Write, T::toggle_wifi_calling)
        .tool(Read, T::check_vpn_status)
        .tool(Write, T::connect_vpn)
        .tool(Write, T::disconnect_vpn)
        .tool(Read, T::check_installed_apps)
        .tool(Read, T::check_app_status)
        .tool(Read, T::check_app_permissions)
        .tool(Write, T::grant_app_permission)
        .tool(Read, T::can_send_mms)
        .tool(Write, T::reboot_device)
        .tool(Read, T::check_payment_request)
        .tool(Write, T::make_payment)
        .env_fn(T::set_user_info)
        .env_fn(T::set_user_location)
        .env_fn(T::turn_airplane_mode_on)
        .env_fn(T::turn_airplane_mode_off)
        .env_fn(T::unseat_sim_card)
        .env_fn(T::lock_sim_card)
        .env_fn(T::turn_data_on)
        .env_fn(T::turn_data_off)
        .env_fn(T::turn_roaming_on)
        .env_fn(T::turn_roaming_off)
        .env_fn(T::turn_data_saver_mode_on)
        .env_fn(T::turn_data_saver_mode_off)
        .env_fn(T::break_apn_settings)
        .env_fn(T::break_apn_mms_setting)
        .env_fn(T::set_wifi_calling)
        .env_fn(T::break_vpn)
        .env_fn(T::remove_app_permission)
        .env_fn(T::simulate_network_search)
        .env_fn(T::assert_airplane_mode_status)
        .env_fn(T::assert_service_status)
        .env_fn(T::assert_mobile_data_status)
        .env_fn(T::assert_mobile_roaming_status)
        .env_fn(T::assert_mobile_data_saver_mode_status)
        .env_fn(T::assert_internet_speed)
        .env_fn(T::assert_internet_not_excellent)
        .env_fn(T::assert_can_send_mms)
        .env_fn(T::assert_mobile_data_usage_exceeded)
}
