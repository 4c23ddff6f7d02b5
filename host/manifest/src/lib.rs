//! Component manifests, operator grants, and the load-time capability decision.
//!
//! Every eigenbox component (domain, checker, role) ships a TOML manifest that says what it
//! is and what it *requests*. The operator's grants file says what each component *may* have.
//! Nothing is granted by default, and nothing a component ships can grant it anything: the
//! manifest format has no place for grants (unknown keys are refused), and [`decide`] only ever
//! narrows a request down to what the operator wrote.
//!
//! This crate has no wasmtime dependency: it is the policy half of loading, usable by tools that
//! only read manifests (auditors, CI checks).
//!
//! ```
//! use eigenbox_manifest::{decide, Grants, Manifest};
//!
//! let manifest = Manifest::from_toml_str(r#"
//!     id = "acme:weather"
//!     version = "0.1.0"
//!     world = "eigenbox:domain/domain-plugin@0.1.0"
//!     wasm = "weather.wasm"
//!     sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
//!     [capabilities]
//!     clock = true
//! "#).unwrap();
//!
//! // An empty grants file grants nothing: the clock request is refused, by name.
//! let err = decide(&manifest, &Grants::default()).unwrap_err();
//! assert!(err.to_string().contains("clock"));
//!
//! let grants = Grants::from_toml_str(r#"
//!     [[component]]
//!     id = "acme:weather"
//!     [component.capabilities]
//!     clock = true
//! "#).unwrap();
//! let granted = decide(&manifest, &grants).unwrap();
//! assert!(granted.capabilities.clock);
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Errors from reading manifests and grants, and from the capability decision.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown/missing/mistyped keys.
    #[error("malformed {what}{}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Malformed {
        /// "manifest" or "grants file".
        what: &'static str,
        /// The file, when known.
        path: Option<PathBuf>,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A field has a value outside its domain.
    #[error("invalid manifest field `{field}`: {message}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The component requests something the operator did not grant.
    #[error("component `{component}` refused: {}", denials.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; "))]
    Refused {
        /// Component id.
        component: String,
        /// Every request that exceeds the grants.
        denials: Vec<Denial>,
    },
    /// The wasm bytes do not hash to the manifest's sha256.
    #[error("component `{component}` refused: wasm sha256 is {actual}, manifest says {expected} (tampered or stale build)")]
    HashMismatch {
        /// Component id.
        component: String,
        /// Hash in the manifest.
        expected: String,
        /// Hash of the bytes.
        actual: String,
    },
}

/// One request the grants do not cover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// The capability, in manifest syntax: `clock`, `random`, `env:HOME`, `filesystem:/data`,
    /// `network:example.com:443`, `llm`, `llm:model`, `tools:airline/book_reservation`, `limits.memory_mib`, ...
    pub capability: String,
    /// Why it is refused.
    pub reason: String,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "capability `{}` {}", self.capability, self.reason)
    }
}

/// The WIT world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum World {
    /// `eigenbox:domain/domain-plugin@0.1.0`
    Domain,
    /// `eigenbox:checker/checker-plugin@0.1.0`
    Checker,
    /// `eigenbox:role/role-plugin@0.1.0`
    Role,
    /// `eigenbox:checker/checker-runtime@0.2.0`: an interpreter that runs checker programs
    /// passed to it as data (imports nothing, like [`World::Checker`]).
    CheckerRuntime,
}

impl World {
    /// All worlds this host implements.
    pub const ALL: [World; 4] = [World::Domain, World::Checker, World::Role, World::CheckerRuntime];

    /// The fully qualified WIT name of the world.
    pub fn wit_name(self) -> &'static str {
        match self {
            World::Domain => "eigenbox:domain/domain-plugin@0.1.0",
            World::Checker => "eigenbox:checker/checker-plugin@0.1.0",
            World::Role => "eigenbox:role/role-plugin@0.1.0",
            World::CheckerRuntime => "eigenbox:checker/checker-runtime@0.2.0",
        }
    }

    /// The fully qualified name of the interface the world exports.
    pub fn export_interface(self) -> &'static str {
        match self {
            World::Domain => "eigenbox:domain/domain@0.1.0",
            World::Checker => "eigenbox:checker/checker@0.1.0",
            World::Role => "eigenbox:role/role@0.1.0",
            World::CheckerRuntime => "eigenbox:checker/runtime@0.2.0",
        }
    }

    /// Whether components of this world are pure checkers (no capability can be granted).
    pub fn is_checker(self) -> bool {
        matches!(self, World::Checker | World::CheckerRuntime)
    }

    /// Parse a fully qualified world name.
    pub fn parse(s: &str) -> Result<World, ManifestError> {
        World::ALL.into_iter().find(|w| w.wit_name() == s).ok_or_else(|| ManifestError::Invalid {
            field: "world",
            message: format!(
                "unknown world `{s}`; this host implements {}",
                World::ALL.map(|w| format!("`{}`", w.wit_name())).join(", ")
            ),
        })
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wit_name())
    }
}

/// A directory a component may see through WASI.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirAccess {
    /// Host directory.
    pub path: PathBuf,
    /// Whether writes are allowed (otherwise read-only).
    #[serde(default)]
    pub write: bool,
}

/// Capabilities, as requested in a manifest or granted in a grants file.
///
/// Every field defaults to "nothing".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Real wall and monotonic clocks. Without it, clock reads trap with a typed denial.
    #[serde(default)]
    pub clock: bool,
    /// Entropy from the host. Without it, WASI random trap with a typed denial.
    #[serde(default)]
    pub random: bool,
    /// Environment variables the component may read (names; values come from the host).
    #[serde(default)]
    pub env: Vec<String>,
    /// Host directories mapped into the component.
    #[serde(default)]
    pub filesystem: Vec<DirAccess>,
    /// Network destinations (`host:port`, or `*:port`) the component may connect to.
    #[serde(default)]
    pub network: Vec<String>,
    /// Access to the host's `llm` import. `["*"]` = any configured model.
    #[serde(default)]
    pub llm: Vec<String>,
    /// Domain tools the component may call through the host's `tools` import,
    /// as `domain/tool` patterns (`*` matches any name): `mock/get_users`, `airline/*`.
    #[serde(default)]
    pub tools: Vec<String>,
}

impl Capabilities {
    /// Whether nothing at all is requested/granted.
    pub fn is_empty(&self) -> bool {
        self == &Capabilities::default()
    }
}

/// Resource limits. In a manifest: what the component asks for. In a grants file: ceilings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) per call.
    pub fuel: Option<u64>,
    /// Linear memory cap, MiB.
    pub memory_mib: Option<u64>,
    /// Wall-clock deadline per call, milliseconds.
    pub timeout_ms: Option<u64>,
    /// Maximum number of (core) instances.
    pub instances: Option<u32>,
    /// Maximum number of tables.
    pub tables: Option<u32>,
    /// Maximum elements per table.
    pub table_elements: Option<u64>,
    /// Maximum size of one returned string/list, KiB.
    pub output_kib: Option<u64>,
}

/// The limits a component actually runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveLimits {
    /// Fuel per call.
    pub fuel: u64,
    /// Linear memory cap in bytes.
    pub memory_bytes: u64,
    /// Deadline per call, milliseconds.
    pub timeout_ms: u64,
    /// Max core instances.
    pub instances: u32,
    /// Max tables.
    pub tables: u32,
    /// Max elements per table.
    pub table_elements: u64,
    /// Max bytes of one returned value.
    pub output_bytes: u64,
}

impl Limits {
    /// Built-in ceilings that apply when the grants file says nothing.
    pub const DEFAULT_CEILING: Limits = Limits {
        fuel: Some(10_000_000_000),
        memory_mib: Some(512),
        timeout_ms: Some(30_000),
        instances: Some(64),
        tables: Some(64),
        table_elements: Some(1_000_000),
        output_kib: Some(64 * 1024),
    };

    /// Built-in request that applies when the manifest says nothing.
    pub const DEFAULT_REQUEST: Limits = Limits {
        fuel: Some(1_000_000_000),
        memory_mib: Some(128),
        timeout_ms: Some(5_000),
        instances: Some(32),
        tables: Some(32),
        table_elements: Some(100_000),
        output_kib: Some(16 * 1024),
    };

    fn or(self, other: Limits) -> Limits {
        Limits {
            fuel: self.fuel.or(other.fuel),
            memory_mib: self.memory_mib.or(other.memory_mib),
            timeout_ms: self.timeout_ms.or(other.timeout_ms),
            instances: self.instances.or(other.instances),
            tables: self.tables.or(other.tables),
            table_elements: self.table_elements.or(other.table_elements),
            output_kib: self.output_kib.or(other.output_kib),
        }
    }
}

/// A component's manifest (`eigenbox.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Component id, `namespace:name`.
    pub id: String,
    /// Semver version.
    pub version: semver::Version,
    /// Fully qualified WIT world name.
    pub world: String,
    /// The wasm file, relative to the manifest.
    pub wasm: String,
    /// Lower-case hex sha256 of the wasm file.
    pub sha256: String,
    /// One line about the component.
    #[serde(default)]
    pub description: Option<String>,
    /// What the component asks for.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// The limits it asks for.
    #[serde(default)]
    pub limits: Limits,
}

fn toml_error(what: &'static str, path: Option<&Path>, source: &str, e: toml::de::Error) -> ManifestError {
    let mut message = e.message().to_string();
    if message.contains("unknown field `grants`") || message.contains("unknown field `grant`") {
        message.push_str(" (a manifest only requests capabilities; grants come from the operator's grants file)");
    }
    if let Some(span) = e.span() {
        let before = &source[..span.start.min(source.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
        message = format!("{message} (line {line}, column {column})");
    }
    ManifestError::Malformed { what, path: path.map(Path::to_path_buf), message }
}

/// Lower-case hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Manifest {
    /// Parse and validate a manifest.
    pub fn from_toml_str(s: &str) -> Result<Manifest, ManifestError> {
        Self::parse(s, None)
    }

    /// Read and validate a manifest file.
    pub fn from_file(path: &Path) -> Result<Manifest, ManifestError> {
        let s = std::fs::read_to_string(path)
            .map_err(|source| ManifestError::Io { path: path.to_path_buf(), source })?;
        Self::parse(&s, Some(path))
    }

    fn parse(s: &str, path: Option<&Path>) -> Result<Manifest, ManifestError> {
        let m: Manifest = toml::from_str(s).map_err(|e| toml_error("manifest", path, s, e))?;
        m.validate()?;
        Ok(m)
    }

    /// Check field contents beyond their types.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let valid_id = self.id.split_once(':').is_some_and(|(ns, name)| {
            let ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            ok(ns) && ok(name)
        });
        if !valid_id {
            return Err(ManifestError::Invalid {
                field: "id",
                message: format!("`{}` is not `namespace:name` (lower-case letters, digits, `-`, `_`)", self.id),
            });
        }
        World::parse(&self.world)?;
        if self.sha256.len() != 64 || !self.sha256.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
            return Err(ManifestError::Invalid {
                field: "sha256",
                message: format!(
                    "`{}` is not 64 lower-case hex digits (run `eigenbox plugin package` to fill it in)",
                    self.sha256
                ),
            });
        }
        if self.wasm.is_empty() || Path::new(&self.wasm).is_absolute() || self.wasm.contains("..") {
            return Err(ManifestError::Invalid {
                field: "wasm",
                message: format!("`{}` must be a relative path inside the plugin directory", self.wasm),
            });
        }
        for pattern in &self.capabilities.tools {
            validate_tool_pattern(pattern)?;
        }
        Ok(())
    }

    /// The world this manifest declares.
    pub fn world(&self) -> World {
        // validate() guarantees this parses; fall back to Domain only for hand-built values.
        World::parse(&self.world).unwrap_or(World::Domain)
    }

    /// Short name of the component (the part after `:`).
    pub fn short_name(&self) -> &str {
        self.id.split_once(':').map(|(_, n)| n).unwrap_or(&self.id)
    }

    /// Check that `wasm` is the file this manifest describes.
    pub fn verify_hash(&self, wasm: &[u8]) -> Result<(), ManifestError> {
        let actual = sha256_hex(wasm);
        if actual != self.sha256 {
            return Err(ManifestError::HashMismatch { component: self.id.clone(), expected: self.sha256.clone(), actual });
        }
        Ok(())
    }

    /// Serialize back to TOML.
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

fn validate_tool_pattern(pattern: &str) -> Result<(), ManifestError> {
    match pattern.split_once('/') {
        Some((d, t)) if !d.is_empty() && !t.is_empty() && !t.contains('/') => Ok(()),
        _ => Err(ManifestError::Invalid {
            field: "capabilities.tools",
            message: format!("`{pattern}` is not a `domain/tool` pattern"),
        }),
    }
}

/// Does a `domain/tool` pattern (with `*` wildcards per part) match?
pub fn tool_pattern_matches(pattern: &str, domain: &str, tool: &str) -> bool {
    let Some((pd, pt)) = pattern.split_once('/') else { return false };
    (pd == "*" || pd == domain) && (pt == "*" || pt == tool)
}

/// One component's entry in the grants file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentGrant {
    /// Component id this entry applies to.
    pub id: String,
    /// Optional pin: the grant applies only to this exact wasm.
    #[serde(default)]
    pub sha256: Option<String>,
    /// What the component may have.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Ceilings for its limits (unset fields fall back to `[defaults.limits]`, then built-ins).
    #[serde(default)]
    pub limits: Limits,
}

/// Grants for components not listed by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultGrant {
    /// Limit ceilings for every component.
    #[serde(default)]
    pub limits: Limits,
    /// Refuse components that have no `[[component]]` entry at all.
    #[serde(default)]
    pub require_listed: bool,
}

/// The operator's grants file. The default value grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// Defaults for every component.
    #[serde(default)]
    pub defaults: DefaultGrant,
    /// Per-component grants.
    #[serde(default, rename = "component")]
    pub components: Vec<ComponentGrant>,
}

impl Grants {
    /// Parse a grants file.
    pub fn from_toml_str(s: &str) -> Result<Grants, ManifestError> {
        Self::parse(s, None)
    }

    /// Read a grants file.
    pub fn from_file(path: &Path) -> Result<Grants, ManifestError> {
        let s = std::fs::read_to_string(path)
            .map_err(|source| ManifestError::Io { path: path.to_path_buf(), source })?;
        Self::parse(&s, Some(path))
    }

    fn parse(s: &str, path: Option<&Path>) -> Result<Grants, ManifestError> {
        let g: Grants = toml::from_str(s).map_err(|e| toml_error("grants file", path, s, e))?;
        let mut seen = BTreeSet::new();
        for c in &g.components {
            if !seen.insert(c.id.as_str()) {
                return Err(ManifestError::Malformed {
                    what: "grants file",
                    path: path.map(Path::to_path_buf),
                    message: format!("component `{}` is listed twice", c.id),
                });
            }
            for pattern in &c.capabilities.tools {
                validate_tool_pattern(pattern)?;
            }
        }
        Ok(g)
    }

    /// Read the operator's grants file for a host whose plugins live under `plugin_root`.
    ///
    /// A missing file grants nothing. A grants file inside the plugin directory is refused:
    /// whoever can drop a plugin there could otherwise grant it anything.
    pub fn load_for_host(path: &Path, plugin_root: &Path) -> Result<Grants, ManifestError> {
        if !path.exists() {
            return Ok(Grants::default());
        }
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        if plugin_root.exists() && canon(path).starts_with(canon(plugin_root)) {
            return Err(ManifestError::Refused {
                component: path.display().to_string(),
                denials: vec![Denial {
                    capability: "grants-file".into(),
                    reason: format!(
                        "lies inside the plugin directory {} (a plugin must not be able to grant itself capabilities)",
                        plugin_root.display()
                    ),
                }],
            });
        }
        Grants::from_file(path)
    }

    /// The entry for a component id, if any.
    pub fn entry(&self, id: &str) -> Option<&ComponentGrant> {
        self.components.iter().find(|c| c.id == id)
    }
}

/// What a component is allowed, after [`decide`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Granted {
    /// Component id.
    pub component: String,
    /// Capabilities it runs with: exactly what it requested (all of which was granted).
    pub capabilities: Capabilities,
    /// Limits it runs under.
    pub limits: EffectiveLimits,
}

impl Granted {
    /// Whether a `domain/tool` call is within the granted tool patterns.
    pub fn may_call_tool(&self, domain: &str, tool: &str) -> bool {
        self.capabilities.tools.iter().any(|p| tool_pattern_matches(p, domain, tool))
    }

    /// Whether the `llm` import may be used for `model`.
    pub fn may_use_llm(&self, model: &str) -> bool {
        self.capabilities.llm.iter().any(|m| m == "*" || m == model)
    }
}

/// Decide whether a component may load: every request must be covered by the grants.
///
/// The result grants exactly what was requested (never more), under limits that are the request
/// (or built-in defaults) and never above the operator's ceilings.
pub fn decide(manifest: &Manifest, grants: &Grants) -> Result<Granted, ManifestError> {
    let entry = grants.entry(&manifest.id);
    let mut denials = Vec::new();
    if entry.is_none() && grants.defaults.require_listed {
        denials.push(Denial {
            capability: "load".into(),
            reason: "is refused: the grants file requires every component to be listed".into(),
        });
    }
    let empty = ComponentGrant::default();
    let entry = entry.unwrap_or(&empty);
    if let Some(pin) = &entry.sha256 {
        if pin != &manifest.sha256 {
            denials.push(Denial {
                capability: "load".into(),
                reason: format!("is refused: the grant is pinned to wasm sha256 {pin}, this build is {}", manifest.sha256),
            });
        }
    }
    let req = &manifest.capabilities;
    let have = &entry.capabilities;
    let not_granted = "is requested but not granted".to_string();
    if req.clock && !have.clock {
        denials.push(Denial { capability: "clock".into(), reason: not_granted.clone() });
    }
    if req.random && !have.random {
        denials.push(Denial { capability: "random".into(), reason: not_granted.clone() });
    }
    for var in &req.env {
        if !have.env.contains(var) {
            denials.push(Denial { capability: format!("env:{var}"), reason: not_granted.clone() });
        }
    }
    for dir in &req.filesystem {
        let ok = have.filesystem.iter().any(|g| g.path == dir.path && (g.write || !dir.write));
        if !ok {
            let mode = if dir.write { " (read-write)" } else { "" };
            denials.push(Denial { capability: format!("filesystem:{}{mode}", dir.path.display()), reason: not_granted.clone() });
        }
    }
    for dest in &req.network {
        let ok = have.network.iter().any(|g| g == dest || g.strip_prefix("*:").is_some_and(|port| dest.rsplit_once(':').is_some_and(|(_, p)| p == port)));
        if !ok {
            denials.push(Denial { capability: format!("network:{dest}"), reason: not_granted.clone() });
        }
    }
    for model in &req.llm {
        if !have.llm.iter().any(|g| g == "*" || g == model) {
            let cap = if model == "*" { "llm".to_string() } else { format!("llm:{model}") };
            denials.push(Denial { capability: cap, reason: not_granted.clone() });
        }
    }
    for pattern in &req.tools {
        let (d, t) = pattern.split_once('/').unwrap_or((pattern, ""));
        // A requested pattern is covered when some grant pattern is at least as wide.
        let ok = have.tools.iter().any(|g| {
            let (gd, gt) = g.split_once('/').unwrap_or((g, ""));
            (gd == "*" || gd == d) && (gt == "*" || gt == t)
        });
        if !ok {
            denials.push(Denial { capability: format!("tools:{pattern}"), reason: not_granted.clone() });
        }
    }

    let ceiling = entry.limits.or(grants.defaults.limits).or(Limits::DEFAULT_CEILING);
    let request = manifest.limits.or(Limits::DEFAULT_REQUEST);
    let mut check = |name: &str, req: Option<u64>, cap: Option<u64>| -> u64 {
        let (r, c) = (req.unwrap_or(0), cap.unwrap_or(u64::MAX));
        if r > c {
            denials.push(Denial { capability: format!("limits.{name}"), reason: format!("requests {r}, above the granted ceiling {c}") });
            c
        } else {
            r
        }
    };
    let fuel = check("fuel", request.fuel, ceiling.fuel);
    let memory_mib = check("memory_mib", request.memory_mib, ceiling.memory_mib);
    let timeout_ms = check("timeout_ms", request.timeout_ms, ceiling.timeout_ms);
    let instances = check("instances", request.instances.map(u64::from), ceiling.instances.map(u64::from));
    let tables = check("tables", request.tables.map(u64::from), ceiling.tables.map(u64::from));
    let table_elements = check("table_elements", request.table_elements, ceiling.table_elements);
    let output_kib = check("output_kib", request.output_kib, ceiling.output_kib);

    if !denials.is_empty() {
        return Err(ManifestError::Refused { component: manifest.id.clone(), denials });
    }
    Ok(Granted {
        component: manifest.id.clone(),
        capabilities: manifest.capabilities.clone(),
        limits: EffectiveLimits {
            fuel,
            memory_bytes: memory_mib.saturating_mul(1024 * 1024),
            timeout_ms,
            instances: u32::try_from(instances).unwrap_or(u32::MAX),
            tables: u32::try_from(tables).unwrap_or(u32::MAX),
            table_elements,
            output_bytes: output_kib.saturating_mul(1024),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn manifest(extra: &str) -> Manifest {
        Manifest::from_toml_str(&format!(
            "id = \"acme:x\"\nversion = \"1.0.0\"\nworld = \"eigenbox:role/role-plugin@0.1.0\"\nwasm = \"x.wasm\"\nsha256 = \"{HASH}\"\n{extra}"
        ))
        .unwrap()
    }

    fn denied_caps(m: &Manifest, g: &Grants) -> Vec<String> {
        match decide(m, g) {
            Err(ManifestError::Refused { denials, .. }) => denials.into_iter().map(|d| d.capability).collect(),
            other => panic!("expected refusal, got {other:?}"),
        }
    }

    #[test]
    fn nothing_requested_loads_under_default_limits() {
        let g = decide(&manifest(""), &Grants::default()).unwrap();
        assert!(g.capabilities.is_empty());
        assert_eq!(g.limits.memory_bytes, 128 * 1024 * 1024);
        assert!(!g.may_call_tool("mock", "get_users"));
        assert!(!g.may_use_llm("gpt"));
    }

    #[test]
    fn each_ungranted_capability_is_named() {
        let m = manifest(
            "[capabilities]\nclock = true\nrandom = true\nenv = [\"HOME\"]\nnetwork = [\"example.com:443\"]\nllm = [\"*\"]\ntools = [\"mock/*\"]\nfilesystem = [{ path = \"/data\" }]\n",
        );
        let caps = denied_caps(&m, &Grants::default());
        assert_eq!(
            caps,
            ["clock", "random", "env:HOME", "filesystem:/data", "network:example.com:443", "llm", "tools:mock/*"]
        );
    }

    #[test]
    fn grants_cover_requests_but_never_widen_them() {
        let m = manifest("[capabilities]\ntools = [\"mock/get_users\"]\nllm = [\"small\"]\n");
        let g = Grants::from_toml_str(
            "[[component]]\nid = \"acme:x\"\n[component.capabilities]\ntools = [\"mock/*\"]\nllm = [\"*\"]\nclock = true\n",
        )
        .unwrap();
        let granted = decide(&m, &g).unwrap();
        assert!(granted.may_call_tool("mock", "get_users"));
        assert!(!granted.may_call_tool("mock", "create_task"), "granted only what was requested");
        assert!(!granted.capabilities.clock, "not requested, so not given");
        assert!(granted.may_use_llm("small"));
        assert!(!granted.may_use_llm("big"));
    }

    #[test]
    fn a_narrow_grant_does_not_cover_a_wide_request() {
        let m = manifest("[capabilities]\ntools = [\"mock/*\"]\n");
        let g = Grants::from_toml_str("[[component]]\nid = \"acme:x\"\n[component.capabilities]\ntools = [\"mock/get_users\"]\n").unwrap();
        assert_eq!(denied_caps(&m, &g), ["tools:mock/*"]);
        let m = manifest("[capabilities]\nfilesystem = [{ path = \"/d\", write = true }]\n");
        let g = Grants::from_toml_str("[[component]]\nid = \"acme:x\"\n[component.capabilities]\nfilesystem = [{ path = \"/d\" }]\n").unwrap();
        assert_eq!(denied_caps(&m, &g), ["filesystem:/d (read-write)"]);
    }

    #[test]
    fn limits_above_ceiling_are_refused() {
        let m = manifest("[limits]\nmemory_mib = 1024\nfuel = 5\n");
        assert_eq!(denied_caps(&m, &Grants::default()), ["limits.memory_mib"]);
        let g = Grants::from_toml_str("[defaults.limits]\nfuel = 4\n").unwrap();
        assert_eq!(denied_caps(&m, &g), ["limits.fuel", "limits.memory_mib"]);
    }

    #[test]
    fn pinned_grant_refuses_other_builds_and_require_listed_refuses_strangers() {
        let m = manifest("");
        let g = Grants::from_toml_str(&format!("[[component]]\nid = \"acme:x\"\nsha256 = \"{}\"\n", "b".repeat(64))).unwrap();
        assert_eq!(denied_caps(&m, &g), ["load"]);
        let g = Grants::from_toml_str("[defaults]\nrequire_listed = true\n").unwrap();
        assert_eq!(denied_caps(&m, &g), ["load"]);
    }

    #[test]
    fn a_manifest_cannot_carry_grants() {
        let err = Manifest::from_toml_str(&format!(
            "id = \"acme:x\"\nversion = \"1.0.0\"\nworld = \"eigenbox:role/role-plugin@0.1.0\"\nwasm = \"x.wasm\"\nsha256 = \"{HASH}\"\n[grants]\nclock = true\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("grants come from the operator"), "{err}");
    }

    #[test]
    fn malformed_manifests_are_clear() {
        let e = Manifest::from_toml_str("id = 3").unwrap_err().to_string();
        assert!(e.starts_with("malformed manifest"), "{e}");
        let e = Manifest::from_toml_str(&format!(
            "id = \"acme:x\"\nversion = \"1.0.0\"\nworld = \"eigenbox:nope/w@1.0.0\"\nwasm = \"x.wasm\"\nsha256 = \"{HASH}\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown world"), "{e}");
        let e = Manifest::from_toml_str("id = \"acme:x\"\nversion = \"1.0.0\"\nworld = \"eigenbox:role/role-plugin@0.1.0\"\nwasm = \"../x.wasm\"\nsha256 = \"\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sha256"), "{e}");
    }

    #[test]
    fn hash_mismatch_is_refused() {
        let m = manifest("");
        let e = m.verify_hash(b"hello").unwrap_err().to_string();
        assert!(e.contains("tampered"), "{e}");
        let mut m2 = m.clone();
        m2.sha256 = sha256_hex(b"hello");
        m2.verify_hash(b"hello").unwrap();
    }

    #[test]
    fn parse_errors_carry_line_and_column() {
        let e = Grants::from_toml_str("[defaults]\nrequire_listed = 3\n").unwrap_err().to_string();
        assert!(e.contains("line 2, column 18"), "{e}");
    }

    #[test]
    fn duplicate_grant_entries_are_refused() {
        let e = Grants::from_toml_str("[[component]]\nid = \"a:b\"\n[[component]]\nid = \"a:b\"\n").unwrap_err().to_string();
        assert!(e.contains("listed twice"), "{e}");
    }
}
